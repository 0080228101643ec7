//! One connection to a target, whichever its platform: connecting (reading never creates a
//! SQLite file), running the state's SQL templates with bound values, reading a column the
//! same way everywhere, and the state lock with its transaction. Every state operation opens
//! its own session and closes it at the end; a session dropped on an error path closes its
//! connection, which rolls back its transaction and releases its lock on every platform.
//! Nothing here knows what the tables mean.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::mysql::{MySqlConnectOptions, MySqlConnection, MySqlRow};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::query::Query;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqliteRow};
use sqlx::{ConnectOptions, Connection, Database, Encode, Executor, Row as _, Type};

use super::dialect::{self, render};
use crate::db::DbUrl;
use crate::platform::Platform;

/// How long connecting may take before it counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// A script that failed: the database's error, and how many of its statements completed
/// before the failing one, where the driver counts them (MySQL/MariaDB and SQLite run a
/// script statement by statement; PostgreSQL runs it as one query, and says where it failed
/// in the error).
pub(super) struct ScriptError {
    pub error: sqlx::Error,
    pub completed: Option<usize>,
}

impl ScriptError {
    /// Whether statements before the failing one had already run: outside a transaction on
    /// MySQL/MariaDB and SQLite, they took effect (PostgreSQL runs the statements of one
    /// script as one implicit transaction, so its failure leaves nothing behind).
    pub fn took_effect(&self) -> bool {
        self.completed.is_some_and(|completed| completed > 0)
    }
}

/// MySQL/MariaDB's answer to a script with no statement in it (empty, or only comments):
/// "Query was empty" (1065). Such a script has nothing to run, which PostgreSQL and SQLite
/// take as done; so does dbpm everywhere (an empty ROLLBACK twin is a natural no-op). Only
/// when nothing ran before it: after a statement it would mean statements were left out.
fn is_empty_query(err: &sqlx::Error, completed: usize) -> bool {
    completed == 0 && mysql_error_number(err) == Some(1065)
}

/// Runs a MySQL/MariaDB script to its end: the statements that completed, and the first
/// error, if any, with the number that completed before it. A script with nothing to run is
/// done (see [`is_empty_query`]).
async fn run_mysql(c: &mut MySqlConnection, script: &str) -> Result<usize, (sqlx::Error, usize)> {
    match count_statements(sqlx::raw_sql(script).execute_many(c)).await {
        Err((error, completed)) if is_empty_query(&error, completed) => Ok(0),
        other => other,
    }
}

/// Runs a SQLite script to its end, in the pieces of [`super::chunks::pieces`]: as
/// [`run_mysql`], the statements that completed and the first error, if any.
async fn run_sqlite(c: &mut SqliteConnection, script: &str) -> Result<usize, (sqlx::Error, usize)> {
    let mut completed = 0;
    for piece in super::chunks::pieces(script) {
        completed += count_statements(sqlx::raw_sql(piece).execute_many(&mut *c))
            .await
            .map_err(|(error, more)| (error, completed + more))?;
    }
    Ok(completed)
}

/// Whether SQLite gave up waiting for another connection's lock on the file (`SQLITE_BUSY`,
/// after the busy timeout).
pub(super) fn is_busy(err: &sqlx::Error) -> bool {
    sqlite_result_code(err).is_some_and(|code| code & 0xff == 5)
}

/// Whether PostgreSQL gave up waiting for a lock (`lock_not_available`, after `lock_timeout`).
fn is_lock_timeout(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "55P03")
}

/// SQLite's result code of an error, if SQLite gave it.
fn sqlite_result_code(err: &sqlx::Error) -> Option<i32> {
    err.as_database_error()
        .filter(|db| db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some())
        .and_then(|db| db.code())
        .and_then(|code| code.parse::<i32>().ok())
}

/// MySQL/MariaDB's number of an error, if that server gave it.
pub(super) fn mysql_error_number(err: &sqlx::Error) -> Option<u16> {
    err.as_database_error()
        .and_then(|db| db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>())
        .map(|mysql| mysql.number())
}

