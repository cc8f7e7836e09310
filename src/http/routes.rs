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
use axum::routing::post;
use futures::StreamExt;

use super::auth::{AuthError, Authenticator};
use super::config::Cors;
use super::error::ApiError;
use super::wire::{self, Format};
use crate::error::Error;
use crate::procedure::{ProcedureKind, Visibility};
use crate::remote::Transformer;
use crate::runtime::Runtime;
use crate::value::Value;

/// What every handler shares.
pub(crate) struct AppState {
    pub(crate) runtime: Runtime,
    pub(crate) auth: Authenticator,
    pub(crate) development: bool,
    pub(crate) body_limit: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) cors: Cors,
    pub(crate) transformer: Transformer,
}

type Shared = Arc<AppState>;

/// The router: `/api/query` (POST and GET), `/api/mutation`, `/api/action`,
/// `/api/function` and `/api/run/{module}/{fn}`, with CORS preflights, and a JSON 404 and
/// 405 for anything else.
pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/api/query", post(query).get(query_get).options(preflight))
        .route("/api/mutation", post(mutation).options(preflight))
        .route("/api/action", post(action).options(preflight))
        .route("/api/function", post(function).options(preflight))
        .route("/api/run/{*path}", post(run_by_url).options(preflight))
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
        call(state, kind, &path, request.args, request.format, &parts.headers).await
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
                )
                .await
            }
            Err(e) => e.into_response(),
        }
    })
    .await
}

/// Reads the body, refusing more than `limit` bytes with 413 (at once when the declared
/// length says so).
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
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let unreadable = |e: axum::Error| {
        ApiError::bad_request(
            "BadRequestBody",
            format!("could not read the request body: {e}"),
        )
    };
    let mut stream = body.into_data_stream();
    let Some(first) = stream.next().await.transpose().map_err(unreadable)? else {
        return Ok(Bytes::new());
    };
    if first.len() > limit {
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
            return Err(too_large());
        }
        all.extend_from_slice(&chunk);
        next = stream.next().await.transpose().map_err(unreadable)?;
    }
    Ok(Bytes::from(all))
}

/// Authenticates, checks that `path` is a public procedure of the endpoint's kind, runs it,
/// and answers in Convex's format.
async fn call(
    state: &AppState,
    kind: Option<ProcedureKind>,
    path: &str,
    args: Value,
    format: Format,
    headers: &HeaderMap,
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
    let outcome = match identity {
        Some(identity) => {
            state
                .runtime
                .with_identity(identity)
                .run_value_logged(Some(info.kind), &path, args)
                .await
        }
        None => {
            state
                .runtime
                .run_value_logged(Some(info.kind), &path, args)
                .await
        }
    };
    let encode = |value: Value| format.encode(&state.transformer.serialize(value));
    match outcome.result {
        Ok(value) => wire::success(&encode(value), &outcome.log_lines),
        Err(error) => {
            if let Some(refused) = ApiError::before_running(&error) {
                return refused.into_response();
            }
            match error {
                Error::User { message, data } => {
                    // Convex's `ConvexError(message)` carries its message as data.
                    let data = data.unwrap_or_else(|| Value::String(message.clone()));
                    wire::function_failed(message, Some(encode(data)), outcome.log_lines)
                }
                other => {
                    tracing::error!(target: "convoke::http", path = %path, error = %other, "function failed");
                    let message = if state.development {
                        other.to_string()
                    } else {
                        "Server Error".to_owned()
                    };
                    wire::function_failed(message, None, outcome.log_lines)
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
         /api/function, /api/run/{module}/{function} and GET /api/query",
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
