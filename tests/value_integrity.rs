//! Every value that can be written can be read back, on every engine: the one gate of
//! Convex's value rules (field names at every depth, nesting, array length, number of
//! fields, size) refuses what could not be, with an error naming the field path, and
//! writes nothing; a stored document that does not decode does not stop a store from
//! opening or a table from being read.

#[path = "support/things.rs"]
mod support;

use std::collections::BTreeMap;

use convoke::db::TransactionLimits;
use convoke::value::{self, MAX_NESTING_DEPTH, Object, Value};
use convoke::{Error, Id, Runtime};
use support::{Engine, Note, Thing, postgres, thing, things};

fn note(tags: &[(&str, i64)]) -> Note {
    Note {
        title: "t".into(),
        tags: tags.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
    }
}

/// `n` arrays nested in each other around `null`: nesting depth `n`.
fn nested(n: usize) -> Value {
    (0..n).fold(Value::Null, |v, _| Value::Array(vec![v]))
}

/// The value error inside a procedure's error.
fn value_error(e: &Error) -> Option<&value::ValueError> {
    match e {
        Error::Db(convoke::db::DbError::Value(v)) => Some(v),
        _ => None,
    }
}

fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

/// A nested `$x` key (from a `BTreeMap` field) is refused with its path, on every engine,
/// and the store still opens afterwards. (It used to commit, and then SQLite refused to
/// reopen the directory and PostgreSQL to read the table.)
#[test]
fn a_dollar_key_in_a_nested_map_is_refused_with_its_path() {
    for engine in Engine::all("a_dollar_key_in_a_nested_map_is_refused_with_its_path") {
        block_on(async {
            let rt = engine.runtime();
            rt.mutation(things::insert_note, note(&[("ok", 1)]))
                .await
                .expect("a valid note");
            let err = rt
                .mutation(things::insert_note, note(&[("$x", 1)]))
                .await
                .expect_err("a `$x` key");
            let v = value_error(&err).unwrap_or_else(|| panic!("a value error: {err}"));
            assert!(v.is_invalid_field_name(), "{}: {err}", engine.name());
            assert_eq!(v.path(), Some("tags.$x"), "{}", engine.name());
            assert!(err.to_string().contains("tags.$x"), "{err}");
            drop(rt);
            let rt = engine.runtime();
            let notes = rt.query(things::notes, ()).await.expect("notes read");
            if engine.is_durable() {
                assert_eq!(notes, vec![note(&[("ok", 1)])], "{}", engine.name());
            }
        });
    }
}

/// A nested object that looks like the encoding of another type (`{"$integer": ..}`) is
/// refused: it used to read back as `Int64(1)` from the durable engines.
#[test]
fn a_nested_object_spelling_an_encoded_type_is_refused() {
    for engine in Engine::all("a_nested_object_spelling_an_encoded_type_is_refused") {
        block_on(async {
            let rt = engine.runtime();
            let mut encoded = Object::new();
            encoded.insert("$integer".into(), Value::from("AQAAAAAAAAA="));
            let doc = thing("n", Value::Object(encoded));
            let err = rt.mutation(things::insert, doc).await.expect_err("refused");
            let v = value_error(&err).expect("a value error");
            assert!(v.is_invalid_field_name());
            assert_eq!(v.path(), Some("n.$integer"));
            assert!(rt.query(things::all, ()).await.expect("read").is_empty());
        });
    }
}

