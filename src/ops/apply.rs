//! `dbpm apply`: run a verified plan on a target through the executor.

use crate::db::target::Target;
use crate::execute::runner::{self, ApplyError, Event, Outcome, Settings};
use crate::plan::Plan;

/// Applies a loaded (hence verified) plan to `target`.
pub async fn apply_plan(
    plan: &Plan,
    target: &Target,
    settings: &Settings,
    events: &(dyn Fn(Event) + Send + Sync),
) -> Result<Outcome, ApplyError> {
    runner::apply(plan, target, settings, events).await
}
