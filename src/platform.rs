//! The database platforms dbpm targets, and their names in manifests, archives and URLs.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A database platform a package can be built for and a plan can target.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    /// PostgreSQL.
    Postgres,
    /// MySQL and MariaDB.
    Mysql,
    /// SQLite, the embedded default.
    Sqlite,
}

impl Platform {
    /// Every platform, in a stable order.
    pub const ALL: [Platform; 3] = [Platform::Postgres, Platform::Mysql, Platform::Sqlite];

    /// The name used in manifests, script variants and archive names.
    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Postgres => "postgres",
            Platform::Mysql => "mysql",
            Platform::Sqlite => "sqlite",
        }
    }

    /// The platform a common misspelling or alias most likely meant.
    pub fn suggest(name: &str) -> Option<Platform> {
        match name.to_ascii_lowercase().as_str() {
            "postgresql" | "pg" | "pgsql" | "psql" => Some(Platform::Postgres),
            "mariadb" | "my" => Some(Platform::Mysql),
            "sqlite3" | "lite" => Some(Platform::Sqlite),
            other => Platform::ALL
                .into_iter()
                .find(|p| p.as_str().eq_ignore_ascii_case(other)),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a name that is not a platform.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown platform `{0}`")]
pub struct UnknownPlatform(pub String);

impl FromStr for Platform {
    type Err = UnknownPlatform;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Platform::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPlatform(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exact_names_only() {
        assert_eq!("mysql".parse::<Platform>(), Ok(Platform::Mysql));
        assert!("MariaDB".parse::<Platform>().is_err());
        assert_eq!(Platform::suggest("MariaDB"), Some(Platform::Mysql));
        assert_eq!(Platform::suggest("oracle"), None);
    }
}
