//! Composition overhead: a composed call through `create_bench_caller(ctx)` against the
//! direct-call floor (the handler called with a context of its kind), in every context of
//! the call matrix, plus the runtime's entry points and by-name dispatch.
//!
//! `cargo bench --bench composition` runs every case with criterion, then prints one table:
//! ns/call (criterion's median), the ratio to the floor measured in the same run, the
//! difference to the floor, and heap allocations per call. It also writes the figures to
//! `<target>/convoke-bench/rust.json`, which `bench/run.sh` puts beside the TypeScript peers.
//!
//! # How a case is measured
//!
//! Contexts are created only by the runtime, so the loop runs *inside* a procedure: a
//! driver (`drive_query`, `drive_mutation`, `drive_action`) receives its context, awaits
//! the case's call `iters` times and returns the time the loop took, read from inside the
//! handler. Criterion's `iter_custom` runs the driver once per sample through
//! `rt.query(..)` / `rt.mutation(..)` / `rt.action(..)` and gets that duration back, so the
//! driver's own transaction is outside the timed region. The floor and every case go
//! through the same loop (`measure`), in the same process.
//!
//! Cases outside any procedure (`rt.query`, `rt.run`) time the same loop in the bench's own
//! future on a current-thread tokio runtime.

#[path = "support/target_dir.rs"]
mod target_dir;
use std::alloc::{GlobalAlloc, Layout, System};
use std::fmt::Write as _;
use std::future::Future;
use std::hint::black_box;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use convoke::db::TransactionLimits;
use convoke::{Id, Runtime};
use criterion::{BenchmarkId, Criterion};
use serde::{Deserialize, Serialize};
use target_dir::target_dir;

// ---------------------------------------------------------------------------------------
// Allocation counting
// ---------------------------------------------------------------------------------------

/// The system allocator, counting allocations while [`COUNTING`] is on. When off, the cost
/// is one relaxed load per allocation.
struct CountingAllocator;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator;

fn count_one() {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
// (A global allocator is `unsafe` to implement; this benchmark counts allocations with one.)
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

// ---------------------------------------------------------------------------------------
// The measured loop
// ---------------------------------------------------------------------------------------

/// What one run of a case asks for.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Drive {
    case: Case,
    target: Target,
    iters: u64,
    item: Id<bench::Item>,
    /// Count allocations instead of timing (a separate, shorter run).
    count_allocs: bool,
}

/// What one run of a case measured.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Measured {
    nanos: u64,
    allocs: u64,
}

/// Awaits `call(i)` for `i` in `0..iters` and returns the time the loop took (or, with
/// `count_allocs`, the allocations it made). The floor and every case go through here.
async fn measure<T, F, Fut>(drive: Drive, mut call: F) -> convoke::Result<Measured>
where
    F: FnMut(i64) -> Fut,
    Fut: Future<Output = convoke::Result<T>>,
{
    if drive.count_allocs {
        ALLOCATIONS.store(0, Ordering::Relaxed);
        COUNTING.store(true, Ordering::Relaxed);
    }
    let start = Instant::now();
    for i in 0..drive.iters {
        let output = call(black_box(i as i64)).await;
        black_box(output?);
    }
    let nanos = start.elapsed().as_nanos() as u64;
    COUNTING.store(false, Ordering::Relaxed);
    Ok(Measured {
        nanos,
        allocs: ALLOCATIONS.load(Ordering::Relaxed),
    })
}

// ---------------------------------------------------------------------------------------
// The procedures
// ---------------------------------------------------------------------------------------

mod bench {
    use std::hint::black_box;

