//! A scheduled mutation that meets an unreachable database stays pending and runs later,
//! exactly once: the outage is not the mutation's failure.
//!
//! The engine is the in-memory one behind a wrapper that, once armed, fails the next
//! commit as a network engine (PostgreSQL) can: `Unavailable` (nothing committed), or
//! `CommitOutcomeUnknown` after applying it (the acknowledgement was lost).

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use convoke::db::DocumentId;
use convoke::db::index::KeyRange;
use convoke::db::schema::Schema;
use convoke::scheduler::{JobState, ScheduledFunctionId, SchedulerConfig, VirtualClock};
use convoke::store::{
    CommitRequest, Document, MemoryStore, Order, Storage, StoreError, StoreFuture, Timestamp,
};
use convoke::{Result, Runtime};

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

/// What the armed wrapper does to the next commit.
const PASS: u8 = 0;
const UNAVAILABLE: u8 = 1;
const APPLIED_BUT_UNKNOWN: u8 = 2;

/// The in-memory engine, failing the next commit as `fault` says once armed.
struct FlakyCommits {
    inner: MemoryStore,
    fault: AtomicU8,
    /// Commits failed so far, by kind.
    failed: Mutex<Vec<&'static str>>,
}

impl Storage for FlakyCommits {
    fn set_schema(&self, schema: &Schema) -> std::result::Result<(), StoreError> {
        Storage::set_schema(&self.inner, schema)
    }

    fn begin(&self, writable: bool) -> Timestamp {
        Storage::begin(&self.inner, writable)
    }

    fn release(&self, snapshot: Timestamp) {
        Storage::release(&self.inner, snapshot)
    }

    fn get<'a>(
        &'a self,
        snapshot: Timestamp,
        id: &'a DocumentId,
    ) -> StoreFuture<'a, std::result::Result<Option<Arc<Document>>, StoreError>> {
        Storage::get(&self.inner, snapshot, id)
    }

    fn scan<'a>(
        &'a self,
        snapshot: Timestamp,
        table: &'a str,
        index: &'a str,
        range: &'a KeyRange,
        order: Order,
        limit: Option<usize>,
    ) -> StoreFuture<'a, std::result::Result<Vec<Arc<Document>>, StoreError>> {
        Storage::scan(&self.inner, snapshot, table, index, range, order, limit)
    }

    fn allocate_id<'a>(
        &'a self,
        snapshot: Timestamp,
        table: &'a str,
    ) -> StoreFuture<'a, std::result::Result<DocumentId, StoreError>> {
        Storage::allocate_id(&self.inner, snapshot, table)
    }

    fn commit(
        &self,
        request: CommitRequest,
    ) -> StoreFuture<'_, std::result::Result<Timestamp, StoreError>> {
        let record = |kind| {
            self.failed
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(kind)
        };
        match self.fault.swap(PASS, Ordering::SeqCst) {
            UNAVAILABLE => {
                record("unavailable");
                StoreFuture::ready(Err(StoreError::Unavailable {
                    reason: "connection refused (injected)".to_owned(),
                }))
            }
            APPLIED_BUT_UNKNOWN => StoreFuture::boxed(async move {
                Storage::commit(&self.inner, request).await?;
                record("applied but unknown");
                Err(StoreError::CommitOutcomeUnknown {
                    reason: "connection lost after COMMIT (injected)".to_owned(),
                })
            }),
            _ => Storage::commit(&self.inner, request),
        }
    }
}

/// A runtime on the flaky store and a virtual clock, with one `tick` scheduled now.
async fn with_one_tick() -> Result<(Runtime, Arc<FlakyCommits>, ScheduledFunctionId)> {
    let store = Arc::new(FlakyCommits {
        inner: MemoryStore::new(),
        fault: AtomicU8::new(PASS),
        failed: Mutex::new(Vec::new()),
    });
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
    store.fault.store(UNAVAILABLE, Ordering::SeqCst);
    let error = rt
        .run_due_scheduled_functions()
        .await
        .expect_err("the pass reports the outage");
    assert!(error.is_unavailable(), "{error}");
    assert_eq!(*store.failed.lock().expect("lock"), ["unavailable"]);
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
    store.fault.store(APPLIED_BUT_UNKNOWN, Ordering::SeqCst);
    let error = rt
        .run_due_scheduled_functions()
        .await
        .expect_err("the pass reports the unknown outcome");
    assert!(error.is_unavailable(), "{error}");
    assert_eq!(*store.failed.lock().expect("lock"), ["applied but unknown"]);
    assert_eq!(state(&rt, id).await?, JobState::Success);
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);
    assert_eq!(state(&rt, id).await?, JobState::Success);
    assert_eq!(TICKS.load(Ordering::SeqCst), 3, "ran once for this job");
    Ok(())
}
