//! Errors of the HTTP server: [`ServerError`] for setting one up and running it, and the
//! error responses the server answers with.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::auth::AuthError;
use super::respond;
use crate::error::Error;
use crate::wire::{WireError, response};

/// What can go wrong setting up or running the HTTP server.
///
/// A procedure's failure is not a `ServerError`: it is answered to the client (see the
/// [module documentation](super)).
///
/// ```
/// use convoke::http::{Cors, ServerError};
/// let err: ServerError = Cors::origins(["not a url\n"]).unwrap_err();
/// assert!(err.is_config());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
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
    /// development mode, a bad CORS origin).
    #[error("invalid HTTP server configuration: {0}")]
    Config(String),
    /// Auth: a provider's keys could not be loaded.
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl ServerError {
    /// Whether the configuration was refused, or the server could not listen.
    pub fn is_config(&self) -> bool {
        matches!(self, ServerError::Config(_) | ServerError::Bind { .. })
    }

    /// Whether an auth provider could not be set up (see [`AuthError`]).
    pub fn is_auth(&self) -> bool {
        matches!(self, ServerError::Auth(_))
    }

    /// Whether the server stopped with an I/O error.
    pub fn is_serve(&self) -> bool {
        matches!(self, ServerError::Serve(_))
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
        let body = response::refusal_body(self.code, &self.message);
        let mut response = respond::json_response(self.status, &body);
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

impl From<WireError> for ApiError {
    fn from(err: WireError) -> ApiError {
        ApiError::bad_request(err.code, err.message)
    }
}

impl IntoResponse for WireError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
