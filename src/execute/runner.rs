//! The runner: applies a verified plan to a target. It checks the platform and staleness,
//! takes the target's run lock, records the run, then asks [`schedule::next`] what to do
//! until the run completes, rolls back or needs an operator; steps run concurrently up to
//! `jobs`, each on its own connection. Progress goes out as [`Event`]s; nothing here prints.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::task::JoinSet;

use super::schedule::{self, Choices, InDoubt, Journal, Next, Resume, StepState};
use super::{process, statements};
use crate::db::target::{
    Holder, RunLock, RunOutcome, RunRecord, ScriptFailed, StepSession, Target, TargetError,
    ANNOUNCE_AFTER, TEXT_BYTES_PER_INSERT,
};
use crate::package::lint::{controls_transactions, own_transaction};
use crate::package::statements::changes_session;
use crate::package::{Checksum, Kind};
use crate::plan::{Plan, Step, StepPhase};
use crate::platform::Platform;
use crate::state::InstalledState;

/// The most steps one SQLite transaction takes.
const MAX_BATCH: usize = 1000;

/// The longest output of a `.cmd` step the journal keeps.
const MAX_OUTPUT: usize = 64 * 1024;

/// What to do when a step fails.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnFailure {
    /// Undo the completed steps with their compensations (the default).
    #[default]
    Rollback,
    /// Stop, leaving the run to be fixed and resumed.
    Stop,
}

/// How to apply.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Steps at once (SQLite runs one at a time whatever this says).
    pub jobs: usize,
    /// On a failed step.
    pub on_failure: OnFailure,
    /// For steps in doubt after a crash.
    pub in_doubt: InDoubt,
    /// Resuming a run whose compensations failed: take them as done, because the operator
    /// undid by hand what they were to undo, and go on with the rollback.
    pub skip_failed_compensations: bool,
    /// Undo what the target's unfinished run of the plan did, with its compensations, rather
    /// than finish it (`--roll-back`).
    pub roll_back: bool,
    /// How long to wait for another run's lock.
    pub lock_timeout: Duration,
    /// How long a step's statement may wait for a lock another session holds, each try;
    /// `None` waits as the server says (see [`Target::limiting_step_lock_waits`]).
    pub step_lock_timeout: Option<Duration>,
    /// The privileged connection for `.sys` steps.
    pub admin: Option<Target>,
    /// How long a `.cmd` step may run.
    pub cmd_timeout: Duration,
    /// Set to stop at the next checkpoint (Ctrl-C).
    pub stop: Arc<AtomicBool>,
    /// Keep the plan in the target with the run, so `dbpm apply --resume` can finish it:
    /// for a plan that is in no file (the verbs').
    pub keep_plan: bool,
}

impl Settings {
    /// The admin target, if any, as its `.sys` steps use it.
    fn admin_target(&self) -> Option<Target> {
        (self.admin.clone()).map(|admin| admin.limiting_step_lock_waits(self.step_lock_timeout))
    }
}

/// Progress, for people and machines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The run began (or resumed).
    RunStarted {
        /// The run id.
        run: String,
        /// Whether an unfinished run of the same plan is continued.
        resumed: bool,
        /// Forward steps in the plan.
        steps: usize,
        /// Forward steps already done.
        done: usize,
    },
    /// A step began.
    StepStarted {
        /// The step id.
        step: String,
    },
    /// A step finished.
    StepDone {
        /// The step id.
        step: String,
        /// How long it took: for steps committed together, all of them together.
        millis: u64,
        /// How many steps were committed together with it (SQLite runs consecutive
        /// transactional steps as one transaction), itself included: 1 for a step on its own.
        batch: usize,
    },
    /// A step failed.
    StepFailed {
        /// The step id.
        step: String,
        /// What the database (or the shell) said.
        error: String,
    },
    /// A step has waited a while for a lock another session holds; told once per step.
    StepHeldUp {
        /// The step id.
        step: String,
        /// What it waits for, as the server says (PostgreSQL's lock type, MySQL/MariaDB's
        /// thread state).
        lock: String,
        /// The table whose lock it waits for, where the server tells (PostgreSQL).
        #[serde(skip_serializing_if = "Option::is_none")]
        relation: Option<String>,
        /// The sessions that hold it or wait for it ahead of the step, where the server
        /// tells (PostgreSQL).
        holders: Vec<Holder>,
    },
    /// Compensation began after a failure.
    RollingBack {
        /// How many compensations will run.
        compensations: usize,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Every step done; the installed state is recorded.
    Completed {
        /// The run id.
        run: String,
        /// POSTINSTALL steps that failed: reported, not rolled back (DESIGN §2).
        postinstall_failed: Vec<String>,
    },
    /// This plan had already completed on the target: nothing ran.
    AlreadyApplied {
        /// The run that applied it.
        run: String,
    },
    /// A step failed and every completed step was undone, but for irreversible ones.
    RolledBack {
        /// The run id.
        run: String,
        /// The steps that failed.
        failed: Vec<String>,
        /// Irreversible steps that had completed: they have no compensation, so what they
        /// did stays, and the target is not quite as it was before the run.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        irreversible: Vec<String>,
        /// Failed steps whose script committed part of its work by itself (a `COMMIT` of
        /// its own, MySQL's DDL) before failing, and that have no twin to compensate them:
        /// that part stays.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        partly_committed: Vec<String>,
    },
    /// A compensation failed: an operator must look.
    CompensationFailed {
        /// The run id.
        run: String,
        /// The compensations that failed.
        failed: Vec<String>,
    },
    /// Steps were interrupted and may or may not have run.
    InDoubt {
        /// The run id.
        run: String,
        /// The steps in doubt.
        steps: Vec<String>,
    },
    /// Stopped on request or after a failure with `--on-failure stop`; resumable.
    Stopped {
        /// The run id.
        run: String,
        /// Why.
        reason: String,
        /// Stopped by `--on-failure stop` after a failed step: the operator fixes its cause
        /// before resuming, which runs it again.
        after_failure: bool,
    },
}

