//! `dbpm init`.

use std::path::PathBuf;

use clap::Args;

use super::render::Out;
use super::Exit;
use crate::ops::init::init;
use crate::platform::Platform;

/// Create a new package source that builds as it is.
///
/// Example: dbpm init packages/billing --platform postgres --platform sqlite
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to create (refused when it exists and is not empty).
    dir: PathBuf,
    /// The package name (default: the directory's name).
    #[arg(long)]
    name: Option<String>,
    /// A platform the package supports (repeatable; default: all three).
    #[arg(long = "platform", value_parser = parse_platform)]
    platforms: Vec<Platform>,
}

pub fn parse_platform(text: &str) -> Result<Platform, String> {
    text.parse::<Platform>()
        .map_err(|err| match Platform::suggest(text) {
            Some(p) => format!("{err}; did you mean `{p}`?"),
            None => format!("{err}; the platforms are postgres, mysql, sqlite"),
        })
}

pub fn run(args: InitArgs, out: &Out) -> miette::Result<Exit> {
    let written = init(&args.dir, args.name.as_deref(), &args.platforms)?;
    for path in &written {
        out.data(path.display().to_string());
    }
    out.status(format!(
        "created package in `{}`; build it with `dbpm build {}`",
        args.dir.display(),
        args.dir.display()
    ));
    Ok(Exit::Success)
}
