//! The scheduler: every state transition, transactional scheduling (rollback of jobs with
//! their mutation or savepoint), exactly-once mutations and at-most-once actions, cancel,
//! ordering, the concurrency bound, identity, limits, retention, the virtual clock and the
//! worker on the system clock.
//!
//! Tests with a [`VirtualClock`] never sleep: they advance the clock and run what is due.
//! Tests with the worker on the system clock wait for conditions with bounded timeouts.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convoke::db::DbError;
use convoke::scheduler::{
    Clock, JobState, MAX_SCHEDULED_PER_TRANSACTION, ScheduledFunction, SchedulerConfig,
    VirtualClock,
};
use convoke::{Error, Result, Runtime, ScheduledFunctionId, Table, UserIdentity};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

/// What scheduled functions leave behind: one mark per run.
#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "marks")]
pub struct Mark {
    pub text: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "counters")]
pub struct Counter {
    pub n: i64,
}

/// A gate a scheduled action waits at, so a test can look at it while it runs: the action
/// adds a permit to `started`, then waits for one in `release`.
#[derive(Debug)]
pub struct Gate {
    started: Semaphore,
    release: Semaphore,
}

impl Default for Gate {
    fn default() -> Self {
        Gate {
            started: Semaphore::new(0),
            release: Semaphore::new(0),
        }
    }
}

static GATES: LazyLock<Mutex<HashMap<String, Arc<Gate>>>> = LazyLock::new(Default::default);

fn gate(key: &str) -> Arc<Gate> {
    GATES
        .lock()
        .unwrap()
        .entry(key.to_owned())
        .or_default()
        .clone()
}

impl Gate {
    async fn wait_started(&self) {
        tokio::time::timeout(Duration::from_secs(10), self.started.acquire())
            .await
            .expect("the gated action did not start within 10 s")
            .expect("semaphore")
            .forget();
    }

    fn open(&self) {
        self.release.add_permits(1);
    }
}

/// Runs of actions, by key, counted by the actions themselves.
static RUNS: LazyLock<Mutex<HashMap<String, usize>>> = LazyLock::new(Default::default);

fn runs(key: &str) -> usize {
    RUNS.lock().unwrap().get(key).copied().unwrap_or(0)
}

mod jobs {
    use super::*;
    use convoke::{ActionCtx, Doc, MutationCtx, QueryCtx, procedure};

    convoke::module!(jobs);

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Plan {
        pub text: String,
        /// Delay in ms; `None` for `now()`.
        pub after_ms: Option<u64>,
    }

    impl Plan {
        pub fn now(text: &str) -> Self {
            Plan {
                text: text.to_owned(),
                after_ms: None,
            }
        }

        pub fn after(text: &str, ms: u64) -> Self {
            Plan {
                text: text.to_owned(),
                after_ms: Some(ms),
            }
        }
    }

    // --- What is scheduled ---------------------------------------------------------------

    /// Leaves a mark.
    #[procedure(mutation)]
    pub async fn record(ctx: &MutationCtx<'_>, text: String) -> Result<()> {
        ctx.db().insert(&Mark { text }).await?;
        Ok(())
    }

    /// Leaves a mark, then fails: the mark is rolled back.
    #[procedure(mutation)]
    pub async fn record_then_fail(ctx: &MutationCtx<'_>, text: String) -> Result<()> {
        ctx.db().insert(&Mark { text }).await?;
        Err(Error::user("record_then_fail failed on purpose"))
    }

    /// Leaves a mark, then panics: the mark is rolled back.
    #[procedure(mutation)]
    pub async fn record_then_panic(ctx: &MutationCtx<'_>, text: String) -> Result<()> {
        ctx.db().insert(&Mark { text }).await?;
        panic!("record_then_panic panicked on purpose");
    }

    /// Adds one to the only counter (creating it at 1).
    #[procedure(mutation)]
    pub async fn increment(ctx: &MutationCtx<'_>) -> Result<i64> {
        let db = ctx.db();
        match db.query::<Counter>().first().await? {
            Some(c) => {
                db.replace(c.id(), &Counter { n: c.n + 1 }).await?;
                Ok(c.n + 1)
            }
            None => {
                db.insert(&Counter { n: 1 }).await?;
                Ok(1)
            }
        }
    }

    /// Counts its run under `key`, and leaves a mark through a mutation.
    #[procedure(action)]
    pub async fn act(ctx: &ActionCtx, key: String) -> Result<()> {
        *RUNS.lock().unwrap().entry(key.clone()).or_default() += 1;
        create_jobs_caller(ctx).record(key).await
    }

    /// Leaves mark `chain-n`, then schedules `chain(n - 1)` at once, down to 0.
    #[procedure(mutation)]
    pub async fn chain(ctx: &MutationCtx<'_>, n: u32) -> Result<()> {
        ctx.db()
            .insert(&Mark {
                text: format!("chain-{n}"),
            })
            .await?;
        if n > 0 {
            create_jobs_caller(ctx)
                .schedule()
                .now()
                .chain(n - 1)
                .await?;
        }
        Ok(())
    }

    /// Fails.
    #[procedure(action)]
    pub async fn act_fail(_ctx: &ActionCtx, key: String) -> Result<()> {
        *RUNS.lock().unwrap().entry(key.clone()).or_default() += 1;
        Err(Error::user(format!("act_fail {key} failed on purpose")))
    }

