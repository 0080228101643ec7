//! `dbpm publish`, `dbpm repo list` and `dbpm repo show`, and opening the repositories that
//! `--repo` names: a `postgres://` URL, a directory repository (it has `index.json`), or a tree
//! of package sources.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use semver::Version;
use serde::Serialize;

use crate::db::repository::DatabaseRepository;
use crate::db::DbUrl;
use crate::diagnostic::Problems;
use crate::manifest::Requirement;
use crate::package::archive::{self, ArchiveError};
use crate::package::{load_dir, Checksum, Origin, Package};
use crate::platform::Platform;
use crate::repository::directory::DirectoryRepository;
use crate::repository::tree::SourceTree;
use crate::repository::{
    Backend, IndexEntry, Published, Repositories, Repository, RepositoryError,
};

/// Why a repository operation failed before or around the repository itself.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum RepoOpError {
    /// No `--repo` and no `DBPM_REPO`.
    #[error("no repository given")]
    #[diagnostic(code(dbpm::repo::none), help("pass `--repo DIR` (a directory repository or a tree of package sources), `--repo postgres://...`, or set DBPM_REPO"))]
    NoRepository,
    /// The destination cannot take publishes.
    #[error("`{0}` is a tree of package sources, not a repository to publish to")]
    #[diagnostic(
        code(dbpm::repo::not_publishable),
        help("publish to an empty or new directory, or to a directory that has `index.json`")
    )]
    NotPublishable(PathBuf),
    /// A package to publish is invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] Problems),
    /// An archive to publish is invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Archive(#[from] ArchiveError),
    /// The repository failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repository(#[from] RepositoryError),
    /// A bad `postgres://` URL.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Url(#[from] crate::db::url::BadUrl),
    /// A database repository on another platform than PostgreSQL.
    #[error("`{0}` is no PostgreSQL database: database repositories are PostgreSQL only")]
    #[diagnostic(
        code(dbpm::repo::platform),
        help("keep the repository in a directory (`--repo DIR`, shared over a file system or synced to object storage), or in PostgreSQL (`--repo postgres://...`)")
    )]
    NotPostgres(String),
    /// A version with build metadata.
    #[error("`{name}@{version}` has build metadata, which no version order reads")]
    #[diagnostic(
        code(dbpm::repo::build_metadata),
        help("leave `+…` out of the version: a change is a new version (or a pre-release such as 1.3.0-rc.1)")
    )]
    BuildMetadata {
        /// The package.
        name: String,
        /// Its version.
        version: Version,
    },
    /// The packages to publish hold two different builds of one version.
    #[error("the packages to publish hold two different builds of `{name}@{version}` ({platform}): {first} and {second}")]
    #[diagnostic(
        code(dbpm::repo::two_builds),
        help("publish one of them; a version has one build per platform")
    )]
    TwoBuilds {
        /// The package.
        name: String,
        /// The version.
        version: Version,
        /// The platform.
        platform: Platform,
        /// One checksum.
        first: Checksum,
        /// The other.
        second: Checksum,
    },
    /// `repo show` of something that is not there.
    #[error("`{0}` is not in the repositories")]
    #[diagnostic(code(dbpm::repo::unknown_package))]
    UnknownPackage(String, #[help] Option<String>),
}

/// Opens one repository from its `--repo` text, to read it: a directory must exist, and
/// be no folder of unpublished archives.
pub fn open(spec: &str) -> Result<Backend, RepoOpError> {
    let backend = open_or_new(spec)?;
    if let Backend::Directory(directory) = &backend {
        directory.check_readable()?;
    }
    Ok(backend)
}

/// Opens one repository from its `--repo` text; a directory that does not exist yet is a new
/// repository, which publishing starts.
fn open_or_new(spec: &str) -> Result<Backend, RepoOpError> {
    if spec.contains("://") {
        let url: DbUrl = spec.parse()?;
        if url.platform() != Platform::Postgres {
            return Err(RepoOpError::NotPostgres(url.redacted()));
        }
        return Ok(Backend::Database(DatabaseRepository::connect(url)?));
    }
    let path = Path::new(spec);
    if !DirectoryRepository::exists_at(path) && SourceTree::looks_like_sources(path) {
        return Ok(Backend::Tree(SourceTree::load(path)?));
    }
    Ok(Backend::Directory(DirectoryRepository::new(path)))
}

