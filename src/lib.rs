//! # convoke
//!
//! A Rust runtime for Convex-style backends. Procedures are queries, mutations and actions
//! written as plain async functions with [`#[procedure]`](macro@procedure); they compose by
//! calling each other through a generated per-module caller (`create_<module>_caller(ctx)`),
//! and the compiler enforces which context may call what (the *call matrix*).
//!
//! ```standalone_crate
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
//!
//! # Where to look
//!
//! - [`procedure`] and [`module!`]: declaring procedures and their module callers.
//! - [`QueryCtx`], [`MutationCtx`] and [`ActionCtx`]: what a handler receives; [`db`]: the
//!   document database behind `ctx.db()`.
//! - [`matrix`]: which context may call what, as capability traits.
//! - [`Runtime`]: running procedures, typed (`rt.query(teams::get_team, args)`) or by name
//!   (`rt.run("teams:getTeam", json)`).
//! - [`Error`]: what calls return when they fail.
//! - [`value`]: Convex's data model and JSON encoding; [`store`]: storage engines.
//! - [`http`]: the Convex HTTP API server, with JWT auth; [`remote`]: calling procedures
//!   over it from server code (`CallerFactory`, `fetch_query`, [`Date`] on the wire).
//! - [`scheduler`]: functions scheduled with `schedule()`, the worker that runs them
//!   ([`Runtime::start_scheduler`]) and the virtual clock for tests.
//!
//! The README says what works and what is planned.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(rust_2018_idioms, unreachable_pub)]

mod caller;
mod contention;
mod ctx;
pub mod db;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod engines;
mod error;
mod future;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod matrix;
mod middleware;
mod procedure;
mod registry;
#[cfg(feature = "remote")]
#[cfg_attr(docsrs, doc(cfg(feature = "remote")))]
pub mod remote;
mod runtime;
pub mod scheduler;
mod scheduling;
pub mod store;
mod subscription;
pub mod testing;
pub mod value;
pub mod wire;

pub use caller::{Call, ScheduleTime};
pub use contention::Contention;
pub use ctx::{ActionCtx, Auth, LogLevel, MutationCtx, QueryCtx, UserIdentity};
pub use db::{Doc, Id, Table};
pub use error::{Error, RemoteFailure, Result};
pub use middleware::{CallContext, CallInfo, Middleware, Validate, ValidationError};
pub use procedure::{
    ActionProcedure, Handler, MutationProcedure, Procedure, ProcedureFuture, ProcedureKind,
    QueryProcedure, Visibility,
};
pub use registry::{ProcedureInfo, procedures};
pub use runtime::{Logged, Runtime, RuntimeBuilder};
pub use scheduler::ScheduledFunctionId;
pub use subscription::Subscription;
pub use value::Date;

// The README's examples, compiled and run as doctests (`cargo test --doc`), with the
// default features they are written for.
#[cfg(all(
    doctest,
    feature = "sqlite",
    feature = "postgres",
    feature = "http",
    feature = "remote"
))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// The examples of `docs/testing.md`, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../docs/testing.md")]
pub struct TestingGuideDoctests;

/// Declares a procedure: `#[procedure(query)]`, `#[procedure(mutation)]` or
/// `#[procedure(action)]`, with the options below.
///
/// # The function
///
/// - It is an `async fn`, without generics or `self`.
/// - Its first parameter is the context of its kind: `&QueryCtx<'_>`, `&MutationCtx<'_>` or
///   `&ActionCtx`.
/// - An optional second parameter takes the arguments by value: any serde type
///   (`Serialize + DeserializeOwned + Send + Sync + 'static`). A mutation's argument type
///   must also be `Clone`, because a mutation is re-run after a conflict.
/// - It returns [`Result<T>`](crate::Result), where `T` is a serde type.
/// - Its module declares its caller once with [`module!`].
///
/// # Options
///
/// - `internal`: callable in-process only (module callers, the runtime's entry points,
///   [`Runtime::run`]); the remote (HTTP) caller refuses it at compile time, and the HTTP
///   server answers `Could not find public function`.
/// - `name = "getTeam"`: the exported name, used in the path (`teams:getTeam`). In Rust the
///   function and the caller method keep the function's name.
/// - `with = Authed`: runs the [`Middleware`] `Authed` around the procedure on every path
///   into it; the procedure takes the middleware's value as its second parameter, before
///   the arguments.
/// - `validate`: calls [`Validate::validate`] on the arguments before the procedure runs.
/// - `crate = "my_reexport::convoke"`: the path of the convoke crate, for a crate that
///   uses convoke through a re-export or under another name (by default `::convoke`).
///   Generated code reaches convoke only through this path. [`module!`] and
///   [`#[derive(Table)]`](macro@Table) take the same option; give it to each of them.
///
/// # What it generates
///
/// - The function itself, unchanged except that its future is wrapped in a
///   [`ProcedureFuture`]: it can still be called directly with a context of its kind
///   ("handler mode": `get_team(ctx, args).await`, a plain function call).
/// - A marker type of the same name implementing [`Procedure`] and the trait of its kind;
///   [`Procedure::path`] gives its path, such as `"teams:getTeam"` or `"items/queries:get"`.
/// - A registry entry, so [`Runtime::run`] and [`procedures()`] find it by path.
/// - A method on the module's caller (`create_teams_caller(ctx).get_team(args)`): queries and
///   mutations directly on the caller, actions under `actions()`; mutations and actions
///   also under `schedule().after(..)`, `.at(..)` and `.now()`. Each method is bounded by its
///   cell of the [call matrix](crate::matrix).
///
/// Mistakes in the signature or the options are compile errors at the offending tokens.
///
/// ```
/// mod teams {
///     use convoke::{Error, Id, MutationCtx, Result, Table, procedure};
///     convoke::module!(teams);
///
///     #[derive(serde::Serialize, serde::Deserialize, Table)]
///     #[table(name = "teams")]
///     pub struct Team { pub name: String }
///
///     #[derive(Clone, serde::Serialize, serde::Deserialize)]
///     pub struct Rename { pub id: Id<Team>, pub name: String }
///
///     /// Renames a team. Internal, and exported as `teams:renameTeam`.
///     #[procedure(mutation, internal, name = "renameTeam")]
///     pub async fn rename_team(ctx: &MutationCtx<'_>, args: Rename) -> Result<()> {
///         if args.name.is_empty() {
///             return Err(Error::user("a team needs a name"));
///         }
///         ctx.db().patch(args.id, &serde_json::json!({ "name": args.name })).await?;
///         Ok(())
///     }
/// }
/// # fn main() {}
/// ```
pub use convoke_macros::procedure;

