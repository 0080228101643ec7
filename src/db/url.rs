//! Database URLs: which platform they point at, and how to show them without credentials.

use std::fmt;
use std::str::FromStr;

use crate::platform::Platform;

/// A database URL whose password never reaches a message, a plan or a log.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    raw: String,
    platform: Platform,
}

/// Why a text is not a database URL dbpm can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("`{shown}` is not a database URL dbpm knows")]
#[diagnostic(
    code(dbpm::db::bad_url),
    help("use postgres://user@host:5432/db, mysql://user@host:3306/db (MySQL and MariaDB) or sqlite://path/to/file.db")
)]
pub struct BadUrl {
    shown: String,
}

impl DbUrl {
    /// The platform the URL points at.
    pub fn platform(&self) -> Platform {
        self.platform
    }

    /// The URL with its credentials, for the driver only.
    pub fn expose(&self) -> &str {
        &self.raw
    }

    /// The URL without a password, for people.
    pub fn redacted(&self) -> String {
        redact(&self.raw)
    }
}

impl FromStr for DbUrl {
    type Err = BadUrl;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let scheme = raw.split_once("://").map(|(s, _)| s).unwrap_or_default();
        let platform = match scheme {
            "postgres" | "postgresql" => Platform::Postgres,
            "mysql" | "mariadb" => Platform::Mysql,
            "sqlite" => Platform::Sqlite,
            _ => return Err(BadUrl { shown: redact(raw) }),
        };
        let raw = if scheme == "mariadb" {
            raw.replacen("mariadb", "mysql", 1)
        } else {
            raw.to_owned()
        };
        Ok(DbUrl { raw, platform })
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DbUrl({})", self.redacted())
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// `scheme://user:secret@host/db?password=x` → `scheme://user:***@host/db?password=***`.
pub fn redact(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let (authority_end, _) = rest
        .char_indices()
        .find(|(_, c)| *c == '/' || *c == '?')
        .unwrap_or((rest.len(), ' '));
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _))
                        if key.eq_ignore_ascii_case("password")
                            || key.eq_ignore_ascii_case("sslpassword") =>
                    {
                        format!("{key}=***")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_everywhere() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/prod"),
            "postgres://app:***@db:5432/prod"
        );
        assert_eq!(
            redact("mysql://root@localhost/x?password=hunter2&ssl=1"),
            "mysql://root@localhost/x?password=***&ssl=1"
        );
        assert_eq!(redact("sqlite://dbpm.db"), "sqlite://dbpm.db");
        assert_eq!(
            redact("postgres://a:p@ss@host/db"),
            "postgres://a:***@host/db"
        );
    }

    #[test]
    fn knows_the_platform_and_hides_the_password() {
        let url: DbUrl = "mariadb://root:pw@127.0.0.1/db".parse().unwrap();
        assert_eq!(url.platform(), Platform::Mysql);
        assert!(!format!("{url} {url:?}").contains("pw@"));
        assert!("oracle://x".parse::<DbUrl>().is_err());
    }
}
