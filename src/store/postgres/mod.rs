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

mod connect;
mod key;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::ops::{Bound, Range};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use deadpool_postgres::{ManagerConfig, Object, Pool, PoolError, RecyclingMethod};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use self::connect::Connector;
use super::document_json;
use super::{
    CommitRequest, Document, Exclusive, Held, Order, ReadSet, Storage, StoreError, StoreFuture,
    Timestamp,
};
use crate::db::DocumentId;
use crate::db::index::{BY_ID, KeyPart, KeyRange};
use crate::db::schema::Schema;
use crate::value::Value;

/// How a [`PostgresStore`] connects, and its limits.
///
/// ```
/// use std::time::Duration;
/// use convoke::store::PostgresConfig;
/// let mut config = PostgresConfig::new("postgres://app@db.internal/prod");
/// config.schema = "shop".to_owned();
/// config.max_connections = 32;
/// assert_eq!(config.acquire_timeout, Duration::from_secs(5));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresConfig {
    /// The database, as a `postgres://user:password@host:port/database` URL or a
    /// `host=.. user=..` string. With `sslmode=require` (as in
    /// `postgres://app@db.example.com/app?sslmode=require`) every connection uses TLS and
    /// the server's certificate is verified, chain and host name, against the system's
    /// certificate authorities and [`root_certificates`](Self::root_certificates); this needs
    /// convoke's `tls` feature. Otherwise (`sslmode=prefer`, the default, or `disable`) the
    /// connections are plain: use them on a trusted network or a local socket.
    pub url: String,
    /// The PostgreSQL schema holding convoke's tables (default `convoke`); created if
    /// missing. Runtimes sharing data use the same one.
    pub schema: String,
    /// Connections in the pool (default 16). Each running transaction holds one.
    pub max_connections: usize,
    /// How long opening a connection may take (default 5 s).
    pub connect_timeout: Duration,
    /// How long a transaction waits for a free connection before failing with
    /// [`StoreError::Unavailable`] (default 5 s).
    pub acquire_timeout: Duration,
    /// The longest a single statement may run (default 30 s).
    pub statement_timeout: Duration,
    /// How often the scheduler looks for due jobs other processes scheduled (default 1 s;
    /// jobs this process schedules wake it at once).
    pub poll_interval: Duration,
    /// PEM files of certificate authorities to trust for TLS besides the system's, such as
    /// a hosted database's own CA bundle or a self-signed server certificate (default
    /// none). Used with `sslmode=require` only.
    pub root_certificates: Vec<PathBuf>,
}

impl PostgresConfig {
    /// The defaults, for the database at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            schema: "convoke".to_owned(),
            max_connections: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(5),
            statement_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            root_certificates: Vec::new(),
        }
    }
}

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
    /// Commits made by this store (see [`Committer`]).
    commits: Arc<AtomicU64>,
    /// The queue of the committer task, started by the first commit (again if its tokio
    /// runtime has ended).
    committer: Mutex<Option<tokio::sync::mpsc::UnboundedSender<QueuedCommit>>>,
    /// This process's runner id, and the connection holding its advisory lock (which
    /// PostgreSQL releases when the connection ends: the process is then known gone).
    runner: tokio::sync::Mutex<Option<(i64, tokio_postgres::Client)>>,
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

/// How often (in this process's commits) a commit also prunes the commit log of commits
/// older than [`COMMIT_LOG_RETENTION`].
const PRUNE_EVERY: u64 = 256;

/// How long commits are kept for validation: a transaction whose snapshot is older than
/// the pruned commits conflicts (statements time out much sooner).
const COMMIT_LOG_RETENTION: &str = "10 minutes";

/// Commits one process sends in one PostgreSQL transaction, at most.
const MAX_BATCH: usize = 64;

/// A commit waiting for the committer: its snapshot's commit number, what it read, what it
/// writes, and where its outcome goes.
struct QueuedCommit {
    snapshot: i64,
    reads: ReadRanges,
    rows: WriteRows,
    /// The table named by a conflict `apply_commit` cannot name (a pruned snapshot).
    table: String,
    outcome: tokio::sync::oneshot::Sender<Result<(), StoreError>>,
}

impl QueuedCommit {
    /// The arguments of `apply_commit`.
    fn params(&self) -> [&(dyn ToSql + Sync); 21] {
        apply_params(&self.snapshot, &self.reads, &self.rows)
    }
}

/// The arguments of `apply_commit` for a commit whose snapshot showed the commits up to
/// `snapshot`.
fn apply_params<'a>(
    snapshot: &'a i64,
    r: &'a ReadRanges,
    w: &'a WriteRows,
) -> [&'a (dyn ToSql + Sync); 21] {
    [
        snapshot,
        &r.tables,
        &r.indexes,
        &r.lows,
        &r.highs,
        &w.written_tables,
        &w.written_numbers,
        &w.deleted_tables,
        &w.deleted_numbers,
        &w.updated.tables,
        &w.updated.numbers,
        &w.updated.creation_times,
        &w.updated.fields,
        &w.inserted.tables,
        &w.inserted.numbers,
        &w.inserted.creation_times,
        &w.inserted.fields,
        &w.entry_tables,
        &w.entry_indexes,
        &w.entry_keys,
        &w.entry_numbers,
    ]
}

/// Where in a batch a statement failed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// `BEGIN`, the lock, pruning.
    Other,
    /// The `apply_commit` of the batch's commit at this position.
    Commit(usize),
    /// `COMMIT`.
    End,
}

/// What the committer task needs from the store.
#[derive(Clone)]
struct Committer {
    pool: Pool,
    sql: Arc<Statements>,
    schema: String,
    /// Commits made by this process: every [`PRUNE_EVERY`]th also prunes the commit log.
    commits: Arc<AtomicU64>,
}

