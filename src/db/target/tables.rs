//! The layout of dbpm's own tables in a target (DESIGN §5.2) and the numbered migrations that
//! create it and move it forward. The statements are templates for [`super::dialect`]; each
//! is safe to run again (`IF NOT EXISTS`), because on MySQL/MariaDB DDL commits by itself and
//! a crash can leave a migration half done. A migration that cannot be written that way must
//! say how it resumes.
//!
//! Every row of the installed set and of the runs is keyed by the target schema: on
//! PostgreSQL several target schemas of one database share the `dbpm` schema; on
//! MySQL/MariaDB and SQLite the tables live in the target database itself and the key is
//! always the empty string. Script texts are keyed by checksum alone and shared by every
//! target schema of the database; they are never deleted, so undo and restore can always
//! re-create a version that was once installed there.

/// The version of the state's layout this dbpm reads and writes.
pub const STATE_VERSION: i64 = 6;

/// The oldest layout this dbpm reads as it is, without migrating it first: a change that only
/// adds what this dbpm can do without leaves reading possible.
pub const READABLE_FROM: i64 = 1;

/// The first layout with the `plans` table (the plans of the verbs' runs).
pub(super) const PLANS_KEPT_FROM: i64 = 4;

/// One step of the layout: the statements that take it from `version - 1` to `version`.
pub(super) struct Migration {
    /// The layout version after this migration.
    pub(super) version: i64,
    /// What it does, recorded in the `meta` table.
    pub(super) description: &'static str,
    /// Its statements, in order.
    pub(super) statements: &'static [&'static str],
}

/// The `meta` table: one row per migration applied; the state's version is the highest.
const META: &str = "CREATE TABLE IF NOT EXISTS {meta} (
    version BIGINT NOT NULL PRIMARY KEY,
    description {longtext} NOT NULL,
    applied_at VARCHAR(40) NOT NULL,
    applied_by VARCHAR(64) NOT NULL
){table_options}";

/// On PostgreSQL, dbpm's own schema, made where there is none yet.
pub(super) const PG_STATE_SCHEMA: &str = "CREATE SCHEMA IF NOT EXISTS dbpm";

/// The statement that makes the `meta` table readable, before its version is read.
pub(super) const BOOTSTRAP: &str = META;

