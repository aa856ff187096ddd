//! The OpenAI Responses API, as the Codex CLI uses it.
//!
//! `POST /v1/responses` (streamed as server-sent events, or one JSON body when `stream` is
//! false) and `GET /v1/models`. A request becomes a [`Turn`]: the last user text is the text of
//! the last `user` message that is not one of Codex's context blocks (`<environment_context>`,
//! `<user_instructions>`, …); tool results are the `function_call_output` items after it.
//! Replies are rendered as the Responses stream Codex parses: `response.created`,
//! `response.in_progress`, `response.output_item.added`, `response.content_part.added`,
//! `response.output_text.delta`, `response.output_text.done`, `response.content_part.done`,
//! `response.output_item.done` (a `message` or a `function_call`), `response.completed` with
//! `usage`. Errors use OpenAI's error body `{"error":{"message","type","param","code"}}`.

use crate::script::{Decision, ErrorKind, Reply, ToolCall, Turn, Usage, pause, split_chunks};
use crate::{HttpRequest, HttpResponse, Sink, State};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU64, Ordering};

/// Handles one request of this API.
pub fn handle(req: &HttpRequest, state: &State) -> HttpResponse {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v1/models") => models(),
        ("POST", "/v1/responses") => responses(req, state),
        _ => error_body(
            404,
            &format!(
                "gaffer-model-sim: no OpenAI route for {} {}",
                req.method, req.path
            ),
            "invalid_request_error",
            None,
            vec![],
        ),
    }
}

fn models() -> HttpResponse {
    HttpResponse::json(
        200,
        &json!({
            "object": "list",
            "data": [{"id": "gpt-5.1-codex", "object": "model", "created": 0, "owned_by": "gaffer-model-sim"}],
            "models": []
        }),
    )
}

fn responses(req: &HttpRequest, state: &State) -> HttpResponse {
    if let Some(enc) = req
        .header("content-encoding")
        .filter(|e| !e.eq_ignore_ascii_case("identity"))
    {
        return error_body(
            415,
            &format!("gaffer-model-sim: content-encoding {enc} is not supported"),
            "invalid_request_error",
            None,
            vec![],
        );
    }
    let body = req.json();
    if !body.is_object() {
        return error_body(
            400,
            "gaffer-model-sim: the request body is not a JSON object",
            "invalid_request_error",
            None,
            vec![],
        );
    }
    let turn = parse_turn(&body);
    let stream = turn.stream;
    let model = turn.model.clone();
    let decision = state.decide(req.seq, turn);
    render(req.seq, &body, &model, decision, stream)
}

/// Reads the vendor-neutral [`Turn`] from a Responses request body.
pub fn parse_turn(body: &Value) -> Turn {
    let model = body["model"].as_str().unwrap_or_default().to_string();
    let stream = body["stream"].as_bool().unwrap_or(false);
    let has_tools = body["tools"].as_array().is_some_and(|t| !t.is_empty());
    let (last_user_text, tool_results_since_user) = match &body["input"] {
        Value::String(s) => (s.clone(), 0),
        Value::Array(items) => last_user(items),
        _ => (String::new(), 0),
    };
    Turn {
        api: "openai".into(),
        model,
        last_user_text,
        tool_results_since_user,
        has_tools,
        stream,
    }
}

/// Whether `text` is one of the context blocks the CLI sends as a user message (a whole text
/// wrapped in one tag pair, such as `<environment_context>…</environment_context>`).
fn is_context_block(text: &str) -> bool {
    let t = text.trim();
    let Some(rest) = t.strip_prefix('<') else {
        return false;
    };
    let Some(end) = rest.find('>') else {
        return false;
    };
    let tag = &rest[..end];
    if tag.is_empty()
        || !tag
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '-' || c == ' ')
    {
        return false;
    }
    t.ends_with(&format!("</{tag}>"))
}

fn message_text(item: &Value) -> Option<String> {
    match &item["content"] {
        Value::String(s) => (!is_context_block(s)).then(|| s.clone()),
        Value::Array(parts) => {
            let texts: Vec<&str> = parts
                .iter()
                .filter(|p| matches!(p["type"].as_str(), Some("input_text") | Some("text")))
                .filter_map(|p| p["text"].as_str())
                .filter(|t| !is_context_block(t))
                .collect();
            (!texts.is_empty()).then(|| texts.join("\n"))
        }
        _ => None,
    }
}

