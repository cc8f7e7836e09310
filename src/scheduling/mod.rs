//! The scheduler's part in the runtime layer: its clock, its configuration and state, and
//! the transactions that write and cancel jobs from a mutation or an action.
//!
//! The runtime holds the state and the contexts schedule through these functions; the
//! worker that runs jobs (through the runtime) is the `scheduler` module, above. The public
//! names are re-exported there (`convoke::scheduler::{Clock, SchedulerConfig, ..}`).

pub(crate) mod clock;

use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, UNIX_EPOCH};

use tokio::sync::{Notify, Semaphore};

pub use clock::{Clock, SystemClock, VirtualClock};

use crate::caller::ScheduleTime;
use crate::contention::Attempts;
use crate::db::system::scheduled_functions::{self as jobs, ScheduledFunctionId, insert_job};
use crate::db::{DbError, DocumentId, Transaction};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::value::Value;

/// How many times a transaction of the scheduler's own may run before conflicts make it
/// give up (it re-runs in the contention lane, then exclusively, like a mutation).
const SYSTEM_ATTEMPTS: u32 = 16;

/// How the scheduler runs: [`RuntimeBuilder::scheduler`](crate::RuntimeBuilder::scheduler).
///
/// ```
/// use std::{sync::Arc, time::Duration};
/// use convoke::scheduler::{SchedulerConfig, VirtualClock};
/// let config = SchedulerConfig {
///     concurrency: 4,
///     retention: Duration::from_secs(3600),
///     clock: Arc::new(VirtualClock::new()),
/// };
/// let rt = convoke::Runtime::builder().scheduler(config).build()?;
/// # Ok::<(), convoke::Error>(())
/// ```
#[derive(Clone)]
pub struct SchedulerConfig {
    /// How many scheduled functions run at once (default 10; values below 1 count as 1).
    pub concurrency: usize,
    /// How long finished jobs (succeeded, failed or canceled) stay in
    /// `_scheduled_functions` after they finish (default 7 days, as in Convex).
    pub retention: Duration,
    /// The clock (default: the system clock; tests use a [`VirtualClock`]).
    pub clock: Arc<dyn Clock>,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            concurrency: 10,
            retention: Duration::from_secs(7 * 24 * 3600),
            clock: Arc::new(SystemClock),
        }
    }
}

impl std::fmt::Debug for SchedulerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SchedulerConfig")
            .field("concurrency", &self.concurrency)
            .field("retention", &self.retention)
            .field("virtual_clock", &self.clock.as_virtual().is_some())
            .finish()
    }
}

/// The runtime's scheduler state: configuration, wake-ups, jobs running in this process.
pub(crate) struct Scheduler {
    pub(crate) config: SchedulerConfig,
    /// Wakes the worker: jobs were committed, or a job finished.
    pub(crate) wake: Notify,
    /// Wakes `run_due_scheduled_functions` waiting for a job a worker runs.
    pub(crate) finished: Notify,
    /// Jobs running (or about to) in this process.
    in_flight: Mutex<HashSet<DocumentId>>,
    pub(crate) permits: Arc<Semaphore>,
    /// Whether actions left `in_progress` by a previous process were marked failed.
    pub(crate) recovered: AtomicBool,
}

impl Scheduler {
    pub(crate) fn new(config: SchedulerConfig) -> Self {
        let permits = Arc::new(Semaphore::new(
            config.concurrency.clamp(1, Semaphore::MAX_PERMITS),
        ));
        Scheduler {
            config,
            wake: Notify::new(),
            finished: Notify::new(),
            in_flight: Mutex::new(HashSet::new()),
            permits,
            recovered: AtomicBool::new(false),
        }
    }

    pub(crate) fn now_ms(&self) -> f64 {
        self.config.clock.now_ms()
    }