impl Committer {
    /// Commits what arrives, in batches: each batch is one PostgreSQL transaction, sent in
    /// one round trip, so commits that queue up while one batch is written share the next
    /// batch's commit lock, round trip and flush (group commit).
    async fn run(self, mut queue: tokio::sync::mpsc::UnboundedReceiver<QueuedCommit>) {
        while let Some(first) = queue.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match queue.try_recv() {
                    Ok(commit) => batch.push(commit),
                    Err(_) => break,
                }
            }
            self.commit(batch).await;
        }
    }

    /// `BEGIN`, the commit lock, `apply_commit` for each commit in order (it checks the
    /// commit's reads against every commit since its snapshot, earlier ones of the batch
    /// included, then writes it, or names the table it conflicts on), pruning now and then,
    /// and `COMMIT`, pipelined: the lock is held while the server executes and flushes,
    /// never across the network. Each commit's outcome goes back to its transaction.
    async fn commit(&self, batch: Vec<QueuedCommit>) {
        let reply = |batch: Vec<QueuedCommit>, error: &dyn Fn(&QueuedCommit) -> StoreError| {
            for commit in batch {
                let error = error(&commit);
                let _ = commit.outcome.send(Err(error));
            }
        };
        let connection = match self.pool.get().await {
            Ok(connection) => connection,
            Err(e) => return reply(batch, &|_| pool_error(&e)),
        };
        let sql = &self.sql;
        let previous = self
            .commits
            .fetch_add(batch.len() as u64, AtomicOrdering::Relaxed);
        let prune = previous / PRUNE_EVERY != (previous + batch.len() as u64) / PRUNE_EVERY;
        // Prepared once per connection (a round trip the first time only).
        let prepared = tokio::try_join!(
            connection.prepare_cached(&sql.commit_lock),
            connection.prepare_cached(&sql.apply_commit),
            connection.prepare_cached(&sql.prune_log),
            connection.prepare_cached(&sql.prune_keys),
        );
        let (lock, apply, prune_log, prune_keys) = match prepared {
            Ok(statements) => statements,
            Err(e) => return reply(batch, &|c| classify(&e, &c.table, Phase::Begin)),
        };
        let lock_params: [&(dyn ToSql + Sync); 1] = [&self.schema];
        let params: Vec<[&(dyn ToSql + Sync); 21]> =
            batch.iter().map(QueuedCommit::params).collect();
        // Each statement its own future, all polled together: a statement is sent when its
        // future is first polled, so awaiting one before creating the next would send the
        // second after `COMMIT`.
        let pruning: Vec<_> = if prune {
            vec![&prune_log, &prune_keys]
        } else {
            Vec::new()
        };
        let pruning = join_in_order(
            pruning
                .into_iter()
                .map(|statement| connection.execute(statement, &[])),
        );
        // Sent in this order (`join5` and `join_in_order` poll every future, in order, at
        // each poll, and tokio-postgres sends a statement when first polled); PostgreSQL
        // runs them in order. After a failure the rest fail (the transaction is aborted)
        // and `COMMIT` rolls back. Should `COMMIT` ever go out before an `apply_commit`,
        // that `apply_commit` refuses to run (it checks that its transaction holds the
        // commit lock).
        let (began, locked, applied, pruned, committed) = futures::future::join5(
            connection.batch_execute("BEGIN ISOLATION LEVEL READ COMMITTED"),
            connection.execute(&lock, &lock_params),
            join_in_order(params.iter().map(|p| connection.query_one(&apply, p))),
            pruning,
            connection.batch_execute("COMMIT"),
        )
        .await;
        // The first failure in order is the cause.
        let mut failure: Option<(Step, tokio_postgres::Error)> = None;
        let mut conflicts: Vec<Option<String>> = Vec::with_capacity(batch.len());
        for result in [began, locked.map(drop)] {
            if let Err(e) = result {
                failure.get_or_insert((Step::Other, e));
            }
        }
        for (i, result) in applied.into_iter().enumerate() {
            match result {
                Ok(row) => conflicts.push(row.get::<_, Option<String>>(0)),
                Err(e) => {
                    conflicts.push(None);
                    failure.get_or_insert((Step::Commit(i), e));
                }
            }
        }
        for result in pruned {
            if let Err(e) = result {
                failure.get_or_insert((Step::Other, e));
            }
        }
        if let Err(e) = committed {
            failure.get_or_insert((Step::End, e));
        }
        if connection.is_closed() {
            drop(Object::take(connection));
        }
        for (i, (commit, conflict)) in batch.into_iter().zip(conflicts).enumerate() {
            let outcome = match (conflict, &failure) {
                // Checked and refused: not written, whatever happened next.
                (Some(table), _) => Err(StoreError::Conflict {
                    table: if table.is_empty() {
                        commit.table.clone()
                    } else {
                        table
                    },
                }),
                (None, None) => Ok(()),
                // The connection was lost, or `COMMIT` itself failed: what the server did
                // is not known, or it is its own error.
                (None, Some((step, e))) if is_connection_error(e) || *step == Step::End => {
                    Err(classify(e, &commit.table, Phase::Commit))
                }
                // This commit's own statement failed.
                (None, Some((Step::Commit(failed), e))) if *failed == i => {
                    Err(classify(e, &commit.table, Phase::Commit))
                }
                // Another statement failed and the whole batch rolled back: run it again.
                (None, Some(_)) => Err(StoreError::Conflict {
                    table: commit.table.clone(),
                }),
            };
            let _ = commit.outcome.send(outcome);
        }
    }
}

