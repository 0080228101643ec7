//! Waits for a lock that another session holds: after a second, whoever asked
//! ([`Target::announcing_waits`]) is told once what dbpm waits for and how long it will, so
//! a wait (up to a minute for a SQLite write) is never silent. Telling is the caller's: nothing
//! here prints.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::Target;

/// How long a wait goes on before it is announced.
pub const ANNOUNCE_AFTER: Duration = Duration::from_secs(1);

/// Who is told of a wait.
pub(super) type WaitNotice = Arc<dyn Fn(&LockWait) + Send + Sync>;

/// A wait for a lock that another session holds, once it has lasted [`ANNOUNCE_AFTER`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockWait {
    /// The target's label.
    pub target: String,
    /// The lock waited for.
    pub lock: WaitedLock,
    /// How long dbpm waits in all before it gives up.
    pub timeout: Duration,
}

/// A lock that dbpm waits for; serialized as `run`, `state` or `sqlite_file`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaitedLock {
    /// The target's run lock: another dbpm applies a plan there (or adopts a package).
    Run,
    /// The lock of dbpm's state on PostgreSQL and MySQL/MariaDB: another dbpm writes it.
    State,
    /// A SQLite database's own lock, which one writer at a time holds: another dbpm, or any
    /// program, writes to the file.
    SqliteFile,
}

impl Target {
    /// The same target, telling `notice` whenever an operation has waited
    /// [`ANNOUNCE_AFTER`] for a lock that another session holds.
    pub fn announcing_waits(self, notice: impl Fn(&LockWait) + Send + Sync + 'static) -> Target {
        Target {
            waits: Some(Arc::new(notice)),
            ..self
        }
    }

    /// Tells of a wait for `lock`, if anyone asked to know.
    pub(super) fn announce(&self, lock: WaitedLock, timeout: Duration) {
        if let Some(notice) = &self.waits {
            notice(&LockWait {
                target: self.label(),
                lock,
                timeout,
            });
        }
    }

    /// Awaits `work`, whose only wait is for `lock` (a statement that takes a lock and does
    /// nothing else): when it takes longer than [`ANNOUNCE_AFTER`], the wait is announced.
    pub(super) async fn waiting_for<T>(
        &self,
        lock: WaitedLock,
        timeout: Duration,
        work: impl Future<Output = T>,
    ) -> T {
        if self.waits.is_none() {
            return work.await;
        }
        let mut work = std::pin::pin!(work);
        tokio::select! {
            done = &mut work => return done,
            () = tokio::time::sleep(ANNOUNCE_AFTER) => self.announce(lock, timeout),
        }
        work.await
    }
}
