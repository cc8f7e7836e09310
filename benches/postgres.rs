//! PostgreSQL engine benchmarks, each figure beside the same statements issued directly
//! with the driver (tokio-postgres) in the same run.
//!
//! `cargo bench --bench postgres` runs every case with criterion, then prints one table per
//! kind: commits per second for commits, time per operation for reads, each with its floor
//! and the ratio. `cargo test --benches` runs each case once on a small load, as a smoke
//! test. The server is `CONVOKE_TEST_POSTGRES_URL`, by default
//! `postgres://postgres@127.0.0.1:5432/test`; if it cannot be reached the bench says so and
//! exits successfully (unless `CONVOKE_REQUIRE_POSTGRES=1`). Each run works in a schema of
//! its own, `convoke_bench_<pid>`, dropped at the end.
//!
//! Everything runs on one 2-worker multi-thread tokio runtime (the engine's pooled
//! connections and the floor's connections are driven by its workers).
//!
//! # The cases and their floors
//!
//! The store holds 10,000 `items` documents (`owner`, `name`, `size`, three `tags`: about
//! 150 bytes of fields), 10 per owner, indexed `by_owner`.
//!
//! - **insert commit**: `rt.mutation(insert, item)` (a transaction with one blind insert,
//!   committed), one after the other, and from 8 tasks at once. The engine queues each
//!   commit for its process's committer task, which sends the commits queued meanwhile (up
//!   to 64) as one PostgreSQL transaction in one round trip (group commit). Floors:
//!   - *engine SQL*: the engine's statements, issued directly. A commit is one
//!     `SELECT apply_commit(..)` with the 21 arrays the engine builds for a blind insert
//!     (snapshot commit number; an empty read set, so nothing is checked; no old entries,
//!     deletes or updates; the new document; its three index entries), after the same
//!     encoding work (the item to a value, Convex JSON, the three index keys). A
//!     transaction is `BEGIN ISOLATION LEVEL READ COMMITTED`, the commit advisory lock, one
//!     `apply_commit` per commit, the two pruning statements when the commit count
//!     crosses a multiple of 256, and `COMMIT`, all pipelined in one round trip. Document
//!     numbers come as in `next_number`: from the sequence 64 at a time, `nextval` sent
//!     together with the `BEGIN ISOLATION LEVEL REPEATABLE READ` and the commit-number read
//!     of the transaction's snapshot (one round trip), the commit then carrying that
//!     commit number (0 when no block was taken). The engine ends such a snapshot with a
//!     `ROLLBACK` it does not wait for, on the snapshot's own pooled connection; the floor
//!     sends it on its one connection, first in the commit's round trip.
//!     - *1 connection* (beside 1 task): one transaction per commit, one after the other:
//!       what the engine sends when commits arrive one at a time.
//!     - *8 connections, one transaction per commit* (beside 8 tasks): the same, 8 tasks
//!       each on a connection of its own, no grouping (they queue on the commit lock).
//!     - *1 connection, 8 commits per transaction* (beside 8 tasks): 8 `apply_commit`s per
//!       transaction, one transaction after the other: the engine's committer when each of
//!       the 8 tasks has a commit queued every time (its best grouping here).
//!   - *plain INSERT*: one autocommitted `INSERT` of a same-sized `documents` row (fields
//!     pre-encoded) per commit: what a commit costs the server at all. 8 tasks: 8
//!     connections.
//! - **indexed range**: `query::<Item>().with_index("by_owner", |r| r.eq("owner", o))
//!   .collect()` (10 documents, decoded into `Doc<Item>`), cycling over 16 owners; and
//!   **get by id**: `ctx.db().get(id)` over the 10,000 ids in a scattered order. Each in two
//!   forms:
//!   - *one query per read*: `rt.query(..)` from outside the runtime, one after the other.
//!     The engine sends its `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY` with the read
//!     of the snapshot's commit number and the read itself, in one round trip, and rolls
//!     back when the query ends. Floor: `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`,
//!     the engine's `SELECT` (`index_entries` joined to `documents` over the byte-key
//!     range; or the `documents` primary-key lookup) and `COMMIT`, pipelined in one round
//!     trip, plus the same decode (Convex JSON to fields, then the typed decode).
//!   - *reads inside one query*: a query procedure looping over the reads and timing itself
//!     from inside the handler. Floor: the same `SELECT`s and decode in one open
//!     `REPEATABLE READ` transaction.

#[path = "support/figures.rs"]
mod figures;

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Write as _;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use convoke::db::{DocumentId, TransactionLimits};
use convoke::store::{Document, PostgresConfig, PostgresStore};
use convoke::value::{self, Value};
use convoke::{Id, Runtime};
use criterion::Criterion;
use figures::{Paired, paired, read_median};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage, Statement};

use pg_bench::Item;

/// Documents filled in (10 per owner); the smoke test (no `--bench`) uses fewer.
const DOCS: usize = 10_000;
const SMOKE_DOCS: usize = 500;
const PER_OWNER: usize = 10;
/// The range cases cycle over this many owners.
const RANGE_OWNERS: usize = 16;
/// Tasks in the concurrent commit cases.
const TASKS: usize = 8;
/// As in the engine: document numbers taken from the sequence at a time, and how often a
/// commit also prunes the commit log.
const NUMBER_BLOCK: u64 = 64;
const PRUNE_EVERY: u64 = 256;
const COMMIT_LOG_RETENTION: &str = "10 minutes";

