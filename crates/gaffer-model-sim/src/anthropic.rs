//! The Anthropic Messages API, enough to run the real Claude Code.
//!
//! - `POST /v1/messages`: the request becomes a [`Turn`]; the [`Reply`] is rendered as one
//!   message (`stream: false`) or as the SSE events `message_start`, `content_block_start`,
//!   `content_block_delta` (`text_delta`, `input_json_delta`), `content_block_stop`,
//!   `message_delta` (`stop_reason`, `usage`) and `message_stop`.
//! - `POST /v1/messages/count_tokens`: a rough count (a token per four bytes of the body).
//! - anything else under `/v1/messages…`: a harmless empty answer.
//!
//! Claude Code appends system-like messages (`<system-reminder>` text) after the user's turn,
//! and its follow-ups carry `tool_result` blocks: the user text is the last user message that
//! holds text of the user's own.

use crate::script::{ErrorKind, Reply, ToolCall, Turn, Usage, pause, split_chunks};
use crate::{HttpRequest, HttpResponse, State};
use serde_json::{Value, json};

/// Handles one request of this API.
pub fn handle(req: &HttpRequest, state: &State) -> HttpResponse {
    match (req.method.as_str(), req.path.as_str()) {
        ("POST", "/v1/messages") => messages(req, state),
        ("POST", "/v1/messages/count_tokens") => {
            HttpResponse::json(200, &json!({"input_tokens": (req.body.len() / 4).max(1)}))
        }
        _ => HttpResponse::json(200, &json!({"data": [], "has_more": false})),
    }
}

/// Whether a text block is the user's own text (not a reminder the CLI injected).
fn is_user_text(text: &str) -> bool {
    let t = text.trim_start();
    !t.is_empty() && !t.starts_with("<system-reminder>")
}

/// The user's own text in one message's `content` (string or blocks): the last text block that
/// is not a reminder. After a failed turn, Claude Code sends the failed prompt and the new one
/// as two text blocks of one user message; the new one is the last.
fn user_text(content: &Value) -> Option<String> {
    match content {
        Value::String(s) => is_user_text(s).then(|| s.clone()),
        Value::Array(blocks) => blocks
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .rfind(|t| is_user_text(t))
            .map(String::from),
        _ => None,
    }
}

fn has_tool_result(content: &Value) -> bool {
    content.as_array().is_some_and(|blocks| {
        blocks
            .iter()
            .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
    })
}

/// Reads a Messages request body into the neutral [`Turn`].
pub fn parse_turn(body: &Value) -> Turn {
    let empty = Vec::new();
    let messages = body
        .get("messages")
        .and_then(Value::as_array)
        .unwrap_or(&empty);
    let mut last_user_text = String::new();
    let mut tool_results_since_user = 0;
    for m in messages.iter().rev() {
        if m.get("role").and_then(Value::as_str) != Some("user") {
            continue;
        }
        let content = m.get("content").unwrap_or(&Value::Null);
        if has_tool_result(content) {
            tool_results_since_user += 1;
            continue;
        }
        if let Some(text) = user_text(content) {
            last_user_text = text;
            break;
        }
    }
    Turn {
        api: "anthropic".into(),
        model: body
            .get("model")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into(),
        last_user_text,
        tool_results_since_user,
        has_tools: body
            .get("tools")
            .and_then(Value::as_array)
            .is_some_and(|t| !t.is_empty()),
        stream: body.get("stream").and_then(Value::as_bool).unwrap_or(false),
    }
}

/// The names of the tools the request offers.
fn tool_names(body: &Value) -> Vec<String> {
    body.get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t.get("name").and_then(Value::as_str))
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The texts of a `system` field or of a message's `content` (string or blocks).
fn texts_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(blocks)) => blocks
            .iter()
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// The working directory Claude Code states in its system prompt or in the system-role message
/// it adds after the user's turn (`Primary working directory: …`).
fn working_directory(body: &Value) -> Option<String> {
    let mut texts = texts_of(body.get("system"));
    if let Some(messages) = body.get("messages").and_then(Value::as_array) {
        for m in messages {
            if m.get("role").and_then(Value::as_str) == Some("system") {
                texts.extend(texts_of(m.get("content")));
            }
        }
    }
    texts.iter().find_map(|t| {
        t.lines().find_map(|l| {
            let l = l.trim().trim_start_matches("- ");
            l.strip_prefix("Working directory:")
                .or_else(|| l.strip_prefix("Primary working directory:"))
                .map(|d| d.trim().to_string())
                .filter(|d| d.starts_with('/'))
        })
    })
}

