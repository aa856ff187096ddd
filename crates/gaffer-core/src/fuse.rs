//! Fusion: the screen verdict combined with the agents' own signals (hooks, the session file,
//! the transcript) and the activity clock into one observed state that names its sources.
//!
//! Order of trust: fresh hook signals, then the session file, then the transcript (context
//! only), then the screen rules, then the activity clock. [`fuse`] is pure: every input is a
//! value, `now` included.
//!
//! # The structured state
//!
//! The newest *lifecycle* hook signal that is not stale gives the hook state:
//! turn start, model request/response, tool start/end, compaction and a sub-agent's stop ⇒ busy;
//! a permission request ⇒ BLOCKED; stop, an idle prompt and session start ⇒ WAITING; session
//! end ⇒ EXITED; a failed turn (Claude's `StopFailure`) ⇒ RATE_LIMITED when its error class is
//! `rate_limit`, else ERROR. Other notifications are shown as sources but decide nothing. A
//! session start within [`FuseConfig::settle`] of a turn start is passed over: Codex fires
//! `SessionStart` with its first prompt, beside `UserPromptSubmit`, and that session is busy. A signal is stale
//! when it is older than its kind's maximum age ([`FuseConfig::max_age_of`]); busy signals have
//! none by default (a turn may run for hours: a running turn ends by a later signal or by rule
//! R4 below). The session file's status (`busy`, `idle`, `waiting` for a dialog) gives the same
//! kind of state; the newer of the two is the structured state (a tie goes to the hook), except
//! that an `idle` file never supersedes a failed turn (the file goes idle when the turn fails).
//!
//! # Who wins when the structured state H and the screen S disagree
//!
//! "The screen changed after H" means its last content change is later than H's signal by more
//! than [`FuseConfig::settle`] (the screen may lag behind a hook by a redraw).
//!
//! * **R0** S is EXITED (the pane's command is a shell): the screen, always.
//! * **R1** H busy, S RATE_LIMITED or ERROR: the screen. A hook cannot see the agent's retries.
//! * **R2** H busy, S BLOCKED: the screen (a dialog no hook reported, e.g. a trust prompt).
//! * **R3** H busy, S WAITING or UNKNOWN, the screen changed within [`FuseConfig::turn_quiet`]:
//!   the hook. Codex streams text with no spinner; the hook knows the turn runs.
//! * **R4** H busy, S WAITING and the screen quiet for [`FuseConfig::turn_quiet`]: the screen.
//!   A busy agent redraws (spinner, timer, text); a quiet prompt means the Stop was lost (hooks
//!   removed mid-turn, a crashed hook).
//! * **R5** H WAITING (stop), S BLOCKED, RATE_LIMITED or ERROR shown at or after the stop: the
//!   screen (a dialog or an error that appeared after the last hook). Shown before the stop and
//!   unchanged since: the hook. When H comes from the session file, the screen always: the
//!   file is a status snapshot rewritten at any time, not an event (Claude Code writes `idle`
//!   while its screen shows a rate-limit error it is retrying).
//! * **R6** H WAITING, S busy: the screen when it changed after the stop (a turn no hook
//!   reported), or when H is a session start (no turn boundary); otherwise the hook (the screen
//!   lags behind the stop).
//! * **R7** H BLOCKED, S not BLOCKED: the screen when it changed after the request (the human
//!   answered; the tool runs); otherwise the hook.
//! * **R8** H EXITED (session end), S not EXITED: the screen when it changed after the end (a
//!   new session in the pane); otherwise the hook.
//! * **R9** Retry: the newest signal is a model request sent more than [`FuseConfig::retry_gap`]
//!   after the turn's last progress (turn start, model response, tool start/end), with no
//!   response in between: the previous request failed and the agent is retrying (Gemini CLI
//!   re-sends `BeforeModel` on each attempt and shows only a spinner). Unless the screen says
//!   RATE_LIMITED or ERROR itself (R1, more specific), the state is ERROR with the hook as
//!   evidence: a hook cannot tell a rate limit from a server error.
//! * **R10** H failed (the turn ended on an API error), S not the same state: the screen when it
//!   shows RATE_LIMITED or ERROR itself (its message is the more specific reading, with the
//!   reset time), when it shows a dialog drawn at or after the failure, or when it changed after
//!   the failure to WAITING or busy (the human moved on, or a turn no hook reported); otherwise
//!   the hook: the failure holds although the screen shows the idle prompt (Claude Code draws
//!   its composer under the error, and an error message no screen rule knows reads WAITING).
//! * Otherwise (they agree, or S is UNKNOWN) H decides; a busy screen keeps its flavour
//!   (THINKING or GENERATING).
//!
//! With no structured state (no signals, or all stale) the screen decides alone: an agent
//! without hooks is observed exactly as before.
//!
//! Context usage: the transcript's exact figure when there is one, else the screen's.

