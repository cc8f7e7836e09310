//! A transaction over a storage engine: snapshot reads, buffered writes, savepoints,
//! read sets of index ranges, per-transaction limits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use super::DbError;
use super::commit_hook::{CommitHook, CommittedWrite};
use crate::store::{
    CommitRequest, Document, DocumentId, Held, IndexKey, KeyRange, Order, ReadRange, ReadSet,
    Schema, Storage, StoreError, Timestamp,
};
use crate::value::{self, Object};

/// Per-transaction limits, in the spirit of Convex's. Exceeding one fails the operation
/// with [`DbError::LimitExceeded`], and dooms the transaction: it cannot commit (its
/// commit fails with that error), whether or not the procedure caught the first one, so
/// none of its writes are committed. The scheduler's limits (functions scheduled, bytes of
/// their arguments) work the same way.
///
/// ```
/// use convoke::db::TransactionLimits;
/// let limits = TransactionLimits { max_documents_written: 100, ..TransactionLimits::default() };
/// assert_eq!(limits.max_documents_read, 32_000);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransactionLimits {
    /// Documents read from storage (by `get` or by scans), default 32,000.
    pub max_documents_read: usize,
    /// Bytes read from storage, default 16 MiB.
    pub max_bytes_read: usize,
    /// Documents written (inserts, patches, replaces, deletes), default 16,000.
    pub max_documents_written: usize,
    /// Bytes written, default 16 MiB.
    pub max_bytes_written: usize,
}

impl Default for TransactionLimits {
    fn default() -> Self {
        TransactionLimits {
            max_documents_read: 32_000,
            max_bytes_read: 16 << 20,
            max_documents_written: 16_000,
            max_bytes_written: 16 << 20,
        }
    }
}

/// What transactions of one runtime share: the engine, the schema and the limits.
pub(crate) struct Database {
    pub(crate) store: Arc<dyn Storage>,
    pub(crate) schema: Arc<Schema>,
    pub(crate) limits: TransactionLimits,
    /// Where commits are reported (the runtime's subscriptions).
    pub(crate) hook: CommitHook,
}

/// One transaction: reads at a snapshot, writes buffered until commit.
///
/// Shared by every context of one call chain (a query called from a mutation sees the
/// mutation's writes); interior state sits behind a mutex held only for single operations.
pub(crate) struct Transaction {
    db: Arc<Database>,
    snapshot: Timestamp,
    /// A snapshot opened for several read transactions ([`Transaction::read_at`]): it is
    /// released with its last holder, not with this transaction.
    retained: Option<Arc<RetainedSnapshot>>,
    writable: bool,
    /// Whether the snapshot is exclusive ([`Storage::begin_exclusive`]).
    exclusive: bool,
    /// What the transaction holds until its commit is ordered (see
    /// [`CommitRequest::held`]), or until it is dropped.
    held: Mutex<Vec<Held>>,
    state: Mutex<TxState>,
    /// The undo log's length, readable without the lock: a savepoint only needs this mark,
    /// and nested mutations take one per call.
    undo_len: AtomicUsize,
}

#[derive(Default)]
struct TxState {
    /// The latest pending version of each written document (`None`: deleted).
    writes: HashMap<DocumentId, Option<Arc<Document>>>,
    /// The committed version of each written document, as this transaction read it before
    /// its first write (`None`: inserted): what a commit reports as replaced.
    originals: HashMap<DocumentId, Option<Arc<Document>>>,
    /// For savepoints: each write with the pending entry it replaced.
    undo: Vec<(DocumentId, Option<Option<Arc<Document>>>)>,
    reads: ReadSet,
    usage: Usage,
    /// A conflict an engine reported before commit: the transaction cannot commit.
    conflict: Option<StoreError>,
    /// The first per-transaction limit the transaction went over: it cannot commit, even
    /// if the procedure caught the error.
    limit: Option<DbError>,
    /// The pagination journal given to this run of a subscribed query (the end cursor of
    /// its page the previous run recorded), and the one this run records.
    journal_in: Option<String>,
    journal_out: Option<String>,
}

#[derive(Default)]
struct Usage {
    documents_read: usize,
    bytes_read: usize,
    documents_written: usize,
    bytes_written: usize,
    functions_scheduled: usize,
    scheduled_args_bytes: usize,
}

