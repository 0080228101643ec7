//! `${name}` placeholders in scripts: finding them (for validation) and replacing them with
//! values (for the plan). `$${` is a literal `${`.

use std::collections::BTreeMap;
use std::ops::Range;

use crate::manifest::is_placeholder_name;

/// A placeholder found in a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// The variable name.
    pub name: String,
    /// The span of `${name}` in the text.
    pub span: Range<usize>,
}

/// Every `${name}` in `text`, in order. `${` not followed by a name and `}` is left as text.
pub fn scan(text: &str) -> Vec<Use> {
    let mut uses = Vec::new();
    walk(text, |piece| {
        if let Piece::Placeholder { name, span } = piece {
            uses.push(Use {
                name: name.to_owned(),
                span,
            });
        }
    });
    uses
}

/// Whether substituting can change the text at all (it holds a `${`, a placeholder or an
/// escaped `$${`); most scripts do not, and keep their text and checksum as they are.
pub fn is_template(text: &str) -> bool {
    text.contains("${")
}

/// Replaces every placeholder by its value; the names with no value are returned as the error.
pub fn substitute(text: &str, values: &BTreeMap<String, String>) -> Result<String, Vec<String>> {
    let mut out = String::with_capacity(text.len());
    let mut missing = Vec::new();
    walk(text, |piece| match piece {
        Piece::Text(t) => out.push_str(t),
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
    Placeholder { name: &'a str, span: Range<usize> },
}

fn walk<'a>(text: &'a str, mut visit: impl FnMut(Piece<'a>)) {
    let mut rest_start = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("${") {
        let at = search + found;
        if at > 0 && text.as_bytes()[at - 1] == b'$' {
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
            _ => search = after,
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
        let names: Vec<_> = scan(text).into_iter().map(|u| u.name).collect();
        assert_eq!(names, ["schema", "schema", "role"]);
        let values = BTreeMap::from([
            ("schema".to_owned(), "app".to_owned()),
            ("role".to_owned(), "web".to_owned()),
        ]);
        assert_eq!(
            substitute(text, &values).unwrap(),
            "create schema app; grant usage on schema app to web;"
        );
    }

    #[test]
    fn escapes_and_non_names_stay_text() {
        let text = "select '$${literal}', '${ not a name }', $$body$$;";
        assert!(scan(text).is_empty());
        assert_eq!(
            substitute(text, &BTreeMap::new()).unwrap(),
            "select '${literal}', '${ not a name }', $$body$$;"
        );
    }

    #[test]
    fn reports_missing_values_once() {
        assert_eq!(
            substitute("${a} ${a} ${b}", &BTreeMap::new()),
            Err(vec!["a".to_owned(), "b".to_owned()])
        );
    }
}
