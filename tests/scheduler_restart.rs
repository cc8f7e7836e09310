//! The scheduler across a killed process, on the durable store.
//!
//! `restart_recovers_jobs` re-executes this test binary to run the hidden test
//! `restart_child` as a child process over a data directory (`CONVOKE_SCHED_DIR`). The
//! child starts the scheduler's worker and schedules:
//!
//! - `before`: a mutation due now, which the child waits to see succeed;
//! - `slow`: an action due now, which counts its run (a marker document, committed by a
//!   mutation), prints `slow-started`, and then sleeps;
//! - `hang`: a mutation due now, which writes its marker, prints `hang-started` and never
//!   returns in the child (so its transaction is open when the child dies);
//! - `later-1`, `later-2` (mutations) and `later-act` (an action), due in an hour.
//!
//! Once it has seen `before-done`, `slow-started` and `hang-started`, the parent kills the
//! child with SIGKILL, checks what the disk holds, reopens the store with a virtual clock
//! two hours ahead, starts the scheduler and checks that:
//!
//! - the interrupted action is `failed` with a clear error and ran exactly once;
//! - the pending jobs ran after the restart, each exactly once (mutations and the action);
//! - `before` did not run again, and `hang` (whose transaction died with the child) ran
//!   exactly once, after the restart;
//! - a second restart runs nothing.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[path = "support/child.rs"]
mod child;
use child::spawn_test_child;
use convoke::scheduler::{
    Clock, JobState, ScheduledFunction, SchedulerConfig, SystemClock, VirtualClock,
};
use convoke::{Doc, Result, Runtime, ScheduledFunctionId, Table};
use serde::{Deserialize, Serialize};

const DIR_VAR: &str = "CONVOKE_SCHED_DIR";

/// One run of a scheduled function, by key.
#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "runs", index(by_key = ["key"]))]
pub struct Run {
    pub key: String,
}

/// Whether this process is the child (the parent never sets `CONVOKE_SCHED_DIR` on itself).
fn in_child() -> bool {
    std::env::var_os(DIR_VAR).is_some()
}

fn say(line: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    // The harness may have printed `test restart_child ... ` without a line break.
    let _ = writeln!(out, "\n{line}");
    let _ = out.flush();
}

mod restart {
    use super::*;
    use convoke::{ActionCtx, MutationCtx, QueryCtx, procedure};

    convoke::module!(restart);

    /// Records one run of `key`.
    #[procedure(mutation)]
    pub async fn mark(ctx: &MutationCtx<'_>, key: String) -> Result<()> {
        ctx.db().insert(&Run { key }).await?;
        Ok(())
    }

    /// A plain scheduled mutation.
    #[procedure(mutation)]
    pub async fn work(ctx: &MutationCtx<'_>, key: String) -> Result<()> {
        ctx.db().insert(&Run { key }).await?;
        Ok(())
    }

    /// A scheduled action: counts its run, then finishes.
    #[procedure(action)]
    pub async fn act(ctx: &ActionCtx, key: String) -> Result<()> {
        create_restart_caller(ctx).mark(key).await
    }

    /// A long action: counts its run, says so, then sleeps (the child is killed meanwhile).
    #[procedure(action)]
    pub async fn slow(ctx: &ActionCtx, key: String) -> Result<()> {
        create_restart_caller(ctx).mark(key).await?;
        say("slow-started");
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }

    /// Writes its run; in the child, then never returns, so it is killed mid-transaction.
    #[procedure(mutation)]
    pub async fn hang(ctx: &MutationCtx<'_>, key: String) -> Result<()> {
        ctx.db().insert(&Run { key }).await?;
        if in_child() {
            say("hang-started");
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        Ok(())
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Ids {
        pub before: ScheduledFunctionId,
        pub slow: ScheduledFunctionId,
        pub hang: ScheduledFunctionId,
        pub later: Vec<ScheduledFunctionId>,
    }

    /// Schedules everything the child starts with.
    #[procedure(mutation)]
    pub async fn setup(ctx: &MutationCtx<'_>) -> Result<Ids> {
        let schedule = create_restart_caller(ctx).schedule();
        let hour = Duration::from_secs(3600);
        Ok(Ids {
            before: schedule.now().work("before".into()).await?,
            slow: schedule.now().slow("slow".into()).await?,
            hang: schedule.now().hang("hang".into()).await?,
            later: vec![
                schedule.after(hour).work("later-1".into()).await?,
                schedule.after(hour).work("later-2".into()).await?,
                schedule.after(hour).act("later-act".into()).await?,
            ],
        })
    }

    /// How many times each key ran, sorted by key.
    #[procedure(query)]
    pub async fn runs(ctx: &QueryCtx<'_>) -> Result<Vec<(String, usize)>> {
        let mut counts = std::collections::BTreeMap::new();
        for run in ctx.db().query::<Run>().collect().await? {
            *counts.entry(run.into_inner().key).or_insert(0) += 1;
        }
        Ok(counts.into_iter().collect())
    }

    #[procedure(query)]
    pub async fn jobs(ctx: &QueryCtx<'_>) -> Result<Vec<Doc<ScheduledFunction>>> {
        Ok(ctx.db().query::<ScheduledFunction>().collect().await?)
    }
}

/// The child: schedules, runs the worker, and waits to be killed.
#[test]
#[ignore = "run by restart_recovers_jobs as a child process"]
fn restart_child() {
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return;
    };
    let rt = Runtime::open(&dir).expect("open the store");
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(async {
        let ids = rt.mutation(restart::setup, ()).await.expect("setup");
        say(&format!(
            "ids {}",
            serde_json::to_string(&ids).expect("ids as JSON")
        ));
        let _worker = rt.start_scheduler();
        // Bounded, in case the parent dies without killing us.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let jobs = rt.query(restart::jobs, ()).await.expect("jobs");
            if jobs
                .iter()
                .any(|j| j.id() == ids.before && j.state == JobState::Success)
            {
                say("before-done");
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_secs(30)).await;
    });
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the child until it has said `before-done`, `slow-started` and `hang-started`,
/// then kills it; returns the job ids it printed.
fn run_child_and_kill(dir: &Path) -> restart::Ids {
    let mut child = spawn_test_child("restart_child", DIR_VAR, dir);
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });

