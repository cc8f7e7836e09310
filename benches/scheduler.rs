//! Scheduler benchmarks on the in-memory engine, each figure beside a floor measured in the
//! same run.
//!
//! `cargo bench --bench scheduler` runs every case and prints one table. `cargo test
//! --benches` (no `--bench` flag) runs each case on a small load, as a smoke test.
//!
//! # The cases and their floors
//!
//! The scheduled mutation, `work(n)`, inserts one small document. Everything runs on a
//! 2-worker multi-thread tokio runtime, with the scheduler's default concurrency (10).
//!
//! - **throughput, batched**: the worker is started; 200 mutations each schedule 100
//!   `work` jobs with `now()` (20,000 jobs); the clock stops when every job has run (the
//!   `work` handler counts its runs). Jobs per second, from the first scheduling call to the
//!   last job's run. Floor: the same 20,000 `work` mutations run directly with
//!   `rt.mutation` from 10 tasks (what the worker's 10 permits amount to); the floor does
//!   not include the scheduling mutations.
//! - **throughput, one per mutation**: the same, with 20,000 mutations scheduling one job
//!   each (from 10 tasks): a scheduling transaction and a job transaction per job.
//! - **lateness**: jobs are scheduled ahead of time (untimed) with `at(due)`, due times
//!   spread evenly at a given rate over 2 s; the `work` handler records, at its start, how
//!   late it is: system time minus the job's due time (carried in its arguments). p50 and
//!   p99 over all jobs, at 1,000 and 10,000 jobs per second. Floor: tokio timers
//!   (`sleep_until`) firing at the same due times on the same runtime, each recording its
//!   own lateness the same way: what waking up at a time costs at all.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::{Duration, Instant};

use convoke::Runtime;
use convoke::scheduler::{Clock, SystemClock};

mod sched_bench {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, UNIX_EPOCH};

    use convoke::{MutationCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(sched_bench);

    #[derive(Debug, Clone, Serialize, Deserialize, Table)]
    #[table(name = "done")]
    pub struct Done {
        pub n: u64,
    }

    /// The scheduled mutation: one insert. `due_ms` (0 if none) is when it was due; its
    /// lateness is recorded on the first attempt.
    #[derive(Debug, Clone, Copy, Serialize, Deserialize)]
    pub struct Work {
        pub n: u64,
        pub due_ms: f64,
    }

    #[procedure(mutation)]
    pub async fn work(ctx: &MutationCtx<'_>, args: Work) -> Result<()> {
        if args.due_ms > 0.0 {
            super::record_lateness(super::now_ms() - args.due_ms);
        }
        ctx.db().insert(&Done { n: args.n }).await?;
        super::RAN.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Schedules `count` jobs `work(first..)` now.
    #[procedure(mutation)]
    pub async fn schedule_now(ctx: &MutationCtx<'_>, args: (u64, u64)) -> Result<()> {
        let schedule = create_sched_bench_caller(ctx).schedule();
        for n in args.0..args.0 + args.1 {
            schedule.now().work(Work { n, due_ms: 0.0 }).await?;
        }
        Ok(())
    }

    /// Schedules jobs at the given due times (ms since the epoch).
    #[procedure(mutation)]
    pub async fn schedule_at(ctx: &MutationCtx<'_>, due: Vec<f64>) -> Result<()> {
        let schedule = create_sched_bench_caller(ctx).schedule();
        for (n, due_ms) in due.into_iter().enumerate() {
            let at = UNIX_EPOCH + Duration::from_secs_f64(due_ms / 1000.0);
            schedule
                .at(at)
                .work(Work {
                    n: n as u64,
                    due_ms,
                })
                .await?;
        }
        Ok(())
    }
}

use sched_bench::Work;

static RAN: AtomicUsize = AtomicUsize::new(0);
static LATENESS: LazyLock<Mutex<Vec<f64>>> = LazyLock::new(|| Mutex::new(Vec::new()));

fn now_ms() -> f64 {
    SystemClock.now_ms()
}

fn record_lateness(ms: f64) {
    LATENESS.lock().unwrap().push(ms);
}

fn take_lateness() -> Vec<f64> {
    let mut all = std::mem::take(&mut *LATENESS.lock().unwrap());
    all.sort_by(f64::total_cmp);
    all
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

/// Waits until `RAN` reaches `n` (polling; the bench's own clock, not a synchronization
/// under test).
async fn wait_ran(n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while RAN.load(Ordering::Relaxed) < n {
        assert!(Instant::now() < deadline, "jobs did not finish in 120 s");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
}

const TASKS: u64 = 10;

/// Floor: `jobs` `work` mutations run directly from 10 tasks; jobs per second.
async fn floor_direct(jobs: u64) -> f64 {
    let rt = Runtime::in_memory().expect("runtime");
    RAN.store(0, Ordering::Relaxed);
    let start = Instant::now();
    let per_task = jobs / TASKS;
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                let n = t * per_task + i;
                rt.mutation(sched_bench::work, Work { n, due_ms: 0.0 })
                    .await
                    .expect("work");
            }
        }));
    }
    for task in tasks {
        task.await.expect("join");
    }
    (per_task * TASKS) as f64 / start.elapsed().as_secs_f64()
}

