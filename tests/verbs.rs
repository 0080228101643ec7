//! The verbs that plan and apply in one command, through the binary, on SQLite and
//! PostgreSQL: install (also from a `.dbpkg`), refusals, uninstall with `--cascade`, upgrade,
//! undo and restore returning the schema to exactly what it was.

#![allow(clippy::unwrap_used)]

mod common;

use std::process::Output;

use common::db::TestDb;
use common::{repo_root, transcript, TestContext};
use dbpm::platform::Platform;

fn run(ctx: &TestContext, db: &TestDb, args: &[&str]) -> Output {
    let mut all: Vec<&str> = args.to_vec();
    all.extend(["--db", db.url.as_str()]);
    ctx.dbpm()
        .args(&all)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// `dbpm ARGS --db DB` that must exit with `code`; its transcript.
fn exits(ctx: &TestContext, db: &TestDb, args: &[&str], code: i32) -> String {
    let output = run(ctx, db, args);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(code), "{args:?}: {text}");
    text
}

/// `dbpm ARGS --db DB` that must exit 0; its transcript.
fn ok(ctx: &TestContext, db: &TestDb, args: &[&str]) -> String {
    exits(ctx, db, args, 0)
}

/// The user's schema (dbpm's own tables left out), normalised for comparison.
fn schema(db: &TestDb) -> String {
    match db.platform {
        Platform::Sqlite if !db.sqlite_file().exists() => String::new(),
        Platform::Sqlite => {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime
                .block_on(db.texts(
                    "SELECT type || ' ' || name || ': ' || COALESCE(sql, '') AS line FROM sqlite_master WHERE name NOT LIKE 'dbpm_%' AND name NOT LIKE 'sqlite_%' ORDER BY type, name",
                ))
                .join("\n")
        }
        Platform::Postgres => {
            let output = std::process::Command::new("pg_dump")
                .args([
                    "--schema-only",
                    "--no-owner",
                    "--no-privileges",
                    "--exclude-schema=dbpm",
                    "--dbname",
                    &db.url,
                ])
                .output()
                .unwrap();
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8_lossy(&output.stdout)
                .lines()
                .filter(|l| {
                    !l.starts_with("--")
                        && !l.starts_with("\\restrict")
                        && !l.starts_with("\\unrestrict")
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        Platform::Mysql => mysql_schema(db),
    }
}

fn installed(ctx: &TestContext, db: &TestDb) -> String {
    let output = run(ctx, db, &["state", "export"]);
    let state: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut versions: Vec<String> = state["packages"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, p)| format!("{name}@{}", p["version"].as_str().unwrap()))
        .collect();
    versions.sort();
    versions.join(" ")
}

const REPO: [&str; 2] = ["--repo", "examples/packages"];

/// A repository of one package, `NAME` 1.0.0 for `platform`, with `files` (path, text)
/// beside its manifest, in the test's directory: the `--repo` to install it from.
fn package_repo(ctx: &TestContext, name: &str, platform: &str, files: &[(&str, &str)]) -> String {
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"1.0.0\"\nplatforms = [\"{platform}\"]\n"
    );
    package_version(ctx, name, "1.0.0", &[("dbpm.toml", manifest.as_str())]);
    package_version(ctx, name, "1.0.0", files)
}

/// Writes `files` (path, text) into the source of `NAME` `VERSION` in the test's `packages`
/// directory, and returns that directory: the `--repo` to install from.
fn package_version(ctx: &TestContext, name: &str, version: &str, files: &[(&str, &str)]) -> String {
    let dir = ctx.path(&format!("packages/{name}/{version}"));
    for (path, text) in files {
        let path = dir.join(path);
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        fs_err::write(path, text).unwrap();
    }
    ctx.path("packages").display().to_string()
}

fn with_repo<'a>(args: &[&'a str]) -> Vec<&'a str> {
    let mut all = args.to_vec();
    all.extend(REPO);
    all
}

#[test]
fn the_everyday_verbs_round_trip() {
    for platform in Platform::ALL {
        let ctx = TestContext::new();
        let db = TestDb::new(platform);
        let empty = schema(&db);

        ok(
            &ctx,
            &db,
            &with_repo(&["install", "core@1.1.0", "auth@^1", "--yes"]),
        );
        assert_eq!(installed(&ctx, &db), "auth@1.0.0 core@1.1.0", "{platform}");
        let first = schema(&db);

        // The same request again changes nothing and says so.
        let again = ok(&ctx, &db, &with_repo(&["install", "core@1.1.0", "--yes"]));
        assert!(again.contains("nothing to install"), "{again}");

        // Without a terminal and without --yes, nothing is applied.
        let refused = run(&ctx, &db, &with_repo(&["install", "billing@1.0.0"]));
        assert_eq!(refused.status.code(), Some(1));
        assert!(transcript(&refused, ctx.temp.path()).contains("not applied"));
        assert_eq!(installed(&ctx, &db), "auth@1.0.0 core@1.1.0");

        // --plan-out writes the plan and applies nothing.
        let plan = ctx.path("billing.json").display().to_string();
        ok(
            &ctx,
            &db,
            &with_repo(&["install", "billing@1.0.0", "--plan-out", &plan]),
        );
        assert_eq!(installed(&ctx, &db), "auth@1.0.0 core@1.1.0");
        ok(&ctx, &db, &["apply", &plan]);
        assert_eq!(installed(&ctx, &db), "auth@1.0.0 billing@1.0.0 core@1.1.0");
        let before_upgrade = schema(&db);

        // An uninstall of a required package is refused, naming who requires it.
        let required = run(&ctx, &db, &["uninstall", "auth", "--yes"]);
        assert_eq!(required.status.code(), Some(1));
        let text = transcript(&required, ctx.temp.path());
        assert!(
            text.contains("cannot uninstall `auth`") && text.contains("`billing`"),
            "{text}"
        );

        // Upgrade everything, then undo: back to exactly the schema before the upgrade.
        ok(&ctx, &db, &with_repo(&["upgrade", "--yes"]));
        assert_eq!(
            installed(&ctx, &db),
            "auth@2.0.0 billing@1.1.0 core@1.2.0",
            "{platform}"
        );
        let upgraded = schema(&db);
        ok(&ctx, &db, &["undo", "--yes"]);
        assert_eq!(
            installed(&ctx, &db),
            "auth@1.0.0 billing@1.0.0 core@1.1.0",
            "{platform}"
        );
        assert_eq!(
            schema(&db),
            before_upgrade,
            "{platform}: undo after an upgrade"
        );

        // Restore the state right after the upgrade run, then right after the first run.
        let history = run(&ctx, &db, &["state", "export"]);
        assert!(history.status.success());
        let runs = runs_of(&db);
        let upgrade_run = runs.iter().rev().nth(1).unwrap().clone();
        ok(
            &ctx,
            &db,
            &with_repo(&["restore", "--to", &upgrade_run, "--yes"]),
        );
        assert_eq!(schema(&db), upgraded, "{platform}: restore across runs");
        ok(
            &ctx,
            &db,
            &with_repo(&["restore", "--to", &runs[0], "--yes"]),
        );
        assert_eq!(schema(&db), first, "{platform}: restore to the first run");

        // Uninstall everything with --cascade: an empty schema again.
        ok(
            &ctx,
            &db,
            &with_repo(&["uninstall", "core", "--cascade", "--yes"]),
        );
        assert_eq!(installed(&ctx, &db), "");
        assert_eq!(schema(&db), empty, "{platform}: uninstall");
    }
}

/// An installed package that a new one needs at a higher version moves up (DESIGN §3: an
/// installed prerequisite keeps its version while it satisfies every requirement); it was
/// pinned to its version, and installing the new package failed. It never moves down.
#[test]
fn an_installed_prerequisite_moves_up_for_a_package_that_needs_it() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    ok(&ctx, &db, &with_repo(&["install", "core@1.0.0", "--yes"]));
    let text = ok(&ctx, &db, &with_repo(&["install", "billing", "--yes"]));
    assert!(text.contains("required by"), "{text}");
    // The reasons speak of the request, not of a release file the user never wrote.
    assert!(text.contains("`dbpm install` asks for"), "{text}");
    assert!(!text.contains("the release"), "{text}");
    assert_eq!(
        installed(&ctx, &db),
        "auth@2.0.0 billing@1.1.0 core@1.2.0",
        "{text}"
    );
}

/// `install billing@1.0.0` (from the examples) killed after two steps: its run is left
/// unfinished on the target.
fn install_killed_after_two_steps(ctx: &TestContext, db: &TestDb) {
    let killed = ctx
        .dbpm()
        .args(with_repo(&[
            "install",
            "billing@1.0.0",
            "--yes",
            "--db",
            &db.url,
        ]))
        .env("DBPM_FAILPOINT", "kill-after:2")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        !killed.status.success(),
        "{}",
        transcript(&killed, ctx.temp.path())
    );
}

/// An interrupted verb resumes from the target alone: a verb writes no plan file, so the
/// target keeps the plan with the run, `status` and a refused verb say to run
/// `dbpm apply --resume`, and that finishes the run. Re-running the verb resumed only when
/// it planned the very same bytes again (same request, same repositories).
#[test]
fn an_interrupted_verb_resumes_with_the_plan_the_target_kept() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    install_killed_after_two_steps(&ctx, &db);
    let status = ok(&ctx, &db, &["status"]);
    assert!(
        status.contains("Run `dbpm apply --resume --db ...` to resume it"),
        "{status}"
    );
    let text = exits(
        &ctx,
        &db,
        &with_repo(&["install", "core@1.2.0", "--yes"]),
        1,
    );
    assert!(text.contains("dbpm apply --resume"), "{text}");
    // Its dbpm is gone: the run is said to be interrupted, not running.
    assert!(
        text.contains("dbpm::apply::other_run") && text.contains("target (interrupted)"),
        "{text}"
    );
    // A plan made meanwhile says that the unfinished run stands in its way.
    fs_err::write(ctx.path("core.toml"), "[packages]\ncore = \"1.2.0\"\n").unwrap();
    let release = ctx.path("core.toml").display().to_string();
    let plan = ok(&ctx, &db, &with_repo(&["plan", "--release", &release]));
    assert!(
        plan.contains("is unfinished on the target (interrupted)"),
        "{plan}"
    );
    ok(&ctx, &db, &["apply", "--resume"]);
    assert_eq!(installed(&ctx, &db), "auth@1.0.0 billing@1.0.0 core@1.2.0");
    let nothing = run(&ctx, &db, &["apply", "--resume"]);
    let text = transcript(&nothing, ctx.temp.path());
    assert_eq!(nothing.status.code(), Some(1), "{text}");
    assert!(text.contains("nothing to resume"), "{text}");
}

/// A run that an older dbpm started (state layout 4: no record of the apply that holds it)
/// resumes: the resuming apply claims it, and its transactional steps commit.
#[test]
fn a_run_with_no_recorded_owner_resumes() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    install_killed_after_two_steps(&ctx, &db);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let owners = db.state_table("run_owners");
    runtime.block_on(db.execute(&format!("DELETE FROM {owners}")));
    ok(&ctx, &db, &["apply", "--resume"]);
    assert_eq!(installed(&ctx, &db), "auth@1.0.0 billing@1.0.0 core@1.2.0");
    assert_eq!(runtime.block_on(db.count(&owners)), 1);
}

/// An uninstall that only the target's own copy could walk, blocked by an irreversible
/// script, names that script and what to do about it; it said "no path" and asked for a
/// repository, which could not help.
#[test]
fn an_uninstall_blocked_by_an_irreversible_script_names_it() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    package_version(
        &ctx,
        "irr",
        "1.0.0",
        &[
            (
                "dbpm.toml",
                "[package]\nname = \"irr\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n",
            ),
            (
                "UPGRADE/001.t.sql",
                "CREATE TABLE irr_t (a INTEGER, b INTEGER);\n",
            ),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS irr_t;\n"),
        ],
    );
    package_version(
        &ctx,
        "irr",
        "1.1.0",
        &[
            ("dbpm.toml", "[package]\nname = \"irr\"\nversion = \"1.1.0\"\nplatforms = [\"sqlite\"]\nfrom = \"1.0.0\"\n\n[scripts.\"UPGRADE/001.drop_b\"]\nirreversible = true\n"),
            ("UPGRADE/001.drop_b.sql", "ALTER TABLE irr_t DROP COLUMN b;\n"),
        ],
    );
    let repo = ctx.path("packages").display().to_string();
    ok(&ctx, &db, &["install", "irr", "--repo", &repo, "--yes"]);
    let text = exits(&ctx, &db, &["uninstall", "irr", "--yes"], 1);
    assert!(
        text.contains("irreversible") && text.contains("001.drop_b"),
        "{text}"
    );
    assert!(!text.contains("give `--repo`"), "{text}");
}

/// A run that fails after an irreversible step rolls back everything else, but cannot undo
/// that step: it says so and exits 6 (an operator must look), and the plan says beforehand
/// that irreversible steps stay. It claimed that the target was as before the run.
#[test]
fn a_rollback_past_an_irreversible_step_says_what_stays() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    package_version(
        &ctx,
        "k",
        "1.0.0",
        &[
            (
                "dbpm.toml",
                "[package]\nname = \"k\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n",
            ),
            (
                "UPGRADE/001.t.sql",
                "CREATE TABLE k_t (id INTEGER PRIMARY KEY);\nINSERT INTO k_t VALUES (1), (2);\n",
            ),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS k_t;\n"),
        ],
    );
    package_version(
        &ctx,
        "k",
        "1.1.0",
        &[
            ("dbpm.toml", "[package]\nname = \"k\"\nversion = \"1.1.0\"\nplatforms = [\"sqlite\"]\nfrom = \"1.0.0\"\n\n[scripts.\"UPGRADE/001.purge\"]\nirreversible = true\n"),
            ("UPGRADE/001.purge.sql", "DELETE FROM k_t WHERE id = 2;\n"),
            ("UPGRADE/002.fails.sql", "INSERT INTO k_t VALUES (1);\n"),
            ("DOWNGRADE/002.fails.sql", "SELECT 1;\n"),
        ],
    );
    let repo = ctx.path("packages").display().to_string();
    ok(&ctx, &db, &["install", "k@1.0.0", "--repo", &repo, "--yes"]);
    let text = exits(
        &ctx,
        &db,
        &["install", "k@1.1.0", "--repo", &repo, "--yes"],
        6,
    );
    assert!(
        text.contains("The irreversible step is not undone once it ran."),
        "{text}"
    );
    assert!(
        text.contains("except what the irreversible step k@1.1.0/UPGRADE@1.0.0/001.purge did"),
        "{text}"
    );
    assert_eq!(installed(&ctx, &db), "k@1.0.0");
}

/// `undo` after a reinstall with other placeholder values re-creates the code with the
/// values recorded before it: the version is the same, so it found nothing to do, and the
/// new values stayed.
#[test]
fn undo_of_a_reinstall_with_other_values_brings_the_old_values_back() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = package_version(
        &ctx,
        "rv",
        "1.0.0",
        &[
        ("dbpm.toml", "[package]\nname = \"rv\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n\n[placeholders]\ntag = { description = \"a tag\", default = \"A\" }\n"),
        ("INSTALL/001.v.sql", "CREATE VIEW rv_v AS SELECT '${tag}' AS tag;\n"),
        ("ROLLBACK/001.v.sql", "DROP VIEW IF EXISTS rv_v;\n"),
        ],
    );
    let tag = || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(db.texts("SELECT tag FROM rv_v"))
    };
    ok(&ctx, &db, &["install", "rv", "--repo", &repo, "--yes"]);
    assert_eq!(tag(), ["A"]);
    ok(
        &ctx,
        &db,
        &[
            "install",
            "rv",
            "--reinstall",
            "--set",
            "tag=B",
            "--repo",
            &repo,
            "--yes",
        ],
    );
    assert_eq!(tag(), ["B"]);
    let undone = ok(&ctx, &db, &["undo", "--yes"]);
    assert!(undone.contains("reinstall"), "{undone}");
    assert_eq!(tag(), ["A"]);
}

