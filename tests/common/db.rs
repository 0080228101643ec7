//! A fresh database per test: a uniquely named database on the PostgreSQL and MariaDB test
//! servers (`DBPM_TEST_POSTGRES_URL`, `DBPM_TEST_MYSQL_URL`), dropped when the guard is, or a
//! SQLite file in a temporary directory. Creating and dropping block on a thread of their own,
//! so the guards work in plain tests and inside `#[tokio::test]` alike.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};

use dbpm::platform::Platform;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, Executor, Row};

const POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const MYSQL_URL: &str = "mysql://root@127.0.0.1:3306/mysql";

/// A test database, dropped with the guard.
pub struct TestDb {
    /// The URL of the new database.
    pub url: String,
    /// Its platform.
    pub platform: Platform,
    /// The database's name (the file name on SQLite).
    pub name: String,
    /// The server URL it was created from (unused on SQLite).
    admin_url: String,
    /// The directory holding the SQLite file.
    temp: Option<tempfile::TempDir>,
}

impl TestDb {
    /// A new database on the platform.
    pub fn new(platform: Platform) -> TestDb {
        match platform {
            Platform::Postgres => TestDb::postgres(),
            Platform::Mysql => TestDb::mysql(),
            Platform::Sqlite => TestDb::sqlite(),
        }
    }

    /// A new database on the PostgreSQL test server.
    pub fn postgres() -> TestDb {
        let admin_url =
            std::env::var("DBPM_TEST_POSTGRES_URL").unwrap_or_else(|_| POSTGRES_URL.to_owned());
        let name = unique_name();
        let sql = format!("CREATE DATABASE \"{name}\"");
        let admin = admin_url.clone();
        blocking(async move {
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|err| panic!("PostgreSQL test server at {admin}: {err}"));
            conn.execute(sql.as_str()).await.unwrap();
        });
        TestDb {
            url: with_database(&admin_url, &name),
            platform: Platform::Postgres,
            name,
            admin_url,
            temp: None,
        }
    }

    /// A new database on the MariaDB/MySQL test server.
    pub fn mysql() -> TestDb {
        let admin_url =
            std::env::var("DBPM_TEST_MYSQL_URL").unwrap_or_else(|_| MYSQL_URL.to_owned());
        let name = unique_name();
        let sql = format!("CREATE DATABASE `{name}`");
        let admin = admin_url.clone();
        blocking(async move {
            let mut conn = sqlx::MySqlConnection::connect(&admin)
                .await
                .unwrap_or_else(|err| panic!("MySQL test server at {admin}: {err}"));
            conn.execute(sql.as_str()).await.unwrap();
        });
        TestDb {
            url: with_database(&admin_url, &name),
            platform: Platform::Mysql,
            name,
            admin_url,
            temp: None,
        }
    }

    /// A SQLite file (not created yet) in a temporary directory.
    pub fn sqlite() -> TestDb {
        let temp = tempfile::tempdir().unwrap();
        let name = format!("{}.db", unique_name());
        TestDb {
            url: format!("sqlite://{}", temp.path().join(&name).display()),
            platform: Platform::Sqlite,
            name,
            admin_url: String::new(),
            temp: Some(temp),
        }
    }

    /// The SQLite file.
    pub fn sqlite_file(&self) -> std::path::PathBuf {
        self.temp.as_ref().unwrap().path().join(&self.name)
    }

    /// The database's URL with a password in it (trust authentication ignores it).
    pub fn url_with_password(&self, password: &str) -> String {
        let (scheme, rest) = self.url.split_once("://").unwrap();
        let (user, host) = rest.split_once('@').unwrap();
        format!("{scheme}://{user}:{password}@{host}")
    }

    /// dbpm's tables in the database (PostgreSQL: in the `dbpm` schema), sorted.
    pub async fn dbpm_tables(&self) -> Vec<String> {
        let sql = match self.platform {
            Platform::Postgres => {
                "SELECT table_name::text AS name FROM information_schema.tables WHERE table_schema = 'dbpm' ORDER BY 1"
            }
            Platform::Mysql => {
                "SELECT CAST(table_name AS CHAR) AS name FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name LIKE 'dbpm%' ORDER BY 1"
            }
            Platform::Sqlite => {
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'dbpm%' ORDER BY 1"
            }
        };
        self.texts(sql).await
    }

    /// Every value of every row of dbpm's tables, as text, to search for what must not be
    /// stored.
    pub async fn dbpm_table_contents(&self) -> String {
        let mut all = String::new();
        for table in self.dbpm_tables().await {
            let sql = match self.platform {
                Platform::Postgres => format!("SELECT t::text FROM dbpm.{table} t"),
                Platform::Mysql => {
                    let columns = self
                        .texts(&format!(
                            "SELECT CAST(column_name AS CHAR) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '{table}'"
                        ))
                        .await;
                    format!(
                        "SELECT CAST(CONCAT_WS('|', {}) AS CHAR) FROM {table}",
                        columns.join(", ")
                    )
                }
                Platform::Sqlite => {
                    let columns = self
                        .texts(&format!("SELECT name FROM pragma_table_info('{table}')"))
                        .await;
                    let columns: Vec<String> = columns
                        .iter()
                        .map(|c| format!("ifnull(CAST({c} AS TEXT), '')"))
                        .collect();
                    format!("SELECT {} FROM {table}", columns.join(" || '|' || "))
                }
            };
            for row in self.texts(&sql).await {
                all.push_str(&row);
                all.push('\n');
            }
        }
        all
    }

    /// The first column of every row of a query, as text.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        match self.platform {
            Platform::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
            Platform::Mysql => {
                let mut conn = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
                rows.iter()
                    .map(|r| String::from_utf8(r.get::<Vec<u8>, _>(0)).unwrap())
                    .collect()
            }
            Platform::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                let rows = sqlx::query(sql).fetch_all(&mut conn).await.unwrap();
                rows.iter().map(|r| r.get::<String, _>(0)).collect()
            }
        }
    }

    /// One of dbpm's state tables as SQL names it (`meta` → `dbpm.meta` or `dbpm_meta`).
    pub fn state_table(&self, name: &str) -> String {
        match self.platform {
            Platform::Postgres => format!("dbpm.{name}"),
            Platform::Mysql | Platform::Sqlite => format!("dbpm_{name}"),
        }
    }

    /// The number of rows of a table.
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match self.platform {
            Platform::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
            }
            Platform::Mysql => {
                let mut conn = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
            }
            Platform::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar(&sql).fetch_one(&mut conn).await.unwrap()
            }
        }
    }

    /// Waits until a session on this database waits for a lock (PostgreSQL, MySQL/MariaDB),
    /// for a minute at most.
    pub async fn wait_until_a_session_waits_for_a_lock(&self) {
        let sql = match self.platform {
            Platform::Postgres => {
                "SELECT COUNT(*) FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'"
            }
            _ => {
                "SELECT COUNT(*) FROM information_schema.processlist \
                 WHERE db = DATABASE() AND state LIKE 'Waiting for%lock%'"
            }
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut watcher = Holder::connect(self).await;
        let mut found = false;
        while !found && std::time::Instant::now() < deadline {
            found = watcher.count(sql).await > 0;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        watcher.close().await;
        assert!(found, "no session waited for a lock within a minute");
    }

    /// Runs statements on the database (creating the SQLite file).
    pub async fn execute(&self, sql: &str) {
        match self.platform {
            Platform::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
                conn.execute(sql).await.unwrap();
            }
            Platform::Mysql => {
                let mut conn = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
                conn.execute(sql).await.unwrap();
            }
            Platform::Sqlite => {
                let options = SqliteConnectOptions::from_str(&self.url)
                    .unwrap()
                    .create_if_missing(true);
                let mut conn = sqlx::SqliteConnection::connect_with(&options)
                    .await
                    .unwrap();
                conn.execute(sql).await.unwrap();
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let admin = self.admin_url.clone();
        let name = self.name.clone();
        match self.platform {
            Platform::Postgres => blocking(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    let _ = conn.execute(sql.as_str()).await;
                }
            }),
            Platform::Mysql => blocking(async move {
                if let Ok(mut conn) = sqlx::MySqlConnection::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS `{name}`");
                    let _ = conn.execute(sql.as_str()).await;
                }
            }),
            Platform::Sqlite => {}
        }
    }
}

