//! The scheduler: functions scheduled from mutations and actions, kept in the system table
//! `_scheduled_functions`, and a worker that runs them when they are due.
//!
//! From a mutation or an action context, `create_<module>_caller(ctx).schedule()` offers
//! `.after(Duration)`, `.at(SystemTime)` and `.now()`, each followed by a mutation or an
//! action of the module, and `.cancel(id)`. Scheduling returns the
//! [`ScheduledFunctionId`] of the job's document.
//!
//! - **Transactional.** Scheduled from a mutation, the job is written in the mutation's
//!   transaction: it exists only if the mutation commits, and disappears with the savepoint
//!   of a nested mutation that fails. Scheduled from an action, it is written (committed)
//!   at once, whatever the action does next. A time in the past means at once.
//! - **States** ([`JobState`]): `pending` → `success` or `failed` for a mutation;
//!   `pending` → `in_progress` → `success` or `failed` for an action; `pending` or
//!   `in_progress` → `canceled` by `cancel(id)`.
//! - **Exactly once for mutations.** A scheduled mutation's writes and its job's move to
//!   `success` commit in one transaction, which also reads the job: a concurrent run or
//!   cancel conflicts, and the mutation is re-run (a mutation that keeps conflicting stays
//!   `pending` and runs again later). It returns `Err` or panics: nothing it wrote
//!   commits, and the job is `failed`.
//! - **At most once for actions.** An action's job moves to `in_progress` (committed)
//!   before the action starts, and is never started again: after a restart, an action
//!   found `in_progress` is marked `failed` (see [`Runtime::start_scheduler`]).
//! - **Cancel.** A pending job never runs. A running action finishes, but what it
//!   schedules from then on (itself, or through the mutations and actions it calls) is
//!   written `canceled`. Canceling a finished job changes nothing.
//! - **Identity.** Scheduled functions run without an identity, as in Convex.
//! - **Limits.** One transaction (a mutation and the mutations it calls) schedules at most
//!   [`MAX_SCHEDULED_PER_TRANSACTION`] functions, whose arguments total at most
//!   [`MAX_SCHEDULED_ARGS_BYTES`]; beyond, scheduling fails with
//!   [`DbError::LimitExceeded`](crate::db::DbError::LimitExceeded). Each job is a
//!   document, so one function's arguments are also bounded by the 1 MiB document limit.
//! - **Running.** [`Runtime::start_scheduler`] starts the worker (bounded concurrency,
//!   [`SchedulerConfig`]); in tests, a [`VirtualClock`] with
//!   [`Runtime::advance_time`] or [`Runtime::run_due_scheduled_functions`] runs due jobs
//!   without sleeping. Finished jobs are removed after [`SchedulerConfig::retention`].
//!
//! [`Runtime::start_scheduler`]: crate::Runtime::start_scheduler
//! [`Runtime::advance_time`]: crate::Runtime::advance_time
//! [`Runtime::run_due_scheduled_functions`]: crate::Runtime::run_due_scheduled_functions
//!
//! ```standalone_crate
//! use std::{sync::Arc, time::Duration};
//! use convoke::scheduler::{JobState, ScheduledFunction, SchedulerConfig, VirtualClock};
//! use convoke::{Doc, Runtime, ScheduledFunctionId};
//!
//! mod emails {
//!     use std::time::Duration;
//!     use convoke::{ActionCtx, MutationCtx, QueryCtx, Result, ScheduledFunctionId, procedure};
//!     use convoke::scheduler::ScheduledFunction;
//!     convoke::module!(emails);
//!
//!     #[procedure(action)]
//!     pub async fn send(_ctx: &ActionCtx, to: String) -> Result<()> {
//!         Ok(()) // call an e-mail service here
//!     }
//!
//!     /// Schedules a welcome e-mail for a minute from now; it is sent only if this
//!     /// mutation commits.
//!     #[procedure(mutation)]
//!     pub async fn sign_up(ctx: &MutationCtx<'_>, to: String) -> Result<ScheduledFunctionId> {
//!         create_emails_caller(ctx).schedule().after(Duration::from_secs(60)).send(to).await
//!     }
//!
//!     #[procedure(query)]
//!     pub async fn job(ctx: &QueryCtx<'_>, id: ScheduledFunctionId)
//!         -> Result<Option<convoke::Doc<ScheduledFunction>>> {
//!         Ok(ctx.db().get(id).await?)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> convoke::Result<()> {
//! let rt = Runtime::builder()
//!     .scheduler(SchedulerConfig { clock: Arc::new(VirtualClock::new()), ..Default::default() })
//!     .build()?;
//! let id = rt.mutation(emails::sign_up, "ada@example.com".into()).await?;
//! let job = rt.query(emails::job, id).await?.expect("written");
//! assert_eq!((job.name.as_str(), &job.state), ("emails:send", &JobState::Pending));
//!
//! rt.advance_time(Duration::from_secs(60)).await?; // runs what is due
//! let job = rt.query(emails::job, id).await?.expect("kept for the retention");
//! assert_eq!(job.state, JobState::Success);
//! assert!(job.completed_time.is_some());
//! # Ok(())
//! # }
//! ```

