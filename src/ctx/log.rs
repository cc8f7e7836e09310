//! What procedures log: `ctx.log(..)`, collected per top-level call into Convex's `logLines`.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

/// At most this many lines are kept per top-level call, as in Convex; one more line says
/// that the rest were dropped.
pub(crate) const MAX_LOG_LINES: usize = 256;

/// At most this many bytes of one message are kept.
const MAX_LINE_BYTES: usize = 32 * 1024;

/// The level of a log line, as Convex's `console` methods set it.
///
/// ```
/// # mod notes {
/// use convoke::{LogLevel, QueryCtx, Result, procedure};
/// # convoke::module!(notes);
///
/// #[procedure(query)]
/// pub async fn count(ctx: &QueryCtx<'_>) -> Result<u64> {
///     ctx.log("counting notes"); // `[LOG] 'counting notes'`
///     ctx.log_at(LogLevel::Warn, "the count is approximate"); // `[WARN] '...'`
///     Ok(3)
/// }
/// # }
/// # fn main() {}
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LogLevel {
    /// `console.debug`: `[DEBUG]`.
    Debug,
    /// `console.info`: `[INFO]`.
    Info,
    /// `console.log`: `[LOG]`.
    Log,
    /// `console.warn`: `[WARN]`.
    Warn,
    /// `console.error`: `[ERROR]`.
    Error,
}

impl LogLevel {
    /// `"DEBUG"`, `"INFO"`, `"LOG"`, `"WARN"` or `"ERROR"`.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Log => "LOG",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

#[derive(Default)]
struct Buffer {
    lines: Vec<String>,
    dropped: bool,
}

impl Buffer {
    fn push(&mut self, line: String) {
        if self.lines.len() < MAX_LOG_LINES {
            self.lines.push(line);
        } else if !self.dropped {
            self.dropped = true;
            self.lines.push(format!(
                "[WARN] 'Log overflow (maximum {MAX_LOG_LINES}). Remaining log lines will be omitted.'"
            ));
        }
    }
}

/// Where the log lines of one call chain go. Shared by nested calls (queries and mutations
/// through their `CallEnv`, actions through their context), so one top-level call collects
/// the lines of every call it makes.
///
/// Disabled sinks (typed entry points such as `rt.query(..)`, where nobody reads the lines)
/// allocate nothing; every line is also emitted as a `tracing` event either way.
#[derive(Clone, Default)]
pub(crate) struct LogLines(Option<Arc<Mutex<Buffer>>>);

impl LogLines {
    /// A sink that keeps nothing (lines still go to `tracing`).
    pub(crate) fn disabled() -> Self {
        LogLines(None)
    }

    /// A sink that keeps lines, for [`take`](LogLines::take).
    pub(crate) fn collecting() -> Self {
        LogLines(Some(Arc::default()))
    }

    /// A sink for one attempt of a mutation: collecting if `self` is, and merged into
    /// `self` with [`absorb`](LogLines::absorb) only if the attempt is the one that counts.
    pub(crate) fn attempt(&self) -> Self {
        match self.0 {
            Some(_) => LogLines::collecting(),
            None => LogLines::disabled(),
        }
    }

    /// Moves the lines of `attempt` into this sink.
    pub(crate) fn absorb(&self, attempt: LogLines) {
        if let (Some(this), Some(_)) = (&self.0, &attempt.0) {
            let lines = attempt.take();
            let mut buffer = this.lock().unwrap_or_else(PoisonError::into_inner);
            for line in lines {
                buffer.push(line);
            }
        }
    }

    /// Records one line: `[LEVEL] 'message'`, as Convex writes `console.log("message")`.
    pub(crate) fn push(&self, level: LogLevel, message: &dyn fmt::Display) {
        let mut text = message.to_string();
        if text.len() > MAX_LINE_BYTES {
            let mut cut = MAX_LINE_BYTES;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text.truncate(cut);
            text.push_str(" (truncated)");
        }
        match level {
            LogLevel::Debug => tracing::debug!(target: "convoke::log", "{text}"),
            LogLevel::Info | LogLevel::Log => tracing::info!(target: "convoke::log", "{text}"),
            LogLevel::Warn => tracing::warn!(target: "convoke::log", "{text}"),
            LogLevel::Error => tracing::error!(target: "convoke::log", "{text}"),
        }
        if let Some(buffer) = &self.0 {
            let line = format!("[{level}] '{text}'");
            buffer
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(line);
        }
    }

    /// Takes the lines recorded so far.
    pub(crate) fn take(&self) -> Vec<String> {
        match &self.0 {
            Some(buffer) => {
                let mut buffer = buffer.lock().unwrap_or_else(PoisonError::into_inner);
                buffer.dropped = false;
                std::mem::take(&mut buffer.lines)
            }
            None => Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_formatted_and_capped() {
        let logs = LogLines::collecting();
        logs.push(LogLevel::Log, &"hello");
        logs.push(LogLevel::Warn, &format_args!("{} left", 3));
        assert_eq!(logs.take(), ["[LOG] 'hello'", "[WARN] '3 left'"]);

        for i in 0..MAX_LOG_LINES + 10 {
            logs.push(LogLevel::Info, &i);
        }
        let lines = logs.take();
        assert_eq!(lines.len(), MAX_LOG_LINES + 1);
        assert!(lines[MAX_LOG_LINES].contains("Log overflow"));
    }

    #[test]
    fn attempts_merge_only_when_absorbed() {
        let logs = LogLines::collecting();
        let failed = logs.attempt();
        failed.push(LogLevel::Log, &"first attempt");
        drop(failed);
        let kept = logs.attempt();
        kept.push(LogLevel::Log, &"second attempt");
        logs.absorb(kept);
        assert_eq!(logs.take(), ["[LOG] 'second attempt'"]);

        let off = LogLines::disabled();
        off.push(LogLevel::Log, &"nobody reads this");
        assert!(off.take().is_empty());
        assert!(off.attempt().take().is_empty());
    }
}
