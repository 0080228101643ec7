//! The flags that name a target database, `--db` and `--schema`, for every command that
//! must connect to one, and how they become a [`Target`]. Flags about what to do there
//! (repositories, `--admin-db`, run settings) belong to the commands; so do `dbpm plan`'s
//! and `dbpm apply`'s `--db`, optional there because `--state` (`--fleet`) can stand in for
//! the target.

use clap::Args;

use super::render::Out;
use crate::db::target::{LockWait, Target, WaitedLock};
use crate::db::DbUrl;

/// Which target: a URL and, on PostgreSQL, a schema.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// The target database: postgres://..., mysql://... (MySQL and MariaDB) or
    /// sqlite://path/to/file.db
    // Parsed after clap, and its environment value hidden, so a password in it never reaches
    // clap's messages or the --help text.
    #[arg(long, env = "DBPM_DB", hide_env_values = true)]
    db: String,
    /// PostgreSQL only: the target schema, first in the scripts' search_path and whose state
    /// dbpm keeps; it must exist [default: public]
    #[arg(long, env = "DBPM_SCHEMA")]
    schema: Option<String>,
}

impl TargetArgs {
    /// The target these flags name, announcing its waits on `out`.
    pub fn target(&self, out: &Out) -> miette::Result<Target> {
        Ok(announcing_waits(
            Target::new(self.url()?, self.schema.clone())?,
            out,
        ))
    }

    /// The database URL, parsed.
    pub fn url(&self) -> miette::Result<DbUrl> {
        Ok(self.db.parse()?)
    }

    /// The schema, when one was given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }
}

/// `target`, saying on stderr (whatever the output format: stdout keeps its data) when it
/// has waited a second for a lock that another holds, what for and how long it will: such a
/// wait was silent, up to a minute for a SQLite write.
pub fn announcing_waits(target: Target, out: &Out) -> Target {
    let out = out.clone();
    target.announcing_waits(move |wait| out.status(wait_line(wait)))
}

/// [`announcing_waits`] for a command whose JSON output is a stream of events: under
/// `--output json` a wait is also a `waiting` event on stdout, so that a machine reading the
/// stream knows why it stalls.
pub fn announcing_waits_as_events(target: Target, out: &Out) -> Target {
    let out = out.clone();
    target.announcing_waits(move |wait| {
        out.status(wait_line(wait));
        if out.json() {
            out.json_line(&serde_json::json!({
                "event": "waiting",
                "lock": wait.lock,
                "database": wait.target,
                "gives_up_after_seconds": wait.timeout.as_secs(),
            }));
        }
    })
}

/// What a wait for a lock is, and how it ends.
fn wait_line(wait: &LockWait) -> String {
    let until = format!("dbpm gives up after {} s", wait.timeout.as_secs());
    match wait.lock {
        WaitedLock::Run => format!(
            "waiting for another dbpm run on `{}` to finish (it holds the target's run lock); {until} if it has not, having changed nothing (`--lock-timeout` sets how long `apply` waits)",
            wait.target
        ),
        WaitedLock::State => format!(
            "waiting for another dbpm writing dbpm's state in `{}` to finish; {until} if it has not",
            wait.target
        ),
        WaitedLock::SqliteFile => format!(
            "waiting for another dbpm on `{}` to finish writing to it (or another program: SQLite lets one writer at a time); {until} if it has not",
            wait.target
        ),
    }
}
