//! # convoke
//!
//! A Rust runtime for Convex-style backends. Procedures are queries, mutations and actions
//! written as plain async functions with [`#[procedure]`](macro@procedure); they compose by
//! calling each other through a generated per-module caller (`create_<module>_caller(ctx)`),
//! and the compiler enforces which context may call what (the *call matrix*).
//!
//! ```
//! use convoke::{procedure, QueryCtx, MutationCtx, Result, Runtime};
//! use serde::{Deserialize, Serialize};
//!
//! mod counters {
//!     use super::*;
//!     convoke::module!(counters);
//!
//!     #[derive(Serialize, Deserialize, Clone)]
//!     pub struct Add { pub by: i64 }
//!
//!     #[derive(Serialize, Deserialize, convoke::Table)]
//!     #[table(name = "counters")]
//!     pub struct Counter { pub value: i64 }
//!
//!     /// Reads the current total.
//!     #[procedure(query)]
//!     pub async fn total(ctx: &QueryCtx<'_>) -> Result<i64> {
//!         let all = ctx.db().query::<Counter>().collect().await?;
//!         Ok(all.iter().map(|c| c.value).sum())
//!     }
//!
//!     /// Adds a counter row, then returns the new total through the caller.
//!     #[procedure(mutation)]
//!     pub async fn add(ctx: &MutationCtx<'_>, args: Add) -> Result<i64> {
//!         ctx.db().insert(&Counter { value: args.by }).await?;
//!         // A query called from a mutation runs in the same transaction.
//!         create_counters_caller(ctx).total().await
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> convoke::Result<()> {
//! let rt = Runtime::in_memory()?;
//! assert_eq!(rt.mutation(counters::add, counters::Add { by: 2 }).await?, 2);
//! assert_eq!(rt.run("counters:total", serde_json::json!({})).await?, serde_json::json!(2));
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]
#![warn(rust_2018_idioms, unreachable_pub)]

mod caller;
mod ctx;
pub mod db;
mod error;
pub mod matrix;
mod procedure;
mod registry;
mod runtime;
pub mod store;
pub mod value;

pub use caller::{Call, ScheduleTime, ScheduledFunctionId};
pub use ctx::{ActionCtx, Auth, MutationCtx, QueryCtx, UserIdentity};
pub use db::{Doc, Id, Table};
pub use error::{Error, Result};
pub use procedure::{
    ActionProcedure, Handler, MutationProcedure, Procedure, ProcedureFuture, ProcedureKind,
    QueryProcedure, Visibility,
};
pub use registry::{ProcedureInfo, procedures};
pub use runtime::{Runtime, RuntimeBuilder};

/// Declares a procedure: `#[procedure(query)]`, `#[procedure(mutation)]` or
/// `#[procedure(action)]`, with the options `internal` and `name = "..."`.
///
/// The function must be `async`, take the matching context first (`&QueryCtx<'_>`,
/// `&MutationCtx<'_>` or `&ActionCtx`), optionally one argument value (any serde type)
/// second, and return [`Result<T>`](crate::Result). The module it lives in must declare its
/// caller once with [`module!`]. See the crate documentation for an example.
///
/// The function stays callable directly ("handler mode"): `get_team(&ctx, args).await`.
pub use convoke_macros::procedure;

/// Declares the caller of the current module: `convoke::module!(teams);` defines
/// `TeamsCaller` and `create_teams_caller(ctx)`, with one method per procedure of the module.
pub use convoke_macros::module;

/// Derives [`Table`] for a document type: `#[derive(Table)] #[table(name = "teams")]`.
pub use convoke_macros::Table;

/// What generated code uses. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::matrix::{
        CallAction, CallInternal, CallMutation, CallQuery, RootActionCall, Schedule, ScheduleQuery,
    };
    pub use crate::procedure::procedure_path;
    pub use crate::registry::{ErasedInvoke, ProcedureEntry};
    pub use crate::{
        ActionCtx, ActionProcedure, Call, MutationCtx, MutationProcedure, Procedure,
        ProcedureFuture, ProcedureKind, QueryCtx, QueryProcedure, Result, ScheduleTime,
        ScheduledFunctionId, Table, Visibility,
    };
    pub use core::future::Future;
    pub use inventory;
    pub use serde;
    pub use std::sync::OnceLock;
}
