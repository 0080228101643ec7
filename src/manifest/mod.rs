//! Package manifests: `dbpm.toml` and the seed's legacy `manifest.dpm`, read into one
//! validated [`Manifest`]. Every problem found is reported with the span it comes from.
//!
//! This module knows nothing of the scripts beside the manifest; checking declarations
//! against the files that exist is the package's job.

mod keys;
mod legacy;
pub mod raw;
mod requirement;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use semver::Version;
use serde::Serialize;
use toml::Spanned;

use crate::diagnostic::{Problem, SourceFile};
use crate::platform::Platform;

pub use legacy::parse_legacy;
pub use requirement::Requirement;

/// The file name of a manifest.
pub const MANIFEST_FILE: &str = "dbpm.toml";
/// The file name of the seed's legacy manifest.
pub const LEGACY_MANIFEST_FILE: &str = "manifest.dpm";
/// The longest package name allowed.
pub const MAX_NAME_LEN: usize = 100;
/// The longest description allowed.
pub const MAX_DESCRIPTION_LEN: usize = 4000;

/// A validated manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The package name.
    pub name: String,
    /// The package version.
    pub version: Version,
    /// What the package holds.
    pub description: String,
    /// The platforms the package supports (never empty).
    pub platforms: BTreeSet<Platform>,
    /// The version `UPGRADE/` upgrades from; `None` for a baseline.
    pub from: Option<Version>,
    /// Required packages and their ranges.
    pub prerequisites: BTreeMap<String, Requirement>,
    /// Declared placeholders.
    pub placeholders: BTreeMap<String, Placeholder>,
    /// Script declarations keyed by `PHASE/NNN.name`.
    pub scripts: BTreeMap<String, Declaration>,
    /// Whether the manifest came from the seed's `manifest.dpm`, where a forward script without
    /// a twin is a warning rather than an error.
    pub legacy: bool,
}

/// Who a package says it is, as far as its manifest can be read: enough to name a package
/// that fails validation and to follow its prerequisites (`dbpm affected`), never enough to
/// use it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The package name.
    pub name: String,
    /// The version, when it is one.
    pub version: Option<Version>,
    /// The names of the packages it requires.
    pub prerequisites: BTreeSet<String>,
}

impl Identity {
    /// The identity of a valid manifest.
    pub fn of(manifest: &Manifest) -> Identity {
        Identity {
            name: manifest.name.clone(),
            version: Some(manifest.version.clone()),
            prerequisites: manifest.prerequisites.keys().cloned().collect(),
        }
    }

    /// What a `dbpm.toml` that does not validate still says, read loosely: `[package]`'s
    /// `name`, its `version` when that parses, and the keys of `[prerequisites]`. `None` when
    /// the text is not TOML or names no package.
    pub fn peek_toml(text: &str) -> Option<Identity> {
        let table: toml::Table = toml::from_str(text).ok()?;
        let package = table.get("package")?.as_table()?;
        let name = package.get("name")?.as_str()?.trim();
        if name.is_empty() {
            return None;
        }
        let version = package
            .get("version")
            .and_then(toml::Value::as_str)
            .and_then(|v| Version::parse(v.trim()).ok());
        let prerequisites = table
            .get("prerequisites")
            .and_then(toml::Value::as_table)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        Some(Identity {
            name: name.to_owned(),
            version,
            prerequisites,
        })
    }
}

/// A declared `${name}` variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Placeholder {
    /// What it means.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The value when nothing else gives one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// What a script declares about itself, with defaults applied.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct ScriptFlags {
    /// Runs inside a transaction (the default).
    pub transaction: bool,
    /// Safe to run again after a crash.
    pub idempotent: bool,
    /// Has no compensating twin, on purpose.
    pub irreversible: bool,
    /// Runs inside a transaction on MySQL/MariaDB too (DML only).
    pub mysql_transactional: bool,
}

