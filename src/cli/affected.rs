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
/// A package that fails validation does not stop the command: it is listed as affected when
/// the change touches it or a package it requires (as far as its manifest can be read), so the
/// build that follows fails on it, and a warning names its problems either way. In JSON its
/// entry in `affected` carries `invalid` (its invalid directories), and `invalid` lists every
/// invalid package directory with `affected` and `errors`.
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
    for invalid in &found.invalid {
        out.report(invalid);
    }
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
        let why = match package.reason {
            Reason::Changed => "changed".to_owned(),
            Reason::Requires => format!("requires {}", package.requires.join(", ")),
        };
        let invalid = if package.invalid.is_empty() {
            ""
        } else {
            "; invalid"
        };
        out.data(format!("{} ({why}{invalid})", package.name));
    }
    if found.affected.is_empty() {
        out.status("no package changed");
    }
    Ok(Exit::Success)
}
