//! The worker: finds due jobs and runs them, with bounded concurrency; removes finished
//! jobs past their retention.

use std::sync::atomic::Ordering;

use super::JobState;
use crate::db::system::scheduled_functions::{
    due_jobs, finished_jobs, running_action, running_actions, set_state,
};
use crate::db::{DocumentId, Transaction};
use crate::error::{Error, Result};
use crate::registry::ErasedInvoke;
use crate::runtime::Runtime;
use crate::scheduling::warn;
use crate::value::Value;

/// What became of a job the worker started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ran {
    /// It ran (or failed without running, e.g. its procedure does not exist).
    Yes,
    /// It had been run, failed or canceled meanwhile: nothing was done.
    Skipped,
    /// It kept conflicting and was left pending: run it again.
    Retry,
}

/// A job marked as running in this process, unmarked when dropped: also when the future
/// running it is dropped (a stopped worker, a caller that gave up waiting).
struct InFlight {
    rt: Runtime,
    id: DocumentId,
    retry: bool,
}

impl InFlight {
    /// Marks job `id` as running here; `None` if it already is.
    fn claim(rt: &Runtime, id: &DocumentId) -> Option<InFlight> {
        rt.scheduler()
            .in_flight()
            .insert(id.clone())
            .then(|| InFlight {
                rt: rt.clone(),
                id: id.clone(),
                retry: false,
            })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.rt.scheduler().release(&self.id, self.retry);
    }
}

/// A running worker, from [`Runtime::start_scheduler`]. Dropping it (or calling
/// [`stop`](SchedulerHandle::stop)) stops the worker; jobs already started finish on their
/// own tasks.
#[derive(Debug)]
#[must_use = "dropping the handle stops the worker"]
pub struct SchedulerHandle {
    task: tokio::task::JoinHandle<()>,
}

impl SchedulerHandle {
    /// Stops the worker.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for SchedulerHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How many due jobs the worker reads at a time (plus those already running).
const BATCH: usize = 256;
/// How many expired jobs one cleanup transaction deletes.
const CLEANUP_BATCH: usize = 1000;
/// The longest the worker sleeps before looking again (the system clock may jump).
const MAX_SLEEP_MS: f64 = 60_000.0;

/// With a shared store, how often the worker looks for actions whose process is gone.
pub(crate) const SWEEP_EVERY_MS: f64 = 30_000.0;

/// What one pass of the worker found.
struct Pass {
    /// More jobs are due than were read: look again at once.
    more_due: bool,
    /// When the next pending job (not due yet) is due.
    next_due: Option<f64>,
}

impl Runtime {
    /// Starts the scheduler's worker on the current tokio runtime: due jobs run as they
    /// come due, at most [`SchedulerConfig::concurrency`] at once, each on a task of its
    /// own; finished jobs are removed once their retention has passed.
    ///
    /// First, actions left `in_progress` by a previous process (one that stopped while
    /// they ran) are marked `failed`; they are never run again.
    ///
    /// Must be called inside a tokio runtime. Run one worker per store: two runtimes over
    /// one store, each with a worker, would each take the other's running actions for
    /// interrupted ones.
    pub fn start_scheduler(&self) -> SchedulerHandle {
        let rt = self.for_scheduler();
        SchedulerHandle {
            task: tokio::spawn(async move { rt.worker_loop().await }),
        }
    }