fn last_user(items: &[Value]) -> (String, usize) {
    let mut results = 0;
    for item in items.iter().rev() {
        let kind = item["type"].as_str().unwrap_or("message");
        match kind {
            "function_call_output" | "custom_tool_call_output" | "local_shell_call_output" => {
                results += 1
            }
            "message" if item["role"].as_str() == Some("user") => {
                if let Some(text) = message_text(item) {
                    return (text, results);
                }
            }
            _ => {}
        }
    }
    (String::new(), results)
}

fn unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

static IDS: AtomicU64 = AtomicU64::new(1);

fn new_id(prefix: &str) -> String {
    format!("{prefix}_gms{:08x}", IDS.fetch_add(1, Ordering::Relaxed))
}

fn usage_json(u: Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.input_tokens + u.output_tokens,
    })
}

/// One piece of a streamed reply.
enum Piece {
    /// Assistant text, in chunks.
    Text { chunks: Vec<String>, delay_ms: u64 },
    /// A finished output item (a function call).
    Item(Value),
}

/// Builds the output items of a reply (text first, then tool calls).
fn pieces(reply: &Reply, body: &Value) -> (Vec<Piece>, u64) {
    match reply {
        Reply::Text {
            text,
            chunks,
            chunk_delay_ms,
            first_delay_ms,
        } => {
            let text = shape_text(text, body);
            (
                vec![Piece::Text {
                    chunks: split_chunks(&text, *chunks),
                    delay_ms: *chunk_delay_ms,
                }],
                *first_delay_ms,
            )
        }
        Reply::Tools { text, calls } => {
            let mut v = Vec::new();
            if !text.is_empty() {
                v.push(Piece::Text {
                    chunks: vec![text.clone()],
                    delay_ms: 0,
                });
            }
            let tools = tool_names(body);
            let never = approval_never(body);
            for call in calls {
                v.push(Piece::Item(tool_item(call, &tools, never)));
            }
            (v, 0)
        }
        _ => (Vec::new(), 0),
    }
}

/// A request that asks for structured output (`text.format` = `json_schema`, Codex's title
/// generation) gets a JSON object: each required string property is set to the text.
fn shape_text(text: &str, body: &Value) -> String {
    let format = &body["text"]["format"];
    if format["type"].as_str() != Some("json_schema")
        || serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object())
    {
        return text.to_string();
    }
    let schema = &format["schema"];
    let mut obj = serde_json::Map::new();
    if let Some(req) = schema["required"].as_array() {
        for name in req.iter().filter_map(Value::as_str) {
            let short: String = text.trim_end_matches('.').chars().take(30).collect();
            obj.insert(name.to_string(), Value::String(short));
        }
    }
    Value::Object(obj).to_string()
}

