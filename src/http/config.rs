//! The server's configuration: limits, timeouts, CORS, development mode, auth.

use std::time::Duration;

use axum::http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_MAX_AGE, ACCESS_CONTROL_REQUEST_HEADERS, ORIGIN, VARY,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;

use super::ServerError;
use super::auth::AuthConfig;
use crate::wire::Transformer;

/// The default request body limit: 8 MiB. A larger body is refused with 413 before it is
/// parsed.
pub const DEFAULT_BODY_LIMIT: usize = 8 << 20;

/// The default time a request may take, reading its body and running its procedure
/// included: 5 minutes.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// How long a snapshot handed out by `POST /api/query_ts` stays readable by
/// `POST /api/query_at_ts` by default: 30 seconds, the window Convex documents for
/// `ConvexHttpClient.consistentQuery`.
pub const DEFAULT_SNAPSHOT_RETENTION: Duration = Duration::from_secs(30);

/// How many snapshots of `POST /api/query_ts` are kept open at once by default: 8. Opening
/// one more releases the oldest first.
pub const DEFAULT_MAX_SNAPSHOTS: usize = 8;

/// Which browser origins may call the server (CORS).
///
/// Requests that carry an `Origin` header from an allowed origin get
/// `Access-Control-Allow-Origin`, and preflight requests (`OPTIONS`) are answered for `GET`
/// and `POST` with the headers the browser asks for (`Authorization` and `Content-Type`
/// included). Credentials (cookies) are not part of the API: tokens travel in
/// `Authorization`.
///
/// ```
/// use convoke::http::Cors;
/// let any = Cors::any(); // the default, as Convex deployments do
/// let some = Cors::origins(["https://app.example.com"]).unwrap();
/// let none = Cors::disabled(); // no CORS headers: same-origin browsers and servers only
/// # let _ = (any, some, none);
/// ```
#[derive(Debug, Clone)]
pub struct Cors {
    allow: CorsAllow,
}

#[derive(Debug, Clone)]
enum CorsAllow {
    Any,
    Origins(Vec<HeaderValue>),
    Disabled,
}

impl Cors {
    /// Any origin (the default).
    pub fn any() -> Cors {
        Cors {
            allow: CorsAllow::Any,
        }
    }

    /// Only these origins (`https://app.example.com`). Fails on a value that cannot be a
    /// header.
    pub fn origins<I, S>(origins: I) -> Result<Cors, ServerError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let origins = origins
            .into_iter()
            .map(|o| {
                HeaderValue::from_str(o.as_ref().trim_end_matches('/')).map_err(|_| {
                    ServerError::Config(format!("invalid CORS origin {:?}", o.as_ref()))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Cors {
            allow: CorsAllow::Origins(origins),
        })
    }

    /// No CORS headers at all.
    pub fn disabled() -> Cors {
        Cors {
            allow: CorsAllow::Disabled,
        }
    }

    /// The `Access-Control-Allow-Origin` value for a request, if it is a cross-origin
    /// request from an allowed origin.
    fn allow_origin(&self, request: &HeaderMap) -> Option<HeaderValue> {
        let origin = request.get(ORIGIN)?;
        match &self.allow {
            CorsAllow::Any => Some(HeaderValue::from_static("*")),
            CorsAllow::Origins(list) => list.iter().find(|o| *o == origin).cloned(),
            CorsAllow::Disabled => None,
        }
    }

    /// Adds the CORS headers of an actual (non-preflight) request to its response.
    pub(crate) fn apply(&self, request: &HeaderMap, mut response: Response) -> Response {
        if matches!(self.allow, CorsAllow::Disabled) || !request.contains_key(ORIGIN) {
            return response;
        }
        let headers = response.headers_mut();
        headers.append(VARY, HeaderValue::from_static("origin"));
        if let Some(origin) = self.allow_origin(request) {
            headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        }
        response
    }

    /// Answers a preflight request (`OPTIONS`).
    pub(crate) fn preflight(&self, request: &HeaderMap) -> Response {
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::NO_CONTENT;
        let Some(origin) = self.allow_origin(request) else {
            return response;
        };
        let headers = response.headers_mut();
        headers.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, POST, OPTIONS"),
        );
        let allow_headers = request
            .get(ACCESS_CONTROL_REQUEST_HEADERS)
            .cloned()
            .unwrap_or_else(|| HeaderValue::from_static("content-type, authorization"));
        headers.insert(ACCESS_CONTROL_ALLOW_HEADERS, allow_headers);
        headers.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
        headers.insert(
            VARY,
            HeaderValue::from_static(
                "origin, access-control-request-method, access-control-request-headers",
            ),
        );
        response
    }
}

impl Default for Cors {
    fn default() -> Self {
        Cors::any()
    }
}

/// Everything a [`Server`](super::Server) is built from; set through
/// [`ServerBuilder`](super::ServerBuilder).
#[derive(Debug, Clone)]
pub(crate) struct ServerConfig {
    pub(crate) auth: AuthConfig,
    pub(crate) development: bool,
    pub(crate) body_limit: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) cors: Cors,
    pub(crate) transformer: Transformer,
    pub(crate) snapshot_retention: Duration,
    pub(crate) max_snapshots: usize,
    pub(crate) sync: SyncConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            auth: AuthConfig::new(),
            development: false,
            body_limit: DEFAULT_BODY_LIMIT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            cors: Cors::any(),
            transformer: Transformer::new(),
            snapshot_retention: DEFAULT_SNAPSHOT_RETENTION,
            max_snapshots: DEFAULT_MAX_SNAPSHOTS,
            sync: SyncConfig::default(),
        }
    }
}

