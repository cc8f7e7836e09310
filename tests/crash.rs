//! Crash safety of the durable store: a writer process is killed (SIGKILL on Unix) at
//! random moments, and after each kill the store must hold every acknowledged commit, no
//! part of any commit, and nothing out of sequence.
//!
//! `crash_recovery` re-executes this test binary to run the hidden test `crash_writer` as a
//! child process, with `CONVOKE_CRASH_DIR` naming the data directory. The writer runs
//! mutations `step(n)` for n = 1, 2, 3..., each writing two documents in one commit (the
//! counter, set to n, and a log entry n), and prints `ack <n>` once `step(n)` has returned.
//! The parent kills it after a random delay, reopens the store in-process and checks:
//!
//! - the log holds exactly the entries 1..=m and the counter is m (both writes of a commit,
//!   or neither; contiguous);
//! - every acknowledged n is at most m (acknowledged commits survive);
//! - m is at most the last acknowledgement plus one (the one commit that may have reached
//!   the disk before its acknowledgement was printed).
//!
//! The next round's writer continues from m. The RNG seed is printed; set
//! `CONVOKE_CRASH_SEED` to replay a run's delays.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[path = "support/child.rs"]
mod child;
use child::spawn_test_child;
use convoke::{Result, Runtime, Table};
use serde::{Deserialize, Serialize};

const DIR_VAR: &str = "CONVOKE_CRASH_DIR";
const SEED_VAR: &str = "CONVOKE_CRASH_SEED";
const ROUNDS: usize = 20;
/// Past this, no new round starts (the whole test stays well under a minute).
const TIME_BUDGET: Duration = Duration::from_secs(40);

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "counter")]
pub struct Counter {
    pub n: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "log", index(by_n = ["n"]))]
pub struct LogEntry {
    pub n: i64,
}

/// One writer lane of the concurrent crash test: its counter.
#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "lanes", index(by_lane = ["lane"]))]
pub struct Lane {
    pub lane: i64,
    pub n: i64,
}

/// One commit of a lane in the concurrent crash test.
#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "lane_log", index(by_lane_n = ["lane", "n"]))]
pub struct LaneEntry {
    pub lane: i64,
    pub n: i64,
}

mod crash {
    use super::*;
    use convoke::{Error, MutationCtx, QueryCtx, procedure};

    convoke::module!(crash);

    /// The counter's value and every log entry, in order.
    #[procedure(query)]
    pub async fn state(ctx: &QueryCtx<'_>) -> Result<(Option<i64>, Vec<i64>)> {
        let counter = ctx.db().query::<Counter>().collect().await?;
        if counter.len() > 1 {
            return Err(Error::user(format!("{} counters", counter.len())));
        }
        let log = ctx
            .db()
            .query::<LogEntry>()
            .with_index("by_n", |r| r)
            .collect()
            .await?;
        Ok((
            counter.first().map(|c| c.n),
            log.iter().map(|e| e.n).collect(),
        ))
    }

    /// Sets the counter from n - 1 to n and appends log entry n, in one commit.
    #[procedure(mutation)]
    pub async fn step(ctx: &MutationCtx<'_>, n: i64) -> Result<()> {
        let db = ctx.db();
        match db.query::<Counter>().first().await? {
            Some(counter) if counter.n == n - 1 => db.replace(counter.id(), &Counter { n }).await?,
            None if n == 1 => {
                db.insert(&Counter { n }).await?;
            }
            other => {
                return Err(Error::user(format!(
                    "step {n}: the counter is {:?}",
                    other.map(|c| c.n)
                )));
            }
        }
        db.insert(&LogEntry { n }).await?;
        Ok(())
    }

    /// Sets lane `lane`'s counter from n - 1 to n and appends its entry n, in one commit.
    #[procedure(mutation)]
    pub async fn lane_step(ctx: &MutationCtx<'_>, (lane, n): (i64, i64)) -> Result<()> {
        let db = ctx.db();
        let current = db
            .query::<Lane>()
            .with_index("by_lane", |r| r.eq("lane", lane))
            .first()
            .await?;
        match current {
            Some(c) if c.n == n - 1 => db.replace(c.id(), &Lane { lane, n }).await?,
            None if n == 1 => {
                db.insert(&Lane { lane, n }).await?;
            }
            other => {
                return Err(Error::user(format!(
                    "lane {lane} step {n}: the counter is {:?}",
                    other.map(|c| c.n)
                )));
            }
        }
        db.insert(&LaneEntry { lane, n }).await?;
        Ok(())
    }