/// A placeholder value given at install is kept by a later upgrade that gives none: it
/// used to fall back to the declared default, silently.
#[test]
fn an_upgrade_keeps_the_placeholder_values_given_before() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    for (version, from) in [("1.0.0", ""), ("1.1.0", "from = \"1.0.0\"\n")] {
        let manifest = format!("[package]\nname = \"note\"\nversion = \"{version}\"\nplatforms = [\"sqlite\"]\n{from}\n[placeholders]\nnote = {{ description = \"a note\", default = \"default of {version}\" }}\n");
        package_version(
            &ctx,
            "note",
            version,
            &[
                ("dbpm.toml", manifest.as_str()),
                (
                    "INSTALL/001.v.sql",
                    "CREATE VIEW note_v AS SELECT '${note}' AS note;\n",
                ),
                ("ROLLBACK/001.v.sql", "DROP VIEW IF EXISTS note_v;\n"),
                ("UPGRADE/001.noop.sql", "SELECT 1;\n"),
                ("DOWNGRADE/001.noop.sql", "SELECT 1;\n"),
            ],
        );
    }
    let repo = ctx.path("packages").display().to_string();
    ok(
        &ctx,
        &db,
        &[
            "install",
            "note@1.0.0",
            "--set",
            "note=CUSTOM",
            "--repo",
            &repo,
            "--yes",
        ],
    );
    ok(&ctx, &db, &["upgrade", "--repo", &repo, "--yes"]);
    assert_eq!(installed(&ctx, &db), "note@1.1.0");
    let note = |db: &TestDb| {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(db.texts("SELECT note FROM note_v"))
    };
    assert_eq!(note(&db), ["CUSTOM"]);
    // A default was never given: the new version's default replaces the old one.
    let defaults = TestDb::sqlite();
    ok(
        &ctx,
        &defaults,
        &["install", "note@1.0.0", "--repo", &repo, "--yes"],
    );
    ok(&ctx, &defaults, &["upgrade", "--repo", &repo, "--yes"]);
    assert_eq!(note(&defaults), ["default of 1.1.0"]);
}

/// Two packages that declare the same placeholder with other defaults: the plan's
/// top-level values leave the name out (each package's record has its own), rather than show
/// one package's value as the one every script was resolved with.
#[test]
fn a_placeholder_resolved_differently_by_two_packages_stays_with_each() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    for name in ["pa", "pb"] {
        let manifest = format!("[package]\nname = \"{name}\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n\n[placeholders]\ncolor = {{ description = \"a colour\", default = \"{name} colour\" }}\nshape = {{ description = \"a shape\", default = \"round\" }}\n");
        package_version(
            &ctx,
            name,
            "1.0.0",
            &[
                ("dbpm.toml", manifest.as_str()),
                (
                    "INSTALL/001.v.sql",
                    &format!(
                        "CREATE VIEW {name}_v AS SELECT '${{color}}' AS c, '${{shape}}' AS s;\n"
                    ),
                ),
                (
                    "ROLLBACK/001.v.sql",
                    &format!("DROP VIEW IF EXISTS {name}_v;\n"),
                ),
            ],
        );
    }
    let repo = ctx.path("packages").display().to_string();
    let out = ctx.path("plan.json").display().to_string();
    ok(
        &ctx,
        &db,
        &["install", "pa", "pb", "--repo", &repo, "--plan-out", &out],
    );
    let plan: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(plan["placeholders"], serde_json::json!({"shape": "round"}));
    assert_eq!(plan["packages"]["pa"]["placeholders"]["color"], "pa colour");
    assert_eq!(plan["packages"]["pb"]["placeholders"]["color"], "pb colour");

    // `undo` gives each package its own recorded values back (they were merged into one
    // map, and one package got the other's).
    ok(&ctx, &db, &["apply", &out]);
    let colours = || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(db.texts("SELECT c FROM pa_v UNION ALL SELECT c FROM pb_v"))
    };
    assert_eq!(colours(), ["pa colour", "pb colour"]);
    ok(
        &ctx,
        &db,
        &[
            "install",
            "pa",
            "pb",
            "--reinstall",
            "--set",
            "color=grey",
            "--repo",
            &repo,
            "--yes",
        ],
    );
    assert_eq!(colours(), ["grey", "grey"]);
    ok(&ctx, &db, &["undo", "--yes"]);
    assert_eq!(colours(), ["pa colour", "pb colour"]);
}

/// The completed runs, oldest first.
fn runs_of(db: &TestDb) -> Vec<String> {
    let sql = match db.platform {
        Platform::Postgres => {
            "SELECT id FROM dbpm.runs WHERE outcome = 'completed' ORDER BY started_at, id"
        }
        _ => "SELECT id FROM dbpm_runs WHERE outcome = 'completed' ORDER BY started_at, id",
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.texts(sql))
}

#[test]
fn install_from_an_archive_file() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let dist = ctx.path("dist").display().to_string();
    let build = ctx.run(&["build", "examples/packages/core/1.0.0", "--out-dir", &dist]);
    assert!(build.status.success());
    let archive = ctx
        .path("dist/core-1.0.0-sqlite.dbpkg")
        .display()
        .to_string();
    ok(&ctx, &db, &["install", &archive, "--yes"]);
    assert_eq!(installed(&ctx, &db), "core@1.0.0");
    let reinstall = ok(&ctx, &db, &["install", &archive, "--reinstall", "--yes"]);
    assert!(reinstall.contains("reinstall"), "{reinstall}");
    assert_eq!(installed(&ctx, &db), "core@1.0.0");

    // QA: the build for another platform was "not in the repository (asked for by the
    // release)", with neither in the command.
    let mysql = ctx
        .path("dist/core-1.0.0-mysql.dbpkg")
        .display()
        .to_string();
    let text = exits(&ctx, &db, &["install", &mysql, "--yes"], 1);
    assert!(
        text.contains("dbpm::verb::archive_platform")
            && text
                .contains("`core-1.0.0-mysql.dbpkg` is built for mysql, and the target is sqlite")
            && text.contains("`core-1.0.0-sqlite.dbpkg`"),
        "{text}"
    );
}

#[test]
fn install_from_a_package_source_directory() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let text = ok(
        &ctx,
        &db,
        &["install", "examples/packages/core/1.0.0", "--yes"],
    );
    assert!(text.contains("completed"), "{text}");
    assert_eq!(installed(&ctx, &db), "core@1.0.0");
    // The same content as the built archive: installing that changes nothing.
    let dist = ctx.path("dist").display().to_string();
    let build = ctx.run(&["build", "examples/packages/core/1.0.0", "--out-dir", &dist]);
    assert!(build.status.success());
    let archive = ctx
        .path("dist/core-1.0.0-sqlite.dbpkg")
        .display()
        .to_string();
    let again = ok(&ctx, &db, &["install", &archive, "--yes"]);
    assert!(!again.contains("reinstall"), "{again}");
    // A name is a name, even where a folder bears it (a repository's own, here).
    let by_name = ctx
        .dbpm()
        .current_dir(repo_root().join("examples/packages"))
        .args([
            "install",
            "billing@1.0.0",
            "--repo",
            ".",
            "--yes",
            "--db",
            &db.url,
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = transcript(&by_name, ctx.temp.path());
    assert_eq!(by_name.status.code(), Some(0), "{text}");

    // A source that does not build is reported as `build` reports it; a path that is
    // nothing, as such (it was "not in the repository").
    package_version(
        &ctx,
        "broken",
        "1.0.0",
        &[(
            "dbpm.toml",
            "[package]\nname = \"broken\"\nversion = \"1.0\"\nplatforms = [\"sqlite\"]\n",
        )],
    );
    let broken = ctx.path("packages/broken/1.0.0").display().to_string();
    for (path, expected) in [
        (broken.as_str(), "dbpm::manifest::bad_version"),
        ("packages/missing/1.0.0", "dbpm::verb::no_such_package_file"),
    ] {
        let text = exits(&ctx, &db, &["install", path, "--yes"], 1);
        assert!(text.contains(expected), "{text}");
    }
    assert_eq!(installed(&ctx, &db), "auth@1.0.0 billing@1.0.0 core@1.2.0");
}

#[test]
fn adopt_checks_the_claim_and_verify_reports_failures() {
    for platform in [Platform::Sqlite, Platform::Postgres] {
        let ctx = TestContext::new();
        let managed = TestDb::new(platform);
        let legacy = TestDb::new(platform);
        ok(
            &ctx,
            &managed,
            &with_repo(&["install", "core@1.1.0", "--yes"]),
        );
        // A database built by hand to the same schema, unknown to dbpm.
        let rt = tokio::runtime::Runtime::new().unwrap();
        match platform {
            Platform::Sqlite => {
                let statements = rt.block_on(managed.texts(
                    "SELECT sql AS line FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'dbpm_%' AND name NOT LIKE 'sqlite_%' ORDER BY CASE type WHEN 'table' THEN 0 WHEN 'index' THEN 1 ELSE 2 END, rowid",
                ));
                rt.block_on(legacy.execute(&statements.join(";\n")));
            }
            _ => {
                let dump = std::process::Command::new("pg_dump")
                    .args([
                        "--schema-only",
                        "--no-owner",
                        "--no-privileges",
                        "--exclude-schema=dbpm",
                        "--dbname",
                        &managed.url,
                    ])
                    .output()
                    .unwrap();
                let load = std::process::Command::new("psql")
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--dbname", &legacy.url])
                    .stdin(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                use std::io::Write;
                load.stdin
                    .as_ref()
                    .unwrap()
                    .write_all(&dump.stdout)
                    .unwrap();
                assert!(load.wait_with_output().unwrap().status.success());
            }
        }
        // The wrong version is refused by its VERIFY scripts; the right one is adopted.
        let wrong = run(&ctx, &legacy, &with_repo(&["adopt", "core@1.2.0"]));
        assert_eq!(
            wrong.status.code(),
            Some(1),
            "{}",
            transcript(&wrong, ctx.temp.path())
        );
        assert!(transcript(&wrong, ctx.temp.path()).contains("the database is not `core@1.2.0`"));
        assert_eq!(installed(&ctx, &legacy), "");
        ok(&ctx, &legacy, &with_repo(&["adopt", "core@1.1.0"]));
        assert_eq!(installed(&ctx, &legacy), "core@1.1.0");
        ok(&ctx, &legacy, &with_repo(&["verify"]));
        // An adopted package is never undone: undo has no completed run to take back.
        assert_eq!(
            run(&ctx, &legacy, &["undo", "--yes"]).status.code(),
            Some(1)
        );
        // Drop what VERIFY checks: verify fails with a report.
        rt.block_on(legacy.execute("DROP VIEW core_active_customer_v"));
        let broken = run(&ctx, &legacy, &["verify"]);
        assert_eq!(broken.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&broken.stdout)
            .contains("FAIL core@1.1.0 VERIFY/001.tables_exist.sql"));
        // Then it upgrades like any installed package: the adoption is no unfinished run.
        ok(&ctx, &legacy, &with_repo(&["upgrade", "--yes"]));
        assert_eq!(installed(&ctx, &legacy), "core@1.2.0");
    }
}

/// An empty tenant schema is not a database that has the package, whatever `public` holds:
/// the claim's checks see the target schema alone. They passed on `public`'s tables, and an
/// uninstall in the tenant then dropped them.
#[test]
fn adopt_in_a_tenant_schema_checks_that_schema_alone() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    ok(&ctx, &db, &with_repo(&["install", "core@1.1.0", "--yes"]));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(db.execute("CREATE SCHEMA tenant2"));
    let claim = run(
        &ctx,
        &db,
        &with_repo(&["adopt", "core@1.1.0", "--schema", "tenant2"]),
    );
    let text = transcript(&claim, ctx.temp.path());
    assert_eq!(claim.status.code(), Some(1), "{text}");
    assert!(text.contains("the database is not `core@1.1.0`"), "{text}");
    let tenant = run(&ctx, &db, &["state", "export", "--schema", "tenant2"]);
    let state: serde_json::Value = serde_json::from_slice(&tenant.stdout).unwrap();
    assert_eq!(state["packages"], serde_json::json!({}));
}

/// A run left unfinished would count an adoption made meanwhile as one of its own changes,
/// and undo would uninstall what was adopted: adopt waits for the run to be finished.
#[test]
fn adopt_is_refused_while_a_run_is_unfinished() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let killed = ctx
        .dbpm()
        .args(with_repo(&[
            "install",
            "core@1.0.0",
            "--yes",
            "--db",
            &db.url,
        ]))
        .env("DBPM_FAILPOINT", "kill-after:1")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!killed.status.success());
    let adopt = run(&ctx, &db, &with_repo(&["adopt", "auth@1.0.0"]));
    let text = transcript(&adopt, ctx.temp.path());
    assert_eq!(adopt.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::adopt::unfinished_run"), "{text}");
    ok(&ctx, &db, &["apply", "--resume"]);
    assert_eq!(installed(&ctx, &db), "core@1.0.0");
}

/// QA: a PostgreSQL syntax error said `syntax error at or near "s"` and nothing of where:
/// hard to find in a long script. It says the line and column of the script, and the line,
/// in a transactional step and in one that runs outside a transaction.
#[test]
fn a_postgres_error_says_where_in_the_script_it_is() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let manifest =
        "[package]\nname = \"typo\"\nversion = \"1.0.0\"\nplatforms = [\"postgres\"]\n\n\
                    [scripts.\"UPGRADE/002.index\"]\ntransaction = false\n";
    let repo = package_version(
        &ctx,
        "typo",
        "1.0.0",
        &[
            ("dbpm.toml", manifest),
            (
                "UPGRADE/001.tables.sql",
                "CREATE TABLE typo_a (id INTEGER);\n\n-- the next one is wrong\nCREATE TABLE typo_b (id INTEGERR);\n",
            ),
            ("DOWNGRADE/001.tables.sql", "DROP TABLE IF EXISTS typo_b;\nDROP TABLE IF EXISTS typo_a;\n"),
            (
                "UPGRADE/002.index.sql",
                "CREATE INDEX CONCURRENTLY typo_i ON typo_a (id) WHER id > 0;\n",
            ),
            ("DOWNGRADE/002.index.sql", "DROP INDEX IF EXISTS typo_i;\n"),
        ],
    );
    let text = exits(&ctx, &db, &["install", "typo", "--yes", "--repo", &repo], 5);
    assert!(
        text.contains("at line 4, column 25 of the script: CREATE TABLE typo_b (id INTEGERR);"),
        "{text}"
    );
    let fixed = "CREATE TABLE typo_a (id INTEGER);\nCREATE TABLE typo_b (id INTEGER);\n";
    package_version(&ctx, "typo", "1.0.0", &[("UPGRADE/001.tables.sql", fixed)]);
    let text = exits(&ctx, &db, &["install", "typo", "--yes", "--repo", &repo], 5);
    assert!(
        text.contains("at line 1, column 49 of the script"),
        "{text}"
    );
}

