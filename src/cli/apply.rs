//! `dbpm apply`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::render::{self, Out};
use super::signals;
use super::target::announcing_waits_as_events;
use super::Exit;
use crate::db::target::{Holder, Target, TargetError};
use crate::diagnostic::plural;
use crate::execute::runner::{ApplyError, Event, OnFailure, Outcome, Settings};
use crate::execute::schedule::InDoubt;
use crate::ops::apply::{apply_plan, unfinished_plan};
use crate::ops::fleet::load_fleet;
use crate::ops::plan::load_plan;
use crate::plan::render::printable;
use crate::plan::Plan;

/// Apply an approved plan to a target, with checkpoints.
///
/// Running the same command again resumes an interrupted run; a failed step rolls back the
/// completed ones with the compensations the plan shows. Exit codes: 0 done, 1 error, 3 stale
/// plan, 4 target locked, 5 rolled back, 6 needs an operator, 7 completed but a POSTINSTALL
/// step failed.
///
/// Example: dbpm apply plan.json --db sqlite://dev.db
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan file (from `dbpm plan --out`).
    #[arg(required_unless_present = "resume", conflicts_with = "resume")]
    plan: Option<PathBuf>,
    /// Resume the target's unfinished run with the plan the target kept of it: a run of
    /// `dbpm install` and the other verbs, whose plan is in no file.
    #[arg(long, conflicts_with = "fleet")]
    resume: bool,
    // Not `TargetArgs`: here `--db` is optional, as `--fleet` can stand in for the target.
    /// The target database: postgres://..., mysql://... (MySQL and MariaDB) or
    /// sqlite://path/to/file.db
    // Parsed after clap, and its environment value hidden, so a password in it never reaches
    // clap's messages or the --help text.
    #[arg(
        long,
        env = "DBPM_DB",
        hide_env_values = true,
        required_unless_present = "fleet"
    )]
    db: Option<String>,
    /// PostgreSQL only: the target schema, first in the scripts' search_path and whose state
    /// dbpm keeps; it must exist [default: public]
    #[arg(long, env = "DBPM_SCHEMA")]
    schema: Option<String>,
    /// Apply the plan to every target of a fleet file (tenants, shards: `[[target]]` tables
    /// with `db` or `db_env`, and `name` and `schema` if needed; see docs/ci.md), each with
    /// its own lock, run and journal, then report per target. In place of `--db`, which it
    /// overrides (`--schema` is the schema of a target that names none). Exit code: the
    /// highest of the targets' codes, but 7 (a failed POSTINSTALL task) only wins over 0
    #[arg(long, value_name = "FILE")]
    fleet: Option<PathBuf>,
    /// With `--fleet`: targets to apply to at once
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    fleet_jobs: u64,
    /// With `--fleet`: go on with the other targets when one does not complete (by default
    /// no other target starts after that; those under way finish)
    #[arg(long)]
    keep_going: bool,
    /// Undo what the target's unfinished run of the plan did (stopped, interrupted, stopped
    /// after a failure, in doubt), with its compensations in reverse, instead of finishing
    /// it; the run ends rolled back (exit 5). Steps in doubt are compensated too (twins cope
    /// with half-done work)
    #[arg(long, conflicts_with = "fleet")]
    roll_back: bool,
    #[command(flatten)]
    run: RunArgs,
}

