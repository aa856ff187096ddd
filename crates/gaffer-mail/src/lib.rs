//! gaffer-mail: Agent Mail adapters behind the `gaffer_core::mailbox::Mailbox` port.
//!
//! - [`McpMailbox`] speaks JSON-RPC over HTTP to the real MCP Agent Mail server.
//! - [`EmbeddedMailbox`] keeps the same semantics in SQLite (`.gaffer/state.db`).
//!
//! [`open`] picks the backend: the server when a URL is configured, else the embedded one.

pub mod embedded;
pub mod mcp;
pub mod wire;

pub use embedded::EmbeddedMailbox;
pub use mcp::{McpMailbox, McpOptions};

use gaffer_core::mailbox::{MailError, Mailbox};
use std::path::Path;
use std::time::Duration;

/// The server URL from `AGENT_MAIL_URL` or the config (`mail.url`), when one is set.
pub fn configured_url(config_url: &str) -> Option<String> {
    std::env::var("AGENT_MAIL_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| Some(config_url.to_string()).filter(|u| !u.trim().is_empty()))
}

/// The mailbox to use: [`McpMailbox`] at `url` (bearer from `AGENT_MAIL_TOKEN` when set), or
/// the [`EmbeddedMailbox`] of `project_root` when `url` is `None`.
pub fn open(
    url: Option<&str>,
    project_root: &Path,
    timeout: Duration,
) -> Result<Box<dyn Mailbox>, MailError> {
    match url {
        Some(u) => Ok(Box::new(McpMailbox::from_env(u, timeout))),
        None => Ok(Box::new(EmbeddedMailbox::open_project(project_root)?)),
    }
}
