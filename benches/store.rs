//! Document store benchmarks, each figure beside a floor measured in the same run.
//!
//! `cargo bench --bench store` runs every case with criterion, then prints one table:
//! ns/op (criterion's median), the floor's ns/op, the ratio, and the target where there is
//! one. `cargo test --benches` runs each case once, as a smoke test.
//!
//! # The cases and their floors
//!
//! The store holds 10,000 `items` documents (`owner`, `name`, `size`, three `tags`: about
//! 150 bytes of fields), 10 per owner, indexed `by_owner`.
//!
//! - **get, API**: `ctx.db().get(id)` inside a query (the transaction's read set, the
//!   engine's snapshot read, and the typed decode into `Doc<Item>`), over the 10,000 ids in
//!   a fixed scattered order. Floor: a `HashMap<DocumentId, Arc<Document>>` holding the same
//!   `Arc<Document>`s, looked up by precomputed key, plus the same typed decode (clone the
//!   fields, `value::from_value::<Item>`, `DocumentId::typed`).
//! - **get, engine**: `Storage::get` on the `MemoryStore` (snapshot read, no decode), vs
//!   the same map lookup returning the `Arc` (no decode).
//! - **indexed range**: `query::<Item>().with_index("by_owner", |r| r.eq("owner", o))
//!   .collect()` inside a query (10 documents, decoded), cycling over 16 owners. Floor: a
//!   `BTreeMap<(owner, number), Arc<Document>>` range over the same 10 documents, with the
//!   same decode.
//! - **insert commit**: `rt.mutation(insert, item)` from outside the runtime (a transaction
//!   with one insert, committed), one after the other. On the in-memory engine the floor is
//!   the document encoded (`value::to_value`) and put in a `Mutex<HashMap>`; on the durable
//!   engine it is a bare SQLite commit with the same settings as `SqliteStore` (WAL,
//!   `synchronous=FULL`, exclusive locking), one `INSERT` of a same-sized row (same table
//!   layout, the fields as pre-encoded Convex JSON) per transaction, in a temporary
//!   directory on the same file system.
//! - **contended inserts**: the same inserts from 4 tasks on a 2-worker tokio runtime (no
//!   conflicts: they contend for the commit lock). Floors: the same floors from 4 threads
//!   (SQLite: one connection behind a mutex, as the engine has).
//! - **contended increments**: 4 tasks incrementing one counter document (every commit
//!   conflicts with the others' reads: optimistic concurrency re-runs them, with backoff).
//!   Floor: the same number of increments from one task.
//!
//! Loops that need a context (`get` and range through the API) run inside a query
//! procedure and time themselves from inside the handler; the query runs with the
//! per-transaction read limits lifted, since one loop reads millions of documents.

#[path = "support/figures.rs"]
mod figures;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use convoke::db::{DocumentId, TransactionLimits};
use convoke::store::{Document, MemoryStore, SqliteStore};
use convoke::value::{self, Value};
use convoke::{Id, Runtime};
use criterion::Criterion;
use figures::{Paired, paired, read_median};
use rusqlite::{Connection, params};

use store_bench::Item;

const DOCS: usize = 10_000;
const OWNERS: usize = 1_000;
/// The range case cycles over this many owners (a transaction records each range it
/// reads, so a loop over every owner would measure a growing read set).
const RANGE_OWNERS: usize = 16;
const TASKS: usize = 4;
/// Insert cases start over on a fresh store once this many documents were inserted, so
/// memory stays bounded (untimed).
const RESET_AFTER: u64 = 200_000;

// ---------------------------------------------------------------------------------------
// The procedures
// ---------------------------------------------------------------------------------------

mod store_bench {
    use std::hint::black_box;
    use std::time::Instant;

