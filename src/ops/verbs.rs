//! The verbs that plan and apply in one command — install, uninstall, upgrade, undo and
//! restore — as goals: each turns a request and the target's installed state into the
//! release and planning options that `dbpm plan` would take, and the package versions a
//! target's runs recorded. Pure but for reading what the target kept of its runs; the CLI
//! plans, shows, asks and applies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use semver::Version;

use crate::db::target::{RunOutcome, RunRecord, Target, TargetError};
use crate::diagnostic::{Problem, Problems};
use crate::manifest::Requirement;
use crate::ops::history::changes;
use crate::package::{load_dir, Checksum, Package};
use crate::plan::Options;
use crate::platform::Platform;
use crate::resolve::Release;
use crate::state::{InstalledState, StateError};

/// What a verb asks the planner for.
#[derive(Debug, Clone)]
pub struct Goal {
    /// The release to reach.
    pub release: Release,
    /// How to plan.
    pub options: Options,
    /// Packages known besides the repositories (archives named on the command line, versions
    /// from the target's history).
    pub extra: Vec<Package>,
}

/// Why a verb's request cannot be turned into a goal.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum VerbError {
    /// A package to act on is not installed.
    #[error("`{0}` is not installed on this target")]
    #[diagnostic(
        code(dbpm::verb::not_installed),
        help("`dbpm status` lists what is installed")
    )]
    NotInstalled(String),
    /// An uninstall of something others need.
    #[error("cannot uninstall `{package}`: {} still require it", .by.join(", "))]
    #[diagnostic(
        code(dbpm::verb::required),
        help("uninstall those too (`--cascade` does), or keep `{package}`")
    )]
    StillRequired {
        /// The package.
        package: String,
        /// The installed packages that require it.
        by: Vec<String>,
    },
    /// A run id that the target does not know, or that did not complete.
    #[error("run `{0}` is not a completed run of this target")]
    #[diagnostic(code(dbpm::verb::unknown_run), help("`dbpm history` lists the runs"))]
    UnknownRun(String),
    /// Going back would remove a package that one adopted since requires.
    #[error("{why} would uninstall `{prerequisite}`, which `{adopted}` requires; `{adopted}` was adopted since, and stays")]
    #[diagnostic(
        code(dbpm::verb::adopted_requires),
        help("an adopted package is never uninstalled by going back: no run of the target made it. Uninstall `{adopted}` first if it must go (its DOWNGRADE scripts drop what it holds)")
    )]
    AdoptedRequires {
        /// What was asked (`undo RUN`, `restore RUN`).
        why: String,
        /// The adopted package.
        adopted: String,
        /// The package going back would remove.
        prerequisite: String,
    },
    /// Nothing to undo.
    #[error("no completed run to undo on this target")]
    #[diagnostic(code(dbpm::verb::nothing_to_undo))]
    NothingToUndo,
    /// A recorded installed set is unreadable.
    #[error("the installed set recorded by run `{run}` is unreadable: {reason}")]
    #[diagnostic(code(dbpm::verb::bad_history))]
    BadHistory {
        /// The run.
        run: String,
        /// Why.
        reason: String,
    },
    /// A package source directory named on the command line does not list the target's
    /// platform.
    #[error("`{dir}` ({name} {version}) lists {listed}, not {target}")]
    #[diagnostic(code(dbpm::verb::source_platform))]
    SourcePlatform {
        /// The directory.
        dir: String,
        /// The package.
        name: String,
        /// Its version.
        version: Version,
        /// The platforms its manifest lists.
        listed: String,
        /// The target's platform.
        target: Platform,
        /// What to do, in the words of its manifest's format.
        #[help]
        help: String,
    },
    /// A package source directory named on the command line does not build.
    #[error(transparent)]
    #[diagnostic(transparent)]
    InvalidSource(Problems),
    /// Something named on the command line as a file or directory is neither.
    #[error("`{path}` is no package source directory and no `.dbpkg` file")]
    #[diagnostic(
        code(dbpm::verb::no_such_package_file),
        help("name a package as NAME or NAME@REQUIREMENT (from `--repo`), or give the path of a package version directory (with its dbpm.toml) or of a built `.dbpkg` file")
    )]
    NoSuchPackageFile {
        /// The path given.
        path: String,
    },
    /// An archive named on the command line is the build of another platform than the
    /// target's.
    #[error("`{file}` is built for {built_for}, and the target is {target}")]
    #[diagnostic(
        code(dbpm::verb::archive_platform),
        help("install the {target} build of `{name}` {version}, `{name}-{version}-{target}.dbpkg`: `dbpm build` writes one archive NAME-VERSION-PLATFORM.dbpkg per platform the package lists")
    )]
    ArchivePlatform {
        /// The archive's file name.
        file: String,
        /// The package.
        name: String,
        /// Its version.
        version: Version,
        /// The platform it is built for.
        built_for: Platform,
        /// The target's platform.
        target: Platform,
    },
    /// A recorded package does not rebuild.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] StateError),
    /// The target failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Target(#[from] TargetError),
}