fn over(what: &'static str, used: usize, limit: usize) -> Result<(), DbError> {
    if used > limit {
        Err(DbError::LimitExceeded { what, limit })
    } else {
        Ok(())
    }
}

impl TxState {
    /// Passes on a limit check's outcome; going over a limit dooms the transaction.
    fn limited(&mut self, result: Result<(), DbError>) -> Result<(), DbError> {
        if let Err(e) = &result {
            self.limit.get_or_insert_with(|| e.clone());
        }
        result
    }

    fn count_read(
        &mut self,
        docs: &[Arc<Document>],
        limits: &TransactionLimits,
    ) -> Result<(), DbError> {
        self.usage.documents_read += docs.len();
        self.usage.bytes_read += docs.iter().map(|d| d.size()).sum::<usize>();
        let result = over(
            "documents read",
            self.usage.documents_read,
            limits.max_documents_read,
        )
        .and_then(|()| over("bytes read", self.usage.bytes_read, limits.max_bytes_read));
        self.limited(result)
    }

    fn count_write(&mut self, size: usize, limits: &TransactionLimits) -> Result<(), DbError> {
        self.usage.documents_written += 1;
        self.usage.bytes_written += size;
        let result = over(
            "documents written",
            self.usage.documents_written,
            limits.max_documents_written,
        )
        .and_then(|()| {
            over(
                "bytes written",
                self.usage.bytes_written,
                limits.max_bytes_written,
            )
        });
        self.limited(result)
    }
}

impl Transaction {
    pub(crate) fn begin(db: Arc<Database>, writable: bool) -> Self {
        let snapshot = db.store.begin(writable);
        Transaction {
            db,
            snapshot,
            retained: None,
            writable,
            exclusive: false,
            held: Mutex::new(Vec::new()),
            state: Mutex::new(TxState::default()),
            undo_len: AtomicUsize::new(0),
        }
    }

    /// A writable transaction in which no other transaction commits (see
    /// [`Storage::begin_exclusive`]), holding `held` too until its commit is ordered.
    pub(crate) async fn begin_exclusive(
        db: Arc<Database>,
        mut held: Vec<Held>,
    ) -> Result<Self, StoreError> {
        let exclusive = db.store.begin_exclusive().await?;
        held.push(exclusive.hold);
        Ok(Transaction {
            db,
            snapshot: exclusive.snapshot,
            retained: None,
            writable: true,
            exclusive: true,
            held: Mutex::new(held),
            state: Mutex::new(TxState::default()),
            undo_len: AtomicUsize::new(0),
        })
    }

    /// Holds `held` until the commit is ordered (or the transaction dropped).
    pub(crate) fn hold(&self, held: Held) {
        self.held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(held);
    }

    /// A read-only transaction at a snapshot opened earlier by [`RetainedSnapshot::open`],
    /// which other transactions may read at too.
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // the HTTP API's query_at_ts reads at a retained snapshot
    pub(crate) fn read_at(snapshot: Arc<RetainedSnapshot>) -> Self {
        Transaction {
            db: snapshot.db.clone(),
            snapshot: snapshot.snapshot,
            retained: Some(snapshot),
            writable: false,
            exclusive: false,
            held: Mutex::new(Vec::new()),
            state: Mutex::new(TxState::default()),
            undo_len: AtomicUsize::new(0),
        }
    }

    /// Counts one scheduled function against the transaction's scheduling limits.
    pub(crate) fn note_scheduled(
        &self,
        args_size: usize,
        max_functions: usize,
        max_args_bytes: usize,
    ) -> Result<(), DbError> {
        let mut state = self.lock();
        state.usage.functions_scheduled += 1;
        state.usage.scheduled_args_bytes += args_size;
        let result = over(
            "functions scheduled",
            state.usage.functions_scheduled,
            max_functions,
        )
        .and_then(|()| {
            over(
                "bytes of scheduled function arguments",
                state.usage.scheduled_args_bytes,
                max_args_bytes,
            )
        });
        state.limited(result)
    }

    /// Whether this transaction scheduled a function (even one a savepoint rolled back
    /// since): the scheduler's worker is woken when it commits.
    pub(crate) fn scheduled_any(&self) -> bool {
        self.lock().usage.functions_scheduled > 0
    }

    /// The tables' indexes.
    pub(crate) fn schema(&self) -> &Schema {
        &self.db.schema
    }

