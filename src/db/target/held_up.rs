//! Which step connections wait for a lock another session holds, and who holds it: looked up
//! from a connection of its own while steps run, so that a step held up behind another
//! session's transaction is named with what holds it, not left to look like slow work.
//! Telling is the caller's: nothing here prints.

use serde::Serialize;

use super::session::Access;
use super::{Target, TargetError};
use crate::platform::Platform;

/// A step connection that waits for a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldUp {
    /// The waiting connection's id on its server ([`super::StepSession::server_id`]).
    pub waiting: i64,
    /// What it waits for, as the server says: PostgreSQL's lock type (`relation`,
    /// `transactionid`), MySQL/MariaDB's thread state (`Waiting for table metadata lock`).
    pub lock: String,
    /// The table (or other relation) whose lock it waits for, where PostgreSQL tells.
    pub relation: Option<String>,
    /// The sessions that hold it, or wait for it ahead of the step (PostgreSQL; MySQL/MariaDB
    /// do not tell).
    pub holders: Vec<Holder>,
}

/// A session that holds a lock a step waits for. Its statement is never read: another
/// session's text may hold a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// Its id on the server (PostgreSQL's process id).
    pub id: i64,
    /// Its state (`idle in transaction`, `active`).
    pub state: String,
    /// Its `application_name`, if it gave one.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub application: String,
    /// How long its transaction has been open, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub millis: Option<i64>,
}

impl Target {
    /// Which of the step connections `ids` wait for a lock, and who holds it. SQLite has no
    /// such waits (the run holds the file's lock): always none there.
    pub async fn held_up(&self, ids: &[i64]) -> Result<Vec<HeldUp>, TargetError> {
        if ids.is_empty() || self.platform() == Platform::Sqlite {
            return Ok(Vec::new());
        }
        // Ids are numbers the server gave: written into the query as they are.
        let list = ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let failed = self.failed("look up the locks a step waits for");
        let mut session = self.open(Access::Read).await?;
        let sql = match self.platform() {
            // A parallel query lists its leader once per worker: each holder once.
            Platform::Postgres => format!(
                "SELECT w.pid::bigint AS waiting, COALESCE(l.locktype, '') AS lock, \
                 l.relation::regclass::text AS relation, \
                 b.pid::bigint AS holder, COALESCE(b.state, '') AS state, \
                 COALESCE(b.application_name, '') AS application, \
                 GREATEST(0, EXTRACT(EPOCH FROM clock_timestamp() - b.xact_start) * 1000)::bigint AS millis \
                 FROM pg_stat_activity w \
                 LEFT JOIN LATERAL (SELECT locktype, relation FROM pg_locks \
                 WHERE pid = w.pid AND NOT granted LIMIT 1) l ON true \
                 LEFT JOIN LATERAL (SELECT DISTINCT pid FROM unnest(pg_blocking_pids(w.pid)) AS p(pid)) \
                 AS blocking ON true \
                 LEFT JOIN pg_stat_activity b ON b.pid = blocking.pid \
                 WHERE w.pid IN ({list}) AND w.wait_event_type = 'Lock' \
                 ORDER BY 1, 4"
            ),
            _ => format!(
                "SELECT CAST(id AS SIGNED) AS waiting, state AS `lock`, \
                 CAST(NULL AS CHAR) AS relation, \
                 CAST(NULL AS SIGNED) AS holder, '' AS state, '' AS application, \
                 CAST(NULL AS SIGNED) AS millis \
                 FROM information_schema.processlist \
                 WHERE id IN ({list}) AND state LIKE 'Waiting for%lock%' ORDER BY 1"
            ),
        };
        let rows = session.fetch(&sql, &[]).await.map_err(&failed)?;
        // The answer is had; a connection that fails to close is gone anyway.
        let _ = self.close(session).await;
        let mut held_up: Vec<HeldUp> = Vec::new();
        for row in rows {
            let waiting = row.maybe_int("waiting").map_err(&failed)?.unwrap_or(0);
            if held_up.last().is_none_or(|last| last.waiting != waiting) {
                held_up.push(HeldUp {
                    waiting,
                    lock: row.maybe_text("lock").map_err(&failed)?.unwrap_or_default(),
                    relation: row.maybe_text("relation").map_err(&failed)?,
                    holders: Vec::new(),
                });
            }
            if let (Some(id), Some(last)) = (
                row.maybe_int("holder").map_err(&failed)?,
                held_up.last_mut(),
            ) {
                last.holders.push(Holder {
                    id,
                    state: row
                        .maybe_text("state")
                        .map_err(&failed)?
                        .unwrap_or_default(),
                    application: (row.maybe_text("application").map_err(&failed)?)
                        .unwrap_or_default(),
                    millis: row.maybe_int("millis").map_err(&failed)?,
                });
            }
        }
        Ok(held_up)
    }
}
