//! A notification as it goes to a channel, and the texts the engine writes.

use crate::event::CoordinatorEvent;
use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

/// One notification for the human.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    /// The rule kind (`blocked`, `error`, `rate_limited`, `stalled`, `exited`, `context`,
    /// `conflict`, `digest`), or `quiet_summary`, or `test`.
    pub kind: String,
    /// The agent's pane, when it is about one agent.
    #[serde(default)]
    pub agent_id: String,
    /// What it is about: the pane, or the conflict's id; empty for a digest.
    #[serde(default)]
    pub subject: String,
    /// A one-line title.
    pub title: String,
    /// The text.
    pub message: String,
    /// 1 (min) to 5 (urgent), as ntfy counts.
    pub priority: u8,
    /// ntfy tags (emoji short codes).
    #[serde(default)]
    pub tags: Vec<String>,
    /// When it was made.
    #[serde(with = "time::rfc3339")]
    pub timestamp: Timestamp,
    /// Earlier notifications of this agent and kind folded into this one by the rate limit.
    #[serde(default)]
    pub folded: u32,
    /// The event that caused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<CoordinatorEvent>,
}

impl Notification {
    /// A test notification (`gaffer notify test`).
    pub fn test(label: &str, now: Timestamp) -> Notification {
        Notification {
            kind: "test".into(),
            agent_id: String::new(),
            subject: String::new(),
            title: format!("{}test notification", prefix(label)),
            message: "gaffer can reach you through this channel.".into(),
            priority: 3,
            tags: vec!["white_check_mark".into()],
            timestamp: now,
            folded: 0,
            event: None,
        }
    }
}

/// `gaffer [label]: ` or `gaffer: `.
pub(crate) fn prefix(label: &str) -> String {
    if label.is_empty() {
        "gaffer: ".into()
    } else {
        format!("gaffer [{label}]: ")
    }
}

/// A duration in seconds as `45s`, `3m05s` or `2h10m`.
pub(crate) fn human_secs(secs: i64) -> String {
    let s = secs.max(0);
    if s < 60 {
        format!("{s}s")
    } else if s < 3600 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{}h{:02}m", s / 3600, (s % 3600) / 60)
    }
}

/// ntfy priority and tags of a kind.
pub(crate) fn style(kind: &str) -> (u8, &'static [&'static str]) {
    match kind {
        "blocked" => (4, &["warning"]),
        "error" => (4, &["rotating_light"]),
        "rate_limited" => (3, &["hourglass"]),
        "stalled" => (3, &["snail"]),
        "exited" => (4, &["skull"]),
        "context" => (3, &["brain"]),
        "conflict" => (4, &["crossed_swords"]),
        "digest" => (2, &["memo"]),
        "quiet_summary" => (3, &["zzz"]),
        _ => (3, &[]),
    }
}
