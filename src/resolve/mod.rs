//! Releases, semver resolution over a repository index, and upgrade paths between versions.
//! Everything here is a pure function over data.
//!
//! - [`release`]: the target release file (`release.toml`) → a validated [`Release`].
//! - [`resolver`]: which version of every wanted package (and of their prerequisites) to
//!   install, with backtracking and explanations of conflicts and cycles.
//! - [`paths`]: the cheapest chain of upgrade (or downgrade) edges between two versions of
//!   one package.

pub mod paths;
pub mod release;
pub mod resolver;
#[cfg(test)]
pub(crate) mod testing;
mod wording;

pub use paths::{path, Blocking, Direction, PathError, PathStep, UpgradePath};
pub use release::{parse_release, release_schema, RawRelease, Release};
pub use resolver::{
    resolve, Asked, Asker, Because, DeadEnd, Refused, Request, Resolution, ResolveError, Resolved,
};
