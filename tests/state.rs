//! dbpm's own state in a target, on PostgreSQL, MariaDB and SQLite: reading never writes,
//! the tables are created once however many dbpm processes race, a recorded state reads back
//! equal and rebuilds its packages, target schemas keep separate states, `dbpm state export`
//! round-trips through a state file, and credentials reach neither the output nor the tables.

#![allow(clippy::unwrap_used)]

#[macro_use]
mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::db::TestDb;
use common::{repo_root, transcript, TestContext};
use dbpm::db::target::{RunOutcome, Target, TargetError, STATE_VERSION};
use dbpm::ops::state::load_state_file;
use dbpm::package::{load_dir, Package};
use dbpm::platform::Platform;
use dbpm::state::InstalledState;

on_every_platform!(
    a_fresh_database_reads_as_nothing_installed_and_stays_untouched,
    ensure_state_is_idempotent_and_safe_when_raced,
    a_recorded_state_reads_back_equal_and_rebuilds_its_packages,
    a_state_newer_than_this_dbpm_is_refused,
    a_state_of_the_previous_layout_is_read_and_migrated_by_the_next_write,
    state_export_round_trips_through_load_state_file,
    a_state_write_gives_up_while_another_holds_the_lock,
);

fn target(url: &str, schema: Option<&str>) -> Target {
    Target::new(url.parse().unwrap(), schema.map(str::to_owned)).unwrap()
}

/// An example package version built for a platform.
fn example(name: &str, version: &str, platform: Platform) -> Package {
    load_dir(
        &repo_root()
            .join("examples/packages")
            .join(name)
            .join(version),
    )
    .unwrap()
    .for_platform(platform)
    .unwrap()
}

/// core 1.2.0, auth 2.0.0 (adopted) and billing 1.1.0 (with a placeholder value).
fn example_state(platform: Platform, label: &str) -> InstalledState {
    let mut state = InstalledState::empty(platform, label);
    state.record(
        &example("core", "1.2.0", platform),
        BTreeMap::new(),
        Some("run-1".to_owned()),
        false,
        Some("2025-01-02T03:04:05.000006Z".to_owned()),
    );
    state.record(
        &example("auth", "2.0.0", platform),
        BTreeMap::new(),
        None,
        true,
        None,
    );
    state.record(
        &example("billing", "1.1.0", platform),
        BTreeMap::from([("currency".to_owned(), "CHF".to_owned())]),
        Some("run-2".to_owned()),
        false,
        Some("2025-01-03T00:00:00Z".to_owned()),
    );
    state
}

/// dbpm's six state tables as the platform names them.
fn state_tables(db: &TestDb) -> Vec<String> {
    let mut names: Vec<String> = [
        "installed_packages",
        "installed_scripts",
        "journal",
        "meta",
        "plans",
        "run_owners",
        "runs",
        "script_texts",
    ]
    .iter()
    .map(|name| match db.platform {
        Platform::Postgres => (*name).to_owned(),
        Platform::Mysql | Platform::Sqlite => format!("dbpm_{name}"),
    })
    .collect();
    names.sort();
    names
}

async fn a_fresh_database_reads_as_nothing_installed_and_stays_untouched(platform: Platform) {
    let db = TestDb::new(platform);
    let target = target(&db.url, None);
    let empty = InstalledState::empty(platform, target.label());
    assert_eq!(target.read_state().await.unwrap(), empty);
    if platform == Platform::Sqlite {
        assert!(
            !db.sqlite_file().exists(),
            "reading created the SQLite file"
        );
    }
    // A database in use, but never by dbpm.
    db.execute("CREATE TABLE app_table (id INTEGER PRIMARY KEY)")
        .await;
    assert_eq!(target.read_state().await.unwrap(), empty);
    assert_eq!(db.dbpm_tables().await, Vec::<String>::new());
}

