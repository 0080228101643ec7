//! `dbpm man`: man pages for dbpm and each of its commands, generated from the clap types,
//! so they say what `--help` says. The pages are written here rather than in `ops` because
//! they are made of clap types, which nothing below `cli` sees.

use std::path::{Path, PathBuf};

use clap::{Args, CommandFactory};

use super::render::Out;
use super::{Cli, Exit};

/// Write man pages for dbpm and each of its commands.
///
/// One page per command: `dbpm.1`, `dbpm-plan.1`, `dbpm-repo-list.1`, ...
///
/// Example: dbpm man --out-dir /usr/local/share/man/man1
#[derive(Debug, Args)]
pub struct ManArgs {
    /// The directory to write the pages to (created if needed).
    #[arg(long, short = 'o', default_value = ".")]
    out_dir: PathBuf,
}

/// Why the man pages could not be written.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ManError {
    /// A page or the directory could not be written.
    #[error("failed to write the man page `{}`", path.display())]
    #[diagnostic(code(dbpm::man::write))]
    Write {
        /// The page, or the directory.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

pub fn run(args: ManArgs, out: &Out) -> miette::Result<Exit> {
    let written = write_pages(&args.out_dir)?;
    if out.json() {
        out.json_value(&written);
        return Ok(Exit::Success);
    }
    for path in &written {
        out.data(path.display().to_string());
    }
    out.status(format!(
        "wrote {} to `{}`",
        crate::diagnostic::plural(written.len(), "man page"),
        args.out_dir.display()
    ));
    Ok(Exit::Success)
}

/// Writes a page for dbpm and for every visible command below it; returns their paths.
fn write_pages(dir: &Path) -> Result<Vec<PathBuf>, ManError> {
    fs_err::create_dir_all(dir).map_err(|source| ManError::Write {
        path: dir.to_owned(),
        source,
    })?;
    // Building names each subcommand after its parents (`dbpm-repo-list`), as man wants.
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    let mut written = Vec::new();
    write_tree(command, dir, &mut written)?;
    Ok(written)
}

fn write_tree(
    command: clap::Command,
    dir: &Path,
    written: &mut Vec<PathBuf>,
) -> Result<(), ManError> {
    let subcommands: Vec<clap::Command> = command
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    let man = clap_mangen::Man::new(command);
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    let failed = |source| ManError::Write {
        path: path.clone(),
        source,
    };
    man.render(&mut page).map_err(failed)?;
    fs_err::write(&path, page).map_err(failed)?;
    written.push(path);
    for subcommand in subcommands {
        write_tree(subcommand, dir, written)?;
    }
    Ok(())
}
