//! The cockpit: the web page `gaffer serve` shows at `/` (plain HTML, CSS and JS embedded in
//! the binary; no build step, nothing fetched at run time) and the JSON it reads.
//!
//! - [`page`] is the page for one principal: its CSRF token goes into a `<meta>` tag;
//! - [`Cockpit::view`] is everything the page shows at once (agents with their verdicts and
//!   sources, assignments, conflicts, the digest, the latest event id), cached briefly so that
//!   several tabs cost one observation;
//! - [`Cockpit::screen`] is the preview of one pane: its last lines, the evidence lines marked;
//! - the actions (send a prompt, answer a BLOCKED dialog, pause and resume auto-assign,
//!   unassign and reassign a bead, a pane's tmux target) go through the coordinator's control
//!   API (`gaffer_coordinator::control`), the one the CLI and the terminal dashboard use.
//!
//! Text from panes and beads goes to the page as JSON and is inserted as text (`textContent`),
//! never as HTML; the page's Content-Security-Policy allows no inline script.

use gaffer_coordinator::ledger::{AssignmentRecord, Ledger};
use gaffer_coordinator::monitor::{AgentMonitor, MonitorSnapshot};
use gaffer_coordinator::{CoordinatorError, SessionCoordinator};
use gaffer_core::control::{ControlError, Dialog, DialogOption, PauseTarget};
use gaffer_core::detect::{Detector, ScreenInput, Verdict};
use gaffer_core::digest::DigestSummary;
use gaffer_core::escapes::sanitize_line;
use gaffer_core::panes::{DeliveryOutcome, Panes};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The page's HTML; `{{CSRF}}` is replaced by the session's CSRF token.
const HTML: &str = include_str!("cockpit.html");
/// The page's style sheet, served at `/cockpit.css`.
pub const CSS: &str = include_str!("cockpit.css");
/// The page's script, served at `/cockpit.js`.
pub const JS: &str = include_str!("cockpit.js");
/// The Content-Security-Policy of the page: its own script and style only, requests to this
/// server only, never framed.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/// Lines of a pane the preview shows.
pub const PREVIEW_LINES: usize = 40;
/// Recent assignments the view lists (every live one, then the newest others).
const RECENT_ASSIGNMENTS: usize = 30;
/// How long one view is reused.
const VIEW_TTL: Duration = Duration::from_millis(700);
/// How long one digest (with its conflicts) is reused: it reads the work source and the
/// mailbox, which may be subprocesses and HTTP calls.
const DIGEST_TTL: Duration = Duration::from_secs(5);
/// The longest prompt the page may send (bytes).
pub const MAX_PROMPT: usize = 16 * 1024;

/// The page for a principal whose CSRF token is `csrf` (hex, or empty for a bearer client).
pub fn page(csrf: &str) -> String {
    // The token is hex: nothing in it can leave the attribute.
    let csrf: String = csrf.chars().filter(char::is_ascii_hexdigit).collect();
    HTML.replace("{{CSRF}}", &csrf)
}

/// The page a browser gets without credentials: it shows nothing of the session.
pub const LOGIN_NEEDED: &str = "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>gaffer: log in</title></head><body><h1>gaffer</h1><p id=\"login-needed\">Log in through the one-time link <code>gaffer serve</code> printed, or mint a new one with <code>POST /login-url</code> (see the README).</p></body></html>";

/// Why an action or a preview failed: an HTTP status, a code and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct WebError {
    /// The HTTP status.
    pub status: u16,
    /// A stable code.
    pub code: &'static str,
    /// What happened, for a person.
    pub message: String,
}

impl WebError {
    fn new(status: u16, code: &'static str, message: impl Into<String>) -> WebError {
        WebError {
            status,
            code,
            message: message.into(),
        }
    }
}

/// A send action's body: `{"pane": "%3", "text": "…", "force": false}`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendRequest {
    /// Pane id, title or `session:window.pane`.
    pub pane: String,
    /// The prompt.
    pub text: String,
    /// Send although the agent is not WAITING.
    #[serde(default)]
    pub force: bool,
}

/// What the cockpit reads and acts on.
pub struct Cockpit {
    coord: Arc<SessionCoordinator>,
    monitor: AgentMonitor,
    panes: Arc<dyn Panes>,
    detector: Detector,
    ledger: Mutex<Ledger>,
    session: String,
    cache: Mutex<Option<(Instant, Value)>>,
    digest: Mutex<Option<(Instant, DigestSummary)>>,
}

