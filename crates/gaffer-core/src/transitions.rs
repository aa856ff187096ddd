//! Events from agent state changes (spec/coordinator.md §2.2), extended for gaffer's states.

use crate::agent::AgentState;
use crate::event::{CoordinatorEvent, CoordinatorEventType};
use crate::status::AgentStatus;
use crate::time::Timestamp;

/// The event for an agent whose status changed from `prev` to `agent.status`; the first
/// matching rule wins. `None` when nothing changed or the change is not reported.
///
/// Reference rules first (idle, busy, error, recovered); then gaffer's: blocked, rate limited,
/// stalled, exited.
pub fn state_change_event(
    prev: AgentStatus,
    agent: &AgentState,
    now: Timestamp,
) -> Option<CoordinatorEvent> {
    let new = agent.status;
    if new == prev {
        return None;
    }
    let kind = if new == AgentStatus::Waiting {
        CoordinatorEventType::AgentIdle
    } else if new.is_busy() {
        CoordinatorEventType::AgentBusy
    } else if new == AgentStatus::Error {
        CoordinatorEventType::AgentError
    } else if prev == AgentStatus::Error {
        CoordinatorEventType::AgentRecovered
    } else {
        match new {
            AgentStatus::Blocked => CoordinatorEventType::AgentBlocked,
            AgentStatus::RateLimited => CoordinatorEventType::AgentRateLimited,
            AgentStatus::Stalled => CoordinatorEventType::AgentStalled,
            AgentStatus::Exited => CoordinatorEventType::AgentExited,
            _ => return None,
        }
    };
    Some(
        CoordinatorEvent::new(kind, now)
            .with_agent(agent.pane_id.clone())
            .with_detail("agent_type", agent.agent_type.clone())
            .with_detail("prev_status", prev.as_str())
            .with_detail("new_status", new.as_str())
            .with_detail("pane_index", agent.pane_index)
            .with_detail("context_usage", agent.context_usage)
            .with_detail("name", agent.display_name()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;
    use AgentStatus::*;

    fn ev(prev: AgentStatus, new: AgentStatus) -> Option<String> {
        let now = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let mut a = AgentState::new("%3", 2, "cc", now);
        a.status = new;
        state_change_event(prev, &a, now).map(|e| e.event_type.as_str().to_string())
    }

    #[test]
    fn reference_table() {
        assert_eq!(ev(Generating, Waiting).as_deref(), Some("agent_idle"));
        assert_eq!(ev(Waiting, Waiting), None);
        assert_eq!(ev(Waiting, Generating).as_deref(), Some("agent_busy"));
        assert_eq!(ev(Generating, Thinking).as_deref(), Some("agent_busy"));
        assert_eq!(ev(Waiting, Error).as_deref(), Some("agent_error"));
        assert_eq!(ev(Error, Unknown).as_deref(), Some("agent_recovered"));
        // Busy and idle rules come before "recovered", as in the reference.
        assert_eq!(ev(Error, Waiting).as_deref(), Some("agent_idle"));
        assert_eq!(ev(Waiting, Unknown), None);
    }

    #[test]
    fn gaffer_states() {
        assert_eq!(ev(Generating, Blocked).as_deref(), Some("agent_blocked"));
        assert_eq!(
            ev(Generating, RateLimited).as_deref(),
            Some("agent_rate_limited")
        );
        assert_eq!(ev(Generating, Stalled).as_deref(), Some("agent_stalled"));
        assert_eq!(ev(Waiting, Exited).as_deref(), Some("agent_exited"));
        assert_eq!(ev(Error, Exited).as_deref(), Some("agent_recovered"));
    }

    #[test]
    fn details() {
        let now = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        let mut a = AgentState::new("%3", 2, "cod", now);
        a.status = Waiting;
        let e = state_change_event(Generating, &a, now).unwrap();
        assert_eq!(e.agent_id, "%3");
        assert_eq!(e.details["agent_type"], "cod");
        assert_eq!(e.details["prev_status"], "GENERATING");
        assert_eq!(e.details["new_status"], "WAITING");
        assert_eq!(e.details["pane_index"], 2);
        assert_eq!(
            e.details["name"], "0.2",
            "no title nor mail name: window.pane"
        );
        a.title = "p__cod_1".into();
        let e = state_change_event(Generating, &a, now).unwrap();
        assert_eq!(e.details["name"], "p__cod_1");
    }
}