    use convoke::{Error, Id, MutationCtx, QueryCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(store_bench);

    #[derive(Debug, Clone, Serialize, Deserialize, Table)]
    #[table(name = "items", index(by_owner = ["owner"]))]
    pub struct Item {
        pub owner: String,
        pub name: String,
        pub size: i64,
        pub tags: Vec<String>,
    }

    #[derive(Debug, Clone, Serialize, Deserialize, Table)]
    #[table(name = "counters")]
    pub struct Counter {
        pub n: i64,
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

    #[procedure(mutation)]
    pub async fn new_counter(ctx: &MutationCtx<'_>) -> Result<Id<Counter>> {
        Ok(ctx.db().insert(&Counter { n: 0 }).await?)
    }

    #[procedure(mutation)]
    pub async fn increment(ctx: &MutationCtx<'_>, id: Id<Counter>) -> Result<i64> {
        let Some(counter) = ctx.db().get(id).await? else {
            return Err(Error::user("no counter"));
        };
        let n = counter.n + 1;
        ctx.db().replace(id, &Counter { n }).await?;
        Ok(n)
    }

    #[procedure(query)]
    pub async fn count_counter(ctx: &QueryCtx<'_>, id: Id<Counter>) -> Result<i64> {
        Ok(ctx.db().get(id).await?.map_or(0, |c| c.n))
    }

    /// `iters` gets by id through the API; returns the loop's nanoseconds.
    #[procedure(query)]
    pub async fn drive_get(ctx: &QueryCtx<'_>, iters: u64) -> Result<u64> {
        let ids = super::ids();
        let start = Instant::now();
        for i in 0..iters {
            let id = ids[super::pick(i, ids.len())];
            let doc = ctx.db().get(id).await?;
            black_box(doc);
        }
        Ok(start.elapsed().as_nanos() as u64)
    }

    /// `iters` indexed range queries through the API; returns the loop's nanoseconds.
    #[procedure(query)]
    pub async fn drive_range(ctx: &QueryCtx<'_>, iters: u64) -> Result<u64> {
        let owners = super::owners();
        let start = Instant::now();
        for i in 0..iters {
            let owner = &owners[i as usize % super::RANGE_OWNERS];
            let docs = ctx
                .db()
                .query::<Item>()
                .with_index("by_owner", |r| r.eq("owner", owner))
                .collect()
                .await?;
            debug_assert_eq!(docs.len(), super::DOCS / super::OWNERS);
            black_box(docs);
        }
        Ok(start.elapsed().as_nanos() as u64)
    }
}

fn item(i: usize) -> Item {
    Item {
        owner: owner(i % OWNERS),
        name: format!("item number {i:08}"),
        size: i as i64,
        tags: vec!["alpha".into(), "beta".into(), "gamma".into()],
    }
}

fn owner(i: usize) -> String {
    format!("owner-{i:04}")
}

/// A scattered but fixed order over `0..n` (7919 is prime, so this is a permutation for
/// any `n` it does not divide).
fn pick(i: u64, n: usize) -> usize {
    (i as usize).wrapping_mul(7919) % n
}

static IDS: OnceLock<Vec<Id<Item>>> = OnceLock::new();
static OWNER_LIST: OnceLock<Vec<String>> = OnceLock::new();

fn ids() -> &'static [Id<Item>] {
    IDS.get().map(Vec::as_slice).unwrap_or(&[])
}

fn owners() -> &'static [String] {
    OWNER_LIST.get().map(Vec::as_slice).unwrap_or(&[])
}

// ---------------------------------------------------------------------------------------
// Floors
// ---------------------------------------------------------------------------------------

/// The typed decode `Doc::<Item>` does: clone the fields, deserialize, check the id.
fn decode(doc: &Document) -> (Id<Item>, f64, Item) {
    let value: Item = value::from_value(Value::Object(doc.fields.clone())).expect("decode");
    let id = doc.id.typed::<Item>().expect("typed id");
    (id, doc.creation_time, value)
}

/// The in-memory floor for inserts: the document encoded and put in a map.
#[derive(Default)]
struct MapStore {
    docs: Mutex<HashMap<DocumentId, Arc<Document>>>,
    next: AtomicU64,
}