impl Default for ScriptFlags {
    fn default() -> Self {
        ScriptFlags {
            transaction: true,
            idempotent: false,
            irreversible: false,
            mysql_transactional: false,
        }
    }
}

/// A script declaration and where it was written (two declarations are equal when their
/// flags are: where they were written is not part of what they mean).
#[derive(Debug, Clone)]
pub struct Declaration {
    /// The flags, defaults applied.
    pub flags: ScriptFlags,
    /// The span of the key in the manifest, when there is a manifest text to point into.
    pub span: Option<Range<usize>>,
}

impl PartialEq for Declaration {
    fn eq(&self, other: &Self) -> bool {
        self.flags == other.flags
    }
}

impl Eq for Declaration {}

/// Reads `dbpm.toml`, reporting every problem it can find at once.
pub fn parse_toml(file: &SourceFile) -> Result<Manifest, Vec<Problem>> {
    let mut problems = keys::unknown(file);
    let raw: raw::RawManifest = match toml::from_str(file.text()) {
        Ok(raw) => raw,
        Err(err) => {
            problems.push(toml_problem(file, err.message(), err.span()));
            return Err(in_file_order(problems));
        }
    };
    let mut check = Checker {
        file,
        problems: &mut problems,
    };

    // A problem of the whole table points at its header, where it has one.
    let header = file
        .text()
        .find("[package]")
        .map(|at| at..at + "[package]".len());
    let package = check.read_table(&raw.package, header);
    let package = package.as_ref();
    let name = package
        .and_then(|p| check.read(&p.name))
        .and_then(|name| check.name(&name));
    let version = package
        .and_then(|p| check.read(&p.version))
        .and_then(|version| check.version(&version, "version"));
    let description = package
        .and_then(|p| p.description.as_ref())
        .and_then(|d| check.read(d))
        .map(|d| check.description(&d))
        .unwrap_or_default();
    let platforms = package
        .and_then(|p| check.read(&p.platforms))
        .and_then(|platforms| check.platforms(&platforms));
    let from_value = package
        .and_then(|p| p.from.as_ref())
        .and_then(|from| check.read(from));
    let from = from_value
        .as_ref()
        .and_then(|from| check.version(from, "from"));
    if let (Some(version), Some(from_version), Some(written)) = (&version, &from, &from_value) {
        if from_version >= version {
            let span = written.span();
            check.push(
                Problem::error(
                    file.path(),
                    "dbpm::manifest::from_not_older",
                    format!("`from` {from_version} is not older than version {version}"),
                )
                .at(file, span, "must be a lower version")
                .with_help(
                    "`from` names the version this one upgrades from; omit it for a baseline",
                ),
            );
        }
    }

    let mut prerequisites = BTreeMap::new();
    for (key, value) in &raw.prerequisites {
        let valid_name = check.prerequisite_name(key);
        let written = raw::value_after(file.text(), key.span());
        let Some(value) = check.read_table(value, Some(written.clone())) else {
            continue;
        };
        let requirement = match &value {
            raw::RawRequirement::Semver(text) => {
                Requirement::parse(text).map_err(|e| e.to_string())
            }
            raw::RawRequirement::MinMax(range) => Requirement::from_min_max(range),
        };
        match requirement {
            Ok(req) if valid_name => {
                prerequisites.insert(key.get_ref().clone(), req);
            }
            Ok(_) => {}
            Err(reason) => check.push(
                Problem::error(file.path(), "dbpm::manifest::bad_range", format!("bad version range for prerequisite `{}`: {reason}", key.get_ref()))
                    .at(file, written, "not a version range")
                    .with_help("write a semver requirement like \"^1.2\" or \">=1.0, <3\", or { min = { major = 1 }, max = { major = 2 } }"),
            ),
        }
    }
    if let Some(name) = &name {
        if let Some(key) = raw.prerequisites.keys().find(|k| k.get_ref() == name) {
            check.push(
                Problem::error(
                    file.path(),
                    "dbpm::manifest::self_prerequisite",
                    format!("package `{name}` lists itself as a prerequisite"),
                )
                .at(file, key.span(), "remove this prerequisite"),
            );
        }
    }

    let mut placeholders = BTreeMap::new();
    for (key, value) in &raw.placeholders {
        if !is_placeholder_name(key.get_ref()) {
            check.push(
                Problem::error(file.path(), "dbpm::manifest::bad_placeholder_name", format!("`{}` is not a placeholder name", key.get_ref()))
                    .at(file, key.span(), "not a name")
                    .with_help("a placeholder name starts with an ASCII letter or `_` and holds ASCII letters, digits and `_`"),
            );
            continue;
        }
        let Some(value) = check.read_table(value, Some(key.span())) else {
            continue;
        };
        placeholders.insert(
            key.get_ref().clone(),
            Placeholder {
                description: value.description,
                default: value.default,
            },
        );
    }

    let mut scripts = BTreeMap::new();
    for (key, decl) in &raw.scripts {
        let Some(decl) = check.read_table(decl, Some(key.span())) else {
            continue;
        };
        let defaults = ScriptFlags::default();
        let flags = ScriptFlags {
            transaction: decl.transaction.unwrap_or(defaults.transaction),
            idempotent: decl.idempotent.unwrap_or(defaults.idempotent),
            irreversible: decl.irreversible.unwrap_or(defaults.irreversible),
            mysql_transactional: decl
                .mysql_transactional
                .unwrap_or(defaults.mysql_transactional),
        };
        scripts.insert(
            key.get_ref().clone(),
            Declaration {
                flags,
                span: Some(key.span()),
            },
        );
    }

    match (name, version, platforms) {
        (Some(name), Some(version), Some(platforms)) if problems.is_empty() => Ok(Manifest {
            name,
            version,
            description,
            platforms,
            from,
            prerequisites,
            placeholders,
            scripts,
            legacy: false,
        }),
        _ => Err(in_file_order(problems)),
    }
}

