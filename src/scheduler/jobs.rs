//! Reading and writing jobs inside a transaction.

use std::time::UNIX_EPOCH;

use super::{BY_STATE, JobState, SCHEDULED_FUNCTIONS, ScheduledFunctionId};
use crate::caller::ScheduleTime;
use crate::db::{Database, DbError, IndexRange, Transaction};
use crate::store::{Document, DocumentId, KeyRange, Order, Timestamp, fields_size};
use crate::value::{MAX_VALUE_SIZE, Object, Value};

/// Functions one transaction (one mutation, with the mutations it calls) may schedule, as
/// in Convex.
pub const MAX_SCHEDULED_PER_TRANSACTION: usize = 1000;
/// Total size, in bytes, of the arguments of the functions one transaction schedules, as
/// in Convex (8 MiB).
pub const MAX_SCHEDULED_ARGS_BYTES: usize = 8 << 20;

/// When a job scheduled at `now_ms` for `when` is due.
pub(crate) fn due_time(now_ms: f64, when: ScheduleTime) -> f64 {
    match when {
        ScheduleTime::After(delay) => now_ms + delay.as_secs_f64() * 1000.0,
        ScheduleTime::At(time) => match time.duration_since(UNIX_EPOCH) {
            Ok(since) => since.as_secs_f64() * 1000.0,
            Err(_) => 0.0,
        },
    }
}

/// Writes a job in `tx`; it exists once `tx` commits. `canceled` writes it already
/// canceled (what a canceled, still running action schedules).
pub(crate) async fn insert_job(
    tx: &Transaction,
    now_ms: f64,
    path: &str,
    args: Value,
    when: ScheduleTime,
    canceled: bool,
) -> Result<ScheduledFunctionId, DbError> {
    tx.note_scheduled(
        args.size(),
        MAX_SCHEDULED_PER_TRANSACTION,
        MAX_SCHEDULED_ARGS_BYTES,
    )?;
    // The document `ScheduledFunction` serializes to, built without copying the arguments.
    let args_size = args.size();
    let state = if canceled {
        JobState::Canceled
    } else {
        JobState::Pending
    };
    let mut fields = Object::with_capacity(5);
    fields.insert("name".to_owned(), Value::String(path.to_owned()));
    fields.insert("args".to_owned(), args);
    fields.insert(
        "scheduled_time".to_owned(),
        Value::Float64(due_time(now_ms, when)),
    );
    fields.insert(
        "completed_time".to_owned(),
        canceled
            .then_some(now_ms)
            .map_or(Value::Null, Value::Float64),
    );
    fields.insert("state".to_owned(), state_value(&state));
    let size = fields_size(&fields);
    if size > MAX_VALUE_SIZE {
        return Err(DbError::ScheduledArgsTooLarge {
            path: path.to_owned(),
            size: args_size,
            max: MAX_VALUE_SIZE.saturating_sub(size - args_size),
        });
    }
    tx.insert(SCHEDULED_FUNCTIONS, fields).await?.typed()
}

/// The state kind of the job with this id (`"pending"`...), as `tx` sees it, without
/// decoding the rest of the document. `None` if there is no such job.
pub(crate) async fn job_state_kind(
    tx: &Transaction,
    id: &DocumentId,
) -> Result<Option<String>, DbError> {
    Ok(tx.get(id).await?.map(|doc| {
        doc.fields
            .get("state")
            .and_then(Value::as_object)
            .and_then(|state| state.get("kind"))
            .and_then(|kind| match kind {
                Value::String(kind) => Some(kind.clone()),
                _ => None,
            })
            .unwrap_or_default()
    }))
}

/// Whether the job with this id exists and is canceled (what a canceled, still running
/// action schedules is canceled too).
pub(crate) async fn is_canceled(tx: &Transaction, id: &DocumentId) -> Result<bool, DbError> {
    Ok(job_state_kind(tx, id).await?.as_deref() == Some(JobState::Canceled.kind()))
}

/// Moves a job to `state` (setting `completed_time` for finished states).
pub(crate) async fn set_state(
    tx: &Transaction,
    id: &DocumentId,
    state: &JobState,
    now_ms: f64,
) -> Result<(), DbError> {
    let mut fields = Object::new();
    if state.is_finished() {
        fields.insert("completed_time".to_owned(), Value::Float64(now_ms));
    }
    fields.insert("state".to_owned(), state_value(state));
    tx.patch(id, fields, &[]).await
}