    /// Tells the worker that jobs were committed or finished.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<DocumentId>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks a job as no longer running here; `retry`: it was left pending (it kept
    /// conflicting), so the worker must look at it again.
    pub(crate) fn release(&self, id: &DocumentId, retry: bool) {
        self.in_flight().remove(id);
        self.finished.notify_waiters();
        if retry {
            self.wake();
        }
    }
}

/// When a job scheduled at `now_ms` for `when` is due.
fn due_time(now_ms: f64, when: ScheduleTime) -> f64 {
    match when {
        ScheduleTime::After(delay) => now_ms + delay.as_secs_f64() * 1000.0,
        ScheduleTime::At(time) => match time.duration_since(UNIX_EPOCH) {
            Ok(since) => since.as_secs_f64() * 1000.0,
            Err(_) => 0.0,
        },
    }
}

impl Runtime {
    /// Runs a transaction of the scheduler's own (no procedure), re-run on conflicts.
    pub(crate) async fn in_system_transaction<T, F, Fut>(&self, body: F) -> Result<T>
    where
        F: Fn(Arc<Transaction>) -> Fut,
        Fut: Future<Output = std::result::Result<T, DbError>>,
    {
        let mut attempts = Attempts::new(self.lanes(), "_scheduler", SYSTEM_ATTEMPTS);
        loop {
            let tx = Arc::new(attempts.begin(self.database()).await?);
            let output = body(tx.clone()).await?;
            let scheduled = tx.scheduled_any();
            let committed = tx.commit().await;
            drop(tx);
            match committed {
                Ok(_) => {
                    if scheduled {
                        self.scheduler().wake();
                    }
                    return Ok(output);
                }
                Err(DbError::Store(e)) if e.is_conflict() => attempts.conflicted(e)?,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Schedules from an action: the job is written (and committed) at once. If the action
    /// runs as a scheduled job that has been canceled, the new job is written canceled.
    pub(crate) async fn schedule_from_action(
        &self,
        path: &str,
        args: Value,
        when: ScheduleTime,
    ) -> Result<ScheduledFunctionId> {
        let args = &args;
        self.in_system_transaction(|tx| async move {
            let canceled = match self.parent_job() {
                Some(parent) => jobs::is_canceled(&tx, parent).await?,
                None => false,
            };
            let now = self.scheduler().now_ms();
            insert_job(&tx, now, path, args.clone(), due_time(now, when), canceled).await
        })
        .await
    }

    /// Cancels from an action: at once.
    pub(crate) async fn cancel_from_action(&self, id: &ScheduledFunctionId) -> Result<()> {
        self.in_system_transaction(|tx| async move {
            jobs::cancel_job(&tx, id, self.scheduler().now_ms()).await
        })
        .await
    }
}

/// Schedules from a mutation: the job is written in the mutation's transaction (and in the
/// savepoint of a nested mutation), so it exists only if that commits.
pub(crate) async fn schedule_in_transaction(
    runtime: &Runtime,
    tx: &Transaction,
    path: &str,
    args: Value,
    when: ScheduleTime,
) -> Result<ScheduledFunctionId> {
    // Called from a canceled, still running action: what it schedules is canceled. The
    // read makes the mutation conflict with a concurrent cancel, so it is seen either way.
    let canceled = match runtime.parent_job() {
        Some(parent) => jobs::is_canceled(tx, parent).await?,
        None => false,
    };
    let now = runtime.scheduler().now_ms();
    Ok(insert_job(tx, now, path, args, due_time(now, when), canceled).await?)
}

/// The arguments of `P` as a value, for the job document.
pub(crate) fn encode_args<A: serde::Serialize>(path: &str, args: &A) -> Result<Value> {
    crate::value::to_value(args).map_err(|e| Error::InvalidArguments {
        path: path.to_owned(),
        reason: e.to_string(),
    })
}

/// Logs what the scheduler could not do (a job's state it could not record, a job it could
/// not run), under the target `convoke::scheduler`.
pub(crate) fn warn(message: &str) {
    tracing::warn!(target: "convoke::scheduler", "{message}");
}
