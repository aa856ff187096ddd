//! The end of assignments: done when the bead is closed, working when the agent is busy,
//! stalled when it is idle again with the bead open, gone when its pane vanished or the agent
//! exited; and the ends agents reported themselves (`gaffer done`, `gaffer refuse`).

use super::{ActiveAssignment, Decision, EndedAssignment, Policy, ReportedEnd, Snapshot, Stage};
use crate::agent::AgentState;
use crate::event::{CoordinatorEvent, CoordinatorEventType};
use crate::status::AgentStatus;
use crate::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// Why a stalled assignment failed.
pub const STALLED: &str = "stalled: agent idle again with the bead open";
/// Why an offer found at start failed.
pub const INTERRUPTED: &str = "interrupted before delivery (recovered at start)";

/// At start: offers that never reached `delivered` are undone. Their outcome is unknown, so the
/// bead is released for a fresh, recorded attempt.
pub fn recover(active: &[ActiveAssignment], out: &mut Vec<Decision>) {
    for a in active.iter().filter(|a| a.stage == Stage::Offered) {
        out.push(Decision::MarkGone {
            assignment: a.clone(),
            reason: INTERRUPTED.into(),
        });
    }
}

/// Ends reported by agents: reservations are released, a done bead clears its back-off, a
/// refusal's back-off is loaded, and the event (already in the ledger's log, written by the
/// reporter) is announced. Other ends were reported by this process already.
pub fn reported(ended: &[EndedAssignment], out: &mut Vec<Decision>) {
    for e in ended {
        let kind = match e.end {
            ReportedEnd::Done => {
                out.push(Decision::ClearBackoff {
                    bead_id: e.assignment.bead_id.clone(),
                });
                CoordinatorEventType::WorkCompleted
            }
            ReportedEnd::Refused => {
                out.push(Decision::ReloadBackoff);
                CoordinatorEventType::AssignmentRefused
            }
            ReportedEnd::Other => continue,
        };
        release(&e.assignment, out);
        out.push(Decision::Announce(
            CoordinatorEvent::new(kind, e.at)
                .with_agent(e.assignment.pane_id.clone())
                .with_detail("bead_id", e.assignment.bead_id.clone())
                .with_detail("state", e.state.clone())
                .with_detail("reason", e.reason.clone())
                .with_detail("reported_by", "agent"),
        ));
    }
}

/// Releases the reservations of an assignment, when it holds any.
pub fn release(a: &ActiveAssignment, out: &mut Vec<Decision>) {
    if !a.reserved.is_empty() {
        out.push(Decision::ReleaseReservations {
            holder: a.holder().to_string(),
            patterns: a.reserved.clone(),
        });
    }
}

/// Reviews the active assignments against the merged agents and the closed beads (`None`
/// when the issues could not be read: nothing is taken as done then). An assignment whose
/// agent is not tracked is gone, for `gone_reason`. An agent held while tmux is lost is
/// UNKNOWN: its assignment is left as it is.
pub fn active(
    active: &[ActiveAssignment],
    agents: &BTreeMap<String, AgentState>,
    closed: Option<&BTreeSet<String>>,
    policy: &Policy,
    now: Timestamp,
    gone_reason: &str,
    out: &mut Vec<Decision>,
) {
    let wait = policy.idle_threshold.max(policy.completion_grace);
    for a in active {
        if closed.is_some_and(|c| c.contains(&a.bead_id)) {
            out.push(Decision::MarkDone {
                assignment: a.clone(),
                reason: "bead closed".into(),
            });
            continue;
        }
        let Some(agent) = agents.get(&a.pane_id) else {
            out.push(Decision::MarkGone {
                assignment: a.clone(),
                reason: gone_reason.into(),
            });
            continue;
        };
        match agent.status {
            s if s.is_busy() && a.stage == Stage::Delivered => {
                out.push(Decision::MarkWorking { id: a.id })
            }
            s if s.is_busy() => {}
            AgentStatus::Exited => out.push(Decision::MarkGone {
                assignment: a.clone(),
                reason: "agent exited".into(),
            }),
            AgentStatus::Waiting if a.stage != Stage::Offered => {
                let idle = secs(now - agent.last_activity);
                let since_update = secs(now - a.updated_at);
                if idle >= wait && since_update >= wait {
                    out.push(Decision::MarkStalled {
                        assignment: a.clone(),
                        reason: STALLED.into(),
                    });
                }
            }
            _ => {}
        }
    }
}

fn secs(d: chrono::Duration) -> f64 {
    d.num_milliseconds() as f64 / 1000.0
}

/// Beads closed per pass at most when the ledger and the work source disagree.
pub const CLOSES_PER_PASS: usize = 5;

/// Beads done in the ledger but open in the work source are closed there, a few per pass,
/// while the work source works (a degraded one is left alone until it recovers).
pub fn unsynced(snap: &Snapshot, out: &mut Vec<Decision>) {
    if snap.health.work.is_some() {
        return;
    }
    out.extend(
        snap.unsynced_done
            .iter()
            .take(CLOSES_PER_PASS)
            .map(|id| Decision::CloseInSource {
                bead_id: id.clone(),
            }),
    );
}