fn tool_names(body: &Value) -> Vec<String> {
    body["tools"]
        .as_array()
        .map(|t| {
            t.iter()
                .filter_map(|t| t["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the CLI told the model that its approval policy is `never` (Codex then rejects any
/// request for escalated permissions, and says so in its permissions instructions).
fn approval_never(body: &Value) -> bool {
    body["input"].as_array().is_some_and(|items| {
        items
            .iter()
            .filter(|i| i["role"] == "developer" || i["role"] == "system")
            .filter_map(|i| i["content"].as_array())
            .flatten()
            .filter_map(|c| c["text"].as_str())
            .any(|t| t.contains("Approval policy is currently never"))
    })
}

/// A `function_call` item for `call`, using a tool the request offers: `exec_command` (current
/// Codex), `shell_command` or `shell` (older ones); a file write is `apply_patch` when offered,
/// else a shell command that writes the file. Like a model that follows its instructions, it
/// asks for escalation only when the approval policy allows asking (`approval_never` false).
fn tool_item(call: &ToolCall, tools: &[String], approval_never: bool) -> Value {
    let has = |n: &str| tools.iter().any(|t| t == n);
    let (command, escalated) = match call {
        ToolCall::Shell { command, escalated } => (command.clone(), *escalated && !approval_never),
        ToolCall::WriteFile { path, content } => {
            if has("apply_patch") {
                let mut patch = format!("*** Begin Patch\n*** Add File: {path}\n");
                for line in content.lines() {
                    patch.push('+');
                    patch.push_str(line);
                    patch.push('\n');
                }
                patch.push_str("*** End Patch\n");
                return function_call("apply_patch", json!({ "input": patch }));
            }
            (
                format!("printf '%s' {} > {}", sh_quote(content), sh_quote(path)),
                false,
            )
        }
    };
    if has("exec_command") || !(has("shell_command") || has("shell")) {
        let mut args = json!({ "cmd": command });
        if escalated {
            args["sandbox_permissions"] = json!("require_escalated");
            args["justification"] = json!("The scripted model asks to run this command.");
        }
        function_call("exec_command", args)
    } else if has("shell_command") {
        let mut args = json!({ "command": command });
        if escalated {
            args["sandbox_permissions"] = json!("require_escalated");
            args["justification"] = json!("The scripted model asks to run this command.");
        }
        function_call("shell_command", args)
    } else {
        let mut args = json!({ "command": ["bash", "-lc", command] });
        if escalated {
            args["with_escalated_permissions"] = json!(true);
            args["justification"] = json!("The scripted model asks to run this command.");
        }
        function_call("shell", args)
    }
}

fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn function_call(name: &str, args: Value) -> Value {
    json!({
        "type": "function_call",
        "id": new_id("fc"),
        "call_id": new_id("call"),
        "name": name,
        "arguments": args.to_string(),
        "status": "completed",
    })
}

fn message_item(id: &str, text: &str, done: bool) -> Value {
    json!({
        "type": "message",
        "id": id,
        "status": if done { "completed" } else { "in_progress" },
        "role": "assistant",
        "content": if done {
            json!([{"type": "output_text", "text": text, "annotations": []}])
        } else {
            json!([])
        },
    })
}

fn response_obj(
    id: &str,
    model: &str,
    status: &str,
    output: Vec<Value>,
    usage: Option<Usage>,
) -> Value {
    let mut r = json!({
        "id": id,
        "object": "response",
        "created_at": unix_secs(),
        "status": status,
        "model": model,
        "output": output,
        "parallel_tool_calls": true,
        "tool_choice": "auto",
        "usage": Value::Null,
    });
    if let Some(u) = usage {
        r["usage"] = usage_json(u);
    }
    r
}

fn render(seq: u64, body: &Value, model: &str, decision: Decision, stream: bool) -> HttpResponse {
    let Decision { reply, usage, .. } = decision;
    match &reply {
        Reply::Hang => return HttpResponse::Hang,
        Reply::Error {
            status,
            error,
            retry_after,
            message,
            ..
        } => return error_reply(*status, *error, *retry_after, message.as_deref()),
        Reply::Text { .. } | Reply::Tools { .. } => {}
    }
    let (pieces, first_delay_ms) = pieces(&reply, body);
    let resp_id = format!("resp_gms{seq:06}");
    let model = model.to_string();
    if !stream {
        pause(first_delay_ms);
        let output = pieces
            .into_iter()
            .map(|p| match p {
                Piece::Text { chunks, .. } => message_item(&new_id("msg"), &chunks.concat(), true),
                Piece::Item(v) => v,
            })
            .collect();
        return HttpResponse::json(
            200,
            &response_obj(&resp_id, &model, "completed", output, Some(usage)),
        );
    }
    HttpResponse::sse(move |sink| {
        stream_reply(&sink, &resp_id, &model, pieces, first_delay_ms, usage)
    })
}

/// Writes the events of one streamed response; stops quietly when the client goes away.
fn stream_reply(
    sink: &Sink,
    resp_id: &str,
    model: &str,
    pieces: Vec<Piece>,
    first_delay_ms: u64,
    usage: Usage,
) {
    let mut seq = 0u64;
    let mut send = |kind: &str, mut data: Value| -> bool {
        data["type"] = json!(kind);
        data["sequence_number"] = json!(seq);
        seq += 1;
        sink.event(kind, &data)
    };
    let r = response_obj(resp_id, model, "in_progress", vec![], None);
    if !send("response.created", json!({ "response": r })) {
        return;
    }
    if !send("response.in_progress", json!({ "response": r })) {
        return;
    }
    pause(first_delay_ms);
    let mut output = Vec::new();
    for (index, piece) in pieces.into_iter().enumerate() {
        match piece {
            Piece::Text { chunks, delay_ms } => {
                let id = new_id("msg");
                let ok = send(
                    "response.output_item.added",
                    json!({"output_index": index, "item": message_item(&id, "", false)}),
                ) && send(
                    "response.content_part.added",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                           "part": {"type": "output_text", "text": "", "annotations": []}}),
                );
                if !ok {
                    return;
                }
                let mut text = String::new();
                for (i, chunk) in chunks.iter().enumerate() {
                    if i > 0 {
                        pause(delay_ms);
                    }
                    text.push_str(chunk);
                    if !send(
                        "response.output_text.delta",
                        json!({"item_id": id, "output_index": index, "content_index": 0, "delta": chunk}),
                    ) {
                        return;
                    }
                }
                let item = message_item(&id, &text, true);
                let ok = send(
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0, "text": text}),
                ) && send(
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": index, "content_index": 0,
                           "part": {"type": "output_text", "text": text, "annotations": []}}),
                ) && send(
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                if !ok {
                    return;
                }
                output.push(item);
            }
            Piece::Item(item) => {
                let ok = send(
                    "response.output_item.added",
                    json!({"output_index": index, "item": item}),
                ) && send(
                    "response.output_item.done",
                    json!({"output_index": index, "item": item}),
                );
                if !ok {
                    return;
                }
                output.push(item);
            }
        }
    }
    let done = response_obj(resp_id, model, "completed", output, Some(usage));
    send("response.completed", json!({ "response": done }));
}

