//! Parsing the payload a CLI hands to `gaffer hook` (pure, no IO): the CLI's event name (plus
//! the notification type) mapped to a [`HookEvent`], the session id, transcript path and cwd,
//! and a short sanitised detail that cannot inject into the ledger or a terminal.
//!
//! Event names per CLI were read from the pinned bundles (see `docs/hooks.md`).

use crate::signals::HookEvent;
use serde_json::Value;
use std::path::PathBuf;

/// Largest payload accepted, in bytes.
pub const MAX_PAYLOAD: usize = 1024 * 1024;
/// Longest detail kept, in characters.
pub const MAX_DETAIL: usize = 200;
/// Longest session id kept, in characters.
const MAX_ID: usize = 128;
/// Longest path kept, in bytes.
const MAX_PATH: usize = 4096;

/// Why a payload was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PayloadError {
    /// More than [`MAX_PAYLOAD`] bytes.
    #[error("payload of {0} bytes is over the {MAX_PAYLOAD}-byte limit")]
    TooBig(usize),
    /// Not a JSON object.
    #[error("payload is not a JSON object: {0}")]
    Malformed(String),
    /// The agent kind is not one gaffer installs hooks for.
    #[error("unknown agent kind {0:?} (cc, cod or gmi)")]
    UnknownAgent(String),
    /// The event is not one this agent kind sends, or not one gaffer maps.
    #[error("unknown {agent} hook event {event:?}")]
    UnknownEvent {
        /// Agent kind code.
        agent: String,
        /// The event name as given.
        event: String,
    },
}

/// A parsed payload, ready to become a `Signal`.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedHook {
    /// The normalised event.
    pub event: HookEvent,
    /// The CLI's own event name (sanitised).
    pub raw_event: String,
    /// The CLI's session id.
    pub session_id: Option<String>,
    /// The transcript path.
    pub transcript_path: Option<PathBuf>,
    /// The agent's working directory.
    pub cwd: Option<PathBuf>,
    /// Tool name, notification message or similar, sanitised, at most [`MAX_DETAIL`] chars.
    pub detail: Option<String>,
}

/// The agent kinds gaffer installs hooks for.
pub const AGENTS: [&str; 3] = ["cc", "cod", "gmi"];

/// The hook events gaffer installs for `agent`, with whether the event takes a tool matcher.
pub fn installed_events(agent: &str) -> &'static [(&'static str, bool)] {
    match agent {
        "cc" => &[
            ("SessionStart", false),
            ("UserPromptSubmit", false),
            ("PreToolUse", true),
            ("PostToolUse", true),
            ("PostToolUseFailure", true),
            ("PermissionRequest", true),
            ("Notification", false),
            ("PreCompact", false),
            ("Stop", false),
            ("StopFailure", false),
            ("SubagentStop", false),
            ("SessionEnd", false),
        ],
        "cod" => &[
            ("SessionStart", false),
            ("UserPromptSubmit", false),
            ("PreToolUse", true),
            ("PostToolUse", true),
            ("PermissionRequest", true),
            ("PreCompact", false),
            ("Stop", false),
            ("SubagentStop", false),
            ("SessionEnd", false),
        ],
        // Left out on purpose: AfterModel (Gemini awaits it once per streamed chunk) and
        // PreCompress (fired, trigger "auto", at every compression check before the threshold
        // test, so nearly every turn, whether or not it compresses).
        "gmi" => &[
            ("SessionStart", false),
            ("BeforeAgent", false),
            ("BeforeModel", false),
            ("BeforeTool", true),
            ("AfterTool", true),
            ("Notification", false),
            ("AfterAgent", false),
            ("SessionEnd", false),
        ],
        _ => &[],
    }
}

