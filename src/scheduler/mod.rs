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
//!   [`SchedulerConfig`]); without a worker, [`Runtime::run_due_scheduled_functions`]
//!   runs the jobs that are due. In tests, a [`TestRuntime`] runs on a [`VirtualClock`]:
//!   [`TestRuntime::advance_time`] moves it and runs what became due, without sleeping.
//!   Finished jobs are removed after [`SchedulerConfig::retention`].
//!
//! [`Runtime::start_scheduler`]: crate::Runtime::start_scheduler
//! [`TestRuntime`]: crate::testing::TestRuntime
//! [`TestRuntime::advance_time`]: crate::testing::TestRuntime::advance_time
//! [`Runtime::run_due_scheduled_functions`]: crate::Runtime::run_due_scheduled_functions
//!
//! ```standalone_crate
//! use std::time::Duration;
//! use convoke::scheduler::{JobState, ScheduledFunction};
//! use convoke::testing::TestRuntime;
//! use convoke::{Doc, ScheduledFunctionId};
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
//! let rt = TestRuntime::new()?;
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

mod exec;
mod worker;

pub use worker::SchedulerHandle;

// The clock, the configuration and the in-transaction scheduling belong to the runtime
// layer (the runtime holds them, the contexts schedule through them); the worker here runs
// jobs through the runtime.
pub use crate::scheduling::{Clock, SchedulerConfig, SystemClock, VirtualClock};

// The job table belongs to the database layer (it depends on nothing above it); its public
// names are the scheduler's API.
pub use crate::db::system::scheduled_functions::{
    BY_STATE, JobState, MAX_SCHEDULED_ARGS_BYTES, MAX_SCHEDULED_PER_TRANSACTION,
    SCHEDULED_FUNCTIONS, ScheduledFunction, ScheduledFunctionId,
};