/// Awaits every future, polling all of them in order at each poll, as `join5` does: the
/// statements they send go out in this order, each when its future is first polled.
/// (`futures::future::join_all` does not promise that: past a few dozen futures it may
/// return from a poll before it has polled them all.)
async fn join_in_order<F: Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures
        .into_iter()
        .map(|future| Box::pin(futures::future::maybe_done(future)))
        .collect();
    std::future::poll_fn(|cx| {
        let mut done = true;
        for future in &mut futures {
            done &= future.as_mut().poll(cx).is_ready();
        }
        if done {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    futures
        .iter_mut()
        .filter_map(|future| future.as_mut().take_output())
        .collect()
}

/// A read set as half-open byte ranges of index keys, `[low, high)`, the columns of the
/// validation statement. A document read by id is the range of its `by_id` key.
struct ReadRanges {
    tables: Vec<String>,
    indexes: Vec<String>,
    lows: Vec<Vec<u8>>,
    highs: Vec<Vec<u8>>,
}

impl ReadRanges {
    fn new(reads: &ReadSet) -> Self {
        let mut ranges = ReadRanges {
            tables: Vec::new(),
            indexes: Vec::new(),
            lows: Vec::new(),
            highs: Vec::new(),
        };
        for id in reads.documents() {
            let key = key::encode(&[KeyPart::Value(Value::Int64(to_sql(id.number())))]);
            let high = next_after(key.clone());
            ranges.push(id.table(), BY_ID, key, high);
        }
        for read in reads.ranges() {
            let bounds = read.range.map_bounds();
            if KeyRange::is_empty_map_range(&bounds) {
                continue;
            }
            let low = match &bounds.0 {
                Bound::Unbounded => Vec::new(),
                Bound::Included(k) => key::encode(k),
                Bound::Excluded(k) => next_after(key::encode(k)),
            };
            let high = match &bounds.1 {
                Bound::Unbounded => vec![0xFF],
                Bound::Included(k) => next_after(key::encode(k)),
                Bound::Excluded(k) => key::encode(k),
            };
            ranges.push(&read.table, &read.index, low, high);
        }
        ranges
    }

    fn push(&mut self, table: &str, index: &str, low: Vec<u8>, high: Vec<u8>) {
        self.tables.push(table.to_owned());
        self.indexes.push(index.to_owned());
        self.lows.push(low);
        self.highs.push(high);
    }
}

/// The least byte string greater than `bytes`: `bytes` followed by `0x00`.
fn next_after(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.push(0x00);
    bytes
}

/// The layout this version of convoke writes; older ones are migrated at start.
const LAYOUT_VERSION: i64 = 1;

/// How a transaction's first statement found it.
enum Begun {
    /// Begun by an earlier statement.
    Already,
    /// Begun now; its snapshot shows the commits up to this number.
    At(i64),
    /// Begun, but `meta` has no commit number (not a schema convoke made).
    NoCommitNumber,
}

/// One convoke transaction's PostgreSQL side.
struct OpenTransaction {
    writable: bool,
    /// Begun with [`Storage::begin_exclusive`]: it holds the commit lock from its first
    /// statement and commits on its own connection.
    exclusive: bool,
    /// Taken from the pool at the first statement; `BEGIN` has been sent on it.
    connection: Option<Object>,
    /// The latest commit the snapshot shows (read with the snapshot's first statement);
    /// `None` until a statement has begun the snapshot.
    snapshot_commit: Option<i64>,
    /// Set by the first failure: PostgreSQL refuses every later statement of the
    /// transaction, so each later operation fails the same way.
    failed: Option<StoreError>,
    /// Numbers this transaction allocated: their documents are new (no old row, no old
    /// index entries).
    allocated: HashSet<u64>,
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        // Still open (not committed, not rolled back): the connection must not serve
        // another transaction; closing it makes PostgreSQL roll back.
        if let Some(connection) = self.connection.take() {
            drop(Object::take(connection));
        }
    }
}

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

    fn transaction(
        &self,
        handle: Timestamp,
    ) -> Result<Arc<tokio::sync::Mutex<OpenTransaction>>, StoreError> {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&handle)
            .cloned()
            .ok_or_else(|| StoreError::Engine(format!("no open transaction {handle}")))
    }

    /// The transaction's connection, taken from the pool at its first use; then also the
    /// statement that begins the transaction (and reads its snapshot's commit number),
    /// which the caller sends together with its first read, in one round trip
    /// ([`Self::with_begin`]).
    async fn connection<'s, 't>(
        &'s self,
        tx: &'t mut OpenTransaction,
    ) -> Result<(&'t Object, Option<&'s str>), StoreError> {
        if let Some(failed) = &tx.failed {
            return Err(failed.clone());
        }
        let mut begin = None;
        if tx.connection.is_none() {
            // A transaction that could not begin is doomed like one whose statement failed:
            // a caller that swallows the error cannot commit what it did after.
            let connection = match self.pool.get().await {
                Ok(connection) => connection,
                Err(e) => return Err(Self::failed(tx, pool_error(&e))),
            };
            tx.connection = Some(connection);
            begin = Some(if tx.writable {
                self.sql.begin_snapshot.as_str()
            } else {
                self.sql.begin_read_only_snapshot.as_str()
            });
        }
        match &tx.connection {
            Some(connection) => Ok((connection, begin)),
            None => Err(StoreError::Engine("no connection".to_owned())),
        }
    }

    /// Sends `begin` (if the transaction has not begun) and then `first`, pipelined.
    async fn with_begin<T>(
        connection: &Object,
        begin: Option<&str>,
        first: impl Future<Output = Result<T, tokio_postgres::Error>>,
    ) -> (
        Result<Begun, tokio_postgres::Error>,
        Result<T, tokio_postgres::Error>,
    ) {
        let begun = async move {
            let Some(begin) = begin else {
                return Ok(Begun::Already);
            };
            let messages = connection.simple_query(begin).await?;
            Ok(messages
                .iter()
                .find_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => {
                        row.get(0).and_then(|v| v.parse::<i64>().ok())
                    }
                    _ => None,
                })
                .map_or(Begun::NoCommitNumber, Begun::At))
        };
        // `join` polls in order: `BEGIN` is sent first.
        futures::future::join(begun, first).await
    }

    /// Records how the transaction began (see [`Self::connection`]); a connection that
    /// failed this early is not returned to the pool.
    fn begun(
        &self,
        tx: &mut OpenTransaction,
        begun: Result<Begun, tokio_postgres::Error>,
    ) -> Result<(), StoreError> {
        let error = match begun {
            Ok(Begun::Already) => return Ok(()),
            Ok(Begun::At(commit)) => {
                tx.snapshot_commit = Some(commit);
                return Ok(());
            }
            Ok(Begun::NoCommitNumber) => StoreError::Engine(format!(
                "schema '{}' has no commit number: was it created by convoke?",
                self.config.schema
            )),
            Err(e) => classify(&e, "", Phase::Begin),
        };
        if let Some(connection) = tx.connection.take() {
            drop(Object::take(connection));
        }
        Err(Self::failed(tx, error))
    }

    /// Records a failure: the transaction's later operations fail with it too.
    fn failed(tx: &mut OpenTransaction, error: StoreError) -> StoreError {
        tx.failed.get_or_insert(error).clone()
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
        if defs.get(index).is_none() {
            return Err(StoreError::UnknownIndex {
                table: table.to_owned(),
                index: index.to_owned(),
                available: defs.names(),
            });
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
            return Err(StoreError::ReadOnly);
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

    async fn commit_writes(&self, request: CommitRequest) -> Result<Timestamp, StoreError> {
        let entry = self.transaction(request.snapshot)?;
        let mut tx = entry.lock().await;
        if let Some(failed) = &tx.failed {
            return Err(failed.clone());
        }
        // Nothing to write: nothing to check (the snapshot was consistent) or to wait for
        // (PostgreSQL shows committed, durable data only).
        if request.writes.is_empty() {
            if let Some(connection) = tx.connection.take() {
                end_snapshot(connection);
            }
            return Ok(request.snapshot);
        }
        if tx.exclusive {
            return self.commit_exclusive(&mut tx, &request).await;
        }
        let table = request
            .writes
            .first()
            .map(|(id, _)| id.table().to_owned())
            .unwrap_or_default();
        let rows = WriteRows::new(&request, &self.schema(), &tx.allocated)?;
        // Without a snapshot nothing was read from the database: what the read set holds
        // was answered without it (a limit of 0), whatever the data, so there is nothing
        // to check.
        let (snapshot, reads) = match tx.snapshot_commit {
            Some(snapshot) => (snapshot, ReadRanges::new(&request.reads)),
            None => (0, ReadRanges::new(&ReadSet::default())),
        };
        // The snapshot ends now (and with it the locks of `try_lock`): its connection goes
        // back to the pool for the committer.
        if let Some(connection) = tx.connection.take() {
            end_snapshot(connection);
        }
        let (sender, outcome) = tokio::sync::oneshot::channel();
        self.submit(QueuedCommit {
            snapshot,
            reads,
            rows,
            table,
            outcome: sender,
        })?;
        let result = outcome.await.unwrap_or_else(|_| {
            Err(StoreError::CommitOutcomeUnknown {
                reason: "the committer stopped while committing".to_owned(),
            })
        });
        result
            .map(|()| request.snapshot)
            .map_err(|e| Self::failed(&mut tx, e))
    }

    /// Registers `tx` under a new handle, the number its operations name it by.
    fn open_transaction(&self, tx: OpenTransaction) -> Timestamp {
        let handle = self.next_handle.fetch_add(1, AtomicOrdering::Relaxed);
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(handle, Arc::new(tokio::sync::Mutex::new(tx)));
        handle
    }

    /// Opens a transaction that holds the commit lock (see [`Storage::begin_exclusive`]):
    /// it waits for the batch being committed, by this or any process, and then no other
    /// commit is made until it ends.
    async fn open_exclusive(&self) -> Result<Exclusive, StoreError> {
        let connection = self.pool.get().await.map_err(|e| pool_error(&e))?;
        let messages = match connection.simple_query(&self.sql.begin_exclusive).await {
            Ok(messages) => messages,
            Err(e) => {
                let error = classify(&e, "", Phase::Begin);
                drop(Object::take(connection));
                return Err(error);
            }
        };
        let commit = messages.iter().rev().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(row) => {
                row.get(0).and_then(|v| v.parse::<i64>().ok())
            }
            _ => None,
        });
        let Some(commit) = commit else {
            end_snapshot(connection);
            return Err(StoreError::Engine(format!(
                "schema '{}' has no commit number: was it created by convoke?",
                self.config.schema
            )));
        };
        let handle = self.open_transaction(OpenTransaction {
            writable: true,
            exclusive: true,
            connection: Some(connection),
            snapshot_commit: Some(commit),
            failed: None,
            allocated: HashSet::new(),
        });
        // The lock is the transaction's: it ends with its COMMIT or ROLLBACK.
        Ok(Exclusive {
            snapshot: handle,
            hold: Held::new(()),
        })
    }

    /// Commits an exclusive transaction on its own connection, which holds the commit
    /// lock: `apply_commit` (whose check finds nothing, as no commit came between) and
    /// `COMMIT`, pipelined.
    async fn commit_exclusive(
        &self,
        tx: &mut OpenTransaction,
        request: &CommitRequest,
    ) -> Result<Timestamp, StoreError> {
        let table = request
            .writes
            .first()
            .map(|(id, _)| id.table().to_owned())
            .unwrap_or_default();
        let rows = WriteRows::new(request, &self.schema(), &tx.allocated)?;
        let reads = ReadRanges::new(&request.reads);
        let snapshot = tx.snapshot_commit.unwrap_or(0);
        let Some(connection) = tx.connection.take() else {
            return Err(Self::failed(
                tx,
                StoreError::Engine("an exclusive transaction without its connection".to_owned()),
            ));
        };
        // Prepared first: `COMMIT` must go out after `apply_commit`, and a statement is sent
        // when its future is first polled (`join` polls in order).
        let outcome = async {
            let statement = connection
                .prepare_cached(&self.sql.apply_commit)
                .await
                .map_err(|e| classify(&e, &table, Phase::Begin))?;
            let params = apply_params(&snapshot, &reads, &rows);
            let (applied, committed) = futures::future::join(
                connection.query_one(&statement, &params),
                connection.batch_execute("COMMIT"),
            )
            .await;
            let conflict = applied
                .and_then(|row| committed.map(|()| row.get::<_, Option<String>>(0)))
                .map_err(|e| classify(&e, &table, Phase::Commit))?;
            match conflict {
                None => Ok(request.snapshot),
                // Refused (it cannot be, as it held the lock): the COMMIT wrote nothing.
                Some(hit) => Err(StoreError::Conflict {
                    table: if hit.is_empty() { table.clone() } else { hit },
                }),
            }
        }
        .await;
        if connection.is_closed() || outcome.is_err() {
            drop(Object::take(connection));
        }
        outcome.map_err(|e| Self::failed(tx, e))
    }

    /// Hands a commit to this process's committer task, starting it if needed.
    fn submit(&self, mut commit: QueuedCommit) -> Result<(), StoreError> {
        let mut committer = self
            .committer
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(queue) = committer.as_ref() {
            match queue.send(commit) {
                Ok(()) => return Ok(()),
                // Its runtime ended: start another on the current one.
                Err(tokio::sync::mpsc::error::SendError(back)) => commit = back,
            }
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            StoreError::Engine("a PostgreSQL commit needs a tokio runtime".to_owned())
        })?;
        let (queue, commits) = tokio::sync::mpsc::unbounded_channel();
        let context = Committer {
            pool: self.pool.clone(),
            sql: self.sql.clone(),
            schema: self.config.schema.clone(),
            commits: self.commits.clone(),
        };
        runtime.spawn(context.run(commits));
        let sent = queue.send(commit).is_ok();
        *committer = Some(queue);
        if sent {
            Ok(())
        } else {
            Err(StoreError::Engine("the committer did not start".to_owned()))
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

    /// Creates or migrates the tables and brings every index up to `schema`: one
    /// transaction on a connection of its own, under an advisory lock, so processes
    /// starting together migrate one after the other.
    async fn migrate(&self, schema: &Schema) -> Result<(), StoreError> {
        let (mut client, driver) = self.connector.connect(&self.pg_config).await?;
        let result = migrate_on(&mut client, &self.sql, &self.config.schema, schema).await;
        drop(client);
        let _ = driver.await;
        result
    }
}

