//! How a task's input and result are encoded to cross between processes: CBOR (RFC 8949),
//! written and read by the small encoder and decoder here.
//!
//! JSON was the first choice, for a trace one can read, but it has no NaN, no infinity
//! and no integer beyond 64 bits: `map(sqrt, [4.0, -1.0])` failed on its NaN. CBOR carries
//! those, bytes and enums, in a few bytes, and any CBOR tool reads it.
//!
//! Why not a CBOR crate: serde writes `None` and `()` as CBOR's null, and the crate writes `Some(x)` as
//! `x`; so `Some(None)` and `Some(())` were written as null and came back as `None`, a
//! wrong answer with no error (seen in a run). The formats that keep the difference cannot
//! serve: bincode and postcard read nothing without its type (no untagged enums), and RON,
//! tried, could not read an internally tagged enum back. So this wire writes `Some(x)` as
//! `x` too, except where `x` is written as null: there one tag marks the `Some`
//! (`encode.rs`, `serialize_some`).
//!
//! Two limits are left, each refused in one line rather than answered wrongly:
//! - a value nested deeper than [`MAX_DEPTH`], refused by the sender;
//! - a `u128` or `i128`, of any value, inside a `#[serde(untagged)]` or internally tagged
//!   enum, or a `#[serde(flatten)]` field: serde reads (and sometimes writes) those
//!   through a buffer of its own that has no 128-bit integers, whatever the format: JSON
//!   fails alike. serde's other limits of that kind hold here as with any format: a
//!   flattened `Option` whose fields are all optional comes back `Some`.
//!
//! Both sides say they are human-readable, as serde's own buffer for those enums does:
//! an IP address, say, is then written as text everywhere. Written as octets, it could
//! not be read back inside an untagged enum (found by a probe).

mod decode;
mod encode;

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
        deserializer.deserialize_byte_buf(Visitor)
    }
}

// ANCHOR: limits
/// How deep a value may nest: containers, `Some`s and newtypes. Deserializing recurses
/// once a level, so a reader must stop somewhere or a crafted message overflows its stack;
/// the writer stops at the same depth, so that the sender refuses what the receiver would.
/// Measured: 256 levels took between 512 and 600 KiB of stack in a debug build, and under
/// 96 KiB in a release build; a Rust thread gets 2 MiB unless told otherwise.
pub(crate) const MAX_DEPTH: usize = 256;

/// The most one message may take, encoded: what the 4-byte length in front of a frame can
/// say (4 GiB less one byte). A larger value is refused by the side that encodes it.
pub(crate) const MAX_MESSAGE: usize = u32::MAX as usize;
// ANCHOR_END: limits

/// CBOR's null: `None`, `()` and unit structs.
const NULL: u8 = 0xf6;
/// RFC 8949's tags for integers beyond 64 bits, as big-endian byte strings.
const TAG_POSITIVE_BIG: u64 = 2;
const TAG_NEGATIVE_BIG: u64 = 3;
/// The tag that marks a `Some` whose content is written as null. An unregistered number,
/// private to this wire, whose two ends are always the same program.
const SOME_OF_NULL: u64 = 49_999;
/// Its head as written: major type 6 with a 2-byte argument.
const SOME_OF_NULL_HEAD: [u8; 3] =
    [0xd9, (SOME_OF_NULL >> 8) as u8, SOME_OF_NULL as u8];

/// Why a value could not be written or read, in one line.
#[derive(Debug)]
pub(crate) struct Error(String);

impl Error {
    fn too_large() -> Error {
        Error(
            "it takes more than 4 GiB encoded, the most one message can carry"
                .to_owned(),
        )
    }

