//! Property tests of value integrity: arbitrary value trees (every type, int64 and float
//! extremes, NaN payloads, `-0.0`, all byte values, unicode, trees near every limit, field
//! names from valid and invalid sets) written through insert, patch and replace on each
//! engine; read back in the same transaction, after commit, and after reopening the store.
//! An accepted value reads back exactly (type, float bits, key order); a refused one
//! leaves the store unchanged. The same for the Convex JSON encoding and for by-name
//! arguments through `rt.run`.
//!
//! Each property runs `CONVOKE_PROPTEST_CASES` cases (default 24), so the suite stays
//! fast; raise it for a long run: `CONVOKE_PROPTEST_CASES=2000 cargo test --test
//! value_properties`.

#[path = "support/things.rs"]
mod support;

use std::cell::RefCell;

use convoke::value::{self, Object, Value};
use convoke::{Error, Id, Runtime};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use support::{Engine, Thing, things};

/// Cases per property: `CONVOKE_PROPTEST_CASES`, default 24.
fn cases() -> u32 {
    std::env::var("CONVOKE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24)
}

/// A runner of `cases()` cases. `shrink`: whether to shrink a failing case (not for the
/// properties that write to a store, whose state a shrunk re-run would not start from).
fn runner(shrink: bool) -> TestRunner {
    let mut config = Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    };
    if !shrink {
        config.max_shrink_iters = 0;
    }
    TestRunner::new(config)
}

// ---------------------------------------------------------------------------------------
// The model of Convex's rules, written independently of the runtime's check.

const MAX_DEPTH: usize = 64;
const MAX_ARRAY: usize = 8192;
const MAX_FIELDS: usize = 1024;
const MAX_NAME: usize = 1024;
const MAX_DOCUMENT: usize = 1 << 20;

fn name_ok(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && !name.starts_with('$')
        && name.bytes().all(|b| (0x20..0x7f).contains(&b))
}

fn size_of(v: &Value) -> usize {
    match v {
        Value::Null | Value::Boolean(_) => 1,
        Value::Int64(_) | Value::Float64(_) => 9,
        Value::String(s) => 2 + s.len(),
        Value::Bytes(b) => 2 + b.len(),
        Value::Array(a) => 2 + a.iter().map(size_of).sum::<usize>(),
        Value::Object(o) => {
            2 + o
                .iter()
                .map(|(k, v)| k.len() + 1 + size_of(v))
                .sum::<usize>()
        }
    }
}

/// Whether `v`, nested in `enclosing` levels, keeps every rule below the size.
fn tree_ok(v: &Value, enclosing: usize) -> bool {
    match v {
        Value::Array(a) => {
            enclosing < MAX_DEPTH
                && a.len() <= MAX_ARRAY
                && a.iter().all(|x| tree_ok(x, enclosing + 1))
        }
        Value::Object(o) => {
            enclosing < MAX_DEPTH
                && o.len() <= MAX_FIELDS
                && o.iter()
                    .all(|(k, x)| name_ok(k) && tree_ok(x, enclosing + 1))
        }
        _ => true,
    }
}

/// Whether a document with these fields is accepted.
fn document_ok(fields: &Object) -> bool {
    fields.len() <= MAX_FIELDS
        && fields
            .iter()
            .all(|(k, v)| name_ok(k) && !k.starts_with('_') && tree_ok(v, 1))
        && size_of(&Value::Object(fields.clone())) <= MAX_DOCUMENT
}

/// Whether a value on its own (an argument) is accepted.
fn value_ok(v: &Value) -> bool {
    tree_ok(v, 0) && size_of(v) <= value::MAX_ARGUMENTS_SIZE
}

// ---------------------------------------------------------------------------------------
// Strategies.

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<u64>().prop_map(f64::from_bits),
        Just(-0.0),
        Just(0.0),
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::from_bits(0x7ff0_0000_0000_0001)), // a signalling NaN payload
        Just(f64::from_bits(0xfff8_dead_beef_0001)),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(f64::MIN_POSITIVE / 2.0), // subnormal
        Just(f64::MAX),
        Just(f64::MIN),
        Just(f64::EPSILON),
        Just(9007199254740993.0),
        any::<f64>(),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        prop_oneof![
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            Just(0),
            Just(-1)
        ]
        .prop_map(Value::Int64),
        float().prop_map(Value::Float64),
        any::<bool>().prop_map(Value::Boolean),
        proptest::collection::vec(any::<char>(), 0..8)
            .prop_map(|c| Value::String(c.into_iter().collect())),
        prop_oneof![
            Just("\u{0}"),
            Just("\u{ffff}\u{10ffff}"),
            Just("\"\\/\u{8}\u{c}\n\r\t"),
            Just("😀 ñ 中"),
            Just("$integer"),
            Just("{\"$bytes\":\"aGk=\"}"),
        ]
        .prop_map(Value::from),
        proptest::collection::vec(any::<u8>(), 0..24).prop_map(Value::Bytes),
        Just(Value::Bytes((0..=255u8).collect())),
    ]
}

