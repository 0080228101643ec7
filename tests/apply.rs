//! End-to-end runs of `dbpm plan` + `dbpm apply` against PostgreSQL, MariaDB and SQLite: the
//! example releases install, upgrade, downgrade and uninstall to the schemas they should; a
//! run killed at any step boundary resumes to the schema of an uninterrupted one without
//! running a transactional step twice; an interrupted non-idempotent step stops for an
//! operator; a failing step rolls the target back to exactly where it was; concurrent applies
//! never interleave; a stale plan is refused before anything runs; Ctrl-C stops at a
//! checkpoint and the same command resumes; a connection lost inside a step stops the run
//! for a resume instead of rolling it back; credentials are stored and printed nowhere; and
//! `--output json` is one JSON object per line.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

use common::db::{Holder, TestDb};
use common::{repo_root, transcript, TestContext};
use dbpm::db::target::Target;
use dbpm::package::Kind;
use dbpm::plan::{Plan, StepPhase};
use dbpm::platform::Platform;
use dbpm::state::InstalledState;

on_every_platform!(
    releases_install_upgrade_downgrade_and_uninstall_to_the_expected_schemas,
    a_run_killed_at_any_step_boundary_resumes_to_the_uninterrupted_schema,
    a_crash_inside_a_transactional_step_leaves_no_trace,
    a_failing_upgrade_script_or_verify_rolls_back_to_the_schema_before,
    // A failed compensation stops the run (exit 6); once its cause is fixed, the same command
    // runs that compensation again and finishes the rollback (exit 5).
    a_failed_compensation_resumes_after_the_cause_is_fixed,
    // A compensation whose own text is wrong can never succeed: the operator undoes its work
    // by hand and resumes with `--skip-failed-compensations`, which finishes the rollback.
    a_wrong_compensation_is_skipped_after_its_work_is_undone_by_hand,
    concurrent_applies_of_one_plan_never_interleave,
    a_stale_plan_is_refused_before_anything_runs,
    // The outcome too is one line of JSON, after the events, so stdout reads line by line.
    json_output_is_one_object_per_line,
    a_second_apply_says_that_it_waits_for_the_run_lock,
    a_killed_run_reads_as_interrupted_once_nothing_holds_its_lock,
    a_stop_while_waiting_for_the_run_lock_gives_up_and_records_nothing,
    a_state_missing_a_table_is_refused_before_a_run_is_recorded,
    a_state_missing_its_meta_table_reads_as_corrupt_not_as_empty,
    a_state_missing_another_table_reads_as_corrupt,
);

// The `.sys` tests run on PostgreSQL and MariaDB: SQLite has no admin connection of its own
// worth the name.
on_both_servers!(
    a_failing_transactional_sys_script_leaves_no_trace,
    a_crash_inside_a_transactional_sys_step_leaves_it_in_doubt,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_connection_that_fails_is_found_before_anything_runs_on_postgres() {
    an_admin_connection_that_fails_is_found_before_anything_runs(Platform::Postgres).await
}

// A step whose statement waits behind another session's lock: dbpm says who holds it, and
// with `--step-lock-timeout` the step gives up that try after the limit and is tried again.
// (SQLite has no locks but the file's, which the run holds.)
on_both_servers!(
    a_step_waiting_for_a_lock_says_who_holds_it,
    a_step_held_up_by_a_lock_gives_up_or_goes_on_when_it_is_released,
);

/// `CREATE INDEX CONCURRENTLY` commits its index before it waits for the transactions that
/// write the table (here one that stays open): one that gave up waiting
/// (`--step-lock-timeout`) left an invalid index behind, so it is not tried again (a second
/// try would fail on the name, or, with `IF NOT EXISTS`, be done with the index invalid). The
/// step fails at once, and its compensation drops the index once the writer is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_built_concurrently_that_gives_up_is_not_tried_again() {
    let s = Scenario::new(Platform::Postgres);
    s.db.execute("CREATE TABLE held (id INTEGER)").await;
    let (release, repo) = one_package(
        &s.ctx,
        "indexes",
        "\"postgres\"",
        [
            (
                "dbpm.toml",
                "[package]\nname = \"indexes\"\nversion = \"1.0.0\"\nplatforms = [\"postgres\"]\n\n\
                 [scripts.\"UPGRADE/001.index\"]\ntransaction = false\n",
            ),
            (
                "UPGRADE/001.index.sql",
                "CREATE INDEX CONCURRENTLY IF NOT EXISTS held_id ON held (id);",
            ),
            ("DOWNGRADE/001.index.sql", "DROP INDEX IF EXISTS held_id;"),
        ],
    );
    let plan = s.plan(&release, &repo, false, "indexes.json");
    let mut holder = Holder::connect(&s.db).await;
    holder.run("BEGIN; INSERT INTO held VALUES (1)").await;
    let output = s.apply(&plan, &["--step-lock-timeout", "1"]);
    let text = s.text(&output);
    assert!(
        text.contains(
            "(not tried again: the script commits in parts, and its first may have taken effect)"
        ),
        "{text}"
    );
    // The compensation too waits for the writer, and gives up: the rollback stops (exit 6),
    // and goes on once the writer is done.
    assert_eq!(output.status.code(), Some(6), "{text}");
    holder.run("ROLLBACK").await;
    let output = s.apply(&plan, &["--step-lock-timeout", "1"]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert_eq!(
        s.db.texts("SELECT indexname::text FROM pg_indexes WHERE tablename = 'held'")
            .await,
        Vec::<String>::new(),
        "{text}"
    );
}

/// A scenario with a table `held`, the plan of a package that alters it (`waits@1.0.0`, whose
/// twin copes with a column never added: a failed step that commits by itself, MariaDB's DDL,
/// is compensated too), and the statements by which another connection holds a lock that
/// keeps the step waiting, and lets go of it.
async fn altering_a_held_table(
    platform: Platform,
) -> (Scenario, PathBuf, &'static str, &'static str) {
    let s = Scenario::new(platform);
    s.db.execute("CREATE TABLE held (id INTEGER)").await;
    let (platforms, hold, let_go) = match platform {
        Platform::Postgres => (
            "\"postgres\"",
            "SET application_name = 'holder'; BEGIN; LOCK TABLE held IN ACCESS SHARE MODE",
            "ROLLBACK",
        ),
        _ => ("\"mysql\"", "LOCK TABLES held READ", "UNLOCK TABLES"),
    };
    let (release, repo) = one_package(
        &s.ctx,
        "waits",
        platforms,
        [
            (
                "UPGRADE/001.alter.sql",
                "ALTER TABLE held ADD COLUMN c INTEGER;",
            ),
            (
                "DOWNGRADE/001.alter.sql",
                "ALTER TABLE held DROP COLUMN IF EXISTS c;",
            ),
        ],
    );
    let plan = s.plan(&release, &repo, false, "waits.json");
    (s, plan, hold, let_go)
}

/// Another session holds a lock on the table a step alters: while the step waits, dbpm says
/// so once, naming the session that holds it where the server tells (PostgreSQL), and once
/// the lock is let go the step goes on.
async fn a_step_waiting_for_a_lock_says_who_holds_it(platform: Platform) {
    let (s, plan, hold, let_go) = altering_a_held_table(platform).await;
    let mut holder = Holder::connect(&s.db).await;
    holder.run(hold).await;
    // The lock is let go once dbpm told of the wait, whenever that is.
    let mut apply = s.spawn_apply(&plan, &[]);
    let stderr = BufReader::new(apply.stderr.take().unwrap());
    let (told, notices) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in stderr.lines() {
            let line = line.unwrap();
            if line.contains("waits for a") {
                let _ = told.send(());
            }
            lines.push(line);
        }
        lines
    });
    let notice = tokio::task::spawn_blocking(move || {
        notices.recv_timeout(std::time::Duration::from_secs(60))
    });
    let told = notice.await.unwrap();
    holder.run(let_go).await;
    let output = apply.wait_with_output().unwrap();
    let lines = reader.join().unwrap();
    assert!(
        told.is_ok(),
        "no notice of the wait within a minute: {lines:?}"
    );
    let text = lines.join("\n");
    assert_eq!(output.status.code(), Some(0), "{text}");
    let notice = text
        .lines()
        .find(|line| line.contains("waits for a"))
        .unwrap_or_else(|| panic!("no notice of the wait: {text}"));
    let expected = match platform {
        Platform::Postgres => "⧗ waits@1.0.0/UPGRADE@none/001.alter waits for a lock on `held` held by session ",
        _ => "⧗ waits@1.0.0/UPGRADE@none/001.alter waits for a table metadata lock held by another session;",
    };
    assert!(notice.contains(expected), "{text}");
    if platform == Platform::Postgres {
        assert!(
            notice.contains("(`holder`, idle in transaction, its transaction open for "),
            "{text}"
        );
    }
    assert!(
        notice.ends_with("`--step-lock-timeout` limits such waits"),
        "{text}"
    );
    assert_eq!(text.matches("waits for a").count(), 1, "{text}");
}

/// Another session holds a lock on the table a step alters, for longer than the step's six
/// tries of a second each: the step gives up, saying so, and the run rolls back with the table
/// as it was (exit 5). Released while the step waits, the same plan goes on and completes.
async fn a_step_held_up_by_a_lock_gives_up_or_goes_on_when_it_is_released(platform: Platform) {
    let (s, plan, hold, let_go) = altering_a_held_table(platform).await;
    let columns = match platform {
        Platform::Postgres => {
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = 'held' ORDER BY 1"
        }
        _ => {
            "SELECT column_name FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = 'held' ORDER BY 1"
        }
    };
    let mut holder = Holder::connect(&s.db).await;

    holder.run(hold).await;
    let output = s.apply(&plan, &["--step-lock-timeout", "1"]);
    holder.run(let_go).await;
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(
        text.contains(
            "tried 6 times: another session's locks or writes stood in the way each time"
        ),
        "{text}"
    );
    assert_eq!(s.db.texts(columns).await, ["id"], "{text}");

    // Let go once the step waits for it: the try then under way, or the next, goes on.
    holder.run(hold).await;
    let apply = s.spawn_apply(&plan, &["--step-lock-timeout", "1"]);
    s.db.wait_until_a_session_waits_for_a_lock().await;
    holder.run(let_go).await;
    let output = apply.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", s.text(&output));
    assert_eq!(s.db.texts(columns).await, ["c", "id"]);
}

/// A lost lock race (MariaDB's 1205) is tried again only while nothing of the script took
/// effect. Here the script's `INSERT` commits by itself before its `UPDATE` waits for a row the
/// test keeps locked: running the script again would insert the row again, so the step fails
/// at once (exit 5, rolled back) with the `INSERT` applied once. The twin leaves the audit rows
/// alone so the test can count how often the script ran.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_timeout_after_a_committed_statement_is_not_retried_on_mysql() {
    use sqlx::{Connection, Executor};
    let s = Scenario::new(Platform::Mysql);
    s.db.execute(
        "CREATE TABLE lock_parent (id INTEGER PRIMARY KEY, n INTEGER) ENGINE=InnoDB;\
         INSERT INTO lock_parent VALUES (1, 0);\
         CREATE TABLE lock_audit (id INTEGER) ENGINE=InnoDB;",
    )
    .await;
    let dir = s.ctx.path("locker");
    let write = |path: &str, text: &str| write_under(&dir, path, text);
    write(
        "packages/locker/1.0.0/dbpm.toml",
        "[package]\nname = \"locker\"\nversion = \"1.0.0\"\nplatforms = [\"mysql\"]\n",
    );
    write(
        "packages/locker/1.0.0/UPGRADE/001.touch.sql",
        "SET SESSION innodb_lock_wait_timeout = 1;\n\
         INSERT INTO lock_audit (id) VALUES (1);\n\
         UPDATE lock_parent SET n = n + 1 WHERE id = 1;\n",
    );
    write(
        "packages/locker/1.0.0/DOWNGRADE/001.touch.sql",
        "SELECT 1;\n",
    );
    write("release.toml", "[packages]\nlocker = \"1.0.0\"\n");
    let release = dir.join("release.toml").display().to_string();
    let repo = dir.join("packages").display().to_string();
    let plan_path = s.plan(&release, &repo, false, "install.json");

    let mut holder = sqlx::MySqlConnection::connect(&s.db.url).await.unwrap();
    holder.execute("START TRANSACTION").await.unwrap();
    holder
        .execute("SELECT n FROM lock_parent WHERE id = 1 FOR UPDATE")
        .await
        .unwrap();
    let output = s.apply(&plan_path, &[]);
    holder.execute("ROLLBACK").await.unwrap();
    holder.close().await.unwrap();

    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(text.contains("not tried again"), "{text}");
    assert_eq!(s.db.count("lock_audit").await, 1, "{text}");
    assert_eq!(runs(&s.db).await.last().unwrap().1, "rolled_back");
}

/// A transactional MariaDB step whose script switches database (`USE`, as dumps hold) is
/// journaled in its own target's state: the other database, itself a dbpm target, gets none
/// of it, and the step counts as done where it ran.
#[tokio::test]
async fn a_transactional_step_that_switches_database_is_journaled_in_its_target_on_mysql() {
    let s = Scenario::new(Platform::Mysql);
    let other = TestDb::new(Platform::Mysql);
    s.db.execute("CREATE TABLE audit (id INTEGER) ENGINE=InnoDB;")
        .await;
    let dir = s.ctx.path("switcher");
    let write = |path: &str, text: &str| write_under(&dir, path, text);
    write(
        "packages/switcher/1.0.0/dbpm.toml",
        "[package]\nname = \"switcher\"\nversion = \"1.0.0\"\nplatforms = [\"mysql\"]\n\n\
         [placeholders]\nother = { description = \"another database\" }\n\n\
         [scripts.\"UPGRADE/001.audit\"]\nmysql_transactional = true\n",
    );
    write(
        "packages/switcher/1.0.0/UPGRADE/001.audit.sql",
        "INSERT INTO audit (id) VALUES (1);\nUSE ${other};\n",
    );
    write(
        "packages/switcher/1.0.0/DOWNGRADE/001.audit.sql",
        "DELETE FROM audit WHERE id = 1;\n",
    );
    write(
        "release.toml",
        &format!(
            "[packages]\nswitcher = \"1.0.0\"\n\n[placeholders]\nother = \"{}\"\n",
            other.name
        ),
    );
    let release = dir.join("release.toml").display().to_string();
    let repo = dir.join("packages").display().to_string();
    // The other database is a dbpm target too: its state tables exist.
    write(
        "packages/plain/1.0.0/dbpm.toml",
        "[package]\nname = \"plain\"\nversion = \"1.0.0\"\nplatforms = [\"mysql\"]\n",
    );
    write("packages/plain/1.0.0/UPGRADE/001.noop.sql", "SELECT 1;\n");
    write("packages/plain/1.0.0/DOWNGRADE/001.noop.sql", "SELECT 1;\n");
    write("plain.toml", "[packages]\nplain = \"1.0.0\"\n");
    let plain = dir.join("plain.toml").display().to_string();
    let plain_plan = plan_on(&s.ctx, &other, &plain, &repo, false, "plain.json");
    applied_on(&s.ctx, &other, &plain_plan);
    let before = journal(&other).await;

    let plan_path = s.plan(&release, &repo, false, "install.json");
    s.applied(&plan_path);

    assert_eq!(s.db.count("audit").await, 1);
    let done: Vec<String> = journal(&s.db)
        .await
        .into_iter()
        .filter(|(_, _, state)| state == "done")
        .map(|(_, step, _)| step)
        .collect();
    assert_eq!(done, ["switcher@1.0.0/UPGRADE@none/001.audit"]);
    assert_eq!(journal(&other).await, before);
}

/// A fleet: one plan, made against an empty tenant schema, applied to every tenant of a
/// PostgreSQL database, each with its own run and journal; the URL comes from the
/// environment (`db_env`), a target without a schema gets `--schema`'s (here from
/// `DBPM_SCHEMA`), and the JSON lines name the target each is about.
#[tokio::test]
async fn a_plan_applies_to_every_tenant_of_a_fleet_on_postgres() {
    let s = Scenario::new(Platform::Postgres);
    s.db.execute("CREATE SCHEMA tenant_a; CREATE SCHEMA tenant_b;")
        .await;
    let plan = s.ctx.path("plan.json");
    let plan_text = plan.display().to_string();
    let planned = s.ctx.run(&[
        "plan",
        "--release",
        RELEASE_1,
        "--repo",
        EXAMPLES,
        "--db",
        &s.db.url,
        "--schema",
        "tenant_a",
        "--out",
        &plan_text,
    ]);
    assert!(planned.status.success(), "{}", s.text(&planned));
    let fleet = s.ctx.path("fleet.toml");
    fs_err::write(
        &fleet,
        "[[target]]\nname = \"a\"\ndb_env = \"FLEET_DB\"\nschema = \"tenant_a\"\n\n\
         [[target]]\nname = \"b\"\ndb_env = \"FLEET_DB\"\n",
    )
    .unwrap();
    let fleet_text = fleet.display().to_string();
    let output = s
        .ctx
        .dbpm()
        .args([
            "apply",
            &plan_text,
            "--fleet",
            &fleet_text,
            "--output",
            "json",
        ])
        // The schema of a target that names none.
        .env("DBPM_SCHEMA", "tenant_b")
        .env("FLEET_DB", &s.db.url)
        .env_remove("DBPM_DB")
        .output()
        .unwrap();
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let completed: Vec<&str> = lines
        .iter()
        .filter(|line| line["outcome"] == "completed")
        .map(|line| line["target"].as_str().unwrap())
        .collect();
    assert_eq!(completed, ["a", "b"], "{text}");
    let report = lines.last().unwrap();
    assert_eq!(report["outcome"], "fleet");
    assert_eq!(report["targets"][1]["outcome"], "done");
    let tables =
        s.db.texts(
            "SELECT table_schema || '.' || table_name FROM information_schema.tables \
             WHERE table_name = 'core_tenant' ORDER BY 1",
        )
        .await;
    assert_eq!(tables, ["tenant_a.core_tenant", "tenant_b.core_tenant"]);
}

