//! The Convex HTTP API: a server exposing a runtime's public procedures to HTTP clients,
//! the official `convex` npm `ConvexHttpClient` included.
//!
//! # Endpoints
//!
//! | request | runs |
//! |---|---|
//! | `POST /api/query`, `/api/mutation`, `/api/action` with `{"path", "args", "format"}` | the public procedure at `path`, which must be of the endpoint's kind |
//! | `GET /api/query?path=..&args=..&format=..` | a public query (`args` is JSON) |
//! | `POST /api/function` with `{"path", "args", "format"}` | a public procedure of any kind |
//! | `POST /api/run/{module}/{fn}` with `{"args", "format"}` | the public procedure `module:fn` (`/api/run/items/queries/get` is `items/queries:get`) |
//! | `POST /api/query_ts` | opens a read snapshot: `{"ts": "<token>"}` |
//! | `POST /api/query_at_ts` with `{"path", "args", "format", "ts"}` | a public query, reading at the snapshot of `ts` |
//!
//! `/api/query_ts` and `/api/query_at_ts` are what `ConvexHttpClient.consistentQuery` calls:
//! every query at one `ts` reads the same snapshot. A snapshot is held for
//! [`ServerBuilder::snapshot_retention`] (30 s by default) and at most
//! [`ServerBuilder::max_snapshots`] at once (8; a new one releases the oldest); a query at
//! a snapshot no longer held gets 400 `SnapshotExpired`. On PostgreSQL a held snapshot is
//! an open database transaction, with its pooled connection.
//!
//! `args` is an object (or any value the procedure takes), or a one-element array holding
//! it, in Convex's JSON encoding (`{"$integer": ..}`, `{"$bytes": ..}`, `{"$float": ..}`).
//! `format` is `"convex_encoded_json"` (lossless, what the official clients ask for) or
//! `"json"` (plain JSON, the default).
//!
//! # Responses
//!
//! | status | body | when |
//! |---|---|---|
//! | 200 | `{"status": "success", "value", "logLines"}` | the procedure returned |
//! | 560 | `{"status": "error", "errorMessage", "errorData"?, "logLines"}` | the procedure returned an error: a user error carries `errorData` (Convex's `ConvexError`); other errors read `"Server Error"` unless the server runs in development mode |
//! | 400 | `{"status": "error", "code", "errorMessage", "message"}` | malformed JSON, bad arguments, too deep a value, a wrong kind, a bad `format` |
//! | 401 | same shape | a bad, expired or unverifiable token |
//! | 404 | same shape | no public procedure at the path: `Could not find public function for '<path>'` (internal procedures included) |
//! | 405 | same shape | a method the endpoint does not take (such as `GET /api/mutation`) |
//! | 408, 413 | same shape | the request took too long; the body is over the limit |
//! | 503 | same shape | the database cannot be reached (`StorageUnavailable`), or a conflicting mutation could not get its turn to re-run (`Overloaded`, with `Retry-After: 1`): try again later |
//!
//! `logLines` holds what the call and every call it made logged with `ctx.log(..)`, as
//! Convex formats it: `[LOG] 'message'`.
//!
//! # Serving
//!
//! ```no_run
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use convoke::Runtime;
//! use convoke::http::{AuthConfig, AuthProvider, Server, shutdown_signal};
//!
//! let server = Server::builder(Runtime::in_memory()?)
//!     .auth(AuthConfig::new().provider(AuthProvider::jwks_url(
//!         "https://auth.example.com",
//!         "my-app",
//!         "https://auth.example.com/.well-known/jwks.json",
//!     )))
//!     .build()
//!     .await?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3210").await?;
//! server.serve(listener, shutdown_signal()).await?;
//! # Ok(())
//! # }
//! ```

mod auth;
mod config;
pub(crate) mod error;
mod jwks;
mod respond;
mod routes;
mod shutdown;
mod snapshots;
mod sync;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::{TcpListener, ToSocketAddrs};

