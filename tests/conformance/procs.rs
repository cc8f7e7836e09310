//! Tables and procedures the conformance cases run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use convoke::db::{Order, PaginationOptions, PaginationResult, Patch};
use convoke::{Doc, Id, MutationCtx, QueryCtx, Result, Table, procedure};
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

convoke::module!(procs);

/// The document most cases use: indexed by owner then rank, and by label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Table)]
#[table(name = "items", index(by_owner = ["owner", "rank"]), index(by_label = ["label"]))]
pub struct Item {
    pub owner: String,
    pub rank: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Item {
    pub fn new(owner: &str, rank: i64) -> Self {
        Item {
            owner: owner.to_owned(),
            rank,
            label: None,
        }
    }
}

/// A counter, for contention.
#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "counters")]
pub struct Counter {
    pub value: i64,
}

/// Any document, to store arbitrary values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Table)]
#[table(name = "blobs")]
pub struct Blob {
    #[serde(flatten)]
    pub fields: convoke::value::Object,
}

#[procedure(mutation)]
pub async fn insert_items(ctx: &MutationCtx<'_>, items: Vec<Item>) -> Result<Vec<Id<Item>>> {
    let mut ids = Vec::new();
    for item in &items {
        ids.push(ctx.db().insert(item).await?);
    }
    Ok(ids)
}

#[procedure(query)]
pub async fn get_item(ctx: &QueryCtx<'_>, id: Id<Item>) -> Result<Option<Doc<Item>>> {
    Ok(ctx.db().get(id).await?)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PatchItem {
    pub id: Id<Item>,
    pub set: convoke::value::Object,
    pub unset: Vec<String>,
}

#[procedure(mutation)]
pub async fn patch_item(ctx: &MutationCtx<'_>, args: PatchItem) -> Result<()> {
    let mut patch = Patch::new();
    for (k, v) in args.set {
        patch = patch.set(&k, v);
    }
    for k in &args.unset {
        patch = patch.unset(k);
    }
    Ok(ctx.db().patch(args.id, patch).await?)
}

#[procedure(mutation)]
pub async fn replace_item(ctx: &MutationCtx<'_>, args: (Id<Item>, Item)) -> Result<()> {
    Ok(ctx.db().replace(args.0, &args.1).await?)
}

#[procedure(mutation)]
pub async fn delete_item(ctx: &MutationCtx<'_>, id: Id<Item>) -> Result<()> {
    Ok(ctx.db().delete(id).await?)
}

#[procedure(mutation)]
pub async fn insert_blob(
    ctx: &MutationCtx<'_>,
    fields: convoke::value::Object,
) -> Result<Id<Blob>> {
    Ok(ctx.db().insert(&Blob { fields }).await?)
}

#[procedure(query)]
pub async fn get_blob(ctx: &QueryCtx<'_>, id: Id<Blob>) -> Result<Option<convoke::value::Value>> {
    Ok(ctx.db().get_value(&id.document_id()).await?)
}

/// A read of the `by_owner` index (or `by_creation_time` when `owner` is `None`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ListItems {
    pub owner: Option<String>,
    pub gt: Option<i64>,
    pub gte: Option<i64>,
    pub lt: Option<i64>,
    pub lte: Option<i64>,
    pub desc: bool,
    pub take: Option<usize>,
}

#[procedure(query)]
pub async fn list_items(ctx: &QueryCtx<'_>, args: ListItems) -> Result<Vec<Doc<Item>>> {
    let mut query = ctx.db().query::<Item>();
    if let Some(owner) = args.owner.clone() {
        query = query.with_index("by_owner", |r| {
            let mut r = r.eq("owner", owner);
            if let Some(v) = args.gt {
                r = r.gt("rank", v)
            }
            if let Some(v) = args.gte {
                r = r.gte("rank", v)
            }
            if let Some(v) = args.lt {
                r = r.lt("rank", v)
            }
            if let Some(v) = args.lte {
                r = r.lte("rank", v)
            }
            r
        });
    }
    if args.desc {
        query = query.order(Order::Desc);
    }
    Ok(match args.take {
        Some(n) => query.take(n).await?,
        None => query.collect().await?,
    })
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageItems {
    pub owner: Option<String>,
    pub desc: bool,
    pub options: PaginationOptions,
}

#[procedure(query)]
pub async fn page_items(
    ctx: &QueryCtx<'_>,
    args: PageItems,
) -> Result<PaginationResult<Doc<Item>>> {
    let mut query = ctx.db().query::<Item>();
    if let Some(owner) = args.owner {
        query = query.with_index("by_owner", |r| r.eq("owner", owner));
    }
    if args.desc {
        query = query.order(Order::Desc);
    }
    Ok(query.paginate(args.options).await?)
}

/// Queries that exercise errors and `unique`.
#[procedure(query)]
pub async fn by_label_unique(ctx: &QueryCtx<'_>, label: String) -> Result<Option<Doc<Item>>> {
    Ok(ctx
        .db()
        .query::<Item>()
        .with_index("by_label", |r| r.eq("label", label))
        .unique()
        .await?)
}

#[procedure(query)]
pub async fn by_label_first(ctx: &QueryCtx<'_>, label: String) -> Result<Option<Doc<Item>>> {
    Ok(ctx
        .db()
        .query::<Item>()
        .with_index("by_label", |r| r.eq("label", label))
        .first()
        .await?)
}

#[procedure(query)]
pub async fn missing_label_first(ctx: &QueryCtx<'_>) -> Result<Vec<Doc<Item>>> {
    Ok(ctx
        .db()
        .query::<Item>()
        .with_index("by_label", |r| r)
        .collect()
        .await?)
}

#[procedure(query)]
pub async fn bad_index(ctx: &QueryCtx<'_>, which: u8) -> Result<Vec<Doc<Item>>> {
    let q = ctx.db().query::<Item>();
    let q = match which {
        0 => q.with_index("by_nothing", |r| r),
        1 => q.with_index("by_owner", |r| r.eq("rank", 1)),
        2 => q.with_index("by_owner", |r| r.gt("rank", 1)),
        _ => q.with_index("by_owner", |r| r.gt("owner", "a").eq("rank", 1)),
    };
    Ok(q.collect().await?)
}

// ---- gates: pause a mutation after its reads until the test releases it ----

#[derive(Default)]
pub struct Gate {
    pub runs: Mutex<usize>,
    pub reached: Notify,
    pub release: Notify,
}

static GATES: Mutex<Option<HashMap<String, Arc<Gate>>>> = Mutex::new(None);

pub fn gate(tag: &str) -> Arc<Gate> {
    let mut gates = GATES.lock().unwrap_or_else(|e| e.into_inner());
    gates
        .get_or_insert_with(HashMap::new)
        .entry(tag.to_owned())
        .or_default()
        .clone()
}

/// How the gated mutation reads before it writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum GatedRead {
    /// `by_owner` equal to this owner.
    Owner(String),
    /// `by_creation_time`, first document only.
    FirstOnly,
    /// One document by id.
    Point(Id<Item>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Gated {
    pub tag: String,
    pub read: GatedRead,
}

/// Reads, then (on its first run) waits at the gate, then writes a marker document.
#[procedure(mutation)]
pub async fn gated(ctx: &MutationCtx<'_>, args: Gated) -> Result<usize> {
    let seen = match &args.read {
        GatedRead::Owner(owner) => ctx
            .db()
            .query::<Item>()
            .with_index("by_owner", |r| r.eq("owner", owner.clone()))
            .collect()
            .await?
            .len(),
        GatedRead::FirstOnly => ctx.db().query::<Item>().take(1).await?.len(),
        GatedRead::Point(id) => usize::from(ctx.db().get(*id).await?.is_some()),
    };
    let gate = gate(&args.tag);
    let run = {
        let mut runs = gate.runs.lock().unwrap_or_else(|e| e.into_inner());
        *runs += 1;
        *runs
    };
    if run == 1 {
        gate.reached.notify_one();
        gate.release.notified().await;
    }
    ctx.db()
        .insert(&Item::new(&format!("marker-{}", args.tag), seen as i64))
        .await?;
    Ok(seen)
}

#[procedure(mutation)]
pub async fn new_counter(ctx: &MutationCtx<'_>) -> Result<Id<Counter>> {
    Ok(ctx.db().insert(&Counter { value: 0 }).await?)
}

#[procedure(mutation)]
pub async fn increment(ctx: &MutationCtx<'_>, id: Id<Counter>) -> Result<i64> {
    let Some(counter) = ctx.db().get(id).await? else {
        return Err(convoke::Error::user("no counter"));
    };
    tokio::task::yield_now().await;
    let value = counter.value + 1;
    ctx.db()
        .patch(id, &serde_json::json!({ "value": value }))
        .await?;
    Ok(value)
}

#[procedure(query)]
pub async fn counter(ctx: &QueryCtx<'_>, id: Id<Counter>) -> Result<i64> {
    Ok(ctx.db().get(id).await?.map(|c| c.value).unwrap_or(-1))
}

/// Inserts `n` items, then fails if `fail`: a nested mutation whose writes must vanish.
#[procedure(mutation)]
pub async fn insert_then_maybe_fail(
    ctx: &MutationCtx<'_>,
    args: (String, i64, bool),
) -> Result<()> {
    for rank in 0..args.1 {
        ctx.db().insert(&Item::new(&args.0, rank)).await?;
    }
    if args.2 {
        return Err(convoke::Error::user("inner failure"));
    }
    Ok(())
}

/// Calls `insert_then_maybe_fail` twice (the second fails) and returns what its own index
/// scan sees afterwards.
#[procedure(mutation)]
pub async fn outer_with_savepoints(ctx: &MutationCtx<'_>, owner: String) -> Result<usize> {
    let caller = create_procs_caller(ctx);
    caller
        .insert_then_maybe_fail((owner.clone(), 2, false))
        .await?;
    let failed = caller
        .insert_then_maybe_fail((owner.clone(), 3, true))
        .await;
    if failed.is_ok() {
        return Err(convoke::Error::user(
            "the inner mutation should have failed",
        ));
    }
    Ok(ctx
        .db()
        .query::<Item>()
        .with_index("by_owner", |r| r.eq("owner", owner))
        .collect()
        .await?
        .len())
}

#[procedure(mutation)]
pub async fn insert_many(ctx: &MutationCtx<'_>, n: i64) -> Result<()> {
    for rank in 0..n {
        ctx.db().insert(&Item::new("bulk", rank)).await?;
    }
    Ok(())
}

#[procedure(query)]
pub async fn read_all(ctx: &QueryCtx<'_>) -> Result<usize> {
    Ok(ctx.db().query::<Item>().collect().await?.len())
}