/// Problems sorted by where they point, those that point nowhere last.
fn in_file_order(mut problems: Vec<Problem>) -> Vec<Problem> {
    problems.sort_by_key(|problem| problem.offset().unwrap_or(usize::MAX));
    problems
}

/// Writes a manifest as a normalised `dbpm.toml`, the form stored in archives.
pub fn to_toml(manifest: &Manifest) -> String {
    #[derive(Serialize)]
    struct Out<'a> {
        package: PackageOut<'a>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        prerequisites: BTreeMap<&'a str, String>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        placeholders: &'a BTreeMap<String, Placeholder>,
        #[serde(skip_serializing_if = "BTreeMap::is_empty")]
        scripts: BTreeMap<&'a str, ScriptFlags>,
    }
    #[derive(Serialize)]
    struct PackageOut<'a> {
        name: &'a str,
        version: String,
        description: &'a str,
        platforms: Vec<&'static str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        from: Option<String>,
    }
    let out = Out {
        package: PackageOut {
            name: &manifest.name,
            version: manifest.version.to_string(),
            description: &manifest.description,
            platforms: manifest.platforms.iter().map(|p| p.as_str()).collect(),
            from: manifest.from.as_ref().map(Version::to_string),
        },
        prerequisites: manifest
            .prerequisites
            .iter()
            .map(|(name, req)| (name.as_str(), req.to_string()))
            .collect(),
        placeholders: &manifest.placeholders,
        scripts: manifest
            .scripts
            .iter()
            .map(|(key, decl)| (key.as_str(), decl.flags))
            .collect(),
    };
    toml::to_string(&out).unwrap_or_else(|err| unreachable!("a manifest always serializes: {err}"))
}