    fn lock(&self) -> MutexGuard<'_, TxState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) async fn get(&self, id: &DocumentId) -> Result<Option<Arc<Document>>, DbError> {
        {
            let mut state = self.lock();
            if let Some(pending) = state.writes.get(id) {
                return Ok(pending.clone());
            }
            state.reads.read_document(id);
        }
        let doc = self.doomed(self.db.store.get(self.snapshot, id).await)?;
        if let Some(doc) = &doc {
            self.lock()
                .count_read(std::slice::from_ref(doc), &self.db.limits)?;
        }
        Ok(doc)
    }

    /// Locks the document `id` for this transaction unless another holds it (then `false`):
    /// see [`Storage::try_lock`].
    pub(crate) async fn try_lock(&self, id: &DocumentId) -> Result<bool, StoreError> {
        self.doomed(self.db.store.try_lock(self.snapshot, id).await)
    }

    /// The conflict an engine reported during this transaction, if any: it cannot commit.
    pub(crate) fn conflict(&self) -> Option<StoreError> {
        self.lock().conflict.clone()
    }

    /// Passes on an engine's answer; a conflict dooms the transaction, which then fails to
    /// commit even if the procedure swallowed the error (an engine may report one at a read,
    /// not only at commit: PostgreSQL does when a row it was asked to lock has changed since
    /// the snapshot).
    fn doomed<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result
            && e.is_conflict()
        {
            self.lock().conflict.get_or_insert_with(|| e.clone());
        }
        result
    }

    /// Documents of `table` in `index` order within `range`, as this transaction sees them
    /// (its own writes included), at most `limit`. Records what was read: the whole range,
    /// or up to the last document returned when the limit cut the scan short.
    pub(crate) async fn scan(
        &self,
        table: &str,
        index: &str,
        range: KeyRange,
        order: Order,
        limit: Option<usize>,
    ) -> Result<Vec<(IndexKey, Arc<Document>)>, DbError> {
        let defs = self.db.schema.table(table);
        let Some(fields) = defs.get(index) else {
            return Err(DbError::UnknownIndex {
                table: table.to_owned(),
                index: index.to_owned(),
                available: defs.names(),
            });
        };
        let pending_count = self
            .lock()
            .writes
            .keys()
            .filter(|id| id.table() == table)
            .count();
        // Each pending write hides at most one committed document: ask for that many more.
        let committed = self.doomed(
            self.db
                .store
                .scan(
                    self.snapshot,
                    table,
                    index,
                    &range,
                    order,
                    limit.map(|n| n.saturating_add(pending_count)),
                )
                .await,
        )?;
        let mut state = self.lock();
        let pending: Vec<(&DocumentId, &Option<Arc<Document>>)> = state
            .writes
            .iter()
            .filter(|(id, _)| id.table() == table)
            .collect();
        let mut merged: Vec<(IndexKey, Arc<Document>)> = committed
            .iter()
            .filter(|d| !state.writes.contains_key(&d.id))
            .map(|d| (fields.key(d), d.clone()))
            .collect();
        if !pending.is_empty() {
            for doc in pending.iter().filter_map(|(_, d)| d.as_ref()) {
                let key = fields.key(doc);
                if range.contains(&key) {
                    merged.push((key, doc.clone()));
                }
            }
            merged.sort_by(|a, b| a.0.cmp(&b.0));
            if order == Order::Desc {
                merged.reverse();
            }
        }
        let cut_short = limit.is_some_and(|n| merged.len() >= n);
        if let Some(n) = limit {
            merged.truncate(n);
        }
        let read = match merged.last() {
            Some((key, _)) if cut_short => range.up_to(key.clone(), order == Order::Desc),
            _ => range,
        };
        state.reads.read_range(ReadRange {
            table: Arc::from(table),
            index: index.to_owned(),
            range: read,
        });
        state.count_read(&committed, &self.db.limits)?;
        Ok(merged)
    }

    fn check_writable(&self) -> Result<(), DbError> {
        if self.writable {
            Ok(())
        } else {
            Err(DbError::ReadOnly)
        }
    }

    /// Writes `doc` (`None`: deletes) over `old`, the version this transaction read.
    fn write(
        &self,
        id: DocumentId,
        doc: Option<Arc<Document>>,
        old: Option<Arc<Document>>,
    ) -> Result<(), DbError> {
        let mut state = self.lock();
        state.count_write(doc.as_ref().map_or(0, |d| d.size()), &self.db.limits)?;
        // Absent only before the document's first write: `old` is then the committed one.
        state.originals.entry(id.clone()).or_insert(old);
        let previous = state.writes.insert(id.clone(), doc);
        state.undo.push((id, previous));
        self.undo_len
            .store(state.undo.len(), AtomicOrdering::Release);
        Ok(())
    }

    pub(crate) async fn insert(&self, table: &str, fields: Object) -> Result<DocumentId, DbError> {
        self.check_writable()?;
        check_fields(&fields)?;
        let id = self.doomed(self.db.store.allocate_id(self.snapshot, table).await)?;
        let doc = Document {
            id: id.clone(),
            creation_time: now_millis(),
            fields,
        };
        self.write(id.clone(), Some(Arc::new(doc)), None)?;
        Ok(id)
    }

    async fn existing(&self, id: &DocumentId) -> Result<Arc<Document>, DbError> {
        self.get(id)
            .await?
            .ok_or_else(|| DbError::NotFound { id: id.to_string() })
    }

    pub(crate) async fn replace(&self, id: &DocumentId, fields: Object) -> Result<(), DbError> {
        self.check_writable()?;
        check_fields(&fields)?;
        let old = self.existing(id).await?;
        let doc = Document {
            id: id.clone(),
            creation_time: old.creation_time,
            fields,
        };
        self.write(id.clone(), Some(Arc::new(doc)), Some(old))
    }

    pub(crate) async fn patch(
        &self,
        id: &DocumentId,
        fields: Object,
        unset: &[String],
    ) -> Result<(), DbError> {
        self.check_writable()?;
        check_system_fields(fields.keys())?;
        for name in unset {
            if name == "_id" || name == "_creationTime" {
                return Err(DbError::SystemField {
                    field: name.clone(),
                });
            }
        }
        let old = self.existing(id).await?;
        let mut merged = old.fields.clone();
        for name in unset {
            merged.shift_remove(name);
        }
        for (k, v) in fields {
            merged.insert(k, v);
        }
        // The whole check on the resulting document: the patch may be small or shallow
        // while the merged document is not.
        check_fields(&merged)?;
        let doc = Document {
            id: id.clone(),
            creation_time: old.creation_time,
            fields: merged,
        };
        self.write(id.clone(), Some(Arc::new(doc)), Some(old))
    }

    pub(crate) async fn delete(&self, id: &DocumentId) -> Result<(), DbError> {
        self.check_writable()?;
        let old = self.existing(id).await?;
        self.write(id.clone(), None, Some(old))
    }

    /// Marks the current point, to undo the writes made after it.
    pub(crate) fn savepoint(&self) -> Savepoint<'_> {
        Savepoint {
            tx: self,
            mark: self.undo_len.load(AtomicOrdering::Acquire),
            done: false,
        }
    }

    fn roll_back_to(&self, mark: usize) {
        let mut state = self.lock();
        while state.undo.len() > mark {
            let Some((id, previous)) = state.undo.pop() else {
                break;
            };
            match previous {
                Some(doc) => state.writes.insert(id, doc),
                None => state.writes.remove(&id),
            };
        }
        self.undo_len
            .store(state.undo.len(), AtomicOrdering::Release);
    }

    /// Commits the writes, or fails with a conflict if a concurrent commit changed what this
    /// transaction read.
    ///
    /// A writable transaction that wrote nothing is not validated (it is serializable at its
    /// snapshot) but still goes to the engine, which returns once its snapshot is durable:
    /// a mutation may have read a commit that is not yet (see [`Storage::begin`]).
    pub(crate) async fn commit(&self) -> Result<Timestamp, DbError> {
        let state = std::mem::take(&mut *self.lock());
        let held = std::mem::take(&mut *self.held.lock().unwrap_or_else(PoisonError::into_inner));
        if let Some(conflict) = state.conflict {
            return Err(conflict.into());
        }
        if let Some(limit) = state.limit {
            return Err(limit);
        }
        // Nothing to commit, nothing to wait for.
        if !self.writable || (state.writes.is_empty() && self.db.store.is_durable(self.snapshot)) {
            return Ok(self.snapshot);
        }
        let reads = if state.writes.is_empty() {
            ReadSet::default()
        } else {
            state.reads
        };
        let writes: Vec<_> = state.writes.into_iter().collect();
        let mut originals = state.originals;
        let report = (!writes.is_empty()).then(|| {
            self.db.hook.start(|| {
                writes
                    .iter()
                    .map(|(id, new)| CommittedWrite {
                        id: id.clone(),
                        old: originals.remove(id).flatten(),
                        new: new.clone(),
                    })
                    .collect()
            })
        });
        let result = self
            .db
            .store
            .commit(CommitRequest {
                snapshot: self.snapshot,
                reads,
                writes,
                exclusive: self.exclusive,
                held,
            })
            .await;
        if let Some(report) = report {
            // A commit whose outcome is unknown may have been applied.
            report.end(match &result {
                Ok(_) => true,
                Err(e) => e.is_commit_outcome_unknown(),
            });
        }
        result.map_err(DbError::from)
    }

    /// Gives a subscribed query's run the journal of its previous run (see
    /// [`Query::paginate`](crate::db::Query::paginate)).
    pub(crate) fn set_journal(&self, journal: Option<String>) {
        self.lock().journal_in = journal;
    }

    /// The end cursor a previous run of this query recorded, if any.
    pub(crate) fn journal(&self) -> Option<String> {
        self.lock().journal_in.clone()
    }

    /// Records the end cursor of the page this run returned.
    pub(crate) fn record_journal(&self, end_cursor: String) {
        self.lock().journal_out = Some(end_cursor);
    }

    /// The journal this run recorded: `None` unless it paginated.
    pub(crate) fn recorded_journal(&self) -> Option<String> {
        self.lock().journal_out.clone()
    }

    /// What this (read-only) transaction has read so far: what its result depends on.
    pub(crate) fn read_set(&self) -> ReadSet {
        self.lock().reads.clone()
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if self.retained.is_none() {
            self.db.store.release(self.snapshot);
        }
        // Exclusivity (if any) ends after the snapshot.
        self.held
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

/// A read snapshot kept open for several read-only transactions, one after the other or at
/// once (`/api/query_at_ts`): opened with [`Storage::begin`], released when dropped.
pub(crate) struct RetainedSnapshot {
    db: Arc<Database>,
    snapshot: Timestamp,
}

impl RetainedSnapshot {
    /// Opens a read snapshot at the latest commit, and reads once at it: an engine that
    /// takes its snapshot at the first read (PostgreSQL) takes it now.
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // the HTTP API's query_at_ts reads at a retained snapshot
    pub(crate) async fn open(db: Arc<Database>) -> Result<Self, StoreError> {
        let snapshot = db.store.begin(false);
        let retained = RetainedSnapshot { db, snapshot };
        let nothing = DocumentId::new(super::system::scheduled_functions::SCHEDULED_FUNCTIONS, 0);
        retained.db.store.get(snapshot, &nothing).await?;
        Ok(retained)
    }
}

impl Drop for RetainedSnapshot {
    fn drop(&mut self) {
        self.db.store.release(self.snapshot);
    }
}

/// A savepoint in a transaction: [`release`](Savepoint::release) keeps the writes made since,
/// [`roll_back`](Savepoint::roll_back) (or dropping it, e.g. when the call is cancelled or
/// panics) undoes them.
pub(crate) struct Savepoint<'t> {
    tx: &'t Transaction,
    mark: usize,
    done: bool,
}

impl Savepoint<'_> {
    pub(crate) fn release(mut self) {
        self.done = true;
    }

    pub(crate) fn roll_back(mut self) {
        self.done = true;
        self.tx.roll_back_to(self.mark);
    }
}

impl Drop for Savepoint<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.tx.roll_back_to(self.mark);
        }
    }
}

/// Refuses the system fields `_id` and `_creationTime`, which the store sets.
fn check_system_fields<'a>(names: impl Iterator<Item = &'a String>) -> Result<(), DbError> {
    for name in names {
        if name == "_id" || name == "_creationTime" {
            return Err(DbError::SystemField {
                field: name.clone(),
            });
        }
    }
    Ok(())
}

/// The one gate of a document's fields before it is written: no system fields, then
/// Convex's value rules at every depth ([`value::check_document`]).
fn check_fields(fields: &Object) -> Result<(), DbError> {
    check_system_fields(fields.keys())?;
    value::check_document(fields)?;
    Ok(())
}

fn now_millis() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}
