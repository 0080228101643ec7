//! The seed's JSON `manifest.dpm` (JSON5: unquoted keys; `prerequisites` or `dependencies`;
//! one `platform`), read into the same [`Manifest`] so existing dbpm packages keep working.

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;
use serde::Deserialize;

use super::raw::{RawBound, RawMinMax};
use super::{is_package_name, Manifest, Requirement, MAX_DESCRIPTION_LEN, MAX_NAME_LEN};
use crate::diagnostic::{Problem, SourceFile};
use crate::platform::Platform;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyManifest {
    name: String,
    #[serde(default)]
    description: String,
    platform: String,
    version: LegacyVersion,
    #[serde(default, alias = "dependencies")]
    prerequisites: Vec<LegacyPrerequisite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyVersion {
    major: u64,
    #[serde(default)]
    minor: u64,
    #[serde(default)]
    patch: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyPrerequisite {
    name: String,
    min: RawBound,
    #[serde(default)]
    max: Option<RawBound>,
}

/// Reads a legacy `manifest.dpm`. Its scripts carry no declarations; the package check marks
/// forward scripts without a twin irreversible, with a warning.
pub fn parse_legacy(file: &SourceFile) -> Result<Manifest, Vec<Problem>> {
    let raw: LegacyManifest =
        json5::from_str(file.text()).map_err(|err| vec![json5_problem(file, &err)])?;
    let path = file.path();
    let mut problems = Vec::new();
    let whole = 0..file.text().len();

    if raw.name.chars().count() > MAX_NAME_LEN || !is_package_name(&raw.name) {
        problems.push(
            Problem::error(path, "dbpm::manifest::bad_name", format!("`{}` is not a package name (at most {MAX_NAME_LEN} characters: ASCII letters, digits, `_`, `-`)", raw.name))
                .at(file, find(file, &raw.name).unwrap_or(whole.clone()), "not a package name"),
        );
    }
    if raw.description.chars().count() > MAX_DESCRIPTION_LEN {
        problems.push(
            Problem::error(
                path,
                "dbpm::manifest::description_too_long",
                format!("description is longer than {MAX_DESCRIPTION_LEN} characters"),
            )
            .with_help("shorten the description"),
        );
    }
    let platform = match raw.platform.parse::<Platform>() {
        Ok(p) => Some(p),
        Err(_) => {
            let help = match Platform::suggest(&raw.platform) {
                Some(p) => format!("did you mean `{p}`?"),
                None => {
                    "dbpm supports `postgres`, `mysql` (also for MariaDB) and `sqlite`".to_owned()
                }
            };
            problems.push(
                Problem::error(
                    path,
                    "dbpm::manifest::unknown_platform",
                    format!("unknown platform `{}`", raw.platform),
                )
                .at(
                    file,
                    find(file, &raw.platform).unwrap_or(whole.clone()),
                    "unknown platform",
                )
                .with_help(help),
            );
            None
        }
    };
    let mut prerequisites = BTreeMap::new();
    for prerequisite in &raw.prerequisites {
        let range = RawMinMax {
            min: prerequisite.min,
            max: prerequisite.max,
        };
        match Requirement::from_min_max(&range) {
            Ok(req) if is_package_name(&prerequisite.name) => {
                prerequisites.insert(prerequisite.name.clone(), req);
            }
            Ok(_) => problems.push(
                Problem::error(
                    path,
                    "dbpm::manifest::bad_name",
                    format!("`{}` is not a package name", prerequisite.name),
                )
                .at(
                    file,
                    find(file, &prerequisite.name).unwrap_or(whole.clone()),
                    "not a package name",
                ),
            ),
            Err(reason) => problems.push(
                Problem::error(
                    path,
                    "dbpm::manifest::bad_range",
                    format!(
                        "bad version range for prerequisite `{}`: {reason}",
                        prerequisite.name
                    ),
                )
                .at(
                    file,
                    find(file, &prerequisite.name).unwrap_or(whole.clone()),
                    "this prerequisite",
                ),
            ),
        }
    }
    match platform {
        Some(platform) if problems.is_empty() => Ok(Manifest {
            name: raw.name,
            version: Version::new(raw.version.major, raw.version.minor, raw.version.patch),
            description: raw.description,
            platforms: BTreeSet::from([platform]),
            from: None,
            prerequisites,
            placeholders: BTreeMap::new(),
            scripts: BTreeMap::new(),
            legacy: true,
        }),
        _ => Err(problems),
    }
}

/// The span of the first quoted occurrence of `text`, to point at a value.
fn find(file: &SourceFile, text: &str) -> Option<std::ops::Range<usize>> {
    let needle = format!("\"{text}\"");
    file.text()
        .find(&needle)
        .map(|start| start..start + needle.len())
}

fn json5_problem(file: &SourceFile, err: &json5::Error) -> Problem {
    let json5::Error::Message { msg, location } = err;
    // The parser's message embeds its own snippet; keep only what it expected.
    let msg = msg.rsplit("= ").next().unwrap_or(msg).trim().to_owned();
    let problem = Problem::error(file.path(), "dbpm::manifest::json", format!("invalid manifest.dpm: {msg}"))
        .with_help("manifest.dpm is JSON5 with the keys name, description, platform, version { major, minor, patch } and prerequisites");
    match location {
        Some(loc) => {
            let offset = file.offset_of(loc.line, loc.column);
            problem.at(file, offset..offset, msg.clone())
        }
        None => problem,
    }
}
