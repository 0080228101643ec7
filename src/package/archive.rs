//! `.dbpkg` archives: a gzipped tar holding `dbpkg.json` (name, version, platform, the
//! checksum of every file and of the whole), the normalised manifest and the scripts.
//!
//! Writing is deterministic (sorted entries, fixed times, owners and modes), so the same
//! sources give the same bytes. Reading trusts nothing: it refuses links, path traversal,
//! absurd sizes, unknown or missing entries and changed files, then validates the package
//! as if it were a source directory.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::diagnostic::Problems;
use crate::platform::Platform;

use super::checksum::Checksum;
use super::source::FileTree;
use super::validate::validate;
use super::Package;

/// The name of the index entry of an archive.
pub const INDEX_ENTRY: &str = "dbpkg.json";
/// The archive format this dbpm writes and reads.
pub const FORMAT: u32 = 1;
/// The largest single file an archive may hold.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;
/// The largest total an archive may unpack to.
pub const MAX_TOTAL_SIZE: u64 = 512 * 1024 * 1024;
/// The most entries an archive may hold.
pub const MAX_ENTRIES: usize = 100_000;

/// The index of an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveIndex {
    /// The archive format.
    pub format: u32,
    /// The package name.
    pub name: String,
    /// The package version.
    pub version: semver::Version,
    /// The platform the archive is for.
    pub platform: Platform,
    /// The content checksum of the package.
    pub checksum: Checksum,
    /// The checksum of every other entry.
    pub files: BTreeMap<String, Checksum>,
}

/// Why an archive cannot be read.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum ArchiveError {
    /// The bytes are not a gzipped tar.
    #[error("`{path}` is not a readable .dbpkg archive")]
    #[diagnostic(code(dbpm::archive::unreadable))]
    Unreadable {
        /// The archive.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An entry that an archive must not hold.
    #[error("`{path}` holds a forbidden entry `{entry}`: {reason}")]
    #[diagnostic(
        code(dbpm::archive::forbidden_entry),
        help("archives written by `dbpm build` hold plain files only; rebuild it")
    )]
    Forbidden {
        /// The archive.
        path: PathBuf,
        /// The entry name.
        entry: String,
        /// Why it is refused.
        reason: String,
    },
    /// Too big to be a package.
    #[error("`{path}` is too large: {reason}")]
    #[diagnostic(code(dbpm::archive::too_large))]
    TooLarge {
        /// The archive.
        path: PathBuf,
        /// Which limit.
        reason: String,
    },
    /// `dbpkg.json` missing or unreadable.
    #[error("`{path}` has no valid `dbpkg.json`: {reason}")]
    #[diagnostic(
        code(dbpm::archive::bad_index),
        help("rebuild the archive with `dbpm build`")
    )]
    BadIndex {
        /// The archive.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A file's content does not match its recorded checksum.
    #[error("`{path}`: `{entry}` was changed after the archive was built (checksum {actual}, recorded {expected})")]
    #[diagnostic(
        code(dbpm::archive::checksum_mismatch),
        help("do not edit archives; change the package source and rebuild")
    )]
    ChecksumMismatch {
        /// The archive.
        path: PathBuf,
        /// The entry.
        entry: String,
        /// What the index says.
        expected: Checksum,
        /// What the content hashes to.
        actual: Checksum,
    },
    /// Entries present but not in the index, or listed but absent.
    #[error("`{path}`: {reason}")]
    #[diagnostic(
        code(dbpm::archive::entries_mismatch),
        help("rebuild the archive with `dbpm build`")
    )]
    Entries {
        /// The archive.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// The package inside is invalid.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Invalid(#[from] Problems),
}

