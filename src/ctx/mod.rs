//! The three contexts a procedure runs with, and the caller's identity.

mod auth;
mod dispatch;
mod log;

use std::fmt;
use std::sync::Arc;

pub use auth::{Auth, UserIdentity};
pub use log::LogLevel;
pub(crate) use log::LogLines;

use crate::caller::Call;
use crate::db::{DatabaseReader, DatabaseWriter, Transaction};
use crate::error::{Error, Result};
use crate::procedure::{ActionProcedure, Handler, MutationProcedure, Procedure, QueryProcedure};
use crate::runtime::Runtime;

/// What every call in one call chain shares: the runtime, the caller's identity, and where
/// log lines go.
pub(crate) struct CallEnv {
    pub(crate) runtime: Runtime,
    pub(crate) identity: Option<Arc<UserIdentity>>,
    pub(crate) logs: LogLines,
}

impl CallEnv {
    /// The depth a nested call to `P` would have, or the depth error.
    pub(crate) fn nested_depth<P: Procedure>(&self, depth: u32) -> Result<u32> {
        nested_depth::<P>(&self.runtime, depth)
    }
}

pub(crate) fn nested_depth<P: Procedure>(runtime: &Runtime, depth: u32) -> Result<u32> {
    let next = depth + 1;
    let max = runtime.max_call_depth();
    if next > max {
        Err(Error::DepthExceeded {
            path: P::path().to_owned(),
            depth: next,
            max,
        })
    } else {
        Ok(next)
    }
}

/// The context of a query: a read-only transaction on the database and the caller's
/// identity.
///
/// The first parameter of every `#[procedure(query)]`. Queries called from this context
/// (through a module caller) run in the same transaction, so everything the query reads
/// comes from one snapshot.
///
/// ```
/// # mod teams {
/// use convoke::{QueryCtx, Result, Table, procedure};
/// # convoke::module!(teams);
///
/// #[derive(serde::Serialize, serde::Deserialize, Table)]
/// #[table(name = "teams")]
/// pub struct Team { pub name: String }
///
/// /// The names of the teams, if the caller is signed in.
/// #[procedure(query)]
/// pub async fn team_names(ctx: &QueryCtx<'_>) -> Result<Vec<String>> {
///     if ctx.auth().user_identity().is_none() {
///         return Err(convoke::Error::user("sign in first"));
///     }
///     let teams = ctx.db().query::<Team>().collect().await?;
///     Ok(teams.into_iter().map(|team| team.into_inner().name).collect())
/// }
/// # }
/// # fn main() {}
/// ```
pub struct QueryCtx<'t> {
    pub(crate) tx: &'t Transaction,
    pub(crate) env: &'t CallEnv,
    pub(crate) depth: u32,
}

impl fmt::Debug for QueryCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueryCtx")
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl<'t> QueryCtx<'t> {
    pub(crate) fn new(tx: &'t Transaction, env: &'t CallEnv, depth: u32) -> Self {
        QueryCtx { tx, env, depth }
    }

    /// Reads the database, in this context's transaction (at its snapshot).
    pub fn db(&self) -> DatabaseReader<'_> {
        DatabaseReader::new(self.tx)
    }

    /// The identity of the caller, if one is authenticated.
    pub fn auth(&self) -> Auth<'_> {
        Auth::new(self.env.identity.as_deref())
    }

    /// Logs a line, like `console.log` in Convex: `[LOG] 'message'`. The lines of a call
    /// and of every call it makes reach an HTTP client in the response's `logLines`; every
    /// line is also a `tracing` event (target `convoke::log`).
    pub fn log(&self, message: impl fmt::Display) {
        self.env.logs.push(LogLevel::Log, &message);
    }

    /// Logs a line at a level: `ctx.log_at(LogLevel::Warn, "..")` gives `[WARN] '..'`.
    pub fn log_at(&self, level: LogLevel, message: impl fmt::Display) {
        self.env.logs.push(level, &message);
    }
}

/// The context of a mutation: a read-write transaction on the database and the caller's
/// identity.
///
/// The first parameter of every `#[procedure(mutation)]`. Queries called from this context
/// see its uncommitted writes; mutations called from it run in a savepoint of the same
/// transaction, so an inner mutation's `Err` undoes only its own writes. The transaction
/// commits when the outermost mutation returns `Ok`.
///
/// ```
/// # mod teams {
/// use convoke::{Id, MutationCtx, Result, Table, procedure};
/// # convoke::module!(teams);
///
/// #[derive(serde::Serialize, serde::Deserialize, Table)]
/// #[table(name = "teams")]
/// pub struct Team { pub name: String }
///
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// pub struct Rename { pub id: Id<Team>, pub name: String }
///
/// #[procedure(mutation)]
/// pub async fn rename(ctx: &MutationCtx<'_>, args: Rename) -> Result<()> {
///     if ctx.db().get(args.id).await?.is_none() {
///         return Err(convoke::Error::user("no such team"));
///     }
///     ctx.db().patch(args.id, &serde_json::json!({ "name": args.name })).await?;
///     Ok(())
/// }
/// # }
/// # fn main() {}
/// ```
pub struct MutationCtx<'t> {
    pub(crate) tx: &'t Transaction,
    pub(crate) env: &'t CallEnv,
    pub(crate) depth: u32,
}

