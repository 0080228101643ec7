//! The resolver: which version of every wanted package, and of every prerequisite they pull
//! in, a target should have. It reads only the [`Index`], never a repository or a target.
//!
//! For each package the highest version on the platform that satisfies every range on it
//! is taken (an installed version first, while it satisfies them), in an order where the
//! packages that may require one are decided before it. When no version of a package fits,
//! the search jumps back to a choice that caused it and remembers the combination as a
//! nogood. Every version refused is kept with why; a failure is explained from that tree of
//! reasons (see [`DeadEnd`]). The search itself lives in `search`; a step budget bounds it.
//!
//! A cycle among the chosen versions is an error, not something to search around: a package
//! cannot be installed before itself.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};
use std::sync::Arc;

use miette::Diagnostic;
use semver::Version;

use crate::manifest::Requirement;
use crate::package::Checksum;
use crate::platform::Platform;
use crate::repository::Index;

use super::wording::{closest, list, quoted, wrap, WIDTH};

mod candidates;
mod search;

/// How many candidate versions the search may consider before giving up. A release of
/// thousands of packages that resolves without conflicts takes about one step per package.
pub const STEP_BUDGET: usize = 1_000_000;

/// Nested explanations deeper than this are summed up in one line.
const MAX_EXPLANATION_DEPTH: usize = 6;

/// What to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The platform of the target: only builds for it are considered.
    pub platform: Platform,
    /// The packages wanted (from the release) and the versions allowed for each.
    pub wanted: BTreeMap<String, Requirement>,
    /// More ranges, each with who asks (for example "installed `reporting@1.0.0`"). They
    /// constrain a package that ends up in the resolution but do not pull one in: put the
    /// package in `wanted` for that.
    pub extra: BTreeMap<String, Vec<(Requirement, String)>>,
    /// Installed versions: each is kept while it satisfies every range on its package.
    pub preferred: BTreeMap<String, Version>,
}

impl Request {
    /// A request for `wanted` on `platform`, with no extra ranges and nothing installed.
    pub fn new(platform: Platform, wanted: BTreeMap<String, Requirement>) -> Self {
        Request {
            platform,
            wanted,
            extra: BTreeMap::new(),
            preferred: BTreeMap::new(),
        }
    }
}

/// The versions chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Every package of the resolution: the wanted ones and the prerequisites they pull in.
    pub packages: BTreeMap<String, Resolved>,
    /// The package names, prerequisites first; ties in name order.
    pub order: Vec<String>,
}

/// The version chosen for one package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The version.
    pub version: Version,
    /// The checksum of its build for the platform.
    pub checksum: Checksum,
    /// Whether the request wants it (otherwise it was pulled in as a prerequisite).
    pub wanted: bool,
    /// The packages of the resolution that require it.
    pub required_by: BTreeSet<String>,
}

/// Who asks for a range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asker {
    /// The release (the request's `wanted`).
    Release,
    /// An extra range of the request, with its description of who asks.
    Extra(String),
    /// A chosen package version, through its prerequisites.
    Package {
        /// The package.
        name: String,
        /// Its version.
        version: Version,
    },
    /// A package that any solution has (the release wants it, or something it needs does),
    /// whose every version that can be chosen asks for the range.
    Needed {
        /// The package.
        name: String,
    },
}

impl fmt::Display for Asker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Asker::Release => f.write_str("the release"),
            Asker::Extra(who) => f.write_str(who),
            Asker::Package { name, version } => write!(f, "`{name}@{version}`"),
            Asker::Needed { name } => write!(f, "every version of `{name}` that can be chosen"),
        }
    }
}

/// A range on a package and who asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    /// The range.
    pub requirement: Requirement,
    /// Who asks.
    pub by: Asker,
}

impl fmt::Display for Asked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({})", self.requirement, self.by)
    }
}

/// A point of the search where no version of a package could be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadEnd {
    /// The package.
    pub package: String,
    /// The ranges on it at that point.
    pub ranges: Vec<Asked>,
    /// Each version in those ranges and why it was refused, in the order tried.
    pub refused: Vec<Refused>,
}

/// A version refused, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The version.
    pub version: Version,
    /// Why.
    pub because: Because,
}

/// Why a version could not be chosen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Because {
    /// A prerequisite is not in the repository.
    Missing {
        /// The prerequisite.
        prerequisite: String,
    },
    /// A prerequisite has no build for the platform.
    NoBuild {
        /// The prerequisite.
        prerequisite: String,
        /// The platform of the request.
        platform: Platform,
        /// The platforms it is built for.
        built_for: Vec<Platform>,
    },
    /// Its range on a prerequisite leaves no version of it within the other ranges on it.
    Clash {
        /// The prerequisite.
        prerequisite: String,
        /// This version's range on it.
        requirement: Requirement,
        /// The other ranges on it that, with this one, leave no version (the ones that do
        /// not take part are left out).
        ranges: Vec<Asked>,
        /// The versions of the prerequisite on the platform, lowest first.
        available: Vec<Version>,
    },
    /// Its range on a prerequisite excludes the version already chosen for it.
    Chosen {
        /// The prerequisite.
        prerequisite: String,
        /// This version's range on it.
        requirement: Requirement,
        /// The version chosen for the prerequisite.
        chosen: Version,
    },
    /// Choosing it leads to a dead end further on: a prerequisite none of whose versions
    /// within its range works. The same dead end may explain several refusals.
    Leads(Arc<DeadEnd>),
}

