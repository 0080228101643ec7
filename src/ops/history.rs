//! `dbpm history`: the runs a target recorded, newest first, each with what it changed
//! (derived from the installed sets recorded before and after it) and how long it took.
//! Reading never writes: a target dbpm was never used on has no runs and is left as it was.

use std::collections::HashMap;

use semver::Version;
use serde::Serialize;

use crate::db::target::{RunOutcome, RunRecord, Target, TargetError};
use crate::execute::runner::{is_interrupted, is_unfinished};
use crate::plan::Plan;
use crate::state::InstalledState;

/// The runs of a target.
#[derive(Debug, Clone, Serialize)]
pub struct History {
    /// The target's label (URL without credentials, and schema).
    pub target: String,
    /// The runs, newest first.
    pub runs: Vec<RunSummary>,
}

/// One run as `dbpm history` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The run id.
    pub id: String,
    /// The hash of the plan it applied.
    pub plan_hash: String,
    /// Who ran it (OS user).
    pub os_user: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// When it ended, if it did.
    pub ended_at: Option<String>,
    /// How long it took, when it ended.
    pub duration_ms: Option<u64>,
    /// How it ended (`completed`, `rolled_back`, ...) or where it stands (`running`, ...).
    pub outcome: RunOutcome,
    /// Neither completed nor rolled back: applying its plan again resumes it.
    pub unfinished: bool,
    /// Recorded as `running`, but no dbpm holds the target's run lock: the dbpm that ran it
    /// ended without a word (killed, its machine stopped, or the database lost under a
    /// step). Its plan applied again resumes it, or, with `--roll-back`, undoes what it did.
    pub interrupted: bool,
    /// What it changed, package by package; `None` while it is unfinished, since the
    /// installed set after a run is recorded only when it ends.
    pub changes: Option<Vec<Change>>,
    /// For a completed run: its POSTINSTALL tasks that failed (it exited 7), for an
    /// operator to run again.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub postinstall_failed: Vec<String>,
}

/// What a run did to one package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Change {
    /// Installed where it was not.
    Install {
        /// The package.
        package: String,
        /// The version installed.
        version: Version,
    },
    /// Moved to a higher version.
    Upgrade {
        /// The package.
        package: String,
        /// The version before.
        from: Version,
        /// The version after.
        to: Version,
    },
    /// Moved to a lower version.
    Downgrade {
        /// The package.
        package: String,
        /// The version before.
        from: Version,
        /// The version after.
        to: Version,
    },
    /// Installed again at the same version.
    Reinstall {
        /// The package.
        package: String,
        /// The version.
        version: Version,
    },
    /// Removed.
    Uninstall {
        /// The package.
        package: String,
        /// The version removed.
        version: Version,
    },
}

/// The steps of one run, from its journal: what each attempt printed or the error it raised.
#[derive(Debug, Clone, Serialize)]
pub struct RunSteps {
    /// The target's label.
    pub target: String,
    /// The run id.
    pub run: String,
    /// The latest attempt of every step the run started, in the order they started.
    pub steps: Vec<StepRecord>,
}

/// The latest attempt of one step of a run.
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// The step id.
    pub step: String,
    /// The attempt number (1 for the first).
    pub attempt: i64,
    /// `started`, `done`, `failed` or `skipped`.
    pub state: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// What it printed (`.cmd` steps) or the error it raised, with secrets removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

