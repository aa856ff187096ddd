//! Coordinator events: the reference's nine types plus gaffer's own.

use crate::time::{self, Timestamp};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// The type of a coordinator event. Unknown names read from elsewhere are kept as `Other`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CoordinatorEventType {
    /// An agent became WAITING.
    AgentIdle,
    /// An agent became GENERATING or THINKING.
    AgentBusy,
    /// An agent entered ERROR.
    AgentError,
    /// An agent left ERROR.
    AgentRecovered,
    /// Overlapping reservations were found.
    ConflictDetected,
    /// A conflict went away.
    ConflictResolved,
    /// Work was assigned to an agent.
    WorkAssigned,
    /// A digest was sent.
    DigestSent,
    /// Sending a digest failed.
    DigestFailed,
    /// An agent refused or could not take an assignment.
    AssignmentRefused,
    /// A prompt was not taken up by the agent after a retry.
    PromptStalled,
    /// Agent Mail could not be reached; reservation-dependent actions stop.
    MailDegraded,
    /// Agent Mail is reachable again.
    MailRecovered,
    /// The work source (beads, bv, br) could not be read.
    WorkSourceDegraded,
    /// The work source is readable again.
    WorkSourceRecovered,
    /// A holder was asked to release a reservation.
    ConflictReleaseRequested,
    /// An assigned bead was closed.
    WorkCompleted,
    /// An agent waits on a human (permission, trust or question dialog).
    AgentBlocked,
    /// An agent hit a rate limit.
    AgentRateLimited,
    /// An agent was busy without progress past the threshold.
    AgentStalled,
    /// An agent's process exited.
    AgentExited,
    /// Test results were recorded.
    TestRunRecorded,
    /// An exited agent was relaunched in its pane.
    AgentRestarted,
    /// Relaunching an exited agent failed.
    AgentRestartFailed,
    /// An agent exited too often: restarting it stopped.
    AgentCrashLoop,
    /// An assignment was taken back from its agent (exited, stalled, blocked, rate-limited)
    /// and its bead is free for another.
    WorkHandedBack,
    /// An assignment's prompt was delivered again to its restarted agent.
    WorkRedelivered,
    /// The tmux server or the session cannot be reached: no agent can be observed.
    TmuxLost,
    /// tmux answers again after [`CoordinatorEventType::TmuxLost`].
    TmuxRestored,
    /// A `[[hosts]]` host cannot be observed (its SSH connection is down): its agents are
    /// UNKNOWN with reason `host_unreachable` until it answers.
    HostUnreachable,
    /// A host answers again after [`CoordinatorEventType::HostUnreachable`].
    HostReachable,
    /// An agent on a host reported home (`details.host`, `kind`, `via`: `socket` or `spool`,
    /// `id`, `outcome`).
    ReportReceived,
    /// A host's spool of reports could not be drained (`details.host`, `error`): said once
    /// until a drain works again.
    ReportSpoolFailed,
    /// An agent's pane vanished while tmux still answered (pane or window killed).
    AgentGone,
    /// An agent pane appeared after the first observation (spawned later, or back after tmux
    /// was restored).
    AgentAppeared,
    /// The ledger could not be written (disk full, I/O error); events wait in memory.
    LedgerDegraded,
    /// The ledger is writable again; the events that waited were written.
    LedgerRecovered,
    /// Lines of the beads file could not be read (they are skipped).
    BeadsMalformed,
    /// A human paused auto-assign for one agent (`agent_id`) or all (`details.target` `*`).
    AssignPaused,
    /// A human resumed auto-assign for one agent or all.
    AssignResumed,
    /// A human answered a BLOCKED agent's dialog (`details.option`, `label`, `text`).
    DialogAnswered,
    /// A human sent a prompt to an agent (`details.outcome`, `bytes`).
    PromptSent,
    /// An agent's context use went above `[notify] context_above` percent.
    AgentContextHigh,
    /// The coordinator sent an idle agent above the context limit its kind's compact command
    /// (`details.command`, `context_before`).
    AgentCompacting,
    /// A compacted agent's context went down (`details.context_before`, `context_after`).
    AgentCompacted,
    /// A notification channel failed (its tries are spent, or its tool is missing); said once
    /// until it works again.
    NotifyFailed,
    /// A failed notification channel delivered again.
    NotifyRecovered,
    /// Undoing a claim in the work source failed; it is retried with back-off.
    ClaimUndoFailed,
    /// A claim whose undo had failed was undone.
    ClaimUndone,
    /// The coordinator started; `details.agents` maps each agent pane it saw on its first
    /// poll to its status, so the ledger knows the panes' states after a restart.
    CoordinatorStarted,
    /// Any other type name.
    Other(String),
}

