//! The flags that name a target database, `--db` and `--schema`, for every command that
//! must connect to one, and how they become a [`Target`]. Flags about what to do there
//! (repositories, `--admin-db`, run settings) belong to the commands; so do `dbpm plan`'s
//! and `dbpm apply`'s `--db`, optional there because `--state` (`--fleet`) can stand in for
//! the target.

use clap::Args;

use crate::db::target::Target;
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
    /// The target these flags name.
    pub fn target(&self) -> miette::Result<Target> {
        Ok(Target::new(self.url()?, self.schema.clone())?)
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
