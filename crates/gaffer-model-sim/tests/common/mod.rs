//! What the HTTP tests of the three APIs share: a server on loopback, an HTTP client that
//! returns error statuses as answers, and a posted request's answer.
#![allow(dead_code)] // each test file uses its own part

use gaffer_model_sim::{ModelServer, Script};
use serde_json::Value;
use std::time::Duration;

/// The model server with the built-in script on a free loopback port.
pub fn server() -> ModelServer {
    ModelServer::start("127.0.0.1:0", Script::builtin(), None).expect("server starts")
}

/// An HTTP client that reads 4xx/5xx answers instead of failing on them.
pub fn agent(timeout: Option<Duration>) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(timeout)
        .build()
        .into()
}

/// A whole answer: status, headers (names lower case) and body.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub text: String,
}

impl Answer {
    /// The value of header `name`, any case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON; panics with the body if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("{e}: {}", self.text))
    }

    /// The `(event, data)` pairs of an SSE body; every event's data must be JSON.
    pub fn sse_events(&self) -> Vec<(String, Value)> {
        self.text
            .split("\n\n")
            .filter(|b| !b.trim().is_empty())
            .map(|block| {
                let mut ev = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event: ") {
                        ev = e.to_string();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                (ev, serde_json::from_str(&data).expect("event data is JSON"))
            })
            .collect()
    }
}

/// POSTs `body` as JSON to `path` of `s`, waiting at most `timeout` for the whole answer.
pub fn post(s: &ModelServer, path: &str, body: &Value, timeout: Option<Duration>) -> Answer {
    let mut resp = agent(timeout)
        .post(format!("{}{path}", s.url()))
        .header("content-type", "application/json")
        .send_json(body)
        .expect("request completes");
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let text = resp.body_mut().read_to_string().expect("body reads");
    Answer {
        status,
        headers,
        text,
    }
}
