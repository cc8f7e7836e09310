//! Running jobs: a mutation exactly once, an action at most once, and failures recorded.

use std::future::Future;

use super::JobState;
use super::worker::Ran;
use crate::ctx::{ActionCtx, LogLines, MutationCtx};
use crate::db::DocumentId;
use crate::db::system::scheduled_functions::{self as jobs, job_state_kind, set_state};
use crate::error::{Error, Result};
use crate::registry::{ErasedActionFn, ErasedMutationFn};
use crate::runtime::{MutationBody, Runtime, catch_panic};
use crate::scheduling::warn;
use crate::value::Value;

/// A scheduled mutation run together with its job's move to `success`.
struct ScheduledMutation<'j> {
    job: &'j DocumentId,
    run: ErasedMutationFn,
    args: &'j Value,
}

/// Whether a job ran, or had been taken care of already (ran, failed or canceled).
enum Outcome {
    Ran,
    Skipped,
}

impl MutationBody for ScheduledMutation<'_> {
    type Output = Outcome;

    fn run<'a, 't>(
        &self,
        ctx: &'a MutationCtx<'t>,
    ) -> impl Future<Output = Result<Outcome>> + Send + 'a {
        let job = self.job.clone();
        let run = self.run;
        let args = self.args.clone();
        async move {
            // Held by another runtime's transaction (a shared database): it runs it.
            if !ctx.tx.try_lock(&job).await? {
                return Ok(Outcome::Skipped);
            }
            // A point read of the job: a concurrent run, failure record or cancel conflicts
            // with this transaction, so at most one of them commits.
            if job_state_kind(ctx.tx, &job).await?.as_deref() != Some(JobState::Pending.kind()) {
                return Ok(Outcome::Skipped);
            }
            run(ctx, args).await?;
            let now = ctx.env.runtime.scheduler().now_ms();
            set_state(ctx.tx, &job, &JobState::Success, now).await?;
            Ok(Outcome::Ran)
        }
    }
}

impl Runtime {
    /// Runs a due mutation job exactly once: its writes and its `success` commit together.
    /// A job canceled or run meanwhile does not run.
    ///
    /// An error of the mutation is recorded as `failed`. A mutation that kept conflicting
    /// until the runtime gave up is left `pending`: it runs again on the next pass. So is
    /// one that could not reach the database, or whose commit's outcome is unknown: that
    /// error is returned, and the next pass runs the job, or finds it done if the commit
    /// was applied after all. Fails also if a failure could not be recorded (the store
    /// refuses commits).
    pub(crate) async fn run_scheduled_mutation(
        &self,
        job: &DocumentId,
        path: &str,
        run: ErasedMutationFn,
        args: &Value,
    ) -> Result<Ran> {
        let body = ScheduledMutation { job, run, args };
        match self
            .in_mutation(path, None, 1, LogLines::disabled(), body)
            .await
        {
            Ok(Outcome::Ran) => Ok(Ran::Yes),
            Ok(Outcome::Skipped) => Ok(Ran::Skipped),
            Err(e) if e.is_conflict() => {
                tracing::debug!(
                    target: "convoke::scheduler",
                    "scheduled mutation {path} ({job}) kept conflicting; it stays pending: {e}"
                );
                Ok(Ran::Retry)
            }
            // Not the mutation's failure but the database's: recording it would end a job
            // that never ran.
            Err(e) if e.is_unavailable() => Err(e),
            Err(e) => {
                self.record_failure(job, &e).await?;
                Ok(Ran::Yes)
            }
        }
    }

    /// Runs a due action job at most once: `in_progress` is committed before it starts,
    /// and it is never started again. Fails only if it could not be started because the
    /// store refuses commits.
    pub(crate) async fn run_scheduled_action(
        &self,
        job: &DocumentId,
        path: &str,
        run: ErasedActionFn,
        args: Value,
    ) -> Result<Ran> {
        // With a shared store, the action records which process runs it.
        let runner = self.database().store.runner_id().await?;
        let claimed = self
            .in_system_transaction(|tx| async move {
                if !tx.try_lock(job).await?
                    || job_state_kind(&tx, job).await?.as_deref() != Some(JobState::Pending.kind())
                {
                    return Ok(false);
                }
                jobs::set_in_progress(&tx, job, runner).await?;
                Ok(true)
            })
            .await;
        match claimed {
            Ok(true) => {}
            Ok(false) => return Ok(Ran::Skipped),
            // Nothing committed: the job is still pending, and a later pass retries.
            Err(e) if e.is_conflict() => return Ok(Ran::Retry),
            Err(e) => return Err(e),
        }
        let ctx = ActionCtx::new(self.for_job(job.clone()), None, 1, LogLines::disabled());
        let result = catch_panic(path, run(&ctx, args)).await;
        let state = match result {
            Ok(_) => JobState::Success,
            Err(e) => JobState::Failed {
                error: e.to_string(),
            },
        };
        let state = &state;
        let finished = self
            .in_system_transaction(|tx| async move {
                // A job canceled while it ran stays canceled.
                if job_state_kind(&tx, job).await?.as_deref() == Some(JobState::InProgress.kind()) {
                    set_state(&tx, job, state, self.scheduler().now_ms()).await?;
                }
                Ok(())
            })
            .await;
        if let Err(e) = finished {
            // It stays `in_progress` until the next start marks it failed, as interrupted.
            warn(&format!(
                "the action {path} ({job}) finished, but its state could not be recorded: {e}"
            ));
        }
        Ok(Ran::Yes)
    }

    /// Records that a job failed with `error`, unless it finished or was canceled meanwhile.
    pub(crate) async fn record_failure(&self, job: &DocumentId, error: &Error) -> Result<()> {
        let state = JobState::Failed {
            error: error.to_string(),
        };
        let state = &state;
        self.in_system_transaction(|tx| async move {
            if let Some("pending" | "in_progress") = job_state_kind(&tx, job).await?.as_deref() {
                set_state(&tx, job, state, self.scheduler().now_ms()).await?;
            }
            Ok(())
        })
        .await
        .inspect_err(|e| {
            warn(&format!(
                "could not record the failure of {job} ({error}): {e}"
            ))
        })
    }
}
