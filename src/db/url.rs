//! Database URLs: which platform they point at, and how to show them without credentials.
//!
//! Whatever shows a URL goes through [`redact`], which must stay safe on text that is not a
//! well-formed URL: a password with an unencoded `/`, `?`, `#` or `@` (which the driver reads
//! as the end of the host), a mistyped scheme, a `key=value` connection string, a password
//! pasted by mistake. Where the shape is unclear it hides more rather than less, and text of
//! no shape it knows is not shown at all.

use std::fmt;
use std::str::FromStr;

use crate::platform::Platform;

/// How a hidden secret shows.
const HIDDEN: &str = "***";

/// A database URL whose password never reaches a message, a plan or a log.
#[derive(Clone, PartialEq, Eq)]
pub struct DbUrl {
    raw: String,
    platform: Platform,
}

/// Why a text is not a database URL dbpm can use. None shows a password: a URL shows
/// redacted, and text that is no URL not at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum BadUrl {
    /// A URL of a scheme dbpm does not know.
    #[error("`{shown}` is not a database URL dbpm knows")]
    #[diagnostic(
        code(dbpm::db::bad_url),
        help("use postgres://user@host:5432/db, mysql://user@host:3306/db (MySQL and MariaDB) or sqlite://path/to/file.db")
    )]
    UnknownScheme {
        /// The URL, redacted.
        shown: String,
    },
    /// A scheme dbpm knows without the `//` after its colon (`postgres:/...`).
    #[error("the database URL starts with `{scheme}:`, not `{scheme}://` (the rest is not shown: it may hold a password)")]
    #[diagnostic(code(dbpm::db::bad_url), help("write it as {example}"))]
    NoSlashes {
        /// The scheme, as written.
        scheme: String,
        /// The URL's form for that scheme.
        example: String,
    },
    /// A `key=value` connection string (libpq's `host=... password=...` and the like).
    #[error("`{shown}` is a key=value connection string, not a database URL")]
    #[diagnostic(
        code(dbpm::db::bad_url),
        help("write it as a URL: postgres://user:password@host:5432/db or mysql://user:password@host:3306/db, with `/`, `?`, `#`, `@` and `%` in the password percent-encoded")
    )]
    KeyValue {
        /// The string, its passwords hidden.
        shown: String,
    },
    /// Text of no shape dbpm knows; not shown, since it may be a password.
    #[error("the database given is not a URL (it is not shown: it may hold a password)")]
    #[diagnostic(
        code(dbpm::db::bad_url),
        help("a database URL reads scheme://user:password@host:port/database: postgres://..., mysql://... (MySQL and MariaDB) or sqlite://path/to/file.db")
    )]
    Unreadable,
    /// A URL with a `#` part. What follows the `#` is not shown: it may be the end of a
    /// password given as a parameter.
    #[error("`{shown}` has a `#` part, which a database URL does not read")]
    #[diagnostic(
        code(dbpm::db::url_fragment),
        help("dbpm shows a PostgreSQL target as URL#schema: give a PostgreSQL schema with `--schema NAME` instead; in a file name, database name or password write `#` as %23")
    )]
    Fragment {
        /// The URL, redacted.
        shown: String,
    },
    /// An in-memory SQLite database: it would be gone, with what dbpm did to it, when dbpm
    /// exits.
    #[error("`{shown}` is an in-memory SQLite database, which cannot be a target: it is gone when dbpm exits")]
    #[diagnostic(
        code(dbpm::db::in_memory),
        help("give a file: sqlite://path/to/file.db")
    )]
    InMemory {
        /// The URL.
        shown: String,
    },
    /// A user name or password holding a character that ends a URL's host part, so that the
    /// driver would read a host or port out of it.
    #[error("the {part} in `{shown}` must be percent-encoded: it holds a `{found}`")]
    #[diagnostic(
        code(dbpm::db::unencoded_password),
        help("in a user name, password or database name write `/` as %2F, `?` as %3F, `#` as %23, `@` as %40 and `%` as %25")
    )]
    Unencoded {
        /// `password` or `user name`.
        part: &'static str,
        /// The URL, redacted.
        shown: String,
        /// The first character that ends the host part early.
        found: char,
    },
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

    /// The password as the driver uses it (percent-decoded), from the user info or else a
    /// `password=` parameter: for a client tool that reads it from its environment.
    pub fn password(&self) -> Option<String> {
        let (userinfo, query) = self.parts();
        let from_userinfo = userinfo
            .and_then(|u| u.split_once(':'))
            .and_then(|(_, password)| percent_decode(password));
        from_userinfo
            .or_else(|| {
                query_secrets(query)
                    .find(|(key, _)| key.eq_ignore_ascii_case("password"))
                    .and_then(|(_, value)| percent_decode(&value.replace('+', " ")))
            })
            .filter(|password| !password.is_empty())
    }

    /// The URL with no password in it (neither in the user info nor as a parameter), for the
    /// command line of a client tool, which `ps` shows to every user of the machine.
    pub fn without_password(&self) -> String {
        let (scheme, rest) = self.raw.split_once("://").unwrap_or(("", &self.raw));
        let end = authority_end(rest);
        let (authority, tail) = rest.split_at(end);
        let authority = match authority.rsplit_once('@') {
            Some(_) if self.platform == Platform::Sqlite => authority.to_owned(),
            Some((userinfo, host)) => {
                let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
                format!("{user}@{host}")
            }
            None => authority.to_owned(),
        };
        let tail = match tail.split_once('?') {
            Some((path, query)) => {
                let (query, fragment) = query
                    .split_once('#')
                    .map_or((query, None), |(q, f)| (q, Some(f)));
                let kept: Vec<&str> = query
                    .split('&')
                    .filter(|pair| {
                        !pair
                            .split_once('=')
                            .is_some_and(|(key, _)| is_secret_key(key))
                    })
                    .collect();
                let mut tail = path.to_owned();
                if !kept.is_empty() {
                    tail.push('?');
                    tail.push_str(&kept.join("&"));
                }
                if let Some(fragment) = fragment {
                    tail.push('#');
                    tail.push_str(fragment);
                }
                tail
            }
            None => tail.to_owned(),
        };
        format!("{scheme}://{authority}{tail}")
    }

    /// Every form in which the URL's secrets may show in a text: the password and the values
    /// of `password=` parameters, each as written and percent-decoded, longest first (so that
    /// hiding one cannot leave a piece of a longer one).
    pub fn secrets(&self) -> Vec<String> {
        let (userinfo, query) = self.parts();
        let mut found = Vec::new();
        if let Some((_, password)) = userinfo.and_then(|u| u.split_once(':')) {
            found.push(password.to_owned());
            found.extend(percent_decode(password));
        }
        for (_, value) in query_secrets(query) {
            found.push(value.to_owned());
            found.extend(percent_decode(value));
            found.extend(percent_decode(&value.replace('+', " ")));
        }
        found.retain(|secret| !secret.is_empty());
        found.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
        found.dedup();
        found
    }

    /// The value of the URL's first query parameter `key`, as written.
    pub fn parameter(&self, key: &str) -> Option<&str> {
        let (_, query) = self.parts();
        query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(name, _)| *name == key)
            .map(|(_, value)| value)
    }

    /// The user info and the query, as the driver reads them: the authority ends at the
    /// first `/`, `?` or `#` (parsing refused URLs where that cut a password), the user info
    /// at its last `@`, the password starts after the user info's first `:`.
    fn parts(&self) -> (Option<&str>, &str) {
        let rest = self.raw.split_once("://").map_or("", |(_, rest)| rest);
        let (authority, tail) = rest.split_at(authority_end(rest));
        let userinfo = authority
            .rsplit_once('@')
            .filter(|_| self.platform != Platform::Sqlite)
            .map(|(userinfo, _)| userinfo);
        let tail = tail.split('#').next().unwrap_or_default();
        let query = tail.split_once('?').map_or("", |(_, query)| query);
        (userinfo, query)
    }
}

