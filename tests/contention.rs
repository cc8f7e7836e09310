//! Contention: hot documents never make a mutation give up, on any engine.
//!
//! Every case runs with the runtime's default settings on the in-memory engine, the durable
//! SQLite engine and PostgreSQL (in a schema of its own; "NOT RUN" without a server unless
//! `CONVOKE_REQUIRE_POSTGRES=1`). A call that fails is a failure of the test, whatever the
//! error: no give-up is tolerated. The multi-process case runs 3 real processes (this test
//! binary re-executed) × 64 tasks on one PostgreSQL counter.
//!
//! `CONVOKE_CONTENTION_ROUNDS` (default 1) repeats the hot-document cases within one run, for
//! soak runs under load: `CONVOKE_CONTENTION_ROUNDS=20 cargo test --test contention`.

#[path = "support/child.rs"]
mod child;
#[path = "support/postgres.rs"]
mod postgres;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use convoke::store::SqliteStore;
use convoke::{Contention, Error, Id, Result, Runtime, Table};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "counters")]
pub struct Counter {
    pub value: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "accounts")]
pub struct Account {
    pub balance: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "doctors", index(by_shift = ["shift"]))]
pub struct Doctor {
    pub shift: i64,
    pub on_call: bool,
}

/// What the exclusivity probe does between its read and its write: see
/// `a_mutation_that_keeps_conflicting_runs_exclusively_at_its_third_run`.
type Probe = Box<dyn Fn(u32) -> bool + Send + Sync>;
static PROBE: Mutex<Option<Arc<Probe>>> = Mutex::new(None);
static PROBE_RUNS: AtomicUsize = AtomicUsize::new(0);
/// Serializes the tests that set `PROBE`.
static PROBE_TEST: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
/// Where `slow_increment` reports each run's read (its run number).
static SLOW_READS: Mutex<Option<tokio::sync::mpsc::UnboundedSender<u32>>> = Mutex::new(None);
static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);

mod procs {
    use super::*;
    use convoke::{MutationCtx, QueryCtx, procedure};

    convoke::module!(procs);

    #[procedure(mutation)]
    pub async fn new_counter(ctx: &MutationCtx<'_>) -> Result<Id<Counter>> {
        Ok(ctx.db().insert(&Counter { value: 0 }).await?)
    }

    /// Reads the counter and writes it back plus one; returns the new value.
    #[procedure(mutation)]
    pub async fn increment(ctx: &MutationCtx<'_>, id: Id<Counter>) -> Result<i64> {
        let Some(counter) = ctx.db().get(id).await? else {
            return Err(Error::user("no such counter"));
        };
        let value = counter.value + 1;
        ctx.db().replace(id, &Counter { value }).await?;
        Ok(value)
    }

    /// Like `increment`, but yields between its read and its write, so that concurrent
    /// runs interleave (and conflict) even on the in-memory engine.
    #[procedure(mutation)]
    pub async fn increment_yielding(ctx: &MutationCtx<'_>, id: Id<Counter>) -> Result<i64> {
        let Some(counter) = ctx.db().get(id).await? else {
            return Err(Error::user("no such counter"));
        };
        tokio::task::yield_now().await;
        let value = counter.value + 1;
        ctx.db().replace(id, &Counter { value }).await?;
        Ok(value)
    }

    #[procedure(query)]
    pub async fn counter(ctx: &QueryCtx<'_>, id: Id<Counter>) -> Result<i64> {
        Ok(ctx.db().get(id).await?.map_or(-1, |c| c.value))
    }

