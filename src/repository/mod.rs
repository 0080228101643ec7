//! Package repositories: where built packages are kept and found. The [`Index`] is the data
//! every decision reads; backends fill it and hand out the packages it lists:
//!
//! - [`directory`]: a directory with `index.json` and the archives (the default), append-only;
//! - [`tree`]: a tree of package sources built in memory, for the development loop;
//! - a PostgreSQL database (`crate::db::repository`), append-only too.
//!
//! [`Repositories`] layers several of them: the first that has a version wins.

pub mod directory;
pub mod index;
pub mod tree;

use std::future::Future;
use std::path::PathBuf;

use crate::diagnostic::Problems;
use crate::package::archive::{self, ArchiveError};
use crate::package::changes::FileChanges;
use crate::package::{Checksum, Package};
use crate::platform::Platform;

pub use index::{Edge, Index, IndexEntry};

/// What publishing a package did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Published {
    /// The version is new in the repository.
    Added,
    /// The same bytes were there already.
    Unchanged,
    /// The same build was listed, but its stored archive was damaged (unreadable, or another
    /// build): written again.
    Repaired,
}

/// Whether `stored`, an archive's bytes, reads as the build `entry` lists.
pub(crate) fn is_intact(name: &std::path::Path, stored: &[u8], entry: &IndexEntry) -> bool {
    archive::read(name, stored).is_ok_and(|package| package.checksum == entry.checksum)
}

/// A place packages are read from, and maybe published to.
pub trait Repository {
    /// A short description for messages (`directory repo/`).
    fn describe(&self) -> String;

    /// Every package it holds.
    fn index(&self) -> impl Future<Output = Result<Index, RepositoryError>> + Send;

    /// One package, verified against the index entry.
    fn fetch(
        &self,
        entry: &IndexEntry,
    ) -> impl Future<Output = Result<Package, RepositoryError>> + Send;

    /// Adds built packages, all or none: the same version with other content is refused,
    /// and then nothing is added. The outcomes come in the order of `packages`.
    fn publish(
        &self,
        packages: &[Package],
    ) -> impl Future<Output = Result<Vec<Published>, RepositoryError>> + Send;
}