fn release(
    description: &str,
    packages: BTreeMap<String, Requirement>,
    placeholders: BTreeMap<String, String>,
) -> Release {
    Release {
        platform: None,
        packages,
        placeholders,
        digest: Checksum::of_text(description),
    }
}

/// The package in source directory `dir`, built for `platform` as `dbpm build` builds it,
/// and the warnings of that build.
pub fn build_source(dir: &Path, platform: Platform) -> Result<(Package, Vec<Problem>), VerbError> {
    let source = load_dir(dir).map_err(VerbError::InvalidSource)?;
    let package = source.for_platform(platform).ok_or_else(|| {
        let listed: Vec<&str> = source
            .manifest
            .platforms
            .iter()
            .map(|p| p.as_str())
            .collect();
        // A legacy manifest has no `platforms`: pointing at it sent its users looking for a
        // key their manifest cannot hold.
        let help = if source.manifest.legacy {
            format!("install it on a target of the platform it names, or set `platform` to `{platform}` in its manifest.dpm once its scripts run there (a manifest.dpm names one platform; a dbpm.toml lists several in `platforms`)")
        } else {
            format!("install it on a target of a platform it lists, or add `{platform}` to `platforms` in its dbpm.toml once its scripts run there")
        };
        VerbError::SourcePlatform {
            dir: dir.display().to_string(),
            name: source.manifest.name.clone(),
            version: source.manifest.version.clone(),
            listed: listed.join(", "),
            target: platform,
            help,
        }
    })?;
    Ok((package, source.warnings))
}

fn any() -> Requirement {
    Requirement::parse("*").unwrap_or_else(|err| unreachable!("`*` is a requirement: {err}"))
}

/// `dbpm install`: the named packages (with a requirement, or the highest version) and the
/// archives given (each with its path), on top of what is installed on a target of
/// `platform`. An archive built for another platform is refused: the resolver would only
/// find no build of it.
pub fn install(
    requested: &[(String, Option<Requirement>)],
    archives: Vec<(PathBuf, Package)>,
    platform: Platform,
    reinstall: bool,
    set: BTreeMap<String, String>,
) -> Result<Goal, VerbError> {
    if let Some((path, archive)) = archives.iter().find(|(_, a)| a.platform != platform) {
        return Err(VerbError::ArchivePlatform {
            file: path.file_name().map_or_else(
                || path.display().to_string(),
                |f| f.to_string_lossy().into_owned(),
            ),
            name: archive.manifest.name.clone(),
            version: archive.manifest.version.clone(),
            built_for: archive.platform,
            target: platform,
        });
    }
    let archives: Vec<Package> = archives.into_iter().map(|(_, a)| a).collect();
    let mut packages = BTreeMap::new();
    for (name, requirement) in requested {
        packages.insert(name.clone(), requirement.clone().unwrap_or_else(any));
    }
    for archive in &archives {
        packages.insert(
            archive.manifest.name.clone(),
            Requirement::exact(&archive.manifest.version),
        );
    }
    let description = format!("install {packages:?}");
    let reinstall = if reinstall {
        packages.keys().cloned().collect()
    } else {
        BTreeSet::new()
    };
    Ok(Goal {
        release: release(&description, packages, set.clone()),
        options: Options {
            reinstall,
            set,
            ..Options::default()
        },
        extra: archives,
    })
}

