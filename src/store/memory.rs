//! The multi-version engine: documents and index entries in memory, one committer,
//! optionally handing each commit to a [`Persistence`] that makes it durable.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockReadGuard};

use super::{
    CommitRequest, Document, DocumentId, Exclusive, Held, IndexKey, KeyRange, Order, Schema,
    Storage, StoreError, StoreFuture, TableIndexes, Timestamp, Write,
};

/// Where a durable engine writes commits (group commit).
///
/// A validated commit is handed over with [`Persistence::submit`] under the commit lock,
/// then applied in memory at once: writable snapshots (mutations) see it immediately, so a
/// chain of mutations on one hot document is not paced by the disk. It is acknowledged only
/// once [`Persistence::durability`] reports it durable, and read-only snapshots (queries)
/// read at the latest durable commit, so nothing that could still be lost is ever shown
/// outside a mutation. A mutation that read a commit not yet durable commits after it, and
/// commits become durable in order, so its own acknowledgement implies the other's
/// durability.
pub(crate) trait Persistence: Send + Sync + 'static {
    /// Queues commit `ts` to be written, after every earlier one, atomically. Fails (and the
    /// commit is refused, nothing applied) once writing has failed.
    fn submit(&self, ts: Timestamp, writes: &[Write]) -> Result<(), StoreError>;

    /// How far the submitted commits are durable.
    fn durability(&self) -> &Durability;
}

/// How far commits are durable, published by a [`Persistence`] as its writes complete.
pub(crate) struct Durability {
    /// Every commit up to this one is durable.
    durable: AtomicU64,
    /// Set once writing failed: no later commit becomes durable.
    failed: Mutex<Option<StoreError>>,
    changed: tokio::sync::watch::Sender<()>,
}

#[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // the SQLite engine is built on this one
impl Durability {
    /// Every commit up to `durable` is already durable.
    pub(crate) fn new(durable: Timestamp) -> Self {
        Durability {
            durable: AtomicU64::new(durable),
            failed: Mutex::new(None),
            changed: tokio::sync::watch::Sender::new(()),
        }
    }

    /// The latest commit that is durable, with all before it.
    pub(crate) fn durable(&self) -> Timestamp {
        self.durable.load(AtomicOrdering::Acquire)
    }

    /// Every commit up to `ts` is now durable.
    pub(crate) fn advance(&self, ts: Timestamp) {
        self.durable.fetch_max(ts, AtomicOrdering::AcqRel);
        self.changed.send_replace(());
    }

    /// Writing failed: the commits not yet durable never will be.
    pub(crate) fn fail(&self, error: StoreError) {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_or_insert(error);
        self.changed.send_replace(());
    }

    /// The failure, if writing failed.
    pub(crate) fn failure(&self) -> Option<StoreError> {
        self.failed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Waits until commit `ts` is durable, or fails with the write's error.
    async fn wait(&self, ts: Timestamp) -> Result<(), StoreError> {
        let mut changed = self.changed.subscribe();
        loop {
            if self.durable() >= ts {
                return Ok(());
            }
            if let Some(error) = self.failure() {
                return Err(error);
            }
            if changed.changed().await.is_err() {
                return Err(StoreError::Engine(
                    "the store was closed before the commit was durable".to_owned(),
                ));
            }
        }
    }
}

/// Documents kept in memory, with every version still visible to an open snapshot, and
/// every index kept as an ordered map.
///
/// Nothing survives the process. Use it for tests, examples and benchmarks; see
/// [`SqliteStore`](super::SqliteStore) for the durable engine built on it.
pub struct MemoryStore {
    state: RwLock<State>,
    /// Held by a commit from validation to apply, so no other commit comes between.
    commit_lock: Mutex<()>,
    /// Held shared by each commit while it is ordered, and exclusively by a transaction
    /// opened with [`Storage::begin_exclusive`] from its snapshot until its commit is
    /// ordered. Fair: once an exclusive transaction waits, later commits wait behind it.
    gate: Arc<tokio::sync::RwLock<()>>,
    snapshots: Mutex<BTreeMap<Timestamp, usize>>,
    /// The latest commit, readable without the state lock (see `begin`).
    latest: AtomicU64,
    next_number: AtomicU64,
    persistence: Option<Box<dyn Persistence>>,
    /// Stored documents that did not decode when a durable store was opened, with why:
    /// reading one fails with [`StoreError::Unreadable`].
    unreadable: HashMap<DocumentId, String>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new()
    }
}

