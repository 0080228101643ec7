//! The search behind [`resolve`](super::resolve): packages are decided one at a time, the
//! packages that may require one before it; each takes the first of its candidates (the
//! installed version, then the highest) that its prerequisites allow; a dead end jumps back
//! to the latest choice that caused it and is remembered as a nogood.
//!
//! Before the search, [`Solver::propagate`] narrows the packages that every solution has
//! by what all their possible versions require, and during it [`Solver::look_ahead`] rules
//! out versions whose prerequisites cannot be met at all: both turn conflicts that would be
//! found, and undone, thousands of choices later into refusals on the spot.
//!
//! Nothing here is public: the answer and the errors are the parent module's types, and
//! nothing is kept from one resolution to the next.

use std::cell::OnceCell;
use std::cmp::Reverse;
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::Direction::{Incoming, Outgoing};
use semver::Version;

use crate::manifest::Requirement;
use crate::repository::{Index, IndexEntry};

use super::candidates::{words, Candidates};
use super::{
    final_error, Asked, Asker, Because, DeadEnd, Refused, Request, Resolution, ResolveError,
    Resolved,
};
use crate::resolve::wording::closest;

/// Resolves `request`, considering at most `budget` candidates.
pub(super) fn solve(
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

/// FxHash, as in rustc, with a finaliser that mixes the high bits down: much faster than the
/// default SipHash on short keys. The keys are package names from the index and the
/// request, so there is no attacker to resist.
#[derive(Default)]
struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            for (byte, &b) in word.iter_mut().zip(rest) {
                *byte = b;
            }
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        // The multiplications only carry upwards, and names that share their first bytes
        // would share the low bits that pick a bucket: mix the high bits down (the
        // finaliser of MurmurHash3).
        let mut hash = self.0 ^ (self.0 >> 33);
        hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
        hash ^ (hash >> 33)
    }
}

/// Where a fixed range comes from.
#[derive(Debug, Clone, Copy)]
enum Fixed<'a> {
    Release,
    Extra(&'a str),
    /// Implied, before the search, by a package that any solution has.
    Needed(&'a str),
}

/// A range that one candidate puts on a prerequisite.
#[derive(Debug)]
struct Require<'a> {
    /// The prerequisite.
    on: Id,
    requirement: &'a Requirement,
    /// The candidates of the prerequisite within the range, computed when first needed:
    /// the search then works on bits instead of matching versions again and again.
    within: OnceCell<Candidates>,
}

/// Where a range on a package comes from: candidate `candidate` of package `by`, through
/// `Solver::requires[at]`.
#[derive(Debug, Clone, Copy)]
struct From {
    by: Id,
    candidate: usize,
    at: usize,
}

#[derive(Debug)]
struct Node<'a> {
    name: &'a str,
    /// Its builds for the platform, in the order to try: the preferred one, then highest first.
    candidates: Vec<&'a IndexEntry>,
    /// Their versions, side by side: ranges are matched against them over and over, and
    /// the entries are spread over the index.
    versions: Vec<Version>,
    /// Where the versions go strictly downwards to the end, none a pre-release (after the
    /// preferred one, when it was moved to the front); `None` when they do not. A range then
    /// matches a block of them: see [`Solver::within`].
    ordered_from: Option<usize>,
    /// Where the prerequisites of each candidate are in `Solver::requires`: read from the
    /// index when first needed, as the search mostly looks at one or two versions.
    requires: Vec<Option<(usize, usize)>>,
    /// Ranges from the request.
    fixed: Vec<(Requirement, Fixed<'a>)>,
    /// Ranges from chosen packages, a stack undone on backjumps; the levels of the choices
    /// that put them there increase along it.
    ranges: Vec<From>,
    /// The candidates within every range: one bitset of `words` words for the request's
    /// ranges, then one more for each entry of `ranges`.
    allowed: Vec<u64>,
    words: usize,
    wanted: bool,
    /// Its place in the order of decisions; the packages that may require it come first.
    rank: usize,
    /// Whether it waits in `Solver::pending`.
    queued: bool,
    /// Whether every solution has it (see `Solver::propagate`).
    certain: bool,
    /// The candidate chosen, and the level of that choice.
    chosen: Option<(usize, usize)>,
    /// The nogoods that name one of its candidates: (candidate, nogood).
    nogoods: Vec<(usize, usize)>,
    /// Candidates that no solution can have, whatever the choices: a prerequisite's fixed
    /// ranges leave none of its versions. Found by looking ahead, with why; taken out of
    /// `allowed` at every level, as if the request had ruled them out.
    unusable: Vec<(usize, Because)>,
    /// The candidates looked ahead at.
    settled: Vec<bool>,
}