/// A target of a fleet that does not complete (here a stale plan) stops the fleet: no other
/// target starts, and the exit code is that target's. `--keep-going` applies to the rest.
#[test]
fn a_fleet_stops_at_a_target_that_does_not_complete_unless_told_to_keep_going() {
    let ctx = TestContext::new();
    let (stale, fresh, later) = (TestDb::sqlite(), TestDb::sqlite(), TestDb::sqlite());
    let plan = plan_on(&ctx, &fresh, RELEASE_1, EXAMPLES, false, "plan.json");
    let other = plan_on(&ctx, &stale, RELEASE_2, EXAMPLES, false, "other.json");
    applied_on(&ctx, &stale, &other);
    let fleet = ctx.path("fleet.toml");
    fs_err::write(
        &fleet,
        format!(
            "[[target]]\nname = \"stale\"\ndb = \"{}\"\n\n[[target]]\nname = \"fresh\"\ndb = \"{}\"\n\n\
             [[target]]\nname = \"later\"\ndb = \"{}\"\n",
            stale.url, fresh.url, later.url
        ),
    )
    .unwrap();
    let apply = |more: &[&str]| {
        let mut args = vec![
            "apply",
            plan.to_str().unwrap(),
            "--fleet",
            fleet.to_str().unwrap(),
        ];
        args.extend(more);
        let output = ctx.run(&args);
        (output.status.code(), transcript(&output, ctx.temp.path()))
    };
    let (code, text) = apply(&[]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("[stale] "), "{text}");
    assert!(text.contains("fresh  not started"), "{text}");
    assert!(!fresh.sqlite_file().exists(), "{text}");

    let (code, text) = apply(&["--keep-going"]);
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("fresh  done"), "{text}");
    assert!(text.contains("later  done"), "{text}");
}

const RELEASE_1: &str = "examples/releases/2026.1.toml";
const RELEASE_2: &str = "examples/releases/2026.2.toml";
const EXAMPLES: &str = "examples/packages";

/// The SIGABRT a fail point dies of (`std::process::abort`).
const SIGABRT: i32 = 6;

/// `--jobs` for a run that walks auth 2.0.0's parallel pair `002.sessions` + `002.user_email`
/// backwards. On MariaDB, `DROP TABLE auth_session` (a child of `auth_user`) beside
/// `ALTER TABLE auth_user DROP COLUMN email` now and then fails at once with error 1205 "Lock
/// wait timeout exceeded" (reproducible with two `mysql` clients; reported as a product
/// issue), which would make these tests flaky: there the pair runs one step at a time.
fn jobs_walking_back(platform: Platform) -> &'static str {
    match platform {
        Platform::Mysql => "1",
        Platform::Postgres | Platform::Sqlite => "4",
    }
}

/// A test's temporary directory and a fresh target database.
struct Scenario {
    ctx: TestContext,
    db: TestDb,
}

impl Scenario {
    fn new(platform: Platform) -> Scenario {
        Scenario {
            ctx: TestContext::new(),
            db: TestDb::new(platform),
        }
    }

    /// Plans the upgrade to release 2 from a copy of the examples (under `copy`) whose
    /// billing PREINSTALL `.cmd` step runs `script` after its own lines.
    fn plan_with_announce(&self, copy: &str, script: &str) -> PathBuf {
        let repo = copy_examples(&self.ctx, copy);
        append(&repo, "billing/1.1.0/PREINSTALL/002.announce.cmd", script);
        self.plan(
            RELEASE_2,
            &repo.display().to_string(),
            false,
            "install.json",
        )
    }

    /// The transcript of a run, with this test's temporary directory as `[TEMP]`.
    fn text(&self, output: &Output) -> String {
        transcript(output, self.ctx.temp.path())
    }

    /// `dbpm plan` of `release` from `repo` against the target, written to `name`.
    fn plan(&self, release: &str, repo: &str, prune: bool, name: &str) -> PathBuf {
        plan_on(&self.ctx, &self.db, release, repo, prune, name)
    }

    /// `dbpm apply plan --db target` with more arguments, started and left running, its
    /// output kept for `wait_with_output`.
    fn spawn_apply(&self, plan: &Path, more: &[&str]) -> std::process::Child {
        apply_cmd(&self.ctx, &self.db, plan, more)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `dbpm apply plan --db target` with more arguments, no fail point.
    fn apply(&self, plan: &Path, more: &[&str]) -> Output {
        apply_cmd(&self.ctx, &self.db, plan, more).output().unwrap()
    }

    /// `dbpm apply` that must exit 0.
    fn applied(&self, plan: &Path) -> Output {
        self.applied_with(plan, &[])
    }

    /// `dbpm apply` with more arguments that must exit 0.
    fn applied_with(&self, plan: &Path, more: &[&str]) -> Output {
        let output = self.apply(plan, more);
        assert_eq!(output.status.code(), Some(0), "{}", self.text(&output));
        output
    }
}

/// `dbpm apply` of `plan` on another database of a scenario, which must exit 0.
fn applied_on(ctx: &TestContext, db: &TestDb, plan: &Path) {
    let output = apply_cmd(ctx, db, plan, &[]).output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        transcript(&output, ctx.temp.path())
    );
}

fn plan_on(
    ctx: &TestContext,
    db: &TestDb,
    release: &str,
    repo: &str,
    prune: bool,
    name: &str,
) -> PathBuf {
    let out = ctx.path(name);
    let out_text = out.display().to_string();
    let mut args = vec![
        "plan",
        "--release",
        release,
        "--repo",
        repo,
        "--db",
        &db.url,
        "--out",
        &out_text,
    ];
    if prune {
        args.push("--prune");
    }
    let output = ctx.run(&args);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, ctx.temp.path())
    );
    out
}

fn apply_cmd(ctx: &TestContext, db: &TestDb, plan: &Path, more: &[&str]) -> Command {
    let mut cmd = ctx.dbpm();
    cmd.env_remove("DBPM_FAILPOINT")
        .arg("apply")
        .arg(plan)
        .args(["--db", &db.url])
        .args(more);
    cmd
}

fn load_plan(path: &Path) -> Plan {
    serde_json::from_str(&fs_err::read_to_string(path).unwrap()).unwrap()
}

/// The release that wants nothing (with `--prune`: uninstall everything).
fn empty_release(ctx: &TestContext) -> String {
    let path = ctx.path("empty.toml");
    fs_err::write(&path, "[packages]\n").unwrap();
    path.display().to_string()
}

/// A copy of `examples/packages` in the test's directory, to edit scripts in.
fn copy_examples(ctx: &TestContext, name: &str) -> PathBuf {
    let to = ctx.path(name);
    copy_dir(&repo_root().join(EXAMPLES), &to);
    to
}

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

/// Appends `text` to a script of a copied repository.
fn append(repo: &Path, script: &str, text: &str) {
    let path = repo.join(script);
    let mut content = fs_err::read_to_string(&path).unwrap();
    content.push_str(text);
    fs_err::write(&path, content).unwrap();
}

/// The user schema of the target (dbpm's own tables left out), as comparable text.
async fn schema(db: &TestDb) -> String {
    let text = match db.platform {
        Platform::Postgres => {
            let output = Command::new("pg_dump")
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
                "pg_dump: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout)
                .unwrap()
                .lines()
                .filter(|line| {
                    !line.trim().is_empty()
                        && !line.starts_with("--")
                        // pg_dump's per-dump random key
                        && !line.starts_with("\\restrict")
                        && !line.starts_with("\\unrestrict")
                        && !line.starts_with("SET ")
                        && !line.starts_with("SELECT pg_catalog.set_config")
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
        Platform::Mysql => {
            let (user, password, host, port) = mysql_server(&db.url);
            let mut cmd = Command::new("mysqldump");
            cmd.args([
                "-h",
                &host,
                "-P",
                &port,
                "-u",
                &user,
                "--no-data",
                "--skip-comments",
                "--skip-dump-date",
                "--routines",
            ]);
            if let Some(password) = password {
                cmd.arg(format!("-p{password}"));
            }
            for table in db.dbpm_tables().await {
                cmd.arg(format!("--ignore-table={}.{table}", db.name));
            }
            let output = cmd.arg(&db.name).output().unwrap();
            assert!(
                output.status.success(),
                "mysqldump: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            strip_auto_increment(&String::from_utf8(output.stdout).unwrap())
        }
        Platform::Sqlite => {
            if !db.sqlite_file().exists() {
                return String::new();
            }
            db.texts(
                "SELECT type || ' ' || name || char(10) || ifnull(sql, '') FROM sqlite_master
                 WHERE name NOT LIKE 'dbpm_%' AND name NOT LIKE 'sqlite_%' ORDER BY type, name",
            )
            .await
            .join("\n")
        }
    };
    text.replace(&db.name, "[DB]")
}

/// The tables, views and functions outside dbpm's state, by name.
async fn user_objects(db: &TestDb) -> Vec<String> {
    let sql = match db.platform {
        Platform::Postgres => {
            "SELECT n.nspname || '.' || c.relname FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT IN ('information_schema', 'dbpm')
             UNION ALL
             SELECT n.nspname || '.' || p.proname || '()' FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname NOT IN ('information_schema', 'dbpm')"
        }
        Platform::Mysql => {
            "SELECT CAST(CONCAT(table_type, ' ', table_name) AS CHAR) FROM information_schema.tables
              WHERE table_schema = DATABASE() AND table_name NOT LIKE 'dbpm\\_%'
             UNION ALL
             SELECT CAST(CONCAT(routine_type, ' ', routine_name) AS CHAR) FROM information_schema.routines
              WHERE routine_schema = DATABASE()"
        }
        Platform::Sqlite => {
            "SELECT type || ' ' || name FROM sqlite_master
              WHERE name NOT LIKE 'dbpm_%' AND name NOT LIKE 'sqlite_%'"
        }
    };
    db.texts(sql).await
}

/// `mysql://user[:password]@host:port/db` → its parts, for `mysqldump`.
fn mysql_server(url: &str) -> (String, Option<String>, String, String) {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split(['/', '?']).next().unwrap();
    let (userinfo, hostport) = authority.rsplit_once('@').unwrap_or(("root", authority));
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user.to_owned(), Some(password.to_owned())),
        None => (userinfo.to_owned(), None),
    };
    let (host, port) = hostport.split_once(':').unwrap_or((hostport, "3306"));
    (user, password, host.to_owned(), port.to_owned())
}

/// `AUTO_INCREMENT=N` table options are the tables' data, not their schema.
fn strip_auto_increment(text: &str) -> String {
    const OPTION: &str = " AUTO_INCREMENT=";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(OPTION) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPTION.len()..];
        rest = after.trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// The installed state as the target records it.
async fn installed(db: &TestDb) -> InstalledState {
    Target::new(db.url.parse().unwrap(), None)
        .unwrap()
        .read_state()
        .await
        .unwrap()
}

/// `name@version` of every installed package.
async fn versions(db: &TestDb) -> Vec<String> {
    installed(db)
        .await
        .packages
        .iter()
        .map(|(name, p)| format!("{name}@{}", p.version))
        .collect()
}

/// Writes `text` to `path` under `dir`, making its directories.
fn write_under(dir: &Path, path: &str, text: &str) {
    let path = dir.join(path);
    fs_err::create_dir_all(path.parent().unwrap()).unwrap();
    fs_err::write(path, text).unwrap();
}

/// A source tree in the test's folder `name` with one package, `name` 1.0.0 for `platforms`
/// (as its manifest lists them: `"postgres", "mysql"`), of `scripts` (path in the package,
/// text), and a release that wants it: the `--release` and `--repo` of a plan of it.
fn one_package<P: AsRef<str>, T: AsRef<str>>(
    ctx: &TestContext,
    name: &str,
    platforms: &str,
    scripts: impl IntoIterator<Item = (P, T)>,
) -> (String, String) {
    let dir = ctx.path(name);
    let package = format!("packages/{name}/1.0.0");
    write_under(
        &dir,
        &format!("{package}/dbpm.toml"),
        &format!("[package]\nname = \"{name}\"\nversion = \"1.0.0\"\nplatforms = [{platforms}]\n"),
    );
    for (path, text) in scripts {
        write_under(&dir, &format!("{package}/{}", path.as_ref()), text.as_ref());
    }
    write_under(
        &dir,
        "release.toml",
        &format!("[packages]\n{name} = \"1.0.0\"\n"),
    );
    (
        dir.join("release.toml").display().to_string(),
        dir.join("packages").display().to_string(),
    )
}

/// `(run id, outcome)` of every run, oldest first.
async fn runs(db: &TestDb) -> Vec<(String, String)> {
    let table = db.state_table("runs");
    let sql = match db.platform {
        Platform::Mysql => format!(
            "SELECT CAST(CONCAT(id, ' ', outcome) AS CHAR) FROM {table} ORDER BY started_at, id"
        ),
        _ => format!("SELECT id || ' ' || outcome FROM {table} ORDER BY started_at, id"),
    };
    db.texts(&sql)
        .await
        .iter()
        .map(|row| {
            let (id, outcome) = row.split_once(' ').unwrap();
            (id.to_owned(), outcome.to_owned())
        })
        .collect()
}

/// Every journal row as `(run, step, state)`.
async fn journal(db: &TestDb) -> Vec<(String, String, String)> {
    let table = db.state_table("journal");
    let sql = match db.platform {
        Platform::Mysql => {
            format!("SELECT CAST(CONCAT(run_id, ' ', state, ' ', step_id) AS CHAR) FROM {table}")
        }
        _ => format!("SELECT run_id || ' ' || state || ' ' || step_id FROM {table}"),
    };
    db.texts(&sql)
        .await
        .iter()
        .map(|row| {
            let mut parts = row.splitn(3, ' ');
            let run = parts.next().unwrap().to_owned();
            let state = parts.next().unwrap().to_owned();
            let step = parts.next().unwrap().to_owned();
            (run, step, state)
        })
        .collect()
}

/// How often each `(run, step)` is journaled `done`.
async fn done_counts(db: &TestDb) -> BTreeMap<(String, String), usize> {
    let mut counts = BTreeMap::new();
    for (run, step, state) in journal(db).await {
        if state == "done" {
            *counts.entry((run, step)).or_insert(0) += 1;
        }
    }
    counts
}

/// Every step of every run is journaled done at most once; a transactional step (the plan
/// says which) above all, since its journal entry commits with its script.
async fn assert_nothing_done_twice(db: &TestDb, plans: &[&Plan]) {
    let transactional: BTreeSet<&str> = plans
        .iter()
        .flat_map(|p| p.steps.iter().chain(&p.compensations))
        .filter(|s| s.transactional)
        .map(|s| &*s.id)
        .collect();
    for ((run, step), count) in done_counts(db).await {
        let kind = if transactional.contains(step.as_str()) {
            "transactional"
        } else {
            "non-transactional"
        };
        assert!(
            count <= 1,
            "{kind} step {step} done {count} times in run {run}"
        );
    }
}

/// The run id, times and database names of a transcript, as placeholders.
macro_rules! assert_filtered_snapshot {
    ($name:expr, $text:expr) => {
        insta::with_settings!({filters => vec![
            (r"\b\d{8}T\d{6}-[0-9a-f]{8}\b", "[RUN]"),
            (r"\(\d+ ms", "([TIME] ms"),
            (r"dbpm_t_\d+_\d+_[0-9a-f]{8}", "[DB]"),
        ]}, {
            insta::assert_snapshot!($name, $text);
        })
    };
}

/// 2026.1, then 2026.2, back to 2026.1, then nothing: each schema is the expected one,
/// and a fresh 2026.2 equals 2026.1 upgraded.
async fn releases_install_upgrade_downgrade_and_uninstall_to_the_expected_schemas(
    platform: Platform,
) {
    let s = Scenario::new(platform);
    let empty_schema = {
        let blank = TestDb::new(platform);
        schema(&blank).await
    };

    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let installed_1 = schema(&s.db).await;
    assert!(installed_1.contains("billing_invoice"), "{installed_1}");
    assert_eq!(
        versions(&s.db).await,
        ["auth@1.0.0", "billing@1.0.0", "core@1.1.0"]
    );

    let upgrade = s.plan(RELEASE_2, EXAMPLES, false, "upgrade.json");
    s.applied(&upgrade);
    let upgraded = schema(&s.db).await;
    assert!(upgraded.contains("reporting_snapshot"), "{upgraded}");
    assert_ne!(installed_1, upgraded);
    assert_eq!(
        versions(&s.db).await,
        [
            "auth@2.0.0",
            "billing@1.1.0",
            "core@1.2.0",
            "reporting@1.0.0"
        ]
    );

    let downgrade = s.plan(RELEASE_1, EXAMPLES, true, "downgrade.json");
    s.applied_with(&downgrade, &["--jobs", jobs_walking_back(platform)]);
    assert_same_schema(
        &installed_1,
        &schema(&s.db).await,
        "2026.1 → 2026.2 → 2026.1",
    );
    assert_eq!(
        versions(&s.db).await,
        ["auth@1.0.0", "billing@1.0.0", "core@1.1.0"]
    );

    let empty = empty_release(&s.ctx);
    let uninstall = s.plan(&empty, EXAMPLES, true, "uninstall.json");
    s.applied(&uninstall);
    assert_eq!(user_objects(&s.db).await, Vec::<String>::new());
    assert_same_schema(&empty_schema, &schema(&s.db).await, "after the uninstall");
    assert!(versions(&s.db).await.is_empty());
    let own = s.db.dbpm_tables().await;
    assert!(own.iter().any(|t| t.ends_with("journal")), "{own:?}");
    let outcomes: Vec<String> = runs(&s.db).await.into_iter().map(|(_, o)| o).collect();
    assert_eq!(outcomes, ["completed"; 4]);

    // A fresh 2026.2 takes other paths (core's shortcut edge) to the same schema.
    let fresh = TestDb::new(platform);
    let fresh_plan = plan_on(&s.ctx, &fresh, RELEASE_2, EXAMPLES, false, "fresh.json");
    applied_on(&s.ctx, &fresh, &fresh_plan);
    assert_same_schema(&upgraded, &schema(&fresh).await, "fresh 2026.2");
}

/// Asserts two schema dumps are equal, showing the difference when not.
fn assert_same_schema(expected: &str, found: &str, what: &str) {
    if expected != found {
        let diff = similar::TextDiff::from_lines(expected, found)
            .unified_diff()
            .header("expected", "found")
            .to_string();
        panic!("{what}: the schema differs:\n{diff}");
    }
}

/// Killed after each step boundary of the upgrade, a plain re-run (with
/// `--retry-in-doubt` when it stops for steps in doubt) ends with the schema of an
/// uninterrupted run, and no step is done twice.
async fn a_run_killed_at_any_step_boundary_resumes_to_the_uninterrupted_schema(platform: Platform) {
    let started = Instant::now();
    let s = Scenario::new(platform);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let upgrade_path = s.plan(RELEASE_2, EXAMPLES, false, "upgrade.json");
    s.applied(&upgrade_path);
    let expected = schema(&s.db).await;
    let expected_versions = versions(&s.db).await;
    let upgrade = load_plan(&upgrade_path);
    let install_plan = load_plan(&install);
    let steps = upgrade.steps.len();
    assert!(steps > 20, "the upgrade has {steps} steps");

    let mut in_doubt = Vec::new();
    for n in 1..=steps {
        let db = TestDb::new(platform);
        applied_on(&s.ctx, &db, &install);
        let killed = apply_cmd(&s.ctx, &db, &upgrade_path, &[])
            .env("DBPM_FAILPOINT", format!("kill-after:{n}"))
            .output()
            .unwrap();
        assert_eq!(
            killed.status.signal(),
            Some(SIGABRT),
            "kill-after:{n}: {}",
            s.text(&killed)
        );
        let (killed_run, _) = runs(&db).await.pop().unwrap();
        let done_before = done_counts(&db)
            .await
            .keys()
            .filter(|(run, _)| *run == killed_run)
            .count();
        assert!(
            done_before >= n,
            "kill-after:{n}: only {done_before} steps journaled done"
        );

        let mut resumed = apply_cmd(&s.ctx, &db, &upgrade_path, &[]).output().unwrap();
        let text = s.text(&resumed);
        assert!(text.contains("resuming run"), "kill-after:{n}: {text}");
        if resumed.status.code() == Some(6) {
            in_doubt.push(n);
            // Steps interrupted mid-way: only non-idempotent non-transactional ones stop.
            let named: Vec<&str> = upgrade
                .steps
                .iter()
                .filter(|step| text.contains(&*step.id))
                .map(|step| &*step.id)
                .collect();
            assert!(!named.is_empty(), "kill-after:{n}: {text}");
            for step in upgrade.steps.iter().filter(|s| named.contains(&&*s.id)) {
                assert!(
                    !step.transactional && !step.idempotent,
                    "kill-after:{n}: {} is in doubt: {text}",
                    step.id
                );
            }
            resumed = apply_cmd(&s.ctx, &db, &upgrade_path, &["--retry-in-doubt"])
                .output()
                .unwrap();
        }
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "kill-after:{n}: {}",
            s.text(&resumed)
        );
        assert_same_schema(&expected, &schema(&db).await, &format!("kill-after:{n}"));
        assert_eq!(versions(&db).await, expected_versions);
        let outcomes: Vec<String> = runs(&db).await.into_iter().map(|(_, o)| o).collect();
        assert_eq!(outcomes, ["completed", "completed"], "kill-after:{n}");
        assert_nothing_done_twice(&db, &[&install_plan, &upgrade]).await;
        // Every forward step of the upgrade is done exactly once.
        let (upgrade_run, _) = runs(&db).await.pop().unwrap();
        let counts = done_counts(&db).await;
        for step in &upgrade.steps {
            assert_eq!(
                counts.get(&(upgrade_run.clone(), step.id.to_string())),
                Some(&1),
                "kill-after:{n}: {}",
                step.id
            );
        }
    }
    eprintln!(
        "{platform}: {steps} boundaries in {:.1} s; in doubt after kill-after:{in_doubt:?}",
        started.elapsed().as_secs_f64()
    );
}

/// A crash inside a transactional UPGRADE step (after its script, before its commit)
/// leaves no trace: the step is not in the journal, the resume runs it again without any
/// doubt, and the run ends where an uninterrupted one does, each step done once. On MariaDB
/// only DML steps (`mysql_transactional`) are transactional.
async fn a_crash_inside_a_transactional_step_leaves_no_trace(platform: Platform) {
    let s = Scenario::new(platform);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let upgrade_path = s.plan(RELEASE_2, EXAMPLES, false, "upgrade.json");
    s.applied(&upgrade_path);
    let expected = schema(&s.db).await;
    let upgrade = load_plan(&upgrade_path);
    let candidates: Vec<&str> = upgrade
        .steps
        .iter()
        .filter(|s| s.transactional && s.kind == Kind::Sql && s.phase == StepPhase::Upgrade)
        .map(|s| &*s.id)
        .collect();
    assert!(candidates.len() >= 2, "{candidates:?}");

    for id in candidates {
        let db = TestDb::new(platform);
        applied_on(&s.ctx, &db, &install);
        let killed = apply_cmd(&s.ctx, &db, &upgrade_path, &[])
            .env("DBPM_FAILPOINT", format!("kill-in:{id}"))
            .output()
            .unwrap();
        assert_eq!(
            killed.status.signal(),
            Some(SIGABRT),
            "kill-in:{id}: {}",
            s.text(&killed)
        );
        let rows = journal(&db).await;
        assert!(
            !rows.iter().any(|(_, step, _)| step == id),
            "kill-in:{id}: {rows:?}"
        );
        let resumed = apply_cmd(&s.ctx, &db, &upgrade_path, &[]).output().unwrap();
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "kill-in:{id}: {}",
            s.text(&resumed)
        );
        assert_same_schema(&expected, &schema(&db).await, &format!("kill-in:{id}"));
        let (upgrade_run, outcome) = runs(&db).await.pop().unwrap();
        assert_eq!(outcome, "completed");
        let counts = done_counts(&db).await;
        for step in &upgrade.steps {
            assert_eq!(
                counts.get(&(upgrade_run.clone(), step.id.to_string())),
                Some(&1),
                "kill-in:{id}: {}",
                step.id
            );
        }
    }
}