/// The server's message, when `err` says that a table does not exist (PostgreSQL's and
/// MySQL's SQLSTATE, SQLite's message).
pub(super) fn missing_table(err: &sqlx::Error) -> Option<&str> {
    let db = err.as_database_error()?;
    let missing = matches!(db.code().as_deref(), Some("42P01" | "42S02"))
        || db.message().starts_with("no such table");
    missing.then(|| db.message())
}

/// Whether `err` says that the user lacks a privilege (PostgreSQL's 42501; MySQL's denied
/// command on a table or column, 1142 and 1143, or on a database, 1044).
pub(super) fn is_denied(err: &sqlx::Error) -> bool {
    if let Some(number) = mysql_error_number(err) {
        return matches!(number, 1044 | 1142 | 1143);
    }
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "42501")
}

/// Whether `err` is MySQL/MariaDB's "Table definition has changed, please retry
/// transaction" (1412): the table was created after the reading transaction's snapshot.
pub(super) fn is_newer_than_snapshot(err: &sqlx::Error) -> bool {
    mysql_error_number(err) == Some(1412)
}

/// Whether SQLite refused the file as none of its databases (`SQLITE_NOTADB`): another kind
/// of file, or an encrypted or damaged database.
pub(super) fn is_not_a_database(err: &sqlx::Error) -> bool {
    // The primary result code, whatever extended code comes with it.
    sqlite_result_code(err).is_some_and(|code| code & 0xff == 26)
}

/// Drives the results of a multi-statement script to its end or its first error: the number
/// of statements that completed, before that error if any.
async fn count_statements<R>(
    mut results: futures_util::stream::BoxStream<'_, Result<R, sqlx::Error>>,
) -> Result<usize, (sqlx::Error, usize)> {
    let mut completed = 0;
    while let Some(result) = futures_util::StreamExt::next(&mut results).await {
        match result {
            Ok(_) => completed += 1,
            Err(error) => return Err((error, completed)),
        }
    }
    Ok(completed)
}

/// How to reach a target: its parsed URL, before any connection. Deliberately not `Debug`:
/// the driver's options hold the password.
#[derive(Clone)]
pub(super) enum Connector {
    Postgres(PgConnectOptions),
    Mysql(MySqlConnectOptions),
    Sqlite(SqliteConnectOptions),
}

/// Whether a session may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    /// Never writes, and never creates a SQLite file.
    Read,
    /// Creates a missing SQLite file (`mode=rwc`).
    Write,
}

impl Connector {
    /// Parses the URL for its platform's driver; no I/O. Scripts run in the session a
    /// database's own client would give them, not the driver's: on MySQL/MariaDB the server's
    /// `sql_mode` and time zone (the driver adds `PIPES_AS_CONCAT`, which makes `||` a
    /// concatenation, and UTC), on SQLite foreign keys not enforced, as in `sqlite3` (the
    /// driver enforces them, and a script inside a transaction cannot turn that off, so the
    /// table rebuild SQLite documents deleted the rows that referenced the table).
    pub(super) fn parse(url: &DbUrl) -> Result<Self, sqlx::Error> {
        Ok(match url.platform() {
            Platform::Postgres => Connector::Postgres(PgConnectOptions::from_str(url.expose())?),
            Platform::Mysql => Connector::Mysql(
                MySqlConnectOptions::from_str(url.expose())?
                    .pipes_as_concat(false)
                    .no_engine_substitution(false)
                    .timezone(None),
            ),
            Platform::Sqlite => Connector::Sqlite(
                SqliteConnectOptions::from_str(url.expose())?
                    .busy_timeout(Duration::from_secs(dialect::LOCK_WAIT_SECONDS))
                    .foreign_keys(false),
            ),
        })
    }

    /// The same connector, a SQLite connection waiting at most `wait` for another's lock on
    /// the file.
    pub(super) fn waiting_at_most(self, wait: Duration) -> Self {
        match self {
            Connector::Sqlite(options) => Connector::Sqlite(options.busy_timeout(wait)),
            other => other,
        }
    }

    /// The SQLite database file (relative to the current directory when the URL is).
    pub(super) fn sqlite_file(&self) -> Option<&Path> {
        match self {
            Connector::Sqlite(options) => Some(options.get_filename()),
            Connector::Postgres(_) | Connector::Mysql(_) => None,
        }
    }