/// QA: a failing statement was located on PostgreSQL only; MariaDB said "Column count
/// doesn't match value count at row 1" of a script of 4,000 statements (the row of the
/// statement, not of the script), SQLite only its message. They run a script statement by
/// statement, so the failing one is the one after those that completed: its line is said,
/// in a transactional step and in one that runs outside a transaction.
#[test]
fn a_mysql_or_sqlite_error_says_which_statement_failed() {
    for platform in [Platform::Mysql, Platform::Sqlite] {
        let ctx = TestContext::new();
        let db = TestDb::new(platform);
        let manifest = format!(
            "[package]\nname = \"rows\"\nversion = \"1.0.0\"\nplatforms = [\"{}\"]\n\n\
             [scripts.\"UPGRADE/003.more\"]\ntransaction = false\n",
            platform.as_str()
        );
        let rows = "INSERT INTO rows_a VALUES (1);\n-- the next one; is wrong\nINSERT INTO rows_a VALUES (2, 3);\n";
        let repo = package_version(
            &ctx,
            "rows",
            "1.0.0",
            &[
                ("dbpm.toml", &manifest),
                ("UPGRADE/001.table.sql", "CREATE TABLE rows_a (id INTEGER);\n"),
                ("DOWNGRADE/001.table.sql", "DROP TABLE rows_a;\n"),
                ("UPGRADE/002.rows.sql", rows),
                ("DOWNGRADE/002.rows.sql", "DELETE FROM rows_a;\n"),
                (
                    "UPGRADE/003.more.sql",
                    "INSERT INTO rows_a VALUES (4);\nINSERT INTO rows_a VALUES (5);\n\nINSERT INTO rows_a (nope) VALUES (6);\n",
                ),
                ("DOWNGRADE/003.more.sql", "DELETE FROM rows_a;\n"),
            ],
        );
        let install = ["install", "rows", "--yes", "--repo", repo.as_str()];
        let text = exits(&ctx, &db, &install, 5);
        assert!(
            text.contains(
                "in the statement at line 3 of the script: INSERT INTO rows_a VALUES (2, 3);"
            ),
            "{platform}: {text}"
        );
        let fixed = "INSERT INTO rows_a VALUES (1);\nINSERT INTO rows_a VALUES (2);\n";
        package_version(&ctx, "rows", "1.0.0", &[("UPGRADE/002.rows.sql", fixed)]);
        let text = exits(&ctx, &db, &install, 5);
        assert!(
            text.contains(
                "in the statement at line 4 of the script: INSERT INTO rows_a (nope) VALUES (6);"
            ),
            "{platform}: {text}"
        );
    }
}

/// A PostgreSQL error says what psql says beside its message: which key, what to do.
#[test]
fn a_postgres_error_keeps_its_detail_and_hint() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let repo = package_repo(
        &ctx,
        "dup",
        "postgres",
        &[
            (
                "UPGRADE/001.rows.sql",
                "CREATE TABLE dup_t (id INTEGER PRIMARY KEY);\nINSERT INTO dup_t VALUES (1);\nINSERT INTO dup_t VALUES (1);\n",
            ),
            ("DOWNGRADE/001.rows.sql", "DROP TABLE IF EXISTS dup_t;\n"),
        ],
    );
    let text = exits(&ctx, &db, &["install", "dup", "--yes", "--repo", &repo], 5);
    assert!(
        text.contains("DETAIL: Key (id)=(1) already exists."),
        "{text}"
    );
    let runs = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.texts("SELECT id FROM dbpm.runs"));
    let steps = ok(&ctx, &db, &["history", "--run", &runs[0]]);
    assert!(steps.contains("Key (id)=(1) already exists."), "{steps}");
}

/// A step outside a transaction that failed half-way, kept by `--on-failure stop`, is not
/// run again on top of its own half when the run resumes: it is in doubt. Its first
/// statement ran twice (`one` became `one++`).
#[test]
fn a_failed_step_outside_a_transaction_is_in_doubt_when_the_run_resumes() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let base = package_repo(
        &ctx,
        "base",
        "sqlite",
        &[
            (
                "UPGRADE/001.t.sql",
                "CREATE TABLE base_t (id INTEGER PRIMARY KEY, v TEXT);\nINSERT INTO base_t VALUES (1, 'one');\n",
            ),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS base_t;\n"),
        ],
    );
    ok(&ctx, &db, &["install", "base", "--yes", "--repo", &base]);
    let manifest = "[package]\nname = \"mig\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n\n[prerequisites]\nbase = \"^1\"\n\n[scripts.\"UPGRADE/001.mig\"]\ntransaction = false\n\n[scripts.\"DOWNGRADE/001.mig\"]\ntransaction = false\n";
    let repo = package_version(
        &ctx,
        "mig",
        "1.0.0",
        &[
            ("dbpm.toml", manifest),
            (
                "UPGRADE/001.mig.sql",
                "UPDATE base_t SET v = v || '+';\nINSERT INTO base_t SELECT 100 + x, 'gate' FROM gate;\n",
            ),
            (
                "DOWNGRADE/001.mig.sql",
                "DELETE FROM base_t WHERE id >= 100;\nUPDATE base_t SET v = rtrim(v, '+');\n",
            ),
        ],
    );
    let install = [
        "install",
        "mig",
        "--yes",
        "--repo",
        repo.as_str(),
        "--on-failure",
        "stop",
    ];
    let text = exits(&ctx, &db, &install, 6);
    assert!(text.contains("in doubt"), "{text}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(db.execute("CREATE TABLE gate (x INTEGER); INSERT INTO gate VALUES (1)"));
    let text = exits(&ctx, &db, &["apply", "--resume", "--on-failure", "stop"], 6);
    assert!(text.contains("--retry-in-doubt"), "{text}");
    let values = || runtime.block_on(db.texts("SELECT v AS line FROM base_t ORDER BY id"));
    assert_eq!(values(), ["one+"]);
    // The operator finishes the script's work by hand, then resumes past it.
    runtime.block_on(db.execute("INSERT INTO base_t SELECT 100 + x, 'gate' FROM gate"));
    ok(&ctx, &db, &["apply", "--resume", "--skip-in-doubt"]);
    assert_eq!(values(), ["one+", "gate"]);
    // The operator's decision is in the run's history.
    let run = runtime
        .block_on(db.texts("SELECT id AS line FROM dbpm_runs ORDER BY started_at DESC, id DESC"))
        [0]
    .clone();
    let history = ok(&ctx, &db, &["history", "--run", &run]);
    assert!(
        history.contains("declared done by the operator"),
        "{history}"
    );
    assert_eq!(installed(&ctx, &db), "base@1.0.0 mig@1.0.0");
}

/// A baseline generated from one PostgreSQL schema installs into another: pg_dump qualifies
/// every name with its schema, which put a tenant's objects in `public`.
#[test]
fn a_generated_postgres_baseline_installs_into_another_schema() {
    let ctx = TestContext::new();
    let source = TestDb::postgres();
    let copy = TestDb::postgres();
    ok(
        &ctx,
        &source,
        &with_repo(&["install", "billing@1.1.0", "--yes"]),
    );
    let dir = ctx.path("generated/legacy/1.0.0").display().to_string();
    ok(&ctx, &source, &["adopt", "--generate", &dir]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(copy.execute("CREATE SCHEMA tenant1"));
    let tree = ctx.path("generated").display().to_string();
    let into_tenant = ["--repo", tree.as_str(), "--yes", "--schema", "tenant1"];
    ok(
        &ctx,
        &copy,
        &[&["install", "legacy"][..], &into_tenant].concat(),
    );
    let tables = |schema: &str| {
        runtime.block_on(copy.texts(&format!(
            "SELECT count(*)::text AS line FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'v', 'S')"
        )))
    };
    assert_eq!(tables("public"), ["0"]);
    assert_ne!(tables("tenant1"), ["0"]);
    ok(
        &ctx,
        &copy,
        &[&["uninstall", "legacy"][..], &into_tenant].concat(),
    );
    assert_eq!(tables("tenant1"), ["0"]);
}

/// A baseline generated by `adopt --generate` from a PostgreSQL database set up with
/// `setup`, as package `legacy` of a source tree, and an empty database to install it in.
struct PostgresBaseline {
    ctx: TestContext,
    copy: TestDb,
    runtime: tokio::runtime::Runtime,
    /// The package version's directory.
    dir: std::path::PathBuf,
    _source: TestDb,
}

impl PostgresBaseline {
    fn generated(setup: &str) -> PostgresBaseline {
        let ctx = TestContext::new();
        let source = TestDb::postgres();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(source.execute(setup));
        let dir = ctx.path("generated/legacy/1.0.0");
        ok(
            &ctx,
            &source,
            &["adopt", "--generate", &dir.display().to_string()],
        );
        PostgresBaseline {
            ctx,
            copy: TestDb::postgres(),
            runtime,
            dir,
            _source: source,
        }
    }

    /// `dbpm VERB legacy` on the empty database, from the generated tree; it must succeed.
    fn run(&self, verb: &str) {
        let tree = self.ctx.path("generated").display().to_string();
        ok(
            &self.ctx,
            &self.copy,
            &[verb, "legacy", "--repo", &tree, "--yes"],
        );
    }

    /// The `line` column of `sql`'s rows on the database installed to.
    fn texts(&self, sql: &str) -> Vec<String> {
        self.runtime.block_on(self.copy.texts(sql))
    }
}

/// A baseline of a schema holding an extension (pgcrypto in `public`, as most databases
/// have one) creates the extension and leaves its objects to it: its DOWNGRADE dropped the
/// extension's functions one by one, which PostgreSQL refuses ("extension pgcrypto requires
/// it"), so the generated package could never be uninstalled, and pg_dump's schema dump has
/// no `CREATE EXTENSION`, so its defaults could not be created on a fresh database.
#[test]
fn a_generated_postgres_baseline_leaves_extension_objects_to_their_extension() {
    let baseline = PostgresBaseline::generated(
        "CREATE EXTENSION IF NOT EXISTS pgcrypto; CREATE TABLE token (id int PRIMARY KEY, secret text DEFAULT encode(gen_random_bytes(8), 'hex')); CREATE FUNCTION token_hash(t text) RETURNS text LANGUAGE sql AS $$ SELECT encode(digest(t, 'sha256'), 'hex') $$",
    );
    let downgrade = fs_err::read_to_string(baseline.dir.join("DOWNGRADE/001.schema.sql")).unwrap();
    assert!(downgrade.contains("token_hash(text)"), "{downgrade}");
    assert!(!downgrade.contains("digest("), "{downgrade}");
    baseline.run("install");
    assert_eq!(
        baseline.texts("WITH t AS (INSERT INTO token (id) VALUES (1) RETURNING secret) SELECT length(secret) || ' ' || length(token_hash('a')) AS line FROM t"),
        ["16 64"]
    );
    baseline.run("uninstall");
    assert_eq!(
        baseline.texts("SELECT count(*)::text AS line FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relname = 'token'"),
        ["0"]
    );
}

/// A baseline of a schema with a procedure and an aggregate uninstalls: its DOWNGRADE said
/// `DROP FUNCTION` for every routine, which PostgreSQL refuses for both ("is not a
/// function", "is an aggregate function").
#[test]
fn a_generated_postgres_baseline_drops_procedures_and_aggregates() {
    let baseline = PostgresBaseline::generated(
        "CREATE TABLE hits (n int); CREATE PROCEDURE add_hit(n int) LANGUAGE plpgsql AS $$ BEGIN INSERT INTO hits VALUES (n); END $$; CREATE AGGREGATE total(int) (sfunc = int4pl, stype = int)",
    );
    baseline.run("install");
    baseline.run("uninstall");
    assert_eq!(
        baseline.texts("SELECT count(*)::text AS line FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"),
        ["0"]
    );
}

/// A baseline of a schema with a `LANGUAGE sql` function that reads a table installs:
/// pg_dump writes functions before tables and restores them with `check_function_bodies`
/// off, a setting the baseline lost, so the function's body failed ("relation does not
/// exist").
#[test]
fn a_generated_postgres_baseline_creates_sql_functions_before_their_tables() {
    let baseline = PostgresBaseline::generated(
        "CREATE TABLE hits (n int); CREATE FUNCTION hit_count() RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM hits $$",
    );
    baseline.run("install");
    assert_eq!(baseline.texts("SELECT hit_count()::text AS line"), ["0"]);
}

/// A baseline of a schema with a sequence of its own (no column owns it) drops it again:
/// its DOWNGRADE left it behind, so installing the baseline again after an uninstall failed
/// ("relation already exists").
#[test]
fn a_generated_postgres_baseline_drops_its_standalone_sequences() {
    let baseline = PostgresBaseline::generated(
        "CREATE SEQUENCE invoice_no START 1000; CREATE TABLE invoice (no bigint DEFAULT nextval('invoice_no'), id serial PRIMARY KEY)",
    );
    baseline.run("install");
    baseline.run("uninstall");
    assert_eq!(
        baseline.texts("SELECT count(*)::text AS line FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"),
        ["0"]
    );
    baseline.run("install");
}

/// A baseline of a schema with its own collation and text search configuration and
/// dictionary drops them again: its DOWNGRADE left them behind, so installing the baseline
/// again after an uninstall failed ("already exists").
#[test]
fn a_generated_postgres_baseline_drops_collations_and_text_search_objects() {
    let baseline = PostgresBaseline::generated(
        "CREATE COLLATION nocase (provider = icu, locale = 'und-u-ks-level2', deterministic = false); CREATE TEXT SEARCH DICTIONARY my_stem (TEMPLATE = snowball, LANGUAGE = english); CREATE TEXT SEARCH CONFIGURATION my_fts (COPY = english); ALTER TEXT SEARCH CONFIGURATION my_fts ALTER MAPPING FOR word WITH my_stem; CREATE TABLE doc (title text COLLATE nocase)",
    );
    baseline.run("install");
    baseline.run("uninstall");
    baseline.run("install");
}

/// A legacy package directory for another platform is refused with advice about its own
/// manifest: the help sent its users to `platforms` in a dbpm.toml it does not have.
#[test]
fn a_legacy_source_for_another_platform_points_at_its_manifest_dpm() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    package_version(
        &ctx,
        "abc",
        "2.3.0",
        &[
            (
                "manifest.dpm",
                "{ name: 'abc', platform: 'mysql', version: { major: 2, minor: 3 } }",
            ),
            ("UPGRADE/001.t.sql", "CREATE TABLE abc_t (id INT);\n"),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS abc_t;\n"),
        ],
    );
    let dir = ctx.path("packages/abc/2.3.0").display().to_string();
    let text = exits(&ctx, &db, &["install", &dir, "--yes"], 1);
    // The help wraps where the terminal width says.
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(text.contains("lists mysql, not sqlite"), "{text}");
    assert!(text.contains("in its manifest.dpm once"), "{text}");
    assert!(!text.contains("dbpm.toml once"), "{text}");
}

/// Ctrl-C while SQLite runs the last steps as one transaction: they finish together, and
/// the run says why it completed anyway; every step says it was committed with the others.
#[test]
fn ctrl_c_during_the_last_sqlite_batch_says_it_finished() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = package_repo(
        &ctx,
        "slow",
        "sqlite",
        &[
            (
                "UPGRADE/001.a.sql",
                "CREATE TABLE slow_a (x INTEGER);\nWITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000000) SELECT count(*) FROM c;\n",
            ),
            ("DOWNGRADE/001.a.sql", "DROP TABLE IF EXISTS slow_a;\n"),
            ("UPGRADE/002.b.sql", "CREATE TABLE slow_b (x INTEGER);\n"),
            ("DOWNGRADE/002.b.sql", "DROP TABLE IF EXISTS slow_b;\n"),
        ],
    );
    let child = ctx
        .dbpm()
        .args(["install", "slow", "--yes", "--repo", &repo, "--db", &db.url])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lock = db.sqlite_file().into_os_string();
    lock.push(".dbpm-lock");
    while !std::path::Path::new(&lock).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("steps committed together)"), "{text}");
    assert!(text.contains("nothing was left to stop"), "{text}");
    assert_eq!(installed(&ctx, &db), "slow@1.0.0");
}

/// A table named as its schema makes `billing.id` a column as well as a name of the schema:
/// the baseline keeps the schema in its names then, and still installs (it read
/// `FROM billing JOIN x ON x.bid = id`, an ambiguous column).
#[test]
fn a_baseline_of_a_schema_with_a_table_of_its_name_keeps_its_qualifiers() {
    let ctx = TestContext::new();
    let source = TestDb::postgres();
    let copy = TestDb::postgres();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(source.execute(
        "CREATE SCHEMA billing; CREATE TABLE billing.billing (id int PRIMARY KEY); CREATE TABLE billing.x (id int, bid int); CREATE VIEW billing.v AS SELECT billing.id, x.id AS xid FROM billing.billing JOIN billing.x ON x.bid = billing.id",
    ));
    let dir = ctx.path("generated/legacy/1.0.0").display().to_string();
    ok(
        &ctx,
        &source,
        &["adopt", "--generate", &dir, "--schema", "billing"],
    );
    runtime.block_on(copy.execute("CREATE SCHEMA billing"));
    let tree = ctx.path("generated").display().to_string();
    ok(
        &ctx,
        &copy,
        &[
            "install", "legacy", "--repo", &tree, "--yes", "--schema", "billing",
        ],
    );
    assert_eq!(
        runtime.block_on(copy.texts("SELECT count(*)::text AS line FROM billing.v")),
        ["0"]
    );
}