/// How many journal rows say `done`.
async fn steps_done(db: &TestDb) -> usize {
    done_counts(db).await.values().sum()
}

/// On MariaDB, where DDL commits by itself, a crash inside a non-idempotent DDL step
/// leaves it in doubt: the resume stops with exit 6 naming it, `--retry-in-doubt` completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_inside_a_non_idempotent_mariadb_step_stops_for_an_operator() {
    let s = Scenario::new(Platform::Mysql);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let upgrade_path = s.plan(RELEASE_2, EXAMPLES, false, "upgrade.json");
    let upgrade = load_plan(&upgrade_path);
    let step = upgrade
        .steps
        .iter()
        .find(|s| {
            s.phase == StepPhase::Upgrade
                && s.kind == Kind::Sql
                && !s.transactional
                && !s.idempotent
        })
        .expect("a non-transactional, non-idempotent UPGRADE step on MariaDB");
    assert_eq!(&*step.id, "core@1.2.0/UPGRADE@1.1.0/001.customer_phone");

    let reference = TestDb::mysql();
    applied_on(&s.ctx, &reference, &install);
    applied_on(&s.ctx, &reference, &upgrade_path);
    let expected = schema(&reference).await;

    let killed = apply_cmd(&s.ctx, &s.db, &upgrade_path, &[])
        .env("DBPM_FAILPOINT", format!("kill-in:{}", step.id))
        .output()
        .unwrap();
    assert_eq!(killed.status.signal(), Some(SIGABRT), "{}", s.text(&killed));
    let rows = journal(&s.db).await;
    assert!(
        rows.iter()
            .any(|(_, id, state)| **id == *step.id && state == "started"),
        "{rows:?}"
    );

    let stopped = s.apply(&upgrade_path, &[]);
    assert_eq!(stopped.status.code(), Some(6), "{}", s.text(&stopped));
    let stderr = String::from_utf8_lossy(&stopped.stderr);
    assert!(stderr.contains(&*step.id), "{stderr}");
    assert_filtered_snapshot!("in_doubt_stop", s.text(&stopped));
    assert_eq!(runs(&s.db).await.last().unwrap().1, "in_doubt");

    let retried = s.apply(&upgrade_path, &["--retry-in-doubt"]);
    assert_eq!(retried.status.code(), Some(0), "{}", s.text(&retried));
    assert_same_schema(&expected, &schema(&s.db).await, "after --retry-in-doubt");
    assert_nothing_done_twice(&s.db, &[&upgrade]).await;
    let attempts: Vec<String> = journal(&s.db)
        .await
        .into_iter()
        .filter(|(_, id, _)| **id == *step.id)
        .map(|(_, _, state)| state)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(
        attempts,
        ["done", "started"],
        "the first attempt stays started"
    );
}

/// Installs release 1 on the scenario's target and plans the upgrade to release 2 with a
/// billing step that writes to `made_by_hand`, a table nothing makes: the plan.
fn upgrade_needing_a_table(s: &Scenario) -> PathBuf {
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let needs = copy_examples(&s.ctx, "needs-a-table");
    append(
        &needs,
        "billing/1.1.0/UPGRADE/002.tax_rates.sql",
        "\nINSERT INTO made_by_hand (id) VALUES (1);\n",
    );
    s.plan(
        RELEASE_2,
        &needs.display().to_string(),
        false,
        "upgrade.json",
    )
}

/// `--on-failure stop` keeps a failed run for a fix instead of rolling it back: exit 6 (an
/// operator must act; it was 1), the run `stopped_after_failure`, `status` saying to fix the
/// cause, and once the cause is fixed the same command runs the failed step again and
/// completes the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_after_a_failure_resumes_once_its_cause_is_fixed() {
    let s = Scenario::new(Platform::Sqlite);
    let plan_path = upgrade_needing_a_table(&s);
    let stopped = s.apply(&plan_path, &["--on-failure", "stop"]);
    let text = s.text(&stopped);
    assert_eq!(stopped.status.code(), Some(6), "{text}");
    assert!(text.contains("Fix the cause of the failed step"), "{text}");
    assert_eq!(runs(&s.db).await.last().unwrap().1, "stopped_after_failure");
    let status = s
        .ctx
        .dbpm()
        .args(["status", "--db", &s.db.url])
        .output()
        .unwrap();
    let status = s.text(&status);
    assert!(
        status.contains("fix the cause of the failed step"),
        "{status}"
    );

    s.db.execute("CREATE TABLE made_by_hand (id INTEGER)").await;
    s.applied_with(&plan_path, &["--on-failure", "stop"]);
    assert_eq!(runs(&s.db).await.last().unwrap().1, "completed");
    assert_eq!(s.db.count("made_by_hand").await, 1);
}

