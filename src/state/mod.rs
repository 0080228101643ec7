//! The installed state of a target: which package versions are there, with the normalised
//! manifest and the text of every script of each (stored once by checksum), so undo,
//! uninstall and compensation can be planned from the target alone. Read from a target by
//! `crate::db`, or from a state file exported from one (so CI can plan without credentials).

use std::collections::BTreeMap;
use std::path::PathBuf;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::diagnostic::Problems;
use crate::manifest::MANIFEST_FILE;
use crate::package::source::FileTree;
use crate::package::{validate, Checksum, Package};
use crate::platform::Platform;

mod record;

/// The state file format this dbpm writes and reads.
pub const STATE_FORMAT: u32 = 1;

/// What is installed on a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "dbpm installed state (dbpm state export)")]
pub struct InstalledState {
    /// The state file format.
    pub format: u32,
    /// The target's platform.
    pub platform: Platform,
    /// An informational label of the target (URL without credentials, and schema).
    pub target: String,
    /// Installed packages by name.
    pub packages: BTreeMap<String, InstalledPackage>,
    /// Only in a run's record: the versions the run walked through on its way (installed
    /// neither before nor after it), by package, kept so that a later plan can walk back
    /// through them without the repository. Empty in a target's state and in state files.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub walked: BTreeMap<String, Vec<InstalledPackage>>,
    /// The text of every installed (or walked) script, by checksum.
    pub texts: BTreeMap<Checksum, String>,
}

/// One installed package version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InstalledPackage {
    /// The version.
    #[schemars(with = "String")]
    pub version: Version,
    /// The content checksum of the archive it was installed from.
    pub checksum: Checksum,
    /// The normalised `dbpm.toml` of that archive.
    pub manifest: String,
    /// Every script of that archive: path → checksum.
    pub scripts: BTreeMap<String, Checksum>,
    /// The placeholder values it was installed with.
    #[serde(default)]
    pub placeholders: BTreeMap<String, String>,
    /// The run that installed it (absent when adopted or unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Whether it was adopted (recorded without running scripts).
    #[serde(default)]
    pub adopted: bool,
    /// When it was installed (RFC 3339); informational only, never part of a plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installed_at: Option<String>,
}

impl InstalledPackage {
    /// The checksum of every file of the build it was installed from, by path, as
    /// [`Package::file_checksums`] gives them: to name what differs from another build.
    pub fn file_checksums(&self) -> BTreeMap<String, Checksum> {
        let mut files = self.scripts.clone();
        files.insert(MANIFEST_FILE.to_owned(), Checksum::of_text(&self.manifest));
        files
    }
}

/// Why an installed package cannot be rebuilt from the state.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StateError {
    /// A script text is missing.
    #[error(
        "the state of `{package}` lists `{path}` with checksum {checksum}, but holds no such text"
    )]
    #[diagnostic(
        code(dbpm::state::missing_text),
        help("the state was edited or truncated: export a state file again from its target; where dbpm's own tables in the target were edited, restore them from a backup")
    )]
    MissingText {
        /// The package.
        package: String,
        /// The script.
        path: String,
        /// Its checksum.
        checksum: Checksum,
    },
    /// A script text is not the text its checksum names: edited in the target's tables.
    #[error(
        "the state of `{package}` holds an edited text of `{path}`: it is kept as {checksum}, but hashes to {actual}"
    )]
    #[diagnostic(
        code(dbpm::state::edited_text),
        help("dbpm's own tables in the target were edited: restore them from a backup, or put back the text of `{path}` as its package has it")
    )]
    EditedText {
        /// The package.
        package: String,
        /// The script.
        path: String,
        /// The checksum it is kept under.
        checksum: Checksum,
        /// The checksum of the text kept.
        actual: Checksum,
    },
    /// The stored package does not validate or does not match its checksum.
    #[error("the state of `{package}` does not rebuild into the package it names")]
    #[diagnostic(
        code(dbpm::state::corrupt),
        help("the state was edited or truncated: export a state file again from its target; where dbpm's own tables in the target were edited, restore them from a backup")
    )]
    Corrupt {
        /// The package.
        package: String,
        /// What failed.
        #[related]
        problems: Vec<Problems>,
    },
}

impl InstalledState {
    /// Nothing installed.
    pub fn empty(platform: Platform, target: impl Into<String>) -> Self {
        InstalledState {
            format: STATE_FORMAT,
            platform,
            target: target.into(),
            packages: BTreeMap::new(),
            walked: BTreeMap::new(),
            texts: BTreeMap::new(),
        }
    }

