//! Reading a live database's own schema (not dbpm's), for `dbpm adopt --generate`: the
//! statements that create it and those that drop it again, per platform. PostgreSQL goes
//! through `pg_dump --schema-only`, with the extensions installed in the schema created
//! first and their objects left to them; SQLite reads its schema table; MySQL/MariaDB asks
//! `SHOW CREATE` of every table, view, routine and event, and rebuilds the triggers.

use super::session::{Access, Row, Session, Value};
use super::{Target, TargetError};
use crate::package::statements;
use crate::platform::Platform;

/// A database's schema as scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaScripts {
    /// Statements that create the schema from nothing.
    pub create: String,
    /// Statements that drop it again, defensively.
    pub drop: String,
    /// The tables and views, to check that they exist.
    pub objects: Vec<String>,
}

/// Why the schema could not be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SchemaError {
    /// The database failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Target(#[from] TargetError),
    /// A routine or trigger whose definition the user may not read.
    #[error("cannot read the definition of {0}")]
    #[diagnostic(
        code(dbpm::adopt::unreadable),
        help("connect as a user that may read it (on MySQL/MariaDB, the object's definer or a user with SHOW_ROUTINE or SELECT on mysql.proc)")
    )]
    Unreadable(String),
    /// `pg_dump` could not be started.
    #[error("cannot run `pg_dump`: {0}")]
    #[diagnostic(
        code(dbpm::adopt::pg_dump_missing),
        help("install the PostgreSQL client tools (pg_dump) of the server's version")
    )]
    PgDumpMissing(String),
    /// `pg_dump` ran and failed; its own message says why.
    #[error("`pg_dump` failed: {0}")]
    #[diagnostic(
        code(dbpm::adopt::pg_dump),
        help("pg_dump's message above says why: check that the database and schema exist and that the user may read them")
    )]
    PgDump(String),
}

impl Target {
    /// The user schema of the target (dbpm's own state left out).
    pub async fn schema_scripts(&self) -> Result<SchemaScripts, SchemaError> {
        match self.platform() {
            Platform::Postgres => self.postgres_schema().await,
            Platform::Sqlite => self.sqlite_schema().await,
            Platform::Mysql => self.mysql_schema().await,
        }
    }

