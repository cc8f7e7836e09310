//! Storage engines: where committed documents live.
//!
//! An engine keeps versions of documents by commit timestamp, serves reads at a snapshot,
//! and commits a transaction's writes atomically after checking its read set against every
//! commit made since its snapshot (optimistic concurrency control, serializable). The
//! transaction layer ([`crate::db`]) sits on top and is the same for every engine.
//!
//! Engines: [`MemoryStore`] (in-memory, for tests and examples), [`SqliteStore`]
//! (durable, in a data directory: the in-memory engine with commits written to SQLite in
//! groups, each acknowledged once it is on disk) and [`PostgresStore`] (a PostgreSQL
//! database shared by many processes, which checks serializability itself).
//!
//! A transaction that conflicted repeatedly runs in an exclusive snapshot
//! ([`Storage::begin_exclusive`]): no other transaction commits until its commit is
//! ordered, so it cannot conflict again.

#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
// the durable engines' format
pub(crate) mod document_json;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresConfig, PostgresStore};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

use crate::db::DocumentId;
use crate::db::index::KeyRange;
use crate::db::schema::{Schema, TableIndexes};
use crate::value::{Object, Value, ValueError};

/// A commit timestamp: commits are numbered 1, 2, 3...; 0 is the empty store.
pub type Timestamp = u64;

/// Errors of the document store.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A concurrent commit changed what this transaction read: re-run it.
    #[error("a concurrent write to table '{table}' conflicted with this transaction")]
    Conflict {
        /// The table the conflicting write touched.
        table: String,
    },
    /// The transaction is read-only (a query's).
    #[error("a query cannot write to the database")]
    ReadOnly,
    /// No document has this id.
    #[error("no document with id '{id}'")]
    NotFound {
        /// The id that was asked for.
        id: String,
    },
    /// The id belongs to another table than the one asked for.
    #[error("id '{id}' is not an id of table '{expected}'")]
    WrongTable {
        /// The id.
        id: String,
        /// The table expected.
        expected: String,
    },
    /// The string is not a document id.
    #[error("'{id}' is not a valid document id")]
    InvalidId {
        /// The string.
        id: String,
    },
    /// A document must be an object.
    #[error("a document must be an object, not {found}")]
    NotAnObject {
        /// The type that was given.
        found: &'static str,
    },
    /// System fields (`_id`, `_creationTime`) are set by the store.
    #[error("field '{field}' is a system field and cannot be written")]
    SystemField {
        /// The field.
        field: String,
    },
    /// System tables (names starting with `_`, such as `_scheduled_functions`) are
    /// written by the runtime only; procedures can read them.
    #[error(
        "table '{table}' is a system table: procedures can read it but not {operation} its documents"
    )]
    SystemTable {
        /// The table.
        table: String,
        /// What was refused: `"insert"`, `"patch"`, `"replace"` or `"delete"`.
        operation: &'static str,
    },
    /// A value could not be converted to or from a document.
    #[error("invalid document: {0}")]
    Value(#[from] ValueError),
    /// The engine failed (I/O, corruption...).
    #[error("storage engine error: {0}")]
    Engine(String),
    /// The database could not be reached: connection refused or lost, or no connection
    /// free in time. Nothing was committed; the request can be tried again.
    #[error("the database is unavailable: {reason}")]
    Unavailable {
        /// What went wrong.
        reason: String,
    },
    /// The connection was lost while the database was committing: the commit may or may
    /// not have been applied. (Not re-run, so that nothing is applied twice.)
    #[error(
        "the connection to the database was lost while committing; the commit may or may not have been applied: {reason}"
    )]
    CommitOutcomeUnknown {
        /// What went wrong.
        reason: String,
    },
    /// A table declaration is invalid (checked at start-up).
    #[error("invalid schema for table '{table}': {reason}")]
    InvalidSchema {
        /// The table.
        table: String,
        /// What is wrong.
        reason: String,
    },
    /// The table has no index of this name.
    #[error("table '{table}' has no index '{index}' (its indexes: {available})")]
    UnknownIndex {
        /// The table.
        table: String,
        /// The index asked for.
        index: String,
        /// The indexes the table has.
        available: String,
    },
    /// An index range's conditions do not fit the index.
    #[error("invalid range on index '{index}' of table '{table}': {reason}")]
    InvalidIndexRange {
        /// The table.
        table: String,
        /// The index.
        index: String,
        /// What is wrong.
        reason: String,
    },
    /// `unique()` found more than one document.
    #[error("unique() found more than one document in table '{table}'")]
    NotUnique {
        /// The table.
        table: String,
    },
    /// A pagination cursor is malformed or belongs to another query.
    #[error("invalid pagination cursor: {reason}")]
    InvalidCursor {
        /// What is wrong.
        reason: String,
    },
    /// A scheduled function's arguments do not fit in its job, a document of
    /// `_scheduled_functions` (documents are limited to 1 MiB).
    #[error(
        "the arguments of scheduled function '{path}' are {size} bytes; at most {max} bytes fit in a scheduled job (a document, limited to 1 MiB)"
    )]
    ScheduledArgsTooLarge {
        /// The procedure that was scheduled.
        path: String,
        /// The arguments' size.
        size: usize,
        /// The largest arguments that fit.
        max: usize,
    },
    /// A stored document does not decode (written by an older build, or changed by hand):
    /// the store opened without it, and reading it (by id) fails with this error. See the
    /// README, "Repairing a store".
    #[error("document {id} of table '{table}' is stored but unreadable: {reason}")]
    Unreadable {
        /// The document's table.
        table: String,
        /// The document's id (`table:number`).
        id: String,
        /// Why it does not decode.
        reason: String,
    },
    /// A per-transaction limit was reached.
    #[error(
        "transaction limit exceeded: {what} ({limit} max); split the work over several transactions"
    )]
    LimitExceeded {
        /// Which limit, e.g. "documents read".
        what: &'static str,
        /// The limit.
        limit: usize,
    },
}

