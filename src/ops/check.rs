//! `dbpm verify` and `dbpm adopt`: health checks of installed packages (their VERIFY scripts,
//! run in transactions that are rolled back, and their checksums against the repository,
//! naming the files that differ),
//! and recording an existing database as having a package version installed once its VERIFY
//! scripts confirm the claim (a Flyway-style baseline).

use std::collections::BTreeMap;

use semver::Version;
use serde::Serialize;

use crate::db::target::{RunOutcome, StepSession, Target, TargetError};
use crate::execute::runner::{is_unfinished, os_user, utc_now};
use crate::ops::status::drift_diff;
use crate::package::changes::FileChanges;
use crate::package::{placeholder, Checksum, Package, Phase};
use crate::repository::{Repositories, RepositoryError};
use crate::state::StateError;

/// Why a check or an adoption failed to run.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum CheckError {
    /// The target failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Target(#[from] TargetError),
    /// A repository failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repository(#[from] RepositoryError),
    /// An installed package does not rebuild from the target's copy.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] StateError),
    /// The version to adopt is not in the repositories.
    #[error("`{0}@{1}` is not in the repositories for this target's platform")]
    #[diagnostic(
        code(dbpm::adopt::unknown),
        help("`dbpm repo list` shows what is there")
    )]
    Unknown(String, Version),
    /// A run is unfinished on the target.
    #[error("run `{run}` is unfinished on this target ({outcome})")]
    #[diagnostic(
        code(dbpm::adopt::unfinished_run),
        help("finish it first: `dbpm apply --resume` (a run of `dbpm install` and the other verbs), or apply its plan file again; nothing was recorded")
    )]
    UnfinishedRun {
        /// The unfinished run.
        run: String,
        /// Where it stands.
        outcome: RunOutcome,
    },
    /// The package is installed already.
    #[error("`{0}` is already installed ({1}); adopting is for databases dbpm does not know yet")]
    #[diagnostic(code(dbpm::adopt::installed))]
    AlreadyInstalled(String, Version),
    /// A prerequisite is missing.
    #[error("`{package}` requires `{prerequisite} {requirement}`, which is not installed")]
    #[diagnostic(
        code(dbpm::adopt::prerequisite),
        help("adopt or install `{prerequisite}` first")
    )]
    Prerequisite {
        /// The package.
        package: String,
        /// The prerequisite.
        prerequisite: String,
        /// Its range.
        requirement: String,
    },
    /// The claim does not hold.
    #[error("the database is not `{package}`: {}", .failures.join("; "))]
    #[diagnostic(
        code(dbpm::adopt::verify_failed),
        help("nothing was recorded; fix the database or adopt the version it really has")
    )]
    VerifyFailed {
        /// The package version.
        package: String,
        /// Which checks failed and why.
        failures: Vec<String>,
    },
    /// The version has no VERIFY script: nothing would check the claim.
    #[error("`{0}` has no VERIFY script: nothing would check that the database is what it claims")]
    #[diagnostic(
        code(dbpm::adopt::unverifiable),
        help("nothing was recorded; add VERIFY scripts to the package that check the objects its UPGRADE scripts make, or pass `--unverified` to record the claim unchecked")
    )]
    Unverifiable(String),
    /// A placeholder without a value.
    #[error("`{script}` uses placeholders without a value: {}", .names.join(", "))]
    #[diagnostic(
        code(dbpm::adopt::placeholder),
        help("give them with `--set name=value`")
    )]
    Placeholder {
        /// The script.
        script: String,
        /// The names.
        names: Vec<String>,
    },
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// `package@version`.
    pub package: String,
    /// What was checked: a VERIFY script's path, or `checksum`.
    pub check: String,
    /// Whether it passed.
    pub ok: bool,
    /// What failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Runs `package`'s VERIFY scripts on `session`, each in a transaction that is rolled back.
async fn run_verify(
    package: &Package,
    values: &BTreeMap<String, String>,
    mut session: StepSession,
) -> Result<Vec<CheckResult>, CheckError> {
    let mut results = Vec::new();
    for script in package.scripts_in(&Phase::Verify) {
        let text = placeholder::substitute(&script.text, script.kind, values).map_err(|names| {
            CheckError::Placeholder {
                script: script.path.to_string(),
                names,
            }
        })?;
        let outcome = session.check(&text).await?;
        results.push(CheckResult {
            package: package.id(),
            check: script.path.to_string(),
            ok: outcome.is_ok(),
            detail: outcome.err().map(|e| e.0),
        });
    }
    session.close().await?;
    Ok(results)
}

