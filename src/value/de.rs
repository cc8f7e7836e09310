//! Serde deserialization: a [`Value`] into any `Deserialize` type, and any
//! serde format into a `Value`.

use std::fmt;

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, Unexpected, Visitor,
};
use serde::forward_to_deserialize_any;

use super::{MAX_NESTING_DEPTH, Object, Value, ValueError};

/// Converts a [`Value`] into any deserializable type.
///
/// This is the inverse of [`to_value`](super::to_value), with some leniency
/// for values that came from JSON clients (where every number is a float):
///
/// * when an integer type is requested and the value is a `Float64` holding
///   an exact integer that fits, it is accepted as that integer;
/// * when a float type is requested and the value is an `Int64`, it is
///   converted to `f64`;
/// * `Vec<u8>`-like targets accept `Bytes`, and byte-buffer targets
///   (e.g. `serde_bytes`) accept arrays of small integers;
/// * enums accept `"Variant"` for unit variants and `{"Variant": content}`
///   otherwise (like `serde_json`); map keys that were stringified
///   integers or booleans are parsed back.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ValueError> {
    T::deserialize(value)
}

impl Value {
    /// Describes this value for serde's "invalid type" errors.
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Value::Null => Unexpected::Unit,
            Value::Int64(i) => Unexpected::Signed(*i),
            Value::Float64(f) => Unexpected::Float(*f),
            Value::Boolean(b) => Unexpected::Bool(*b),
            Value::String(s) => Unexpected::Str(s),
            Value::Bytes(b) => Unexpected::Bytes(b),
            Value::Array(_) => Unexpected::Seq,
            Value::Object(_) => Unexpected::Map,
        }
    }

    fn invalid_type(&self, expected: &dyn de::Expected) -> ValueError {
        de::Error::invalid_type(self.unexpected(), expected)
    }
}

// ---------------------------------------------------------------------------
// Deserialize for Value
// ---------------------------------------------------------------------------

impl<'de> de::Deserialize<'de> for Value {
    /// Builds a `Value` from any self-describing format: integers become
    /// `Int64` (unsigned or 128-bit integers that do not fit are an error),
    /// floats `Float64`, byte strings `Bytes`, sequences `Array` and maps
    /// (with string keys) `Object`; unit and `None` become `Null`.
    ///
    /// Nesting deeper than [`MAX_NESTING_DEPTH`] is rejected while reading.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        ValueSeed { depth: 0 }.deserialize(deserializer)
    }
}

/// Deserializes a `Value` nested inside `depth` arrays/objects.
#[derive(Clone, Copy)]
struct ValueSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor { depth: self.depth })
    }
}

struct ValueVisitor {
    depth: usize,
}

impl ValueVisitor {
    /// The seed for the children of a new array or object.
    fn enter<E: de::Error>(&self) -> Result<ValueSeed, E> {
        let depth = self.depth + 1;
        if depth > MAX_NESTING_DEPTH {
            Err(E::custom(ValueError::TooDeep {
                depth,
                max: MAX_NESTING_DEPTH,
            }))
        } else {
            Ok(ValueSeed { depth })
        }
    }
}