/// Why a repository operation failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RepositoryError {
    /// A file of a directory repository could not be read or written.
    #[error("failed to access the repository at `{path}`")]
    #[diagnostic(code(dbpm::repository::io))]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A database that holds no repository.
    #[error("{repository} holds no dbpm repository")]
    #[diagnostic(
        code(dbpm::repository::no_repository),
        help("check the URL given to `--repo` (or in DBPM_REPO): it may be a target's; `dbpm publish --repo URL` starts a repository in a database")
    )]
    NoRepository {
        /// Which database, its URL redacted.
        repository: String,
    },
    /// A directory repository's directory is not there.
    #[error("the repository directory `{}` does not exist", path.display())]
    #[diagnostic(
        code(dbpm::repository::missing_directory),
        help("check the path given to `--repo` (or in DBPM_REPO); `dbpm publish --repo DIR` starts a new repository in a directory that does not exist yet")
    )]
    MissingDirectory {
        /// The directory.
        path: PathBuf,
    },
    /// A directory given as a repository that holds built archives but no index: the output
    /// of `dbpm build -o DIR`, which is no repository until they are published.
    #[error("`{}` is not a repository (it has no `index.json`) but holds {archives} `.dbpkg` {}", path.display(), if *archives == 1 { "archive" } else { "archives" })]
    #[diagnostic(
        code(dbpm::repository::unpublished_archives),
        help("publish them to a repository with `dbpm publish --repo REPO {}/*.dbpkg` and read that one with `--repo REPO`; or install one archive by its path: `dbpm install {}/NAME-VERSION-PLATFORM.dbpkg`", path.display(), path.display())
    )]
    UnpublishedArchives {
        /// The directory.
        path: PathBuf,
        /// How many `.dbpkg` files it holds.
        archives: usize,
    },
    /// A build of a version would replace an archive that the index does not list.
    #[error("`{path}` holds another build of `{name}@{version}`, which the index does not list{}", FileChanges::suffix(files.as_ref()))]
    #[diagnostic(
        code(dbpm::repository::unlisted_archive),
        help("a published version is immutable: give the change a new version (`dbpm init --next`). If that file is the leftover of an interrupted publish of a build never listed, delete it and publish again; if the index lost its entry, restore the index from a backup")
    )]
    UnlistedArchive {
        /// The archive file.
        path: PathBuf,
        /// The package.
        name: String,
        /// The version.
        version: semver::Version,
        /// The files that differ, from the stored build to the new one.
        files: Option<FileChanges>,
    },
    /// The index is not what dbpm writes.
    #[error("the repository index `{path}` is corrupt: {reason}")]
    #[diagnostic(
        code(dbpm::repository::corrupt_index),
        help("restore the index from a backup; dbpm only ever replaces it whole")
    )]
    CorruptIndex {
        /// The index file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The version exists with other content.
    #[error("`{name}@{version}` ({platform}) is already published with checksum {existing}; this build has {new}{}", FileChanges::suffix(files.as_ref()))]
    #[diagnostic(
        code(dbpm::repository::immutable),
        help("a published version never changes: give the package a new version (`dbpm init --next`), then publish that")
    )]
    Conflict {
        /// The package.
        name: String,
        /// The version.
        version: semver::Version,
        /// The platform.
        platform: Platform,
        /// What the repository holds.
        existing: Checksum,
        /// What was offered.
        new: Checksum,
        /// The files that differ, from the published build to this one; unknown when the
        /// published archive could not be read.
        files: Option<FileChanges>,
    },
    /// Another platform's build of a published version, from other sources.
    #[error("`{name}@{version}` is published for {published} from other sources than this {platform} build: {files}")]
    #[diagnostic(
        code(dbpm::repository::immutable_across_platforms),
        help("a published version never changes, on any platform: build every platform from the sources that were published, or give the package a new version (`dbpm init --next`)")
    )]
    OtherSources {
        /// The package.
        name: String,
        /// The version.
        version: semver::Version,
        /// The platform of the build offered.
        platform: Platform,
        /// The platform of the published build it differs from.
        published: Platform,
        /// The shared sources that differ, from the published build to this one.
        files: FileChanges,
    },
    /// A stored package no longer matches the index.
    #[error("`{name}@{version}` ({platform}) in {repository} does not match its index entry: {mismatch}")]
    #[diagnostic(
        code(dbpm::repository::tampered),
        help("the stored archive or its index entry was changed after publishing; restore the repository from a backup")
    )]
    Tampered {
        /// Which repository.
        repository: String,
        /// The package.
        name: String,
        /// The version.
        version: semver::Version,
        /// The platform.
        platform: Platform,
        /// What differs between the archive and the entry.
        mismatch: String,
    },
    /// A package the index lists is not there.
    #[error("`{name}@{version}` ({platform}) is not in {repository}")]
    #[diagnostic(code(dbpm::repository::not_found))]
    NotFound {
        /// Which repository.
        repository: String,
        /// The package.
        name: String,
        /// The version.
        version: semver::Version,
        /// The platform.
        platform: Platform,
    },
    /// The index lists a version whose archive file is gone.
    #[error(
        "{repository} lists `{name}@{version}` ({platform}), but its archive `{path}` is missing"
    )]
    #[diagnostic(
        code(dbpm::repository::missing_archive),
        help("the repository is damaged: restore the file from a backup, or publish the same build again, which writes it back")
    )]
    MissingArchive {
        /// Which repository.
        repository: String,
        /// The package.
        name: String,
        /// The version.
        version: semver::Version,
        /// The platform.
        platform: Platform,
        /// The archive file.
        path: PathBuf,
    },
    /// Publishing to something that is not a published repository.
    #[error("cannot publish to {repository}")]
    #[diagnostic(code(dbpm::repository::read_only), help("publish to a directory repository (`--repo DIR`) or a database repository (`--repo postgres://...`)"))]
    ReadOnly {
        /// Which repository.
        repository: String,
    },
    /// Package sources of a tree that fail validation, and that the command may need.
    #[error("{names} {} invalid in the source tree, and this command may need {}", if problems.len() == 1 { "is" } else { "are" }, if problems.len() == 1 { "it" } else { "them" })]
    #[diagnostic(
        code(dbpm::repository::invalid_source),
        help("fix the problems below (`dbpm build DIR` checks one package alone); an invalid package that nothing here may need is skipped with a warning")
    )]
    InvalidSources {
        /// The packages, as their manifests name them.
        names: String,
        /// The problems of each package.
        #[related]
        problems: Vec<Problems>,
    },
    /// A stored archive is unreadable or invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Archive(#[from] ArchiveError),
    /// The database behind a repository failed.
    #[error("the repository database {repository} failed")]
    #[diagnostic(code(dbpm::repository::database))]
    Database {
        /// Which repository (credentials removed).
        repository: String,
        /// The cause.
        #[source]
        source: crate::db::DriverError,
    },
}