/// Schedule-and-run with the worker: `jobs` jobs scheduled `batch` per mutation (from 10
/// tasks); jobs per second from the first scheduling call to the last job's run.
async fn schedule_and_run(jobs: u64, batch: u64) -> f64 {
    let rt = Runtime::in_memory().expect("runtime");
    let worker = rt.start_scheduler();
    RAN.store(0, Ordering::Relaxed);
    let start = Instant::now();
    let mutations = jobs / batch;
    let per_task = mutations.div_ceil(TASKS);
    let mut tasks = Vec::new();
    for t in 0..TASKS {
        let rt = rt.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                let m = t * per_task + i;
                if m >= mutations {
                    break;
                }
                rt.mutation(sched_bench::schedule_now, (m * batch, batch))
                    .await
                    .expect("schedule");
            }
        }));
    }
    for task in tasks {
        task.await.expect("join");
    }
    wait_ran((mutations * batch) as usize).await;
    let elapsed = start.elapsed();
    drop(worker);
    (mutations * batch) as f64 / elapsed.as_secs_f64()
}

/// Lateness of scheduled jobs due at `rate` per second over `seconds` (p50, p99, in ms).
async fn lateness(rate: u64, seconds: f64) -> (f64, f64, usize) {
    let rt = Runtime::in_memory().expect("runtime");
    let jobs = (rate as f64 * seconds) as usize;
    // Due times start a little after scheduling is done (scheduling is not timed).
    let lead_ms = 300.0 + jobs as f64 / 50.0;
    let first = now_ms() + lead_ms;
    let due: Vec<f64> = (0..jobs)
        .map(|i| first + i as f64 * 1000.0 / rate as f64)
        .collect();
    for chunk in due.chunks(1000) {
        rt.mutation(sched_bench::schedule_at, chunk.to_vec())
            .await
            .expect("schedule");
    }
    assert!(
        now_ms() < first,
        "scheduling took longer than the lead time"
    );
    take_lateness();
    RAN.store(0, Ordering::Relaxed);
    let worker = rt.start_scheduler();
    wait_ran(jobs).await;
    drop(worker);
    let sorted = take_lateness();
    (
        percentile(&sorted, 0.5),
        percentile(&sorted, 0.99),
        sorted.len(),
    )
}

/// Floor: tokio timers firing at the same due times, each recording its lateness.
async fn timer_lateness(rate: u64, seconds: f64) -> (f64, f64) {
    let jobs = (rate as f64 * seconds) as usize;
    let first = now_ms() + 100.0;
    let start_instant = Instant::now();
    let start_ms = now_ms();
    take_lateness();
    let mut tasks = Vec::with_capacity(jobs);
    for i in 0..jobs {
        let due_ms = first + i as f64 * 1000.0 / rate as f64;
        let at = start_instant + Duration::from_secs_f64((due_ms - start_ms).max(0.0) / 1000.0);
        tasks.push(tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            record_lateness(now_ms() - due_ms);
        }));
    }
    for task in tasks {
        task.await.expect("join");
    }
    let sorted = take_lateness();
    (percentile(&sorted, 0.5), percentile(&sorted, 0.99))
}

fn main() {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let (jobs, seconds) = if benchmarking {
        (20_000, 2.0)
    } else {
        (1_000, 0.2)
    };
    // For profiling: `CONVOKE_SCHED_BENCH=throughput` repeats the throughput case and skips
    // the lateness cases.
    let only_throughput = std::env::var("CONVOKE_SCHED_BENCH").is_ok_and(|v| v == "throughput");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(async {
        // Warm-up (allocator, code paths).
        schedule_and_run(jobs / 10, 100).await;
        floor_direct(jobs / 10).await;

        let floor = floor_direct(jobs).await;
        let batched = schedule_and_run(jobs, 100).await;
        let single = schedule_and_run(jobs, 1).await;
        if only_throughput {
            for _ in 0..10 {
                schedule_and_run(jobs, 100).await;
            }
        }

        let mut rows = Vec::new();
        let rates: &[u64] = if only_throughput { &[] } else { &[1_000, 10_000] };
        for &rate in rates {
            let rate = if benchmarking { rate } else { rate / 10 };
            let (p50, p99, n) = lateness(rate, seconds).await;
            let (floor50, floor99) = timer_lateness(rate, seconds).await;
            rows.push((rate, p50, p99, n, floor50, floor99));
        }

        println!();
        println!("scheduler (in-memory engine, 2 tokio workers, concurrency 10)");
        println!();
        println!("| case | figure | floor | ratio | target |");
        println!("|---|---|---|---|---|");
        println!(
            "| schedule-and-run, 100 jobs per scheduling mutation | {:.0} jobs/s | {:.0} mutations/s (direct `rt.mutation`) | {:.2} | ≥ 20,000 jobs/s |",
            batched,
            floor,
            batched / floor
        );
        println!(
            "| schedule-and-run, 1 job per scheduling mutation | {:.0} jobs/s | {:.0} mutations/s | {:.2} | |",
            single,
            floor,
            single / floor
        );
        for (rate, p50, p99, n, floor50, floor99) in rows {
            println!(
                "| lateness at {rate} jobs/s ({n} jobs) | p50 {p50:.2} ms, p99 {p99:.2} ms | p50 {floor50:.2} ms, p99 {floor99:.2} ms (tokio timers) | | p50 < 2 ms |"
            );
        }
        println!();
    });
}