/// Nested field names follow the same rules as top-level ones (less the `_` rule): each of
/// these is refused inside a nested object, with its path, on every engine; `_x` nested
/// is fine.
#[test]
fn invalid_nested_field_names_are_refused_on_every_engine() {
    let long = "a".repeat(1025);
    let bad = ["", "é", "a\nb", long.as_str(), "$bad", "\u{7f}"];
    for engine in Engine::all("invalid_nested_field_names_are_refused_on_every_engine") {
        block_on(async {
            let rt = engine.runtime();
            for name in bad {
                let doc = thing("outer", Value::Object(thing(name, Value::Null).0));
                let err = rt
                    .mutation(things::insert, doc)
                    .await
                    .expect_err("an invalid nested name");
                let v = value_error(&err).expect("a value error");
                assert!(v.is_invalid_field_name(), "{name:?}: {err}");
                assert!(v.path().is_some_and(|p| p.starts_with("outer")), "{err}");
                // In an array inside an object too.
                let doc = thing(
                    "list",
                    Value::Array(vec![Value::Null, Value::Object(thing(name, Value::Null).0)]),
                );
                let err = rt.mutation(things::insert, doc).await.expect_err("refused");
                let path = value_error(&err).and_then(|v| v.path()).unwrap_or("");
                assert!(path.starts_with("list[1]"), "{path}");
            }
            assert!(rt.query(things::all, ()).await.expect("read").is_empty());
            let ok = thing("outer", Value::Object(thing("_x", Value::Null).0));
            rt.mutation(things::insert, ok)
                .await
                .expect("a nested `_x`");
            drop(rt);
            if engine.is_durable() {
                let rt = engine.runtime();
                assert_eq!(rt.query(things::all, ()).await.expect("read").len(), 1);
            }
        });
    }
}

/// A patch is checked on the resulting document: a 64-deep document patched with a
/// 64-deep field would be 65 deep, and is refused; the document is unchanged, and the
/// store reopens. (The patch used to return `Ok`, and the durable engines then failed to
/// read the document.)
#[test]
fn a_patch_cannot_nest_the_document_past_the_limit() {
    for engine in Engine::all("a_patch_cannot_nest_the_document_past_the_limit") {
        block_on(async {
            let rt = engine.runtime();
            // The document is one level: its field may be 63 deep.
            let deepest = thing("deep", nested(MAX_NESTING_DEPTH - 1));
            let (id, back) = rt
                .mutation(things::insert, deepest.clone())
                .await
                .expect("a 64-deep document");
            assert_eq!(back, deepest);
            let err = rt
                .mutation(things::insert, thing("deep", nested(MAX_NESTING_DEPTH)))
                .await
                .expect_err("65 deep");
            assert!(value_error(&err).is_some_and(|v| v.is_too_deep()), "{err}");
            let err = rt
                .mutation(
                    things::patch,
                    (id, thing("more", nested(MAX_NESTING_DEPTH)), vec![]),
                )
                .await
                .expect_err("a patch to 65 deep");
            let v = value_error(&err).expect("a value error");
            assert!(v.is_too_deep(), "{err}");
            assert!(v.path().is_some_and(|p| p.starts_with("more")), "{err}");
            let err = rt
                .mutation(things::replace, (id, thing("x", nested(MAX_NESTING_DEPTH))))
                .await
                .expect_err("a replace to 65 deep");
            assert!(value_error(&err).is_some_and(|v| v.is_too_deep()), "{err}");
            assert_eq!(
                rt.query(things::get, id).await.expect("read"),
                Some(deepest.clone())
            );
            drop(rt);
            if engine.is_durable() {
                let rt = engine.runtime();
                assert_eq!(
                    rt.query(things::get, id).await.expect("read"),
                    Some(deepest.clone())
                );
            }
        });
    }
}