// ---------------------------------------------------------------------------------------
// The procedures
// ---------------------------------------------------------------------------------------

mod pg_bench {
    use std::hint::black_box;
    use std::time::Instant;

    use convoke::{Id, MutationCtx, QueryCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(pg_bench);

    #[derive(Debug, Clone, Serialize, Deserialize, Table)]
    #[table(name = "items", index(by_owner = ["owner"]))]
    pub struct Item {
        pub owner: String,
        pub name: String,
        pub size: i64,
        pub tags: Vec<String>,
    }

    #[procedure(mutation)]
    pub async fn insert_many(ctx: &MutationCtx<'_>, items: Vec<Item>) -> Result<Vec<Id<Item>>> {
        let mut ids = Vec::with_capacity(items.len());
        for item in &items {
            ids.push(ctx.db().insert(item).await?);
        }
        Ok(ids)
    }

    #[procedure(mutation)]
    pub async fn insert(ctx: &MutationCtx<'_>, item: Item) -> Result<Id<Item>> {
        Ok(ctx.db().insert(&item).await?)
    }

    /// One indexed range read; returns how many documents it found.
    #[procedure(query)]
    pub async fn by_owner(ctx: &QueryCtx<'_>, owner: String) -> Result<usize> {
        let docs = ctx
            .db()
            .query::<Item>()
            .with_index("by_owner", |r| r.eq("owner", &owner))
            .collect()
            .await?;
        let n = docs.len();
        black_box(docs);
        Ok(n)
    }

    /// One get by id; returns whether the document exists.
    #[procedure(query)]
    pub async fn get_item(ctx: &QueryCtx<'_>, id: Id<Item>) -> Result<bool> {
        let doc = ctx.db().get(id).await?;
        let found = doc.is_some();
        black_box(doc);
        Ok(found)
    }

    /// `iters` gets by id in this query; returns the loop's nanoseconds.
    #[procedure(query)]
    pub async fn drive_get(ctx: &QueryCtx<'_>, iters: u64) -> Result<u64> {
        let ids = super::ids();
        let start = Instant::now();
        for i in 0..iters {
            let doc = ctx.db().get(ids[super::pick(i, ids.len())]).await?;
            assert!(doc.is_some());
            black_box(doc);
        }
        Ok(start.elapsed().as_nanos() as u64)
    }

    /// `iters` indexed range reads in this query; returns the loop's nanoseconds.
    #[procedure(query)]
    pub async fn drive_range(ctx: &QueryCtx<'_>, iters: u64) -> Result<u64> {
        let owners = super::owners();
        let start = Instant::now();
        for i in 0..iters {
            let owner = &owners[i as usize % owners.len()];
            let docs = ctx
                .db()
                .query::<Item>()
                .with_index("by_owner", |r| r.eq("owner", owner))
                .collect()
                .await?;
            assert_eq!(docs.len(), super::PER_OWNER);
            black_box(docs);
        }
        Ok(start.elapsed().as_nanos() as u64)
    }
}

fn item(i: usize, owners: usize) -> Item {
    Item {
        owner: owner(i % owners),
        name: format!("item number {i:08}"),
        size: i as i64,
        tags: vec!["alpha".into(), "beta".into(), "gamma".into()],
    }
}

fn owner(i: usize) -> String {
    format!("owner-{i:04}")
}

/// A scattered but fixed order over `0..n` (7919 is prime).
fn pick(i: u64, n: usize) -> usize {
    (i as usize).wrapping_mul(7919) % n
}

static IDS: OnceLock<Vec<Id<Item>>> = OnceLock::new();
static OWNER_LIST: OnceLock<Vec<String>> = OnceLock::new();

fn ids() -> &'static [Id<Item>] {
    IDS.get().expect("ids")
}

/// The owners the range cases cycle over.
fn owners() -> &'static [String] {
    OWNER_LIST.get().expect("owners")
}

fn now_millis() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------------------------------
// The server, the schema
// ---------------------------------------------------------------------------------------

