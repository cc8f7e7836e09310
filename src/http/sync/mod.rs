//! Convex's WebSocket sync protocol: `GET /api/{client version}/sync` (and `/api/sync`)
//! upgraded to a WebSocket that carries the messages of [`crate::wire::sync`].
//!
//! One task per socket runs a [`Session`]: it reads the client's frames one at a time,
//! keeps the client's query set, runs mutations one after another in the order they
//! arrive, actions concurrently, and sends `Transition`s. Queries run through the runtime's
//! subscription registry, which tells the session which of its queries a commit touched;
//! only those run again.
//!
//! Ordering. A round (what computes a `Transition`) reads the registry's sync clock `t`
//! first and then opens one snapshot at which every query that needs it runs: that
//! snapshot shows every commit reported at or before `t`, so the `Transition` ends at `t`.
//! A mutation's response carries the clock read after it committed, and the session sends
//! it, then schedules a round that always sends a `Transition` (even an empty one): since
//! the session does one thing at a time, no `Transition` at or past a mutation's
//! timestamp is ever sent before that mutation's response.
//!
//! What ends a session, and how (see `docs/sync.md`): a frame that is not a valid message
//! gets `FatalError` (the official client then stops for good); a token that does not
//! verify gets `AuthError` and a close without a status; a socket that does not read its
//! messages, or starts too many actions, is closed with 1013.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use futures::{FutureExt, SinkExt, StreamExt};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

mod cache;

pub(crate) use cache::QueryCache;

use super::error::ApiError;
use super::routes::{Answer, AppState, answer};
use crate::ctx::UserIdentity;
use crate::procedure::{ProcedureKind, Visibility};
use crate::runtime::Runtime;
use crate::subscription::{Listener, Subscriptions};
use crate::value::Value;
use crate::wire::call::{self as wire, Format};
use crate::wire::sync::{
    self as protocol, AuthToken, ClientMessage, ModifyQuerySet, QuerySetModification, Request,
    ServerMessage, StateModification, StateVersion, SyncTimestamp, Transition,
};

type Shared = Arc<AppState>;

/// How many frames already received a session handles before it runs a round.
const MAX_FRAMES_PER_ROUND: usize = 64;

/// The first npm client version that understands `TransitionChunk` (as Convex).
const MIN_VERSION_FOR_CHUNKS: (u64, u64) = (1, 28);

/// `GET /api/{version}/sync`.
pub(crate) async fn upgrade_versioned(
    State(state): State<Shared>,
    Path(version): Path<String>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Some((major, minor)) = parse_version(&version) else {
        return ApiError::bad_request(
            "InvalidVersion",
            format!("'{version}' is not a client version: the sync path is /api/<semver>/sync"),
        )
        .into_response();
    };
    start(state, ws, (major, minor) >= MIN_VERSION_FOR_CHUNKS)
}

/// `GET /api/sync` (clients that name their version in a header): no chunks.
pub(crate) async fn upgrade(
    State(state): State<Shared>,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    start(state, ws, false)
}

fn start(
    state: Shared,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
    chunks: bool,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(rejection) => {
            return ApiError::new(
                StatusCode::BAD_REQUEST,
                "NotAWebSocket",
                format!(
                    "the sync endpoint takes a WebSocket upgrade (GET with `Upgrade: websocket`): {rejection}"
                ),
            )
            .into_response();
        }
    };
    let limit = state.sync.max_message_bytes;
    ws.max_message_size(limit)
        .max_frame_size(limit)
        .on_upgrade(move |socket| serve(state, socket, chunks))
}

/// `major.minor` of a semver string (`1.48.0`, `1.28.0-alpha.1`).
fn parse_version(version: &str) -> Option<(u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?;
    if patch.parse::<u64>().is_err() || parts.next().is_some() {
        return None;
    }
    Some((major, minor))
}

/// How a session ends: what the client is told, then the close frame.
#[derive(Debug)]
enum End {
    /// The client closed the socket, or it broke.
    Gone,
    /// `FatalError`, then a close (policy violation).
    Fatal(String),
    /// `AuthError`, then a close without a status.
    Auth {
        error: String,
        base_version: u32,
        attempted: bool,
    },
    /// A close frame with this code and reason, nothing before it.
    Close(u16, String),
}

