//! Packages: a source directory of phase folders and `NNN.name.ext` scripts, validated into a
//! [`PackageSource`], resolved for one platform into a [`Package`], and written to or read from
//! a deterministic `.dbpkg` archive.
//!
//! This module does not know about repositories or targets: a package is data.

pub mod archive;
pub mod changes;
pub mod checksum;
mod junk;
pub(crate) mod lint;
pub mod placeholder;
pub mod script;
pub mod source;
pub(crate) mod statements;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::manifest::{self, Manifest, ScriptFlags};
use crate::platform::Platform;

pub use checksum::Checksum;
pub use script::{Folder, Kind};
pub use validate::{inspect_dir, load_dir, validate, InvalidSource, PackageSource};

/// Where an upgrade edge starts: nothing (a fresh install) or an installed version.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    /// No version installed.
    Nothing,
    /// This version installed.
    Version(Version),
}

impl Origin {
    /// The origin of a version that may be absent.
    pub fn of(version: Option<&Version>) -> Origin {
        version.map_or(Origin::Nothing, |v| Origin::Version(v.clone()))
    }

    /// The version, unless nothing.
    pub fn version(&self) -> Option<&Version> {
        match self {
            Origin::Nothing => None,
            Origin::Version(v) => Some(v),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Nothing => f.write_str("none"),
            Origin::Version(v) => v.fmt(f),
        }
    }
}

impl Serialize for Origin {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "none" {
            Ok(Origin::Nothing)
        } else {
            Version::parse(&text)
                .map(Origin::Version)
                .map_err(serde::de::Error::custom)
        }
    }
}

/// The phase a script belongs to, with the edge of UPGRADE and DOWNGRADE scripts resolved.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Tasks before the change.
    Preinstall,
    /// Data model changes along the edge from the origin to this version.
    Upgrade(Origin),
    /// The compensation of that edge.
    Downgrade(Origin),
    /// The package's code.
    Install,
    /// The compensation of the code.
    Rollback,
    /// Checks after the change.
    Verify,
    /// Tasks after the change.
    Postinstall,
}

impl Phase {
    /// The phase name without its edge.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Preinstall => "PREINSTALL",
            Phase::Upgrade(_) => "UPGRADE",
            Phase::Downgrade(_) => "DOWNGRADE",
            Phase::Install => "INSTALL",
            Phase::Rollback => "ROLLBACK",
            Phase::Verify => "VERIFY",
            Phase::Postinstall => "POSTINSTALL",
        }
    }

    /// The edge origin of UPGRADE and DOWNGRADE scripts.
    pub fn origin(&self) -> Option<&Origin> {
        match self {
            Phase::Upgrade(o) | Phase::Downgrade(o) => Some(o),
            _ => None,
        }
    }
}

/// One script of a package built for one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Its phase.
    pub phase: Phase,
    /// NNN as a number.
    pub number: u64,
    /// `NNN.name` as written: what twins share and step ids use.
    pub stem: Arc<str>,
    /// How it runs.
    pub kind: Kind,
    /// Its path in the package (`UPGRADE@1.0.0/001.tables.mysql.sql`).
    pub path: Arc<str>,
    /// Its text, line endings normalised.
    pub text: Arc<str>,
    /// The checksum of the text.
    pub checksum: Checksum,
    /// Whether placeholder values can change its text ([`placeholder::is_template`]): told
    /// once here, so that planning need not read every text again.
    pub templated: bool,
    /// What it declares about itself.
    pub flags: ScriptFlags,
}

/// A package version built for one platform: what an archive holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The manifest.
    pub manifest: Manifest,
    /// The platform.
    pub platform: Platform,
    /// The scripts, ordered by phase, then number, then name.
    pub scripts: Vec<Script>,
    /// The upgrade edges into this version, by origin.
    pub edges: BTreeSet<Origin>,
    /// The content checksum: the build number of this version on this platform.
    pub checksum: Checksum,
    /// The normalised manifest, written once: the checksum, the archive, the plan and the
    /// target's state all use this text.
    manifest_text: Arc<str>,
    /// Every script's checksum, by path: what a target records of this build, made once and
    /// shared by every plan that records it.
    script_checksums: Arc<BTreeMap<Arc<str>, Checksum>>,
}

