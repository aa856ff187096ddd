//! Errors that end the process with a documented exit code, and the one mapping from each
//! library error to its code.

use gaffer_coordinator::CoordinatorError;
use gaffer_core::conflicts::ConflictError;
use gaffer_core::control::ControlError;
use gaffer_core::exit;
use gaffer_core::mailbox::MailError;
use gaffer_core::work_source::WorkSourceError;
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

/// Agent Mail: missing things are `NOT_FOUND`, an unreachable or slow server `UNAVAILABLE`,
/// the rest `FAILURE`; the kind is the mail error's own.
impl From<MailError> for ExitError {
    fn from(e: MailError) -> Self {
        let code = match e {
            MailError::NotFound(_) => exit::NOT_FOUND,
            MailError::Unavailable(_) | MailError::Timeout(_) => exit::UNAVAILABLE,
            _ => exit::FAILURE,
        };
        ExitError::new(code, e.kind(), format!("agent mail: {e}"))
    }
}

/// Conflicts that cannot be determined: `UNAVAILABLE` with kind `unknown` (callers fail
/// closed).
impl From<ConflictError> for ExitError {
    fn from(e: ConflictError) -> Self {
        ExitError::new(exit::UNAVAILABLE, "unknown", e.to_string())
    }
}

/// The work source (`bv`, `br`, native): a tool that is missing, slow or failing is
/// `UNAVAILABLE`, a missing issue `NOT_FOUND`, unreadable data `FAILURE`.
impl From<WorkSourceError> for ExitError {
    fn from(e: WorkSourceError) -> Self {
        match &e {
            WorkSourceError::Unavailable { .. }
            | WorkSourceError::Timeout { .. }
            | WorkSourceError::Failed { .. } => ExitError::unavailable(e.to_string()),
            WorkSourceError::NotFound { .. } => ExitError::not_found(e.to_string()),
            WorkSourceError::Parse { .. } | WorkSourceError::Io { .. } => {
                ExitError::failure(e.to_string())
            }
        }
    }
}

/// The coordinator: an unknown agent is `NOT_FOUND`, the rest `FAILURE`.
impl From<CoordinatorError> for ExitError {
    fn from(e: CoordinatorError) -> Self {
        match e {
            CoordinatorError::AgentNotFound(_)
            | CoordinatorError::Control(
                ControlError::AgentNotFound(_)
                | ControlError::NotAssigned(_)
                | ControlError::UnknownBead(_),
            ) => ExitError::not_found(e.to_string()),
            CoordinatorError::Panes(_) => ExitError::unavailable(e.to_string()),
            other => ExitError::failure(other.to_string()),
        }
    }
}

/// Files: a missing one is `NOT_FOUND`, any other error `FAILURE`.
impl From<std::io::Error> for ExitError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            ExitError::not_found(e.to_string())
        } else {
            ExitError::failure(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_errors_map_to_their_exit_codes() {
        let m = ExitError::from(MailError::Timeout("slow".into()));
        assert_eq!((m.code, m.kind), (exit::UNAVAILABLE, "timeout"));
        assert_eq!(m.message, "agent mail: timeout: slow");
        let m = ExitError::from(MailError::NotFound("x".into()));
        assert_eq!((m.code, m.kind), (exit::NOT_FOUND, "not_found"));
        let m = ExitError::from(MailError::Conflict("x".into()));
        assert_eq!((m.code, m.kind), (exit::FAILURE, "conflict"));
        let c = ExitError::from(ConflictError::Unknown(MailError::Unavailable(
            "down".into(),
        )));
        assert_eq!((c.code, c.kind), (exit::UNAVAILABLE, "unknown"));
        let w = ExitError::from(WorkSourceError::Timeout {
            tool: "bv".into(),
            seconds: 1.0,
        });
        assert_eq!((w.code, w.kind), (exit::UNAVAILABLE, "unavailable"));
        let a = ExitError::from(CoordinatorError::AgentNotFound("%9".into()));
        assert_eq!((a.code, a.kind), (exit::NOT_FOUND, "not_found"));
        assert_eq!(a.message, "agent not found: %9");
        let f = ExitError::from(CoordinatorError::NoOtherHolders);
        assert_eq!((f.code, f.kind), (exit::FAILURE, "failure"));
        let io = ExitError::from(std::io::Error::from(std::io::ErrorKind::NotFound))
            .context("cannot read x");
        assert_eq!((io.code, io.kind), (exit::NOT_FOUND, "not_found"));
        assert!(io.message.starts_with("cannot read x: "), "{}", io.message);
    }
}
