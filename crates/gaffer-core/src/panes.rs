//! The `Panes` port: what the coordinator needs from a terminal multiplexer.
//!
//! Pure types and one trait; the tmux adapter (`gaffer-tmux`) implements it. Time comes in as
//! values ([`Timestamp`]); nothing here does IO.

use crate::pane::PaneIdentity;
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Metadata of one pane, from one listing of every pane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PaneInfo {
    /// Session name.
    pub session: String,
    /// Window index within the session.
    pub window_index: i64,
    /// Pane index within its window.
    pub pane_index: i64,
    /// Pane id, e.g. `%3`.
    pub pane_id: String,
    /// Pane title as tmux reports it.
    pub title: String,
    /// `pane_current_command` (process name of the foreground process).
    pub current_command: String,
    /// Pid of the pane's first process.
    pub pid: u32,
    /// Width in cells.
    pub width: u32,
    /// Height in cells.
    pub height: u32,
    /// Whether this is the active pane of its window.
    pub active: bool,
    /// Whether the pane's process has exited (remain-on-exit).
    pub dead: bool,
    /// Lines in the pane's history (scrolled off the top).
    pub history_size: u64,
    /// Cursor column.
    pub cursor_x: u32,
    /// Cursor row.
    pub cursor_y: u32,
    /// Last activity of the pane's window, Unix seconds (window-scoped, second resolution).
    pub window_activity: i64,
    /// Agent type code from the title, with the command fallback (`user` for a plain pane).
    pub agent_type: String,
    /// 1-based index per type (0 for `user`).
    pub agent_index: u32,
    /// Model alias or persona name from the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Tags from the title.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// An agent pane whose agent process is gone: the pane is dead, or its foreground command
    /// is a bare shell with no child process (a CLI killed outright can leave its last screen
    /// standing, with no shell prompt at the bottom).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub process_gone: bool,
}

impl PaneInfo {
    /// Fills the identity fields from a parsed title.
    pub fn with_identity(mut self, id: PaneIdentity) -> Self {
        self.agent_type = id.agent_type;
        self.agent_index = id.index;
        self.variant = id.variant;
        self.tags = id.tags;
        self
    }

    /// Whether the pane holds an agent (its type is not `user`).
    pub fn is_agent(&self) -> bool {
        !self.agent_type.is_empty() && self.agent_type != crate::pane::USER_TYPE
    }
}

/// One pane's screen at one observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObservedPane {
    /// The pane's metadata.
    pub info: PaneInfo,
    /// The captured screen (history budget plus visible rows, trailing blank rows removed).
    pub screen: String,
    /// Whether the content differs from the previous observation of this pane.
    pub content_changed: bool,
    /// Whether the screen was captured in this observation (false: reused, unchanged).
    pub captured: bool,
    /// The last time the pane's content was seen to change (its activity clock).
    #[serde(with = "time::rfc3339")]
    pub last_change: Timestamp,
}

/// How the panes were observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObserveMode {
    /// Through a control-mode client: no process per cycle.
    Control,
    /// Batched polling: one listing plus at most one batched capture per cycle.
    Polling,
}

/// One observation of every pane in scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaneSnapshot {
    /// When the observation was made.
    #[serde(with = "time::rfc3339")]
    pub observed_at: Timestamp,
    /// How it was made.
    pub mode: ObserveMode,
    /// Every pane in scope, agents and others.
    pub panes: Vec<ObservedPane>,
    /// Panes seen in the previous observation that are gone now (killed pane or session).
    pub vanished: Vec<String>,
    /// Problems met while observing (session gone, control client died, …); the observation
    /// is still valid for what it holds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Why nothing could be observed: the tmux server or the session is gone. `None` when
    /// tmux answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
    /// Hosts (`[[hosts]]`) that could not be observed this time, with their panes as last
    /// seen: those panes are neither observed nor vanished.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreachable: Vec<UnreachableHost>,
    /// How each `[[hosts]]` host answered this time (none without hosts).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostObservation>,
}