impl FromStr for DbUrl {
    type Err = BadUrl;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let Some((scheme, rest)) = split_scheme(raw) else {
            return Err(not_a_url(raw));
        };
        let platform = match scheme {
            "postgres" | "postgresql" => Platform::Postgres,
            "mysql" | "mariadb" => Platform::Mysql,
            "sqlite" => Platform::Sqlite,
            _ => return Err(BadUrl::UnknownScheme { shown: redact(raw) }),
        };
        // SQLite URLs hold a path and no credentials; `@` is fine in a file name.
        if platform != Platform::Sqlite {
            if let Some((part, found)) = unencoded_userinfo(rest) {
                return Err(BadUrl::Unencoded {
                    part,
                    shown: redact(raw),
                    found,
                });
            }
        }
        // A `#` part is no part of a database URL; `URL#schema` is how dbpm shows a
        // PostgreSQL target, and read as a URL it would reach `public` (or, on SQLite, a file
        // whose name ends in `#...`) without a word.
        if rest[authority_end(rest)..].contains('#') {
            return Err(BadUrl::Fragment { shown: redact(raw) });
        }
        if platform == Platform::Sqlite && is_in_memory(rest) {
            return Err(BadUrl::InMemory { shown: redact(raw) });
        }
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

/// Any text that may be a database URL, shown without its secrets:
/// `scheme://user:secret@host/db?password=x` → `scheme://user:***@host/db?password=***`,
/// `host=h password='x y'` → `host=h password=***`, and text of no shape known → `***`.
pub fn redact(raw: &str) -> String {
    match split_scheme(raw) {
        Some((scheme, rest)) if is_sqlite(scheme) => {
            format!("{scheme}://{}", redact_query_secrets(rest))
        }
        Some((scheme, rest)) => format!("{scheme}://{}", redact_after_scheme(rest)),
        None if looks_like_key_values(raw) => redact_key_values(raw),
        None => HIDDEN.to_owned(),
    }
}

/// A label (free text such as `production`, or a URL given as one) with the secrets of any
/// URL or `key=value` connection string in it hidden and the rest as written. Unlike
/// [`redact`], text of no shape it knows is shown: a label is there to be read. From the
/// first `://` on, the text is read as a URL, whatever comes before it.
pub fn redact_label(label: &str) -> String {
    if split_scheme(label).is_some_and(|(scheme, _)| is_sqlite(scheme)) {
        return redact(label);
    }
    match label.split_once("://") {
        Some((before, rest)) => format!(
            "{}://{}",
            redact_key_values(before),
            redact_after_scheme(rest)
        ),
        None => redact_key_values(&redact_query_secrets(label)),
    }
}

/// Whether a URL of `scheme` is a SQLite one: a path, without credentials (a `:` or `@` in a
/// file name is no password).
fn is_sqlite(scheme: &str) -> bool {
    scheme.eq_ignore_ascii_case("sqlite")
}

/// Whether the part of a SQLite URL after `sqlite://` opens a database in memory, as the
/// driver reads it: the name `:memory:` (also as a `file:` URI), or `mode=memory`, its
/// parameters percent-decoded.
fn is_in_memory(rest: &str) -> bool {
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    path.strip_prefix("file:").unwrap_or(path) == ":memory:"
        || query
            .split('&')
            .any(|pair| percent_decode(pair).as_deref().unwrap_or(pair) == "mode=memory")
}

/// `scheme://rest` → `(scheme, rest)` when the scheme can be one (RFC 3986: a letter, then
/// letters, digits, `+`, `-` or `.`), so that `password=a://b` is no URL of scheme `password=a`.
fn split_scheme(text: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = text.split_once("://")?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic() && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        .then_some((scheme, rest))
}

/// Why a text without `scheme://` is no database URL.
fn not_a_url(raw: &str) -> BadUrl {
    if looks_like_key_values(raw) {
        return BadUrl::KeyValue {
            shown: redact_key_values(raw),
        };
    }
    let known = ["postgres", "postgresql", "mysql", "mariadb", "sqlite"];
    match raw.split_once(':') {
        Some((scheme, _)) if known.iter().any(|k| k.eq_ignore_ascii_case(scheme)) => {
            BadUrl::NoSlashes {
                scheme: scheme.to_owned(),
                example: if scheme.eq_ignore_ascii_case("sqlite") {
                    "sqlite://path/to/file.db".to_owned()
                } else {
                    format!("{scheme}://user:password@host/database")
                },
            }
        }
        _ => BadUrl::Unreadable,
    }
}

/// Where the authority (user info, host, port) of `rest` ends for the driver: at the first
/// `/`, `?` or `#`.
fn authority_end(rest: &str) -> usize {
    rest.find(['/', '?', '#']).unwrap_or(rest.len())
}

/// The part of a URL after `scheme://` with its secrets hidden. The host part starts after
/// the *last* `@`, and the password runs from the first `:` to there, so that a password
/// holding an unencoded `/`, `?`, `#`, `:` or `@` stays hidden whole (with whatever else
/// lies between).
fn redact_after_scheme(rest: &str) -> String {
    let rest = redact_query_secrets(rest);
    if let Some(at) = rest.rfind('@') {
        return match rest[..at].find(':') {
            Some(colon) => format!("{}{HIDDEN}{}", &rest[..=colon], &rest[at..]),
            None => rest,
        };
    }
    // No user info; after a `:` comes the port. Anything but digits there may be a password
    // that lost its `@host` (`mysql://root:secret`), so it is hidden with all that follows.
    let authority = &rest[..authority_end(&rest)];
    let host_end = match authority.strip_prefix('[') {
        Some(ipv6) => ipv6.find(']').map_or(authority.len(), |end| end + 2),
        None => 0,
    };
    match authority[host_end..]
        .find(':')
        .map(|colon| colon + host_end)
    {
        Some(colon) if !authority[colon + 1..].bytes().all(|b| b.is_ascii_digit()) => {
            format!("{}{HIDDEN}", &rest[..=colon])
        }
        _ => rest,
    }
}

/// `...?password=x&ssl=1` → `...?password=***&ssl=1`, for every parameter of a secret key
/// after a `?` or `&`. A value runs to the next `&key=`: an unencoded `&` in it hides the
/// rest of the value too.
fn redact_query_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(sep) = rest.find(['?', '&']) {
        out.push_str(&rest[..=sep]);
        rest = &rest[sep + 1..];
        let key = &rest[..key_len(rest)];
        if !key.is_empty() && rest[key.len()..].starts_with('=') && is_secret_key(key) {
            out.push_str(key);
            out.push('=');
            out.push_str(HIDDEN);
            let value = &rest[key.len() + 1..];
            let end = value
                .match_indices('&')
                .map(|(i, _)| i)
                .find(|&i| {
                    let after = &value[i + 1..];
                    let len = key_len(after);
                    len > 0 && after[len..].starts_with('=')
                })
                .unwrap_or(value.len());
            rest = &value[end..];
        }
    }
    out.push_str(rest);
    out
}

