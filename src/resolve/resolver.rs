//! The resolver: which version of every wanted package, and of every prerequisite they pull
//! in, a target should have. It reads only the [`Index`], never a repository or a target.
//!
//! The search picks, package by package, the highest version on the platform that satisfies
//! every range on it (an installed version first, while it satisfies them). Before taking a
//! version it checks that each of its prerequisites still has a version in range (forward
//! checking). When a package has no version left, the search jumps back to the most recent
//! choice that took part in the conflict (conflict-directed backjumping), skipping the
//! choices that had nothing to do with it, and records why each version was refused, which
//! is what the error explains. A step budget bounds the worst case.
//!
//! A cycle among the chosen versions is an error, not something to search around: a package
//! cannot be installed before itself.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::fmt::{self, Write as _};

use miette::Diagnostic;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction::{Incoming, Outgoing};
use semver::Version;

use crate::manifest::Requirement;
use crate::package::Checksum;
use crate::platform::Platform;
use crate::repository::{Index, IndexEntry};

use super::wording::{closest, list, quoted, wrap, WIDTH};

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
}

impl fmt::Display for Asker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Asker::Release => f.write_str("the release"),
            Asker::Extra(who) => f.write_str(who),
            Asker::Package { name, version } => write!(f, "`{name}@{version}`"),
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
        /// The other ranges on it.
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
    /// Choosing it led to a dead end further on.
    Leads(Box<DeadEnd>),
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
    let mut solver = Solver::new(index, request, budget);
    solver.check_wanted()?;
    solver.solve()?;
    solver.resolution()
}

/// A package the search knows of, by position in `Solver::nodes`.
type Id = usize;

/// Where a fixed range comes from.
#[derive(Debug, Clone, Copy)]
enum Fixed<'a> {
    Release,
    Extra(&'a str),
}

#[derive(Debug)]
struct Node<'a> {
    name: &'a str,
    /// Its builds for the platform, in the order to try: the preferred one, then highest first.
    candidates: Vec<&'a IndexEntry>,
    /// Ranges from the request.
    fixed: Vec<(&'a Requirement, Fixed<'a>)>,
    /// Ranges from chosen packages (which, and the build chosen), a stack undone on
    /// backjumps.
    ranges: Vec<(Id, &'a IndexEntry, &'a Requirement)>,
    wanted: bool,
    /// The candidate chosen, and the level of that choice.
    chosen: Option<(usize, usize)>,
    /// When it became required: the order in which packages are decided.
    seq: Option<u64>,
}

/// One choice of the search.
#[derive(Debug)]
struct Frame {
    node: Id,
    /// The next candidate to try.
    next: usize,
    /// The length of `Solver::trail` before this choice added ranges.
    trail: usize,
    /// The levels of the earlier choices that refused candidates here depend on.
    conflict: BTreeSet<usize>,
    refused: Vec<Refused>,
}

struct Solver<'a> {
    index: &'a Index,
    request: &'a Request,
    nodes: Vec<Node<'a>>,
    ids: HashMap<&'a str, Id>,
    /// Required packages not chosen yet, by `seq`.
    pending: BTreeSet<(u64, Id)>,
    next_seq: u64,
    frames: Vec<Frame>,
    /// The packages that received a range, in order, so backjumps can take them off.
    trail: Vec<Id>,
    steps: usize,
    budget: usize,
}

impl<'a> Solver<'a> {
    fn new(index: &'a Index, request: &'a Request, budget: usize) -> Self {
        let mut solver = Solver {
            index,
            request,
            nodes: Vec::new(),
            ids: HashMap::new(),
            pending: BTreeSet::new(),
            next_seq: 0,
            frames: Vec::new(),
            trail: Vec::new(),
            steps: 0,
            budget,
        };
        for (name, requirement) in &request.wanted {
            let id = solver.intern(name);
            let node = &mut solver.nodes[id];
            node.wanted = true;
            node.fixed.push((requirement, Fixed::Release));
            solver.require(id);
        }
        for (name, ranges) in &request.extra {
            let id = solver.intern(name);
            for (requirement, who) in ranges {
                solver.nodes[id]
                    .fixed
                    .push((requirement, Fixed::Extra(who.as_str())));
            }
        }
        solver
    }