/// Versions of one document, oldest first: `(commit timestamp, document or deleted)`.
type Versions = Vec<(Timestamp, Option<Arc<Document>>)>;

struct TableData {
    indexes_def: Arc<TableIndexes>,
    docs: HashMap<u64, Versions>,
    /// Per index, an entry for the key of every retained version.
    indexes: HashMap<String, BTreeMap<IndexKey, u64>>,
}

impl TableData {
    fn new(indexes_def: Arc<TableIndexes>) -> Self {
        let indexes = indexes_def
            .iter()
            .map(|(name, _)| (name.to_owned(), BTreeMap::new()))
            .collect();
        TableData {
            indexes_def,
            docs: HashMap::new(),
            indexes,
        }
    }

    fn index_version(&mut self, number: u64, doc: &Document) {
        for (name, fields) in self.indexes_def.iter() {
            if let Some(index) = self.indexes.get_mut(name) {
                index.insert(fields.key(doc), number);
            }
        }
    }

    /// Drops the versions of document `number` that no snapshot at or after `oldest` can
    /// see, with their index entries; forgets the document once only a deletion is left.
    fn prune(&mut self, number: u64, oldest: Timestamp) {
        let Some(versions) = self.docs.get_mut(&number) else {
            return;
        };
        let Some(keep_from) = versions.iter().rposition(|(v, _)| *v <= oldest) else {
            return;
        };
        let dropped: Vec<Arc<Document>> = versions
            .drain(..keep_from)
            .filter_map(|(_, doc)| doc)
            .collect();
        let forget = versions.len() == 1 && versions[0].1.is_none();
        let kept: Vec<Arc<Document>> = versions.iter().filter_map(|(_, d)| d.clone()).collect();
        if forget {
            self.docs.remove(&number);
        }
        for (name, fields) in self.indexes_def.iter() {
            let Some(index) = self.indexes.get_mut(name) else {
                continue;
            };
            for doc in &dropped {
                let key = fields.key(doc);
                if !kept.iter().any(|k| fields.key(k) == key) {
                    index.remove(&key);
                }
            }
        }
    }
}

#[derive(Default)]
struct State {
    latest: Timestamp,
    schema: Schema,
    tables: HashMap<Arc<str>, TableData>,
    /// Recent commits with each write's previous and new version, for validating later
    /// commits.
    log: VecDeque<CommitRecord>,
    /// Documents written at a timestamp, to prune once no snapshot can see their old versions.
    gc: VecDeque<(Timestamp, DocumentId)>,
}

/// One write of a past commit: the document, its previous version and its new one.
type LoggedWrite = (DocumentId, Option<Arc<Document>>, Option<Arc<Document>>);

struct CommitRecord {
    ts: Timestamp,
    writes: Vec<LoggedWrite>,
}

impl State {
    fn table_mut(&mut self, table: &str) -> &mut TableData {
        let schema = &self.schema;
        self.tables
            .entry(Arc::from(table))
            .or_insert_with(|| TableData::new(schema.table(table)))
    }
}

