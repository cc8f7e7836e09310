//! The sync endpoint under a client that does not read: its send queue stays bounded, the
//! server ends its session after the send timeout (1013 `SlowConsumer` if the client reads
//! again in time to see it, else the connection is dropped), and other sockets are served.

#[path = "http_support/app.rs"]
mod app;
mod http_support;

use std::time::Duration;

use convoke::Runtime;
use convoke::http::{Server, SyncConfig};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

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
    // Sent from a task of its own: the server stops reading them once it cannot write.
    let (slow, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let (mut slow_tx, mut slow_rx) = slow.split();
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
        Ok::<_, tokio_tungstenite::tungstenite::Error>(slow_tx)
    });

    // The slow socket reads nothing for a while; another socket is served meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
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

    // Reading now, long after the send timeout: what was written before, then the end of
    // the connection (the server dropped it), never more than was queued.
    let mut received = 0usize;
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(message) = slow_rx.next().await {
            match message {
                Ok(Message::Close(frame)) => return Some(frame),
                Ok(message) => received += message.len(),
                Err(_) => return None,
            }
        }
        None
    })
    .await
    .expect("the slow socket's connection ends");
    if let Some(Some(frame)) = &ended {
        assert_eq!(frame.code, CloseCode::Again, "{frame:?}");
        assert!(frame.reason.contains("SlowConsumer"), "{frame:?}");
    }
    assert!(
        received < 32 << 20,
        "the slow socket got {received} bytes: all of it was buffered for it"
    );
    // The sending side ends too (its connection is gone or its frames were read).
    let _ = tokio::time::timeout(Duration::from_secs(10), sender)
        .await
        .expect("the slow client's sends end");
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
