//! Several runtime processes on one PostgreSQL database.
//!
//! `processes_share_one_database` creates a schema and a counter, schedules jobs due in a
//! moment, then starts [`PROCESSES`] real processes (this test binary re-executed to run the
//! hidden test `process_child`). Each child opens its own runtime on the schema, starts its
//! scheduler's worker, increments the shared counter from several tasks, schedules jobs of
//! its own (mutations and actions, due at once), and waits until every job of every
//! process has finished. The parent then checks that:
//!
//! - the counter equals the number of increments acknowledged across all processes
//!   (concurrent conflicting mutations from every process stay exact);
//! - each scheduled mutation ran exactly once, and each scheduled action at most once (here,
//!   with no process dying, exactly once), whichever process's worker claimed it;
//! - every job ended `success`.
//!
//! `processes_starting_together_create_the_schema_once` starts [`PROCESSES`] processes at
//! the same instant on a schema that does not exist yet: they race to create and migrate
//! it, and every one of them must come up and commit (nothing created twice, no process
//! refused).
//!
//! `a_dead_process_s_action_is_failed_and_a_live_one_s_is_not` kills a process while its
//! action runs, with another process's action running too: a newly started process marks
//! the dead one's action failed (interrupted), leaves the live one's alone, and neither
//! runs twice.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

#[path = "support/child.rs"]
mod child;
#[path = "support/postgres.rs"]
mod postgres;

use child::spawn_test_child_with;
use convoke::scheduler::{JobState, ScheduledFunction, SchedulerConfig};
use convoke::value::Value;
use convoke::{Doc, Id, Result, Runtime, Table};
use serde::{Deserialize, Serialize};

const SCHEMA_VAR: &str = "CONVOKE_MP_SCHEMA";
const COUNTER_VAR: &str = "CONVOKE_MP_COUNTER";
const NAME_VAR: &str = "CONVOKE_MP_NAME";
const JOBS_VAR: &str = "CONVOKE_MP_JOBS";
const ROLE_VAR: &str = "CONVOKE_MP_ROLE";
const START_AT_VAR: &str = "CONVOKE_MP_START_AT_MS";

/// Processes started by the main test.
const PROCESSES: usize = 3;
/// Increments each process acknowledges.
const INCREMENTS: usize = 40;
/// Tasks incrementing at once in each process.
const TASKS: usize = 4;
/// Jobs of each kind each process schedules, and the parent before they start.
const JOBS: usize = 15;

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "counters")]
pub struct Counter {
    pub value: i64,
}

/// One run of a scheduled function: its key, and the process that ran it.
#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "runs", index(by_key = ["key"]))]
pub struct Run {
    pub key: String,
    pub process: String,
}

fn process_name() -> String {
    std::env::var(NAME_VAR).unwrap_or_else(|_| "parent".to_owned())
}

fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    // The harness may have printed `test process_child ... ` without a line break.
    let _ = writeln!(out, "\n{line}");
    let _ = out.flush();
}

mod shared {
    use super::*;
    use convoke::{ActionCtx, MutationCtx, QueryCtx, procedure};

    convoke::module!(shared);

    #[procedure(mutation)]
    pub async fn new_counter(ctx: &MutationCtx<'_>) -> Result<Id<Counter>> {
        Ok(ctx.db().insert(&Counter { value: 0 }).await?)
    }

    /// Reads the counter and writes it back plus one: concurrent runs conflict.
    #[procedure(mutation)]
    pub async fn increment(ctx: &MutationCtx<'_>, id: Id<Counter>) -> Result<i64> {
        let Some(counter) = ctx.db().get(id).await? else {
            return Err(convoke::Error::user("no such counter"));
        };
        let value = counter.value + 1;
        ctx.db().replace(id, &Counter { value }).await?;
        Ok(value)
    }

    #[procedure(query)]
    pub async fn counter(ctx: &QueryCtx<'_>, id: Id<Counter>) -> Result<i64> {
        Ok(ctx.db().get(id).await?.map_or(-1, |c| c.value))
    }

