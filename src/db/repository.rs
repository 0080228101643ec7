//! A package repository in PostgreSQL tables (`dbpm_repo.packages`), as the seed's
//! `config db`: the archive bytes and the index entry of every published package. Publishing
//! runs in one transaction under an advisory lock, so concurrent publishers never corrupt it.
//! Credentials come from the URL or the environment (`PGPASSWORD`) and are never stored.

use std::path::PathBuf;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::Row;

use super::DbUrl;
use crate::package::{archive, Checksum, Package};
use crate::repository::{
    changes_from_stored, is_intact, same_sources, Index, IndexEntry, Published, Repository,
    RepositoryError,
};

/// Creates the repository's table if needed.
const SCHEMA: &str = "
CREATE SCHEMA IF NOT EXISTS dbpm_repo;
CREATE TABLE IF NOT EXISTS dbpm_repo.packages (
    name text NOT NULL,
    version text NOT NULL,
    platform text NOT NULL,
    checksum text NOT NULL,
    entry jsonb NOT NULL,
    archive bytea NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (name, version, platform)
);";

/// Serialises schema creation and publishing among concurrent dbpm processes.
const LOCK_KEY: i64 = 0x6462_706d_7265_706f; // "dbpmrepo"

/// A repository in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct DatabaseRepository {
    url: DbUrl,
    pool: PgPool,
}

impl DatabaseRepository {
    /// Connects lazily to the repository database.
    pub fn connect(url: DbUrl) -> Result<Self, RepositoryError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect_lazy(url.expose())
            .map_err(|source| RepositoryError::Database {
                repository: url.redacted(),
                source: crate::db::DriverError(source),
            })?;
        Ok(DatabaseRepository { url, pool })
    }

    fn error(&self) -> impl Fn(sqlx::Error) -> RepositoryError + '_ {
        move |source| RepositoryError::Database {
            repository: self.url.redacted(),
            source: crate::db::DriverError(source),
        }
    }

    async fn ensure_schema(&self) -> Result<(), RepositoryError> {
        let mut tx = self.pool.begin().await.map_err(self.error())?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(self.error())?;
        for statement in SCHEMA.split(";").filter(|s| !s.trim().is_empty()) {
            sqlx::query(statement)
                .execute(&mut *tx)
                .await
                .map_err(self.error())?;
        }
        tx.commit().await.map_err(self.error())
    }

    /// The name a stored archive goes by in messages.
    fn archive_name(&self, entry: &IndexEntry) -> PathBuf {
        PathBuf::from(format!(
            "{}/{}-{}-{}.dbpkg",
            self.describe(),
            entry.name,
            entry.version,
            entry.platform
        ))
    }

    /// The stored archive of `entry`'s version, as `connection` (a publishing transaction)
    /// sees it, and its name.
    async fn stored_archive(
        &self,
        connection: &mut sqlx::PgConnection,
        entry: &IndexEntry,
    ) -> Result<(PathBuf, Vec<u8>), sqlx::Error> {
        let bytes: Vec<u8> = sqlx::query_scalar(
            "SELECT archive FROM dbpm_repo.packages WHERE name = $1 AND version = $2 AND platform = $3",
        )
        .bind(&entry.name)
        .bind(entry.version.to_string())
        .bind(entry.platform.as_str())
        .fetch_one(connection)
        .await?;
        Ok((self.archive_name(entry), bytes))
    }

    async fn has_table(&self) -> Result<bool, RepositoryError> {
        let found: Option<String> =
            sqlx::query_scalar("SELECT to_regclass('dbpm_repo.packages')::text")
                .fetch_one(&self.pool)
                .await
                .map_err(self.error())?;
        Ok(found.is_some())
    }
}

impl Repository for DatabaseRepository {
    fn describe(&self) -> String {
        format!("database repository {}", self.url.redacted())
    }