    fn intern(&mut self, name: &'a str) -> Id {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        let mut candidates: Vec<&IndexEntry> =
            self.index.versions(name, self.request.platform).collect();
        if let Some(preferred) = self.request.preferred.get(name) {
            if let Some(at) = candidates.iter().position(|c| &c.version == preferred) {
                candidates[..=at].rotate_right(1);
            }
        }
        let id = self.nodes.len();
        self.nodes.push(Node {
            name,
            candidates,
            fixed: Vec::new(),
            ranges: Vec::new(),
            wanted: false,
            chosen: None,
            seq: None,
        });
        self.ids.insert(name, id);
        id
    }

    /// Marks a package as required: it joins the queue of packages to decide.
    fn require(&mut self, id: Id) {
        let node = &mut self.nodes[id];
        if node.chosen.is_none() && node.seq.is_none() {
            node.seq = Some(self.next_seq);
            self.pending.insert((self.next_seq, id));
            self.next_seq += 1;
        }
    }

    /// Puts a package whose choice was undone back in the queue, in its old place.
    fn requeue(&mut self, id: Id) {
        match self.nodes[id].seq {
            Some(seq) => {
                self.pending.insert((seq, id));
            }
            None => self.require(id),
        }
    }

    /// The errors that need no search: a wanted package that is missing, not built for the
    /// platform, or whose ranges from the request leave no version.
    fn check_wanted(&self) -> Result<(), ResolveError> {
        for node in self.nodes.iter().filter(|n| n.wanted) {
            if node.candidates.is_empty() {
                return Err(self.unavailable(node.name, vec![Asker::Release]));
            }
            if !node.candidates.iter().any(|c| self.fits(node, &c.version)) {
                return Err(ResolveError::NoMatchingVersion {
                    name: node.name.to_owned(),
                    ranges: self.asked(node),
                    available: available(node),
                });
            }
        }
        Ok(())
    }

    /// The error for a package with no build for the platform.
    fn unavailable(&self, name: &str, required_by: Vec<Asker>) -> ResolveError {
        if self.index.has_package(name) {
            ResolveError::NoBuild {
                name: name.to_owned(),
                platform: self.request.platform,
                built_for: self.index.platforms_of(name),
                required_by,
            }
        } else {
            ResolveError::MissingPackage {
                name: name.to_owned(),
                required_by,
                suggestion: closest(name, self.index.names()).map(str::to_owned),
            }
        }
    }

    /// Whether `version` satisfies every range on the package.
    fn fits(&self, node: &Node<'_>, version: &Version) -> bool {
        node.fixed.iter().all(|(r, _)| r.matches(version))
            && node.ranges.iter().all(|(_, _, r)| r.matches(version))
    }

    /// The ranges on a package, with who asks.
    fn asked(&self, node: &Node<'_>) -> Vec<Asked> {
        let fixed = node.fixed.iter().map(|(requirement, from)| Asked {
            requirement: (*requirement).clone(),
            by: match from {
                Fixed::Release => Asker::Release,
                Fixed::Extra(who) => Asker::Extra((*who).to_owned()),
            },
        });
        let chosen = node.ranges.iter().map(|(_, by, requirement)| Asked {
            requirement: (*requirement).clone(),
            by: Asker::Package {
                name: by.name.clone(),
                version: by.version.clone(),
            },
        });
        fixed.chain(chosen).collect()
    }

