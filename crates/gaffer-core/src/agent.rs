//! Agents as the coordinator tracks them: state, status results, health, context samples.

use crate::persona::Persona;
use crate::status::AgentStatus;
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

/// The coordinator's record of one agent pane (reference `AgentState`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentState {
    /// tmux pane id, e.g. `%3`.
    pub pane_id: String,
    /// Pane index within its window.
    pub pane_index: i64,
    /// The index of the pane's window.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub window_index: i64,
    /// Agent type code: `cc`, `cod`, `gmi`, or another code from the pane title.
    pub agent_type: String,
    /// The agent's Agent Mail identity, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_mail_name: String,
    /// Observed status.
    pub status: AgentStatus,
    /// Percent of the context window in use (0–100).
    pub context_usage: f64,
    /// Last time the pane's content changed.
    #[serde(with = "time::rfc3339")]
    pub last_activity: Timestamp,
    /// Bead id the agent is working on.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_task: String,
    /// Patterns the agent has reserved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<String>,
    /// False when the agent is in error or could not be observed.
    pub healthy: bool,
    /// The agent's persona, used for routing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Persona>,
    /// Count of active assignments; −1 means tracking is unavailable.
    pub assignments: i64,
    /// When the agent was last given work.
    #[serde(default, with = "time::rfc3339_zero_none")]
    pub last_assigned_at: Option<Timestamp>,
    /// The pane's title as last observed (its identity, e.g. `proj__cc_3`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// Why the status is what it is when it was not observed (`tmux_lost`); empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status_reason: String,
}

impl AgentState {
    /// A new agent in `UNKNOWN` state, healthy, with no assignments.
    pub fn new(
        pane_id: impl Into<String>,
        pane_index: i64,
        agent_type: impl Into<String>,
        now: Timestamp,
    ) -> Self {
        AgentState {
            pane_id: pane_id.into(),
            pane_index,
            window_index: 0,
            agent_type: agent_type.into(),
            agent_mail_name: String::new(),
            status: AgentStatus::Unknown,
            context_usage: 0.0,
            last_activity: now,
            current_task: String::new(),
            reservations: Vec::new(),
            healthy: true,
            profile: None,
            assignments: 0,
            last_assigned_at: None,
            title: String::new(),
            status_reason: String::new(),
        }
    }

    /// A unique, readable name for text (see [`display_name`]).
    pub fn display_name(&self) -> String {
        display_name(
            &self.title,
            &self.agent_mail_name,
            self.window_index,
            self.pane_index,
        )
    }
}

/// The readable name of an agent: its pane title (gaffer's identity of the pane, e.g.
/// `proj__cc_3`, unique in a session and shown on the pane's border), else its Agent Mail name,
/// else `window.pane` (`2.1`). A bare pane index repeats across windows, so it is never the
/// name. Control characters are dropped, so the name is safe to print.
pub fn display_name(title: &str, mail_name: &str, window_index: i64, pane_index: i64) -> String {
    let raw = if !title.trim().is_empty() {
        title.to_string()
    } else if !mail_name.trim().is_empty() {
        mail_name.to_string()
    } else {
        format!("{window_index}.{pane_index}")
    };
    raw.chars().filter(|c| !c.is_control()).collect()
}

/// The result of checking one agent's status (reference `AgentStatusResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatusResult {
    /// Observed status.
    pub status: AgentStatus,
    /// Percent of context used.
    pub context_usage: f64,
    /// Last content change.
    #[serde(with = "time::rfc3339")]
    pub last_activity: Timestamp,
    /// Output velocity, characters per second.
    pub velocity: f64,
    /// False on error or when the pane could not be read.
    pub healthy: bool,
    /// Why the check failed, when it did.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error_message: String,
}

/// A health summary for one agent (reference `HealthCheck`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// tmux pane id.
    pub pane_id: String,
    /// Agent type code.
    pub agent_type: String,
    /// Overall verdict.
    pub healthy: bool,
    /// Human-readable problems.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub issues: Vec<String>,
    /// When the check ran.
    #[serde(with = "time::rfc3339")]
    pub timestamp: Timestamp,
}

/// Context usage at a point in time (reference `ContextSnapshot`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ContextSnapshot {
    /// When the sample was taken.
    #[serde(with = "time::rfc3339")]
    pub timestamp: Timestamp,
    /// Percent used.
    pub usage: f64,
}

/// Window 0 is left out of the JSON (the reference has no window index).
fn is_zero(n: &i64) -> bool {
    *n == 0
}