/// How one `[[hosts]]` host answered an observation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostObservation {
    /// The host's name (`[[hosts]] name`).
    pub host: String,
    /// How long its most recent completed observation took (the round trips over its
    /// connection included), in milliseconds; `None` before its first answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
    /// It has not answered in time this pass: its panes are neither observed nor vanished,
    /// and its agents keep their last observation.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub late: bool,
    /// How long the pass has been waiting for its current observation, when late (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_ms: Option<u64>,
}

/// A host whose panes could not be observed (its connection is down, or its tmux does not
/// answer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnreachableHost {
    /// The host's name (`[[hosts]] name`).
    pub host: String,
    /// Why it could not be observed.
    pub error: String,
    /// Its panes as last observed (keys `host:%N`).
    pub panes: Vec<PaneInfo>,
}

/// The host of a pane key: `Some("box1")` for `box1:%3`, `None` for a local `%3`.
pub fn pane_host(key: &str) -> Option<&str> {
    match key.rsplit_once(':') {
        Some((host, id)) if id.starts_with('%') && !host.is_empty() => Some(host),
        _ => None,
    }
}

/// What a delivery probe saw after Enter was pressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeResult {
    /// The agent left WAITING: it took the prompt.
    LeftWaiting,
    /// The screen shows the turn happened: the composer no longer holds the prompt and the
    /// content above it changed (a fast answer can leave and re-enter WAITING between probes).
    Submitted,
    /// The agent is still WAITING with the prompt in its composer (or nothing could be told
    /// yet): another Enter may submit it.
    StillWaiting,
    /// The composer no longer holds the prompt, but no turn is on screen: another Enter would
    /// go to an empty composer, so none is pressed.
    Cleared,
}

impl ProbeResult {
    /// Whether this is evidence that the prompt was submitted.
    pub fn delivered(self) -> bool {
        matches!(self, ProbeResult::LeftWaiting | ProbeResult::Submitted)
    }
}

/// The checks of one verified delivery, called by the protocol.
pub trait DeliveryCheck {
    /// Called once before anything is sent: why the pane must not get the text now, if it
    /// must not (its agent exited and the pane is a shell, which would run the text as a
    /// command). The default sends.
    fn refuse(&mut self) -> Option<String> {
        None
    }
    /// Called once after the paste settled, before the first Enter: remember what the screen
    /// shows (the composer holding the prompt), so later checks can tell a turn happened.
    fn baseline(&mut self) {}
    /// Called after Enter, every probe interval: what the screen says now.
    fn check(&mut self) -> ProbeResult;
}

/// A plain closure is a check that judges by status alone (no baseline).
impl<F: FnMut() -> ProbeResult> DeliveryCheck for F {
    fn check(&mut self) -> ProbeResult {
        self()
    }
}

/// Timing of a verified delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryOptions {
    /// Pause between the paste and the Enter key.
    pub settle: Duration,
    /// How long to wait for the agent to leave WAITING after each Enter.
    pub deadline: Duration,
    /// Pause between probes.
    pub probe_interval: Duration,
    /// Extra attempts (Enter again, then wait again) after the first one fails.
    pub retries: u32,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            settle: Duration::from_millis(200),
            deadline: Duration::from_secs(5),
            probe_interval: Duration::from_millis(100),
            retries: 1,
        }
    }
}

/// The result of one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryOutcome {
    /// The prompt was submitted before a deadline (the agent left WAITING, or the turn is on
    /// screen).
    Delivered,
    /// The text was pasted and submitted but the agent never left WAITING.
    PromptStalled,
}

