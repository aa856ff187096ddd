//! Claims in the work source that gaffer does not hold: beads the source says another actor
//! holds ([`HeldBeads`]: taken for every agent, not one pair, until a re-check), and claims of
//! gaffer's own whose undo failed ([`UndoBook`]: retried with back-off until undone).
//!
//! Pure bookkeeping on plain values and a given time; the runtime does the calls.

use crate::time::Timestamp;
use chrono::Duration;
use std::collections::{BTreeMap, BTreeSet};

/// How long a bead reported held elsewhere is left alone the first time; doubled each time
/// the source reports it held again, up to [`HELD_CAP`].
pub const HELD_BASE: Duration = Duration::seconds(60);
/// The longest a held bead is left alone before one agent tries it again.
pub const HELD_CAP: Duration = Duration::seconds(900);
/// The most beads remembered as held; past it the one whose re-check is soonest is dropped.
pub const HELD_MAX: usize = 10_000;

/// The first wait before a failed undo is tried again; doubled each failure up to
/// [`UNDO_CAP`].
pub const UNDO_BASE: Duration = Duration::seconds(5);
/// The longest wait between two tries of one undo.
pub const UNDO_CAP: Duration = Duration::seconds(300);

/// A bead the work source reported held by someone else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    /// The holder the source named, when it did.
    pub holder: Option<String>,
    /// When it was first reported held.
    pub since: Timestamp,
    /// Until when no agent is offered it.
    pub until: Timestamp,
    /// How many times in a row the source reported it held.
    pub times: u32,
}

/// Beads the work source reported held by another actor (a lost claim). A held bead is taken
/// for every agent until its re-check time, when one agent may try it again; a claim lost
/// again doubles the wait. The source's answer to a claim is the truth: a stale file that
/// shows the bead free does not clear it, only a claim of ours that succeeds, the bead's
/// close, or the wait running out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeldBeads {
    entries: BTreeMap<String, Held>,
}

impl HeldBeads {
    /// Records that a claim of `bead` was lost to `holder` at `now`; returns until when the
    /// bead is taken.
    pub fn note(&mut self, bead: &str, holder: Option<&str>, now: Timestamp) -> Timestamp {
        let times = self
            .entries
            .get(bead)
            .map_or(0, |h| h.times)
            .saturating_add(1);
        let factor = 1i32 << times.saturating_sub(1).min(16);
        let wait = (HELD_BASE * factor).min(HELD_CAP);
        let since = self.entries.get(bead).map_or(now, |h| h.since);
        let until = now + wait;
        self.entries.insert(
            bead.to_string(),
            Held {
                holder: holder.map(str::to_string),
                since,
                until,
                times,
            },
        );
        self.bound();
        until
    }

    /// The beads no agent is offered at `now`.
    pub fn taken(&self, now: Timestamp) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(move |(_, h)| h.until > now)
            .map(|(b, _)| b.as_str())
    }

    /// The entry of `bead`.
    pub fn get(&self, bead: &str) -> Option<&Held> {
        self.entries.get(bead)
    }

    /// Forgets `bead` (claimed by us, or closed).
    pub fn clear(&mut self, bead: &str) {
        self.entries.remove(bead);
    }

    /// Forgets beads whose re-check is more than [`HELD_CAP`] past: none of our agents
    /// tried them again, so there is nothing to double.
    pub fn prune(&mut self, now: Timestamp) {
        self.entries.retain(|_, h| h.until + HELD_CAP > now);
    }

    /// How many beads are remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn bound(&mut self) {
        while self.entries.len() > HELD_MAX {
            let Some(first) = self
                .entries
                .iter()
                .min_by_key(|(_, h)| h.until)
                .map(|(b, _)| b.clone())
            else {
                return;
            };
            self.entries.remove(&first);
        }
    }
}

/// One claim whose undo failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undo {
    /// Failed tries so far.
    pub failures: u32,
    /// When it may be tried again.
    pub next_at: Timestamp,
}

/// Claims of ended assignments (keyed by the ledger's assignment id) whose undo failed, with
/// the back-off of each. The claims to undo themselves live in the ledger (an ended, not done
/// assignment still marked claimed), so they survive a restart; this book only spaces the
/// tries. Bounded by [`retain`](Self::retain) to the ledger's pending ids.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UndoBook {
    entries: BTreeMap<i64, Undo>,
}

