//! `dbpm repo list` and `dbpm repo show`.

use clap::{Args, Subcommand};

use super::render::Out;
use super::Exit;
use crate::ops::repository::{list, open_all, show};
use crate::platform::Platform;

/// Look into repositories.
///
/// Example: dbpm repo list --repo examples/packages
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// List packages and their versions.
    ///
    /// Example: dbpm repo list --repo /srv/dbpm-repo billing
    List(ListArgs),
    /// Show one package version: manifest, scripts, edges, prerequisites and who requires it.
    ///
    /// Example: dbpm repo show --repo examples/packages core@1.2.0 --platform sqlite
    Show(ShowArgs),
}

/// Where to look: `--repo` repeated, the first that has a version wins.
#[derive(Debug, Args)]
pub struct RepoArgs {
    /// A repository: a directory, a tree of package sources, or postgres://... (repeatable, or
    /// separated by commas).
    #[arg(long = "repo", env = "DBPM_REPO", hide_env_values = true)]
    repos: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only this package.
    name: Option<String>,
    #[command(flatten)]
    repo: RepoArgs,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// `NAME` (the highest version) or `NAME@VERSION`.
    package: String,
    /// The platform to show (default: the first the package is built for).
    #[arg(long, value_parser = super::init::parse_platform)]
    platform: Option<Platform>,
    #[command(flatten)]
    repo: RepoArgs,
}

pub async fn run(command: RepoCommand, out: &Out) -> miette::Result<Exit> {
    match command {
        RepoCommand::List(args) => {
            let repos = open_all(&args.repo.repos)?;
            let listed = list(&repos, args.name.as_deref()).await?;
            super::report_skipped(&repos, out);
            if out.json() {
                out.json_value(&listed);
                return Ok(Exit::Success);
            }
            let rows: Vec<[String; 4]> = listed
                .iter()
                .map(|item| {
                    let platforms: Vec<&str> = item.platforms.iter().map(|p| p.as_str()).collect();
                    let prerequisites: Vec<String> = item
                        .prerequisites
                        .iter()
                        .map(|(n, r)| format!("{n} {r}"))
                        .collect();
                    [
                        item.name.clone(),
                        item.version.to_string(),
                        platforms.join(","),
                        // A requirement holds `, ` itself (`>=2.0.0, <3.0.0`).
                        prerequisites.join("; "),
                    ]
                })
                .collect();
            // Columns as wide as their longest entry (a pre-release version, a long name),
            // at least as wide as they always were.
            let width = |column: usize, least: usize| {
                (rows.iter().map(|row| row[column].chars().count())).fold(least, usize::max)
            };
            let (name, version, platforms) = (width(0, 24), width(1, 10), width(2, 24));
            for [n, v, p, prerequisites] in &rows {
                out.data(
                    format!("{n:<name$} {v:<version$} {p:<platforms$} {prerequisites}").trim_end(),
                );
            }
        }
        RepoCommand::Show(args) => {
            let repos = open_all(&args.repo.repos)?;
            let (name, version) =
                match args.package.split_once('@') {
                    Some((name, version)) => (
                        name.to_owned(),
                        Some(semver::Version::parse(version).map_err(|err| {
                            miette::miette!("`{version}` is not a version: {err}")
                        })?),
                    ),
                    None => (args.package.clone(), None),
                };
            let shown = show(&repos, &name, version.as_ref(), args.platform).await?;
            super::report_skipped(&repos, out);
            if out.json() {
                out.json_value(&shown);
                return Ok(Exit::Success);
            }
            let e = &shown.entry;
            out.data(out.bold(&format!("{}@{} ({})", e.name, e.version, e.platform)));
            if !shown.description.is_empty() {
                out.data(format!("  {}", shown.description));
            }
            out.data(format!("  checksum      {}", e.checksum));
            let versions: Vec<String> = shown.versions.iter().map(ToString::to_string).collect();
            out.data(format!("  versions      {}", versions.join(", ")));
            let prerequisites: Vec<String> = e
                .prerequisites
                .iter()
                .map(|(n, r)| format!("{n} {r}"))
                .collect();
            out.data(format!(
                "  prerequisites {}",
                if prerequisites.is_empty() {
                    "none".to_owned()
                } else {
                    prerequisites.join("; ")
                }
            ));
            out.data(format!(
                "  required by   {}",
                if shown.required_by.is_empty() {
                    "nothing".to_owned()
                } else {
                    shown.required_by.join(", ")
                }
            ));
            for edge in &e.edges {
                let blocked = if edge.irreversible.is_empty() {
                    String::new()
                } else {
                    format!(", irreversible: {}", edge.irreversible.join(", "))
                };
                let folder = if edge.from == shown.default_edge {
                    "UPGRADE/".to_owned()
                } else {
                    format!("UPGRADE@{}/", edge.from)
                };
                out.data(format!(
                    "  edge          {} → {} ({folder}, {}{blocked})",
                    edge.from,
                    e.version,
                    crate::diagnostic::plural(edge.scripts, "upgrade script")
                ));
            }
            if !shown.placeholders.is_empty() {
                out.data(format!("  placeholders  {}", shown.placeholders.join(", ")));
            }
            out.data("  scripts");
            for s in &shown.scripts {
                let mut flags = Vec::new();
                if !s.transaction {
                    flags.push("no transaction");
                }
                if s.idempotent {
                    flags.push("idempotent");
                }
                if s.irreversible {
                    flags.push("irreversible");
                }
                let flags = if flags.is_empty() {
                    String::new()
                } else {
                    format!("  [{}]", flags.join(", "))
                };
                out.data(format!("    {}{flags}", s.path));
            }
        }
    }
    Ok(Exit::Success)
}
