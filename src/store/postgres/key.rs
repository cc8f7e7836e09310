//! Index keys as bytes whose order is the keys' order, so PostgreSQL compares them as
//! `bytea` (byte by byte, a prefix first) exactly as the engine compares
//! [`IndexKey`](crate::store::IndexKey)s.
//!
//! Each key part is self-delimiting, so a key's encoding starts with the encoding of each
//! of its prefixes, and a range over key prefixes becomes a range over bytes.
//!
//! | part | bytes |
//! |---|---|
//! | missing field | `0x01` |
//! | `null` | `0x02` |
//! | int64 | `0x03`, 8 bytes big-endian with the sign bit flipped |
//! | float64 | `0x04`, 8 bytes in `total_cmp` order |
//! | boolean | `0x05`, `0x00` or `0x01` |
//! | string, bytes | `0x06` / `0x07`, the bytes with `0x00` written `0x00 0xFF`, then `0x00 0x01` |
//! | array | `0x08`, each element, then `0x00` |
//! | object | `0x09`, for each field `0x01`, its escaped name and its value, then `0x00` |
//! | above every part (bounds only) | `0xFF` |

use crate::store::KeyPart;
use crate::value::Value;

const MISSING: u8 = 0x01;
const MAX: u8 = 0xFF;
/// Ends an array or an object: below every element's type tag and every field's `0x01`.
const END: u8 = 0x00;
const FIELD: u8 = 0x01;

fn tag(value: &Value) -> u8 {
    match value {
        Value::Null => 0x02,
        Value::Int64(_) => 0x03,
        Value::Float64(_) => 0x04,
        Value::Boolean(_) => 0x05,
        Value::String(_) => 0x06,
        Value::Bytes(_) => 0x07,
        Value::Array(_) => 0x08,
        Value::Object(_) => 0x09,
    }
}

/// The bytes of `key`.
pub(crate) fn encode(key: &[KeyPart]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 * key.len());
    for part in key {
        match part {
            KeyPart::Missing => out.push(MISSING),
            KeyPart::Value(value) => encode_value(value, &mut out),
            KeyPart::Max => out.push(MAX),
        }
    }
    out
}

fn encode_value(value: &Value, out: &mut Vec<u8>) {
    out.push(tag(value));
    match value {
        Value::Null => {}
        Value::Int64(i) => out.extend_from_slice(&((*i as u64) ^ (1 << 63)).to_be_bytes()),
        Value::Float64(f) => {
            let bits = f.to_bits();
            // `total_cmp`'s order: negative numbers reversed, then positive ones.
            let ordered = if bits >> 63 == 1 {
                !bits
            } else {
                bits ^ (1 << 63)
            };
            out.extend_from_slice(&ordered.to_be_bytes());
        }
        Value::Boolean(b) => out.push(u8::from(*b)),
        Value::String(s) => escaped(s.as_bytes(), out),
        Value::Bytes(b) => escaped(b, out),
        Value::Array(items) => {
            for item in items {
                encode_value(item, out);
            }
            out.push(END);
        }
        Value::Object(fields) => {
            for (name, value) in fields {
                out.push(FIELD);
                escaped(name.as_bytes(), out);
                encode_value(value, out);
            }
            out.push(END);
        }
    }
}

/// `0x00` becomes `0x00 0xFF`; the end is `0x00 0x01`, below any byte that can follow a
/// `0x00` inside, and a shorter string's end is below any longer string's next byte.
fn escaped(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::IndexKey;
    use crate::value::Object;

    /// Values of every type, with the edges of each (nested ones included).
    fn samples() -> Vec<Value> {
        let mut values = vec![Value::Null, Value::Boolean(false), Value::Boolean(true)];
        for i in [i64::MIN, -257, -1, 0, 1, 255, 256, i64::MAX] {
            values.push(Value::Int64(i));
        }
        for f in [
            f64::NEG_INFINITY,
            -1e300,
            -1.5,
            -0.0,
            0.0,
            f64::MIN_POSITIVE,
            1.5,
            1e300,
            f64::INFINITY,
            f64::NAN,
            -f64::NAN,
        ] {
            values.push(Value::Float64(f));
        }
        for s in [
            "", "\0", "\0\0", "\0a", "a", "a\0", "a\0b", "ab", "b", "\u{ff}", "é",
        ] {
            values.push(Value::String(s.to_owned()));
        }
        for b in [&[][..], &[0], &[0, 0], &[0, 255], &[1], &[255], &[255, 0]] {
            values.push(Value::Bytes(b.to_vec()));
        }
        let scalars = values.clone();
        values.push(Value::Array(Vec::new()));
        for a in &scalars[..6] {
            values.push(Value::Array(vec![a.clone()]));
            for b in &scalars[..6] {
                values.push(Value::Array(vec![a.clone(), b.clone()]));
            }
        }
        values.push(Value::Array(vec![Value::Array(Vec::new())]));
        values.push(Value::Object(Object::new()));
        for (name, value) in [
            ("", &scalars[0]),
            ("a", &scalars[1]),
            ("a", &scalars[2]),
            ("\0", &scalars[0]),
            ("b", &scalars[0]),
        ] {
            let mut o = Object::new();
            o.insert(name.to_owned(), value.clone());
            values.push(Value::Object(o.clone()));
            o.insert("z".to_owned(), Value::Null);
            values.push(Value::Object(o));
        }
        values
    }

    #[test]
    fn byte_order_is_value_order() {
        let values = samples();
        for a in &values {
            for b in &values {
                let (ka, kb) = (
                    vec![KeyPart::Value(a.clone())],
                    vec![KeyPart::Value(b.clone())],
                );
                assert_eq!(encode(&ka).cmp(&encode(&kb)), ka.cmp(&kb), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn multi_part_keys_and_bounds_keep_their_order() {
        let values = samples();
        let mut parts: Vec<KeyPart> = vec![KeyPart::Missing, KeyPart::Max];
        parts.extend(values.iter().step_by(3).cloned().map(KeyPart::Value));
        let mut keys: Vec<IndexKey> = Vec::new();
        for a in &parts {
            keys.push(vec![a.clone()]);
            for b in &parts {
                keys.push(vec![a.clone(), b.clone()]);
            }
        }
        for a in &keys {
            for b in &keys {
                assert_eq!(encode(a).cmp(&encode(b)), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn a_prefix_encodes_as_a_prefix() {
        let key = vec![
            KeyPart::Value(Value::String("a\0b".into())),
            KeyPart::Missing,
            KeyPart::Value(Value::Float64(2.0)),
        ];
        for n in 0..key.len() {
            assert!(encode(&key).starts_with(&encode(&key[..n])));
        }
    }
}