/// What `dbpm verify` found.
#[derive(Debug, Clone)]
pub struct Verification {
    /// How many packages are installed.
    pub installed: usize,
    /// The checks, package by package.
    pub results: Vec<CheckResult>,
}

/// `dbpm verify`: every installed package's VERIFY scripts, and, with repositories, whether
/// the installed content is the published one.
pub async fn verify(
    target: &Target,
    repos: Option<&Repositories>,
) -> Result<Verification, CheckError> {
    let state = target.read_state().await?;
    let published = match repos {
        Some(repos) => {
            let layered = repos.index().await?;
            repos.refuse_broken(
                layered.index.entries(),
                state.packages.keys().map(String::as_str),
            )?;
            Some((repos, layered))
        }
        None => None,
    };
    let mut results = Vec::new();
    for (name, installed) in &state.packages {
        let Some(package) = state.package(name) else {
            continue;
        };
        let package = package?;
        let session = target.step_session().await?;
        results.extend(run_verify(&package, &installed.placeholders, session).await?);
        if let Some((repos, layered)) = &published {
            let entry = layered.index.get(name, &installed.version, state.platform);
            let (ok, detail) = match entry {
                Some(entry) if entry.checksum == installed.checksum => (true, None),
                Some(entry) => {
                    // The mismatch stands even when the repositories' copy cannot be read.
                    let published = repos.fetch(layered, entry).await.ok();
                    let files = published.as_ref().map(|published| {
                        FileChanges::between(
                            &installed.file_checksums(),
                            &published.file_checksums(),
                        )
                    });
                    let diff = published
                        .as_ref()
                        .zip(files.as_ref())
                        .map(|(published, files)| {
                            drift_diff(installed, &state.texts, published, files)
                        })
                        .filter(|diff| !diff.is_empty())
                        .map(|diff| format!("\n{}", diff.trim_end()))
                        .unwrap_or_default();
                    (
                        false,
                        Some(format!(
                            "installed {}, published {}{}{diff}",
                            installed.checksum,
                            entry.checksum,
                            FileChanges::suffix(files.as_ref())
                        )),
                    )
                }
                None => (
                    false,
                    Some(format!(
                        "{}@{} is not in the repositories",
                        name, installed.version
                    )),
                ),
            };
            results.push(CheckResult {
                package: package.id(),
                check: "checksum".to_owned(),
                ok,
                detail,
            });
        }
    }
    Ok(Verification {
        installed: state.packages.len(),
        results,
    })
}