use crate::detect::Verdict;
use crate::signals::{HookEvent, PaneSignals, Signal};
use crate::status::AgentStatus;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

/// Where a piece of evidence came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A hook signal (`gaffer hook`).
    Hook,
    /// The agent's per-process session file.
    SessionFile,
    /// The agent's transcript (context usage).
    Transcript,
    /// The screen rules.
    Screen,
    /// The content-activity clock.
    Activity,
}

impl Source {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Hook => "hook",
            Source::SessionFile => "session_file",
            Source::Transcript => "transcript",
            Source::Screen => "screen",
            Source::Activity => "activity",
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One source's say, with its age.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceNote {
    /// The source.
    pub source: Source,
    /// What it says, e.g. `stop (Stop)` or `WAITING (cc.idle.prompt)`.
    pub what: String,
    /// Seconds since the source said it.
    pub age: f64,
    /// Whether it is too old to decide anything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

/// How a verdict was fused: the sources and which one decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fusion {
    /// The source that decided the status.
    pub decided_by: Source,
    /// The rule of this module that settled a disagreement (`R1`…`R10`), or `agree`, `screen
    /// only`, `hook only`.
    pub rule: String,
    /// Every source consulted, the decider first.
    pub sources: Vec<SourceNote>,
    /// Where the context figure came from, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_source: Option<Source>,
}

impl Fusion {
    /// Whether the status came from an exact structured source (a hook or the session file),
    /// which needs no hysteresis.
    pub fn is_exact(&self) -> bool {
        matches!(self.decided_by, Source::Hook | Source::SessionFile)
    }

    /// One line for people: "hook stop 2 s ago; screen agrees".
    pub fn summary(&self, screen_status: AgentStatus) -> String {
        let Some(first) = self.sources.first() else {
            return "no sources".into();
        };
        let head = format!(
            "{} {} {} ago",
            first.source,
            first.what,
            format_age(first.age)
        );
        if first.source == Source::Screen {
            return format!("{head} ({})", self.rule);
        }
        let screen = self
            .sources
            .iter()
            .find(|n| n.source == Source::Screen)
            .map(|n| n.what.clone())
            .unwrap_or_else(|| screen_status.to_string());
        if self.rule == "agree" {
            format!("{head}; screen agrees ({screen})")
        } else {
            format!("{head}; screen says {screen} ({})", self.rule)
        }
    }
}

/// Ages for people: `0.4 s`, `2 s`, `3 min`.
pub fn format_age(secs: f64) -> String {
    if secs < 10.0 {
        let r = (secs * 10.0).round() / 10.0;
        if r.fract() == 0.0 {
            format!("{r:.0} s")
        } else {
            format!("{r:.1} s")
        }
    } else if secs < 120.0 {
        format!("{secs:.0} s")
    } else if secs < 7200.0 {
        format!("{:.0} min", secs / 60.0)
    } else {
        format!("{:.0} h", secs / 3600.0)
    }
}

/// Fusion settings.
#[derive(Debug, Clone, PartialEq)]
pub struct FuseConfig {
    /// A non-busy hook signal older than this decides nothing (default 30 min).
    pub max_age: Duration,
    /// Per-event maximum ages that replace the default (busy events have none unless set here).
    pub max_age_by_event: BTreeMap<HookEvent, Duration>,
    /// How long the screen may lag behind a hook (default 2 s).
    pub settle: Duration,
    /// A hook-busy turn whose screen shows the prompt and has not changed for this long is over
    /// (R4, default 20 s).
    pub turn_quiet: Duration,
    /// A model request this long after the turn's last progress, with no response between, is
    /// a retry (R9, default 3 s).
    pub retry_gap: Duration,
}

