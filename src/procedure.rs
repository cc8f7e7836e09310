//! What a procedure is: its marker type, its kind, and how the runtime invokes it.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::ctx::{ActionCtx, MutationCtx, QueryCtx};
use crate::error::Result;

/// The three kinds of procedure, as in Convex.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcedureKind {
    /// Reads the database in one transaction; deterministic and read-only.
    Query,
    /// Reads and writes the database in one transaction, committed atomically.
    Mutation,
    /// Runs arbitrary code; reaches the database only through queries and mutations.
    Action,
}

impl ProcedureKind {
    /// `"query"`, `"mutation"` or `"action"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcedureKind::Query => "query",
            ProcedureKind::Mutation => "mutation",
            ProcedureKind::Action => "action",
        }
    }
}

impl fmt::Display for ProcedureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Who may call a procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Visibility {
    /// Callable in-process and by remote clients (HTTP).
    Public,
    /// Callable in-process only: `#[procedure(query, internal)]`.
    Internal,
}

/// A procedure, as described by the marker type `#[procedure]` generates.
///
/// For `pub async fn get_team(..)` the macro defines a type `get_team` (in the type
/// namespace, beside the function) implementing this trait and the trait of its kind.
/// `teams::get_team` in an expression is the function; in a type, it is the marker.
///
/// ```standalone_crate
/// mod teams {
///     use convoke::{QueryCtx, Result, procedure};
///     convoke::module!(teams);
///
///     #[procedure(query, internal, name = "countTeams")]
///     pub async fn count_teams(_ctx: &QueryCtx<'_>) -> Result<u32> {
///         Ok(0)
///     }
/// }
///
/// use convoke::{Procedure, ProcedureKind, Visibility};
/// type P = teams::count_teams;
/// assert_eq!(P::KIND, ProcedureKind::Query);
/// assert_eq!(P::VISIBILITY, Visibility::Internal);
/// assert_eq!(P::NAME, "countTeams");
/// assert_eq!(P::path(), "teams:countTeams");
/// ```
pub trait Procedure: Send + Sync + 'static {
    /// The argument type; `()` for a procedure without arguments.
    type Args: Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The type of the value the procedure returns on success.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// Query, mutation or action.
    const KIND: ProcedureKind;
    /// Public or internal.
    const VISIBILITY: Visibility;
    /// The exported name: the function's name, or the `name = ".."` option.
    const NAME: &'static str;
    /// The full path in Convex's format: `"teams:get_team"`, `"items/queries:get"`.
    fn path() -> &'static str;
}

/// A query procedure: runs with a [`QueryCtx`]. Implemented by `#[procedure(query)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a query",
    label = "expected a query procedure",
    note = "use the entry point of the procedure's kind: `query`, `mutation` or `action`"
)]
pub trait QueryProcedure: Procedure {
    /// Runs the handler in the given context.
    fn run<'a, 't>(
        ctx: &'a QueryCtx<'t>,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output>> + Send + 'a;
}

/// A mutation procedure: runs with a [`MutationCtx`]. Implemented by
/// `#[procedure(mutation)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a mutation",
    label = "expected a mutation procedure",
    note = "use the entry point of the procedure's kind: `query`, `mutation` or `action`"
)]
pub trait MutationProcedure: Procedure {
    /// Runs the handler in the given context.
    fn run<'a, 't>(
        ctx: &'a MutationCtx<'t>,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output>> + Send + 'a;

    /// Copies the arguments, so that a mutation can be re-run after a conflict.
    fn clone_args(args: &Self::Args) -> Self::Args;
}

/// An action procedure: runs with an [`ActionCtx`]. Implemented by `#[procedure(action)]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an action",
    label = "expected an action procedure",
    note = "use the entry point of the procedure's kind: `query`, `mutation` or `action`"
)]
pub trait ActionProcedure: Procedure {
    /// Runs the handler in the given context.
    fn run<'a>(
        ctx: &'a ActionCtx,
        args: Self::Args,
    ) -> impl Future<Output = Result<Self::Output>> + Send + 'a;
}

pin_project_lite::pin_project! {
    /// The future a `#[procedure]` function returns: the handler's own future, tagged with
    /// the procedure's marker type `P`.
    ///
    /// Awaiting it is exactly awaiting the handler ("handler mode"); the tag is what lets
    /// typed entry points such as `rt.query(teams::get_team, args)` find the procedure from
    /// the function alone.
    #[must_use = "futures do nothing unless awaited"]
    pub struct ProcedureFuture<P, F> {
        #[pin]
        inner: F,
        procedure: PhantomData<fn() -> P>,
    }
}

impl<P, F> ProcedureFuture<P, F> {
    /// Wraps a handler's future. Used by generated code.
    #[doc(hidden)]
    pub fn new(inner: F) -> Self {
        ProcedureFuture {
            inner,
            procedure: PhantomData,
        }
    }
}

impl<P, F: Future> Future for ProcedureFuture<P, F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

/// A procedure function used as a typed handle: `rt.query(teams::get_team, args)`.
///
/// Implemented for every `#[procedure]` function; `M` only tells the function's arity apart
/// and is always inferred.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a procedure",
    label = "expected a function declared with `#[procedure]`",
    note = "pass the procedure function itself, e.g. `rt.query(teams::get_team, args)`"
)]
pub trait Handler<M>: Copy + Send + Sync + 'static {
    /// The procedure's marker type.
    type Procedure: Procedure;
}

impl<F, C, P, Fut> Handler<(C,)> for F
where
    F: Fn(&'static C) -> ProcedureFuture<P, Fut> + Copy + Send + Sync + 'static,
    C: 'static,
    P: Procedure,
{
    type Procedure = P;
}

impl<F, C, A, P, Fut> Handler<(C, A)> for F
where
    F: Fn(&'static C, A) -> ProcedureFuture<P, Fut> + Copy + Send + Sync + 'static,
    C: 'static,
    P: Procedure,
{
    type Procedure = P;
}

impl<F, C, V, A, P, Fut> Handler<(C, V, A)> for F
where
    F: Fn(&'static C, V, A) -> ProcedureFuture<P, Fut> + Copy + Send + Sync + 'static,
    C: 'static,
    P: Procedure,
{
    type Procedure = P;
}

/// Builds a procedure path from a `module_path!()` and a name, Convex-style:
/// `"app::items::queries"` and `"get"` give `"items/queries:get"`.
///
/// The first segment (the crate) is dropped; a procedure at the crate root is named by the
/// crate alone.
#[doc(hidden)]
pub fn procedure_path(module_path: &str, name: &str) -> String {
    let mut segments = module_path.split("::");
    let krate = segments.next().unwrap_or_default();
    let rest: Vec<&str> = segments.collect();
    let module = if rest.is_empty() {
        krate.to_owned()
    } else {
        rest.join("/")
    };
    format!("{module}:{name}")
}

#[cfg(test)]
mod tests {
    use super::procedure_path;

    #[test]
    fn paths_follow_convex() {
        assert_eq!(procedure_path("app::teams", "get_team"), "teams:get_team");
        assert_eq!(
            procedure_path("app::items::queries", "get"),
            "items/queries:get"
        );
        assert_eq!(procedure_path("app", "ping"), "app:ping");
    }
}
