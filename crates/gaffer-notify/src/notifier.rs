//! The consumer: `consume` queues the event (bounded; never blocks the coordinator's loop), and
//! the notifier's thread runs the rule engine on the clock and fans notifications out to every
//! channel's [`Outbox`].

use crate::outbox::{Outbox, OutboxStats};
use gaffer_coordinator::{Consumer, Origin};
use gaffer_core::agent::AgentState;
use gaffer_core::clock::Clock;
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::notify::{Engine, Stats};
use gaffer_core::status::AgentStatus;
use gaffer_core::transitions::state_change_event;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Events waiting for the notifier's thread at most; more are dropped and counted.
pub const EVENT_QUEUE: usize = 1024;

/// How often the engine's clock advances without events (BLOCKED thresholds, held
/// notifications, the end of quiet hours).
pub const TICK: Duration = Duration::from_millis(250);

/// What the notifier did, counted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NotifierStats {
    /// The engine's counts.
    pub engine: Stats,
    /// Events dropped because the notifier's queue was full.
    pub events_dropped: u64,
    /// Each channel's counts, by name.
    pub channels: Vec<(String, OutboxStats)>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

enum Msg {
    Event(CoordinatorEvent),
    /// An agent's state as found at start.
    Seed(CoordinatorEvent),
}

/// Notifications for the human, as an event consumer.
pub struct Notifier {
    tx: SyncSender<Msg>,
    dropped: AtomicU64,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<NotifierStats>>,
    thread: Mutex<Option<JoinHandle<Vec<Outbox>>>>,
}

impl Notifier {
    /// Starts the engine's thread over `outboxes`, on `clock`.
    pub fn start(engine: Engine, outboxes: Vec<Outbox>, clock: Arc<dyn Clock>) -> Arc<Notifier> {
        let (tx, rx) = sync_channel(EVENT_QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(Mutex::new(NotifierStats::default()));
        let run = Run {
            engine,
            outboxes,
            clock,
            stop: Arc::clone(&stop),
            stats: Arc::clone(&stats),
        };
        let thread = std::thread::Builder::new()
            .name("gaffer-notify".into())
            .spawn(move || run.run(rx))
            .map_err(|e| tracing::warn!(error = %e, "cannot start the notifier's thread"))
            .ok();
        Arc::new(Notifier {
            tx,
            dropped: AtomicU64::new(0),
            stop,
            stats,
            thread: Mutex::new(thread),
        })
    }

    /// The agents as the coordinator found them at start (it reports changes only, so an agent
    /// already BLOCKED or in ERROR then would never notify). Call it after `start`; a state an
    /// event has told since is newer and wins.
    pub fn seed<'a>(&self, agents: impl IntoIterator<Item = &'a AgentState>) {
        let now = chrono::Utc::now();
        for a in agents {
            if let Some(e) = state_change_event(AgentStatus::Unknown, a, now) {
                if self.tx.try_send(Msg::Seed(e)).is_err() {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// What it did so far.
    pub fn stats(&self) -> NotifierStats {
        let mut s = lock(&self.stats).clone();
        s.events_dropped = self.dropped.load(Ordering::Relaxed);
        s
    }

    /// Stops the engine's thread, then each channel (waiting up to `grace` for each); returns
    /// the final counts. Events after this are ignored.
    pub fn stop(&self, grace: Duration) -> NotifierStats {
        self.stop.store(true, Ordering::SeqCst);
        let handle = lock(&self.thread).take();
        if let Some(h) = handle {
            if let Ok(outboxes) = h.join() {
                let channels = outboxes
                    .into_iter()
                    .map(|o| (o.name().to_string(), o.stop(grace)))
                    .collect();
                lock(&self.stats).channels = channels;
            }
        }
        self.stats()
    }
}

impl Consumer for Notifier {
    fn consume(&self, event: &CoordinatorEvent, _origin: Origin) {
        if self.stop.load(Ordering::Relaxed) {
            return;
        }
        if self.tx.try_send(Msg::Event(event.clone())).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

struct Run {
    engine: Engine,
    outboxes: Vec<Outbox>,
    clock: Arc<dyn Clock>,
    stop: Arc<AtomicBool>,
    stats: Arc<Mutex<NotifierStats>>,
}

impl Run {
    fn run(mut self, rx: Receiver<Msg>) -> Vec<Outbox> {
        let mut last_tick = self.clock.now();
        while !self.stop.load(Ordering::SeqCst) {
            let out = match rx.recv_timeout(TICK) {
                Ok(Msg::Event(e)) => self.engine.on_event(&e, self.clock.now()),
                Ok(Msg::Seed(e)) => self.engine.seed(&e, self.clock.now()),
                Err(RecvTimeoutError::Timeout) => Vec::new(),
                Err(RecvTimeoutError::Disconnected) => break,
            };
            self.fan_out(out);
            let now = self.clock.now();
            if now - last_tick >= chrono::TimeDelta::milliseconds(TICK.as_millis() as i64) {
                last_tick = now;
                let out = self.engine.tick(now);
                self.fan_out(out);
            }
            let mut s = lock(&self.stats);
            s.engine = self.engine.stats();
            s.channels = self
                .outboxes
                .iter()
                .map(|o| (o.name().to_string(), o.stats()))
                .collect();
        }
        self.outboxes
    }

    fn fan_out(&self, notes: Vec<gaffer_core::notify::Notification>) {
        for n in notes {
            tracing::info!(kind = %n.kind, agent = %n.agent_id, title = %n.title, "notification");
            for o in &self.outboxes {
                if !o.offer(n.clone()) {
                    tracing::warn!(channel = %o.name(), "notification queue full; one dropped");
                }
            }
        }
    }
}
