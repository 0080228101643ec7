//! Releases, semver resolution over a repository index, and upgrade paths between versions.
//! Everything here is a pure function over data.