    /// Panics.
    #[procedure(action)]
    pub async fn act_panic(_ctx: &ActionCtx, key: String) -> Result<()> {
        *RUNS.lock().unwrap().entry(key.clone()).or_default() += 1;
        panic!("act_panic {key} panicked on purpose");
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Gated {
        pub key: String,
        /// Fail once released.
        pub fail: bool,
        /// Once released, schedule `record(key + "-after")` directly, through a mutation
        /// and through a nested action.
        pub schedule_after: bool,
    }

    /// Waits at gate `key`, then finishes as told.
    #[procedure(action)]
    pub async fn gated(ctx: &ActionCtx, args: Gated) -> Result<()> {
        *RUNS.lock().unwrap().entry(args.key.clone()).or_default() += 1;
        let gate = gate(&args.key);
        gate.started.add_permits(1);
        gate.release.acquire().await.expect("semaphore").forget();
        if args.schedule_after {
            let caller = create_jobs_caller(ctx);
            caller
                .schedule()
                .now()
                .record(format!("{}-direct", args.key))
                .await?;
            caller
                .schedule_record(Plan::now(&format!("{}-via-mutation", args.key)))
                .await?;
            caller
                .actions()
                .schedule_from_action(Plan::now(&format!("{}-via-action", args.key)))
                .await?;
        }
        if args.fail {
            return Err(Error::user(format!("gated {} failed on purpose", args.key)));
        }
        Ok(())
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Busy {
        pub key: String,
        pub ms: u64,
    }

    pub static RUNNING: AtomicUsize = AtomicUsize::new(0);
    pub static MAX_RUNNING: AtomicUsize = AtomicUsize::new(0);

    /// Counts how many of these run at once (the sleep only makes runs overlap).
    #[procedure(action)]
    pub async fn busy(ctx: &ActionCtx, args: Busy) -> Result<()> {
        let now = RUNNING.fetch_add(1, Ordering::SeqCst) + 1;
        MAX_RUNNING.fetch_max(now, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(args.ms)).await;
        RUNNING.fetch_sub(1, Ordering::SeqCst);
        create_jobs_caller(ctx).record(args.key).await
    }

    /// Marks who runs it: the subject, or "anonymous".
    #[procedure(mutation)]
    pub async fn whoami_mutation(ctx: &MutationCtx<'_>) -> Result<()> {
        let who = ctx.auth().user_identity().map(|u| u.subject().to_owned());
        let text = format!("mutation:{}", who.as_deref().unwrap_or("anonymous"));
        ctx.db().insert(&Mark { text }).await?;
        Ok(())
    }

    /// Marks who runs it, through a mutation it calls (which sees the same identity).
    #[procedure(action)]
    pub async fn whoami_action(ctx: &ActionCtx) -> Result<()> {
        let who = ctx.auth().user_identity().map(|u| u.subject().to_owned());
        create_jobs_caller(ctx)
            .record(format!("action:{}", who.as_deref().unwrap_or("anonymous")))
            .await
    }

    // --- Scheduling ----------------------------------------------------------------------

    /// Schedules `record(text)`.
    #[procedure(mutation)]
    pub async fn schedule_record(ctx: &MutationCtx<'_>, plan: Plan) -> Result<ScheduledFunctionId> {
        let schedule = create_jobs_caller(ctx).schedule();
        match plan.after_ms {
            Some(ms) => {
                schedule
                    .after(Duration::from_millis(ms))
                    .record(plan.text)
                    .await
            }
            None => schedule.now().record(plan.text).await,
        }
    }

    /// Schedules `record(text)` at a given time (ms since the epoch).
    #[procedure(mutation)]
    pub async fn schedule_record_at(
        ctx: &MutationCtx<'_>,
        args: (String, u64),
    ) -> Result<ScheduledFunctionId> {
        let at = UNIX_EPOCH + Duration::from_millis(args.1);
        create_jobs_caller(ctx)
            .schedule()
            .at(at)
            .record(args.0)
            .await
    }

    /// Schedules `record(text)` from an action: written at once.
    #[procedure(action)]
    pub async fn schedule_from_action(ctx: &ActionCtx, plan: Plan) -> Result<ScheduledFunctionId> {
        let schedule = create_jobs_caller(ctx).schedule();
        match plan.after_ms {
            Some(ms) => {
                schedule
                    .after(Duration::from_millis(ms))
                    .record(plan.text)
                    .await
            }
            None => schedule.now().record(plan.text).await,
        }
    }

    /// Schedules from an action, then fails: the job stays.
    #[procedure(action)]
    pub async fn schedule_then_fail_action(ctx: &ActionCtx, text: String) -> Result<()> {
        create_jobs_caller(ctx)
            .schedule()
            .now()
            .record(text)
            .await?;
        Err(Error::user("the action failed after scheduling"))
    }

    /// Schedules, then fails: the job is rolled back with the mutation.
    #[procedure(mutation)]
    pub async fn schedule_then_fail(ctx: &MutationCtx<'_>, text: String) -> Result<()> {
        create_jobs_caller(ctx)
            .schedule()
            .now()
            .record(text)
            .await?;
        Err(Error::user("the mutation failed after scheduling"))
    }

    /// Schedules, then panics.
    #[procedure(mutation)]
    pub async fn schedule_then_panic(ctx: &MutationCtx<'_>, text: String) -> Result<()> {
        create_jobs_caller(ctx)
            .schedule()
            .now()
            .record(text)
            .await?;
        panic!("schedule_then_panic panicked on purpose");
    }

    /// Schedules `outer`, then calls a nested mutation that schedules `inner` and fails
    /// (its savepoint rolls back), then one that schedules `kept` and succeeds.
    #[procedure(mutation)]
    pub async fn schedule_nested(ctx: &MutationCtx<'_>) -> Result<()> {
        let caller = create_jobs_caller(ctx);
        caller.schedule().now().record("outer".into()).await?;
        let inner = caller.schedule_then_fail("inner".into()).await;
        assert!(inner.is_err());
        caller.schedule_record(Plan::now("kept")).await?;
        Ok(())
    }

    /// Schedules `record(text)` and cancels it in the same mutation.
    #[procedure(mutation)]
    pub async fn schedule_and_cancel(
        ctx: &MutationCtx<'_>,
        text: String,
    ) -> Result<ScheduledFunctionId> {
        let schedule = create_jobs_caller(ctx).schedule();
        let id = schedule.now().record(text).await?;
        schedule.cancel(id).await?;
        Ok(id)
    }

    #[procedure(mutation)]
    pub async fn schedule_chain(ctx: &MutationCtx<'_>, n: u32) -> Result<ScheduledFunctionId> {
        create_jobs_caller(ctx).schedule().now().chain(n).await
    }

    #[procedure(mutation)]
    pub async fn schedule_fail(ctx: &MutationCtx<'_>, text: String) -> Result<ScheduledFunctionId> {
        create_jobs_caller(ctx)
            .schedule()
            .now()
            .record_then_fail(text)
            .await
    }

    #[procedure(mutation)]
    pub async fn schedule_panic(
        ctx: &MutationCtx<'_>,
        text: String,
    ) -> Result<ScheduledFunctionId> {
        create_jobs_caller(ctx)
            .schedule()
            .now()
            .record_then_panic(text)
            .await
    }

    #[procedure(mutation)]
    pub async fn schedule_act(ctx: &MutationCtx<'_>, key: String) -> Result<ScheduledFunctionId> {
        create_jobs_caller(ctx).schedule().now().act(key).await
    }

    #[procedure(mutation)]
    pub async fn schedule_act_fail(
        ctx: &MutationCtx<'_>,
        key: String,
    ) -> Result<ScheduledFunctionId> {
        create_jobs_caller(ctx).schedule().now().act_fail(key).await
    }

    #[procedure(mutation)]
    pub async fn schedule_act_panic(
        ctx: &MutationCtx<'_>,
        key: String,
    ) -> Result<ScheduledFunctionId> {
        create_jobs_caller(ctx)
            .schedule()
            .now()
            .act_panic(key)
            .await
    }

    #[procedure(mutation)]
    pub async fn schedule_gated(ctx: &MutationCtx<'_>, args: Gated) -> Result<ScheduledFunctionId> {
        create_jobs_caller(ctx).schedule().now().gated(args).await
    }

    #[procedure(mutation)]
    pub async fn schedule_busy(ctx: &MutationCtx<'_>, args: Vec<Busy>) -> Result<()> {
        let schedule = create_jobs_caller(ctx).schedule();
        for busy in args {
            schedule.now().busy(busy).await?;
        }
        Ok(())
    }

    /// Schedules `n` increments.
    #[procedure(mutation)]
    pub async fn schedule_increments(ctx: &MutationCtx<'_>, n: usize) -> Result<()> {
        let schedule = create_jobs_caller(ctx).schedule();
        for _ in 0..n {
            schedule.now().increment().await?;
        }
        Ok(())
    }

    /// Schedules `n` marks (and writes a mark of its own, to show it did not commit).
    #[procedure(mutation)]
    pub async fn schedule_many(ctx: &MutationCtx<'_>, n: usize) -> Result<()> {
        ctx.db()
            .insert(&Mark {
                text: "schedule_many".into(),
            })
            .await?;
        let schedule = create_jobs_caller(ctx).schedule();
        for i in 0..n {
            schedule.now().record(format!("many-{i}")).await?;
        }
        Ok(())
    }

    /// Schedules one mark for each size, with a string argument of that many bytes.
    #[procedure(mutation)]
    pub async fn schedule_sized(ctx: &MutationCtx<'_>, sizes: Vec<usize>) -> Result<()> {
        let schedule = create_jobs_caller(ctx).schedule();
        for size in sizes {
            schedule.now().record("x".repeat(size)).await?;
        }
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn schedule_whoami(ctx: &MutationCtx<'_>) -> Result<Option<String>> {
        let schedule = create_jobs_caller(ctx).schedule();
        schedule.now().whoami_mutation().await?;
        schedule.now().whoami_action().await?;
        Ok(ctx.auth().user_identity().map(|u| u.subject().to_owned()))
    }

    #[procedure(mutation)]
    pub async fn cancel(ctx: &MutationCtx<'_>, id: ScheduledFunctionId) -> Result<()> {
        create_jobs_caller(ctx).schedule().cancel(id).await
    }

    #[procedure(action)]
    pub async fn cancel_from_action(ctx: &ActionCtx, id: ScheduledFunctionId) -> Result<()> {
        create_jobs_caller(ctx).schedule().cancel(id).await
    }

    // --- Reading ---------------------------------------------------------------------

    #[procedure(query)]
    pub async fn marks(ctx: &QueryCtx<'_>) -> Result<Vec<String>> {
        let marks = ctx.db().query::<Mark>().collect().await?;
        Ok(marks.into_iter().map(|m| m.into_inner().text).collect())
    }

    #[procedure(query)]
    pub async fn counter(ctx: &QueryCtx<'_>) -> Result<i64> {
        Ok(ctx
            .db()
            .query::<Counter>()
            .first()
            .await?
            .map_or(0, |c| c.n))
    }

    #[procedure(query)]
    pub async fn job(
        ctx: &QueryCtx<'_>,
        id: ScheduledFunctionId,
    ) -> Result<Option<Doc<ScheduledFunction>>> {
        Ok(ctx.db().get(id).await?)
    }

    #[procedure(query)]
    pub async fn all_jobs(ctx: &QueryCtx<'_>) -> Result<Vec<Doc<ScheduledFunction>>> {
        Ok(ctx.db().query::<ScheduledFunction>().collect().await?)
    }

    /// Jobs in a state, through the `by_state` index, oldest due first.
    #[procedure(query)]
    pub async fn jobs_in_state(
        ctx: &QueryCtx<'_>,
        kind: String,
    ) -> Result<Vec<Doc<ScheduledFunction>>> {
        Ok(ctx
            .db()
            .query::<ScheduledFunction>()
            .with_index("by_state", |r| r.eq("state.kind", kind))
            .collect()
            .await?)
    }

    /// Tries each write to `_scheduled_functions`; returns the errors.
    #[procedure(mutation)]
    pub async fn write_system_table(
        ctx: &MutationCtx<'_>,
        id: ScheduledFunctionId,
    ) -> Result<Vec<String>> {
        let db = ctx.db();
        let job = db.get(id).await?.expect("the job").into_inner();
        let mut errors = Vec::new();
        let mut note = |r: std::result::Result<(), DbError>| match r {
            Err(e) if e.is_system_table() => errors.push(e.to_string()),
            other => errors.push(format!("unexpected: {other:?}")),
        };
        note(db.insert(&job).await.map(|_| ()));
        note(
            db.patch(id, &serde_json::json!({ "name": "jobs:other" }))
                .await,
        );
        note(db.replace(id, &job).await);
        note(db.delete(id).await);
        Ok(errors)
    }
}

// --- Helpers ---------------------------------------------------------------------------

fn config(clock: &Arc<VirtualClock>) -> SchedulerConfig {
    SchedulerConfig {
        clock: clock.clone(),
        ..SchedulerConfig::default()
    }
}

/// A runtime on a virtual clock starting at 1,000,000 ms.
fn virtual_rt() -> (Runtime, Arc<VirtualClock>) {
    let clock = Arc::new(VirtualClock::starting_at(1_000_000.0));
    let rt = Runtime::builder()
        .scheduler(config(&clock))
        .build()
        .expect("runtime");
    (rt, clock)
}

/// Moves `clock` forward by `by`, then runs what became due (a runtime without a worker).
async fn advance(rt: &Runtime, clock: &VirtualClock, by: Duration) -> Result<usize> {
    clock.advance(by);
    rt.run_due_scheduled_functions().await
}

async fn job(rt: &Runtime, id: ScheduledFunctionId) -> ScheduledFunction {
    rt.query(jobs::job, id)
        .await
        .expect("read the job")
        .expect("the job exists")
        .into_inner()
}

async fn state(rt: &Runtime, id: ScheduledFunctionId) -> JobState {
    job(rt, id).await.state
}

async fn marks(rt: &Runtime) -> Vec<String> {
    rt.query(jobs::marks, ()).await.expect("marks")
}

async fn all_jobs(rt: &Runtime) -> Vec<ScheduledFunction> {
    rt.query(jobs::all_jobs, ())
        .await
        .expect("jobs")
        .into_iter()
        .map(|d| d.into_inner())
        .collect()
}

fn failed_with(state: &JobState, needle: &str) -> bool {
    matches!(state, JobState::Failed { error } if error.contains(needle))
}

/// Waits (polling, at most `secs` seconds) until `check` holds.
async fn wait_until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let waited = tokio::time::timeout(Duration::from_secs(secs), async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "timed out after {secs} s waiting for {what}"
    );
}

// --- States ----------------------------------------------------------------------------

#[tokio::test]
async fn mutation_goes_from_pending_to_success() -> Result<()> {
    let (rt, clock) = virtual_rt();
    let id = rt
        .mutation(jobs::schedule_record, jobs::Plan::after("later", 10_000))
        .await?;
    let pending = job(&rt, id).await;
    assert_eq!(pending.name, "jobs:record");
    assert_eq!(pending.args, convoke::value::Value::String("later".into()));
    assert_eq!(pending.scheduled_time, 1_010_000.0);
    assert_eq!(pending.completed_time, None);
    assert_eq!(pending.state, JobState::Pending);

    // Not due yet: nothing runs.
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);
    clock.advance(Duration::from_millis(9_999));
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);
    assert_eq!(state(&rt, id).await, JobState::Pending);
    assert!(marks(&rt).await.is_empty());

