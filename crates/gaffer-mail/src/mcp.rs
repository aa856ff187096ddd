//! `McpMailbox`: the real MCP Agent Mail server over HTTP (spec agentmail.md §2–3).
//!
//! Every call is one stateless JSON-RPC POST (`tools/call` or `resources/read`), with no MCP
//! handshake. The bearer header is sent only when a token is set. Replies are unwrapped from
//! `structuredContent`, from `{"result": [...]}`, or from the text content; `isError` replies
//! and HTTP/transport failures become typed [`MailError`]s. Each call has a timeout. A transient
//! failure is retried a bounded number of times only when repeating the call is harmless: the
//! connection never opened (the request was not sent), HTTP 429 (refused before it ran), or the
//! call is a read or an idempotent tool ([`IDEMPOTENT_TOOLS`]). A failure after the request may
//! have reached the server (I/O after sending, HTTP 5xx) is not retried for any other tool, so
//! a `send_message` is never delivered twice.
//! `is_available` caches the health probe. Plain `http://` only: `https://` would need ureq's
//! `rustls` feature, which is left out to keep the build lean.

use crate::wire;
use gaffer_core::mailbox::*;
use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Tools whose repetition has no further effect: reads, and writes that set a state
/// (spec agentmail.md §3: `acknowledge_message` keeps its first timestamps, releasing is
/// idempotent, `ensure_project` finds the same project). `resources/read` is always a read.
/// Everything else (`send_message`, `reply_message`, `register_agent`, `file_reservation_paths`,
/// `renew_file_reservations`, …) is retried only when its request was never sent.
pub const IDEMPOTENT_TOOLS: &[&str] = &[
    "health_check",
    "fetch_inbox",
    "whois",
    "search_messages",
    "summarize_thread",
    "list_contacts",
    "ensure_project",
    "mark_message_read",
    "acknowledge_message",
    "release_file_reservations",
];

/// Whether a failed exchange may have reached the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reached {
    /// The request was never sent, or the server refused it before running it.
    No,
    /// It may have run.
    Maybe,
}

/// The default server URL.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8765/mcp/";

/// Tuning of the client.
#[derive(Debug, Clone)]
pub struct McpOptions {
    /// Timeout of each HTTP exchange.
    pub timeout: Duration,
    /// Extra tries after a transient failure.
    pub retries: u32,
    /// Pause before the first retry; doubled each time.
    pub backoff: Duration,
    /// How long a successful health probe is trusted.
    pub available_ttl: Duration,
    /// How long a failed health probe is trusted.
    pub unavailable_ttl: Duration,
}

impl Default for McpOptions {
    fn default() -> Self {
        McpOptions {
            timeout: Duration::from_secs(10),
            retries: 2,
            backoff: Duration::from_millis(150),
            available_ttl: Duration::from_secs(30),
            unavailable_ttl: Duration::from_secs(2),
        }
    }
}

/// A client for the real Agent Mail server.
pub struct McpMailbox {
    url: String,
    token: Option<String>,
    agent: ureq::Agent,
    opts: McpOptions,
    next_id: AtomicU64,
    available: Mutex<Option<(Instant, bool)>>,
}

impl std::fmt::Debug for McpMailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("McpMailbox")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// The base URL with a trailing `/`.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    if url.ends_with('/') {
        url.to_string()
    } else {
        format!("{url}/")
    }
}

