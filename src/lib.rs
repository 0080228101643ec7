//! dbpm: a database package manager with a plan-then-apply engine.
//!
//! The modules follow the data as it flows through the tool:
//!
//! - [`manifest`]: `dbpm.toml` and the legacy `manifest.dpm` → a validated [`manifest::Manifest`].
//! - [`package`]: package sources (phase folders of `NNN.name.ext` scripts), their validation,
//!   and the deterministic `.dbpkg` archives built from them.
//! - [`diagnostic`]: problems located in a user's file, reported all at once.
//! - [`ops`]: one function per user operation, chaining the stages above; nothing there parses
//!   flags or prints.
//! - [`cli`]: the thin shell: clap types, rendering, diagnostics and exit codes.
//!
//! Decisions are synchronous functions over data; only `cli` prints.

pub mod cli;
pub mod db;
pub mod diagnostic;
pub mod execute;
pub mod manifest;
pub mod ops;
pub mod package;
pub mod plan;
pub mod platform;
pub mod repository;
pub mod resolve;
pub mod state;
