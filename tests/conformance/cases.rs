//! The conformance cases. Each takes a runtime over a fresh, empty store.

use std::time::Duration;

use convoke::db::DbError;
use convoke::db::{PaginationOptions, TransactionLimits};
use convoke::value::{Object, Value};
use convoke::{Error, Id, Result, Runtime};

use super::procs::{self, Gated, GatedRead, Item, ListItems, PageItems, PatchItem};

fn db_error(err: &Error) -> Option<&DbError> {
    match err {
        Error::Db(e) => Some(e),
        _ => None,
    }
}

fn owners(rt: &Runtime) -> impl Fn(&str, &[i64]) -> Vec<Item> + '_ {
    let _ = rt;
    |owner, ranks| ranks.iter().map(|r| Item::new(owner, *r)).collect()
}

fn ranks(docs: &[convoke::Doc<Item>]) -> Vec<i64> {
    docs.iter().map(|d| d.rank).collect()
}

async fn list(rt: &Runtime, args: ListItems) -> Result<Vec<i64>> {
    Ok(ranks(&rt.query(procs::list_items, args).await?))
}

pub async fn crud_round_trip(rt: &Runtime) -> Result<()> {
    let ids = rt
        .mutation(procs::insert_items, vec![Item::new("ada", 1)])
        .await?;
    let id = ids[0];
    let doc = rt.query(procs::get_item, id).await?.expect("inserted");
    assert_eq!(doc.id(), id);
    assert_eq!(doc.owner, "ada");
    assert!(doc.creation_time() > 0.0);
    let mut replaced = Item::new("ada", 7);
    replaced.label = Some("seven".into());
    rt.mutation(procs::replace_item, (id, replaced.clone()))
        .await?;
    let doc = rt.query(procs::get_item, id).await?.expect("replaced");
    assert_eq!(doc.clone().into_inner(), replaced);
    rt.mutation(procs::delete_item, id).await?;
    assert!(rt.query(procs::get_item, id).await?.is_none());
    assert!(
        rt.query(procs::list_items, ListItems::default())
            .await?
            .is_empty()
    );
    Ok(())
}

