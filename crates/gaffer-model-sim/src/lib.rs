//! gaffer-model-sim: a scripted model server for the real agent CLIs.
//!
//! It listens on loopback only and speaks enough of three vendor APIs to run Claude Code
//! (Anthropic Messages), Codex CLI (OpenAI Responses) and Gemini CLI (generateContent). What the
//! "model" answers comes from a [`Script`]: a keyword in the last user text chooses a rule, or a
//! mode set through the control endpoint overrides the script. Every request body is logged, so
//! a test can assert what reached the model.
//!
//! [`agents`] reads the pinned CLIs (`agents.lock`) and where they are installed; [`launch`]
//! prepares a throwaway HOME and the exact command that points each real CLI at this server.
//!
//! Control endpoint (JSON): `GET /_control/health`, `GET /_control/log`, `POST /_control/mode`
//! ([`Mode`]), `DELETE /_control/mode`, `POST /_control/script` ([`Script`]).

pub mod agents;
pub mod anthropic;
pub mod gemini;
pub mod launch;
pub mod openai;
pub mod script;
pub mod server;

pub use script::{Decision, ErrorKind, Mode, Reply, Rule, Script, ToolCall, Turn, Usage};
pub use server::{HttpRequest, HttpResponse, LogEntry, ModelServer, ServerError, Sink, State};

/// Sends a request to the vendor module that speaks its API.
pub fn route(req: &HttpRequest, state: &State) -> HttpResponse {
    let p = req.path.as_str();
    if p.starts_with("/v1/messages") {
        anthropic::handle(req, state)
    } else if p.starts_with("/v1/responses") || p == "/v1/models" {
        openai::handle(req, state)
    } else if p.starts_with("/v1beta/") || p.starts_with("/v1/models/") {
        gemini::handle(req, state)
    } else {
        HttpResponse::json(
            404,
            &serde_json::json!({"error": {"message": format!("gaffer-model-sim: no route for {} {}", req.method, p)}}),
        )
    }
}
