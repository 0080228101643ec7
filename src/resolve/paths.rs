//! Upgrade paths: the cheapest chain of edges that takes one package, on one platform, from
//! the installed version (or nothing) to the target one (or nothing).
//!
//! The versions of the package and "nothing" are the nodes of a graph whose edges are the
//! index entries' upgrade edges (`UPGRADE/`, `UPGRADE@1.0.0/`, `UPGRADE@none/`). An edge
//! always goes from an older version to a newer one, so the graph has no cycle and the
//! cheapest path is found exactly by one pass in version order. An upgrade walks edges
//! forwards and costs their UPGRADE scripts; a downgrade walks them backwards and costs their
//! DOWNGRADE twins, and cannot cross an edge with an irreversible script.
//!
//! Which scripts run, and in what order, is the planner's business: a path only names edges.

use std::fmt::{self, Write as _};

use miette::Diagnostic;
use petgraph::graph::{DiGraph, EdgeIndex, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction::{Incoming, Outgoing};
use semver::Version;

use crate::package::Origin;
use crate::platform::Platform;
use crate::repository::{Edge, Index};

use super::wording::{list, quoted, wrap, WIDTH};

/// Which way a step goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Direction {
    /// Towards a newer version: the edge's UPGRADE scripts run, ascending.
    Up,
    /// Towards an older version or nothing: the edge's DOWNGRADE twins run, descending.
    Down,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Up => "upgrade",
            Direction::Down => "downgrade",
        })
    }
}

/// One edge walked.
///
/// An edge belongs to the newer of its two ends and is named by its older end, its origin:
/// - [`Direction::Up`]: the edge belongs to version `to`; its scripts are the folder
///   `UPGRADE/` or `UPGRADE@{edge_origin}/` of `to`, and `edge_origin == from`.
/// - [`Direction::Down`]: the edge belongs to version `from`, the version being left; its
///   scripts are the DOWNGRADE twins (`DOWNGRADE/` or `DOWNGRADE@{edge_origin}/` of `from`),
///   and `edge_origin == to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStep {
    /// The version before the step.
    pub from: Origin,
    /// The version after the step.
    pub to: Origin,
    /// Which way it goes.
    pub direction: Direction,
    /// The origin of the edge walked: which UPGRADE (or DOWNGRADE) folder of the newer
    /// version holds its scripts.
    pub edge_origin: Origin,
    /// How many scripts the step runs (UPGRADE scripts up, DOWNGRADE scripts down).
    pub scripts: usize,
}

/// The steps from one version of a package to another, in the order they run. Empty when
/// the two are the same.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradePath {
    /// The steps.
    pub steps: Vec<PathStep>,
}

impl UpgradePath {
    /// How many scripts the path runs: its cost.
    pub fn scripts(&self) -> usize {
        self.steps.iter().map(|s| s.scripts).sum()
    }
}

/// An irreversible script that blocks a downgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocking {
    /// The version whose UPGRADE folder holds the script.
    pub version: Version,
    /// The script's path in the package (`UPGRADE@1.0.0/002.drop_column.sql`).
    pub script: String,
}

/// Why there is no path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// An end of the path is not a version the index knows for the platform.
    #[error("`{package}@{version}` is not in the repository for `{platform}`")]
    UnknownVersion {
        /// The package.
        package: String,
        /// The platform.
        platform: Platform,
        /// The version.
        version: Version,
        /// The versions the index has, lowest first.
        known: Vec<Version>,
    },
    /// Every way down crosses an edge with an irreversible script.
    #[error(
        "cannot downgrade `{package}` from `{from}` to `{to}`: every way down crosses an irreversible script{}",
        blocking_lines(package, blocking)
    )]
    Blocked {
        /// The package.
        package: String,
        /// The installed version.
        from: Origin,
        /// The target version.
        to: Origin,
        /// The irreversible scripts on the edges between the two, highest version first.
        blocking: Vec<Blocking>,
    },
    /// No chain of edges leads from one version to the other.
    #[error("no {direction} path for `{package}` from `{from}` to `{to}`")]
    NoPath {
        /// The package.
        package: String,
        /// The installed version.
        from: Origin,
        /// The target version.
        to: Origin,
        /// Which way the path would go.
        direction: Direction,
        /// What can be reached from `from` in that direction, nearest first.
        reachable: Vec<Origin>,
        /// Versions that edges toward `to` start from but that the index does not have (a
        /// `from` naming a version never published, or no longer): the gap in the way.
        missing: Vec<Version>,
    },
}

