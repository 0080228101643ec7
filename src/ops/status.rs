//! `dbpm status`: what is installed on a target (version, when, by which run, adopted or
//! not), the run left unfinished there if any (how far it got and what the operator does
//! next), and, given repositories, drift: installed versions whose content is not the
//! repositories' same version (naming the files that differ), or that the repositories no
//! longer have. Reading never writes to the target.

use std::collections::BTreeMap;

use semver::Version;
use serde::Serialize;

use crate::db::target::{JournalRow, RunOutcome, RunRecord, Target, TargetError};
use crate::execute::runner::{is_interrupted, is_unfinished};
use crate::execute::schedule::StepState;
use crate::manifest::MANIFEST_FILE;
use crate::package::changes::{unified_diff, FileChanges};
use crate::package::{Checksum, Package};
use crate::platform::Platform;
use crate::repository::{Repositories, RepositoryError};
use crate::state::{InstalledPackage, InstalledState};

/// Why `dbpm status` failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum StatusError {
    /// The target failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Target(#[from] TargetError),
    /// The repositories failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repository(#[from] RepositoryError),
    /// The target's state was edited.
    #[error(transparent)]
    #[diagnostic(transparent)]
    State(#[from] crate::state::StateError),
}

/// Where a target stands.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The target's label (URL without credentials, and schema).
    pub target: String,
    /// The target's platform.
    pub platform: Platform,
    /// Nothing installed and no run recorded: dbpm was never used here.
    pub never_used: bool,
    /// For SQLite: the database file, when it does not exist (a mistyped path, or a target a
    /// first apply creates).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub missing_file: Option<String>,
    /// The installed packages, by name.
    pub packages: Vec<PackageStatus>,
    /// The run that neither completed nor rolled back, if any.
    pub unfinished: Option<UnfinishedRun>,
    /// Drift against the repositories, when they were given.
    pub drift: Option<Vec<Drift>>,
}

/// One installed package.
#[derive(Debug, Clone, Serialize)]
pub struct PackageStatus {
    /// The package.
    pub name: String,
    /// The installed version.
    pub version: Version,
    /// The checksum of the archive it was installed from.
    pub checksum: Checksum,
    /// When it was installed (RFC 3339, UTC), when known.
    pub installed_at: Option<String>,
    /// The run that installed it (none when adopted).
    pub run: Option<String>,
    /// Recorded without running its scripts.
    pub adopted: bool,
}

/// A run that neither completed nor rolled back.
#[derive(Debug, Clone, Serialize)]
pub struct UnfinishedRun {
    /// The run id.
    pub id: String,
    /// The hash of its plan: applying that plan again resumes the run.
    pub plan_hash: String,
    /// Whether the target kept the plan (a verb's run): `dbpm apply --resume` resumes it.
    pub plan_kept: bool,
    /// Where it stands (`running`, `stopped`, `in_doubt`, ...), as the target records it.
    pub outcome: RunOutcome,
    /// Recorded as `running`, but no dbpm holds the target's run lock: the dbpm that ran it
    /// ended without a word (killed, its machine stopped, or the database lost under a
    /// step). Its plan applied again resumes it, or, with `--roll-back`, undoes what it did.
    pub interrupted: bool,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// Who ran it (OS user).
    pub os_user: String,
    /// Forward steps journaled as done.
    pub steps_done: usize,
    /// Compensations journaled as done.
    pub compensations_done: usize,
    /// Steps whose last attempt failed.
    pub failed: Vec<String>,
    /// Steps journaled as started and not finished: running now, or, if the run was
    /// interrupted, in doubt (they may or may not have run).
    pub in_doubt: Vec<String>,
    /// What the operator does next.
    pub next: NextStep,
}

/// What to do about an unfinished run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NextStep {
    /// Apply its plan again: the run resumes where it stopped.
    Resume,
    /// Fix the cause of the failed step, then apply the plan again to retry it.
    FixAndResume,
    /// Check whether the steps in doubt ran, then apply again saying so.
    DecideInDoubt,
    /// Fix the cause of the failed compensation, then apply again to finish the rollback.
    FixAndFinishRollback,
}