async fn ensure_state_is_idempotent_and_safe_when_raced(platform: Platform) {
    let db = TestDb::new(platform);
    let racers: Vec<_> = (0..3)
        .map(|_| {
            let target = target(&db.url, None);
            tokio::spawn(async move { target.ensure_state().await })
        })
        .collect();
    for racer in racers {
        racer.await.unwrap().unwrap();
    }
    let target = target(&db.url, None);
    target.ensure_state().await.unwrap();
    assert_eq!(db.dbpm_tables().await, state_tables(&db));
    assert_eq!(
        db.count(&db.state_table("meta")).await,
        STATE_VERSION,
        "one row per migration, however many dbpm processes raced"
    );
    assert_eq!(
        target.read_state().await.unwrap(),
        InstalledState::empty(platform, target.label())
    );
}

/// A state write waits for another dbpm's state write (on SQLite, for any connection writing
/// to the file) only so long, then stops and says why, having changed nothing; it goes on
/// once the lock is free. On PostgreSQL the wait had no end.
async fn a_state_write_gives_up_while_another_holds_the_lock(platform: Platform) {
    use sqlx::{Connection, Executor};
    let db = TestDb::new(platform);
    let target = target(&db.url, None).waiting_at_most(Duration::from_secs(1));
    target.ensure_state().await.unwrap();
    let state = example_state(platform, &target.label());
    let err = match platform {
        Platform::Postgres => {
            let mut holder = sqlx::PgConnection::connect(&db.url).await.unwrap();
            holder.execute("BEGIN").await.unwrap();
            // dbpm's state lock ("dbpmstat").
            holder
                .execute("SELECT pg_advisory_xact_lock(7233467566901191028)")
                .await
                .unwrap();
            let err = target
                .record_installed(&state, "run", RunOutcome::Completed)
                .await
                .unwrap_err();
            holder.execute("ROLLBACK").await.unwrap();
            err
        }
        Platform::Mysql => {
            let mut holder = sqlx::MySqlConnection::connect(&db.url).await.unwrap();
            holder
                .execute("SELECT GET_LOCK(CONCAT('dbpm_state_', SHA1(DATABASE())), 0)")
                .await
                .unwrap();
            let err = target
                .record_installed(&state, "run", RunOutcome::Completed)
                .await
                .unwrap_err();
            holder.close().await.unwrap();
            err
        }
        Platform::Sqlite => {
            let mut holder = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            holder.execute("BEGIN IMMEDIATE").await.unwrap();
            let err = target
                .record_installed(&state, "run", RunOutcome::Completed)
                .await
                .unwrap_err();
            holder.execute("ROLLBACK").await.unwrap();
            err
        }
    };
    match (&err, platform) {
        (TargetError::SqliteBusy { seconds: 1, .. }, Platform::Sqlite) => {}
        (TargetError::StateLocked { seconds: 1, .. }, Platform::Postgres | Platform::Mysql) => {}
        _ => panic!("{platform}: {err:?}"),
    }
    assert!(err.to_string().contains(&target.label()), "{err}");
    let empty = InstalledState::empty(platform, target.label());
    assert_eq!(target.read_state().await.unwrap(), empty);
    target
        .record_installed(&state, "run", RunOutcome::Completed)
        .await
        .unwrap();
    assert_eq!(target.read_state().await.unwrap(), state);
}

/// A SQLite file that another connection holds exclusively (while it commits, or in a
/// `BEGIN EXCLUSIVE`) cannot even be read: dbpm waits so long, then names the file as locked.
#[tokio::test]
async fn reading_a_sqlite_file_locked_for_too_long_names_it_as_locked() {
    use sqlx::{Connection, Executor};
    let db = TestDb::new(Platform::Sqlite);
    let target = target(&db.url, None).waiting_at_most(Duration::from_millis(500));
    target.ensure_state().await.unwrap();
    let mut holder = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
    holder.execute("BEGIN EXCLUSIVE").await.unwrap();
    let err = target.read_state().await.unwrap_err();
    holder.execute("ROLLBACK").await.unwrap();
    assert!(
        matches!(err, TargetError::SqliteBusy { seconds: 1, .. }),
        "{err:?}"
    );
    assert_eq!(
        target.read_state().await.unwrap(),
        InstalledState::empty(Platform::Sqlite, target.label())
    );
}