impl Diagnostic for PathError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(match self {
            PathError::UnknownVersion { .. } => "dbpm::path::unknown_version",
            PathError::Blocked { .. } => "dbpm::path::blocked",
            PathError::NoPath { .. } => "dbpm::path::no_path",
        }))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        let help = match self {
            PathError::UnknownVersion { package, known, .. } if known.is_empty() => {
                format!("the repository has no version of `{package}` for this platform")
            }
            PathError::UnknownVersion { package, known, .. } => {
                format!("the versions of `{package}` are {}", list(quoted(known)))
            }
            PathError::Blocked { .. } => {
                "an irreversible script has no DOWNGRADE twin, so its edge cannot be walked backwards; restore a backup, or publish a newer version that makes the change you need"
                    .to_owned()
            }
            PathError::NoPath { to, missing, .. } if !missing.is_empty() => format!(
                "the way to `{to}` starts from {}, which the repositories do not have: publish {}, give `--repo` with a repository that has {}, or add an `UPGRADE@VERSION/` folder to `{to}` from a version they have",
                list(quoted(missing)),
                if missing.len() == 1 { "it" } else { "them" },
                if missing.len() == 1 { "it" } else { "them" },
            ),
            PathError::NoPath {
                reachable,
                from,
                direction: Direction::Up,
                ..
            } if reachable.is_empty() && matches!(from, Origin::Version(_)) => format!(
                "no edge leads anywhere from `{from}` that way: a version installs from nothing unless its manifest names the version it upgrades from; add `from = \"{from}\"` to the `dbpm.toml` of the version you need, or an `UPGRADE@{from}/` folder (a seed-format `manifest.dpm` names no `from`: `dbpm init --next` writes a `dbpm.toml` that does)"
            ),
            PathError::NoPath { reachable, from, .. } if reachable.is_empty() => format!(
                "no edge leads anywhere from `{from}` that way; add an `UPGRADE@{from}/` folder to the version you need"
            ),
            PathError::NoPath {
                reachable,
                from,
                to,
                direction,
                ..
            } => {
                let folder = match direction {
                    Direction::Up => format!("an `UPGRADE@{from}/` folder to `{to}`"),
                    Direction::Down => format!("an `UPGRADE@{to}/` folder (and its DOWNGRADE twin) to `{from}`"),
                };
                format!(
                    "from `{from}` the edges reach {} only; add {folder}",
                    list(quoted(reachable))
                )
            }
        };
        Some(Box::new(help))
    }
}

/// The cheapest path of package `name` on `platform` from `from` to `to`.
///
/// Cheapest means fewest scripts. Among paths of the same cost, the one whose last
/// intermediate version is the highest wins, then the one before it, and so on (the choice
/// of each step's predecessor prefers the higher version); the same version pair never has
/// two edges, so this decides. The result is deterministic.
// The error is built at most once per package of a plan: its size does not matter, and its
// typed fields (the versions, what blocks the way) are what callers and messages need.
#[allow(clippy::result_large_err)]
pub fn path(
    index: &Index,
    name: &str,
    platform: Platform,
    from: &Origin,
    to: &Origin,
) -> Result<UpgradePath, PathError> {
    if from == to {
        return Ok(UpgradePath::default());
    }
    let graph = VersionGraph::new(index, name, platform);
    let start = graph.node(from).ok_or_else(|| graph.unknown(from))?;
    let end = graph.node(to).ok_or_else(|| graph.unknown(to))?;
    if start < end {
        return match graph.cheapest(start, end, |e| Some(e.scripts)) {
            Some(edges) => Ok(graph.steps_up(&edges)),
            None => Err(PathError::NoPath {
                package: name.to_owned(),
                from: from.clone(),
                to: to.clone(),
                direction: Direction::Up,
                reachable: graph.reachable(start, Outgoing, |_| true),
                missing: graph.missing(end, Incoming),
            }),
        };
    }
    // Downwards: the cheapest walk from `to` up to `from` over the edges that can be walked
    // backwards, then reversed.
    let reversible = |e: &Edge| e.irreversible.is_empty();
    if let Some(edges) =
        graph.cheapest(end, start, |e| reversible(e).then_some(e.downgrade_scripts))
    {
        return Ok(graph.steps_down(&edges));
    }
    if graph
        .cheapest(end, start, |e| Some(e.downgrade_scripts))
        .is_some()
    {
        return Err(PathError::Blocked {
            package: name.to_owned(),
            from: from.clone(),
            to: to.clone(),
            blocking: graph.blocking(end, start),
        });
    }
    Err(PathError::NoPath {
        package: name.to_owned(),
        from: from.clone(),
        to: to.clone(),
        direction: Direction::Down,
        reachable: graph.reachable(start, Incoming, reversible),
        missing: graph.missing(start, Incoming),
    })
}

