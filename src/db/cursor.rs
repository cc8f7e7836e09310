//! Pagination cursors: the position after the last document of a page, opaque to clients.
//!
//! A cursor is base64url (no padding) of JSON `{"i": index, "o": "asc"|"desc", "k": key}`,
//! where the key's parts are `[0]` (field absent) or `[1, value]` in Convex's JSON encoding.
//! `"k": null` is the start of the range, `"k": "end"` its end (what a last page continues
//! at, so that documents added at the end later belong to that page).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::DbError;
use crate::store::{IndexKey, KeyPart};
use crate::value::{self, Value};

/// Where a cursor points.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Position {
    /// Before every document of the range.
    Start,
    /// Just after the document with this key.
    After(IndexKey),
    /// After every document of the range, including those added later.
    End,
}

/// The cursor at the end of the range (see [`Position::End`]).
pub(crate) fn encode_end(index: &str, descending: bool) -> String {
    let json = serde_json::json!({
        "i": index,
        "o": if descending { "desc" } else { "asc" },
        "k": "end",
    });
    URL_SAFE_NO_PAD.encode(json.to_string())
}

pub(crate) fn encode(index: &str, descending: bool, key: Option<&IndexKey>) -> String {
    let key = key.map(|parts| {
        serde_json::Value::Array(
            parts
                .iter()
                .map(|part| match part {
                    KeyPart::Value(v) => serde_json::json!([1, value::to_convex_json(v)]),
                    KeyPart::Missing | KeyPart::Max => serde_json::json!([0]),
                })
                .collect(),
        )
    });
    let json = serde_json::json!({
        "i": index,
        "o": if descending { "desc" } else { "asc" },
        "k": key,
    });
    URL_SAFE_NO_PAD.encode(json.to_string())
}

/// Where a cursor points.
pub(crate) fn decode(cursor: &str, index: &str, descending: bool) -> Result<Position, DbError> {
    let invalid = |reason: &str| DbError::InvalidCursor {
        reason: reason.to_owned(),
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid("not a cursor returned by paginate"))?;
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| invalid("not a cursor returned by paginate"))?;
    if json.get("i").and_then(|i| i.as_str()) != Some(index) {
        return Err(invalid("the cursor belongs to a query on another index"));
    }
    let order = if descending { "desc" } else { "asc" };
    if json.get("o").and_then(|o| o.as_str()) != Some(order) {
        return Err(invalid("the cursor belongs to a query in the other order"));
    }
    let parts = match json.get("k") {
        None | Some(serde_json::Value::Null) => return Ok(Position::Start),
        Some(serde_json::Value::String(end)) if end == "end" => return Ok(Position::End),
        Some(serde_json::Value::Array(parts)) => parts,
        Some(_) => return Err(invalid("malformed cursor key")),
    };
    let mut key = Vec::with_capacity(parts.len());
    for part in parts {
        let part = part
            .as_array()
            .ok_or_else(|| invalid("malformed cursor key"))?;
        key.push(match part.as_slice() {
            [tag] if tag == 0 => KeyPart::Missing,
            [tag, v] if tag == 1 => {
                let v: Value = value::from_convex_json(v.clone())
                    .map_err(|_| invalid("malformed cursor key"))?;
                KeyPart::Value(v)
            }
            _ => return Err(invalid("malformed cursor key")),
        });
    }
    Ok(Position::After(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = vec![
            KeyPart::Value(Value::String("a".into())),
            KeyPart::Missing,
            KeyPart::Value(Value::Float64(1763725000123.456)),
            KeyPart::Value(Value::Int64(42)),
        ];
        let c = encode("by_owner", false, Some(&key));
        assert_eq!(decode(&c, "by_owner", false).unwrap(), Position::After(key));
        assert!(decode(&c, "by_owner", true).is_err());
        assert!(decode(&c, "by_label", false).is_err());
        let start = encode("by_owner", false, None);
        assert_eq!(decode(&start, "by_owner", false).unwrap(), Position::Start);
        let end = encode_end("by_owner", true);
        assert_eq!(decode(&end, "by_owner", true).unwrap(), Position::End);
        assert!(decode(&end, "by_owner", false).is_err());
    }
}
