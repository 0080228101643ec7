//! `dbpm affected`.

use std::path::PathBuf;

use clap::{ArgGroup, Args};

use super::render::Out;
use super::Exit;
use crate::diagnostic::plural;
use crate::ops::affected::{affected, Changes, Reason};

/// List the packages a change touches, and every package that requires them.
///
/// Over a tree of package sources (one directory per package version), a changed file belongs
/// to the package version directory holding it. The packages whose files changed come out
/// with every package that requires them, transitively (a package requires another when any
/// of its versions lists it as a prerequisite): prerequisites first, ties by name. With
/// `--output json`, an object for a CI matrix: `changed`, `affected` (name, versions, reason)
/// and `ignored` (changed files outside any package).
///
/// Example: dbpm affected --since origin/main --root packages --output json
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("changes").required(true).args(["since", "changed_files"])))]
pub struct AffectedArgs {
    /// The files changed since this git revision, uncommitted and untracked files included.
    #[arg(long, value_name = "GIT_REV")]
    since: Option<String>,
    /// The changed files, relative to the current directory (repeatable; one value may hold
    /// several, one per line, as `git diff --name-only` prints them).
    #[arg(long, num_args = 1.., value_delimiter = '\n', value_name = "FILE")]
    changed_files: Vec<String>,
    /// The tree of package sources.
    #[arg(long, default_value = ".")]
    root: PathBuf,
}

pub fn run(args: AffectedArgs, out: &Out) -> miette::Result<Exit> {
    // Strings, not paths, so that an empty value (nothing changed, or the empty line after
    // the last file) is accepted and means no file.
    let files: Vec<PathBuf> = args.changed_files.iter().map(PathBuf::from).collect();
    let changes = match &args.since {
        Some(rev) => Changes::Since(rev),
        None => Changes::Files(&files),
    };
    let found = affected(&args.root, changes)?;
    if !found.ignored.is_empty() {
        out.status(format!(
            "note: {} outside any package, ignored:",
            plural(found.ignored.len(), "changed file")
        ));
        for file in &found.ignored {
            out.status(format!("  {file}"));
        }
    }
    if out.json() {
        out.json_value(&found);
        return Ok(Exit::Success);
    }
    for package in &found.affected {
        match package.reason {
            Reason::Changed => out.data(format!("{} (changed)", package.name)),
            Reason::Requires => out.data(format!(
                "{} (requires {})",
                package.name,
                package.requires.join(", ")
            )),
        }
    }
    if found.affected.is_empty() {
        out.status("no package changed");
    }
    Ok(Exit::Success)
}