/// Why an apply did not start, or broke off.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyError {
    /// The plan is for another platform.
    #[error("the plan is for {plan}, the target is {target}")]
    #[diagnostic(code(dbpm::apply::platform))]
    Platform {
        /// The plan's platform.
        plan: Platform,
        /// The target's.
        target: Platform,
    },
    /// The target changed since the plan was made.
    #[error("the plan is stale: {reasons}")]
    #[diagnostic(
        code(dbpm::apply::stale),
        help("nothing ran; make a new plan against the target as it is now")
    )]
    Stale {
        /// What changed, package by package.
        reasons: String,
    },
    /// `--roll-back` with no unfinished run of the plan.
    #[error("no run of this plan is unfinished on `{target}`: nothing to roll back")]
    #[diagnostic(
        code(dbpm::apply::nothing_to_roll_back),
        help("`--roll-back` undoes what an unfinished run did; a completed run is undone with `dbpm undo` (`dbpm history` lists the runs)")
    )]
    NothingToRollBack {
        /// The target's label.
        target: String,
    },
    /// Another plan's run is unfinished on the target.
    #[error("run `{run}` of another plan ({plan}) is unfinished on this target ({outcome})")]
    #[diagnostic(
        code(dbpm::apply::other_run),
        help("finish it first, then plan again: `dbpm apply --resume` resumes it with the plan the target kept (a run of `dbpm install` and the other verbs), or apply its plan file again; it rolls back or completes. `--roll-back` undoes what it did instead")
    )]
    OtherRun {
        /// The unfinished run.
        run: String,
        /// Its plan hash.
        plan: String,
        /// Where it stands, in words: a run recorded as running that an apply holding the
        /// run lock finds was interrupted.
        outcome: String,
    },
    /// `.sys` steps without an admin connection.
    #[error("the plan has {} to run on an admin connection, and none was given", crate::diagnostic::plural(*count, "`.sys` step"))]
    #[diagnostic(
        code(dbpm::apply::needs_admin),
        help("pass `--admin-db URL` with a privileged user; nothing ran")
    )]
    NeedsAdmin {
        /// How many.
        count: usize,
    },
    /// Something dbpm sends in one piece is larger than the MySQL/MariaDB server takes.
    #[error("{what} is {size} bytes, more than the server takes in one packet (`max_allowed_packet` = {limit})")]
    #[diagnostic(
        code(dbpm::apply::packet_too_large),
        help("nothing ran; raise the server's `max_allowed_packet` to at least {needed} (`SET GLOBAL max_allowed_packet = {needed};`, and in its configuration file), or split the script")
    )]
    PacketTooLarge {
        /// What: a step's script, or the plan kept with the run.
        what: String,
        /// Its size in bytes.
        size: usize,
        /// The server's limit.
        limit: u64,
        /// A limit that would do.
        needed: u64,
    },
    /// The target failed while a step ran (its connection was lost, or its journal entry
    /// could not be written), so whether the step's script ran is unknown: the run stops for
    /// a resume rather than compensate it.
    #[error("step `{step}` was interrupted: the target failed under it")]
    #[diagnostic(
        code(dbpm::apply::step_interrupted),
        help("nothing was rolled back; run the same command again once the target works again (the causes below say what failed): it resumes the run. The step runs again when its transaction was rolled back with the connection, or when it is idempotent; otherwise it may have run in part, and the resume stops for an operator (`dbpm status` shows where the run stands)")
    )]
    StepInterrupted {
        /// The step.
        step: String,
        /// How the target failed.
        #[source]
        source: TargetError,
    },
    /// As [`ApplyError::StepInterrupted`], for a compensation: the run was rolling back.
    #[error("compensation `{step}` was interrupted while the run rolled back: the target failed under it")]
    #[diagnostic(
        code(dbpm::apply::compensation_interrupted),
        help("the rollback stopped where it was: run the same command again once the target works again (the causes below say what failed), and it goes on with the rollback. The compensation runs again when its transaction was rolled back with the connection, or when it is idempotent; otherwise it may have run in part, and the rollback stops for an operator (`dbpm status` shows where the run stands)")
    )]
    CompensationInterrupted {
        /// The compensation.
        step: String,
        /// How the target failed.
        #[source]
        source: TargetError,
    },
    /// Ctrl-C, SIGTERM or SIGHUP came before the run began (while waiting for another run's lock,
    /// say): nothing ran, and no run was recorded that would hold the target for this plan.
    #[error("stopped on request (Ctrl-C, SIGTERM or SIGHUP) before the run began")]
    #[diagnostic(
        code(dbpm::apply::stopped_before_run),
        help("nothing ran and nothing was recorded; run the same command again to apply the plan")
    )]
    StoppedBeforeRun,
    /// The target failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Target(#[from] TargetError),
}

/// What a statement that carries a text (a script, or an `INSERT` of it into the state)
/// adds to the text's size in a MySQL/MariaDB packet, with room to spare.
const PACKET_OVERHEAD: usize = 64 * 1024;

/// Refuses, before anything runs, a plan with a text larger than a MySQL/MariaDB server
/// takes in one packet: a script sent whole (and kept in the state), or the plan that a
/// verb keeps with its run. It would fail mid-run, or after its scripts ran, when the
/// state records them.
async fn check_packet_size(
    plan: &Plan,
    target: &Target,
    kept: Option<&str>,
) -> Result<(), ApplyError> {
    let Some(limit) = target.max_packet().await? else {
        return Ok(());
    };
    // The largest text the plan sends in one piece: a script (run by a step, or kept by the
    // state for a version installed or walked through), the plan a verb keeps with its
    // run, or the texts the state writes several to a statement.
    let script = plan
        .scripts
        .iter()
        .max_by_key(|(_, text)| text.len())
        .map(|(checksum, text)| (text.len(), Some(checksum), ""));
    let together = plan
        .scripts
        .values()
        .map(|text| text.len())
        .sum::<usize>()
        .min(TEXT_BYTES_PER_INSERT);
    let largest = script
        .into_iter()
        .chain(kept.map(|json| (json.len(), None, "the plan kept with the run")))
        .chain([(together, None, "the script texts the state writes together")])
        .max_by_key(|(size, _, _)| *size);
    let Some((size, script, what)) = largest else {
        return Ok(());
    };
    let fits = u64::try_from(size + PACKET_OVERHEAD).is_ok_and(|needed| needed <= limit);
    if fits {
        return Ok(());
    }
    const MB: u64 = 1024 * 1024;
    let needed = u64::try_from(size + PACKET_OVERHEAD)
        .unwrap_or(u64::MAX)
        .div_ceil(MB)
        .saturating_mul(MB);
    Err(ApplyError::PacketTooLarge {
        what: script.map_or_else(|| what.to_owned(), |checksum| script_named(plan, checksum)),
        size,
        limit,
        needed,
    })
}

/// A script of `plan` by what runs or keeps it: the step that runs it, else the version
/// whose record keeps it.
fn script_named(plan: &Plan, checksum: &Checksum) -> String {
    if let Some(step) = plan
        .steps
        .iter()
        .chain(&plan.compensations)
        .find(|step| step.checksum == *checksum)
    {
        return format!("the script of step `{}`", step.id);
    }
    let walked = plan
        .walked
        .iter()
        .flat_map(|(name, versions)| versions.iter().map(move |p| (name, p)));
    plan.packages
        .iter()
        .chain(walked)
        .find_map(|(name, package)| {
            let (path, _) = package.scripts.iter().find(|(_, c)| *c == checksum)?;
            Some(format!("`{path}` of {name}@{}", package.version))
        })
        .unwrap_or_else(|| format!("the script {checksum}"))
}

