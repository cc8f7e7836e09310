//! Storage engines: where committed documents live.
//!
//! An engine keeps versions of documents by commit timestamp, serves reads at a snapshot,
//! and commits a transaction's writes atomically after checking its read set against every
//! commit made since its snapshot (optimistic concurrency control, serializable). The
//! transaction layer ([`db`](super::db)) sits on top and is the same for every engine.
//!
//! Engines: [`MemoryStore`] (in-memory, for tests and examples), [`SqliteStore`]
//! (durable, in a data directory: the in-memory engine with commits written to SQLite in
//! groups, each acknowledged once it is on disk) and [`PostgresStore`] (a PostgreSQL
//! database shared by many processes, which checks serializability itself).
//!
//! A transaction that conflicted repeatedly runs in an exclusive snapshot
//! ([`Storage::begin_exclusive`]): no other transaction commits until its commit is
//! ordered, so it cannot conflict again.
//!
//! This module also holds the stored model the engines and the transaction layer share:
//! documents and their ids ([`Document`], [`DocumentId`]), index keys and ranges
//! ([`IndexFields`], [`KeyRange`]), the tables' indexes ([`Schema`]) and what a transaction
//! read ([`ReadSet`]).

mod document;
// The durable engines' document format.
#[cfg_attr(not(any(feature = "sqlite", feature = "postgres")), allow(dead_code))]
pub(crate) mod document_json;
mod error;
mod key;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
mod read_set;
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::future::ReadyOrBoxed;

pub use document::{Document, DocumentId, Order, Timestamp, fields_size};
pub use error::StoreError;
pub use key::{BY_CREATION_TIME, BY_ID, IndexFields, IndexKey, KeyPart, KeyRange};
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
pub use postgres::{PostgresConfig, PostgresStore};
pub use read_set::{ReadRange, ReadSet};
pub use schema::{Schema, TableIndexes};
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::SqliteStore;

/// A commit another process made to a store they share, as the engine learned of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForeignCommit {
    /// A commit that wrote documents of these tables.
    Tables(Vec<String>),
    /// Commits may have been missed (the engine lost its notifications for a while, or a
    /// commit wrote too many tables to list): anything may have changed.
    Unknown,
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
pub struct StoreFuture<'a, T>(ReadyOrBoxed<'a, T>);

impl<'a, T> StoreFuture<'a, T> {
    /// A future already holding its output.
    pub fn ready(value: T) -> Self {
        StoreFuture(ReadyOrBoxed::ready(value))
    }

    /// A future that runs `future`.
    pub fn boxed(future: impl Future<Output = T> + Send + 'a) -> Self {
        StoreFuture(ReadyOrBoxed::boxed(future))
    }
}

impl<T> Future for StoreFuture<'_, T> {
    type Output = T;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx)
    }
}

impl<T> std::fmt::Debug for StoreFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_ready() {
            "StoreFuture::Ready"
        } else {
            "StoreFuture::Boxed"
        })
    }
}

/// A storage engine. See the [module documentation](self).
///
/// Reads and commits return a [`StoreFuture`]: the in-process engines answer at once,
/// [`PostgresStore`] over the network. A snapshot is identified by the number
/// [`Storage::begin`] returns; what it means is the engine's (the commit it reads at for
/// the in-process engines, an open database transaction for PostgreSQL).
///
/// The trait and the types it exchanges (documents and their ids, index keys and ranges, the
/// schema, read sets, commit requests) are the engine SPI: what a third-party engine
/// implements, with everything it needs importable from this module. It is **unstable before 1.0**: methods may be
/// added, changed or removed in any release.
///
/// # Transactions
///
/// [`set_schema`](Storage::set_schema) at start-up; then per transaction
/// [`begin`](Storage::begin) (or [`begin_exclusive`](Storage::begin_exclusive)), reads
/// ([`get`](Storage::get), [`scan`](Storage::scan)), [`allocate_id`](Storage::allocate_id)
/// for inserts, [`commit`](Storage::commit), and [`release`](Storage::release).
///
/// # Scheduler hooks (shared stores)
///
/// The scheduler uses four methods to share one store between processes:
/// [`try_lock`](Storage::try_lock) (claiming a job), [`runner_id`](Storage::runner_id) and
/// [`is_runner_alive`](Storage::is_runner_alive) (telling an interrupted action from a
/// running one) and [`poll_interval`](Storage::poll_interval) (noticing jobs other processes
/// scheduled). Their defaults are right for a store one process owns; an engine that several
/// processes share overrides all four.
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

    /// Validates the request's reads against every commit after its snapshot and, if none
    /// conflicts, applies its writes atomically as a new commit. Once this returns `Ok`,
    /// the commit is durable (for durable engines). A request that writes nothing commits
    /// nothing: the engine returns once its snapshot is durable. The request's
    /// [`held`](CommitRequest::held) values are dropped once the commit is ordered.
    fn commit(&self, request: CommitRequest) -> StoreFuture<'_, Result<Timestamp, StoreError>>;

    // Scheduler hooks (see "Scheduler hooks" above): the defaults suit a store that one
    // process owns.

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

    /// For a store other processes commit to: the commits they make, as they become known
    /// (the runtime's subscriptions re-run the queries that read those tables). Called from
    /// within a tokio runtime, which an engine may start a task on. `None` (the default):
    /// this process makes every commit.
    fn foreign_commits(&self) -> Option<tokio::sync::broadcast::Receiver<ForeignCommit>> {
        None
    }
}