/// Maps a CLI's event (and, for notifications, its type) to a [`HookEvent`].
pub fn map_event(agent: &str, event: &str, notification_type: Option<&str>) -> Option<HookEvent> {
    use HookEvent::*;
    match event {
        "SessionStart" if AGENTS.contains(&agent) => return Some(SessionStart),
        "SessionEnd" if AGENTS.contains(&agent) => return Some(SessionEnd),
        _ => {}
    }
    let notification = |t: Option<&str>| match t {
        Some("permission_prompt") | Some("ToolPermission") => PermissionRequest,
        Some("idle_prompt") => IdlePrompt,
        _ => Notification,
    };
    match agent {
        "cc" | "cod" => Some(match event {
            "UserPromptSubmit" => TurnStart,
            "PreToolUse" => ToolStart,
            "PostToolUse" | "PostToolUseFailure" => ToolEnd,
            "PermissionRequest" => PermissionRequest,
            "Notification" => notification(notification_type),
            "PreCompact" => Compact,
            // Interrupt (Codex): the user stopped the turn.
            "Stop" | "Interrupt" => Stop,
            // the turn ended on an API error (the payload's `error` names its class)
            "StopFailure" => TurnFailed,
            "SubagentStop" => SubagentStop,
            _ => return None,
        }),
        "gmi" => Some(match event {
            "BeforeAgent" => TurnStart,
            "BeforeModel" => ModelRequest,
            "AfterModel" => ModelResponse,
            "BeforeTool" => ToolStart,
            "AfterTool" => ToolEnd,
            "Notification" => notification(notification_type),
            "PreCompress" => Compact,
            "AfterAgent" => Stop,
            _ => return None,
        }),
        _ => None,
    }
}