async fn a_recorded_state_reads_back_equal_and_rebuilds_its_packages(platform: Platform) {
    let db = TestDb::new(platform);
    let target = target(&db.url, None);
    let state = example_state(platform, &target.label());
    target
        .record_installed(&state, "run", RunOutcome::Completed)
        .await
        .unwrap();
    let read = target.read_state().await.unwrap();
    assert_eq!(read, state);
    for name in ["core", "auth", "billing"] {
        let version = state.packages[name].version.to_string();
        assert_eq!(
            read.package(name).unwrap().unwrap(),
            example(name, &version, platform),
            "{name} rebuilt from the target alone"
        );
    }

    // Recording replaces the installed set; the texts of what was installed stay.
    let texts = db.count(&db.state_table("script_texts")).await;
    let mut smaller = state.clone();
    smaller.remove("billing");
    target
        .record_installed(&smaller, "run", RunOutcome::Completed)
        .await
        .unwrap();
    assert_eq!(target.read_state().await.unwrap(), smaller);
    assert_eq!(db.count(&db.state_table("script_texts")).await, texts);

    // A changed package (another version, or the same one recorded by another run) is
    // rewritten; the others are left as they are.
    let mut changed = smaller.clone();
    changed.record(
        &example("core", "1.1.0", platform),
        BTreeMap::new(),
        Some("run-3".to_owned()),
        false,
        None,
    );
    changed.packages.get_mut("auth").unwrap().run = Some("run-3".to_owned());
    target
        .record_installed(&changed, "run", RunOutcome::Completed)
        .await
        .unwrap();
    assert_eq!(target.read_state().await.unwrap(), changed);

    let empty = InstalledState::empty(platform, target.label());
    target
        .record_installed(&empty, "run", RunOutcome::Completed)
        .await
        .unwrap();
    assert_eq!(target.read_state().await.unwrap(), empty);
}

async fn a_state_newer_than_this_dbpm_is_refused(platform: Platform) {
    let db = TestDb::new(platform);
    let target = target(&db.url, None);
    target.ensure_state().await.unwrap();
    db.execute(&format!(
        "INSERT INTO {} (version, description, applied_at, applied_by) VALUES ({}, 'future', '2099-01-01T00:00:00Z', 'dbpm 99.0.0')",
        db.state_table("meta"),
        STATE_VERSION + 1
    ))
    .await;
    let err = target.read_state().await.unwrap_err();
    assert!(
        matches!(err, TargetError::StateTooNew { found, .. } if found == STATE_VERSION + 1),
        "{err:?}"
    );
    assert!(err.to_string().contains("written by dbpm 99.0.0"), "{err}");
    let err = target.ensure_state().await.unwrap_err();
    assert!(matches!(err, TargetError::StateTooNew { .. }), "{err:?}");
}

async fn a_state_of_the_previous_layout_is_read_and_migrated_by_the_next_write(platform: Platform) {
    let db = TestDb::new(platform);
    let target = target(&db.url, None);
    let state = example_state(platform, &target.label());
    target
        .record_installed(&state, "run", RunOutcome::Completed)
        .await
        .unwrap();
    // As a dbpm of layout 1 left it.
    db.execute(&format!(
        "DELETE FROM {} WHERE version > 1",
        db.state_table("meta")
    ))
    .await;
    assert_eq!(db.count(&db.state_table("meta")).await, 1);
    assert_eq!(target.read_state().await.unwrap(), state);
    target
        .record_installed(&state, "run", RunOutcome::Completed)
        .await
        .unwrap();
    assert_eq!(db.count(&db.state_table("meta")).await, STATE_VERSION);
}

