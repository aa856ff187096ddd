//! The OpenAI Responses API of the model server, over real HTTP on loopback.

mod common;

use common::{Answer, agent, server};
use gaffer_model_sim::{ErrorKind, Mode, ModelServer, Reply};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A request body shaped like Codex 0.171.0's: developer and context messages, then the user's.
fn body(user: &str, extra: Vec<Value>, tools: bool, stream: bool) -> Value {
    let mut input = vec![
        json!({"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "You are a coding agent."}]}),
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "<environment_context>\n  <cwd>/tmp/p</cwd>\n</environment_context>"}]}),
        json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": user}]}),
    ];
    input.extend(extra);
    let tools = if tools {
        json!([
            {"type": "function", "name": "exec_command", "parameters": {"type": "object"}},
            {"type": "function", "name": "write_stdin", "parameters": {"type": "object"}},
            {"type": "web_search"}
        ])
    } else {
        json!([])
    };
    json!({"model": "gpt-5.1-codex", "input": input, "tools": tools, "stream": stream, "store": false})
}

fn post(s: &ModelServer, body: &Value) -> Answer {
    common::post(s, "/v1/responses", body, Some(Duration::from_secs(20)))
}

#[test]
fn text_reply_streams_the_events_codex_parses() {
    let s = server();
    let r = post(&s, &body("hello FAST", vec![], true, true));
    assert_eq!(r.status, 200);
    let ev = r.sse_events();
    let kinds: Vec<&str> = ev.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.completed"
        ]
    );
    for (i, (k, d)) in ev.iter().enumerate() {
        assert_eq!(d["type"], k.as_str(), "the data names its own type");
        assert_eq!(d["sequence_number"], i as u64);
    }
    let done = &ev[7].1["item"];
    assert_eq!(done["type"], "message");
    assert_eq!(done["role"], "assistant");
    assert_eq!(done["content"][0]["text"], "Here is a fast answer.");
    let completed = &ev[8].1["response"];
    assert!(completed["id"].as_str().is_some_and(|i| !i.is_empty()));
    assert_eq!(completed["usage"]["input_tokens"], 1200);
    assert_eq!(completed["usage"]["output_tokens"], 40);
    assert_eq!(completed["usage"]["total_tokens"], 1240);
    let log = s.log();
    let turn = log[0].turn.as_ref().expect("turn logged");
    assert_eq!(turn.api, "openai");
    assert_eq!(
        turn.last_user_text, "hello FAST",
        "context blocks are skipped"
    );
    assert_eq!(turn.tool_results_since_user, 0);
    assert!(turn.has_tools && turn.stream);
}

#[test]
fn chunks_and_delays_are_honoured() {
    let s = server();
    s.set_mode(Some(Mode {
        reply: Reply::Text {
            text: "one two three four".into(),
            chunks: 4,
            chunk_delay_ms: 150,
            first_delay_ms: 300,
        },
        then: vec![],
        usage: Some(gaffer_model_sim::Usage {
            input_tokens: 190_000,
            output_tokens: 7,
        }),
        times: Some(1),
    }));
    let t0 = Instant::now();
    let r = post(&s, &body("anything", vec![], true, true));
    let took = t0.elapsed();
    let ev = r.sse_events();
    let deltas: Vec<&str> = ev
        .iter()
        .filter(|(k, _)| k == "response.output_text.delta")
        .filter_map(|(_, d)| d["delta"].as_str())
        .collect();
    assert_eq!(deltas.len(), 4);
    assert_eq!(deltas.concat(), "one two three four");
    assert!(took >= Duration::from_millis(300 + 3 * 150), "{took:?}");
    let usage = &ev.last().expect("events").1["response"]["usage"];
    assert_eq!(usage["input_tokens"], 190_000);
    // the mode was for one turn: the script is back
    let r = post(&s, &body("hello FAST", vec![], true, true));
    assert!(r.text.contains("Here is a fast answer."));
}

#[test]
fn shell_tool_call_is_an_escalated_exec_command_and_the_follow_up_is_text() {
    let s = server();
    let r = post(&s, &body("please SHELL now", vec![], true, true));
    let ev = r.sse_events();
    let calls: Vec<&Value> = ev
        .iter()
        .filter(|(k, d)| k == "response.output_item.done" && d["item"]["type"] == "function_call")
        .map(|(_, d)| &d["item"])
        .collect();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["name"], "exec_command");
    let args: Value =
        serde_json::from_str(calls[0]["arguments"].as_str().expect("arguments")).expect("json");
    assert_eq!(args["cmd"], "echo gaffer-shell-ok");
    assert_eq!(args["sandbox_permissions"], "require_escalated");
    let call_id = calls[0]["call_id"].as_str().expect("call_id").to_string();
    // the text before the call is its own message item
    assert!(ev.iter().any(|(k, d)| k == "response.output_item.done"
        && d["item"]["content"][0]["text"] == "I will run a command."));
    let follow = body(
        "please SHELL now",
        vec![
            calls[0].clone(),
            json!({"type": "function_call_output", "call_id": call_id, "output": "gaffer-shell-ok"}),
        ],
        true,
        true,
    );
    let r = post(&s, &follow);
    assert!(r.text.contains("The command ran."), "{}", r.text);
    let log = s.log();
    assert_eq!(
        log[1].turn.as_ref().map(|t| t.tool_results_since_user),
        Some(1)
    );
}

