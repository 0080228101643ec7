//! `dbpm affected` over a git repository holding the example packages (committed, staged,
//! unstaged and untracked changes; files outside any package; git errors; invalid packages,
//! listed when affected and a warning otherwise), and
//! `dbpm init --next` making a version that builds, resolves and upgrades.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{repo_root, transcript, TestContext};

/// Copies the directory `from` into `to`, recursively.
fn copy_dir(from: &Path, to: &Path) {
    fs_err::create_dir_all(to).unwrap();
    for entry in fs_err::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs_err::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Runs git in `dir`, asserting that it succeeds.
fn git(dir: &Path, args: &[&str]) {
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.email=t@t",
            "-c",
            "user.name=t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A git repository whose first commit holds the examples under `packages/` and a README.
fn example_repository(ctx: &TestContext) -> PathBuf {
    let repo = ctx.path("repo");
    copy_dir(
        &repo_root().join("examples/packages"),
        &repo.join("packages"),
    );
    fs_err::write(repo.join("README.md"), "packages\n").unwrap();
    git(&repo, &["init", "--quiet"]);
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "--quiet", "-m", "examples"]);
    repo
}

/// Appends a line to a file.
fn touch(path: &Path) {
    let mut text = fs_err::read_to_string(path).unwrap();
    text.push_str("-- changed\n");
    fs_err::write(path, text).unwrap();
}