fn valid_name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => proptest::collection::vec(0x20u8..0x7f, 1..10)
            .prop_map(|b| String::from_utf8(b).unwrap_or_default())
            .prop_filter("no `$` first", |s| !s.starts_with('$') && !s.is_empty()),
        1 => Just("_nested".to_owned()),
        1 => Just("a".repeat(MAX_NAME)),
        1 => Just("x$ .~".to_owned()),
    ]
}

fn invalid_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("$x".to_owned()),
        Just("$integer".to_owned()),
        Just("$bytes".to_owned()),
        Just("é".to_owned()),
        Just("a\nb".to_owned()),
        Just("nul\u{0}".to_owned()),
        Just("del\u{7f}".to_owned()),
        Just("a".repeat(MAX_NAME + 1)),
        any::<char>()
            .prop_filter("not printable ASCII", |c| !(' '..='~').contains(c))
            .prop_map(|c| format!("k{c}")),
    ]
}

/// A field name: mostly valid, sometimes not.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![30 => valid_name(), 1 => invalid_name()]
}

/// A top-level field name: also, sometimes, a system-looking one.
fn top_name() -> impl Strategy<Value = String> {
    prop_oneof![
        40 => valid_name().prop_filter("not `_`", |n| !n.starts_with('_')),
        1 => invalid_name(),
        1 => Just("_x".to_owned()),
    ]
}

fn tree() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(5, 48, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec((name(), inner), 0..5)
                .prop_map(|fields| Value::Object(fields.into_iter().collect())),
        ]
    })
}

/// `n` arrays nested around `inner`.
fn nest(n: usize, inner: Value) -> Value {
    (0..n).fold(inner, |v, _| Value::Array(vec![v]))
}

/// A field value at a limit, one under it, or one over it: nesting (counted in a
/// document, which is one level itself), array length, number of fields, name length.
fn edge() -> impl Strategy<Value = Value> {
    (0..4usize, -1i64..=1, leaf()).prop_map(|(kind, delta, leaf)| {
        let at = |limit: usize| (limit as i64 + delta) as usize;
        match kind {
            0 => nest(at(MAX_DEPTH - 1), leaf),
            1 => Value::Array(vec![leaf; at(MAX_ARRAY)]),
            2 => Value::Object(
                (0..at(MAX_FIELDS))
                    .map(|i| (format!("f{i}"), leaf.clone()))
                    .collect(),
            ),
            _ => {
                let mut o = Object::new();
                o.insert("a".repeat(at(MAX_NAME)), leaf);
                Value::Object(o)
            }
        }
    })
}

/// Bytes that make the document exactly at, one under or one over the size limit.
fn sized(fields: &Object, delta: i64) -> Value {
    let used = size_of(&Value::Object(fields.clone())) + "big".len() + 1 + 2;
    let want = (MAX_DOCUMENT as i64 + delta) as usize;
    Value::Bytes(vec![0xA5; want.saturating_sub(used)])
}

fn document() -> impl Strategy<Value = Object> {
    (
        proptest::collection::vec((top_name(), tree()), 0..5),
        prop::option::weighted(0.15, edge()),
        prop::option::weighted(0.05, -1i64..=1),
    )
        .prop_map(|(fields, edge, size)| {
            let mut fields: Object = fields.into_iter().collect();
            if let Some(edge) = edge {
                fields.insert("edge".to_owned(), edge);
            }
            if let Some(delta) = size {
                fields.shift_remove("big");
                let big = sized(&fields, delta);
                fields.insert("big".to_owned(), big);
            }
            fields
        })
}

#[derive(Debug, Clone)]
enum Op {
    Insert(Object),
    /// Replace the `n % len`-th document.
    Replace(usize, Object),
    /// Patch the `n % len`-th document: set these, unset those.
    Patch(usize, Object, Vec<String>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => document().prop_map(Op::Insert),
        1 => (any::<usize>(), document()).prop_map(|(n, d)| Op::Replace(n, d)),
        2 => (
            any::<usize>(),
            document(),
            proptest::collection::vec(top_name(), 0..2)
        )
            .prop_map(|(n, d, u)| Op::Patch(n, d, u)),
    ]
}

// ---------------------------------------------------------------------------------------
// Running operations against an engine, with a model of what it holds.