async fn migrate_on(
    client: &mut tokio_postgres::Client,
    sql: &Statements,
    schema_name: &str,
    schema: &Schema,
) -> Result<(), StoreError> {
    let fail = |what: &str, e: tokio_postgres::Error| {
        StoreError::Engine(format!(
            "cannot {what} in schema '{schema_name}': {}",
            describe(&e)
        ))
    };
    let tx = client
        .transaction()
        .await
        .map_err(|e| classify(&e, "", Phase::Begin))?;
    // The commit lock: no commit runs while indexes are rebuilt.
    tx.execute(&sql.commit_lock, &[&schema_name])
        .await
        .map_err(|e| fail("lock the schema", e))?;
    tx.batch_execute(&sql.create_meta)
        .await
        .map_err(|e| fail("create the tables", e))?;
    let layout: Option<i64> = tx
        .query_opt(&sql.layout, &[])
        .await
        .map_err(|e| fail("read the layout version", e))?
        .map(|row| row.get(0));
    match layout {
        None => {
            tx.batch_execute(&sql.create_tables)
                .await
                .map_err(|e| fail("create the tables", e))?;
        }
        Some(v) if v > LAYOUT_VERSION => {
            return Err(StoreError::Engine(format!(
                "schema '{schema_name}' has layout {v}, written by a newer convoke (this one knows layout {LAYOUT_VERSION})"
            )));
        }
        // Later layouts: `Some(1) => { migrate to 2 }`, each step ending at its version.
        Some(_) => {}
    }
    tx.batch_execute(&sql.create_apply_commit)
        .await
        .map_err(|e| fail("create the commit function", e))?;
    // The indexes the stored entries were built for, by table.
    let mut stored: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for row in tx
        .query(&sql.stored_indexes, &[])
        .await
        .map_err(|e| fail("read the indexes", e))?
    {
        stored
            .entry(row.get(0))
            .or_default()
            .insert(row.get(1), row.get(2));
    }
    let mut tables: Vec<String> = schema.table_names().map(str::to_owned).collect();
    tables.extend(stored.keys().cloned());
    tables.sort();
    tables.dedup();
    let system: BTreeMap<String, String> = crate::db::schema::TableIndexes::system()
        .iter()
        .map(|(name, fields)| (name.to_owned(), fields.definition()))
        .collect();
    for table in tables {
        let defs = schema.table(&table);
        let wanted: BTreeMap<String, String> = defs
            .iter()
            .map(|(name, fields)| (name.to_owned(), fields.definition()))
            .collect();
        // A table without rows here has only ever had the system indexes.
        let have = stored.get(&table).unwrap_or(&system);
        if *have == wanted {
            continue;
        }
        for (name, definition) in have {
            if wanted.get(name) != Some(definition) {
                tx.execute(&sql.drop_index_entries, &[&table, name])
                    .await
                    .map_err(|e| fail("drop an index", e))?;
            }
        }
        let rebuild: Vec<&str> = wanted
            .iter()
            .filter(|(name, definition)| have.get(*name) != Some(definition))
            .map(|(name, _)| name.as_str())
            .collect();
        backfill(&tx, sql, &table, &defs, &rebuild)
            .await
            .map_err(|e| fail("build an index", e))?;
        tx.execute(&sql.forget_indexes, &[&table])
            .await
            .map_err(|e| fail("record the indexes", e))?;
        for (name, definition) in &wanted {
            tx.execute(&sql.record_index, &[&table, name, definition])
                .await
                .map_err(|e| fail("record the indexes", e))?;
        }
    }
    tx.commit()
        .await
        .map_err(|e| fail("commit the migration", e))
}

