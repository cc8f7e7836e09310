//! The HTTP API on the PostgreSQL engine: `/api/query_ts` and `/api/query_at_ts` hold a
//! database transaction as the snapshot, and release it. Needs the test server (see
//! `tests/support/postgres.rs`); without it, it does not run.

#[path = "http_support/app.rs"]
mod app;
mod http_support;
#[path = "support/postgres.rs"]
mod postgres;

use std::time::Duration;

use convoke::Runtime;
use convoke::http::Server;
use http_support::*;
use serde_json::{Value as Json, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consistent_queries_read_one_postgres_snapshot() {
    if !postgres::available("consistent_queries_read_one_postgres_snapshot") {
        return;
    }
    let schema = postgres::fresh_schema("http_snapshots");
    let _drop = postgres::DropSchema(schema.clone());
    let mut config = postgres::config(&schema);
    config.max_connections = 4;
    let runtime = Runtime::builder()
        .storage(convoke::store::PostgresStore::with_config(config).expect("store"))
        .build()
        .expect("runtime");
    let retention = Duration::from_millis(800);
    let server = Server::builder(runtime)
        .snapshot_retention(retention)
        .max_snapshots(2)
        .build()
        .await
        .expect("server")
        .spawn("127.0.0.1:0")
        .await
        .expect("bind");
    let add = async |text: &str| {
        let body = json!({ "path": "app:add_note", "args": { "text": text } });
        let r = post(&server, "/api/mutation", body, None).await;
        assert_eq!(r.status, 200, "{r:?}");
    };
    let at = async |ts: &Json| {
        let body = json!({ "path": "app:list_notes", "args": [{}], "ts": ts });
        post(&server, "/api/query_at_ts", body, None).await
    };
    add("before").await;
    let ts = post_raw(&server, "/api/query_ts", "", None).await.body["ts"].clone();
    // Committed after /api/query_ts, before the first query at its snapshot.
    add("after").await;
    let r = at(&ts).await;
    assert_eq!(r.body["value"], json!(["before"]), "{r:?}");
    let (a, b) = tokio::join!(at(&ts), at(&ts));
    assert_eq!(a.body["value"], json!(["before"]), "{a:?}");
    assert_eq!(b.body["value"], json!(["before"]), "{b:?}");

    // More snapshots than the pool has connections: with at most 2 held, the oldest are
    // released first, and the other requests still find connections.
    for _ in 0..12 {
        let r = post_raw(&server, "/api/query_ts", "", None).await;
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(
            at(&r.body["ts"]).await.body["value"],
            json!(["before", "after"])
        );
    }
    add("later").await;
    // Expired snapshots give their connections back.
    tokio::time::sleep(retention + Duration::from_millis(1500)).await;
    assert_client_error(&at(&ts).await, 400, "no longer available");
    for text in ["a", "b", "c", "d", "e"] {
        add(text).await;
    }
    let r = post(
        &server,
        "/api/query",
        json!({ "path": "app:list_notes", "args": {} }),
        None,
    )
    .await;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(8), "{r:?}");
    server.shutdown().await.unwrap();
}
