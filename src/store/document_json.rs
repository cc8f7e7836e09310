//! A document's fields as Convex JSON text: how the durable engines store them (lossless:
//! field order, int64, bytes, NaN and `-0.0` keep their type and value).

use serde_json::{Map, Value as Json};

use crate::value::{self, Object, Value};

/// The fields as one JSON object.
pub(crate) fn encode_fields(fields: &Object) -> Result<String, String> {
    let map: Map<String, Json> = fields
        .iter()
        .map(|(k, v)| (k.clone(), value::to_convex_json(v)))
        .collect();
    serde_json::to_string(&Json::Object(map)).map_err(|e| e.to_string())
}

/// The fields back from [`encode_fields`]' text.
pub(crate) fn decode_fields(text: &str) -> Result<Object, String> {
    let json: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
    match value::from_convex_json(json).map_err(|e| e.to_string())? {
        Value::Object(fields) => Ok(fields),
        other => Err(format!("fields are {}, not an object", other.type_name())),
    }
}
