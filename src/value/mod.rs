//! Convex's data model for documents and function arguments.
//!
//! A [`Value`] is one of eight types — `null`, `int64`, `float64`,
//! `boolean`, `string`, `bytes`, `array` and `object` — with a total order
//! that matches Convex's (see [`Value`]'s `Ord` impl).
//!
//! The module offers:
//!
//! * conversion from and to any serde type: [`to_value`] / [`from_value`]
//!   (and `Value` itself implements `Serialize`, `Deserialize` and
//!   `Deserializer`);
//! * the wire encoding used by the official Convex clients:
//!   [`to_convex_json`] / [`from_convex_json`];
//! * the "clean" JSON export format: [`to_clean_json`];
//! * limits: [`MAX_NESTING_DEPTH`], [`MAX_VALUE_SIZE`], [`Value::size`],
//!   [`Value::nesting_depth`], [`Value::check_limits`];
//! * field name rules: [`validate_field_name`] and
//!   [`validate_user_field_name`];
//! * the one check every value entering a document passes, at every depth:
//!   [`check_document`] (and [`check_value`] for arguments), with
//!   [`MAX_ARRAY_LENGTH`] and [`MAX_OBJECT_FIELDS`].
//!
//! Procedures rarely touch [`Value`] directly: documents and arguments are
//! ordinary serde types, converted at the boundary.
//!
//! ```
//! use convoke::value::{self, Value};
//!
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! struct Team { name: String, size: i64 }
//!
//! let team = Team { name: "Engines".into(), size: 3 };
//! let v = value::to_value(&team).unwrap();
//! assert_eq!(v.get("size"), Some(&Value::Int64(3)));
//!
//! // On the wire, int64 is `{"$integer": ..}`, since JSON numbers are float64.
//! let wire = value::to_convex_json(&v);
//! assert!(wire["size"].get("$integer").is_some());
//! assert_eq!(value::from_convex_json(wire).unwrap(), v);
//!
//! // The "clean" export format is plain JSON.
//! assert_eq!(value::to_clean_json(&v), serde_json::json!({ "name": "Engines", "size": 3 }));
//! assert_eq!(value::from_value::<Team>(v).unwrap(), team);
//! ```

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

mod check;
pub(crate) mod date;
mod de;
mod error;
mod field;
mod json;
mod ser;

#[cfg(test)]
mod tests;

pub use check::{
    MAX_ARGUMENTS_SIZE, MAX_ARRAY_LENGTH, MAX_OBJECT_FIELDS, check_document, check_value,
};
pub use date::Date;
pub use de::from_value;
pub use error::ValueError;
pub use field::{MAX_FIELD_NAME_LENGTH, validate_field_name, validate_user_field_name};
#[cfg_attr(not(feature = "http"), allow(unused_imports))]
// the request parser names JSON types
pub(crate) use json::json_type_name;
pub use json::{from_convex_json, to_clean_json, to_convex_json};
pub use ser::to_value;

/// The maximum nesting depth of a value: arrays and objects may be nested at
/// most this many levels deep (a scalar has depth 0, `[]` and `{}` depth 1).
pub const MAX_NESTING_DEPTH: usize = 64;

/// The maximum (approximate) size of a value in bytes, as computed by
/// [`Value::size`]: 1 MiB, Convex's document size limit.
pub const MAX_VALUE_SIZE: usize = 1 << 20;

/// An object: field names mapped to values, in insertion order.
pub type Object = indexmap::IndexMap<String, Value>;

/// A Convex value.
///
/// Values are totally ordered following Convex's ordering: first by type
/// (`Null < Int64 < Float64 < Boolean < String < Bytes < Array < Object`),
/// then by content. Floats are compared with [`f64::total_cmp`], so
/// `NaN == NaN` and `-0.0 != 0.0`; `Int64(1)` and `Float64(1.0)` are never
/// equal. Arrays compare lexicographically and objects compare as ordered
/// lists of `(field name, value)` pairs.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// The `null` value (also the default).
    #[default]
    Null,
    /// A signed 64-bit integer (a `bigint` in JavaScript).
    Int64(i64),
    /// A 64-bit float (a `number` in JavaScript).
    Float64(f64),
    /// A boolean.
    Boolean(bool),
    /// A UTF-8 string.
    String(String),
    /// A byte string (an `ArrayBuffer` in JavaScript).
    Bytes(Vec<u8>),
    /// An array of values.
    Array(Vec<Value>),
    /// An object with string field names, order preserved.
    Object(Object),
}

impl Value {
    /// The Convex name of this value's type: `"null"`, `"int64"`,
    /// `"float64"`, `"boolean"`, `"string"`, `"bytes"`, `"array"` or
    /// `"object"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int64(_) => "int64",
            Value::Float64(_) => "float64",
            Value::Boolean(_) => "boolean",
            Value::String(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }

    /// The position of this value's type in Convex's cross-type order.
    fn type_rank(&self) -> u8 {
        match self {
            Value::Null => 0,
            Value::Int64(_) => 1,
            Value::Float64(_) => 2,
            Value::Boolean(_) => 3,
            Value::String(_) => 4,
            Value::Bytes(_) => 5,
            Value::Array(_) => 6,
            Value::Object(_) => 7,
        }
    }

    /// Is this `Value::Null`?
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The object, if this is an `Object`.
    pub fn as_object(&self) -> Option<&Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The object, mutably, if this is an `Object`.
    pub fn as_object_mut(&mut self) -> Option<&mut Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// Takes the object out, if this is an `Object`.
    pub fn into_object(self) -> Option<Object> {
        match self {
            Value::Object(o) => Some(o),
            _ => None,
        }
    }

