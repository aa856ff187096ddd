//! The webhook channel: an HTTP POST, in one of ntfy's two forms. `json` posts ntfy's JSON
//! publishing fields (`topic`, `title`, `message`, `priority`, `tags`) with gaffer's own (`kind`,
//! `agent_id`, `subject`, `timestamp`, `folded`, `event`), for ntfy's root URL or any JSON
//! receiver; `ntfy` posts the message as a plain body with `Title`, `Priority` and `Tags`
//! headers, for a topic's URL. A 2xx answer is delivered; a 408, 429 or 5xx answer or a
//! transport error is worth another try; any other answer is not.

use crate::channel::{Channel, SendError};
use gaffer_core::notify::{Notification, WebhookFormat};
use serde_json::{Value, json};
use std::time::Duration;

/// Bytes of an answer read (the rest is not needed).
const ANSWER_KEPT: u64 = 64 * 1024;

/// The webhook channel.
pub struct Webhook {
    url: String,
    format: WebhookFormat,
    topic: String,
    token: String,
    agent: ureq::Agent,
}

impl Webhook {
    /// Posts to `url` (http://) in `format`, each request bounded by `timeout`.
    pub fn new(
        url: &str,
        format: WebhookFormat,
        topic: &str,
        token: &str,
        timeout: Duration,
    ) -> Webhook {
        let loopback = ["://127.0.0.1", "://localhost", "://[::1]"]
            .iter()
            .any(|h| url.contains(h));
        let mut cfg = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout.min(Duration::from_secs(3))))
            .http_status_as_error(false);
        if loopback {
            cfg = cfg.proxy(None);
        }
        Webhook {
            url: url.to_string(),
            format,
            topic: topic.to_string(),
            token: token.to_string(),
            agent: cfg.build().into(),
        }
    }
}

/// The JSON form's body.
pub fn json_body(n: &Notification, topic: &str) -> Value {
    let mut body = json!({
        "title": n.title,
        "message": n.message,
        "priority": n.priority,
        "tags": n.tags,
        "kind": n.kind,
        "agent_id": n.agent_id,
        "subject": n.subject,
        "timestamp": gaffer_core::time::format_rfc3339(&n.timestamp),
        "folded": n.folded,
        "event": n.event,
    });
    if !topic.is_empty() {
        body["topic"] = Value::String(topic.to_string());
    }
    body
}

impl Channel for Webhook {
    fn name(&self) -> &str {
        "webhook"
    }

    fn send(&mut self, n: &Notification) -> Result<(), SendError> {
        let mut req = self.agent.post(&self.url);
        if !self.token.is_empty() {
            req = req.header("Authorization", format!("Bearer {}", self.token));
        }
        let sent = match self.format {
            WebhookFormat::Json => req
                .header("Content-Type", "application/json")
                .send_json(json_body(n, &self.topic)),
            WebhookFormat::Ntfy => req
                .header("Content-Type", "text/plain; charset=utf-8")
                .header("Title", header_value(&n.title))
                .header("Priority", n.priority.to_string())
                .header("Tags", header_value(&n.tags.join(",")))
                .send(n.message.as_bytes()),
        };
        let mut resp = sent.map_err(|e| SendError::Transient(format!("{}: {e}", self.url)))?;
        let status = resp.status().as_u16();
        let answer = resp
            .body_mut()
            .with_config()
            .limit(ANSWER_KEPT)
            .read_to_string()
            .unwrap_or_default();
        let said = crate::command::first_line(&answer);
        match status {
            200..=299 => Ok(()),
            408 | 429 | 500..=599 => Err(SendError::Transient(format!(
                "{} answered {status}{said}",
                self.url
            ))),
            _ => Err(SendError::Permanent(format!(
                "{} answered {status}{said}",
                self.url
            ))),
        }
    }
}

/// A header value: printable ASCII as it is; anything else as an RFC 2047 encoded word
/// (`=?UTF-8?B?…?=`, which ntfy decodes). Control characters become spaces.
pub fn header_value(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if clean.is_ascii() {
        return clean;
    }
    format!("=?UTF-8?B?{}?=", base64(clean.as_bytes()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_are_ascii() {
        assert_eq!(header_value("gaffer: %1 BLOCKED"), "gaffer: %1 BLOCKED");
        assert_eq!(header_value("a\r\nb"), "a  b");
        // "ä" is C3 A4: base64 "w6Q=".
        assert_eq!(header_value("ä"), "=?UTF-8?B?w6Q=?=");
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
    }
}