/// `dbpm uninstall`: every installed package stays at its version except the named ones (and,
/// with `cascade`, everything that requires them, directly or not).
pub fn uninstall(
    state: &InstalledState,
    names: &[String],
    cascade: bool,
) -> Result<Goal, VerbError> {
    let mut removed: BTreeSet<String> = BTreeSet::new();
    for name in names {
        if !state.packages.contains_key(name) {
            return Err(VerbError::NotInstalled(name.clone()));
        }
        removed.insert(name.clone());
    }
    let requires = requirements(state)?;
    loop {
        let dependents: Vec<(String, String)> = requires
            .iter()
            .filter(|(who, _)| !removed.contains(*who))
            .flat_map(|(who, needs)| {
                needs
                    .iter()
                    .filter(|n| removed.contains(*n))
                    .map(move |n| (who.clone(), n.clone()))
            })
            .collect();
        let Some((_, needed)) = dependents.first() else {
            break;
        };
        if !cascade {
            let by = dependents
                .iter()
                .filter(|(_, n)| n == needed)
                .map(|(who, _)| format!("`{who}`"))
                .collect();
            return Err(VerbError::StillRequired {
                package: needed.clone(),
                by,
            });
        }
        removed.extend(dependents.into_iter().map(|(who, _)| who));
    }
    let packages = state
        .packages
        .iter()
        .filter(|(name, _)| !removed.contains(*name))
        .map(|(name, p)| (name.clone(), Requirement::exact(&p.version)))
        .collect();
    Ok(Goal {
        release: release(&format!("uninstall {removed:?}"), packages, BTreeMap::new()),
        options: Options {
            prune: true,
            ..Options::default()
        },
        extra: Vec::new(),
    })
}

/// Who requires whom among the installed packages.
fn requirements(state: &InstalledState) -> Result<BTreeMap<String, BTreeSet<String>>, VerbError> {
    let mut requires = BTreeMap::new();
    for name in state.packages.keys() {
        if let Some(package) = state.package(name) {
            requires.insert(
                name.clone(),
                package?.manifest.prerequisites.keys().cloned().collect(),
            );
        }
    }
    Ok(requires)
}

/// `dbpm upgrade`: the named installed packages (all when none is named) to the highest
/// version their requirements allow; the others stay as they are.
pub fn upgrade(
    state: &InstalledState,
    names: &[String],
    set: BTreeMap<String, String>,
) -> Result<Goal, VerbError> {
    for name in names {
        if !state.packages.contains_key(name) {
            return Err(VerbError::NotInstalled(name.clone()));
        }
    }
    let chosen: BTreeSet<String> = if names.is_empty() {
        state.packages.keys().cloned().collect()
    } else {
        names.iter().cloned().collect()
    };
    let packages = state
        .packages
        .iter()
        .filter(|(name, _)| chosen.contains(*name))
        .map(|(name, p)| (name.clone(), Requirement::at_least(&p.version)))
        .collect();
    Ok(Goal {
        release: release(&format!("upgrade {chosen:?}"), packages, set.clone()),
        options: Options {
            latest: chosen,
            set,
            ..Options::default()
        },
        extra: Vec::new(),
    })
}

/// `dbpm undo` and `dbpm restore`: back to an installed set the target recorded, with the
/// packages rebuilt from the target's own copy of their scripts, so the repository need not
/// have them any more.
/// `walked`: the values the versions walked through ran with ([`History::walked_values`]), so
/// that going back through them re-creates what they made then.
pub fn back_to(
    recorded: &InstalledState,
    current: &InstalledState,
    adopted: &BTreeMap<String, Version>,
    walked: &BTreeMap<String, BTreeMap<String, String>>,
    why: &str,
) -> Result<Goal, VerbError> {
    let mut extra = Vec::new();
    let mut package_values = BTreeMap::new();
    // A package at the same version, installed since with other placeholder values, gets
    // its code re-created with the recorded ones.
    let mut reinstall = BTreeSet::new();
    for (name, installed) in &recorded.packages {
        if let Some(package) = recorded.package(name) {
            extra.push(package?);
        }
        let mut values = walked.get(name).cloned().unwrap_or_default();
        values.extend(installed.placeholders.clone());
        package_values.insert(name.clone(), values);
        if current.packages.get(name).is_some_and(|now| {
            now.version == installed.version && now.placeholders != installed.placeholders
        }) {
            reinstall.insert(name.clone());
        }
    }
    // A package adopted since (`adopted`: by the runs after the recorded point) stays, at
    // the version adopted at the most: no run of the target made it, and the DOWNGRADE below
    // that would destroy what dbpm never made. What it requires stays with it, or the plan
    // says why not.
    let adopted_since: Vec<(&String, &Version)> = adopted
        .iter()
        .filter(|(name, _)| current.packages.contains_key(*name))
        .filter(|(name, _)| !recorded.packages.contains_key(*name))
        .collect();
    for (adopted, _) in &adopted_since {
        let Some(package) = current.package(adopted) else {
            continue;
        };
        let kept = |name: &String| {
            recorded.packages.contains_key(name)
                || adopted_since.iter().any(|(other, _)| *other == name)
        };
        if let Some(prerequisite) = package?.manifest.prerequisites.keys().find(|p| !kept(p)) {
            return Err(VerbError::AdoptedRequires {
                why: why.to_owned(),
                adopted: (*adopted).clone(),
                prerequisite: prerequisite.clone(),
            });
        }
    }
    // Nor below a version adopted since (its objects made by hand, not by the runs).
    let packages = recorded
        .packages
        .iter()
        .map(|(name, p)| {
            let at_least = adopted
                .get(name)
                .filter(|version| **version > p.version && current.packages.contains_key(name));
            (
                name.clone(),
                Requirement::exact(at_least.unwrap_or(&p.version)),
            )
        })
        .chain(
            adopted_since
                .iter()
                .map(|(name, version)| ((*name).clone(), Requirement::exact(version))),
        )
        .collect();
    Ok(Goal {
        release: release(why, packages, BTreeMap::new()),
        options: Options {
            prune: true,
            reinstall,
            package_values,
            ..Options::default()
        },
        extra,
    })
}

