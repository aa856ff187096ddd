//! `gaffer notify test`: one test notification through each configured channel, each through
//! its real delivery path (its own thread, retries and back-off), with what happened.

use crate::adapters;
use crate::cli::GlobalArgs;
use crate::config_load;
use crate::error::ExitError;
use crate::output::{Output, say};
use crate::wiring;
use clap::Subcommand;
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::exit;
use gaffer_core::notify::Notification;
use gaffer_notify::{Outbox, Sink};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `gaffer notify` actions.
#[derive(Debug, Subcommand)]
pub enum NotifyAction {
    /// Send a test notification through each configured channel; exit 1 when one fails.
    Test {
        /// Agent Mail server URL for the mail channel (default: `AGENT_MAIL_URL`, else config
        /// `mail.url`, else the embedded mailbox).
        #[arg(long, value_name = "URL")]
        mail_url: Option<String>,
    },
}

/// One channel's result.
#[derive(Debug, Serialize)]
struct Tried {
    channel: String,
    ok: bool,
    tries: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
}

/// Runs a `gaffer notify` action.
pub fn run(global: &GlobalArgs, action: NotifyAction) -> anyhow::Result<i32> {
    let NotifyAction::Test { mail_url } = action;
    let loaded = config_load::load(global)?;
    let cfg = &loaded.config;
    if !cfg.notify.any_channel() {
        return Err(ExitError::failure(
            "no notification channel is configured: set [notify] desktop = true, webhook_url, mail = true or command (README \"Notifications\")",
        )
        .into());
    }
    let root = &loaded.project_root;
    let mail = if cfg.notify.mail {
        let m = adapters::mailbox(mail_url.as_deref(), cfg, root)
            .map_err(|e| ExitError::unavailable(format!("opening the mailbox: {e}")))?;
        let key = std::fs::canonicalize(root)
            .unwrap_or_else(|_| root.clone())
            .display()
            .to_string();
        Some(wiring::mail_target(m.mailbox, &key, cfg))
    } else {
        None
    };
    let label = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let note = Notification::test(&label, chrono::Utc::now());
    let mut results = Vec::new();
    for (channel, retry) in gaffer_notify::setup::channels(&cfg.notify, mail) {
        let seen: Arc<Mutex<Vec<CoordinatorEvent>>> = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let sink: Sink = Arc::new(move |e| {
            if let Ok(mut v) = s.lock() {
                v.push(e);
            }
        });
        // Long enough for every try and back-off of the channel.
        let bound = cfg.notify.webhook_timeout.max(cfg.notify.command_timeout) * retry.tries.max(1)
            + gaffer_notify::setup::MAX_BACKOFF * retry.tries.max(1)
            + Duration::from_secs(5);
        let outbox = Outbox::start(channel, retry, 1, sink);
        let name = outbox.name().to_string();
        outbox.offer(note.clone());
        let finished = outbox.flush(bound);
        let stats = outbox.stop(Duration::from_millis(500));
        let error = if finished {
            seen.lock()
                .ok()
                .and_then(|v| v.first().cloned())
                .and_then(|e| {
                    e.details
                        .get("error")
                        .and_then(|x| x.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_default()
        } else {
            format!("no answer within {bound:?}")
        };
        results.push(Tried {
            channel: name,
            ok: stats.delivered == 1,
            tries: stats.tries,
            error,
        });
    }
    let failed = results.iter().filter(|r| !r.ok).count();
    Output::of(global).print(&serde_json::json!({ "channels": results }), || {
        for r in &results {
            if r.ok {
                say!("{}: sent", r.channel);
            } else {
                say!("{}: failed after {} tries: {}", r.channel, r.tries, r.error);
            }
        }
    })?;
    Ok(if failed > 0 {
        exit::FAILURE
    } else {
        exit::SUCCESS
    })
}
