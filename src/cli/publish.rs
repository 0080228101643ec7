//! `dbpm publish`.

use std::path::PathBuf;

use clap::Args;

use super::render::Out;
use super::Exit;
use crate::ops::repository::{publish, specs};

/// Publish built archives or package directories to a repository.
///
/// A directory is built first, for every platform it lists. Publishing the same version again
/// with the same content does nothing; with other content it is refused: published versions
/// never change.
///
/// Example: dbpm publish --repo /srv/dbpm-repo dist/*.dbpkg examples/packages/core/1.2.0
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// `.dbpkg` archives or package source directories.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The repository to publish to: a directory (created if needed) or postgres://...
    #[arg(long, env = "DBPM_REPO", hide_env_values = true)]
    repo: String,
}

pub async fn run(args: PublishArgs, out: &Out) -> miette::Result<Exit> {
    // `DBPM_REPO` may list several repositories for reading; publishing goes to one. The
    // value itself is not shown: it may hold a password.
    let repo = match specs(std::slice::from_ref(&args.repo))[..] {
        [one] => one,
        ref several => miette::bail!(
            "`publish` writes to one repository, and `--repo` (or DBPM_REPO) names {}: give only the one to publish to",
            several.len()
        ),
    };
    let published = publish(repo, &args.inputs).await?;
    if out.json() {
        out.json_value(&published);
        return Ok(Exit::Success);
    }
    for p in &published {
        let what = if p.unchanged {
            "unchanged"
        } else if p.repaired {
            "repaired"
        } else {
            "published"
        };
        out.status(format!(
            "{what:>9} {}@{} ({}) {}",
            p.name,
            p.version,
            p.platform,
            out.dim(p.checksum.as_str())
        ));
    }
    Ok(Exit::Success)
}