impl Node<'_> {
    /// The candidates within every range so far.
    fn current(&self) -> &[u64] {
        &self.allowed[self.allowed.len() - self.words..]
    }

    /// Whether candidate `c` is within every range on the package.
    fn allows(&self, c: usize) -> bool {
        self.current()[c / 64] & (1 << (c % 64)) != 0
    }

    /// Whether some candidate within every range is also within `within`.
    fn allows_any(&self, within: &Candidates) -> bool {
        self.current()
            .iter()
            .zip(within.words())
            .any(|(allowed, within)| allowed & within != 0)
    }

    /// Narrows the fixed ranges to `within`, before the search.
    fn narrow_to(&mut self, within: &Candidates) {
        for (allowed, within) in self.allowed.iter_mut().zip(within.words()) {
            *allowed &= within;
        }
    }

    /// Narrows the fixed ranges by `requirement`, before the search.
    fn narrow(&mut self, requirement: &Requirement) {
        for c in 0..self.candidates.len() {
            if !requirement.matches(&self.versions[c]) {
                self.allowed[c / 64] &= !(1 << (c % 64));
            }
        }
    }

    /// Adds a range from a chosen package, which allows `within`.
    fn push(&mut self, from: From, within: &Candidates) {
        self.ranges.push(from);
        let start = self.allowed.len() - self.words;
        self.allowed.extend_from_within(start..);
        for (allowed, within) in self.allowed[start + self.words..]
            .iter_mut()
            .zip(within.words())
        {
            *allowed &= within;
        }
    }

    /// Takes candidate `c` out at every level: no solution can have it.
    fn exclude(&mut self, c: usize) {
        for level in self.allowed.chunks_mut(self.words) {
            level[c / 64] &= !(1 << (c % 64));
        }
    }

    /// Takes off the last range added.
    fn pop(&mut self) {
        self.ranges.pop();
        self.allowed.truncate(self.allowed.len() - self.words);
    }

    /// The earliest range (its position in `ranges`) that leaves out candidate `c`, when
    /// the request's ranges do not.
    fn excluder(&self, c: usize) -> Option<usize> {
        let bit = |stack: usize| self.allowed[stack * self.words + c / 64] & (1 << (c % 64)) != 0;
        if !bit(0) {
            return None;
        }
        (0..self.ranges.len()).find(|&at| !bit(at + 1))
    }
}

/// Why a dead end happened, in terms of earlier choices: for each level, the candidates of
/// its package that would lead to the same dead end (the one chosen among them). Choosing
/// within these sets at every level, the dead end comes back; so the search jumps back to
/// the latest of these levels, and remembers the whole as a [`Nogood`].
type Conflict = BTreeMap<usize, Candidates>;

/// Adds one reason to a conflict: at `level`, any of `candidates` (and the other reasons).
fn blame(conflict: &mut Conflict, level: usize, candidates: Candidates) {
    match conflict.entry(level) {
        Entry::Occupied(mut entry) => entry.get_mut().intersect(&candidates),
        Entry::Vacant(entry) => {
            entry.insert(candidates);
        }
    }
}

/// Choices that cannot stand together, learnt from a dead end, so that the search never
/// walks into the same dead end twice: each package chosen within its candidates.
#[derive(Debug)]
struct Nogood {
    members: Vec<(Id, Candidates)>,
    /// What these choices lead to.
    dead_end: Arc<DeadEnd>,
}

/// One choice of the search.
#[derive(Debug)]
struct Frame {
    node: Id,
    /// The next candidate to try.
    next: usize,
    /// The length of `Solver::trail` before this choice added ranges.
    trail: usize,
    /// Why the candidates refused so far were refused.
    conflict: Conflict,
    refused: Vec<Refused>,
}

/// A reason to refuse a candidate, and the choices it depends on.
type Refusal = (Because, Vec<(usize, Candidates)>);

struct Solver<'a> {
    index: &'a Index,
    request: &'a Request,
    nodes: Vec<Node<'a>>,
    /// Package ids by name.
    ids: HashMap<&'a str, Id, BuildHasherDefault<FxHasher>>,
    /// Required packages not chosen yet, by `rank`.
    pending: BTreeSet<(usize, Id)>,
    frames: Vec<Frame>,
    /// The packages that received a range, in order, so backjumps can take them off.
    trail: Vec<Id>,
    nogoods: Vec<Nogood>,
    /// The prerequisites of the candidates read so far, one after the other.
    requires: Vec<Require<'a>>,
    /// A list reused to collect the versions of a package.
    scratch: Vec<&'a IndexEntry>,
    steps: usize,
    budget: usize,
}

impl<'a> Solver<'a> {
    fn new(index: &'a Index, request: &'a Request, budget: usize) -> Self {
        let mut solver = Solver {
            index,
            request,
            nodes: Vec::new(),
            ids: HashMap::default(),
            pending: BTreeSet::new(),
            frames: Vec::new(),
            trail: Vec::new(),
            nogoods: Vec::new(),
            requires: Vec::new(),
            scratch: Vec::new(),
            steps: 0,
            budget,
        };
        for (name, requirement) in &request.wanted {
            let id = solver.intern(name);
            let node = &mut solver.nodes[id];
            node.wanted = true;
            // A range the request also gives with its reason (a kept package's) is that
            // reason's, not the release's: a conflict names it once.
            let explained = (request.extra.get(name))
                .is_some_and(|ranges| ranges.iter().any(|(range, _)| range == requirement));
            if !explained {
                node.fixed.push((requirement.clone(), Fixed::Release));
            }
            node.narrow(requirement);
        }
        for (name, ranges) in &request.extra {
            let id = solver.intern(name);
            for (requirement, who) in ranges {
                let node = &mut solver.nodes[id];
                node.fixed
                    .push((requirement.clone(), Fixed::Extra(who.as_str())));
                node.narrow(requirement);
            }
        }
        solver.explore();
        solver.propagate();
        for id in 0..solver.nodes.len() {
            if solver.nodes[id].wanted {
                solver.require(id);
            }
        }
        solver
    }

