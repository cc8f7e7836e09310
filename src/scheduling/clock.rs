//! Time as the scheduler sees it: the system clock, or a virtual clock tests advance.

use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

/// A source of "now" for the scheduler, in milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// The current time, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> f64;

    /// Waits until `deadline_ms` or until the clock is moved, whichever comes first.
    /// `None` waits until the clock is moved (or forever, for the system clock).
    fn sleep_until(
        &self,
        deadline_ms: Option<f64>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>>;

    /// This clock as a [`VirtualClock`], if it is one.
    fn as_virtual(&self) -> Option<&VirtualClock> {
        None
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> f64 {
        system_now_ms()
    }

    fn sleep_until(
        &self,
        deadline_ms: Option<f64>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            match deadline_ms {
                Some(deadline) => {
                    let wait = (deadline - system_now_ms()).max(0.0) / 1000.0;
                    let wait = Duration::try_from_secs_f64(wait).unwrap_or(Duration::MAX);
                    tokio::time::sleep(wait).await;
                }
                None => std::future::pending::<()>().await,
            }
        })
    }
}

pub(crate) fn system_now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// A clock that only moves when told to: tests schedule work, [`advance`](VirtualClock::advance)
/// time, and run what is due without sleeping.
///
/// ```
/// use std::time::Duration;
/// use convoke::scheduler::{Clock, VirtualClock};
/// let clock = VirtualClock::starting_at(1_000.0);
/// clock.advance(Duration::from_secs(2));
/// assert_eq!(clock.now_ms(), 3_000.0);
/// ```
#[derive(Debug)]
pub struct VirtualClock {
    now: Mutex<f64>,
    moved: Notify,
}

impl VirtualClock {
    /// A virtual clock starting at the current system time.
    pub fn new() -> Self {
        VirtualClock::starting_at(system_now_ms())
    }

    /// A virtual clock starting at `ms` milliseconds since the Unix epoch.
    pub fn starting_at(ms: f64) -> Self {
        VirtualClock {
            now: Mutex::new(ms),
            moved: Notify::new(),
        }
    }

    /// The current time as a [`SystemTime`].
    pub fn now(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(self.now_ms().max(0.0) / 1000.0)
    }

    /// Moves time forward by `by`. Jobs that become due run once something runs them: a
    /// worker started with [`Runtime::start_scheduler`](crate::Runtime::start_scheduler)
    /// wakes up by itself; without one, call
    /// [`Runtime::run_due_scheduled_functions`](crate::Runtime::run_due_scheduled_functions)
    /// ([`TestRuntime::advance_time`](crate::testing::TestRuntime::advance_time) does both).
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap_or_else(|e| e.into_inner());
        *now += by.as_secs_f64() * 1000.0;
        drop(now);
        self.moved.notify_waiters();
    }
}

impl Default for VirtualClock {
    fn default() -> Self {
        VirtualClock::new()
    }
}

impl Clock for VirtualClock {
    fn now_ms(&self) -> f64 {
        *self.now.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn sleep_until(
        &self,
        deadline_ms: Option<f64>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            // Registered before the check, so a move between the check and the wait is
            // not missed (`notify_waiters` wakes only registered waiters).
            let moved = self.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            if deadline_ms.is_some_and(|d| d <= self.now_ms()) {
                return;
            }
            moved.await;
        })
    }

    fn as_virtual(&self) -> Option<&VirtualClock> {
        Some(self)
    }
}