/// What a target's runs recorded beyond its installed set.
#[derive(Debug, Default)]
pub struct History {
    /// Every package version the runs recorded (the installed sets before and after each,
    /// and the versions each walked through), rebuilt from the scripts the target kept:
    /// what `undo`, `restore`, `uninstall` and `plan --db` walk through when the repository
    /// no longer has those versions.
    pub packages: Vec<Package>,
    /// The placeholder values the versions walked through ran with, by package (the latest
    /// run's where runs differ), but for a version's own defaults (as for an installed
    /// version's values, a newer default replaces an old one): a walk back through them runs
    /// them with the same values, also for a name the installed version no longer declares
    /// (see [`Options::walked_values`]).
    pub walked_values: BTreeMap<String, BTreeMap<String, String>>,
}

/// What `target` recorded in `runs`: see [`History`].
pub async fn history(target: &Target, runs: &[RunRecord]) -> Result<History, VerbError> {
    let mut kept = InstalledState::empty(target.platform(), target.label());
    let mut seen = BTreeSet::new();
    let mut versions = Vec::new();
    // The values of every version walked, in the order of the runs.
    let mut walked_with = Vec::new();
    for (run, json) in runs.iter().flat_map(RunRecord::installed_sets) {
        let recorded = parse_record(run, json)?;
        kept.texts.extend(recorded.texts);
        for (name, versions) in &recorded.walked {
            for walked in versions {
                walked_with.push((
                    name.clone(),
                    walked.checksum.clone(),
                    walked.placeholders.clone(),
                ));
            }
        }
        let walked = recorded
            .walked
            .into_iter()
            .flat_map(|(name, versions)| versions.into_iter().map(move |v| (name.clone(), v)));
        for (name, installed) in recorded.packages.into_iter().chain(walked) {
            let key = (
                name.clone(),
                installed.version.clone(),
                installed.checksum.clone(),
            );
            if seen.insert(key) {
                versions.push((name, installed));
            }
        }
    }
    let missing = versions
        .iter()
        .flat_map(|(_, installed)| installed.scripts.values())
        .filter(|checksum| !kept.texts.contains_key(*checksum))
        .cloned()
        .collect();
    kept.texts.extend(target.kept_texts(&missing).await?);
    let packages: Vec<Package> = versions
        .iter()
        .map(|(name, installed)| kept.rebuild(name, installed))
        .collect::<Result<_, _>>()?;
    let declarations: BTreeMap<(&str, &Checksum), _> = packages
        .iter()
        .map(|p| {
            (
                (p.manifest.name.as_str(), &p.checksum),
                &p.manifest.placeholders,
            )
        })
        .collect();
    let mut walked_values: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for (name, checksum, values) in walked_with {
        let declared = declarations.get(&(name.as_str(), &checksum)).copied();
        let package_values = walked_values.entry(name).or_default();
        for (key, value) in values {
            let default = declared
                .and_then(|declared| declared.get(&key))
                .and_then(|declared| declared.default.as_ref());
            if default == Some(&value) {
                package_values.remove(&key);
            } else {
                package_values.insert(key, value);
            }
        }
    }
    Ok(History {
        packages,
        walked_values,
    })
}

/// The installed set that run `run` of `target` recorded (`json`), with the texts of its
/// scripts.
pub async fn recorded_state(
    target: &Target,
    run: &str,
    json: &str,
) -> Result<InstalledState, VerbError> {
    let mut state = parse_record(run, json)?;
    let missing = state.missing_texts();
    state.texts.extend(target.kept_texts(&missing).await?);
    Ok(state)
}

