//! How a mutation that conflicts makes progress: the contention lane, exclusive runs and
//! the bounded wait in front of both.
//!
//! A mutation runs optimistically first: at a snapshot, without locks, validated at commit.
//! That is the fast path, and under low contention the only one. When a commit conflicts,
//! re-running it at random moments (jittered backoff) races the same winners again: with
//! one hot document most re-runs lose, and some lose until they give up. So instead:
//!
//! 1. After its first conflict the mutation joins this process's **lane**, a FIFO queue,
//!    and re-runs when its turn comes, holding the lane until its commit is ordered. Re-runs
//!    therefore never race each other, and each one sees the previous winner's write (it
//!    starts after that commit).
//! 2. If that re-run conflicts too (a first attempt of another call, or another process,
//!    committed in between), the next run is **exclusive**
//!    ([`Storage::begin_exclusive`](crate::store::Storage::begin_exclusive)): no other
//!    transaction commits from its snapshot until its commit is ordered, so it cannot
//!    conflict. Exclusive runs queue fairly (FIFO) for the store.
//!
//! A mutation therefore runs at most three times in the common case, whatever the load,
//! and no call waits behind calls that arrived after it. What stays bounded is the wait:
//! at most [`Contention::max_waiting`] calls wait in the lane or for exclusivity, each for
//! at most [`Contention::max_wait`]; past that the call fails with
//! [`Error::Overloaded`] (HTTP 503 with `Retry-After`), meaning that the load exceeds what
//! the store can commit, not that the mutation is wrong. [`Error::TooManyConflicts`] is
//! left for a mutation that keeps conflicting even when run exclusively (an engine that
//! reports conflicts of its own), after
//! [`max_mutation_attempts`](crate::RuntimeBuilder::max_mutation_attempts) runs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::db::{Database, Transaction};
use crate::error::{Error, Result};
use crate::store::{Held, StoreError};

/// How the runtime lets conflicting mutations through: see [`RuntimeBuilder::contention`].
///
/// ```
/// use std::time::Duration;
/// let contention = convoke::Contention {
///     max_wait: Duration::from_secs(2),
///     ..convoke::Contention::default()
/// };
/// assert_eq!(contention.max_waiting, 10_000);
/// let rt = convoke::Runtime::builder().contention(contention).build()?;
/// # Ok::<(), convoke::Error>(())
/// ```
///
/// [`RuntimeBuilder::contention`]: crate::RuntimeBuilder::contention
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contention {
    /// How many calls may wait at once, in this process, for their turn to re-run
    /// (default 10,000). One more fails at once with [`Error::Overloaded`].
    pub max_waiting: usize,
    /// How long a call waits for its turn before it fails with [`Error::Overloaded`]
    /// (default 10 s).
    pub max_wait: Duration,
}

impl Default for Contention {
    fn default() -> Self {
        Contention {
            max_waiting: 10_000,
            max_wait: Duration::from_secs(10),
        }
    }
}

/// The lane of one runtime (shared by its clones).
pub(crate) struct Lanes {
    config: Contention,
    lane: Arc<tokio::sync::Mutex<()>>,
    waiting: AtomicUsize,
}

impl Lanes {
    pub(crate) fn new(config: Contention) -> Self {
        Lanes {
            config,
            lane: Arc::new(tokio::sync::Mutex::new(())),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Waits for `turn`, counted among the waiting calls; [`Error::Overloaded`] if too
    /// many wait already or the wait is too long.
    async fn wait<T>(
        &self,
        path: &str,
        turn: impl Future<Output = std::result::Result<T, StoreError>>,
    ) -> Result<T> {
        let overloaded = |reason: String| Error::Overloaded {
            path: path.to_owned(),
            reason,
        };
        let waiting = self.waiting.fetch_add(1, Ordering::AcqRel);
        let _counted = Uncount(&self.waiting);
        if waiting >= self.config.max_waiting {
            return Err(overloaded(format!(
                "{} calls already wait for their turn to re-run after a conflict",
                self.config.max_waiting
            )));
        }
        match tokio::time::timeout(self.config.max_wait, turn).await {
            Ok(result) => result.map_err(Error::from),
            Err(_) => Err(overloaded(format!(
                "no turn to re-run came within {:?} (contention: commits conflict faster than the store applies them)",
                self.config.max_wait
            ))),
        }
    }
}

/// Decrements the waiting count when the wait ends, however it ends.
struct Uncount<'a>(&'a AtomicUsize);

impl Drop for Uncount<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The attempts of one mutation (or system transaction): how each begins, and when to
/// give up.
pub(crate) struct Attempts<'a> {
    lanes: &'a Lanes,
    path: &'a str,
    max: u32,
    /// Runs so far.
    runs: u32,
}

impl<'a> Attempts<'a> {
    pub(crate) fn new(lanes: &'a Lanes, path: &'a str, max: u32) -> Self {
        Attempts {
            lanes,
            path,
            max: max.max(1),
            runs: 0,
        }
    }

    /// The transaction of the first run, optimistic, opened at once; `None` after the
    /// first run: then [`Attempts::begin`] opens the next.
    pub(crate) fn first(&mut self, db: &Arc<Database>) -> Option<Transaction> {
        if self.runs > 0 {
            return None;
        }
        self.runs = 1;
        Some(Transaction::begin(db.clone(), true))
    }

    /// Opens the transaction of the next run: optimistic at first, in the lane after one
    /// conflict, exclusive after two.
    pub(crate) async fn begin(&mut self, db: &Arc<Database>) -> Result<Transaction> {
        if let Some(tx) = self.first(db) {
            return Ok(tx);
        }
        self.runs += 1;
        match self.runs {
            2 => {
                let lane = self.lanes.lane.clone();
                let turn = self
                    .lanes
                    .wait(self.path, async move { Ok(lane.lock_owned().await) })
                    .await?;
                let tx = Transaction::begin(db.clone(), true);
                tx.hold(Held::new(turn));
                Ok(tx)
            }
            _ => {
                self.lanes
                    .wait(
                        self.path,
                        Transaction::begin_exclusive(db.clone(), Vec::new()),
                    )
                    .await
            }
        }
    }

    /// After the run conflicted: `Ok` to run again, [`Error::TooManyConflicts`] once
    /// [`max_mutation_attempts`](crate::RuntimeBuilder::max_mutation_attempts) runs have
    /// conflicted.
    pub(crate) fn conflicted(&self, conflict: StoreError) -> Result<()> {
        if self.runs >= self.max {
            return Err(Error::TooManyConflicts {
                path: self.path.to_owned(),
                attempts: self.runs,
                source: conflict,
            });
        }
        Ok(())
    }
}
