//! Releases, semver resolution over a repository index, and upgrade paths between versions.
//! Everything here is a pure function over data.
//!
//! - [`release`]: the target release file (`release.toml`) → a validated [`Release`].

pub mod release;
#[cfg(test)]
mod testing;
mod wording;

pub use release::{parse_release, release_schema, RawRelease, Release};