    /// Records one run of `key` by this process.
    #[procedure(mutation)]
    pub async fn mark(ctx: &MutationCtx<'_>, key: String) -> Result<()> {
        let process = process_name();
        ctx.db().insert(&Run { key, process }).await?;
        Ok(())
    }

    /// A scheduled action: records its run through a mutation.
    #[procedure(action)]
    pub async fn act(ctx: &ActionCtx, key: String) -> Result<()> {
        create_shared_caller(ctx).mark(key).await
    }

    /// A long action: records its run, says so, then sleeps for `secs`.
    #[procedure(action)]
    pub async fn slow(ctx: &ActionCtx, (key, secs): (String, u64)) -> Result<()> {
        create_shared_caller(ctx).mark(key.clone()).await?;
        say(&format!("started {key}"));
        tokio::time::sleep(Duration::from_secs(secs)).await;
        Ok(())
    }

    /// Schedules `n` mutations (`<prefix>-m<i>`) and `n` actions (`<prefix>-a<i>`), due
    /// after `delay_ms`.
    #[procedure(mutation)]
    pub async fn schedule_jobs(
        ctx: &MutationCtx<'_>,
        (prefix, n, delay_ms): (String, usize, u64),
    ) -> Result<()> {
        let schedule = create_shared_caller(ctx).schedule();
        let delay = Duration::from_millis(delay_ms);
        for i in 0..n {
            schedule.after(delay).mark(format!("{prefix}-m{i}")).await?;
            schedule.after(delay).act(format!("{prefix}-a{i}")).await?;
        }
        Ok(())
    }

    /// Schedules one long action, due now.
    #[procedure(mutation)]
    pub async fn schedule_slow(ctx: &MutationCtx<'_>, (key, secs): (String, u64)) -> Result<()> {
        create_shared_caller(ctx)
            .schedule()
            .now()
            .slow((key, secs))
            .await?;
        Ok(())
    }

    /// Every run, by key: the processes that ran it.
    #[procedure(query)]
    pub async fn runs(ctx: &QueryCtx<'_>) -> Result<BTreeMap<String, Vec<String>>> {
        let mut runs: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for run in ctx.db().query::<Run>().collect().await? {
            let run = run.into_inner();
            runs.entry(run.key).or_default().push(run.process);
        }
        Ok(runs)
    }

    #[procedure(query)]
    pub async fn jobs(ctx: &QueryCtx<'_>) -> Result<Vec<Doc<ScheduledFunction>>> {
        Ok(ctx.db().query::<ScheduledFunction>().collect().await?)
    }
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"))
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio")
}

