//! Version ranges of prerequisites: semver requirements and the seed's `min`/`max` form,
//! both turned into one [`Requirement`].

use std::fmt;

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};

use super::raw::{RawBound, RawMinMax};

/// A version range a prerequisite must satisfy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct Requirement(#[schemars(with = "String")] VersionReq);

impl Requirement {
    /// Parses a semver requirement (`^1.2`, `>=1.0, <3`, `=2.0.0`). A bare version (`1.2.0`)
    /// means exactly that version, as a user writing a release expects.
    pub fn parse(text: &str) -> Result<Self, semver::Error> {
        let trimmed = text.trim();
        if let Ok(exact) = Version::parse(trimmed) {
            return Ok(Requirement::exact(&exact));
        }
        VersionReq::parse(trimmed).map(Requirement)
    }

    /// Exactly one version.
    pub fn exact(version: &Version) -> Self {
        Requirement(VersionReq {
            comparators: vec![semver::Comparator {
                op: semver::Op::Exact,
                major: version.major,
                minor: Some(version.minor),
                patch: Some(version.patch),
                pre: version.pre.clone(),
            }],
        })
    }

    /// That version or any higher one.
    pub fn at_least(version: &Version) -> Self {
        Requirement(VersionReq {
            comparators: vec![semver::Comparator {
                op: semver::Op::GreaterEq,
                major: version.major,
                minor: Some(version.minor),
                patch: Some(version.patch),
                pre: version.pre.clone(),
            }],
        })
    }

    /// The seed's form: `min` (missing parts 0) up to `max` (missing parts mean "any").
    pub fn from_min_max(range: &RawMinMax) -> Result<Self, String> {
        let min = bound_version(&range.min);
        let mut comparators = vec![semver::Comparator {
            op: semver::Op::GreaterEq,
            major: min.major,
            minor: Some(min.minor),
            patch: Some(min.patch),
            pre: semver::Prerelease::EMPTY,
        }];
        if let Some(max) = range.max {
            let upper = upper_bound(&max);
            if upper.allows_equal {
                if upper.version < min {
                    return Err(format!("`max` {} is below `min` {min}", upper.version));
                }
            } else if upper.version <= min {
                return Err(format!(
                    "`max` (below {}) is not above `min` {min}",
                    upper.version
                ));
            }
            comparators.push(semver::Comparator {
                op: if upper.allows_equal {
                    semver::Op::LessEq
                } else {
                    semver::Op::Less
                },
                major: upper.version.major,
                minor: Some(upper.version.minor),
                patch: Some(upper.version.patch),
                pre: semver::Prerelease::EMPTY,
            });
        }
        Ok(Requirement(VersionReq { comparators }))
    }

    /// Whether `version` satisfies the range.
    pub fn matches(&self, version: &Version) -> bool {
        self.0.matches(version)
    }

    /// The underlying semver requirement.
    pub fn as_semver(&self) -> &VersionReq {
        &self.0
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn bound_version(bound: &RawBound) -> Version {
    Version::new(
        bound.major,
        bound.minor.unwrap_or(0),
        bound.patch.unwrap_or(0),
    )
}

struct Upper {
    version: Version,
    allows_equal: bool,
}

fn upper_bound(bound: &RawBound) -> Upper {
    match (bound.minor, bound.patch) {
        (Some(minor), Some(patch)) => Upper {
            version: Version::new(bound.major, minor, patch),
            allows_equal: true,
        },
        (Some(minor), None) => Upper {
            version: Version::new(bound.major, minor.saturating_add(1), 0),
            allows_equal: false,
        },
        (None, _) => Upper {
            version: Version::new(bound.major.saturating_add(1), 0, 0),
            allows_equal: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn min_max(min: RawBound, max: Option<RawBound>) -> Requirement {
        Requirement::from_min_max(&RawMinMax { min, max }).unwrap()
    }

    fn bound(major: u64, minor: Option<u64>, patch: Option<u64>) -> RawBound {
        RawBound {
            major,
            minor,
            patch,
        }
    }

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    #[test]
    fn max_major_only_means_below_next_major() {
        let req = min_max(bound(2, Some(1), None), Some(bound(2, None, None)));
        assert!(!req.matches(&v("2.0.9")));
        assert!(req.matches(&v("2.1.0")));
        assert!(req.matches(&v("2.99.99")));
        assert!(!req.matches(&v("3.0.0")));
    }

    #[test]
    fn max_with_minor_means_below_next_minor() {
        let req = min_max(bound(1, Some(15), Some(22)), Some(bound(2, Some(99), None)));
        assert!(!req.matches(&v("1.15.21")));
        assert!(req.matches(&v("1.15.22")));
        assert!(req.matches(&v("2.99.7")));
        assert!(!req.matches(&v("2.100.0")));
    }

    #[test]
    fn max_with_patch_is_inclusive() {
        let req = min_max(bound(1, None, None), Some(bound(1, Some(2), Some(3))));
        assert!(req.matches(&v("1.2.3")));
        assert!(!req.matches(&v("1.2.4")));
    }

    #[test]
    fn min_only_has_no_ceiling() {
        let req = min_max(bound(5, Some(3), None), None);
        assert!(req.matches(&v("99.0.0")));
        assert!(!req.matches(&v("5.2.9")));
    }

    #[test]
    fn max_below_min_is_refused() {
        let err = Requirement::from_min_max(&RawMinMax {
            min: bound(3, None, None),
            max: Some(bound(2, None, None)),
        });
        assert!(err.is_err());
    }

    #[test]
    fn bare_version_is_exact() {
        let req = Requirement::parse("1.2.0").unwrap();
        assert!(req.matches(&v("1.2.0")));
        assert!(!req.matches(&v("1.2.1")));
        assert!(Requirement::parse("^1.2").unwrap().matches(&v("1.9.0")));
    }
}