pub async fn system_fields_are_refused(rt: &Runtime) -> Result<()> {
    for field in ["_id", "_creationTime"] {
        let mut fields = Object::new();
        fields.insert(field.to_owned(), Value::Int64(1));
        let err = rt.mutation(procs::insert_blob, fields).await.unwrap_err();
        assert!(
            matches!(
                db_error(&err),
                Some(DbError::SystemField { .. }) | Some(DbError::Value(_))
            ),
            "{err}"
        );
    }
    let id = rt
        .mutation(procs::insert_items, vec![Item::new("a", 1)])
        .await?[0];
    let err = rt
        .mutation(
            procs::patch_item,
            PatchItem {
                id,
                set: Object::new(),
                unset: vec!["_id".into()],
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(db_error(&err), Some(DbError::SystemField { .. })),
        "{err}"
    );
    Ok(())
}

pub async fn patch_sets_and_unsets_fields(rt: &Runtime) -> Result<()> {
    let mut item = Item::new("a", 1);
    item.label = Some("old".into());
    let id = rt.mutation(procs::insert_items, vec![item]).await?[0];
    let mut set = Object::new();
    set.insert("rank".into(), Value::Int64(5));
    rt.mutation(
        procs::patch_item,
        PatchItem {
            id,
            set,
            unset: vec!["label".into()],
        },
    )
    .await?;
    let doc = rt.query(procs::get_item, id).await?.expect("patched");
    assert_eq!(doc.rank, 5);
    assert_eq!(doc.label, None, "unset removed the field");
    assert_eq!(doc.owner, "a", "other fields kept");
    Ok(())
}

pub async fn missing_documents(rt: &Runtime) -> Result<()> {
    let id = rt
        .mutation(procs::insert_items, vec![Item::new("a", 1)])
        .await?[0];
    rt.mutation(procs::delete_item, id).await?;
    let err = rt.mutation(procs::delete_item, id).await.unwrap_err();
    assert!(db_error(&err).is_some_and(DbError::is_not_found), "{err}");
    let err = rt
        .mutation(procs::replace_item, (id, Item::new("a", 2)))
        .await
        .unwrap_err();
    assert!(db_error(&err).is_some_and(DbError::is_not_found), "{err}");
    Ok(())
}

pub async fn values_keep_convex_types(rt: &Runtime) -> Result<()> {
    let mut nested = Object::new();
    nested.insert("z".into(), Value::Null);
    nested.insert(
        "a".into(),
        Value::Array(vec![Value::Int64(1), Value::Float64(1.0)]),
    );
    let mut fields = Object::new();
    fields.insert("int".into(), Value::Int64(i64::MIN));
    fields.insert("float".into(), Value::Float64(f64::NAN));
    fields.insert("neg_zero".into(), Value::Float64(-0.0));
    fields.insert("bytes".into(), Value::Bytes(vec![0, 255, 7]));
    fields.insert("flag".into(), Value::Boolean(true));
    fields.insert("text".into(), Value::String("héllo".into()));
    fields.insert("nested".into(), Value::Object(nested));
    let id = rt.mutation(procs::insert_blob, fields.clone()).await?;
    let stored = rt.query(procs::get_blob, id).await?.expect("stored");
    let stored = stored.as_object().expect("object");
    let keys: Vec<&str> = stored.keys().map(String::as_str).collect();
    assert_eq!(&keys[..2], ["_id", "_creationTime"]);
    for (k, v) in &fields {
        assert_eq!(stored.get(k), Some(v), "field {k} kept its value and type");
    }
    let user_keys: Vec<&String> = stored.keys().skip(2).collect();
    assert_eq!(
        user_keys,
        fields.keys().collect::<Vec<_>>(),
        "field order kept"
    );
    Ok(())
}

pub async fn value_limits_are_enforced(rt: &Runtime) -> Result<()> {
    let mut fields = Object::new();
    fields.insert("$bad".into(), Value::Null);
    assert!(
        rt.mutation(procs::insert_blob, fields).await.is_err(),
        "field names starting with $"
    );
    let mut fields = Object::new();
    fields.insert("big".into(), Value::Bytes(vec![0; 1 << 20]));
    let err = rt.mutation(procs::insert_blob, fields).await.unwrap_err();
    assert!(err.to_string().contains("too large"), "{err}");
    let mut deep = Value::Null;
    for _ in 0..70 {
        deep = Value::Array(vec![deep]);
    }
    let mut fields = Object::new();
    fields.insert("deep".into(), deep);
    let err = rt.mutation(procs::insert_blob, fields).await.unwrap_err();
    assert!(
        err.to_string().contains("deep") || err.to_string().contains("nest"),
        "{err}"
    );
    Ok(())
}

pub async fn default_order_is_creation_time(rt: &Runtime) -> Result<()> {
    rt.mutation(procs::insert_items, owners(rt)("a", &[3, 1, 2]))
        .await?;
    rt.mutation(procs::insert_items, owners(rt)("b", &[0]))
        .await?;
    assert_eq!(list(rt, ListItems::default()).await?, [3, 1, 2, 0]);
    assert_eq!(
        list(
            rt,
            ListItems {
                desc: true,
                ..Default::default()
            }
        )
        .await?,
        [0, 2, 1, 3]
    );
    assert_eq!(
        list(
            rt,
            ListItems {
                take: Some(2),
                ..Default::default()
            }
        )
        .await?,
        [3, 1]
    );
    Ok(())
}

pub async fn index_equality_prefix(rt: &Runtime) -> Result<()> {
    rt.mutation(procs::insert_items, owners(rt)("a", &[3, 1, 2]))
        .await?;
    rt.mutation(procs::insert_items, owners(rt)("b", &[9, 0]))
        .await?;
    let a = ListItems {
        owner: Some("a".into()),
        ..Default::default()
    };
    assert_eq!(
        list(rt, a).await?,
        [1, 2, 3],
        "index order within the prefix"
    );
    let b = ListItems {
        owner: Some("b".into()),
        ..Default::default()
    };
    assert_eq!(list(rt, b).await?, [0, 9]);
    let none = ListItems {
        owner: Some("c".into()),
        ..Default::default()
    };
    assert!(list(rt, none).await?.is_empty());
    Ok(())
}

pub async fn index_range_bounds(rt: &Runtime) -> Result<()> {
    rt.mutation(procs::insert_items, owners(rt)("a", &[1, 2, 3, 4, 5]))
        .await?;
    rt.mutation(procs::insert_items, owners(rt)("b", &[3]))
        .await?;
    let a = || ListItems {
        owner: Some("a".into()),
        ..Default::default()
    };
    assert_eq!(list(rt, ListItems { gt: Some(2), ..a() }).await?, [3, 4, 5]);
    assert_eq!(
        list(
            rt,
            ListItems {
                gte: Some(2),
                ..a()
            }
        )
        .await?,
        [2, 3, 4, 5]
    );
    assert_eq!(list(rt, ListItems { lt: Some(3), ..a() }).await?, [1, 2]);
    assert_eq!(
        list(
            rt,
            ListItems {
                lte: Some(3),
                ..a()
            }
        )
        .await?,
        [1, 2, 3]
    );
    assert_eq!(
        list(
            rt,
            ListItems {
                gt: Some(1),
                lt: Some(5),
                ..a()
            }
        )
        .await?,
        [2, 3, 4]
    );
    assert_eq!(
        list(
            rt,
            ListItems {
                gt: Some(4),
                lt: Some(2),
                ..a()
            }
        )
        .await?,
        Vec::<i64>::new()
    );
    Ok(())
}

pub async fn index_order_descending(rt: &Runtime) -> Result<()> {
    rt.mutation(procs::insert_items, owners(rt)("a", &[1, 2, 3, 4, 5]))
        .await?;
    let args = ListItems {
        owner: Some("a".into()),
        gte: Some(2),
        desc: true,
        take: Some(2),
        ..Default::default()
    };
    assert_eq!(list(rt, args).await?, [5, 4]);
    let args = ListItems {
        owner: Some("a".into()),
        lt: Some(4),
        desc: true,
        ..Default::default()
    };
    assert_eq!(list(rt, args).await?, [3, 2, 1]);
    Ok(())
}

pub async fn missing_fields_sort_first(rt: &Runtime) -> Result<()> {
    let mut labelled = Item::new("a", 1);
    labelled.label = Some("x".into());
    rt.mutation(procs::insert_items, vec![labelled, Item::new("a", 2)])
        .await?;
    let docs = rt.query(procs::missing_label_first, ()).await?;
    assert_eq!(
        ranks(&docs),
        [2, 1],
        "a document without the field sorts first"
    );
    Ok(())
}

pub async fn unknown_index_and_bad_ranges(rt: &Runtime) -> Result<()> {
    let err = rt.query(procs::bad_index, 0).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("by_nothing") && msg.contains("by_owner"),
        "{msg}"
    );
    for which in 1..=3 {
        let err = rt.query(procs::bad_index, which).await.unwrap_err();
        assert!(
            db_error(&err).is_some_and(DbError::is_invalid_index),
            "case {which}: {err}"
        );
    }
    Ok(())
}

