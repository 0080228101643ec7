//! `dbpm completions`: a shell's completion script, generated from the clap types, so it
//! always knows every command and flag of this dbpm.

use clap::{Args, CommandFactory};
use clap_complete::Shell;

use super::render::Out;
use super::{Cli, Exit};

/// Print the completion script of a shell.
///
/// Load it in the shell's start-up file, or write it where the shell looks for completions.
///
/// Example: dbpm completions bash > ~/.local/share/bash-completion/completions/dbpm
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    shell: Shell,
}

pub fn run(args: CompletionsArgs, out: &Out) -> miette::Result<Exit> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "dbpm", &mut script);
    out.data(String::from_utf8_lossy(&script).trim_end());
    Ok(Exit::Success)
}