/// A deferred constraint that a script breaks fails the script, with the server's detail,
/// and the run rolls back: it failed the commit that carries the journal entry, which was
/// the target's failure, and every resume failed again.
#[test]
fn a_broken_deferred_constraint_fails_its_step() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let repo = package_repo(
        &ctx,
        "defer",
        "postgres",
        &[
            (
                "UPGRADE/001.rows.sql",
                "CREATE TABLE defer_parent (id INTEGER PRIMARY KEY);\nCREATE TABLE defer_child (parent INTEGER REFERENCES defer_parent DEFERRABLE INITIALLY DEFERRED);\nINSERT INTO defer_child VALUES (42);\n",
            ),
            (
                "DOWNGRADE/001.rows.sql",
                "DROP TABLE IF EXISTS defer_child;\nDROP TABLE IF EXISTS defer_parent;\n",
            ),
        ],
    );
    let text = exits(
        &ctx,
        &db,
        &["install", "defer", "--yes", "--repo", &repo],
        5,
    );
    assert!(text.contains("Key (parent)=(42) is not present"), "{text}");
    assert_eq!(installed(&ctx, &db), "");
}

/// The packet check weighs every text the state will keep, not only the steps' scripts: a
/// large baseline edge that the upgrade does not walk is recorded with the version all the
/// same, and failed after every step had run.
#[test]
fn a_mysql_text_kept_but_not_run_larger_than_a_packet_is_refused_first() {
    let ctx = TestContext::new();
    let db = TestDb::mysql();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let limit: usize = runtime
        .block_on(db.texts("SELECT CAST(@@max_allowed_packet AS CHAR) AS line"))[0]
        .parse()
        .unwrap();
    let manifest = |version: &str, from: &str| {
        format!(
            "[package]\nname = \"big\"\nversion = \"{version}\"\nplatforms = [\"mysql\"]\n{from}"
        )
    };
    let table = "CREATE TABLE big_t (id INTEGER);\n";
    let drop = "DROP TABLE IF EXISTS big_t;\n";
    let v1 = manifest("1.0.0", "");
    let repo = package_version(
        &ctx,
        "big",
        "1.0.0",
        &[
            ("dbpm.toml", v1.as_str()),
            ("UPGRADE/001.t.sql", table),
            ("DOWNGRADE/001.t.sql", drop),
        ],
    );
    ok(
        &ctx,
        &db,
        &["install", "big@1.0.0", "--yes", "--repo", &repo],
    );
    let mut baseline = String::from(table);
    while baseline.len() <= limit {
        baseline.push_str("-- a long comment of the squashed history of big, line after line\n");
    }
    let v2 = manifest("1.1.0", "from = \"1.0.0\"\n");
    package_version(
        &ctx,
        "big",
        "1.1.0",
        &[
            ("dbpm.toml", v2.as_str()),
            (
                "UPGRADE/001.u.sql",
                "ALTER TABLE big_t ADD COLUMN v INTEGER;\n",
            ),
            ("DOWNGRADE/001.u.sql", "ALTER TABLE big_t DROP COLUMN v;\n"),
            ("UPGRADE@none/001.t.sql", baseline.as_str()),
            ("DOWNGRADE@none/001.t.sql", drop),
        ],
    );
    // A plan file: no plan is kept with the run, which would be larger still.
    fs_err::write(ctx.path("big.toml"), "[packages]\nbig = \"1.1.0\"\n").unwrap();
    let release = ctx.path("big.toml").display().to_string();
    let plan = ctx.path("big.json").display().to_string();
    ok(
        &ctx,
        &db,
        &[
            "plan",
            "--release",
            &release,
            "--repo",
            &repo,
            "--out",
            &plan,
        ],
    );
    let text = exits(&ctx, &db, &["apply", &plan], 1);
    assert!(text.contains("dbpm::apply::packet_too_large"), "{text}");
    assert!(
        text.contains("`UPGRADE@none/001.t.sql` of big@1.1.0"),
        "{text}"
    );
    assert_eq!(installed(&ctx, &db), "big@1.0.0");
}

/// Makes auth 1.0.0's tables, rows and views by hand on SQLite `db` (as a database dbpm did
/// not make), then adopts auth 1.0.0 there.
fn adopt_auth_made_by_hand(ctx: &TestContext, db: &TestDb, runtime: &tokio::runtime::Runtime) {
    make_auth_by_hand(db, runtime);
    ok(ctx, db, &with_repo(&["adopt", "auth@1.0.0"]));
}

/// What auth 1.0.0's scripts make, made by hand on SQLite `db`.
fn make_auth_by_hand(db: &TestDb, runtime: &tokio::runtime::Runtime) {
    let auth = repo_root().join("examples/packages/auth/1.0.0");
    let made_by_hand: String = [
        "UPGRADE/001.tables.sqlite.sql",
        "UPGRADE/002.seed_roles.sql",
        "INSTALL/001.views.sql",
    ]
    .iter()
    .map(|script| fs_err::read_to_string(auth.join(script)).unwrap())
    .collect::<Vec<_>>()
    .join("\n");
    runtime.block_on(db.execute(&made_by_hand));
}

/// The `ledger` package in the test's `packages`: 1.0.0 declares `prefix` (default `plain`)
/// and names a table with it; 1.1.0 declares nothing; 1.2.0 declares `prefix` again, with
/// the default `fresh`. Returns the `--repo`.
fn ledger_repo(ctx: &TestContext) -> String {
    let manifest = |version: &str, from: &str, default: Option<&str>| {
        let placeholders = default.map_or(String::new(), |default| {
            format!("\n[placeholders]\nprefix = {{ description = \"table prefix\", default = \"{default}\" }}\n")
        });
        format!(
            "[package]\nname = \"ledger\"\nversion = \"{version}\"\nplatforms = [\"sqlite\"]\n{from}{placeholders}"
        )
    };
    let table = |name: &str| {
        (
            format!("CREATE TABLE {name} (id INTEGER);\n"),
            format!("DROP TABLE IF EXISTS {name};\n"),
        )
    };
    let versions = [
        ("1.0.0", "", Some("plain"), "${prefix}_entries"),
        ("1.1.0", "from = \"1.0.0\"\n", None, "audit"),
        (
            "1.2.0",
            "from = \"1.1.0\"\n",
            Some("fresh"),
            "${prefix}_more",
        ),
    ];
    let mut repo = String::new();
    for (version, from, default, name) in versions {
        let (up, down) = table(name);
        repo = package_version(
            ctx,
            "ledger",
            version,
            &[
                ("dbpm.toml", manifest(version, from, default).as_str()),
                ("UPGRADE/001.table.sql", up.as_str()),
                ("DOWNGRADE/001.table.sql", down.as_str()),
            ],
        );
    }
    repo
}

/// `dbpm VERB ARGS --repo REPO --yes` on `db`, which must exit 0.
fn verb_ok(ctx: &TestContext, db: &TestDb, repo: &str, args: &[&str]) -> String {
    let mut all = args.to_vec();
    all.extend(["--repo", repo, "--yes"]);
    ok(ctx, db, &all)
}

/// QA: a value that only a version walked through used (the version installed no longer
/// declares it) was lost: the uninstall, and `undo` of it, walked that version with its
/// default, and dropped and made other tables than the install had. The runs' records of
/// walked versions keep their values, and walking back through them uses those.
#[test]
fn walking_back_through_old_versions_uses_the_values_they_ran_with() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = ledger_repo(&ctx);
    verb_ok(
        &ctx,
        &db,
        &repo,
        &["install", "ledger@1.1.0", "--set", "prefix=custom"],
    );
    let installed_schema = schema(&db);
    assert!(
        installed_schema.contains("custom_entries"),
        "{installed_schema}"
    );
    verb_ok(&ctx, &db, &repo, &["uninstall", "ledger"]);
    assert_eq!(schema(&db), "");
    verb_ok(&ctx, &db, &repo, &["undo"]);
    assert_eq!(schema(&db), installed_schema);
}

/// Review: a fresh install after an uninstall took the value an earlier run had been given
/// (a plan from `--db` then differed from one from an exported state). Only walking down, or
/// going back with `undo` and `restore`, uses the values old versions ran with.
#[test]
fn a_fresh_install_after_an_uninstall_uses_the_defaults() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = ledger_repo(&ctx);
    verb_ok(
        &ctx,
        &db,
        &repo,
        &["install", "ledger@1.1.0", "--set", "prefix=custom"],
    );
    verb_ok(&ctx, &db, &repo, &["uninstall", "ledger"]);
    verb_ok(&ctx, &db, &repo, &["install", "ledger@1.1.0"]);
    let installed = schema(&db);
    assert!(installed.contains("plain_entries"), "{installed}");
    assert!(!installed.contains("custom_entries"), "{installed}");
}

/// A walked version's default is not a value given: a newer version's default replaces it,
/// as it replaces an installed version's default.
#[test]
fn a_newer_default_replaces_the_default_an_old_version_walked_with() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = ledger_repo(&ctx);
    verb_ok(&ctx, &db, &repo, &["install", "ledger@1.1.0"]);
    verb_ok(&ctx, &db, &repo, &["upgrade", "ledger"]);
    let upgraded = schema(&db);
    assert!(upgraded.contains("plain_entries"), "{upgraded}");
    assert!(upgraded.contains("fresh_more"), "{upgraded}");
}

/// QA: a value given for an installed package that stays at its version was ignored without
/// a word (the plan had nothing to do). Its code is now re-created with the value, as a
/// reinstall the plan shows; a value its data model used is refused, as for `--reinstall`.
#[test]
fn a_new_value_for_an_installed_package_re_creates_its_code() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let manifest = "[package]\nname = \"greeter\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n\n\
                    [placeholders]\ngreeting = { description = \"what the view says\", default = \"hello\" }\n\
                    table = { description = \"the table\", default = \"visits\" }\n";
    let repo = package_version(
        &ctx,
        "greeter",
        "1.0.0",
        &[
            ("dbpm.toml", manifest),
            (
                "UPGRADE/001.table.sql",
                "CREATE TABLE ${table} (id INTEGER);\n",
            ),
            (
                "DOWNGRADE/001.table.sql",
                "DROP TABLE IF EXISTS ${table};\n",
            ),
            (
                "INSTALL/001.view.sql",
                "CREATE VIEW greeting AS SELECT '${greeting}' AS said;\n",
            ),
            ("ROLLBACK/001.view.sql", "DROP VIEW IF EXISTS greeting;\n"),
        ],
    );
    verb_ok(&ctx, &db, &repo, &["install", "greeter"]);
    let said = || {
        tokio::runtime::Runtime::new()
            .unwrap()
            .block_on(db.texts("SELECT said FROM greeting"))
    };
    assert_eq!(said(), ["hello"]);

    let text = verb_ok(
        &ctx,
        &db,
        &repo,
        &["install", "greeter", "--set", "greeting=bye"],
    );
    assert!(text.contains("`greeting` from `hello` to `bye`"), "{text}");
    assert_eq!(said(), ["bye"]);
    let again = verb_ok(
        &ctx,
        &db,
        &repo,
        &["install", "greeter", "--set", "greeting=bye"],
    );
    assert!(again.contains("nothing to install"), "{again}");

    let mut args = vec!["install", "greeter", "--set", "table=calls", "--repo"];
    args.extend([repo.as_str(), "--yes"]);
    let text = exits(&ctx, &db, &args, 1);
    assert!(text.contains("dbpm::plan::data_model_value"), "{text}");
}

/// Review: an adoption whose state write failed left its run `running`, and every later
/// apply was refused for that unfinished run, which nothing could resume. The run is now
/// written with the state, or not at all.
#[test]
fn a_failed_adoption_leaves_no_unfinished_run() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    ok(&ctx, &db, &with_repo(&["install", "core@1.0.0", "--yes"]));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(db.execute(
        "CREATE TRIGGER refuse_records BEFORE INSERT ON dbpm_installed_packages \
         BEGIN SELECT RAISE(ABORT, 'disk full'); END;",
    ));
    make_auth_by_hand(&db, &runtime);
    let text = exits(&ctx, &db, &with_repo(&["adopt", "auth@1.0.0"]), 1);
    assert!(text.contains("disk full"), "{text}");
    let unfinished =
        runtime.block_on(db.texts("SELECT id FROM dbpm_runs WHERE outcome <> 'completed'"));
    assert_eq!(unfinished, Vec::<String>::new());

    runtime.block_on(db.execute("DROP TRIGGER refuse_records;"));
    ok(&ctx, &db, &with_repo(&["adopt", "auth@1.0.0"]));
    ok(&ctx, &db, &with_repo(&["install", "core@1.0.0", "--yes"]));
    assert_eq!(installed(&ctx, &db), "auth@1.0.0 core@1.0.0");
}

/// QA: a package whose INSTALL script is irreversible (no ROLLBACK twin; every such script
/// of a seed-format package) was uninstalled with its code left behind, and the plan did not
/// say so. The uninstall's reason names the scripts whose code stays.
#[test]
fn an_uninstall_says_which_irreversible_code_stays() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = package_version(
        &ctx,
        "kept",
        "1.0.0",
        &[
            (
                "dbpm.toml",
                "[package]\nname = \"kept\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n\n\
                 [scripts.\"INSTALL/001.v\"]\nirreversible = true\n",
            ),
            ("UPGRADE/001.t.sql", "CREATE TABLE kept_t (id INTEGER);\n"),
            ("DOWNGRADE/001.t.sql", "DROP TABLE kept_t;\n"),
            (
                "INSTALL/001.v.sql",
                "CREATE VIEW kept_v AS SELECT 1 AS one;\n",
            ),
        ],
    );
    ok(&ctx, &db, &["install", "kept", "--yes", "--repo", &repo]);
    let text = ok(&ctx, &db, &["uninstall", "kept", "--yes", "--repo", &repo]);
    assert!(
        text.contains(
            "the code of its irreversible `INSTALL/001.v.sql` stays (it has no ROLLBACK twin)"
        ),
        "{text}"
    );
    assert_eq!(installed(&ctx, &db), "");
}

/// QA: a version without VERIFY scripts was adopted into an empty database: nothing checked
/// the claim, and its upgrades would then run against tables that are not there. It is
/// refused, with nothing recorded, unless the claim is recorded `--unverified`, which says so.
#[test]
fn a_version_without_verify_scripts_is_adopted_only_unverified() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = package_version(
        &ctx,
        "ledger",
        "1.0.0",
        &[
            (
                "dbpm.toml",
                "[package]\nname = \"ledger\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n",
            ),
            (
                "UPGRADE/001.entries.sql",
                "CREATE TABLE entries (id INTEGER);\n",
            ),
            ("DOWNGRADE/001.entries.sql", "DROP TABLE entries;\n"),
        ],
    );
    let adopt = ["adopt", "ledger@1.0.0", "--repo", repo.as_str()];
    let text = exits(&ctx, &db, &adopt, 1);
    assert!(text.contains("dbpm::adopt::unverifiable"), "{text}");
    assert!(text.contains("--unverified"), "{text}");
    assert_eq!(installed(&ctx, &db), "");

    let mut unverified = adopt.to_vec();
    unverified.push("--unverified");
    let text = ok(&ctx, &db, &unverified);
    assert!(
        text.contains("unchecked: it has no VERIFY script"),
        "{text}"
    );
    assert_eq!(installed(&ctx, &db), "ledger@1.0.0");
}

/// QA: `undo` of a run went back to the set before it, which lacked a package adopted since,
/// and uninstalled it: its DOWNGRADE dropped tables and rows dbpm never made. An adopted
/// package stays; here it requires what the run installed, so the undo is refused.
#[test]
fn undo_never_uninstalls_a_package_adopted_since() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    ok(&ctx, &db, &with_repo(&["install", "core@1.0.0", "--yes"]));
    let runtime = tokio::runtime::Runtime::new().unwrap();
    adopt_auth_made_by_hand(&ctx, &db, &runtime);
    let roles =
        || runtime.block_on(db.texts("SELECT CAST(count(*) AS TEXT) AS line FROM auth_role"));
    let before = roles();
    let text = exits(&ctx, &db, &with_repo(&["undo", "--yes"]), 1);
    assert!(text.contains("dbpm::verb::adopted_requires"), "{text}");
    assert_eq!(roles(), before);
    assert_eq!(installed(&ctx, &db), "auth@1.0.0 core@1.0.0");
}

