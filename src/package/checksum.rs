//! Checksums of scripts and packages: sha256 over text with line endings normalised, written
//! with the algorithm's name (`sha256:…`) so a checkout on another OS never mismatches.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A named checksum, `sha256:<64 hex digits>`.
#[derive(
    Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(try_from = "String", into = "String")]
#[schemars(with = "String")]
pub struct Checksum(String);

impl Checksum {
    /// The checksum of raw bytes.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Checksum(format!("sha256:{}", hex::encode(Sha256::digest(bytes))))
    }

    /// The checksum of a script's text, after normalising its line endings.
    pub fn of_text(text: &str) -> Self {
        Checksum::of_bytes(normalize_newlines(text).as_bytes())
    }

    /// The checksum as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Checksum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a text is not a checksum.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a checksum of the form `sha256:<64 hex digits>`")]
pub struct BadChecksum(String);

impl FromStr for Checksum {
    type Err = BadChecksum;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.strip_prefix("sha256:") {
            Some(hex)
                if hex.len() == 64
                    && hex
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) =>
            {
                Ok(Checksum(s.to_owned()))
            }
            _ => Err(BadChecksum(s.to_owned())),
        }
    }
}

impl TryFrom<String> for Checksum {
    type Error = BadChecksum;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Checksum> for String {
    fn from(value: Checksum) -> Self {
        value.0
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
