//! Compacting idle agents: an agent above the context limit gets no work (see
//! [`crate::assign::select::MAX_CONTEXT_FOR_WORK`]), and an idle CLI never compacts by itself, so
//! the coordinator sends it its kind's compact command; and notices when its context went down.

use super::{AgentsObservation, Compaction, Decision, Policy, Snapshot};
use crate::agent::AgentState;
use crate::status::AgentStatus;
use crate::time::Timestamp;
use std::collections::BTreeMap;

/// Whether an agent may be compacted now: its kind has a compact command, it is WAITING as
/// tracked and as read on this screen (no dialog shown, no change pending), healthy, above
/// `policy.above` percent context, holding no active assignment, not paused, and not compacted
/// within the back-off.
pub fn eligible(
    snap: &Snapshot,
    obs: &AgentsObservation,
    agent: &AgentState,
    policy: &Policy,
) -> bool {
    let p = &policy.compact;
    if !p.enabled
        || p.command(&agent.agent_type).is_none()
        || agent.status != AgentStatus::Waiting
        || !agent.healthy
    {
        return false;
    }
    if agent.context_usage <= p.above {
        return false;
    }
    let Some(seen) = obs.agents.iter().find(|o| o.pane_id() == agent.pane_id) else {
        return false;
    };
    if seen.observation.verdict.status != AgentStatus::Waiting || seen.observation.pending.is_some()
    {
        return false;
    }
    if snap
        .ledger
        .active
        .iter()
        .any(|a| a.pane_id == agent.pane_id)
        || snap.ledger.paused.is_paused(&agent.pane_id)
    {
        return false;
    }
    !backing_off(
        snap.ledger.compactions.get(&agent.pane_id),
        p.backoff,
        snap.now,
    )
}

/// Whether the last compaction is too recent for another one.
fn backing_off(last: Option<&Compaction>, backoff_secs: f64, now: Timestamp) -> bool {
    last.is_some_and(|c| {
        let ms = (backoff_secs.max(0.0) * 1000.0).min(i64::MAX as f64 / 2.0) as i64;
        now < c.at + chrono::Duration::milliseconds(ms)
    })
}

/// A `Compact` for every agent [`eligible`] now.
pub fn idle(
    snap: &Snapshot,
    obs: &AgentsObservation,
    agents: &BTreeMap<String, AgentState>,
    policy: &Policy,
    out: &mut Vec<Decision>,
) {
    for agent in agents.values() {
        if !eligible(snap, obs, agent, policy) {
            continue;
        }
        if let Some(command) = policy.compact.command(&agent.agent_type) {
            out.push(Decision::Compact {
                pane_id: agent.pane_id.clone(),
                agent_type: agent.agent_type.clone(),
                command: command.to_string(),
                context_before: agent.context_usage,
            });
        }
    }
}

/// A `Compacted` for every pending compaction whose agent is WAITING again (tracked and on this
/// screen) and reads less context than when the command was sent. No reading counts as less:
/// Claude Code shows its context only when little is left, so a compacted one shows none.
pub fn finished(
    obs: &AgentsObservation,
    agents: &BTreeMap<String, AgentState>,
    compactions: &BTreeMap<String, Compaction>,
    out: &mut Vec<Decision>,
) {
    for (pane, c) in compactions.iter().filter(|(_, c)| !c.done) {
        let Some(agent) = agents.get(pane) else {
            continue;
        };
        let waiting_on_screen = obs.agents.iter().any(|o| {
            o.pane_id() == pane.as_str() && o.observation.verdict.status == AgentStatus::Waiting
        });
        if agent.status != AgentStatus::Waiting || !waiting_on_screen {
            continue;
        }
        if agent.context_usage < c.context_before {
            out.push(Decision::Compacted {
                pane_id: pane.clone(),
                context_before: c.context_before,
                context_after: (agent.context_usage > 0.0).then_some(agent.context_usage),
            });
        }
    }
}