    async fn postgres_schema(&self) -> Result<SchemaScripts, SchemaError> {
        let mut pg_dump = tokio::process::Command::new("pg_dump");
        // The password goes through the environment: a command line is visible to every user
        // of the machine (`ps`).
        if let Some(password) = self.url.password() {
            pg_dump.env("PGPASSWORD", password);
        }
        let output = pg_dump
            .args([
                "--schema-only",
                "--no-owner",
                "--no-privileges",
                "--no-comments",
                "--schema",
                // A pattern: quoted, the name is taken as it is (case, spaces, `*`).
                &identifier(Platform::Postgres, &self.schema),
                "--dbname",
                &self.url.without_password(),
            ])
            .output()
            .await
            .map_err(|err| SchemaError::PgDumpMissing(err.to_string()))?;
        if !output.status.success() {
            let message = String::from_utf8_lossy(&output.stderr)
                .replace(self.url.expose(), &self.url.redacted());
            return Err(SchemaError::PgDump(message.trim().to_owned()));
        }
        let dumped = dump_statements(&String::from_utf8_lossy(&output.stdout));
        let mut session = self.open(Access::Read).await?;
        let failed = self.failed("read the schema");
        let rows = session
            .fetch(
                "SELECT c.relname::text AS name, c.relkind::text AS kind FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = ? AND c.relkind IN ('r', 'v', 'm', 'p', 'S')
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
                 ORDER BY c.relkind DESC, c.relname",
                &[Value::Text(&self.schema)],
            )
            .await
            .map_err(&failed)?;
        let functions = session
            .fetch(
                "SELECT p.oid::regprocedure::text AS name FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ?
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e')
                 ORDER BY 1",
                &[Value::Text(&self.schema)],
            )
            .await
            .map_err(&failed)?;
        let types = session
            .fetch(
                "SELECT t.typname::text AS name FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
                 WHERE n.nspname = ? AND t.typtype IN ('e', 'd', 'c') AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = t.typrelid AND c.relkind <> 'c')
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e')
                 ORDER BY 1",
                &[Value::Text(&self.schema)],
            )
            .await
            .map_err(&failed)?;
        // Objects of other catalogs that a schema holds and `DROP TABLE … CASCADE` does not
        // reach; left behind, they made installing the baseline again fail ("already exists").
        let others = session
            .fetch(
                "SELECT k.kind, k.name FROM (
                   SELECT 'COLLATION' AS kind, collname::text AS name, collnamespace AS nsp, oid, 'pg_catalog.pg_collation'::regclass AS catalog FROM pg_catalog.pg_collation
                   UNION ALL SELECT 'TEXT SEARCH CONFIGURATION', cfgname::text, cfgnamespace, oid, 'pg_catalog.pg_ts_config'::regclass FROM pg_catalog.pg_ts_config
                   UNION ALL SELECT 'TEXT SEARCH DICTIONARY', dictname::text, dictnamespace, oid, 'pg_catalog.pg_ts_dict'::regclass FROM pg_catalog.pg_ts_dict
                 ) k JOIN pg_catalog.pg_namespace n ON n.oid = k.nsp
                 WHERE n.nspname = ?
                 AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = k.catalog AND d.objid = k.oid AND d.deptype = 'e')
                 ORDER BY 1, 2",
                &[Value::Text(&self.schema)],
            )
            .await
            .map_err(&failed)?;
        let extensions = session
            .fetch(
                "SELECT e.extname::text AS name FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname = ? ORDER BY 1",
                &[Value::Text(&self.schema)],
            )
            .await
            .map_err(&failed)?;
        self.close(session).await?;
        let mut drop = String::new();
        let mut objects = Vec::new();
        // Sequences come last (`S` sorts below the other kinds): one a column owns is gone
        // with its table by then, and `IF EXISTS` passes over it; one of its own stayed
        // behind, and installing the baseline again failed on it ("already exists").
        for row in &rows {
            let name = row.text("name").map_err(&failed)?;
            let kind = match row.text("kind").map_err(&failed)?.as_str() {
                "v" => "VIEW",
                "m" => "MATERIALIZED VIEW",
                "S" => "SEQUENCE",
                _ => "TABLE",
            };
            drop.push_str(&format!(
                "DROP {kind} IF EXISTS {} CASCADE;\n",
                identifier(Platform::Postgres, &name)
            ));
            if kind != "SEQUENCE" {
                objects.push(name);
            }
        }
        // `ROUTINE`: `DROP FUNCTION` refuses a procedure or an aggregate.
        for row in &functions {
            drop.push_str(&format!(
                "DROP ROUTINE IF EXISTS {} CASCADE;\n",
                row.text("name").map_err(&failed)?
            ));
        }
        let mut type_names = Vec::new();
        for row in &types {
            let name = row.text("name").map_err(&failed)?;
            drop.push_str(&format!(
                "DROP TYPE IF EXISTS {} CASCADE;\n",
                identifier(Platform::Postgres, &name)
            ));
            type_names.push(name);
        }
        for row in &others {
            drop.push_str(&format!(
                "DROP {} IF EXISTS {} CASCADE;\n",
                row.text("kind").map_err(&failed)?,
                identifier(Platform::Postgres, &row.text("name").map_err(&failed)?)
            ));
        }
        // An object named as its schema (a table `billing` in the schema `billing`) makes
        // `billing.id` either a schema's table or a table's column: the names keep their
        // schema then, and the baseline installs into that schema only.
        let shared = objects
            .iter()
            .chain(&type_names)
            .any(|name| *name == self.schema)
            || drop.contains(&format!("ROUTINE IF EXISTS {}(", self.schema))
            || drop.contains(&format!(
                "ROUTINE IF EXISTS {}(",
                identifier(Platform::Postgres, &self.schema)
            ));
        let dumped = if shared {
            dumped
        } else {
            without_schema(&dumped, &self.schema)
        };
        // pg_dump leaves out the extensions when it dumps one schema, though the schema's
        // functions and defaults may call theirs. The baseline creates them where it installs
        // (the first schema of the step's `search_path`), and its DOWNGRADE leaves them, as it
        // leaves their objects: an extension is one per database, and another schema may use it.
        // pg_dump puts functions before the tables their bodies read, and restores with
        // `check_function_bodies` off; without it, a `LANGUAGE sql` body that reads a table
        // fails ("relation does not exist"). `LOCAL`: it ends with the step's transaction.
        let mut create = "SET LOCAL check_function_bodies = false;\n\n".to_owned();
        for row in &extensions {
            create.push_str(&format!(
                "CREATE EXTENSION IF NOT EXISTS {};\n\n",
                identifier(Platform::Postgres, &row.text("name").map_err(&failed)?)
            ));
        }
        create.push_str(&dumped);
        Ok(SchemaScripts {
            create,
            drop,
            objects,
        })
    }

    /// The schema table's statements, less the shadow tables of virtual tables (FTS5's
    /// `docs_data`, `docs_idx`, ...) and what is on them: `CREATE VIRTUAL TABLE` makes them,
    /// and one of their own would fail at install ("already exists"), as its DROP before
    /// the virtual table's would at uninstall.
    async fn sqlite_schema(&self) -> Result<SchemaScripts, SchemaError> {
        let mut session = self.open(Access::Read).await?;
        let failed = self.failed("read the schema");
        let rows = session
            .fetch(
                "SELECT type, name, sql FROM sqlite_master m WHERE sql IS NOT NULL AND name NOT LIKE 'dbpm_%' AND name NOT LIKE 'sqlite_%'
                 AND NOT EXISTS (SELECT 1 FROM pragma_table_list t WHERE t.schema = 'main' AND t.name = m.tbl_name AND t.type = 'shadow')
                 ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 WHEN 'view' THEN 2 ELSE 3 END, rowid",
                &[],
            )
            .await
            .map_err(&failed)?;
        self.close(session).await?;
        let mut create = String::new();
        let mut drops: Vec<String> = Vec::new();
        let mut objects = Vec::new();
        for row in &rows {
            let kind = row.text("type").map_err(&failed)?;
            let name = row.text("name").map_err(&failed)?;
            create.push_str(&row.text("sql").map_err(&failed)?);
            create.push_str(";\n");
            match kind.as_str() {
                "table" | "view" => {
                    drops.push(format!(
                        "DROP {} IF EXISTS {};",
                        kind.to_uppercase(),
                        identifier(Platform::Sqlite, &name)
                    ));
                    objects.push(name);
                }
                "trigger" => drops.push(format!(
                    "DROP TRIGGER IF EXISTS {};",
                    identifier(Platform::Sqlite, &name)
                )),
                _ => {}
            }
        }
        drops.reverse();
        Ok(SchemaScripts {
            create,
            drop: drops.join("\n") + "\n",
            objects,
        })
    }

    async fn mysql_schema(&self) -> Result<SchemaScripts, SchemaError> {
        let mut session = self.open(Access::Read).await?;
        let failed = self.failed("read the schema");
        let rows = session
            .fetch(
                "SELECT CAST(table_name AS CHAR) AS name, CAST(table_type AS CHAR) AS kind FROM information_schema.tables
                 WHERE table_schema = DATABASE() AND table_name NOT LIKE 'dbpm\\_%' ORDER BY table_type, table_name",
                &[],
            )
            .await
            .map_err(&failed)?;
        let mut tables = Vec::new();
        let mut views = Vec::new();
        for row in &rows {
            let name = row.text("name").map_err(&failed)?;
            if row.text("kind").map_err(&failed)? == "VIEW" {
                views.push(name);
            } else {
                tables.push(name);
            }
        }
        let mut create = String::from("SET FOREIGN_KEY_CHECKS = 0;\n");
        for table in &tables {
            let shown = show_create(&mut session, "TABLE", table)
                .await
                .map_err(&failed)?;
            if let Some(row) = shown {
                create.push_str(&row.text("Create Table").map_err(&failed)?);
                create.push_str(";\n");
            }
        }
        create.push_str("SET FOREIGN_KEY_CHECKS = 1;\n");
        // Routines before views, which may call functions; MySQL resolves what a routine's
        // body uses when it runs, so routines need no order among themselves.
        let routines = session
            .fetch(
                "SELECT CAST(routine_name AS CHAR) AS name, CAST(routine_type AS CHAR) AS kind FROM information_schema.routines
                 WHERE routine_schema = DATABASE() ORDER BY routine_type, routine_name",
                &[],
            )
            .await
            .map_err(&failed)?;
        let mut dropped_routines = String::new();
        for row in &routines {
            let name = row.text("name").map_err(&failed)?;
            let kind = row.text("kind").map_err(&failed)?;
            let (kind, column) = if kind == "FUNCTION" {
                ("FUNCTION", "Create Function")
            } else {
                ("PROCEDURE", "Create Procedure")
            };
            let row = show_create(&mut session, kind, &name)
                .await
                .map_err(&failed)?
                .ok_or_else(|| SchemaError::Unreadable(format!("{kind} `{name}`")))?;
            let text = row
                .maybe_text(column)
                .map_err(&failed)?
                .ok_or_else(|| SchemaError::Unreadable(format!("{kind} `{name}`")))?;
            let mode = row.maybe_text("sql_mode").map_err(&failed)?;
            create.push_str(&under_sql_mode(mode.as_deref(), &without_definer(&text)));
            dropped_routines.push_str(&format!(
                "DROP {kind} IF EXISTS {};\n",
                identifier(Platform::Mysql, &name)
            ));
        }
        let mut view_texts = Vec::new();
        for view in views {
            let shown = show_create(&mut session, "VIEW", &view)
                .await
                .map_err(&failed)?;
            if let Some(row) = shown {
                let text = row.text("Create View").map_err(&failed)?;
                view_texts.push((view, without_definer(&text)));
            }
        }
        let view_texts = views_in_creation_order(view_texts);
        for (_, text) in &view_texts {
            create.push_str(text);
            create.push_str(";\n");
        }
        let views: Vec<String> = view_texts.into_iter().map(|(name, _)| name).collect();
        // Triggers last: their bodies may call routines. Rebuilt from their parts, which
        // leaves their definers behind; ordered as they fire.
        let triggers = session
            .fetch(
                "SELECT CAST(trigger_name AS CHAR) AS name, CAST(action_timing AS CHAR) AS timing,
                        CAST(event_manipulation AS CHAR) AS event, CAST(event_object_table AS CHAR) AS tab,
                        CAST(action_statement AS CHAR) AS body, CAST(sql_mode AS CHAR) AS mode
                 FROM information_schema.triggers
                 WHERE trigger_schema = DATABASE() AND event_object_table NOT LIKE 'dbpm\\_%'
                 ORDER BY event_object_table, action_timing, event_manipulation, action_order",
                &[],
            )
            .await
            .map_err(&failed)?;
        for row in &triggers {
            let part = |column: &str| row.text(column).map_err(&failed);
            let trigger = format!(
                "CREATE TRIGGER {} {} {} ON {} FOR EACH ROW {}",
                identifier(Platform::Mysql, &part("name")?),
                part("timing")?,
                part("event")?,
                identifier(Platform::Mysql, &part("tab")?),
                part("body")?
            );
            let mode = row.maybe_text("mode").map_err(&failed)?;
            create.push_str(&under_sql_mode(mode.as_deref(), &trigger));
        }
        // Events too (their bodies may call routines): they are objects of the database, as
        // routines are, and a baseline without them left its scheduled jobs behind.
        let events = session
            .fetch(
                "SELECT CAST(event_name AS CHAR) AS name FROM information_schema.events
                 WHERE event_schema = DATABASE() ORDER BY event_name",
                &[],
            )
            .await
            .map_err(&failed)?;
        for row in &events {
            let name = row.text("name").map_err(&failed)?;
            let unreadable = || SchemaError::Unreadable(format!("EVENT `{name}`"));
            let row = show_create(&mut session, "EVENT", &name)
                .await
                .map_err(&failed)?
                .ok_or_else(unreadable)?;
            let text = row
                .maybe_text("Create Event")
                .map_err(&failed)?
                .ok_or_else(unreadable)?;
            let mode = row.maybe_text("sql_mode").map_err(&failed)?;
            create.push_str(&under_sql_mode(mode.as_deref(), &without_definer(&text)));
            dropped_routines.push_str(&format!(
                "DROP EVENT IF EXISTS {};\n",
                identifier(Platform::Mysql, &name)
            ));
        }
        self.close(session).await?;
        // A table's triggers go with it.
        let mut drop = String::new();
        for view in views.iter().rev() {
            drop.push_str(&format!(
                "DROP VIEW IF EXISTS {};\n",
                identifier(Platform::Mysql, view)
            ));
        }
        drop.push_str(&dropped_routines);
        drop.push_str("SET FOREIGN_KEY_CHECKS = 0;\n");
        for table in &tables {
            drop.push_str(&format!(
                "DROP TABLE IF EXISTS {};\n",
                identifier(Platform::Mysql, table)
            ));
        }
        drop.push_str("SET FOREIGN_KEY_CHECKS = 1;\n");
        let mut objects = tables;
        objects.extend(views);
        Ok(SchemaScripts {
            create,
            drop,
            objects,
        })
    }
}