    let mut ids = None;
    let mut seen = (false, false, false);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(ids.is_some() && seen.0 && seen.1 && seen.2) {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => match line.trim() {
                "before-done" => seen.0 = true,
                "slow-started" => seen.1 = true,
                "hang-started" => seen.2 = true,
                l if l.starts_with("ids ") => {
                    ids = Some(serde_json::from_str(&l[4..]).expect("the child's ids"));
                }
                _ => {}
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the child did not get ready (saw {seen:?}); its stderr:\n{}",
                    errors.join().unwrap_or_default()
                );
            }
        }
    }
    // SIGKILL on Unix: no destructor runs, nothing is flushed or closed.
    let killed = child.kill();
    let status = child.wait().expect("wait for the child");
    reader.join().expect("stdout reader");
    let stderr = errors.join().unwrap_or_default();
    assert!(
        killed.is_ok() && !status.success(),
        "the child exited on its own ({status}); its stderr:\n{stderr}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "not killed by SIGKILL: {stderr}");
    }
    ids.expect("ids")
}

fn states(jobs: &[Doc<ScheduledFunction>]) -> Vec<(ScheduledFunctionId, JobState)> {
    jobs.iter().map(|j| (j.id(), j.state.clone())).collect()
}

fn state_of(jobs: &[Doc<ScheduledFunction>], id: ScheduledFunctionId) -> JobState {
    jobs.iter()
        .find(|j| j.id() == id)
        .map(|j| j.state.clone())
        .unwrap_or_else(|| panic!("no job {id} in {:?}", states(jobs)))
}

fn runs(pairs: &[(&str, usize)]) -> Vec<(String, usize)> {
    pairs.iter().map(|(k, n)| ((*k).to_owned(), *n)).collect()
}

#[test]
fn restart_recovers_jobs() -> Result<()> {
    let dir = TempDir(std::env::temp_dir().join(format!(
        "convoke-sched-restart-{}-{}",
        std::process::id(),
        SystemClock.now_ms() as u64
    )));
    let ids = run_child_and_kill(&dir.0);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");

    // What the disk holds after the kill.
    {
        let rt = Runtime::open(&dir.0)?;
        let jobs = tokio.block_on(rt.query(restart::jobs, ()))?;
        assert_eq!(state_of(&jobs, ids.before), JobState::Success);
        assert_eq!(state_of(&jobs, ids.slow), JobState::InProgress);
        assert_eq!(state_of(&jobs, ids.hang), JobState::Pending);
        for &id in &ids.later {
            assert_eq!(state_of(&jobs, id), JobState::Pending);
        }
        assert_eq!(
            tokio.block_on(rt.query(restart::runs, ()))?,
            runs(&[("before", 1), ("slow", 1)]),
            "the hanging mutation's write died with its transaction"
        );
    }

    // Restart two hours later (on a virtual clock), with the worker.
    let clock = Arc::new(VirtualClock::starting_at(
        SystemClock.now_ms() + 2.0 * 3_600_000.0,
    ));
    let rt = Runtime::builder()
        .storage(convoke::store::SqliteStore::open(&dir.0)?)
        .scheduler(SchedulerConfig {
            clock: clock.clone(),
            ..SchedulerConfig::default()
        })
        .build()?;
    let jobs = tokio.block_on(async {
        let _worker = rt.start_scheduler();
        let settled = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                let jobs = rt.query(restart::jobs, ()).await?;
                if jobs.iter().all(|j| j.state.is_finished()) {
                    return Ok::<_, convoke::Error>(jobs);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await;
        settled.expect("every job finished within 20 s after the restart")
    })?;
    // The interrupted action: failed, with a clear error, never run again.
    match state_of(&jobs, ids.slow) {
        JobState::Failed { error } => {
            assert!(error.contains("interrupted"), "{error}");
            assert!(error.contains("not run again"), "{error}");
        }
        other => panic!("the interrupted action is {other:?}"),
    }
    assert_eq!(state_of(&jobs, ids.before), JobState::Success);
    assert_eq!(state_of(&jobs, ids.hang), JobState::Success);
    for &id in &ids.later {
        assert_eq!(state_of(&jobs, id), JobState::Success);
    }
    let expected = runs(&[
        ("before", 1),
        ("hang", 1),
        ("later-1", 1),
        ("later-2", 1),
        ("later-act", 1),
        ("slow", 1),
    ]);
    assert_eq!(tokio.block_on(rt.query(restart::runs, ()))?, expected);
    drop(rt);

    // Another restart: nothing runs again.
    let rt = Runtime::builder()
        .storage(convoke::store::SqliteStore::open(&dir.0)?)
        .scheduler(SchedulerConfig {
            clock,
            ..SchedulerConfig::default()
        })
        .build()?;
    assert_eq!(tokio.block_on(rt.run_due_scheduled_functions())?, 0);
    assert_eq!(tokio.block_on(rt.query(restart::runs, ()))?, expected);
    Ok(())
}
