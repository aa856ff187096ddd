//! Agent state detection from pane screens.
//!
//! This module holds the contract the rest of gaffer uses; the rules engine behind
//! [`Detector`] (rules as data, one embedded TOML per agent kind) is filled in by the
//! observation issue.

use crate::status::AgentStatus;
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

/// What is known about a pane at one observation.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenInput<'a> {
    /// Agent type code: `cc`, `cod`, `gmi`, or anything else (generic shell rules apply).
    pub agent_type: &'a str,
    /// The captured screen (visible rows plus some scrollback), oldest line first, no escapes.
    pub screen: &'a str,
    /// tmux's `pane_current_command` (e.g. `node`, `claude`, `bash`); empty when unknown.
    pub current_command: &'a str,
    /// When the screen was captured.
    pub observed_at: Timestamp,
}

/// The verdict of one detection, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The detected status.
    pub status: AgentStatus,
    /// Why, in words.
    pub reason: String,
    /// Id of the rule that fired, e.g. `cc.busy.spinner`.
    pub rule: String,
    /// The screen lines that matched.
    pub evidence: Vec<String>,
    /// 0–1.
    pub confidence: f64,
    /// Percent of the context window used, when the screen shows it.
    pub context_usage: Option<f64>,
    /// When a shown rate limit resets, when the screen says.
    #[serde(
        default,
        with = "time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub rate_limit_reset: Option<Timestamp>,
    /// When the screen was captured.
    #[serde(with = "time::rfc3339")]
    pub observed_at: Timestamp,
}