    clock.advance(Duration::from_millis(1));
    assert_eq!(rt.run_due_scheduled_functions().await?, 1);
    let done = job(&rt, id).await;
    assert_eq!(done.state, JobState::Success);
    assert_eq!(done.completed_time, Some(1_010_000.0));
    assert_eq!(marks(&rt).await, ["later"]);

    // Nothing runs twice.
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);
    assert_eq!(marks(&rt).await, ["later"]);
    Ok(())
}

#[tokio::test]
async fn mutation_goes_from_pending_to_failed_on_err_and_its_writes_roll_back() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let id = rt.mutation(jobs::schedule_fail, "failing".into()).await?;
    assert_eq!(rt.run_due_scheduled_functions().await?, 1);
    let failed = job(&rt, id).await;
    assert!(
        failed_with(&failed.state, "record_then_fail failed on purpose"),
        "{:?}",
        failed.state
    );
    assert_eq!(failed.completed_time, Some(1_000_000.0));
    assert!(
        marks(&rt).await.is_empty(),
        "a failed mutation's writes roll back"
    );
    // Failed jobs are not retried.
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);
    Ok(())
}

#[tokio::test]
async fn mutation_goes_from_pending_to_failed_on_panic() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let id = rt
        .mutation(jobs::schedule_panic, "panicking".into())
        .await?;
    assert_eq!(rt.run_due_scheduled_functions().await?, 1);
    let state = state(&rt, id).await;
    assert!(failed_with(&state, "jobs:record_then_panic"), "{state:?}");
    assert!(failed_with(&state, "panicked on purpose"), "{state:?}");
    assert!(marks(&rt).await.is_empty());
    // The runtime still works.
    let id = rt
        .mutation(jobs::schedule_record, jobs::Plan::now("fine"))
        .await?;
    assert_eq!(rt.run_due_scheduled_functions().await?, 1);
    assert_eq!(self::state(&rt, id).await, JobState::Success);
    Ok(())
}

