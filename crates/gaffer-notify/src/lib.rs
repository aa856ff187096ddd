//! gaffer-notify: notifications that reach the human, without floods.
//!
//! [`Notifier`] is a [`gaffer_coordinator::Consumer`]: `consume` only queues the event (bounded,
//! never blocking the loop). Its own thread runs the pure rule engine
//! ([`gaffer_core::notify::Engine`]: episodes, flapping, rate limits, quiet hours) on the wall
//! clock and hands each notification to every channel's [`Outbox`], a thread per channel with a
//! bounded queue, so a slow or dead channel holds up no other. An outbox retries with back-off
//! (bounded), and reports a channel that stays down once (`notify_failed`) and its recovery once
//! (`notify_recovered`).
//!
//! | concern | module |
//! |---|---|
//! | the channel port and its errors | [`channel`] |
//! | desktop (`notify-send`, `osascript`) | [`desktop`] |
//! | webhook (JSON or ntfy's plain form) | [`webhook`] |
//! | Agent Mail to the human | [`mail`] |
//! | a command (JSON on stdin, env vars) | [`command`] |
//! | a channel's thread, queue, retries, down/up events | [`outbox`] |
//! | the consumer and the engine's thread | [`notifier`] |
//! | building all of it from `[notify]` | [`setup`] |

pub mod channel;
pub mod command;
pub mod desktop;
pub mod mail;
pub mod notifier;
pub mod outbox;
pub mod setup;
pub mod webhook;

pub use channel::{Channel, SendError};
pub use notifier::Notifier;
pub use outbox::{Outbox, OutboxStats, RetryPolicy};

/// Where a notifier reports its own events (`notify_failed`, `notify_recovered`); in `gaffer`,
/// the coordinator's [`gaffer_coordinator::EventSink`].
pub type Sink = std::sync::Arc<dyn Fn(gaffer_core::event::CoordinatorEvent) + Send + Sync>;
