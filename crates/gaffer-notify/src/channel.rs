//! The channel port: one way to reach the human.

use gaffer_core::notify::Notification;

/// Why a notification did not go out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Worth another try (no connection, a timeout, a 5xx or 429 answer).
    #[error("{0}")]
    Transient(String),
    /// Another try would fail the same way (a 4xx answer, a refused message).
    #[error("{0}")]
    Permanent(String),
    /// The channel's tool is not installed: it is said once and the channel stays off.
    #[error("{0}")]
    Missing(String),
}

/// One way to reach the human. `send` may block (bounded by the channel's own timeouts): it runs
/// on the channel's [`crate::Outbox`] thread, never on the coordinator's loop.
pub trait Channel: Send {
    /// Its name in events and logs: `desktop`, `webhook`, `mail`, `command`.
    fn name(&self) -> &str;
    /// Delivers one notification.
    fn send(&mut self, n: &Notification) -> Result<(), SendError>;
}
