//! The Anthropic Messages API over real HTTP: streamed and whole replies, tool calls with the
//! tools the request offers, errors with their headers, count_tokens, and the request log.

mod common;

use common::{Answer, server};
use gaffer_model_sim::{ErrorKind, Mode, ModelServer, Reply, Usage};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A request as Claude Code sends it: a reminder before the user's text, a system-role message
/// after it, and the tools it offers.
fn body(text: &str, stream: bool) -> Value {
    json!({
        "model": "claude-opus-5-5",
        "max_tokens": 32000,
        "stream": stream,
        "tools": [{"name": "Bash", "input_schema": {}}, {"name": "Write", "input_schema": {}}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "<system-reminder>\nattribution\n</system-reminder>\n"},
                {"type": "text", "text": text}
            ]},
            {"role": "system", "content": [
                {"type": "text", "text": "# Environment\n - Primary working directory: /tmp/proj\n"}
            ]}
        ]
    })
}

fn post(s: &ModelServer, path: &str, body: &Value) -> Answer {
    common::post(s, path, body, Some(Duration::from_secs(30)))
}

#[test]
fn streamed_text_has_the_event_sequence_and_usage() {
    let s = server();
    s.set_mode(Some(Mode {
        reply: Reply::Text {
            text: "one two three four".into(),
            chunks: 4,
            chunk_delay_ms: 10,
            first_delay_ms: 0,
        },
        then: vec![],
        usage: Some(Usage {
            input_tokens: 950_000,
            output_tokens: 77,
        }),
        times: Some(1),
    }));
    let a = post(&s, "/v1/messages", &body("hello", true));
    assert_eq!(a.status, 200);
    assert_eq!(a.header("content-type"), Some("text/event-stream"));
    let ev = a.sse_events();
    let names: Vec<&str> = ev
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| *n != "ping")
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "content_block_delta")
            .count(),
        4
    );
    let start = &ev[0].1;
    assert_eq!(start["message"]["usage"]["input_tokens"], 950_000);
    assert_eq!(start["message"]["model"], "claude-opus-5-5");
    let text: String = ev
        .iter()
        .filter(|(n, _)| n == "content_block_delta")
        .map(|(_, d)| {
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(text, "one two three four");
    let delta = ev
        .iter()
        .find(|(n, _)| n == "message_delta")
        .expect("message_delta");
    assert_eq!(delta.1["delta"]["stop_reason"], "end_turn");
    assert_eq!(delta.1["usage"]["output_tokens"], 77);
    // the log has the neutral turn: the user's text, not the reminder or the system message
    let log = s.log();
    let turn = log[0].turn.as_ref().expect("turn logged");
    assert_eq!(turn.last_user_text, "hello");
    assert!(turn.has_tools && turn.stream);
}

#[test]
fn chunk_delays_are_honoured() {
    let s = server();
    s.set_mode(Some(Mode {
        reply: Reply::Text {
            text: "abcdef".into(),
            chunks: 3,
            chunk_delay_ms: 200,
            first_delay_ms: 300,
        },
        then: vec![],
        usage: None,
        times: None,
    }));
    let t = Instant::now();
    let a = post(&s, "/v1/messages", &body("x", true));
    let took = t.elapsed();
    assert_eq!(a.status, 200);
    assert!(
        took >= Duration::from_millis(700),
        "300 ms first delay + 2×200 ms, took {took:?}"
    );
    // the log times the stream's end on the clock of its start
    let e = &s.log()[0];
    let finished = e.finished_ms.expect("the stream's end is logged");
    assert!(
        finished >= e.at_ms + 700,
        "finished {finished} at least 700 ms after {}",
        e.at_ms
    );
    assert!(finished <= e.at_ms + took.as_millis() as u64 + 50);
}

#[test]
fn whole_message_when_not_streaming() {
    let s = server();
    let a = post(&s, "/v1/messages", &body("answer FAST", false));
    assert_eq!(a.status, 200);
    let v: Value = serde_json::from_str(&a.text).expect("json");
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["content"][0]["text"], "Here is a fast answer.");
    assert_eq!(v["stop_reason"], "end_turn");
    assert!(v["usage"]["input_tokens"].as_u64().is_some());
}