/// A content block for one tool call, with the tool the CLI offers for it.
fn tool_block(call: &ToolCall, offered: &[String], cwd: Option<&str>) -> Option<(String, Value)> {
    let pick = |wanted: &[&str]| {
        wanted
            .iter()
            .find_map(|w| offered.iter().find(|o| o.as_str() == *w).cloned())
    };
    match call {
        ToolCall::Shell { command, .. } => {
            let name = pick(&["Bash", "bash", "Shell", "shell"])?;
            Some((
                name,
                json!({"command": command, "description": "Run a command for the scripted test"}),
            ))
        }
        ToolCall::WriteFile { path, content } => {
            let name = pick(&["Write", "write_file", "Create"])?;
            let file_path = match cwd {
                Some(dir) if !path.starts_with('/') => {
                    format!("{}/{}", dir.trim_end_matches('/'), path)
                }
                _ => path.clone(),
            };
            Some((name, json!({"file_path": file_path, "content": content})))
        }
    }
}

/// One rendered content block: text, or a tool use with its JSON input.
enum Block {
    Text(Vec<String>),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

fn usage_json(usage: Usage, output_tokens: u64) -> Value {
    json!({
        "input_tokens": usage.input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    })
}

fn messages(req: &HttpRequest, state: &State) -> HttpResponse {
    let body = req.json();
    let turn = parse_turn(&body);
    let stream = turn.stream;
    let model = turn.model.clone();
    let decision = state.decide(req.seq, turn);
    let usage = decision.usage;
    let id = format!("msg_sim_{:06}", req.seq);
    let (blocks, stop_reason, first_delay_ms, chunk_delay_ms) = match decision.reply {
        Reply::Hang => return HttpResponse::Hang,
        Reply::Error {
            status,
            error,
            retry_after,
            should_retry,
            message,
        } => return error_response(req.seq, status, error, retry_after, should_retry, message),
        Reply::Text {
            text,
            chunks,
            chunk_delay_ms,
            first_delay_ms,
        } => (
            vec![Block::Text(split_chunks(&text, chunks))],
            "end_turn",
            first_delay_ms,
            chunk_delay_ms,
        ),
        Reply::Tools { text, calls } => {
            let offered = tool_names(&body);
            let cwd = working_directory(&body);
            let mut blocks = Vec::new();
            if !text.is_empty() {
                blocks.push(Block::Text(vec![text]));
            }
            let mut missing = Vec::new();
            for (i, call) in calls.iter().enumerate() {
                match tool_block(call, &offered, cwd.as_deref()) {
                    Some((name, input)) => blocks.push(Block::ToolUse {
                        id: format!("toolu_sim_{:06}_{i}", req.seq),
                        name,
                        input,
                    }),
                    None => missing.push(format!("{call:?}")),
                }
            }
            let has_tool = blocks.iter().any(|b| matches!(b, Block::ToolUse { .. }));
            if !missing.is_empty() {
                blocks.push(Block::Text(vec![format!(
                    "(gaffer-model-sim: the request offers no tool for {})",
                    missing.join(", ")
                )]));
            }
            (blocks, if has_tool { "tool_use" } else { "end_turn" }, 0, 0)
        }
    };
    let output_tokens = usage.output_tokens;
    if !stream {
        pause(first_delay_ms);
        let content: Vec<Value> = blocks
            .iter()
            .map(|b| match b {
                Block::Text(parts) => json!({"type": "text", "text": parts.concat()}),
                Block::ToolUse { id, name, input } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
            })
            .collect();
        return HttpResponse::json(
            200,
            &json!({
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": content,
                "stop_reason": stop_reason,
                "stop_sequence": null,
                "usage": usage_json(usage, output_tokens),
            }),
        );
    }
    let thinks = first_delay_ms > 0 && thinking_enabled(&body);
    HttpResponse::sse(move |sink| {
        if !thinks {
            pause(first_delay_ms);
        }
        let start = json!({
            "type": "message_start",
            "message": {
                "id": id,
                "type": "message",
                "role": "assistant",
                "model": model,
                "content": [],
                "stop_reason": null,
                "stop_sequence": null,
                "usage": usage_json(usage, 1),
            }
        });
        if !sink.event("message_start", &start) {
            return;
        }
        let _ = sink.event("ping", &json!({"type": "ping"}));
        // A model that thinks before it answers: the silence is a thinking block (what the
        // real API streams when the request enables thinking).
        let offset = usize::from(thinks);
        if thinks && !think(&sink, first_delay_ms) {
            return;
        }
        for (index, block) in blocks.iter().enumerate() {
            let index = index + offset;
            let ok = match block {
                Block::Text(parts) => {
                    let mut ok = sink.event(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": index,
                                "content_block": {"type": "text", "text": ""}}),
                    );
                    for (n, part) in parts.iter().enumerate() {
                        if !ok {
                            break;
                        }
                        if n > 0 {
                            pause(chunk_delay_ms);
                        }
                        ok = sink.event(
                            "content_block_delta",
                            &json!({"type": "content_block_delta", "index": index,
                                    "delta": {"type": "text_delta", "text": part}}),
                        );
                    }
                    ok
                }
                Block::ToolUse { id, name, input } => {
                    sink.event(
                        "content_block_start",
                        &json!({"type": "content_block_start", "index": index,
                                "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}}),
                    ) && sink.event(
                        "content_block_delta",
                        &json!({"type": "content_block_delta", "index": index,
                                "delta": {"type": "input_json_delta", "partial_json": input.to_string()}}),
                    )
                }
            };
            if !ok
                || !sink.event(
                    "content_block_stop",
                    &json!({"type": "content_block_stop", "index": index}),
                )
            {
                return;
            }
        }
        let delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": stop_reason, "stop_sequence": null},
            "usage": usage_json(usage, output_tokens),
        });
        if sink.event("message_delta", &delta) {
            let _ = sink.event("message_stop", &json!({"type": "message_stop"}));
        }
    })
}

