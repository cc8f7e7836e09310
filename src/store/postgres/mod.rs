//! The PostgreSQL engine: one database shared by any number of runtime processes.
//!
//! The same transaction model as the in-process engines, with PostgreSQL holding the data:
//!
//! - **Reads** run in a PostgreSQL `REPEATABLE READ` transaction, opened on a pooled
//!   connection at the transaction's first read. Its first statement reads the number of
//!   the latest commit, which is then the snapshot's commit number: PostgreSQL's snapshot
//!   shows exactly the commits up to it.
//! - **Writes** stay in the transaction layer until commit.
//! - **Commit** is optimistic concurrency control with one committer at a time across every
//!   process sharing the database (a PostgreSQL advisory lock, held for the commit only):
//!   the plpgsql function `apply_commit` checks the transaction's read set (documents read
//!   by id, index ranges scanned) against the index keys every later commit changed, kept
//!   in `commit_keys`; if none lies in what it read, it writes the documents, their index
//!   entries and its own changed keys under the next commit number. Each process's
//!   committer task sends the commits queued meanwhile as one PostgreSQL transaction, in
//!   one round trip (group commit: they share the lock, the round trip and the flush).
//!   Conflicts are exact, as in the in-process engines (an insert next to a scanned range
//!   does not conflict, an insert into it does), and the order of commits is the order of
//!   serialization. PostgreSQL's own serialization failures and deadlocks, should a
//!   statement meet one, are conflicts too: the runtime re-runs the mutation.
//! - **Exclusive transactions** (`Storage::begin_exclusive`, for a mutation that conflicted
//!   twice) run on a connection of their own in `READ COMMITTED`: they take the same
//!   advisory lock first, then read the latest commit number, so they see every commit and
//!   no process commits until their own `COMMIT`, which follows `apply_commit` on that
//!   connection.
//!
//! Layout, in a schema of its own (`convoke` unless configured):
//!
//! - `documents (tbl, num, creation_time, fields)`: one row per document, its fields as
//!   Convex JSON text (field order, int64, bytes and special floats kept);
//! - `index_entries (tbl, idx, key, num)`: one row per document and index, `key` the index
//!   key as bytes in key order (see `key.rs`), so indexed ranges, order and limits are one
//!   index range scan in SQL and pagination never loads a table;
//! - `indexes (tbl, idx, definition)`: the indexes the entries were built for; at start a
//!   changed or new index is rebuilt, a removed one dropped;
//! - `commit_log (seq, committed_at)` and `commit_keys (seq, tbl, idx, key)`: the recent
//!   commits and the index keys each changed (old and new), for validation; pruned after
//!   ten minutes (a transaction older than that conflicts and runs again);
//! - `meta (key, value)`: the layout version, the latest commit number, the pruning mark;
//! - the sequence `document_numbers`: document numbers, handed out in blocks.

mod classify;
mod committer;
mod config;
mod connect;
mod key;
mod migrate;
mod notify;
mod rows;
mod snapshot;
mod sql;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::{Bound, Range};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use deadpool_postgres::{ManagerConfig, Pool, RecyclingMethod};

pub use self::config::PostgresConfig;

use self::classify::{Phase, classify, pool_error};
use self::committer::QueuedCommit;
use self::config::is_identifier;
use self::connect::Connector;
use self::rows::{document, from_sql, to_sql};
use self::snapshot::{OpenTransaction, end_snapshot};
use self::sql::Statements;
use super::{
    CommitRequest, Document, DocumentId, Exclusive, KeyRange, Order, Schema, Storage, StoreError,
    StoreFuture, Timestamp,
};