async fn serve(state: Shared, socket: WebSocket, chunks: bool) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut queue) = mpsc::channel::<Message>(state.sync.send_queue);
    let writer = tokio::spawn(async move {
        while let Some(message) = queue.recv().await {
            let closing = matches!(message, Message::Close(_));
            if sink.send(message).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let registry = state.runtime.subscriptions().await;
    let mut session = Session::new(state.clone(), registry, out.clone(), chunks);
    let end = session.run(&mut stream).await;
    drop(session);
    let last = match end {
        End::Gone => None,
        End::Fatal(error) => {
            tracing::info!(target: "convoke::sync", %error, "closing a sync session");
            let _ = out.try_send(text(&ServerMessage::FatalError {
                error: error.clone(),
            }));
            Some(close(1008, &error))
        }
        End::Auth {
            error,
            base_version,
            attempted,
        } => {
            let _ = out.try_send(text(&ServerMessage::AuthError(protocol::AuthError {
                error,
                base_version: Some(base_version),
                auth_update_attempted: attempted,
            })));
            Some(Message::Close(None))
        }
        End::Close(code, reason) => Some(close(code, &reason)),
    };
    if let Some(last) = last {
        let _ = out.try_send(last);
    }
    drop(out);
    // The writer ends once the queue is drained (or the socket is gone). A client that does
    // not read may keep it waiting: after the send timeout, the socket is dropped.
    let mut writer = writer;
    if tokio::time::timeout(state.sync.send_timeout, &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

fn text(message: &ServerMessage) -> Message {
    Message::Text(message.to_json().into())
}

fn close(code: u16, reason: &str) -> Message {
    // A close reason is at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

/// One query of the client's set.
struct Query {
    path: String,
    /// The arguments, or why the query cannot run (unknown, not a query, bad arguments):
    /// then it fails without running.
    args: Result<Value, String>,
    /// The journal the client gave (`Add`) and the latest one its runs recorded.
    first_journal: Option<String>,
    journal: Option<String>,
    /// Its share of the result that identical subscriptions share (for its identity).
    share: Option<cache::Share>,
    /// Whether it must run (again) in the next round.
    stale: bool,
    /// The last modification sent for it, to send only changes.
    last: Option<StateModification>,
}

/// What a finished action gives the session.
struct ActionDone {
    request_id: u32,
    answer: Answer,
    log_lines: Vec<String>,
}

struct Session {
    state: Shared,
    registry: Arc<Subscriptions>,
    listener: Arc<Listener>,
    out: mpsc::Sender<Message>,
    chunks: bool,
    /// The version the client holds: the end of the last transition sent.
    version: StateVersion,
    /// The query-set and identity versions received.
    query_set: u32,
    identity_version: u32,
    identity: Option<UserIdentity>,
    /// When the identity's token expires.
    expires: Option<SystemTime>,
    queries: BTreeMap<u32, Query>,
    removed: Vec<u32>,
    /// A round is due.
    update: bool,
    /// The next round sends a transition even if no result changed.
    force: bool,
    clock_skew: Option<i64>,
    /// The client's session, from `Connect`: its mutations run at most once.
    session_id: Option<String>,
    actions: JoinSet<ActionDone>,
    last_sent: Instant,
    closing: tokio::sync::watch::Receiver<bool>,
}

impl Session {
    fn new(
        state: Shared,
        registry: Arc<Subscriptions>,
        out: mpsc::Sender<Message>,
        chunks: bool,
    ) -> Session {
        Session {
            registry,
            listener: Listener::new(),
            out,
            chunks,
            version: StateVersion::INITIAL,
            query_set: 0,
            identity_version: 0,
            identity: None,
            expires: None,
            queries: BTreeMap::new(),
            removed: Vec::new(),
            update: false,
            force: false,
            clock_skew: None,
            session_id: None,
            actions: JoinSet::new(),
            last_sent: Instant::now(),
            closing: state.closing.clone(),
            state,
        }
    }

    async fn run(&mut self, stream: &mut futures::stream::SplitStream<WebSocket>) -> End {
        loop {
            if self.update
                && let Err(end) = self.round().await
            {
                return end;
            }
            let ping_at = self.last_sent.checked_add(self.state.sync.ping_interval);
            // An expiry too far ahead for the clock never comes.
            let expiry = self.expires.and_then(|at| {
                let left = at
                    .duration_since(SystemTime::now())
                    .unwrap_or(Duration::ZERO);
                Instant::now().checked_add(left)
            });
            let closing = self.closing.clone();
            let step = tokio::select! {
                frame = stream.next() => self.frame(frame).await,
                () = self.listener.invalidated() => {
                    self.update |= self.take_invalidated();
                    Ok(())
                }
                Some(done) = self.actions.join_next(), if !self.actions.is_empty() => {
                    match done {
                        Ok(done) => self.action_done(done).await,
                        // An action's task panicked outside the procedure's own guard.
                        Err(e) => Err(End::Close(1011, format!("InternalServerError: {e}"))),
                    }
                }
                () = sleep_until_some(ping_at) => self.send(&ServerMessage::Ping).await,
                () = sleep_until_some(expiry) => Err(self.expired()),
                () = server_closing(closing) => Err(End::Close(
                    1012,
                    "ServiceRestart: the server is shutting down".to_owned(),
                )),
            };
            if let Err(end) = step {
                return end;
            }
            // Frames already received are handled before the next round, so that one round
            // answers them all: after a reconnect, `Authenticate` and the query set it is
            // followed by get one transition, with every result (not an auth-only one).
            for _ in 0..MAX_FRAMES_PER_ROUND {
                let Some(frame) = stream.next().now_or_never() else {
                    break;
                };
                if let Err(end) = self.frame(frame).await {
                    return end;
                }
            }
        }
    }

    async fn frame(&mut self, frame: Option<Result<Message, axum::Error>>) -> Result<(), End> {
        match frame {
            None | Some(Ok(Message::Close(_))) => Err(End::Gone),
            Some(Ok(Message::Text(frame))) => self.handle(frame.as_str()).await,
            Some(Ok(Message::Binary(_))) => Err(End::Fatal(
                "binary frames are not part of the sync protocol: send JSON text".to_owned(),
            )),
            // Answered by the WebSocket layer.
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => Ok(()),
            Some(Err(e)) => Err(frame_error(&e)),
        }
    }

    /// Marks stale the queries whose results commits invalidated; whether there were any.
    fn take_invalidated(&mut self) -> bool {
        let mut any = false;
        for key in self.listener.take() {
            if let Some(query) = u32::try_from(key)
                .ok()
                .and_then(|id| self.queries.get_mut(&id))
            {
                query.stale = true;
                any = true;
            }
        }
        any
    }

    fn expired(&self) -> End {
        End::Auth {
            error: "Convex token identity expired".to_owned(),
            base_version: self.version.identity,
            attempted: false,
        }
    }

    fn check_identity(&self) -> Result<(), End> {
        match self.expires {
            Some(at) if at <= SystemTime::now() => Err(self.expired()),
            _ => Ok(()),
        }
    }

    async fn send(&mut self, message: &ServerMessage) -> Result<(), End> {
        self.push(text(message)).await
    }

    async fn push(&mut self, message: Message) -> Result<(), End> {
        // Room in the queue (the usual case): no timer.
        let message = match self.out.try_send(message) {
            Ok(()) => {
                self.last_sent = Instant::now();
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(End::Gone),
            Err(mpsc::error::TrySendError::Full(message)) => message,
        };
        match self
            .out
            .send_timeout(message, self.state.sync.send_timeout)
            .await
        {
            Ok(()) => {
                self.last_sent = Instant::now();
                Ok(())
            }
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => Err(End::Close(
                1013,
                "SlowConsumer: the client does not read its messages".to_owned(),
            )),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(End::Gone),
        }
    }

    async fn handle(&mut self, frame: &str) -> Result<(), End> {
        let message = ClientMessage::parse(frame).map_err(|e| End::Fatal(e.to_string()))?;
        match message {
            ClientMessage::Connect(connect) => {
                self.session_id = Some(connect.session_id);
                prune_records(&self.state).await;
                if let Some(client_ts) = connect.client_ts {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                    let skew = client_ts - now;
                    self.clock_skew = skew.is_finite().then_some(skew as i64);
                }
                Ok(())
            }
            ClientMessage::ModifyQuerySet(modify) => self.modify(modify),
            ClientMessage::Authenticate(auth) => self.authenticate(auth).await,
            ClientMessage::Mutation(request) => self.mutation(request).await,
            ClientMessage::Action(request) => self.action(request),
            ClientMessage::Event(event) => {
                tracing::debug!(target: "convoke::sync", event = %event.event_type, "client event");
                Ok(())
            }
        }
    }

    fn modify(&mut self, modify: ModifyQuerySet) -> Result<(), End> {
        if modify.base_version != self.query_set || modify.new_version <= modify.base_version {
            return Err(End::Fatal(format!(
                "BaseVersionMismatch: the query set is at version {}, the change is from {} to {}",
                self.query_set, modify.base_version, modify.new_version
            )));
        }
        for change in modify.modifications {
            match change {
                QuerySetModification::Add(add) => {
                    if self.queries.contains_key(&add.query_id) {
                        return Err(End::Fatal(format!(
                            "Duplicate query ID: query {} is already in the set",
                            add.query_id
                        )));
                    }
                    if self.queries.len() >= self.state.sync.max_queries {
                        return Err(End::Fatal(format!(
                            "TooManyQueries: a socket may subscribe at most {} queries at once",
                            self.state.sync.max_queries
                        )));
                    }
                    let path = wire::canonical_path(&add.udf_path);
                    let args = self.call_args(&path, ProcedureKind::Query, &add.args);
                    self.queries.insert(
                        add.query_id,
                        Query {
                            path,
                            args,
                            first_journal: add.journal.clone(),
                            journal: add.journal,
                            share: None,
                            stale: true,
                            last: None,
                        },
                    );
                }
                QuerySetModification::Remove { query_id } => {
                    if self.queries.remove(&query_id).is_none() {
                        return Err(End::Fatal(format!(
                            "Remove of an unknown query: query {query_id} is not in the set"
                        )));
                    }
                    self.removed.push(query_id);
                }
            }
        }
        self.query_set = modify.new_version;
        self.update = true;
        self.force = true;
        Ok(())
    }

    /// The arguments of a call to `path` of `kind`, or the message it fails with.
    fn call_args(
        &self,
        path: &str,
        kind: ProcedureKind,
        args: &[serde_json::Value],
    ) -> Result<Value, String> {
        match self.state.runtime.procedure(path) {
            Ok(info) if info.visibility == Visibility::Public && info.kind == kind => {}
            Ok(info) if info.visibility == Visibility::Public => {
                return Err(format!(
                    "'{path}' is a {}, but was called as a {kind}",
                    info.kind
                ));
            }
            _ => return Err(format!("Could not find public function for '{path}'")),
        }
        let one = protocol::single_argument(args).map_err(|e| e.message)?;
        let args = wire::decode_args(Some(one.clone())).map_err(|e| e.message)?;
        if self.state.transformer.has_custom_codecs() {
            self.state
                .transformer
                .deserialize(args)
                .map_err(|e| format!("invalid arguments: {e}"))
        } else {
            Ok(args)
        }
    }

    fn runtime(&self) -> Runtime {
        match &self.identity {
            Some(identity) => self.state.runtime.with_identity(identity.clone()),
            None => self.state.runtime.without_identity(),
        }
    }

    async fn authenticate(&mut self, auth: protocol::Authenticate) -> Result<(), End> {
        if auth.base_version != self.identity_version {
            return Err(End::Fatal(format!(
                "IdentityVersionMismatch: the identity is at version {}, the change is from {}",
                self.identity_version, auth.base_version
            )));
        }
        let refuse = |error: String| End::Auth {
            error,
            base_version: self.version.identity,
            attempted: true,
        };
        match auth.token {
            AuthToken::User { value } => match self.state.auth.verify(&value).await {
                Ok(identity) => {
                    self.expires = match identity.claim("exp") {
                        // With the verifier's leeway: the token stays good as long as it
                        // would verify.
                        // (An `exp` too far ahead to represent never expires.)
                        Some(Value::Float64(exp)) => Duration::try_from_secs_f64(*exp)
                            .ok()
                            .and_then(|exp| UNIX_EPOCH.checked_add(exp))
                            .and_then(|at| at.checked_add(self.state.auth.leeway())),
                        _ => None,
                    };
                    self.identity = Some(identity);
                }
                Err(e) => return Err(refuse(e.to_string())),
            },
            AuthToken::None => {
                self.identity = None;
                self.expires = None;
            }
            _ => {
                return Err(refuse(
                    "admin keys are not supported: authenticate with a user's token".to_owned(),
                ));
            }
        }
        self.identity_version += 1;
        for query in self.queries.values_mut() {
            // Shared with the subscriptions of the new identity from now on.
            query.share = None;
            query.stale = true;
        }
        self.update = true;
        self.force = true;
        Ok(())
    }

    async fn mutation(&mut self, request: Request) -> Result<(), End> {
        self.check_identity()?;
        let path = wire::canonical_path(&request.udf_path);
        let (answer, log_lines) =
            match self.call_args(&path, ProcedureKind::Mutation, &request.args) {
                Ok(args) => {
                    let runtime = self.runtime();
                    let retention = self.state.sync.mutation_retention;
                    let outcome = match &self.session_id {
                        Some(session) if !retention.is_zero() => {
                            let expires = SystemTime::now() + retention;
                            let expires_ms = expires
                                .duration_since(UNIX_EPOCH)
                                .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                            runtime
                                .run_mutation_once(
                                    &path,
                                    args,
                                    session,
                                    request.request_id,
                                    expires_ms,
                                )
                                .await
                        }
                        _ => {
                            runtime
                                .run_value_logged(Some(ProcedureKind::Mutation), &path, args)
                                .await
                        }
                    };
                    (
                        answer(&self.state, &path, Format::Encoded, outcome.result),
                        outcome.log_lines,
                    )
                }
                Err(message) => (
                    Answer::Failed {
                        message,
                        data: None,
                    },
                    Vec::new(),
                ),
            };
        // Read after the commit: a transition at or past it shows the mutation's writes.
        let ts = SyncTimestamp(self.registry.now());
        let (success, result, error_data) = split(answer);
        let response = protocol::MutationResponse {
            request_id: request.request_id,
            success,
            result,
            ts: success.then_some(ts),
            log_lines,
            error_data,
        };
        self.send(&ServerMessage::MutationResponse(response))
            .await?;
        self.update = true;
        self.force = true;
        Ok(())
    }

    fn action(&mut self, request: Request) -> Result<(), End> {
        self.check_identity()?;
        if self.actions.len() >= self.state.sync.max_actions_in_flight {
            return Err(End::Close(
                1013,
                format!(
                    "TooManyInflightActions: a socket may run at most {} actions at once",
                    self.state.sync.max_actions_in_flight
                ),
            ));
        }
        let path = wire::canonical_path(&request.udf_path);
        let args = self.call_args(&path, ProcedureKind::Action, &request.args);
        let runtime = self.runtime();
        let state = self.state.clone();
        let request_id = request.request_id;
        self.actions.spawn(async move {
            match args {
                Ok(args) => {
                    let outcome = runtime
                        .run_value_logged(Some(ProcedureKind::Action), &path, args)
                        .await;
                    ActionDone {
                        request_id,
                        answer: answer(&state, &path, Format::Encoded, outcome.result),
                        log_lines: outcome.log_lines,
                    }
                }
                Err(message) => ActionDone {
                    request_id,
                    answer: Answer::Failed {
                        message,
                        data: None,
                    },
                    log_lines: Vec::new(),
                },
            }
        });
        Ok(())
    }

    async fn action_done(&mut self, done: ActionDone) -> Result<(), End> {
        let (success, result, error_data) = split(done.answer);
        let response = protocol::ActionResponse {
            request_id: done.request_id,
            success,
            result,
            log_lines: done.log_lines,
            error_data,
        };
        self.send(&ServerMessage::ActionResponse(response)).await
    }

    /// Runs the queries that need it at one snapshot and sends what changed.
    async fn round(&mut self) -> Result<(), End> {
        self.check_identity()?;
        self.update = false;
        // The transition's timestamp: every commit reported by now shows in its results
        // (shared results are valid now unless a commit made them stale; the queries that
        // run do so at a snapshot opened after this).
        let ts = self.registry.now();
        // Invalidations reported by now (a mutation this socket just made included: it
        // reported its commit before it returned) are taken now, not at the next wake-up,
        // so that this transition, at or past that mutation, shows its writes.
        self.take_invalidated();
        // Opened at the first query that must run: most rounds of most sockets only take
        // shared results.
        let mut opened: Option<(crate::subscription::Run, Arc<crate::db::RetainedSnapshot>)> = None;
        let runtime = self.runtime();
        let mut modifications: Vec<StateModification> = self
            .removed
            .drain(..)
            .map(|query_id| StateModification::QueryRemoved { query_id })
            .collect();
        for (&query_id, query) in self.queries.iter_mut().filter(|(_, q)| q.stale) {
            query.stale = false;
            let modification = match &query.args {
                Err(message) => StateModification::QueryFailed {
                    query_id,
                    error_message: message.clone(),
                    log_lines: Vec::new(),
                    journal: query.journal.clone(),
                    error_data: None,
                },
                Ok(args) => {
                    let share = query.share.get_or_insert_with(|| {
                        let key = cache::CacheKey {
                            path: query.path.clone(),
                            args: crate::value::to_convex_json(args).to_string(),
                            identity: self
                                .identity
                                .as_ref()
                                .map(|i| i.token_identifier().to_owned()),
                            journal: query.first_journal.clone(),
                        };
                        self.state
                            .cache
                            .join(key, &self.listener, u64::from(query_id))
                    });
                    let cached = &share.cached;
                    let outcome = match cached.current() {
                        Some(outcome) => outcome,
                        None => {
                            // One socket runs it for every socket that shares it; the others
                            // wait for it and take its result.
                            let _running = cached.running.lock().await;
                            match cached.current() {
                                Some(outcome) => outcome,
                                None => {
                                    if opened.is_none() {
                                        let run = self.registry.start_run();
                                        let snapshot = self.state.runtime.retain_snapshot().await.map_err(|e| {
                                            tracing::warn!(target: "convoke::sync", error = %e, "could not open a snapshot");
                                            End::Close(1013, "Unavailable: the database could not be read".to_owned())
                                        })?;
                                        opened = Some((run, snapshot));
                                    }
                                    let Some((run, snapshot)) = opened.as_ref() else {
                                        continue;
                                    };
                                    let generation = cached.listener.generation();
                                    let journal = cached.last().map_or_else(
                                        || query.first_journal.clone(),
                                        |last| last.journal.clone(),
                                    );
                                    let ran = runtime
                                        .run_query_tracked(
                                            snapshot.clone(),
                                            &query.path,
                                            args.clone(),
                                            journal.clone(),
                                        )
                                        .await;
                                    let registration =
                                        self.registry.register(run, ran.reads, &cached.listener, 0);
                                    let logged = ran.logged;
                                    let outcome = Arc::new(cache::Outcome {
                                        answer: split(answer(
                                            &self.state,
                                            &query.path,
                                            Format::Encoded,
                                            logged.result,
                                        )),
                                        log_lines: logged.log_lines,
                                        // The journal this run recorded (its page's end) is
                                        // kept for its re-runs, and sent for reconnects.
                                        journal: ran.journal.or(journal),
                                    });
                                    cached.store(outcome.clone(), generation, registration);
                                    outcome
                                }
                            }
                        }
                    };
                    query.journal = outcome.journal.clone();
                    let journal = query.journal.clone();
                    let (success, value, error_data) = outcome.answer.clone();
                    if success {
                        StateModification::QueryUpdated {
                            query_id,
                            value,
                            log_lines: outcome.log_lines.clone(),
                            journal,
                        }
                    } else {
                        StateModification::QueryFailed {
                            query_id,
                            error_message: match value {
                                serde_json::Value::String(m) => m,
                                other => other.to_string(),
                            },
                            log_lines: outcome.log_lines.clone(),
                            journal,
                            error_data,
                        }
                    }
                }
            };
            if query.last.as_ref() != Some(&modification) {
                query.last = Some(modification.clone());
                modifications.push(modification);
            }
        }
        drop(opened);
        if modifications.is_empty() && !self.force {
            return Ok(());
        }
        self.force = false;
        let end = StateVersion {
            query_set: self.query_set,
            identity: self.identity_version,
            ts: SyncTimestamp(ts.max(self.version.ts.0)),
        };
        let transition = Transition {
            start_version: self.version,
            end_version: end,
            modifications,
            client_clock_skew: self.clock_skew,
            server_ts: Some(now_nanos()),
        };
        let json = ServerMessage::Transition(transition).to_json();
        if self.chunks && json.len() > self.state.sync.chunk_bytes {
            for chunk in protocol::split_transition(&json, self.state.sync.chunk_bytes) {
                self.send(&ServerMessage::TransitionChunk(chunk)).await?;
            }
        } else {
            self.push(Message::Text(json.into())).await?;
        }
        self.version = end;
        Ok(())
    }
}

/// Deletes expired mutation records, at most once a minute per process and 256 at a time,
/// when a client connects. Best effort: a failure is logged and tried again later.
async fn prune_records(state: &AppState) {
    static LAST: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let last = LAST.load(std::sync::atomic::Ordering::Relaxed);
    if now < last + 60
        || LAST
            .compare_exchange(
                last,
                now,
                std::sync::atomic::Ordering::Relaxed,
                std::sync::atomic::Ordering::Relaxed,
            )
            .is_err()
    {
        return;
    }
    if let Err(e) = state.runtime.prune_session_requests(256).await {
        tracing::warn!(target: "convoke::sync", error = %e, "could not delete expired mutation records");
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Actions the socket started run to their end (as over HTTP, a client that goes
        // away does not cancel what it started); their responses have nowhere to go.
        self.actions.detach_all();
    }
}

/// `(success, result, errorData)` of a response: the value, or the message and data.
fn split(answer: Answer) -> (bool, serde_json::Value, Option<serde_json::Value>) {
    match answer {
        Answer::Value(value) => (true, value, None),
        Answer::Failed { message, data } => (false, serde_json::Value::String(message), data),
        Answer::Refused(refused) => (false, serde_json::Value::String(refused.message), None),
    }
}

/// The close for a frame the WebSocket layer refused (too large, not UTF-8, broken).
fn frame_error(error: &axum::Error) -> End {
    let message = error.to_string();
    if message.contains("too long")
        || message.contains("too big")
        || message.contains("Space limit")
    {
        End::Close(1009, format!("MessageTooBig: {message}"))
    } else {
        tracing::debug!(target: "convoke::sync", error = %message, "socket error");
        End::Gone
    }
}

/// Resolves once the server shuts down (never, if it cannot tell any more).
async fn server_closing(mut closing: tokio::sync::watch::Receiver<bool>) {
    loop {
        if *closing.borrow_and_update() {
            return;
        }
        if closing.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::parse_version;

    #[test]
    fn client_versions() {
        assert_eq!(parse_version("1.48.0"), Some((1, 48)));
        assert_eq!(parse_version("1.28.0-alpha.1"), Some((1, 28)));
        assert_eq!(parse_version("0.19.1"), Some((0, 19)));
        assert_eq!(parse_version("latest"), None);
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
        assert_eq!(parse_version(""), None);
    }
}