    #[procedure(mutation)]
    pub async fn open_accounts(
        ctx: &MutationCtx<'_>,
        (count, balance): (usize, i64),
    ) -> Result<Vec<Id<Account>>> {
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            ids.push(ctx.db().insert(&Account { balance }).await?);
        }
        Ok(ids)
    }

    /// Moves `amount` from one account to another if the first has enough; whether it did.
    #[procedure(mutation)]
    pub async fn transfer(
        ctx: &MutationCtx<'_>,
        (from, to, amount): (Id<Account>, Id<Account>, i64),
    ) -> Result<bool> {
        let (Some(a), Some(b)) = (ctx.db().get(from).await?, ctx.db().get(to).await?) else {
            return Err(Error::user("no such account"));
        };
        if from == to || a.balance < amount {
            return Ok(false);
        }
        ctx.db()
            .replace(
                from,
                &Account {
                    balance: a.balance - amount,
                },
            )
            .await?;
        ctx.db()
            .replace(
                to,
                &Account {
                    balance: b.balance + amount,
                },
            )
            .await?;
        Ok(true)
    }

    #[procedure(query)]
    pub async fn balances(ctx: &QueryCtx<'_>) -> Result<Vec<i64>> {
        Ok(ctx
            .db()
            .query::<Account>()
            .collect()
            .await?
            .into_iter()
            .map(|a| a.balance)
            .collect())
    }

    #[procedure(mutation)]
    pub async fn hire(ctx: &MutationCtx<'_>, (shift, n): (i64, usize)) -> Result<Vec<Id<Doctor>>> {
        let mut ids = Vec::with_capacity(n);
        for _ in 0..n {
            ids.push(
                ctx.db()
                    .insert(&Doctor {
                        shift,
                        on_call: true,
                    })
                    .await?,
            );
        }
        Ok(ids)
    }

    /// Write skew: a doctor goes off call only if another of the shift stays on call.
    /// Under snapshot isolation alone, two doctors could both leave; serializable
    /// transactions keep at least one on call.
    #[procedure(mutation)]
    pub async fn go_off_call(ctx: &MutationCtx<'_>, id: Id<Doctor>) -> Result<bool> {
        let Some(me) = ctx.db().get(id).await? else {
            return Err(Error::user("no such doctor"));
        };
        let shift = me.shift;
        let on_call = ctx
            .db()
            .query::<Doctor>()
            .with_index("by_shift", |r| r.eq("shift", shift))
            .filter(|d| d.on_call)
            .collect()
            .await?
            .len();
        tokio::task::yield_now().await;
        if !me.on_call || on_call < 2 {
            return Ok(false);
        }
        ctx.db()
            .replace(
                id,
                &Doctor {
                    shift,
                    on_call: false,
                },
            )
            .await?;
        Ok(true)
    }

    #[procedure(query)]
    pub async fn on_call(ctx: &QueryCtx<'_>, shift: i64) -> Result<usize> {
        Ok(ctx
            .db()
            .query::<Doctor>()
            .with_index("by_shift", |r| r.eq("shift", shift))
            .filter(|d| d.on_call)
            .collect()
            .await?
            .len())
    }

    /// Reads the counter, reports the read, waits `hold_ms`, then writes it plus one.
    #[procedure(mutation)]
    pub async fn slow_increment(
        ctx: &MutationCtx<'_>,
        (id, hold_ms): (Id<Counter>, u64),
    ) -> Result<i64> {
        let run = SLOW_RUNS.fetch_add(1, Ordering::SeqCst) as u32 + 1;
        let Some(counter) = ctx.db().get(id).await? else {
            return Err(Error::user("no such counter"));
        };
        if let Some(reads) = SLOW_READS.lock().unwrap().as_ref() {
            let _ = reads.send(run);
        }
        tokio::time::sleep(Duration::from_millis(hold_ms)).await;
        let value = counter.value + 1;
        ctx.db().replace(id, &Counter { value }).await?;
        Ok(value)
    }

    /// Reads the counter, lets the probe act (it may commit a conflicting write from
    /// elsewhere), then writes the counter plus one.
    #[procedure(mutation)]
    pub async fn probed_increment(ctx: &MutationCtx<'_>, id: Id<Counter>) -> Result<i64> {
        let run = PROBE_RUNS.fetch_add(1, Ordering::SeqCst) as u32 + 1;
        let Some(counter) = ctx.db().get(id).await? else {
            return Err(Error::user("no such counter"));
        };
        let probe = PROBE.lock().unwrap().clone();
        if let Some(probe) = probe {
            let probe = probe.clone();
            tokio::task::spawn_blocking(move || probe(run))
                .await
                .expect("probe");
        }
        let value = counter.value + 1;
        ctx.db().replace(id, &Counter { value }).await?;
        Ok(value)
    }
}