/// QA: an unfinished run could only be finished: after a Ctrl-C or a crash, every other plan
/// was refused until it completed. `--roll-back` undoes what it did instead (exit 5, outcome
/// `rolled_back`), for a run stopped after a failure and for one that died mid-way; with no
/// unfinished run it is refused.
#[tokio::test]
async fn an_unfinished_run_is_rolled_back_on_request() {
    let s = Scenario::new(Platform::Sqlite);
    let plan_path = upgrade_needing_a_table(&s);
    let before = schema(&s.db).await;
    let stopped = s.apply(&plan_path, &["--on-failure", "stop"]);
    assert_eq!(stopped.status.code(), Some(6), "{}", s.text(&stopped));
    assert_ne!(schema(&s.db).await, before);
    let rolled = s.apply(&plan_path, &["--roll-back"]);
    let text = s.text(&rolled);
    assert_eq!(rolled.status.code(), Some(5), "{text}");
    assert!(text.contains("rolled back on request"), "{text}");
    assert_eq!(schema(&s.db).await, before);
    assert_eq!(runs(&s.db).await.last().unwrap().1, "rolled_back");

    let nothing = s.apply(&plan_path, &["--roll-back"]);
    let text = s.text(&nothing);
    assert_eq!(nothing.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::apply::nothing_to_roll_back"), "{text}");

    // A run that died after its third step.
    let plan_path = s.plan(RELEASE_2, EXAMPLES, false, "upgrade-2.json");
    let killed = apply_cmd(&s.ctx, &s.db, &plan_path, &[])
        .env("DBPM_FAILPOINT", "kill-after:3")
        .output()
        .unwrap();
    assert!(!killed.status.success(), "{}", s.text(&killed));
    assert_eq!(runs(&s.db).await.last().unwrap().1, "running");
    let rolled = s.apply(&plan_path, &["--roll-back"]);
    assert_eq!(rolled.status.code(), Some(5), "{}", s.text(&rolled));
    assert_eq!(schema(&s.db).await, before);
    s.applied(&plan_path);
    let completed = s.apply(&plan_path, &["--roll-back"]);
    let text = s.text(&completed);
    assert_eq!(completed.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::apply::nothing_to_roll_back"), "{text}");
}

/// Review: a roll-back on request passed over an irreversible step left in doubt (it has no
/// compensation) and said the target was as before. It says what the step may have done,
/// and needs an operator (exit 6).
#[tokio::test]
async fn a_roll_back_names_an_irreversible_step_left_in_doubt() {
    let s = Scenario::new(Platform::Sqlite);
    let dir = s.ctx.path("irr");
    let write = |path: &str, text: &str| write_under(&dir, path, text);
    write(
        "packages/q/1.0.0/dbpm.toml",
        "[package]\nname = \"q\"\nversion = \"1.0.0\"\nplatforms = [\"sqlite\"]\n\n\
         [scripts.\"UPGRADE/002.irr\"]\nirreversible = true\ntransaction = false\n",
    );
    write(
        "packages/q/1.0.0/UPGRADE/001.a.sql",
        "CREATE TABLE q_a (id INTEGER);\n",
    );
    write(
        "packages/q/1.0.0/DOWNGRADE/001.a.sql",
        "DROP TABLE IF EXISTS q_a;\n",
    );
    write(
        "packages/q/1.0.0/UPGRADE/002.irr.sql",
        "CREATE TABLE q_irr (id INTEGER);\n",
    );
    write(
        "packages/q/1.0.0/UPGRADE/003.c.sql",
        "CREATE TABLE q_c (id INTEGER);\n",
    );
    write(
        "packages/q/1.0.0/DOWNGRADE/003.c.sql",
        "DROP TABLE IF EXISTS q_c;\n",
    );
    write("release.toml", "[packages]\nq = \"1.0.0\"\n");
    let release = dir.join("release.toml").display().to_string();
    let repo = dir.join("packages").display().to_string();
    let plan_path = s.plan(&release, &repo, false, "q.json");
    let killed = apply_cmd(&s.ctx, &s.db, &plan_path, &[])
        .env("DBPM_FAILPOINT", "kill-in:q@1.0.0/UPGRADE@none/002.irr")
        .output()
        .unwrap();
    assert!(!killed.status.success(), "{}", s.text(&killed));
    let rolled = s.apply(&plan_path, &["--roll-back"]);
    let text = s.text(&rolled);
    assert_eq!(rolled.status.code(), Some(6), "{text}");
    assert!(text.contains("was rolled back on request, except what the irreversible step q@1.0.0/UPGRADE@none/002.irr did (or may have done)"), "{text}");
}

/// A failing UPGRADE script in the middle of the upgrade, and then a failing VERIFY, roll
/// the target back to exactly the schema and state it had: exit 5, outcome `rolled_back`.
async fn a_failing_upgrade_script_or_verify_rolls_back_to_the_schema_before(platform: Platform) {
    let s = Scenario::new(platform);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let before = schema(&s.db).await;
    let state_before = installed(&s.db).await;

    let broken = copy_examples(&s.ctx, "broken-upgrade");
    append(
        &broken,
        "billing/1.1.0/UPGRADE/002.tax_rates.sql",
        "\nSELECT * FROM no_such_table;\n",
    );
    let plan_path = s.plan(
        RELEASE_2,
        &broken.display().to_string(),
        false,
        "upgrade.json",
    );
    let plan = load_plan(&plan_path);
    // One step at a time, so the transcript's order is the plan's.
    let output = s.apply(&plan_path, &["--jobs", "1"]);
    assert_eq!(output.status.code(), Some(5), "{}", s.text(&output));
    assert_filtered_snapshot!(format!("rolled_back_{platform}"), s.text(&output));
    assert_same_schema(&before, &schema(&s.db).await, "after the rollback");
    assert_eq!(installed(&s.db).await, state_before);
    assert_eq!(runs(&s.db).await.last().unwrap().1, "rolled_back");
    assert_nothing_done_twice(&s.db, &[&plan]).await;

    let broken = copy_examples(&s.ctx, "broken-verify");
    append(
        &broken,
        "billing/1.1.0/VERIFY/001.tables_exist.sql",
        "\nSELECT * FROM no_such_table;\n",
    );
    let plan_path = s.plan(
        RELEASE_2,
        &broken.display().to_string(),
        false,
        "verify.json",
    );
    let plan = load_plan(&plan_path);
    let output = s.apply(&plan_path, &["--jobs", jobs_walking_back(platform)]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(
        text.contains("billing@1.1.0/VERIFY/001.tables_exist"),
        "{text}"
    );
    assert_same_schema(&before, &schema(&s.db).await, "after a failed VERIFY");
    assert_eq!(installed(&s.db).await, state_before);
    let outcomes: Vec<String> = runs(&s.db).await.into_iter().map(|(_, o)| o).collect();
    assert_eq!(outcomes, ["completed", "rolled_back", "rolled_back"]);
    assert_nothing_done_twice(&s.db, &[&plan]).await;
}

/// Installs release 1, then plans release 2 from examples whose billing UPGRADE 003 fails
/// and whose DOWNGRADE 002 (the compensation that will run) reads `missing`: the schema and
/// state before, and the plan.
async fn upgrade_failing_with_its_compensation(
    s: &Scenario,
    missing: &str,
) -> (String, InstalledState, PathBuf) {
    s.applied(&s.plan(RELEASE_1, EXAMPLES, false, "install.json"));
    let before = schema(&s.db).await;
    let state_before = installed(&s.db).await;
    let broken = copy_examples(&s.ctx, "broken");
    append(
        &broken,
        "billing/1.1.0/UPGRADE/003.seed_tax_rates.sql",
        "\nSELECT * FROM no_such_table;\n",
    );
    append(
        &broken,
        "billing/1.1.0/DOWNGRADE/002.tax_rates.sql",
        &format!("\nSELECT * FROM {missing};\n"),
    );
    let plan = s.plan(
        RELEASE_2,
        &broken.display().to_string(),
        false,
        "upgrade.json",
    );
    (before, state_before, plan)
}

/// A failing compensation stops the rollback with exit 6, naming it; once the operator
/// has fixed the cause, the same command resumes the rollback and ends rolled back (exit 5)
/// with the schema and state from before the run.
async fn a_failed_compensation_resumes_after_the_cause_is_fixed(platform: Platform) {
    let s = Scenario::new(platform);
    let (before, state_before, plan_path) =
        upgrade_failing_with_its_compensation(&s, "no_such_table").await;
    let jobs = ["--jobs", jobs_walking_back(platform)];
    let output = s.apply(&plan_path, &jobs);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(6), "{text}");
    assert!(
        text.contains("compensation billing@1.1.0/DOWNGRADE@1.0.0/002.tax_rates~undo failed"),
        "{text}"
    );
    assert_eq!(runs(&s.db).await.last().unwrap().1, "compensation_failed");

    // The operator fixes the cause, and runs the same command again.
    s.db.execute("CREATE TABLE no_such_table (id INTEGER)")
        .await;
    let output = s.apply(&plan_path, &jobs);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(text.contains("resuming run"), "{text}");
    s.db.execute("DROP TABLE no_such_table").await;
    assert_same_schema(&before, &schema(&s.db).await, "after the resumed rollback");
    assert_eq!(installed(&s.db).await, state_before);
    assert_eq!(runs(&s.db).await.last().unwrap().1, "rolled_back");
}

async fn a_wrong_compensation_is_skipped_after_its_work_is_undone_by_hand(platform: Platform) {
    let s = Scenario::new(platform);
    let (before, state_before, plan_path) =
        upgrade_failing_with_its_compensation(&s, "no_such_table_either").await;
    let jobs = ["--jobs", jobs_walking_back(platform)];
    let compensation = "billing@1.1.0/DOWNGRADE@1.0.0/002.tax_rates~undo";
    for _ in 0..2 {
        let output = s.apply(&plan_path, &jobs);
        let text = s.text(&output);
        assert_eq!(output.status.code(), Some(6), "{text}");
        assert!(text.contains("--skip-failed-compensations"), "{text}");
    }

    // What the compensation was to do, done by hand; then the rollback goes on without it.
    s.db.execute("DROP TABLE IF EXISTS billing_tax_rate").await;
    let mut skip = jobs.to_vec();
    skip.push("--skip-failed-compensations");
    let output = s.apply(&plan_path, &skip);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(
        text.contains(
            "failed at billing@1.1.0/UPGRADE@1.0.0/003.seed_tax_rates and was rolled back"
        ),
        "{text}"
    );
    assert_same_schema(
        &before,
        &schema(&s.db).await,
        "after the skipped compensation",
    );
    assert_eq!(installed(&s.db).await, state_before);
    assert_eq!(runs(&s.db).await.last().unwrap().1, "rolled_back");
    let rows = journal(&s.db).await;
    assert!(
        rows.iter()
            .any(|(_, step, state)| step == compensation && state == "skipped"),
        "{rows:?}"
    );
    s.applied(&s.plan(RELEASE_2, EXAMPLES, false, "upgrade-fixed.json"));
}

/// Two applies of one plan started at once: one runs it; the other waits and finds it
/// applied, or gives up on the lock (exit 4). Nothing runs twice.
async fn concurrent_applies_of_one_plan_never_interleave(platform: Platform) {
    let s = Scenario::new(platform);
    // A slow step keeps the lock taken while the other process arrives.
    let slow = copy_examples(&s.ctx, "slow");
    append(
        &slow,
        "billing/1.0.0/PREINSTALL/002.announce.cmd",
        "sleep 2\n",
    );
    let plan_path = s.plan(
        RELEASE_1,
        &slow.display().to_string(),
        false,
        "install.json",
    );
    let plan = load_plan(&plan_path);

    for (round, second_timeout) in [(1, "0"), (2, "60")] {
        let db = TestDb::new(platform);
        let spawn = |timeout: &str| {
            apply_cmd(&s.ctx, &db, &plan_path, &["--lock-timeout", timeout])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let first = spawn("60");
        let second = spawn(second_timeout);
        let outputs = [
            first.wait_with_output().unwrap(),
            second.wait_with_output().unwrap(),
        ];
        let texts: Vec<String> = outputs.iter().map(|o| s.text(o)).collect();
        let both = texts.join("\n=====\n");
        let completed = texts
            .iter()
            .filter(|t| t.starts_with("exit: 0") && t.contains("completed"))
            .count();
        let already = texts
            .iter()
            .filter(|t| t.starts_with("exit: 0") && t.contains("already applied"))
            .count();
        let locked = texts
            .iter()
            .filter(|t| t.starts_with("exit: 4") && t.contains("dbpm::target::locked"))
            .count();
        assert_eq!(completed, 1, "round {round}: {both}");
        assert_eq!(already + locked, 1, "round {round}: {both}");
        if second_timeout == "60" {
            assert_eq!(already, 1, "round {round}: both wait: {both}");
        }
        assert_eq!(runs(&db).await.len(), 1, "round {round}: {both}");
        assert_nothing_done_twice(&db, &[&plan]).await;
        assert_eq!(steps_done(&db).await, plan.steps.len(), "round {round}");
    }
}

/// On SQLite a second apply that finds the target locked gives up after `--lock-timeout`
/// with exit 4, even while the first is inside a SQL step: it used to write dbpm's state
/// before taking the lock, which waited on the first run's transaction instead, and failed
/// with "database is locked" (exit 1) or went on after it.
#[test]
fn a_second_apply_on_sqlite_gives_up_at_its_lock_timeout_during_a_step() {
    let s = Scenario::new(Platform::Sqlite);
    let slow = copy_examples(&s.ctx, "slow");
    // A write, then a few seconds of work in the same transaction.
    append(
        &slow,
        "core/1.0.0/UPGRADE/002.seed_default_tenant.sql",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 30000000) SELECT count(*) FROM c;\n",
    );
    let plan = s.plan(
        RELEASE_1,
        &slow.display().to_string(),
        false,
        "install.json",
    );
    let mut first = s.spawn_apply(&plan, &[]);
    let mut lock = s.db.sqlite_file().into_os_string();
    lock.push(".dbpm-lock");
    while !Path::new(&lock).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    // Through a symbolic link to the same file: one database, one lock (QA: the lock file
    // was beside the path given, and both runs ran).
    let link = s.ctx.path("link.db");
    std::os::unix::fs::symlink(s.db.sqlite_file(), &link).unwrap();
    let through_link = format!("sqlite://{}", link.display());
    let second = s
        .ctx
        .dbpm()
        .env_remove("DBPM_FAILPOINT")
        .arg("apply")
        .arg(&plan)
        .args(["--db", &through_link, "--lock-timeout", "1"])
        .output()
        .unwrap();
    let text = s.text(&second);
    // The first run was still in its step when the second gave up.
    let first_running = first.try_wait().unwrap().is_none();
    assert_eq!(second.status.code(), Some(4), "{text}");
    assert!(text.contains("dbpm::target::locked"), "{text}");
    assert!(
        first_running,
        "the second apply waited for the first to finish"
    );
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", s.text(&first));
}

/// `dbpm status` and `dbpm history` of the scenario's target with `--output json`.
fn status_and_history(s: &Scenario) -> (serde_json::Value, serde_json::Value) {
    let json = |command: &str| {
        let output = s.ctx.run(&[command, "--db", &s.db.url, "--output", "json"]);
        let text = s.text(&output);
        assert_eq!(output.status.code(), Some(0), "{command}: {text}");
        serde_json::from_slice::<serde_json::Value>(&output.stdout)
            .unwrap_or_else(|err| panic!("{command}: {err}: {text}"))
    };
    (json("status"), json("history"))
}

/// A run whose dbpm was killed (SIGKILL) mid-step stays recorded as `running`; once nothing
/// holds the target's run lock, `status` and `history` show it as interrupted (`interrupted`
/// in JSON, the recorded outcome kept) and say how to resume it or roll it back. They used to
/// show it as running. While its dbpm runs, it reads as running, and looking does not get in
/// the way of that apply, which holds the lock to its end.
async fn a_killed_run_reads_as_interrupted_once_nothing_holds_its_lock(platform: Platform) {
    let s = Scenario::new(platform);
    let (mut child, plan_path) = while_a_step_runs(&s, 20);
    let (status, history) = status_and_history(&s);
    assert_eq!(status["unfinished"]["outcome"], "running", "{status:#}");
    assert_eq!(status["unfinished"]["interrupted"], false, "{status:#}");
    assert_eq!(history["runs"][0]["interrupted"], false, "{history:#}");
    let status_text = s.ctx.run(&["status", "--db", &s.db.url]);
    let text = s.text(&status_text);
    assert!(text.contains("(running)"), "{text}");
    assert!(!text.contains("interrupted"), "{text}");
    // Looking did not free the lock: a second apply still finds it taken.
    let second = s.apply(&plan_path, &["--lock-timeout", "0"]);
    assert_eq!(second.status.code(), Some(4), "{}", s.text(&second));
    assert!(child.try_wait().unwrap().is_none(), "the apply ended early");

    child.kill().unwrap();
    child.wait().unwrap();
    let (status, history) = status_and_history(&s);
    let run = &status["unfinished"];
    assert_eq!(run["outcome"], "running", "{status:#}");
    assert_eq!(run["interrupted"], true, "{status:#}");
    assert_eq!(run["next"], "resume", "{status:#}");
    assert_eq!(history["runs"][0]["id"], run["id"], "{history:#}");
    assert_eq!(history["runs"][0]["interrupted"], true, "{history:#}");
    assert_eq!(history["runs"][0]["outcome"], "running", "{history:#}");
    let status_text = s.ctx.run(&["status", "--db", &s.db.url]);
    let text = s.text(&status_text);
    assert!(text.contains("(interrupted)"), "{text}");
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("was interrupted"), "{text}");
    assert!(
        words.contains("`dbpm apply PLAN --db ...` with the plan"),
        "{text}"
    );
    assert!(
        words.contains("`dbpm apply PLAN --db ... --roll-back`"),
        "{text}"
    );
    let history_text = s.ctx.run(&["history", "--db", &s.db.url]);
    let text = s.text(&history_text);
    let row = text.lines().nth(3).unwrap_or_default();
    assert!(row.contains(" interrupted "), "{text}");
    assert!(text.contains("--roll-back"), "{text}");

    // As said: the same plan with `--roll-back` undoes it (the killed step is in doubt, and a
    // PREINSTALL step has nothing to undo).
    let rolled_back = s.apply(&plan_path, &["--roll-back"]);
    assert_eq!(
        rolled_back.status.code(),
        Some(5),
        "{}",
        s.text(&rolled_back)
    );
    let (status, history) = status_and_history(&s);
    assert_eq!(status["unfinished"], serde_json::Value::Null, "{status:#}");
    assert_eq!(history["runs"][0]["interrupted"], false, "{history:#}");
    assert_eq!(history["runs"][0]["outcome"], "rolled_back", "{history:#}");
}

/// A second apply that waits for the run lock says so after a second, and what happens at
/// its timeout (QA: it waited in silence), on stderr, and under `--output json` as a
/// `waiting` event: stdout stays JSON Lines. It then gives up with exit 4, and the first run
/// completes.
async fn a_second_apply_says_that_it_waits_for_the_run_lock(platform: Platform) {
    let s = Scenario::new(platform);
    let (first, plan_path) = while_a_step_runs(&s, 6);
    let second = s.apply(&plan_path, &["--lock-timeout", "3", "--output", "json"]);
    let text = s.text(&second);
    assert_eq!(second.status.code(), Some(4), "{text}");
    let stderr = String::from_utf8_lossy(&second.stderr);
    let notice = stderr
        .lines()
        .find(|line| line.starts_with("waiting for another dbpm run on `"))
        .unwrap_or_else(|| panic!("no notice of the wait: {text}"));
    assert!(notice.contains("gives up after 3 s"), "{text}");
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&second.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|err| panic!("{err}: {text}")))
        .collect();
    // A machine reading the stream learns of the wait too.
    let waiting = events
        .iter()
        .find(|event| event["event"] == "waiting")
        .unwrap_or_else(|| panic!("no waiting event: {text}"));
    assert_eq!(waiting["lock"], "run", "{text}");
    assert_eq!(waiting["gives_up_after_seconds"], 3, "{text}");
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", s.text(&first));
}

/// On SQLite a write waits (up to a minute) while another connection writes to the file,
/// and a read while it commits: after a second, dbpm says what it waits for and when it gives
/// up (QA: it waited in silence), then goes on once the other writer is done.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_for_another_sqlite_writer_is_announced() {
    use sqlx::{Connection, Executor};
    let s = Scenario::new(Platform::Sqlite);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let upgrade = s.plan(RELEASE_2, EXAMPLES, false, "upgrade.json");
    let mut writer = sqlx::SqliteConnection::connect(&s.db.url).await.unwrap();
    let apply = apply_cmd(&s.ctx, &s.db, &upgrade, &["--output", "json"]);
    let mut status = s.ctx.dbpm();
    status.args(["status", "--db", &s.db.url]);
    // A writer's transaction holds off writers; its commit (an exclusive lock) readers too.
    for (hold, mut command) in [("BEGIN IMMEDIATE", apply), ("BEGIN EXCLUSIVE", status)] {
        writer.execute(hold).await.unwrap();
        let child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        writer.execute("COMMIT").await.unwrap();
        let output = child.wait_with_output().unwrap();
        let text = s.text(&output);
        assert_eq!(output.status.code(), Some(0), "{hold}: {text}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        let notice = stderr
            .lines()
            .find(|line| line.starts_with("waiting for another dbpm on `sqlite://"))
            .unwrap_or_else(|| panic!("{hold}: no notice of the wait: {text}"));
        assert!(notice.contains("gives up after 60 s"), "{hold}: {text}");
    }
    writer.close().await.unwrap();
    assert_eq!(runs(&s.db).await.last().unwrap().1, "completed");
}

/// A plan made for another state of the target is refused with exit 3 before anything
/// runs; a plan that completed is never applied twice.
async fn a_stale_plan_is_refused_before_anything_runs(platform: Platform) {
    let s = Scenario::new(platform);
    let first = s.plan(RELEASE_1, EXAMPLES, false, "first.json");
    let other = s.plan(RELEASE_2, EXAMPLES, false, "other.json");
    s.applied(&first);
    let runs_before = runs(&s.db).await;
    let journal_before = journal(&s.db).await;
    let schema_before = schema(&s.db).await;

    // `other` was planned for an empty target.
    let output = s.apply(&other, &[]);
    assert_eq!(output.status.code(), Some(3), "{}", s.text(&output));
    assert_filtered_snapshot!("stale_plan_refused", s.text(&output));
    assert_eq!(runs(&s.db).await, runs_before);
    assert_eq!(journal(&s.db).await, journal_before);
    assert_eq!(schema(&s.db).await, schema_before);

    // Applied twice: recorded, nothing runs again.
    let again = s.apply(&first, &[]);
    let text = s.text(&again);
    assert_eq!(again.status.code(), Some(0), "{text}");
    assert!(text.contains("already applied"), "{text}");
    assert_eq!(runs(&s.db).await, runs_before);

    // An upgrade planned from 2026.1 goes stale when the target changes under it.
    let upgrade = s.plan(RELEASE_2, EXAMPLES, false, "upgrade.json");
    let empty = empty_release(&s.ctx);
    let uninstall = s.plan(&empty, EXAMPLES, true, "uninstall.json");
    s.applied(&uninstall);
    let runs_before = runs(&s.db).await;
    let output = s.apply(&upgrade, &[]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(3), "{text}");
    assert!(
        text.contains("`core` 1.1.0 was installed when planned, now it is not"),
        "{text}"
    );
    // For machines, the refusal is the last JSON line, with the diagnostic's code.
    let output = s.apply(&upgrade, &["--output", "json"]);
    assert_eq!(output.status.code(), Some(3), "{}", s.text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["outcome"], "stale", "{stdout}");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the plan is stale"),
        "{stdout}"
    );
    assert_eq!(last["error"]["code"], "dbpm::apply::stale", "{stdout}");
    assert_eq!(runs(&s.db).await, runs_before);
    assert!(user_objects(&s.db).await.is_empty());
}

