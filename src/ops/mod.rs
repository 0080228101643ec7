//! One function per user operation, chaining the stages of the library. Nothing here parses
//! flags or prints; results go back to the caller as data.

pub mod affected;
pub mod apply;
pub mod build;
pub mod check;
pub mod fleet;
pub mod history;
pub mod init;
pub mod plan;
pub mod repository;
pub mod state;
pub mod status;
pub mod verbs;
