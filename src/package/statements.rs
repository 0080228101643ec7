//! How many statements a SQL script holds, told apart by the semicolons outside quotes,
//! dollar-quoted bodies and comments. Only for advice at build time (a script that must run
//! outside a transaction should hold one statement); it never decides what runs.

/// The number of statements in `sql`: the pieces between top-level semicolons that hold
/// something besides whitespace and comments.
pub fn count(sql: &str) -> usize {
    let bytes = sql.as_bytes();
    let mut statements = 0;
    let mut content = false;
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b';' => {
                statements += usize::from(content);
                content = false;
                at += 1;
            }
            b'-' if bytes.get(at + 1) == Some(&b'-') => {
                at = sql[at..].find('\n').map_or(bytes.len(), |end| at + end + 1);
            }
            b'/' if bytes.get(at + 1) == Some(&b'*') => at = block_comment_end(bytes, at),
            b'\'' | b'"' | b'`' => {
                content = true;
                at = quoted_end(bytes, at);
            }
            b'$' => {
                content = true;
                at = dollar_quoted_end(sql, at);
            }
            byte => {
                content |= !byte.is_ascii_whitespace();
                at += 1;
            }
        }
    }
    statements + usize::from(content)
}

/// Just past a block comment starting at `start` (PostgreSQL nests them).
fn block_comment_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0;
    let mut at = start;
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (b'/', b'*') => {
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

/// Just past a string or quoted name starting at `start`; a doubled quote stays inside.
fn quoted_end(bytes: &[u8], start: usize) -> usize {
    let quote = bytes[start];
    let mut at = start + 1;
    while at < bytes.len() {
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
    use super::count;

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
    }
}
