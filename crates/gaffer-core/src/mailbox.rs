//! The `Mailbox` port: Agent Mail operations (projects, agents, messages, file reservations).
//!
//! Adapters in gaffer-mail implement it: one speaks MCP to the real Agent Mail server, one
//! keeps the same semantics in SQLite. Calls are blocking; run them from a blocking thread.
//! JSON names follow the Agent Mail server (spec agentmail.md §3).

use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Why an Agent Mail call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// The project, agent, message or reservation does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The request clashes with existing state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// The server refused the credentials (HTTP 401/403).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The server cannot be reached, or said it is busy.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The call did not finish in time.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The request was rejected as invalid (bad argument, unknown tool).
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The reply could not be understood (malformed JSON, unexpected shape).
    #[error("malformed reply: {0}")]
    Protocol(String),
}

impl MailError {
    /// A short machine name: `not_found`, `conflict`, `unauthorized`, `unavailable`,
    /// `timeout`, `invalid` or `protocol`.
    pub fn kind(&self) -> &'static str {
        match self {
            MailError::NotFound(_) => "not_found",
            MailError::Conflict(_) => "conflict",
            MailError::Unauthorized(_) => "unauthorized",
            MailError::Unavailable(_) => "unavailable",
            MailError::Timeout(_) => "timeout",
            MailError::Invalid(_) => "invalid",
            MailError::Protocol(_) => "protocol",
        }
    }

    /// Whether retrying the same call later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, MailError::Unavailable(_) | MailError::Timeout(_))
    }
}

/// How urgent a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Importance {
    /// Low.
    Low,
    /// The default.
    #[default]
    Normal,
    /// High.
    High,
    /// Urgent.
    Urgent,
}

impl Importance {
    /// The wire name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Importance::Low => "low",
            Importance::Normal => "normal",
            Importance::High => "high",
            Importance::Urgent => "urgent",
        }
    }

    /// Parses a wire name (case-insensitive); unknown names give `None`.
    pub fn parse(s: &str) -> Option<Importance> {
        match s.to_ascii_lowercase().as_str() {
            "low" => Some(Importance::Low),
            "normal" => Some(Importance::Normal),
            "high" => Some(Importance::High),
            "urgent" => Some(Importance::Urgent),
            _ => None,
        }
    }
}

/// A project as the mail system knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProjectInfo {
    /// Numeric id.
    pub id: i64,
    /// Slug (take it from here, never compute it).
    pub slug: String,
    /// The absolute path the project was registered with.
    pub human_key: String,
}

/// What to register an agent with.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentRegistration {
    /// Wanted name (adjective+noun, e.g. `GreenCastle`); `None` lets the mailbox choose.
    pub name: Option<String>,
    /// Program, e.g. `claude-code`.
    pub program: String,
    /// Model, e.g. `opus`.
    pub model: String,
    /// What the agent works on.
    pub task_description: String,
}

/// A registered agent. Always use `name` from here: the server may rename.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentInfo {
    /// Numeric id.
    pub id: i64,
    /// The name granted.
    pub name: String,
    /// Program.
    #[serde(default)]
    pub program: String,
    /// Model.
    #[serde(default)]
    pub model: String,
    /// Task description.
    #[serde(default)]
    pub task_description: String,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OutgoingMessage {
    /// Sender's agent name.
    pub sender: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Carbon copies.
    pub cc: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Markdown body.
    pub body_md: String,
    /// Importance.
    pub importance: Importance,
    /// Whether recipients must acknowledge.
    pub ack_required: bool,
    /// Thread to file it under.
    pub thread_id: Option<String>,
}

/// The result of sending.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentMessage {
    /// The new message's id.
    pub id: i64,
    /// Its thread, when it has one.
    #[serde(default)]
    pub thread_id: Option<String>,
    /// Number of deliveries.
    pub count: usize,
}

/// Which messages to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct InboxQuery {
    /// At most this many (newest first).
    pub limit: usize,
    /// Only urgent ones.
    pub urgent_only: bool,
    /// Include `body_md`.
    pub include_bodies: bool,
}

impl Default for InboxQuery {
    fn default() -> Self {
        InboxQuery {
            limit: 20,
            urgent_only: false,
            include_bodies: true,
        }
    }
}

/// One message in an inbox.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboxMessage {
    /// Message id.
    pub id: i64,
    /// Sender's name.
    pub from: String,
    /// Subject.
    pub subject: String,
    /// Body, when asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_md: Option<String>,
    /// Importance.
    pub importance: Importance,
    /// Whether an acknowledgement is wanted.
    pub ack_required: bool,
    /// Thread.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
    /// When sent.
    #[serde(with = "time::rfc3339")]
    pub created_ts: Timestamp,
    /// `to`, `cc` or `bcc`.
    #[serde(default)]
    pub kind: String,
}

/// A file reservation (advisory lock on a path or glob).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    /// Numeric id.
    pub id: i64,
    /// Holder.
    pub agent_name: String,
    /// Path or glob.
    pub path_pattern: String,
    /// Exclusive (true) or shared.
    pub exclusive: bool,
    /// Why.
    #[serde(default)]
    pub reason: String,
    /// When taken, when known.
    #[serde(default, with = "time::rfc3339_opt")]
    pub created_ts: Option<Timestamp>,
    /// When it lapses.
    #[serde(with = "time::rfc3339")]
    pub expires_ts: Timestamp,
    /// When released, if it was.
    #[serde(default, with = "time::rfc3339_opt")]
    pub released_ts: Option<Timestamp>,
}

impl Reservation {
    /// Not released and not expired at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.released_ts.is_none() && self.expires_ts > now
    }
}