/// Applies `plan` to `target`.
pub async fn apply(
    plan: &Plan,
    target: &Target,
    settings: &Settings,
    events: &(dyn Fn(Event) + Send + Sync),
) -> Result<Outcome, ApplyError> {
    if plan.platform != target.platform() {
        return Err(ApplyError::Platform {
            plan: plan.platform,
            target: target.platform(),
        });
    }
    let target = &target
        .clone()
        .limiting_step_lock_waits(settings.step_lock_timeout);
    let admin = settings.admin_target();
    let sys_steps = plan
        .steps
        .iter()
        .chain(&plan.compensations)
        .filter(|s| s.kind == Kind::Sys)
        .count();
    if sys_steps > 0 && admin.is_none() {
        return Err(ApplyError::NeedsAdmin { count: sys_steps });
    }
    // A mistyped admin connection fails here, before anything runs.
    if let (Some(admin), true) = (&admin, sys_steps > 0) {
        admin.admin_session().await?.close().await?;
    }
    // The run lock comes first: another run holds it for as long as its steps run, and on
    // SQLite a state write would wait on that run's open transaction, not on the lock's
    // timeout, and fail as an error rather than as a locked target.
    // A stop while another run keeps the lock gives up waiting (it said it changed nothing).
    let lock = tokio::select! {
        lock = target.lock(settings.lock_timeout) => lock?,
        () = stop_requested(&settings.stop) => return Err(ApplyError::StoppedBeforeRun),
    };
    target.ensure_state().await?;
    let runs = target.runs().await?;
    // The last completed run applied this very plan: applying it again would run it twice.
    // (The same plan may apply again once the target has moved on and come back to its
    // inputs: the staleness check below is what guards that.)
    if let Some(done) = runs
        .iter()
        .rev()
        .find(|r| r.outcome == RunOutcome::Completed)
        .filter(|r| r.plan_hash == plan.hash)
    {
        if settings.roll_back {
            return Err(ApplyError::NothingToRollBack {
                target: target.label(),
            });
        }
        return Ok(Outcome::AlreadyApplied {
            run: done.id.clone(),
        });
    }
    let unfinished = runs.iter().find(|r| is_unfinished(r));
    let kept = settings.keep_plan.then(|| plan.to_json());
    check_packet_size(plan, target, kept.as_deref()).await?;
    let state = target.read_state().await?;
    let (run, resumed) = match unfinished {
        Some(other) if other.plan_hash != plan.hash => {
            return Err(ApplyError::OtherRun {
                run: other.id.clone(),
                plan: other.plan_hash.clone(),
                // This apply holds the run lock: nothing else runs it.
                outcome: unfinished_outcome(other, true),
            });
        }
        Some(same) => (same.clone(), true),
        None if settings.roll_back => {
            return Err(ApplyError::NothingToRollBack {
                target: target.label(),
            })
        }
        None => {
            check_stale(plan, &state)?;
            // A run recorded now would stop at once, and hold the target for this plan
            // until resumed or rolled back.
            if settings.stop.load(Ordering::SeqCst) {
                return Err(ApplyError::StoppedBeforeRun);
            }
            let id = run_id(plan);
            let before = state.record_json();
            target
                .start_run(
                    &id,
                    lock.owner(),
                    &plan.hash,
                    &os_user(),
                    &before,
                    kept.as_deref(),
                )
                .await?;
            let record = RunRecord {
                id: id.clone(),
                plan_hash: plan.hash.clone(),
                os_user: os_user(),
                started_at: String::new(),
                ended_at: None,
                outcome: RunOutcome::Running,
                installed_before: before,
                installed_after: None,
            };
            (record, false)
        }
    };
    if resumed {
        // Before the journal is read: a step that an apply which lost the lock still runs
        // either committed by now, and is in the journal, or will not commit.
        target.claim_run(&run.id, lock.owner()).await?;
    }

    let rows = target
        .journal(&run.id)
        .await?
        .into_iter()
        .filter_map(|row| {
            let state = StepState::parse(&row.state)?;
            Some((row.step, state, row.attempt))
        });
    let choices = Choices {
        in_doubt: settings.in_doubt,
        skip_failed_compensations: settings.skip_failed_compensations,
        roll_back: settings.roll_back,
    };
    let Resume {
        mut journal,
        mut attempts,
        marks,
    } = schedule::resume(plan, run.outcome, rows, choices);
    if !marks.is_empty() {
        let mut session = target.step_session().await?;
        for mark in &marks {
            session
                .mark(
                    &run.id,
                    &mark.step,
                    mark.attempt,
                    mark.state.as_str(),
                    Some(mark.why),
                )
                .await?;
        }
        session.close().await?;
    }
    let done = plan
        .steps
        .iter()
        .filter(|s| journal.get(&*s.id) == Some(&StepState::Done))
        .count();
    events(Event::RunStarted {
        run: run.id.clone(),
        resumed,
        steps: plan.steps.len(),
        done,
    });

    let outcome = drive(
        plan,
        target,
        settings,
        events,
        &run.id,
        &mut journal,
        &mut attempts,
        &lock,
    )
    .await?;
    // An outcome written without the lock could be another run's to write.
    lock.confirm().await?;
    match &outcome {
        Outcome::Completed { .. } => {
            let after = plan.resulting_state(&state, Some(run.id.clone()), Some(utc_now()));
            let record = plan.run_record(&after, Some(run.id.clone()));
            target
                .record_installed(&record, &run.id, RunOutcome::Completed)
                .await?;
        }
        Outcome::RolledBack { .. } => {
            target
                .set_outcome(
                    &run.id,
                    RunOutcome::RolledBack,
                    true,
                    Some(&run.installed_before),
                )
                .await?
        }
        Outcome::CompensationFailed { .. } => {
            target
                .set_outcome(&run.id, RunOutcome::CompensationFailed, false, None)
                .await?
        }
        Outcome::InDoubt { .. } => {
            target
                .set_outcome(&run.id, RunOutcome::InDoubt, false, None)
                .await?
        }
        Outcome::Stopped { after_failure, .. } => {
            let outcome = if *after_failure {
                RunOutcome::StoppedAfterFailure
            } else {
                RunOutcome::Stopped
            };
            target.set_outcome(&run.id, outcome, false, None).await?;
        }
        Outcome::AlreadyApplied { .. } => {}
    }
    Ok(outcome)
}