/// The versions of one package and "nothing", joined by upgrade edges. Nodes are added in
/// ascending order, so a lower node index is an older version.
struct VersionGraph<'a> {
    package: &'a str,
    platform: Platform,
    graph: DiGraph<Origin, &'a Edge>,
    /// The node weights in node order, sorted: node `i` is `origins[i]`.
    origins: Vec<Origin>,
    known: Vec<Version>,
}

impl<'a> VersionGraph<'a> {
    fn new(index: &'a Index, package: &'a str, platform: Platform) -> Self {
        let mut entries: Vec<_> = index.versions(package, platform).collect();
        entries.reverse();
        let mut origins: Vec<Origin> = std::iter::once(Origin::Nothing)
            .chain(entries.iter().map(|e| Origin::Version(e.version.clone())))
            // An installed version that left the repository still starts the edges from it.
            .chain(
                entries
                    .iter()
                    .flat_map(|e| e.edges.iter().map(|edge| edge.from.clone())),
            )
            .collect();
        origins.sort();
        origins.dedup();
        let mut graph = DiGraph::with_capacity(origins.len(), origins.len() * 2);
        for origin in &origins {
            graph.add_node(origin.clone());
        }
        let mut version_graph = VersionGraph {
            package,
            platform,
            graph,
            origins,
            known: entries.iter().map(|e| e.version.clone()).collect(),
        };
        for entry in entries {
            let target = Origin::Version(entry.version.clone());
            for edge in &entry.edges {
                // An edge from a version that is not older would make a cycle; manifests
                // cannot declare one, and an index that does gets it ignored.
                if edge.from >= target {
                    continue;
                }
                if let (Some(a), Some(b)) =
                    (version_graph.node(&edge.from), version_graph.node(&target))
                {
                    version_graph.graph.add_edge(a, b, edge);
                }
            }
        }
        version_graph
    }

    fn node(&self, origin: &Origin) -> Option<NodeIndex> {
        self.origins.binary_search(origin).ok().map(NodeIndex::new)
    }

    /// The error for an origin that is not a node: a version, since "nothing" always is.
    fn unknown(&self, origin: &Origin) -> PathError {
        PathError::UnknownVersion {
            package: self.package.to_owned(),
            platform: self.platform,
            // Never 0.0.0 in practice: "nothing" is always a node.
            version: origin.version().cloned().unwrap_or(Version::new(0, 0, 0)),
            known: self.known.clone(),
        }
    }

    /// The cheapest edges from `low` up to `high`, with `cost` saying what an edge costs, or
    /// `None` when it cannot be used.
    fn cheapest(
        &self,
        low: NodeIndex,
        high: NodeIndex,
        cost: impl Fn(&Edge) -> Option<usize>,
    ) -> Option<Vec<EdgeIndex>> {
        // best[i]: the cost of reaching node low + i and the edge it is reached by.
        let span = high.index() - low.index() + 1;
        let mut best: Vec<Option<(usize, Option<EdgeIndex>)>> = vec![None; span];
        best[0] = Some((0, None));
        for offset in 1..span {
            let node = NodeIndex::new(low.index() + offset);
            let mut winner: Option<(usize, NodeIndex, EdgeIndex)> = None;
            for edge in self.graph.edges_directed(node, Incoming) {
                let source = edge.source();
                if source < low {
                    continue;
                }
                let (Some(step), Some((so_far, _))) =
                    (cost(edge.weight()), best[source.index() - low.index()])
                else {
                    continue;
                };
                let total = so_far + step;
                let better = match winner {
                    None => true,
                    Some((cost, from, _)) => total < cost || (total == cost && source > from),
                };
                if better {
                    winner = Some((total, source, edge.id()));
                }
            }
            best[offset] = winner.map(|(cost, _, edge)| (cost, Some(edge)));
        }
        let mut edges = Vec::new();
        let mut at = high;
        while at != low {
            let (_, edge) = best[at.index() - low.index()]?;
            let edge = edge?;
            edges.push(edge);
            at = self.graph.edge_endpoints(edge)?.0;
        }
        edges.reverse();
        Some(edges)
    }