    use convoke::{ActionCtx, Error, Id, MutationCtx, QueryCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    use super::{Case, Drive, Measured, Target, measure};

    convoke::module!(bench);

    /// The document the `get` cases read.
    #[derive(Serialize, Deserialize, Table)]
    #[table(name = "items")]
    pub struct Item {
        pub n: i64,
    }

    #[derive(Debug, Clone, Copy, Serialize, Deserialize)]
    pub struct Input {
        pub id: i64,
    }

    #[derive(Debug, Clone, Copy, Serialize, Deserialize)]
    pub struct GetItem {
        pub id: Id<Item>,
    }

    /// The trivial procedure: no database work.
    #[procedure(query)]
    pub async fn plus_one(_ctx: &QueryCtx<'_>, input: Input) -> Result<i64> {
        Ok(input.id + 1)
    }

    /// One `get` by id.
    #[procedure(query)]
    pub async fn get_item(ctx: &QueryCtx<'_>, input: GetItem) -> Result<i64> {
        match ctx.db().get(input.id).await? {
            Some(item) => Ok(item.n),
            None => Err(Error::user("no such item")),
        }
    }

    /// The trivial procedure, as a mutation.
    #[procedure(mutation)]
    pub async fn plus_one_mut(_ctx: &MutationCtx<'_>, input: Input) -> Result<i64> {
        Ok(input.id + 1)
    }

    /// One `get` by id, as a mutation.
    #[procedure(mutation)]
    pub async fn get_item_mut(ctx: &MutationCtx<'_>, input: GetItem) -> Result<i64> {
        match ctx.db().get(input.id).await? {
            Some(item) => Ok(item.n),
            None => Err(Error::user("no such item")),
        }
    }

    /// The trivial procedure, as an action.
    #[procedure(action)]
    pub async fn plus_one_action(_ctx: &ActionCtx, input: Input) -> Result<i64> {
        Ok(input.id + 1)
    }

    /// Set-up: the item the `get` cases read.
    #[procedure(mutation)]
    pub async fn insert_item(ctx: &MutationCtx<'_>, n: i64) -> Result<Id<Item>> {
        Ok(ctx.db().insert(&Item { n }).await?)
    }

    fn unsupported(drive: Drive) -> Error {
        Error::user(format!(
            "{:?}/{:?} is not run here",
            drive.case, drive.target
        ))
    }

    /// Runs a case from a query context.
    #[procedure(query)]
    pub async fn drive_query(ctx: &QueryCtx<'_>, d: Drive) -> Result<Measured> {
        let get = GetItem { id: d.item };
        let caller = create_bench_caller(ctx);
        match (d.case, d.target) {
            (Case::QueryFloor, Target::Trivial) => {
                measure(d, |id| plus_one(ctx, Input { id })).await
            }
            (Case::QueryFloor, Target::Get) => measure(d, |_| get_item(ctx, black_box(get))).await,
            (Case::QueryCallerPerCall, Target::Trivial) => {
                measure(d, |id| create_bench_caller(ctx).plus_one(Input { id })).await
            }
            (Case::QueryCallerPerCall, Target::Get) => {
                measure(d, |_| create_bench_caller(ctx).get_item(black_box(get))).await
            }
            (Case::QueryCallerReused, Target::Trivial) => {
                measure(d, |id| caller.plus_one(Input { id })).await
            }
            (Case::QueryCallerReused, Target::Get) => {
                measure(d, |_| caller.get_item(black_box(get))).await
            }
            _ => Err(unsupported(d)),
        }
    }

    /// Runs a case from a mutation context.
    #[procedure(mutation)]
    pub async fn drive_mutation(ctx: &MutationCtx<'_>, d: Drive) -> Result<Measured> {
        let get = GetItem { id: d.item };
        let caller = create_bench_caller(ctx);
        match (d.case, d.target) {
            (Case::MutationFloor, Target::Trivial) => {
                measure(d, |id| plus_one_mut(ctx, Input { id })).await
            }
            (Case::MutationFloor, Target::Get) => {
                measure(d, |_| get_item_mut(ctx, black_box(get))).await
            }
            (Case::MutationQueryPerCall, Target::Trivial) => {
                measure(d, |id| create_bench_caller(ctx).plus_one(Input { id })).await
            }
            (Case::MutationQueryPerCall, Target::Get) => {
                measure(d, |_| create_bench_caller(ctx).get_item(black_box(get))).await
            }
            (Case::MutationQueryReused, Target::Trivial) => {
                measure(d, |id| caller.plus_one(Input { id })).await
            }
            (Case::MutationQueryReused, Target::Get) => {
                measure(d, |_| caller.get_item(black_box(get))).await
            }
            (Case::MutationMutationPerCall, Target::Trivial) => {
                measure(d, |id| create_bench_caller(ctx).plus_one_mut(Input { id })).await
            }
            (Case::MutationMutationPerCall, Target::Get) => {
                measure(d, |_| create_bench_caller(ctx).get_item_mut(black_box(get))).await
            }
            (Case::MutationMutationReused, Target::Trivial) => {
                measure(d, |id| caller.plus_one_mut(Input { id })).await
            }
            (Case::MutationMutationReused, Target::Get) => {
                measure(d, |_| caller.get_item_mut(black_box(get))).await
            }
            _ => Err(unsupported(d)),
        }
    }

    /// Runs a case from an action context.
    #[procedure(action)]
    pub async fn drive_action(ctx: &ActionCtx, d: Drive) -> Result<Measured> {
        let get = GetItem { id: d.item };
        let caller = create_bench_caller(ctx);
        match (d.case, d.target) {
            (Case::ActionFloor, Target::Trivial) => {
                measure(d, |id| plus_one_action(ctx, Input { id })).await
            }
            (Case::ActionRunQuery, Target::Trivial) => {
                measure(d, |id| ctx.run_query(plus_one, Input { id })).await
            }
            (Case::ActionRunQuery, Target::Get) => {
                measure(d, |_| ctx.run_query(get_item, black_box(get))).await
            }
            (Case::ActionCallerQuery, Target::Trivial) => {
                measure(d, |id| caller.plus_one(Input { id })).await
            }
            (Case::ActionRunMutation, Target::Trivial) => {
                measure(d, |id| ctx.run_mutation(plus_one_mut, Input { id })).await
            }
            (Case::ActionRunMutation, Target::Get) => {
                measure(d, |_| ctx.run_mutation(get_item_mut, black_box(get))).await
            }
            (Case::ActionCallerMutation, Target::Trivial) => {
                measure(d, |id| caller.plus_one_mut(Input { id })).await
            }
            (Case::ActionActions, Target::Trivial) => {
                measure(d, |id| caller.actions().plus_one_action(Input { id })).await
            }
            _ => Err(unsupported(d)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------

/// Every case, named after the context it runs in and what it calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Case {
    QueryFloor,
    QueryCallerPerCall,
    QueryCallerReused,
    MutationFloor,
    MutationQueryPerCall,
    MutationQueryReused,
    MutationMutationPerCall,
    MutationMutationReused,
    ActionFloor,
    ActionRunQuery,
    ActionCallerQuery,
    ActionRunMutation,
    ActionCallerMutation,
    ActionActions,
    EntryQuery,
    EntryMutation,
    ByNameQuery,
    ByNameMutation,
}

/// The called procedure: trivial (`input.id + 1`) or one `get` by id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Target {
    Trivial,
    Get,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Trivial => "trivial",
            Target::Get => "get",
        }
    }
}

/// Where a case's loop runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Context {
    Query,
    Mutation,
    Action,
    Outside,
}

