//! The document store as procedures see it through `ctx.db()`: writes, system fields,
//! `Doc<T>`, scans, snapshots and conflict detection of scans.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use convoke::db::DbError;
use convoke::{Doc, Error, Id, Result, Runtime, Table};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Table)]
#[table(name = "items")]
pub struct Item {
    pub name: String,
    pub n: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn item(name: &str, n: i64) -> Item {
    Item {
        name: name.into(),
        n,
        note: None,
    }
}

/// Another table, to check that tables are kept apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Table)]
#[table(name = "others")]
pub struct Other {
    pub name: String,
}

/// Documents of `items` that try to write a system field.
#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "items")]
pub struct WithId {
    #[serde(rename = "_id")]
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "items")]
pub struct WithCreationTime {
    #[serde(rename = "_creationTime")]
    pub creation_time: f64,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "items")]
pub struct WithUnderscore {
    pub _private: String,
}

mod api {
    use super::*;
    use convoke::db::{DocumentId, Order};
    use convoke::value::Value;
    use convoke::{MutationCtx, QueryCtx, procedure};

    convoke::module!(api);

    #[procedure(mutation)]
    pub async fn insert(ctx: &MutationCtx<'_>, value: Item) -> Result<Id<Item>> {
        Ok(ctx.db().insert(&value).await?)
    }

    #[procedure(mutation)]
    pub async fn insert_many(ctx: &MutationCtx<'_>, values: Vec<Item>) -> Result<Vec<Id<Item>>> {
        let mut ids = Vec::new();
        for value in &values {
            ids.push(ctx.db().insert(value).await?);
        }
        Ok(ids)
    }

    #[procedure(mutation)]
    pub async fn insert_other(ctx: &MutationCtx<'_>, name: String) -> Result<Id<Other>> {
        Ok(ctx.db().insert(&Other { name }).await?)
    }

    #[procedure(query)]
    pub async fn get(ctx: &QueryCtx<'_>, id: Id<Item>) -> Result<Option<Doc<Item>>> {
        Ok(ctx.db().get(id).await?)
    }

