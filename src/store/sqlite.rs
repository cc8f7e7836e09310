//! The durable engine: the multi-version engine in memory, every commit written to SQLite
//! first.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::document_json::{self, decode_fields};
use super::memory::{Durability, Persistence};
use super::{
    CommitRequest, Document, DocumentId, Exclusive, KeyRange, MemoryStore, Order, Schema, Storage,
    StoreError, StoreFuture, Timestamp, Write,
};
use crate::value::Object;

/// The database file inside the data directory.
const FILE_NAME: &str = "convoke.sqlite3";

/// The on-disk layout this code writes. Bump it, and add a step to [`migrate`], when the
/// layout changes.
const SCHEMA_VERSION: i64 = 1;

/// How long `open` waits for another connection to let go of the database.
const BUSY_TIMEOUT: Duration = Duration::from_secs(2);

/// A durable store in a data directory: SQLite (embedded, no server) holds the latest
/// committed version of every document, and a [`MemoryStore`] loaded from it at
/// [`open`](SqliteStore::open) serves every read, snapshot and conflict check.
///
/// # Durability
///
/// Commits are written to SQLite by a writer thread of the store's, in order, each inside
/// one SQLite transaction that holds it whole (its inserts, updates and deletes, and for a
/// batch that deletes, the latest commit timestamp and the next document number). The
/// database runs in WAL mode with `synchronous=FULL`, so SQLite fsyncs the write-ahead log
/// at every SQLite commit: once [`Storage::commit`] returns `Ok` (once a mutation returns),
/// the commit is on disk and survives a crash of the process or of the machine. A commit
/// cut short by a crash is never seen in part: SQLite's commit is atomic, so after a
/// restart either all of its writes are there or none is.
///
/// **Group commit.** Commits that arrive while the writer is busy go into its next SQLite
/// transaction together, so they share one fsync: commit throughput is not bounded by the
/// disk's fsync rate, only latency is. A validated commit is applied in memory before it is
/// durable, and seen at once by mutations (so a chain of mutations on one document is not
/// paced by the disk), but never by queries, which read at the latest durable commit, and
/// never acknowledged before it is durable. A mutation that read it commits after it, and
/// commits become durable in order.
///
/// If writing fails (disk full, I/O error), the commits not yet durable are not
/// acknowledged (their callers get the error), no query ever sees them, and the store
/// refuses every later commit (reads still work): whether they reached the disk is unknown,
/// so the process should reopen the store, which reads back what is on disk.
///
/// # Exclusive access
///
/// The store keeps the database file locked while it is open: a second `open` of the same
/// directory, by this process or another, fails until the first store is dropped.
///
/// # Ids
///
/// Document numbers are never reused, across restarts too: a document inserted then deleted
/// does not give its number back (a commit that deletes stores the next number).
///
/// ```
/// use convoke::store::SqliteStore;
///
/// let dir = std::env::temp_dir().join(format!("convoke-doc-{}", std::process::id()));
/// let store = SqliteStore::open(&dir)?;
/// assert_eq!(store.path(), dir.join("convoke.sqlite3"));
/// let rt = convoke::Runtime::builder().storage(store).build()?;
/// # drop(rt);
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct SqliteStore {
    memory: MemoryStore,
    path: PathBuf,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the store in directory `dir`, creating the directory and the database
    /// (`dir/convoke.sqlite3`) if needed, and loads every document into memory.
    ///
    /// Fails with [`StoreError::Engine`] if the directory or the database cannot be
    /// created or read, if another store has the database open, or if the database was
    /// written by a newer version of convoke. A stored document that does not decode does
    /// not stop it: the store opens without it and logs an error naming it (see
    /// [`SqliteStore::unreadable`]).
    pub fn open(dir: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Engine(format!(
                "cannot create the data directory {}: {e}",
                dir.display()
            ))
        })?;
        let path = dir.join(FILE_NAME);
        let engine = |what: &str, e: rusqlite::Error| engine_error(&path, what, e);
        let mut conn = Connection::open(&path).map_err(|e| engine("cannot open", e))?;
        configure(&conn, &path)?;
        let loaded = load(&mut conn, &path)?;
        // The meta row is updated only by commits that delete (see `write_commit`): the
        // stored documents tell the rest.
        // Unreadable documents keep their numbers: they are never handed out again.
        let max_number = loaded
            .docs
            .iter()
            .map(|(_, d)| d.id.number())
            .chain(loaded.unreadable.keys().map(DocumentId::number))
            .max();
        let next_number = loaded
            .next_number
            .max(max_number.map_or(1, |n| n.saturating_add(1)));
        let latest = loaded
            .docs
            .iter()
            .map(|(ts, _)| *ts)
            .fold(loaded.latest, Timestamp::max);
        let persistence = SqlitePersistence::start(
            Writer {
                conn,
                path: path.clone(),
                next_number,
            },
            latest,
        )?;
        // `MemoryStore` counts numbers handed out; the next one is that count plus one.
        let memory = MemoryStore::restored(
            loaded.docs,
            latest,
            next_number.saturating_sub(1),
            Box::new(persistence),
            loaded.unreadable,
        );
        // Index the loaded documents under the system indexes, so the store works before
        // the runtime declares its schema (which rebuilds the indexes again).
        memory.set_schema(&Schema::default())?;
        Ok(SqliteStore { memory, path })
    }

    /// The database file: `convoke.sqlite3` in the data directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored documents that did not decode when the store was opened (written by an
    /// older build, or changed by hand), with why, ordered by id. The store opened without
    /// them; reading one fails with [`StoreError::Unreadable`]. See the README, "Repairing a
    /// store".
    pub fn unreadable(&self) -> Vec<(DocumentId, String)> {
        let mut list: Vec<(DocumentId, String)> = self
            .memory
            .unreadable()
            .iter()
            .map(|(id, reason)| (id.clone(), reason.clone()))
            .collect();
        list.sort_by(|a, b| a.0.cmp(&b.0));
        list
    }
}

