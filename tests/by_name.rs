//! Calling procedures by path (`Runtime::run`, `Runtime::run_value`), as the HTTP layer and
//! the scheduler do, and the registry of paths (`convoke::procedures()`).

use convoke::value::{self, Object, Value};
use convoke::{Error, ProcedureInfo, ProcedureKind, Result, Runtime, Table, Visibility};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "entries")]
pub struct Entry {
    pub name: String,
}

mod byname {
    use super::*;
    use convoke::{ActionCtx, MutationCtx, QueryCtx, procedure};

    convoke::module!(byname);

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Typed {
        pub name: String,
        pub count: i64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct Nested {
        pub id: i64,
        pub ratio: f64,
        pub flags: Vec<bool>,
        pub inner: Option<Box<Nested>>,
        pub tags: std::collections::BTreeMap<String, Vec<i64>>,
    }

    #[procedure(query)]
    pub async fn no_args(_ctx: &QueryCtx<'_>) -> Result<String> {
        Ok("no arguments needed".into())
    }

    #[procedure(query)]
    pub async fn typed(_ctx: &QueryCtx<'_>, args: Typed) -> Result<String> {
        Ok(format!("{} x{}", args.name, args.count))
    }

    #[procedure(query)]
    pub async fn echo_i64(_ctx: &QueryCtx<'_>, n: i64) -> Result<i64> {
        Ok(n)
    }

    /// Returns `n` and `n + 1` as a pair, to check the output encoding of large integers.
    #[procedure(query)]
    pub async fn succ_i64(_ctx: &QueryCtx<'_>, n: i64) -> Result<(i64, i64)> {
        Ok((n, n.wrapping_add(1)))
    }

    #[procedure(query)]
    pub async fn echo_nested(_ctx: &QueryCtx<'_>, args: Nested) -> Result<Nested> {
        Ok(args)
    }

    #[procedure(query)]
    pub async fn echo_value(_ctx: &QueryCtx<'_>, v: Value) -> Result<Value> {
        Ok(v)
    }

    #[procedure(mutation)]
    pub async fn add_entry(ctx: &MutationCtx<'_>, name: String) -> Result<usize> {
        ctx.db().insert(&Entry { name }).await?;
        Ok(ctx.db().query::<Entry>().collect().await?.len())
    }

    #[procedure(query)]
    pub async fn entries(ctx: &QueryCtx<'_>) -> Result<Vec<String>> {
        let all = ctx.db().query::<Entry>().collect().await?;
        Ok(all.into_iter().map(|e| e.into_inner().name).collect())
    }

    #[procedure(action)]
    pub async fn shout(_ctx: &ActionCtx, text: String) -> Result<String> {
        Ok(text.to_uppercase())
    }

    #[procedure(query)]
    pub async fn fails(_ctx: &QueryCtx<'_>) -> Result<()> {
        Err(Error::user_with_data(
            "team is full",
            json!({ "max": 10, "members": ["ada", "charles"], "nested": { "ok": false } }),
        )?)
    }

    #[procedure(mutation)]
    pub async fn fails_in_mutation(ctx: &MutationCtx<'_>, name: String) -> Result<()> {
        ctx.db().insert(&Entry { name }).await?;
        Err(Error::user_with_data("mutation refused", 42_i64)?)
    }

    #[procedure(action)]
    pub async fn fails_in_action(_ctx: &ActionCtx) -> Result<()> {
        Err(Error::user("action refused"))
    }

    #[procedure(query, internal)]
    pub async fn secret(_ctx: &QueryCtx<'_>) -> Result<String> {
        Ok("internal but reachable".into())
    }

    #[procedure(mutation, internal)]
    pub async fn secret_mutation(ctx: &MutationCtx<'_>) -> Result<usize> {
        ctx.db()
            .insert(&Entry {
                name: "secret".into(),
            })
            .await?;
        Ok(1)
    }

    #[procedure(query, name = "getThing")]
    pub async fn get_thing(_ctx: &QueryCtx<'_>) -> Result<String> {
        Ok("renamed".into())
    }

    /// A renamed procedure is still called by its Rust name through the caller.
    #[procedure(query)]
    pub async fn calls_renamed(ctx: &QueryCtx<'_>) -> Result<String> {
        create_byname_caller(ctx).get_thing().await
    }
}

/// `items/queries:get`: a nested module.
mod items {
    pub mod queries {
        use convoke::{QueryCtx, Result, procedure};

