//! What the executor needs from a target: the run lock (one apply at a time, released when
//! its session ends, also when the process dies), the runs and the step journal, and one
//! connection per step that runs a script — for a transactional step, in the same
//! transaction as its journal entry, so it happens exactly once, crash or not.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::dialect::{pg_literal, render};
use super::session::{mysql_error_number, Access, ScriptError, Session, Value};
use super::wait::{WaitedLock, ANNOUNCE_AFTER};
use super::{dialect, tables, Target, TargetError};
use crate::package::lint::commits_in_parts;
use crate::package::{statements, Checksum};
use crate::platform::Platform;

/// The run lock's advisory key class on PostgreSQL ("dbpm" in ASCII); the schema picks the key.
const PG_RUN_LOCK_CLASS: i32 = 0x6462_706d;

/// The MySQL/MariaDB run lock's name: `GET_LOCK` names are server-wide, so it carries the
/// database, hashed (a lock name is at most 64 characters).
const MYSQL_RUN_LOCK: &str = "CONCAT('dbpm_run_', SHA1(DATABASE()))";

/// A step connection's commits on PostgreSQL do not wait for the disk: the journal entry
/// commits with the script, and a crash that loses both is a step not run, which runs again.
const NOT_DURABLE: &str = "SET synchronous_commit TO off";

/// A PostgreSQL step connection has the server check, while a statement runs, that dbpm is
/// still there, and abort the statement once it is not: a statement left running by a dbpm
/// that exited (a second Ctrl-C, a kill) would otherwise run on to its end, beside the
/// resume that runs its step again. Set where the server takes the setting (PostgreSQL 14
/// and later, on a system that can check); elsewhere, as before, nothing.
const CHECK_CLIENT: &str = "DO $$BEGIN PERFORM set_config('client_connection_check_interval', '1s', false); EXCEPTION WHEN OTHERS THEN NULL; END$$";

/// How often a waiting apply retries the lock.
const LOCK_POLL: Duration = Duration::from_millis(200);

/// How often the session holding the run lock is pinged while a run goes on: it would
/// otherwise sit idle for the whole run, and a server (`wait_timeout`,
/// `idle_session_timeout`), a proxy or a firewall may close an idle connection, which
/// releases the lock.
const LOCK_PING: Duration = Duration::from_secs(2);

/// The length of a run lock's owner (hex digits; `run_owners.owner` holds up to 64).
const OWNER_LEN: usize = 32;

/// What a PostgreSQL step's commit raises when its run is no longer its apply's.
const RUN_CLAIMED: &str = "dbpm: another apply has claimed this run";

/// What a PostgreSQL step's commit raises when the script left its transaction read-only.
const READ_ONLY: &str = "dbpm: the transaction of the step is read-only";

/// Why a PostgreSQL script's transaction could not be committed with its journal entry
/// when the script left it read-only; `None` for any other failure of the commit.
fn read_only(err: &sqlx::Error) -> Option<&'static str> {
    err.as_database_error()
        .is_some_and(|db| db.message() == READ_ONLY)
        .then_some("the script made its transaction read-only (`SET TRANSACTION READ ONLY`, or `default_transaction_read_only`), and dbpm journals a step in the step's own transaction, so it was rolled back; leave that statement out (a script that only reads changes nothing without it)")
}

/// Whether the commit of a PostgreSQL step found no transaction: the script ended dbpm's
/// with a `COMMIT` or `ROLLBACK` of its own (the `SAVEPOINT` that opens the commit fails).
fn ended_by_script(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code == "25P01")
}

/// The run lock of a target, held for as long as this value lives. Dropping it closes the
/// session that holds the database lock (or the file that holds SQLite's OS lock), so an
/// early return or a crash never leaves the target locked.
///
/// A database lock lives as long as its session, which may end under the run (ended from
/// outside, or closed by the server): a task pings it every 2 seconds, which keeps an
/// idle connection open and notices one that ended, and [`RunLock::confirm`] asks before a
/// run writes its outcome, so a run never goes on nor ends as if it still held the lock.
///
/// A lock whose session ended may be taken by another apply while a step of this one still
/// runs. So the run records which apply holds it ([`RunLock::owner`], claimed with
/// [`Target::start_run`] or [`Target::claim_run`]), and a transactional step commits only
/// while its run is still this apply's: the other apply, having claimed the run, never runs
/// a step a second time that this one commits.
pub struct RunLock {
    held: Option<HeldLock>,
    _file: Option<fs_err::File>,
    owner: String,
}

/// How a run stands, as the target records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunOutcome {
    /// Under way, or died without a word (a crash): the same command resumes it.
    Running,
    /// Every forward step done; the installed set after it is recorded.
    Completed,
    /// A step failed and every compensation needed ran: the target is back where it was.
    RolledBack,
    /// Stopped at a checkpoint (Ctrl-C).
    Stopped,
    /// Stopped after a failed step (`--on-failure stop`), to resume once its cause is fixed.
    StoppedAfterFailure,
    /// Stopped with steps in doubt: an operator decides.
    InDoubt,
    /// A compensation failed: an operator fixes its cause, or undoes its work by hand.
    CompensationFailed,
    /// Not a run of steps: `dbpm adopt` recorded a package version as installed.
    Adopted,
}

impl RunOutcome {
    const ALL: [RunOutcome; 8] = [
        RunOutcome::Running,
        RunOutcome::Completed,
        RunOutcome::RolledBack,
        RunOutcome::Stopped,
        RunOutcome::StoppedAfterFailure,
        RunOutcome::InDoubt,
        RunOutcome::CompensationFailed,
        RunOutcome::Adopted,
    ];

    /// The state's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Completed => "completed",
            RunOutcome::RolledBack => "rolled_back",
            RunOutcome::Stopped => "stopped",
            RunOutcome::StoppedAfterFailure => "stopped_after_failure",
            RunOutcome::InDoubt => "in_doubt",
            RunOutcome::CompensationFailed => "compensation_failed",
            RunOutcome::Adopted => "adopted",
        }
    }

    /// Reads the state's spelling.
    pub fn parse(text: &str) -> Option<RunOutcome> {
        RunOutcome::ALL
            .into_iter()
            .find(|outcome| outcome.as_str() == text)
    }

    /// Whether the run is over: completed, rolled back, or an adoption. Any other leaves the
    /// target to the same plan, which resumes it.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            RunOutcome::Completed | RunOutcome::RolledBack | RunOutcome::Adopted
        )
    }
}

impl std::fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The session of a database lock, and its pings.
struct HeldLock {
    session: Arc<tokio::sync::Mutex<Session>>,
    lost: Arc<AtomicBool>,
    pings: tokio::task::JoinHandle<()>,
    target: Target,
}

impl RunLock {
    fn holding(session: Session, target: &Target, owner: String) -> RunLock {
        let session = Arc::new(tokio::sync::Mutex::new(session));
        let lost = Arc::new(AtomicBool::new(false));
        let pings = tokio::spawn({
            let (session, lost) = (session.clone(), lost.clone());
            async move {
                loop {
                    tokio::time::sleep(LOCK_PING).await;
                    if session.lock().await.run("SELECT 1").await.is_err() {
                        lost.store(true, Ordering::SeqCst);
                        return;
                    }
                }
            }
        });
        RunLock {
            held: Some(HeldLock {
                session,
                lost,
                pings,
                target: target.clone(),
            }),
            _file: None,
            owner,
        }
    }

    /// Who holds the lock, as the run it applies records it: unique to this lock.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Whether a ping found the lock's session ended (no round trip: for checkpoints).
    pub fn lost(&self) -> bool {
        self.held
            .as_ref()
            .is_some_and(|held| held.lost.load(Ordering::SeqCst))
    }

    /// Makes sure the lock is still held, with a round trip on its session:
    /// `TargetError::LockLost` when that session ended.
    pub async fn confirm(&self) -> Result<(), TargetError> {
        let Some(held) = &self.held else {
            return Ok(());
        };
        let alive = !self.lost() && held.session.lock().await.run("SELECT 1").await.is_ok();
        if alive {
            return Ok(());
        }
        held.lost.store(true, Ordering::SeqCst);
        Err(TargetError::LockLost {
            target: held.target.label(),
        })
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let Some(held) = &self.held {
            held.pings.abort();
        }
    }
}

/// The file whose OS lock is a SQLite database's run lock: beside the database file itself,
/// whatever path reached it (a symbolic link, `..`), so two paths to one database are one
/// lock. An error when the database file does not exist.
fn sqlite_lock_file(file: &std::path::Path) -> std::io::Result<std::path::PathBuf> {
    let mut name = fs_err::canonicalize(file)?.into_os_string();
    name.push(".dbpm-lock");
    Ok(name.into())
}

