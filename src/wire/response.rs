//! Response bodies: what the server writes and the client reads.

// The server reads requests and writes responses, the client the other way round: with
// one of the two features, half of this is unused.
#![cfg_attr(not(all(feature = "http", feature = "remote")), allow(dead_code))]

use serde_json::{Map, Value as Json};

/// The body keys.
pub(crate) const STATUS: &str = "status";
pub(crate) const VALUE: &str = "value";
pub(crate) const LOG_LINES: &str = "logLines";
pub(crate) const ERROR_MESSAGE: &str = "errorMessage";
pub(crate) const ERROR_DATA: &str = "errorData";
pub(crate) const CODE: &str = "code";
pub(crate) const MESSAGE: &str = "message";

/// `{"status": "success", "value", "logLines"}`, written straight into bytes (the server's
/// hot path).
pub(crate) fn success_bytes(value: &Json, log_lines: &[String]) -> serde_json::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(br#"{"status":"success","value":"#);
    serde_json::to_writer(&mut out, value)?;
    out.extend_from_slice(br#","logLines":"#);
    serde_json::to_writer(&mut out, log_lines)?;
    out.push(b'}');
    Ok(out)
}

/// `{"status": "error", "errorMessage", "errorData"?, "logLines"}`: the procedure ran and
/// failed.
pub(crate) fn failure_body(message: String, data: Option<Json>, log_lines: Vec<String>) -> Json {
    let mut body = Map::with_capacity(4);
    body.insert(STATUS.to_owned(), Json::String("error".to_owned()));
    body.insert(ERROR_MESSAGE.to_owned(), Json::String(message));
    if let Some(data) = data {
        body.insert(ERROR_DATA.to_owned(), data);
    }
    body.insert(LOG_LINES.to_owned(), log_lines.into());
    Json::Object(body)
}

/// The body of a refusal: both shapes clients look for, Convex's function-error shape
/// (`status`, `errorMessage`, `logLines`) and its HTTP-error shape (`code`, `message`).
pub(crate) fn refusal_body(code: &str, message: &str) -> Json {
    let mut body = Map::with_capacity(5);
    body.insert(STATUS.to_owned(), Json::String("error".to_owned()));
    body.insert(CODE.to_owned(), Json::String(code.to_owned()));
    body.insert(ERROR_MESSAGE.to_owned(), Json::String(message.to_owned()));
    body.insert(MESSAGE.to_owned(), Json::String(message.to_owned()));
    body.insert(LOG_LINES.to_owned(), Json::Array(Vec::new()));
    Json::Object(body)
}

/// A response body with status 200 or [`STATUS_FUNCTION_FAILED`](super::STATUS_FUNCTION_FAILED),
/// read by the client.
#[derive(Debug, PartialEq)]
pub(crate) struct CallResponse {
    pub(crate) outcome: Outcome,
    pub(crate) log_lines: Vec<String>,
}

/// What a call's response says happened.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// `"status": "success"`, with the encoded value.
    Success(Json),
    /// `"status": "error"`: the procedure failed, with its message and, for a user error,
    /// its encoded data.
    Failed { message: String, data: Option<Json> },
}

/// Reads a response body; `Err` says why it is not a Convex HTTP API response.
pub(crate) fn parse_response(bytes: &[u8]) -> Result<CallResponse, String> {
    let Ok(Json::Object(mut body)) = serde_json::from_slice::<Json>(bytes) else {
        return Err("the body is not a JSON object".to_owned());
    };
    let log_lines = match body.remove(LOG_LINES) {
        Some(Json::Array(lines)) => lines
            .into_iter()
            .filter_map(|line| match line {
                Json::String(line) => Some(line),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let outcome = match body.get(STATUS).and_then(Json::as_str) {
        Some("success") => Outcome::Success(body.remove(VALUE).unwrap_or(Json::Null)),
        Some("error") => Outcome::Failed {
            message: match body.remove(ERROR_MESSAGE) {
                Some(Json::String(m)) => m,
                _ => "the function failed".to_owned(),
            },
            data: body.remove(ERROR_DATA),
        },
        _ => return Err("\"status\" is neither \"success\" nor \"error\"".to_owned()),
    };
    Ok(CallResponse { outcome, log_lines })
}

/// A refusal's code and message, as the client reads them from any body: the server's
/// message when it sent one, else the body's text (at most 500 characters), else a
/// sentence naming the status.
pub(crate) fn parse_refusal(status: u16, bytes: &[u8]) -> (Option<String>, String) {
    let json: Option<Json> = serde_json::from_slice(bytes).ok();
    let field = |name: &str| {
        json.as_ref()
            .and_then(|j| j.get(name))
            .and_then(Json::as_str)
            .map(str::to_owned)
    };
    let message = field(ERROR_MESSAGE)
        .or_else(|| field(MESSAGE))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(bytes);
            let text = text.trim();
            if text.is_empty() {
                format!("the server answered HTTP {status}")
            } else {
                text.chars().take(500).collect()
            }
        });
    (field(CODE), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_server_writes_the_client_reads() {
        let bytes = success_bytes(&serde_json::json!({"a": 1}), &["hi".to_owned()]).unwrap();
        let read = parse_response(&bytes).unwrap();
        assert_eq!(read.outcome, Outcome::Success(serde_json::json!({"a": 1})));
        assert_eq!(read.log_lines, ["hi"]);

        let body = failure_body("no".into(), Some(Json::from(3)), vec![]);
        let read = parse_response(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            read.outcome,
            Outcome::Failed {
                message: "no".into(),
                data: Some(Json::from(3))
            }
        );

        let body = refusal_body("BadArgs", "bad");
        let (code, message) = parse_refusal(400, body.to_string().as_bytes());
        assert_eq!(
            (code.as_deref(), message.as_str()),
            (Some("BadArgs"), "bad")
        );
        assert_eq!(parse_refusal(502, b"").1, "the server answered HTTP 502");
        assert_eq!(parse_refusal(502, b" gateway ").1, "gateway");
        assert!(parse_response(b"[]").is_err());
        assert!(parse_response(br#"{"status":"maybe"}"#).is_err());
    }
}
