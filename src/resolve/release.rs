//! The target release file, `release.toml`: the packages a target should have (each with an
//! exact version or a range), the platform it is for (optional) and the values of `${name}`
//! placeholders. Every problem found is reported at once, located in the file.
//!
//! Reading the file is the caller's job: this module only parses its text.

use std::collections::BTreeMap;
use std::ops::Range;

use schemars::JsonSchema;
use serde::Deserialize;
use toml::Spanned;

use crate::diagnostic::{Problem, Problems, SourceFile};
use crate::manifest::raw::{value_after, Caught, Checked, RawRequirement};
use crate::manifest::{is_package_name, is_placeholder_name, Requirement};
use crate::package::Checksum;
use crate::platform::Platform;

use super::wording::closest;

/// The keys a release file may hold at its top level.
const KEYS: [&str; 3] = ["packages", "placeholders", "platform"];

/// A validated release file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// The platform the release is for, when it says; a plan for another platform is refused.
    pub platform: Option<Platform>,
    /// The packages wanted on the target and the versions allowed for each.
    pub packages: BTreeMap<String, Requirement>,
    /// Values of `${name}` placeholders.
    pub placeholders: BTreeMap<String, String>,
    /// The checksum of the file's text (line endings normalised): what a plan records to
    /// tell whether it was computed from this release.
    pub digest: Checksum,
}

/// The shape of `release.toml` as written by people, with spans so that validation can point
/// at the offending value. The JSON schema (`schemas/release.schema.json`) is generated from
/// it; see [`release_schema`].
///
/// Unknown keys are refused by [`parse_release`] (all of them at once, with spans), not by
/// serde, which would stop at the first one.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(deny_unknown_fields, title = "dbpm target release (release.toml)")]
pub struct RawRelease {
    /// The platform the release is for; when present, plans for another platform are refused.
    #[serde(default)]
    #[schemars(with = "Option<Platform>")]
    pub platform: Option<Checked<String>>,
    /// The packages wanted on the target, each with the versions allowed: a version
    /// (`"1.2.0"`, exactly that version), a semver requirement (`"^2"`, `">=1.0, <3"`) or the
    /// `{ min = { major = 1 }, max = { major = 2 } }` form.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, RawRequirement>")]
    pub packages: BTreeMap<Spanned<String>, Caught<RawRequirement>>,
    /// Values of the `${name}` placeholders that scripts use.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, String>")]
    pub placeholders: BTreeMap<Spanned<String>, Checked<String>>,
}

/// The JSON schema of `release.toml`.
pub fn release_schema() -> serde_json::Value {
    schemars::schema_for!(RawRelease).to_value()
}

/// Reads a release file's text, reporting every problem it can find at once.
pub fn parse_release(file: &SourceFile) -> Result<Release, Problems> {
    let mut found = Found {
        file,
        problems: Vec::new(),
    };
    found.unknown_keys();
    // A file with nothing in it is more likely a failed checkout than a release that wants
    // nothing, which with `--prune` would uninstall everything.
    if file.text().trim().is_empty() {
        found.problems.push((
            0,
            Problem::error(file.path(), "dbpm::release::empty", "the release file is empty")
                .with_help("write `[packages]` and the packages wanted under it; a `[packages]` table with nothing under it wants nothing"),
        ));
        return Err(found.into_problems());
    }
    let raw: RawRelease = match toml::from_str(file.text()) {
        Ok(raw) => raw,
        Err(err) => {
            found.toml(&err);
            return Err(found.into_problems());
        }
    };

    let platform = raw
        .platform
        .as_ref()
        .and_then(|platform| found.read(platform))
        .and_then(|platform| match platform.get_ref().parse::<Platform>() {
            Ok(platform) => Some(platform),
            Err(err) => {
                let help = match Platform::suggest(platform.get_ref()) {
                    Some(p) => format!("did you mean `{p}`?"),
                    None => "the platforms are `postgres`, `mysql` (also for MariaDB) and `sqlite`"
                        .to_owned(),
                };
                found.push(
                    "dbpm::release::unknown_platform",
                    err.to_string(),
                    platform.span(),
                    "unknown platform",
                    help,
                );
                None
            }
        });

    let mut packages = BTreeMap::new();
    for (name, range) in &raw.packages {
        let valid_name = is_package_name(name.get_ref());
        if !valid_name {
            found.push(
                "dbpm::release::bad_name",
                format!("`{}` is not a package name", name.get_ref()),
                name.span(),
                "not a package name",
                "a package name starts with an ASCII letter or digit and holds ASCII letters, digits, `_` and `-`",
            );
        }
        let written = value_after(file.text(), name.span());
        let range = match &range.0 {
            Ok(range) => range,
            Err(message) => {
                found.wrong_type(message, written);
                continue;
            }
        };
        let requirement = match range {
            RawRequirement::Semver(text) => Requirement::parse(text).map_err(|e| e.to_string()),
            RawRequirement::MinMax(range) => Requirement::from_min_max(range),
        };
        match requirement {
            Ok(requirement) if valid_name => {
                packages.insert(name.get_ref().clone(), requirement);
            }
            Ok(_) => {}
            Err(reason) => found.push(
                "dbpm::release::bad_requirement",
                format!("bad version range for package `{}`: {reason}", name.get_ref()),
                written,
                "not a version or version range",
                "write a version (\"1.2.0\" means exactly 1.2.0), a semver requirement like \"^1.2\" or \">=1.0, <3\", or { min = { major = 1 }, max = { major = 2 } }",
            ),
        }
    }

    let mut placeholders = BTreeMap::new();
    for (name, value) in &raw.placeholders {
        let value = found.read(value);
        if is_placeholder_name(name.get_ref()) {
            if let Some(value) = value {
                placeholders.insert(name.get_ref().clone(), value.into_inner());
            }
        } else {
            found.push(
                "dbpm::release::bad_placeholder_name",
                format!("`{}` is not a placeholder name", name.get_ref()),
                name.span(),
                "not a name",
                "a placeholder name starts with an ASCII letter or `_` and holds ASCII letters, digits and `_`",
            );
        }
    }

    if found.problems.is_empty() {
        Ok(Release {
            platform,
            packages,
            placeholders,
            digest: Checksum::of_text(file.text()),
        })
    } else {
        Err(found.into_problems())
    }
}