/// Percent-escapes everything but unreserved characters (like Go's `url.PathEscape` of a path,
/// where `/` becomes `%2F`).
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl McpMailbox {
    /// A client for `url` (e.g. `http://127.0.0.1:8765/mcp/`); `token` adds a bearer header.
    pub fn new(url: &str, token: Option<String>, opts: McpOptions) -> Self {
        let url = normalize_url(url);
        let loopback = url.contains("://127.0.0.1")
            || url.contains("://localhost")
            || url.contains("://[::1]");
        let mut cfg = ureq::Agent::config_builder()
            .timeout_global(Some(opts.timeout))
            .timeout_connect(Some(opts.timeout.min(Duration::from_secs(3))))
            .http_status_as_error(false);
        if loopback {
            cfg = cfg.proxy(None);
        }
        McpMailbox {
            url,
            token: token.filter(|t| !t.is_empty()),
            agent: cfg.build().into(),
            opts,
            next_id: AtomicU64::new(1),
            available: Mutex::new(None),
        }
    }

    /// From `AGENT_MAIL_URL`-style settings: `url`, and the token from `AGENT_MAIL_TOKEN`.
    pub fn from_env(url: &str, timeout: Duration) -> Self {
        let token = std::env::var("AGENT_MAIL_TOKEN").ok();
        McpMailbox::new(
            url,
            token,
            McpOptions {
                timeout,
                ..McpOptions::default()
            },
        )
    }

    /// The server URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn set_available(&self, ok: bool) {
        if let Ok(mut g) = self.available.lock() {
            *g = Some((Instant::now(), ok));
        }
    }

    /// Whether the server answers `health_check`; cached (30 s when up, 2 s when down).
    pub fn is_available(&self) -> bool {
        if let Ok(g) = self.available.lock() {
            if let Some((at, ok)) = *g {
                let ttl = if ok {
                    self.opts.available_ttl
                } else {
                    self.opts.unavailable_ttl
                };
                if at.elapsed() < ttl {
                    return ok;
                }
            }
        }
        self.health().is_ok()
    }

    /// One JSON-RPC exchange. A transient failure ([`MailError::Unavailable`]) is retried
    /// when the request did not reach the server, or when `idempotent`.
    fn rpc(&self, method: &str, params: Value, idempotent: bool) -> Result<Value, MailError> {
        let mut delay = self.opts.backoff;
        let mut attempt = 0;
        loop {
            let (r, reached) = match self.rpc_once(method, &params) {
                Ok(v) => (Ok(v), Reached::No),
                Err((e, reached)) => (Err(e), reached),
            };
            match &r {
                Ok(_) => self.set_available(true),
                Err(MailError::Unavailable(_)) | Err(MailError::Timeout(_)) => {
                    self.set_available(false)
                }
                Err(_) => self.set_available(true),
            }
            // Timeouts are not retried: the budget is spent already.
            let retry = matches!(r, Err(MailError::Unavailable(_)))
                && (idempotent || reached == Reached::No)
                && attempt < self.opts.retries;
            if !retry {
                return r;
            }
            attempt += 1;
            tracing::debug!(method, attempt, "agent mail: transient failure, retrying");
            std::thread::sleep(delay);
            delay *= 2;
        }
    }

    fn rpc_once(&self, method: &str, params: &Value) -> Result<Value, (MailError, Reached)> {
        if !self.url.starts_with("http://") {
            return Err((
                MailError::Invalid(format!(
                    "{}: only http:// URLs are supported (https needs ureq's rustls feature)",
                    self.url
                )),
                Reached::No,
            ));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let mut req = self
            .agent
            .post(&self.url)
            .header("Content-Type", "application/json");
        if let Some(t) = &self.token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req
            .send_json(&body)
            .map_err(|e| transport_error(&self.url, e))?;
        let status = resp.status().as_u16();
        let text = resp
            .body_mut()
            .with_config()
            .limit(MAX_REPLY_BYTES)
            .read_to_string()
            .map_err(|e| transport_error(&self.url, e))?;
        // 429: rejected before it ran; any other failure reply may come after it ran
        let reached = if status == 429 {
            Reached::No
        } else {
            Reached::Maybe
        };
        wire::decode_response(status, &text).map_err(|e| (e, reached))
    }

    /// Calls a tool and unwraps its result.
    pub fn call_tool(&self, name: &str, arguments: Value) -> Result<Value, MailError> {
        let idempotent = IDEMPOTENT_TOOLS.contains(&name);
        let result = self.rpc(
            "tools/call",
            json!({"name": name, "arguments": arguments}),
            idempotent,
        )?;
        wire::unwrap_tool_result(name, result)
    }

    /// Reads a resource and parses its text as JSON.
    pub fn read_resource(&self, uri: &str) -> Result<Value, MailError> {
        let result = self.rpc("resources/read", json!({"uri": uri}), true)?;
        wire::unwrap_resource(result)
    }
}

