//! The Gemini API (`generateContent`), as the Gemini CLI uses it.
//!
//! - `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`: SSE, one
//!   `GenerateContentResponse` per `data:` event;
//! - `POST /v1beta/models/<model>:generateContent`: one JSON `GenerateContentResponse` (the CLI's
//!   side calls: the model router, the next-speaker check; they ask for JSON with a schema);
//! - `POST /v1beta/models/<model>:countTokens`: `{"totalTokens": N}`.
//!
//! A response carries `candidates[].content.parts[]` (`text` or `functionCall`), `finishReason`
//! and `usageMetadata` (`promptTokenCount`, `candidatesTokenCount`, `totalTokenCount`). Errors
//! are Google API errors: `{"error": {"code", "message", "status", "details": [...]}}`.
//!
//! A streamed reply with a `first_delay_ms` thinks during the delay, as a thinking model does:
//! it streams thought parts (`"thought": true`, text `**Subject**\n\n…`) before the answer.

use crate::script::{ErrorKind, Reply, ToolCall, Turn, Usage, pause, split_chunks};
use crate::{HttpRequest, HttpResponse, State};
use serde_json::{Value, json};

/// Handles one request of this API.
pub fn handle(req: &HttpRequest, state: &State) -> HttpResponse {
    let (model, method) = split_model_method(&req.path);
    let body = req.json();
    match method {
        "countTokens" => {
            let n = (req.body.len() / 4).max(1);
            HttpResponse::json(200, &json!({ "totalTokens": n }))
        }
        "streamGenerateContent" | "generateContent" => {
            let stream = method == "streamGenerateContent";
            let turn = parse_turn(&body, model, stream);
            let decision = state.decide(req.seq, turn.clone());
            let reply = if decision.source == "side-call" {
                side_call_reply(&body)
            } else {
                decision.reply
            };
            render(reply, decision.usage, &body, model, stream)
        }
        _ => error_response(
            404,
            "NOT_FOUND",
            &format!("gaffer-model-sim: no Gemini method {:?}", req.path),
            vec![],
            vec![],
        ),
    }
}

/// `/v1beta/models/gemini-2.5-pro:streamGenerateContent` → (`gemini-2.5-pro`,
/// `streamGenerateContent`).
fn split_model_method(path: &str) -> (&str, &str) {
    let tail = path.rsplit('/').next().unwrap_or("");
    tail.split_once(':').unwrap_or((tail, ""))
}

/// Whether a text part is the CLI's own note rather than something the user typed: the session
/// context it sends first, and bracketed system notes.
fn is_system_text(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with("<session_context>")
        || t.starts_with("This is the Gemini CLI. We are setting up the context")
        || t.starts_with("<system-reminder>")
        || t.starts_with("<system_note>")
}

