//! `dbpm plan`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use clap::Args;

use super::render::Out;
use super::target::announcing_waits;
use super::Exit;
use crate::db::target::Target;
use crate::db::DbUrl;
use crate::execute::runner::{is_unfinished, unfinished_outcome};
use crate::ops::plan::{make_plan, read_release};
use crate::ops::repository::open_all;
use crate::ops::state::load_state_file;
use crate::ops::verbs;
use crate::plan::model::FORMAT_VERSION;
use crate::plan::{render, Options, Plan};

/// Compute the plan that takes a target to a release, for review before it is applied.
///
/// The installed state comes from the target itself (`--db`, read only) or from a state file
/// exported from it (`--state`, so CI plans without production credentials). The plan is
/// deterministic: the same inputs give the same bytes.
///
/// Example: dbpm plan --release examples/releases/2026.2.toml --repo examples/packages --db sqlite://dev.db --out plan.json
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// The release file (which packages, which versions).
    #[arg(long)]
    release: PathBuf,
    // Not `TargetArgs`: here `--db` is optional, as `--state` can stand in for the target.
    /// The target database URL (postgres://, mysql://, sqlite://); read only.
    #[arg(
        long,
        env = "DBPM_DB",
        hide_env_values = true,
        conflicts_with = "state",
        required_unless_present = "state"
    )]
    db: Option<String>,
    /// PostgreSQL only: the target schema, first in the scripts' search_path and whose state
    /// dbpm keeps [default: public]
    #[arg(long, env = "DBPM_SCHEMA")]
    schema: Option<String>,
    /// A state file from `dbpm state export`, instead of `--db`.
    #[arg(long)]
    state: Option<PathBuf>,
    /// Repositories, first one wins (repeatable, or separated by commas): a directory, a source
    /// tree, or postgres://...
    #[arg(
        long = "repo",
        env = "DBPM_REPO",
        hide_env_values = true,
        required = true
    )]
    repos: Vec<String>,
    /// Write the plan to this file.
    #[arg(long, short = 'o')]
    out: Option<PathBuf>,
    /// A placeholder value, winning over the release's (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_set)]
    set: Vec<(String, String)>,
    /// Run a package's ROLLBACK and INSTALL again, also to repair drift (repeatable).
    #[arg(long = "reinstall", value_name = "PACKAGE")]
    reinstall: Vec<String>,
    /// Uninstall installed packages that the release does not want. Without it they stay,
    /// at their version while it satisfies every requirement, else at a higher one.
    #[arg(long)]
    prune: bool,
    /// Re-create the code of installed dependents of packages whose version changes.
    #[arg(long)]
    reinstall_dependents: bool,
    /// Exit 0 when nothing changes and 2 when something does (1 on error).
    #[arg(long)]
    detailed_exitcode: bool,
    /// Fail with a diff when this committed plan is not what planning gives now (the target
    /// label is informational and taken from the committed plan; line endings are not
    /// compared, so a checkout with CRLF line endings is up to date too). Writes nothing:
    /// to update the plan, plan again with `--out`.
    #[arg(long, value_name = "PLAN", conflicts_with = "out")]
    check: Option<PathBuf>,
    /// The informational target label recorded in the plan (default: the target's URL
    /// without credentials). A password or other secret in it is hidden.
    #[arg(long)]
    target_label: Option<String>,
}

pub fn parse_set(text: &str) -> Result<(String, String), String> {
    text.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("`{text}` is not NAME=VALUE"))
}

