//! Claims in the work source that gaffer must undo or respect: undoing the claim of an ended
//! assignment (now, and again with back-off while the work source fails or times out), and
//! beads the work source reported held by someone else (taken for every agent).
//!
//! The claims still to undo live in the ledger (an ended, not done assignment whose `claimed`
//! is set; an attempt sets it *before* it asks the work source, so a claim whose answer was
//! lost to a time-out is checked too), so they survive a restart. Before a retry the work
//! source is asked who holds the bead now (`WorkSource::holding`), so a bead closed, freed or
//! claimed by someone else since is left alone. The pure bookkeeping is
//! `gaffer_core::claims`.

use crate::session::{Shared, lock};
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::time::Timestamp;
use gaffer_core::work_source::{Holding, WorkSourceError};
use std::collections::BTreeSet;

/// The most undos tried by one pass of [`Shared::retry_claim_undos`].
pub const UNDOS_PER_PASS: usize = 64;

/// A pass of [`Shared::retry_claim_undos`] starts no further undo after this long (each takes a
/// `br` call or two: many while `br` is quick, one while it is slow, and the acting lane's
/// assignment rounds wait meanwhile).
pub const UNDO_PASS_BUDGET: std::time::Duration = std::time::Duration::from_secs(2);

impl Shared {
    /// Undoes the claim of assignment `id` (bead `bead`, claimed as `actor`). On success the
    /// ledger records it undone; on failure the retry pass tries again after a back-off, and
    /// the first failure is reported (`claim_undo_failed`).
    pub(crate) fn undo_claim(&self, id: i64, bead: &str, actor: &str) {
        match self.work.unclaim(bead, actor) {
            Ok(_) => self.claim_undone(id, bead, actor, "undone"),
            Err(e) => self.undo_failed(id, bead, actor, &e.to_string()),
        }
    }

    fn claim_undone(&self, id: i64, bead: &str, actor: &str, how: &str) {
        if let Err(e) = lock(&self.ledger).set_claim_undone(id) {
            // The ledger cannot be written: the next pass tries again.
            tracing::warn!(bead, error = %e, "could not record an undone claim");
            return;
        }
        let failures = lock(&self.state).undo.undone(id);
        if failures > 0 {
            tracing::info!(
                bead,
                actor,
                failures,
                how,
                "claim undone after failed tries"
            );
            self.emit(
                CoordinatorEvent::new(CoordinatorEventType::ClaimUndone, self.clock.now())
                    .with_detail("bead_id", bead)
                    .with_detail("actor", actor)
                    .with_detail("failures", failures)
                    .with_detail("how", how),
            );
        }
    }

    fn undo_failed(&self, id: i64, bead: &str, actor: &str, error: &str) {
        let now = self.clock.now();
        let (failures, next) = {
            let mut st = lock(&self.state);
            let n = st.undo.failed(id, now);
            (n, st.undo.get(id).map(|u| u.next_at))
        };
        tracing::warn!(
            bead,
            actor,
            failures,
            error,
            "could not undo the claim; will retry"
        );
        if failures == 1 {
            let retry_in = next.map_or(0.0, |t| (t - now).as_seconds_f64());
            self.emit(
                CoordinatorEvent::new(CoordinatorEventType::ClaimUndoFailed, now)
                    .with_detail("bead_id", bead)
                    .with_detail("actor", actor)
                    .with_detail("error", error)
                    .with_detail("retry_in_s", retry_in),
            );
        }
    }

    /// A claim of `bead` was lost to `holder`: no agent is offered the bead until its re-check
    /// (not just the agent that tried). When the holder is one of gaffer's own agents whose
    /// assignment of the bead ended, its claim was left behind: it is queued for undoing.
    pub(crate) fn claim_lost(&self, bead: &str, holder: Option<&str>, now: Timestamp) {
        let until = lock(&self.state).held.note(bead, holder, now);
        tracing::info!(bead, holder = holder.unwrap_or("?"), %until, "bead held in the work source; taken for every agent until the re-check");
        let Some(holder) = holder else {
            return;
        };
        let mut ledger = lock(&self.ledger);
        let left = ledger.by_bead(bead).ok().and_then(|rs| {
            rs.into_iter().rev().find(|r| {
                !r.state.is_active()
                    && r.state != crate::ledger::AssignmentState::Done
                    && (r.assignment.agent_name == holder || r.assignment.agent_pane_id == holder)
            })
        });
        if let Some(r) = left.filter(|r| !r.claimed) {
            tracing::warn!(
                bead,
                holder,
                "a claim of ours was left behind; queued for undoing"
            );
            let _ = ledger.mark_claim_to_undo(r.id);
        }
    }

    /// A claim of `bead` by us worked, or the bead was closed: it is no longer held elsewhere.
    pub(crate) fn claim_won(&self, bead: &str) {
        lock(&self.state).held.clear(bead);
    }

    /// The retry pass: claims of ended assignments still to undo, whose back-off is over, are
    /// undone when the work source says the same actor still holds them; the rest are recorded
    /// as nothing to undo. Runs under the assignment lock, so no round claims meanwhile.
    pub(crate) fn retry_claim_undos(&self) {
        let _round = lock(&self.assign_lock);
        let now = self.clock.now();
        lock(&self.state).held.prune(now);
        let (pending, active) = {
            let ledger = lock(&self.ledger);
            let Ok(pending) = ledger.claims_to_undo(1024) else {
                return;
            };
            let active: BTreeSet<String> = ledger
                .active()
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.assignment.bead_id)
                .collect();
            (pending, active)
        };
        let due: Vec<_> = {
            let mut st = lock(&self.state);
            st.undo.retain(&pending.iter().map(|r| r.id).collect());
            pending
                .into_iter()
                .filter(|r| st.undo.due(r.id, now))
                .take(UNDOS_PER_PASS)
                .collect()
        };
        let started = std::time::Instant::now();
        for r in due {
            if started.elapsed() >= UNDO_PASS_BUDGET {
                break;
            }
            let bead = r.assignment.bead_id.as_str();
            let actor = if r.assignment.agent_name.is_empty() {
                r.assignment.agent_pane_id.as_str()
            } else {
                r.assignment.agent_name.as_str()
            };
            if active.contains(bead) {
                // Assigned again since: the claim standing now is that assignment's.
                self.claim_undone(r.id, bead, actor, "assigned again");
                continue;
            }
            self.undo_claim_if_held(r.id, bead, actor);
        }
    }

    /// Undoes the claim of assignment `id` when the work source says `actor` still holds
    /// `bead` (or cannot tell); otherwise records that there is nothing to undo.
    pub(crate) fn undo_claim_if_held(&self, id: i64, bead: &str, actor: &str) {
        match self.work.holding(bead) {
            Ok(Holding::HeldBy(h)) if h == actor => self.undo_claim(id, bead, actor),
            Ok(Holding::Unknown) => self.undo_claim(id, bead, actor),
            Ok(Holding::Free) => self.claim_undone(id, bead, actor, "free"),
            Ok(Holding::HeldBy(_)) => self.claim_undone(id, bead, actor, "held by another"),
            Ok(Holding::Other(state)) => self.claim_undone(id, bead, actor, &state),
            Err(WorkSourceError::NotFound { .. }) => {
                self.claim_undone(id, bead, actor, "not found")
            }
            Err(e) => self.undo_failed(id, bead, actor, &e.to_string()),
        }
    }
}