    async fn worker_loop(&self) {
        let scheduler = self.scheduler();
        if let Err(e) = self.recover_interrupted_actions().await {
            warn(&format!("could not recover interrupted actions: {e}"));
        }
        let retention_ms = scheduler.config.retention.as_secs_f64() * 1000.0;
        // When to remove expired jobs next: when the oldest finished job expires, or, with
        // none finished, a retention from now (no job finishing later expires earlier).
        let mut next_cleanup: Option<f64> = None;
        // A shared store: jobs other processes commit do not wake this worker, and their
        // processes may stop while running actions.
        let poll_ms = self
            .database()
            .store
            .poll_interval()
            .map(|poll| poll.as_secs_f64() * 1000.0);
        let mut next_sweep = scheduler.now_ms() + SWEEP_EVERY_MS;
        loop {
            let now = scheduler.now_ms();
            if poll_ms.is_some() && now >= next_sweep {
                next_sweep = now + SWEEP_EVERY_MS;
                if let Err(e) = self.recover_interrupted_actions().await {
                    warn(&format!("could not recover interrupted actions: {e}"));
                }
            }
            let pass = match self.start_due_jobs(now).await {
                Ok(pass) => pass,
                Err(e) => {
                    warn(&format!("reading due jobs failed: {e}"));
                    Pass {
                        more_due: false,
                        next_due: Some(now + 1000.0),
                    }
                }
            };
            if next_cleanup.is_none_or(|at| at <= now) {
                next_cleanup = match self.remove_expired_jobs(now).await {
                    Ok(next) => Some(next.unwrap_or(now + retention_ms)),
                    Err(e) => {
                        warn(&format!("removing expired jobs failed: {e}"));
                        Some(now + MAX_SLEEP_MS)
                    }
                };
            }
            if pass.more_due {
                tokio::task::yield_now().await;
                continue;
            }
            let deadline = match (pass.next_due, next_cleanup) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let longest = poll_ms.unwrap_or(MAX_SLEEP_MS).min(MAX_SLEEP_MS);
            let deadline = Some(
                deadline
                    .unwrap_or(f64::INFINITY)
                    .min(scheduler.now_ms() + longest),
            );
            tokio::select! {
                () = scheduler.config.clock.sleep_until(deadline) => {}
                () = scheduler.wake.notified() => {}
            }
        }
    }

    /// Starts every job due at `now` that is not running yet, each on a task of its own
    /// once a concurrency permit is free.
    async fn start_due_jobs(&self, now: f64) -> Result<Pass> {
        let scheduler = self.scheduler();
        let limit = BATCH + scheduler.in_flight().len();
        let due = due_jobs(self.database(), now, limit, |id| {
            scheduler.in_flight().contains(id)
        })
        .await?;
        for job in due.jobs {
            // The permit first: if the worker is stopped while it waits, nothing is claimed.
            let permit = scheduler.permits.clone().acquire_owned().await;
            let Some(claim) = InFlight::claim(self, &job.id) else {
                continue;
            };
            let rt = self.clone();
            tokio::spawn(async move {
                // The whole guard moves into the task (not just the field it sets).
                let mut claim = claim;
                let _permit = permit;
                claim.retry = match rt.run_job(&job.id, job.name, job.args).await {
                    Ok(ran) => ran == Ran::Retry,
                    Err(e) => {
                        // The job stays as it was; the next pass (on the next wake-up)
                        // tries again.
                        warn(&format!("could not run the scheduled job {}: {e}", job.id));
                        false
                    }
                };
            });
        }
        Ok(Pass {
            more_due: due.full,
            next_due: due.next,
        })
    }

    /// Runs every scheduled function that is due now, and every one those schedule that
    /// is due now too, to completion, one at a time in due order; then removes finished
    /// jobs past their retention. Returns how many functions ran.
    ///
    /// For tests with a [`VirtualClock`](super::VirtualClock): advance the clock, then call
    /// this (like convex-test's `finishInProgressScheduledFunctions`);
    /// [`TestRuntime::advance_time`](crate::testing::TestRuntime::advance_time) does both.
    /// Needs no worker; jobs a running worker has started are waited for. Like
    /// [`start_scheduler`], the first call marks actions left `in_progress` by a previous
    /// process as failed.
    ///
    /// A function that always schedules itself again at once keeps this from returning.
    ///
    /// [`start_scheduler`]: Runtime::start_scheduler
    pub async fn run_due_scheduled_functions(&self) -> Result<usize> {
        let rt = self.for_scheduler();
        let scheduler = rt.scheduler();
        rt.recover_interrupted_actions().await?;
        let mut ran = 0;
        loop {
            let now = scheduler.now_ms();
            let finished = scheduler.finished.notified();
            tokio::pin!(finished);
            finished.as_mut().enable();
            let limit = BATCH + scheduler.in_flight().len();
            let due = due_jobs(rt.database(), now, limit, |_| false).await?;
            if due.jobs.is_empty() {
                break;
            }
            let mut started = 0;
            for job in due.jobs {
                let Some(claim) = InFlight::claim(&rt, &job.id) else {
                    continue;
                };
                started += 1;
                let permit = scheduler.permits.acquire().await;
                let outcome = rt.run_job(&job.id, job.name, job.args).await;
                drop(permit);
                drop(claim);
                if outcome? == Ran::Yes {
                    ran += 1;
                }
            }
            if started == 0 {
                // Every due job is being run by a worker: wait for one to finish.
                finished.await;
            }
        }
        rt.remove_expired_jobs(scheduler.now_ms()).await?;
        Ok(ran)
    }