/// Returns once `stop` is set (by the CLI's signal handler, which notifies nothing else).
async fn stop_requested(stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A run that neither completed, nor rolled back, nor recorded an adoption.
pub fn is_unfinished(run: &RunRecord) -> bool {
    !run.outcome.is_finished()
}

/// Whether `run` is recorded as under way while nothing holds the run lock (`lock_free`,
/// seen before the run was read): then its dbpm ended without recording how the run ended
/// ([`Target::run_lock_free`]).
pub fn is_interrupted(run: &RunRecord, lock_free: bool) -> bool {
    run.outcome == RunOutcome::Running && lock_free
}

/// Where unfinished `run` stands, in words (`interrupted`, `stopped`, `needs operator`), the
/// run lock being free or not as [`is_interrupted`] takes it.
pub fn unfinished_outcome(run: &RunRecord, lock_free: bool) -> String {
    if is_interrupted(run, lock_free) {
        "interrupted".to_owned()
    } else {
        run.outcome.as_str().replace('_', " ")
    }
}

#[allow(clippy::too_many_arguments)] // the run's whole context, passed once
async fn drive(
    plan: &Plan,
    target: &Target,
    settings: &Settings,
    events: &(dyn Fn(Event) + Send + Sync),
    run: &str,
    journal: &mut Journal,
    attempts: &mut BTreeMap<String, i64>,
    lock: &RunLock,
) -> Result<Outcome, ApplyError> {
    let steps: BTreeMap<&str, &Step> = plan
        .steps
        .iter()
        .chain(&plan.compensations)
        .map(|s| (&*s.id, s))
        .collect();
    // Lowered when the target gives no more connections (see the launch below).
    let mut jobs = if plan.platform == Platform::Sqlite {
        1
    } else {
        settings.jobs.max(1)
    };
    let mut running: BTreeSet<String> = BTreeSet::new();
    // One connection per concurrent step, reused from step to step (see `step_session`).
    let mut idle: Vec<(StepSession, Instant)> = Vec::new();
    // SQLite runs steps one at a time: consecutive transactional steps share a commit.
    let sequential = plan.platform == Platform::Sqlite;
    let mut unbatched = 0usize;
    let mut tasks: JoinSet<Finished> = JoinSet::new();
    // A resumed rollback reports the steps whose failure started it.
    let mut failed_forward: Vec<String> = plan
        .steps
        .iter()
        .filter(|s| journal.get(&*s.id).is_some_and(|state| state.failed()))
        .map(|s| s.id.to_string())
        .collect();
    // The running steps not yet told to wait for a lock, with their connections' ids on the
    // server, when to look next and how often they were looked at (see `tell_held_up`).
    let mut watched: BTreeMap<String, Watched> = BTreeMap::new();
    let mut announced_rollback = false;
    let mut stopping: Option<String> = None;
    let mut stopped_after_failure = false;
    let mut in_doubt = settings.in_doubt;

    loop {
        if stopping.is_none() && settings.stop.load(Ordering::SeqCst) {
            stopping = Some("stopped on request (Ctrl-C, SIGTERM or SIGHUP)".to_owned());
        }
        // Another dbpm may take a lost lock: nothing new starts (`apply` then reports it).
        if stopping.is_none() && lock.lost() {
            stopping = Some("lost the run lock".to_owned());
        }
        let next = schedule::next(plan, journal, &running, in_doubt, settings.roll_back);
        let launch: Vec<String> = match next {
            Next::Run(ready) if stopping.is_none() => ready,
            Next::Run(_) | Next::Wait => Vec::new(),
            Next::Completed if running.is_empty() => {
                let postinstall_failed = plan
                    .steps
                    .iter()
                    .filter(|s| s.phase == StepPhase::Postinstall)
                    .filter(|s| journal.get(&*s.id).is_some_and(|state| state.failed()))
                    .map(|s| s.id.to_string())
                    .collect();
                return Ok(Outcome::Completed {
                    run: run.to_owned(),
                    postinstall_failed,
                });
            }
            Next::RolledBack if running.is_empty() => {
                let irreversible = plan
                    .steps
                    .iter()
                    // Done, or in doubt: what it may have done stays.
                    .filter(|s| {
                        s.irreversible
                            && matches!(
                                journal.get(&*s.id),
                                Some(StepState::Done | StepState::Started | StepState::Skipped)
                            )
                    })
                    .map(|s| s.id.to_string())
                    .collect();
                // Those with a twin were compensated, as a failed step outside a
                // transaction is.
                let partly_committed = failed_forward
                    .iter()
                    .filter(|id| {
                        // Not one that could not start: it ran nothing.
                        journal.get(id.as_str()) == Some(&StepState::Failed)
                            && steps.get(id.as_str()).is_some_and(|s| {
                                s.compensated_by.is_none() && schedule::commits_by_itself(plan, s)
                            })
                    })
                    .cloned()
                    .collect();
                return Ok(Outcome::RolledBack {
                    run: run.to_owned(),
                    failed: failed_forward,
                    irreversible,
                    partly_committed,
                });
            }
            Next::CompensationFailed(failed) if running.is_empty() => {
                return Ok(Outcome::CompensationFailed {
                    run: run.to_owned(),
                    failed,
                })
            }
            Next::InDoubt(steps) if running.is_empty() => {
                return Ok(Outcome::InDoubt {
                    run: run.to_owned(),
                    steps,
                })
            }
            _ => Vec::new(),
        };
        // Steps that were re-run after doubt count as decided.
        if in_doubt == InDoubt::Retry
            && launch.is_empty()
            && running.is_empty()
            && stopping.is_none()
        {
            in_doubt = InDoubt::Stop;
        }
        let compensating = launch.iter().any(|id| {
            steps
                .get(id.as_str())
                .is_some_and(|s| s.compensates.is_some())
        });
        if compensating && !announced_rollback {
            announced_rollback = true;
            let needed = plan.compensations.len();
            events(Event::RollingBack {
                compensations: needed,
            });
        }
        if sequential
            && stopping.is_none()
            && running.is_empty()
            && !launch.is_empty()
            && unbatched == 0
        {
            let batch = next_batch(plan, &steps, journal, in_doubt, settings.roll_back);
            if batch.len() > 1 {
                let mut session = step_session(target, &mut idle).await?;
                let work: Vec<(String, i64, String)> = batch
                    .iter()
                    .map(|step| {
                        let attempt = attempts.get(&*step.id).copied().unwrap_or(0) + 1;
                        (step.id.to_string(), attempt, plan.text_of(step).to_owned())
                    })
                    .collect();
                let started = Instant::now();
                match session
                    .run_batch(run, &work, super::failpoint::inside_step)
                    .await?
                {
                    None => {
                        let millis =
                            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                        let batch = work.len();
                        for (id, attempt, _) in work {
                            attempts.insert(id.clone(), attempt);
                            journal.insert(id.clone(), StepState::Done);
                            events(Event::StepStarted { step: id.clone() });
                            events(Event::StepDone {
                                step: id,
                                millis,
                                batch,
                            });
                            super::failpoint::step_finished();
                        }
                    }
                    // A script failed and the batch was undone: run its steps one by one to
                    // journal exactly which failed.
                    Some(_) => unbatched = work.len(),
                }
                idle.push((session.fresh().await?, Instant::now()));
                continue;
            }
        }
        for id in launch.into_iter().take(jobs.saturating_sub(running.len())) {
            let Some(step) = steps.get(id.as_str()) else {
                continue;
            };
            // The connection comes first: a step is started only once it has one.
            let session = match step_session(target, &mut idle).await {
                Ok(session) => session,
                // The target gives no more connections while steps run (a connection limit
                // of the user or the server, a pooler): the run goes on with the ones it
                // has, rather than break off and end the running steps with it.
                Err(_) if !running.is_empty() => {
                    jobs = running.len();
                    break;
                }
                Err(err) => return Err(err.into()),
            };
            unbatched = unbatched.saturating_sub(1);
            let step = (*step).clone();
            let attempt = attempts.get(&id).copied().unwrap_or(0) + 1;
            attempts.insert(id.clone(), attempt);
            running.insert(id.clone());
            // A `.sys` step runs on another connection, a `.cmd` one on none of the target's.
            if let (Some(server_id), Kind::Sql) = (session.server_id(), step.kind) {
                let due = Instant::now() + ANNOUNCE_AFTER;
                watched.insert(
                    id.clone(),
                    Watched {
                        server_id,
                        due,
                        looks: 0,
                    },
                );
            }
            events(Event::StepStarted { step: id.clone() });
            let text = plan.text_of(&step).to_owned();
            let admin = settings.admin_target();
            let run = run.to_owned();
            let owner = lock.owner().to_owned();
            let cmd_timeout = settings.cmd_timeout;
            tasks.spawn(async move {
                let started = Instant::now();
                let (session, result) = run_step(
                    &step,
                    &text,
                    session,
                    admin.as_ref(),
                    (&run, &owner),
                    attempt,
                    cmd_timeout,
                )
                .await;
                (step.id.to_string(), session, result, started.elapsed())
            });
        }
        if running.is_empty() {
            if let Some(mut reason) = stopping.take() {
                if announced_rollback {
                    // Resuming goes on with the rollback, not with the change.
                    reason.push_str(" during its rollback, which resuming finishes");
                }
                return Ok(Outcome::Stopped {
                    run: run.to_owned(),
                    reason,
                    after_failure: stopped_after_failure,
                });
            }
            // Nothing ready and nothing running, yet not finished: the schedule is stuck.
            if !matches!(
                schedule::next(plan, journal, &running, in_doubt, settings.roll_back),
                Next::Run(_)
            ) {
                return Ok(Outcome::Stopped {
                    run: run.to_owned(),
                    reason: "no step can run; resume after checking the journal".to_owned(),
                    after_failure: false,
                });
            }
            continue;
        }
        let joined = loop {
            let Some(due) = watched.values().map(|watched| watched.due).min() else {
                break tasks.join_next().await;
            };
            tokio::select! {
                joined = tasks.join_next() => break joined,
                () = tokio::time::sleep_until(due.into()) => {
                    tell_held_up(target, &mut watched, events).await;
                }
            }
        };
        let Some(joined) = joined else {
            continue;
        };
        let (id, session, result, took) =
            joined.unwrap_or_else(|err| std::panic::resume_unwind(err.into_panic()));
        running.remove(&id);
        watched.remove(&id);
        idle.extend(session.map(|session| (session, Instant::now())));
        match result {
            Ok(Ok(())) => {
                journal.insert(id.clone(), StepState::Done);
                super::failpoint::step_finished();
                events(Event::StepDone {
                    step: id,
                    millis: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
                    batch: 1,
                });
            }
            Ok(Err(failure)) => {
                let (state, error) = match failure {
                    StepFailure::Script(ScriptFailed(error)) => (StepState::Failed, error),
                    StepFailure::CouldNotStart(error) => (StepState::CouldNotStart, error),
                };
                journal.insert(id.clone(), state);
                let step = steps.get(id.as_str());
                let forward = step.is_some_and(|s| s.compensates.is_none());
                let postinstall = step.is_some_and(|s| s.phase == StepPhase::Postinstall);
                events(Event::StepFailed {
                    step: id.clone(),
                    error,
                });
                if forward && !postinstall {
                    failed_forward.push(id);
                    if settings.on_failure == OnFailure::Stop && stopping.is_none() {
                        stopping = Some("a step failed and `--on-failure stop` keeps the run for a fix and a resume".to_owned());
                        stopped_after_failure = true;
                        // Keep the failure out of the schedule so it does not start rolling back.
                        journal.retain(|_, s| !s.failed());
                    }
                }
            }
            Err(err) => {
                // The target itself failed (connection lost): wait for the others, then report.
                while let Some(other) = tasks.join_next().await {
                    if let Ok((other_id, _, Ok(Ok(())), _)) = other {
                        journal.insert(other_id, StepState::Done);
                    }
                }
                let compensating = steps
                    .get(id.as_str())
                    .is_some_and(|s| s.compensates.is_some());
                return Err(if compensating {
                    ApplyError::CompensationInterrupted {
                        step: id,
                        source: err,
                    }
                } else {
                    ApplyError::StepInterrupted {
                        step: id,
                        source: err,
                    }
                });
            }
        }
    }
}

/// A running step watched for lock waits.
struct Watched {
    /// Its connection's id on the server.
    server_id: i64,
    /// When to look at it next.
    due: Instant,
    /// How often it was looked at.
    looks: u32,
}

/// How long after a look that found a step working dbpm looks at it again, the first time;
/// the pause doubles with each look, up to [`MAX_LOOK_AGAIN`]: a long step (an index on a
/// large table) costs the server a connection that often.
const LOOK_AGAIN: Duration = Duration::from_secs(5);

/// The longest pause between two looks at a step.
const MAX_LOOK_AGAIN: Duration = Duration::from_secs(60);

/// How long a look may take; then the steps are no longer watched rather than the run held
/// up (a target slow to give connections, a pooler's queue).
const LOOK_TIMEOUT: Duration = Duration::from_secs(2);

/// Tells of the `watched` steps due to be looked at that wait for a lock another
/// session holds, once each, and looks at the others again later. Only a notice: where the
/// target cannot tell (a connection limit, a missing right, no answer in time), the steps are
/// no longer watched.
async fn tell_held_up(
    target: &Target,
    watched: &mut BTreeMap<String, Watched>,
    events: &(dyn Fn(Event) + Send + Sync),
) {
    let now = Instant::now();
    let due: Vec<(String, i64)> = watched
        .iter()
        .filter(|(_, watched)| watched.due <= now)
        .map(|(step, watched)| (step.clone(), watched.server_id))
        .collect();
    let ids: Vec<i64> = due.iter().map(|(_, server_id)| *server_id).collect();
    let Ok(Ok(held_up)) = tokio::time::timeout(LOOK_TIMEOUT, target.held_up(&ids)).await else {
        for (step, _) in &due {
            watched.remove(step);
        }
        return;
    };
    for (step, server_id) in due {
        match held_up.iter().find(|held| held.waiting == server_id) {
            Some(held) => {
                watched.remove(&step);
                events(Event::StepHeldUp {
                    step,
                    lock: held.lock.clone(),
                    relation: held.relation.clone(),
                    holders: held.holders.clone(),
                });
            }
            None => {
                if let Some(watched) = watched.get_mut(&step) {
                    let pause = LOOK_AGAIN.saturating_mul(1 << watched.looks.min(4));
                    watched.due = Instant::now() + pause.min(MAX_LOOK_AGAIN);
                    watched.looks += 1;
                }
            }
        }
    }
}

/// How long a step connection may wait unused and still be taken for the next step.
const MAX_IDLE: Duration = Duration::from_secs(1);

/// A connection for the next step: the one last put back in `idle`, unless it waited there
/// longer than [`MAX_IDLE`], while other steps ran; a server (`idle_session_timeout`,
/// `wait_timeout`), a proxy or a firewall may have closed it, and the step would fail on it.
/// Then those waiting are closed (the others waited longer), and a new one is opened, which
/// costs little beside a step that ran that long.
async fn step_session(
    target: &Target,
    idle: &mut Vec<(StepSession, Instant)>,
) -> Result<StepSession, TargetError> {
    if let Some((session, since)) = idle.pop() {
        if since.elapsed() <= MAX_IDLE {
            return Ok(session);
        }
        for (stale, _) in std::iter::once((session, since)).chain(idle.drain(..)) {
            // One the server closed cannot say goodbye: nothing to report.
            let _ = stale.close().await;
        }
    }
    target.step_session().await
}

/// The longest run of transactional SQL steps that would run one after the other from here,
/// as if each succeeded; at most [`MAX_BATCH`].
fn next_batch<'a>(
    plan: &Plan,
    steps: &BTreeMap<&str, &'a Step>,
    journal: &Journal,
    in_doubt: InDoubt,
    roll_back: bool,
) -> Vec<&'a Step> {
    let none = BTreeSet::new();
    let Next::Run(ready) = schedule::next(plan, journal, &none, in_doubt, roll_back) else {
        return Vec::new();
    };
    let Some(first) = ready.first() else {
        return Vec::new();
    };
    let Some(start) = plan.steps.iter().position(|s| *s.id == **first) else {
        return Vec::new();
    };
    // Forward steps are stored in a topological order: walk on from the first ready one.
    let mut scratch: BTreeSet<&str> = journal
        .iter()
        .filter(|(_, state)| matches!(state, StepState::Done | StepState::Skipped))
        .map(|(id, _)| id.as_str())
        .collect();
    let mut batch = Vec::new();
    for candidate in &plan.steps[start..] {
        if batch.len() >= MAX_BATCH {
            break;
        }
        if journal.contains_key(&*candidate.id) {
            continue;
        }
        // A script that changes its session runs alone, on a connection of its own; so do a
        // check, which is rolled back, and a script with transaction control of its own,
        // which would end the batch's transaction (see `run_step`).
        let text = plan.text_of(candidate);
        let batchable = candidate.transactional
            && candidate.kind == Kind::Sql
            && candidate.phase != StepPhase::Verify
            && !changes_session(text, plan.platform)
            && !controls_transactions(text, plan.platform);
        if !batchable || !candidate.depends_on.iter().all(|d| scratch.contains(&**d)) {
            break;
        }
        let Some(step) = steps.get(&*candidate.id) else {
            break;
        };
        scratch.insert(&*candidate.id);
        batch.push(*step);
    }
    batch
}