        convoke::module!(queries);

        #[procedure(query)]
        pub async fn get(_ctx: &QueryCtx<'_>) -> Result<String> {
            Ok("an item".into())
        }

        #[procedure(action, internal, name = "refreshAll")]
        pub async fn refresh_all(_ctx: &convoke::ActionCtx) -> Result<()> {
            Ok(())
        }
    }
}

fn int_json(n: i64) -> serde_json::Value {
    value::to_convex_json(&Value::Int64(n))
}

// ---------------------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_paths_are_reported() -> Result<()> {
    let rt = Runtime::in_memory()?;
    for path in [
        "byname:nope",
        "nomodule:no_args",
        "byname",
        "",
        "byname:no_args ",
        "BYNAME:no_args",
        "items:get",
        "queries:get",
        "items.queries:get",
        "byname:get_thing",
    ] {
        let err = rt.run(path, json!({})).await.unwrap_err();
        assert!(err.is_unknown_procedure(), "{path:?}: {err:?}");
        assert!(
            matches!(&err, Error::UnknownProcedure { path: p } if p == path),
            "{err:?}"
        );
        let err = rt
            .run_value(Some(ProcedureKind::Query), path, Value::Null)
            .await
            .unwrap_err();
        assert!(err.is_unknown_procedure(), "{path:?}: {err:?}");
    }
    assert_eq!(
        rt.run("byname:nope", json!({}))
            .await
            .unwrap_err()
            .to_string(),
        "Could not find function for 'byname:nope'"
    );
    Ok(())
}

#[tokio::test]
async fn nested_modules_and_renames_have_convex_paths() -> Result<()> {
    let rt = Runtime::in_memory()?;
    assert_eq!(
        rt.run("items/queries:get", json!({})).await?,
        json!("an item")
    );
    assert_eq!(
        rt.run("byname:getThing", json!({})).await?,
        json!("renamed")
    );
    assert_eq!(
        rt.run("byname:calls_renamed", json!({})).await?,
        json!("renamed")
    );
    assert_eq!(
        rt.run("items/queries:refreshAll", json!({})).await?,
        json!(null)
    );
    Ok(())
}