/// The parameters of a query whose keys name secrets, and their values as written.
fn query_secrets(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .filter(|(key, _)| is_secret_key(key))
}

/// The length of the parameter or connection-string key that `text` starts with.
fn key_len(text: &str) -> usize {
    text.find(|c: char| !(c.is_ascii_alphanumeric() || "_-.".contains(c)))
        .unwrap_or(text.len())
}

/// Whether a parameter's value is a secret: `password`, `sslpassword`, `Pwd`, `passwd`...
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("pass") || key == "pwd"
}

/// Whether `text` reads as `key=value` pairs rather than a URL: it starts with a key and `=`.
fn looks_like_key_values(text: &str) -> bool {
    key_value_at(text.trim_start(), 0).is_some()
}

/// When a key and `=` (spaces around it allowed) start at `pos` of `text`: where the key
/// ends and where its value starts.
fn key_value_at(text: &str, pos: usize) -> Option<(usize, usize)> {
    let after = &text[pos..];
    let key_end = pos + key_len(after);
    if key_end == pos {
        return None;
    }
    let rest = text[key_end..].trim_start();
    let rest = rest.strip_prefix('=')?;
    let value = rest.trim_start();
    Some((key_end, text.len() - value.len()))
}

/// Where the next key of a connection string starts, at or after `from`: after a space or
/// `;`, followed by `=`.
fn next_key(text: &str, from: usize) -> Option<usize> {
    text.char_indices()
        .skip_while(|(i, _)| *i < from)
        .find(|&(i, _)| {
            let after_separator = text[..i]
                .chars()
                .next_back()
                .is_none_or(|c| c.is_whitespace() || c == ';');
            after_separator && key_value_at(text, i).is_some()
        })
        .map(|(i, _)| i)
}

