//! Files written so that a reader, a crash or a power loss sees either the old file or the
//! new one, never half of one: archives, a directory repository's index. Nothing here knows
//! what the bytes mean.

use std::path::Path;

/// Writes through a temporary file and a rename, so a reader never sees half a file, and a
/// crash or a power loss leaves either the old file or the new one. A link
/// (`plans/current.json`) is written through, not replaced by a file. What is no file (a
/// device such as `/dev/null`, a pipe), and whatever is there under `/dev` or `/proc`
/// (`/dev/stdout`, a redirected standard output), is written to as it is: a rename would
/// put a file in its place, or away from where the output goes.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Its own output streams by name: opened again, a redirected file would be written from
    // its start (`>>` appends).
    match path.to_str() {
        Some("/dev/stdout" | "/dev/fd/1" | "/proc/self/fd/1") => {
            return std::io::Write::write_all(&mut std::io::stdout().lock(), bytes);
        }
        Some("/dev/stderr" | "/dev/fd/2" | "/proc/self/fd/2") => {
            return std::io::Write::write_all(&mut std::io::stderr().lock(), bytes);
        }
        _ => {}
    }
    let special = (path.starts_with("/dev") || path.starts_with("/proc")) && path.exists();
    if special || fs_err::metadata(path).is_ok_and(|meta| !meta.is_file() && !meta.is_dir()) {
        let mut file = (fs_err::OpenOptions::new().write(true).truncate(true)).open(path)?;
        return std::io::Write::write_all(&mut file, bytes);
    }
    let real = match fs_err::canonicalize(path) {
        Ok(real) if path.is_symlink() => real,
        _ => path.to_path_buf(),
    };
    let path = real.as_path();
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = path.with_file_name(format!(".{file_name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut file = fs_err::File::create(&temp)?;
        std::io::Write::write_all(&mut file, bytes)?;
        // On disk before it takes the name: a power loss must not leave an empty file there.
        file.sync_all()?;
        fs_err::rename(&temp, path)
    };
    write().inspect_err(|_| {
        let _ = fs_err::remove_file(&temp);
    })?;
    // The rename itself is durable once the directory is; not every platform can sync one.
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(dir) = fs_err::File::open(parent) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    use std::os::unix::fs::FileTypeExt as _;

    use super::*;

    /// QA: as root, `--out /dev/null` replaced the device with a file, and `--out
    /// /dev/stdout` never reached the pipe. A pipe stands for both here: a test that wrote
    /// to the real `/dev/null` would replace it should this regress.
    #[cfg(unix)]
    #[test]
    fn what_is_no_file_is_written_to_not_replaced() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs_err::read_to_string(fifo).expect("reads"))
        };
        write_atomically(&fifo, b"plan").expect("writes");
        assert_eq!(reader.join().expect("reader"), "plan");
        assert!(fs_err::metadata(&fifo)
            .expect("there")
            .file_type()
            .is_fifo());
    }

    #[cfg(unix)]
    #[test]
    fn a_file_is_replaced_whole_and_a_link_is_written_through() {
        let dir = tempfile::tempdir().expect("temp dir");
        let plan = dir.path().join("2026.2.json");
        write_atomically(&plan, b"old").expect("writes");
        write_atomically(&plan, b"new").expect("writes");
        assert_eq!(fs_err::read_to_string(&plan).expect("reads"), "new");
        let link = dir.path().join("current.json");
        std::os::unix::fs::symlink(&plan, &link).expect("links");
        write_atomically(&link, b"through").expect("writes");
        assert!(link.is_symlink());
        assert_eq!(fs_err::read_to_string(&plan).expect("reads"), "through");
        let mut names: Vec<String> = fs_err::read_dir(dir.path())
            .expect("lists")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(names, ["2026.2.json", "current.json"]);
    }
}