const NAMED: [(&str, CoordinatorEventType); 50] = [
    ("agent_idle", CoordinatorEventType::AgentIdle),
    ("agent_busy", CoordinatorEventType::AgentBusy),
    ("agent_error", CoordinatorEventType::AgentError),
    ("agent_recovered", CoordinatorEventType::AgentRecovered),
    ("conflict_detected", CoordinatorEventType::ConflictDetected),
    ("conflict_resolved", CoordinatorEventType::ConflictResolved),
    ("work_assigned", CoordinatorEventType::WorkAssigned),
    ("digest_sent", CoordinatorEventType::DigestSent),
    ("digest_failed", CoordinatorEventType::DigestFailed),
    (
        "assignment_refused",
        CoordinatorEventType::AssignmentRefused,
    ),
    ("prompt_stalled", CoordinatorEventType::PromptStalled),
    ("mail_degraded", CoordinatorEventType::MailDegraded),
    ("mail_recovered", CoordinatorEventType::MailRecovered),
    (
        "work_source_degraded",
        CoordinatorEventType::WorkSourceDegraded,
    ),
    (
        "work_source_recovered",
        CoordinatorEventType::WorkSourceRecovered,
    ),
    (
        "conflict_release_requested",
        CoordinatorEventType::ConflictReleaseRequested,
    ),
    ("work_completed", CoordinatorEventType::WorkCompleted),
    ("agent_blocked", CoordinatorEventType::AgentBlocked),
    ("agent_rate_limited", CoordinatorEventType::AgentRateLimited),
    ("agent_stalled", CoordinatorEventType::AgentStalled),
    ("agent_exited", CoordinatorEventType::AgentExited),
    ("test_run_recorded", CoordinatorEventType::TestRunRecorded),
    ("agent_restarted", CoordinatorEventType::AgentRestarted),
    (
        "agent_restart_failed",
        CoordinatorEventType::AgentRestartFailed,
    ),
    ("agent_crash_loop", CoordinatorEventType::AgentCrashLoop),
    ("work_handed_back", CoordinatorEventType::WorkHandedBack),
    ("work_redelivered", CoordinatorEventType::WorkRedelivered),
    ("tmux_lost", CoordinatorEventType::TmuxLost),
    ("tmux_restored", CoordinatorEventType::TmuxRestored),
    ("host_unreachable", CoordinatorEventType::HostUnreachable),
    ("host_reachable", CoordinatorEventType::HostReachable),
    ("report_received", CoordinatorEventType::ReportReceived),
    (
        "report_spool_failed",
        CoordinatorEventType::ReportSpoolFailed,
    ),
    ("agent_gone", CoordinatorEventType::AgentGone),
    ("agent_appeared", CoordinatorEventType::AgentAppeared),
    ("ledger_degraded", CoordinatorEventType::LedgerDegraded),
    ("ledger_recovered", CoordinatorEventType::LedgerRecovered),
    ("beads_malformed", CoordinatorEventType::BeadsMalformed),
    ("assign_paused", CoordinatorEventType::AssignPaused),
    ("assign_resumed", CoordinatorEventType::AssignResumed),
    ("dialog_answered", CoordinatorEventType::DialogAnswered),
    ("prompt_sent", CoordinatorEventType::PromptSent),
    ("agent_context_high", CoordinatorEventType::AgentContextHigh),
    ("agent_compacting", CoordinatorEventType::AgentCompacting),
    ("agent_compacted", CoordinatorEventType::AgentCompacted),
    ("notify_failed", CoordinatorEventType::NotifyFailed),
    ("notify_recovered", CoordinatorEventType::NotifyRecovered),
    ("claim_undo_failed", CoordinatorEventType::ClaimUndoFailed),
    ("claim_undone", CoordinatorEventType::ClaimUndone),
    (
        "coordinator_started",
        CoordinatorEventType::CoordinatorStarted,
    ),
];

impl CoordinatorEventType {
    /// Every named type (not `Other`).
    pub fn all() -> impl Iterator<Item = CoordinatorEventType> {
        NAMED.iter().map(|(_, t)| t.clone())
    }

    /// The wire name, e.g. `work_assigned`.
    pub fn as_str(&self) -> &str {
        if let CoordinatorEventType::Other(s) = self {
            return s;
        }
        NAMED
            .iter()
            .find(|(_, t)| t == self)
            .map(|(n, _)| *n)
            .unwrap_or("unknown")
    }

    /// The type for a wire name.
    pub fn from_name(name: &str) -> CoordinatorEventType {
        NAMED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| CoordinatorEventType::Other(name.to_string()))
    }
}

impl fmt::Display for CoordinatorEventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for CoordinatorEventType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for CoordinatorEventType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(CoordinatorEventType::from_name(&s))
    }
}

/// One event from the coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CoordinatorEvent {
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: CoordinatorEventType,
    /// When.
    #[serde(with = "time::rfc3339")]
    pub timestamp: Timestamp,
    /// The pane id of the agent concerned.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_id: String,
    /// Type-specific details.
    #[serde(
        default,
        skip_serializing_if = "Map::is_empty",
        deserialize_with = "time::null_as_default"
    )]
    pub details: Map<String, Value>,
}

impl CoordinatorEvent {
    /// A new event with no agent and no details.
    pub fn new(event_type: CoordinatorEventType, timestamp: Timestamp) -> Self {
        CoordinatorEvent {
            event_type,
            timestamp,
            agent_id: String::new(),
            details: Map::new(),
        }
    }

    /// Sets the agent id.
    pub fn with_agent(mut self, agent_id: impl Into<String>) -> Self {
        self.agent_id = agent_id.into();
        self
    }

    /// Adds one detail.
    pub fn with_detail(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.details.insert(key.to_string(), value.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in CoordinatorEventType::all() {
            assert_eq!(CoordinatorEventType::from_name(t.as_str()), t);
        }
        let other = CoordinatorEventType::from_name("future_kind");
        assert_eq!(other, CoordinatorEventType::Other("future_kind".into()));
        assert_eq!(serde_json::to_string(&other).unwrap(), "\"future_kind\"");
    }

    #[test]
    fn reference_types_present() {
        let names: Vec<String> = CoordinatorEventType::all()
            .map(|t| t.as_str().to_string())
            .collect();
        for n in [
            "agent_idle",
            "agent_busy",
            "agent_error",
            "agent_recovered",
            "conflict_detected",
            "conflict_resolved",
            "work_assigned",
            "digest_sent",
            "digest_failed",
            "assignment_refused",
            "prompt_stalled",
            "mail_degraded",
            "work_source_degraded",
        ] {
            assert!(names.iter().any(|x| x == n), "missing {n}");
        }
    }
}
