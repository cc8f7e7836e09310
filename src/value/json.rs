//! JSON encodings of [`Value`]: the Convex wire encoding used by the
//! official clients, and the lossy "clean" export format.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Number, Value as Json};

use super::{MAX_NESTING_DEPTH, Object, Value, ValueError, validate_field_name};

const INTEGER_KEY: &str = "$integer";
const FLOAT_KEY: &str = "$float";
const BYTES_KEY: &str = "$bytes";

fn special(key: &str, payload: String) -> Json {
    let mut map = Map::with_capacity(1);
    map.insert(key.to_owned(), Json::String(payload));
    Json::Object(map)
}

fn is_negative_zero(f: f64) -> bool {
    f == 0.0 && f.is_sign_negative()
}

/// Encodes a value in Convex's JSON wire format, as sent and expected by the
/// official `convex` npm client:
///
/// * `null`, booleans, strings and arrays are plain JSON;
/// * finite floats other than `-0.0` are JSON numbers; `NaN`, `±Infinity`
///   and `-0.0` are `{"$float": base64(8 little-endian bytes)}`;
/// * integers are `{"$integer": base64(8 little-endian bytes)}`;
/// * bytes are `{"$bytes": base64(bytes)}`;
/// * objects are JSON objects with the same field order.
///
/// Field names are not checked here: an object with a field name starting
/// with `$` would not decode again (or decode as another type). Every value
/// [`check_value`](super::check_value) accepts decodes back exactly; documents
/// pass that check before they are stored.
pub fn to_convex_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Int64(i) => special(INTEGER_KEY, STANDARD.encode(i.to_le_bytes())),
        Value::Float64(f) => match Number::from_f64(*f) {
            Some(n) if !is_negative_zero(*f) => Json::Number(n),
            _ => special(FLOAT_KEY, STANDARD.encode(f.to_le_bytes())),
        },
        Value::Boolean(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => special(BYTES_KEY, STANDARD.encode(b)),
        Value::Array(a) => Json::Array(a.iter().map(to_convex_json).collect()),
        Value::Object(o) => Json::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_convex_json(v)))
                .collect(),
        ),
    }
}

/// Encodes a value in the "clean" JSON format (what Convex calls the `json`
/// export format): like plain JSON, with integers as JSON numbers, bytes as
/// base64 strings and non-finite floats as the strings `"NaN"`,
/// `"Infinity"` and `"-Infinity"`. The encoding is lossy (types are not
/// recoverable); use [`to_convex_json`] for round trips.
pub fn to_clean_json(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Int64(i) => Json::Number((*i).into()),
        Value::Float64(f) => match Number::from_f64(*f) {
            Some(n) => Json::Number(n),
            None if f.is_nan() => Json::String("NaN".to_owned()),
            None if *f > 0.0 => Json::String("Infinity".to_owned()),
            None => Json::String("-Infinity".to_owned()),
        },
        Value::Boolean(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Bytes(b) => Json::String(STANDARD.encode(b)),
        Value::Array(a) => Json::Array(a.iter().map(to_clean_json).collect()),
        Value::Object(o) => Json::Object(
            o.iter()
                .map(|(k, v)| (k.clone(), to_clean_json(v)))
                .collect(),
        ),
    }
}

/// Decodes a value from Convex's JSON wire format (see [`to_convex_json`]).
///
/// * JSON numbers become `Float64` (JavaScript numbers are float64s);
/// * an object whose only key is `$integer`, `$float` or `$bytes` decodes to
///   that type ([`ValueError::InvalidEncoding`] on bad base64 or a wrong
///   length); any other lone `$`-prefixed key is `InvalidEncoding`;
/// * every other object field name must pass [`validate_field_name`]
///   ([`ValueError::InvalidFieldName`] otherwise; in particular names may
///   not start with `$`);
/// * arrays and objects nested more than [`MAX_NESTING_DEPTH`] levels are
///   [`ValueError::TooDeep`]. The depth is checked before decoding, without
///   recursion, so arbitrarily deep input cannot overflow the stack.
pub fn from_convex_json(json: Json) -> Result<Value, ValueError> {
    if let Err(err) = check_depth(&json) {
        dismantle(json);
        return Err(err);
    }
    decode(json)
}