/// How to run a plan, for `apply` and the verbs that apply.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// A privileged connection for `.sys` steps.
    #[arg(long, env = "DBPM_ADMIN_DB", hide_env_values = true)]
    admin_db: Option<String>,
    /// Steps to run at once (SQLite runs one at a time).
    #[arg(long, short = 'j', default_value_t = 4)]
    jobs: usize,
    /// What to do when a step fails.
    #[arg(long, value_enum, default_value_t = FailureMode::Rollback)]
    on_failure: FailureMode,
    /// Run steps in doubt again: interrupted by a crash, or failed outside a transaction (a run
    /// stopped by `--on-failure stop`), which may have done part of their work.
    #[arg(long, conflicts_with = "skip_in_doubt")]
    retry_in_doubt: bool,
    /// Consider steps in doubt done (after checking by hand that they ran, or finishing their
    /// work by hand). During a rollback that is its compensations in doubt: their undoing is
    /// then done by hand, and the rollback goes on.
    #[arg(long)]
    skip_in_doubt: bool,
    /// Resuming a rollback stopped by failed compensations: consider them done (after undoing
    /// by hand what they were to undo) and finish the rollback.
    #[arg(long)]
    skip_failed_compensations: bool,
    /// Seconds to wait for another run's lock.
    #[arg(long, default_value_t = 10)]
    lock_timeout: u64,
    /// Seconds a statement of a step may wait for another session's lock, each try.
    ///
    /// An `ALTER TABLE` queued behind a long transaction holds up every query on its table
    /// meanwhile. After the limit the step gives up that try, and is tried again (6 tries in
    /// all, with growing pauses) while nothing of it took effect. PostgreSQL's
    /// `lock_timeout`, MySQL/MariaDB's `lock_wait_timeout` and `innodb_lock_wait_timeout`,
    /// set around the step's script (dbpm's journal waits as the server says). On
    /// MySQL/MariaDB an `ALTER TABLE` that rebuilds the table in place takes its last lock
    /// after the rebuild: a try that gives up there loses the rebuild, which the next try does
    /// again. No effect on SQLite, whose only lock, the file's, the run holds. Without it, a
    /// step waits as the server says (PostgreSQL: without limit).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=31_536_000))]
    step_lock_timeout: Option<u64>,
    /// Seconds a `.cmd` step may run (at least 1: there is no unlimited).
    // 0 read as "no limit" elsewhere, and here failed every `.cmd` step at once.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    cmd_timeout: u64,
    /// On a second Ctrl-C, leave the MySQL/MariaDB steps' statements to run out on their server
    /// instead of ending them (`KILL QUERY`): behind a proxy that shares server connections
    /// among its clients or routes each statement on its own (ProxySQL), the connection dbpm
    /// would end may be another session's.
    #[arg(long)]
    no_kill_query: bool,
}

/// What to do when a step fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailureMode {
    /// Undo the completed steps.
    Rollback,
    /// Stop and keep the run for a fix and a resume.
    Stop,
}

pub async fn run(args: ApplyArgs, out: &Out) -> miette::Result<Exit> {
    if let (Some(fleet), Some(plan)) = (&args.fleet, &args.plan) {
        return apply_to_fleet(plan, fleet, &args, out).await;
    }
    let url = args
        .db
        .as_deref()
        .unwrap_or_else(|| unreachable!("clap requires --db without --fleet"));
    let target = announcing_waits_as_events(Target::new(url.parse()?, args.schema.clone())?, out);
    let mut settings = settings(&args.run, args.schema.as_deref())?;
    settings.roll_back = args.roll_back;
    let on = target_flags(args.schema.as_deref());
    let (plan, again) = match &args.plan {
        Some(path) => (
            load_plan(path)?,
            format!("dbpm apply {} {on}", path.display()),
        ),
        None => (
            unfinished_plan(&target).await?,
            format!("dbpm apply --resume {on}"),
        ),
    };
    execute(&plan, &target, &settings, out, &again).await
}

