//! `dbpm apply`: run a verified plan on a target through the executor; or resume the
//! target's unfinished run with the plan the target kept of it.

use crate::db::target::{Target, TargetError};
use crate::execute::runner::{self, is_unfinished, ApplyError, Event, Outcome, Settings};
use crate::plan::{Plan, PlanError};

/// Applies a loaded (hence verified) plan to `target`.
pub async fn apply_plan(
    plan: &Plan,
    target: &Target,
    settings: &Settings,
    events: &(dyn Fn(Event) + Send + Sync),
) -> Result<Outcome, ApplyError> {
    runner::apply(plan, target, settings, events).await
}

/// Why there is no plan to resume.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ResumeError {
    /// No run is unfinished.
    #[error("no run is unfinished on `{target}`: nothing to resume")]
    #[diagnostic(
        code(dbpm::apply::nothing_to_resume),
        help("`dbpm history` lists the runs and how they ended")
    )]
    NothingToResume {
        /// The target's label.
        target: String,
    },
    /// The run's plan was applied from a file, which the target does not keep.
    #[error("the target did not keep the plan of run `{run}` ({hash})")]
    #[diagnostic(
        code(dbpm::apply::plan_not_kept),
        help("it was applied from a plan file (or by an earlier dbpm): apply that file again to resume it")
    )]
    PlanNotKept {
        /// The run.
        run: String,
        /// Its plan's hash.
        hash: String,
    },
    /// The target failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Target(#[from] TargetError),
    /// The kept plan does not verify.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanError),
}

/// The plan of the unfinished run on `target`, as the target kept it when the run started
/// (the verbs' runs: their plans are in no file), verified like a plan file.
pub async fn unfinished_plan(target: &Target) -> Result<Plan, ResumeError> {
    let runs = target.runs().await?;
    let run =
        runs.iter()
            .find(|run| is_unfinished(run))
            .ok_or_else(|| ResumeError::NothingToResume {
                target: target.label(),
            })?;
    let text =
        target
            .stored_plan(&run.plan_hash)
            .await?
            .ok_or_else(|| ResumeError::PlanNotKept {
                run: run.id.clone(),
                hash: run.plan_hash.clone(),
            })?;
    Ok(Plan::from_json(
        &format!("the plan of run `{}`", run.id),
        &text,
    )?)
}