    /// Runs one job: a mutation exactly once, an action at most once.
    /// Fails only if the store refused to record what happened.
    async fn run_job(&self, id: &DocumentId, name: String, args: Value) -> Result<Ran> {
        let error = match self.procedure_entry(&name) {
            Ok(entry) => match entry.invoke {
                ErasedInvoke::Mutation(run) => {
                    return self.run_scheduled_mutation(id, &name, run, &args).await;
                }
                ErasedInvoke::Action(run) => {
                    return self.run_scheduled_action(id, &name, run, args).await;
                }
                ErasedInvoke::Query(_) => Error::WrongKind {
                    path: name,
                    expected: crate::ProcedureKind::Mutation,
                    actual: crate::ProcedureKind::Query,
                },
            },
            // E.g. a job scheduled by an earlier version of the program.
            Err(error) => error,
        };
        self.record_failure(id, &error).await?;
        Ok(Ran::Yes)
    }

    /// Marks actions left `in_progress` by a process that is gone as failed.
    ///
    /// With a store of one process, every running action not running here was left by a
    /// previous process: they are marked once per runtime (the first time a worker starts
    /// or due functions are run). With a shared store, an action is interrupted when the
    /// process whose runner id it records is gone; the worker looks again every
    /// [`SWEEP_EVERY_MS`].
    async fn recover_interrupted_actions(&self) -> Result<()> {
        let scheduler = self.scheduler();
        let store = &self.database().store;
        let me = store.runner_id().await?;
        if me.is_none() && scheduler.recovered.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let outcome = self.fail_interrupted_actions(me).await;
        if outcome.is_err() {
            scheduler.recovered.store(false, Ordering::Release);
        }
        outcome
    }

    async fn fail_interrupted_actions(&self, me: Option<i64>) -> Result<()> {
        let scheduler = self.scheduler();
        let store = &self.database().store;
        let running = {
            let tx = Transaction::begin(self.database().clone(), false);
            running_actions(&tx).await?
        };
        let mut interrupted = Vec::new();
        for (id, runner) in running {
            // Running in this process (another handle started it): not interrupted.
            if scheduler.in_flight().contains(&id) {
                continue;
            }
            let gone = match (me, runner) {
                (Some(_), Some(runner)) => !store.is_runner_alive(runner).await?,
                // One process, or an action started by one: this process is its successor.
                _ => true,
            };
            if gone {
                interrupted.push((id, runner));
            }
        }
        if interrupted.is_empty() {
            return Ok(());
        }
        let state = JobState::Failed {
            error: INTERRUPTED.to_owned(),
        };
        let (state, interrupted) = (&state, &interrupted);
        self.in_system_transaction(|tx| async move {
            let now = scheduler.now_ms();
            for (id, runner) in interrupted {
                // Still as it was seen: running under the runner found gone.
                if running_action(&tx, id).await? == Some(*runner) {
                    set_state(&tx, id, state, now).await?;
                }
            }
            Ok(())
        })
        .await
    }

    /// Deletes finished jobs whose retention has passed at `now`; returns when the next
    /// one expires (`None` if no job is finished).
    async fn remove_expired_jobs(&self, now: f64) -> Result<Option<f64>> {
        let retention_ms = self.scheduler().config.retention.as_secs_f64() * 1000.0;
        let cutoff = now - retention_ms;
        loop {
            let more = self
                .in_system_transaction(|tx| async move {
                    let (expired, full) = finished_jobs(&tx, Some(cutoff), CLEANUP_BATCH).await?;
                    for (id, _) in &expired {
                        tx.delete(id).await?;
                    }
                    Ok(full)
                })
                .await?;
            if !more {
                break;
            }
        }
        let tx = Transaction::begin(self.database().clone(), false);
        let (oldest, _) = finished_jobs(&tx, None, 1).await?;
        Ok(oldest
            .iter()
            .map(|(_, completed)| completed + retention_ms)
            .reduce(f64::min))
    }
}

/// The error recorded for an action that was running when its process stopped.
pub(crate) const INTERRUPTED: &str = "the action was interrupted: the process running it \
stopped before it finished (a scheduled action runs at most once, so it was not run again)";
