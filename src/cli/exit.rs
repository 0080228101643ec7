//! The exit codes of dbpm, from one enum, as DESIGN §5 lists them, and 7 beyond them (a
//! completed run whose POSTINSTALL task failed).

/// How a dbpm command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done (for `plan`: no changes).
    Success = 0,
    /// An error.
    Error = 1,
    /// `plan --detailed-exitcode`: there are changes.
    Changes = 2,
    /// The plan is stale.
    Stale = 3,
    /// The target is locked by another run.
    Locked = 4,
    /// Rolled back after a failure.
    RolledBack = 5,
    /// Stopped with steps in doubt, a failed compensation, or a failed step kept by
    /// `--on-failure stop`: needs an operator.
    NeedsOperator = 6,
    /// Completed, but a POSTINSTALL step failed: the change stays (DESIGN §1), the task
    /// after it needs doing by hand.
    PostinstallFailed = 7,
}

impl From<Exit> for std::process::ExitCode {
    fn from(exit: Exit) -> Self {
        std::process::ExitCode::from(exit.code())
    }
}

impl Exit {
    /// The process exit code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Whether the plan's change is in place: done, or done but for a POSTINSTALL task.
    pub fn completed(self) -> bool {
        matches!(self, Exit::Success | Exit::PostinstallFailed)
    }

    /// How bad the outcome is, for the one exit code of several (a fleet's): a failed
    /// POSTINSTALL task is the least of them, then by code.
    pub fn severity(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::PostinstallFailed => 1,
            other => other.code() + 1,
        }
    }

    /// What the code says, in a word or two (for a fleet's report).
    pub fn outcome(self) -> &'static str {
        match self {
            Exit::Success => "done",
            Exit::Error => "error",
            Exit::Changes => "changes",
            Exit::Stale => "stale plan",
            Exit::Locked => "locked",
            Exit::RolledBack => "rolled back",
            Exit::NeedsOperator => "needs an operator",
            Exit::PostinstallFailed => "postinstall failed",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_postinstall_task_is_the_least_of_the_outcomes_that_are_not_done() {
        let worst = |exits: &[Exit]| exits.iter().copied().max_by_key(|e| e.severity());
        assert_eq!(
            worst(&[Exit::Success, Exit::PostinstallFailed]),
            Some(Exit::PostinstallFailed)
        );
        for other in [
            Exit::Error,
            Exit::Stale,
            Exit::RolledBack,
            Exit::NeedsOperator,
        ] {
            assert_eq!(worst(&[Exit::PostinstallFailed, other]), Some(other));
            assert!(!other.completed());
        }
        assert!(Exit::PostinstallFailed.completed());
    }
}
