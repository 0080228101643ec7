//! `.dbpkg` archives: a gzipped tar holding `dbpkg.json` (name, version, platform, the
//! checksum of every file and of the whole), the normalised manifest and the scripts.
//!
//! Writing is deterministic (sorted entries, fixed times, owners and modes), so the same
//! sources give the same bytes. Reading trusts nothing: it refuses links, path traversal,
//! absurd sizes, unknown or missing entries and changed files, then validates the package
//! as if it were a source directory. It names what a file is when it is no gzipped tar (a
//! zip renamed `.dbpkg`), and takes an archive repacked with `tar` as it is: folder entries
//! and a leading `./` name nothing new, and the index still checks every file.

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
    /// The file cannot be read.
    #[error("failed to read the archive `{path}`")]
    #[diagnostic(code(dbpm::archive::io))]
    Io {
        /// The archive.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are another format than a gzipped tar: a zip, a bare tar, ...
    #[error("`{path}` is not a .dbpkg archive: {found}")]
    #[diagnostic(
        code(dbpm::archive::not_an_archive),
        help("a .dbpkg is the gzipped tar that `dbpm build` writes (renaming a zip or a tar does not make one): rebuild it from its package directory with `dbpm build DIR`")
    )]
    NotAnArchive {
        /// The archive.
        path: PathBuf,
        /// What the bytes are instead.
        found: &'static str,
    },
    /// A gzipped tar that cannot be unpacked to the end.
    #[error("`{path}` is a damaged .dbpkg archive: it cannot be unpacked")]
    #[diagnostic(
        code(dbpm::archive::unreadable),
        help("the file is truncated or corrupt (an interrupted download or copy?): copy it again, or rebuild it from its package directory with `dbpm build DIR`")
    )]
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
    let bytes = fs_err::read(path).map_err(|source| ArchiveError::Io {
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
    if let Some(found) = foreign_format(bytes) {
        return Err(ArchiveError::NotAnArchive {
            path: path.to_path_buf(),
            found,
        });
    }
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
    // Folder entries hold nothing, but count against the limit of entries.
    let mut folders = 0usize;
    for entry in archive.entries().map_err(unreadable)? {
        let mut entry = entry.map_err(unreadable)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        if !matches!(kind, tar::EntryType::Regular | tar::EntryType::Directory) {
            return Err(forbidden(
                &raw,
                "not a regular file (links and devices are refused)",
            ));
        }
        let entry_path = entry.path().map_err(unreadable)?.into_owned();
        let name = entry_name(&entry_path)
            .filter(|name| !raw.contains('\\') && (kind.is_dir() || !name.is_empty()))
            .ok_or_else(|| forbidden(&raw, "the path leaves the package (`..`, `/` or `\\`)"))?;
        folders += usize::from(kind.is_dir());
        if files.len() + folders > MAX_ENTRIES {
            return Err(ArchiveError::TooLarge {
                path: path.to_path_buf(),
                reason: format!("more than {MAX_ENTRIES} entries"),
            });
        }
        if kind.is_dir() {
            // A folder entry holds nothing (`tar -C DIR -czf …` writes them): its files count.
            if entry.header().size().map_err(unreadable)? != 0 {
                return Err(forbidden(&raw, "a folder entry that claims content"));
            }
            continue;
        }
        if name.split('/').count() > 2 {
            return Err(forbidden(&raw, "nested deeper than a phase folder"));
        }
        let size = entry.header().size().map_err(unreadable)?;
        total += size;
        if size > MAX_FILE_SIZE {
            return Err(ArchiveError::TooLarge {
                path: path.to_path_buf(),
                reason: format!("entry `{raw}` is {size} bytes (the limit is {MAX_FILE_SIZE})"),
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
        if files.insert(name, content).is_some() {
            return Err(forbidden(&raw, "the entry appears twice"));
        }
    }
    Ok(files)
}

/// An entry's name in the package (`/`-separated), or `None` when its path leaves the
/// package. A leading `./` (what `tar -C DIR -czf FILE .` writes) names the same file as
/// none does, so it is dropped: the index's checksums still verify every file.
fn entry_name(path: &Path) -> Option<String> {
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir if parts.is_empty() => {}
            Component::Normal(part) => parts.push(part.to_str()?),
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// What `bytes` are when they are plainly no gzip stream, told by their first bytes; `None`
/// for gzip, which unpacking then judges.
fn foreign_format(bytes: &[u8]) -> Option<&'static str> {
    const SIGNATURES: &[(&[u8], &str)] = &[
        (b"\x1f\x8b", ""),
        (b"PK\x03\x04", "it is a zip file"),
        (b"PK\x05\x06", "it is a zip file"),
        (b"BZh", "it is compressed with bzip2, not gzip"),
        (b"\xfd7zXZ\x00", "it is compressed with xz, not gzip"),
        (b"\x28\xb5\x2f\xfd", "it is compressed with zstd, not gzip"),
        (b"7z\xbc\xaf\x27\x1c", "it is a 7-Zip file"),
    ];
    if bytes.is_empty() {
        return Some("the file is empty");
    }
    if let Some((_, found)) = SIGNATURES
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
    {
        return (!found.is_empty()).then_some(*found);
    }
    if bytes.get(257..262) == Some(b"ustar") {
        return Some("it is a tar file that is not gzip-compressed");
    }
    Some("it is not gzip-compressed (it lacks the gzip signature)")
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

    /// A gzipped tar of `entries` (name, content; a name ending in `/` is a folder), the
    /// names written as they are: the tar crate's own setter drops a leading `./`.
    fn tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (name, content) in entries {
            let mut header = tar::Header::new_ustar();
            let folder = name.ends_with('/');
            header.set_entry_type(if folder {
                tar::EntryType::Directory
            } else {
                tar::EntryType::Regular
            });
            header.set_mode(if folder { 0o755 } else { 0o644 });
            header.set_size(content.len() as u64);
            header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            header.set_cksum();
            builder.append(&header, *content).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    /// The entries of `package`'s archive.
    fn entries(package: &Package) -> Vec<(String, Vec<u8>)> {
        let bytes = write(package);
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        archive
            .entries()
            .unwrap()
            .map(|entry| {
                let mut entry = entry.unwrap();
                let mut content = Vec::new();
                entry.read_to_end(&mut content).unwrap();
                (entry.path().unwrap().display().to_string(), content)
            })
            .collect()
    }

    #[test]
    fn an_archive_repacked_with_dot_slash_entries_reads_as_the_same_package() {
        // What `tar -C unpacked -czf demo.dbpkg .` writes: `./`, folder entries, `./` names.
        let package = sample();
        let files = entries(&package);
        let names: Vec<String> = files.iter().map(|(name, _)| format!("./{name}")).collect();
        let mut repacked: Vec<(&str, &[u8])> =
            vec![("./", b""), ("./INSTALL/", b""), ("./ROLLBACK/", b"")];
        repacked.extend(
            names
                .iter()
                .zip(&files)
                .map(|(name, (_, content))| (name.as_str(), content.as_slice())),
        );
        let back = read(Path::new("demo.dbpkg"), &tarball(&repacked)).unwrap();
        assert_eq!(back, package);
    }

    #[test]
    fn a_dot_slash_entry_cannot_climb_out_or_hide_a_second_copy() {
        assert_eq!(
            entry_name(Path::new("./INSTALL/001.a.sql")).unwrap(),
            "INSTALL/001.a.sql"
        );
        assert_eq!(entry_name(Path::new("./")).unwrap(), "");
        assert_eq!(entry_name(Path::new("./../x.sql")), None);
        assert_eq!(entry_name(Path::new("/INSTALL/x.sql")), None);
        assert_eq!(entry_name(Path::new("INSTALL/../../x.sql")), None);
        // `./a` and `a` are one entry: the second is refused as a duplicate.
        let package = sample();
        let manifest = package.manifest_text().as_bytes();
        let bytes = tarball(&[("dbpm.toml", manifest), ("./dbpm.toml", manifest)]);
        let err = read(Path::new("demo.dbpkg"), &bytes).unwrap_err();
        assert!(
            matches!(&err, ArchiveError::Forbidden { entry, reason, .. } if entry == "./dbpm.toml" && reason.contains("twice")),
            "{err:?}"
        );
        // A regular file named `./` has no name in the package.
        let err = read(Path::new("demo.dbpkg"), &tarball(&[(".", b"x")])).unwrap_err();
        assert!(matches!(err, ArchiveError::Forbidden { .. }), "{err:?}");
    }

    #[test]
    fn folder_entries_count_as_entries_and_hold_nothing() {
        let names: Vec<String> = (0..=MAX_ENTRIES).map(|n| format!("d{n}/")).collect();
        let many: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b""[..])).collect();
        let err = read(Path::new("demo.dbpkg"), &tarball(&many)).unwrap_err();
        assert!(matches!(err, ArchiveError::TooLarge { .. }), "{err:?}");
        let err = read(Path::new("demo.dbpkg"), &tarball(&[("INSTALL/", b"x")])).unwrap_err();
        assert!(
            matches!(&err, ArchiveError::Forbidden { reason, .. } if reason.contains("folder")),
            "{err:?}"
        );
    }

    #[test]
    fn a_file_of_another_format_is_named_for_what_it_is() {
        let found = |bytes: &[u8]| match read(Path::new("demo.dbpkg"), bytes) {
            Err(ArchiveError::NotAnArchive { found, .. }) => found,
            other => panic!("not refused as another format: {other:?}"),
        };
        assert_eq!(
            found(b"PK\x03\x04\x14\x00rest of a zip"),
            "it is a zip file"
        );
        assert_eq!(found(b""), "the file is empty");
        assert_eq!(
            found(b"BZh91AY&SY"),
            "it is compressed with bzip2, not gzip"
        );
        let mut bare = Vec::new();
        tar::Builder::new(&mut bare)
            .append_data(&mut tar::Header::new_ustar(), "dbpm.toml", &b"x"[..])
            .unwrap();
        assert_eq!(found(&bare), "it is a tar file that is not gzip-compressed");
        assert_eq!(
            found(b"CREATE TABLE t (x int);"),
            "it is not gzip-compressed (it lacks the gzip signature)"
        );
    }

    #[test]
    fn a_truncated_archive_is_damaged() {
        let bytes = write(&sample());
        let err = read(Path::new("demo.dbpkg"), &bytes[..bytes.len() / 2]).unwrap_err();
        assert!(matches!(err, ArchiveError::Unreadable { .. }), "{err:?}");
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