/// The steps of run `run` on `target`, or `None` when the target has no such run.
pub async fn run_steps(target: &Target, run: &str) -> Result<Option<RunSteps>, TargetError> {
    let Some(record) = target.runs().await?.into_iter().find(|r| r.id == run) else {
        return Ok(None);
    };
    let mut steps: Vec<StepRecord> = target
        .journal(run)
        .await?
        .into_iter()
        .map(|row| StepRecord {
            step: row.step,
            attempt: row.attempt,
            state: row.state,
            started_at: row.started_at,
            output: row.output,
        })
        .collect();
    // Steps journaled in the same instant (a SQLite batch commits several at once) come
    // in the order of the plan the run kept, not by name: by name a package's INSTALL
    // read as if it ran before its UPGRADE. Without a kept plan (`apply PLAN` keeps none),
    // a package's steps of one instant come in the order of the phases.
    match target.stored_plan(&record.plan_hash).await? {
        Some(text) => match Plan::from_json("the stored plan", &text) {
            Ok(plan) => order_by_plan(&mut steps, &plan),
            Err(_) => order_by_phase(&mut steps),
        },
        None => order_by_phase(&mut steps),
    }
    Ok(Some(RunSteps {
        target: target.label(),
        run: run.to_owned(),
        steps,
    }))
}

/// Sorts `steps` by when they started and, within one instant, by their place in `plan`
/// (its steps, then its compensations; steps it does not hold last, in their order).
fn order_by_plan(steps: &mut [StepRecord], plan: &Plan) {
    let place: HashMap<&str, usize> = plan
        .steps
        .iter()
        .chain(&plan.compensations)
        .enumerate()
        .map(|(index, step)| (&*step.id, index))
        .collect();
    // A stable sort on a total order: what the plan does not hold goes last in its instant.
    let place_of = |step: &StepRecord| place.get(step.step.as_str()).copied().unwrap_or(usize::MAX);
    steps.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| place_of(a).cmp(&place_of(b)))
    });
}

/// Sorts `steps` by when they started, then by package and by the order of the phases in
/// a change (DESIGN §4), then by id: the order a batch of one package ran in, without its
/// plan. Compensations (`~undo`) follow the forward steps of their instant.
fn order_by_phase(steps: &mut [StepRecord]) {
    fn key(id: &str) -> (&str, bool, usize) {
        let (package, rest) = id.split_once('@').unwrap_or((id, ""));
        let phase = rest
            .split('/')
            .nth(1)
            .and_then(|phase| phase.split('@').next())
            .unwrap_or("");
        let rank = [
            "PREINSTALL",
            "ROLLBACK",
            "UPGRADE",
            "DOWNGRADE",
            "INSTALL",
            "VERIFY",
            "POSTINSTALL",
        ]
        .iter()
        .position(|p| *p == phase)
        .unwrap_or(usize::MAX);
        (package, id.ends_with("~undo"), rank)
    }
    steps.sort_by(|a, b| {
        a.started_at
            .cmp(&b.started_at)
            .then_with(|| key(&a.step).cmp(&key(&b.step)))
            .then_with(|| a.step.cmp(&b.step))
    });
}

/// Every run on `target`, newest first.
pub async fn history(target: &Target) -> Result<History, TargetError> {
    let (runs, lock_free) = target.runs_and_lock_free().await?;
    let mut failed = target.failed_in_completed_runs().await?;
    let mut runs = runs
        .iter()
        .map(|run| {
            let mut summary = summarize(target, run, lock_free)?;
            summary.postinstall_failed = failed.remove(&run.id).unwrap_or_default();
            Ok(summary)
        })
        .collect::<Result<Vec<_>, TargetError>>()?;
    runs.reverse();
    Ok(History {
        target: target.label(),
        runs,
    })
}

/// One recorded run, with its changes and duration; `lock_free` when nothing held the run
/// lock before the run was read.
fn summarize(target: &Target, run: &RunRecord, lock_free: bool) -> Result<RunSummary, TargetError> {
    let read = |json: &str, which: &str| {
        InstalledState::from_record_json(json).map_err(|err| TargetError::StateCorrupt {
            target: target.label(),
            reason: format!("the installed set {which} run `{}`: {err}", run.id),
        })
    };
    let unfinished = is_unfinished(run);
    let changes = match (&run.installed_after, unfinished) {
        (Some(after), false) => Some(changes(
            &read(&run.installed_before, "before")?,
            &read(after, "after")?,
            &run.id,
        )),
        _ => None,
    };
    Ok(RunSummary {
        id: run.id.clone(),
        plan_hash: run.plan_hash.clone(),
        os_user: run.os_user.clone(),
        started_at: run.started_at.clone(),
        ended_at: run.ended_at.clone(),
        duration_ms: run
            .ended_at
            .as_deref()
            .and_then(|end| duration_ms(&run.started_at, end)),
        outcome: run.outcome,
        unfinished,
        interrupted: is_interrupted(run, lock_free),
        changes,
        postinstall_failed: Vec::new(),
    })
}

