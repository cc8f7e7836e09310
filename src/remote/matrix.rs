//! The call matrix ([`crate::matrix`]) for the remote contexts: public queries, mutations
//! and actions over HTTP. No `CallInternal` (internal procedures are in-process only) and no
//! `Schedule`.

use super::{LazyCaller, RemoteCtx};
use crate::caller::Call;
use crate::matrix::sealed::Sealed;
use crate::matrix::{CallAction, CallMutation, CallQuery};
use crate::procedure::{ActionProcedure, MutationProcedure, ProcedureKind, QueryProcedure};

macro_rules! remote_matrix {
    ($ctx:ty) => {
        impl Sealed for $ctx {}

        impl CallQuery for $ctx {
            fn call_query<P: QueryProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
                self.call_typed::<P>(ProcedureKind::Query, args)
            }
        }

        impl CallMutation for $ctx {
            fn call_mutation<P: MutationProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
                self.call_typed::<P>(ProcedureKind::Mutation, args)
            }
        }

        impl CallAction for $ctx {
            fn call_action<P: ActionProcedure>(&self, args: P::Args) -> Call<'_, P::Output> {
                self.call_typed::<P>(ProcedureKind::Action, args)
            }
        }
    };
}

remote_matrix!(RemoteCtx);
remote_matrix!(LazyCaller);
