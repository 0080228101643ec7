//! `dbpm build`: validate package sources and write one deterministic archive per platform.

use std::path::{Path, PathBuf};

use crate::diagnostic::{Problem, Problems};
use crate::durable::write_atomically;
use crate::package::{archive, load_dir, Checksum};
use crate::platform::Platform;

/// One archive written (or found identical).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    /// The archive's path.
    pub path: PathBuf,
    /// `name@version`.
    pub id: String,
    /// The platform.
    pub platform: Platform,
    /// The content checksum.
    pub checksum: Checksum,
    /// Whether an identical archive was already there.
    pub unchanged: bool,
}

/// What a build produced.
#[derive(Debug, Clone, Default)]
pub struct BuildReport {
    /// The archives.
    pub built: Vec<Built>,
    /// Warnings about the sources.
    pub warnings: Vec<Problem>,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    /// One or more packages are invalid; nothing was written.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(Problems),
    /// The archive could not be written.
    #[error("failed to write archive `{path}`")]
    #[diagnostic(code(dbpm::build::write))]
    Write {
        /// The archive.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Validates every package first, then writes archives for all of them into `out_dir`.
pub fn build(dirs: &[PathBuf], out_dir: &Path) -> Result<BuildReport, BuildError> {
    let mut sources = Vec::new();
    let mut invalid = Vec::new();
    for dir in dirs {
        match load_dir(dir) {
            Ok(source) => sources.push(source),
            Err(problems) => invalid.push(problems),
        }
    }
    match invalid.len() {
        0 => {}
        1 => return Err(BuildError::Invalid(invalid.remove(0))),
        count => {
            let all = invalid.into_iter().flat_map(|p| p.all().to_vec()).collect();
            return Err(BuildError::Invalid(Problems::new(
                format!("{count} packages"),
                all,
            )));
        }
    }
    let write_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Write { path, source }
    };
    fs_err::create_dir_all(out_dir).map_err(write_error(out_dir))?;
    let mut report = BuildReport::default();
    for source in sources {
        report.warnings.extend(source.warnings.iter().cloned());
        for package in source.packages() {
            let path = out_dir.join(package.archive_name());
            let bytes = archive::write(&package);
            let unchanged = fs_err::read(&path).is_ok_and(|existing| existing == bytes);
            if !unchanged {
                write_atomically(&path, &bytes).map_err(write_error(&path))?;
            }
            report.built.push(Built {
                path,
                id: package.id(),
                platform: package.platform,
                checksum: package.checksum.clone(),
                unchanged,
            });
        }
    }
    Ok(report)
}
