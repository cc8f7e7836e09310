//! The routes of the Convex HTTP API and their handlers.
//!
//! Every handler takes the whole request (no header copies), reads the body itself under
//! the size limit, and runs under the request timeout; CORS headers are added last.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::StreamExt;

use super::auth::{AuthError, Authenticator};
use super::config::{Cors, SyncConfig};
use super::error::ApiError;
use super::respond;
use super::snapshots::{self, Snapshots};
use crate::db::RetainedSnapshot;
use crate::error::Error;
use crate::procedure::{ProcedureKind, Visibility};
use crate::runtime::Runtime;
use crate::value::Value;
use crate::wire::Transformer;
use crate::wire::call::{self as wire, Format};

/// What every handler shares.
pub(crate) struct AppState {
    pub(crate) runtime: Runtime,
    pub(crate) auth: Authenticator,
    pub(crate) development: bool,
    pub(crate) body_limit: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) cors: Cors,
    pub(crate) transformer: Transformer,
    pub(crate) snapshots: Arc<Snapshots>,
    pub(crate) sync: SyncConfig,
    /// Results shared by identical subscriptions of the sync protocol.
    pub(crate) cache: Arc<super::sync::QueryCache>,
    /// Becomes `true` when the server shuts down: sync sessions close.
    pub(crate) closing: tokio::sync::watch::Receiver<bool>,
}

type Shared = Arc<AppState>;

/// The router: `/api/query` (POST and GET), `/api/mutation`, `/api/action`,
/// `/api/function`, `/api/run/{module}/{fn}`, `/api/query_ts` and `/api/query_at_ts`, with
/// CORS preflights, and a JSON 404 and 405 for anything else.
pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/query", post(query).get(query_get).options(preflight))
        .route("/api/query_ts", post(query_ts).options(preflight))
        .route("/api/query_at_ts", post(query_at_ts).options(preflight))
        .route("/api/mutation", post(mutation).options(preflight))
        .route("/api/action", post(action).options(preflight))
        .route("/api/function", post(function).options(preflight))
        .route("/api/run/{*path}", post(run_by_url).options(preflight))
        .route("/api/{version}/sync", get(super::sync::upgrade_versioned))
        .route("/api/sync", get(super::sync::upgrade))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn query(State(state): State<Shared>, request: Request) -> Response {
    post_call(&state, request, Some(ProcedureKind::Query), None).await
}

async fn mutation(State(state): State<Shared>, request: Request) -> Response {
    post_call(&state, request, Some(ProcedureKind::Mutation), None).await
}

async fn action(State(state): State<Shared>, request: Request) -> Response {
    post_call(&state, request, Some(ProcedureKind::Action), None).await
}

/// `POST /api/function`: any kind, named in the body.
async fn function(State(state): State<Shared>, request: Request) -> Response {
    post_call(&state, request, None, None).await
}

/// `POST /api/run/{module}/{fn}`: any kind, named in the URL.
async fn run_by_url(
    State(state): State<Shared>,
    Path(path): Path<String>,
    request: Request,
) -> Response {
    post_call(&state, request, None, Some(path)).await
}

/// `POST /api/query_ts`: opens a snapshot, `{"ts": "<token>"}`. The body, if any, is
/// ignored (read under the limit all the same).
async fn query_ts(State(state): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    respond(&state, &parts, async {
        if let Err(e) = read_body(body, &parts.headers, state.body_limit).await {
            return e.into_response();
        }
        let snapshot = match state.runtime.retain_snapshot().await {
            Ok(snapshot) => snapshot,
            Err(error) => return snapshot_failed(&error),
        };
        let ts = state.snapshots.hold(snapshot);
        respond::json_response(StatusCode::OK, &serde_json::json!({ "ts": ts }))
    })
    .await
}

/// A snapshot could not be opened: the database is unreachable (503) or failed (500).
fn snapshot_failed(error: &Error) -> Response {
    if let Some(refused) = ApiError::before_running(error) {
        return refused.into_response();
    }
    tracing::error!(target: "convoke::http", error = %error, "could not open a snapshot");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "SnapshotFailed",
        "the server could not open a snapshot",
    )
    .into_response()
}