/// The statements of a plain pg_dump, without psql's commands (`\\connect`, `\\restrict`),
/// comments, session settings (a step's connection is reused) and the schema's own creation.
/// Only what stands between statements is dropped: a function body keeps every line, also
/// one that opens like those (`SET n = n + 1` of an UPDATE).
fn dump_statements(dump: &str) -> String {
    const SESSION: [&str; 3] = ["SET ", "SELECT pg_catalog.set_config", "CREATE SCHEMA"];
    let mut kept = String::new();
    let mut at = 0;
    while at < dump.len() {
        let rest = &dump[at..];
        let line = rest.find('\n').map_or(rest, |n| &rest[..=n]);
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('\\') || trimmed.starts_with("--") {
            at += line.len();
            continue;
        }
        let end = match statements::scan(rest, Platform::Postgres).next() {
            Some(statement) => rest[statement.span.end..]
                .find(';')
                .map_or(rest.len(), |n| statement.span.end + n + 1),
            None => rest.len(),
        };
        if !SESSION.iter().any(|start| trimmed.starts_with(start)) {
            kept.push_str(rest[..end].trim());
            kept.push_str("\n\n");
        }
        at += end;
    }
    kept.truncate(kept.trim_end().len());
    kept.push('\n');
    kept
}

/// pg_dump's `sql` without its qualification by `schema` of the names it creates and reads
/// (`CREATE TABLE public.t`, `REFERENCES public.u`, `nextval('public.t_id_seq'::regclass)`),
/// so that the baseline installs into whichever schema is the target, as every package does
/// (its scripts run with the target schema first in their `search_path`). Function bodies in
/// dollar quotes, other strings and comments are left as they are: they are the user's text.
fn without_schema(sql: &str, schema: &str) -> String {
    let quoted = format!("{}.", identifier(Platform::Postgres, schema));
    // pg_dump writes a name bare when it needs no quotes.
    let simple = schema
        .bytes()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == b'_')
        && schema
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_' || c == b'$');
    let bare = simple.then(|| format!("{schema}."));
    // The length of the qualifier that `sql` has at `at`, quoted as `quoted` or bare.
    let qualifier_at = |at: usize, quoted: &str| -> Option<usize> {
        let rest = &sql[at..];
        if rest.starts_with(quoted) {
            return Some(quoted.len());
        }
        bare.as_deref()
            .filter(|bare| rest.starts_with(bare))
            .map(str::len)
    };
    let prefix_at = |at: usize| qualifier_at(at, &quoted);
    // Inside a string literal a quote in the name is doubled.
    let in_literal = quoted.replace('\'', "''");
    let literal_prefix_at = |at: usize| qualifier_at(at, &in_literal);
    let bytes = sql.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80;
    let mut out = String::with_capacity(sql.len());
    let mut at = 0;
    while at < bytes.len() {
        let after_word = at > 0 && (word(bytes[at - 1]) || bytes[at - 1] == b'.');
        let end = match bytes[at] {
            b'\'' => {
                let escapes = at > 0 && bytes[at - 1].eq_ignore_ascii_case(&b'e');
                let end = string_end(bytes, at, escapes);
                // A name in a `'…'::regclass` literal is resolved like any other.
                if sql[end..].starts_with("::regclass") {
                    if let Some(len) = literal_prefix_at(at + 1) {
                        out.push('\'');
                        out.push_str(&sql[at + 1 + len..end]);
                        at = end;
                        continue;
                    }
                }
                end
            }
            b'$' if !after_word => match dollar_tag(&sql[at..]) {
                Some(tag) => sql[at + tag.len()..]
                    .find(tag)
                    .map_or(bytes.len(), |close| at + tag.len() + close + tag.len()),
                None => at + 1,
            },
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                sql[at..].find('\n').map_or(bytes.len(), |end| at + end + 1)
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => sql[at + 2..]
                .find("*/")
                .map_or(bytes.len(), |end| at + 2 + end + 2),
            b'"' | b'a'..=b'z' | b'_' if !after_word => {
                if let Some(len) = prefix_at(at) {
                    at += len;
                    continue;
                }
                if bytes[at] == b'"' {
                    string_end(bytes, at, false)
                } else {
                    let mut end = at + 1;
                    while end < bytes.len() && word(bytes[end]) {
                        end += 1;
                    }
                    end
                }
            }
            _ => at + sql[at..].chars().next().map_or(1, char::len_utf8),
        };
        out.push_str(&sql[at..end]);
        at = end;
    }
    out
}