/// A step task's result: its id, its connection for the next step, the step's outcome (or
/// the target's failure), its time.
type Finished = (
    String,
    Option<StepSession>,
    Result<Result<(), StepFailure>, TargetError>,
    Duration,
);

/// Why a step did not finish, the target working.
#[derive(Debug)]
enum StepFailure {
    /// Its script failed.
    Script(ScriptFailed),
    /// It could not start, and nothing of it ran: why, as the journal keeps it.
    CouldNotStart(String),
}

/// Runs one step of `run` (its id, and the owner of the run lock) with its journal entries on
/// `session` (the target's; `.sys` steps run on a connection of the admin target, journaled on
/// `session`). The inner result is the step's own failure; the session comes back for the
/// next step unless the target failed.
async fn run_step(
    step: &Step,
    text: &str,
    mut session: StepSession,
    admin: Option<&Target>,
    (run, owner): (&str, &str),
    attempt: i64,
    cmd_timeout: Duration,
) -> (
    Option<StepSession>,
    Result<Result<(), StepFailure>, TargetError>,
) {
    let failpoint = |id: &str| super::failpoint::inside_step(id);
    // A check changes nothing: it runs in a transaction that is rolled back, as `dbpm
    // verify` runs it, and is journaled after it (run again after a crash, it is harmless).
    // So a check may make its transaction read-only, which a committed step may not. On
    // MySQL/MariaDB too, where scripts run outside a transaction unless declared otherwise
    // (for their DDL, which a check has no use for).
    let platform = session.target().platform();
    let checks_in_transaction = step.transactional || platform == Platform::Mysql;
    if step.phase == StepPhase::Verify && step.kind == Kind::Sql && checks_in_transaction {
        let running = statements::Running::on(&session);
        let result = session.check(text).await;
        drop(running);
        let result = match result {
            Ok(result) => result,
            Err(err) => return (None, Err(err)),
        };
        failpoint(&step.id);
        // Journaled on a session the check left nothing in (MySQL keeps a `SET SESSION`
        // through a rollback), while this apply still holds the run.
        let mut session = match session.fresh_after_transaction().await {
            Ok(session) => session,
            Err(err) => return (None, Err(err)),
        };
        let (state, output) = match &result {
            Ok(()) => ("done", None),
            Err(ScriptFailed(message)) => ("failed", Some(message.as_str())),
        };
        return match (session.mark_held(run, owner, &step.id, attempt, state, output)).await {
            Ok(()) => (Some(session), Ok(result.map_err(StepFailure::Script))),
            Err(err) => (None, Err(err)),
        };
    }
    // In a step that runs in a transaction, a `ROLLBACK` of its own would undo part of the
    // step while the rest commits as if whole: such a script is not run (a warning at build).
    let own = own_transaction(text, platform);
    if step.transactional && step.kind == Kind::Sql && own.rolls_back {
        let message = "the script holds a `ROLLBACK` of its own (or `ABORT`), which would undo part of the step while the rest commits as if whole; it was not run; remove it (dbpm runs the whole script in one transaction), or declare the script `transaction = false`";
        return match (session.mark_held(run, owner, &step.id, attempt, "failed", Some(message)))
            .await
        {
            Ok(()) => (
                Some(session),
                Ok(Err(StepFailure::Script(ScriptFailed(message.to_owned())))),
            ),
            Err(err) => (None, Err(err)),
        };
    }
    // A script that commits part of its work by itself cannot commit with its journal entry:
    // it runs as a step outside a transaction does, journaled before and after, never
    // retried once it took effect, and in doubt after a crash.
    if step.transactional && step.kind == Kind::Sql && !own.commits {
        let running = statements::Running::on(&session);
        let result = session
            .run_transactional(run, owner, &step.id, attempt, text, failpoint)
            .await;
        drop(running);
        return match result {
            Ok(result) => match session.fresh_after_transaction().await {
                Ok(session) => (Some(session), Ok(result.map_err(StepFailure::Script))),
                Err(err) => (None, Err(err)),
            },
            Err(err) => (None, Err(err)),
        };
    }
    // A `.sys` step's admin connection is opened before the step is journaled as started:
    // one that cannot be opened leaves the step not started, never in doubt, and fails the
    // run as a failed step does (the admin server may be down while the target works).
    let admin_session = match (step.kind, admin) {
        (Kind::Sys, Some(admin)) => match admin.admin_session().await {
            Ok(admin_session) => Some(admin_session),
            Err(err) => {
                let why = scrub(&could_not_start(&err), admin);
                // A step tried before (in doubt, or failed) may have done part of its work
                // then: this attempt fails it, so that a rollback undoes what that did.
                let (state, failure) = if attempt > 1 {
                    (
                        StepState::Failed,
                        StepFailure::Script(ScriptFailed(why.clone())),
                    )
                } else {
                    (
                        StepState::CouldNotStart,
                        StepFailure::CouldNotStart(why.clone()),
                    )
                };
                return match session
                    .mark(run, &step.id, attempt, state.as_str(), Some(&why))
                    .await
                {
                    Ok(()) => (Some(session), Ok(Err(failure))),
                    Err(err) => (None, Err(err)),
                };
            }
        },
        _ => None,
    };
    // Any other step is journaled apart from its script: started before, done after. A
    // transactional `.sys` step too, since its script runs on the admin connection: a crash
    // in between leaves it in doubt, never silently done.
    if let Err(err) = session.mark(run, &step.id, attempt, "started", None).await {
        return (None, Err(err));
    }
    // A transactional `.sys` step meets its fail point where a transactional step does:
    // after its script, before the commit.
    let sys_in_transaction = step.kind == Kind::Sys && step.transactional;
    if !sys_in_transaction {
        failpoint(&step.id);
    }
    let result = match (step.kind, admin_session) {
        (Kind::Cmd, _) => run_command(step, text, session.target(), cmd_timeout).await,
        (Kind::Sys, Some(admin_session)) => {
            let before_commit = || failpoint(&step.id);
            match run_on_admin(admin_session, text, step.transactional, before_commit).await {
                Ok(result) => result,
                Err(err) => return (None, Err(err)),
            }
        }
        (Kind::Sql | Kind::Sys, _) => {
            let running = statements::Running::on(&session);
            let result = match session.run_plain(text).await {
                Ok(result) => result.map(|()| String::new()),
                Err(err) => return (None, Err(err)),
            };
            drop(running);
            // Journaled on a session the script left nothing in (an `autocommit = 0`, a `USE`).
            session = match session.fresh().await {
                Ok(session) => session,
                Err(err) => return (None, Err(err)),
            };
            result
        }
    };
    let (state, output) = match &result {
        Ok(output) => ("done", (!output.is_empty()).then(|| output.clone())),
        Err(ScriptFailed(message)) => ("failed", Some(message.clone())),
    };
    match session
        .mark(run, &step.id, attempt, state, output.as_deref())
        .await
    {
        Ok(()) => (
            Some(session),
            Ok(result.map(drop).map_err(StepFailure::Script)),
        ),
        Err(err) => (None, Err(err)),
    }
}

