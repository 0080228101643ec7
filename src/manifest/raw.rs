//! The shape of `dbpm.toml` as written by people: serde types that keep spans so that
//! validation can point at the offending value. The JSON schema is generated from them.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A package manifest (`dbpm.toml`).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "dbpm package manifest (dbpm.toml)")]
pub struct RawManifest {
    /// Who the package is.
    pub package: RawPackage,
    /// Other packages this one needs, with a version range each.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawRequirement>")]
    pub prerequisites: BTreeMap<Spanned<String>, Spanned<RawRequirement>>,
    /// The `${name}` variables the scripts use.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawPlaceholder>")]
    pub placeholders: BTreeMap<Spanned<String>, RawPlaceholder>,
    /// Declarations about single scripts, keyed by `PHASE/NNN.name` (no extension).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawDeclaration>")]
    pub scripts: BTreeMap<Spanned<String>, RawDeclaration>,
}

/// The `[package]` table.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPackage {
    /// The package name: ASCII letters, digits, `_` and `-`, at most 100 characters.
    #[schemars(with = "String", length(min = 1, max = 100))]
    pub name: Spanned<String>,
    /// The version, in semantic versioning (`1.2.0`).
    #[schemars(with = "String")]
    pub version: Spanned<String>,
    /// What the package holds, at most 4000 characters.
    #[serde(default)]
    #[schemars(with = "String", length(max = 4000))]
    pub description: Option<Spanned<String>>,
    /// The platforms the package supports.
    #[schemars(with = "Vec<crate::platform::Platform>")]
    pub platforms: Spanned<Vec<Spanned<String>>>,
    /// The version that `UPGRADE/` upgrades from; absent for a baseline that installs from nothing.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub from: Option<Spanned<String>>,
}

/// A prerequisite's version range: a semver requirement (`"^1.2"`) or the seed's
/// `{ min = { major = 1 }, max = { major = 2 } }` form.
#[derive(Debug, JsonSchema)]
#[serde(untagged)]
pub enum RawRequirement {
    /// A semver requirement, for example `^1.2` or `>=1.0, <3`.
    Semver(String),
    /// The seed's form: `min` is mandatory, `max` optional; only `major` is mandatory in each.
    MinMax(RawMinMax),
}

/// The seed's `min`/`max` form of a version range.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawMinMax {
    /// The lowest version allowed; missing parts are 0.
    pub min: RawBound,
    /// The highest version allowed; missing parts allow any value (`{ major = 2 }` is below 3.0.0).
    #[serde(default)]
    pub max: Option<RawBound>,
}

/// One end of a `min`/`max` range.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawBound {
    /// The major version (mandatory).
    pub major: u64,
    /// The minor version.
    #[serde(default)]
    pub minor: Option<u64>,
    /// The patch version.
    #[serde(default)]
    pub patch: Option<u64>,
}

/// A `${name}` variable the scripts use.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlaceholder {
    /// What the value means, for whoever writes the release file.
    #[serde(default)]
    pub description: Option<String>,
    /// The value used when the release file and the command line give none.
    #[serde(default)]
    pub default: Option<String>,
}

/// What a script declares about itself.
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawDeclaration {
    /// `false`: the script must not run inside a transaction (`CREATE INDEX CONCURRENTLY`).
    #[serde(default)]
    pub transaction: Option<bool>,
    /// The script is safe to run again after a crash in the middle of it.
    #[serde(default)]
    pub idempotent: Option<bool>,
    /// The forward script has no compensating twin, on purpose.
    #[serde(default)]
    pub irreversible: Option<bool>,
    /// DML only: on MySQL/MariaDB, where DDL commits by itself, run it in a transaction anyway.
    #[serde(default)]
    pub mysql_transactional: Option<bool>,
}

impl<'de> Deserialize<'de> for RawRequirement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct RequirementVisitor;

        impl<'de> Visitor<'de> for RequirementVisitor {
            type Value = RawRequirement;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a semver requirement like \"^1.2\" or a table { min = { major = 1 }, max = { major = 2 } }")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
                Ok(RawRequirement::Semver(value.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawMinMax::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawRequirement::MinMax)
            }
        }

        deserializer.deserialize_any(RequirementVisitor)
    }
}
