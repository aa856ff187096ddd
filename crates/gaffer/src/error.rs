//! Errors that end the process with a documented exit code.

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
    /// A config error.
    pub fn config(message: impl Into<String>) -> Self {
        ExitError {
            code: exit::CONFIG,
            kind: "config",
            message: message.into(),
        }
    }

    /// A failure with a message.
    pub fn failure(message: impl Into<String>) -> Self {
        ExitError {
            code: exit::FAILURE,
            kind: "failure",
            message: message.into(),
        }
    }
}

impl fmt::Display for ExitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExitError {}