/// Runs a future to completion on a runtime of its own, on a thread of its own, so it can be
/// called from inside another runtime.
fn blocking<F>(future: F)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let thread = std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    });
    if let Err(panic) = thread.join() {
        std::panic::resume_unwind(panic);
    }
}

/// `dbpm_t_<pid>_<counter>_<random>`: unique among parallel tests and test processes.
fn unique_name() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let random = RandomState::new().build_hasher().finish();
    format!(
        "dbpm_t_{}_{}_{:08x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        random as u32
    )
}

/// `base` with its database (the URL's path) replaced by `name`, its query kept.
fn with_database(base: &str, name: &str) -> String {
    let (scheme, rest) = base.split_once("://").unwrap();
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, format!("?{query}")),
        None => (rest, String::new()),
    };
    let authority = rest.split('/').next().unwrap();
    format!("{scheme}://{authority}/{name}{query}")
}

/// A connection of a test of its own to a server's database, beside dbpm's: one that holds
/// locks, or watches for sessions waiting for them.
pub enum Holder {
    Postgres(sqlx::PgConnection),
    Mysql(sqlx::MySqlConnection),
}

impl Holder {
    pub async fn connect(db: &TestDb) -> Holder {
        match db.platform {
            Platform::Postgres => {
                Holder::Postgres(sqlx::PgConnection::connect(&db.url).await.unwrap())
            }
            Platform::Mysql => {
                Holder::Mysql(sqlx::MySqlConnection::connect(&db.url).await.unwrap())
            }
            Platform::Sqlite => unreachable!("SQLite has no locks but the file's"),
        }
    }

    /// Runs `sql`, statements and all, as it is.
    pub async fn run(&mut self, sql: &str) {
        match self {
            Holder::Postgres(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
            Holder::Mysql(c) => sqlx::raw_sql(sql).execute(c).await.map(|_| ()),
        }
        .unwrap_or_else(|err| panic!("{sql}: {err}"));
    }

    /// The count a `SELECT COUNT(*)` query gives.
    pub async fn count(&mut self, sql: &str) -> i64 {
        match self {
            Holder::Postgres(c) => sqlx::query_scalar(sql).fetch_one(c).await,
            Holder::Mysql(c) => sqlx::query_scalar(sql).fetch_one(c).await,
        }
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// Closes the connection.
    pub async fn close(self) {
        match self {
            Holder::Postgres(c) => c.close().await,
            Holder::Mysql(c) => c.close().await,
        }
        .unwrap();
    }
}
