//! Report: every event goes to the consumers, in the order they were added. The ledger's
//! event log (which `gaffer watch` tails) and the [`EventBus`] (which `gaffer run`, the
//! dashboard and `gaffer serve` subscribe to) are the first two; an embedder adds more with
//! `SessionCoordinator::add_consumer`.

use crate::bus::EventBus;
use crate::ledger::Ledger;
use crate::session::lock;
use gaffer_core::event::CoordinatorEvent;
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

/// The ledger's event log.
pub struct LedgerLog(Arc<Mutex<Ledger>>);

impl LedgerLog {
    /// A log in `ledger`.
    pub fn new(ledger: Arc<Mutex<Ledger>>) -> Self {
        LedgerLog(ledger)
    }
}

impl Consumer for LedgerLog {
    fn consume(&self, event: &CoordinatorEvent, origin: Origin) {
        if origin == Origin::Coordinator {
            if let Err(e) = lock(&self.0).record_event(event) {
                tracing::warn!(error = %e, "could not log an event");
            }
        }
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
    consumers: RwLock<Vec<Arc<dyn Consumer>>>,
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
            .push(consumer);
    }

    fn send(&self, event: &CoordinatorEvent, origin: Origin) {
        let consumers = self.consumers.read().unwrap_or_else(|p| p.into_inner());
        for c in consumers.iter() {
            c.consume(event, origin);
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
