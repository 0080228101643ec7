//! A directory repository: `index.json` beside `packages/NAME/NAME-VERSION-PLATFORM.dbpkg`.
//! Append-only. Publishers take an exclusive lock on `.lock` and replace files by atomic
//! rename, so concurrent publishes never lose an entry and readers never see half a file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    changes_from_stored, is_intact, same_sources, verify_entry, Index, IndexEntry, Published,
    Repository, RepositoryError,
};
use crate::durable::write_atomically;
use crate::package::{archive, Package};
use crate::platform::Platform;

/// The name of the index file.
pub const INDEX_FILE: &str = "index.json";
/// The index format this dbpm writes.
pub const INDEX_FORMAT: u32 = 1;

/// A repository in a directory.
#[derive(Debug, Clone)]
pub struct DirectoryRepository {
    root: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IndexFile {
    format: u32,
    packages: Vec<IndexEntry>,
}

impl DirectoryRepository {
    /// A repository at `root` (created on first publish).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirectoryRepository { root: root.into() }
    }

    /// Fails when the repository's directory does not exist, or holds `.dbpkg` archives but
    /// no index (what `dbpm build -o DIR` writes): to a reader either is more likely a
    /// mistaken path than an empty repository (publishing creates the directory and the
    /// index).
    pub fn check_readable(&self) -> Result<(), RepositoryError> {
        match self.root.try_exists() {
            Ok(true) => {}
            Ok(false) => {
                return Err(RepositoryError::MissingDirectory {
                    path: self.root.clone(),
                })
            }
            Err(source) => return Err(self.io(&self.root)(source)),
        }
        if Self::exists_at(&self.root) {
            return Ok(());
        }
        let mut archives = 0;
        for entry in fs_err::read_dir(&self.root).map_err(self.io(&self.root))? {
            let path = entry.map_err(self.io(&self.root))?.path();
            if path.extension().is_some_and(|ext| ext == "dbpkg") && path.is_file() {
                archives += 1;
            }
        }
        if archives > 0 {
            return Err(RepositoryError::UnpublishedArchives {
                path: self.root.clone(),
                archives,
            });
        }
        Ok(())
    }

    /// Whether `path` holds a directory repository.
    pub fn exists_at(path: &Path) -> bool {
        path.join(INDEX_FILE).is_file()
    }

    fn io(&self, path: &Path) -> impl FnOnce(std::io::Error) -> RepositoryError {
        let path = path.to_path_buf();
        move |source| RepositoryError::Io { path, source }
    }

    fn archive_path(&self, entry: &IndexEntry) -> PathBuf {
        self.root.join("packages").join(&entry.name).join(format!(
            "{}-{}-{}.dbpkg",
            entry.name, entry.version, entry.platform
        ))
    }

