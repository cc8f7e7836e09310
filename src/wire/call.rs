//! Calls on the wire: the request body (`path`, `args`, `format`, `ts`), value formats,
//! procedure paths in URLs, and the body a client sends.

// The server reads requests and writes responses, the client the other way round: with
// one of the two features, half of this is unused.
#![cfg_attr(not(all(feature = "http", feature = "remote")), allow(dead_code))]

use serde_json::Value as Json;

use super::WireError;
use crate::value::{self, Value};

/// How values are written in a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `convex_encoded_json`: lossless (`$integer`, `$float`, `$bytes`), what the official
    /// clients ask for.
    Encoded,
    /// `json` (the default): plain JSON, lossy (integers as numbers, bytes as base64).
    Clean,
}

impl Format {
    pub(crate) fn parse(format: Option<&str>) -> Result<Format, WireError> {
        match format {
            None | Some("json" | "convex_cleaned_json") => Ok(Format::Clean),
            Some("convex_encoded_json") => Ok(Format::Encoded),
            Some(other) => Err(WireError::new(
                "BadFormat",
                format!("unknown value format '{other}': expected 'convex_encoded_json' or 'json'"),
            )),
        }
    }

    pub(crate) fn encode(self, value: &Value) -> Json {
        match self {
            Format::Encoded => value::to_convex_json(value),
            Format::Clean => value::to_clean_json(value),
        }
    }
}

/// A parsed call: `{ "path", "args", "format" }`.
#[derive(Debug)]
pub(crate) struct CallRequest {
    pub(crate) path: Option<String>,
    pub(crate) args: Value,
    pub(crate) format: Format,
    /// `ts` (`/api/query_at_ts`): the snapshot token, as sent.
    pub(crate) ts: Option<Json>,
}

/// The fields of a POST body; others (such as the official client's `componentPath`) are
/// ignored.
#[derive(serde::Deserialize)]
struct RawBody {
    path: Option<Json>,
    args: Option<Json>,
    format: Option<Json>,
    ts: Option<Json>,
}

/// Parses a POST body. `path` is required unless the URL names the procedure
/// (`/api/run/{module}/{fn}`).
pub(crate) fn parse_body(body: &[u8]) -> Result<CallRequest, WireError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WireError::new(
            "BadJsonBody",
            "the request body is empty: expected a JSON object such as \
             {\"path\": \"module:function\", \"args\": {}}",
        ));
    }
    let raw: RawBody = serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            WireError::new(
                "BadJsonBody",
                "the request body must be a JSON object with \"path\" and \"args\"",
            )
        } else {
            WireError::new(
                "BadJsonBody",
                format!("the request body is not valid JSON: {e}"),
            )
        }
    })?;
    let path = match raw.path {
        None => None,
        Some(Json::String(path)) => Some(path),
        Some(other) => {
            return Err(WireError::new(
                "BadJsonBody",
                format!(
                    "\"path\" must be a string, not {}",
                    crate::value::json_type_name(&other)
                ),
            ));
        }
    };
    let format = match raw.format {
        None => Format::parse(None)?,
        Some(Json::String(f)) => Format::parse(Some(&f))?,
        Some(other) => {
            return Err(WireError::new(
                "BadFormat",
                format!(
                    "\"format\" must be a string, not {}",
                    crate::value::json_type_name(&other)
                ),
            ));
        }
    };
    let args = decode_args(raw.args)?;
    Ok(CallRequest {
        path,
        args,
        format,
        ts: raw.ts,
    })
}