/// Declares the caller of the current module: `convoke::module!(teams);` defines
/// `TeamsCaller` and `create_teams_caller(ctx)`, with one method per procedure of the module.
///
/// Write it once in every module that has procedures (without it, `#[procedure]` fails to
/// find the module's caller types). The name is used only for the generated items
/// (`teams` gives `TeamsCaller` and `create_teams_caller`); procedure paths come from the
/// Rust module path.
///
/// `create_teams_caller(ctx)` takes any context, `&QueryCtx<'_>`, `&MutationCtx<'_>`,
/// `&ActionCtx` or a remote one ([`remote::RemoteCtx`], [`remote::LazyCaller`]: public
/// procedures over HTTP), and each call through it is checked against the
/// [call matrix](crate::matrix) at compile time:
///
/// - `caller.get_team(args)`: a query, from any context;
/// - `caller.add_member(args)`: a mutation, from a mutation (a sub-transaction) or an action
///   (its own transaction);
/// - `caller.actions().notify(args)`: an action, from an action;
/// - `caller.schedule().after(delay).notify(args)`, `.at(time)`, `.now()` and
///   `.cancel(id)`: from a mutation (in its transaction) or an action (at once); scheduling
///   returns the job's [`ScheduledFunctionId`], see [`scheduler`].
///
/// Every call returns a [`Call`] future. The caller is `Copy`; procedures of other modules
/// are reached through their own callers (`users::create_users_caller(ctx)`).
///
/// After the name, `crate = "my_reexport::convoke"` gives the path of the convoke crate, for
/// a crate that uses convoke through a re-export or under another name (by default
/// `::convoke`): `convoke::module!(teams, crate = "my_reexport::convoke");`, as for
/// [`#[procedure]`](macro@procedure).
///
/// ```
/// mod teams {
///     use convoke::{ActionCtx, MutationCtx, QueryCtx, Result, procedure};
///     convoke::module!(teams);
///
///     #[procedure(query)]
///     pub async fn size(_ctx: &QueryCtx<'_>) -> Result<u32> {
///         Ok(3)
///     }
///
///     #[procedure(mutation)]
///     pub async fn grow(ctx: &MutationCtx<'_>) -> Result<u32> {
///         // A query from a mutation: same transaction.
///         Ok(create_teams_caller(ctx).size().await? + 1)
///     }
///
///     #[procedure(action)]
///     pub async fn ping(_ctx: &ActionCtx) -> Result<String> {
///         Ok("pong".to_owned())
///     }
///
///     #[procedure(action)]
///     pub async fn grow_and_ping(ctx: &ActionCtx) -> Result<String> {
///         let teams = create_teams_caller(ctx);
///         let size = teams.grow().await?; // a mutation, in its own transaction
///         let pong = teams.actions().ping().await?; // actions only through `actions()`
///         Ok(format!("{size} {pong}"))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> convoke::Result<()> {
/// let rt = convoke::Runtime::in_memory()?;
/// assert_eq!(rt.action(teams::grow_and_ping, ()).await?, "4 pong");
/// # Ok(())
/// # }
/// ```
pub use convoke_macros::module;

/// Derives [`Table`] for a document type: `#[derive(Table)] #[table(name = "teams")]`.
///
/// The options of `#[table(..)]` (in one attribute or several):
///
/// - `name = "teams"`: the table's name, ASCII letters, digits and `_`, starting with a
///   letter. Without it the table is named after the type in snake case (`TeamMember`
///   gives `team_member`).
/// - `index(by_owner = ["owner_id"], by_owner_name = ["owner_id", "profile.name"])`: the
///   table's indexes, each with its fields in order (at most 16, dotted paths for nested
///   fields). `by_id` and `by_creation_time` exist on every table, and `_id` and
///   `_creationTime` are added to every index.
/// - `crate = "my_reexport::convoke"`: the path of the convoke crate, as for
///   [`#[procedure]`](macro@procedure).
///
/// The type must serialize to an object: a struct with named fields, a newtype struct or an
/// enum that serializes to one. It cannot be generic. The derive makes the checks the
/// runtime makes on the schema at start-up, so a bad name, index or field path is a compile
/// error at its tokens.
pub use convoke_macros::Table;

#[cfg(all(feature = "http", any(test, feature = "fuzzing")))]
#[doc(hidden)]
pub mod fuzz;

/// What generated code uses. Not a public API: it may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use crate::db::TableDefinition;
    pub use crate::matrix::{
        CallAction, CallInternal, CallMutation, CallQuery, RootActionCall, Schedule, ScheduleQuery,
    };
    pub use crate::middleware::{CallInfo, Middleware, run_with, validate};
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