    /// The levels of the choices that put ranges on a package.
    fn range_levels(&self, id: Id) -> impl Iterator<Item = usize> + '_ {
        self.nodes[id]
            .ranges
            .iter()
            .filter_map(|(by, _, _)| self.nodes[*by].chosen.map(|(_, level)| level))
    }

    fn solve(&mut self) -> Result<(), ResolveError> {
        while let Some((seq, id)) = self.pending.pop_first() {
            debug_assert_eq!(self.nodes[id].seq, Some(seq));
            self.frames.push(Frame {
                node: id,
                next: 0,
                trail: self.trail.len(),
                conflict: BTreeSet::new(),
                refused: Vec::new(),
            });
            let mut level = self.frames.len() - 1;
            while let Some((dead_end, conflict)) = self.choose(level)? {
                match conflict.last() {
                    Some(&target) => {
                        self.jump(target, dead_end, conflict);
                        level = target;
                    }
                    None => return Err(final_error(self.index, dead_end)),
                }
            }
        }
        Ok(())
    }

    /// Tries the candidates of the package of `level` from where it left off. Returns the
    /// dead end and its conflict set when none fits.
    fn choose(&mut self, level: usize) -> Result<Option<(DeadEnd, BTreeSet<usize>)>, ResolveError> {
        let id = self.frames[level].node;
        let mut next = self.frames[level].next;
        while let Some(&entry) = self.nodes[id].candidates.get(next) {
            next += 1;
            self.steps += 1;
            if self.steps > self.budget {
                return Err(ResolveError::TooComplex { steps: self.budget });
            }
            if !self.fits(&self.nodes[id], &entry.version) {
                continue;
            }
            match self.check(id, entry) {
                Ok(()) => {
                    self.frames[level].next = next;
                    self.take(level, id, next - 1);
                    return Ok(None);
                }
                Err((because, levels)) => {
                    let frame = &mut self.frames[level];
                    frame.refused.push(Refused {
                        version: entry.version.clone(),
                        because,
                    });
                    frame.conflict.extend(levels);
                }
            }
        }
        let mut conflict = std::mem::take(&mut self.frames[level].conflict);
        conflict.extend(self.range_levels(id));
        let dead_end = DeadEnd {
            package: self.nodes[id].name.to_owned(),
            ranges: self.asked(&self.nodes[id]),
            refused: std::mem::take(&mut self.frames[level].refused),
        };
        self.frames.truncate(level);
        self.requeue(id);
        Ok(Some((dead_end, conflict)))
    }

    /// Whether the prerequisites of `entry` can still be met; if not, why, and the levels of
    /// the choices that this depends on.
    fn check(&mut self, id: Id, entry: &'a IndexEntry) -> Result<(), (Because, Vec<usize>)> {
        for (name, requirement) in &entry.prerequisites {
            let prerequisite = self.intern(name);
            let node = &self.nodes[prerequisite];
            if prerequisite == id {
                // A package that requires itself is a cycle, reported once resolved.
                if requirement.matches(&entry.version) {
                    continue;
                }
                return Err((
                    self.chosen_clash(name, requirement, &entry.version),
                    Vec::new(),
                ));
            }
            if node.candidates.is_empty() {
                let because = if self.index.has_package(name) {
                    Because::NoBuild {
                        prerequisite: name.clone(),
                        platform: self.request.platform,
                        built_for: self.index.platforms_of(name),
                    }
                } else {
                    Because::Missing {
                        prerequisite: name.clone(),
                    }
                };
                return Err((because, Vec::new()));
            }
            let chosen = node
                .chosen
                .map(|(c, level)| (&node.candidates[c].version, level));
            if chosen.is_some_and(|(version, _)| requirement.matches(version)) {
                continue;
            }
            let fits_too =
                |c: &&IndexEntry| requirement.matches(&c.version) && self.fits(node, &c.version);
            if !node.candidates.iter().any(fits_too) {
                // Whatever the choice of the prerequisite, the ranges that the request and
                // the chosen packages put on it exclude this version.
                let because = Because::Clash {
                    prerequisite: name.clone(),
                    requirement: requirement.clone(),
                    ranges: self.asked(node),
                    available: available(node),
                };
                return Err((because, self.range_levels(prerequisite).collect()));
            }
            if let Some((version, level)) = chosen {
                // Another choice of the prerequisite would do.
                return Err((self.chosen_clash(name, requirement, version), vec![level]));
            }
        }
        Ok(())
    }

    fn chosen_clash(&self, name: &str, requirement: &Requirement, chosen: &Version) -> Because {
        Because::Chosen {
            prerequisite: name.to_owned(),
            requirement: requirement.clone(),
            chosen: chosen.clone(),
        }
    }

    /// Chooses candidate `candidate` of package `id` at `level`, putting its ranges on its
    /// prerequisites.
    fn take(&mut self, level: usize, id: Id, candidate: usize) {
        self.nodes[id].chosen = Some((candidate, level));
        let entry = self.nodes[id].candidates[candidate];
        for (name, requirement) in &entry.prerequisites {
            let prerequisite = self.intern(name);
            self.nodes[prerequisite]
                .ranges
                .push((id, entry, requirement));
            self.trail.push(prerequisite);
            self.require(prerequisite);
        }
    }

    /// Takes back the ranges that choices after `mark` put on other packages.
    fn untrail(&mut self, mark: usize) {
        while self.trail.len() > mark {
            let Some(id) = self.trail.pop() else { break };
            let node = &mut self.nodes[id];
            node.ranges.pop();
            if node.ranges.is_empty() && !node.wanted && node.chosen.is_none() {
                if let Some(seq) = node.seq.take() {
                    self.pending.remove(&(seq, id));
                }
            }
        }
    }

    /// Undoes every choice after `target` and the choice at `target`, which will try its
    /// next candidate, remembering why this one failed.
    fn jump(&mut self, target: usize, dead_end: DeadEnd, mut conflict: BTreeSet<usize>) {
        while self.frames.len() > target + 1 {
            let Some(frame) = self.frames.pop() else {
                break;
            };
            self.nodes[frame.node].chosen = None;
            self.untrail(frame.trail);
            self.requeue(frame.node);
        }
        let (id, mark) = (self.frames[target].node, self.frames[target].trail);
        let taken = self.nodes[id].chosen.take();
        self.untrail(mark);
        conflict.remove(&target);
        let frame = &mut self.frames[target];
        frame.conflict.extend(conflict);
        // A conflict only names levels that chose a version.
        if let Some((candidate, _)) = taken {
            frame.refused.push(Refused {
                version: self.nodes[id].candidates[candidate].version.clone(),
                because: Because::Leads(Box::new(dead_end)),
            });
        }
    }

    fn resolution(&self) -> Result<Resolution, ResolveError> {
        let mut packages = BTreeMap::new();
        let mut chosen: BTreeMap<&str, &IndexEntry> = BTreeMap::new();
        for node in &self.nodes {
            let Some((c, _)) = node.chosen else { continue };
            let entry = node.candidates[c];
            chosen.insert(node.name, entry);
            packages.insert(
                node.name.to_owned(),
                Resolved {
                    version: entry.version.clone(),
                    checksum: entry.checksum.clone(),
                    wanted: node.wanted,
                    required_by: node
                        .ranges
                        .iter()
                        .map(|(_, by, _)| by.name.clone())
                        .collect(),
                },
            );
        }
        let order = install_order(&chosen)?;
        Ok(Resolution { packages, order })
    }
}

