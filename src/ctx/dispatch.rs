//! The call matrix ([`crate::matrix`]) for the in-process contexts: how each allowed cell
//! runs.

use super::{ActionCtx, MutationCtx, QueryCtx};
use crate::caller::{Call, ScheduleTime};
use crate::db::system::scheduled_functions::ScheduledFunctionId;
use crate::matrix::sealed::Sealed;
use crate::matrix::{CallAction, CallInternal, CallMutation, CallQuery, Schedule};
use crate::procedure::{ActionProcedure, MutationProcedure, Procedure, QueryProcedure};

impl Sealed for QueryCtx<'_> {}
impl Sealed for MutationCtx<'_> {}
impl Sealed for ActionCtx {}

impl CallInternal for QueryCtx<'_> {}
impl CallInternal for MutationCtx<'_> {}
impl CallInternal for ActionCtx {}

/// A query from a query or a mutation: in the same transaction, one level deeper.
fn query_in_transaction<'a, P: QueryProcedure>(
    tx: &'a crate::db::Transaction,
    env: &'a super::CallEnv,
    depth: u32,
    args: P::Args,
) -> Call<'a, P::Output> {
    match env.nested_depth::<P>(depth) {
        Ok(depth) => Call::new(async move {
            let ctx = QueryCtx::new(tx, env, depth);
            P::run(&ctx, args).await
        }),
        Err(e) => Call::ready(Err(e)),
    }
}

impl CallQuery for QueryCtx<'_> {
    fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        query_in_transaction::<P>(self.tx, self.env, self.depth, args)
    }
}

impl CallQuery for MutationCtx<'_> {
    fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
        query_in_transaction::<P>(self.tx, self.env, self.depth, args)
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
        match crate::scheduling::encode_args(P::path(), &args) {
            Ok(args) => Call::new(crate::scheduling::schedule_in_transaction(
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
            crate::db::system::scheduled_functions::cancel_job(self.tx, &id, now).await?;
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
        match crate::scheduling::encode_args(P::path(), &args) {
            Ok(args) => Call::new(self.runtime.schedule_from_action(P::path(), args, when)),
            Err(e) => Call::ready(Err(e)),
        }
    }

    /// Cancels at once, in a transaction of its own.
    fn cancel_scheduled(&self, id: ScheduledFunctionId) -> Call<'_, ()> {
        Call::new(async move { self.runtime.cancel_from_action(&id).await })
    }
}
