//! `dbpm plan` and `dbpm show`: read the release, the installed state and the repositories,
//! decide, fetch exactly the package versions the plan needs, build the plan; and load a
//! plan file back, verified.

use std::collections::BTreeMap;
use std::path::Path;

use futures_util::{StreamExt, TryStreamExt};
use semver::Version;

use crate::diagnostic::{Problems, SourceFile};
use crate::package::changes::FileChanges;
use crate::package::Package;
use crate::plan::{self, Options, Plan, PlanError, PlanningError};
use crate::repository::{Repositories, RepositoryError};
use crate::resolve::{parse_release, Release};
use crate::state::InstalledState;

/// Why `dbpm plan` failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanOpError {
    /// The release file could not be read.
    #[error("failed to read the release file `{path}`")]
    #[diagnostic(code(dbpm::plan::release_io))]
    ReleaseIo {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The release file is invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Release(#[from] Problems),
    /// Planning failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Planning(#[from] PlanningError),
    /// The repositories failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repository(#[from] RepositoryError),
    /// A plan file could not be read.
    #[error("failed to read the plan `{path}`")]
    #[diagnostic(code(dbpm::plan::io))]
    PlanIo {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A plan file is invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
}

/// Reads and validates a release file.
pub fn read_release(path: &Path) -> Result<Release, PlanOpError> {
    let text = fs_err::read_to_string(path).map_err(|source| PlanOpError::ReleaseIo {
        path: path.display().to_string(),
        source,
    })?;
    Ok(parse_release(&SourceFile::new(path, text))?)
}

/// Plans `release` for a target in `state`, with packages from `repos`.
///
/// Packages are also known besides the repositories: `first` wins over them (archives named
/// on the command line), `last` only fills in what they lack (versions the target recorded in
/// its history, so undo and uninstall work without the repository); a version only `last`
/// has is walked through where a path needs it, and chosen only when the repositories cannot
/// satisfy the release.
pub async fn make_plan(
    release: &Release,
    state: &InstalledState,
    repos: &Repositories,
    options: &Options,
    first: &[Package],
    last: &[Package],
) -> Result<Plan, PlanOpError> {
    let layered = repos.index().await?;
    let mut index = crate::repository::Index::new();
    let mut known: BTreeMap<(String, Version), &Package> = BTreeMap::new();
    let add = |index: &mut crate::repository::Index, package: &'_ Package| {
        index.insert_if_absent(crate::repository::IndexEntry::of(package))
    };
    for package in first.iter().filter(|p| p.platform == state.platform) {
        if add(&mut index, package) {
            known.insert(
                (
                    package.manifest.name.clone(),
                    package.manifest.version.clone(),
                ),
                package,
            );
        }
    }
    index.fill_from(&layered.index);
    // What the target kept: walked through where a path needs it, chosen only as a last resort.
    let mut kept = crate::repository::Index::new();
    for package in last.iter().filter(|p| p.platform == state.platform) {
        let entry = crate::repository::IndexEntry::of(package);
        let known_elsewhere = index
            .get(&entry.name, &entry.version, entry.platform)
            .is_some();
        if !known_elsewhere && kept.insert_if_absent(entry) {
            known.insert(
                (
                    package.manifest.name.clone(),
                    package.manifest.version.clone(),
                ),
                package,
            );
        }
    }
    // A package source that fails validation blocks the plan when it may be read, and only then.
    let roots = release
        .packages
        .keys()
        .chain(state.packages.keys())
        .chain(&options.reinstall);
    repos.refuse_broken(
        index.entries().chain(kept.entries()),
        roots.map(String::as_str),
    )?;
    let decisions = match plan::decide(release, state, &index, &kept, options) {
        Err(PlanningError::Drift {
            package,
            version,
            installed,
            repository,
            files: None,
        }) => {
            // Worth a fetch on the way out: which files differ is what the user needs. A copy
            // that cannot be read leaves them unnamed; the drift is the error either way.
            let theirs = match known.get(&(package.clone(), version.clone())) {
                Some(known) => Some((*known).clone()),
                None => match layered.index.get(&package, &version, state.platform) {
                    Some(entry) => repos.fetch(&layered, entry).await.ok(),
                    None => None,
                },
            };
            let files = theirs
                .filter(|theirs| theirs.checksum == repository)
                .zip(state.packages.get(&package))
                .map(|(theirs, ours)| {
                    FileChanges::between(&ours.file_checksums(), &theirs.file_checksums())
                });
            return Err(PlanningError::Drift {
                package,
                version,
                installed,
                repository,
                files,
            }
            .into());
        }
        decided => decided?,
    };
    let mut packages: BTreeMap<(String, Version), Package> = BTreeMap::new();
    let mut entries = Vec::new();
    for (name, version) in decisions.needed(state) {
        if let Some(package) = known.get(&(name.clone(), version.clone())) {
            packages.insert((name, version), (*package).clone());
            continue;
        }
        let entry = layered
            .index
            .get(&name, &version, state.platform)
            .ok_or_else(|| PlanningError::MissingPackage(name.clone(), version.clone()))?;
        entries.push(entry);
    }
    // Fetched a few at a time, so a remote repository's round trips overlap.
    let fetched: Vec<Package> = futures_util::stream::iter(&entries)
        .map(|entry| repos.fetch(&layered, entry))
        .buffered(FETCHES_AT_ONCE)
        .try_collect()
        .await?;
    for package in fetched {
        let key = (
            package.manifest.name.clone(),
            package.manifest.version.clone(),
        );
        packages.insert(key, package);
    }
    // The label is text from the command line or a file: credentials in it stay out.
    let options = Options {
        target: crate::db::url::redact_label(&options.target),
        ..options.clone()
    };
    Ok(plan::build(
        release, state, &decisions, &packages, &options,
    )?)
}

/// How many archives `make_plan` fetches from the repositories at once.
const FETCHES_AT_ONCE: usize = 8;

/// Reads a plan file, verifying its hash and scripts.
pub fn load_plan(path: &Path) -> Result<Plan, PlanOpError> {
    let text = fs_err::read_to_string(path).map_err(|source| PlanOpError::PlanIo {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Plan::from_json(&path.display().to_string(), &text)?)
}