/// Opens every `--repo`, in order; at least one is needed.
pub fn open_all(values: &[String]) -> Result<Repositories, RepoOpError> {
    open_given(values)?.ok_or(RepoOpError::NoRepository)
}

/// Opens every `--repo`, in order, or `None` when none is given.
pub fn open_given(values: &[String]) -> Result<Option<Repositories>, RepoOpError> {
    let specs = specs(values);
    if specs.is_empty() {
        return Ok(None);
    }
    let layers = specs.into_iter().map(open).collect::<Result<_, _>>()?;
    Ok(Some(Repositories::new(layers)))
}

/// The repositories that `--repo` values (or `DBPM_REPO`) name: a value may list several,
/// separated by commas. A URL's user and password (up to its last `@`, as the redaction reads
/// them) may hold commas, and a URL's query or fragment runs to the end of the value: cutting
/// there would open part of a password as a directory and name it in the error.
pub fn specs(values: &[String]) -> Vec<&str> {
    let mut specs = Vec::new();
    for value in values {
        let mut rest = value.as_str();
        loop {
            let kept = unsplittable_end(rest);
            match rest[kept..].find(',') {
                Some(comma) => {
                    specs.push(&rest[..kept + comma]);
                    rest = &rest[kept + comma + 1..];
                }
                None => {
                    specs.push(rest);
                    break;
                }
            }
        }
    }
    specs.retain(|spec| !spec.is_empty());
    specs
}

/// How much of `text` is one repository whatever commas it holds: when it starts with a URL,
/// its credentials, or all of it from a `?` or `#` on; else nothing.
fn unsplittable_end(text: &str) -> usize {
    let Some(scheme_end) = text.find("://") else {
        return 0;
    };
    if text[..scheme_end].contains(',') {
        return 0;
    }
    let after = scheme_end + 3;
    // The URL ends before the next one starts, at the latest.
    let horizon = text[after..]
        .find("://")
        .map_or(text.len(), |next| after + next);
    let credentials = text[after..horizon]
        .rfind('@')
        .map_or(after, |at| after + at);
    match text[credentials..].find([',', '?', '#']) {
        Some(at) if text.as_bytes()[credentials + at] != b',' => text.len(),
        _ => credentials,
    }
}

/// One package published.
#[derive(Debug, Clone, Serialize)]
pub struct PublishedPackage {
    /// The package name.
    pub name: String,
    /// The version.
    pub version: Version,
    /// The platform.
    pub platform: Platform,
    /// The content checksum.
    pub checksum: Checksum,
    /// `true` when the repository had exactly these bytes already.
    pub unchanged: bool,
    /// `true` when the repository listed this build but its stored archive was damaged, and
    /// was written again.
    pub repaired: bool,
}

