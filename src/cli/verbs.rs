//! The verbs that plan and apply in one command: `install`, `uninstall`, `upgrade`, `undo`
//! and `restore`. Each computes the plan, shows it, asks `Apply this plan? [y/N]` on a
//! terminal (or takes `--yes`), and applies it; `--plan-out` writes the plan instead.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use clap::Args;

use super::apply::{execute, settings, RunArgs};
use super::render::Out;
use super::target::{announcing_waits_as_events, TargetArgs};
use super::Exit;
use crate::db::target::{RunOutcome, Target};
use crate::execute::runner::Settings;
use crate::manifest::Requirement;
use crate::ops::plan::make_plan;
use crate::ops::repository::open_given;
use crate::ops::verbs::{self, Goal, VerbError};
use crate::package::archive;
use crate::plan::render;
use crate::repository::Repositories;

/// What every verb takes: the target, the repositories, and how to apply the plan.
#[derive(Debug, Args)]
pub struct VerbArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Repositories, first one wins (repeatable, or separated by commas): a directory, a source
    /// tree, or postgres://...
    #[arg(long = "repo", env = "DBPM_REPO", hide_env_values = true)]
    repos: Vec<String>,
    /// Apply without asking.
    #[arg(long, short = 'y')]
    yes: bool,
    /// Write the plan to this file instead of applying it.
    #[arg(long, value_name = "FILE")]
    plan_out: Option<PathBuf>,
    #[command(flatten)]
    run: RunArgs,
}

/// Install packages (from repositories, package source directories or `.dbpkg` files) and
/// their prerequisites.
///
/// What is installed already at the same content does nothing; `--reinstall` runs the
/// package's ROLLBACK and INSTALL again.
///
/// Example: dbpm install billing@^1.1 --db sqlite://dev.db --repo examples/packages --yes
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// `NAME`, `NAME@REQUIREMENT` (`billing@^1.1`, `core@1.2.0`), a package version directory
    /// (`packages/core/1.2.0`, built for the target as `dbpm build` would) or a `.dbpkg` file.
    #[arg(required = true)]
    packages: Vec<String>,
    /// Run the packages' ROLLBACK and INSTALL again.
    #[arg(long)]
    reinstall: bool,
    /// A placeholder value (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = super::plan::parse_set)]
    set: Vec<(String, String)>,
    #[command(flatten)]
    common: VerbArgs,
}

/// Uninstall packages: ROLLBACK of their code, then DOWNGRADE back to nothing.
///
/// Refused while an installed package requires one of them; `--cascade` removes those too.
///
/// Example: dbpm uninstall reporting --db sqlite://dev.db --yes
#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Installed packages.
    #[arg(required = true)]
    packages: Vec<String>,
    /// Also uninstall every package that requires them.
    #[arg(long)]
    cascade: bool,
    #[command(flatten)]
    common: VerbArgs,
}

/// Upgrade installed packages (all of them, or those named) to the highest versions their
/// requirements allow.
///
/// Example: dbpm upgrade --db sqlite://dev.db --repo examples/packages --yes
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// Installed packages (default: every one).
    packages: Vec<String>,
    /// A placeholder value (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = super::plan::parse_set)]
    set: Vec<(String, String)>,
    #[command(flatten)]
    common: VerbArgs,
}

/// Go back to the installed set before the last completed run that changed something, with
/// the scripts the target kept (the repository need not have them any more). A package
/// adopted since stays.
///
/// Example: dbpm undo --db sqlite://dev.db --yes
#[derive(Debug, Args)]
pub struct UndoArgs {
    #[command(flatten)]
    common: VerbArgs,
}

/// Go back to the installed set right after an earlier run (see `dbpm history`).
///
/// Example: dbpm restore --to 20261122T101500-1a2b3c4d --db sqlite://dev.db --yes
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The run whose result to restore.
    #[arg(long = "to", value_name = "RUN_ID")]
    run: String,
    #[command(flatten)]
    common: VerbArgs,
}

/// The verbs.
#[derive(Debug)]
pub enum Verb {
    /// `install`.
    Install(InstallArgs),
    /// `uninstall`.
    Uninstall(UninstallArgs),
    /// `upgrade`.
    Upgrade(UpgradeArgs),
    /// `undo`.
    Undo(UndoArgs),
    /// `restore`.
    Restore(RestoreArgs),
}