/// `host=h user=app password='s e'` → `host=h user=app password=***`; also
/// `Server=h;Pwd=x;`. A quoted secret runs to its closing quote (`\` escapes), an unquoted
/// one to the next `key=`, so a space or `;` in it hides the rest of the value too.
fn redact_key_values(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut shown_to = 0;
    let mut key = next_key(text, 0);
    while let Some(start) = key {
        let (key_end, value_start) = key_value_at(text, start).unwrap_or((start, start));
        if !is_secret_key(&text[start..key_end]) {
            key = next_key(text, value_start + 1);
            continue;
        }
        let value_end = match text[value_start..].chars().next() {
            Some(quote @ ('\'' | '"')) => closing_quote(text, value_start, quote),
            // Searching from the value's second character: `password= a=b` is the password `a=b`.
            _ => next_key(text, value_start + 1).map_or(text.len(), |next| {
                text[..next]
                    .trim_end_matches(|c: char| c.is_whitespace() || c == ';')
                    .len()
                    .max(value_start)
            }),
        };
        out.push_str(&text[shown_to..value_start]);
        out.push_str(HIDDEN);
        shown_to = value_end;
        key = next_key(text, value_end);
    }
    out.push_str(&text[shown_to..]);
    out
}

/// Where the value quoted by `quote` at `start` ends (after its closing quote), or the end of
/// `text` when it is not closed.
fn closing_quote(text: &str, start: usize, quote: char) -> usize {
    let mut chars = text[start + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            chars.next();
        } else if c == quote {
            return start + 1 + i + 1;
        }
    }
    text.len()
}

