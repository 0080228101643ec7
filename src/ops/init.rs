//! `dbpm init`: scaffold a package source that builds as it is, with every kind of folder a
//! first version needs (UPGRADE/DOWNGRADE, INSTALL/ROLLBACK, VERIFY); or, with `--next`,
//! start the next version of a package beside the current one.

use std::path::{Path, PathBuf};

use semver::Version;

use crate::diagnostic::Problems;
use crate::manifest::{self, is_package_name, MANIFEST_FILE};
use crate::package::{load_dir, Folder};
use crate::platform::Platform;

/// The folders that hold a version's complete code and tasks, copied into the next version.
/// UPGRADE and DOWNGRADE hold the edge into a version, so the next one starts its own.
const CARRIED_FOLDERS: [&str; 5] = ["PREINSTALL", "INSTALL", "ROLLBACK", "VERIFY", "POSTINSTALL"];

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
        help("pass `--name` with ASCII letters, digits, `_` and `-` (at most 100 characters)")
    )]
    BadName(String),
    /// A directory named after a version whose parent gives no package name.
    #[error(
        "`{dir}` is named after version {version}, but `{parent}` above it is not a package name"
    )]
    #[diagnostic(
        code(dbpm::init::no_name),
        help("lay package versions out as NAME/VERSION (for example `packages/billing/1.0.0`), or pass `--name`")
    )]
    NoName {
        /// The directory.
        dir: PathBuf,
        /// The version it is named after.
        version: Version,
        /// The name of the directory above it.
        parent: String,
    },
    /// A version asked for that differs from the one the directory is named after.
    #[error("`{dir}` is named after version {named}, not {requested}")]
    #[diagnostic(
        code(dbpm::init::version_mismatch),
        help("a package version's directory is named after its version: leave out `--version`, or choose a directory named `{requested}`")
    )]
    VersionMismatch {
        /// The directory.
        dir: PathBuf,
        /// The version it is named after.
        named: Version,
        /// The version asked for.
        requested: Version,
    },
    /// A platform given twice: most likely another one was meant.
    #[error("the platform `{0}` is given twice")]
    #[diagnostic(
        code(dbpm::init::duplicate_platform),
        help("name each platform once (`--platform postgres --platform sqlite`); without `--platform` the package supports all three; nothing was written")
    )]
    DuplicatePlatform(Platform),
    /// Writing failed.
    #[error("failed to write the package")]
    #[diagnostic(code(dbpm::init::write))]
    Write(#[source] std::io::Error),
    /// Reading the version to start from failed.
    #[error("failed to read the package")]
    #[diagnostic(code(dbpm::init::read))]
    Read(#[source] std::io::Error),
    /// The version to start from is not a valid package source.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(Problems),
    /// The current version's directory is not named after its version, so there is no
    /// telling where the next one goes.
    #[error("`{dir}` holds version {version}, but is not named `{version}`")]
    #[diagnostic(
        code(dbpm::init::not_a_version_dir),
        help("keep one directory per version, named after it (for example `packages/core/1.2.0`); the next version is created beside it")
    )]
    NotAVersionDir {
        /// The directory.
        dir: PathBuf,
        /// The version its manifest holds.
        version: Version,
    },
    /// The minor number of the current version is the largest there is.
    #[error("{0} has no next minor version")]
    #[diagnostic(
        code(dbpm::init::no_next_version),
        help("give the new version with `--version` (a new major one)")
    )]
    NoNextMinor(Version),
    /// The requested version is not above the current one.
    #[error("the next version must be higher than {current}, not {requested}")]
    #[diagnostic(
        code(dbpm::init::version_not_higher),
        help("pass a higher `--version`, or leave it out for the next minor version")
    )]
    NotHigher {
        /// The version started from.
        current: Version,
        /// The version asked for.
        requested: Version,
    },
    /// The next version's directory exists.
    #[error("`{0}` exists")]
    #[diagnostic(
        code(dbpm::init::exists),
        help("`dbpm init --next` never overwrites files: choose another `--version`, or remove the directory")
    )]
    Exists(PathBuf),
}

/// The next version of a package, as [`next`] wrote it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NextVersion {
    /// The package name.
    pub name: String,
    /// The version it upgrades from.
    pub from: Version,
    /// The new version.
    pub version: Version,
    /// Its directory.
    pub dir: PathBuf,
    /// The files written, in order.
    pub written: Vec<PathBuf>,
}