fn locked<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cockpit {
    /// A cockpit over the running coordinator, with its own monitor (for the verdicts'
    /// evidence and sources), the panes, a detector and a ledger connection.
    pub fn new(
        coord: Arc<SessionCoordinator>,
        monitor: AgentMonitor,
        panes: Arc<dyn Panes>,
        detector: Detector,
        ledger: Ledger,
        session: String,
    ) -> Cockpit {
        Cockpit {
            coord,
            monitor,
            panes,
            detector,
            ledger: Mutex::new(ledger),
            session,
            cache: Mutex::new(None),
            digest: Mutex::new(None),
        }
    }

    /// Everything the page shows, as JSON (at most [`VIEW_TTL`] old).
    pub fn view(&self) -> Value {
        let mut cache = locked(&self.cache);
        if let Some((at, v)) = cache.as_ref()
            && at.elapsed() < VIEW_TTL
        {
            return v.clone();
        }
        let v = self.build_view();
        *cache = Some((Instant::now(), v.clone()));
        v
    }

    fn build_view(&self) -> Value {
        let mut problems = self.coord.problems();
        let snap = match self.monitor.refresh() {
            Ok(s) => Some(s),
            Err(e) => {
                problems.push(format!("observing the panes: {e}"));
                None
            }
        };
        let agents = merge_agents(&self.coord.get_agents(), snap.as_ref());
        let (assignments, last_event_id) = {
            let ledger = locked(&self.ledger);
            let assignments = match ledger.all() {
                Ok(a) => Some(recent_assignments(a)),
                Err(e) => {
                    problems.push(format!("the ledger's assignments: {e}"));
                    None
                }
            };
            (assignments, ledger.last_event_id().unwrap_or(0))
        };
        let digest = self.digest();
        let pauses = match self.coord.pauses() {
            Ok(p) => Some(p),
            Err(e) => {
                problems.push(format!("the pauses of auto-assign: {e}"));
                None
            }
        };
        json!({
            "pauses": pauses,
            "session": self.session,
            "observed_at": gaffer_core::time::format_rfc3339(&chrono::Utc::now()),
            "agents": agents,
            "assignments": assignments,
            "conflicts": digest.conflicts,
            "digest": digest,
            "problems": problems,
            "last_event_id": last_event_id,
            "event_types": gaffer_core::event::CoordinatorEventType::all()
                .map(|t| t.as_str().to_string())
                .collect::<Vec<_>>(),
        })
    }

    /// The digest of the session, at most [`DIGEST_TTL`] old.
    fn digest(&self) -> DigestSummary {
        let mut cache = locked(&self.digest);
        if let Some((at, d)) = cache.as_ref()
            && at.elapsed() < DIGEST_TTL
        {
            return d.clone();
        }
        let d = self.coord.generate_digest();
        *cache = Some((Instant::now(), d.clone()));
        d
    }

    /// The preview of one pane: its last lines (escapes stripped), each marked when it is
    /// evidence of the verdict, and the verdict.
    pub fn screen(&self, pane: &str) -> Result<Value, WebError> {
        let info = self.find(pane)?;
        let caps = self
            .panes
            .capture(std::slice::from_ref(&info.pane_id))
            .map_err(|e| WebError::new(503, "tmux_unavailable", e.to_string()))?;
        let Some((_, screen)) = caps.into_iter().next() else {
            return Err(WebError::new(
                404,
                "no_pane",
                format!("pane {pane:?} is gone"),
            ));
        };
        let verdict = self.detector.detect(&ScreenInput {
            agent_type: &info.agent_type,
            screen: &screen,
            current_command: &info.current_command,
            observed_at: chrono::Utc::now(),
        });
        Ok(json!({
            "pane_id": info.pane_id,
            "title": info.title,
            "agent_type": info.agent_type,
            "lines": preview_lines(&screen, &verdict, PREVIEW_LINES),
            "status": verdict.status,
            "reason": verdict.reason,
            "rule": verdict.rule,
            "evidence": verdict.evidence,
        }))
    }

    /// The send action: parses `body` ([`SendRequest`]) and delivers the prompt, verified
    /// (the control API's `send_prompt`, which reports `prompt_sent`).
    pub fn send(&self, body: &[u8]) -> Result<Value, WebError> {
        let req: SendRequest = parse(body, "{\"pane\", \"text\", \"force\"}")?;
        if req.text.trim().is_empty() {
            return Err(WebError::new(400, "empty_prompt", "the prompt is empty"));
        }
        if req.text.len() > MAX_PROMPT {
            return Err(WebError::new(
                413,
                "prompt_too_long",
                format!(
                    "the prompt has {} bytes; at most {MAX_PROMPT}",
                    req.text.len()
                ),
            ));
        }
        let info = self.find(&req.pane)?;
        let started = Instant::now();
        let result = self.coord.send_prompt(&info.pane_id, &req.text, req.force);
        tracing::info!(
            pane = %info.pane_id,
            bytes = req.text.len(),
            ok = result.is_ok(),
            took_ms = started.elapsed().as_millis() as u64,
            "prompt sent from the cockpit"
        );
        self.invalidate();
        let rep = result.map_err(coord_error)?;
        Ok(json!({
            "pane_id": info.pane_id,
            "title": info.title,
            "outcome": rep.outcome,
            "delivered": rep.outcome == DeliveryOutcome::Delivered,
            "attempts": rep.attempts,
            "bytes": rep.bytes,
            "elapsed_ms": rep.elapsed_ms,
        }))
    }

    /// Forgets the cached view and digest (an action changed something).
    fn invalidate(&self) {
        *locked(&self.cache) = None;
        *locked(&self.digest) = None;
    }

    fn find(&self, pane: &str) -> Result<gaffer_core::panes::PaneInfo, WebError> {
        let panes = self
            .panes
            .list_panes()
            .map_err(|e| WebError::new(503, "tmux_unavailable", e.to_string()))?;
        crate::adapters::find_pane(&panes, pane)
            .filter(|p| p.is_agent())
            .ok_or_else(|| {
                WebError::new(
                    404,
                    "no_pane",
                    format!("no agent pane {pane:?} in session {}", self.session),
                )
            })
    }
}

