//! The wire tested as parsers are: values drawn at random from a seeded generator come
//! back equal or are refused in one line; arbitrary bytes, every prefix of a message and
//! every bit flipped in one are decoded without a panic and without a loop. The seed is
//! in every failure's message, so a failing case can be run again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Bytes, decode, encode};

/// A small, fast, seeded generator (xorshift64*): the same seed, the same cases.
struct Draw(u64);

impl Draw {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum External {
    Unit,
    Newtype(Option<Option<i8>>),
    Tuple(u16, String),
    Struct { a: Option<()>, b: Vec<u8> },
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
#[serde(tag = "kind")]
enum Internal {
    Empty,
    Named { value: i64, note: Option<String> },
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
#[serde(tag = "t", content = "c")]
enum Adjacent {
    Unit,
    Pair(i32, Option<bool>),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
#[serde(untagged)]
enum Untagged {
    Number(i64),
    Text(String),
    List(Vec<Option<u8>>),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Inner {
    depth: u8,
    flag: Option<bool>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Unit;

/// One value of every shape the wire promises to carry.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Value {
    small: i8,
    wide: i128,
    unsigned: u128,
    float_bits: u64,
    float: f64,
    text: String,
    bytes: Bytes,
    nested: Option<Option<Option<u32>>>,
    unit: Option<()>,
    unit_struct: Unit,
    external: Vec<External>,
    internal: Internal,
    adjacent: Adjacent,
    untagged: Untagged,
    by_name: BTreeMap<String, Vec<u8>>,
    by_number: BTreeMap<u64, Option<String>>,
    tuple: (bool, char, Option<f32>),
    #[serde(flatten)]
    inner: Inner,
}

fn text(draw: &mut Draw) -> String {
    let alphabet = ['a', 'é', '€', '𝄞', '\0', '"', '\n', 'Z'];
    (0..draw.below(12))
        .map(|_| alphabet[draw.below(alphabet.len() as u64) as usize])
        .collect()
}

fn option<T>(draw: &mut Draw, value: impl FnOnce(&mut Draw) -> T) -> Option<T> {
    (draw.below(3) != 0).then(|| value(draw))
}

fn value(draw: &mut Draw) -> Value {
    let float = match draw.below(6) {
        0 => f64::INFINITY,
        1 => f64::NEG_INFINITY,
        2 => -0.0,
        3 => f64::MIN_POSITIVE / 4.0, // subnormal
        // NaN is never equal to itself: the reliability tests compare it by its bits.
        _ => match f64::from_bits(draw.next()) {
            nan if nan.is_nan() => 1.5,
            number => number,
        },
    };
    let extreme = [i128::MIN, i128::MAX, 0, -1, draw.next() as i128];
    let external = (0..draw.below(4))
        .map(|_| match draw.below(4) {
            0 => External::Unit,
            1 => External::Newtype(option(draw, |d| option(d, |d| d.next() as i8))),
            2 => External::Tuple(draw.next() as u16, text(draw)),
            _ => External::Struct {
                a: option(draw, |_| ()),
                b: (0..draw.below(5)).map(|_| draw.next() as u8).collect(),
            },
        })
        .collect();
    Value {
        small: draw.next() as i8,
        wide: extreme[draw.below(5) as usize],
        unsigned: [u128::MAX, 0, draw.next() as u128][draw.below(3) as usize],
        float_bits: draw.next(),
        float,
        text: text(draw),
        bytes: Bytes((0..draw.below(40)).map(|_| draw.next() as u8).collect()),
        nested: option(draw, |d| option(d, |d| option(d, |d| d.next() as u32))),
        unit: option(draw, |_| ()),
        unit_struct: Unit,
        external,
        internal: match draw.below(2) {
            0 => Internal::Empty,
            _ => Internal::Named {
                value: draw.next() as i64,
                note: option(draw, text),
            },
        },
        adjacent: match draw.below(2) {
            0 => Adjacent::Unit,
            _ => Adjacent::Pair(draw.next() as i32, option(draw, |d| d.below(2) == 0)),
        },
        untagged: match draw.below(3) {
            0 => Untagged::Number(draw.next() as i64),
            1 => Untagged::Text(text(draw)),
            _ => Untagged::List(
                (0..draw.below(4))
                    .map(|_| option(draw, |d| d.next() as u8))
                    .collect(),
            ),
        },
        by_name: (0..draw.below(4))
            .map(|_| (text(draw), vec![draw.next() as u8]))
            .collect(),
        by_number: (0..draw.below(4))
            .map(|_| (draw.next(), option(draw, text)))
            .collect(),
        tuple: (
            draw.below(2) == 0,
            'ß',
            option(draw, |d| d.next() as u32 as f32),
        ),
        inner: Inner {
            depth: draw.next() as u8,
            flag: option(draw, |d| d.below(2) == 0),
        },
    }
}

const SEED: u64 = 0x5eed_f0f5_0000_0021;

#[test]
fn arbitrary_values_come_back_equal_or_are_refused_in_one_line() {
    let mut draw = Draw(SEED);
    for case in 0..2_000 {
        let original = value(&mut draw);
        match encode(&original) {
            Ok(bytes) => {
                let back: Result<Value, String> = decode(&bytes);
                assert_eq!(back.as_ref(), Ok(&original), "seed {SEED:#x}, case {case}");
            }
            Err(reason) => {
                assert!(
                    !reason.contains('\n'),
                    "seed {SEED:#x}, case {case}: {reason}"
                );
            }
        }
    }
}

/// Decodes `bytes` as a few targets; a panic fails the test with the input in hex.
fn decode_everything(bytes: &[u8], why: &str) {
    let input = Bytes(bytes.to_vec());
    let decoded = std::panic::catch_unwind(|| {
        let _ = decode::<Value>(&input);
        let _ = decode::<Vec<Option<External>>>(&input);
        let _ = decode::<BTreeMap<String, Untagged>>(&input);
        let _ = decode::<(u128, f64, String)>(&input);
    });
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    assert!(decoded.is_ok(), "{why}: the decoder panicked on {hex}");
}

#[test]
fn broken_and_arbitrary_bytes_never_panic_or_loop() {
    let started = std::time::Instant::now();
    let mut draw = Draw(SEED ^ 1);
    for case in 0..60 {
        let message = encode(&value(&mut draw)).expect("a drawn value encodes").0;
        for end in 0..message.len() {
            decode_everything(&message[..end], &format!("case {case}, prefix {end}"));
        }
        for bit in (0..message.len() * 8).step_by(7) {
            let mut flipped = message.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            decode_everything(&flipped, &format!("case {case}, bit {bit}"));
        }
    }
    for case in 0..3_000 {
        let noise: Vec<u8> = (0..draw.below(64)).map(|_| draw.next() as u8).collect();
        decode_everything(&noise, &format!("seed {SEED:#x}, noise {case}"));
    }
    // Lengths that claim more than any message holds.
    for head in [0x5b_u8, 0x7b, 0x9b, 0xbb, 0x5a, 0x9a] {
        let mut hostile = vec![head];
        hostile.extend_from_slice(&[0xff; 8]);
        decode_everything(&hostile, "a hostile length");
    }
    // A loop would show as a test that does not end; this bound says it in one line.
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(60),
        "decoding took {took:?}"
    );
}