    /// The elements, if this is an `Array`.
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// The string, if this is a `String`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an `Int64` (floats are not converted).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int64(i) => Some(*i),
            _ => None,
        }
    }

    /// The float, if this is a `Float64` (integers are not converted).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float64(f) => Some(*f),
            _ => None,
        }
    }

    /// The boolean, if this is a `Boolean`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Boolean(b) => Some(*b),
            _ => None,
        }
    }

    /// The bytes, if this is `Bytes`.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// Looks up a field, if this is an `Object` that has it.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.as_object().and_then(|o| o.get(field))
    }

    /// The approximate encoded size of this value in bytes, computed like
    /// Convex does for its limits: `null` and booleans take 1 byte, numbers
    /// 9, strings and bytes `2 + length`, arrays `2 + Σ elements`, objects
    /// `2 + Σ (field name length + 1 + value size)`.
    pub fn size(&self) -> usize {
        match self {
            Value::Null | Value::Boolean(_) => 1,
            Value::Int64(_) | Value::Float64(_) => 9,
            Value::String(s) => 2 + s.len(),
            Value::Bytes(b) => 2 + b.len(),
            Value::Array(a) => a.iter().fold(2usize, |acc, v| acc.saturating_add(v.size())),
            Value::Object(o) => o.iter().fold(2usize, |acc, (k, v)| {
                acc.saturating_add(k.len() + 1).saturating_add(v.size())
            }),
        }
    }

    /// How deeply arrays and objects are nested: 0 for scalars, 1 for an
    /// array or object of scalars (or an empty one), and so on.
    pub fn nesting_depth(&self) -> usize {
        match self {
            Value::Array(a) => 1 + a.iter().map(Value::nesting_depth).max().unwrap_or(0),
            Value::Object(o) => 1 + o.values().map(Value::nesting_depth).max().unwrap_or(0),
            _ => 0,
        }
    }

    /// Checks this value with [`check_value`] against [`MAX_VALUE_SIZE`]: field names,
    /// nesting ([`MAX_NESTING_DEPTH`]), array lengths, numbers of fields and size.
    pub fn check_limits(&self) -> Result<(), ValueError> {
        check_value(self, MAX_VALUE_SIZE)
    }
}

impl PartialEq for Value {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Value {}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Int64(a), Value::Int64(b)) => a.cmp(b),
            (Value::Float64(a), Value::Float64(b)) => a.total_cmp(b),
            (Value::Boolean(a), Value::Boolean(b)) => a.cmp(b),
            (Value::String(a), Value::String(b)) => a.cmp(b),
            (Value::Bytes(a), Value::Bytes(b)) => a.cmp(b),
            (Value::Array(a), Value::Array(b)) => a.cmp(b),
            (Value::Object(a), Value::Object(b)) => a.iter().cmp(b.iter()),
            _ => self.type_rank().cmp(&other.type_rank()),
        }
    }
}

impl Hash for Value {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u8(self.type_rank());
        match self {
            Value::Null => {}
            Value::Int64(i) => i.hash(state),
            // `total_cmp` equality is bit equality, so hashing bits is
            // consistent with `Eq`.
            Value::Float64(f) => f.to_bits().hash(state),
            Value::Boolean(b) => b.hash(state),
            Value::String(s) => s.hash(state),
            Value::Bytes(b) => b.hash(state),
            Value::Array(a) => a.hash(state),
            Value::Object(o) => {
                state.write_usize(o.len());
                for (k, v) in o {
                    k.hash(state);
                    v.hash(state);
                }
            }
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int64(v)
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int64(i64::from(v))
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float64(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::String(v.clone())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::Array(v)
    }
}

impl From<Object> for Value {
    fn from(v: Object) -> Self {
        Value::Object(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    /// `None` becomes `Null`.
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl FromIterator<Value> for Value {
    fn from_iter<I: IntoIterator<Item = Value>>(iter: I) -> Self {
        Value::Array(iter.into_iter().collect())
    }
}

impl FromIterator<(String, Value)> for Value {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Value::Object(iter.into_iter().collect())
    }
}

/// Writes `s` as a JSON string literal.
fn write_json_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if c.is_control() => write!(f, "\\u{:04x}", u32::from(c))?,
            c => fmt::Write::write_char(f, c)?,
        }
    }
    f.write_str("\"")
}

impl fmt::Display for Value {
    /// A compact, JSON-like rendering meant for error messages.
    ///
    /// Int64 values are written with an `n` suffix (like JavaScript
    /// bigints, e.g. `42n`) so they can be told apart from floats; floats
    /// use JavaScript spelling (`1`, `0.5`, `NaN`, `Infinity`, `-0`); bytes
    /// are written as `b"<base64>"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Int64(i) => write!(f, "{i}n"),
            Value::Float64(x) => {
                if x.is_nan() {
                    f.write_str("NaN")
                } else if x.is_infinite() {
                    f.write_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
                } else if *x == 0.0 && x.is_sign_negative() {
                    f.write_str("-0")
                } else if x.fract() == 0.0 && x.abs() < 1e21 {
                    write!(f, "{x}")
                } else {
                    write!(f, "{x:?}")
                }
            }
            Value::Boolean(b) => write!(f, "{b}"),
            Value::String(s) => write_json_str(f, s),
            Value::Bytes(b) => {
                use base64::Engine as _;
                write!(
                    f,
                    "b\"{}\"",
                    base64::engine::general_purpose::STANDARD.encode(b)
                )
            }
            Value::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    fmt::Display::fmt(v, f)?;
                }
                f.write_str("]")
            }
            Value::Object(o) => {
                f.write_str("{")?;
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write_json_str(f, k)?;
                    f.write_str(":")?;
                    fmt::Display::fmt(v, f)?;
                }
                f.write_str("}")
            }
        }
    }
}
