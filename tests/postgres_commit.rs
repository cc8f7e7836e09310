//! The PostgreSQL engine's commit protocol.
//!
//! - `apply_commit` (the plpgsql function each commit runs) refuses to run unless its
//!   transaction took the commit lock first: a commit sent outside the committer's batch,
//!   or after the batch's `COMMIT`, fails instead of writing without the lock.
//! - Many commits queued at once (batches past a few dozen) all commit, in order, with
//!   conflicting ones re-run: the counter ends exact and no insert is lost.
//! - A job claimed by a running scheduled mutation blocks no commit: another runtime on the
//!   same schema (another process, as far as PostgreSQL can tell) cancels it and commits
//!   while the mutation still runs; the mutation then finds the job canceled and commits
//!   nothing.
//! - A mutation that read nothing from the database (a limit of 0, then a blind insert)
//!   commits even when the commit log has been pruned past the start: there is no snapshot
//!   to be too old.

#[path = "support/postgres.rs"]
mod postgres;

use std::time::Duration;

use convoke::{Runtime, Table};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "items")]
pub struct Item {
    pub n: i64,
}

mod items {
    use super::Item;
    use convoke::scheduler::ScheduledFunctionId;
    use convoke::{Id, MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(items);

    #[procedure(mutation)]
    pub async fn add(ctx: &MutationCtx<'_>, n: i64) -> Result<Id<Item>> {
        Ok(ctx.db().insert(&Item { n }).await?)
    }

    /// Reads the item and writes it back plus one: concurrent runs conflict.
    #[procedure(mutation)]
    pub async fn bump(ctx: &MutationCtx<'_>, id: Id<Item>) -> Result<()> {
        let Some(item) = ctx.db().get(id).await? else {
            return Err(convoke::Error::user("no such item"));
        };
        ctx.db().replace(id, &Item { n: item.n + 1 }).await?;
        Ok(())
    }

    /// Run as a scheduled job: inserts an item, says it started, and waits to be released
    /// before returning.
    #[procedure(mutation, internal)]
    pub async fn slow(ctx: &MutationCtx<'_>, n: i64) -> Result<()> {
        ctx.db().insert(&Item { n }).await?;
        super::SLOW_STARTED.notify_one();
        super::SLOW_RELEASE.notified().await;
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn schedule_slow(ctx: &MutationCtx<'_>, n: i64) -> Result<ScheduledFunctionId> {
        create_items_caller(ctx).schedule().now().slow(n).await
    }

    #[procedure(mutation)]
    pub async fn cancel(ctx: &MutationCtx<'_>, id: ScheduledFunctionId) -> Result<()> {
        create_items_caller(ctx).schedule().cancel(id).await
    }

    #[procedure(query)]
    pub async fn job_state(ctx: &QueryCtx<'_>, id: ScheduledFunctionId) -> Result<Option<String>> {
        let job = ctx.db().get(id).await?;
        Ok(job.map(|job| job.state.kind().to_owned()))
    }

    /// Reads no item (a limit of 0), then inserts one.
    #[procedure(mutation)]
    pub async fn add_after_reading_none(ctx: &MutationCtx<'_>, n: i64) -> Result<Id<Item>> {
        let none = ctx.db().query::<Item>().take(0).await?;
        assert!(none.is_empty());
        Ok(ctx.db().insert(&Item { n }).await?)
    }

    #[procedure(query)]
    pub async fn all(ctx: &QueryCtx<'_>) -> Result<Vec<i64>> {
        let items = ctx.db().query::<Item>().collect().await?;
        Ok(items.into_iter().map(|item| item.n).collect())
    }
}

/// The scheduled `slow` mutation has started / may finish.
static SLOW_STARTED: tokio::sync::Notify = tokio::sync::Notify::const_new();
static SLOW_RELEASE: tokio::sync::Notify = tokio::sync::Notify::const_new();

fn runtime(schema: &str) -> Runtime {
    Runtime::builder()
        .storage(postgres::store(schema))
        .build()
        .expect("a runtime on a fresh schema")
}

/// `apply_commit` with an empty commit (nothing read, nothing written), in `schema`.
fn empty_commit(schema: &str) -> String {
    let text = "ARRAY[]::text[]";
    let bigint = "ARRAY[]::bigint[]";
    let bytea = "ARRAY[]::bytea[]";
    let float = "ARRAY[]::double precision[]";
    format!(
        "SELECT \"{schema}\".apply_commit(0, {text}, {text}, {bytea}, {bytea}, {text}, {bigint}, \
         {text}, {bigint}, {text}, {bigint}, {float}, {text}, {text}, {bigint}, {float}, {text}, \
         {text}, {text}, {bytea}, {bigint})"
    )
}

/// Runs `sql` as one simple query on a connection of its own; PostgreSQL's message if it
/// fails.
async fn run(sql: &str) -> Result<(), String> {
    let (client, connection) = tokio_postgres::connect(&postgres::url(), tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    client.batch_execute(sql).await.map_err(|e| {
        e.as_db_error()
            .map_or(e.to_string(), |db| db.message().to_owned())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_commit_runs_only_under_the_commit_lock() {
    if !postgres::available("apply_commit_runs_only_under_the_commit_lock") {
        return;
    }
    let schema = postgres::fresh_schema("convoke_commit_lock");
    let _guard = postgres::DropSchema(schema.clone());
    let rt = runtime(&schema);
    rt.mutation(items::add, 1)
        .await
        .expect("a commit through the engine");

    // On its own (autocommit), or in a transaction without the lock: refused.
    for sql in [
        empty_commit(&schema),
        format!("BEGIN; {}; COMMIT", empty_commit(&schema)),
    ] {
        let error = run(&sql).await.expect_err("refused without the lock");
        assert!(error.contains("only under the commit lock"), "{error}");
    }
    // The lock of another schema does not count.
    let error = run(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock(hashtext('convoke'), hashtext('other')), \
         set_config('convoke.commit_lock', 'other', true); {}; COMMIT",
        empty_commit(&schema)
    ))
    .await
    .expect_err("refused under another schema's lock");
    assert!(error.contains("only under the commit lock"), "{error}");
    // After the lock, as the committer sends it: accepted.
    run(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock(hashtext('convoke'), hashtext('{schema}')), \
         set_config('convoke.commit_lock', '{schema}', true); {}; COMMIT",
        empty_commit(&schema)
    ))
    .await
    .expect("accepted under the lock");
    // A refused call wrote nothing: the engine still reads what it committed.
    assert_eq!(rt.query(items::all, ()).await.expect("a read"), [1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_queued_commits_all_commit_in_order() {
    if !postgres::available("many_queued_commits_all_commit_in_order") {
        return;
    }
    const INSERTS: i64 = 300;
    const BUMPS: usize = 100;
    let schema = postgres::fresh_schema("convoke_commit_batches");
    let _guard = postgres::DropSchema(schema.clone());
    let rt = runtime(&schema);
    let counter = rt
        .mutation(items::add, -1_000_000)
        .await
        .expect("the counter");
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..INSERTS {
        let rt = rt.clone();
        tasks.spawn(async move { rt.mutation(items::add, n).await.map(drop) });
    }
    for _ in 0..BUMPS {
        let rt = rt.clone();
        tasks.spawn(async move { rt.mutation(items::bump, counter).await });
    }
    let mut gave_up = 0;
    while let Some(outcome) = tasks.join_next().await {
        match outcome.expect("a task") {
            Ok(()) => {}
            Err(e) if e.is_conflict() => gave_up += 1,
            Err(e) => panic!("a commit failed: {e}"),
        }
    }
    let mut all = rt.query(items::all, ()).await.expect("a read");
    all.sort_unstable();
    let bumped = all.first().copied().expect("the counter") + 1_000_000;
    assert_eq!(
        bumped as usize,
        BUMPS - gave_up,
        "the counter holds exactly the acknowledged bumps"
    );
    assert_eq!(&all[1..], (0..INSERTS).collect::<Vec<_>>(), "every insert");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_that_read_nothing_commits_after_pruning() {
    if !postgres::available("a_transaction_that_read_nothing_commits_after_pruning") {
        return;
    }
    let schema = postgres::fresh_schema("convoke_commit_pruned");
    let _guard = postgres::DropSchema(schema.clone());
    let rt = runtime(&schema);
    // Take a block of ids now, so that the insert below needs no statement either.
    rt.mutation(items::add, 0).await.expect("a first commit");
    run(&format!(
        "UPDATE \"{schema}\".meta SET value = 1 WHERE key = 'pruned_through'"
    ))
    .await
    .expect("mark the log pruned past commit 1");
    rt.mutation(items::add_after_reading_none, 1)
        .await
        .expect("nothing was read, so nothing is stale");
    let mut all = rt.query(items::all, ()).await.expect("a read");
    all.sort_unstable();
    assert_eq!(all, [0, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_job_blocks_no_commit() {
    if !postgres::available("a_claimed_job_blocks_no_commit") {
        return;
    }
    let schema = postgres::fresh_schema("convoke_commit_claims");
    let _guard = postgres::DropSchema(schema.clone());
    let (worker_rt, other_rt) = (runtime(&schema), runtime(&schema));
    let _worker = worker_rt.start_scheduler();
    let job = worker_rt
        .mutation(items::schedule_slow, 7)
        .await
        .expect("schedule the slow mutation");
    tokio::time::timeout(Duration::from_secs(30), SLOW_STARTED.notified())
        .await
        .expect("the worker starts the slow mutation");

    // The job is claimed and its mutation is running: commits that write the job, and
    // any commit after them, go through at once, with the mutation still running.
    let cancel = other_rt.mutation(items::cancel, job);
    let cancel = tokio::time::timeout(Duration::from_secs(10), cancel).await;
    let other = other_rt.mutation(items::add, 1);
    let other = tokio::time::timeout(Duration::from_secs(10), other).await;
    SLOW_RELEASE.notify_one();
    cancel
        .expect("the cancel did not wait for the claim")
        .expect("the cancel commits");
    other
        .expect("the next commit did not wait for the claim")
        .expect("an unrelated commit");

    // The mutation's commit conflicts with the cancel; run again, it finds the job
    // canceled and skips it: its insert is not committed.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let items = worker_rt.query(items::all, ()).await.expect("a read");
        let state = worker_rt
            .query(items::job_state, job)
            .await
            .expect("a read");
        if state.as_deref() == Some("canceled") && items == [1] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job {state:?}, items {items:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
