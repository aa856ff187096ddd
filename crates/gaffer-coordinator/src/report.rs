//! Report: every event goes to the consumers, in the order they were added. The ledger's
//! event log (which `gaffer watch` tails) and the [`EventBus`] (which `gaffer run`, the
//! dashboard and `gaffer serve` subscribe to) are the first two; an embedder adds more with
//! `SessionCoordinator::add_consumer`.

use crate::bus::EventBus;
use crate::ledger::Ledger;
use crate::session::lock;
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Who reported an event first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// This coordinator.
    Coordinator,
    /// An agent's own report (`gaffer done`, `gaffer refuse`), already written to the ledger's
    /// event log by the process that took it.
    Agent,
}

/// A consumer of the coordinator's events. It must not block: it runs on the loop's thread.
pub trait Consumer: Send + Sync {
    /// Takes one event.
    fn consume(&self, event: &CoordinatorEvent, origin: Origin);
}

/// Events kept in memory at most while the ledger cannot be written.
pub const LEDGER_BACKLOG: usize = 10_000;

/// Below this many free bytes the ledger's disk counts as full.
pub const LEDGER_MIN_FREE: u64 = 1 << 20;

/// The ledger's disk counts as having room again from this many free bytes (twice the floor,
/// so a disk hovering at the floor does not flap).
pub const LEDGER_FREE_AGAIN: u64 = 2 * LEDGER_MIN_FREE;

/// How the log reads the free space of the ledger's disk (a test replaces it).
type FreeSpace = Box<dyn Fn(&Ledger) -> Option<u64> + Send + Sync>;

/// The ledger's event log. When the ledger cannot be written (a full disk, an I/O error) the
/// events wait in memory (up to [`LEDGER_BACKLOG`], the oldest dropped and counted beyond) and a
/// `ledger_degraded` event goes to the bus at once; the first write that works again writes
/// what waited, in order, then `ledger_recovered`.
///
/// A full disk is also seen before a write fails: SQLite writes into room its write-ahead log
/// already holds for a while after the disk fills. With less than [`LEDGER_MIN_FREE`] bytes
/// free the ledger is degraded (writes are still tried, and what fails waits in memory) until
/// [`LEDGER_FREE_AGAIN`] bytes are free and writes work.
pub struct LedgerLog {
    ledger: Arc<Mutex<Ledger>>,
    bus: Option<Arc<EventBus>>,
    pending: Mutex<Pending>,
    free_space: FreeSpace,
    /// Stamps `ledger_degraded` / `ledger_recovered` when they are noticed; without it they
    /// take the time of the event being logged.
    clock: Option<Arc<dyn gaffer_core::clock::Clock>>,
}

#[derive(Default)]
struct Pending {
    events: VecDeque<CoordinatorEvent>,
    dropped: u64,
    error: Option<String>,
}

impl LedgerLog {
    /// A log in `ledger`.
    pub fn new(ledger: Arc<Mutex<Ledger>>) -> Self {
        LedgerLog {
            ledger,
            bus: None,
            pending: Mutex::new(Pending::default()),
            free_space: Box::new(Ledger::free_bytes),
            clock: None,
        }
    }

    /// A log in `ledger` that tells `bus` when the ledger fails and recovers.
    pub fn with_bus(ledger: Arc<Mutex<Ledger>>, bus: Arc<EventBus>) -> Self {
        LedgerLog {
            bus: Some(bus),
            ..LedgerLog::new(ledger)
        }
    }

    /// The log with another reading of the disk's free space.
    #[cfg(test)]
    fn with_free_space(
        mut self,
        f: impl Fn(&Ledger) -> Option<u64> + Send + Sync + 'static,
    ) -> Self {
        self.free_space = Box::new(f);
        self
    }