/// Why a request cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// A package that is asked for is in no repository.
    #[error(
        "package `{name}` is not in the repository (asked for by {})",
        list(required_by)
    )]
    MissingPackage {
        /// The package.
        name: String,
        /// Who asks for it.
        required_by: Vec<Asker>,
        /// The closest name in the repository, if one looks like a typo of it.
        suggestion: Option<String>,
    },
    /// A package that is asked for is not built for the platform.
    #[error(
        "package `{name}` has no build for `{platform}` (asked for by {})",
        list(required_by)
    )]
    NoBuild {
        /// The package.
        name: String,
        /// The platform of the request.
        platform: Platform,
        /// The platforms it is built for.
        built_for: Vec<Platform>,
        /// Who asks for it.
        required_by: Vec<Asker>,
    },
    /// The ranges on a wanted package leave no version.
    #[error("no version of `{name}` satisfies {}", list(ranges))]
    NoMatchingVersion {
        /// The package.
        name: String,
        /// The ranges on it.
        ranges: Vec<Asked>,
        /// Its versions on the platform, lowest first.
        available: Vec<Version>,
    },
    /// Every combination of versions was tried: the explanation of why none works.
    #[error("{}", wrap(&format!("the release cannot be resolved: {}", explain(dead_end, 0)), WIDTH))]
    Conflict {
        /// The wanted package for which no version works, with the reasons.
        dead_end: Box<DeadEnd>,
    },
    /// The chosen versions require each other in a circle.
    #[error("the prerequisites form a cycle: `{}`", cycle(path))]
    Cycle {
        /// The cycle, its first package repeated at the end.
        path: Vec<(String, Version)>,
    },
    /// The search took too many steps.
    #[error("the resolver gave up after trying {steps} versions")]
    TooComplex {
        /// The steps taken.
        steps: usize,
    },
}

impl Diagnostic for ResolveError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(match self {
            ResolveError::MissingPackage { .. } => "dbpm::resolve::missing_package",
            ResolveError::NoBuild { .. } => "dbpm::resolve::no_build",
            ResolveError::NoMatchingVersion { .. } => "dbpm::resolve::no_matching_version",
            ResolveError::Conflict { .. } => "dbpm::resolve::conflict",
            ResolveError::Cycle { .. } => "dbpm::resolve::cycle",
            ResolveError::TooComplex { .. } => "dbpm::resolve::too_complex",
        }))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let help = match self {
            ResolveError::MissingPackage {
                suggestion: Some(suggestion),
                ..
            } => format!("did you mean `{suggestion}`?"),
            ResolveError::MissingPackage { name, .. } => format!(
                "check the name, or add a repository that has `{name}` (`--repo` may be given several times)"
            ),
            ResolveError::NoBuild {
                name,
                platform,
                built_for,
                ..
            } => format!(
                "`{name}` is built for {} only; build it for `{platform}`, or plan for another platform",
                list(quoted(built_for))
            ),
            ResolveError::NoMatchingVersion {
                name, available, ..
            } => format!(
                "the versions of `{name}` are {}; widen a range, or publish a version that fits",
                list(available)
            ),
            ResolveError::Conflict { .. } => {
                "widen one of the ranges in conflict, or publish versions that fit together"
                    .to_owned()
            }
            ResolveError::Cycle { .. } => {
                "a package cannot require itself, even through others: remove one of these prerequisites"
                    .to_owned()
            }
            ResolveError::TooComplex { .. } => {
                "pin some packages of the release to exact versions to narrow the search"
                    .to_owned()
            }
        };
        Some(Box::new(help))
    }
}

/// Chooses a version of every wanted package and of the prerequisites they pull in: for each,
/// the highest version (or the preferred one) that satisfies every range on it.
pub fn resolve(index: &Index, request: &Request) -> Result<Resolution, ResolveError> {
    resolve_within(index, request, STEP_BUDGET)
}

/// [`resolve`] with a step budget of its own.
fn resolve_within(
    index: &Index,
    request: &Request,
    budget: usize,
) -> Result<Resolution, ResolveError> {
    search::solve(index, request, budget)
}

