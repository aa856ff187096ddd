//! One decider per ledger: a coordinator that another process's coordinator leads only
//! follows. It observes and tracks its agents (its views stay live), but its loop changes
//! nothing outside itself: no assignments, restarts, hand-backs, ledger states, messages,
//! digests or notifications, and its events reach only its own bus, never the ledger's event log
//! or its other consumers (the leader logs and reports them once). What a human does through it
//! (the control API, `restart_agent`, `assign_work`) still acts. A role check, given by the
//! binary ([`crate::lease`]), runs before every poll, so a follower takes over as soon as the
//! leader is gone, and steps back when one appears.

use crate::session::{Shared, lock};
use gaffer_core::cycle::Decision;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// Who leads instead of this coordinator: `Some(holder)` when another process does (this one
/// follows), `None` when this one leads.
pub type RoleCheck = Arc<dyn Fn() -> Option<String> + Send + Sync>;

/// Whether a follower's loop carries out `d`: what only updates its own view.
pub fn follower_may(d: &Decision) -> bool {
    matches!(
        d,
        Decision::Track(_)
            | Decision::Publish(_)
            | Decision::Announce(_)
            | Decision::Propose(_)
            | Decision::ReloadBackoff
            | Decision::ClearBackoff { .. }
            | Decision::TrackConflicts(_)
            | Decision::RaiseAlert { .. }
            | Decision::ClearAlert { .. }
    )
}

impl Shared {
    /// Runs the role check (when there is one): sets following or leading, and says a change.
    /// Returns whether this coordinator follows. A follower that becomes the leader first undoes
    /// the offers the old leader left half-done, as a coordinator starting after a crash does.
    pub(crate) fn refresh_role(&self) -> bool {
        let Some(check) = lock(&self.role).clone() else {
            return false;
        };
        let leader = check();
        let following = leader.is_some();
        let was = self.following.swap(following, Ordering::SeqCst);
        self.reporter.set_following(following);
        *lock(&self.leader) = leader.clone();
        match (was, following) {
            (false, true) => tracing::info!(
                leader = leader.as_deref().unwrap_or_default(),
                "following the coordinator that decides; this one only observes"
            ),
            (true, false) => {
                // The compactions the old leader sent: their back-off holds here too.
                let sent = lock(&self.ledger).compactions();
                if let Ok(sent) = sent {
                    lock(&self.state).compactions.extend(sent);
                }
                if self.running.load(Ordering::SeqCst) {
                    tracing::info!("the coordinator that decided is gone: this one decides now");
                    self.take_over();
                }
            }
            _ => {}
        }
        following
    }

    /// Whether this coordinator follows another.
    pub(crate) fn is_following(&self) -> bool {
        self.following.load(Ordering::SeqCst)
    }

    /// What the loop may carry out of `decisions`: all of them when leading.
    pub(crate) fn loop_decisions(&self, decisions: Vec<Decision>) -> Vec<Decision> {
        if !self.is_following() {
            return decisions;
        }
        decisions.into_iter().filter(follower_may).collect()
    }
}
