//! Entry points of the fuzz targets in `fuzz/` (the `fuzzing` feature). Not a public API.
//!
//! Each takes arbitrary bytes, must never panic on them, and checks what must hold for the
//! inputs it accepts (a failed check panics, which the fuzzer reports).

// A failed check panics on purpose: that is how a fuzzer learns of it.
#![allow(clippy::panic)]

use crate::store::document_json;
use crate::value;

/// The Convex JSON decoder: bytes as JSON, then [`value::from_convex_json`]. A value it
/// accepts must encode and decode back to itself (`Value`'s equality: types, float bits,
/// key order).
pub fn convex_json(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let Ok(decoded) = value::from_convex_json(json) else {
        return;
    };
    let again = value::from_convex_json(value::to_convex_json(&decoded));
    match again {
        Ok(again) => assert!(again == decoded, "{decoded:?} came back as {again:?}"),
        Err(e) => panic!("{decoded:?} was accepted but its encoding is refused: {e}"),
    }
    // Plain JSON never fails, whatever the value.
    let _ = value::to_clean_json(&decoded);
}

/// The HTTP request envelope: the JSON body of `/api/query`, `/api/mutation`,
/// `/api/action`, `/api/function`, `/api/run/..` and `/api/query_at_ts`, its `ts`, and the
/// paths it names. Accepted arguments must survive the wire encodings.
pub fn http_body(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        crate::http::fuzz_paths(text);
    }
    let Some((args, ts)) = crate::http::fuzz_parse_body(data) else {
        return;
    };
    if let Some(ts) = ts {
        let _ = crate::http::fuzz_token(&ts);
    }
    let again = value::from_convex_json(value::to_convex_json(&args));
    assert!(
        again.as_ref() == Ok(&args),
        "arguments {args:?} came back as {again:?}"
    );
}

/// A frame of the WebSocket sync protocol, as a client sends it: a message it accepts must
/// encode to a frame that parses back to the same message, and a timestamp it accepts must
/// encode to text that decodes to the same timestamp.
pub fn sync_message(data: &[u8]) {
    use crate::wire::sync::{ClientMessage, SyncTimestamp};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ts) = SyncTimestamp::decode(text) {
        let again = SyncTimestamp::decode(&ts.to_string());
        assert!(again == Ok(ts), "{ts:?} came back as {again:?}");
    }
    let Ok(message) = ClientMessage::parse(text) else {
        return;
    };
    let again = ClientMessage::parse(&message.to_json());
    assert!(
        again.as_ref() == Ok(&message),
        "{message:?} came back as {again:?}"
    );
}

/// The document decoder of the durable engines (SQLite and PostgreSQL store a document's
/// fields as Convex JSON text). Fields it accepts must encode to text that decodes to the
/// same fields.
pub fn document_fields(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(fields) = document_json::decode_fields(text) else {
        return;
    };
    let encoded = match document_json::encode_fields(&fields) {
        Ok(encoded) => encoded,
        Err(e) => panic!("{fields:?} was read but cannot be written back: {e}"),
    };
    let again = document_json::decode_fields(&encoded);
    assert!(
        again.as_ref() == Ok(&fields),
        "{fields:?} came back as {again:?}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_accept_their_seeds() {
        for seed in [
            &br#"{"a": {"$integer": "AQAAAAAAAAA="}, "b": [1.5, null, true, "x"]}"#[..],
            br#"{"$bytes": "aGk="}"#,
            br#"{"$float": "AAAAAAAA+H8="}"#,
            b"[[[[]]]]",
            b"not json",
        ] {
            convex_json(seed);
            document_fields(seed);
        }
        for seed in [
            &br#"{"path": "a:b", "args": [{"x": 1}], "format": "convex_encoded_json"}"#[..],
            br#"{"path": "a:b", "args": {}, "ts": "AQAAAAAAAAA="}"#,
            br#"{"path": 1}"#,
            b"",
            b"\xff",
        ] {
            http_body(seed);
        }
        for seed in [
            &br#"{"type":"Connect","sessionId":"s","connectionCount":0,"lastCloseReason":null,"clientTs":1}"#[..],
            br#"{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add","queryId":0,"udfPath":"a:b","args":[{}],"journal":null}]}"#,
            br#"{"type":"Authenticate","tokenType":"None","baseVersion":0}"#,
            br#"{"type":"Mutation","requestId":0,"udfPath":"a:b","args":[{"x":{"$integer":"AQAAAAAAAAA="}}]}"#,
            b"AAAAAAAAAAA=",
            b"{",
        ] {
            sync_message(seed);
        }
    }
}
