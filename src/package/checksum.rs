//! Checksums of scripts and packages: sha256 over text with line endings normalised, written
//! with the algorithm's name (`sha256:…`) so a checkout on another OS never mismatches.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A named checksum, `sha256:<64 hex digits>`.
// Held inline: plans and states hold hundreds of thousands of them, and a clone must not
// allocate.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, schemars::JsonSchema)]
#[schemars(with = "String")]
pub struct Checksum([u8; TEXT_LEN]);

const PREFIX: &str = "sha256:";
const TEXT_LEN: usize = PREFIX.len() + 64;

impl Checksum {
    /// The checksum of raw bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut text = [0u8; TEXT_LEN];
        text[..PREFIX.len()].copy_from_slice(PREFIX.as_bytes());
        hex::encode_to_slice(digest, &mut text[PREFIX.len()..])
            .unwrap_or_else(|err| unreachable!("64 hex digits fit: {err}"));
        Checksum(text)
    }

    /// The checksum of a script's text, after normalising its line endings.
    pub fn of_text(text: &str) -> Self {
        Checksum::of_bytes(normalize_newlines(text).as_bytes())
    }

    /// The checksum as text.
    pub fn as_str(&self) -> &str {
        // Only ASCII ever gets in: the prefix and hex digits.
        std::str::from_utf8(&self.0).unwrap_or_else(|err| unreachable!("ascii: {err}"))
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Checksum({:?})", self.as_str())
    }
}

/// Why a text is not a checksum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a checksum of the form `sha256:<64 hex digits>`")]
pub struct BadChecksum(String);

impl FromStr for Checksum {
    type Err = BadChecksum;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix(PREFIX) {
            Some(hex)
                if hex.len() == 64
                    // Without stopping early, the check compiles to a few vector
                    // instructions: a large plan file holds a few hundred thousand.
                    && hex
                        .bytes()
                        .fold(true, |hex, b| hex & matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                let mut text = [0u8; TEXT_LEN];
                text.copy_from_slice(s.as_bytes());
                Ok(Checksum(text))
            }
            _ => Err(BadChecksum(s.to_owned())),
        }
    }
}

impl Serialize for Checksum {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Checksum {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Checksum;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a checksum `sha256:<64 hex digits>`")
            }

            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Checksum, E> {
                text.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

impl From<Checksum> for String {
    fn from(value: Checksum) -> Self {
        value.as_str().to_owned()
    }
}

/// `\r\n` and lone `\r` become `\n`.
pub fn normalize_newlines(text: &str) -> std::borrow::Cow<'_, str> {
    if text.contains('\r') {
        std::borrow::Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_endings_do_not_change_the_checksum() {
        assert_eq!(Checksum::of_text("a\r\nb\r\n"), Checksum::of_text("a\nb\n"));
        assert_ne!(Checksum::of_text("a\nb"), Checksum::of_text("a\nb\n"));
    }

    #[test]
    fn round_trips_through_text() {
        let sum = Checksum::of_text("select 1;");
        assert_eq!(sum.as_str().parse::<Checksum>(), Ok(sum.clone()));
        assert!("md5:abc".parse::<Checksum>().is_err());
    }
}