/// One backend of a layered set.
#[derive(Debug)]
pub enum Backend {
    /// A directory repository.
    Directory(directory::DirectoryRepository),
    /// A source tree.
    Tree(tree::SourceTree),
    /// A PostgreSQL repository.
    Database(crate::db::repository::DatabaseRepository),
}

impl Repository for Backend {
    fn describe(&self) -> String {
        match self {
            Backend::Directory(r) => r.describe(),
            Backend::Tree(r) => r.describe(),
            Backend::Database(r) => r.describe(),
        }
    }

    async fn index(&self) -> Result<Index, RepositoryError> {
        match self {
            Backend::Directory(r) => r.index().await,
            Backend::Tree(r) => r.index().await,
            Backend::Database(r) => r.index().await,
        }
    }

    async fn fetch(&self, entry: &IndexEntry) -> Result<Package, RepositoryError> {
        match self {
            Backend::Directory(r) => r.fetch(entry).await,
            Backend::Tree(r) => r.fetch(entry).await,
            Backend::Database(r) => r.fetch(entry).await,
        }
    }

    async fn publish(&self, packages: &[Package]) -> Result<Vec<Published>, RepositoryError> {
        match self {
            Backend::Directory(r) => r.publish(packages).await,
            Backend::Tree(r) => r.publish(packages).await,
            Backend::Database(r) => r.publish(packages).await,
        }
    }
}

/// Several repositories, in order: the first that has a (name, version, platform) wins.
#[derive(Debug)]
pub struct Repositories {
    layers: Vec<Backend>,
}

/// A layered index: the merged entries and which layer each came from.
#[derive(Debug, Clone, Default)]
pub struct LayeredIndex {
    /// The merged index.
    pub index: Index,
    origin: std::collections::BTreeMap<(String, semver::Version, Platform), usize>,
}

impl Repositories {
    /// The layers, first one first.
    pub fn new(layers: Vec<Backend>) -> Self {
        Repositories { layers }
    }

    /// The layers.
    pub fn layers(&self) -> &[Backend] {
        &self.layers
    }

    /// The package sources of the layers' trees that fail validation: left out of
    /// [`Repositories::index`].
    pub fn broken(&self) -> impl Iterator<Item = &tree::BrokenSource> {
        self.layers.iter().flat_map(|layer| match layer {
            Backend::Tree(tree) => tree.broken(),
            Backend::Directory(_) | Backend::Database(_) => &[],
        })
    }

