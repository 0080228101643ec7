//! What is left to run, given a plan and the journal of its run so far, and what a resumed
//! run makes of its journal: pure functions, so that resuming after a crash, rolling back
//! after a failure and refusing in-doubt steps are decided without a database and tested as
//! data.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::db::target::RunOutcome;
use crate::package::lint::own_transaction;
use crate::plan::{Plan, Step, StepPhase};

/// Whether a transactional step's script ends dbpm's transaction by itself, with a `COMMIT`
/// of its own or (MySQL/MariaDB) DDL: what it did before stays when it fails after, as for a
/// step outside a transaction. One that holds a `ROLLBACK` of its own is refused before it
/// runs, and does nothing.
pub(crate) fn commits_by_itself(plan: &Plan, step: &Step) -> bool {
    let own = own_transaction(plan.text_of(step), plan.platform);
    step.transactional && own.commits && !own.rolls_back
}

/// Where a step stands in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// A step journaled apart from its script was started and not seen finishing: after a
    /// crash it is in doubt. That is every non-transactional step, a transactional one whose
    /// script commits by itself (it runs as written), and a transactional `.sys` step too,
    /// whose script commits on the admin connection and not with its journal entry.
    Started,
    /// Finished.
    Done,
    /// Failed (a transactional step's failure was undone by the database).
    Failed,
    /// Skipped by the operator (`--skip-in-doubt`).
    Skipped,
    /// Could not start (its admin connection could not be opened): nothing of it ran. It
    /// fails the run as a failed step does, but leaves nothing to compensate and nothing in
    /// doubt.
    CouldNotStart,
}

impl StepState {
    /// The journal's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StepState::Started => "started",
            StepState::Done => "done",
            StepState::Failed => "failed",
            StepState::Skipped => "skipped",
            StepState::CouldNotStart => "could_not_start",
        }
    }

    /// Whether the step failed, having run or not.
    pub fn failed(self) -> bool {
        matches!(self, StepState::Failed | StepState::CouldNotStart)
    }

    /// Reads the journal's spelling.
    pub fn parse(text: &str) -> Option<StepState> {
        match text {
            "started" => Some(StepState::Started),
            "done" => Some(StepState::Done),
            "failed" => Some(StepState::Failed),
            "skipped" => Some(StepState::Skipped),
            "could_not_start" => Some(StepState::CouldNotStart),
            _ => None,
        }
    }
}

/// The journal of one run: the state of every step it touched, by step id.
pub type Journal = BTreeMap<String, StepState>;

/// What an operator chose for steps in doubt.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InDoubt {
    /// Stop and ask (the default): only idempotent steps are run again.
    #[default]
    Stop,
    /// Run them again.
    Retry,
    /// Consider them done.
    Skip,
}

/// What the operator said about a run that stopped for them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Choices {
    /// For steps in doubt.
    pub in_doubt: InDoubt,
    /// The failed compensations' work was undone by hand: take them as done.
    pub skip_failed_compensations: bool,
    /// Undo what the run did rather than finish it (`--roll-back`): it compensates from the
    /// start.
    pub roll_back: bool,
}

/// A journal entry a resume writes itself before anything runs, as a new attempt of its
/// step, so that the run's history says who decided what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    /// The step.
    pub step: String,
    /// Its new attempt.
    pub attempt: i64,
    /// What it is now.
    pub state: StepState,
    /// Why.
    pub why: &'static str,
}

/// Where a resumed run starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resume {
    /// The journal as [`next`] reads it: a step to run again is not in it.
    pub journal: Journal,
    /// The latest attempt of every step journaled, the marks' included.
    pub attempts: BTreeMap<String, i64>,
    /// The entries to journal before anything runs.
    pub marks: Vec<Mark>,
}

