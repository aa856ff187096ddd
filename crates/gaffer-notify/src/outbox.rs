//! One channel's delivery: a thread with a bounded queue. `offer` never blocks (a full queue
//! drops the notification and counts it). A transient failure is tried again after a back-off
//! that doubles, up to [`RetryPolicy::tries`]; a notification whose tries are spent, or that
//! fails for good, marks the channel down: one `notify_failed` event, and while it is down each
//! notification gets a single try, so a dead endpoint cannot hold the queue. The first delivery
//! that works again is one `notify_recovered` event. A missing tool turns the channel off.

use crate::Sink;
use crate::channel::{Channel, SendError};
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::notify::Notification;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How a failed notification is tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Tries in all (at least 1).
    pub tries: u32,
    /// The wait after the first failed try; it doubles after each further one.
    pub backoff: Duration,
    /// The longest wait.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// One try, no retry.
    pub fn once() -> RetryPolicy {
        RetryPolicy {
            tries: 1,
            backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        }
    }

    /// The wait after failed try number `attempt` (1-based).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(16);
        self.backoff.saturating_mul(factor).min(self.max_backoff)
    }
}

/// What an outbox did, counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Notifications delivered.
    pub delivered: u64,
    /// Notifications given up (tries spent, refused, or the channel off).
    pub failed: u64,
    /// Notifications dropped because the queue was full.
    pub dropped: u64,
    /// Calls to the channel.
    pub tries: u64,
}

struct Shared {
    stats: Mutex<OutboxStats>,
    stop: Mutex<bool>,
    wake: Condvar,
    pending: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// A channel on its own thread.
pub struct Outbox {
    name: String,
    tx: Option<SyncSender<Notification>>,
    shared: Arc<Shared>,
    done: Receiver<()>,
    thread: Option<JoinHandle<()>>,
}

impl Outbox {
    /// Starts `channel` on a thread with a queue of `capacity`; its down and up events go to
    /// `sink`.
    pub fn start(
        channel: Box<dyn Channel>,
        retry: RetryPolicy,
        capacity: usize,
        sink: Sink,
    ) -> Outbox {
        let name = channel.name().to_string();
        let (tx, rx) = sync_channel(capacity.max(1));
        let (done_tx, done) = sync_channel(1);
        let shared = Arc::new(Shared {
            stats: Mutex::new(OutboxStats::default()),
            stop: Mutex::new(false),
            wake: Condvar::new(),
            pending: AtomicUsize::new(0),
        });
        let worker = Worker {
            channel,
            retry,
            sink,
            shared: Arc::clone(&shared),
            down: None,
            off: false,
            lost: 0,
        };
        let thread = std::thread::Builder::new()
            .name(format!("gaffer-notify-{name}"))
            .spawn(move || {
                worker.run(rx);
                let _ = done_tx.send(());
            })
            .map_err(|e| {
                tracing::warn!(channel = %name, error = %e, "cannot start the notification thread")
            })
            .ok();
        Outbox {
            name,
            tx: Some(tx),
            shared,
            done,
            thread,
        }
    }

    /// The channel's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Queues a notification; never blocks. `false` when the queue is full (it is dropped and
    /// counted) or the outbox is stopped.
    pub fn offer(&self, n: Notification) -> bool {
        let Some(tx) = &self.tx else { return false };
        self.shared.pending.fetch_add(1, Ordering::SeqCst);
        match tx.try_send(n) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.shared.pending.fetch_sub(1, Ordering::SeqCst);
                lock(&self.shared.stats).dropped += 1;
                false
            }
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> OutboxStats {
        *lock(&self.shared.stats)
    }

    /// Waits until everything queued has been handled, at most `within`; whether it was.
    pub fn flush(&self, within: Duration) -> bool {
        let end = Instant::now() + within;
        while self.shared.pending.load(Ordering::SeqCst) > 0 {
            if Instant::now() >= end {
                return false;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        true
    }

    /// Stops: back-off waits end at once and what is still queued gets one try each; waits up
    /// to `grace` for the thread (a try in flight ends by its channel's own timeout).
    pub fn stop(mut self, grace: Duration) -> OutboxStats {
        *lock(&self.shared.stop) = true;
        self.shared.wake.notify_all();
        self.tx = None;
        if self.done.recv_timeout(grace).is_ok() {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        } else {
            tracing::warn!(channel = %self.name, "a notification was still being sent at shutdown");
        }
        self.stats()
    }
}

struct Worker {
    channel: Box<dyn Channel>,
    retry: RetryPolicy,
    sink: Sink,
    shared: Arc<Shared>,
    /// The error that made the channel down, while it is.
    down: Option<String>,
    /// The tool is missing: nothing more is tried.
    off: bool,
    /// Notifications lost while down.
    lost: u64,
}

impl Worker {
    fn run(mut self, rx: Receiver<Notification>) {
        while let Ok(n) = rx.recv() {
            self.handle(&n);
            self.shared.pending.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn stopping(&self) -> bool {
        *lock(&self.shared.stop)
    }

    /// Sleeps `d` unless stopped first; whether it was stopped.
    fn pause(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        let mut stop = lock(&self.shared.stop);
        while !*stop {
            let now = Instant::now();
            if now >= end {
                return false;
            }
            stop = self
                .shared
                .wake
                .wait_timeout(stop, end - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        true
    }

    fn handle(&mut self, n: &Notification) {
        if self.off {
            lock(&self.shared.stats).failed += 1;
            return;
        }
        let tries = if self.down.is_some() || self.stopping() {
            1
        } else {
            self.retry.tries.max(1)
        };
        let mut result = Ok(());
        for attempt in 1..=tries {
            lock(&self.shared.stats).tries += 1;
            result = self.channel.send(n);
            match &result {
                Err(SendError::Transient(e)) if attempt < tries => {
                    let wait = self.retry.delay(attempt);
                    tracing::debug!(channel = %self.channel.name(), error = %e, attempt, ?wait, "notification failed; trying again");
                    if self.pause(wait) {
                        break;
                    }
                }
                _ => break,
            }
        }
        match result {
            Ok(()) => {
                lock(&self.shared.stats).delivered += 1;
                if let Some(was) = self.down.take() {
                    tracing::info!(channel = %self.channel.name(), "notifications go out again");
                    let e = self
                        .event(CoordinatorEventType::NotifyRecovered)
                        .with_detail("error_was", was)
                        .with_detail("lost", self.lost);
                    self.lost = 0;
                    (self.sink)(e);
                }
            }
            Err(err) => {
                lock(&self.shared.stats).failed += 1;
                if matches!(err, SendError::Missing(_)) {
                    self.off = true;
                }
                if self.down.is_some() {
                    self.lost += 1;
                    return;
                }
                tracing::warn!(channel = %self.channel.name(), error = %err, tries, "a notification channel is down");
                let e = self
                    .event(CoordinatorEventType::NotifyFailed)
                    .with_detail("error", err.to_string())
                    .with_detail("tries", tries)
                    .with_detail("kind", n.kind.clone())
                    .with_detail("off", self.off);
                self.down = Some(err.to_string());
                self.lost = 1;
                (self.sink)(e);
            }
        }
    }

    fn event(&self, t: CoordinatorEventType) -> CoordinatorEvent {
        CoordinatorEvent::new(t, chrono::Utc::now()).with_detail("channel", self.channel.name())
    }
}