    /// The database a PostgreSQL or MySQL/MariaDB URL names, if it names one.
    pub(super) fn database(&self) -> Option<&str> {
        match self {
            Connector::Mysql(options) => options.get_database(),
            Connector::Postgres(options) => options.get_database(),
            Connector::Sqlite(_) => None,
        }
    }

    /// Opens one connection, within [`CONNECT_TIMEOUT`].
    pub(super) async fn open(&self, access: Access) -> Result<Session, sqlx::Error> {
        let connect = async {
            Ok::<_, sqlx::Error>(match self {
                Connector::Postgres(options) => Session::Postgres(options.connect().await?),
                Connector::Mysql(options) => Session::Mysql(options.connect().await?),
                Connector::Sqlite(options) => {
                    let options = match access {
                        Access::Read => options.clone().read_only(true).create_if_missing(false),
                        Access::Write => options.clone().read_only(false).create_if_missing(true),
                    };
                    Session::Sqlite(options.connect().await?)
                }
            })
        };
        tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .unwrap_or_else(|_| {
                Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("no answer within {} seconds", CONNECT_TIMEOUT.as_secs()),
                )))
            })
    }
}

/// An open connection to a target.
pub(super) enum Session {
    Postgres(PgConnection),
    Mysql(MySqlConnection),
    Sqlite(SqliteConnection),
}