/// What a run that ended as `outcome` resumes from, given the latest attempt of each of its
/// steps (`(step, state, attempt)`) and the operator's choices:
/// - a run stopped after a failure (`--on-failure stop`) runs its failed steps again, and one
///   whose compensation failed runs that compensation again once the cause is fixed, or
///   skips it when the operator undid its work by hand (`--skip-failed-compensations`);
/// - a failed step that ran outside a transaction, or whose script commits by itself, may
///   have done part of its work before it failed: like an interrupted one it is in doubt,
///   and runs again only when it is idempotent or the operator says so, never silently on
///   top of its own half;
/// - a step in doubt that the operator declares done (`--skip-in-doubt`) is journaled as
///   skipped: a forward step before the run compensates, a compensation once it does.
pub fn resume(
    plan: &Plan,
    outcome: RunOutcome,
    rows: impl IntoIterator<Item = (String, StepState, i64)>,
    choices: Choices,
) -> Resume {
    let compensations: BTreeSet<&str> = plan.compensations.iter().map(|c| &*c.id).collect();
    let outside_transaction: BTreeSet<&str> = plan
        .steps
        .iter()
        .filter(|s| (!s.transactional || commits_by_itself(plan, s)) && !s.idempotent)
        .map(|s| &*s.id)
        .collect();
    let rows: Vec<(String, StepState, i64)> = rows.into_iter().collect();
    let compensating = choices.roll_back
        || rows
            .iter()
            .any(|(step, _, _)| compensations.contains(step.as_str()));
    let skip_in_doubt = choices.in_doubt == InDoubt::Skip;
    let mut resume = Resume::default();
    for (step, state, attempt) in rows {
        let compensation = compensations.contains(step.as_str());
        let failed_compensation =
            state.failed() && outcome == RunOutcome::CompensationFailed && compensation;
        let retry = state.failed() && outcome == RunOutcome::StoppedAfterFailure
            || failed_compensation && !choices.skip_failed_compensations;
        // A step that could not start did nothing, in part or whole.
        let partly_done =
            retry && state == StepState::Failed && outside_transaction.contains(step.as_str());
        let in_doubt = partly_done || (state == StepState::Started && !retry);
        // Forward steps are decided before the run compensates, compensations once it does.
        let declared_done = skip_in_doubt && in_doubt && compensating == compensation;
        let mark = if declared_done {
            Some((
                StepState::Skipped,
                "in doubt, declared done by the operator (--skip-in-doubt)",
            ))
        } else if partly_done {
            // The run stays in doubt until the operator decides.
            Some((
                StepState::Started,
                "failed outside a transaction: may have run in part",
            ))
        } else if failed_compensation && choices.skip_failed_compensations {
            Some((
                StepState::Skipped,
                "skipped by the operator (--skip-failed-compensations)",
            ))
        } else {
            None
        };
        match mark {
            Some((marked, why)) => {
                resume.journal.insert(step.clone(), marked);
                resume.attempts.insert(step.clone(), attempt + 1);
                resume.marks.push(Mark {
                    step,
                    attempt: attempt + 1,
                    state: marked,
                    why,
                });
            }
            None => {
                if !retry {
                    resume.journal.insert(step.clone(), state);
                }
                resume.attempts.insert(step, attempt);
            }
        }
    }
    resume
}

/// The next thing the executor does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Run these steps (forward or compensating); they are ready and may run side by side.
    Run(Vec<String>),
    /// Non-idempotent steps were interrupted and nobody knows whether they ran.
    InDoubt(Vec<String>),
    /// Every forward step is done (a failed POSTINSTALL is reported, not rolled back).
    Completed,
    /// Every needed compensation is done: the target is back where it was.
    RolledBack,
    /// A compensation failed: an operator must look.
    CompensationFailed(Vec<String>),
    /// Steps are running and nothing else is ready until they finish.
    Wait,
}

