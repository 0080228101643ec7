//! SQL scripts read as the top-level statements a database server would see, each with its
//! words and the line it starts on. Quotes, quoted names, comments, PostgreSQL's
//! dollar-quoted bodies, parentheses and the `BEGIN … END` bodies of triggers and routines
//! are stepped over, in the way of the platform the script runs on; a `DELIMITER` line (a
//! mysql client command) is one statement of its own and changes the delimiter after it, as
//! the client would. On MySQL/MariaDB the executable comments `/*! … */`, `/*!50001 … */` and
//! `/*M! … */` are code, as the server runs what they hold: only their markers are stepped
//! over. The data lines after PostgreSQL's `COPY … FROM stdin;`, up to the `\.`
//! that ends them, are stepped over as psql would: they are no SQL, and a quote in them
//! (`O'Brien`) opens no string. On PostgreSQL a psql backslash command (`\set`, `\i`,
//! `\gexec`) runs to the end of its line and is a statement of its own, as psql reads it.
//!
//! For advice at build time (which statements a script holds, where they start), for
//! telling a dump's statements from the psql commands between them, and at apply for how a
//! script must run: alone or batched, in dbpm's transaction or as written (its own
//! `COMMIT`), or not at all (its own `ROLLBACK`). It never changes what runs, and it is not
//! a parser: a statement it cannot follow is kept as one piece of text, which hides a
//! finding rather than inventing one, but for a string it loses track of (MySQL's
//! `NO_BACKSLASH_ESCAPES` reads `'C:\dir\'` otherwise), after which it may see a word of
//! a later string as a statement.

use std::ops::Range;

use crate::platform::Platform;

/// One top-level statement of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    sql: &'a str,
    /// From its first token to the end of its last one (its delimiter excluded).
    pub span: Range<usize>,
    /// The line its first token is on, from 1.
    pub line: usize,
    /// Its words (keywords and names outside quotes and comments), in order.
    words: Vec<Range<usize>>,
    /// Whether its first token is a word (not `(`, a string, ...).
    opens_with_word: bool,
    /// Its first backslash command (`\set`, `\gexec`, `\.`) outside quotes and comments.
    backslash: Option<Range<usize>>,
}

impl<'a> Statement<'a> {
    /// Its text.
    pub fn text(&self) -> &'a str {
        &self.sql[self.span.clone()]
    }

    /// Its first backslash command outside quotes and comments, and where it is: a line of
    /// a command-line client (psql's `\set`, a query sent with `\gexec`, the `\.` that ends
    /// `COPY … FROM stdin` data, mysql's `\G`). No server reads a backslash there.
    pub fn backslash_command(&self) -> Option<(&'a str, Range<usize>)> {
        self.backslash
            .clone()
            .map(|span| (&self.sql[span.clone()], span))
    }

    /// Its `index`th leading word: only for a statement that opens with a word.
    pub fn word(&self, index: usize) -> Option<&'a str> {
        if !self.opens_with_word {
            return None;
        }
        self.words.get(index).map(|w| &self.sql[w.clone()])
    }

    /// Whether its leading words are `keywords` (any case).
    pub fn starts_with(&self, keywords: &[&str]) -> bool {
        keywords
            .iter()
            .enumerate()
            .all(|(i, k)| self.word(i).is_some_and(|w| w.eq_ignore_ascii_case(k)))
    }

    /// Where it reads data from the client, when it is PostgreSQL's `COPY … FROM stdin`: the
    /// index of the `STDIN` word.
    pub fn copy_from_stdin(&self) -> Option<usize> {
        if !self.starts_with(&["COPY"]) {
            return None;
        }
        let word = |i: usize| &self.sql[self.words[i].clone()];
        (1..self.words.len()).find(|&i| {
            word(i - 1).eq_ignore_ascii_case("FROM") && word(i).eq_ignore_ascii_case("STDIN")
        })
    }

    /// The line `offset` (inside it) is on, from 1.
    pub fn line_of(&self, offset: usize) -> usize {
        let before = self.sql.get(self.span.start..offset).unwrap_or("");
        self.line + before.matches('\n').count()
    }

    /// Whether `keyword` is one of its words (any case), and where.
    pub fn find_word(&self, keyword: &str) -> Option<usize> {
        self.words
            .iter()
            .position(|w| self.sql[w.clone()].eq_ignore_ascii_case(keyword))
    }

    /// Where `c` is inside one of its words (keywords and names outside quotes and comments).
    pub fn find_in_words(&self, c: char) -> Option<Range<usize>> {
        self.words.iter().find_map(|w| {
            let at = w.start + self.sql[w.clone()].find(c)?;
            Some(at..at + c.len_utf8())
        })
    }

    /// The span from its start to the end of its `index`th word (the whole statement when it
    /// has fewer words): what a diagnostic points at.
    pub fn head(&self, index: usize) -> Range<usize> {
        let end = self.words.get(index).map_or(self.span.end, |w| w.end);
        self.span.start..end.max(self.span.start)
    }
}

