//! The exit codes of dbpm, from one enum, as DESIGN §5 lists them.

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
        }
    }
}
