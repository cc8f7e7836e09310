//! Transactions: serializable concurrent mutations (re-run on conflict), panics contained
//! in their procedure, and the call depth limit.

use std::sync::atomic::{AtomicUsize, Ordering};

use convoke::{Error, Id, Result, Runtime, Table};
use serde::{Deserialize, Serialize};
use std::future::Future;

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "counters")]
pub struct Counter {
    pub value: i64,
}

mod counter {
    use super::*;
    use convoke::{ActionCtx, MutationCtx, QueryCtx, procedure};
    use std::sync::LazyLock;
    use tokio::sync::Barrier;

    convoke::module!(counter);

    /// Handler runs of `increment`, `increment_yielding`, `increment_at_barrier` and
    /// `increment_at_barrier_once`.
    pub static PLAIN_RUNS: AtomicUsize = AtomicUsize::new(0);
    pub static YIELDING_RUNS: AtomicUsize = AtomicUsize::new(0);
    pub static BARRIER_RUNS: AtomicUsize = AtomicUsize::new(0);
    pub static BARRIER_ONCE_RUNS: AtomicUsize = AtomicUsize::new(0);
    pub static ACTION_BARRIER_RUNS: AtomicUsize = AtomicUsize::new(0);

    static BARRIER: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(2));
    static BARRIER_ONCE: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(2));
    static ACTION_BARRIER: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(2));

    #[procedure(mutation)]
    pub async fn create(ctx: &MutationCtx<'_>) -> Result<Id<Counter>> {
        Ok(ctx.db().insert(&Counter { value: 0 }).await?)
    }

    #[procedure(query)]
    pub async fn get(ctx: &QueryCtx<'_>, id: Id<Counter>) -> Result<i64> {
        match ctx.db().get(id).await? {
            Some(counter) => Ok(counter.value),
            None => Err(Error::user("no counter")),
        }
    }

    async fn read_and_write(
        ctx: &MutationCtx<'_>,
        id: Id<Counter>,
        between: impl Future<Output = ()>,
    ) -> Result<i64> {
        let value = create_counter_caller(ctx).get(id).await?;
        between.await;
        ctx.db()
            .patch(id, &serde_json::json!({ "value": value + 1 }))
            .await?;
        Ok(value + 1)
    }

    /// Read, then write the value plus one.
    #[procedure(mutation)]
    pub async fn increment(ctx: &MutationCtx<'_>, id: Id<Counter>) -> Result<i64> {
        PLAIN_RUNS.fetch_add(1, Ordering::SeqCst);
        read_and_write(ctx, id, async {}).await
    }

    /// The same, yielding to the scheduler between the read and the write so that
    /// concurrent increments interleave.
    #[procedure(mutation)]
    pub async fn increment_yielding(ctx: &MutationCtx<'_>, id: Id<Counter>) -> Result<i64> {
        YIELDING_RUNS.fetch_add(1, Ordering::SeqCst);
        read_and_write(ctx, id, tokio::task::yield_now()).await
    }

    /// The first two runs meet at a barrier between their read and their write: both
    /// read before either commits. Later runs (re-runs after a conflict) do not wait.
    #[procedure(mutation)]
    pub async fn increment_at_barrier(ctx: &MutationCtx<'_>, id: Id<Counter>) -> Result<i64> {
        let run = BARRIER_RUNS.fetch_add(1, Ordering::SeqCst);
        read_and_write(ctx, id, async {
            if run < 2 {
                BARRIER.wait().await;
            }
        })
        .await
    }

    /// Like `increment_at_barrier`, for the runtime that gives up after one attempt.
    #[procedure(mutation)]
    pub async fn increment_at_barrier_once(ctx: &MutationCtx<'_>, id: Id<Counter>) -> Result<i64> {
        let run = BARRIER_ONCE_RUNS.fetch_add(1, Ordering::SeqCst);
        read_and_write(ctx, id, async {
            if run < 2 {
                BARRIER_ONCE.wait().await;
            }
        })
        .await
    }

    /// Like `increment_at_barrier`, for mutations called from actions.
    #[procedure(mutation)]
    pub async fn increment_at_action_barrier(
        ctx: &MutationCtx<'_>,
        id: Id<Counter>,
    ) -> Result<i64> {
        let run = ACTION_BARRIER_RUNS.fetch_add(1, Ordering::SeqCst);
        read_and_write(ctx, id, async {
            if run < 2 {
                ACTION_BARRIER.wait().await;
            }
        })
        .await
    }

    /// An action running a conflicting mutation: the mutation is re-run inside it.
    #[procedure(action)]
    pub async fn increment_from_action(ctx: &ActionCtx, id: Id<Counter>) -> Result<i64> {
        create_counter_caller(ctx)
            .increment_at_action_barrier(id)
            .await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_increments_all_count() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let id = rt.mutation(counter::create, ()).await?;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let rt = rt.clone();
            tokio::spawn(async move { rt.mutation(counter::increment, id).await })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("task")?);
    }
    assert_eq!(rt.query(counter::get, id).await?, 200);
    // Serializable: every increment saw a distinct value.
    seen.sort_unstable();
    assert_eq!(seen, (1..=200).collect::<Vec<i64>>());
    assert!(counter::PLAIN_RUNS.load(Ordering::SeqCst) >= 200);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_interleaved_increments_all_count() -> Result<()> {
    // The increments yield between read and write, so they interleave and conflict a lot:
    // allow enough attempts for every one of them to get through.
    let rt = Runtime::builder().max_mutation_attempts(1_000).build()?;
    let id = rt.mutation(counter::create, ()).await?;
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let rt = rt.clone();
            tokio::spawn(async move { rt.mutation(counter::increment_yielding, id).await })
        })
        .collect();
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await.expect("task")?);
    }
    assert_eq!(rt.query(counter::get, id).await?, 200);
    seen.sort_unstable();
    assert_eq!(seen, (1..=200).collect::<Vec<i64>>());
    // Interleaved read-modify-writes conflict: some of them must have been re-run.
    let runs = counter::YIELDING_RUNS.load(Ordering::SeqCst);
    assert!(
        runs > 200,
        "only {runs} handler runs for 200 interleaved increments"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_is_detected_and_the_loser_re_runs() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let id = rt.mutation(counter::create, ()).await?;
    let [a, b] = on_two_tasks(&rt, move |rt| async move {
        rt.mutation(counter::increment_at_barrier, id).await
    })
    .await;
    let mut results = vec![a?, b?];
    results.sort_unstable();
    // Both first runs read 0; the one committing second conflicted and ran again, reading 1.
    assert_eq!(results, [1, 2]);
    assert_eq!(rt.query(counter::get, id).await?, 2);
    assert_eq!(
        counter::BARRIER_RUNS.load(Ordering::SeqCst),
        3,
        "exactly one of the two interleaved mutations must have been re-run"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conflict_past_the_attempt_limit_is_an_error() -> Result<()> {
    let rt = Runtime::builder().max_mutation_attempts(1).build()?;
    let id = rt.mutation(counter::create, ()).await?;
    let [a, b] = on_two_tasks(&rt, move |rt| async move {
        rt.mutation(counter::increment_at_barrier_once, id).await
    })
    .await;
    let results = [a, b];
    let (ok, err): (Vec<_>, Vec<_>) = results.into_iter().partition(Result::is_ok);
    assert_eq!(ok.len(), 1, "one of the two commits");
    let err = err.into_iter().next().expect("one error").unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        matches!(err, Error::TooManyConflicts { attempts: 1, .. }),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("counter:increment_at_barrier_once")
    );
    // The loser's write was discarded.
    assert_eq!(rt.query(counter::get, id).await?, 1);
    assert_eq!(counter::BARRIER_ONCE_RUNS.load(Ordering::SeqCst), 2);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_called_from_an_action_re_runs_on_conflict() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let id = rt.mutation(counter::create, ()).await?;
    let [a, b] = on_two_tasks(&rt, move |rt| async move {
        rt.action(counter::increment_from_action, id).await
    })
    .await;
    let mut results = vec![a?, b?];
    results.sort_unstable();
    assert_eq!(results, [1, 2]);
    assert_eq!(rt.query(counter::get, id).await?, 2);
    assert_eq!(counter::ACTION_BARRIER_RUNS.load(Ordering::SeqCst), 3);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "marks")]
