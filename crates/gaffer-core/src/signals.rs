//! The agents' own signals: hook events, session files and transcripts, normalised across
//! agent kinds. The screen is one source among these; fusion (`cycle`/`detect`) weighs them.
//!
//! This module holds the data contract only (pure, no IO): the `gaffer hook` command writes
//! [`Signal`]s, a [`SignalFeed`] gives the observation the latest ones per pane, and readers of
//! transcripts and session files give [`ContextReading`]s and [`SessionFileStatus`]es.

use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One lifecycle event, normalised over the three CLIs' hook names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HookEvent {
    /// A session started (`SessionStart`).
    SessionStart,
    /// The user's prompt was taken; a turn began (`UserPromptSubmit`, Gemini `BeforeAgent`).
    TurnStart,
    /// A model request is about to go out (Gemini `BeforeModel`).
    ModelRequest,
    /// A model response arrived (Gemini `AfterModel`).
    ModelResponse,
    /// A tool is about to run (`PreToolUse`, Gemini `BeforeTool`).
    ToolStart,
    /// A tool finished (`PostToolUse`, Gemini `AfterTool`).
    ToolEnd,
    /// A tool waits for the human's permission (`PermissionRequest`, a `permission_prompt`
    /// notification).
    PermissionRequest,
    /// The agent sits idle waiting for input (an `idle_prompt` notification).
    IdlePrompt,
    /// Any other notification.
    Notification,
    /// The context is being compacted (`PreCompact`, Gemini `PreCompress`).
    Compact,
    /// The turn ended (`Stop`, Gemini `AfterAgent`, Codex `notify`).
    Stop,
    /// The turn ended on an API error (Claude `StopFailure`); the detail is the CLI's error
    /// class (`rate_limit`, `server_error`, `overloaded`, `billing_error`, …).
    TurnFailed,
    /// A sub-agent's turn ended (`SubagentStop`).
    SubagentStop,
    /// The session ended (`SessionEnd`).
    SessionEnd,
}

impl HookEvent {
    /// Every event, in declaration order.
    pub const ALL: [HookEvent; 14] = [
        HookEvent::SessionStart,
        HookEvent::TurnStart,
        HookEvent::ModelRequest,
        HookEvent::ModelResponse,
        HookEvent::ToolStart,
        HookEvent::ToolEnd,
        HookEvent::PermissionRequest,
        HookEvent::IdlePrompt,
        HookEvent::Notification,
        HookEvent::Compact,
        HookEvent::Stop,
        HookEvent::TurnFailed,
        HookEvent::SubagentStop,
        HookEvent::SessionEnd,
    ];

    /// The snake_case name used in JSON, the ledger and `explain`.
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::SessionStart => "session_start",
            HookEvent::TurnStart => "turn_start",
            HookEvent::ModelRequest => "model_request",
            HookEvent::ModelResponse => "model_response",
            HookEvent::ToolStart => "tool_start",
            HookEvent::ToolEnd => "tool_end",
            HookEvent::PermissionRequest => "permission_request",
            HookEvent::IdlePrompt => "idle_prompt",
            HookEvent::Notification => "notification",
            HookEvent::Compact => "compact",
            HookEvent::Stop => "stop",
            HookEvent::TurnFailed => "turn_failed",
            HookEvent::SubagentStop => "subagent_stop",
            HookEvent::SessionEnd => "session_end",
        }
    }
}

/// One recorded hook signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Ledger sequence number (0 before it is stored).
    #[serde(default)]
    pub seq: i64,
    /// The tmux pane it came from (`TMUX_PANE`, e.g. `%3`).
    pub pane_id: String,
    /// The tmux server's socket path (from `TMUX`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<String>,
    /// Agent kind code (`cc`, `cod`, `gmi`).
    pub agent: String,
    /// The normalised event.
    pub event: HookEvent,
    /// The CLI's own event name (`PreToolUse`, `BeforeAgent`, …).
    pub raw_event: String,
    /// When the CLI fired the hook: the `gaffer hook` process's start (wall clock, the same
    /// clock as the coordinator's event timestamps).
    #[serde(with = "time::rfc3339")]
    pub at: Timestamp,
    /// The CLI's session id, when the payload names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// The transcript the payload points at, when it names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transcript_path: Option<PathBuf>,
    /// A short, sanitised detail (tool name, notification message), at most 200 chars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Context use read from a structured source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContextReading {
    /// Percent of the window used (0–100).
    pub percent: f64,
    /// Input tokens of the last turn.
    pub tokens: u64,
    /// The model's window in tokens.
    pub window: u64,
    /// The model the turn used, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// When the reading's source was last written.
    #[serde(with = "time::rfc3339")]
    pub at: Timestamp,
}

/// What a per-process session file (Claude `sessions/<pid>.json`) says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionFileStatus {
    /// The status field as written (`busy`, `idle`, …).
    pub status: String,
    /// When the file was last written.
    #[serde(with = "time::rfc3339")]
    pub at: Timestamp,
}

/// Everything the structured sources say about one pane, newest first per kind.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PaneSignals {
    /// The last signal of each event kind.
    pub last: BTreeMap<HookEvent, Signal>,
    /// Context use from the transcript.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextReading>,
    /// The session file's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_file: Option<SessionFileStatus>,
}

impl PaneSignals {
    /// The newest signal of any kind.
    pub fn newest(&self) -> Option<&Signal> {
        self.last.values().max_by_key(|s| (s.at, s.seq))
    }
}

/// The port through which the observation reads the structured sources, keyed by pane id.
///
/// Implementations must be cheap to call once per observation pass (they read what is new).
pub trait SignalFeed: Send + Sync {
    /// The current structured view of every pane that has one.
    fn pane_signals(&self) -> BTreeMap<String, PaneSignals>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip_through_json() {
        for e in HookEvent::ALL {
            let json = serde_json::to_string(&e).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", e.as_str()));
            let back: HookEvent = serde_json::from_str(&json).unwrap_or(HookEvent::Notification);
            assert_eq!(back, e);
        }
    }
}