/// Parses `payload` for `agent`'s `event` (the name the installed command passes; the
/// payload's `hook_event_name` is used when the argument is empty).
pub fn parse(agent: &str, event: &str, payload: &[u8]) -> Result<ParsedHook, PayloadError> {
    if !AGENTS.contains(&agent) {
        return Err(PayloadError::UnknownAgent(sanitize(agent, 16)));
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(PayloadError::TooBig(payload.len()));
    }
    let value: Value = if payload.iter().all(u8::is_ascii_whitespace) {
        Value::Object(Default::default())
    } else {
        serde_json::from_slice(payload).map_err(|e| PayloadError::Malformed(e.to_string()))?
    };
    let obj = value
        .as_object()
        .ok_or_else(|| PayloadError::Malformed(format!("a JSON {}", kind_of(&value))))?;
    let text = |k: &str| obj.get(k).and_then(Value::as_str);
    let name = if event.is_empty() {
        text("hook_event_name").unwrap_or_default()
    } else {
        event
    };
    let notification_type = text("notification_type");
    let mapped =
        map_event(agent, name, notification_type).ok_or_else(|| PayloadError::UnknownEvent {
            agent: agent.to_string(),
            event: sanitize(name, 64),
        })?;
    let path = |k: &str| {
        text(k)
            .filter(|p| !p.is_empty() && p.len() <= MAX_PATH && !p.chars().any(char::is_control))
            .map(PathBuf::from)
    };
    let detail = match mapped {
        HookEvent::ToolStart | HookEvent::ToolEnd | HookEvent::PermissionRequest => {
            text("tool_name").or_else(|| text("message"))
        }
        HookEvent::Notification | HookEvent::IdlePrompt => text("message"),
        HookEvent::SessionStart => text("source"),
        HookEvent::SessionEnd => text("reason"),
        HookEvent::Compact => text("trigger"),
        HookEvent::TurnFailed => text("error").or(Some("api error")),
        HookEvent::Stop if name == "Interrupt" => Some("interrupted"),
        _ => None,
    }
    .map(|d| sanitize(d, MAX_DETAIL))
    .filter(|d| !d.is_empty());
    Ok(ParsedHook {
        event: mapped,
        raw_event: sanitize(name, 64),
        session_id: text("session_id")
            .map(|s| sanitize(s, MAX_ID))
            .filter(|s| !s.is_empty()),
        transcript_path: path("transcript_path"),
        cwd: path("cwd"),
        detail,
    })
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `s` made safe to store and print: ANSI escape sequences removed, other control characters
/// (newlines, tabs, ESC, BEL, C1 controls) turned into spaces, runs of spaces collapsed,
/// trimmed, and cut to `max` characters (with `…` when cut).
pub fn sanitize(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max * 4));
    let mut chars = s.chars().peekable();
    let mut count = 0;
    let mut last_space = true;
    while let Some(c) = chars.next() {
        let c = if c == '\u{1b}' {
            // CSI `ESC [ … final`, OSC `ESC ] … BEL|ESC \`, or a two-character escape.
            match chars.peek() {
                Some('[') => {
                    chars.next();
                    for n in chars.by_ref() {
                        if ('@'..='~').contains(&n) {
                            break;
                        }
                    }
                }
                Some(']') => {
                    chars.next();
                    while let Some(n) = chars.next() {
                        if n == '\u{7}' {
                            break;
                        }
                        if n == '\u{1b}' {
                            chars.next();
                            break;
                        }
                    }
                }
                Some(_) => {
                    chars.next();
                }
                None => {}
            }
            continue;
        } else if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}') {
            ' '
        } else {
            c
        };
        if c == ' ' {
            if last_space {
                continue;
            }
            last_space = true;
        } else {
            last_space = false;
        }
        if count == max {
            out.truncate(out.trim_end().len());
            out.push('…');
            return out;
        }
        out.push(c);
        count += 1;
    }
    out.truncate(out.trim_end().len());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(agent: &str, event: &str, payload: &str) -> ParsedHook {
        match parse(agent, event, payload.as_bytes()) {
            Ok(p) => p,
            Err(e) => panic!("{agent} {event}: {e}"),
        }
    }

    #[test]
    fn every_installed_event_maps() {
        for agent in AGENTS {
            for (event, _) in installed_events(agent) {
                assert!(
                    map_event(agent, event, None).is_some(),
                    "{agent} {event} has no mapping"
                );
            }
        }
        assert!(installed_events("xyz").is_empty());
    }

    #[test]
    fn claude_payloads_map_with_their_fields() {
        let p = ok(
            "cc",
            "PreToolUse",
            r#"{"session_id":"abc","transcript_path":"/h/.claude/projects/x/abc.jsonl","cwd":"/w/p","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{"command":"ls"}}"#,
        );
        assert_eq!(p.event, HookEvent::ToolStart);
        assert_eq!(p.raw_event, "PreToolUse");
        assert_eq!(p.session_id.as_deref(), Some("abc"));
        assert_eq!(
            p.transcript_path,
            Some(PathBuf::from("/h/.claude/projects/x/abc.jsonl"))
        );
        assert_eq!(p.cwd, Some(PathBuf::from("/w/p")));
        assert_eq!(p.detail.as_deref(), Some("Bash"));
        let n = ok(
            "cc",
            "Notification",
            r#"{"notification_type":"permission_prompt","message":"Claude needs your permission to use Bash"}"#,
        );
        assert_eq!(n.event, HookEvent::PermissionRequest);
        assert_eq!(
            n.detail.as_deref(),
            Some("Claude needs your permission to use Bash")
        );
        let idle = ok(
            "cc",
            "Notification",
            r#"{"notification_type":"idle_prompt"}"#,
        );
        assert_eq!(idle.event, HookEvent::IdlePrompt);
        let other = ok(
            "cc",
            "Notification",
            r#"{"notification_type":"auth_success"}"#,
        );
        assert_eq!(other.event, HookEvent::Notification);
        assert_eq!(ok("cc", "Stop", "{}").event, HookEvent::Stop);
        let failed = ok("cc", "StopFailure", r#"{"error":"rate_limit"}"#);
        assert_eq!(
            (failed.event, failed.detail.as_deref()),
            (HookEvent::TurnFailed, Some("rate_limit"))
        );
        let failed = ok(
            "cc",
            "StopFailure",
            r#"{"error":"server_error","error_details":"500"}"#,
        );
        assert_eq!(
            (failed.event, failed.detail.as_deref()),
            (HookEvent::TurnFailed, Some("server_error"))
        );
        assert_eq!(
            ok("cc", "StopFailure", "{}").detail.as_deref(),
            Some("api error")
        );
        assert_eq!(
            ok("cc", "UserPromptSubmit", r#"{"prompt":"hi"}"#).event,
            HookEvent::TurnStart
        );
    }

    #[test]
    fn gemini_and_codex_names_map() {
        assert_eq!(ok("gmi", "BeforeAgent", "{}").event, HookEvent::TurnStart);
        assert_eq!(ok("gmi", "AfterAgent", "{}").event, HookEvent::Stop);
        assert_eq!(
            ok("gmi", "BeforeModel", "{}").event,
            HookEvent::ModelRequest
        );
        assert_eq!(
            ok("gmi", "BeforeTool", r#"{"tool_name":"run_shell_command"}"#).detail,
            Some("run_shell_command".into())
        );
        assert_eq!(
            ok(
                "gmi",
                "Notification",
                r#"{"notification_type":"ToolPermission"}"#
            )
            .event,
            HookEvent::PermissionRequest
        );
        assert_eq!(ok("gmi", "PreCompress", "{}").event, HookEvent::Compact);
        assert_eq!(ok("cod", "Stop", "{}").event, HookEvent::Stop);
        assert_eq!(
            ok("cod", "PermissionRequest", "{}").event,
            HookEvent::PermissionRequest
        );
        // A name of another CLI is not accepted.
        assert!(matches!(
            parse("gmi", "PreToolUse", b"{}"),
            Err(PayloadError::UnknownEvent { .. })
        ));
        assert!(matches!(
            parse("cc", "BeforeAgent", b"{}"),
            Err(PayloadError::UnknownEvent { .. })
        ));
    }

    #[test]
    fn the_payload_names_the_event_when_the_argument_is_empty() {
        let p = ok(
            "cc",
            "",
            r#"{"hook_event_name":"SessionEnd","reason":"exit"}"#,
        );
        assert_eq!(p.event, HookEvent::SessionEnd);
        assert_eq!(p.detail.as_deref(), Some("exit"));
        assert_eq!(
            ok("cc", "Stop", "  \n").event,
            HookEvent::Stop,
            "empty stdin is fine"
        );
    }

    #[test]
    fn bad_payloads_are_refused_clearly() {
        let e = parse("cc", "Stop", b"{not json").err();
        assert!(matches!(e, Some(PayloadError::Malformed(_))), "{e:?}");
        let e = parse("cc", "Stop", b"[1,2]").err();
        assert_eq!(
            e.map(|e| e.to_string()),
            Some("payload is not a JSON object: a JSON array".into())
        );
        let huge = vec![b' '; MAX_PAYLOAD + 1];
        assert_eq!(
            parse("cc", "Stop", &huge).err(),
            Some(PayloadError::TooBig(MAX_PAYLOAD + 1))
        );
        assert!(matches!(
            parse("cc", "Bogus\u{1b}[31m", b"{}"),
            Err(PayloadError::UnknownEvent { event, .. }) if event == "Bogus"
        ));
        assert!(matches!(
            parse("zz", "Stop", b"{}"),
            Err(PayloadError::UnknownAgent(_))
        ));
    }

    #[test]
    fn details_cannot_inject_escapes_or_lines() {
        let p = ok(
            "cc",
            "Notification",
            "{\"message\":\"ok\\u001b[2J\\u001b]0;pwned\\u0007 then\\nnext\\r\\u0000line\\u009b\"}",
        );
        let d = p.detail.unwrap_or_default();
        assert_eq!(d, "ok then next line");
        assert!(!d.chars().any(char::is_control));
        let long = format!("{{\"message\":\"{}\"}}", "é".repeat(500));
        let d = ok("cc", "Notification", &long).detail.unwrap_or_default();
        assert_eq!(
            d.chars().count(),
            MAX_DETAIL + 1,
            "200 chars and an ellipsis"
        );
        assert!(d.ends_with('…'));
        // A path with a control character is dropped, not stored.
        let p = ok(
            "cc",
            "Stop",
            r#"{"transcript_path":"/a\nb","session_id":"s\u001b[1m1"}"#,
        );
        assert_eq!(p.transcript_path, None);
        assert_eq!(p.session_id.as_deref(), Some("s1"));
    }

    #[test]
    fn sanitize_keeps_plain_text() {
        assert_eq!(sanitize("  Bash  tool ", 200), "Bash tool");
        assert_eq!(sanitize("abc", 2), "ab…");
        assert_eq!(sanitize("\u{1b}", 10), "");
    }
}