/// Publishes archives and package directories (built first, for every platform) to `dest`.
pub async fn publish(dest: &str, inputs: &[PathBuf]) -> Result<Vec<PublishedPackage>, RepoOpError> {
    let backend = open_or_new(dest)?;
    if let Backend::Tree(_) = backend {
        return Err(RepoOpError::NotPublishable(PathBuf::from(dest)));
    }
    let mut packages: Vec<Package> = Vec::new();
    for input in inputs {
        if input.is_dir() {
            packages.extend(load_dir(input)?.packages());
        } else {
            packages.push(archive::read_file(input)?);
        }
    }
    // Build metadata (`+a`) takes no part in the order of versions: `1.3.0+a` and `1.3.0+b`
    // would be two builds of one version that a repository lists apart. Refused when
    // published; what an earlier dbpm published or installed still reads.
    if let Some(package) = packages
        .iter()
        .find(|p| !p.manifest.version.build.is_empty())
    {
        return Err(RepoOpError::BuildMetadata {
            name: package.manifest.name.clone(),
            version: package.manifest.version.clone(),
        });
    }
    // Two builds of one version in the same batch are refused here, so the repository only
    // ever compares a package with what it holds.
    let mut builds: BTreeMap<(&str, &Version, Platform), &Checksum> = BTreeMap::new();
    for package in &packages {
        let key = (
            package.manifest.name.as_str(),
            &package.manifest.version,
            package.platform,
        );
        match builds.insert(key, &package.checksum) {
            Some(first) if first != &package.checksum => {
                return Err(RepoOpError::TwoBuilds {
                    name: package.manifest.name.clone(),
                    version: package.manifest.version.clone(),
                    platform: package.platform,
                    first: first.clone(),
                    second: package.checksum.clone(),
                });
            }
            _ => {}
        }
    }
    let outcomes = backend.publish(&packages).await?;
    Ok(packages
        .iter()
        .zip(outcomes)
        .map(|(package, outcome)| PublishedPackage {
            name: package.manifest.name.clone(),
            version: package.manifest.version.clone(),
            platform: package.platform,
            checksum: package.checksum.clone(),
            unchanged: outcome == Published::Unchanged,
            repaired: outcome == Published::Repaired,
        })
        .collect())
}

/// A package version as `repo list` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    /// The package name.
    pub name: String,
    /// The version.
    pub version: Version,
    /// The platforms it is built for.
    pub platforms: Vec<Platform>,
    /// Its prerequisites.
    pub prerequisites: BTreeMap<String, Requirement>,
}

/// Every version of every package (or of `name`), merged over the layers.
pub async fn list(repos: &Repositories, name: Option<&str>) -> Result<Vec<Listed>, RepoOpError> {
    let index = repos.index().await?.index;
    repos.refuse_broken(index.entries(), name)?;
    let mut listed: BTreeMap<(String, Version), Listed> = BTreeMap::new();
    for entry in index.entries().filter(|e| name.is_none_or(|n| n == e.name)) {
        listed
            .entry((entry.name.clone(), entry.version.clone()))
            .or_insert_with(|| Listed {
                name: entry.name.clone(),
                version: entry.version.clone(),
                platforms: Vec::new(),
                prerequisites: entry.prerequisites.clone(),
            })
            .platforms
            .push(entry.platform);
    }
    if let (Some(name), true) = (name, listed.is_empty()) {
        return Err(unknown(&index, name));
    }
    Ok(listed.into_values().collect())
}

fn unknown(index: &crate::repository::Index, name: &str) -> RepoOpError {
    let help =
        crate::diagnostic::closest(name, index.names()).map(|n| format!("did you mean `{n}`?"));
    RepoOpError::UnknownPackage(name.to_owned(), help)
}

/// Everything about one package version on one platform, as `repo show` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    /// The index entry (checksum, prerequisites, edges).
    pub entry: IndexEntry,
    /// Where the default edge (`UPGRADE/`) starts: the manifest's `from`, or nothing for a
    /// baseline. The other edges are shortcuts.
    pub default_edge: Origin,
    /// The description.
    pub description: String,
    /// Other versions of the package.
    pub versions: Vec<Version>,
    /// The scripts, by path, with their checksums and declarations.
    pub scripts: Vec<ShownScript>,
    /// Placeholders the scripts use.
    pub placeholders: Vec<String>,
    /// Packages (at some version) whose prerequisites this version satisfies.
    pub required_by: Vec<String>,
}

/// A script in `repo show`.
#[derive(Debug, Clone, Serialize)]
pub struct ShownScript {
    /// Its path in the package.
    pub path: String,
    /// Its checksum.
    pub checksum: Checksum,
    /// Runs in a transaction.
    pub transaction: bool,
    /// Safe to rerun.
    pub idempotent: bool,
    /// Has no twin.
    pub irreversible: bool,
}