/// Every migration, in order; the last one's version is [`STATE_VERSION`].
pub(super) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        description: "installed packages and scripts, script texts, runs and the step journal",
        statements: &[
            // What is installed: one row per package of each target schema.
            "CREATE TABLE IF NOT EXISTS {installed_packages} (
            target_schema VARCHAR(128) NOT NULL,
            name VARCHAR(128) NOT NULL,
            version VARCHAR(255) NOT NULL,
            checksum VARCHAR(80) NOT NULL,
            manifest {longtext} NOT NULL,
            placeholders {longtext} NOT NULL,
            run_id VARCHAR(64),
            adopted BOOLEAN NOT NULL,
            installed_at VARCHAR(40),
            PRIMARY KEY (target_schema, name)
        ){table_options}",
            // The text of every script ever installed, once per checksum.
            "CREATE TABLE IF NOT EXISTS {script_texts} (
            checksum VARCHAR(80) NOT NULL PRIMARY KEY,
            content {longtext} NOT NULL
        ){table_options}",
            // The scripts of each installed package. MySQL keys are at most 3072 bytes, 4 per
            // character: 128 + 128 + 400 characters fit.
            "CREATE TABLE IF NOT EXISTS {installed_scripts} (
            target_schema VARCHAR(128) NOT NULL,
            package VARCHAR(128) NOT NULL,
            path VARCHAR(400) NOT NULL,
            checksum VARCHAR(80) NOT NULL,
            PRIMARY KEY (target_schema, package, path),
            FOREIGN KEY (target_schema, package)
                REFERENCES {installed_packages} (target_schema, name) ON DELETE CASCADE,
            FOREIGN KEY (checksum) REFERENCES {script_texts} (checksum)
        ){table_options}",
            // One row per apply (or undo, restore, ...) of a plan; the installed sets are JSON.
            "CREATE TABLE IF NOT EXISTS {runs} (
            id VARCHAR(64) NOT NULL PRIMARY KEY,
            target_schema VARCHAR(128) NOT NULL,
            plan_hash VARCHAR(80) NOT NULL,
            os_user VARCHAR(255) NOT NULL,
            started_at VARCHAR(40) NOT NULL,
            ended_at VARCHAR(40),
            outcome VARCHAR(32) NOT NULL,
            installed_before {longtext} NOT NULL,
            installed_after {longtext}
        ){table_options}",
            // The step journal: one row per attempt of a step in a run.
            "CREATE TABLE IF NOT EXISTS {journal} (
            run_id VARCHAR(64) NOT NULL,
            step_id VARCHAR(512) NOT NULL,
            attempt BIGINT NOT NULL,
            state VARCHAR(32) NOT NULL,
            started_at VARCHAR(40) NOT NULL,
            ended_at VARCHAR(40),
            output {longtext},
            PRIMARY KEY (run_id, step_id, attempt),
            FOREIGN KEY (run_id) REFERENCES {runs} (id)
        ){table_options}",
        ],
    },
    // No statement: the layout is the same, but from here on a run's record may hold the
    // versions it walked through (`walked`), which a dbpm of layout 1 cannot read. The version
    // makes such a dbpm refuse the target where it checks it (all but its `history`, which
    // reports the record as unreadable).
    Migration {
        version: 2,
        description: "run records keep the package versions a run walked through",
        statements: &[],
    },
    // No statement: from here on a run's record of an installed set leaves the script texts
    // out, and the texts of the versions a run walked through are kept in `script_texts` with
    // the others. A dbpm of layout 2 would find the texts missing from such a record.
    Migration {
        version: 3,
        description: "run records leave the script texts to script_texts",
        statements: &[],
    },
    Migration {
        version: 4,
        description: "the plan of every run, so an unfinished run resumes from the target alone",
        statements: &["CREATE TABLE IF NOT EXISTS {plans} (
            hash VARCHAR(80) NOT NULL PRIMARY KEY,
            content {longtext} NOT NULL
        ){table_options}"],
    },
    // A table of its own rather than a column of `runs`: `ADD COLUMN IF NOT EXISTS` is not
    // on every platform, and a migration runs again after a crash before it was recorded.
    Migration {
        version: 5,
        description: "the apply that holds each run, so that a step of an apply that lost the run lock cannot commit",
        statements: &["CREATE TABLE IF NOT EXISTS {run_owners} (
            run_id VARCHAR(64) NOT NULL PRIMARY KEY,
            owner VARCHAR(64) NOT NULL
        ){table_options}"],
    },
    // No statement: from here on the journal may hold `could_not_start`, which a dbpm of
    // layout 5 would skip, resuming a failed run forward instead of rolling it back.
    Migration {
        version: 6,
        description: "the journal says when a step could not start (its admin connection failed)",
        statements: &[],
    },
];

/// Records a migration as applied.
pub(super) const RECORD_MIGRATION: &str =
    "INSERT INTO {meta} (version, description, applied_at, applied_by) VALUES (?, ?, {now}, ?)";

/// The highest migration applied, and the dbpm that applied it.
pub(super) const CURRENT_VERSION: &str =
    "SELECT version, applied_by FROM {meta} ORDER BY version DESC LIMIT 1";

/// Who applies a migration: this dbpm.
pub(super) const APPLIED_BY: &str = concat!("dbpm ", env!("CARGO_PKG_VERSION"));

#[cfg(test)]
mod tests {
    use super::super::dialect::render;
    use super::*;
    use crate::platform::Platform;

    #[test]
    fn migrations_are_numbered_in_order_up_to_the_state_version() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1);
        }
        assert_eq!(MIGRATIONS.last().map(|m| m.version), Some(STATE_VERSION));
        let creates_plans = MIGRATIONS
            .iter()
            .find(|m| m.statements.iter().any(|s| s.contains("{plans}")))
            .map(|m| m.version);
        assert_eq!(creates_plans, Some(PLANS_KEPT_FROM));
    }

    #[test]
    fn every_statement_renders_without_a_leftover_token() {
        let all = MIGRATIONS.iter().flat_map(|m| m.statements.iter()).chain([
            &META,
            &RECORD_MIGRATION,
            &CURRENT_VERSION,
        ]);
        for statement in all {
            for platform in Platform::ALL {
                let sql = render(platform, statement);
                assert!(!sql.contains(['{', '}']), "{platform}: {sql}");
            }
        }
    }
}