/// `dbpm apply PLAN --fleet FILE`: the plan on every target of the fleet, `--fleet-jobs` at
/// once, then a report per target. After a target that does not complete, no other starts
/// (unless `--keep-going`); a stop request (Ctrl-C) stops every run under way at its next
/// checkpoint, and none starts after it.
async fn apply_to_fleet(
    plan_path: &std::path::Path,
    fleet: &std::path::Path,
    args: &ApplyArgs,
    out: &Out,
) -> miette::Result<Exit> {
    use futures_util::stream::{self, StreamExt};

    let plan = &load_plan(plan_path)?;
    let targets = load_fleet(fleet, args.schema.as_deref())?;
    // An admin connection is one database's: a fleet's `.sys` steps would all run there.
    let settings = settings(&args.run, None)?;
    if settings.admin.is_some() {
        return Err(miette::miette!(
            help =
                "apply a plan with `.sys` steps target by target, each with its own `--admin-db`",
            "`--admin-db` names one database, and cannot serve a fleet"
        ));
    }
    let halted = AtomicBool::new(false);
    let results: Vec<(usize, Option<Exit>)> = stream::iter(targets.iter().enumerate())
        .map(|(at, member)| {
            let (halted, settings) = (&halted, &settings);
            async move {
                if halted.load(Ordering::SeqCst) || settings.stop.load(Ordering::SeqCst) {
                    return (at, None);
                }
                let out = out.for_target(&member.name);
                // An operator's decision (`--skip-in-doubt`) is about one target's steps.
                let schema = member
                    .target
                    .schema()
                    .map_or_else(String::new, |schema| format!(" --schema {schema}"));
                let again = format!(
                    "dbpm apply {} --db <the URL of `{}`>{schema}",
                    plan_path.display(),
                    member.name
                );
                let target = announcing_waits_as_events(member.target.clone(), &out);
                let exit = match execute(plan, &target, settings, &out, &again).await {
                    Ok(exit) => exit,
                    Err(report) => {
                        out.error(&report);
                        Exit::Error
                    }
                };
                if !exit.completed() && !args.keep_going {
                    halted.store(true, Ordering::SeqCst);
                }
                (at, Some(exit))
            }
        })
        .buffer_unordered(usize::try_from(args.fleet_jobs).unwrap_or(usize::MAX))
        .collect()
        .await;
    let mut exits: Vec<Option<Exit>> = vec![None; targets.len()];
    for (at, exit) in results {
        exits[at] = exit;
    }
    let report: Vec<serde_json::Value> = targets
        .iter()
        .zip(&exits)
        .map(|(member, exit)| {
            serde_json::json!({
                "target": member.name,
                "exit": exit.map(Exit::code),
                "outcome": exit.map_or("not started", Exit::outcome),
            })
        })
        .collect();
    if out.json() {
        out.json_line(&serde_json::json!({"outcome": "fleet", "targets": report}));
    }
    let width = targets.iter().map(|m| m.name.len()).max().unwrap_or(0);
    out.status(format!("fleet `{}`:", fleet.display()));
    for (member, exit) in targets.iter().zip(&exits) {
        let outcome = exit.map_or("not started", Exit::outcome);
        out.status(format!("  {:<width$}  {outcome}", member.name));
    }
    let worst = exits
        .iter()
        .flatten()
        .copied()
        .max_by_key(|exit| exit.severity());
    let not_started = exits.iter().any(Option::is_none);
    Ok(match worst {
        Some(Exit::Success | Exit::PostinstallFailed) | None if not_started => Exit::Error,
        Some(exit) => exit,
        None => Exit::Success,
    })
}