/// Whether `name` is a valid package name.
pub fn is_package_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Whether `name` is a valid placeholder name.
pub fn is_placeholder_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The shapes a manifest's values take, by the name of the Rust type that reads them: what
/// an error about a value of the wrong type says was expected, in the manifest's terms.
const SHAPES: [(&str, &str); 5] = [
    (
        "struct RawPlaceholder",
        "a placeholder: a table like `{ description = \"…\", default = \"…\" }`",
    ),
    (
        "struct RawDeclaration",
        "a script declaration: a table of `transaction`, `idempotent`, `irreversible` and `mysql_transactional` flags",
    ),
    (
        "struct RawMinMax",
        "a table like `{ min = { major = 1 }, max = { major = 2 } }`",
    ),
    (
        "struct RawBound",
        "a table like `{ major = 1, minor = 2 }`",
    ),
    ("struct RawPackage", "the `[package]` table"),
];

/// A value serde could not read as the manifest's types (or TOML that is not TOML), in the
/// manifest's words.
fn toml_problem(file: &SourceFile, message: &str, span: Option<Range<usize>>) -> Problem {
    let mut message = message.to_owned();
    for (rust, shape) in SHAPES {
        message = message.replace(rust, shape);
    }
    // A value inside the one read has its key in front (`` `default`: invalid type… ``).
    let what = message
        .strip_prefix('`')
        .and_then(|rest| rest.split_once("`: "))
        .map_or(message.as_str(), |(_, what)| what);
    let wrong_type = ["invalid type", "invalid value", "invalid length"]
        .iter()
        .any(|start| what.starts_with(start));
    let (code, help) = if wrong_type {
        (
            "dbpm::manifest::wrong_type",
            "give the key a value of the expected type (a key written after a table's header belongs to that table); `dbpm init` writes a complete example",
        )
    } else if what.starts_with("unknown field") {
        (
            "dbpm::manifest::unknown_key",
            "remove the key or fix its spelling; `dbpm init` writes a complete example",
        )
    } else if what.starts_with("missing field") {
        (
            "dbpm::manifest::missing_key",
            "add the key; `dbpm init` writes a complete example",
        )
    } else {
        ("dbpm::manifest::toml", "fix the TOML syntax")
    };
    let problem = Problem::error(file.path(), code, message.clone()).with_help(help);
    match span {
        Some(span) => problem.at(file, span, message),
        None => problem,
    }
}

/// The first character of a span, for values too long to underline whole.
fn start_of(span: Range<usize>) -> Range<usize> {
    span.start..span.start + 1
}

struct Checker<'a> {
    file: &'a SourceFile,
    problems: &'a mut Vec<Problem>,
}