fn out_of_range<E: de::Error>(value: impl ToString) -> E {
    E::custom(ValueError::IntegerOutOfRange {
        value: value.to_string(),
    })
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Convex value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Boolean(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int64(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int64)
            .map_err(|_| out_of_range(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int64)
            .map_err(|_| out_of_range(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i64::try_from(v)
            .map(Value::Int64)
            .map_err(|_| out_of_range(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float64(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(v.to_vec()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(v))
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        ValueSeed { depth: self.depth }.deserialize(deserializer)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Value, D::Error> {
        ValueSeed { depth: self.depth }.deserialize(deserializer)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let seed = self.enter()?;
        let mut vec = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(element) = seq.next_element_seed(seed)? {
            vec.push(element);
        }
        Ok(Value::Array(vec))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let seed = self.enter()?;
        let mut object = Object::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(seed)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

// ---------------------------------------------------------------------------
// Value as a Deserializer
// ---------------------------------------------------------------------------

/// `f` as an `i64`, if it is an integer in `i64`'s range.
fn float_to_i64(f: f64) -> Option<i64> {
    // 2^63 is exactly representable; the range is [-2^63, 2^63).
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f) {
        Some(f as i64)
    } else {
        None
    }
}

/// `f` as a `u64`, if it is an integer in `u64`'s range.
fn float_to_u64(f: f64) -> Option<u64> {
    // 2^64 is exactly representable; the range is [0, 2^64).
    const LIMIT: f64 = 18_446_744_073_709_551_616.0;
    if f.fract() == 0.0 && (0.0..LIMIT).contains(&f) {
        Some(f as u64)
    } else {
        None
    }
}

impl Value {
    fn deserialize_signed<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Float64(f) => match float_to_i64(f) {
                Some(i) => visitor.visit_i64(i),
                None => Err(de::Error::invalid_type(Unexpected::Float(f), &visitor)),
            },
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_unsigned<'de, V: Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::Float64(f) => match (float_to_u64(f), float_to_i64(f)) {
                (Some(u), _) => visitor.visit_u64(u),
                // A negative integer: let the visitor report it as out of range.
                (None, Some(i)) => visitor.visit_i64(i),
                (None, None) => Err(de::Error::invalid_type(Unexpected::Float(f), &visitor)),
            },
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_float<'de, V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Int64(i) => visitor.visit_f64(i as f64),
            other => other.deserialize_any(visitor),
        }
    }
}

/// Feeds an array to `visitor` as a sequence, requiring every element to
/// be consumed.
fn visit_array<'de, V: Visitor<'de>>(
    array: Vec<Value>,
    visitor: V,
) -> Result<V::Value, ValueError> {
    let len = array.len();
    let mut seq = SeqDeserializer {
        iter: array.into_iter(),
    };
    let result = visitor.visit_seq(&mut seq)?;
    if seq.iter.len() == 0 {
        Ok(result)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in array"))
    }
}

/// Feeds an object to `visitor` as a map, requiring every entry to be
/// consumed.
fn visit_object<'de, V: Visitor<'de>>(object: Object, visitor: V) -> Result<V::Value, ValueError> {
    let len = object.len();
    let mut map = MapDeserializer {
        iter: object.into_iter(),
        value: None,
    };
    let result = visitor.visit_map(&mut map)?;
    if map.iter.len() == 0 {
        Ok(result)
    } else {
        Err(de::Error::invalid_length(len, &"fewer elements in map"))
    }
}

fn bytes_to_array(bytes: Vec<u8>) -> Vec<Value> {
    bytes.into_iter().map(|b| Value::Int64(b.into())).collect()
}

/// The bytes of an array of integers in `0..=255`, if it is one.
fn array_to_bytes(array: &[Value]) -> Option<Vec<u8>> {
    array
        .iter()
        .map(|v| match v {
            Value::Int64(i) => u8::try_from(*i).ok(),
            Value::Float64(f) => float_to_u64(*f).and_then(|u| u8::try_from(u).ok()),
            _ => None,
        })
        .collect()
}

macro_rules! deserialize_via {
    ($($method:ident => $helper:ident,)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
                self.$helper(visitor)
            }
        )*
    };
}

impl<'de> Deserializer<'de> for Value {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            Value::Int64(i) => visitor.visit_i64(i),
            Value::Float64(f) => visitor.visit_f64(f),
            Value::Boolean(b) => visitor.visit_bool(b),
            Value::String(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::Array(a) => visit_array(a, visitor),
            Value::Object(o) => visit_object(o, visitor),
        }
    }

    deserialize_via! {
        deserialize_i8 => deserialize_signed,
        deserialize_i16 => deserialize_signed,
        deserialize_i32 => deserialize_signed,
        deserialize_i64 => deserialize_signed,
        deserialize_i128 => deserialize_signed,
        deserialize_u8 => deserialize_unsigned,
        deserialize_u16 => deserialize_unsigned,
        deserialize_u32 => deserialize_unsigned,
        deserialize_u64 => deserialize_unsigned,
        deserialize_u128 => deserialize_unsigned,
        deserialize_f32 => deserialize_float,
        deserialize_f64 => deserialize_float,
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(other),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Null => visitor.visit_unit(),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Bytes(b) => visitor.visit_byte_buf(b),
            Value::Array(a) => match array_to_bytes(&a) {
                Some(bytes) => visitor.visit_byte_buf(bytes),
                None => visit_array(a, visitor),
            },
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Array(a) => visit_array(a, visitor),
            // Lets `Vec<u8>` (which deserializes as a sequence) read `Bytes`.
            Value::Bytes(b) => visit_array(bytes_to_array(b), visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::Object(o) => visit_object(o, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self {
            Value::Object(o) => visit_object(o, visitor),
            Value::Array(a) => visit_array(a, visitor),
            other => Err(other.invalid_type(&visitor)),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let (variant, value) = match self {
            Value::String(s) => (s, None),
            Value::Object(o) => {
                let mut entries = o.into_iter();
                match (entries.next(), entries.next()) {
                    (Some((variant, value)), None) => (variant, Some(value)),
                    _ => {
                        return Err(de::Error::invalid_value(
                            Unexpected::Map,
                            &"an object with a single key (the enum variant)",
                        ));
                    }
                }
            }
            other => {
                return Err(other.invalid_type(&"a string or an object with a single key (enum)"));
            }
        };
        visitor.visit_enum(EnumDeserializer { variant, value })
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        drop(self);
        visitor.visit_unit()
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    /// Strings (and so ids) come only from `String` values: serde's string visitors would
    /// also take UTF-8 bytes, which Convex's `v.string()` and `v.id()` refuse.
    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        match self {
            Value::String(s) => visitor.visit_string(s),
            bytes @ Value::Bytes(_) => Err(bytes.invalid_type(&visitor)),
            other => other.deserialize_any(visitor),
        }
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        self.deserialize_string(visitor)
    }

    forward_to_deserialize_any! {
        bool
    }
}

impl<'de> IntoDeserializer<'de, ValueError> for Value {
    type Deserializer = Value;

    fn into_deserializer(self) -> Value {
        self
    }
}

struct SeqDeserializer {
    iter: std::vec::IntoIter<Value>,
}

impl<'de> de::SeqAccess<'de> for SeqDeserializer {
    type Error = ValueError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ValueError> {
        match self.iter.next() {
            Some(value) => seed.deserialize(value).map(Some),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct MapDeserializer {
    iter: indexmap::map::IntoIter<String, Value>,
    value: Option<Value>,
}

impl<'de> de::MapAccess<'de> for MapDeserializer {
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(MapKeyDeserializer { key }).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        match self.value.take() {
            Some(value) => seed.deserialize(value),
            None => Err(ValueError::custom("map value requested before its key")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// Deserializes an object key (or an enum variant name). Keys that are
/// stringified integers, floats or booleans are parsed back when such a type
/// is requested.
struct MapKeyDeserializer {
    key: String,
}

macro_rules! deserialize_parsed_key {
    ($($method:ident => $ty:ty, $visit:ident;)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
                match self.key.parse::<$ty>() {
                    Ok(parsed) => visitor.$visit(parsed),
                    Err(_) => visitor.visit_string(self.key),
                }
            }
        )*
    };
}

impl<'de> Deserializer<'de> for MapKeyDeserializer {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_string(self.key)
    }

    deserialize_parsed_key! {
        deserialize_bool => bool, visit_bool;
        deserialize_i8 => i8, visit_i8;
        deserialize_i16 => i16, visit_i16;
        deserialize_i32 => i32, visit_i32;
        deserialize_i64 => i64, visit_i64;
        deserialize_i128 => i128, visit_i128;
        deserialize_u8 => u8, visit_u8;
        deserialize_u16 => u16, visit_u16;
        deserialize_u32 => u32, visit_u32;
        deserialize_u64 => u64, visit_u64;
        deserialize_u128 => u128, visit_u128;
        deserialize_f32 => f32, visit_f32;
        deserialize_f64 => f64, visit_f64;
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_enum(self.key.into_deserializer())
    }

    forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct seq tuple tuple_struct
        map struct identifier ignored_any
    }
}

struct EnumDeserializer {
    variant: String,
    value: Option<Value>,
}

impl<'de> de::EnumAccess<'de> for EnumDeserializer {
    type Error = ValueError;
    type Variant = VariantDeserializer;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantDeserializer), ValueError> {
        let variant = seed.deserialize(MapKeyDeserializer { key: self.variant })?;
        Ok((variant, VariantDeserializer { value: self.value }))
    }
}

struct VariantDeserializer {
    value: Option<Value>,
}

impl<'de> de::VariantAccess<'de> for VariantDeserializer {
    type Error = ValueError;

    fn unit_variant(self) -> Result<(), ValueError> {
        match self.value {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(other.invalid_type(&"unit variant")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ValueError> {
        match self.value {
            Some(value) => seed.deserialize(value),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.value {
            Some(Value::Array(a)) => visit_array(a, visitor),
            Some(other) => Err(other.invalid_type(&"tuple variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        match self.value {
            Some(Value::Object(o)) => visit_object(o, visitor),
            Some(Value::Array(a)) => visit_array(a, visitor),
            Some(other) => Err(other.invalid_type(&"struct variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn bytes_are_not_strings() {
        let bytes = || Value::Bytes(b"hi".to_vec());
        let err = from_value::<String>(bytes()).unwrap_err().to_string();
        assert!(
            err.contains("byte array") && err.contains("string"),
            "{err}"
        );
        assert!(from_value::<char>(Value::Bytes(b"h".to_vec())).is_err());
        // Inside structures too, and as a map value.
        let mut object = Object::new();
        object.insert("k".to_owned(), bytes());
        assert!(from_value::<BTreeMap<String, String>>(Value::Object(object)).is_err());
        // Strings and bytes still read as themselves.
        assert_eq!(
            from_value::<String>(Value::String("hi".into())).unwrap(),
            "hi"
        );
        assert_eq!(from_value::<Vec<u8>>(bytes()).unwrap(), b"hi".to_vec());
        assert_eq!(from_value::<Value>(bytes()).unwrap(), bytes());
    }
}