impl Default for FuseConfig {
    fn default() -> Self {
        FuseConfig {
            max_age: Duration::from_secs(30 * 60),
            max_age_by_event: BTreeMap::new(),
            settle: Duration::from_secs(2),
            turn_quiet: Duration::from_secs(20),
            retry_gap: Duration::from_secs(3),
        }
    }
}

impl FuseConfig {
    /// The maximum age of a signal of this kind; `None` for busy events unless configured.
    pub fn max_age_of(&self, event: HookEvent) -> Option<Duration> {
        if let Some(d) = self.max_age_by_event.get(&event) {
            return Some(*d);
        }
        match hook_state(event, None) {
            Some(Structured::Busy) => None,
            _ => Some(self.max_age),
        }
    }
}

/// The state a structured source claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Structured {
    Busy,
    Waiting,
    Blocked,
    Exited,
    /// The turn ended on an API error: RATE_LIMITED or ERROR.
    Failed {
        rate_limited: bool,
    },
}

impl Structured {
    fn status(self) -> AgentStatus {
        match self {
            Structured::Busy => AgentStatus::Generating,
            Structured::Waiting => AgentStatus::Waiting,
            Structured::Blocked => AgentStatus::Blocked,
            Structured::Exited => AgentStatus::Exited,
            Structured::Failed { rate_limited: true } => AgentStatus::RateLimited,
            Structured::Failed {
                rate_limited: false,
            } => AgentStatus::Error,
        }
    }

    fn agrees(self, s: AgentStatus) -> bool {
        match self {
            Structured::Busy => s.is_busy() || s == AgentStatus::Stalled,
            _ => self.status() == s,
        }
    }
}

/// The state a hook event implies, if it implies one; `detail` is the signal's (a failed
/// turn's error class).
fn hook_state(e: HookEvent, detail: Option<&str>) -> Option<Structured> {
    use HookEvent::*;
    match e {
        TurnStart | ModelRequest | ModelResponse | ToolStart | ToolEnd | Compact | SubagentStop => {
            Some(Structured::Busy)
        }
        PermissionRequest => Some(Structured::Blocked),
        Stop | IdlePrompt | SessionStart => Some(Structured::Waiting),
        SessionEnd => Some(Structured::Exited),
        TurnFailed => Some(Structured::Failed {
            rate_limited: is_rate_limit_class(detail),
        }),
        Notification => None,
    }
}

/// Whether a failed turn's error class is a rate limit (Claude Code 2.1's `StopFailure` classes:
/// `rate_limit`; a used-up balance is `billing_error`, an error like the screen's "credit
/// balance is too low").
fn is_rate_limit_class(detail: Option<&str>) -> bool {
    detail.is_some_and(|d| d.trim().eq_ignore_ascii_case("rate_limit"))
}

/// The state a session file's status field implies (Claude Code 2.1: `busy`, `idle`,
/// `waiting` for a dialog, `shell`).
fn session_state(status: &str) -> Option<Structured> {
    match status.trim().to_ascii_lowercase().as_str() {
        "busy" => Some(Structured::Busy),
        "idle" => Some(Structured::Waiting),
        "waiting" => Some(Structured::Blocked),
        _ => None,
    }
}

fn secs_between(earlier: Timestamp, later: Timestamp) -> f64 {
    (later - earlier)
        .to_std()
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn after_by(later: Timestamp, earlier: Timestamp, by: Duration) -> bool {
    (later - earlier).to_std().is_ok_and(|d| d > by)
}

/// What fusion decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Fused {
    /// The observed status (before the tracker's hysteresis and STALLED).
    pub status: AgentStatus,
    /// Why, in words.
    pub reason: String,
    /// Evidence lines from the deciding source.
    pub evidence: Vec<String>,
    /// Context use, percent, from the best source.
    pub context_usage: Option<f64>,
    /// The sources and the decider.
    pub fusion: Fusion,
}