#[tokio::test]
async fn action_goes_from_pending_to_in_progress_to_success() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let key = "action-success";
    let id = schedule_gated(&rt, key, false, false).await?;
    assert_eq!(state(&rt, id).await, JobState::Pending);
    let runner = run_due_in_background(&rt);
    let gate = gate(key);
    gate.wait_started().await;
    let running = job(&rt, id).await;
    assert_eq!(running.state, JobState::InProgress);
    assert_eq!(running.completed_time, None);
    gate.open();
    assert_eq!(runner.await.expect("join")?, 1);
    let done = job(&rt, id).await;
    assert_eq!(done.state, JobState::Success);
    assert!(done.completed_time.is_some());
    assert_eq!(runs(key), 1);
    Ok(())
}

#[tokio::test]
async fn action_goes_from_in_progress_to_failed_on_err() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let key = "action-fails";
    let id = schedule_gated(&rt, key, true, false).await?;
    let runner = run_due_in_background(&rt);
    let gate = gate(key);
    gate.wait_started().await;
    assert_eq!(state(&rt, id).await, JobState::InProgress);
    gate.open();
    assert_eq!(runner.await.expect("join")?, 1);
    let state = state(&rt, id).await;
    assert!(
        failed_with(&state, "gated action-fails failed on purpose"),
        "{state:?}"
    );

    // Err and panic without a gate, too; neither is retried.
    let err_id = rt
        .mutation(jobs::schedule_act_fail, "act-fail".into())
        .await?;
    let panic_id = rt
        .mutation(jobs::schedule_act_panic, "act-panic".into())
        .await?;
    assert_eq!(rt.run_due_scheduled_functions().await?, 2);
    let err_state = self::state(&rt, err_id).await;
    assert!(
        failed_with(&err_state, "act_fail act-fail failed on purpose"),
        "{err_state:?}"
    );
    let panic_state = self::state(&rt, panic_id).await;
    assert!(
        failed_with(&panic_state, "jobs:act_panic"),
        "{panic_state:?}"
    );
    assert!(
        failed_with(&panic_state, "panicked on purpose"),
        "{panic_state:?}"
    );
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);
    assert_eq!((runs("act-fail"), runs("act-panic")), (1, 1));
    Ok(())
}