/// Why a `.sys` step could not start, its admin connection failing to open: the error and its
/// causes, which name the connection by its URL without its password.
fn could_not_start(err: &TargetError) -> String {
    let causes = std::iter::successors(std::error::Error::source(err), |cause| cause.source());
    let mut why = format!("could not start: the admin connection could not be opened: {err}");
    for cause in causes {
        why.push_str(&format!(": {cause}"));
    }
    why
}

/// Runs a `.sys` script on a connection of the admin target: a transactional one inside a
/// transaction there (so a failure leaves nothing behind, which is why the schedule does not
/// compensate it), `before_commit` called before its commit; any other as plain statements.
async fn run_on_admin(
    mut session: StepSession,
    text: &str,
    transactional: bool,
    before_commit: impl FnOnce(),
) -> Result<Result<String, ScriptFailed>, TargetError> {
    let running = statements::Running::on(&session);
    let result = if transactional {
        session.run_in_transaction(text, before_commit).await?
    } else {
        session.run_plain(text).await?
    };
    drop(running);
    session.close().await?;
    Ok(result.map(|()| String::new()))
}

/// The variables of dbpm's own environment that may hold credentials besides the target's
/// (the admin connection, repositories): a `.cmd` script runs without them. It gets the
/// target's URL, as `DBPM_TARGET_URL`, and its password is removed from what it prints.
const WITHHELD_FROM_COMMANDS: [&str; 3] = ["DBPM_DB", "DBPM_ADMIN_DB", "DBPM_REPO"];