/// The child process: see the module documentation. Its role says which test it serves.
#[test]
#[ignore = "run by the tests of this file as a child process"]
fn process_child() {
    let Ok(schema) = std::env::var(SCHEMA_VAR) else {
        return;
    };
    let role = env(ROLE_VAR);
    if role == "migrate" {
        return migrate_at_start_time(&schema);
    }
    // A process running a slow action runs nothing else: each runs one of them.
    let concurrency = if role == "slow" { 1 } else { 10 };
    let rt = Runtime::builder()
        .storage(postgres::store(&schema))
        .scheduler(SchedulerConfig {
            concurrency,
            ..SchedulerConfig::default()
        })
        .build()
        .expect("a runtime on the shared schema");
    let tokio = tokio_runtime();
    tokio.block_on(async {
        let _worker = rt.start_scheduler();
        match role.as_str() {
            "work" => work(&rt).await,
            "slow" => {
                let key = format!("slow-{}", process_name());
                rt.mutation(shared::schedule_slow, (key, 8))
                    .await
                    .expect("schedule the slow action");
                // Killed, or let finish, by the parent.
                tokio::time::sleep(Duration::from_secs(30)).await;
            }
            // A newcomer: its worker's start marks dead processes' actions failed.
            _ => {
                tokio::time::sleep(Duration::from_secs(2)).await;
                say("idle-done");
            }
        }
    });
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Waits for the agreed start time, then builds a runtime on `schema` (creating or
/// migrating it), commits a run of its own through a scheduled mutation, and says so.
fn migrate_at_start_time(schema: &str) {
    let start_at: u64 = env(START_AT_VAR).parse().expect("start time");
    let expected_jobs: usize = env(JOBS_VAR).parse().expect("job count");
    std::thread::sleep(Duration::from_millis(start_at.saturating_sub(now_ms())));
    let rt = Runtime::builder()
        .storage(postgres::store(schema))
        .build()
        .expect("a runtime on a schema other processes are creating at the same time");
    let tokio = tokio_runtime();
    tokio.block_on(async {
        let _worker = rt.start_scheduler();
        let key = format!("start-{}", process_name());
        rt.mutation(shared::mark, key.clone())
            .await
            .expect("a first commit");
        rt.mutation(shared::schedule_jobs, (key, 1, 0))
            .await
            .expect("schedule jobs");
        wait_for_every_job(&rt, expected_jobs).await;
    });
    say("started-done");
}

/// Increments, schedules, and waits for every job of every process to finish.
async fn work(rt: &Runtime) {
    let counter: Id<Counter> = env(COUNTER_VAR).parse().expect("counter id");
    let expected_jobs: usize = env(JOBS_VAR).parse().expect("job count");
    let acked = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let (rt, acked) = (rt.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut gave_up = 0;
            while acked.load(Ordering::SeqCst) < INCREMENTS {
                match rt.mutation(shared::increment, counter).await {
                    Ok(_) => {
                        if acked.fetch_add(1, Ordering::SeqCst) >= INCREMENTS {
                            // Over the count: tell the parent (it counts acks, not tasks).
                            say("extra-ack");
                        }
                    }
                    // Not committed: a client would try again.
                    Err(e) if e.is_conflict() => gave_up += 1,
                    Err(e) => panic!("increment failed: {e}"),
                }
            }
            gave_up
        }));
    }
    let mut gave_up = 0;
    for task in tasks {
        gave_up += task.await.expect("increment task");
    }
    say(&format!(
        "acked {} gave-up {gave_up}",
        acked.load(Ordering::SeqCst)
    ));
    rt.mutation(shared::schedule_jobs, (process_name(), JOBS, 0))
        .await
        .expect("schedule jobs");
    wait_for_every_job(rt, expected_jobs).await;
    say("work-done");
}

/// Waits until `expected` jobs exist and all have finished: every process's jobs, not only
/// this one's, since this process's worker may have claimed another's (a process that
/// left earlier would strand what its worker had claimed).
async fn wait_for_every_job(rt: &Runtime, expected: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let jobs = rt.query(shared::jobs, ()).await.expect("jobs");
        let finished = jobs.iter().filter(|j| j.state.is_finished()).count();
        if jobs.len() >= expected && finished == jobs.len() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{finished} of {} jobs finished after 60 s",
            jobs.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A child process whose stdout lines arrive on a channel.
struct Process {
    name: String,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: std::thread::JoinHandle<String>,
}

impl Process {
    fn start(name: &str, role: &str, env: &[(&str, &str)]) -> Process {
        let mut vars: Vec<(&str, &OsStr)> = env.iter().map(|(k, v)| (*k, OsStr::new(v))).collect();
        vars.push((NAME_VAR, OsStr::new(name)));
        vars.push((ROLE_VAR, OsStr::new(role)));
        let mut child = spawn_test_child_with("process_child", &vars);
        let stdout = child.stdout.take().expect("stdout");
        let mut stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(|l| l.ok()) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        Process {
            name: name.to_owned(),
            child,
            lines,
            stderr,
        }
    }

    /// Waits for a line starting with `prefix`; returns it.
    fn expect_line(&mut self, prefix: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.starts_with(prefix) => return line,
                Ok(_) => {}
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    let stderr = self.stderr_text();
                    panic!(
                        "{}: no line '{prefix}' within {within:?}; stderr:\n{stderr}",
                        self.name
                    );
                }
            }
        }
    }

    fn stderr_text(&mut self) -> String {
        let handle = std::mem::replace(&mut self.stderr, std::thread::spawn(String::new));
        handle.join().unwrap_or_default()
    }

    /// Waits for the process to exit successfully.
    fn finish(mut self) {
        let status = self.child.wait().expect("wait");
        if !status.success() {
            let stderr = self.stderr_text();
            panic!("{} failed ({status}); stderr:\n{stderr}", self.name);
        }
    }

    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A runtime on a fresh schema (created here), and the guard dropping the schema.
