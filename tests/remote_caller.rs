//! The server-side caller against a server over loopback: generated module callers on a
//! remote context, the caller factory (token getter, refresh-once, lazy caller),
//! `fetch_*` with verbose logging, and the transformer (dates, custom codecs).

#[path = "http_support/app.rs"]
mod app;
mod http_support;

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use app::{Add, Event, NewNote, Num, create_app_caller};
use convoke::remote::{
    CallerFactory, Codec, FetchOptions, HeaderMap, RemoteCtx, RemoteError, Token, Transformer,
    fetch_action, fetch_mutation, fetch_query,
};
use convoke::value::{Value, ValueError};
use convoke::{Date, Error};
use http_support::*;
use serde_json::json;

fn expired_token(subject: &str) -> String {
    let mut c = claims(subject);
    c["exp"] = json!(now() - 60);
    rs256("rsa1", &c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_callers_work_over_http() -> convoke::Result<()> {
    let server = spawn().await;
    let remote = RemoteCtx::new(&server.url())?;
    let app = create_app_caller(&remote);

    assert_eq!(app.add(Add { a: 2, b: 40 }).await?, 42);
    assert_eq!(app.next_int(Num { n: i64::MAX - 1 }).await?, i64::MAX);
    let id = app
        .add_note(NewNote {
            text: "over http".into(),
        })
        .await?;
    assert_eq!(id.to_string(), "notes:1");
    assert_eq!(
        app.actions()
            .add_and_count(NewNote {
                text: "again".into()
            })
            .await?,
        2
    );
    assert_eq!(app.list_notes().await?, ["over http", "again"]);
    assert_eq!(
        app.actions().shout(NewNote { text: "hi".into() }).await?,
        "HI"
    );

    // Bytes and special floats survive the trip.
    let value: Value = [
        ("data".to_owned(), Value::Bytes(vec![0, 1, 255])),
        ("nan".to_owned(), Value::Float64(f64::NAN)),
        ("neg_zero".to_owned(), Value::Float64(-0.0)),
    ]
    .into_iter()
    .collect();
    assert_eq!(app.echo(value.clone()).await?, value);

    // User errors come back as `Error::User`, with their data.
    let err = app.join_team(Num { n: 10 }).await.unwrap_err();
    assert!(err.is_user(), "{err:?}");
    assert_eq!(err.to_string(), "team is full");
    assert_eq!(
        err.data()
            .and_then(|d| d.get("code"))
            .and_then(Value::as_str),
        Some("TEAM_FULL")
    );
    let err = app.refuse().await.unwrap_err();
    assert!(err.is_user() && err.data().is_none(), "{err:?}");

    // Other failures are HTTP-layer errors; internals stay redacted.
    let err = app.crash().await.unwrap_err();
    assert!(
        RemoteError::of(&err).is_some_and(RemoteError::is_function_failed),
        "{err:?}"
    );
    assert!(err.to_string().contains("Server Error"));

    // Identity: anonymous, then with a token.
    assert_eq!(app.whoami().await?, None);
    let ada = remote.with_auth_token(token("ada"));
    let me = create_app_caller(&ada).whoami().await?.unwrap();
    assert_eq!(me.token_identifier, format!("{ISSUER}|ada"));
    let err = create_app_caller(&remote.with_auth_token("garbage"))
        .whoami()
        .await
        .unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    server.shutdown().await.unwrap();

    // A server that is gone: a transport error, not a panic.
    let err = app.add(Add { a: 1, b: 1 }).await.unwrap_err();
    assert!(
        RemoteError::of(&err).is_some_and(RemoteError::is_transport),
        "{err:?}"
    );
    Ok(())
}

/// A token getter that returns a stale (expired, not fresh) token first, and a valid fresh
/// one when asked to refresh; counts its calls.
fn refreshing_factory(url: &str, calls: Arc<AtomicUsize>, first_is_fresh: bool) -> CallerFactory {
    CallerFactory::new(url)
        .unwrap()
        .get_token(move |headers, options| {
            calls.fetch_add(1, Ordering::SeqCst);
            let user = headers
                .get("x-user")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nobody")
                .to_owned();
            async move {
                if options.force_refresh {
                    Token::fresh(token(&user))
                } else {
                    Token {
                        token: Some(expired_token(&user)),
                        is_fresh: first_is_fresh,
                    }
                }
            }
        })
}

fn headers_for(user: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("x-user", user.parse().unwrap());
    headers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_token_is_refreshed_once_and_reused() -> convoke::Result<()> {
    let server = spawn().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let factory = refreshing_factory(&server.url(), calls.clone(), false);

    let ctx = factory.create_context(&headers_for("ada")).await;
    assert!(ctx.is_authenticated);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stale = ctx.token.clone();

    // 401 with the stale token → one refresh → one retry, which succeeds.
    let me = create_app_caller(&ctx.caller).whoami().await?.unwrap();
    assert_eq!(me.subject, "ada");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_ne!(ctx.caller.token(), stale);

    // Later calls reuse the refreshed token: no more getter calls.
    create_app_caller(&ctx.caller).whoami().await?;
    create_app_caller(&ctx.caller)
        .add(Add { a: 1, b: 1 })
        .await?;
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    // Concurrent calls with a stale token refresh once between them.
    let ctx = factory.create_context(&headers_for("grace")).await;
    let app = create_app_caller(&ctx.caller);
    let (a, b, c) = tokio::join!(app.whoami(), app.whoami(), app.whoami());
    for me in [a?, b?, c?] {
        assert_eq!(me.unwrap().subject, "grace");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4, "one create + one refresh");
    server.shutdown().await.unwrap();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_tokens_and_business_errors_are_never_retried() -> convoke::Result<()> {
    let server = spawn().await;

    // A fresh token the server refuses is not refreshed: the 401 comes back.
    let calls = Arc::new(AtomicUsize::new(0));
    let factory = refreshing_factory(&server.url(), calls.clone(), true);
    let ctx = factory.create_context(&headers_for("ada")).await;
    let err = create_app_caller(&ctx.caller).whoami().await.unwrap_err();
    assert!(err.is_unauthorized(), "{err:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // A business error is never replayed, even with a stale token.
    let calls = Arc::new(AtomicUsize::new(0));
    let factory = CallerFactory::new(&server.url())?.get_token({
        let calls = calls.clone();
        move |_, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Token::cached(token("ada")) }
        }
    });
    let ctx = factory.create_context(&HeaderMap::new()).await;
    let before = app::FAILING_RUNS.load(Ordering::SeqCst);
    let err = create_app_caller(&ctx.caller)
        .count_and_fail()
        .await
        .unwrap_err();
    assert!(err.is_user());
    assert_eq!(app::FAILING_RUNS.load(Ordering::SeqCst), before + 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Unless the predicate says such errors are auth failures: then one refresh and retry.
    let factory = factory.is_unauthorized(|e: &Error| {
        e.is_unauthorized()
            || e.data().and_then(|d| d.get("code")).and_then(Value::as_str) == Some("UNAUTHORIZED")
    });
    let ctx = factory.create_context(&HeaderMap::new()).await;
    let before = app::FAILING_RUNS.load(Ordering::SeqCst);
    assert!(
        create_app_caller(&ctx.caller)
            .count_and_fail()
            .await
            .is_err()
    );
    assert_eq!(app::FAILING_RUNS.load(Ordering::SeqCst), before + 2);
    server.shutdown().await.unwrap();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lazy_caller_creates_its_context_on_first_use() -> convoke::Result<()> {
    let server = spawn().await;
    let calls = Arc::new(AtomicUsize::new(0));
    let factory = CallerFactory::new(&server.url())?.get_token({
        let calls = calls.clone();
        move |headers, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::to_owned);
            async move {
                Token {
                    token,
                    is_fresh: false,
                }
            }
        }
    });
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        format!("Bearer {}", token("ada")).parse().unwrap(),
    );
    let lazy = factory.create_caller(headers);
    assert!(!lazy.is_initialized());
    assert_eq!(calls.load(Ordering::SeqCst), 0);

    let me = create_app_caller(&lazy).whoami().await?.unwrap();
    assert_eq!(me.subject, "ada");
    assert!(lazy.is_initialized() && lazy.context().await.is_authenticated);
    create_app_caller(&lazy).add(Add { a: 1, b: 2 }).await?;
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Without a getter: anonymous.
    let anonymous = CallerFactory::new(&server.url())?
        .create_context(&HeaderMap::new())
        .await;
    assert!(!anonymous.is_authenticated && anonymous.token.is_none());
    server.shutdown().await.unwrap();
    Ok(())
}

/// Records the messages of `tracing` events with target `convoke::remote`.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<String>>>);

struct MessageVisitor<'a>(&'a mut String);

impl tracing::field::Visit for MessageVisitor<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            *self.0 = format!("{value:?}");
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target() == "convoke::remote" {
            let mut message = String::new();
            event.record(&mut MessageVisitor(&mut message));
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {message}", event.metadata().level()));
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn fetch_functions_with_options_and_verbose_logs() -> convoke::Result<()> {
    let capture = Capture::default();
    let _guard = tracing::dispatcher::set_default(&tracing::Dispatch::new(capture.clone()));
    let server = spawn().await;
    let url = server.url();

    // Typed handles.
    let sum = fetch_query(&url, app::add, Add { a: 1, b: 2 }, FetchOptions::default()).await?;
    assert_eq!(sum, 3);
    let id = fetch_mutation(
        &url,
        app::add_note,
        NewNote { text: "n".into() },
        FetchOptions::default(),
    )
    .await?;
    assert_eq!(id.to_string(), "notes:1");
    let n = fetch_action(
        &url,
        app::add_and_count,
        NewNote { text: "m".into() },
        FetchOptions::default(),
    )
    .await?;
    assert_eq!(n, 2);

    // Paths with JSON, and an auth token.
    let options = FetchOptions {
        auth_token: Some(token("ada")),
        verbose: true,
    };
    let me = fetch_query(&url, "app:whoami", json!({}), options.clone()).await?;
    assert_eq!(me["subject"], "ada");
    let notes = fetch_query(
        &url,
        "app:list_notes".to_owned(),
        json!({}),
        FetchOptions::default(),
    )
    .await?;
    assert_eq!(notes, json!(["n", "m"]));

    // Errors: not found for internal procedures (typed ones never leave the process),
    // user errors with data.
    let err = fetch_query(&url, "app:secret", json!({}), options.clone())
        .await
        .unwrap_err();
    assert!(
        RemoteError::of(&err).is_some_and(RemoteError::is_not_found),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("Could not find public function for 'app:secret'")
    );
    let err = fetch_query(&url, app::secret, (), FetchOptions::default())
        .await
        .unwrap_err();
    assert!(
        RemoteError::of(&err).is_some_and(RemoteError::is_not_found),
        "{err:?}"
    );
    let err = fetch_mutation(&url, "app:join_team", json!({ "n": 11 }), options)
        .await
        .unwrap_err();
    assert_eq!(
        err.data()
            .and_then(|d| d.get("max"))
            .and_then(Value::as_i64),
        Some(10)
    );

    let lines = capture.0.lock().unwrap().clone();
    let joined = lines.join("\n");
    assert!(
        joined.contains("INFO [fetchQuery] app:whoami: Starting { args: {}, hasAuth: true }"),
        "{joined}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("INFO [fetchQuery] app:whoami: Success in ")),
        "{joined}"
    );
    assert!(
        lines.iter().any(
            |l| l.starts_with("WARN [fetchQuery] app:secret: Error after ")
                && l.contains("Could not find public function")
        ),
        "{joined}"
    );
    assert!(
        lines.iter().any(
            |l| l.starts_with("WARN [fetchMutation] app:join_team: Error after ")
                && l.contains("team is full")
        ),
        "{joined}"
    );
    // Calls without `verbose` log nothing of their own; the server's log lines are relayed.
    assert!(!joined.contains("app:add:"), "{joined}");
    assert!(joined.contains("[LOG] 'adding n'"), "{joined}");
    server.shutdown().await.unwrap();
    Ok(())
}

/// int64s as `$bigint`-tagged decimal strings, like a TypeScript client with a BigInt codec.
struct BigInt;

impl Codec for BigInt {
    fn tag(&self) -> &str {
        "$bigint"
    }
    fn encode(&self, value: &Value) -> Option<Value> {
        value.as_i64().map(|n| Value::String(n.to_string()))
    }
    fn decode(&self, payload: Value) -> Result<Value, ValueError> {
        let text = payload
            .as_str()
            .ok_or_else(|| ValueError::custom("a $bigint payload is a string"))?;
        text.parse().map(Value::Int64).map_err(ValueError::custom)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_round_trip_and_custom_codecs_compose_with_them() -> convoke::Result<()> {
    // Dates need no configuration anywhere.
    let server = spawn().await;
    let remote = RemoteCtx::new(&server.url())?;
    let at = Date::from_millis(1_700_000_000_000);
    let next = create_app_caller(&remote)
        .next_day(Event {
            name: "launch".into(),
            at,
        })
        .await?;
    assert_eq!(next.at.millis(), at.millis() + 86_400_000);

    // A custom codec on the client only: the server sees the tagged form and refuses it
    // as an int64, which shows the codec ran.
    let transformer = Transformer::new().with_codec(BigInt).unwrap();
    let tagged = remote.with_transformer(transformer.clone());
    let err = create_app_caller(&tagged)
        .add(Add { a: 1, b: 2 })
        .await
        .unwrap_err();
    assert!(
        RemoteError::of(&err).is_some_and(RemoteError::is_bad_request),
        "{err:?}"
    );
    server.shutdown().await.unwrap();

    // The same codec on both ends: int64s travel as `$bigint`, dates as `$date`.
    let server = spawn_with(|b| b.transformer(transformer.clone())).await;
    let factory = CallerFactory::new(&server.url())?.transformer(transformer);
    let ctx = factory.create_context(&HeaderMap::new()).await;
    let app = create_app_caller(&ctx.caller);
    assert_eq!(app.add(Add { a: 1 << 60, b: 1 }).await?, (1 << 60) + 1);
    let next = app
        .next_day(Event {
            name: "x".into(),
            at,
        })
        .await?;
    assert_eq!(next.at.millis(), at.millis() + 86_400_000);
    // On the wire, as a raw client sees it.
    let r = post(&server, "/api/query", json!({ "path": "app:add", "args": { "a": { "__crpc": 1, "t": "$bigint", "v": "5" }, "b": { "__crpc": 1, "t": "$bigint", "v": "6" } } }), None).await;
    assert_eq!(
        r.body["value"],
        json!({ "__crpc": 1.0, "t": "$bigint", "v": "11" }),
        "{r:?}"
    );
    server.shutdown().await.unwrap();
    Ok(())
}