/// The PostgreSQL engine: one database shared by any number of runtime processes, with
/// the same transaction model as the in-process engines.
///
/// ```no_run
/// use convoke::{Runtime, store::PostgresStore};
/// let rt = Runtime::builder()
///     .storage(PostgresStore::connect("postgres://postgres@127.0.0.1:5432/app")?)
///     .build()?; // creates or migrates the tables
/// // or, the same: Runtime::postgres("postgres://postgres@127.0.0.1:5432/app")?
/// # Ok::<(), convoke::Error>(())
/// ```
pub struct PostgresStore {
    pool: Pool,
    pg_config: tokio_postgres::Config,
    /// Plain or TLS, for every connection.
    connector: Connector,
    config: PostgresConfig,
    sql: Arc<Statements>,
    schema: RwLock<Arc<Schema>>,
    open: Mutex<HashMap<u64, Arc<tokio::sync::Mutex<OpenTransaction>>>>,
    next_handle: AtomicU64,
    /// Document numbers taken from the sequence and not handed out yet.
    numbers: Mutex<Range<u64>>,
    /// Commits made by this store (see [`Committer`](committer::Committer)).
    commits: Arc<AtomicU64>,
    /// The queue of the committer task, started by the first commit (again if its tokio
    /// runtime has ended).
    committer: Mutex<Option<tokio::sync::mpsc::UnboundedSender<QueuedCommit>>>,
    /// This process's runner id, and the connection holding its advisory lock (which
    /// PostgreSQL releases when the connection ends: the process is then known gone).
    runner: tokio::sync::Mutex<Option<(i64, tokio_postgres::Client)>>,
    /// This store's id in commit notifications (see [`notify`]), to tell its own apart.
    origin: u64,
    /// Other stores' commits, from the listening task (started by the first receiver).
    foreign: tokio::sync::broadcast::Sender<super::ForeignCommit>,
    listening: Arc<std::sync::atomic::AtomicBool>,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("schema", &self.config.schema)
            .field("max_connections", &self.config.max_connections)
            .finish_non_exhaustive()
    }
}

/// Document numbers taken from the sequence at a time (its increment).
const NUMBER_BLOCK: u64 = 64;