/// When the user name or password of a URL (`rest`, after `scheme://`) holds an unencoded
/// `/`, `?` or `#`: which of the two, and that character. The driver would end the host
/// part there and read a host, port or database out of the password; seen from an `@` after
/// that character where the path or query cannot hold one, or a port that is no number.
fn unencoded_userinfo(rest: &str) -> Option<(&'static str, char)> {
    let end = rest.find(['/', '?', '#'])?;
    let at = rest.rfind('@').filter(|&at| at > end)?;
    let authority = &rest[..end];
    let between = &rest[end..at];
    let misplaced = if between.contains('#') {
        // Database URLs have no use for a fragment.
        true
    } else if let Some(query) = between.split_once('?').map(|(_, query)| query) {
        // An `@` in a query value (`?application_name=a@b`) is fine, not in a key.
        let segment = query.rsplit('&').next().unwrap_or(query);
        !segment.contains('=')
    } else {
        // An `@` in the database name must be encoded anyway.
        true
    };
    let bad_port = !authority.contains('@')
        && !authority.starts_with('[')
        && authority
            .split_once(':')
            .is_some_and(|(_, port)| !port.bytes().all(|b| b.is_ascii_digit()));
    let part = if rest[..at].contains(':') {
        "password"
    } else {
        "user name"
    };
    (misplaced || bad_port).then(|| (part, rest[end..].chars().next().unwrap_or('/')))
}

