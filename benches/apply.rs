//! Executor benchmark against the floor of this machine:
//! - 1,000 one-statement steps (`CREATE TABLE t_i ...`) applied by dbpm to an empty
//!   PostgreSQL database, against `psql -X -1 -f all.sql` of the same statements; and on
//!   SQLite against `sqlite3` running the same file in one transaction;
//! - 4 independent heavy steps (2 million rows and an index each) with `--jobs 4` and
//!   `--jobs 1`, against four `psql -f` processes started at once.
//!
//! Run with `cargo bench --bench apply`; needs PostgreSQL (`DBPM_TEST_POSTGRES_URL`), psql and
//! sqlite3.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dbpm::db::target::Target;
use dbpm::execute::runner::{self, OnFailure, Settings};
use dbpm::execute::schedule::InDoubt;
use dbpm::package::load_dir;
use dbpm::plan::{self, Options, Plan};
use dbpm::platform::Platform;
use dbpm::repository::{Index, IndexEntry};
use dbpm::resolve::Release;
use dbpm::state::InstalledState;
use sqlx::{Connection, Executor};

const ADMIN: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn admin_url() -> String {
    std::env::var("DBPM_TEST_POSTGRES_URL").unwrap_or_else(|_| ADMIN.to_owned())
}

fn with_db(url: &str, db: &str) -> String {
    let base = url.rsplit_once('/').map_or(url, |(b, _)| b);
    format!("{base}/{db}")
}

async fn fresh_pg(name: &str) -> String {
    let mut conn = sqlx::PgConnection::connect(&admin_url())
        .await
        .expect("PostgreSQL");
    conn.execute(format!("DROP DATABASE IF EXISTS {name}").as_str())
        .await
        .expect("drop");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create");
    with_db(&admin_url(), name)
}

async fn drop_pg(name: &str) {
    let mut conn = sqlx::PgConnection::connect(&admin_url())
        .await
        .expect("PostgreSQL");
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .expect("drop");
}

/// A package whose UPGRADE holds `scripts` (number, name, text), each with a DOWNGRADE twin.
fn package_dir(root: &Path, scripts: &[(u32, String, String)], platforms: &str) {
    fs_err::create_dir_all(root.join("UPGRADE")).expect("dir");
    fs_err::create_dir_all(root.join("DOWNGRADE")).expect("dir");
    fs_err::write(
        root.join("dbpm.toml"),
        format!("[package]\nname = \"bench\"\nversion = \"1.0.0\"\nplatforms = [{platforms}]\n"),
    )
    .expect("write");
    for (number, name, text) in scripts {
        fs_err::write(root.join(format!("UPGRADE/{number:04}.{name}.sql")), text).expect("write");
        fs_err::write(
            root.join(format!("DOWNGRADE/{number:04}.{name}.sql")),
            format!("DROP TABLE IF EXISTS {name};\n"),
        )
        .expect("write");
    }
}

fn plan_for(root: &Path, platform: Platform) -> Plan {
    let package = load_dir(root)
        .expect("valid")
        .for_platform(platform)
        .expect("platform");
    let index: Index = [IndexEntry::of(&package)].into_iter().collect();
    let release = dbpm::resolve::parse_release(&dbpm::diagnostic::SourceFile::new(
        "r.toml",
        "[packages]\nbench = \"1.0.0\"\n",
    ))
    .expect("release");
    let state = InstalledState::empty(platform, "bench");
    let options = Options::default();
    let decisions =
        plan::decide(&release, &state, &index, &Index::new(), &options).expect("decide");
    let packages = BTreeMap::from([(
        ("bench".to_owned(), package.manifest.version.clone()),
        package,
    )]);
    let _: &Release = &release;
    plan::build(&release, &state, &decisions, &packages, &options).expect("build")
}

async fn apply(plan: &Plan, url: &str, jobs: usize) -> Duration {
    let target = Target::new(url.parse().expect("url"), None).expect("target");
    let settings = Settings {
        jobs,
        on_failure: OnFailure::Rollback,
        in_doubt: InDoubt::Stop,
        skip_failed_compensations: false,
        lock_timeout: Duration::from_secs(10),
        step_lock_timeout: None,
        admin: None,
        cmd_timeout: Duration::from_secs(60),
        stop: Arc::new(AtomicBool::new(false)),
        keep_plan: false,
        roll_back: false,
    };
    let started = Instant::now();
    let outcome = runner::apply(plan, &target, &settings, &|_| {})
        .await
        .expect("apply");
    let took = started.elapsed();
    assert!(
        matches!(outcome, runner::Outcome::Completed { .. }),
        "{outcome:?}"
    );
    took
}

