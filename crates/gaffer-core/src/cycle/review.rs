//! The end of assignments: done when the bead is closed, working when the agent is busy,
//! stalled when it is idle again with the bead open, gone when its pane vanished or the agent
//! exited (handed back, or kept for re-delivery after a restart); taken back when the agent
//! is stuck STALLED, BLOCKED or RATE_LIMITED past its threshold; and the ends agents reported
//! themselves (`gaffer done`, `gaffer refuse`).

use super::restart::{self, Due};
use super::{
    ActiveAssignment, Decision, EndedAssignment, Policy, ReportedEnd, RestartHistory, Snapshot,
    Stage, TMUX_LOST, TmuxLoss,
};
use crate::agent::AgentState;
use crate::config::ExitedWork;
use crate::detect::HOST_UNREACHABLE;
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

/// The agents as a poll sees them after the merge.
#[derive(Debug, Clone, Copy)]
pub struct AgentsView<'a> {
    /// The merged agents by pane id.
    pub agents: &'a BTreeMap<String, AgentState>,
    /// When each agent's current status began (the tracker's `since`).
    pub since: &'a BTreeMap<String, Timestamp>,
    /// When each rate-limited agent's limit ends, when known.
    pub rate_limits: &'a BTreeMap<String, Timestamp>,
    /// Restarts by pane id (from the ledger).
    pub restarts: &'a BTreeMap<String, RestartHistory>,
    /// `[[hosts]]` hosts unreachable now, with when each went down.
    pub hosts_down: &'a BTreeMap<String, Timestamp>,
}

/// Reviews the active assignments against the merged agents and the closed beads (`None`
/// when the issues could not be read: nothing is taken as done then). While tmux is lost
/// [`held`] reviews them instead.
pub fn active(
    active: &[ActiveAssignment],
    view: &AgentsView<'_>,
    closed: Option<&BTreeSet<String>>,
    policy: &Policy,
    now: Timestamp,
    out: &mut Vec<Decision>,
) {
    let agents = view.agents;
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
                reason: "agent pane is gone".into(),
            });
            continue;
        };
        let history = view.restarts.get(&a.pane_id);
        match agent.status {
            s if s.is_busy() && a.stage == Stage::Delivered => {
                out.push(Decision::MarkWorking { id: a.id })
            }
            s if s.is_busy() => {}
            AgentStatus::Exited => {
                let kept = policy.restart.enabled
                    && policy.restart.exited_work == ExitedWork::Redeliver
                    && a.stage != Stage::Offered
                    && matches!(
                        restart::due(history, &policy.restart, now),
                        Due::Now { .. } | Due::Wait { .. }
                    );
                if !kept {
                    out.push(Decision::HandBack {
                        assignment: a.clone(),
                        status: AgentStatus::Exited,
                        reason: "agent exited".into(),
                        back_off: false,
                    });
                }
            }
            AgentStatus::Waiting
                if a.stage != Stage::Offered
                    && policy.restart.exited_work == ExitedWork::Redeliver
                    && history
                        .and_then(|h| h.last)
                        .is_some_and(|t| t > a.updated_at) =>
            {
                out.push(Decision::Redeliver {
                    assignment: a.clone(),
                });
            }
            s @ (AgentStatus::Stalled | AgentStatus::Blocked | AgentStatus::RateLimited)
                if a.stage != Stage::Offered =>
            {
                if let Some(reason) = stuck(a, s, view, policy, now) {
                    out.push(Decision::HandBack {
                        assignment: a.clone(),
                        status: s,
                        reason,
                        back_off: true,
                    });
                }
            }
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
            // On a host that cannot be reached: held for the grace (`tmux_grace`) from when the
            // host went down, then handed back once (no back-off: the agent did nothing wrong).
            AgentStatus::Unknown if agent.status_reason == HOST_UNREACHABLE => {
                let down = crate::panes::pane_host(&a.pane_id)
                    .and_then(|h| view.hosts_down.get(h).map(|since| (h, *since)));
                if let Some((host, since)) = down {
                    let grace = chrono::Duration::milliseconds(
                        (policy.tmux_grace.max(0.0) * 1000.0) as i64,
                    );
                    if now >= since + grace {
                        out.push(Decision::HandBack {
                            assignment: a.clone(),
                            status: AgentStatus::Unknown,
                            reason: format!(
                                "{HOST_UNREACHABLE}: host {host} unreachable since {} for longer than the grace",
                                crate::time::format_rfc3339(&since)
                            ),
                            back_off: false,
                        });
                    }
                }
            }
            _ => {}
        }
    }
}

