//! Notifications for the human: which events notify, deduplicated and rate-limited per agent and
//! kind, with quiet hours. Pure: the caller passes every event and the time, and delivers what
//! comes out (`gaffer-notify` does, on its own threads).
//!
//! | concern | module |
//! |---|---|
//! | the `[notify]` section | [`config`] |
//! | quiet hours (local time, across midnight) | [`quiet`] |
//! | a notification, its text, priority and tags | [`message`] |
//! | the rule engine: episodes, flapping, rate limits, quiet hours | [`engine`] |

pub mod config;
pub mod engine;
pub mod message;
pub mod quiet;

pub use config::{NotifyConfig, RuleKind, WebhookFormat};
pub use engine::{Engine, Rules, Stats};
pub use message::Notification;
pub use quiet::QuietHours;

#[cfg(test)]
mod tests;