/// The versions of a package on the platform, lowest first.
fn available(node: &Node<'_>) -> Vec<Version> {
    let mut versions: Vec<Version> = node.candidates.iter().map(|c| c.version.clone()).collect();
    versions.sort();
    versions
}

/// Prerequisites first, ties in name order; a cycle is an error.
fn install_order(chosen: &BTreeMap<&str, &IndexEntry>) -> Result<Vec<String>, ResolveError> {
    // Nodes are added in name order, so a smaller index is a smaller name. An edge goes
    // from a package to each of its prerequisites.
    let mut graph: DiGraph<&str, ()> = DiGraph::with_capacity(chosen.len(), chosen.len() * 3);
    let nodes: HashMap<&str, NodeIndex> = chosen
        .keys()
        .map(|name| (*name, graph.add_node(*name)))
        .collect();
    for (name, entry) in chosen {
        for prerequisite in entry.prerequisites.keys() {
            if let Some(&to) = nodes.get(prerequisite.as_str()) {
                graph.add_edge(nodes[name], to, ());
            }
        }
    }
    let mut waiting: Vec<usize> = graph
        .node_indices()
        .map(|n| graph.neighbors_directed(n, Outgoing).count())
        .collect();
    let mut ready: BinaryHeap<Reverse<NodeIndex>> = graph
        .node_indices()
        .filter(|n| waiting[n.index()] == 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::with_capacity(chosen.len());
    while let Some(Reverse(node)) = ready.pop() {
        order.push(graph[node].to_owned());
        for dependent in graph.neighbors_directed(node, Incoming) {
            waiting[dependent.index()] -= 1;
            if waiting[dependent.index()] == 0 {
                ready.push(Reverse(dependent));
            }
        }
    }
    if order.len() == chosen.len() {
        return Ok(order);
    }
    let path = find_cycle(&graph)
        .into_iter()
        .map(|n| (graph[n].to_owned(), chosen[graph[n]].version.clone()))
        .collect();
    Err(ResolveError::Cycle { path })
}

/// The shortest cycle through the first (by name) package that is on one, its first node
/// repeated at the end.
fn find_cycle(graph: &DiGraph<&str, ()>) -> Vec<NodeIndex> {
    let components = petgraph::algo::tarjan_scc(graph);
    let Some(start) = components
        .iter()
        .filter(|c| c.len() > 1 || graph.contains_edge(c[0], c[0]))
        .filter_map(|c| c.iter().min().copied())
        .min()
    else {
        return Vec::new();
    };
    // Breadth-first from `start` back to it, neighbours in name order.
    let mut previous: HashMap<NodeIndex, NodeIndex> = HashMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(node) = queue.pop_front() {
        let mut next: Vec<NodeIndex> = graph.neighbors_directed(node, Outgoing).collect();
        next.sort();
        for neighbour in next {
            if neighbour == start {
                let mut path = vec![start, node];
                let mut at = node;
                while at != start {
                    at = previous[&at];
                    path.push(at);
                }
                path.reverse();
                return path;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = previous.entry(neighbour) {
                slot.insert(node);
                queue.push_back(neighbour);
            }
        }
    }
    Vec::new()
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
    let mut out = format!(
        "no version of `{}` within {} works",
        dead_end.package,
        list(&dead_end.ranges)
    );
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
    fn conflict_with_the_release_alone_needs_no_nesting() {
        let index = billing_and_reporting();
        let err = resolve(&index, &release(&[("core", "^2"), ("reporting", "*")])).unwrap_err();
        let ResolveError::Conflict { dead_end } = &err else {
            panic!("expected a conflict, got {err:?}");
        };
        assert_eq!(dead_end.package, "reporting");
        assert!(dead_end
            .refused
            .iter()
            .all(|r| matches!(r.because, Because::Clash { .. })));
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

    /// Every `pN` (N ≥ 1) has two versions, `p(N-1) ^1` and `p(N-1) ^2`... and the last
    /// package refuses everything: without a budget the search would try 2^N combinations.
    fn exponential(n: usize) -> Index {
        let mut entries = Vec::new();
        for i in 0..n {
            for major in 1..=2 {
                let requires: Vec<(String, String)> =
                    (0..i).map(|j| (format!("p{j}"), "*".to_owned())).collect();
                let requires: Vec<(&str, &str)> = requires
                    .iter()
                    .map(|(a, b)| (a.as_str(), b.as_str()))
                    .collect();
                entries.extend(crate::resolve::testing::entries(
                    &format!("p{i}"),
                    &format!("{major}.0.0"),
                    &[],
                    &requires,
                    &[],
                ));
            }
        }
        entries.extend(crate::resolve::testing::entries(
            "sink",
            "1.0.0",
            &[],
            &[("p0", "^3")],
            &[],
        ));
        entries.into_iter().collect()
    }

    #[test]
    fn gives_up_after_the_step_budget() {
        let index = exponential(3);
        let mut request = release(&[("p2", "*"), ("sink", "*")]);
        request.wanted.insert("p1".to_owned(), req("*"));
        let err = resolve_within(&index, &request, 3).unwrap_err();
        assert_eq!(err, ResolveError::TooComplex { steps: 3 });
        assert!(matches!(
            resolve(&index, &request).unwrap_err(),
            ResolveError::Conflict { .. } | ResolveError::NoMatchingVersion { .. }
        ));
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
