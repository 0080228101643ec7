//! The keys a `dbpm.toml` may hold, and every key it holds that it may not: all of them at
//! once, each pointing at itself (serde stops at the first, and points at nothing better).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use toml::Spanned;

use crate::diagnostic::{closest, Problem, SourceFile};

/// The top-level keys.
const TOP: &[&str] = &["package", "prerequisites", "placeholders", "scripts"];
/// The keys of `[package]`.
const PACKAGE: &[&str] = &["name", "version", "description", "platforms", "from"];
/// The keys of a placeholder.
const PLACEHOLDER: &[&str] = &["description", "default"];
/// The keys of a script declaration.
const DECLARATION: &[&str] = &[
    "transaction",
    "idempotent",
    "irreversible",
    "mysql_transactional",
];

/// Every key of `file` that its table does not know. A file that is not TOML yields none:
/// reading it says why.
pub fn unknown(file: &SourceFile) -> Vec<Problem> {
    let Ok(Node::Table(top)) = toml::from_str::<Node>(file.text()) else {
        return Vec::new();
    };
    let mut problems = Vec::new();
    let mut check = |table: &[(Spanned<String>, Node)], known: &[&str], holder: &str| {
        for (key, _) in table {
            if !known.contains(&key.get_ref().as_str()) {
                problems.push(unknown_key(file, key, known, holder));
            }
        }
    };
    check(&top, TOP, "a manifest");
    for (key, node) in &top {
        let Node::Table(table) = node else { continue };
        match key.get_ref().as_str() {
            "package" => check(table, PACKAGE, "`[package]`"),
            "placeholders" => {
                for (_, placeholder) in table {
                    if let Node::Table(placeholder) = placeholder {
                        check(placeholder, PLACEHOLDER, "a placeholder");
                    }
                }
            }
            "scripts" => {
                for (_, declaration) in table {
                    if let Node::Table(declaration) = declaration {
                        check(declaration, DECLARATION, "a script declaration");
                    }
                }
            }
            // A prerequisite's `{ min, max }` table is read whole, with serde's own message.
            _ => {}
        }
    }
    problems
}

fn unknown_key(file: &SourceFile, key: &Spanned<String>, known: &[&str], holder: &str) -> Problem {
    let listed = known
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let help = match closest(key.get_ref(), known.iter().copied()) {
        Some(near) => format!("did you mean `{near}`?"),
        None => format!(
            "{holder} holds {listed}; remove the key or fix its spelling (`dbpm init` writes a complete example)"
        ),
    };
    Problem::error(
        file.path(),
        "dbpm::manifest::unknown_key",
        format!("unknown key `{}` in {holder}", key.get_ref()),
    )
    .at(file, key.span(), "unknown key")
    .with_help(help)
}

/// A TOML value reduced to what the check needs: the keys of tables, with their spans.
enum Node {
    Table(Vec<(Spanned<String>, Node)>),
    Other,
}

/// The key under which TOML hands a date or time to serde, as a one-entry table.
const DATETIME: &str = "$__toml_private_datetime";

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a TOML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Node, E> {
        Ok(Node::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Node::Other)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        let mut datetime = false;
        while let Some(key) = map.next_key::<Spanned<String>>()? {
            if key.get_ref() == DATETIME {
                datetime = true;
                map.next_value::<IgnoredAny>()?;
            } else {
                entries.push((key, map.next_value::<Node>()?));
            }
        }
        Ok(if datetime {
            Node::Other
        } else {
            Node::Table(entries)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown_in(text: &str) -> Vec<String> {
        unknown(&SourceFile::new("dbpm.toml", text.to_owned()))
            .iter()
            .map(|p| p.message().to_owned())
            .collect()
    }

    #[test]
    fn every_unknown_key_is_found_wherever_it_is() {
        let text = "authors = [\"me\"]\n[package]\nname = \"a\"\nversoin = \"1.0.0\"\nlicense = \"MIT\"\n\n[placeholders]\nschema = { default = \"s\", descripton = \"d\" }\n\n[scripts.\"UPGRADE/001.a\"]\ntransactional = false\n\n[prerequisites]\ncore = { min = { major = 1 } }\n";
        assert_eq!(
            unknown_in(text),
            [
                "unknown key `authors` in a manifest",
                "unknown key `versoin` in `[package]`",
                "unknown key `license` in `[package]`",
                "unknown key `descripton` in a placeholder",
                "unknown key `transactional` in a script declaration",
            ]
        );
    }

    /// The keys known here are those the types that read a manifest have (its schema's).
    #[test]
    fn the_known_keys_are_the_schemas() {
        let schema = crate::manifest::schema();
        let keys = |value: &serde_json::Value| {
            let mut keys: Vec<String> = value["properties"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            keys.sort();
            keys
        };
        let sorted = |known: &[&str]| {
            let mut known: Vec<String> = known.iter().map(|k| (*k).to_owned()).collect();
            known.sort();
            known
        };
        assert_eq!(keys(&schema), sorted(TOP));
        for (definition, known) in [
            ("RawPackage", PACKAGE),
            ("RawPlaceholder", PLACEHOLDER),
            ("RawDeclaration", DECLARATION),
        ] {
            assert_eq!(
                keys(&schema["$defs"][definition]),
                sorted(known),
                "{definition}"
            );
        }
    }

    #[test]
    fn dates_and_values_of_the_wrong_type_are_not_tables() {
        let text = "[package]\nname = 1979-05-27\n[placeholders]\nschema = 1979-05-27T07:32:00Z\nother = 5\n";
        assert!(unknown_in(text).is_empty());
        assert!(unknown_in("[package\n").is_empty());
    }
}
