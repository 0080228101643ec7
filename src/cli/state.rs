//! `dbpm state export`.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::render::Out;
use super::target::TargetArgs;
use super::Exit;
use crate::ops::state::{export, to_json};

/// Read the installed state of a target.
///
/// Example: dbpm state export --db sqlite://dev.db --out state.json
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Write what is installed on a target as JSON, to plan from without the target.
    ///
    /// The state holds every installed package version with its manifest, placeholder values
    /// and the text of its scripts, but no credentials. Reading never writes to the target:
    /// a database dbpm was never used on reads as nothing installed.
    ///
    /// Example: dbpm state export --db postgres://ci@db.internal/prod --schema billing --out prod.json
    Export(ExportArgs),
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Write the state to this file instead of stdout.
    #[arg(long, short = 'o')]
    out: Option<PathBuf>,
}

pub async fn run(command: StateCommand, out: &Out) -> miette::Result<Exit> {
    match command {
        StateCommand::Export(args) => {
            let target = args.target.target(out)?;
            let state = export(&target, args.out.as_deref()).await?;
            match &args.out {
                Some(path) => {
                    if out.json() {
                        out.json_value(&serde_json::json!({
                            "path": path,
                            "target": state.target,
                            "packages": state.packages.len(),
                        }));
                    }
                    out.status(format!(
                        "wrote the state of {} ({}) to {}",
                        state.target,
                        crate::diagnostic::plural(state.packages.len(), "installed package"),
                        path.display()
                    ))
                }
                None => out.data(to_json(&state).trim_end()),
            }
        }
    }
    Ok(Exit::Success)
}