/// Review: an adopted package lost its protection once a run upgraded it (that cleared its
/// flag), and `restore` to a point before the adoption uninstalled it. It goes back to the
/// version it was adopted at, never below.
#[test]
fn restore_before_an_adoption_keeps_the_adopted_version() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    ok(&ctx, &db, &with_repo(&["install", "core@1.1.0", "--yes"]));
    let first = runs_of(&db)[0].clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    adopt_auth_made_by_hand(&ctx, &db, &runtime);
    ok(&ctx, &db, &with_repo(&["install", "auth@2.0.0", "--yes"]));
    assert_eq!(installed(&ctx, &db), "auth@2.0.0 core@1.1.0");
    ok(&ctx, &db, &with_repo(&["restore", "--to", &first, "--yes"]));
    assert_eq!(installed(&ctx, &db), "auth@1.0.0 core@1.1.0");
    assert_eq!(
        runtime.block_on(db.texts("SELECT CAST(count(*) AS TEXT) AS line FROM auth_role")),
        ["2"]
    );
}

/// An adoption that a later run uninstalled is over: the package installed again since is
/// dbpm's own, and going back before the adoption uninstalls it.
#[test]
fn restore_forgets_an_adoption_that_was_uninstalled_since() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    ok(&ctx, &db, &with_repo(&["install", "core@1.1.0", "--yes"]));
    let first = runs_of(&db)[0].clone();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    adopt_auth_made_by_hand(&ctx, &db, &runtime);
    ok(&ctx, &db, &with_repo(&["uninstall", "auth", "--yes"]));
    ok(&ctx, &db, &with_repo(&["install", "auth@1.0.0", "--yes"]));
    ok(&ctx, &db, &with_repo(&["restore", "--to", &first, "--yes"]));
    assert_eq!(installed(&ctx, &db), "core@1.1.0");
}

/// QA: a reinstall with another value of a placeholder that an UPGRADE script used re-ran
/// only the code, and the target then recorded a value its tables were not made with.
#[test]
fn a_reinstall_cannot_change_a_value_the_data_model_used() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    ok(
        &ctx,
        &db,
        &with_repo(&["install", "billing@1.1.0", "--set", "currency=USD", "--yes"]),
    );
    let reinstall = [
        "install",
        "billing@1.1.0",
        "--reinstall",
        "--set",
        "currency=GBP",
        "--yes",
    ];
    let text = exits(&ctx, &db, &with_repo(&reinstall), 1);
    assert!(text.contains("dbpm::plan::data_model_value"), "{text}");
    assert!(
        text.contains("`UPGRADE/001.invoice_currency.sqlite.sql`"),
        "{text}"
    );
    // The same value re-creates the code as before.
    ok(
        &ctx,
        &db,
        &with_repo(&[
            "install",
            "billing@1.1.0",
            "--reinstall",
            "--set",
            "currency=USD",
            "--yes",
        ]),
    );
}

/// QA: a plan with nothing to do, applied, recorded a run that changed nothing, and `undo`
/// then said "nothing to undo" for ever. Undo takes back the last run that changed something.
#[test]
fn undo_looks_past_runs_that_changed_nothing() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    ok(&ctx, &db, &with_repo(&["install", "core@1.1.0", "--yes"]));
    fs_err::write(ctx.path("core.toml"), "[packages]\ncore = \"1.1.0\"\n").unwrap();
    let release = ctx.path("core.toml").display().to_string();
    let plan = ctx.path("noop.json").display().to_string();
    ok(
        &ctx,
        &db,
        &with_repo(&["plan", "--release", &release, "--out", &plan]),
    );
    ok(&ctx, &db, &["apply", &plan]);
    ok(&ctx, &db, &with_repo(&["undo", "--yes"]));
    assert_eq!(installed(&ctx, &db), "");
}

/// QA: with `--output json`, a verb with nothing to do, a verb's `--plan-out` and `state
/// export --out` printed nothing on stdout.
#[test]
fn json_output_is_a_document_when_there_is_nothing_to_print() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    ok(&ctx, &db, &with_repo(&["install", "core@1.1.0", "--yes"]));
    let document = |args: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(["--output", "json"]);
        let output = run(&ctx, &db, &all);
        serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
            panic!("{args:?}: {err}: {}", transcript(&output, ctx.temp.path()))
        })
    };
    let nothing = document(&with_repo(&["install", "core@1.1.0", "--yes"]));
    assert_eq!(nothing["outcome"], "unchanged");
    let plan = ctx.path("p.json").display().to_string();
    let planned = document(&with_repo(&["upgrade", "--plan-out", &plan]));
    assert_eq!(planned["outcome"], "planned");
    let state = ctx.path("s.json").display().to_string();
    let exported = document(&["state", "export", "--out", &state]);
    assert_eq!(exported["packages"], 1);
}