/// The error for a search that failed at its root: a missing or unbuilt prerequisite when
/// that is the only reason, the whole explanation otherwise.
fn final_error(index: &Index, dead_end: DeadEnd) -> ResolveError {
    let mut leaves = Vec::new();
    collect_leaves(&dead_end, &mut leaves);
    let lone = match leaves.first() {
        Some((_, _, Because::Missing { prerequisite })) => prerequisite,
        Some((_, _, Because::NoBuild { prerequisite, .. })) => prerequisite,
        _ => "",
    };
    let same = |(_, _, because): &(&str, &Version, &Because)| match because {
        Because::Missing { prerequisite } | Because::NoBuild { prerequisite, .. } => {
            prerequisite == lone
        }
        _ => false,
    };
    if lone.is_empty() || !leaves.iter().all(same) {
        return ResolveError::Conflict {
            dead_end: Box::new(dead_end),
        };
    }
    let mut required_by: Vec<Asker> = Vec::new();
    for (name, version, _) in &leaves {
        let asker = Asker::Package {
            name: (*name).to_owned(),
            version: (*version).clone(),
        };
        if !required_by.contains(&asker) {
            required_by.push(asker);
        }
    }
    match leaves[0].2 {
        Because::NoBuild {
            prerequisite,
            platform,
            built_for,
        } => ResolveError::NoBuild {
            name: prerequisite.clone(),
            platform: *platform,
            built_for: built_for.clone(),
            required_by,
        },
        _ => ResolveError::MissingPackage {
            name: lone.to_owned(),
            required_by,
            suggestion: closest(lone, index.names()).map(str::to_owned),
        },
    }
}

fn collect_leaves<'d>(
    dead_end: &'d DeadEnd,
    leaves: &mut Vec<(&'d str, &'d Version, &'d Because)>,
) {
    for refused in &dead_end.refused {
        match &refused.because {
            Because::Leads(deeper) => collect_leaves(deeper, leaves),
            because => leaves.push((&dead_end.package, &refused.version, because)),
        }
    }
}

fn cycle(path: &[(String, Version)]) -> String {
    path.iter()
        .map(|(name, version)| format!("{name}@{version}"))
        .collect::<Vec<_>>()
        .join(" → ")
}

/// A dead end as an indented tree: a heading, then one line per reason, the versions that
/// share a reason on the same line.
fn explain(dead_end: &DeadEnd, depth: usize) -> String {
    // `*` says nothing worth reading.
    let ranges: Vec<&Asked> = dead_end
        .ranges
        .iter()
        .filter(|asked| !asked.requirement.as_semver().comparators.is_empty())
        .collect();
    let mut out = if ranges.is_empty() {
        format!("no version of `{}` works", dead_end.package)
    } else {
        format!(
            "no version of `{}` within {} works",
            dead_end.package,
            list(ranges)
        )
    };
    if depth >= MAX_EXPLANATION_DEPTH {
        out.push_str(" (further reasons left out)");
        return out;
    }
    let mut groups: Vec<(String, Vec<&Version>)> = Vec::new();
    for refused in &dead_end.refused {
        let reason = reason(&refused.because, depth);
        match groups.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, versions)) => versions.push(&refused.version),
            None => groups.push((reason, vec![&refused.version])),
        }
    }
    let indent = "  ".repeat(depth + 1);
    for (reason, versions) in groups {
        let subjects: Vec<String> = versions
            .iter()
            .map(|v| format!("`{}@{v}`", dead_end.package))
            .collect();
        let _ = write!(out, "\n{indent}- {}: {reason}", subjects.join(", "));
    }
    out
}

