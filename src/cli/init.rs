//! `dbpm init`.

use std::path::PathBuf;

use clap::Args;
use semver::Version;

use super::render::Out;
use super::Exit;
use crate::ops::init::{init, next};
use crate::platform::Platform;

/// Create a new package source that builds as it is, or the next version of one.
///
/// A DIR named after a version is a package version directory laid out as NAME/VERSION,
/// as repositories and source trees keep them: `packages/billing/1.0.0` makes `billing`
/// 1.0.0. Any other DIR makes a package named after it, at version 0.1.0. `--name` and
/// `--version` override these; `--version` must agree with a DIR named after a version.
///
/// With `--next`, DIR is an existing package version directory named after its version
/// (`packages/core/1.2.0`); the next version is created beside it (`packages/core/1.3.0`)
/// with the manifest (`version` set, `from` the current version), PREINSTALL, INSTALL,
/// ROLLBACK, VERIFY and POSTINSTALL copied, and an UPGRADE/DOWNGRADE pair that does nothing,
/// to replace with the version's changes.
///
/// Example: dbpm init packages/billing/1.0.0 --platform postgres --platform sqlite
///
/// Example: dbpm init --next packages/core/1.2.0
#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct InitArgs {
    /// The directory to create (refused when it exists and is not empty); with `--next`, the
    /// package version to start from.
    dir: PathBuf,
    /// Create the next version of the package in DIR, beside it.
    #[arg(long, conflicts_with_all = ["name", "platforms"])]
    next: bool,
    /// The package version (default: DIR's name when it is a version, else 0.1.0); with
    /// `--next`, the new version (default: the next minor version), which must be higher.
    #[arg(long, value_name = "X.Y.Z")]
    version: Option<Version>,
    /// The package name (default: DIR's name, or its parent's when DIR is named after a
    /// version).
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
    if args.next {
        let made = next(&args.dir, args.version.as_ref())?;
        if out.json() {
            out.json_value(&made);
            return Ok(Exit::Success);
        }
        for path in &made.written {
            out.data(path.display().to_string());
        }
        out.status(format!(
            "created {} {} in `{}`, upgrading from {}; write its changes in UPGRADE/ and DOWNGRADE/, then `dbpm build {}`",
            made.name,
            made.version,
            made.dir.display(),
            made.from,
            shell_word(&made.dir)
        ));
        return Ok(Exit::Success);
    }
    let made = init(
        &args.dir,
        args.name.as_deref(),
        args.version.as_ref(),
        &args.platforms,
    )?;
    if out.json() {
        out.json_value(&made);
        return Ok(Exit::Success);
    }
    for path in &made.written {
        out.data(path.display().to_string());
    }
    out.status(format!(
        "created {} {} in `{}`; build it with `dbpm build {}`",
        made.name,
        made.version,
        made.dir.display(),
        shell_word(&made.dir)
    ));
    Ok(Exit::Success)
}

/// `path` as a shell word that can be pasted into a command: as it is when it is plain,
/// else in single quotes (`'ini t/ok pkg dir'`).
fn shell_word(path: &std::path::Path) -> String {
    let text = path.display().to_string();
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+@%:=,".contains(c));
    if plain {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_quoted_for_the_shell_only_when_it_must_be() {
        assert_eq!(
            shell_word(std::path::Path::new("packages/billing/1.0.0")),
            "packages/billing/1.0.0"
        );
        assert_eq!(
            shell_word(std::path::Path::new("ini t/ok pkg")),
            "'ini t/ok pkg'"
        );
        assert_eq!(shell_word(std::path::Path::new("it's")), "'it'\\''s'");
    }
}
