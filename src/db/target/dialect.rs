//! How dbpm's state SQL is spelled on each platform. The state's statements are written once,
//! with `?` placeholders and `{token}` names for its tables and for the few types and clauses
//! that differ; [`render`] turns such a template into one platform's SQL. Pure text: nothing
//! here connects or knows what a table means.

use crate::platform::Platform;

/// dbpm's own tables, by the name templates use for them (`{installed_packages}`).
pub(super) const TABLES: [&str; 8] = [
    "meta",
    "installed_packages",
    "installed_scripts",
    "script_texts",
    "runs",
    "journal",
    "plans",
    "run_owners",
];

/// The PostgreSQL schema that holds dbpm's state for every target schema of a database.
pub(super) const PG_STATE_SCHEMA: &str = "dbpm";

/// The state lock on PostgreSQL: one advisory lock key per database ("dbpmstat").
pub(super) const PG_STATE_LOCK: i64 = 0x6462_706d_7374_6174;

/// How long a state write waits, by default, for another dbpm's state write (PostgreSQL
/// `lock_timeout`, MySQL `GET_LOCK`) or for another writer of a SQLite file (its busy
/// timeout), in seconds.
pub(super) const LOCK_WAIT_SECONDS: u64 = 60;

/// A wait in whole seconds, rounded up: as MySQL's `GET_LOCK` takes it, and as messages say
/// how long dbpm waited.
pub(super) fn whole_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// The MySQL/MariaDB state lock's name. `GET_LOCK` names are server-wide, so the name carries
/// the database; hashed, because a lock name is at most 64 characters.
pub(super) const MYSQL_STATE_LOCK: &str = "CONCAT('dbpm_state_', SHA1(DATABASE()))";

/// `template` as `platform`'s SQL: `{table}` and the other tokens replaced, and on PostgreSQL
/// `?` placeholders numbered `$1, $2, ...`. Templates never hold a literal `?`, `{` or `}`;
/// values are bound, never spliced (but for [`pg_literal`]'s few).
pub(super) fn render(platform: Platform, template: &str) -> String {
    let mut sql = String::with_capacity(template.len() + 32);
    let mut rest = template;
    let mut placeholders = 0;
    while let Some(at) = rest.find(['{', '?']) {
        sql.push_str(&rest[..at]);
        if rest[at..].starts_with('?') {
            placeholders += 1;
            match platform {
                Platform::Postgres => sql.push_str(&format!("${placeholders}")),
                Platform::Mysql | Platform::Sqlite => sql.push('?'),
            }
            rest = &rest[at + 1..];
            continue;
        }
        let Some(len) = rest[at..].find('}') else {
            sql.push_str(&rest[at..]);
            return sql;
        };
        let name = &rest[at + 1..at + len];
        match token(platform, name) {
            Some(text) => sql.push_str(&text),
            None => sql.push_str(&rest[at..=at + len]),
        }
        rest = &rest[at + len + 1..];
    }
    sql.push_str(rest);
    sql
}

/// The MySQL/MariaDB statement that makes `database` the session's default again, after a
/// script's `USE` moved it: dbpm's tables are named without their database.
pub(super) fn mysql_use(database: &str) -> String {
    format!("USE `{}`", database.replace('`', "``"))
}