pub async fn run(args: PlanArgs, out: &Out) -> miette::Result<Exit> {
    let release = read_release(&args.release)?;
    // From a target, also the package versions its runs recorded: the scripts it kept, so
    // a plan back to them needs no repository, as with the verbs.
    let (state, history) = match (&args.db, &args.state) {
        (Some(url), _) => {
            let url: DbUrl = url.parse()?;
            let target = announcing_waits(Target::new(url, args.schema.clone())?, out);
            let state = target.read_state().await?;
            let (runs, lock_free) = target.runs_and_lock_free().await?;
            if let Some(run) = runs.iter().find(|run| is_unfinished(run)) {
                out.status(format!(
                    "warning: run `{}` is unfinished on the target ({}): `apply` refuses another plan until it is finished (`dbpm status` says how)",
                    run.id,
                    unfinished_outcome(run, lock_free)
                ));
            }
            let history = verbs::history(&target, &runs).await?;
            (state, history)
        }
        (None, Some(path)) => (load_state_file(path)?, verbs::History::default()),
        (None, None) => unreachable!("clap requires --db or --state"),
    };
    let repos = open_all(&args.repos)?;
    // Line endings normalised: git on Windows (`core.autocrlf`) checks the committed plan
    // out with CRLF, which is the same plan (apply reads it the same) and not a change.
    let committed_text = match &args.check {
        Some(path) => Some(
            fs_err::read_to_string(path)
                .map_err(|err| miette::miette!("failed to read `{}`: {err}", path.display()))?
                .replace("\r\n", "\n"),
        ),
        None => None,
    };
    let committed_label = committed_text
        .as_deref()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(text).ok())
        .and_then(|value| {
            value
                .get("target")
                .and_then(|t| t.as_str())
                .map(str::to_owned)
        });
    let target = args
        .target_label
        .clone()
        .or(committed_label)
        .unwrap_or_else(|| state.target.clone());
    let options = Options {
        reinstall: args.reinstall.iter().cloned().collect::<BTreeSet<_>>(),
        prune: args.prune,
        reinstall_dependents: args.reinstall_dependents,
        set: args.set.iter().cloned().collect::<BTreeMap<_, _>>(),
        target,
        latest: BTreeSet::new(),
        package_values: BTreeMap::new(),
        walked_values: history.walked_values,
        requested_by: None,
    };
    let plan = make_plan(&release, &state, &repos, &options, &[], &history.packages).await?;
    super::report_skipped(&repos, out);
    let json = plan.to_json();

    if let (Some(committed), Some(current)) = (&args.check, &committed_text) {
        // The committed file may be formatted otherwise (a formatter on save): the same plan
        // all the same.
        let loaded =
            (current != &json).then(|| Plan::from_json(&committed.display().to_string(), current));
        let same = match &loaded {
            None => true,
            Some(Ok(old)) => *old == plan,
            Some(Err(_)) => false,
        };
        if same {
            if out.json() {
                out.json_value(&serde_json::json!({
                    "check": committed,
                    "up_to_date": true,
                    "hash": plan.hash,
                }));
            }
            out.status(format!("`{}` is up to date", committed.display()));
        } else {
            // A committed plan that does not even load is out of date too; show the diff either way.
            let why = match &loaded {
                Some(Err(err)) => format!(" ({err})"),
                Some(Ok(old)) if old.format_version != FORMAT_VERSION => format!(
                    " (it is a plan of format {}; this dbpm writes format {FORMAT_VERSION})",
                    old.format_version
                ),
                _ => String::new(),
            };
            // Between the plans as dbpm writes them, whatever formatting the file has.
            let committed_json = match &loaded {
                Some(Ok(old)) => old.to_json(),
                _ => current.clone(),
            };
            let diff = similar::TextDiff::from_lines(committed_json.as_str(), json.as_str())
                .unified_diff()
                .context_radius(3)
                .header(&committed.display().to_string(), "fresh plan")
                .to_string();
            if out.json() {
                // One document, as for every command: the diff is a field of it.
                out.json_value(&serde_json::json!({
                    "check": committed,
                    "up_to_date": false,
                    "hash": plan.hash,
                    "diff": diff,
                }));
            } else {
                out.data(diff);
            }
            out.status(format!(
                "`{}` is out of date{why}: plan again with `--out {}` and commit it",
                committed.display(),
                committed.display()
            ));
            return Ok(Exit::Error);
        }
    } else if let Some(path) = &args.out {
        super::write_plan(path, json.as_bytes())?;
        if out.json() {
            out.json_value(&serde_json::json!({
                "path": path,
                "hash": plan.hash,
                "changes": plan.has_changes(),
                "steps": plan.steps.len(),
                "compensations": plan.compensations.len(),
            }));
        } else {
            out.status(render::text(&plan, out.color()).trim_end());
            out.status(format!("plan written to `{}`", path.display()));
        }
    } else if out.json() {
        out.data(json.trim_end());
    } else {
        out.data(render::text(&plan, out.color_stdout()).trim_end());
    }

    Ok(if args.detailed_exitcode && plan.has_changes() {
        Exit::Changes
    } else {
        Exit::Success
    })
}
