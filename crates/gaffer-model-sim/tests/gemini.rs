//! The Gemini API of the scripted model server, over real HTTP: the wire shapes the Gemini CLI
//! reads (SSE chunks, function calls with the offered tools' argument names, usage, Google API
//! errors) and the neutral turn it logs.

mod common;

use common::{Answer, server as start};
use gaffer_model_sim::ModelServer;
use serde_json::{Value, json};

impl Answer {
    /// The `data:` events of an SSE body, as JSON.
    fn events(&self) -> Vec<Value> {
        self.text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
            .collect()
    }
}

fn post(server: &ModelServer, path: &str, body: &Value) -> Answer {
    common::post(server, path, body, None)
}

/// A request as the CLI sends it: the session context part, then the user's text; tools offered.
fn request(user_text: &str) -> Value {
    json!({
        "contents": [{"role": "user", "parts": [
            {"text": "<session_context>\nThis is the Gemini CLI. We are setting up the context for our chat.\n</session_context>"},
            {"text": user_text}
        ]}],
        "systemInstruction": {"parts": [{"text": "You are an interactive CLI agent."}]},
        "tools": [{"functionDeclarations": [
            {"name": "run_shell_command", "parametersJsonSchema": {"type": "object", "properties": {
                "command": {"type": "string"}, "description": {"type": "string"}}}},
            {"name": "write_file", "parametersJsonSchema": {"type": "object", "properties": {
                "file_path": {"type": "string"}, "content": {"type": "string"}}}}
        ]}],
        "generationConfig": {"temperature": 1}
    })
}

const STREAM: &str = "/v1beta/models/gemini-3-pro:streamGenerateContent?alt=sse";

