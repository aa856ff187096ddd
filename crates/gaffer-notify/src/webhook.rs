//! The webhook channel: an HTTP POST, in one of ntfy's two forms. `json` posts ntfy's JSON
//! publishing fields (`topic`, `title`, `message`, `priority`, `tags`) with gaffer's own (`kind`,
//! `agent_id`, `subject`, `timestamp`, `folded`, `event`), for ntfy's root URL or any JSON
//! receiver; `ntfy` posts the message as a plain body with `Title`, `Priority` and `Tags`
//! headers, for a topic's URL. A 2xx answer is delivered; a 408, 429 or 5xx answer or a
//! transport error is worth another try; any other answer is not, and neither is a server
//! certificate that fails verification.
//!
//! `https://` goes through rustls (ring) and trusts Mozilla's roots (built in, whatever the
//! machine has), plus the CAs of `webhook_ca_file` when one is set.

use crate::channel::{Channel, SendError};
use gaffer_core::notify::{Notification, WebhookFormat};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// Bytes of an answer read (the rest is not needed).
const ANSWER_KEPT: u64 = 64 * 1024;

/// The webhook channel.
pub struct Webhook {
    url: String,
    format: WebhookFormat,
    topic: String,
    token: String,
    timeout: Duration,
    /// The agent, or why there is none (a `webhook_ca_file` that cannot be used): then every
    /// send fails with that reason.
    agent: Result<ureq::Agent, String>,
}

impl Webhook {
    /// Posts to `url` (`http://` or `https://`) in `format`, each request bounded by `timeout`.
    pub fn new(
        url: &str,
        format: WebhookFormat,
        topic: &str,
        token: &str,
        timeout: Duration,
    ) -> Webhook {
        Webhook {
            url: url.to_string(),
            format,
            topic: topic.to_string(),
            token: token.to_string(),
            timeout,
            agent: Ok(agent(url, timeout, RootCerts::WebPki)),
        }
    }

    /// Trusts the CA certificates of the PEM file `path` besides Mozilla's roots (`~/` is the
    /// home directory). A file that cannot be read or holds no certificate is logged now, and
    /// each notification then fails with that reason (the channel is reported down).
    pub fn with_ca_file(mut self, path: &str) -> Webhook {
        self.agent = ca_roots(path).map(|roots| agent(&self.url, self.timeout, roots));
        if let Err(e) = &self.agent {
            tracing::warn!(channel = "webhook", error = %e, "the webhook cannot be used");
        }
        self
    }
}

fn agent(url: &str, timeout: Duration, roots: RootCerts) -> ureq::Agent {
    let loopback = ["://127.0.0.1", "://localhost", "://[::1]"]
        .iter()
        .any(|h| url.contains(h));
    let mut cfg = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .timeout_connect(Some(timeout.min(Duration::from_secs(3))))
        .http_status_as_error(false)
        .tls_config(TlsConfig::builder().root_certs(roots).build());
    if loopback {
        cfg = cfg.proxy(None);
    }
    cfg.build().into()
}

/// Mozilla's roots plus the certificates of the PEM file `path`.
fn ca_roots(path: &str) -> Result<RootCerts, String> {
    let file = expand_home(path);
    let what = format!("webhook_ca_file {}", file.display());
    let pem = std::fs::read(&file).map_err(|e| format!("{what}: cannot read it: {e}"))?;
    let mut extra = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => extra.push(c),
            Ok(_) => {}
            Err(e) => return Err(format!("{what}: not a PEM file: {e}")),
        }
    }
    if extra.is_empty() {
        return Err(format!(
            "{what}: holds no certificate (expected PEM blocks \"-----BEGIN CERTIFICATE-----\")"
        ));
    }
    let mut all: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    all.extend(extra);
    Ok(RootCerts::Specific(Arc::new(all)))
}

fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => Path::new(&home).join(rest),
        _ => PathBuf::from(path),
    }
}

/// A transport error said for the human: a certificate that fails verification names the
/// remedy, and is not worth another try.
fn transport_error(url: &str, e: ureq::Error) -> SendError {
    // rustls' errors come through ureq's TLS stream as io errors that carry them.
    let tls = match &e {
        ureq::Error::Rustls(t) => Some(t.clone()),
        ureq::Error::Io(io) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned(),
        _ => None,
    };
    match tls {
        Some(rustls::Error::InvalidCertificate(why)) => SendError::Permanent(format!(
            "{url}: the server's TLS certificate is not trusted ({why:?}); for a private CA \
             set notify.webhook_ca_file to its PEM file"
        )),
        Some(t) => SendError::Transient(format!("{url}: TLS: {t}")),
        None => SendError::Transient(format!("{url}: {e}")),
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
        let agent = self
            .agent
            .as_ref()
            .map_err(|e| SendError::Permanent(e.clone()))?;
        let mut req = agent.post(&self.url);
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
        let mut resp = sent.map_err(|e| transport_error(&self.url, e))?;
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