pub struct Mark {
    pub label: String,
}

mod panics {
    use super::*;
    use convoke::{ActionCtx, MutationCtx, QueryCtx, procedure};

    convoke::module!(panics);

    #[procedure(query)]
    pub async fn marks(ctx: &QueryCtx<'_>) -> Result<Vec<String>> {
        let all = ctx.db().query::<Mark>().collect().await?;
        Ok(all.into_iter().map(|m| m.into_inner().label).collect())
    }

    #[procedure(mutation)]
    pub async fn mark(ctx: &MutationCtx<'_>, label: String) -> Result<()> {
        ctx.db().insert(&Mark { label }).await?;
        Ok(())
    }

    #[procedure(query)]
    pub async fn query_panics(ctx: &QueryCtx<'_>) -> Result<usize> {
        let n = ctx.db().query::<Mark>().collect().await?.len();
        panic!("query boom after reading {n}");
    }

    #[procedure(mutation)]
    pub async fn mutation_panics(ctx: &MutationCtx<'_>) -> Result<()> {
        ctx.db()
            .insert(&Mark {
                label: "from the panicking mutation".into(),
            })
            .await?;
        panic!("mutation boom");
    }

    /// Writes, then calls a nested mutation that writes and panics.
    #[procedure(mutation)]
    pub async fn outer_of_panicking(ctx: &MutationCtx<'_>) -> Result<()> {
        ctx.db()
            .insert(&Mark {
                label: "outer".into(),
            })
            .await?;
        create_panics_caller(ctx).mutation_panics().await
    }

