//! The call matrix, as sealed capability traits.
//!
//! | caller context | root query | root mutation | root action | `actions()` | `schedule()` |
//! |---|---|---|---|---|---|
//! | [`QueryCtx`]    | yes, same transaction | no | no | no | no |
//! | [`MutationCtx`] | yes, same transaction | yes, savepoint of the same transaction | no | no | yes |
//! | [`ActionCtx`]   | yes, own transaction | yes, own transaction, re-run on conflict | no | yes | yes |
//! | [`RemoteCtx`], [`LazyCaller`] (HTTP) | public only | public only | no | public only | no |
//!
//! Every generated caller method carries one of these traits as a bound on its context type,
//! so a forbidden call is a compile error with a message that names the cell, e.g.
//! `a mutation cannot be called from a query context`. Internal procedures additionally
//! require [`CallInternal`], which only in-process contexts have: the remote contexts call
//! public procedures only.
//!
//! The traits are sealed: only convoke's contexts implement them.

use crate::caller::{Call, ScheduleTime};
use crate::ctx::{ActionCtx, MutationCtx, QueryCtx};
use crate::procedure::{
    ActionProcedure, MutationProcedure, Procedure, ProcedureKind, QueryProcedure,
};
use crate::remote::{LazyCaller, RemoteCtx};
use crate::scheduler::ScheduledFunctionId;

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::QueryCtx<'_> {}
    impl Sealed for crate::MutationCtx<'_> {}
    impl Sealed for crate::ActionCtx {}
    impl Sealed for crate::remote::RemoteCtx {}
    impl Sealed for crate::remote::LazyCaller {}
}

/// A context that can call queries: every context (remote ones: public queries only).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a convoke context",
    label = "expected `QueryCtx<'_>`, `MutationCtx<'_>`, `ActionCtx` or a remote context (`RemoteCtx`, `LazyCaller`)",
    note = "create module callers from the context reference a procedure receives: `create_<module>_caller(ctx)`, not `create_<module>_caller(&ctx)`"
)]
pub trait CallQuery: sealed::Sealed {
    /// Calls query `P`: in the same transaction from queries and mutations, in a fresh read
    /// transaction from actions.
    #[doc(hidden)]
    fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output>;
}

/// A context that can call mutations: mutation, action and remote contexts.
#[diagnostic::on_unimplemented(
    message = "a mutation cannot be called from a query context",
    label = "this calls a mutation",
    note = "queries are read-only: call mutations from a mutation or an action context"
)]
pub trait CallMutation: sealed::Sealed {
    /// Calls mutation `P`: in a savepoint from mutations, in a fresh transaction (re-run on
    /// conflict) from actions.
    #[doc(hidden)]
    fn call_mutation<P: MutationProcedure>(&self, args: P::Args) -> Call<'_, P::Output>;
}

/// A context that can call actions through `actions()`: action and remote contexts.
#[diagnostic::on_unimplemented(
    message = "an action can only be called from an action context or a remote caller",
    label = "this calls an action",
    note = "a mutation can start an action after it commits with `schedule().now()`; a query cannot start actions"
)]
pub trait CallAction: sealed::Sealed {
    /// Calls action `P`.
    #[doc(hidden)]
    fn call_action<P: ActionProcedure>(&self, args: P::Args) -> Call<'_, P::Output>;
}

/// A context that can schedule functions: mutation and action contexts.
#[diagnostic::on_unimplemented(
    message = "functions can only be scheduled or cancelled from a mutation or an action context",
    label = "this uses the scheduler",
    note = "scheduling is an in-process write: make this procedure a mutation, or schedule from a mutation or an action (from a remote caller, call a public mutation that schedules)"
)]
pub trait Schedule: sealed::Sealed {
    /// Schedules `P` to run at `when`.
    #[doc(hidden)]
    fn schedule_call<P: Procedure>(
        &self,
        when: ScheduleTime,
        args: P::Args,
    ) -> Call<'_, ScheduledFunctionId>;

    /// Cancels a scheduled function.
    #[doc(hidden)]
    fn cancel_scheduled(&self, id: ScheduledFunctionId) -> Call<'_, ()>;
}

/// A context that can call internal procedures: every in-process context, no remote one.
#[diagnostic::on_unimplemented(
    message = "an internal procedure cannot be called through a remote caller",
    label = "this procedure is `internal`",
    note = "internal procedures are callable in-process only; expose a public procedure for remote callers"
)]
pub trait CallInternal: sealed::Sealed {}

/// Calling an action as a root procedure. No context has this capability.
#[diagnostic::on_unimplemented(
    message = "an action cannot be called directly on a module caller",
    label = "this calls an action directly",
    note = "from an action context or a remote caller, call it through `actions()`: `caller.actions().<action>(args)`; from a mutation, schedule it: `caller.schedule().now().<action>(args)`; a query cannot start actions"
)]
pub trait RootActionCall: sealed::Sealed {
    /// Never callable: no type implements this trait.
    #[doc(hidden)]
    fn call_root_action<P: ActionProcedure>(&self, args: P::Args) -> Call<'_, P::Output>;
}

/// Scheduling a query. No context has this capability.
#[diagnostic::on_unimplemented(
    message = "a query cannot be scheduled",
    label = "this schedules a query",
    note = "only mutations and actions can be scheduled: call the query now (`caller.<query>(args)`), or schedule a mutation or an action that calls it"
)]
pub trait ScheduleQuery: sealed::Sealed {
    /// Never callable: no type implements this trait.
    #[doc(hidden)]
    fn schedule_query<P: QueryProcedure>(
        &self,
        when: ScheduleTime,
        args: P::Args,
    ) -> Call<'_, ScheduledFunctionId>;
}

