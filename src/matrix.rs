//! The call matrix, as sealed capability traits.
//!
#![doc = include_str!("../docs/call-matrix.md")]
//!
//! Every generated caller method carries one of these traits as a bound on its context type,
//! so a forbidden call is a compile error with a message that names the cell. Internal
//! procedures additionally require [`CallInternal`], which only in-process contexts have.
//!
//! The traits are sealed: only convoke's contexts implement them, the in-process ones next
//! to the contexts (`ctx/dispatch.rs`) and the remote ones (`RemoteCtx`, `LazyCaller`, with
//! the `remote` feature) next to the remote caller (`remote/matrix.rs`).

use crate::caller::{Call, ScheduleTime};
use crate::db::system::scheduled_functions::ScheduledFunctionId;
use crate::procedure::{ActionProcedure, MutationProcedure, Procedure, QueryProcedure};

/// The seal: implemented by convoke's contexts only.
pub(crate) mod sealed {
    #[allow(unreachable_pub)] // the sealed-trait pattern: public, in a private module
    pub trait Sealed {}
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