    fn read_index(&self) -> Result<Index, RepositoryError> {
        let path = self.root.join(INDEX_FILE);
        let text = match fs_err::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                // Archives without their index: a lost index, not an empty repository (read
                // as one, a publish would replace published archives).
                let archives = self.stored_archives()?;
                if archives > 0 {
                    return Err(RepositoryError::CorruptIndex {
                        path,
                        reason: format!(
                            "it is missing, while `packages/` holds {archives} published archives"
                        ),
                    });
                }
                return Ok(Index::new());
            }
            Err(err) => return Err(self.io(&path)(err)),
        };
        let file: IndexFile =
            serde_json::from_str(&text).map_err(|err| RepositoryError::CorruptIndex {
                path: path.clone(),
                reason: err.to_string(),
            })?;
        if file.format != INDEX_FORMAT {
            return Err(RepositoryError::CorruptIndex {
                path,
                reason: format!(
                    "index format {} is not the format {INDEX_FORMAT} this dbpm reads",
                    file.format
                ),
            });
        }
        Ok(file.packages.into_iter().collect())
    }

    /// How many `.dbpkg` files `packages/NAME/` holds.
    fn stored_archives(&self) -> Result<usize, RepositoryError> {
        let packages = self.root.join("packages");
        if !packages.is_dir() {
            return Ok(0);
        }
        let mut archives = 0;
        for dir in fs_err::read_dir(&packages).map_err(self.io(&packages))? {
            let dir = dir.map_err(self.io(&packages))?.path();
            if !dir.is_dir() {
                continue;
            }
            for file in fs_err::read_dir(&dir).map_err(self.io(&dir))? {
                let file = file.map_err(self.io(&dir))?.path();
                if file.extension().is_some_and(|ext| ext == "dbpkg") {
                    archives += 1;
                }
            }
        }
        Ok(archives)
    }

    fn write_index(&self, index: &Index) -> Result<(), RepositoryError> {
        let path = self.root.join(INDEX_FILE);
        let file = IndexFile {
            format: INDEX_FORMAT,
            packages: index.entries().cloned().collect(),
        };
        let mut text = serde_json::to_string_pretty(&file)
            .unwrap_or_else(|err| unreachable!("an index always serializes: {err}"));
        text.push('\n');
        write_atomically(&path, text.as_bytes()).map_err(self.io(&path))
    }

    /// Publishes under the repository's lock. Every package is checked before anything is
    /// written, and the index, written last and atomically, is what makes the archives
    /// visible: a failure leaves the repository as it was (at most with unlisted archives,
    /// which the next publish of those versions overwrites).
    fn publish_locked(&self, packages: &[Package]) -> Result<Vec<Published>, RepositoryError> {
        fs_err::create_dir_all(&self.root).map_err(self.io(&self.root))?;
        let lock_path = self.root.join(".lock");
        let lock = fs_err::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(self.io(&lock_path))?;
        // Released when `lock` is dropped, also on an early return.
        lock.file().lock().map_err(self.io(&lock_path))?;
        // A new repository gets its (empty) index before any archive: archives without an
        // index then always mean a lost index, never a first publish cut short.
        if !Self::exists_at(&self.root) && self.stored_archives()? == 0 {
            self.write_index(&Index::new())?;
        }
        let mut index = self.read_index()?;
        let mut outcomes = Vec::with_capacity(packages.len());
        let mut to_write = Vec::new();
        for package in packages {
            let entry = IndexEntry::of(package);
            let archive_path = self.archive_path(&entry);
            if let Some(existing) = index.get(&entry.name, &entry.version, entry.platform) {
                if existing.checksum != entry.checksum {
                    let files = fs_err::read(&archive_path).ok().and_then(|stored| {
                        changes_from_stored(&archive_path, &stored, &existing.checksum, package)
                    });
                    return Err(RepositoryError::Conflict {
                        name: entry.name,
                        version: entry.version,
                        platform: entry.platform,
                        existing: existing.checksum.clone(),
                        new: entry.checksum,
                        files,
                    });
                }
                if to_write.iter().any(|(p, _)| p == &archive_path) {
                    outcomes.push(Published::Unchanged);
                    continue;
                }
                // Publishing the same build again is how a damaged archive is repaired.
                match fs_err::read(&archive_path) {
                    Ok(stored) if is_intact(&archive_path, &stored, &entry) => {
                        outcomes.push(Published::Unchanged);
                    }
                    Ok(_) => {
                        to_write.push((archive_path, package));
                        outcomes.push(Published::Repaired);
                    }
                    Err(_) => {
                        to_write.push((archive_path, package));
                        outcomes.push(Published::Repaired);
                    }
                }
                continue;
            }
            // An archive the index does not list: the leftover of an interrupted publish, or
            // a version whose entry was lost. Only the same build may take its place.
            if let Ok(stored) = fs_err::read(&archive_path) {
                let existing = archive::read(&archive_path, &stored)
                    .ok()
                    .map(|stored| stored.checksum);
                if existing.as_ref() != Some(&entry.checksum) {
                    let files = existing.as_ref().and_then(|existing| {
                        changes_from_stored(&archive_path, &stored, existing, package)
                    });
                    return Err(RepositoryError::UnlistedArchive {
                        path: archive_path,
                        name: entry.name,
                        version: entry.version,
                        files,
                    });
                }
            }
            // Another platform's build of the version, published or in this batch, must come
            // from the same shared sources. An archive that cannot be read is passed over:
            // its damage is reported where it is read.
            let published: Vec<Package> = Platform::ALL
                .into_iter()
                .filter(|other| *other != entry.platform)
                .filter_map(|other| index.get(&entry.name, &entry.version, other))
                .filter_map(|published| {
                    let path = self.archive_path(published);
                    let stored = fs_err::read(&path).ok()?;
                    archive::read(&path, &stored).ok()
                })
                .collect();
            let batch = to_write.iter().map(|(_, other)| *other).filter(|other| {
                other.manifest.name == entry.name && other.manifest.version == entry.version
            });
            same_sources(package, published.iter().chain(batch))?;
            index.insert_if_absent(entry);
            to_write.push((archive_path, package));
            outcomes.push(Published::Added);
        }
        for (archive_path, package) in &to_write {
            if let Some(parent) = archive_path.parent() {
                fs_err::create_dir_all(parent).map_err(self.io(parent))?;
            }
            write_atomically(archive_path, &archive::write(package))
                .map_err(self.io(archive_path))?;
        }
        if !to_write.is_empty() {
            self.write_index(&index)?;
        }
        Ok(outcomes)
    }
}

impl Repository for DirectoryRepository {
    fn describe(&self) -> String {
        format!("directory repository `{}`", self.root.display())
    }

    async fn index(&self) -> Result<Index, RepositoryError> {
        let this = self.clone();
        run_blocking(move || this.read_index()).await
    }

    async fn fetch(&self, entry: &IndexEntry) -> Result<Package, RepositoryError> {
        let this = self.clone();
        let entry = entry.clone();
        run_blocking(move || {
            let path = this.archive_path(&entry);
            if !path.is_file() {
                return Err(RepositoryError::MissingArchive {
                    repository: this.describe(),
                    name: entry.name.clone(),
                    version: entry.version.clone(),
                    platform: entry.platform,
                    path,
                });
            }
            let package = archive::read_file(&path)?;
            verify_entry(&this.describe(), &entry, package)
        })
        .await
    }

    async fn publish(&self, packages: &[Package]) -> Result<Vec<Published>, RepositoryError> {
        let this = self.clone();
        let packages = packages.to_vec();
        run_blocking(move || this.publish_locked(&packages)).await
    }
}

/// Runs file work off the async threads.
async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, RepositoryError> + Send + 'static,
) -> Result<T, RepositoryError> {
    tokio::task::spawn_blocking(work)
        .await
        .unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()))
}
