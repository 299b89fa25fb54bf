//! The runtime's `tracing` output, held for Godot's console: a small
//! subscriber that keeps warnings and errors (and, when asked, info) from
//! every thread in a bounded queue, which `HordeNode` empties into
//! `push_warning` / `push_error` / `print` on the main thread each frame —
//! Godot's own output functions are called from nowhere else.
//!
//! No Godot type lives here, so it is tested with `cargo test`.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// How many lines wait for the main thread at most; older ones are dropped
/// (and counted) so a game that never processes a node cannot grow it.
pub const CAPACITY: usize = 256;

/// One line for the console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// `Level::ERROR`, `WARN` or `INFO`.
    pub level: Level,
    /// `target: message key=value …`, as a reader of the output panel
    /// wants it.
    pub text: String,
}

/// The queue the subscriber fills and the node drains.
#[derive(Debug, Default)]
pub struct LogQueue {
    lines: Mutex<VecDeque<LogLine>>,
    dropped: AtomicUsize,
}

impl LogQueue {
    /// Adds a line, dropping the oldest when full.
    pub fn push(&self, line: LogLine) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.len() == CAPACITY {
            lines.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        lines.push_back(line);
    }

    /// Takes every waiting line, and how many were dropped since the last
    /// drain. Never blocks for long: the lock is held for a swap.
    pub fn drain(&self) -> (Vec<LogLine>, usize) {
        let mut lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if lines.is_empty() {
            return (Vec::new(), self.dropped.swap(0, Ordering::Relaxed));
        }
        let taken = std::mem::take(&mut *lines).into();
        (taken, self.dropped.swap(0, Ordering::Relaxed))
    }
}

/// The subscriber: events at or above `level` go to `queue`; spans are
/// not kept (the runtime's messages carry their context in fields).
#[derive(Debug)]
pub struct ConsoleSubscriber {
    queue: &'static LogQueue,
    level: Level,
    next_span: AtomicU64,
}

impl ConsoleSubscriber {
    /// Events at `level` and above (`WARN` keeps warnings and errors).
    pub fn new(queue: &'static LogQueue, level: Level) -> Self {
        Self {
            queue,
            level,
            next_span: AtomicU64::new(1),
        }
    }
}

struct Text(String);

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, " {value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
    }
}

impl Subscriber for ConsoleSubscriber {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Level's order: ERROR < WARN < INFO < DEBUG < TRACE.
        *metadata.level() <= self.level
    }

    fn new_span(&self, _span: &Attributes<'_>) -> Id {
        Id::from_u64(self.next_span.fetch_add(1, Ordering::Relaxed))
    }

    fn record(&self, _span: &Id, _values: &Record<'_>) {}

    fn record_follows_from(&self, _span: &Id, _follows: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let meta = event.metadata();
        let mut text = Text(meta.target().to_owned() + ":");
        event.record(&mut text);
        self.queue.push(LogLine {
            level: *meta.level(),
            text: text.0,
        });
    }

    fn enter(&self, _span: &Id) {}

    fn exit(&self, _span: &Id) {}
}

static QUEUE: OnceLock<&'static LogQueue> = OnceLock::new();

/// The process's queue, with the subscriber installed the first time it is
/// asked for. When the process already has a global subscriber (another
/// Rust library of the game set one), that one keeps the logs and the
/// queue stays empty.
pub fn console() -> &'static LogQueue {
    QUEUE.get_or_init(|| {
        let queue: &'static LogQueue = Box::leak(Box::default());
        let _ = tracing::subscriber::set_global_default(ConsoleSubscriber::new(queue, Level::WARN));
        queue
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn subscriber() -> (&'static LogQueue, ConsoleSubscriber) {
        let queue: &'static LogQueue = Box::leak(Box::default());
        (queue, ConsoleSubscriber::new(queue, Level::WARN))
    }

    #[test]
    fn warnings_and_errors_are_kept_with_their_fields_and_info_is_not() {
        let (queue, sub) = subscriber();
        tracing::subscriber::with_default(sub, || {
            tracing::info!("not shown");
            tracing::warn!(id = 7, "horde unreachable");
            tracing::error!(target: "horde_core::worker", "pop failed: {}", "refused");
        });
        let (lines, dropped) = queue.drain();
        assert_eq!(dropped, 0);
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0].level, Level::WARN);
        assert!(
            lines[0].text.contains("horde unreachable") && lines[0].text.contains("id=7"),
            "{:?}",
            lines[0]
        );
        assert_eq!(lines[1].level, Level::ERROR);
        assert_eq!(lines[1].text, "horde_core::worker: pop failed: refused");
        assert!(queue.drain().0.is_empty(), "drained once");
    }

    #[test]
    fn a_queue_nobody_drains_stays_bounded_and_counts_what_it_dropped() {
        let (queue, sub) = subscriber();
        tracing::subscriber::with_default(sub, || {
            for i in 0..CAPACITY + 10 {
                tracing::warn!("line {i}");
            }
        });
        let (lines, dropped) = queue.drain();
        assert_eq!(lines.len(), CAPACITY);
        assert_eq!(dropped, 10);
        assert!(lines[0].text.ends_with("line 10"), "{:?}", lines[0]);
    }

    #[test]
    fn lines_from_other_threads_arrive() {
        let (queue, sub) = subscriber();
        let dispatch = tracing::Dispatch::new(sub);
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                tracing::warn!("from a runtime thread")
            });
        })
        .join()
        .unwrap();
        assert_eq!(queue.drain().0.len(), 1);
    }
}
