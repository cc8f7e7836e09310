//! The Convex HTTP API over loopback, with raw HTTP: endpoints, formats, values on the
//! wire, errors, log lines, limits, bad input, CORS, timeouts and shutdown.

#[path = "http_support/app.rs"]
mod app;
mod http_support;

use std::time::Duration;

use http_support::*;
use serde_json::{Value as Json, json};

fn int64(n: i64) -> Json {
    use base64::Engine as _;
    json!({ "$integer": base64::engine::general_purpose::STANDARD.encode(n.to_le_bytes()) })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_mutation_action_in_both_formats() {
    let server = spawn().await;

    // The official client's shape: args as a one-element array, encoded format.
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:add", "args": [{ "a": 2, "b": 3 }], "format": "convex_encoded_json" }),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({ "status": "success", "value": int64(5), "logLines": [] })
    );

    // The Nuxt helpers' shape: a bare args object, no format (clean JSON).
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:add", "args": { "a": 2, "b": 3 } }),
        None,
    )
    .await;
    assert_eq!(
        r.body,
        json!({ "status": "success", "value": 5, "logLines": [] })
    );
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:add", "args": { "a": 2, "b": 3 }, "format": "json" }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], 5);

    let r = post(
        &server,
        "/api/mutation",
        json!({ "path": "app:add_note", "args": { "text": "hello" } }),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["value"], "notes:1");
    assert_eq!(r.body["logLines"], json!(["[LOG] 'adding hello'"]));

    let r = post(
        &server,
        "/api/action",
        json!({ "path": "app:add_and_count", "args": { "text": "again" } }),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["value"], 2);
    // The action's lines and those of the mutation it called, in order.
    assert_eq!(
        r.body["logLines"],
        json!([
            "[LOG] 'action start'",
            "[LOG] 'adding again'",
            "[INFO] '2 notes'"
        ])
    );

    // GET /api/query with args as a JSON query parameter.
    let url = format!(
        "{}/api/query?path=app:list_notes&args=%7B%7D&format=json",
        server.url()
    );
    let r = reply(reqwest::get(url).await.unwrap()).await;
    assert_eq!(r.body["value"], json!(["hello", "again"]));

    // POST /api/run/{module}/{fn} and /api/function: any kind.
    let r = post(
        &server,
        "/api/run/app/shout",
        json!({ "args": { "text": "hey" } }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], "HEY", "{r:?}");
    let r = post(
        &server,
        "/api/function",
        json!({ "path": "app:list_notes", "args": {} }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], json!(["hello", "again"]));
    // A Convex-style module path with an extension.
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app.js:add", "args": { "a": 1, "b": 1 } }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], 2);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_round_trip_in_convex_encoding() {
    let server = spawn().await;
    let big = (1_i64 << 53) + 1;
    let r = post(&server, "/api/query", json!({ "path": "app:next_int", "args": [{ "n": int64(big) }], "format": "convex_encoded_json" }), None).await;
    assert_eq!(r.body["value"], int64(big + 1), "{r:?}");
    let r = post(&server, "/api/query", json!({ "path": "app:next_int", "args": [{ "n": int64(i64::MAX) }], "format": "convex_encoded_json" }), None).await;
    assert_eq!(r.body["value"], int64(i64::MIN));

    // Bytes, special floats and nesting, through `echo`.
    let value = json!({
        "bytes": { "$bytes": "AAEC/w==" },
        "nan": { "$float": "AAAAAAAA+H8=" },
        "inf": { "$float": "AAAAAAAA8H8=" },
        "negzero": { "$float": "AAAAAAAAAIA=" },
        "n": 1.5,
        "list": [null, true, "s", { "$integer": "BwAAAAAAAAA=" }],
        "_system": "underscore names are fine",
    });
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:echo", "args": [value.clone()], "format": "convex_encoded_json" }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], value, "{r:?}");
    let r = post(&server, "/api/query", json!({ "path": "app:reverse_bytes", "args": { "data": { "$bytes": "AQID" } }, "format": "convex_encoded_json" }), None).await;
    assert_eq!(r.body["value"], json!({ "$bytes": "AwIB" }));

    // Clean JSON: integers as numbers, bytes as base64, non-finite floats as strings.
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:echo", "args": [value] }),
        None,
    )
    .await;
    assert_eq!(r.body["value"]["bytes"], "AAEC/w==");
    assert_eq!(r.body["value"]["nan"], "NaN");
    assert_eq!(r.body["value"]["list"][3], 7);

    // Field names: `$` is reserved.
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:echo", "args": { "$where": 1 } }),
        None,
    )
    .await;
    assert_client_error(&r, 400, "invalid arguments");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_carry_data_and_internals_are_redacted() {
    let server = spawn().await;
    let r = post(&server, "/api/mutation", json!({ "path": "app:join_team", "args": [{ "n": { "$integer": "CgAAAAAAAAA=" } }], "format": "convex_encoded_json" }), None).await;
    assert_eq!(r.status, 560, "{r:?}");
    assert_eq!(r.body["status"], "error");
    assert_eq!(r.body["errorMessage"], "team is full");
    assert_eq!(
        r.body["errorData"],
        json!({ "max": int64(10), "code": "TEAM_FULL" })
    );
    assert_eq!(r.body["logLines"], json!([]));

    // A user error without data carries its message as data, like `new ConvexError(msg)`.
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:refuse", "args": {} }),
        None,
    )
    .await;
    assert_eq!((r.status, &r.body["errorData"]), (560, &json!("not today")));

    // Internal errors: redacted in production...
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:crash", "args": {} }),
        None,
    )
    .await;
    assert_eq!(r.status, 560);
    assert_eq!(r.body["errorMessage"], "Server Error");
    assert!(r.body.get("errorData").is_none());
    server.shutdown().await.unwrap();

    // ...and spelled out in development mode.
    let dev = spawn_with(|b| b.development(true)).await;
    let r = post(
        &dev,
        "/api/query",
        json!({ "path": "app:crash", "args": {} }),
        None,
    )
    .await;
    assert_eq!(r.status, 560);
    let message = r.body["errorMessage"].as_str().unwrap();
    assert!(message.contains("secret internals"), "{message}");
    dev.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_and_unknown_procedures_are_not_found() {
    let server = spawn().await;
    for (endpoint, path) in [
        ("/api/query", "app:secret"),
        ("/api/mutation", "app:secret_write"),
        ("/api/action", "app:secret_action"),
        ("/api/function", "app:secret"),
        ("/api/query", "app:nope"),
        ("/api/query", "nope"),
    ] {
        let r = post(&server, endpoint, json!({ "path": path, "args": {} }), None).await;
        let expected = format!("Could not find public function for '{path}");
        assert_client_error(&r, 404, &expected);
        assert_eq!(r.body["code"], "FunctionNotFound");
    }
    let r = post(&server, "/api/run/app/secret", json!({ "args": {} }), None).await;
    assert_client_error(&r, 404, "Could not find public function for 'app:secret'");

    // A known function through the wrong endpoint.
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:add_note", "args": { "text": "x" } }),
        None,
    )
    .await;
    assert_client_error(
        &r,
        400,
        "'app:add_note' is a mutation, but was called as a query",
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_a_clear_4xx_and_the_server_keeps_serving() {
    let server = spawn_with(|b| b.auth(auth_config()).body_limit(64 * 1024)).await;
    let nested = |depth: usize| format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "/api/query",
            "{\"path\": \"app:add\", ".into(),
            400,
            "not valid JSON",
        ),
        ("/api/query", "".into(), 400, "empty"),
        ("/api/query", "[1,2]".into(), 400, "must be a JSON object"),
        (
            "/api/query",
            json!({ "args": {} }).to_string(),
            400,
            "no \"path\"",
        ),
        (
            "/api/query",
            json!({ "path": 7 }).to_string(),
            400,
            "\"path\" must be a string",
        ),
        (
            "/api/query",
            json!({ "path": "app:add", "args": { "a": "two", "b": 3 } }).to_string(),
            400,
            "invalid arguments for 'app:add'",
        ),
        (
            "/api/query",
            json!({ "path": "app:add", "args": { "a": 2 } }).to_string(),
            400,
            "missing field `b`",
        ),
        (
            "/api/query",
            json!({ "path": "app:add", "args": [{}, {}] }).to_string(),
            400,
            "exactly one",
        ),
        (
            "/api/query",
            json!({ "path": "app:add", "args": {}, "format": "yaml" }).to_string(),
            400,
            "unknown value format",
        ),
        (
            "/api/query",
            json!({ "path": "app:echo", "args": { "x": { "$integer": "nope" } } }).to_string(),
            400,
            "invalid arguments",
        ),
        (
            "/api/query",
            format!("{{\"path\": \"app:echo\", \"args\": [{}]}}", nested(70)),
            400,
            "nested too deeply",
        ),
        (
            "/api/query",
            format!("{{\"path\": \"app:echo\", \"args\": [{}]}}", nested(5000)),
            400,
            "not valid JSON",
        ),
        (
            "/api/query",
            json!({ "path": "app:echo", "args": { "blob": "x".repeat(100 * 1024) } }).to_string(),
            413,
            "larger than the server's limit of 65536 bytes",
        ),
        (
            "/api/run/app",
            json!({ "args": {} }).to_string(),
            400,
            "must name a module and a function",
        ),
        ("/api/nothing", "{}".into(), 404, "no such endpoint"),
    ];
    for (endpoint, body, status, needle) in cases {
        let r = post_raw(&server, endpoint, body, None).await;
        assert_client_error(&r, status, needle);
    }

    // Bad tokens.
    let expired = {
        let mut c = claims("ada");
        c["exp"] = json!(now() - 60);
        rs256("rsa1", &c)
    };
    for (token, needle) in [
        ("not-a-jwt", "not a valid JWT"),
        (expired.as_str(), "has expired"),
    ] {
        let r = post(
            &server,
            "/api/query",
            json!({ "path": "app:whoami", "args": {} }),
            Some(token),
        )
        .await;
        assert_client_error(&r, 401, needle);
    }
    let r = reply(
        reqwest::Client::new()
            .post(format!("{}/api/query", server.url()))
            .header("authorization", "Basic YWRhOnB3")
            .body(json!({ "path": "app:whoami", "args": {} }).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_client_error(&r, 401, "expected `Bearer <token>`");

    // Wrong method.
    let r = reply(
        reqwest::get(format!("{}/api/mutation", server.url()))
            .await
            .unwrap(),
    )
    .await;
    assert_client_error(&r, 405, "method not allowed");
    // GET without a path, and with bad args.
    let r = reply(
        reqwest::get(format!("{}/api/query", server.url()))
            .await
            .unwrap(),
    )
    .await;
    assert_client_error(&r, 400, "missing the `path`");
    let r = reply(
        reqwest::get(format!("{}/api/query?path=app:add&args=%7Bx", server.url()))
            .await
            .unwrap(),
    )
    .await;
    assert_client_error(&r, 400, "not valid JSON");

    // Still serving, and a value nested 60 deep (inside the limit of 64) is fine both ways.
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:add", "args": { "a": 1, "b": 1 } }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], 2);
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:deep", "args": { "n": 60 } }),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_are_capped() {
    let server = spawn().await;
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:chatty", "args": { "n": 300 } }),
        None,
    )
    .await;
    let lines = r.body["logLines"].as_array().unwrap();
    assert_eq!(lines.len(), 257);
    assert_eq!(lines[0], "[LOG] 'line 0'");
    assert!(lines[256].as_str().unwrap().contains("Log overflow"));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dates_in_the_crpc_tagged_form_are_understood_both_ways() {
    let server = spawn().await;
    // What a TypeScript cRPC client sends for `new Date(1700000000000)`.
    let event = json!({ "name": "launch", "at": { "__crpc": 1, "t": "$date", "v": 1_700_000_000_000_i64 } });
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:next_day", "args": [event], "format": "convex_encoded_json" }),
        None,
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body["value"]["at"],
        json!({ "__crpc": 1.0, "t": "$date", "v": 1_700_086_400_000.0 })
    );
    // Plain JSON clients may send an RFC 3339 string or milliseconds.
    for at in [json!("2023-11-14T22:13:20Z"), json!(1_700_000_000_000_i64)] {
        let r = post(
            &server,
            "/api/query",
            json!({ "path": "app:next_day", "args": { "name": "x", "at": at } }),
            None,
        )
        .await;
        assert_eq!(r.body["value"]["at"]["v"], 1_700_086_400_000.0, "{r:?}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_and_origin_lists() {
    let server = spawn().await;
    let response = reqwest::Client::new()
        .request(
            reqwest::Method::OPTIONS,
            format!("{}/api/query", server.url()),
        )
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type,authorization",
        )
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert_eq!(
        headers["access-control-allow-headers"],
        "content-type,authorization"
    );
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );

    // A cross-origin call gets the header; a server-to-server call (no Origin) does not.
    let call = |origin: Option<&'static str>, url: String| async move {
        let mut request = reqwest::Client::new()
            .post(url)
            .body(json!({ "path": "app:add", "args": { "a": 1, "b": 2 } }).to_string());
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let url = format!("{}/api/query", server.url());
    assert_eq!(
        call(Some("https://app.example.com"), url.clone())
            .await
            .as_deref(),
        Some("*")
    );
    assert_eq!(call(None, url).await, None);
    server.shutdown().await.unwrap();

    let server =
        spawn_with(|b| b.cors(convoke::http::Cors::origins(["https://app.example.com"]).unwrap()))
            .await;
    let url = format!("{}/api/query", server.url());
    assert_eq!(
        call(Some("https://app.example.com"), url.clone())
            .await
            .as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(
        call(Some("https://evil.example.com"), url.clone()).await,
        None
    );
    server.shutdown().await.unwrap();

    let server = spawn_with(|b| b.cors(convoke::http::Cors::disabled())).await;
    let url = format!("{}/api/query", server.url());
    assert_eq!(call(Some("https://app.example.com"), url).await, None);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_requests_time_out_and_shutdown_is_graceful() {
    let server = spawn_with(|b| b.request_timeout(Duration::from_millis(300))).await;
    let r = post(
        &server,
        "/api/action",
        json!({ "path": "app:slow", "args": { "n": 2000 } }),
        None,
    )
    .await;
    assert_client_error(&r, 408, "took longer than the server's limit");
    server.shutdown().await.unwrap();

    // A request in flight when shutdown starts still gets its answer.
    let server = spawn().await;
    let url = server.url();
    let started = app::SLOW_STARTED.load(std::sync::atomic::Ordering::SeqCst);
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("{url}/api/action"))
            .body(json!({ "path": "app:slow", "args": { "n": 300 } }).to_string())
            .send()
            .await
    });
    // Wait until the server is running the call, then shut down.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while app::SLOW_STARTED.load(std::sync::atomic::Ordering::SeqCst) == started {
        assert!(
            std::time::Instant::now() < deadline,
            "the slow call never started"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let url = server.url();
    server.shutdown().await.unwrap();
    let r = reply(in_flight.await.unwrap().unwrap()).await;
    assert_eq!(r.body["value"], "done", "{r:?}");
    // And then nothing listens.
    assert!(reqwest::get(format!("{url}/api/query")).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_are_refused_where_strings_and_ids_are_expected() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let server = spawn().await;
    // `{"$bytes": "aGk="}` is the bytes of "hi": not a string, as for Convex's v.string().
    let r = post(
        &server,
        "/api/mutation",
        json!({ "path": "app:add_note", "args": { "text": { "$bytes": b64("hi") } } }),
        None,
    )
    .await;
    assert_client_error(&r, 400, "invalid type: byte array, expected a string");
    // Nor an id, as for v.id().
    let r = post(
        &server,
        "/api/mutation",
        json!({ "path": "app:add_note", "args": { "text": "hi" } }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], "notes:1", "{r:?}");
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:get_note", "args": { "id": { "$bytes": b64("notes:1") } } }),
        None,
    )
    .await;
    assert_client_error(&r, 400, "invalid type: byte array");
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:get_note", "args": { "id": "notes:1" } }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], "hi", "{r:?}");
    // Nothing was written by the refused call.
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:list_notes", "args": {} }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], json!(["hi"]));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_at_a_snapshot_of_query_ts_see_it_until_it_expires() {
    let retention = Duration::from_millis(600);
    let server = spawn_with(|b| b.snapshot_retention(retention)).await;
    let add = |text: &'static str| {
        let server = &server;
        async move {
            let r = post(
                server,
                "/api/mutation",
                json!({ "path": "app:add_note", "args": { "text": text } }),
                None,
            )
            .await;
            assert_eq!(r.status, 200, "{r:?}");
        }
    };
    let at = |ts: Json, path: &'static str| {
        let server = &server;
        async move {
            post(
                server,
                "/api/query_at_ts",
                json!({ "path": path, "args": [{}], "format": "convex_encoded_json", "ts": ts }),
                None,
            )
            .await
        }
    };
    add("before").await;
    // The official client posts no body and reads `ts`.
    let r = post_raw(&server, "/api/query_ts", "", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    let ts = r.body["ts"].clone();
    assert!(ts.is_string(), "{r:?}");
    add("after").await;

    let r = at(ts.clone(), "app:list_notes").await;
    assert_eq!(
        r.body,
        json!({ "status": "success", "value": ["before"], "logLines": [] })
    );
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:list_notes", "args": {} }),
        None,
    )
    .await;
    assert_eq!(r.body["value"], json!(["before", "after"]));
    // Again, and from several requests at once: the same snapshot.
    let (a, b) = tokio::join!(
        at(ts.clone(), "app:list_notes"),
        at(ts.clone(), "app:list_notes")
    );
    assert_eq!(a.body["value"], json!(["before"]), "{a:?}");
    assert_eq!(b.body["value"], json!(["before"]), "{b:?}");
    // A new snapshot sees both.
    let r = post_raw(&server, "/api/query_ts", "", None).await;
    assert_ne!(r.body["ts"], ts);
    let r = at(r.body["ts"].clone(), "app:list_notes").await;
    assert_eq!(r.body["value"], json!(["before", "after"]));

    // Only public queries, and a clear error for a `ts` that is not one.
    assert_client_error(&at(ts.clone(), "app:add_note").await, 400, "is a mutation");
    assert_client_error(&at(ts.clone(), "app:secret").await, 404, "Could not find");
    assert_client_error(
        &at(json!("nope"), "app:list_notes").await,
        400,
        "must be a timestamp",
    );
    assert_client_error(
        &at(json!(7), "app:list_notes").await,
        400,
        "must be a timestamp",
    );
    let r = post(
        &server,
        "/api/query_at_ts",
        json!({ "path": "app:list_notes", "args": {} }),
        None,
    )
    .await;
    assert_client_error(&r, 400, "no \"ts\"");
    // A token that was never handed out.
    assert_client_error(
        &at(json!("/////////38="), "app:list_notes").await,
        400,
        "no longer available",
    );

    // Once the retention is over, the snapshot is gone.
    tokio::time::sleep(retention + Duration::from_millis(300)).await;
    let r = at(ts, "app:list_notes").await;
    assert_client_error(&r, 400, "no longer available");
    assert_eq!(r.body["code"], "SnapshotExpired");
    server.shutdown().await.unwrap();

    // At most `max_snapshots` at once: a new one releases the oldest.
    let server = spawn_with(|b| b.max_snapshots(1)).await;
    let first = post_raw(&server, "/api/query_ts", "", None).await.body["ts"].clone();
    let second = post_raw(&server, "/api/query_ts", "", None).await.body["ts"].clone();
    let at = |ts: Json| {
        let server = &server;
        async move {
            let body = json!({ "path": "app:list_notes", "args": {}, "ts": ts });
            post(server, "/api/query_at_ts", body, None).await
        }
    };
    assert_client_error(&at(first).await, 400, "at most 1 at once");
    assert_eq!(at(second).await.status, 200);
    server.shutdown().await.unwrap();
}

