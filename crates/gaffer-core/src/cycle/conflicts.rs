//! Conflicts: detection by real overlap (the one engine, [`crate::conflicts`]), the diff
//! against the conflicts already known, and what to do about new ones.

use super::{Decision, Policy, Snapshot, Source, source_alert};
use crate::conflict::{Conflict, Holder};
use crate::conflicts::{DetectedConflict, ReservationIndex};
use crate::event::{CoordinatorEvent, CoordinatorEventType};
use crate::mailbox::Reservation;
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Every conflict among the reservations active at `now` (holders' priority 0).
pub fn detect(reservations: &[Reservation], now: Timestamp) -> Vec<DetectedConflict> {
    ReservationIndex::new(reservations, now).detect_conflicts(now, &|_| 0)
}

/// Conflicts found now and not known before, and those known before and gone now.
pub fn diff<'a>(
    known: &'a BTreeMap<String, DetectedConflict>,
    found: &'a [DetectedConflict],
) -> (Vec<&'a DetectedConflict>, Vec<&'a DetectedConflict>) {
    let ids: BTreeSet<&str> = found.iter().map(|c| c.conflict.id.as_str()).collect();
    let new = found
        .iter()
        .filter(|c| !known.contains_key(&c.conflict.id))
        .collect();
    let gone = known
        .values()
        .filter(|c| !ids.contains(c.conflict.id.as_str()))
        .collect();
    (new, gone)
}

/// The requester of a conflict: the holder that reserved last.
pub fn requester(conflict: &Conflict) -> String {
    conflict
        .holders
        .iter()
        .max_by_key(|h| h.reserved_at)
        .map(|h| h.agent_name.clone())
        .unwrap_or_default()
}

/// The holder asked to release in favour of `requester`: the other holder with the largest
/// priority number (the lowest priority); `None` when nobody else holds it.
pub fn release_holder<'a>(conflict: &'a Conflict, requester: &str) -> Option<&'a Holder> {
    conflict
        .holders
        .iter()
        .filter(|h| h.agent_name != requester)
        .max_by_key(|h| h.priority)
}

/// A conflict pass: alerts for the mailbox, an event (and, as configured, a notice and a
/// release request) per new conflict, an event per resolved one, and the conflicts to track.
pub fn decide(snap: &Snapshot, policy: &Policy, out: &mut Vec<Decision>) {
    let Some(reading) = &snap.reservations else {
        return;
    };
    let now = reading.as_ref().map(|_| ()).map_err(String::as_str);
    out.extend(source_alert(Source::Mail, snap.health.mail.as_deref(), now));
    let Ok(reservations) = reading else {
        return;
    };
    let found = detect(reservations, snap.now);
    let (new, gone) = diff(&snap.known_conflicts, &found);
    for c in new {
        let holders: Vec<String> = c
            .conflict
            .holders
            .iter()
            .map(|h| h.agent_name.clone())
            .collect();
        let requester = requester(&c.conflict);
        out.push(Decision::Publish(
            CoordinatorEvent::new(CoordinatorEventType::ConflictDetected, snap.now)
                .with_detail("conflict_id", c.conflict.id.clone())
                .with_detail("pattern", c.conflict.pattern.clone())
                .with_detail("holders", holders)
                .with_detail("overlap", c.overlap.clone())
                .with_detail("requested", requester.clone()),
        ));
        if policy.conflict_notify {
            out.push(Decision::NotifyConflict(c.conflict.clone()));
        }
        if policy.conflict_negotiate {
            if let Some(holder) = release_holder(&c.conflict, &requester) {
                out.push(Decision::RequestRelease {
                    conflict: c.conflict.clone(),
                    holder: holder.clone(),
                    requester,
                });
            }
        }
    }
    for c in gone {
        out.push(Decision::Publish(
            CoordinatorEvent::new(CoordinatorEventType::ConflictResolved, snap.now)
                .with_detail("conflict_id", c.conflict.id.clone())
                .with_detail("pattern", c.conflict.pattern.clone()),
        ));
    }
    out.push(Decision::TrackConflicts(found));
}