    /// Each lane's counter and entries, in order.
    #[procedure(query)]
    pub async fn lanes(ctx: &QueryCtx<'_>, count: i64) -> Result<Vec<(i64, Vec<i64>)>> {
        let mut out = Vec::new();
        for lane in 0..count {
            let counter = ctx
                .db()
                .query::<Lane>()
                .with_index("by_lane", |r| r.eq("lane", lane))
                .first()
                .await?
                .map_or(0, |c| c.n);
            let entries = ctx
                .db()
                .query::<LaneEntry>()
                .with_index("by_lane_n", |r| r.eq("lane", lane))
                .collect()
                .await?;
            out.push((counter, entries.iter().map(|e| e.n).collect()));
        }
        Ok(out)
    }
}

/// Lanes (concurrent committers) of the concurrent crash test.
const LANES: i64 = 16;

/// The concurrent child: `LANES` tasks commit at once (their commits share fsyncs), each
/// printing `ack <lane> <n>`. Does nothing unless started by
/// `crash_recovery_with_concurrent_committers`.
#[test]
#[ignore = "run by crash_recovery_with_concurrent_committers as a child process"]
fn crash_group_writer() {
    use std::io::Write as _;
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
        let lanes = rt.query(crash::lanes, LANES).await.expect("read the lanes");
        println!("\nready 0");
        let tasks: Vec<_> = lanes
            .into_iter()
            .enumerate()
            .map(|(lane, (mut n, _))| {
                let rt = rt.clone();
                tokio::spawn(async move {
                    let deadline = Instant::now() + Duration::from_secs(30);
                    while Instant::now() < deadline {
                        n += 1;
                        rt.mutation(crash::lane_step, (lane as i64, n))
                            .await
                            .expect("step");
                        let mut out = std::io::stdout().lock();
                        writeln!(out, "\nack {lane} {n}").expect("stdout");
                        out.flush().expect("stdout");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("lane task");
        }
    });
}

/// The child: writes until killed. Does nothing unless started by `crash_recovery`.
#[test]
#[ignore = "run by crash_recovery as a child process"]
fn crash_writer() {
    use std::io::Write as _;
    let Some(dir) = std::env::var_os(DIR_VAR) else {
        return;
    };
    let rt = Runtime::open(&dir).expect("open the store");
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(async {
        let (counter, _) = rt.query(crash::state, ()).await.expect("read the state");
        let mut n = counter.unwrap_or(0);
        let mut out = std::io::stdout().lock();
        writeln!(out, "ready {n}").expect("stdout");
        out.flush().expect("stdout");
        // Bounded, in case the parent dies without killing us.
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            n += 1;
            rt.mutation(crash::step, n).await.expect("step");
            writeln!(out, "ack {n}").expect("stdout");
            out.flush().expect("stdout");
        }
    });
}

/// splitmix64: enough randomness for delays, and reproducible from the printed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Round {
    ready: i64,
    acks: Vec<i64>,
}

/// Starts the writer `test`, kills it `delay` after it printed `ready ..`, and returns
/// the words of every line it printed (without the harness's own words).
fn run_child(test: &str, dir: &Path, delay: Duration) -> Vec<Vec<String>> {
    let mut child = spawn_test_child(test, DIR_VAR, dir);
    let stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // The harness prints `test <name> ... ` before the first line without a line
            // break: keep what follows the last `ready` or `ack`.
            let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
            let Some(at) = words.iter().rposition(|w| w == "ready" || w == "ack") else {
                continue;
            };
            if tx.send(words[at..].to_vec()).is_err() {
                break;
            }
        }
    });
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let first = rx.recv_timeout(Duration::from_secs(20));
    if !first.as_ref().is_ok_and(|words| words[0] == "ready") {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "the writer did not start; its stderr:\n{}",
            errors.join().unwrap_or_default()
        );
    }
    std::thread::sleep(delay);
    // SIGKILL on Unix: no destructor, no flush, no SQLite close.
    let killed = child.kill();
    let status = child.wait().expect("wait for the writer");
    reader.join().expect("stdout reader");
    let stderr = errors.join().unwrap_or_default();
    assert!(
        killed.is_ok() && !status.success(),
        "the writer exited on its own ({status}) before it was killed; its stderr:\n{stderr}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "the writer died of something else than SIGKILL ({status}); its stderr:\n{stderr}"
        );
    }
    first.into_iter().chain(rx.try_iter()).collect()
}

/// Starts a writer, kills it `delay` after it is ready, and returns what it acknowledged.
fn run_writer(dir: &Path, delay: Duration) -> Round {
    let lines = run_child("crash_writer", dir, delay);
    let number = |words: &[String]| words.get(1).and_then(|n| n.parse().ok());
    let ready = lines.first().and_then(|w| number(w)).expect("ready n");
    let acks = lines
        .iter()
        .skip(1)
        .filter(|words| words[0] == "ack")
        .filter_map(|words| number(words))
        .collect();
    Round { ready, acks }
}

/// Reopens the store and returns the counter and the log.
fn reopen(dir: &Path) -> (Option<i64>, Vec<i64>) {
    let rt = Runtime::open(dir).expect("reopen the store after the crash");
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    tokio
        .block_on(rt.query(crash::state, ()))
        .expect("read the state")
}