/// One run as the target recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRecord {
    /// The run id.
    pub id: String,
    /// The hash of the plan it applied.
    pub plan_hash: String,
    /// Who ran it (OS user).
    pub os_user: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// When it ended, if it did.
    pub ended_at: Option<String>,
    /// How it stands.
    pub outcome: RunOutcome,
    /// The installed set before, as JSON.
    pub installed_before: String,
    /// The installed set after, as JSON.
    pub installed_after: Option<String>,
}

impl RunRecord {
    /// The installed sets the run recorded, with its id: before, and after once it ended.
    pub fn installed_sets(&self) -> impl Iterator<Item = (&str, &str)> {
        std::iter::once(self.installed_before.as_str())
            .chain(self.installed_after.as_deref())
            .map(|json| (self.id.as_str(), json))
    }
}

/// One journal row: the latest attempt of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    /// The step id.
    pub step: String,
    /// The attempt number (1 for the first).
    pub attempt: i64,
    /// `started`, `done`, `failed` or `skipped`.
    pub state: String,
    /// When that attempt started (RFC 3339, UTC).
    pub started_at: String,
    /// What the step printed or the error it raised.
    pub output: Option<String>,
}

/// A connection for running steps.
pub struct StepSession {
    session: Session,
    target: Target,
    /// Whether its commits wait for the disk (an admin session's do).
    durable: bool,
    /// On MySQL/MariaDB, the connection as its server knows it (see [`StepSession::backend`]).
    backend: Option<Backend>,
    /// Its id on its server, where it has one (see [`StepSession::server_id`]).
    server_id: Option<i64>,
    /// Whether a script that ran on it may have left what outlives a reset of its settings
    /// (see [`may_linger`]): the next reset lets go of it.
    lingering: bool,
}

/// Whether a PostgreSQL script names what a session keeps beyond its transaction and its
/// settings: a prepared statement, a cursor, a `LISTEN`, an advisory lock. Letting go of
/// them after every step would add to the reset that follows each; a function the script
/// calls that takes them is not seen here.
fn may_linger(script: &str) -> bool {
    const WORDS: [&str; 4] = ["prepare", "cursor", "listen", "advisory"];
    WORDS.iter().any(|word| {
        (script.as_bytes())
            .windows(word.len())
            .any(|at| at.eq_ignore_ascii_case(word.as_bytes()))
    })
}

/// A MySQL/MariaDB step connection as its server knows it, by which [`Target::end_statement`]
/// ends what runs on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    /// Its id on its server (`CONNECTION_ID()`).
    pub id: i64,
    /// Which server that is (`@@hostname:@@port/@@server_id`): behind a proxy that spreads
    /// connections over servers (MySQL Router, a balancer in front of a Galera cluster), the
    /// connection that ends the statement may reach another one, where the same id is someone
    /// else's.
    pub server: String,
}

/// The server a MySQL/MariaDB connection is on, as [`Backend::server`] says it.
const SERVER: &str = "CONCAT(@@hostname, ':', @@port, '/', @@server_id)";

