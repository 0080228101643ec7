//! The installed set of one target schema in dbpm's state tables: reading it into an
//! [`InstalledState`] (in one read-only transaction, so a concurrent writer is seen whole or
//! not at all) and replacing it with another in one transaction.

use std::collections::{BTreeMap, BTreeSet};

use semver::Version;

use super::session::{Access, Row, Session, Value};
use super::{tables, RunOutcome, Target, TargetError};
use crate::package::Checksum;
use crate::state::{InstalledPackage, InstalledState, StateError};

const SELECT_PACKAGES: &str =
    "SELECT name, version, checksum, manifest, placeholders, run_id, adopted, installed_at
    FROM {installed_packages} WHERE target_schema = ?";
const SELECT_SCRIPTS: &str =
    "SELECT package, path, checksum FROM {installed_scripts} WHERE target_schema = ?";
const SELECT_TEXTS: &str = "SELECT checksum, content FROM {script_texts}
    WHERE checksum IN (SELECT checksum FROM {installed_scripts} WHERE target_schema = ?)";

/// How many checksums one query of kept texts asks for.
const TEXTS_PER_QUERY: usize = 500;

const DELETE_SCRIPTS: &str =
    "DELETE FROM {installed_scripts} WHERE target_schema = ? AND package = ?";
const DELETE_PACKAGE: &str =
    "DELETE FROM {installed_packages} WHERE target_schema = ? AND name = ?";