    fn too_deep() -> Error {
        Error(format!(
            "it nests more than {MAX_DEPTH} levels deep, this wire's limit"
        ))
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl serde::ser::Error for Error {
    fn custom<T: std::fmt::Display>(message: T) -> Error {
        Error(message.to_string())
    }
}

impl serde::de::Error for Error {
    fn custom<T: std::fmt::Display>(message: T) -> Error {
        Error(message.to_string())
    }
}

/// Appends `value` in CBOR to `out`.
pub(crate) fn encode_into<T: Serialize + ?Sized>(
    value: &T,
    out: Vec<u8>,
) -> Result<Vec<u8>, Error> {
    let mut encoder = encode::Encoder::new(out);
    value.serialize(&mut encoder)?;
    match encoder.out.len() > MAX_MESSAGE {
        true => Err(Error::too_large()),
        false => Ok(encoder.out),
    }
}

/// Reads one value, which must fill `bytes`.
pub(crate) fn decode_slice<'de, T: Deserialize<'de>>(
    bytes: &'de [u8],
) -> Result<T, Error> {
    let mut decoder = decode::Decoder::new(bytes);
    let value = T::deserialize(&mut decoder)?;
    decoder.finish()?;
    Ok(value)
}

/// Encodes a task's input or result.
pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Bytes, String> {
    encode_into(value, Vec::new())
        .map(Bytes)
        .map_err(|e| e.to_string())
}

/// Decodes a task's input or result.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &Bytes) -> Result<T, String> {
    decode_slice(&bytes.0).map_err(|e| e.to_string())
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::fmt::Debug;

    use serde::{Deserialize, Serialize};

    use super::*;

    fn round_trip<T: Serialize + DeserializeOwned + PartialEq + Debug>(value: T) {
        let bytes = encode(&value).unwrap();
        assert_eq!(decode::<T>(&bytes).unwrap(), value, "{:02x?}", bytes.0);
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Unit;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Wrapper(Option<Option<u8>>);

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    enum External {
        Unit,
        Newtype(Option<()>),
        Tuple(u128, Option<Unit>),
        Struct {
            inner: Option<Box<External>>,
            bytes: Vec<u8>,
        },
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    #[serde(tag = "kind")]
    enum Internal {
        A { x: Option<Option<i8>>, y: f64 },
        B(BTreeMap<String, Option<()>>),
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    #[serde(tag = "t", content = "c")]
    enum Adjacent {
        A(Option<Option<()>>),
        B { s: String },
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    #[serde(untagged)]
    enum Untagged {
        Number(i64),
        Maybe(Option<Option<bool>>),
        Text(String),
    }

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Flattened {
        name: String,
        #[serde(flatten)]
        rest: BTreeMap<String, Option<Option<u8>>>,
    }

    #[test]
    fn a_some_of_what_is_written_as_null_comes_back_a_some() {
        round_trip::<Option<Option<u8>>>(Some(None));
        round_trip::<Option<Option<Option<u8>>>>(Some(Some(None)));
        round_trip::<Option<Option<Option<u8>>>>(Some(None));
        round_trip::<Option<Option<Option<u8>>>>(None);
        round_trip::<Option<Option<Option<u8>>>>(Some(Some(Some(3))));
        round_trip(Some(()));
        round_trip(Some(Unit));
        round_trip(Some(Wrapper(None)));
        round_trip(Wrapper(Some(None)));
        round_trip(vec![None, Some(None), Some(Some(0_u8))]);
    }

    #[test]
    fn every_shape_of_enum_comes_back_equal() {
        round_trip(External::Unit);
        round_trip(External::Newtype(Some(())));
        round_trip(External::Tuple(u128::MAX, Some(Unit)));
        round_trip(External::Struct {
            inner: Some(Box::new(External::Newtype(None))),
            bytes: vec![0, 255],
        });
        round_trip(Internal::A {
            x: Some(None),
            y: f64::INFINITY,
        });
        round_trip(Internal::B([("k".into(), Some(()))].into()));
        round_trip(Adjacent::A(Some(None)));
        round_trip(Adjacent::B { s: "é".into() });
        for value in [
            Untagged::Number(-5),
            Untagged::Maybe(Some(None)),
            Untagged::Maybe(None),
            Untagged::Maybe(Some(Some(true))),
            Untagged::Text("x".into()),
        ] {
            round_trip(value);
        }
        round_trip(Flattened {
            name: "n".into(),
            rest: [("a".into(), Some(None)), ("b".into(), None)].into(),
        });
    }

    /// Types that write themselves one way for people and another for machines (IP
    /// addresses, here) come back in every enum representation.
    #[test]
    fn an_address_comes_back_through_every_representation() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        #[serde(untagged)]
        enum Loose {
            Ip(std::net::IpAddr),
            Name(String),
        }
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        #[serde(tag = "t")]
        enum Tagged {
            A { ip: std::net::Ipv4Addr },
        }
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Outer {
            n: u8,
            #[serde(flatten)]
            inner: Inner,
        }
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Inner {
            at: std::net::SocketAddr,
        }
        round_trip(Loose::Ip("1.2.3.4".parse().unwrap()));
        round_trip(Loose::Ip("::1".parse().unwrap()));
        round_trip(Loose::Name("x".into()));
        round_trip(Tagged::A {
            ip: "10.0.0.1".parse().unwrap(),
        });
        round_trip(Outer {
            n: 1,
            inner: Inner {
                at: "127.0.0.1:80".parse().unwrap(),
            },
        });
    }

    /// serde reads an untagged enum as the first variant that fits, whatever the format:
    /// `Int(3)` comes back `Float(3.0)` here as it does from JSON.
    #[test]
    fn an_untagged_enum_blurs_as_it_does_in_json() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        #[serde(untagged)]
        enum Number {
            Float(f64),
            Int(i64),
        }
        let json: Number =
            serde_json::from_str(&serde_json::to_string(&Number::Int(3)).unwrap())
                .unwrap();
        let wire: Number = decode(&encode(&Number::Int(3)).unwrap()).unwrap();
        assert_eq!((json, wire), (Number::Float(3.0), Number::Float(3.0)));
    }

    #[test]
    fn numbers_keep_their_value_and_their_bits() {
        for n in [
            0,
            1,
            23,
            24,
            255,
            256,
            65535,
            65536,
            u64::MAX as u128,
            u64::MAX as u128 + 1,
            u128::MAX,
        ] {
            round_trip(n);
        }
        for n in [
            0,
            -1,
            -24,
            -25,
            i64::MIN as i128,
            i64::MIN as i128 - 1,
            i128::MIN,
            i128::MAX,
        ] {
            round_trip(n);
        }
        round_trip((
            i8::MIN,
            i16::MIN,
            i32::MIN,
            i64::MIN,
            u8::MAX,
            u16::MAX,
            u32::MAX,
        ));
        for x in [
            f64::NAN,
            -f64::NAN,
            f64::INFINITY,
            -0.0,
            f64::MIN_POSITIVE,
            1e300,
        ] {
            let back: f64 = decode(&encode(&x).unwrap()).unwrap();
            assert_eq!(back.to_bits(), x.to_bits());
        }
        let x = f32::from_bits(0x7fc0_1234);
        let back: f32 = decode(&encode(&x).unwrap()).unwrap();
        assert_eq!(back.to_bits(), x.to_bits());
        round_trip(('a', 'é', '🦀'));
    }

    /// RFC 8949's Appendix A lists items with their encodings; what this wire writes for
    /// the same values is byte for byte the same.
    #[test]
    fn writes_standard_cbor() {
        assert_eq!(hex(&0_u8), "00");
        assert_eq!(hex(&24_u8), "1818");
        assert_eq!(hex(&1_000_000_u32), "1a000f4240");
        assert_eq!(hex(&1_000_000_000_000_u64), "1b000000e8d4a51000");
        assert_eq!(
            hex(&18_446_744_073_709_551_616_u128),
            "c249010000000000000000"
        );
        assert_eq!(
            hex(&-18_446_744_073_709_551_617_i128),
            "c349010000000000000000"
        );
        assert_eq!(hex(&-1000_i32), "3903e7");
        assert_eq!(hex(&1.1_f64), "fb3ff199999999999a");
        assert_eq!(hex(&false), "f4");
        assert_eq!(hex(&()), "f6");
        assert_eq!(hex(&"IETF"), "6449455446");
        assert_eq!(hex(&(1, [2, 3], [4, 5])), "8301820203820405");
        assert_eq!(hex(&BTreeMap::from([("a", 1), ("b", 2)])), "a2616101616202");
        // And the one private tag, only where a Some would otherwise read as None.
        assert_eq!(hex(&Some(1)), "01");
        assert_eq!(hex(&Some(None::<u8>)), "d9c34ff6");
    }

    fn hex<T: Serialize + ?Sized>(value: &T) -> String {
        let bytes = encode_into(value, Vec::new()).unwrap();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn a_length_promised_wrong_is_mended() {
        /// Promises five elements and writes two, or promises none.
        struct Liar(Option<usize>);
        impl Serialize for Liar {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(self.0)?;
                seq.serialize_element(&1_000)?;
                seq.serialize_element("two")?;
                seq.end()
            }
        }
        for promise in [Some(5), Some(30), None] {
            let bytes = encode(&Liar(promise)).unwrap();
            let back: (u32, String) = decode(&bytes).unwrap();
            assert_eq!(back, (1_000, "two".into()));
        }
        let odd = (0..300).filter(|n| n % 2 == 1);
        let bytes = encode_into(&serde_collect(odd), Vec::new()).unwrap();
        let back: Vec<u32> = decode_slice(&bytes).unwrap();
        assert_eq!(back, (0..300).filter(|n| n % 2 == 1).collect::<Vec<_>>());
    }

    /// A sequence from an iterator of unknown length.
    fn serde_collect(numbers: impl Iterator<Item = u32> + Clone) -> impl Serialize {
        struct Collect<I>(I);
        impl<I: Iterator<Item = u32> + Clone> Serialize for Collect<I> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.clone())
            }
        }
        Collect(numbers)
    }