/// `POST /api/query_at_ts` with `{"path", "args", "format", "ts"}`: a public query at the
/// snapshot of `ts`.
async fn query_at_ts(State(state): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    respond(&state, &parts, async {
        let body = match read_body(body, &parts.headers, state.body_limit).await {
            Ok(body) => body,
            Err(e) => return e.into_response(),
        };
        let request = match wire::parse_body(&body) {
            Ok(request) => request,
            Err(e) => return e.into_response(),
        };
        let Some(path) = request.path else {
            return ApiError::bad_request(
                "MissingPath",
                "the request body has no \"path\": name the query, e.g. \"messages:list\"",
            )
            .into_response();
        };
        let snapshot = match snapshot_of(&state.snapshots, request.ts.as_ref()) {
            Ok(snapshot) => snapshot,
            Err(e) => return e.into_response(),
        };
        let kind = Some(ProcedureKind::Query);
        let headers = &parts.headers;
        let (args, format) = (request.args, request.format);
        call(&state, kind, &path, args, format, headers, Some(snapshot)).await
    })
    .await
}

/// The snapshot a `ts` names, or why there is none.
fn snapshot_of(
    snapshots: &Snapshots,
    ts: Option<&serde_json::Value>,
) -> Result<Arc<RetainedSnapshot>, ApiError> {
    let token = match ts {
        None => {
            return Err(ApiError::bad_request(
                "MissingTimestamp",
                "the request body has no \"ts\": get one from POST /api/query_ts",
            ));
        }
        Some(serde_json::Value::String(ts)) => snapshots::decode_token(ts),
        Some(_) => None,
    };
    let Some(token) = token else {
        return Err(ApiError::bad_request(
            "BadTimestamp",
            "\"ts\" must be a timestamp from POST /api/query_ts (a base64 string)",
        ));
    };
    snapshots.get(token).ok_or_else(|| {
        ApiError::bad_request(
            "SnapshotExpired",
            format!(
                "the snapshot of this \"ts\" is no longer available: the server keeps the \
                 snapshots of POST /api/query_ts for {:.3} s, at most {} at once; get a new \
                 one (with a new ConvexHttpClient, for consistentQuery)",
                snapshots.retention().as_secs_f64(),
                snapshots.max()
            ),
        )
    })
}

async fn preflight(State(state): State<Shared>, request: Request) -> Response {
    state.cors.preflight(request.headers())
}

/// Runs `handle` under the request timeout and adds the CORS headers.
async fn respond<F>(state: &AppState, parts: &Parts, handle: F) -> Response
where
    F: Future<Output = Response>,
{
    let response = match tokio::time::timeout(state.request_timeout, handle).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "RequestTimeout",
            format!(
                "the request took longer than the server's limit of {:.3} s",
                state.request_timeout.as_secs_f64()
            ),
        )
        .into_response(),
    };
    state.cors.apply(&parts.headers, response)
}

async fn post_call(
    state: &AppState,
    request: Request,
    kind: Option<ProcedureKind>,
    url_path: Option<String>,
) -> Response {
    let (parts, body) = request.into_parts();
    respond(state, &parts, async {
        let body = match read_body(body, &parts.headers, state.body_limit).await {
            Ok(body) => body,
            Err(e) => return e.into_response(),
        };
        let request = match wire::parse_body(&body) {
            Ok(request) => request,
            Err(e) => return e.into_response(),
        };
        let path = match url_path {
            Some(path) => match wire::path_from_url(&path) {
                Ok(path) => path,
                Err(e) => return e.into_response(),
            },
            None => match request.path {
                Some(path) => path,
                None => {
                    return ApiError::bad_request(
                        "MissingPath",
                        "the request body has no \"path\": name the function, e.g. \"messages:list\"",
                    )
                    .into_response();
                }
            },
        };
        call(
            state,
            kind,
            &path,
            request.args,
            request.format,
            &parts.headers,
            None,
        )
        .await
    })
    .await
}

