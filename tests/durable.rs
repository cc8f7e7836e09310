//! Restart semantics of the durable store: what a reopened data directory holds.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use convoke::db::TableDefinition;
use convoke::store::{
    CommitRequest, Document, DocumentId, KeyRange, Order, ReadSet, Schema, SqliteStore, Storage,
};
use convoke::value::{Object, Value};
use convoke::{Doc, Id, Result, Runtime, Table};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Table)]
#[table(name = "notes", index(by_author = ["author", "rank"]))]
pub struct Note {
    pub author: String,
    pub rank: i64,
    pub text: String,
}

fn note(author: &str, rank: i64, text: &str) -> Note {
    Note {
        author: author.into(),
        rank,
        text: text.into(),
    }
}

/// Written below the runtime first, while no schema declared its index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Table)]
#[table(name = "widgets", index(by_color = ["color"]))]
pub struct Widget {
    pub color: String,
    pub size: i64,
}

mod api {
    use super::*;
    use convoke::{MutationCtx, QueryCtx, procedure};

    convoke::module!(api);

    #[procedure(mutation)]
    pub async fn insert(ctx: &MutationCtx<'_>, value: Note) -> Result<Id<Note>> {
        Ok(ctx.db().insert(&value).await?)
    }

    #[procedure(mutation)]
    pub async fn set_text(ctx: &MutationCtx<'_>, args: (Id<Note>, String)) -> Result<()> {
        Ok(ctx
            .db()
            .patch(args.0, &serde_json::json!({ "text": args.1 }))
            .await?)
    }

    #[procedure(mutation)]
    pub async fn delete(ctx: &MutationCtx<'_>, id: Id<Note>) -> Result<()> {
        Ok(ctx.db().delete(id).await?)
    }

    #[procedure(query)]
    pub async fn all(ctx: &QueryCtx<'_>) -> Result<Vec<Doc<Note>>> {
        Ok(ctx.db().query::<Note>().collect().await?)
    }

    /// The author's notes by rank: `(author, descending)`.
    #[procedure(query)]
    pub async fn by_author(ctx: &QueryCtx<'_>, args: (String, bool)) -> Result<Vec<Doc<Note>>> {
        let order = if args.1 { Order::Desc } else { Order::Asc };
        Ok(ctx
            .db()
            .query::<Note>()
            .with_index("by_author", |r| r.eq("author", args.0))
            .order(order)
            .collect()
            .await?)
    }

    #[procedure(query)]
    pub async fn widgets_of(ctx: &QueryCtx<'_>, color: String) -> Result<Vec<Doc<Widget>>> {
        Ok(ctx
            .db()
            .query::<Widget>()
            .with_index("by_color", |r| r.eq("color", color))
            .collect()
            .await?)
    }
}

/// A data directory removed when the test ends.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "convoke-durable-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn texts(docs: &[Doc<Note>]) -> Vec<&str> {
    docs.iter().map(|d| d.text.as_str()).collect()
}

#[tokio::test]
async fn commits_survive_a_reopen() -> Result<()> {
    let dir = TempDir::new("survive");
    let (kept, patched, before) = {
        let rt = Runtime::open(dir.path())?;
        let kept = rt.mutation(api::insert, note("ada", 1, "kept")).await?;
        let patched = rt.mutation(api::insert, note("ada", 2, "draft")).await?;
        let gone = rt.mutation(api::insert, note("bob", 1, "gone")).await?;
        rt.mutation(api::set_text, (patched, "final".to_owned()))
            .await?;
        rt.mutation(api::delete, gone).await?;
        (kept, patched, rt.query(api::all, ()).await?)
    };
    let rt = Runtime::open(dir.path())?;
    let after = rt.query(api::all, ()).await?;
    assert_eq!(texts(&after), ["kept", "final"]);
    assert_eq!(after[0].id(), kept);
    assert_eq!(after[1].id(), patched);
    // Every field, system fields included, comes back as it was.
    assert_eq!(after, before);
    Ok(())
}

#[tokio::test]
async fn ids_are_not_reused_after_a_reopen() -> Result<()> {
    let dir = TempDir::new("ids");
    let deleted = {
        let rt = Runtime::open(dir.path())?;
        rt.mutation(api::insert, note("ada", 1, "a")).await?;
        let b = rt.mutation(api::insert, note("ada", 2, "b")).await?;
        // The highest number is deleted: it must still not come back.
        rt.mutation(api::delete, b).await?;
        b
    };
    // A reopen with no commit in between changes nothing.
    drop(Runtime::open(dir.path())?);
    let rt = Runtime::open(dir.path())?;
    let c = rt.mutation(api::insert, note("ada", 3, "c")).await?;
    assert!(
        c.number() > deleted.number(),
        "{c} reuses or precedes the deleted {deleted}"
    );
    drop(rt);
    let rt = Runtime::open(dir.path())?;
    let d = rt.mutation(api::insert, note("ada", 4, "d")).await?;
    assert!(d.number() > c.number());
    Ok(())
}