/// Builds the entries of `indexes` for every document of `table`, in batches.
async fn backfill(
    tx: &tokio_postgres::Transaction<'_>,
    sql: &Statements,
    table: &str,
    defs: &crate::db::schema::TableIndexes,
    indexes: &[&str],
) -> Result<(), tokio_postgres::Error> {
    if indexes.is_empty() {
        return Ok(());
    }
    const BATCH: i64 = 1000;
    let mut after: i64 = i64::MIN;
    loop {
        let rows = tx
            .query(&sql.documents_after, &[&table, &after, &BATCH])
            .await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.get(0);
        let mut entries = EntryRows::default();
        for row in &rows {
            let id = DocumentId::new(table, from_sql(row.get(0)));
            // A document that does not decode gets no entry; reading it reports the error.
            let Ok(doc) = document(id, row.get(1), row.get(2)) else {
                continue;
            };
            for name in indexes {
                if let Some(fields) = defs.get(name) {
                    entries.push(table, name, key::encode(&fields.key(&doc)), doc.id.number());
                }
            }
        }
        tx.execute(
            &sql.backfill_entries,
            &[
                &entries.tables,
                &entries.indexes,
                &entries.keys,
                &entries.numbers,
            ],
        )
        .await?;
    }
}

/// Index entries as the columns of an `unnest(..)` insert.
#[derive(Default)]
struct EntryRows {
    tables: Vec<String>,
    indexes: Vec<String>,
    keys: Vec<Vec<u8>>,
    numbers: Vec<i64>,
}

