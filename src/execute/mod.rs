//! The executor: applies an approved plan to a target with checkpoints, so an interrupted run
//! resumes and a failed one rolls back. [`schedule`] decides what is left to run from the
//! plan and the journal (pure); the runner drives a target through `crate::db`.

pub mod failpoint;
pub mod process;
pub mod runner;
pub mod schedule;
pub mod statements;
