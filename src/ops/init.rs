//! `dbpm init`: scaffold a package source that builds as it is, with every kind of folder a
//! first version needs (UPGRADE/DOWNGRADE, INSTALL/ROLLBACK, VERIFY).

use std::path::{Path, PathBuf};

use crate::manifest::is_package_name;
use crate::platform::Platform;

/// Why a package could not be scaffolded.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum InitError {
    /// The directory holds files already.
    #[error("`{0}` exists and is not empty")]
    #[diagnostic(
        code(dbpm::init::not_empty),
        help("choose a new directory; `dbpm init` never overwrites files")
    )]
    NotEmpty(PathBuf),
    /// No usable package name.
    #[error("`{0}` is not a package name")]
    #[diagnostic(
        code(dbpm::init::bad_name),
        help("pass `--name` with letters, digits, `_` and `-` (at most 100 characters)")
    )]
    BadName(String),
    /// Writing failed.
    #[error("failed to write the package")]
    #[diagnostic(code(dbpm::init::write))]
    Write(#[source] std::io::Error),
}

/// Writes a new package into `dir` (created if needed, refused if not empty).
pub fn init(
    dir: &Path,
    name: Option<&str>,
    platforms: &[Platform],
) -> Result<Vec<PathBuf>, InitError> {
    let name = match name {
        Some(name) => name.to_owned(),
        None => dir
            .canonicalize()
            .ok()
            .or_else(|| Some(dir.to_path_buf()))
            .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_default(),
    };
    if !is_package_name(&name) {
        return Err(InitError::BadName(name));
    }
    if fs_err::read_dir(dir).is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(InitError::NotEmpty(dir.to_path_buf()));
    }
    let table = format!("{}_item", name.replace('-', "_"));
    let view = format!("{}_item_labels", name.replace('-', "_"));
    let platforms = if platforms.is_empty() {
        &Platform::ALL[..]
    } else {
        platforms
    };
    let platform_list = platforms
        .iter()
        .map(|p| format!("\"{p}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let files = [
        (
            "dbpm.toml".to_owned(),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\ndescription = \"\"\nplatforms = [{platform_list}]\n# from = \"0.0.9\"  # the version UPGRADE/ starts from; absent for a baseline\n\n[prerequisites]\n# core = \"^1.0\"\n\n[placeholders]\n# schema = {{ description = \"Where the tables go\", default = \"public\" }}\n\n# [scripts.\"UPGRADE/001.create_tables\"]\n# transaction = false   # must not run inside a transaction\n# idempotent = true     # safe to run again after a crash\n"
            ),
        ),
        (
            "UPGRADE/001.create_tables.sql".to_owned(),
            format!("CREATE TABLE {table} (\n    id INTEGER PRIMARY KEY,\n    label VARCHAR(200) NOT NULL\n);\n"),
        ),
        ("DOWNGRADE/001.create_tables.sql".to_owned(), format!("DROP TABLE IF EXISTS {table};\n")),
        ("INSTALL/001.views.sql".to_owned(), format!("CREATE VIEW {view} AS SELECT id, label FROM {table};\n")),
        ("ROLLBACK/001.views.sql".to_owned(), format!("DROP VIEW IF EXISTS {view};\n")),
        ("VERIFY/001.tables_exist.sql".to_owned(), format!("SELECT count(*) FROM {view};\n")),
    ];
    let mut written = Vec::new();
    for (relative, text) in files {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            fs_err::create_dir_all(parent).map_err(InitError::Write)?;
        }
        fs_err::write(&path, text).map_err(InitError::Write)?;
        written.push(path);
    }
    Ok(written)
}
