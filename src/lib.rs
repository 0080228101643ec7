//! dbpm: a database package manager with a plan-then-apply engine.
//!
//! The modules follow the data as it flows through the tool:
//!
//! - [`manifest`]: `dbpm.toml` and the legacy `manifest.dpm` → a validated [`manifest::Manifest`].
//! - [`package`]: package sources (phase folders of `NNN.name.ext` scripts), their validation,
//!   and the deterministic `.dbpkg` archives built from them.
//! - [`repository`]: where built packages are kept (a directory, PostgreSQL tables, a tree of
//!   sources) and the [`repository::Index`] every decision reads.
//! - [`resolve`]: release files, semver resolution with explained conflicts, upgrade paths.
//! - [`state`]: what is installed on a target, as the target (or a state file) tells it.
//! - [`plan`]: the plan as data, the planner (pure) and its renderings.
//! - [`execute`]: the executor: what is left to run (pure), and the runner that applies a plan
//!   with checkpoints, compensation and resume.
//! - [`db`]: everything that talks to a database: URLs without credentials, the PostgreSQL
//!   repository, and targets with dbpm's own state tables, lock and journal.
//! - [`diagnostic`]: problems located in a user's file, reported all at once.
//! - [`durable`]: files replaced whole, by a synced temporary file and a rename.
//! - [`ops`]: one function per user operation, chaining the stages above; nothing there parses
//!   flags or prints.
//! - [`cli`]: the thin shell: clap types, rendering, diagnostics and exit codes.
//!
//! Decisions are synchronous functions over data; only `db` and `execute` touch sqlx and
//! tokio, and only `cli` prints.

pub mod cli;
pub mod db;
pub mod diagnostic;
pub mod durable;
pub mod execute;
pub mod manifest;
pub mod ops;
pub mod package;
pub mod plan;
pub mod platform;
pub mod repository;
pub mod resolve;
pub mod state;
