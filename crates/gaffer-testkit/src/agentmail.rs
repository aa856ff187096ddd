//! The real Agent Mail server, started through the project's `scripts/agentmail.sh` on a free
//! loopback port with a temporary state directory, and stopped by its PID when dropped.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

/// `scripts/agentmail.sh`.
pub fn script() -> PathBuf {
    crate::workspace_root().join("scripts/agentmail.sh")
}

/// CI is running (`CI=true` or `CI=1`): the real server is then required.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A running server; stopped on drop.
pub struct AgentMail {
    /// Its MCP URL (`http://127.0.0.1:PORT/mcp/`).
    pub url: String,
    /// Its port.
    pub port: u16,
    /// Its state directory.
    pub state: tempfile::TempDir,
}

impl AgentMail {
    /// Starts a server on a free port. In CI a failure panics; elsewhere it prints
    /// `SKIPPED: …` and returns `None`, so machines without Python venv support run the rest.
    pub fn start() -> Option<AgentMail> {
        Self::start_with(None, None)
    }

    /// Like [`start`](Self::start), on `port` (or a free one); with a token the server demands
    /// `Authorization: Bearer <token>`.
    pub fn start_with(port: Option<u16>, token: Option<&str>) -> Option<AgentMail> {
        let state = tempfile::Builder::new()
            .prefix("gaffer-agentmail-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir: {e}"));
        match launch(&state, port, token) {
            Ok(url) => {
                let port = url
                    .trim_start_matches("http://127.0.0.1:")
                    .split('/')
                    .next()
                    .and_then(|p| p.parse().ok())
                    .unwrap_or_else(|| panic!("no port in {url}"));
                Some(AgentMail { url, port, state })
            }
            Err(msg) => {
                // Nothing to stop, but the script may have left a half-started process.
                stop(&state);
                if in_ci() {
                    panic!("CI: the real Agent Mail server could not be started: {msg}");
                }
                eprintln!("SKIPPED: real Agent Mail server unavailable here: {msg}");
                None
            }
        }
    }

    /// Stops the server by its PID (the state stays).
    pub fn stop(&self) {
        stop(&self.state);
    }

    /// Starts it again on the same port with the same state; panics when it cannot.
    pub fn restart(&self) {
        if let Err(e) = launch(&self.state, Some(self.port), None) {
            panic!("restarting Agent Mail: {e}");
        }
    }

    /// Starts it again on the same port with the same state, waiting up to `timeout` for it
    /// to be healthy (`GAFFER_AGENTMAIL_START_TIMEOUT`); on failure what was half started is
    /// stopped and the reason returned.
    pub fn try_restart(&self, timeout: std::time::Duration) -> Result<(), String> {
        launch_with_timeout(&self.state, Some(self.port), None, Some(timeout)).map(|_| ())
    }
}

impl Drop for AgentMail {
    fn drop(&mut self) {
        self.stop();
    }
}

fn launch(
    state: &tempfile::TempDir,
    port: Option<u16>,
    token: Option<&str>,
) -> Result<String, String> {
    launch_with_timeout(state, port, token, None)
}

fn launch_with_timeout(
    state: &tempfile::TempDir,
    port: Option<u16>,
    token: Option<&str>,
    timeout: Option<std::time::Duration>,
) -> Result<String, String> {
    let started = Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(script())
        .arg("start")
        .arg(state.path())
        .arg(port.map(|p| p.to_string()).unwrap_or_default())
        .env_remove("AGENT_MAIL_TOKEN");
    if let Some(t) = timeout {
        cmd.env(
            "GAFFER_AGENTMAIL_START_TIMEOUT",
            t.as_secs().max(1).to_string(),
        );
    }
    if let Some(t) = token {
        cmd.env("AGENT_MAIL_TOKEN", t);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run agentmail.sh: {e}"))?;
    if !out.status.success() {
        if timeout.is_some() {
            stop(state);
        }
        return Err(format!(
            "agentmail.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    eprintln!(
        "real Agent Mail server at {url} (ready in {:?})",
        started.elapsed()
    );
    Ok(url)
}

fn stop(state: &tempfile::TempDir) {
    let _ = Command::new("bash")
        .arg(script())
        .arg("stop")
        .arg(state.path())
        .output();
}
