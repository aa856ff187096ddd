//! The one foreground loop helper: a command that runs until Ctrl-C or its `--exit-after`
//! deadline (`run`, `serve`, `dashboard`, `demo`, `watch`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The process's Ctrl-C flag; the handler is installed once, on first use.
fn interrupt_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let f = flag.clone();
        if let Err(e) = ctrlc::set_handler(move || f.store(true, Ordering::SeqCst)) {
            tracing::warn!("cannot catch Ctrl-C: {e}");
        }
        flag
    })
    .clone()
}

/// A foreground run: started now, stopped by Ctrl-C or when its deadline passes.
#[derive(Debug, Clone)]
pub struct Foreground {
    stop: Arc<AtomicBool>,
    started: Instant,
    deadline: Option<Instant>,
}

/// How often a pause looks at the flag and the deadline.
const TICK: Duration = Duration::from_millis(50);

impl Foreground {
    /// Catches Ctrl-C and starts the clock; `exit_after` (seconds) sets the deadline.
    pub fn start(exit_after: Option<u64>) -> Self {
        Self::with_flag(interrupt_flag(), exit_after.map(Duration::from_secs))
    }

    /// A run stopped by `stop` (rather than Ctrl-C) or after `limit`.
    pub fn with_flag(stop: Arc<AtomicBool>, limit: Option<Duration>) -> Self {
        let started = Instant::now();
        Foreground {
            stop,
            started,
            deadline: limit.map(|l| started + l),
        }
    }

    /// Ctrl-C was pressed.
    pub fn interrupted(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// The deadline has passed.
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Interrupted or expired: time to stop.
    pub fn done(&self) -> bool {
        self.interrupted() || self.expired()
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Sleeps `d`, waking early when the run is [`done`](Self::done); says whether it goes on.
    pub fn pause(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.done() {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep(TICK.min(end - now));
        }
    }

    /// Waits up to `d` for the next item of `rx`; `None` on timeout, when the run is done, or
    /// when the sender is gone (then [`closed`](Recv::Closed)).
    pub fn recv<T>(&self, rx: &std::sync::mpsc::Receiver<T>, d: Duration) -> Recv<T> {
        if self.done() {
            return Recv::Done;
        }
        match rx.recv_timeout(d) {
            Ok(v) => Recv::Item(v),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Recv::Idle,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => Recv::Closed,
        }
    }
}

/// What [`Foreground::recv`] got.
#[derive(Debug, PartialEq, Eq)]
pub enum Recv<T> {
    /// An item.
    Item(T),
    /// Nothing within the wait.
    Idle,
    /// The run is done (Ctrl-C or the deadline).
    Done,
    /// The sender is gone.
    Closed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deadline_ends_a_pause_early() {
        let fg = Foreground::with_flag(Arc::new(AtomicBool::new(false)), Some(Duration::ZERO));
        let t = Instant::now();
        assert!(fg.expired() && fg.done() && !fg.interrupted());
        assert!(!fg.pause(Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn the_flag_stops_and_a_pause_otherwise_runs_its_course() {
        let flag = Arc::new(AtomicBool::new(false));
        let fg = Foreground::with_flag(flag.clone(), None);
        let t = Instant::now();
        assert!(fg.pause(Duration::from_millis(120)));
        assert!(t.elapsed() >= Duration::from_millis(120));
        let (tx, rx) = std::sync::mpsc::channel();
        tx.send(7).unwrap();
        assert_eq!(fg.recv(&rx, Duration::from_millis(10)), Recv::Item(7));
        assert_eq!(fg.recv(&rx, Duration::from_millis(10)), Recv::Idle);
        flag.store(true, Ordering::SeqCst);
        assert!(fg.interrupted() && !fg.expired());
        assert!(!fg.pause(Duration::from_secs(5)));
        assert_eq!(fg.recv(&rx, Duration::from_millis(10)), Recv::Done);
        drop(tx);
        let open = Foreground::with_flag(Arc::new(AtomicBool::new(false)), None);
        assert_eq!(open.recv(&rx, Duration::from_millis(10)), Recv::Closed);
    }
}