#[test]
fn crash_recovery() {
    let seed = match std::env::var(SEED_VAR) {
        Ok(seed) => seed.parse().expect("CONVOKE_CRASH_SEED is a u64"),
        Err(_) => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    println!("crash test seed: {seed} (replay with {SEED_VAR}={seed})");
    let mut rng = Rng(seed);
    let dir =
        TempDir(std::env::temp_dir().join(format!("convoke-crash-{}-{seed}", std::process::id())));
    let started = Instant::now();
    let mut committed = 0i64;
    let mut total_acks = 0usize;
    let mut rounds = 0;
    while rounds < ROUNDS && started.elapsed() < TIME_BUDGET {
        rounds += 1;
        let delay = Duration::from_millis(rng.between(5, 150));
        let round = run_writer(&dir.0, delay);
        assert_eq!(
            round.ready, committed,
            "round {rounds}: the writer started from another counter than the last check saw"
        );
        let (counter, log) = reopen(&dir.0);
        let m = counter.unwrap_or(0);
        let expected: Vec<i64> = (1..=m).collect();
        assert_eq!(
            log, expected,
            "round {rounds} (seed {seed}): the log is not exactly 1..={m}, the counter's value: \
             a commit was torn or a commit is missing"
        );
        if let Some(&last) = round.acks.last() {
            assert!(
                last <= m,
                "round {rounds} (seed {seed}): step {last} was acknowledged, but the store \
                 holds only up to {m}"
            );
            assert!(
                m <= last + 1,
                "round {rounds} (seed {seed}): the store holds {m}, but only {last} was \
                 acknowledged"
            );
        } else {
            assert!(
                m <= committed + 1,
                "round {rounds} (seed {seed}): nothing was acknowledged, but the store went \
                 from {committed} to {m}"
            );
        }
        let expected_acks: Vec<i64> = (committed + 1..).take(round.acks.len()).collect();
        assert_eq!(
            round.acks, expected_acks,
            "round {rounds}: acks out of order"
        );
        println!(
            "round {rounds:2}: killed after {:3} ms, {:4} acknowledged, store at {m}{}",
            delay.as_millis(),
            round.acks.len(),
            if round.acks.last().is_some_and(|&l| l < m) {
                " (one unacknowledged commit landed)"
            } else {
                ""
            }
        );
        total_acks += round.acks.len();
        committed = m;
    }
    println!(
        "{rounds} rounds in {:.1} s, {total_acks} commits acknowledged, {committed} in the store",
        started.elapsed().as_secs_f64()
    );
    assert!(
        total_acks > 0,
        "no commit was acknowledged in {rounds} rounds"
    );
}

#[test]
fn crash_recovery_with_concurrent_committers() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let mut rng = Rng(std::env::var(SEED_VAR)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seed));
    let dir = TempDir(
        std::env::temp_dir().join(format!("convoke-crash-group-{}-{seed}", std::process::id())),
    );
    let started = Instant::now();
    let mut committed = vec![0i64; LANES as usize];
    let mut total_acks = 0;
    let mut rounds = 0;
    while rounds < 8 && started.elapsed() < Duration::from_secs(25) {
        rounds += 1;
        let delay = Duration::from_millis(rng.between(20, 300));
        let mut acks: Vec<Vec<i64>> = vec![Vec::new(); LANES as usize];
        for words in run_child("crash_group_writer", &dir.0, delay) {
            if words[0] != "ack" {
                continue;
            }
            let lane: usize = words[1].parse().expect("lane");
            acks[lane].push(words[2].parse().expect("n"));
        }
        let rt = Runtime::open(&dir.0).expect("reopen the store after the crash");
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let lanes = tokio
            .block_on(rt.query(crash::lanes, LANES))
            .expect("read the lanes");
        drop(rt);
        for (lane, ((m, entries), acked)) in lanes.into_iter().zip(&acks).enumerate() {
            assert_eq!(
                entries,
                (1..=m).collect::<Vec<_>>(),
                "round {rounds}, lane {lane}: a commit was torn or one is missing"
            );
            let expected: Vec<i64> = (committed[lane] + 1..).take(acked.len()).collect();
            assert_eq!(
                acked, &expected,
                "round {rounds}, lane {lane}: acks out of order"
            );
            let last = acked.last().copied().unwrap_or(committed[lane]);
            // Every acknowledged commit survived; at most the one in flight more.
            assert!(
                last <= m && m <= last + 1,
                "round {rounds}, lane {lane}: acknowledged up to {last}, the store holds {m}"
            );
            committed[lane] = m;
            total_acks += acked.len();
        }
        println!(
            "round {rounds}: killed after {} ms, {total_acks} acknowledged so far",
            delay.as_millis()
        );
    }
    assert!(total_acks > 0, "no commit was acknowledged");
}