/// The text of one `{token}`, or `None` for a name that is not a token.
fn token(platform: Platform, name: &str) -> Option<String> {
    if TABLES.contains(&name) {
        return Some(match platform {
            Platform::Postgres => format!("{PG_STATE_SCHEMA}.{name}"),
            Platform::Mysql | Platform::Sqlite => format!("dbpm_{name}"),
        });
    }
    let text = match (name, platform) {
        // TEXT is 64 KiB on MySQL; a script can be larger.
        ("longtext", Platform::Mysql) => "LONGTEXT",
        ("longtext", _) => "TEXT",
        // Binary collation: keys compare exactly (case and accents), as on the other platforms.
        ("table_options", Platform::Mysql) => {
            " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        }
        ("table_options", _) => "",
        // The database's clock, in UTC, as RFC 3339 text.
        ("now", Platform::Postgres) => {
            r#"to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#
        }
        ("now", Platform::Mysql) => "DATE_FORMAT(UTC_TIMESTAMP(6), '%Y-%m-%dT%H:%i:%s.%fZ')",
        ("now", Platform::Sqlite) => "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        // A script text is stored once; a second writer of the same checksum keeps the first.
        ("skip_duplicate_checksum", Platform::Mysql) => {
            "ON DUPLICATE KEY UPDATE checksum = checksum"
        }
        ("skip_duplicate_checksum", _) => "ON CONFLICT DO NOTHING",
        // A plan is stored once; a second run of the same plan keeps it.
        ("skip_duplicate_hash", Platform::Mysql) => "ON DUPLICATE KEY UPDATE hash = hash",
        ("skip_duplicate_hash", _) => "ON CONFLICT DO NOTHING",
        _ => return None,
    };
    Some(text.to_owned())
}

/// `text` as a PostgreSQL string literal, for the few statements of dbpm's that travel with
/// others in one simple query (a step's journal entry with its commit), where nothing can be
/// bound. An escape string (`E'...'`) reads the same whatever `standard_conforming_strings`
/// is set to.
pub(super) fn pg_literal(text: &str) -> String {
    let mut literal = String::with_capacity(text.len() + 3);
    literal.push_str("E'");
    for c in text.chars() {
        match c {
            '\'' => literal.push_str("''"),
            '\\' => literal.push_str("\\\\"),
            c => literal.push(c),
        }
    }
    literal.push('\'');
    literal
}

/// A query with a row for each of dbpm's tables ([`TABLES`]) the target has, its name in
/// column `name` as templates name it (`meta`).
pub(super) fn state_tables_sql(platform: Platform) -> String {
    let names = |prefix: &str| {
        TABLES
            .iter()
            .map(|table| format!("'{prefix}{table}'"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match platform {
        Platform::Postgres => format!(
            "SELECT CAST(tablename AS TEXT) AS name FROM pg_catalog.pg_tables WHERE schemaname = '{PG_STATE_SCHEMA}' AND tablename IN ({})",
            names("")
        ),
        Platform::Mysql => format!(
            "SELECT SUBSTRING(table_name, 6) AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name IN ({})",
            names("dbpm_")
        ),
        Platform::Sqlite => format!(
            "SELECT substr(name, 6) AS name FROM sqlite_master WHERE type = 'table' AND name IN ({})",
            names("dbpm_")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_schema_qualified_on_postgres_and_prefixed_elsewhere() {
        let template = "SELECT name FROM {installed_packages} WHERE target_schema = ? AND name = ?";
        assert_eq!(
            render(Platform::Postgres, template),
            "SELECT name FROM dbpm.installed_packages WHERE target_schema = $1 AND name = $2"
        );
        assert_eq!(
            render(Platform::Mysql, template),
            "SELECT name FROM dbpm_installed_packages WHERE target_schema = ? AND name = ?"
        );
        assert_eq!(
            render(Platform::Sqlite, template),
            "SELECT name FROM dbpm_installed_packages WHERE target_schema = ? AND name = ?"
        );
    }

    #[test]
    fn a_mysql_database_is_quoted_as_an_identifier() {
        assert_eq!(mysql_use("shop"), "USE `shop`");
        assert_eq!(mysql_use("a`b"), "USE `a``b`");
    }

    #[test]
    fn types_and_clauses_differ_where_the_platforms_do() {
        let template = "CREATE TABLE {script_texts} (content {longtext}){table_options}";
        assert_eq!(
            render(Platform::Mysql, template),
            "CREATE TABLE dbpm_script_texts (content LONGTEXT) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
        );
        assert_eq!(
            render(Platform::Sqlite, template),
            "CREATE TABLE dbpm_script_texts (content TEXT)"
        );
        assert!(render(Platform::Postgres, "{now}").starts_with("to_char("));
    }

    #[test]
    fn postgres_literals_escape_quotes_and_backslashes() {
        assert_eq!(pg_literal("plain"), "E'plain'");
        assert_eq!(pg_literal(r"it's a\b"), r"E'it''s a\\b'");
        assert_eq!(pg_literal(""), "E''");
    }

    #[test]
    fn unknown_tokens_and_unclosed_braces_stay_as_written() {
        assert_eq!(render(Platform::Sqlite, "a {nope} b {"), "a {nope} b {");
    }
}