pub mod clock;
mod exec;
mod jobs;
mod worker;

pub(crate) use exec::{encode_args, schedule_in_transaction};

use serde::{Deserialize, Serialize};

pub use clock::{Clock, SystemClock, VirtualClock};
pub use jobs::{MAX_SCHEDULED_ARGS_BYTES, MAX_SCHEDULED_PER_TRANSACTION};
pub(crate) use jobs::{cancel_job, insert_job};
pub(crate) use worker::Scheduler;
pub use worker::{SchedulerConfig, SchedulerHandle};

use crate::db::{Id, Table, TableDefinition};
use crate::value::Value;

/// The system table of scheduled functions.
pub const SCHEDULED_FUNCTIONS: &str = "_scheduled_functions";

/// A document of `_scheduled_functions`: one scheduled call and what became of it.
///
/// Readable from queries and mutations like any table: `ctx.db().get(id)` with the
/// [`ScheduledFunctionId`] that `schedule()` returned,
/// `ctx.db().query::<ScheduledFunction>()`, or through the index [`BY_STATE`]
/// (`|r| r.eq("state.kind", "pending")`). Only the scheduler
/// writes it: `insert`, `patch`, `replace` and `delete` on it fail with
/// [`DbError::SystemTable`](crate::db::DbError::SystemTable).
///
/// As a document (by-name results, JSON) it reads
/// `{ "name": "emails:send", "args": {..}, "scheduled_time": 1.7e12, "completed_time": null,
/// "state": { "kind": "pending" } }`; a failed job's state is
/// `{ "kind": "failed", "error": ".." }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledFunction {
    /// The procedure's path, e.g. `"teams:purge"`.
    pub name: String,
    /// Its arguments, as the procedure's argument type serializes them (`null` for none).
    pub args: Value,
    /// When it is due, in milliseconds since the Unix epoch.
    pub scheduled_time: f64,
    /// When it finished (succeeded, failed or was canceled), in milliseconds since the Unix
    /// epoch; `None` (`null`) while pending or in progress.
    pub completed_time: Option<f64>,
    /// Where it is in its life.
    pub state: JobState,
}

/// The state of a scheduled function, stored as an object with a `kind` (`"pending"`,
/// `"in_progress"`, `"success"`, `"failed"`, `"canceled"`) and, when failed, an `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its time.
    Pending,
    /// An action that is running (mutations go from pending to success directly).
    InProgress,
    /// Ran and returned `Ok`.
    Success,
    /// Ran and returned an error or panicked (nothing a failed mutation wrote was
    /// committed), could not run (e.g. its procedure no longer exists), or, for an action,
    /// was interrupted by the end of its process.
    Failed {
        /// Why: the error's message.
        error: String,
    },
    /// Canceled before it ran (or, for an action, while it ran).
    Canceled,
}

impl JobState {
    /// Whether the job will not run (again): success, failed or canceled.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            JobState::Success | JobState::Failed { .. } | JobState::Canceled
        )
    }

    /// The state's name: `"pending"`, `"in_progress"`, `"success"`, `"failed"`, `"canceled"`.
    pub fn kind(&self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::InProgress => "in_progress",
            JobState::Success => "success",
            JobState::Failed { .. } => "failed",
            JobState::Canceled => "canceled",
        }
    }
}

/// The index of `_scheduled_functions`: `["state.kind", "completed_time", "scheduled_time"]`.
///
/// Pending and running jobs have a `null` completion time, so within those states jobs are
/// in due order (`|r| r.eq("state.kind", "pending")`: oldest due first); finished ones are
/// in completion order. The worker finds due jobs and expired ones through it.
pub const BY_STATE: &str = "by_state";

impl Table for ScheduledFunction {
    const NAME: &'static str = SCHEDULED_FUNCTIONS;
    const INDEXES: &'static [(&'static str, &'static [&'static str])] = &[(
        BY_STATE,
        &["state.kind", "completed_time", "scheduled_time"],
    )];
}

inventory::submit! {
    TableDefinition {
        name: SCHEDULED_FUNCTIONS,
        indexes: <ScheduledFunction as Table>::INDEXES,
    }
}

/// The id of a scheduled function, as `schedule()` returns it and `cancel` takes it.
pub type ScheduledFunctionId = Id<ScheduledFunction>;
