//! The procedures the HTTP tests call: module `app`, so paths are `app:<name>`.
//! Included by each HTTP test binary as `#[path = "http_support/app.rs"] mod app;`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use convoke::value::Value;
use convoke::{
    ActionCtx, Date, Error, Id, LogLevel, MutationCtx, QueryCtx, Result, Table, procedure,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

convoke::module!(app);

/// A note document.
#[derive(Debug, Clone, Serialize, Deserialize, Table)]
#[table(name = "notes")]
pub struct Note {
    pub text: String,
    pub author: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Add {
    pub a: i64,
    pub b: i64,
}

/// One integer, as `{ "n": .. }`: Convex clients send arguments as objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Num {
    pub n: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewNote {
    pub text: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    pub subject: String,
    pub issuer: String,
    pub token_identifier: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub name: String,
    pub at: Date,
}

/// Returns its arguments: any value.
#[procedure(query)]
pub async fn echo(_ctx: &QueryCtx<'_>, v: Value) -> Result<Value> {
    Ok(v)
}

/// Typed arguments and an int64 result.
#[procedure(query)]
pub async fn add(_ctx: &QueryCtx<'_>, args: Add) -> Result<i64> {
    Ok(args.a.wrapping_add(args.b))
}

/// `n + 1` for any int64: precision beyond 2^53 shows whether int64 survives the trip.
#[procedure(query)]
pub async fn next_int(_ctx: &QueryCtx<'_>, args: Num) -> Result<i64> {
    Ok(args.n.wrapping_add(1))
}

/// Bytes in, bytes reversed out.
#[procedure(query)]
pub async fn reverse_bytes(_ctx: &QueryCtx<'_>, v: Value) -> Result<Value> {
    match v.get("data").and_then(Value::as_bytes) {
        Some(bytes) => Ok(Value::Bytes(bytes.iter().rev().copied().collect())),
        None => Err(Error::user("expected { data: bytes }")),
    }
}

/// Inserts a note and returns its id; the note's author is the caller's subject.
#[procedure(mutation)]
pub async fn add_note(ctx: &MutationCtx<'_>, args: NewNote) -> Result<Id<Note>> {
    let author = ctx.auth().user_identity().map(|u| u.subject().to_owned());
    ctx.log(format!("adding {}", args.text));
    Ok(ctx
        .db()
        .insert(&Note {
            text: args.text,
            author,
        })
        .await?)
}

/// The notes' texts, in insertion order.
#[procedure(query)]
pub async fn list_notes(ctx: &QueryCtx<'_>) -> Result<Vec<String>> {
    let notes = ctx.db().query::<Note>().collect().await?;
    Ok(notes.into_iter().map(|n| n.into_inner().text).collect())
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GetNote {
    pub id: Id<Note>,
}

/// The text of one note (`Id` arguments: strings, never bytes).
#[procedure(query)]
pub async fn get_note(ctx: &QueryCtx<'_>, args: GetNote) -> Result<Option<String>> {
    Ok(ctx.db().get(args.id).await?.map(|n| n.into_inner().text))
}

/// An action: adds a note through a mutation, reads the notes through a query.
#[procedure(action)]
pub async fn add_and_count(ctx: &ActionCtx, args: NewNote) -> Result<usize> {
    ctx.log("action start");
    let app = create_app_caller(ctx);
    app.add_note(args).await?;
    let notes = app.list_notes().await?;
    ctx.log_at(LogLevel::Info, format!("{} notes", notes.len()));
    Ok(notes.len())
}

/// Shouts.
#[procedure(action)]
pub async fn shout(_ctx: &ActionCtx, args: NewNote) -> Result<String> {
    Ok(args.text.to_uppercase())
}

/// A user error with data (Convex's `ConvexError`).
#[procedure(mutation)]
pub async fn join_team(_ctx: &MutationCtx<'_>, args: Num) -> Result<()> {
    if args.n >= 10 {
        return Err(Error::user_with_data(
            "team is full",
            json!({ "max": 10, "code": "TEAM_FULL" }),
        )?);
    }
    Ok(())
}

/// A user error without data.
#[procedure(query)]
pub async fn refuse(_ctx: &QueryCtx<'_>) -> Result<()> {
    Err(Error::user("not today"))
}

/// An internal error: a panic.
#[procedure(query)]
pub async fn crash(_ctx: &QueryCtx<'_>) -> Result<()> {
    panic!("secret internals")
}

/// The caller's identity, or `null`.
#[procedure(query)]
pub async fn whoami(ctx: &QueryCtx<'_>) -> Result<Option<Identity>> {
    Ok(ctx.auth().user_identity().map(|u| Identity {
        subject: u.subject().to_owned(),
        issuer: u.issuer().to_owned(),
        token_identifier: u.token_identifier().to_owned(),
        email: u.claim("email").and_then(Value::as_str).map(str::to_owned),
    }))
}

/// The identity, seen by a query called from an action: it flows into nested calls.
#[procedure(action)]
pub async fn whoami_nested(ctx: &ActionCtx) -> Result<Option<Identity>> {
    create_app_caller(ctx).whoami().await
}

/// Internal: never reachable over HTTP.
#[procedure(query, internal)]
pub async fn secret(_ctx: &QueryCtx<'_>) -> Result<String> {
    Ok("internal".into())
}

/// Internal mutation.
#[procedure(mutation, internal)]
pub async fn secret_write(_ctx: &MutationCtx<'_>) -> Result<()> {
    Ok(())
}

/// Internal action.
#[procedure(action, internal)]
pub async fn secret_action(_ctx: &ActionCtx) -> Result<()> {
    Ok(())
}

/// Logs from a query.
#[procedure(query)]
pub async fn chatty(ctx: &QueryCtx<'_>, args: Num) -> Result<i64> {
    for i in 0..args.n {
        ctx.log(format!("line {i}"));
    }
    Ok(args.n)
}

/// How many `slow` calls have started.
pub static SLOW_STARTED: AtomicUsize = AtomicUsize::new(0);

/// Sleeps, then answers: for timeouts and graceful shutdown.
#[procedure(action)]
pub async fn slow(_ctx: &ActionCtx, args: Num) -> Result<String> {
    SLOW_STARTED.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(args.n.max(0) as u64)).await;
    Ok("done".into())
}

/// A date in, the next day out.
#[procedure(query)]
pub async fn next_day(_ctx: &QueryCtx<'_>, event: Event) -> Result<Event> {
    Ok(Event {
        name: event.name,
        at: Date::from_millis(event.at.millis() + 86_400_000),
    })
}

/// How many times `count_and_fail` ran.
pub static FAILING_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Counts its runs and fails with a user error: a business error, which must never be
/// replayed.
#[procedure(mutation)]
pub async fn count_and_fail(_ctx: &MutationCtx<'_>) -> Result<()> {
    FAILING_RUNS.fetch_add(1, Ordering::SeqCst);
    Err(Error::user_with_data(
        "business rule",
        json!({ "code": "UNAUTHORIZED" }),
    )?)
}

/// An array nested `levels` deep.
#[procedure(query)]
pub async fn deep(_ctx: &QueryCtx<'_>, args: Num) -> Result<Value> {
    let mut v = Value::Null;
    for _ in 0..args.n {
        v = Value::Array(vec![v]);
    }
    Ok(v)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotesPage {
    pub pagination_opts: convoke::db::PaginationOptions,
}

/// One page of the notes' texts, newest first (what `usePaginatedQuery` subscribes).
#[procedure(query)]
pub async fn notes_page(
    ctx: &QueryCtx<'_>,
    args: NotesPage,
) -> Result<convoke::db::PaginationResult<String>> {
    let page = ctx
        .db()
        .query::<Note>()
        .order(convoke::db::Order::Desc)
        .paginate(args.pagination_opts)
        .await?;
    Ok(convoke::db::PaginationResult {
        page: page.page.into_iter().map(|n| n.into_inner().text).collect(),
        is_done: page.is_done,
        continue_cursor: page.continue_cursor,
    })
}

/// How many times `counted_notes` ran.
static COUNTED_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The notes' texts, counting its runs (`counted_runs`).
#[procedure(query)]
pub async fn counted_notes(ctx: &QueryCtx<'_>) -> Result<Vec<String>> {
    COUNTED_RUNS.fetch_add(1, Ordering::SeqCst);
    let notes = ctx.db().query::<Note>().collect().await?;
    Ok(notes.into_iter().map(|n| n.into_inner().text).collect())
}

/// How many times `counted_notes` ran.
#[procedure(query)]
pub async fn counted_runs(_ctx: &QueryCtx<'_>) -> Result<i64> {
    Ok(COUNTED_RUNS.load(Ordering::SeqCst) as i64)
}
