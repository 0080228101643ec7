//! `${name}` placeholders in scripts: finding them (for validation) and replacing them with
//! values (for the plan). `$${` is a literal `${`, and so is a `${` that opens no
//! `${name}`; validation warns about the latter ([`malformed`]), since it is more often a
//! mistyped placeholder than text. In a longer run of `$` before `{`, the dollars pair up
//! from the left: an even run ends in the escape, an odd one in a placeholder, so
//! `$$${x}$$` (a PostgreSQL dollar quote around a placeholder) is substituted. In SQL, a run
//! that follows a tag (`$body$${x}$body$`) starts with the `$` that closes the tag, which
//! pairs with none; a `.cmd` script has no such tags (`$HOME$${x}` is `$HOME` and `${x}`).

use std::collections::BTreeMap;
use std::ops::Range;

use super::Kind;
use crate::manifest::is_placeholder_name;

/// A placeholder found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// The variable name.
    pub name: String,
    /// The span of `${name}` in the text.
    pub span: Range<usize>,
}

/// Every `${name}` in `text` (a script of `kind`), in order. `${` not followed by a name and
/// `}` is left as text.
pub fn scan(text: &str, kind: Kind) -> Vec<Use> {
    let mut uses = Vec::new();
    walk(text, kind, |piece| {
        if let Piece::Placeholder { name, span } = piece {
            uses.push(Use {
                name: name.to_owned(),
                span,
            });
        }
    });
    uses
}

/// A `${` that opens no placeholder (`${a b}`, `${x;`, a lone `${`): it is kept as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Malformed {
    /// The name right after `${`, when one is there (`x` in `${x;`).
    pub name: Option<String>,
    /// From `${` to the `}` that follows it on the same line, or to the end of that name.
    pub span: Range<usize>,
}

/// Every `${` in `text` (a script of `kind`) that opens no placeholder and is not escaped as
/// `$${`, in order.
pub fn malformed(text: &str, kind: Kind) -> Vec<Malformed> {
    let mut found = Vec::new();
    walk(text, kind, |piece| {
        if let Piece::Malformed(at) = piece {
            let after = at + 2;
            let rest = &text[after..];
            let name_len = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let name = &rest[..name_len];
            let line = &rest[..rest.find('\n').unwrap_or(rest.len())];
            let end = line
                .find('}')
                .map_or(after + name_len, |close| after + close + 1);
            found.push(Malformed {
                name: is_placeholder_name(name).then(|| name.to_owned()),
                span: at..end,
            });
        }
    });
    found
}

/// Whether substituting can change the text at all (it holds a `${`, a placeholder or an
/// escaped `$${`); most scripts do not, and keep their text and checksum as they are.
pub fn is_template(text: &str) -> bool {
    // A search for one byte, then a look at the next: far cheaper than a substring search on
    // the short texts of most scripts.
    text.split('$').skip(1).any(|after| after.starts_with('{'))
}

/// Replaces every placeholder of `text` (a script of `kind`) by its value; the names with no
/// value are returned as the error.
pub fn substitute(
    text: &str,
    kind: Kind,
    values: &BTreeMap<String, String>,
) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    walk(text, kind, |piece| match piece {
        Piece::Text(t) => out.push_str(t),
        Piece::Malformed(_) => {}
        Piece::Placeholder { name, .. } => match values.get(name) {
            Some(value) => out.push_str(value),
            None => {
                if !missing.iter().any(|m| m == name) {
                    missing.push(name.to_owned());
                }
            }
        },
    });
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(missing)
    }
}

enum Piece<'a> {
    Text(&'a str),
    Placeholder {
        name: &'a str,
        span: Range<usize>,
    },
    /// The offset of a `${` that opens no placeholder (its text is part of a `Text` piece).
    Malformed(usize),
}

/// Whether `before` ends in the `$tag` of a dollar quote's tag (`$body`), so that the `$`
/// after it closes the tag.
fn closes_a_tag(before: &str) -> bool {
    let tag = before
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let start = before.len() - tag;
    tag > 0
        && !before.as_bytes()[start].is_ascii_digit()
        && start > 0
        && before.as_bytes()[start - 1] == b'$'
}

