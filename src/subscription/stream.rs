//! [`Subscription`]: a query's results as a stream, for server code and tests.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::Stream;
use futures::stream::BoxStream;
use serde::de::DeserializeOwned;

use super::{Listener, Registration};
use crate::error::{Error, Result};
use crate::runtime::Runtime;
use crate::value::{self, Value};

/// The results of a subscribed query, as they change: what
/// [`Runtime::subscribe`](crate::Runtime::subscribe) returns.
///
/// The first item is the query's result now; then one item each time a commit changes what
/// the query read *and* its result is different from the last one yielded (a commit that
/// leaves the result as it was yields nothing). A failed run yields `Err` and the
/// subscription goes on: the next commit that changes what it read runs it again. Each
/// result is computed at one snapshot. The stream never ends; drop it to unsubscribe.
#[must_use = "streams do nothing unless polled"]
pub struct Subscription<T> {
    inner: BoxStream<'static, Result<Value>>,
    decode: PhantomData<fn() -> T>,
    path: &'static str,
}

impl<T> std::fmt::Debug for Subscription<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription").finish_non_exhaustive()
    }
}

struct State {
    runtime: Runtime,
    path: &'static str,
    /// The encoded arguments, or why they do not encode.
    args: std::result::Result<Value, String>,
    listener: Arc<Listener>,
    registration: Option<Registration>,
    last: Option<std::result::Result<Value, String>>,
    started: bool,
    /// The pagination journal of the last run.
    journal: Option<String>,
}

impl<T: DeserializeOwned> Subscription<T> {
    pub(crate) fn new(
        runtime: Runtime,
        path: &'static str,
        args: std::result::Result<Value, String>,
    ) -> Self {
        let state = State {
            runtime,
            path,
            args,
            listener: Listener::new(),
            registration: None,
            last: None,
            started: false,
            journal: None,
        };
        let inner = futures::stream::unfold(state, |mut state| async move {
            loop {
                let args = match state.args.clone() {
                    Ok(args) => args,
                    // Arguments that do not encode never will: one error, then the end.
                    Err(reason) => {
                        if state.last.is_some() {
                            return None;
                        }
                        let error = Error::InvalidArguments {
                            path: state.path.to_owned(),
                            reason: reason.clone(),
                        };
                        state.last = Some(Err(reason));
                        return Some((Err(error), state));
                    }
                };
                if state.started {
                    state.listener.invalidated().await;
                    state.listener.take();
                }
                state.started = true;
                let result = run_once(&mut state, args).await;
                let seen = result
                    .as_ref()
                    .map(Value::clone)
                    .map_err(ToString::to_string);
                if state.last.as_ref() != Some(&seen) {
                    state.last = Some(seen);
                    return Some((result, state));
                }
            }
        });
        Subscription {
            inner: Box::pin(inner),
            decode: PhantomData,
            path,
        }
    }
}

async fn run_once(state: &mut State, args: Value) -> Result<Value> {
    let registry = state.runtime.subscriptions().await;
    let run = registry.start_run();
    let snapshot = state.runtime.retain_snapshot().await?;
    let ran = state
        .runtime
        .run_query_tracked(snapshot, state.path, args, state.journal.take())
        .await;
    state.journal = ran.journal;
    // Replaces (and so drops) the previous registration.
    state.registration = Some(registry.register(&run, ran.reads, &state.listener, 0));
    ran.logged.result
}

impl<T: DeserializeOwned> Stream for Subscription<T> {
    type Item = Result<T>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<T>>> {
        let path = self.path;
        self.inner.as_mut().poll_next(cx).map(|item| {
            item.map(|result| {
                result.and_then(|v| {
                    value::from_value(v).map_err(|e| Error::InvalidOutput {
                        path: path.to_owned(),
                        reason: e.to_string(),
                    })
                })
            })
        })
    }
}