    /// `Option<Box<Chain>>`, one level a link: two levels of nesting each (the newtype
    /// and the `Some`).
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Chain(Option<Box<Chain>>);

    fn chain(links: usize) -> Chain {
        (0..links).fold(Chain(None), |inner, _| Chain(Some(Box::new(inner))))
    }

    #[test]
    fn the_sender_refuses_what_the_receiver_would_find_too_deep() {
        // 1 + 2 × 127 + 1 = 256 levels: the vector, two a link, the last newtype.
        round_trip(vec![chain(127)]);
        let deepest = Bytes([vec![0x81; MAX_DEPTH - 1], vec![0x80]].concat());
        decode::<serde::de::IgnoredAny>(&deepest).unwrap();
        let refused = encode(&vec![vec![chain(127)]]).unwrap_err();
        assert_eq!(
            refused,
            "it nests more than 256 levels deep, this wire's limit"
        );
        let refused = encode(&chain(MAX_DEPTH / 2 + 1)).unwrap_err();
        assert_eq!(
            refused,
            "it nests more than 256 levels deep, this wire's limit"
        );
        let refused = encode(&vec![chain(MAX_DEPTH)]).unwrap_err();
        assert_eq!(
            refused,
            "it nests more than 256 levels deep, this wire's limit"
        );
    }