    fn intern(&mut self, name: &'a str) -> Id {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        // Collected once into a scratch list, then copied at its exact size: the index
        // does not say how many versions a package has.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        scratch.extend(self.index.versions(name, self.request.platform));
        let mut candidates = scratch.clone();
        self.scratch = scratch;
        let mut moved = false;
        if let Some(preferred) = self.request.preferred.get(name) {
            if let Some(at) = candidates.iter().position(|c| &c.version == preferred) {
                candidates[..=at].rotate_right(1);
                moved = at > 0;
            }
        }
        let id = self.nodes.len();
        let requires = vec![None; candidates.len()];
        let versions: Vec<Version> = candidates.iter().map(|c| c.version.clone()).collect();
        let from = usize::from(moved);
        let ordered = versions.iter().all(|v| v.pre.is_empty())
            && versions[from.min(versions.len())..]
                .windows(2)
                .all(|pair| pair[0] > pair[1]);
        let ordered_from = ordered.then_some(from);
        let words = words(candidates.len());
        // Room for the request's ranges and a few more from chosen packages, which most
        // packages get: growing the stacks one range at a time costs more.
        let mut allowed = Vec::with_capacity(words * 4);
        allowed.extend(Candidates::matching(candidates.len(), |_| true).words());
        self.nodes.push(Node {
            name,
            words,
            allowed,
            candidates,
            versions,
            ordered_from,
            requires,
            fixed: Vec::new(),
            ranges: Vec::with_capacity(3),
            wanted: false,
            rank: self.nodes.len(),
            queued: false,
            certain: false,
            chosen: None,
            nogoods: Vec::new(),
            unusable: Vec::new(),
            settled: Vec::new(),
        });
        self.ids.insert(name, id);
        id
    }

    /// The prerequisites of candidate `c` of package `id`; none until [`Solver::load`]
    /// read them, which the search does before it looks at a candidate. Where a candidate
    /// that was not read is taken for one without prerequisites, it only makes a nogood
    /// cover fewer candidates.
    fn requires_of(&self, id: Id, c: usize) -> &[Require<'a>] {
        match self.nodes[id].requires.get(c) {
            Some(&Some((start, end))) => &self.requires[start..end],
            _ => &[],
        }
    }

    /// Reads the prerequisites of candidate `c` of package `id`, learning the packages they
    /// name. A package learnt during the search is decided after the ones known before.
    fn load(&mut self, id: Id, c: usize) {
        if self.nodes[id].requires.get(c).is_none_or(Option::is_some) {
            return;
        }
        let entry = self.nodes[id].candidates[c];
        // Versions of a package mostly share their prerequisites: a version read before
        // (whose names are likely still in the cache) is looked at before a name is hashed.
        let neighbour =
            c.checked_sub(1)
                .into_iter()
                .chain(Some(c + 1))
                .find_map(|other| match self.nodes[id].requires.get(other) {
                    Some(&Some(span)) => Some((other, span)),
                    _ => None,
                });
        let start = self.requires.len();
        for (k, (name, requirement)) in entry.prerequisites.iter().enumerate() {
            let known = neighbour.and_then(|(other, (from, to))| {
                let same = self.nodes[id].candidates[other]
                    .prerequisites
                    .keys()
                    .nth(k)?;
                (from + k < to && same == name).then(|| self.requires[from + k].on)
            });
            let on = match known {
                Some(on) => on,
                None => self.intern(name),
            };
            self.requires.push(Require {
                on,
                requirement,
                within: OnceCell::new(),
            });
        }
        self.nodes[id].requires[c] = Some((start, self.requires.len()));
    }

    /// Learns the packages that the highest (or preferred) versions of the known ones
    /// require, and orders the decisions: a package is decided after every package that may
    /// require it (requirers first along a topological order; in a cycle, by name). So a
    /// version is chosen once the ranges on it are known, which spares most backjumps.
    fn explore(&mut self) {
        let mut id = 0;
        while id < self.nodes.len() {
            if !self.nodes[id].candidates.is_empty() {
                self.load(id, 0);
            }
            id += 1;
        }
        let mut graph: DiGraph<(), ()> =
            DiGraph::with_capacity(self.nodes.len(), self.nodes.len() * 3);
        for _ in &self.nodes {
            graph.add_node(());
        }
        for id in 0..self.nodes.len() {
            for require in self.requires_of(id, 0) {
                graph.add_edge(NodeIndex::new(id), NodeIndex::new(require.on), ());
            }
        }
        // Edges go from a requirer to its prerequisite: a topological order puts requirers
        // first. Kahn's, taking the package learnt first among those ready (the wanted
        // ones in name order, then the others as found), so independent packages keep the
        // order of the release.
        let mut waiting: Vec<usize> = graph
            .node_indices()
            .map(|n| graph.neighbors_directed(n, Incoming).count())
            .collect();
        let mut ready: BinaryHeap<Reverse<NodeIndex>> = graph
            .node_indices()
            .filter(|n| waiting[n.index()] == 0)
            .map(Reverse)
            .collect();
        let mut rank = 0;
        while let Some(Reverse(n)) = ready.pop() {
            self.nodes[n.index()].rank = rank;
            rank += 1;
            for next in graph.neighbors_directed(n, Outgoing) {
                waiting[next.index()] -= 1;
                if waiting[next.index()] == 0 {
                    ready.push(Reverse(next));
                }
            }
        }
        if rank == self.nodes.len() {
            return;
        }
        // Packages that may require each other: the strongly connected components come
        // prerequisites first; reversed, requirers first, and by name within one.
        let mut rank = 0;
        for mut component in petgraph::algo::kosaraju_scc(&graph).into_iter().rev() {
            component.sort_by_key(|n| self.nodes[n.index()].name);
            for n in component {
                self.nodes[n.index()].rank = rank;
                rank += 1;
            }
        }
    }

