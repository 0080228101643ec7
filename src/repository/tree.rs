//! A tree of package sources used as a repository: every directory holding a manifest is one
//! package version, validated and built in memory. Read-only; it is what a developer layers
//! over the published repository while working on the next version.
//!
//! A source that fails validation (or a second directory of one version) does not make the
//! tree unreadable: it is left out of the index and kept as a [`BrokenSource`], so that one
//! broken package of a monorepo blocks only what needs it ([`needing`] tells which).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use semver::Version;

use super::{Index, IndexEntry, Published, Repository, RepositoryError};
use crate::diagnostic::{plural, Problem, Problems};
use crate::manifest::{Identity, LEGACY_MANIFEST_FILE, MANIFEST_FILE};
use crate::package::{inspect_dir, Package};
use crate::platform::Platform;

/// Package sources under a root directory.
#[derive(Debug, Clone)]
pub struct SourceTree {
    root: PathBuf,
    packages: Arc<BTreeMap<(String, Version, Platform), Package>>,
    broken: Arc<Vec<BrokenSource>>,
}

/// A package source of a tree that is left out of its index: it fails validation, or
/// another directory holds the same version.
#[derive(Debug, Clone)]
pub struct BrokenSource {
    /// Its directory.
    pub dir: PathBuf,
    /// Who its manifest says it is, when that can be read.
    pub identity: Option<Identity>,
    /// What is wrong.
    pub problems: Problems,
}

impl BrokenSource {
    /// `name@version` (or `name`), or the package in its directory when its manifest does not
    /// tell.
    pub fn label(&self) -> String {
        match &self.identity {
            Some(Identity {
                name,
                version: Some(version),
                ..
            }) => format!("`{name}@{version}`"),
            Some(identity) => format!("`{}`", identity.name),
            None => format!("the package in `{}`", self.dir.display()),
        }
    }
}

impl std::fmt::Display for BrokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = match self.identity {
            Some(_) => format!(" in `{}`", self.dir.display()),
            None => String::new(),
        };
        write!(
            f,
            "{}{place} is invalid ({}) and was skipped: nothing here needs it",
            self.label(),
            plural(self.problems.errors().count(), "problem")
        )
    }
}

impl std::error::Error for BrokenSource {}

/// The warning of a broken source that a command went on without; the problems themselves
/// are shown where it is needed, or by building it.
impl miette::Diagnostic for BrokenSource {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new("dbpm::repository::skipped_source"))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Warning)
    }

    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(format!(
            "`dbpm build {}` lists what is wrong",
            self.dir.display()
        )))
    }
}

