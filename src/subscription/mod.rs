//! Subscriptions: which query results a commit may have changed.
//!
//! A subscribed query runs like any query, at one snapshot, and its read set (the documents
//! it read by id, the index ranges it scanned: what the store already records for
//! optimistic concurrency) is registered here. Every commit that writes something is
//! reported to this registry by the database's commit hook, with each write's old and new
//! version, *before* the committing call returns. A registration whose read set the commit
//! touches (a document read by id, or an old or new index key inside a scanned range) is
//! invalidated: its [`Listener`] is told the registration's key, once, and the registration
//! is dropped from the indexes. Its owner re-runs the query and registers again.
//!
//! Finding the registrations a write may touch costs in proportion to those registrations,
//! not to all: point reads are indexed by document id, scanned ranges by table.
//!
//! A query runs between [`Subscriptions::start_run`] and [`Subscriptions::register`].
//! Commits reported in between are kept in a short log and checked at registration, so a
//! commit that lands after the query's snapshot was taken and before its read set is
//! registered is not missed (one that the snapshot already showed only costs a re-run).
//!
//! The registry also keeps the *sync clock*: a timestamp that every reported commit moves
//! forward, in nanoseconds since the Unix epoch (or one past the previous value, whichever
//! is larger), so that it keeps growing across restarts as Convex's timestamps do. A
//! result computed at a snapshot opened after reading the clock at `t` shows every commit
//! reported at or before `t`.

mod stream;

pub use stream::Subscription;

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::db::commit_hook::{CommitObserver, CommittedWrite};
use crate::store::{DocumentId, ForeignCommit, ReadSet, Schema, TableIndexes};

/// The registry of a runtime's subscriptions (see the module documentation).
pub(crate) struct Subscriptions {
    schema: Arc<Schema>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Subscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.lock();
        f.debug_struct("Subscriptions")
            .field("registrations", &state.entries.len())
            .field("clock", &state.clock)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct State {
    /// The sync clock: the timestamp of the latest reported commit.
    clock: u64,
    /// How many commits have been reported: the log's positions.
    reported: u64,
    next_id: u64,
    entries: HashMap<u64, Entry>,
    by_document: HashMap<DocumentId, HashSet<u64>>,
    by_table: HashMap<Arc<str>, HashSet<u64>>,
    /// Every registration by the tables it read (by id or by range): for commits other
    /// processes made, known by table only.
    tables_read: HashMap<Arc<str>, HashSet<u64>>,
    /// The writes of commits reported while a run was in progress, by position.
    log: VecDeque<(u64, LogEntry)>,
    /// The runs in progress: how many started at each position.
    runs: BTreeMap<u64, usize>,
}

/// A commit in the log: this process's, with its writes, or another process's.
enum LogEntry {
    Local(Arc<[CommittedWrite]>),
    Foreign(ForeignCommit),
}

impl LogEntry {
    fn affects(&self, reads: &ReadSet, indexes: &dyn Fn(&str) -> Arc<TableIndexes>) -> bool {
        match self {
            LogEntry::Local(writes) => writes
                .iter()
                .any(|w| reads.is_affected_by(&w.id, w.old.as_deref(), w.new.as_deref(), indexes)),
            LogEntry::Foreign(ForeignCommit::Tables(tables)) => {
                let read = tables_of(reads);
                tables.iter().any(|t| read.contains(t.as_str()))
            }
            LogEntry::Foreign(_) => true,
        }
    }
}

struct Entry {
    reads: ReadSet,
    listener: Arc<Listener>,
    key: u64,
}

/// Told which of its registrations were invalidated: the owner of a set of subscriptions
/// (one socket, one [`Subscription`](crate::Subscription) stream).
///
/// A *forwarding* listener (one that [`Listener::forward_to`] others) stands for a result several owners
/// share: it counts its invalidations ([`Listener::generation`]: a result computed from a
/// run that started at generation `g` is current while the generation is still `g`) and
/// passes each invalidation on to the listeners it forwards to.
#[derive(Debug, Default)]
pub(crate) struct Listener {
    notify: Notify,
    dirty: Mutex<HashSet<u64>>,
    generation: std::sync::atomic::AtomicU64,
    forwards: Mutex<Vec<(std::sync::Weak<Listener>, u64)>>,
}

impl Listener {
    /// A listener nothing has invalidated yet.
    pub(crate) fn new() -> Arc<Listener> {
        Arc::default()
    }