    /// Records a package as installed (with its script texts).
    pub fn record(
        &mut self,
        package: &Package,
        placeholders: BTreeMap<String, String>,
        run: Option<String>,
        adopted: bool,
        installed_at: Option<String>,
    ) {
        let mut scripts = BTreeMap::new();
        for script in &package.scripts {
            self.texts
                .entry(script.checksum.clone())
                .or_insert_with(|| script.text.to_string());
            scripts.insert(script.path.to_string(), script.checksum.clone());
        }
        self.packages.insert(
            package.manifest.name.clone(),
            InstalledPackage {
                version: package.manifest.version.clone(),
                checksum: package.checksum.clone(),
                manifest: package.manifest_text().to_string(),
                scripts,
                placeholders,
                run,
                adopted,
                installed_at,
            },
        );
        self.prune_texts();
    }

    /// Forgets a package.
    pub fn remove(&mut self, name: &str) {
        self.packages.remove(name);
        self.prune_texts();
    }

    /// Keeps only the texts some installed (or walked) package still uses.
    pub fn prune_texts(&mut self) {
        let used: std::collections::BTreeSet<&Checksum> = self
            .packages
            .values()
            .chain(self.walked.values().flatten())
            .flat_map(|p| p.scripts.values())
            .collect();
        self.texts.retain(|checksum, _| used.contains(checksum));
    }

    /// Rebuilds an installed package from the state alone, verified against its checksum.
    pub fn package(&self, name: &str) -> Option<Result<Package, StateError>> {
        let installed = self.packages.get(name)?;
        Some(self.rebuild(name, installed))
    }

    /// Refuses a state whose kept script texts are not those their checksums name (dbpm's
    /// tables edited by hand), naming an installed script that has one.
    pub fn check_texts(&self) -> Result<(), StateError> {
        let edited: BTreeMap<&Checksum, Checksum> = (self.texts.iter())
            .map(|(checksum, text)| (checksum, Checksum::of_text(text)))
            .filter(|(checksum, actual)| *checksum != actual)
            .collect();
        for (name, installed) in &self.packages {
            for (path, checksum) in &installed.scripts {
                if let Some(actual) = edited.get(checksum) {
                    return Err(StateError::EditedText {
                        package: name.clone(),
                        path: path.clone(),
                        checksum: checksum.clone(),
                        actual: actual.clone(),
                    });
                }
            }
        }
        Ok(())
    }

    /// Rebuilds one of its installed packages, verified against its checksum.
    pub fn rebuild(&self, name: &str, installed: &InstalledPackage) -> Result<Package, StateError> {
        let mut files = BTreeMap::new();
        files.insert(
            MANIFEST_FILE.to_owned(),
            installed.manifest.clone().into_bytes(),
        );
        for (path, checksum) in &installed.scripts {
            let text = self
                .texts
                .get(checksum)
                .ok_or_else(|| StateError::MissingText {
                    package: name.to_owned(),
                    path: path.clone(),
                    checksum: checksum.clone(),
                })?;
            let actual = Checksum::of_text(text);
            if actual != *checksum {
                return Err(StateError::EditedText {
                    package: name.to_owned(),
                    path: path.clone(),
                    checksum: checksum.clone(),
                    actual,
                });
            }
            files.insert(path.clone(), text.clone().into_bytes());
        }
        let tree = FileTree {
            root: PathBuf::from(format!("{}:{name}@{}", self.target, installed.version)),
            files,
            problems: Vec::new(),
        };
        let corrupt = |problems| StateError::Corrupt {
            package: name.to_owned(),
            problems,
        };
        let source = validate(&tree).map_err(|p| corrupt(vec![p]))?;
        let package = source
            .for_platform(self.platform)
            .ok_or_else(|| corrupt(Vec::new()))?;
        if package.checksum != installed.checksum || package.manifest.name != name {
            return Err(corrupt(Vec::new()));
        }
        Ok(package)
    }
}

/// The JSON schema of a state file.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(InstalledState))
        .unwrap_or_else(|err| unreachable!("a schema always serializes: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example `core@1.1.0`, built for SQLite.
    pub(super) fn example_core() -> Package {
        crate::package::load_dir(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/examples/packages/core/1.1.0"
        )))
        .unwrap()
        .for_platform(Platform::Sqlite)
        .unwrap()
    }

    #[test]
    fn a_recorded_package_rebuilds_from_the_state_alone() {
        let package = example_core();
        let mut state = InstalledState::empty(Platform::Sqlite, "sqlite://test.db");
        state.record(
            &package,
            BTreeMap::new(),
            Some("run-1".to_owned()),
            false,
            None,
        );
        let json = serde_json::to_string(&state).unwrap();
        let back: InstalledState = serde_json::from_str(&json).unwrap();
        assert_eq!(back.package("core").unwrap().unwrap(), package);
        state.remove("core");
        assert!(state.texts.is_empty());
    }
}