    #[test]
    fn a_crafted_deep_message_is_refused_not_followed() {
        for item in [0x81, 0xa1] {
            let message = Bytes(vec![item; 1_000_000]);
            let error = decode::<serde::de::IgnoredAny>(&message).unwrap_err();
            assert_eq!(
                error,
                "it nests more than 256 levels deep, this wire's limit"
            );
        }
        let somes = Bytes(SOME_OF_NULL_HEAD.repeat(100_000));
        let error = decode::<serde::de::IgnoredAny>(&somes).unwrap_err();
        assert_eq!(
            error,
            "it nests more than 256 levels deep, this wire's limit"
        );
        let error = decode::<Chain>(&somes).unwrap_err();
        assert_eq!(
            error,
            "it nests more than 256 levels deep, this wire's limit"
        );
    }

    #[test]
    fn a_broken_message_is_an_error_never_a_panic() {
        let value = External::Struct {
            inner: Some(Box::new(External::Tuple(u128::MAX, Some(Unit)))),
            bytes: vec![1, 2, 3],
        };
        let bytes = encode(&value).unwrap().0;
        for end in 0..bytes.len() {
            assert!(decode::<External>(&Bytes(bytes[..end].to_vec())).is_err());
        }
        for at in 0..bytes.len() {
            for flip in 0..8 {
                let mut broken = bytes.clone();
                broken[at] ^= 1 << flip;
                let _ = decode::<External>(&Bytes(broken.clone()));
                let _ = decode::<serde::de::IgnoredAny>(&Bytes(broken));
            }
        }
        let huge_length =
            Bytes(vec![0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        let error = decode::<Vec<u8>>(&huge_length).unwrap_err();
        assert_eq!(error, "the message ends inside a value (at byte 9)");
        let trailing = Bytes(vec![0x01, 0x02]);
        assert_eq!(
            decode::<u8>(&trailing).unwrap_err(),
            "more bytes after the value (at byte 1)"
        );
    }
}
