//! What generated module callers return: the [`Call`] future and schedule times.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use crate::error::Result;
use crate::future::ReadyOrBoxed;

/// The future of one call: what module caller methods (`caller.get_team(args)`), the
/// runtime's typed entry points (`rt.query(..)`) and `ActionCtx::run_*` return.
///
/// Awaiting it runs the call and gives the procedure's `Result`; dropping it unawaited
/// runs nothing. It is a named type rather than an `async fn` so that a forbidden call
/// reports one clear error, and it is `Send`, so calls can be awaited in spawned tasks.
#[must_use = "a call does nothing unless awaited"]
pub struct Call<'c, T> {
    state: ReadyOrBoxed<'c, Result<T>>,
}

impl<'c, T> Call<'c, T> {
    /// A call that runs `future`.
    pub(crate) fn new(future: impl Future<Output = Result<T>> + Send + 'c) -> Self {
        Call {
            state: ReadyOrBoxed::boxed(future),
        }
    }

    /// A call whose outcome is already known (e.g. the depth limit was reached).
    pub(crate) fn ready(result: Result<T>) -> Self {
        Call {
            state: ReadyOrBoxed::ready(result),
        }
    }
}

impl<T> Future for Call<'_, T> {
    type Output = Result<T>;

    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.state).poll(cx)
    }
}

impl<T> fmt::Debug for Call<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call").finish_non_exhaustive()
    }
}

/// When a scheduled function should run: `schedule().after(..)`, `.at(..)` or `.now()`
/// (which is `After(Duration::ZERO)`).
///
/// Scheduling returns the [`ScheduledFunctionId`](crate::ScheduledFunctionId) of the job;
/// see [`scheduler`](crate::scheduler) for what happens next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleTime {
    /// After a delay from the moment of scheduling.
    After(Duration),
    /// At a point in time; a time in the past means at once.
    At(SystemTime),
}