    /// The log, stamping its own events with `clock` (an event being logged may carry the time
    /// its pass began, seconds before the ledger was found full).
    pub fn with_clock(mut self, clock: Arc<dyn gaffer_core::clock::Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Events waiting for the ledger, and those dropped because too many waited.
    pub fn backlog(&self) -> (usize, u64) {
        let p = lock(&self.pending);
        (p.events.len(), p.dropped)
    }

    /// Why the ledger's disk counts as full now, if it does: below the floor, or, while
    /// degraded, not yet back above twice the floor.
    fn disk_full(&self, ledger: &Ledger, degraded: bool) -> Option<String> {
        let free = (self.free_space)(ledger)?;
        let floor = if degraded {
            LEDGER_FREE_AGAIN
        } else {
            LEDGER_MIN_FREE
        };
        (free < floor).then(|| format!("the ledger's disk is full: {free} bytes free"))
    }

    fn publish(&self, event: &CoordinatorEvent) {
        if let Some(bus) = &self.bus {
            bus.publish(event.clone());
        }
    }
}

impl LedgerLog {
    /// Looks at the ledger without an event to log (each poll): a disk that filled is
    /// reported degraded, and one with room again has what waited written and is reported
    /// recovered, even while nothing else happens.
    pub fn check(&self, now: gaffer_core::time::Timestamp) {
        self.step(None, now);
    }

    fn step(&self, event: Option<&CoordinatorEvent>, now: gaffer_core::time::Timestamp) {
        let mut p = lock(&self.pending);
        let mut ledger = lock(&self.ledger);
        let full = self.disk_full(&ledger, p.error.is_some());
        // What waited goes first, in order.
        while let Some(e) = p.events.front() {
            if ledger.record_event(e).is_err() {
                break;
            }
            p.events.pop_front();
        }
        let write_failed = match event {
            _ if !p.events.is_empty() => Some(p.error.clone().unwrap_or_default()),
            Some(event) => ledger.record_event(event).err().map(|e| e.to_string()),
            None => None,
        };
        let written = write_failed.is_none();
        let at = match (&self.clock, event) {
            (Some(c), _) => c.now(),
            (None, Some(e)) => e.timestamp,
            (None, None) => now,
        };
        match write_failed.or(full) {
            None => {
                if let Some(error) = p.error.take() {
                    let recovered =
                        CoordinatorEvent::new(CoordinatorEventType::LedgerRecovered, at)
                            .with_detail("error_was", error)
                            .with_detail("dropped", p.dropped);
                    p.dropped = 0;
                    if let Err(e) = ledger.record_event(&recovered) {
                        tracing::warn!(error = %e, "could not log an event");
                    }
                    self.publish(&recovered);
                    tracing::info!("the ledger is writable again");
                }
            }
            Some(error) => {
                if p.error.is_none() {
                    tracing::warn!(error = %error, "the ledger cannot be written; events wait in memory");
                    let degraded = CoordinatorEvent::new(CoordinatorEventType::LedgerDegraded, at)
                        .with_detail("error", error.clone());
                    self.publish(&degraded);
                    if !written || ledger.record_event(&degraded).is_err() {
                        p.events.push_back(degraded);
                    }
                    p.error = Some(error);
                }
                if let (false, Some(event)) = (written, event) {
                    p.events.push_back(event.clone());
                }
                while p.events.len() > LEDGER_BACKLOG {
                    p.events.pop_front();
                    p.dropped += 1;
                }
            }
        }
    }
}

impl Consumer for LedgerLog {
    fn consume(&self, event: &CoordinatorEvent, origin: Origin) {
        if origin != Origin::Coordinator {
            return;
        }
        self.step(Some(event), event.timestamp);
    }
}

impl Consumer for EventBus {
    fn consume(&self, event: &CoordinatorEvent, _origin: Origin) {
        self.publish(event.clone());
    }
}

/// Hands events to the consumers.
#[derive(Default)]
pub struct Reporter {
    /// Each consumer, and whether it is local to this process (the bus): a following
    /// coordinator's events reach only those ([`crate::follow`]).
    consumers: RwLock<Vec<(Arc<dyn Consumer>, bool)>>,
    following: AtomicBool,
}

impl Reporter {
    /// A reporter without consumers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a consumer after the others.
    pub fn add(&self, consumer: Arc<dyn Consumer>) {
        self.consumers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((consumer, false));
    }

