//! Subscriptions (`Runtime::subscribe`), on every engine: the first result, a new one after
//! each commit that changes what the query read, nothing after commits that do not (a
//! counter in each query counts its runs, so a needless re-run is seen), failures as items,
//! and no update lost while many writers commit concurrently.

#[path = "support/things.rs"]
mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use convoke::{Id, Runtime, Table};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use support::Engine;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Table)]
#[table(name = "tasks", index(by_list = ["list"]))]
pub struct Task {
    pub list: String,
    pub title: String,
}

/// How many times each query ran.
static LIST_RUNS: AtomicUsize = AtomicUsize::new(0);
static GET_RUNS: AtomicUsize = AtomicUsize::new(0);

pub mod tasks {
    use super::*;
    use convoke::db::Patch;
    use convoke::{Error, MutationCtx, QueryCtx, Result, procedure};
    convoke::module!(tasks);

    /// The titles of one list (an index range read).
    #[procedure(query)]
    pub async fn in_list(ctx: &QueryCtx<'_>, list: String) -> Result<Vec<String>> {
        LIST_RUNS.fetch_add(1, Ordering::SeqCst);
        let tasks = ctx
            .db()
            .query::<Task>()
            .with_index("by_list", |r| r.eq("list", list.clone()))
            .collect()
            .await?;
        Ok(tasks.into_iter().map(|t| t.into_inner().title).collect())
    }

    /// One task's title (a read by id).
    #[procedure(query)]
    pub async fn title(ctx: &QueryCtx<'_>, id: Id<Task>) -> Result<String> {
        GET_RUNS.fetch_add(1, Ordering::SeqCst);
        match ctx.db().get(id).await? {
            Some(task) => Ok(task.into_inner().title),
            None => Err(Error::user("no such task")),
        }
    }

    /// How many tasks there are in all, capped at 2 (a result many commits leave as it is).
    #[procedure(query)]
    pub async fn at_least_two(ctx: &QueryCtx<'_>) -> Result<bool> {
        Ok(ctx.db().query::<Task>().take(2).await?.len() == 2)
    }

    #[procedure(mutation)]
    pub async fn add(ctx: &MutationCtx<'_>, args: (String, String)) -> Result<Id<Task>> {
        Ok(ctx
            .db()
            .insert(&Task {
                list: args.0,
                title: args.1,
            })
            .await?)
    }

    #[procedure(mutation)]
    pub async fn rename(ctx: &MutationCtx<'_>, args: (Id<Task>, String)) -> Result<()> {
        Ok(ctx
            .db()
            .patch(args.0, Patch::new().set("title", args.1))
            .await?)
    }

    #[procedure(mutation)]
    pub async fn move_to(ctx: &MutationCtx<'_>, args: (Id<Task>, String)) -> Result<()> {
        Ok(ctx
            .db()
            .patch(args.0, Patch::new().set("list", args.1))
            .await?)
    }

    #[procedure(mutation)]
    pub async fn remove(ctx: &MutationCtx<'_>, id: Id<Task>) -> Result<()> {
        Ok(ctx.db().delete(id).await?)
    }
}

const QUIET: Duration = Duration::from_millis(150);

async fn next<T>(sub: &mut convoke::Subscription<T>) -> convoke::Result<T>
where
    T: serde::de::DeserializeOwned,
{
    tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("a subscription update within 10 s")
        .expect("subscriptions never end")
}

/// Nothing arrives for a while.
async fn quiet<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    sub: &mut convoke::Subscription<T>,
) {
    if let Ok(item) = tokio::time::timeout(QUIET, sub.next()).await {
        panic!("expected no update, got {item:?}");
    }
}

fn engines(test: &str) -> Vec<(Engine, Runtime)> {
    Engine::all(test)
        .into_iter()
        .map(|e| {
            let rt = e.runtime();
            (e, rt)
        })
        .collect()
}

