//! Commit notifications between the processes that share a database: each batch of commits
//! sends `pg_notify` on the schema's channel, in its own transaction (so it is delivered if
//! and only if the batch commits), naming the tables written and the store that wrote them;
//! every store listens on a connection of its own and hands other stores' notifications to
//! the runtime's subscriptions ([`Storage::foreign_commits`](crate::store::Storage::foreign_commits)).
//! Commits made before the connection listens (when it first starts, or while it is lost)
//! may be missed: once it listens, the store reports [`ForeignCommit::Unknown`], and
//! everything is checked again.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;

use super::connect::Connector;
use crate::store::ForeignCommit;

/// The statement a batch sends: `pg_notify(channel, payload)`.
pub(super) const NOTIFY: &str = "SELECT pg_notify($1, $2)";

/// Payloads over this many bytes say "anything" instead (PostgreSQL's limit is 8,000).
const MAX_PAYLOAD: usize = 7_000;

/// The channel of the schema (an identifier: no quoting issues, at most 63 bytes).
pub(super) fn channel(schema: &str) -> String {
    let channel = format!("convoke_commits_{schema}");
    if channel.len() <= 63 {
        return channel;
    }
    // A long schema name: a stable hash of it instead (FNV-1a).
    let hash = schema.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("convoke_commits_{hash:016x}")
}

/// `"<origin>:<table>,<table>"`, or `"<origin>:*"` when the list is too long.
pub(super) fn payload<'a>(origin: u64, tables: impl IntoIterator<Item = &'a str>) -> String {
    let tables: BTreeSet<&str> = tables.into_iter().collect();
    let list = tables.into_iter().collect::<Vec<_>>().join(",");
    if list.len() > MAX_PAYLOAD {
        format!("{origin}:*")
    } else {
        format!("{origin}:{list}")
    }
}

/// What a payload says, unless it came from `own` (this store) or is not ours.
pub(super) fn parse(payload: &str, own: u64) -> Option<ForeignCommit> {
    let (origin, tables) = payload.split_once(':')?;
    let origin: u64 = origin.parse().ok()?;
    if origin == own {
        return None;
    }
    Some(match tables {
        "*" => ForeignCommit::Unknown,
        tables => ForeignCommit::Tables(
            tables
                .split(',')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
    })
}

/// Listens on `channel` until nobody receives from `sender`, reconnecting after a lost
/// connection (and then reporting [`ForeignCommit::Unknown`]).
pub(super) async fn listen(
    connector: Connector,
    pg_config: tokio_postgres::Config,
    channel: String,
    origin: u64,
    sender: broadcast::Sender<ForeignCommit>,
    listening: Arc<AtomicBool>,
) {
    /// Marks the listener stopped however this returns: the next receiver starts another.
    struct Stopped(Arc<AtomicBool>);
    impl Drop for Stopped {
        fn drop(&mut self) {
            self.0.store(false, Ordering::SeqCst);
        }
    }
    let _stopped = Stopped(listening);
    let mut first = true;
    while sender.receiver_count() > 0 {
        let forward = sender.clone();
        let connected = connector
            .connect_listening(&pg_config, move |n| {
                if let Some(commit) = parse(n.payload(), origin) {
                    let _ = forward.send(commit);
                }
            })
            .await;
        if let Ok((client, mut task)) = connected
            && client
                .batch_execute(&format!("LISTEN \"{channel}\""))
                .await
                .is_ok()
        {
            // Commits made before this connection listened (since the first receiver
            // subscribed, or while the connection was lost) were not heard.
            let _ = sender.send(ForeignCommit::Unknown);
            if !first {
                tracing::info!(target: "convoke::postgres", "listening to commit notifications again");
            }
            first = false;
            loop {
                tokio::select! {
                    _ = &mut task => break,
                    () = tokio::time::sleep(Duration::from_secs(1)) => {
                        if sender.receiver_count() == 0 {
                            return;
                        }
                    }
                }
            }
            tracing::warn!(target: "convoke::postgres", "the commit notifications' connection was lost: reconnecting");
        } else {
            first = false;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads() {
        let p = payload(7, ["b", "a", "b"]);
        assert_eq!(p, "7:a,b");
        assert_eq!(parse(&p, 7), None);
        assert_eq!(
            parse(&p, 8),
            Some(ForeignCommit::Tables(vec!["a".into(), "b".into()]))
        );
        let long: Vec<String> = (0..2000).map(|i| format!("table{i}")).collect();
        let p = payload(1, long.iter().map(String::as_str));
        assert_eq!(parse(&p, 2), Some(ForeignCommit::Unknown));
        assert_eq!(parse("garbage", 2), None);
        assert_eq!(parse("x:a", 2), None);
        assert!(channel(&"s".repeat(100)).len() <= 63);
        assert_eq!(channel("convoke"), "convoke_commits_convoke");
    }
}
