//! What commits tell an observer (the runtime's subscriptions): each committed write, with
//! the version it replaced.
//!
//! The hook costs a commit nothing until an observer is installed: one atomic counter
//! around the engine's commit, so that installing an observer can wait out the commits
//! that started before it and were not reported.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::store::{Document, DocumentId};

/// One write of a commit: the document before it (`None`: inserted) and after (`None`:
/// deleted).
#[derive(Debug, Clone)]
pub(crate) struct CommittedWrite {
    pub(crate) id: DocumentId,
    pub(crate) old: Option<Arc<Document>>,
    pub(crate) new: Option<Arc<Document>>,
}

/// Told of every commit that writes something, once installed in a database's
/// [`CommitHook`].
pub(crate) trait CommitObserver: Send + Sync + 'static {
    /// A commit is over: `Some(writes)` if it committed, or may have (called
    /// before the committing call returns), `None` if it did not.
    fn committed(&self, committed: Option<&[CommittedWrite]>);
}

/// Where a database's commits are reported (see the module documentation).
#[derive(Default)]
pub(crate) struct CommitHook {
    observer: OnceLock<Arc<dyn CommitObserver>>,
    /// Commits in progress that found no observer.
    unreported: AtomicUsize,
}

impl std::fmt::Debug for CommitHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitHook")
            .field("installed", &self.observer.get().is_some())
            .finish()
    }
}

/// A commit in progress, reported or not: see [`CommitHook::start`]. Dropped without
/// [`end`](CommitReport::end) (the commit was cancelled, so it may have committed), it
/// ends as committed: the observer re-checks more than it needs, never less.
pub(crate) struct CommitReport<'a> {
    hook: &'a CommitHook,
    observer: Option<&'a dyn CommitObserver>,
    writes: Vec<CommittedWrite>,
    done: bool,
}

impl CommitHook {
    /// Installs the observer `observer` makes, unless one is already (then that one stays),
    /// and returns once every commit that started before is over: from then on every commit
    /// is reported.
    pub(crate) async fn install(
        &self,
        observer: impl FnOnce() -> Arc<dyn CommitObserver>,
    ) -> Arc<dyn CommitObserver> {
        let installed = self.observer.get_or_init(observer).clone();
        while self.unreported.load(Ordering::SeqCst) > 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        installed
    }

    /// Starts a commit: reported to the observer if one is installed, with the writes
    /// `writes` lists (called only then).
    pub(crate) fn start(&self, writes: impl FnOnce() -> Vec<CommittedWrite>) -> CommitReport<'_> {
        // Counted first, then the observer looked up: `install` either sees the count or
        // this commit sees the observer.
        self.unreported.fetch_add(1, Ordering::SeqCst);
        let observer = self.observer.get().map(|observer| {
            self.unreported.fetch_sub(1, Ordering::SeqCst);
            observer.as_ref()
        });
        CommitReport {
            hook: self,
            writes: if observer.is_some() {
                writes()
            } else {
                Vec::new()
            },
            observer,
            done: false,
        }
    }
}

impl CommitReport<'_> {
    /// Ends the commit: whether it committed.
    pub(crate) fn end(mut self, committed: bool) {
        self.finish(committed);
    }

    fn finish(&mut self, committed: bool) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        match self.observer {
            Some(observer) => {
                observer.committed(committed.then_some(self.writes.as_slice()));
            }
            None => {
                self.hook.unreported.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

impl Drop for CommitReport<'_> {
    fn drop(&mut self) {
        self.finish(true);
    }
}