#[tokio::test]
async fn canceled_pending_jobs_never_run() -> Result<()> {
    let (rt, clock) = virtual_rt();
    let from_mutation = rt
        .mutation(jobs::schedule_record, jobs::Plan::after("a", 1_000))
        .await?;
    let from_action = rt
        .mutation(jobs::schedule_record, jobs::Plan::after("b", 1_000))
        .await?;
    let action_job = rt
        .mutation(jobs::schedule_act, "canceled-act".into())
        .await?;
    rt.mutation(jobs::cancel, from_mutation).await?;
    rt.action(jobs::cancel_from_action, from_action).await?;
    rt.mutation(jobs::cancel, action_job).await?;
    for id in [from_mutation, from_action, action_job] {
        let canceled = job(&rt, id).await;
        assert_eq!(canceled.state, JobState::Canceled);
        assert_eq!(canceled.completed_time, Some(1_000_000.0));
    }
    clock.advance(Duration::from_secs(5));
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);
    assert!(marks(&rt).await.is_empty());
    assert_eq!(runs("canceled-act"), 0);

    // Scheduled and canceled in one mutation.
    let id = rt.mutation(jobs::schedule_and_cancel, "c".into()).await?;
    assert_eq!(state(&rt, id).await, JobState::Canceled);
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);

    // Canceling again, or canceling a finished job, changes nothing.
    rt.mutation(jobs::cancel, from_mutation).await?;
    let done = rt
        .mutation(jobs::schedule_record, jobs::Plan::now("d"))
        .await?;
    assert_eq!(rt.run_due_scheduled_functions().await?, 1);
    rt.mutation(jobs::cancel, done).await?;
    assert_eq!(state(&rt, done).await, JobState::Success);
    assert_eq!(marks(&rt).await, ["d"]);

    // An id of no job is an error.
    let nothing: ScheduledFunctionId = "_scheduled_functions:999999".parse().expect("id");
    let err = rt.mutation(jobs::cancel, nothing).await.unwrap_err();
    assert!(matches!(&err, Error::Db(e) if e.is_not_found()), "{err}");
    Ok(())
}

#[tokio::test]
async fn canceling_a_running_action_lets_it_finish_and_cancels_what_it_schedules() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let key = "canceled-while-running";
    let id = schedule_gated(&rt, key, false, true).await?;
    let runner = run_due_in_background(&rt);
    let gate = gate(key);
    gate.wait_started().await;
    assert_eq!(state(&rt, id).await, JobState::InProgress);
    rt.mutation(jobs::cancel, id).await?;
    let canceled = job(&rt, id).await;
    assert_eq!(canceled.state, JobState::Canceled);
    assert!(canceled.completed_time.is_some());
    gate.open();
    // The action ran to its end (it scheduled three jobs), and nothing else ran.
    assert_eq!(runner.await.expect("join")?, 1);
    assert_eq!(runs(key), 1);
    // It stays canceled.
    assert_eq!(state(&rt, id).await, JobState::Canceled);
    // What it scheduled after the cancel, directly, through a mutation and through a
    // nested action, was written canceled, and never runs.
    let scheduled: Vec<ScheduledFunction> = all_jobs(&rt)
        .await
        .into_iter()
        .filter(|j| j.name == "jobs:record")
        .collect();
    let mut texts: Vec<String> = scheduled
        .iter()
        .map(|j| match &j.args {
            convoke::value::Value::String(s) => s.clone(),
            other => format!("{other:?}"),
        })
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            format!("{key}-direct"),
            format!("{key}-via-action"),
            format!("{key}-via-mutation")
        ]
    );
    assert!(
        scheduled.iter().all(|j| j.state == JobState::Canceled),
        "{scheduled:?}"
    );
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);
    assert!(marks(&rt).await.is_empty());

    // The same action, not canceled: what it schedules runs.
    let key = "not-canceled";
    schedule_gated(&rt, key, false, true).await?;
    gate_open_in_advance(key);
    assert_eq!(rt.run_due_scheduled_functions().await?, 4);
    let mut marks = marks(&rt).await;
    marks.sort();
    assert_eq!(
        marks,
        [
            format!("{key}-direct"),
            format!("{key}-via-action"),
            format!("{key}-via-mutation")
        ]
    );
    Ok(())
}

fn gate_open_in_advance(key: &str) {
    gate(key).open();
}

// --- Transactional scheduling -----------------------------------------------------------

#[tokio::test]
async fn jobs_scheduled_by_a_failing_mutation_are_rolled_back() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let err = rt
        .mutation(jobs::schedule_then_fail, "never".into())
        .await
        .unwrap_err();
    assert!(err.is_user(), "{err}");
    let err = rt
        .mutation(jobs::schedule_then_panic, "never".into())
        .await
        .unwrap_err();
    assert!(err.is_panic(), "{err}");
    assert!(all_jobs(&rt).await.is_empty());
    assert_eq!(rt.run_due_scheduled_functions().await?, 0);
    assert!(marks(&rt).await.is_empty());
    Ok(())
}

#[tokio::test]
async fn jobs_scheduled_in_a_rolled_back_savepoint_disappear() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    rt.mutation(jobs::schedule_nested, ()).await?;
    let mut names: Vec<String> = all_jobs(&rt)
        .await
        .into_iter()
        .map(|j| format!("{}({})", j.name, j.args))
        .collect();
    names.sort();
    assert_eq!(names, [r#"jobs:record("kept")"#, r#"jobs:record("outer")"#]);
    assert_eq!(rt.run_due_scheduled_functions().await?, 2);
    let mut marks = marks(&rt).await;
    marks.sort();
    assert_eq!(marks, ["kept", "outer"]);
    Ok(())
}

#[tokio::test]
async fn actions_schedule_at_once_even_if_they_fail_later() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let err = rt
        .action(jobs::schedule_then_fail_action, "kept".into())
        .await
        .unwrap_err();
    assert!(err.is_user());
    let jobs = all_jobs(&rt).await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Pending);
    assert_eq!(rt.run_due_scheduled_functions().await?, 1);
    assert_eq!(marks(&rt).await, ["kept"]);

    // An action's schedule returns the id of a committed job.
    let id = rt
        .action(jobs::schedule_from_action, jobs::Plan::after("later", 500))
        .await?;
    let pending = job(&rt, id).await;
    assert_eq!(pending.scheduled_time, 1_000_500.0);
    assert_eq!(pending.state, JobState::Pending);
    Ok(())
}

