//! Restarting exited agents: when an EXITED agent is relaunched (exponential back-off between
//! restarts), when restarting stops (a crash loop: more than `limit` restarts within `window`,
//! alerted once), and a restart by hand.

use super::review::AgentsView;
use super::{Decision, Policy, RestartHistory, RestartPolicy, Snapshot, Stage};
use crate::config::ExitedWork;
use crate::status::AgentStatus;
use crate::time::Timestamp;

/// What to do about an exited agent now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Due {
    /// Restart it; this is the `attempt`-th automatic restart within the window.
    Now {
        /// Restarts within the window, this one included.
        attempt: u32,
    },
    /// Wait for the back-off to pass.
    Wait {
        /// When the next restart is due.
        until: Timestamp,
    },
    /// More restarts would exceed the limit: stop restarting.
    CrashLoop {
        /// Restarts within the window.
        restarts: u32,
    },
    /// Restarting stopped earlier (already alerted).
    Halted,
}

/// The wait after the `n`-th restart within the window, seconds: `backoff × 2^(n−1)`, capped
/// at `backoff_max` (the first restart is immediate).
pub fn backoff_after(policy: &RestartPolicy, n: u32) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let factor = 2f64.powi(n.saturating_sub(1).min(30) as i32);
    (policy.backoff * factor).min(policy.backoff_max.max(policy.backoff))
}

/// Whether an exited agent with this history is restarted now, later, or no more.
pub fn due(history: Option<&RestartHistory>, policy: &RestartPolicy, now: Timestamp) -> Due {
    let Some(h) = history else {
        return Due::Now { attempt: 1 };
    };
    if h.halted {
        return Due::Halted;
    }
    let window_start = now - millis(policy.window);
    let recent = h.restarts.iter().filter(|t| **t > window_start).count() as u32;
    if recent >= policy.limit {
        return Due::CrashLoop { restarts: recent };
    }
    // The back-off counts from the last restart of any kind (a restart by hand too).
    if let Some(last) = h.last {
        let until = last + millis(backoff_after(policy, recent.max(1)));
        if now < until {
            return Due::Wait { until };
        }
    }
    Due::Now {
        attempt: recent + 1,
    }
}

fn millis(secs: f64) -> chrono::Duration {
    chrono::Duration::milliseconds((secs.max(0.0) * 1000.0).min(i64::MAX as f64 / 2.0) as i64)
}

/// The restarts of a poll: every EXITED agent is relaunched when its back-off allows, or its
/// restarts stop when it crash-loops. Nothing when restarting is off.
pub fn exited(view: &AgentsView<'_>, policy: &Policy, now: Timestamp, out: &mut Vec<Decision>) {
    if !policy.restart.enabled {
        return;
    }
    for (pane, agent) in view.agents {
        if agent.status != AgentStatus::Exited {
            continue;
        }
        match due(view.restarts.get(pane), &policy.restart, now) {
            Due::Now { attempt } => out.push(Decision::Restart {
                pane_id: pane.clone(),
                agent_type: agent.agent_type.clone(),
                attempt,
                reason: "agent exited".into(),
            }),
            Due::CrashLoop { restarts } => out.push(Decision::StopRestarts {
                pane_id: pane.clone(),
                restarts,
                window: policy.restart.window,
            }),
            Due::Wait { .. } | Due::Halted => {}
        }
    }
}

/// A restart by hand: the agent's live assignments are handed back first (unless they are to
/// be re-delivered), then the agent is relaunched whatever its state; its crash-loop count
/// starts again.
pub fn by_hand(snap: &Snapshot, policy: &Policy, pane_id: &str, out: &mut Vec<Decision>) {
    let keep = policy.restart.exited_work == ExitedWork::Redeliver;
    for a in snap.ledger.active.iter().filter(|a| a.pane_id == pane_id) {
        if keep && a.stage != Stage::Offered {
            continue;
        }
        out.push(Decision::HandBack {
            assignment: a.clone(),
            status: snap
                .agents
                .get(pane_id)
                .map(|a| a.status)
                .unwrap_or(AgentStatus::Unknown),
            reason: "agent restarted by hand".into(),
            back_off: false,
        });
    }
    out.push(Decision::Restart {
        pane_id: pane_id.to_string(),
        agent_type: snap
            .agents
            .get(pane_id)
            .map(|a| a.agent_type.clone())
            .unwrap_or_default(),
        attempt: 0,
        reason: "restarted by hand".into(),
    });
}
