//! A tree of package sources used as a repository: every directory holding a manifest is one
//! package version, validated and built in memory. Read-only; it is what a developer layers
//! over the published repository while working on the next version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use semver::Version;

use super::{Index, IndexEntry, Published, Repository, RepositoryError};
use crate::manifest::{LEGACY_MANIFEST_FILE, MANIFEST_FILE};
use crate::package::{load_dir, Package};
use crate::platform::Platform;

/// Package sources under a root directory.
#[derive(Debug, Clone)]
pub struct SourceTree {
    root: PathBuf,
    packages: Arc<BTreeMap<(String, Version, Platform), Package>>,
}

impl SourceTree {
    /// Reads and builds every package source under `root`.
    pub fn load(root: &Path) -> Result<Self, RepositoryError> {
        let mut dirs = Vec::new();
        find_packages(root, &mut dirs).map_err(|source| RepositoryError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let mut packages = BTreeMap::new();
        let mut origins: BTreeMap<(String, Version), PathBuf> = BTreeMap::new();
        let mut problems = Vec::new();
        for dir in dirs {
            match load_dir(&dir) {
                Ok(source) => {
                    let key = (
                        source.manifest.name.clone(),
                        source.manifest.version.clone(),
                    );
                    if let Some(first) = origins.get(&key) {
                        return Err(RepositoryError::DuplicateSource {
                            name: key.0,
                            version: key.1,
                            first: first.clone(),
                            second: dir,
                        });
                    }
                    origins.insert(key, dir);
                    for package in source.packages() {
                        packages.insert(
                            (
                                package.manifest.name.clone(),
                                package.manifest.version.clone(),
                                package.platform,
                            ),
                            package,
                        );
                    }
                }
                Err(found) => problems.push(found),
            }
        }
        if !problems.is_empty() {
            return Err(RepositoryError::InvalidSources {
                root: root.to_path_buf(),
                problems,
            });
        }
        Ok(SourceTree {
            root: root.to_path_buf(),
            packages: Arc::new(packages),
        })
    }

    /// Whether `path` holds package sources (a manifest somewhere below it).
    pub fn looks_like_sources(path: &Path) -> bool {
        let mut dirs = Vec::new();
        find_packages(path, &mut dirs).is_ok() && !dirs.is_empty()
    }
}

/// Every package source directory below `dir` (one holding a manifest), in name order;
/// hidden directories are skipped and nothing below a package is searched.
pub fn find_packages(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if dir.join(MANIFEST_FILE).is_file() || dir.join(LEGACY_MANIFEST_FILE).is_file() {
        found.push(dir.to_path_buf());
        return Ok(());
    }
    let mut entries = fs_err::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let hidden = name.to_string_lossy().starts_with('.');
        if !hidden && entry.file_type()?.is_dir() {
            find_packages(&entry.path(), found)?;
        }
    }
    Ok(())
}

impl Repository for SourceTree {
    fn describe(&self) -> String {
        format!("source tree `{}`", self.root.display())
    }

    async fn index(&self) -> Result<Index, RepositoryError> {
        Ok(self.packages.values().map(IndexEntry::of).collect())
    }

    async fn fetch(&self, entry: &IndexEntry) -> Result<Package, RepositoryError> {
        self.packages
            .get(&(entry.name.clone(), entry.version.clone(), entry.platform))
            .cloned()
            .ok_or_else(|| RepositoryError::NotFound {
                repository: self.describe(),
                name: entry.name.clone(),
                version: entry.version.clone(),
                platform: entry.platform,
            })
    }

    async fn publish(&self, _packages: &[Package]) -> Result<Vec<Published>, RepositoryError> {
        Err(RepositoryError::ReadOnly {
            repository: self.describe(),
        })
    }
}
