//! The server's responses: the wire format's bodies (`crate::wire`) as axum responses.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;

use super::error::ApiError;
use crate::wire::{STATUS_FUNCTION_FAILED, response};

/// `{"status": "success", "value", "logLines"}`, status 200, written straight into the
/// response buffer.
pub(crate) fn success(value: &Json, log_lines: &[String]) -> Response {
    match response::success_bytes(value, log_lines) {
        Ok(bytes) => bytes_response(StatusCode::OK, bytes),
        Err(_) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "the result could not be written as JSON",
        )
        .into_response(),
    }
}

/// `{"status": "error", "errorMessage", "errorData"?, "logLines"}`, status 560: the
/// procedure ran and failed.
pub(crate) fn function_failed(
    message: String,
    data: Option<Json>,
    log_lines: Vec<String>,
) -> Response {
    let status =
        StatusCode::from_u16(STATUS_FUNCTION_FAILED).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, &response::failure_body(message, data, log_lines))
}

/// A JSON response with `content-type: application/json`.
pub(crate) fn json_response(status: StatusCode, body: &Json) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    bytes_response(status, bytes)
}

fn bytes_response(status: StatusCode, bytes: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