/// The executor's settings from the flags; Ctrl-C, SIGTERM and SIGHUP stop at the next
/// checkpoint, and a second Ctrl-C or SIGTERM exits at once, as a crash would, without
/// waiting for a long step (see [`signals`]).
pub fn settings(args: &RunArgs, schema: Option<&str>) -> miette::Result<Settings> {
    let admin = match &args.admin_db {
        Some(url) => Some(Target::new(url.parse()?, schema.map(str::to_owned))?),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let signal_stop = stop.clone();
    let end_statements = !args.no_kill_query;
    let mut requests = signals::Requests::listen();
    tokio::spawn(async move {
        requests.next().await;
        signal_stop.store(true, Ordering::SeqCst);
        // After a hangup nobody reads this: the line is dropped, and the stop goes on.
        render::stderr_line("stopping at the next checkpoint; the running steps finish first (stop again to exit now)");
        requests.next_asked().await;
        // What the running steps did is journaled as for a crash: a transactional step is
        // rolled back with its connection, any other is in doubt when the run resumes.
        render::stderr_line("exiting now, without waiting for the running steps: run the same command to resume (a step that ran outside a transaction is then in doubt)");
        // The `.cmd` steps run in process groups of their own, which no signal to dbpm's
        // reaches: they end with it.
        crate::execute::process::kill_running();
        // A MySQL/MariaDB server would run the steps' statements on: they end too, unless
        // the server does not answer soon (or the operator keeps dbpm from ending them).
        if end_statements {
            let statements = crate::execute::statements::end_running();
            let _ = tokio::time::timeout(Duration::from_secs(5), statements).await;
        }
        std::process::exit(Exit::Error as i32);
    });
    Ok(Settings {
        jobs: args.jobs,
        on_failure: match args.on_failure {
            FailureMode::Rollback => OnFailure::Rollback,
            FailureMode::Stop => OnFailure::Stop,
        },
        in_doubt: if args.retry_in_doubt {
            InDoubt::Retry
        } else if args.skip_in_doubt {
            InDoubt::Skip
        } else {
            InDoubt::Stop
        },
        skip_failed_compensations: args.skip_failed_compensations,
        lock_timeout: Duration::from_secs(args.lock_timeout),
        step_lock_timeout: args.step_lock_timeout.map(Duration::from_secs),
        admin,
        cmd_timeout: Duration::from_secs(args.cmd_timeout),
        stop,
        keep_plan: false,
        roll_back: false,
    })
}

/// How a command a user is told to run names the target: `--db ...`, and its `--schema`
/// when one was given (without it, the command would look at another schema).
pub fn target_flags(schema: Option<&str>) -> String {
    match schema {
        Some(schema) => format!("--db ... --schema {schema}"),
        None => "--db ...".to_owned(),
    }
}

/// Applies a plan with progress on stderr (or JSON events on stdout) and the exit code of
/// its outcome. `again` is the command that resumes it, ending with how it names the target
/// (`--db`, and `--schema` when one was given).
pub async fn execute(
    plan: &Plan,
    target: &Target,
    settings: &Settings,
    out: &Out,
    again: &str,
) -> miette::Result<Exit> {
    let total = AtomicUsize::new(0);
    let finished = AtomicUsize::new(0);
    let json = out.json();
    let color = out.color();
    let tty = std::io::stderr().is_terminal();
    let events = move |event: Event| {
        if json {
            out.json_line(&event);
            return;
        }
        let paint = |code: &str, text: &str| {
            if color {
                format!("\x1b[{code}m{text}\x1b[0m")
            } else {
                text.to_owned()
            }
        };
        match &event {
            Event::RunStarted {
                run,
                resumed,
                steps,
                done,
            } => {
                total.store(*steps, Ordering::SeqCst);
                finished.store(*done, Ordering::SeqCst);
                let verb = if *resumed { "resuming" } else { "starting" };
                out.status(format!("{verb} run {run}: {done}/{steps} steps done"));
            }
            Event::StepStarted { step } if tty => {
                out.status(paint("2", &format!("  … {}", printable(step))))
            }
            Event::StepStarted { .. } => {}
            Event::StepDone {
                step,
                millis,
                batch,
            } => {
                let took = match batch {
                    1 => format!("{millis} ms"),
                    n => format!("{millis} ms for {n} steps committed together"),
                };
                if step.ends_with("~undo") {
                    out.status(format!(
                        "  {} {} ({took})",
                        paint("33", "↺"),
                        printable(step)
                    ));
                } else {
                    let n = finished.fetch_add(1, Ordering::SeqCst) + 1;
                    let of = total.load(Ordering::SeqCst);
                    out.status(format!(
                        "  {} [{n}/{of}] {} ({took})",
                        paint("32", "✓"),
                        printable(step)
                    ));
                }
            }
            Event::StepFailed { step, error } => out.status(format!(
                "  {} {}: {error}",
                paint("31", "✗"),
                printable(step)
            )),
            Event::StepHeldUp {
                step,
                lock,
                relation,
                holders,
            } => out.status(paint(
                "33",
                &held_up(
                    step,
                    lock,
                    relation.as_deref(),
                    holders,
                    settings.step_lock_timeout,
                ),
            )),
            Event::RollingBack { compensations } => {
                out.status(paint(
                    "33",
                    &format!(
                        "rolling back: undoing completed steps (up to {})",
                        plural(*compensations, "compensation")
                    ),
                ));
            }
        }
    };
    let outcome = match apply_plan(plan, target, settings, &events).await {
        Ok(outcome) => outcome,
        Err(err @ ApplyError::Stale { .. }) => {
            if json {
                out.json_error("stale", &err);
            }
            out.report(&err);
            return Ok(Exit::Stale);
        }
        Err(ApplyError::Target(err @ TargetError::Locked { .. })) => {
            if json {
                out.json_error("locked", &err);
            }
            out.report(&err);
            return Ok(Exit::Locked);
        }
        Err(err) => return Err(err.into()),
    };
    if json {
        // One object per line, like the events before it.
        out.json_line(&outcome);
    }
    if matches!(outcome, Outcome::Completed { .. }) && settings.stop.load(Ordering::SeqCst) {
        // The steps running at the request were the last ones (on SQLite, consecutive steps
        // run as one transaction: all of them).
        out.status("the stop request came while the last steps ran: they finished, and nothing was left to stop");
    }
    Ok(report(&outcome, again, out))
}

fn report(outcome: &Outcome, again: &str, out: &Out) -> Exit {
    // `history` of a run looks at the target `again` names.
    let on = again.find(" --db").map_or("", |at| &again[at..]);
    match outcome {
        Outcome::Completed {
            run,
            postinstall_failed,
        } if postinstall_failed.is_empty() => {
            out.status(format!("run {run} completed"));
            Exit::Success
        }
        Outcome::Completed {
            run,
            postinstall_failed,
        } => {
            out.status(format!(
                "run {run} completed, but {} failed: a POSTINSTALL failure is reported, not rolled back; its error is above (`dbpm history --run {run}{on}` shows it again)",
                postinstall_failed.join(", ")
            ));
            Exit::PostinstallFailed
        }
        Outcome::AlreadyApplied { run } => {
            out.status(format!(
                "this plan was already applied by run {run}; nothing to do"
            ));
            Exit::Success
        }
        Outcome::RolledBack {
            run,
            failed,
            irreversible,
            partly_committed,
        } => {
            let how = if failed.is_empty() {
                "was rolled back on request".to_owned()
            } else {
                format!("failed at {} and was rolled back", failed.join(", "))
            };
            let steps = |ids: &[String]| match ids {
                [one] => format!("step {one}"),
                _ => format!("steps {}", ids.join(", ")),
            };
            let mut stays = Vec::new();
            if !irreversible.is_empty() {
                stays.push(format!(
                    "what the irreversible {} did (or may have done), which no compensation undoes",
                    steps(irreversible)
                ));
            }
            if !partly_committed.is_empty() {
                stays.push(format!(
                    "what the failed {} committed by itself before it failed (a `COMMIT` of its own, or MySQL/MariaDB DDL)",
                    steps(partly_committed)
                ));
            }
            if stays.is_empty() {
                out.status(format!(
                    "run {run} {how}: the target is as it was before the run"
                ));
                return Exit::RolledBack;
            }
            out.status(format!(
                "run {run} {how}, except {}: the target has the versions it had before the run, with those changes. Check them, and restore what they changed from a backup if it must go",
                stays.join(", and ")
            ));
            Exit::NeedsOperator
        }
        Outcome::CompensationFailed { run, failed } => {
            out.status(format!(
                "run {run}: compensation {} failed; the target is between states. Fix the cause (its error is above; `dbpm history --run {run}{on}` shows every step's), then run `{again}` to resume the rollback; or, when the compensation itself is wrong, undo by hand what it was to undo, then run `{again} --skip-failed-compensations`",
                failed.join(", ")
            ));
            Exit::NeedsOperator
        }
        Outcome::InDoubt { run, steps } => {
            out.status(format!(
                "run {run} stopped: {} may have run in part (interrupted, or failed outside a transaction; not idempotent). Check the target, then run `{again} --retry-in-doubt` to run them again or `--skip-in-doubt` if they did run (or were finished by hand)",
                steps.join(", ")
            ));
            Exit::NeedsOperator
        }
        Outcome::Stopped {
            run,
            reason,
            after_failure: true,
        } => {
            out.status(format!(
                "run {run} stopped: {reason}. Fix the cause of the failed step (its error is above), then run `{again} --on-failure stop` to retry it and resume (without `--on-failure stop`, a second failure rolls the run back). A failed step that ran outside a transaction keeps what it did before failing: it is then in doubt, and is run again only with `--retry-in-doubt`"
            ));
            Exit::NeedsOperator
        }
        Outcome::Stopped { run, reason, .. } => {
            out.status(format!("run {run} {reason}; run `{again}` to resume"));
            Exit::Error
        }
    }
}

/// The line that tells of a step waiting for a lock another session holds, who holds it, and
/// how long the step waits (`limit`, the step lock timeout).
fn held_up(
    step: &str,
    lock: &str,
    relation: Option<&str>,
    holders: &[Holder],
    limit: Option<Duration>,
) -> String {
    let what = match (relation, lock.strip_prefix("Waiting for ")) {
        (Some(relation), _) => format!("a lock on `{relation}`"),
        // MySQL/MariaDB's thread state: `Waiting for table metadata lock`.
        (None, Some(state)) => format!("a {state}"),
        (None, None) if lock.is_empty() => "a lock".to_owned(),
        (None, None) => format!("a lock ({lock})"),
    };
    let by = if holders.is_empty() {
        "another session".to_owned()
    } else {
        let each: Vec<String> = holders
            .iter()
            .map(|holder| {
                let mut about = Vec::new();
                if !holder.application.is_empty() {
                    about.push(format!("`{}`", holder.application));
                }
                if !holder.state.is_empty() {
                    about.push(holder.state.clone());
                }
                if let Some(millis) = holder.millis {
                    let millis = u64::try_from(millis).unwrap_or(0);
                    about.push(format!(
                        "its transaction open for {}",
                        super::history::duration(millis)
                    ));
                }
                if about.is_empty() {
                    format!("session {}", holder.id)
                } else {
                    format!("session {} ({})", holder.id, about.join(", "))
                }
            })
            .collect();
        each.join(" and ")
    };
    let then = match limit {
        Some(limit) => format!("it gives up a try after {} s", limit.as_secs()),
        None => "`--step-lock-timeout` limits such waits".to_owned(),
    };
    format!(
        "  ⧗ {} waits for {what} held by {by}; {then}",
        printable(step)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_up_step_says_what_it_waits_for_and_who_holds_it() {
        let holder = |application: &str, millis| Holder {
            id: 7,
            state: "idle in transaction".to_owned(),
            application: application.to_owned(),
            millis,
        };
        assert_eq!(
            held_up(
                "p@1.0.0/UPGRADE/001.a",
                "relation",
                Some("held"),
                &[holder("psql", Some(65_000)), holder("", None)],
                None,
            ),
            "  ⧗ p@1.0.0/UPGRADE/001.a waits for a lock on `held` held by session 7 (`psql`, idle in transaction, its transaction open for 1 min 5 s) and session 7 (idle in transaction); `--step-lock-timeout` limits such waits"
        );
        assert_eq!(
            held_up(
                "p@1.0.0/UPGRADE/001.a",
                "Waiting for table metadata lock",
                None,
                &[],
                Some(Duration::from_secs(5)),
            ),
            "  ⧗ p@1.0.0/UPGRADE/001.a waits for a table metadata lock held by another session; it gives up a try after 5 s"
        );
        assert!(held_up("s", "transactionid", None, &[], None)
            .contains("waits for a lock (transactionid) held by another session"));
    }
}
