//! `dbpm history` and `dbpm status` through the binary, after real applies on every platform:
//! what each run changed, what is installed and by which run, drift against a repository
//! whose content changed under an installed version, a run left unfinished by a crash, and a
//! malformed `--db` refused without showing its password.
//! Also: `completions` and `man`, an `Example:` in every command's `--help`, output to a
//! closed pipe or a full disk, and the commands of `docs/ci.md` run in order, so the
//! documented workflow keeps working.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::db::TestDb;
use common::{repo_root, transcript, TestContext};
use dbpm::platform::Platform;
use serde_json::Value;

on_every_platform!(
    history_and_status_follow_a_sequence_of_applies,
    a_target_dbpm_was_never_used_on_shows_no_runs_and_stays_untouched,
);

/// Runs dbpm in the repository root as user `tester`.
fn dbpm(ctx: &TestContext, args: &[&str]) -> Output {
    ctx.dbpm()
        .env("USER", "tester")
        .env_remove("DBPM_FAILPOINT")
        .args(args)
        .output()
        .unwrap()
}

/// Runs dbpm and expects exit 0; returns stdout.
fn ok(ctx: &TestContext, args: &[&str]) -> String {
    let output = dbpm(ctx, args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "dbpm {}\n{}",
        args.join(" "),
        transcript(&output, ctx.temp.path())
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The JSON a command prints with `--output json`.
fn json(ctx: &TestContext, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    serde_json::from_str(&ok(ctx, &all)).unwrap()
}

/// Plans `release` (a file of examples/releases) for the target and applies it.
fn plan_and_apply(ctx: &TestContext, url: &str, release: &str, repo: &str) {
    let plan = ctx.path(&format!("{release}.json"));
    let plan = plan.to_str().unwrap();
    let release = format!("examples/releases/{release}");
    ok(
        ctx,
        &[
            "plan",
            "--release",
            &release,
            "--repo",
            repo,
            "--db",
            url,
            "--out",
            plan,
        ],
    );
    ok(ctx, &["apply", plan, "--db", url]);
}

/// Run ids, times, durations, hashes and the target's URL replaced, for snapshots.
fn filters() -> Vec<(&'static str, &'static str)> {
    vec![
        (r"\d{8}T\d{6}-[0-9a-f]{8}", "[RUN]"),
        (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", "[TIME]"),
        (r"\b\d+\.\d s +", "[DURATION]  "),
        (r"\b[0-9a-f]{12}\b", "[HASH]"),
        (r"(sqlite|postgres|mysql)://[^`\s]+", "[TARGET]"),
        (r"[^`\s]*dbpm_t_[0-9a-f_]+\.db", "[FILE]"),
    ]
}

/// The text of a run for a snapshot, filtered.
fn snapshot(name: &str, output: &Output, temp: &Path) {
    insta::with_settings!({filters => filters()}, {
        insta::assert_snapshot!(name, transcript(output, temp));
    });
}

/// The versions installed, from `status --output json`.
fn versions(status: &Value) -> Vec<(String, String)> {
    status["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap().to_owned(),
                p["version"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

async fn history_and_status_follow_a_sequence_of_applies(platform: Platform) {
    let ctx = TestContext::new();
    let db = TestDb::new(platform);
    let url = db.url.as_str();
    plan_and_apply(&ctx, url, "2026.1.toml", "examples/packages");
    plan_and_apply(&ctx, url, "2026.2.toml", "examples/packages");

    let history = json(&ctx, &["history", "--db", url]);
    let runs = history["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2, "{history:#}");
    let (newest, oldest) = (&runs[0], &runs[1]);
    for run in runs {
        assert_eq!(run["outcome"], "completed");
        assert_eq!(run["unfinished"], false);
        assert_eq!(run["os_user"], "tester");
        assert!(run["plan_hash"].as_str().unwrap().starts_with("sha256:"));
        assert!(run["duration_ms"].as_u64().is_some(), "{run:#}");
        assert!(run["ended_at"].as_str().unwrap() >= run["started_at"].as_str().unwrap());
    }
    assert!(newest["started_at"].as_str() >= oldest["started_at"].as_str());
    assert_eq!(
        oldest["changes"],
        serde_json::json!([
            {"action": "install", "package": "auth", "version": "1.0.0"},
            {"action": "install", "package": "billing", "version": "1.0.0"},
            {"action": "install", "package": "core", "version": "1.1.0"},
        ])
    );
    assert_eq!(
        newest["changes"],
        serde_json::json!([
            {"action": "upgrade", "package": "auth", "from": "1.0.0", "to": "2.0.0"},
            {"action": "upgrade", "package": "billing", "from": "1.0.0", "to": "1.1.0"},
            {"action": "upgrade", "package": "core", "from": "1.1.0", "to": "1.2.0"},
            {"action": "install", "package": "reporting", "version": "1.0.0"},
        ])
    );

    let status = json(&ctx, &["status", "--db", url]);
    assert_eq!(status["never_used"], false);
    assert_eq!(status["unfinished"], Value::Null);
    assert_eq!(status["drift"], Value::Null);
    assert_eq!(
        versions(&status),
        pairs(&[
            ("auth", "2.0.0"),
            ("billing", "1.1.0"),
            ("core", "1.2.0"),
            ("reporting", "1.0.0")
        ])
    );
    for package in status["packages"].as_array().unwrap() {
        assert_eq!(package["run"], newest["id"]);
        assert_eq!(package["adopted"], false);
        assert!(package["installed_at"].as_str().is_some());
        assert!(package["checksum"].as_str().unwrap().starts_with("sha256:"));
    }
    let checked = json(
        &ctx,
        &["status", "--db", url, "--repo", "examples/packages"],
    );
    assert_eq!(checked["drift"], serde_json::json!([]));

    // The same words on every platform.
    snapshot(
        "history_after_two_releases",
        &dbpm(&ctx, &["history", "--db", url]),
        ctx.temp.path(),
    );
    snapshot(
        "status_after_two_releases",
        &dbpm(
            &ctx,
            &["status", "--db", url, "--repo", "examples/packages"],
        ),
        ctx.temp.path(),
    );
}

async fn a_target_dbpm_was_never_used_on_shows_no_runs_and_stays_untouched(platform: Platform) {
    let ctx = TestContext::new();
    let db = TestDb::new(platform);
    let url = db.url.as_str();
    let history = json(&ctx, &["history", "--db", url]);
    assert_eq!(history["runs"], serde_json::json!([]));
    let status = json(
        &ctx,
        &["status", "--db", url, "--repo", "examples/packages"],
    );
    assert_eq!(status["never_used"], true);
    assert_eq!(status["packages"], serde_json::json!([]));
    assert_eq!(status["drift"], serde_json::json!([]));
    // A SQLite file that is not there is named: it is often a mistyped path.
    assert_eq!(
        status["missing_file"].is_string(),
        platform == Platform::Sqlite,
        "{status}"
    );
    snapshot(
        "history_of_a_fresh_target",
        &dbpm(&ctx, &["history", "--db", url]),
        ctx.temp.path(),
    );
    snapshot(
        match platform {
            Platform::Sqlite => "status_of_a_missing_sqlite_file",
            Platform::Postgres | Platform::Mysql => "status_of_a_fresh_target",
        },
        &dbpm(&ctx, &["status", "--db", url]),
        ctx.temp.path(),
    );
    match platform {
        Platform::Sqlite => assert!(!db.sqlite_file().exists()),
        Platform::Postgres | Platform::Mysql => assert!(db.dbpm_tables().await.is_empty()),
    }
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

#[test]
fn drift_is_shown_when_the_repository_changed_under_an_installed_version() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let url = db.url.as_str();
    plan_and_apply(&ctx, url, "2026.1.toml", "examples/packages");

    // A copy of the packages where core 1.1.0 changed without a new version, and auth 1.0.0
    // is gone.
    let packages = ctx.path("packages");
    copy_tree(&repo_root().join("examples/packages"), &packages);
    let script = packages.join("core/1.1.0/INSTALL/001.views.sql");
    let text = fs_err::read_to_string(&script).unwrap();
    fs_err::write(
        &script,
        format!("{text}\n-- edited after it was installed\n"),
    )
    .unwrap();
    fs_err::remove_dir_all(packages.join("auth/1.0.0")).unwrap();
    let repo = packages.to_str().unwrap();

    let status = json(&ctx, &["status", "--db", url, "--repo", repo]);
    let drift = status["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 2, "{status:#}");
    assert_eq!(drift[0]["drift"], "missing");
    assert_eq!(drift[0]["package"], "auth");
    assert_eq!(drift[0]["version"], "1.0.0");
    assert_eq!(drift[1]["drift"], "changed");
    assert_eq!(drift[1]["package"], "core");
    assert_eq!(drift[1]["version"], "1.1.0");
    let core = status["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "core")
        .unwrap();
    assert_eq!(drift[1]["installed"], core["checksum"]);
    assert_ne!(drift[1]["repository"], core["checksum"]);
    // The files that differ are named, not only the two checksums.
    assert_eq!(
        drift[1]["files"],
        serde_json::json!({"changed": ["INSTALL/001.views.sql"], "added": [], "removed": []})
    );
    // And how they differ, from the text the target keeps (DESIGN §4).
    let diff = drift[1]["diff"].as_str().unwrap();
    assert!(
        diff.starts_with(
            "--- installed/INSTALL/001.views.sql\n+++ repository/INSTALL/001.views.sql\n@@"
        ),
        "{diff}"
    );
    assert!(
        diff.contains("\n+-- edited after it was installed\n"),
        "{diff}"
    );
    let shown = dbpm(&ctx, &["status", "--db", url, "--repo", repo]);
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("+-- edited after it was installed"),
        "{}",
        transcript(&shown, ctx.temp.path())
    );
    let changed = "`INSTALL/001.views.sql` changed";
    let verify = dbpm(&ctx, &["verify", "--db", url, "--repo", repo]);
    let text = transcript(&verify, ctx.temp.path());
    assert_eq!(verify.status.code(), Some(1), "{text}");
    assert!(text.contains("+-- edited after it was installed"), "{text}");
    assert!(
        text.lines()
            .any(|line| line.starts_with("FAIL core@1.1.0 checksum") && line.contains(changed)),
        "{text}"
    );
    let plan = dbpm(
        &ctx,
        &[
            "plan",
            "--release",
            "examples/releases/2026.1.toml",
            "--repo",
            repo,
            "--db",
            url,
        ],
    );
    let text = transcript(&plan, ctx.temp.path());
    assert_eq!(plan.status.code(), Some(1), "{text}");
    let flat = text
        .split_whitespace()
        .filter(|word| *word != "│")
        .collect::<Vec<_>>()
        .join(" ");
    assert!(flat.contains("dbpm::plan::drift"), "{text}");
    assert!(flat.contains(changed), "{text}");

    // The unchanged repository shows none.
    let clean = json(
        &ctx,
        &["status", "--db", url, "--repo", "examples/packages"],
    );
    assert_eq!(clean["drift"], serde_json::json!([]));

    snapshot(
        "status_with_drift",
        &dbpm(&ctx, &["status", "--db", url, "--repo", repo]),
        ctx.temp.path(),
    );
}

#[test]
fn a_rolled_back_run_is_in_the_history_and_changed_nothing() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let url = db.url.as_str();
    plan_and_apply(&ctx, url, "2026.1.toml", "examples/packages");

    // core 1.2.0 fails its VERIFY: the upgrade to 2026.2 rolls back.
    let packages = ctx.path("packages");
    copy_tree(&repo_root().join("examples/packages"), &packages);
    let verify = packages.join("core/1.2.0/VERIFY/001.tables_exist.sql");
    let text = fs_err::read_to_string(&verify).unwrap();
    fs_err::write(
        &verify,
        format!("{text}\nSELECT count(*) FROM no_such_table;\n"),
    )
    .unwrap();
    let plan = ctx.path("plan.json");
    let plan = plan.to_str().unwrap();
    ok(
        &ctx,
        &[
            "plan",
            "--release",
            "examples/releases/2026.2.toml",
            "--repo",
            packages.to_str().unwrap(),
            "--db",
            url,
            "--out",
            plan,
        ],
    );
    let failed = dbpm(&ctx, &["apply", plan, "--db", url]);
    assert_eq!(
        failed.status.code(),
        Some(5),
        "{}",
        transcript(&failed, ctx.temp.path())
    );

    let history = json(&ctx, &["history", "--db", url]);
    let newest = &history["runs"][0];
    assert_eq!(newest["outcome"], "rolled_back");
    assert_eq!(newest["unfinished"], false);
    assert_eq!(newest["changes"], serde_json::json!([]));
    assert!(newest["duration_ms"].as_u64().is_some());
    let status = json(&ctx, &["status", "--db", url]);
    assert_eq!(status["unfinished"], Value::Null);
    assert_eq!(
        versions(&status),
        pairs(&[("auth", "1.0.0"), ("billing", "1.0.0"), ("core", "1.1.0")])
    );
    snapshot(
        "history_with_a_rolled_back_run",
        &dbpm(&ctx, &["history", "--db", url]),
        ctx.temp.path(),
    );
}

/// A `--db` or `DBPM_DB` that is no usable URL (a password with an unencoded `/` or `?`, a
/// libpq key=value string, a scheme without its `//`) is refused, saying what is wrong,
/// without its password in the output.
#[test]
fn a_malformed_url_is_refused_without_showing_its_password() {
    let ctx = TestContext::new();
    for (url, secrets, says) in [
        (
            "postgres://app:pa/ss@127.0.0.1:5432/x",
            &["pa/ss", ":pa", "ss@"][..],
            "the password in `postgres://app:***@127.0.0.1:5432/x` must be percent-encoded: it holds a `/`",
        ),
        (
            "mysql://root:pa?ss@127.0.0.1:3306/x",
            &["pa?ss", ":pa", "ss@"][..],
            "the password in `mysql://root:***@127.0.0.1:3306/x` must be percent-encoded: it holds a `?`",
        ),
        (
            "host=127.0.0.1 user=app password=s3cret",
            &["s3cret"][..],
            "`host=127.0.0.1 user=app password=***` is a key=value connection string",
        ),
        (
            "postgres:/app:s3cret@127.0.0.1/x",
            &["s3cret"][..],
            "starts with `postgres:`, not `postgres://`",
        ),
    ] {
        for from_env in [false, true] {
            let mut cmd = ctx.dbpm();
            cmd.arg("status").env_remove("DBPM_FAILPOINT");
            if from_env {
                cmd.env("DBPM_DB", url);
            } else {
                cmd.args(["--db", url]).env_remove("DBPM_DB");
            }
            let output = cmd.output().unwrap();
            let text = transcript(&output, ctx.temp.path());
            assert_eq!(output.status.code(), Some(1), "{url}\n{text}");
            assert!(output.stdout.is_empty(), "{url}\n{text}");
            // The diagnostic may wrap a long line; compare with line breaks as spaces.
            let flat = text
                .split_whitespace()
                .filter(|word| *word != "│")
                .collect::<Vec<_>>()
                .join(" ");
            assert!(flat.contains(says), "{url}\n{text}");
            for secret in secrets {
                assert!(!text.contains(secret), "`{secret}` of {url}\n{text}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_run_is_shown_after_a_crash_and_gone_after_the_resume() {
    for platform in [Platform::Sqlite, Platform::Postgres, Platform::Mysql] {
        let ctx = TestContext::new();
        let db = TestDb::new(platform);
        let url = db.url.as_str();
        let plan = ctx.path("plan.json");
        let plan = plan.to_str().unwrap();
        ok(
            &ctx,
            &[
                "plan",
                "--release",
                "examples/releases/2026.1.toml",
                "--repo",
                "examples/packages",
                "--db",
                url,
                "--out",
                plan,
            ],
        );
        let crashed = ctx
            .dbpm()
            .env("USER", "tester")
            .env("DBPM_FAILPOINT", "kill-after:3")
            .args(["apply", plan, "--db", url])
            .output()
            .unwrap();
        assert_ne!(
            crashed.status.code(),
            Some(0),
            "{platform}: it was to crash"
        );

        let status = json(&ctx, &["status", "--db", url]);
        let run = &status["unfinished"];
        // Recorded as running, but nothing holds the run lock: interrupted.
        assert_eq!(run["outcome"], "running", "{platform}: {status:#}");
        assert_eq!(run["interrupted"], true, "{platform}: {status:#}");
        assert_eq!(run["next"], "resume");
        assert_eq!(run["os_user"], "tester");
        assert!(
            run["steps_done"].as_u64().unwrap() >= 3,
            "{platform}: {run:#}"
        );
        assert_eq!(run["compensations_done"], 0);
        assert_eq!(status["packages"], serde_json::json!([]));
        let history = json(&ctx, &["history", "--db", url]);
        assert_eq!(history["runs"][0]["id"], run["id"]);
        assert_eq!(history["runs"][0]["unfinished"], true);
        assert_eq!(history["runs"][0]["interrupted"], true);
        assert_eq!(history["runs"][0]["changes"], Value::Null);
        assert_eq!(history["runs"][0]["duration_ms"], Value::Null);
        if platform == Platform::Sqlite {
            snapshot(
                "status_with_an_unfinished_run",
                &dbpm(&ctx, &["status", "--db", url]),
                ctx.temp.path(),
            );
            snapshot(
                "history_with_an_unfinished_run",
                &dbpm(&ctx, &["history", "--db", url]),
                ctx.temp.path(),
            );
        }

        // Applying the same plan again resumes that run; then nothing is unfinished.
        ok(&ctx, &["apply", plan, "--db", url]);
        let status = json(&ctx, &["status", "--db", url]);
        assert_eq!(status["unfinished"], Value::Null);
        assert_eq!(status["packages"].as_array().unwrap().len(), 3);
        let history = json(&ctx, &["history", "--db", url]);
        let runs = history["runs"].as_array().unwrap();
        assert_eq!(runs.len(), 1, "{platform}: the resume is the same run");
        assert_eq!(runs[0]["id"], run["id"]);
        assert_eq!(runs[0]["outcome"], "completed");
        assert_eq!(runs[0]["interrupted"], false);
        assert_eq!(runs[0]["changes"].as_array().unwrap().len(), 3);
    }
}

/// The subcommands a `--help` lists under `Commands:`, without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| !line.trim().is_empty())
        .filter(|line| line.starts_with("  ") && !line.starts_with("    "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

#[test]
fn every_command_has_an_example_in_its_help() {
    let ctx = TestContext::new();
    let mut pending = vec![Vec::<String>::new()];
    let mut seen = 0;
    while let Some(path) = pending.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = ok(&ctx, &args);
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with("Example: dbpm")),
            "`dbpm {}` has no example:\n{help}",
            args.join(" ")
        );
        seen += 1;
        for name in subcommands(&help) {
            let mut next = path.clone();
            next.push(name);
            pending.push(next);
        }
    }
    // dbpm, its 12 commands, and the subcommands of `repo` and `state`.
    assert!(seen >= 16, "only {seen} commands found");
}

/// Output to a pipe whose reader is gone (`dbpm show plan.json | head -c 10`) ends quietly:
/// no panic, no exit 101. The pipe is closed before dbpm starts, so every write fails.
#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let ctx = TestContext::new();
    let closed_pipe = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        writer
    };
    // Data on stdout, the reader gone.
    let output = ctx
        .dbpm()
        .args(["show", "plans/upgrade.json", "--format", "json"])
        .stdout(closed_pipe())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");

    // `2>&1 | head`: a diagnostic to a closed stderr as well, and the command's own exit.
    let pipe = closed_pipe();
    let output = ctx
        .dbpm()
        .args(["show", "no-such-plan.json", "--output", "json"])
        .stderr(pipe.try_clone().unwrap())
        .stdout(pipe)
        .status()
        .unwrap();
    assert_eq!(output.code(), Some(1));
}

/// Data lost for another reason than a reader that left (here a full disk) fails the run,
/// saying so on stderr, instead of a panic.
#[test]
fn output_to_a_full_disk_fails_the_run() {
    let ctx = TestContext::new();
    let output = ctx
        .dbpm()
        .args(["show", "plans/upgrade.json", "--format", "json"])
        .stdout(fs_err::File::create("/dev/full").unwrap().into_parts().0)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("failed to write to stdout"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn completions_are_printed_for_every_shell() {
    let ctx = TestContext::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = ok(&ctx, &["completions", shell]);
        for word in ["history", "status", "apply", "--db"] {
            assert!(script.contains(word), "{shell}: no `{word}`");
        }
    }
    let wrong = dbpm(&ctx, &["completions", "tcsh"]);
    assert_eq!(wrong.status.code(), Some(1));
}

#[test]
fn man_pages_are_written_for_dbpm_and_each_command() {
    let ctx = TestContext::new();
    let dir = ctx.path("man");
    let listed = ok(&ctx, &["man", "--out-dir", dir.to_str().unwrap()]);
    for page in [
        "dbpm.1",
        "dbpm-plan.1",
        "dbpm-apply.1",
        "dbpm-status.1",
        "dbpm-history.1",
        "dbpm-repo.1",
        "dbpm-repo-list.1",
        "dbpm-state-export.1",
    ] {
        let path = dir.join(page);
        assert!(listed.contains(path.to_str().unwrap()), "{page} not listed");
        let text = fs_err::read_to_string(&path).unwrap();
        assert!(text.contains(".TH"), "{page}");
        assert!(text.contains("Example:"), "{page} has no example");
    }
    assert!(!dir.join("dbpm-help.1").exists());
}

/// The `dbpm` commands of `docs/ci.md`, in order: the indented shell lines of the prose, and
/// the `run:` lines of the workflow.
fn documented_commands(doc: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut fenced = false;
    for line in doc.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let command = if fenced {
            line.trim_start().strip_prefix("run: ")
        } else {
            line.strip_prefix("    ")
        };
        if let Some(command) = command.filter(|c| c.starts_with("dbpm ")) {
            commands.push(command.trim().to_owned());
        }
    }
    commands
}

#[test]
fn the_commands_of_the_ci_guide_run_in_order() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    // The layout the guide describes, from the examples.
    let work = ctx.path("work");
    copy_tree(
        &repo_root().join("examples/packages"),
        &work.join("packages"),
    );
    for dir in ["releases", "states", "plans"] {
        fs_err::create_dir_all(work.join(dir)).unwrap();
    }
    fs_err::copy(
        repo_root().join("examples/releases/2026.1.toml"),
        work.join("releases/prod.toml"),
    )
    .unwrap();
    let state = work.join("states/prod.json");
    ok(
        &ctx,
        &[
            "state",
            "export",
            "--db",
            &db.url,
            "--out",
            state.to_str().unwrap(),
        ],
    );

    let doc = fs_err::read_to_string(repo_root().join("docs/ci.md")).unwrap();
    let commands = documented_commands(&doc);
    let verbs: Vec<&str> = commands
        .iter()
        .map(|c| c.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(
        verbs,
        ["plan", "plan", "show", "apply", "history", "state"],
        "{commands:#?}"
    );
    let binary = env!("CARGO_BIN_EXE_dbpm");
    for command in &commands {
        let line = command.replace("${{ secrets.DB_URL }}", &db.url);
        assert!(
            !line.contains("${{"),
            "an expression the test does not know: {line}"
        );
        let line = format!("'{binary}'{}", &line["dbpm".len()..]);
        let output = Command::new("sh")
            .arg("-c")
            .arg(&line)
            .current_dir(&work)
            .env("NO_COLOR", "1")
            .env("USER", "tester")
            .env_remove("DBPM_COLOR")
            .env_remove("DBPM_DB")
            .env_remove("DBPM_REPO")
            .env_remove("DBPM_SCHEMA")
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{command}\n{}",
            transcript(&output, ctx.temp.path())
        );
    }

    let markdown = fs_err::read_to_string(work.join("plan.md")).unwrap();
    assert!(markdown.contains("core"), "{markdown}");
    let exported = fs_err::read_to_string(&state).unwrap();
    let exported: Value = serde_json::from_str(&exported).unwrap();
    assert_eq!(exported["packages"]["core"]["version"], "1.1.0");
}

/// QA: `show --format mermaid --output json` printed the plan's JSON, not the drawing asked
/// for; a rendering comes in a JSON document, and `--output json` alone is the plan.
#[test]
fn show_with_json_output_keeps_the_rendering_asked_for() {
    let ctx = TestContext::new();
    let shown = |args: &[&str]| -> serde_json::Value {
        let output = ctx.dbpm().args(args).output().unwrap();
        assert!(
            output.status.success(),
            "{}",
            transcript(&output, ctx.temp.path())
        );
        serde_json::from_slice(&output.stdout).unwrap()
    };
    let drawing = shown(&[
        "show",
        "plans/upgrade.json",
        "--format",
        "mermaid",
        "--output",
        "json",
    ]);
    assert_eq!(drawing["format"], "mermaid");
    assert!(
        drawing["text"].as_str().unwrap().starts_with("flowchart"),
        "{drawing}"
    );
    let plan = shown(&["show", "plans/upgrade.json", "--output", "json"]);
    assert!(plan["steps"].is_array());
}