/// Array length, number of fields and size are limits at every depth, in the resulting
/// document of a patch too.
#[test]
fn array_length_field_count_and_size_are_checked_at_every_depth() {
    let engine = Engine::Memory;
    block_on(async {
        let rt = engine.runtime();
        let array = |n| Value::Array(vec![Value::Null; n]);
        let object = |n: usize| {
            Value::Object(
                (0..n)
                    .map(|i| (format!("f{i}"), Value::Null))
                    .collect::<Object>(),
            )
        };
        rt.mutation(things::insert, thing("a", Value::Array(vec![array(8192)])))
            .await
            .expect("8192 elements");
        let err = rt
            .mutation(things::insert, thing("a", Value::Array(vec![array(8193)])))
            .await
            .expect_err("8193 elements");
        let v = value_error(&err).expect("a value error");
        assert!(v.is_array_too_long(), "{err}");
        assert_eq!(v.path(), Some("a[0]"));
        rt.mutation(things::insert, thing("o", object(1024)))
            .await
            .expect("1024 fields");
        let err = rt
            .mutation(things::insert, thing("o", object(1025)))
            .await
            .expect_err("1025 fields");
        assert!(
            value_error(&err).is_some_and(|v| v.is_too_many_fields()),
            "{err}"
        );
        let Value::Object(top) = object(1025) else {
            unreachable!()
        };
        let err = rt
            .mutation(things::insert, Thing(top))
            .await
            .expect_err("1025 top-level fields");
        assert!(
            value_error(&err).is_some_and(|v| v.is_too_many_fields()),
            "{err}"
        );
        // Two halves that fit alone but not together.
        let half = Value::Bytes(vec![7; 600_000]);
        let (id, _) = rt
            .mutation(things::insert, thing("a", half.clone()))
            .await
            .expect("600 kB");
        let err = rt
            .mutation(things::patch, (id, thing("b", half.clone()), vec![]))
            .await
            .expect_err("1.2 MB");
        assert!(value_error(&err).is_some_and(|v| v.is_too_large()), "{err}");
        assert_eq!(
            rt.query(things::get, id).await.expect("read"),
            Some(thing("a", half))
        );
    });
}

/// By-name arguments pass the same check: a nested `$`-key cannot come in through the
/// Convex JSON decoder, and a 8193-element array is refused before the procedure runs.
#[test]
fn by_name_arguments_pass_the_same_check() {
    block_on(async {
        let rt = Runtime::in_memory().expect("runtime");
        let ok = serde_json::json!({ "a": [1, 2] });
        let out = rt
            .run("support/things:insert", ok)
            .await
            .expect("valid arguments");
        assert_eq!(out[1]["a"], serde_json::json!([1.0, 2.0]));
        let long: Vec<u8> = vec![0; 8193];
        let err = rt
            .run(
                "support/things:insert",
                serde_json::json!({ "b": [{ "a": long }] }),
            )
            .await
            .expect_err("8193 elements");
        assert!(err.is_invalid_arguments(), "{err}");
        assert!(err.to_string().contains("b[0].a"), "{err}");
        let err = rt
            .run(
                "support/things:insert",
                serde_json::json!({ "a": { "$x": 1 } }),
            )
            .await
            .expect_err("a `$x` key");
        assert!(err.is_invalid_arguments(), "{err}");
        assert!(rt.query(things::all, ()).await.expect("read").len() == 1);
    });
}