/// If `map` is a special `{"$type": payload}` object, its key.
fn special_key(map: &Map<String, Json>) -> Option<&str> {
    if map.len() != 1 {
        return None;
    }
    map.keys()
        .next()
        .map(String::as_str)
        .filter(|k| k.starts_with('$'))
}

/// Checks the array/object nesting depth of `json` iteratively. Special
/// `$`-objects count as scalars.
fn check_depth(json: &Json) -> Result<(), ValueError> {
    let mut stack: Vec<(&Json, usize)> = vec![(json, 0)];
    while let Some((node, enclosing)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Json>> = match node {
            Json::Array(a) => Box::new(a.iter()),
            Json::Object(o) if special_key(o).is_none() => Box::new(o.values()),
            _ => continue,
        };
        let depth = enclosing + 1;
        if depth > MAX_NESTING_DEPTH {
            return Err(ValueError::TooDeep {
                depth,
                max: MAX_NESTING_DEPTH,
            });
        }
        stack.extend(
            children
                .filter(|c| matches!(c, Json::Array(_) | Json::Object(_)))
                .map(|c| (c, depth)),
        );
    }
    Ok(())
}

/// Drops `json` without recursion (serde_json's own drop recurses, which
/// could overflow the stack on the deep input we just rejected).
fn dismantle(json: Json) {
    let mut stack = vec![json];
    while let Some(node) = stack.pop() {
        match node {
            Json::Array(a) => stack.extend(a),
            Json::Object(o) => stack.extend(o.into_iter().map(|(_, v)| v)),
            _ => {}
        }
    }
}

/// Decodes `json`, whose depth has already been checked.
fn decode(json: Json) -> Result<Value, ValueError> {
    Ok(match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Boolean(b),
        Json::Number(n) => Value::Float64(n.as_f64().ok_or_else(|| {
            ValueError::InvalidEncoding(format!("number {n} is not representable as a float64"))
        })?),
        Json::String(s) => Value::String(s),
        Json::Array(a) => Value::Array(a.into_iter().map(decode).collect::<Result<_, _>>()?),
        Json::Object(map) => {
            if special_key(&map).is_some() {
                return match map.into_iter().next() {
                    Some((key, payload)) => decode_special(&key, payload),
                    None => Ok(Value::Object(Object::new())),
                };
            }
            let mut object = Object::with_capacity(map.len());
            for (key, value) in map {
                validate_field_name(&key)?;
                object.insert(key, decode(value)?);
            }
            Value::Object(object)
        }
    })
}

fn decode_special(key: &str, payload: Json) -> Result<Value, ValueError> {
    let Json::String(text) = payload else {
        let err = ValueError::InvalidEncoding(format!(
            "{key} must be a base64 string, found {}",
            json_type_name(&payload)
        ));
        // The payload's depth was not checked: drop it without recursion.
        dismantle(payload);
        return Err(err);
    };
    let decode_base64 = || {
        STANDARD
            .decode(&text)
            .map_err(|e| ValueError::InvalidEncoding(format!("{key} is not valid base64: {e}")))
    };
    let eight_bytes = || -> Result<[u8; 8], ValueError> {
        let bytes = decode_base64()?;
        <[u8; 8]>::try_from(bytes.as_slice()).map_err(|_| {
            ValueError::InvalidEncoding(format!(
                "{key} must encode exactly 8 bytes, found {}",
                bytes.len()
            ))
        })
    };
    match key {
        INTEGER_KEY => Ok(Value::Int64(i64::from_le_bytes(eight_bytes()?))),
        FLOAT_KEY => Ok(Value::Float64(f64::from_le_bytes(eight_bytes()?))),
        BYTES_KEY => Ok(Value::Bytes(decode_base64()?)),
        _ => Err(ValueError::InvalidEncoding(format!(
            "unknown special key {key:?} (expected {INTEGER_KEY}, {FLOAT_KEY} or {BYTES_KEY}; \
             field names may not start with '$')"
        ))),
    }
}

/// How a JSON value's type reads in an error message: "a string", "null"...
pub(crate) fn json_type_name(json: &Json) -> &'static str {
    match json {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}