impl EntryRows {
    fn push(&mut self, table: &str, index: &str, key: Vec<u8>, number: u64) {
        self.tables.push(table.to_owned());
        self.indexes.push(index.to_owned());
        self.keys.push(key);
        self.numbers.push(to_sql(number));
    }
}

/// A commit's writes as the columns of array statements.
struct WriteRows {
    /// Every written document: its old index entries go.
    written_tables: Vec<String>,
    written_numbers: Vec<i64>,
    deleted_tables: Vec<String>,
    deleted_numbers: Vec<i64>,
    /// Documents this transaction created.
    inserted: DocumentRows,
    /// Documents that existed before.
    updated: DocumentRows,
    entry_tables: Vec<String>,
    entry_indexes: Vec<String>,
    entry_keys: Vec<Vec<u8>>,
    entry_numbers: Vec<i64>,
}

impl WriteRows {
    fn new(
        request: &CommitRequest,
        schema: &Schema,
        allocated: &HashSet<u64>,
    ) -> Result<Self, StoreError> {
        let n = request.writes.len();
        let mut rows = WriteRows {
            written_tables: Vec::with_capacity(n),
            written_numbers: Vec::with_capacity(n),
            deleted_tables: Vec::new(),
            deleted_numbers: Vec::new(),
            inserted: DocumentRows::default(),
            updated: DocumentRows::default(),
            entry_tables: Vec::with_capacity(3 * n),
            entry_indexes: Vec::with_capacity(3 * n),
            entry_keys: Vec::with_capacity(3 * n),
            entry_numbers: Vec::with_capacity(3 * n),
        };
        let mut indexes: HashMap<&str, Arc<crate::db::schema::TableIndexes>> = HashMap::new();
        for (id, doc) in &request.writes {
            let table = id.table();
            let number = to_sql(id.number());
            let new = allocated.contains(&id.number());
            if !new {
                rows.written_tables.push(table.to_owned());
                rows.written_numbers.push(number);
            }
            let Some(doc) = doc else {
                // Inserted and deleted again in this transaction: nothing to write.
                if !new {
                    rows.deleted_tables.push(table.to_owned());
                    rows.deleted_numbers.push(number);
                }
                continue;
            };
            let fields = document_json::encode_fields(&doc.fields).map_err(StoreError::Engine)?;
            let docs = if new {
                &mut rows.inserted
            } else {
                &mut rows.updated
            };
            docs.tables.push(table.to_owned());
            docs.numbers.push(number);
            docs.creation_times.push(doc.creation_time);
            docs.fields.push(fields);
            let defs = indexes.entry(table).or_insert_with(|| schema.table(table));
            for (name, fields) in defs.iter() {
                rows.entry_tables.push(table.to_owned());
                rows.entry_indexes.push(name.to_owned());
                rows.entry_keys.push(key::encode(&fields.key(doc)));
                rows.entry_numbers.push(number);
            }
        }
        Ok(rows)
    }
}

/// Documents as the columns of an `unnest(..)` insert.
#[derive(Default)]
struct DocumentRows {
    tables: Vec<String>,
    numbers: Vec<i64>,
    creation_times: Vec<f64>,
    fields: Vec<String>,
}

/// The SQL statements, with the schema name in them.
struct Statements {
    take_runner_id: String,
    runner_alive: String,
    begin_snapshot: String,
    begin_read_only_snapshot: String,
    begin_exclusive: String,
    commit_lock: String,
    apply_commit: String,
    prune_log: String,
    prune_keys: String,
    backfill_entries: String,
    create_meta: String,
    layout: String,
    create_tables: String,
    create_apply_commit: String,
    stored_indexes: String,
    drop_index_entries: String,
    forget_indexes: String,
    record_index: String,
    documents_after: String,
    get: String,
    /// By `[lower inclusive][upper inclusive][descending]`.
    scans: [[[String; 2]; 2]; 2],
    next_block: String,
    lock: String,
}