fn mysql_schema(db: &TestDb) -> String {
    let output = std::process::Command::new("mysqldump")
        .args([
            "-h127.0.0.1",
            "-uroot",
            "--no-data",
            "--skip-comments",
            "--skip-dump-date",
            &db.name,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .split(";\n")
        .filter(|statement| statement.contains("CREATE") && !statement.contains("dbpm_"))
        .map(|statement| {
            statement
                .lines()
                .map(|l| {
                    if l.starts_with(") ENGINE") {
                        l.split(" AUTO_INCREMENT=").next().unwrap_or(l).to_owned()
                    } else {
                        l.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect::<Vec<_>>()
        .join(";\n")
}

#[test]
fn a_generated_baseline_installs_to_the_same_schema() {
    for platform in Platform::ALL {
        let ctx = TestContext::new();
        let source = TestDb::new(platform);
        let copy = TestDb::new(platform);
        ok(
            &ctx,
            &source,
            &with_repo(&["install", "billing@1.1.0", "--yes"]),
        );
        let dir = ctx.path("generated/legacy/1.0.0").display().to_string();
        ok(&ctx, &source, &["adopt", "--generate", &dir]);
        let build = ctx.run(&[
            "build",
            &dir,
            "--out-dir",
            ctx.path("dist").to_str().unwrap(),
        ]);
        assert!(
            build.status.success(),
            "{platform}: {}",
            transcript(&build, ctx.temp.path())
        );
        let tree = ctx.path("generated").display().to_string();
        ok(
            &ctx,
            &copy,
            &["install", "legacy", "--repo", &tree, "--yes"],
        );
        let (a, b) = (schema(&source), schema(&copy));
        assert!(!a.is_empty());
        assert_eq!(
            a, b,
            "{platform}: the baseline installs to the schema it came from"
        );
        ok(
            &ctx,
            &copy,
            &["uninstall", "legacy", "--repo", &tree, "--yes"],
        );
    }
}

/// A baseline is generated from a target schema whose name has capitals and a space: the
/// name went to pg_dump as a pattern, which folded it to lower case and found nothing.
#[test]
fn a_baseline_is_generated_from_a_schema_named_in_mixed_case() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(db.execute(
        r#"CREATE SCHEMA "Sales Team"; CREATE TABLE "Sales Team".deals (id int PRIMARY KEY);"#,
    ));
    let dir = ctx.path("generated/sales/1.0.0");
    ok(
        &ctx,
        &db,
        &[
            "adopt",
            "--generate",
            dir.to_str().unwrap(),
            "--schema",
            "Sales Team",
        ],
    );
    let script = fs_err::read_to_string(dir.join("UPGRADE/001.schema.sql")).unwrap();
    // Found, and without its schema: the baseline installs into any target schema.
    assert!(script.contains("CREATE TABLE deals"), "{script}");
    assert!(!script.contains("Sales Team"), "{script}");
}

/// A PostgreSQL baseline keeps function bodies whole: a body line that opens like what the
/// dump's own session settings, comments or psql commands open with (`SET n = …` of an
/// UPDATE, `-- …` or `\d` in a string) is part of the function, not dropped with them.
#[test]
fn a_generated_postgres_baseline_keeps_function_bodies_whole() {
    let ctx = TestContext::new();
    let source = TestDb::postgres();
    let copy = TestDb::postgres();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(source.execute(
        r"CREATE TABLE counters (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
         CREATE FUNCTION bump(k int) RETURNS void LANGUAGE plpgsql AS $$
         BEGIN
           UPDATE counters
           SET n = n + 1
           WHERE id = k;
         END
         $$;
         CREATE FUNCTION pattern() RETURNS text LANGUAGE sql AS $$ SELECT '
\d+
-- kept
SET x' $$;",
    ));
    let dir = ctx.path("generated/legacy/1.0.0").display().to_string();
    ok(&ctx, &source, &["adopt", "--generate", &dir]);
    let tree = ctx.path("generated").display().to_string();
    ok(
        &ctx,
        &copy,
        &["install", "legacy", "--repo", &tree, "--yes"],
    );
    assert_eq!(schema(&source), schema(&copy));
    runtime.block_on(
        copy.execute("INSERT INTO counters (id) VALUES (1); SELECT bump(1); SELECT bump(1);"),
    );
    assert_eq!(
        runtime.block_on(copy.texts("SELECT n::text || pattern() FROM counters")),
        ["2\n\\d+\n-- kept\nSET x"]
    );
}

/// A placeholder inside a PostgreSQL dollar quote (`$$${note}$$`) is substituted: it used
/// to read as the escape `$${` and reach the database as `${note}`.
#[test]
fn a_placeholder_in_a_dollar_quote_is_substituted() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let repo = package_repo(
        &ctx,
        "notes",
        "postgres",
        &[
            (
                "dbpm.toml",
                "[package]\nname = \"notes\"\nversion = \"1.0.0\"\nplatforms = [\"postgres\"]\n\n[placeholders]\nnote = { default = \"none\" }\n",
            ),
            (
                "UPGRADE/001.notes.sql",
                "CREATE TABLE notes_t (id INTEGER);\nCOMMENT ON TABLE notes_t IS $$${note}$$;\n",
            ),
            ("DOWNGRADE/001.notes.sql", "DROP TABLE IF EXISTS notes_t;\n"),
        ],
    );
    ok(
        &ctx,
        &db,
        &[
            "install",
            "notes",
            "--repo",
            &repo,
            "--set",
            "note=it's $5",
            "--yes",
        ],
    );
    let comment = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.texts("SELECT obj_description('notes_t'::regclass, 'pg_class')"));
    assert_eq!(comment, ["it's $5"]);
}

/// A MySQL routine's body is read under the `sql_mode` it was created with: one written
/// with `ANSI_QUOTES` ("z_t" a table name, not a string) must be re-created under it.
#[test]
fn a_generated_mysql_baseline_keeps_the_sql_mode_of_routines() {
    let ctx = TestContext::new();
    let source = TestDb::mysql();
    let copy = TestDb::mysql();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(source.execute(
        "SET SESSION sql_mode = 'ANSI_QUOTES';
         CREATE TABLE z_t (id INTEGER PRIMARY KEY);
         CREATE FUNCTION z_count() RETURNS INTEGER READS SQL DATA RETURN (SELECT COUNT(*) FROM \"z_t\");
         CREATE TRIGGER z_t_check BEFORE INSERT ON z_t FOR EACH ROW SET NEW.id = (SELECT COUNT(*) FROM \"z_t\") + 1;",
    ));
    let dir = ctx.path("generated/legacy/1.0.0").display().to_string();
    ok(&ctx, &source, &["adopt", "--generate", &dir]);
    let tree = ctx.path("generated").display().to_string();
    ok(
        &ctx,
        &copy,
        &["install", "legacy", "--repo", &tree, "--yes"],
    );
    runtime.block_on(copy.execute("INSERT INTO z_t (id) VALUES (0), (0)"));
    assert_eq!(
        runtime.block_on(copy.texts("SELECT CAST(z_count() AS CHAR)")),
        ["2"]
    );
}

/// A SQLite baseline leaves out the shadow tables of virtual tables (FTS5's `docs_data`,
/// `docs_idx`, ...), which `CREATE VIRTUAL TABLE` makes: they made the baseline fail to
/// install ("table 'docs_data' already exists") and to uninstall (dropped before `docs`).
#[test]
fn a_generated_sqlite_baseline_leaves_out_the_shadow_tables_of_virtual_tables() {
    let ctx = TestContext::new();
    let source = TestDb::sqlite();
    let copy = TestDb::sqlite();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(source.execute(
        "CREATE TABLE item (id INTEGER PRIMARY KEY, label TEXT);
         CREATE VIRTUAL TABLE docs USING fts5(title, body);
         INSERT INTO docs (title, body) VALUES ('a', 'b');",
    ));
    let dir = ctx.path("generated/lite/1.0.0");
    ok(
        &ctx,
        &source,
        &["adopt", "--generate", dir.to_str().unwrap()],
    );
    for script in [
        "UPGRADE/001.schema.sql",
        "DOWNGRADE/001.schema.sql",
        "VERIFY/001.objects_exist.sql",
    ] {
        let text = fs_err::read_to_string(dir.join(script)).unwrap();
        assert!(text.contains("docs"), "{script}: {text}");
        assert!(!text.contains("docs_"), "{script}: {text}");
    }
    let tree = ctx.path("generated").display().to_string();
    ok(&ctx, &copy, &["install", "lite", "--repo", &tree, "--yes"]);
    assert_eq!(schema(&source), schema(&copy));
    ok(
        &ctx,
        &copy,
        &["uninstall", "lite", "--repo", &tree, "--yes"],
    );
    assert_eq!(schema(&copy), "");
}

/// MySQL has no dependency order for views in `information_schema`: a baseline generated
/// from views that read views later in name order must still create them in an order that
/// works. A view named like one of dbpm's own table tokens (`{runs}`) is read as it is.
#[test]
fn a_generated_mysql_baseline_creates_views_after_the_views_they_read() {
    let ctx = TestContext::new();
    let source = TestDb::mysql();
    let copy = TestDb::mysql();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for sql in [
        "CREATE TABLE z_base (id INT PRIMARY KEY)",
        "CREATE VIEW m_inner AS SELECT id FROM z_base",
        "CREATE VIEW a_outer AS SELECT id FROM m_inner",
        "CREATE VIEW `{runs}` AS SELECT id FROM a_outer",
    ] {
        runtime.block_on(source.execute(sql));
    }
    let dir = ctx.path("generated/legacy/1.0.0").display().to_string();
    ok(&ctx, &source, &["adopt", "--generate", &dir]);
    let tree = ctx.path("generated").display().to_string();
    ok(
        &ctx,
        &copy,
        &["install", "legacy", "--repo", &tree, "--yes"],
    );
    assert_eq!(mysql_schema(&source), mysql_schema(&copy));
    ok(
        &ctx,
        &copy,
        &["uninstall", "legacy", "--repo", &tree, "--yes"],
    );
    assert_eq!(mysql_schema(&copy), "");
}

/// On PostgreSQL, `--schema` scopes the scripts, not only dbpm's state: a package installed
/// into the default schema and into a tenant schema has a table in each, and uninstalling it
/// from the tenant drops the tenant's table only (it used to drop `public`'s, rows and all).
/// The connection's own search path follows the target schema, so what lives in `public`
/// (extensions, say) still resolves. A schema that does not exist is refused before
/// anything runs.
#[test]
fn the_target_schema_scopes_the_scripts() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let repo = package_repo(
        &ctx,
        "acct",
        "postgres",
        &[
            (
                "UPGRADE/001.ledger.sql",
                "CREATE TABLE IF NOT EXISTS acct_ledger (id INTEGER);\n",
            ),
            (
                "DOWNGRADE/001.ledger.sql",
                "DROP TABLE IF EXISTS acct_ledger;\n",
            ),
            // A function of `public` (where extensions usually live), called unqualified.
            (
                "INSTALL/001.rate.sql",
                "CREATE OR REPLACE VIEW acct_rate AS SELECT shared_rate() AS rate;\n",
            ),
            ("ROLLBACK/001.rate.sql", "DROP VIEW IF EXISTS acct_rate;\n"),
        ],
    );
    let install = ["install", "acct", "--yes", "--repo", repo.as_str()];
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(db.execute(
        "CREATE FUNCTION public.shared_rate() RETURNS INTEGER LANGUAGE sql AS 'SELECT 7'",
    ));

    ok(&ctx, &db, &install);
    runtime.block_on(
        db.execute("INSERT INTO public.acct_ledger VALUES (1), (2); CREATE SCHEMA tenant2;"),
    );
    let mut tenant = install.to_vec();
    tenant.extend(["--schema", "tenant2"]);
    ok(&ctx, &db, &tenant);
    let tables = "SELECT table_schema || '.' || table_name AS line FROM information_schema.tables WHERE table_name = 'acct_ledger' ORDER BY 1";
    assert_eq!(
        runtime.block_on(db.texts(tables)),
        ["public.acct_ledger", "tenant2.acct_ledger"]
    );
    assert_eq!(
        runtime.block_on(db.texts("SELECT rate::text AS line FROM tenant2.acct_rate")),
        ["7"]
    );

    ok(
        &ctx,
        &db,
        &["uninstall", "acct", "--yes", "--schema", "tenant2"],
    );
    assert_eq!(runtime.block_on(db.texts(tables)), ["public.acct_ledger"]);
    assert_eq!(runtime.block_on(db.count("public.acct_ledger")), 2);
    assert!(installed(&ctx, &db).contains("acct"));

    let mut missing = install.to_vec();
    missing.extend(["--schema", "tenant3"]);
    let text = exits(&ctx, &db, &missing, 1);
    assert!(text.contains("has no schema `tenant3`"), "{text}");
    assert_eq!(runtime.block_on(db.texts(tables)), ["public.acct_ledger"]);
    // `plan` refuses it too, rather than make a plan that `apply` would refuse.
    fs_err::write(ctx.path("acct.toml"), "[packages]\nacct = \"1.0.0\"\n").unwrap();
    let release = ctx.path("acct.toml").display().to_string();
    let plan = run(
        &ctx,
        &db,
        &[
            "plan",
            "--release",
            &release,
            "--repo",
            &repo,
            "--schema",
            "tenant3",
        ],
    );
    let text = transcript(&plan, ctx.temp.path());
    assert_eq!(plan.status.code(), Some(1), "{text}");
    assert!(text.contains("has no schema `tenant3`"), "{text}");
}

/// On SQLite the steps of a run go through one transaction, each script still on its own: a
/// script that ends in an unclosed comment (which SQLite accepts) cannot swallow the scripts
/// after it, which used to be journaled done without having run.
#[test]
fn a_trailing_unclosed_comment_hides_no_later_step_on_sqlite() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = package_repo(
        &ctx,
        "cm",
        "sqlite",
        &[
            (
                "UPGRADE/001.a.sql",
                "CREATE TABLE cm_a (id INTEGER);\n/* TODO: an index later",
            ),
            ("DOWNGRADE/001.a.sql", "DROP TABLE IF EXISTS cm_a;\n"),
            ("UPGRADE/002.b.sql", "CREATE TABLE cm_b (id INTEGER);\n"),
            ("DOWNGRADE/002.b.sql", "DROP TABLE IF EXISTS cm_b;\n"),
            (
                "INSTALL/001.v.sql",
                "CREATE VIEW cm_v AS SELECT * FROM cm_a;\n",
            ),
            ("ROLLBACK/001.v.sql", "DROP VIEW IF EXISTS cm_v;\n"),
        ],
    );
    ok(
        &ctx,
        &db,
        &["install", "cm", "--yes", "--repo", repo.as_str()],
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        runtime.block_on(
            db.texts("SELECT name AS line FROM sqlite_master WHERE name LIKE 'cm_%' ORDER BY name")
        ),
        ["cm_a", "cm_b", "cm_v"]
    );
}

/// A script with nothing to run (empty, or only comments) is done on MySQL/MariaDB too, as on
/// the other platforms: the server's "Query was empty" used to fail it, so a package with an
/// empty ROLLBACK twin could never be uninstalled there.
#[test]
fn scripts_with_nothing_to_run_are_done_on_mysql() {
    let ctx = TestContext::new();
    let db = TestDb::mysql();
    let repo = package_repo(
        &ctx,
        "bpk",
        "mysql",
        &[
            ("UPGRADE/001.later.sql", "-- the tables come later\n"),
            ("DOWNGRADE/001.later.sql", "/* nothing to undo */\n"),
            (
                "INSTALL/001.code.sql",
                "CREATE TABLE bpk_item (id INTEGER);\n",
            ),
            ("ROLLBACK/001.code.sql", ""),
        ],
    );
    ok(
        &ctx,
        &db,
        &["install", "bpk", "--yes", "--repo", repo.as_str()],
    );
    assert!(installed(&ctx, &db).contains("bpk@1.0.0"));
    ok(&ctx, &db, &["uninstall", "bpk", "--yes"]);
    assert!(!installed(&ctx, &db).contains("bpk"));
}

/// A value for a placeholder that no package of the release declares is a misspelling: the
/// plan is refused, naming the likely placeholder, whether the value comes from `--set` or
/// from the release file (it used to go unused while the default won).
/// Every step runs in a session of its own: what a script sets for its session
/// (PostgreSQL's `search_path` or role, MySQL's `autocommit`) reaches no later step. A leaked
/// `search_path` sent later tables elsewhere; a leaked `autocommit = 0` left later steps'
/// rows uncommitted, and lost, while the run said it completed.
#[test]
fn a_step_sets_nothing_for_the_steps_after_it() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    for (platform, setting) in [
        (Platform::Postgres, "SET search_path TO nowhere;\n"),
        (Platform::Postgres, "SET ROLE pg_monitor;\n"),
        (Platform::Mysql, "SET autocommit = 0;\n"),
    ] {
        let ctx = TestContext::new();
        let db = TestDb::new(platform);
        let repo = package_repo(
            &ctx,
            "sess",
            platform.as_str(),
            &[
                ("UPGRADE/001.session.sql", setting),
                ("DOWNGRADE/001.session.sql", "SELECT 1;\n"),
                (
                    "UPGRADE/002.table.sql",
                    "CREATE TABLE sess_t (a INT);\nINSERT INTO sess_t VALUES (1);\n",
                ),
                ("DOWNGRADE/002.table.sql", "DROP TABLE IF EXISTS sess_t;\n"),
                ("UPGRADE/003.more.sql", "INSERT INTO sess_t VALUES (2);\n"),
                (
                    "DOWNGRADE/003.more.sql",
                    "DELETE FROM sess_t WHERE a = 2;\n",
                ),
            ],
        );
        ok(&ctx, &db, &["install", "sess", "--repo", &repo, "--yes"]);
        let rows = runtime.block_on(db.texts("SELECT CAST(COUNT(*) AS CHAR(8)) FROM sess_t"));
        assert_eq!(rows[0].trim(), "2", "{platform}");
    }
}

/// On MySQL/MariaDB a script runs under the server's `sql_mode` and time zone, as in the
/// mysql client: the driver's own (`PIPES_AS_CONCAT`, UTC) made `0 || 1` the string `01`,
/// and triggers and views kept that mode for good.
#[test]
fn mysql_scripts_run_under_the_servers_sql_mode() {
    let ctx = TestContext::new();
    let db = TestDb::mysql();
    let repo = package_repo(
        &ctx,
        "modes",
        "mysql",
        &[
            (
                "UPGRADE/001.modes.sql",
                "CREATE TABLE modes_t AS SELECT @@SESSION.sql_mode = @@GLOBAL.sql_mode AS same_mode, @@SESSION.time_zone = @@GLOBAL.time_zone AS same_zone, (0 || 1) AS either;\n",
            ),
            ("DOWNGRADE/001.modes.sql", "DROP TABLE IF EXISTS modes_t;\n"),
        ],
    );
    ok(&ctx, &db, &["install", "modes", "--repo", &repo, "--yes"]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let row = runtime
        .block_on(db.texts("SELECT CONCAT(same_mode, ' ', same_zone, ' ', either) FROM modes_t"));
    assert_eq!(row, ["1 1 1"]);
}

/// SQLite scripts run with foreign keys not enforced, as in the sqlite3 client: the table
/// rebuild SQLite documents (new table, copy, drop, rename) keeps the rows that reference
/// the table. Enforced, dropping the old table deleted them through `ON DELETE CASCADE`,
/// and a `PRAGMA foreign_keys = OFF` in the script is ignored inside its transaction.
#[test]
fn a_sqlite_table_rebuild_keeps_the_rows_that_reference_it() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    package_version(
        &ctx,
        "shop",
        "1.0.0",
        &[
            ("dbpm.toml", "[package]\nname = \"shop\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n"),
            (
                "UPGRADE/001.tables.sql",
                "CREATE TABLE customer (id INTEGER PRIMARY KEY, name TEXT);\nCREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customer (id) ON DELETE CASCADE);\nINSERT INTO customer VALUES (1, NULL);\nINSERT INTO orders VALUES (1, 1), (2, 1);\n",
            ),
            ("DOWNGRADE/001.tables.sql", "DROP TABLE orders;\nDROP TABLE customer;\n"),
        ],
    );
    package_version(
        &ctx,
        "shop",
        "1.1.0",
        &[
            ("dbpm.toml", "[package]\nname = \"shop\"\nversion = \"1.1.0\"\nplatforms = [\"sqlite\"]\nfrom = \"1.0.0\"\n"),
            (
                "UPGRADE/001.name_not_null.sql",
                "CREATE TABLE customer_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');\nINSERT INTO customer_new (id, name) SELECT id, COALESCE(name, '') FROM customer;\nDROP TABLE customer;\nALTER TABLE customer_new RENAME TO customer;\n",
            ),
            ("DOWNGRADE/001.name_not_null.sql", "SELECT 1;\n"),
        ],
    );
    let repo = ctx.path("packages").display().to_string();
    ok(
        &ctx,
        &db,
        &["install", "shop@1.0.0", "--repo", &repo, "--yes"],
    );
    ok(
        &ctx,
        &db,
        &["install", "shop@1.1.0", "--repo", &repo, "--yes"],
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        runtime.block_on(db.texts("SELECT CAST(COUNT(*) AS TEXT) FROM orders")),
        ["2"]
    );
}

/// A `.cmd` script gets the target's URL, but not the admin connection's or the
/// repositories' from dbpm's environment: those may hold other credentials, and its output
/// is kept in the journal with only the target's password removed.
#[test]
fn a_command_step_never_sees_other_credentials() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = package_repo(
        &ctx,
        "hook",
        "sqlite",
        &[("POSTINSTALL/001.env.cmd", "env | grep '^DBPM_' | sort\n")],
    );
    let output = ctx
        .dbpm()
        .args(["install", "hook", "--repo", &repo, "--yes", "--db", &db.url])
        .env("DBPM_ADMIN_DB", "postgres://admin:AdminSecret1@127.0.0.1/x")
        .env("DBPM_REPO", "postgres://repo:RepoSecret2@127.0.0.1/y")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(0), "{text}");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let printed = runtime
        .block_on(db.texts("SELECT COALESCE(output, '') FROM dbpm_journal"))
        .join("\n");
    assert!(printed.contains("DBPM_TARGET_URL="), "{printed}");
    for secret in ["AdminSecret1", "RepoSecret2", "DBPM_ADMIN_DB", "DBPM_REPO="] {
        assert!(!printed.contains(secret), "{secret}: {printed}");
        assert!(!text.contains(secret), "{secret}: {text}");
    }
}

/// `history --run RUN` shows the steps of one run, with what each printed: the output of a
/// `.cmd` step was kept in the journal, and no command showed it.
#[test]
fn history_shows_the_steps_of_a_run_with_their_output() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = package_repo(
        &ctx,
        "hook",
        "sqlite",
        &[
            ("UPGRADE/001.t.sql", "CREATE TABLE hook_t (a INTEGER);\n"),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS hook_t;\n"),
            (
                "INSTALL/001.v.sql",
                "CREATE VIEW hook_v AS SELECT a FROM hook_t;\n",
            ),
            ("ROLLBACK/001.v.sql", "DROP VIEW IF EXISTS hook_v;\n"),
            ("POSTINSTALL/001.say.cmd", "echo 'hello from the hook'\n"),
        ],
    );
    ok(&ctx, &db, &["install", "hook", "--repo", &repo, "--yes"]);
    let listed = run(&ctx, &db, &["history", "--output", "json"]);
    let history: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    let id = history["runs"][0]["id"].as_str().unwrap().to_owned();
    let text = ok(&ctx, &db, &["history", "--run", &id]);
    let upgrade = text.find("hook@1.0.0/UPGRADE@none/001.t").unwrap();
    // SQLite commits UPGRADE and INSTALL in one batch, journaled in one instant: they
    // still show in the order they ran, not by name.
    let install = text.find("hook@1.0.0/INSTALL/001.v").unwrap();
    let say = text.find("hook@1.0.0/POSTINSTALL/001.say").unwrap();
    assert!(
        upgrade < install && install < say,
        "in the order they ran: {text}"
    );
    assert!(text.contains("hello from the hook"), "{text}");
    let text = exits(&ctx, &db, &["history", "--run", "no-such-run"], 1);
    assert!(text.contains("is not a run of"), "{text}");
}

/// A `.cmd` script on a PostgreSQL target learns the target schema (`DBPM_SCHEMA`): the URL
/// alone cannot tell which of the tenants sharing a database it runs for.
#[test]
fn a_command_step_knows_the_target_schema() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(db.execute("CREATE SCHEMA tenant7"));
    let repo = package_repo(
        &ctx,
        "hook",
        "postgres",
        &[(
            "POSTINSTALL/001.schema.cmd",
            "echo \"schema=$DBPM_SCHEMA\"\n",
        )],
    );
    ok(
        &ctx,
        &db,
        &[
            "install", "hook", "--repo", &repo, "--yes", "--schema", "tenant7",
        ],
    );
    let printed = runtime.block_on(db.texts("SELECT COALESCE(output, '') FROM dbpm.journal"));
    assert!(printed.join("\n").contains("schema=tenant7"), "{printed:?}");
}

#[test]
fn a_misspelled_placeholder_value_is_refused() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let release = ctx.path("release.toml");
    let text = fs_err::read_to_string("examples/releases/2026.2.toml").unwrap();
    fs_err::write(&release, text.replace("currency", "curency")).unwrap();
    let release = release.display().to_string();
    for (release, set) in [
        ("examples/releases/2026.2.toml", "curency=USD"),
        (release.as_str(), "currency=USD"),
    ] {
        let output = run(
            &ctx,
            &db,
            &[
                "plan",
                "--release",
                release,
                "--repo",
                "examples/packages",
                "--set",
                set,
            ],
        );
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(text.contains("`${curency}`, which no package"), "{text}");
        assert!(text.contains("did you mean `currency`?"), "{text}");
    }
}

/// `adopt --generate` hands `pg_dump` the target without its password, which goes through
/// `PGPASSWORD`: a command line is visible to every user of the machine. A `pg_dump` that
/// fails is reported with its own message, not as a missing tool.
#[test]
fn pg_dump_gets_the_password_through_its_environment() {
    use std::os::unix::fs::PermissionsExt;
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let bin = ctx.path("bin");
    fs_err::create_dir_all(&bin).unwrap();
    let seen = ctx.path("seen.txt");
    let fake = bin.join("pg_dump");
    fs_err::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"args: $*\" > '{}'\necho \"env: $PGPASSWORD\" >> '{}'\necho 'pg_dump: error: no such database' >&2\nexit 1\n",
            seen.display(),
            seen.display()
        ),
    )
    .unwrap();
    fs_err::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let url = db.url_with_password("s3cret-pw");
    let dir = ctx.path("generated/legacy/1.0.0").display().to_string();
    let output = ctx
        .dbpm()
        .env("PATH", path)
        .args(["adopt", "--generate", &dir, "--db", &url])
        .output()
        .unwrap();
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("no such database"), "{text}");
    assert!(
        !text.contains("install the PostgreSQL client tools"),
        "{text}"
    );
    assert!(!text.contains("s3cret-pw"), "{text}");
    let seen = fs_err::read_to_string(seen).unwrap();
    let (args, env) = seen.split_once('\n').unwrap();
    assert!(!args.contains("s3cret-pw"), "{seen}");
    assert!(args.contains("--dbname"), "{seen}");
    assert_eq!(env.trim(), "env: s3cret-pw");
}

