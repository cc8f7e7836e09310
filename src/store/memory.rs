//! The in-memory engine: multi-version maps behind a lock, for tests and examples.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use super::{CommitRequest, Document, Storage, StoreError, Timestamp};
use crate::db::DocumentId;

/// Documents kept in memory, with every version still visible to an open snapshot.
///
/// Nothing survives the process. Use it for tests, examples and benchmarks.
#[derive(Default)]
pub struct MemoryStore {
    state: RwLock<State>,
    snapshots: Mutex<BTreeMap<Timestamp, usize>>,
    /// The latest commit, readable without the state lock (see `begin`).
    latest: AtomicU64,
    next_number: AtomicU64,
}

/// Versions of one document, oldest first: `(commit timestamp, document or deleted)`.
type Versions = Vec<(Timestamp, Option<Arc<Document>>)>;

#[derive(Default)]
struct State {
    latest: Timestamp,
    tables: HashMap<Arc<str>, BTreeMap<u64, Versions>>,
    /// Recent commits and the ids they wrote, for validating later commits.
    log: VecDeque<(Timestamp, Vec<DocumentId>)>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn oldest_snapshot(&self, latest: Timestamp) -> Timestamp {
        let snapshots = self
            .snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        snapshots
            .keys()
            .next()
            .copied()
            .unwrap_or(latest)
            .min(latest)
    }
}

fn visible(versions: &Versions, snapshot: Timestamp) -> Option<Arc<Document>> {
    versions
        .iter()
        .rev()
        .find(|(ts, _)| *ts <= snapshot)
        .and_then(|(_, doc)| doc.clone())
}

impl Storage for MemoryStore {
    fn begin(&self) -> Timestamp {
        // Lock order is state, then snapshots: `begin` takes only the snapshot lock. A commit
        // that computed its oldest snapshot before this registration still keeps the versions
        // visible at `ts`, because it counts the latest commit it saw as a reader.
        let mut snapshots = self
            .snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ts = self.latest.load(AtomicOrdering::Acquire);
        *snapshots.entry(ts).or_insert(0) += 1;
        ts
    }

    fn release(&self, snapshot: Timestamp) {
        let mut snapshots = self
            .snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = snapshots.get_mut(&snapshot) {
            *count -= 1;
            if *count == 0 {
                snapshots.remove(&snapshot);
            }
        }
    }

    fn get(
        &self,
        snapshot: Timestamp,
        id: &DocumentId,
    ) -> Result<Option<Arc<Document>>, StoreError> {
        let state = self.read_state();
        Ok(state
            .tables
            .get(id.table())
            .and_then(|table| table.get(&id.number()))
            .and_then(|versions| visible(versions, snapshot)))
    }

    fn scan(&self, snapshot: Timestamp, table: &str) -> Result<Vec<Arc<Document>>, StoreError> {
        let state = self.read_state();
        Ok(state
            .tables
            .get(table)
            .map(|docs| {
                docs.values()
                    .filter_map(|versions| visible(versions, snapshot))
                    .collect()
            })
            .unwrap_or_default())
    }

    fn allocate_id(&self, table: &str) -> DocumentId {
        let number = self.next_number.fetch_add(1, AtomicOrdering::Relaxed) + 1;
        DocumentId::new(table, number)
    }

    fn commit(&self, request: CommitRequest) -> Result<Timestamp, StoreError> {
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        // Validate: any commit after our snapshot that wrote something we read conflicts.
        for (ts, written) in state.log.iter().rev() {
            if *ts <= request.snapshot {
                break;
            }
            if let Some(id) = written.iter().find(|id| request.reads.is_affected_by(id)) {
                return Err(StoreError::Conflict {
                    table: id.table().to_owned(),
                });
            }
        }
        if request.writes.is_empty() {
            return Ok(state.latest);
        }
        let ts = state.latest + 1;
        let oldest = self.oldest_snapshot(state.latest);
        let mut written = Vec::with_capacity(request.writes.len());
        for (id, doc) in request.writes {
            let table = match state.tables.get_mut(id.table()) {
                Some(table) => table,
                None => state.tables.entry(Arc::from(id.table())).or_default(),
            };
            let versions = table.entry(id.number()).or_default();
            versions.push((ts, doc));
            // Versions older than the newest one visible to the oldest snapshot are unreachable.
            if let Some(keep_from) = versions.iter().rposition(|(v, _)| *v <= oldest) {
                versions.drain(..keep_from);
            }
            written.push(id);
        }
        state.latest = ts;
        self.latest.store(ts, AtomicOrdering::Release);
        state.log.push_back((ts, written));
        // Commits at or before the oldest open snapshot can no longer conflict with anyone.
        while state.log.front().is_some_and(|(t, _)| *t <= oldest) {
            state.log.pop_front();
        }
        Ok(ts)
    }
}
