//! What the model answers: a script of rules chosen by keyword, or a mode set by a test.
//!
//! Every vendor module turns its request into a vendor-neutral [`Turn`], asks the [`Script`]
//! for a [`Reply`], and renders that reply in its own wire format.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The vendor-neutral view of one model request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Turn {
    /// `anthropic`, `openai` or `gemini`.
    pub api: String,
    /// The model the client asked for.
    pub model: String,
    /// The text of the last message the user wrote (not a tool result, not a system reminder).
    pub last_user_text: String,
    /// Tool results that came after that user message (0 on a fresh user turn).
    pub tool_results_since_user: usize,
    /// Whether the request offers tools at all. Requests without tools are side calls (titles,
    /// classifiers) and always get a quick text answer.
    pub has_tools: bool,
    /// Whether the client asked for a stream.
    pub stream: bool,
}

/// A tool call the scripted model makes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tool", rename_all = "snake_case")]
pub enum ToolCall {
    /// Run a shell command (Claude `Bash`, Codex `exec_command`/`shell`, Gemini `run_shell_command`).
    Shell {
        command: String,
        /// Codex: ask for escalated permissions, which makes it show its approval dialog.
        #[serde(default)]
        escalated: bool,
    },
    /// Write a file (Claude `Write`, Codex `apply_patch`, Gemini `write_file`).
    WriteFile { path: String, content: String },
}

/// Why an HTTP error is returned; each vendor renders it in its own error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 429, a short-term rate limit.
    RateLimit,
    /// 429, the account's quota is used up (OpenAI `insufficient_quota`, Gemini per-day quota).
    Quota,
    /// 529 (Anthropic) overloaded.
    Overloaded,
    /// 500 internal error.
    Internal,
    /// 503 unavailable.
    Unavailable,
}

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    /// Text, streamed in `chunks` pieces with `chunk_delay_ms` between them, after
    /// `first_delay_ms` of silence (headers are sent at once: the client sees a live request).
    Text {
        text: String,
        #[serde(default = "one")]
        chunks: usize,
        #[serde(default)]
        chunk_delay_ms: u64,
        #[serde(default)]
        first_delay_ms: u64,
    },
    /// Tool calls in one assistant message, optionally after some text.
    Tools {
        #[serde(default)]
        text: String,
        calls: Vec<ToolCall>,
    },
    /// An HTTP error with the vendor's error body.
    Error {
        status: u16,
        error: ErrorKind,
        /// `retry-after` in seconds.
        #[serde(default)]
        retry_after: Option<u64>,
        /// `x-should-retry` (Anthropic's client honours it).
        #[serde(default)]
        should_retry: Option<bool>,
        #[serde(default)]
        message: Option<String>,
    },
    /// Accept the request and never answer.
    Hang,
}

fn one() -> usize {
    1
}

/// Token usage to report with a reply (drives the agents' context indicators).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// One rule of a script.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rule {
    /// A regex matched against the last user text; its captures can be used as `$1`, `${name}`
    /// in the reply's strings.
    #[serde(rename = "when")]
    pub pattern: String,
    /// The reply on a fresh user turn.
    pub reply: Reply,
    /// Replies to the follow-ups after tool results, in order (the n-th follow-up gets the n-th
    /// entry; past the end, a short text ends the turn).
    #[serde(default)]
    pub then: Vec<Reply>,
    /// Usage to report (default: small).
    #[serde(default)]
    pub usage: Option<Usage>,
}

/// The mode a test set through the control endpoint: it overrides the script.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Mode {
    pub reply: Reply,
    #[serde(default)]
    pub then: Vec<Reply>,
    #[serde(default)]
    pub usage: Option<Usage>,
    /// How many fresh user turns it applies to (none: until cleared).
    #[serde(default)]
    pub times: Option<u32>,
}

/// The decision for one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub reply: Reply,
    pub usage: Usage,
    /// Which rule or mode chose it.
    pub source: String,
}

/// A script: rules tried in order, with an optional mode set from outside.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Script {
    #[serde(default)]
    pub rules: Vec<Rule>,
    #[serde(default)]
    pub mode: Option<Mode>,
}

/// The usage reported when a rule names none.
pub const DEFAULT_USAGE: Usage = Usage {
    input_tokens: 1200,
    output_tokens: 40,
};

impl Script {
    /// The built-in script: keywords that reach every state (see the crate docs).
    pub fn builtin() -> Script {
        serde_json::from_str(include_str!("builtin_script.json"))
            .unwrap_or_else(|e| panic!("builtin_script.json is invalid: {e}"))
    }

    /// Chooses the reply for `turn`. Side calls and follow-ups past the script get quick text.
    pub fn decide(&mut self, turn: &Turn) -> Decision {
        let quick = |source: &str| Decision {
            reply: Reply::Text {
                text: "Done.".into(),
                chunks: 1,
                chunk_delay_ms: 0,
                first_delay_ms: 0,
            },
            usage: DEFAULT_USAGE,
            source: source.into(),
        };
        if !turn.has_tools {
            return quick("side-call");
        }
        // `times` counts fresh user turns; a turn's follow-ups (after tool results) still get
        // the mode's `then`, so the mode ends when the next fresh turn finds none left
        if turn.tool_results_since_user == 0
            && let Some(mode) = self.mode.as_mut()
            && let Some(times) = mode.times.as_mut()
        {
            if *times == 0 {
                self.mode = None;
            } else {
                *times -= 1;
            }
        }
        if let Some(mode) = self.mode.as_ref() {
            return pick(&mode.reply, &mode.then, turn, mode.usage, None, "mode")
                .unwrap_or_else(|| quick("mode:end"));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let Ok(re) = Regex::new(&rule.pattern) else {
                continue;
            };
            if let Some(caps) = re.captures(&turn.last_user_text) {
                let source = format!("rule {i}: {}", rule.pattern);
                return pick(
                    &rule.reply,
                    &rule.then,
                    turn,
                    rule.usage,
                    Some(&caps),
                    &source,
                )
                .unwrap_or_else(|| quick(&format!("{source}: end")));
            }
        }
        quick("default")
    }
}