impl SourceTree {
    /// Reads and builds every package source under `root`; the ones that fail are kept
    /// apart ([`SourceTree::broken`]).
    pub fn load(root: &Path) -> Result<Self, RepositoryError> {
        let mut dirs = Vec::new();
        find_packages(root, &mut dirs).map_err(|source| RepositoryError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        let mut packages = BTreeMap::new();
        let mut origins: BTreeMap<(String, Version), PathBuf> = BTreeMap::new();
        let mut broken = Vec::new();
        for dir in dirs {
            let source = match inspect_dir(&dir) {
                Ok(source) => source,
                Err(invalid) => {
                    broken.push(BrokenSource {
                        dir,
                        identity: invalid.identity,
                        problems: invalid.problems,
                    });
                    continue;
                }
            };
            let key = (
                source.manifest.name.clone(),
                source.manifest.version.clone(),
            );
            if let Some(first) = origins.get(&key) {
                // Neither directory can be told to be the version: both are left out.
                packages.retain(|(name, version, _), _| (name, version) != (&key.0, &key.1));
                broken.push(duplicate(&dir, first, &source.manifest));
                continue;
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
        Ok(SourceTree {
            root: root.to_path_buf(),
            packages: Arc::new(packages),
            broken: Arc::new(broken),
        })
    }

    /// The sources left out of the index, in directory order.
    pub fn broken(&self) -> &[BrokenSource] {
        &self.broken
    }

    /// Whether `path` holds package sources (a manifest somewhere below it).
    pub fn looks_like_sources(path: &Path) -> bool {
        let mut dirs = Vec::new();
        find_packages(path, &mut dirs).is_ok() && !dirs.is_empty()
    }
}

/// The second directory of one version, as a broken source.
fn duplicate(dir: &Path, first: &Path, manifest: &crate::manifest::Manifest) -> BrokenSource {
    let problem = Problem::error(
        dir,
        "dbpm::repository::duplicate_source",
        format!(
            "`{}@{}` is defined here and in `{}`",
            manifest.name,
            manifest.version,
            first.display()
        ),
    )
    .with_help("keep one directory per package version");
    BrokenSource {
        dir: dir.to_path_buf(),
        identity: Some(Identity::of(manifest)),
        problems: Problems::new(format!("package `{}`", dir.display()), vec![problem]),
    }
}

/// The broken sources that a command starting from the packages `roots` may need: those whose
/// name is a root or is reachable from one through the prerequisites of any version in
/// `entries` or of a broken source (the resolver may read any of them), and, when some such
/// name is neither in `entries` nor a broken source's, those whose manifest does not say
/// who they are (one may be the missing package). Such a source is needed too when a folder
/// on its path bears a name that can be reached (`billing/2.0.0` with a broken manifest,
/// beside a good `billing/1.0.0`): a plan would otherwise quietly take another version.
pub fn needing<'a, 'b>(
    broken: impl IntoIterator<Item = &'a BrokenSource>,
    entries: impl IntoIterator<Item = &'b IndexEntry>,
    roots: impl IntoIterator<Item = &'b str>,
) -> Vec<&'a BrokenSource> {
    let broken: Vec<&BrokenSource> = broken.into_iter().collect();
    let mut requires: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for entry in entries {
        requires
            .entry(&entry.name)
            .or_default()
            .extend(entry.prerequisites.keys().map(String::as_str));
    }
    for identity in broken.iter().filter_map(|b| b.identity.as_ref()) {
        requires
            .entry(&identity.name)
            .or_default()
            .extend(identity.prerequisites.iter().map(String::as_str));
    }
    let provided: BTreeSet<&str> = requires.keys().copied().collect();
    let mut reached: BTreeSet<&str> = BTreeSet::new();
    let mut todo: Vec<&str> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if reached.insert(name) {
            todo.extend(requires.get(name).into_iter().flatten().copied());
        }
    }
    let missing = reached.iter().any(|name| !provided.contains(name));
    broken
        .into_iter()
        .filter(|b| match &b.identity {
            Some(identity) => reached.contains(identity.name.as_str()),
            None => {
                missing
                    || b.dir.components().any(|folder| {
                        folder
                            .as_os_str()
                            .to_str()
                            .is_some_and(|folder| reached.contains(folder))
                    })
            }
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::testing::index;

    fn broken(dir: &str, name: Option<&str>, prerequisites: &[&str]) -> BrokenSource {
        BrokenSource {
            dir: PathBuf::from(dir),
            identity: name.map(|name| Identity {
                name: name.to_owned(),
                version: None,
                prerequisites: prerequisites.iter().map(|p| (*p).to_owned()).collect(),
            }),
            problems: Problems::new(dir, Vec::new()),
        }
    }

    fn dirs<'a>(needed: &[&'a BrokenSource]) -> Vec<&'a Path> {
        needed.iter().map(|b| b.dir.as_path()).collect()
    }