fn url() -> String {
    std::env::var("CONVOKE_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Connects a client for the floors; its connection is driven on the current runtime.
async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Whether the server answers; if not, says the bench did not run (or panics when
/// PostgreSQL is required).
fn available(runtime: &tokio::runtime::Runtime, url: &str) -> bool {
    let outcome = runtime.block_on(async {
        match tokio::time::timeout(Duration::from_secs(3), connect(url)).await {
            Ok(Ok(client)) => client.simple_query("SELECT 1").await.map(|_| ()),
            Ok(Err(e)) => Err(e),
            Err(_) => return Err("no answer within 3 s".to_owned()),
        }
        .map_err(|e| {
            // The driver's message, then its causes ("connection refused"..).
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(inner) = source {
                message.push_str(": ");
                message.push_str(&inner.to_string());
                source = inner.source();
            }
            message
        })
    });
    let Err(reason) = outcome else {
        return true;
    };
    if std::env::var("CONVOKE_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
        panic!(
            "PostgreSQL is required (CONVOKE_REQUIRE_POSTGRES=1) but {url} is not reachable: {reason}"
        );
    }
    let _ = writeln!(
        std::io::stdout(),
        "NOT RUN: the postgres benchmark did not run: no PostgreSQL server at {url} ({reason}); \
         start one, or set CONVOKE_TEST_POSTGRES_URL"
    );
    false
}

/// Drops the bench's schema when dropped (also on a panic), on a connection and a runtime
/// of its own.
struct DropSchema {
    url: String,
    schema: String,
}

impl Drop for DropSchema {
    fn drop(&mut self) {
        let url = self.url.clone();
        let sql = format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema);
        let outcome = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = connect(&url).await.map_err(|e| e.to_string())?;
                client.batch_execute(&sql).await.map_err(|e| e.to_string())
            })
        })
        .join();
        match outcome {
            Ok(Ok(())) => println!("dropped schema {}", self.schema),
            Ok(Err(e)) => eprintln!("could not drop schema {}: {e}", self.schema),
            Err(_) => eprintln!("could not drop schema {}: panicked", self.schema),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The engine's SQL, for the floors
// ---------------------------------------------------------------------------------------

/// Index keys as the engine encodes them (`src/store/postgres/key.rs`), for the parts the
/// bench's keys have: strings, float64, int64.
mod key {
    pub fn string(s: &str, out: &mut Vec<u8>) {
        out.push(0x06);
        for &b in s.as_bytes() {
            out.push(b);
            if b == 0 {
                out.push(0xFF);
            }
        }
        out.extend_from_slice(&[0x00, 0x01]);
    }

    pub fn float(f: f64, out: &mut Vec<u8>) {
        out.push(0x04);
        let bits = f.to_bits();
        let ordered = if bits >> 63 == 1 {
            !bits
        } else {
            bits ^ (1 << 63)
        };
        out.extend_from_slice(&ordered.to_be_bytes());
    }

    pub fn int(i: i64, out: &mut Vec<u8>) {
        out.push(0x03);
        out.extend_from_slice(&((i as u64) ^ (1 << 63)).to_be_bytes());
    }

    /// Above every key part: the engine's exclusive upper bound of a prefix.
    pub const MAX: u8 = 0xFF;
}

/// The statements of `PostgresStore` (its `Statements`), with the bench's schema in them.
struct Sql {
    begin_snapshot: String,
    commit_lock: String,
    apply_commit: String,
    prune_log: String,
    prune_keys: String,
    next_block: String,
    /// `scan(lower inclusive, upper exclusive, ascending)`: what an `eq` range runs.
    scan: String,
    get: String,
    /// The minimal floor's statement.
    plain_insert: String,
}

impl Sql {
    fn new(schema: &str) -> Sql {
        let s = format!("\"{schema}\"");
        Sql {
            begin_snapshot: format!(
                "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT value FROM {s}.meta WHERE key = 'commit_seq'"
            ),
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
            next_block: format!("SELECT nextval('{s}.document_numbers')"),
            scan: format!(
                "SELECT d.num, d.creation_time, d.fields FROM {s}.index_entries e \
                 JOIN {s}.documents d ON d.tbl = e.tbl AND d.num = e.num \
                 WHERE e.tbl = $1 AND e.idx = $2 AND e.key >= $3 AND e.key < $4 \
                 ORDER BY e.key ASC LIMIT $5"
            ),
            get: format!(
                "SELECT creation_time, fields FROM {s}.documents WHERE tbl = $1 AND num = $2"
            ),
            plain_insert: format!(
                "INSERT INTO {s}.documents (tbl, num, creation_time, fields) VALUES ($1, $2, $3, $4)"
            ),
        }
    }
}

/// One floor connection with the statements prepared.
struct FloorConn {
    client: Client,
    commit_lock: Statement,
    apply_commit: Statement,
    prune_log: Statement,
    prune_keys: Statement,
    next_block: Statement,
    scan: Statement,
    get: Statement,
    plain_insert: Statement,
}

impl FloorConn {
    async fn open(url: &str, sql: &Sql) -> FloorConn {
        let client = connect(url).await.expect("floor connection");
        let prepare = |text: &str| {
            let text = text.to_owned();
            let client = &client;
            async move { client.prepare(&text).await.expect("prepare") }
        };
        FloorConn {
            commit_lock: prepare(&sql.commit_lock).await,
            apply_commit: prepare(&sql.apply_commit).await,
            prune_log: prepare(&sql.prune_log).await,
            prune_keys: prepare(&sql.prune_keys).await,
            next_block: prepare(&sql.next_block).await,
            scan: prepare(&sql.scan).await,
            get: prepare(&sql.get).await,
            plain_insert: prepare(&sql.plain_insert).await,
            client,
        }
    }
}

/// What the floor's commits share, as the engine's do: the block of document numbers, the
/// commit count (for pruning).
struct FloorShared {
    schema: String,
    sql: Sql,
    numbers: Mutex<Range<u64>>,
    commits: AtomicU64,
    plain_next: AtomicU64,
    /// The minimal floor's pre-encoded fields.
    plain_fields: String,
}

/// The arguments of one `apply_commit` (the engine's `QueuedCommit::params`): the snapshot's
/// commit number, the read set as byte ranges, the writes as columns.
struct FloorCommit {
    snapshot: i64,
    read_tables: Vec<String>,
    read_indexes: Vec<String>,
    read_lows: Vec<Vec<u8>>,
    read_highs: Vec<Vec<u8>>,
    written_tables: Vec<String>,
    written_numbers: Vec<i64>,
    deleted_tables: Vec<String>,
    deleted_numbers: Vec<i64>,
    updated_tables: Vec<String>,
    updated_numbers: Vec<i64>,
    updated_times: Vec<f64>,
    updated_fields: Vec<String>,
    inserted_tables: Vec<String>,
    inserted_numbers: Vec<i64>,
    inserted_times: Vec<f64>,
    inserted_fields: Vec<String>,
    entry_tables: Vec<String>,
    entry_indexes: Vec<String>,
    entry_keys: Vec<Vec<u8>>,
    entry_numbers: Vec<i64>,
}

impl FloorCommit {
    fn params(&self) -> [&(dyn ToSql + Sync); 21] {
        [
            &self.snapshot,
            &self.read_tables,
            &self.read_indexes,
            &self.read_lows,
            &self.read_highs,
            &self.written_tables,
            &self.written_numbers,
            &self.deleted_tables,
            &self.deleted_numbers,
            &self.updated_tables,
            &self.updated_numbers,
            &self.updated_times,
            &self.updated_fields,
            &self.inserted_tables,
            &self.inserted_numbers,
            &self.inserted_times,
            &self.inserted_fields,
            &self.entry_tables,
            &self.entry_indexes,
            &self.entry_keys,
            &self.entry_numbers,
        ]
    }
}

/// The transaction side of a commit inserting `item` as a new document, as the engine does
/// it: `next_number` (a number from the block, or a new block), then `commit_writes` (the
/// document, `WriteRows`, an empty `ReadRanges`). Returns the commit, and whether a
/// `REPEATABLE READ` snapshot was begun on `c` for the block (the caller ends it).
async fn floor_prepare(c: &FloorConn, shared: &FloorShared, item: &Item) -> (FloorCommit, bool) {
    const TABLE: &str = "floor_items";
    // `next_number`: a number from the block, or a new block: `nextval` is the
    // transaction's first statement, sent together with its `BEGIN` and the read of the
    // snapshot's commit number (`with_begin`), in one round trip.
    let cached = shared
        .numbers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .next();
    // A transaction that took no new block has no snapshot: it commits with 0.
    let (number, snapshot) = match cached {
        Some(n) => (n, None),
        None => {
            let (messages, first) = futures::future::join(
                c.client.simple_query(&shared.sql.begin_snapshot),
                c.client.query_one(&c.next_block, &[]),
            )
            .await;
            // The snapshot's commit number, parsed as the engine does.
            let snapshot = messages
                .expect("begin snapshot")
                .iter()
                .find_map(|m| match m {
                    SimpleQueryMessage::Row(row) => row.get(0).and_then(|v| v.parse::<i64>().ok()),
                    _ => None,
                })
                .expect("commit number");
            let first: i64 = first.expect("nextval").get(0);
            let first = first as u64;
            *shared
                .numbers
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = first + 1..first + NUMBER_BLOCK;
            (first, Some(snapshot))
        }
    };
    // The document (`Transaction::insert`), then `WriteRows`: fields as Convex JSON, one
    // entry per index.
    let fields = value::to_value(item)
        .expect("encode")
        .into_object()
        .expect("object");
    let creation_time = now_millis();
    let number = number as i64;
    let json: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(k, v)| (k.clone(), value::to_convex_json(v)))
        .collect();
    let text = serde_json::to_string(&serde_json::Value::Object(json)).expect("json");
    let mut by_creation_time = Vec::with_capacity(20);
    key::float(creation_time, &mut by_creation_time);
    key::int(number, &mut by_creation_time);
    let mut by_id = Vec::with_capacity(9);
    key::int(number, &mut by_id);
    let mut by_owner = Vec::with_capacity(40);
    key::string(fields["owner"].as_str().expect("owner"), &mut by_owner);
    by_owner.extend_from_slice(&by_creation_time);
    let commit = FloorCommit {
        snapshot: snapshot.unwrap_or(0),
        // A blind insert reads nothing: `ReadRanges` is empty, so `apply_commit` checks
        // nothing.
        read_tables: Vec::new(),
        read_indexes: Vec::new(),
        read_lows: Vec::new(),
        read_highs: Vec::new(),
        // The document is new (its number was allocated here): no old entries, no
        // deletes, no updates.
        written_tables: Vec::new(),
        written_numbers: Vec::new(),
        deleted_tables: Vec::new(),
        deleted_numbers: Vec::new(),
        updated_tables: Vec::new(),
        updated_numbers: Vec::new(),
        updated_times: Vec::new(),
        updated_fields: Vec::new(),
        inserted_tables: vec![TABLE.to_owned()],
        inserted_numbers: vec![number],
        inserted_times: vec![creation_time],
        inserted_fields: vec![text],
        // In the schema's order: the system indexes, then the declared one.
        entry_tables: vec![TABLE.to_owned(); 3],
        entry_indexes: ["by_id", "by_creation_time", "by_owner"]
            .into_iter()
            .map(str::to_owned)
            .collect(),
        entry_keys: vec![by_id, by_creation_time, by_owner],
        entry_numbers: vec![number; 3],
    };
    (commit, snapshot.is_some())
}