impl Target {
    /// Takes the run lock, waiting up to `timeout` (a wait of more than a second is
    /// announced); `TargetError::Locked` when another apply keeps it. Scripts run only under
    /// this lock, so here a PostgreSQL target's schema must exist: dbpm never creates it, lest
    /// a mistyped `--schema` install a second copy.
    pub async fn lock(&self, timeout: Duration) -> Result<RunLock, TargetError> {
        let started = Instant::now();
        let locked = || TargetError::Locked {
            target: self.label(),
            seconds: timeout.as_secs(),
        };
        // Said once, when another run has kept the lock for a second.
        let mut announced = false;
        let announce = |announced: &mut bool| {
            if !*announced && started.elapsed() >= ANNOUNCE_AFTER {
                *announced = true;
                self.announce(WaitedLock::Run, timeout);
            }
        };
        if self.platform() == Platform::Sqlite {
            let Some(file) = self.connector.sqlite_file() else {
                return Err(locked());
            };
            // Opened first, which takes no lock: a file that cannot be (its directory is
            // missing) is explained as such, not as its lock file.
            let session = self.open(Access::Write).await?;
            self.close(session).await?;
            let path = sqlite_lock_file(file).map_err(|source| TargetError::LockFile {
                path: file.to_path_buf(),
                source,
            })?;
            let lock = fs_err::File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|source| TargetError::LockFile {
                    path: path.clone(),
                    source,
                })?;
            loop {
                match lock.file().try_lock() {
                    Ok(()) => {
                        return Ok(RunLock {
                            held: None,
                            _file: Some(lock),
                            owner: self.new_owner(),
                        })
                    }
                    Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < timeout => {
                        announce(&mut announced);
                        tokio::time::sleep(LOCK_POLL).await
                    }
                    Err(std::fs::TryLockError::WouldBlock) => return Err(locked()),
                    Err(std::fs::TryLockError::Error(source)) => {
                        return Err(TargetError::LockFile { path, source })
                    }
                }
            }
        }
        let mut session = self.open(Access::Write).await?;
        let failed = self.failed("take the run lock");
        self.schema_exists(&mut session).await?;
        loop {
            let got = match self.platform() {
                Platform::Postgres => session
                    .fetch_int(
                        "SELECT CAST(CASE WHEN pg_try_advisory_lock(CAST(? AS integer), hashtext(?)) THEN 1 ELSE 0 END AS BIGINT) AS got",
                        &[Value::Int(i64::from(PG_RUN_LOCK_CLASS)), Value::Text(&self.schema)],
                        "got",
                    )
                    .await
                    .map_err(&failed)?,
                Platform::Mysql => session
                    .fetch_int(&format!("SELECT GET_LOCK({MYSQL_RUN_LOCK}, 0) AS got"), &[], "got")
                    .await
                    .map_err(&failed)?,
                Platform::Sqlite => unreachable!("SQLite takes a file lock above"),
            };
            if got == Some(1) {
                return Ok(RunLock::holding(session, self, self.new_owner()));
            }
            if started.elapsed() >= timeout {
                return Err(locked());
            }
            announce(&mut announced);
            tokio::time::sleep(LOCK_POLL).await;
        }
    }

    /// The runs, and whether nothing held the run lock both before and after they were read:
    /// only then is a run that reads as `running` under way no more ([`Target::run_lock_free`]).
    /// Asked once, an apply that took the lock and recorded its run in between would read as
    /// interrupted; a run that ended in between reads as ended.
    pub async fn runs_and_lock_free(&self) -> Result<(Vec<RunRecord>, bool), TargetError> {
        let before = self.run_lock_free().await?;
        let runs = self.runs().await?;
        let after = self.run_lock_free().await?;
        Ok((runs, before && after))
    }

    /// The steps that failed last in the completed runs of this target, by run: the
    /// POSTINSTALL tasks that failed (exit 7), which the run's outcome does not tell.
    pub async fn failed_in_completed_runs(
        &self,
    ) -> Result<BTreeMap<String, Vec<String>>, TargetError> {
        let mut failed_steps: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let Some(mut session) = self.open_state_for_read().await? else {
            return Ok(failed_steps);
        };
        if self.state_version(&mut session).await?.is_none() {
            self.close(session).await?;
            return Ok(failed_steps);
        }
        let rows = session
            .fetch(
                "SELECT j.run_id, j.step_id FROM {journal} j JOIN {runs} r ON r.id = j.run_id
                 WHERE r.target_schema = ? AND r.outcome = 'completed' AND j.state = 'failed'
                 AND NOT EXISTS (SELECT 1 FROM {journal} k WHERE k.run_id = j.run_id AND k.step_id = j.step_id AND k.attempt > j.attempt)
                 ORDER BY j.run_id, j.step_id",
                &[Value::Text(&self.schema)],
            )
            .await
            .map_err(self.read_failed("read the journal"))?;
        let failed = self.read_failed("read the journal");
        for row in &rows {
            failed_steps
                .entry(row.text("run_id").map_err(&failed)?)
                .or_default()
                .push(row.text("step_id").map_err(&failed)?);
        }
        self.close(session).await?;
        Ok(failed_steps)
    }

    /// Whether nothing holds the run lock now: then a run still recorded as `running` is
    /// under way no more (its dbpm was killed, or its machine stopped). Never waits, and never
    /// takes the lock from a run that wants it: PostgreSQL and MySQL/MariaDB are asked who
    /// holds it (`pg_locks`, `IS_FREE_LOCK`), without taking it; on SQLite a shared lock on the
    /// lock file is tried and let go at once, so an apply polling for the lock in that instant
    /// tries again at its next poll. `false` when it cannot be told (a lock file this user
    /// may not read).
    pub async fn run_lock_free(&self) -> Result<bool, TargetError> {
        if self.platform() == Platform::Sqlite {
            let Some(file) = self.connector.sqlite_file() else {
                return Ok(false);
            };
            // An apply makes the lock file before it locks it: no file, no lock.
            let path = match sqlite_lock_file(file) {
                Ok(path) => path,
                Err(err) => return Ok(err.kind() == std::io::ErrorKind::NotFound),
            };
            let lock = match fs_err::File::open(&path) {
                Ok(lock) => lock,
                Err(err) => return Ok(err.kind() == std::io::ErrorKind::NotFound),
            };
            // Closing the file lets the shared lock go.
            return Ok(lock.file().try_lock_shared().is_ok());
        }
        let failed = self.failed("look for the run lock");
        let mut session = self.open(Access::Read).await?;
        let free = match self.platform() {
            // The two keys of `pg_try_advisory_lock(integer, integer)` show as `classid` and
            // `objid` (oids: a negative key reads as its unsigned value), `objsubid` 2.
            Platform::Postgres => session
                .fetch_int(
                    "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND classid = CAST(CAST(? AS integer) AS oid) AND objid = CAST(hashtext(?) AS oid) AND objsubid = 2) THEN 0 ELSE 1 END AS BIGINT) AS free",
                    &[Value::Int(i64::from(PG_RUN_LOCK_CLASS)), Value::Text(&self.schema)],
                    "free",
                )
                .await
                .map_err(&failed)?,
            Platform::Mysql => session
                .fetch_int(
                    &format!("SELECT CAST(IS_FREE_LOCK({MYSQL_RUN_LOCK}) AS SIGNED) AS free"),
                    &[],
                    "free",
                )
                .await
                .map_err(&failed)?,
            Platform::Sqlite => unreachable!("SQLite's lock is a file, above"),
        };
        self.close(session).await?;
        Ok(free == Some(1))
    }

    /// On MySQL/MariaDB, the largest packet the server takes (`max_allowed_packet`): a
    /// script is sent in one, and so is each text the state keeps. `None` elsewhere.
    pub async fn max_packet(&self) -> Result<Option<u64>, TargetError> {
        if self.platform() != Platform::Mysql {
            return Ok(None);
        }
        let failed = self.failed("read the server's `max_allowed_packet`");
        let mut session = self.open(Access::Read).await?;
        let limit = session
            .fetch_int("SELECT CAST(@@max_allowed_packet AS SIGNED) AS n", &[], "n")
            .await
            .map_err(&failed)?;
        self.close(session).await?;
        Ok(limit.and_then(|n| u64::try_from(n).ok()))
    }

    /// On PostgreSQL, refuses a target schema that does not exist (`NoSuchSchema`): a
    /// mistyped `--schema` would read as a target dbpm was never in.
    pub(super) async fn schema_exists(&self, session: &mut Session) -> Result<(), TargetError> {
        if self.platform() != Platform::Postgres {
            return Ok(());
        }
        let found = session
            .fetch(
                "SELECT nspname FROM pg_namespace WHERE nspname = ?",
                &[Value::Text(&self.schema)],
            )
            .await
            .map_err(self.failed("look for the target schema"))?;
        if found.is_empty() {
            return Err(TargetError::NoSuchSchema {
                target: self.label(),
                schema: self.schema.clone(),
                quoted: format!("\"{}\"", self.schema.replace('"', "\"\"")),
            });
        }
        Ok(())
    }

    /// Every run on this target, oldest first.
    pub async fn runs(&self) -> Result<Vec<RunRecord>, TargetError> {
        let Some(mut session) = self.open_state_for_read().await? else {
            return Ok(Vec::new());
        };
        // A newer layout may hold records this dbpm cannot read: it is refused as a whole.
        if self.state_version(&mut session).await?.is_none() {
            self.close(session).await?;
            return Ok(Vec::new());
        }
        let failed = self.read_failed("read the runs");
        let rows = session
            .fetch(
                "SELECT id, plan_hash, os_user, started_at, ended_at, outcome, installed_before, installed_after
                 FROM {runs} WHERE target_schema = ? ORDER BY started_at, id",
                &[Value::Text(&self.schema)],
            )
            .await
            .map_err(&failed)?;
        let runs = rows
            .iter()
            .map(|row| {
                Ok(RunRecord {
                    id: row.text("id")?,
                    plan_hash: row.text("plan_hash")?,
                    os_user: row.text("os_user")?,
                    started_at: row.text("started_at")?,
                    ended_at: row.maybe_text("ended_at")?,
                    outcome: {
                        let text = row.text("outcome")?;
                        RunOutcome::parse(&text).ok_or_else(|| {
                            sqlx::Error::Decode(format!("unknown run outcome `{text}`").into())
                        })?
                    },
                    installed_before: row.text("installed_before")?,
                    installed_after: row.maybe_text("installed_after")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(&failed)?;
        self.close(session).await?;
        Ok(runs)
    }

    /// Records a new run, and its plan (`plan`, the plan's JSON, stored once per hash) when
    /// it has one: a run started by `dbpm install` and the other verbs resumes from the
    /// target alone, since no plan file was written.
    pub async fn start_run(
        &self,
        id: &str,
        owner: &str,
        plan_hash: &str,
        os_user: &str,
        installed_before: &str,
        plan: Option<&str>,
    ) -> Result<(), TargetError> {
        let mut session = self.open(Access::Write).await?;
        if let Some(plan) = plan {
            session
                .execute(
                    "INSERT INTO {plans} (hash, content) VALUES (?, ?) {skip_duplicate_hash}",
                    &[Value::Text(plan_hash), Value::Text(plan)],
                )
                .await
                .map_err(self.failed("record the run's plan"))?;
        }
        session
            .execute(
                "INSERT INTO {runs} (id, target_schema, plan_hash, os_user, started_at, outcome, installed_before)
                 VALUES (?, ?, ?, ?, {now}, 'running', ?)",
                &[
                    Value::Text(id),
                    Value::Text(&self.schema),
                    Value::Text(plan_hash),
                    Value::Text(os_user),
                    Value::Text(installed_before),
                ],
            )
            .await
            .map_err(self.failed("record the run"))?;
        session
            .execute(
                "INSERT INTO {run_owners} (run_id, owner) VALUES (?, ?)",
                &[Value::Text(id), Value::Text(owner)],
            )
            .await
            .map_err(self.failed("record the run"))?;
        self.close(session).await
    }

    /// The plan of hash `hash` as the target stored it when a run of it started, or `None`
    /// (a run of an earlier dbpm, or an adoption).
    pub async fn stored_plan(&self, hash: &str) -> Result<Option<String>, TargetError> {
        self.plan_column(hash, "content").await
    }

    /// Whether the target stored the plan of hash `hash` (see [`Target::stored_plan`]),
    /// without reading it.
    pub async fn keeps_plan(&self, hash: &str) -> Result<bool, TargetError> {
        Ok(self.plan_column(hash, "hash").await?.is_some())
    }

    /// One column of the stored plan of hash `hash`.
    async fn plan_column(
        &self,
        hash: &str,
        column: &'static str,
    ) -> Result<Option<String>, TargetError> {
        let Some(mut session) = self.open_state_for_read().await? else {
            return Ok(None);
        };
        let failed = self.read_failed("read a run's plan");
        let found = match self.state_version(&mut session).await? {
            Some(version) if version >= tables::PLANS_KEPT_FROM => session
                .fetch(
                    &format!("SELECT {column} FROM {{plans}} WHERE hash = ?"),
                    &[Value::Text(hash)],
                )
                .await
                .map_err(&failed)?
                .first()
                .map(|row| row.text(column))
                .transpose()
                .map_err(&failed)?,
            _ => None,
        };
        self.close(session).await?;
        Ok(found)
    }

    /// Makes unfinished run `id` the run of the apply that holds the run lock as `owner`, under
    /// way again. A step of the apply that held it before, which lost the lock, waits for
    /// this to commit and then cannot commit itself (see [`StepSession::run_transactional`]);
    /// one that committed before is in the journal read after this.
    pub async fn claim_run(&self, id: &str, owner: &str) -> Result<(), TargetError> {
        let mut session = self.open(Access::Write).await?;
        self.begin_locked_write(&mut session).await?;
        let failed = self.failed("claim the run");
        // In the order a step's commit takes its locks (the owner row, then the run's row
        // through the journal's foreign key): the other order deadlocks on MySQL/MariaDB.
        let statements: [(&str, &[Value<'_>]); 3] = [
            (
                "DELETE FROM {run_owners} WHERE run_id = ?",
                &[Value::Text(id)],
            ),
            (
                "INSERT INTO {run_owners} (run_id, owner) VALUES (?, ?)",
                &[Value::Text(id), Value::Text(owner)],
            ),
            (
                "UPDATE {runs} SET outcome = 'running', ended_at = NULL, installed_after = NULL WHERE id = ?",
                &[Value::Text(id)],
            ),
        ];
        for (sql, values) in statements {
            session.execute(sql, values).await.map_err(&failed)?;
        }
        session.commit_and_unlock().await.map_err(&failed)?;
        self.close(session).await
    }

    /// A new holder of the run lock: unique across processes and targets.
    fn new_owner(&self) -> String {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seed = format!("{nanos} {} {}", std::process::id(), self.label());
        let checksum = Checksum::of_bytes(seed.as_bytes());
        let hex = checksum.as_str().split_once(':').map_or("", |(_, hex)| hex);
        hex[..OWNER_LEN].to_owned()
    }

    /// Sets a run's outcome; `ended` also stamps its end (and the installed set after it).
    pub async fn set_outcome(
        &self,
        id: &str,
        outcome: RunOutcome,
        ended: bool,
        installed_after: Option<&str>,
    ) -> Result<(), TargetError> {
        let mut session = self.open(Access::Write).await?;
        let sql = if ended {
            "UPDATE {runs} SET outcome = ?, ended_at = {now}, installed_after = ? WHERE id = ?"
        } else {
            "UPDATE {runs} SET outcome = ?, ended_at = NULL, installed_after = ? WHERE id = ?"
        };
        session
            .execute(
                sql,
                &[
                    Value::Text(outcome.as_str()),
                    Value::MaybeText(installed_after),
                    Value::Text(id),
                ],
            )
            .await
            .map_err(self.failed("record the run's outcome"))?;
        self.close(session).await
    }

    /// The latest attempt of every step of a run, in the order they started.
    pub async fn journal(&self, run: &str) -> Result<Vec<JournalRow>, TargetError> {
        let mut session = self.open(Access::Write).await?;
        let failed = self.read_failed("read the journal");
        let rows = session
            .fetch(
                "SELECT step_id, attempt, state, started_at, ended_at, output FROM {journal} WHERE run_id = ? ORDER BY step_id, attempt",
                &[Value::Text(run)],
            )
            .await
            .map_err(&failed)?;
        // With the time each ended: steps journaled in the same instant (a SQLite batch, or
        // a step started as the batch before it committed) are ordered by when they ended.
        let mut latest: std::collections::BTreeMap<String, (Option<String>, JournalRow)> =
            std::collections::BTreeMap::new();
        for row in &rows {
            let entry = JournalRow {
                step: row.text("step_id").map_err(&failed)?,
                attempt: row.maybe_int("attempt").map_err(&failed)?.unwrap_or(0),
                state: row.text("state").map_err(&failed)?,
                started_at: row.text("started_at").map_err(&failed)?,
                output: row.maybe_text("output").map_err(&failed)?,
            };
            let ended = row.maybe_text("ended_at").map_err(&failed)?;
            latest.insert(entry.step.clone(), (ended, entry));
        }
        self.close(session).await?;
        let mut rows: Vec<(Option<String>, JournalRow)> = latest.into_values().collect();
        rows.sort_by(|(a_end, a), (b_end, b)| {
            let key = |end: &Option<String>, row: &JournalRow| {
                (
                    row.started_at.clone(),
                    end.is_none(),
                    end.clone(),
                    row.step.clone(),
                )
            };
            key(a_end, a).cmp(&key(b_end, b))
        });
        Ok(rows.into_iter().map(|(_, row)| row).collect())
    }

    /// A connection to run steps on.
    ///
    /// On PostgreSQL its commits do not wait for the disk (`synchronous_commit = off`): a
    /// step's script and its journal entry commit together, so a server crash can only lose
    /// both, and the resumed run then runs the step again. The state recorded at the end of a
    /// run commits synchronously, which flushes every earlier step's commit with it.
    pub async fn step_session(&self) -> Result<StepSession, TargetError> {
        self.open_step_session(false).await
    }

    /// A connection of an admin target, to run a `.sys` step's script on. Unlike
    /// [`Target::step_session`]'s, its commits wait for the disk: the script's commit is not
    /// the journal's (that is on the target's connection, after it), so it must be durable
    /// before the step can be journaled `done`.
    pub async fn admin_session(&self) -> Result<StepSession, TargetError> {
        self.open_step_session(true).await
    }

    /// A step connection whose PostgreSQL `search_path` holds the target schema alone (and
    /// `pg_catalog`): checks made on it see the target's own objects, never those of
    /// another schema with the same names (the connection's own `search_path` usually
    /// holds `public`, another target's schema). For the checks of a claim (`adopt`), which
    /// would otherwise confirm an empty tenant schema with `public`'s tables.
    pub async fn own_schema_session(&self) -> Result<StepSession, TargetError> {
        let mut step = self.open_step_session(false).await?;
        if self.platform() == Platform::Postgres {
            step.session
                .run_verbatim(&format!(
                    "SELECT set_config('search_path', quote_ident({}), false)",
                    pg_literal(&self.schema)
                ))
                .await
                .map_err(self.failed("set the search path to the target schema alone"))?;
        }
        Ok(step)
    }

    async fn open_step_session(&self, durable: bool) -> Result<StepSession, TargetError> {
        let mut session = self.open(Access::Write).await?;
        self.prepare_step_session(&mut session, durable).await?;
        let backend = match self.platform() {
            Platform::Mysql => {
                let failed = self.failed("prepare a step connection");
                let rows = session
                    .fetch(
                        &format!(
                            "SELECT CAST(CONNECTION_ID() AS SIGNED) AS id, {SERVER} AS server"
                        ),
                        &[],
                    )
                    .await
                    .map_err(&failed)?;
                match rows.first() {
                    Some(row) => match row.maybe_int("id").map_err(&failed)? {
                        Some(id) => Some(Backend {
                            id,
                            server: row.text("server").map_err(&failed)?,
                        }),
                        None => None,
                    },
                    None => None,
                }
            }
            Platform::Postgres | Platform::Sqlite => None,
        };
        let server_id = match self.platform() {
            Platform::Postgres => session
                .fetch_int("SELECT pg_backend_pid()::bigint AS id", &[], "id")
                .await
                .map_err(self.failed("prepare a step connection"))?,
            Platform::Mysql => backend.as_ref().map(|backend| backend.id),
            Platform::Sqlite => None,
        };
        Ok(StepSession {
            session,
            target: self.clone(),
            durable,
            backend,
            server_id,
            lingering: false,
        })
    }

    /// Ends the statement running on step connection `backend` of this MySQL/MariaDB target
    /// (`KILL QUERY`), from a connection of its own: for an exit that does not wait for a
    /// step, since the server runs a statement on to its end after its client went away.
    /// Only where that connection is the step's: on the same server, and a connection of the
    /// same user; elsewhere (a proxy routed this one to another server) nothing is ended, and
    /// `false` says so.
    pub async fn end_statement(&self, backend: &Backend) -> Result<bool, TargetError> {
        let failed = self.failed("end a step's statement");
        let mut session = self.open(Access::Read).await?;
        let seen = format!(
            "SELECT {SERVER} AS server, (SELECT COUNT(*) FROM information_schema.processlist WHERE id = ? AND user = (SELECT user FROM information_schema.processlist WHERE id = CONNECTION_ID())) AS found"
        );
        let rows = session
            .fetch(&seen, &[Value::Int(backend.id)])
            .await
            .map_err(&failed)?;
        let ours = match rows.first() {
            Some(row) => {
                row.text("server").map_err(&failed)? == backend.server
                    && row.maybe_int("found").map_err(&failed)? == Some(1)
            }
            None => false,
        };
        if ours {
            session
                .run_verbatim(&format!("KILL QUERY {}", backend.id))
                .await
                .map_err(&failed)?;
        }
        self.close(session).await?;
        Ok(ours)
    }

    async fn prepare_step_session(
        &self,
        session: &mut Session,
        durable: bool,
    ) -> Result<(), TargetError> {
        if self.platform() == Platform::Postgres {
            let settings = if durable {
                CHECK_CLIENT.to_owned()
            } else {
                format!("{NOT_DURABLE}; {CHECK_CLIENT}")
            };
            session
                .run_verbatim(&settings)
                .await
                .map_err(self.failed("prepare a step connection"))?;
        }
        Ok(())
    }

    /// How long a step's statements may wait for a lock another session holds
    /// ([`Target::limiting_step_lock_waits`]), as the platform sets it, if there is a limit
    /// and the platform has one. Set around a script only: dbpm's own statements on the
    /// connection (its journal) wait as the server says.
    fn step_lock_limit(&self) -> Option<LockLimit> {
        let wait = self.step_lock_wait?;
        match self.platform() {
            Platform::Postgres => {
                // The server takes at most `i32::MAX` milliseconds.
                let millis = wait.as_millis().clamp(1, i32::MAX as u128);
                Some(LockLimit {
                    set: format!("SET lock_timeout = {millis}"),
                    in_transaction: format!("SET LOCAL lock_timeout = {millis}"),
                    reset: "SET lock_timeout TO DEFAULT",
                })
            }
            // Whole seconds, at least one: the servers take nothing finer.
            Platform::Mysql => {
                let seconds = wait.as_secs().max(1);
                let set = format!(
                    "SET SESSION lock_wait_timeout = {seconds}, innodb_lock_wait_timeout = {seconds}"
                );
                Some(LockLimit {
                    in_transaction: set.clone(),
                    set,
                    reset: "SET SESSION lock_wait_timeout = DEFAULT, innodb_lock_wait_timeout = DEFAULT",
                })
            }
            Platform::Sqlite => None,
        }
    }

    /// A session on the state for reading, or `None` when dbpm was never here.
    async fn open_state_for_read(&self) -> Result<Option<Session>, TargetError> {
        if self.missing_file().is_some() {
            return Ok(None);
        }
        let mut session = self.open(Access::Read).await?;
        self.schema_exists(&mut session).await?;
        if self.has_state(&mut session).await? {
            Ok(Some(session))
        } else {
            self.close(session).await?;
            Ok(None)
        }
    }
}

/// Why a step's script failed (the database's message), as the journal keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptFailed(pub String);

/// The statements that limit a step's lock waits (see [`Target::step_lock_limit`]).
struct LockLimit {
    /// Sets the limit for the session.
    set: String,
    /// Sets it for the transaction the script runs in (PostgreSQL: `SET LOCAL`, which the
    /// journal commit sets back).
    in_transaction: String,
    /// Sets the session back to the server's setting.
    reset: &'static str,
}

impl StepSession {
    /// The session as a new one, for the next step or journal entry: what a script set for
    /// its session (PostgreSQL's `search_path` or role, MySQL's `autocommit`, `sql_mode` or
    /// `USE`, SQLite's pragmas) never reaches anything else, as if every step had a connection
    /// of its own. What the script left uncommitted is rolled back, as for a client that
    /// disconnects. PostgreSQL's session is reset in place (its settings, then the target's
    /// again: see `Session::reset`), since a new connection there costs several
    /// milliseconds; any other is replaced by a new connection.
    pub async fn fresh(self) -> Result<StepSession, TargetError> {
        self.renew(false).await
    }

    /// [`StepSession::fresh`] after a step that [`StepSession::run_transactional`] ran to its
    /// end: its transaction is over, committed or rolled back, whatever the script did.
    pub async fn fresh_after_transaction(self) -> Result<StepSession, TargetError> {
        self.renew(true).await
    }

    async fn renew(self, after_commit: bool) -> Result<StepSession, TargetError> {
        let StepSession {
            mut session,
            target,
            durable,
            backend,
            server_id,
            lingering,
        } = self;
        if target.platform() != Platform::Postgres {
            // Closing rolls back what is open; a connection that fails to close is gone.
            let _ = session.close().await;
            return target.open_step_session(durable).await;
        }
        // The reset and the target's settings again, in one round trip.
        let search_path = target.pg_search_path();
        let settings: &[&str] = if durable {
            &[CHECK_CLIENT, &search_path]
        } else {
            &[NOT_DURABLE, CHECK_CLIENT, &search_path]
        };
        session
            .reset(after_commit, lingering, settings)
            .await
            .map_err(target.failed("reset a step connection"))?;
        Ok(StepSession {
            session,
            target,
            durable,
            backend,
            server_id,
            lingering: false,
        })
    }

    /// The connection's id on its server (PostgreSQL's process id, MySQL/MariaDB's
    /// `CONNECTION_ID()`), by which [`Target::held_up`] tells whether it waits for a lock;
    /// `None` on SQLite.
    pub fn server_id(&self) -> Option<i64> {
        self.server_id
    }

    /// On MySQL/MariaDB, this connection as its server knows it, by which
    /// [`Target::end_statement`] ends what runs on it; `None` elsewhere (a PostgreSQL server
    /// ends a statement itself once its client is gone: see `CHECK_CLIENT`).
    pub fn backend(&self) -> Option<&Backend> {
        self.backend.as_ref()
    }

    /// Runs a transactional step: the script and its `done` journal entry commit together.
    /// On a failure, the database undoes the script and the failure is journaled apart.
    /// `before_commit` is called between the script and the commit (the crash tests' fail point).
    ///
    /// The commit holds the run's record (a shared row lock) and happens only while `owner`
    /// holds the run: when another apply has claimed it (this one lost the run lock), the
    /// script is rolled back and the error is `TargetError::LockLost`, since that apply runs
    /// the step itself. SQLite's run lock is the process's own and cannot be lost.
    pub async fn run_transactional(
        &mut self,
        run: &str,
        owner: &str,
        step: &str,
        attempt: i64,
        script: &str,
        before_commit: impl Fn(&str),
    ) -> Result<Result<(), ScriptFailed>, TargetError> {
        if let Err(ScriptFailed(message)) = self.begin_and_run(script).await? {
            self.mark_failed(run, owner, step, attempt, &message)
                .await?;
            return Ok(Err(ScriptFailed(message)));
        }
        if self.target.platform() == Platform::Postgres {
            // The journal entry is dbpm's, whatever role the script took (`SET ROLE
            // app_owner`, so that what it creates belongs to that role). It goes with the
            // commit in one round trip, its values as literals: statements of one simple
            // query cannot bind any.
            before_commit(step);
            let journal = render(
                Platform::Postgres,
                "INSERT INTO {journal} (run_id, step_id, attempt, state, started_at, ended_at) VALUES",
            );
            let now = render(Platform::Postgres, "{now}");
            let held = format!(
                "SELECT 1 FROM {} WHERE run_id = {} AND owner = {} FOR SHARE",
                render(Platform::Postgres, "{run_owners}"),
                pg_literal(run),
                pg_literal(owner),
            );
            // The savepoint fails when the script ended the transaction itself. The script's
            // timeouts do not reach dbpm's own statements. A script at REPEATABLE READ or
            // SERIALIZABLE meets the claim's change of the owner row as a serialization
            // failure: the run was claimed all the same.
            let sql = format!(
                "SAVEPOINT dbpm_step; RELEASE SAVEPOINT dbpm_step; SET SESSION AUTHORIZATION DEFAULT; SET LOCAL statement_timeout TO DEFAULT; SET LOCAL lock_timeout TO DEFAULT; DO $dbpm$ BEGIN IF current_setting('transaction_read_only') = 'on' THEN RAISE EXCEPTION '{READ_ONLY}'; END IF; IF NOT EXISTS ({held}) THEN RAISE EXCEPTION '{RUN_CLAIMED}'; END IF; EXCEPTION WHEN serialization_failure THEN RAISE EXCEPTION '{RUN_CLAIMED}'; END $dbpm$; {journal} ({}, {}, {attempt}, 'done', {now}, {now}); COMMIT",
                pg_literal(run),
                pg_literal(step),
            );
            return match self.session.run_verbatim(&sql).await {
                Ok(()) => Ok(Ok(())),
                // A script with a `COMMIT` or `ROLLBACK` of its own does not run here (see
                // `runner::run_step`): one the statement scanner could not read ended the
                // transaction. Whether its work stays is unknown; the step failed.
                Err(err) if ended_by_script(&err) => {
                    let message = "the script ended dbpm's transaction itself, with transaction control dbpm did not find in its text; what it did before may stay; declare the script `transaction = false`".to_owned();
                    self.mark_failed(run, owner, step, attempt, &message)
                        .await?;
                    Ok(Err(ScriptFailed(message)))
                }
                Err(err)
                    if err
                        .as_database_error()
                        .is_some_and(|db| db.message() == RUN_CLAIMED) =>
                {
                    let _ = self.session.run("ROLLBACK").await;
                    Err(TargetError::LockLost {
                        target: self.target.label(),
                    })
                }
                // The server refused the commit and rolled the script back (a serialization
                // failure), or the script left its transaction read-only: the script failed,
                // journaled apart.
                Err(err) if refused_commit(&err) || read_only(&err).is_some() => {
                    let message = read_only(&err).map_or_else(|| describe(&err), str::to_owned);
                    // Refused by the INSERT, the COMMIT never ran: the transaction is
                    // aborted and open until this.
                    let _ = self.session.run("ROLLBACK").await;
                    self.mark_failed(run, owner, step, attempt, &message)
                        .await?;
                    Ok(Err(ScriptFailed(message)))
                }
                Err(err) => Err(self.target.failed("journal and commit a step")(err)),
            };
        }
        if self.target.platform() == Platform::Mysql && !self.holds(run, owner).await? {
            let _ = self.session.run("ROLLBACK").await;
            return Err(TargetError::LockLost {
                target: self.target.label(),
            });
        }
        self.writable().await?;
        self.session
            .execute(
                "INSERT INTO {journal} (run_id, step_id, attempt, state, started_at, ended_at) VALUES (?, ?, ?, 'done', {now}, {now})",
                &[Value::Text(run), Value::Text(step), Value::Int(attempt)],
            )
            .await
            .map_err(self.target.failed("journal a step"))?;
        before_commit(step);
        self.session
            .run("COMMIT")
            .await
            .map_err(self.target.failed("commit a step"))?;
        Ok(Ok(()))
    }

    /// Runs a script inside a transaction of its own, and commits it: all of the script
    /// takes effect, or none. `before_commit` is called between the script and the commit
    /// (the crash tests' fail point).
    ///
    /// Unlike [`StepSession::run_transactional`] this journals nothing: it is for a
    /// transactional `.sys` step, whose script runs on a connection of the admin target
    /// while its journal lives on the target's connection. The two cannot commit together,
    /// so the caller journals the step `started` before and `done` after, and a crash in
    /// between leaves it in doubt, as for a non-transactional step. What the transaction
    /// buys is that a failed script leaves nothing behind, so it needs no compensation.
    ///
    /// A commit the database refuses (a deferred constraint, a serialization failure) rolled
    /// the script back and is the script's failure; a commit whose answer was lost (the
    /// connection broke) may or may not have happened, and is the target's failure, which
    /// leaves the step in doubt.
    pub async fn run_in_transaction(
        &mut self,
        script: &str,
        before_commit: impl FnOnce(),
    ) -> Result<Result<(), ScriptFailed>, TargetError> {
        if let Err(failed) = self.begin_and_run(script).await? {
            return Ok(Err(failed));
        }
        before_commit();
        match self.session.run("COMMIT").await {
            Ok(()) => Ok(Ok(())),
            Err(err @ sqlx::Error::Database(_)) if !lost_connection(&err) => {
                // PostgreSQL has ended the transaction; elsewhere a ROLLBACK makes sure.
                let _ = self.session.run("ROLLBACK").await;
                Ok(Err(ScriptFailed(describe(&err))))
            }
            Err(err) => Err(self.target.failed("commit a step")(err)),
        }
    }

    /// Begins a transaction and runs `script` in it, leaving it open to commit. A script that
    /// lost a lock race is rolled back and tried again in a new transaction; a script that
    /// fails is rolled back and its failure returned.
    async fn begin_and_run(
        &mut self,
        script: &str,
    ) -> Result<Result<(), ScriptFailed>, TargetError> {
        let mut tries = 0;
        loop {
            let Err(err) = self.begin_then(script).await? else {
                return Ok(Ok(()));
            };
            if lost_connection(&err.error) {
                return Err(self.target.failed("run a step's script")(err.error));
            }
            // A failed statement may already have ended the transaction (MySQL DDL); a
            // ROLLBACK then has nothing to do and is harmless.
            let _ = self.session.run("ROLLBACK").await;
            if retryable(&err.error) {
                if tries < MAX_RETRIES {
                    tries += 1;
                    tokio::time::sleep(RETRY_PAUSE * tries).await;
                    continue;
                }
                return Ok(Err(ScriptFailed(after_tries(
                    self.describe_in(&err, script),
                ))));
            }
            return Ok(Err(ScriptFailed(self.describe_in(&err, script))));
        }
    }

    /// What the database said of `script`'s failure in a transaction, and where in it.
    fn describe_in(&self, err: &ScriptError, script: &str) -> String {
        // On PostgreSQL the script follows its `BEGIN` (and lock limit) in the text sent
        // (see `begin_then`).
        let prefix = self.pg_script_prefix().len();
        where_in(err, script, prefix, self.target.platform())
    }

    /// What a PostgreSQL script in a transaction is sent after: its `BEGIN` and the step's
    /// lock limit, and a line break.
    fn pg_script_prefix(&self) -> String {
        match self.target.step_lock_limit() {
            Some(limit) => format!("BEGIN; {};\n", limit.in_transaction),
            None => "BEGIN;\n".to_owned(),
        }
    }

    /// Begins a transaction and runs `script` in it: the outer error is the target's (no
    /// transaction could begin), the inner one the script's. On PostgreSQL in one round trip,
    /// as one simple query: its statements run in order up to the first error.
    async fn begin_then(&mut self, script: &str) -> Result<Result<(), ScriptError>, TargetError> {
        self.lingering |= may_linger(script);
        if self.target.platform() == Platform::Postgres {
            // Deferred constraints are checked at the end of the script, not at the commit
            // that carries the journal entry: a violation is the script's failure.
            let prefix = self.pg_script_prefix();
            return Ok(self
                .session
                .run_script(&format!("{prefix}{script}\n;SET CONSTRAINTS ALL IMMEDIATE"))
                .await);
        }
        let limit = self.target.step_lock_limit();
        if let Some(limit) = &limit {
            self.limit_lock_waits(&limit.in_transaction).await?;
        }
        self.session
            .run(self.begin_statement())
            .await
            .map_err(self.target.failed("begin a step's transaction"))?;
        let result = self.session.run_script(script).await;
        // A lost connection has nothing to set back: the caller reports it.
        let connected = result
            .as_ref()
            .err()
            .is_none_or(|err| !lost_connection(&err.error));
        if let (Some(limit), true) = (&limit, connected) {
            self.end_lock_limit(limit, result.is_ok()).await?;
        }
        // A script's `USE` would send the journal entry (and a retry) to another database.
        if let (Some(database), true) = (self.target.mysql_database(), connected) {
            self.session
                .run_verbatim(&dialect::mysql_use(database))
                .await
                .map_err(self.target.failed("return to the target database"))?;
        }
        Ok(result)
    }

    /// Runs several transactional steps in one transaction, each with its `done` journal
    /// entry: all of them commit, or none. `Some(_)` when a script failed; then everything
    /// was rolled back and nothing journaled, so the caller runs the steps one by one to find
    /// and journal the failure. Used where steps run one after another anyway
    /// (SQLite), to spare a commit per step.
    pub async fn run_batch(
        &mut self,
        run: &str,
        steps: &[(String, i64, String)],
        before_commit: impl Fn(&str),
    ) -> Result<Option<usize>, TargetError> {
        let begin = self.begin_statement();
        self.session
            .run(begin)
            .await
            .map_err(self.target.failed("begin a batch of steps"))?;
        // One text where that is safe (see `joined`), else each script on its own, as one
        // step would run it. On any failure everything is rolled back and the caller runs the
        // steps one by one, which finds and journals the failing one.
        let scripts: Vec<&str> = steps.iter().map(|(_, _, script)| script.as_str()).collect();
        let texts = match joined(&scripts, self.target.platform()) {
            Some(text) => vec![text],
            None => scripts.iter().map(|s| (*s).to_owned()).collect(),
        };
        for text in &texts {
            if self.session.run_script(text).await.is_err() {
                let _ = self.session.run("ROLLBACK").await;
                return Ok(Some(0));
            }
        }
        for chunk in steps.chunks(JOURNAL_ROWS_PER_INSERT) {
            let rows = vec!["(?, ?, ?, 'done', {now}, {now})"; chunk.len()].join(", ");
            let values: Vec<Value<'_>> = chunk
                .iter()
                .flat_map(|(step, attempt, _)| {
                    [Value::Text(run), Value::Text(step), Value::Int(*attempt)]
                })
                .collect();
            self.session
                .execute(
                    &format!("INSERT INTO {{journal}} (run_id, step_id, attempt, state, started_at, ended_at) VALUES {rows}"),
                    &values,
                )
                .await
                .map_err(self.target.failed("journal a step"))?;
        }
        for (step, _, _) in steps {
            before_commit(step);
        }
        self.session
            .run("COMMIT")
            .await
            .map_err(self.target.failed("commit a batch of steps"))?;
        Ok(None)
    }

    /// Runs a check (a VERIFY script) inside a transaction that is always rolled back, so a
    /// check never changes the target. A check that lost a lock race (a deadlock, a lock
    /// wait) is tried again, as a step is: it changed nothing.
    pub async fn check(&mut self, script: &str) -> Result<Result<(), ScriptFailed>, TargetError> {
        let mut tries = 0;
        loop {
            let result = self.begin_then(script).await?;
            self.session
                .run("ROLLBACK")
                .await
                .map_err(self.target.failed("end a check"))?;
            match result {
                Ok(()) => return Ok(Ok(())),
                Err(err) if tries < MAX_RETRIES && retryable(&err.error) => {
                    tries += 1;
                    tokio::time::sleep(RETRY_PAUSE * tries).await;
                }
                Err(err) if retryable(&err.error) => {
                    return Ok(Err(ScriptFailed(after_tries(
                        self.describe_in(&err, script),
                    ))))
                }
                Err(err) => return Ok(Err(ScriptFailed(self.describe_in(&err, script)))),
            }
        }
    }

    /// Runs a script outside any transaction (the caller journals it started and done). A
    /// lost lock race is tried again only while nothing of the script took effect: running
    /// again statements that already committed (MySQL/MariaDB) would apply them twice. A lost
    /// connection is the target's failure, not the script's (see `lost_connection`).
    pub async fn run_plain(
        &mut self,
        script: &str,
    ) -> Result<Result<(), ScriptFailed>, TargetError> {
        self.lingering |= may_linger(script);
        let platform = self.target.platform();
        // What failed may have left its first part behind.
        let commits_in_parts = commits_in_parts(script, platform);
        let limit = self.target.step_lock_limit();
        if let Some(limit) = &limit {
            self.limit_lock_waits(&limit.set).await?;
        }
        let mut tries = 0;
        let outcome = loop {
            let message = match self.session.run_script(script).await {
                Ok(()) => break Ok(()),
                Err(failed) if lost_connection(&failed.error) => {
                    return Err(self.target.failed("run a step's script")(failed.error))
                }
                Err(failed)
                    if tries < MAX_RETRIES
                        && !failed.took_effect()
                        && !commits_in_parts
                        && retryable(&failed.error) =>
                {
                    tries += 1;
                    tokio::time::sleep(RETRY_PAUSE * tries).await;
                    continue;
                }
                Err(failed) if failed.took_effect() && retryable(&failed.error) => format!(
                    "{} (not tried again: earlier statements of the script had run)",
                    where_in(&failed, script, 0, platform)
                ),
                Err(failed) if commits_in_parts && retryable(&failed.error) => format!(
                    "{} (not tried again: the script commits in parts, and its first may have taken effect)",
                    where_in(&failed, script, 0, platform)
                ),
                Err(failed) if retryable(&failed.error) => {
                    after_tries(where_in(&failed, script, 0, platform))
                }
                Err(failed) => where_in(&failed, script, 0, platform),
            };
            break Err(ScriptFailed(message));
        };
        let outcome = match outcome {
            Ok(()) => self.left_open().await?,
            Err(failed) => Err(failed),
        };
        if let Some(limit) = &limit {
            self.end_lock_limit(limit, outcome.is_ok()).await?;
        }
        Ok(outcome)
    }

    /// Limits the lock waits of the script that follows, with one of a [`LockLimit`]'s
    /// statements.
    async fn limit_lock_waits(&mut self, statement: &str) -> Result<(), TargetError> {
        self.session
            .run_verbatim(statement)
            .await
            .map_err(self.target.failed("limit a step's lock waits"))
    }

    /// Sets the session's lock waits back after a script: surely after one that succeeded
    /// (the journal follows); after a failure, whatever the script left (PostgreSQL: an
    /// aborted transaction of its own) may refuse it, and the session is reset or closed
    /// after the step anyway.
    async fn end_lock_limit(
        &mut self,
        limit: &LockLimit,
        succeeded: bool,
    ) -> Result<(), TargetError> {
        let reset = self.session.run_verbatim(limit.reset).await;
        if succeeded {
            reset.map_err(self.target.failed("end a step's lock limit"))?;
        }
        Ok(())
    }

    /// After a script that ran outside a transaction: the script's failure when it left a
    /// transaction open (a `BEGIN` without its `COMMIT`), which is rolled back, as a client
    /// that disconnects would have it. Else the journal entry that follows would commit it,
    /// or (MySQL/MariaDB, whose step connection closes after each step) the close would roll
    /// it back behind a step journaled done. MySQL does not tell (see
    /// `Session::in_transaction`).
    async fn left_open(&mut self) -> Result<Result<(), ScriptFailed>, TargetError> {
        let failed = self.target.failed("end a step's script");
        let open = match self.target.platform() {
            Platform::Postgres | Platform::Mysql => {
                self.session.in_transaction().await.map_err(&failed)?
            }
            // Refused inside a transaction; else it begins one, rolled back below.
            Platform::Sqlite => match self.session.run("BEGIN").await {
                Ok(()) => false,
                Err(err @ sqlx::Error::Database(_)) if !lost_connection(&err) => true,
                Err(err) => return Err(failed(err)),
            },
        };
        // PostgreSQL outside a transaction has nothing to roll back (and would log a warning).
        if open || self.target.platform() == Platform::Sqlite {
            match self.session.run("ROLLBACK").await {
                Ok(()) => {}
                // An `XA` transaction refuses a plain `ROLLBACK`: the step fails all the
                // same, and its connection is reset or closed after it.
                Err(err @ sqlx::Error::Database(_)) if open && !lost_connection(&err) => {}
                Err(err) => return Err(failed(err)),
            }
        }
        Ok(if open {
            Err(ScriptFailed("the script left a transaction open (a `BEGIN` without its `COMMIT`, or writes with `autocommit` off); dbpm rolled it back, with what the script did in it, and, on PostgreSQL, the statements before the `BEGIN` that were sent with it; end it with `COMMIT`".to_owned()))
        } else {
            Ok(())
        })
    }

    /// Journals an attempt of a step: inserted when new, updated otherwise.
    pub async fn mark(
        &mut self,
        run: &str,
        step: &str,
        attempt: i64,
        state: &str,
        output: Option<&str>,
    ) -> Result<(), TargetError> {
        self.writable().await?;
        let failed = self.target.failed("journal a step");
        let updated = self
            .session
            .execute(
                "UPDATE {journal} SET state = ?, ended_at = {now}, output = ? WHERE run_id = ? AND step_id = ? AND attempt = ?",
                &[Value::Text(state), Value::MaybeText(output), Value::Text(run), Value::Text(step), Value::Int(attempt)],
            )
            .await
            .map_err(&failed)?;
        if updated == 0 {
            let ended = if state == "started" { "NULL" } else { "{now}" };
            self.session
                .execute(
                    &format!(
                        "INSERT INTO {{journal}} (run_id, step_id, attempt, state, started_at, ended_at, output) VALUES (?, ?, ?, ?, {{now}}, {ended}, ?)"
                    ),
                    &[Value::Text(run), Value::Text(step), Value::Int(attempt), Value::Text(state), Value::MaybeText(output)],
                )
                .await
                .map_err(&failed)?;
        }
        Ok(())
    }

    /// Whether `owner` still holds `run`, keeping its owner row locked (shared) until the
    /// session's transaction ends; on SQLite, whose run lock cannot be lost, always.
    async fn holds(&mut self, run: &str, owner: &str) -> Result<bool, TargetError> {
        let share = match self.target.platform() {
            Platform::Postgres => "FOR SHARE",
            Platform::Mysql => "LOCK IN SHARE MODE",
            Platform::Sqlite => return Ok(true),
        };
        let rows = self
            .session
            .fetch(
                &format!("SELECT owner FROM {{run_owners}} WHERE run_id = ? AND owner = ? {share}"),
                &[Value::Text(run), Value::Text(owner)],
            )
            .await
            .map_err(
                self.target
                    .failed("check that the run is still this apply's"),
            )?;
        Ok(!rows.is_empty())
    }

    /// Journals a transactional step's failure (its transaction rolled back), unless another
    /// apply has claimed the run meanwhile and runs the step itself: then its journal entry
    /// is that apply's to write, and this apply has lost the run lock.
    async fn mark_failed(
        &mut self,
        run: &str,
        owner: &str,
        step: &str,
        attempt: i64,
        message: &str,
    ) -> Result<(), TargetError> {
        self.mark_held(run, owner, step, attempt, "failed", Some(message))
            .await
    }

    /// [`StepSession::mark`] in a transaction of its own, only while `owner` holds `run`
    /// (else `TargetError::LockLost`): for a step whose script committed nothing with it.
    pub async fn mark_held(
        &mut self,
        run: &str,
        owner: &str,
        step: &str,
        attempt: i64,
        state: &str,
        output: Option<&str>,
    ) -> Result<(), TargetError> {
        let begin = self.begin_statement();
        self.session
            .run(begin)
            .await
            .map_err(self.target.failed("journal a step"))?;
        if !self.holds(run, owner).await? {
            let _ = self.session.run("ROLLBACK").await;
            return Err(TargetError::LockLost {
                target: self.target.label(),
            });
        }
        self.mark(run, step, attempt, state, output).await?;
        self.session
            .run("COMMIT")
            .await
            .map_err(self.target.failed("journal a step"))?;
        Ok(())
    }

    /// On SQLite, lets dbpm write its journal on a connection whose script turned it
    /// read-only (`PRAGMA query_only = ON`, for a check that must change nothing).
    async fn writable(&mut self) -> Result<(), TargetError> {
        if self.target.platform() == Platform::Sqlite {
            self.session
                .run("PRAGMA query_only = OFF")
                .await
                .map_err(self.target.failed("journal a step"))?;
        }
        Ok(())
    }

    /// How a transaction starts on the session's platform.
    fn begin_statement(&self) -> &'static str {
        if self.target.platform() == Platform::Mysql {
            "START TRANSACTION"
        } else {
            "BEGIN"
        }
    }

    /// The target the session is connected to.
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Closes the connection.
    pub async fn close(self) -> Result<(), TargetError> {
        self.target.close(self.session).await
    }
}

/// The scripts of a batch as one text, when the statement scanner finds in it exactly the
/// statements it finds in each script; else `None`, and each runs on its own. A script's
/// unclosed trailing comment or string, or a last statement without its `;`, would run into
/// the next script and change both; the counts then differ. One text spares the SQLite
/// driver a round trip to its worker thread per script, most of the time of a small step.
/// Only small scripts are joined: a long one runs in pieces (see `chunks`), which one text
/// that mentions a trigger anywhere would prevent.
fn joined(scripts: &[&str], platform: Platform) -> Option<String> {
    if scripts.iter().map(|script| script.len()).sum::<usize>() > super::chunks::PIECE {
        return None;
    }
    let count = |text: &str| statements::scan(text, platform).count();
    let text = scripts.join("\n");
    let each: usize = scripts.iter().map(|script| count(script)).sum();
    (count(&text) == each).then_some(text)
}

/// Journal rows written by one statement of a batch.
const JOURNAL_ROWS_PER_INSERT: usize = 200;

/// How often a script that lost a lock race is tried again.
const MAX_RETRIES: u32 = 5;
/// The pause before the first retry; it grows with each.
const RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Whether a failure is a lost race for locks, not a fault of the script: MySQL/MariaDB's
/// lock wait timeout (1205) and deadlock (1213), PostgreSQL's deadlock (40P01),
/// serialization failure (40001) and lock wait timeout (55P03, `lock_timeout`). DDL on
/// tables linked by foreign keys, run side by side, meets them, as does a statement that
/// gave up waiting behind another session's transaction; the statement did not take effect,
/// so running it again is safe.
fn retryable(err: &sqlx::Error) -> bool {
    if let Some(number) = mysql_error_number(err) {
        return matches!(number, 1205 | 1213);
    }
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| matches!(&*code, "40P01" | "40001" | "55P03"))
}

/// What a failure that [`retryable`] would try again says once the tries are spent.
fn after_tries(message: String) -> String {
    format!(
        "{message} (tried {} times: another session's locks or writes stood in the way each time)",
        MAX_RETRIES + 1
    )
}

/// Whether a failure is the connection's, not the script's: it broke (I/O, TLS), or the
/// server ended the session (PostgreSQL's class 08 and 57P01–57P05: `pg_terminate_backend`,
/// a shutdown, a dropped database, `idle_session_timeout`; MariaDB's 1927 "connection was
/// killed", and 1053 shutdown). Whether the script ran is then unknown: the run stops for a
/// resume, which knows the step's fate from the journal, rather than compensating a failure
/// that may not be one. A cancelled statement (PostgreSQL's 57014, MySQL's 1317) is the
/// script's failure: its session lives on.
fn lost_connection(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => {
            if let Some(number) = mysql_error_number(err) {
                return matches!(number, 1053 | 1927);
            }
            db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some_and(|pg| {
                    let code = pg.code();
                    code.starts_with("08")
                        || matches!(code, "57P01" | "57P02" | "57P03" | "57P04" | "57P05")
                })
        }
        _ => false,
    }
}

/// Whether a PostgreSQL commit failed for the transaction's own sake, so that the server
/// rolled it back: a serialization failure or deadlock (class 40), a constraint checked at
/// commit (class 23). Any other failure leaves the commit's fate unknown.
fn refused_commit(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|db| db.code())
        .is_some_and(|code| code.starts_with("40") || code.starts_with("23"))
}

/// [`describe`] of an error of `script`, which the server received after `prefix` characters
/// of other text, and where in the script it is: where PostgreSQL says the error is (a
/// syntax error, an unknown name), the line and column of the script and that line, as psql
/// shows them; on MySQL/MariaDB and SQLite, which run a script statement by statement, the
/// line of the statement after those that completed, and that line.
fn where_in(err: &ScriptError, script: &str, prefix: usize, platform: Platform) -> String {
    let mut text = describe(&err.error);
    let position = match &err.error {
        sqlx::Error::Database(db) => db
            .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
            .and_then(|pg| match pg.position() {
                Some(sqlx::postgres::PgErrorPosition::Original(at)) => Some(at),
                _ => None,
            }),
        _ => None,
    };
    // 1-based, in characters of the text sent.
    if let Some(at) = position.and_then(|at| at.checked_sub(prefix + 1)) {
        let Some((offset, _)) = script.char_indices().nth(at) else {
            return text;
        };
        let before = &script[..offset];
        let line = before.matches('\n').count() + 1;
        let start = before.rfind('\n').map_or(0, |at| at + 1);
        let column = script[start..offset].chars().count() + 1;
        text.push_str(&format!(
            "\nat line {line}, column {column} of the script: {}",
            first_line(&script[start..])
        ));
    } else if let Some(statement) = err
        .completed
        .and_then(|completed| nth_statement(script, platform, completed))
    {
        let start = script[..statement.span.start]
            .rfind('\n')
            .map_or(0, |at| at + 1);
        text.push_str(&format!(
            "\nin the statement at line {} of the script: {}",
            statement.line,
            first_line(&script[start..])
        ));
    }
    text
}

/// The statement of `script` after the `completed` ones, as the driver counted them: one
/// result each, but a MySQL `CALL` gives one per result set of the procedure and one of its
/// own, so after a `CALL` the count says nothing certain (none is named rather than a wrong
/// one).
fn nth_statement(
    script: &str,
    platform: Platform,
    completed: usize,
) -> Option<statements::Statement<'_>> {
    let mut scanned = statements::scan(script, platform);
    for _ in 0..completed {
        let statement = scanned.next()?;
        if (statement.word(0)).is_some_and(|word| word.eq_ignore_ascii_case("CALL")) {
            return None;
        }
    }
    scanned.next()
}