    /// From now on, an invalidation of this listener marks `key` on `to` too.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn forward_to(&self, to: &Arc<Listener>, key: u64) {
        let mut forwards = self.forwards.lock().unwrap_or_else(PoisonError::into_inner);
        forwards.retain(|(l, _)| l.strong_count() > 0);
        forwards.push((Arc::downgrade(to), key));
    }

    /// Stops forwarding to `to`'s `key`; how many forwards are left.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn stop_forwarding(&self, to: &Arc<Listener>, key: u64) -> usize {
        let mut forwards = self.forwards.lock().unwrap_or_else(PoisonError::into_inner);
        forwards.retain(|(l, k)| {
            l.strong_count() > 0 && !(*k == key && std::ptr::eq(l.as_ptr(), Arc::as_ptr(to)))
        });
        forwards.len()
    }

    /// How many times this listener was invalidated.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Marks the registration `key` invalidated.
    pub(crate) fn mark(&self, key: u64) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let forwards: Vec<_> = self
            .forwards
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (to, key) in forwards {
            if let Some(to) = to.upgrade() {
                to.mark(key);
            }
        }
        self.dirty
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key);
        self.notify.notify_one();
    }

    /// The keys invalidated since the last call.
    pub(crate) fn take(&self) -> HashSet<u64> {
        std::mem::take(&mut *self.dirty.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Waits until a registration is invalidated (returns at once if one was since the
    /// last wait).
    pub(crate) async fn invalidated(&self) {
        self.notify.notified().await;
    }
}

/// A query run in progress (see [`Subscriptions::start_run`]).
#[derive(Debug)]
pub(crate) struct Run {
    registry: Arc<Subscriptions>,
    position: u64,
}

impl Drop for Run {
    fn drop(&mut self) {
        let mut state = self.registry.lock();
        if let Some(count) = state.runs.get_mut(&self.position) {
            *count -= 1;
            if *count == 0 {
                state.runs.remove(&self.position);
            }
        }
        state.prune_log();
    }
}

/// A registered read set; dropping it unregisters it.
#[derive(Debug)]
pub(crate) struct Registration {
    registry: Arc<Subscriptions>,
    id: Option<u64>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            let mut state = self.registry.lock();
            state.remove(id);
        }
    }
}