/// An installed version that does not match the repositories.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "drift", rename_all = "snake_case")]
pub enum Drift {
    /// The repositories' same version has other content.
    Changed {
        /// The package.
        package: String,
        /// The installed version.
        version: Version,
        /// The installed checksum.
        installed: Checksum,
        /// The repositories' checksum of that version.
        repository: Checksum,
        /// The files that differ, from the installed copy to the repositories' (boxed: the
        /// variants stay of a size); absent when the repositories' copy could not be read.
        #[serde(skip_serializing_if = "Option::is_none")]
        files: Option<Box<FileChanges>>,
        /// How the changed files differ, as unified diffs from the installed text (the target
        /// keeps it) to the repositories'; absent when the repositories' copy could not be read.
        #[serde(skip_serializing_if = "Option::is_none")]
        diff: Option<String>,
    },
    /// The repositories do not have the installed version (for the target's platform).
    Missing {
        /// The package.
        package: String,
        /// The installed version.
        version: Version,
    },
}

/// Where `target` stands; with `repos`, drift against them too.
pub async fn status(target: &Target, repos: Option<&Repositories>) -> Result<Status, StatusError> {
    let state = target.read_state().await?;
    // The first command to run when something looks wrong: an edited state says so here.
    state.check_texts()?;
    let (runs, lock_free) = target.runs_and_lock_free().await?;
    let unfinished = match runs.iter().find(|run| is_unfinished(run)) {
        Some(run) => {
            let kept = target.keeps_plan(&run.plan_hash).await?;
            let journal = target.journal(&run.id).await?;
            Some(unfinished(run, &journal, kept, lock_free))
        }
        None => None,
    };
    let drift = match repos {
        Some(repos) => Some(drift(&state, repos, target.platform()).await?),
        None => None,
    };
    Ok(Status {
        target: target.label(),
        platform: target.platform(),
        never_used: state.packages.is_empty() && runs.is_empty(),
        missing_file: target.missing_file().map(|file| file.display().to_string()),
        packages: state
            .packages
            .into_iter()
            .map(|(name, p)| PackageStatus {
                name,
                version: p.version,
                checksum: p.checksum,
                installed_at: p.installed_at,
                run: p.run,
                adopted: p.adopted,
            })
            .collect(),
        unfinished,
        drift,
    })
}

/// The installed versions whose content is not the repositories' own; a changed one is read
/// from the repositories to name the files that differ.
async fn drift(
    state: &InstalledState,
    repos: &Repositories,
    platform: Platform,
) -> Result<Vec<Drift>, StatusError> {
    let layered = repos.index().await?;
    repos.refuse_broken(
        layered.index.entries(),
        state.packages.keys().map(String::as_str),
    )?;
    let mut drift = Vec::new();
    for (name, installed) in &state.packages {
        match layered.index.get(name, &installed.version, platform) {
            None => drift.push(Drift::Missing {
                package: name.clone(),
                version: installed.version.clone(),
            }),
            Some(entry) if entry.checksum != installed.checksum => {
                // The drift stands even when the repositories' copy cannot be read.
                let published = repos.fetch(&layered, entry).await.ok();
                let files = published.as_ref().map(|published| {
                    FileChanges::between(&installed.file_checksums(), &published.file_checksums())
                });
                let diff = published
                    .as_ref()
                    .zip(files.as_ref())
                    .map(|(published, files)| drift_diff(installed, &state.texts, published, files))
                    .filter(|diff| !diff.is_empty());
                drift.push(Drift::Changed {
                    package: name.clone(),
                    version: installed.version.clone(),
                    installed: installed.checksum.clone(),
                    repository: entry.checksum.clone(),
                    files: files.map(Box::new),
                    diff,
                });
            }
            Some(_) => {}
        }
    }
    Ok(drift)
}

/// How the files that `changes` names changed differ from the installed copy (`texts`, the
/// target's, hold its scripts) to the repositories' `published` one, as unified diffs.
pub(crate) fn drift_diff(
    installed: &InstalledPackage,
    texts: &BTreeMap<Checksum, String>,
    published: &Package,
    changes: &FileChanges,
) -> String {
    let mut diff = String::new();
    for path in &changes.changed {
        let (before, after) = if path == MANIFEST_FILE {
            (
                Some(installed.manifest.as_str()),
                Some(&**published.manifest_text()),
            )
        } else {
            (
                installed
                    .scripts
                    .get(path)
                    .and_then(|checksum| texts.get(checksum))
                    .map(String::as_str),
                published
                    .scripts
                    .iter()
                    .find(|script| &*script.path == path.as_str())
                    .map(|script| &*script.text),
            )
        };
        if let (Some(before), Some(after)) = (before, after) {
            diff.push_str(&unified_diff(
                path,
                before,
                after,
                ("installed", "repository"),
            ));
        }
    }
    diff
}

