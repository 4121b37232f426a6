//! The writing half of the wire: serde's data model as CBOR items.

use serde::Serialize;
use serde::ser;

use super::{
    Error, MAX_DEPTH, MAX_MESSAGE, NULL, SOME_OF_NULL_HEAD, TAG_NEGATIVE_BIG,
    TAG_POSITIVE_BIG,
};

/// CBOR's major types, each the top three bits of an item's first byte.
#[derive(Clone, Copy)]
#[repr(u8)]
pub(super) enum Major {
    Unsigned = 0,
    Negative = 1,
    Bytes = 2,
    Text = 3,
    Array = 4,
    Map = 5,
    Tag = 6,
}

pub(super) struct Encoder {
    pub(super) out: Vec<u8>,
    /// How many containers, `Some`s and newtypes enclose what is written next.
    depth: usize,
}

impl Encoder {
    pub(super) fn new(out: Vec<u8>) -> Self {
        Encoder { out, depth: 0 }
    }

    /// An item's head: its major type and its argument (a number, a length or a tag),
    /// in the fewest bytes.
    pub(super) fn head(&mut self, major: Major, argument: u64) {
        let major = (major as u8) << 5;
        match argument {
            0..=23 => self.out.push(major | argument as u8),
            24..=0xff => self.out.extend([major | 24, argument as u8]),
            0x100..=0xffff => {
                self.out.push(major | 25);
                self.out.extend((argument as u16).to_be_bytes());
            }
            0x1_0000..=0xffff_ffff => {
                self.out.push(major | 26);
                self.out.extend((argument as u32).to_be_bytes());
            }
            _ => {
                self.out.push(major | 27);
                self.out.extend(argument.to_be_bytes());
            }
        }
    }

    fn length(&mut self, major: Major, length: usize) {
        self.head(major, length as u64);
    }

    fn text(&mut self, text: &str) {
        self.length(Major::Text, text.len());
        self.out.extend_from_slice(text.as_bytes());
    }

    /// Beyond 64 bits, CBOR writes an integer as a tagged byte string (RFC 8949, 3.4.3).
    fn big(&mut self, tag: u64, magnitude: u128) {
        let bytes = magnitude.to_be_bytes();
        let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
        self.head(Major::Tag, tag);
        self.length(Major::Bytes, bytes.len() - first);
        self.out.extend_from_slice(&bytes[first..]);
    }

    /// Refuses a string or byte string that would take the message past
    /// [`MAX_MESSAGE`], before a byte of it is copied.
    fn room_for(&self, length: usize) -> Result<(), Error> {
        match self.out.len().saturating_add(length) > MAX_MESSAGE {
            true => Err(Error::too_large()),
            false => Ok(()),
        }
    }

    /// One level deeper, refused past the limit the reading side also keeps.
    fn enter(&mut self, levels: usize) -> Result<(), Error> {
        self.depth += levels;
        match self.depth > MAX_DEPTH {
            true => Err(Error::too_deep()),
            false => Ok(()),
        }
    }

    fn leave(&mut self, levels: usize) {
        self.depth -= levels;
    }

    /// A container whose length is written now and mended at its end if the value's
    /// `Serialize` promised another count (or none).
    fn open(
        &mut self,
        major: Major,
        promised: Option<usize>,
        levels: usize,
    ) -> Result<Compound<'_>, Error> {
        self.enter(levels)?;
        let head_at = self.out.len();
        let promised = promised.unwrap_or(0);
        self.length(major, promised);
        let body_at = self.out.len();
        Ok(Compound {
            encoder: self,
            major,
            head: head_at..body_at,
            promised,
            count: 0,
            levels,
        })
    }

    fn variant(&mut self, variant: &str) {
        self.head(Major::Map, 1);
        self.text(variant);
    }
}

/// An array or a map being written.
pub(super) struct Compound<'a> {
    encoder: &'a mut Encoder,
    major: Major,
    /// Where its head is, to be rewritten if the count turns out another.
    head: std::ops::Range<usize>,
    promised: usize,
    /// Elements, or entries of a map.
    count: usize,
    levels: usize,
}

impl Compound<'_> {
    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.count += 1;
        value.serialize(&mut *self.encoder)
    }

    fn end(self) -> Result<(), Error> {
        if self.count != self.promised {
            let mut head = Encoder::new(Vec::new());
            head.length(self.major, self.count);
            self.encoder.out.splice(self.head, head.out);
        }
        self.encoder.leave(self.levels);
        Ok(())
    }
}

