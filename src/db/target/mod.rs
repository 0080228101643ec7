//! A target database and dbpm's own state in it (DESIGN §5.2, §7), on PostgreSQL,
//! MySQL/MariaDB and SQLite: creating and migrating the state tables, reading the installed
//! state (never writing: planning must not change a target) and replacing it.
//!
//! On PostgreSQL the state lives in the `dbpm` schema, every row keyed by the target schema,
//! so several target schemas of one database each have their own state; on MySQL/MariaDB and
//! SQLite it lives in `dbpm_*` tables of the target database itself. Credentials never reach
//! a message or a table: a target shows itself as its redacted URL (plus `#schema` on
//! PostgreSQL).
//!
//! Each operation opens its own connection and closes it when done; none is pooled.

mod chunks;
mod dialect;
mod held_up;
mod installed;
mod run;
mod schema;
mod session;
mod tables;
mod wait;

use std::fmt;
use std::time::Duration;

pub use held_up::{HeldUp, Holder};
pub use installed::TEXT_BYTES_PER_INSERT;
pub use run::{Backend, JournalRow, RunLock, RunOutcome, RunRecord, ScriptFailed, StepSession};
pub use schema::{identifier, SchemaError, SchemaScripts};
use session::{is_denied, is_newer_than_snapshot, missing_table, Access, Connector, Session};
pub use tables::STATE_VERSION;
pub use wait::{LockWait, WaitedLock, ANNOUNCE_AFTER};

use super::DbUrl;
use crate::platform::Platform;
use crate::state::StateError;

/// The PostgreSQL target schema when none is given.
pub const DEFAULT_SCHEMA: &str = "public";

/// The longest PostgreSQL identifier, in bytes.
const MAX_SCHEMA_LEN: usize = 63;

/// A database dbpm applies plans to, and whose installed state it keeps there.
#[derive(Clone)]
pub struct Target {
    url: DbUrl,
    /// The target schema on PostgreSQL; empty elsewhere, where the state's key is always "".
    schema: String,
    connector: Connector,
    /// Who is told of a wait for a lock (see [`Target::announcing_waits`]).
    waits: Option<wait::WaitNotice>,
    /// A SQLite URL that opens its file read-only (`mode=ro`, `immutable=true`): dbpm then
    /// refuses to write there rather than write anyway.
    read_only: bool,
    /// How long a wait for another's lock on dbpm's state (or, on SQLite, on the file) lasts
    /// before dbpm gives up (see [`Target::waiting_at_most`]).
    lock_wait: Duration,
    /// How long a statement of a step may wait for a lock another session holds, each try
    /// (see [`Target::limiting_step_lock_waits`]); `None` leaves it to the server.
    step_lock_wait: Option<Duration>,
}

