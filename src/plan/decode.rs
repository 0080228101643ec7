//! Reading the large parts of a plan file faster than serde's defaults do: shared strings
//! made straight from the text (serde reads an `Arc<str>` into a `Box<str>` first, then
//! copies it), and maps built in one pass from the sorted order the planner writes them in
//! (serde searches the tree for every key). What is read is the same either way; a key given
//! twice keeps its last value, as with serde's own maps.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};

use crate::package::Checksum;

/// A string read into an `Arc<str>` with a single copy.
struct Shared(Arc<str>);

impl<'de> Deserialize<'de> for Shared {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SharedVisitor;

        impl Visitor<'_> for SharedVisitor {
            type Value = Shared;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Shared, E> {
                Ok(Shared(Arc::from(text)))
            }
        }

        deserializer.deserialize_str(SharedVisitor)
    }
}

/// An `Arc<str>` field.
pub fn shared<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Arc<str>, D::Error> {
    Shared::deserialize(deserializer).map(|shared| shared.0)
}

/// A list of `Arc<str>`.
pub fn shared_list<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Arc<str>>, D::Error> {
    let list = Vec::<Shared>::deserialize(deserializer)?;
    Ok(list.into_iter().map(|shared| shared.0).collect())
}

/// An optional `Arc<str>`.
pub fn shared_option<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Arc<str>>, D::Error> {
    Ok(Option::<Shared>::deserialize(deserializer)?.map(|shared| shared.0))
}

/// A plan's scripts: checksum → text.
pub fn scripts<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<Checksum, Arc<str>>, D::Error> {
    let entries = deserializer.deserialize_map(Entries::<Checksum, Shared>(PhantomData))?;
    Ok(entries
        .into_iter()
        .map(|(checksum, text)| (checksum, text.0))
        .collect())
}

/// A recorded package version's scripts: path → checksum.
pub fn script_checksums<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Arc<BTreeMap<Arc<str>, Checksum>>, D::Error> {
    let entries = deserializer.deserialize_map(Entries::<Shared, Checksum>(PhantomData))?;
    Ok(Arc::new(
        entries
            .into_iter()
            .map(|(path, checksum)| (path.0, checksum))
            .collect(),
    ))
}

/// A map's entries in the order they come; `BTreeMap::from_iter` then builds sorted entries
/// in one pass.
struct Entries<K, V>(PhantomData<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Entries<K, V> {
    type Value = Vec<(K, V)>;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0));
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Record {
        #[serde(deserialize_with = "shared")]
        name: Arc<str>,
        #[serde(deserialize_with = "script_checksums")]
        scripts: Arc<BTreeMap<Arc<str>, Checksum>>,
    }

    #[test]
    fn maps_read_out_of_order_or_with_a_key_twice_are_those_serde_reads() {
        let a = Checksum::of_text("a");
        let b = Checksum::of_text("b");
        let text = format!(
            r#"{{"name": "auth\u0021", "scripts": {{"b.sql": "{b}", "a.sql": "{a}", "b.sql": "{a}"}}}}"#
        );
        let record: Record = serde_json::from_str(&text).expect("reads");
        let serde: BTreeMap<Arc<str>, Checksum> = serde_json::from_value(
            serde_json::from_str::<serde_json::Value>(&text).expect("json")["scripts"].clone(),
        )
        .expect("reads");
        assert_eq!(&*record.name, "auth!");
        assert_eq!(*record.scripts, serde);
        assert_eq!(record.scripts.get("b.sql"), Some(&a));
    }

    #[test]
    fn a_script_that_is_not_a_string_is_refused() {
        let text = format!(r#"{{"{}": 1}}"#, Checksum::of_text("a"));
        let mut reader = serde_json::Deserializer::from_str(&text);
        let err = scripts(&mut reader).expect_err("refused");
        assert!(err.to_string().contains("a string"), "{err}");
    }
}