async fn state_export_round_trips_through_load_state_file(platform: Platform) {
    let db = TestDb::new(platform);
    let target = target(&db.url, None);
    target
        .record_installed(
            &example_state(platform, "ignored"),
            "run",
            RunOutcome::Completed,
        )
        .await
        .unwrap();
    let ctx = TestContext::new();
    let output = ctx.run(&["state", "export", "--db", &db.url]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, ctx.temp.path())
    );
    let file = ctx.path("stdout.json");
    fs_err::write(&file, &output.stdout).unwrap();
    let expected = target.read_state().await.unwrap();
    assert_eq!(load_state_file(&file).unwrap(), expected);

    let file = ctx.path("out.json");
    let output = ctx.run(&[
        "state",
        "export",
        "--db",
        &db.url,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert!(
        output.status.success(),
        "{}",
        transcript(&output, ctx.temp.path())
    );
    assert!(output.stdout.is_empty());
    assert!(String::from_utf8_lossy(&output.stderr).contains("3 installed packages"));
    assert_eq!(load_state_file(&file).unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_target_schemas_in_one_postgres_database_keep_separate_states() {
    let db = TestDb::postgres();
    db.execute("CREATE SCHEMA billing; CREATE SCHEMA reporting")
        .await;
    let billing = target(&db.url, Some("billing"));
    let reporting = target(&db.url, Some("reporting"));
    let mut state = InstalledState::empty(Platform::Postgres, billing.label());
    state.record(
        &example("core", "1.1.0", Platform::Postgres),
        BTreeMap::new(),
        None,
        false,
        None,
    );
    billing
        .record_installed(&state, "run", RunOutcome::Completed)
        .await
        .unwrap();
    let other = example_state(Platform::Postgres, &reporting.label());
    reporting
        .record_installed(&other, "run", RunOutcome::Completed)
        .await
        .unwrap();

    assert_eq!(billing.read_state().await.unwrap(), state);
    assert_eq!(reporting.read_state().await.unwrap(), other);
    let public = target(&db.url, None);
    assert_eq!(
        public.read_state().await.unwrap(),
        InstalledState::empty(Platform::Postgres, public.label())
    );

    billing
        .record_installed(
            &InstalledState::empty(Platform::Postgres, "x"),
            "run",
            RunOutcome::Completed,
        )
        .await
        .unwrap();
    assert!(billing.read_state().await.unwrap().packages.is_empty());
    assert_eq!(reporting.read_state().await.unwrap(), other);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_reaches_neither_the_export_nor_the_state_tables() {
    let db = TestDb::postgres();
    db.execute("CREATE SCHEMA app").await;
    let url = db.url_with_password("secret-pw");
    let target = target(&url, Some("app"));
    assert!(!target.label().contains("secret-pw"));
    target
        .record_installed(
            &example_state(Platform::Postgres, &target.label()),
            "run",
            RunOutcome::Completed,
        )
        .await
        .unwrap();

    let ctx = TestContext::new();
    let output = ctx.run(&["state", "export", "--db", &url, "--schema", "app"]);
    let text = transcript(&output, ctx.temp.path());
    assert!(output.status.success(), "{text}");
    assert!(!text.contains("secret-pw"), "{text}");
    let exported: InstalledState = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        exported.target,
        format!("{}#app", db.url.replacen("postgres@", "postgres:***@", 1))
    );
    assert_eq!(exported.packages.len(), 3);

    let contents = db.dbpm_table_contents().await;
    assert!(contents.contains("billing"), "the contents were read");
    assert!(!contents.contains("secret-pw"));
}

#[test]
fn an_unreachable_database_exits_1_naming_the_redacted_url() {
    let ctx = TestContext::new();
    for (url, shown) in [
        (
            "postgres://postgres:secret-pw@127.0.0.1:1/nowhere",
            "`postgres://postgres:***@127.0.0.1:1/nowhere#public`",
        ),
        (
            "mysql://root:secret-pw@127.0.0.1:1/nowhere",
            "`mysql://root:***@127.0.0.1:1/nowhere`",
        ),
    ] {
        let output = ctx.run(&["state", "export", "--db", url]);
        let text = transcript(&output, ctx.temp.path());
        assert_eq!(output.status.code(), Some(1), "{text}");
        assert!(output.stdout.is_empty(), "{text}");
        assert!(
            text.contains(&format!("failed to connect to {shown}")),
            "{text}"
        );
        assert!(!text.contains("secret-pw"), "{text}");
    }
}

#[test]
fn exporting_a_missing_sqlite_file_creates_nothing() {
    let ctx = TestContext::new();
    let output = ctx.run_in_temp(&["state", "export", "--db", "sqlite://state.db"]);
    let text = transcript(&output, ctx.temp.path());
    assert!(output.status.success(), "{text}");
    let state: InstalledState = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        state,
        InstalledState::empty(Platform::Sqlite, "sqlite://state.db")
    );
    assert!(!ctx.path("state.db").exists(), "{text}");
}

#[test]
fn a_schema_on_a_sqlite_target_is_refused() {
    let ctx = TestContext::new();
    let output = ctx.run(&["state", "export", "--db", "sqlite://x.db", "--schema", "s"]);
    insta::assert_snapshot!(transcript(&output, ctx.temp.path()));
}

/// A MySQL/MariaDB statement is ended (`KILL QUERY`, for an exit that does not wait for a
/// step) only on the step's own connection: not on a connection of the same id on another
/// server (where a proxy may route the connection that ends it), nor on one of another user;
/// a user whose name holds `@` is the same user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_is_ended_only_on_the_connection_it_runs_on() {
    use sqlx::Connection as _;

    let db = TestDb::mysql();
    let other = format!("{}_other", db.name);
    let at = format!("{}@x", db.name);
    for user in [&other, &at] {
        db.execute(&format!("CREATE USER '{user}'@'%'")).await;
        db.execute(&format!("GRANT SELECT ON `{}`.* TO '{user}'@'%'", db.name))
            .await;
    }
    let as_user = |user: &str| {
        db.url
            .replacen("root@", &format!("{}@", user.replace('@', "%40")), 1)
    };
    // Whose connection sleeps, who ends it, and whether that is the step's own.
    for (sleeper, ender, ours) in [
        (as_user(&other), db.url.clone(), false),
        (as_user(&at), as_user(&at), true),
    ] {
        let mut sleeping = sqlx::MySqlConnection::connect(&sleeper).await.unwrap();
        let (id, server): (i64, String) = sqlx::query_as(
            "SELECT CAST(CONNECTION_ID() AS SIGNED), CONCAT(@@hostname, ':', @@port, '/', @@server_id)",
        )
        .fetch_one(&mut sleeping)
        .await
        .unwrap();
        let sleep = tokio::spawn(async move {
            sqlx::query_scalar::<_, i64>("SELECT SLEEP(60)")
                .fetch_one(&mut sleeping)
                .await
        });
        let running = format!("SELECT CAST(id AS CHAR) FROM information_schema.processlist WHERE id = {id} AND info LIKE 'SELECT SLEEP%'");
        while db.texts(&running).await.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let target = target(&ender, None);
        let elsewhere = dbpm::db::target::Backend {
            id,
            server: format!("{server}-elsewhere"),
        };
        assert!(!target.end_statement(&elsewhere).await.unwrap());
        let here = dbpm::db::target::Backend { id, server };
        assert_eq!(target.end_statement(&here).await.unwrap(), ours, "{ender}");
        if !ours {
            assert!(!db.texts(&running).await.is_empty(), "left running");
            db.execute(&format!("KILL QUERY {id}")).await;
        }
        // Interrupted, `SLEEP` returns 1, or fails with "Query execution was interrupted".
        match sleep.await.unwrap() {
            Ok(slept) => assert_eq!(slept, 1),
            Err(err) => assert!(err.to_string().contains("interrupted"), "{err}"),
        }
    }
    for user in [&other, &at] {
        db.execute(&format!("DROP USER '{user}'@'%'")).await;
    }
}