    /// Adds a consumer local to this process (the bus of its views), which gets the events
    /// even while the coordinator follows another.
    pub fn add_local(&self, consumer: Arc<dyn Consumer>) {
        self.consumers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push((consumer, true));
    }

    /// While following, events reach only the local consumers.
    pub fn set_following(&self, following: bool) {
        self.following.store(following, Ordering::SeqCst);
    }

    fn send(&self, event: &CoordinatorEvent, origin: Origin) {
        let following = self.following.load(Ordering::SeqCst);
        let consumers = self.consumers.read().unwrap_or_else(|p| p.into_inner());
        for (c, local) in consumers.iter() {
            if *local || !following {
                c.consume(event, origin);
            }
        }
    }

    /// An event of this coordinator.
    pub fn report(&self, event: &CoordinatorEvent) {
        self.send(event, Origin::Coordinator);
    }

    /// An event an agent reported first.
    pub fn announce(&self, event: &CoordinatorEvent) {
        self.send(event, Origin::Agent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gaffer_core::time::Timestamp;

    fn at(s: i64) -> Timestamp {
        chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap_or_default()
    }

    fn ev(i: i64) -> CoordinatorEvent {
        CoordinatorEvent::new(CoordinatorEventType::AgentIdle, at(i)).with_detail("n", i)
    }

    #[test]
    fn a_full_ledger_keeps_events_in_memory_and_writes_them_when_it_recovers() {
        let ledger = Ledger::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let bus = Arc::new(EventBus::new());
        let rx = bus.subscribe_with(1000);
        let shared = Arc::new(Mutex::new(ledger));
        let log = LedgerLog::with_bus(Arc::clone(&shared), Arc::clone(&bus));
        log.consume(&ev(0), Origin::Coordinator);
        // Fill the database to its cap: every page in use, so the next event fails.
        let pages = lock(&shared).page_count().unwrap_or(0);
        lock(&shared).limit_pages(pages).unwrap_or(0);
        let mut i = 1;
        while log.backlog().0 == 0 && i < 10_000 {
            log.consume(&ev(i), Origin::Coordinator);
            i += 1;
        }
        let first_failed = i - 1;
        assert!(
            log.backlog().0 >= 2,
            "the failure is noticed: {:?}",
            log.backlog()
        );
        let degraded: Vec<_> = rx.try_iter().collect();
        assert_eq!(
            degraded.len(),
            1,
            "one ledger_degraded on the bus: {degraded:?}"
        );
        assert_eq!(degraded[0].event_type, CoordinatorEventType::LedgerDegraded);
        for j in 0..50 {
            log.consume(&ev(first_failed + 1 + j), Origin::Coordinator);
        }
        assert_eq!(rx.try_iter().count(), 0, "degraded is said once");
        // Room again: the next event writes what waited, in order, then ledger_recovered.
        lock(&shared).limit_pages(1 << 30).unwrap_or(0);
        let last = first_failed + 51;
        log.consume(&ev(last), Origin::Coordinator);
        assert_eq!(log.backlog(), (0, 0));
        let recovered: Vec<_> = rx.try_iter().collect();
        assert_eq!(recovered.len(), 1);
        assert_eq!(
            recovered[0].event_type,
            CoordinatorEventType::LedgerRecovered
        );
        let (events, _) = lock(&shared).events_since(0).unwrap_or_default();
        let idle: Vec<i64> = events
            .iter()
            .filter(|(_, e)| e.event_type == CoordinatorEventType::AgentIdle)
            .filter_map(|(_, e)| e.details.get("n").and_then(|v| v.as_i64()))
            .collect();
        let want: Vec<i64> = (0..=last).collect();
        assert_eq!(idle, want, "nothing lost, nothing reordered");
        let kinds: Vec<&str> = events.iter().map(|(_, e)| e.event_type.as_str()).collect();
        assert!(kinds.contains(&"ledger_degraded") && kinds.contains(&"ledger_recovered"));
    }

    #[test]
    fn a_full_disk_is_degraded_while_sqlite_still_writes_into_its_own_room() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let ledger = Ledger::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let bus = Arc::new(EventBus::new());
        let rx = bus.subscribe_with(1000);
        let shared = Arc::new(Mutex::new(ledger));
        let free = Arc::new(AtomicU64::new(10 << 20));
        let probe = Arc::clone(&free);
        let log = LedgerLog::with_bus(Arc::clone(&shared), Arc::clone(&bus))
            .with_free_space(move |_| Some(probe.load(Ordering::SeqCst)));
        let kinds = |rx: &std::sync::mpsc::Receiver<CoordinatorEvent>| -> Vec<String> {
            rx.try_iter()
                .map(|e| e.event_type.as_str().to_string())
                .collect()
        };
        log.consume(&ev(0), Origin::Coordinator);
        assert!(kinds(&rx).is_empty());
        // A poll's check alone, with nothing else to log, sees the disk fill and empty.
        free.store(0, Ordering::SeqCst);
        log.check(at(0));
        assert_eq!(kinds(&rx), ["ledger_degraded"]);
        log.check(at(0));
        assert!(kinds(&rx).is_empty(), "said once");
        free.store(10 << 20, Ordering::SeqCst);
        log.check(at(0));
        assert_eq!(kinds(&rx), ["ledger_recovered"]);
        // The disk fills; the writes themselves still work (SQLite's own room).
        free.store(0, Ordering::SeqCst);
        log.consume(&ev(1), Origin::Coordinator);
        assert_eq!(kinds(&rx), ["ledger_degraded"]);
        log.consume(&ev(2), Origin::Coordinator);
        // Just above the floor is not room again yet: no flapping.
        free.store(LEDGER_MIN_FREE + 1, Ordering::SeqCst);
        log.consume(&ev(3), Origin::Coordinator);
        assert!(
            kinds(&rx).is_empty(),
            "degraded is said once, no early recovery"
        );
        assert_eq!(
            log.backlog(),
            (0, 0),
            "the writes that worked were not held back"
        );
        free.store(LEDGER_FREE_AGAIN, Ordering::SeqCst);
        log.consume(&ev(4), Origin::Coordinator);
        assert_eq!(kinds(&rx), ["ledger_recovered"]);
        let (events, _) = lock(&shared).events_since(0).unwrap_or_default();
        let logged: Vec<String> = events
            .iter()
            .map(|(_, e)| match e.details.get("n").and_then(|v| v.as_i64()) {
                Some(n) => format!("{n}"),
                None => e.event_type.as_str().to_string(),
            })
            .collect();
        assert_eq!(
            logged,
            [
                "0",
                "ledger_degraded",
                "ledger_recovered",
                "1",
                "ledger_degraded",
                "2",
                "3",
                "4",
                "ledger_recovered"
            ],
            "everything in the ledger, in order"
        );
        let degraded = &events[4].1;
        assert!(
            degraded.details["error"]
                .as_str()
                .is_some_and(|s| s.contains("disk is full: 0 bytes free")),
            "{degraded:?}"
        );
    }

    #[test]
    fn the_ledger_s_own_events_are_stamped_when_noticed_not_with_the_event_being_logged() {
        struct At(Timestamp);
        impl gaffer_core::clock::Clock for At {
            fn now(&self) -> Timestamp {
                self.0
            }
        }
        let ledger = Ledger::open_in_memory().unwrap_or_else(|e| panic!("{e}"));
        let bus = Arc::new(EventBus::new());
        let rx = bus.subscribe_with(10);
        let log = LedgerLog::with_bus(Arc::new(Mutex::new(ledger)), Arc::clone(&bus))
            .with_free_space(|_| Some(0))
            .with_clock(Arc::new(At(at(30))));
        // An event of a pass that began at 0, logged once the disk is full, at 30.
        log.consume(&ev(0), Origin::Coordinator);
        let got: Vec<CoordinatorEvent> = rx.try_iter().collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0].event_type, CoordinatorEventType::LedgerDegraded);
        assert_eq!(got[0].timestamp, at(30));
    }
}
