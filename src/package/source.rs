//! Reading a package source directory into a [`FileTree`]: the manifest and the files of the
//! phase folders, with what cannot be a script (links, directories, unreadable entries)
//! reported as problems. Hidden entries (`.gitkeep`) and loose files at the top are ignored;
//! editor and file manager junk in a phase folder (module `junk`) is too, with a warning.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::diagnostic::Problem;
use crate::manifest::{LEGACY_MANIFEST_FILE, MANIFEST_FILE};

use super::junk;
use super::script::{Folder, FolderError, ScriptName};

/// The files of a package, by path relative to its root (`/`-separated), and where they came from.
#[derive(Debug, Clone, Default)]
pub struct FileTree {
    /// The package's location as the user named it: a directory or an archive.
    pub root: PathBuf,
    /// File contents by relative path.
    pub files: BTreeMap<String, Vec<u8>>,
    /// What could not be read as a file.
    pub problems: Vec<Problem>,
}

impl FileTree {
    /// The path to show for a file of the tree.
    pub fn display_path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }
}

/// Reads a package source directory.
pub fn read_dir(root: &Path) -> Result<FileTree, std::io::Error> {
    let mut tree = FileTree {
        root: root.to_path_buf(),
        ..FileTree::default()
    };
    for entry in sorted_entries(root)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let file_type = fs_err::symlink_metadata(&path)?.file_type();
        if name == MANIFEST_FILE || name == LEGACY_MANIFEST_FILE {
            if file_type.is_file() {
                tree.files.insert(name, fs_err::read(&path)?);
            } else {
                tree.problems
                    .push(not_a_file(&path, file_type.is_symlink()));
            }
        } else if file_type.is_dir() && Folder::parse(&name).is_err() && holds_archives_only(&path)?
        {
            // `dbpm build` run in the package writes its archives to `dist/` there.
            continue;
        } else if file_type.is_dir() || file_type.is_symlink() && path.is_dir() {
            // A linked directory is judged by its name as a directory is, then refused.
            match Folder::parse(&name) {
                Ok(_) if file_type.is_dir() => read_folder(&mut tree, &path, &name)?,
                Ok(_) => tree.problems.push(not_a_file(&path, true)),
                Err(err) => tree.problems.push(folder_problem(&path, &err)),
            }
        } else if file_type.is_symlink() && Folder::parse(&name).is_ok() {
            tree.problems.push(not_a_file(&path, true));
        }
    }
    Ok(tree)
}

/// Whether `dir` holds built archives (`.dbpkg` files) and nothing else but hidden files,
/// or nothing: what `dbpm build` writes (and what is left when they are deleted), no part
/// of the package.
fn holds_archives_only(dir: &Path) -> Result<bool, std::io::Error> {
    for entry in sorted_entries(dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let archive = name.ends_with(".dbpkg") && entry.file_type()?.is_file();
        if !(archive || name.starts_with('.')) {
            return Ok(false);
        }
    }
    Ok(true)
}

fn read_folder(tree: &mut FileTree, dir: &Path, folder: &str) -> Result<(), std::io::Error> {
    for entry in sorted_entries(dir)? {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        if let Some(kind) = junk::kind(&name) {
            tree.problems.push(
                Problem::error(
                    &path,
                    "dbpm::package::junk_file",
                    format!("{kind}, left out of the package"),
                )
                .with_help("dbpm never packs it; delete it, or have your editor keep such files elsewhere, to silence this warning")
                .warning(),
            );
            continue;
        }
        if let Some(hidden) = name.strip_prefix('.') {
            // Hidden files (`.gitkeep`) are not the package's; one named as a script is said
            // to be left out, or a script hidden by mistake would go missing unnoticed.
            if ScriptName::parse(hidden).is_ok() {
                tree.problems.push(
                    Problem::error(
                        &path,
                        "dbpm::package::hidden_script",
                        "a hidden file named as a script, left out of the package",
                    )
                    .with_help(format!(
                        "rename it `{hidden}` to make it a script of the package, or delete it"
                    ))
                    .warning(),
                );
            }
            continue;
        }
        let file_type = fs_err::symlink_metadata(&path)?.file_type();
        if file_type.is_file() {
            tree.files
                .insert(format!("{folder}/{name}"), fs_err::read(&path)?);
        } else {
            tree.problems
                .push(not_a_file(&path, file_type.is_symlink()));
        }
    }
    Ok(())
}

fn sorted_entries(dir: &Path) -> Result<Vec<fs_err::DirEntry>, std::io::Error> {
    let mut entries = fs_err::read_dir(dir)?.collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn not_a_file(path: &Path, link: bool) -> Problem {
    if link {
        Problem::error(
            path,
            "dbpm::package::link",
            "a symbolic link where a script should be",
        )
        .with_help("replace the link by a copy of the file: archives hold plain files only")
    } else {
        Problem::error(path, "dbpm::package::not_a_file", "not a regular file")
            .with_help("phase folders hold script files only, with no folders inside")
    }
}

/// The problem for a directory that is not a phase folder.
pub fn folder_problem(path: &Path, err: &FolderError) -> Problem {
    let problem = Problem::error(path, "dbpm::package::unknown_phase", err.to_string());
    match err {
        FolderError::Unknown {
            suggestion: Some(s), ..
        } => problem.with_help(format!("did you mean `{s}`?")),
        FolderError::Unknown { suggestion: None, .. } => problem.with_help(format!(
            "the phase folders are {}, with `@VERSION` or `@none` edges for UPGRADE and DOWNGRADE",
            Folder::NAMES.join(", ")
        )),
        FolderError::BadEdge { .. } => {
            problem.with_help("name edge folders `UPGRADE@1.0.0` / `DOWNGRADE@1.0.0` or `UPGRADE@none` / `DOWNGRADE@none`")
        }
    }
}