impl PostgresStore {
    /// A store on the database at `url` with the default [`PostgresConfig`]. Connections
    /// are opened when needed; the tables are created or migrated when a runtime is built
    /// on the store.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        Self::with_config(PostgresConfig::new(url))
    }

    /// A store with this configuration.
    pub fn with_config(config: PostgresConfig) -> Result<Self, StoreError> {
        if !is_identifier(&config.schema) {
            return Err(StoreError::Engine(format!(
                "'{}' is not a valid schema name: use lowercase letters, digits and '_', starting with a letter or '_'",
                config.schema
            )));
        }
        let mut pg_config: tokio_postgres::Config = config
            .url
            .parse()
            .map_err(|e| StoreError::Engine(format!("invalid PostgreSQL URL: {e}")))?;
        pg_config.connect_timeout(config.connect_timeout);
        if pg_config.get_application_name().is_none() {
            pg_config.application_name("convoke");
        }
        let options = format!(
            "{} -c statement_timeout={} -c idle_in_transaction_session_timeout={}",
            pg_config.get_options().unwrap_or(""),
            config.statement_timeout.as_millis(),
            (config.statement_timeout * 2).as_millis(),
        );
        pg_config.options(options.trim());
        let connector = Connector::new(&pg_config, &config)?;
        let manager = connector.manager(
            pg_config.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(config.max_connections.max(1))
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.connect_timeout))
            .recycle_timeout(Some(config.connect_timeout))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Engine(format!("cannot create the connection pool: {e}")))?;
        Ok(PostgresStore {
            pool,
            pg_config,
            connector,
            sql: Arc::new(Statements::new(&config.schema)),
            config,
            schema: RwLock::new(Arc::new(Schema::default())),
            open: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(1),
            numbers: Mutex::new(0..0),
            commits: Arc::new(AtomicU64::new(0)),
            committer: Mutex::new(None),
            runner: tokio::sync::Mutex::new(None),
            origin: store_origin(),
            foreign: tokio::sync::broadcast::channel(1024).0,
            listening: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        })
    }

    /// The configuration the store was made with.
    pub fn config(&self) -> &PostgresConfig {
        &self.config
    }

    fn schema(&self) -> Arc<Schema> {
        self.schema
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    async fn get_document(
        &self,
        handle: Timestamp,
        id: &DocumentId,
    ) -> Result<Option<Arc<Document>>, StoreError> {
        let entry = self.transaction(handle)?;
        let mut tx = entry.lock().await;
        let (connection, begin) = self.connection(&mut tx).await?;
        let (begun, result) = Self::with_begin(connection, begin, async {
            let statement = connection.prepare_cached(&self.sql.get).await?;
            connection
                .query_opt(&statement, &[&id.table(), &to_sql(id.number())])
                .await
        })
        .await;
        self.begun(&mut tx, begun)?;
        let row = match result {
            Ok(row) => row,
            Err(e) => return Err(Self::failed(&mut tx, classify(&e, id.table(), Phase::Read))),
        };
        row.map(|row| document(id.clone(), row.get(0), row.get(1)).map(Arc::new))
            .transpose()
    }

    async fn scan_documents(
        &self,
        handle: Timestamp,
        table: &str,
        index: &str,
        range: &KeyRange,
        order: Order,
        limit: Option<usize>,
    ) -> Result<Vec<Arc<Document>>, StoreError> {
        let defs = self.schema().table(table);
        // The transaction layer checks the index first: an unknown one is the caller's bug.
        if defs.get(index).is_none() {
            return Err(StoreError::Engine(format!(
                "scan of an unknown index: table '{table}' has no index '{index}' (its indexes: {})",
                defs.names()
            )));
        }
        let bounds = range.map_bounds();
        if KeyRange::is_empty_map_range(&bounds) || limit == Some(0) {
            return Ok(Vec::new());
        }
        let (lower, lower_inclusive) = match &bounds.0 {
            Bound::Unbounded => (Vec::new(), true),
            Bound::Included(k) => (key::encode(k), true),
            Bound::Excluded(k) => (key::encode(k), false),
        };
        let (upper, upper_inclusive) = match &bounds.1 {
            // Every key starts with a type tag below 0xFF.
            Bound::Unbounded => (vec![0xFF], false),
            Bound::Included(k) => (key::encode(k), true),
            Bound::Excluded(k) => (key::encode(k), false),
        };
        let sql = self.sql.scan(lower_inclusive, upper_inclusive, order);
        let limit = limit.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let entry = self.transaction(handle)?;
        let mut tx = entry.lock().await;
        let table: Arc<str> = Arc::from(table);
        let mut fetch = limit;
        loop {
            let (connection, begin) = self.connection(&mut tx).await?;
            let (begun, result) = Self::with_begin(connection, begin, async {
                let statement = connection.prepare_cached(sql).await?;
                connection
                    .query(&statement, &[&&*table, &index, &lower, &upper, &fetch])
                    .await
            })
            .await;
            self.begun(&mut tx, begun)?;
            let rows = match result {
                Ok(rows) => rows,
                Err(e) => return Err(Self::failed(&mut tx, classify(&e, &table, Phase::Read))),
            };
            let mut docs = Vec::with_capacity(rows.len());
            let mut skipped: i64 = 0;
            for row in &rows {
                let id = DocumentId::new(table.clone(), from_sql(row.get(0)));
                // One document that does not decode must not make the table unreadable:
                // scans leave it out (logged); reading it by id fails with an error naming it.
                match document(id, row.get(1), row.get(2)) {
                    Ok(doc) => docs.push(Arc::new(doc)),
                    Err(e) => {
                        tracing::error!("PostgreSQL: {e}; left out of a scan");
                        skipped += 1;
                    }
                }
            }
            // Left-out documents made a limited scan come back short while more documents
            // may follow: read again, as many more as were left out (same snapshot).
            match (fetch, limit) {
                (Some(fetched), Some(wanted))
                    if skipped > 0
                        && i64::try_from(rows.len()).unwrap_or(i64::MAX) == fetched
                        && i64::try_from(docs.len()).unwrap_or(i64::MAX) < wanted =>
                {
                    fetch = Some(wanted.saturating_add(skipped));
                }
                _ => return Ok(docs),
            }
        }
    }

    async fn next_number(&self, handle: Timestamp, table: &str) -> Result<u64, StoreError> {
        let entry = self.transaction(handle)?;
        let mut tx = entry.lock().await;
        let cached = self
            .numbers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .next();
        let number = match cached {
            Some(n) => n,
            None => {
                let (connection, begin) = self.connection(&mut tx).await?;
                let (begun, result) = Self::with_begin(connection, begin, async {
                    let statement = connection.prepare_cached(&self.sql.next_block).await?;
                    connection.query_one(&statement, &[]).await
                })
                .await;
                self.begun(&mut tx, begun)?;
                let first = match result {
                    Ok(row) => from_sql(row.get(0)),
                    Err(e) => {
                        return Err(Self::failed(&mut tx, classify(&e, table, Phase::Read)));
                    }
                };
                // Another transaction may have refilled meanwhile: the rest of its block is
                // lost (numbers need to be unique, not dense).
                *self.numbers.lock().unwrap_or_else(PoisonError::into_inner) =
                    first + 1..first + NUMBER_BLOCK;
                first
            }
        };
        tx.allocated.insert(number);
        Ok(number)
    }

    async fn lock_document(&self, handle: Timestamp, id: &DocumentId) -> Result<bool, StoreError> {
        let entry = self.transaction(handle)?;
        let mut tx = entry.lock().await;
        if !tx.writable {
            return Err(StoreError::Engine(
                "try_lock in a read-only transaction".to_owned(),
            ));
        }
        let (connection, begin) = self.connection(&mut tx).await?;
        let (begun, result) = Self::with_begin(connection, begin, async {
            let statement = connection.prepare_cached(&self.sql.lock).await?;
            connection
                .query_one(&statement, &[&id.table(), &to_sql(id.number())])
                .await
        })
        .await;
        self.begun(&mut tx, begun)?;
        match result {
            Ok(row) => Ok(row.get(0)),
            Err(e) => Err(Self::failed(&mut tx, classify(&e, id.table(), Phase::Read))),
        }
    }

    /// This process's runner id, taken from a sequence, with an advisory lock on it held by
    /// a connection of its own. If that connection was lost (the database restarted), a
    /// new id is taken: actions started under the old one count as interrupted.
    async fn current_runner(&self) -> Result<i64, StoreError> {
        let mut runner = self.runner.lock().await;
        if let Some((id, client)) = &*runner
            && !client.is_closed()
        {
            return Ok(*id);
        }
        *runner = None;
        let (client, _driver) = self.connector.connect(&self.pg_config).await?;
        // An id whose lock is held (the sequence cycled back to a live process) is skipped.
        for _ in 0..8 {
            let row = client
                .query_opt(&self.sql.take_runner_id, &[&self.config.schema])
                .await
                .map_err(|e| classify(&e, "", Phase::Read))?;
            if let Some(row) = row {
                let id: i64 = row.get(0);
                *runner = Some((id, client));
                return Ok(id);
            }
        }
        Err(StoreError::Engine(
            "no free runner id: the runner_ids sequence keeps landing on live processes".to_owned(),
        ))
    }

    async fn runner_alive(&self, runner: i64) -> Result<bool, StoreError> {
        if let Some((id, client)) = &*self.runner.lock().await
            && *id == runner
            && !client.is_closed()
        {
            return Ok(true);
        }
        let connection = self.pool.get().await.map_err(|e| pool_error(&e))?;
        let row = connection
            .query_one(&self.sql.runner_alive, &[&self.config.schema, &runner])
            .await
            .map_err(|e| classify(&e, "", Phase::Read))?;
        Ok(row.get(0))
    }
}