impl StoreError {
    /// Whether a concurrent commit conflicted with the transaction.
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Conflict { .. })
    }

    /// Whether the database could not be reached ([`StoreError::Unavailable`] or
    /// [`StoreError::CommitOutcomeUnknown`]).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Unavailable { .. } | StoreError::CommitOutcomeUnknown { .. }
        )
    }

    /// Whether a document was missing.
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }

    /// Whether a per-transaction limit was reached, or a scheduled function's arguments
    /// were too large.
    pub fn is_limit_exceeded(&self) -> bool {
        matches!(
            self,
            StoreError::LimitExceeded { .. } | StoreError::ScheduledArgsTooLarge { .. }
        )
    }

    /// Whether a stored document does not decode (see [`StoreError::Unreadable`]).
    pub fn is_unreadable(&self) -> bool {
        matches!(self, StoreError::Unreadable { .. })
    }

    /// Whether a query named an index its table does not have, or a range that does not fit.
    pub fn is_invalid_index(&self) -> bool {
        matches!(
            self,
            StoreError::UnknownIndex { .. } | StoreError::InvalidIndexRange { .. }
        )
    }

    /// Whether a procedure tried to write a system table (see [`StoreError::SystemTable`]).
    pub fn is_system_table(&self) -> bool {
        matches!(self, StoreError::SystemTable { .. })
    }

    /// Whether the schema is invalid.
    pub fn is_invalid_schema(&self) -> bool {
        matches!(self, StoreError::InvalidSchema { .. })
    }
}

/// A stored document: its id, creation time and user fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `_id`.
    pub id: DocumentId,
    /// `_creationTime`, in milliseconds since the Unix epoch.
    pub creation_time: f64,
    /// The user's fields, in order.
    pub fields: Object,
}

impl Document {
    /// The document as one object: `_id`, `_creationTime`, then the user's fields.
    pub fn to_value(&self) -> Value {
        let mut object = Object::with_capacity(self.fields.len() + 2);
        object.insert("_id".to_owned(), Value::String(self.id.to_string()));
        object.insert(
            "_creationTime".to_owned(),
            Value::Float64(self.creation_time),
        );
        for (k, v) in &self.fields {
            object.insert(k.clone(), v.clone());
        }
        Value::Object(object)
    }

