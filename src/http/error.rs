//! Errors of the HTTP layer: [`HttpError`] for callers and servers, and the error responses
//! the server answers with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::AuthError;
use super::wire;
use crate::error::Error;
use crate::value::ValueError;

/// Convex's status code for "the function ran and failed": the body is a normal
/// `{"status": "error", ..}` response. The official clients treat it like 200.
pub const STATUS_FUNCTION_FAILED: u16 = 560;

/// What can go wrong in the HTTP layer: calling a server (the remote caller and
/// `fetch_*`), or setting one up.
///
/// A procedure's own failure is not an `HttpError`: a user error returned by a remote
/// procedure comes back as [`Error::User`](crate::Error::User), with its data, exactly as
/// in-process. Calls return [`convoke::Error`](crate::Error), which wraps this type as
/// [`Error::Http`](crate::Error::Http).
///
/// ```
/// use convoke::http::HttpError;
/// let err = HttpError::Status {
///     status: 401,
///     code: Some("Unauthenticated".into()),
///     message: "the auth token has expired".into(),
/// };
/// assert!(err.is_unauthorized());
/// assert_eq!(err.status(), Some(401));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The server refused the request (a 4xx or 5xx status other than 560): bad input, an
    /// unknown or internal procedure, a bad token (401), a timeout.
    #[error("{message} (HTTP {status})")]
    Status {
        /// The HTTP status code.
        status: u16,
        /// The server's error code, such as `"Unauthenticated"` or `"FunctionNotFound"`.
        code: Option<String>,
        /// The server's message.
        message: String,
    },
    /// The procedure ran on the server and failed with an error that is not a user error
    /// (its message is redacted unless the server runs in development mode).
    #[error("'{path}' failed on the server: {message}")]
    FunctionFailed {
        /// The procedure's path.
        path: String,
        /// The server's message.
        message: String,
    },
    /// The request could not be sent, or no complete response came back.
    #[error("request to {url} failed: {source}")]
    Transport {
        /// The URL called.
        url: String,
        /// What failed.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered something that is not a Convex HTTP API response.
    #[error("invalid response from {url}: {reason}")]
    InvalidResponse {
        /// The URL called.
        url: String,
        /// What was wrong with it.
        reason: String,
    },
    /// A deployment URL that cannot be used.
    #[error("invalid deployment URL '{url}': {reason}")]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The server could not listen on its address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("the HTTP server failed: {0}")]
    Serve(#[source] std::io::Error),
    /// The server's configuration is not usable (e.g. an HS256 provider outside
    /// development mode).
    #[error("invalid HTTP server configuration: {0}")]
    Config(String),
    /// Auth: a provider's keys could not be loaded, or a token was refused.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// Arguments or results could not be converted to or from Convex values.
    #[error(transparent)]
    Value(#[from] ValueError),
}

impl HttpError {
    /// The HTTP status of a refused request, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            HttpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server refused the request's credentials (HTTP 401), or a token was
    /// refused locally.
    pub fn is_unauthorized(&self) -> bool {
        match self {
            HttpError::Status { status, .. } => *status == 401,
            HttpError::Auth(e) => e.is_invalid_token(),
            _ => false,
        }
    }

    /// Whether the server has no public procedure at the requested path (HTTP 404).
    pub fn is_not_found(&self) -> bool {
        matches!(self, HttpError::Status { status: 404, .. })
    }

    /// Whether the server refused the request as malformed or invalid (HTTP 400 or 413).
    pub fn is_bad_request(&self) -> bool {
        matches!(
            self,
            HttpError::Status {
                status: 400 | 413,
                ..
            }
        )
    }

    /// Whether the procedure failed on the server with an error other than a user error.
    pub fn is_function_failed(&self) -> bool {
        matches!(self, HttpError::FunctionFailed { .. })
    }

    /// Whether the request could not be sent or answered (connection refused, timeout...).
    pub fn is_transport(&self) -> bool {
        matches!(self, HttpError::Transport { .. })
    }

    /// Whether the request timed out: on the client, or on the server (HTTP 408).
    pub fn is_timeout(&self) -> bool {
        match self {
            HttpError::Transport { source, .. } => source.is_timeout(),
            HttpError::Status { status, .. } => *status == 408,
            _ => false,
        }
    }

    /// Whether the answer was not a Convex HTTP API response.
    pub fn is_invalid_response(&self) -> bool {
        matches!(self, HttpError::InvalidResponse { .. })
    }

    /// Whether this is an auth error (see [`AuthError`]).
    pub fn is_auth(&self) -> bool {
        matches!(self, HttpError::Auth(_))
    }

    /// Whether the configuration was refused, or the server could not start or run.
    pub fn is_config(&self) -> bool {
        matches!(
            self,
            HttpError::Config(_) | HttpError::Bind { .. } | HttpError::InvalidUrl { .. }
        )
    }
}

/// An error response of the server: a status, a machine-readable code and a message.
///
/// The body carries both shapes clients look for: Convex's function-error shape
/// (`status`, `errorMessage`, `logLines`) and its HTTP-error shape (`code`, `message`).
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
    /// Seconds for a `Retry-After` header.
    pub(crate) retry_after: Option<u32>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn not_found(path: &str) -> Self {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "FunctionNotFound",
            format!("Could not find public function for '{path}'"),
        )
    }

    pub(crate) fn unauthorized(err: &AuthError) -> Self {
        ApiError::new(StatusCode::UNAUTHORIZED, err.code(), err.to_string())
    }

    /// Errors answered with a status of their own: those that stop a call before the
    /// procedure runs (4xx), and an unreachable database (503, try again later); `None` for
    /// the failures of a procedure that ran (answered with 560).
    pub(crate) fn before_running(err: &Error) -> Option<Self> {
        match err {
            // The database is down or unreachable: the client may try again later.
            Error::Db(e) if e.is_unavailable() => Some(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "StorageUnavailable",
                err.to_string(),
            )),
            // More conflicting mutations than the store commits: come back in a moment.
            Error::Overloaded { .. } => Some(ApiError {
                retry_after: Some(1),
                ..ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Overloaded",
                    err.to_string(),
                )
            }),
            Error::UnknownProcedure { path } => Some(ApiError::not_found(path)),
            Error::WrongKind { .. } => {
                Some(ApiError::bad_request("WrongFunctionKind", err.to_string()))
            }
            Error::InvalidArguments { .. } => Some(ApiError::bad_request(
                "ArgumentValidationError",
                err.to_string(),
            )),
            _ => None,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "status": "error",
            "code": self.code,
            "errorMessage": self.message,
            "message": self.message,
            "logLines": [],
        });
        let mut response = wire::json_response(self.status, &body);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}