    /// Narrows, before the search, the packages that every solution has: the wanted ones,
    /// and the prerequisites that every version they can take requires. Whatever version
    /// such a package gets, its prerequisite gets one within the union of their ranges; when
    /// that union is what one range says, it becomes a fixed range on the prerequisite. So
    /// a choice elsewhere that contradicts it is refused at once, instead of being found
    /// out, and undone, many choices later.
    fn propagate(&mut self) {
        let mut work: Vec<Id> = (0..self.nodes.len())
            .filter(|&id| self.nodes[id].wanted)
            .collect();
        for &id in &work {
            self.nodes[id].certain = true;
        }
        // Lists reused from one package to the next.
        let mut allowed: Vec<usize> = Vec::new();
        let mut apart: Vec<Id> = Vec::new();
        let mut ranges: Vec<usize> = Vec::new();
        let mut narrowed: Vec<(Id, Candidates, Requirement)> = Vec::new();
        let mut needed: Vec<Id> = Vec::new();
        while let Some(id) = work.pop() {
            let count = self.nodes[id].candidates.len();
            allowed.clear();
            allowed.extend((0..count).filter(|&c| self.nodes[id].allows(c)));
            let versions = &self.nodes[id].versions;
            let (Some(&highest), Some(&lowest)) = (
                allowed.iter().max_by_key(|&&c| &versions[c]),
                allowed.iter().min_by_key(|&&c| &versions[c]),
            ) else {
                continue;
            };
            // When the highest and the lowest version have ranges on a prerequisite that
            // share no version (major lines, typically), their union is seldom one range:
            // reading every version would cost more than it tells.
            self.load(id, highest);
            self.load(id, lowest);
            apart.clear();
            for high in self.requires_of(id, highest) {
                let target = &self.nodes[high.on].versions;
                let disjoint = self.requires_of(id, lowest).iter().any(|low| {
                    low.on == high.on
                        && !self
                            .within(high)
                            .iter()
                            .any(|c| low.requirement.matches(&target[c]))
                });
                if disjoint {
                    apart.push(high.on);
                }
            }
            if apart.len() == self.requires_of(id, highest).len() {
                continue;
            }
            for &c in &allowed {
                self.load(id, c);
            }
            narrowed.clear();
            needed.clear();
            for require in self.requires_of(id, highest) {
                let on = require.on;
                if on == id || apart.contains(&on) {
                    continue;
                }
                let target = &self.nodes[on];
                let mut union = Candidates::matching(target.candidates.len(), |_| false);
                // Each distinct range once (by position in `requires`): the same range
                // again adds nothing.
                ranges.clear();
                let mut everywhere = true;
                for &c in &allowed {
                    let Some((start, end)) = self.nodes[id].requires[c] else {
                        everywhere = false;
                        break;
                    };
                    let Some(at) = (start..end).find(|&at| self.requires[at].on == on) else {
                        everywhere = false;
                        break;
                    };
                    let r = &self.requires[at];
                    let seen = ranges
                        .iter()
                        .any(|&known| self.requires[known].requirement == r.requirement);
                    if !seen {
                        union.unite(self.within(r));
                        ranges.push(at);
                    }
                }
                if !everywhere {
                    continue;
                }
                needed.push(on);
                let base = Candidates::from_words(&target.allowed[..target.words]);
                if base.is_within(&union) {
                    continue;
                }
                // The union, said as one range: when one of the ranges says it exactly.
                let exact = ranges
                    .iter()
                    .map(|&at| &self.requires[at])
                    .find(|r| *self.within(r) == union);
                if let Some(r) = exact {
                    narrowed.push((on, union, r.requirement.clone()));
                }
            }
            let name = self.nodes[id].name;
            for (on, union, requirement) in narrowed.drain(..) {
                let target = &mut self.nodes[on];
                target.narrow_to(&union);
                target.fixed.push((requirement, Fixed::Needed(name)));
                target.certain = true;
                work.push(on);
            }
            for &on in &needed {
                if !self.nodes[on].certain {
                    self.nodes[on].certain = true;
                    work.push(on);
                }
            }
        }
    }

    /// The candidates of the prerequisite within a range.
    ///
    /// A semver range is an interval of the versions that are not pre-releases (each of its
    /// comparators is one), so over versions in strictly decreasing order it matches one
    /// block: the scan stops at the first version below the block.
    fn within<'r>(&self, require: &'r Require<'_>) -> &'r Candidates {
        require.within.get_or_init(|| {
            let node = &self.nodes[require.on];
            let matches = |c: usize| require.requirement.matches(&node.versions[c]);
            let Some(from) = node.ordered_from else {
                return Candidates::matching(node.candidates.len(), matches);
            };
            let mut within =
                Candidates::matching(node.candidates.len(), |c| c < from && matches(c));
            let mut inside = false;
            for c in from..node.candidates.len() {
                if matches(c) {
                    within.insert(c);
                    inside = true;
                } else if inside {
                    break;
                }
            }
            within
        })
    }