impl UndoBook {
    /// Whether the undo of `id` may be tried at `now` (never tried, or its wait is over).
    pub fn due(&self, id: i64, now: Timestamp) -> bool {
        self.entries.get(&id).is_none_or(|u| u.next_at <= now)
    }

    /// Records a failed try at `now`; returns the failures so far.
    pub fn failed(&mut self, id: i64, now: Timestamp) -> u32 {
        let failures = self
            .entries
            .get(&id)
            .map_or(0, |u| u.failures)
            .saturating_add(1);
        let factor = 1i32 << failures.saturating_sub(1).min(16);
        let wait = (UNDO_BASE * factor).min(UNDO_CAP);
        self.entries.insert(
            id,
            Undo {
                failures,
                next_at: now + wait,
            },
        );
        failures
    }

    /// The undo of `id` worked (or there was nothing to undo): forgets it; returns the
    /// failures before.
    pub fn undone(&mut self, id: i64) -> u32 {
        self.entries.remove(&id).map_or(0, |u| u.failures)
    }

    /// Keeps only `pending` ids (the ledger's claims still to undo).
    pub fn retain(&mut self, pending: &BTreeSet<i64>) {
        self.entries.retain(|id, _| pending.contains(id));
    }

    /// The entry of `id`.
    pub fn get(&self, id: i64) -> Option<&Undo> {
        self.entries.get(&id)
    }

    /// How many undos are waiting after a failure.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> Timestamp {
        chrono::Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("valid")
            + Duration::seconds(s)
    }

    #[test]
    fn a_held_bead_is_taken_for_everyone_until_its_recheck_and_waits_longer_each_time() {
        let mut h = HeldBeads::default();
        assert_eq!(h.note("b1", Some("RoseFalcon"), t(0)), t(60));
        assert_eq!(h.taken(t(10)).collect::<Vec<_>>(), ["b1"]);
        assert_eq!(h.taken(t(60)).count(), 0, "re-checked after a minute");
        // Lost again: two minutes, then four, … capped at 15.
        assert_eq!(h.note("b1", Some("RoseFalcon"), t(61)), t(181));
        assert_eq!(h.note("b1", None, t(200)), t(440));
        for i in 0..10 {
            h.note("b1", None, t(1000 + i));
        }
        assert_eq!(h.get("b1").map(|e| e.until), Some(t(1009) + HELD_CAP));
        assert_eq!(h.get("b1").map(|e| e.since), Some(t(0)));
        h.clear("b1");
        assert!(h.is_empty());
    }

    #[test]
    fn held_beads_are_pruned_and_bounded() {
        let mut h = HeldBeads::default();
        h.note("old", None, t(0));
        h.note("new", None, t(1000));
        h.prune(t(0) + HELD_BASE + HELD_CAP + Duration::seconds(1));
        assert!(h.get("old").is_none());
        assert!(h.get("new").is_some());
        for i in 0..(HELD_MAX + 50) {
            h.note(&format!("b{i}"), None, t(i as i64));
        }
        assert_eq!(h.len(), HELD_MAX);
        // The soonest re-checks went first.
        assert!(h.get("b0").is_none());
        assert!(h.get(&format!("b{}", HELD_MAX + 49)).is_some());
    }

    #[test]
    fn a_failed_undo_is_retried_with_growing_waits_until_it_works() {
        let mut u = UndoBook::default();
        assert!(u.due(7, t(0)), "never tried: due");
        assert_eq!(u.failed(7, t(0)), 1);
        assert!(!u.due(7, t(4)));
        assert!(u.due(7, t(5)));
        assert_eq!(u.failed(7, t(5)), 2);
        assert!(!u.due(7, t(14)));
        assert!(u.due(7, t(15)));
        for i in 0..20 {
            u.failed(7, t(100 + i));
        }
        assert_eq!(u.get(7).map(|e| e.next_at), Some(t(119) + UNDO_CAP));
        assert_eq!(u.undone(7), 22);
        assert!(u.due(7, t(120)));
        u.failed(1, t(0));
        u.failed(2, t(0));
        u.retain(&[2].into());
        assert_eq!(u.len(), 1);
        assert!(u.get(2).is_some());
    }
}