impl Statements {
    fn new(schema: &str) -> Self {
        let s = format!("\"{schema}\"");
        let scan = |lower: bool, upper: bool, desc: bool| {
            format!(
                "SELECT d.num, d.creation_time, d.fields FROM {s}.index_entries e \
                 JOIN {s}.documents d ON d.tbl = e.tbl AND d.num = e.num \
                 WHERE e.tbl = $1 AND e.idx = $2 AND e.key {} $3 AND e.key {} $4 \
                 ORDER BY e.key {} LIMIT $5",
                if lower { ">=" } else { ">" },
                if upper { "<=" } else { "<" },
                if desc { "DESC" } else { "ASC" },
            )
        };
        let by_bounds = |lower: bool| {
            [
                [scan(lower, false, false), scan(lower, false, true)],
                [scan(lower, true, false), scan(lower, true, true)],
            ]
        };
        // Runner locks: the two-key form, keyed by the schema, so that schemas do not share
        // runner ids.
        let runner_key = "hashtext($1 || '/runners')";
        Statements {
            take_runner_id: format!(
                "SELECT id FROM (SELECT nextval('{s}.runner_ids') AS id) n \
                 WHERE pg_try_advisory_lock({runner_key}, n.id::int)"
            ),
            runner_alive: format!(
                "SELECT CASE WHEN pg_try_advisory_lock({runner_key}, ($2::bigint)::int) \
                 THEN NOT pg_advisory_unlock({runner_key}, ($2::bigint)::int) ELSE true END"
            ),
            begin_snapshot: format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT value FROM {s}.meta WHERE key = 'commit_seq'"
            ),
            begin_read_only_snapshot: format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT value FROM {s}.meta WHERE key = 'commit_seq'"
            ),
            // The commit lock first (as `commit_lock` takes it), then the latest commit
            // number: in READ COMMITTED every later statement sees every commit up to it,
            // and no other commit can be made until this transaction ends.
            begin_exclusive: format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; \
                 SELECT pg_advisory_xact_lock(hashtext('convoke'), hashtext('{schema}'))::text, \
                 set_config('convoke.commit_lock', '{schema}', true); \
                 SELECT value FROM {s}.meta WHERE key = 'commit_seq'"
            ),
            // Also marks the transaction as holding the lock, for `apply_commit`'s check.
            commit_lock: "SELECT pg_advisory_xact_lock(hashtext('convoke'), hashtext($1)), \
                          set_config('convoke.commit_lock', $1, true)"
                .to_owned(),
            apply_commit: format!(
                "SELECT {s}.apply_commit($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, \
                 $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)"
            ),
            prune_log: format!(
                "WITH gone AS (DELETE FROM {s}.commit_log \
                 WHERE committed_at < now() - interval '{COMMIT_LOG_RETENTION}' RETURNING seq) \
                 UPDATE {s}.meta SET value = GREATEST(value, (SELECT coalesce(max(seq), 0) FROM gone)) \
                 WHERE key = 'pruned_through'"
            ),
            prune_keys: format!(
                "DELETE FROM {s}.commit_keys \
                 WHERE seq <= (SELECT value FROM {s}.meta WHERE key = 'pruned_through')"
            ),
            backfill_entries: format!(
                "INSERT INTO {s}.index_entries (tbl, idx, key, num) \
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::bigint[])"
            ),
            create_meta: format!(
                "CREATE SCHEMA IF NOT EXISTS {s};
                 CREATE TABLE IF NOT EXISTS {s}.meta (key text PRIMARY KEY, value bigint NOT NULL);"
            ),
            layout: format!("SELECT value FROM {s}.meta WHERE key = 'layout'"),
            create_tables: format!(
                "CREATE TABLE {s}.documents (
                     tbl text NOT NULL,
                     num bigint NOT NULL,
                     creation_time double precision NOT NULL,
                     fields text NOT NULL,
                     PRIMARY KEY (tbl, num)
                 );
                 CREATE TABLE {s}.index_entries (
                     tbl text NOT NULL,
                     idx text NOT NULL,
                     key bytea NOT NULL,
                     num bigint NOT NULL,
                     PRIMARY KEY (tbl, idx, key)
                 );
                 CREATE INDEX index_entries_by_document ON {s}.index_entries (tbl, num);
                 CREATE TABLE {s}.indexes (
                     tbl text NOT NULL,
                     idx text NOT NULL,
                     definition text NOT NULL,
                     PRIMARY KEY (tbl, idx)
                 );
                 CREATE TABLE {s}.commit_log (
                     seq bigint PRIMARY KEY,
                     committed_at timestamptz NOT NULL DEFAULT now()
                 );
                 CREATE TABLE {s}.commit_keys (
                     seq bigint NOT NULL,
                     tbl text NOT NULL,
                     idx text NOT NULL,
                     key bytea NOT NULL
                 );
                 CREATE INDEX commit_keys_by_commit ON {s}.commit_keys (seq);
                 CREATE INDEX commit_log_by_time ON {s}.commit_log (committed_at);
                 CREATE SEQUENCE {s}.document_numbers INCREMENT BY {NUMBER_BLOCK};
                 CREATE SEQUENCE {s}.runner_ids AS integer CYCLE;
                 INSERT INTO {s}.meta (key, value) VALUES
                     ('layout', {LAYOUT_VERSION}), ('commit_seq', 0), ('pruned_through', 0);"
            ),
            // Replaced at every start (it is code, not data), under the commit lock.
            create_apply_commit: format!(
                "CREATE OR REPLACE FUNCTION {s}.apply_commit(
                     snapshot bigint,
                     r_tbl text[], r_idx text[], r_low bytea[], r_high bytea[],
                     w_tbl text[], w_num bigint[],
                     d_tbl text[], d_num bigint[],
                     u_tbl text[], u_num bigint[], u_time double precision[], u_fields text[],
                     i_tbl text[], i_num bigint[], i_time double precision[], i_fields text[],
                     e_tbl text[], e_idx text[], e_key bytea[], e_num bigint[]
                 ) RETURNS text LANGUAGE plpgsql
                 -- The conflict check must read `commit_keys` through its index on `seq`
                 -- (the commits since the snapshot: a few rows), never scan the whole
                 -- table (every key committed in the retention window). PL/pgSQL switches
                 -- to generic plans after a few calls, and a generic or unanalyzed
                 -- estimate of `seq > snapshot` can pick a full scan: sequential scans are
                 -- counted out (every statement here has an index to use).
                 SET enable_seqscan = off
                 AS $apply$
                 DECLARE
                     hit text;
                     this_commit bigint;
                 BEGIN
                     -- Only inside the committer's transaction, after its commit lock.
                     IF current_setting('convoke.commit_lock', true) IS DISTINCT FROM '{schema}' THEN
                         RAISE EXCEPTION 'apply_commit runs only under the commit lock';
                     END IF;
                     IF array_length(r_tbl, 1) IS NOT NULL THEN
                         IF (SELECT value FROM {s}.meta WHERE key = 'pruned_through') > snapshot THEN
                             RETURN '';
                         END IF;
                         SELECT c.tbl INTO hit FROM {s}.commit_keys c
                             JOIN unnest(r_tbl, r_idx, r_low, r_high) AS r(tbl, idx, low, high)
                             ON c.tbl = r.tbl AND c.idx = r.idx AND c.key >= r.low AND c.key < r.high
                             WHERE c.seq > snapshot LIMIT 1;
                         IF hit IS NOT NULL THEN
                             RETURN hit;
                         END IF;
                     END IF;
                     UPDATE {s}.meta SET value = value + 1 WHERE key = 'commit_seq'
                         RETURNING value INTO this_commit;
                     INSERT INTO {s}.commit_log (seq) VALUES (this_commit);
                     IF array_length(w_tbl, 1) IS NOT NULL THEN
                         WITH gone AS (
                             DELETE FROM {s}.index_entries e USING unnest(w_tbl, w_num) AS w(tbl, num)
                             WHERE e.tbl = w.tbl AND e.num = w.num RETURNING e.tbl, e.idx, e.key
                         )
                         INSERT INTO {s}.commit_keys (seq, tbl, idx, key)
                             SELECT this_commit, gone.tbl, gone.idx, gone.key FROM gone;
                     END IF;
                     IF array_length(d_tbl, 1) IS NOT NULL THEN
                         DELETE FROM {s}.documents d USING unnest(d_tbl, d_num) AS w(tbl, num)
                             WHERE d.tbl = w.tbl AND d.num = w.num;
                     END IF;
                     IF array_length(u_tbl, 1) IS NOT NULL THEN
                         UPDATE {s}.documents d SET creation_time = w.created, fields = w.body
                             FROM unnest(u_tbl, u_num, u_time, u_fields) AS w(tbl, num, created, body)
                             WHERE d.tbl = w.tbl AND d.num = w.num;
                     END IF;
                     IF array_length(i_tbl, 1) IS NOT NULL THEN
                         INSERT INTO {s}.documents (tbl, num, creation_time, fields)
                             SELECT * FROM unnest(i_tbl, i_num, i_time, i_fields);
                     END IF;
                     IF array_length(e_tbl, 1) IS NOT NULL THEN
                         INSERT INTO {s}.index_entries (tbl, idx, key, num)
                             SELECT * FROM unnest(e_tbl, e_idx, e_key, e_num);
                         INSERT INTO {s}.commit_keys (seq, tbl, idx, key)
                             SELECT this_commit, * FROM unnest(e_tbl, e_idx, e_key);
                     END IF;
                     RETURN NULL;
                 END
                 $apply$;"
            ),
            stored_indexes: format!("SELECT tbl, idx, definition FROM {s}.indexes"),
            drop_index_entries: format!(
                "DELETE FROM {s}.index_entries WHERE tbl = $1 AND idx = $2"
            ),
            forget_indexes: format!("DELETE FROM {s}.indexes WHERE tbl = $1"),
            record_index: format!(
                "INSERT INTO {s}.indexes (tbl, idx, definition) VALUES ($1, $2, $3)"
            ),
            documents_after: format!(
                "SELECT num, creation_time, fields FROM {s}.documents \
                 WHERE tbl = $1 AND num > $2 ORDER BY num LIMIT $3"
            ),
            get: format!(
                "SELECT creation_time, fields FROM {s}.documents WHERE tbl = $1 AND num = $2"
            ),
            scans: [by_bounds(false), by_bounds(true)],
            next_block: format!("SELECT nextval('{s}.document_numbers')"),
            // An advisory lock, not a row lock: it never blocks a commit writing the
            // document (a row lock would, while the commit holds the commit lock).
            lock: format!(
                "SELECT pg_try_advisory_xact_lock(hashtext('{schema}/locks/' || $1), \
                 ($2 % 2147483648)::int)"
            ),
        }
    }

    fn scan(&self, lower_inclusive: bool, upper_inclusive: bool, order: Order) -> &str {
        &self.scans[usize::from(lower_inclusive)][usize::from(upper_inclusive)]
            [usize::from(order == Order::Desc)]
    }
}