    /// Refuses, with their problems, the broken sources that a command starting from the
    /// packages `roots` may need (see [`tree::needing`]), `entries` being every package
    /// version it can choose from. The other broken sources are skipped; the caller warns of
    /// them once the command has succeeded.
    pub fn refuse_broken<'a>(
        &self,
        entries: impl IntoIterator<Item = &'a IndexEntry>,
        roots: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), RepositoryError> {
        let needed = tree::needing(self.broken(), entries, roots);
        if needed.is_empty() {
            return Ok(());
        }
        Err(RepositoryError::InvalidSources {
            names: needed
                .iter()
                .map(|b| b.label())
                .collect::<Vec<_>>()
                .join(", "),
            problems: needed.into_iter().map(|b| b.problems.clone()).collect(),
        })
    }

    /// The merged index of every layer.
    pub async fn index(&self) -> Result<LayeredIndex, RepositoryError> {
        let mut merged = LayeredIndex::default();
        for (layer, backend) in self.layers.iter().enumerate() {
            for entry in backend.index().await?.entries() {
                let key = (entry.name.clone(), entry.version.clone(), entry.platform);
                if merged.index.insert_if_absent(entry.clone()) {
                    merged.origin.insert(key, layer);
                }
            }
        }
        Ok(merged)
    }

    /// A package from the layer its index entry came from.
    pub async fn fetch(
        &self,
        index: &LayeredIndex,
        entry: &IndexEntry,
    ) -> Result<Package, RepositoryError> {
        let key = (entry.name.clone(), entry.version.clone(), entry.platform);
        let layer = index.origin.get(&key).copied().unwrap_or(0);
        match self.layers.get(layer) {
            Some(backend) => backend.fetch(entry).await,
            None => Err(RepositoryError::NotFound {
                repository: "any repository".to_owned(),
                name: entry.name.clone(),
                version: entry.version.clone(),
                platform: entry.platform,
            }),
        }
    }
}

/// How `package` differs, file by file, from the published archive `stored` (of checksum
/// `published`), for a refused republish; `None` when the archive cannot be read or is not
/// that build: the refusal stands without the names.
pub(crate) fn changes_from_stored(
    name: &std::path::Path,
    stored: &[u8],
    published: &Checksum,
    package: &Package,
) -> Option<FileChanges> {
    let stored = archive::read(name, stored).ok()?;
    (&stored.checksum == published)
        .then(|| FileChanges::between(&stored.file_checksums(), &package.file_checksums()))
}

/// Refuses `package`, a new platform's build of a version, when a build of another platform
/// that is published (or is published with it) comes from other shared sources.
pub(crate) fn same_sources<'a>(
    package: &Package,
    others: impl IntoIterator<Item = &'a Package>,
) -> Result<(), RepositoryError> {
    for published in others {
        let files = FileChanges::across_platforms(published, package);
        if !files.is_empty() {
            return Err(RepositoryError::OtherSources {
                name: package.manifest.name.clone(),
                version: package.manifest.version.clone(),
                platform: package.platform,
                published: published.platform,
                files,
            });
        }
    }
    Ok(())
}

/// Checks that a fetched package is the one its index entry names, and that the entry says
/// what the package says: its prerequisites and upgrade edges, which the resolver and the
/// paths were chosen from before the archive was read.
pub(crate) fn verify_entry(
    repository: &str,
    entry: &IndexEntry,
    package: Package,
) -> Result<Package, RepositoryError> {
    let own = IndexEntry::of(&package);
    let mismatch = if own.checksum != entry.checksum {
        format!(
            "the archive's checksum is {}, the index says {}",
            own.checksum, entry.checksum
        )
    } else if own.name != entry.name || own.version != entry.version {
        format!("the archive is `{}@{}`", own.name, own.version)
    } else if own.prerequisites != entry.prerequisites {
        "the index lists other prerequisites than the archive's manifest".to_owned()
    } else if own.edges != entry.edges {
        "the index lists other upgrade edges than the archive has".to_owned()
    } else {
        return Ok(package);
    };
    Err(RepositoryError::Tampered {
        repository: repository.to_owned(),
        name: entry.name.clone(),
        version: entry.version.clone(),
        platform: entry.platform,
        mismatch,
    })
}
