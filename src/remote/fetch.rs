//! One-off calls from server code (the `better-convex-nuxt` module's `fetchQuery`, `fetchMutation`,
//! `fetchAction`): a deployment URL, a procedure, arguments and [`FetchOptions`].

use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::{RemoteCtx, decode_output};
use super::error::RemoteError;
use crate::error::{Error, Result};
use crate::procedure::{
    ActionProcedure, Handler, MutationProcedure, Procedure, ProcedureKind, QueryProcedure,
    Visibility,
};
use crate::value::Value;

/// Options of [`fetch_query`], [`fetch_mutation`] and [`fetch_action`].
///
/// ```
/// use convoke::remote::FetchOptions;
/// let options = FetchOptions { auth_token: Some("eyJ...".into()), verbose: true };
/// let anonymous = FetchOptions::default();
/// # let _ = (options, anonymous);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct FetchOptions {
    /// The JWT to call with; without it the call is anonymous.
    pub auth_token: Option<String>,
    /// Log the call's start, success and failure, with its path and duration, as `tracing`
    /// events (target `convoke::remote`, level `INFO`, failures `WARN`).
    pub verbose: bool,
}

impl std::fmt::Debug for FetchOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FetchOptions")
            .field(
                "auth_token",
                &self.auth_token.as_ref().map(|_| "<redacted>"),
            )
            .field("verbose", &self.verbose)
            .finish()
    }
}

/// Marks a procedure named by a path string (`"teams:getTeam"`) rather than by its function.
#[derive(Debug)]
pub enum ByPath {}

/// What `fetch_*` can call: a procedure function (`teams::get_team`: typed arguments and
/// result) or a path (`"teams:getTeam"`: JSON arguments and result).
///
/// `M` tells the two apart and is always inferred.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is neither a procedure function nor a path",
    label = "expected a `#[procedure]` function or a path such as \"teams:getTeam\"",
    note = "pass the function itself (`teams::get_team`) or its path as a string"
)]
pub trait FunctionRef<M> {
    /// The argument type.
    type Args: Serialize + Send;
    /// The result type.
    type Output: DeserializeOwned;
    /// The procedure's path.
    fn path(&self) -> &str;
    /// Whether the procedure is known to be internal.
    fn is_internal(&self) -> bool;
}

impl<H: Handler<M>, M> FunctionRef<M> for H {
    type Args = <H::Procedure as Procedure>::Args;
    type Output = <H::Procedure as Procedure>::Output;
    fn path(&self) -> &str {
        <H::Procedure as Procedure>::path()
    }
    fn is_internal(&self) -> bool {
        <H::Procedure as Procedure>::VISIBILITY == Visibility::Internal
    }
}

impl FunctionRef<ByPath> for &str {
    type Args = serde_json::Value;
    type Output = serde_json::Value;
    fn path(&self) -> &str {
        self
    }
    fn is_internal(&self) -> bool {
        false
    }
}

impl FunctionRef<ByPath> for String {
    type Args = serde_json::Value;
    type Output = serde_json::Value;
    fn path(&self) -> &str {
        self
    }
    fn is_internal(&self) -> bool {
        false
    }
}

/// A [`FunctionRef`] to a query: a query function, or a path.
pub trait QueryRef<M>: FunctionRef<M> {}
impl<H: Handler<M>, M> QueryRef<M> for H where H::Procedure: QueryProcedure {}
impl QueryRef<ByPath> for &str {}
impl QueryRef<ByPath> for String {}

/// A [`FunctionRef`] to a mutation: a mutation function, or a path.
pub trait MutationRef<M>: FunctionRef<M> {}
impl<H: Handler<M>, M> MutationRef<M> for H where H::Procedure: MutationProcedure {}
impl MutationRef<ByPath> for &str {}
impl MutationRef<ByPath> for String {}

/// A [`FunctionRef`] to an action: an action function, or a path.
pub trait ActionRef<M>: FunctionRef<M> {}
impl<H: Handler<M>, M> ActionRef<M> for H where H::Procedure: ActionProcedure {}
impl ActionRef<ByPath> for &str {}
impl ActionRef<ByPath> for String {}

