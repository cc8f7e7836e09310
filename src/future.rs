//! The one ready-or-boxed future behind [`StoreFuture`](crate::store::StoreFuture) and
//! [`Call`](crate::Call): complete at once (no allocation, no wake-up) when the outcome is
//! known, boxed when it has to wait.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that is either already complete or a boxed future.
pub(crate) enum ReadyOrBoxed<'a, T> {
    /// The output, taken by the first poll.
    Ready(Option<T>),
    /// A future that runs when polled.
    Boxed(Pin<Box<dyn Future<Output = T> + Send + 'a>>),
}

impl<'a, T> ReadyOrBoxed<'a, T> {
    /// A future already holding its output.
    pub(crate) fn ready(value: T) -> Self {
        ReadyOrBoxed::Ready(Some(value))
    }

    /// A future that runs `future`.
    pub(crate) fn boxed(future: impl Future<Output = T> + Send + 'a) -> Self {
        ReadyOrBoxed::Boxed(Box::pin(future))
    }

    /// Whether the output is already here (for `Debug`).
    pub(crate) fn is_ready(&self) -> bool {
        matches!(self, ReadyOrBoxed::Ready(_))
    }
}

// Nothing is structurally pinned: the running future is boxed and the ready output is only
// moved out, so the future is `Unpin` whatever `T` is.
impl<T> Unpin for ReadyOrBoxed<'_, T> {}

impl<T> Future for ReadyOrBoxed<'_, T> {
    type Output = T;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut() {
            ReadyOrBoxed::Boxed(future) => future.as_mut().poll(cx),
            // Polled again after it completed: it never completes twice.
            ReadyOrBoxed::Ready(value) => match value.take() {
                Some(value) => Poll::Ready(value),
                None => Poll::Pending,
            },
        }
    }
}