impl Fused {
    /// The screen verdict rewritten with the fused status, reason, evidence and context.
    /// When the screen decided, or agrees with the structured state, the rule, reason and
    /// evidence stay the screen's (its rule is the more specific reading); `fusion` names the
    /// decider either way.
    pub fn apply(self, mut verdict: Verdict) -> Verdict {
        if self.fusion.decided_by != Source::Screen && self.fusion.rule != "agree" {
            verdict.rule = format!("fuse.{}.{}", self.fusion.decided_by, self.fusion.rule);
            verdict.reason = self.reason;
            verdict.evidence = self.evidence;
            verdict.confidence = 1.0;
            if self.status != AgentStatus::RateLimited {
                verdict.rate_limit_reset = None;
            }
        }
        verdict.status = self.status;
        verdict.context_usage = self.context_usage;
        verdict.fusion = Some(self.fusion);
        verdict
    }
}

/// A candidate structured state with its time and description.
struct Claim {
    state: Structured,
    source: Source,
    at: Timestamp,
    what: String,
    /// The hook event, for a hook's claim.
    event: Option<HookEvent>,
}

/// Fuses the screen verdict with the pane's structured signals.
///
/// `screen_changed_at` is the activity clock: the last time the pane's content changed.
pub fn fuse(
    verdict: &Verdict,
    signals: Option<&PaneSignals>,
    screen_changed_at: Timestamp,
    now: Timestamp,
    cfg: &FuseConfig,
) -> Fused {
    let empty = PaneSignals::default();
    let sig = signals.unwrap_or(&empty);
    let s = verdict.status;

    // every hook signal, newest first, with staleness
    let mut hooks: Vec<(&Signal, bool)> = sig
        .last
        .values()
        .map(|g| {
            let stale = cfg
                .max_age_of(g.event)
                .is_some_and(|max| after_by(now, g.at, max));
            (g, stale)
        })
        .collect();
    hooks.sort_by_key(|g| std::cmp::Reverse((g.0.at, g.0.seq)));

    // Codex fires SessionStart with the first prompt, beside its UserPromptSubmit (in either
    // order): a session start within `settle` of a turn start began that turn, it is no idle
    let turn_started = sig.last.get(&HookEvent::TurnStart).map(|g| g.at);
    let with_a_turn = |g: &Signal| {
        g.event == HookEvent::SessionStart
            && turn_started
                .is_some_and(|t| !after_by(g.at, t, cfg.settle) && !after_by(t, g.at, cfg.settle))
    };
    let hook_claim = hooks
        .iter()
        .filter(|(g, stale)| !stale && !with_a_turn(g))
        .find_map(|(g, _)| {
            hook_state(g.event, g.detail.as_deref()).map(|state| Claim {
                state,
                source: Source::Hook,
                at: g.at,
                what: describe_signal(g),
                event: Some(g.event),
            })
        });
    let file_claim = sig.session_file.as_ref().and_then(|f| {
        session_state(&f.status).map(|state| Claim {
            state,
            source: Source::SessionFile,
            at: f.at,
            what: format!("status {}", f.status),
            event: None,
        })
    });
    let claim = match (hook_claim, file_claim) {
        // an idle file after a failed turn is that turn's end, not news
        (Some(h), Some(f))
            if matches!(h.state, Structured::Failed { .. }) && f.state == Structured::Waiting =>
        {
            Some(h)
        }
        (Some(h), Some(f)) => Some(if f.at > h.at { f } else { h }),
        (h, f) => h.or(f),
    };

    // context: the transcript's exact figure, else the screen's
    let (mut context_usage, mut context_source) = match &sig.context {
        Some(c) => (Some(c.percent), Some(Source::Transcript)),
        None => (
            verdict.context_usage,
            verdict.context_usage.map(|_| Source::Screen),
        ),
    };

    let screen_note = SourceNote {
        source: Source::Screen,
        what: if verdict.rule.is_empty() {
            s.to_string()
        } else {
            format!("{s} ({})", verdict.rule)
        },
        age: secs_between(verdict.observed_at, now),
        stale: false,
    };
    let activity_note = SourceNote {
        source: Source::Activity,
        what: "last content change".into(),
        age: secs_between(screen_changed_at, now),
        stale: false,
    };

    let screen_decides = |rule: &str, reason: Option<String>| Decision {
        status: s,
        source: Source::Screen,
        rule: rule.into(),
        reason: reason.unwrap_or_else(|| verdict.reason.clone()),
        evidence: verdict.evidence.clone(),
    };

    let decision = match &claim {
        None => screen_decides(
            if hooks.is_empty() && sig.session_file.is_none() {
                "screen only"
            } else {
                "no fresh signal"
            },
            None,
        ),
        Some(_) if s == AgentStatus::Exited => screen_decides("R0", None),
        Some(c) => decide(
            c,
            verdict,
            sig,
            screen_changed_at,
            now,
            cfg,
            &screen_decides,
        ),
    };

    if decision.status == AgentStatus::Exited {
        context_usage = None;
        context_source = None;
    }

    // the notes: decider first, then the other sources in order of trust
    let mut notes: Vec<SourceNote> = Vec::new();
    for (g, stale) in &hooks {
        notes.push(SourceNote {
            source: Source::Hook,
            what: describe_signal(g),
            age: secs_between(g.at, now),
            stale: *stale,
        });
    }
    if let Some(f) = &sig.session_file {
        notes.push(SourceNote {
            source: Source::SessionFile,
            what: format!("status {}", f.status),
            age: secs_between(f.at, now),
            stale: false,
        });
    }
    if let Some(c) = &sig.context {
        notes.push(SourceNote {
            source: Source::Transcript,
            what: format!(
                "context {:.0}% ({} of {} tokens{})",
                c.percent,
                c.tokens,
                c.window,
                c.model
                    .as_deref()
                    .map(|m| format!(", {m}"))
                    .unwrap_or_default()
            ),
            age: secs_between(c.at, now),
            stale: false,
        });
    }
    notes.push(screen_note);
    notes.push(activity_note);
    let decider_pos = match (&decision.source, &claim) {
        (Source::Screen, _) => notes.iter().position(|n| n.source == Source::Screen),
        (src, Some(c)) => notes
            .iter()
            .position(|n| n.source == *src && n.what == c.what),
        _ => None,
    };
    if let Some(p) = decider_pos {
        let d = notes.remove(p);
        notes.insert(0, d);
    }

    Fused {
        status: decision.status,
        reason: decision.reason,
        evidence: decision.evidence,
        context_usage,
        fusion: Fusion {
            decided_by: decision.source,
            rule: decision.rule,
            sources: notes,
            context_source,
        },
    }
}