fn engine_error(path: &Path, what: &str, e: rusqlite::Error) -> StoreError {
    let hint = match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            " (is another process, or another store in this one, using this data directory?)"
        }
        _ => "",
    };
    StoreError::Engine(format!(
        "SQLite database {}: {what}: {e}{hint}",
        path.display()
    ))
}

/// Exclusive locking (no other connection may use the file while we hold our in-memory
/// copy of it), write-ahead log, fsync at every commit.
fn configure(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let engine = |e: rusqlite::Error| engine_error(path, "cannot configure", e);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(engine)?;
    // Before entering WAL mode, so the WAL index lives in heap memory, not a shared file.
    conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
        .map_err(engine)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(engine)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Engine(format!(
            "SQLite database {}: cannot use a write-ahead log (journal mode is {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(engine)?;
    Ok(())
}

/// What `open` reads from disk.
struct Loaded {
    docs: Vec<(Timestamp, Document)>,
    /// The documents that did not decode, with why.
    unreadable: HashMap<DocumentId, String>,
    latest: Timestamp,
    next_number: u64,
}

/// Creates or migrates the layout, then reads the meta row and every document, in one
/// exclusive transaction (which also takes the file lock we keep).
fn load(conn: &mut Connection, path: &Path) -> Result<Loaded, StoreError> {
    let engine = |what: &str, e: rusqlite::Error| engine_error(path, what, e);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Exclusive)
        .map_err(|e| engine("cannot lock", e))?;
    migrate(&tx, path)?;
    let (latest, next_number): (i64, i64) = tx
        .query_row(
            "SELECT latest_ts, next_number FROM meta WHERE id = 0",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(|e| engine("cannot read the meta row", e))?;
    let mut docs = Vec::new();
    let mut unreadable = HashMap::new();
    // One allocation per table name, not one per document.
    let mut tables: HashMap<String, Arc<str>> = HashMap::new();
    {
        let mut stmt = tx
            .prepare("SELECT tbl, number, ts, creation_time, fields FROM documents")
            .map_err(|e| engine("cannot read documents", e))?;
        let mut rows = stmt
            .query([])
            .map_err(|e| engine("cannot read documents", e))?;
        while let Some(row) = rows
            .next()
            .map_err(|e| engine("cannot read documents", e))?
        {
            let read = |row: &rusqlite::Row<'_>| -> rusqlite::Result<_> {
                let table: String = row.get(0)?;
                let number: i64 = row.get(1)?;
                let ts: i64 = row.get(2)?;
                let creation_time: Option<f64> = row.get(3)?;
                let fields: String = row.get(4)?;
                Ok((table, number, ts, creation_time, fields))
            };
            let (table, number, ts, creation_time, fields) =
                read(row).map_err(|e| engine("cannot read documents", e))?;
            let table = match tables.get(&table) {
                Some(name) => name.clone(),
                None => {
                    let name: Arc<str> = Arc::from(table.as_str());
                    tables.insert(table, name.clone());
                    name
                }
            };
            let id = DocumentId::new(table, from_sql(number));
            // One document that does not decode must not make the store impossible to
            // open: it is left out, logged, and reading it fails with an error naming it.
            let fields = match decode_fields(&fields) {
                Ok(fields) => fields,
                Err(reason) => {
                    tracing::error!(
                        "SQLite database {}: document {id} of table '{}' does not decode \
                         and is left out (reading it fails; see the README, \"Repairing a \
                         store\"): {reason}",
                        path.display(),
                        id.table(),
                    );
                    unreadable.insert(id, reason);
                    continue;
                }
            };
            docs.push((
                from_sql(ts),
                Document {
                    id,
                    creation_time: creation_time.unwrap_or(f64::NAN),
                    fields,
                },
            ));
        }
    }
    tx.commit().map_err(|e| engine("cannot commit", e))?;
    Ok(Loaded {
        docs,
        unreadable,
        latest: from_sql(latest),
        next_number: from_sql(next_number),
    })
}

/// Brings the layout to [`SCHEMA_VERSION`]; refuses a database from a newer version.
fn migrate(tx: &rusqlite::Transaction<'_>, path: &Path) -> Result<(), StoreError> {
    let engine = |what: &str, e: rusqlite::Error| engine_error(path, what, e);
    let has_meta: Option<i64> = tx
        .query_row(
            "SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| engine("cannot read the schema", e))?;
    let version: i64 = if has_meta.is_some() {
        tx.query_row("SELECT schema_version FROM meta WHERE id = 0", [], |r| {
            r.get(0)
        })
        .map_err(|e| engine("cannot read the schema version", e))?
    } else {
        0
    };
    if version > SCHEMA_VERSION {
        return Err(StoreError::Engine(format!(
            "SQLite database {}: written by a newer version of convoke (layout version \
             {version}; this version reads up to {SCHEMA_VERSION})",
            path.display()
        )));
    }
    if version < 1 {
        tx.execute_batch(
            "CREATE TABLE meta (
                 id INTEGER PRIMARY KEY CHECK (id = 0),
                 schema_version INTEGER NOT NULL,
                 latest_ts INTEGER NOT NULL,
                 next_number INTEGER NOT NULL
             );
             INSERT INTO meta (id, schema_version, latest_ts, next_number) VALUES (0, 1, 0, 1);
             CREATE TABLE documents (
                 tbl TEXT NOT NULL,
                 number INTEGER NOT NULL,
                 ts INTEGER NOT NULL,
                 creation_time REAL,
                 fields TEXT NOT NULL,
                 PRIMARY KEY (tbl, number)
             );",
        )
        .map_err(|e| engine("cannot create the tables", e))?;
    }
    // Later layouts: `if version < 2 { .. }`, each step ending at its version.
    Ok(())
}

/// Numbers and timestamps are `u64`; SQLite integers are `i64`. The bits are kept as they
/// are, so every `u64` round-trips.
fn to_sql(n: u64) -> i64 {
    n as i64
}

fn from_sql(n: i64) -> u64 {
    n as u64
}

fn encode_fields(fields: &Object) -> rusqlite::Result<String> {
    document_json::encode_fields(fields)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))
}