/// Moves a job to `in_progress`, recording the runner id of the process running it (with a
/// shared store: see [`Storage::runner_id`](crate::store::Storage::runner_id)).
pub(crate) async fn set_in_progress(
    tx: &Transaction,
    id: &DocumentId,
    runner: Option<i64>,
) -> Result<(), DbError> {
    let mut state = Object::with_capacity(2);
    state.insert(
        "kind".to_owned(),
        Value::String(JobState::InProgress.kind().to_owned()),
    );
    if let Some(runner) = runner {
        state.insert(RUNNER.to_owned(), Value::Int64(runner));
    }
    let mut fields = Object::new();
    fields.insert("state".to_owned(), Value::Object(state));
    tx.patch(id, fields, &[]).await
}

/// The field of an `in_progress` state naming the process running the action.
const RUNNER: &str = "runner";

/// The runner recorded in a job's state, if it is `in_progress`: `Some(None)` if it names
/// none.
fn runner_of(doc: &Document) -> Option<Option<i64>> {
    let state = doc.fields.get("state")?.as_object()?;
    if state.get("kind") != Some(&Value::String(JobState::InProgress.kind().to_owned())) {
        return None;
    }
    Some(match state.get(RUNNER) {
        Some(Value::Int64(runner)) => Some(*runner),
        _ => None,
    })
}

/// Every running action, with the runner recorded for it.
pub(crate) async fn running_actions(
    tx: &Transaction,
) -> Result<Vec<(DocumentId, Option<i64>)>, DbError> {
    let unfinished = IndexRange::default()
        .eq("state.kind", JobState::InProgress.kind())
        .eq("completed_time", Value::Null);
    let range = resolve(tx, BY_STATE, unfinished)?;
    Ok(tx
        .scan(SCHEDULED_FUNCTIONS, BY_STATE, range, Order::Asc, None)
        .await?
        .into_iter()
        .filter_map(|(_, doc)| Some((doc.id.clone(), runner_of(&doc)?)))
        .collect())
}

/// The runner of job `id` if it is a running action (`Some(None)`: it names none).
pub(crate) async fn running_action(
    tx: &Transaction,
    id: &DocumentId,
) -> Result<Option<Option<i64>>, DbError> {
    Ok(tx.get(id).await?.and_then(|doc| runner_of(&doc)))
}

/// A state as stored: `{ "kind": .. }`, with `error` when failed (as serde would write it).
fn state_value(state: &JobState) -> Value {
    let mut object = Object::with_capacity(2);
    object.insert("kind".to_owned(), Value::String(state.kind().to_owned()));
    if let JobState::Failed { error } = state {
        object.insert("error".to_owned(), Value::String(error.clone()));
    }
    Value::Object(object)
}

/// Cancels a job: a pending one never runs; a running action finishes, but what it
/// schedules from then on is canceled. Canceling a finished job changes nothing.
pub(crate) async fn cancel_job(
    tx: &Transaction,
    id: &ScheduledFunctionId,
    now_ms: f64,
) -> Result<(), DbError> {
    let id = id.document_id();
    match job_state_kind(tx, &id).await?.as_deref() {
        None => Err(DbError::NotFound { id: id.to_string() }),
        Some("pending" | "in_progress") => set_state(tx, &id, &JobState::Canceled, now_ms).await,
        Some(_) => Ok(()),
    }
}

fn resolve(tx: &Transaction, index: &str, range: IndexRange) -> Result<KeyRange, DbError> {
    let defs = tx.schema().table(SCHEDULED_FUNCTIONS);
    let Some(fields) = defs.get(index) else {
        return Err(DbError::UnknownIndex {
            table: SCHEDULED_FUNCTIONS.to_owned(),
            index: index.to_owned(),
            available: defs.names(),
        });
    };
    range.resolve(SCHEDULED_FUNCTIONS, index, fields)
}

/// The finished states: jobs in them have a `completed_time`.
const FINISHED: [&str; 3] = ["success", "failed", "canceled"];