    #[test]
    fn a_broken_source_is_needed_only_when_its_name_can_be_reached() {
        let index = index! {
            "core" "1.0.0";
            "auth" "1.0.0" requires["core" "^1"];
            // An older billing needed `legacy`: a resolution of billing may read it.
            "billing" "1.0.0" requires["auth" "^1", "legacy" "^1"];
            "billing" "1.1.0" requires["auth" "^1"];
            "reporting" "1.0.0";
        };
        let sources = [
            broken("core/2.0.0", Some("core"), &[]),
            broken("legacy/1.0.0", Some("legacy"), &[]),
            broken("reporting/2.0.0", Some("reporting"), &[]),
            broken("tools/1.0.0", Some("tools"), &["reporting"]),
        ];
        let needed =
            |roots: &[&str]| dirs(&needing(&sources, index.entries(), roots.iter().copied()));
        assert_eq!(needed(&["reporting"]), [Path::new("reporting/2.0.0")]);
        assert_eq!(needed(&["auth"]), [Path::new("core/2.0.0")]);
        assert_eq!(
            needed(&["billing"]),
            [Path::new("core/2.0.0"), Path::new("legacy/1.0.0")]
        );
        // A broken package's own prerequisites are followed too.
        assert_eq!(
            needed(&["tools"]),
            [Path::new("reporting/2.0.0"), Path::new("tools/1.0.0")]
        );
        assert!(needed(&[]).is_empty());

        // A version of `core` whose manifest cannot say who it is, in `core`'s folder: a
        // plan of `auth` would otherwise quietly take `core@1.0.0`.
        let shadowing = [broken("packages/core/2.0.0", None, &[])];
        let needed =
            |roots: &[&str]| dirs(&needing(&shadowing, index.entries(), roots.iter().copied()));
        assert_eq!(needed(&["auth"]), [Path::new("packages/core/2.0.0")]);
        assert!(needed(&["reporting"]).is_empty());
    }

    #[test]
    fn a_source_that_does_not_say_who_it_is_is_needed_when_a_package_is_missing() {
        let index = index! {
            "core" "1.0.0";
        };
        let sources = [
            broken("mystery", None, &[]),
            broken("tools", Some("tools"), &[]),
        ];
        let needed =
            |roots: &[&str]| dirs(&needing(&sources, index.entries(), roots.iter().copied()));
        assert!(needed(&["core"]).is_empty());
        assert_eq!(needed(&["core", "billing"]), [Path::new("mystery")]);
        // `tools` is missing from the index, but a broken source says it is `tools`.
        assert_eq!(needed(&["tools"]), [Path::new("tools")]);
    }

    #[test]
    fn a_tree_with_a_broken_and_a_doubled_package_still_loads_the_others() {
        let root = tempfile::tempdir().unwrap();
        let write = |dir: &str, name: &str, version: &str, extra: &[(&str, &str)]| {
            let dir = root.path().join(dir);
            fs_err::create_dir_all(dir.join("INSTALL")).unwrap();
            fs_err::create_dir_all(dir.join("ROLLBACK")).unwrap();
            fs_err::write(
                dir.join(MANIFEST_FILE),
                format!("[package]\nname = \"{name}\"\nversion = \"{version}\"\nplatforms = [\"sqlite\"]\n"),
            )
            .unwrap();
            fs_err::write(
                dir.join("INSTALL/001.v.sql"),
                "CREATE VIEW v AS SELECT 1;\n",
            )
            .unwrap();
            fs_err::write(dir.join("ROLLBACK/001.v.sql"), "DROP VIEW IF EXISTS v;\n").unwrap();
            for (path, text) in extra {
                fs_err::write(dir.join(path), text).unwrap();
            }
        };
        write("a", "a", "1.0.0", &[]);
        write(
            "b",
            "b",
            "1.0.0",
            &[("INSTALL/002.orphan.sql", "SELECT 1;\n")],
        );
        write("c1", "c", "1.0.0", &[]);
        write("c2", "c", "1.0.0", &[]);
        let tree = SourceTree::load(root.path()).unwrap();
        let loaded: Vec<&str> = tree.packages.keys().map(|(n, _, _)| n.as_str()).collect();
        assert_eq!(loaded, ["a"]);
        let broken: Vec<(String, Vec<&str>)> = tree
            .broken()
            .iter()
            .map(|b| {
                (
                    b.identity.as_ref().unwrap().name.clone(),
                    b.problems.errors().map(|p| p.code_str()).collect(),
                )
            })
            .collect();
        assert_eq!(
            broken,
            [
                ("b".to_owned(), vec!["dbpm::package::no_twin"]),
                ("c".to_owned(), vec!["dbpm::repository::duplicate_source"]),
            ]
        );
    }
}