/// Where in a transaction an error happened: it decides what a lost connection means.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Begin,
    Read,
    Commit,
}

/// A PostgreSQL error as a store error: serialization failures and deadlocks are
/// conflicts; a lost or refused connection makes the database unavailable, or the commit's
/// outcome unknown if it was lost while committing.
fn classify(e: &tokio_postgres::Error, table: &str, phase: Phase) -> StoreError {
    if let Some(code) = e.code() {
        if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED
        {
            return StoreError::Conflict {
                table: table.to_owned(),
            };
        }
        let unavailable = [
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
        ];
        if !unavailable.contains(code) {
            return StoreError::Engine(describe(e));
        }
    } else if !is_connection_error(e) {
        // E.g. a value the driver could not convert: a bug, not an outage.
        return StoreError::Engine(describe(e));
    }
    if phase == Phase::Commit {
        StoreError::CommitOutcomeUnknown {
            reason: describe(e),
        }
    } else {
        StoreError::Unavailable {
            reason: describe(e),
        }
    }
}

/// Rolls back a snapshot's transaction, then returns its connection to the pool, without
/// waiting: the caller goes on at once. Without a tokio runtime to do it on, the
/// connection is closed instead (PostgreSQL then rolls back).
fn end_snapshot(connection: Object) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                if connection.batch_execute("ROLLBACK").await.is_err() {
                    drop(Object::take(connection));
                }
            });
        }
        Err(_) => drop(Object::take(connection)),
    }
}

/// Whether the connection failed (refused, lost, timed out), as opposed to a statement.
fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    let mut source = std::error::Error::source(e);
    while let Some(inner) = source {
        if inner.is::<std::io::Error>() {
            return true;
        }
        source = inner.source();
    }
    false
}

fn pool_error(e: &PoolError) -> StoreError {
    match e {
        PoolError::Timeout(_) => StoreError::Unavailable {
            reason: "no database connection became free in time (all are in use, or the database does not answer)"
                .to_owned(),
        },
        PoolError::Backend(e) => classify(e, "", Phase::Begin),
        other => StoreError::Unavailable {
            reason: other.to_string(),
        },
    }
}

/// The error with PostgreSQL's own message, when there is one.
fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(e);
            while let Some(inner) = source {
                message.push_str(": ");
                message.push_str(&inner.to_string());
                source = inner.source();
            }
            message
        }
    }
}

/// A document from its row; [`StoreError::Unreadable`] naming it if its fields do not
/// decode.
fn document(id: DocumentId, creation_time: f64, fields: &str) -> Result<Document, StoreError> {
    let fields = document_json::decode_fields(fields).map_err(|reason| StoreError::Unreadable {
        table: id.table().to_owned(),
        id: id.to_string(),
        reason,
    })?;
    Ok(Document {
        id,
        creation_time,
        fields,
    })
}

/// Numbers are `u64`, PostgreSQL's `bigint` is `i64`: the bits are kept (numbers never
/// reach 2^63 in practice, and the order of those that do is not used).
fn to_sql(n: u64) -> i64 {
    n as i64
}

fn from_sql(n: i64) -> u64 {
    n as u64
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 63
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

    fn poll_interval(&self) -> Option<Duration> {
        Some(self.config.poll_interval)
    }
}