#[test]
fn write_file_becomes_a_shell_write_when_no_apply_patch_is_offered() {
    let s = server();
    let r = post(&s, &body("WRITEFILE please", vec![], true, true));
    let ev = r.sse_events();
    let item = ev
        .iter()
        .find(|(k, d)| k == "response.output_item.done" && d["item"]["type"] == "function_call")
        .map(|(_, d)| d["item"].clone())
        .expect("a call");
    assert_eq!(item["name"], "exec_command");
    let args: Value = serde_json::from_str(item["arguments"].as_str().unwrap_or("")).expect("json");
    let cmd = args["cmd"].as_str().expect("cmd");
    assert!(cmd.contains("gaffer-note.txt"), "{cmd}");
    // the command really writes the content
    let dir = std::env::temp_dir().join(format!("gms-openai-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(&dir)
        .status()
        .expect("sh runs");
    assert!(out.success());
    assert_eq!(
        std::fs::read_to_string(dir.join("gaffer-note.txt")).expect("written"),
        "written by the scripted model\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn error_of(r: &Answer) -> Value {
    serde_json::from_str::<Value>(&r.text).expect("error body is JSON")["error"].clone()
}

#[test]
fn errors_have_openai_bodies_and_headers() {
    let s = server();
    let r = post(&s, &body("RATE429", vec![], true, true));
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("30"));
    let e = error_of(&r);
    assert_eq!(e["code"], "rate_limit_exceeded");
    assert!(
        e["message"]
            .as_str()
            .is_some_and(|m| m.contains("try again in 30s"))
    );

    let r = post(&s, &body("QUOTA", vec![], true, true));
    assert_eq!(r.status, 429);
    let e = error_of(&r);
    assert_eq!(e["code"], "insufficient_quota");
    assert_eq!(e["type"], "insufficient_quota");

    for (kw, status) in [("ERR500", 500), ("ERR503", 503), ("OVERLOAD529", 529)] {
        let r = post(&s, &body(kw, vec![], true, true));
        assert_eq!(r.status, status, "{kw}");
        let e = error_of(&r);
        assert_eq!(e["type"], "server_error", "{kw}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    }

    s.set_mode(Some(Mode {
        reply: Reply::Error {
            status: 429,
            error: ErrorKind::RateLimit,
            retry_after: Some(2),
            should_retry: None,
            message: Some("slow down".into()),
        },
        then: vec![],
        usage: None,
        times: None,
    }));
    let r = post(&s, &body("anything", vec![], true, true));
    assert_eq!(r.header("retry-after"), Some("2"));
    assert_eq!(error_of(&r)["message"], "slow down");
}

#[test]
fn side_calls_without_tools_get_quick_text_shaped_to_a_json_schema() {
    let s = server();
    let mut b = body(
        "Generate a title.\nUser prompt:\nRATE429",
        vec![],
        false,
        true,
    );
    b["text"] = json!({"format": {"type": "json_schema", "name": "codex_output_schema", "strict": true,
        "schema": {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}}});
    let r = post(&s, &b);
    assert_eq!(r.status, 200, "side calls are never errors");
    let ev = r.sse_events();
    let text = ev
        .iter()
        .find(|(k, _)| k == "response.output_text.done")
        .and_then(|(_, d)| d["text"].as_str())
        .expect("text");
    let v: Value = serde_json::from_str(text).expect("the text is JSON");
    assert!(v["title"].as_str().is_some_and(|t| !t.is_empty()), "{v}");
}

#[test]
fn non_streaming_request_gets_one_response_object() {
    let s = server();
    let r = post(&s, &body("hello FAST", vec![], true, false));
    assert_eq!(r.status, 200);
    let v: Value = serde_json::from_str(&r.text).expect("json");
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "Here is a fast answer."
    );
    assert_eq!(v["usage"]["input_tokens"], 1200);
}

#[test]
fn models_list_and_hang() {
    let s = server();
    let mut resp = agent(Some(Duration::from_secs(5)))
        .get(format!("{}/v1/models", s.url()))
        .call()
        .expect("models");
    assert_eq!(resp.status().as_u16(), 200);
    let v: Value =
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    assert!(v["data"].as_array().is_some_and(|d| !d.is_empty()));

    s.set_mode(Some(Mode {
        reply: Reply::Hang,
        then: vec![],
        usage: None,
        times: Some(1),
    }));
    let t0 = Instant::now();
    let r = agent(Some(Duration::from_millis(800)))
        .post(format!("{}/v1/responses", s.url()))
        .send_json(body("anything", vec![], true, true));
    assert!(r.is_err(), "a hung request never answers");
    assert!(t0.elapsed() >= Duration::from_millis(700));
}