impl Subscriptions {
    /// An empty registry for a database of `schema`.
    pub(crate) fn new(schema: Arc<Schema>) -> Subscriptions {
        Subscriptions {
            schema,
            state: Mutex::new(State {
                clock: now_nanos(),
                ..State::default()
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The sync clock (see the module documentation).
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // the sync protocol's timestamps
    pub(crate) fn now(&self) -> u64 {
        self.lock().clock
    }

    /// Starts a query run: call before opening its snapshot.
    pub(crate) fn start_run(self: &Arc<Self>) -> Run {
        let mut state = self.lock();
        let position = state.reported;
        *state.runs.entry(position).or_default() += 1;
        Run {
            registry: self.clone(),
            position,
        }
    }

    /// Registers what a query of `run` read; `listener` is told `key` when a commit
    /// touches it, at once if one reported since the run started did.
    pub(crate) fn register(
        self: &Arc<Self>,
        run: &Run,
        reads: ReadSet,
        listener: &Arc<Listener>,
        key: u64,
    ) -> Registration {
        let mut state = self.lock();
        let indexes = |table: &str| self.schema.table(table);
        let stale = state
            .log
            .iter()
            .filter(|(position, _)| *position > run.position)
            .any(|(_, entry)| entry.affects(&reads, &indexes));
        if stale {
            listener.mark(key);
            return Registration {
                registry: self.clone(),
                id: None,
            };
        }
        let id = state.next_id;
        state.next_id += 1;
        for doc in reads.documents() {
            state.by_document.entry(doc.clone()).or_default().insert(id);
        }
        for range in reads.ranges() {
            state
                .by_table
                .entry(range.table.clone())
                .or_default()
                .insert(id);
        }
        for table in tables_of(&reads) {
            state.tables_read.entry(table).or_default().insert(id);
        }
        state.entries.insert(
            id,
            Entry {
                reads,
                listener: listener.clone(),
                key,
            },
        );
        Registration {
            registry: self.clone(),
            id: Some(id),
        }
    }
}

impl State {
    fn remove(&mut self, id: u64) -> Option<Entry> {
        let entry = self.entries.remove(&id)?;
        for doc in entry.reads.documents() {
            if let Some(ids) = self.by_document.get_mut(doc) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_document.remove(doc);
                }
            }
        }
        for range in entry.reads.ranges() {
            if let Some(ids) = self.by_table.get_mut(&range.table) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_table.remove(&range.table);
                }
            }
        }
        for table in tables_of(&entry.reads) {
            if let Some(ids) = self.tables_read.get_mut(&table) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.tables_read.remove(&table);
                }
            }
        }
        Some(entry)
    }

    /// Invalidates the registrations `hit` (each told once, then unregistered), and logs
    /// the commit for the runs in progress.
    /// Also moves the sync clock forward: this is a commit.
    fn invalidate(&mut self, hit: impl IntoIterator<Item = u64>, entry: impl FnOnce() -> LogEntry) {
        self.reported += 1;
        self.clock = now_nanos().max(self.clock + 1);
        for id in hit {
            if let Some(entry) = self.remove(id) {
                entry.listener.mark(entry.key);
            }
        }
        if !self.runs.is_empty() {
            let position = self.reported;
            self.log.push_back((position, entry()));
        }
    }

    /// Drops the log entries no run in progress needs.
    fn prune_log(&mut self) {
        let oldest = self.runs.keys().next().copied();
        while let Some((position, _)) = self.log.front() {
            match oldest {
                Some(oldest) if *position > oldest => break,
                _ => {
                    self.log.pop_front();
                }
            }
        }
    }
}

impl Subscriptions {
    /// A commit another process made (see [`Storage::foreign_commits`](crate::store::Storage::foreign_commits)):
    /// every registration that read one of its tables is invalidated (all of them for
    /// [`ForeignCommit::Unknown`]), and runs in progress will find their registration stale.
    pub(crate) fn foreign_commit(&self, commit: &ForeignCommit) {
        let mut state = self.lock();
        let hit: Vec<u64> = match commit {
            ForeignCommit::Tables(tables) => {
                let mut hit = HashSet::new();
                for table in tables {
                    if let Some(ids) = state.tables_read.get(table.as_str()) {
                        hit.extend(ids.iter().copied());
                    }
                }
                hit.into_iter().collect()
            }
            _ => state.entries.keys().copied().collect(),
        };
        state.invalidate(hit, || LogEntry::Foreign(commit.clone()));
    }
}

/// The tables a read set read, each once.
fn tables_of(reads: &ReadSet) -> HashSet<Arc<str>> {
    reads
        .documents()
        .map(|id| Arc::<str>::from(id.table()))
        .chain(reads.ranges().iter().map(|r| r.table.clone()))
        .collect()
}

impl CommitObserver for Subscriptions {
    fn committed(&self, committed: Option<&[CommittedWrite]>) {
        let Some(writes) = committed else {
            return;
        };
        let indexes = |table: &str| -> Arc<TableIndexes> { self.schema.table(table) };
        let mut state = self.lock();
        let mut hit = Vec::new();
        for write in writes {
            let candidates = state
                .by_document
                .get(&write.id)
                .into_iter()
                .chain(state.by_table.get(write.id.table()))
                .flatten();
            for id in candidates {
                if hit.contains(id) {
                    continue;
                }
                if let Some(entry) = state.entries.get(id)
                    && entry.reads.is_affected_by(
                        &write.id,
                        write.old.as_deref(),
                        write.new.as_deref(),
                        &indexes,
                    )
                {
                    hit.push(*id);
                }
            }
        }
        state.invalidate(hit, || LogEntry::Local(writes.into()));
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