/// The statements of `sql`, as `platform` reads it.
pub fn scan(sql: &str, platform: Platform) -> Statements<'_> {
    Statements {
        sql,
        platform,
        at: 0,
        line: 1,
        line_at: 0,
        delimiter: ";".to_owned(),
        executable: false,
    }
}

/// How a statement ends a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransactionEnd {
    /// `COMMIT` or `END`.
    Commit,
    /// `ROLLBACK` or `ABORT`.
    Rollback,
}

/// How `statement` ends a transaction, if it does: not a `ROLLBACK TO` a savepoint, nor a
/// two-phase `COMMIT PREPARED`.
pub fn transaction_end(statement: &Statement<'_>) -> Option<TransactionEnd> {
    let is = |i: usize, words: &[&str]| {
        statement
            .word(i)
            .is_some_and(|w| words.iter().any(|k| w.eq_ignore_ascii_case(k)))
    };
    let plain = |i: usize| statement.word(i).is_none() || is(i, &["WORK", "TRANSACTION", "AND"]);
    let to_savepoint = is(1, &["TO"]) || (is(1, &["WORK", "TRANSACTION"]) && is(2, &["TO"]));
    let prepared = is(1, &["PREPARED"]);
    if is(0, &["COMMIT"]) && !prepared || is(0, &["END"]) && plain(1) {
        Some(TransactionEnd::Commit)
    } else if is(0, &["ROLLBACK"]) && !to_savepoint && !prepared || is(0, &["ABORT"]) && plain(1) {
        Some(TransactionEnd::Rollback)
    } else {
        None
    }
}

/// Whether `sql` holds a statement whose effect outlives its transaction on the connection
/// it ran on, so that a script that ran after it there would see it: a pragma, an attached
/// database, a temporary table, view or trigger. (SQLite: where dbpm runs several steps on
/// one connection.)
pub fn changes_session(sql: &str, platform: Platform) -> bool {
    scan(sql, platform).any(|statement| {
        // `CREATE TABLE [IF NOT EXISTS] temp.t` makes a temporary table as `CREATE TEMP
        // TABLE t` does. (A name `temp.` elsewhere before the first parenthesis, in a view's
        // query say, is taken for one too: it only runs alone.)
        let in_temp = statement.starts_with(&["CREATE"]) && {
            let text = statement.text();
            let head = text.split('(').next().unwrap_or(text);
            let bare: String = head
                .chars()
                .filter(|c| !matches!(c, '"' | '`' | '[' | ']'))
                .collect();
            bare.to_ascii_lowercase().contains("temp.")
        };
        statement.starts_with(&["PRAGMA"])
            || statement.starts_with(&["ATTACH"])
            || statement.starts_with(&["DETACH"])
            || statement.starts_with(&["CREATE", "TEMP"])
            || statement.starts_with(&["CREATE", "TEMPORARY"])
            || in_temp
    })
}

/// The iterator of [`scan`].
#[derive(Debug, Clone)]
pub struct Statements<'a> {
    sql: &'a str,
    platform: Platform,
    at: usize,
    /// The line `line_at` is on: lines are counted forward from the last statement.
    line: usize,
    line_at: usize,
    delimiter: String,
    /// Inside a MySQL executable comment, whose `*/` is no token.
    executable: bool,
}

/// The words after `END` that close a block not counted by depth (`END IF`, `END LOOP`, ...).
const UNCOUNTED_BLOCK_ENDS: [&str; 5] = ["IF", "LOOP", "WHILE", "REPEAT", "FOR"];

/// The kinds of object whose `CREATE` may hold a `BEGIN … END` body with statements inside.
const ROUTINES: [&str; 4] = ["TRIGGER", "PROCEDURE", "FUNCTION", "EVENT"];

impl<'a> Iterator for Statements<'a> {
    type Item = Statement<'a>;