struct Spec {
    case: Case,
    context: Context,
    /// Criterion's group.
    group: &'static str,
    /// Criterion's function id.
    name: &'static str,
    /// What the table says.
    label: &'static str,
    targets: &'static [Target],
    /// The case whose figure is this case's floor (same target).
    floor: Case,
}

const BOTH: &[Target] = &[Target::Trivial, Target::Get];
const TRIVIAL: &[Target] = &[Target::Trivial];

const SPECS: &[Spec] = &[
    Spec {
        case: Case::QueryFloor,
        context: Context::Query,
        group: "query_ctx",
        name: "floor",
        label: "floor: query handler called directly (query ctx)",
        targets: BOTH,
        floor: Case::QueryFloor,
    },
    Spec {
        case: Case::QueryCallerPerCall,
        context: Context::Query,
        group: "query_ctx",
        name: "query_per_call",
        label: "query ctx → query, caller built per call",
        targets: BOTH,
        floor: Case::QueryFloor,
    },
    Spec {
        case: Case::QueryCallerReused,
        context: Context::Query,
        group: "query_ctx",
        name: "query_reused",
        label: "query ctx → query, caller reused",
        targets: BOTH,
        floor: Case::QueryFloor,
    },
    Spec {
        case: Case::MutationFloor,
        context: Context::Mutation,
        group: "mutation_ctx",
        name: "floor",
        label: "floor: mutation handler called directly (mutation ctx)",
        targets: BOTH,
        floor: Case::MutationFloor,
    },
    Spec {
        case: Case::MutationQueryPerCall,
        context: Context::Mutation,
        group: "mutation_ctx",
        name: "query_per_call",
        label: "mutation ctx → query, caller built per call",
        targets: BOTH,
        floor: Case::QueryFloor,
    },
    Spec {
        case: Case::MutationQueryReused,
        context: Context::Mutation,
        group: "mutation_ctx",
        name: "query_reused",
        label: "mutation ctx → query, caller reused",
        targets: BOTH,
        floor: Case::QueryFloor,
    },
    Spec {
        case: Case::MutationMutationPerCall,
        context: Context::Mutation,
        group: "mutation_ctx",
        name: "mutation_per_call",
        label: "mutation ctx → mutation (savepoint), caller built per call",
        targets: BOTH,
        floor: Case::MutationFloor,
    },
    Spec {
        case: Case::MutationMutationReused,
        context: Context::Mutation,
        group: "mutation_ctx",
        name: "mutation_reused",
        label: "mutation ctx → mutation (savepoint), caller reused",
        targets: BOTH,
        floor: Case::MutationFloor,
    },
    Spec {
        case: Case::ActionFloor,
        context: Context::Action,
        group: "action_ctx",
        name: "floor",
        label: "floor: action handler called directly (action ctx)",
        targets: TRIVIAL,
        floor: Case::ActionFloor,
    },
    Spec {
        case: Case::ActionRunQuery,
        context: Context::Action,
        group: "action_ctx",
        name: "run_query",
        label: "action ctx → query, ctx.run_query (own transaction)",
        targets: BOTH,
        floor: Case::QueryFloor,
    },
    Spec {
        case: Case::ActionCallerQuery,
        context: Context::Action,
        group: "action_ctx",
        name: "caller_query",
        label: "action ctx → query, through the caller (own transaction)",
        targets: TRIVIAL,
        floor: Case::QueryFloor,
    },
    Spec {
        case: Case::ActionRunMutation,
        context: Context::Action,
        group: "action_ctx",
        name: "run_mutation",
        label: "action ctx → mutation, ctx.run_mutation (own transaction, commit)",
        targets: BOTH,
        floor: Case::MutationFloor,
    },
    Spec {
        case: Case::ActionCallerMutation,
        context: Context::Action,
        group: "action_ctx",
        name: "caller_mutation",
        label: "action ctx → mutation, through the caller (own transaction, commit)",
        targets: TRIVIAL,
        floor: Case::MutationFloor,
    },
    Spec {
        case: Case::ActionActions,
        context: Context::Action,
        group: "action_ctx",
        name: "actions",
        label: "action ctx → action, caller.actions()",
        targets: TRIVIAL,
        floor: Case::ActionFloor,
    },
    Spec {
        case: Case::EntryQuery,
        context: Context::Outside,
        group: "entry",
        name: "rt_query",
        label: "rt.query (typed entry point, own transaction)",
        targets: BOTH,
        floor: Case::QueryFloor,
    },
    Spec {
        case: Case::EntryMutation,
        context: Context::Outside,
        group: "entry",
        name: "rt_mutation",
        label: "rt.mutation (typed entry point, own transaction, commit)",
        targets: TRIVIAL,
        floor: Case::MutationFloor,
    },
    Spec {
        case: Case::ByNameQuery,
        context: Context::Outside,
        group: "entry",
        name: "run_by_name_query",
        label: "rt.run(\"bench:…\", json) by name, query (serde at the boundary)",
        targets: BOTH,
        floor: Case::QueryFloor,
    },
    Spec {
        case: Case::ByNameMutation,
        context: Context::Outside,
        group: "entry",
        name: "run_by_name_mutation",
        label: "rt.run(\"bench:…\", json) by name, mutation (serde at the boundary)",
        targets: TRIVIAL,
        floor: Case::MutationFloor,
    },
];