    /// The raw stored document: system fields and exactly the stored user fields.
    #[procedure(query)]
    pub async fn get_value(ctx: &QueryCtx<'_>, id: String) -> Result<Option<Value>> {
        let id: DocumentId = id.parse()?;
        Ok(ctx.db().get_value(&id).await?)
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Patch {
        pub id: Id<Item>,
        pub fields: serde_json::Value,
    }

    #[procedure(mutation)]
    pub async fn patch(ctx: &MutationCtx<'_>, args: Patch) -> Result<()> {
        Ok(ctx.db().patch(args.id, &args.fields).await?)
    }

    #[derive(Debug, Clone, Serialize, Deserialize)]
    pub struct Replace {
        pub id: Id<Item>,
        pub value: Item,
    }

    #[procedure(mutation)]
    pub async fn replace(ctx: &MutationCtx<'_>, args: Replace) -> Result<()> {
        Ok(ctx.db().replace(args.id, &args.value).await?)
    }

    #[procedure(mutation)]
    pub async fn delete(ctx: &MutationCtx<'_>, id: Id<Item>) -> Result<()> {
        Ok(ctx.db().delete(id).await?)
    }

    #[derive(Debug, Clone, Default, Serialize, Deserialize)]
    pub struct List {
        pub desc: bool,
        pub take: Option<usize>,
        pub min_n: Option<i64>,
    }

    fn query<'a>(ctx: &'a QueryCtx<'_>, args: &List) -> convoke::db::Query<'a, Item> {
        let mut query = ctx.db().query::<Item>();
        if args.desc {
            query = query.order(Order::Desc);
        }
        if let Some(min) = args.min_n {
            query = query.filter(move |item| item.n >= min);
        }
        query
    }

    /// Names of the matching items.
    #[procedure(query)]
    pub async fn list(ctx: &QueryCtx<'_>, args: List) -> Result<Vec<String>> {
        let query = query(ctx, &args);
        let docs = match args.take {
            Some(n) => query.take(n).await?,
            None => query.collect().await?,
        };
        Ok(docs.into_iter().map(|d| d.into_inner().name).collect())
    }

    #[procedure(query)]
    pub async fn first(ctx: &QueryCtx<'_>, args: List) -> Result<Option<String>> {
        Ok(query(ctx, &args)
            .first()
            .await?
            .map(|d| d.into_inner().name))
    }

    #[procedure(query)]
    pub async fn others(ctx: &QueryCtx<'_>) -> Result<Vec<String>> {
        let all = ctx.db().query::<Other>().collect().await?;
        Ok(all.into_iter().map(|d| d.into_inner().name).collect())
    }

    /// What a mutation's scans see of its own pending writes.
    #[procedure(mutation)]
    pub async fn scan_own_writes(
        ctx: &MutationCtx<'_>,
        ids: Vec<Id<Item>>,
    ) -> Result<(Vec<String>, Vec<String>)> {
        let db = ctx.db();
        db.insert(&item("new-1", 100)).await?;
        db.delete(ids[0]).await?;
        db.patch(ids[1], &json!({ "name": "patched" })).await?;
        db.insert(&item("new-2", 101)).await?;
        let to_names = |docs: Vec<Doc<Item>>| -> Vec<String> {
            docs.into_iter().map(|d| d.into_inner().name).collect()
        };
        let asc = to_names(db.query::<Item>().collect().await?);
        let desc = to_names(db.query::<Item>().order(Order::Desc).collect().await?);
        Ok((asc, desc))
    }

    #[procedure(mutation)]
    pub async fn insert_with_id(ctx: &MutationCtx<'_>) -> Result<()> {
        ctx.db()
            .insert(&WithId {
                id: "items:1".into(),
                name: "x".into(),
            })
            .await?;
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn insert_with_creation_time(ctx: &MutationCtx<'_>) -> Result<()> {
        ctx.db()
            .insert(&WithCreationTime {
                creation_time: 1.0,
                name: "x".into(),
            })
            .await?;
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn insert_with_underscore(ctx: &MutationCtx<'_>) -> Result<()> {
        ctx.db()
            .insert(&WithUnderscore {
                _private: "x".into(),
            })
            .await?;
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn replace_with_id(ctx: &MutationCtx<'_>, id: Id<Item>) -> Result<()> {
        let id: Id<WithId> = id.to_string().parse()?;
        ctx.db()
            .replace(
                id,
                &WithId {
                    id: id.to_string(),
                    name: "x".into(),
                },
            )
            .await?;
        Ok(())
    }

    #[procedure(mutation)]
    pub async fn patch_non_object(ctx: &MutationCtx<'_>, id: Id<Item>) -> Result<()> {
        ctx.db().patch(id, &json!(["not", "an", "object"])).await?;
        Ok(())
    }
}

fn now_millis() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs_f64()
        * 1000.0
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

async fn list(rt: &Runtime, args: api::List) -> Result<Vec<String>> {
    rt.query(api::list, args).await
}

// ---------------------------------------------------------------------------------------
// insert / get / patch / replace / delete
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn insert_get_patch_replace_delete() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let before = now_millis();
    let id = rt.mutation(api::insert, item("ada", 1)).await?;
    let after = now_millis();
    assert!(id.to_string().starts_with("items:"), "{id}");

    let doc = rt.query(api::get, id).await?.expect("inserted");
    assert_eq!(doc.id(), id);
    assert_eq!(*doc, item("ada", 1));
    let created = doc.creation_time();
    assert!(
        (before - 1.0..=after + 1.0).contains(&created),
        "{before} <= {created} <= {after}"
    );

    // patch: listed fields set, others kept; system fields unchanged.
    rt.mutation(
        api::patch,
        api::Patch {
            id,
            fields: json!({ "n": 2, "note": "hi" }),
        },
    )
    .await?;
    let doc = rt.query(api::get, id).await?.expect("patched");
    assert_eq!(
        doc.clone().into_inner(),
        Item {
            name: "ada".into(),
            n: 2,
            note: Some("hi".into())
        }
    );
    assert_eq!((doc.id(), doc.creation_time()), (id, created));

    // replace: the fields are exactly the new value's (the note is gone).
    rt.mutation(
        api::replace,
        api::Replace {
            id,
            value: item("charles", 3),
        },
    )
    .await?;
    let doc = rt.query(api::get, id).await?.expect("replaced");
    assert_eq!(doc.clone().into_inner(), item("charles", 3));
    assert_eq!((doc.id(), doc.creation_time()), (id, created));
    let raw = rt
        .query(api::get_value, id.to_string())
        .await?
        .expect("raw");
    let keys: Vec<&str> = raw
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["_id", "_creationTime", "name", "n"]);

    // delete: gone, and a second delete / patch / replace fails as not found.
    rt.mutation(api::delete, id).await?;
    assert!(rt.query(api::get, id).await?.is_none());
    assert!(rt.query(api::get_value, id.to_string()).await?.is_none());
    let not_found = |err: Error| match err {
        Error::Db(DbError::NotFound { id: missing }) => missing,
        other => panic!("expected NotFound, got {other:?}"),
    };
    assert_eq!(
        not_found(rt.mutation(api::delete, id).await.unwrap_err()),
        id.to_string()
    );
    assert_eq!(
        not_found(
            rt.mutation(
                api::patch,
                api::Patch {
                    id,
                    fields: json!({ "n": 9 })
                }
            )
            .await
            .unwrap_err()
        ),
        id.to_string()
    );
    assert_eq!(
        not_found(
            rt.mutation(
                api::replace,
                api::Replace {
                    id,
                    value: item("ghost", 0)
                }
            )
            .await
            .unwrap_err()
        ),
        id.to_string()
    );
    assert!(rt.query(api::get, id).await?.is_none());
    Ok(())
}

#[tokio::test]
async fn ids_are_unique_and_increasing() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let a = rt.mutation(api::insert, item("a", 0)).await?;
    let other = rt.mutation(api::insert_other, "o".into()).await?;
    let many = rt
        .mutation(api::insert_many, vec![item("b", 0), item("c", 0)])
        .await?;
    let mut all = vec![
        a.number(),
        other.number(),
        many[0].number(),
        many[1].number(),
    ];
    assert!(all.windows(2).all(|w| w[0] < w[1]), "{all:?}");
    all.dedup();
    assert_eq!(all.len(), 4);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// System fields
// ---------------------------------------------------------------------------------------

fn system_field(err: Error) -> String {
    match err {
        Error::Db(DbError::SystemField { field }) => field,
        other => panic!("expected SystemField, got {other:?}"),
    }
}

#[tokio::test]
async fn system_fields_cannot_be_written() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let id = rt.mutation(api::insert, item("ada", 1)).await?;

    assert_eq!(
        system_field(rt.mutation(api::insert_with_id, ()).await.unwrap_err()),
        "_id"
    );
    assert_eq!(
        system_field(
            rt.mutation(api::insert_with_creation_time, ())
                .await
                .unwrap_err()
        ),
        "_creationTime"
    );
    for field in ["_id", "_creationTime"] {
        let err = rt
            .mutation(
                api::patch,
                api::Patch {
                    id,
                    fields: json!({ "n": 5, field: 1 }),
                },
            )
            .await
            .unwrap_err();
        assert_eq!(system_field(err), field);
    }
    assert_eq!(
        system_field(rt.mutation(api::replace_with_id, id).await.unwrap_err()),
        "_id"
    );

    // Other `_` names are reserved too, and non-objects are not documents.
    let err = rt
        .mutation(api::insert_with_underscore, ())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Db(DbError::Value(_))), "{err:?}");
    assert!(err.to_string().contains("_private"), "{err}");
    let err = rt.mutation(api::patch_non_object, id).await.unwrap_err();
    assert!(
        matches!(err, Error::Db(DbError::NotAnObject { .. })),
        "{err:?}"
    );

    // Nothing of it was written.
    assert_eq!(list(&rt, api::List::default()).await?, names(&["ada"]));
    let doc = rt.query(api::get, id).await?.expect("still there");
    assert_eq!(*doc, item("ada", 1));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Doc<T> serialization
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn doc_serializes_with_its_system_fields() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let id = rt
        .mutation(
            api::insert,
            Item {
                name: "ada".into(),
                n: 7,
                note: Some("x".into()),
            },
        )
        .await?;
    let doc = rt.query(api::get, id).await?.expect("doc");

    let json = serde_json::to_value(&doc).expect("serialize");
    let keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["_id", "_creationTime", "name", "n", "note"]);
    assert_eq!(json["_id"], json!(id.to_string()));
    assert_eq!(json["_creationTime"].as_f64(), Some(doc.creation_time()));
    assert_eq!(json["name"], json!("ada"));
    assert_eq!(json["n"], json!(7));

    // And back.
    let back: Doc<Item> = serde_json::from_value(json.clone()).expect("deserialize");
    assert_eq!(back, doc);

    // The same shape by name.
    let by_name = rt.run("api:get", json!(id.to_string())).await?;
    assert_eq!(by_name, json);

    // A document missing its system fields, or of another table, is refused.
    let mut no_id = json.clone();
    no_id.as_object_mut().expect("object").remove("_id");
    assert!(serde_json::from_value::<Doc<Item>>(no_id).is_err());
    let mut no_time = json.clone();
    no_time
        .as_object_mut()
        .expect("object")
        .remove("_creationTime");
    assert!(serde_json::from_value::<Doc<Item>>(no_time).is_err());
    let mut wrong_table = json;
    wrong_table["_id"] = json!(format!("others:{}", id.number()));
    assert!(serde_json::from_value::<Doc<Item>>(wrong_table).is_err());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Ids
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn ids_of_another_table_do_not_parse() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let other = rt.mutation(api::insert_other, "o".into()).await?;
    let text = other.to_string();
    assert_eq!(text, format!("others:{}", other.number()));

    match text.parse::<Id<Item>>() {
        Err(DbError::WrongTable { id, expected }) => {
            assert_eq!((id.as_str(), expected.as_str()), (text.as_str(), "items"));
        }
        other => panic!("expected WrongTable, got {other:?}"),
    }
    for bad in [
        "",
        "items",
        "items:",
        ":1",
        "items:x",
        "items:-1",
        "items:1.5",
    ] {
        assert!(
            matches!(bad.parse::<Id<Item>>(), Err(DbError::InvalidId { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(text.parse::<Id<Other>>().ok(), Some(other));

    // As an argument: refused before the procedure runs.
    let err = rt.run("api:get", json!(text)).await.unwrap_err();
    assert!(err.is_invalid_arguments(), "{err:?}");
    assert!(err.to_string().contains("items"), "{err}");

    // The same number in the right table names no document: tables are kept apart.
    let same_number: Id<Item> = format!("items:{}", other.number()).parse()?;
    assert!(rt.query(api::get, same_number).await?.is_none());
    assert!(
        rt.mutation(api::delete, same_number)
            .await
            .unwrap_err()
            .to_string()
            .contains("no document")
    );
    assert_eq!(rt.query(api::others, ()).await?, names(&["o"]));
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Scans
// ---------------------------------------------------------------------------------------

async fn seed(rt: &Runtime) -> Result<Vec<Id<Item>>> {
    let mut ids = vec![rt.mutation(api::insert, item("a", 1)).await?];
    rt.mutation(api::insert_other, "other-1".into()).await?;
    ids.extend(
        rt.mutation(
            api::insert_many,
            vec![item("b", 2), item("c", 3), item("d", 4)],
        )
        .await?,
    );
    rt.mutation(api::insert_other, "other-2".into()).await?;
    ids.push(rt.mutation(api::insert, item("e", 5)).await?);
    Ok(ids)
}

#[tokio::test]
async fn scans_follow_insertion_order() -> Result<()> {
    let rt = Runtime::in_memory()?;
    seed(&rt).await?;
    use api::List;

    assert_eq!(
        list(&rt, List::default()).await?,
        names(&["a", "b", "c", "d", "e"])
    );
    assert_eq!(
        list(
            &rt,
            List {
                desc: true,
                ..List::default()
            }
        )
        .await?,
        names(&["e", "d", "c", "b", "a"])
    );
    assert_eq!(
        list(
            &rt,
            List {
                take: Some(2),
                ..List::default()
            }
        )
        .await?,
        names(&["a", "b"])
    );
    assert_eq!(
        list(
            &rt,
            List {
                desc: true,
                take: Some(2),
                ..List::default()
            }
        )
        .await?,
        names(&["e", "d"])
    );
    assert!(
        list(
            &rt,
            List {
                take: Some(0),
                ..List::default()
            }
        )
        .await?
        .is_empty()
    );
    assert_eq!(
        list(
            &rt,
            List {
                take: Some(50),
                ..List::default()
            }
        )
        .await?
        .len(),
        5
    );

    // filter, alone and with take (take counts matching documents) and order.
    let filtered = |desc, take| List {
        desc,
        take,
        min_n: Some(3),
    };
    assert_eq!(
        list(&rt, filtered(false, None)).await?,
        names(&["c", "d", "e"])
    );
    assert_eq!(
        list(&rt, filtered(false, Some(2))).await?,
        names(&["c", "d"])
    );
    assert_eq!(
        list(&rt, filtered(true, Some(2))).await?,
        names(&["e", "d"])
    );

    // first
    assert_eq!(
        rt.query(api::first, List::default()).await?.as_deref(),
        Some("a")
    );
    assert_eq!(
        rt.query(
            api::first,
            List {
                desc: true,
                ..List::default()
            }
        )
        .await?
        .as_deref(),
        Some("e")
    );
    assert_eq!(
        rt.query(api::first, filtered(false, None))
            .await?
            .as_deref(),
        Some("c")
    );
    assert_eq!(
        rt.query(
            api::first,
            List {
                min_n: Some(99),
                ..List::default()
            }
        )
        .await?,
        None
    );

    // Tables are scanned apart.
    assert_eq!(
        rt.query(api::others, ()).await?,
        names(&["other-1", "other-2"])
    );
    Ok(())
}

#[tokio::test]
async fn empty_and_unknown_tables_scan_empty() -> Result<()> {
    let rt = Runtime::in_memory()?;
    assert!(list(&rt, api::List::default()).await?.is_empty());
    assert_eq!(rt.query(api::first, api::List::default()).await?, None);
    Ok(())
}

#[tokio::test]
async fn deleted_documents_disappear_from_scans() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let ids = seed(&rt).await?;
    rt.mutation(api::delete, ids[0]).await?; // a
    rt.mutation(api::delete, ids[2]).await?; // c
    rt.mutation(api::delete, ids[4]).await?; // e
    assert_eq!(list(&rt, api::List::default()).await?, names(&["b", "d"]));
    assert_eq!(
        list(
            &rt,
            api::List {
                desc: true,
                ..Default::default()
            }
        )
        .await?,
        names(&["d", "b"])
    );
    assert_eq!(
        rt.query(api::first, api::List::default()).await?.as_deref(),
        Some("b")
    );
    // Deleting everything leaves an empty table.
    rt.mutation(api::delete, ids[1]).await?;
    rt.mutation(api::delete, ids[3]).await?;
    assert!(list(&rt, api::List::default()).await?.is_empty());
    assert_eq!(rt.query(api::first, api::List::default()).await?, None);
    Ok(())
}

#[tokio::test]
async fn a_mutations_scans_see_its_own_pending_writes() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let ids = seed(&rt).await?;
    let (asc, desc) = rt.mutation(api::scan_own_writes, ids).await?;
    let expected = names(&["patched", "c", "d", "e", "new-1", "new-2"]);
    assert_eq!(asc, expected);
    let mut reversed = expected.clone();
    reversed.reverse();
    assert_eq!(desc, reversed);
    // And they commit as seen.
    assert_eq!(list(&rt, api::List::default()).await?, expected);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Snapshots
// ---------------------------------------------------------------------------------------

mod snapshot {
    use super::*;
    use convoke::{MutationCtx, QueryCtx, procedure};
    use tokio::sync::Notify;

    convoke::module!(snapshot);

    pub static FIRST_READ: Notify = Notify::const_new();
    pub static COMMITTED: Notify = Notify::const_new();

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct View {
        pub a: Option<i64>,
        pub b: Option<String>,
        pub names: Vec<String>,
    }

    async fn view(ctx: &QueryCtx<'_>, a: Id<Item>, b: Id<Item>) -> Result<View> {
        let db = ctx.db();
        let all = db.query::<Item>().collect().await?;
        Ok(View {
            a: db.get(a).await?.map(|d| d.n),
            b: db.get(b).await?.map(|d| d.name.clone()),
            names: all.into_iter().map(|d| d.into_inner().name).collect(),
        })
    }

    /// Reads, lets the test commit several changes, reads again.
    #[procedure(query)]
    pub async fn read_twice(ctx: &QueryCtx<'_>, ids: (Id<Item>, Id<Item>)) -> Result<(View, View)> {
        let first = view(ctx, ids.0, ids.1).await?;
        FIRST_READ.notify_one();
        COMMITTED.notified().await;
        let second = view(ctx, ids.0, ids.1).await?;
        Ok((first, second))
    }

    #[procedure(query)]
    pub async fn read_now(ctx: &QueryCtx<'_>, ids: (Id<Item>, Id<Item>)) -> Result<View> {
        view(ctx, ids.0, ids.1).await
    }

    #[procedure(mutation)]
    pub async fn set_n(ctx: &MutationCtx<'_>, args: (Id<Item>, i64)) -> Result<()> {
        ctx.db().patch(args.0, &json!({ "n": args.1 })).await?;
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_reads_one_snapshot_whatever_commits_meanwhile() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let a = rt.mutation(api::insert, item("a", 1)).await?;
    let b = rt.mutation(api::insert, item("b", 2)).await?;

    let query = tokio::spawn({
        let rt = rt.clone();
        async move { rt.query(snapshot::read_twice, (a, b)).await }
    });
    snapshot::FIRST_READ.notified().await;
    // Several commits while the query is open: patches, a delete, an insert.
    rt.mutation(snapshot::set_n, (a, 10)).await?;
    rt.mutation(snapshot::set_n, (a, 20)).await?;
    rt.mutation(api::delete, b).await?;
    rt.mutation(api::insert, item("c", 3)).await?;
    rt.mutation(snapshot::set_n, (a, 30)).await?;
    snapshot::COMMITTED.notify_one();

    let (first, second) = query.await.expect("query task")?;
    let old = snapshot::View {
        a: Some(1),
        b: Some("b".into()),
        names: names(&["a", "b"]),
    };
    assert_eq!(first, old);
    assert_eq!(
        second, old,
        "a query must not see commits made after it started"
    );

    // A query started now sees them all.
    assert_eq!(
        rt.query(snapshot::read_now, (a, b)).await?,
        snapshot::View {
            a: Some(30),
            b: None,
            names: names(&["a", "c"]),
        }
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Phantoms: a scan conflicts with a concurrent insert into the scanned table
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "summaries")]
pub struct Summary {
    pub items: usize,
}

mod phantom {
    use super::*;
    use convoke::{MutationCtx, QueryCtx, procedure};
    use tokio::sync::Notify;

    convoke::module!(phantom);

    pub static ITEMS_RUNS: AtomicUsize = AtomicUsize::new(0);
    pub static ITEMS_SCANNED: Notify = Notify::const_new();
    pub static ITEMS_GO: Notify = Notify::const_new();

    pub static OTHER_RUNS: AtomicUsize = AtomicUsize::new(0);
    pub static OTHER_SCANNED: Notify = Notify::const_new();
    pub static OTHER_GO: Notify = Notify::const_new();

    async fn summarize(
        ctx: &MutationCtx<'_>,
        runs: &AtomicUsize,
        scanned: &Notify,
        go: &Notify,
    ) -> Result<usize> {
        let run = runs.fetch_add(1, Ordering::SeqCst);
        let items = ctx.db().query::<Item>().collect().await?.len();
        if run == 0 {
            // Only the first run waits for the test's concurrent commit.
            scanned.notify_one();
            go.notified().await;
        }
        ctx.db().insert(&Summary { items }).await?;
        Ok(items)
    }

    /// Counts the items and records the count in another table.
    #[procedure(mutation)]
    pub async fn summarize_items(ctx: &MutationCtx<'_>) -> Result<usize> {
        summarize(ctx, &ITEMS_RUNS, &ITEMS_SCANNED, &ITEMS_GO).await
    }

    /// The same, for the test where the concurrent commit touches an unrelated table.
    #[procedure(mutation)]
    pub async fn summarize_items_unrelated(ctx: &MutationCtx<'_>) -> Result<usize> {
        summarize(ctx, &OTHER_RUNS, &OTHER_SCANNED, &OTHER_GO).await
    }

    #[procedure(query)]
    pub async fn summaries(ctx: &QueryCtx<'_>) -> Result<Vec<usize>> {
        let all = ctx.db().query::<Summary>().collect().await?;
        Ok(all.into_iter().map(|s| s.items).collect())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_conflicts_with_a_concurrent_insert_into_its_table() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let summarize = tokio::spawn({
        let rt = rt.clone();
        async move { rt.mutation(phantom::summarize_items, ()).await }
    });
    phantom::ITEMS_SCANNED.notified().await;
    // The scan found no items; now one appears and commits first.
    rt.mutation(api::insert, item("phantom", 1)).await?;
    phantom::ITEMS_GO.notify_one();

    let counted = summarize.await.expect("task")?;
    assert_eq!(counted, 1, "the re-run must count the inserted item");
    assert_eq!(phantom::ITEMS_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(rt.query(phantom::summaries, ()).await?, [1]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_does_not_conflict_with_writes_to_other_tables() -> Result<()> {
    let rt = Runtime::in_memory()?;
    rt.mutation(api::insert, item("existing", 1)).await?;
    let summarize = tokio::spawn({
        let rt = rt.clone();
        async move { rt.mutation(phantom::summarize_items_unrelated, ()).await }
    });
    phantom::OTHER_SCANNED.notified().await;
    rt.mutation(api::insert_other, "unrelated".into()).await?;
    phantom::OTHER_GO.notify_one();

    assert_eq!(summarize.await.expect("task")?, 1);
    assert_eq!(
        phantom::OTHER_RUNS.load(Ordering::SeqCst),
        1,
        "a write to another table must not force a re-run"
    );
    assert_eq!(rt.query(phantom::summaries, ()).await?, [1]);
    Ok(())
}

#[tokio::test]
async fn a_patch_cannot_grow_a_document_past_the_size_limit() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let id = rt.mutation(blobs::create, ()).await?;
    // Each patch is under the limit; their merge is not.
    rt.mutation(blobs::set_field, ("a".to_owned(), 600_000))
        .await?;
    let err = rt
        .mutation(blobs::set_field, ("b".to_owned(), 600_000))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, convoke::Error::Db(convoke::db::DbError::Value(v)) if v.is_too_large()),
        "{err:?}"
    );
    let doc = rt.query(blobs::get, id).await?;
    assert_eq!(doc, 1, "the failed patch left the document unchanged");
    Ok(())
}

mod blobs {
    use convoke::{Id, MutationCtx, QueryCtx, Result, Table, procedure};
    use serde::{Deserialize, Serialize};

    convoke::module!(blobs);

    #[derive(Serialize, Deserialize, Table)]
    #[table(name = "blobs")]
    pub struct Blob {
        #[serde(flatten)]
        pub fields: std::collections::BTreeMap<String, String>,
    }

    #[procedure(mutation)]
    pub async fn create(ctx: &MutationCtx<'_>) -> Result<Id<Blob>> {
        Ok(ctx
            .db()
            .insert(&Blob {
                fields: Default::default(),
            })
            .await?)
    }

    #[procedure(mutation)]
    pub async fn set_field(ctx: &MutationCtx<'_>, args: (String, usize)) -> Result<()> {
        let blob = ctx.db().query::<Blob>().first().await?;
        let Some(blob) = blob else {
            return Err(convoke::Error::user("no blob"));
        };
        let mut patch = std::collections::BTreeMap::new();
        patch.insert(args.0, "x".repeat(args.1));
        ctx.db().patch(blob.id(), &patch).await?;
        Ok(())
    }

    #[procedure(query)]
    pub async fn get(ctx: &QueryCtx<'_>, id: Id<Blob>) -> Result<usize> {
        Ok(ctx.db().get(id).await?.map(|b| b.fields.len()).unwrap_or(0))
    }
}