/// Finished jobs completed at or before `cutoff` (all if `None`), oldest first in each
/// finished state, at most `limit` per state: their ids and completion times. Also says
/// whether some state had `limit` of them (there may be more).
pub(crate) async fn finished_jobs(
    tx: &Transaction,
    cutoff: Option<f64>,
    limit: usize,
) -> Result<(Vec<(DocumentId, f64)>, bool), DbError> {
    let mut jobs = Vec::new();
    let mut full = false;
    for kind in FINISHED {
        // Finished jobs have a number as `completed_time`, which sorts after `null`.
        let mut range = IndexRange::default()
            .eq("state.kind", kind)
            .gt("completed_time", Value::Null);
        if let Some(cutoff) = cutoff {
            range = range.lte("completed_time", cutoff);
        }
        let range = resolve(tx, BY_STATE, range)?;
        let docs = tx
            .scan(
                SCHEDULED_FUNCTIONS,
                BY_STATE,
                range,
                Order::Asc,
                Some(limit),
            )
            .await?;
        full |= docs.len() >= limit;
        jobs.extend(docs.into_iter().map(|(_, doc)| {
            let completed = match doc.fields.get("completed_time") {
                Some(Value::Float64(t)) => *t,
                Some(Value::Int64(t)) => *t as f64,
                _ => 0.0,
            };
            (doc.id.clone(), completed)
        }));
    }
    Ok((jobs, full))
}

/// A due job, as the worker needs it.
pub(crate) struct DueJob {
    pub(crate) id: DocumentId,
    pub(crate) name: String,
    pub(crate) args: Value,
}

/// What a look at the pending jobs found.
pub(crate) struct Due {
    /// Jobs due, oldest due first, without those skipped.
    pub(crate) jobs: Vec<DueJob>,
    /// Whether `limit` jobs were due: there may be more.
    pub(crate) full: bool,
    /// When the first pending job not due yet is due (only looked up if not `full`).
    pub(crate) next: Option<f64>,
}

/// A snapshot of the store, released when dropped.
struct Snapshot<'d> {
    db: &'d Database,
    ts: Timestamp,
}

impl Drop for Snapshot<'_> {
    fn drop(&mut self) {
        self.db.store.release(self.ts);
    }
}

/// The pending jobs due at `now` (at most `limit`, oldest due first), except those `skip`
/// says (e.g. running already). Reads the store directly, at its latest commit: no
/// transaction, read set or full decode, since the worker only starts the jobs, each of
/// which checks its job again in its own transaction.
pub(crate) async fn due_jobs(
    db: &Database,
    now: f64,
    limit: usize,
    skip: impl Fn(&DocumentId) -> bool,
) -> Result<Due, DbError> {
    let defs = db.schema.table(SCHEDULED_FUNCTIONS);
    let Some(fields) = defs.get(BY_STATE) else {
        return Err(DbError::UnknownIndex {
            table: SCHEDULED_FUNCTIONS.to_owned(),
            index: BY_STATE.to_owned(),
            available: defs.names(),
        });
    };
    let pending = || {
        IndexRange::default()
            .eq("state.kind", JobState::Pending.kind())
            .eq("completed_time", Value::Null)
    };
    let due =
        pending()
            .lte("scheduled_time", now)
            .resolve(SCHEDULED_FUNCTIONS, BY_STATE, fields)?;
    let snapshot = Snapshot {
        db,
        ts: db.store.begin(false),
    };
    let docs = db
        .store
        .scan(
            snapshot.ts,
            SCHEDULED_FUNCTIONS,
            BY_STATE,
            &due,
            Order::Asc,
            Some(limit),
        )
        .await?;
    let full = docs.len() >= limit;
    let jobs = docs
        .iter()
        .filter(|doc| !skip(&doc.id))
        .map(|doc| DueJob {
            id: doc.id.clone(),
            name: match doc.fields.get("name") {
                Some(Value::String(name)) => name.clone(),
                _ => String::new(),
            },
            args: doc.fields.get("args").cloned().unwrap_or(Value::Null),
        })
        .collect();
    let next = if full {
        None
    } else {
        let later =
            pending()
                .gt("scheduled_time", now)
                .resolve(SCHEDULED_FUNCTIONS, BY_STATE, fields)?;
        db.store
            .scan(
                snapshot.ts,
                SCHEDULED_FUNCTIONS,
                BY_STATE,
                &later,
                Order::Asc,
                Some(1),
            )
            .await?
            .first()
            .and_then(|doc| match doc.fields.get("scheduled_time") {
                Some(Value::Float64(t)) => Some(*t),
                Some(Value::Int64(t)) => Some(*t as f64),
                _ => None,
            })
    };
    Ok(Due { jobs, full, next })
}