pub async fn unique_first_take(rt: &Runtime) -> Result<()> {
    let mut one = Item::new("a", 1);
    one.label = Some("one".into());
    let mut two_a = Item::new("a", 2);
    two_a.label = Some("two".into());
    let two_b = two_a.clone();
    rt.mutation(procs::insert_items, vec![one, two_a, two_b])
        .await?;
    assert_eq!(
        rt.query(procs::by_label_unique, "one".into())
            .await?
            .map(|d| d.rank),
        Some(1)
    );
    assert!(
        rt.query(procs::by_label_unique, "none".into())
            .await?
            .is_none()
    );
    let err = rt
        .query(procs::by_label_unique, "two".into())
        .await
        .unwrap_err();
    assert!(
        matches!(db_error(&err), Some(DbError::NotUnique { .. })),
        "{err}"
    );
    assert_eq!(
        rt.query(procs::by_label_first, "two".into())
            .await?
            .map(|d| d.rank),
        Some(2)
    );
    Ok(())
}

async fn all_pages(rt: &Runtime, owner: Option<&str>, desc: bool, size: usize) -> Result<Vec<i64>> {
    let mut cursor = None;
    let mut seen = Vec::new();
    for _ in 0..1000 {
        let page = rt
            .query(
                procs::page_items,
                PageItems {
                    owner: owner.map(str::to_owned),
                    desc,
                    options: PaginationOptions {
                        cursor: cursor.clone(),
                        num_items: size,
                        end_cursor: None,
                    },
                },
            )
            .await?;
        assert!(page.page.len() <= size);
        seen.extend(ranks(&page.page));
        if page.is_done {
            return Ok(seen);
        }
        cursor = Some(page.continue_cursor);
    }
    panic!("pagination did not finish");
}