struct Decision {
    status: AgentStatus,
    source: Source,
    rule: String,
    reason: String,
    evidence: Vec<String>,
}

fn describe_signal(g: &Signal) -> String {
    let mut s = g.event.as_str().to_string();
    if !g.raw_event.is_empty() && g.raw_event != g.event.as_str() {
        s.push_str(&format!(" ({})", g.raw_event));
    }
    if let Some(d) = g.detail.as_deref().filter(|d| !d.is_empty()) {
        s.push_str(&format!(": {d}"));
    }
    s
}

/// R9: the newest signal is a model request well after the turn's last progress.
fn retry_evidence(sig: &PaneSignals, cfg: &FuseConfig) -> Option<String> {
    let newest = sig.newest()?;
    if newest.event != HookEvent::ModelRequest {
        return None;
    }
    let progress = [
        HookEvent::TurnStart,
        HookEvent::ModelResponse,
        HookEvent::ToolStart,
        HookEvent::ToolEnd,
        HookEvent::Compact,
    ];
    let last = progress
        .iter()
        .filter_map(|e| sig.last.get(e))
        .filter(|g| g.at <= newest.at)
        .max_by_key(|g| (g.at, g.seq))?;
    if !after_by(newest.at, last.at, cfg.retry_gap) {
        return None;
    }
    Some(format!(
        "hook {} re-sent {:.0} s after {} with no model response between",
        describe_signal(newest),
        secs_between(last.at, newest.at),
        last.event.as_str()
    ))
}