/// What the engine's committer sends for a batch of commits (`Committer::commit`), in one
/// round trip: `BEGIN ISOLATION LEVEL READ COMMITTED`, the commit lock, one `apply_commit`
/// per commit, the two pruning statements when the commit count crosses a multiple of
/// [`PRUNE_EVERY`], and `COMMIT`. If a snapshot is open on `c` (`end_snapshot`), its
/// `ROLLBACK` goes first in the same round trip: the engine spawns it on the snapshot's
/// own connection without waiting for it.
async fn floor_send(c: &FloorConn, shared: &FloorShared, batch: &[FloorCommit], snapshot: bool) {
    let begin = if snapshot {
        "ROLLBACK; BEGIN ISOLATION LEVEL READ COMMITTED"
    } else {
        "BEGIN ISOLATION LEVEL READ COMMITTED"
    };
    let n = batch.len() as u64;
    let previous = shared.commits.fetch_add(n, Ordering::Relaxed);
    let prune = previous / PRUNE_EVERY != (previous + n) / PRUNE_EVERY;
    let lock_params: [&(dyn ToSql + Sync); 1] = [&shared.schema];
    let params: Vec<[&(dyn ToSql + Sync); 21]> = batch.iter().map(FloorCommit::params).collect();
    let pruning: Vec<&Statement> = if prune {
        vec![&c.prune_log, &c.prune_keys]
    } else {
        Vec::new()
    };
    // Each statement is its own future, polled in this order, so all are sent before the
    // first answer is awaited.
    let (began, locked, applied, pruned, committed) = futures::future::join5(
        c.client.batch_execute(begin),
        c.client.execute(&c.commit_lock, &lock_params),
        futures::future::join_all(
            params
                .iter()
                .map(|p| c.client.query_one(&c.apply_commit, p)),
        ),
        futures::future::join_all(pruning.into_iter().map(|s| c.client.execute(s, &[]))),
        c.client.batch_execute("COMMIT"),
    )
    .await;
    began.expect("begin");
    locked.expect("commit lock");
    for row in applied {
        let conflict: Option<String> = row.expect("apply_commit").get(0);
        assert_eq!(conflict, None, "a blind insert does not conflict");
    }
    for result in pruned {
        result.expect("prune");
    }
    committed.expect("commit");
}

