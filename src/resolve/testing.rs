//! Test support: small in-memory indexes written with the [`index!`] macro, and the rendering
//! of diagnostics that snapshots record.

use semver::Version;

use crate::manifest::Requirement;
use crate::package::{Checksum, Origin};
use crate::platform::Platform;
use crate::repository::{Edge, IndexEntry};

/// Builds an in-memory [`Index`](crate::repository::Index), one entry per line:
///
/// ```text
/// index! {
///     "core" "1.0.0";                                   // on postgres, a baseline of 1 script
///     "auth" "1.0.0" requires["core" "^1"];
///     "web" "1.0.0" on["mysql", "sqlite"] requires["auth" "^1", "core" ">=1, <3"];
///     "core" "1.1.0" edges["1.0.0 2", "none 5/4 !UPGRADE@none/003.drop.sql"];
/// }
/// ```
///
/// An edge is `FROM SCRIPTS[/DOWNGRADE_SCRIPTS]` followed by the irreversible scripts, each
/// after a `!`.
macro_rules! index {
    ($(
        $name:literal $version:literal
        $(on [$($platform:literal),+ $(,)?])?
        $(requires [$($dep:literal $range:literal),* $(,)?])?
        $(edges [$($edge:literal),* $(,)?])?
    ;)*) => {{
        let mut entries = Vec::new();
        $(
            entries.extend($crate::resolve::testing::entries(
                $name,
                $version,
                &[$($($platform),+)?],
                &[$($(($dep, $range)),*)?],
                &[$($($edge),*)?],
            ));
        )*
        entries.into_iter().collect::<$crate::repository::Index>()
    }};
}
pub(crate) use index;

/// The entries of one line of [`index!`]: one per platform (postgres when none is named).
pub(crate) fn entries(
    name: &str,
    version: &str,
    platforms: &[&str],
    requires: &[(&str, &str)],
    edges: &[&str],
) -> Vec<IndexEntry> {
    let platforms: Vec<Platform> = if platforms.is_empty() {
        vec![Platform::Postgres]
    } else {
        platforms.iter().map(|p| p.parse().unwrap()).collect()
    };
    let edges: Vec<Edge> = if edges.is_empty() {
        vec![edge("none 1")]
    } else {
        edges.iter().map(|e| edge(e)).collect()
    };
    platforms
        .into_iter()
        .map(|platform| IndexEntry {
            name: name.to_owned(),
            version: v(version),
            platform,
            checksum: Checksum::of_text(&format!("{name}@{version} on {platform}")),
            prerequisites: requires
                .iter()
                .map(|(dep, range)| ((*dep).to_owned(), req(range)))
                .collect(),
            edges: edges.clone(),
        })
        .collect()
}

fn edge(spec: &str) -> Edge {
    let mut parts = spec.split_whitespace();
    let from = match parts.next().unwrap() {
        "none" => Origin::Nothing,
        version => Origin::Version(v(version)),
    };
    let counts = parts.next().unwrap();
    let (scripts, downgrade_scripts) = match counts.split_once('/') {
        Some((up, down)) => (up.parse().unwrap(), down.parse().unwrap()),
        None => (counts.parse().unwrap(), counts.parse().unwrap()),
    };
    let irreversible = parts
        .map(|p| p.strip_prefix('!').unwrap().to_owned())
        .collect();
    Edge {
        from,
        scripts,
        downgrade_scripts,
        irreversible,
    }
}

/// A version.
pub(crate) fn v(text: &str) -> Version {
    Version::parse(text).unwrap()
}

/// A requirement.
pub(crate) fn req(text: &str) -> Requirement {
    Requirement::parse(text).unwrap()
}

/// A diagnostic as a terminal without colour shows it.
pub(crate) fn render(diagnostic: &dyn miette::Diagnostic) -> String {
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100)
        .render_report(&mut out, diagnostic)
        .unwrap();
    out
}