/// Plans the upgrade to release 2 with a PREINSTALL step that runs `seconds`, applies it,
/// and sends the apply `signal` (`-INT`, `-TERM`, `-KILL`) once that step runs: the apply,
/// still running (unless killed), and the plan.
fn signalled_while_a_step_runs(
    s: &Scenario,
    seconds: u32,
    signal: &str,
) -> (std::process::Child, PathBuf) {
    let (child, plan_path) = while_a_step_runs(s, seconds);
    let kill = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    (child, plan_path)
}

/// Plans the upgrade to release 2 with a PREINSTALL step that runs `seconds`, and applies
/// it: the apply, once that step runs (so it holds the run lock), and the plan.
fn while_a_step_runs(s: &Scenario, seconds: u32) -> (std::process::Child, PathBuf) {
    let (plan_path, ready) = slow_plan(s, seconds);
    let child = s.spawn_apply(&plan_path, &[]);
    until_exists(&ready);
    (child, plan_path)
}

/// The plan of [`while_a_step_runs`], and the file its slow step makes when it starts.
fn slow_plan(s: &Scenario, seconds: u32) -> (PathBuf, PathBuf) {
    let ready = s.ctx.path("announcing");
    let plan_path = s.plan_with_announce(
        "slow",
        &format!("\ntouch '{}'\nsleep {seconds}\n", ready.display()),
    );
    (plan_path, ready)
}

/// Waits (a minute at most) until the slow step that makes `ready` has started.
fn until_exists(ready: &Path) {
    let started = Instant::now();
    while !ready.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the slow step never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// A SQLite URL that opens its file read-only (`mode=ro`) is refused by `apply` before
/// anything is written (dbpm wrote to the file anyway), and read as it is by `status`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_only_sqlite_url_is_refused_for_writes_and_read_as_it_is() {
    let s = Scenario::new(Platform::Sqlite);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let upgrade = s.plan(RELEASE_2, EXAMPLES, false, "upgrade.json");
    let (runs_before, schema_before) = (runs(&s.db).await, schema(&s.db).await);
    let read_only = format!("{}?mode=ro", s.db.url);
    let output = s
        .ctx
        .dbpm()
        .args(["apply", &upgrade.display().to_string(), "--db", &read_only])
        .output()
        .unwrap();
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("is opened read-only"), "{text}");
    assert_eq!(runs(&s.db).await, runs_before);
    assert_eq!(schema(&s.db).await, schema_before);
    let output = s
        .ctx
        .dbpm()
        .args(["status", "--db", &read_only])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", s.text(&output));
}

/// Ctrl-C while a compensation runs: the rollback stops once it finishes (exit 1), and the
/// message says that resuming finishes the rollback (it said "to resume", as if the change
/// went on); the same command then rolls the run back whole (exit 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_during_a_rollback_says_that_resuming_finishes_it() {
    let s = Scenario::new(Platform::Postgres);
    let repo = copy_examples(&s.ctx, "slow-rollback");
    let version = repo.join("billing/1.1.0");
    fs_err::write(version.join("INSTALL/003.slow.sql"), "SELECT 1;\n").unwrap();
    fs_err::write(
        version.join("ROLLBACK/003.slow.sql"),
        "SELECT pg_sleep(3);\n",
    )
    .unwrap();
    append(
        &repo,
        "billing/1.1.0/VERIFY/001.tables_exist.sql",
        "SELECT no_such_column FROM billing_invoice;\n",
    );
    let plan_path = s.plan(
        RELEASE_2,
        &repo.display().to_string(),
        false,
        "install.json",
    );
    let child = s.spawn_apply(&plan_path, &[]);
    // The slow compensation runs once VERIFY has failed.
    let started = Instant::now();
    let sleeping = "SELECT count(*)::text AS line FROM pg_stat_activity WHERE datname = current_database() AND state = 'active' AND query LIKE '%pg_sleep(3)%' AND query NOT LIKE '%pg_stat_activity%'";
    while s.db.texts(sleeping).await != ["1"] {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the slow compensation never started"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "stopped on request (Ctrl-C, SIGTERM or SIGHUP) during its rollback, which resuming finishes"
        ),
        "{text}"
    );
    let output = s.apply(&plan_path, &[]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(user_objects(&s.db).await.is_empty(), "{text}");
}

/// Ctrl-C (SIGINT) while a step runs: the step finishes, nothing new starts, the run is
/// recorded as stopped (exit 1), and the same command resumes it to the schema of a run
/// that was never stopped, without running a step twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_at_a_checkpoint_and_the_same_command_resumes() {
    let s = Scenario::new(Platform::Sqlite);
    let (child, plan_path) = signalled_while_a_step_runs(&s, 2, "-INT");
    let output = child.wait_with_output().unwrap();
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("stopped on request"), "{text}");
    assert_eq!(runs(&s.db).await.last().unwrap().1, "stopped");
    // The running step finished; the steps waiting for it never started.
    let plan = load_plan(&plan_path);
    let announce = "billing@1.1.0/PREINSTALL/002.announce";
    let journal = journal(&s.db).await;
    assert!(
        journal
            .iter()
            .any(|(_, step, state)| step == announce && state == "done"),
        "{journal:?}"
    );
    let waiting: Vec<&str> = plan
        .steps
        .iter()
        .filter(|step| step.depends_on.iter().any(|d| **d == *announce))
        .map(|step| &*step.id)
        .collect();
    assert!(!waiting.is_empty());
    assert!(
        journal
            .iter()
            .all(|(_, step, _)| !waiting.contains(&step.as_str())),
        "{journal:?}"
    );

    let resumed = s.apply(&plan_path, &[]);
    let text = s.text(&resumed);
    assert_eq!(resumed.status.code(), Some(0), "{text}");
    assert!(text.contains("resuming run"), "{text}");
    let straight = Scenario::new(Platform::Sqlite);
    straight.applied(&plan_path);
    assert_same_schema(
        &schema(&straight.db).await,
        &schema(&s.db).await,
        "after the resumed run",
    );
    assert_nothing_done_twice(&s.db, &[&plan]).await;
}

/// A terminal's Ctrl-C reaches every process of its foreground group, the `.cmd` step's
/// shell with dbpm: the step finishes all the same (it runs in a group of its own), the run
/// stops at the checkpoint after it, and the same command resumes. The step's shell died of
/// the SIGINT, which failed the step and rolled the run back (exit 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_in_a_terminal_lets_a_running_cmd_step_finish() {
    use std::os::unix::process::CommandExt;

    let s = Scenario::new(Platform::Sqlite);
    let ready = s.ctx.path("announcing");
    let finished = s.ctx.path("announced");
    let plan_path = s.plan_with_announce(
        "slow",
        &format!(
            "\ntouch '{}'\nsleep 2\ntouch '{}'\n",
            ready.display(),
            finished.display()
        ),
    );
    // dbpm leads a process group, as a shell's foreground job does.
    let child = apply_cmd(&s.ctx, &s.db, &plan_path, &[])
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until_exists(&ready);
    let group = format!("-{}", child.id());
    let kill = Command::new("kill")
        .args(["-INT", "--", &group])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("stopped on request"), "{text}");
    assert!(finished.exists(), "the running step was cut short: {text}");
    assert_eq!(runs(&s.db).await.last().unwrap().1, "stopped");

    let resumed = s.apply(&plan_path, &[]);
    assert_eq!(resumed.status.code(), Some(0), "{}", s.text(&resumed));
}

/// A `.cmd` step that times out ends with everything its script started: a subshell (or a
/// script it calls) went on running after dbpm had reported the timeout and rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_cmd_step_ends_with_what_it_started() {
    let s = Scenario::new(Platform::Sqlite);
    let late = s.ctx.path("still-running");
    let plan_path = s.plan_with_announce(
        "hanging",
        &format!("\n( sleep 3; touch '{}' )\n", late.display()),
    );
    let output = s.apply(&plan_path, &["--cmd-timeout", "1"]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(text.contains("timed out after 1 s"), "{text}");
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(!late.exists(), "the timed-out script's subshell ran on");
}

/// A `.cmd` step ends when its shell exits, also when it leaves a worker running that holds
/// its output open (`worker &`): it waited for the worker's end, timed out and killed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cmd_step_that_leaves_a_worker_running_ends_with_its_shell() {
    let s = Scenario::new(Platform::Sqlite);
    let done = s.ctx.path("worker-done");
    let plan_path = s.plan_with_announce(
        "starting",
        &format!(
            "\n( sleep 4; touch '{}' ) &\necho 'started the worker'\n",
            done.display()
        ),
    );
    let output = s.apply(&plan_path, &["--cmd-timeout", "2"]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let contents = s.db.dbpm_table_contents().await;
    assert!(contents.contains("started the worker"), "{contents}");
    until_exists(&done);
}

/// A `.cmd` step that times out keeps what it said before it was killed, as a failed one
/// does: in the error shown and in the journal. It kept nothing, so the reason it hung (a
/// lock it waited for, a prompt) was lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_cmd_step_keeps_the_end_of_its_output() {
    let s = Scenario::new(Platform::Sqlite);
    let plan_path = s.plan_with_announce(
        "hanging-output",
        "\necho 'partial progress'\necho 'waiting for the maintenance lock' >&2\nsleep 30\n",
    );
    let output = s.apply(&plan_path, &["--cmd-timeout", "1"]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(text.contains("timed out after 1 s"), "{text}");
    assert!(text.contains("waiting for the maintenance lock"), "{text}");
    assert!(text.contains("partial progress"), "{text}");
    let contents = s.db.dbpm_table_contents().await;
    assert!(
        contents.contains("waiting for the maintenance lock"),
        "{contents}"
    );
}

/// A password in the target URL reaches neither the plan, nor any output, nor dbpm's
/// tables — also when a `.cmd` step prints `$DBPM_TARGET_URL`, on success and on failure,
/// or the password percent-decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_in_the_url_is_stored_and_printed_nowhere() {
    const PASSWORD: &str = "Sup3r%40SecretPw";
    const DECODED: &str = "Sup3r@SecretPw";
    let s = Scenario::new(Platform::Postgres);
    let url = s.db.url_with_password(PASSWORD);
    let repo = copy_examples(&s.ctx, "leaky");
    fs_err::write(
        repo.join("billing/1.0.0/PREINSTALL/002.announce.cmd"),
        "echo \"target: $DBPM_TARGET_URL\"\necho \"$DBPM_TARGET_URL\" | cut -d: -f3\n\
         echo \"decoded: $(echo \"$DBPM_TARGET_URL\" | cut -d: -f3 | cut -d@ -f1 | sed 's/%40/@/g')\"\n",
    )
    .unwrap();
    fs_err::write(
        repo.join("billing/1.0.0/POSTINSTALL/001.notify.cmd"),
        "echo \"cannot notify $DBPM_TARGET_URL\" >&2\nexit 3\n",
    )
    .unwrap();
    let plan_path = s.ctx.path("plan.json");
    let mut outputs = vec![s.ctx.run(&[
        "plan",
        "--release",
        RELEASE_1,
        "--repo",
        &repo.display().to_string(),
        "--db",
        &url,
        "--out",
        &plan_path.display().to_string(),
    ])];
    assert!(outputs[0].status.success(), "{}", s.text(&outputs[0]));
    for more in [&[][..], &["--output", "json"][..]] {
        outputs.push(
            s.ctx
                .dbpm()
                .arg("apply")
                .arg(&plan_path)
                .args(["--db", &url])
                .args(more)
                .output()
                .unwrap(),
        );
    }
    let applied = s.text(&outputs[1]);
    // The failed POSTINSTALL is reported, not rolled back, and the exit code says so.
    assert_eq!(outputs[1].status.code(), Some(7), "{applied}");
    assert!(
        applied.contains("✗ billing@1.0.0/POSTINSTALL/001.notify"),
        "{applied}"
    );
    assert!(
        applied.contains("completed, but billing@1.0.0/POSTINSTALL/001.notify failed"),
        "{applied}"
    );
    // QA: `history` listed such a run as plainly completed.
    let history = s.ctx.run(&["history", "--db", &url]);
    let listed = s.text(&history);
    assert!(listed.contains("completed, POSTINSTALL failed"), "{listed}");
    let history = s.ctx.run(&["--output", "json", "history", "--db", &url]);
    let runs: serde_json::Value = serde_json::from_slice(&history.stdout).unwrap();
    assert_eq!(
        runs["runs"][0]["postinstall_failed"],
        serde_json::json!(["billing@1.0.0/POSTINSTALL/001.notify"]),
        "{runs}"
    );

    let plan_text = fs_err::read_to_string(&plan_path).unwrap();
    for secret in [PASSWORD, DECODED] {
        assert!(!plan_text.contains(secret), "{plan_text}");
        for output in &outputs {
            let text = s.text(output);
            assert!(!text.contains(secret), "{text}");
        }
    }
    let contents = s.db.dbpm_table_contents().await;
    for secret in [PASSWORD, DECODED] {
        assert!(!contents.contains(secret), "{contents}");
    }
    // The outputs were journaled, scrubbed rather than dropped.
    assert!(
        contents.contains("target: postgres://postgres:***@127.0.0.1"),
        "{contents}"
    );
    assert!(contents.contains("cannot notify postgres://postgres:***@"));
    assert!(contents.contains("decoded: ***"), "{contents}");
}

/// Two packages for the `.sys` tests, written under `dir`: `base` creates a table, and
/// `admin_setup` (which needs `base`) runs `sys_script` as its transactional
/// `PREINSTALL/001.setup.sys` on the admin connection (declared `mysql_transactional`, so DML
/// only on MariaDB) before its own table. Returns the release that wants both.
fn sys_packages(dir: &Path, sys_script: &str) -> String {
    let write = |path: &str, text: &str| write_under(dir, path, text);
    write(
        "packages/base/1.0.0/dbpm.toml",
        "[package]\nname = \"base\"\nversion = \"1.0.0\"\nplatforms = [\"postgres\", \"mysql\"]\n",
    );
    write(
        "packages/base/1.0.0/UPGRADE/001.tables.sql",
        "CREATE TABLE base_item (id INTEGER PRIMARY KEY);\n",
    );
    write(
        "packages/base/1.0.0/DOWNGRADE/001.tables.sql",
        "DROP TABLE IF EXISTS base_item;\n",
    );
    write(
        "packages/admin_setup/1.0.0/dbpm.toml",
        "[package]\nname = \"admin_setup\"\nversion = \"1.0.0\"\nplatforms = [\"postgres\", \"mysql\"]\n\n\
         [prerequisites]\nbase = \"^1\"\n\n\
         [scripts.\"PREINSTALL/001.setup\"]\nmysql_transactional = true\n",
    );
    write(
        "packages/admin_setup/1.0.0/PREINSTALL/001.setup.sys",
        sys_script,
    );
    write(
        "packages/admin_setup/1.0.0/UPGRADE/001.tables.sql",
        "CREATE TABLE admin_setup_item (id INTEGER PRIMARY KEY);\n",
    );
    write(
        "packages/admin_setup/1.0.0/DOWNGRADE/001.tables.sql",
        "DROP TABLE IF EXISTS admin_setup_item;\n",
    );
    write(
        "release.toml",
        "[packages]\nbase = \"1.0.0\"\nadmin_setup = \"1.0.0\"\n",
    );
    dir.join("release.toml").display().to_string()
}

/// The `.sys` step of [`sys_packages`].
const SYS_STEP: &str = "admin_setup@1.0.0/PREINSTALL/001.setup";

/// The first statements of the `.sys` script of the tests below: on PostgreSQL DDL and DML
/// (both transactional there), on MariaDB DML only (its DDL commits by itself). Each leaves a
/// trace that [`sys_traces`] counts.
fn sys_statements(platform: Platform) -> &'static str {
    match platform {
        Platform::Postgres => {
            "CREATE TABLE sys_marker (id INTEGER);\nINSERT INTO sys_audit (id) VALUES (1);\n"
        }
        Platform::Mysql | Platform::Sqlite => "INSERT INTO sys_audit (id) VALUES (1);\n",
    }
}

/// What the statements of [`sys_statements`] left: rows in `sys_audit`, and `sys_marker`
/// among the user objects.
async fn sys_traces(db: &TestDb) -> (i64, bool) {
    let marker = user_objects(db)
        .await
        .iter()
        .any(|o| o.ends_with("sys_marker"));
    (db.count("sys_audit").await, marker)
}