fn json(output: &Output) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The names of `affected`, in order.
fn names(value: &serde_json::Value) -> Vec<&str> {
    value["affected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect()
}

#[test]
fn a_committed_change_to_auth_lists_auth_then_billing_then_reporting() {
    let ctx = TestContext::new();
    let repo = example_repository(&ctx);
    touch(&repo.join("packages/auth/2.0.0/INSTALL/001.views.sql"));
    touch(&repo.join("README.md"));
    git(&repo, &["commit", "--quiet", "-am", "auth views"]);
    let root = repo.join("packages").display().to_string();

    let text = ctx.run(&["affected", "--since", "HEAD~1", "--root", &root]);
    insta::assert_snapshot!(transcript(&text, ctx.temp.path()), @r"
    exit: 0
    ----- stdout -----
    auth (changed)
    billing (requires auth)
    reporting (requires billing)
    ----- stderr -----
    note: 1 changed file outside any package, ignored:
      README.md
    ");

    let value = json(&ctx.run(&[
        "affected", "--since", "HEAD~1", "--root", &root, "--output", "json",
    ]));
    assert_eq!(value["changed"], serde_json::json!(["auth"]));
    assert_eq!(value["ignored"], serde_json::json!(["README.md"]));
    assert_eq!(names(&value), ["auth", "billing", "reporting"]);
    assert_eq!(
        value["affected"][0],
        serde_json::json!({
            "name": "auth",
            "versions": ["1.0.0", "2.0.0"],
            "reason": "changed",
            "changed_versions": ["2.0.0"],
        })
    );
    assert_eq!(
        value["affected"][1],
        serde_json::json!({
            "name": "billing",
            "versions": ["1.0.0", "1.1.0"],
            "reason": "requires",
            "requires": ["auth"],
        })
    );
    assert_eq!(
        value["affected"][2]["requires"],
        serde_json::json!(["billing"])
    );
}

#[test]
fn staged_unstaged_and_untracked_files_count_as_changed() {
    let ctx = TestContext::new();
    let repo = example_repository(&ctx);
    touch(&repo.join("packages/billing/1.0.0/INSTALL/001.invoice_view.sql"));
    fs_err::write(repo.join("packages/reporting/1.0.0/NOTES.md"), "notes\n").unwrap();
    touch(&repo.join("packages/core/1.1.0/VERIFY/001.tables_exist.sql"));
    git(&repo, &["add", "packages/core"]);

    let value = json(&ctx.run(&[
        "affected",
        "--since",
        "HEAD",
        "--root",
        repo.join("packages").to_str().unwrap(),
        "--output",
        "json",
    ]));
    assert_eq!(
        value["changed"],
        serde_json::json!(["core", "billing", "reporting"])
    );
    assert_eq!(names(&value), ["core", "auth", "billing", "reporting"]);
    assert_eq!(value["affected"][1]["reason"], "requires");
    assert_eq!(
        value["affected"][2]["changed_versions"],
        serde_json::json!(["1.0.0"])
    );
    assert_eq!(value["ignored"], serde_json::json!([]));
}

#[test]
fn nothing_changed_since_head_affects_nothing() {
    let ctx = TestContext::new();
    let repo = example_repository(&ctx);
    let output = ctx.run(&[
        "affected",
        "--since",
        "HEAD",
        "--root",
        repo.to_str().unwrap(),
    ]);
    insta::assert_snapshot!(transcript(&output, ctx.temp.path()), @r"
    exit: 0
    ----- stdout -----

    ----- stderr -----
    no package changed
    ");
}

#[test]
fn changed_files_in_core_list_core_and_every_dependent_in_order() {
    let ctx = TestContext::new();
    let output = ctx.run(&[
        "affected",
        "--root",
        "examples/packages",
        "--changed-files",
        "examples/packages/core/1.1.0/UPGRADE/001.customer_status.sql",
        "Cargo.toml",
    ]);
    insta::assert_snapshot!(transcript(&output, ctx.temp.path()));

    // One value may hold several files, one per line, as `git diff --name-only` prints them.
    let value = json(&ctx.run(&[
        "affected",
        "--root",
        "examples/packages",
        "--output",
        "json",
        "--changed-files",
        "examples/packages/reporting/1.0.0/dbpm.toml\nexamples/packages/auth/1.0.0/gone.sql\n",
    ]));
    assert_eq!(names(&value), ["auth", "billing", "reporting"]);
    assert_eq!(value["changed"], serde_json::json!(["auth", "reporting"]));
    assert_eq!(value["affected"][2]["reason"], "changed");
    assert_eq!(
        value["affected"][2]["requires"],
        serde_json::json!(["billing"])
    );
}

#[test]
fn since_outside_a_git_repository_is_refused() {
    let ctx = TestContext::new();
    copy_dir(
        &repo_root().join("examples/packages/core"),
        &ctx.path("tree/core"),
    );
    // Git must not find a repository above the temporary directory either.
    let output = ctx
        .dbpm()
        .env("GIT_CEILING_DIRECTORIES", ctx.temp.path())
        .args([
            "affected",
            "--since",
            "HEAD~1",
            "--root",
            ctx.path("tree").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    insta::assert_snapshot!(transcript(&output, ctx.temp.path()));
}

#[test]
fn an_unknown_revision_is_refused() {
    let ctx = TestContext::new();
    let repo = example_repository(&ctx);
    let output = ctx.run(&[
        "affected",
        "--since",
        "HEAD~1",
        "--root",
        repo.to_str().unwrap(),
    ]);
    insta::assert_snapshot!(transcript(&output, ctx.temp.path()));
}

#[test]
fn affected_needs_since_or_changed_files() {
    let ctx = TestContext::new();
    let output = ctx.run(&["affected", "--root", "examples/packages"]);
    assert_eq!(output.status.code(), Some(1));
    let output = ctx.run(&["affected", "--since", "HEAD", "--changed-files", "x"]);
    assert_eq!(output.status.code(), Some(1));
}

/// A copy of the examples under the test's `packages/`, with `core/1.0.0` invalid (an UPGRADE
/// script without its twin; the manifest still valid) and `billing/1.1.0` invalid (its
/// manifest is TOML but names no platform dbpm knows). Returns the root.
fn tree_with_invalid_packages(ctx: &TestContext) -> PathBuf {
    let tree = ctx.path("packages");
    copy_dir(&repo_root().join("examples/packages"), &tree);
    fs_err::write(
        tree.join("core/1.0.0/UPGRADE/009.orphan.sql"),
        "SELECT 1;\n",
    )
    .unwrap();
    let manifest = tree.join("billing/1.1.0/dbpm.toml");
    let text = fs_err::read_to_string(&manifest).unwrap();
    fs_err::write(&manifest, text.replace("\"sqlite\"]", "\"oracle\"]")).unwrap();
    tree
}

/// `dbpm affected` over the test's `packages/` with `files` changed (relative to it) and more
/// arguments, run in the test's directory so that paths read `packages/...`.
fn affected_in(ctx: &TestContext, files: &[&str], more: &[&str]) -> Output {
    let files: Vec<String> = files.iter().map(|f| format!("packages/{f}")).collect();
    ctx.dbpm()
        .current_dir(ctx.temp.path())
        .args(["affected", "--root", "packages"])
        .args(more)
        .arg("--changed-files")
        .args(&files)
        .output()
        .unwrap()
}

#[test]
fn an_invalid_package_the_change_does_not_touch_is_a_warning_not_a_failure() {
    let ctx = TestContext::new();
    tree_with_invalid_packages(&ctx);
    let output = affected_in(&ctx, &["reporting/1.0.0/INSTALL/001.revenue_view.sql"], &[]);
    insta::assert_snapshot!(transcript(&output, ctx.temp.path()));

    let value = json(&affected_in(
        &ctx,
        &["reporting/1.0.0/INSTALL/001.revenue_view.sql"],
        &["--output", "json"],
    ));
    assert_eq!(names(&value), ["reporting"]);
    assert!(value["affected"][0].get("invalid").is_none(), "{value}");
    let invalid = value["invalid"].as_array().unwrap();
    assert_eq!(invalid.len(), 2, "{value}");
    assert_eq!(invalid[0]["name"], "billing");
    assert_eq!(invalid[0]["version"], "1.1.0");
    assert_eq!(invalid[0]["affected"], false);
    assert_eq!(invalid[1]["name"], "core");
    assert_eq!(invalid[1]["affected"], false);
    let core_errors = invalid[1]["errors"].as_array().unwrap();
    assert_eq!(core_errors.len(), 1, "{value}");
    assert_eq!(
        core_errors[0],
        "packages/core/1.0.0/UPGRADE/009.orphan.sql: no compensating twin `DOWNGRADE/009.orphan`"
    );
}

#[test]
fn an_invalid_package_is_affected_by_its_own_files_and_by_its_prerequisites() {
    let ctx = TestContext::new();
    tree_with_invalid_packages(&ctx);

    // Its own file changed: listed, marked invalid, and its dependents follow.
    let value = json(&affected_in(
        &ctx,
        &["billing/1.1.0/dbpm.toml"],
        &["--output", "json"],
    ));
    assert_eq!(names(&value), ["billing", "reporting"]);
    assert_eq!(value["changed"], serde_json::json!(["billing"]));
    let billing = &value["affected"][0];
    assert_eq!(billing["reason"], "changed");
    assert_eq!(billing["changed_versions"], serde_json::json!(["1.1.0"]));
    assert_eq!(billing["versions"], serde_json::json!(["1.0.0", "1.1.0"]));
    assert_eq!(
        billing["invalid"],
        serde_json::json!(["packages/billing/1.1.0"])
    );
    assert_eq!(value["invalid"][0]["affected"], true);

    // A prerequisite its (invalid) manifest names changed: listed too, with that reason.
    let output = affected_in(&ctx, &["auth/2.0.0/INSTALL/001.views.sql"], &[]);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        stdout, "auth (changed)\nbilling (requires auth; invalid)\nreporting (requires billing)\n",
        "{text}"
    );
    assert!(
        text.contains("package `packages/billing/1.1.0` is invalid: it is listed as affected"),
        "{text}"
    );
    assert!(text.contains("unknown platform"), "{text}");
}

#[test]
fn an_invalid_package_whose_manifest_cannot_be_read_is_listed_under_its_directory() {
    let ctx = TestContext::new();
    let tree = ctx.path("packages");
    copy_dir(&repo_root().join("examples/packages"), &tree);
    fs_err::write(tree.join("reporting/1.0.0/dbpm.toml"), "[package\nname =").unwrap();

    // Touched: listed under its directory, for the build to fail on it.
    let value = json(&affected_in(
        &ctx,
        &["reporting/1.0.0/dbpm.toml"],
        &["--output", "json"],
    ));
    let dir = "packages/reporting/1.0.0";
    assert_eq!(names(&value), [dir]);
    assert_eq!(value["affected"][0]["reason"], "changed");
    assert_eq!(value["affected"][0]["invalid"], serde_json::json!([dir]));
    assert!(value["invalid"][0].get("name").is_none(), "{value}");
    assert_eq!(value["invalid"][0]["affected"], true);

    // Not touched: its prerequisites cannot be known, so a change to them leaves it out.
    let value = json(&affected_in(
        &ctx,
        &["billing/1.1.0/INSTALL/001.invoice_view.sql"],
        &["--output", "json"],
    ));
    assert_eq!(names(&value), ["billing"]);
    assert_eq!(value["invalid"][0]["affected"], false);
}

/// A source tree holding every version of core.
fn core_tree(ctx: &TestContext) -> PathBuf {
    let tree = ctx.path("packages");
    copy_dir(
        &repo_root().join("examples/packages/core"),
        &tree.join("core"),
    );
    tree
}

#[test]
fn init_next_makes_a_version_that_builds_and_upgrades_from_the_current_one() {
    let ctx = TestContext::new();
    let tree = core_tree(&ctx);
    let current = tree.join("core/1.2.0");
    let init = ctx.run(&["init", "--next", current.to_str().unwrap()]);
    insta::assert_snapshot!(transcript(&init, ctx.temp.path()));
    let next = tree.join("core/1.3.0");
    let manifest = fs_err::read_to_string(next.join("dbpm.toml")).unwrap();
    insta::assert_snapshot!("init_next_manifest", manifest);
    let parsed: toml::Value = toml::from_str(&manifest).unwrap();
    assert_eq!(parsed["package"]["version"].as_str(), Some("1.3.0"));
    assert_eq!(parsed["package"]["from"].as_str(), Some("1.2.0"));
    for file in [
        "INSTALL/001.views.sql",
        "ROLLBACK/001.views.sql",
        "VERIFY/001.tables_exist.sql",
    ] {
        assert_eq!(
            fs_err::read(current.join(file)).unwrap(),
            fs_err::read(next.join(file)).unwrap(),
            "{file} is copied as it is"
        );
    }
    assert!(!next.join("UPGRADE@1.0.0").exists());

    let build = ctx.run(&[
        "build",
        next.to_str().unwrap(),
        "--out-dir",
        ctx.path("dist").to_str().unwrap(),
    ]);
    assert_eq!(
        build.status.code(),
        Some(0),
        "{}",
        transcript(&build, ctx.temp.path())
    );

    let show = ctx.run(&[
        "repo",
        "show",
        "core@1.3.0",
        "--platform",
        "sqlite",
        "--repo",
        tree.to_str().unwrap(),
    ]);
    let shown = transcript(&show, ctx.temp.path());
    assert!(
        shown.contains("edge          1.2.0 → 1.3.0 (UPGRADE/, 1 upgrade script"),
        "{shown}"
    );

    // Installed at 1.2.0, a target upgrades to 1.3.0 through the new edge.
    let db = format!("sqlite://{}", ctx.path("target.db").display());
    let repo = tree.to_str().unwrap();
    for args in [&["install", "core@1.2.0"][..], &["upgrade", "core"][..]] {
        let mut all = args.to_vec();
        all.extend(["--db", &db, "--repo", repo, "--yes"]);
        let output = ctx.run(&all);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            transcript(&output, ctx.temp.path())
        );
    }
    let state = json(&ctx.run(&["state", "export", "--db", &db]));
    assert_eq!(state["packages"]["core"]["version"], "1.3.0");
}

#[test]
fn init_next_refuses_a_lower_version_and_an_existing_directory() {
    let ctx = TestContext::new();
    let tree = core_tree(&ctx);
    let current = tree.join("core/1.1.0");
    let lower = ctx.run(&[
        "init",
        "--next",
        current.to_str().unwrap(),
        "--version",
        "1.0.5",
    ]);
    insta::assert_snapshot!(
        "init_next_lower_version",
        transcript(&lower, ctx.temp.path())
    );
    let exists = ctx.run(&["init", "--next", current.to_str().unwrap()]);
    insta::assert_snapshot!(
        "init_next_existing_directory",
        transcript(&exists, ctx.temp.path())
    );
    let chosen = ctx.run(&[
        "init",
        "--next",
        current.to_str().unwrap(),
        "--version",
        "1.1.1",
    ]);
    assert_eq!(
        chosen.status.code(),
        Some(0),
        "{}",
        transcript(&chosen, ctx.temp.path())
    );
    assert!(tree.join("core/1.1.1/dbpm.toml").is_file());
}

/// Two directories that hold one package version (a copy, test fixtures) list that version
/// once (QA: `demo` listed `1.0.0` 21 times).
#[test]
fn a_version_held_by_two_directories_is_listed_once() {
    let ctx = TestContext::new();
    let root = example_repository(&ctx).join("packages");
    copy_dir(&root.join("core/1.0.0"), &root.join("copies/core/1.0.0"));
    let value = json(
        &ctx.dbpm()
            .current_dir(&root)
            .args(["affected", "--output", "json", "--changed-files"])
            .arg("core/1.0.0/dbpm.toml")
            .output()
            .unwrap(),
    );
    assert_eq!(value["affected"][0]["name"], "core");
    assert_eq!(
        value["affected"][0]["versions"],
        serde_json::json!(["1.0.0", "1.1.0", "1.2.0"])
    );
}
