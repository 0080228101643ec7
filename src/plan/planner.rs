//! The planner: from a release, the installed state and a repository index, decide an action
//! per package, then lay out the steps exactly as DESIGN §4 orders them, with every
//! compensation, into a sealed [`Plan`]. Pure: the packages it needs are passed in.
//!
//! Planning is two calls so that the caller can fetch only what is needed in between:
//! [`decide`] (actions and upgrade paths), then [`build`] (steps and plan).

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::ops::Range;
use std::sync::Arc;

use foldhash::{HashMap, HashMapExt as _, HashSet};
use petgraph::graph::{DiGraph, NodeIndex};
use semver::Version;

use super::aside::{self, Aside};
use super::digest::{self, Fields};
use super::model::{
    step_id, step_id_prefix, Action, ActionKind, Inputs, InstalledRef, Plan, PlannedPackage, Role,
    Step, StepHashes, StepPhase, FORMAT_VERSION,
};
use crate::manifest::Requirement;
use crate::package::changes::FileChanges;
use crate::package::checksum::normalize_newlines;
use crate::package::placeholder;
use crate::package::{Checksum, Origin, Package, Phase, Script};
use crate::platform::Platform;
use crate::repository::{Index, IndexEntry};
use crate::resolve::{self, Direction, Release, Request, UpgradePath};
use crate::state::{InstalledState, StateError};

/// How to plan, beyond the release.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Packages to reinstall (ROLLBACK and INSTALL again), also to repair drift.
    pub reinstall: BTreeSet<String>,
    /// Uninstall installed packages the release does not want.
    pub prune: bool,
    /// Re-create the code of installed dependents of every package whose version changes.
    pub reinstall_dependents: bool,
    /// Placeholder values given on the command line; they win over the release's.
    pub set: BTreeMap<String, String>,
    /// The informational target label.
    pub target: String,
    /// Packages to move to their highest allowed version: their installed version is not
    /// preferred (`dbpm upgrade`).
    pub latest: BTreeSet<String>,
    /// Placeholder values by package, winning over the release's (not over `--set`): what
    /// `undo` and `restore` go back to, each package's own.
    pub package_values: BTreeMap<String, BTreeMap<String, String>>,
    /// Placeholder values by package that the target's runs recorded for the versions they
    /// walked through: a package walked down again (an uninstall, a downgrade) gets them
    /// where nothing else gives a value but its default, so a name that only an older
    /// version declares keeps the value it ran with. (`undo` and `restore` give them as
    /// `package_values`, since they walk up too.)
    pub walked_values: BTreeMap<String, BTreeMap<String, String>>,
    /// The command whose request the release stands for (`` `dbpm install` ``), when it is
    /// not a release file: the reasons of the plan speak of the request, not of a release.
    pub requested_by: Option<String>,
}

/// What happens to one package, before steps are laid out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The package.
    pub name: String,
    /// The action.
    pub action: ActionKind,
    /// The installed version.
    pub from: Option<Version>,
    /// The version after the plan.
    pub to: Option<Version>,
    /// The edges walked.
    pub path: UpgradePath,
    /// Why.
    pub reason: String,
}

/// Everything [`decide`] worked out.
#[derive(Debug, Clone)]
pub struct Decisions {
    /// One per package installed or wanted, by name.
    pub packages: BTreeMap<String, Decision>,
    /// The packages after the plan, prerequisites first.
    pub order: Vec<String>,
    /// The index the decisions were made on: the repository's, with the installed versions
    /// that it lacks added from the target's own copy.
    pub index: Index,
    /// The installed packages that the repository does not hold as they are installed,
    /// rebuilt from the target's own copy of their scripts. An installed version the
    /// repository holds with the same checksum is described by its index entry, and rebuilt
    /// only if the plan changes it.
    pub rebuilt: BTreeMap<String, Package>,
}

impl Decisions {
    /// The prerequisites of an installed package, as installed.
    fn installed_prerequisites(
        &self,
        name: &str,
        installed: &InstalledState,
    ) -> Option<&BTreeMap<String, Requirement>> {
        installed_prerequisites(&self.rebuilt, &self.index, installed, name)
    }

    /// The package versions whose scripts the plan needs from the repository: those not
    /// installed on the target (installed ones come from the target's own copy), and the
    /// published build of a drifted package that is reinstalled, to re-create its code as
    /// published.
    pub fn needed(&self, installed: &InstalledState) -> BTreeSet<(String, Version)> {
        let mut needed = BTreeSet::new();
        for decision in self.packages.values() {
            if decision.action == ActionKind::Unchanged {
                continue;
            }
            if let Some(to) = &decision.to {
                needed.insert((decision.name.clone(), to.clone()));
            }
            for step in &decision.path.steps {
                let version = match step.direction {
                    Direction::Up => step.to.version(),
                    Direction::Down => step.from.version(),
                };
                if let Some(v) = version {
                    needed.insert((decision.name.clone(), v.clone()));
                }
            }
        }
        needed.retain(|(name, version)| {
            installed.packages.get(name).is_none_or(|p| {
                &p.version != version
                    || self
                        .index
                        .get(name, version, installed.platform)
                        .is_some_and(|published| published.checksum != p.checksum)
            })
        });
        needed
    }
}