    fn require_of(&self, from: From) -> &Require<'a> {
        &self.requires[from.at]
    }

    /// Marks a package as required (or its choice as undone): it waits to be decided.
    fn require(&mut self, id: Id) {
        let node = &mut self.nodes[id];
        if node.chosen.is_none() && !node.queued {
            node.queued = true;
            self.pending.insert((node.rank, id));
        }
    }

    /// The errors that need no search: a wanted package that is missing, not built for the
    /// platform, or whose ranges from the request leave no version.
    fn check_wanted(&self) -> Result<(), ResolveError> {
        for node in self.nodes.iter().filter(|n| n.wanted) {
            if node.candidates.is_empty() {
                return Err(self.unavailable(node.name, vec![Asker::Release]));
            }
            if !(0..node.candidates.len()).any(|c| node.allows(c)) {
                return Err(ResolveError::NoMatchingVersion {
                    name: node.name.to_owned(),
                    ranges: fixed_asked(node),
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

    /// A range on a package and who asks for it.
    fn asked(&self, from: From) -> Asked {
        let by = self.nodes[from.by].candidates[from.candidate];
        Asked {
            requirement: self.require_of(from).requirement.clone(),
            by: Asker::Package {
                name: by.name.clone(),
                version: by.version.clone(),
            },
        }
    }

    /// The level of the choice of a package, which is chosen.
    fn level(&self, id: Id) -> usize {
        self.nodes[id].chosen.map_or(0, |(_, level)| level)
    }

    /// The candidates of `requirer` whose range on `id`, if they have one, allows only
    /// candidates of `id` within `limit`.
    fn narrower(&self, requirer: Id, id: Id, limit: &Candidates) -> Candidates {
        self.requirers_of(requirer, id, |within| within.is_within(limit))
    }

    /// The candidates of `requirer` that have a range on `id` whose candidates satisfy `keep`.
    fn requirers_of(&self, requirer: Id, id: Id, keep: impl Fn(&Candidates) -> bool) -> Candidates {
        let node = &self.nodes[requirer];
        Candidates::matching(node.candidates.len(), |c| {
            self.requires_of(requirer, c)
                .iter()
                .any(|r| r.on == id && keep(self.within(r)))
        })
    }

    fn solve(&mut self) -> Result<(), ResolveError> {
        while let Some((_, id)) = self.pending.pop_first() {
            self.nodes[id].queued = false;
            self.frames.push(Frame {
                node: id,
                next: 0,
                trail: self.trail.len(),
                conflict: Conflict::new(),
                refused: Vec::new(),
            });
            let mut level = self.frames.len() - 1;
            while let Some((dead_end, conflict)) = self.choose(level)? {
                let Some(&target) = conflict.keys().next_back() else {
                    return Err(final_error(self.index, dead_end));
                };
                let dead_end = Arc::new(dead_end);
                self.learn(&conflict, &dead_end);
                self.jump(target, dead_end, conflict);
                level = target;
            }
        }
        Ok(())
    }

    /// Tries the candidates of the package of `level` from where it left off. Returns the
    /// dead end and its conflict when none fits.
    fn choose(&mut self, level: usize) -> Result<Option<(DeadEnd, Conflict)>, ResolveError> {
        let id = self.frames[level].node;
        let mut next = self.frames[level].next;
        while next < self.nodes[id].candidates.len() {
            let candidate = next;
            next += 1;
            self.steps += 1;
            if self.steps > self.budget {
                return Err(ResolveError::TooComplex { steps: self.budget });
            }
            if !self.nodes[id].allows(candidate) {
                continue;
            }
            self.load(id, candidate);
            self.look_ahead(id, candidate);
            let refusal = match self.forbidden(id, candidate) {
                Some(refusal) => Some(refusal),
                None => self.check(id, candidate).err(),
            };
            let Some((because, reasons)) = refusal else {
                self.frames[level].next = next;
                self.take(level, id, candidate);
                return Ok(None);
            };
            let version = self.nodes[id].candidates[candidate].version.clone();
            let frame = &mut self.frames[level];
            frame.refused.push(Refused { version, because });
            for (at, candidates) in reasons {
                blame(&mut frame.conflict, at, candidates);
            }
        }
        let mut conflict = std::mem::take(&mut self.frames[level].conflict);
        let ranges = self.blame_ranges(id, &mut conflict);
        let mut refused = std::mem::take(&mut self.frames[level].refused);
        let node = &self.nodes[id];
        let within_fixed = |c: usize| node.fixed.iter().all(|(r, _)| r.matches(&node.versions[c]));
        refused.extend(node.unusable.iter().filter(|(c, _)| within_fixed(*c)).map(
            |(c, because)| Refused {
                version: node.versions[*c].clone(),
                because: because.clone(),
            },
        ));
        let dead_end = DeadEnd {
            package: self.nodes[id].name.to_owned(),
            ranges,
            refused,
        };
        self.frames.truncate(level);
        self.require(id);
        Ok(Some((dead_end, conflict)))
    }

    /// Adds to the conflict of a dead end of package `id` why the package is required and
    /// why its candidates out of range are: ranges that chosen packages put on it. Returns
    /// the ranges that take part, the request's first.
    fn blame_ranges(&self, id: Id, conflict: &mut Conflict) -> Vec<Asked> {
        let node = &self.nodes[id];
        let mut used: BTreeSet<usize> = BTreeSet::new();
        for c in 0..node.candidates.len() {
            // The earliest choice whose range leaves it out, so the jump goes far.
            let Some(at) = node.excluder(c) else { continue };
            let from = node.ranges[at];
            let candidates = self.requirers_of(from.by, id, |within| !within.contains(c));
            blame(conflict, self.level(from.by), candidates);
            used.insert(at);
        }
        if !node.wanted {
            if let Some(from) = node.ranges.first() {
                let candidates = self.requirers_of(from.by, id, |_| true);
                blame(conflict, self.level(from.by), candidates);
                used.insert(0);
            }
        }
        let mut asked = fixed_asked(node);
        asked.extend(used.into_iter().map(|at| self.asked(node.ranges[at])));
        asked
    }

    /// Before candidate `candidate` of package `id` is checked, makes sure that each of its
    /// prerequisites not chosen yet has a version within its range that is not unusable
    /// (see `settle`), or that none is left. This finds, at once, a version whose
    /// prerequisite can only be had in versions that are themselves impossible.
    fn look_ahead(&mut self, id: Id, candidate: usize) {
        let Some((start, end)) = self.nodes[id].requires[candidate] else {
            return;
        };
        for at in start..end {
            let require = &self.requires[at];
            let on = require.on;
            if on == id || self.nodes[on].chosen.is_some() {
                continue;
            }
            let within = self.within(require).clone();
            for c in 0..self.nodes[on].candidates.len() {
                if within.contains(c) && self.nodes[on].allows(c) {
                    self.settle(on, c);
                    if self.nodes[on].allows(c) {
                        break;
                    }
                }
            }
        }
    }

    /// Finds out whether candidate `c` of package `id` is unusable: whether one of its
    /// prerequisites is missing, or has no version within both its range and the fixed
    /// ranges on it. Such a candidate is out whatever the other choices.
    fn settle(&mut self, id: Id, c: usize) {
        let node = &mut self.nodes[id];
        if node.settled.len() < node.candidates.len() {
            node.settled.resize(node.candidates.len(), false);
        }
        if std::mem::replace(&mut node.settled[c], true) {
            return;
        }
        self.load(id, c);
        let node = &self.nodes[id];
        let mut because = None;
        for require in self.requires_of(id, c) {
            let target = &self.nodes[require.on];
            if target.candidates.is_empty() {
                because = Some(self.unavailable_because(target.name));
                break;
            }
            if require.on == id {
                continue;
            }
            let within = self.within(require);
            let base = Candidates::from_words(&target.allowed[..target.words]);
            if within.words().zip(base.words()).all(|(a, b)| a & b == 0) {
                let (ranges, unusable) = self.fixed_clash(require.on, within.clone());
                because = Some(self.clash_because(
                    require.on,
                    require.requirement,
                    ranges,
                    unusable,
                    Asker::Package {
                        name: node.name.to_owned(),
                        version: node.versions[c].clone(),
                    },
                ));
                break;
            }
        }
        if let Some(because) = because {
            let node = &mut self.nodes[id];
            node.exclude(c);
            node.unusable.push((c, because));
        }
    }

    /// Why a prerequisite that has no candidate is out.
    fn unavailable_because(&self, name: &str) -> Because {
        if self.index.has_package(name) {
            Because::NoBuild {
                prerequisite: name.to_owned(),
                platform: self.request.platform,
                built_for: self.index.platforms_of(name),
            }
        } else {
            Because::Missing {
                prerequisite: name.to_owned(),
            }
        }
    }

    /// The fixed ranges on package `id` that leave out the versions of `alive` (those that
    /// take part), and the unusable versions left.
    fn fixed_clash(&self, id: Id, mut alive: Candidates) -> (Vec<Asked>, Vec<Refused>) {
        let node = &self.nodes[id];
        let fixed = fixed_asked(node);
        let mut asked = Vec::new();
        for (at, (requirement, _)) in node.fixed.iter().enumerate() {
            let allows = Candidates::matching(node.candidates.len(), |c| {
                requirement.matches(&node.versions[c])
            });
            if !alive.is_empty() && !alive.is_within(&allows) {
                alive.intersect(&allows);
                asked.push(fixed[at].clone());
            }
        }
        (asked, self.unusable_in(id, &alive))
    }

    /// The unusable candidates of package `id` among `alive`, with why.
    fn unusable_in(&self, id: Id, alive: &Candidates) -> Vec<Refused> {
        let node = &self.nodes[id];
        node.unusable
            .iter()
            .filter(|(c, _)| alive.contains(*c))
            .map(|(c, because)| Refused {
                version: node.versions[*c].clone(),
                because: because.clone(),
            })
            .collect()
    }

    /// Why a range on a prerequisite cannot be met: the ranges in the way, and the versions
    /// within them that are unusable anyway.
    fn clash_because(
        &self,
        prerequisite: Id,
        requirement: &Requirement,
        ranges: Vec<Asked>,
        unusable: Vec<Refused>,
        asker: Asker,
    ) -> Because {
        let node = &self.nodes[prerequisite];
        if unusable.is_empty() {
            return Because::Clash {
                prerequisite: node.name.to_owned(),
                requirement: requirement.clone(),
                ranges,
                available: available(node),
            };
        }
        let mut all = vec![Asked {
            requirement: requirement.clone(),
            by: asker,
        }];
        all.extend(ranges);
        Because::Leads(Arc::new(DeadEnd {
            package: node.name.to_owned(),
            ranges: all,
            refused: unusable,
        }))
    }

    /// Records that the choices of a conflict lead to `dead_end`.
    fn learn(&mut self, conflict: &Conflict, dead_end: &Arc<DeadEnd>) {
        let at = self.nogoods.len();
        let mut members = Vec::with_capacity(conflict.len());
        for (&level, candidates) in conflict {
            let id = self.frames[level].node;
            debug_assert!(self.nodes[id]
                .chosen
                .is_some_and(|(c, _)| candidates.contains(c)));
            self.nodes[id]
                .nogoods
                .extend(candidates.iter().map(|c| (c, at)));
            members.push((id, candidates.clone()));
        }
        self.nogoods.push(Nogood {
            members,
            dead_end: Arc::clone(dead_end),
        });
    }

    /// The dead end that candidate `candidate` of package `id` would lead to again, if a
    /// nogood says so, with the other choices of the nogood.
    fn forbidden(&self, id: Id, candidate: usize) -> Option<Refusal> {
        let watched = self.nodes[id]
            .nogoods
            .iter()
            .filter(|(c, _)| *c == candidate);
        for &(_, at) in watched {
            let nogood = &self.nogoods[at];
            let mut reasons = Vec::with_capacity(nogood.members.len());
            let stands = nogood.members.iter().all(|(member, candidates)| {
                if *member == id {
                    return true;
                }
                match self.nodes[*member].chosen {
                    Some((chosen, level)) if candidates.contains(chosen) => {
                        reasons.push((level, candidates.clone()));
                        true
                    }
                    _ => false,
                }
            });
            if stands {
                return Some((Because::Leads(Arc::clone(&nogood.dead_end)), reasons));
            }
        }
        None
    }

    /// Whether the prerequisites of candidate `candidate` of package `id` can still be met;
    /// if not, why, and the choices that this depends on.
    fn check(&self, id: Id, candidate: usize) -> Result<(), Refusal> {
        let version = &self.nodes[id].candidates[candidate].version;
        let (start, end) = self.nodes[id].requires[candidate].unwrap_or_default();
        for (at, require) in self.requires[start..end].iter().enumerate() {
            let at = start + at;
            let node = &self.nodes[require.on];
            let name = node.name;
            if node.candidates.is_empty() {
                return Err((self.unavailable_because(name), Vec::new()));
            }
            let within = self.within(require);
            if require.on == id {
                // A package that requires itself is a cycle, reported once resolved.
                if within.contains(candidate) {
                    continue;
                }
                let because = self.chosen_clash(name, require.requirement, version);
                return Err((because, Vec::new()));
            }
            let chosen = node.chosen;
            if chosen.is_some_and(|(c, _)| within.contains(c)) {
                continue;
            }
            if !node.allows_any(within) {
                // Whatever the choice of the prerequisite, the ranges that the request and
                // the chosen packages put on it exclude this version.
                let from = From {
                    by: id,
                    candidate,
                    at,
                };
                let (reasons, ranges, unusable) = self.clash_reasons(from);
                let asker = Asker::Package {
                    name: self.nodes[id].name.to_owned(),
                    version: version.clone(),
                };
                let because =
                    self.clash_because(require.on, require.requirement, ranges, unusable, asker);
                return Err((because, reasons));
            }
            if let Some((c, level)) = chosen {
                // Another choice of the prerequisite would do: any that this range excludes
                // leads here too.
                let excluded = Candidates::matching(node.candidates.len(), |c| !within.contains(c));
                let because =
                    self.chosen_clash(name, require.requirement, &node.candidates[c].version);
                return Err((because, vec![(level, excluded)]));
            }
        }
        Ok(())
    }

    /// The choices whose ranges on a prerequisite, with the range `from` and the request's,
    /// leave no version of it: the earliest that suffice, each with the candidates of its
    /// package whose range allows no more (which would clash the same). Also returns those
    /// ranges, the request's first.
    fn clash_reasons(&self, from: From) -> (Vec<(usize, Candidates)>, Vec<Asked>, Vec<Refused>) {
        let require = self.require_of(from);
        let node = &self.nodes[require.on];
        let unusable = Candidates::matching(node.candidates.len(), |c| {
            node.unusable.iter().any(|(u, _)| *u == c)
        });
        // Only the ranges that leave out a version still alive take part: the request's
        // first, as they depend on no choice. Unusable versions are out anyway: they are
        // explained, not blamed on a range.
        let (mut asked, _) = self.fixed_clash(require.on, self.within(require).clone());
        let mut alive = self.within(require).clone();
        for (requirement, _) in &node.fixed {
            alive.intersect(&Candidates::matching(node.candidates.len(), |c| {
                requirement.matches(&node.versions[c])
            }));
        }
        let mut reasons = Vec::new();
        for &range in &node.ranges {
            if alive.is_within(&unusable) {
                break;
            }
            let allows = self.within(self.require_of(range));
            if alive.is_within(allows) {
                continue;
            }
            alive.intersect(allows);
            let narrower = self.narrower(range.by, require.on, allows);
            reasons.push((self.level(range.by), narrower));
            asked.push(self.asked(range));
        }
        (reasons, asked, self.unusable_in(require.on, &alive))
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
        let (start, end) = self.nodes[id].requires[candidate].unwrap_or_default();
        for at in start..end {
            let require = &self.requires[at];
            let prerequisite = require.on;
            let within = self.within(require).clone();
            let from = From {
                by: id,
                candidate,
                at,
            };
            self.nodes[prerequisite].push(from, &within);
            self.trail.push(prerequisite);
            self.require(prerequisite);
        }
    }

    /// Takes back the ranges that choices after `mark` put on other packages.
    fn untrail(&mut self, mark: usize) {
        while self.trail.len() > mark {
            let Some(id) = self.trail.pop() else { break };
            let node = &mut self.nodes[id];
            node.pop();
            if node.ranges.is_empty() && !node.wanted && node.queued {
                node.queued = false;
                self.pending.remove(&(node.rank, id));
            }
        }
    }

    /// Undoes every choice after `target` and the choice at `target`, which will try its
    /// next candidate, remembering why this one failed.
    fn jump(&mut self, target: usize, dead_end: Arc<DeadEnd>, mut conflict: Conflict) {
        while self.frames.len() > target + 1 {
            let Some(frame) = self.frames.pop() else {
                break;
            };
            self.nodes[frame.node].chosen = None;
            self.untrail(frame.trail);
            self.require(frame.node);
        }
        let (id, mark) = (self.frames[target].node, self.frames[target].trail);
        let taken = self.nodes[id].chosen.take();
        self.untrail(mark);
        conflict.remove(&target);
        let frame = &mut self.frames[target];
        for (level, candidates) in conflict {
            blame(&mut frame.conflict, level, candidates);
        }
        // A conflict only names levels that chose a version.
        if let Some((candidate, _)) = taken {
            frame.refused.push(Refused {
                version: self.nodes[id].candidates[candidate].version.clone(),
                because: Because::Leads(dead_end),
            });
        }
    }

    fn resolution(&self) -> Result<Resolution, ResolveError> {
        let mut chosen: Vec<Id> = (0..self.nodes.len())
            .filter(|&id| self.nodes[id].chosen.is_some())
            .collect();
        chosen.sort_by_key(|&id| self.nodes[id].name);
        let packages = chosen
            .iter()
            .filter_map(|&id| {
                let node = &self.nodes[id];
                let entry = node.candidates[node.chosen?.0];
                let resolved = Resolved {
                    version: entry.version.clone(),
                    checksum: entry.checksum.clone(),
                    wanted: node.wanted,
                    required_by: node
                        .ranges
                        .iter()
                        .map(|from| self.nodes[from.by].name.to_owned())
                        .collect(),
                };
                Some((node.name.to_owned(), resolved))
            })
            .collect();
        let order = self.install_order(&chosen)?;
        Ok(Resolution { packages, order })
    }

    /// The chosen packages (given in name order), prerequisites first, ties in name order;
    /// a cycle is an error.
    fn install_order(&self, chosen: &[Id]) -> Result<Vec<String>, ResolveError> {
        // Nodes are added in name order, so a smaller index is a smaller name. An edge goes
        // from a package to each of its prerequisites.
        let mut graph: DiGraph<Id, ()> = DiGraph::with_capacity(chosen.len(), chosen.len() * 3);
        let mut position: Vec<Option<NodeIndex>> = vec![None; self.nodes.len()];
        for &id in chosen {
            position[id] = Some(graph.add_node(id));
        }
        for &id in chosen {
            let node = &self.nodes[id];
            let (Some(from), Some((candidate, _))) = (position[id], node.chosen) else {
                continue;
            };
            for require in self.requires_of(id, candidate) {
                if let Some(to) = position[require.on] {
                    graph.add_edge(from, to, ());
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
        while let Some(Reverse(next)) = ready.pop() {
            order.push(self.nodes[graph[next]].name.to_owned());
            for dependent in graph.neighbors_directed(next, Incoming) {
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
            .filter_map(|n| {
                let node = &self.nodes[graph[n]];
                let (candidate, _) = node.chosen?;
                Some((
                    node.name.to_owned(),
                    node.candidates[candidate].version.clone(),
                ))
            })
            .collect();
        Err(ResolveError::Cycle { path })
    }
}

/// The request's ranges on a package.
fn fixed_asked(node: &Node<'_>) -> Vec<Asked> {
    node.fixed
        .iter()
        .map(|(requirement, from)| Asked {
            requirement: (*requirement).clone(),
            by: match from {
                Fixed::Release => Asker::Release,
                Fixed::Extra(who) => Asker::Extra((*who).to_owned()),
                Fixed::Needed(name) => Asker::Needed {
                    name: (*name).to_owned(),
                },
            },
        })
        .collect()
}

/// The versions of a package on the platform, lowest first.
fn available(node: &Node<'_>) -> Vec<Version> {
    let mut versions: Vec<Version> = node.candidates.iter().map(|c| c.version.clone()).collect();
    versions.sort();
    versions
}

/// The shortest cycle through the first (by name) package that is on one, its first node
/// repeated at the end.
fn find_cycle(graph: &DiGraph<Id, ()>) -> Vec<NodeIndex> {
    let components = petgraph::algo::kosaraju_scc(graph);
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
