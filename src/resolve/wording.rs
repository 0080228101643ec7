//! Wording shared by the messages of this module: lists in prose, and "did you mean …?" (the
//! closest known name to a misspelt one, by edit distance). Only for messages; nothing
//! decides by it.

use std::fmt::{Display, Write as _};

/// `a`, `a and b`, `a, b and c`.
pub(super) fn list<T: Display>(items: impl IntoIterator<Item = T>) -> String {
    let items: Vec<T> = items.into_iter().collect();
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(if i + 1 == items.len() { " and " } else { ", " });
        }
        let _ = write!(out, "{item}");
    }
    out
}

/// The width messages with lines of their own are wrapped at: miette's graphical report,
/// 100 columns wide in the CLI, puts 4 columns in front of each line of a message.
pub(super) const WIDTH: usize = 90;

/// Wraps each line of `text` at `width` columns, breaking only at spaces outside backticks.
/// A continued line keeps the indentation of its line, two more under a `- ` bullet, so
/// that a tree of reasons stays readable once wrapped.
pub(super) fn wrap(text: &str, width: usize) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for (n, line) in text.lines().enumerate() {
        if n > 0 {
            out.push('\n');
        }
        let body = line.trim_start();
        let indent = line.len() - body.len();
        let hang = indent + if body.starts_with("- ") { 2 } else { 0 };
        out.push_str(&line[..indent]);
        let mut column = indent;
        let mut first = true;
        for word in words(body) {
            let len = word.chars().count();
            if first {
                first = false;
            } else if column + 1 + len > width {
                out.push('\n');
                out.push_str(&" ".repeat(hang));
                column = hang;
            } else {
                out.push(' ');
                column += 1;
            }
            out.push_str(word);
            column += len;
        }
    }
    out
}

/// The words of a line: split at spaces, except inside backticks.
fn words(line: &str) -> impl Iterator<Item = &str> {
    let mut words = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    for (i, c) in line.char_indices() {
        match c {
            '`' => quoted = !quoted,
            ' ' if !quoted => {
                words.push(&line[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    words.push(&line[start..]);
    words.into_iter().filter(|w| !w.is_empty())
}

/// Each item in backticks.
pub(super) fn quoted<T: Display>(
    items: impl IntoIterator<Item = T>,
) -> impl Iterator<Item = String> {
    items.into_iter().map(|item| format!("`{item}`"))
}

pub(super) use crate::diagnostic::closest;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["auth", "billing", "core"];
        assert_eq!(closest("biling", names), Some("billing"));
        assert_eq!(closest("Core", names), Some("core"));
        assert_eq!(closest("reporting", names), None);
    }

    #[test]
    fn lists_read_as_prose() {
        assert_eq!(list(["a"]), "a");
        assert_eq!(list(quoted(["a", "b"])), "`a` and `b`");
        assert_eq!(list([1, 2, 3]), "1, 2 and 3");
    }

    #[test]
    fn wraps_under_bullets_and_keeps_literals_whole() {
        let text = "heading\n  - one two `three four` five";
        assert_eq!(
            wrap(text, 16),
            "heading\n  - one two\n    `three four`\n    five"
        );
        assert_eq!(wrap("short line", 16), "short line");
    }
}
