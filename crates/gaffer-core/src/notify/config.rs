//! The `[notify]` section: which events reach the human, and through which channels.

use super::quiet::QuietHours;
use crate::config::duration_str;
use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

/// A rule: a kind of situation that may notify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// An agent BLOCKED on a dialog longer than `blocked_after`.
    Blocked,
    /// An agent in ERROR.
    Error,
    /// An agent hit a rate limit (the message names its reset time when known).
    RateLimited,
    /// An agent STALLED (busy without progress).
    Stalled,
    /// An agent's process exited (or its restarts stopped in a crash loop).
    Exited,
    /// An agent's context use went above `context_above` percent.
    Context,
    /// Overlapping file reservations.
    Conflict,
    /// A digest was sent.
    Digest,
}

impl RuleKind {
    /// Every rule kind.
    pub const ALL: [RuleKind; 8] = [
        RuleKind::Blocked,
        RuleKind::Error,
        RuleKind::RateLimited,
        RuleKind::Stalled,
        RuleKind::Exited,
        RuleKind::Context,
        RuleKind::Conflict,
        RuleKind::Digest,
    ];

    /// The config name, e.g. `rate_limited`.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKind::Blocked => "blocked",
            RuleKind::Error => "error",
            RuleKind::RateLimited => "rate_limited",
            RuleKind::Stalled => "stalled",
            RuleKind::Exited => "exited",
            RuleKind::Context => "context",
            RuleKind::Conflict => "conflict",
            RuleKind::Digest => "digest",
        }
    }
}

/// The webhook's body form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// A JSON body: ntfy's JSON publishing fields (`topic`, `title`, `message`, `priority`,
    /// `tags`) plus gaffer's own (`kind`, `agent_id`, `event`); post it to ntfy's root URL.
    #[default]
    Json,
    /// ntfy's plain form: the message as the body, `Title`, `Priority` and `Tags` headers; post
    /// it to the topic's URL.
    Ntfy,
}

/// The `[notify]` section. A channel is on when it is configured: `desktop = true`,
/// `webhook_url`, `mail = true`, `command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NotifyConfig {
    /// The kinds that notify.
    pub on: Vec<RuleKind>,
    /// A BLOCKED agent notifies once it has been blocked this long.
    #[serde(with = "duration_str")]
    pub blocked_after: Duration,
    /// Context use above this percent notifies (and is the `agent_context_high` event); 0 is
    /// off.
    #[serde(deserialize_with = "percent")]
    pub context_above: f64,
    /// An agent must stay out of a state this long before entering it again is a new episode;
    /// shorter flaps belong to the episode already notified.
    #[serde(with = "duration_str")]
    pub recovery: Duration,
    /// At most one notification per agent and kind this often; what comes between is folded
    /// into the next one.
    #[serde(with = "duration_str")]
    pub repeat_interval: Duration,
    /// `"22:00-07:00"` (local time, may cross midnight): notifications wait and come as one
    /// summary when it ends. Empty: none.
    #[serde(deserialize_with = "quiet_hours")]
    pub quiet_hours: String,
    /// The IANA zone of `quiet_hours` and of times in messages; empty: this machine's zone.
    #[serde(deserialize_with = "zone_name")]
    pub timezone: String,
    /// Desktop notifications (`notify-send` on Linux, `osascript` on macOS).
    pub desktop: bool,
    /// Webhook URL (`http://` or `https://`); empty: no webhook.
    #[serde(deserialize_with = "http_url")]
    pub webhook_url: String,
    /// The webhook's body form.
    pub webhook_format: WebhookFormat,
    /// ntfy topic, sent in the JSON form's `topic` field.
    pub webhook_topic: String,
    /// A bearer token for the webhook (`Authorization: Bearer …`); empty: none.
    pub webhook_token: String,
    /// A PEM file of CA certificates trusted for an `https://` webhook besides Mozilla's roots
    /// (a self-hosted server behind a private CA); `~/` is the home directory. Empty: none.
    pub webhook_ca_file: String,
    /// Timeout of one webhook request.
    #[serde(with = "duration_str")]
    pub webhook_timeout: Duration,
    /// Tries of one webhook notification before the endpoint counts as down.
    pub webhook_tries: u32,
    /// The wait after the first failed try; it doubles after each further one (up to 30 s).
    #[serde(with = "duration_str")]
    pub webhook_backoff: Duration,
    /// Agent Mail to `mail_to`.
    pub mail: bool,
    /// The Agent Mail recipient; empty: `coordinator.human_agent`.
    pub mail_to: String,
    /// A command run with `sh -c`: the notification as JSON on stdin, `GAFFER_NOTIFY_*`
    /// variables in its environment. Empty: none.
    pub command: String,
    /// The command's time limit; past it its process group is killed.
    #[serde(with = "duration_str")]
    pub command_timeout: Duration,
    /// Notifications waiting per channel at most; more are dropped and counted.
    pub queue: u32,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            on: RuleKind::ALL
                .into_iter()
                .filter(|k| *k != RuleKind::Digest)
                .collect(),
            blocked_after: Duration::from_secs(60),
            context_above: 90.0,
            recovery: Duration::from_secs(30),
            repeat_interval: Duration::from_secs(5 * 60),
            quiet_hours: String::new(),
            timezone: String::new(),
            desktop: false,
            webhook_url: String::new(),
            webhook_format: WebhookFormat::Json,
            webhook_topic: String::new(),
            webhook_token: String::new(),
            webhook_ca_file: String::new(),
            webhook_timeout: Duration::from_secs(5),
            webhook_tries: 4,
            webhook_backoff: Duration::from_secs(1),
            mail: false,
            mail_to: String::new(),
            command: String::new(),
            command_timeout: Duration::from_secs(10),
            queue: 64,
        }
    }
}

impl NotifyConfig {
    /// Whether any channel is configured.
    pub fn any_channel(&self) -> bool {
        self.desktop || !self.webhook_url.is_empty() || self.mail || !self.command.is_empty()
    }
}

fn percent<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)
        .map_err(|_| serde::de::Error::custom("expected a percent as a number, like 90.0"))?;
    if !(0.0..=100.0).contains(&v) {
        return Err(serde::de::Error::custom(format!(
            "expected a percent from 0 to 100, got {v}"
        )));
    }
    Ok(v)
}

fn quiet_hours<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    if !raw.trim().is_empty() {
        QuietHours::parse(&raw).map_err(serde::de::Error::custom)?;
    }
    Ok(raw)
}

fn zone_name<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    let t = raw.trim();
    if !t.is_empty() && t.parse::<chrono_tz::Tz>().is_err() {
        return Err(serde::de::Error::custom(format!(
            "{raw:?} is not a time zone of the tz database (e.g. \"Europe/Berlin\")"
        )));
    }
    Ok(t.to_string())
}

fn http_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let raw = String::deserialize(d)?;
    let t = raw.trim();
    if t.is_empty() || t.starts_with("http://") || t.starts_with("https://") {
        return Ok(t.to_string());
    }
    Err(serde::de::Error::custom(format!(
        "expected an http:// or https:// URL, got {raw:?}"
    )))
}