#[test]
fn procedures_lists_every_path_sorted() {
    let all = convoke::procedures();
    let paths: Vec<&str> = all.iter().map(|p| p.path).collect();
    let mut sorted = paths.clone();
    sorted.sort_unstable();
    assert_eq!(paths, sorted, "procedures() is sorted by path");
    sorted.dedup();
    assert_eq!(sorted.len(), paths.len(), "paths are unique");

    let info = |path: &str| all.iter().find(|p| p.path == path).copied();
    assert_eq!(
        info("items/queries:get"),
        Some(ProcedureInfo {
            path: "items/queries:get",
            kind: ProcedureKind::Query,
            visibility: Visibility::Public,
        })
    );
    assert_eq!(
        info("items/queries:refreshAll"),
        Some(ProcedureInfo {
            path: "items/queries:refreshAll",
            kind: ProcedureKind::Action,
            visibility: Visibility::Internal,
        })
    );
    assert_eq!(
        info("byname:getThing").map(|p| (p.kind, p.visibility)),
        Some((ProcedureKind::Query, Visibility::Public))
    );
    assert_eq!(
        info("byname:secret").map(|p| (p.kind, p.visibility)),
        Some((ProcedureKind::Query, Visibility::Internal))
    );
    assert_eq!(
        info("byname:secret_mutation").map(|p| (p.kind, p.visibility)),
        Some((ProcedureKind::Mutation, Visibility::Internal))
    );
    assert_eq!(
        info("byname:add_entry").map(|p| (p.kind, p.visibility)),
        Some((ProcedureKind::Mutation, Visibility::Public))
    );
    assert_eq!(
        info("byname:shout").map(|p| (p.kind, p.visibility)),
        Some((ProcedureKind::Action, Visibility::Public))
    );
    // Renamed procedures are listed under their exported name only.
    assert_eq!(info("byname:get_thing"), None);
    assert_eq!(info("items/queries:refresh_all"), None);
    // Every procedure of this file, and nothing else (each test file is its own program).
    assert_eq!(paths.len(), 18, "{paths:#?}");
    assert!(
        paths
            .iter()
            .all(|p| p.starts_with("byname:") || p.starts_with("items/queries:"))
    );

    // The marker types agree with the registry.
    use convoke::Procedure;
    assert_eq!(items::queries::get::path(), "items/queries:get");
    assert_eq!(
        items::queries::refresh_all::path(),
        "items/queries:refreshAll"
    );
    assert_eq!(<byname::get_thing as Procedure>::NAME, "getThing");
    assert_eq!(byname::get_thing::path(), "byname:getThing");
}

// ---------------------------------------------------------------------------------------
// Arguments
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_arguments_are_invalid_arguments_naming_the_path() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let cases = [
        ("byname:typed", json!({ "name": 5, "count": 1 })),
        ("byname:typed", json!({ "name": "ada" })),
        ("byname:typed", json!({ "name": "ada", "count": 1.5 })),
        ("byname:typed", json!("ada")),
        ("byname:typed", json!([1, 2])),
        ("byname:typed", json!(null)),
        ("byname:echo_i64", json!("12")),
        ("byname:echo_i64", json!(1.5)),
        ("byname:echo_i64", json!({})),
        ("byname:add_entry", json!(17)),
        ("byname:shout", json!({ "text": "hi" })),
        ("items/queries:get", json!([1])),
        // Not valid Convex JSON: bad `$integer` payload, reserved field name.
        ("byname:echo_i64", json!({ "$integer": "not base64!" })),
        ("byname:echo_value", json!({ "$where": 1, "x": 2 })),
    ];
    for (path, args) in cases {
        let err = rt.run(path, args.clone()).await.unwrap_err();
        assert!(err.is_invalid_arguments(), "{path} {args}: {err:?}");
        assert!(
            matches!(&err, Error::InvalidArguments { path: p, .. } if p == path),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("invalid arguments for '{path}': ")),
            "{message}"
        );
    }
    // Nothing ran: the mutation with bad arguments wrote nothing.
    assert!(rt.query(byname::entries, ()).await?.is_empty());

    // The reason says what was wrong.
    let err = rt
        .run("byname:typed", json!({ "name": "ada" }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("count"), "{err}");
    Ok(())
}

#[tokio::test]
async fn empty_object_is_accepted_for_a_procedure_without_arguments() -> Result<()> {
    let rt = Runtime::in_memory()?;
    assert_eq!(
        rt.run("byname:no_args", json!({})).await?,
        json!("no arguments needed")
    );
    assert_eq!(
        rt.run("byname:no_args", json!(null)).await?,
        json!("no arguments needed")
    );
    assert_eq!(
        rt.run_value(None, "byname:no_args", Value::Object(Object::new()))
            .await?,
        Value::String("no arguments needed".into())
    );
    // Through every kind of procedure.
    assert_eq!(rt.run("byname:secret_mutation", json!({})).await?, json!(1));
    assert_eq!(
        rt.run("byname:fails_in_action", json!({}))
            .await
            .unwrap_err()
            .to_string(),
        "action refused"
    );
    Ok(())
}

