//! The reading half of the wire: CBOR items back into serde's data model.
//!
//! It reads what `encode.rs` writes and nothing else: definite lengths, floats of 32 and
//! 64 bits, and three tags. Anything else is an error that names its byte; no input, however
//! broken, makes it panic or read past its end.

use serde::de::{self, DeserializeSeed, IgnoredAny, Visitor};

use super::encode::Major;
use super::{Error, MAX_DEPTH, NULL, SOME_OF_NULL, TAG_NEGATIVE_BIG, TAG_POSITIVE_BIG};

pub(super) struct Decoder<'de> {
    input: &'de [u8],
    at: usize,
    /// How many containers, `Some`s and newtypes enclose what is read next.
    depth: usize,
}

/// An item's first byte, split: its major type, and how its argument is given.
struct Head {
    major: u8,
    argument: u64,
}

impl<'de> Decoder<'de> {
    pub(super) fn new(input: &'de [u8]) -> Self {
        Decoder {
            input,
            at: 0,
            depth: 0,
        }
    }

    pub(super) fn finish(&self) -> Result<(), Error> {
        match self.at == self.input.len() {
            true => Ok(()),
            false => Err(self.error("more bytes after the value")),
        }
    }

    fn error(&self, what: &str) -> Error {
        Error(format!("{what} (at byte {})", self.at))
    }

    fn take(&mut self, count: u64) -> Result<&'de [u8], Error> {
        let end = usize::try_from(count)
            .ok()
            .and_then(|count| self.at.checked_add(count))
            .filter(|&end| end <= self.input.len())
            .ok_or_else(|| self.error("the message ends inside a value"))?;
        let taken = &self.input[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn peek(&self) -> Result<u8, Error> {
        self.input
            .get(self.at)
            .copied()
            .ok_or_else(|| self.error("the message ends before a value"))
    }

    fn head(&mut self) -> Result<Head, Error> {
        let first = self.take(1)?[0];
        let major = first >> 5;
        let argument = match first & 0x1f {
            small @ 0..=23 => u64::from(small),
            24 => u64::from(self.take(1)?[0]),
            25 => u64::from(u16::from_be_bytes(self.array()?)),
            26 => u64::from(u32::from_be_bytes(self.array()?)),
            27 => u64::from_be_bytes(self.array()?),
            _ => return Err(self.error("not a head this wire writes")),
        };
        Ok(Head { major, argument })
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let bytes = self.take(N as u64)?;
        Ok(bytes.try_into().expect("took N bytes"))
    }

    /// One level deeper, for `read`, refused past the limit the writing side also keeps.
    fn nested<T>(
        &mut self,
        read: impl FnOnce(&mut Self) -> Result<T, Error>,
    ) -> Result<T, Error> {
        if self.depth == MAX_DEPTH {
            return Err(Error::too_deep());
        }
        self.depth += 1;
        let value = read(self);
        self.depth -= 1;
        value
    }

    fn text(&mut self, length: u64) -> Result<&'de str, Error> {
        let bytes = self.take(length)?;
        std::str::from_utf8(bytes).map_err(|_| self.error("a text that is not UTF-8"))
    }

    fn big(&mut self) -> Result<u128, Error> {
        let head = self.head()?;
        if head.major != Major::Bytes as u8 || head.argument > 16 {
            return Err(self.error("a big integer that is not 1 to 16 bytes"));
        }
        let bytes = self.take(head.argument)?;
        Ok(bytes.iter().fold(0, |n, &b| n << 8 | u128::from(b)))
    }

    /// Major type 7: false, true, null, and floats of 32 or 64 bits, as `encode.rs`
    /// writes them.
    fn simple<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        match self.take(1)?[0] {
            0xf4 => visitor.visit_bool(false),
            0xf5 => visitor.visit_bool(true),
            NULL => visitor.visit_unit(),
            0xfa => {
                visitor.visit_f32(f32::from_bits(u32::from_be_bytes(self.array()?)))
            }
            0xfb => {
                visitor.visit_f64(f64::from_bits(u64::from_be_bytes(self.array()?)))
            }
            _ => Err(self.error("a simple value this wire does not write")),
        }
    }

    /// An array's elements or a map's entries, one level deeper; all of them must be read.
    fn elements<T>(
        &mut self,
        length: u64,
        visit: impl FnOnce(&mut Elements<'_, 'de>) -> Result<T, Error>,
    ) -> Result<T, Error> {
        self.nested(|decoder| {
            let mut access = Elements {
                decoder,
                left: length,
            };
            let value = visit(&mut access)?;
            match access.left {
                0 => Ok(value),
                left => Err(de::Error::invalid_length(
                    (length - left) as usize,
                    &"fewer items",
                )),
            }
        })
    }
}

