//! Finds a `Some(None)`, or a `Some(())`, in a value before it is encoded.
//!
//! CBOR has one null: `Some(x)` is written as `x`, and `None`, `()` and a unit struct as
//! null. So `Some(None)`, `Some(Some(None))` and `Some(())` are written as null, and read
//! back as `None`: a different value, with no error (seen in a run). The formats that keep
//! the difference cannot serve here: bincode and postcard read nothing without its type
//! (no untagged enums), and RON, tried, could not read an internally tagged enum back. So
//! a value holding one is refused before it is sent, in one line, rather than answered
//! wrongly. Walking the value costs a pass over its structure, not over its bytes: a
//! string or a byte string is one call.

use std::fmt;

use serde::Serialize;
use serde::ser;

/// Whether `value` holds a `Some` whose content is written as null: a `None` or a unit,
/// possibly behind further `Some`s or newtype structs, which CBOR writes as what they hold.
pub(crate) fn find<T: Serialize + ?Sized>(value: &T) -> Result<(), String> {
    let mut walker = Walker { inside_some: false };
    match value.serialize(&mut walker) {
        Ok(()) => Ok(()),
        Err(Found::SomeNull(what)) => Err(format!(
            "it holds Some({what}), which would come back as None (CBOR has one null)"
        )),
        Err(Found::Custom(message)) => Err(message),
    }
}

/// Walks a value as a serializer would, writing nothing.
struct Walker {
    /// True from a `Some` until anything but a null, a `Some` or a newtype struct.
    inside_some: bool,
}

#[derive(Debug)]
enum Found {
    /// A `Some` of what CBOR writes as null: `None`, or `()`.
    SomeNull(&'static str),
    /// The value's own `Serialize` failed; encoding it would fail alike.
    Custom(String),
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Found::SomeNull(what) => write!(f, "Some({what})"),
            Found::Custom(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for Found {}

impl ser::Error for Found {
    fn custom<M: fmt::Display>(message: M) -> Found {
        Found::Custom(message.to_string())
    }
}

impl Walker {
    /// A value that CBOR writes as something other than null: whatever encloses it is
    /// told apart from `None`.
    fn leaf(&mut self) -> Result<(), Found> {
        self.inside_some = false;
        Ok(())
    }

    fn part<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Found> {
        self.inside_some = false;
        value.serialize(&mut *self)
    }

    /// A value that CBOR writes as null: refused right inside a `Some`.
    fn null(&mut self, what: &'static str) -> Result<(), Found> {
        match self.inside_some {
            true => Err(Found::SomeNull(what)),
            false => Ok(()),
        }
    }
}

/// The leaf methods: each only ends a run of `Some`s.
macro_rules! leaves {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<(), Found> { self.leaf() })*
    };
}

/// The methods that start a compound value: it, too, ends a run of `Some`s, and each of
/// its parts is walked on its own.
macro_rules! compounds {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<Self, Found> {
            self.leaf().map(|()| self)
        })*
    };
}

impl ser::Serializer for &mut Walker {
    type Ok = ();
    type Error = Found;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    leaves! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_i128(i128);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_u128(u128);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_none(self) -> Result<(), Found> {
        self.null("None")
    }

    fn serialize_unit(self) -> Result<(), Found> {
        self.null("()")
    }

    fn serialize_unit_struct(self, _: &'static str) -> Result<(), Found> {
        self.null("()")
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Found> {
        self.inside_some = true;
        value.serialize(self)
    }

    /// Written as what it holds, so it keeps a run of `Some`s going.
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Found> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        value: &T,
    ) -> Result<(), Found> {
        self.part(value)
    }

    compounds! {
        serialize_seq(Option<usize>);
        serialize_tuple(usize);
        serialize_tuple_struct(&'static str, usize);
        serialize_tuple_variant(&'static str, u32, &'static str, usize);
        serialize_map(Option<usize>);
        serialize_struct(&'static str, usize);
        serialize_struct_variant(&'static str, u32, &'static str, usize);
    }
}

/// Every kind of compound value: each part is walked on its own.
macro_rules! compound {
    ($($trait:ident :: $method:ident($($name:ident: $arg:ty),*);)*) => {
        $(impl ser::$trait for &mut Walker {
            type Ok = ();
            type Error = Found;
            fn $method<T: Serialize + ?Sized>(
                &mut self,
                $($name: $arg,)*
                value: &T,
            ) -> Result<(), Found> {
                $(let _ = $name;)*
                self.part(value)
            }
            fn end(self) -> Result<(), Found> {
                Ok(())
            }
        })*
    };
}

compound! {
    SerializeSeq::serialize_element();
    SerializeTuple::serialize_element();
    SerializeTupleStruct::serialize_field();
    SerializeTupleVariant::serialize_field();
    SerializeStruct::serialize_field(key: &'static str);
    SerializeStructVariant::serialize_field(key: &'static str);
}

impl ser::SerializeMap for &mut Walker {
    type Ok = ();
    type Error = Found;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Found> {
        self.part(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(
        &mut self,
        value: &T,
    ) -> Result<(), Found> {
        self.part(value)
    }
    fn end(self) -> Result<(), Found> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::find;
    use std::collections::BTreeMap;

    #[derive(serde::Serialize)]
    struct Wrapper(Option<u8>);

    #[derive(serde::Serialize)]
    struct Record {
        name: &'static str,
        inner: Option<Option<u8>>,
    }

    #[test]
    fn a_none_behind_a_some_is_found_wherever_it_is() {
        assert!(find(&Some(None::<u8>)).is_err());
        assert!(find(&Some(Some(None::<u8>))).is_err());
        assert!(find(&Some(Wrapper(None))).is_err());
        assert!(find(&vec![Some(1), None]).is_ok());
        assert!(find(&vec![None, Some(None::<u8>)]).is_err());
        assert!(find(&Some(())).is_err());
        assert_eq!(
            find(&[Some(())]).unwrap_err(),
            "it holds Some(()), which would come back as None (CBOR has one null)"
        );
        let record = Record {
            name: "a",
            inner: Some(None),
        };
        assert!(find(&record).is_err());
        let map = BTreeMap::from([(1, Some(None::<u8>))]);
        assert!(find(&map).is_err());
    }

    #[test]
    fn every_other_option_passes() {
        assert!(find(&None::<Option<u8>>).is_ok());
        assert!(find(&Some(Some(3_u8))).is_ok());
        assert!(find(&Some(Wrapper(Some(1)))).is_ok());
        assert!(find(&Some(vec![None::<u8>])).is_ok());
        assert!(find(&Some((None::<u8>, 1))).is_ok());
        let record = Record {
            name: "a",
            inner: None,
        };
        assert!(find(&record).is_ok());
        assert!(find(&Some(Ok::<Option<u8>, ()>(None))).is_ok());
        assert!(find(&((), None::<u8>)).is_ok());
    }
}
