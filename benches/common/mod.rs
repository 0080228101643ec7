//! Synthetic repository indexes and releases for benchmarks, the same for every run (a fixed
//! seed), so figures can be compared between commits.
//!
//! The shape of the data imitates a large estate of database packages: a few core packages
//! that many others require (prerequisites point to lower-numbered packages, more often to
//! low numbers), ten versions per package over two major lines, caret ranges on the current
//! major for the newer versions and on the old major for the older ones, and some tight or
//! old-major ranges on the latest versions, so that the highest version is not always the
//! one that fits. With ten versions per package, every `2.3.0` only has ranges that every
//! `2.3.0` satisfies and every release range allows `2.3.0`, so any release generated here
//! can be resolved.

use std::collections::BTreeMap;

use dbpm::manifest::Requirement;
use dbpm::package::{Checksum, Origin};
use dbpm::platform::Platform;
use dbpm::repository::{Edge, Index, IndexEntry};
use semver::Version;

/// The allocator of the `dbpm` binary, so the figures are the ones a user sees.
#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// How many packages.
    pub packages: usize,
    /// How many versions each (five per major line: 1.0.0 … 1.4.0, 2.0.0 … 2.4.0, …).
    pub versions: usize,
    /// The average number of prerequisites of a package.
    pub prerequisites: usize,
    /// The seed of the pseudo-random choices.
    pub seed: u64,
}

/// The name of package number `i`.
pub fn name(i: usize) -> String {
    format!("pkg{i:05}")
}

/// Version number `k` of a package.
fn version(k: usize) -> Version {
    Version::new(1 + (k / 5) as u64, (k % 5) as u64, 0)
}

/// An index of `shape.packages × shape.versions` entries on postgres.
pub fn generate_index(shape: &Shape) -> Index {
    let mut rng = Rng(shape.seed);
    let latest = shape.versions - 1;
    let mut index = Index::new();
    for i in 0..shape.packages {
        let count = if i == 0 {
            0
        } else {
            rng.below(2 * shape.prerequisites + 1).min(i)
        };
        let mut targets: Vec<usize> = Vec::with_capacity(count);
        while targets.len() < count {
            // Squaring a uniform number favours low numbers: the core packages.
            let u = rng.unit();
            let j = ((i as f64) * u * u) as usize;
            if !targets.contains(&j) {
                targets.push(j);
            }
        }
        for k in 0..shape.versions {
            let major = 1 + k / 5;
            let prerequisites = targets
                .iter()
                .map(|&j| {
                    let text = if k == latest && rng.below(50) == 0 {
                        // The latest version stuck on the old major: it cannot be chosen
                        // beside a package that needs the current one.
                        format!("^{}", major - 1)
                    } else if k == latest && rng.below(10) == 0 {
                        // A tight range that leaves out the highest version.
                        format!(">={major}.1.0, <{major}.4.0")
                    } else {
                        format!("^{major}.{}", rng.below(3))
                    };
                    (name(j), requirement(&text))
                })
                .collect();
            index.insert_if_absent(IndexEntry {
                name: name(i),
                version: version(k),
                platform: Platform::Postgres,
                checksum: Checksum::of_text(&format!("{}@{}", name(i), version(k))),
                prerequisites,
                edges: edges(k, &mut rng),
            });
        }
    }
    index
}

/// The upgrade edges into version `k`: from the previous version (from nothing for the
/// first), and a squashed baseline from nothing on every major line's first version.
fn edges(k: usize, rng: &mut Rng) -> Vec<Edge> {
    let mut edges = vec![Edge {
        from: if k == 0 {
            Origin::Nothing
        } else {
            Origin::Version(version(k - 1))
        },
        scripts: 1 + rng.below(5),
        downgrade_scripts: 1 + rng.below(5),
        irreversible: Vec::new(),
    }];
    if k > 0 && k.is_multiple_of(5) {
        edges.push(Edge {
            from: Origin::Nothing,
            scripts: 5 + rng.below(10),
            downgrade_scripts: 5 + rng.below(10),
            irreversible: Vec::new(),
        });
    }
    edges
}

/// A release of `count` distinct packages of the index: mostly `^2`, some lower bounds and
/// some exact versions.
pub fn generate_release(shape: &Shape, count: usize, seed: u64) -> BTreeMap<String, Requirement> {
    let mut rng = Rng(seed);
    let mut wanted = BTreeMap::new();
    while wanted.len() < count.min(shape.packages) {
        let text = match rng.below(10) {
            0..=6 => "^2",
            7 | 8 => ">=1.2",
            _ => "2.3.0",
        };
        wanted.insert(name(rng.below(shape.packages)), requirement(text));
    }
    wanted
}

fn requirement(text: &str) -> Requirement {
    Requirement::parse(text).unwrap_or_else(|err| panic!("`{text}` is a requirement: {err}"))
}

/// SplitMix64: small, fast and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