/// Decides what to do next. `running` are steps under way right now (never started twice).
/// `roll_back`: the operator asked to undo what the run did (`--roll-back`), as after a
/// failure.
pub fn next(
    plan: &Plan,
    journal: &Journal,
    running: &BTreeSet<String>,
    in_doubt: InDoubt,
    roll_back: bool,
) -> Next {
    let state = |id: &str| journal.get(id).copied();
    let by_id: BTreeMap<&str, &Step> = plan
        .steps
        .iter()
        .chain(&plan.compensations)
        .map(|s| (&*s.id, s))
        .collect();

    // Compensations that failed need an operator, whatever else happened.
    let failed_compensations: Vec<String> = plan
        .compensations
        .iter()
        .filter(|c| state(&c.id).is_some_and(StepState::failed))
        .map(|c| c.id.to_string())
        .collect();
    if !failed_compensations.is_empty() {
        return if running.is_empty() {
            Next::CompensationFailed(failed_compensations)
        } else {
            Next::Wait
        };
    }

    let failed_forward = plan
        .steps
        .iter()
        .any(|s| state(&s.id).is_some_and(StepState::failed) && s.phase != StepPhase::Postinstall);
    let compensating = failed_forward
        || roll_back
        || plan
            .compensations
            .iter()
            .any(|c| journal.contains_key(&*c.id));

    if !compensating {
        // Steps interrupted mid-way: in doubt unless idempotent or the operator chose.
        let doubtful: Vec<&Step> = plan
            .steps
            .iter()
            .filter(|s| state(&s.id) == Some(StepState::Started) && !running.contains(&*s.id))
            .collect();
        let blocking: Vec<String> = doubtful
            .iter()
            .filter(|s| !s.idempotent && in_doubt == InDoubt::Stop)
            .map(|s| s.id.to_string())
            .collect();
        if !blocking.is_empty() {
            return Next::InDoubt(blocking);
        }
        let finished = |id: &str| {
            matches!(state(id), Some(StepState::Done | StepState::Skipped))
                || (in_doubt == InDoubt::Skip
                    && state(id) == Some(StepState::Started)
                    && !running.contains(id))
                || by_id.get(id).is_some_and(|s| {
                    s.phase == StepPhase::Postinstall && state(id).is_some_and(StepState::failed)
                })
        };
        let ready: Vec<String> = plan
            .steps
            .iter()
            .filter(|s| !finished(&s.id) && !running.contains(&*s.id))
            .filter(|s| !state(&s.id).is_some_and(StepState::failed))
            .filter(|s| s.depends_on.iter().all(|d| finished(d)))
            .map(|s| s.id.to_string())
            .collect();
        if !ready.is_empty() {
            return Next::Run(ready);
        }
        if plan.steps.iter().all(|s| finished(&s.id)) {
            return Next::Completed;
        }
        return Next::Wait;
    }

    // Rolling back: wait for forward steps under way, then undo every completed step (and a
    // failed one whose work may have stayed: not transactional, or committing by itself)
    // with its twin, in the compensations' order.
    if plan.steps.iter().any(|s| running.contains(&*s.id)) {
        return Next::Wait;
    }
    let needed: BTreeSet<&str> = plan
        .steps
        .iter()
        .filter(|s| match state(&s.id) {
            Some(StepState::Done | StepState::Started | StepState::Skipped) => true,
            Some(StepState::Failed) => !s.transactional || commits_by_itself(plan, s),
            Some(StepState::CouldNotStart) | None => false,
        })
        .filter_map(|s| s.compensated_by.as_deref())
        .collect();
    let doubtful: Vec<String> = plan
        .compensations
        .iter()
        .filter(|c| {
            needed.contains(&*c.id)
                && state(&c.id) == Some(StepState::Started)
                && !running.contains(&*c.id)
        })
        .filter(|c| !c.idempotent && in_doubt == InDoubt::Stop)
        .map(|c| c.id.to_string())
        .collect();
    if !doubtful.is_empty() {
        return Next::InDoubt(doubtful);
    }
    let undone = |id: &str| {
        !needed.contains(id) || matches!(state(id), Some(StepState::Done | StepState::Skipped))
    };
    let ready: Vec<String> = plan
        .compensations
        .iter()
        .filter(|c| needed.contains(&*c.id) && !undone(&c.id) && !running.contains(&*c.id))
        .filter(|c| c.depends_on.iter().all(|d| undone(d)))
        .map(|c| c.id.to_string())
        .collect();
    if !ready.is_empty() {
        return Next::Run(ready);
    }
    if needed.iter().all(|id| undone(id)) && running.is_empty() {
        return Next::RolledBack;
    }
    Next::Wait
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::package::{Checksum, Kind};
    use crate::plan::{model, Role};
    use semver::Version;

    fn step(
        id: &str,
        phase: StepPhase,
        role: Role,
        deps: &[&str],
        twin: Option<&str>,
        transactional: bool,
        idempotent: bool,
    ) -> Step {
        Step {
            id: id.into(),
            package: "p".into(),
            version: Version::new(1, 0, 0),
            edge: None,
            phase,
            script: id.into(),
            path: id.into(),
            checksum: Checksum::of_text(id),
            kind: Kind::Sql,
            role,
            transactional,
            idempotent,
            irreversible: false,
            destructive: false,
            depends_on: deps.iter().map(|d| (*d).into()).collect(),
            compensated_by: twin
                .filter(|_| role == Role::Forward)
                .map(std::sync::Arc::from),
            compensates: twin
                .filter(|_| role == Role::Compensate)
                .map(std::sync::Arc::from),
        }
    }

    /// a (UPGRADE) → b (UPGRADE, not transactional) → c (INSTALL) → d (VERIFY) → e (POSTINSTALL)
    fn plan() -> Plan {
        Plan {
            format_version: model::FORMAT_VERSION,
            hash: String::new(),
            platform: crate::platform::Platform::Sqlite,
            target: "t".to_owned(),
            inputs: model::Inputs {
                release: Checksum::of_text(""),
                archives: BTreeMap::new(),
                installed: BTreeMap::new(),
            },
            placeholders: BTreeMap::new(),
            actions: BTreeMap::new(),
            packages: BTreeMap::new(),
            walked: BTreeMap::new(),
            scripts: BTreeMap::new(),
            steps: vec![
                step(
                    "a",
                    StepPhase::Upgrade,
                    Role::Forward,
                    &[],
                    Some("a~"),
                    true,
                    false,
                ),
                step(
                    "b",
                    StepPhase::Upgrade,
                    Role::Forward,
                    &["a"],
                    Some("b~"),
                    false,
                    false,
                ),
                step(
                    "c",
                    StepPhase::Install,
                    Role::Forward,
                    &["b"],
                    Some("c~"),
                    true,
                    false,
                ),
                step(
                    "d",
                    StepPhase::Verify,
                    Role::Forward,
                    &["c"],
                    None,
                    true,
                    false,
                ),
                step(
                    "e",
                    StepPhase::Postinstall,
                    Role::Forward,
                    &["d"],
                    None,
                    false,
                    true,
                ),
            ],
            compensations: vec![
                step(
                    "c~",
                    StepPhase::Rollback,
                    Role::Compensate,
                    &[],
                    Some("c"),
                    true,
                    false,
                ),
                step(
                    "b~",
                    StepPhase::Downgrade,
                    Role::Compensate,
                    &["c~"],
                    Some("b"),
                    true,
                    false,
                ),
                step(
                    "a~",
                    StepPhase::Downgrade,
                    Role::Compensate,
                    &["b~"],
                    Some("a"),
                    true,
                    false,
                ),
            ],
        }
    }

    fn journal(entries: &[(&str, StepState)]) -> Journal {
        entries
            .iter()
            .map(|(id, s)| ((*id).to_owned(), *s))
            .collect()
    }

    fn none() -> BTreeSet<String> {
        BTreeSet::new()
    }

    #[test]
    fn runs_forward_in_order_and_completes() {
        let plan = plan();
        assert_eq!(
            next(&plan, &journal(&[]), &none(), InDoubt::Stop, false),
            Next::Run(vec!["a".into()])
        );
        let j = journal(&[("a", StepState::Done)]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["b".into()])
        );
        let running = BTreeSet::from(["b".to_owned()]);
        let j = journal(&[("a", StepState::Done), ("b", StepState::Started)]);
        assert_eq!(next(&plan, &j, &running, InDoubt::Stop, false), Next::Wait);
        let all: Vec<(&str, StepState)> = ["a", "b", "c", "d", "e"]
            .iter()
            .map(|id| (*id, StepState::Done))
            .collect();
        assert_eq!(
            next(&plan, &journal(&all), &none(), InDoubt::Stop, false),
            Next::Completed
        );
    }

    #[test]
    fn an_interrupted_non_idempotent_step_is_in_doubt() {
        let plan = plan();
        let j = journal(&[("a", StepState::Done), ("b", StepState::Started)]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::InDoubt(vec!["b".into()])
        );
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Retry, false),
            Next::Run(vec!["b".into()])
        );
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Skip, false),
            Next::Run(vec!["c".into()])
        );
    }

    /// A transactional `.sys` step commits on the admin connection, apart from its journal:
    /// it is journaled `started` first, and interrupted there it is in doubt like any step
    /// journaled apart, never taken as done or as never run; rolling back, it is undone.
    #[test]
    fn an_interrupted_transactional_sys_step_is_in_doubt() {
        let mut plan = plan();
        plan.steps[0].kind = Kind::Sys;
        assert!(plan.steps[0].transactional);
        let j = journal(&[("a", StepState::Started)]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::InDoubt(vec!["a".into()])
        );
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Retry, false),
            Next::Run(vec!["a".into()])
        );
        plan.steps[0].idempotent = true;
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["a".into()])
        );
        let j = journal(&[("a", StepState::Started), ("b", StepState::Failed)]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["b~".into()])
        );
        let j = journal(&[
            ("a", StepState::Started),
            ("b", StepState::Failed),
            ("b~", StepState::Done),
        ]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["a~".into()])
        );
    }

    /// A failed transactional `.sys` step was rolled back on the admin connection: like a
    /// failed transactional `.sql` step, it is not compensated.
    #[test]
    fn a_failed_transactional_sys_step_is_not_compensated() {
        let mut plan = plan();
        plan.steps[0].kind = Kind::Sys;
        let j = journal(&[("a", StepState::Failed)]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::RolledBack
        );
        plan.steps[0].transactional = false;
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["a~".into()])
        );
    }

    #[test]
    fn a_failure_undoes_completed_steps_in_reverse() {
        let plan = plan();
        // c failed inside its transaction: only b and a are undone.
        let j = journal(&[
            ("a", StepState::Done),
            ("b", StepState::Done),
            ("c", StepState::Failed),
        ]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["b~".into()])
        );
        let j = journal(&[
            ("a", StepState::Done),
            ("b", StepState::Done),
            ("c", StepState::Failed),
            ("b~", StepState::Done),
        ]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["a~".into()])
        );
        let j = journal(&[
            ("a", StepState::Done),
            ("b", StepState::Done),
            ("c", StepState::Failed),
            ("b~", StepState::Done),
            ("a~", StepState::Done),
        ]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::RolledBack
        );
    }

    #[test]
    fn a_roll_back_on_request_undoes_what_the_run_did() {
        let plan = plan();
        let j = journal(&[("a", StepState::Done), ("b", StepState::Started)]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, true),
            Next::Run(vec!["b~".into()])
        );
        let j = journal(&[
            ("a", StepState::Done),
            ("b", StepState::Started),
            ("b~", StepState::Done),
            ("a~", StepState::Done),
        ]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, true),
            Next::RolledBack
        );
    }

    #[test]
    fn a_failed_non_transactional_step_is_compensated_too() {
        let plan = plan();
        let j = journal(&[("a", StepState::Done), ("b", StepState::Failed)]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["b~".into()])
        );
    }

    /// A transactional step whose script commits by itself keeps what it did before its
    /// `COMMIT` when it fails after it: it is compensated, as a step outside a transaction.
    /// Without the `COMMIT`, its failure was rolled back whole, and it is not.
    #[test]
    fn a_failed_step_that_commits_by_itself_is_compensated() {
        let mut plan = plan();
        let j = journal(&[("a", StepState::Failed)]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::RolledBack
        );
        let text = "UPDATE t SET x = 1;\nCOMMIT;\nUPDATE t SET y = 1;\n";
        plan.scripts
            .insert(plan.steps[0].checksum.clone(), text.into());
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["a~".into()])
        );
        // Kept by `--on-failure stop`, it is in doubt, as a failed step outside a
        // transaction is: not run again on top of what it committed.
        let stopped = resume(
            &plan,
            RunOutcome::StoppedAfterFailure,
            rows(&[("a", StepState::Failed)]),
            Choices::default(),
        );
        assert_eq!(marks(&stopped), [("a", 2, StepState::Started)]);
        assert_eq!(
            next(&plan, &stopped.journal, &none(), InDoubt::Stop, false),
            Next::InDoubt(vec!["a".into()])
        );
    }

    /// A step that could not start (its admin connection failed to open) fails the run like
    /// a failed step, but did nothing: not even a non-transactional one is compensated, and a
    /// run stopped after it runs it again without doubt.
    #[test]
    fn a_step_that_could_not_start_fails_the_run_with_nothing_to_undo_or_doubt() {
        let plan = plan();
        let j = journal(&[("a", StepState::Done), ("b", StepState::CouldNotStart)]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["a~".into()])
        );
        let stopped = resume(
            &plan,
            RunOutcome::StoppedAfterFailure,
            rows(&[("a", StepState::Done), ("b", StepState::CouldNotStart)]),
            Choices::default(),
        );
        assert!(stopped.marks.is_empty());
        assert_eq!(
            next(&plan, &stopped.journal, &none(), InDoubt::Stop, false),
            Next::Run(vec!["b".into()])
        );
        let compensation = journal(&[
            ("a", StepState::Done),
            ("c", StepState::Failed),
            ("a~", StepState::CouldNotStart),
        ]);
        assert_eq!(
            next(&plan, &compensation, &none(), InDoubt::Stop, false),
            Next::CompensationFailed(vec!["a~".into()])
        );
        assert_eq!(
            StepState::parse(StepState::CouldNotStart.as_str()),
            Some(StepState::CouldNotStart)
        );
    }

    #[test]
    fn a_failed_verify_rolls_back_and_a_failed_postinstall_does_not() {
        let plan = plan();
        let j = journal(&[
            ("a", StepState::Done),
            ("b", StepState::Done),
            ("c", StepState::Done),
            ("d", StepState::Failed),
        ]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Run(vec!["c~".into()])
        );
        let j = journal(&[
            ("a", StepState::Done),
            ("b", StepState::Done),
            ("c", StepState::Done),
            ("d", StepState::Done),
            ("e", StepState::Failed),
        ]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::Completed
        );
    }

    #[test]
    fn a_failed_compensation_needs_an_operator() {
        let plan = plan();
        let j = journal(&[
            ("a", StepState::Done),
            ("b", StepState::Failed),
            ("b~", StepState::Failed),
        ]);
        assert_eq!(
            next(&plan, &j, &none(), InDoubt::Stop, false),
            Next::CompensationFailed(vec!["b~".into()])
        );
    }

    #[test]
    fn a_failure_waits_for_running_steps_before_undoing() {
        let plan = plan();
        let j = journal(&[("a", StepState::Done), ("b", StepState::Failed)]);
        let running = BTreeSet::from(["c".to_owned()]);
        assert_eq!(next(&plan, &j, &running, InDoubt::Stop, false), Next::Wait);
    }

    fn rows(entries: &[(&str, StepState)]) -> Vec<(String, StepState, i64)> {
        entries
            .iter()
            .map(|(id, state)| ((*id).to_owned(), *state, 1))
            .collect()
    }

    fn choices(in_doubt: InDoubt, skip_failed_compensations: bool) -> Choices {
        Choices {
            in_doubt,
            skip_failed_compensations,
            roll_back: false,
        }
    }

    fn marks(resume: &Resume) -> Vec<(&str, i64, StepState)> {
        resume
            .marks
            .iter()
            .map(|m| (m.step.as_str(), m.attempt, m.state))
            .collect()
    }

    #[test]
    fn a_resume_after_a_crash_keeps_the_journal_unless_the_operator_decides() {
        let plan = plan();
        let crashed = rows(&[("a", StepState::Done), ("b", StepState::Started)]);
        let kept = resume(
            &plan,
            RunOutcome::Running,
            crashed.clone(),
            Choices::default(),
        );
        assert_eq!(
            kept.journal,
            journal(&[("a", StepState::Done), ("b", StepState::Started)])
        );
        assert!(kept.marks.is_empty());
        assert_eq!(kept.attempts["b"], 1);

        let skipped = resume(
            &plan,
            RunOutcome::InDoubt,
            crashed,
            choices(InDoubt::Skip, false),
        );
        assert_eq!(marks(&skipped), [("b", 2, StepState::Skipped)]);
        assert_eq!(skipped.journal["b"], StepState::Skipped);
        assert_eq!(skipped.attempts["b"], 2);
    }

    #[test]
    fn a_run_stopped_after_a_failure_retries_it_unless_it_may_have_run_in_part() {
        let plan = plan();
        // a is transactional: the database undid it, it runs again.
        let failed = rows(&[("a", StepState::Failed)]);
        let retried = resume(
            &plan,
            RunOutcome::StoppedAfterFailure,
            failed,
            Choices::default(),
        );
        assert_eq!(retried.journal, Journal::new());
        assert!(retried.marks.is_empty());
        assert_eq!(retried.attempts["a"], 1);

        // b is not: it is in doubt, until the operator declares it done.
        let failed = rows(&[("a", StepState::Done), ("b", StepState::Failed)]);
        let doubted = resume(
            &plan,
            RunOutcome::StoppedAfterFailure,
            failed.clone(),
            Choices::default(),
        );
        assert_eq!(marks(&doubted), [("b", 2, StepState::Started)]);
        assert_eq!(
            next(&plan, &doubted.journal, &none(), InDoubt::Stop, false),
            Next::InDoubt(vec!["b".into()])
        );
        let declared = resume(
            &plan,
            RunOutcome::StoppedAfterFailure,
            failed,
            choices(InDoubt::Skip, false),
        );
        assert_eq!(marks(&declared), [("b", 2, StepState::Skipped)]);
    }

    #[test]
    fn a_failed_compensation_runs_again_or_is_skipped_by_the_operator() {
        let plan = plan();
        let failed = rows(&[
            ("a", StepState::Done),
            ("b", StepState::Done),
            ("c", StepState::Failed),
            ("b~", StepState::Failed),
        ]);
        let retried = resume(
            &plan,
            RunOutcome::CompensationFailed,
            failed.clone(),
            Choices::default(),
        );
        assert!(retried.marks.is_empty());
        assert_eq!(
            next(&plan, &retried.journal, &none(), InDoubt::Stop, false),
            Next::Run(vec!["b~".into()])
        );
        let skipped = resume(
            &plan,
            RunOutcome::CompensationFailed,
            failed,
            choices(InDoubt::Stop, true),
        );
        assert_eq!(marks(&skipped), [("b~", 2, StepState::Skipped)]);
        assert_eq!(
            next(&plan, &skipped.journal, &none(), InDoubt::Stop, false),
            Next::Run(vec!["a~".into()])
        );
    }

    #[test]
    fn skipping_in_doubt_during_a_rollback_passes_the_compensations_in_doubt() {
        let plan = plan();
        let crashed = rows(&[
            ("a", StepState::Done),
            ("b", StepState::Started),
            ("c", StepState::Failed),
            ("b~", StepState::Started),
        ]);
        let skipped = resume(
            &plan,
            RunOutcome::Running,
            crashed,
            choices(InDoubt::Skip, false),
        );
        // The forward step in doubt is left to its compensation; the compensation in doubt
        // is declared done, and the rollback goes on with the next one.
        assert_eq!(marks(&skipped), [("b~", 2, StepState::Skipped)]);
        assert_eq!(skipped.journal["b"], StepState::Started);

        // A roll-back on request compensates from the start: a forward step in doubt is left
        // to its compensation, not declared done.
        let crashed = rows(&[("a", StepState::Done), ("b", StepState::Started)]);
        let rolled = resume(
            &plan,
            RunOutcome::Running,
            crashed,
            Choices {
                roll_back: true,
                ..choices(InDoubt::Skip, false)
            },
        );
        assert!(rolled.marks.is_empty());
        assert_eq!(
            next(&plan, &skipped.journal, &none(), InDoubt::Skip, false),
            Next::Run(vec!["a~".into()])
        );
    }
}
