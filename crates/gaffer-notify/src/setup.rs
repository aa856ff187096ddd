//! Building the channels of a `[notify]` section.

use crate::Sink;
use crate::channel::Channel;
use crate::command::CommandChannel;
use crate::desktop::Desktop;
use crate::mail::MailChannel;
use crate::outbox::{Outbox, RetryPolicy};
use crate::webhook::Webhook;
use gaffer_core::mailbox::Mailbox;
use gaffer_core::notify::NotifyConfig;
use std::sync::Arc;
use std::time::Duration;

/// The longest wait between two webhook tries.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where the mail channel sends.
pub struct MailTarget {
    /// The mailbox.
    pub mailbox: Arc<dyn Mailbox>,
    /// The project key.
    pub project: String,
    /// The sender's name.
    pub sender: String,
    /// The recipient (`mail_to`, else `human_agent`).
    pub to: String,
}

/// The configured channels with their retry policies, in a fixed order: desktop, webhook, mail,
/// command. The mail channel needs `mail`.
pub fn channels(
    cfg: &NotifyConfig,
    mail: Option<MailTarget>,
) -> Vec<(Box<dyn Channel>, RetryPolicy)> {
    let mut out: Vec<(Box<dyn Channel>, RetryPolicy)> = Vec::new();
    if cfg.desktop {
        out.push((Box::new(Desktop::new()), RetryPolicy::once()));
    }
    if !cfg.webhook_url.is_empty() {
        let mut hook = Webhook::new(
            &cfg.webhook_url,
            cfg.webhook_format,
            &cfg.webhook_topic,
            &cfg.webhook_token,
            cfg.webhook_timeout,
        );
        if !cfg.webhook_ca_file.trim().is_empty() {
            hook = hook.with_ca_file(cfg.webhook_ca_file.trim());
        }
        out.push((
            Box::new(hook),
            RetryPolicy {
                tries: cfg.webhook_tries.max(1),
                backoff: cfg.webhook_backoff,
                max_backoff: MAX_BACKOFF,
            },
        ));
    }
    if cfg.mail {
        match mail {
            Some(m) => out.push((
                Box::new(MailChannel::new(m.mailbox, &m.project, &m.sender, &m.to)),
                RetryPolicy {
                    tries: 2,
                    backoff: Duration::from_secs(1),
                    max_backoff: MAX_BACKOFF,
                },
            )),
            None => tracing::warn!("[notify] mail = true, but there is no mailbox"),
        }
    }
    if !cfg.command.trim().is_empty() {
        out.push((
            Box::new(CommandChannel::new(&cfg.command, cfg.command_timeout)),
            RetryPolicy::once(),
        ));
    }
    out
}

/// Each configured channel on its own [`Outbox`].
pub fn outboxes(cfg: &NotifyConfig, mail: Option<MailTarget>, sink: Sink) -> Vec<Outbox> {
    channels(cfg, mail)
        .into_iter()
        .map(|(c, retry)| Outbox::start(c, retry, cfg.queue as usize, Arc::clone(&sink)))
        .collect()
}
