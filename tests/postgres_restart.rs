//! The PostgreSQL engine across a restart of the database server, under write load.
//!
//! Four writer tasks append log entries (one per mutation, each with a sequence number of
//! its own) to a runtime on a fresh schema, and the local PostgreSQL cluster is restarted
//! (`pg_ctlcluster .. restart -m fast`) while they write. They keep writing during and after
//! the restart. Then:
//!
//! - every acknowledged entry is in the store, under the id its mutation returned (no
//!   acknowledged commit is lost), and nothing else is, except entries whose mutation failed
//!   with `CommitOutcomeUnknown` (they may or may not have been applied): an entry whose
//!   mutation failed with `Unavailable`, or gave up on conflicts, is not there;
//! - every failed request got a clear error: a store error with `is_unavailable()` (or a
//!   mutation that gave up on conflicts), whose message says what happened;
//! - the runtime serves mutations and queries again by itself (its pool reconnects; no new
//!   runtime is built), within [`RECOVERY_BOUND`] of the server being back, and no request
//!   that started after the first success following the restart failed (the pool does not
//!   hand out dead connections).
//!
//! The test restarts the machine's shared server: it needs the cluster on this machine
//! (`/etc/postgresql/<version>/main` and `pg_ctlcluster`), else it does not run; and it
//! leaves the server running when it ends, even when it fails.

#[path = "support/postgres.rs"]
mod postgres;

use std::collections::{BTreeMap, HashMap};
use std::io::Write as _;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convoke::store::StoreError;
use convoke::{Error, Runtime, Table};
use serde::{Deserialize, Serialize};

/// Writer tasks.
const WRITERS: usize = 4;
/// How long the writers run before the restart.
const BEFORE_RESTART: Duration = Duration::from_millis(1500);
/// How long they keep running once every one of them has succeeded after the restart.
const AFTER_RECOVERY: Duration = Duration::from_millis(500);
/// The longest the runtime may take to serve again once the server is back.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);
/// At most this many mutations in all (the check reads every entry, in pages).
const MAX_ATTEMPTS: i64 = 25_000;
/// A writer's pause after a failure, so that an outage does not become a busy loop.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_millis(10);

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "entries", index(by_seq = ["seq"]))]
pub struct Entry {
    pub seq: i64,
    pub writer: i64,
}

mod entries {
    use super::*;
    use convoke::{Doc, Id, MutationCtx, QueryCtx, Result, procedure};

    convoke::module!(entries);

    /// Appends entry `seq`, written by `writer`, and returns its id.
    #[procedure(mutation)]
    pub async fn append(ctx: &MutationCtx<'_>, args: (i64, i64)) -> Result<Id<Entry>> {
        let (seq, writer) = args;
        Ok(ctx.db().insert(&Entry { seq, writer }).await?)
    }

    /// Up to 1000 entries with a sequence number above `after`, in order.
    #[procedure(query)]
    pub async fn page(ctx: &QueryCtx<'_>, after: i64) -> Result<Vec<Doc<Entry>>> {
        Ok(ctx
            .db()
            .query::<Entry>()
            .with_index("by_seq", |r| r.gt("seq", after))
            .take(1000)
            .await?)
    }
}

/// How one mutation ended.
#[derive(Debug, Clone)]
enum Outcome {
    /// Acknowledged, with the number of the id it returned.
    Acked(u64),
    /// `StoreError::Unavailable`: nothing was committed.
    Unavailable(String),
    /// `StoreError::CommitOutcomeUnknown`: committed or not.
    Unknown(String),
    /// Re-run on conflicts until the runtime gave up: nothing was committed.
    GaveUp(String),
    /// Anything else: not a clear error for a lost database.
    Other(String),
}