fn reason(because: &Because, depth: usize) -> String {
    match because {
        Because::Missing { prerequisite } => {
            format!("requires `{prerequisite}`, which is not in the repository")
        }
        Because::NoBuild {
            prerequisite,
            platform,
            built_for,
        } => format!(
            "requires `{prerequisite}`, which has no build for `{platform}` (only for {})",
            list(quoted(built_for))
        ),
        Because::Clash {
            prerequisite,
            requirement,
            ranges,
            available,
        } if ranges.is_empty() => format!(
            "requires `{prerequisite} {requirement}`, but the versions of `{prerequisite}` are {}",
            list(available)
        ),
        Because::Clash {
            prerequisite,
            requirement,
            ranges,
            ..
        } => format!(
            "requires `{prerequisite} {requirement}`, but `{prerequisite}` must also be within {}",
            list(ranges)
        ),
        Because::Chosen {
            prerequisite,
            requirement,
            chosen,
        } => format!(
            "requires `{prerequisite} {requirement}`, but `{prerequisite}@{chosen}` is already chosen"
        ),
        Because::Leads(deeper) => format!("then {}", explain(deeper, depth + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::manifest::raw::{RawBound, RawMinMax};
    use crate::resolve::testing::{index, render, req, v};
    use proptest::prelude::*;

    fn release(wanted: &[(&str, &str)]) -> Request {
        Request::new(
            Platform::Postgres,
            wanted
                .iter()
                .map(|(name, range)| ((*name).to_owned(), req(range)))
                .collect(),
        )
    }

    fn versions(resolution: &Resolution) -> Vec<String> {
        resolution
            .packages
            .iter()
            .map(|(name, r)| format!("{name}@{}", r.version))
            .collect()
    }

    #[test]
    fn chooses_the_highest_version_in_range() {
        let index = index! {
            "core" "1.0.0";
            "core" "1.1.0";
            "core" "1.10.0";
            "core" "2.0.0";
        };
        let resolution = resolve(&index, &release(&[("core", "^1")])).unwrap();
        assert_eq!(versions(&resolution), ["core@1.10.0"]);
        let core = &resolution.packages["core"];
        assert!(core.wanted);
        assert!(core.required_by.is_empty());
        assert_eq!(
            Some(&core.checksum),
            index
                .get("core", &v("1.10.0"), Platform::Postgres)
                .map(|e| &e.checksum)
        );
    }

    #[test]
    fn chooses_a_pre_release_only_when_a_range_names_it() {
        let index = index! {
            "core" "1.0.0";
            "core" "1.1.0-beta.1";
            "core" "0.9.0";
            "app" "1.0.0" requires["core" ">=1.1.0-beta.1"];
        };
        let stable = resolve(&index, &release(&[("core", "^1")])).unwrap();
        assert_eq!(versions(&stable), ["core@1.0.0"]);
        let beta = resolve(&index, &release(&[("app", "*")])).unwrap();
        assert_eq!(versions(&beta), ["app@1.0.0", "core@1.1.0-beta.1"]);
        let mut keep = release(&[("core", ">=0.9")]);
        keep.preferred.insert("core".to_owned(), v("0.9.0"));
        assert_eq!(versions(&resolve(&index, &keep).unwrap()), ["core@0.9.0"]);
    }

    #[test]
    fn pulls_in_prerequisites_transitively_in_install_order() {
        let index = index! {
            "core" "1.0.0";
            "core" "1.2.0";
            "core" "2.0.0";
            "auth" "1.0.0" requires["core" "^1"];
            "audit" "1.0.0" requires["core" ">=1.1"];
            "app" "3.0.0" requires["auth" "^1", "audit" "*"];
        };
        let resolution = resolve(&index, &release(&[("app", "^3")])).unwrap();
        assert_eq!(
            versions(&resolution),
            ["app@3.0.0", "audit@1.0.0", "auth@1.0.0", "core@1.2.0"]
        );
        assert_eq!(resolution.order, ["core", "audit", "auth", "app"]);
        let core = &resolution.packages["core"];
        assert!(!core.wanted);
        assert_eq!(
            core.required_by
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            ["audit", "auth"]
        );
    }

    #[test]
    fn ties_in_install_order_go_by_name() {
        let index = index! {
            "zeta" "1.0.0";
            "alpha" "1.0.0" requires["zeta" "*"];
            "mid" "1.0.0";
        };
        let resolution = resolve(
            &index,
            &release(&[("alpha", "*"), ("mid", "*"), ("zeta", "*")]),
        )
        .unwrap();
        assert_eq!(resolution.order, ["mid", "zeta", "alpha"]);
    }

    #[test]
    fn honours_min_max_ranges() {
        let mut index = index! {
            "core" "1.1.0";
            "core" "1.4.0";
            "core" "1.9.0";
            "core" "2.0.0";
            "app" "1.0.0" requires["core" "*"];
        };
        // The seed's form: at least 1.4, below 2.0.0 (`max { major = 1 }`).
        let range = Requirement::from_min_max(&RawMinMax {
            min: RawBound {
                major: 1,
                minor: Some(4),
                patch: None,
            },
            max: Some(RawBound {
                major: 1,
                minor: None,
                patch: None,
            }),
        })
        .unwrap();
        let mut app = index
            .get("app", &v("1.0.0"), Platform::Postgres)
            .unwrap()
            .clone();
        app.prerequisites.insert("core".to_owned(), range.clone());
        index = index
            .entries()
            .filter(|e| e.name != "app")
            .cloned()
            .chain([app])
            .collect();
        let resolution = resolve(&index, &release(&[("app", "*")])).unwrap();
        assert_eq!(resolution.packages["core"].version, v("1.9.0"));

        let exact_min = Request::new(
            Platform::Postgres,
            [("core".to_owned(), range)].into_iter().collect(),
        );
        let mut below = index! { "core" "1.1.0"; "core" "2.0.0"; };
        let err = resolve(&below, &exact_min).unwrap_err();
        assert!(
            matches!(err, ResolveError::NoMatchingVersion { .. }),
            "{err:?}"
        );
        below = index! { "core" "1.4.0"; "core" "2.0.0"; };
        assert_eq!(
            resolve(&below, &exact_min).unwrap().packages["core"].version,
            v("1.4.0")
        );
    }

    #[test]
    fn backtracks_when_the_highest_choice_leads_to_a_conflict() {
        // `app@2` asks for `core ^2` and for the 1.x line of `mid`, which needs `core ^1`:
        // nothing rules it out before `mid` is decided, and then `mid` has no version left.
        let index = index! {
            "core" "1.0.0";
            "core" "2.0.0";
            "mid" "1.0.0" requires["core" "^1"];
            "mid" "2.0.0" requires["core" "^2"];
            "app" "1.0.0" requires["mid" "^2"];
            "app" "2.0.0" requires["mid" "^1", "core" "^2"];
        };
        let resolution = resolve(&index, &release(&[("app", "*")])).unwrap();
        assert_eq!(
            versions(&resolution),
            ["app@1.0.0", "core@2.0.0", "mid@2.0.0"]
        );
    }

    #[test]
    fn prefers_the_highest_version_that_fits_the_others() {
        let index = index! {
            "util" "1.0.0";
            "util" "1.5.0";
            "util" "2.0.0";
            "app" "1.0.0" requires["util" "^1"];
            "app" "2.0.0" requires["util" "^2"];
            "tool" "1.0.0" requires["util" "^1"];
        };
        let resolution = resolve(&index, &release(&[("app", "*"), ("tool", "*")])).unwrap();
        assert_eq!(
            versions(&resolution),
            ["app@1.0.0", "tool@1.0.0", "util@1.5.0"]
        );
    }

    #[test]
    fn backtracks_through_prerequisites_of_prerequisites() {
        // `app@2` needs `util ^2` two levels down; `tool` only works with `util ^1`, so the
        // search has to come back to `mid`, the choice that brought `util ^2` in.
        let index = index! {
            "util" "1.0.0";
            "util" "2.0.0";
            "mid" "1.0.0" requires["util" "^1"];
            "mid" "1.1.0" requires["util" "^2"];
            "app" "2.0.0" requires["mid" "^1"];
            "tool" "1.0.0" requires["util" "<2"];
            "tool" "0.9.0" requires["util" "<1"];
        };
        let resolution = resolve(&index, &release(&[("app", "*"), ("tool", "*")])).unwrap();
        assert_eq!(
            versions(&resolution),
            ["app@2.0.0", "mid@1.0.0", "tool@1.0.0", "util@1.0.0"]
        );
        assert_eq!(resolution.order, ["util", "mid", "app", "tool"]);
    }

    fn billing_and_reporting() -> Index {
        index! {
            "core" "1.0.0";
            "core" "1.6.0";
            "core" "2.0.0";
            "billing" "2.0.0" requires["core" "^2"];
            "billing" "2.1.0" requires["core" ">=2"];
            "reporting" "1.0.0" requires["core" "^1"];
            "reporting" "1.1.0" requires["core" ">=1.5, <2"];
        }
    }

    #[test]
    fn explains_an_unsolvable_conflict() {
        let index = billing_and_reporting();
        let err = resolve(&index, &release(&[("billing", "^2"), ("reporting", "^1")])).unwrap_err();
        let ResolveError::Conflict { dead_end } = &err else {
            panic!("expected a conflict, got {err:?}");
        };
        assert_eq!(dead_end.package, "billing");
        assert_eq!(dead_end.refused.len(), 2);
        insta::assert_snapshot!(render(&err));
    }

    #[test]
    fn explains_a_conflict_found_after_backtracking() {
        // Each version of `app` pulls in a line of `lib` that needs a `base` that `tool`
        // rules out; the search tries both before giving up.
        let index = index! {
            "base" "1.0.0";
            "base" "2.0.0";
            "base" "3.0.0";
            "lib" "1.0.0" requires["base" "^1"];
            "lib" "2.0.0" requires["base" "^2"];
            "app" "1.0.0" requires["lib" "^1"];
            "app" "2.0.0" requires["lib" "^2"];
            "tool" "1.0.0" requires["base" "^3"];
        };
        let err = resolve(&index, &release(&[("app", "*"), ("tool", "*")])).unwrap_err();
        let ResolveError::Conflict { dead_end } = &err else {
            panic!("expected a conflict, got {err:?}");
        };
        assert_eq!(dead_end.package, "app");
        assert!(dead_end
            .refused
            .iter()
            .all(|r| matches!(r.because, Because::Leads(_))));
        insta::assert_snapshot!(render(&err));
    }

    #[test]
    fn ranges_that_every_version_of_a_wanted_package_asks_for_count_before_the_search() {
        let index = billing_and_reporting();
        let err = resolve(&index, &release(&[("core", "^2"), ("reporting", "*")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no version of `core` satisfies `^2` (the release) and `^1` (every version of \
             `reporting` that can be chosen)"
        );
    }

    #[test]
    fn reports_a_cycle_as_a_path() {
        let index = index! {
            "a" "1.0.0" requires["b" "^1"];
            "b" "1.0.0" requires["c" "^1"];
            "c" "1.0.0" requires["a" "^1"];
            "app" "1.0.0" requires["b" "^1"];
        };
        let err = resolve(&index, &release(&[("app", "*")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the prerequisites form a cycle: `a@1.0.0 → b@1.0.0 → c@1.0.0 → a@1.0.0`"
        );
        insta::assert_snapshot!(render(&err));
    }

    #[test]
    fn reports_a_package_requiring_itself() {
        let index = index! { "a" "1.0.0" requires["a" "^1"]; };
        let err = resolve(&index, &release(&[("a", "*")])).unwrap_err();
        assert_eq!(
            err,
            ResolveError::Cycle {
                path: vec![("a".to_owned(), v("1.0.0")), ("a".to_owned(), v("1.0.0"))]
            }
        );
    }

    #[test]
    fn suggests_the_name_of_a_missing_package() {
        let index = index! { "billing" "1.0.0"; "core" "1.0.0"; };
        let err = resolve(&index, &release(&[("biling", "^1")])).unwrap_err();
        assert_eq!(
            err,
            ResolveError::MissingPackage {
                name: "biling".to_owned(),
                required_by: vec![Asker::Release],
                suggestion: Some("billing".to_owned()),
            }
        );
        insta::assert_snapshot!(render(&err));
    }

    #[test]
    fn names_who_requires_a_prerequisite_missing_further_down() {
        let index = index! {
            "lib" "1.0.0" requires["ghost" "^1"];
            "app" "1.0.0" requires["lib" "^1"];
        };
        let err = resolve(&index, &release(&[("app", "*")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "package `ghost` is not in the repository (asked for by `lib@1.0.0`)"
        );
    }

    #[test]
    fn looks_ahead_past_versions_whose_prerequisites_cannot_be_met() {
        // `app@2` needs the 1.x line of `lib`, which needs a `base` that the release rules
        // out: `app@2` is refused on the spot, without choosing `lib` first and backjumping.
        let index = index! {
            "base" "1.0.0";
            "base" "2.0.0";
            "lib" "1.0.0" requires["base" "^1"];
            "lib" "1.1.0" requires["base" "^1"];
            "lib" "2.0.0" requires["base" "^2"];
            "app" "1.0.0" requires["lib" "^2"];
            "app" "2.0.0" requires["lib" "^1"];
        };
        let request = release(&[("app", "*"), ("base", "^2")]);
        let resolution = resolve(&index, &request).unwrap();
        assert_eq!(
            versions(&resolution),
            ["app@1.0.0", "base@2.0.0", "lib@2.0.0"]
        );
        // One step per package and one for the refused `app@2.0.0`.
        assert!(resolve_within(&index, &request, 4).is_ok());
    }

    #[test]
    fn names_who_requires_a_missing_prerequisite() {
        let index = index! {
            "app" "1.0.0" requires["ghost" "^1"];
            "app" "1.1.0" requires["ghost" "^1"];
        };
        let err = resolve(&index, &release(&[("app", "*")])).unwrap_err();
        let ResolveError::MissingPackage {
            name, required_by, ..
        } = &err
        else {
            panic!("expected a missing package, got {err:?}");
        };
        assert_eq!(name, "ghost");
        assert_eq!(
            list(required_by),
            "`app@1.1.0` and `app@1.0.0`",
            "every version that asks for it"
        );
    }

    #[test]
    fn says_which_platforms_a_package_has() {
        let index = index! {
            "core" "1.0.0" on["mysql", "sqlite"];
            "app" "1.0.0" on["postgres", "mysql"] requires["core" "^1"];
        };
        let err = resolve(&index, &release(&[("core", "*")])).unwrap_err();
        assert_eq!(
            err,
            ResolveError::NoBuild {
                name: "core".to_owned(),
                platform: Platform::Postgres,
                built_for: vec![Platform::Mysql, Platform::Sqlite],
                required_by: vec![Asker::Release],
            }
        );
        let err = resolve(&index, &release(&[("app", "*")])).unwrap_err();
        assert!(
            matches!(&err, ResolveError::NoBuild { name, .. } if name == "core"),
            "{err:?}"
        );
        let mut mysql = release(&[("app", "*")]);
        mysql.platform = Platform::Mysql;
        assert!(resolve(&index, &mysql).is_ok());
    }

    #[test]
    fn keeps_a_preferred_version_while_it_satisfies() {
        let index = index! {
            "core" "1.0.0";
            "core" "1.1.0";
            "core" "1.2.0";
            "app" "1.0.0" requires["core" "^1"];
            "app" "2.0.0" requires["core" "^1.1"];
        };
        let mut request = release(&[("core", "^1"), ("app", "^1")]);
        request.preferred.insert("core".to_owned(), v("1.0.0"));
        let resolution = resolve(&index, &request).unwrap();
        assert_eq!(versions(&resolution), ["app@1.0.0", "core@1.0.0"]);

        // Pulled in, it is kept too.
        let mut pulled = release(&[("app", "^1")]);
        pulled.preferred.insert("core".to_owned(), v("1.1.0"));
        let resolution = resolve(&index, &pulled).unwrap();
        assert_eq!(versions(&resolution), ["app@1.0.0", "core@1.1.0"]);
    }

    #[test]
    fn abandons_a_preferred_version_that_no_longer_satisfies() {
        let index = index! {
            "core" "1.0.0";
            "core" "1.1.0";
            "core" "1.2.0";
            "app" "2.0.0" requires["core" "^1.1"];
        };
        let mut request = release(&[("app", "^2")]);
        request.preferred.insert("core".to_owned(), v("1.0.0"));
        let resolution = resolve(&index, &request).unwrap();
        assert_eq!(versions(&resolution), ["app@2.0.0", "core@1.2.0"]);

        // An installed version gone from the repository cannot be kept.
        request.preferred.insert("core".to_owned(), v("1.1.5"));
        assert_eq!(
            resolve(&index, &request).unwrap().packages["core"].version,
            v("1.2.0")
        );
    }

    #[test]
    fn extra_ranges_constrain_without_pulling_in() {
        let index = index! {
            "core" "1.0.0";
            "core" "1.1.0";
            "app" "1.0.0" requires["core" "^1"];
            "lonely" "1.0.0";
        };
        let mut request = release(&[("app", "*")]);
        request.extra.insert(
            "core".to_owned(),
            vec![(req("<1.1"), "installed `reporting@1.0.0`".to_owned())],
        );
        request.extra.insert(
            "lonely".to_owned(),
            vec![(req("^1"), "installed `x@1.0.0`".to_owned())],
        );
        let resolution = resolve(&index, &request).unwrap();
        assert_eq!(versions(&resolution), ["app@1.0.0", "core@1.0.0"]);
    }

    #[test]
    fn lists_each_range_with_who_asks() {
        let index = index! { "core" "1.0.0"; "core" "2.0.0"; };
        let mut request = release(&[("core", "^2")]);
        request.extra.insert(
            "core".to_owned(),
            vec![(req("<2"), "installed `reporting@1.0.0`".to_owned())],
        );
        let err = resolve(&index, &request).unwrap_err();
        assert_eq!(
            err,
            ResolveError::NoMatchingVersion {
                name: "core".to_owned(),
                ranges: vec![
                    Asked {
                        requirement: req("^2"),
                        by: Asker::Release
                    },
                    Asked {
                        requirement: req("<2"),
                        by: Asker::Extra("installed `reporting@1.0.0`".to_owned())
                    },
                ],
                available: vec![v("1.0.0"), v("2.0.0")],
            }
        );
        insta::assert_snapshot!(render(&err));
    }

    /// QA: a kept package's range, wanted and explained, was listed twice, once as the
    /// release's, though the release did not name the package.
    #[test]
    fn a_wanted_range_given_with_its_reason_is_named_once() {
        let index = index! {
            "base" "1.1.0";
            "base" "1.2.0-rc.1";
            "top" "2.0.0" requires["base" "=1.2.0-rc.1"];
        };
        let mut request = release(&[("top", "*"), ("base", ">=1.1.0")]);
        let kept = "installed `base@1.1.0`, kept".to_owned();
        request
            .extra
            .insert("base".to_owned(), vec![(req(">=1.1.0"), kept.clone())]);
        let err = resolve(&index, &request).unwrap_err();
        let ResolveError::NoMatchingVersion { ranges, .. } = &err else {
            panic!("{err:?}");
        };
        let askers: Vec<&Asker> = ranges.iter().map(|asked| &asked.by).collect();
        assert!(!askers.contains(&&Asker::Release), "{err:?}");
        assert!(askers.contains(&&Asker::Extra(kept)), "{err:?}");
    }

    #[test]
    fn gives_up_after_the_step_budget() {
        let index = index! {
            "a" "1.0.0" requires["b" "*"];
            "b" "1.0.0" requires["c" "*"];
            "c" "1.0.0";
        };
        let request = release(&[("a", "*")]);
        assert_eq!(
            resolve_within(&index, &request, 2),
            Err(ResolveError::TooComplex { steps: 2 })
        );
        assert!(resolve_within(&index, &request, 3).is_ok());
    }

    const VERSIONS: [&str; 4] = ["1.0.0", "1.1.0", "2.0.0", "2.1.0"];
    const RANGES: [&str; 7] = ["^1", "^2", ">=1.1", "<2", "=1.0.0", "*", ">=1.1, <2.1"];

    /// Up to five packages `p0`..`p4` with some of [`VERSIONS`], each version requiring some
    /// lower-numbered packages with one of [`RANGES`] (so there is no cycle), a release over
    /// some of them, installed versions and extra ranges.
    #[derive(Debug, Clone)]
    struct Case {
        index: Index,
        request: Request,
    }

    fn case() -> impl Strategy<Value = Case> {
        (2usize..=5).prop_flat_map(|n| {
            let range = proptest::option::weighted(0.4, 0..RANGES.len());
            let version = (any::<bool>(), proptest::collection::vec(range.clone(), n));
            let packages =
                proptest::collection::vec(proptest::collection::vec(version, VERSIONS.len()), n);
            let wanted =
                proptest::collection::vec(proptest::option::weighted(0.5, 0..RANGES.len()), n);
            let preferred =
                proptest::collection::vec(proptest::option::weighted(0.3, 0..VERSIONS.len()), n);
            let extra =
                proptest::collection::vec(proptest::option::weighted(0.2, 0..RANGES.len()), n);
            (packages, wanted, preferred, extra).prop_map(
                move |(packages, wanted, preferred, extra)| {
                    let mut entries = Vec::new();
                    for (i, versions) in packages.iter().enumerate() {
                        for (k, (present, requires)) in versions.iter().enumerate() {
                            if !present {
                                continue;
                            }
                            let requires: Vec<(String, &str)> = requires[..i]
                                .iter()
                                .enumerate()
                                .filter_map(|(j, r)| r.map(|r| (format!("p{j}"), RANGES[r])))
                                .collect();
                            let requires: Vec<(&str, &str)> =
                                requires.iter().map(|(a, b)| (a.as_str(), *b)).collect();
                            entries.extend(crate::resolve::testing::entries(
                                &format!("p{i}"),
                                VERSIONS[k],
                                &[],
                                &requires,
                                &[],
                            ));
                        }
                    }
                    let name = |i: usize| format!("p{i}");
                    let mut request = Request::new(
                        Platform::Postgres,
                        wanted
                            .iter()
                            .enumerate()
                            .filter_map(|(i, r)| r.map(|r| (name(i), req(RANGES[r]))))
                            .collect(),
                    );
                    request.preferred = preferred
                        .iter()
                        .enumerate()
                        .filter_map(|(i, k)| k.map(|k| (name(i), v(VERSIONS[k]))))
                        .collect();
                    request.extra = extra
                        .iter()
                        .enumerate()
                        .filter_map(|(i, r)| {
                            r.map(|r| (name(i), vec![(req(RANGES[r]), "installed".to_owned())]))
                        })
                        .collect();
                    Case {
                        index: entries.into_iter().collect(),
                        request,
                    }
                },
            )
        })
    }

    /// Whether `chosen` meets every range of the request and every prerequisite.
    fn valid(case: &Case, chosen: &BTreeMap<String, Version>) -> bool {
        let platform = case.request.platform;
        case.request
            .wanted
            .iter()
            .all(|(name, r)| chosen.get(name).is_some_and(|v| r.matches(v)))
            && case.request.extra.iter().all(|(name, ranges)| {
                chosen
                    .get(name)
                    .is_none_or(|v| ranges.iter().all(|(r, _)| r.matches(v)))
            })
            && chosen.iter().all(|(name, version)| {
                case.index
                    .get(name, version, platform)
                    .is_some_and(|entry| {
                        entry
                            .prerequisites
                            .iter()
                            .all(|(p, r)| chosen.get(p).is_some_and(|v| r.matches(v)))
                    })
            })
    }

    /// Whether any choice of versions (or absence) for the packages of the index is valid.
    fn any_solution(case: &Case) -> bool {
        let options: Vec<(String, Vec<Option<Version>>)> = case
            .index
            .names()
            .map(|name| {
                let mut options = vec![None];
                options.extend(
                    case.index
                        .versions(name, case.request.platform)
                        .map(|e| Some(e.version.clone())),
                );
                (name.to_owned(), options)
            })
            .collect();
        let total: usize = options.iter().map(|(_, o)| o.len()).product();
        (0..total).any(|mut k| {
            let mut chosen = BTreeMap::new();
            for (name, opts) in &options {
                if let Some(version) = &opts[k % opts.len()] {
                    chosen.insert(name.clone(), version.clone());
                }
                k /= opts.len();
            }
            valid(case, &chosen)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 512,
            // Failing cases are kept beside this file, not in a folder of the crate's root.
            failure_persistence: Some(Box::new(
                proptest::test_runner::FileFailurePersistence::SourceParallel(
                    "proptest-regressions",
                ),
            )),
            ..ProptestConfig::default()
        })]

        #[test]
        fn resolutions_satisfy_every_range_and_failures_have_no_solution(case in case()) {
            match resolve(&case.index, &case.request) {
                Ok(resolution) => {
                    let chosen: BTreeMap<String, Version> = resolution
                        .packages
                        .iter()
                        .map(|(n, r)| (n.clone(), r.version.clone()))
                        .collect();
                    prop_assert!(valid(&case, &chosen), "{resolution:?}");
                    // Nothing that is not needed.
                    for (name, resolved) in &resolution.packages {
                        prop_assert_eq!(resolved.wanted, case.request.wanted.contains_key(name));
                        prop_assert!(resolved.wanted || !resolved.required_by.is_empty());
                    }
                    // Prerequisites first.
                    let position: BTreeMap<&str, usize> = resolution
                        .order
                        .iter()
                        .enumerate()
                        .map(|(i, n)| (n.as_str(), i))
                        .collect();
                    prop_assert_eq!(position.len(), resolution.packages.len());
                    for (name, resolved) in &resolution.packages {
                        let entry = case
                            .index
                            .get(name, &resolved.version, case.request.platform)
                            .unwrap();
                        prop_assert_eq!(&entry.checksum, &resolved.checksum);
                        for prerequisite in entry.prerequisites.keys() {
                            prop_assert!(position[prerequisite.as_str()] < position[name.as_str()]);
                        }
                    }
                }
                Err(err) => {
                    prop_assert!(!matches!(err, ResolveError::Cycle { .. } | ResolveError::TooComplex { .. }), "{err:?}");
                    prop_assert!(!any_solution(&case), "{err:?} but a solution exists");
                }
            }
        }
    }
}