impl Storage for PostgresStore {
    fn set_schema(&self, schema: &Schema) -> Result<(), StoreError> {
        *self.schema.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(schema.clone());
        // A start-up step, called from synchronous code that may itself run on a tokio
        // runtime: the migration runs on a runtime of its own, on a thread of its own.
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| StoreError::Engine(format!("cannot start a runtime: {e}")))?;
                    runtime.block_on(self.migrate(schema))
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(StoreError::Engine(
                        "the schema migration panicked".to_owned(),
                    ))
                })
        })
    }

    fn begin(&self, writable: bool) -> Timestamp {
        self.open_transaction(OpenTransaction {
            writable,
            exclusive: false,
            connection: None,
            snapshot_commit: None,
            failed: None,
            allocated: HashSet::new(),
        })
    }

    fn begin_exclusive(&self) -> StoreFuture<'_, Result<Exclusive, StoreError>> {
        StoreFuture::boxed(self.open_exclusive())
    }

    fn release(&self, snapshot: Timestamp) {
        let Some(entry) = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&snapshot)
        else {
            return;
        };
        let connection = match entry.try_lock() {
            Ok(mut tx) => tx.connection.take(),
            // An operation still holds it (its future was dropped mid-way elsewhere):
            // the connection ends with the last reference, and PostgreSQL rolls back.
            Err(_) => return,
        };
        let Some(connection) = connection else {
            return;
        };
        end_snapshot(connection);
    }

    fn get<'a>(
        &'a self,
        snapshot: Timestamp,
        id: &'a DocumentId,
    ) -> StoreFuture<'a, Result<Option<Arc<Document>>, StoreError>> {
        StoreFuture::boxed(self.get_document(snapshot, id))
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
        StoreFuture::boxed(self.scan_documents(snapshot, table, index, range, order, limit))
    }

    fn allocate_id<'a>(
        &'a self,
        snapshot: Timestamp,
        table: &'a str,
    ) -> StoreFuture<'a, Result<DocumentId, StoreError>> {
        StoreFuture::boxed(async move {
            let number = self.next_number(snapshot, table).await?;
            Ok(DocumentId::new(table, number))
        })
    }

    fn try_lock<'a>(
        &'a self,
        snapshot: Timestamp,
        id: &'a DocumentId,
    ) -> StoreFuture<'a, Result<bool, StoreError>> {
        StoreFuture::boxed(self.lock_document(snapshot, id))
    }

    fn commit(&self, request: CommitRequest) -> StoreFuture<'_, Result<Timestamp, StoreError>> {
        StoreFuture::boxed(self.commit_writes(request))
    }

    fn runner_id(&self) -> StoreFuture<'_, Result<Option<i64>, StoreError>> {
        StoreFuture::boxed(async move { self.current_runner().await.map(Some) })
    }

    fn is_runner_alive(&self, runner: i64) -> StoreFuture<'_, Result<bool, StoreError>> {
        StoreFuture::boxed(self.runner_alive(runner))
    }

    fn foreign_commits(&self) -> Option<tokio::sync::broadcast::Receiver<super::ForeignCommit>> {
        let receiver = self.foreign.subscribe();
        if !self
            .listening
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(notify::listen(
                        self.connector.clone(),
                        self.pg_config.clone(),
                        notify::channel(&self.config.schema),
                        self.origin,
                        self.foreign.clone(),
                        self.listening.clone(),
                    ));
                }
                Err(_) => {
                    self.listening
                        .store(false, std::sync::atomic::Ordering::SeqCst);
                    return None;
                }
            }
        }
        Some(receiver)
    }

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.config.poll_interval)
    }
}

/// A number no other store (in this or another process) is likely to have: the clock's
/// nanoseconds mixed with the process id and a counter.
fn store_origin() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let count = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    (nanos ^ (u64::from(std::process::id()) << 40))
        .wrapping_add(count.wrapping_mul(0x9e37_79b9_7f4a_7c15))
}