/// `GET /api/query?path=teams:getTeam&args={..}&format=json`.
async fn query_get(State(state): State<Shared>, request: Request) -> Response {
    let (parts, _body) = request.into_parts();
    respond(&state, &parts, async {
        let params = match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
            Ok(Query(params)) => params,
            Err(_) => {
                return ApiError::bad_request("BadQueryString", "the query string is malformed")
                    .into_response();
            }
        };
        let param = |name: &str| {
            params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let Some(path) = param("path") else {
            return ApiError::bad_request(
                "MissingPath",
                "missing the `path` query parameter, e.g. /api/query?path=messages:list&args={}",
            )
            .into_response();
        };
        let args = match param("args").map(serde_json::from_str).transpose() {
            Ok(args) => args,
            Err(e) => {
                return ApiError::bad_request(
                    "BadArgs",
                    format!("the `args` query parameter is not valid JSON: {e}"),
                )
                .into_response();
            }
        };
        let parsed =
            wire::decode_args(args).and_then(|args| Ok((args, Format::parse(param("format"))?)));
        match parsed {
            Ok((args, format)) => {
                call(
                    &state,
                    Some(ProcedureKind::Query),
                    path,
                    args,
                    format,
                    &parts.headers,
                    None,
                )
                .await
            }
            Err(e) => e.into_response(),
        }
    })
    .await
}

/// How much of a body over the limit is read and thrown away before the 413 is sent, at
/// most: 64 MiB, for at most [`DRAIN_TIME`].
const MAX_DRAIN: u64 = 64 << 20;

/// How long draining a body over the limit may take, at most.
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// Reads the body, refusing more than `limit` bytes with 413.
///
/// A body over the limit is read to its end (up to [`MAX_DRAIN`] bytes more) before the
/// answer goes out: a client such as Node's `fetch` reads the response only once its upload
/// is through, and a server that answers and closes with the upload still arriving makes
/// the kernel reset the connection, so the client would see `EPIPE` or `ECONNRESET`
/// instead of the 413.
async fn read_body(body: Body, headers: &HeaderMap, limit: usize) -> Result<Bytes, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLarge",
            format!("the request body is larger than the server's limit of {limit} bytes"),
        )
    };
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut stream = body.into_data_stream();
    if declared.is_some_and(|len| len > limit as u64) {
        drain(
            &mut stream,
            declared.map(|len| len.saturating_sub(limit as u64)),
        )
        .await;
        return Err(too_large());
    }
    let unreadable = |e: axum::Error| {
        ApiError::bad_request(
            "BadRequestBody",
            format!("could not read the request body: {e}"),
        )
    };
    let Some(first) = stream.next().await.transpose().map_err(unreadable)? else {
        return Ok(Bytes::new());
    };
    if first.len() > limit {
        drain(&mut stream, None).await;
        return Err(too_large());
    }
    // Most bodies arrive in one chunk: keep it as it is.
    let Some(second) = stream.next().await.transpose().map_err(unreadable)? else {
        return Ok(first);
    };
    let mut all = Vec::with_capacity(first.len() + second.len());
    all.extend_from_slice(&first);
    let mut next = Some(second);
    while let Some(chunk) = next {
        if all.len() + chunk.len() > limit {
            drain(&mut stream, None).await;
            return Err(too_large());
        }
        all.extend_from_slice(&chunk);
        next = stream.next().await.transpose().map_err(unreadable)?;
    }
    Ok(Bytes::from(all))
}