    fn next(&mut self) -> Option<Statement<'a>> {
        self.skip_blank();
        if self.at >= self.sql.len() {
            return None;
        }
        let start = self.at;
        let line = self.line_of(start);
        let (span, words, opens_with_word, backslash) = match self.client_delimiter() {
            Some((span, words, opens_with_word)) => (span, words, opens_with_word, None),
            None => self.statement(),
        };
        let statement = Statement {
            sql: self.sql,
            span: start..span,
            line,
            words,
            opens_with_word,
            backslash,
        };
        if self.platform == Platform::Postgres && statement.copy_from_stdin().is_some() {
            self.skip_copy_data();
        }
        Some(statement)
    }
}

impl<'a> Statements<'a> {
    fn bytes(&self) -> &'a [u8] {
        self.sql.as_bytes()
    }

    fn line_of(&mut self, offset: usize) -> usize {
        self.line += self.bytes()[self.line_at..offset]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        self.line_at = offset;
        self.line
    }

    /// Steps over whitespace, comments and empty statements.
    fn skip_blank(&mut self) {
        while self.at < self.sql.len() {
            if self.bytes()[self.at].is_ascii_whitespace() {
                self.at += 1;
            } else if self.sql[self.at..].starts_with(self.delimiter.as_str()) {
                self.at += self.delimiter.len();
            } else if let Some(end) = self.comment_end(self.at) {
                self.at = end;
            } else if let Some(end) = self.executable_marker_end(self.at) {
                self.at = end;
            } else {
                return;
            }
        }
    }

    /// Steps over the data lines psql sends after `COPY … FROM stdin;`: from the next line up
    /// to and with a line `\.`, or to the end of the text.
    fn skip_copy_data(&mut self) {
        let mut at = line_end(self.sql, self.at);
        while at < self.sql.len() {
            let end = line_end(self.sql, at + 1);
            let ends_data = self.sql[at + 1..end].trim_end() == "\\.";
            at = end;
            if ends_data {
                break;
            }
        }
        self.at = at;
    }

    /// A `DELIMITER` line at the start of a statement: the line, its words, and the new
    /// delimiter taken for what follows.
    fn client_delimiter(&mut self) -> Option<(usize, Vec<Range<usize>>, bool)> {
        let start = self.at;
        let word_end = self.word_end(start);
        if !self.sql[start..word_end].eq_ignore_ascii_case("DELIMITER")
            || !self
                .bytes()
                .get(word_end)
                .is_none_or(u8::is_ascii_whitespace)
        {
            return None;
        }
        let line_end = self.sql[start..]
            .find('\n')
            .map_or(self.sql.len(), |n| start + n);
        let line = self.sql[start..line_end].trim_end();
        let mut words = Vec::with_capacity(2);
        words.push(start..word_end);
        if let Some(token) = self.sql[word_end..start + line.len()]
            .split_whitespace()
            .next()
        {
            let at = word_end + self.sql[word_end..].find(token).unwrap_or(0);
            words.push(at..at + token.len());
            self.delimiter = token.to_owned();
        }
        self.at = line_end;
        Some((start + line.len(), words, true))
    }

    /// Reads one statement from `self.at` (past blanks): where its content ends, its words,
    /// whether it opens with a word, its first backslash command. Leaves `self.at` past its
    /// delimiter.
    #[allow(clippy::type_complexity)] // the parts of one statement, taken apart at once
    fn statement(&mut self) -> (usize, Vec<Range<usize>>, bool, Option<Range<usize>>) {
        let bytes = self.bytes();
        // With a delimiter of its own the client splits at it and nowhere else.
        let custom = self.delimiter != ";";
        let mut words: Vec<Range<usize>> = Vec::new();
        let mut opens_with_word = None;
        let mut content_end = self.at;
        let mut parens = 0usize;
        let mut depth = 0usize;
        let mut routine = false;
        let mut after_end = false;
        let mut backslash = None;
        while self.at < bytes.len() {
            let at = self.at;
            let byte = bytes[at];
            if byte.is_ascii_whitespace() {
                self.at += 1;
                continue;
            }
            if (custom || (parens == 0 && depth == 0))
                && self.sql[at..].starts_with(self.delimiter.as_str())
            {
                self.at += self.delimiter.len();
                break;
            }
            if let Some(end) = self
                .comment_end(at)
                .or_else(|| self.executable_marker_end(at))
            {
                self.at = end;
                continue;
            }
            let mut is_word = false;
            self.at = match byte {
                b'\'' => quoted_end(bytes, at, self.backslash_escapes()),
                b'"' => quoted_end(bytes, at, self.platform == Platform::Mysql),
                b'`' => quoted_end(bytes, at, false),
                b'[' if self.platform == Platform::Sqlite => {
                    self.sql[at..].find(']').map_or(bytes.len(), |n| at + n + 1)
                }
                b'$' if self.platform == Platform::Postgres => dollar_quoted_end(self.sql, at),
                b'(' => {
                    parens += 1;
                    at + 1
                }
                b')' => {
                    parens = parens.saturating_sub(1);
                    at + 1
                }
                b'0'..=b'9' => self.word_end(at),
                _ if is_word_start(byte) => {
                    let end = self.word_end(at);
                    let word = &self.sql[at..end];
                    if self.platform == Platform::Postgres
                        && word.eq_ignore_ascii_case("E")
                        && bytes.get(end) == Some(&b'\'')
                    {
                        // E'…': a string with backslash escapes.
                        quoted_end(bytes, end, true)
                    } else {
                        is_word = true;
                        let first = words.is_empty() && opens_with_word.is_none();
                        let keyword = |k: &str| word.eq_ignore_ascii_case(k);
                        if !routine && ROUTINES.iter().any(|k| keyword(k)) {
                            routine = words.first().is_some_and(|w| {
                                self.sql[w.clone()].eq_ignore_ascii_case("CREATE")
                            });
                        }
                        if keyword("BEGIN") {
                            let compound = if first {
                                // MariaDB's `BEGIN NOT ATOMIC … END`; any other is a transaction.
                                let next = self.next_words(end, 2);
                                next.len() == 2
                                    && next[0].eq_ignore_ascii_case("NOT")
                                    && next[1].eq_ignore_ascii_case("ATOMIC")
                            } else {
                                routine && parens == 0
                            };
                            depth += usize::from(compound);
                        } else if keyword("CASE") && depth > 0 && !after_end {
                            // (The CASE of `END CASE` opens nothing.)
                            depth += 1;
                        } else if keyword("END") && depth > 0 {
                            let next = self.next_words(end, 1);
                            let uncounted = next.first().is_some_and(|n| {
                                UNCOUNTED_BLOCK_ENDS
                                    .iter()
                                    .any(|k| n.eq_ignore_ascii_case(k))
                            });
                            depth -= usize::from(!uncounted);
                        }
                        after_end = keyword("END");
                        words.push(at..end);
                        end
                    }
                }
                b'\\' => {
                    let end = self.sql[at..]
                        .find(char::is_whitespace)
                        .map_or(bytes.len(), |n| at + n);
                    let command = bytes
                        .get(at + 1)
                        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'.');
                    if command && self.platform == Platform::Postgres {
                        // psql reads a backslash command and its arguments up to the end of
                        // the line (`\echo 'Don't panic'` opens no string), apart from the
                        // query before it: each is a statement of its own.
                        if opens_with_word.is_none() {
                            backslash = Some(at..end);
                            self.at = line_end(self.sql, at);
                            content_end = at + self.sql[at..self.at].trim_end().len();
                        } else {
                            self.at = at;
                        }
                        break;
                    }
                    if command && backslash.is_none() {
                        backslash = Some(at..end);
                    }
                    at + 1
                }
                _ => at + 1,
            };
            opens_with_word.get_or_insert(is_word);
            content_end = self.at.min(bytes.len());
        }
        (
            content_end,
            words,
            opens_with_word.unwrap_or(false),
            backslash,
        )
    }

    /// Whether `'…'` strings take backslash escapes (MySQL's default; PostgreSQL's only in
    /// `E'…'`).
    fn backslash_escapes(&self) -> bool {
        self.platform == Platform::Mysql
    }

    /// Just past a comment starting at `at`, or `None` when none starts there.
    fn comment_end(&self, at: usize) -> Option<usize> {
        let bytes = self.bytes();
        let next = bytes.get(at + 1).copied();
        match (bytes[at], next) {
            (b'-', Some(b'-')) => {
                // MySQL wants whitespace after `--`; `1--1` is a subtraction there.
                let spaced = bytes.get(at + 2).is_none_or(|b| b.is_ascii_whitespace());
                (self.platform != Platform::Mysql || spaced).then(|| line_end(self.sql, at))
            }
            (b'#', _) if self.platform == Platform::Mysql => Some(line_end(self.sql, at)),
            (b'/', Some(b'*')) => {
                // MySQL runs what `/*! … */` holds: it is content, not a comment.
                (self.executable_opener_end(at).is_none())
                    .then(|| block_comment_end(bytes, at, self.platform == Platform::Postgres))
            }
            _ => None,
        }
    }

    /// Just past the opener of a MySQL executable comment starting at `at` (`/*!`, `/*M!`,
    /// with the version after them: `/*!50001`), or `None` when none starts there. A
    /// version newer than the server's makes a plain comment of it; one that names a
    /// version is read as code all the same, as the servers a package is built for are
    /// not known (and `/*M!`, MariaDB's only, as MySQL's too).
    fn executable_opener_end(&self, at: usize) -> Option<usize> {
        if self.platform != Platform::Mysql {
            return None;
        }
        let rest = &self.sql[at..];
        let opener = ["/*!", "/*M!"].into_iter().find(|o| rest.starts_with(o))?;
        let digits = rest[opener.len()..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        Some(at + opener.len() + digits)
    }

    /// Just past a marker of a MySQL executable comment at `at`: its opener, or the `*/`
    /// that closes one; `None` when none is there. What lies between is read as code.
    fn executable_marker_end(&mut self, at: usize) -> Option<usize> {
        if self.executable && self.sql[at..].starts_with("*/") {
            self.executable = false;
            return Some(at + 2);
        }
        let end = self.executable_opener_end(at)?;
        self.executable = true;
        Some(end)
    }

    /// Just past the word (or number) starting at `at`.
    fn word_end(&self, at: usize) -> usize {
        let bytes = self.bytes();
        // A delimiter of the client's own ends a word too: `END$$`.
        let custom = self.delimiter != ";";
        let mut end = at;
        while end < bytes.len()
            && (is_word_start(bytes[end]) || bytes[end].is_ascii_digit() || bytes[end] == b'$')
            && !(custom && bytes[end..].starts_with(self.delimiter.as_bytes()))
        {
            end += 1;
        }
        end
    }

    /// Up to `n` words after `from`, separated by whitespace only.
    fn next_words(&self, from: usize, n: usize) -> Vec<&'a str> {
        let sql = self.sql;
        let mut found = Vec::new();
        let mut at = from;
        while found.len() < n {
            while at < sql.len() && sql.as_bytes()[at].is_ascii_whitespace() {
                at += 1;
            }
            if at >= sql.len() || !is_word_start(sql.as_bytes()[at]) {
                break;
            }
            let end = self.word_end(at);
            found.push(&sql[at..end]);
            at = end;
        }
        found
    }
}