fn walk<'a>(text: &'a str, kind: Kind, mut visit: impl FnMut(Piece<'a>)) {
    let mut rest_start = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("${") {
        let at = search + found;
        let dollars_before = text.as_bytes()[..at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'$')
            .count();
        let tagged =
            dollars_before > 0 && kind != Kind::Cmd && closes_a_tag(&text[..at - dollars_before]);
        let paired = dollars_before - usize::from(tagged);
        if paired % 2 == 1 {
            // `$${` is an escaped `${`: keep one `$`.
            visit(Piece::Text(&text[rest_start..at - 1]));
            visit(Piece::Text("${"));
            rest_start = at + 2;
            search = at + 2;
            continue;
        }
        let after = at + 2;
        match text[after..].find('}') {
            Some(len) if is_placeholder_name(&text[after..after + len]) => {
                visit(Piece::Text(&text[rest_start..at]));
                let end = after + len + 1;
                visit(Piece::Placeholder {
                    name: &text[after..after + len],
                    span: at..end,
                });
                rest_start = end;
                search = end;
            }
            _ => {
                visit(Piece::Malformed(at));
                search = after;
            }
        }
    }
    visit(Piece::Text(&text[rest_start..]));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_replaces_placeholders() {
        let text = "create schema ${schema}; grant usage on schema ${schema} to ${role};";
        let names: Vec<_> = scan(text, Kind::Sql).into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["schema", "schema", "role"]);
        let values = BTreeMap::from([
            ("schema".to_owned(), "app".to_owned()),
            ("role".to_owned(), "web".to_owned()),
        ]);
        assert_eq!(
            substitute(text, Kind::Sql, &values).unwrap(),
            "create schema app; grant usage on schema app to web;"
        );
    }

    #[test]
    fn escapes_and_non_names_stay_text() {
        let text = "select '$${literal}', '${ not a name }', $$body$$;";
        assert!(scan(text, Kind::Sql).is_empty());
        assert_eq!(
            substitute(text, Kind::Sql, &BTreeMap::new()).unwrap(),
            "select '${literal}', '${ not a name }', $$body$$;"
        );
    }

    #[test]
    fn malformed_openings_are_found_with_the_name_they_start() {
        let text = "a ${a b} c ${x;\nd $${e} ${ok} ${1} ${y\n}";
        let found: Vec<_> = malformed(text, Kind::Sql)
            .into_iter()
            .map(|m| (m.name, &text[m.span]))
            .collect();
        assert_eq!(
            found,
            [
                (Some("a".to_owned()), "${a b}"),
                (Some("x".to_owned()), "${x"),
                (None, "${1}"),
                (Some("y".to_owned()), "${y")
            ]
        );
        assert!(malformed("${x} $${ ${_y}", Kind::Sql).is_empty());
        assert_eq!(malformed("tail ${", Kind::Sql)[0].span, 5..7);
    }

    #[test]
    fn a_dollar_quote_around_a_placeholder_is_substituted() {
        let values = BTreeMap::from([("note".to_owned(), "it's".to_owned())]);
        let sub = |text: &str| substitute(text, Kind::Sql, &values).unwrap();
        assert_eq!(
            sub("COMMENT ON TABLE t IS $$${note}$$;"),
            "COMMENT ON TABLE t IS $$it's$$;"
        );
        assert_eq!(scan("$$${note}$$", Kind::Sql)[0].span, 2..9);
        // Even runs end in the escape, odd runs in a placeholder.
        assert_eq!(sub("$${note}"), "${note}");
        assert_eq!(sub("$$$${note}"), "$$${note}");
        assert_eq!(sub("$$$$${note}"), "$$$$it's");
        assert!(malformed("$$${note}$$ $$$${x", Kind::Sql).is_empty());
        // After a tag, the `$` that closes it pairs with none.
        assert_eq!(sub("VALUES ($q$${note}$q$)"), "VALUES ($q$it's$q$)");
        assert_eq!(sub("$body$$${note}$body$"), "$body$${note}$body$");
        assert_eq!(sub("price$${note}"), "price${note}");
        // A shell variable right before a placeholder is no tag, escaped or not.
        assert_eq!(sub("echo $HOME${note}"), "echo $HOMEit's");
        let shell = |text: &str| substitute(text, Kind::Cmd, &values).unwrap();
        assert_eq!(shell("echo $HOME$${PATH}"), "echo $HOME${PATH}");
        assert_eq!(shell("echo $HOME${note}"), "echo $HOMEit's");
    }

    #[test]
    fn reports_missing_values_once() {
        assert_eq!(
            substitute("${a} ${a} ${b}", Kind::Sql, &BTreeMap::new()),
            Err(vec!["a".to_owned(), "b".to_owned()])
        );
    }
}
