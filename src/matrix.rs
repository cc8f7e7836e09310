//! The call matrix, as sealed capability traits.
//!
//! | caller context | root query | root mutation | root action | `actions()` | `schedule()` |
//! |---|---|---|---|---|---|
//! | [`QueryCtx`]    | yes, same transaction | no | no | no | no |
//! | [`MutationCtx`] | yes, same transaction | yes, savepoint of the same transaction | no | no | yes |
//! | [`ActionCtx`]   | yes, own transaction | yes, own transaction, re-run on conflict | no | yes | yes |
//!
//! Every generated caller method carries one of these traits as a bound on its context type,
//! so a forbidden call is a compile error with a message that names the cell, e.g.
//! `a mutation cannot be called from a query context`. Internal procedures additionally
//! require [`CallInternal`], which only in-process contexts have.
//!
//! The traits are sealed: only convoke's contexts implement them.

use crate::caller::{Call, ScheduleTime, ScheduledFunctionId};
use crate::ctx::{ActionCtx, MutationCtx, QueryCtx};
use crate::error::Error;
use crate::procedure::{ActionProcedure, MutationProcedure, Procedure, QueryProcedure};

mod sealed {
    pub trait Sealed {}
    impl Sealed for crate::QueryCtx<'_> {}
    impl Sealed for crate::MutationCtx<'_> {}
    impl Sealed for crate::ActionCtx {}
}

/// A context that can call queries: every context.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a convoke context",
    label = "expected `QueryCtx<'_>`, `MutationCtx<'_>` or `ActionCtx`",
    note = "create module callers from the context reference a procedure receives: `create_<module>_caller(ctx)`, not `create_<module>_caller(&ctx)`"
)]
pub trait CallQuery: sealed::Sealed {
    /// Calls query `P`: in the same transaction from queries and mutations, in a fresh read
    /// transaction from actions.
    #[doc(hidden)]
    fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output>;
}

/// A context that can call mutations: mutation and action contexts.
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

/// A context that can call actions through `actions()`: action contexts.
#[diagnostic::on_unimplemented(
    message = "an action can only be called from an action context",
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
    note = "queries are read-only and cannot schedule: make this procedure a mutation, or schedule from a mutation or an action"
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

/// A context that can call internal procedures: every in-process context.
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
    note = "from an action context, call it through `actions()`: `caller.actions().<action>(args)`; from a mutation, schedule it: `caller.schedule().now().<action>(args)`; a query cannot start actions"
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
    fn schedule_call<P: Procedure>(
        &self,
        when: ScheduleTime,
        args: P::Args,
    ) -> Call<'_, ScheduledFunctionId> {
        let _ = (when, args);
        Call::ready(Err(Error::SchedulerNotEnabled))
    }

    fn cancel_scheduled(&self, id: ScheduledFunctionId) -> Call<'_, ()> {
        let _ = id;
        Call::ready(Err(Error::SchedulerNotEnabled))
    }
}

impl CallQuery for ActionCtx {
    fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        match crate::ctx::nested_depth::<P>(&self.runtime, self.depth) {
            Ok(depth) => Call::new(self.runtime.execute_query::<P>(
                args,
                self.identity.clone(),
                depth,
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
            )),
            Err(e) => Call::ready(Err(e)),
        }
    }
}

impl Schedule for ActionCtx {
    fn schedule_call<P: Procedure>(
        &self,
        when: ScheduleTime,
        args: P::Args,
    ) -> Call<'_, ScheduledFunctionId> {
        let _ = (when, args);
        Call::ready(Err::<ScheduledFunctionId, _>(Error::SchedulerNotEnabled))
    }

    fn cancel_scheduled(&self, id: ScheduledFunctionId) -> Call<'_, ()> {
        let _ = id;
        Call::ready(Err(Error::SchedulerNotEnabled))
    }
}