/// Reads a request body into the neutral [`Turn`].
pub fn parse_turn(body: &Value, model: &str, stream: bool) -> Turn {
    let contents = body
        .get("contents")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut last_user_text = String::new();
    let mut tool_results = 0usize;
    for content in contents.iter().rev() {
        if content.get("role").and_then(Value::as_str) == Some("model") {
            continue;
        }
        let parts = content
            .get("parts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let responses = parts
            .iter()
            .filter(|p| p.get("functionResponse").is_some())
            .count();
        let texts: Vec<&str> = parts
            .iter()
            .filter(|p| p.get("thought").and_then(Value::as_bool) != Some(true))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .filter(|t| !is_system_text(t))
            .collect();
        if responses > 0 {
            tool_results += responses;
            continue;
        }
        if !texts.is_empty() {
            last_user_text = texts.concat();
            break;
        }
    }
    let has_tools = body
        .get("tools")
        .and_then(Value::as_array)
        .is_some_and(|tools| {
            tools.iter().any(|t| {
                t.get("functionDeclarations")
                    .and_then(Value::as_array)
                    .is_some_and(|d| !d.is_empty())
            })
        });
    Turn {
        api: "gemini".into(),
        model: model.into(),
        last_user_text,
        tool_results_since_user: tool_results,
        has_tools,
        stream,
    }
}

/// The schema a side call asks its JSON answer to follow, if any.
fn response_schema(body: &Value) -> Option<&Value> {
    let gc = body.get("generationConfig")?;
    gc.get("responseJsonSchema")
        .or_else(|| gc.get("responseSchema"))
}

/// A side call (no tools): JSON that fits the requested schema, so the CLI goes on normally
/// (the router picks a model, the next-speaker check hands the turn back to the user).
fn side_call_reply(body: &Value) -> Reply {
    let text = match response_schema(body) {
        Some(schema) => fill_schema(schema, "").to_string(),
        None => "Done.".to_string(),
    };
    Reply::Text {
        text,
        chunks: 1,
        chunk_delay_ms: 0,
        first_delay_ms: 0,
    }
}

/// A value that satisfies `schema` (objects with every property, the first enum value).
fn fill_schema(schema: &Value, name: &str) -> Value {
    match name {
        // The next-speaker check: the user speaks next (the turn ends).
        "next_speaker" => return json!("user"),
        "model_choice" => return json!("flash"),
        "complexity_score" => return json!(20),
        _ => {}
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    let ty = schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("object")
        .to_ascii_lowercase();
    match ty.as_str() {
        "object" => {
            let mut out = serde_json::Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    out.insert(k.clone(), fill_schema(v, k));
                }
            }
            Value::Object(out)
        }
        "array" => json!([]),
        "integer" | "number" => json!(1),
        "boolean" => json!(false),
        _ => json!("scripted"),
    }
}

/// The names of the functions the request offers.
fn offered_tools(body: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for t in body
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for d in t
            .get("functionDeclarations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = d.get("name").and_then(Value::as_str) {
                let params = d
                    .get("parametersJsonSchema")
                    .or_else(|| d.get("parameters"))
                    .cloned()
                    .unwrap_or(Value::Null);
                out.push((name.to_string(), params));
            }
        }
    }
    out
}

fn has_param(params: &Value, name: &str) -> bool {
    params.get("properties").and_then(|p| p.get(name)).is_some()
}

/// A `functionCall` part for `call`, with the tool name and argument names the request offers.
fn function_call(call: &ToolCall, body: &Value) -> Value {
    let tools = offered_tools(body);
    let find = |names: &[&str], fallback: &str| -> (String, Value) {
        names
            .iter()
            .find_map(|n| tools.iter().find(|(t, _)| t == n).cloned())
            .or_else(|| tools.iter().find(|(t, _)| t.contains(fallback)).cloned())
            .unwrap_or_else(|| {
                (
                    names.first().copied().unwrap_or("").to_string(),
                    Value::Null,
                )
            })
    };
    match call {
        ToolCall::Shell { command, .. } => {
            let (name, params) = find(&["run_shell_command", "shell"], "shell");
            let mut args = serde_json::Map::new();
            args.insert("command".into(), json!(command));
            if has_param(&params, "description") {
                args.insert("description".into(), json!("Run a scripted command"));
            }
            json!({ "functionCall": { "name": name, "args": args } })
        }
        ToolCall::WriteFile { path, content } => {
            let (name, params) = find(&["write_file"], "write");
            let key = ["file_path", "absolute_path", "path"]
                .into_iter()
                .find(|k| has_param(&params, k))
                .unwrap_or("file_path");
            json!({ "functionCall": { "name": name, "args": { key: path, "content": content } } })
        }
    }
}

fn usage_json(usage: Usage) -> Value {
    json!({
        "promptTokenCount": usage.input_tokens,
        "candidatesTokenCount": usage.output_tokens,
        "totalTokenCount": usage.input_tokens + usage.output_tokens,
    })
}

