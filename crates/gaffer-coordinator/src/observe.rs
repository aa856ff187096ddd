//! The runtime's view of observation: an [`AgentObserver`] turns panes into agent states, and a
//! [`DeliveryProbe`] tells whether an agent left WAITING after a prompt. The tmux adapter and
//! the detector implement them in the binary; tests use fakes.

use gaffer_core::panes::ProbeResult;
use gaffer_core::status::AgentStatus;
use gaffer_core::time::Timestamp;
use serde::{Deserialize, Serialize};

/// One agent pane as observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedAgent {
    /// Pane id.
    pub pane_id: String,
    /// Pane index.
    pub pane_index: i64,
    /// Agent type code.
    pub agent_type: String,
    /// Status after hysteresis and stall detection.
    pub status: AgentStatus,
    /// Percent of context used (0 when unknown).
    pub context_usage: f64,
    /// Last content change.
    #[serde(with = "gaffer_core::time::rfc3339")]
    pub last_activity: Timestamp,
    /// False when the pane could not be read or the agent is in error.
    pub healthy: bool,
    /// Why it is unhealthy.
    #[serde(default)]
    pub error_message: String,
    /// The rule that decided the status.
    #[serde(default)]
    pub rule: String,
    /// Tags from the pane title (`[testing,docs]`): the agent's persona tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The title's variant (model alias or persona name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// When a rate limit resets, if shown.
    #[serde(
        default,
        with = "gaffer_core::time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub rate_limit_reset: Option<Timestamp>,
}

/// One observation of every agent pane.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentsObservation {
    /// The agents.
    pub agents: Vec<ObservedAgent>,
    /// Problems met (session gone, control client died, …).
    pub problems: Vec<String>,
}

/// Observes agent panes.
pub trait AgentObserver: Send {
    /// Observes every agent pane of the session now.
    fn observe(&mut self, now: Timestamp) -> Result<AgentsObservation, String>;
}

/// Tells whether an agent took a prompt.
pub trait DeliveryProbe: Send + Sync {
    /// Whether the agent in `pane_id` has left WAITING.
    fn probe(&self, pane_id: &str) -> ProbeResult;
}
