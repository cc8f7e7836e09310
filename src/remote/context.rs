//! The remote context: what generated module callers run on when the procedures are on a
//! convoke (or Convex) server, reached over its HTTP API.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ::http::HeaderMap;
use ::http::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::error::RemoteError;
use super::factory::{CallerFactory, GetTokenOptions, Token};
use crate::caller::Call;
use crate::error::{Error, Result};
use crate::procedure::{Procedure, ProcedureKind, Visibility};
use crate::value::{self, Value};
use crate::wire::response::{self, Outcome};
use crate::wire::{STATUS_FUNCTION_FAILED, Transformer, call};

pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub(crate) type TokenGetter =
    dyn Fn(&HeaderMap, GetTokenOptions) -> BoxFuture<'static, Token> + Send + Sync;
pub(crate) type UnauthorizedPredicate = dyn Fn(&Error) -> bool + Send + Sync;

/// The `Convex-Client` header convoke's callers send.
const CLIENT_HEADER: &str = concat!("convoke-rust-", env!("CARGO_PKG_VERSION"));

/// A context for calling the public procedures of a server over HTTP, with the generated
/// module callers: `create_teams_caller(&remote).get_team(args).await`.
///
/// It is what [`CallerFactory::create_context`] gives as `caller`, and what
/// [`fetch_query`](super::fetch_query) and friends use underneath. Calls through it follow
/// the remote row of the call matrix, checked at compile time: public queries and mutations
/// directly on the caller, public actions through `actions()`; internal procedures, root
/// actions and `schedule()` do not compile.
///
/// Arguments are serialized with [`value::to_value`] and sent in Convex's encoding
/// (`convex_encoded_json`), so integers, bytes and special floats survive the trip; the
/// result is decoded into the procedure's output type. A user error returned by the remote
/// procedure is [`Error::User`], with its data; everything else that goes wrong is
/// [`Error::Remote`], holding a [`RemoteError`] ([`RemoteError::of`]).
///
/// When the context came from a factory with a token getter and a call fails as
/// unauthorized (see [`CallerFactory::is_unauthorized`]) while its token was not fresh,
/// the context asks the getter for a fresh token once, retries the call once, and keeps the
/// new token for later calls. Other errors are never retried.
///
/// Cheap to clone: clones share the connection pool and the token.
///
/// ```no_run
/// # mod teams {
/// #     use convoke::{QueryCtx, Result, procedure};
/// #     convoke::module!(teams);
/// #     #[procedure(query)]
/// #     pub async fn count(_ctx: &QueryCtx<'_>) -> Result<u32> { Ok(3) }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> convoke::Result<()> {
/// use convoke::remote::RemoteCtx;
///
/// let remote = RemoteCtx::new("http://127.0.0.1:3210")?.with_auth_token("eyJ...");
/// let n = teams::create_teams_caller(&remote).count().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RemoteCtx {
    inner: Arc<Inner>,
}

struct Inner {
    client: reqwest::Client,
    base: String,
    transformer: Transformer,
    timeout: Option<Duration>,
    token: Mutex<TokenState>,
    refresh: Option<Refresh>,
    is_unauthorized: Arc<UnauthorizedPredicate>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Clone)]
struct TokenState {
    token: Option<String>,
    is_fresh: bool,
    /// Counts refreshes, so that concurrent calls refresh once.
    generation: u64,
}

struct Refresh {
    get_token: Arc<TokenGetter>,
    headers: HeaderMap,
}

impl fmt::Debug for RemoteCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteCtx")
            .field("url", &self.inner.base)
            .field("is_authenticated", &self.is_authenticated())
            .finish_non_exhaustive()
    }
}