/// Why a plan cannot be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum PlanningError {
    /// The release cannot be resolved.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Resolve(#[from] resolve::ResolveError),
    /// No way between two versions.
    #[error("cannot plan `{package}`")]
    #[diagnostic(code(dbpm::plan::no_path), help("{}", path_help(source)))]
    Path {
        /// The package.
        package: String,
        /// Why.
        #[source]
        source: resolve::PathError,
    },
    /// The release is for another platform.
    #[error("the release is for `{release}`, the target is `{target}`")]
    #[diagnostic(
        code(dbpm::plan::platform),
        help("plan against a {release} target, or remove `platform` from the release")
    )]
    Platform {
        /// The release's platform.
        release: Platform,
        /// The target's.
        target: Platform,
    },
    /// Same version, other content.
    #[error("`{package}@{version}` is installed with checksum {installed}, but the repository's {version} is {repository}{}", FileChanges::suffix(files.as_ref()))]
    #[diagnostic(
        code(dbpm::plan::drift),
        help("the installed copy differs from the published one (drift); `--reinstall {package}` re-creates its code from the repository")
    )]
    Drift {
        /// The package.
        package: String,
        /// The version.
        version: Version,
        /// The installed checksum.
        installed: Checksum,
        /// The repository's.
        repository: Checksum,
        /// The files that differ, from the installed copy to the repository's: filled in
        /// where the repository's copy can be read (`ops::plan`); the planner sees only the
        /// index.
        files: Option<FileChanges>,
    },
    /// A reinstall cannot repair drift in the data model: it runs only ROLLBACK and INSTALL.
    #[error("`--reinstall {package}` cannot repair the drift of {package}@{version}: its data model differs from the installed copy's ({files}), and a reinstall runs only ROLLBACK and INSTALL")]
    #[diagnostic(
        code(dbpm::plan::data_model_drift),
        help("the target's tables were made by the installed UPGRADE scripts, and the target would record the published ones as run; publish the installed scripts again as this version's (the repository is append-only: under a new version), or a new version whose UPGRADE script takes the target to the published data model, and upgrade")
    )]
    DataModelDrift {
        /// The package.
        package: String,
        /// The version.
        version: Version,
        /// The data model scripts that differ, from the installed copy to the repository's.
        files: FileChanges,
    },
    /// A reinstall with a placeholder value other than the one the data model was made with.
    #[error("`{package}` was installed with `{name}` = `{was}`, which its data model scripts used (`{}`); a reinstall re-creates its code only and cannot give them `{value}`", .scripts.join("`, `"))]
    #[diagnostic(
        code(dbpm::plan::data_model_value),
        help("keep the installed value (`--set {name}={was}`); or uninstall the package and install it with the new value (its DOWNGRADE scripts drop what its tables hold); or publish a version whose UPGRADE script moves the data model to the new value")
    )]
    DataModelValue {
        /// The package version.
        package: String,
        /// The placeholder.
        name: String,
        /// The value the data model scripts ran with.
        was: String,
        /// The value asked for.
        value: String,
        /// The data model scripts that use it.
        scripts: Vec<String>,
    },
    /// An uninstall of something still required.
    #[error("cannot uninstall `{package}`: {} still require it", .by.join(", "))]
    #[diagnostic(
        code(dbpm::plan::required),
        help("uninstall those too, or keep `{package}` in the release")
    )]
    StillRequired {
        /// The package.
        package: String,
        /// Who requires it.
        by: Vec<String>,
    },
    /// `--reinstall` of something not installed.
    #[error("`{0}` is not installed, so it cannot be reinstalled")]
    #[diagnostic(code(dbpm::plan::not_installed))]
    NotInstalled(String),
    /// A placeholder without a value.
    #[error("`{path}` of `{package}` uses {}, which has no value", .names.iter().map(|n| format!("`${{{n}}}`")).collect::<Vec<_>>().join(", "))]
    #[diagnostic(code(dbpm::plan::undefined_placeholder), help("give a value in the release file ([placeholders] {name} = \"...\") or with `--set {name}=...`", name = .names.first().map_or("", String::as_str)))]
    UndefinedPlaceholder {
        /// The package.
        package: String,
        /// The script.
        path: String,
        /// The placeholders without a value.
        names: Vec<String>,
    },
    /// A value for a placeholder that no package of the release declares.
    #[error("{given} gives a value for `${{{name}}}`, which no package of the release declares")]
    #[diagnostic(code(dbpm::plan::unknown_placeholder), help("{help}"))]
    UnknownPlaceholder {
        /// The placeholder.
        name: String,
        /// Where the value came from: `--set` or the release file.
        given: &'static str,
        /// A likely name, or what to do.
        help: String,
    },
    /// A package version the plan needs was not passed in.
    #[error("`{0}@{1}` is needed but was not fetched")]
    #[diagnostic(code(dbpm::plan::missing_package))]
    MissingPackage(String, Version),
    /// The target's own copy of an installed package is unusable.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] StateError),
    /// The step graph has a cycle: a bug in dbpm.
    #[error("the planned steps form a cycle; this is a bug in dbpm")]
    #[diagnostic(
        code(dbpm::plan::cycle),
        help("please report it with the release and state files")
    )]
    Cycle,
}

/// What to do when no path leads between two versions: the path's own advice, and, unless an
/// irreversible script blocks the way (which no repository helps), where more versions are.
fn path_help(source: &resolve::PathError) -> String {
    let own = miette::Diagnostic::help(source)
        .map(|help| help.to_string())
        .unwrap_or_default();
    match source {
        resolve::PathError::Blocked { .. } => own,
        _ => format!("{own}; a target's runs keep the versions they installed or walked through (a state file has only the installed ones)"),
    }
}

/// The fewest packages whose paths are worth a thread of their own.
const PATHS_PER_THREAD: usize = 256;

/// The fewest changing packages whose chains are worth a thread of their own.
const CHAINS_PER_THREAD: usize = 64;

