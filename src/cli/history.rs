//! `dbpm history`, and what `history` and `status` share: how times, durations and hashes
//! read for people.

use clap::Args;

use super::render::Out;
use super::target::TargetArgs;
use super::Exit;
use crate::db::target::{RunOutcome, Target};
use crate::ops::history::{history, run_steps, Change, RunSummary};

/// Show the runs on a target, newest first: what each changed, who ran it, how it ended.
///
/// Changes are read from the installed sets recorded before and after each run: `+name
/// version` installed, `name old→new` upgraded or downgraded, `-name` removed. Reading never
/// writes: a target dbpm was never used on has no runs and is left as it was.
///
/// With `--run RUN`, the steps of that run instead, in the order they started (steps
/// journaled together, as SQLite's batches are, by id), each with its state and what it
/// printed (`.cmd` steps) or the error it raised.
///
/// Example: dbpm history --db sqlite://dev.db
#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Show the steps of this run (an id from the list).
    #[arg(long, value_name = "RUN")]
    run: Option<String>,
}

pub async fn run(args: HistoryArgs, out: &Out) -> miette::Result<Exit> {
    let target = args.target.target(out)?;
    if let Some(run) = &args.run {
        return show_steps(&target, run, out).await;
    }
    let history = history(&target).await?;
    if out.json() {
        out.json_value(&history);
        return Ok(Exit::Success);
    }
    if history.runs.is_empty() {
        out.status(format!(
            "no runs on `{}`: dbpm has applied nothing there",
            history.target
        ));
        return Ok(Exit::Success);
    }
    let by = history
        .runs
        .iter()
        .map(|r| r.os_user.chars().count())
        .max()
        .unwrap_or(0)
        .max("BY".len());
    let outcome_width = history
        .runs
        .iter()
        .map(|r| outcome(r).len())
        .max()
        .unwrap_or(0)
        .max("OUTCOME".len());
    out.data(format!(
        "{:<24}  {:<12}  {:<23}  {:<by$}  {:<outcome_width$}  {:<10}  CHANGES",
        "RUN", "PLAN", "STARTED", "BY", "OUTCOME", "DURATION"
    ));
    for run in &history.runs {
        out.data(
            format!(
                "{:<24}  {:<12}  {:<23}  {:<by$}  {:<outcome_width$}  {:<10}  {}",
                run.id,
                short_hash(&run.plan_hash),
                when(&run.started_at),
                run.os_user,
                outcome(run),
                run.duration_ms.map_or("-".to_owned(), duration),
                changes(run)
            )
            .trim_end(),
        );
    }
    out.status(format!(
        "{} on `{}`",
        crate::diagnostic::plural(history.runs.len(), "run"),
        history.target
    ));
    for run in history.runs.iter().filter(|run| run.interrupted) {
        out.status(format!(
            "{}. Apply its plan again to resume it (`dbpm apply PLAN`), or add `--roll-back` to undo what it did; `dbpm status` shows how far it got",
            super::status::interrupted(&run.id)
        ));
    }
    Ok(Exit::Success)
}

/// How a run ended or stands, for people: `rolled back`, `interrupted`, ...
fn outcome(run: &RunSummary) -> String {
    if run.interrupted {
        "interrupted".to_owned()
    } else if !run.postinstall_failed.is_empty() {
        "completed, POSTINSTALL failed".to_owned()
    } else {
        run.outcome.as_str().replace('_', " ")
    }
}

/// The steps of one run: a line per step, what it printed indented below it.
async fn show_steps(target: &Target, run: &str, out: &Out) -> miette::Result<Exit> {
    let Some(steps) = run_steps(target, run).await? else {
        return Err(miette::miette!(
            code = "dbpm::history::unknown_run",
            help = "`dbpm history` lists the runs",
            "run `{run}` is not a run of `{}`",
            target.label()
        ));
    };
    if out.json() {
        out.json_value(&steps);
        return Ok(Exit::Success);
    }
    for step in &steps.steps {
        let attempt = if step.attempt > 1 {
            format!(" (attempt {})", step.attempt)
        } else {
            String::new()
        };
        out.data(format!(
            "{:<8}  {}  {}{attempt}",
            step.state.replace('_', " "),
            when(&step.started_at),
            step.step
        ));
        for line in step.output.iter().flat_map(|output| output.lines()) {
            out.data(format!("          {line}"));
        }
    }
    out.status(format!(
        "{} of run {run} on `{}`",
        crate::diagnostic::plural(steps.steps.len(), "step"),
        steps.target
    ));
    Ok(Exit::Success)
}

/// A run's changes in one line: `+reporting 1.0.0, core 1.1.0→1.2.0, -auth`.
fn changes(run: &RunSummary) -> String {
    let Some(changes) = &run.changes else {
        return "(unfinished: see `dbpm status`)".to_owned();
    };
    if changes.is_empty() {
        return if run.outcome == RunOutcome::RolledBack {
            "none (rolled back)".to_owned()
        } else {
            "none".to_owned()
        };
    }
    changes
        .iter()
        .map(|change| match change {
            Change::Install { package, version } => format!("+{package} {version}"),
            Change::Upgrade { package, from, to } | Change::Downgrade { package, from, to } => {
                format!("{package} {from}→{to}")
            }
            Change::Reinstall { package, version } => format!("{package} {version} (reinstall)"),
            Change::Uninstall { package, .. } => format!("-{package}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// An RFC 3339 UTC time for people, to the second: `2026-11-22 11:37:12 UTC`.
pub fn when(rfc3339: &str) -> String {
    match rfc3339.get(..19) {
        Some(head) if rfc3339.ends_with('Z') => format!("{} UTC", head.replacen('T', " ", 1)),
        _ => rfc3339.to_owned(),
    }
}

/// A duration for people: `0.4 s`, `12.3 s`, `4 min 12 s`, `2 h 5 min`.
pub fn duration(millis: u64) -> String {
    let secs = millis / 1_000;
    match secs {
        0..60 => format!("{}.{} s", secs, millis % 1_000 / 100),
        60..3_600 => format!("{} min {} s", secs / 60, secs % 60),
        _ => format!("{} h {} min", secs / 3_600, secs % 3_600 / 60),
    }
}

/// The first 12 hex digits of a `sha256:...` hash, enough to tell plans and archives apart.
pub fn short_hash(hash: &str) -> &str {
    let hex = hash.split_once(':').map_or(hash, |(_, hex)| hex);
    hex.get(..12).unwrap_or(hex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_durations_and_hashes_read_short() {
        assert_eq!(
            when("2026-11-22T11:37:12.345678Z"),
            "2026-11-22 11:37:12 UTC"
        );
        assert_eq!(when("2026-11-22T11:37:12Z"), "2026-11-22 11:37:12 UTC");
        assert_eq!(when("soon"), "soon");
        assert_eq!(duration(420), "0.4 s");
        assert_eq!(duration(12_345), "12.3 s");
        assert_eq!(duration(252_000), "4 min 12 s");
        assert_eq!(duration(7_500_000), "2 h 5 min");
        assert_eq!(short_hash("sha256:728510a45933b4e60f1d"), "728510a45933");
        assert_eq!(short_hash("abc"), "abc");
    }
}