/// The engine's SQL for one commit on its own (what it sends when commits arrive one at a
/// time): the number, then one transaction with one `apply_commit`.
async fn engine_sql_commit(c: &FloorConn, shared: &FloorShared, item: &Item) {
    let (commit, snapshot) = floor_prepare(c, shared, item).await;
    floor_send(c, shared, std::slice::from_ref(&commit), snapshot).await;
}

/// The engine's SQL for `batch.len()` commits grouped into one transaction, as its
/// committer sends the commits that queued up meanwhile.
async fn engine_sql_group(c: &FloorConn, shared: &FloorShared, item: &Item, size: usize) {
    let mut batch = Vec::with_capacity(size);
    let mut snapshot = false;
    for _ in 0..size {
        // One snapshot per connection at a time: a second block in the same batch (not
        // expected: a block is 64 numbers) would come from a snapshot already ended.
        if snapshot
            && shared
                .numbers
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
        {
            c.client.batch_execute("ROLLBACK").await.expect("rollback");
            snapshot = false;
        }
        let (commit, began) = floor_prepare(c, shared, item).await;
        snapshot |= began;
        batch.push(commit);
    }
    floor_send(c, shared, &batch, snapshot).await;
}

/// The minimal floor: one autocommitted INSERT of a same-sized row.
async fn plain_commit(c: &FloorConn, shared: &FloorShared) {
    let n = shared.plain_next.fetch_add(1, Ordering::Relaxed) as i64 + 1;
    c.client
        .execute(
            &c.plain_insert,
            &[&"plain_items", &n, &now_millis(), &shared.plain_fields],
        )
        .await
        .expect("plain insert");
}

/// The typed decode `Doc::<Item>` does: clone the fields, deserialize, check the id.
fn decode(doc: &Document) -> (Id<Item>, f64, Item) {
    let value: Item = value::from_value(Value::Object(doc.fields.clone())).expect("decode");
    let id = doc.id.typed::<Item>().expect("typed id");
    (id, doc.creation_time, value)
}

/// A stored row as the engine turns it into a document (`document_json::decode_fields`).
fn document(table: &Arc<str>, number: i64, creation_time: f64, fields: &str) -> Arc<Document> {
    let json: serde_json::Value = serde_json::from_str(fields).expect("json");
    let fields = value::from_convex_json(json)
        .expect("convex json")
        .into_object()
        .expect("object");
    Arc::new(Document {
        id: DocumentId::new(table.clone(), number as u64),
        creation_time,
        fields,
    })
}

/// The byte-key bounds of `eq("owner", owner)` on `by_owner`: `[owner]` included, `[owner,
/// MAX]` excluded.
fn owner_bounds(owner: &str) -> (Vec<u8>, Vec<u8>) {
    let mut low = Vec::with_capacity(owner.len() + 4);
    key::string(owner, &mut low);
    let mut high = low.clone();
    high.push(key::MAX);
    (low, high)
}

async fn floor_range_once(c: &FloorConn, owner: &str, items: &Arc<str>) -> usize {
    let (low, high) = owner_bounds(owner);
    let rows = c
        .client
        .query(&c.scan, &[&"items", &"by_owner", &low, &high, &None::<i64>])
        .await
        .expect("scan");
    let docs: Vec<_> = rows
        .iter()
        .map(|row| decode(&document(items, row.get(0), row.get(1), row.get(2))))
        .collect();
    let n = docs.len();
    black_box(docs);
    n
}

async fn floor_get_once(c: &FloorConn, id: &DocumentId, items: &Arc<str>) -> bool {
    let row = c
        .client
        .query_opt(&c.get, &[&id.table(), &(id.number() as i64)])
        .await
        .expect("get");
    let doc = row.map(|row| decode(&document(items, id.number() as i64, row.get(0), row.get(1))));
    let found = doc.is_some();
    black_box(doc);
    found
}

const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

// ---------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------

