//! The agent status vocabulary (DESIGN.md §3), serialized in upper case.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// What an agent is doing, as observed from its pane.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AgentStatus {
    /// Idle at its prompt, ready for input.
    Waiting,
    /// Actively producing output.
    Generating,
    /// Processing with a thinking indicator and little output.
    Thinking,
    /// A permission, trust or question dialog waits for a human.
    Blocked,
    /// The provider's rate limit was hit; see the verdict for the reset time.
    RateLimited,
    /// An error condition is shown.
    Error,
    /// Was busy, but no progress past the stall threshold.
    Stalled,
    /// The agent process is gone and the pane is a shell.
    Exited,
    /// Not enough signal to tell.
    #[default]
    Unknown,
}

impl AgentStatus {
    /// Every status, in declaration order.
    pub const ALL: [AgentStatus; 9] = [
        AgentStatus::Waiting,
        AgentStatus::Generating,
        AgentStatus::Thinking,
        AgentStatus::Blocked,
        AgentStatus::RateLimited,
        AgentStatus::Error,
        AgentStatus::Stalled,
        AgentStatus::Exited,
        AgentStatus::Unknown,
    ];

    /// The upper-case wire name, e.g. `RATE_LIMITED`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentStatus::Waiting => "WAITING",
            AgentStatus::Generating => "GENERATING",
            AgentStatus::Thinking => "THINKING",
            AgentStatus::Blocked => "BLOCKED",
            AgentStatus::RateLimited => "RATE_LIMITED",
            AgentStatus::Error => "ERROR",
            AgentStatus::Stalled => "STALLED",
            AgentStatus::Exited => "EXITED",
            AgentStatus::Unknown => "UNKNOWN",
        }
    }

    /// Busy: generating or thinking.
    pub fn is_busy(self) -> bool {
        matches!(self, AgentStatus::Generating | AgentStatus::Thinking)
    }
}

impl fmt::Display for AgentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unrecognised status name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown agent status {0:?} (expected one of WAITING, GENERATING, THINKING, BLOCKED, RATE_LIMITED, ERROR, STALLED, EXITED, UNKNOWN)"
)]
pub struct ParseStatusError(pub String);

impl FromStr for AgentStatus {
    type Err = ParseStatusError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase().replace('-', "_");
        AgentStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == upper)
            .ok_or_else(|| ParseStatusError(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_upper_case() {
        for st in AgentStatus::ALL {
            let json = serde_json::to_string(&st).unwrap();
            assert_eq!(json, format!("\"{}\"", st.as_str()));
            let back: AgentStatus = serde_json::from_str(&json).unwrap();
            assert_eq!(back, st);
            assert_eq!(st.as_str().parse::<AgentStatus>().unwrap(), st);
        }
        assert_eq!(
            serde_json::to_string(&AgentStatus::RateLimited).unwrap(),
            "\"RATE_LIMITED\""
        );
    }

    #[test]
    fn rejects_unknown_names() {
        assert!("idle".parse::<AgentStatus>().is_err());
        assert!(serde_json::from_str::<AgentStatus>("\"waiting\"").is_err());
    }
}
