//! How a task's input and result are encoded to cross between processes: CBOR (RFC 8949).
//!
//! JSON was the first choice, for a trace one can read, but it has no NaN, no infinity
//! and no integer beyond 64 bits: `map(sqrt, [4.0, -1.0])` failed on its NaN. CBOR carries
//! those, bytes and enums, and gives them back equal, in a few bytes.
//!
//! Known limits, each found by a run: `Some(None)` and `Some(())` would come back as
//! `None` (CBOR, like JSON, has one null), so they are refused before they are sent
//! (`nested_none.rs`); a value nested more than 256 levels deep is refused by the
//! decoder; a `u128` inside a `#[serde(untagged)]` or internally tagged enum is refused by
//! serde itself, which buffers such enums in a form without 128-bit integers.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A task's input or result, already encoded: sent as one CBOR byte string rather than an
/// array of numbers.
#[doc(hidden)]
#[derive(Debug, Default, PartialEq)]
pub struct Bytes(pub Vec<u8>);

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(
        &self,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(&self.0)
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a byte string")
            }
            fn visit_bytes<E>(self, bytes: &[u8]) -> Result<Bytes, E> {
                Ok(Bytes(bytes.to_vec()))
            }
            fn visit_byte_buf<E>(self, bytes: Vec<u8>) -> Result<Bytes, E> {
                Ok(Bytes(bytes))
            }
        }
        // An owned buffer: ciborium reads a borrowed one into a scratch buffer of 4 KiB,
        // and refuses anything longer.
        deserializer.deserialize_byte_buf(Visitor)
    }
}

/// Encodes a value in CBOR, or refuses one that would not come back equal.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Bytes, String> {
    crate::worker::nested_none::find(value)?;
    let mut bytes = Vec::new();
    ciborium::into_writer(value, &mut bytes).map_err(|e| e.to_string())?;
    Ok(Bytes(bytes))
}

/// Decodes a value from CBOR.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, String> {
    use ciborium::de::Error;
    ciborium::from_reader(&bytes.0[..]).map_err(|error| match error {
        // What the type's `Deserialize` said.
        Error::Semantic(_, message) => message,
        Error::Syntax(offset) => format!("not CBOR (at byte {offset})"),
        Error::Io(error) => format!("{error:?}"),
        Error::RecursionLimitExceeded => "nested too deep".to_owned(),
    })
}
