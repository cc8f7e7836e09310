//! The system table `_scheduled_functions`: its document type ([`ScheduledFunction`],
//! [`JobState`]), its index, the scheduling limits, and the reads and writes of jobs inside
//! a transaction that the scheduler makes.

use serde::{Deserialize, Serialize};

use crate::db::{Database, DbError, Id, IndexRange, Table, TableDefinition, Transaction};
use crate::store::{Document, DocumentId, KeyRange, Order, Timestamp, fields_size};
use crate::value::{MAX_VALUE_SIZE, Object, Value};

/// The system table of scheduled functions.
pub const SCHEDULED_FUNCTIONS: &str = "_scheduled_functions";

/// A document of `_scheduled_functions`: one scheduled call and what became of it.
///
/// Readable from queries and mutations like any table: `ctx.db().get(id)` with the
/// [`ScheduledFunctionId`] that `schedule()` returned,
/// `ctx.db().query::<ScheduledFunction>()`, or through the index [`BY_STATE`]
/// (`|r| r.eq("state.kind", "pending")`). Only the scheduler
/// writes it: `insert`, `patch`, `replace` and `delete` on it fail with
/// [`DbError::SystemTable`].
///
/// As a document (by-name results, JSON) it reads
/// `{ "name": "emails:send", "args": {..}, "scheduled_time": 1.7e12, "completed_time": null,
/// "state": { "kind": "pending" } }`; a failed job's state is
/// `{ "kind": "failed", "error": ".." }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScheduledFunction {
    /// The procedure's path, e.g. `"teams:purge"`.
    pub name: String,
    /// Its arguments, as the procedure's argument type serializes them (`null` for none).
    pub args: Value,
    /// When it is due, in milliseconds since the Unix epoch.
    pub scheduled_time: f64,
    /// When it finished (succeeded, failed or was canceled), in milliseconds since the Unix
    /// epoch; `None` (`null`) while pending or in progress.
    pub completed_time: Option<f64>,
    /// Where it is in its life.
    pub state: JobState,
}

/// The state of a scheduled function, stored as an object with a `kind` (`"pending"`,
/// `"in_progress"`, `"success"`, `"failed"`, `"canceled"`) and, when failed, an `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for its time.
    Pending,
    /// An action that is running (mutations go from pending to success directly).
    InProgress,
    /// Ran and returned `Ok`.
    Success,
    /// Ran and returned an error or panicked (nothing a failed mutation wrote was
    /// committed), could not run (e.g. its procedure no longer exists), or, for an action,
    /// was interrupted by the end of its process.
    Failed {
        /// Why: the error's message.
        error: String,
    },
    /// Canceled before it ran (or, for an action, while it ran).
    Canceled,
}

impl JobState {
    /// Whether the job will not run (again): success, failed or canceled.
    pub fn is_finished(&self) -> bool {
        matches!(
            self,
            JobState::Success | JobState::Failed { .. } | JobState::Canceled
        )
    }

    /// The state's name: `"pending"`, `"in_progress"`, `"success"`, `"failed"`, `"canceled"`.
    pub fn kind(&self) -> &'static str {
        match self {
            JobState::Pending => "pending",
            JobState::InProgress => "in_progress",
            JobState::Success => "success",
            JobState::Failed { .. } => "failed",
            JobState::Canceled => "canceled",
        }
    }
}

/// The index of `_scheduled_functions`: `["state.kind", "completed_time", "scheduled_time"]`.
///
/// Pending and running jobs have a `null` completion time, so within those states jobs are
/// in due order (`|r| r.eq("state.kind", "pending")`: oldest due first); finished ones are
/// in completion order. The worker finds due jobs and expired ones through it.
pub const BY_STATE: &str = "by_state";

impl Table for ScheduledFunction {
    const NAME: &'static str = SCHEDULED_FUNCTIONS;
    const INDEXES: &'static [(&'static str, &'static [&'static str])] = &[(
        BY_STATE,
        &["state.kind", "completed_time", "scheduled_time"],
    )];
}

inventory::submit! {
    TableDefinition {
        name: SCHEDULED_FUNCTIONS,
        indexes: <ScheduledFunction as Table>::INDEXES,
    }
}

/// The id of a scheduled function, as `schedule()` returns it and `cancel` takes it.
pub type ScheduledFunctionId = Id<ScheduledFunction>;

/// Functions one transaction (one mutation, with the mutations it calls) may schedule, as
/// in Convex.
pub const MAX_SCHEDULED_PER_TRANSACTION: usize = 1000;
/// Total size, in bytes, of the arguments of the functions one transaction schedules, as
/// in Convex (8 MiB).
pub const MAX_SCHEDULED_ARGS_BYTES: usize = 8 << 20;

/// Writes a job due at `scheduled_time` in `tx`; it exists once `tx` commits. `canceled` writes it already
/// canceled (what a canceled, still running action schedules).
pub(crate) async fn insert_job(
    tx: &Transaction,
    now_ms: f64,
    path: &str,
    args: Value,
    scheduled_time: f64,
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
    fields.insert("scheduled_time".to_owned(), Value::Float64(scheduled_time));
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
    super::index_range(tx, SCHEDULED_FUNCTIONS, index, range)
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