/// Whether a word (keyword or unquoted name) starts with this byte; bytes of non-ASCII
/// letters count, so a word never ends inside a character.
fn is_word_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80
}

/// The end of the line holding `at` (its newline excluded).
fn line_end(sql: &str, at: usize) -> usize {
    sql[at..].find('\n').map_or(sql.len(), |n| at + n)
}

/// Just past a block comment starting at `start`; PostgreSQL nests them, the others end at
/// the first `*/`.
fn block_comment_end(bytes: &[u8], start: usize, nested: bool) -> usize {
    let mut depth = 0;
    let mut at = start;
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (b'/', b'*') if nested || depth == 0 => {
                depth += 1;
                at += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                at += 2;
                if depth == 0 {
                    return at;
                }
            }
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Just past a string or quoted name starting at `start`; a doubled quote stays inside, and
/// so does an escaped one when `backslash` escapes.
fn quoted_end(bytes: &[u8], start: usize, backslash: bool) -> usize {
    let quote = bytes[start];
    let mut at = start + 1;
    while at < bytes.len() {
        if backslash && bytes[at] == b'\\' {
            at += 2;
            continue;
        }
        if bytes[at] == quote {
            if bytes.get(at + 1) == Some(&quote) {
                at += 2;
                continue;
            }
            return at + 1;
        }
        at += 1;
    }
    bytes.len()
}

/// Just past a dollar-quoted body (`$$ … $$`, `$tag$ … $tag$`) starting at `start`, or past
/// the `$` alone when it opens none (a parameter such as `$1`).
fn dollar_quoted_end(sql: &str, start: usize) -> usize {
    let rest = &sql[start + 1..];
    let tag_len = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let tag_is_name = !rest[..tag_len].starts_with(|c: char| c.is_ascii_digit());
    if !tag_is_name || !rest[tag_len..].starts_with('$') {
        return start + 1;
    }
    let delimiter = &sql[start..start + tag_len + 2];
    let body = start + delimiter.len();
    sql[body..]
        .find(delimiter)
        .map_or(sql.len(), |end| body + end + delimiter.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The number of statements in `sql` as PostgreSQL reads it.
    fn count(sql: &str) -> usize {
        count_on(sql, Platform::Postgres)
    }

    /// The number of statements in `sql` as `platform` reads it.
    fn count_on(sql: &str, platform: Platform) -> usize {
        scan(sql, platform).count()
    }

    /// The statements' texts and lines.
    fn statements(sql: &str, platform: Platform) -> Vec<(usize, &str)> {
        scan(sql, platform).map(|s| (s.line, s.text())).collect()
    }

    #[test]
    fn a_script_that_changes_its_session_is_told_apart() {
        for sql in [
            "PRAGMA case_sensitive_like = ON;",
            "CREATE TEMP TABLE t (a);",
            "create temporary view v AS SELECT 1;",
            "CREATE TABLE temp.t (a);",
            "CREATE TABLE IF NOT EXISTS \"temp\".\"w\" (v TEXT);",
            "CREATE TRIGGER temp.tr AFTER INSERT ON t BEGIN SELECT 1; END;",
            "ATTACH DATABASE 'x.db' AS x;",
        ] {
            assert!(changes_session(sql, Platform::Sqlite), "{sql}");
        }
        for sql in [
            "CREATE TABLE t (temp INTEGER);",
            "INSERT INTO t VALUES ('PRAGMA');",
            "-- PRAGMA foo\nSELECT 1;",
        ] {
            assert!(!changes_session(sql, Platform::Sqlite), "{sql}");
        }
    }

    #[test]
    fn the_last_end_of_a_transaction_is_found() {
        let end = |sql: &str| {
            scan(sql, Platform::Postgres)
                .filter_map(|statement| transaction_end(&statement))
                .last()
        };
        assert_eq!(end("SELECT 1;"), None);
        assert_eq!(
            end("BEGIN; INSERT INTO t VALUES (1); COMMIT;"),
            Some(TransactionEnd::Commit)
        );
        assert_eq!(
            end("INSERT INTO t VALUES (1);\nROLLBACK;\n"),
            Some(TransactionEnd::Rollback)
        );
        assert_eq!(
            end("COMMIT; SELECT 1; ABORT;"),
            Some(TransactionEnd::Rollback)
        );
        assert_eq!(end("ROLLBACK; END;"), Some(TransactionEnd::Commit));
        assert_eq!(
            end("SAVEPOINT a; ROLLBACK TO a; ROLLBACK TRANSACTION TO SAVEPOINT a;"),
            None
        );
        assert_eq!(end("COMMIT PREPARED 'x';"), None);
        assert_eq!(end("DO $$ BEGIN COMMIT; END $$;"), None);
    }

    #[test]
    fn counts_statements_between_top_level_semicolons() {
        assert_eq!(count(""), 0);
        assert_eq!(count("-- only a comment\n"), 0);
        assert_eq!(count("CREATE INDEX CONCURRENTLY i ON t (c);\n"), 1);
        assert_eq!(count("CREATE INDEX CONCURRENTLY i ON t (c)"), 1);
        assert_eq!(count("SELECT 1; SELECT 2;\n-- done\n"), 2);
        assert_eq!(count("SELECT 1;;\n ; /* nothing */ ;"), 1);
    }

    #[test]
    fn semicolons_in_strings_bodies_and_comments_do_not_count() {
        assert_eq!(count("SELECT 'a;b', \"c;d\", 'it''s;';"), 1);
        assert_eq!(count("-- a; b\nSELECT 1 /* c; /* nested; */ d; */;"), 1);
        let function = "CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; SELECT 2; $body$ LANGUAGE sql;\nSELECT f();";
        assert_eq!(count(function), 2);
        assert_eq!(count("DO $$ BEGIN PERFORM 1; END $$;"), 1);
        assert_eq!(count("PREPARE p AS SELECT $1; EXECUTE p(1);"), 2);
        assert_eq!(count("SELECT E'it\\'s;'; SELECT 'a\\'; SELECT 2;"), 3);
        assert_eq!(
            count("CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); INSERT INTO b VALUES (2));"),
            1
        );
    }

    #[test]
    fn statements_carry_their_line_and_words() {
        let sql = "-- header\nBEGIN;\nCREATE TABLE a (x int);\n\n  COMMIT; -- done\nINSERT INTO b\n  VALUES (1)";
        assert_eq!(
            statements(sql, Platform::Postgres),
            [
                (2, "BEGIN"),
                (3, "CREATE TABLE a (x int)"),
                (5, "COMMIT"),
                (6, "INSERT INTO b\n  VALUES (1)")
            ]
        );
        let create = scan(sql, Platform::Postgres).nth(1).unwrap();
        assert!(create.starts_with(&["create", "TABLE"]));
        assert_eq!(create.word(2), Some("a"));
        assert_eq!(&sql[create.head(1)], "CREATE TABLE");
        let paren = scan("(SELECT 1) UNION (SELECT 2);", Platform::Postgres)
            .next()
            .unwrap();
        assert_eq!(paren.word(0), None);
        assert_eq!(paren.find_word("UNION"), Some(1));
    }

    #[test]
    fn trigger_and_routine_bodies_stay_in_their_statement() {
        let sqlite = "CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW\nBEGIN\n  UPDATE b SET n = CASE WHEN n IS NULL THEN 1 ELSE n + 1 END;\n  INSERT INTO c VALUES (new.id);\nEND;\nSELECT 1;";
        let found = statements(sqlite, Platform::Sqlite);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1], (6, "SELECT 1"));

        let mysql = "CREATE DEFINER = `admin`@`%` PROCEDURE p(IN n INT)\nBEGIN\n  DECLARE i INT DEFAULT 0;\n  IF n > 0 THEN SET i = n; END IF;\n  w: WHILE i > 0 DO SET i = i - 1; END WHILE w;\n  CASE i WHEN 0 THEN SELECT 0; ELSE BEGIN SELECT 1; END; END CASE;\nEND;\nCALL p(1);";
        let found = statements(mysql, Platform::Mysql);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1], (8, "CALL p(1)"));

        let atomic = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;\nCOMMIT;";
        let found = statements(atomic, Platform::Postgres);
        assert_eq!(found.len(), 2, "{found:?}");

        let mariadb = "BEGIN NOT ATOMIC SELECT 1; SELECT 2; END;\nBEGIN;";
        let found = statements(mariadb, Platform::Mysql);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1], (2, "BEGIN"));
    }

    #[test]
    fn names_called_begin_or_end_do_not_open_blocks() {
        let sql = "CREATE TABLE period (begin DATE, \"end\" DATE);\nSELECT CASE WHEN a THEN 1 END FROM t;\nCOMMIT;";
        assert_eq!(statements(sql, Platform::Postgres).len(), 3);
    }

    #[test]
    fn a_delimiter_line_is_a_statement_and_changes_the_delimiter() {
        let sql =
            "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END//\nDELIMITER ;\nCALL p();";
        assert_eq!(
            statements(sql, Platform::Mysql),
            [
                (1, "DELIMITER //"),
                (2, "CREATE PROCEDURE p() BEGIN SELECT 1; END"),
                (3, "DELIMITER ;"),
                (4, "CALL p()")
            ]
        );
        let dollars = "DELIMITER $$\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET new.x = 1; END$$\nDELIMITER ;";
        assert_eq!(statements(dollars, Platform::Mysql).len(), 3);
        // A word with letters beyond ASCII under a delimiter of the client's: it panicked.
        let accents = "DELIMITER ;;\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.prénom = 'x';;\nDELIMITER ;";
        assert_eq!(statements(accents, Platform::Mysql).len(), 3);
    }

    #[test]
    fn copy_data_from_stdin_is_stepped_over_up_to_its_end() {
        // QA: an apostrophe in a data row opened a string that hid the rest of the script.
        let sql = "CREATE TABLE t (id int, label text);\nCOPY t (id, label) FROM stdin; -- data\n1\tit's\n2\t;\n\\.\nSELECT 1;\ncopy t from STDIN;\n3\tO'Brien\n\\.\r\nSELECT 2;";
        assert_eq!(
            statements(sql, Platform::Postgres),
            [
                (1, "CREATE TABLE t (id int, label text)"),
                (2, "COPY t (id, label) FROM stdin"),
                (6, "SELECT 1"),
                (7, "copy t from STDIN"),
                (10, "SELECT 2")
            ]
        );
        let copy = scan(sql, Platform::Postgres).nth(1).unwrap();
        assert_eq!(copy.word(copy.copy_from_stdin().unwrap()), Some("stdin"));
        // Without its `\.`, the data runs to the end; `TO STDOUT` and files send no data.
        assert_eq!(count("COPY t FROM STDIN;\n1\t'\n2\t;"), 1);
        assert_eq!(
            count("COPY t TO STDOUT;\nCOPY t FROM '/tmp/t.csv';\nSELECT 'stdin';"),
            3
        );
        // Elsewhere COPY is no statement of the server's, and nothing is stepped over.
        assert_eq!(
            count_on("COPY t FROM stdin;\nSELECT 1;", Platform::Sqlite),
            2
        );
    }

    #[test]
    fn mysql_executable_comments_are_code() {
        // QA: `/*!50001 CREATE TABLE … */` escaped the DDL check; mysqldump writes views and
        // triggers that way.
        let sql = "INSERT INTO a VALUES (1);\n/*!50001 CREATE TABLE hidden (id INT) */;\n/*!40101 COMMIT*/;\n/*M!100100 SET @a = 1 */;\n/*! SET @b = 2; SET @c = 3 */;\n/* plain; */ SELECT 1;";
        let found = statements(sql, Platform::Mysql);
        assert_eq!(
            found,
            [
                (1, "INSERT INTO a VALUES (1)"),
                (2, "CREATE TABLE hidden (id INT)"),
                (3, "COMMIT"),
                (4, "SET @a = 1"),
                (5, "SET @b = 2"),
                (5, "SET @c = 3"),
                (6, "SELECT 1")
            ]
        );
        let create = scan(sql, Platform::Mysql).nth(1).unwrap();
        assert!(create.starts_with(&["CREATE", "TABLE"]));

        let view = "/*!50001 DROP VIEW IF EXISTS `v`*/;\n/*!50001 CREATE ALGORITHM=UNDEFINED */\n/*!50013 DEFINER=`root`@`localhost` SQL SECURITY DEFINER */\n/*!50001 VIEW `v` AS select 1 AS `a` */;\nSELECT 2;";
        let found = scan(view, Platform::Mysql).collect::<Vec<_>>();
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[1].starts_with(&["CREATE", "ALGORITHM"]));
        assert_eq!(found[1].find_word("VIEW"), Some(7));

        // A dumped trigger, with the dump's own delimiter: its body stays in it.
        let trigger = "DELIMITER ;;\n/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; SET NEW.y = 2; END */;;\nDELIMITER ;\nCOMMIT;";
        let found = scan(trigger, Platform::Mysql).collect::<Vec<_>>();
        assert_eq!(found.len(), 4, "{found:?}");
        assert!(found[1].starts_with(&["CREATE", "DEFINER"]));
        assert_eq!(found[3].line, 4);
        // Also without it.
        let plain = "/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; SET NEW.y = 2; END */;\nCOMMIT;";
        assert_eq!(statements(plain, Platform::Mysql).len(), 2);

        // Elsewhere they are comments.
        let elsewhere =
            "/*!50001 CREATE TABLE hidden (id INT) */ SELECT 1;\n/*M! COMMIT; */ SELECT 2;";
        for platform in [Platform::Postgres, Platform::Sqlite] {
            assert_eq!(
                statements(elsewhere, platform),
                [(1, "SELECT 1"), (2, "SELECT 2")]
            );
        }
    }

    #[test]
    fn comments_follow_the_platform() {
        // `#` is a comment on MySQL only; `--` needs a space after it there.
        assert_eq!(
            statements("# a; b\nSELECT 1;", Platform::Mysql),
            [(2, "SELECT 1")]
        );
        assert_eq!(
            statements("SELECT 1--1;", Platform::Mysql),
            [(1, "SELECT 1--1")]
        );
        assert_eq!(
            statements("SELECT 1--1;\n", Platform::Postgres),
            [(1, "SELECT 1")]
        );
        // Only PostgreSQL nests block comments.
        assert_eq!(count("/* a /* b */ c; */ SELECT 1;"), 1);
        assert_eq!(
            statements("/* a /* b */ SELECT 1;", Platform::Sqlite),
            [(1, "SELECT 1")]
        );
        // MySQL backslash escapes, SQLite brackets.
        assert_eq!(
            statements("SELECT 'a\\';b'; SELECT 2;", Platform::Mysql).len(),
            2
        );
        assert_eq!(
            statements("SELECT [a;b] FROM t; SELECT 2;", Platform::Sqlite).len(),
            2
        );
        // A dollar is no quote outside PostgreSQL.
        assert_eq!(statements("SELECT $$; SELECT 2;", Platform::Mysql).len(), 2);
    }
}
