//! Session digests (reference `DigestSummary`, `AgentDigestStatus`, `WorkDigestSummary`).

use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

/// A summary of session activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestSummary {
    /// tmux session name.
    pub session: String,
    /// When generated.
    #[serde(with = "time::rfc3339")]
    pub generated_at: Timestamp,
    /// Agents tracked.
    pub agent_count: i64,
    /// Generating or thinking.
    pub active_count: i64,
    /// Waiting.
    pub idle_count: i64,
    /// In error.
    pub error_count: i64,
    /// One line per agent.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub agent_statuses: Vec<AgentDigestStatus>,
    /// Things a human should look at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
    /// Work counts.
    #[serde(default)]
    pub work_summary: WorkDigestSummary,
}

/// One agent's line in a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDigestStatus {
    /// Pane index.
    pub pane_index: i64,
    /// Agent type code.
    pub agent_type: String,
    /// Status name.
    pub status: String,
    /// Percent of context used.
    pub context_usage: f64,
    /// How long idle, like `42s`, `17m`, `3h5m`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idle_for: String,
    /// Current bead.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub task: String,
}

/// Work counts for a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WorkDigestSummary {
    /// Open and ready or waiting.
    pub pending_tasks: i64,
    /// In progress.
    pub in_progress_tasks: i64,
    /// Closed since midnight UTC.
    pub completed_today: i64,
    /// Blocked by open dependencies.
    pub blocked_tasks: i64,
    /// The best ready ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_ready: Vec<String>,
}