fn error_reply(
    status: u16,
    kind: ErrorKind,
    retry_after: Option<u64>,
    message: Option<&str>,
) -> HttpResponse {
    let (default_msg, etype, code) = match kind {
        ErrorKind::RateLimit => (
            format!(
                "Rate limit reached for requests. Please try again in {}s.",
                retry_after.unwrap_or(1)
            ),
            "requests",
            Some("rate_limit_exceeded"),
        ),
        ErrorKind::Quota => (
            "You exceeded your current quota, please check your plan and billing details.".into(),
            "insufficient_quota",
            Some("insufficient_quota"),
        ),
        ErrorKind::Overloaded => (
            "The server is overloaded. Please try again later.".into(),
            "server_error",
            Some("server_overloaded"),
        ),
        ErrorKind::Internal => (
            "The server had an error while processing your request. Sorry about that!".into(),
            "server_error",
            None,
        ),
        ErrorKind::Unavailable => (
            "The service is temporarily unavailable. Please try again later.".into(),
            "server_error",
            None,
        ),
    };
    let mut headers = vec![("x-request-id".to_string(), new_id("req"))];
    if let Some(s) = retry_after {
        headers.push(("retry-after".into(), s.to_string()));
    }
    error_body(
        status,
        message.unwrap_or(&default_msg),
        etype,
        code,
        headers,
    )
}

fn error_body(
    status: u16,
    message: &str,
    etype: &str,
    code: Option<&str>,
    headers: Vec<(String, String)>,
) -> HttpResponse {
    HttpResponse::json_with(
        status,
        &json!({"error": {"message": message, "type": etype, "param": Value::Null, "code": code}}),
        headers,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_blocks_are_not_user_text() {
        assert!(is_context_block(
            "<environment_context>\n  <cwd>/x</cwd>\n</environment_context>"
        ));
        assert!(is_context_block(
            "<permissions instructions>a</permissions instructions>"
        ));
        assert!(!is_context_block("<b>bold</b> and more"));
        assert!(!is_context_block("hello FAST"));
    }

    #[test]
    fn last_user_text_skips_context_and_counts_tool_results() {
        let body = json!({
            "model": "m", "stream": true, "tools": [{"type": "function", "name": "exec_command"}],
            "input": [
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "first"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "run SHELL"}]},
                {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>x</environment_context>"}]},
                {"type": "function_call", "name": "exec_command", "call_id": "c1", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "ok"},
            ]
        });
        let t = parse_turn(&body);
        assert_eq!(t.last_user_text, "run SHELL");
        assert_eq!(t.tool_results_since_user, 1);
        assert!(t.has_tools && t.stream);
    }

    #[test]
    fn shell_call_uses_the_offered_tool() {
        let call = ToolCall::Shell {
            command: "echo hi".into(),
            escalated: true,
        };
        let item = tool_item(&call, &["exec_command".into()], false);
        assert_eq!(item["name"], "exec_command");
        let args: Value =
            serde_json::from_str(item["arguments"].as_str().unwrap_or("")).unwrap_or_default();
        assert_eq!(args["cmd"], "echo hi");
        assert_eq!(args["sandbox_permissions"], "require_escalated");
        let item = tool_item(&call, &["shell".into()], false);
        assert_eq!(item["name"], "shell");
        let item = tool_item(&call, &["exec_command".into()], true);
        let args: Value =
            serde_json::from_str(item["arguments"].as_str().unwrap_or("")).unwrap_or_default();
        assert!(
            args.get("sandbox_permissions").is_none(),
            "never: no escalation"
        );
    }
}
