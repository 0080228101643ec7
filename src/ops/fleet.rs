//! Fleets: the targets one plan is applied to (the tenants of a database, shards), as a
//! fleet file names them for `dbpm apply PLAN --fleet FILE`.
//!
//! ```toml
//! [[target]]
//! name = "eu-1"                    # how the report names it (default: the target's label)
//! db = "postgres://app@db-eu/app"  # or db_env = "EU1_DB": the URL from that environment
//!                                  # variable, so that no password sits in the file
//! schema = "tenant_a"              # PostgreSQL only (default `public`)
//! ```
//!
//! Every target gets a lock, a journal and a run of its own: the fleet is a list, not a
//! transaction across databases.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use crate::db::target::Target;
use crate::db::DbUrl;
use crate::diagnostic::{Problem, Problems, SourceFile};

/// One target of a fleet.
#[derive(Debug, Clone)]
pub struct FleetTarget {
    /// How the report names it.
    pub name: String,
    /// The target.
    pub target: Target,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFleet {
    #[serde(default)]
    target: Vec<Spanned<RawTarget>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTarget {
    name: Option<Spanned<String>>,
    db: Option<Spanned<String>>,
    db_env: Option<Spanned<String>>,
    schema: Option<String>,
}

/// Reads and checks a fleet file: every problem in it at once, each with its line. The
/// problems name lines rather than show them: a fleet file may hold passwords in its URLs.
/// An environment variable `db_env` names is read here. `schema` is the PostgreSQL schema
/// of a target that names none (`--schema`), else `public`.
pub fn load_fleet(path: &Path, schema: Option<&str>) -> Result<Vec<FleetTarget>, Problems> {
    let subject = format!("fleet `{}`", path.display());
    let text = fs_err::read_to_string(path).map_err(|err| {
        Problems::new(
            subject.clone(),
            vec![Problem::error(path, "dbpm::fleet::read", err.to_string())],
        )
    })?;
    parse_fleet(&SourceFile::new(path, text), schema, |name| {
        std::env::var(name).ok()
    })
}

/// [`load_fleet`] of a file's text, with `env` for the environment.
fn parse_fleet(
    file: &SourceFile,
    schema: Option<&str>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<FleetTarget>, Problems> {
    let subject = format!("fleet `{}`", file.path().display());
    let help = "a fleet file lists `[[target]]` tables, each with `db` (or `db_env`), and `name` and `schema` if needed";
    let line = |span: std::ops::Range<usize>| {
        let before = file.text().get(..span.start).unwrap_or_default();
        before.matches('\n').count() + 1
    };
    let raw: RawFleet = toml::from_str(file.text()).map_err(|err| {
        let message = match err.span() {
            Some(span) => format!("line {}: {}", line(span), err.message()),
            None => err.message().to_owned(),
        };
        let problem = Problem::error(file.path(), "dbpm::fleet::toml", message).with_help(help);
        Problems::new(subject.clone(), vec![problem])
    })?;
    let mut problems = Vec::new();
    if raw.target.is_empty() {
        problems.push(
            Problem::error(file.path(), "dbpm::fleet::empty", "the fleet has no target")
                .with_help(help),
        );
    }
    let mut targets = Vec::new();
    let mut names = BTreeSet::new();
    for (at, spanned) in raw.target.iter().enumerate() {
        let which = format!("target {} (line {})", at + 1, line(spanned.span()));
        let raw = spanned.get_ref();
        let url = match (&raw.db, &raw.db_env) {
            (Some(db), None) => Some(db.get_ref().clone()),
            (None, Some(var)) => match env(var.get_ref()) {
                Some(url) => Some(url),
                None => {
                    problems.push(
                        Problem::error(
                            file.path(),
                            "dbpm::fleet::env",
                            format!(
                                "{which}: the environment variable `{}` is not set",
                                var.get_ref()
                            ),
                        )
                        .with_help("set it to the target's URL"),
                    );
                    None
                }
            },
            (Some(_), Some(_)) => {
                problems.push(
                    Problem::error(
                        file.path(),
                        "dbpm::fleet::two_urls",
                        format!("{which} has both `db` and `db_env`"),
                    )
                    .with_help("keep one"),
                );
                None
            }
            (None, None) => {
                problems.push(
                    Problem::error(
                        file.path(),
                        "dbpm::fleet::no_url",
                        format!("{which} has neither `db` nor `db_env`"),
                    )
                    .with_help(help),
                );
                None
            }
        };
        let Some(url) = url else {
            continue;
        };
        // The message never shows the URL: it may hold a password.
        let target = url
            .parse::<DbUrl>()
            .map_err(|err| err.to_string())
            .and_then(|url| {
                let platform = url.platform();
                let schema = raw.schema.clone().or_else(|| {
                    (platform == crate::platform::Platform::Postgres)
                        .then(|| schema.map(str::to_owned))
                        .flatten()
                });
                Target::new(url, schema).map_err(|err| err.to_string())
            });
        let target = match target {
            Ok(target) => target,
            Err(reason) => {
                problems.push(Problem::error(
                    file.path(),
                    "dbpm::fleet::bad_target",
                    format!("{which} is not a target: {reason}"),
                ));
                continue;
            }
        };
        let name = raw
            .name
            .as_ref()
            .map_or_else(|| target.label(), |name| name.get_ref().clone());
        if !names.insert(name.clone()) {
            problems.push(
                Problem::error(
                    file.path(),
                    "dbpm::fleet::duplicate",
                    format!("{which}: another target is named `{name}`"),
                )
                .with_help("name every target once; a target listed twice would be applied twice"),
            );
            continue;
        }
        targets.push(FleetTarget { name, target });
    }
    if problems.is_empty() {
        Ok(targets)
    } else {
        Err(Problems::new(subject, problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<FleetTarget>, Problems> {
        parse_fleet(&SourceFile::new("fleet.toml", text), None, |name| {
            (name == "EU1_DB").then(|| "postgres://app:s3cret@db-eu/app".to_owned())
        })
    }

    fn codes(problems: &Problems) -> Vec<&'static str> {
        problems.all().iter().map(Problem::code_str).collect()
    }

    #[test]
    fn targets_are_named_and_urls_come_from_the_file_or_the_environment() {
        let fleet = parse(
            "[[target]]\nname = \"eu-1\"\ndb_env = \"EU1_DB\"\nschema = \"tenant_a\"\n\n\
             [[target]]\ndb = \"sqlite://shard-2.db\"\n",
        )
        .unwrap_or_else(|err| panic!("{err:?}"));
        let names: Vec<&str> = fleet.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["eu-1", "sqlite://shard-2.db"]);
        assert_eq!(fleet[0].target.schema(), Some("tenant_a"));
        assert!(!fleet[0].target.label().contains("s3cret"));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = parse(
            "[[target]]\nname = \"a\"\ndb = \"sqlite://a.db\"\n\n\
             [[target]]\nname = \"a\"\ndb = \"sqlite://b.db\"\n\n\
             [[target]]\ndb_env = \"UNSET_DB\"\n\n\
             [[target]]\nschema = \"x\"\n\n\
             [[target]]\ndb = \"oracle://nowhere\"\n",
        )
        .err()
        .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(
            codes(&problems),
            [
                "dbpm::fleet::duplicate",
                "dbpm::fleet::env",
                "dbpm::fleet::no_url",
                "dbpm::fleet::bad_target"
            ]
        );
    }

    #[test]
    fn an_empty_fleet_or_an_unknown_key_is_refused() {
        let empty = parse("").err().unwrap_or_else(|| panic!("accepted"));
        assert_eq!(codes(&empty), ["dbpm::fleet::empty"]);
        let unknown = parse("[[target]]\nurl = \"sqlite://a.db\"\n")
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert_eq!(codes(&unknown), ["dbpm::fleet::toml"]);
    }

    #[test]
    fn a_password_never_shows_in_a_problem() {
        let problems = parse(
            "[[target]]\ndb = \"postgres://app:s3cret@db/app#x\"\n\n\
             [[target]]\ndb = \"postgres://app:s3cret@db/app\"\nport = 1\n",
        )
        .err()
        .unwrap_or_else(|| panic!("accepted"));
        assert!(!format!("{problems:?}").contains("s3cret"), "{problems:?}");
        let problems = parse("[[target]]\ndb = \"postgres://app:s3cret@db/app#x\"\n")
            .err()
            .unwrap_or_else(|| panic!("accepted"));
        assert!(!format!("{problems:?}").contains("s3cret"), "{problems:?}");
        assert_eq!(codes(&problems), ["dbpm::fleet::bad_target"]);
    }
}