/// Commits handed to the writer thread at most at once: one SQLite transaction, one fsync.
const MAX_BATCH: usize = 1024;

/// A commit waiting for the writer thread.
type Queued = (Timestamp, Vec<Write>);

/// Writes commits to SQLite on a thread of its own (group commit): whatever commits queue
/// up while one batch is written go into the next batch, one SQLite transaction and one
/// fsync for all of them. See [`Persistence`] for when a commit becomes visible and when it
/// is acknowledged.
struct SqlitePersistence {
    queue: Mutex<Option<std::sync::mpsc::Sender<Queued>>>,
    durability: Arc<Durability>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    path: PathBuf,
}

impl SqlitePersistence {
    /// Starts the writer thread, which owns the connection from now on.
    fn start(writer: Writer, durable: Timestamp) -> Result<Self, StoreError> {
        let path = writer.path.clone();
        let durability = Arc::new(Durability::new(durable));
        let (queue, commits) = std::sync::mpsc::channel();
        let published = durability.clone();
        let thread = std::thread::Builder::new()
            .name("convoke-sqlite-writer".to_owned())
            .spawn(move || writer.run(commits, &published))
            .map_err(|e| {
                StoreError::Engine(format!(
                    "SQLite database {}: cannot start the writer thread: {e}",
                    path.display()
                ))
            })?;
        Ok(SqlitePersistence {
            queue: Mutex::new(Some(queue)),
            durability,
            writer: Mutex::new(Some(thread)),
            path,
        })
    }
}

