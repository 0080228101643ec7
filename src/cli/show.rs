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
    /// The most characters of the Markdown rendering (GitHub takes comments of up to
    /// 65,536): scripts that do not fit are left out, saying so; 0 for no limit.
    #[arg(long, value_name = "N", default_value_t = render::GITHUB_COMMENT_LIMIT)]
    max_chars: usize,
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
    let drawing = match args.format {
        ShowFormat::Text | ShowFormat::Json => None,
        ShowFormat::Markdown => Some((
            "markdown",
            match args.max_chars {
                0 => render::markdown(&plan),
                limit => {
                    let text = render::markdown_within(&plan, limit);
                    let length = text.chars().count();
                    if length > limit {
                        out.status(format!(
                            "warning: the Markdown has {length} characters, more than {limit}, even without the scripts: its tables alone pass the limit"
                        ));
                    }
                    text
                }
            },
        )),
        ShowFormat::Mermaid => Some(("mermaid", render::mermaid(&plan))),
        ShowFormat::Dot => Some(("dot", render::dot(&plan))),
    };
    match (out.json(), args.format, drawing) {
        // `--output json` with a rendering asked for: the rendering, in a JSON document.
        (true, _, Some((format, text))) => {
            out.json_value(&serde_json::json!({"format": format, "text": text}));
        }
        (true, _, None) | (false, ShowFormat::Json, _) => out.data(plan.to_json().trim_end()),
        (false, _, Some((_, text))) => out.data(text.trim_end()),
        (false, _, None) => out.data(render::text(&plan, out.color_stdout()).trim_end()),
    }
    Ok(Exit::Success)
}