/// A transaction that went over a per-transaction limit cannot commit, even when the
/// procedure swallows the error and returns `Ok`: nothing it wrote is committed. One case
/// per limit, on every engine.
#[test]
fn a_swallowed_limit_error_still_dooms_the_transaction() {
    mod swallow {
        use super::*;
        use convoke::{MutationCtx, Result, procedure};
        convoke::module!(swallow);

        /// Inserts `n` documents, ignoring every error.
        #[procedure(mutation)]
        pub async fn insert_many(ctx: &MutationCtx<'_>, n: i64) -> Result<usize> {
            let mut ok = 0;
            for i in 0..n {
                if ctx.db().insert(&thing("i", Value::Int64(i))).await.is_ok() {
                    ok += 1;
                }
            }
            Ok(ok)
        }

        /// Reads everything `n` times, ignoring every error, then writes one document.
        #[procedure(mutation)]
        pub async fn read_many(ctx: &MutationCtx<'_>, n: i64) -> Result<()> {
            for _ in 0..n {
                let _ = ctx.db().query::<Thing>().collect().await;
            }
            ctx.db().insert(&thing("after", Value::Null)).await?;
            Ok(())
        }
    }

    for engine in Engine::all("a_swallowed_limit_error_still_dooms_the_transaction") {
        block_on(async {
            let cases: [(&str, TransactionLimits, &str, i64); 4] = [
                (
                    "documents written",
                    TransactionLimits {
                        max_documents_written: 10,
                        ..TransactionLimits::default()
                    },
                    "write",
                    15,
                ),
                (
                    "bytes written",
                    TransactionLimits {
                        max_bytes_written: 1000,
                        ..TransactionLimits::default()
                    },
                    "write",
                    30,
                ),
                (
                    "documents read",
                    TransactionLimits {
                        max_documents_read: 5,
                        ..TransactionLimits::default()
                    },
                    "read",
                    3,
                ),
                (
                    "bytes read",
                    TransactionLimits {
                        max_bytes_read: 500,
                        ..TransactionLimits::default()
                    },
                    "read",
                    3,
                ),
            ];
            for (what, limits, kind, n) in cases {
                let rt = engine.runtime_with(limits);
                // Three documents to read (a durable engine keeps them from the first case).
                if rt.query(things::all, ()).await.expect("read").is_empty() {
                    for i in 0..3 {
                        rt.mutation(things::insert, thing("seed", Value::Int64(i)))
                            .await
                            .expect("seed");
                    }
                }
                let err = match kind {
                    "write" => rt.mutation(swallow::insert_many, n).await.map(|_| ()),
                    _ => rt.mutation(swallow::read_many, n).await,
                }
                .expect_err("the commit is refused");
                match &err {
                    Error::Db(e) => assert!(e.is_limit_exceeded(), "{what}: {err}"),
                    other => panic!("{}: {what}: {other}", engine.name()),
                }
                assert!(err.to_string().contains(what), "{what}: {err}");
                let all = rt.query(things::all, ()).await.expect("read");
                assert_eq!(all.len(), 3, "{}: {what}: nothing committed", engine.name());
            }
        });
    }
}

/// The scheduler's limits doom the transaction too.
#[test]
fn a_swallowed_scheduling_limit_error_still_dooms_the_transaction() {
    mod sched {
        use super::*;
        use convoke::{MutationCtx, Result, procedure};
        convoke::module!(sched);

        #[procedure(mutation)]
        pub async fn noop(_ctx: &MutationCtx<'_>) -> Result<()> {
            Ok(())
        }

        /// Schedules `n` calls and inserts a document, ignoring scheduling errors.
        #[procedure(mutation)]
        pub async fn schedule_many(ctx: &MutationCtx<'_>, n: i64) -> Result<()> {
            for _ in 0..n {
                let _ = create_sched_caller(ctx).schedule().now().noop().await;
            }
            ctx.db().insert(&thing("after", Value::Null)).await?;
            Ok(())
        }

        /// Schedules calls with 600 kB of arguments each, ignoring errors.
        #[procedure(mutation)]
        pub async fn schedule_big(ctx: &MutationCtx<'_>, n: i64) -> Result<()> {
            for _ in 0..n {
                let _ = create_sched_caller(ctx)
                    .schedule()
                    .now()
                    .big("x".repeat(600_000))
                    .await;
            }
            ctx.db().insert(&thing("after", Value::Null)).await?;
            Ok(())
        }

        #[procedure(mutation)]
        pub async fn big(_ctx: &MutationCtx<'_>, _text: String) -> Result<()> {
            Ok(())
        }
    }
    for engine in Engine::all("a_swallowed_scheduling_limit_error_still_dooms_the_transaction") {
        block_on(async {
            let rt = engine.runtime();
            let err = rt
                .mutation(sched::schedule_many, 1001)
                .await
                .expect_err("over the functions scheduled limit");
            assert!(
                matches!(&err, Error::Db(e) if e.is_limit_exceeded()),
                "{}: {err}",
                engine.name()
            );
            let err = rt
                .mutation(sched::schedule_big, 15)
                .await
                .expect_err("over the bytes scheduled limit");
            assert!(
                matches!(&err, Error::Db(e) if e.is_limit_exceeded()),
                "{}: {err}",
                engine.name()
            );
            assert!(rt.query(things::all, ()).await.expect("read").is_empty());
        });
    }
}