impl Checker<'_> {
    fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    /// The table when it has the expected shape; else the problem is noted, at `key` when
    /// there is one to point at.
    fn read_table<T: Clone>(
        &mut self,
        caught: &raw::Caught<T>,
        key: Option<Range<usize>>,
    ) -> Option<T> {
        match &caught.0 {
            Ok(value) => Some(value.clone()),
            Err(message) => {
                let problem = toml_problem(self.file, message, key);
                self.problems.push(problem);
                None
            }
        }
    }

    /// The value when it has the expected type; else the problem is noted.
    fn read<T: Clone>(&mut self, checked: &raw::Checked<T>) -> Option<Spanned<T>> {
        match &checked.value {
            Ok(value) => Some(Spanned::new(checked.span.clone(), value.clone())),
            Err(message) => {
                let problem = toml_problem(self.file, message, Some(checked.span.clone()));
                self.problems.push(problem);
                None
            }
        }
    }

    fn error(
        &mut self,
        code: &'static str,
        message: String,
        span: Range<usize>,
        label: &str,
        help: &str,
    ) {
        let problem = Problem::error(self.file.path(), code, message)
            .at(self.file, span, label)
            .with_help(help);
        self.problems.push(problem);
    }

    fn name(&mut self, name: &Spanned<String>) -> Option<String> {
        let text = name.get_ref();
        if text.chars().count() > MAX_NAME_LEN {
            self.error(
                "dbpm::manifest::name_too_long",
                format!(
                    "package name is {} characters long, more than {MAX_NAME_LEN}",
                    text.chars().count()
                ),
                name.span(),
                "too long",
                "shorten the name",
            );
            None
        } else if !is_package_name(text) {
            self.error(
                "dbpm::manifest::bad_name",
                format!("`{text}` is not a package name"),
                name.span(),
                "not a package name",
                "a package name starts with an ASCII letter or digit and holds ASCII letters, digits, `_` and `-`",
            );
            None
        } else {
            Some(text.clone())
        }
    }

    fn prerequisite_name(&mut self, name: &Spanned<String>) -> bool {
        if is_package_name(name.get_ref()) {
            return true;
        }
        self.error(
            "dbpm::manifest::bad_name",
            format!("`{}` is not a package name", name.get_ref()),
            name.span(),
            "not a package name",
            "a package name starts with an ASCII letter or digit and holds ASCII letters, digits, `_` and `-`",
        );
        false
    }

    fn version(&mut self, version: &Spanned<String>, key: &str) -> Option<Version> {
        match Version::parse(version.get_ref().trim()) {
            Ok(v) => Some(v),
            Err(err) => {
                self.error(
                    "dbpm::manifest::bad_version",
                    format!("`{key}` is not a semantic version: {err}"),
                    version.span(),
                    "not MAJOR.MINOR.PATCH",
                    "write a full semantic version such as \"1.2.0\"",
                );
                None
            }
        }
    }

    fn description(&mut self, description: &Spanned<String>) -> String {
        let count = description.get_ref().chars().count();
        if count > MAX_DESCRIPTION_LEN {
            self.error(
                "dbpm::manifest::description_too_long",
                format!("description is {count} characters long, more than {MAX_DESCRIPTION_LEN}"),
                start_of(description.span()),
                "too long",
                "shorten the description; details belong in a README beside the manifest",
            );
        }
        description.get_ref().clone()
    }

    fn platforms(
        &mut self,
        platforms: &Spanned<Vec<Spanned<String>>>,
    ) -> Option<BTreeSet<Platform>> {
        let mut set = BTreeSet::new();
        let mut ok = true;
        for entry in platforms.get_ref() {
            match entry.get_ref().parse::<Platform>() {
                Ok(platform) => {
                    set.insert(platform);
                }
                Err(_) => {
                    ok = false;
                    let help = match Platform::suggest(entry.get_ref()) {
                        Some(p) => format!("did you mean `{p}`?"),
                        None => {
                            "the platforms are `postgres`, `mysql` (also for MariaDB) and `sqlite`"
                                .to_owned()
                        }
                    };
                    self.error(
                        "dbpm::manifest::unknown_platform",
                        format!("unknown platform `{}`", entry.get_ref()),
                        entry.span(),
                        "unknown platform",
                        &help,
                    );
                }
            }
        }
        if set.is_empty() && ok {
            self.error(
                "dbpm::manifest::no_platform",
                "the package lists no platform".to_owned(),
                platforms.span(),
                "empty",
                "list at least one of `postgres`, `mysql`, `sqlite`",
            );
            return None;
        }
        ok.then_some(set)
    }
}

