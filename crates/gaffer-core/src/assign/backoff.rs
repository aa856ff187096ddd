//! Consent and back-off: an agent that refused a task, stalled on it, or could not receive it
//! waits before it is offered that task again — exponentially longer each time, up to a cap.

use crate::time::Timestamp;
use chrono::Duration as ChronoDuration;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// Why a pair backs off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackoffReason {
    /// The agent declined the task.
    Refused,
    /// The agent stopped working on it without finishing.
    Stalled,
    /// The prompt could not be delivered.
    DeliveryFailed,
    /// The task was taken back from the agent (stuck stalled, blocked or rate-limited).
    TakenBack,
}

/// The back-off state of one agent–task pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackoffEntry {
    /// Failures so far.
    pub failures: u32,
    /// Not offered again before this instant.
    #[serde(with = "crate::time::rfc3339")]
    pub until: Timestamp,
    /// The last reason.
    pub reason: BackoffReason,
}

/// Back-off per (agent key, bead id).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackoffBook {
    /// Base delay after the first failure.
    pub base: Duration,
    /// Longest delay.
    pub cap: Duration,
    entries: BTreeMap<(String, String), BackoffEntry>,
}

impl BackoffBook {
    /// A book with the given base delay and cap.
    pub fn new(base: Duration, cap: Duration) -> Self {
        BackoffBook {
            base,
            cap,
            entries: BTreeMap::new(),
        }
    }

    /// Records a failure and returns the new back-off end: base × 2^(failures−1), capped.
    pub fn record(
        &mut self,
        agent: &str,
        bead: &str,
        reason: BackoffReason,
        now: Timestamp,
    ) -> Timestamp {
        let key = (agent.to_string(), bead.to_string());
        let failures = self
            .entries
            .get(&key)
            .map(|e| e.failures)
            .unwrap_or(0)
            .saturating_add(1);
        let delay = self.delay_for(failures);
        let until = now + ChronoDuration::from_std(delay).unwrap_or(ChronoDuration::MAX);
        self.entries.insert(
            key,
            BackoffEntry {
                failures,
                until,
                reason,
            },
        );
        until
    }

    /// The delay after `failures` failures.
    pub fn delay_for(&self, failures: u32) -> Duration {
        let shift = failures.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << shift).min(self.cap)
    }

    /// Whether the pair is still backing off at `now`.
    pub fn is_backing_off(&self, agent: &str, bead: &str, now: Timestamp) -> bool {
        self.entries
            .get(&(agent.to_string(), bead.to_string()))
            .is_some_and(|e| now < e.until)
    }

    /// The entry of a pair.
    pub fn entry(&self, agent: &str, bead: &str) -> Option<&BackoffEntry> {
        self.entries.get(&(agent.to_string(), bead.to_string()))
    }

    /// Forgets a pair (the task was finished by anyone).
    pub fn clear_bead(&mut self, bead: &str) {
        self.entries.retain(|(_, b), _| b != bead);
    }

    /// Restores an entry (from the ledger).
    pub fn restore(&mut self, agent: &str, bead: &str, entry: BackoffEntry) {
        self.entries
            .insert((agent.to_string(), bead.to_string()), entry);
    }

    /// Every entry.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &str, &BackoffEntry)> {
        self.entries
            .iter()
            .map(|((a, b), e)| (a.as_str(), b.as_str(), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    #[test]
    fn exponential_with_cap() {
        let mut book = BackoffBook::new(Duration::from_secs(60), Duration::from_secs(600));
        let t0 = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let u1 = book.record("%1", "b", BackoffReason::Refused, t0);
        assert_eq!((u1 - t0).num_seconds(), 60);
        let u2 = book.record("%1", "b", BackoffReason::Stalled, t0);
        assert_eq!((u2 - t0).num_seconds(), 120);
        book.record("%1", "b", BackoffReason::Stalled, t0);
        let u4 = book.record("%1", "b", BackoffReason::Stalled, t0);
        assert_eq!((u4 - t0).num_seconds(), 480);
        let u5 = book.record("%1", "b", BackoffReason::DeliveryFailed, t0);
        assert_eq!((u5 - t0).num_seconds(), 600, "capped");
        for _ in 0..100 {
            book.record("%1", "b", BackoffReason::Stalled, t0);
        }
        assert_eq!(book.delay_for(1000), Duration::from_secs(600));
        assert!(book.is_backing_off("%1", "b", t0 + ChronoDuration::seconds(599)));
        assert!(!book.is_backing_off("%1", "b", t0 + ChronoDuration::seconds(600)));
        assert!(
            !book.is_backing_off("%2", "b", t0),
            "other agents are not affected"
        );
        book.clear_bead("b");
        assert!(!book.is_backing_off("%1", "b", t0));
    }
}
