//! The transfer benchmark (SpacetimeDB's "keynote-2" workload): bank transfers between
//! accounts under low and high contention, on every engine, in-process and over HTTP, beside
//! the same transfer sent directly to the database, in the same run. Issue 13, items 4 and 5.
//!
//! `cargo bench --bench transfer` runs every case and prints one markdown table, then the
//! targets of issue 13 with the measured ratios. `bench/transfer.sh` runs it in release and
//! writes the output into `docs/performance-contention.md`. `cargo test --benches` (no
//! `--bench` argument) or `CONVOKE_TRANSFER_QUICK=1` runs every case for a fraction of a
//! second on 1,000 accounts, as a smoke test.
//!
//! # The workload
//!
//! `CONVOKE_TRANSFER_ACCOUNTS` accounts (default 100,000), each opened with a balance of
//! 1,000,000. A transfer is the `transfer_bench:transfer` mutation: it reads both balances,
//! checks that the source has at least the amount (1..=100, uniform), and if so debits the
//! source and credits the destination. `(from, to)` are drawn from a Zipf distribution over
//! the accounts (account `k` with probability ∝ `1/k^α`; `to` redrawn while equal to
//! `from`), α = 0 (uniform) and α = 1.5 (account 1 is in ~62 % of the transfers). The
//! sampler is the bench's own (`benches/support/zipf.rs`: an exact inverted cumulative
//! table), not `rand_distr`.
//!
//! Each case has `clients` concurrent clients (64, and 4 = 2 × cores), each a tokio task on
//! one 2-worker runtime calling one transfer after the other (and yielding between calls).
//! A warm-up of `CONVOKE_TRANSFER_WARMUP` seconds (default 2); then every client finishes
//! its call and waits at a gate, so that no call is in flight when the counters are read;
//! then a timed run of `CONVOKE_TRANSFER_SECS` seconds (default 20): the calls started in
//! it count, and it ends when the last of them returns. Per case: transfers per second (calls
//! that returned `Ok`, whether or not the source had enough), latency quantiles of those
//! calls (p50, p99, p99.9, max: every call timed, histogram buckets within 1.6 %), re-runs
//! per commit (handler runs counted by the procedure, minus calls, over calls; for the direct
//! SQL baselines, transaction attempts), give-ups (calls that returned any error). After each
//! case the balances are read back: their sum must be unchanged and none negative.
//!
//! # Engines and paths
//!
//! - **memory**: `Runtime::in_memory()`. **sqlite**: `SqliteStore::open(temp dir)`, durable
//!   (WAL, `synchronous=FULL`, group commit). **postgres**: `PostgresStore` on
//!   `CONVOKE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`) in a
//!   schema of its own, `convoke_transfer_<pid>`, dropped at the end; without a server its
//!   rows read NOT RUN (unless `CONVOKE_REQUIRE_POSTGRES=1`: then the bench fails).
//!   **postgres ×3**: the same schema from 3 processes (this bench binary re-executed with
//!   `CONVOKE_TRANSFER_CHILD` set), each running its share of the clients (22+21+21, 2+1+1);
//!   the parent sums their counts and merges their latency histograms.
//! - **in-process**: `rt.mutation(transfer_bench::transfer, args)`. **HTTP**: `POST
//!   /api/mutation` (`"format": "json"`) to convoke's `Server` on `127.0.0.1:0`, in the same
//!   process and runtime, from one keep-alive `reqwest::Client` (so each client reuses a
//!   connection).
//!
//! # Baselines (same run)
//!
//! - **tokio-postgres direct**: one connection per client; a transfer is `BEGIN ISOLATION
//!   LEVEL SERIALIZABLE` pipelined with `SELECT id, balance FROM direct_accounts WHERE id IN
//!   ($1, $2)` (one round trip), then the two `UPDATE .. SET balance = $new` (in id order)
//!   pipelined with `COMMIT` (one round trip); re-run on 40001 (serialization failure) and
//!   40P01 (deadlock), until it commits.
//! - **rusqlite direct**: one connection (WAL, `synchronous=FULL`, exclusive locking, as the
//!   engine), behind a mutex; a transfer is `BEGIN IMMEDIATE`, two `SELECT`s, two
//!   `UPDATE`s, `COMMIT` (one fsync per transfer), run on tokio's blocking pool.
//! - **Mutex<HashMap> floor**: the transfer on a `Mutex<HashMap<u32, i64>>`, called the
//!   same way as `rt.mutation` (same clients, same yields): what the in-memory engine is
//!   measured against.

#[path = "support/latency.rs"]
mod latency;
#[path = "support/zipf.rs"]
mod zipf;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Write as _};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use convoke::store::{PostgresConfig, PostgresStore, SqliteStore};
use convoke::{Id, Runtime};
use latency::Histogram;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Statement};
use zipf::{Rng, Zipf};

use transfer_bench::{Account, Transfer};

/// Every account's opening balance.
const INITIAL: i64 = 1_000_000;
/// Amounts are uniform in `1..=MAX_AMOUNT`.
const MAX_AMOUNT: u64 = 100;
const ALPHAS: [f64; 2] = [0.0, 1.5];
const CLIENTS: [usize; 2] = [64, 4];
const PROCESSES: usize = 3;
/// Accounts opened per mutation when seeding (under the 16,000-write limit).
const SEED_BATCH: usize = 4_000;
/// Accounts read per query when checking the balances (under the 32,000-read limit).
const PAGE: usize = 8_000;

/// Set in a child process of the `postgres ×3` case: the schema; with the case's α and
/// the child's clients in the two others.
const CHILD_VAR: &str = "CONVOKE_TRANSFER_CHILD";
const CHILD_ALPHA_VAR: &str = "CONVOKE_TRANSFER_CHILD_ALPHA";
const CHILD_CLIENTS_VAR: &str = "CONVOKE_TRANSFER_CHILD_CLIENTS";
const CHILD_SEED_VAR: &str = "CONVOKE_TRANSFER_CHILD_SEED";

// ---------------------------------------------------------------------------------------
// The procedures
// ---------------------------------------------------------------------------------------

mod transfer_bench {
    use std::sync::atomic::{AtomicU64, Ordering};