    /// The document's size as Convex counts it: its fields plus the system fields.
    pub fn size(&self) -> usize {
        fields_size(&self.fields) + SYSTEM_FIELDS_SIZE
    }
}

/// `_id` and `_creationTime` as counted in a document's size.
const SYSTEM_FIELDS_SIZE: usize = 64;

/// The size of a document's user fields, as Convex counts it.
pub fn fields_size(fields: &Object) -> usize {
    2 + fields
        .iter()
        .map(|(k, v)| k.len() + 1 + v.size())
        .sum::<usize>()
}

/// Scan order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    /// Ascending index order (oldest first on `by_creation_time`).
    #[default]
    Asc,
    /// Descending index order.
    Desc,
}

/// A range of one index that a transaction read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRange {
    /// The table.
    pub table: Arc<str>,
    /// The index.
    pub index: String,
    /// The keys read, including those where nothing was found.
    pub range: KeyRange,
}

/// What a transaction read: the data its outcome depends on.
///
/// Documents read by id, and index ranges scanned (including ranges in which nothing was
/// found, so a later insert into them is noticed). A commit conflicts with the transaction
/// when it wrote a document read by id, or a document whose old or new key in an index lies
/// in a range read on that index.
#[derive(Debug, Clone, Default)]
pub struct ReadSet {
    documents: HashSet<DocumentId>,
    ranges: Vec<ReadRange>,
}

impl ReadSet {
    /// Records a read of one document by id.
    pub fn read_document(&mut self, id: &DocumentId) {
        if !self.documents.contains(id) {
            self.documents.insert(id.clone());
        }
    }

    /// Records a scan of an index range.
    pub fn read_range(&mut self, range: ReadRange) {
        if !self.ranges.contains(&range) {
            self.ranges.push(range);
        }
    }

    /// Whether a write of document `id`, from `old` to `new`, changes something this read
    /// set depends on. `indexes` gives a table's index definitions.
    pub fn is_affected_by(
        &self,
        id: &DocumentId,
        old: Option<&Document>,
        new: Option<&Document>,
        indexes: &dyn Fn(&str) -> Arc<TableIndexes>,
    ) -> bool {
        if self.documents.contains(id) {
            return true;
        }
        let mut table_indexes = None;
        for read in self.ranges.iter().filter(|r| &*r.table == id.table()) {
            let defs = table_indexes.get_or_insert_with(|| indexes(id.table()));
            let Some(fields) = defs.get(&read.index) else {
                continue;
            };
            let hit =
                |doc: Option<&Document>| doc.is_some_and(|d| read.range.contains(&fields.key(d)));
            if hit(old) || hit(new) {
                return true;
            }
        }
        false
    }

    /// The documents read by id.
    pub fn documents(&self) -> impl Iterator<Item = &DocumentId> {
        self.documents.iter()
    }

    /// The index ranges scanned.
    pub fn ranges(&self) -> &[ReadRange] {
        &self.ranges
    }

    /// Whether nothing was read.
    pub fn is_empty(&self) -> bool {
        self.documents.is_empty() && self.ranges.is_empty()
    }
}

/// One write of a commit: the new version of a document, or `None` for a delete.
pub type Write = (DocumentId, Option<Arc<Document>>);

/// A transaction asking to commit.
#[derive(Debug)]
pub struct CommitRequest {
    /// The snapshot the transaction read at.
    pub snapshot: Timestamp,
    /// What it read.
    pub reads: ReadSet,
    /// What it wrote, one entry per document.
    pub writes: Vec<Write>,
    /// Whether the snapshot was opened by [`Storage::begin_exclusive`]: no other commit can
    /// have come between, and the engine must not wait for its own exclusivity.
    pub exclusive: bool,
    /// What the transaction holds until its commit is *ordered*: validated and made
    /// visible to new writable snapshots, or refused. The engine drops these then, before
    /// it waits for the commit to become durable, so that the next transaction in line
    /// (an exclusive one, or the next re-run of a contended mutation) starts at once.
    pub held: Vec<Held>,
}