fn shared_schema(test: &str) -> Option<(String, postgres::DropSchema, Runtime)> {
    if !postgres::available(test) {
        return None;
    }
    let schema = postgres::fresh_schema("convoke_processes");
    let guard = postgres::DropSchema(schema.clone());
    let rt = Runtime::builder()
        .storage(postgres::store(&schema))
        .build()
        .expect("runtime");
    Some((schema, guard, rt))
}

#[test]
fn processes_share_one_database() {
    let Some((schema, _guard, rt)) = shared_schema("processes_share_one_database") else {
        return;
    };
    let tokio = tokio_runtime();
    let counter = tokio
        .block_on(rt.mutation(shared::new_counter, ()))
        .expect("counter");
    // Jobs every process's worker competes for, due once all have started.
    tokio
        .block_on(rt.mutation(shared::schedule_jobs, ("parent".to_owned(), JOBS, 3000)))
        .expect("schedule");
    let expected_jobs = 2 * JOBS * (PROCESSES + 1);
    let counter_text = counter.to_string();
    let jobs_text = expected_jobs.to_string();
    let env = [
        (SCHEMA_VAR, schema.as_str()),
        (COUNTER_VAR, counter_text.as_str()),
        (JOBS_VAR, jobs_text.as_str()),
    ];
    let mut processes: Vec<Process> = (0..PROCESSES)
        .map(|i| Process::start(&format!("p{i}"), "work", &env))
        .collect();
    let mut acked = 0;
    let mut gave_up = 0;
    for process in &mut processes {
        let line = process.expect_line("acked ", Duration::from_secs(120));
        let mut words = line.split_whitespace().skip(1);
        acked += words
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .expect("acked count");
        gave_up += words
            .nth(1)
            .and_then(|n| n.parse::<usize>().ok())
            .expect("gave-up count");
    }
    for process in &mut processes {
        process.expect_line("work-done", Duration::from_secs(120));
    }
    for process in processes {
        process.finish();
    }

    tokio.block_on(async {
        let value = rt.query(shared::counter, counter).await.expect("counter");
        println!(
            "{PROCESSES} processes: {acked} increments acknowledged, {gave_up} gave up after conflicts; counter = {value}"
        );
        assert_eq!(
            value as usize, acked,
            "the counter holds exactly the acknowledged increments"
        );
        assert!(acked >= PROCESSES * INCREMENTS);

        let runs = rt.query(shared::runs, ()).await.expect("runs");
        let mut by_process: BTreeMap<&str, usize> = BTreeMap::new();
        let prefixes = std::iter::once("parent".to_owned())
            .chain((0..PROCESSES).map(|i| format!("p{i}")));
        for prefix in prefixes {
            for i in 0..JOBS {
                for key in [format!("{prefix}-m{i}"), format!("{prefix}-a{i}")] {
                    let ran = runs.get(&key).map_or(&[][..], Vec::as_slice);
                    assert_eq!(ran.len(), 1, "{key} ran {} times: {ran:?}", ran.len());
                    *by_process.entry(ran[0].as_str()).or_default() += 1;
                }
            }
        }
        assert_eq!(runs.len(), expected_jobs, "no run of an unknown key");
        println!("jobs run, by process: {by_process:?}");
        let jobs = rt.query(shared::jobs, ()).await.expect("jobs");
        assert_eq!(jobs.len(), expected_jobs);
        for job in &jobs {
            assert_eq!(job.state, JobState::Success, "{} ({:?})", job.name, job.args);
        }
    });
}