/// One package version (the highest when none is given) on `platform` (the first one it has
/// when none is given).
pub async fn show(
    repos: &Repositories,
    name: &str,
    version: Option<&Version>,
    platform: Option<Platform>,
) -> Result<Shown, RepoOpError> {
    let layered = repos.index().await?;
    let index = &layered.index;
    repos.refuse_broken(index.entries(), [name])?;
    let candidates: Vec<&IndexEntry> = index
        .entries()
        .filter(|e| {
            e.name == name
                && version.is_none_or(|v| v == &e.version)
                && platform.is_none_or(|p| p == e.platform)
        })
        .collect();
    let Some(entry) = candidates
        .iter()
        .max_by_key(|e| (&e.version, std::cmp::Reverse(e.platform)))
        .copied()
    else {
        return Err(unknown(
            index,
            &match version {
                Some(v) => format!("{name}@{v}"),
                None => name.to_owned(),
            },
        ));
    };
    let package = repos.fetch(&layered, entry).await?;
    let mut versions: Vec<Version> = index
        .entries()
        .filter(|e| e.name == name)
        .map(|e| e.version.clone())
        .collect();
    versions.sort();
    versions.dedup();
    let mut required_by: Vec<String> = index
        .entries()
        .filter(|e| e.platform == entry.platform)
        .filter(|e| {
            e.prerequisites
                .get(name)
                .is_some_and(|req| req.matches(&entry.version))
        })
        .map(|e| format!("{}@{}", e.name, e.version))
        .collect();
    required_by.dedup();
    Ok(Shown {
        entry: entry.clone(),
        default_edge: Origin::of(package.manifest.from.as_ref()),
        description: package.manifest.description.clone(),
        versions,
        scripts: package
            .scripts
            .iter()
            .map(|s| ShownScript {
                path: s.path.to_string(),
                checksum: s.checksum.clone(),
                transaction: s.flags.transaction,
                idempotent: s.flags.idempotent,
                irreversible: s.flags.irreversible,
            })
            .collect(),
        placeholders: package.manifest.placeholders.keys().cloned().collect(),
        required_by,
    })
}

#[cfg(test)]
mod tests {
    use super::{open, specs, RepoOpError};

    /// QA: `--repo mysql://…` was opened as PostgreSQL and failed with "unexpected response
    /// from SSLRequest", `--repo sqlite://…` with "database … does not exist".
    #[test]
    fn a_database_repository_is_postgres_only() {
        for spec in ["mysql://u:secret@h:3306/r", "sqlite:///srv/repo.db"] {
            let err = open(spec).map(drop).unwrap_err();
            assert!(
                matches!(err, RepoOpError::NotPostgres(_)),
                "{spec}: {err:?}"
            );
            let text = err.to_string();
            assert!(
                text.contains("PostgreSQL only") && !text.contains("secret"),
                "{text}"
            );
        }
    }

    #[test]
    fn repositories_split_at_commas_but_not_in_a_password() {
        let values =
            |values: &[&str]| -> Vec<String> { values.iter().map(|v| v.to_string()).collect() };
        assert_eq!(
            specs(&values(&["dist,examples/packages", "more"])),
            ["dist", "examples/packages", "more"]
        );
        assert_eq!(
            specs(&values(&[
                "postgres://ci:se,cr@t@db:5432/repo,dist,mysql://u:a,b@h/r"
            ])),
            [
                "postgres://ci:se,cr@t@db:5432/repo",
                "dist",
                "mysql://u:a,b@h/r"
            ]
        );
        // A password with an unencoded `/` (which the URL parser refuses, redacted), and a
        // query holding a secret: one repository each.
        assert_eq!(
            specs(&values(&["postgres://u:x,y/z@h/db,dist"])),
            ["postgres://u:x,y/z@h/db", "dist"]
        );
        assert_eq!(
            specs(&values(&["dist,postgres://h/db?password=se,cret"])),
            ["dist", "postgres://h/db?password=se,cret"]
        );
        // A comma after the host is a separator; empty pieces are no repositories.
        assert_eq!(
            specs(&values(&["postgres://db/repo,,dist,"])),
            ["postgres://db/repo", "dist"]
        );
        assert_eq!(
            specs(&values(&["dist,postgres://u:p,q@h/r"])),
            ["dist", "postgres://u:p,q@h/r"]
        );
    }
}