/// Scheduled arguments are stored in a job document, so they pass the same gate: a `$x`
/// map key in them is refused with its path, and no job is written.
#[test]
fn scheduled_arguments_pass_the_same_check() {
    mod jobs {
        use super::*;
        use convoke::scheduler::ScheduledFunction;
        use convoke::{MutationCtx, QueryCtx, Result, procedure};
        convoke::module!(jobs);

        #[procedure(mutation)]
        pub async fn take(_ctx: &MutationCtx<'_>, _tags: BTreeMap<String, i64>) -> Result<()> {
            Ok(())
        }

        /// Schedules `take` with these tags.
        #[procedure(mutation)]
        pub async fn plan(ctx: &MutationCtx<'_>, tags: BTreeMap<String, i64>) -> Result<()> {
            create_jobs_caller(ctx).schedule().now().take(tags).await?;
            Ok(())
        }

        #[procedure(query)]
        pub async fn count(ctx: &QueryCtx<'_>) -> Result<usize> {
            Ok(ctx.db().query::<ScheduledFunction>().collect().await?.len())
        }
    }
    for engine in Engine::all("scheduled_arguments_pass_the_same_check") {
        block_on(async {
            let rt = engine.runtime();
            let tags = |k: &str| BTreeMap::from([(k.to_owned(), 1)]);
            rt.mutation(jobs::plan, tags("ok"))
                .await
                .expect("valid arguments");
            let err = rt
                .mutation(jobs::plan, tags("$x"))
                .await
                .expect_err("a `$x` key");
            let v = value_error(&err).unwrap_or_else(|| panic!("a value error: {err}"));
            assert!(v.is_invalid_field_name(), "{err}");
            assert_eq!(v.path(), Some("args.$x"), "{}", engine.name());
            assert_eq!(rt.query(jobs::count, ()).await.expect("read"), 1);
        });
    }
}

/// Writes a SQLite data directory with two documents, then changes one's stored fields
/// behind the store's back.
fn corrupt_sqlite(engine: &Engine, fields: &str) -> (Id<Thing>, Id<Thing>) {
    let Engine::Sqlite(dir) = engine else {
        unreachable!()
    };
    let (good, bad) = block_on(async {
        let rt = engine.runtime();
        let (good, _) = rt
            .mutation(things::insert, thing("n", Value::Int64(1)))
            .await
            .expect("insert");
        let (bad, _) = rt
            .mutation(things::insert, thing("n", Value::Int64(2)))
            .await
            .expect("insert");
        (good, bad)
    });
    let conn = rusqlite::Connection::open(dir.path().join("convoke.sqlite3")).expect("open");
    let changed = conn
        .execute(
            "UPDATE documents SET fields = ?1 WHERE tbl = 'things' AND number = ?2",
            rusqlite::params![fields, bad.document_id().number() as i64],
        )
        .expect("update");
    assert_eq!(changed, 1);
    (good, bad)
}

/// A stored document that does not decode does not stop the data directory from opening:
/// the store opens without it and lists it, reading it fails with an error naming its
/// table and id, the rest is served and written, and its number is not handed out again.
#[test]
fn a_sqlite_document_that_does_not_decode_does_not_stop_the_store() {
    for stored in [r#"{"n":{"$x":"AQAAAAAAAAA="}}"#, "not json", r#"[1]"#] {
        let engine = Engine::Sqlite(support::TempDir::new("corrupt"));
        let (good, bad) = corrupt_sqlite(&engine, stored);
        let Engine::Sqlite(dir) = &engine else {
            unreachable!()
        };
        let store = convoke::store::SqliteStore::open(dir.path()).expect("the store opens");
        let unreadable = store.unreadable();
        assert_eq!(unreadable.len(), 1, "{stored}");
        assert_eq!(unreadable[0].0, bad.document_id());
        let rt = Runtime::builder().storage(store).build().expect("runtime");
        block_on(async {
            assert_eq!(
                rt.query(things::get, good).await.expect("the good one"),
                Some(thing("n", Value::Int64(1)))
            );
            let err = rt.query(things::get, bad).await.expect_err("unreadable");
            match &err {
                Error::Db(e) => assert!(e.is_unreadable(), "{err}"),
                other => panic!("{other}"),
            }
            let message = err.to_string();
            assert!(message.contains(&bad.to_string()) && message.contains("things"));
            let all = rt.query(things::all, ()).await.expect("the table reads");
            assert_eq!(all, vec![(good, thing("n", Value::Int64(1)))]);
            let (new, _) = rt
                .mutation(things::insert, thing("n", Value::Int64(3)))
                .await
                .expect("writes go on");
            assert!(new.document_id().number() > bad.document_id().number());
            let err = rt
                .mutation(things::replace, (bad, thing("n", Value::Null)))
                .await
                .expect_err("not overwritten unseen");
            assert!(matches!(&err, Error::Db(e) if e.is_unreadable()), "{err}");
        });
    }
}

