//! The process groups of running `.cmd` steps. Each step's shell runs in a process group of
//! its own, so that what it starts (a script it calls, a subshell, a client) is its to end:
//! a step that times out ends with all of it, not with its shell alone while the rest runs
//! on beside the rollback. Being a group of its own also keeps a terminal's Ctrl-C, which
//! reaches every process of the terminal's foreground group, from killing the step that the
//! first Ctrl-C lets finish; dbpm decides when to stop, and [`kill_running`] ends the groups
//! when a second one exits at once. Nothing here runs a command or reads its output.

use std::collections::BTreeSet;
use std::sync::{Mutex, PoisonError};

use rustix::process::{kill_process_group, Pid, Signal};

/// The process groups of the `.cmd` steps running now, by their leader's process id.
static RUNNING: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// A running `.cmd` step's process group, led by its shell: the group is killed when this is
/// dropped before [`Group::finished`] (the step timed out, or its task was ended), so
/// nothing it started outlives the step. A group whose shell exited is left alone, with what
/// the script chose to leave running (`nohup daemon >daemon.log 2>&1 &`: dbpm stops reading
/// a step's output once its shell exited).
#[derive(Debug)]
pub struct Group {
    leader: Option<Pid>,
}

impl Group {
    /// The group led by the shell with process id `leader` (spawned with `process_group(0)`),
    /// `None` when the shell has already been reaped.
    pub fn led_by(leader: Option<u32>) -> Group {
        let leader = leader
            .and_then(|id| i32::try_from(id).ok())
            .and_then(Pid::from_raw);
        if let Some(pid) = leader {
            running().insert(pid.as_raw_nonzero().get());
        }
        Group { leader }
    }

    /// The shell exited (and was reaped): its group is no longer this step's to kill.
    pub fn finished(mut self) {
        if let Some(pid) = self.leader.take() {
            running().remove(&pid.as_raw_nonzero().get());
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pid) = self.leader.take() {
            running().remove(&pid.as_raw_nonzero().get());
            // The group may have ended by itself meanwhile: nothing left to kill.
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

/// Kills the process groups of every running `.cmd` step: for an exit that cannot wait for
/// them (a second Ctrl-C), which would otherwise leave them running with no one to see how
/// they end.
pub fn kill_running() {
    let groups = std::mem::take(&mut *running());
    for id in groups {
        if let Some(pid) = Pid::from_raw(id) {
            let _ = kill_process_group(pid, Signal::KILL);
        }
    }
}

/// The registry, also after a thread panicked while holding it (a set of ids stays valid).
fn running() -> std::sync::MutexGuard<'static, BTreeSet<i32>> {
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}
