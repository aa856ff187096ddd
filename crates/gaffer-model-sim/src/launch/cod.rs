//! The real Codex CLI (`cod`): its throwaway HOME and launch.
//!
//! `$HOME/.codex/config.toml` points Codex at the scripted model server through a custom
//! provider (`wire_api = "responses"`), trusts the project, and turns on the status line items
//! that show context usage (`run-state`, `context-remaining`, `context-used`). Codex runs with
//! `--no-daemon`, so every instance is its own process with its own config.

use super::{Cli, LaunchOptions, Setup};
use std::path::Path;

/// The environment variable that carries the (fake) API key of the mock provider.
pub const API_KEY_ENV: &str = "GAFFER_MOCK_OPENAI_KEY";

/// The model Codex asks for.
pub const MODEL: &str = "gpt-5.1-codex";

/// The context window configured when the options name none.
pub const DEFAULT_CONTEXT_WINDOW: u64 = 200_000;

/// Retries Codex makes on a failed stream or request before it gives up (kept small so the
/// final error screens come within seconds; the retrying screens show `1/2`).
pub const MAX_RETRIES: u32 = 2;

fn toml_str(s: &str) -> String {
    // TOML basic strings take JSON string escapes.
    serde_json::Value::String(s.to_string()).to_string()
}

/// The text of `config.toml` for a launch.
pub fn config_toml(cwd: &Path, model_url: &str, opts: &LaunchOptions) -> String {
    let base_url = format!("{}/v1", model_url.trim_end_matches('/'));
    let window = opts.context_window.unwrap_or(DEFAULT_CONTEXT_WINDOW);
    let (approval, sandbox) = if opts.allow_tools {
        ("never", "danger-full-access")
    } else {
        ("on-request", "workspace-write")
    };
    let mut s = String::new();
    s.push_str(&format!("model = {}\n", toml_str(MODEL)));
    if !opts.first_run {
        // Without a provider that needs no sign-in, Codex opens with its sign-in chooser.
        s.push_str("model_provider = \"mock\"\n");
    }
    s.push_str(&format!("approval_policy = {}\n", toml_str(approval)));
    s.push_str(&format!("sandbox_mode = {}\n", toml_str(sandbox)));
    s.push_str(&format!("model_context_window = {window}\n"));
    // Codex compacts the conversation before a turn once the context holds this many tokens
    // (what it does on its own for models it knows: about 90% of the window).
    s.push_str(&format!(
        "model_auto_compact_token_limit = {}\n",
        window / 10 * 9
    ));
    s.push_str("check_for_update_on_startup = false\n");
    s.push_str("\n[model_providers.mock]\n");
    s.push_str("name = \"gaffer-model-sim\"\n");
    s.push_str(&format!("base_url = {}\n", toml_str(&base_url)));
    s.push_str("wire_api = \"responses\"\n");
    s.push_str(&format!("env_key = {}\n", toml_str(API_KEY_ENV)));
    s.push_str(&format!("request_max_retries = {MAX_RETRIES}\n"));
    s.push_str(&format!("stream_max_retries = {MAX_RETRIES}\n"));
    if !opts.first_run {
        s.push_str(&format!(
            "\n[projects.{}]\ntrust_level = \"trusted\"\n",
            toml_str(&cwd.display().to_string())
        ));
    }
    s.push_str("\n[tui]\n");
    s.push_str("status_line = [\"run-state\", \"context-remaining\", \"context-used\"]\n");
    s
}

/// Writes the config and says how to launch the CLI.
pub(super) fn configure(s: &Setup<'_>) -> std::io::Result<Cli> {
    let (cwd, model_url, opts) = (s.cwd, s.model_url, s.opts);
    std::fs::write(s.dir.join("config.toml"), config_toml(cwd, model_url, opts))?;
    // The npm launcher is a node script; node is in the standard directories of base_env.
    Ok(Cli {
        args: vec!["--no-daemon".into()],
        extra_path: Vec::new(),
        env: vec![(API_KEY_ENV.into(), "gaffer-not-a-real-key".into())],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_points_at_the_server_and_trusts_the_project() {
        let opts = LaunchOptions {
            context_window: Some(50_000),
            ..Default::default()
        };
        let c = config_toml(Path::new("/tmp/p \"q\""), "http://127.0.0.1:9/", &opts);
        assert!(c.contains("model_provider = \"mock\""));
        assert!(c.contains("base_url = \"http://127.0.0.1:9/v1\""));
        assert!(c.contains("model_context_window = 50000"));
        assert!(c.contains("[projects.\"/tmp/p \\\"q\\\"\"]"));
        assert!(c.contains("approval_policy = \"on-request\""));
        assert!(c.contains("\"context-used\""));
        let first = config_toml(
            Path::new("/tmp/p"),
            "http://127.0.0.1:9",
            &LaunchOptions {
                first_run: true,
                ..Default::default()
            },
        );
        assert!(!first.contains("model_provider = "));
        assert!(!first.contains("trust_level"));
    }
}