/// The largest reply read (a bigger one is a protocol error, not an allocation).
pub const MAX_REPLY_BYTES: u64 = gaffer_core::limits::MAX_MCP_REPLY_BYTES;

/// Whether an I/O error means the connection never opened (so nothing was sent).
fn never_connected(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionRefused | K::AddrNotAvailable | K::HostUnreachable | K::NetworkUnreachable
    )
}

fn transport_error(url: &str, e: ureq::Error) -> (MailError, Reached) {
    match e {
        ureq::Error::Timeout(t) => (
            MailError::Timeout(format!("{url}: no answer in time ({t:?})")),
            Reached::Maybe,
        ),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => {
            (MailError::Timeout(format!("{url}: {io}")), Reached::Maybe)
        }
        ureq::Error::Io(io) if never_connected(io.kind()) => (
            MailError::Unavailable(format!("{url}: cannot connect ({io})")),
            Reached::No,
        ),
        ureq::Error::Io(io) => (
            MailError::Unavailable(format!("{url}: {io}")),
            Reached::Maybe,
        ),
        ureq::Error::ConnectionFailed | ureq::Error::HostNotFound => (
            MailError::Unavailable(format!("{url}: cannot connect ({e})")),
            Reached::No,
        ),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => (
            MailError::Invalid(format!("bad Agent Mail URL {url}: {e}")),
            Reached::No,
        ),
        ureq::Error::BodyExceedsLimit(n) => (
            MailError::Protocol(format!("{url}: reply larger than {n} bytes")),
            Reached::Maybe,
        ),
        ureq::Error::Protocol(_) => (MailError::Protocol(format!("{url}: {e}")), Reached::Maybe),
        other => (
            MailError::Unavailable(format!("{url}: {other}")),
            Reached::Maybe,
        ),
    }
}

fn opt_args(v: &mut Value, key: &str, value: Value) {
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_string(), value);
    }
}

impl Mailbox for McpMailbox {
    fn ensure_project(&self, project: &str) -> Result<ProjectInfo, MailError> {
        let v = self.call_tool("ensure_project", json!({"human_key": project}))?;
        wire::from_value(v)
    }

    fn register_agent(
        &self,
        project: &str,
        reg: &AgentRegistration,
    ) -> Result<AgentInfo, MailError> {
        let mut args = json!({
            "project_key": project,
            "program": reg.program,
            "model": reg.model,
            "task_description": reg.task_description,
        });
        if let Some(n) = reg.name.as_ref().filter(|n| !n.is_empty()) {
            opt_args(&mut args, "name", json!(n));
        }
        let v = self.call_tool("register_agent", args)?;
        wire::from_value(v)
    }

    fn send_message(&self, project: &str, msg: &OutgoingMessage) -> Result<SentMessage, MailError> {
        let mut args = json!({
            "project_key": project,
            "sender_name": msg.sender,
            "to": msg.to,
            "subject": msg.subject,
            "body_md": msg.body_md,
            "importance": msg.importance.as_str(),
        });
        if !msg.cc.is_empty() {
            opt_args(&mut args, "cc", json!(msg.cc));
        }
        if msg.ack_required {
            opt_args(&mut args, "ack_required", json!(true));
        }
        if let Some(t) = msg.thread_id.as_ref().filter(|t| !t.is_empty()) {
            opt_args(&mut args, "thread_id", json!(t));
        }
        let v = self.call_tool("send_message", args)?;
        wire::sent_message(&v)
    }

    fn fetch_inbox(
        &self,
        project: &str,
        agent: &str,
        query: &InboxQuery,
    ) -> Result<Vec<InboxMessage>, MailError> {
        let mut args = json!({
            "project_key": project,
            "agent_name": agent,
            "limit": query.limit.clamp(1, 1000),
        });
        if query.urgent_only {
            opt_args(&mut args, "urgent_only", json!(true));
        }
        if query.include_bodies {
            opt_args(&mut args, "include_bodies", json!(true));
        }
        let v = self.call_tool("fetch_inbox", args)?;
        wire::list(v)?.iter().map(wire::inbox_message).collect()
    }

