//! A scheduled mutation that meets an unreachable database stays pending and runs later,
//! exactly once: the outage is not the mutation's failure.
//!
//! The engine is the in-memory one behind a wrapper that, once armed, fails the next
//! commit as a network engine (PostgreSQL) can: `Unavailable` (nothing committed), or
//! `CommitOutcomeUnknown` after applying it (the acknowledgement was lost).

#[path = "support/faulty_store.rs"]
mod faulty_store;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use convoke::scheduler::{JobState, ScheduledFunctionId, SchedulerConfig, VirtualClock};
use convoke::{Result, Runtime};
use faulty_store::{COMMIT_APPLIED_BUT_UNKNOWN, COMMIT_UNAVAILABLE, FaultyStore};

/// Runs of `jobs::tick`.
static TICKS: AtomicUsize = AtomicUsize::new(0);

mod jobs {
    use super::*;
    use convoke::scheduler::ScheduledFunction;
    use convoke::{Doc, MutationCtx, QueryCtx, procedure};

    convoke::module!(jobs);

    #[procedure(mutation, internal)]
    pub async fn tick(_ctx: &MutationCtx<'_>) -> Result<()> {
        TICKS.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn schedule_tick(ctx: &MutationCtx<'_>) -> Result<ScheduledFunctionId> {
        create_jobs_caller(ctx).schedule().now().tick().await
    }

    #[procedure(query)]
    pub async fn job(
        ctx: &QueryCtx<'_>,
        id: ScheduledFunctionId,
    ) -> Result<Option<Doc<ScheduledFunction>>> {
        Ok(ctx.db().get(id).await?)
    }
}

/// A runtime on the faulty store and a virtual clock, with one `tick` scheduled now.
async fn with_one_tick() -> Result<(Runtime, Arc<FaultyStore>, ScheduledFunctionId)> {
    let store = FaultyStore::new();
    let rt = Runtime::builder()
        .shared_storage(store.clone())
        .scheduler(SchedulerConfig {
            clock: Arc::new(VirtualClock::starting_at(1_000_000.0)),
            ..SchedulerConfig::default()
        })
        .build()?;
    let id = rt.mutation(jobs::schedule_tick, ()).await?;
    Ok((rt, store, id))
}

async fn state(rt: &Runtime, id: ScheduledFunctionId) -> Result<JobState> {
    let job = rt.query(jobs::job, id).await?;
    Ok(job.map(|j| j.into_inner().state).expect("the job exists"))
}

// One test function: both cases count runs of `tick` in one static.
#[tokio::test]
async fn an_outage_leaves_a_scheduled_mutation_pending_and_it_runs_once_later() -> Result<()> {
    // Nothing committed: the job stays pending, then runs once.
    let (rt, store, id) = with_one_tick().await?;
    store.arm(COMMIT_UNAVAILABLE);
    let error = rt
        .run_due_scheduled_functions()
        .await
        .expect_err("the pass reports the outage");
    assert!(error.is_unavailable(), "{error}");
    assert_eq!(store.injected(), ["unavailable"]);
    assert_eq!(
        state(&rt, id).await?,
        JobState::Pending,
        "an outage is not the mutation's failure"
    );
    assert_eq!(
        TICKS.load(Ordering::SeqCst),
        1,
        "the handler ran, its commit did not"
    );
    assert_eq!(rt.run_due_scheduled_functions().await?, 1);
    assert_eq!(state(&rt, id).await?, JobState::Success);
    assert_eq!(TICKS.load(Ordering::SeqCst), 2);

    // Committed, but the acknowledgement was lost: the next pass finds the job done and
    // does not run it again.
    let (rt, store, id) = with_one_tick().await?;
    store.arm(COMMIT_APPLIED_BUT_UNKNOWN);
    let error = rt
        .run_due_scheduled_functions()
        .await
        .expect_err("the pass reports the unknown outcome");
    assert!(error.is_unavailable(), "{error}");
    assert_eq!(store.injected(), ["applied but unknown"]);
    assert_eq!(state(&rt, id).await?, JobState::Success);
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);
    assert_eq!(state(&rt, id).await?, JobState::Success);
    assert_eq!(TICKS.load(Ordering::SeqCst), 3, "ran once for this job");
    Ok(())
}