struct Fixture {
    runtime: tokio::runtime::Runtime,
    rt: Runtime,
    floors: Vec<Arc<FloorConn>>,
    shared: Arc<FloorShared>,
    keys: Vec<DocumentId>,
    items: Arc<str>,
    owners: usize,
}

fn read_heavy_limits() -> TransactionLimits {
    TransactionLimits {
        max_documents_read: usize::MAX,
        max_bytes_read: usize::MAX,
        ..TransactionLimits::default()
    }
}

impl Fixture {
    fn new(runtime: tokio::runtime::Runtime, url: &str, schema: &str, docs: usize) -> Fixture {
        let mut config = PostgresConfig::new(url);
        config.schema = schema.to_owned();
        let store = PostgresStore::with_config(config).expect("a PostgreSQL store");
        let rt = Runtime::builder()
            .storage(store)
            .transaction_limits(read_heavy_limits())
            .build()
            .expect("runtime");
        let owners = docs / PER_OWNER;
        let sql = Sql::new(schema);
        let (ids, floors) = runtime.block_on(async {
            let mut ids = Vec::with_capacity(docs);
            for batch in (0..docs).collect::<Vec<_>>().chunks(1_000) {
                let items: Vec<Item> = batch.iter().map(|&i| item(i, owners)).collect();
                ids.extend(
                    rt.mutation(pg_bench::insert_many, items)
                        .await
                        .expect("fill"),
                );
            }
            let mut floors = Vec::with_capacity(TASKS);
            for _ in 0..TASKS {
                floors.push(Arc::new(FloorConn::open(url, &sql).await));
            }
            (ids, floors)
        });
        let keys = ids.iter().map(|id| id.document_id()).collect();
        let _ = IDS.set(ids);
        let _ = OWNER_LIST.set((0..RANGE_OWNERS.min(owners)).map(owner).collect());
        let fields = value::to_value(&item(12_345, owners)).expect("encode");
        let shared = Arc::new(FloorShared {
            schema: schema.to_owned(),
            sql,
            numbers: Mutex::new(0..0),
            commits: AtomicU64::new(0),
            plain_next: AtomicU64::new(0),
            plain_fields: value::to_convex_json(&fields).to_string(),
        });
        Fixture {
            runtime,
            rt,
            floors,
            shared,
            keys,
            items: Arc::from("items"),
            owners,
        }
    }

    fn inserts(&self, iters: u64) -> Duration {
        let item = item(12_345, self.owners);
        self.runtime.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                let id = self
                    .rt
                    .mutation(pg_bench::insert, item.clone())
                    .await
                    .expect("insert");
                black_box(id);
            }
            start.elapsed()
        })
    }

    fn concurrent_inserts(&self, iters: u64) -> Duration {
        let item = item(12_345, self.owners);
        self.runtime.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..TASKS as u64)
                .map(|t| {
                    let rt = self.rt.clone();
                    let item = item.clone();
                    tokio::spawn(async move {
                        for _ in 0..share(iters, t) {
                            let id = rt
                                .mutation(pg_bench::insert, item.clone())
                                .await
                                .expect("insert");
                            black_box(id);
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
            start.elapsed()
        })
    }

    fn floor_commits(&self, plain: bool, iters: u64) -> Duration {
        let item = item(12_345, self.owners);
        let c = &self.floors[0];
        self.runtime.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                if plain {
                    plain_commit(c, &self.shared).await;
                } else {
                    engine_sql_commit(c, &self.shared, &item).await;
                }
            }
            start.elapsed()
        })
    }

    /// The engine's SQL for `iters` commits from one connection, [`TASKS`] commits per
    /// transaction (the last one takes the rest).
    fn floor_grouped_commits(&self, iters: u64) -> Duration {
        let item = item(12_345, self.owners);
        let c = &self.floors[0];
        self.runtime.block_on(async {
            let start = Instant::now();
            let mut left = iters;
            while left > 0 {
                let size = left.min(TASKS as u64);
                engine_sql_group(c, &self.shared, &item, size as usize).await;
                left -= size;
            }
            start.elapsed()
        })
    }

    fn floor_concurrent_commits(&self, plain: bool, iters: u64) -> Duration {
        let item = item(12_345, self.owners);
        self.runtime.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..TASKS as u64)
                .map(|t| {
                    let c = self.floors[t as usize].clone();
                    let shared = self.shared.clone();
                    let item = item.clone();
                    tokio::spawn(async move {
                        for _ in 0..share(iters, t) {
                            if plain {
                                plain_commit(&c, &shared).await;
                            } else {
                                engine_sql_commit(&c, &shared, &item).await;
                            }
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.expect("task");
            }
            start.elapsed()
        })
    }

    /// One `rt.query` per read.
    fn queries(&self, range: bool, iters: u64) -> Duration {
        let owners = owners();
        let ids = ids();
        self.runtime.block_on(async {
            let start = Instant::now();
            for i in 0..iters {
                if range {
                    let owner = owners[i as usize % owners.len()].clone();
                    let n = self
                        .rt
                        .query(pg_bench::by_owner, owner)
                        .await
                        .expect("range");
                    assert_eq!(n, PER_OWNER);
                } else {
                    let id = ids[pick(i, ids.len())];
                    let found = self.rt.query(pg_bench::get_item, id).await.expect("get");
                    assert!(found);
                }
            }
            start.elapsed()
        })
    }

    /// The reads in one query, timed from inside the handler.
    fn query_driver(&self, range: bool, iters: u64) -> Duration {
        let nanos = self.runtime.block_on(async {
            if range {
                self.rt.query(pg_bench::drive_range, iters).await
            } else {
                self.rt.query(pg_bench::drive_get, iters).await
            }
        });
        Duration::from_nanos(nanos.expect("driver"))
    }

    /// One pipelined `BEGIN .. READ ONLY; SELECT; COMMIT` per read.
    fn floor_transactions(&self, range: bool, iters: u64) -> Duration {
        let c = &self.floors[0];
        let owners = owners();
        self.runtime.block_on(async {
            let start = Instant::now();
            for i in 0..iters {
                let (began, read, committed) = if range {
                    let owner = &owners[i as usize % owners.len()];
                    tokio::join!(
                        c.client.batch_execute(BEGIN_READ),
                        floor_range_once(c, owner, &self.items),
                        c.client.batch_execute("COMMIT"),
                    )
                } else {
                    let key = &self.keys[pick(i, self.keys.len())];
                    let (began, found, committed) = tokio::join!(
                        c.client.batch_execute(BEGIN_READ),
                        floor_get_once(c, key, &self.items),
                        c.client.batch_execute("COMMIT"),
                    );
                    (began, usize::from(found), committed)
                };
                began.expect("begin");
                committed.expect("commit");
                assert_eq!(read, if range { PER_OWNER } else { 1 });
            }
            start.elapsed()
        })
    }

    /// The reads in one open `REPEATABLE READ` transaction (begin and end untimed).
    fn floor_in_transaction(&self, range: bool, iters: u64) -> Duration {
        let c = &self.floors[0];
        let owners = owners();
        self.runtime.block_on(async {
            c.client.batch_execute(BEGIN_READ).await.expect("begin");
            let start = Instant::now();
            for i in 0..iters {
                if range {
                    let owner = &owners[i as usize % owners.len()];
                    assert_eq!(floor_range_once(c, owner, &self.items).await, PER_OWNER);
                } else {
                    let key = &self.keys[pick(i, self.keys.len())];
                    assert!(floor_get_once(c, key, &self.items).await);
                }
            }
            let elapsed = start.elapsed();
            c.client.batch_execute("COMMIT").await.expect("commit");
            elapsed
        })
    }
}

