//! Shared helpers of the integration tests: a temporary workspace per test, running the
//! `dbpm` binary, and a snapshot form of a run (exit code, stdout, stderr).

#![allow(dead_code, unused_macros, clippy::unwrap_used)]

pub mod db;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A test's own temporary directory and a way to run dbpm in the repository root.
pub struct TestContext {
    pub temp: tempfile::TempDir,
}

impl TestContext {
    pub fn new() -> Self {
        TestContext {
            temp: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// A path inside the test's temporary directory.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.temp.path().join(relative)
    }

    /// A `dbpm` command running in the repository root, with colour off.
    pub fn dbpm(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbpm"));
        cmd.current_dir(repo_root())
            .env("NO_COLOR", "1")
            .env_remove("DBPM_COLOR");
        cmd
    }

    /// Runs dbpm with `args` and returns the output.
    pub fn run(&self, args: &[&str]) -> Output {
        self.dbpm().args(args).output().expect("run dbpm")
    }

    /// Runs dbpm with `args` in the test's temporary directory, so that relative paths
    /// read from there.
    pub fn run_in_temp(&self, args: &[&str]) -> Output {
        self.dbpm()
            .current_dir(self.temp.path())
            .args(args)
            .output()
            .expect("run dbpm")
    }
}

/// The repository root (where Cargo.toml is).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The text of a run for a snapshot, with the temporary directory replaced by `[TEMP]`.
pub fn transcript(output: &Output, temp: &Path) -> String {
    let clean = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes).replace(&temp.display().to_string(), "[TEMP]")
    };
    format!(
        "exit: {}\n----- stdout -----\n{}\n----- stderr -----\n{}",
        output
            .status
            .code()
            .map_or("signal".to_owned(), |c| c.to_string()),
        clean(&output.stdout).trim_end(),
        clean(&output.stderr).trim_end()
    )
}

/// Every package source directory under `examples/packages` (NAME/VERSION).
pub fn example_packages() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    let root = repo_root().join("examples/packages");
    for name in fs_err::read_dir(&root).expect("examples/packages") {
        let name = name.expect("entry").path();
        for version in fs_err::read_dir(&name).expect("package dir") {
            let version = version.expect("entry").path();
            if version.join("dbpm.toml").exists() {
                dirs.push(version);
            }
        }
    }
    dirs.sort();
    dirs
}

/// One `#[tokio::test]` per platform for each `async fn check(Platform)`, named
/// `check::postgres`, `check::mysql` and `check::sqlite`; attributes before a name apply to
/// its three tests.
macro_rules! on_every_platform {
    ($($(#[$attr:meta])* $check:ident),* $(,)?) => {$(
        mod $check {
            use dbpm::platform::Platform;

            $(#[$attr])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$check(Platform::Postgres).await
            }

            $(#[$attr])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                super::$check(Platform::Mysql).await
            }

            $(#[$attr])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$check(Platform::Sqlite).await
            }
        }
    )*};
}

/// One `#[tokio::test]` per database server for each `async fn check(Platform)`, named
/// `check::postgres` and `check::mysql`: for what a SQLite file does not have (other
/// sessions' locks, admin connections).
macro_rules! on_both_servers {
    ($($(#[$attr:meta])* $check:ident),* $(,)?) => {$(
        mod $check {
            use dbpm::platform::Platform;

            $(#[$attr])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$check(Platform::Postgres).await
            }

            $(#[$attr])*
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn mysql() {
                super::$check(Platform::Mysql).await
            }
        }
    )*};
}