impl<'a> ser::Serializer for &'a mut Encoder {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.out.push(0xf4 | v as u8);
        Ok(())
    }

    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        // A negative n is written as -1 - n, which is !n in two's complement.
        match v < 0 {
            true => self.head(Major::Negative, !v as u64),
            false => self.head(Major::Unsigned, v as u64),
        }
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        match (v < 0, u64::try_from(if v < 0 { !v } else { v })) {
            (false, Ok(small)) => self.head(Major::Unsigned, small),
            (true, Ok(small)) => self.head(Major::Negative, small),
            (false, Err(_)) => self.big(TAG_POSITIVE_BIG, v as u128),
            (true, Err(_)) => self.big(TAG_NEGATIVE_BIG, !v as u128),
        }
        Ok(())
    }

    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.head(Major::Unsigned, v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        match u64::try_from(v) {
            Ok(small) => self.head(Major::Unsigned, small),
            Err(_) => self.big(TAG_POSITIVE_BIG, v),
        }
        Ok(())
    }

    // Floats keep their width and their bits: NaN payloads and -0.0 come back as sent.
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.out.push(0xfa);
        self.out.extend(v.to_bits().to_be_bytes());
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.out.push(0xfb);
        self.out.extend(v.to_bits().to_be_bytes());
        Ok(())
    }

    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.text(v.encode_utf8(&mut [0; 4]));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.room_for(v.len())?;
        self.text(v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        self.room_for(v.len())?;
        self.length(Major::Bytes, v.len());
        self.out.extend_from_slice(v);
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.out.push(NULL);
        Ok(())
    }

    // ANCHOR: some
    /// `Some(x)` is written as `x`, as JSON would, unless `x` is itself written as null
    /// (`None`, `()`) or as such a tagged null: then a tag marks the `Some`, so that
    /// `Some(None)` does not come back as `None`.
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        self.enter(1)?;
        let start = self.out.len();
        value.serialize(&mut *self)?;
        let written = &self.out[start..];
        if written == [NULL] || written.starts_with(&SOME_OF_NULL_HEAD) {
            self.out.splice(start..start, SOME_OF_NULL_HEAD);
        }
        self.leave(1);
        Ok(())
    }
    // ANCHOR_END: some

    fn serialize_unit(self) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Error> {
        self.serialize_none()
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.text(variant);
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.enter(1)?;
        value.serialize(&mut *self)?;
        self.leave(1);
        Ok(())
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.enter(1)?;
        self.variant(variant);
        value.serialize(&mut *self)?;
        self.leave(1);
        Ok(())
    }

    fn serialize_seq(self, length: Option<usize>) -> Result<Compound<'a>, Error> {
        self.open(Major::Array, length, 1)
    }
    fn serialize_tuple(self, length: usize) -> Result<Compound<'a>, Error> {
        self.open(Major::Array, Some(length), 1)
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        length: usize,
    ) -> Result<Compound<'a>, Error> {
        self.open(Major::Array, Some(length), 1)
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        length: usize,
    ) -> Result<Compound<'a>, Error> {
        self.variant(variant);
        // Two levels: the variant's map, then its content's array or map.
        self.open(Major::Array, Some(length), 2)
    }
    fn serialize_map(self, length: Option<usize>) -> Result<Compound<'a>, Error> {
        self.open(Major::Map, length, 1)
    }
    fn serialize_struct(
        self,
        _: &'static str,
        length: usize,
    ) -> Result<Compound<'a>, Error> {
        self.open(Major::Map, Some(length), 1)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        length: usize,
    ) -> Result<Compound<'a>, Error> {
        self.variant(variant);
        // Two levels: the variant's map, then its content's array or map.
        self.open(Major::Map, Some(length), 2)
    }
}

/// The element-wise parts of the serializer, all alike: each element is one more item.
macro_rules! elements {
    ($($trait:ident :: $method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                self.element(value)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.element(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(&mut *self.encoder)
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

/// A struct's fields, as a map from their names.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Error;
            fn serialize_field<T: Serialize + ?Sized>(
                &mut self,
                name: &'static str,
                value: &T,
            ) -> Result<(), Error> {
                self.element(name)?;
                value.serialize(&mut *self.encoder)
            }
            fn end(self) -> Result<(), Error> {
                Compound::end(self)
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);
