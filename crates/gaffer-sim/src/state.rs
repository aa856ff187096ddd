//! The agent kinds the simulator draws and the states it can be in.

use std::fmt;
use std::str::FromStr;

/// Which agent's screens to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    /// Claude Code.
    Cc,
    /// Codex CLI.
    Cod,
    /// Gemini CLI.
    Gmi,
}

impl FromStr for Agent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // Names and aliases come from the kind registry; the sim draws these three kinds.
        match gaffer_core::kinds::registry().canonical(s).as_str() {
            "cc" => Ok(Agent::Cc),
            "cod" => Ok(Agent::Cod),
            "gmi" => Ok(Agent::Gmi),
            other => Err(format!("unknown agent {other:?} (expected cc, cod or gmi)")),
        }
    }
}

/// A state of the simulated agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimState {
    /// At the composer, waiting for a prompt.
    Waiting,
    /// Busy, thinking (spinner without output).
    Thinking,
    /// Busy, producing output and tool calls.
    Generating,
    /// A permission dialog waits for an answer.
    Blocked,
    /// A rate-limit message is shown; the composer is back.
    RateLimited,
    /// An error message is shown; the composer is back.
    Error,
    /// The agent quits to the shell.
    Exit,
}

impl SimState {
    /// The name used in flags, scripts and the state log.
    pub fn name(self) -> &'static str {
        match self {
            SimState::Waiting => "waiting",
            SimState::Thinking => "thinking",
            SimState::Generating => "generating",
            SimState::Blocked => "blocked",
            SimState::RateLimited => "rate-limited",
            SimState::Error => "error",
            SimState::Exit => "exit",
        }
    }
}

impl fmt::Display for SimState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SimState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "waiting" | "idle" => Ok(SimState::Waiting),
            "thinking" => Ok(SimState::Thinking),
            "generating" | "working" => Ok(SimState::Generating),
            "blocked" | "permission" => Ok(SimState::Blocked),
            "rate-limited" | "ratelimited" | "rate-limit" => Ok(SimState::RateLimited),
            "error" => Ok(SimState::Error),
            "exit" | "exited" => Ok(SimState::Exit),
            other => Err(format!(
                "unknown state {other:?} (expected waiting, thinking, generating, blocked, rate-limited, error, exit)"
            )),
        }
    }
}