/// One `GenerateContentResponse`.
fn chunk(parts: Vec<Value>, finish: bool, usage: Option<Usage>, model: &str) -> Value {
    let mut candidate = json!({
        "content": { "role": "model", "parts": parts },
        "index": 0,
    });
    if finish {
        candidate["finishReason"] = json!("STOP");
    }
    let mut out = json!({ "candidates": [candidate], "modelVersion": model });
    if let Some(u) = usage {
        out["usageMetadata"] = usage_json(u);
    }
    out
}

fn sse_data(sink: &crate::Sink, value: &Value) -> bool {
    sink.send(format!("data: {value}\r\n\r\n"))
}

/// The thought summaries a thinking model streams before its answer, in turn: a bold subject
/// (what the CLI shows in its loading indicator), then a sentence.
const THOUGHTS: [(&str, &str); 3] = [
    (
        "Reading the request",
        "I'm working out what the user is asking for and what they expect back.",
    ),
    (
        "Weighing the options",
        "I'm comparing a few ways to answer and picking the one that fits best.",
    ),
    (
        "Drafting the answer",
        "I'm putting the answer together and checking it before I send it.",
    ),
];

/// How often a new thought summary arrives while the answer is held back.
const THOUGHT_EVERY_MS: u64 = 4000;

/// Spends `delay_ms` before the first answer token the way a thinking model does: a thought
/// part (`{"text": "**Subject**\n\n…", "thought": true}`) at once and then every
/// [`THOUGHT_EVERY_MS`]. False once the client has gone.
fn think(sink: &crate::Sink, delay_ms: u64, usage: Usage, model: &str) -> bool {
    let mut left = delay_ms;
    let mut i = 0;
    while left > 0 {
        let (subject, body) = THOUGHTS[i % THOUGHTS.len()];
        let part = json!({ "text": format!("**{subject}**\n\n{body}"), "thought": true });
        if !sse_data(sink, &chunk(vec![part], false, Some(usage), model)) {
            return false;
        }
        let step = left.min(THOUGHT_EVERY_MS);
        pause(step);
        left -= step;
        i += 1;
    }
    true
}

fn render(reply: Reply, usage: Usage, body: &Value, model: &str, stream: bool) -> HttpResponse {
    let model = model.to_string();
    match reply {
        Reply::Text {
            text,
            chunks,
            chunk_delay_ms,
            first_delay_ms,
        } => {
            if !stream {
                pause(first_delay_ms);
                return HttpResponse::json(
                    200,
                    &chunk(vec![json!({ "text": text })], true, Some(usage), &model),
                );
            }
            HttpResponse::sse(move |sink| {
                if !think(&sink, first_delay_ms, usage, &model) {
                    return;
                }
                let pieces = split_chunks(&text, chunks);
                let n = pieces.len();
                if n == 0 {
                    sse_data(
                        &sink,
                        &chunk(vec![json!({"text": ""})], true, Some(usage), &model),
                    );
                    return;
                }
                for (i, piece) in pieces.into_iter().enumerate() {
                    if i > 0 {
                        pause(chunk_delay_ms);
                    }
                    let last = i + 1 == n;
                    let c = chunk(vec![json!({ "text": piece })], last, Some(usage), &model);
                    if !sse_data(&sink, &c) {
                        return;
                    }
                }
            })
        }
        Reply::Tools { text, calls } => {
            let mut parts = Vec::new();
            if !text.is_empty() {
                parts.push(json!({ "text": text }));
            }
            parts.extend(calls.iter().map(|c| function_call(c, body)));
            let whole = chunk(parts, true, Some(usage), &model);
            if !stream {
                return HttpResponse::json(200, &whole);
            }
            HttpResponse::sse(move |sink| {
                sse_data(&sink, &whole);
            })
        }
        Reply::Error {
            status,
            error,
            retry_after,
            message,
            ..
        } => render_error(status, error, retry_after, message, &model),
        Reply::Hang => HttpResponse::Hang,
    }
}