#[doc(no_inline)]
pub use crate::wire::STATUS_FUNCTION_FAILED;
pub use auth::{AuthConfig, AuthError, AuthProvider};
pub use config::{
    Cors, DEFAULT_BODY_LIMIT, DEFAULT_MAX_SNAPSHOTS, DEFAULT_REQUEST_TIMEOUT,
    DEFAULT_SNAPSHOT_RETENTION, SyncConfig,
};
pub use error::ServerError;
pub use shutdown::{RunningServer, shutdown_signal};

use crate::runtime::Runtime;
use crate::wire::Transformer;
use config::ServerConfig;

/// An HTTP server exposing a runtime's public procedures with the Convex HTTP API (see the
/// [module documentation](self)).
///
/// Build it with [`Server::builder`], then [`serve`](Server::serve) it on a listener,
/// [`spawn`](Server::spawn) it in the background, or take its [`router`](Server::router) to
/// mount in an axum app of your own.
#[derive(Clone)]
pub struct Server {
    router: Router,
    /// Told when [`serve`](Server::serve)'s shutdown comes: the sync sessions then close.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").finish_non_exhaustive()
    }
}

/// Configures a [`Server`]: auth providers, limits, timeouts, CORS, development mode.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use convoke::http::{Cors, Server};
///
/// let server = Server::builder(convoke::Runtime::in_memory()?)
///     .body_limit(1 << 20)
///     .request_timeout(Duration::from_secs(30))
///     .cors(Cors::origins(["https://app.example.com"])?)
///     .development(true) // unredacted error messages
///     .build()
///     .await?;
/// # let _ = server;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct ServerBuilder {
    runtime: Runtime,
    config: ServerConfig,
}

impl std::fmt::Debug for ServerBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerBuilder").finish_non_exhaustive()
    }
}

impl ServerBuilder {
    /// The auth providers tokens are verified against (default: none, so every call is
    /// anonymous and a request with a token is refused).
    pub fn auth(mut self, auth: AuthConfig) -> Self {
        self.config.auth = auth;
        self
    }

    /// Development mode: error messages of failed procedures are sent to clients instead
    /// of `"Server Error"`, and HS256 auth providers are accepted. Off by default.
    pub fn development(mut self, development: bool) -> Self {
        self.config.development = development;
        self
    }

    /// The largest request body accepted, in bytes (default [`DEFAULT_BODY_LIMIT`]);
    /// larger ones get 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.config.body_limit = bytes;
        self
    }

    /// How long a request may take, from reading its body to answering (default
    /// [`DEFAULT_REQUEST_TIMEOUT`]); longer ones get 408 and their procedure is cancelled.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Which browser origins may call (default [`Cors::any`]).
    pub fn cors(mut self, cors: Cors) -> Self {
        self.config.cors = cors;
        self
    }

    /// How long a snapshot handed out by `POST /api/query_ts` stays readable by
    /// `POST /api/query_at_ts` (default [`DEFAULT_SNAPSHOT_RETENTION`]); after that a query
    /// at it is refused with 400 `SnapshotExpired`. While a snapshot is held, the
    /// in-process engines keep the document versions it sees, and PostgreSQL keeps its
    /// transaction and connection.
    pub fn snapshot_retention(mut self, retention: Duration) -> Self {
        self.config.snapshot_retention = retention;
        self
    }

    /// How many snapshots of `POST /api/query_ts` are held at once (default
    /// [`DEFAULT_MAX_SNAPSHOTS`]): opening one more releases the oldest. 0 turns
    /// consistent queries off (every query at a snapshot is refused as expired). On
    /// PostgreSQL each held snapshot keeps a connection of the pool: keep this well under
    /// `PostgresConfig::max_connections` (16 by default), or other requests wait for one.
    pub fn max_snapshots(mut self, max: usize) -> Self {
        self.config.max_snapshots = max;
        self
    }

    /// Custom codecs applied to arguments (incoming) and results (outgoing), for clients
    /// that use them. Dates need none: [`Date`](crate::Date) is always understood.
    pub fn transformer(mut self, transformer: Transformer) -> Self {
        self.config.transformer = transformer;
        self
    }

    /// The limits of the WebSocket sync protocol (default [`SyncConfig::default`]).
    pub fn sync(mut self, sync: SyncConfig) -> Self {
        self.config.sync = sync;
        self
    }

    /// Builds the server. Loads every auth provider's keys first, so a provider whose
    /// keys cannot be read fails here rather than on the first request; an HS256 provider
    /// fails unless in development mode.
    pub async fn build(self) -> Result<Server, ServerError> {
        let config = self.config;
        let client = reqwest::Client::new();
        let auth = auth::Authenticator::start(&config.auth, config.development, client).await?;
        let (closing, closed) = tokio::sync::watch::channel(false);
        let state = Arc::new(routes::AppState {
            runtime: self.runtime,
            auth,
            development: config.development,
            body_limit: config.body_limit,
            request_timeout: config.request_timeout,
            cors: config.cors,
            transformer: config.transformer,
            snapshots: snapshots::Snapshots::start(config.snapshot_retention, config.max_snapshots),
            sync: config.sync,
            cache: Arc::default(),
            closing: closed,
        });
        Ok(Server {
            router: routes::router(state),
            closing: Arc::new(closing),
        })
    }
}