/// Why a target or its state could not be used.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum TargetError {
    /// The driver refused the URL.
    #[error("`{url}` is not a usable target URL")]
    #[diagnostic(
        code(dbpm::target::bad_url),
        help("use postgres://user@host:5432/db, mysql://user@host:3306/db or sqlite://path/to/file.db")
    )]
    BadUrl {
        /// The URL, redacted.
        url: String,
        /// What the driver said.
        #[source]
        source: crate::db::DriverError,
    },
    /// A write to a SQLite target whose URL opens it read-only.
    #[error("`{target}` is opened read-only (`mode=ro` or `immutable=true` in its URL), and this command writes to it")]
    #[diagnostic(
        code(dbpm::target::read_only),
        help("leave the parameter out to let dbpm write there; commands that only read (`status`, `history`, `plan --db`, `state export`) take the URL as it is")
    )]
    ReadOnly {
        /// The target's label.
        target: String,
    },
    /// `--schema` on a platform without target schemas.
    #[error("`{url}` is a {platform} database, which has no target schemas")]
    #[diagnostic(
        code(dbpm::target::schema_not_supported),
        help("only PostgreSQL targets take a schema; on {platform} the URL names the target")
    )]
    SchemaNotSupported {
        /// The URL, redacted.
        url: String,
        /// Its platform.
        platform: Platform,
    },
    /// A PostgreSQL schema name that cannot be one.
    #[error("`{schema}` is not a PostgreSQL schema name")]
    #[diagnostic(
        code(dbpm::target::bad_schema),
        help("a schema name is 1 to {MAX_SCHEMA_LEN} bytes long")
    )]
    BadSchema {
        /// The name given.
        schema: String,
    },
    /// A URL without a database (or, on SQLite, a file).
    #[error("`{url}` names no database")]
    #[diagnostic(
        code(dbpm::target::no_database),
        help("name the target database in the URL: postgres://user@host:5432/DATABASE, mysql://user@host:3306/DATABASE or sqlite://path/to/FILE.db")
    )]
    NoDatabase {
        /// The URL, redacted.
        url: String,
    },
    /// A PostgreSQL target schema that does not exist, where scripts would run.
    #[error("`{target}` has no schema `{schema}`")]
    #[diagnostic(
        code(dbpm::target::no_such_schema),
        help("scripts run with the target schema first in their search_path, and dbpm does not create it: check --schema, or create it first (CREATE SCHEMA {quoted})")
    )]
    NoSuchSchema {
        /// The target's label.
        target: String,
        /// The schema given.
        schema: String,
        /// The schema as an SQL identifier.
        quoted: String,
    },
    /// Connecting failed.
    #[error("failed to connect to `{target}`")]
    #[diagnostic(code(dbpm::target::connect), help("{hint}"))]
    Connect {
        /// The target's label.
        target: String,
        /// What to check, for the target's platform.
        hint: &'static str,
        /// What the driver said.
        #[source]
        source: crate::db::DriverError,
    },
    /// A statement on the state failed.
    #[error("failed to {doing} in `{target}`")]
    #[diagnostic(code(dbpm::target::database))]
    Database {
        /// The target's label.
        target: String,
        /// What dbpm was doing.
        doing: &'static str,
        /// What the database said.
        #[source]
        source: crate::db::DriverError,
    },
    /// The target's user may not read or write dbpm's state.
    #[error("the user of `{target}` may not {doing}")]
    #[diagnostic(
        code(dbpm::target::denied),
        help("grant the user dbpm's tables (on PostgreSQL USAGE on the `dbpm` schema and its tables, elsewhere the `dbpm_` tables): SELECT to read the state and plan, and INSERT, UPDATE and DELETE too to apply")
    )]
    Denied {
        /// The target's label.
        target: String,
        /// What dbpm was doing.
        doing: &'static str,
        /// What the database said.
        #[source]
        source: crate::db::DriverError,
    },
    /// Another dbpm held the state lock too long.
    #[error("another dbpm has been writing dbpm's state in `{target}` for {seconds} s")]
    #[diagnostic(
        code(dbpm::target::state_locked),
        help(
            "try again when it is done; a crashed dbpm releases the lock when its connection ends"
        )
    )]
    StateLocked {
        /// The target's label.
        target: String,
        /// How long dbpm waited.
        seconds: u64,
    },
    /// Another connection held a SQLite file's write lock too long.
    #[error("`{target}` stayed locked by another connection writing to it for {seconds} s")]
    #[diagnostic(
        code(dbpm::target::sqlite_busy),
        help(
            "a program (or another dbpm) is writing to this SQLite file; try again when it is done (a program that ended, however it ended, released the lock)"
        )
    )]
    SqliteBusy {
        /// The target's label.
        target: String,
        /// How long dbpm waited.
        seconds: u64,
    },
    /// Another apply holds the target's run lock.
    #[error("`{target}` is locked by another dbpm run (waited {seconds} s)")]
    #[diagnostic(
        code(dbpm::target::locked),
        help("wait for the other run to finish, or give `--lock-timeout` more seconds; the lock dies with its session, so a crashed run never leaves it behind")
    )]
    Locked {
        /// The target's label.
        target: String,
        /// How long dbpm waited.
        seconds: u64,
    },
    /// The session holding the run lock ended while the run went on.
    #[error("lost the run lock of `{target}`: the connection that held it ended")]
    #[diagnostic(
        code(dbpm::target::lock_lost),
        help("the run stopped at a checkpoint, since another dbpm could now take the lock; run the same command again to resume it. A connection may be ended from outside, or closed by the server or a proxy")
    )]
    LockLost {
        /// The target's label.
        target: String,
    },
    /// The lock file beside a SQLite database could not be used.
    #[error("failed to lock `{path}`")]
    #[diagnostic(
        code(dbpm::target::lock_file),
        help("dbpm takes a SQLite database's run lock on this file beside it, so this user must be able to create and write a file in the database's directory, as SQLite must for its journal; nothing ran")
    )]
    LockFile {
        /// The lock file.
        path: std::path::PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A SQLite target's file that SQLite cannot read as a database.
    #[error("`{path}` is not a SQLite database")]
    #[diagnostic(
        code(dbpm::target::not_sqlite),
        help("the target URL names a file that SQLite cannot read as a database: another kind of file, or an encrypted or damaged database. Check the path in the URL (sqlite://path/to/file.db); dbpm changed nothing in the file")
    )]
    NotSqlite {
        /// The file.
        path: std::path::PathBuf,
        /// What SQLite said.
        #[source]
        source: crate::db::DriverError,
    },
    /// The state was written by a newer dbpm.
    #[error(
        "dbpm's state in `{target}` has layout version {found} (written by {by}); this dbpm knows up to {known}"
    )]
    #[diagnostic(
        code(dbpm::target::state_too_new),
        help("use a dbpm at least as new as the one that wrote it")
    )]
    StateTooNew {
        /// The target's label.
        target: String,
        /// The version found.
        found: i64,
        /// The dbpm that wrote it.
        by: String,
        /// The version this dbpm knows.
        known: i64,
    },
    /// The state has an older layout, which reading does not upgrade.
    #[error("dbpm's state in `{target}` has layout version {found}; this dbpm reads layouts from {known} on")]
    #[diagnostic(
        code(dbpm::target::state_outdated),
        help("a command that writes to the target (`dbpm apply`) upgrades the layout first")
    )]
    StateOutdated {
        /// The target's label.
        target: String,
        /// The version found.
        found: i64,
        /// The version this dbpm reads.
        known: i64,
    },
    /// The stored state does not make sense.
    #[error("dbpm's state in `{target}` is corrupt: {reason}")]
    #[diagnostic(
        code(dbpm::target::state_corrupt),
        help("the dbpm tables were edited by hand; restore them from a backup")
    )]
    StateCorrupt {
        /// The target's label.
        target: String,
        /// What is wrong.
        reason: String,
    },
    /// A state to record belongs to another platform.
    #[error("cannot record a {found} state in `{target}`, a {expected} database")]
    #[diagnostic(code(dbpm::target::platform_mismatch))]
    PlatformMismatch {
        /// The target's label.
        target: String,
        /// The target's platform.
        expected: Platform,
        /// The state's platform.
        found: Platform,
    },
    /// A state to record is incomplete.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] StateError),
}