/// The JSON schema of `dbpm.toml`, generated from the types that read it.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(raw::RawManifest))
        .unwrap_or_else(|err| unreachable!("a schema always serializes: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invalid_manifest_still_names_its_package_when_it_is_toml() {
        let peeked = Identity::peek_toml(
            "[package]\nname = \"billing\"\nversion = \"1.2\"\nplatforms = [\"oracle\"]\n\n[prerequisites]\ncore = \"not a range\"\n",
        )
        .unwrap();
        assert_eq!(peeked.name, "billing");
        assert_eq!(peeked.version, None);
        assert_eq!(peeked.prerequisites, BTreeSet::from(["core".to_owned()]));
        let peeked = Identity::peek_toml("[package]\nname = \"a\"\nversion = \"1.0.0\"\n").unwrap();
        assert_eq!(peeked.version, Some(Version::new(1, 0, 0)));
        assert_eq!(Identity::peek_toml("[package\nname = \"a\""), None);
        assert_eq!(
            Identity::peek_toml("[package]\nversion = \"1.0.0\"\n"),
            None
        );
    }

    #[test]
    fn every_problem_of_a_manifest_is_reported_at_once_in_file_order() {
        let text = "[package]\nname = \"ca\"\nversion = 1\nplatforms = [\"db2\"]\nowner = \"me\"\n\n[prerequisites]\ncb = 5\n\n[scripts.\"UPGRADE/001.a\"]\ntransaction = \"no\"\n";
        let problems = parse_toml(&SourceFile::new("ca/dbpm.toml", text.to_owned())).unwrap_err();
        let codes: Vec<_> = problems.iter().map(Problem::code_str).collect();
        assert_eq!(
            codes,
            [
                "dbpm::manifest::wrong_type",
                "dbpm::manifest::unknown_platform",
                "dbpm::manifest::unknown_key",
                "dbpm::manifest::wrong_type",
                "dbpm::manifest::wrong_type",
            ]
        );
        assert_eq!(
            problems[4].message(),
            "`transaction`: invalid type: string \"no\", expected a boolean"
        );
    }

    /// Tables made by dotted keys have no span in TOML; reading them as spanned values
    /// refused them (review: "expected a borrowed string").
    #[test]
    fn tables_made_by_dotted_keys_read_as_their_headers_do() {
        let text = "package.name = \"ca\"\npackage.version = \"1.0.0\"\npackage.platforms = [\"sqlite\"]\n\n[prerequisites]\ncb.min.major = 1\n\n[placeholders]\nschema.default = \"app\"\n\n[scripts]\n\"UPGRADE/001.a\".idempotent = true\n";
        let manifest = parse_toml(&SourceFile::new("ca/dbpm.toml", text.to_owned()))
            .unwrap_or_else(|problems| panic!("{problems:?}"));
        assert_eq!(manifest.name, "ca");
        assert_eq!(manifest.prerequisites["cb"].to_string(), ">=1.0.0");
        assert_eq!(
            manifest.placeholders["schema"].default.as_deref(),
            Some("app")
        );
        assert!(manifest.scripts["UPGRADE/001.a"].flags.idempotent);
        let wrong = "package.name = \"ca\"\npackage.version = \"1.0.0\"\npackage.platforms = [\"sqlite\"]\npackage.owner = \"me\"\n[placeholders]\nschema.default = 5\n";
        let problems = parse_toml(&SourceFile::new("ca/dbpm.toml", wrong.to_owned())).unwrap_err();
        let codes: Vec<_> = problems.iter().map(Problem::code_str).collect();
        assert_eq!(
            codes,
            ["dbpm::manifest::unknown_key", "dbpm::manifest::wrong_type"]
        );
        let packages = "[[package]]\nname = \"ca\"\n";
        let problems =
            parse_toml(&SourceFile::new("ca/dbpm.toml", packages.to_owned())).unwrap_err();
        assert_eq!(problems[0].code_str(), "dbpm::manifest::wrong_type");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_explained_in_the_manifests_terms() {
        let head = "[package]\nname = \"ca\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n";
        for (tail, expected) in [
            // A prerequisite appended after the `[placeholders]` header `init` writes last.
            (
                "\n[placeholders]\ncb = \"^1\"\n",
                "expected a placeholder: a table like",
            ),
            (
                "\n[prerequisites]\ncb = 5\n",
                "expected a semver requirement",
            ),
        ] {
            let file = SourceFile::new("ca/dbpm.toml", format!("{head}{tail}"));
            let problems = parse_toml(&file).unwrap_err();
            let problem = &problems[0];
            assert_eq!(problem.code_str(), "dbpm::manifest::wrong_type");
            assert!(
                problem.message().contains(expected),
                "{}",
                problem.message()
            );
            assert!(!problem.message().contains("Raw"), "{}", problem.message());
        }
    }
}