fn timed(mut command: Command) -> Duration {
    let started = Instant::now();
    let status = command.status().expect("run");
    assert!(status.success(), "{command:?}");
    started.elapsed()
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let temp = tempfile::tempdir().expect("temp");
    let n = 1000u32;
    let small: Vec<(u32, String, String)> = (1..=n)
        .map(|i| {
            (
                i,
                format!("t_{i}"),
                format!("CREATE TABLE t_{i} (id INTEGER PRIMARY KEY, v TEXT);\n"),
            )
        })
        .collect();
    let all_sql: String = small.iter().map(|(_, _, t)| t.as_str()).collect();
    fs_err::write(temp.path().join("all.sql"), &all_sql).expect("write");
    package_dir(
        &temp.path().join("small"),
        &small,
        "\"postgres\", \"sqlite\"",
    );

    // PostgreSQL: 1,000 steps.
    let pg_plan = plan_for(&temp.path().join("small"), Platform::Postgres);
    let (dbpm_pg, psql) = runtime.block_on(async {
        let url = fresh_pg("dbpm_bench_small").await;
        let dbpm = apply(&pg_plan, &url, 4).await;
        let floor_url = fresh_pg("dbpm_bench_floor").await;
        let mut psql = Command::new("psql");
        psql.args(["-X", "-1", "-q", "-f"])
            .arg(temp.path().join("all.sql"))
            .arg(&floor_url);
        let floor = timed(psql);
        drop_pg("dbpm_bench_small").await;
        drop_pg("dbpm_bench_floor").await;
        (dbpm, floor)
    });
    println!(
        "postgres, {n} steps: dbpm {:.3} s, psql -1 {:.3} s, ratio {:.2}x (goal ≤ 2x)",
        dbpm_pg.as_secs_f64(),
        psql.as_secs_f64(),
        ratio(dbpm_pg, psql)
    );

    // SQLite: 1,000 steps.
    let lite_plan = plan_for(&temp.path().join("small"), Platform::Sqlite);
    let lite_file = temp.path().join("bench.db");
    let dbpm_lite = runtime.block_on(apply(
        &lite_plan,
        &format!("sqlite://{}", lite_file.display()),
        1,
    ));
    let floor_file = temp.path().join("floor.db");
    fs_err::write(
        temp.path().join("all-tx.sql"),
        format!("BEGIN;\n{all_sql}COMMIT;\n"),
    )
    .expect("write");
    let mut sqlite3 = Command::new("sqlite3");
    sqlite3.arg(&floor_file).arg(format!(
        ".read {}",
        temp.path().join("all-tx.sql").display()
    ));
    let sqlite_floor = timed(sqlite3);
    println!(
        "sqlite, {n} steps: dbpm {:.3} s, sqlite3 {:.3} s, ratio {:.2}x (goal ≤ 2x)",
        dbpm_lite.as_secs_f64(),
        sqlite_floor.as_secs_f64(),
        ratio(dbpm_lite, sqlite_floor)
    );

    // PostgreSQL: 4 heavy independent steps.
    let rows: u64 = std::env::var("DBPM_BENCH_ROWS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(2_000_000);
    let heavy: Vec<(u32, String, String)> = (1..=4)
        .map(|i| (1, format!("h_{i}"), format!("CREATE TABLE h_{i} AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, {rows}) g;\nCREATE INDEX h_{i}_v ON h_{i} (v);\n")))
        .collect();
    package_dir(&temp.path().join("heavy"), &heavy, "\"postgres\"");
    let heavy_plan = plan_for(&temp.path().join("heavy"), Platform::Postgres);
    let (jobs4, jobs1, parallel_psql) = runtime.block_on(async {
        let url = fresh_pg("dbpm_bench_heavy4").await;
        let jobs4 = apply(&heavy_plan, &url, 4).await;
        drop_pg("dbpm_bench_heavy4").await;
        let url = fresh_pg("dbpm_bench_heavy1").await;
        let jobs1 = apply(&heavy_plan, &url, 1).await;
        drop_pg("dbpm_bench_heavy1").await;
        let url = fresh_pg("dbpm_bench_heavyp").await;
        for (_, name, text) in &heavy {
            fs_err::write(temp.path().join(format!("{name}.sql")), text).expect("write");
        }
        let started = Instant::now();
        let children: Vec<_> = heavy
            .iter()
            .map(|(_, name, _)| {
                Command::new("psql")
                    .args(["-X", "-q", "-f"])
                    .arg(temp.path().join(format!("{name}.sql")))
                    .arg(&url)
                    .spawn()
                    .expect("psql")
            })
            .collect();
        for mut child in children {
            assert!(child.wait().expect("wait").success());
        }
        let parallel = started.elapsed();
        drop_pg("dbpm_bench_heavyp").await;
        (jobs4, jobs1, parallel)
    });
    println!(
        "postgres, 4 heavy steps of {rows} rows: dbpm --jobs 4 {:.2} s, --jobs 1 {:.2} s, 4 psql at once {:.2} s, ratio {:.2}x (goal ≤ 1.1x)",
        jobs4.as_secs_f64(),
        jobs1.as_secs_f64(),
        parallel_psql.as_secs_f64(),
        ratio(jobs4, parallel_psql)
    );
}