    #[procedure(action)]
    pub async fn action_panics(_ctx: &ActionCtx) -> Result<()> {
        panic!("{}", String::from("action boom"));
    }

    /// Calls a panicking mutation and a panicking query, reports what it got back, and
    /// commits a mark of its own.
    #[procedure(action)]
    pub async fn action_survives_nested_panics(ctx: &ActionCtx) -> Result<Vec<String>> {
        let caller = create_panics_caller(ctx);
        let mut report = Vec::new();
        for err in [
            caller.mutation_panics().await.unwrap_err(),
            caller.query_panics().await.map(|_| ()).unwrap_err(),
        ] {
            report.push(format!("{}|{err}", err.is_panic()));
        }
        caller.mark("after the panics".into()).await?;
        Ok(report)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panics_become_errors_and_leave_the_store_unchanged() -> Result<()> {
    let rt = Runtime::in_memory()?;
    rt.mutation(panics::mark, "before".into()).await?;

    let err = rt.query(panics::query_panics, ()).await.unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert!(
        matches!(&err, Error::Panicked { path, message }
            if path == "panics:query_panics" && message == "query boom after reading 1"),
        "{err:?}"
    );

    let err = rt.mutation(panics::mutation_panics, ()).await.unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert!(err.to_string().contains("mutation boom"), "{err}");
    assert_eq!(rt.query(panics::marks, ()).await?, ["before"]);

    let err = rt
        .mutation(panics::outer_of_panicking, ())
        .await
        .unwrap_err();
    assert!(err.is_panic(), "{err:?}");
    assert!(err.to_string().contains("mutation boom"), "{err}");
    assert_eq!(
        rt.query(panics::marks, ()).await?,
        ["before"],
        "neither the outer nor the nested mutation's writes may commit"
    );

    let err = rt.action(panics::action_panics, ()).await.unwrap_err();
    assert!(
        matches!(&err, Error::Panicked { path, message }
            if path == "panics:action_panics" && message == "action boom"),
        "{err:?}"
    );

    // By name too.
    for path in [
        "panics:query_panics",
        "panics:mutation_panics",
        "panics:outer_of_panicking",
        "panics:action_panics",
    ] {
        let err = rt.run(path, serde_json::json!({})).await.unwrap_err();
        assert!(err.is_panic(), "{path}: {err:?}");
    }
    assert_eq!(rt.query(panics::marks, ()).await?, ["before"]);

    // The runtime keeps serving, from this task and from others.
    rt.mutation(panics::mark, "after".into()).await?;
    let other = tokio::spawn({
        let rt = rt.clone();
        async move { rt.query(panics::marks, ()).await }
    });
    assert_eq!(other.await.expect("task")?, ["before", "after"]);
    Ok(())
}

#[tokio::test]
async fn an_action_sees_nested_panics_as_errors_and_continues() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let report = rt.action(panics::action_survives_nested_panics, ()).await?;
    assert_eq!(
        report,
        [
            "true|'panics:mutation_panics' panicked: mutation boom",
            "true|'panics:query_panics' panicked: query boom after reading 0",
        ]
    );
    assert_eq!(rt.query(panics::marks, ()).await?, ["after the panics"]);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Call depth
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "levels")]
pub struct Level {
    pub n: u32,
}

