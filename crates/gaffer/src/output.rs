//! Printing a command's result: pretty JSON with `--json`, readable text otherwise; and the
//! one-line rendering of an event that `run`, `watch`, `dashboard` and `demo` share.

use crate::cli::GlobalArgs;
use gaffer_core::event::CoordinatorEvent;
use serde::Serialize;

/// Prints a line of text made of outside data (titles, names, messages): escape sequences and
/// control characters are removed (line feeds kept), so nothing reaches the terminal raw.
macro_rules! say {
    ($($arg:tt)*) => {
        println!("{}", $crate::output::safe_text(&format!($($arg)*)))
    };
}
pub(crate) use say;

/// [`say!`] to standard error.
macro_rules! esay {
    ($($arg:tt)*) => {
        eprintln!("{}", $crate::output::safe_text(&format!($($arg)*)))
    };
}
pub(crate) use esay;

/// Text from outside, made safe to print inside one line (see [`gaffer_core::escapes`]).
pub fn safe(s: &str) -> String {
    gaffer_core::escapes::sanitize_line(s)
}

/// Text from outside, made safe to print: escapes and controls removed, line feeds kept.
pub fn safe_text(s: &str) -> String {
    gaffer_core::escapes::strip(s)
}

/// Serialised JSON made safe for a terminal without changing its data: JSON already escapes
/// the C0 controls; DEL and the C1 controls (`U+007F..=U+009F`), which it writes raw and some
/// terminals act on, become `\u00XX` escapes (they can only occur inside strings).
pub fn safe_json(json: String) -> String {
    if !json.contains(|c: char| ('\u{7f}'..='\u{9f}').contains(&c)) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if ('\u{7f}'..='\u{9f}').contains(&c) {
            out.push_str(&format!("\\u{:04x}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

/// How a command prints: JSON (`--json`) or text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Output {
    /// `--json` was given.
    pub json: bool,
}

impl Output {
    /// The output mode the global flags ask for.
    pub fn of(global: &GlobalArgs) -> Self {
        Output { json: global.json }
    }

    /// Prints `value` as pretty JSON with `--json`; else runs `text`, which prints the
    /// readable form.
    pub fn print<T: Serialize + ?Sized>(
        self,
        value: &T,
        text: impl FnOnce(),
    ) -> Result<(), serde_json::Error> {
        if self.json {
            println!("{}", safe_json(serde_json::to_string_pretty(value)?));
        } else {
            text();
        }
        Ok(())
    }

    /// Like [`print`](Self::print), with the JSON on one line (a stream of records).
    pub fn print_line<T: Serialize + ?Sized>(
        self,
        value: &T,
        text: impl FnOnce(),
    ) -> Result<(), serde_json::Error> {
        if self.json {
            println!("{}", safe_json(serde_json::to_string(value)?));
        } else {
            text();
        }
        Ok(())
    }

    /// Prints one event: a JSON line, or its readable line.
    pub fn event(self, e: &CoordinatorEvent) {
        // An event always serialises; a failure would only drop this line.
        let _ = self.print_line(e, || println!("{}", describe(e)));
    }
}

/// A one-line, readable rendering of an event, safe to print (its details come from outside).
pub fn describe(e: &CoordinatorEvent) -> String {
    safe(&describe_raw(e))
}

fn describe_raw(e: &CoordinatorEvent) -> String {
    let d = |k: &str| {
        e.details
            .get(k)
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .unwrap_or_else(|| v.to_string())
            })
            .unwrap_or_default()
    };
    let t = e.timestamp.format("%H:%M:%S");
    // The pane id, with the agent's readable name when the event carries one (pane indexes
    // repeat across windows; see `gaffer_core::agent::display_name`).
    let name = match d("name") {
        n if n.is_empty() => d("title"),
        n => n,
    };
    let who = match (e.agent_id.is_empty(), name.is_empty()) {
        (true, _) => String::new(),
        (false, true) => format!(" {}", e.agent_id),
        (false, false) => format!(" {} {name}", e.agent_id),
    };
    let what = match e.event_type.as_str() {
        "agent_idle" | "agent_busy" | "agent_error" | "agent_recovered" | "agent_blocked"
        | "agent_rate_limited" | "agent_stalled" | "agent_exited" => {
            format!("{} → {}", d("prev_status"), d("new_status"))
        }
        "work_assigned" => format!(
            "assigned {} \"{}\" (score {})",
            d("bead_id"),
            d("bead_title"),
            e.details
                .get("score")
                .and_then(|v| v.as_f64())
                .map(|x| format!("{x:.2}"))
                .unwrap_or_else(|| d("score"))
        ),
        "work_completed" => format!("completed {}", d("bead_id")),
        "assignment_refused" => format!("{} ended: {}", d("bead_id"), d("reason")),
        "prompt_stalled" => format!("prompt for {} was not taken up", d("bead_id")),
        "conflict_detected" => format!(
            "conflict on {} between {} (overlap {})",
            d("pattern"),
            d("holders"),
            d("overlap")
        ),
        "conflict_release_requested" => {
            format!("asked {} to release {}", d("holder"), d("pattern"))
        }
        "conflict_resolved" => format!("conflict on {} resolved", d("pattern")),
        "digest_sent" => format!(
            "digest sent ({} agents, {} alerts)",
            d("agent_count"),
            d("alert_count")
        ),
        "mail_degraded" | "work_source_degraded" | "digest_failed" => d("error"),
        "tmux_lost" => format!("session {}: {}", d("session"), d("error")),
        "tmux_restored" => format!("session {} answers again", d("session")),
        "host_unreachable" => format!(
            "host {} unreachable ({} agents held): {}",
            d("host"),
            d("agents"),
            d("error")
        ),
        "host_reachable" => format!("host {} answers again", d("host")),
        "report_received" => format!(
            "{} report from host {} (via {}): {}",
            d("kind"),
            d("host"),
            d("via"),
            d("outcome")
        ),
        "report_spool_failed" => {
            format!(
                "host {}: its spool of reports cannot be drained: {}",
                d("host"),
                d("error")
            )
        }
        "agent_gone" => format!(
            "{} gone: {} (last {})",
            d("agent_type"),
            match d("reason") {
                r if r.is_empty() => "pane vanished".to_string(),
                r => r,
            },
            d("last_status")
        ),
        "agent_appeared" => format!(
            "{} appeared ({}){}",
            d("agent_type"),
            d("status"),
            if d("after_tmux_lost") == "true" {
                ", back after tmux was lost"
            } else {
                ""
            }
        ),
        "assign_paused" => format!("auto-assign paused for {}", d("target")),
        "assign_resumed" => format!("auto-assign resumed for {}", d("target")),
        "dialog_answered" => format!("dialog answered: {}. {}", d("option"), d("label")),
        "prompt_sent" => format!("prompt sent by a human: {}", d("outcome")),
        "work_handed_back" => format!("{} handed back: {}", d("bead_id"), d("reason")),
        "agent_context_high" => format!(
            "context {}% (above {}%)",
            d("context_usage"),
            d("threshold")
        ),
        "notify_failed" => format!("{} channel down: {}", d("channel"), d("error")),
        "notify_recovered" => format!(
            "{} channel delivers again ({} lost)",
            d("channel"),
            d("lost")
        ),
        "claim_undo_failed" => format!(
            "could not undo the claim of {} by {} (retried): {}",
            d("bead_id"),
            d("actor"),
            d("error")
        ),
        "claim_undone" => format!(
            "claim of {} by {} undone after {} failed tries",
            d("bead_id"),
            d("actor"),
            d("failures")
        ),
        "coordinator_started" => format!(
            "session {}, {} agent panes",
            d("session"),
            e.details
                .get("agents")
                .and_then(|a| a.as_object())
                .map_or(0, |a| a.len())
        ),
        _ => serde_json::to_string(&e.details).unwrap_or_default(),
    };
    format!("{t} {:<22}{who} {what}", e.event_type.as_str())
}

/// One conflict as a line of text: id, pattern, holders, and an example overlapping path.
pub fn conflict_line(c: &gaffer_core::conflicts::DetectedConflict) -> String {
    safe(&format!(
        "{} {}: {} (e.g. {})",
        c.conflict.id,
        c.conflict.pattern,
        holder_names(c),
        c.overlap
    ))
}

/// The Agent Mail names holding a conflict, comma-separated.
pub fn holder_names(c: &gaffer_core::conflicts::DetectedConflict) -> String {
    let names: Vec<&str> = c
        .conflict
        .holders
        .iter()
        .map(|h| h.agent_name.as_str())
        .collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use gaffer_core::event::CoordinatorEventType;

    #[test]
    fn describes_an_assignment() {
        let e = CoordinatorEvent::new(CoordinatorEventType::WorkAssigned, chrono::Utc::now())
            .with_agent("%1")
            .with_detail("bead_id", "bd-1")
            .with_detail("bead_title", "Fix it")
            .with_detail("score", 0.5);
        let line = describe(&e);
        assert!(
            line.ends_with(" %1 assigned bd-1 \"Fix it\" (score 0.50)"),
            "{line}"
        );
        assert!(line.contains("work_assigned"), "{line}");
    }

    #[test]
    fn describes_tmux_going_away() {
        let at = chrono::Utc::now();
        let lost = CoordinatorEvent::new(CoordinatorEventType::TmuxLost, at)
            .with_detail("session", "big")
            .with_detail("error", "no server running");
        assert!(
            describe(&lost).ends_with("session big: no server running"),
            "{}",
            describe(&lost)
        );
        let gone = CoordinatorEvent::new(CoordinatorEventType::AgentGone, at)
            .with_agent("%3")
            .with_detail("agent_type", "cc")
            .with_detail("last_status", "WAITING");
        assert!(
            describe(&gone).ends_with(" %3 cc gone: pane vanished (last WAITING)"),
            "{}",
            describe(&gone)
        );
        let gone = gone
            .with_detail("name", "big__cc_12")
            .with_detail("reason", "tmux lost since 12:00, longer than the grace");
        assert!(
            describe(&gone).ends_with(
                " %3 big__cc_12 cc gone: tmux lost since 12:00, longer than the grace (last WAITING)"
            ),
            "{}",
            describe(&gone)
        );
        let back = CoordinatorEvent::new(CoordinatorEventType::AgentAppeared, at)
            .with_agent("%3")
            .with_detail("agent_type", "cc")
            .with_detail("title", "big__cc_12")
            .with_detail("status", "WAITING")
            .with_detail("after_tmux_lost", true);
        assert!(
            describe(&back)
                .ends_with(" %3 big__cc_12 cc appeared (WAITING), back after tmux was lost"),
            "{}",
            describe(&back)
        );
    }

    #[test]
    fn agents_are_named_in_event_lines() {
        // Two agents at pane index 0 of different windows: their lines tell them apart.
        let at = chrono::Utc::now();
        let line = |pane: &str, name: &str| {
            describe(
                &CoordinatorEvent::new(CoordinatorEventType::AgentBusy, at)
                    .with_agent(pane)
                    .with_detail("pane_index", 0)
                    .with_detail("name", name)
                    .with_detail("prev_status", "WAITING")
                    .with_detail("new_status", "GENERATING"),
            )
        };
        assert!(line("%0", "big__cc_1").ends_with(" %0 big__cc_1 WAITING → GENERATING"));
        assert!(line("%4", "big__cc_5").ends_with(" %4 big__cc_5 WAITING → GENERATING"));
        // A name is outside text: escapes never reach the terminal.
        let evil = line("%4", "x\u{1b}]0;pwned\u{7}");
        assert!(gaffer_core::escapes::is_inert(&evil), "{evil:?}");
    }

    #[test]
    fn event_lines_and_json_are_inert() {
        let e = CoordinatorEvent::new(CoordinatorEventType::WorkAssigned, chrono::Utc::now())
            .with_agent("%1\u{1b}]0;x\u{7}")
            .with_detail("bead_id", "bd-1")
            .with_detail("bead_title", "a\u{1b}[2Jb\u{9b}1mc\nd");
        let line = describe(&e);
        assert!(
            line.contains("\"ab1mc d\"") || line.contains("\"abc d\""),
            "{line}"
        );
        assert!(
            gaffer_core::escapes::is_inert(&line) && !line.contains('\n'),
            "{line:?}"
        );
        let json = safe_json(serde_json::to_string(&e).unwrap_or_default());
        assert!(!json.contains(|c: char| c.is_control()), "{json:?}");
        let back: CoordinatorEvent = serde_json::from_str(&json).expect("still JSON");
        assert_eq!(back.details["bead_title"], "a\u{1b}[2Jb\u{9b}1mc\nd");
    }
}