impl CommitRequest {
    /// A request from an ordinary (not exclusive) snapshot that holds nothing.
    pub fn new(snapshot: Timestamp, reads: ReadSet, writes: Vec<Write>) -> Self {
        CommitRequest {
            snapshot,
            reads,
            writes,
            exclusive: false,
            held: Vec::new(),
        }
    }
}

/// Something a transaction holds until its commit is ordered (see
/// [`CommitRequest::held`]): a lock guard, the exclusivity of [`Storage::begin_exclusive`].
/// Dropping it lets go of what it holds.
pub struct Held(#[allow(dead_code)] Box<dyn Send + Sync>);

impl Held {
    /// Holds `value` until this is dropped.
    pub fn new(value: impl Send + Sync + 'static) -> Self {
        Held(Box::new(value))
    }
}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Held")
    }
}

/// A snapshot opened by [`Storage::begin_exclusive`]: its number, and the exclusivity
/// itself, which ends when `hold` is dropped (the runtime passes it in
/// [`CommitRequest::held`], so it ends once the commit is ordered).
#[derive(Debug)]
pub struct Exclusive {
    /// The snapshot, as [`Storage::begin`] would return it.
    pub snapshot: Timestamp,
    /// While this lives, no other transaction commits.
    pub hold: Held,
}

/// The future of a storage operation: already complete for the in-process engines (no
/// allocation, no wake-up), boxed for engines that wait on the network.
///
/// ```
/// use convoke::store::StoreFuture;
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// assert_eq!(StoreFuture::ready(7).await, 7);
/// assert_eq!(StoreFuture::boxed(async { 8 }).await, 8);
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use = "futures do nothing unless awaited"]
pub struct StoreFuture<'a, T>(FutureState<'a, T>);

enum FutureState<'a, T> {
    Ready(Option<T>),
    Boxed(Pin<Box<dyn Future<Output = T> + Send + 'a>>),
}

impl<'a, T> StoreFuture<'a, T> {
    /// A future already holding its output.
    pub fn ready(value: T) -> Self {
        StoreFuture(FutureState::Ready(Some(value)))
    }

    /// A future that runs `future`.
    pub fn boxed(future: impl Future<Output = T> + Send + 'a) -> Self {
        StoreFuture(FutureState::Boxed(Box::pin(future)))
    }
}

// The output is moved out, never pinned in place: the future is `Unpin` whatever `T` is.
impl<T> Unpin for StoreFuture<'_, T> {}

impl<T> Future for StoreFuture<'_, T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match &mut self.0 {
            FutureState::Ready(value) => match value.take() {
                Some(value) => Poll::Ready(value),
                None => Poll::Pending,
            },
            FutureState::Boxed(future) => future.as_mut().poll(cx),
        }
    }
}

impl<T> std::fmt::Debug for StoreFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            FutureState::Ready(_) => "StoreFuture::Ready",
            FutureState::Boxed(_) => "StoreFuture::Boxed",
        })
    }
}