/// How far an unfinished run got, from its journal, and what comes next; `lock_free` when
/// nothing held the target's run lock before the run was read.
pub fn unfinished(
    run: &RunRecord,
    journal: &[JournalRow],
    plan_kept: bool,
    lock_free: bool,
) -> UnfinishedRun {
    let is_undo = |row: &&JournalRow| row.step.ends_with("~undo");
    let in_state = |states: &[StepState]| {
        journal
            .iter()
            .filter(|row| StepState::parse(&row.state).is_some_and(|s| states.contains(&s)))
            .map(|row| row.step.clone())
            .collect::<Vec<_>>()
    };
    let done = journal.iter().filter(|row| row.state == "done");
    let next = match run.outcome {
        RunOutcome::InDoubt => NextStep::DecideInDoubt,
        RunOutcome::CompensationFailed => NextStep::FixAndFinishRollback,
        RunOutcome::StoppedAfterFailure => NextStep::FixAndResume,
        _ => NextStep::Resume,
    };
    UnfinishedRun {
        id: run.id.clone(),
        plan_hash: run.plan_hash.clone(),
        plan_kept,
        outcome: run.outcome,
        interrupted: is_interrupted(run, lock_free),
        started_at: run.started_at.clone(),
        os_user: run.os_user.clone(),
        steps_done: done.clone().filter(|row| !is_undo(row)).count(),
        compensations_done: done.filter(is_undo).count(),
        // A step that could not start failed too, only earlier.
        failed: in_state(&[StepState::Failed, StepState::CouldNotStart]),
        in_doubt: in_state(&[StepState::Started]),
        next,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(step: &str, state: &str) -> JournalRow {
        JournalRow {
            step: step.to_owned(),
            attempt: 1,
            state: state.to_owned(),
            started_at: String::new(),
            output: None,
        }
    }

    fn run(outcome: RunOutcome) -> RunRecord {
        RunRecord {
            id: "r1".to_owned(),
            plan_hash: "sha256:00".to_owned(),
            os_user: "alice".to_owned(),
            started_at: "2026-11-22T11:37:12Z".to_owned(),
            ended_at: None,
            outcome,
            installed_before: "{}".to_owned(),
            installed_after: None,
        }
    }

    #[test]
    fn an_unfinished_run_counts_its_journal_and_says_what_comes_next() {
        let journal = [
            row("core@1.2.0/UPGRADE/001.a.sql", "done"),
            row("core@1.2.0/UPGRADE/002.b.sql", "done"),
            row("core@1.2.0/INSTALL/001.c.sql", "failed"),
            row("core@1.2.0/UPGRADE/002.b.sql~undo", "done"),
            row("auth@2.0.0/UPGRADE/001.x.sql", "started"),
        ];
        let got = unfinished(&run(RunOutcome::CompensationFailed), &journal, false, false);
        assert_eq!((got.steps_done, got.compensations_done), (2, 1));
        assert_eq!(got.failed, ["core@1.2.0/INSTALL/001.c.sql"]);
        assert_eq!(got.in_doubt, ["auth@2.0.0/UPGRADE/001.x.sql"]);
        assert_eq!(got.next, NextStep::FixAndFinishRollback);
        assert_eq!(
            unfinished(&run(RunOutcome::Running), &[], false, false).next,
            NextStep::Resume
        );
        assert_eq!(
            unfinished(&run(RunOutcome::Stopped), &[], false, false).next,
            NextStep::Resume
        );
        assert_eq!(
            unfinished(&run(RunOutcome::StoppedAfterFailure), &[], false, false).next,
            NextStep::FixAndResume
        );
        assert_eq!(
            unfinished(&run(RunOutcome::InDoubt), &[], false, false).next,
            NextStep::DecideInDoubt
        );
    }

    #[test]
    fn a_running_run_is_interrupted_when_nothing_holds_the_run_lock() {
        let interrupted = |outcome, lock_free| unfinished(&run(outcome), &[], false, lock_free);
        assert!(interrupted(RunOutcome::Running, true).interrupted);
        assert_eq!(
            interrupted(RunOutcome::Running, true).next,
            NextStep::Resume
        );
        assert!(!interrupted(RunOutcome::Running, false).interrupted);
        for outcome in [
            RunOutcome::Stopped,
            RunOutcome::InDoubt,
            RunOutcome::CompensationFailed,
        ] {
            assert!(!interrupted(outcome, true).interrupted, "{outcome}");
        }
    }
}