/// Task `t`'s share of `iters` over [`TASKS`] tasks (the shares add up to `iters`).
fn share(iters: u64, t: u64) -> u64 {
    let tasks = TASKS as u64;
    iters / tasks + u64::from(t < iters % tasks)
}

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Shown as operations per second.
    Commit,
    /// Shown as time per operation.
    Read,
}

struct Row {
    kind: Kind,
    label: &'static str,
    case: &'static str,
    floor_label: &'static str,
    floor: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        kind: Kind::Commit,
        label: "insert commit, 1 task (rt.mutation)",
        case: "insert_1_task",
        floor_label: "engine SQL, 1 connection",
        floor: "floor_engine_sql_1",
    },
    Row {
        kind: Kind::Commit,
        label: "insert commit, 1 task (rt.mutation)",
        case: "insert_1_task",
        floor_label: "plain INSERT, 1 connection",
        floor: "floor_plain_insert_1",
    },
    Row {
        kind: Kind::Commit,
        label: "insert commit, 8 tasks (rt.mutation)",
        case: "insert_8_tasks",
        floor_label: "engine SQL, 8 conns, tx per commit",
        floor: "floor_engine_sql_8",
    },
    Row {
        kind: Kind::Commit,
        label: "insert commit, 8 tasks (rt.mutation)",
        case: "insert_8_tasks",
        floor_label: "engine SQL, 1 conn, 8 commits/tx",
        floor: "floor_engine_sql_grouped",
    },
    Row {
        kind: Kind::Commit,
        label: "insert commit, 8 tasks (rt.mutation)",
        case: "insert_8_tasks",
        floor_label: "plain INSERT, 8 connections",
        floor: "floor_plain_insert_8",
    },
    Row {
        kind: Kind::Read,
        label: "indexed range, 10 docs, rt.query each",
        case: "range_query_each",
        floor_label: "BEGIN RR+SELECT+COMMIT pipelined",
        floor: "floor_range_tx_each",
    },
    Row {
        kind: Kind::Read,
        label: "indexed range, 10 docs, in one query",
        case: "range_in_query",
        floor_label: "SELECT in open RR transaction",
        floor: "floor_range_in_tx",
    },
    Row {
        kind: Kind::Read,
        label: "get by id, rt.query each",
        case: "get_query_each",
        floor_label: "BEGIN RR+SELECT+COMMIT pipelined",
        floor: "floor_get_tx_each",
    },
    Row {
        kind: Kind::Read,
        label: "get by id, in one query",
        case: "get_in_query",
        floor_label: "SELECT in open RR transaction",
        floor: "floor_get_in_tx",
    },
];

const GROUP: &str = "postgres";

/// A figure as the row's kind shows it: operations per second, or time per operation.
fn fmt_figure(kind: Kind, ns: f64) -> String {
    match kind {
        Kind::Commit => format!("{:.0}/s", 1e9 / ns),
        Kind::Read if ns >= 10_000.0 => format!("{:.1} µs", ns / 1000.0),
        Kind::Read => format!("{ns:.0} ns"),
    }
}

/// The ratio as the row's kind shows it: throughput against the floor's, or time.
fn fmt_ratio(kind: Kind, ours: f64, floor: f64) -> String {
    match kind {
        Kind::Commit => format!("{:.2}×", floor / ours),
        Kind::Read => format!("{:.2}×", ours / floor),
    }
}

