//! Fail points for crash tests: `DBPM_FAILPOINT` makes the process die at a chosen moment,
//! as a SIGKILL would (no cleanup, no journal entry), so tests can prove that resuming
//! after any crash ends exactly where an uninterrupted run does.
//!
//! - `kill-after:N` dies once the N-th step of this process has been journaled as finished;
//! - `kill-in:STEP_ID` dies inside that step: a non-transactional step after its `started`
//!   entry and before its script, a transactional step after its script and before the
//!   commit (for a transactional `.sys` step, the commit on the admin connection, which
//!   follows its `started` entry).
//!
//! Unset, this costs one environment lookup per step.

use std::sync::atomic::{AtomicUsize, Ordering};

static FINISHED: AtomicUsize = AtomicUsize::new(0);

fn setting() -> Option<String> {
    std::env::var("DBPM_FAILPOINT")
        .ok()
        .filter(|s| !s.is_empty())
}

/// Called when a step has been journaled as finished.
pub fn step_finished() {
    let count = FINISHED.fetch_add(1, Ordering::SeqCst) + 1;
    if let Some(n) = setting().and_then(|s| {
        s.strip_prefix("kill-after:")
            .and_then(|n| n.parse::<usize>().ok())
    }) {
        if count >= n {
            std::process::abort();
        }
    }
}

/// Called inside a step, at the moment described above.
pub fn inside_step(step: &str) {
    if setting().is_some_and(|s| s.strip_prefix("kill-in:") == Some(step)) {
        std::process::abort();
    }
}