/// Reads and drops the rest of a body over the limit: at most [`MAX_DRAIN`] bytes for at
/// most [`DRAIN_TIME`], and nothing when the declared rest (`over`) is larger than that,
/// since the connection is then closed with the upload unfinished anyway.
async fn drain(stream: &mut axum::body::BodyDataStream, over: Option<u64>) {
    if over.is_some_and(|over| over > MAX_DRAIN) {
        return;
    }
    let read = async {
        let mut drained = 0u64;
        while let Some(Ok(chunk)) = stream.next().await {
            drained += chunk.len() as u64;
            if drained > MAX_DRAIN {
                return;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, read).await;
}

/// Authenticates, checks that `path` is a public procedure of the endpoint's kind, runs it
/// (a query at `snapshot` if one is given), and answers in Convex's format.
async fn call(
    state: &AppState,
    kind: Option<ProcedureKind>,
    path: &str,
    args: Value,
    format: Format,
    headers: &HeaderMap,
    snapshot: Option<Arc<RetainedSnapshot>>,
) -> Response {
    let identity = match state.auth.authenticate(headers).await {
        Ok(identity) => identity,
        Err(e) => return auth_error(&e),
    };
    let path = wire::canonical_path(path);
    let info = match state.runtime.procedure(&path) {
        Ok(info) if info.visibility == Visibility::Public => info,
        _ => return ApiError::not_found(&path).into_response(),
    };
    if let Some(expected) = kind
        && expected != info.kind
    {
        return ApiError::bad_request(
            "WrongFunctionKind",
            format!(
                "'{path}' is a {}, but was called as a {expected}: use /api/{}",
                info.kind,
                info.kind.as_str()
            ),
        )
        .into_response();
    }
    let args = if state.transformer.has_custom_codecs() {
        match state.transformer.deserialize(args) {
            Ok(args) => args,
            Err(e) => {
                return ApiError::bad_request("BadArgs", format!("invalid arguments: {e}"))
                    .into_response();
            }
        }
    } else {
        args
    };
    let runtime = match identity {
        Some(identity) => state.runtime.with_identity(identity),
        None => state.runtime.clone(),
    };
    let outcome = match snapshot {
        Some(snapshot) => runtime.run_query_at_logged(snapshot, &path, args).await,
        None => runtime.run_value_logged(Some(info.kind), &path, args).await,
    };
    match answer(state, &path, format, outcome.result) {
        Answer::Value(value) => respond::success(&value, &outcome.log_lines),
        Answer::Failed { message, data } => {
            respond::function_failed(message, data, outcome.log_lines)
        }
        Answer::Refused(refused) => refused.into_response(),
    }
}

/// What a call's result becomes on the wire, for the HTTP API and the sync protocol alike.
pub(crate) enum Answer {
    /// The procedure returned this (encoded) value.
    Value(serde_json::Value),
    /// The procedure failed: its message and, for a user error (`ConvexError`), its
    /// encoded data. Other errors are `"Server Error"` outside development mode.
    Failed {
        message: String,
        data: Option<serde_json::Value>,
    },
    /// The call was refused before its procedure ran (invalid arguments, database
    /// unavailable...).
    Refused(ApiError),
}

/// Encodes `result` (of the procedure at `path`) for a client, in `format`.
pub(crate) fn answer(
    state: &AppState,
    path: &str,
    format: Format,
    result: Result<Value, Error>,
) -> Answer {
    let encode = |value: Value| format.encode(&state.transformer.serialize(value));
    match result {
        Ok(value) => Answer::Value(encode(value)),
        Err(error) => {
            if let Some(refused) = ApiError::before_running(&error) {
                return Answer::Refused(refused);
            }
            match error {
                Error::User { message, data } => {
                    // Convex's `ConvexError(message)` carries its message as data.
                    let data = data.unwrap_or_else(|| Value::String(message.clone()));
                    Answer::Failed {
                        message,
                        data: Some(encode(data)),
                    }
                }
                other => {
                    tracing::error!(target: "convoke::http", path = %path, error = %other, "function failed");
                    let message = if state.development {
                        other.to_string()
                    } else {
                        "Server Error".to_owned()
                    };
                    Answer::Failed {
                        message,
                        data: None,
                    }
                }
            }
        }
    }
}

fn auth_error(error: &AuthError) -> Response {
    if error.is_jwks() {
        tracing::error!(target: "convoke::http", error = %error, "auth provider unavailable");
        return ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            error.code(),
            error.to_string(),
        )
        .into_response();
    }
    ApiError::unauthorized(error).into_response()
}

async fn not_found(State(state): State<Shared>, request: Request) -> Response {
    let response = ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFound",
        "no such endpoint: the API is POST /api/query, /api/mutation, /api/action, \
         /api/function, /api/run/{module}/{function}, /api/query_ts, /api/query_at_ts \
         and GET /api/query",
    )
    .into_response();
    state.cors.apply(request.headers(), response)
}

async fn method_not_allowed(State(state): State<Shared>, request: Request) -> Response {
    let response = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        "method not allowed: call functions with POST (queries also with GET)",
    )
    .into_response();
    state.cors.apply(request.headers(), response)
}
