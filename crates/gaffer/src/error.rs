//! Errors that end the process with a documented exit code, and the one mapping from each
//! library error to its code.

use gaffer_core::exit;
use std::fmt;

/// An error that carries its exit code. Other errors exit with `FAILURE`.
#[derive(Debug)]
pub struct ExitError {
    /// The exit code (see `gaffer_core::exit`).
    pub code: i32,
    /// A short machine name for the code, e.g. `config`.
    pub kind: &'static str,
    /// The message for humans.
    pub message: String,
}

impl ExitError {
    fn new(code: i32, kind: &'static str, message: impl Into<String>) -> Self {
        ExitError {
            code,
            kind,
            message: message.into(),
        }
    }

    /// A config error.
    pub fn config(message: impl Into<String>) -> Self {
        Self::new(exit::CONFIG, "config", message)
    }

    /// A failure with a message.
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(exit::FAILURE, "failure", message)
    }

    /// Bad command-line use.
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(exit::USAGE, "usage", message)
    }

    /// Something needed (tmux, a tool, a server) is not reachable.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(exit::UNAVAILABLE, "unavailable", message)
    }

    /// Something named does not exist.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(exit::NOT_FOUND, "not_found", message)
    }

    /// The same error with `context: ` before its message.
    #[allow(dead_code)]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitError {}