/// What changed from `before` to `after`, by package name. A package at the same version
/// counts as reinstalled when `run` is the run that (re)installed it.
pub fn changes(before: &InstalledState, after: &InstalledState, run: &str) -> Vec<Change> {
    let names: std::collections::BTreeSet<&String> = before
        .packages
        .keys()
        .chain(after.packages.keys())
        .collect();
    names
        .into_iter()
        .filter_map(|name| {
            let package = name.clone();
            match (before.packages.get(name), after.packages.get(name)) {
                (None, Some(now)) => Some(Change::Install {
                    package,
                    version: now.version.clone(),
                }),
                (Some(was), None) => Some(Change::Uninstall {
                    package,
                    version: was.version.clone(),
                }),
                (Some(was), Some(now)) if now.version > was.version => Some(Change::Upgrade {
                    package,
                    from: was.version.clone(),
                    to: now.version.clone(),
                }),
                (Some(was), Some(now)) if now.version < was.version => Some(Change::Downgrade {
                    package,
                    from: was.version.clone(),
                    to: now.version.clone(),
                }),
                (Some(was), Some(now))
                    if now.run.as_deref() == Some(run) && was.run.as_deref() != Some(run) =>
                {
                    Some(Change::Reinstall {
                        package,
                        version: now.version.clone(),
                    })
                }
                _ => None,
            }
        })
        .collect()
}

/// Milliseconds from `start` to `end`, both RFC 3339 UTC; `None` when either does not read.
pub fn duration_ms(start: &str, end: &str) -> Option<u64> {
    let (start, end) = (utc_millis(start)?, utc_millis(end)?);
    u64::try_from(end - start).ok()
}