/// The same on PostgreSQL: a row whose fields do not decode is left out of scans (a
/// limited scan still returns as many documents as asked when there are more), and reading
/// it by id fails with an error naming it.
#[test]
fn a_postgres_document_that_does_not_decode_does_not_stop_the_table() {
    let test = "a_postgres_document_that_does_not_decode_does_not_stop_the_table";
    if !postgres::available(test) {
        return;
    }
    let schema = postgres::fresh_schema("convoke_integrity");
    let _guard = postgres::DropSchema(schema.clone());
    let rt = Runtime::builder()
        .storage(postgres::store(&schema))
        .build()
        .expect("runtime");
    mod paged {
        use super::*;
        use convoke::{QueryCtx, Result, procedure};
        convoke::module!(paged);

        /// The first `n` documents.
        #[procedure(query)]
        pub async fn first(ctx: &QueryCtx<'_>, n: i64) -> Result<Vec<Id<Thing>>> {
            Ok(ctx
                .db()
                .query::<Thing>()
                .take(n as usize)
                .await?
                .into_iter()
                .map(|d| d.id())
                .collect())
        }
    }
    block_on(async {
        let mut ids = Vec::new();
        for i in 0..4 {
            let (id, _) = rt
                .mutation(things::insert, thing("n", Value::Int64(i)))
                .await
                .expect("insert");
            ids.push(id);
        }
        let bad = ids[1];
        postgres::run_sql(&format!(
            "UPDATE \"{schema}\".documents SET fields = '{{\"n\":{{\"$x\":1}}}}' \
             WHERE tbl = 'things' AND num = {}",
            bad.document_id().number()
        ));
        let err = rt.query(things::get, bad).await.expect_err("unreadable");
        assert!(matches!(&err, Error::Db(e) if e.is_unreadable()), "{err}");
        assert!(err.to_string().contains(&bad.to_string()), "{err}");
        let all = rt.query(things::all, ()).await.expect("the table reads");
        let all: Vec<Id<Thing>> = all.into_iter().map(|(id, _)| id).collect();
        assert_eq!(all, vec![ids[0], ids[2], ids[3]]);
        let first = rt.query(paged::first, 2).await.expect("a limited scan");
        assert_eq!(first, vec![ids[0], ids[2]]);
        rt.mutation(things::replace, (ids[0], thing("m", Value::Null)))
            .await
            .expect("writes go on");
    });
}

/// The typed struct path: a `BTreeMap` with valid keys round-trips through a reopen.
#[test]
fn valid_nested_maps_round_trip_through_a_reopen() {
    let engine = Engine::Sqlite(support::TempDir::new("maps"));
    let tags: BTreeMap<String, i64> = [("_a", 1), (" b~", 2), ("c.d", i64::MIN)]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), *v))
        .collect();
    let n = Note {
        title: "x".into(),
        tags,
    };
    block_on(async {
        engine
            .runtime()
            .mutation(things::insert_note, n.clone())
            .await
            .expect("insert");
    });
    block_on(async {
        let notes = engine
            .runtime()
            .query(things::notes, ())
            .await
            .expect("read");
        assert_eq!(notes, vec![n]);
    });
}