mod deep {
    use super::*;
    use convoke::{ActionCtx, MutationCtx, QueryCtx, procedure};

    convoke::module!(deep);

    /// Calls itself with `n - 1` until 0; returns how many nested calls it made.
    #[procedure(query)]
    pub async fn down_q(ctx: &QueryCtx<'_>, n: u32) -> Result<u32> {
        if n == 0 {
            return Ok(0);
        }
        Ok(create_deep_caller(ctx).down_q(n - 1).await? + 1)
    }

    /// The same for mutations, writing one row per level.
    #[procedure(mutation)]
    pub async fn down_m(ctx: &MutationCtx<'_>, n: u32) -> Result<u32> {
        ctx.db().insert(&Level { n }).await?;
        if n == 0 {
            return Ok(0);
        }
        Ok(create_deep_caller(ctx).down_m(n - 1).await? + 1)
    }

    /// The same for actions, through `actions()`.
    #[procedure(action)]
    pub async fn down_a(ctx: &ActionCtx, n: u32) -> Result<u32> {
        if n == 0 {
            return Ok(0);
        }
        Ok(create_deep_caller(ctx).actions().down_a(n - 1).await? + 1)
    }

    /// An action that goes down through actions and ends in a mutation, then a query:
    /// every kind of nested call counts.
    #[procedure(action)]
    pub async fn down_mixed(ctx: &ActionCtx, n: u32) -> Result<u32> {
        let caller = create_deep_caller(ctx);
        if n == 0 {
            return caller.down_m(0).await;
        }
        Ok(caller.actions().down_mixed(n - 1).await? + 1)
    }

    #[procedure(query)]
    pub async fn level_count(ctx: &QueryCtx<'_>) -> Result<usize> {
        Ok(ctx.db().query::<Level>().collect().await?.len())
    }
}

fn assert_depth_error(err: &Error, path: &str, depth: u32, max: u32) {
    assert!(err.is_depth_exceeded(), "{err:?}");
    match err {
        Error::DepthExceeded {
            path: p,
            depth: d,
            max: m,
        } => assert_eq!((p.as_str(), *d, *m), (path, depth, max), "{err}"),
        other => panic!("expected DepthExceeded, got {other:?}"),
    }
}