/// How many times the hot-document cases repeat (`CONVOKE_CONTENTION_ROUNDS`, default 1).
fn rounds() -> usize {
    std::env::var("CONVOKE_CONTENTION_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// A runtime on an engine, and what to clean up after it.
struct Engine {
    name: &'static str,
    rt: Runtime,
    _guard: Box<dyn Send>,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A fresh runtime on each engine that is available: memory, SQLite, PostgreSQL.
fn engines(test: &str) -> Vec<Engine> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let mut engines = vec![Engine {
        name: "memory",
        rt: Runtime::in_memory().expect("runtime"),
        _guard: Box::new(()),
    }];
    let dir = std::env::temp_dir().join(format!(
        "convoke-contention-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    engines.push(Engine {
        name: "sqlite",
        rt: Runtime::builder()
            .storage(SqliteStore::open(&dir).expect("open"))
            .build()
            .expect("runtime"),
        _guard: Box::new(TempDir(dir)),
    });
    if postgres::available(test) {
        let schema = postgres::fresh_schema("convoke_contention");
        let guard = postgres::DropSchema(schema.clone());
        engines.push(Engine {
            name: "postgres",
            rt: Runtime::builder()
                .storage(postgres::store(&schema))
                .build()
                .expect("runtime"),
            _guard: Box::new(guard),
        });
    }
    engines
}

/// Starts an increment of `id` on `handle` (from a probe, outside the runtime's threads);
/// its outcome arrives on the returned channel.
fn interfere(
    handle: &tokio::runtime::Handle,
    rt: &Runtime,
    id: Id<Counter>,
) -> std::sync::mpsc::Receiver<Result<i64>> {
    let rt = rt.clone();
    let (done, wait) = std::sync::mpsc::channel();
    handle.spawn(async move {
        let _ = done.send(rt.mutation(procs::increment, id).await);
    });
    wait
}

/// Runs `tasks` tasks each calling `call` `per_task` times; every call must succeed.
async fn hammer<T, F, Fut>(tasks: usize, per_task: usize, call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<T>> + Send + 'static,
{
    let call = Arc::new(call);
    let handles: Vec<_> = (0..tasks)
        .map(|task| {
            let call = call.clone();
            tokio::spawn(async move {
                let mut out = Vec::with_capacity(per_task);
                for i in 0..per_task {
                    match call(task * per_task + i).await {
                        Ok(value) => out.push(value),
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            })
        })
        .collect();
    let mut all = Vec::new();
    for handle in handles {
        match handle.await.expect("task") {
            Ok(values) => all.extend(values),
            Err(e) => panic!("a call failed under contention (no give-up is allowed): {e}"),
        }
    }
    all
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_tasks_on_one_document_all_succeed_on_every_engine() -> Result<()> {
    for engine in engines("two_hundred_tasks_on_one_document_all_succeed_on_every_engine") {
        for round in 0..rounds() {
            let rt = engine.rt.clone();
            let id = rt.mutation(procs::new_counter, ()).await?;
            let (tasks, per_task) = (200, 5);
            let caller = rt.clone();
            let mut seen = hammer(tasks, per_task, move |_| {
                let rt = caller.clone();
                async move { rt.mutation(procs::increment, id).await }
            })
            .await;
            let n = (tasks * per_task) as i64;
            assert_eq!(
                rt.query(procs::counter, id).await?,
                n,
                "{} round {round}",
                engine.name
            );
            // Serializable: each increment saw the one before it.
            seen.sort_unstable();
            assert_eq!(
                seen,
                (1..=n).collect::<Vec<_>>(),
                "{} round {round}",
                engine.name
            );
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interleaving_increments_all_succeed_with_default_settings() -> Result<()> {
    for engine in engines("interleaving_increments_all_succeed_with_default_settings") {
        for round in 0..rounds() {
            let rt = engine.rt.clone();
            let id = rt.mutation(procs::new_counter, ()).await?;
            let caller = rt.clone();
            let seen: HashSet<i64> = hammer(200, 1, move |_| {
                let rt = caller.clone();
                async move { rt.mutation(procs::increment_yielding, id).await }
            })
            .await
            .into_iter()
            .collect();
            assert_eq!(seen.len(), 200, "{} round {round}", engine.name);
            assert_eq!(rt.query(procs::counter, id).await?, 200, "{}", engine.name);
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transfers_between_hot_accounts_keep_every_invariant() -> Result<()> {
    for engine in engines("transfers_between_hot_accounts_keep_every_invariant") {
        let rt = engine.rt.clone();
        let accounts = rt.mutation(procs::open_accounts, (20, 1_000)).await?;
        let accounts = Arc::new(accounts);
        let caller = rt.clone();
        let moved = hammer(64, 20, move |i| {
            let (rt, accounts) = (caller.clone(), accounts.clone());
            // Most transfers touch account 0 (hot); the rest spread over the others.
            let pick = |k: usize| {
                let x = (k.wrapping_mul(2_654_435_761)) % 100;
                if x < 60 { 0 } else { 1 + x % 19 }
            };
            let (from, to) = (accounts[pick(i)], accounts[pick(i * 7 + 3)]);
            async move { rt.mutation(procs::transfer, (from, to, 7)).await }
        })
        .await;
        let balances = rt.query(procs::balances, ()).await?;
        assert_eq!(balances.iter().sum::<i64>(), 20_000, "{}", engine.name);
        assert!(balances.iter().all(|b| *b >= 0), "{}", engine.name);
        assert!(
            moved.iter().any(|m| *m),
            "{}: no transfer moved money",
            engine.name
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_skew_is_prevented_under_contention() -> Result<()> {
    for engine in engines("write_skew_is_prevented_under_contention") {
        let rt = engine.rt.clone();
        for shift in 0..10 {
            let doctors = Arc::new(rt.mutation(procs::hire, (shift, 8)).await?);
            let caller = rt.clone();
            let left = hammer(8, 1, move |i| {
                let (rt, doctors) = (caller.clone(), doctors.clone());
                async move { rt.mutation(procs::go_off_call, doctors[i]).await }
            })
            .await;
            let on_call = rt.query(procs::on_call, shift).await?;
            assert!(
                on_call >= 1,
                "{}: shift {shift} left uncovered",
                engine.name
            );
            assert_eq!(
                left.iter().filter(|l| **l).count(),
                8 - on_call,
                "{}",
                engine.name
            );
        }
    }
    Ok(())
}

/// The probe commits a conflicting increment from another task during each of the first
/// runs of `probed_increment`, and waits for that commit. The first run conflicts, the
/// second (in the lane) too; the third must be exclusive: the other commit cannot get in
/// until the probed mutation's own commit is ordered, so it does not come back while the
/// run is open, and the third run commits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mutation_that_keeps_conflicting_runs_exclusively_at_its_third_run() -> Result<()> {
    let _probe = PROBE_TEST.lock().await;
    for engine in engines("a_mutation_that_keeps_conflicting_runs_exclusively_at_its_third_run") {
        let rt = engine.rt.clone();
        let id = rt.mutation(procs::new_counter, ()).await?;
        let handle = tokio::runtime::Handle::current();
        let interferer = rt.clone();
        let got_in_during_run_3 = Arc::new(Mutex::new(None));
        let seen = got_in_during_run_3.clone();
        *PROBE.lock().unwrap() = Some(Arc::new(Box::new(move |run: u32| {
            let wait = interfere(&handle, &interferer, id);
            if run < 3 {
                // Runs 1 and 2 are optimistic: the other increment commits meanwhile.
                wait.recv()
                    .expect("interferer")
                    .expect("interfering increment");
                true
            } else {
                // Run 3 is exclusive: the other increment waits for it.
                let got_in = wait.recv_timeout(Duration::from_millis(300)).is_ok();
                *seen.lock().unwrap() = Some(got_in);
                got_in
            }
        })));
        PROBE_RUNS.store(0, Ordering::SeqCst);
        let value = rt.mutation(procs::probed_increment, id).await;
        *PROBE.lock().unwrap() = None;
        let value = value?;
        assert_eq!(PROBE_RUNS.load(Ordering::SeqCst), 3, "{}", engine.name);
        assert_eq!(
            *got_in_during_run_3.lock().unwrap(),
            Some(false),
            "{}: a commit got in while an exclusive run was open",
            engine.name
        );
        // Two interfering increments, the probed one, then the third interferer.
        assert_eq!(value, 3, "{}", engine.name);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while rt.query(procs::counter, id).await? != 4 {
            assert!(std::time::Instant::now() < deadline, "{}", engine.name);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_lane_is_an_overload_error_not_a_conflict() -> Result<()> {
    let rt = Runtime::builder()
        .contention(Contention {
            max_waiting: 0,
            ..Contention::default()
        })
        .build()?;
    let id = rt.mutation(procs::new_counter, ()).await?;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let rt = rt.clone();
            tokio::spawn(async move { rt.mutation(procs::increment_yielding, id).await })
        })
        .collect();
    let mut committed = 0;
    let mut overloaded = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => committed += 1,
            Err(e) => {
                assert!(e.is_overloaded(), "{e}");
                assert!(!e.is_conflict(), "{e}");
                assert!(e.to_string().contains("overloaded"), "{e}");
                overloaded += 1;
            }
        }
    }
    assert!(
        overloaded > 0,
        "50 interleaving increments never conflicted"
    );
    // Nothing of an overloaded call was committed.
    assert_eq!(rt.query(procs::counter, id).await?, committed);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_past_max_wait_is_an_overload_error() -> Result<()> {
    let _probe = PROBE_TEST.lock().await;
    let rt = Runtime::builder()
        .contention(Contention {
            max_wait: Duration::from_millis(50),
            ..Contention::default()
        })
        .build()?;
    let id = rt.mutation(procs::new_counter, ()).await?;
    // X reads, then takes 400 ms to write. A commit after its first read makes it conflict,
    // so its second run holds the lane for those 400 ms.
    let (reads, mut read) = tokio::sync::mpsc::unbounded_channel();
    *SLOW_READS.lock().unwrap() = Some(reads);
    let x = {
        let rt = rt.clone();
        tokio::spawn(async move { rt.mutation(procs::slow_increment, (id, 400)).await })
    };
    assert_eq!(read.recv().await, Some(1));
    rt.mutation(procs::increment, id).await?;
    assert_eq!(read.recv().await, Some(2), "X re-runs in the lane");
    // Y conflicts at once (its probe commits an increment between its read and its write)
    // and must wait for the lane longer than `max_wait`.
    let handle = tokio::runtime::Handle::current();
    let interferer = rt.clone();
    *PROBE.lock().unwrap() = Some(Arc::new(Box::new(move |_run: u32| {
        let wait = interfere(&handle, &interferer, id);
        wait.recv()
            .expect("interferer")
            .expect("interfering increment");
        true
    })));
    PROBE_RUNS.store(0, Ordering::SeqCst);
    let y = rt.mutation(procs::probed_increment, id).await;
    *PROBE.lock().unwrap() = None;
    let err = y.expect_err("Y cannot get its turn within 50 ms");
    assert!(err.is_overloaded(), "{err}");
    assert_eq!(PROBE_RUNS.load(Ordering::SeqCst), 1, "Y never re-ran");
    // X still commits (exclusively, after Y's interferer made its second run conflict).
    x.await.expect("task")?;
    *SLOW_READS.lock().unwrap() = None;
    // The first increment, Y's interferer, and X; nothing of Y.
    assert_eq!(rt.query(procs::counter, id).await?, 3);
    Ok(())
}

/// HTTP: an overloaded mutation is a 503 with `Retry-After` and a JSON body, not a 560
/// "Server Error".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overload_is_503_with_retry_after_over_http() -> Result<()> {
    let rt = Runtime::builder()
        .contention(Contention {
            max_waiting: 0,
            ..Contention::default()
        })
        .build()?;
    let id = rt.mutation(procs::new_counter, ()).await?;
    let server = convoke::http::Server::builder(rt.clone())
        .build()
        .await
        .expect("server")
        .spawn("127.0.0.1:0")
        .await
        .expect("bind");
    let client = reqwest::Client::new();
    let url = format!("{}/api/mutation", server.url());
    let body = serde_json::json!({
        "path": "procs:increment_yielding",
        "args": id.to_string(),
        "format": "json",
    });
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let request = client
                .post(&url)
                .header("content-type", "application/json")
                .body(body.to_string());
            tokio::spawn(async move { request.send().await })
        })
        .collect();
    let (mut ok, mut overloaded) = (0, 0);
    for request in requests {
        let response = request.await.expect("task").expect("response");
        match response.status().as_u16() {
            200 => ok += 1,
            503 => {
                assert_eq!(
                    response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()),
                    Some("1")
                );
                let text = response.text().await.expect("body");
                let reply: serde_json::Value = serde_json::from_str(&text).expect("JSON body");
                assert_eq!(reply["code"], "Overloaded", "{reply}");
                assert_eq!(reply["status"], "error", "{reply}");
                overloaded += 1;
            }
            other => panic!(
                "status {other}: {}",
                response.text().await.unwrap_or_default()
            ),
        }
    }
    assert!(
        overloaded > 0,
        "50 interleaving increments never conflicted"
    );
    assert_eq!(rt.query(procs::counter, id).await?, ok);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Several processes on PostgreSQL.

const SCHEMA_VAR: &str = "CONVOKE_CONTENTION_SCHEMA";
const COUNTER_VAR: &str = "CONVOKE_CONTENTION_COUNTER";
const PROCESSES: usize = 3;
const TASKS: usize = 64;
const PER_TASK: usize = 3;

/// The child process: `TASKS` tasks × `PER_TASK` increments of the shared counter; prints
/// `acked N` (every call must succeed).
#[test]
#[ignore = "run by processes_on_postgres_never_give_up as a child process"]
fn contention_child() {
    let Ok(schema) = std::env::var(SCHEMA_VAR) else {
        return;
    };
    let counter: Id<Counter> = std::env::var(COUNTER_VAR)
        .expect("counter")
        .parse()
        .expect("counter id");
    let rt = Runtime::builder()
        .storage(postgres::store(&schema))
        .build()
        .expect("runtime");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let acked = tokio.block_on(async move {
        hammer(TASKS, PER_TASK, move |_| {
            let rt = rt.clone();
            async move { rt.mutation(procs::increment, counter).await }
        })
        .await
        .len()
    });
    println!("\nacked {acked}");
}

#[test]
fn processes_on_postgres_never_give_up() {
    if !postgres::available("processes_on_postgres_never_give_up") {
        return;
    }
    let schema = postgres::fresh_schema("convoke_contention_mp");
    let _guard = postgres::DropSchema(schema.clone());
    let rt = Runtime::builder()
        .storage(postgres::store(&schema))
        .build()
        .expect("runtime");
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let counter = tokio
        .block_on(rt.mutation(procs::new_counter, ()))
        .expect("counter");
    let counter_text = counter.to_string();
    let children: Vec<_> = (0..PROCESSES)
        .map(|_| {
            child::spawn_test_child_with(
                "contention_child",
                &[
                    (SCHEMA_VAR, schema.as_ref()),
                    (COUNTER_VAR, counter_text.as_ref()),
                ],
            )
        })
        .collect();
    let mut acked = 0;
    for mut child in children {
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let line = line.expect("line");
            if let Some(n) = line.strip_prefix("acked ") {
                acked += n.trim().parse::<usize>().expect("count");
            }
            lines.push(line);
        }
        let output = child.wait_with_output().expect("child");
        assert!(
            output.status.success(),
            "a child failed: {}\n{}",
            lines.join("\n"),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(acked, PROCESSES * TASKS * PER_TASK);
    let value = tokio
        .block_on(rt.query(procs::counter, counter))
        .expect("counter");
    assert_eq!(value as usize, acked);
}