fn pick(
    reply: &Reply,
    then: &[Reply],
    turn: &Turn,
    usage: Option<Usage>,
    caps: Option<&regex::Captures<'_>>,
    source: &str,
) -> Option<Decision> {
    let chosen = if turn.tool_results_since_user == 0 {
        reply
    } else {
        then.get(turn.tool_results_since_user - 1)?
    };
    Some(Decision {
        reply: expand_reply(chosen, caps),
        usage: usage.unwrap_or(DEFAULT_USAGE),
        source: source.to_string(),
    })
}

fn expand(s: &str, caps: Option<&regex::Captures<'_>>) -> String {
    match caps {
        Some(c) => {
            let mut out = String::new();
            c.expand(s, &mut out);
            out
        }
        None => s.to_string(),
    }
}

fn expand_reply(reply: &Reply, caps: Option<&regex::Captures<'_>>) -> Reply {
    match reply {
        Reply::Text {
            text,
            chunks,
            chunk_delay_ms,
            first_delay_ms,
        } => Reply::Text {
            text: expand(text, caps),
            chunks: *chunks,
            chunk_delay_ms: *chunk_delay_ms,
            first_delay_ms: *first_delay_ms,
        },
        Reply::Tools { text, calls } => Reply::Tools {
            text: expand(text, caps),
            calls: calls
                .iter()
                .map(|c| match c {
                    ToolCall::Shell { command, escalated } => ToolCall::Shell {
                        command: expand(command, caps),
                        escalated: *escalated,
                    },
                    ToolCall::WriteFile { path, content } => ToolCall::WriteFile {
                        path: expand(path, caps),
                        content: expand(content, caps),
                    },
                })
                .collect(),
        },
        other => other.clone(),
    }
}

/// Splits `text` into `n` pieces of about equal length, on character boundaries.
pub fn split_chunks(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let n = n.clamp(1, chars.len().max(1));
    let size = chars.len().div_ceil(n).max(1);
    chars.chunks(size).map(|c| c.iter().collect()).collect()
}

/// Sleeps for `ms` milliseconds (0: not at all).
pub fn pause(ms: u64) {
    if ms > 0 {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(text: &str, results: usize) -> Turn {
        Turn {
            api: "anthropic".into(),
            model: "m".into(),
            last_user_text: text.into(),
            tool_results_since_user: results,
            has_tools: true,
            stream: true,
        }
    }

    #[test]
    fn builtin_script_parses_and_routes_keywords() {
        let mut s = Script::builtin();
        let d = s.decide(&turn("please answer SLOW", 0));
        assert!(
            matches!(d.reply, Reply::Text { chunks, .. } if chunks > 5),
            "{d:?}"
        );
        let d = s.decide(&turn("hit RATE429 now", 0));
        assert!(matches!(d.reply, Reply::Error { status: 429, .. }), "{d:?}");
        let d = s.decide(&turn("nothing special", 0));
        assert!(matches!(d.reply, Reply::Text { .. }));
    }

    #[test]
    fn side_calls_and_follow_ups_are_quick() {
        let mut s = Script::builtin();
        let mut t = turn("RATE429", 0);
        t.has_tools = false;
        assert_eq!(s.decide(&t).source, "side-call");
        let d = s.decide(&turn("run SHELL please", 1));
        assert!(matches!(d.reply, Reply::Text { .. }), "{d:?}");
    }

    #[test]
    fn mode_overrides_for_n_turns_and_captures_expand() {
        let mut s = Script {
            rules: vec![Rule {
                pattern: r"do bead (?P<bead>[\w-]+)".into(),
                reply: Reply::Tools {
                    text: String::new(),
                    calls: vec![ToolCall::Shell {
                        command: "gaffer done ${bead}".into(),
                        escalated: false,
                    }],
                },
                then: vec![],
                usage: None,
            }],
            mode: Some(Mode {
                reply: Reply::Hang,
                then: vec![],
                usage: None,
                times: Some(1),
            }),
        };
        assert_eq!(s.decide(&turn("do bead b-1", 0)).reply, Reply::Hang);
        // a follow-up of that turn is still the mode's (past its `then`: a quick end)
        assert_eq!(s.decide(&turn("do bead b-1", 1)).source, "mode:end");
        let d = s.decide(&turn("do bead b-1", 0));
        assert_eq!(
            d.reply,
            Reply::Tools {
                text: String::new(),
                calls: vec![ToolCall::Shell {
                    command: "gaffer done b-1".into(),
                    escalated: false
                }]
            }
        );
    }

    #[test]
    fn chunks_cover_the_text() {
        assert_eq!(split_chunks("héllo world", 3).concat(), "héllo world");
        assert_eq!(split_chunks("", 3), Vec::<String>::new());
    }
}