/// Writes a package as archive bytes.
pub fn write(package: &Package) -> Vec<u8> {
    let files = package.files();
    let index = ArchiveIndex {
        format: FORMAT,
        name: package.manifest.name.clone(),
        version: package.manifest.version.clone(),
        platform: package.platform,
        checksum: package.checksum.clone(),
        files: files
            .iter()
            .map(|(path, text)| (path.clone(), Checksum::of_text(text)))
            .collect(),
    };
    let mut index_json = serde_json::to_string_pretty(&index)
        .unwrap_or_else(|err| unreachable!("the index always serializes: {err}"));
    index_json.push('\n');

    let encoder = flate2::GzBuilder::new()
        .mtime(0)
        .write(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.mode(tar::HeaderMode::Deterministic);
    let entries = std::iter::once((INDEX_ENTRY.to_owned(), index_json)).chain(files);
    for (path, text) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(text.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        builder
            .append_data(&mut header, &path, text.as_bytes())
            .unwrap_or_else(|err| unreachable!("writing to memory cannot fail: {err}"));
    }
    let encoder = builder
        .into_inner()
        .unwrap_or_else(|err| unreachable!("writing to memory cannot fail: {err}"));
    encoder
        .finish()
        .unwrap_or_else(|err| unreachable!("writing to memory cannot fail: {err}"))
}

/// Reads archive bytes back into a package, verifying everything.
pub fn read(path: &Path, bytes: &[u8]) -> Result<Package, ArchiveError> {
    let entries = unpack(path, bytes)?;
    let mut files = entries;
    let index_bytes = files
        .remove(INDEX_ENTRY)
        .ok_or_else(|| ArchiveError::BadIndex {
            path: path.to_path_buf(),
            reason: format!("no `{INDEX_ENTRY}` entry"),
        })?;
    let index: ArchiveIndex =
        serde_json::from_slice(&index_bytes).map_err(|err| ArchiveError::BadIndex {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
    if index.format != FORMAT {
        return Err(ArchiveError::BadIndex {
            path: path.to_path_buf(),
            reason: format!(
                "archive format {} is not the format {FORMAT} this dbpm reads",
                index.format
            ),
        });
    }
    let unlisted: Vec<&String> = files
        .keys()
        .filter(|k| !index.files.contains_key(*k))
        .collect();
    let absent: Vec<&String> = index
        .files
        .keys()
        .filter(|k| !files.contains_key(*k))
        .collect();
    if !unlisted.is_empty() || !absent.is_empty() {
        let mut reasons = Vec::new();
        if !unlisted.is_empty() {
            reasons.push(format!("unknown entries {}", list(&unlisted)));
        }
        if !absent.is_empty() {
            reasons.push(format!("missing entries {}", list(&absent)));
        }
        return Err(ArchiveError::Entries {
            path: path.to_path_buf(),
            reason: reasons.join("; "),
        });
    }
    for (entry, expected) in &index.files {
        let actual = Checksum::of_bytes(&files[entry]);
        if &actual != expected {
            return Err(ArchiveError::ChecksumMismatch {
                path: path.to_path_buf(),
                entry: entry.clone(),
                expected: expected.clone(),
                actual,
            });
        }
    }
    let tree = FileTree {
        root: path.to_path_buf(),
        files,
        problems: Vec::new(),
    };
    let source = validate(&tree)?;
    let package = source
        .for_platform(index.platform)
        .ok_or_else(|| ArchiveError::BadIndex {
            path: path.to_path_buf(),
            reason: format!(
                "the archive is for `{}`, which its manifest does not list",
                index.platform
            ),
        })?;
    let held: Vec<&String> = tree.files.keys().collect();
    let used: Vec<String> = package.files().into_iter().map(|(p, _)| p).collect();
    let foreign: Vec<&String> = held.into_iter().filter(|p| !used.contains(p)).collect();
    if !foreign.is_empty() {
        return Err(ArchiveError::Entries {
            path: path.to_path_buf(),
            reason: format!(
                "entries that are not part of the package on {}: {}",
                index.platform,
                list(&foreign)
            ),
        });
    }
    if package.manifest.name != index.name
        || package.manifest.version != index.version
        || package.checksum != index.checksum
    {
        return Err(ArchiveError::BadIndex {
            path: path.to_path_buf(),
            reason: format!(
                "it names {}@{} with checksum {}, but the content is {} with checksum {}",
                index.name,
                index.version,
                index.checksum,
                package.id(),
                package.checksum
            ),
        });
    }
    Ok(package)
}

/// Reads an archive file.
pub fn read_file(path: &Path) -> Result<Package, ArchiveError> {
    let bytes = fs_err::read(path).map_err(|source| ArchiveError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    read(path, &bytes)
}

fn list(items: &[&String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unpack(path: &Path, bytes: &[u8]) -> Result<BTreeMap<String, Vec<u8>>, ArchiveError> {
    let unreadable = |source| ArchiveError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    let forbidden = |entry: &str, reason: &str| ArchiveError::Forbidden {
        path: path.to_path_buf(),
        entry: entry.to_owned(),
        reason: reason.to_owned(),
    };
    // The decompressed stream is capped, so a gzip bomb stops at the limit.
    let decoder = flate2::read::GzDecoder::new(bytes).take(MAX_TOTAL_SIZE + 1024 * 1024);
    let mut archive = tar::Archive::new(decoder);
    let mut files = BTreeMap::new();
    let mut total = 0u64;
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(forbidden(
                &name,
                "not a regular file (links and devices are refused)",
            ));
        }
        let entry_path = entry.path().map_err(unreadable)?.into_owned();
        let normal = entry_path
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
        if !normal || name.contains('\\') || name.is_empty() {
            return Err(forbidden(
                &name,
                "the path leaves the package (`..`, `/` or `\\`)",
            ));
        }
        if entry_path.components().count() > 2 {
            return Err(forbidden(&name, "nested deeper than a phase folder"));
        }
        let size = entry.header().size().map_err(unreadable)?;
        total += size;
        if size > MAX_FILE_SIZE {
            return Err(ArchiveError::TooLarge {
                path: path.to_path_buf(),
                reason: format!("entry `{name}` is {size} bytes (the limit is {MAX_FILE_SIZE})"),
            });
        }
        if total > MAX_TOTAL_SIZE || files.len() >= MAX_ENTRIES {
            return Err(ArchiveError::TooLarge {
                path: path.to_path_buf(),
                reason: format!("more than {MAX_TOTAL_SIZE} bytes or {MAX_ENTRIES} entries"),
            });
        }
        let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry.read_to_end(&mut content).map_err(unreadable)?;
        if files.insert(name.clone(), content).is_some() {
            return Err(forbidden(&name, "the entry appears twice"));
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Package {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::write(
            root.join("dbpm.toml"),
            "[package]\nname = \"demo\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n",
        )
        .unwrap();
        fs_err::create_dir_all(root.join("INSTALL")).unwrap();
        fs_err::create_dir_all(root.join("ROLLBACK")).unwrap();
        fs_err::write(
            root.join("INSTALL/001.view.sql"),
            "create view v as select 1;\r\n",
        )
        .unwrap();
        fs_err::write(
            root.join("ROLLBACK/001.view.sql"),
            "drop view if exists v;\n",
        )
        .unwrap();
        let source = super::super::load_dir(root).unwrap();
        source.for_platform(Platform::Sqlite).unwrap()
    }

    #[test]
    fn writes_the_same_bytes_twice_and_reads_them_back() {
        let package = sample();
        let bytes = write(&package);
        assert_eq!(bytes, write(&package));
        let back = read(Path::new("demo.dbpkg"), &bytes).unwrap();
        assert_eq!(back, package);
    }
}
