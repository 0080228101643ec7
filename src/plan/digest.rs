//! The content hash of a plan: SHA-256 over a canonical binary encoding of its serde form.
//!
//! Every value is written with a one-byte tag; strings, byte strings and names with their
//! length (LEB128), integers as LEB128 too (zigzag, except `u128`), sequences and maps
//! element by element up to an end mark, structs field by field (by name, or by position
//! with a mark for a skipped field), enum variants by name. The encoding is prefix-free, so
//! two different values of a type never encode to the same bytes, and it is independent of
//! the platform and of the Rust version. It hashes what the JSON file holds (the same serde
//! data) without the cost of escaping and formatting JSON text, which made up most of the
//! time of planning and loading large plans.

use std::fmt::Write as _;

use serde::ser::{self, Serialize};
use sha2::{Digest, Sha256};

use super::aside::Aside;

/// How struct fields are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    /// By name (plans of format 3).
    Named,
    /// By position, with a mark for a field left out (from format 4): the names are the same
    /// in every plan, and were a third of what a step hashed.
    Positional,
}

/// SHA-256 of `value`'s canonical encoding.
pub fn sha256<T: Serialize + ?Sized>(value: &T, fields: Fields) -> [u8; 32] {
    let mut encoder = Encoder {
        hasher: Sha256::new(),
        buffer: Vec::with_capacity(BUFFER),
        fields,
        scratch: String::new(),
    };
    match value.serialize(&mut encoder) {
        Ok(()) => {}
        Err(never) => match never {},
    }
    encoder.flush();
    encoder.hasher.finalize().into()
}

/// SHA-256 of `value`'s canonical encoding, as lowercase hex.
pub fn sha256_hex<T: Serialize + ?Sized>(value: &T, fields: Fields) -> String {
    hex::encode(sha256(value, fields))
}

/// Hashes `value` on a thread of `scope` (a large part of a plan, while the rest is made).
pub(crate) fn aside<'scope, 'env, T: Serialize + Sync>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    value: &'env T,
) -> Aside<'scope, [u8; 32]> {
    Aside::spawn(scope, move || sha256(value, Fields::Positional))
}

/// Bytes gathered before they are handed to the hash: the encoder emits small pieces.
const BUFFER: usize = 1 << 16;

struct Encoder {
    hasher: Sha256,
    buffer: Vec<u8>,
    fields: Fields,
    /// Where a value serialized by its `Display` (a version, an origin) is written.
    scratch: String,
}

impl Encoder {
    fn put(&mut self, bytes: &[u8]) {
        if self.buffer.len() + bytes.len() > BUFFER {
            self.flush();
        }
        if bytes.len() > BUFFER {
            self.hasher.update(bytes);
        } else {
            self.buffer.extend_from_slice(bytes);
        }
    }

    /// One byte; most of what the encoder writes is tags and short lengths.
    fn byte(&mut self, byte: u8) {
        if self.buffer.len() == BUFFER {
            self.flush();
        }
        self.buffer.push(byte);
    }

    fn flush(&mut self) {
        self.hasher.update(&self.buffer);
        self.buffer.clear();
    }

    fn tag(&mut self, tag: u8) {
        self.byte(tag);
    }

    /// LEB128: seven bits a byte, low bits first, the high bit set on all but the last.
    fn number(&mut self, mut value: u128) {
        while value >= 0x80 {
            self.byte((value & 0x7f) as u8 | 0x80);
            value >>= 7;
        }
        self.byte(value as u8);
    }

    fn length(&mut self, length: usize) {
        self.number(length as u128);
    }

    fn text(&mut self, tag: u8, bytes: &[u8]) {
        self.tag(tag);
        self.name_bytes(bytes);
    }

    fn name_bytes(&mut self, bytes: &[u8]) {
        self.length(bytes.len());
        self.put(bytes);
    }

    /// A field or variant name: it always follows a tag that announces it.
    fn name(&mut self, name: &str) {
        self.name_bytes(name.as_bytes());
    }
}