/// Script texts, with as many `(?, ?)` rows after `VALUES` as are inserted at once.
const INSERT_TEXTS: (&str, &str, &str) = (
    "INSERT INTO {script_texts} (checksum, content) VALUES ",
    "(?, ?)",
    " {skip_duplicate_checksum}",
);
const INSERT_PACKAGE: &str = "INSERT INTO {installed_packages}
    (target_schema, name, version, checksum, manifest, placeholders, run_id, adopted, installed_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// The scripts of installed packages, as [`INSERT_TEXTS`].
const INSERT_SCRIPTS: (&str, &str, &str) = (
    "INSERT INTO {installed_scripts} (target_schema, package, path, checksum) VALUES ",
    "(?, ?, ?, ?)",
    "",
);

/// Rows a multi-row `INSERT` of scripts or texts holds at most: one statement for many small
/// rows, rather than one round trip each.
const ROWS_PER_INSERT: usize = 200;

/// Bytes of text past which a multi-row `INSERT` of texts stops growing (a larger text goes
/// alone): MySQL/MariaDB take a statement in one packet.
pub const TEXT_BYTES_PER_INSERT: usize = 512 * 1024;

/// `insert` (its head, one row, its tail) with `rows` rows.
fn insert_rows(insert: (&str, &str, &str), rows: usize) -> String {
    let (head, row, tail) = insert;
    format!("{head}{}{tail}", vec![row; rows].join(", "))
}

impl Target {
    /// What is installed on the target. Read-only: a database dbpm was never in, or a SQLite
    /// file that does not exist, reads as nothing installed and is left exactly as it was.
    pub async fn read_state(&self) -> Result<InstalledState, TargetError> {
        let mut state = InstalledState::empty(self.platform(), self.label());
        if self.missing_file().is_some() {
            return Ok(state);
        }
        let mut session = self.open(Access::Read).await?;
        self.schema_exists(&mut session).await?;
        let failed = self.read_failed("read dbpm's state");
        session.begin_read().await.map_err(&failed)?;
        if self.has_state(&mut session).await? {
            match self.state_version(&mut session).await? {
                // Tables being created by another dbpm that has not recorded them yet
                // (MySQL's DDL is not transactional): nothing is installed so far.
                None => {}
                Some(found) if found < tables::READABLE_FROM => {
                    return Err(TargetError::StateOutdated {
                        target: self.label(),
                        found,
                        known: tables::READABLE_FROM,
                    })
                }
                Some(_) => self.read_rows(&mut session, &mut state).await?,
            }
        }
        session.commit().await.map_err(&failed)?;
        self.close(session).await?;
        Ok(state)
    }

    async fn read_rows(
        &self,
        session: &mut Session,
        state: &mut InstalledState,
    ) -> Result<(), TargetError> {
        let failed = self.read_failed("read dbpm's state");
        let key = [Value::Text(&self.schema)];
        state.packages = self.package_rows(session, "read dbpm's state").await?;
        for row in session.fetch(SELECT_SCRIPTS, &key).await.map_err(&failed)? {
            let name = row.text("package").map_err(&failed)?;
            let path = row.text("path").map_err(&failed)?;
            let checksum = self.checksum(&row.text("checksum").map_err(&failed)?)?;
            state
                .packages
                .get_mut(&name)
                .ok_or_else(|| {
                    self.corrupt(format!(
                        "script `{path}` belongs to `{name}`, which is not installed"
                    ))
                })?
                .scripts
                .insert(path, checksum);
        }
        for row in session.fetch(SELECT_TEXTS, &key).await.map_err(&failed)? {
            let checksum = self.checksum(&row.text("checksum").map_err(&failed)?)?;
            let content = row.text("content").map_err(&failed)?;
            state.texts.insert(checksum, content);
        }
        Ok(())
    }

    /// The texts the target keeps of the scripts with checksums `wanted` (those of every
    /// version installed or walked through there, by its runs' records); a checksum it does
    /// not keep is left out.
    pub async fn kept_texts(
        &self,
        wanted: &BTreeSet<Checksum>,
    ) -> Result<BTreeMap<Checksum, String>, TargetError> {
        let mut texts = BTreeMap::new();
        if wanted.is_empty() || self.missing_file().is_some() {
            return Ok(texts);
        }
        let mut session = self.open(Access::Read).await?;
        let failed = self.read_failed("read the kept script texts");
        let wanted: Vec<&str> = wanted.iter().map(Checksum::as_str).collect();
        for chunk in wanted.chunks(TEXTS_PER_QUERY) {
            let sql = format!(
                "SELECT checksum, content FROM {{script_texts}} WHERE checksum IN ({})",
                vec!["?"; chunk.len()].join(", ")
            );
            let values: Vec<Value> = chunk.iter().map(|c| Value::Text(c)).collect();
            for row in session.fetch(&sql, &values).await.map_err(&failed)? {
                let checksum = self.checksum(&row.text("checksum").map_err(&failed)?)?;
                texts.insert(checksum, row.text("content").map_err(&failed)?);
            }
        }
        self.close(session).await?;
        Ok(texts)
    }

    /// The stored package rows of the target schema, without their scripts.
    async fn package_rows(
        &self,
        session: &mut Session,
        doing: &'static str,
    ) -> Result<BTreeMap<String, InstalledPackage>, TargetError> {
        let failed = self.read_failed(doing);
        let mut packages = BTreeMap::new();
        for row in session
            .fetch(SELECT_PACKAGES, &[Value::Text(&self.schema)])
            .await
            .map_err(&failed)?
        {
            let name = row.text("name").map_err(&failed)?;
            let package = self.package_row(&name, &row).map_err(|err| match err {
                RowError::Sql(source) => failed(source),
                RowError::Corrupt(reason) => self.corrupt(reason),
            })?;
            packages.insert(name, package);
        }
        Ok(packages)
    }

    fn package_row(&self, name: &str, row: &Row) -> Result<InstalledPackage, RowError> {
        let version = row.text("version")?;
        let placeholders = row.text("placeholders")?;
        Ok(InstalledPackage {
            version: Version::parse(&version).map_err(|err| {
                RowError::Corrupt(format!("`{name}` has version `{version}`: {err}"))
            })?,
            checksum: row.text("checksum")?.parse().map_err(
                |err: crate::package::checksum::BadChecksum| {
                    RowError::Corrupt(format!("`{name}`: {err}"))
                },
            )?,
            manifest: row.text("manifest")?,
            scripts: BTreeMap::new(),
            placeholders: serde_json::from_str(&placeholders)
                .map_err(|err| RowError::Corrupt(format!("the placeholders of `{name}`: {err}")))?,
            run: row.maybe_text("run_id")?,
            adopted: row.flag("adopted")?,
            installed_at: row.maybe_text("installed_at")?,
        })
    }

    fn checksum(&self, text: &str) -> Result<Checksum, TargetError> {
        text.parse()
            .map_err(|err: crate::package::checksum::BadChecksum| self.corrupt(err.to_string()))
    }

    /// Replaces the target schema's installed set with `state`'s, in one transaction under the
    /// state lock; creates or migrates the state tables first. Only the packages that differ
    /// from the stored ones are written, so a small change to a large target stays small. The
    /// script texts of the written packages, and of the versions `state` walked through (a
    /// run's record: see [`InstalledState::record_json`]), are added to the ones stored; none
    /// is ever removed. `state.target` is not stored.
    ///
    /// The run `run` that ends with this state gets its `outcome` (ended, with `state` as the
    /// installed set after it) in the same transaction: a crash never leaves one without the
    /// other, and the run's end costs one commit.
    pub async fn record_installed(
        &self,
        state: &InstalledState,
        run: &str,
        outcome: RunOutcome,
    ) -> Result<(), TargetError> {
        self.record(state, RunEnd::Ends { run, outcome }).await
    }

    /// [`Target::record_installed`] for an adoption: its run (`plan_hash` says what was
    /// adopted) is recorded with the state, started and ended, in the same transaction. A
    /// failure leaves neither behind, never a run that looks unfinished.
    pub async fn record_adoption(
        &self,
        state: &InstalledState,
        run: &str,
        plan_hash: &str,
        os_user: &str,
        installed_before: &str,
    ) -> Result<(), TargetError> {
        let adoption = RunEnd::Adoption {
            run,
            plan_hash,
            os_user,
            installed_before,
        };
        self.record(state, adoption).await
    }

    async fn record(&self, state: &InstalledState, end: RunEnd<'_>) -> Result<(), TargetError> {
        if state.platform != self.platform() {
            return Err(TargetError::PlatformMismatch {
                target: self.label(),
                expected: self.platform(),
                found: state.platform,
            });
        }
        let walked: Vec<(&String, &InstalledPackage)> = state
            .walked
            .iter()
            .flat_map(|(name, versions)| versions.iter().map(move |v| (name, v)))
            .collect();
        for (name, package) in state.packages.iter().chain(walked.iter().copied()) {
            if let Some((path, checksum)) = package
                .scripts
                .iter()
                .find(|(_, checksum)| !state.texts.contains_key(*checksum))
            {
                return Err(StateError::MissingText {
                    package: name.clone(),
                    path: path.clone(),
                    checksum: checksum.clone(),
                }
                .into());
            }
        }
        self.ensure_state().await?;
        let mut session = self.open(Access::Write).await?;
        self.begin_locked_write(&mut session).await?;
        // Another dbpm may have migrated the layout past this one's in between.
        self.state_version(&mut session).await?;
        let failed = self.failed("record the installed packages");
        let schema = self.schema.as_str();
        let stored = self
            .package_rows(&mut session, "record the installed packages")
            .await?;
        let unchanged = |name: &str, package: &InstalledPackage| {
            stored.get(name).is_some_and(|row| same_row(row, package))
        };
        let gone = stored
            .keys()
            .filter(|name| !state.packages.contains_key(*name));
        let changed: Vec<(&String, &InstalledPackage)> = state
            .packages
            .iter()
            .filter(|(name, package)| !unchanged(name, package))
            .collect();
        for name in gone.chain(changed.iter().map(|(name, _)| *name)) {
            let key = [Value::Text(schema), Value::Text(name)];
            session
                .execute(DELETE_SCRIPTS, &key)
                .await
                .map_err(&failed)?;
            session
                .execute(DELETE_PACKAGE, &key)
                .await
                .map_err(&failed)?;
        }
        let texts: BTreeMap<&Checksum, &String> = changed
            .iter()
            .map(|(_, package)| *package)
            .chain(walked.iter().map(|(_, package)| *package))
            .flat_map(|package| package.scripts.values())
            .filter_map(|checksum| Some((checksum, state.texts.get(checksum)?)))
            .collect();
        let mut batches: Vec<Vec<(&Checksum, &String)>> = Vec::new();
        let mut bytes = 0;
        for (checksum, text) in texts {
            match batches.last_mut() {
                Some(batch)
                    if batch.len() < ROWS_PER_INSERT
                        && bytes + text.len() <= TEXT_BYTES_PER_INSERT =>
                {
                    batch.push((checksum, text));
                    bytes += text.len();
                }
                _ => {
                    batches.push(vec![(checksum, text)]);
                    bytes = text.len();
                }
            }
        }
        for batch in batches {
            let values: Vec<Value<'_>> = batch
                .iter()
                .flat_map(|(checksum, text)| [Value::Text(checksum.as_str()), Value::Text(text)])
                .collect();
            session
                .execute(&insert_rows(INSERT_TEXTS, batch.len()), &values)
                .await
                .map_err(&failed)?;
        }
        let mut scripts: Vec<(&str, &str, &str)> = Vec::new();
        for (name, package) in changed {
            let version = package.version.to_string();
            let placeholders = serde_json::to_string(&package.placeholders)
                .unwrap_or_else(|err| unreachable!("a map of strings always serializes: {err}"));
            session
                .execute(
                    INSERT_PACKAGE,
                    &[
                        Value::Text(schema),
                        Value::Text(name),
                        Value::Text(&version),
                        Value::Text(package.checksum.as_str()),
                        Value::Text(&package.manifest),
                        Value::Text(&placeholders),
                        Value::MaybeText(package.run.as_deref()),
                        Value::Flag(package.adopted),
                        Value::MaybeText(package.installed_at.as_deref()),
                    ],
                )
                .await
                .map_err(&failed)?;
            scripts.extend(
                package
                    .scripts
                    .iter()
                    .map(|(path, checksum)| (name.as_str(), path.as_str(), checksum.as_str())),
            );
        }
        for chunk in scripts.chunks(ROWS_PER_INSERT) {
            let values: Vec<Value<'_>> = chunk
                .iter()
                .flat_map(|(name, path, checksum)| {
                    [
                        Value::Text(schema),
                        Value::Text(name),
                        Value::Text(path),
                        Value::Text(checksum),
                    ]
                })
                .collect();
            session
                .execute(&insert_rows(INSERT_SCRIPTS, chunk.len()), &values)
                .await
                .map_err(&failed)?;
        }
        let after = state.record_json();
        let ended = match end {
            RunEnd::Ends { run, outcome } => {
                session
                    .execute(
                        "UPDATE {runs} SET outcome = ?, ended_at = {now}, installed_after = ? WHERE id = ?",
                        &[
                            Value::Text(outcome.as_str()),
                            Value::Text(&after),
                            Value::Text(run),
                        ],
                    )
                    .await
            }
            RunEnd::Adoption {
                run,
                plan_hash,
                os_user,
                installed_before,
            } => {
                session
                    .execute(
                        "INSERT INTO {runs} (id, target_schema, plan_hash, os_user, started_at, ended_at, outcome, installed_before, installed_after)
                         VALUES (?, ?, ?, ?, {now}, {now}, ?, ?, ?)",
                        &[
                            Value::Text(run),
                            Value::Text(schema),
                            Value::Text(plan_hash),
                            Value::Text(os_user),
                            Value::Text(RunOutcome::Adopted.as_str()),
                            Value::Text(installed_before),
                            Value::Text(&after),
                        ],
                    )
                    .await
            }
        };
        ended.map_err(self.failed("record the run's outcome"))?;
        session.commit_and_unlock().await.map_err(&failed)?;
        self.close(session).await
    }
}

/// The run that a recorded installed set ends.
enum RunEnd<'a> {
    /// A run [`Target::start_run`] recorded, ending as `outcome`.
    Ends { run: &'a str, outcome: RunOutcome },
    /// An adoption, whose run is recorded with its state.
    Adoption {
        run: &'a str,
        plan_hash: &'a str,
        os_user: &'a str,
        installed_before: &'a str,
    },
}

/// Whether a stored package row (read without its scripts) records `package`. The scripts
/// of a package are fixed by its checksum, so the row's other fields are all there is to
/// compare; naming every field makes a new one a compile error here, not a missed update.
fn same_row(row: &InstalledPackage, package: &InstalledPackage) -> bool {
    let InstalledPackage {
        version,
        checksum,
        manifest,
        scripts: _,
        placeholders,
        run,
        adopted,
        installed_at,
    } = package;
    row.version == *version
        && row.checksum == *checksum
        && row.manifest == *manifest
        && row.placeholders == *placeholders
        && row.run == *run
        && row.adopted == *adopted
        && row.installed_at == *installed_at
}

/// Why a stored row does not read back.
enum RowError {
    Sql(sqlx::Error),
    Corrupt(String),
}

impl From<sqlx::Error> for RowError {
    fn from(err: sqlx::Error) -> Self {
        RowError::Sql(err)
    }
}