impl Drop for SqlitePersistence {
    /// Lets the writer finish what is queued, and waits for it: once the store is dropped,
    /// the database is closed (and can be opened again).
    fn drop(&mut self) {
        self.queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            let _ = thread.join();
        }
    }
}

impl Persistence for SqlitePersistence {
    fn submit(&self, ts: Timestamp, writes: &[Write]) -> Result<(), StoreError> {
        if let Some(error) = self.durability.failure() {
            return Err(StoreError::Engine(format!(
                "SQLite database {}: refusing to commit, because an earlier commit failed to \
                 be written ({error}); reopen the store",
                self.path.display()
            )));
        }
        let queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let sent = queue
            .as_ref()
            .is_some_and(|queue| queue.send((ts, writes.to_vec())).is_ok());
        if sent {
            Ok(())
        } else {
            Err(StoreError::Engine(format!(
                "SQLite database {}: the writer thread has stopped",
                self.path.display()
            )))
        }
    }

    fn durability(&self) -> &Durability {
        &self.durability
    }
}

struct Writer {
    conn: Connection,
    path: PathBuf,
    /// The smallest document number no commit has used.
    next_number: u64,
}

impl Writer {
    /// Writes batches until the store is dropped; after a failed write, fails every commit
    /// still queued (their fate is tied to the failed one's).
    fn run(mut self, commits: std::sync::mpsc::Receiver<Queued>, durability: &Durability) {
        while let Ok(first) = commits.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match commits.try_recv() {
                    Ok(commit) => batch.push(commit),
                    Err(_) => break,
                }
            }
            if durability.failure().is_some() {
                continue;
            }
            let next_number = batch
                .iter()
                .flat_map(|(_, writes)| writes)
                .map(|(id, _)| id.number().saturating_add(1))
                .fold(self.next_number, u64::max);
            match write_batch(&mut self.conn, &batch, next_number) {
                Ok(()) => {
                    self.next_number = next_number;
                    if let Some((ts, _)) = batch.last() {
                        durability.advance(*ts);
                    }
                }
                Err(e) => durability.fail(engine_error(&self.path, "cannot write a commit", e)),
            }
        }
    }
}

const UPSERT: &str = "INSERT INTO documents (tbl, number, ts, creation_time, fields)
     VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (tbl, number) DO UPDATE SET
         ts = excluded.ts,
         creation_time = excluded.creation_time,
         fields = excluded.fields";
const DELETE: &str = "DELETE FROM documents WHERE tbl = ?1 AND number = ?2";
const UPDATE_META: &str = "UPDATE meta SET latest_ts = ?1, next_number = ?2 WHERE id = 0";