#[tokio::test]
async fn typed_arguments_and_kinds_by_name() -> Result<()> {
    let rt = Runtime::in_memory()?;
    assert_eq!(
        rt.run("byname:typed", json!({ "name": "ada", "count": 3 }))
            .await?,
        json!("ada x3")
    );
    assert_eq!(rt.run("byname:add_entry", json!("first")).await?, json!(1));
    assert_eq!(rt.run("byname:add_entry", json!("second")).await?, json!(2));
    assert_eq!(
        rt.run("byname:entries", json!({})).await?,
        json!(["first", "second"])
    );
    assert_eq!(rt.run("byname:shout", json!("hi")).await?, json!("HI"));
    Ok(())
}

#[tokio::test]
async fn run_value_with_the_wrong_kind_is_refused_without_running() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let arg = Value::String("should not be written".into());
    for kind in [ProcedureKind::Query, ProcedureKind::Action] {
        let err = rt
            .run_value(Some(kind), "byname:add_entry", arg.clone())
            .await
            .unwrap_err();
        assert!(err.is_wrong_kind(), "{err:?}");
        assert!(
            matches!(&err, Error::WrongKind { path, expected, actual: ProcedureKind::Mutation }
                if path == "byname:add_entry" && *expected == kind),
            "{err:?}"
        );
    }
    assert_eq!(
        rt.run_value(Some(ProcedureKind::Mutation), "byname:no_args", Value::Null)
            .await
            .unwrap_err()
            .to_string(),
        "'byname:no_args' is a query, but was called as a mutation"
    );
    assert!(
        rt.run_value(Some(ProcedureKind::Query), "byname:shout", Value::Null)
            .await
            .unwrap_err()
            .is_wrong_kind()
    );
    assert!(rt.query(byname::entries, ()).await?.is_empty());

    // The right kind runs.
    assert_eq!(
        rt.run_value(Some(ProcedureKind::Mutation), "byname:add_entry", arg)
            .await?,
        Value::Int64(1)
    );
    assert_eq!(
        rt.run_value(
            Some(ProcedureKind::Action),
            "byname:shout",
            Value::String("x".into())
        )
        .await?,
        Value::String("X".into())
    );
    assert_eq!(
        rt.run_value(Some(ProcedureKind::Query), "byname:no_args", Value::Null)
            .await?,
        Value::String("no arguments needed".into())
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Errors and values
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn user_errors_keep_their_message_and_data() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let expected = json!({ "max": 10, "members": ["ada", "charles"], "nested": { "ok": false } });

    let by_name = rt.run("byname:fails", json!({})).await.unwrap_err();
    let typed = rt.query(byname::fails, ()).await.unwrap_err();
    for err in [&by_name, &typed] {
        assert!(err.is_user(), "{err:?}");
        assert_eq!(err.to_string(), "team is full");
        let data = err.data().expect("error data");
        assert_eq!(value::to_clean_json(data), expected);
        assert_eq!(data.get("max"), Some(&Value::Int64(10)));
    }

    let err = rt
        .run("byname:fails_in_mutation", json!("x"))
        .await
        .unwrap_err();
    assert!(err.is_user());
    assert_eq!(err.to_string(), "mutation refused");
    assert_eq!(err.data(), Some(&Value::Int64(42)));
    assert!(rt.query(byname::entries, ()).await?.is_empty());

    let err = rt
        .run("byname:fails_in_action", json!({}))
        .await
        .unwrap_err();
    assert!(err.is_user());
    assert_eq!(err.data(), None);
    Ok(())
}

#[tokio::test]
async fn internal_procedures_are_reachable_in_process() -> Result<()> {
    let rt = Runtime::in_memory()?;
    assert_eq!(
        rt.run("byname:secret", json!({})).await?,
        json!("internal but reachable")
    );
    assert_eq!(rt.run("byname:secret_mutation", json!({})).await?, json!(1));
    assert_eq!(
        rt.query(byname::secret, ()).await?,
        "internal but reachable"
    );
    assert_eq!(rt.mutation(byname::secret_mutation, ()).await?, 1);
    assert_eq!(rt.query(byname::entries, ()).await?, ["secret", "secret"]);
    Ok(())
}