#[tokio::test]
async fn indexes_work_after_a_reopen() -> Result<()> {
    let dir = TempDir::new("indexes");
    {
        let rt = Runtime::open(dir.path())?;
        for (author, rank, text) in [("ada", 2, "a2"), ("bob", 1, "b1"), ("ada", 1, "a1")] {
            rt.mutation(api::insert, note(author, rank, text)).await?;
        }
    }
    let rt = Runtime::open(dir.path())?;
    let ada = rt.query(api::by_author, ("ada".to_owned(), false)).await?;
    assert_eq!(texts(&ada), ["a1", "a2"]);
    // Documents written after the reopen join the same index.
    rt.mutation(api::insert, note("ada", 0, "a0")).await?;
    let ada = rt.query(api::by_author, ("ada".to_owned(), true)).await?;
    assert_eq!(texts(&ada), ["a2", "a1", "a0"]);
    let bob = rt.query(api::by_author, ("bob".to_owned(), false)).await?;
    assert_eq!(texts(&bob), ["b1"]);
    Ok(())
}

fn widget_fields(color: &str, size: i64) -> Object {
    let mut fields = Object::new();
    fields.insert("color".into(), Value::String(color.into()));
    fields.insert("size".into(), Value::Int64(size));
    fields
}

/// Commits `docs` directly through the engine, as one commit.
async fn commit(store: &SqliteStore, docs: Vec<Object>) -> Vec<DocumentId> {
    let snapshot = store.begin(true);
    let mut ids = Vec::new();
    let mut writes = Vec::new();
    for (i, fields) in docs.into_iter().enumerate() {
        let id = store.allocate_id(snapshot, "widgets").await.expect("an id");
        ids.push(id.clone());
        let doc = Document {
            id: id.clone(),
            creation_time: 1000.0 + i as f64,
            fields,
        };
        writes.push((id, Some(Arc::new(doc))));
    }
    store
        .commit(CommitRequest::new(snapshot, ReadSet::default(), writes))
        .await
        .expect("commit");
    store.release(snapshot);
    ids
}

#[tokio::test]
async fn new_indexes_are_backfilled_after_a_reopen() -> Result<()> {
    let dir = TempDir::new("backfill");
    // First run: no table declares an index on widgets.
    let latest = {
        let store = SqliteStore::open(dir.path())?;
        store.set_schema(&Schema::from_definitions([])?)?;
        commit(
            &store,
            vec![widget_fields("red", 3), widget_fields("blue", 1)],
        )
        .await;
        commit(&store, vec![widget_fields("red", 2)]).await;
        let latest = store.begin(false);
        store.release(latest);
        latest
    };

    // Second run: the program now declares `by_color` (and `by_author` on notes).
    {
        let rt = Runtime::open(dir.path())?;
        let red = rt.query(api::widgets_of, "red".to_owned()).await?;
        let sizes: Vec<i64> = red.iter().map(|w| w.size).collect();
        assert_eq!(sizes, [3, 2]);
        assert_eq!(rt.query(api::widgets_of, "blue".to_owned()).await?.len(), 1);
        assert!(
            rt.query(api::widgets_of, "green".to_owned())
                .await?
                .is_empty()
        );
    }

    // Third run: yet another index, declared through the engine directly.
    let store = SqliteStore::open(dir.path())?;
    let snapshot = store.begin(false);
    assert_eq!(snapshot, latest, "the commit timestamp survives a reopen");
    let by_size = TableDefinition {
        name: "widgets",
        indexes: &[("by_size", &["size"])],
    };
    store.set_schema(&Schema::from_definitions([&by_size])?)?;
    let docs = store
        .scan(
            snapshot,
            "widgets",
            "by_size",
            &KeyRange::all(),
            Order::Asc,
            None,
        )
        .await?;
    let sizes: Vec<&Value> = docs.iter().map(|d| &d.fields["size"]).collect();
    assert_eq!(
        sizes,
        [&Value::Int64(1), &Value::Int64(2), &Value::Int64(3)]
    );
    store.release(snapshot);
    Ok(())
}

#[tokio::test]
async fn a_data_directory_in_use_is_refused() -> Result<()> {
    let dir = TempDir::new("in-use");
    let rt = Runtime::open(dir.path())?;
    let Err(err) = Runtime::open(dir.path()) else {
        panic!("a second runtime opened a data directory in use");
    };
    assert!(err.to_string().contains("another"), "{err}");
    rt.mutation(api::insert, note("ada", 1, "still works"))
        .await?;
    drop(rt);
    let rt = Runtime::open(dir.path())?;
    assert_eq!(rt.query(api::all, ()).await?.len(), 1);
    Ok(())
}