/// A delivery report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryReport {
    /// Target pane id.
    pub pane_id: String,
    /// Outcome.
    pub outcome: DeliveryOutcome,
    /// Number of attempts (Enter presses) made.
    pub attempts: u32,
    /// Bytes of text delivered.
    pub bytes: usize,
    /// Time from the start of the paste to confirmation (or to giving up), milliseconds.
    pub elapsed_ms: u64,
}

/// Errors of a `Panes` implementation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PanesError {
    /// The multiplexer (server, socket, binary) cannot be reached.
    #[error("multiplexer unavailable: {0}")]
    Unavailable(String),
    /// A pane or session does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// A command timed out.
    #[error("timed out: {0}")]
    Timeout(String),
    /// Anything else.
    #[error("{0}")]
    Failed(String),
}

/// What the coordinator needs from a terminal multiplexer.
pub trait Panes: Send + Sync {
    /// Metadata of every pane in scope, from one listing.
    fn list_panes(&self) -> Result<Vec<PaneInfo>, PanesError>;

    /// The screens of the given panes (history budget plus visible rows), in one batch.
    /// Panes that vanished are left out of the result.
    fn capture(&self, pane_ids: &[String]) -> Result<Vec<(String, String)>, PanesError>;

    /// One observation: every pane's metadata, with screens captured only for panes whose
    /// content may have changed, and a per-pane activity clock.
    fn observe(&self) -> Result<PaneSnapshot, PanesError>;

    /// Blocks until a pane in scope may have changed, or `timeout` passes; returns whether
    /// something happened. With an event source (tmux control mode) this wakes on the first
    /// output, so an event-driven loop observes a change within milliseconds; without one it
    /// waits the whole timeout and returns true (poll now).
    fn wait_for_activity(&self, timeout: Duration) -> bool;

    /// Verified delivery: paste `text` into the pane, take the `probe`'s baseline after a
    /// settle, press Enter, and check until the probe reports the prompt submitted or the
    /// deadline passes; retry (Enter again, only while the prompt sits in the composer) as
    /// `opts` says, then report `PromptStalled`.
    fn deliver(
        &self,
        pane_id: &str,
        text: &str,
        opts: &DeliveryOptions,
        probe: &mut dyn DeliveryCheck,
    ) -> Result<DeliveryReport, PanesError>;

    /// The command the pane's agent was launched with, as recorded when it was spawned
    /// (`None` when the pane has no record). Multiplexers without records answer `None`.
    fn launch_command(&self, pane_id: &str) -> Result<Option<String>, PanesError> {
        let _ = pane_id;
        Ok(None)
    }

    /// Types `keys` into the pane literally (no Enter), e.g. the number of a dialog's option.
    /// Multiplexers that cannot type answer an error.
    fn send_keys(&self, pane_id: &str, keys: &str) -> Result<(), PanesError> {
        let _ = (pane_id, keys);
        Err(PanesError::Failed(
            "this multiplexer cannot type into panes".into(),
        ))
    }

    /// Relaunches the pane's agent: whatever runs in the pane is killed and `command` runs in
    /// its place, in the same pane (same id, title and working directory); when the agent exits
    /// again the pane returns to a shell. `command` becomes the pane's launch record.
    fn respawn(&self, pane_id: &str, command: &str) -> Result<(), PanesError> {
        let _ = (pane_id, command);
        Err(PanesError::Failed(
            "this multiplexer cannot restart panes".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_fills_fields() {
        let info = PaneInfo::default().with_identity(crate::pane::parse_title("p__cc_2_opus[a]"));
        assert!(info.is_agent());
        assert_eq!(info.agent_type, "cc");
        assert_eq!(info.agent_index, 2);
        assert_eq!(info.variant.as_deref(), Some("opus"));
        let user = PaneInfo::default().with_identity(crate::pane::parse_title("zsh"));
        assert!(!user.is_agent());
    }

    #[test]
    fn outcome_names() {
        assert_eq!(
            serde_json::to_string(&DeliveryOutcome::PromptStalled).unwrap(),
            "\"prompt_stalled\""
        );
    }
}