impl MapStore {
    fn insert(&self, item: &Item) -> DocumentId {
        let fields = value::to_value(item)
            .expect("encode")
            .into_object()
            .expect("object");
        let id = DocumentId::new("items", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let doc = Arc::new(Document {
            id: id.clone(),
            creation_time: now_millis(),
            fields,
        });
        self.docs.lock().expect("map").insert(id.clone(), doc);
        id
    }

    fn reset_if_large(&self) {
        if self.next.load(Ordering::Relaxed) > RESET_AFTER {
            self.docs.lock().expect("map").clear();
            self.next.store(0, Ordering::Relaxed);
        }
    }
}

fn now_millis() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// The durable floor: bare SQLite commits with `SqliteStore`'s settings.
struct BareSqlite {
    conn: Mutex<Connection>,
    next: AtomicU64,
    /// A row's fields: the Convex JSON of an item, as `SqliteStore` writes it.
    fields: String,
}

impl BareSqlite {
    fn open(dir: &Path) -> BareSqlite {
        std::fs::create_dir_all(dir).expect("bare dir");
        let conn = Connection::open(dir.join("bare.sqlite3")).expect("bare open");
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")
            .expect("locking_mode");
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
            .expect("journal_mode");
        assert_eq!(mode, "wal");
        conn.pragma_update(None, "synchronous", "FULL")
            .expect("synchronous");
        conn.execute_batch(
            "CREATE TABLE documents (
                 tbl TEXT NOT NULL,
                 number INTEGER NOT NULL,
                 ts INTEGER NOT NULL,
                 creation_time REAL,
                 fields TEXT NOT NULL,
                 PRIMARY KEY (tbl, number)
             );",
        )
        .expect("bare table");
        let fields = value::to_value(&item(12_345)).expect("encode");
        let fields = value::to_convex_json(&fields).to_string();
        BareSqlite {
            conn: Mutex::new(conn),
            next: AtomicU64::new(0),
            fields,
        }
    }