/// A SQLite target in a directory that does not exist is explained as such, not as a server
/// that does not run.
#[test]
fn a_sqlite_file_in_a_missing_directory_is_explained() {
    let ctx = TestContext::new();
    let url = format!("sqlite://{}", ctx.path("missing/dir/x.db").display());
    let output = ctx.run(&[
        "install",
        "core",
        "--repo",
        "examples/packages",
        "--yes",
        "--db",
        &url,
    ]);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("check that the file's directory exists"),
        "{text}"
    );
    assert!(!ctx.path("missing").exists());
}

/// A SQLite target that names a file SQLite cannot read is said to be no SQLite database,
/// naming the file, by the commands that read and by those that write; the file is left as
/// it was and no lock file is made beside it. It read as "failed to lock dbpm's state".
#[test]
fn a_file_that_is_no_sqlite_database_is_named_as_such() {
    let ctx = TestContext::new();
    let file = ctx.path("notes.db");
    let text = "these are notes, not a database\n".repeat(40);
    fs_err::write(&file, &text).unwrap();
    let url = format!("sqlite://{}", file.display());
    let install = ctx.run(&[
        "install",
        "core",
        "--repo",
        "examples/packages",
        "--yes",
        "--db",
        &url,
    ]);
    insta::assert_snapshot!(
        "no_sqlite_database_install",
        transcript(&install, ctx.temp.path())
    );
    // A plan made for an empty target, applied to the file: refused before its lock.
    let plan = ctx.path("plan.json");
    let fresh = format!("sqlite://{}", ctx.path("fresh.db").display());
    let planned = ctx.run(&[
        "plan",
        "--release",
        "examples/releases/2026.1.toml",
        "--repo",
        "examples/packages",
        "--db",
        &fresh,
        "--out",
        plan.to_str().unwrap(),
    ]);
    assert!(planned.status.success());
    for args in [
        &["status", "--db", &url][..],
        &["apply", plan.to_str().unwrap(), "--db", &url],
    ] {
        let output = ctx.run(&[args, &["--output", "json"]].concat());
        let out = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(1), "{out}");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let json: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
        assert_eq!(json["error"]["code"], "dbpm::target::not_sqlite", "{out}");
    }
    assert_eq!(fs_err::read_to_string(&file).unwrap(), text);
    let mut lock = file.into_os_string();
    lock.push(".dbpm-lock");
    assert!(!std::path::Path::new(&lock).exists());
}

/// On MySQL/MariaDB a generated baseline keeps the stored functions, procedures and
/// triggers (without their definers), not only tables and views: installed elsewhere, it
/// gives the same routines and triggers, and they work.
#[test]
fn a_generated_mysql_baseline_keeps_routines_and_triggers() {
    let ctx = TestContext::new();
    let source = TestDb::mysql();
    let copy = TestDb::mysql();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(source.execute(
        "CREATE TABLE item (id INTEGER PRIMARY KEY, price INTEGER, audited INTEGER DEFAULT 0);
         CREATE FUNCTION with_tax(p INTEGER) RETURNS INTEGER DETERMINISTIC RETURN p * 2;
         CREATE PROCEDURE add_item(i INTEGER) BEGIN INSERT INTO item (id, price) VALUES (i, 10); END;
         CREATE TRIGGER item_audit BEFORE INSERT ON item FOR EACH ROW SET NEW.audited = 1;
         CREATE VIEW item_taxed AS SELECT id, with_tax(price) AS taxed FROM item;",
    ));
    let dir = ctx.path("generated/legacy/1.0.0").display().to_string();
    ok(&ctx, &source, &["adopt", "--generate", &dir]);
    let upgrade =
        fs_err::read_to_string(ctx.path("generated/legacy/1.0.0/UPGRADE/001.schema.sql")).unwrap();
    assert!(!upgrade.contains("DEFINER="), "{upgrade}");
    let tree = ctx.path("generated").display().to_string();
    ok(
        &ctx,
        &copy,
        &["install", "legacy", "--repo", &tree, "--yes"],
    );

    let objects = |db: &TestDb| {
        runtime.block_on(db.texts(
            "SELECT CAST(CONCAT(routine_type, ' ', routine_name) AS CHAR) AS line FROM information_schema.routines WHERE routine_schema = DATABASE()
             UNION ALL SELECT CAST(CONCAT('TRIGGER ', trigger_name) AS CHAR) FROM information_schema.triggers WHERE trigger_schema = DATABASE()
             UNION ALL SELECT CAST(CONCAT('VIEW ', table_name) AS CHAR) FROM information_schema.views WHERE table_schema = DATABASE()
             ORDER BY 1",
        ))
    };
    assert_eq!(
        objects(&copy),
        [
            "FUNCTION with_tax",
            "PROCEDURE add_item",
            "TRIGGER item_audit",
            "VIEW item_taxed"
        ]
    );
    assert_eq!(objects(&copy), objects(&source));
    runtime.block_on(copy.execute("CALL add_item(1)"));
    assert_eq!(
        runtime.block_on(copy.texts(
            "SELECT CAST(CONCAT(audited, ' ', taxed) AS CHAR) AS line FROM item JOIN item_taxed USING (id)"
        )),
        ["1 20"]
    );
    ok(&ctx, &copy, &["uninstall", "legacy", "--yes"]);
    assert!(objects(&copy).is_empty());
}

/// A baseline of a MySQL/MariaDB database keeps its events (scheduled jobs), and its
/// DOWNGRADE drops them: they were left out, so a database installed from the baseline had
/// none of them.
#[test]
fn a_generated_mysql_baseline_keeps_events() {
    let ctx = TestContext::new();
    let source = TestDb::mysql();
    let copy = TestDb::mysql();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(source.execute(
        "CREATE TABLE item_log (id INTEGER PRIMARY KEY, at DATETIME);
         CREATE EVENT purge_log ON SCHEDULE EVERY 1 DAY DO DELETE FROM item_log WHERE at < NOW() - INTERVAL 30 DAY;",
    ));
    let dir = ctx.path("generated/legacy/1.0.0").display().to_string();
    ok(&ctx, &source, &["adopt", "--generate", &dir]);
    let tree = ctx.path("generated").display().to_string();
    ok(
        &ctx,
        &copy,
        &["install", "legacy", "--repo", &tree, "--yes"],
    );
    let events = |db: &TestDb| {
        runtime.block_on(db.texts(
            "SELECT CAST(CONCAT(event_name, ' ', interval_value, ' ', interval_field) AS CHAR) AS line FROM information_schema.events WHERE event_schema = DATABASE()",
        ))
    };
    assert_eq!(events(&copy), ["purge_log 1 DAY"]);
    ok(&ctx, &copy, &["uninstall", "legacy", "--yes"]);
    assert!(events(&copy).is_empty());
}

/// A long SQLite seed script runs in pieces of whole statements (SQLite copies the rest of a
/// script for every statement it prepares, which made 40,000 `INSERT`s take seconds and
/// 600,000 never end): every row arrives, semicolons inside strings and comments included.
#[test]
fn a_long_sqlite_seed_runs_whole() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let mut seed = String::from("CREATE TABLE seed_row (id INTEGER, v TEXT);\n");
    for i in 0..20_000 {
        seed.push_str(&format!(
            "INSERT INTO seed_row VALUES ({i}, 'it''s; row {i}'); -- ; {i}\n"
        ));
    }
    let repo = package_repo(
        &ctx,
        "seed",
        "sqlite",
        &[
            ("UPGRADE/001.rows.sql", seed.as_str()),
            ("DOWNGRADE/001.rows.sql", "DROP TABLE IF EXISTS seed_row;\n"),
        ],
    );
    ok(
        &ctx,
        &db,
        &["install", "seed", "--yes", "--repo", repo.as_str()],
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(
        runtime.block_on(
            db.texts("SELECT count(*) || ' ' || sum(id) || ' ' || max(v) AS line FROM seed_row")
        ),
        ["20000 199990000 it's; row 9999"]
    );
}

/// `verify` where nothing is installed says so, rather than "0 checks passed".
/// A MySQL/MariaDB script larger than the server's `max_allowed_packet` (16 MB by default
/// on MariaDB) is refused before anything runs, with the setting to raise: it failed
/// mid-run, and the state could not have kept its text.
#[test]
fn a_mysql_script_larger_than_a_packet_is_refused_before_anything_runs() {
    let ctx = TestContext::new();
    let db = TestDb::mysql();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let limit: usize = runtime
        .block_on(db.texts("SELECT CAST(@@max_allowed_packet AS CHAR) AS line"))[0]
        .parse()
        .unwrap();
    let payload = "x".repeat(1000);
    let mut seed = String::from("CREATE TABLE seed_row (id INTEGER, v TEXT);\n");
    let mut i = 0;
    while seed.len() <= limit {
        seed.push_str(&format!(
            "INSERT INTO seed_row VALUES ({i}, '{payload}');\n"
        ));
        i += 1;
    }
    let repo = package_repo(
        &ctx,
        "seed",
        "mysql",
        &[
            ("UPGRADE/001.rows.sql", seed.as_str()),
            ("DOWNGRADE/001.rows.sql", "DROP TABLE IF EXISTS seed_row;\n"),
        ],
    );
    let text = exits(&ctx, &db, &["install", "seed", "--yes", "--repo", &repo], 1);
    assert!(text.contains("dbpm::apply::packet_too_large"), "{text}");
    assert!(text.contains("UPGRADE@none/001.rows"), "{text}");
    assert_eq!(
        runtime.block_on(db.texts(
            "SELECT table_name AS line FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'seed_row'"
        )),
        Vec::<String>::new()
    );
    assert!(runs_of(&db).is_empty());
}

#[test]
fn verify_with_nothing_installed_says_so() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let text = ok(&ctx, &db, &["verify"]);
    assert!(
        text.contains("nothing to verify: no package is installed"),
        "{text}"
    );
    // Installed packages without VERIFY scripts are not "nothing installed".
    let repo = package_repo(
        &ctx,
        "plain",
        "sqlite",
        &[
            ("UPGRADE/001.t.sql", "CREATE TABLE plain_t (a INTEGER);\n"),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS plain_t;\n"),
        ],
    );
    ok(&ctx, &db, &["install", "plain", "--repo", &repo, "--yes"]);
    let text = ok(&ctx, &db, &["verify"]);
    assert!(
        text.contains("none of the 1 package installed on"),
        "{text}"
    );
}

/// A meta-package: prerequisites, and no scripts of its own (QA: it was refused, "the package
/// has no scripts"). Its change has no steps, and it is recorded, undone and uninstalled like
/// any other package, also in a run that has no steps at all.
#[test]
fn a_package_of_prerequisites_only_is_installed_and_uninstalled() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = core_and_suite(&ctx);
    let text = ok(&ctx, &db, &["install", "suite", "--repo", &repo, "--yes"]);
    assert_eq!(installed(&ctx, &db), "core@1.0.0 suite@1.0.0", "{text}");
    assert!(text.contains("suite"), "{text}");

    ok(&ctx, &db, &["uninstall", "suite", "--yes"]);
    assert_eq!(installed(&ctx, &db), "core@1.0.0");

    // With its prerequisite in place, the plan holds no step at all and still installs it.
    let alone = ok(&ctx, &db, &["install", "suite", "--repo", &repo, "--yes"]);
    assert!(!alone.contains("nothing to install"), "{alone}");
    assert_eq!(installed(&ctx, &db), "core@1.0.0 suite@1.0.0", "{alone}");
    ok(&ctx, &db, &["undo", "--yes"]);
    assert_eq!(installed(&ctx, &db), "core@1.0.0");
}

/// The sources of `core` (a table `t`) and of `suite`, a meta-package that requires it; the
/// test's `packages` folder.
fn core_and_suite(ctx: &TestContext) -> String {
    let repo = package_repo(
        ctx,
        "core",
        "sqlite",
        &[
            ("UPGRADE/001.t.sql", "CREATE TABLE t (x int);\n"),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS t;\n"),
        ],
    );
    package_version(
        ctx,
        "suite",
        "1.0.0",
        &[(
            "dbpm.toml",
            "[package]\nname = \"suite\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n\n[prerequisites]\ncore = \"^1\"\n",
        )],
    );
    repo
}

/// A meta-package in the middle of a chain of prerequisites (`app` → `suite` → `core`) has no
/// steps to order by: `app`'s steps wait for `core`'s change, and its removal runs before
/// `core`'s, as if `app` required `core` itself. They ran side by side (`app`'s view before
/// `core`'s table).
#[test]
fn a_meta_package_in_between_orders_its_dependents_after_its_prerequisites() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = core_and_suite(&ctx);
    package_version(
        &ctx,
        "app",
        "1.0.0",
        &[
            (
                "dbpm.toml",
                "[package]\nname = \"app\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n\n[prerequisites]\nsuite = \"^1\"\n",
            ),
            ("INSTALL/001.v.sql", "CREATE VIEW v AS SELECT x FROM t;\n"),
            ("ROLLBACK/001.v.sql", "DROP VIEW IF EXISTS v;\n"),
        ],
    );
    let plan_of = |release: &str, out: &str| -> serde_json::Value {
        let file = ctx.path(out);
        fs_err::write(ctx.path("release.toml"), release).unwrap();
        let release = ctx.path("release.toml").display().to_string();
        let out = file.display().to_string();
        ok(
            &ctx,
            &db,
            &[
                "plan",
                "--release",
                &release,
                "--repo",
                &repo,
                "--prune",
                "--out",
                &out,
            ],
        );
        serde_json::from_str(&fs_err::read_to_string(file).unwrap()).unwrap()
    };
    let depends_on = |plan: &serde_json::Value, package: &str| -> Vec<String> {
        let steps = plan["steps"].as_array().unwrap();
        let step = steps.iter().find(|s| s["package"] == package).unwrap();
        let ids = step["depends_on"].as_array().unwrap();
        ids.iter()
            .map(|id| id.as_str().unwrap().to_owned())
            .collect()
    };

    let install = plan_of("[packages]\napp = \"1.0.0\"\n", "install.json");
    assert_eq!(
        depends_on(&install, "app"),
        ["core@1.0.0/UPGRADE@none/001.t"],
        "{install:#}"
    );
    let path = ctx.path("install.json").display().to_string();
    ok(&ctx, &db, &["apply", &path]);

    let uninstall = plan_of("[packages]\n", "uninstall.json");
    assert_eq!(
        depends_on(&uninstall, "core"),
        ["app@1.0.0/ROLLBACK/001.v"],
        "{uninstall:#}"
    );
}

/// One broken package in a `--repo` source tree: the verbs go on without it when they do not
/// need it, with one warning, and fail on its problems when they do.
#[test]
fn install_skips_a_broken_package_it_does_not_need_and_fails_on_one_it_does() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let repo = package_repo(
        &ctx,
        "core",
        "sqlite",
        &[
            ("UPGRADE/001.t.sql", "CREATE TABLE t (x int);\n"),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS t;\n"),
        ],
    );
    package_version(
        &ctx,
        "tools",
        "1.0.0",
        &[
            (
                "dbpm.toml",
                "[package]\nname = \"tools\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n",
            ),
            (
                "INSTALL/001.helpers.sql",
                "CREATE VIEW helpers AS SELECT 1;\n",
            ),
        ],
    );
    let text = ok(&ctx, &db, &["install", "core", "--repo", &repo, "--yes"]);
    assert_eq!(
        text.matches("dbpm::repository::skipped_source").count(),
        1,
        "{text}"
    );
    assert!(text.contains("`tools@1.0.0` in `"), "{text}");
    assert_eq!(installed(&ctx, &db), "core@1.0.0");

    let refused = exits(
        &ctx,
        &db,
        &["install", "tools", "--repo", &repo, "--yes"],
        1,
    );
    assert!(
        refused.contains("dbpm::package::no_twin") && refused.contains("001.helpers.sql"),
        "{refused}"
    );
    assert!(!refused.contains("skipped_source"), "{refused}");
    let upgrade = ok(&ctx, &db, &["upgrade", "--repo", &repo, "--yes"]);
    assert!(upgrade.contains("skipped_source"), "{upgrade}");
}