/// Checks a deployment URL and returns it without trailing slashes.
pub(crate) fn normalize_url(url: &str) -> std::result::Result<String, RemoteError> {
    let trimmed = url.trim().trim_end_matches('/');
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("https://"))
        .ok_or_else(|| RemoteError::InvalidUrl {
            url: url.to_owned(),
            reason: "it must start with http:// or https://".to_owned(),
        })?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err(RemoteError::InvalidUrl {
            url: url.to_owned(),
            reason: "it has no host".to_owned(),
        });
    }
    if trimmed.starts_with("https://") && !cfg!(feature = "tls") {
        return Err(RemoteError::InvalidUrl {
            url: url.to_owned(),
            reason: "https needs convoke's `tls` feature".to_owned(),
        });
    }
    if trimmed.ends_with("/api") {
        return Err(RemoteError::InvalidUrl {
            url: url.to_owned(),
            reason: "give the deployment URL without /api".to_owned(),
        });
    }
    Ok(trimmed.to_owned())
}

/// The client every context shares unless a factory brings its own: one connection pool.
pub(crate) fn shared_client() -> reqwest::Client {
    static CLIENT: std::sync::OnceLock<reqwest::Client> = std::sync::OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new).clone()
}

impl RemoteCtx {
    /// A context for the server at `deployment_url` (`http://127.0.0.1:3210`), calling
    /// anonymously. Fails only if the URL is not an `http(s)://` URL.
    pub fn new(deployment_url: &str) -> std::result::Result<RemoteCtx, RemoteError> {
        Ok(RemoteCtx::build(
            shared_client(),
            normalize_url(deployment_url)?,
            Transformer::new(),
            None,
            Token::default(),
            None,
            Arc::new(|e: &Error| e.is_unauthorized()),
        ))
    }

