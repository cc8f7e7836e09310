//! The sync endpoint under a client that does not read: its send queue stays bounded, the
//! server ends its session after the send timeout and drops the connection (the client,
//! which never reads, cannot see the 1013 `SlowConsumer` close), and other sockets are
//! served meanwhile and after.

#[path = "http_support/app.rs"]
mod app;
mod http_support;

use std::time::Duration;

use convoke::Runtime;
use convoke::http::{Server, SyncConfig};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

const CONNECT: &str =
    r#"{"type":"Connect","sessionId":"s","connectionCount":0,"lastCloseReason":"InitialConnect"}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_does_not_read_is_closed_and_others_are_served() {
    let runtime = Runtime::in_memory().unwrap();
    let server = Server::builder(runtime)
        .sync(SyncConfig::default().send_queue(1, Duration::from_millis(300)))
        .build()
        .await
        .unwrap()
        .spawn("127.0.0.1:0")
        .await
        .unwrap();
    let url = format!("ws://{}/api/1.48.0/sync", server.local_addr());

    // 64 queries of 512 KiB results each, 32 MiB in all: more than the socket's buffers.
    // The client never reads; it sends the queries, then a telemetry event every 100 ms
    // until a send fails: the server dropped the connection.
    let (slow, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let (mut slow_tx, _slow_rx) = slow.split();
    let started = std::time::Instant::now();
    let sender = tokio::spawn(async move {
        slow_tx.send(Message::text(CONNECT)).await?;
        let big = "x".repeat(512 << 10);
        for batch in 0..8u32 {
            let modifications: Vec<_> = (0..8u32)
                .map(|i| {
                    json!({"type": "Add", "queryId": batch * 8 + i, "udfPath": "app:echo",
                           "args": [{"text": big, "n": batch * 8 + i}]})
                })
                .collect();
            let modify = json!({"type": "ModifyQuerySet", "baseVersion": batch,
                                "newVersion": batch + 1, "modifications": modifications});
            slow_tx.send(Message::text(modify.to_string())).await?;
        }
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            slow_tx
                .send(Message::text(
                    r#"{"type":"Event","eventType":"Tick","event":null}"#,
                ))
                .await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), tokio_tungstenite::tungstenite::Error>(())
    });

    // Another socket is served meanwhile.
    let (mut other, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    other.send(Message::text(CONNECT)).await.unwrap();
    other
        .send(Message::text(
            r#"{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[{"type":"Add","queryId":0,"udfPath":"app:add","args":[{"a":1,"b":2}]}]}"#,
        ))
        .await
        .unwrap();
    let first = tokio::time::timeout(Duration::from_secs(10), other.next())
        .await
        .expect("the other socket is answered")
        .unwrap()
        .unwrap();
    assert!(
        first.to_text().unwrap().contains("\"Transition\""),
        "{first:?}"
    );

    // The slow client's connection is dropped: its sends fail.
    let sent = tokio::time::timeout(Duration::from_secs(60), sender)
        .await
        .expect("the server drops the connection of a client that does not read")
        .expect("the sending task");
    assert!(sent.is_err(), "the sends ended without an error");
    println!("dropped after {:.2} s", started.elapsed().as_secs_f64());

    // And the server still serves.
    let (mut again, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    again.send(Message::text(CONNECT)).await.unwrap();
    again
        .send(Message::text(
            r#"{"type":"ModifyQuerySet","baseVersion":0,"newVersion":1,"modifications":[]}"#,
        ))
        .await
        .unwrap();
    let t = tokio::time::timeout(Duration::from_secs(10), again.next())
        .await
        .expect("served after the slow socket")
        .unwrap()
        .unwrap();
    assert!(t.to_text().unwrap().contains("\"Transition\""));
    server.shutdown().await.unwrap();
}