pub async fn paginate_covers_everything_once(rt: &Runtime) -> Result<()> {
    let ranks: Vec<i64> = (0..23).collect();
    rt.mutation(procs::insert_items, owners(rt)("a", &ranks))
        .await?;
    rt.mutation(procs::insert_items, owners(rt)("b", &[100, 101]))
        .await?;
    for size in [1, 5, 23, 50] {
        assert_eq!(
            all_pages(rt, Some("a"), false, size).await?,
            ranks,
            "page size {size}"
        );
        let mut desc = ranks.clone();
        desc.reverse();
        assert_eq!(
            all_pages(rt, Some("a"), true, size).await?,
            desc,
            "desc, page size {size}"
        );
    }
    assert_eq!(all_pages(rt, None, false, 4).await?.len(), 25);
    let empty = all_pages(rt, Some("nobody"), false, 3).await?;
    assert!(empty.is_empty());
    Ok(())
}

pub async fn paginate_under_concurrent_writes(rt: &Runtime) -> Result<()> {
    // Ranks 0, 10, 20, ... 190; pages of 3; between pages, insert just before and just
    // after the cursor and far ahead, and delete a document not yet reached.
    let initial: Vec<i64> = (0..20).map(|i| i * 10).collect();
    let ids = rt
        .mutation(procs::insert_items, owners(rt)("a", &initial))
        .await?;
    let mut cursor = None;
    let mut seen: Vec<(i64, Id<Item>)> = Vec::new();
    let mut deleted = Vec::new();
    let mut behind = Vec::new();
    let mut ahead = Vec::new();
    loop {
        let page = rt
            .query(
                procs::page_items,
                PageItems {
                    owner: Some("a".into()),
                    desc: false,
                    options: PaginationOptions {
                        cursor: cursor.clone(),
                        num_items: 3,
                        end_cursor: None,
                    },
                },
            )
            .await?;
        seen.extend(page.page.iter().map(|d| (d.rank, d.id())));
        if page.is_done {
            break;
        }
        cursor = Some(page.continue_cursor);
        let last = seen.last().expect("a full page").0;
        let new = rt
            .mutation(
                procs::insert_items,
                owners(rt)("a", &[last - 1, last + 1, 1000 + last]),
            )
            .await?;
        behind.push(new[0]);
        ahead.extend([new[1], new[2]]);
        if let Some(pos) = initial.iter().position(|r| *r == last + 20) {
            rt.mutation(procs::delete_item, ids[pos]).await?;
            deleted.push(ids[pos]);
        }
    }
    let seen_ids: Vec<Id<Item>> = seen.iter().map(|(_, id)| *id).collect();
    let mut unique = seen_ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        seen_ids.len(),
        "no document repeated: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "pages follow index order: {seen:?}"
    );
    for id in &ids {
        assert_eq!(
            seen_ids.contains(id),
            !deleted.contains(id),
            "{id}: seen unless deleted"
        );
    }
    for id in &behind {
        assert!(
            !seen_ids.contains(id),
            "{id} was inserted behind the cursor"
        );
    }
    for id in &ahead {
        assert!(
            seen_ids.contains(id),
            "{id} was inserted ahead of the cursor"
        );
    }
    assert!(!deleted.is_empty() && !ahead.is_empty());
    Ok(())
}