impl fmt::Debug for MutationCtx<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MutationCtx")
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl<'t> MutationCtx<'t> {
    pub(crate) fn new(tx: &'t Transaction, env: &'t CallEnv, depth: u32) -> Self {
        MutationCtx { tx, env, depth }
    }

    /// Reads and writes the database, in this context's transaction. Reads see the
    /// transaction's own writes.
    pub fn db(&self) -> DatabaseWriter<'_> {
        DatabaseWriter::new(self.tx)
    }

    /// The identity of the caller, if one is authenticated.
    pub fn auth(&self) -> Auth<'_> {
        Auth::new(self.env.identity.as_deref())
    }

    /// Logs a line (see [`QueryCtx::log`]). Lines of a mutation attempt that conflicted
    /// and ran again are dropped; those of the attempt that counts are kept.
    pub fn log(&self, message: impl fmt::Display) {
        self.env.logs.push(LogLevel::Log, &message);
    }

    /// Logs a line at a level (see [`QueryCtx::log_at`]).
    pub fn log_at(&self, level: LogLevel, message: impl fmt::Display) {
        self.env.logs.push(level, &message);
    }
}

/// The context of an action: no transaction of its own; the database is reached only by
/// calling queries and mutations, each in its own transaction.
///
/// The first parameter of every `#[procedure(action)]`. Actions may do anything (call
/// outside services, wait, spawn tasks); each query or mutation they call runs in a
/// transaction of its own, and mutations are re-run on conflicts. Call other procedures
/// through the module callers, or with [`run_query`](ActionCtx::run_query),
/// [`run_mutation`](ActionCtx::run_mutation) and [`run_action`](ActionCtx::run_action).
///
/// An `ActionCtx` is cheap to clone and `'static`, so it can move into spawned tasks.
///
/// ```
/// # mod counters {
/// use convoke::{ActionCtx, MutationCtx, QueryCtx, Result, Table, procedure};
/// # convoke::module!(counters);
///
/// #[derive(serde::Serialize, serde::Deserialize, Table)]
/// #[table(name = "counters")]
/// pub struct Counter { pub value: i64 }
///
/// #[procedure(mutation)]
/// pub async fn add(ctx: &MutationCtx<'_>, value: i64) -> Result<()> {
///     ctx.db().insert(&Counter { value }).await?;
///     Ok(())
/// }
///
/// #[procedure(query)]
/// pub async fn total(ctx: &QueryCtx<'_>) -> Result<i64> {
///     let all = ctx.db().query::<Counter>().collect().await?;
///     Ok(all.iter().map(|c| c.value).sum())
/// }
///
/// /// Adds two counters in two transactions, then reads the total in a third.
/// #[procedure(action)]
/// pub async fn add_two(ctx: &ActionCtx) -> Result<i64> {
///     create_counters_caller(ctx).add(1).await?; // through the module caller
///     ctx.run_mutation(add, 2).await?; // or by function, like Convex's `ctx.runMutation`
///     ctx.run_query(total, ()).await
/// }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> convoke::Result<()> {
/// # let rt = convoke::Runtime::in_memory()?;
/// # assert_eq!(rt.action(counters::add_two, ()).await?, 3);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct ActionCtx {
    pub(crate) runtime: Runtime,
    pub(crate) identity: Option<Arc<UserIdentity>>,
    pub(crate) depth: u32,
    pub(crate) logs: LogLines,
}

impl fmt::Debug for ActionCtx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActionCtx")
            .field("identity", &self.identity)
            .field("depth", &self.depth)
            .finish_non_exhaustive()
    }
}

impl ActionCtx {
    pub(crate) fn new(
        runtime: Runtime,
        identity: Option<Arc<UserIdentity>>,
        depth: u32,
        logs: LogLines,
    ) -> Self {
        ActionCtx {
            runtime,
            identity,
            depth,
            logs,
        }
    }

    /// The identity of the caller, if one is authenticated.
    pub fn auth(&self) -> Auth<'_> {
        Auth::new(self.identity.as_deref())
    }

    /// Logs a line (see [`QueryCtx::log`]). The lines of the queries, mutations and
    /// actions this action calls are collected with its own.
    pub fn log(&self, message: impl fmt::Display) {
        self.logs.push(LogLevel::Log, &message);
    }

    /// Logs a line at a level (see [`QueryCtx::log_at`]).
    pub fn log_at(&self, level: LogLevel, message: impl fmt::Display) {
        self.logs.push(level, &message);
    }

    /// Runs a query in a fresh read transaction (Convex's `ctx.runQuery`).
    ///
    /// Module callers do the same with `create_<module>_caller(ctx).<query>(args)`.
    pub fn run_query<H, M>(
        &self,
        query: H,
        args: <H::Procedure as Procedure>::Args,
    ) -> Call<'_, <H::Procedure as Procedure>::Output>
    where
        H: Handler<M>,
        H::Procedure: QueryProcedure,
    {
        let _ = query;
        crate::matrix::CallQuery::call_query::<H::Procedure>(self, args)
    }

    /// Runs a mutation in a fresh transaction, re-run on conflicts (Convex's
    /// `ctx.runMutation`). Its writes stay committed whatever the action does next.
    pub fn run_mutation<H, M>(
        &self,
        mutation: H,
        args: <H::Procedure as Procedure>::Args,
    ) -> Call<'_, <H::Procedure as Procedure>::Output>
    where
        H: Handler<M>,
        H::Procedure: MutationProcedure,
    {
        let _ = mutation;
        crate::matrix::CallMutation::call_mutation::<H::Procedure>(self, args)
    }

    /// Runs another action (Convex's `ctx.runAction`), with this action's identity.
    ///
    /// Module callers do the same with `create_<module>_caller(ctx).actions().<action>(args)`.
    pub fn run_action<H, M>(
        &self,
        action: H,
        args: <H::Procedure as Procedure>::Args,
    ) -> Call<'_, <H::Procedure as Procedure>::Output>
    where
        H: Handler<M>,
        H::Procedure: ActionProcedure,
    {
        let _ = action;
        crate::matrix::CallAction::call_action::<H::Procedure>(self, args)
    }
}
