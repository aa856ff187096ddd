//! The event bus: every consumer (CLI stream, dashboard, ledger, tests) subscribes to one
//! stream of [`CoordinatorEvent`]s. Publishing never blocks: a subscriber whose queue is full
//! loses the event, and the loss is counted (the reference dropped events silently).

use gaffer_core::event::CoordinatorEvent;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

/// Default queue length of a subscriber (the reference's channel held 100).
pub const DEFAULT_CAPACITY: usize = 1000;

/// A broadcast bus.
#[derive(Clone, Default)]
pub struct EventBus {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    subscribers: Mutex<Vec<SyncSender<CoordinatorEvent>>>,
    dropped: AtomicU64,
    published: AtomicU64,
}

impl EventBus {
    /// An empty bus.
    pub fn new() -> Self {
        EventBus::default()
    }

    /// A new subscriber with a queue of `capacity` events.
    pub fn subscribe_with(&self, capacity: usize) -> Receiver<CoordinatorEvent> {
        let (tx, rx) = sync_channel(capacity.max(1));
        if let Ok(mut subs) = self.inner.subscribers.lock() {
            subs.push(tx);
        }
        rx
    }

    /// A new subscriber with the default queue.
    pub fn subscribe(&self) -> Receiver<CoordinatorEvent> {
        self.subscribe_with(DEFAULT_CAPACITY)
    }

    /// Publishes to every subscriber without blocking; gone subscribers are removed.
    pub fn publish(&self, event: CoordinatorEvent) {
        self.inner.published.fetch_add(1, Ordering::Relaxed);
        let Ok(mut subs) = self.inner.subscribers.lock() else {
            return;
        };
        subs.retain(|tx| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.inner.dropped.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
    }

    /// Events lost to full subscriber queues.
    pub fn dropped(&self) -> u64 {
        self.inner.dropped.load(Ordering::Relaxed)
    }

    /// Events published.
    pub fn published(&self) -> u64 {
        self.inner.published.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gaffer_core::event::CoordinatorEventType;
    use gaffer_core::time::parse_rfc3339;

    fn ev() -> CoordinatorEvent {
        CoordinatorEvent::new(
            CoordinatorEventType::AgentIdle,
            parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
        )
    }

    #[test]
    fn fan_out_and_counted_drops() {
        let bus = EventBus::new();
        let a = bus.subscribe_with(2);
        let b = bus.subscribe_with(10);
        for _ in 0..5 {
            bus.publish(ev());
        }
        assert_eq!(a.try_iter().count(), 2);
        assert_eq!(b.try_iter().count(), 5);
        assert_eq!(bus.dropped(), 3);
        drop(a);
        bus.publish(ev());
        assert_eq!(b.try_iter().count(), 1);
        assert_eq!(bus.published(), 6);
    }
}