pub async fn cursor_from_another_query_is_refused(rt: &Runtime) -> Result<()> {
    rt.mutation(procs::insert_items, owners(rt)("a", &[1, 2, 3]))
        .await?;
    let page = rt
        .query(
            procs::page_items,
            PageItems {
                owner: Some("a".into()),
                desc: false,
                options: PaginationOptions::first(1),
            },
        )
        .await?;
    let err = rt
        .query(
            procs::page_items,
            PageItems {
                owner: None,
                desc: false,
                options: PaginationOptions::after(page.continue_cursor.clone(), 1),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(db_error(&err), Some(DbError::InvalidCursor { .. })),
        "{err}"
    );
    let err = rt
        .query(
            procs::page_items,
            PageItems {
                owner: Some("a".into()),
                desc: false,
                options: PaginationOptions::after("garbage!", 1),
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(db_error(&err), Some(DbError::InvalidCursor { .. })),
        "{err}"
    );
    Ok(())
}

/// Runs the gated mutation, commits `interfere` while it waits after its reads, and
/// returns how many times the gated mutation ran.
async fn gated_runs<F, Fut>(rt: &Runtime, tag: &str, read: GatedRead, interfere: F) -> Result<usize>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let gate = procs::gate(tag);
    let task = tokio::spawn({
        let rt = rt.clone();
        let args = Gated {
            tag: tag.to_owned(),
            read,
        };
        async move { rt.mutation(procs::gated, args).await }
    });
    tokio::time::timeout(Duration::from_secs(10), gate.reached.notified())
        .await
        .expect("the gated mutation reached its gate");
    interfere().await?;
    gate.release.notify_one();
    task.await.expect("task")?;
    let runs = *gate.runs.lock().unwrap_or_else(|e| e.into_inner());
    Ok(runs)
}

pub async fn range_read_conflicts_with_insert_into_range(rt: &Runtime) -> Result<()> {
    rt.mutation(procs::insert_items, owners(rt)("a", &[1]))
        .await?;
    let runs = gated_runs(rt, "range-hit", GatedRead::Owner("a".into()), || async {
        rt.mutation(procs::insert_items, owners(rt)("a", &[2]))
            .await
            .map(drop)
    })
    .await?;
    assert_eq!(runs, 2, "the insert into the read range forced a re-run");
    Ok(())
}

pub async fn disjoint_range_does_not_conflict(rt: &Runtime) -> Result<()> {
    rt.mutation(procs::insert_items, owners(rt)("a", &[1]))
        .await?;
    let runs = gated_runs(rt, "range-miss", GatedRead::Owner("a".into()), || async {
        rt.mutation(procs::insert_items, owners(rt)("b", &[2]))
            .await
            .map(drop)
    })
    .await?;
    assert_eq!(
        runs, 1,
        "an insert outside the read range does not conflict"
    );
    Ok(())
}

pub async fn empty_range_read_conflicts_with_insert(rt: &Runtime) -> Result<()> {
    let runs = gated_runs(rt, "phantom", GatedRead::Owner("ghost".into()), || async {
        rt.mutation(procs::insert_items, owners(rt)("ghost", &[1]))
            .await
            .map(drop)
    })
    .await?;
    assert_eq!(
        runs, 2,
        "a range that matched nothing still conflicts with an insert into it"
    );
    Ok(())
}

pub async fn limited_read_only_covers_what_it_returned(rt: &Runtime) -> Result<()> {
    rt.mutation(procs::insert_items, owners(rt)("a", &[1]))
        .await?;
    // take(1) on creation order read only up to the first document: a newer insert is
    // outside what it read.
    let runs = gated_runs(rt, "limited", GatedRead::FirstOnly, || async {
        rt.mutation(procs::insert_items, owners(rt)("z", &[2]))
            .await
            .map(drop)
    })
    .await?;
    assert_eq!(runs, 1);
    Ok(())
}

pub async fn point_read_conflicts_with_write(rt: &Runtime) -> Result<()> {
    let id: Id<Item> = rt
        .mutation(procs::insert_items, owners(rt)("a", &[1]))
        .await?[0];
    let runs = gated_runs(rt, "point", GatedRead::Point(id), || async move {
        rt.mutation(procs::replace_item, (id, Item::new("a", 5)))
            .await
    })
    .await?;
    assert_eq!(runs, 2);
    let other: Id<Item> = rt
        .mutation(procs::insert_items, owners(rt)("a", &[3]))
        .await?[0];
    let runs = gated_runs(rt, "point-miss", GatedRead::Point(id), || async move {
        rt.mutation(procs::delete_item, other).await
    })
    .await?;
    assert_eq!(
        runs, 1,
        "a write to another document does not conflict with a point read"
    );
    Ok(())
}

pub async fn conflicts_give_up_naming_the_table(rt: &Runtime) -> Result<()> {
    let rt1 = rt.clone();
    let limited = convoke::Runtime::builder()
        .shared_storage(rt1.storage())
        .max_mutation_attempts(1)
        .build()?;
    let gate = procs::gate("give-up");
    let task = tokio::spawn({
        let limited = limited.clone();
        async move {
            limited
                .mutation(
                    procs::gated,
                    Gated {
                        tag: "give-up".into(),
                        read: GatedRead::Owner("a".into()),
                    },
                )
                .await
        }
    });
    gate.reached.notified().await;
    rt.mutation(procs::insert_items, owners(rt)("a", &[1]))
        .await?;
    gate.release.notify_one();
    let err = task.await.expect("task").unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string().contains("'items'"),
        "the error names the table: {err}"
    );
    Ok(())
}

