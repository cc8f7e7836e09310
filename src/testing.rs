//! A test harness for apps: an in-memory runtime with a virtual clock.
//!
//! [`TestRuntime`] runs procedures on the same paths as production (middleware,
//! validation, the call matrix, the scheduler) over a fresh in-memory store, and time moves
//! only when the test says so. See `docs/testing.md` for a comparison with convex-test.
//!
//! ```standalone_crate
//! use std::time::Duration;
//! use convoke::testing::TestRuntime;
//!
//! mod todos {
//!     use std::time::Duration;
//!     use convoke::{MutationCtx, QueryCtx, Result, Table, procedure};
//!     convoke::module!(todos);
//!
//!     #[derive(serde::Serialize, serde::Deserialize, Table)]
//!     #[table(name = "todos")]
//!     pub struct Todo { pub text: String, pub done: bool }
//!
//!     #[procedure(mutation)]
//!     pub async fn add(ctx: &MutationCtx<'_>, text: String) -> Result<()> {
//!         let id = ctx.db().insert(&Todo { text, done: false }).await?;
//!         create_todos_caller(ctx).schedule().after(Duration::from_secs(60)).finish(id).await?;
//!         Ok(())
//!     }
//!
//!     #[procedure(mutation, internal)]
//!     pub async fn finish(ctx: &MutationCtx<'_>, id: convoke::Id<Todo>) -> Result<()> {
//!         Ok(ctx.db().patch(id, &serde_json::json!({ "done": true })).await?)
//!     }
//!
//!     #[procedure(query)]
//!     pub async fn done(ctx: &QueryCtx<'_>) -> Result<usize> {
//!         Ok(ctx.db().query::<Todo>().filter(|t| t.done).collect().await?.len())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> convoke::Result<()> {
//! let t = TestRuntime::new()?;
//! t.mutation(todos::add, "write tests".into()).await?;
//! assert_eq!(t.query(todos::done, ()).await?, 0);
//! assert_eq!(t.advance_time(Duration::from_secs(59)).await?, 0); // not due yet
//! assert_eq!(t.advance_time(Duration::from_secs(1)).await?, 1);
//! assert_eq!(t.query(todos::done, ()).await?, 1);
//!
//! // Direct database access, in a transaction of its own.
//! let all = t
//!     .read(|db| Box::pin(async move { Ok(db.query::<todos::Todo>().collect().await?.len()) }))
//!     .await?;
//! assert_eq!(all, 1);
//! # Ok(())
//! # }
//! ```

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::ctx::UserIdentity;
use crate::db::DbError;
use crate::db::{DatabaseReader, DatabaseWriter, Transaction};
use crate::error::{Error, Result};
use crate::runtime::{Runtime, RuntimeBuilder};
use crate::scheduler::{Clock, JobState, ScheduledFunction, SchedulerConfig, VirtualClock};

/// A boxed future borrowing a database handle, as [`TestRuntime::run`] takes it.
pub type DbFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'a>>;

/// How many rounds [`TestRuntime::finish_all_scheduled_functions`] runs before it decides
/// the functions keep scheduling each other forever.
pub const MAX_SCHEDULER_ROUNDS: usize = 10_000;

/// An in-memory runtime with a virtual clock, for tests. Dereferences to [`Runtime`], so
/// `t.query(..)`, `t.mutation(..)`, `t.action(..)` and `t.run_value(..)` work as on a runtime.
///
/// The test-time operations:
///
/// - time: [`advance_time`](TestRuntime::advance_time) moves the virtual clock and runs
///   what became due; [`clock`](TestRuntime::clock)`().advance(d)` moves it and runs
///   nothing; [`now`](TestRuntime::now) reads it;
/// - scheduled functions: [`run_due_scheduled_functions`](Runtime::run_due_scheduled_functions)
///   (through `Deref`) runs what is due now,
///   [`finish_all_scheduled_functions`](TestRuntime::finish_all_scheduled_functions) runs
///   until none is pending, and [`scheduled_functions`](TestRuntime::scheduled_functions)
///   lists them;
/// - identity: [`with_identity`](TestRuntime::with_identity) and
///   [`without_identity`](TestRuntime::without_identity) return a `TestRuntime` on the same
///   store and clock;
/// - data: [`run`](TestRuntime::run) and [`read`](TestRuntime::read) reach the database
///   directly.
#[derive(Clone)]
pub struct TestRuntime {
    rt: Runtime,
    clock: Arc<VirtualClock>,
}

impl std::fmt::Debug for TestRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestRuntime")
            .field("now", &self.clock.now())
            .finish_non_exhaustive()
    }
}

impl TestRuntime {
    /// A fresh in-memory runtime whose clock starts at the current time and stands still.
    pub fn new() -> Result<TestRuntime> {
        TestRuntime::from_builder(Runtime::builder())
    }