/// The limits of the WebSocket sync protocol (`GET /api/{version}/sync`), per socket: set
/// with [`ServerBuilder::sync`](super::ServerBuilder::sync). See `docs/sync.md`.
///
/// ```
/// use convoke::http::SyncConfig;
/// let config = SyncConfig::default().max_queries(100).max_message_bytes(1 << 20);
/// assert_eq!(config.queries_limit(), 100);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SyncConfig {
    pub(crate) max_message_bytes: usize,
    pub(crate) max_queries: usize,
    pub(crate) max_actions_in_flight: usize,
    pub(crate) send_queue: usize,
    pub(crate) send_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) chunk_bytes: usize,
    pub(crate) mutation_retention: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            max_message_bytes: 8 << 20,
            max_queries: 1_000,
            max_actions_in_flight: 64,
            send_queue: 16,
            send_timeout: Duration::from_secs(30),
            ping_interval: Duration::from_secs(15),
            chunk_bytes: 5_000_000,
            mutation_retention: Duration::from_secs(3600),
        }
    }
}

impl SyncConfig {
    /// The largest message a client may send, in bytes (default 8 MiB); a larger one
    /// closes the socket with 1009 ("message too big").
    pub fn max_message_bytes(mut self, bytes: usize) -> Self {
        self.max_message_bytes = bytes;
        self
    }

    /// How many queries one socket may subscribe at once (default 1,000); one more is a
    /// `FatalError` (`TooManyQueries`).
    pub fn max_queries(mut self, queries: usize) -> Self {
        self.max_queries = queries;
        self
    }

    /// The limit set by [`max_queries`](SyncConfig::max_queries).
    pub fn queries_limit(&self) -> usize {
        self.max_queries
    }

    /// How many actions of one socket may run at once (default 64); one more closes the
    /// socket with 1013 (`TooManyInflightActions`, the client reconnects and retries).
    /// Mutations of one socket run one at a time, in the order they arrive, as in Convex.
    pub fn max_actions_in_flight(mut self, actions: usize) -> Self {
        self.max_actions_in_flight = actions;
        self
    }

    /// How many messages may wait to be sent to one socket (default 16), and how long the
    /// server waits for room (default 30 s) before it closes a socket that does not read
    /// with 1013 (`SlowConsumer`). So a slow client costs bounded memory.
    pub fn send_queue(mut self, messages: usize, timeout: Duration) -> Self {
        self.send_queue = messages.max(1);
        self.send_timeout = timeout;
        self
    }

    /// How long a socket may go without a message from the server before it gets a
    /// `Ping` (default 15 s, as Convex; the official client reconnects after 60 s of
    /// silence).
    pub fn ping_interval(mut self, interval: Duration) -> Self {
        self.ping_interval = interval;
        self
    }

    /// How long the outcome of a mutation sent over a socket is kept (default 1 hour), so
    /// that the same request (`sessionId`, `requestId`) re-sent after a reconnect returns
    /// that outcome instead of running again. Each such mutation writes one record to the
    /// system table `_session_requests` in its own transaction; expired records are
    /// deleted as clients connect. `Duration::ZERO` keeps none (a re-sent mutation then
    /// runs again). Convex keeps them 14 days.
    pub fn mutation_retention(mut self, retention: Duration) -> Self {
        self.mutation_retention = retention;
        self
    }

    /// Transitions larger than this many bytes go as `TransitionChunk`s to clients that
    /// support them (npm `convex` 1.28 or later; default 5,000,000 bytes, as Convex).
    pub fn chunk_bytes(mut self, bytes: usize) -> Self {
        self.chunk_bytes = bytes.max(1);
        self
    }
}
