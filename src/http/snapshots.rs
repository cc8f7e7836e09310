//! The snapshots of `POST /api/query_ts`, read by `POST /api/query_at_ts`
//! (`ConvexHttpClient.consistentQuery`).
//!
//! A snapshot is a read snapshot of the store ([`RetainedSnapshot`]) held open for a
//! bounded time and in a bounded number: every engine can read at a snapshot it keeps open,
//! and none can read at an arbitrary past commit. Clients get an opaque token for it, eight
//! bytes in base64 as Convex writes its timestamps.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::db::RetainedSnapshot;
#[cfg(doc)]
use crate::runtime::Runtime;

/// The open snapshots, oldest first.
pub(crate) struct Snapshots {
    retention: Duration,
    max: usize,
    state: Mutex<State>,
}

struct State {
    next: u64,
    held: VecDeque<Held>,
}

struct Held {
    token: u64,
    expires: Instant,
    snapshot: Arc<RetainedSnapshot>,
}

impl Snapshots {
    /// Holds each snapshot for `retention`, and at most `max` at once. Starts the task
    /// that releases expired snapshots (it ends with the last reference to them).
    pub(crate) fn start(retention: Duration, max: usize) -> Arc<Snapshots> {
        let snapshots = Arc::new(Snapshots {
            retention,
            max,
            state: Mutex::new(State {
                next: 1,
                held: VecDeque::new(),
            }),
        });
        tokio::spawn(release_expired(Arc::downgrade(&snapshots)));
        snapshots
    }

    /// How long a snapshot is held.
    pub(crate) fn retention(&self) -> Duration {
        self.retention
    }

    /// How many snapshots are held at most.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Keeps `snapshot` (from [`Runtime::retain_snapshot`]); its token for
    /// `/api/query_at_ts`. With no room (`max` is 0) the snapshot is not kept, and the
    /// token finds nothing.
    pub(crate) fn hold(&self, snapshot: Arc<RetainedSnapshot>) -> String {
        let now = Instant::now();
        let mut released = self.take_expired(now);
        let token = {
            let mut state = self.lock();
            let token = state.next;
            state.next += 1;
            if self.max > 0 {
                while state.held.len() >= self.max {
                    released.extend(state.held.pop_front());
                }
                state.held.push_back(Held {
                    token,
                    expires: now + self.retention,
                    snapshot,
                });
            }
            token
        };
        // Releasing a snapshot may reach the engine: outside the lock.
        drop(released);
        encode_token(token)
    }

    /// The snapshot of `token`, if it is still held.
    pub(crate) fn get(&self, token: u64) -> Option<Arc<RetainedSnapshot>> {
        let released = self.take_expired(Instant::now());
        let found = self
            .lock()
            .held
            .iter()
            .find(|held| held.token == token)
            .map(|held| held.snapshot.clone());
        drop(released);
        found
    }

    fn take_expired(&self, now: Instant) -> Vec<Held> {
        let mut state = self.lock();
        let mut expired = Vec::new();
        while state.held.front().is_some_and(|held| held.expires <= now) {
            expired.extend(state.held.pop_front());
        }
        expired
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Releases expired snapshots even when no request comes (a PostgreSQL snapshot holds a
/// connection); stops once the server is gone.
async fn release_expired(snapshots: Weak<Snapshots>) {
    let period = match snapshots.upgrade() {
        Some(s) => s
            .retention
            .clamp(Duration::from_millis(10), Duration::from_secs(1)),
        None => return,
    };
    loop {
        tokio::time::sleep(period).await;
        let Some(snapshots) = snapshots.upgrade() else {
            return;
        };
        drop(snapshots.take_expired(Instant::now()));
    }
}

/// A token as Convex writes timestamps: eight bytes, little-endian, in base64.
fn encode_token(token: u64) -> String {
    STANDARD.encode(token.to_le_bytes())
}

/// The token of a `ts` from a client, if it is one.
pub(crate) fn decode_token(ts: &str) -> Option<u64> {
    let bytes = STANDARD.decode(ts).ok()?;
    let bytes: [u8; 8] = bytes.try_into().ok()?;
    Some(u64::from_le_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::Runtime;

    #[test]
    fn tokens_round_trip_and_junk_is_refused() {
        for token in [0, 1, 7, u64::MAX] {
            assert_eq!(decode_token(&encode_token(token)), Some(token));
        }
        assert_eq!(encode_token(1), "AQAAAAAAAAA=");
        for junk in [
            "",
            "nope",
            "AQAAAAAAAA==",
            "AQAAAAAAAAAA",
            "AQAAAAAAAAAAAAA=",
        ] {
            assert_eq!(decode_token(junk), None, "{junk}");
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn snapshots_expire_and_the_oldest_make_room() {
        let rt = Runtime::in_memory().unwrap();
        let snapshots = Snapshots::start(Duration::from_secs(60), 2);
        let mut tokens = Vec::new();
        for _ in 0..3 {
            let snapshot = rt.retain_snapshot().await.unwrap();
            tokens.push(decode_token(&snapshots.hold(snapshot)).unwrap());
        }
        assert!(snapshots.get(tokens[0]).is_none(), "the oldest made room");
        assert!(snapshots.get(tokens[1]).is_some());
        assert!(snapshots.get(tokens[2]).is_some());

        let short = Snapshots::start(Duration::from_millis(20), 4);
        let token = decode_token(&short.hold(rt.retain_snapshot().await.unwrap())).unwrap();
        assert!(short.get(token).is_some());
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert!(short.get(token).is_none(), "expired");
        assert_eq!(short.lock().held.len(), 0);
    }
}