/// `dbpm adopt NAME@VERSION`: checks the claim with the package's VERIFY scripts, then records
/// the package as installed (adopted) without running anything else. A version without
/// VERIFY scripts is refused unless the claim is to be recorded `unverified`.
pub async fn adopt(
    target: &Target,
    repos: &Repositories,
    name: &str,
    version: &Version,
    set: &BTreeMap<String, String>,
    unverified: bool,
) -> Result<Vec<CheckResult>, CheckError> {
    // The package first, from the repositories: a mistyped name touches no target.
    let layered = repos.index().await?;
    repos.refuse_broken(layered.index.entries(), [name])?;
    let entry = layered
        .index
        .get(name, version, target.platform())
        .ok_or_else(|| CheckError::Unknown(name.to_owned(), version.clone()))?;
    let package = repos.fetch(&layered, entry).await?;
    if package.scripts_in(&Phase::Verify).as_slice().is_empty() && !unverified {
        return Err(CheckError::Unverifiable(package.id()));
    }
    // Then under the run lock: what a run is changing cannot be adopted meanwhile.
    let _lock = target.lock(std::time::Duration::from_secs(10)).await?;
    target.ensure_state().await?;
    // A run left unfinished would take the adoption for one of its own changes when it
    // resumes (its record holds the installed set after it), and undo would then uninstall
    // what was adopted.
    if let Some(run) = target.runs().await?.iter().find(|r| is_unfinished(r)) {
        return Err(CheckError::UnfinishedRun {
            run: run.id.clone(),
            outcome: run.outcome,
        });
    }
    let state = target.read_state().await?;
    if let Some(installed) = state.packages.get(name) {
        return Err(CheckError::AlreadyInstalled(
            name.to_owned(),
            installed.version.clone(),
        ));
    }
    for (prerequisite, requirement) in &package.manifest.prerequisites {
        let satisfied = state
            .packages
            .get(prerequisite)
            .is_some_and(|p| requirement.matches(&p.version));
        if !satisfied {
            return Err(CheckError::Prerequisite {
                package: package.id(),
                prerequisite: prerequisite.clone(),
                requirement: requirement.to_string(),
            });
        }
    }
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    for (key, declared) in &package.manifest.placeholders {
        if let Some(value) = set.get(key).or(declared.default.as_ref()) {
            values.insert(key.clone(), value.clone());
        }
    }
    // The claim is about the target's own objects: checked on its schema alone.
    let session = target.own_schema_session().await?;
    let results = run_verify(&package, &values, session).await?;
    let failures: Vec<String> = results
        .iter()
        .filter(|r| !r.ok)
        .map(|r| format!("{}: {}", r.check, r.detail.clone().unwrap_or_default()))
        .collect();
    if !failures.is_empty() {
        return Err(CheckError::VerifyFailed {
            package: package.id(),
            failures,
        });
    }
    let before = state.record_json();
    let run = format!(
        "adopt-{}",
        &Checksum::of_text(&format!("{}{}", package.checksum, utc_now())).as_str()[7..19]
    );
    let mut after = state.clone();
    after.record(&package, values, Some(run.clone()), true, Some(utc_now()));
    // Not `completed`: undo and restore must never run scripts against what was adopted.
    target
        .record_adoption(
            &after,
            &run,
            &format!("adopt {}", package.id()),
            &os_user(),
            &before,
        )
        .await?;
    Ok(results)
}

/// Why a baseline package could not be generated.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum GenerateError {
    /// Reading the schema failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Schema(#[from] crate::db::target::SchemaError),
    /// The directory is in use.
    #[error("`{0}` exists and is not empty")]
    #[diagnostic(code(dbpm::adopt::dir_not_empty), help("choose a new directory"))]
    NotEmpty(std::path::PathBuf),
    /// Writing failed.
    #[error("failed to write the package")]
    #[diagnostic(code(dbpm::adopt::write))]
    Write(#[source] std::io::Error),
    /// The generated package does not validate.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] crate::diagnostic::Problems),
    /// Not a package name.
    #[error("`{0}` is not a package name")]
    #[diagnostic(
        code(dbpm::adopt::bad_name),
        help("pass `--name` with ASCII letters, digits, `_` and `-`")
    )]
    BadName(String),
}

/// `dbpm adopt --generate DIR`: a baseline package (`name@version`, from nothing) whose
/// UPGRADE creates the live schema of `target`, whose DOWNGRADE drops it, and whose VERIFY
/// checks that its tables and views exist. Returns the files written.
pub async fn generate(
    target: &Target,
    dir: &std::path::Path,
    name: &str,
    version: &Version,
) -> Result<Vec<std::path::PathBuf>, GenerateError> {
    if !crate::manifest::is_package_name(name) {
        return Err(GenerateError::BadName(name.to_owned()));
    }
    if fs_err::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(GenerateError::NotEmpty(dir.to_path_buf()));
    }
    let schema = target.schema_scripts().await?;
    let quote = |object: &str| crate::db::target::identifier(target.platform(), object);
    let verify: String = schema
        .objects
        .iter()
        .map(|o| format!("SELECT 1 FROM {} WHERE 1 = 0;\n", quote(o)))
        .collect();
    let files = [
        (
            "dbpm.toml",
            format!(
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"Baseline generated by `dbpm adopt --generate` from {}\"\nplatforms = [\"{}\"]\n",
                target.label().replace('"', "'"),
                target.platform()
            ),
        ),
        ("UPGRADE/001.schema.sql", schema.create),
        ("DOWNGRADE/001.schema.sql", schema.drop),
        ("VERIFY/001.objects_exist.sql", if verify.is_empty() { "SELECT 1;\n".to_owned() } else { verify }),
    ];
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(GenerateError::Write)?;
        }
        fs_err::write(&path, text).map_err(GenerateError::Write)?;
        written.push(path);
    }
    crate::package::load_dir(dir)?;
    Ok(written)
}