/// QA: steps shared what a script left in its session. Two backfills that fill a temporary
/// table of the same name (`CREATE TEMPORARY TABLE IF NOT EXISTS`) saw each other's rows on
/// PostgreSQL (a reused connection) and SQLite (steps run one after another on one
/// connection); a `PREPARE` in two scripts failed on PostgreSQL as "already exists"; a
/// pragma of one SQLite script changed what the next one selected.
#[test]
fn a_step_never_sees_what_an_earlier_script_left_in_its_session() {
    for platform in [Platform::Postgres, Platform::Sqlite] {
        let ctx = TestContext::new();
        let db = TestDb::new(platform);
        let fill = |table: &str, value: &str| {
            let mut text = format!(
                "CREATE TABLE {table} (v VARCHAR(10));\n\
                 CREATE TEMPORARY TABLE IF NOT EXISTS tmp_work (v VARCHAR(10));\n\
                 INSERT INTO tmp_work VALUES ('{value}');\n\
                 INSERT INTO {table} SELECT v FROM tmp_work;\n"
            );
            if platform == Platform::Postgres {
                text.push_str("PREPARE pick AS SELECT 1;\nLISTEN work;\n");
            } else {
                text.push_str("PRAGMA case_sensitive_like = ON;\n");
            }
            text
        };
        let (a, b) = (fill("tp_a", "a"), fill("tp_b", "b"));
        let repo = package_repo(
            &ctx,
            "leftovers",
            platform.as_str(),
            &[
                ("UPGRADE/001.a.sql", &a),
                ("DOWNGRADE/001.a.sql", "DROP TABLE tp_a;\n"),
                ("UPGRADE/002.b.sql", &b),
                ("DOWNGRADE/002.b.sql", "DROP TABLE tp_b;\n"),
                (
                    "UPGRADE/003.like.sql",
                    "CREATE TABLE fruit AS SELECT 'Apple' AS name;\n\
                     CREATE TABLE a_fruit AS SELECT name FROM fruit WHERE name LIKE 'a%';\n",
                ),
                (
                    "DOWNGRADE/003.like.sql",
                    "DROP TABLE a_fruit;\nDROP TABLE fruit;\n",
                ),
            ],
        );
        ok(
            &ctx,
            &db,
            &["install", "leftovers", "--yes", "--repo", &repo],
        );
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let texts = |sql: &str| runtime.block_on(db.texts(sql));
        assert_eq!(texts("SELECT v FROM tp_b"), ["b"], "{platform}");
        // SQLite's `LIKE` ignores case unless a pragma says otherwise; PostgreSQL's never does.
        let liked: &[&str] = if platform == Platform::Sqlite {
            &["Apple"]
        } else {
            &[]
        };
        assert_eq!(texts("SELECT name FROM a_fruit"), liked, "{platform}");
    }
}

/// QA: a script that ended dbpm's transaction itself (a `ROLLBACK` left from a dry run) was
/// journaled done and its package recorded installed, with nothing of it in the target; a
/// check that made its transaction read-only made dbpm's journal write fail, which read as
/// the target failing and could not be resumed. Both are the script's failure now, rolled
/// back. SQLite's `PRAGMA query_only` in a check is dbpm's to undo for its journal.
#[test]
fn a_script_that_spoils_its_transaction_fails_as_a_script() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    let repo = package_repo(
        &ctx,
        "spoils",
        "postgres",
        &[
            (
                "UPGRADE/001.t.sql",
                "CREATE TABLE spoils_t (i INTEGER);\nINSERT INTO spoils_t VALUES (1);\nROLLBACK;\n",
            ),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS spoils_t;\n"),
        ],
    );
    let install = ["install", "spoils", "--yes", "--repo", repo.as_str()];
    let text = exits(&ctx, &db, &install, 5);
    assert!(
        text.contains("the script holds a `ROLLBACK` of its own"),
        "{text}"
    );
    assert_eq!(installed(&ctx, &db), "");
    // Its own `BEGIN … COMMIT` (a warning at build) commits what it did: the step is done.
    package_version(
        &ctx,
        "spoils",
        "1.0.0",
        &[(
            "UPGRADE/001.t.sql",
            "BEGIN;\nCREATE TABLE spoils_t (i INTEGER);\nCOMMIT;\n",
        )],
    );
    ok(&ctx, &db, &install);
    assert_eq!(installed(&ctx, &db), "spoils@1.0.0");
    ok(&ctx, &db, &["uninstall", "spoils", "--yes"]);
    package_version(
        &ctx,
        "spoils",
        "1.0.0",
        &[
            (
                "UPGRADE/001.t.sql",
                "CREATE TABLE spoils_t (i INTEGER);\nSET TRANSACTION READ ONLY;\n",
            ),
            (
                "VERIFY/001.check.sql",
                "SET TRANSACTION READ ONLY;\nSELECT count(*) FROM spoils_t;\n",
            ),
        ],
    );
    let text = exits(&ctx, &db, &install, 5);
    assert!(
        text.contains("the script made its transaction read-only"),
        "{text}"
    );
    assert_eq!(installed(&ctx, &db), "");
    assert_eq!(schema(&db), schema(&TestDb::postgres()));
    // A check runs in a transaction that is rolled back: it may make it read-only.
    package_version(
        &ctx,
        "spoils",
        "1.0.0",
        &[("UPGRADE/001.t.sql", "CREATE TABLE spoils_t (i INTEGER);\n")],
    );
    ok(&ctx, &db, &install);
    ok(&ctx, &db, &["uninstall", "spoils", "--yes"]);

    let sqlite = TestDb::sqlite();
    let repo = package_repo(
        &ctx,
        "checks",
        "sqlite",
        &[
            ("UPGRADE/001.t.sql", "CREATE TABLE checks_t (i INTEGER);\n"),
            ("DOWNGRADE/001.t.sql", "DROP TABLE checks_t;\n"),
            (
                "VERIFY/001.check.sql",
                "PRAGMA query_only = ON;\nSELECT count(*) FROM checks_t;\n",
            ),
        ],
    );
    ok(
        &ctx,
        &sqlite,
        &["install", "checks", "--yes", "--repo", &repo],
    );
    assert_eq!(installed(&ctx, &sqlite), "checks@1.0.0");
}

/// QA: a script outside a transaction that began one and did not end it (`BEGIN` without
/// `COMMIT`) was journaled done while what it did was lost (PostgreSQL, SQLite, then
/// MariaDB).
#[test]
fn a_script_that_leaves_a_transaction_open_fails() {
    for platform in [Platform::Postgres, Platform::Mysql, Platform::Sqlite] {
        let ctx = TestContext::new();
        let db = TestDb::new(platform);
        let manifest = format!(
            "[package]\nname = \"opentx\"\nversion = \"1.0.0\"\nplatforms = [\"{}\"]\n\n\
             [scripts.\"UPGRADE/001.a\"]\ntransaction = false\n",
            platform.as_str()
        );
        let repo = package_version(
            &ctx,
            "opentx",
            "1.0.0",
            &[
                ("dbpm.toml", &manifest),
                (
                    "UPGRADE/001.a.sql",
                    "CREATE TABLE ot (x INTEGER);\nBEGIN;\nINSERT INTO ot VALUES (1);\n",
                ),
                ("DOWNGRADE/001.a.sql", "DROP TABLE IF EXISTS ot;\n"),
            ],
        );
        let text = exits(
            &ctx,
            &db,
            &["install", "opentx", "--yes", "--repo", &repo],
            5,
        );
        assert!(
            text.contains("the script left a transaction open"),
            "{platform}: {text}"
        );
        assert_eq!(installed(&ctx, &db), "", "{platform}");
    }
}

/// QA: after a failed compensation in another schema than the default, the commands the
/// message told the operator to run left out `--schema`, and looked at `public`.
#[test]
fn the_commands_a_failed_run_suggests_name_its_schema() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(db.execute("CREATE SCHEMA tenant1"));
    let repo = package_repo(
        &ctx,
        "cf",
        "postgres",
        &[
            ("UPGRADE/001.t.sql", "CREATE TABLE cf_t (i INTEGER);\n"),
            ("DOWNGRADE/001.t.sql", "SELECT 1/0;\n"),
            ("INSTALL/001.v.sql", "SELECT * FROM cf_missing;\n"),
            ("ROLLBACK/001.v.sql", "SELECT 1;\n"),
        ],
    );
    let args = [
        "install", "cf", "--schema", "tenant1", "--yes", "--repo", &repo,
    ];
    let text = exits(&ctx, &db, &args, 6);
    assert!(
        text.contains("`dbpm history --run ")
            && text.contains(" --db ... --schema tenant1` shows every step's"),
        "{text}"
    );
    assert!(
        text.contains("run `dbpm apply --resume --db ... --schema tenant1` to resume the rollback"),
        "{text}"
    );
}

/// QA: `install`, `uninstall` and `undo` with `--output json` that ended "not applied" (no
/// terminal to ask on, no `--yes`) wrote nothing on stdout.
#[test]
fn a_verb_not_confirmed_says_so_in_json() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    let output = run(
        &ctx,
        &db,
        &with_repo(&["--output", "json", "install", "core"]),
    );
    assert_eq!(output.status.code(), Some(1));
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(document["outcome"], "error", "{document}");
    assert_eq!(
        document["error"]["code"], "dbpm::verb::not_confirmed",
        "{document}"
    );
    assert!(!db.sqlite_file().exists());
}

/// QA: a mistyped `--schema` read as a target dbpm was never in: `status` and `history`
/// said so, and `state export` wrote an empty state, from which CI would plan to install
/// everything. Like `plan` and `apply`, they refuse a schema that does not exist.
#[test]
fn a_schema_that_does_not_exist_is_refused_by_every_read() {
    let ctx = TestContext::new();
    let db = TestDb::postgres();
    for args in [
        &["status", "--schema", "Billing"][..],
        &["history", "--schema", "Billing"],
        &["state", "export", "--schema", "Billing"],
    ] {
        let text = exits(&ctx, &db, args, 1);
        assert!(
            text.contains("dbpm::target::no_such_schema"),
            "{args:?}: {text}"
        );
    }
}

/// QA: a kept script text edited in dbpm's tables (a compensation rewritten into a `DROP
/// TABLE`) went unseen by `status`, and the other commands called the state corrupt without
/// saying which script.
#[test]
fn an_edited_kept_text_is_named_by_status() {
    let ctx = TestContext::new();
    let db = TestDb::sqlite();
    ok(&ctx, &db, &with_repo(&["install", "core@1.0.0", "--yes"]));
    tokio::runtime::Runtime::new().unwrap().block_on(db.execute(
        "UPDATE dbpm_script_texts SET content = 'DROP TABLE core_tenant; -- edited' WHERE content LIKE 'DROP VIEW%'",
    ));
    for args in [&["status"][..], &["verify"]] {
        let text = exits(&ctx, &db, &with_repo(args), 1);
        assert!(
            text.contains("dbpm::state::edited_text"),
            "{args:?}: {text}"
        );
        assert!(
            text.contains("holds an edited text of `"),
            "{args:?}: {text}"
        );
    }
}

/// QA: on MariaDB a VERIFY script's writes stayed (a check ran outside a transaction there),
/// and a `mysql_transactional` script with its own `ROLLBACK` was journaled done with its
/// rows gone.
#[test]
fn a_mysql_check_changes_nothing_and_a_rollback_of_its_own_fails_the_script() {
    let ctx = TestContext::new();
    let db = TestDb::mysql();
    let manifest = "[package]\nname = \"mychk\"\nversion = \"1.0.0\"\nplatforms = [\"mysql\"]\n\n\
                    [scripts.\"UPGRADE/002.rows\"]\nmysql_transactional = true\n\
                    [scripts.\"DOWNGRADE/002.rows\"]\nmysql_transactional = true\n";
    let repo = package_version(
        &ctx,
        "mychk",
        "1.0.0",
        &[
            ("dbpm.toml", manifest),
            ("UPGRADE/001.t.sql", "CREATE TABLE mychk_t (i INTEGER);\n"),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS mychk_t;\n"),
            ("UPGRADE/002.rows.sql", "INSERT INTO mychk_t VALUES (1);\n"),
            ("DOWNGRADE/002.rows.sql", "DELETE FROM mychk_t;\n"),
            (
                "VERIFY/001.check.sql",
                "INSERT INTO mychk_t VALUES (2);\nSELECT count(*) FROM mychk_t;\n",
            ),
            // A read-only session is the check's own: its journal entry is written apart.
            (
                "VERIFY/002.read_only.sql",
                "SET SESSION TRANSACTION READ ONLY;\nSELECT count(*) FROM mychk_t;\n",
            ),
        ],
    );
    let install = ["install", "mychk", "--yes", "--repo", repo.as_str()];
    ok(&ctx, &db, &install);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    assert_eq!(runtime.block_on(db.count("mychk_t")), 1);
    ok(&ctx, &db, &["uninstall", "mychk", "--yes"]);
    package_version(
        &ctx,
        "mychk",
        "1.0.0",
        &[(
            "UPGRADE/002.rows.sql",
            "INSERT INTO mychk_t VALUES (1);\nROLLBACK;\n",
        )],
    );
    let text = exits(&ctx, &db, &install, 5);
    assert!(
        text.contains("the script holds a `ROLLBACK` of its own"),
        "{text}"
    );
    assert_eq!(installed(&ctx, &db), "");
}

/// QA: a failed `mysql_transactional` step whose DDL MariaDB had committed at once ended
/// with "the target is as it was before the run", the table it made still there. Such a step
/// is compensated, as a failed step outside a transaction is, so its twin undoes what it
/// committed; one without a twin (irreversible) leaves it, and the run says so (exit 6).
#[test]
fn a_failed_script_that_committed_by_itself_is_compensated_or_said_to_stay() {
    for twin in [true, false] {
        let ctx = TestContext::new();
        let db = TestDb::mysql();
        let mut manifest =
            "[package]\nname = \"myddl\"\nversion = \"1.0.0\"\nplatforms = [\"mysql\"]\n\n\
                            [scripts.\"UPGRADE/002.rows\"]\nmysql_transactional = true\n"
                .to_owned();
        let mut files = vec![
            (
                "UPGRADE/001.t.sql",
                "CREATE TABLE myddl_a (id INTEGER PRIMARY KEY);\n",
            ),
            ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS myddl_a;\n"),
            (
                "UPGRADE/002.rows.sql",
                "INSERT INTO myddl_a VALUES (1);\nCREATE TABLE myddl_c (id INTEGER);\nINSERT INTO myddl_a VALUES (1);\n",
            ),
        ];
        if twin {
            files.push((
                "DOWNGRADE/002.rows.sql",
                "DELETE FROM myddl_a;\nDROP TABLE IF EXISTS myddl_c;\n",
            ));
        } else {
            manifest.push_str("irreversible = true\n");
        }
        files.push(("dbpm.toml", &manifest));
        let repo = package_version(&ctx, "myddl", "1.0.0", &files);
        let install = ["install", "myddl", "--yes", "--repo", &repo];
        if twin {
            let text = exits(&ctx, &db, &install, 5);
            assert!(text.contains("as it was before the run"), "{text}");
            let tables = tokio::runtime::Runtime::new().unwrap().block_on(db.texts(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'myddl%'",
            ));
            assert!(tables.is_empty(), "{tables:?}: {text}");
        } else {
            let text = exits(&ctx, &db, &install, 6);
            assert!(
                text.contains("committed by itself before it failed"),
                "{text}"
            );
            assert!(!text.contains("as it was before the run"), "{text}");
        }
    }
}