// --- Exactly once, at most once ----------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contended_scheduled_mutations_run_exactly_once() -> Result<()> {
    let rt = Runtime::builder()
        .scheduler(SchedulerConfig {
            concurrency: 8,
            ..SchedulerConfig::default()
        })
        .build()?;
    rt.mutation(jobs::schedule_increments, 200).await?;
    let worker = rt.start_scheduler();
    // A second runner competes with the worker for the same jobs.
    let rival = rt.run_due_scheduled_functions();
    let rival_ran = tokio::time::timeout(Duration::from_secs(60), rival)
        .await
        .expect("run_due_scheduled_functions finished")?;
    wait_until(60, "200 increments", || async {
        rt.query(jobs::jobs_in_state, "success".into())
            .await
            .expect("jobs")
            .len()
            == 200
    })
    .await;
    drop(worker);
    assert!(rival_ran <= 200);
    assert_eq!(rt.query(jobs::counter, ()).await?, 200);
    let jobs = all_jobs(&rt).await;
    assert_eq!(jobs.len(), 200);
    assert!(jobs.iter().all(|j| j.state == JobState::Success));
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduled_actions_run_at_most_once_with_competing_runners() -> Result<()> {
    let rt = Runtime::builder()
        .scheduler(SchedulerConfig {
            concurrency: 4,
            ..SchedulerConfig::default()
        })
        .build()?;
    let keys: Vec<String> = (0..40).map(|i| format!("at-most-once-{i}")).collect();
    for key in &keys {
        rt.mutation(jobs::schedule_act, key.clone()).await?;
    }
    // Two runtimes' worth of runners: a worker, and two concurrent passes.
    let worker = rt.start_scheduler();
    let (a, b) = tokio::join!(
        rt.run_due_scheduled_functions(),
        rt.run_due_scheduled_functions()
    );
    a?;
    b?;
    wait_until(30, "40 actions", || async {
        rt.query(jobs::jobs_in_state, "success".into())
            .await
            .expect("jobs")
            .len()
            == 40
    })
    .await;
    drop(worker);
    for key in &keys {
        assert_eq!(runs(key), 1, "{key}");
    }
    assert_eq!(marks(&rt).await.len(), 40);
    Ok(())
}

// --- Time ------------------------------------------------------------------------------

#[tokio::test]
async fn times_in_the_past_run_at_once() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let long_ago = rt
        .mutation(jobs::schedule_record_at, ("epoch".into(), 1))
        .await?;
    let just_now = rt
        .mutation(jobs::schedule_record_at, ("just now".into(), 999_000))
        .await?;
    assert_eq!(job(&rt, long_ago).await.scheduled_time, 1.0);
    assert_eq!(job(&rt, just_now).await.scheduled_time, 999_000.0);
    // Without moving the clock.
    assert_eq!(rt.run_due_scheduled_functions().await?, 2);
    assert_eq!(marks(&rt).await, ["epoch", "just now"]);
    // `at` the current time, too.
    rt.mutation(jobs::schedule_record_at, ("now".into(), 1_000_000))
        .await?;
    assert_eq!(rt.run_due_scheduled_functions().await?, 1);
    Ok(())
}

#[tokio::test]
async fn jobs_run_in_due_order() -> Result<()> {
    let (rt, clock) = virtual_rt();
    for (text, ms) in [("third", 3_000), ("first", 1_000), ("second", 2_000)] {
        rt.mutation(jobs::schedule_record, jobs::Plan::after(text, ms))
            .await?;
    }
    rt.mutation(jobs::schedule_record, jobs::Plan::now("zeroth"))
        .await?;
    rt.action(
        jobs::schedule_from_action,
        jobs::Plan::after("second too", 2_000),
    )
    .await?;
    assert_eq!(advance(&rt, &clock, Duration::from_secs(5)).await?, 5);
    assert_eq!(
        marks(&rt).await,
        ["zeroth", "first", "second", "second too", "third"]
    );
    Ok(())
}

#[tokio::test]
async fn advancing_the_clock_runs_only_what_is_due() -> Result<()> {
    let (rt, clock) = virtual_rt();
    for (text, ms) in [("1s", 1_000), ("2s", 2_000), ("1h", 3_600_000)] {
        rt.mutation(jobs::schedule_record, jobs::Plan::after(text, ms))
            .await?;
    }
    assert_eq!(advance(&rt, &clock, Duration::from_millis(1_500)).await?, 1);
    assert_eq!(clock.now_ms(), 1_001_500.0);
    assert_eq!(marks(&rt).await, ["1s"]);
    assert_eq!(advance(&rt, &clock, Duration::from_secs(1)).await?, 1);
    assert_eq!(advance(&rt, &clock, Duration::ZERO).await?, 0);
    assert_eq!(advance(&rt, &clock, Duration::from_secs(3600)).await?, 1);
    assert_eq!(marks(&rt).await, ["1s", "2s", "1h"]);

    // Chains run to completion: what a due job schedules for now runs in the same call.
    rt.mutation(jobs::schedule_chain, 3).await?;
    assert_eq!(rt.run_due_scheduled_functions().await?, 4);
    assert_eq!(
        marks(&rt).await[3..],
        ["chain-3", "chain-2", "chain-1", "chain-0"]
    );
    Ok(())
}

// --- Identity, concurrency, limits ----------------------------------------------------------