fn decide(
    c: &Claim,
    verdict: &Verdict,
    sig: &PaneSignals,
    screen_changed_at: Timestamp,
    now: Timestamp,
    cfg: &FuseConfig,
    screen_decides: &dyn Fn(&str, Option<String>) -> Decision,
) -> Decision {
    let s = verdict.status;
    let src = c.source;
    let screen_after = after_by(screen_changed_at, c.at, cfg.settle);
    let screen_since = screen_changed_at >= c.at;
    let structured =
        |status: AgentStatus, rule: &str, reason: String, evidence: Vec<String>| Decision {
            status,
            source: src,
            rule: rule.into(),
            reason,
            evidence,
        };
    let plain = |rule: &str| {
        structured(
            c.state.status(),
            rule,
            format!("{} {}", src, c.what),
            vec![format!("{} {}", src, c.what)],
        )
    };
    let urgent_screen = matches!(s, AgentStatus::RateLimited | AgentStatus::Error);
    match c.state {
        Structured::Busy => {
            if urgent_screen {
                return screen_decides("R1", None);
            }
            if s == AgentStatus::Blocked {
                return screen_decides("R2", None);
            }
            if src == Source::Hook
                && let Some(ev) = retry_evidence(sig, cfg)
            {
                return structured(
                    AgentStatus::Error,
                    "R9",
                    "retrying: a model request got no response and was sent again (the hook \
                     cannot tell a rate limit from a server error)"
                        .into(),
                    vec![ev],
                );
            }
            if s.is_busy() || s == AgentStatus::Stalled {
                let status = if s.is_busy() {
                    s
                } else {
                    AgentStatus::Generating
                };
                return structured(
                    status,
                    "agree",
                    format!("{} {}", src, c.what),
                    vec![format!("{} {}", src, c.what)],
                );
            }
            // quiet since the later of the signal and the last change: a turn that began a
            // moment ago has had no time to redraw
            let quiet = after_by(now, screen_changed_at.max(c.at), cfg.turn_quiet);
            if s == AgentStatus::Waiting && quiet {
                return screen_decides(
                    "R4",
                    Some(format!(
                        "{} (the turn the {} reported has been quiet for {})",
                        verdict.reason,
                        src,
                        format_age(secs_between(screen_changed_at, now))
                    )),
                );
            }
            plain("R3")
        }
        Structured::Waiting => {
            if c.state.agrees(s) {
                return plain("agree");
            }
            // a session file has no turn boundaries: its mtime moves with any rewrite, so an
            // idle file says nothing about an error or a dialog on screen being old
            if (urgent_screen || s == AgentStatus::Blocked)
                && (screen_since || src == Source::SessionFile)
            {
                return screen_decides("R5", None);
            }
            // a session start is no turn boundary: a busy screen beside it is a turn (Codex
            // fires SessionStart with the first prompt, just before its UserPromptSubmit)
            let session_start = c.event == Some(HookEvent::SessionStart);
            if (s.is_busy() || s == AgentStatus::Stalled) && (screen_after || session_start) {
                return screen_decides("R6", None);
            }
            plain(if s == AgentStatus::Unknown {
                "hook only"
            } else {
                "stale screen"
            })
        }
        Structured::Blocked => {
            if c.state.agrees(s) {
                return plain("agree");
            }
            if screen_after && s != AgentStatus::Unknown {
                return screen_decides("R7", None);
            }
            plain(if s == AgentStatus::Unknown {
                "hook only"
            } else {
                "stale screen"
            })
        }
        Structured::Failed { .. } => {
            if c.state.agrees(s) {
                return plain("agree");
            }
            if urgent_screen
                || (s == AgentStatus::Blocked && screen_since)
                || ((s == AgentStatus::Waiting || s.is_busy() || s == AgentStatus::Stalled)
                    && screen_after)
            {
                return screen_decides("R10", None);
            }
            plain(if s == AgentStatus::Unknown {
                "hook only"
            } else {
                "R10"
            })
        }
        Structured::Exited => {
            if screen_after && s != AgentStatus::Unknown {
                return screen_decides("R8", None);
            }
            plain(if s == AgentStatus::Unknown {
                "hook only"
            } else {
                "stale screen"
            })
        }
    }
}

#[cfg(test)]
mod tests;