    use convoke::db::PaginationOptions;
    use convoke::{Error, Id, MutationCtx, QueryCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(transfer_bench);

    /// Runs of `transfer`'s handler (first runs and re-runs) in this process.
    pub static RUNS: AtomicU64 = AtomicU64::new(0);

    #[derive(Debug, Clone, Serialize, Deserialize, Table)]
    #[table(name = "accounts")]
    pub struct Account {
        pub balance: i64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Transfer {
        pub from: Id<Account>,
        pub to: Id<Account>,
        pub amount: i64,
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Page {
        pub ids: Vec<Id<Account>>,
        pub balances: Vec<i64>,
        pub next: Option<String>,
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

    /// Moves `amount` from one account to the other if the first has enough; whether it
    /// did.
    #[procedure(mutation)]
    pub async fn transfer(ctx: &MutationCtx<'_>, t: Transfer) -> Result<bool> {
        RUNS.fetch_add(1, Ordering::Relaxed);
        let (Some(from), Some(to)) = (ctx.db().get(t.from).await?, ctx.db().get(t.to).await?)
        else {
            return Err(Error::user("no such account"));
        };
        if t.from == t.to || from.balance < t.amount {
            return Ok(false);
        }
        ctx.db()
            .replace(
                t.from,
                &Account {
                    balance: from.balance - t.amount,
                },
            )
            .await?;
        ctx.db()
            .replace(
                t.to,
                &Account {
                    balance: to.balance + t.amount,
                },
            )
            .await?;
        Ok(true)
    }

    /// One page of accounts in id order: their ids and balances, and the cursor of the
    /// next page (`None` after the last).
    #[procedure(query)]
    pub async fn accounts_page(
        ctx: &QueryCtx<'_>,
        (cursor, size): (Option<String>, usize),
    ) -> Result<Page> {
        let options = match cursor {
            Some(cursor) => PaginationOptions::after(cursor, size),
            None => PaginationOptions::first(size),
        };
        let page = ctx.db().query::<Account>().paginate(options).await?;
        Ok(Page {
            ids: page.page.iter().map(|d| d.id()).collect(),
            balances: page.page.iter().map(|d| d.balance).collect(),
            next: (!page.is_done).then_some(page.continue_cursor),
        })
    }
}

/// Transaction attempts of the direct SQL baselines (first attempts and re-runs).
static DIRECT_RUNS: AtomicU64 = AtomicU64::new(0);

// ---------------------------------------------------------------------------------------
// Settings
// ---------------------------------------------------------------------------------------

#[derive(Clone)]
struct Config {
    accounts: usize,
    warmup: Duration,
    secs: Duration,
    quick: bool,
}

/// Whether the case group `name` runs: all of them, unless `CONVOKE_TRANSFER_ONLY` lists
/// some (comma-separated: `memory`, `floor`, `sqlite`, `rusqlite`, `postgres`, `postgres3`,
/// `pgdirect`), for profiling one of them.
fn selected(name: &str) -> bool {
    match std::env::var("CONVOKE_TRANSFER_ONLY") {
        Ok(only) if !only.trim().is_empty() => only.split(',').any(|g| g.trim() == name),
        _ => true,
    }
}

fn env_f64(name: &str) -> Option<f64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

fn config() -> Config {
    let quick = std::env::var("CONVOKE_TRANSFER_QUICK").is_ok_and(|v| v == "1")
        || (std::env::var_os(CHILD_VAR).is_none() && !std::env::args().any(|a| a == "--bench"));
    let (accounts, warmup, secs) = if quick {
        (1_000, 0.05, 0.2)
    } else {
        (100_000, 2.0, 20.0)
    };
    Config {
        accounts: env_f64("CONVOKE_TRANSFER_ACCOUNTS").map_or(accounts, |v| v as usize),
        warmup: Duration::from_secs_f64(env_f64("CONVOKE_TRANSFER_WARMUP").unwrap_or(warmup)),
        secs: Duration::from_secs_f64(env_f64("CONVOKE_TRANSFER_SECS").unwrap_or(secs)),
        quick,
    }
}

// ---------------------------------------------------------------------------------------
// The clients
// ---------------------------------------------------------------------------------------

/// What one case (or one process's share of it) measured.
#[derive(Default)]
struct Outcome {
    /// Calls started in the timed run that returned `Ok`.
    calls: u64,
    /// Handler runs (or transaction attempts) during the timed run.
    runs: u64,
    /// Calls started in the timed run that returned an error.
    give_ups: u64,
    /// From the start of the timed run to the return of its last call.
    elapsed: Duration,
    latency: Histogram,
    error: Option<String>,
}

impl Outcome {
    fn tps(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn reruns_per_commit(&self) -> f64 {
        self.runs.saturating_sub(self.calls + self.give_ups) as f64 / self.calls.max(1) as f64
    }

    fn merge(&mut self, other: Outcome) {
        self.calls += other.calls;
        self.runs += other.runs;
        self.give_ups += other.give_ups;
        self.elapsed = self.elapsed.max(other.elapsed);
        self.latency.merge(&other.latency);
        if self.error.is_none() {
            self.error = other.error;
        }
    }
}

/// One call: `(client, from rank, to rank, amount)`.
type CallFn = dyn Fn(usize, usize, usize, i64) -> futures::future::BoxFuture<'static, Result<(), String>>
    + Send
    + Sync;

/// Runs `clients` clients calling `call` with pairs drawn from Zipf(α): a warm-up, then the
/// timed run. `runs` reads the handler-run counter.
async fn drive(
    cfg: &Config,
    alpha: f64,
    clients: usize,
    seed: u64,
    runs: &(dyn Fn() -> u64 + Sync),
    call: Arc<CallFn>,
) -> Outcome {
    let zipf = Arc::new(Zipf::new(cfg.accounts, alpha));
    let warm_end = Instant::now() + cfg.warmup;
    let (secs, warmup) = (cfg.secs, !cfg.warmup.is_zero());
    // Between the warm-up and the timed run every client waits at the gate, so that no call
    // is in flight when the run counter is read: every run counted belongs to a timed call.
    let gate = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let start = Arc::new(OnceLock::new());
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (zipf, call, gate, start) =
                (zipf.clone(), call.clone(), gate.clone(), start.clone());
            tokio::spawn(async move {
                let mut rng = Rng::new(seed.wrapping_mul(1_000_003).wrapping_add(client as u64));
                let mut out = Outcome::default();
                while warmup && Instant::now() < warm_end {
                    let (from, to) = zipf.pair(&mut rng);
                    let amount = rng.range(1, MAX_AMOUNT) as i64;
                    let _ = call(client, from, to, amount).await;
                    tokio::task::yield_now().await;
                }
                gate.wait().await;
                gate.wait().await;
                let t0: Instant = *start.get().expect("set before the second wait");
                let t1 = t0 + secs;
                let mut last_end = t0;
                loop {
                    let began = Instant::now();
                    if began >= t1 {
                        break;
                    }
                    let (from, to) = zipf.pair(&mut rng);
                    let amount = rng.range(1, MAX_AMOUNT) as i64;
                    let result = call(client, from, to, amount).await;
                    let end = Instant::now();
                    match result {
                        Ok(()) => {
                            out.calls += 1;
                            out.latency.record(end - began);
                        }
                        Err(e) => {
                            out.give_ups += 1;
                            out.error.get_or_insert(e);
                        }
                    }
                    last_end = end;
                    tokio::task::yield_now().await;
                }
                out.elapsed = last_end.saturating_duration_since(t0);
                out
            })
        })
        .collect();
    gate.wait().await;
    let runs_at_t0 = runs();
    start.set(Instant::now()).expect("set once");
    gate.wait().await;
    let mut total = Outcome::default();
    for task in tasks {
        total.merge(task.await.expect("client task"));
    }
    total.runs = runs().saturating_sub(runs_at_t0);
    total
}

fn boxed<F>(f: F) -> futures::future::BoxFuture<'static, Result<(), String>>
where
    F: Future<Output = Result<(), String>> + Send + 'static,
{
    Box::pin(f)
}

fn engine_runs() -> u64 {
    transfer_bench::RUNS.load(Ordering::Relaxed)
}

fn direct_runs() -> u64 {
    DIRECT_RUNS.load(Ordering::Relaxed)
}

// ---------------------------------------------------------------------------------------
// The engine: seeding, calling, checking
// ---------------------------------------------------------------------------------------

async fn seed(rt: &Runtime, accounts: usize) -> Result<Vec<Id<Account>>, String> {
    let mut ids = Vec::with_capacity(accounts);
    while ids.len() < accounts {
        let n = SEED_BATCH.min(accounts - ids.len());
        let batch = rt
            .mutation(transfer_bench::open_accounts, (n, INITIAL))
            .await
            .map_err(|e| format!("seeding: {e}"))?;
        ids.extend(batch);
    }
    Ok(ids)
}

/// Every account's id and balance, page by page.
async fn read_accounts(rt: &Runtime) -> Result<(Vec<Id<Account>>, Vec<i64>), String> {
    let (mut ids, mut balances) = (Vec::new(), Vec::new());
    let mut cursor = None;
    loop {
        let page = rt
            .query(transfer_bench::accounts_page, (cursor, PAGE))
            .await
            .map_err(|e| format!("reading the balances: {e}"))?;
        ids.extend(page.ids);
        balances.extend(page.balances);
        match page.next {
            Some(next) => cursor = Some(next),
            None => return Ok((ids, balances)),
        }
    }
}

/// The invariants: as many accounts as opened, the total unchanged, no balance negative.
fn check_balances(accounts: usize, balances: impl IntoIterator<Item = i64>) -> Result<(), String> {
    let (mut n, mut sum, mut negative) = (0usize, 0i128, 0usize);
    for b in balances {
        n += 1;
        sum += i128::from(b);
        negative += usize::from(b < 0);
    }
    let want = accounts as i128 * i128::from(INITIAL);
    let mut problems = Vec::new();
    if n != accounts {
        problems.push(format!("{n} accounts, not {accounts}"));
    }
    if sum != want {
        problems.push(format!("total {sum}, not {want}"));
    }
    if negative > 0 {
        problems.push(format!("{negative} negative balances"));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

async fn check_engine(rt: &Runtime, accounts: usize) -> Result<(), String> {
    let (_, balances) = read_accounts(rt).await?;
    check_balances(accounts, balances)
}

fn in_process_call(rt: &Runtime, ids: &Arc<Vec<Id<Account>>>) -> Arc<CallFn> {
    let (rt, ids) = (rt.clone(), ids.clone());
    Arc::new(move |_client, from, to, amount| {
        let (rt, t) = (
            rt.clone(),
            Transfer {
                from: ids[from],
                to: ids[to],
                amount,
            },
        );
        boxed(async move {
            rt.mutation(transfer_bench::transfer, t)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
    })
}

fn http_call(url: &str, client: &reqwest::Client, ids: &Arc<Vec<Id<Account>>>) -> Arc<CallFn> {
    let endpoint = format!("{url}/api/mutation");
    let names: Arc<Vec<String>> = Arc::new(ids.iter().map(|id| id.to_string()).collect());
    let client = client.clone();
    Arc::new(move |_client, from, to, amount| {
        let body = format!(
            r#"{{"path":"transfer_bench:transfer","args":{{"from":"{}","to":"{}","amount":{amount}}},"format":"json"}}"#,
            names[from], names[to]
        );
        let request = client
            .post(&endpoint)
            .header("content-type", "application/json")
            .body(body);
        boxed(async move {
            let response = request.send().await.map_err(|e| format!("HTTP: {e}"))?;
            let status = response.status();
            let body = response.bytes().await.map_err(|e| format!("HTTP: {e}"))?;
            let text = String::from_utf8_lossy(&body);
            if status.as_u16() == 200 && text.contains(r#""status":"success""#) {
                Ok(())
            } else {
                Err(format!(
                    "HTTP {status}: {}",
                    text.chars().take(200).collect::<String>()
                ))
            }
        })
    })
}

fn http_client(clients: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(clients.max(64))
        .build()
        .expect("reqwest client")
}

// ---------------------------------------------------------------------------------------
// The table's rows
// ---------------------------------------------------------------------------------------

enum Measured {
    NotRun(String),
    Ran {
        outcome: Outcome,
        invariants: Result<(), String>,
    },
}

struct Row {
    engine: &'static str,
    path: &'static str,
    alpha: f64,
    clients: usize,
    result: Measured,
}

struct Rows(Vec<Row>);

impl Rows {
    fn push(
        &mut self,
        engine: &'static str,
        path: &'static str,
        alpha: f64,
        clients: usize,
        result: Measured,
    ) {
        let row = Row {
            engine,
            path,
            alpha,
            clients,
            result,
        };
        eprintln!("{}", progress_line(&row));
        self.0.push(row);
    }

    fn ran(
        &mut self,
        engine: &'static str,
        path: &'static str,
        alpha: f64,
        clients: usize,
        outcome: Outcome,
        invariants: Result<(), String>,
    ) {
        self.push(
            engine,
            path,
            alpha,
            clients,
            Measured::Ran {
                outcome,
                invariants,
            },
        );
    }

    fn not_run(&mut self, engine: &'static str, path: &'static str, reason: &str) {
        for alpha in ALPHAS {
            for clients in CLIENTS {
                self.push(
                    engine,
                    path,
                    alpha,
                    clients,
                    Measured::NotRun(reason.to_owned()),
                );
            }
        }
    }

    fn find(&self, engine: &str, path: &str, alpha: f64, clients: usize) -> Option<&Outcome> {
        self.0.iter().find_map(|r| match &r.result {
            Measured::Ran { outcome, .. }
                if r.engine == engine
                    && r.path == path
                    && r.alpha == alpha
                    && r.clients == clients =>
            {
                Some(outcome)
            }
            _ => None,
        })
    }
}

fn progress_line(row: &Row) -> String {
    match &row.result {
        Measured::NotRun(reason) => format!(
            "[transfer] {} {} α={} {} clients: NOT RUN ({reason})",
            row.engine, row.path, row.alpha, row.clients
        ),
        Measured::Ran {
            outcome,
            invariants,
        } => format!(
            "[transfer] {} {} α={} {} clients: {:.0}/s p99 {} max {} re-runs {:.3} give-ups {} {}{}",
            row.engine,
            row.path,
            row.alpha,
            row.clients,
            outcome.tps(),
            fmt_latency(outcome.latency.quantile(0.99)),
            fmt_latency(outcome.latency.max()),
            outcome.reruns_per_commit(),
            outcome.give_ups,
            if invariants.is_ok() { "OK" } else { "FAIL" },
            outcome
                .error
                .as_ref()
                .map(|e| format!(" (first error: {e})"))
                .unwrap_or_default()
        ),
    }
}

fn fmt_latency(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1_000.0 {
        format!("{us:.0} µs")
    } else if us < 10_000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else if us < 1_000_000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{:.2} s", us / 1e6)
    }
}

fn fmt_tps(tps: f64) -> String {
    // Thousands separated by commas.
    let n = tps.round() as u64;
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------

/// Runs the engine's cases on `rt` (in-process, then over HTTP when `http`), each followed
/// by the balance check.
async fn engine_cases(
    cfg: &Config,
    rows: &mut Rows,
    engine: &'static str,
    rt: &Runtime,
    ids: &Arc<Vec<Id<Account>>>,
    http: bool,
) {
    let mut seed = 1;
    for alpha in ALPHAS {
        for clients in CLIENTS {
            seed += 1;
            let call = in_process_call(rt, ids);
            let outcome = drive(cfg, alpha, clients, seed, &engine_runs, call).await;
            let invariants = check_engine(rt, cfg.accounts).await;
            rows.ran(engine, "in-process", alpha, clients, outcome, invariants);
        }
    }
    if !http {
        return;
    }
    let server = match convoke::http::Server::builder(rt.clone()).build().await {
        Ok(server) => server,
        Err(e) => return rows.not_run(engine, "HTTP", &format!("server: {e}")),
    };
    let running = match server.spawn("127.0.0.1:0").await {
        Ok(running) => running,
        Err(e) => return rows.not_run(engine, "HTTP", &format!("server: {e}")),
    };
    for alpha in ALPHAS {
        for clients in CLIENTS {
            seed += 1;
            let client = http_client(clients);
            let call = http_call(&running.url(), &client, ids);
            let outcome = drive(cfg, alpha, clients, seed, &engine_runs, call).await;
            drop(client);
            let invariants = check_engine(rt, cfg.accounts).await;
            rows.ran(engine, "HTTP", alpha, clients, outcome, invariants);
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(5), running.shutdown()).await;
}

async fn memory_cases(cfg: &Config, rows: &mut Rows) {
    let rt = Runtime::in_memory().expect("in-memory runtime");
    let ids = match seed(&rt, cfg.accounts).await {
        Ok(ids) => Arc::new(ids),
        Err(e) => {
            rows.not_run("memory", "in-process", &e);
            return rows.not_run("memory", "HTTP", &e);
        }
    };
    engine_cases(cfg, rows, "memory", &rt, &ids, true).await;
}

/// The `Mutex<HashMap>` floor, called like `rt.mutation`.
async fn floor_cases(cfg: &Config, rows: &mut Rows) {
    let map: HashMap<u32, i64> = (0..cfg.accounts as u32).map(|k| (k, INITIAL)).collect();
    let map = Arc::new(Mutex::new(map));
    let mut seed = 100;
    for alpha in ALPHAS {
        for clients in CLIENTS {
            seed += 1;
            let m = map.clone();
            let call: Arc<CallFn> = Arc::new(move |_client, from, to, amount| {
                let m = m.clone();
                boxed(async move {
                    DIRECT_RUNS.fetch_add(1, Ordering::Relaxed);
                    let mut map = m.lock().unwrap_or_else(PoisonError::into_inner);
                    let (from, to) = (from as u32, to as u32);
                    let (Some(&a), Some(&b)) = (map.get(&from), map.get(&to)) else {
                        return Err("no such account".to_owned());
                    };
                    if from != to && a >= amount {
                        map.insert(from, a - amount);
                        map.insert(to, b + amount);
                    }
                    Ok(())
                })
            });
            let outcome = drive(cfg, alpha, clients, seed, &direct_runs, call).await;
            let invariants = {
                let map = map.lock().unwrap_or_else(PoisonError::into_inner);
                check_balances(cfg.accounts, map.values().copied())
            };
            rows.ran(
                "Mutex<HashMap> floor",
                "in-process",
                alpha,
                clients,
                outcome,
                invariants,
            );
        }
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!("convoke-transfer-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    TempDir(dir)
}

async fn sqlite_cases(cfg: &Config, rows: &mut Rows) {
    let dir = temp_dir("engine");
    let rt = match SqliteStore::open(&dir.0)
        .map_err(|e| e.to_string())
        .and_then(|store| {
            Runtime::builder()
                .storage(store)
                .build()
                .map_err(|e| e.to_string())
        }) {
        Ok(rt) => rt,
        Err(e) => {
            rows.not_run("sqlite", "in-process", &e);
            return rows.not_run("sqlite", "HTTP", &e);
        }
    };
    let ids = match seed(&rt, cfg.accounts).await {
        Ok(ids) => Arc::new(ids),
        Err(e) => {
            rows.not_run("sqlite", "in-process", &e);
            return rows.not_run("sqlite", "HTTP", &e);
        }
    };
    engine_cases(cfg, rows, "sqlite", &rt, &ids, true).await;
    drop(rt);
}

/// The direct rusqlite baseline.
async fn rusqlite_cases(cfg: &Config, rows: &mut Rows) {
    const ENGINE: &str = "rusqlite direct";
    let dir = temp_dir("rusqlite");
    let conn = match open_rusqlite(&dir.0, cfg.accounts) {
        Ok(conn) => Arc::new(Mutex::new(conn)),
        Err(e) => return rows.not_run(ENGINE, "in-process", &e.to_string()),
    };
    let mut seed = 200;
    for alpha in ALPHAS {
        for clients in CLIENTS {
            seed += 1;
            let c = conn.clone();
            let call: Arc<CallFn> = Arc::new(move |_client, from, to, amount| {
                let c = c.clone();
                boxed(async move {
                    tokio::task::spawn_blocking(move || {
                        let mut conn = c.lock().unwrap_or_else(PoisonError::into_inner);
                        rusqlite_transfer(&mut conn, from as i64 + 1, to as i64 + 1, amount)
                            .map_err(|e| e.to_string())
                    })
                    .await
                    .map_err(|e| e.to_string())?
                })
            });
            let outcome = drive(cfg, alpha, clients, seed, &direct_runs, call).await;
            let invariants = {
                let conn = conn.lock().unwrap_or_else(PoisonError::into_inner);
                rusqlite_balances(&conn)
                    .map_err(|e| e.to_string())
                    .and_then(|b| check_balances(cfg.accounts, b))
            };
            rows.ran(ENGINE, "in-process", alpha, clients, outcome, invariants);
        }
    }
}

fn open_rusqlite(dir: &std::path::Path, accounts: usize) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(dir.join("direct.sqlite3"))?;
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    assert_eq!(mode.to_lowercase(), "wal");
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.execute_batch("CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL)")?;
    conn.execute(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?1) \
         INSERT INTO accounts (id, balance) SELECT i, ?2 FROM n",
        rusqlite::params![accounts as i64, INITIAL],
    )?;
    Ok(conn)
}

fn rusqlite_transfer(
    conn: &mut rusqlite::Connection,
    from: i64,
    to: i64,
    amount: i64,
) -> rusqlite::Result<()> {
    DIRECT_RUNS.fetch_add(1, Ordering::Relaxed);
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    {
        let mut select = tx.prepare_cached("SELECT balance FROM accounts WHERE id = ?1")?;
        let a: i64 = select.query_row([from], |r| r.get(0))?;
        let b: i64 = select.query_row([to], |r| r.get(0))?;
        if from != to && a >= amount {
            let mut update = tx.prepare_cached("UPDATE accounts SET balance = ?2 WHERE id = ?1")?;
            update.execute([from, a - amount])?;
            update.execute([to, b + amount])?;
        }
    }
    tx.commit()
}

fn rusqlite_balances(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<i64>> {
    let mut select = conn.prepare("SELECT balance FROM accounts")?;
    let rows = select.query_map([], |r| r.get(0))?;
    rows.collect()
}

// ---------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------

fn pg_url() -> String {
    std::env::var("CONVOKE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

async fn pg_connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// `Ok(server version)` if the server answers; the reason otherwise.
async fn pg_available(url: &str) -> Result<String, String> {
    let client = match tokio::time::timeout(Duration::from_secs(3), pg_connect(url)).await {
        Ok(Ok(client)) => client,
        Ok(Err(e)) => return Err(error_chain(&e)),
        Err(_) => return Err("no answer within 3 s".to_owned()),
    };
    let row = client
        .query_one("SHOW server_version", &[])
        .await
        .map_err(|e| error_chain(&e))?;
    Ok(row.get(0))
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        message.push_str(": ");
        message.push_str(&inner.to_string());
        source = inner.source();
    }
    message
}

fn pg_runtime(url: &str, schema: &str) -> Result<Runtime, String> {
    let mut config = PostgresConfig::new(url);
    config.schema = schema.to_owned();
    let store = PostgresStore::with_config(config).map_err(|e| e.to_string())?;
    Runtime::builder()
        .storage(store)
        .build()
        .map_err(|e| e.to_string())
}

/// Drops the bench's schema when dropped (also on a panic), on a connection and a runtime
/// of its own.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let url = self.url.clone();
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = pg_connect(&url).await.map_err(|e| e.to_string())?;
                client.batch_execute(&sql).await.map_err(|e| e.to_string())
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => eprintln!("[transfer] dropped schema {}", self.schema),
            Ok(Err(e)) => eprintln!("[transfer] could not drop schema {}: {e}", self.schema),
            Err(_) => eprintln!("[transfer] could not drop schema {}: panicked", self.schema),
        }
    }
}

const PG_ENGINES: [(&str, &str); 4] = [
    ("postgres", "in-process"),
    ("postgres", "HTTP"),
    ("postgres ×3", "in-process"),
    ("tokio-postgres direct", "in-process"),
];

async fn postgres_cases(cfg: &Config, rows: &mut Rows, url: &str, schema: &str) {
    let rt = match pg_runtime(url, schema) {
        Ok(rt) => rt,
        Err(e) => {
            for (engine, path) in PG_ENGINES {
                rows.not_run(engine, path, &e);
            }
            return;
        }
    };
    let ids = match seed(&rt, cfg.accounts).await {
        Ok(ids) => Arc::new(ids),
        Err(e) => {
            for (engine, path) in PG_ENGINES {
                rows.not_run(engine, path, &e);
            }
            return;
        }
    };
    if selected("postgres") {
        engine_cases(cfg, rows, "postgres", &rt, &ids, true).await;
    }
    let mut seed = 300;
    for alpha in ALPHAS.into_iter().filter(|_| selected("postgres3")) {
        for clients in CLIENTS {
            seed += 1;
            match processes_case(cfg, schema, alpha, clients, seed) {
                Ok(outcome) => {
                    let invariants = check_engine(&rt, cfg.accounts).await;
                    rows.ran(
                        "postgres ×3",
                        "in-process",
                        alpha,
                        clients,
                        outcome,
                        invariants,
                    );
                }
                Err(e) => rows.push(
                    "postgres ×3",
                    "in-process",
                    alpha,
                    clients,
                    Measured::NotRun(e),
                ),
            }
        }
    }
    // The engine's pool closes before the direct baseline opens its connections.
    drop(rt);
    if selected("pgdirect") {
        direct_pg_cases(cfg, rows, url, schema).await;
    }
}

/// Client `i`'s share of `clients` over the processes.
fn share(clients: usize, i: usize) -> usize {
    clients / PROCESSES + usize::from(i < clients % PROCESSES)
}

/// Runs the `postgres ×3` case: starts the children, lets them go at once, sums what they
/// measured.
fn processes_case(
    cfg: &Config,
    schema: &str,
    alpha: f64,
    clients: usize,
    seed: u64,
) -> Result<Outcome, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children = Vec::new();
    for i in 0..PROCESSES {
        let child = Command::new(&exe)
            .env(CHILD_VAR, schema)
            .env(CHILD_ALPHA_VAR, alpha.to_string())
            .env(CHILD_CLIENTS_VAR, share(clients, i).to_string())
            .env(CHILD_SEED_VAR, (seed * 10 + i as u64).to_string())
            .env("CONVOKE_TRANSFER_ACCOUNTS", cfg.accounts.to_string())
            .env("CONVOKE_TRANSFER_SECS", cfg.secs.as_secs_f64().to_string())
            .env(
                "CONVOKE_TRANSFER_WARMUP",
                cfg.warmup.as_secs_f64().to_string(),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawning a child: {e}"))?;
        children.push(child);
    }
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("stdout")).lines())
        .collect();
    // Each child opens its runtime and reads the account ids, then says "ready".
    for lines in &mut readers {
        loop {
            match lines.next() {
                Some(Ok(line)) if line == "ready" => break,
                Some(Ok(_)) => continue,
                _ => return Err("a child ended before it was ready".to_owned()),
            }
        }
    }
    for child in &mut children {
        let stdin = child.stdin.as_mut().expect("stdin");
        writeln!(stdin, "go").map_err(|e| e.to_string())?;
        stdin.flush().map_err(|e| e.to_string())?;
    }
    let mut total = Outcome::default();
    for (lines, mut child) in readers.into_iter().zip(children) {
        let mut got = None;
        let mut error = None;
        for line in lines.map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("result ") {
                got = parse_child(rest);
            } else if let Some(rest) = line.strip_prefix("error ") {
                error = Some(rest.to_owned());
            }
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        let Some(mut outcome) = got.filter(|_| status.success()) else {
            return Err(format!("a child failed ({status})"));
        };
        outcome.error = error;
        total.merge(outcome);
    }
    Ok(total)
}

/// `calls runs give_ups elapsed_ns <histogram>`.
fn parse_child(text: &str) -> Option<Outcome> {
    let mut parts = text.splitn(5, ' ');
    Some(Outcome {
        calls: parts.next()?.parse().ok()?,
        runs: parts.next()?.parse().ok()?,
        give_ups: parts.next()?.parse().ok()?,
        elapsed: Duration::from_nanos(parts.next()?.parse().ok()?),
        latency: Histogram::from_text(parts.next()?)?,
        error: None,
    })
}

/// A child process of the `postgres ×3` case.
fn child_main(schema: &str) {
    let cfg = config();
    let var = |name: &str| -> String { std::env::var(name).unwrap_or_else(|_| panic!("{name}")) };
    let alpha: f64 = var(CHILD_ALPHA_VAR).parse().expect("alpha");
    let clients: usize = var(CHILD_CLIENTS_VAR).parse().expect("clients");
    let seed: u64 = var(CHILD_SEED_VAR).parse().expect("seed");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let rt = pg_runtime(&pg_url(), schema).expect("runtime");
    let ids = tokio.block_on(read_accounts(&rt)).expect("account ids").0;
    assert_eq!(ids.len(), cfg.accounts, "accounts in the shared schema");
    let ids = Arc::new(ids);
    println!("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("go");
    let outcome = tokio.block_on(drive(
        &cfg,
        alpha,
        clients,
        seed,
        &engine_runs,
        in_process_call(&rt, &ids),
    ));
    if let Some(e) = &outcome.error {
        println!("error {}", e.replace('\n', " "));
    }
    println!(
        "result {} {} {} {} {}",
        outcome.calls,
        outcome.runs,
        outcome.give_ups,
        outcome.elapsed.as_nanos(),
        outcome.latency.to_text()
    );
    drop(rt);
    drop(tokio);
}

/// A connection of the direct baseline, with its statements.
struct Direct {
    client: Client,
    select: Statement,
    update: Statement,
}

async fn direct_connection(url: &str, schema: &str) -> Result<Direct, tokio_postgres::Error> {
    let client = pg_connect(url).await?;
    let select = client
        .prepare(&format!(
            "SELECT id, balance FROM \"{schema}\".direct_accounts WHERE id IN ($1, $2)"
        ))
        .await?;
    let update = client
        .prepare(&format!(
            "UPDATE \"{schema}\".direct_accounts SET balance = $2 WHERE id = $1"
        ))
        .await?;
    Ok(Direct {
        client,
        select,
        update,
    })
}

/// One transfer as one SERIALIZABLE transaction, re-run on serialization failures and
/// deadlocks.
async fn direct_transfer(c: &Direct, from: i32, to: i32, amount: i64) -> Result<(), String> {
    for _ in 0..10_000 {
        DIRECT_RUNS.fetch_add(1, Ordering::Relaxed);
        match direct_attempt(c, from, to, amount).await {
            Ok(()) => return Ok(()),
            Err(e)
                if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE)
                    || e.code() == Some(&SqlState::T_R_DEADLOCK_DETECTED) =>
            {
                let _ = c.client.batch_execute("ROLLBACK").await;
            }
            Err(e) => {
                let _ = c.client.batch_execute("ROLLBACK").await;
                return Err(error_chain(&e));
            }
        }
    }
    Err("10,000 serialization failures in a row".to_owned())
}

async fn direct_attempt(
    c: &Direct,
    from: i32,
    to: i32,
    amount: i64,
) -> Result<(), tokio_postgres::Error> {
    let params: [&(dyn ToSql + Sync); 2] = [&from, &to];
    let (began, rows) = tokio::join!(
        c.client.batch_execute("BEGIN ISOLATION LEVEL SERIALIZABLE"),
        c.client.query(&c.select, &params),
    );
    began?;
    let rows = rows?;
    let balance = |id: i32| {
        rows.iter()
            .find(|r| r.get::<_, i32>(0) == id)
            .map(|r| r.get::<_, i64>(1))
    };
    let (Some(a), Some(b)) = (balance(from), balance(to)) else {
        c.client.batch_execute("ROLLBACK").await?;
        return Ok(());
    };
    if from == to || a < amount {
        return c.client.batch_execute("COMMIT").await;
    }
    // In id order, so that two transfers between the same accounts do not deadlock.
    let (first, second) = if from < to {
        ((from, a - amount), (to, b + amount))
    } else {
        ((to, b + amount), (from, a - amount))
    };
    let p1: [&(dyn ToSql + Sync); 2] = [&first.0, &first.1];
    let p2: [&(dyn ToSql + Sync); 2] = [&second.0, &second.1];
    let (u1, u2, committed) = tokio::join!(
        c.client.execute(&c.update, &p1),
        c.client.execute(&c.update, &p2),
        c.client.batch_execute("COMMIT"),
    );
    u1?;
    u2?;
    committed
}

async fn direct_pg_cases(cfg: &Config, rows: &mut Rows, url: &str, schema: &str) {
    const ENGINE: &str = "tokio-postgres direct";
    let setup = async {
        let client = pg_connect(url).await?;
        client
            .batch_execute(&format!(
                "CREATE TABLE \"{schema}\".direct_accounts (id int4 PRIMARY KEY, balance int8 NOT NULL); \
                 INSERT INTO \"{schema}\".direct_accounts SELECT g, {INITIAL} FROM generate_series(1, {}) g; \
                 ANALYZE \"{schema}\".direct_accounts",
                cfg.accounts
            ))
            .await?;
        let mut conns = Vec::new();
        for _ in 0..CLIENTS.iter().copied().max().unwrap_or(1) {
            conns.push(Arc::new(direct_connection(url, schema).await?));
        }
        Ok::<_, tokio_postgres::Error>((client, conns))
    };
    let (client, conns) = match setup.await {
        Ok(setup) => setup,
        Err(e) => return rows.not_run(ENGINE, "in-process", &error_chain(&e)),
    };
    let conns = Arc::new(conns);
    let mut seed = 400;
    for alpha in ALPHAS {
        for clients in CLIENTS {
            seed += 1;
            let conns = conns.clone();
            let call: Arc<CallFn> = Arc::new(move |client, from, to, amount| {
                let c = conns[client].clone();
                boxed(
                    async move { direct_transfer(&c, from as i32 + 1, to as i32 + 1, amount).await },
                )
            });
            let outcome = drive(cfg, alpha, clients, seed, &direct_runs, call).await;
            let invariants = match client
                .query(
                    &format!("SELECT balance FROM \"{schema}\".direct_accounts"),
                    &[],
                )
                .await
            {
                Ok(found) => check_balances(cfg.accounts, found.iter().map(|r| r.get::<_, i64>(0))),
                Err(e) => Err(error_chain(&e)),
            };
            rows.ran(ENGINE, "in-process", alpha, clients, outcome, invariants);
        }
    }
}

// ---------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------

/// The rows in the order printed: each engine with its baseline after it.
const ORDER: [(&str, &str); 10] = [
    ("memory", "in-process"),
    ("Mutex<HashMap> floor", "in-process"),
    ("memory", "HTTP"),
    ("sqlite", "in-process"),
    ("rusqlite direct", "in-process"),
    ("sqlite", "HTTP"),
    ("postgres", "in-process"),
    ("postgres ×3", "in-process"),
    ("tokio-postgres direct", "in-process"),
    ("postgres", "HTTP"),
];

fn table(rows: &Rows) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| engine | path | α | clients | transfers/s | p50 | p99 | p99.9 | max | re-runs/commit | give-ups | invariants |"
    );
    let _ = writeln!(
        out,
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    );
    let mut printed: Vec<&Row> = Vec::new();
    for (engine, path) in ORDER {
        for alpha in ALPHAS {
            for clients in CLIENTS {
                printed.extend(rows.0.iter().filter(|r| {
                    r.engine == engine && r.path == path && r.alpha == alpha && r.clients == clients
                }));
            }
        }
    }
    for row in &printed {
        let head = format!(
            "| {} | {} | {} | {} |",
            row.engine, row.path, row.alpha, row.clients
        );
        match &row.result {
            Measured::NotRun(reason) => {
                let _ = writeln!(
                    out,
                    "{head} NOT RUN | | | | | | | {} |",
                    reason.replace('|', "/")
                );
            }
            Measured::Ran {
                outcome,
                invariants,
            } => {
                let l = &outcome.latency;
                let _ = writeln!(
                    out,
                    "{head} {} | {} | {} | {} | {} | {:.3} | {} | {} |",
                    fmt_tps(outcome.tps()),
                    fmt_latency(l.quantile(0.5)),
                    fmt_latency(l.quantile(0.99)),
                    fmt_latency(l.quantile(0.999)),
                    fmt_latency(l.max()),
                    outcome.reruns_per_commit(),
                    outcome.give_ups,
                    match invariants {
                        Ok(()) => "OK".to_owned(),
                        Err(e) => format!("FAIL: {}", e.replace('|', "/")),
                    }
                );
            }
        }
    }
    let errors: Vec<String> = printed
        .iter()
        .filter_map(|row| match &row.result {
            Measured::Ran {
                outcome:
                    Outcome {
                        error: Some(e),
                        give_ups,
                        ..
                    },
                ..
            } => Some(format!(
                "- {} {} α = {} {} clients: {give_ups} give-ups; the first: `{}`",
                row.engine,
                row.path,
                row.alpha,
                row.clients,
                e.replace('`', "'")
            )),
            _ => None,
        })
        .collect();
    if !errors.is_empty() {
        let _ = writeln!(out, "\nGive-ups:\n\n{}", errors.join("\n"));
    }
    out
}

/// `measured` against `goal` for a "≥ goal" target.
fn verdict_at_least(measured: f64, goal: f64) -> String {
    if measured >= goal {
        "met".to_owned()
    } else {
        format!("**missed**: {:.0} % of the goal", measured / goal * 100.0)
    }
}

fn targets(rows: &Rows) -> String {
    let mut out = String::new();
    let na = "n/a (not run)";

    // 0 give-ups.
    let ran: Vec<(&Row, &Outcome)> = rows
        .0
        .iter()
        .filter_map(|r| match &r.result {
            Measured::Ran { outcome, .. } => Some((r, outcome)),
            Measured::NotRun(_) => None,
        })
        .collect();
    let give_ups: u64 = ran.iter().map(|(_, o)| o.give_ups).sum();
    let with_give_ups: Vec<String> = ran
        .iter()
        .filter(|(_, o)| o.give_ups > 0)
        .map(|(r, o)| {
            format!(
                "{} {} α = {} {} clients: {}",
                r.engine, r.path, r.alpha, r.clients, o.give_ups
            )
        })
        .collect();
    let _ = writeln!(out, "**1. 0 give-ups in every configuration.** ");
    if with_give_ups.is_empty() {
        let _ = writeln!(out, "Measured: 0 give-ups in {} rows: met.\n", ran.len());
    } else {
        let _ = writeln!(
            out,
            "Measured: {give_ups} give-ups, in {} of {} rows: **missed** ({}).\n",
            with_give_ups.len(),
            ran.len(),
            with_give_ups.join("; ")
        );
    }
    let failed: Vec<String> = rows
        .0
        .iter()
        .filter_map(|r| match &r.result {
            Measured::Ran {
                invariants: Err(e), ..
            } => Some(format!(
                "{} {} α = {} {} clients: {e}",
                r.engine, r.path, r.alpha, r.clients
            )),
            _ => None,
        })
        .collect();
    let _ = writeln!(
        out,
        "Invariants (total unchanged, no negative balance): {}\n",
        if failed.is_empty() {
            "OK in every row".to_owned()
        } else {
            format!("**FAIL** in {}", failed.join("; "))
        }
    );

    // max < 20 × p99.
    let _ = writeln!(
        out,
        "**2. max latency under 20 × p99 in every configuration.**\n\n\
         | engine | path | α | clients | p99 | max | max / p99 | |\n|---|---|---:|---:|---:|---:|---:|---|"
    );
    for (engine, path) in ORDER {
        for alpha in ALPHAS {
            for clients in CLIENTS {
                let Some(o) = rows.find(engine, path, alpha, clients) else {
                    continue;
                };
                let (p99, max) = (o.latency.quantile(0.99), o.latency.max());
                let ratio = max.as_secs_f64() / p99.as_secs_f64().max(1e-9);
                let _ = writeln!(
                    out,
                    "| {engine} | {path} | {alpha} | {clients} | {} | {} | {ratio:.1} | {} |",
                    fmt_latency(p99),
                    fmt_latency(max),
                    if ratio < 20.0 {
                        "met".to_owned()
                    } else {
                        format!("**missed**: {:.1} × the limit", ratio / 20.0)
                    }
                );
            }
        }
    }

    // α = 1.5 vs α = 0.
    let _ = writeln!(
        out,
        "\n**3. TPS at α = 1.5 ≥ 0.8 × TPS at α = 0, per engine and path** (Convex: 0.11).\n\n\
         | engine | path | clients | α = 0 | α = 1.5 | ratio | |\n|---|---|---:|---:|---:|---:|---|"
    );
    for (engine, path) in ORDER {
        for clients in CLIENTS {
            let (Some(a0), Some(a15)) = (
                rows.find(engine, path, 0.0, clients),
                rows.find(engine, path, 1.5, clients),
            ) else {
                continue;
            };
            let ratio = a15.tps() / a0.tps().max(1e-9);
            let _ = writeln!(
                out,
                "| {engine} | {path} | {clients} | {} | {} | {ratio:.2} | {} |",
                fmt_tps(a0.tps()),
                fmt_tps(a15.tps()),
                verdict_at_least(ratio, 0.8)
            );
        }
    }

    // PostgreSQL engine vs direct SQL.
    let _ = writeln!(
        out,
        "\n**4. PostgreSQL engine ≥ 1 × the direct-SQL baseline (tokio-postgres, SERIALIZABLE) at α = 0, ≥ 3 × at α = 1.5.**\n\n\
         | engine | path | α | clients | engine TPS | direct TPS | ratio | goal | |\n|---|---|---:|---:|---:|---:|---:|---:|---|"
    );
    for (engine, path) in [
        ("postgres", "in-process"),
        ("postgres ×3", "in-process"),
        ("postgres", "HTTP"),
    ] {
        for alpha in ALPHAS {
            for clients in CLIENTS {
                let goal = if alpha == 0.0 { 1.0 } else { 3.0 };
                match (
                    rows.find(engine, path, alpha, clients),
                    rows.find("tokio-postgres direct", "in-process", alpha, clients),
                ) {
                    (Some(ours), Some(direct)) => {
                        let ratio = ours.tps() / direct.tps().max(1e-9);
                        let _ = writeln!(
                            out,
                            "| {engine} | {path} | {alpha} | {clients} | {} | {} | {ratio:.2} | {goal} | {} |",
                            fmt_tps(ours.tps()),
                            fmt_tps(direct.tps()),
                            verdict_at_least(ratio, goal)
                        );
                    }
                    _ => {
                        let _ = writeln!(
                            out,
                            "| {engine} | {path} | {alpha} | {clients} | | | | {goal} | {na} |"
                        );
                    }
                }
            }
        }
    }

    // SQLite group commit.
    let _ = writeln!(
        out,
        "\n**5. Durable SQLite engine with 64 clients ≥ 5 × direct rusqlite commits (group commit).**\n\n\
         | path | α | engine TPS | rusqlite TPS | ratio | |\n|---|---:|---:|---:|---:|---|"
    );
    for path in ["in-process", "HTTP"] {
        for alpha in ALPHAS {
            if let (Some(ours), Some(direct)) = (
                rows.find("sqlite", path, alpha, 64),
                rows.find("rusqlite direct", "in-process", alpha, 64),
            ) {
                let ratio = ours.tps() / direct.tps().max(1e-9);
                let _ = writeln!(
                    out,
                    "| {path} | {alpha} | {} | {} | {ratio:.2} | {} |",
                    fmt_tps(ours.tps()),
                    fmt_tps(direct.tps()),
                    verdict_at_least(ratio, 5.0)
                );
            }
        }
    }

    // In-memory vs its floor.
    let _ = writeln!(
        out,
        "\n**6. In-process in-memory transfers against the `Mutex<HashMap>` floor** (a profile is owed where under 0.1 ×).\n\n\
         | α | clients | engine TPS | floor TPS | ratio | |\n|---:|---:|---:|---:|---:|---|"
    );
    for alpha in ALPHAS {
        for clients in CLIENTS {
            if let (Some(ours), Some(floor)) = (
                rows.find("memory", "in-process", alpha, clients),
                rows.find("Mutex<HashMap> floor", "in-process", alpha, clients),
            ) {
                let ratio = ours.tps() / floor.tps().max(1e-9);
                let _ = writeln!(
                    out,
                    "| {alpha} | {clients} | {} | {} | {ratio:.3} | {} |",
                    fmt_tps(ours.tps()),
                    fmt_tps(floor.tps()),
                    if ratio >= 0.1 {
                        "≥ 0.1 ×"
                    } else {
                        "under 0.1 ×: see the profile"
                    }
                );
            }
        }
    }
    out
}

fn machine(pg_version: Option<&str>) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    format!(
        "{cpu}, {cores} cores available; Linux {kernel}; load average at the end {load}; PostgreSQL {}",
        pg_version.unwrap_or("not available")
    )
}

// ---------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------

fn main() {
    if let Some(schema) = std::env::var_os(CHILD_VAR) {
        return child_main(&schema.to_string_lossy());
    }
    let cfg = config();
    let started = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let url = pg_url();
    let schema = format!("convoke_transfer_{}", std::process::id());
    let mut rows = Rows(Vec::new());
    let pg_version = runtime.block_on(async {
        if selected("memory") {
            memory_cases(&cfg, &mut rows).await;
        }
        if selected("floor") {
            floor_cases(&cfg, &mut rows).await;
        }
        if selected("sqlite") {
            sqlite_cases(&cfg, &mut rows).await;
        }
        if selected("rusqlite") {
            rusqlite_cases(&cfg, &mut rows).await;
        }
        if !["postgres", "postgres3", "pgdirect"].iter().any(|g| selected(g)) {
            return None;
        }
        match pg_available(&url).await {
            Ok(version) => {
                let _drop = DropSchema {
                    url: url.clone(),
                    schema: schema.clone(),
                };
                postgres_cases(&cfg, &mut rows, &url, &schema).await;
                Some(version)
            }
            Err(reason) => {
                if std::env::var("CONVOKE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                    panic!(
                        "PostgreSQL is required (CONVOKE_REQUIRE_POSTGRES=1) but {url} is not reachable: {reason}"
                    );
                }
                let reason = format!("no PostgreSQL server at {url}: {reason}");
                for (engine, path) in PG_ENGINES {
                    rows.not_run(engine, path, &reason);
                }
                None
            }
        }
    });
    drop(runtime);
    let mut out = String::new();
    let _ = writeln!(out, "<!-- transfer-results:begin -->");
    let _ = writeln!(
        out,
        "{} accounts; warm-up {:.1} s, timed run {:.1} s per case{}; whole run {:.0} s.  \n\
         Machine: {}.\n",
        fmt_tps(cfg.accounts as f64),
        cfg.warmup.as_secs_f64(),
        cfg.secs.as_secs_f64(),
        if cfg.quick { " (quick smoke run)" } else { "" },
        started.elapsed().as_secs_f64(),
        machine(pg_version.as_deref())
    );
    out.push_str(&table(&rows));
    let _ = writeln!(out, "\n## Targets\n");
    out.push_str(&targets(&rows));
    let _ = writeln!(out, "<!-- transfer-results:end -->");
    print!("{out}");
}