/// Sends `request` on a raw connection and reads until the server closes it.
async fn raw_exchange(server: &convoke::http::RunningServer, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.local_addr())
        .await
        .unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("the server closes the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_framing_gets_a_bare_400_and_the_connection_is_closed() {
    // hyper answers requests it cannot frame itself, before any handler runs: a 400 with
    // an empty body, then it closes the connection (README, "HTTP").
    let server = spawn().await;
    for request in [
        &b"POST /api/query HTTP/1.1\r\nhost: x\r\ncontent-length: abc\r\n\r\n{}"[..],
        b"GARBAGE\r\n\r\n",
        b"POST /api/query HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\n{}",
    ] {
        let response = raw_exchange(&server, request).await;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        assert!(head.starts_with("HTTP/1.1 400 Bad Request"), "{response:?}");
        assert!(
            head.to_ascii_lowercase().contains("content-length: 0"),
            "{response:?}"
        );
        assert_eq!(body, "", "{response:?}");
    }
    // Framed requests on a raw connection get the JSON answers.
    let response = raw_exchange(
        &server,
        b"POST /api/query HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 5\r\n\r\n{bad}",
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 400"), "{response:?}");
    assert!(
        response.contains("\"code\":\"BadJsonBody\""),
        "{response:?}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_over_the_limit_gets_its_413_after_the_whole_upload() {
    // A client that writes its whole body before it reads (as Node's `fetch` does) must
    // read the 413, not a reset connection.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = spawn_with(|b| b.body_limit(64 * 1024)).await;
    let body = vec![b'x'; 4 << 20];
    for declared in [true, false, true, false, true, false, true, false] {
        let mut stream = tokio::net::TcpStream::connect(server.local_addr())
            .await
            .unwrap();
        let head = if declared {
            format!(
                "POST /api/query HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
        } else {
            "POST /api/query HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n".to_owned()
        };
        stream.write_all(head.as_bytes()).await.unwrap();
        for chunk in body.chunks(64 * 1024) {
            if declared {
                stream
                    .write_all(chunk)
                    .await
                    .expect("the upload goes through");
            } else {
                let framed = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
                stream
                    .write_all(&framed)
                    .await
                    .expect("the upload goes through");
            }
        }
        if !declared {
            stream.write_all(b"0\r\n\r\n").await.unwrap();
        }
        let mut response = vec![0; 4096];
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut response))
            .await
            .expect("an answer")
            .expect("the answer is readable");
        let response = String::from_utf8_lossy(&response[..n]);
        assert!(response.starts_with("HTTP/1.1 413"), "{response:?}");
    }
    server.shutdown().await.unwrap();
}