/// A value bound to a `?` of a template.
#[derive(Debug, Clone, Copy)]
pub(super) enum Value<'a> {
    Text(&'a str),
    MaybeText(Option<&'a str>),
    Int(i64),
    Flag(bool),
}

/// One row of a result, whichever the platform.
pub(super) enum Row {
    Postgres(PgRow),
    Mysql(MySqlRow),
    Sqlite(SqliteRow),
}

impl Session {
    /// The session's platform.
    pub(super) fn platform(&self) -> Platform {
        match self {
            Session::Postgres(_) => Platform::Postgres,
            Session::Mysql(_) => Platform::Mysql,
            Session::Sqlite(_) => Platform::Sqlite,
        }
    }

    /// Runs a template that binds nothing (DDL, transaction control), as plain text: MySQL
    /// refuses some of these as prepared statements.
    pub(super) async fn run(&mut self, template: &str) -> Result<(), sqlx::Error> {
        let sql = render(self.platform(), template);
        match self {
            Session::Postgres(c) => c.execute(sql.as_str()).await.map(drop),
            Session::Mysql(c) => c.execute(sql.as_str()).await.map(drop),
            Session::Sqlite(c) => c.execute(sql.as_str()).await.map(drop),
        }
    }

    /// Runs `sql` as it is, not a template, binding nothing: statements of dbpm's that carry
    /// their values as literals.
    pub(super) async fn run_verbatim(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        match self {
            Session::Postgres(c) => c.execute(sql).await.map(drop),
            Session::Mysql(c) => c.execute(sql).await.map(drop),
            Session::Sqlite(c) => c.execute(sql).await.map(drop),
        }
    }

    /// Runs a script's text as the database receives it from a file: one or more
    /// statements, unprepared, exactly as written (no template tokens).
    pub(super) async fn run_script(&mut self, script: &str) -> Result<(), ScriptError> {
        let completed = match self {
            Session::Postgres(c) => {
                return c
                    .execute(script)
                    .await
                    .map(drop)
                    .map_err(|error| ScriptError {
                        error,
                        completed: None,
                    })
            }
            Session::Mysql(c) => run_mysql(c, script).await,
            Session::Sqlite(c) => run_sqlite(c, script).await,
        };
        completed
            .map(drop)
            .map_err(|(error, completed)| ScriptError {
                error,
                completed: Some(completed),
            })
    }

    /// Runs a template with `values` bound to its placeholders; the number of rows changed.
    pub(super) async fn execute(
        &mut self,
        template: &str,
        values: &[Value<'_>],
    ) -> Result<u64, sqlx::Error> {
        let sql = render(self.platform(), template);
        Ok(match self {
            Session::Postgres(c) => bind_all(sqlx::query(&sql), values)
                .execute(c)
                .await?
                .rows_affected(),
            Session::Mysql(c) => bind_all(sqlx::query(&sql), values)
                .execute(c)
                .await?
                .rows_affected(),
            Session::Sqlite(c) => bind_all(sqlx::query(&sql), values)
                .execute(c)
                .await?
                .rows_affected(),
        })
    }

    /// The rows of a template with `values` bound to its placeholders.
    pub(super) async fn fetch(
        &mut self,
        template: &str,
        values: &[Value<'_>],
    ) -> Result<Vec<Row>, sqlx::Error> {
        let sql = render(self.platform(), template);
        self.fetch_sql(&sql, values).await
    }

    /// The integer in `column` of the first row of a template's result, if there is one.
    pub(super) async fn fetch_int(
        &mut self,
        template: &str,
        values: &[Value<'_>],
        column: &str,
    ) -> Result<Option<i64>, sqlx::Error> {
        let rows = self.fetch(template, values).await?;
        Ok(rows
            .first()
            .map(|row| row.maybe_int(column))
            .transpose()?
            .flatten())
    }

    /// The rows of `sql` as it is, not a template: for a statement that names an object of
    /// the target, whose name may hold what a template would replace. On MySQL/MariaDB it
    /// goes unprepared: a prepared `SHOW CREATE EVENT` on MariaDB gave rows in which sqlx
    /// found no column by name.
    pub(super) async fn fetch_verbatim(&mut self, sql: &str) -> Result<Vec<Row>, sqlx::Error> {
        match self {
            Session::Mysql(c) => Ok(sqlx::raw_sql(sql)
                .fetch_all(c)
                .await?
                .into_iter()
                .map(Row::Mysql)
                .collect()),
            _ => self.fetch_sql(sql, &[]).await,
        }
    }

    async fn fetch_sql(
        &mut self,
        sql: &str,
        values: &[Value<'_>],
    ) -> Result<Vec<Row>, sqlx::Error> {
        Ok(match self {
            Session::Postgres(c) => bind_all(sqlx::query(sql), values)
                .fetch_all(c)
                .await?
                .into_iter()
                .map(Row::Postgres)
                .collect(),
            Session::Mysql(c) => bind_all(sqlx::query(sql), values)
                .fetch_all(c)
                .await?
                .into_iter()
                .map(Row::Mysql)
                .collect(),
            Session::Sqlite(c) => bind_all(sqlx::query(sql), values)
                .fetch_all(c)
                .await?
                .into_iter()
                .map(Row::Sqlite)
                .collect(),
        })
    }

    /// Starts a read-only transaction that sees one consistent snapshot of the state.
    pub(super) async fn begin_read(&mut self) -> Result<(), sqlx::Error> {
        match self.platform() {
            Platform::Postgres => {
                self.run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
            }
            Platform::Mysql => {
                self.run("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                    .await?;
                self.run("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
                    .await
            }
            Platform::Sqlite => self.run("BEGIN").await,
        }
    }

    /// Takes the state lock (one writer of dbpm's state at a time, per database) and starts a
    /// transaction. `false` when another dbpm (on SQLite, another connection) held the lock
    /// for longer than `wait`.
    ///
    /// PostgreSQL: a transaction-scoped advisory lock, under a `lock_timeout` of `wait` (an
    /// advisory lock would wait without end). MySQL/MariaDB: `GET_LOCK` on this session; DDL
    /// there commits by itself, so statements after a DDL statement autocommit while the lock
    /// still holds. SQLite: `BEGIN IMMEDIATE`, which waits for the write lock as long as the
    /// connection's busy timeout.
    pub(super) async fn begin_locked_write(&mut self, wait: Duration) -> Result<bool, sqlx::Error> {
        match self.platform() {
            Platform::Postgres => {
                self.run("BEGIN").await?;
                // In milliseconds, which PostgreSQL takes up to `i32::MAX`.
                let millis = wait.as_millis().clamp(1, i32::MAX as u128);
                self.run(&format!("SET LOCAL lock_timeout = {millis}"))
                    .await?;
                let locked = self
                    .execute(
                        "SELECT pg_advisory_xact_lock(?)",
                        &[Value::Int(dialect::PG_STATE_LOCK)],
                    )
                    .await;
                match locked {
                    Err(err) if is_lock_timeout(&err) => {
                        self.run("ROLLBACK").await?;
                        return Ok(false);
                    }
                    other => other?,
                };
                // The state writes that follow wait as the session would: `DEFAULT` is the
                // value the session started with (the server's, the role's or database's, the
                // URL's `options`), and no dbpm session keeps its own beyond a step's script.
                self.run("SET LOCAL lock_timeout TO DEFAULT").await?;
            }
            Platform::Mysql => {
                let whole = dialect::whole_seconds(wait).max(1);
                let seconds = i64::try_from(whole).unwrap_or(i64::MAX);
                let got = self
                    .fetch_int(
                        &format!("SELECT GET_LOCK({}, ?) AS got", dialect::MYSQL_STATE_LOCK),
                        &[Value::Int(seconds)],
                        "got",
                    )
                    .await?;
                if got != Some(1) {
                    return Ok(false);
                }
                self.run("START TRANSACTION").await?;
            }
            Platform::Sqlite => match self.run("BEGIN IMMEDIATE").await {
                Err(err) if is_busy(&err) => return Ok(false),
                other => other?,
            },
        }
        Ok(true)
    }

    /// Commits the transaction.
    pub(super) async fn commit(&mut self) -> Result<(), sqlx::Error> {
        self.run("COMMIT").await
    }

    /// Commits the transaction of [`Session::begin_locked_write`] and releases its lock.
    pub(super) async fn commit_and_unlock(&mut self) -> Result<(), sqlx::Error> {
        self.commit().await?;
        if self.platform() == Platform::Mysql {
            self.run(&format!(
                "SELECT RELEASE_LOCK({})",
                dialect::MYSQL_STATE_LOCK
            ))
            .await?;
        }
        Ok(())
    }

    /// On PostgreSQL, in one round trip: rolls back a transaction left open (unless
    /// `after_commit`: the session's last statement was dbpm's own `COMMIT`, and a
    /// `ROLLBACK` would only write a warning to the server's log), goes back to the
    /// connection's own user and role (`SET SESSION AUTHORIZATION DEFAULT`, which `RESET
    /// ALL` leaves alone), resets every setting to the connection's default (`RESET ALL`:
    /// `search_path`, timeouts, ...), drops the session's temporary tables (`DISCARD TEMP`:
    /// two backfills that fill a temporary table of the same name would otherwise share its
    /// rows), then runs `settings` (statements of their own). When a script may have left
    /// more (`lingering`), the same round trip lets go of its prepared statements (`PREPARE`;
    /// not the driver's own), cursors, `LISTEN`s and advisory locks ([`PG_LET_GO`]).
    /// `DISCARD ALL` would do all of it, but it drops the driver's prepared statements too,
    /// and doubled the time of a run of small steps. What `currval` remembers stays.
    pub(super) async fn reset(
        &mut self,
        after_commit: bool,
        lingering: bool,
        settings: &[&str],
    ) -> Result<(), sqlx::Error> {
        if let Session::Postgres(c) = self {
            let rollback = if after_commit { "" } else { "ROLLBACK; " };
            let reset = format!(
                "{rollback}SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DISCARD TEMP; {}",
                settings.join("; ")
            );
            let sql = if lingering {
                format!("{reset}; {PG_LET_GO}")
            } else {
                reset
            };
            c.execute(sql.as_str()).await?;
        }
        Ok(())
    }

    /// Whether a transaction begun by an earlier query is still open. On PostgreSQL, only
    /// then did it start before this query's statement (a new one starts with it): asked
    /// so, not by a statement that fails outside a transaction, which the server would log.
    /// MariaDB tells (`@@in_transaction`); MySQL does not (its InnoDB transaction list is a
    /// cache that may lag behind, which would fail steps that committed), nor may a proxy:
    /// there, `false`, as before anything asked. SQLite is asked otherwise (see
    /// `StepSession::left_open`).
    pub(super) async fn in_transaction(&mut self) -> Result<bool, sqlx::Error> {
        match self {
            Session::Postgres(c) => {
                let rows: Vec<PgRow> = c
                    .fetch_all("SELECT 1 WHERE transaction_timestamp() <> statement_timestamp()")
                    .await?;
                Ok(!rows.is_empty())
            }
            Session::Mysql(c) => {
                let told = sqlx::query_scalar::<_, i64>("SELECT CAST(@@in_transaction AS SIGNED)")
                    .fetch_one(&mut *c)
                    .await;
                match told {
                    Ok(open) => Ok(open != 0),
                    // MySQL: no such variable (1193); a proxy may say otherwise.
                    Err(sqlx::Error::Database(_)) => Ok(false),
                    Err(err) => Err(err),
                }
            }
            Session::Sqlite(_) => Ok(false),
        }
    }

    /// Closes the connection politely.
    pub(super) async fn close(self) -> Result<(), sqlx::Error> {
        match self {
            Session::Postgres(c) => c.close().await,
            Session::Mysql(c) => c.close().await,
            Session::Sqlite(c) => c.close().await,
        }
    }
}

/// Lets go of what a PostgreSQL script may have left in its session beyond its settings and
/// temporary tables: its cursors, `LISTEN`s, advisory locks and prepared statements, these
/// one by one (`DEALLOCATE ALL` would take the driver's own with them). Each is next to
/// nothing where there is nothing to let go of, and needs no privilege.
const PG_LET_GO: &str = "CLOSE ALL; UNLISTEN *; SELECT pg_advisory_unlock_all(); DO $dbpm$ DECLARE name text; BEGIN FOR name IN SELECT p.name FROM pg_prepared_statements p WHERE p.from_sql LOOP EXECUTE format('DEALLOCATE %I', name); END LOOP; END $dbpm$";

/// Binds `values` in order. Generic over the database, but not over the executor, so the
/// futures that use it stay `Send`.
fn bind_all<'q, DB: Database>(
    mut query: Query<'q, DB, <DB as Database>::Arguments<'q>>,
    values: &[Value<'q>],
) -> Query<'q, DB, <DB as Database>::Arguments<'q>>
where
    &'q str: Encode<'q, DB> + Type<DB>,
    Option<&'q str>: Encode<'q, DB> + Type<DB>,
    i64: Encode<'q, DB> + Type<DB>,
    bool: Encode<'q, DB> + Type<DB>,
{
    for value in values {
        query = match *value {
            Value::Text(text) => query.bind(text),
            Value::MaybeText(text) => query.bind(text),
            Value::Int(int) => query.bind(int),
            Value::Flag(flag) => query.bind(flag),
        };
    }
    query
}

impl Row {
    /// A text column that may be NULL.
    pub(super) fn maybe_text(&self, column: &str) -> Result<Option<String>, sqlx::Error> {
        match self {
            Row::Postgres(row) => row.try_get(column),
            // A column with a binary collation (`utf8mb4_bin`, which dbpm's keys use) comes
            // back flagged BINARY, which sqlx refuses to decode as a string: read the bytes.
            Row::Mysql(row) => row
                .try_get::<Option<Vec<u8>>, _>(column)?
                .map(|bytes| {
                    String::from_utf8(bytes).map_err(|err| sqlx::Error::ColumnDecode {
                        index: column.to_owned(),
                        source: Box::new(err),
                    })
                })
                .transpose(),
            Row::Sqlite(row) => row.try_get(column),
        }
    }

    /// A text column.
    pub(super) fn text(&self, column: &str) -> Result<String, sqlx::Error> {
        self.maybe_text(column)?
            .ok_or_else(|| sqlx::Error::ColumnDecode {
                index: column.to_owned(),
                source: "unexpected NULL".into(),
            })
    }

    /// An integer column that may be NULL.
    pub(super) fn maybe_int(&self, column: &str) -> Result<Option<i64>, sqlx::Error> {
        match self {
            Row::Postgres(row) => row.try_get(column),
            Row::Mysql(row) => row.try_get(column),
            Row::Sqlite(row) => row.try_get(column),
        }
    }

    /// A boolean column.
    pub(super) fn flag(&self, column: &str) -> Result<bool, sqlx::Error> {
        match self {
            Row::Postgres(row) => row.try_get(column),
            Row::Mysql(row) => row.try_get(column),
            Row::Sqlite(row) => row.try_get(column),
        }
    }
}