/// The review of the active assignments while tmux is lost (`loss`, for `error`): the agents
/// cannot be seen, so an assignment ends only when its bead is closed (`closed`, as in
/// [`active`]) until the grace ends at `loss.hand_back_at`; from then on it is handed back
/// (no back-off: the agent did nothing wrong), once, as the ledger ends it.
pub fn held(
    active: &[ActiveAssignment],
    closed: Option<&BTreeSet<String>>,
    loss: &TmuxLoss,
    error: &str,
    now: Timestamp,
    out: &mut Vec<Decision>,
) {
    let over = now >= loss.hand_back_at;
    for a in active {
        if closed.is_some_and(|c| c.contains(&a.bead_id)) {
            out.push(Decision::MarkDone {
                assignment: a.clone(),
                reason: "bead closed".into(),
            });
        } else if over {
            out.push(Decision::HandBack {
                assignment: a.clone(),
                status: AgentStatus::Unknown,
                reason: format!(
                    "{TMUX_LOST}: tmux lost since {} for longer than the grace ({error})",
                    crate::time::format_rfc3339(&loss.since)
                ),
                back_off: false,
            });
        }
    }
}

/// Why an assignment whose agent is in `status` (STALLED, BLOCKED or RATE_LIMITED) goes back
/// now, or `None` while it may wait: the time in the state (counted from the later of the
/// state's start and the assignment's last change) reached the state's threshold, and a rate
/// limit does not end within it.
pub fn stuck(
    a: &ActiveAssignment,
    status: AgentStatus,
    view: &AgentsView<'_>,
    policy: &Policy,
    now: Timestamp,
) -> Option<String> {
    let threshold = match status {
        AgentStatus::Stalled => policy.takeback.stalled,
        AgentStatus::Blocked => policy.takeback.blocked,
        AgentStatus::RateLimited => policy.takeback.rate_limited,
        _ => return None,
    };
    if threshold <= 0.0 {
        return None;
    }
    let from = view
        .since
        .get(&a.pane_id)
        .copied()
        .unwrap_or(a.updated_at)
        .max(a.updated_at);
    if status == AgentStatus::RateLimited {
        if let Some(reset) = view.rate_limits.get(&a.pane_id) {
            if secs(*reset - from) <= threshold {
                return None;
            }
        }
    }
    let stuck_for = secs(now - from);
    (stuck_for >= threshold).then(|| {
        format!(
            "taken back: agent {} for {:.0}s (threshold {:.0}s)",
            status, stuck_for, threshold
        )
    })
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

/// The agents whose assignment this pass ends (done, stalled, gone, handed back) hold it no more: their
/// tracked count and current task say so at once, so an assignment round right after this pass
/// sees them free instead of waiting for the next observation.
pub fn release_ended(decisions: &[Decision], agents: &mut BTreeMap<String, AgentState>) {
    for d in decisions {
        let a = match d {
            Decision::MarkDone { assignment, .. }
            | Decision::MarkStalled { assignment, .. }
            | Decision::MarkGone { assignment, .. }
            | Decision::HandBack { assignment, .. } => assignment,
            _ => continue,
        };
        if let Some(agent) = agents.get_mut(&a.pane_id) {
            agent.assignments = (agent.assignments - 1).max(0);
            if agent.current_task == a.bead_id {
                agent.current_task.clear();
            }
        }
    }
}