/// Runs a public query on the server at `url` (the `better-convex-nuxt` module's `fetchQuery`).
///
/// `query` is a query function (typed arguments and result) or a path (JSON arguments and
/// result). Errors are those of a remote call (see [`RemoteCtx`]): a user error is
/// [`Error::User`] with its data.
///
/// ```no_run
/// # mod posts {
/// #     use convoke::{QueryCtx, Result, procedure};
/// #     convoke::module!(posts);
/// #     #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// #     pub struct List { pub status: String }
/// #     #[procedure(query)]
/// #     pub async fn list(_ctx: &QueryCtx<'_>, _args: List) -> Result<Vec<String>> { Ok(vec![]) }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> convoke::Result<()> {
/// use convoke::remote::{FetchOptions, fetch_query};
///
/// let url = "http://127.0.0.1:3210";
/// let list = posts::List { status: "published".into() };
/// let posts: Vec<String> = fetch_query(url, posts::list, list, FetchOptions::default()).await?;
///
/// // By path, with JSON.
/// let json = fetch_query(url, "posts:list", serde_json::json!({ "status": "published" }),
///     FetchOptions { verbose: true, ..Default::default() }).await?;
/// # Ok(())
/// # }
/// ```
pub async fn fetch_query<F: QueryRef<M>, M>(
    url: &str,
    query: F,
    args: F::Args,
    options: FetchOptions,
) -> Result<F::Output> {
    fetch(url, ProcedureKind::Query, &query, args, options).await
}

/// Runs a public mutation on the server at `url` (the `better-convex-nuxt` module's `fetchMutation`). See
/// [`fetch_query`].
pub async fn fetch_mutation<F: MutationRef<M>, M>(
    url: &str,
    mutation: F,
    args: F::Args,
    options: FetchOptions,
) -> Result<F::Output> {
    fetch(url, ProcedureKind::Mutation, &mutation, args, options).await
}

/// Runs a public action on the server at `url` (the `better-convex-nuxt` module's `fetchAction`). See
/// [`fetch_query`].
pub async fn fetch_action<F: ActionRef<M>, M>(
    url: &str,
    action: F,
    args: F::Args,
    options: FetchOptions,
) -> Result<F::Output> {
    fetch(url, ProcedureKind::Action, &action, args, options).await
}

async fn fetch<F: FunctionRef<M>, M>(
    url: &str,
    kind: ProcedureKind,
    function: &F,
    args: F::Args,
    options: FetchOptions,
) -> Result<F::Output> {
    let path = function.path().to_owned();
    let label = label(kind);
    let started = Instant::now();
    let result = fetch_inner(url, kind, function, &path, args, &options).await;
    if options.verbose {
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        match &result {
            Ok(_) => tracing::info!(
                target: "convoke::remote",
                path = %path,
                duration_ms = ms,
                "[{label}] {path}: Success in {ms:.1} ms"
            ),
            Err(e) => tracing::warn!(
                target: "convoke::remote",
                path = %path,
                duration_ms = ms,
                error = %e,
                "[{label}] {path}: Error after {ms:.1} ms: {e}"
            ),
        }
    }
    result
}

async fn fetch_inner<F: FunctionRef<M>, M>(
    url: &str,
    kind: ProcedureKind,
    function: &F,
    path: &str,
    args: F::Args,
    options: &FetchOptions,
) -> Result<F::Output> {
    let mut remote = RemoteCtx::new(url).map_err(Error::from)?;
    if let Some(token) = &options.auth_token {
        remote = remote.with_auth_token(token.clone());
    }
    let wire = remote.encode_args(path, &args)?;
    if options.verbose {
        let label = label(kind);
        tracing::info!(
            target: "convoke::remote",
            path = %path,
            has_auth = options.auth_token.is_some(),
            "[{label}] {path}: Starting {{ args: {wire}, hasAuth: {} }}",
            options.auth_token.is_some()
        );
    }
    if function.is_internal() {
        return Err(RemoteError::Internal {
            path: path.to_owned(),
        }
        .into());
    }
    let value: Value = remote.call_value(kind, path, wire).await?;
    decode_output(remote.url(), path, value)
}

/// The Nuxt module's name for the entry point, used in verbose logs.
fn label(kind: ProcedureKind) -> &'static str {
    match kind {
        ProcedureKind::Query => "fetchQuery",
        ProcedureKind::Mutation => "fetchMutation",
        ProcedureKind::Action => "fetchAction",
    }
}