impl Package {
    fn new(
        manifest: Manifest,
        platform: Platform,
        mut scripts: Vec<Script>,
        edges: BTreeSet<Origin>,
    ) -> Self {
        scripts.sort_by(|a, b| (&a.phase, a.number, &a.stem).cmp(&(&b.phase, b.number, &b.stem)));
        let manifest_text: Arc<str> = manifest::to_toml(&manifest).into();
        let checksum = content_checksum(&manifest_text, platform, &scripts);
        let script_checksums = scripts
            .iter()
            .map(|s| (Arc::clone(&s.path), s.checksum.clone()))
            .collect::<BTreeMap<_, _>>()
            .into();
        Package {
            manifest,
            platform,
            scripts,
            edges,
            checksum,
            manifest_text,
            script_checksums,
        }
    }

    /// The normalised manifest (`dbpm.toml`) of this build.
    pub fn manifest_text(&self) -> &Arc<str> {
        &self.manifest_text
    }

    /// Every script's checksum, by path.
    pub fn script_checksums(&self) -> &Arc<BTreeMap<Arc<str>, Checksum>> {
        &self.script_checksums
    }

    /// `name@version`.
    pub fn id(&self) -> String {
        format!("{}@{}", self.manifest.name, self.manifest.version)
    }

    /// The scripts of one phase, in order.
    pub fn scripts_in<'a>(&'a self, phase: &Phase) -> std::slice::Iter<'a, Script> {
        // The scripts are sorted by phase first (`Package::new`): the phase's are one run.
        debug_assert!(self.scripts.is_sorted_by(|a, b| a.phase <= b.phase));
        let start = self.scripts.partition_point(|s| s.phase < *phase);
        let length = self.scripts[start..].partition_point(|s| s.phase == *phase);
        self.scripts[start..start + length].iter()
    }

    /// `NAME-MAJOR.MINOR.PATCH-PLATFORM.dbpkg`.
    pub fn archive_name(&self) -> String {
        format!(
            "{}-{}-{}.dbpkg",
            self.manifest.name, self.manifest.version, self.platform
        )
    }

    /// The checksum of every file, by path: the normalised manifest and the scripts, what
    /// the content checksum is made of.
    pub fn file_checksums(&self) -> BTreeMap<String, Checksum> {
        let mut files: BTreeMap<String, Checksum> = self
            .scripts
            .iter()
            .map(|s| (s.path.to_string(), s.checksum.clone()))
            .collect();
        files.insert(
            manifest::MANIFEST_FILE.to_owned(),
            Checksum::of_text(&self.manifest_text),
        );
        files
    }

    /// The files of the package: the normalised manifest and the scripts, by path.
    pub fn files(&self) -> Vec<(String, String)> {
        let mut files = vec![(
            manifest::MANIFEST_FILE.to_owned(),
            self.manifest_text.to_string(),
        )];
        files.extend(
            self.scripts
                .iter()
                .map(|s| (s.path.to_string(), s.text.to_string())),
        );
        files.sort();
        files
    }
}

/// The checksum of a package's content, independent of how an archive compresses it.
fn content_checksum(manifest_text: &str, platform: Platform, scripts: &[Script]) -> Checksum {
    let mut lines = vec![
        format!("platform\t{platform}"),
        format!(
            "{}\t{}",
            manifest::MANIFEST_FILE,
            Checksum::of_text(manifest_text)
        ),
    ];
    lines.extend(
        scripts
            .iter()
            .map(|s| format!("{}\t{}", s.path, s.checksum)),
    );
    lines.sort();
    Checksum::of_bytes(lines.join("\n").as_bytes())
}
