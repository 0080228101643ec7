//! The statements that steps run now on MySQL/MariaDB servers, for an exit that does not
//! wait for the steps (a second Ctrl-C) to end them there: such a server runs a statement on
//! to its end after its client went away, beside the resume that may run the step again. A
//! PostgreSQL server ends them itself (its step connections check for their client), and
//! SQLite's die with dbpm. Nothing here runs a step.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::db::target::{Backend, StepSession, Target};

/// The statements running now, by a key of their own: the target, and the connection.
static RUNNING: Mutex<BTreeMap<u64, (Target, Backend)>> = Mutex::new(BTreeMap::new());

/// The next key of [`RUNNING`].
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A statement running on a step connection, registered until this is dropped.
#[derive(Debug)]
pub struct Running {
    key: Option<u64>,
}

impl Running {
    /// What runs on `session` from now on, when its server can be asked to end it.
    pub fn on(session: &StepSession) -> Running {
        let key = session.backend().map(|backend| {
            let key = NEXT.fetch_add(1, Ordering::Relaxed);
            running().insert(key, (session.target().clone(), backend.clone()));
            key
        });
        Running { key }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            running().remove(&key);
        }
    }
}

/// Asks the servers to end the statements running now, each from a connection of its own;
/// one that cannot be ended (its server does not answer) is left.
pub async fn end_running() {
    let statements: Vec<(Target, Backend)> =
        std::mem::take(&mut *running()).into_values().collect();
    let ends = statements
        .iter()
        .map(|(target, backend)| target.end_statement(backend));
    // Nothing to report to: dbpm is exiting.
    let _ = futures_util::future::join_all(ends).await;
}

/// The registry, also after a thread panicked while holding it (its entries stay valid).
fn running() -> MutexGuard<'static, BTreeMap<u64, (Target, Backend)>> {
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}