/// The packages the runs after `run` adopted (`runs` oldest first), with the version each
/// was adopted at: what `undo` and `restore` to a point before keep.
pub fn adopted_after(
    runs: &[RunRecord],
    run: &str,
) -> Result<BTreeMap<String, Version>, VerbError> {
    let mut adopted = BTreeMap::new();
    let later = runs.iter().skip_while(|r| r.id != run).skip(1);
    for later in later {
        let Some(after) = &later.installed_after else {
            continue;
        };
        let after = parse_record(&later.id, after)?;
        // An adoption that a later run uninstalled is over: what is there now, dbpm made.
        adopted.retain(|name: &String, _| after.packages.contains_key(name));
        if later.outcome != RunOutcome::Adopted {
            continue;
        }
        let before = parse_record(&later.id, &later.installed_before)?;
        for (name, package) in after.packages {
            if !before.packages.contains_key(&name) {
                adopted.insert(name, package.version);
            }
        }
    }
    Ok(adopted)
}

/// The run `dbpm undo` takes back: the last completed run that changed something. A plan
/// with nothing to do records a run too (a CI job applies the committed plan on every push),
/// and undo looks past it rather than answer "nothing to undo" for ever.
pub fn last_change(runs: &[RunRecord]) -> Result<&RunRecord, VerbError> {
    for run in runs
        .iter()
        .rev()
        .filter(|run| run.outcome == RunOutcome::Completed)
    {
        let Some(after) = &run.installed_after else {
            return Ok(run);
        };
        let before = parse_record(&run.id, &run.installed_before)?;
        let after = parse_record(&run.id, after)?;
        if !changes(&before, &after, &run.id).is_empty() {
            return Ok(run);
        }
    }
    Err(VerbError::NothingToUndo)
}

fn parse_record(run: &str, json: &str) -> Result<InstalledState, VerbError> {
    InstalledState::from_record_json(json).map_err(|err| VerbError::BadHistory {
        run: run.to_owned(),
        reason: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed() -> InstalledState {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/packages");
        let mut state = InstalledState::empty(Platform::Sqlite, "test");
        for dir in ["core/1.1.0", "auth/1.0.0", "billing/1.0.0"] {
            let package = crate::package::load_dir(&root.join(dir))
                .unwrap()
                .for_platform(Platform::Sqlite)
                .unwrap();
            state.record(&package, BTreeMap::new(), None, false, None);
        }
        state
    }

    #[test]
    fn uninstall_of_a_required_package_is_refused_and_cascades_on_request() {
        let state = installed();
        let err = uninstall(&state, &["core".to_owned()], false).unwrap_err();
        assert!(
            matches!(&err, VerbError::StillRequired { package, .. } if package == "core"),
            "{err}"
        );
        let goal = uninstall(&state, &["core".to_owned()], true).unwrap();
        assert!(goal.release.packages.is_empty());
        let goal = uninstall(&state, &["billing".to_owned()], false).unwrap();
        assert_eq!(
            goal.release.packages.keys().collect::<Vec<_>>(),
            ["auth", "core"]
        );
    }

    #[test]
    fn an_archive_for_another_platform_is_refused_by_name() {
        // QA: "package `ff` is not in the repository (asked for by the release)", with no
        // repository and no release in the command.
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/packages");
        let core = crate::package::load_dir(&root.join("core/1.0.0")).unwrap();
        let mysql = core.for_platform(Platform::Mysql).unwrap();
        let archive = || vec![(PathBuf::from("dist/core-1.0.0-mysql.dbpkg"), mysql.clone())];
        let err = install(&[], archive(), Platform::Sqlite, false, BTreeMap::new()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`core-1.0.0-mysql.dbpkg` is built for mysql, and the target is sqlite"
        );
        let help = miette::Diagnostic::help(&err).unwrap().to_string();
        assert!(help.contains("`core-1.0.0-sqlite.dbpkg`"), "{help}");
        let goal = install(&[], archive(), Platform::Mysql, false, BTreeMap::new()).unwrap();
        assert_eq!(goal.release.packages["core"].to_string(), "=1.0.0");
    }

    #[test]
    fn upgrade_asks_for_at_least_the_installed_version_without_preferring_it() {
        let state = installed();
        let goal = upgrade(&state, &["core".to_owned()], BTreeMap::new()).unwrap();
        assert_eq!(goal.release.packages["core"].to_string(), ">=1.1.0");
        assert!(goal.options.latest.contains("core"));
        assert!(upgrade(&state, &["nope".to_owned()], BTreeMap::new()).is_err());
    }
}