fn error_response(
    code: u16,
    status: &str,
    message: &str,
    details: Vec<Value>,
    headers: Vec<(String, String)>,
) -> HttpResponse {
    HttpResponse::json_with(
        code,
        &json!({ "error": { "code": code, "message": message, "status": status, "details": details } }),
        headers,
    )
}

/// A Google API error for `kind` (the bodies the real API sends).
fn render_error(
    code: u16,
    kind: ErrorKind,
    retry_after: Option<u64>,
    message: Option<String>,
    model: &str,
) -> HttpResponse {
    let mut headers = Vec::new();
    if let Some(s) = retry_after {
        headers.push(("retry-after".to_string(), s.to_string()));
    }
    match kind {
        ErrorKind::RateLimit => {
            let delay = retry_after.unwrap_or(30);
            let msg = message
                .unwrap_or_else(|| "Resource has been exhausted (e.g. check quota).".to_string());
            error_response(
                code,
                "RESOURCE_EXHAUSTED",
                &msg,
                vec![json!({
                    "@type": "type.googleapis.com/google.rpc.RetryInfo",
                    "retryDelay": format!("{delay}s"),
                })],
                headers,
            )
        }
        ErrorKind::Quota => {
            let msg = message.unwrap_or_else(|| format!(
                "You exceeded your current quota, please check your plan and billing details. \
                 Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, \
                 limit: 50, model: {model}"
            ));
            error_response(
                code,
                "RESOURCE_EXHAUSTED",
                &msg,
                vec![
                    json!({
                        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                        "violations": [{
                            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                            "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                            "quotaDimensions": { "location": "global", "model": model },
                            "quotaValue": "50",
                        }],
                    }),
                    json!({
                        "@type": "type.googleapis.com/google.rpc.Help",
                        "links": [{
                            "description": "Learn more about Gemini API quotas",
                            "url": "https://ai.google.dev/gemini-api/docs/rate-limits",
                        }],
                    }),
                ],
                headers,
            )
        }
        ErrorKind::Overloaded | ErrorKind::Unavailable => error_response(
            code,
            "UNAVAILABLE",
            &message.unwrap_or_else(|| "The model is overloaded. Please try again later.".into()),
            vec![],
            headers,
        ),
        ErrorKind::Internal => error_response(
            code,
            // A 4xx is the client's fault: not retried, shown at once.
            if code < 500 {
                "INVALID_ARGUMENT"
            } else {
                "INTERNAL"
            },
            &message.unwrap_or_else(|| {
                "An internal error has occurred. Please retry or report in \
                 https://developers.generativeai.google/guide/troubleshooting"
                    .into()
            }),
            vec![],
            headers,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_user_text_skips_tool_results_and_session_context() {
        let body = json!({
            "contents": [
                {"role": "user", "parts": [{"text": "<session_context>\nThis is the Gemini CLI.</session_context>"}]},
                {"role": "user", "parts": [{"text": "run SHELL please"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "run_shell_command", "args": {"command": "ls"}}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "run_shell_command", "response": {"output": "x"}}}]},
            ],
            "tools": [{"functionDeclarations": [{"name": "run_shell_command"}]}],
        });
        let t = parse_turn(&body, "gemini-2.5-pro", true);
        assert_eq!(t.last_user_text, "run SHELL please");
        assert_eq!(t.tool_results_since_user, 1);
        assert!(t.has_tools);
    }

    #[test]
    fn schemas_are_filled_so_the_router_and_next_speaker_check_go_on() {
        let schema = json!({"type": "object", "properties": {
            "reasoning": {"type": "string"},
            "next_speaker": {"type": "string", "enum": ["model", "user"]}}});
        let v = fill_schema(&schema, "");
        assert_eq!(v["next_speaker"], "user");
        assert_eq!(v["reasoning"], "scripted");
    }
}