/// Milliseconds since 1970 of an RFC 3339 UTC time as dbpm records them:
/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z`.
fn utc_millis(text: &str) -> Option<i64> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (time, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut time = time.splitn(3, ':').map(str::parse::<i64>);
    let (hour, minute, second) = (time.next()?.ok()?, time.next()?.ok()?, time.next()?.ok()?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    // Milliseconds: the first three digits of the fraction, padded.
    let millis = format!("{fraction:0<3}")[..3].parse::<i64>().ok()?;
    // Days from civil (Howard Hinnant's algorithm), the inverse of `runner::utc_now`.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1_000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::Platform;
    use crate::state::InstalledPackage;

    fn records(steps: &[(&str, &str)]) -> Vec<StepRecord> {
        steps
            .iter()
            .map(|(at, step)| StepRecord {
                step: (*step).to_owned(),
                attempt: 1,
                state: "done".to_owned(),
                started_at: (*at).to_owned(),
                output: None,
            })
            .collect()
    }

    fn ids(steps: &[StepRecord]) -> Vec<&str> {
        steps.iter().map(|s| s.step.as_str()).collect()
    }

    /// A SQLite batch journals its steps in one instant: by name, a package's INSTALL read
    /// as if it ran before its UPGRADE, and its ROLLBACK after it.
    #[test]
    fn steps_of_one_instant_come_in_the_order_of_the_phases() {
        let mut steps = records(&[
            ("t2", "core@1.1.0/VERIFY/001.check"),
            ("t1", "core@1.1.0/INSTALL/001.views"),
            ("t1", "core@1.1.0/UPGRADE@1.0.0/001.tables"),
            ("t1", "core@1.0.0/ROLLBACK/001.views"),
            ("t1", "core@1.1.0/PREINSTALL/001.announce"),
            ("t1", "core@1.1.0/INSTALL/001.views~undo"),
        ]);
        order_by_phase(&mut steps);
        assert_eq!(
            ids(&steps),
            [
                "core@1.1.0/PREINSTALL/001.announce",
                "core@1.0.0/ROLLBACK/001.views",
                "core@1.1.0/UPGRADE@1.0.0/001.tables",
                "core@1.1.0/INSTALL/001.views",
                "core@1.1.0/INSTALL/001.views~undo",
                "core@1.1.0/VERIFY/001.check",
            ]
        );
    }

    fn state(packages: &[(&str, &str, Option<&str>)]) -> InstalledState {
        let mut state = InstalledState::empty(Platform::Sqlite, "sqlite://x.db");
        for (name, version, run) in packages {
            state.packages.insert(
                (*name).to_owned(),
                InstalledPackage {
                    version: Version::parse(version).unwrap(),
                    checksum: crate::package::Checksum::of_text(name),
                    manifest: String::new(),
                    scripts: Default::default(),
                    placeholders: Default::default(),
                    run: run.map(str::to_owned),
                    adopted: false,
                    installed_at: None,
                },
            );
        }
        state
    }

    #[test]
    fn changes_name_every_kind_of_action_by_package() {
        let before = state(&[
            ("auth", "1.0.0", Some("r1")),
            ("billing", "1.1.0", Some("r1")),
            ("core", "1.1.0", Some("r1")),
            ("legacy", "0.9.0", Some("r1")),
            ("util", "2.0.0", Some("r1")),
        ]);
        let after = state(&[
            ("auth", "1.0.0", Some("r2")),
            ("billing", "1.0.0", Some("r2")),
            ("core", "1.2.0", Some("r2")),
            ("reporting", "1.0.0", Some("r2")),
            ("util", "2.0.0", Some("r1")),
        ]);
        let v = |s: &str| Version::parse(s).unwrap();
        assert_eq!(
            changes(&before, &after, "r2"),
            vec![
                Change::Reinstall {
                    package: "auth".into(),
                    version: v("1.0.0")
                },
                Change::Downgrade {
                    package: "billing".into(),
                    from: v("1.1.0"),
                    to: v("1.0.0")
                },
                Change::Upgrade {
                    package: "core".into(),
                    from: v("1.1.0"),
                    to: v("1.2.0")
                },
                Change::Uninstall {
                    package: "legacy".into(),
                    version: v("0.9.0")
                },
                Change::Install {
                    package: "reporting".into(),
                    version: v("1.0.0")
                },
            ]
        );
        assert!(changes(&before, &before, "r2").is_empty());
    }

    #[test]
    fn durations_read_the_times_every_platform_records() {
        assert_eq!(
            duration_ms("2026-11-22T11:37:12.250Z", "2026-11-22T11:37:13.5Z"),
            Some(1_250)
        );
        assert_eq!(
            duration_ms("2026-11-22T11:37:12.123456Z", "2026-11-22T11:37:12.124999Z"),
            Some(1)
        );
        assert_eq!(
            duration_ms("2024-02-28T23:59:59Z", "2024-03-01T00:00:00Z"),
            Some(86_401_000)
        );
        assert_eq!(
            duration_ms("2026-12-31T23:59:59Z", "2027-01-01T00:00:01Z"),
            Some(2_000)
        );
        assert_eq!(
            duration_ms("2026-11-22T11:37:13Z", "2026-11-22T11:37:12Z"),
            None
        );
        assert_eq!(duration_ms("yesterday", "2026-11-22T11:37:12Z"), None);
    }

    #[test]
    fn utc_millis_is_the_inverse_of_utc_now() {
        let now = crate::execute::runner::utc_now();
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let read = utc_millis(&now).unwrap() / 1_000;
        assert!((secs - read).abs() <= 1, "{now}: {read} vs {secs}");
        assert_eq!(utc_millis("1970-01-01T00:00:00Z"), Some(0));
    }
}