/// A transactional `.sys` script of several statements whose first ones succeed and whose
/// last fails runs inside a transaction on the admin connection: it leaves no trace of its
/// first statements, is journaled `failed`, and the run rolls back cleanly (exit 5,
/// `rolled_back`, the prerequisite's table dropped by its DOWNGRADE) to the schema and state
/// before. On MariaDB the script is DML only, where autocommit would otherwise keep the first
/// `INSERT`; PostgreSQL runs a script of several statements as one implicit transaction
/// anyway, so there this guards the outcome rather than the transaction (the crash test below
/// tells a transaction from none there).
async fn a_failing_transactional_sys_script_leaves_no_trace(platform: Platform) {
    let s = Scenario::new(platform);
    // A table outside dbpm that the `.sys` script writes to.
    s.db.execute("CREATE TABLE sys_audit (id INTEGER)").await;
    let before = schema(&s.db).await;
    let release = sys_packages(
        &s.ctx.path("sys"),
        &format!(
            "{}SELECT id FROM no_such_table;\n",
            sys_statements(platform)
        ),
    );
    let repo = s.ctx.path("sys/packages").display().to_string();
    let plan_path = s.plan(&release, &repo, false, "install.json");
    let plan = load_plan(&plan_path);
    let sys = plan
        .steps
        .iter()
        .find(|step| *step.id == *SYS_STEP)
        .unwrap();
    assert!(sys.kind == Kind::Sys && sys.transactional, "{sys:?}");

    let output = s.apply(&plan_path, &["--admin-db", &s.db.url]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(text.contains(SYS_STEP), "{text}");
    assert_eq!(sys_traces(&s.db).await, (0, false), "{text}");
    assert_same_schema(
        &before,
        &schema(&s.db).await,
        "after the failed `.sys` step",
    );
    assert!(versions(&s.db).await.is_empty());
    assert_eq!(runs(&s.db).await.last().unwrap().1, "rolled_back");
    let rows = journal(&s.db).await;
    let states = |id: &str| -> Vec<&str> {
        rows.iter()
            .filter(|(_, step, _)| step == id)
            .map(|(_, _, state)| state.as_str())
            .collect()
    };
    assert_eq!(states(SYS_STEP), ["failed"], "{rows:?}");
    assert_eq!(
        states("base@1.0.0/DOWNGRADE@none/001.tables~undo"),
        ["done"],
        "{rows:?}"
    );
    assert_nothing_done_twice(&s.db, &[&plan]).await;
}

/// An admin connection that cannot be opened (a mistyped `--admin-db`), or none, is found
/// before anything runs: not even dbpm's own tables are created, so the same command with
/// the right connection applies the plan whole. It used to fail at the `.sys` step, after
/// the steps before it, and leave that step in doubt (exit 6) though it never started.
async fn an_admin_connection_that_fails_is_found_before_anything_runs(platform: Platform) {
    let s = Scenario::new(platform);
    s.db.execute("CREATE TABLE sys_audit (id INTEGER)").await;
    let before = schema(&s.db).await;
    let release = sys_packages(&s.ctx.path("sys"), sys_statements(platform));
    let repo = s.ctx.path("sys/packages").display().to_string();
    let plan_path = s.plan(&release, &repo, false, "install.json");
    // None at all is refused as early.
    let output = s.apply(&plan_path, &[]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("the plan has 1 `.sys` step to run on an admin connection"),
        "{text}"
    );
    assert!(s.db.dbpm_tables().await.is_empty(), "{text}");
    let unreachable = "postgres://postgres@127.0.0.1:1/postgres";
    let output = s.apply(&plan_path, &["--admin-db", unreachable]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(s.db.dbpm_tables().await.is_empty(), "{text}");
    assert_same_schema(
        &before,
        &schema(&s.db).await,
        "after a failed admin connection",
    );
    let output = s.apply(&plan_path, &["--admin-db", &s.db.url]);
    assert_eq!(output.status.code(), Some(0), "{}", s.text(&output));
    assert_eq!(sys_traces(&s.db).await.0, 1);
}

/// An admin connection that stops opening mid-run (the admin server down, its role out of
/// connections) fails its `.sys` step before it starts: the step is journaled
/// `could_not_start`, nothing is in doubt, and the run rolls back what it did (exit 5), as
/// for a failed step. The message names the connection without its password. It read as
/// "interrupted", with advice about steps in doubt, and left the run unfinished.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_admin_connection_that_fails_mid_run_fails_its_step_before_it_starts() {
    const PASSWORD: &str = "Adm1nS3cret";
    let role = LimitedRole::named("dbpm_admin", 10);
    let s = Scenario::new(Platform::Postgres);
    let dir = s.ctx.path("sys");
    let release = sys_packages(&dir, "SELECT 1;\n");
    // The step before the `.sys` one runs long enough to take the admin role's connections.
    write_under(
        &dir,
        "packages/base/1.0.0/UPGRADE/001.tables.sql",
        "CREATE TABLE base_item (id INTEGER PRIMARY KEY);\nSELECT pg_sleep(3);\n",
    );
    let repo = dir.join("packages").display().to_string();
    let plan_path = s.plan(&release, &repo, false, "install.json");
    let admin = role.granted(&s.db).replacen(
        &format!("://{}@", role.name),
        &format!("://{}:{PASSWORD}@", role.name),
        1,
    );
    let child = s.spawn_apply(&plan_path, &["--admin-db", &admin]);
    let sleeping = "SELECT CAST(pid AS TEXT) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%pg_sleep(3)%'";
    let started = Instant::now();
    while s.db.texts(sleeping).await.is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the step before the `.sys` one never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    role.psql(
        &role.server,
        &format!("ALTER ROLE {} CONNECTION LIMIT 0", role.name),
    );
    let output = child.wait_with_output().unwrap();
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{text}");
    assert!(
        text.contains("could not start: the admin connection could not be opened"),
        "{text}"
    );
    assert!(text.contains(&format!("{}:***@", role.name)), "{text}");
    assert!(!text.contains(PASSWORD), "{text}");
    assert!(!text.contains("interrupted"), "{text}");
    assert!(!text.contains("in doubt"), "{text}");
    assert_eq!(runs(&s.db).await.last().unwrap().1, "rolled_back");
    let rows = journal(&s.db).await;
    let states: Vec<&str> = rows
        .iter()
        .filter(|(_, step, _)| step == SYS_STEP)
        .map(|(_, _, state)| state.as_str())
        .collect();
    assert_eq!(states, ["could_not_start"], "{rows:?}");
    let run = runs(&s.db).await.last().unwrap().0.clone();
    let history = s.ctx.run(&["history", "--db", &s.db.url, "--run", &run]);
    let text = s.text(&history);
    let line = text
        .lines()
        .find(|l| l.contains(SYS_STEP))
        .unwrap_or_default();
    assert!(line.starts_with("could not start "), "{text}");
    assert!(versions(&s.db).await.is_empty());
    assert!(
        !user_objects(&s.db)
            .await
            .iter()
            .any(|o| o.ends_with("base_item")),
        "{text}"
    );
    let contents = s.db.dbpm_table_contents().await;
    assert!(!contents.contains(PASSWORD), "{contents}");
}

/// A crash inside a transactional `.sys` step, after its script and before its commit on the
/// admin connection, leaves nothing of the script behind; and since that commit is not the
/// journal's, the step stays `started`: the resume stops with it in doubt (exit 6) rather
/// than take it for done or never run, and `--retry-in-doubt` runs it once more to the end.
async fn a_crash_inside_a_transactional_sys_step_leaves_it_in_doubt(platform: Platform) {
    let s = Scenario::new(platform);
    s.db.execute("CREATE TABLE sys_audit (id INTEGER)").await;
    let release = sys_packages(&s.ctx.path("sys"), sys_statements(platform));
    let repo = s.ctx.path("sys/packages").display().to_string();
    let plan_path = s.plan(&release, &repo, false, "install.json");
    let plan = load_plan(&plan_path);
    let admin = ["--admin-db", s.db.url.as_str()];

    let killed = apply_cmd(&s.ctx, &s.db, &plan_path, &admin)
        .env("DBPM_FAILPOINT", format!("kill-in:{SYS_STEP}"))
        .output()
        .unwrap();
    assert_eq!(killed.status.signal(), Some(SIGABRT), "{}", s.text(&killed));
    assert_eq!(sys_traces(&s.db).await, (0, false));
    let rows = journal(&s.db).await;
    assert!(
        rows.iter()
            .any(|(_, id, state)| id == SYS_STEP && state == "started"),
        "{rows:?}"
    );

    let stopped = s.apply(&plan_path, &admin);
    let text = s.text(&stopped);
    assert_eq!(stopped.status.code(), Some(6), "{text}");
    assert!(text.contains(SYS_STEP), "{text}");
    assert_eq!(runs(&s.db).await.last().unwrap().1, "in_doubt");

    let mut retry = admin.to_vec();
    retry.push("--retry-in-doubt");
    let retried = s.apply(&plan_path, &retry);
    assert_eq!(retried.status.code(), Some(0), "{}", s.text(&retried));
    assert_eq!(sys_traces(&s.db).await, (1, platform == Platform::Postgres));
    assert_eq!(versions(&s.db).await, ["admin_setup@1.0.0", "base@1.0.0"]);
    assert_nothing_done_twice(&s.db, &[&plan]).await;
}

/// `--output json`: stdout is one JSON object per line, the events and then the outcome.
async fn json_output_is_one_object_per_line(platform: Platform) {
    let s = Scenario::new(platform);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    let plan = load_plan(&install);
    let output = s.apply(&install, &["--output", "json"]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|line| {
            let value: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|err| panic!("not a JSON line: {line:?}: {err}\n{text}"));
            assert!(value.is_object(), "{line}");
            value
        })
        .collect();
    let events: Vec<&str> = lines
        .iter()
        .filter_map(|v| v.get("event").and_then(|e| e.as_str()))
        .collect();
    assert_eq!(events.first(), Some(&"run_started"), "{text}");
    assert_eq!(
        events.iter().filter(|e| **e == "step_done").count(),
        plan.steps.len(),
        "{text}"
    );
    let last = lines.last().unwrap();
    assert_eq!(last["outcome"], "completed", "{text}");
    assert_eq!(last["postinstall_failed"], serde_json::json!([]), "{text}");
    assert_eq!(
        lines.iter().filter(|v| v.get("outcome").is_some()).count(),
        1,
        "{text}"
    );
    let run = runs(&s.db).await.pop().unwrap().0;
    assert_eq!(last["run"], run.as_str());
}