    /// One transaction, one INSERT.
    fn commit_one(&self) {
        let n = self.next.fetch_add(1, Ordering::Relaxed) as i64 + 1;
        let mut conn = self.conn.lock().expect("conn");
        let tx = conn.transaction().expect("begin");
        tx.prepare_cached(
            "INSERT INTO documents (tbl, number, ts, creation_time, fields)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .expect("prepare")
        .execute(params!["items", n, n, now_millis(), self.fields])
        .expect("insert");
        tx.commit().expect("commit");
    }
}

// ---------------------------------------------------------------------------------------
// The fixture
// ---------------------------------------------------------------------------------------

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir =
        std::env::temp_dir().join(format!("convoke-bench-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    TempDir(dir)
}

fn read_heavy_limits() -> TransactionLimits {
    TransactionLimits {
        max_documents_read: usize::MAX,
        max_bytes_read: usize::MAX,
        ..TransactionLimits::default()
    }
}

/// A runtime whose engine the bench can also reach directly.
fn memory_runtime() -> (Arc<MemoryStore>, Runtime) {
    let store = Arc::new(MemoryStore::new());
    let rt = Runtime::builder()
        .shared_storage(store.clone())
        .transaction_limits(read_heavy_limits())
        .build()
        .expect("runtime");
    (store, rt)
}

fn durable_runtime(dir: &Path) -> Runtime {
    let store = SqliteStore::open(dir).expect("open the durable store");
    Runtime::builder()
        .storage(store)
        .transaction_limits(read_heavy_limits())
        .build()
        .expect("runtime")
}

struct Fixture {
    current: tokio::runtime::Runtime,
    multi: tokio::runtime::Runtime,
    mem_store: Arc<MemoryStore>,
    mem_rt: Runtime,
    durable_rt: Runtime,
    /// Keys of the floor maps, in the order of `ids()`.
    keys: Vec<DocumentId>,
    map: HashMap<DocumentId, Arc<Document>>,
    by_owner: BTreeMap<(String, u64), Arc<Document>>,
    /// Fresh stores for the insert cases (reset when large).
    insert_mem: Mutex<(Runtime, u64)>,
    map_store: MapStore,
    durable_dir: TempDir,
    bare_dir: TempDir,
    bare: BareSqlite,
}

impl Fixture {
    fn new() -> Fixture {
        let current = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let multi = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio");
        let durable_dir = temp_dir("durable");
        let bare_dir = temp_dir("bare");
        let (mem_store, mem_rt) = memory_runtime();
        let durable_rt = durable_runtime(&durable_dir.0);
        let mut ids = Vec::new();
        let mut durable_ids = Vec::new();
        current.block_on(async {
            for batch in (0..DOCS).collect::<Vec<_>>().chunks(1_000) {
                let items: Vec<Item> = batch.iter().map(|&i| item(i)).collect();
                ids.extend(
                    mem_rt
                        .mutation(store_bench::insert_many, items.clone())
                        .await
                        .expect("fill"),
                );
                durable_ids.extend(
                    durable_rt
                        .mutation(store_bench::insert_many, items)
                        .await
                        .expect("fill"),
                );
            }
        });
        assert_eq!(ids, durable_ids, "both stores number documents alike");
        let snapshot = mem_store.begin(false);
        let mut keys = Vec::new();
        let mut map = HashMap::new();
        let mut by_owner = BTreeMap::new();
        for id in &ids {
            let key = id.document_id();
            let doc = mem_store.get(snapshot, &key).expect("get").expect("doc");
            let owner = doc.fields["owner"].as_str().expect("owner").to_owned();
            by_owner.insert((owner, key.number()), doc.clone());
            map.insert(key.clone(), doc);
            keys.push(key);
        }
        mem_store.release(snapshot);
        let _ = IDS.set(ids);
        let _ = OWNER_LIST.set((0..OWNERS).map(owner).collect());
        let bare = BareSqlite::open(&bare_dir.0);
        Fixture {
            current,
            multi,
            mem_store,
            mem_rt,
            durable_rt,
            keys,
            map,
            by_owner,
            insert_mem: Mutex::new((memory_runtime().1, 0)),
            map_store: MapStore::default(),
            durable_dir,
            bare_dir,
            bare,
        }
    }

    fn query_driver(&self, rt: &Runtime, range: bool, iters: u64) -> Duration {
        let nanos = self.current.block_on(async {
            if range {
                rt.query(store_bench::drive_range, iters).await
            } else {
                rt.query(store_bench::drive_get, iters).await
            }
        });
        Duration::from_nanos(nanos.expect("driver"))
    }

    fn floor_get_decoded(&self, iters: u64) -> Duration {
        let start = Instant::now();
        for i in 0..iters {
            let key = &self.keys[pick(i, self.keys.len())];
            let doc = self.map.get(key).expect("doc");
            black_box(decode(doc));
        }
        start.elapsed()
    }

    fn engine_get(&self, iters: u64) -> Duration {
        let snapshot = self.mem_store.begin(false);
        let start = Instant::now();
        for i in 0..iters {
            let key = &self.keys[pick(i, self.keys.len())];
            black_box(self.mem_store.get(snapshot, key).expect("get"));
        }
        let elapsed = start.elapsed();
        self.mem_store.release(snapshot);
        elapsed
    }

    fn floor_get(&self, iters: u64) -> Duration {
        let start = Instant::now();
        for i in 0..iters {
            let key = &self.keys[pick(i, self.keys.len())];
            black_box(self.map.get(key).cloned());
        }
        start.elapsed()
    }

    fn floor_range(&self, iters: u64) -> Duration {
        let owners = owners();
        let start = Instant::now();
        for i in 0..iters {
            let owner = &owners[i as usize % RANGE_OWNERS];
            let docs: Vec<_> = self
                .by_owner
                .range((owner.clone(), 0)..=(owner.clone(), u64::MAX))
                .map(|(_, doc)| decode(doc))
                .collect();
            debug_assert_eq!(docs.len(), DOCS / OWNERS);
            black_box(docs);
        }
        start.elapsed()
    }

    /// A runtime for the in-memory insert cases, fresh once it has grown large.
    fn insert_runtime(&self, iters: u64) -> Runtime {
        let mut slot = self.insert_mem.lock().expect("slot");
        if slot.1 > RESET_AFTER {
            *slot = (memory_runtime().1, 0);
        }
        slot.1 += iters;
        slot.0.clone()
    }

    fn inserts(&self, rt: &Runtime, iters: u64) -> Duration {
        let item = item(12_345);
        self.current.block_on(async {
            let start = Instant::now();
            for _ in 0..iters {
                let id = rt
                    .mutation(store_bench::insert, item.clone())
                    .await
                    .expect("insert");
                black_box(id);
            }
            start.elapsed()
        })
    }

    fn floor_map_inserts(&self, iters: u64) -> Duration {
        self.map_store.reset_if_large();
        let item = item(12_345);
        let start = Instant::now();
        for _ in 0..iters {
            black_box(self.map_store.insert(&black_box(item.clone())));
        }
        start.elapsed()
    }

    fn floor_bare_commits(&self, iters: u64) -> Duration {
        let start = Instant::now();
        for _ in 0..iters {
            self.bare.commit_one();
        }
        start.elapsed()
    }

    fn contended_inserts(&self, rt: &Runtime, iters: u64) -> Duration {
        let item = item(12_345);
        self.multi.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..TASKS as u64)
                .map(|t| {
                    let rt = rt.clone();
                    let item = item.clone();
                    tokio::spawn(async move {
                        for _ in 0..share(iters, t) {
                            let id = rt
                                .mutation(store_bench::insert, item.clone())
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

    fn floor_contended(&self, iters: u64, one: &(dyn Fn() + Sync)) -> Duration {
        let start = Instant::now();
        std::thread::scope(|scope| {
            for t in 0..TASKS as u64 {
                scope.spawn(move || {
                    for _ in 0..share(iters, t) {
                        one();
                    }
                });
            }
        });
        start.elapsed()
    }

    fn increments(&self, rt: &Runtime, tasks: u64, iters: u64) -> Duration {
        self.multi.block_on(async {
            let counter = rt
                .mutation(store_bench::new_counter, ())
                .await
                .expect("counter");
            let start = Instant::now();
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let rt = rt.clone();
                    tokio::spawn(async move {
                        for _ in 0..share_of(iters, t, tasks) {
                            rt.mutation(store_bench::increment, counter)
                                .await
                                .expect("increment");
                        }
                    })
                })
                .collect();
            for handle in handles {
                handle.await.expect("task");
            }
            let elapsed = start.elapsed();
            let n = rt
                .query(store_bench::count_counter, counter)
                .await
                .expect("count");
            assert_eq!(n as u64, iters, "every increment counted once");
            elapsed
        })
    }
}

/// Task `t`'s share of `iters` over [`TASKS`] tasks (the shares add up to `iters`).
fn share(iters: u64, t: u64) -> u64 {
    share_of(iters, t, TASKS as u64)
}

fn share_of(iters: u64, t: u64, tasks: u64) -> u64 {
    iters / tasks + u64::from(t < iters % tasks)
}

// ---------------------------------------------------------------------------------------
// The table
// ---------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Target {
    /// ns/op at most this many times the floor's.
    TimeAtMost(f64),
    /// Throughput at least this fraction of the floor's.
    ThroughputAtLeast(f64),
}

struct Row {
    label: &'static str,
    case: &'static str,
    floor_label: &'static str,
    floor: &'static str,
    target: Option<Target>,
}

const ROWS: &[Row] = &[
    Row {
        label: "get by id, API, in-memory (+ decode)",
        case: "get_api_memory",
        floor_label: "HashMap lookup + same decode",
        floor: "floor_map_get_decode",
        target: Some(Target::TimeAtMost(3.0)),
    },
    Row {
        label: "get by id, API, durable engine",
        case: "get_api_durable",
        floor_label: "HashMap lookup + same decode",
        floor: "floor_map_get_decode",
        target: None,
    },
    Row {
        label: "get by id, engine (MemoryStore::get)",
        case: "get_engine_memory",
        floor_label: "HashMap lookup, Arc clone",
        floor: "floor_map_get",
        target: Some(Target::TimeAtMost(3.0)),
    },
    Row {
        label: "indexed range, 10 docs (+ decode)",
        case: "range_memory",
        floor_label: "BTreeMap range + same decode",
        floor: "floor_btree_range_decode",
        target: None,
    },
    Row {
        label: "insert commit, in-memory (rt.mutation)",
        case: "insert_memory",
        floor_label: "encode + Mutex<HashMap> insert",
        floor: "floor_map_insert",
        target: None,
    },
    Row {
        label: "insert commit, durable (rt.mutation)",
        case: "insert_durable",
        floor_label: "bare SQLite commit, 1 INSERT",
        floor: "floor_sqlite_commit",
        target: Some(Target::ThroughputAtLeast(0.8)),
    },
    Row {
        label: "4 tasks inserting, in-memory",
        case: "contended_insert_memory",
        floor_label: "4 threads, encode + map insert",
        floor: "floor_contended_map_insert",
        target: None,
    },
    Row {
        label: "4 tasks inserting, durable",
        case: "contended_insert_durable",
        floor_label: "4 threads, bare SQLite commits",
        floor: "floor_contended_sqlite_commit",
        target: None,
    },
    Row {
        label: "4 tasks incrementing 1 doc, in-memory",
        case: "increment_4_tasks_memory",
        floor_label: "1 task, same increments",
        floor: "increment_1_task_memory",
        target: None,
    },
    Row {
        label: "4 tasks incrementing 1 doc, durable",
        case: "increment_4_tasks_durable",
        floor_label: "1 task, same increments",
        floor: "increment_1_task_durable",
        target: None,
    },
];

const GROUP: &str = "store";

fn fmt_ns(ns: f64) -> String {
    if ns >= 10_000.0 {
        format!("{:.1} µs", ns / 1000.0)
    } else {
        format!("{ns:.0} ns")
    }
}

fn verdict(target: Option<Target>, time_ratio: f64) -> &'static str {
    match target {
        None => "",
        Some(Target::TimeAtMost(max)) if time_ratio <= max => "met",
        Some(Target::ThroughputAtLeast(min)) if 1.0 / time_ratio >= min => "met",
        Some(_) => "MISSED",
    }
}

fn print_table(ran: &[&str], paired: &[(&str, Paired)]) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nconvoke store: time per operation beside its floor, same run\n\
         (criterion: medians of separate runs; A/B: medians of interleaved blocks)\n"
    );
    let _ = writeln!(
        out,
        "{:<46} {:<32} │ {:>9} {:>9} {:>7} │ {:>9} {:>9} {:>7} {:>7} │ target",
        "case", "floor", "ours", "floor", "× time", "A/B ours", "A/B flr", "× time", "× thrpt"
    );
    let mut targets = String::new();
    for row in ROWS {
        if !ran.contains(&row.case) {
            continue;
        }
        let (Some(ours), Some(floor)) =
            (read_median(GROUP, row.case), read_median(GROUP, row.floor))
        else {
            continue;
        };
        let time_ratio = ours / floor;
        let ab = paired
            .iter()
            .find(|(case, _)| *case == row.case)
            .map(|(_, p)| p);
        let (ab_ours, ab_floor, ab_ratio, ab_thrpt) = match ab {
            Some(p) => (
                fmt_ns(p.ours),
                fmt_ns(p.floor),
                format!("{:.2}×", p.ours / p.floor),
                format!("{:.2}×", p.floor / p.ours),
            ),
            None => Default::default(),
        };
        let target = match row.target {
            None => String::new(),
            Some(t) => {
                let goal = match t {
                    Target::TimeAtMost(max) => format!("≤ {max}× time"),
                    Target::ThroughputAtLeast(min) => format!("≥ {min}× throughput"),
                };
                let _ = writeln!(
                    targets,
                    "  {}: {goal}: criterion {}, A/B {}",
                    row.label,
                    verdict(row.target, time_ratio),
                    ab.map_or("not run", |p| verdict(row.target, p.ours / p.floor)),
                );
                goal
            }
        };
        let _ = writeln!(
            out,
            "{:<46} {:<32} │ {:>9} {:>9} {:>6.2}× │ {:>9} {:>9} {:>7} {:>7} │ {target}",
            row.label,
            row.floor_label,
            fmt_ns(ours),
            fmt_ns(floor),
            time_ratio,
            ab_ours,
            ab_floor,
            ab_ratio,
            ab_thrpt,
        );
    }
    if !targets.is_empty() {
        let _ = writeln!(out, "\ntargets:\n{targets}");
    }
    println!("{out}");
}

// ---------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------

fn main() {
    let f = Fixture::new();
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    type Case<'a> = (&'static str, Box<dyn Fn(u64) -> Duration + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "get_api_memory",
            Box::new(|n| f.query_driver(&f.mem_rt, false, n)),
        ),
        ("floor_map_get_decode", Box::new(|n| f.floor_get_decoded(n))),
        (
            "get_api_durable",
            Box::new(|n| f.query_driver(&f.durable_rt, false, n)),
        ),
        ("get_engine_memory", Box::new(|n| f.engine_get(n))),
        ("floor_map_get", Box::new(|n| f.floor_get(n))),
        (
            "range_memory",
            Box::new(|n| f.query_driver(&f.mem_rt, true, n)),
        ),
        ("floor_btree_range_decode", Box::new(|n| f.floor_range(n))),
        (
            "insert_memory",
            Box::new(|n| f.inserts(&f.insert_runtime(n), n)),
        ),
        ("floor_map_insert", Box::new(|n| f.floor_map_inserts(n))),
        ("insert_durable", Box::new(|n| f.inserts(&f.durable_rt, n))),
        ("floor_sqlite_commit", Box::new(|n| f.floor_bare_commits(n))),
        (
            "contended_insert_memory",
            Box::new(|n| f.contended_inserts(&f.insert_runtime(n), n)),
        ),
        (
            "floor_contended_map_insert",
            Box::new(|n| {
                f.map_store.reset_if_large();
                let item = item(12_345);
                f.floor_contended(n, &|| {
                    black_box(f.map_store.insert(&item));
                })
            }),
        ),
        (
            "contended_insert_durable",
            Box::new(|n| f.contended_inserts(&f.durable_rt, n)),
        ),
        (
            "floor_contended_sqlite_commit",
            Box::new(|n| f.floor_contended(n, &|| f.bare.commit_one())),
        ),
        (
            "increment_4_tasks_memory",
            Box::new(|n| f.increments(&f.mem_rt, TASKS as u64, n)),
        ),
        (
            "increment_1_task_memory",
            Box::new(|n| f.increments(&f.mem_rt, 1, n)),
        ),
        (
            "increment_4_tasks_durable",
            Box::new(|n| f.increments(&f.durable_rt, TASKS as u64, n)),
        ),
        (
            "increment_1_task_durable",
            Box::new(|n| f.increments(&f.durable_rt, 1, n)),
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
        for row in ROWS {
            if let (true, Some(ours), Some(floor)) = (
                ran.contains(&row.case) && ran.contains(&row.floor),
                find(row.case),
                find(row.floor),
            ) {
                ab.push((
                    row.case,
                    paired(
                        ours,
                        floor,
                        Duration::from_millis(20),
                        Duration::from_secs(4),
                    ),
                ));
            }
        }
        print_table(&ran, &ab);
    }
    println!(
        "data: {} (durable store), {} (bare SQLite)",
        f.durable_dir.0.display(),
        f.bare_dir.0.display()
    );
}
