//! Results shared by identical subscriptions: sockets that subscribe to the same query
//! (path, arguments, identity, and the journal they started from) share one entry, so one
//! commit re-runs that query once, whatever the number of sockets.
//!
//! An entry holds the last result and the registration of its read set under a forwarding
//! [`Listener`]: an invalidation marks the entry stale and is passed on to every socket that
//! shares it. The first socket whose round finds the entry stale runs the query again (the
//! others wait for it, then take its result); an entry nobody shares any more is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::subscription::{Listener, Registration};

/// What identifies a shared result.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    pub(crate) path: String,
    /// The arguments' Convex JSON text.
    pub(crate) args: String,
    /// The identity's token identifier (`None`: anonymous).
    pub(crate) identity: Option<String>,
    /// The journal the subscription started from.
    pub(crate) journal: Option<String>,
}

/// A query's result, as every socket sends it.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// `(success, value or message, errorData)`.
    pub(crate) answer: (bool, serde_json::Value, Option<serde_json::Value>),
    pub(crate) log_lines: Vec<String>,
    pub(crate) journal: Option<String>,
}

/// One shared entry.
pub(crate) struct Cached {
    pub(crate) listener: Arc<Listener>,
    /// The last result, with the listener's generation when its run started: current while
    /// the generation is the same. Read without waiting by every socket that shares it.
    result: Mutex<Option<(Arc<Outcome>, u64)>>,
    /// The registration of the last run's read set.
    registration: Mutex<Option<Registration>>,
    /// Held by the socket that runs the query, so that one runs it for all.
    pub(crate) running: tokio::sync::Mutex<()>,
}

impl Cached {
    /// The result, if it is current.
    pub(crate) fn current(&self) -> Option<Arc<Outcome>> {
        let result = self.result.lock().unwrap_or_else(PoisonError::into_inner);
        match &*result {
            Some((outcome, generation)) if *generation == self.listener.generation() => {
                Some(outcome.clone())
            }
            _ => None,
        }
    }

    /// The last result, current or not (its journal continues the pagination).
    pub(crate) fn last(&self) -> Option<Arc<Outcome>> {
        self.result
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(|(outcome, _)| outcome.clone())
    }

    /// Stores a run's result: `generation` is the listener's when the run started.
    pub(crate) fn store(&self, outcome: Arc<Outcome>, generation: u64, registration: Registration) {
        *self
            .registration
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(registration);
        *self.result.lock().unwrap_or_else(PoisonError::into_inner) = Some((outcome, generation));
    }
}

/// The entries of one server.
#[derive(Default)]
pub(crate) struct QueryCache {
    entries: Mutex<HashMap<CacheKey, Arc<Cached>>>,
}

impl std::fmt::Debug for QueryCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryCache")
            .field("entries", &self.len())
            .finish()
    }
}

/// One socket's share of an entry; dropping it leaves the entry.
pub(crate) struct Share {
    cache: Arc<QueryCache>,
    key: CacheKey,
    pub(crate) cached: Arc<Cached>,
    owner: Arc<Listener>,
    owner_key: u64,
}

impl QueryCache {
    /// How many entries there are.
    pub(crate) fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Joins the entry of `key` (made if there is none): its invalidations mark
    /// `owner_key` on `owner`.
    pub(crate) fn join(
        self: &Arc<Self>,
        key: CacheKey,
        owner: &Arc<Listener>,
        owner_key: u64,
    ) -> Share {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = entries
            .entry(key.clone())
            .or_insert_with(|| {
                Arc::new(Cached {
                    listener: Listener::new(),
                    result: Mutex::new(None),
                    registration: Mutex::new(None),
                    running: tokio::sync::Mutex::new(()),
                })
            })
            .clone();
        // Under the lock: a share that leaves cannot drop the entry in between.
        cached.listener.forward_to(owner, owner_key);
        drop(entries);
        Share {
            cache: self.clone(),
            key,
            cached,
            owner: owner.clone(),
            owner_key,
        }
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let mut entries = self
            .cache
            .entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let left = self
            .cached
            .listener
            .stop_forwarding(&self.owner, self.owner_key);
        if left == 0
            && entries
                .get(&self.key)
                .is_some_and(|c| Arc::ptr_eq(c, &self.cached))
        {
            entries.remove(&self.key);
        }
    }
}