fn print_table(ran: &[&str], paired: &[(usize, Paired)], url: &str, schema: &str) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nconvoke PostgreSQL engine beside the same statements through tokio-postgres, same run\n\
         server {url}, schema {schema}\n\
         (criterion: medians of separate runs; A/B: medians of interleaved blocks;\n \
         commits: per second, × = our throughput / the floor's; reads: per operation, × = our time / the floor's)"
    );
    for (kind, title) in [(Kind::Commit, "commits"), (Kind::Read, "reads")] {
        let _ = writeln!(
            out,
            "\n{:<40} {:<34} │ {:>10} {:>10} {:>7} │ {:>10} {:>10} {:>7}",
            title, "floor", "ours", "floor", "×", "A/B ours", "A/B flr", "×"
        );
        for (i, row) in ROWS.iter().enumerate() {
            if row.kind != kind || !ran.contains(&row.case) || !ran.contains(&row.floor) {
                continue;
            }
            let (Some(ours), Some(floor)) =
                (read_median(GROUP, row.case), read_median(GROUP, row.floor))
            else {
                continue;
            };
            let (ab_ours, ab_floor, ab_ratio) = match paired.iter().find(|(r, _)| *r == i) {
                Some((_, p)) => (
                    fmt_figure(kind, p.ours),
                    fmt_figure(kind, p.floor),
                    fmt_ratio(kind, p.ours, p.floor),
                ),
                None => Default::default(),
            };
            let _ = writeln!(
                out,
                "{:<40} {:<34} │ {:>10} {:>10} {:>7} │ {:>10} {:>10} {:>7}",
                row.label,
                row.floor_label,
                fmt_figure(kind, ours),
                fmt_figure(kind, floor),
                fmt_ratio(kind, ours, floor),
                ab_ours,
                ab_floor,
                ab_ratio,
            );
        }
    }
    println!("{out}");
}

// ---------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let url = url();
    if !available(&runtime, &url) {
        return;
    }
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let schema = format!("convoke_bench_{}", std::process::id());
    // Declared first, dropped last: after the runtime and its connections are gone.
    let _drop_schema = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let docs = if benchmarking { DOCS } else { SMOKE_DOCS };
    let f = Fixture::new(runtime, &url, &schema, docs);
    // Untimed: the pool opens its connections and each prepares its statements; the
    // server's caches warm up.
    f.concurrent_inserts(256);
    f.floor_concurrent_commits(false, 256);
    f.queries(true, 64);
    f.queries(false, 64);
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(10)
        .configure_from_args();

    type Case<'a> = (&'static str, Box<dyn Fn(u64) -> Duration + 'a>);
    let cases: Vec<Case<'_>> = vec![
        ("insert_1_task", Box::new(|n| f.inserts(n))),
        (
            "floor_engine_sql_1",
            Box::new(|n| f.floor_commits(false, n)),
        ),
        (
            "floor_plain_insert_1",
            Box::new(|n| f.floor_commits(true, n)),
        ),
        ("insert_8_tasks", Box::new(|n| f.concurrent_inserts(n))),
        (
            "floor_engine_sql_8",
            Box::new(|n| f.floor_concurrent_commits(false, n)),
        ),
        (
            "floor_engine_sql_grouped",
            Box::new(|n| f.floor_grouped_commits(n)),
        ),
        (
            "floor_plain_insert_8",
            Box::new(|n| f.floor_concurrent_commits(true, n)),
        ),
        ("range_query_each", Box::new(|n| f.queries(true, n))),
        (
            "floor_range_tx_each",
            Box::new(|n| f.floor_transactions(true, n)),
        ),
        ("range_in_query", Box::new(|n| f.query_driver(true, n))),
        (
            "floor_range_in_tx",
            Box::new(|n| f.floor_in_transaction(true, n)),
        ),
        ("get_query_each", Box::new(|n| f.queries(false, n))),
        (
            "floor_get_tx_each",
            Box::new(|n| f.floor_transactions(false, n)),
        ),
        ("get_in_query", Box::new(|n| f.query_driver(false, n))),
        (
            "floor_get_in_tx",
            Box::new(|n| f.floor_in_transaction(false, n)),
        ),
    ];

    let find = |name: &str| {
        cases
            .iter()
            .find(|(case, _)| *case == name)
            .map(|(_, run)| run.as_ref())
    };
    let mut ran = Vec::new();
    {
        let mut group = criterion.benchmark_group(GROUP);
        for (name, run) in &cases {
            let mut measured = false;
            group.bench_function(*name, |b| {
                measured = true;
                b.iter_custom(run);
            });
            if measured {
                ran.push(*name);
            }
        }
        group.finish();
    }
    criterion.final_summary();
    if benchmarking && !ran.is_empty() {
        let mut ab = Vec::new();
        for (i, row) in ROWS.iter().enumerate() {
            if let (true, Some(ours), Some(floor)) = (
                ran.contains(&row.case) && ran.contains(&row.floor),
                find(row.case),
                find(row.floor),
            ) {
                ab.push((
                    i,
                    paired(
                        ours,
                        floor,
                        Duration::from_millis(40),
                        Duration::from_secs(3),
                    ),
                ));
            }
        }
        print_table(&ran, &ab, &url, &schema);
    }
    drop(cases);
    // The engine's pool and the floor's connections close before the schema is dropped.
    drop(f);
}