/// `s3cr%40t` → `s3cr@t`; `None` when the bytes are no UTF-8 (the driver refuses those).
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied().and_then(hex),
            bytes.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(high), Some(low)) => {
                out.push((high * 16 + low) as u8);
                i += 3;
            }
            (byte, _, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parameter_is_read_from_the_query_only() {
        let url: DbUrl = "sqlite://dir/a.db?cache=shared&mode=ro".parse().unwrap();
        assert_eq!(url.parameter("mode"), Some("ro"));
        assert_eq!(url.parameter("cache"), Some("shared"));
        assert_eq!(url.parameter("immutable"), None);
        let url: DbUrl = "sqlite://mode=ro.db".parse().unwrap();
        assert_eq!(url.parameter("mode"), None);
    }

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
        assert_eq!(
            redact("postgres://[::1]:5432/db?sslmode=require"),
            "postgres://[::1]:5432/db?sslmode=require"
        );
    }

    /// QA: a SQLite file named `snap:2026-11.db` showed as `sqlite://snap:***`, as if it
    /// held a password, and `sqlite://:memory:` failed in the driver's words.
    #[test]
    fn a_sqlite_url_is_a_path_and_never_in_memory() {
        for raw in ["sqlite://snap:2026-11.db", "sqlite://me@home:x.db"] {
            let url: DbUrl = raw.parse().unwrap();
            assert_eq!(url.redacted(), raw);
            assert_eq!(redact_label(raw), raw);
            assert_eq!(url.secrets(), Vec::<String>::new());
            assert_eq!(url.password(), None);
            assert_eq!(url.without_password(), raw);
        }
        for raw in [
            "sqlite://:memory:",
            "sqlite://file::memory:",
            "sqlite://x.db?mode=memory&cache=shared",
            "sqlite://x.db?mode=%6Demory",
        ] {
            let err = raw.parse::<DbUrl>().unwrap_err();
            assert!(matches!(err, BadUrl::InMemory { .. }), "{raw}: {err:?}");
        }
    }

    /// `plan --target-label 'postgres://app:PW@host/db'` put the password in the plan.
    #[test]
    fn a_label_keeps_its_text_and_loses_its_secrets() {
        for (label, shown) in [
            ("production", "production"),
            ("eu-1 (tenant a)", "eu-1 (tenant a)"),
            ("postgres://app:PW@host/db", "postgres://app:***@host/db"),
            ("postgres://h/db#public", "postgres://h/db#public"),
            (
                "postgres://app:***@host/db#s",
                "postgres://app:***@host/db#s",
            ),
            (
                "prod (mysql://root:PW@h/db)",
                "prod (mysql://root:***@h/db)",
            ),
            ("mysql://root:PW", "mysql://root:***"),
            (
                "x://h/db?sslmode=require&password=PW",
                "x://h/db?sslmode=require&password=***",
            ),
            ("prod host=h password=PW", "prod host=h password=***"),
            ("prod db?password=PW", "prod db?password=***"),
            ("sqlite://a@b.db", "sqlite://a@b.db"),
        ] {
            assert_eq!(redact_label(label), shown, "{label}");
        }
    }

    #[test]
    fn knows_the_platform_and_hides_the_password() {
        let url: DbUrl = "mariadb://root:pw@127.0.0.1/db".parse().unwrap();
        assert_eq!(url.platform(), Platform::Mysql);
        assert!(!format!("{url} {url:?}").contains("pw@"));
        assert!("oracle://x".parse::<DbUrl>().is_err());
    }

    #[test]
    fn malformed_urls_never_show_their_password() {
        for (raw, shown) in [
            // A password with an unencoded character that ends the host part.
            (
                "postgres://app:pa/ss@127.0.0.1:5432/x",
                "postgres://app:***@127.0.0.1:5432/x",
            ),
            (
                "mysql://root:pa?ss@127.0.0.1:3306/x",
                "mysql://root:***@127.0.0.1:3306/x",
            ),
            ("postgres://app:pa#ss@h/x", "postgres://app:***@h/x"),
            ("postgres://app:p/a?s#s@w:x@h/x", "postgres://app:***@h/x"),
            ("postgres://a@corp:pw@h/x", "postgres://a@corp:***@h/x"),
            // No host after the password: what follows the `:` is no port.
            ("mysql://root:s3cret", "mysql://root:***"),
            ("mysql://root:pa/ss", "mysql://root:***"),
            // Passwords as parameters, with an unencoded `&`, `@` or `#` in them.
            (
                "postgres://h:5432/x?password=pa&ss&sslmode=require",
                "postgres://h:5432/x?password=***&sslmode=require",
            ),
            (
                "postgres://h/x?password=pa@ss",
                "postgres://h/x?password=***",
            ),
            (
                "postgres://h/x?Password=pa#ss",
                "postgres://h/x?Password=***",
            ),
            ("postgres://u:pa?password=x@h/db", "postgres://u:***"),
            // Connection strings: libpq's, quoted or not, and ADO's.
            (
                "host=127.0.0.1 user=app password=s3cret",
                "host=127.0.0.1 user=app password=***",
            ),
            (
                r"host=h password = 's3 \' cret' dbname=x",
                "host=h password = *** dbname=x",
            ),
            ("password=s3 cret", "password=***"),
            ("host=h password= a=b", "host=h password= ***"),
            ("host=h password=a://b", "host=h password=***"),
            ("host=h password='unclosed user=x", "host=h password=***"),
            (
                "Server=h;Uid=root;Pwd=s3;cret;Database=x",
                "Server=h;Uid=root;Pwd=***;Database=x",
            ),
            // Unknown schemes are redacted as URLs; text of no known shape is not shown.
            ("oracle://sys:s3cret@h/x", "oracle://sys:***@h/x"),
            ("postgres:/app:s3cret@127.0.0.1/x", "***"),
            ("postgres//app:s3cret@127.0.0.1/x", "***"),
            ("s3cret", "***"),
            ("", "***"),
        ] {
            assert_eq!(redact(raw), shown, "{raw}");
        }
    }

    #[test]
    fn malformed_urls_are_refused_saying_what_is_wrong() {
        let refused = |raw: &str| raw.parse::<DbUrl>().unwrap_err();
        for (raw, shown, found) in [
            (
                "postgres://app:pa/ss@127.0.0.1:5432/x",
                "postgres://app:***@127.0.0.1:5432/x",
                '/',
            ),
            (
                "mysql://root:pa?ss@127.0.0.1:3306/x",
                "mysql://root:***@127.0.0.1:3306/x",
                '?',
            ),
            ("postgres://app:pa#ss@h/x", "postgres://app:***@h/x", '#'),
            ("mariadb://root:pa?x=ss@h/x", "mariadb://root:***@h/x", '?'),
            ("postgres://app:12/34@h/x", "postgres://app:***@h/x", '/'),
        ] {
            assert_eq!(
                refused(raw),
                BadUrl::Unencoded {
                    part: "password",
                    shown: shown.to_owned(),
                    found
                },
                "{raw}"
            );
        }
        assert_eq!(
            refused("host=127.0.0.1 user=app password=s3cret"),
            BadUrl::KeyValue {
                shown: "host=127.0.0.1 user=app password=***".to_owned()
            }
        );
        assert_eq!(
            refused("postgres:/app:s3cret@127.0.0.1/x"),
            BadUrl::NoSlashes {
                scheme: "postgres".to_owned(),
                example: "postgres://user:password@host/database".to_owned()
            }
        );
        assert_eq!(
            refused("sqlite:demo.db"),
            BadUrl::NoSlashes {
                scheme: "sqlite".to_owned(),
                example: "sqlite://path/to/file.db".to_owned()
            }
        );
        assert_eq!(refused("app:s3cret@127.0.0.1/x"), BadUrl::Unreadable);
        assert_eq!(refused("s3cret"), BadUrl::Unreadable);
        assert_eq!(
            refused("oracle://sys:s3cret@h/x"),
            BadUrl::UnknownScheme {
                shown: "oracle://sys:***@h/x".to_owned()
            }
        );
    }

    #[test]
    fn urls_with_odd_but_well_placed_characters_are_accepted() {
        for raw in [
            "postgres://a:p@ss@host/db",
            "mysql://root:p:w@h:3306/x",
            "postgres://app:s3cr%2Ft@h/x",
            "postgres://h:5432/db?application_name=a@b",
            "postgres://[::1]:5432/db",
            "sqlite:///tmp/a@b.db",
            "sqlite://./a:b@c.db",
        ] {
            assert!(raw.parse::<DbUrl>().is_ok(), "{raw}");
        }
    }

    #[test]
    fn secrets_come_as_written_and_percent_decoded() {
        let url: DbUrl = "postgres://app:s3cr%40t@h/x?sslpassword=k%2By+z"
            .parse()
            .unwrap();
        assert_eq!(
            url.secrets(),
            ["s3cr%40t", "k%2By+z", "s3cr@t", "k+y z", "k+y+z"]
        );
        let plain: DbUrl = "mysql://root@h/x".parse().unwrap();
        assert!(plain.secrets().is_empty());
    }

    #[test]
    fn a_url_without_its_password_for_client_tools() {
        let url: DbUrl = "postgres://app:s3cr%40t@h:5432/x?sslmode=require"
            .parse()
            .unwrap();
        assert_eq!(url.password().as_deref(), Some("s3cr@t"));
        assert_eq!(
            url.without_password(),
            "postgres://app@h:5432/x?sslmode=require"
        );
        let param: DbUrl = "postgres://app@h/x?password=p%26w&sslmode=require"
            .parse()
            .unwrap();
        assert_eq!(param.password().as_deref(), Some("p&w"));
        assert_eq!(
            param.without_password(),
            "postgres://app@h/x?sslmode=require"
        );
        let none: DbUrl = "postgres://app@h/x".parse().unwrap();
        assert_eq!(none.password(), None);
        assert_eq!(none.without_password(), "postgres://app@h/x");
    }

    #[test]
    fn a_url_with_a_fragment_is_refused_without_its_password() {
        for raw in [
            "postgres://app:s3cret@h:5432/db#tenant",
            "sqlite:///tmp/x.db#frag",
            "sqlite://x.db#frag",
        ] {
            let err = raw.parse::<DbUrl>().unwrap_err();
            assert!(matches!(err, BadUrl::Fragment { .. }), "{raw}: {err:?}");
            assert!(!err.to_string().contains("s3cret"), "{err}");
        }
        let param = "postgres://app@h/db?password=s3cr#etpart"
            .parse::<DbUrl>()
            .unwrap_err();
        assert!(!param.to_string().contains("etpart"), "{param}");
    }
}