#[tokio::test]
async fn scheduled_functions_run_without_identity() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let ada = rt.with_identity(UserIdentity::new("https://auth.example.com", "ada"));
    // The scheduling mutation runs as ada; what it schedules runs as nobody.
    assert_eq!(
        ada.mutation(jobs::schedule_whoami, ()).await?.as_deref(),
        Some("ada")
    );
    // Running through ada's handle changes nothing.
    assert_eq!(ada.run_due_scheduled_functions().await?, 2);
    let mut marks = marks(&rt).await;
    marks.sort();
    assert_eq!(marks, ["action:anonymous", "mutation:anonymous"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_respects_the_concurrency_bound() -> Result<()> {
    let rt = Runtime::builder()
        .scheduler(SchedulerConfig {
            concurrency: 3,
            ..SchedulerConfig::default()
        })
        .build()?;
    let busy: Vec<jobs::Busy> = (0..12)
        .map(|i| jobs::Busy {
            key: format!("busy-{i}"),
            ms: 30,
        })
        .collect();
    rt.mutation(jobs::schedule_busy, busy).await?;
    let worker = rt.start_scheduler();
    wait_until(30, "12 busy actions", || async {
        rt.query(jobs::jobs_in_state, "success".into())
            .await
            .expect("jobs")
            .len()
            == 12
    })
    .await;
    drop(worker);
    let max = jobs::MAX_RUNNING.load(Ordering::SeqCst);
    assert!(max <= 3, "{max} actions ran at once; the bound is 3");
    assert!(max >= 2, "the actions never overlapped ({max})");
    Ok(())
}

#[tokio::test]
async fn one_mutation_schedules_at_most_1000_functions() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    assert_eq!(MAX_SCHEDULED_PER_TRANSACTION, 1000);
    let err = rt.mutation(jobs::schedule_many, 1001).await.unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::Db(e) if e.is_limit_exceeded()),
        "{message}"
    );
    assert!(message.contains("functions scheduled"), "{message}");
    assert!(message.contains("1000"), "{message}");
    // Nothing of the mutation committed.
    assert!(all_jobs(&rt).await.is_empty());
    assert!(marks(&rt).await.is_empty());

    rt.mutation(jobs::schedule_many, 1000).await?;
    assert_eq!(all_jobs(&rt).await.len(), 1000);
    assert_eq!(rt.run_due_scheduled_functions().await?, 1000);
    assert_eq!(marks(&rt).await.len(), 1001);
    Ok(())
}

#[tokio::test]
async fn scheduled_arguments_are_bounded() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    // One function's arguments must fit in its job document (1 MiB).
    let err = rt
        .mutation(jobs::schedule_sized, vec![2 << 20])
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::Db(e @ DbError::ScheduledArgsTooLarge { .. }) if e.is_limit_exceeded()),
        "{message}"
    );
    assert!(message.contains("jobs:record"), "{message}");
    assert!(message.contains("1 MiB"), "{message}");

    // Their total per mutation is at most 8 MiB.
    let err = rt
        .mutation(jobs::schedule_sized, vec![1_000_000; 9])
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(&err, Error::Db(e @ DbError::LimitExceeded { .. }) if e.is_limit_exceeded()),
        "{message}"
    );
    assert!(
        message.contains("scheduled function arguments"),
        "{message}"
    );
    assert!(message.contains("8388608"), "{message}");
    assert!(all_jobs(&rt).await.is_empty());

    // Below both, fine.
    rt.mutation(jobs::schedule_sized, vec![1_000_000; 8])
        .await?;
    assert_eq!(all_jobs(&rt).await.len(), 8);
    Ok(())
}

// --- Retention ---------------------------------------------------------------------------

