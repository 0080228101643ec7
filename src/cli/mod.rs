//! The command line: clap types (their doc comments are the `--help`), turned into calls of
//! [`crate::ops`] and rendered. This is the only module that prints.

mod affected;
mod apply;
mod build;
mod check;
mod completions;
mod exit;
mod history;
mod init;
mod man;
mod plan;
mod publish;
mod render;
mod repo;
mod show;
mod signals;
mod state;
mod status;
mod target;
mod verbs;

use std::ffi::OsString;

use clap::{Parser, Subcommand};

pub use exit::Exit;

/// Warns, once each, of the package sources of `--repo` trees that a command went on
/// without: they fail validation, and nothing the command read needed them (when something
/// did, the command failed on them instead).
fn report_skipped(repos: &crate::repository::Repositories, out: &render::Out) {
    for broken in repos.broken() {
        out.report(broken);
    }
}

/// Writes a plan file whole or not at all: a plan written over the reviewed one is never left
/// half written (a full disk, an interrupted dbpm), and an `apply` reading it meanwhile reads
/// one or the other.
fn write_plan(path: &std::path::Path, json: &[u8]) -> miette::Result<()> {
    crate::durable::write_atomically(path, json).map_err(|err| {
        miette::miette!(
            code = "dbpm::plan::write",
            "failed to write the plan to `{}`: {err}",
            path.display()
        )
    })
}

/// dbpm: a database package manager with a plan-then-apply engine.
///
/// Database code is packaged like software: versioned packages of SQL scripts with
/// prerequisites, built into archives, kept in a repository, and applied to databases
/// through reviewed plans.
///
/// Example: dbpm plan --release examples/releases/2026.1.toml --repo examples/packages --db sqlite://dev.db --out plan.json
#[derive(Debug, Parser)]
#[command(name = "dbpm", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// When to colour the output.
    #[arg(long, global = true, value_enum, default_value_t = render::Color::Auto, env = "DBPM_COLOR")]
    color: render::Color,

    /// How to print results: text for people, json for machines.
    #[arg(long, global = true, value_enum, default_value_t = render::Format::Text)]
    output: render::Format,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Init(init::InitArgs),
    Build(build::BuildArgs),
    Publish(publish::PublishArgs),
    Plan(plan::PlanArgs),
    Apply(apply::ApplyArgs),
    Install(verbs::InstallArgs),
    Uninstall(verbs::UninstallArgs),
    Upgrade(verbs::UpgradeArgs),
    Undo(verbs::UndoArgs),
    Restore(verbs::RestoreArgs),
    Adopt(check::AdoptArgs),
    Verify(check::VerifyArgs),
    #[command(subcommand)]
    Repo(repo::RepoCommand),
    Show(show::ShowArgs),
    Affected(affected::AffectedArgs),
    #[command(subcommand)]
    State(state::StateCommand),
    Status(status::StatusArgs),
    History(history::HistoryArgs),
    Completions(completions::CompletionsArgs),
    Man(man::ManArgs),
}

/// Parses the arguments, runs the command and returns how it ended.
pub async fn run<I, T>(args: I) -> Exit
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let args: Vec<OsString> = args.into_iter().map(Into::into).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            if !err.use_stderr() {
                return Exit::Success;
            }
            // A machine that asked for JSON gets its error as JSON too.
            if asks_for_json(&args) {
                let out = render::Out::new(render::Color::Never, render::Format::Json);
                // clap's message, without its usage line and pointer to `--help`.
                let rendered = err.render().to_string();
                let message = rendered.split("\n\nUsage:").next().unwrap_or_default();
                let message = message.trim();
                let usage = miette::miette!(
                    code = "dbpm::usage",
                    help = "see `dbpm help` and `dbpm help COMMAND`",
                    "{}",
                    message.strip_prefix("error: ").unwrap_or(message)
                );
                out.json_error("error", usage.as_ref());
            }
            return Exit::Error;
        }
    };
    let out = render::Out::new(cli.color, cli.output);
    let result = match cli.command {
        Command::Init(args) => init::run(args, &out),
        Command::Build(args) => build::run(args, &out),
        Command::Publish(args) => publish::run(args, &out).await,
        Command::Plan(args) => plan::run(args, &out).await,
        Command::Apply(args) => apply::run(args, &out).await,
        Command::Install(args) => verbs::run(verbs::Verb::Install(args), &out).await,
        Command::Uninstall(args) => verbs::run(verbs::Verb::Uninstall(args), &out).await,
        Command::Upgrade(args) => verbs::run(verbs::Verb::Upgrade(args), &out).await,
        Command::Undo(args) => verbs::run(verbs::Verb::Undo(args), &out).await,
        Command::Restore(args) => verbs::run(verbs::Verb::Restore(args), &out).await,
        Command::Adopt(args) => check::run_adopt(args, &out).await,
        Command::Verify(args) => check::run_verify(args, &out).await,
        Command::Repo(command) => repo::run(command, &out).await,
        Command::Show(args) => show::run(args, &out),
        Command::Affected(args) => affected::run(args, &out),
        Command::State(command) => state::run(command, &out).await,
        Command::Status(args) => status::run(args, &out).await,
        Command::History(args) => history::run(args, &out).await,
        Command::Completions(args) => completions::run(args, &out),
        Command::Man(args) => man::run(args, &out),
    };
    let exit = match result {
        Ok(exit) => exit,
        Err(report) => {
            out.error(&report);
            Exit::Error
        }
    };
    match render::stdout_failure() {
        Some(err) => {
            out.report(&err);
            // Data was lost: a run that otherwise ended well fails; a worse ending stays.
            if matches!(exit, Exit::Success | Exit::Changes) {
                Exit::Error
            } else {
                exit
            }
        }
        None => exit,
    }
}

/// Whether the command line asks for `--output json`, read without parsing it (it did not
/// parse).
fn asks_for_json(args: &[OsString]) -> bool {
    args.iter()
        .zip(args.iter().skip(1))
        .any(|(flag, value)| flag == "--output" && value == "json")
        || args.iter().any(|arg| arg == "--output=json")
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        super::Cli::command().debug_assert();
    }

    /// `apply` and the verbs that apply print an object per line, events then the outcome;
    /// their help said "one JSON document".
    #[test]
    fn json_output_is_described_as_json_lines() {
        let mut cli = super::Cli::command();
        cli.build();
        for name in [
            "apply",
            "install",
            "uninstall",
            "upgrade",
            "undo",
            "restore",
        ] {
            let help = cli
                .find_subcommand_mut(name)
                .map(|command| command.render_long_help().to_string())
                .unwrap_or_default();
            // Wrapped to the terminal's width: compare the words.
            let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
            assert!(help.contains("JSON Lines (NDJSON)"), "{name}: {help}");
            assert!(!help.contains("one JSON document"), "{name}: {help}");
        }
    }
}