impl<'de> de::Deserializer<'de> for &mut Decoder<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.peek()? >> 5 == 7 {
            return self.simple(visitor);
        }
        let Head { major, argument } = self.head()?;
        match major {
            0 => visitor.visit_u64(argument),
            1 => match i64::try_from(argument) {
                Ok(n) => visitor.visit_i64(-1 - n),
                Err(_) => visitor.visit_i128(-1 - i128::from(argument)),
            },
            2 => visitor.visit_borrowed_bytes(self.take(argument)?),
            3 => visitor.visit_borrowed_str(self.text(argument)?),
            4 => self.elements(argument, |items| visitor.visit_seq(items)),
            5 => self.elements(argument, |items| visitor.visit_map(items)),
            _ => match argument {
                TAG_POSITIVE_BIG => visitor.visit_u128(self.big()?),
                TAG_NEGATIVE_BIG => match i128::try_from(self.big()?) {
                    Ok(n) => visitor.visit_i128(-1 - n),
                    Err(_) => Err(self.error("a negative integer beyond 128 bits")),
                },
                SOME_OF_NULL => self.nested(|decoder| visitor.visit_some(decoder)),
                _ => Err(self.error("a tag this wire does not write")),
            },
        }
    }

    fn deserialize_option<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.peek()? {
            NULL => {
                self.at += 1;
                visitor.visit_none()
            }
            _ => {
                if self.input[self.at..].starts_with(&super::SOME_OF_NULL_HEAD) {
                    self.at += super::SOME_OF_NULL_HEAD.len();
                }
                self.nested(|decoder| visitor.visit_some(decoder))
            }
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.peek()? {
            NULL => {
                self.at += 1;
                visitor.visit_unit()
            }
            _ => Err(self.error("expected null, for a unit")),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.nested(|decoder| visitor.visit_newtype_struct(decoder))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.peek()? >> 5 {
            // A unit variant: its name alone.
            3 => visitor.visit_enum(Variant {
                decoder: self,
                has_content: false,
            }),
            // Any other: a map of one entry, from its name to its content.
            5 => match self.head()?.argument {
                1 => self.nested(|decoder| {
                    visitor.visit_enum(Variant {
                        decoder,
                        has_content: true,
                    })
                }),
                _ => Err(self.error("an enum's map with other than one entry")),
            },
            _ => Err(self.error("expected an enum variant")),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_any(IgnoredAny)?;
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf seq tuple tuple_struct map struct identifier
    }
}

/// The elements of an array, or the entries of a map, still to be read.
struct Elements<'a, 'de> {
    decoder: &'a mut Decoder<'de>,
    left: u64,
}

impl<'de> Elements<'_, 'de> {
    /// The next element, or the next entry's key; `None` once all are read.
    fn next<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        match self.left {
            0 => Ok(None),
            _ => {
                self.left -= 1;
                seed.deserialize(&mut *self.decoder).map(Some)
            }
        }
    }
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.next(seed)
    }

    fn size_hint(&self) -> Option<usize> {
        usize::try_from(self.left).ok()
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        self.next(seed)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Error> {
        seed.deserialize(&mut *self.decoder)
    }

    fn size_hint(&self) -> Option<usize> {
        usize::try_from(self.left).ok()
    }
}

/// An enum's variant: its name, then its content if it has one.
struct Variant<'a, 'de> {
    decoder: &'a mut Decoder<'de>,
    has_content: bool,
}

impl<'de> de::EnumAccess<'de> for Variant<'_, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Self), Error> {
        let name = seed.deserialize(&mut *self.decoder)?;
        Ok((name, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.has_content {
            false => Ok(()),
            true => Err(self.decoder.error("content for a unit variant")),
        }
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<S::Value, Error> {
        self.content()?;
        seed.deserialize(self.decoder)
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.content()?;
        de::Deserializer::deserialize_any(self.decoder, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.content()?;
        de::Deserializer::deserialize_any(self.decoder, visitor)
    }
}

impl Variant<'_, '_> {
    fn content(&self) -> Result<(), Error> {
        match self.has_content {
            true => Ok(()),
            false => Err(self
                .decoder
                .error("a unit variant where content was expected")),
        }
    }
}