/// Decides the action and path of every package. The versions are chosen from `repository`
/// (and the installed ones); `kept` holds versions the target keeps from its runs, used only
/// where the repository cannot do without them: when it cannot satisfy the release (then the
/// resolution runs again with them, and may choose any of them), and for a path it has no way
/// for.
pub fn decide(
    release: &Release,
    installed: &InstalledState,
    repository: &Index,
    kept: &Index,
    options: &Options,
) -> Result<Decisions, PlanningError> {
    let platform = installed.platform;
    if let Some(wanted) = release.platform {
        if wanted != platform {
            return Err(PlanningError::Platform {
                release: wanted,
                target: platform,
            });
        }
    }
    for name in &options.reinstall {
        if !installed.packages.contains_key(name) {
            return Err(PlanningError::NotInstalled(name.clone()));
        }
    }
    // The repository's entries first; installed versions it lacks, or holds with other
    // content, are rebuilt from the target's own copy.
    let mut index = repository.clone();
    let mut rebuilt = BTreeMap::new();
    for (name, package) in &installed.packages {
        let published = repository
            .get(name, &package.version, platform)
            .is_some_and(|entry| entry.checksum == package.checksum);
        if !published {
            let own = installed.rebuild(name, package)?;
            index.insert_if_absent(IndexEntry::of(&own));
            rebuilt.insert(name.clone(), own);
        }
    }

    let mut request = Request::new(platform, release.packages.clone());
    for (name, package) in &installed.packages {
        if !options.latest.contains(name) {
            request
                .preferred
                .insert(name.clone(), package.version.clone());
        }
        // Kept, at its version while that satisfies every requirement (it is preferred),
        // else at a higher one: never moved down, which is for a release to ask.
        if !release.packages.contains_key(name) && !options.prune {
            let kept = Requirement::at_least(&package.version);
            request.wanted.insert(name.clone(), kept.clone());
            request.extra.entry(name.clone()).or_default().push((
                kept,
                format!(
                    "installed `{name}@{}`, kept (at that version or higher) because `--prune` is off",
                    package.version
                ),
            ));
        }
    }
    // What the target kept is used only where the repository cannot do without it, for the
    // resolution as for each path, so a plan from the target agrees with one from its state
    // file whenever that one succeeds. When both fail, the repository's reason is given.
    let mut with_kept = index.clone();
    with_kept.fill_from(kept);
    let resolution = match resolve::resolve(&index, &request) {
        Ok(resolution) => resolution,
        Err(err) if !kept.is_empty() => {
            resolve::resolve(&with_kept, &request).map_err(|_| PlanningError::from(err))?
        }
        Err(err) => return Err(err.into()),
    };
    let find_path = |name: &str, from: &Origin, to: &Origin| {
        resolve::path(&index, name, platform, from, to)
            .or_else(|err| {
                if kept.is_empty() {
                    return Err(err);
                }
                // The repository's reason, unless what the target kept shows the way blocked
                // by an irreversible script: that is the reason, and no repository helps.
                resolve::path(&with_kept, name, platform, from, to).map_err(|kept_err| {
                    match kept_err {
                        blocked @ resolve::PathError::Blocked { .. } => blocked,
                        _ => err,
                    }
                })
            })
            .map_err(|source| PlanningError::Path {
                package: name.to_owned(),
                source,
            })
    };

    // The paths of the chosen versions, found side by side (each needs only the index).
    let ends: Vec<(&String, Origin, Origin)> = (resolution.packages.iter())
        .map(|(name, resolved)| {
            let from = installed.packages.get(name).map(|p| &p.version);
            let to = Origin::Version(resolved.version.clone());
            (name, Origin::of(from), to)
        })
        .collect();
    let paths = aside::map_split(&ends, PATHS_PER_THREAD, |(name, from, to)| {
        find_path(name, from, to)
    });
    let mut decisions = BTreeMap::new();
    for ((name, resolved), path) in resolution.packages.iter().zip(paths) {
        let installed_package = installed.packages.get(name);
        let why = if release.packages.contains_key(name) {
            match &options.requested_by {
                Some(command) => format!("{command} asks for {}", release.packages[name]),
                None => format!("the release wants {}", release.packages[name]),
            }
        } else if installed_package.is_some_and(|p| p.version == resolved.version) && !options.prune
        {
            match &options.requested_by {
                Some(command) => format!("installed, and {command} keeps it"),
                None => "installed and not in the release: kept".to_owned(),
            }
        } else {
            let by: Vec<&str> = resolved.required_by.iter().map(String::as_str).collect();
            format!("required by {}", by.join(", "))
        };
        let (action, reason) = match installed_package {
            None => (ActionKind::Install, why),
            Some(current) if current.version == resolved.version => {
                // A value given for a package the release names, other than the one it was
                // installed with: its code is re-created with it (a value its data model used
                // is refused at build).
                let changed: Vec<String> = if release.packages.contains_key(name) {
                    current
                        .placeholders
                        .iter()
                        .filter_map(|(key, old)| {
                            let given = options.set.get(key).or(release.placeholders.get(key))?;
                            (given != old).then(|| format!("`{key}` from `{old}` to `{given}`"))
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                if options.reinstall.contains(name) {
                    (ActionKind::Reinstall, "reinstall asked for".to_owned())
                } else if current.checksum != resolved.checksum {
                    return Err(PlanningError::Drift {
                        package: name.clone(),
                        version: resolved.version.clone(),
                        installed: current.checksum.clone(),
                        repository: resolved.checksum.clone(),
                        files: None,
                    });
                } else if !changed.is_empty() {
                    (
                        ActionKind::Reinstall,
                        format!(
                            "{} is installed; its placeholder values change: {}",
                            resolved.version,
                            changed.join(", ")
                        ),
                    )
                } else {
                    (
                        ActionKind::Unchanged,
                        format!("{} is installed; {why}", resolved.version),
                    )
                }
            }
            Some(current) if current.version < resolved.version => (ActionKind::Upgrade, why),
            Some(_) => (ActionKind::Downgrade, why),
        };
        let from = installed_package.map(|p| p.version.clone());
        let path = path?;
        decisions.insert(
            name.clone(),
            Decision {
                name: name.clone(),
                action,
                from,
                to: Some(resolved.version.clone()),
                path,
                reason,
            },
        );
    }

    // Installed packages the resolution dropped are uninstalled (only with --prune).
    for (name, package) in &installed.packages {
        if resolution.packages.contains_key(name) {
            continue;
        }
        let from = package.version.clone();
        let path = find_path(name, &Origin::Version(from.clone()), &Origin::Nothing)?;
        decisions.insert(
            name.clone(),
            Decision {
                name: name.clone(),
                action: ActionKind::Uninstall,
                from: Some(from),
                to: None,
                path,
                reason: match &options.requested_by {
                    Some(command) => format!("{command} removes it"),
                    None => "installed, not in the release, and `--prune` is on".to_owned(),
                },
            },
        );
    }

    // Dependents at any depth: a reinstalled dependent's code is dropped and re-created too,
    // so what is built on it must be as well.
    if options.reinstall_dependents {
        let mut changed: BTreeSet<String> = decisions
            .values()
            .filter(|d| {
                matches!(
                    d.action,
                    ActionKind::Upgrade | ActionKind::Downgrade | ActionKind::Reinstall
                )
            })
            .map(|d| d.name.clone())
            .collect();
        loop {
            let mut reinstalled = Vec::new();
            for decision in decisions.values_mut() {
                if decision.action != ActionKind::Unchanged {
                    continue;
                }
                let Some(prerequisites) =
                    installed_prerequisites(&rebuilt, &index, installed, &decision.name)
                else {
                    continue;
                };
                let needs: Vec<String> = prerequisites
                    .keys()
                    .filter(|p| changed.contains(*p))
                    .map(|n| format!("`{n}`"))
                    .collect();
                if !needs.is_empty() {
                    decision.action = ActionKind::Reinstall;
                    decision.reason = format!(
                        "its code is re-created on top of changed {}",
                        needs.join(", ")
                    );
                    reinstalled.push(decision.name.clone());
                }
            }
            if reinstalled.is_empty() {
                break;
            }
            changed.extend(reinstalled);
        }
    }

    Ok(Decisions {
        packages: decisions,
        order: resolution.order,
        index: with_kept,
        rebuilt,
    })
}

/// The prerequisites of an installed package: from its rebuilt copy, or from the index entry
/// that has its checksum.
fn installed_prerequisites<'a>(
    rebuilt: &'a BTreeMap<String, Package>,
    index: &'a Index,
    installed: &InstalledState,
    name: &str,
) -> Option<&'a BTreeMap<String, Requirement>> {
    match rebuilt.get(name) {
        Some(package) => Some(&package.manifest.prerequisites),
        None => {
            let package = installed.packages.get(name)?;
            index
                .get(name, &package.version, installed.platform)
                .map(|entry| &entry.prerequisites)
        }
    }
}

/// One package's steps before ids and dependencies across packages: groups that run in
/// order, the steps of a group side by side.
struct Chain<'a> {
    /// The package, shared by every step of the chain.
    name: Arc<str>,
    groups: Vec<Vec<Draft<'a>>>,
    /// How many leading groups come before the new version's data and code (PREINSTALL and
    /// ROLLBACK, or all of an uninstall).
    removal_groups: usize,
    /// Whether the old version's code is removed (ROLLBACK groups, or an uninstall): then
    /// prerequisites change only after that removal. Without it (a fresh install), the whole
    /// change, PREINSTALL included, waits for the prerequisites.
    removes: bool,
}

#[derive(Clone)]
struct Draft<'a> {
    name: Arc<str>,
    package: &'a Package,
    script: &'a Script,
    phase: StepPhase,
    values: &'a BTreeMap<String, String>,
    /// The start of its id ([`step_id_prefix`]), shared by its phase's steps.
    prefix: Arc<str>,
    /// Its compensating twin, if it has one.
    twin: Option<Twin<'a>>,
}

/// The script that compensates a forward one: INSTALL ↔ ROLLBACK, UPGRADE ↔ DOWNGRADE of the
/// same edge, in the same package version.
#[derive(Clone)]
struct Twin<'a> {
    script: &'a Script,
    phase: StepPhase,
    prefix: Arc<str>,
}