mod lost_connections {
    //! A step's connection ended from outside (PostgreSQL's `pg_terminate_backend`, MariaDB's
    //! `KILL`): the servers under test keep running, as a test must not stop them.
    use dbpm::platform::Platform;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inside_a_step_the_run_stops_for_a_resume_on_postgres() {
        super::a_connection_lost_inside_a_step_stops_the_run_for_a_resume(Platform::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn inside_a_step_the_run_stops_for_a_resume_on_mysql() {
        super::a_connection_lost_inside_a_step_stops_the_run_for_a_resume(Platform::Mysql).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn holding_the_run_lock_stops_the_run_on_postgres() {
        super::a_lost_run_lock_stops_the_run_at_a_checkpoint(Platform::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn holding_the_run_lock_stops_the_run_on_mysql() {
        super::a_lost_run_lock_stops_the_run_at_a_checkpoint(Platform::Mysql).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn holding_the_run_lock_keeps_a_step_from_committing_twice_on_postgres() {
        super::a_step_cannot_commit_once_another_apply_has_claimed_its_run(Platform::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn holding_the_run_lock_keeps_a_step_from_committing_twice_on_mysql() {
        super::a_step_cannot_commit_once_another_apply_has_claimed_its_run(Platform::Mysql).await
    }
}

/// A package whose steps wait on the `pause` table (seconds by step, made by the test): a
/// non-transactional, non-idempotent `002.wait`, then a transactional `003.fill` that inserts
/// a row first (on MariaDB a DML step declared `mysql_transactional`).
fn pausing_package(dir: &Path) -> (String, String) {
    let write = |path: &str, text: &str| write_under(dir, path, text);
    write(
        "packages/pausing/1.0.0/dbpm.toml",
        "[package]\nname = \"pausing\"\nversion = \"1.0.0\"\nplatforms = [\"postgres\", \"mysql\"]\n\n\
         [scripts.\"UPGRADE/002.wait\"]\ntransaction = false\n\n\
         [scripts.\"UPGRADE/003.fill\"]\nmysql_transactional = true\n",
    );
    write(
        "packages/pausing/1.0.0/UPGRADE/001.made.sql",
        "CREATE TABLE made (id INTEGER);\n",
    );
    write(
        "packages/pausing/1.0.0/DOWNGRADE/001.made.sql",
        "DROP TABLE IF EXISTS made;\n",
    );
    for (name, step) in [("002.wait", "wait"), ("003.fill", "fill")] {
        let insert = if step == "fill" {
            "INSERT INTO made (id) VALUES (1);\n"
        } else {
            ""
        };
        write(
            &format!("packages/pausing/1.0.0/UPGRADE/{name}.postgres.sql"),
            &format!("{insert}SELECT pg_sleep(seconds) FROM pause WHERE step = '{step}';\n"),
        );
        write(
            &format!("packages/pausing/1.0.0/UPGRADE/{name}.mysql.sql"),
            &format!("{insert}SELECT SLEEP(seconds) FROM pause WHERE step = '{step}';\n"),
        );
        write(
            &format!("packages/pausing/1.0.0/DOWNGRADE/{name}.sql"),
            "DELETE FROM made;\n",
        );
    }
    write("release.toml", "[packages]\npausing = \"1.0.0\"\n");
    (
        dir.join("release.toml").display().to_string(),
        dir.join("packages").display().to_string(),
    )
}

/// The pausing package planned for `s`'s target, its steps waiting as `pauses` (the rows of
/// the `pause` table, `('wait', 6)`) says: the plan's path, and the plan.
async fn pausing_plan(s: &Scenario, pauses: &str) -> (PathBuf, Plan) {
    s.db.execute("CREATE TABLE pause (step VARCHAR(10), seconds INTEGER)")
        .await;
    s.db.execute(&format!("INSERT INTO pause VALUES {pauses}"))
        .await;
    let (release, repo) = pausing_package(&s.ctx.path("pausing"));
    let plan_path = s.plan(&release, &repo, false, "install.json");
    let plan = load_plan(&plan_path);
    (plan_path, plan)
}

/// Ends, from another session, the connection of the target that is waiting on `pause` as
/// soon as one is (within a minute); with `idle`, the target's idle connections instead (the
/// one holding the run lock among them), once a step waits on `pause`.
async fn end_the_pausing_connection(db: &TestDb, idle: bool) {
    let (pausing, idle_ones, end) = match db.platform {
        Platform::Postgres => (
            "SELECT CAST(pid AS TEXT) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%FROM pause%'",
            "SELECT CAST(pid AS TEXT) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle'",
            "SELECT CAST(pg_terminate_backend({}) AS TEXT)",
        ),
        _ => (
            "SELECT CAST(id AS CHAR) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID() AND info LIKE '%FROM pause%'",
            "SELECT CAST(id AS CHAR) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID() AND command = 'Sleep'",
            "KILL {}",
        ),
    };
    let started = Instant::now();
    loop {
        if let Some(id) = db.texts(pausing).await.first() {
            let ended = if idle {
                db.texts(idle_ones).await
            } else {
                vec![id.clone()]
            };
            assert!(!ended.is_empty(), "no idle connection");
            for id in ended {
                db.execute(&end.replace("{}", &id)).await;
            }
            return;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no step waited on `pause`"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The connection lost while a step runs is the target's failure, not the step's: the run
/// stops (exit 1) naming the step, rolls nothing back (on MariaDB it used to take the lost
/// connection for a failed script and roll the run back), and the same command resumes it:
/// a non-transactional step is in doubt (exit 6, `--retry-in-doubt` runs it again), a
/// transactional one was rolled back with its connection and runs again, each step done once.
async fn a_connection_lost_inside_a_step_stops_the_run_for_a_resume(platform: Platform) {
    let s = Scenario::new(platform);
    let (plan_path, plan) = pausing_plan(&s, "('wait', 60), ('fill', 60)").await;
    let interrupted = |more: &[&str]| s.spawn_apply(&plan_path, more);

    let child = interrupted(&[]);
    end_the_pausing_connection(&s.db, false).await;
    let lost = child.wait_with_output().unwrap();
    let text = s.text(&lost);
    let wait = "pausing@1.0.0/UPGRADE@none/002.wait";
    assert_eq!(lost.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::apply::step_interrupted"), "{text}");
    assert!(
        text.contains(&format!("step `{wait}` was interrupted")),
        "{text}"
    );
    assert!(!text.contains("rolling back"), "{text}");
    assert_eq!(runs(&s.db).await.last().unwrap().1, "running");
    assert_eq!(s.db.count("made").await, 0, "{text}");
    assert!(
        journal(&s.db)
            .await
            .iter()
            .any(|(_, step, state)| step == wait && state == "started"),
        "{text}"
    );

    s.db.execute("DELETE FROM pause WHERE step = 'wait'").await;
    let in_doubt = s.apply(&plan_path, &[]);
    let text = s.text(&in_doubt);
    assert_eq!(in_doubt.status.code(), Some(6), "{text}");
    assert!(text.contains(wait), "{text}");

    let child = interrupted(&["--retry-in-doubt"]);
    end_the_pausing_connection(&s.db, false).await;
    let lost = child.wait_with_output().unwrap();
    let text = s.text(&lost);
    assert_eq!(lost.status.code(), Some(1), "{text}");
    assert!(
        text.contains("step `pausing@1.0.0/UPGRADE@none/003.fill` was interrupted"),
        "{text}"
    );
    assert!(!text.contains("rolling back"), "{text}");
    // Its insert went with its transaction.
    assert_eq!(s.db.count("made").await, 0, "{text}");

    s.db.execute("DELETE FROM pause").await;
    let resumed = s.applied(&plan_path);
    assert!(s.text(&resumed).contains("resuming run"));
    assert_eq!(runs(&s.db).await.last().unwrap().1, "completed");
    assert_eq!(versions(&s.db).await, ["pausing@1.0.0"]);
    assert_eq!(s.db.count("made").await, 1);
    assert_nothing_done_twice(&s.db, &[&plan]).await;
}

/// The connection holding the run lock ends while a step runs (ended from outside here; a
/// server's idle timeout or a firewall does the same to a connection idle for a whole run):
/// the lock is gone, and another dbpm could take it. The run starts no further step, writes
/// no outcome, and stops (exit 1, `dbpm::target::lock_lost`); the same command resumes it.
/// It used to go on to the end without the lock and record the run completed.
async fn a_lost_run_lock_stops_the_run_at_a_checkpoint(platform: Platform) {
    let s = Scenario::new(platform);
    let (plan_path, plan) = pausing_plan(&s, "('wait', 6)").await;
    let child = s.spawn_apply(&plan_path, &[]);
    end_the_pausing_connection(&s.db, true).await;
    let lost = child.wait_with_output().unwrap();
    let text = s.text(&lost);
    assert_eq!(lost.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::target::lock_lost"), "{text}");
    assert_eq!(runs(&s.db).await.last().unwrap().1, "running", "{text}");
    let fill = "pausing@1.0.0/UPGRADE@none/003.fill";
    assert!(
        !journal(&s.db).await.iter().any(|(_, step, _)| step == fill),
        "{text}"
    );

    let resumed = s.applied(&plan_path);
    assert!(s.text(&resumed).contains("resuming run"));
    assert_eq!(runs(&s.db).await.last().unwrap().1, "completed");
    assert_eq!(s.db.count("made").await, 1);
    assert_nothing_done_twice(&s.db, &[&plan]).await;
}

/// The connection holding the run lock ends while a transactional step runs, and another
/// apply takes the lock and resumes the run before that step ends: it runs the step itself,
/// so the first apply must not commit the step too. Its commit finds the run claimed by the
/// other apply, rolls back and stops (exit 1: the step was interrupted, the run lock lost);
/// the step is done once. It used to commit the step, and the other apply's commit of it
/// then collided with its journal entry: that apply rolled the whole run back.
async fn a_step_cannot_commit_once_another_apply_has_claimed_its_run(platform: Platform) {
    let s = Scenario::new(platform);
    let (plan_path, plan) = pausing_plan(&s, "('fill', 4)").await;
    let first = s.spawn_apply(&plan_path, &[]);
    // While `003.fill` runs: its apply's lock is gone, and another apply takes over.
    end_the_pausing_connection(&s.db, true).await;
    let second = s.applied(&plan_path);
    assert!(
        s.text(&second).contains("resuming run"),
        "{}",
        s.text(&second)
    );
    let first = first.wait_with_output().unwrap();
    let text = s.text(&first);
    assert_eq!(first.status.code(), Some(1), "{text}");
    assert!(
        text.contains("dbpm::apply::step_interrupted") && text.contains("lost the run lock"),
        "{text}"
    );
    assert_eq!(runs(&s.db).await.last().unwrap().1, "completed");
    assert_eq!(s.db.count("made").await, 1, "{text}");
    assert_nothing_done_twice(&s.db, &[&plan]).await;
}

/// A second Ctrl-C (or SIGTERM) exits at once rather than wait for a long step, as a crash
/// would: exit 1, the step left started in the journal, and the same command resumes (the
/// non-transactional step is then in doubt). Both signals used to be one request, so a step
/// of an hour could only be stopped with SIGKILL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_stop_request_exits_without_waiting_for_the_running_step() {
    let s = Scenario::new(Platform::Postgres);
    let (plan_path, plan) = pausing_plan(&s, "('wait', 60)").await;
    let mut child = s.spawn_apply(&plan_path, &[]);
    let started = Instant::now();
    while s
        .db
        .texts("SELECT CAST(pid AS TEXT) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'active' AND query LIKE '%FROM pause%'")
        .await
        .is_empty()
    {
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let pid = child.id().to_string();
    let signal = |name: &str| {
        let sent = Command::new("kill").args([name, &pid]).status().unwrap();
        assert!(sent.success());
    };
    signal("-INT");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "the first request exits"
    );
    signal("-TERM");
    let asked = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if asked.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("still running 20 s after the second request");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let output = child.wait_with_output().unwrap();
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("exiting now"), "{text}");
    let wait = "pausing@1.0.0/UPGRADE@none/002.wait";
    assert!(
        journal(&s.db)
            .await
            .iter()
            .any(|(_, step, state)| step == wait && state == "started"),
        "{text}"
    );

    s.db.execute("DELETE FROM pause").await;
    let in_doubt = s.apply(&plan_path, &[]);
    assert_eq!(in_doubt.status.code(), Some(6), "{}", s.text(&in_doubt));
    s.applied_with(&plan_path, &["--retry-in-doubt"]);
    assert_eq!(runs(&s.db).await.last().unwrap().1, "completed");
    assert_eq!(s.db.count("made").await, 1);
    assert_nothing_done_twice(&s.db, &[&plan]).await;
}

/// Waits (a minute at most) until `query`, which lists a step's statement on the server,
/// finds it running.
async fn until_running(db: &TestDb, query: &str) {
    let started = Instant::now();
    while db.texts(query).await.is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the step never ran"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Sends `child` (an apply) Ctrl-C twice and waits for it to exit, 20 s at most.
async fn interrupted_twice(mut child: std::process::Child) -> Output {
    let pid = child.id().to_string();
    for _ in 0..2 {
        let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
        assert!(sent.success());
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    }
    let asked = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if asked.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            panic!("still running 20 s after the second Ctrl-C");
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.wait_with_output().unwrap()
}

/// After a second Ctrl-C exits dbpm, the PostgreSQL server ends the step's statement within
/// a few seconds rather than run it to its end: the step is in doubt, and a `--retry-in-doubt`
/// must not run it again beside a copy still running. The backend used to run on for the
/// whole minute of its `pg_sleep`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_ends_the_running_statement_on_the_server() {
    let s = Scenario::new(Platform::Postgres);
    let (plan_path, plan) = pausing_plan(&s, "('wait', 60)").await;
    let child = s.spawn_apply(&plan_path, &[]);
    let pausing = "SELECT CAST(pid AS TEXT) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE '%FROM pause%' AND query NOT LIKE '%pg_stat_activity%'";
    until_running(&s.db, pausing).await;
    let output = interrupted_twice(child).await;
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let exited = Instant::now();
    while !s.db.texts(pausing).await.is_empty() {
        assert!(
            exited.elapsed() < std::time::Duration::from_secs(20),
            "the step's statement still runs on the server 20 s after dbpm exited: {text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    s.db.execute("DELETE FROM pause").await;
    s.applied_with(&plan_path, &["--retry-in-doubt"]);
    assert_eq!(runs(&s.db).await.last().unwrap().1, "completed");
    assert_nothing_done_twice(&s.db, &[&plan]).await;
}

/// After a second Ctrl-C exits dbpm, MariaDB ends the step's statement (dbpm asks with
/// `KILL QUERY` from a connection of its own): a statement that keeps the server busy, which
/// no check for the gone client interrupts (unlike `SLEEP` or a lock wait), used to run on to
/// its end, beside a `--retry-in-doubt` that would run its step again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_ctrl_c_ends_a_busy_statement_on_mysql() {
    let s = Scenario::new(Platform::Mysql);
    let (plan_path, busy) = busy_step(&s);
    let child = s.spawn_apply(&plan_path, &[]);
    until_running(&s.db, busy).await;
    let output = interrupted_twice(child).await;
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    let exited = Instant::now();
    loop {
        let running = s.db.texts(busy).await;
        if running.is_empty() {
            break;
        }
        if exited.elapsed() > std::time::Duration::from_secs(20) {
            // Not left to burn the server's time for the tests after this one.
            for id in running {
                s.db.execute(&format!("KILL {id}")).await;
            }
            panic!("the step's statement still runs on the server 20 s after dbpm exited: {text}");
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// `--no-kill-query` leaves the step's statement to run out after a second Ctrl-C (behind a
/// proxy, the connection id dbpm would end may be another session's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_kill_query_leaves_the_busy_statement_to_its_server() {
    let s = Scenario::new(Platform::Mysql);
    let (plan_path, busy) = busy_step(&s);
    let child = s.spawn_apply(&plan_path, &["--no-kill-query"]);
    until_running(&s.db, busy).await;
    let output = interrupted_twice(child).await;
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let running = s.db.texts(busy).await;
    // Not left to burn the server's time for the tests after this one.
    for id in &running {
        s.db.execute(&format!("KILL {id}")).await;
    }
    assert_eq!(running.len(), 1, "{text}");
}

/// The plan of a package whose one step keeps a MySQL/MariaDB server busy (no check for a
/// gone client interrupts it), and a query for the ids of the connections running it.
fn busy_step(s: &Scenario) -> (PathBuf, &'static str) {
    let (release, repo) = one_package(
        &s.ctx,
        "busy",
        "\"mysql\"",
        [
            (
                "UPGRADE/001.work.sql",
                "SELECT BENCHMARK(50000000000, MD5('dbpm_busy_step'));\n",
            ),
            ("DOWNGRADE/001.work.sql", "SELECT 1;\n"),
        ],
    );
    let plan_path = s.plan(&release, &repo, false, "install.json");
    let busy = "SELECT CAST(id AS CHAR) FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND info LIKE '%dbpm_busy_step%' AND info NOT LIKE '%processlist%'";
    (plan_path, busy)
}

/// The run lock of a SQLite database is a file beside it: when that file cannot be made (a
/// directory the user may not write to; here, a directory in its place), the error says what
/// the file is for and that nothing ran, not only that some unknown file failed to open.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sqlite_lock_file_that_cannot_be_made_is_explained() {
    let s = Scenario::new(Platform::Sqlite);
    let plan_path = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    let file = s.db.sqlite_file();
    let mut lock = file.as_os_str().to_owned();
    lock.push(".dbpm-lock");
    fs_err::create_dir_all(&lock).unwrap();
    let output = s.apply(&plan_path, &[]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::target::lock_file"), "{text}");
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(words.contains("run lock on this file beside it"), "{text}");
    assert!(installed(&s.db).await.packages.is_empty(), "{text}");
}

/// A step connection waiting unused while a long step runs beside it is closed by the
/// server's `idle_session_timeout` (MySQL's `wait_timeout`, a proxy or a firewall do the
/// same): the next step must not be run on it. It used to be, and the run stopped
/// (exit 1) at that step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_connection_closed_while_idle_is_not_reused() {
    let s = Scenario::new(Platform::Postgres);
    s.db.execute(&format!(
        "ALTER DATABASE \"{}\" SET idle_session_timeout = '3s'",
        s.db.name
    ))
    .await;
    // `001.quick` and `001.slow` run side by side; `002.*` need two connections again.
    let scripts = [
        ("001.quick", "CREATE TABLE quick (x INTEGER);"),
        (
            "001.slow",
            "CREATE TABLE slow (x INTEGER); SELECT pg_sleep(5);",
        ),
        ("002.one", "CREATE TABLE one (x INTEGER);"),
        ("002.two", "CREATE TABLE two (x INTEGER);"),
    ]
    .into_iter()
    .flat_map(|(name, text)| {
        let table = name.split('.').nth(1).unwrap();
        [
            (format!("UPGRADE/{name}.sql"), text.to_owned()),
            (
                format!("DOWNGRADE/{name}.sql"),
                format!("DROP TABLE IF EXISTS {table};"),
            ),
        ]
    });
    let (release, repo) = one_package(&s.ctx, "beside", "\"postgres\"", scripts);
    let plan_path = s.plan(&release, &repo, false, "install.json");
    s.applied(&plan_path);
    assert_eq!(versions(&s.db).await, ["beside@1.0.0"]);
}

/// SIGTERM (what systemd and Kubernetes send) stops like Ctrl-C: the running step finishes,
/// the run is recorded as stopped (exit 1) with a message that names both requests (it named
/// only Ctrl-C, which a service's log reader never pressed), and the same command resumes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_at_a_checkpoint_like_ctrl_c() {
    let s = Scenario::new(Platform::Sqlite);
    let (child, plan_path) = signalled_while_a_step_runs(&s, 1, "-TERM");
    let output = child.wait_with_output().unwrap();
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("stopped on request (Ctrl-C, SIGTERM or SIGHUP)"),
        "{text}"
    );
    assert_eq!(runs(&s.db).await.last().unwrap().1, "stopped");
    let resumed = s.applied(&plan_path);
    assert!(s.text(&resumed).contains("resuming run"));
    assert_eq!(runs(&s.db).await.last().unwrap().1, "completed");
    assert_nothing_done_twice(&s.db, &[&load_plan(&plan_path)]).await;
}

/// A lost ssh session (SIGHUP, sent twice: by the kernel and by the shell that ends, and the
/// terminal gone, so writing progress fails) stops like SIGTERM: the running step finishes,
/// the run is recorded as stopped (exit 1), and the same command resumes it. SIGHUP used to
/// kill dbpm mid-run, as a crash would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hangup_with_the_terminal_gone_stops_at_a_checkpoint() {
    let s = Scenario::new(Platform::Sqlite);
    let (mut child, plan_path) = while_a_step_runs(&s, 2);
    // Where the progress went is gone: every later write to it fails.
    drop(child.stdout.take());
    drop(child.stderr.take());
    for _ in 0..2 {
        let kill = Command::new("kill")
            .args(["-HUP", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(kill.success());
    }
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert_eq!(runs(&s.db).await.last().unwrap().1, "stopped");
    let announce = "billing@1.1.0/PREINSTALL/002.announce";
    let journal = journal(&s.db).await;
    assert!(
        journal
            .iter()
            .any(|(_, step, state)| step == announce && state == "done"),
        "{journal:?}"
    );
    let resumed = s.applied(&plan_path);
    assert!(s.text(&resumed).contains("resuming run"));
    assert_eq!(runs(&s.db).await.last().unwrap().1, "completed");
    assert_nothing_done_twice(&s.db, &[&load_plan(&plan_path)]).await;
}

/// A run started under `nohup` is meant to outlive its terminal: SIGHUP stays ignored, and the
/// run goes on to its end (it stopped at the next checkpoint, as for a lost terminal).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_under_nohup_goes_on_after_a_hangup() {
    let s = Scenario::new(Platform::Sqlite);
    let (plan_path, ready) = slow_plan(&s, 2);
    let apply = apply_cmd(&s.ctx, &s.db, &plan_path, &[]);
    let mut nohup = Command::new("nohup");
    nohup.arg(apply.get_program()).args(apply.get_args());
    for (key, value) in apply.get_envs() {
        match value {
            Some(value) => nohup.env(key, value),
            None => nohup.env_remove(key),
        };
    }
    if let Some(dir) = apply.get_current_dir() {
        nohup.current_dir(dir);
    }
    let child = nohup
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    until_exists(&ready);
    let kill = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let output = child.wait_with_output().unwrap();
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(!text.contains("stopping"), "{text}");
    assert_eq!(runs(&s.db).await.last().unwrap().1, "completed");
}

/// A login role of the PostgreSQL test server that may hold at most `limit` connections at
/// once (a connection limit's usual place in production), dropped with the guard: declare it
/// before the databases it is granted on, which must go first.
struct LimitedRole {
    name: String,
    server: String,
}

impl LimitedRole {
    fn new(limit: u32) -> LimitedRole {
        LimitedRole::named("dbpm_limited", limit)
    }

    /// A role named `prefix` and this process's id: one per test that uses it.
    fn named(prefix: &str, limit: u32) -> LimitedRole {
        let server = std::env::var("DBPM_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let name = format!("{prefix}_{}", std::process::id());
        let role = LimitedRole { name, server };
        role.psql(
            &role.server,
            &format!(
                "SET client_min_messages = warning; DROP ROLE IF EXISTS {0}; CREATE ROLE {0} LOGIN CONNECTION LIMIT {limit}",
                role.name
            ),
        );
        role
    }

    /// `db`'s URL with this role as its user, after granting it the database.
    fn granted(&self, db: &TestDb) -> String {
        self.psql(
            &db.url,
            &format!(
                "GRANT ALL ON DATABASE \"{}\" TO {1}; GRANT ALL ON SCHEMA public TO {1}",
                db.name, self.name
            ),
        );
        self.url_for(db)
    }

    /// `db`'s URL with this role as its user.
    fn url_for(&self, db: &TestDb) -> String {
        let (scheme, rest) = db.url.split_once("://").unwrap();
        let (_, host) = rest.split_once('@').unwrap();
        format!("{scheme}://{}@{host}", self.name)
    }

    fn psql(&self, url: &str, sql: &str) {
        let status = Command::new("psql")
            .args(["-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
            .status()
            .unwrap();
        assert!(status.success(), "psql: {sql}");
    }
}

impl Drop for LimitedRole {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args(["-q", "-d", &self.server, "-c"])
            .arg(format!("DROP ROLE IF EXISTS {}", self.name))
            .status();
    }
}

/// A target that gives fewer connections than `--jobs` asks for (a user's or the server's
/// connection limit, a pooler) runs its steps on the connections it gives: the run broke off
/// at the first connection refused, ending the steps running beside it, and every resume
/// broke off the same way, with advice to check that the server runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_run_on_the_connections_a_limited_target_gives() {
    // The run lock's connection and one for steps.
    let role = LimitedRole::new(2);
    let s = Scenario::new(Platform::Postgres);
    let url = role.granted(&s.db);
    let rows = (1..=4).flat_map(|n| {
        [
            (
                format!("UPGRADE/002.row{n}.sql"),
                format!("SELECT pg_sleep(0.2); INSERT INTO wide VALUES ({n});"),
            ),
            (
                format!("DOWNGRADE/002.row{n}.sql"),
                format!("DELETE FROM wide WHERE n = {n};"),
            ),
        ]
    });
    let table = [
        ("UPGRADE/001.t.sql", "CREATE TABLE wide (n INTEGER);"),
        ("DOWNGRADE/001.t.sql", "DROP TABLE IF EXISTS wide;"),
    ]
    .map(|(path, text)| (path.to_owned(), text.to_owned()));
    let (release, repo) = one_package(
        &s.ctx,
        "wide",
        "\"postgres\"",
        table.into_iter().chain(rows),
    );
    let plan = s.ctx.path("wide.json");
    let planned = s.ctx.run(&[
        "plan",
        "--release",
        &release,
        "--repo",
        &repo,
        "--db",
        &url,
        "--out",
        &plan.display().to_string(),
    ]);
    assert!(planned.status.success(), "{}", s.text(&planned));
    let output = s
        .ctx
        .dbpm()
        .args([
            "apply",
            &plan.display().to_string(),
            "--db",
            &url,
            "--jobs",
            "4",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", s.text(&output));
    assert_eq!(s.db.count("wide").await, 4);
    assert_nothing_done_twice(&s.db, &[&load_plan(&plan)]).await;
}

/// A plan of one package `NAME` that makes the table `NAME_t`, made from `url`'s state.
fn plan_of_one_table(s: &Scenario, name: &str, url: &str) -> String {
    let table = [
        (
            "UPGRADE/001.t.sql".to_owned(),
            format!("CREATE TABLE {name}_t (n INTEGER);"),
        ),
        (
            "DOWNGRADE/001.t.sql".to_owned(),
            format!("DROP TABLE IF EXISTS {name}_t;"),
        ),
    ];
    let (release, repo) = one_package(&s.ctx, name, "\"postgres\"", table);
    let plan = s.ctx.path(&format!("{name}.json")).display().to_string();
    let args = [
        "plan",
        "--release",
        &release,
        "--repo",
        &repo,
        "--db",
        url,
        "--out",
        &plan,
    ];
    let planned = s.ctx.run(&args);
    assert!(planned.status.success(), "{}", s.text(&planned));
    plan
}

/// QA: every apply ran `CREATE SCHEMA IF NOT EXISTS dbpm`, which PostgreSQL refuses to a
/// role without the right to create schemas in the database even when the schema is there:
/// a deploy role granted dbpm's tables and its own schema could plan, but never apply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_role_that_may_not_create_schemas_applies_where_the_state_is() {
    let apply = |s: &Scenario, plan: &str, url: &str| {
        let output = s.ctx.run(&["apply", plan, "--db", url]);
        assert_eq!(output.status.code(), Some(0), "{}", s.text(&output));
    };
    // An administrator makes dbpm's state, then grants it and a schema to the deploy role.
    let role = LimitedRole::named("dbpm_deploy", 10);
    let s = Scenario::new(Platform::Postgres);
    apply(&s, &plan_of_one_table(&s, "first", &s.db.url), &s.db.url);
    role.psql(
        &s.db.url,
        &format!(
            "GRANT USAGE, CREATE ON SCHEMA public TO {0}; GRANT USAGE ON SCHEMA dbpm TO {0}; \
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA dbpm TO {0}",
            role.name
        ),
    );
    let deploy = role.url_for(&s.db);
    apply(&s, &plan_of_one_table(&s, "second", &deploy), &deploy);
    assert_eq!(s.db.count("second_t").await, 0);

    // An administrator may as well only make dbpm's schema, empty, for the role.
    let role = LimitedRole::named("dbpm_first", 10);
    let s = Scenario::new(Platform::Postgres);
    role.psql(
        &s.db.url,
        &format!(
            "CREATE SCHEMA dbpm AUTHORIZATION {0}; GRANT USAGE, CREATE ON SCHEMA public TO {0}",
            role.name
        ),
    );
    let deploy = role.url_for(&s.db);
    apply(&s, &plan_of_one_table(&s, "first", &deploy), &deploy);
    assert_eq!(s.db.count("first_t").await, 0);
}

/// A `.cmd` step that prints without end (a `pg_dump` to its standard output) keeps dbpm's
/// memory bounded: its output was read whole, then cut (800 MB of it took 2.3 GB), so the
/// machine applying the plan ran out of memory mid-run. Here dbpm may use 1 GB of address
/// space (it needs less than half of that) while the step prints 500 MB, which took more
/// than that to hold; the journal keeps the start of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cmd_step_that_prints_without_end_keeps_memory_bounded() {
    let s = Scenario::new(Platform::Sqlite);
    let plan_path = s.plan_with_announce("chatty", "\nyes | head -c 500000000\n");
    let output = Command::new("sh")
        .args(["-c", "ulimit -v 1000000 && exec \"$0\" \"$@\""])
        .arg(env!("CARGO_BIN_EXE_dbpm"))
        .args(["apply", &plan_path.display().to_string(), "--db", &s.db.url])
        .env("NO_COLOR", "1")
        .env_remove("DBPM_FAILPOINT")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", s.text(&output));
    let kept =
        s.db.texts(&format!(
            "SELECT output FROM {} WHERE step_id = 'billing@1.1.0/PREINSTALL/002.announce'",
            s.db.state_table("journal")
        ))
        .await;
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(
        kept[0].starts_with("billing: preinstall\ny\n"),
        "{}",
        &kept[0][..40]
    );
    assert!(kept[0].ends_with("[output cut]"));
}

/// Ctrl-C while another run keeps the run lock gives up the wait at once (exit 1): the wait
/// went on, and once the other run ended, the stopped apply recorded a run of its plan that
/// stopped before its first step, which held the target (`other_run`) until someone resumed
/// it or rolled it back.
async fn a_stop_while_waiting_for_the_run_lock_gives_up_and_records_nothing(platform: Platform) {
    let s = Scenario::new(platform);
    let (mut first, _) = while_a_step_runs(&s, 4);
    // Another plan, of a package the first run does not touch: not stale once that ends.
    let (release, repo) = one_package(
        &s.ctx,
        "solo",
        "\"postgres\", \"mysql\", \"sqlite\"",
        [
            ("UPGRADE/001.t.sql", "CREATE TABLE solo (n INTEGER);"),
            ("DOWNGRADE/001.t.sql", "DROP TABLE solo;"),
        ],
    );
    let solo = s.plan(&release, &repo, false, "solo.json");
    let second = s.spawn_apply(&solo, &["--lock-timeout", "30"]);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let kill = Command::new("kill")
        .args(["-INT", &second.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let second = second.wait_with_output().unwrap();
    let text = s.text(&second);
    assert_eq!(second.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::apply::stopped_before_run"), "{text}");
    assert!(
        first.try_wait().unwrap().is_none(),
        "the stopped apply waited for the lock: {text}"
    );

    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", s.text(&first));
    assert_eq!(runs(&s.db).await.len(), 1, "{:?}", runs(&s.db).await);
    s.applied(&solo);
}

/// A target whose dbpm state lacks a table (dropped by hand, left out of a restore) is
/// refused before a run is recorded (`dbpm::target::state_corrupt`, naming the table): the
/// run was recorded, then failed on the missing journal, and stayed unfinished, holding the
/// target, with `status` failing on it too.
async fn a_state_missing_a_table_is_refused_before_a_run_is_recorded(platform: Platform) {
    let s = Scenario::new(platform);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let uninstall = s.plan(&empty_release(&s.ctx), EXAMPLES, true, "uninstall.json");
    s.db.execute(&format!("DROP TABLE {}", s.db.state_table("journal")))
        .await;
    let output = s.apply(&uninstall, &[]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::target::state_corrupt"), "{text}");
    assert!(text.contains("journal"), "{text}");
    assert_eq!(runs(&s.db).await.len(), 1);
    let status = s.ctx.run(&["status", "--db", &s.db.url]);
    assert!(status.status.success(), "{}", s.text(&status));
}

/// Runs `command` and asserts that it refuses the target's state as corrupt, naming `table`
/// (`case` says what was done to the state).
fn refused_as_corrupt(s: &Scenario, command: &[&str], table: &str, case: &str) {
    let output = s.ctx.run(command);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(1), "{case}, {command:?}: {text}");
    assert!(text.contains("dbpm::target::state_corrupt"), "{text}");
    assert!(text.contains(table), "{text}");
}

/// A target whose dbpm state lacks one of its other tables is refused as corrupt, naming the
/// table, by the commands that read it: the driver's "no such table" was shown as a failed
/// read, without saying what it meant or what to do.
async fn a_state_missing_another_table_reads_as_corrupt(platform: Platform) {
    let s = Scenario::new(platform);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let url = s.db.url.as_str();
    let cases: [(&str, &[&[&str]]); 3] = [
        (
            "runs",
            &[&["status", "--db", url], &["history", "--db", url]],
        ),
        (
            "installed_packages",
            &[&["status", "--db", url], &["state", "export", "--db", url]],
        ),
        (
            "script_texts",
            &[&["status", "--db", url], &["state", "export", "--db", url]],
        ),
    ];
    for (table, commands) in cases {
        let name = s.db.state_table(table);
        let (kept, back) = match platform {
            Platform::Postgres => (format!("{table}_kept"), table.to_owned()),
            _ => (format!("{name}_kept"), name.clone()),
        };
        s.db.execute(&format!("ALTER TABLE {name} RENAME TO {kept}"))
            .await;
        for command in commands {
            refused_as_corrupt(&s, command, table, table);
        }
        let renamed = s.db.state_table(&format!("{table}_kept"));
        s.db.execute(&format!("ALTER TABLE {renamed} RENAME TO {back}"))
            .await;
    }
    let status = s.ctx.run(&["status", "--db", url]);
    assert!(status.status.success(), "{}", s.text(&status));
}

/// A target whose dbpm state lacks its `meta` table (which says the state's layout) but has
/// the others, or whose `meta` table lost its rows, is refused as corrupt, naming the table,
/// by every command that reads the state and by `apply`: they read it as a target dbpm was
/// never in, so `status` said nothing was installed and a plan installed everything again.
async fn a_state_missing_its_meta_table_reads_as_corrupt_not_as_empty(platform: Platform) {
    let s = Scenario::new(platform);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let meta = s.db.state_table("meta");
    for damage in [format!("DELETE FROM {meta}"), format!("DROP TABLE {meta}")] {
        s.db.execute(&damage).await;
        let url = s.db.url.as_str();
        let install = install.display().to_string();
        let commands: [&[&str]; 5] = [
            &["status", "--db", url],
            &["state", "export", "--db", url],
            &["history", "--db", url],
            &[
                "plan",
                "--release",
                RELEASE_1,
                "--repo",
                EXAMPLES,
                "--db",
                url,
            ],
            &["apply", &install, "--db", url],
        ];
        for command in commands {
            refused_as_corrupt(&s, command, "meta", &damage);
        }
    }
    assert_eq!(runs(&s.db).await.len(), 1);
    // The refused `apply` made nothing, not even the `meta` table (MySQL commits DDL at once).
    let tables = s.db.dbpm_tables().await;
    assert!(
        !tables
            .iter()
            .any(|table| table == "meta" || table == "dbpm_meta"),
        "{tables:?}"
    );
}

/// `status` while another dbpm creates the state on MariaDB: its read's snapshot predates the
/// tables made after `meta` (held here by a lock until they exist), which MariaDB then
/// refuses to read ("Table definition has changed", 1412). Nothing can be installed yet: it
/// reads as a target dbpm was never in, not as an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_being_created_reads_as_empty_under_an_older_snapshot() {
    use sqlx::Connection as _;
    let s = Scenario::new(Platform::Mysql);
    s.db.execute(
        "CREATE TABLE dbpm_meta (version BIGINT NOT NULL PRIMARY KEY, description LONGTEXT NOT NULL, applied_at VARCHAR(40) NOT NULL, applied_by VARCHAR(64) NOT NULL)",
    )
    .await;
    let mut creator = sqlx::MySqlConnection::connect(&s.db.url).await.unwrap();
    sqlx::raw_sql("LOCK TABLES dbpm_meta WRITE")
        .execute(&mut creator)
        .await
        .unwrap();
    let status = s
        .ctx
        .dbpm()
        .args(["status", "--db", &s.db.url])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // `status` takes its snapshot, then waits for `meta`.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    s.db.execute("CREATE TABLE dbpm_installed_packages (x INT)")
        .await;
    s.db.execute("CREATE TABLE dbpm_runs (x INT)").await;
    sqlx::raw_sql("UNLOCK TABLES")
        .execute(&mut creator)
        .await
        .unwrap();
    let output = status.wait_with_output().unwrap();
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("dbpm was never used there"), "{text}");
}

/// A table of the user's whose name differs from one of dbpm's only in case (`DBPM_RUNS`,
/// a table of its own on MariaDB, whose catalog matches names without regard to case) is not
/// taken for a part of dbpm's state: the target reads as one dbpm was never in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_table_named_like_dbpms_in_capitals_is_not_dbpms_state() {
    let s = Scenario::new(Platform::Mysql);
    s.db.execute("CREATE TABLE DBPM_RUNS (x INT)").await;
    let output = s.ctx.run(&["status", "--db", &s.db.url]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("dbpm was never used there"), "{text}");
}

/// A MySQL user without privileges on `dbpm_meta` is told so, not that the state lost its
/// `meta` table, nor (without privileges on any of dbpm's tables) that dbpm was never used
/// there: MySQL's catalog leaves out the tables a user may not read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_who_may_not_read_the_meta_table_is_told_so_not_that_the_state_is_corrupt() {
    let s = Scenario::new(Platform::Mysql);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    s.db.execute("CREATE TABLE app_table (x INT)").await;
    let password = "n0t-shown-9";
    let tables = s.db.dbpm_tables().await;
    for (case, granted) in [("others", "dbpm_"), ("none", "app_")] {
        let user = format!("{}_{case}", s.db.name);
        s.db.execute(&format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'"
        ))
        .await;
        for table in tables.iter().map(String::as_str).chain(["app_table"]) {
            if table != "dbpm_meta" && table.starts_with(granted) {
                s.db.execute(&format!(
                    "GRANT SELECT ON `{}`.`{table}` TO '{user}'@'%'",
                    s.db.name
                ))
                .await;
            }
        }
        let url =
            s.db.url_with_password(password)
                .replacen("root:", &format!("{user}:"), 1);
        let output = s.ctx.run(&["status", "--db", &url]);
        let text = s.text(&output);
        s.db.execute(&format!("DROP USER '{user}'@'%'")).await;
        assert_eq!(output.status.code(), Some(1), "{case}: {text}");
        assert!(text.contains("dbpm::target::denied"), "{case}: {text}");
        assert!(text.contains("dbpm_meta"), "{case}: {text}");
        assert!(text.contains("grant the user"), "{case}: {text}");
        assert!(!text.contains(password), "{case}: {text}");
    }
}

/// A PostgreSQL user without the use of the `dbpm` schema is told to be granted it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_user_without_dbpms_schema_is_told_to_be_granted_it() {
    let s = Scenario::new(Platform::Postgres);
    let install = s.plan(RELEASE_1, EXAMPLES, false, "install.json");
    s.applied(&install);
    let user = format!("{}_ro", s.db.name);
    s.db.execute(&format!("CREATE ROLE {user} LOGIN")).await;
    let url = s.db.url.replacen("postgres@", &format!("{user}@"), 1);
    let output = s.ctx.run(&["status", "--db", &url]);
    let text = s.text(&output);
    s.db.execute(&format!("DROP ROLE {user}")).await;
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("dbpm::target::denied"), "{text}");
    assert!(text.contains("permission denied for schema dbpm"), "{text}");
    assert!(text.contains("grant the user"), "{text}");
}

/// `--cmd-timeout 0` is refused before anything runs: taken elsewhere for "no limit", it
/// timed every `.cmd` step out at once, failing the run.
#[test]
fn a_cmd_timeout_of_zero_is_refused() {
    let ctx = TestContext::new();
    let db = format!("sqlite://{}", ctx.path("t.db").display());
    let output = ctx.run(&["apply", "plan.json", "--db", &db, "--cmd-timeout", "0"]);
    let text = transcript(&output, ctx.temp.path());
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains("invalid value '0' for '--cmd-timeout"),
        "{text}"
    );
    assert!(!ctx.path("t.db").exists());
}

/// A failing `.cmd` step that printed much on its standard output still says why: the end of
/// its standard error is kept (and shown) after the start of its standard output. Cut as one
/// text at 64 KB, a long standard output left none of the error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_cmd_step_keeps_its_error_after_a_long_output() {
    let s = Scenario::new(Platform::Sqlite);
    let plan_path = s.plan_with_announce(
        "verbose",
        "\nyes | head -c 300000\necho 'announce: the queue is not reachable' >&2\nexit 1\n",
    );
    let output = s.apply(&plan_path, &[]);
    let text = s.text(&output);
    assert_eq!(output.status.code(), Some(5), "{}", &text[..200]);
    assert!(
        text.contains("[output cut]\nannounce: the queue is not reachable"),
        "{}",
        &text[text.len() - 400..]
    );
}