// The run counters count every test's runs: the tests run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_range_is_invalidated_by_writes_inside_it_only() {
    let _serial = SERIAL.lock().await;
    for (engine, rt) in engines("sub_range") {
        let name = engine.name();
        let mut work = rt.subscribe(tasks::in_list, "work".to_owned());
        assert_eq!(
            next(&mut work).await.unwrap(),
            Vec::<String>::new(),
            "{name}"
        );

        let runs = LIST_RUNS.load(Ordering::SeqCst);
        let home = rt
            .mutation(tasks::add, ("home".into(), "dishes".into()))
            .await
            .unwrap();
        quiet(&mut work).await;
        assert_eq!(
            LIST_RUNS.load(Ordering::SeqCst),
            runs,
            "{name}: a write outside the range re-ran the query"
        );

        let report = rt
            .mutation(tasks::add, ("work".into(), "report".into()))
            .await
            .unwrap();
        assert_eq!(next(&mut work).await.unwrap(), ["report"], "{name}");

        // Into the range (new key), out of it (old key), renamed inside, deleted.
        rt.mutation(tasks::move_to, (home, "work".into()))
            .await
            .unwrap();
        assert_eq!(
            next(&mut work).await.unwrap(),
            ["dishes", "report"],
            "{name}"
        );
        rt.mutation(tasks::move_to, (home, "home".into()))
            .await
            .unwrap();
        assert_eq!(next(&mut work).await.unwrap(), ["report"], "{name}");
        rt.mutation(tasks::rename, (report, "memo".into()))
            .await
            .unwrap();
        assert_eq!(next(&mut work).await.unwrap(), ["memo"], "{name}");
        rt.mutation(tasks::remove, report).await.unwrap();
        assert_eq!(
            next(&mut work).await.unwrap(),
            Vec::<String>::new(),
            "{name}"
        );
        // Cleanup for the next engine's counts: nothing else subscribes.
        rt.mutation(tasks::remove, home).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_by_id_is_invalidated_by_that_document_only() {
    let _serial = SERIAL.lock().await;
    for (engine, rt) in engines("sub_point") {
        let name = engine.name();
        let a = rt
            .mutation(tasks::add, ("l".into(), "a".into()))
            .await
            .unwrap();
        let b = rt
            .mutation(tasks::add, ("l".into(), "b".into()))
            .await
            .unwrap();
        let mut title = rt.subscribe(tasks::title, a);
        assert_eq!(next(&mut title).await.unwrap(), "a", "{name}");
        let runs = GET_RUNS.load(Ordering::SeqCst);
        rt.mutation(tasks::rename, (b, "b2".into())).await.unwrap();
        rt.mutation(tasks::add, ("l".into(), "c".into()))
            .await
            .unwrap();
        quiet(&mut title).await;
        assert_eq!(
            GET_RUNS.load(Ordering::SeqCst),
            runs,
            "{name}: re-ran for other documents"
        );

        rt.mutation(tasks::rename, (a, "a2".into())).await.unwrap();
        assert_eq!(next(&mut title).await.unwrap(), "a2", "{name}");
        // A failure is an item, and the subscription goes on.
        rt.mutation(tasks::remove, a).await.unwrap();
        let error = next(&mut title).await.unwrap_err();
        assert!(error.is_user(), "{name}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_that_does_not_change_is_not_sent_again() {
    let _serial = SERIAL.lock().await;
    for (engine, rt) in engines("sub_same") {
        let name = engine.name();
        let mut two = rt.subscribe(tasks::at_least_two, ());
        assert!(!next(&mut two).await.unwrap(), "{name}");
        rt.mutation(tasks::add, ("x".into(), "1".into()))
            .await
            .unwrap();
        // Still false: re-run, not sent.
        quiet(&mut two).await;
        rt.mutation(tasks::add, ("x".into(), "2".into()))
            .await
            .unwrap();
        assert!(next(&mut two).await.unwrap(), "{name}");
        rt.mutation(tasks::add, ("x".into(), "3".into()))
            .await
            .unwrap();
        quiet(&mut two).await;
    }
}

/// Many writers commit while a subscriber follows: its last result is always the final
/// state, so no commit's invalidation was lost (also those that land between a re-run's
/// snapshot and the registration of its read set).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_update_is_lost_under_concurrent_commits() {
    let _serial = SERIAL.lock().await;
    for (engine, rt) in engines("sub_concurrent") {
        let name = engine.name();
        let list = format!("busy-{name}");
        let mut busy = rt.subscribe(tasks::in_list, list.clone());
        assert!(next(&mut busy).await.unwrap().is_empty());
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let rt = rt.clone();
                let list = list.clone();
                tokio::spawn(async move {
                    for i in 0..25 {
                        rt.mutation(tasks::add, (list.clone(), format!("{w}-{i}")))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        let follower = tokio::spawn(async move {
            loop {
                let titles = next(&mut busy).await.unwrap();
                if titles.len() == 200 {
                    return titles;
                }
            }
        });
        for writer in writers {
            writer.await.unwrap();
        }
        let titles = tokio::time::timeout(Duration::from_secs(20), follower)
            .await
            .unwrap_or_else(|_| panic!("{name}: the subscriber never saw all 200 tasks"))
            .unwrap();
        assert_eq!(titles.len(), 200);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_runtime_subscribes_too() {
    let _serial = SERIAL.lock().await;
    let rt = convoke::testing::TestRuntime::new().unwrap();
    let mut list = rt.subscribe(tasks::in_list, "t".to_owned());
    assert!(next(&mut list).await.unwrap().is_empty());
    rt.mutation(tasks::add, ("t".into(), "one".into()))
        .await
        .unwrap();
    assert_eq!(next(&mut list).await.unwrap(), ["one"]);
}

/// Two runtimes on one PostgreSQL schema, each with its own store (connections, committer,
/// subscriptions), as two processes would be: a commit through one reaches the other's
/// subscriptions (commit notifications), a write to another table does not re-run them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commits_of_another_process_reach_subscriptions_on_postgres() {
    let _serial = SERIAL.lock().await;
    if !support::postgres::available("commits_of_another_process_reach_subscriptions_on_postgres") {
        return;
    }
    let schema = support::postgres::DropSchema(support::postgres::fresh_schema("convoke_sub"));
    let build = || {
        Runtime::builder()
            .storage(support::postgres::store(&schema.0))
            .build()
            .expect("a runtime")
    };
    let (here, there) = (build(), build());
    let mut list = here.subscribe(tasks::in_list, "shared".to_owned());
    assert!(next(&mut list).await.unwrap().is_empty());
    for i in 0..5 {
        there
            .mutation(tasks::add, ("shared".into(), format!("from there {i}")))
            .await
            .unwrap();
        let titles = next(&mut list).await.unwrap();
        assert_eq!(titles.len(), i + 1, "{titles:?}");
    }
    // Another table: the subscription does not run again.
    let runs = LIST_RUNS.load(Ordering::SeqCst);
    there
        .mutation(
            support::things::insert,
            support::thing("x", convoke::value::Value::Int64(1)),
        )
        .await
        .unwrap();
    quiet(&mut list).await;
    assert_eq!(
        LIST_RUNS.load(Ordering::SeqCst),
        runs,
        "a write to another table re-ran it"
    );
    // And this runtime's own commits still arrive once (not twice through the channel).
    here.mutation(tasks::add, ("shared".into(), "from here".into()))
        .await
        .unwrap();
    assert_eq!(next(&mut list).await.unwrap().len(), 6);
    quiet(&mut list).await;
}