/// Encoding cannot fail: the error type has no values.
#[derive(Debug)]
enum Never {}

impl std::fmt::Display for Never {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {}
    }
}

impl std::error::Error for Never {}

impl ser::Error for Never {
    fn custom<T: std::fmt::Display>(message: T) -> Self {
        unreachable!("a plan's serde form never reports an error: {message}")
    }
}

// Tags of the containers. An element of a sequence or map starts with `,`, a struct field
// with `.` and its name.
const SEQUENCE: u8 = b'[';
const END_SEQUENCE: u8 = b']';
const MAP: u8 = b'{';
const END_MAP: u8 = b'}';
const STRUCT: u8 = b'(';
const END_STRUCT: u8 = b')';
const ELEMENT: u8 = b',';
const FIELD: u8 = b'.';
/// An enum variant with content: its name follows, then the content.
const VARIANT: u8 = b'V';
/// A struct field left out (positional fields only).
const SKIPPED: u8 = b'-';

impl ser::Serializer for &mut Encoder {
    type Ok = ();
    type Error = Never;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result<(), Never> {
        self.tag(b'b');
        self.byte(u8::from(v));
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Never> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<(), Never> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<(), Never> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<(), Never> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_i128(self, v: i128) -> Result<(), Never> {
        self.tag(b'i');
        // Zigzag: 0, -1, 1, -2, ... as 0, 1, 2, 3, ...
        self.number(((v << 1) ^ (v >> 127)) as u128);
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Never> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<(), Never> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<(), Never> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<(), Never> {
        self.serialize_i128(i128::from(v))
    }

    fn serialize_u128(self, v: u128) -> Result<(), Never> {
        self.tag(b'u');
        self.number(v);
        Ok(())
    }

    fn serialize_f32(self, v: f32) -> Result<(), Never> {
        self.serialize_f64(f64::from(v))
    }

    fn serialize_f64(self, v: f64) -> Result<(), Never> {
        self.tag(b'f');
        self.put(&v.to_bits().to_le_bytes());
        Ok(())
    }

    fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<(), Never> {
        // The same bytes as `serialize_str(&value.to_string())`, without a new string each time.
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        let _ = write!(scratch, "{value}");
        self.text(b's', scratch.as_bytes());
        self.scratch = scratch;
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Never> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }

    fn serialize_str(self, v: &str) -> Result<(), Never> {
        self.text(b's', v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<(), Never> {
        self.text(b'y', v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Never> {
        self.tag(b'n');
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Never> {
        self.tag(b'o');
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Never> {
        self.tag(b'_');
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Never> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Never> {
        self.tag(b'v');
        self.name(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.tag(VARIANT);
        self.name(variant);
        value.serialize(self)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self, Never> {
        self.tag(SEQUENCE);
        Ok(self)
    }

    fn serialize_tuple(self, len: usize) -> Result<Self, Never> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<Self, Never> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Never> {
        self.tag(VARIANT);
        self.name(variant);
        self.tag(SEQUENCE);
        Ok(self)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self, Never> {
        self.tag(MAP);
        Ok(self)
    }

    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, Never> {
        self.tag(STRUCT);
        Ok(self)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Self, Never> {
        self.tag(VARIANT);
        self.name(variant);
        self.tag(STRUCT);
        Ok(self)
    }
}

impl ser::SerializeSeq for &mut Encoder {
    type Ok = ();
    type Error = Never;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        self.tag(ELEMENT);
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Never> {
        self.tag(END_SEQUENCE);
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Encoder {
    type Ok = ();
    type Error = Never;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Never> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for &mut Encoder {
    type Ok = ();
    type Error = Never;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Never> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleVariant for &mut Encoder {
    type Ok = ();
    type Error = Never;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        ser::SerializeSeq::serialize_element(self, value)
    }

    fn end(self) -> Result<(), Never> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for &mut Encoder {
    type Ok = ();
    type Error = Never;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Never> {
        self.tag(ELEMENT);
        key.serialize(&mut **self)
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Never> {
        value.serialize(&mut **self)
    }

    fn end(self) -> Result<(), Never> {
        self.tag(END_MAP);
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Encoder {
    type Ok = ();
    type Error = Never;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        self.tag(FIELD);
        if self.fields == Fields::Named {
            self.name(key);
        }
        value.serialize(&mut **self)
    }

    fn skip_field(&mut self, _key: &'static str) -> Result<(), Never> {
        if self.fields == Fields::Positional {
            self.tag(SKIPPED);
        }
        Ok(())
    }

    fn end(self) -> Result<(), Never> {
        self.tag(END_STRUCT);
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Encoder {
    type Ok = ();
    type Error = Never;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Never> {
        ser::SerializeStruct::serialize_field(self, key, value)
    }

    fn skip_field(&mut self, key: &'static str) -> Result<(), Never> {
        ser::SerializeStruct::skip_field(self, key)
    }

    fn end(self) -> Result<(), Never> {
        ser::SerializeStruct::end(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Serialize;

    use super::{sha256_hex, Fields};

    #[derive(Serialize)]
    struct Two {
        a: Vec<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<String>,
    }

    #[test]
    fn different_values_hash_differently() {
        for fields in [Fields::Named, Fields::Positional] {
            let split = |a: &[&str], b: Option<&str>| {
                let two = Two {
                    a: a.iter().map(|s| s.to_string()).collect(),
                    b: b.map(str::to_owned),
                };
                sha256_hex(&two, fields)
            };
            // Moving text across a boundary changes the encoding.
            assert_ne!(split(&["ab", "c"], None), split(&["a", "bc"], None));
            assert_ne!(split(&["abc"], None), split(&["ab", "c"], None));
            assert_ne!(split(&[], Some("x")), split(&["x"], None));
            assert_ne!(split(&[""], None), split(&[], None));
            assert_eq!(split(&["a"], Some("b")), split(&["a"], Some("b")));
        }
    }

    #[test]
    fn a_skipped_field_is_marked_where_fields_have_no_names() {
        #[derive(Serialize)]
        struct Pair {
            #[serde(skip_serializing_if = "Option::is_none")]
            a: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            b: Option<String>,
        }
        let pair = |a: Option<&str>, b: Option<&str>| {
            let pair = Pair {
                a: a.map(str::to_owned),
                b: b.map(str::to_owned),
            };
            sha256_hex(&pair, Fields::Positional)
        };
        // Without its mark, the skipped `a` would leave `b` in its place.
        assert_ne!(pair(Some("x"), None), pair(None, Some("x")));
    }

    #[test]
    fn a_known_value_keeps_its_hash() {
        // The encoding is part of the plan format: this value pins it.
        let value: BTreeMap<&str, (bool, u32, Option<&str>)> =
            BTreeMap::from([("k", (true, 7, None)), ("l", (false, 0, Some("é")))]);
        insta::assert_snapshot!(sha256_hex(&value, Fields::Named));
        insta::assert_snapshot!("positional", sha256_hex(&value, Fields::Positional));
    }

    #[test]
    fn strings_are_tagged_and_length_prefixed() {
        use sha2::Digest;
        let expected = |text: &str| {
            let mut bytes = vec![b's'];
            // The length in LEB128: 4 for the short one, 196,625 for the long one.
            let mut length = text.len();
            while length >= 0x80 {
                bytes.push((length & 0x7f) as u8 | 0x80);
                length >>= 7;
            }
            bytes.push(length as u8);
            bytes.extend_from_slice(text.as_bytes());
            hex::encode(sha2::Sha256::digest(&bytes))
        };
        // A short string goes through the buffer; one longer than it straight to the hash.
        for text in ["plan".to_owned(), "x".repeat(super::BUFFER * 3 + 17)] {
            assert_eq!(sha256_hex(&text, Fields::Positional), expected(&text));
        }
    }
}