#[tokio::test]
async fn int64_round_trips_exactly() -> Result<()> {
    let rt = Runtime::in_memory()?;
    for n in [0, 1, -1, i64::MAX, i64::MIN, (1 << 53) + 1, -(1 << 53) - 1] {
        // Convex's `$integer` encoding in, a plain JSON number out (exact, not via f64).
        let out = rt.run("byname:echo_i64", int_json(n)).await?;
        assert_eq!(out.as_i64(), Some(n), "{n}: {out}");
        // Values in, values out.
        assert_eq!(
            rt.run_value(None, "byname:echo_i64", Value::Int64(n))
                .await?,
            Value::Int64(n)
        );
    }
    // A JSON number that is an exact integer is accepted for an i64 argument.
    assert_eq!(rt.run("byname:echo_i64", json!(42)).await?, json!(42));
    // Output integers are Int64 values, not floats.
    assert_eq!(
        rt.run_value(None, "byname:succ_i64", Value::Int64(i64::MAX - 1))
            .await?,
        Value::Array(vec![Value::Int64(i64::MAX - 1), Value::Int64(i64::MAX)])
    );
    Ok(())
}

#[tokio::test]
async fn nested_values_round_trip() -> Result<()> {
    let rt = Runtime::in_memory()?;
    let nested = byname::Nested {
        id: i64::MIN,
        ratio: 0.25,
        flags: vec![true, false],
        inner: Some(Box::new(byname::Nested {
            id: 7,
            ratio: -1.5,
            flags: vec![],
            inner: None,
            tags: [("a".to_owned(), vec![1, 2, 3])].into_iter().collect(),
        })),
        tags: Default::default(),
    };
    // Typed.
    assert_eq!(rt.query(byname::echo_nested, nested.clone()).await?, nested);
    // As values, losslessly.
    let as_value = value::to_value(&nested)?;
    let back = rt
        .run_value(None, "byname:echo_nested", as_value.clone())
        .await?;
    assert_eq!(back, as_value);
    assert_eq!(value::from_value::<byname::Nested>(back)?, nested);
    // As Convex JSON in, clean JSON out.
    let out = rt
        .run("byname:echo_nested", value::to_convex_json(&as_value))
        .await?;
    assert_eq!(
        out,
        json!({
            "id": i64::MIN,
            "ratio": 0.25,
            "flags": [true, false],
            "inner": {
                "id": 7,
                "ratio": -1.5,
                "flags": [],
                "inner": null,
                "tags": { "a": [1, 2, 3] }
            },
            "tags": {}
        })
    );

    // Any value through a `Value` argument, including bytes and special floats.
    let mut object = Object::new();
    object.insert("int".into(), Value::Int64(-5));
    object.insert("float".into(), Value::Float64(f64::INFINITY));
    object.insert("negzero".into(), Value::Float64(-0.0));
    object.insert("bytes".into(), Value::Bytes(vec![0, 1, 255]));
    object.insert(
        "list".into(),
        Value::Array(vec![
            Value::Null,
            Value::Boolean(true),
            Value::String("s".into()),
        ]),
    );
    let any = Value::Object(object);
    let back = rt.run_value(None, "byname:echo_value", any.clone()).await?;
    assert_eq!(back, any);
    match back.get("negzero") {
        Some(Value::Float64(z)) => assert!(z.is_sign_negative()),
        other => panic!("expected -0.0, got {other:?}"),
    }
    let out = rt
        .run("byname:echo_value", value::to_convex_json(&any))
        .await?;
    assert_eq!(
        out,
        json!({
            "int": -5,
            "float": "Infinity",
            "negzero": -0.0,
            "bytes": "AAH/",
            "list": [null, true, "s"]
        })
    );
    Ok(())
}