/// Starts the version after the one in `current` (a package version directory named after its
/// version), beside it: the manifest with `version` set and `from` the current version, the
/// code and task folders copied, and an UPGRADE/DOWNGRADE pair that does nothing harmful, so
/// the new version builds as it is. `version` defaults to the next minor version.
pub fn next(current: &Path, version: Option<&Version>) -> Result<NextVersion, InitError> {
    let source = load_dir(current).map_err(InitError::Invalid)?;
    let old = &source.manifest;
    // `.` or `..` have no name to compare with the version, their real path does.
    let current = match current.file_name() {
        Some(_) => current.to_path_buf(),
        None => fs_err::canonicalize(current).map_err(InitError::Read)?,
    };
    if current.file_name().and_then(|n| n.to_str()) != Some(old.version.to_string().as_str()) {
        return Err(InitError::NotAVersionDir {
            dir: current,
            version: old.version.clone(),
        });
    }
    let version = match version {
        Some(v) if *v <= old.version => {
            return Err(InitError::NotHigher {
                current: old.version.clone(),
                requested: v.clone(),
            })
        }
        Some(v) => v.clone(),
        None => match old.version.minor.checked_add(1) {
            Some(minor) => Version::new(old.version.major, minor, 0),
            None => return Err(InitError::NoNextMinor(old.version.clone())),
        },
    };
    let dir = current.with_file_name(version.to_string());
    if dir.exists() {
        return Err(InitError::Exists(dir));
    }

    let mut manifest = old.clone();
    manifest.version = version.clone();
    manifest.from = Some(old.version.clone());
    manifest.legacy = false;
    // Declarations of the old edge's scripts would name scripts the new version lacks.
    manifest.scripts.retain(|key, _| {
        let folder = key.split_once('/').and_then(|(f, _)| Folder::parse(f).ok());
        !matches!(folder, Some(Folder::Upgrade(_) | Folder::Downgrade(_)))
    });
    let from = &old.version;
    let mut files = vec![(
        PathBuf::from(MANIFEST_FILE),
        format!(
            "# Made by `dbpm init --next` from {from}: UPGRADE/ and DOWNGRADE/ hold the edge\n\
             # {from} -> {version}. Comments of the previous manifest are not carried over.\n\n{}",
            manifest::to_toml(&manifest)
        )
        .into_bytes(),
    )];
    for folder in CARRIED_FOLDERS {
        files.extend(read_folder(&current, folder)?);
    }
    files.push((
        PathBuf::from("UPGRADE/001.changes.sql"),
        format!(
            "-- Changes to the data model and data from {from} to {version}, in scripts named\n\
             -- NNN.name.sql, each with its twin in DOWNGRADE/. This placeholder changes nothing.\n\
             SELECT 1;\n"
        )
        .into_bytes(),
    ));
    files.push((
        PathBuf::from("DOWNGRADE/001.changes.sql"),
        format!(
            "-- Undoes UPGRADE/001.changes.sql, from {version} back to {from}. Write it\n\
             -- defensively (IF EXISTS): it also runs after a half-done upgrade. This placeholder\n\
             -- changes nothing.\n\
             SELECT 1;\n"
        )
        .into_bytes(),
    ));
    let written = write_new_dir(&dir, files)?;
    Ok(NextVersion {
        name: manifest.name,
        from: from.clone(),
        version,
        dir,
        written,
    })
}

/// The files of `dir/folder` (none when it does not exist), as paths relative to `dir`.
fn read_folder(dir: &Path, folder: &str) -> Result<Vec<(PathBuf, Vec<u8>)>, InitError> {
    let path = dir.join(folder);
    if !path.is_dir() {
        return Ok(Vec::new());
    }
    let mut entries = fs_err::read_dir(&path)
        .and_then(|entries| entries.collect::<Result<Vec<_>, _>>())
        .map_err(InitError::Read)?;
    entries.sort_by_key(|e| e.file_name());
    let mut files = Vec::new();
    // The source was validated, so a phase folder holds files only; hidden ones are not part
    // of the package.
    for entry in entries {
        if !entry.file_name().to_string_lossy().starts_with('.') {
            let bytes = fs_err::read(entry.path()).map_err(InitError::Read)?;
            files.push((Path::new(folder).join(entry.file_name()), bytes));
        }
    }
    Ok(files)
}