fn spec(case: Case) -> &'static Spec {
    SPECS
        .iter()
        .find(|s| s.case == case)
        .expect("every case has a spec")
}

// ---------------------------------------------------------------------------------------
// Running a case
// ---------------------------------------------------------------------------------------

struct Bench {
    tokio: tokio::runtime::Runtime,
    rt: Runtime,
    item: Id<bench::Item>,
}

impl Bench {
    fn new() -> Bench {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        // The get cases read one document millions of times in one transaction: lift the
        // per-transaction read limits (reads are still counted against them).
        let limits = TransactionLimits {
            max_documents_read: usize::MAX,
            max_bytes_read: usize::MAX,
            ..TransactionLimits::default()
        };
        let rt = Runtime::builder()
            .transaction_limits(limits)
            .build()
            .expect("a convoke runtime");
        let item = tokio
            .block_on(rt.mutation(bench::insert_item, 41))
            .expect("the item the get cases read");
        Bench { tokio, rt, item }
    }

    /// Runs `iters` calls of a case and returns what the loop measured.
    fn run(&self, case: Case, target: Target, iters: u64, count_allocs: bool) -> Measured {
        let drive = Drive {
            case,
            target,
            iters,
            item: self.item,
            count_allocs,
        };
        let rt = &self.rt;
        let result = self.tokio.block_on(async {
            match spec(case).context {
                Context::Query => rt.query(bench::drive_query, drive).await,
                Context::Mutation => rt.mutation(bench::drive_mutation, drive).await,
                Context::Action => rt.action(bench::drive_action, drive).await,
                Context::Outside => self.run_outside(drive).await,
            }
        });
        match result {
            Ok(measured) => measured,
            Err(e) => panic!("{case:?}/{target:?} failed: {e}"),
        }
    }