/// The human's controls, through the coordinator's control API (the one the CLI and the
/// terminal dashboard use). Each takes the action's JSON body and answers JSON.
impl Cockpit {
    /// The dialog a BLOCKED agent shows now, to show in full before it is answered.
    pub fn dialog(&self, pane: &str) -> Result<Value, WebError> {
        let info = self.find(pane)?;
        let d = self.coord.read_dialog(&info.pane_id).map_err(coord_error)?;
        Ok(json!(d))
    }

    /// `{"pane", "option", "shown"}`: answers the dialog with one of its options; `shown` is
    /// the dialog the human saw (refused when the screen shows another).
    pub fn answer(&self, body: &[u8]) -> Result<Value, WebError> {
        let req: AnswerRequest = parse(body, "{\"pane\", \"option\", \"shown\"}")?;
        let info = self.find(&req.pane)?;
        let shown = req.shown.map(|d| Dialog {
            text: d.text,
            options: d
                .options
                .into_iter()
                .map(|o| DialogOption {
                    number: o.number,
                    label: o.label,
                    selected: o.selected,
                })
                .collect(),
        });
        let r = self
            .coord
            .answer_dialog(&info.pane_id, req.option, shown.as_ref())
            .map_err(coord_error)?;
        self.invalidate();
        Ok(json!(r))
    }

    /// `{"pane"}` or `{"all": true}`: pauses auto-assign; answers the pauses now.
    pub fn pause(&self, body: &[u8]) -> Result<Value, WebError> {
        let target = pause_target(body)?;
        let p = self.coord.pause(&target).map_err(coord_error)?;
        self.invalidate();
        Ok(json!(p))
    }

    /// `{"pane"}` or `{"all": true}`: resumes auto-assign; answers the pauses now.
    pub fn resume(&self, body: &[u8]) -> Result<Value, WebError> {
        let target = pause_target(body)?;
        let p = self.coord.resume(&target).map_err(coord_error)?;
        self.invalidate();
        Ok(json!(p))
    }

    /// `{"bead"}`: hands the bead's live assignment back.
    pub fn unassign(&self, body: &[u8]) -> Result<Value, WebError> {
        let req: BeadRequest = parse(body, "{\"bead\"}")?;
        self.coord.unassign(&req.bead).map_err(coord_error)?;
        self.invalidate();
        Ok(json!({"bead_id": req.bead, "unassigned": true}))
    }