/// Runs a `.cmd` step in the shell, with the DBPM_* variables; the output is kept, cut to
/// [`MAX_OUTPUT`] and stripped of the target's password.
async fn run_command(
    step: &Step,
    text: &str,
    target: &Target,
    timeout: Duration,
) -> Result<String, ScriptFailed> {
    let mut command = tokio::process::Command::new("sh");
    command
        .arg("-c")
        .arg(text)
        .env("DBPM_PACKAGE", &*step.package)
        .env("DBPM_VERSION", step.version.to_string())
        .env("DBPM_PHASE", step.phase.to_string())
        .env("DBPM_PLATFORM", target.platform().as_str())
        .env("DBPM_TARGET_URL", target.url().expose())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        // A group of its own, so that what the script starts ends with the step (see
        // `process`), and a terminal's Ctrl-C does not fail the step it lets finish.
        .process_group(0)
        .kill_on_drop(true);
    for name in WITHHELD_FROM_COMMANDS {
        command.env_remove(name);
    }
    // A PostgreSQL target is a schema too: several tenants may share the database.
    match target.schema() {
        Some(schema) => command.env("DBPM_SCHEMA", schema),
        None => command.env_remove("DBPM_SCHEMA"),
    };
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => return Err(ScriptFailed(format!("failed to start the shell: {err}"))),
    };
    // Dropped on a timeout (or with the step's task), it kills what the script started.
    let group = process::Group::led_by(child.id());
    let (mut stdout, mut stderr) = (child.stdout.take(), child.stderr.take());
    // Kept outside the race with the timeout, so a step that times out keeps what it said.
    let (mut out, mut err) = (Kept::default(), Kept::default());
    let mut reading = Box::pin(async {
        tokio::join!(
            kept(stdout.as_mut(), Keep::Start, &mut out),
            kept(stderr.as_mut(), Keep::End, &mut err)
        )
    });
    // The step is its shell: it ends when the shell exits, although what the script left
    // running (`worker &`) may hold the pipes open for as long as it runs.
    let mut read = false;
    let ran = async {
        tokio::select! {
            (read_out, read_err) = &mut reading => {
                read = true;
                read_out?;
                read_err?;
                child.wait().await
            }
            status = child.wait() => status,
        }
    };
    let finished = tokio::time::timeout(timeout, ran).await;
    if let Ok(Ok(_)) = finished {
        group.finished();
    } else {
        drop(group);
    }
    if !read {
        // What is still in the pipes, written just before the shell exited or was killed
        // (a process that left the group may hold them open, so the wait is short).
        let _ = tokio::time::timeout(DRAIN, &mut reading).await;
    }
    drop(reading);
    let status = match finished {
        Ok(Ok(status)) => status,
        Ok(Err(err)) => return Err(ScriptFailed(format!("failed to run the shell: {err}"))),
        Err(_) => {
            return Err(ScriptFailed(format!(
                "timed out after {} s (the script and what it started were killed){}",
                timeout.as_secs(),
                said(&output_text(&out, &err, target))
            )))
        }
    };
    let text = output_text(&out, &err, target);
    if status.success() {
        Ok(text)
    } else {
        Err(ScriptFailed(format!("exited with {status}{}", said(&text))))
    }
}

/// How long a `.cmd` step's pipes are read after its shell exited (what it left running may
/// hold them open), or after its process group was killed when it timed out. Then dbpm
/// stops reading: a process the script leaves running must send its output elsewhere
/// (`worker >worker.log 2>&1 &`), or its next write ends it (SIGPIPE).
const DRAIN: Duration = Duration::from_millis(500);

/// A `.cmd` step's output as the journal keeps it: [`joined`], scrubbed of the target's
/// password.
fn output_text(stdout: &Kept, stderr: &Kept, target: &Target) -> String {
    joined(
        &scrub(&String::from_utf8_lossy(&stdout.bytes), target),
        stdout.cut,
        &scrub(&String::from_utf8_lossy(&stderr.bytes), target),
        stderr.cut,
    )
}

/// The output after a failed `.cmd` step's reason: `: ` and the output, or nothing.
fn said(text: &str) -> String {
    match text.trim_end() {
        "" => String::new(),
        text => format!(": {text}"),
    }
}

/// Which part of a long stream [`kept`] keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    /// Its start: what a script printed on its way.
    Start,
    /// Its end: where a failing script says why.
    End,
}

/// What [`kept`] kept of a stream.
#[derive(Debug, Default)]
struct Kept {
    /// At most twice [`MAX_OUTPUT`] bytes.
    bytes: Vec<u8>,
    /// Whether more was said.
    cut: bool,
}

/// What a `.cmd` step's stream says, read into `kept` to its end but kept only up to twice
/// [`MAX_OUTPUT`] (room for [`joined`] to cut it, after [`scrub`], so that no secret is
/// cut in two): a script that prints without end (a `pg_dump` to its standard output) would
/// otherwise fill dbpm's memory. Each read is added to `kept` at once, so a read broken off
/// (the step timed out) leaves what came before it.
async fn kept(
    stream: Option<&mut (impl tokio::io::AsyncRead + Unpin)>,
    keep: Keep,
    kept: &mut Kept,
) -> Result<(), std::io::Error> {
    use tokio::io::AsyncReadExt;

    const LIMIT: usize = 2 * MAX_OUTPUT;
    let Some(stream) = stream else {
        return Ok(());
    };
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        kept.bytes.extend_from_slice(&buffer[..read]);
        if kept.bytes.len() > LIMIT {
            kept.cut = true;
            match keep {
                Keep::Start => kept.bytes.truncate(LIMIT),
                Keep::End => {
                    let excess = kept.bytes.len() - LIMIT;
                    kept.bytes.drain(..excess);
                }
            }
        }
    }
}

/// A `.cmd` step's output as the journal keeps it, at most about [`MAX_OUTPUT`]: its
/// standard output, then its standard error. Standard error keeps its end, where a failing
/// script says why, in at least half of the room; standard output its start. (Cut as one
/// text, a long standard output left no room for the error after it.)
fn joined(stdout: &str, stdout_cut: bool, stderr: &str, stderr_cut: bool) -> String {
    const CUT: &str = "[output cut]";
    let stderr_room = stderr
        .len()
        .min((MAX_OUTPUT / 2).max(MAX_OUTPUT.saturating_sub(stdout.len())));
    let stdout_room = MAX_OUTPUT - stderr_room;
    let mut text = String::with_capacity(MAX_OUTPUT + 2 * CUT.len() + 2);
    let mut head = stdout_room.min(stdout.len());
    while !stdout.is_char_boundary(head) {
        head -= 1;
    }
    text.push_str(&stdout[..head]);
    if stdout_cut || head < stdout.len() {
        text.push('\n');
        text.push_str(CUT);
        if !stderr.is_empty() {
            text.push('\n');
        }
    }
    let mut tail = stderr.len() - stderr_room;
    while !stderr.is_char_boundary(tail) {
        tail += 1;
    }
    if stderr_cut || tail > 0 {
        text.push_str(CUT);
        text.push('\n');
    }
    text.push_str(&stderr[tail..]);
    text
}