    /// The cases that start outside any procedure: the runtime's entry points.
    async fn run_outside(&self, d: Drive) -> convoke::Result<Measured> {
        let rt = &self.rt;
        let get = bench::GetItem { id: d.item };
        let id_json = serde_json::Value::String(d.item.to_string());
        match (d.case, d.target) {
            (Case::EntryQuery, Target::Trivial) => {
                measure(d, |id| rt.query(bench::plus_one, bench::Input { id })).await
            }
            (Case::EntryQuery, Target::Get) => {
                measure(d, |_| rt.query(bench::get_item, black_box(get))).await
            }
            (Case::EntryMutation, Target::Trivial) => {
                measure(d, |id| {
                    rt.mutation(bench::plus_one_mut, bench::Input { id })
                })
                .await
            }
            (Case::ByNameQuery, Target::Trivial) => {
                measure(d, |id| {
                    rt.run("bench:plus_one", serde_json::json!({ "id": id }))
                })
                .await
            }
            (Case::ByNameQuery, Target::Get) => {
                measure(d, |_| {
                    rt.run(
                        "bench:get_item",
                        serde_json::json!({ "id": id_json.clone() }),
                    )
                })
                .await
            }
            (Case::ByNameMutation, Target::Trivial) => {
                measure(d, |id| {
                    rt.run("bench:plus_one_mut", serde_json::json!({ "id": id }))
                })
                .await
            }
            _ => Err(convoke::Error::user(format!("{:?}/{:?}", d.case, d.target))),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The summary
// ---------------------------------------------------------------------------------------

/// One row of the summary, as written to `rust.json`.
#[derive(Serialize)]
struct Row {
    /// `group/name/target`, criterion's id.
    id: String,
    context: &'static str,
    label: &'static str,
    target: &'static str,
    /// Criterion's median, ns per call.
    ns: f64,
    /// Criterion's 95 % confidence interval of the median.
    ns_lower: f64,
    ns_upper: f64,
    floor_id: String,
    floor_ns: Option<f64>,
    /// `ns / floor_ns`.
    ratio: Option<f64>,
    /// `ns - floor_ns`.
    above_floor_ns: Option<f64>,
    allocs_per_call: f64,
}

#[derive(Serialize)]
struct Summary {
    rows: Vec<Row>,
}

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

fn criterion_dir() -> PathBuf {
    match std::env::var_os("CRITERION_HOME") {
        Some(dir) => PathBuf::from(dir),
        None => target_dir().join("criterion"),
    }
}

/// Criterion's median for `id`, if criterion wrote it after `since` (older files are left
/// from earlier runs).
fn read_median(id: &str, since: SystemTime) -> Option<Estimate> {
    let path = criterion_dir().join(id).join("new").join("estimates.json");
    let modified = std::fs::metadata(&path).and_then(|m| m.modified()).ok()?;
    if modified < since {
        return None;
    }
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<Estimates>(&text)
        .ok()
        .map(|e| e.median)
}

fn case_id(spec: &Spec, target: Target) -> String {
    format!("{}/{}/{}", spec.group, spec.name, target.name())
}

fn context_name(context: Context) -> &'static str {
    match context {
        Context::Query => "query",
        Context::Mutation => "mutation",
        Context::Action => "action",
        Context::Outside => "outside",
    }
}

/// Builds the summary from what criterion wrote for the cases that ran in this process.
fn summarize(ran: &[(Case, Target, f64)], since: SystemTime) -> Summary {
    let medians: Vec<(Case, Target, Estimate, f64)> = ran
        .iter()
        .filter_map(|&(case, target, allocs)| {
            read_median(&case_id(spec(case), target), since).map(|m| (case, target, m, allocs))
        })
        .collect();
    let find = |case: Case, target: Target| {
        medians
            .iter()
            .find(|(c, t, _, _)| *c == case && *t == target)
            .map(|(_, _, m, _)| m.point_estimate)
    };
    let rows = medians
        .iter()
        .map(|(case, target, median, allocs)| {
            let spec = spec(*case);
            let floor_ns = find(spec.floor, *target);
            let ns = median.point_estimate;
            Row {
                id: case_id(spec, *target),
                context: context_name(spec.context),
                label: spec.label,
                target: target.name(),
                ns,
                ns_lower: median.confidence_interval.lower_bound,
                ns_upper: median.confidence_interval.upper_bound,
                floor_id: case_id(self::spec(spec.floor), *target),
                floor_ns,
                ratio: floor_ns.map(|f| ns / f),
                above_floor_ns: floor_ns.map(|f| ns - f),
                allocs_per_call: *allocs,
            }
        })
        .collect();
    Summary { rows }
}

fn print_summary(summary: &Summary) {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\nconvoke composition: ns/call (criterion median), ratio and difference to the floor of the same run\n"
    );
    let _ = writeln!(
        out,
        "{:<72} {:<8} {:>10} {:>9} {:>10} {:>8}",
        "case", "callee", "ns/call", "× floor", "Δ floor", "allocs"
    );
    for row in &summary.rows {
        let ratio = row.ratio.map_or("—".to_owned(), |r| format!("{r:.1}×"));
        let delta = row
            .above_floor_ns
            .map_or("—".to_owned(), |d| format!("{d:+.1}"));
        let _ = writeln!(
            out,
            "{:<72} {:<8} {:>10.1} {:>9} {:>10} {:>8.2}",
            row.label, row.target, row.ns, ratio, delta, row.allocs_per_call
        );
    }
    println!("{out}");
}

fn write_summary(summary: &Summary) {
    let dir = target_dir().join("convoke-bench");
    let path = dir.join("rust.json");
    let written = std::fs::create_dir_all(&dir).and_then(|()| {
        let json = serde_json::to_string_pretty(summary).map_err(std::io::Error::other)?;
        std::fs::write(&path, json)
    });
    match written {
        Ok(()) => println!("wrote {}", path.display()),
        Err(e) => eprintln!("could not write {}: {e}", path.display()),
    }
}

// ---------------------------------------------------------------------------------------
// main
// ---------------------------------------------------------------------------------------

/// How many calls the allocation count runs.
const ALLOC_COUNT_ITERS: u64 = 1_000;

fn main() {
    let started = SystemTime::now();
    let bench = Bench::new();
    // Only `cargo bench` passes `--bench` (`cargo test --benches` runs each case once);
    // criterion's profiling and listing modes write no estimates.
    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|a| a == flag || a.strip_prefix(flag).is_some_and(|v| v.starts_with('=')))
    };
    let benchmarking = has("--bench") && !has("--profile-time") && !has("--list") && !has("--test");
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let mut ran = Vec::new();
    for spec in SPECS {
        let mut group = criterion.benchmark_group(spec.group);
        for &target in spec.targets {
            let mut measured = false;
            group.bench_function(BenchmarkId::new(spec.name, target.name()), |b| {
                measured = true;
                b.iter_custom(|iters| {
                    Duration::from_nanos(bench.run(spec.case, target, iters, false).nanos)
                });
            });
            if measured {
                let counted = bench.run(spec.case, target, ALLOC_COUNT_ITERS, true);
                let allocs = counted.allocs as f64 / ALLOC_COUNT_ITERS as f64;
                ran.push((spec.case, target, allocs));
            }
        }
        group.finish();
    }
    criterion.final_summary();

    if benchmarking && !ran.is_empty() {
        let summary = summarize(&ran, started);
        print_summary(&summary);
        write_summary(&summary);
    }
}