fn visible(versions: &Versions, snapshot: Timestamp) -> Option<&Arc<Document>> {
    versions
        .iter()
        .rev()
        .find(|(ts, _)| *ts <= snapshot)
        .and_then(|(_, doc)| doc.as_ref())
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore {
            state: RwLock::new(State::default()),
            commit_lock: Mutex::new(()),
            gate: Arc::new(tokio::sync::RwLock::new(())),
            snapshots: Mutex::new(BTreeMap::new()),
            latest: AtomicU64::new(0),
            next_number: AtomicU64::new(0),
            persistence: None,
            unreadable: HashMap::new(),
        }
    }

    /// A store holding `docs` as of commit `latest`, writing later commits through
    /// `persistence` (used to reopen a durable store). `unreadable` are the stored
    /// documents that did not decode, with why: reading one fails.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // the SQLite engine is built on this one
    pub(crate) fn restored(
        docs: Vec<(Timestamp, Document)>,
        latest: Timestamp,
        next_number: u64,
        persistence: Box<dyn Persistence>,
        unreadable: HashMap<DocumentId, String>,
    ) -> Self {
        let mut state = State {
            latest,
            ..State::default()
        };
        for (ts, doc) in docs {
            let number = doc.id.number();
            let table = state.table_mut(doc.id.table());
            table.docs.insert(number, vec![(ts, Some(Arc::new(doc)))]);
        }
        MemoryStore {
            state: RwLock::new(state),
            commit_lock: Mutex::new(()),
            gate: Arc::new(tokio::sync::RwLock::new(())),
            snapshots: Mutex::new(BTreeMap::new()),
            latest: AtomicU64::new(latest),
            next_number: AtomicU64::new(next_number),
            persistence: Some(persistence),
            unreadable,
        }
    }

    /// The stored documents that did not decode when the store was opened, with why.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))] // the SQLite engine is built on this one
    pub(crate) fn unreadable(&self) -> &HashMap<DocumentId, String> {
        &self.unreadable
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The oldest snapshot any transaction may read at: the oldest open one, or the
    /// snapshot a new transaction would get (for a read-only one, the latest durable commit,
    /// which is never after `latest`).
    fn oldest_snapshot(&self, latest: Timestamp) -> Timestamp {
        let snapshots = self
            .snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // Read under the snapshot lock, as `begin` does: a transaction registering after
        // this reads a durable commit at least as new.
        let floor = self.durable().min(latest);
        snapshots.keys().next().copied().unwrap_or(floor).min(floor)
    }

    /// The latest durable commit (the latest commit, without persistence).
    fn durable(&self) -> Timestamp {
        match &self.persistence {
            Some(persistence) => persistence.durability().durable(),
            None => self.latest.load(AtomicOrdering::Acquire),
        }
    }
}

impl MemoryStore {
    /// See [`Storage::set_schema`].
    pub fn set_schema(&self, schema: &Schema) -> Result<(), StoreError> {
        let _committing = self
            .commit_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        state.schema = schema.clone();
        // Rebuild every table's indexes under the new definitions.
        let tables: Vec<Arc<str>> = state.tables.keys().cloned().collect();
        for name in tables {
            let def = state.schema.table(&name);
            if let Some(old) = state.tables.remove(&name) {
                let mut table = TableData::new(def);
                for (number, versions) in old.docs {
                    for doc in versions.iter().filter_map(|(_, d)| d.as_ref()) {
                        table.index_version(number, doc);
                    }
                    table.docs.insert(number, versions);
                }
                state.tables.insert(name, table);
            }
        }
        Ok(())
    }

    /// See [`Storage::begin`]: a snapshot at the latest commit if `writable`, else at the
    /// latest durable commit (the same without persistence: see
    /// [`SqliteStore`](super::SqliteStore) for when they differ).
    pub fn begin(&self, writable: bool) -> Timestamp {
        // Lock order is state, then snapshots: `begin` takes only the snapshot lock. A commit
        // that computed its oldest snapshot before this registration still keeps the versions
        // visible at `ts`, because it counts the latest durable commit it saw as a reader.
        let mut snapshots = self
            .snapshots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ts = if writable {
            self.latest.load(AtomicOrdering::Acquire)
        } else {
            self.durable()
        };
        *snapshots.entry(ts).or_insert(0) += 1;
        ts
    }