/// One SQLite transaction for a batch of commits, in order: every write of each, then, if
/// one of them deletes a document, the meta row.
///
/// At open, the latest commit timestamp is the larger of the meta row's and the newest
/// stored version's, and the next document number the larger of the meta row's and the
/// highest stored number plus one. A commit that only inserts and updates leaves a row
/// carrying its timestamp and every number it used, so the documents table already tells
/// both; only a delete removes that evidence, so only a batch with a delete must update the
/// meta row. Most batches thereby run one statement fewer.
fn write_batch(conn: &mut Connection, batch: &[Queued], next_number: u64) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut upsert = None;
        let mut delete = None;
        for (ts, writes) in batch {
            for (id, doc) in writes {
                let number = to_sql(id.number());
                match doc {
                    Some(doc) => {
                        let stmt = match &mut upsert {
                            Some(stmt) => stmt,
                            None => upsert.insert(tx.prepare_cached(UPSERT)?),
                        };
                        stmt.execute(params![
                            id.table(),
                            number,
                            to_sql(*ts),
                            doc.creation_time,
                            encode_fields(&doc.fields)?,
                        ])?;
                    }
                    None => {
                        let stmt = match &mut delete {
                            Some(stmt) => stmt,
                            None => delete.insert(tx.prepare_cached(DELETE)?),
                        };
                        stmt.execute(params![id.table(), number])?;
                    }
                }
            }
        }
        if delete.is_some()
            && let Some((ts, _)) = batch.last()
        {
            tx.prepare_cached(UPDATE_META)?
                .execute(params![to_sql(*ts), to_sql(next_number)])?;
        }
    }
    tx.commit()
}

impl Storage for SqliteStore {
    fn set_schema(&self, schema: &Schema) -> Result<(), StoreError> {
        self.memory.set_schema(schema)
    }

    fn begin(&self, writable: bool) -> Timestamp {
        self.memory.begin(writable)
    }

