//! Advice at build time about what SQL scripts say, given how dbpm runs them on each
//! platform: statements that make a script fail at apply (an error), or that take away the
//! all-or-nothing its transaction promises (a warning). Each finding names the file and
//! points at the statement at fault; one script gets one diagnostic per kind of finding,
//! whatever the number of platforms it runs on.
//!
//! Scripts are read with [`statements::scan`], never run; a statement the scanner cannot
//! follow hides a finding rather than inventing one.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::sync::Arc;

use crate::diagnostic::{Problem, SourceFile};
use crate::manifest::ScriptFlags;
use crate::platform::Platform;

use super::source::FileTree;
use super::statements::{self, Statement};
use super::Kind;

/// A script as it runs on one platform.
#[derive(Debug, Clone)]
pub(super) struct Subject<'a> {
    /// Its path in the package.
    pub path: &'a str,
    /// Its text.
    pub text: &'a Arc<str>,
    /// How it runs.
    pub kind: Kind,
    /// What it declares.
    pub flags: ScriptFlags,
    /// Its declaration key, `PHASE/NNN.name`.
    pub key: String,
    /// For a compensation, the key of its forward script when that one is declared
    /// `transaction = false`.
    pub forward_outside_transaction: Option<String>,
    /// Whether its manifest is a legacy `manifest.dpm`, which declares no scripts.
    pub legacy_manifest: bool,
}

/// What is wrong; each gets its own code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    Delimiter,
    ClientCommand,
    ByteOrderMark,
    CopyFromStdin,
    TransactionControl,
    ImplicitCommit,
    CannotRunInTransaction,
    SeveralStatementsOutside,
    RefusedInImplicitTransaction,
    ForeignKeysPragma,
    JournalModePragma,
}

/// One finding in one script: where to point, and the offending statements.
#[derive(Debug, Clone)]
struct Finding {
    anchor: Range<usize>,
    /// What each offending statement is (`COMMIT`) and its line.
    statements: Vec<(String, usize)>,
}

/// The findings of one script and check, over the platforms where they hold.
#[derive(Debug, Clone)]
struct Group<'a> {
    subject: Subject<'a>,
    finding: Finding,
    platforms: BTreeSet<Platform>,
}