    async fn index(&self) -> Result<Index, RepositoryError> {
        // Like a directory that does not exist: more likely a mistaken URL (the target's own)
        // than an empty repository, which publishing starts.
        if !self.has_table().await? {
            return Err(RepositoryError::NoRepository {
                repository: self.describe(),
            });
        }
        let rows = sqlx::query(
            "SELECT entry::text AS entry FROM dbpm_repo.packages ORDER BY name, version, platform",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(self.error())?;
        rows.iter()
            .map(|row| {
                let text: String = row.try_get("entry").map_err(self.error())?;
                serde_json::from_str::<IndexEntry>(&text).map_err(|err| {
                    RepositoryError::CorruptIndex {
                        path: self.describe().into(),
                        reason: err.to_string(),
                    }
                })
            })
            .collect()
    }

    async fn fetch(&self, entry: &IndexEntry) -> Result<Package, RepositoryError> {
        let row = sqlx::query("SELECT archive FROM dbpm_repo.packages WHERE name = $1 AND version = $2 AND platform = $3")
            .bind(&entry.name)
            .bind(entry.version.to_string())
            .bind(entry.platform.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(self.error())?
            .ok_or_else(|| RepositoryError::NotFound {
                repository: self.describe(),
                name: entry.name.clone(),
                version: entry.version.clone(),
                platform: entry.platform,
            })?;
        let bytes: Vec<u8> = row.try_get("archive").map_err(self.error())?;
        let package = archive::read(&self.archive_name(entry), &bytes)?;
        crate::repository::verify_entry(&self.describe(), entry, package)
    }

    /// Publishes in one transaction: a conflict anywhere rolls back the whole batch.
    async fn publish(&self, packages: &[Package]) -> Result<Vec<Published>, RepositoryError> {
        self.ensure_schema().await?;
        let mut tx = self.pool.begin().await.map_err(self.error())?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *tx)
            .await
            .map_err(self.error())?;
        let mut outcomes = Vec::with_capacity(packages.len());
        for package in packages {
            let entry = IndexEntry::of(package);
            let existing: Option<String> = sqlx::query(
                "SELECT checksum FROM dbpm_repo.packages WHERE name = $1 AND version = $2 AND platform = $3",
            )
            .bind(&entry.name)
            .bind(entry.version.to_string())
            .bind(entry.platform.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(self.error())?
            .map(|row| row.try_get::<String, _>("checksum"))
            .transpose()
            .map_err(self.error())?;
            if let Some(existing) = existing {
                if existing != entry.checksum.as_str() {
                    let existing: Checksum = existing.parse().map_err(
                        |err: crate::package::checksum::BadChecksum| {
                            RepositoryError::CorruptIndex {
                                path: self.describe().into(),
                                reason: err.to_string(),
                            }
                        },
                    )?;
                    let files = self.stored_archive(&mut tx, &entry).await.ok().and_then(
                        |(name, stored)| changes_from_stored(&name, &stored, &existing, package),
                    );
                    return Err(RepositoryError::Conflict {
                        name: entry.name,
                        version: entry.version,
                        platform: entry.platform,
                        existing,
                        new: entry.checksum,
                        files,
                    });
                }
                // Publishing the same build again is how a damaged archive is repaired.
                let intact = self
                    .stored_archive(&mut tx, &entry)
                    .await
                    .is_ok_and(|(name, stored)| is_intact(&name, &stored, &entry));
                if intact {
                    outcomes.push(Published::Unchanged);
                } else {
                    sqlx::query(
                        "UPDATE dbpm_repo.packages SET archive = $4 WHERE name = $1 AND version = $2 AND platform = $3",
                    )
                    .bind(&entry.name)
                    .bind(entry.version.to_string())
                    .bind(entry.platform.as_str())
                    .bind(archive::write(package))
                    .execute(&mut *tx)
                    .await
                    .map_err(self.error())?;
                    outcomes.push(Published::Repaired);
                }
                continue;
            }
            // Another platform's build of the version, published or in this batch (which this
            // transaction sees), must come from the same shared sources. An archive that
            // cannot be read is passed over: its damage is reported where it is read.
            let rows = sqlx::query(
                "SELECT platform, archive FROM dbpm_repo.packages WHERE name = $1 AND version = $2 AND platform <> $3",
            )
            .bind(&entry.name)
            .bind(entry.version.to_string())
            .bind(entry.platform.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(self.error())?;
            let mut published = Vec::new();
            for row in rows {
                let platform: String = row.try_get("platform").map_err(self.error())?;
                let bytes: Vec<u8> = row.try_get("archive").map_err(self.error())?;
                let name = PathBuf::from(format!(
                    "{}/{}-{}-{platform}.dbpkg",
                    self.describe(),
                    entry.name,
                    entry.version
                ));
                if let Ok(package) = archive::read(&name, &bytes) {
                    published.push(package);
                }
            }
            same_sources(package, &published)?;
            let json = serde_json::to_string(&entry)
                .unwrap_or_else(|err| unreachable!("an entry always serializes: {err}"));
            sqlx::query(
                "INSERT INTO dbpm_repo.packages (name, version, platform, checksum, entry, archive) VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
            )
            .bind(&entry.name)
            .bind(entry.version.to_string())
            .bind(entry.platform.as_str())
            .bind(entry.checksum.as_str())
            .bind(json)
            .bind(archive::write(package))
            .execute(&mut *tx)
            .await
            .map_err(self.error())?;
            outcomes.push(Published::Added);
        }
        tx.commit().await.map_err(self.error())?;
        Ok(outcomes)
    }
}