    fn acknowledge(&self, project: &str, agent: &str, message_id: i64) -> Result<(), MailError> {
        let args = json!({"project_key": project, "agent_name": agent, "message_id": message_id});
        self.call_tool("acknowledge_message", args).map(|_| ())
    }

    fn mark_read(&self, project: &str, agent: &str, message_id: i64) -> Result<(), MailError> {
        let args = json!({"project_key": project, "agent_name": agent, "message_id": message_id});
        self.call_tool("mark_message_read", args).map(|_| ())
    }

    fn reserve_paths(
        &self,
        project: &str,
        req: &ReserveRequest,
    ) -> Result<ReserveResult, MailError> {
        if req.paths.is_empty() {
            return Err(MailError::Invalid("no paths to reserve".into()));
        }
        let mut args = json!({
            "project_key": project,
            "agent_name": req.agent,
            "paths": req.paths,
            "ttl_seconds": req.ttl.as_secs().max(1),
            "exclusive": req.exclusive,
        });
        if !req.reason.is_empty() {
            opt_args(&mut args, "reason", json!(req.reason));
        }
        let v = self.call_tool("file_reservation_paths", args)?;
        wire::reserve_result(&v, &req.agent)
    }

    fn release(&self, project: &str, agent: &str, paths: &[String]) -> Result<usize, MailError> {
        let mut args = json!({"project_key": project, "agent_name": agent});
        if !paths.is_empty() {
            opt_args(&mut args, "paths", json!(paths));
        }
        let v = self.call_tool("release_file_reservations", args)?;
        Ok(wire::count(&v, "released"))
    }

    fn renew(
        &self,
        project: &str,
        agent: &str,
        paths: &[String],
        extend: Duration,
    ) -> Result<usize, MailError> {
        let mut args = json!({
            "project_key": project,
            "agent_name": agent,
            "extend_seconds": extend.as_secs().max(1),
        });
        if !paths.is_empty() {
            opt_args(&mut args, "paths", json!(paths));
        }
        let v = self.call_tool("renew_file_reservations", args)?;
        Ok(wire::count(&v, "renewed"))
    }

    fn list_reservations(
        &self,
        project: &str,
        agent: Option<&str>,
        active_only: bool,
    ) -> Result<Vec<Reservation>, MailError> {
        let uri = format!(
            "resource://file_reservations/{}?active_only={active_only}&format=json",
            path_escape(project)
        );
        let v = self.read_resource(&uri)?;
        let all: Vec<Reservation> = wire::list(v)?
            .iter()
            .map(wire::reservation)
            .collect::<Result<_, _>>()?;
        Ok(all
            .into_iter()
            .filter(|r| agent.is_none_or(|a| r.agent_name == a))
            .collect())
    }

    fn health(&self) -> Result<MailHealth, MailError> {
        let r = self.call_tool("health_check", json!({}));
        let v = match r {
            Ok(v) => v,
            Err(e) => {
                self.set_available(false);
                return Err(e);
            }
        };
        let status = v
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let ok = status == "ok";
        self.set_available(ok);
        if !ok {
            return Err(MailError::Unavailable(format!(
                "{}: health_check says {status:?}",
                self.url
            )));
        }
        Ok(MailHealth {
            status,
            backend: "agent-mail".into(),
            location: self.url.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_a_clear_invalid_error_not_a_retry_loop() {
        let mb = McpMailbox::new("https://example.invalid/mcp", None, McpOptions::default());
        assert!(matches!(mb.health(), Err(MailError::Invalid(m)) if m.contains("rustls")));
    }

    #[test]
    fn escapes_project_paths_like_go() {
        assert_eq!(path_escape("/tmp/My_Proj a"), "%2Ftmp%2FMy_Proj%20a");
        assert_eq!(normalize_url("http://h:1/mcp"), "http://h:1/mcp/");
    }
}