#[tokio::test]
async fn default_depth_limit_is_eight() -> Result<()> {
    let rt = Runtime::in_memory()?;

    // n nested calls make a chain n + 1 deep: 7 nested calls reach depth 8.
    assert_eq!(rt.query(deep::down_q, 7).await?, 7);
    let err = rt.query(deep::down_q, 8).await.unwrap_err();
    assert_depth_error(&err, "deep:down_q", 9, 8);

    assert_eq!(rt.mutation(deep::down_m, 7).await?, 7);
    assert_eq!(rt.query(deep::level_count, ()).await?, 8);
    let err = rt.mutation(deep::down_m, 8).await.unwrap_err();
    assert_depth_error(&err, "deep:down_m", 9, 8);
    // The failed chain committed nothing.
    assert_eq!(rt.query(deep::level_count, ()).await?, 8);

    assert_eq!(rt.action(deep::down_a, 7).await?, 7);
    let err = rt.action(deep::down_a, 8).await.unwrap_err();
    assert_depth_error(&err, "deep:down_a", 9, 8);

    // 6 actions, then a mutation at depth 8.
    assert_eq!(rt.action(deep::down_mixed, 6).await?, 6);
    let err = rt.action(deep::down_mixed, 7).await.unwrap_err();
    assert_depth_error(&err, "deep:down_m", 9, 8);

    // By name: the entry call counts as depth 1 as well.
    assert_eq!(
        rt.run("deep:down_q", serde_json::json!(7)).await?,
        serde_json::json!(7)
    );
    let err = rt
        .run("deep:down_q", serde_json::json!(8))
        .await
        .unwrap_err();
    assert_depth_error(&err, "deep:down_q", 9, 8);
    Ok(())
}

#[tokio::test]
async fn unbounded_recursion_stops_at_the_limit_without_overflowing() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let n = 1_000_000;
    assert_depth_error(
        &rt.query(deep::down_q, n).await.unwrap_err(),
        "deep:down_q",
        9,
        8,
    );
    assert_depth_error(
        &rt.mutation(deep::down_m, n).await.unwrap_err(),
        "deep:down_m",
        9,
        8,
    );
    assert_depth_error(
        &rt.action(deep::down_a, n).await.unwrap_err(),
        "deep:down_a",
        9,
        8,
    );
    assert_eq!(rt.query(deep::level_count, ()).await?, 0);
    Ok(())
}

#[tokio::test]
async fn configured_depth_limit() -> Result<()> {
    let rt = Runtime::builder().max_call_depth(3).build()?;
    assert_eq!(rt.query(deep::down_q, 2).await?, 2);
    assert_depth_error(
        &rt.query(deep::down_q, 3).await.unwrap_err(),
        "deep:down_q",
        4,
        3,
    );
    assert_eq!(rt.mutation(deep::down_m, 2).await?, 2);
    assert_depth_error(
        &rt.mutation(deep::down_m, 3).await.unwrap_err(),
        "deep:down_m",
        4,
        3,
    );
    assert_eq!(rt.action(deep::down_a, 2).await?, 2);
    assert_depth_error(
        &rt.action(deep::down_a, 3).await.unwrap_err(),
        "deep:down_a",
        4,
        3,
    );
    assert_depth_error(
        &rt.action(deep::down_mixed, 2).await.unwrap_err(),
        "deep:down_m",
        4,
        3,
    );
    assert_eq!(rt.query(deep::level_count, ()).await?, 3);

    // A limit of 1 allows the entry call and no nested call.
    let flat = Runtime::builder().max_call_depth(1).build()?;
    assert_eq!(flat.query(deep::down_q, 0).await?, 0);
    assert_depth_error(
        &flat.query(deep::down_q, 1).await.unwrap_err(),
        "deep:down_q",
        2,
        1,
    );
    Ok(())
}

/// Runs the same call on two tokio tasks, so that the two runs can interleave.
async fn on_two_tasks<T, F, Fut>(rt: &Runtime, call: F) -> [T; 2]
where
    T: Send + 'static,
    F: Fn(Runtime) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
{
    let a = tokio::spawn(call(rt.clone()));
    let b = tokio::spawn(call(rt.clone()));
    [a.await.expect("task"), b.await.expect("task")]
}