/// Every finding about the scripts of a package; `scripts_on` gives the scripts that run on
/// a platform.
pub(super) fn check<'a>(
    tree: &FileTree,
    platforms: &BTreeSet<Platform>,
    scripts_on: impl Fn(Platform) -> Vec<Subject<'a>>,
) -> Vec<Problem> {
    let mut groups: BTreeMap<(&'a str, Check), Group<'a>> = BTreeMap::new();
    for &platform in platforms {
        for subject in scripts_on(platform) {
            if subject.kind == Kind::Cmd {
                continue;
            }
            let found: Vec<Statement<'_>> = statements::scan(subject.text, platform).collect();
            for (check, finding) in findings(&subject, platform, &found) {
                groups
                    .entry((subject.path, check))
                    .or_insert_with(|| Group {
                        subject: subject.clone(),
                        finding,
                        platforms: BTreeSet::new(),
                    })
                    .platforms
                    .insert(platform);
            }
        }
    }
    groups
        .into_iter()
        .map(|((_, check), group)| problem(tree, check, &group))
        .collect()
}

/// What is wrong with one script on one platform.
fn findings(
    subject: &Subject<'_>,
    platform: Platform,
    found: &[Statement<'_>],
) -> Vec<(Check, Finding)> {
    let in_transaction = subject.kind.runs_in_transaction(subject.flags, platform);
    let mut out = Vec::new();
    let mut collect = |check, what: Classify| {
        let mut finding: Option<Finding> = None;
        for statement in found {
            if let Some((name, anchor)) = what(statement) {
                let line = statement.line_of(anchor.start);
                finding
                    .get_or_insert_with(|| Finding {
                        anchor,
                        statements: Vec::new(),
                    })
                    .statements
                    .push((name, line));
            }
        }
        if let Some(finding) = finding {
            out.push((check, finding));
        }
    };
    collect(Check::Delimiter, client_delimiter);
    collect(Check::ClientCommand, client_command);
    if platform != Platform::Sqlite {
        collect(Check::ByteOrderMark, byte_order_mark);
    }
    if platform == Platform::Postgres {
        collect(Check::CopyFromStdin, copy_from_stdin);
    }
    if in_transaction {
        collect(Check::TransactionControl, transaction_control);
    }
    if in_transaction && platform == Platform::Mysql {
        collect(Check::ImplicitCommit, implicit_commit);
    }
    if in_transaction && platform == Platform::Postgres {
        collect(Check::CannotRunInTransaction, cannot_run_in_transaction);
    }
    if in_transaction && platform == Platform::Sqlite {
        collect(
            Check::CannotRunInTransaction,
            sqlite_cannot_run_in_transaction,
        );
        collect(Check::ForeignKeysPragma, foreign_keys_pragma);
        collect(Check::JournalModePragma, journal_mode_pragma);
    }
    // Several statements outside a transaction run in one implicit transaction, which
    // refuses what a transaction block refuses.
    let several_outside =
        platform == Platform::Postgres && !subject.flags.transaction && found.len() > 1;
    if several_outside {
        collect(
            Check::RefusedInImplicitTransaction,
            cannot_run_in_transaction,
        );
    }
    if several_outside
        && !out
            .iter()
            .any(|(check, _)| *check == Check::RefusedInImplicitTransaction)
    {
        out.push((
            Check::SeveralStatementsOutside,
            Finding {
                anchor: found[1].head(0),
                statements: found.iter().map(|s| (leading(s, 0), s.line)).collect(),
            },
        ));
    }
    out
}

/// What an offending statement is (`COMMIT`) and where to point, or `None` for a fine one.
type Offence = Option<(String, Range<usize>)>;

/// Tells whether a statement offends, and how.
type Classify = fn(&Statement<'_>) -> Offence;

/// A `DELIMITER` line, which the mysql client reads and no server understands.
fn client_delimiter(statement: &Statement<'_>) -> Offence {
    statement
        .starts_with(&["DELIMITER"])
        .then(|| ("DELIMITER".to_owned(), statement.span.clone()))
}

/// A backslash command of a command-line client (psql's `\set`, `\i`, `\connect`,
/// `\gexec`, mysql's `\.`), on a line of its own or after a query: the client reads it, no
/// server would.
fn client_command(statement: &Statement<'_>) -> Offence {
    let (token, span) = statement.backslash_command()?;
    Some((token.to_owned(), span))
}

/// A byte-order mark past the start of the script, outside quotes and comments: what joining
/// files saved with one leaves (`cat a.sql b.sql`). Only the one that opens a file is
/// stepped over; PostgreSQL and MySQL/MariaDB read another as part of a word (SQLite skips it).
fn byte_order_mark(statement: &Statement<'_>) -> Offence {
    let at = statement.find_in_words('\u{feff}')?;
    Some(("U+FEFF".to_owned(), at))
}

/// PostgreSQL's `COPY … FROM stdin`, whose data only a client such as psql sends (the
/// scanner steps over its data lines).
fn copy_from_stdin(statement: &Statement<'_>) -> Offence {
    let stdin = statement.copy_from_stdin()?;
    Some(("COPY … FROM stdin".to_owned(), statement.head(stdin)))
}

/// The leading words of a statement up to the `last`th, in capitals: what it is.
fn leading(statement: &Statement<'_>, last: usize) -> String {
    (0..=last)
        .map_while(|i| statement.word(i))
        .map(str::to_ascii_uppercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `BEGIN`, `START TRANSACTION`, `COMMIT`, `END`, `ROLLBACK`, `ABORT` as statements of their
/// own; not savepoints (`ROLLBACK TO`), which live inside a transaction, nor two-phase
/// commits, nor MariaDB's `BEGIN NOT ATOMIC` block.
fn transaction_control(statement: &Statement<'_>) -> Offence {
    let is = |i: usize, words: &[&str]| {
        statement
            .word(i)
            .is_some_and(|w| words.iter().any(|k| w.eq_ignore_ascii_case(k)))
    };
    let ends_transaction =
        |i: usize| statement.word(i).is_none() || is(i, &["WORK", "TRANSACTION", "AND"]);
    let control = if is(0, &["BEGIN"]) {
        !statement.starts_with(&["BEGIN", "NOT", "ATOMIC"])
    } else if is(0, &["START"]) {
        is(1, &["TRANSACTION"])
    } else if is(0, &["COMMIT"]) {
        !is(1, &["PREPARED"])
    } else if is(0, &["ROLLBACK"]) {
        let savepoint = is(1, &["TO"]) || (is(1, &["WORK", "TRANSACTION"]) && is(2, &["TO"]));
        !savepoint && !is(1, &["PREPARED"])
    } else if is(0, &["END", "ABORT"]) {
        // `END IF` and its kind at the start of a statement mean a block the scanner lost.
        ends_transaction(1)
    } else {
        false
    };
    let last = usize::from(is(0, &["START"]));
    control.then(|| (leading(statement, last), statement.head(last)))
}

/// What a script run in dbpm's transaction does with that transaction by itself, read in
/// one pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct OwnTransaction {
    /// A `ROLLBACK` (or `ABORT`) of its own: it would undo part of the step while the rest
    /// commits as if whole.
    pub rolls_back: bool,
    /// A `COMMIT` of its own, or on MySQL/MariaDB a statement that commits at once (DDL): a
    /// failure after it leaves that part behind, which no rollback of the step undoes.
    pub commits: bool,
}

/// [`OwnTransaction`] of `sql` as `platform` reads it.
pub(crate) fn own_transaction(sql: &str, platform: Platform) -> OwnTransaction {
    let mut own = OwnTransaction::default();
    for statement in statements::scan(sql, platform) {
        match statements::transaction_end(&statement) {
            Some(statements::TransactionEnd::Rollback) => own.rolls_back = true,
            Some(statements::TransactionEnd::Commit) => own.commits = true,
            None => {}
        }
        own.commits |= platform == Platform::Mysql && implicit_commit(&statement).is_some();
    }
    own
}

/// Whether a script holds transaction control of its own (`BEGIN`, `COMMIT`, `ROLLBACK`
/// and their kin; not savepoints).
pub(crate) fn controls_transactions(sql: &str, platform: Platform) -> bool {
    statements::scan(sql, platform).any(|s| transaction_control(&s).is_some())
}

/// Whether a PostgreSQL script run outside a transaction may commit part of its work before
/// it fails, so that running it again would repeat that part: it has transaction control of
/// its own, builds or drops `CONCURRENTLY` (committing as it goes), `CALL`s a procedure
/// (which may commit), or runs a `DO` block that names `COMMIT`. Without any, PostgreSQL runs
/// its statements as one implicit transaction, all or nothing. `false` elsewhere: MySQL and
/// MariaDB say how many statements completed.
pub(crate) fn commits_in_parts(sql: &str, platform: Platform) -> bool {
    platform == Platform::Postgres
        && statements::scan(sql, platform).any(|statement| {
            transaction_control(&statement).is_some()
                || statement.find_word("CONCURRENTLY").is_some()
                || statement.starts_with(&["CALL"])
                || statement.starts_with(&["DO"])
                    && statement.text().to_ascii_lowercase().contains("commit")
        })
}

/// On MySQL/MariaDB, a statement that commits the transaction by itself (DDL and the like),
/// except the temporary tables that do not.
fn implicit_commit(statement: &Statement<'_>) -> Offence {
    const COMMITTING: [&str; 12] = [
        "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "GRANT", "REVOKE", "LOCK", "ANALYZE",
        "OPTIMIZE", "REPAIR", "FLUSH",
    ];
    let first = statement.word(0)?;
    if !COMMITTING.iter().any(|k| first.eq_ignore_ascii_case(k))
        || statement
            .word(1)
            .is_some_and(|w| w.eq_ignore_ascii_case("TEMPORARY"))
    {
        return None;
    }
    // Named up to the kind of object when it comes soon (`CREATE OR REPLACE VIEW`), so
    // that no name is shown as a keyword.
    const KINDS: [&str; 14] = [
        "TABLE",
        "TABLES",
        "VIEW",
        "INDEX",
        "PROCEDURE",
        "FUNCTION",
        "TRIGGER",
        "EVENT",
        "DATABASE",
        "SCHEMA",
        "USER",
        "ROLE",
        "SEQUENCE",
        "TABLESPACE",
    ];
    let last = (1..=3)
        .find(|i| {
            statement
                .word(*i)
                .is_some_and(|w| KINDS.iter().any(|k| w.eq_ignore_ascii_case(k)))
        })
        .unwrap_or(0);
    Some((leading(statement, last), statement.head(last)))
}

/// On PostgreSQL, a statement that refuses to run inside a transaction block: `VACUUM`,
/// `CONCURRENTLY` index builds and drops (not `REFRESH MATERIALIZED VIEW CONCURRENTLY`, which
/// may), databases, tablespaces, `ALTER SYSTEM`, `REINDEX DATABASE|SYSTEM`.
fn cannot_run_in_transaction(statement: &Statement<'_>) -> Offence {
    let is = |i: usize, word: &str| {
        statement
            .word(i)
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    };
    let last = if is(0, "VACUUM") {
        0
    } else if (is(0, "CREATE") || is(0, "DROP")) && (is(1, "DATABASE") || is(1, "TABLESPACE"))
        || is(0, "ALTER") && is(1, "SYSTEM")
        || is(0, "REINDEX") && (is(1, "DATABASE") || is(1, "SYSTEM"))
    {
        1
    } else if ["CREATE", "DROP", "REINDEX", "ALTER"]
        .iter()
        .any(|k| is(0, k))
    {
        statement.find_word("CONCURRENTLY")?
    } else {
        return None;
    };
    let what = if last > 3 {
        // `ALTER TABLE t DETACH PARTITION p CONCURRENTLY`: no names shown as keywords.
        format!("{} … CONCURRENTLY", leading(statement, 0))
    } else {
        leading(statement, last)
    };
    Some((what, statement.head(last)))
}

/// On SQLite, a statement that refuses to run inside a transaction: `VACUUM` (and
/// `VACUUM INTO`).
fn sqlite_cannot_run_in_transaction(statement: &Statement<'_>) -> Offence {
    statement
        .starts_with(&["VACUUM"])
        .then(|| ("VACUUM".to_owned(), statement.head(0)))
}

/// SQLite's `PRAGMA journal_mode = …` (also `PRAGMA main.journal_mode(…)`), which cannot
/// change the mode inside a transaction; reading the mode is fine.
fn journal_mode_pragma(statement: &Statement<'_>) -> Offence {
    if !statement.starts_with(&["PRAGMA"]) {
        return None;
    }
    let last = (1..=2).find(|&i| {
        statement
            .word(i)
            .is_some_and(|w| w.eq_ignore_ascii_case("journal_mode"))
    })?;
    let name_end = statement.head(last).end - statement.span.start;
    let sets = statement.text()[name_end..]
        .trim_start()
        .starts_with(['=', '(']);
    sets.then(|| ("PRAGMA journal_mode".to_owned(), statement.head(last)))
}

/// SQLite's `PRAGMA foreign_keys`, which does nothing inside a transaction.
fn foreign_keys_pragma(statement: &Statement<'_>) -> Offence {
    let pragma = statement
        .word(0)
        .is_some_and(|w| w.eq_ignore_ascii_case("PRAGMA"))
        && statement
            .word(1)
            .is_some_and(|w| w.eq_ignore_ascii_case("foreign_keys"));
    pragma.then(|| ("PRAGMA foreign_keys".to_owned(), statement.head(1)))
}

/// `` `COMMIT` at line 3 ``, or `` `BEGIN` at line 1, `COMMIT` at line 3 ``.
fn listed(statements: &[(String, usize)]) -> String {
    statements
        .iter()
        .map(|(what, line)| format!("`{what}` at line {line}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `line 3`, `lines 1, 5`.
fn lines(statements: &[(String, usize)]) -> String {
    let numbers: Vec<String> = statements
        .iter()
        .map(|(_, line)| line.to_string())
        .collect();
    match numbers.as_slice() {
        [one] => format!("line {one}"),
        many => format!("lines {}", many.join(", ")),
    }
}

/// `PostgreSQL and SQLite`: the servers' names, for a sentence about how they behave.
fn platform_names(platforms: &BTreeSet<Platform>) -> String {
    let names: Vec<&str> = platforms
        .iter()
        .map(|p| match p {
            Platform::Postgres => "PostgreSQL",
            Platform::Mysql => "MySQL/MariaDB",
            Platform::Sqlite => "SQLite",
        })
        .collect();
    names.join(" and ")
}

/// `postgres and sqlite`.
fn platform_list(platforms: &BTreeSet<Platform>) -> String {
    let names: Vec<&str> = platforms.iter().map(|p| p.as_str()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

fn problem(tree: &FileTree, check: Check, group: &Group<'_>) -> Problem {
    let subject = &group.subject;
    let source = SourceFile::new(tree.display_path(subject.path), Arc::clone(subject.text));
    let finding = &group.finding;
    let offending = listed(&finding.statements);
    let key = &subject.key;
    let at = |problem: Problem, label: &str| problem.at(&source, finding.anchor.clone(), label);
    let problem = match check {
        Check::Delimiter => at(
            Problem::error(
                source.path(),
                "dbpm::package::mysql_delimiter",
                format!("`DELIMITER` is a command of the mysql client, not SQL: the server refuses it ({})", lines(&finding.statements)),
            ),
            "not SQL",
        )
        .with_help("remove the DELIMITER lines and end each statement with `;`: dbpm sends the script as one text, where `CREATE PROCEDURE … BEGIN … END;` needs no other delimiter"),
        Check::ClientCommand => at(
            Problem::error(
                source.path(),
                "dbpm::package::client_command",
                format!("{offending}: backslash commands belong to a command-line client (psql, mysql), not SQL: the server refuses them"),
            ),
            "not SQL",
        )
        .with_help("dbpm sends the script to the server, not through a client: remove the command; write a value the script needs as a placeholder (`${name}` declared in [placeholders]), an included file as a script of its own, a query run with `\\gexec` as a DO block, and `COPY … FROM stdin` data as INSERT statements"),
        Check::ByteOrderMark => at(
            Problem::error(
                source.path(),
                "dbpm::package::byte_order_mark",
                format!("a byte-order mark inside the script ({}): {} takes it as part of the word it touches, a syntax error", lines(&finding.statements), platform_names(&group.platforms).replace(" and ", " (and ") + if group.platforms.len() > 1 { ")" } else { "" }),
            ),
            "byte-order mark",
        )
        .with_help("remove it: files saved with a byte-order mark and joined (`cat a.sql b.sql`) leave one at each join; only the one at the start of a file is stepped over"),
        Check::CopyFromStdin => at(
            Problem::error(
                source.path(),
                "dbpm::package::copy_from_stdin",
                format!("{offending} reads its data from the client (psql sends the lines after it), but dbpm sends the script to the server through a driver, which sends no data: the step cannot succeed"),
            ),
            "needs a client to send the data",
        )
        .with_help("load the data with INSERT statements (`pg_dump --inserts` writes them), or with `COPY … FROM 'file'` from a file on the database server"),
        Check::TransactionControl => {
            let sqlite = group.platforms.contains(&Platform::Sqlite);
            let others: Vec<&str> = group
                .platforms
                .iter()
                .filter_map(|p| match p {
                    Platform::Postgres => Some("PostgreSQL"),
                    Platform::Mysql => Some("MySQL/MariaDB"),
                    Platform::Sqlite => None,
                })
                .collect();
            let mut help = Vec::new();
            if sqlite {
                help.push("SQLite refuses a `BEGIN` inside a transaction, and a `COMMIT` or `ROLLBACK` there makes dbpm's own commit fail".to_owned());
            }
            if !others.is_empty() {
                help.push(format!("on {} a `COMMIT` there commits the statements before it, which a later failure leaves behind", others.join(" and ")));
            }
            help.push("remove them (dbpm runs the whole script in one transaction), or declare the script `transaction = false` if it manages its transactions itself".to_owned());
            let problem = at(
                Problem::error(
                    source.path(),
                    "dbpm::package::transaction_control_in_transaction",
                    format!(
                        "holds its own transaction control ({offending}), but dbpm runs it inside a transaction on {}",
                        platform_list(&group.platforms)
                    ),
                ),
                "transaction control",
            )
            .with_help(help.join("; "));
            if sqlite {
                problem
            } else {
                problem.warning()
            }
        }
        Check::ImplicitCommit => at(
            Problem::error(
                source.path(),
                "dbpm::package::ddl_in_mysql_transaction",
                format!("declared `mysql_transactional`, but holds what MySQL/MariaDB commit at once, outside its transaction: {offending}"),
            ),
            "commits at once on MySQL/MariaDB",
        )
        .with_help(format!("a failure after it leaves it behind, and a failed transactional step is not compensated: move such statements to a script of their own, or remove `mysql_transactional` from [scripts.\"{key}\"] (the step is then journaled and compensated as non-transactional)"))
        .warning(),
        Check::CannotRunInTransaction => {
            let why = match &subject.forward_outside_transaction {
                Some(forward) => format!("; its forward script `{forward}` is declared `transaction = false`, and this compensation must be too"),
                None => String::new(),
            };
            let alone = if group.platforms.contains(&Platform::Postgres) {
                ", with that statement alone in the script (PostgreSQL runs several statements as one implicit transaction)"
            } else {
                ""
            };
            at(
                Problem::error(
                    source.path(),
                    "dbpm::package::cannot_run_in_transaction",
                    format!(
                        "runs inside a transaction on {}, where {offending} cannot run{why}",
                        platform_names(&group.platforms)
                    ),
                ),
                "refused inside a transaction",
            )
            .with_help(format!("declare it in the manifest: [scripts.\"{key}\"] transaction = false{alone}"))
        }
        Check::ForeignKeysPragma => at(
            Problem::error(
                source.path(),
                "dbpm::package::foreign_keys_pragma",
                format!("{offending} does nothing here: the script runs inside a transaction on SQLite, where the pragma is ignored"),
            ),
            "ignored inside a transaction",
        )
        .with_help(format!("dbpm runs SQLite scripts with foreign keys not enforced, as the sqlite3 client does, so a table rebuild needs no pragma: remove it, and check the references after the rebuild with `PRAGMA foreign_key_check`; or, to change enforcement, declare [scripts.\"{key}\"] transaction = false"))
        .warning(),
        Check::JournalModePragma => at(
            Problem::error(
                source.path(),
                "dbpm::package::journal_mode_pragma",
                format!("{offending} does nothing here: the script runs inside a transaction on SQLite, where the journal mode cannot change (the pragma keeps the mode the database has)"),
            ),
            "ignored inside a transaction",
        )
        .with_help(format!("the journal mode belongs to the database file (WAL) or to a connection (other modes), not to a package's change: set it outside dbpm; or, for WAL, declare [scripts.\"{key}\"] transaction = false with the pragma alone in the script"))
        .warning(),
        Check::SeveralStatementsOutside => at(
            Problem::error(
                source.path(),
                "dbpm::package::several_statements_outside_transaction",
                format!("declared to run outside a transaction, but it holds {} statements, which PostgreSQL runs as one implicit transaction", finding.statements.len()),
            ),
            "a second statement",
        )
        .with_help("give each statement that must not run in a transaction (CREATE INDEX CONCURRENTLY, VACUUM, ...) a script of its own; consecutive numbers keep their order")
        .warning(),
        Check::RefusedInImplicitTransaction => at(
            Problem::error(
                source.path(),
                "dbpm::package::refused_in_implicit_transaction",
                format!("declared to run outside a transaction, but it holds several statements, which PostgreSQL runs as one implicit transaction, where {offending} cannot run"),
            ),
            "refused inside the implicit transaction",
        )
        .with_help("give each statement that must not run in a transaction a script of its own (with `transaction = false`), and the other statements scripts of their own; consecutive numbers keep their order"),
    };
    // The help of these names a `[scripts."…"]` declaration, which only a `dbpm.toml` holds.
    let declares = matches!(
        check,
        Check::TransactionControl
            | Check::ImplicitCommit
            | Check::CannotRunInTransaction
            | Check::ForeignKeysPragma
            | Check::JournalModePragma
    );
    if subject.legacy_manifest && declares {
        problem.and_help("a `manifest.dpm` declares no scripts: write the manifest as a `dbpm.toml` (the same name, version, platform and prerequisites) to declare one")
    } else {
        problem
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_script_that_commits_in_parts_is_told_by_its_statements() {
        let pg = |sql: &str| commits_in_parts(sql, Platform::Postgres);
        assert!(pg("CREATE INDEX Concurrently i ON t (x);"));
        assert!(pg("UPDATE t SET x = 1;\nCOMMIT;\nUPDATE t SET y = 1;"));
        assert!(pg("call refresh();"));
        assert!(pg("DO $$BEGIN PERFORM 1; COMMIT; END$$;"));
        assert!(!pg("DO $$BEGIN PERFORM 1; END$$;"));
        assert!(!pg("SELECT recall, call_count FROM t;"));
        assert!(!pg(
            "-- concurrently, later\nALTER TABLE t ADD COLUMN c INTEGER;"
        ));
        assert!(!pg(""));
        assert!(!commits_in_parts("CALL refresh();", Platform::Mysql));
    }

    /// What `what` finds in `sql`, and on which lines.
    fn first(sql: &str, platform: Platform, what: Classify) -> Vec<(String, usize)> {
        statements::scan(sql, platform)
            .filter_map(|s| what(&s).map(|(name, _)| (name, s.line)))
            .collect()
    }

    #[test]
    fn transaction_control_is_told_from_blocks_and_savepoints() {
        let sql = "BEGIN TRANSACTION;\nSAVEPOINT a;\nROLLBACK TO SAVEPOINT a;\nROLLBACK WORK TO a;\nCOMMIT;\nSTART TRANSACTION;\nEND;\nABORT;\nROLLBACK;\nCOMMIT PREPARED 'x';";
        assert_eq!(
            first(sql, Platform::Postgres, transaction_control),
            [
                ("BEGIN".to_owned(), 1),
                ("COMMIT".to_owned(), 5),
                ("START TRANSACTION".to_owned(), 6),
                ("END".to_owned(), 7),
                ("ABORT".to_owned(), 8),
                ("ROLLBACK".to_owned(), 9)
            ]
        );
        let blocks = "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  INSERT INTO b VALUES (1);\nEND;\nSELECT 'BEGIN; COMMIT;'; -- COMMIT;\n/* ROLLBACK; */";
        assert!(first(blocks, Platform::Sqlite, transaction_control).is_empty());
        assert!(first(blocks, Platform::Mysql, transaction_control).is_empty());
        let bodies = "DO $$ BEGIN COMMIT; END $$;\nCREATE PROCEDURE p() LANGUAGE plpgsql AS $body$ BEGIN ROLLBACK; END $body$;";
        assert!(first(bodies, Platform::Postgres, transaction_control).is_empty());
        let mariadb = "BEGIN NOT ATOMIC\n  START TRANSACTION;\n  COMMIT;\nEND;";
        assert!(first(mariadb, Platform::Mysql, transaction_control).is_empty());
    }

    #[test]
    fn client_commands_are_found_at_the_start_of_a_statement() {
        let sql = "\\set ON_ERROR_STOP on\nCREATE TABLE a (x text DEFAULT E'\\n');\n\\i other.sql\nSELECT 1;";
        assert_eq!(
            first(sql, Platform::Postgres, client_command),
            [("\\set".to_owned(), 1), ("\\i".to_owned(), 3)]
        );
        let later = "SELECT 1;\n\\connect other\nSELECT 2;";
        assert_eq!(
            first(later, Platform::Mysql, client_command),
            [("\\connect".to_owned(), 2)]
        );
    }

    #[test]
    fn psql_commands_end_at_their_line_and_hide_nothing_after_them() {
        // QA: consecutive psql lines were one statement with the query after them: only the
        // first command was reported, the quote in `\echo 'Don't …'` opened a string that
        // hid the rest of the script, and the statement after them had no leading words.
        let sql = "\\set ON_ERROR_STOP on\n\\echo 'Don't forget the index'\n\\i other.sql\nBEGIN;\nCREATE INDEX CONCURRENTLY i ON t (c);\nCOMMIT;\n";
        assert_eq!(
            found(sql, Platform::Postgres, Check::ClientCommand),
            [
                ("\\set".to_owned(), 1),
                ("\\echo".to_owned(), 2),
                ("\\i".to_owned(), 3)
            ]
        );
        assert_eq!(
            found(sql, Platform::Postgres, Check::TransactionControl),
            [("BEGIN".to_owned(), 4), ("COMMIT".to_owned(), 6)]
        );
        assert_eq!(
            found(sql, Platform::Postgres, Check::CannotRunInTransaction),
            [("CREATE INDEX CONCURRENTLY".to_owned(), 5)]
        );
    }

    #[test]
    fn a_byte_order_mark_inside_a_script_is_found() {
        // QA: files saved with a BOM and joined built, and failed at apply with a syntax error
        // at `\u{feff}DROP` on PostgreSQL and MariaDB.
        let sql = "DROP TABLE IF EXISTS a;\n\u{feff}DROP TABLE IF EXISTS b;\n\u{feff}-- c\nSELECT '\u{feff}', \"\u{feff}x\"; /* \u{feff} */";
        for platform in [Platform::Postgres, Platform::Mysql] {
            assert_eq!(
                found(sql, platform, Check::ByteOrderMark),
                [("U+FEFF".to_owned(), 2), ("U+FEFF".to_owned(), 3)],
                "{platform}"
            );
        }
        assert!(found(sql, Platform::Sqlite, Check::ByteOrderMark).is_empty());
    }

    /// The backslash commands of `sql`, each with the line it is on.
    fn backslash_commands(sql: &str, platform: Platform) -> Vec<(String, usize)> {
        statements::scan(sql, platform)
            .filter_map(|s| client_command(&s))
            .map(|(token, span)| (token, sql[..span.start].matches('\n').count() + 1))
            .collect()
    }

    #[test]
    fn client_commands_are_found_after_a_query_and_in_copy_data() {
        let gexec = "SELECT 'CREATE DATABASE x'\nWHERE NOT EXISTS (SELECT 1)\\gexec\nSELECT 1;";
        assert_eq!(
            backslash_commands(gexec, Platform::Postgres),
            [("\\gexec".to_owned(), 2)]
        );
        // The `\.` that ends `COPY … FROM stdin` data is part of the data, which the COPY
        // is reported for; one alone is psql's too.
        let copy = "COPY t (a, b) FROM stdin;\n1\tone\n2\ttwo\n\\.\n\nSELECT 1;\n\\.\n";
        assert_eq!(
            backslash_commands(copy, Platform::Postgres),
            [("\\.".to_owned(), 7)]
        );
        let vertical = "SELECT * FROM t\\G\nSELECT 2;";
        assert_eq!(
            backslash_commands(vertical, Platform::Mysql),
            [("\\G".to_owned(), 1)]
        );
        // Backslashes in strings, quoted names, bodies and comments are the server's.
        let quoted = "SELECT 'C:\\temp', E'\\n', \"a\\b\";\nDO $$ BEGIN RAISE NOTICE '\\x'; END $$;\n-- \\set x\n/* \\i y */ SELECT 1;";
        assert!(backslash_commands(quoted, Platform::Postgres).is_empty());
        let mysql = "SELECT 'it\\'s \\n', `a\\b`; # \\G\nSELECT \"\\\"\\c\";";
        assert!(backslash_commands(mysql, Platform::Mysql).is_empty());
    }

    #[test]
    fn copy_from_stdin_is_found_whatever_its_data_holds() {
        // QA: with `it's` in a data row the `\.` was read as inside a string, and the
        // script built, to fail at apply with a syntax error.
        let sql = "CREATE TABLE t (id int, label text);\nCOPY t (id, label) FROM stdin;\n1\tit's\n\\.\nCOPY t TO STDOUT;\ncopy t FROM STDIN WITH (FORMAT csv);\n2,O'Brien\n";
        assert_eq!(
            first(sql, Platform::Postgres, copy_from_stdin),
            [
                ("COPY … FROM stdin".to_owned(), 2),
                ("COPY … FROM stdin".to_owned(), 6)
            ]
        );
        assert!(first(sql, Platform::Postgres, client_command).is_empty());
    }

    /// The findings of `check` in `sql`, a transactional `.sql` script, on `platform`.
    fn found(sql: &str, platform: Platform, check: Check) -> Vec<(String, usize)> {
        let text: Arc<str> = Arc::from(sql);
        let subject = Subject {
            path: "UPGRADE/001.a.sql",
            text: &text,
            kind: Kind::Sql,
            flags: ScriptFlags {
                mysql_transactional: true,
                ..ScriptFlags::default()
            },
            key: "UPGRADE/001.a".to_owned(),
            forward_outside_transaction: None,
            legacy_manifest: false,
        };
        let scanned: Vec<Statement<'_>> = statements::scan(sql, platform).collect();
        findings(&subject, platform, &scanned)
            .into_iter()
            .filter(|(c, _)| *c == check)
            .flat_map(|(_, finding)| finding.statements)
            .collect()
    }

    #[test]
    fn a_finding_names_the_line_it_points_at() {
        // QA: "`\.` at line 3" while the pointer was at line 6: the line was the one its
        // statement started on.
        let sql = "SELECT 1;\nSELECT 'CREATE DATABASE x'\nWHERE NOT EXISTS (SELECT 1)\n\\gexec\n";
        assert_eq!(
            found(sql, Platform::Postgres, Check::ClientCommand),
            [("\\gexec".to_owned(), 4)]
        );
    }

    #[test]
    fn the_foreign_keys_pragma_is_found() {
        let sql = "PRAGMA foreign_keys = OFF;\nPRAGMA foreign_key_check;\npragma FOREIGN_KEYS=ON;";
        assert_eq!(
            first(sql, Platform::Sqlite, foreign_keys_pragma),
            [
                ("PRAGMA foreign_keys".to_owned(), 1),
                ("PRAGMA foreign_keys".to_owned(), 3)
            ]
        );
    }

    #[test]
    fn sqlite_vacuum_and_journal_mode_changes_are_found() {
        // QA: `VACUUM` failed at apply ("cannot VACUUM from within a transaction"), and
        // `PRAGMA journal_mode = WAL` left the mode as it was, both without a word at build.
        let sql = "DELETE FROM t;\nVACUUM;\nvacuum into '/tmp/copy.db';\nPRAGMA journal_mode;\nPRAGMA journal_mode = WAL;\nPRAGMA main.journal_mode('delete');\nSELECT 'VACUUM';";
        assert_eq!(
            found(sql, Platform::Sqlite, Check::CannotRunInTransaction),
            [("VACUUM".to_owned(), 2), ("VACUUM".to_owned(), 3)]
        );
        assert_eq!(
            found(sql, Platform::Sqlite, Check::JournalModePragma),
            [
                ("PRAGMA journal_mode".to_owned(), 5),
                ("PRAGMA journal_mode".to_owned(), 6)
            ]
        );
        // PostgreSQL has no such pragma, and MySQL no VACUUM to refuse.
        assert!(found(sql, Platform::Postgres, Check::JournalModePragma).is_empty());
        assert!(found(sql, Platform::Mysql, Check::CannotRunInTransaction).is_empty());
    }

    #[test]
    fn implicit_commits_are_ddl_but_not_temporary_tables() {
        let sql = "INSERT INTO a VALUES (1);\nCREATE TEMPORARY TABLE t (x int);\ncreate table b (x int);\nCREATE OR REPLACE VIEW v AS SELECT 1;\nDROP TEMPORARY TABLE t;\nTRUNCATE a;";
        assert_eq!(
            first(sql, Platform::Mysql, implicit_commit),
            [
                ("CREATE TABLE".to_owned(), 3),
                ("CREATE OR REPLACE VIEW".to_owned(), 4),
                ("TRUNCATE".to_owned(), 6)
            ]
        );
    }

    #[test]
    fn mysql_executable_comments_are_checked_as_code_on_mysql_only() {
        // QA: `/*!50001 CREATE TABLE … */` in a `mysql_transactional` script stayed behind
        // a step reported rolled back, without a warning at build.
        let sql = "INSERT INTO a VALUES (1);\n/*!50001 CREATE TABLE hidden (id INT) */;\n/*!40101 COMMIT */;\n/*M!100100 DROP TABLE b */;\n";
        assert_eq!(
            found(sql, Platform::Mysql, Check::ImplicitCommit),
            [("CREATE TABLE".to_owned(), 2), ("DROP TABLE".to_owned(), 4)]
        );
        assert_eq!(
            found(sql, Platform::Mysql, Check::TransactionControl),
            [("COMMIT".to_owned(), 3)]
        );
        for platform in [Platform::Postgres, Platform::Sqlite] {
            assert!(found(sql, platform, Check::TransactionControl).is_empty());
        }
    }

    #[test]
    fn statements_that_refuse_a_transaction_block() {
        let sql = "CREATE UNIQUE INDEX CONCURRENTLY i ON t (c);\nREFRESH MATERIALIZED VIEW CONCURRENTLY m;\nVACUUM ANALYZE t;\nDROP INDEX CONCURRENTLY IF EXISTS i;\nCREATE DATABASE d;\nSELECT 'CONCURRENTLY';\nALTER TABLE t DETACH PARTITION p CONCURRENTLY;";
        assert_eq!(
            first(sql, Platform::Postgres, cannot_run_in_transaction),
            [
                ("CREATE UNIQUE INDEX CONCURRENTLY".to_owned(), 1),
                ("VACUUM".to_owned(), 3),
                ("DROP INDEX CONCURRENTLY".to_owned(), 4),
                ("CREATE DATABASE".to_owned(), 5),
                ("ALTER … CONCURRENTLY".to_owned(), 7)
            ]
        );
    }
}