/// The problems of one release file, kept with their offsets so that they are reported in
/// the order of the file.
struct Found<'a> {
    file: &'a SourceFile,
    problems: Vec<(usize, Problem)>,
}

impl Found<'_> {
    fn push(
        &mut self,
        code: &'static str,
        message: String,
        span: Range<usize>,
        label: &str,
        help: impl Into<String>,
    ) {
        let problem = Problem::error(self.file.path(), code, message)
            .at(self.file, span.clone(), label)
            .with_help(help);
        self.problems.push((span.start, problem));
    }

    /// Every top-level key that is not one of [`KEYS`]. A file that is not valid TOML yields
    /// none here: the full parse reports why.
    fn unknown_keys(&mut self) {
        let Ok(top) =
            toml::from_str::<BTreeMap<Spanned<String>, serde::de::IgnoredAny>>(self.file.text())
        else {
            return;
        };
        for key in top.keys() {
            if KEYS.contains(&key.get_ref().as_str()) {
                continue;
            }
            let help = match closest(key.get_ref(), KEYS) {
                Some(known) => format!("did you mean `{known}`?"),
                None => "a release holds `platform`, `[packages]` and `[placeholders]`".to_owned(),
            };
            self.push(
                "dbpm::release::unknown_key",
                format!("unknown key `{}`", key.get_ref()),
                key.span(),
                "unknown key",
                help,
            );
        }
    }

    /// The value when it has the expected type; else the problem is noted.
    fn read<T: Clone>(&mut self, checked: &Checked<T>) -> Option<Spanned<T>> {
        match &checked.value {
            Ok(value) => Some(Spanned::new(checked.span.clone(), value.clone())),
            Err(message) => {
                self.wrong_type(message, checked.span.clone());
                None
            }
        }
    }

    /// A value of the wrong type, at `span` (the value's, or its key's).
    fn wrong_type(&mut self, message: &str, span: Range<usize>) {
        self.push(
            "dbpm::release::wrong_type",
            message.to_owned(),
            span,
            "not of the expected type",
            "give the key a value of the expected type: a version or range for a package, a string for a placeholder (a key written after a table's header belongs to that table)",
        );
    }

    fn toml(&mut self, err: &toml::de::Error) {
        let message = err.message().to_owned();
        let help = "fix the TOML; a release holds `platform`, `[packages]` and `[placeholders]`";
        match err.span() {
            Some(span) => self.push("dbpm::release::toml", message.clone(), span, &message, help),
            None => self.problems.push((
                usize::MAX,
                Problem::error(self.file.path(), "dbpm::release::toml", message).with_help(help),
            )),
        }
    }

    fn into_problems(mut self) -> Problems {
        self.problems.sort_by_key(|(offset, _)| *offset);
        Problems::new(
            format!("release `{}`", self.file.path().display()),
            self.problems.into_iter().map(|(_, p)| p).collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resolve::testing::render;
    use semver::Version;

    fn parse(text: &str) -> Result<Release, Problems> {
        parse_release(&SourceFile::new("release.toml", text))
    }

    #[test]
    fn reads_versions_ranges_platform_and_placeholders() {
        let release = parse(
            r#"
platform = "postgres"
[packages]
billing = "1.2.0"
auth = "^2"
legacy = { min = { major = 1, minor = 4 }, max = { major = 1 } }
[placeholders]
currency = "EUR"
"#,
        )
        .unwrap();
        assert_eq!(release.platform, Some(Platform::Postgres));
        let billing = &release.packages["billing"];
        assert!(billing.matches(&Version::new(1, 2, 0)));
        assert!(!billing.matches(&Version::new(1, 2, 1)));
        assert!(release.packages["auth"].matches(&Version::new(2, 7, 0)));
        let legacy = &release.packages["legacy"];
        assert!(legacy.matches(&Version::new(1, 9, 0)));
        assert!(!legacy.matches(&Version::new(1, 3, 0)));
        assert!(!legacy.matches(&Version::new(2, 0, 0)));
        assert_eq!(release.placeholders["currency"], "EUR");
    }

    #[test]
    fn an_empty_file_is_refused() {
        // QA: a truncated release file with `--prune` planned to uninstall everything.
        let problems = parse(" \n").unwrap_err();
        assert_eq!(problems.all()[0].code_str(), "dbpm::release::empty");
    }

    #[test]
    fn everything_is_optional() {
        let release = parse("# no packages wanted\n").unwrap();
        assert_eq!(release.platform, None);
        assert!(release.packages.is_empty());
        assert!(release.placeholders.is_empty());
    }

    #[test]
    fn digest_ignores_line_endings_only() {
        let unix = parse("[packages]\nauth = \"^2\"\n").unwrap();
        let windows = parse("[packages]\r\nauth = \"^2\"\r\n").unwrap();
        let other = parse("[packages]\nauth = \"^3\"\n").unwrap();
        assert_eq!(unix.digest, windows.digest);
        assert_ne!(unix.digest, other.digest);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let text = r#"platform = "postgresql"
target = "prod"
[packages]
"bad name" = "1.0.0"
auth = "^two"
[placeholders]
"1st" = "x"
[package]
"#;
        let problems = parse(text).unwrap_err();
        let codes: Vec<_> = problems.all().iter().map(Problem::code_str).collect();
        assert_eq!(
            codes,
            [
                "dbpm::release::unknown_platform",
                "dbpm::release::unknown_key",
                "dbpm::release::bad_name",
                "dbpm::release::bad_requirement",
                "dbpm::release::bad_placeholder_name",
                "dbpm::release::unknown_key",
            ]
        );
        insta::assert_snapshot!(render(&problems));
    }

    #[test]
    fn values_of_the_wrong_type_are_reported_with_the_other_problems() {
        let text = "platform = 5\n[packages]\nauth = 2\n\"bad name\" = \"1.0.0\"\n[placeholders]\nschema = true\n";
        let problems = parse(text).unwrap_err();
        let codes: Vec<_> = problems.all().iter().map(Problem::code_str).collect();
        assert_eq!(
            codes,
            [
                "dbpm::release::wrong_type",
                "dbpm::release::wrong_type",
                "dbpm::release::bad_name",
                "dbpm::release::wrong_type",
            ]
        );
        assert!(problems.all()[1].message().contains("integer `2`"));
    }

    #[test]
    fn bad_toml_is_one_located_problem() {
        let problems = parse("[packages]\nauth = \n").unwrap_err();
        assert_eq!(problems.all().len(), 1);
        assert_eq!(problems.all()[0].code_str(), "dbpm::release::toml");
    }

    #[test]
    fn wrong_types_are_reported_with_unknown_keys() {
        let problems = parse("packages = 3\nextra = 1\n").unwrap_err();
        let codes: Vec<_> = problems.all().iter().map(Problem::code_str).collect();
        assert_eq!(codes, ["dbpm::release::toml", "dbpm::release::unknown_key"]);
    }

    #[test]
    fn schema_lists_the_keys_and_refuses_others() {
        let schema = release_schema();
        let properties = schema["properties"].as_object().unwrap();
        let keys: Vec<_> = properties.keys().map(String::as_str).collect();
        assert_eq!(keys, KEYS);
        assert_eq!(schema["additionalProperties"], false);
    }
}
