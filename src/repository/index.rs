//! The index of a repository: one entry per (package, version, platform) with what the
//! resolver and the path finder need (prerequisites, upgrade edges), and the checksum that
//! identifies the build. The index is plain data, so resolution never touches I/O.

use std::collections::BTreeMap;
use std::sync::Arc;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::manifest::Requirement;
use crate::package::{Checksum, Origin, Package, Phase};
use crate::platform::Platform;

/// One package version built for one platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IndexEntry {
    /// The package name.
    pub name: String,
    /// The version.
    #[schemars(with = "String")]
    pub version: Version,
    /// The platform of the archive.
    pub platform: Platform,
    /// The content checksum of the archive: its build number.
    pub checksum: Checksum,
    /// Required packages and their ranges.
    #[serde(default)]
    pub prerequisites: BTreeMap<String, Requirement>,
    /// The upgrade edges into this version.
    pub edges: Vec<Edge>,
}

/// An upgrade edge into a version: `UPGRADE/` from `from`, `UPGRADE@VERSION/` or `UPGRADE@none/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// Where the edge starts.
    #[schemars(with = "String")]
    pub from: Origin,
    /// How many UPGRADE scripts it runs: the cost of walking it.
    pub scripts: usize,
    /// How many DOWNGRADE scripts walking it backwards runs.
    pub downgrade_scripts: usize,
    /// The UPGRADE scripts declared irreversible (paths in the package): they block walking
    /// the edge backwards.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub irreversible: Vec<String>,
}

impl IndexEntry {
    /// The entry describing a built package.
    pub fn of(package: &Package) -> Self {
        let edges = package
            .edges
            .iter()
            .map(|origin| {
                let upgrade = Phase::Upgrade(origin.clone());
                let downgrade = Phase::Downgrade(origin.clone());
                Edge {
                    from: origin.clone(),
                    scripts: package.scripts_in(&upgrade).count(),
                    downgrade_scripts: package.scripts_in(&downgrade).count(),
                    irreversible: package
                        .scripts_in(&upgrade)
                        .filter(|s| s.flags.irreversible)
                        .map(|s| s.path.to_string())
                        .collect(),
                }
            })
            .collect();
        IndexEntry {
            name: package.manifest.name.clone(),
            version: package.manifest.version.clone(),
            platform: package.platform,
            checksum: package.checksum.clone(),
            prerequisites: package.manifest.prerequisites.clone(),
            edges,
        }
    }
}

/// The builds of one package version, one per platform, sorted by platform. A short vector:
/// a version has at most three builds, and a map per version would cost far more memory
/// over a large estate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Builds(Vec<IndexEntry>);

impl Builds {
    fn contains_key(&self, platform: &Platform) -> bool {
        self.get(platform).is_some()
    }

    fn get(&self, platform: &Platform) -> Option<&IndexEntry> {
        self.0.iter().find(|e| &e.platform == platform)
    }

    /// Adds a build; returns the one it replaced, if any.
    fn insert(&mut self, platform: Platform, entry: IndexEntry) -> Option<IndexEntry> {
        match self.0.iter().position(|e| e.platform == platform) {
            Some(at) => Some(std::mem::replace(&mut self.0[at], entry)),
            None => {
                let at = self.0.partition_point(|e| e.platform < platform);
                self.0.insert(at, entry);
                None
            }
        }
    }

    fn keys(&self) -> impl Iterator<Item = &Platform> {
        self.0.iter().map(|e| &e.platform)
    }

    fn values(&self) -> impl Iterator<Item = &IndexEntry> {
        self.0.iter()
    }
}

/// All entries of a repository (or of several layered ones).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Entries by name, then version, then platform. A package's versions are shared, so
    /// that a planner can layer a few entries over a large repository's index without
    /// copying it.
    #[schemars(with = "Vec<IndexEntry>")]
    #[serde(with = "entry_list")]
    packages: BTreeMap<String, Arc<BTreeMap<Version, Builds>>>,
}

impl Index {
    /// An empty index.
    pub fn new() -> Self {
        Index::default()
    }

    /// Adds an entry unless one for the same (name, version, platform) is there: the first
    /// wins, which is how layered repositories shadow each other. Returns whether it was added.
    pub fn insert_if_absent(&mut self, entry: IndexEntry) -> bool {
        let versions = self.packages.entry(entry.name.clone()).or_default();
        if versions
            .get(&entry.version)
            .is_some_and(|builds| builds.contains_key(&entry.platform))
        {
            return false;
        }
        Arc::make_mut(versions)
            .entry(entry.version.clone())
            .or_default()
            .insert(entry.platform, entry);
        true
    }