    fn steps_up(&self, edges: &[EdgeIndex]) -> UpgradePath {
        let steps = edges
            .iter()
            .filter_map(|&e| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                Some(PathStep {
                    from: self.graph[a].clone(),
                    to: self.graph[b].clone(),
                    direction: Direction::Up,
                    edge_origin: self.graph[e].from.clone(),
                    scripts: self.graph[e].scripts,
                })
            })
            .collect();
        UpgradePath { steps }
    }

    fn steps_down(&self, edges: &[EdgeIndex]) -> UpgradePath {
        let steps = edges
            .iter()
            .rev()
            .filter_map(|&e| {
                let (a, b) = self.graph.edge_endpoints(e)?;
                Some(PathStep {
                    from: self.graph[b].clone(),
                    to: self.graph[a].clone(),
                    direction: Direction::Down,
                    edge_origin: self.graph[e].from.clone(),
                    scripts: self.graph[e].downgrade_scripts,
                })
            })
            .collect();
        UpgradePath { steps }
    }

    /// The irreversible scripts of the edges that lie on a way from `low` up to `high`.
    fn blocking(&self, low: NodeIndex, high: NodeIndex) -> Vec<Blocking> {
        let from_low = self.reach(low, Outgoing, |_| true);
        let to_high = self.reach(high, Incoming, |_| true);
        let mut blocking: Vec<Blocking> = self
            .graph
            .edge_references()
            .filter(|e| from_low[e.source().index()] && to_high[e.target().index()])
            .filter_map(|e| {
                let version = self.graph[e.target()].version()?.clone();
                Some(e.weight().irreversible.iter().map(move |script| Blocking {
                    version: version.clone(),
                    script: script.clone(),
                }))
            })
            .flatten()
            .collect();
        blocking.sort_by(|a, b| {
            b.version
                .cmp(&a.version)
                .then_with(|| a.script.cmp(&b.script))
        });
        blocking
    }

    /// Which nodes can be reached from `start` following edges in `direction`.
    fn reach(
        &self,
        start: NodeIndex,
        direction: petgraph::Direction,
        usable: impl Fn(&Edge) -> bool,
    ) -> Vec<bool> {
        let mut seen = vec![false; self.graph.node_count()];
        seen[start.index()] = true;
        let mut stack = vec![start];
        while let Some(node) = stack.pop() {
            for edge in self.graph.edges_directed(node, direction) {
                let next = match direction {
                    Outgoing => edge.target(),
                    Incoming => edge.source(),
                };
                if usable(edge.weight()) && !seen[next.index()] {
                    seen[next.index()] = true;
                    stack.push(next);
                }
            }
        }
        seen
    }

    /// What `start` reaches in `direction`, nearest version first, `start` left out.
    fn reachable(
        &self,
        start: NodeIndex,
        direction: petgraph::Direction,
        usable: impl Fn(&Edge) -> bool,
    ) -> Vec<Origin> {
        let seen = self.reach(start, direction, usable);
        let mut reached: Vec<NodeIndex> = self
            .graph
            .node_indices()
            .filter(|n| *n != start && seen[n.index()])
            .collect();
        if direction == Incoming {
            reached.reverse();
        }
        reached.into_iter().map(|n| self.graph[n].clone()).collect()
    }

    /// The versions reachable from `start` in `direction` that edges start from but the index
    /// does not have, lowest first.
    fn missing(&self, start: NodeIndex, direction: petgraph::Direction) -> Vec<Version> {
        let mut missing: Vec<Version> = self
            .reachable(start, direction, |_| true)
            .into_iter()
            .filter_map(|origin| origin.version().cloned())
            .filter(|version| !self.known.contains(version))
            .collect();
        missing.sort();
        missing
    }
}