pub async fn queries_never_conflict(rt: &Runtime) -> Result<()> {
    rt.mutation(procs::insert_items, owners(rt)("a", &[1, 2]))
        .await?;
    let writer = tokio::spawn({
        let rt = rt.clone();
        async move {
            for i in 0..50 {
                rt.mutation(procs::insert_items, vec![Item::new("a", 10 + i)])
                    .await?;
            }
            Ok::<_, Error>(())
        }
    });
    for _ in 0..50 {
        let n = rt.query(procs::read_all, ()).await?;
        assert!(n >= 2);
    }
    writer.await.expect("task")?;
    Ok(())
}

pub async fn savepoints_undo_index_entries(rt: &Runtime) -> Result<()> {
    let seen = rt
        .mutation(procs::outer_with_savepoints, "sp".into())
        .await?;
    assert_eq!(
        seen, 2,
        "the failed inner mutation's index entries are gone inside the outer"
    );
    let committed = list(
        rt,
        ListItems {
            owner: Some("sp".into()),
            ..Default::default()
        },
    )
    .await?;
    assert_eq!(committed, [0, 1]);
    Ok(())
}

pub async fn transaction_limits(rt: &Runtime) -> Result<()> {
    let limited = convoke::Runtime::builder()
        .shared_storage(rt.storage())
        .transaction_limits(TransactionLimits {
            max_documents_written: 5,
            max_documents_read: 8,
            ..TransactionLimits::default()
        })
        .build()?;
    let err = limited.mutation(procs::insert_many, 6).await.unwrap_err();
    assert!(
        db_error(&err).is_some_and(DbError::is_limit_exceeded),
        "{err}"
    );
    assert!(err.to_string().contains("documents written"), "{err}");
    assert_eq!(
        rt.query(procs::read_all, ()).await?,
        0,
        "nothing of it committed"
    );
    limited.mutation(procs::insert_many, 5).await?;
    limited.mutation(procs::insert_many, 5).await?;
    let err = limited.query(procs::read_all, ()).await.unwrap_err();
    assert!(err.to_string().contains("documents read"), "{err}");
    Ok(())
}

pub async fn concurrent_increments_are_exact(rt: &Runtime) -> Result<()> {
    let id = rt.mutation(procs::new_counter, ()).await?;
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let rt = rt.clone();
            tokio::spawn(async move { rt.mutation(procs::increment, id).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task")?;
    }
    assert_eq!(rt.query(procs::counter, id).await?, 50);
    Ok(())
}
