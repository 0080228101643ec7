//! `dbpm verify` and `dbpm adopt`.

use clap::Args;

use super::render::Out;
use super::target::TargetArgs;
use super::Exit;
use crate::diagnostic::plural;
use crate::ops::check::{adopt, generate, verify, CheckResult, Verification};
use crate::ops::repository::{open_all, open_given};

/// Health checks: run the VERIFY scripts of every installed package (in transactions that are
/// rolled back) and, with `--repo`, compare installed checksums with the repository's.
///
/// Exits 1 with a report when a check fails.
///
/// Example: dbpm verify --db postgres://app@db/prod --repo /srv/dbpm-repo
#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// Repositories to compare checksums with (repeatable, or separated by commas).
    #[arg(long = "repo", env = "DBPM_REPO", hide_env_values = true)]
    repos: Vec<String>,
}

/// Record an existing database as having a package version installed, without running its
/// scripts, once its VERIFY scripts confirm the claim (a baseline); or, with `--generate`,
/// make a baseline package from a live database's schema.
///
/// On PostgreSQL the VERIFY scripts of a claim see the target schema alone (not `public`):
/// what another schema holds confirms nothing. A check that uses an extension's type or
/// function names its schema (`public.citext`).
///
/// Example: dbpm adopt core@1.1.0 --db postgres://app@db/legacy --repo examples/packages
///
/// Example: dbpm adopt --generate packages/legacy/1.0.0 --name legacy --db postgres://app@db/legacy
#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// `NAME@VERSION` to adopt.
    #[arg(required_unless_present = "generate", conflicts_with = "generate")]
    package: Option<String>,
    /// Write a baseline package of the live schema into this (new) directory instead.
    #[arg(long, value_name = "DIR")]
    generate: Option<std::path::PathBuf>,
    /// The generated package's name (default: the directory's parent's name, or `baseline`).
    #[arg(long, requires = "generate")]
    name: Option<String>,
    /// The generated package's version.
    #[arg(
        long = "baseline-version",
        requires = "generate",
        default_value = "1.0.0"
    )]
    baseline_version: semver::Version,
    #[command(flatten)]
    target: TargetArgs,
    /// Repositories, first one wins (repeatable, or separated by commas); needed to adopt, not
    /// to generate.
    #[arg(
        long = "repo",
        env = "DBPM_REPO",
        hide_env_values = true,
        required_unless_present = "generate"
    )]
    repos: Vec<String>,
    /// Record the claim of a version that has no VERIFY script, which nothing can check
    /// (refused otherwise).
    #[arg(long, conflicts_with = "generate")]
    unverified: bool,
    /// A placeholder value for the VERIFY scripts (repeatable).
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = super::plan::parse_set)]
    set: Vec<(String, String)>,
}

fn show(results: &[CheckResult], out: &Out) {
    if out.json() {
        out.json_value(&results);
        return;
    }
    for result in results {
        let mark = if result.ok { "ok  " } else { "FAIL" };
        let detail = result
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        out.data(format!(
            "{mark} {} {}{detail}",
            result.package, result.check
        ));
    }
}

pub async fn run_verify(args: VerifyArgs, out: &Out) -> miette::Result<Exit> {
    let target = args.target.target(out)?;
    let repos = open_given(&args.repos)?;
    let Verification { installed, results } = verify(&target, repos.as_ref()).await?;
    if let Some(repos) = &repos {
        super::report_skipped(repos, out);
    }
    show(&results, out);
    let failed = results.iter().filter(|r| !r.ok).count();
    if results.is_empty() {
        out.status(if installed == 0 {
            format!(
                "nothing to verify: no package is installed on `{}`",
                target.label()
            )
        } else {
            format!(
                "nothing to verify: none of the {} installed on `{}` has a VERIFY script",
                plural(installed, "package"),
                target.label()
            )
        });
        Ok(Exit::Success)
    } else if failed == 0 {
        out.status(format!("{} passed", plural(results.len(), "check")));
        Ok(Exit::Success)
    } else {
        out.status(format!("{failed} of {} checks failed", results.len()));
        Ok(Exit::Error)
    }
}

pub async fn run_adopt(args: AdoptArgs, out: &Out) -> miette::Result<Exit> {
    let target = args.target.target(out)?;
    if let Some(dir) = &args.generate {
        let name = args.name.clone().unwrap_or_else(|| {
            dir.parent()
                .and_then(|p| p.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| crate::manifest::is_package_name(n))
                .unwrap_or_else(|| "baseline".to_owned())
        });
        let written = generate(&target, dir, &name, &args.baseline_version).await?;
        for path in &written {
            out.data(path.display().to_string());
        }
        out.status(format!(
            "baseline package `{name}@{}` written to `{}`",
            args.baseline_version,
            dir.display()
        ));
        return Ok(Exit::Success);
    }
    let repos = open_all(&args.repos)?;
    let package = args.package.unwrap_or_default();
    let (name, version) = package
        .split_once('@')
        .ok_or_else(|| miette::miette!("`{package}` is not NAME@VERSION"))?;
    let version = semver::Version::parse(version)
        .map_err(|err| miette::miette!("`{version}` is not a version: {err}"))?;
    let set = args.set.into_iter().collect();
    let results = adopt(&target, &repos, name, &version, &set, args.unverified).await?;
    super::report_skipped(&repos, out);
    show(&results, out);
    let unchecked = if results.is_empty() {
        ", unchecked: it has no VERIFY script"
    } else {
        ""
    };
    out.status(format!(
        "`{name}@{version}` is recorded as installed (adopted{unchecked}); no script ran"
    ));
    Ok(Exit::Success)
}