#[test]
fn tool_calls_use_the_offered_tools() {
    let s = server();
    let a = post(&s, "/v1/messages", &body("please run SHELL", true));
    let ev = a.sse_events();
    let start = ev
        .iter()
        .find(|(n, d)| n == "content_block_start" && d["content_block"]["type"] == "tool_use")
        .expect("a tool_use block");
    assert_eq!(start.1["content_block"]["name"], "Bash");
    let json_delta: String = ev
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "input_json_delta")
        .map(|(_, d)| {
            d["delta"]["partial_json"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    let input: Value = serde_json::from_str(&json_delta).expect("tool input JSON");
    assert_eq!(input["command"], "echo gaffer-shell-ok");
    let delta = ev
        .iter()
        .find(|(n, _)| n == "message_delta")
        .expect("delta");
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");

    // WriteFile → Write with an absolute path under the stated working directory
    let w = post(&s, "/v1/messages", &body("WRITEFILE", false));
    let v: Value = serde_json::from_str(&w.text).expect("json");
    let block = v["content"]
        .as_array()
        .and_then(|c| c.iter().find(|b| b["type"] == "tool_use"))
        .expect("tool_use");
    assert_eq!(block["name"], "Write");
    assert_eq!(block["input"]["file_path"], "/tmp/proj/gaffer-note.txt");

    // the follow-up with the tool result ends the turn with text
    let mut follow = body("please run SHELL", true);
    if let Some(m) = follow["messages"].as_array_mut() {
        m.push(json!({"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}]}));
        m.push(json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "gaffer-shell-ok"}]}));
    }
    let f = post(&s, "/v1/messages", &follow);
    let text: String = f
        .sse_events()
        .iter()
        .filter(|(_, d)| d["delta"]["type"] == "text_delta")
        .map(|(_, d)| d["delta"]["text"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(text, "The command ran.");
}

#[test]
fn tools_the_request_does_not_offer_become_text() {
    let s = server();
    let mut b = body("SHELL", true);
    b["tools"] = json!([{"name": "Read"}]);
    let ev = post(&s, "/v1/messages", &b).sse_events();
    assert!(
        !ev.iter()
            .any(|(_, d)| d["content_block"]["type"] == "tool_use"),
        "no tool_use for a tool that is not offered"
    );
}

#[test]
fn errors_have_the_anthropic_body_and_headers() {
    let s = server();
    let cases = [
        (
            429,
            ErrorKind::RateLimit,
            "rate_limit_error",
            Some(30),
            Some(false),
        ),
        (429, ErrorKind::Quota, "billing_error", None, Some(false)),
        (529, ErrorKind::Overloaded, "overloaded_error", None, None),
        (500, ErrorKind::Internal, "api_error", None, None),
        (503, ErrorKind::Unavailable, "api_error", Some(2), None),
    ];
    for (status, kind, etype, retry_after, should_retry) in cases {
        s.set_mode(Some(Mode {
            reply: Reply::Error {
                status,
                error: kind,
                retry_after,
                should_retry,
                message: None,
            },
            then: vec![],
            usage: None,
            times: Some(1),
        }));
        let a = post(&s, "/v1/messages", &body("x", true));
        assert_eq!(a.status, status, "{kind:?}");
        let v: Value = serde_json::from_str(&a.text).expect("json error body");
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], etype, "{kind:?}");
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
        assert_eq!(
            a.header("retry-after").map(String::from),
            retry_after.map(|r| r.to_string())
        );
        assert_eq!(
            a.header("x-should-retry").map(String::from),
            should_retry.map(|r| r.to_string())
        );
        assert!(a.header("request-id").is_some());
    }
}

#[test]
fn side_calls_without_tools_get_quick_text_and_count_tokens_answers() {
    let s = server();
    let mut b = body("RATE429", false);
    b.as_object_mut().map(|o| o.remove("tools"));
    let a = post(&s, "/v1/messages", &b);
    assert_eq!(a.status, 200, "a side call is never an error: {}", a.text);
    let c = post(&s, "/v1/messages/count_tokens", &body("x", false));
    assert_eq!(c.status, 200);
    let v: Value = serde_json::from_str(&c.text).expect("json");
    assert!(v["input_tokens"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn hang_holds_the_request() {
    let s = server();
    s.set_mode(Some(Mode {
        reply: Reply::Hang,
        then: vec![],
        usage: None,
        times: Some(1),
    }));
    let a: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(800)))
        .build()
        .into();
    let t = Instant::now();
    let r = a
        .post(&format!("{}/v1/messages", s.url()))
        .send(body("x", true).to_string().as_bytes());
    assert!(r.is_err(), "no answer");
    assert!(t.elapsed() >= Duration::from_millis(700));
    assert_eq!(s.log()[0].finished_ms, None, "a hang never finishes");
}