fn block_on<T>(f: impl Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f)
}

/// Exact equality: `Value`'s `Eq` compares floats by bits (`total_cmp`) and objects as
/// ordered lists, so types, NaN payloads, `-0.0` and key order all count.
fn same(a: &Object, b: &Object) -> bool {
    Value::Object(a.clone()) == Value::Object(b.clone())
}

fn check_refusal(err: &Error) -> Result<(), TestCaseError> {
    let refused = match err {
        Error::Db(e) => matches!(
            e,
            convoke::db::DbError::Value(_) | convoke::db::DbError::SystemField { .. }
        ),
        _ => false,
    };
    prop_assert!(refused, "refused with an unexpected error: {err}");
    Ok(())
}

/// How many operations were accepted and refused: each property must see both.
#[derive(Default)]
struct Seen {
    accepted: usize,
    refused: usize,
    ops: usize,
}

/// Runs one operation and checks it against the model.
async fn apply(
    rt: &Runtime,
    model: &mut Vec<(Id<Thing>, Object)>,
    seen: &mut Seen,
    op: Op,
) -> Result<(), TestCaseError> {
    let before = model.clone();
    let target = |n: usize| (!model.is_empty()).then(|| n % model.len());
    // The model's index of the document written, if there is one (`None`: a refused
    // insert, checked by comparing the whole store).
    let mut touched = None;
    let (expected, outcome) = match op {
        Op::Insert(fields) => {
            let ok = document_ok(&fields);
            let result = rt.mutation(things::insert, Thing(fields.clone())).await;
            if let Ok((id, _)) = &result {
                model.push((*id, fields.clone()));
                touched = Some(model.len() - 1);
            }
            (ok.then_some(fields), result.map(|(_, back)| back))
        }
        Op::Replace(n, fields) => {
            let Some(i) = target(n) else { return Ok(()) };
            touched = Some(i);
            let ok = document_ok(&fields);
            let result = rt
                .mutation(things::replace, (model[i].0, Thing(fields.clone())))
                .await;
            if result.is_ok() {
                model[i].1 = fields.clone();
            }
            (ok.then_some(fields), result)
        }
        Op::Patch(n, set, unset) => {
            let Some(i) = target(n) else { return Ok(()) };
            touched = Some(i);
            let mut merged = model[i].1.clone();
            for name in &unset {
                merged.shift_remove(name);
            }
            for (k, v) in &set {
                merged.insert(k.clone(), v.clone());
            }
            let ok =
                document_ok(&merged) && !unset.iter().any(|n| n == "_id" || n == "_creationTime");
            let result = rt
                .mutation(things::patch, (model[i].0, Thing(set), unset))
                .await;
            if result.is_ok() {
                model[i].1 = merged.clone();
            }
            (ok.then_some(merged), result)
        }
    };
    match (expected, outcome) {
        (Some(expected), Ok(back)) => {
            seen.accepted += 1;
            prop_assert!(
                same(&back.0, &expected),
                "read back in the transaction differs"
            );
        }
        (Some(_), Err(e)) => prop_assert!(false, "a valid document was refused: {e}"),
        (None, Ok(_)) => prop_assert!(false, "an invalid document was accepted"),
        (None, Err(e)) => {
            seen.refused += 1;
            check_refusal(&e)?;
            prop_assert_eq!(model.len(), before.len());
        }
    }
    // After commit: the document written (or not) reads back as the model says; the
    // whole store is compared every 16 operations and at the end (comparing it after each
    // would make a long run quadratic).
    if let Some((id, doc)) = touched.and_then(|i| model.get(i)) {
        let back = rt
            .query(things::get, *id)
            .await
            .map_err(|e| TestCaseError::fail(format!("get: {e}")))?;
        prop_assert!(
            back.is_some_and(|b| same(&b.0, doc)),
            "document {} differs after commit",
            id
        );
    }
    seen.ops += 1;
    if touched.is_none() || seen.ops.is_multiple_of(16) {
        check_store(rt, model).await?;
    }
    Ok(())
}

async fn check_store(rt: &Runtime, model: &[(Id<Thing>, Object)]) -> Result<(), TestCaseError> {
    let all = rt
        .query(things::all, ())
        .await
        .map_err(|e| TestCaseError::fail(format!("read all: {e}")))?;
    prop_assert_eq!(all.len(), model.len(), "document count");
    for ((id, doc), (mid, mdoc)) in all.iter().zip(model) {
        prop_assert_eq!(id, mid);
        prop_assert!(same(&doc.0, mdoc), "document {} differs after commit", id);
    }
    Ok(())
}