fn text_of(events: &[Value]) -> String {
    events
        .iter()
        .flat_map(|e| {
            e["candidates"][0]["content"]["parts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|p| p["text"].as_str().map(String::from))
        .collect()
}

#[test]
fn a_streamed_answer_is_sse_chunks_with_finish_and_usage() {
    let server = start();
    let r = post(&server, STREAM, &request("say FAST please"));
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/event-stream"))
    );
    let events = r.events();
    assert_eq!(text_of(&events), "Here is a fast answer.");
    let last = events.last().expect("one event");
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert_eq!(last["usageMetadata"]["promptTokenCount"], 1200);
    assert_eq!(last["usageMetadata"]["candidatesTokenCount"], 40);
    assert_eq!(last["usageMetadata"]["totalTokenCount"], 1240);
    let log = server.log();
    let turn = log[0].turn.as_ref().expect("turn logged");
    assert_eq!(turn.api, "gemini");
    assert_eq!(turn.model, "gemini-3-pro");
    assert_eq!(
        turn.last_user_text, "say FAST please",
        "the session context is not user text"
    );
    assert!(turn.has_tools && turn.stream);
}

#[test]
fn chunks_arrive_apart_and_large_usage_is_reported() {
    let server = start();
    let started = std::time::Instant::now();
    let r = post(&server, STREAM, &request("answer SLOW"));
    let events = r.events();
    assert_eq!(events.len(), 40, "the SLOW rule streams 40 chunks");
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(39 * 500),
        "chunks are paced"
    );
    assert!(text_of(&events).starts_with("This answer streams slowly"));
    let r = post(&server, STREAM, &request("BIGCTX now"));
    let events = r.events();
    assert_eq!(
        events.last().expect("event")["usageMetadata"]["promptTokenCount"],
        950000
    );
}

#[test]
fn tool_calls_use_the_offered_tools_and_follow_ups_count_results() {
    let server = start();
    let r = post(&server, STREAM, &request("run SHELL please"));
    let events = r.events();
    let parts = events[0]["candidates"][0]["content"]["parts"].clone();
    let call = parts
        .as_array()
        .expect("parts")
        .iter()
        .find_map(|p| p.get("functionCall"))
        .expect("a functionCall part");
    assert_eq!(call["name"], "run_shell_command");
    assert_eq!(call["args"]["command"], "echo gaffer-shell-ok");

    let r = post(&server, STREAM, &request("WRITEFILE now"));
    let events = r.events();
    let call = &events[0]["candidates"][0]["content"]["parts"][0]["functionCall"];
    assert_eq!(call["name"], "write_file");
    assert_eq!(call["args"]["file_path"], "gaffer-note.txt");
    assert_eq!(call["args"]["content"], "written by the scripted model\n");

    // The follow-up after the tool ran: the result is a functionResponse in a user content.
    let mut body = request("run SHELL please");
    let contents = body["contents"].as_array_mut().expect("contents");
    contents.push(json!({"role": "model", "parts": [{"functionCall": {"name": "run_shell_command", "args": {"command": "echo gaffer-shell-ok"}}}]}));
    contents.push(json!({"role": "user", "parts": [{"functionResponse": {"name": "run_shell_command", "response": {"output": "gaffer-shell-ok"}}}]}));
    let r = post(&server, STREAM, &body);
    assert_eq!(text_of(&r.events()), "The command ran.");
    let log = server.log();
    let turn = log.last().and_then(|e| e.turn.clone()).expect("turn");
    assert_eq!(turn.last_user_text, "run SHELL please");
    assert_eq!(turn.tool_results_since_user, 1);
}

#[test]
fn side_calls_get_json_that_fits_their_schema() {
    let server = start();
    // The model router: generateContent without tools, with a response schema.
    let body = json!({
        "contents": [{"role": "user", "parts": [{"text": "hit RATE429 now"}]}],
        "generationConfig": {"responseMimeType": "application/json", "responseJsonSchema": {
            "type": "OBJECT", "required": ["complexity_reasoning", "complexity_score"],
            "properties": {"complexity_reasoning": {"type": "STRING"}, "complexity_score": {"type": "INTEGER"}}}}
    });
    let r = post(
        &server,
        "/v1beta/models/gemini-flash-lite:generateContent",
        &body,
    );
    assert_eq!(r.status, 200, "a side call is never an error: {}", r.text);
    let v = r.json();
    let text = v["candidates"][0]["content"]["parts"][0]["text"]
        .as_str()
        .expect("text");
    let answer: Value = serde_json::from_str(text).expect("the text is JSON");
    assert!(answer["complexity_score"].is_number());
    assert!(answer["complexity_reasoning"].is_string());
    assert_eq!(v["candidates"][0]["finishReason"], "STOP");

    let r = post(
        &server,
        "/v1beta/models/gemini-3-pro:countTokens",
        &json!({"contents": []}),
    );
    assert_eq!(r.status, 200);
    assert!(r.json()["totalTokens"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn errors_are_google_api_errors() {
    let server = start();
    let r = post(&server, STREAM, &request("hit RATE429 now"));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("30"));
    let e = &r.json()["error"];
    assert_eq!(e["code"], 429);
    assert_eq!(e["status"], "RESOURCE_EXHAUSTED");
    assert_eq!(
        e["details"][0]["@type"],
        "type.googleapis.com/google.rpc.RetryInfo"
    );
    assert_eq!(e["details"][0]["retryDelay"], "30s");

    let r = post(&server, STREAM, &request("hit QUOTA now"));
    assert_eq!(r.status, 429);
    let e = &r.json()["error"];
    assert_eq!(e["status"], "RESOURCE_EXHAUSTED");
    let qf = e["details"]
        .as_array()
        .expect("details")
        .iter()
        .find(|d| d["@type"] == "type.googleapis.com/google.rpc.QuotaFailure")
        .expect("a QuotaFailure detail");
    assert!(
        qf["violations"][0]["quotaId"]
            .as_str()
            .is_some_and(|q| q.contains("PerDay")),
        "a per-day quota: {qf}"
    );

    let r = post(&server, STREAM, &request("hit ERR500 now"));
    assert_eq!(r.status, 500);
    assert_eq!(r.json()["error"]["status"], "INTERNAL");
    let r = post(&server, STREAM, &request("hit ERR503 now"));
    assert_eq!(r.status, 503);
    assert_eq!(r.json()["error"]["status"], "UNAVAILABLE");
    assert_eq!(r.json()["error"]["code"], 503);
}

#[test]
fn a_delayed_answer_streams_thought_summaries_first() {
    use gaffer_model_sim::{Mode, Reply};
    let server = start();
    server.set_mode(Some(Mode {
        reply: Reply::Text {
            text: "The considered answer.".into(),
            chunks: 1,
            chunk_delay_ms: 0,
            first_delay_ms: 4500,
        },
        then: vec![],
        usage: None,
        times: None,
    }));
    let started = std::time::Instant::now();
    let events = post(&server, STREAM, &request("think first")).events();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(4500),
        "the answer waits for the delay"
    );
    let part = |e: &Value| e["candidates"][0]["content"]["parts"][0].clone();
    let thoughts: Vec<Value> = events
        .iter()
        .map(part)
        .filter(|p| p["thought"] == true)
        .collect();
    // One at once, one after 4 s: a new subject each time, in `**Subject**` form.
    assert_eq!(thoughts.len(), 2, "{events:#?}");
    let subjects: Vec<&str> = thoughts
        .iter()
        .filter_map(|p| p["text"].as_str())
        .filter_map(|t| t.strip_prefix("**")?.split_once("**").map(|(s, _)| s))
        .collect();
    assert_eq!(subjects, ["Reading the request", "Weighing the options"]);
    // The thoughts come before the answer, which ends the stream.
    let last = events.last().expect("events");
    assert!(part(&events[0])["thought"] == true);
    assert!(part(last).get("thought").is_none());
    assert_eq!(part(last)["text"], "The considered answer.");
    assert_eq!(last["candidates"][0]["finishReason"], "STOP");
    assert!(
        events[..events.len() - 1]
            .iter()
            .all(|e| e["candidates"][0].get("finishReason").is_none())
    );
}
