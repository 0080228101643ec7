//! `dbpm show`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::render::Out;
use super::Exit;
use crate::ops::plan::load_plan;
use crate::plan::render;

/// Render a plan for a terminal, a pull request, or a picture of its DAG.
///
/// Example: dbpm show plan.json --format markdown > plan.md
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The plan file.
    plan: PathBuf,
    /// The rendering.
    #[arg(long, short = 'f', value_enum, default_value_t = ShowFormat::Text)]
    format: ShowFormat,
}

/// The renderings of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShowFormat {
    /// For a terminal.
    Text,
    /// For a pull-request comment.
    Markdown,
    /// The plan file itself.
    Json,
    /// A Mermaid flowchart of the steps.
    Mermaid,
    /// A Graphviz DOT graph of the steps.
    Dot,
}

pub fn run(args: ShowArgs, out: &Out) -> miette::Result<Exit> {
    let plan = load_plan(&args.plan)?;
    let format = if out.json() {
        ShowFormat::Json
    } else {
        args.format
    };
    let text = match format {
        ShowFormat::Text => render::text(&plan, out.color_stdout()),
        ShowFormat::Markdown => render::markdown(&plan),
        ShowFormat::Json => plan.to_json(),
        ShowFormat::Mermaid => render::mermaid(&plan),
        ShowFormat::Dot => render::dot(&plan),
    };
    out.data(text.trim_end());
    Ok(Exit::Success)
}