/// Just past the quote that closes the one at `start` (`'` or `"`; doubled, it stays inside;
/// with `escapes`, a backslash escapes the character after it).
fn string_end(bytes: &[u8], start: usize, escapes: bool) -> usize {
    let quote = bytes[start];
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if escapes => at += 2,
            c if c == quote && bytes.get(at + 1) == Some(&quote) => at += 2,
            c if c == quote => return at + 1,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// The dollar-quote tag (`$$`, `$body$`) that `text` starts with, if it starts with one.
fn dollar_tag(text: &str) -> Option<&str> {
    let inner = text[1..].find('$')?;
    let tag = &text[1..=inner];
    let valid = tag.bytes().enumerate().all(|(i, c)| {
        c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 || (i > 0 && c.is_ascii_digit())
    });
    valid.then(|| &text[..inner + 2])
}

/// The row of MySQL's `SHOW CREATE {kind} name`, or `None` when the object went away.
async fn show_create(
    session: &mut Session,
    kind: &str,
    name: &str,
) -> Result<Option<Row>, sqlx::Error> {
    let sql = format!("SHOW CREATE {kind} {}", identifier(Platform::Mysql, name));
    Ok(session.fetch_verbatim(&sql).await?.into_iter().next())
}

/// MySQL views, each after the views it reads (`SHOW CREATE VIEW` names them as quoted
/// identifiers; a column alias `AS `name`` is no read), otherwise by name. Views that read
/// each other in a circle (which MySQL cannot create anyway) keep their order by name.
fn views_in_creation_order(views: Vec<(String, String)>) -> Vec<(String, String)> {
    let quoted: Vec<String> = views
        .iter()
        .map(|(name, _)| identifier(Platform::Mysql, name))
        .collect();
    // What each view reads, from its body after `AS` (its own name in the head is no read).
    let reads: Vec<Vec<usize>> = views
        .iter()
        .enumerate()
        .map(|(at, (_, text))| {
            let body = text.find(" AS ").map_or(text.as_str(), |i| &text[i..]);
            (0..views.len())
                .filter(|&other| {
                    other != at
                        && body
                            .match_indices(quoted[other].as_str())
                            .any(|(i, _)| !body[..i].ends_with("AS "))
                })
                .collect()
        })
        .collect();
    let mut placed = vec![false; views.len()];
    let mut order = Vec::with_capacity(views.len());
    while let Some(first_left) = (0..views.len()).find(|&at| !placed[at]) {
        let next = (first_left..views.len())
            .find(|&at| !placed[at] && reads[at].iter().all(|&other| placed[other]))
            .unwrap_or(first_left);
        placed[next] = true;
        order.push(next);
    }
    let mut views: Vec<Option<(String, String)>> = views.into_iter().map(Some).collect();
    order
        .into_iter()
        .filter_map(|at| views[at].take())
        .collect()
}

/// A MySQL routine or trigger `create` statement, run under the `sql_mode` it was created
/// with (which decides how its body parses and behaves: `ANSI_QUOTES`, `PIPES_AS_CONCAT`,
/// ...), the session's own mode restored after it.
fn under_sql_mode(mode: Option<&str>, create: &str) -> String {
    match mode {
        Some(mode) => format!(
            "SET @dbpm_sql_mode = @@SESSION.sql_mode;\nSET SESSION sql_mode = '{}';\n{create};\nSET SESSION sql_mode = @dbpm_sql_mode;\n",
            mode.replace('\\', "\\\\").replace('\'', "''")
        ),
        None => format!("{create};\n"),
    }
}

/// A MySQL `CREATE` statement without its `DEFINER=user@host` clause: definers belong to the
/// database it came from, not to the one it goes to (the creating user becomes the definer).
fn without_definer(text: &str) -> String {
    let Some(start) = text.find("DEFINER=") else {
        return text.to_owned();
    };
    // `user`@`host`: two quoted parts joined by `@`, then a space.
    let rest = &text[start + "DEFINER=".len()..];
    let mut end = 0;
    let mut quoted = false;
    for (at, c) in rest.char_indices() {
        match c {
            '`' => quoted = !quoted,
            ' ' if !quoted => {
                end = at;
                break;
            }
            _ => {}
        }
    }
    if end == 0 {
        return text.to_owned();
    }
    format!("{}{}", &text[..start], rest[end..].trim_start())
}

/// `name` as an SQL identifier on `platform`: in backticks on MySQL/MariaDB, in double quotes
/// elsewhere, the quote doubled inside, so no object name can end it early.
pub fn identifier(platform: Platform, name: &str) -> String {
    let quote = if platform == Platform::Mysql {
        '`'
    } else {
        '"'
    };
    let doubled = format!("{quote}{quote}");
    format!("{quote}{}{quote}", name.replace(quote, &doubled))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dump_keeps_its_statements_whole_and_drops_what_stands_between() {
        let dump = "\\restrict abc\n--\n-- PostgreSQL database dump\n--\nSET statement_timeout = 0;\nSELECT pg_catalog.set_config('search_path', '', false);\nCREATE SCHEMA app;\n\nCREATE FUNCTION app.f() RETURNS void\n    LANGUAGE plpgsql\n    AS $$\nBEGIN\n  UPDATE t\n  SET n = 1;\n-- inside\n\\d\nEND\n$$;\n\n\nCREATE TABLE app.t (\n    n integer\n);\n\\unrestrict abc\n";
        assert_eq!(
            dump_statements(dump),
            "CREATE FUNCTION app.f() RETURNS void\n    LANGUAGE plpgsql\n    AS $$\nBEGIN\n  UPDATE t\n  SET n = 1;\n-- inside\n\\d\nEND\n$$;\n\nCREATE TABLE app.t (\n    n integer\n);\n"
        );
    }

    #[test]
    fn a_dump_loses_its_schema_but_not_the_users_text() {
        let dump = "CREATE TABLE public.t (id integer DEFAULT nextval('public.t_id_seq'::regclass), n text DEFAULT 'public.x', m text DEFAULT E'it\\'s public.y');\n\
            ALTER TABLE ONLY public.t ADD CONSTRAINT t_u FOREIGN KEY (id) REFERENCES public.u(id);\n\
            CREATE FUNCTION public.f() RETURNS integer LANGUAGE sql AS $_$SELECT count(*) FROM public.t$_$;\n\
            CREATE VIEW public.v AS SELECT t.id FROM public.t, xpublic.t, \"public\".w;\n";
        assert_eq!(
            without_schema(dump, "public"),
            "CREATE TABLE t (id integer DEFAULT nextval('t_id_seq'::regclass), n text DEFAULT 'public.x', m text DEFAULT E'it\\'s public.y');\n\
            ALTER TABLE ONLY t ADD CONSTRAINT t_u FOREIGN KEY (id) REFERENCES u(id);\n\
            CREATE FUNCTION f() RETURNS integer LANGUAGE sql AS $_$SELECT count(*) FROM public.t$_$;\n\
            CREATE VIEW v AS SELECT t.id FROM t, xpublic.t, w;\n"
        );
        let quoted =
            "CREATE TABLE \"My Schema\".t (x integer);\nCREATE TABLE other.t (x integer);\n";
        assert_eq!(
            without_schema(quoted, "My Schema"),
            "CREATE TABLE t (x integer);\nCREATE TABLE other.t (x integer);\n"
        );
        let apostrophe = "CREATE TABLE \"o'brien\".t (id integer DEFAULT nextval('\"o''brien\".t_id_seq'::regclass));\n";
        assert_eq!(
            without_schema(apostrophe, "o'brien"),
            "CREATE TABLE t (id integer DEFAULT nextval('t_id_seq'::regclass));\n"
        );
        // Letters beyond ASCII outside quotes (it panicked on them).
        assert_eq!(without_schema("Xé public.t ü", "public"), "Xé t ü");
    }

    #[test]
    fn an_identifier_cannot_end_its_own_quotes() {
        assert_eq!(identifier(Platform::Mysql, "a`b"), "`a``b`");
        assert_eq!(
            identifier(Platform::Postgres, "Ten \"ant"),
            "\"Ten \"\"ant\""
        );
        assert_eq!(identifier(Platform::Sqlite, "plain"), "\"plain\"");
    }

    #[test]
    fn views_come_after_the_views_they_read() {
        let view = |name: &str, body: &str| {
            (
                name.to_owned(),
                format!("CREATE ALGORITHM=UNDEFINED SQL SECURITY DEFINER VIEW `{name}` AS {body}"),
            )
        };
        let names = |views: Vec<(String, String)>| -> Vec<String> {
            views_in_creation_order(views)
                .into_iter()
                .map(|(name, _)| name)
                .collect()
        };
        // By name where nothing reads another view; `a_top` reads `b_mid`, which reads `c_low`.
        let views = vec![
            view("a_top", "select `b_mid`.`id` AS `id` from `b_mid`"),
            view("b_mid", "select `c_low`.`id` AS `id` from `c_low`"),
            view("c_low", "select `t`.`id` AS `id` from `t`"),
            view("d_free", "select 1 AS `one`"),
        ];
        assert_eq!(names(views), ["c_low", "b_mid", "a_top", "d_free"]);
        // A column alias named like a view is no read of it.
        let aliased = vec![
            view("a_named", "select `b_sum`.`a_named` AS `x` from `b_sum`"),
            view("b_sum", "select sum(`t`.`n`) AS `a_named` from `t`"),
        ];
        assert_eq!(names(aliased), ["b_sum", "a_named"]);
        // A circle keeps the order by name rather than losing a view.
        let circle = vec![
            view("x", "select `y`.`id` AS `id` from `y`"),
            view("y", "select `x`.`id` AS `id` from `x`"),
        ];
        assert_eq!(names(circle), ["x", "y"]);
    }
}
