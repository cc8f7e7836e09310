//! The system table `_session_requests`: the outcome of each mutation a client sent over
//! the sync protocol, by `(session id, request id)`, written in the mutation's own
//! transaction, so that a mutation re-sent after a reconnect runs at most once (its
//! recorded result is returned instead). Records expire after a retention the server sets.

use crate::db::{DbError, IndexRange, TableDefinition, Transaction};
use crate::store::{Order, fields_size};
use crate::value::{MAX_VALUE_SIZE, Object, Value};

/// The system table of recorded mutation outcomes.
pub(crate) const SESSION_REQUESTS: &str = "_session_requests";
/// Its index by request: `["session_id", "request_id"]`.
const BY_REQUEST: &str = "by_request";
/// Its index by expiry: `["expires_at"]`.
const BY_EXPIRY: &str = "by_expiry";

inventory::submit! {
    TableDefinition {
        name: SESSION_REQUESTS,
        indexes: &[
            (BY_REQUEST, &["session_id", "request_id"]),
            (BY_EXPIRY, &["expires_at"]),
        ],
    }
}

/// The documents of `range` on `index`, in order, at most `limit`.
async fn scan(
    tx: &Transaction,
    index: &str,
    range: IndexRange,
    limit: usize,
) -> Result<Vec<std::sync::Arc<crate::store::Document>>, DbError> {
    let range = super::index_range(tx, SESSION_REQUESTS, index, range)?;
    let found = tx
        .scan(SESSION_REQUESTS, index, range, Order::Asc, Some(limit))
        .await?;
    Ok(found.into_iter().map(|(_, doc)| doc).collect())
}

/// The recorded result of request `request` of session `session`, if there is one that has
/// not expired at `now_ms`.
pub(crate) async fn find(
    tx: &Transaction,
    session: &str,
    request: u32,
    now_ms: f64,
) -> Result<Option<Value>, DbError> {
    let key = IndexRange::default()
        .eq("session_id", session)
        .eq("request_id", i64::from(request));
    let found = scan(tx, BY_REQUEST, key, 1).await?;
    Ok(found.into_iter().next().and_then(|doc| {
        let live = matches!(doc.fields.get("expires_at"), Some(Value::Float64(at)) if *at > now_ms);
        live.then(|| doc.fields.get("result").cloned().unwrap_or(Value::Null))
    }))
}

/// Records `result` for the request, until `expires_at_ms`. A result too large to record
/// (over the document limit) is not recorded: that request may run again if re-sent.
pub(crate) async fn record(
    tx: &Transaction,
    session: &str,
    request: u32,
    result: &Value,
    expires_at_ms: f64,
) -> Result<(), DbError> {
    let mut fields = Object::with_capacity(4);
    fields.insert("session_id".to_owned(), Value::String(session.to_owned()));
    fields.insert("request_id".to_owned(), Value::Int64(i64::from(request)));
    fields.insert("result".to_owned(), result.clone());
    fields.insert("expires_at".to_owned(), Value::Float64(expires_at_ms));
    if fields_size(&fields) > MAX_VALUE_SIZE {
        return Ok(());
    }
    tx.insert(SESSION_REQUESTS, fields).await.map(|_| ())
}

/// Deletes up to `limit` records expired at `now_ms`; how many it deleted.
pub(crate) async fn prune(tx: &Transaction, now_ms: f64, limit: usize) -> Result<usize, DbError> {
    let expired = IndexRange::default().lt("expires_at", now_ms);
    let docs = scan(tx, BY_EXPIRY, expired, limit).await?;
    for doc in &docs {
        tx.delete(&doc.id).await?;
    }
    Ok(docs.len())
}