/// Whether the request enables extended thinking (`thinking.type` other than `disabled`).
fn thinking_enabled(body: &Value) -> bool {
    body.get("thinking")
        .and_then(|t| t.get("type"))
        .and_then(Value::as_str)
        .is_some_and(|t| t != "disabled")
}

/// Streams a thinking block (index 0) that lasts `ms`; false once the client has gone.
fn think(sink: &crate::Sink, ms: u64) -> bool {
    let start = json!({"type": "content_block_start", "index": 0,
                       "content_block": {"type": "thinking", "thinking": "", "signature": ""}});
    if !sink.event("content_block_start", &start) {
        return false;
    }
    let steps = (ms / 1000).max(1);
    for n in 0..steps {
        let delta = json!({"type": "content_block_delta", "index": 0,
                           "delta": {"type": "thinking_delta", "thinking": format!("Considering step {}. ", n + 1)}});
        if !sink.event("content_block_delta", &delta) {
            return false;
        }
        pause(ms / steps);
    }
    sink.event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "signature_delta", "signature": "gaffer-model-sim"}}),
    ) && sink.event(
        "content_block_stop",
        &json!({"type": "content_block_stop", "index": 0}),
    )
}

/// The Anthropic error body and headers for an error reply.
fn error_response(
    seq: u64,
    status: u16,
    kind: ErrorKind,
    retry_after: Option<u64>,
    should_retry: Option<bool>,
    message: Option<String>,
) -> HttpResponse {
    let (etype, default_message) = match kind {
        ErrorKind::RateLimit => (
            "rate_limit_error",
            "This request would exceed the rate limit for your organization of 50 requests per minute. Please reduce the prompt length or the maximum tokens requested, or try again later.",
        ),
        ErrorKind::Quota => (
            "billing_error",
            "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
        ),
        ErrorKind::Overloaded => ("overloaded_error", "Overloaded"),
        ErrorKind::Internal => ("api_error", "Internal server error"),
        ErrorKind::Unavailable => ("api_error", "Service unavailable"),
    };
    let request_id = format!("req_sim_{seq:06}");
    let mut headers = vec![("request-id".to_string(), request_id.clone())];
    if let Some(s) = retry_after {
        headers.push(("retry-after".into(), s.to_string()));
    }
    if let Some(r) = should_retry {
        headers.push(("x-should-retry".into(), r.to_string()));
    }
    HttpResponse::json_with(
        status,
        &json!({
            "type": "error",
            "error": {"type": etype, "message": message.as_deref().unwrap_or(default_message)},
            "request_id": request_id,
        }),
        headers,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_user_text_skips_reminders_and_counts_tool_rounds() {
        let body = json!({
            "model": "claude-x",
            "stream": true,
            "tools": [{"name": "Bash"}],
            "messages": [
                {"role": "user", "content": "old turn"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [
                    {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                    {"type": "text", "text": "hit OVERLOAD529 (failed turn)\n"},
                    {"type": "text", "text": "run SHELL now"}
                ]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "Bash", "input": {}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": "out"},
                    {"type": "text", "text": "a note"}
                ]},
                {"role": "user", "content": [{"type": "text", "text": "<system-reminder>late</system-reminder>"}]}
            ]
        });
        let t = parse_turn(&body);
        assert_eq!(t.last_user_text, "run SHELL now");
        assert_eq!(t.tool_results_since_user, 1);
        assert!(t.has_tools && t.stream);
        assert_eq!(t.model, "claude-x");
    }

    #[test]
    fn write_file_paths_are_made_absolute_from_the_system_prompt() {
        let body = json!({"messages": [{"role": "system", "content": [
            {"type": "text", "text": "x\n - Primary working directory: /tmp/p\n"}]}]});
        let cwd = working_directory(&body);
        assert_eq!(cwd.as_deref(), Some("/tmp/p"));
        let (name, input) = tool_block(
            &ToolCall::WriteFile {
                path: "a.txt".into(),
                content: "c".into(),
            },
            &["Bash".into(), "Write".into()],
            cwd.as_deref(),
        )
        .expect("Write offered");
        assert_eq!(name, "Write");
        assert_eq!(input["file_path"], "/tmp/p/a.txt");
    }
}
