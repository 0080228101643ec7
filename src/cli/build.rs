//! `dbpm build`.

use std::path::PathBuf;

use clap::Args;

use super::render::Out;
use super::Exit;
use crate::ops::build::build;

/// Validate package sources and write one `.dbpkg` archive per platform.
///
/// The archive is `NAME-MAJOR.MINOR.PATCH-PLATFORM.dbpkg`; building the same sources again
/// gives the same bytes. Every problem of a package is reported at once.
///
/// Example: dbpm build examples/packages/core/1.0.0 --out-dir dist
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Package source directories (each holding a `dbpm.toml` or `manifest.dpm`).
    #[arg(default_value = ".")]
    dirs: Vec<PathBuf>,
    /// Where to write the archives.
    #[arg(long, short = 'o', visible_alias = "out", default_value = "dist")]
    out_dir: PathBuf,
}

pub fn run(args: BuildArgs, out: &Out) -> miette::Result<Exit> {
    let report = build(&args.dirs, &args.out_dir)?;
    for warning in &report.warnings {
        out.report(warning);
    }
    if out.json() {
        out.json_value(&report.built);
        return Ok(Exit::Success);
    }
    for built in &report.built {
        out.data(built.path.display().to_string());
    }
    let fresh = report.built.iter().filter(|b| !b.unchanged).count();
    out.status(format!(
        "built {} ({} unchanged)",
        crate::diagnostic::plural(report.built.len(), "archive"),
        report.built.len() - fresh
    ));
    Ok(Exit::Success)
}