/// For the fuzz targets: the arguments and the `ts` of a body, if it is accepted.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_parse_body(data: &[u8]) -> Option<(crate::value::Value, Option<String>)> {
    let request = crate::wire::call::parse_body(data).ok()?;
    let ts = match request.ts {
        Some(serde_json::Value::String(ts)) => Some(ts),
        _ => None,
    };
    Some((request.args, ts))
}

/// For the fuzz targets: a `ts` token's number, if it is one.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_token(ts: &str) -> Option<u64> {
    snapshots::decode_token(ts)
}

/// For the fuzz targets: the path parsers, on any text.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn fuzz_paths(text: &str) {
    let _ = crate::wire::call::path_from_url(text);
    let _ = crate::wire::call::canonical_path(text);
    let _ = snapshots::decode_token(text);
}

impl Server {
    /// A builder with the defaults, serving `runtime`'s procedures.
    pub fn builder(runtime: Runtime) -> ServerBuilder {
        ServerBuilder {
            runtime,
            config: ServerConfig::default(),
        }
    }

    /// The axum router, to serve yourself or to merge into a larger app.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting connections,
    /// closes the WebSocket sync sessions (1012, "ServiceRestart": the official client
    /// reconnects) and returns once in-flight requests have finished.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        use axum::serve::ListenerExt;
        // No Nagle delay: responses and sync messages are small and latency-bound (a
        // client's back-to-back frames otherwise wait out a delayed ACK, about 40 ms).
        let listener = listener.tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let closing = self.closing.clone();
        let shutdown = async move {
            shutdown.await;
            // Sessions are long-lived: a graceful shutdown would wait for them forever.
            let _ = closing.send(true);
        };
        axum::serve(listener, self.router)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(ServerError::Serve)
    }

    /// Binds `addr` (`"127.0.0.1:0"` picks a free port) and serves in a background task;
    /// the returned handle tells the address and shuts the server down.
    pub async fn spawn(
        self,
        addr: impl ToSocketAddrs + std::fmt::Debug,
    ) -> Result<RunningServer, ServerError> {
        let described = format!("{addr:?}");
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServerError::Bind {
                addr: described.clone(),
                source,
            })?;
        let local: SocketAddr = listener.local_addr().map_err(|source| ServerError::Bind {
            addr: described,
            source,
        })?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.serve(listener, async {
            let _ = stopped.await;
        }));
        Ok(RunningServer::new(local, stop, task))
    }
}