    /// See [`Storage::release`].
    pub fn release(&self, snapshot: Timestamp) {
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

    /// See [`Storage::get`].
    pub fn get(
        &self,
        snapshot: Timestamp,
        id: &DocumentId,
    ) -> Result<Option<Arc<Document>>, StoreError> {
        // Its number is never handed out again, so no version of it can exist.
        if let Some(reason) = self.unreadable.get(id) {
            return Err(StoreError::Unreadable {
                table: id.table().to_owned(),
                id: id.to_string(),
                reason: reason.clone(),
            });
        }
        let state = self.read_state();
        Ok(state
            .tables
            .get(id.table())
            .and_then(|table| table.docs.get(&id.number()))
            .and_then(|versions| visible(versions, snapshot))
            .cloned())
    }

    /// See [`Storage::scan`].
    pub fn scan(
        &self,
        snapshot: Timestamp,
        table: &str,
        index: &str,
        range: &KeyRange,
        order: Order,
        limit: Option<usize>,
    ) -> Result<Vec<Arc<Document>>, StoreError> {
        let state = self.read_state();
        let defs = state.schema.table(table);
        // The transaction layer checks the index first: an unknown one is the caller's bug.
        let Some(fields) = defs.get(index) else {
            return Err(StoreError::Engine(format!(
                "scan of an unknown index: table '{table}' has no index '{index}' (its indexes: {})",
                defs.names()
            )));
        };
        let Some(data) = state.tables.get(table) else {
            return Ok(Vec::new());
        };
        let Some(entries) = data.indexes.get(index) else {
            return Ok(Vec::new());
        };
        let limit = limit.unwrap_or(usize::MAX);
        let mut out = Vec::new();
        let mut take = |key: &IndexKey, number: &u64| {
            let doc = data
                .docs
                .get(number)
                .and_then(|versions| visible(versions, snapshot));
            // An entry may belong to a version this snapshot does not see.
            if let Some(doc) = doc.filter(|d| &fields.key(d) == key) {
                out.push(doc.clone());
            }
            out.len() < limit
        };
        let bounds = range.map_bounds();
        if KeyRange::is_empty_map_range(&bounds) {
            return Ok(Vec::new());
        }
        let entries = entries.range(bounds);
        match order {
            Order::Asc => {
                for (key, number) in entries {
                    if !take(key, number) {
                        break;
                    }
                }
            }
            Order::Desc => {
                for (key, number) in entries.rev() {
                    if !take(key, number) {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// See [`Storage::allocate_id`].
    pub fn allocate_id(&self, table: &str) -> DocumentId {
        let number = self.next_number.fetch_add(1, AtomicOrdering::Relaxed) + 1;
        DocumentId::new(table, number)
    }

    /// See [`Storage::begin_exclusive`]: waits for the commits being ordered, then holds
    /// back every other commit until the returned [`Exclusive::hold`] is dropped.
    pub async fn begin_exclusive(&self) -> Exclusive {
        let gate = self.gate.clone().write_owned().await;
        Exclusive {
            snapshot: self.begin(true),
            hold: Held::new(gate),
        }
    }

    /// See [`Storage::commit`]: validates and applies the commit (after an exclusive
    /// transaction that holds the store, if any), then, with persistence, waits until it is
    /// durable.
    pub fn commit(&self, request: CommitRequest) -> StoreFuture<'_, Result<Timestamp, StoreError>> {
        if request.exclusive {
            return self.durable_after(self.order(request));
        }
        match self.gate.try_read() {
            Ok(permit) => {
                let ordered = self.order(request);
                drop(permit);
                self.durable_after(ordered)
            }
            // An exclusive transaction holds the store, or waits for it: queue behind it.
            Err(_) => StoreFuture::boxed(async move {
                let permit = self.gate.read().await;
                let ordered = self.order(request);
                drop(permit);
                self.durable_after(ordered).await
            }),
        }
    }

    /// `ordered`, once the commit it names is durable.
    fn durable_after(
        &self,
        ordered: Result<Timestamp, StoreError>,
    ) -> StoreFuture<'_, Result<Timestamp, StoreError>> {
        match (ordered, &self.persistence) {
            (Ok(ts), Some(persistence)) if persistence.durability().durable() < ts => {
                StoreFuture::boxed(async move {
                    persistence.durability().wait(ts).await?;
                    Ok(ts)
                })
            }
            (ordered, _) => StoreFuture::ready(ordered),
        }
    }

    /// Validates the commit and applies it in memory (handing it to the persistence first),
    /// under the commit lock; then lets go of what it holds. A commit that writes nothing
    /// is not validated (it read one snapshot and changes nothing: it is serializable at
    /// it), and names its snapshot, to be waited for if that is not durable yet.
    fn order(&self, mut request: CommitRequest) -> Result<Timestamp, StoreError> {
        let _held = std::mem::take(&mut request.held);
        if request.writes.is_empty() {
            return Ok(request.snapshot);
        }
        // One commit at a time. Validation needs only a read lock and handing over to the
        // persistence none: readers wait for the state lock only while the commit is
        // applied in memory.
        let _committing = self
            .commit_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let ts = {
            let state = self.read_state();
            // Validate: any commit after our snapshot that wrote something we read conflicts.
            let schema = &state.schema;
            let indexes = |table: &str| schema.table(table);
            for record in state.log.iter().rev() {
                if record.ts <= request.snapshot {
                    break;
                }
                for (id, old, new) in &record.writes {
                    if request
                        .reads
                        .is_affected_by(id, old.as_deref(), new.as_deref(), &indexes)
                    {
                        return Err(StoreError::Conflict {
                            table: id.table().to_owned(),
                        });
                    }
                }
            }
            state.latest + 1
        };
        if let Some(persistence) = &self.persistence {
            persistence.submit(ts, &request.writes)?;
        }
        // Only this commit can have moved `latest` since validation: we hold the commit lock.
        let mut state = self.state.write().unwrap_or_else(PoisonError::into_inner);
        let oldest = self.oldest_snapshot(state.latest);
        let mut record = Vec::with_capacity(request.writes.len());
        for (id, doc) in request.writes {
            let table = state.table_mut(id.table());
            let versions = table.docs.entry(id.number()).or_default();
            let old = versions.last().and_then(|(_, d)| d.clone());
            versions.push((ts, doc.clone()));
            if let Some(doc) = &doc {
                table.index_version(id.number(), doc);
            }
            table.prune(id.number(), oldest);
            state.gc.push_back((ts, id.clone()));
            record.push((id, old, doc));
        }
        state.latest = ts;
        self.latest.store(ts, AtomicOrdering::Release);
        state.log.push_back(CommitRecord { ts, writes: record });
        // Commits at or before the oldest open snapshot can no longer conflict with anyone,
        // and their documents' older versions can no longer be seen.
        while state.log.front().is_some_and(|r| r.ts <= oldest) {
            state.log.pop_front();
        }
        while state.gc.front().is_some_and(|(t, _)| *t <= oldest) {
            if let Some((_, id)) = state.gc.pop_front()
                && let Some(table) = state.tables.get_mut(id.table())
            {
                table.prune(id.number(), oldest);
            }
        }
        Ok(ts)
    }
}

impl Storage for MemoryStore {
    fn set_schema(&self, schema: &Schema) -> Result<(), StoreError> {
        MemoryStore::set_schema(self, schema)
    }

    fn begin(&self, writable: bool) -> Timestamp {
        MemoryStore::begin(self, writable)
    }

    fn begin_exclusive(&self) -> StoreFuture<'_, Result<Exclusive, StoreError>> {
        StoreFuture::boxed(async move { Ok(MemoryStore::begin_exclusive(self).await) })
    }

    fn is_durable(&self, snapshot: Timestamp) -> bool {
        snapshot <= self.durable()
    }

    fn release(&self, snapshot: Timestamp) {
        MemoryStore::release(self, snapshot)
    }

    fn get<'a>(
        &'a self,
        snapshot: Timestamp,
        id: &'a DocumentId,
    ) -> StoreFuture<'a, Result<Option<Arc<Document>>, StoreError>> {
        StoreFuture::ready(MemoryStore::get(self, snapshot, id))
    }

    fn scan<'a>(
        &'a self,
        snapshot: Timestamp,
        table: &'a str,
        index: &'a str,
        range: &'a KeyRange,
        order: Order,
        limit: Option<usize>,
    ) -> StoreFuture<'a, Result<Vec<Arc<Document>>, StoreError>> {
        StoreFuture::ready(MemoryStore::scan(
            self, snapshot, table, index, range, order, limit,
        ))
    }

    fn allocate_id<'a>(
        &'a self,
        _snapshot: Timestamp,
        table: &'a str,
    ) -> StoreFuture<'a, Result<DocumentId, StoreError>> {
        StoreFuture::ready(Ok(MemoryStore::allocate_id(self, table)))
    }

    fn commit(&self, request: CommitRequest) -> StoreFuture<'_, Result<Timestamp, StoreError>> {
        MemoryStore::commit(self, request)
    }
}
