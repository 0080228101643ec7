//! An installed set as a run records it (before and after the run): the state without its
//! script texts, which the target keeps once by checksum beside the installed packages, so
//! a target's history grows by the packages a run changes, not by every text it has. Records
//! written before state layout 3 hold their texts inline; they read as they are.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{InstalledPackage, InstalledState};
use crate::package::Checksum;
use crate::platform::Platform;

/// The recorded form of a state, borrowed for writing.
#[derive(Serialize)]
struct Written<'a> {
    format: u32,
    platform: Platform,
    target: &'a str,
    packages: &'a BTreeMap<String, InstalledPackage>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    walked: &'a BTreeMap<String, Vec<InstalledPackage>>,
}

/// The recorded form of a state as read: the texts only in records of older layouts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Read {
    format: u32,
    platform: Platform,
    target: String,
    packages: BTreeMap<String, InstalledPackage>,
    #[serde(default)]
    walked: BTreeMap<String, Vec<InstalledPackage>>,
    #[serde(default)]
    texts: BTreeMap<Checksum, String>,
}

impl InstalledState {
    /// The JSON a run records of this state: everything but the script texts.
    pub fn record_json(&self) -> String {
        serde_json::to_string(&Written {
            format: self.format,
            platform: self.platform,
            target: &self.target,
            packages: &self.packages,
            walked: &self.walked,
        })
        .unwrap_or_else(|err| unreachable!("a state always serializes: {err}"))
    }

    /// Reads a run's record of a state; its texts are those the record holds inline (none
    /// since layout 3: see [`InstalledState::missing_texts`]).
    pub fn from_record_json(json: &str) -> Result<InstalledState, serde_json::Error> {
        let read: Read = serde_json::from_str(json)?;
        Ok(InstalledState {
            format: read.format,
            platform: read.platform,
            target: read.target,
            packages: read.packages,
            walked: read.walked,
            texts: read.texts,
        })
    }

    /// The checksums of the scripts its packages (installed or walked) list whose texts it
    /// does not hold.
    pub fn missing_texts(&self) -> BTreeSet<Checksum> {
        self.packages
            .values()
            .chain(self.walked.values().flatten())
            .flat_map(|package| package.scripts.values())
            .filter(|checksum| !self.texts.contains_key(*checksum))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded() -> InstalledState {
        let mut state = InstalledState::empty(Platform::Sqlite, "sqlite://test.db");
        state.record(
            &super::super::tests::example_core(),
            BTreeMap::new(),
            None,
            false,
            None,
        );
        state
    }

    #[test]
    fn a_record_leaves_the_texts_out_and_names_them_on_reading() {
        let state = recorded();
        let json = state.record_json();
        assert!(!json.contains("\"texts\""), "{json}");
        let back = InstalledState::from_record_json(&json).unwrap();
        assert_eq!(back.packages, state.packages);
        assert_eq!(
            back.missing_texts(),
            state.texts.keys().cloned().collect::<BTreeSet<_>>()
        );
    }

    #[test]
    fn a_record_of_an_older_layout_keeps_its_texts() {
        let state = recorded();
        let json = serde_json::to_string(&state).unwrap();
        let back = InstalledState::from_record_json(&json).unwrap();
        assert_eq!(back, state);
        assert!(back.missing_texts().is_empty());
    }
}
