//! Long SQLite scripts in pieces. SQLite copies the rest of a script each time it prepares
//! one of its statements (the driver hands it text without a final NUL), so a script of many
//! statements costs time quadratic in its length: a seed of 600,000 `INSERT`s never ends.
//! Cut at statement boundaries into pieces of bounded size, it runs in linear time.
//!
//! Only where the boundaries are certain: outside quotes (`'…'`, `"…"`, `` `…` ``, `[…]`) and
//! comments. Triggers are the one SQLite statement with semicolons inside (their
//! `BEGIN … END` body), so a script that mentions `TRIGGER` anywhere stays whole.

/// The size a piece grows to before it is cut at the next statement boundary.
pub(super) const PIECE: usize = 64 * 1024;

/// `script` in pieces of whole statements, in order; the script itself when it is short or
/// may hold a trigger.
pub(super) fn pieces(script: &str) -> Vec<&str> {
    if script.len() <= PIECE || mentions_trigger(script) {
        return vec![script];
    }
    let bytes = script.as_bytes();
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < bytes.len() {
        at = match bytes[at] {
            b'\'' | b'"' | b'`' => closing(bytes, at, bytes[at]),
            b'[' => closing(bytes, at, b']'),
            b'-' if bytes.get(at + 1) == Some(&b'-') => script[at..]
                .find('\n')
                .map_or(bytes.len(), |end| at + end + 1),
            b'/' if bytes.get(at + 1) == Some(&b'*') => script[at + 2..]
                .find("*/")
                .map_or(bytes.len(), |end| at + 2 + end + 2),
            b';' => {
                if at + 1 - start >= PIECE {
                    pieces.push(&script[start..=at]);
                    start = at + 1;
                }
                at + 1
            }
            _ => at + 1,
        };
    }
    if !script[start..].trim().is_empty() || pieces.is_empty() {
        pieces.push(&script[start..]);
    }
    pieces
}

/// Just past the quote that closes the one at `start` (a doubled quote stays inside).
fn closing(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        if bytes[at] == quote {
            if quote != b']' && bytes.get(at + 1) == Some(&quote) {
                at += 2;
                continue;
            }
            return at + 1;
        }
        at += 1;
    }
    bytes.len()
}

/// Whether the word `trigger` appears anywhere, in any case.
fn mentions_trigger(script: &str) -> bool {
    script
        .as_bytes()
        .windows(7)
        .any(|w| w.eq_ignore_ascii_case(b"trigger"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inserts(count: usize, value: &str) -> String {
        (0..count)
            .map(|i| format!("INSERT INTO t VALUES ({i}, '{value}');\n"))
            .collect()
    }

    #[test]
    fn short_scripts_and_triggers_stay_whole() {
        assert_eq!(pieces("SELECT 1; SELECT 2;"), ["SELECT 1; SELECT 2;"]);
        let long = format!(
            "{}CREATE TRIGGER t AFTER INSERT ON t BEGIN SELECT 1; END;\n",
            inserts(5000, "x")
        );
        assert_eq!(pieces(&long), [long.as_str()]);
    }

    #[test]
    fn long_scripts_are_cut_between_statements_only() {
        let script = format!(
            "{}-- a comment; with a semicolon\n/* and ; another */\n{}",
            inserts(4000, "a;b"),
            inserts(4000, "it''s; [not] \"cut\"")
        );
        let pieces = pieces(&script);
        assert!(pieces.len() > 2, "{}", pieces.len());
        assert_eq!(pieces.concat(), script);
        for piece in &pieces[..pieces.len() - 1] {
            assert!(piece.ends_with(");"), "{piece:.80}");
            assert!(piece.len() < PIECE + 100);
        }
    }

    #[test]
    fn an_unclosed_quote_or_comment_keeps_the_rest_in_one_piece() {
        let script = format!("{}/* open\n{}", inserts(3000, "a"), inserts(3000, "b"));
        let pieces = pieces(&script);
        assert_eq!(pieces.concat(), script);
        assert!(pieces.last().is_some_and(|p| p.contains("/* open")));
    }
}
