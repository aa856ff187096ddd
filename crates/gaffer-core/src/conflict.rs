//! Reservation conflicts between agents (reference `Conflict`, `Holder`).

use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

/// An agent holding a reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Holder {
    /// The holder's Agent Mail name.
    pub agent_name: String,
    /// Its pane, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pane_id: String,
    /// When reserved.
    #[serde(with = "time::rfc3339")]
    pub reserved_at: Timestamp,
    /// When the reservation expires.
    #[serde(with = "time::rfc3339")]
    pub expires_at: Timestamp,
    /// Why it was taken.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// Lower number = higher priority.
    #[serde(default)]
    pub priority: i64,
}

/// A file reservation conflict between agents.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Stable id.
    pub id: String,
    /// The contested path, when one was asked about.
    #[serde(default)]
    pub file_path: String,
    /// The contested pattern.
    #[serde(default)]
    pub pattern: String,
    /// Agents holding overlapping reservations.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub holders: Vec<Holder>,
    /// When detected.
    #[serde(with = "time::rfc3339")]
    pub detected_at: Timestamp,
    /// When resolved.
    #[serde(
        default,
        with = "time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub resolved_at: Option<Timestamp>,
    /// How it was resolved.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resolution: String,
}