#[tokio::test]
async fn finished_jobs_are_removed_after_the_retention() -> Result<()> {
    let clock = Arc::new(VirtualClock::starting_at(1_000_000.0));
    let rt = Runtime::builder()
        .scheduler(SchedulerConfig {
            retention: Duration::from_secs(3600),
            ..config(&clock)
        })
        .build()?;
    let done = rt
        .mutation(jobs::schedule_record, jobs::Plan::now("done"))
        .await?;
    let failed = rt.mutation(jobs::schedule_fail, "failed".into()).await?;
    let canceled = rt
        .mutation(
            jobs::schedule_record,
            jobs::Plan::after("canceled", 100_000_000),
        )
        .await?;
    let pending = rt
        .mutation(
            jobs::schedule_record,
            jobs::Plan::after("pending", 100_000_000),
        )
        .await?;
    rt.mutation(jobs::cancel, canceled).await?;
    assert_eq!(rt.run_due_scheduled_functions().await?, 2);

    advance(&rt, &clock, Duration::from_secs(3599)).await?;
    assert_eq!(all_jobs(&rt).await.len(), 4, "kept for the retention");
    advance(&rt, &clock, Duration::from_secs(1)).await?;
    for id in [done, failed, canceled] {
        assert!(rt.query(jobs::job, id).await?.is_none(), "{id} was removed");
    }
    // A pending job is never removed, however old.
    assert_eq!(state(&rt, pending).await, JobState::Pending);
    assert_eq!(all_jobs(&rt).await.len(), 1);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_removes_expired_jobs_on_a_virtual_clock() -> Result<()> {
    let clock = Arc::new(VirtualClock::starting_at(1_000_000.0));
    let rt = Runtime::builder()
        .scheduler(SchedulerConfig {
            retention: Duration::from_secs(60),
            ..config(&clock)
        })
        .build()?;
    let worker = rt.start_scheduler();
    let id = rt
        .mutation(jobs::schedule_record, jobs::Plan::now("x"))
        .await?;
    wait_until(10, "the job to run", || async {
        state(&rt, id).await == JobState::Success
    })
    .await;
    clock.advance(Duration::from_secs(61));
    wait_until(10, "the job to be removed", || async {
        rt.query(jobs::job, id).await.expect("job").is_none()
    })
    .await;
    // A job scheduled in an hour runs when the clock gets there, without a runner call.
    let id = rt
        .mutation(
            jobs::schedule_record,
            jobs::Plan::after("in an hour", 3_600_000),
        )
        .await?;
    clock.advance(Duration::from_secs(3599));
    assert_eq!(state(&rt, id).await, JobState::Pending);
    clock.advance(Duration::from_secs(1));
    wait_until(10, "the hour-later job", || async {
        state(&rt, id).await == JobState::Success
    })
    .await;
    drop(worker);
    Ok(())
}

// --- The worker on the system clock --------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worker_runs_jobs_promptly() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let worker = rt.start_scheduler();
    let started = std::time::Instant::now();
    let now = rt
        .mutation(jobs::schedule_record, jobs::Plan::now("now"))
        .await?;
    wait_until(5, "the job scheduled now", || async {
        state(&rt, now).await == JobState::Success
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "took {:?}",
        started.elapsed()
    );

    let scheduled_at = SystemTime::now();
    let later = rt
        .mutation(jobs::schedule_record, jobs::Plan::after("later", 100))
        .await?;
    let from_action = rt
        .action(
            jobs::schedule_from_action,
            jobs::Plan::after("from action", 50),
        )
        .await?;
    wait_until(5, "the delayed jobs", || async {
        state(&rt, later).await == JobState::Success
            && state(&rt, from_action).await == JobState::Success
    })
    .await;
    let done = job(&rt, later).await;
    let due = done.scheduled_time;
    let completed = done.completed_time.expect("completed");
    assert!(
        completed >= due,
        "ran at {completed}, before it was due at {due}"
    );
    assert!(
        completed - due < 1_000.0,
        "ran {} ms after it was due",
        completed - due
    );
    let scheduled_ms = scheduled_at
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs_f64()
        * 1000.0;
    assert!(due >= scheduled_ms + 100.0 - 1.0);
    // Actions too.
    let act = rt.mutation(jobs::schedule_act, "worker-act".into()).await?;
    wait_until(5, "the action", || async {
        state(&rt, act).await == JobState::Success
    })
    .await;
    worker.stop();
    let mut marks = marks(&rt).await;
    marks.sort();
    assert_eq!(marks, ["from action", "later", "now", "worker-act"]);
    Ok(())
}

// --- The system table --------------------------------------------------------------------

#[tokio::test]
async fn the_system_table_is_readable_not_writable() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let first = rt
        .mutation(jobs::schedule_record, jobs::Plan::after("b", 2_000))
        .await?;
    let second = rt
        .mutation(jobs::schedule_record, jobs::Plan::after("a", 1_000))
        .await?;
    let failing = rt.mutation(jobs::schedule_fail, "f".into()).await?;
    rt.run_due_scheduled_functions().await?;

    // Through the `by_state` index, oldest due first.
    let pending = rt.query(jobs::jobs_in_state, "pending".into()).await?;
    let ids: Vec<ScheduledFunctionId> = pending.iter().map(|d| d.id()).collect();
    assert_eq!(ids, [second, first]);
    let failed = rt.query(jobs::jobs_in_state, "failed".into()).await?;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id(), failing);

    // By name, as JSON: the documented shape.
    let json = rt
        .run("jobs:job", serde_json::json!(failing.to_string()))
        .await?;
    assert_eq!(json["_id"], failing.to_string());
    assert_eq!(json["name"], "jobs:record_then_fail");
    assert_eq!(json["args"], "f");
    assert_eq!(json["state"]["kind"], "failed");
    assert!(
        json["state"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("on purpose")),
        "{json}"
    );
    assert!(json["scheduled_time"].is_f64());
    assert!(json["completed_time"].is_f64());
    let json = rt
        .run("jobs:job", serde_json::json!(first.to_string()))
        .await?;
    assert_eq!(json["state"], serde_json::json!({ "kind": "pending" }));
    assert_eq!(json["completed_time"], serde_json::Value::Null);

    // Writes are refused, with a clear error, and change nothing.
    let errors = rt.mutation(jobs::write_system_table, first).await?;
    assert_eq!(errors.len(), 4, "{errors:?}");
    for (error, op) in errors.iter().zip(["insert", "patch", "replace", "delete"]) {
        assert!(
            error.contains("'_scheduled_functions' is a system table") && error.contains(op),
            "{error}"
        );
    }
    assert_eq!(job(&rt, first).await.name, "jobs:record");
    assert_eq!(all_jobs(&rt).await.len(), 3);
    Ok(())
}

#[tokio::test]
async fn scheduling_returns_ids_of_the_system_table() -> Result<()> {
    let (rt, _clock) = virtual_rt();
    let id = rt
        .mutation(jobs::schedule_record, jobs::Plan::now("x"))
        .await?;
    assert!(id.to_string().starts_with("_scheduled_functions:"), "{id}");
    let parsed: ScheduledFunctionId = id.to_string().parse().expect("parses back");
    assert_eq!(parsed, id);
    assert!("marks:1".parse::<ScheduledFunctionId>().is_err());
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_worker_strands_no_job() -> Result<()> {
    let rt = Runtime::builder()
        .scheduler(SchedulerConfig {
            concurrency: 1,
            ..SchedulerConfig::default()
        })
        .build()?;
    let key = "holds-the-only-permit";
    let gated = schedule_gated(&rt, key, false, false).await?;
    let worker = rt.start_scheduler();
    let gate = gate(key);
    gate.wait_started().await;
    // Due while the only permit is taken: the worker waits for it.
    let waiting = rt
        .mutation(jobs::schedule_record, jobs::Plan::now("waiting"))
        .await?;
    worker.stop();
    gate.open();
    // The stopped worker's job finishes on its own task; the waiting one runs here.
    let ran = tokio::time::timeout(Duration::from_secs(10), rt.run_due_scheduled_functions())
        .await
        .expect("run_due_scheduled_functions returned")?;
    assert_eq!(ran, 1);
    assert_eq!(state(&rt, waiting).await, JobState::Success);
    wait_until(10, "the gated action", || async {
        state(&rt, gated).await == JobState::Success
    })
    .await;
    assert_eq!(runs(key), 1);
    Ok(())
}

/// Schedules the gated action of `key` from a mutation.
async fn schedule_gated(
    rt: &Runtime,
    key: &str,
    fail: bool,
    schedule_after: bool,
) -> Result<ScheduledFunctionId> {
    rt.mutation(
        jobs::schedule_gated,
        jobs::Gated {
            key: key.into(),
            fail,
            schedule_after,
        },
    )
    .await
}

/// Runs the due scheduled functions on a task of their own, so the test can watch them.
fn run_due_in_background(rt: &Runtime) -> tokio::task::JoinHandle<Result<usize>> {
    let rt = rt.clone();
    tokio::spawn(async move { rt.run_due_scheduled_functions().await })
}
