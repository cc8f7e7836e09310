//! The caller factory (kitcn's `createCallerFactory`): a deployment URL, a token getter,
//! an unauthorized predicate and a transformer, shared by every request of a server.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ::http::HeaderMap;

use super::context::{
    LazyCaller, RemoteCtx, ServerContext, TokenGetter, UnauthorizedPredicate, normalize_url,
    shared_client,
};
use super::error::RemoteError;
use crate::error::Error;
use crate::wire::Transformer;

/// What a token getter returns: the token for a request, if any, and whether it was just
/// issued.
///
/// A context retries an unauthorized call with a refreshed token only when its token was
/// *not* fresh: a token issued a moment ago that the server refuses will not do better the
/// second time.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Token {
    /// The JWT to send as `Authorization: Bearer <token>`; `None` calls anonymously.
    pub token: Option<String>,
    /// Whether the token was just issued (not taken from a cache or a cookie).
    pub is_fresh: bool,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("is_fresh", &self.is_fresh)
            .finish()
    }
}

impl Token {
    /// No token: calls are anonymous.
    pub fn none() -> Token {
        Token::default()
    }

    /// A token from a cache or a header, which may have expired.
    pub fn cached(token: impl Into<String>) -> Token {
        Token {
            token: Some(token.into()),
            is_fresh: false,
        }
    }

    /// A token that was just issued.
    pub fn fresh(token: impl Into<String>) -> Token {
        Token {
            token: Some(token.into()),
            is_fresh: true,
        }
    }
}

/// What a token getter is asked for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GetTokenOptions {
    /// `true` when the server refused the previous token: get a new one rather than a
    /// cached one.
    pub force_refresh: bool,
}

/// Creates remote contexts for incoming requests (kitcn's `createCallerFactory`).
///
/// Configure it once: the deployment URL, optionally a token getter
/// ([`get_token`](CallerFactory::get_token)) that finds the caller's token in the request
/// headers, an [`is_unauthorized`](CallerFactory::is_unauthorized) predicate and a
/// [`Transformer`]. Then, per request, [`create_context`](CallerFactory::create_context)
/// gives a [`ServerContext`] whose `caller` the generated module callers take, or
/// [`create_caller`](CallerFactory::create_caller) a [`LazyCaller`] that does so on first
/// use.
///
/// Cheap to clone; clones share one connection pool.
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
/// use convoke::remote::{CallerFactory, HeaderMap, Token};
///
/// let factory = CallerFactory::new("http://127.0.0.1:3210")?.get_token(|headers, _options| {
///     // Take the token from the incoming request (or exchange a session cookie for one).
///     let token = headers
///         .get("authorization")
///         .and_then(|v| v.to_str().ok())
///         .and_then(|v| v.strip_prefix("Bearer "))
///         .map(str::to_owned);
///     async move { Token { token, is_fresh: false } }
/// });
///
/// let headers = HeaderMap::new(); // the incoming request's headers
/// let ctx = factory.create_context(&headers).await;
/// let n = teams::create_teams_caller(&ctx.caller).count().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct CallerFactory {
    url: String,
    client: reqwest::Client,
    get_token: Option<Arc<TokenGetter>>,
    is_unauthorized: Arc<UnauthorizedPredicate>,
    transformer: Transformer,
    timeout: Option<Duration>,
}

impl fmt::Debug for CallerFactory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallerFactory")
            .field("url", &self.url)
            .field("get_token", &self.get_token.is_some())
            .field("transformer", &self.transformer)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl CallerFactory {
    /// A factory for the server at `deployment_url` (`http://127.0.0.1:3210`), without
    /// auth. Fails only if the URL is not an `http(s)://` URL.
    pub fn new(deployment_url: &str) -> Result<CallerFactory, RemoteError> {
        Ok(CallerFactory {
            url: normalize_url(deployment_url)?,
            client: shared_client(),
            get_token: None,
            is_unauthorized: Arc::new(|e: &Error| e.is_unauthorized()),
            transformer: Transformer::new(),
            timeout: None,
        })
    }

    /// How to find a request's token: `get_token(headers, options) -> Token`.
    ///
    /// It is called once per context, and again with `options.force_refresh` when the
    /// server refuses a token that was not fresh.
    #[must_use]
    pub fn get_token<F, Fut>(mut self, get_token: F) -> Self
    where
        F: Fn(&HeaderMap, GetTokenOptions) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Token> + Send + 'static,
    {
        self.get_token = Some(Arc::new(move |headers: &HeaderMap, options| {
            Box::pin(get_token(headers, options))
        }));
        self
    }

    /// Which errors mean "the token was refused" and may be retried with a refreshed one.
    /// The default is [`Error::is_unauthorized`]: an HTTP 401 from the server, which
    /// refuses a bad token before running anything.
    ///
    /// Only errors this predicate accepts are retried, once; a procedure's own errors are
    /// never replayed unless the predicate says they are auth failures.
    #[must_use]
    pub fn is_unauthorized(
        mut self,
        is_unauthorized: impl Fn(&Error) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.is_unauthorized = Arc::new(is_unauthorized);
        self
    }

    /// The value transformer for arguments and results (default: dates only; custom codecs
    /// add to it, see [`Transformer`]).
    #[must_use]
    pub fn transformer(mut self, transformer: Transformer) -> Self {
        self.transformer = transformer;
        self
    }

    /// A timeout for each HTTP request (default none).
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Uses this `reqwest` client (e.g. with a proxy or custom TLS roots).
    #[must_use]
    pub fn client(mut self, client: reqwest::Client) -> Self {
        self.client = client;
        self
    }

    /// The deployment URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The context for one request: asks the token getter (if any) for the token in
    /// `headers`, and returns it with the remote context that calls with it.
    pub async fn create_context(&self, headers: &HeaderMap) -> ServerContext {
        let token = match &self.get_token {
            Some(get_token) => get_token(headers, GetTokenOptions::default()).await,
            None => Token::none(),
        };
        let caller = RemoteCtx::build(
            self.client.clone(),
            self.url.clone(),
            self.transformer.clone(),
            self.timeout,
            token.clone(),
            self.get_token.clone().map(|g| (g, headers.clone())),
            self.is_unauthorized.clone(),
        );
        ServerContext {
            is_authenticated: token.token.is_some(),
            token: token.token,
            caller,
        }
    }

    /// A caller that creates its context from `headers` on first use.
    pub fn create_caller(&self, headers: HeaderMap) -> LazyCaller {
        LazyCaller::new(self.clone(), headers)
    }
}