impl Outcome {
    fn of(result: convoke::Result<convoke::Id<Entry>>) -> Self {
        match result {
            Ok(id) => Outcome::Acked(id.number()),
            Err(e) => {
                let message = e.to_string();
                match &e {
                    Error::Db(db) if db.is_unavailable() => match db.as_store() {
                        Some(StoreError::CommitOutcomeUnknown { .. }) => Outcome::Unknown(message),
                        _ => Outcome::Unavailable(message),
                    },
                    Error::TooManyConflicts { .. } => Outcome::GaveUp(message),
                    _ => Outcome::Other(format!("{message} ({e:?})")),
                }
            }
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Outcome::Acked(_) => "acknowledged",
            Outcome::Unavailable(_) => "Unavailable",
            Outcome::Unknown(_) => "CommitOutcomeUnknown",
            Outcome::GaveUp(_) => "gave up on conflicts",
            Outcome::Other(_) => "other error",
        }
    }

    fn message(&self) -> Option<&str> {
        match self {
            Outcome::Acked(_) => None,
            Outcome::Unavailable(m)
            | Outcome::Unknown(m)
            | Outcome::GaveUp(m)
            | Outcome::Other(m) => Some(m),
        }
    }
}

/// One mutation: its sequence number, when it started and ended (since the test's start),
/// and how it ended.
#[derive(Debug, Clone)]
struct Attempt {
    seq: i64,
    writer: usize,
    start: Duration,
    end: Duration,
    outcome: Outcome,
}

/// The local cluster's version: the highest `/etc/postgresql/<version>` with a `main`
/// cluster, if `pg_ctlcluster` is there too.
fn local_cluster() -> Option<String> {
    let has_ctl = Command::new("pg_ctlcluster").arg("--help").output().is_ok();
    if !has_ctl {
        return None;
    }
    let mut versions: Vec<(u32, String)> = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let number = name.parse::<u32>().ok()?;
            Path::new("/etc/postgresql")
                .join(&name)
                .join("main")
                .is_dir()
                .then_some((number, name))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, name)| name)
}

fn pg_ctlcluster(version: &str, action: &str) -> std::process::Output {
    let mut command = Command::new("pg_ctlcluster");
    command.args(["--skip-systemctl-redirect", version, "main", action]);
    if action == "restart" {
        command.args(["-m", "fast"]);
    }
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run pg_ctlcluster {version} main {action}: {e}"))
}

fn server_ready() -> bool {
    Command::new("pg_isready")
        .args(["-h", "127.0.0.1", "-q"])
        .status()
        .is_ok_and(|s| s.success())
}

/// Leaves the server running: when dropped, starts the cluster if it does not accept
/// connections, and waits (up to 30 s) until it does.
struct ServerRunning(String);