#[test]
fn processes_starting_together_create_the_schema_once() {
    if !postgres::available("processes_starting_together_create_the_schema_once") {
        return;
    }
    // Not created here: the children create it, all at once.
    let schema = postgres::fresh_schema("convoke_start");
    let _guard = postgres::DropSchema(schema.clone());
    let start_at = (now_ms() + 1500).to_string();
    let jobs_text = (2 * PROCESSES).to_string();
    let env = [
        (SCHEMA_VAR, schema.as_str()),
        (START_AT_VAR, start_at.as_str()),
        (JOBS_VAR, jobs_text.as_str()),
    ];
    let mut processes: Vec<Process> = (0..PROCESSES)
        .map(|i| Process::start(&format!("s{i}"), "migrate", &env))
        .collect();
    for process in &mut processes {
        process.expect_line("started-done", Duration::from_secs(120));
    }
    for process in processes {
        process.finish();
    }
    let rt = Runtime::builder()
        .storage(postgres::store(&schema))
        .build()
        .expect("a runtime on the schema the children made");
    tokio_runtime().block_on(async {
        let runs = rt.query(shared::runs, ()).await.expect("runs");
        for i in 0..PROCESSES {
            for key in [
                format!("start-s{i}"),
                format!("start-s{i}-m0"),
                format!("start-s{i}-a0"),
            ] {
                let ran = runs.get(&key).map_or(&[][..], Vec::as_slice);
                assert_eq!(ran.len(), 1, "{key} ran {} times: {ran:?}", ran.len());
            }
        }
        assert_eq!(
            runs.len(),
            3 * PROCESSES,
            "no run of an unknown key: {runs:?}"
        );
        let jobs = rt.query(shared::jobs, ()).await.expect("jobs");
        assert_eq!(jobs.len(), 2 * PROCESSES);
        for job in &jobs {
            assert_eq!(
                job.state,
                JobState::Success,
                "{} ({:?})",
                job.name,
                job.args
            );
        }
    });
}

#[test]
fn a_dead_process_s_action_is_failed_and_a_live_one_s_is_not() {
    let Some((schema, _guard, rt)) =
        shared_schema("a_dead_process_s_action_is_failed_and_a_live_one_s_is_not")
    else {
        return;
    };
    let env = [(SCHEMA_VAR, schema.as_str())];
    let mut doomed = Process::start("doomed", "slow", &env);
    let mut survivor = Process::start("survivor", "slow", &env);
    // Each runs its own slow action (or the other's: either way, two are running).
    doomed.expect_line("started ", Duration::from_secs(60));
    survivor.expect_line("started ", Duration::from_secs(60));
    doomed.kill();
    // A newcomer's worker, at its start, looks at the running actions.
    let mut newcomer = Process::start("newcomer", "idle", &env);
    newcomer.expect_line("idle-done", Duration::from_secs(60));
    newcomer.finish();

    let tokio = tokio_runtime();
    tokio.block_on(async {
        let jobs = rt.query(shared::jobs, ()).await.expect("jobs");
        let runs = rt.query(shared::runs, ()).await.expect("runs");
        println!(
            "after the kill: {:?}; runs: {runs:?}",
            jobs.iter().map(|j| (&j.args, &j.state)).collect::<Vec<_>>()
        );
        assert_eq!(jobs.len(), 2);
        assert_eq!(runs.len(), 2, "two actions ran");
        for job in &jobs {
            let key = match &job.args {
                Value::Array(args) => args.first().and_then(Value::as_str).unwrap_or_default(),
                _ => "",
            };
            let ran = runs.get(key).map_or(&[][..], Vec::as_slice);
            assert_eq!(ran.len(), 1, "{key} ran {} times: {ran:?}", ran.len());
            match ran[0].as_str() {
                "doomed" => assert!(
                    matches!(&job.state, JobState::Failed { error } if error.contains("interrupted")),
                    "the action of the killed process is failed as interrupted: {:?}",
                    job.state
                ),
                _ => assert_eq!(
                    job.state,
                    JobState::InProgress,
                    "the action of the live process is left running"
                ),
            }
        }
    });
    survivor.kill();
}