fn blocking_lines(package: &str, blocking: &[Blocking]) -> String {
    let mut out = String::new();
    for b in blocking {
        let _ = write!(out, "\n  - `{package}@{}`: `{}`", b.version, b.script);
    }
    wrap(&out, WIDTH)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::testing::{index, render, v};

    fn at(version: &str) -> Origin {
        Origin::Version(v(version))
    }

    /// `(from, to, direction, edge origin, scripts)` of each step, as text.
    fn steps(path: &UpgradePath) -> Vec<String> {
        path.steps
            .iter()
            .map(|s| {
                let arrow = match s.direction {
                    Direction::Up => "↑",
                    Direction::Down => "↓",
                };
                format!(
                    "{}{arrow}{} @{} ×{}",
                    s.from, s.to, s.edge_origin, s.scripts
                )
            })
            .collect()
    }

    /// The example of the design: 1.2.0 has a shortcut from 1.0.0.
    fn core() -> Index {
        index! {
            "core" "1.0.0" edges["none 3"];
            "core" "1.1.0" edges["1.0.0 2"];
            "core" "1.2.0" edges["1.1.0 2", "1.0.0 3"];
        }
    }

    fn core_path(from: &Origin, to: &Origin) -> UpgradePath {
        path(&core(), "core", Platform::Postgres, from, to).unwrap()
    }

    #[test]
    fn a_path_to_the_same_version_is_empty() {
        let path = core_path(&at("1.1.0"), &at("1.1.0"));
        assert!(path.steps.is_empty());
        assert!(core_path(&Origin::Nothing, &Origin::Nothing)
            .steps
            .is_empty());
    }

    #[test]
    fn takes_the_cheapest_path_through_a_shortcut() {
        let fresh = core_path(&Origin::Nothing, &at("1.2.0"));
        assert_eq!(
            steps(&fresh),
            ["none↑1.0.0 @none ×3", "1.0.0↑1.2.0 @1.0.0 ×3"]
        );
        assert_eq!(fresh.scripts(), 6);
        let upgrade = core_path(&at("1.0.0"), &at("1.2.0"));
        assert_eq!(steps(&upgrade), ["1.0.0↑1.2.0 @1.0.0 ×3"]);
        let step = core_path(&at("1.0.0"), &at("1.1.0"));
        assert_eq!(steps(&step), ["1.0.0↑1.1.0 @1.0.0 ×2"]);
    }

    #[test]
    fn a_fresh_install_without_shortcut_walks_every_version() {
        let index = index! {
            "core" "1.0.0" edges["none 3"];
            "core" "1.1.0" edges["1.0.0 2"];
            "core" "1.2.0" edges["1.1.0 2"];
        };
        let path = path(
            &index,
            "core",
            Platform::Postgres,
            &Origin::Nothing,
            &at("1.2.0"),
        )
        .unwrap();
        assert_eq!(
            steps(&path),
            [
                "none↑1.0.0 @none ×3",
                "1.0.0↑1.1.0 @1.0.0 ×2",
                "1.1.0↑1.2.0 @1.1.0 ×2"
            ]
        );
    }

    #[test]
    fn downgrades_walk_edges_backwards_with_their_twins() {
        let index = index! {
            "core" "1.0.0" edges["none 3/3"];
            "core" "1.1.0" edges["1.0.0 2/1"];
            "core" "1.2.0" edges["1.1.0 2/1", "1.0.0 3/3"];
        };
        let down = path(
            &index,
            "core",
            Platform::Postgres,
            &at("1.2.0"),
            &at("1.0.0"),
        )
        .unwrap();
        // Two DOWNGRADE scripts through 1.1.0 are cheaper than three over the shortcut.
        assert_eq!(
            steps(&down),
            ["1.2.0↓1.1.0 @1.1.0 ×1", "1.1.0↓1.0.0 @1.0.0 ×1"]
        );
        let uninstall = path(
            &index,
            "core",
            Platform::Postgres,
            &at("1.1.0"),
            &Origin::Nothing,
        )
        .unwrap();
        assert_eq!(
            steps(&uninstall),
            ["1.1.0↓1.0.0 @1.0.0 ×1", "1.0.0↓none @none ×3"]
        );
    }

    #[test]
    fn downgrades_over_a_shortcut_when_it_is_cheapest() {
        let down = core_path(&at("1.2.0"), &at("1.0.0"));
        assert_eq!(steps(&down), ["1.2.0↓1.0.0 @1.0.0 ×3"]);
    }

    #[test]
    fn ties_go_to_the_higher_intermediate_version() {
        // none→1.0→1.3, none→1.1→1.3 and none→1.2→1.3 all cost 4.
        let index = index! {
            "core" "1.0.0" edges["none 2"];
            "core" "1.1.0" edges["none 2"];
            "core" "1.2.0" edges["none 2"];
            "core" "1.3.0" edges["1.0.0 2", "1.2.0 2", "1.1.0 2"];
        };
        let up = path(
            &index,
            "core",
            Platform::Postgres,
            &Origin::Nothing,
            &at("1.3.0"),
        )
        .unwrap();
        assert_eq!(steps(&up), ["none↑1.2.0 @none ×2", "1.2.0↑1.3.0 @1.2.0 ×2"]);
        let down = path(
            &index,
            "core",
            Platform::Postgres,
            &at("1.3.0"),
            &Origin::Nothing,
        )
        .unwrap();
        assert_eq!(
            steps(&down),
            ["1.3.0↓1.2.0 @1.2.0 ×2", "1.2.0↓none @none ×2"]
        );
    }

    #[test]
    fn ties_compare_the_last_intermediate_first() {
        // none→1.0→1.1→1.3 and none→1.2→1.3 cost 3 each: the last step before 1.3 decides.
        let index = index! {
            "core" "1.0.0" edges["none 1"];
            "core" "1.1.0" edges["1.0.0 1"];
            "core" "1.2.0" edges["none 2"];
            "core" "1.3.0" edges["1.1.0 1", "1.2.0 1"];
        };
        let up = path(
            &index,
            "core",
            Platform::Postgres,
            &Origin::Nothing,
            &at("1.3.0"),
        )
        .unwrap();
        assert_eq!(steps(&up), ["none↑1.2.0 @none ×2", "1.2.0↑1.3.0 @1.2.0 ×1"]);
    }

    #[test]
    fn an_irreversible_script_blocks_the_way_down() {
        let index = index! {
            "core" "1.0.0" edges["none 3"];
            "core" "1.1.0" edges["1.0.0 2 !UPGRADE/002.drop_legacy.sql"];
            "core" "1.2.0" edges["1.1.0 2", "1.0.0 3/2 !UPGRADE@1.0.0/003.drop_legacy.sql"];
        };
        let err = path(
            &index,
            "core",
            Platform::Postgres,
            &at("1.2.0"),
            &at("1.0.0"),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PathError::Blocked {
                package: "core".to_owned(),
                from: at("1.2.0"),
                to: at("1.0.0"),
                blocking: vec![
                    Blocking {
                        version: v("1.2.0"),
                        script: "UPGRADE@1.0.0/003.drop_legacy.sql".to_owned()
                    },
                    Blocking {
                        version: v("1.1.0"),
                        script: "UPGRADE/002.drop_legacy.sql".to_owned()
                    },
                ],
            }
        );
        insta::assert_snapshot!(render(&err));
        // Going up is not affected, nor going down above the blocking edges.
        assert!(path(
            &index,
            "core",
            Platform::Postgres,
            &at("1.0.0"),
            &at("1.2.0")
        )
        .is_ok());
        assert!(path(
            &index,
            "core",
            Platform::Postgres,
            &at("1.2.0"),
            &at("1.1.0")
        )
        .is_ok());
    }

    #[test]
    fn a_reversible_detour_avoids_an_irreversible_edge() {
        let index = index! {
            "core" "1.0.0" edges["none 1"];
            "core" "1.1.0" edges["1.0.0 5"];
            "core" "1.2.0" edges["1.1.0 1", "1.0.0 1 !UPGRADE@1.0.0/001.x.sql"];
        };
        let down = path(
            &index,
            "core",
            Platform::Postgres,
            &at("1.2.0"),
            &at("1.0.0"),
        )
        .unwrap();
        assert_eq!(
            steps(&down),
            ["1.2.0↓1.1.0 @1.1.0 ×1", "1.1.0↓1.0.0 @1.0.0 ×5"]
        );
    }

    #[test]
    fn says_what_is_reachable_when_no_path_exists() {
        // 2.0.0 is a new baseline: nothing leads to it from the 1.x line.
        let index = index! {
            "core" "1.0.0" edges["none 1"];
            "core" "1.1.0" edges["1.0.0 1"];
            "core" "2.0.0" edges["none 4"];
        };
        let err = path(
            &index,
            "core",
            Platform::Postgres,
            &at("1.0.0"),
            &at("2.0.0"),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PathError::NoPath {
                package: "core".to_owned(),
                from: at("1.0.0"),
                to: at("2.0.0"),
                direction: Direction::Up,
                reachable: vec![at("1.1.0")],
                missing: Vec::new(),
            }
        );
        insta::assert_snapshot!(render(&err));
        let err = path(
            &index,
            "core",
            Platform::Postgres,
            &at("2.0.0"),
            &at("1.1.0"),
        )
        .unwrap_err();
        assert!(
            matches!(&err, PathError::NoPath { direction: Direction::Down, reachable, .. } if reachable == &[Origin::Nothing]),
            "{err:?}"
        );
    }

    /// QA: two versions that both install from nothing (every version of a seed-format
    /// package, whose `manifest.dpm` names no `from`) had no way up, and the help named only
    /// a shortcut folder, not why.
    #[test]
    fn tells_a_version_to_name_what_it_upgrades_from() {
        let index = index! {
            "lapp" "1.0.0" edges["none 1"];
            "lapp" "1.1.0" edges["none 2"];
        };
        let err = path(
            &index,
            "lapp",
            Platform::Postgres,
            &at("1.0.0"),
            &at("1.1.0"),
        )
        .unwrap_err();
        insta::assert_snapshot!(render(&err));
    }

    #[test]
    fn names_the_unpublished_version_a_way_starts_from() {
        // 1.2.0 comes from 1.1.0, which was never published.
        let index = index! {
            "gap" "1.0.0" edges["none 1"];
            "gap" "1.2.0" edges["1.1.0 1"];
        };
        let err = path(
            &index,
            "gap",
            Platform::Postgres,
            &Origin::Nothing,
            &at("1.2.0"),
        )
        .unwrap_err();
        assert!(
            matches!(&err, PathError::NoPath { missing, .. } if missing == &[Version::new(1, 1, 0)]),
            "{err:?}"
        );
        assert!(render(&err).contains("starts from `1.1.0`, which the repositories do not have"));
    }

    #[test]
    fn starts_from_an_installed_version_that_left_the_repository() {
        let index = index! {
            "core" "1.0.0" edges["none 1"];
            "core" "1.1.0" edges["1.0.0 1", "0.9.0 4"];
        };
        let up = path(
            &index,
            "core",
            Platform::Postgres,
            &at("0.9.0"),
            &at("1.1.0"),
        )
        .unwrap();
        assert_eq!(steps(&up), ["0.9.0↑1.1.0 @0.9.0 ×4"]);
    }

    #[test]
    fn refuses_unknown_versions_and_platforms() {
        let err = path(
            &core(),
            "core",
            Platform::Postgres,
            &at("1.0.0"),
            &at("3.0.0"),
        )
        .unwrap_err();
        assert_eq!(
            err,
            PathError::UnknownVersion {
                package: "core".to_owned(),
                platform: Platform::Postgres,
                version: v("3.0.0"),
                known: vec![v("1.0.0"), v("1.1.0"), v("1.2.0")],
            }
        );
        let err = path(
            &core(),
            "core",
            Platform::Mysql,
            &Origin::Nothing,
            &at("1.0.0"),
        )
        .unwrap_err();
        assert!(matches!(err, PathError::UnknownVersion { known, .. } if known.is_empty()));
    }
}