/// Runs the write property on `engine`, then reopens it (durable engines) and compares.
fn writes_round_trip(engine: Engine) {
    let model = RefCell::new(Vec::new());
    let seen = RefCell::new(Seen::default());
    {
        let rt = engine.runtime();
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        runner(false)
            .run(&proptest::collection::vec(op(), 1..4), |ops| {
                let mut m = model.take();
                let mut n = seen.take();
                let result = tokio.block_on(async {
                    for op in ops {
                        apply(&rt, &mut m, &mut n, op).await?;
                    }
                    Ok(())
                });
                model.replace(m);
                seen.replace(n);
                result
            })
            .unwrap_or_else(|e| panic!("{}: {e}", engine.name()));
        tokio
            .block_on(check_store(&rt, &model.borrow()))
            .unwrap_or_else(|e| panic!("{}: at the end: {e}", engine.name()));
    }
    let seen = seen.borrow();
    assert!(
        seen.accepted > 0 && seen.refused > 0,
        "{}: {} accepted, {} refused: the cases test too little",
        engine.name(),
        seen.accepted,
        seen.refused
    );
    if engine.is_durable() {
        let rt = engine.runtime();
        let model = model.borrow();
        block_on(check_store(&rt, &model))
            .unwrap_or_else(|e| panic!("{}: after reopening: {e}", engine.name()));
    }
}

#[test]
fn writes_round_trip_in_memory() {
    writes_round_trip(Engine::Memory);
}

#[test]
fn writes_round_trip_on_sqlite_and_after_reopening() {
    writes_round_trip(Engine::Sqlite(support::TempDir::new("props")));
}

#[test]
fn writes_round_trip_on_postgres_and_after_reopening() {
    let test = "writes_round_trip_on_postgres_and_after_reopening";
    if !support::postgres::available(test) {
        return;
    }
    let schema = support::postgres::fresh_schema("convoke_props");
    writes_round_trip(Engine::Postgres(support::postgres::DropSchema(schema)));
}

// ---------------------------------------------------------------------------------------
// The wire.

fn any_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => tree(),
        1 => edge(),
        1 => document().prop_map(Value::Object),
    ]
}

/// Every value the check accepts goes through the Convex JSON encoding (as text) and back
/// exactly; the check and the model agree.
#[test]
fn convex_json_round_trips_every_accepted_value() {
    runner(true)
        .run(&any_value(), |v| {
            let accepted = value::check_value(&v, value::MAX_ARGUMENTS_SIZE).is_ok();
            prop_assert_eq!(accepted, value_ok(&v), "the check and the model disagree");
            if accepted {
                let text = serde_json::to_string(&value::to_convex_json(&v))
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                let json: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let back = value::from_convex_json(json)
                    .map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
                prop_assert!(back == v, "{text}");
            }
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
}

mod echo {
    use convoke::value::{self, Value};
    use convoke::{QueryCtx, Result, procedure};
    convoke::module!(echo);

    /// The arguments as received, in the Convex JSON encoding (a string keeps it exact
    /// through the clean JSON of `rt.run`'s result).
    #[procedure(query)]
    pub async fn echo(_ctx: &QueryCtx<'_>, args: Value) -> Result<String> {
        Ok(value::to_convex_json(&args).to_string())
    }
}

/// By-name arguments through `rt.run`: an accepted value reaches the procedure exactly; a
/// refused one never does (it is refused as invalid arguments, or decodes to another
/// value: the wire encoding of a refused value is ambiguous, which is why it is refused).
#[test]
fn by_name_arguments_arrive_exactly() {
    let rt = Runtime::in_memory().expect("runtime");
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runner(true)
        .run(&any_value(), |v| {
            tokio.block_on(async {
                let result = rt.run("echo:echo", value::to_convex_json(&v)).await;
                let received = match &result {
                    Ok(serde_json::Value::String(text)) => {
                        let json = serde_json::from_str(text)
                            .map_err(|e| TestCaseError::fail(e.to_string()))?;
                        Some(
                            value::from_convex_json(json)
                                .map_err(|e| TestCaseError::fail(e.to_string()))?,
                        )
                    }
                    Ok(other) => return Err(TestCaseError::fail(format!("echo: {other}"))),
                    Err(e) => {
                        prop_assert!(e.is_invalid_arguments(), "{e}");
                        None
                    }
                };
                if value_ok(&v) {
                    prop_assert!(received.as_ref() == Some(&v), "{:?}", result.err());
                } else {
                    prop_assert!(received.as_ref() != Some(&v), "a refused value arrived");
                }
                Ok(())
            })
        })
        .unwrap_or_else(|e| panic!("{e}"));
}