    /// `{"bead", "pane"}`: assigns the bead to that agent (its live assignment handed back).
    pub fn reassign(&self, body: &[u8]) -> Result<Value, WebError> {
        let req: ReassignRequest = parse(body, "{\"bead\", \"pane\"}")?;
        let info = self.find(&req.pane)?;
        let r = self
            .coord
            .reassign(&req.bead, &info.pane_id)
            .map_err(coord_error)?;
        self.invalidate();
        Ok(json!(r))
    }

    /// Where the pane is in tmux.
    pub fn jump(&self, pane: &str) -> Result<Value, WebError> {
        let info = self.find(pane)?;
        let j = self.coord.jump_target(&info.pane_id).map_err(coord_error)?;
        Ok(json!(j))
    }
}

/// A dialog as the page was shown it (the answer's `shown`).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ShownDialog {
    /// Its lines.
    pub text: Vec<String>,
    /// Its options.
    pub options: Vec<ShownOption>,
}

/// One option of a [`ShownDialog`].
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ShownOption {
    /// Its number.
    pub number: u32,
    /// Its label.
    pub label: String,
    /// Whether the cursor was on it.
    #[serde(default)]
    pub selected: bool,
}

/// An answer's body.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    /// The pane.
    pub pane: String,
    /// The option's number.
    pub option: u32,
    /// The dialog the human saw.
    #[serde(default)]
    pub shown: Option<ShownDialog>,
}

/// A pause's or resume's body: one agent, or all.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PauseRequest {
    /// The pane.
    #[serde(default)]
    pub pane: Option<String>,
    /// Every agent.
    #[serde(default)]
    pub all: bool,
}

/// An unassign's body.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeadRequest {
    /// The bead.
    pub bead: String,
}

/// A reassign's body.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReassignRequest {
    /// The bead.
    pub bead: String,
    /// The agent's pane.
    pub pane: String,
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, WebError> {
    serde_json::from_slice(body)
        .map_err(|e| WebError::new(400, "bad_request", format!("the body is not {shape}: {e}")))
}

fn pause_target(body: &[u8]) -> Result<PauseTarget, WebError> {
    let req: PauseRequest = parse(body, "{\"pane\"} or {\"all\": true}")?;
    match (req.pane, req.all) {
        (None, true) => Ok(PauseTarget::All),
        (Some(p), false) if !p.trim().is_empty() => Ok(PauseTarget::Pane(p)),
        _ => Err(WebError::new(
            400,
            "bad_request",
            "give {\"pane\": ID} or {\"all\": true}, not both",
        )),
    }
}

/// A refused control action as an HTTP answer: not found 404, refused by the state of the
/// session 409, tmux or the ledger unavailable 503.
fn coord_error(e: CoordinatorError) -> WebError {
    let (status, code) = match &e {
        CoordinatorError::AgentNotFound(_)
        | CoordinatorError::Control(ControlError::AgentNotFound(_)) => (404, "no_agent"),
        CoordinatorError::Control(ControlError::NotAssigned(_) | ControlError::UnknownBead(_)) => {
            (404, "no_bead")
        }
        CoordinatorError::Control(ControlError::NoSuchOption { .. }) => (400, "no_such_option"),
        CoordinatorError::Control(ControlError::DialogChanged(_)) => (409, "dialog_changed"),
        CoordinatorError::Control(ControlError::NotBlocked { .. } | ControlError::NoDialog(_)) => {
            (409, "no_dialog")
        }
        CoordinatorError::Control(ControlError::AgentNotReady { .. }) => (409, "not_ready"),
        CoordinatorError::Assign(_) => (409, "assign_failed"),
        CoordinatorError::Panes(_) | CoordinatorError::Observe(_) => (503, "tmux_unavailable"),
        CoordinatorError::Ledger(_) => (503, "ledger_unavailable"),
        _ => (502, "failed"),
    };
    WebError::new(status, code, e.to_string())
}