/// A storage engine. See the [module documentation](self).
///
/// Reads and commits return a [`StoreFuture`]: the in-process engines answer at once,
/// [`PostgresStore`] over the network. A snapshot is identified by the number
/// [`Storage::begin`] returns; what it means is the engine's (the commit it reads at for
/// the in-process engines, an open database transaction for PostgreSQL).
pub trait Storage: Send + Sync + 'static {
    /// Declares the tables and their indexes; called once before any transaction, and
    /// again whenever the schema changes (indexes are then rebuilt). A start-up step: it
    /// may block the calling thread.
    fn set_schema(&self, schema: &Schema) -> Result<(), StoreError>;

    /// Opens a snapshot at the latest commit and keeps it readable until
    /// [`Storage::release`] is called with the same number. `writable`: the transaction
    /// may commit writes (a mutation's), rather than only read (a query's).
    ///
    /// An engine with group commit may show a writable snapshot commits that are ordered
    /// but not yet durable (its commit is then acknowledged only after theirs), and must
    /// show a read-only snapshot durable commits only.
    fn begin(&self, writable: bool) -> Timestamp;

    /// Opens a writable snapshot, like `begin(true)`, in which no other transaction can
    /// commit: once the commits in progress are ordered, other commits wait until
    /// [`Exclusive::hold`] is dropped, by this transaction's commit or instead of it. So its
    /// own commit cannot conflict. The runtime runs a mutation this way after it conflicted
    /// repeatedly (see the runtime's contention settings), so that it makes progress
    /// however hot the documents it touches are.
    ///
    /// In-process engines hold back this process's commits; a store that several processes
    /// share must hold back every process's (PostgreSQL takes its commit lock).
    fn begin_exclusive(&self) -> StoreFuture<'_, Result<Exclusive, StoreError>>;

    /// Whether every commit `snapshot` shows is durable, so that a transaction that read it
    /// and wrote nothing may return without asking the engine. The default, `true`, is right
    /// for an engine whose snapshots show durable commits only; one with group commit says
    /// `false` while a writable snapshot shows a commit not yet on disk.
    fn is_durable(&self, snapshot: Timestamp) -> bool {
        let _ = snapshot;
        true
    }

    /// Releases a snapshot opened by [`Storage::begin`] or [`Storage::begin_exclusive`]
    /// (after its commit, or instead).
    fn release(&self, snapshot: Timestamp);

    /// The document with this id as of `snapshot`.
    fn get<'a>(
        &'a self,
        snapshot: Timestamp,
        id: &'a DocumentId,
    ) -> StoreFuture<'a, Result<Option<Arc<Document>>, StoreError>>;

    /// Documents of `table` whose key in `index` lies in `range`, as of `snapshot`, in
    /// `order`, at most `limit` of them.
    fn scan<'a>(
        &'a self,
        snapshot: Timestamp,
        table: &'a str,
        index: &'a str,
        range: &'a KeyRange,
        order: Order,
        limit: Option<usize>,
    ) -> StoreFuture<'a, Result<Vec<Arc<Document>>, StoreError>>;

    /// A fresh id for a new document of `table`, never handed out before (by this or any
    /// other process sharing the store), for the transaction `snapshot` to insert.
    fn allocate_id<'a>(
        &'a self,
        snapshot: Timestamp,
        table: &'a str,
    ) -> StoreFuture<'a, Result<DocumentId, StoreError>>;

    /// Locks the document `id` for the rest of the transaction `snapshot`, unless another
    /// transaction holds it: then `false`, without waiting. The scheduler claims a job this
    /// way before running it, so that runtimes sharing one database do not run it twice
    /// at once. Engines used by one process only need no lock: the default says `true`.
    fn try_lock<'a>(
        &'a self,
        snapshot: Timestamp,
        id: &'a DocumentId,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        let _ = (snapshot, id);
        StoreFuture::ready(Ok(true))
    }

    /// Validates the request's reads against every commit after its snapshot and, if none
    /// conflicts, applies its writes atomically as a new commit. Once this returns `Ok`,
    /// the commit is durable (for durable engines). A request that writes nothing commits
    /// nothing: the engine returns once its snapshot is durable. The request's
    /// [`held`](CommitRequest::held) values are dropped once the commit is ordered.
    fn commit(&self, request: CommitRequest) -> StoreFuture<'_, Result<Timestamp, StoreError>>;

    /// For a store other processes share: an id for this process's scheduler, which no
    /// other living process has. A scheduled action records it when it starts, so that
    /// other processes can tell whether it is still running ([`Storage::is_runner_alive`])
    /// or was interrupted. `None` (the default): one process only, which owns every
    /// running action.
    fn runner_id(&self) -> StoreFuture<'_, Result<Option<i64>, StoreError>> {
        StoreFuture::ready(Ok(None))
    }

    /// Whether the process that took `runner` from [`Storage::runner_id`] still lives.
    fn is_runner_alive(&self, runner: i64) -> StoreFuture<'_, Result<bool, StoreError>> {
        let _ = runner;
        StoreFuture::ready(Ok(false))
    }

    /// For a store other processes commit to (a shared database): how often a scheduler
    /// looks for due jobs it was not told about. `None` (the default): this process makes
    /// every commit, so the scheduler is woken by them and never polls.
    fn poll_interval(&self) -> Option<std::time::Duration> {
        None
    }
}
