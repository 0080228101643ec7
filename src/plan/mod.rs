//! Plans: the [`model`] (what a plan file holds and how it is verified), the [`planner`]
//! (pure: decisions and steps), and [`render`]ings for terminals, pull requests and pictures.

mod aside;
mod decode;
mod digest;
pub mod model;
pub mod planner;
pub mod render;

pub use model::{Action, ActionKind, Plan, PlanError, Role, Step, StepPhase};
pub use planner::{build, decide, Decisions, Options, PlanningError};