/// The agents as the page shows them: the coordinator's state (what gaffer acts on: status,
/// task, assignments) with the monitor's verdict (reason, rule, evidence, who decided, the
/// context's source, health issues).
fn merge_agents(
    states: &BTreeMap<String, gaffer_core::agent::AgentState>,
    snap: Option<&MonitorSnapshot>,
) -> Vec<Value> {
    let now = chrono::Utc::now();
    let reports: BTreeMap<&str, &gaffer_core::cycle::AgentReport> = snap
        .map(|s| {
            s.agents
                .iter()
                .map(|a| (a.pane.pane_id.as_str(), a))
                .collect()
        })
        .unwrap_or_default();
    let mut ids: Vec<&str> = states.keys().map(String::as_str).collect();
    for id in reports.keys() {
        if !states.contains_key(*id) {
            ids.push(id);
        }
    }
    ids.sort_by_key(|id| pane_number(id));
    ids.into_iter()
        .map(|id| {
            let state = states.get(id);
            let report = reports.get(id);
            let verdict = report.map(|r| &r.observation.verdict);
            let fusion = verdict.and_then(|v| v.fusion.as_ref());
            let status = state
                .map(|s| s.status)
                .or(report.map(|r| r.observation.status));
            // Unknown is not 0%: the coordinator's figure only stands in without a verdict.
            let context = match verdict {
                Some(v) => v.context_usage,
                None => state.map(|s| s.context_usage),
            };
            let idle = report.map(|r| r.idle_seconds).or_else(|| {
                state.map(|s| ((now - s.last_activity).num_milliseconds() as f64 / 1000.0).max(0.0))
            });
            let healthy = match (report, state) {
                (Some(r), _) => r.health.healthy,
                (None, Some(s)) => s.healthy,
                (None, None) => false,
            };
            json!({
                "pane_id": id,
                "title": report.map(|r| r.pane.title.as_str()).unwrap_or_default(),
                "agent_type": report
                    .map(|r| r.pane.agent_type.as_str())
                    .or(state.map(|s| s.agent_type.as_str()))
                    .unwrap_or_default(),
                "name": state.map(|s| s.agent_mail_name.as_str()).unwrap_or_default(),
                "status": status,
                "reason": verdict.map(|v| v.reason.as_str()).unwrap_or_default(),
                "rule": verdict.map(|v| v.rule.as_str()).unwrap_or_default(),
                "evidence": verdict.map(|v| v.evidence.clone()).unwrap_or_default(),
                "decided_by": fusion.map(|f| f.decided_by.as_str()).unwrap_or("screen"),
                "context_usage": context,
                "context_source": fusion.and_then(|f| f.context_source).map(|s| s.as_str()),
                "idle_seconds": idle,
                "current_task": state.map(|s| s.current_task.as_str()).unwrap_or_default(),
                "assignments": state.map(|s| s.assignments).unwrap_or(0),
                "healthy": healthy,
                "issues": report.map(|r| r.health.issues.clone()).unwrap_or_default(),
            })
        })
        .collect()
}

/// `%12` → 12, for ordering panes as tmux numbers them.
fn pane_number(id: &str) -> (u64, String) {
    let n = id.trim_start_matches('%').parse().unwrap_or(u64::MAX);
    (n, id.to_string())
}

/// Every live assignment, then the newest others, at most [`RECENT_ASSIGNMENTS`] in all.
fn recent_assignments(mut all: Vec<AssignmentRecord>) -> Vec<AssignmentRecord> {
    all.sort_by(|a, b| {
        b.state
            .is_active()
            .cmp(&a.state.is_active())
            .then(b.updated_at.cmp(&a.updated_at))
            .then(b.id.cmp(&a.id))
    });
    all.truncate(RECENT_ASSIGNMENTS);
    all
}

