//! The shape of `dbpm.toml` as written by people: serde types that keep spans so that
//! validation can point at the offending value. The JSON schema is generated from them.
//!
//! Values that people write are [`Checked`]: one of the wrong type is a problem reported with
//! the others, not the end of reading the file. Unknown keys are found by
//! `super::keys`, which the schema's `deny_unknown_fields` mirrors.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// A package manifest (`dbpm.toml`).
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(title = "dbpm package manifest (dbpm.toml)")]
pub struct RawManifest {
    /// Who the package is.
    #[schemars(with = "RawPackage")]
    pub package: Caught<RawPackage>,
    /// Other packages this one needs, with a version range each.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawRequirement>")]
    pub prerequisites: BTreeMap<Spanned<String>, Caught<RawRequirement>>,
    /// The `${name}` variables the scripts use.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawPlaceholder>")]
    pub placeholders: BTreeMap<Spanned<String>, Caught<RawPlaceholder>>,
    /// Declarations about single scripts, keyed by `PHASE/NNN.name` (no extension).
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawDeclaration>")]
    pub scripts: BTreeMap<Spanned<String>, Caught<RawDeclaration>>,
}

/// The `[package]` table.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct RawPackage {
    /// The package name: ASCII letters, digits, `_` and `-`, at most 100 characters.
    #[schemars(with = "String", length(min = 1, max = 100))]
    pub name: Checked<String>,
    /// The version, in semantic versioning (`1.2.0`).
    #[schemars(with = "String")]
    pub version: Checked<String>,
    /// What the package holds, at most 4000 characters.
    #[serde(default)]
    #[schemars(with = "String", length(max = 4000))]
    pub description: Option<Checked<String>>,
    /// The platforms the package supports.
    #[schemars(with = "Vec<crate::platform::Platform>")]
    pub platforms: Checked<Vec<Spanned<String>>>,
    /// The version that `UPGRADE/` upgrades from; absent for a baseline that installs from nothing.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub from: Option<Checked<String>>,
}

/// A value read as `T` when it has `T`'s shape, else serde's words on why it has not; its
/// span either way. Only for values that are never tables: a table that dotted keys make
/// (`package.name = …`) has no span, and asking for one fails to read it at all ([`Caught`]
/// is for tables).
#[derive(Debug, Clone)]
pub struct Checked<T> {
    /// Where the value is written.
    pub span: Range<usize>,
    /// The value, or why it is not a `T`.
    pub value: Result<T, String>,
}

/// A `T`, or the error that reading one gave: the reader of the file goes on after it. Without
/// a span (see [`Checked`]): a problem with it points at its key.
#[derive(Debug, Clone)]
pub struct Caught<T>(pub Result<T, String>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Caught<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Caught(
            T::deserialize(deserializer).map_err(|err| one_line(&err.to_string())),
        ))
    }
}

/// Where the string value written after `key` (a `key = "value"` line of `text`) is: what a
/// problem with a value read without its span ([`Caught`]) points at, when it is a string.
/// The key's own span otherwise (a table, or dotted keys).
pub fn value_after(text: &str, key: Range<usize>) -> Range<usize> {
    let after = text.get(key.end..).unwrap_or_default();
    let rest = after.trim_start_matches([' ', '\t']);
    let Some(rest) = rest.strip_prefix('=') else {
        return key;
    };
    let value = rest.trim_start_matches([' ', '\t']);
    let start = text.len() - value.len();
    let mut chars = value.char_indices();
    let quote = match chars.next() {
        Some((_, quote @ ('"' | '\''))) => quote,
        _ => return key,
    };
    let mut escaped = false;
    for (at, c) in chars {
        match c {
            '\n' => break,
            '\\' if quote == '"' && !escaped => escaped = true,
            c if c == quote && !escaped => return start..start + at + 1,
            _ => escaped = false,
        }
    }
    key
}

/// A TOML reading error as one line: the reader puts the key of a value inside the one
/// read on a line of its own (`in `default``), which goes in front.
fn one_line(error: &str) -> String {
    let error = error.trim();
    match error.rsplit_once("\nin ") {
        Some((message, key)) => format!("{}: {}", key.trim(), message.trim()),
        None => error.to_owned(),
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Checked<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Caught<T>>::deserialize(deserializer)?;
        Ok(Checked {
            span: spanned.span(),
            value: spanned.into_inner().0,
        })
    }
}

/// The schema of a value read leniently is the schema of the value.
macro_rules! schema_of_the_value {
    ($($wrapper:ident),*) => {$(
        impl<T: JsonSchema> JsonSchema for $wrapper<T> {
            fn schema_name() -> Cow<'static, str> {
                T::schema_name()
            }

            fn schema_id() -> Cow<'static, str> {
                T::schema_id()
            }

            fn inline_schema() -> bool {
                T::inline_schema()
            }

            fn json_schema(generator: &mut SchemaGenerator) -> Schema {
                T::json_schema(generator)
            }
        }
    )*};
}

schema_of_the_value!(Caught, Checked);

/// A prerequisite's version range: a semver requirement (`"^1.2"`) or the seed's
/// `{ min = { major = 1 }, max = { major = 2 } }` form.
#[derive(Debug, Clone, JsonSchema)]
#[serde(untagged)]
pub enum RawRequirement {
    /// A semver requirement, for example `^1.2` or `>=1.0, <3`.
    Semver(String),
    /// The seed's form: `min` is mandatory, `max` optional; only `major` is mandatory in each.
    MinMax(RawMinMax),
}

/// The seed's `min`/`max` form of a version range.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
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
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
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
#[schemars(deny_unknown_fields)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_value_is_found_after_its_key() {
        let text = "[prerequisites]\ncore = \"^x\" # range\nauth = { min = 1 }\nb.c = \"a\\\"b\"\n";
        let at = |key: &str| {
            let start = text.find(key).unwrap();
            let span = value_after(text, start..start + key.len());
            &text[span]
        };
        assert_eq!(at("core"), "\"^x\"");
        assert_eq!(at("auth"), "auth");
        assert_eq!(at(".c"), "\"a\\\"b\"");
    }

    #[test]
    fn a_reading_error_is_one_line_with_its_key_in_front() {
        assert_eq!(
            one_line("invalid type: integer `1`, expected a string\nin `default`\n"),
            "`default`: invalid type: integer `1`, expected a string"
        );
        assert_eq!(one_line("missing field `min`\n"), "missing field `min`");
    }
}
