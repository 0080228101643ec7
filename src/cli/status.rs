//! `dbpm status`.

use clap::Args;

use super::history::{short_hash, when};
use super::render::Out;
use super::target::TargetArgs;
use super::Exit;
use crate::db::target::RunOutcome;
use crate::ops::repository::open_given;
use crate::ops::status::{status, Drift, NextStep, Status, UnfinishedRun};
use crate::package::changes::FileChanges;

/// Show what is installed on a target, a run left unfinished there, and drift.
///
/// For each installed package: its version, when and by which run it was installed, and
/// whether it was adopted. An unfinished run is shown with how far it got and what to do
/// next; one recorded as running while no dbpm holds the target's run lock is shown as
/// interrupted (its dbpm was killed, or its machine stopped). With `--repo`, each installed
/// version is compared with the same version in the repositories: other content, or a
/// version they no longer have, is drift. Reading never writes to the target.
///
/// Example: dbpm status --db sqlite://dev.db --repo examples/packages
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Repositories to compare the installed versions with, first one wins (repeatable, or
    /// separated by commas): a directory, a source tree, or postgres://...
    #[arg(long = "repo", env = "DBPM_REPO", hide_env_values = true)]
    repos: Vec<String>,
}

pub async fn run(args: StatusArgs, out: &Out) -> miette::Result<Exit> {
    let target = args.target.target(out)?;
    let repos = open_given(&args.repos)?;
    let status = status(&target, repos.as_ref()).await?;
    if let Some(repos) = &repos {
        super::report_skipped(repos, out);
    }
    if out.json() {
        out.json_value(&status);
        return Ok(Exit::Success);
    }
    if let Some(file) = &status.missing_file {
        out.status(format!(
            "`{file}` does not exist: nothing is installed there (a first apply creates it)"
        ));
        return Ok(Exit::Success);
    }
    if status.never_used {
        out.status(format!(
            "nothing installed on `{}` and no runs: dbpm was never used there",
            status.target
        ));
        return Ok(Exit::Success);
    }
    packages(&status, out);
    if let Some(run) = &status.unfinished {
        unfinished(run, &super::apply::target_flags(args.target.schema()), out);
    }
    if let Some(drift) = &status.drift {
        report_drift(drift, out);
    }
    Ok(Exit::Success)
}

/// The installed packages as a table on stdout.
fn packages(status: &Status, out: &Out) {
    if status.packages.is_empty() {
        out.status(format!("nothing installed on `{}`", status.target));
        return;
    }
    let width = |header: &str, len: &dyn Fn(&crate::ops::status::PackageStatus) -> usize| {
        status
            .packages
            .iter()
            .map(len)
            .max()
            .unwrap_or(0)
            .max(header.len())
    };
    let name = width("PACKAGE", &|p| p.name.chars().count());
    let version = width("VERSION", &|p| p.version.to_string().len());
    out.data(format!(
        "{:<name$}  {:<version$}  {:<23}  {:<24}  ADOPTED",
        "PACKAGE", "VERSION", "INSTALLED", "RUN"
    ));
    for p in &status.packages {
        out.data(format!(
            "{:<name$}  {:<version$}  {:<23}  {:<24}  {}",
            p.name,
            p.version.to_string(),
            p.installed_at.as_deref().map_or("-".to_owned(), when),
            p.run.as_deref().unwrap_or("-"),
            if p.adopted { "yes" } else { "no" }
        ));
    }
    out.status(format!(
        "{} on `{}`",
        crate::diagnostic::plural(status.packages.len(), "installed package"),
        status.target
    ));
}

/// An unfinished run: how far it got on stdout, what to do on stderr, with the commands
/// naming the target by `on` (see `target_flags`).
fn unfinished(run: &UnfinishedRun, on: &str, out: &Out) {
    let hash = short_hash(&run.plan_hash);
    let outcome = if run.interrupted {
        "interrupted".to_owned()
    } else {
        run.outcome.as_str().replace('_', " ")
    };
    out.data(format!(
        "unfinished run {} ({outcome}), started {} by {}, plan {hash}: {} done, {} done",
        run.id,
        when(&run.started_at),
        run.os_user,
        crate::diagnostic::plural(run.steps_done, "step"),
        crate::diagnostic::plural(run.compensations_done, "compensation"),
    ));
    for step in &run.failed {
        out.data(format!("  failed: {step}"));
    }
    for step in &run.in_doubt {
        out.data(format!("  started, not finished: {step}"));
    }
    // A verb's run resumes with the plan the target kept; any other with its plan file.
    let (apply, with) = if run.plan_kept {
        (format!("dbpm apply --resume {on}"), String::new())
    } else {
        (
            format!("dbpm apply PLAN {on}"),
            format!(" with the plan {hash}…"),
        )
    };
    out.status(match run.next {
        NextStep::Resume if run.interrupted => format!(
            "{}. Run `{apply}`{with} to resume it, or `{apply} --roll-back` to undo what it did",
            interrupted(&run.id)
        ),
        NextStep::Resume if run.outcome == RunOutcome::Running => format!(
            "run `{apply}`{with} to resume it, unless that apply is still running"
        ),
        NextStep::Resume => format!("run `{apply}`{with} to resume it"),
        NextStep::FixAndResume => format!(
            "fix the cause of the failed step, then run `{apply}`{with} to retry it and resume (a failed step that ran outside a transaction is in doubt then, and runs again only with `--retry-in-doubt`)"
        ),
        NextStep::DecideInDoubt => format!(
            "check on the target whether the steps started and not finished ran, then run `{apply} --skip-in-doubt` (they did) or `--retry-in-doubt` (run them again){with}"
        ),
        NextStep::FixAndFinishRollback => format!(
            "fix the cause of the failed compensation, then run `{apply}`{with} to finish the rollback (or, when the compensation itself is wrong, undo its work by hand and add `--skip-failed-compensations`)"
        ),
    });
}

/// Drift against the repositories: findings on stdout, what to do on stderr.
fn report_drift(drift: &[Drift], out: &Out) {
    if drift.is_empty() {
        out.data("no drift: every installed version is the repositories' own");
        return;
    }
    for item in drift {
        out.data(match item {
            Drift::Changed {
                package,
                version,
                installed,
                repository,
                files,
                diff,
            } => format!(
                "drift: {package} {version} was installed with content {}…, the repositories' {package} {version} has {}…{}{}",
                short_hash(installed.as_str()),
                short_hash(repository.as_str()),
                FileChanges::suffix(files.as_deref()),
                diff.as_deref()
                    .filter(|diff| !diff.is_empty())
                    .map(|diff| format!("\n{}", diff.trim_end()))
                    .unwrap_or_default()
            ),
            Drift::Missing { package, version } => {
                format!("drift: {package} {version} is not in the repositories")
            }
        });
    }
    out.status(format!(
        "{} drifted: a version changed content without a new version number, or left the repositories; give a changed package a new version (`dbpm init --next`), or repair it with `dbpm plan --reinstall NAME`",
        crate::diagnostic::plural(drift.len(), "package")
    ));
}

/// What an interrupted run is, as `status` and `history` say it; what to do follows.
pub(super) fn interrupted(run: &str) -> String {
    format!("run {run} was interrupted: the dbpm that ran it ended without finishing it (it was killed, its machine stopped, or it lost the database under a step), and no dbpm holds the target's run lock")
}