/// Creates `dir`, which must not exist, and writes `files` into it; on a failure, removes it
/// again, so no half-made version is left for a source tree to trip over.
fn write_new_dir(dir: &Path, files: Vec<(PathBuf, Vec<u8>)>) -> Result<Vec<PathBuf>, InitError> {
    // `create_dir` refuses an existing directory, so nothing is ever overwritten.
    if let Err(err) = fs_err::create_dir(dir) {
        return Err(if err.kind() == std::io::ErrorKind::AlreadyExists {
            InitError::Exists(dir.to_path_buf())
        } else {
            InitError::Write(err)
        });
    }
    let mut written = Vec::new();
    for (relative, bytes) in files {
        let path = dir.join(relative);
        let result = path
            .parent()
            .map_or(Ok(()), fs_err::create_dir_all)
            .and_then(|()| fs_err::write(&path, bytes));
        if let Err(err) = result {
            // The directory was created above: it holds nothing but what was written here.
            let _ = fs_err::remove_dir_all(dir);
            return Err(InitError::Write(err));
        }
        written.push(path);
    }
    Ok(written)
}

/// A new package, as [`init`] wrote it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NewPackage {
    /// The package name.
    pub name: String,
    /// Its version.
    pub version: Version,
    /// Its directory.
    pub dir: PathBuf,
    /// The files written, in order.
    pub written: Vec<PathBuf>,
}

/// Writes a new package into `dir` (created if needed, refused if not empty). A directory
/// named after a version is a package version directory laid out as NAME/VERSION
/// (`packages/billing/1.0.0`), so the package takes that version and its parent's name;
/// any other directory gives its name, and the version is 0.1.0. `name` overrides the
/// name; `version` overrides the version, and must agree with a directory named after one.
pub fn init(
    dir: &Path,
    name: Option<&str>,
    version: Option<&Version>,
    platforms: &[Platform],
) -> Result<NewPackage, InitError> {
    if let Some(twice) = platforms
        .iter()
        .enumerate()
        .find_map(|(at, p)| platforms[..at].contains(p).then_some(*p))
    {
        return Err(InitError::DuplicatePlatform(twice));
    }
    let (name, version) = identity(dir, name, version)?;
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
                "[package]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"\"\nplatforms = [{platform_list}]\n# from = \"0.0.9\"  # the version UPGRADE/ starts from; absent for a baseline\n\n[prerequisites]\n# core = \"^1.0\"\n\n[placeholders]\n# schema = {{ description = \"Where the tables go\", default = \"public\" }}\n\n# [scripts.\"UPGRADE/001.create_tables\"]\n# transaction = false   # must not run inside a transaction\n# idempotent = true     # safe to run again after a crash\n"
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
    Ok(NewPackage {
        name,
        version,
        dir: dir.to_path_buf(),
        written,
    })
}

/// The name and version of a new package in `dir`, as [`init`] tells them.
fn identity(
    dir: &Path,
    name: Option<&str>,
    version: Option<&Version>,
) -> Result<(String, Version), InitError> {
    let given = dir;
    let dir = resolved(dir);
    let own = dir.file_name().map(|n| n.to_string_lossy().into_owned());
    // No package name parses as a version (names have no dots), so there is no ambiguity.
    let named_version = own.as_deref().and_then(|n| Version::parse(n).ok());
    let Some(named_version) = named_version else {
        let name = name.map(str::to_owned).or(own).unwrap_or_default();
        if !is_package_name(&name) {
            return Err(InitError::BadName(name));
        }
        let version = version.cloned().unwrap_or_else(|| Version::new(0, 1, 0));
        return Ok((name, version));
    };
    if let Some(requested) = version.filter(|v| **v != named_version) {
        return Err(InitError::VersionMismatch {
            dir: given.to_path_buf(),
            named: named_version,
            requested: requested.clone(),
        });
    }
    let parent = dir
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = match name {
        Some(name) if is_package_name(name) => name.to_owned(),
        Some(name) => return Err(InitError::BadName(name.to_owned())),
        None if is_package_name(&parent) => parent,
        None => {
            return Err(InitError::NoName {
                dir: given.to_path_buf(),
                version: named_version,
                parent,
            })
        }
    };
    Ok((name, named_version))
}

/// `dir` with its last two components real: `.`, `..` and a relative path name the
/// directories they stand for. A directory still to create is resolved through its parent.
fn resolved(dir: &Path) -> PathBuf {
    if let Ok(real) = fs_err::canonicalize(dir) {
        return real;
    }
    let (Some(parent), Some(own)) = (dir.parent(), dir.file_name()) else {
        return dir.to_path_buf();
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    fs_err::canonicalize(parent).map_or_else(|_| dir.to_path_buf(), |real| real.join(own))
}
