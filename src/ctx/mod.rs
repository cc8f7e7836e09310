//! The three contexts a procedure runs with, and the caller's identity.

mod auth;

use std::sync::Arc;

pub use auth::{Auth, UserIdentity};

use crate::db::{DatabaseReader, DatabaseWriter, Transaction};
use crate::error::{Error, Result};
use crate::procedure::{ActionProcedure, Handler, MutationProcedure, Procedure, QueryProcedure};
use crate::runtime::Runtime;

/// What every call in one call chain shares: the runtime and the caller's identity.
pub(crate) struct CallEnv {
    pub(crate) runtime: Runtime,
    pub(crate) identity: Option<Arc<UserIdentity>>,
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
/// Queries called from this context (through a module caller) run in the same transaction.
/// ```
/// # use convoke::{QueryCtx, Result};
/// async fn handler(ctx: &QueryCtx<'_>) -> Result<bool> {
///     Ok(ctx.auth().user_identity().is_some())
/// }
/// ```
pub struct QueryCtx<'t> {
    pub(crate) tx: &'t Transaction,
    pub(crate) env: &'t CallEnv,
    pub(crate) depth: u32,
}

impl<'t> QueryCtx<'t> {
    pub(crate) fn new(tx: &'t Transaction, env: &'t CallEnv, depth: u32) -> Self {
        QueryCtx { tx, env, depth }
    }

    /// Reads the database, in this context's transaction.
    pub fn db(&self) -> DatabaseReader<'_> {
        DatabaseReader::new(self.tx)
    }

    /// The identity of the caller, if one is authenticated.
    pub fn auth(&self) -> Auth<'_> {
        Auth::new(self.env.identity.as_deref())
    }
}

/// The context of a mutation: a read-write transaction on the database and the caller's
/// identity.
///
/// Queries called from this context see its uncommitted writes; mutations called from it run
/// in a savepoint of the same transaction, so an inner mutation's `Err` undoes only its own
/// writes.
pub struct MutationCtx<'t> {
    pub(crate) tx: &'t Transaction,
    pub(crate) env: &'t CallEnv,
    pub(crate) depth: u32,
}

impl<'t> MutationCtx<'t> {
    pub(crate) fn new(tx: &'t Transaction, env: &'t CallEnv, depth: u32) -> Self {
        MutationCtx { tx, env, depth }
    }

    /// Reads and writes the database, in this context's transaction.
    pub fn db(&self) -> DatabaseWriter<'_> {
        DatabaseWriter::new(self.tx)
    }

    /// The identity of the caller, if one is authenticated.
    pub fn auth(&self) -> Auth<'_> {
        Auth::new(self.env.identity.as_deref())
    }
}

/// The context of an action: no transaction of its own; the database is reached only by
/// calling queries and mutations, each in its own transaction.
///
/// An `ActionCtx` is cheap to clone and `'static`, so it can move into spawned tasks.
#[derive(Clone)]
pub struct ActionCtx {
    pub(crate) runtime: Runtime,
    pub(crate) identity: Option<Arc<UserIdentity>>,
    pub(crate) depth: u32,
}

impl ActionCtx {
    pub(crate) fn new(runtime: Runtime, identity: Option<Arc<UserIdentity>>, depth: u32) -> Self {
        ActionCtx {
            runtime,
            identity,
            depth,
        }
    }

    /// The identity of the caller, if one is authenticated.
    pub fn auth(&self) -> Auth<'_> {
        Auth::new(self.identity.as_deref())
    }

    /// Runs a query in a fresh read transaction (Convex's `ctx.runQuery`).
    ///
    /// Module callers do the same with `create_<module>_caller(ctx).<query>(args)`.
    pub async fn run_query<H, M>(
        &self,
        query: H,
        args: <H::Procedure as Procedure>::Args,
    ) -> Result<<H::Procedure as Procedure>::Output>
    where
        H: Handler<M>,
        H::Procedure: QueryProcedure,
    {
        let _ = query;
        let depth = nested_depth::<H::Procedure>(&self.runtime, self.depth)?;
        self.runtime
            .execute_query::<H::Procedure>(args, self.identity.clone(), depth)
            .await
    }

    /// Runs a mutation in a fresh transaction, re-run on conflicts (Convex's
    /// `ctx.runMutation`). Its writes stay committed whatever the action does next.
    pub async fn run_mutation<H, M>(
        &self,
        mutation: H,
        args: <H::Procedure as Procedure>::Args,
    ) -> Result<<H::Procedure as Procedure>::Output>
    where
        H: Handler<M>,
        H::Procedure: MutationProcedure,
    {
        let _ = mutation;
        let depth = nested_depth::<H::Procedure>(&self.runtime, self.depth)?;
        self.runtime
            .execute_mutation::<H::Procedure>(args, self.identity.clone(), depth)
            .await
    }

    /// Runs another action (Convex's `ctx.runAction`).
    pub async fn run_action<H, M>(
        &self,
        action: H,
        args: <H::Procedure as Procedure>::Args,
    ) -> Result<<H::Procedure as Procedure>::Output>
    where
        H: Handler<M>,
        H::Procedure: ActionProcedure,
    {
        let _ = action;
        let depth = nested_depth::<H::Procedure>(&self.runtime, self.depth)?;
        self.runtime
            .execute_action::<H::Procedure>(args, self.identity.clone(), depth)
            .await
    }
}