    pub(crate) fn build(
        client: reqwest::Client,
        base: String,
        transformer: Transformer,
        timeout: Option<Duration>,
        token: Token,
        refresh: Option<(Arc<TokenGetter>, HeaderMap)>,
        is_unauthorized: Arc<UnauthorizedPredicate>,
    ) -> RemoteCtx {
        RemoteCtx {
            inner: Arc::new(Inner {
                client,
                base,
                transformer,
                timeout,
                token: Mutex::new(TokenState {
                    token: token.token,
                    is_fresh: token.is_fresh,
                    generation: 0,
                }),
                refresh: refresh.map(|(get_token, headers)| Refresh { get_token, headers }),
                is_unauthorized,
                refreshing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// This context, calling with `token` as `Authorization: Bearer <token>`.
    ///
    /// Returns a new context (the connection pool is shared); a context from a factory
    /// keeps its token getter.
    #[must_use]
    pub fn with_auth_token(&self, token: impl Into<String>) -> RemoteCtx {
        let inner = &self.inner;
        RemoteCtx::build(
            inner.client.clone(),
            inner.base.clone(),
            inner.transformer.clone(),
            inner.timeout,
            Token {
                token: Some(token.into()),
                is_fresh: false,
            },
            inner
                .refresh
                .as_ref()
                .map(|r| (r.get_token.clone(), r.headers.clone())),
            inner.is_unauthorized.clone(),
        )
    }

    /// This context, with another value transformer (see [`Transformer`]).
    #[must_use]
    pub fn with_transformer(&self, transformer: Transformer) -> RemoteCtx {
        let inner = &self.inner;
        let token = self.state();
        RemoteCtx::build(
            inner.client.clone(),
            inner.base.clone(),
            transformer,
            inner.timeout,
            Token {
                token: token.token,
                is_fresh: token.is_fresh,
            },
            inner
                .refresh
                .as_ref()
                .map(|r| (r.get_token.clone(), r.headers.clone())),
            inner.is_unauthorized.clone(),
        )
    }

    /// The deployment URL calls go to.
    pub fn url(&self) -> &str {
        &self.inner.base
    }

    /// The token calls carry now (after a refresh, the refreshed one).
    pub fn token(&self) -> Option<String> {
        self.state().token
    }

    /// Whether calls carry a token.
    pub fn is_authenticated(&self) -> bool {
        self.state().token.is_some()
    }

    fn state(&self) -> TokenState {
        self.inner
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Calls procedure `P` of kind `kind` with typed arguments and result.
    pub(crate) fn call_typed<P: Procedure>(
        &self,
        kind: ProcedureKind,
        args: P::Args,
    ) -> Call<'_, P::Output> {
        if P::VISIBILITY == Visibility::Internal {
            // The call matrix refuses this at compile time; `fetch_*` can only say it here.
            return Call::ready(Err(RemoteError::Internal {
                path: P::path().to_owned(),
            }
            .into()));
        }
        let args = match self.encode_args(P::path(), &args) {
            Ok(args) => args,
            Err(e) => return Call::ready(Err(e)),
        };
        Call::new(async move {
            let value = self.call_value(kind, P::path(), args).await?;
            decode_output::<P::Output>(self.url(), P::path(), value)
        })
    }

    /// Serializes arguments into the wire form.
    pub(crate) fn encode_args<A: serde::Serialize + ?Sized>(
        &self,
        path: &str,
        args: &A,
    ) -> Result<Json> {
        let value = value::to_value(args).map_err(|e| Error::InvalidArguments {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(value::to_convex_json(
            &self.inner.transformer.serialize(value),
        ))
    }

    /// Calls the procedure at `path` on the endpoint of `kind`, refreshing the token once
    /// if the server says it is unauthorized and it was not fresh.
    pub(crate) async fn call_value(
        &self,
        kind: ProcedureKind,
        path: &str,
        args: Json,
    ) -> Result<Value> {
        let state = self.state();
        let first = self.send(kind, path, &args, state.token.as_deref()).await;
        let Err(error) = first else {
            return first;
        };
        if state.is_fresh || self.inner.refresh.is_none() || !(self.inner.is_unauthorized)(&error) {
            return Err(error);
        }
        let token = self.refresh(state.generation).await;
        tracing::debug!(target: "convoke::remote", path, "unauthorized with a stale token: refreshed it, retrying once");
        self.send(kind, path, &args, token.as_deref()).await
    }

    /// Gets a fresh token from the getter, unless another call already did since
    /// `generation`; returns the token to retry with.
    async fn refresh(&self, generation: u64) -> Option<String> {
        let Some(refresh) = &self.inner.refresh else {
            return self.state().token;
        };
        let _refreshing = self.inner.refreshing.lock().await;
        let current = self.state();
        if current.generation != generation {
            return current.token;
        }
        let fresh = (refresh.get_token)(
            &refresh.headers,
            GetTokenOptions {
                force_refresh: true,
            },
        )
        .await;
        let mut state = self
            .inner
            .token
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        state.token = fresh.token;
        // A refreshed token is not refreshed again, whatever the getter says.
        state.is_fresh = true;
        state.generation += 1;
        state.token.clone()
    }

    async fn send(
        &self,
        kind: ProcedureKind,
        path: &str,
        args: &Json,
        token: Option<&str>,
    ) -> Result<Value> {
        let url = format!("{}/api/{}", self.inner.base, kind.as_str());
        let body = call::request_body(path, args);
        let mut request = self
            .inner
            .client
            .post(&url)
            .header(CONTENT_TYPE, "application/json")
            .header("Convex-Client", CLIENT_HEADER)
            .body(body.to_string());
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(timeout) = self.inner.timeout {
            request = request.timeout(timeout);
        }
        let transport = |source| {
            Error::from(RemoteError::Transport {
                url: url.clone(),
                source,
            })
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(transport)?;
        if status != 200 && status != STATUS_FUNCTION_FAILED {
            let (code, message) = response::parse_refusal(status, &bytes);
            return Err(RemoteError::Status {
                status,
                code,
                message,
            }
            .into());
        }
        let invalid = |reason: String| {
            Error::from(RemoteError::InvalidResponse {
                url: url.clone(),
                reason,
            })
        };
        let body = response::parse_response(&bytes).map_err(invalid)?;
        for line in &body.log_lines {
            tracing::info!(target: "convoke::remote", path, "{line}");
        }
        let decode = |json: Json| {
            value::from_convex_json(json)
                .and_then(|v| self.inner.transformer.deserialize(v))
                .map_err(|e| invalid(format!("a value is not in Convex's encoding: {e}")))
        };
        match body.outcome {
            Outcome::Success(value) => decode(value),
            Outcome::Failed {
                message,
                data: Some(data),
            } => {
                let data = decode(data)?;
                // `Error::user(message)` travels with its message as data (Convex's
                // `new ConvexError(message)`): bring it back without data.
                let data = (data.as_str() != Some(message.as_str())).then_some(data);
                Err(Error::User { message, data })
            }
            Outcome::Failed {
                message,
                data: None,
            } => Err(RemoteError::FunctionFailed {
                path: path.to_owned(),
                message,
            }
            .into()),
        }
    }
}

pub(crate) fn decode_output<T: DeserializeOwned>(url: &str, path: &str, value: Value) -> Result<T> {
    value::from_value(value).map_err(|e| {
        Error::from(RemoteError::InvalidResponse {
            url: url.to_owned(),
            reason: format!("the result of '{path}' does not fit its Rust type: {e}"),
        })
    })
}

/// What [`CallerFactory::create_context`] returns: the token it found, whether there is
/// one, and the remote context to call with (the `ConvexContext` of kitcn's cRPC server caller).
///
/// ```no_run
/// # mod teams {
/// #     use convoke::{QueryCtx, Result, procedure};
/// #     convoke::module!(teams);
/// #     #[procedure(query)]
/// #     pub async fn count(_ctx: &QueryCtx<'_>) -> Result<u32> { Ok(3) }
/// # }
/// # async fn handler(headers: convoke::remote::HeaderMap) -> convoke::Result<()> {
/// use convoke::remote::CallerFactory;
///
/// let factory = CallerFactory::new("http://127.0.0.1:3210")?;
/// let ctx = factory.create_context(&headers).await;
/// if !ctx.is_authenticated {
///     // redirect to the sign-in page
/// }
/// let n = teams::create_teams_caller(&ctx.caller).count().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ServerContext {
    /// The token from the getter, if any.
    pub token: Option<String>,
    /// Whether there is a token.
    pub is_authenticated: bool,
    /// The remote context: `create_<module>_caller(&ctx.caller)`.
    pub caller: RemoteCtx,
}

impl fmt::Debug for ServerContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerContext")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("is_authenticated", &self.is_authenticated)
            .field("caller", &self.caller)
            .finish()
    }
}

/// A remote caller that creates its [`ServerContext`] on first use (kitcn's
/// `createCaller`): handlers that may not call anything pay nothing.
///
/// Module callers take it like any context: `create_teams_caller(&lazy).get_team(args)`.
pub struct LazyCaller {
    factory: CallerFactory,
    headers: HeaderMap,
    context: tokio::sync::OnceCell<ServerContext>,
}

impl fmt::Debug for LazyCaller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyCaller")
            .field("context", &self.context.get())
            .finish_non_exhaustive()
    }
}

impl LazyCaller {
    pub(crate) fn new(factory: CallerFactory, headers: HeaderMap) -> Self {
        LazyCaller {
            factory,
            headers,
            context: tokio::sync::OnceCell::new(),
        }
    }

    /// The context, created now if this is the first use.
    pub async fn context(&self) -> &ServerContext {
        self.context
            .get_or_init(|| self.factory.create_context(&self.headers))
            .await
    }

    /// Whether the context was created already.
    pub fn is_initialized(&self) -> bool {
        self.context.initialized()
    }

    pub(crate) fn call_typed<P: Procedure>(
        &self,
        kind: ProcedureKind,
        args: P::Args,
    ) -> Call<'_, P::Output> {
        Call::new(async move {
            self.context()
                .await
                .caller
                .call_typed::<P>(kind, args)
                .await
        })
    }
}
