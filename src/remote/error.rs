//! [`RemoteError`]: what the remote caller's transport reports.

use crate::error::{Error, RemoteFailure};

/// What can go wrong calling a server over HTTP (the remote caller and `fetch_*`), apart
/// from the procedure's own failure.
///
/// A remote procedure's user error comes back as [`Error::User`](crate::Error::User), with
/// its data, exactly as in-process. Every other failure is an
/// [`Error::Remote`](crate::Error::Remote) whose [`RemoteFailure`] holds a `RemoteError`:
/// [`RemoteError::of`] finds it.
///
/// ```
/// use convoke::remote::RemoteError;
///
/// let err: convoke::Error = RemoteError::Status {
///     status: 401,
///     code: Some("Unauthenticated".into()),
///     message: "the auth token has expired".into(),
/// }
/// .into();
/// assert!(err.is_unauthorized());
/// assert_eq!(RemoteError::of(&err).and_then(RemoteError::status), Some(401));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
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
    /// An internal procedure was named: internal procedures are not callable remotely
    /// (the call matrix refuses this at compile time; calls by path find out here, before
    /// any request is sent).
    #[error("'{path}' is internal: internal procedures cannot be called remotely")]
    Internal {
        /// The procedure's path.
        path: String,
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
}

impl RemoteError {
    /// The `RemoteError` inside `err`, if it is a remote call's failure.
    pub fn of(err: &Error) -> Option<&RemoteError> {
        err.as_remote()?.downcast_ref::<RemoteError>()
    }

    /// The HTTP status of a refused request, if this is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            RemoteError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Whether the server refused the request's credentials (HTTP 401).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// Whether the server has no public procedure at the requested path (HTTP 404), or the
    /// procedure is internal.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            RemoteError::Status { status: 404, .. } | RemoteError::Internal { .. }
        )
    }

    /// Whether the server refused the request as malformed or invalid (HTTP 400 or 413).
    pub fn is_bad_request(&self) -> bool {
        matches!(self.status(), Some(400 | 413))
    }

    /// Whether the procedure failed on the server with an error other than a user error.
    pub fn is_function_failed(&self) -> bool {
        matches!(self, RemoteError::FunctionFailed { .. })
    }

    /// Whether the request could not be sent or answered (connection refused, timeout...).
    pub fn is_transport(&self) -> bool {
        matches!(self, RemoteError::Transport { .. })
    }

    /// Whether the request timed out: on the client, or on the server (HTTP 408).
    pub fn is_timeout(&self) -> bool {
        match self {
            RemoteError::Transport { source, .. } => source.is_timeout(),
            RemoteError::Status { status, .. } => *status == 408,
            _ => false,
        }
    }

    /// Whether the answer was not a Convex HTTP API response.
    pub fn is_invalid_response(&self) -> bool {
        matches!(self, RemoteError::InvalidResponse { .. })
    }

    /// Whether the deployment URL cannot be used.
    pub fn is_invalid_url(&self) -> bool {
        matches!(self, RemoteError::InvalidUrl { .. })
    }
}

impl From<RemoteError> for Error {
    fn from(err: RemoteError) -> Error {
        let status = err.status();
        let code = match &err {
            RemoteError::Status { code, .. } => code.clone(),
            RemoteError::Internal { .. } => Some("FunctionNotFound".to_owned()),
            _ => None,
        };
        let timeout = err.is_timeout();
        let mut failure = RemoteFailure::new(err);
        if let Some(status) = status {
            failure = failure.with_status(status);
        }
        if let Some(code) = code {
            failure = failure.with_code(code);
        }
        if timeout {
            failure = failure.with_timeout();
        }
        Error::Remote(failure)
    }
}