/// Removes the target's password from output, as written in the URL and percent-decoded (as
/// a tool that parsed `DBPM_TARGET_URL` would print it).
fn scrub(text: &str, target: &Target) -> String {
    let url = target.url();
    let mut text = text.replace(url.expose(), &url.redacted());
    for secret in url.secrets() {
        text = hide(&text, &secret);
    }
    text
}

/// A password shorter than this is hidden only where it stands alone: inside a word it is
/// more likely a piece of the word (`pw` of `pwd`), and hiding it there would wreck the
/// output (a password `a`) and tell where the password's letters are. Longer ones are
/// hidden everywhere, inside words too: a password must never show.
const SHORT_SECRET: usize = 4;

/// `text` with every occurrence of `secret` shown as `***`; a short secret only where no
/// letter or digit continues it on a side where it ends in one, or after a client's
/// password switch (`mysql -ppw`).
fn hide(text: &str, secret: &str) -> String {
    if secret.chars().count() >= SHORT_SECRET {
        return text.replace(secret, "***");
    }
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let (first, last) = (secret.chars().next(), secret.chars().next_back());
    let mut shown = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(secret) {
        let (before, after) = (&text[..at], &text[at + secret.len()..]);
        let glued = (word(first) && word(before.chars().next_back()) && !before.ends_with("-p"))
            || (word(last) && word(after.chars().next()));
        shown.push_str(&text[copied..at]);
        shown.push_str(if glued { secret } else { "***" });
        copied = at + secret.len();
    }
    shown.push_str(&text[copied..]);
    shown
}

/// Refuses a plan whose inputs no longer match the target, package by package.
pub fn check_stale(plan: &Plan, state: &InstalledState) -> Result<(), ApplyError> {
    let mut reasons = Vec::new();
    for (name, expected) in &plan.inputs.installed {
        let found = state.packages.get(name);
        match (expected, found) {
            (None, None) => {}
            (Some(e), Some(f)) if e.version == f.version && e.checksum == f.checksum => {}
            (None, Some(f)) => reasons.push(format!(
                "`{name}` was not installed when planned, now {} is",
                f.version
            )),
            (Some(e), None) => reasons.push(format!(
                "`{name}` {} was installed when planned, now it is not",
                e.version
            )),
            (Some(e), Some(f)) if e.version != f.version => reasons.push(format!(
                "`{name}` was {} when planned, now {}",
                e.version, f.version
            )),
            (Some(_), Some(f)) => reasons.push(format!(
                "`{name}` {} has other content (checksum {}) than when planned",
                f.version, f.checksum
            )),
        }
    }
    if reasons.is_empty() {
        Ok(())
    } else {
        Err(ApplyError::Stale {
            reasons: reasons.join("; "),
        })
    }
}

/// Who runs dbpm, as the runs record it.
pub fn os_user() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .ok()
        .or_else(|| {
            // Containers often run without either: the numeric user id still tells who ran.
            let status = fs_err::read_to_string("/proc/self/status").ok()?;
            let uid = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
            Some(format!("uid {}", uid.split_whitespace().next()?))
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// A run id: unique per run, readable, sortable by time.
fn run_id(plan: &Plan) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let salt = crate::package::Checksum::of_bytes(
        format!("{}{nanos}{}", plan.hash, std::process::id()).as_bytes(),
    );
    let stamp = utc_now().replace(['-', ':'], "");
    format!(
        "{}-{}",
        &stamp[..15.min(stamp.len())],
        &salt.as_str()[7..15]
    )
}

/// The current time as RFC 3339 UTC (`2026-11-22T11:37:12Z`).
pub fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_held_up_reads_as_json_with_who_holds_the_lock() {
        let event = Event::StepHeldUp {
            step: "p@1.0.0/UPGRADE@none/001.alter".to_owned(),
            lock: "relation".to_owned(),
            relation: Some("held".to_owned()),
            holders: vec![Holder {
                id: 42,
                state: "idle in transaction".to_owned(),
                application: String::new(),
                millis: Some(3_000),
            }],
        };
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            serde_json::json!({
                "event": "step_held_up",
                "step": "p@1.0.0/UPGRADE@none/001.alter",
                "lock": "relation",
                "relation": "held",
                "holders": [{"id": 42, "state": "idle in transaction", "millis": 3000}],
            })
        );
    }

    #[test]
    fn passwords_are_scrubbed_from_output() {
        let target = |url: &str| Target::new(url.parse().unwrap(), None).unwrap();
        let encoded = target("postgres://app:s3cr%40t@db/x");
        assert_eq!(
            scrub(
                "url postgres://app:s3cr%40t@db/x, raw s3cr%40t, decoded s3cr@t",
                &encoded
            ),
            "url postgres://app:***@db/x, raw ***, decoded ***"
        );
        let sqlite = target("sqlite://x.db");
        assert_eq!(scrub("sqlite://x.db", &sqlite), "sqlite://x.db");
    }

    /// QA: the password `pw` made `cwd=/srv/app_pw2` and `pwd=` read `app_***2` and `***d=`.
    /// A password of up to three characters is hidden where it stands alone, a longer one
    /// everywhere.
    #[test]
    fn a_short_password_is_hidden_where_it_stands_alone() {
        let target = |url: &str| Target::new(url.parse().unwrap(), None).unwrap();
        let short = target("mysql://app:pw@db/x");
        assert_eq!(
            scrub("pwd=/srv/app_pw2 password pw, 'pw' (pw)\npw", &short),
            "pwd=/srv/app_pw2 password ***, '***' (***)\n***"
        );
        assert_eq!(
            scrub("mysql -uapp -ppw db; pwpw", &short),
            "mysql -uapp -p*** db; pwpw"
        );
        let odd = target("mysql://app:%21pw@db/x");
        assert_eq!(scrub("key=!pw; x!pw", &odd), "key=***; x***");
        let long = target("postgres://app:test@db/x");
        assert_eq!(scrub("tests of test", &long), "***s of ***");
    }

    #[test]
    fn a_long_output_keeps_the_end_of_standard_error() {
        let out = "o".repeat(MAX_OUTPUT * 2);
        let err = format!("{}error: the reason", "e".repeat(MAX_OUTPUT));
        let text = joined(&out, false, &err, false);
        assert!(text.len() <= MAX_OUTPUT + 40, "{}", text.len());
        assert!(text.starts_with("ooo"));
        assert!(text.contains("o\n[output cut]\n[output cut]\neee"));
        assert!(text.ends_with("error: the reason"));
        // Short streams stay whole, one after the other.
        assert_eq!(joined("out\n", false, "err\n", false), "out\nerr\n");
        // A short standard error is whole after a long standard output.
        let text = joined(&out, false, "failed\n", false);
        assert!(
            text.ends_with("o\n[output cut]\nfailed\n"),
            "{}",
            &text[text.len() - 40..]
        );
        assert_eq!(text.len(), MAX_OUTPUT + "\n[output cut]\n".len());
    }

    #[test]
    fn utc_now_looks_like_rfc3339() {
        let now = utc_now();
        assert_eq!(now.len(), 20);
        assert!(now.ends_with('Z') && now.as_bytes()[10] == b'T');
    }
}