/// `s` with its `%XX` escapes decoded (and `+` as a space), as a query value is sent; `None`
/// when it is not UTF-8 or an escape is malformed.
pub fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The last `n` lines of `screen` (trailing blank lines dropped, escapes stripped), each with
/// whether it is one of the verdict's evidence lines.
pub fn preview_lines(screen: &str, verdict: &Verdict, n: usize) -> Vec<Value> {
    let lines: Vec<String> = screen.lines().map(sanitize_line).collect();
    let end = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let start = end.saturating_sub(n);
    let evidence: Vec<String> = verdict
        .evidence
        .iter()
        .map(|e| sanitize_line(e).trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    lines[start..end]
        .iter()
        .map(|l| {
            let t = l.trim();
            let hit = !t.is_empty() && evidence.iter().any(|e| e == t || t.contains(e.as_str()));
            json!({"text": l, "evidence": hit})
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use gaffer_core::status::AgentStatus;

    fn verdict(evidence: &[&str]) -> Verdict {
        Verdict {
            status: AgentStatus::Blocked,
            reason: "dialog".into(),
            rule: "cc.blocked".into(),
            evidence: evidence.iter().map(|s| s.to_string()).collect(),
            confidence: 1.0,
            context_usage: None,
            rate_limit_reset: None,
            observed_at: chrono::Utc::now(),
            fusion: None,
        }
    }

    #[test]
    fn the_preview_keeps_the_last_lines_strips_escapes_and_marks_the_evidence() {
        let screen =
            "old 1\nold 2\n\x1b[31mDo you want to proceed?\x1b[0m\n❯ 1. Yes\n  2. No\n\n\n";
        let v = verdict(&["Do you want to proceed?"]);
        let lines = preview_lines(screen, &v, 3);
        let texts: Vec<&str> = lines.iter().map(|l| l["text"].as_str().unwrap()).collect();
        assert_eq!(texts, ["Do you want to proceed?", "❯ 1. Yes", "  2. No"]);
        let marked: Vec<bool> = lines
            .iter()
            .map(|l| l["evidence"].as_bool().unwrap())
            .collect();
        assert_eq!(marked, [true, false, false]);
        assert!(preview_lines("", &v, 3).is_empty());
        assert_eq!(preview_lines("a\nb", &verdict(&[]), 10).len(), 2);
    }

    fn report(pane: &str, status: AgentStatus, v: Verdict) -> gaffer_core::cycle::AgentReport {
        let now = chrono::Utc::now();
        gaffer_core::cycle::AgentReport {
            pane: gaffer_core::panes::PaneInfo {
                pane_id: pane.into(),
                title: format!("t{pane}"),
                agent_type: "cc".into(),
                ..Default::default()
            },
            observation: gaffer_core::detect::tracker::Observation {
                status,
                verdict: v,
                last_activity: now,
                idle_for: Duration::from_secs(4),
                since: now,
                changed: false,
                previous: None,
                pending: None,
            },
            last_activity: now,
            idle_seconds: 4.0,
            velocity: 0.0,
            health: gaffer_core::agent::HealthCheck {
                pane_id: pane.into(),
                agent_type: "cc".into(),
                healthy: true,
                issues: vec!["slow".into()],
                timestamp: now,
            },
        }
    }

    #[test]
    fn the_agents_merge_the_coordinators_state_with_the_monitors_verdict() {
        let now = chrono::Utc::now();
        let mut states = BTreeMap::new();
        let mut tracked = gaffer_core::agent::AgentState::new("%10", 0, "cc", now);
        tracked.status = AgentStatus::Generating;
        tracked.current_task = "bd-7".into();
        tracked.context_usage = 12.0;
        states.insert("%10".to_string(), tracked);
        let mut only_state = gaffer_core::agent::AgentState::new("%2", 1, "cod", now);
        only_state.context_usage = 33.0;
        states.insert("%2".to_string(), only_state);
        let mut fused = verdict(&["✻ Pondering…"]);
        fused.context_usage = Some(61.0);
        fused.fusion = Some(gaffer_core::fuse::Fusion {
            decided_by: gaffer_core::fuse::Source::Hook,
            rule: "R3".into(),
            sources: Vec::new(),
            context_source: Some(gaffer_core::fuse::Source::Transcript),
        });
        let snap = MonitorSnapshot {
            observed_at: now,
            mode: gaffer_core::panes::ObserveMode::Polling,
            agents: vec![
                report("%10", AgentStatus::Thinking, fused),
                report("%3", AgentStatus::Waiting, verdict(&[])),
            ],
            vanished: Vec::new(),
            problems: Vec::new(),
            lost: None,
            unreachable: Default::default(),
            hosts: Vec::new(),
        };
        let agents = merge_agents(&states, Some(&snap));
        let ids: Vec<&str> = agents
            .iter()
            .map(|a| a["pane_id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["%2", "%3", "%10"], "in tmux's order");
        let a = &agents[2];
        // The coordinator's status and task; the monitor's reason, evidence and sources.
        assert_eq!(a["status"], "GENERATING");
        assert_eq!(a["current_task"], "bd-7");
        assert_eq!(a["decided_by"], "hook");
        assert_eq!(a["context_source"], "transcript");
        assert_eq!(a["context_usage"], 61.0);
        assert_eq!(a["evidence"][0], "✻ Pondering…");
        assert_eq!(
            (a["healthy"].as_bool(), a["issues"][0].as_str()),
            (Some(true), Some("slow"))
        );
        // Seen by the monitor only: its own status; unknown context stays unknown.
        assert_eq!(agents[1]["status"], "WAITING");
        assert!(agents[1]["context_usage"].is_null());
        assert_eq!(agents[1]["decided_by"], "screen");
        // Tracked only (the monitor failed): the coordinator's figures.
        assert_eq!(agents[0]["context_usage"], 33.0);
        assert_eq!(agents[0]["agent_type"], "cod");
        assert!(merge_agents(&BTreeMap::new(), None).is_empty());
    }

    #[test]
    fn a_pause_names_one_agent_or_all_never_both() {
        assert_eq!(
            pause_target(br#"{"pane":"%3"}"#),
            Ok(PauseTarget::Pane("%3".into()))
        );
        assert_eq!(pause_target(br#"{"all":true}"#), Ok(PauseTarget::All));
        for bad in [
            &br#"{}"#[..],
            br#"{"pane":"%3","all":true}"#,
            br#"{"pane":" "}"#,
            br#"{"all":false}"#,
            br#"{"panes":"%3"}"#,
            b"pause",
        ] {
            let e = pause_target(bad).unwrap_err();
            assert_eq!((e.status, e.code), (400, "bad_request"), "{bad:?}");
        }
    }

    #[test]
    fn refused_controls_map_to_statuses_that_say_why() {
        let cases = [
            (
                CoordinatorError::AgentNotFound("%9".into()),
                404,
                "no_agent",
            ),
            (
                ControlError::UnknownBead("x-1".into()).into(),
                404,
                "no_bead",
            ),
            (
                ControlError::NotAssigned("x-1".into()).into(),
                404,
                "no_bead",
            ),
            (
                ControlError::DialogChanged("%1".into()).into(),
                409,
                "dialog_changed",
            ),
            (ControlError::NoDialog("%1".into()).into(), 409, "no_dialog"),
            (
                ControlError::AgentNotReady {
                    pane: "%1".into(),
                    why: "busy".into(),
                }
                .into(),
                409,
                "not_ready",
            ),
            (
                ControlError::NoSuchOption {
                    option: 7,
                    available: "1, 2".into(),
                }
                .into(),
                400,
                "no_such_option",
            ),
            (
                CoordinatorError::Panes("gone".into()),
                503,
                "tmux_unavailable",
            ),
        ];
        for (e, status, code) in cases {
            let msg = e.to_string();
            let w = coord_error(e);
            assert_eq!((w.status, w.code), (status, code), "{msg}");
            assert_eq!(w.message, msg, "the reason reaches the page");
        }
    }

    #[test]
    fn query_values_are_percent_decoded() {
        assert_eq!(percent_decode("%253").as_deref(), Some("%3"));
        assert_eq!(percent_decode("a+b%20c").as_deref(), Some("a b c"));
        assert_eq!(percent_decode("%E2%9D%AF").as_deref(), Some("❯"));
        assert_eq!(percent_decode("%2"), None);
        assert_eq!(percent_decode("%zz"), None);
        assert_eq!(percent_decode("%ff"), None, "not UTF-8");
    }

    #[test]
    fn the_page_carries_only_a_hex_csrf_token_and_no_inline_script() {
        let p = page("ab12\"><script>x</script>");
        assert!(p.contains("content=\"ab12cc\""), "only hex digits remain");
        assert!(!p.contains("{{CSRF}}"));
        assert!(!p.contains("<script>x"));
        // The script is external (CSP `script-src 'self'`): the page has no inline one.
        assert!(p.contains("<script src=\"/cockpit.js\" defer></script>"));
        assert_eq!(p.matches("<script").count(), 1);
        assert!(!JS.contains("innerHTML") && !JS.contains("outerHTML"));
        assert!(!JS.contains("insertAdjacentHTML") && !JS.contains("document.write"));
    }
}