impl Drop for ServerRunning {
    fn drop(&mut self) {
        if server_ready() {
            return;
        }
        let _ = writeln!(
            std::io::stderr(),
            "postgres_restart: the server is not ready; starting cluster {} main",
            self.0
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut started = false;
        while Instant::now() < deadline {
            if server_ready() {
                return;
            }
            if !started {
                let output = pg_ctlcluster(&self.0, "start");
                // Fails too when it is already starting; then only wait.
                started = output.status.success();
                if !started {
                    let _ = writeln!(
                        std::io::stderr(),
                        "pg_ctlcluster start: {}",
                        String::from_utf8_lossy(&output.stderr).trim()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = writeln!(
            std::io::stderr(),
            "postgres_restart: the server is still not ready after 30 s"
        );
    }
}

/// Appends entries until `stop`, recording every attempt.
async fn writer(
    rt: Runtime,
    writer: usize,
    t0: Instant,
    next_seq: Arc<AtomicI64>,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Attempt>>>,
) {
    while !stop.load(Ordering::Relaxed) {
        let seq = next_seq.fetch_add(1, Ordering::Relaxed);
        if seq > MAX_ATTEMPTS {
            break;
        }
        let start = t0.elapsed();
        let outcome = Outcome::of(rt.mutation(entries::append, (seq, writer as i64)).await);
        let end = t0.elapsed();
        let failed = !matches!(outcome, Outcome::Acked(_));
        log.lock().unwrap().push(Attempt {
            seq,
            writer,
            start,
            end,
            outcome,
        });
        if failed {
            tokio::time::sleep(PAUSE_AFTER_FAILURE).await;
        }
    }
}

/// Watches the server go down and come back: when it accepts connections again (since
/// `t0`), or `None` if it was not seen down within 10 s, or not back within 60 s.
fn server_back_after_down(t0: Instant) -> Option<Duration> {
    let down_deadline = Instant::now() + Duration::from_secs(10);
    while server_ready() {
        if Instant::now() >= down_deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let back_deadline = Instant::now() + Duration::from_secs(60);
    while !server_ready() {
        if Instant::now() >= back_deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Some(t0.elapsed())
}

fn ms(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restart() {
    if !postgres::available("postgres_restart") {
        return;
    }
    let Some(version) = local_cluster() else {
        let _ = writeln!(
            std::io::stderr(),
            "NOT RUN: postgres_restart: no local cluster to restart (/etc/postgresql/<version>/main and pg_ctlcluster)"
        );
        return;
    };
    let schema = postgres::fresh_schema("convoke_restart");
    // Dropped last, once the server runs again.
    let _drop_schema = postgres::DropSchema(schema.clone());
    let _server = ServerRunning(version.clone());
    let rt = Runtime::builder()
        .storage(postgres::store(&schema))
        .build()
        .expect("a runtime on PostgreSQL");
    let t0 = Instant::now();

    // Sequence number 0: the runtime works before the restart.
    rt.mutation(entries::append, (0, -1))
        .await
        .expect("a first mutation, before the restart");

    let next_seq = Arc::new(AtomicI64::new(1));
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            tokio::spawn(writer(
                rt.clone(),
                w,
                t0,
                next_seq.clone(),
                stop.clone(),
                log.clone(),
            ))
        })
        .collect();

    tokio::time::sleep(BEFORE_RESTART).await;
    let restart_start = t0.elapsed();
    // When the server accepts connections again, seen from outside (pg_ctlcluster returns
    // later).
    let watcher = tokio::task::spawn_blocking(move || server_back_after_down(t0));
    let restart_version = version.clone();
    let output = tokio::task::spawn_blocking(move || pg_ctlcluster(&restart_version, "restart"))
        .await
        .expect("the restart thread");
    let restart_end = t0.elapsed();
    if !output.status.success() {
        stop.store(true, Ordering::Relaxed);
        panic!(
            "pg_ctlcluster {version} main restart failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let server_back = watcher
        .await
        .expect("the watcher thread")
        .unwrap_or(restart_end);
    println!(
        "restart of cluster {version} main: pg_ctlcluster took {}",
        ms(restart_end - restart_start)
    );

    // Keep writing until every writer has succeeded after the restart (bounded), and a
    // little longer.
    let writers_deadline = Instant::now() + RECOVERY_BOUND;
    loop {
        let recovered = {
            let log = log.lock().unwrap();
            (0..WRITERS).all(|w| {
                log.iter().any(|a| {
                    a.writer == w
                        && a.start >= restart_end
                        && matches!(a.outcome, Outcome::Acked(_))
                })
            })
        };
        if recovered || Instant::now() >= writers_deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(AFTER_RECOVERY).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.expect("a writer task");
    }

    // The runtime serves mutations again by itself, within the bound.
    let mut last_error = None;
    let mut final_seq = None;
    let check_deadline = Instant::now() + RECOVERY_BOUND;
    while Instant::now() < check_deadline {
        let seq = next_seq.fetch_add(1, Ordering::Relaxed);
        match rt.mutation(entries::append, (seq, -1)).await {
            Ok(id) => {
                final_seq = Some((seq, id.number(), t0.elapsed()));
                break;
            }
            Err(e) => {
                last_error = Some(e.to_string());
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let Some((final_seq, final_id, final_end)) = final_seq else {
        panic!(
            "no mutation succeeded within {} s of the writers stopping (the server accepted connections again at {}); the last error: {}",
            RECOVERY_BOUND.as_secs(),
            ms(server_back),
            last_error.unwrap_or_default()
        );
    };

    let attempts = std::mem::take(&mut *log.lock().unwrap());
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &attempts {
        *by_kind.entry(a.outcome.kind()).or_default() += 1;
    }
    let failures: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| !matches!(a.outcome, Outcome::Acked(_)))
        .collect();
    let acked_before = attempts
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Acked(_)) && a.end <= restart_start)
        .count();
    let acked_after = attempts
        .iter()
        .filter(|a| matches!(a.outcome, Outcome::Acked(_)) && a.start >= server_back)
        .count();
    // The first success once the server accepted connections again.
    let first_success_after = attempts
        .iter()
        .filter(|a| a.start >= server_back && matches!(a.outcome, Outcome::Acked(_)))
        .map(|a| a.end)
        .min();
    println!(
        "{} mutations by {WRITERS} writers: {by_kind:?}; acknowledged: {acked_before} before the restart began, {acked_after} started after the server was back",
        attempts.len()
    );
    assert!(
        !failures.is_empty(),
        "the restart did not interrupt any mutation: nothing was checked"
    );
    let first_failure = failures.iter().map(|a| a.start).min().unwrap_or_default();
    let last_failure = failures.iter().map(|a| a.end).max().unwrap_or_default();
    println!(
        "restart from {} to {}, the server accepting connections again at {}; failures from {} to {}",
        ms(restart_start),
        ms(restart_end),
        ms(server_back),
        ms(first_failure),
        ms(last_failure),
    );
    match first_success_after {
        Some(t) => println!(
            "first success {} after the server accepted connections again; mutations failed for {} in all",
            ms(t.saturating_sub(server_back)),
            ms(t.saturating_sub(first_failure))
        ),
        None => println!("no writer succeeded after the restart; the final check did"),
    }
    let served_again = first_success_after.unwrap_or(final_end);
    assert!(
        served_again.saturating_sub(server_back) <= RECOVERY_BOUND,
        "the runtime served again only {} after the server accepted connections",
        ms(served_again.saturating_sub(server_back))
    );

    // (2) Clear errors. A sample of each distinct message (PostgreSQL's part varies).
    let mut samples: BTreeMap<String, (usize, &Attempt)> = BTreeMap::new();
    for a in &failures {
        let message = a.outcome.message().unwrap_or_default();
        samples.entry(message.to_owned()).or_insert((0, a)).0 += 1;
    }
    for (message, (count, a)) in &samples {
        println!(
            "  {count:4} x {} (first at {}): {message}",
            a.outcome.kind(),
            ms(a.start)
        );
    }
    let unclear: Vec<&str> = failures
        .iter()
        .filter(|a| !error_is_clear(&a.outcome))
        .filter_map(|a| a.outcome.message())
        .collect();
    assert!(
        unclear.is_empty(),
        "{} failed mutations did not get a clear error (a store error with is_unavailable(), or a conflict that gave up, saying what happened), e.g.: {:?}",
        unclear.len(),
        &unclear[..unclear.len().min(5)]
    );

    // (3) Once a mutation succeeded after the server came back, the pool hands out live
    // connections: nothing that started later failed.
    if let Some(first) = first_success_after {
        let late: Vec<String> = failures
            .iter()
            .filter(|a| a.start > first)
            .map(|a| {
                format!(
                    "seq {} (writer {}) at {}: {}",
                    a.seq,
                    a.writer,
                    ms(a.start),
                    a.outcome.message().unwrap_or_default()
                )
            })
            .collect();
        assert!(
            late.is_empty(),
            "{} mutations failed after the runtime had served again at {} (a dead connection handed out?): {:#?}",
            late.len(),
            ms(first),
            &late[..late.len().min(10)]
        );
    }

    // A query works again, and reads every entry (in pages).
    let mut stored: HashMap<i64, u64> = HashMap::new();
    let mut after = -1;
    loop {
        let page = rt
            .query(entries::page, after)
            .await
            .unwrap_or_else(|e| panic!("a query after the restart failed: {e}"));
        let Some(last) = page.last() else { break };
        after = last.seq;
        for doc in &page {
            let previous = stored.insert(doc.seq, doc.id().number());
            assert!(
                previous.is_none(),
                "two entries with sequence number {}",
                doc.seq
            );
        }
    }

    // (1) No acknowledged commit is lost, and nothing that surely failed was applied.
    let mut outcomes: HashMap<i64, &Outcome> = HashMap::new();
    for a in &attempts {
        outcomes.insert(a.seq, &a.outcome);
    }
    let mut acked = 1; // sequence number 0
    let mut unknown = 0;
    let mut unknown_applied = 0;
    let mut missing = Vec::new();
    let mut applied_anyway = Vec::new();
    for a in &attempts {
        match &a.outcome {
            Outcome::Acked(id) => {
                acked += 1;
                match stored.get(&a.seq) {
                    Some(stored_id) if stored_id == id => {}
                    other => missing.push(format!(
                        "seq {} acknowledged as id {id} at {}, stored: {other:?}",
                        a.seq,
                        ms(a.end)
                    )),
                }
            }
            Outcome::Unknown(_) => {
                unknown += 1;
                unknown_applied += usize::from(stored.contains_key(&a.seq));
            }
            Outcome::Unavailable(m) | Outcome::GaveUp(m) | Outcome::Other(m) => {
                if stored.contains_key(&a.seq) {
                    applied_anyway.push(format!("seq {}: {m}", a.seq));
                }
            }
        }
    }
    assert_eq!(
        stored.get(&0).copied().map(|_| ()),
        Some(()),
        "the entry written before the restart is lost"
    );
    assert_eq!(
        stored.get(&final_seq).copied(),
        Some(final_id),
        "the entry written after recovery is missing"
    );
    acked += 1; // final_seq
    assert!(
        missing.is_empty(),
        "{} acknowledged commits are lost: {:#?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert!(
        applied_anyway.is_empty(),
        "{} mutations failed with an error that says nothing was committed, yet their entry is in the store: {:#?}",
        applied_anyway.len(),
        &applied_anyway[..applied_anyway.len().min(10)]
    );
    let strays: Vec<i64> = stored
        .keys()
        .copied()
        .filter(|seq| *seq != 0 && *seq != final_seq && !outcomes.contains_key(seq))
        .collect();
    assert!(strays.is_empty(), "entries no mutation wrote: {strays:?}");
    assert!(
        stored.len() >= acked,
        "{} entries stored, {acked} acknowledged",
        stored.len()
    );
    println!(
        "stored: {} entries; acknowledged: {acked}; outcome unknown: {unknown} ({unknown_applied} of them applied); done at {}",
        stored.len(),
        ms(t0.elapsed())
    );
}

/// A clear error for a restarting database: the store says it is unavailable (or that the
/// commit's outcome is unknown), or the mutation gave up on conflicts, and the message
/// says what happened and why.
fn error_is_clear(outcome: &Outcome) -> bool {
    match outcome {
        Outcome::Acked(_) => true,
        Outcome::Unavailable(m) => m
            .strip_prefix("the database is unavailable: ")
            .is_some_and(|reason| reason.trim().len() >= 10),
        Outcome::Unknown(m) => m
            .split_once("may or may not have been applied: ")
            .is_some_and(|(_, reason)| reason.trim().len() >= 10),
        Outcome::GaveUp(m) => m.contains("conflicted"),
        Outcome::Other(_) => false,
    }
}