impl Target {
    /// A target from its URL and, on PostgreSQL, its schema (default [`DEFAULT_SCHEMA`]).
    /// Parses only; nothing connects until an operation needs to.
    pub fn new(url: DbUrl, schema: Option<String>) -> Result<Target, TargetError> {
        let connector = Connector::parse(&url).map_err(|source| TargetError::BadUrl {
            url: url.redacted(),
            source: crate::db::DriverError(source),
        })?;
        let schema = match (url.platform(), schema) {
            (Platform::Postgres, schema) => {
                let schema = schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned());
                if schema.is_empty() || schema.len() > MAX_SCHEMA_LEN {
                    return Err(TargetError::BadSchema { schema });
                }
                schema
            }
            (platform, Some(_)) => {
                return Err(TargetError::SchemaNotSupported {
                    url: url.redacted(),
                    platform,
                })
            }
            (_, None) => String::new(),
        };
        // A PostgreSQL URL without a database would reach the one named after the user (often
        // the `postgres` maintenance database) without a word; `sqlite://` names no file.
        let named = match url.platform() {
            Platform::Sqlite => connector
                .sqlite_file()
                .is_some_and(|file| !file.as_os_str().is_empty()),
            Platform::Postgres | Platform::Mysql => connector.database().is_some(),
        };
        if !named {
            return Err(TargetError::NoDatabase {
                url: url.redacted(),
            });
        }
        let read_only = url.platform() == Platform::Sqlite
            && (url.parameter("mode") == Some("ro") || url.parameter("immutable") == Some("true"));
        Ok(Target {
            url,
            schema,
            read_only,
            connector,
            waits: None,
            lock_wait: Duration::from_secs(dialect::LOCK_WAIT_SECONDS),
            step_lock_wait: None,
        })
    }

    /// The same target, giving up after `wait` (instead of a minute) when another dbpm holds
    /// the lock of its state, or another connection a SQLite file's write lock.
    pub fn waiting_at_most(self, wait: Duration) -> Target {
        Target {
            connector: self.connector.waiting_at_most(wait),
            lock_wait: wait,
            ..self
        }
    }

    /// The same target, whose steps (their scripts, compensations and checks) give up a
    /// statement that waited `wait` for a lock another session holds (PostgreSQL's
    /// `lock_timeout`, MySQL/MariaDB's `lock_wait_timeout` and `innodb_lock_wait_timeout`,
    /// in whole seconds there), and try the step again; `None` waits as the server says.
    /// SQLite has no locks but the file's, which the run holds.
    pub fn limiting_step_lock_waits(self, wait: Option<Duration>) -> Target {
        Target {
            step_lock_wait: wait,
            ..self
        }
    }

    /// The target's platform.
    pub fn platform(&self) -> Platform {
        self.url.platform()
    }

    /// The target's URL.
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// The target schema, on PostgreSQL.
    pub fn schema(&self) -> Option<&str> {
        (self.platform() == Platform::Postgres).then_some(self.schema.as_str())
    }

    /// The database of a MySQL/MariaDB target.
    fn mysql_database(&self) -> Option<&str> {
        (self.platform() == Platform::Mysql)
            .then(|| self.connector.database())
            .flatten()
    }

    /// The SQLite file of the target when there is none yet (a first apply creates it).
    pub fn missing_file(&self) -> Option<&std::path::Path> {
        self.connector.sqlite_file().filter(|file| !file.exists())
    }

    /// How the target shows itself: its redacted URL, plus `#schema` on PostgreSQL.
    pub fn label(&self) -> String {
        match self.schema() {
            Some(schema) => format!("{}#{schema}", self.url.redacted()),
            None => self.url.redacted(),
        }
    }

    /// Creates dbpm's state tables on first use and migrates them forward, under the state
    /// lock, so concurrent dbpm processes may all call it. A state newer than this dbpm knows
    /// is an error.
    pub async fn ensure_state(&self) -> Result<(), TargetError> {
        let mut session = self.open(Access::Write).await?;
        self.begin_locked_write(&mut session).await?;
        let doing = "create dbpm's state tables";
        // A damaged state is refused before any DDL, which MySQL would commit at once. A
        // state that is there needs none: on PostgreSQL, `CREATE SCHEMA IF NOT EXISTS` asks
        // for the right to create schemas even when it exists, which a deploy role that owns
        // only dbpm's schema and its own lacks.
        if !self.has_state(&mut session).await? {
            // A schema made for dbpm by an administrator is used as it is: `CREATE SCHEMA
            // IF NOT EXISTS` would ask for the right to create schemas all the same.
            let schema_made = self.platform() != Platform::Postgres
                || !(session.fetch(
                    "SELECT nspname FROM pg_namespace WHERE nspname = 'dbpm'",
                    &[],
                ))
                .await
                .map_err(self.failed(doing))?
                .is_empty();
            if !schema_made {
                (session.run(tables::PG_STATE_SCHEMA).await).map_err(self.failed(doing))?;
            }
            (session.run(tables::BOOTSTRAP).await).map_err(self.failed(doing))?;
        }
        let found = self.state_version(&mut session).await?;
        for migration in tables::MIGRATIONS
            .iter()
            .filter(|m| m.version > found.unwrap_or(0))
        {
            for statement in migration.statements {
                session.run(statement).await.map_err(self.failed(doing))?;
            }
            session
                .execute(
                    tables::RECORD_MIGRATION,
                    &[
                        session::Value::Int(migration.version),
                        session::Value::Text(migration.description),
                        session::Value::Text(tables::APPLIED_BY),
                    ],
                )
                .await
                .map_err(self.failed(doing))?;
        }
        self.check_tables(&mut session).await?;
        session
            .commit_and_unlock()
            .await
            .map_err(self.failed(doing))?;
        self.close(session).await
    }

    /// Refuses a state that lacks one of its tables (dropped by hand, or left out of a
    /// restore), which the migrations, going by the recorded version, do not make again: a
    /// run would be recorded, then fail half-way and stay unfinished, and `status` with it.
    async fn check_tables(&self, session: &mut Session) -> Result<(), TargetError> {
        let probe = dialect::TABLES
            .iter()
            .map(|table| format!("SELECT 1 AS found FROM {{{table}}} WHERE 1 = 0"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        match session.fetch(&probe, &[]).await {
            Ok(_) => Ok(()),
            Err(err) => Err(self.read_failed("read dbpm's state tables")(err)),
        }
    }

    /// How a read of dbpm's own tables failed, as [`Target::failed`] says it, but for a table
    /// that is not there, a damaged state (dropped by hand, or left out of a restore), and for
    /// one the user may not read, a missing grant.
    fn read_failed(&self, doing: &'static str) -> impl Fn(sqlx::Error) -> TargetError + '_ {
        let failed = self.failed(doing);
        move |source| {
            if let Some(message) = missing_table(&source) {
                return self.corrupt(format!("a table of it is missing ({message})"));
            }
            if is_denied(&source) {
                return TargetError::Denied {
                    target: self.label(),
                    doing,
                    source: crate::db::DriverError(source),
                };
            }
            failed(source)
        }
    }

    /// Opens a session, or says which target could not be reached. On PostgreSQL the target
    /// schema comes first in its `search_path`, before the connection's own (where extensions
    /// usually live): what a script creates lands in the target schema, and its unqualified
    /// names find that schema's objects first (dbpm's own tables are always qualified).
    async fn open(&self, access: Access) -> Result<Session, TargetError> {
        if self.read_only && access == Access::Write {
            return Err(TargetError::ReadOnly {
                target: self.label(),
            });
        }
        let mut session =
            self.connector
                .open(access)
                .await
                .map_err(|source| TargetError::Connect {
                    target: self.label(),
                    hint: match self.platform() {
                        Platform::Sqlite => "check that the file's directory exists and that this user may write there (and read the file, when it exists)",
                        Platform::Postgres | Platform::Mysql => "check that the database server runs, that the URL is right, and that its user may log in",
                    },
                    source: crate::db::DriverError(source),
                })?;
        self.prepare_session(&mut session).await?;
        Ok(session)
    }

    /// Sets a new session up: on PostgreSQL the target schema first in its `search_path`; on
    /// MySQL/MariaDB its `sql_mode` without the `IGNORE_SPACE` that the driver's handshake
    /// asks for (it makes function names such as `now` reserved words), as the mysql client
    /// has it; on SQLite a read of the file's header, which fails on a file that is no
    /// database.
    async fn prepare_session(&self, session: &mut Session) -> Result<(), TargetError> {
        match self.platform() {
            Platform::Postgres => {
                session
                    .run_verbatim(&self.pg_search_path())
                    .await
                    .map_err(self.failed("set the search path to the target schema"))?;
            }
            Platform::Mysql => {
                session
                    .run("SET SESSION sql_mode = TRIM(BOTH ',' FROM REPLACE(CONCAT(',', @@SESSION.sql_mode, ','), ',IGNORE_SPACE,', ','))")
                    .await
                    .map_err(self.failed("set the session's sql_mode"))?;
            }
            Platform::Sqlite => {
                // Connecting reads nothing of the file: a file that is no database is found
                // here, before anything (a run's lock file beside it) is made for it.
                // It waits while another connection writes (holds the file's exclusive lock).
                self.waiting_for(
                    WaitedLock::SqliteFile,
                    self.lock_wait,
                    session.run("PRAGMA schema_version"),
                )
                .await
                .map_err(|err| {
                    if session::is_busy(&err) {
                        self.sqlite_busy()
                    } else {
                        self.failed("read the database")(err)
                    }
                })?;
            }
        }
        Ok(())
    }

    /// The statement that puts the target schema first in a PostgreSQL session's
    /// `search_path`, before the connection's own.
    fn pg_search_path(&self) -> String {
        format!(
            "SELECT set_config('search_path', quote_ident({}) || ', ' || current_setting('search_path'), false)",
            dialect::pg_literal(&self.schema)
        )
    }

    /// Closes a session after a successful operation.
    async fn close(&self, session: Session) -> Result<(), TargetError> {
        session
            .close()
            .await
            .map_err(self.failed("close the connection"))
    }

    /// Takes the state lock and begins a transaction.
    async fn begin_locked_write(&self, session: &mut Session) -> Result<(), TargetError> {
        let lock = match self.platform() {
            Platform::Postgres | Platform::Mysql => WaitedLock::State,
            Platform::Sqlite => WaitedLock::SqliteFile,
        };
        let locked = self
            .waiting_for(
                lock,
                self.lock_wait,
                session.begin_locked_write(self.lock_wait),
            )
            .await
            .map_err(self.failed("lock dbpm's state"))?;
        match (locked, self.platform()) {
            (true, _) => Ok(()),
            (false, Platform::Sqlite) => Err(self.sqlite_busy()),
            (false, Platform::Postgres | Platform::Mysql) => Err(TargetError::StateLocked {
                target: self.label(),
                seconds: dialect::whole_seconds(self.lock_wait),
            }),
        }
    }

    /// The error of a SQLite file whose write lock another connection held too long.
    fn sqlite_busy(&self) -> TargetError {
        TargetError::SqliteBusy {
            target: self.label(),
            seconds: dialect::whole_seconds(self.lock_wait),
        }
    }

    /// The state's layout version (`None` before the first migration), refused when newer
    /// than this dbpm knows.
    async fn state_version(&self, session: &mut Session) -> Result<Option<i64>, TargetError> {
        let failed = self.read_failed("read dbpm's state version");
        let rows = match session.fetch(tables::CURRENT_VERSION, &[]).await {
            // `meta` made after this read's snapshot, by a dbpm still creating the state.
            Err(err) if is_newer_than_snapshot(&err) => return Ok(None),
            rows => rows.map_err(&failed)?,
        };
        let Some(row) = rows.first() else {
            return self.unrecorded_version(session).await;
        };
        let found = row.maybe_int("version").map_err(&failed)?.unwrap_or(0);
        if found > STATE_VERSION {
            return Err(TargetError::StateTooNew {
                target: self.label(),
                found,
                by: row.text("applied_by").map_err(&failed)?,
                known: STATE_VERSION,
            });
        }
        Ok(Some(found))
    }

    /// Wraps a driver error with the target and what dbpm was doing; on SQLite, a file that
    /// is no database is said to be so, whatever dbpm was doing (it read as a failure to lock
    /// or read dbpm's state).
    fn failed(&self, doing: &'static str) -> impl Fn(sqlx::Error) -> TargetError + '_ {
        move |source| match self.connector.sqlite_file() {
            Some(path) if session::is_not_a_database(&source) => TargetError::NotSqlite {
                path: path.to_path_buf(),
                source: crate::db::DriverError(source),
            },
            _ => TargetError::Database {
                target: self.label(),
                doing,
                source: crate::db::DriverError(source),
            },
        }
    }

    /// Whether dbpm's state is in the target, read in `session`: its `meta` table, which says
    /// the state's layout, is there. dbpm's other tables without it are a damaged state, not
    /// an empty one: read as empty, a plan would install again what is installed.
    async fn has_state(&self, session: &mut Session) -> Result<bool, TargetError> {
        let mut present = self.state_tables(session).await?;
        if present.iter().any(|table| table == "meta") {
            return Ok(true);
        }
        // MySQL's catalog leaves out the tables the user has no privilege on: only a read
        // that finds no such table tells that `meta` is missing (elsewhere, the catalog
        // lists every table, and one without dbpm's is a target dbpm was never in).
        if !present.is_empty() || self.platform() == Platform::Mysql {
            let probe = session
                .fetch("SELECT 1 AS one FROM {meta} WHERE 1 = 0", &[])
                .await;
            match probe {
                Ok(_) => return Ok(true),
                // Made after this read's snapshot, by a dbpm creating the tables: none of
                // their rows can be seen here.
                Err(err) if is_newer_than_snapshot(&err) => return Ok(false),
                Err(err) if missing_table(&err).is_none() => {
                    return Err(self.read_failed("look for dbpm's state")(err));
                }
                Err(_) => {}
            }
        }
        if present.is_empty() {
            return Ok(false);
        }
        present.sort();
        let tables: Vec<String> = present
            .iter()
            .map(|table| {
                format!(
                    "`{}`",
                    dialect::render(self.platform(), &format!("{{{table}}}"))
                )
            })
            .collect();
        Err(self.corrupt(format!(
            "its table {} (the layout of the state) is missing, but {} {} there",
            dialect::render(self.platform(), "`{meta}`"),
            tables.join(", "),
            if tables.len() == 1 { "is" } else { "are" }
        )))
    }

    /// dbpm's tables ([`dialect::TABLES`]) that the target has. Names are compared exactly
    /// here: MariaDB's catalog matches them without regard to case (`DBPM_RUNS`).
    async fn state_tables(&self, session: &mut Session) -> Result<Vec<String>, TargetError> {
        let failed = self.read_failed("look for dbpm's state");
        let rows = session
            .fetch(&dialect::state_tables_sql(self.platform()), &[])
            .await
            .map_err(&failed)?;
        let mut tables = Vec::new();
        for row in rows {
            let name = row.text("name").map_err(&failed)?;
            if dialect::TABLES.contains(&name.as_str()) {
                tables.push(name);
            }
        }
        Ok(tables)
    }

    /// The state version of a `meta` table without one: none yet while another dbpm creates
    /// the tables (MySQL's DDL is not transactional, so they show before their version), but
    /// a corrupt state when dbpm's tables hold rows, which only a recorded layout has.
    async fn unrecorded_version(&self, session: &mut Session) -> Result<Option<i64>, TargetError> {
        let failed = self.read_failed("read dbpm's state version");
        let present = self.state_tables(session).await?;
        for table in ["installed_packages", "runs"] {
            if !present.iter().any(|t| t == table) {
                continue;
            }
            let rows = match session
                .fetch_int(&format!("SELECT COUNT(*) AS n FROM {{{table}}}"), &[], "n")
                .await
            {
                // Created after this read's snapshot, by the dbpm creating them (MySQL's
                // "Table definition has changed", 1412): none of its rows can be seen here.
                Err(err) if is_newer_than_snapshot(&err) => return Ok(None),
                rows => rows.map_err(&failed)?,
            };
            if rows.unwrap_or(0) > 0 {
                return Err(self.corrupt(format!(
                    "its table {} records no layout, but {} holds rows",
                    dialect::render(self.platform(), "`{meta}`"),
                    dialect::render(self.platform(), &format!("`{{{table}}}`")),
                )));
            }
        }
        Ok(None)
    }

    /// A corrupt state, with what is wrong.
    fn corrupt(&self, reason: String) -> TargetError {
        TargetError::StateCorrupt {
            target: self.label(),
            reason,
        }
    }
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Target({})", self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::InstalledState;

    fn target(url: &str, schema: Option<&str>) -> Result<Target, TargetError> {
        Target::new(url.parse().unwrap(), schema.map(str::to_owned))
    }

    #[test]
    fn a_target_shows_itself_without_credentials() {
        let pg = target("postgres://app:s3cret@db:5432/prod", Some("billing")).unwrap();
        assert_eq!(pg.label(), "postgres://app:***@db:5432/prod#billing");
        assert!(!format!("{pg:?}").contains("s3cret"));
        let pg = target("postgres://app@db/prod", None).unwrap();
        assert_eq!(pg.schema(), Some("public"));
        let my = target("mysql://root:s3cret@db/app", None).unwrap();
        assert_eq!(my.label(), "mysql://root:***@db/app");
        assert_eq!(my.schema(), None);
    }

    #[test]
    fn schemas_are_for_postgres_only_and_mysql_needs_a_database() {
        assert!(matches!(
            target("sqlite://x.db", Some("s")),
            Err(TargetError::SchemaNotSupported { .. })
        ));
        assert!(matches!(
            target("postgres://db/x", Some("")),
            Err(TargetError::BadSchema { .. })
        ));
        for url in [
            "mysql://root:s3cret@db",
            "postgres://root:s3cret@db:5432/",
            "sqlite://",
        ] {
            let err = target(url, None).unwrap_err();
            assert!(matches!(err, TargetError::NoDatabase { .. }), "{url}");
            assert!(!err.to_string().contains("s3cret"));
        }
    }

    #[test]
    fn state_operations_can_run_on_any_tokio_worker() {
        fn assert_send<T: Send>(_: &T) {}
        let target = target("sqlite://x.db", None).unwrap();
        let state = InstalledState::empty(Platform::Sqlite, "x");
        assert_send(&target.ensure_state());
        assert_send(&target.read_state());
        assert_send(&target.record_installed(&state, "run", RunOutcome::Completed));
    }
}