/// Decodes `args`: an object (or any value), a one-element array holding it, or nothing
/// (no arguments).
pub(crate) fn decode_args(args: Option<Json>) -> Result<Value, WireError> {
    let args = match args {
        None | Some(Json::Null) => return Ok(Value::Object(value::Object::new())),
        Some(Json::Array(mut list)) => match list.len() {
            0 => return Ok(Value::Object(value::Object::new())),
            1 => list.pop().unwrap_or(Json::Null),
            n => {
                return Err(WireError::new(
                    "BadArgs",
                    format!(
                        "\"args\" must be an object or an array of exactly one object, \
                         not an array of {n} values"
                    ),
                ));
            }
        },
        Some(other) => other,
    };
    value::from_convex_json(args)
        .map_err(|e| WireError::new("BadArgs", format!("invalid arguments: {e}")))
}

/// Turns `/api/run/teams/getTeam` (the part after `/api/run/`) into `teams:getTeam`, and
/// `items/queries/get` into `items/queries:get`.
pub(crate) fn path_from_url(rest: &str) -> Result<String, WireError> {
    let rest = rest.trim_matches('/');
    match rest.rsplit_once('/') {
        Some((module, function)) if !module.is_empty() && !function.is_empty() => {
            Ok(format!("{module}:{function}"))
        }
        _ => Err(WireError::new(
            "MissingIdentifier",
            "the URL must name a module and a function, e.g. /api/run/messages/list",
        )),
    }
}

/// Canonical procedure path: `teams.js:getTeam` is `teams:getTeam`, `teams` is
/// `teams:default`.
pub(crate) fn canonical_path(path: &str) -> String {
    let (module, function) = path.split_once(':').unwrap_or((path, "default"));
    let module = module
        .strip_suffix(".js")
        .or_else(|| module.strip_suffix(".ts"))
        .unwrap_or(module);
    format!("{module}:{function}")
}

/// The body a client sends for a call: `{"path", "format": "convex_encoded_json", "args": [args]}`.
pub(crate) fn request_body(path: &str, args: &Json) -> Json {
    serde_json::json!({
        "path": path,
        "format": "convex_encoded_json",
        "args": [args],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_take_every_shape_clients_send() {
        let req = parse_body(br#"{"path":"a:b","args":[{"x":1}],"format":"convex_encoded_json"}"#)
            .unwrap();
        assert_eq!(req.path.as_deref(), Some("a:b"));
        assert_eq!(req.format, Format::Encoded);
        assert_eq!(req.args.get("x"), Some(&Value::Float64(1.0)));

        let req =
            parse_body(br#"{"path":"a:b","args":{"n":{"$integer":"AQAAAAAAAAA="}}}"#).unwrap();
        assert_eq!(req.format, Format::Clean);
        assert_eq!(req.args.get("n"), Some(&Value::Int64(1)));

        let req = parse_body(br#"{"path":"a:b"}"#).unwrap();
        assert_eq!(req.args, Value::Object(value::Object::new()));
    }

    #[test]
    fn bad_bodies_are_refused_clearly() {
        let message = |body: &[u8]| parse_body(body).unwrap_err().message;
        assert!(message(b"").contains("empty"));
        assert!(message(b"{not json").contains("not valid JSON"));
        assert!(message(b"[1]").contains("must be a JSON object"));
        assert!(message(b"\"text\"").contains("must be a JSON object"));
        assert!(message(br#"{"path":1}"#).contains("\"path\" must be a string"));
        assert!(message(br#"{"path":"a:b","args":[1,2]}"#).contains("exactly one"));
        assert!(message(br#"{"path":"a:b","format":"xml"}"#).contains("unknown value format"));
        assert!(message(br#"{"path":"a:b","args":{"$bad":1}}"#).contains("invalid arguments"));
    }

    #[test]
    fn paths_from_urls_and_clients() {
        assert_eq!(path_from_url("teams/getTeam").unwrap(), "teams:getTeam");
        assert_eq!(
            path_from_url("items/queries/get").unwrap(),
            "items/queries:get"
        );
        assert!(path_from_url("teams").is_err());
        assert_eq!(canonical_path("teams.js:getTeam"), "teams:getTeam");
        assert_eq!(canonical_path("teams"), "teams:default");
        assert_eq!(canonical_path("items/queries:get"), "items/queries:get");
    }
}