    fn begin_exclusive(&self) -> StoreFuture<'_, Result<Exclusive, StoreError>> {
        StoreFuture::boxed(async move { Ok(self.memory.begin_exclusive().await) })
    }

    fn is_durable(&self, snapshot: Timestamp) -> bool {
        Storage::is_durable(&self.memory, snapshot)
    }

    fn release(&self, snapshot: Timestamp) {
        self.memory.release(snapshot)
    }

    fn get<'a>(
        &'a self,
        snapshot: Timestamp,
        id: &'a DocumentId,
    ) -> StoreFuture<'a, Result<Option<Arc<Document>>, StoreError>> {
        StoreFuture::ready(self.memory.get(snapshot, id))
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
        StoreFuture::ready(
            self.memory
                .scan(snapshot, table, index, range, order, limit),
        )
    }

    fn allocate_id<'a>(
        &'a self,
        _snapshot: Timestamp,
        table: &'a str,
    ) -> StoreFuture<'a, Result<DocumentId, StoreError>> {
        StoreFuture::ready(Ok(self.memory.allocate_id(table)))
    }

    fn commit(&self, request: CommitRequest) -> StoreFuture<'_, Result<Timestamp, StoreError>> {
        self.memory.commit(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ReadSet;
    use crate::value::Value;

    fn temp_dir(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("convoke-sqlite-unit-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn doc(id: &DocumentId, fields: Object) -> Arc<Document> {
        Arc::new(Document {
            id: id.clone(),
            creation_time: 1.5,
            fields,
        })
    }

    fn commit(store: &SqliteStore, writes: Vec<Write>) -> Result<Timestamp, StoreError> {
        let snapshot = store.memory.begin(true);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| StoreError::Engine(e.to_string()))?;
        let result = runtime.block_on(store.memory.commit(CommitRequest::new(
            snapshot,
            ReadSet::default(),
            writes,
        )));
        store.memory.release(snapshot);
        result
    }

    #[test]
    fn values_round_trip_losslessly() {
        let dir = temp_dir("values");
        let mut fields = Object::new();
        fields.insert("big".into(), Value::Int64(i64::MIN));
        fields.insert("nan".into(), Value::Float64(f64::NAN));
        fields.insert("negzero".into(), Value::Float64(-0.0));
        fields.insert("bytes".into(), Value::Bytes(vec![0, 255, 7]));
        fields.insert("s".into(), Value::String("é\"\n".into()));
        let id = {
            let store = SqliteStore::open(&dir).unwrap();
            let id = store.memory.allocate_id("t");
            assert_eq!(
                commit(&store, vec![(id.clone(), Some(doc(&id, fields.clone())))]).unwrap(),
                1
            );
            id
        };
        let store = SqliteStore::open(&dir).unwrap();
        let snapshot = store.memory.begin(false);
        let back = store.memory.get(snapshot, &id).unwrap().unwrap();
        assert_eq!(back.creation_time, 1.5);
        assert_eq!(back.fields.len(), fields.len());
        assert!(matches!(back.fields["big"], Value::Int64(i64::MIN)));
        assert!(matches!(back.fields["nan"], Value::Float64(f) if f.is_nan()));
        assert!(
            matches!(back.fields["negzero"], Value::Float64(f) if f == 0.0 && f.is_sign_negative())
        );
        assert_eq!(back.fields["bytes"], Value::Bytes(vec![0, 255, 7]));
        assert_eq!(back.fields["s"], Value::String("é\"\n".into()));
        // Scans work without a schema declared.
        let all = store
            .memory
            .scan(snapshot, "t", "by_id", &KeyRange::all(), Order::Asc, None)
            .unwrap();
        assert_eq!(all.len(), 1);
        store.memory.release(snapshot);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn numbers_and_timestamps_survive_reopens() {
        let dir = temp_dir("numbers");
        let a = DocumentId::new("t", 1);
        {
            let store = SqliteStore::open(&dir).unwrap();
            assert_eq!(store.memory.allocate_id("t"), a);
            let b = store.memory.allocate_id("t");
            commit(&store, vec![(a.clone(), Some(doc(&a, Object::new())))]).unwrap();
            commit(&store, vec![(b.clone(), Some(doc(&b, Object::new())))]).unwrap();
            // The highest number goes: the meta row must remember it.
            assert_eq!(commit(&store, vec![(b, None)]).unwrap(), 3);
        }
        {
            let store = SqliteStore::open(&dir).unwrap();
            let snapshot = store.memory.begin(false);
            assert_eq!(snapshot, 3);
            assert!(store.memory.get(snapshot, &a).unwrap().is_some());
            assert!(
                store
                    .memory
                    .get(snapshot, &DocumentId::new("t", 2))
                    .unwrap()
                    .is_none()
            );
            store.memory.release(snapshot);
            let c = store.memory.allocate_id("t");
            assert_eq!(c.number(), 3);
            // Commits without deletes leave the meta row behind.
            commit(&store, vec![(c.clone(), Some(doc(&c, Object::new())))]).unwrap();
            let mut fields = Object::new();
            fields.insert("v".into(), Value::Int64(2));
            assert_eq!(
                commit(&store, vec![(a.clone(), Some(doc(&a, fields)))]).unwrap(),
                5
            );
        }
        let store = SqliteStore::open(&dir).unwrap();
        let snapshot = store.memory.begin(false);
        assert_eq!(
            snapshot, 5,
            "the latest commit timestamp comes from the documents"
        );
        let back = store.memory.get(snapshot, &a).unwrap().unwrap();
        assert_eq!(back.fields["v"], Value::Int64(2));
        store.memory.release(snapshot);
        assert_eq!(store.memory.allocate_id("t").number(), 4);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_second_open_of_the_same_directory_fails() {
        let dir = temp_dir("exclusive");
        let store = SqliteStore::open(&dir).unwrap();
        let err = SqliteStore::open(&dir).unwrap_err();
        assert!(matches!(err, StoreError::Engine(_)), "{err}");
        assert!(err.to_string().contains("another"), "{err}");
        drop(store);
        drop(SqliteStore::open(&dir).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_newer_layout_is_refused() {
        let dir = temp_dir("newer");
        drop(SqliteStore::open(&dir).unwrap());
        let conn = Connection::open(dir.join(FILE_NAME)).unwrap();
        conn.execute("UPDATE meta SET schema_version = 99", [])
            .unwrap();
        drop(conn);
        let err = SqliteStore::open(&dir).unwrap_err();
        assert!(err.to_string().contains("newer version"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
