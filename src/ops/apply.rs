//! `dbpm apply`: load and verify the plan, then run it on the target through the executor.

use std::path::Path;

use crate::db::target::Target;
use crate::execute::runner::{self, ApplyError, Event, Outcome, Settings};
use crate::ops::plan::{load_plan, PlanOpError};

/// Why `dbpm apply` failed before or while running.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ApplyOpError {
    /// The plan file is unusable.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Plan(#[from] PlanOpError),
    /// The executor refused or broke off.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Apply(#[from] ApplyError),
}

/// Applies the plan file at `path` to `target`.
pub async fn apply(
    path: &Path,
    target: &Target,
    settings: &Settings,
    events: &(dyn Fn(Event) + Send + Sync),
) -> Result<Outcome, ApplyOpError> {
    let plan = load_plan(path)?;
    Ok(runner::apply(&plan, target, settings, events).await?)
}