/// Lays out the steps of the decisions into a sealed plan. `packages` holds every version
/// [`Decisions::needed`] named; installed versions come from `installed`.
pub fn build(
    release: &Release,
    installed: &InstalledState,
    decisions: &Decisions,
    packages: &BTreeMap<(String, Version), Package>,
    options: &Options,
) -> Result<Plan, PlanningError> {
    let platform = installed.platform;
    // The installed versions of the packages that change come from the target's own copy.
    let mut own: BTreeMap<&str, Package> = BTreeMap::new();
    for decision in decisions.packages.values() {
        if decision.action == ActionKind::Unchanged
            || decisions.rebuilt.contains_key(&decision.name)
        {
            continue;
        }
        if let Some(package) = installed.packages.get(&decision.name) {
            own.insert(&decision.name, installed.rebuild(&decision.name, package)?);
        }
    }
    // The scripts of a version the target has: its own copy, which is what ran there.
    let lookup = |name: &str, version: &Version| -> Result<&Package, PlanningError> {
        if let Some(p) = decisions
            .rebuilt
            .get(name)
            .or_else(|| own.get(name))
            .filter(|p| &p.manifest.version == version)
        {
            return Ok(p);
        }
        packages
            .get(&(name.to_owned(), version.clone()))
            .ok_or_else(|| PlanningError::MissingPackage(name.to_owned(), version.clone()))
    };
    // The version a package ends at: the published build where one was fetched (a reinstall
    // repairs drift with it), else the target's copy.
    let lookup_target = |name: &str, version: &Version| -> Result<&Package, PlanningError> {
        match packages.get(&(name.to_owned(), version.clone())) {
            Some(package) => Ok(package),
            None => lookup(name, version),
        }
    };

    // A reinstall repairs drift in the code (ROLLBACK and INSTALL), never in the data model:
    // the target would record UPGRADE scripts as run that never ran there.
    for decision in decisions.packages.values() {
        let (ActionKind::Reinstall, Some(version), Some(state)) = (
            decision.action,
            decision.to.as_ref(),
            installed.packages.get(&decision.name),
        ) else {
            continue;
        };
        let published = lookup_target(&decision.name, version)?;
        if published.checksum == state.checksum {
            continue;
        }
        let scripts = published
            .scripts
            .iter()
            .map(|script| (script.path.to_string(), script.checksum.clone()))
            .collect();
        let mut files = FileChanges::between(&state.scripts, &scripts);
        let data_model = |path: &String| path.starts_with("UPGRADE");
        files.changed.retain(data_model);
        files.added.retain(data_model);
        files.removed.retain(data_model);
        if !files.is_empty() {
            return Err(PlanningError::DataModelDrift {
                package: decision.name.clone(),
                version: version.clone(),
                files,
            });
        }
    }

    // A value whose name no package declares would go unused while the default (or nothing)
    // wins: a misspelling, refused.
    let mut declared: BTreeSet<&str> = BTreeSet::new();
    for decision in decisions.packages.values() {
        let versions = decision
            .to
            .iter()
            .chain(decision.path.steps.iter().filter_map(|s| s.to.version()));
        for version in versions {
            if let Ok(package) = lookup_target(&decision.name, version) {
                declared.extend(package.manifest.placeholders.keys().map(String::as_str));
            }
        }
        if let Some(state) = installed.packages.get(&decision.name) {
            declared.extend(state.placeholders.keys().map(String::as_str));
        }
    }
    let given = (options.set.keys().map(|name| (name, "`--set`"))).chain(
        release
            .placeholders
            .keys()
            .map(|name| (name, "the release")),
    );
    for (name, given) in given {
        if !declared.contains(name.as_str()) {
            let help = match crate::diagnostic::closest(name, declared.iter().copied()) {
                Some(known) => format!("did you mean `{known}`?"),
                None => "remove it, or declare it ([placeholders]) in the manifest of the package whose scripts use it".to_owned(),
            };
            return Err(PlanningError::UnknownPlaceholder {
                name: name.clone(),
                given,
                help,
            });
        }
    }

    // Placeholder values: the target version's come from --set, the release, the values the
    // installed version was installed with (a value given once is kept, not silently
    // replaced by the default on the next upgrade), then the defaults; the installed
    // version's scripts run with the values it was installed with.
    let mut current_values: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut installed_values: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for decision in decisions.packages.values() {
        if decision.action == ActionKind::Unchanged {
            continue;
        }
        let mut values = BTreeMap::new();
        // What was given for the installed version: its recorded values but for those that
        // are its own defaults (a new version's default replaces an old default).
        let recorded: BTreeMap<&str, &str> = installed
            .packages
            .get(&decision.name)
            .map(|state| {
                let defaults = lookup(&decision.name, &state.version)
                    .ok()
                    .map(|package| &package.manifest.placeholders);
                state
                    .placeholders
                    .iter()
                    .filter(|(name, value)| {
                        defaults
                            .and_then(|declared| declared.get(*name))
                            .and_then(|declared| declared.default.as_ref())
                            != Some(*value)
                    })
                    .map(|(name, value)| (name.as_str(), value.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        // Walking down runs versions that ran on the target: with the values they ran with.
        // (Walking up, a fresh install, gets the defaults: a value given once to an
        // uninstalled package is not given again.)
        let walked = options.walked_values.get(&decision.name).filter(|_| {
            decision
                .path
                .steps
                .iter()
                .any(|step| step.direction == Direction::Down)
        });
        for version in decision
            .to
            .iter()
            .chain(decision.path.steps.iter().filter_map(|s| s.to.version()))
        {
            let package = lookup_target(&decision.name, version)?;
            for (key, declared) in &package.manifest.placeholders {
                let value = options
                    .set
                    .get(key)
                    .or_else(|| {
                        options
                            .package_values
                            .get(&decision.name)
                            .and_then(|values| values.get(key))
                    })
                    .or_else(|| release.placeholders.get(key))
                    .map(String::as_str)
                    .or_else(|| recorded.get(key.as_str()).copied())
                    .or_else(|| {
                        walked
                            .and_then(|values| values.get(key))
                            .map(String::as_str)
                    })
                    .or(declared.default.as_deref());
                if let Some(value) = value {
                    values.insert(key.clone(), value.to_owned());
                }
            }
        }
        let mut old = values.clone();
        if let Some(state) = installed.packages.get(&decision.name) {
            old.extend(state.placeholders.clone());
            if decision.action == ActionKind::Reinstall {
                refuse_data_model_values(
                    &decision.name,
                    state,
                    lookup(&decision.name, &state.version)?,
                    &values,
                )?;
            }
        }
        current_values.insert(decision.name.clone(), values);
        installed_values.insert(decision.name.clone(), old);
    }

    // Chains, in the order the resolution gives (prerequisites first), uninstalls last.
    let ordered: BTreeSet<&String> = decisions.order.iter().collect();
    let mut names: Vec<&String> = decisions
        .order
        .iter()
        .filter(|n| decisions.packages.contains_key(*n))
        .collect();
    names.extend(decisions.packages.keys().filter(|n| !ordered.contains(n)));
    names.retain(|name| decisions.packages[*name].action != ActionKind::Unchanged);
    // Each package's chain needs only what was decided: they are laid out side by side.
    let chain_of = |name: &&String| {
        let name: &String = name;
        let decision = &decisions.packages[name];
        let old = decision
            .from
            .as_ref()
            .map(|v| lookup(name, v))
            .transpose()?;
        let new = decision
            .to
            .as_ref()
            .map(|v| lookup_target(name, v))
            .transpose()?;
        let current = &current_values[name];
        let previous = &installed_values[name];
        let mut chain = Chain {
            name: name.as_str().into(),
            groups: Vec::new(),
            removal_groups: 0,
            removes: false,
        };
        if let Some(new) = new {
            push_groups(
                &mut chain,
                new,
                &Phase::Preinstall,
                StepPhase::Preinstall,
                false,
                current,
            );
        }
        let preinstall_groups = chain.groups.len();
        if let Some(old) = old {
            push_groups(
                &mut chain,
                old,
                &Phase::Rollback,
                StepPhase::Rollback,
                true,
                previous,
            );
        }
        chain.removes = chain.groups.len() > preinstall_groups;
        chain.removal_groups = chain.groups.len();
        for step in &decision.path.steps {
            // An edge belongs to its newer end: the version reached going up, the version
            // left going down (whose DOWNGRADE twins run, descending).
            let (owner, phase, step_phase, descending) = match step.direction {
                Direction::Up => (
                    &step.to,
                    Phase::Upgrade(step.edge_origin.clone()),
                    StepPhase::Upgrade,
                    false,
                ),
                Direction::Down => (
                    &step.from,
                    Phase::Downgrade(step.edge_origin.clone()),
                    StepPhase::Downgrade,
                    true,
                ),
            };
            let version = owner.version().ok_or_else(|| {
                PlanningError::MissingPackage(name.clone(), Version::new(0, 0, 0))
            })?;
            let package = lookup(name, version)?;
            let values = if Some(version) == decision.from.as_ref() {
                previous
            } else {
                current
            };
            push_groups(&mut chain, package, &phase, step_phase, descending, values);
        }
        if let Some(new) = new {
            push_groups(
                &mut chain,
                new,
                &Phase::Install,
                StepPhase::Install,
                false,
                current,
            );
            push_groups(
                &mut chain,
                new,
                &Phase::Verify,
                StepPhase::Verify,
                false,
                current,
            );
            push_groups(
                &mut chain,
                new,
                &Phase::Postinstall,
                StepPhase::Postinstall,
                false,
                current,
            );
        } else {
            chain.removal_groups = chain.groups.len();
            chain.removes = true;
        }
        Ok((chain, old, new))
    };
    let chains: Vec<(Chain<'_>, Option<&Package>, Option<&Package>)> =
        aside::map_split(&names, CHAINS_PER_THREAD, chain_of)
            .into_iter()
            .collect::<Result<_, PlanningError>>()?;

    // A node of the graph is the forward draft of the same index; the steps are made once
    // the order is known, each straight into its place (a step is a few hundred bytes).
    let drafts: Vec<&Draft<'_>> = chains
        .iter()
        .flat_map(|(chain, _, _)| chain.groups.iter().flatten())
        .collect();
    // Most groups hold one step, so a step has about one edge from the group before it.
    let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(drafts.len(), drafts.len());
    // The nodes of each group of each chain, for the edges across packages.
    let mut chain_groups: BTreeMap<&str, Vec<Range<usize>>> = BTreeMap::new();
    for (chain, _, _) in &chains {
        let mut groups: Vec<Range<usize>> = Vec::with_capacity(chain.groups.len());
        for group in &chain.groups {
            let first = graph.node_count();
            for _ in group {
                graph.add_node(());
            }
            let nodes = first..graph.node_count();
            if let Some(previous) = groups.last() {
                link(&mut graph, previous, &nodes);
            }
            groups.push(nodes);
        }
        chain_groups.insert(&chain.name, groups);
    }

    // Across packages: a dependent's removal runs before its prerequisite changes, and its
    // forward steps wait for the prerequisite's whole change. A changing package without
    // steps of its own (a meta-package) orders nothing itself: its dependents are ordered
    // against what it requires, at any depth.
    let requires_of: HashMap<&str, BTreeSet<&String>> = chains
        .iter()
        .map(|(chain, old, new)| {
            let requires = old
                .iter()
                .chain(new.iter())
                .flat_map(|p| p.manifest.prerequisites.keys())
                .collect();
            (&*chain.name, requires)
        })
        .collect();
    for (dependent, _, _) in &chains {
        let mut requires: BTreeSet<&String> = BTreeSet::new();
        let mut seen: BTreeSet<&String> = BTreeSet::new();
        let mut next: Vec<&String> = requires_of[&*dependent.name].iter().copied().collect();
        while let Some(prerequisite) = next.pop() {
            if !seen.insert(prerequisite) {
                continue;
            }
            match chain_groups.get(prerequisite.as_str()) {
                Some(groups) if groups.is_empty() => {
                    next.extend(requires_of[prerequisite.as_str()].iter().copied());
                }
                _ => {
                    requires.insert(prerequisite);
                }
            }
        }
        for prerequisite in requires {
            let Some(prerequisite_groups) = chain_groups.get(prerequisite.as_str()) else {
                continue;
            };
            let dependent_groups = &chain_groups[&*dependent.name];
            if dependent.removes {
                if let (Some(last_removal), Some(first)) = (
                    // A package without steps has no removal groups to order.
                    (dependent.removal_groups.checked_sub(1))
                        .and_then(|last| dependent_groups.get(last)),
                    prerequisite_groups.first(),
                ) {
                    link(&mut graph, last_removal, first);
                }
            }
            let prerequisite_removed = decisions
                .packages
                .get(prerequisite.as_str())
                .is_some_and(|d| d.to.is_none());
            if prerequisite_removed {
                continue;
            }
            let forward_start = if dependent.removes {
                dependent.removal_groups
            } else {
                0
            };
            if let (Some(first_forward), Some(last)) = (
                dependent_groups.get(forward_start),
                prerequisite_groups.last(),
            ) {
                link(&mut graph, last, first_forward);
            }
        }
    }
    // Forward steps in a stable topological order (the lowest ready insertion index first);
    // a cycle keeps its steps out of the order.
    let order = stable_topological_order(&graph);
    if order.len() != graph.node_count() {
        return Err(PlanningError::Cycle);
    }
    // Each of these versions owns an edge of its path, which its chain looked up already: it
    // cannot be missing here.
    let walked = walked_versions(decisions, &chains, lookup)?;
    // The records hold every text of the versions the target ends with and of those it walks
    // through: a step of one adds only a text its values made.
    let holds_texts: HashSet<usize> = (chains.iter())
        .filter_map(|(_, _, new)| *new)
        .chain(walked.iter().flatten().copied())
        .map(|package| std::ptr::from_ref::<Package>(package).addr())
        .collect();
    // The id of every node's step and of its twin, made once and shared by every step that
    // names them.
    let ids: Vec<Ids> = drafts
        .iter()
        .map(|draft| Ids {
            own: step_id(&draft.prefix, &draft.script.stem, Role::Forward),
            twin: (draft.twin.as_ref())
                .map(|twin| step_id(&twin.prefix, &twin.script.stem, Role::Compensate)),
        })
        .collect();
    // The forward steps and their compensations are made side by side, each list hashed by
    // the thread that made it, while this one makes the records.
    let layout = Layout {
        graph: &graph,
        order: &order,
        drafts: &drafts,
        ids: &ids,
        holds_texts: &holds_texts,
        platform,
    };
    let (forward, compensations, records) = std::thread::scope(|scope| {
        let forward = Aside::spawn(scope, || forward_steps(&layout));
        let compensations = Aside::spawn(scope, || compensations_of(&layout));
        let records = records_of(
            release,
            installed,
            decisions,
            &chains,
            &walked,
            &current_values,
            lookup,
        );
        (forward.join(), compensations.join(), records)
    });
    let forward = forward?;
    let compensations = compensations?;
    let mut records = records?;
    // Every text under a checksum is the same: which list brings it first does not matter.
    for (checksum, text) in forward.texts.into_iter().chain(compensations.texts) {
        records.scripts.entry(checksum).or_insert(text);
    }
    // Its keys are unique, so an unstable sort does; the map then takes them in one pass.
    let mut scripts: Vec<(Checksum, Arc<str>)> = records.scripts.into_iter().collect();
    scripts.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    debug_assert!(
        (forward.steps.iter().chain(&compensations.steps)).all(|step| scripts
            .binary_search_by(|(c, _)| c.cmp(&step.checksum))
            .is_ok()),
        "the plan holds the text of every step"
    );

    Ok(Plan {
        format_version: FORMAT_VERSION,
        hash: String::new(),
        platform,
        target: options.target.clone(),
        inputs: records.inputs,
        placeholders: records.placeholders,
        actions: records.actions,
        packages: records.packages,
        walked: records.walked,
        scripts: scripts.into_iter().collect(),
        steps: forward.steps,
        compensations: compensations.steps,
    }
    .seal_with(StepHashes {
        steps: forward.hash,
        compensations: compensations.hash,
    }))
}

/// The id of a node's forward step, and of its compensating twin if it has one.
struct Ids {
    own: Arc<str>,
    twin: Option<Arc<str>>,
}

/// What the forward steps and their compensations are made from: the drafts, a node of the
/// graph each (its index), in a stable topological `order`, with their ids.
struct Layout<'l, 'a> {
    graph: &'l DiGraph<(), ()>,
    order: &'l [NodeIndex],
    drafts: &'l [&'l Draft<'a>],
    ids: &'l [Ids],
    /// The packages (by address) whose every text the records hold.
    holds_texts: &'l HashSet<usize>,
    platform: Platform,
}

/// A list of steps, its hash, and the texts its steps run that the records lack, by checksum.
struct Made {
    steps: Vec<Step>,
    hash: [u8; 32],
    texts: HashMap<Checksum, Arc<str>>,
}

impl Made {
    /// Hashes the steps made.
    fn hashed(steps: Vec<Step>, texts: HashMap<Checksum, Arc<str>>) -> Made {
        Made {
            hash: digest::sha256(&steps, Fields::Positional),
            steps,
            texts,
        }
    }
}

/// The forward steps, in the layout's order, each with its dependencies and twin named;
/// hashed, with the texts they run that the records lack.
fn forward_steps(layout: &Layout<'_, '_>) -> Result<Made, PlanningError> {
    let mut texts = HashMap::new();
    let mut steps = Vec::with_capacity(layout.order.len());
    for node in layout.order {
        let ids = &layout.ids[node.index()];
        let draft = layout.drafts[node.index()];
        let mut step = make_step(
            draft,
            Arc::clone(&ids.own),
            Role::Forward,
            layout,
            &mut texts,
        )?;
        step.compensated_by = ids.twin.clone();
        let mut depends: Vec<Arc<str>> = (layout.graph)
            .neighbors_directed(*node, petgraph::Direction::Incoming)
            .map(|before| Arc::clone(&layout.ids[before.index()].own))
            .collect();
        depends.sort_unstable();
        depends.dedup();
        step.depends_on = depends;
        steps.push(step);
    }
    Ok(Made::hashed(steps, texts))
}

/// The compensations of the forward steps: the twin of every compensable one, in the reverse
/// of the layout's order; each waits for those of the nearest compensable steps that depend
/// on what it undoes, which come before it. Hashed, with the texts they run that the records
/// lack.
fn compensations_of(layout: &Layout<'_, '_>) -> Result<Made, PlanningError> {
    let compensable: Vec<bool> = layout.ids.iter().map(|ids| ids.twin.is_some()).collect();
    let mut search = Search::new(layout.graph.node_count());
    let mut texts = HashMap::new();
    let mut compensations: Vec<Step> = Vec::with_capacity(layout.order.len());
    for node in layout.order.iter().rev() {
        let Some(twin) = twin_of(layout.drafts[node.index()]) else {
            continue;
        };
        let ids = &layout.ids[node.index()];
        let id =
            (ids.twin.clone()).unwrap_or_else(|| unreachable!("a compensable step has a twin"));
        let mut step = make_step(&twin, id, Role::Compensate, layout, &mut texts)?;
        step.compensates = Some(Arc::clone(&ids.own));
        let mut depends: Vec<Arc<str>> =
            nearest_compensable(layout.graph, *node, &compensable, &mut search)
                .map(|after| {
                    (layout.ids[after.index()].twin.clone())
                        .unwrap_or_else(|| unreachable!("a compensable step has a twin"))
                })
                .collect();
        depends.sort_unstable();
        step.depends_on = depends;
        compensations.push(step);
    }
    Ok(Made::hashed(compensations, texts))
}

/// The versions each chain's path walks through on the way to its end (neither installed
/// before nor after), in the chains' order.
fn walked_versions<'p>(
    decisions: &Decisions,
    chains: &[(Chain<'p>, Option<&'p Package>, Option<&'p Package>)],
    lookup: impl Fn(&str, &Version) -> Result<&'p Package, PlanningError>,
) -> Result<Vec<Vec<&'p Package>>, PlanningError> {
    let mut walked = Vec::with_capacity(chains.len());
    for (chain, _, _) in chains {
        // Every version the path reaches before its end, whether or not its edge has scripts.
        let path = &decisions.packages[&*chain.name].path.steps;
        let inner: BTreeSet<&Version> = path
            .split_last()
            .map_or(&[][..], |(_, before)| before)
            .iter()
            .filter_map(|step| step.to.version())
            .collect();
        let versions = (inner.into_iter())
            .map(|version| lookup(&chain.name, version))
            .collect::<Result<_, _>>()?;
        walked.push(versions);
    }
    Ok(walked)
}

/// What a plan holds beside its steps.
struct Records {
    inputs: Inputs,
    placeholders: BTreeMap<String, String>,
    actions: BTreeMap<String, Action>,
    packages: BTreeMap<String, PlannedPackage>,
    walked: BTreeMap<String, Vec<PlannedPackage>>,
    /// The texts of the recorded versions' scripts, by checksum.
    scripts: HashMap<Checksum, Arc<str>>,
}

/// What the plan of `chains` was computed from, the package versions the target will record
/// (and those it walks through), the actions, and the script texts of the versions it
/// records.
fn records_of<'p>(
    release: &Release,
    installed: &InstalledState,
    decisions: &Decisions,
    chains: &[(Chain<'p>, Option<&'p Package>, Option<&'p Package>)],
    walked_by_chain: &[Vec<&'p Package>],
    current_values: &BTreeMap<String, BTreeMap<String, String>>,
    lookup: impl Fn(&str, &Version) -> Result<&'p Package, PlanningError>,
) -> Result<Records, PlanningError> {
    let mut scripts = HashMap::new();
    // What the plan was computed from, per package.
    let mut inputs = Inputs {
        release: release.digest.clone(),
        archives: BTreeMap::new(),
        installed: BTreeMap::new(),
    };
    let mut relied: BTreeSet<String> = BTreeSet::new();
    for (chain, old, new) in chains {
        relied.insert(chain.name.to_string());
        for package in old.iter().chain(new.iter()) {
            relied.extend(package.manifest.prerequisites.keys().cloned());
        }
    }
    let touched: BTreeSet<&str> = chains.iter().map(|(c, _, _)| &*c.name).collect();
    for name in installed.packages.keys() {
        if decisions
            .installed_prerequisites(name, installed)
            .is_some_and(|p| p.keys().any(|p| touched.contains(p.as_str())))
        {
            relied.insert(name.clone());
        }
    }
    for name in &relied {
        let reference = installed.packages.get(name).map(|p| InstalledRef {
            version: p.version.clone(),
            checksum: p.checksum.clone(),
        });
        inputs.installed.insert(name.clone(), reference);
    }
    let mut used: BTreeMap<String, Checksum> = BTreeMap::new();
    for (chain, old, new) in chains {
        let mut last: Option<&Package> = None;
        let drafted = chain.groups.iter().flatten().map(|draft| draft.package);
        for package in drafted
            .chain(old.iter().copied())
            .chain(new.iter().copied())
        {
            // A chain's drafts come in runs of the same package version.
            if last.is_some_and(|seen| std::ptr::eq(seen, package)) {
                continue;
            }
            last = Some(package);
            used.insert(package.id(), package.checksum.clone());
        }
    }
    inputs.archives = used;

    // The versions the target ends with, as it will record them, and those a path walks
    // through on the way there, which it keeps to walk back through them.
    let mut planned = BTreeMap::new();
    let mut walked: BTreeMap<String, Vec<PlannedPackage>> = BTreeMap::new();
    // The values every package that declares a name resolved it with; a name packages
    // resolved differently (each its own default) is only in each package's record.
    let mut placeholders = BTreeMap::new();
    let mut disagreed = BTreeSet::new();
    for ((chain, _, new), versions) in chains.iter().zip(walked_by_chain) {
        let values = &current_values[&*chain.name];
        if let Some(end) = new {
            let package = record(end, values, &mut scripts);
            for (name, value) in &package.placeholders {
                match placeholders.insert(name.clone(), value.clone()) {
                    Some(other) if other != *value => {
                        disagreed.insert(name.clone());
                    }
                    _ => {}
                }
            }
            planned.insert(chain.name.to_string(), package);
        }
        if !versions.is_empty() {
            let versions = (versions.iter())
                .map(|package| record(package, values, &mut scripts))
                .collect();
            walked.insert(chain.name.to_string(), versions);
        }
    }

    let mut actions = BTreeMap::new();
    for d in decisions.packages.values() {
        let mut path = Vec::new();
        if let Some(first) = d.path.steps.first() {
            path.push(first.from.clone());
            path.extend(d.path.steps.iter().map(|s| s.to.clone()));
        }
        let mut reason = d.reason.clone();
        if let (ActionKind::Uninstall, Some(from)) = (d.action, &d.from) {
            reason.push_str(&kept_code(lookup(&d.name, from)?));
        }
        let action = Action {
            action: d.action,
            from: d.from.clone(),
            to: d.to.clone(),
            reason,
            path,
            destructive: matches!(d.action, ActionKind::Downgrade | ActionKind::Uninstall),
        };
        actions.insert(d.name.clone(), action);
    }
    placeholders.retain(|name, _| !disagreed.contains(name));
    Ok(Records {
        inputs,
        placeholders,
        actions,
        packages: planned,
        walked,
        scripts,
    })
}

/// What an uninstall of `package` leaves behind, for its reason: the code of its
/// irreversible INSTALL scripts (no ROLLBACK twin, as every such script of a seed-format
/// package), which nothing removes.
fn kept_code(package: &Package) -> String {
    let kept: Vec<String> = (package.scripts_in(&Phase::Install))
        .filter(|script| script.flags.irreversible)
        .map(|script| format!("`{}`", script.path))
        .collect();
    match kept.len() {
        0 => String::new(),
        1 => format!(
            "; the code of its irreversible {} stays (it has no ROLLBACK twin)",
            kept[0]
        ),
        _ => format!(
            "; the code of its irreversible {} stays (they have no ROLLBACK twins)",
            kept.join(", ")
        ),
    }
}

/// Refuses to reinstall `name` (installed as `state`, its scripts those of `package`) with
/// `values` that differ from those its data model scripts ran with, or will run with on the
/// way back (UPGRADE and DOWNGRADE): a reinstall re-creates its code only, and the target
/// would record values its tables were not made with.
fn refuse_data_model_values(
    name: &str,
    state: &crate::state::InstalledPackage,
    package: &Package,
    values: &BTreeMap<String, String>,
) -> Result<(), PlanningError> {
    for (key, value) in values {
        let Some(was) = state.placeholders.get(key).filter(|was| *was != value) else {
            continue;
        };
        let scripts: Vec<String> = package
            .scripts
            .iter()
            .filter(|script| matches!(script.phase, Phase::Upgrade(_) | Phase::Downgrade(_)))
            .filter(|script| {
                placeholder::scan(&script.text, script.kind)
                    .iter()
                    .any(|used| used.name == *key)
            })
            .map(|script| script.path.to_string())
            .collect();
        if !scripts.is_empty() {
            return Err(PlanningError::DataModelValue {
                package: format!("{name}@{}", state.version),
                name: key.clone(),
                was: was.clone(),
                value: value.clone(),
                scripts,
            });
        }
    }
    Ok(())
}

/// A package version as a target records it, with the placeholder values it declares; its
/// script texts go into the plan's `scripts`.
fn record(
    package: &Package,
    values: &BTreeMap<String, String>,
    scripts: &mut HashMap<Checksum, Arc<str>>,
) -> PlannedPackage {
    for script in &package.scripts {
        scripts
            .entry(script.checksum.clone())
            .or_insert_with(|| Arc::clone(&script.text));
    }
    PlannedPackage {
        version: package.manifest.version.clone(),
        checksum: package.checksum.clone(),
        manifest: Arc::clone(package.manifest_text()),
        scripts: Arc::clone(package.script_checksums()),
        placeholders: values
            .iter()
            .filter(|(k, _)| package.manifest.placeholders.contains_key(*k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

/// Appends a phase's scripts as groups of the same number, ascending (or descending), each
/// with its twin.
fn push_groups<'a>(
    chain: &mut Chain<'a>,
    package: &'a Package,
    phase: &Phase,
    step_phase: StepPhase,
    descending: bool,
    values: &'a BTreeMap<String, String>,
) {
    let version = &package.manifest.version;
    let prefix: Arc<str> = step_id_prefix(&chain.name, version, phase.origin(), step_phase).into();
    let twin_phase = match phase {
        Phase::Install => Some((Phase::Rollback, StepPhase::Rollback)),
        Phase::Rollback => Some((Phase::Install, StepPhase::Install)),
        Phase::Upgrade(o) => Some((Phase::Downgrade(o.clone()), StepPhase::Downgrade)),
        Phase::Downgrade(o) => Some((Phase::Upgrade(o.clone()), StepPhase::Upgrade)),
        Phase::Preinstall | Phase::Verify | Phase::Postinstall => None,
    };
    let twins: Option<(&[Script], StepPhase, Arc<str>)> = twin_phase.map(|(phase, step_phase)| {
        let prefix = step_id_prefix(&chain.name, version, phase.origin(), step_phase);
        (
            package.scripts_in(&phase).as_slice(),
            step_phase,
            prefix.into(),
        )
    });
    // A phase's scripts come sorted by number: a group is a run of the same number.
    let scripts = package.scripts_in(phase).as_slice();
    let mut groups: Vec<Vec<Draft<'a>>> = Vec::new();
    for run in scripts.chunk_by(|a, b| a.number == b.number) {
        let group = run
            .iter()
            .map(|script| {
                let name = script_name(&script.stem);
                let twin = twins.as_ref().and_then(|(scripts, phase, prefix)| {
                    let script = scripts
                        .iter()
                        .find(|s| s.number == script.number && script_name(&s.stem) == name)?;
                    Some(Twin {
                        script,
                        phase: *phase,
                        prefix: Arc::clone(prefix),
                    })
                });
                Draft {
                    name: Arc::clone(&chain.name),
                    package,
                    script,
                    phase: step_phase,
                    values,
                    prefix: Arc::clone(&prefix),
                    twin,
                }
            })
            .collect();
        groups.push(group);
    }
    if descending {
        groups.reverse();
    }
    chain.groups.extend(groups);
}

/// The compensating twin of a forward draft.
fn twin_of<'a>(draft: &Draft<'a>) -> Option<Draft<'a>> {
    draft.twin.as_ref().map(|twin| Draft {
        name: Arc::clone(&draft.name),
        package: draft.package,
        script: twin.script,
        phase: twin.phase,
        values: draft.values,
        prefix: Arc::clone(&twin.prefix),
        twin: None,
    })
}

fn script_name(stem: &str) -> &str {
    stem.split_once('.').map_or(stem, |(_, name)| name)
}

/// The step of `draft` with the given id ([`step_id`]), its dependencies and twin still to
/// be named. Its text goes into `scripts` unless the records hold it: a text its values
/// made always does, a package's own text only if the layout's records lack its package.
fn make_step(
    draft: &Draft<'_>,
    id: Arc<str>,
    role: Role,
    layout: &Layout<'_, '_>,
    scripts: &mut HashMap<Checksum, Arc<str>>,
) -> Result<Step, PlanningError> {
    let platform = layout.platform;
    let package = &draft.package.manifest;
    let script = draft.script;
    let checksum = if script.templated {
        let text =
            placeholder::substitute(&script.text, script.kind, draft.values).map_err(|names| {
                PlanningError::UndefinedPlaceholder {
                    package: format!("{}@{}", package.name, package.version),
                    path: script.path.to_string(),
                    names,
                }
            })?;
        // A value may bring a carriage return; a plan holds texts with `\n` line ends only,
        // as checksums count them (see `Plan::from_json`).
        let text = if text.contains('\r') {
            normalize_newlines(&text).into_owned()
        } else {
            text
        };
        let checksum = Checksum::of_text(&text);
        scripts
            .entry(checksum.clone())
            .or_insert_with(|| text.into());
        checksum
    } else {
        // Nothing to substitute: the text that runs is the package's, checksum and all.
        let package = std::ptr::from_ref::<Package>(draft.package).addr();
        if !layout.holds_texts.contains(&package) {
            scripts
                .entry(script.checksum.clone())
                .or_insert_with(|| Arc::clone(&script.text));
        }
        script.checksum.clone()
    };
    let edge = script.phase.origin().cloned();
    let transactional = script.kind.runs_in_transaction(script.flags, platform);
    Ok(Step {
        id,
        package: Arc::clone(&draft.name),
        version: package.version.clone(),
        edge,
        phase: draft.phase,
        script: script.stem.clone(),
        path: script.path.clone(),
        checksum,
        kind: script.kind,
        role,
        transactional,
        idempotent: script.flags.idempotent,
        irreversible: role == Role::Forward && script.flags.irreversible,
        destructive: draft.phase == StepPhase::Downgrade,
        depends_on: Vec::new(),
        compensated_by: None,
        compensates: None,
    })
}

/// The nearest compensable steps that depend on `node`, each once (steps without a twin, like
/// VERIFY, are looked through).
fn nearest_compensable<'a>(
    graph: &'a DiGraph<(), ()>,
    node: NodeIndex,
    compensable: &'a [bool],
    search: &'a mut Search,
) -> impl Iterator<Item = NodeIndex> + 'a {
    search.start(graph.neighbors_directed(node, petgraph::Direction::Outgoing));
    std::iter::from_fn(move || loop {
        let next = search.next()?;
        if compensable[next.index()] {
            return Some(next);
        }
        search.extend(graph.neighbors_directed(next, petgraph::Direction::Outgoing));
    })
}

/// Makes every node of `after` wait for every node of `before`.
fn link(graph: &mut DiGraph<(), ()>, before: &Range<usize>, after: &Range<usize>) {
    for after in after.clone() {
        for before in before.clone() {
            graph.add_edge(NodeIndex::new(before), NodeIndex::new(after), ());
        }
    }
}

/// A depth-first walk over the nodes of a graph, made again and again from different starts:
/// its memory is kept between walks, and a walk marks the nodes it saw with its own number
/// instead of clearing a set.
struct Search {
    stack: Vec<NodeIndex>,
    seen_by: Vec<usize>,
    walk: usize,
}

impl Search {
    fn new(nodes: usize) -> Self {
        Search {
            stack: Vec::new(),
            seen_by: vec![0; nodes],
            walk: 0,
        }
    }

    /// Begins a new walk from `nodes`.
    fn start(&mut self, nodes: impl Iterator<Item = NodeIndex>) {
        self.walk += 1;
        self.stack.clear();
        self.stack.extend(nodes);
    }

    /// Adds nodes to visit.
    fn extend(&mut self, nodes: impl Iterator<Item = NodeIndex>) {
        self.stack.extend(nodes);
    }

    /// The next node this walk has not seen yet.
    fn next(&mut self) -> Option<NodeIndex> {
        while let Some(node) = self.stack.pop() {
            let seen = &mut self.seen_by[node.index()];
            if *seen != self.walk {
                *seen = self.walk;
                return Some(node);
            }
        }
        None
    }
}

fn stable_topological_order(graph: &DiGraph<(), ()>) -> Vec<NodeIndex> {
    let mut indegree: Vec<usize> = graph
        .node_indices()
        .map(|n| {
            graph
                .neighbors_directed(n, petgraph::Direction::Incoming)
                .count()
        })
        .collect();
    let mut ready: BinaryHeap<Reverse<usize>> = indegree
        .iter()
        .enumerate()
        .filter(|(_, d)| **d == 0)
        .map(|(i, _)| Reverse(i))
        .collect();
    let mut order = Vec::with_capacity(graph.node_count());
    while let Some(Reverse(index)) = ready.pop() {
        let node = NodeIndex::new(index);
        order.push(node);
        // An edge given twice counts twice on both sides: a step is ready when the last
        // edge into it is taken, once.
        for next in graph.neighbors_directed(node, petgraph::Direction::Outgoing) {
            indegree[next.index()] -= 1;
            if indegree[next.index()] == 0 {
                ready.push(Reverse(next.index()));
            }
        }
    }
    order
}