/// What to reserve.
#[derive(Debug, Clone, PartialEq)]
pub struct ReserveRequest {
    /// The agent taking the reservation.
    pub agent: String,
    /// Paths or globs.
    pub paths: Vec<String>,
    /// Time to live.
    pub ttl: Duration,
    /// Exclusive (true) or shared.
    pub exclusive: bool,
    /// Why.
    pub reason: String,
}

/// Another agent's reservation that clashes with a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConflictHolder {
    /// The holder.
    pub agent_name: String,
    /// Its pattern.
    pub path_pattern: String,
    /// Whether its reservation is exclusive.
    pub exclusive: bool,
    /// When it lapses.
    #[serde(default, with = "time::rfc3339_opt")]
    pub expires_ts: Option<Timestamp>,
}

/// A requested path and the reservations it clashes with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PathConflict {
    /// The requested path or glob.
    pub path: String,
    /// Every clashing active reservation.
    pub holders: Vec<ConflictHolder>,
}

/// The result of a reservation request. Reservations are advisory: conflicting paths are
/// granted too, and reported in `conflicts`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReserveResult {
    /// What was granted.
    pub granted: Vec<Reservation>,
    /// What clashes.
    pub conflicts: Vec<PathConflict>,
}

/// The mailbox's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MailHealth {
    /// `ok` when usable.
    pub status: String,
    /// `agent-mail` (a server at a URL) or `embedded` (SQLite).
    pub backend: String,
    /// URL or database path.
    pub location: String,
}

/// Agent Mail: projects, agents, messages and advisory file reservations.
///
/// `project` is the project key: its absolute path (or the slug a server returned).
pub trait Mailbox: Send + Sync {
    /// Creates the project if needed.
    fn ensure_project(&self, project: &str) -> Result<ProjectInfo, MailError>;
    /// Registers (or updates) an agent; a name is generated when none is given.
    fn register_agent(
        &self,
        project: &str,
        reg: &AgentRegistration,
    ) -> Result<AgentInfo, MailError>;
    /// Sends a message.
    fn send_message(&self, project: &str, msg: &OutgoingMessage) -> Result<SentMessage, MailError>;
    /// Lists an agent's inbox, newest first.
    fn fetch_inbox(
        &self,
        project: &str,
        agent: &str,
        query: &InboxQuery,
    ) -> Result<Vec<InboxMessage>, MailError>;
    /// Acknowledges a message (idempotent; also marks it read).
    fn acknowledge(&self, project: &str, agent: &str, message_id: i64) -> Result<(), MailError>;
    /// Marks a message read (idempotent).
    fn mark_read(&self, project: &str, agent: &str, message_id: i64) -> Result<(), MailError>;
    /// Takes reservations; conflicting ones are granted too and reported.
    fn reserve_paths(
        &self,
        project: &str,
        req: &ReserveRequest,
    ) -> Result<ReserveResult, MailError>;
    /// Releases the agent's reservations whose pattern equals one of `paths`, or all when
    /// `paths` is empty. Returns how many were released.
    fn release(&self, project: &str, agent: &str, paths: &[String]) -> Result<usize, MailError>;
    /// Extends the agent's active reservations (those in `paths`, or all when empty) to
    /// `max(expiry, now) + extend`. Returns how many were renewed.
    fn renew(
        &self,
        project: &str,
        agent: &str,
        paths: &[String],
        extend: Duration,
    ) -> Result<usize, MailError>;
    /// Lists reservations of one agent (or all), optionally only the active ones.
    fn list_reservations(
        &self,
        project: &str,
        agent: Option<&str>,
        active_only: bool,
    ) -> Result<Vec<Reservation>, MailError>;
    /// Checks that the mailbox answers.
    fn health(&self) -> Result<MailHealth, MailError>;
}

const ADJECTIVES: [&str; 24] = [
    "Amber", "Azure", "Blue", "Bold", "Brave", "Bright", "Calm", "Coral", "Crimson", "Golden",
    "Green", "Indigo", "Ivory", "Jade", "Lime", "Olive", "Pearl", "Purple", "Red", "Silver",
    "Swift", "Teal", "Topaz", "White",
];
const NOUNS: [&str; 24] = [
    "Anchor", "Bear", "Castle", "Cliff", "Compass", "Creek", "Dog", "Falcon", "Fox", "Harbor",
    "Hill", "Lake", "Lantern", "Meadow", "Mountain", "Oak", "Otter", "Pond", "River", "Rock",
    "Snow", "Stone", "Tower", "Wolf",
];

/// An adjective+noun agent name (`GreenCastle`) chosen by `seed`.
pub fn generate_agent_name(seed: u64) -> String {
    let a = ADJECTIVES[(seed % ADJECTIVES.len() as u64) as usize];
    let n = NOUNS[((seed / ADJECTIVES.len() as u64) % NOUNS.len() as u64) as usize];
    format!("{a}{n}")
}

/// Whether `name` looks like an adjective+noun name: two or more capitalised ASCII words run
/// together, letters and digits only, at most 64 characters (`GreenCastle`).
pub fn is_valid_agent_name(name: &str) -> bool {
    let mut chars = name.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    name.len() <= 64
        && first.is_ascii_uppercase()
        && name.chars().all(|c| c.is_ascii_alphanumeric())
        && name.chars().skip(1).any(|c| c.is_ascii_uppercase())
        && name.chars().any(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_are_valid() {
        for seed in 0..2000 {
            assert!(is_valid_agent_name(&generate_agent_name(seed)));
        }
        assert!(!is_valid_agent_name("worker-1"));
        assert!(!is_valid_agent_name("green"));
        assert!(!is_valid_agent_name(""));
        assert!(is_valid_agent_name("BlueLake"));
    }
}