    /// Adds every entry of `other` that this index lacks (this index wins, as a layer over
    /// `other`). Packages this index does not know are shared with `other`, not copied.
    pub fn fill_from(&mut self, other: &Index) {
        for (name, versions) in &other.packages {
            match self.packages.get(name) {
                None => {
                    self.packages.insert(name.clone(), Arc::clone(versions));
                }
                Some(_) => {
                    for entry in versions.values().flat_map(Builds::values) {
                        self.insert_if_absent(entry.clone());
                    }
                }
            }
        }
    }

    /// The entry of one build.
    pub fn get(&self, name: &str, version: &Version, platform: Platform) -> Option<&IndexEntry> {
        self.packages.get(name)?.get(version)?.get(&platform)
    }

    /// The versions of a package built for `platform`, highest first.
    pub fn versions(&self, name: &str, platform: Platform) -> impl Iterator<Item = &IndexEntry> {
        self.packages
            .get(name)
            .into_iter()
            .flat_map(|versions| versions.values().rev())
            .filter_map(move |platforms| platforms.get(&platform))
    }

    /// Whether the package exists at all (on any platform).
    pub fn has_package(&self, name: &str) -> bool {
        self.packages.contains_key(name)
    }

    /// The platforms a package is built for, in any version.
    pub fn platforms_of(&self, name: &str) -> Vec<Platform> {
        let mut platforms: Vec<Platform> = self
            .packages
            .get(name)
            .into_iter()
            .flat_map(|versions| versions.values().flat_map(|p| p.keys().copied()))
            .collect();
        platforms.sort();
        platforms.dedup();
        platforms
    }

    /// Every package name.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.packages.keys().map(String::as_str)
    }

    /// Every entry, sorted by name, version and platform.
    pub fn entries(&self) -> impl Iterator<Item = &IndexEntry> {
        self.packages
            .values()
            .flat_map(|versions| versions.values().flat_map(|platforms| platforms.values()))
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.entries().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
    }
}

impl FromIterator<IndexEntry> for Index {
    fn from_iter<T: IntoIterator<Item = IndexEntry>>(iter: T) -> Self {
        let mut index = Index::new();
        for entry in iter {
            index.insert_if_absent(entry);
        }
        index
    }
}

mod entry_list {
    use super::*;
    use serde::{Deserializer, Serializer};

    type Map = BTreeMap<String, Arc<BTreeMap<Version, Builds>>>;

    pub fn serialize<S: Serializer>(map: &Map, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(
            map.values()
                .flat_map(|v| v.values().flat_map(|p| p.values())),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Map, D::Error> {
        let entries = Vec::<IndexEntry>::deserialize(deserializer)?;
        let mut map = Map::new();
        for entry in entries {
            let slot = Arc::make_mut(map.entry(entry.name.clone()).or_default())
                .entry(entry.version.clone())
                .or_default();
            if slot.insert(entry.platform, entry.clone()).is_some() {
                return Err(serde::de::Error::custom(format!(
                    "the index lists {}@{} on {} twice",
                    entry.name, entry.version, entry.platform
                )));
            }
        }
        Ok(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, version: &str, checksum: &str) -> IndexEntry {
        IndexEntry {
            name: name.to_owned(),
            version: Version::parse(version).unwrap_or_else(|err| panic!("{version}: {err}")),
            platform: Platform::Sqlite,
            checksum: Checksum::of_text(checksum),
            prerequisites: BTreeMap::new(),
            edges: Vec::new(),
        }
    }

    #[test]
    fn a_layer_filled_from_another_keeps_its_own_entries_and_never_changes_the_other() {
        let mut top: Index = [entry("a", "1.0.0", "top")].into_iter().collect();
        let bottom: Index = [
            entry("a", "1.0.0", "bottom"),
            entry("a", "2.0.0", "bottom"),
            entry("b", "1.0.0", "bottom"),
        ]
        .into_iter()
        .collect();
        let before = bottom.clone();
        top.fill_from(&bottom);
        let checksum = |index: &Index, name: &str, version: &str| {
            index
                .get(
                    name,
                    &Version::parse(version).unwrap_or_else(|err| panic!("{err}")),
                    Platform::Sqlite,
                )
                .map(|e| e.checksum.clone())
        };
        assert_eq!(checksum(&top, "a", "1.0.0"), Some(Checksum::of_text("top")));
        assert_eq!(
            checksum(&top, "a", "2.0.0"),
            Some(Checksum::of_text("bottom"))
        );
        assert_eq!(
            checksum(&top, "b", "1.0.0"),
            Some(Checksum::of_text("bottom"))
        );
        // `b` is shared with `bottom`; adding to it in `top` copies it first.
        assert!(top.insert_if_absent(entry("b", "2.0.0", "top")));
        assert_eq!(bottom, before);
        assert_eq!(top.len(), 4);
    }
}