pub async fn run(verb: Verb, out: &Out) -> miette::Result<Exit> {
    let (args, name) = match &verb {
        Verb::Install(a) => (&a.common, "install"),
        Verb::Uninstall(a) => (&a.common, "uninstall"),
        Verb::Upgrade(a) => (&a.common, "upgrade"),
        Verb::Undo(a) => (&a.common, "undo"),
        Verb::Restore(a) => (&a.common, "restore"),
    };
    let target = args.target.target(out)?;
    let state = target.read_state().await?;
    let runs = target.runs().await?;
    let repos = open_given(&args.repos)?.unwrap_or_else(|| Repositories::new(Vec::new()));
    let history = verbs::history(&target, &runs).await?;
    let goal = match &verb {
        Verb::Install(a) => {
            let mut requested = Vec::new();
            let mut archives = Vec::new();
            for item in &a.packages {
                let path = std::path::PathBuf::from(item);
                // A package version directory, not a directory that happens to bear a
                // package's name (`core` in a repository's own folder).
                let source = ["dbpm.toml", "manifest.dpm"]
                    .iter()
                    .any(|manifest| path.join(manifest).is_file());
                if source {
                    let (package, warnings) = verbs::build_source(&path, target.platform())?;
                    for warning in &warnings {
                        out.report(warning);
                    }
                    archives.push((path, package));
                    continue;
                }
                if item.ends_with(".dbpkg") {
                    let package = archive::read_file(&path)?;
                    archives.push((path, package));
                    continue;
                }
                // A package name holds no `/`: this was meant as a path.
                if item.contains(['/', std::path::MAIN_SEPARATOR]) {
                    return Err(VerbError::NoSuchPackageFile { path: item.clone() }.into());
                }
                let (name, requirement) = match item.split_once('@') {
                    Some((name, req)) => (
                        name.to_owned(),
                        Some(Requirement::parse(req).map_err(|err| {
                            miette::miette!("`{req}` is not a version requirement: {err}")
                        })?),
                    ),
                    None => (item.clone(), None),
                };
                requested.push((name, requirement));
            }
            verbs::install(
                &requested,
                archives,
                target.platform(),
                a.reinstall,
                a.set.iter().cloned().collect(),
            )?
        }
        Verb::Uninstall(a) => verbs::uninstall(&state, &a.packages, a.cascade)?,
        Verb::Upgrade(a) => verbs::upgrade(&state, &a.packages, a.set.iter().cloned().collect())?,
        Verb::Undo(_) => {
            let last = verbs::last_change(&runs)?;
            let before = verbs::recorded_state(&target, &last.id, &last.installed_before).await?;
            let adopted = verbs::adopted_after(&runs, &last.id)?;
            let why = format!("undo {}", last.id);
            verbs::back_to(&before, &state, &adopted, &history.walked_values, &why)?
        }
        Verb::Restore(a) => {
            let run = runs
                .iter()
                .find(|r| r.id == a.run && r.outcome == RunOutcome::Completed)
                .ok_or_else(|| VerbError::UnknownRun(a.run.clone()))?;
            let after = run.installed_after.as_deref().unwrap_or_default();
            let after = verbs::recorded_state(&target, &run.id, after).await?;
            let adopted = verbs::adopted_after(&runs, &run.id)?;
            let why = format!("restore {}", run.id);
            verbs::back_to(&after, &state, &adopted, &history.walked_values, &why)?
        }
    };
    plan_then_apply(goal, history, &target, &state, &repos, args, name, out).await
}

#[allow(clippy::too_many_arguments)] // the verb's whole context, passed once
async fn plan_then_apply(
    goal: Goal,
    history: verbs::History,
    target: &Target,
    state: &crate::state::InstalledState,
    repos: &Repositories,
    args: &VerbArgs,
    verb: &str,
    out: &Out,
) -> miette::Result<Exit> {
    let mut options = goal.options;
    options.target = target.label();
    options.walked_values = history.walked_values;
    options.requested_by = Some(format!("`dbpm {verb}`"));
    let plan = make_plan(
        &goal.release,
        state,
        repos,
        &options,
        &goal.extra,
        &history.packages,
    )
    .await?;
    super::report_skipped(repos, out);
    if !plan.has_changes() {
        if out.json() {
            out.json_value(&serde_json::json!({"outcome": "unchanged", "hash": plan.hash}));
        }
        out.status(format!("nothing to {verb}: the target is already there"));
        return Ok(Exit::Success);
    }
    out.status(render::text(&plan, out.color()).trim_end());
    if let Some(path) = &args.plan_out {
        super::write_plan(path, plan.to_json().as_bytes())?;
        if out.json() {
            out.json_value(&serde_json::json!({
                "outcome": "planned",
                "path": path,
                "hash": plan.hash,
                "steps": plan.steps.len(),
                "compensations": plan.compensations.len(),
            }));
        }
        out.status(format!(
            "plan written to `{}`; apply it with `dbpm apply {} {}`",
            path.display(),
            path.display(),
            super::apply::target_flags(args.target.schema())
        ));
        return Ok(Exit::Success);
    }
    if !args.yes {
        // Errors, so that `--output json` says so too.
        if !std::io::stdin().is_terminal() {
            return Err(miette::miette!(
                code = "dbpm::verb::not_confirmed",
                help = "pass `--yes` to apply, or `--plan-out FILE` to keep the plan",
                "not applied: there is no terminal to ask on"
            ));
        }
        out.prompt("Apply this plan? [y/N] ");
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            return Err(miette::miette!(
                code = "dbpm::verb::not_confirmed",
                "not applied: the plan was not confirmed"
            ));
        }
    }
    let settings = Settings {
        keep_plan: true,
        ..settings(&args.run, args.target.schema())?
    };
    // Only once it applies is the output a stream of events, a wait for a lock among them.
    let target = announcing_waits_as_events(target.clone(), out);
    let again = format!(
        "dbpm apply --resume {}",
        super::apply::target_flags(args.target.schema())
    );
    execute(&plan, &target, &settings, out, &again).await
}