    /// A test runtime from a builder (e.g. with a durable store or other limits). Its
    /// scheduler runs on a virtual clock starting at the current time, with the other
    /// [`SchedulerConfig`] fields at their defaults (a scheduler configuration set on the
    /// builder is replaced).
    pub fn from_builder(builder: RuntimeBuilder) -> Result<TestRuntime> {
        let clock = Arc::new(VirtualClock::new());
        let rt = builder
            .scheduler(SchedulerConfig {
                clock: clock.clone(),
                ..SchedulerConfig::default()
            })
            .build()?;
        Ok(TestRuntime { rt, clock })
    }

    /// The runtime underneath.
    pub fn runtime(&self) -> &Runtime {
        &self.rt
    }

    /// The same runtime (same store, same clock), calling as `identity`
    /// (`ctx.auth().user_identity()`), as [`Runtime::with_identity`] does on a runtime.
    #[must_use]
    pub fn with_identity(&self, identity: UserIdentity) -> TestRuntime {
        TestRuntime {
            rt: self.rt.with_identity(identity),
            clock: self.clock.clone(),
        }
    }

    /// The same runtime (same store, same clock), calling without identity, as
    /// [`Runtime::without_identity`] does on a runtime.
    #[must_use]
    pub fn without_identity(&self) -> TestRuntime {
        TestRuntime {
            rt: self.rt.without_identity(),
            clock: self.clock.clone(),
        }
    }

    /// The virtual clock: `t.clock().advance(d)` moves time and runs nothing (then
    /// [`run_due_scheduled_functions`](Runtime::run_due_scheduled_functions) runs what is
    /// due).
    pub fn clock(&self) -> &VirtualClock {
        &self.clock
    }

    /// The virtual time now.
    pub fn now(&self) -> SystemTime {
        self.clock.now()
    }

    /// Moves the virtual clock forward by `by`, then runs every scheduled function that
    /// became due, and those they schedule that are due too, to completion, as
    /// [`Runtime::run_due_scheduled_functions`] does (convex-test's
    /// `vi.advanceTimersByTime` followed by `finishInProgressScheduledFunctions`). Returns
    /// how many ran.
    pub async fn advance_time(&self, by: Duration) -> Result<usize> {
        self.clock.advance(by);
        self.rt.run_due_scheduled_functions().await
    }

    /// Runs scheduled functions until none is pending, moving time to each next due one
    /// (convex-test's `finishAllScheduledFunctions`). Returns how many ran; fails after
    /// [`MAX_SCHEDULER_ROUNDS`] rounds if functions keep scheduling more.
    pub async fn finish_all_scheduled_functions(&self) -> Result<usize> {
        let mut ran = 0;
        for _ in 0..MAX_SCHEDULER_ROUNDS {
            ran += self.rt.run_due_scheduled_functions().await?;
            let next = self
                .read(|db| {
                    Box::pin(async move {
                        Ok(db
                            .query::<ScheduledFunction>()
                            .with_index("by_state", |r| r.eq("state.kind", "pending"))
                            .first()
                            .await?
                            .map(|job| job.scheduled_time))
                    })
                })
                .await?;
            match next {
                None => return Ok(ran),
                Some(due) => {
                    let now = self.clock.now_ms();
                    if due > now {
                        self.clock
                            .advance(Duration::from_secs_f64((due - now) / 1000.0));
                    }
                }
            }
        }
        Err(Error::Db(DbError::LimitExceeded {
            what: "scheduler rounds in finish_all_scheduled_functions",
            limit: MAX_SCHEDULER_ROUNDS,
        }))
    }

    /// The name and state of every scheduled function, oldest due first (by scheduled
    /// time; jobs due at the same time in the order they were scheduled): for asserting on
    /// what was scheduled.
    pub async fn scheduled_functions(&self) -> Result<Vec<(String, JobState)>> {
        self.read(|db| {
            Box::pin(async move {
                let mut jobs: Vec<ScheduledFunction> = db
                    .query::<ScheduledFunction>()
                    .collect()
                    .await?
                    .into_iter()
                    .map(|job| job.into_inner())
                    .collect();
                // A stable sort: the table's order (scheduling order) breaks ties.
                jobs.sort_by(|a, b| a.scheduled_time.total_cmp(&b.scheduled_time));
                Ok(jobs.into_iter().map(|job| (job.name, job.state)).collect())
            })
        })
        .await
    }

    /// Runs `body` with a [`DatabaseWriter`] in a transaction of its own and commits it:
    /// direct set-up of test data (convex-test's `t.run`).
    pub async fn run<T>(
        &self,
        body: impl for<'a> FnOnce(DatabaseWriter<'a>) -> DbFuture<'a, T>,
    ) -> Result<T> {
        let tx = Transaction::begin(self.rt.database().clone(), true);
        let output = body(DatabaseWriter::new(&tx)).await?;
        tx.commit().await?;
        Ok(output)
    }

    /// Runs `body` with a [`DatabaseReader`] at the latest commit: direct inspection.
    pub async fn read<T>(
        &self,
        body: impl for<'a> FnOnce(DatabaseReader<'a>) -> DbFuture<'a, T>,
    ) -> Result<T> {
        let tx = Transaction::begin(self.rt.database().clone(), false);
        body(DatabaseReader::new(&tx)).await
    }
}

impl Deref for TestRuntime {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        &self.rt
    }
}