impl CallInternal for QueryCtx<'_> {}
impl CallInternal for MutationCtx<'_> {}
impl CallInternal for ActionCtx {}

impl CallQuery for QueryCtx<'_> {
    fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        match self.env.nested_depth::<P>(self.depth) {
            Ok(depth) => Call::new(async move {
                let ctx = QueryCtx::new(self.tx, self.env, depth);
                P::run(&ctx, args).await
            }),
            Err(e) => Call::ready(Err(e)),
        }
    }
}

impl CallQuery for MutationCtx<'_> {
    fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        match self.env.nested_depth::<P>(self.depth) {
            Ok(depth) => Call::new(async move {
                let ctx = QueryCtx::new(self.tx, self.env, depth);
                P::run(&ctx, args).await
            }),
            Err(e) => Call::ready(Err(e)),
        }
    }
}

impl CallMutation for MutationCtx<'_> {
    fn call_mutation<P: MutationProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        match self.env.nested_depth::<P>(self.depth) {
            Ok(depth) => Call::new(async move {
                let savepoint = self.tx.savepoint();
                let ctx = MutationCtx::new(self.tx, self.env, depth);
                let result = P::run(&ctx, args).await;
                match &result {
                    Ok(_) => savepoint.release(),
                    Err(_) => savepoint.roll_back(),
                }
                result
            }),
            Err(e) => Call::ready(Err(e)),
        }
    }
}

impl Schedule for MutationCtx<'_> {
    /// Writes the job in this mutation's transaction: it exists only if the mutation (and
    /// the savepoint of every enclosing nested mutation) commits.
    fn schedule_call<P: Procedure>(
        &self,
        when: ScheduleTime,
        args: P::Args,
    ) -> Call<'_, ScheduledFunctionId> {
        match crate::scheduler::encode_args(P::path(), &args) {
            Ok(args) => Call::new(crate::scheduler::schedule_in_transaction(
                &self.env.runtime,
                self.tx,
                P::path(),
                args,
                when,
            )),
            Err(e) => Call::ready(Err(e)),
        }
    }

    /// Cancels in this mutation's transaction: the cancel takes effect if it commits.
    fn cancel_scheduled(&self, id: ScheduledFunctionId) -> Call<'_, ()> {
        let now = self.env.runtime.scheduler().now_ms();
        Call::new(async move {
            crate::scheduler::cancel_job(self.tx, &id, now).await?;
            Ok(())
        })
    }
}

impl CallQuery for ActionCtx {
    fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        match crate::ctx::nested_depth::<P>(&self.runtime, self.depth) {
            Ok(depth) => Call::new(self.runtime.execute_query::<P>(
                args,
                self.identity.clone(),
                depth,
                self.logs.clone(),
            )),
            Err(e) => Call::ready(Err(e)),
        }
    }
}

impl CallMutation for ActionCtx {
    fn call_mutation<P: MutationProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        match crate::ctx::nested_depth::<P>(&self.runtime, self.depth) {
            Ok(depth) => Call::new(self.runtime.execute_mutation::<P>(
                args,
                self.identity.clone(),
                depth,
                self.logs.clone(),
            )),
            Err(e) => Call::ready(Err(e)),
        }
    }
}

impl CallAction for ActionCtx {
    fn call_action<P: ActionProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        match crate::ctx::nested_depth::<P>(&self.runtime, self.depth) {
            Ok(depth) => Call::new(self.runtime.execute_action::<P>(
                args,
                self.identity.clone(),
                depth,
                self.logs.clone(),
            )),
            Err(e) => Call::ready(Err(e)),
        }
    }
}

impl Schedule for ActionCtx {
    /// Writes the job at once, in a transaction of its own.
    fn schedule_call<P: Procedure>(
        &self,
        when: ScheduleTime,
        args: P::Args,
    ) -> Call<'_, ScheduledFunctionId> {
        match crate::scheduler::encode_args(P::path(), &args) {
            Ok(args) => Call::new(self.runtime.schedule_from_action(P::path(), args, when)),
            Err(e) => Call::ready(Err(e)),
        }
    }

    /// Cancels at once, in a transaction of its own.
    fn cancel_scheduled(&self, id: ScheduledFunctionId) -> Call<'_, ()> {
        Call::new(async move { self.runtime.cancel_from_action(&id).await })
    }
}

// The remote contexts: public queries, mutations and actions over HTTP. No `CallInternal`
// (internal procedures are in-process only) and no `Schedule`.

impl CallQuery for RemoteCtx {
    fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        self.call_typed::<P>(ProcedureKind::Query, args)
    }
}

impl CallMutation for RemoteCtx {
    fn call_mutation<P: MutationProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        self.call_typed::<P>(ProcedureKind::Mutation, args)
    }
}

impl CallAction for RemoteCtx {
    fn call_action<P: ActionProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        self.call_typed::<P>(ProcedureKind::Action, args)
    }
}

impl CallQuery for LazyCaller {
    fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        self.call_typed::<P>(ProcedureKind::Query, args)
    }
}

impl CallMutation for LazyCaller {
    fn call_mutation<P: MutationProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        self.call_typed::<P>(ProcedureKind::Mutation, args)
    }
}

impl CallAction for LazyCaller {
    fn call_action<P: ActionProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        self.call_typed::<P>(ProcedureKind::Action, args)
    }
}