/// The first line of `text`, cut to 200 characters.
fn first_line(text: &str) -> String {
    let line: String = text
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(200)
        .collect();
    line.trim_end().to_owned()
}

/// The database's own words for a failed statement.
fn describe(err: &sqlx::Error) -> String {
    let sqlx::Error::Database(db) = err else {
        return err.to_string();
    };
    let mut text = db.message().to_owned();
    // PostgreSQL says more than its message, as psql shows: which key is duplicated, what to
    // do, where in a function body.
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        let more = [
            ("DETAIL", pg.detail()),
            ("HINT", pg.hint()),
            ("CONTEXT", pg.r#where()),
        ];
        for (label, line) in more {
            if let Some(line) = line {
                text.push_str(&format!("\n{label}: {line}"));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_that_may_leave_session_objects_is_told_by_its_words() {
        for script in [
            "PREPARE pick AS SELECT 1;",
            "DECLARE c CURSOR WITH HOLD FOR SELECT 1;",
            "Listen work;",
            "SELECT pg_advisory_lock(42);",
        ] {
            assert!(may_linger(script), "{script}");
        }
        assert!(!may_linger(
            "CREATE TABLE t (id INTEGER);\nINSERT INTO t VALUES (1);"
        ));
    }

    /// The failing statement is the one after those the driver counted, unless a `CALL`
    /// came before it, whose results the count cannot tell apart (QA: a `CALL` that returned
    /// rows made MariaDB's error point at the statement after the failing one).
    #[test]
    fn the_failing_statement_is_named_only_when_the_count_is_certain() {
        let script = "CREATE TABLE t (id INT);\n-- a comment; with a semicolon\nINSERT INTO t VALUES (1, 2);\n";
        let failing = nth_statement(script, Platform::Mysql, 1).unwrap();
        assert_eq!(
            (failing.line, failing.text()),
            (3, "INSERT INTO t VALUES (1, 2)")
        );
        let called = "CALL p();\nINSERT INTO t VALUES (1, 2);\nINSERT INTO t VALUES (3);\n";
        assert!(nth_statement(called, Platform::Mysql, 2).is_none());
        assert_eq!(nth_statement(called, Platform::Mysql, 0).unwrap().line, 1);
    }

    #[test]
    fn scripts_join_only_when_none_runs_into_the_next() {
        let clean = [
            "CREATE TABLE a (x INTEGER);\n",
            "-- only a comment\n",
            "CREATE TABLE b (x INTEGER); -- trailing",
        ];
        assert_eq!(
            joined(&clean, Platform::Sqlite).as_deref(),
            Some("CREATE TABLE a (x INTEGER);\n\n-- only a comment\n\nCREATE TABLE b (x INTEGER); -- trailing")
        );
        let next = "CREATE TABLE c (x INTEGER);\n";
        for runs_on in [
            "CREATE TABLE a (x INTEGER);\n/* TODO: an index",
            "INSERT INTO a VALUES ('unclosed);\n",
            "CREATE TABLE a (x INTEGER)",
        ] {
            assert_eq!(
                joined(&[runs_on, next], Platform::Sqlite),
                None,
                "{runs_on}"
            );
        }
    }
}
