//! Desktop notifications: `notify-send` on Linux, `osascript` on macOS. A missing tool is said
//! once (a warning and one `notify_failed` event), then the channel stays quiet.

use crate::channel::{Channel, SendError};
use crate::command::{Ran, first_line, run_bounded};
use gaffer_core::notify::Notification;
use std::process::Command;
use std::time::Duration;

/// How long the desktop tool may take.
const TOOL_LIMIT: Duration = Duration::from_secs(5);

/// The desktop channel.
pub struct Desktop {
    tool: String,
}

impl Desktop {
    /// The platform's tool: `osascript` on macOS, `notify-send` elsewhere.
    pub fn new() -> Desktop {
        let tool = if cfg!(target_os = "macos") {
            "osascript"
        } else {
            "notify-send"
        };
        Desktop::with_tool(tool)
    }

    /// A given tool (a path or a name on PATH), used the way `notify-send` or `osascript` is
    /// used (chosen by the file name).
    pub fn with_tool(tool: &str) -> Desktop {
        Desktop {
            tool: tool.to_string(),
        }
    }

    fn command(&self, n: &Notification) -> Command {
        let mut cmd = Command::new(&self.tool);
        if self.tool.ends_with("osascript") {
            cmd.arg("-e").arg(format!(
                "display notification {} with title {}",
                applescript_string(&n.message),
                applescript_string(&n.title)
            ));
        } else {
            let urgency = match n.priority {
                0..=2 => "low",
                3 => "normal",
                _ => "critical",
            };
            cmd.arg("--app-name=gaffer")
                .arg(format!("--urgency={urgency}"))
                .arg("--")
                .arg(&n.title)
                .arg(&n.message);
        }
        cmd
    }
}

impl Default for Desktop {
    fn default() -> Self {
        Desktop::new()
    }
}

impl Channel for Desktop {
    fn name(&self) -> &str {
        "desktop"
    }

    fn send(&mut self, n: &Notification) -> Result<(), SendError> {
        match run_bounded(self.command(n), b"", TOOL_LIMIT) {
            Ran::Exited(s, _) if s.success() => Ok(()),
            Ran::Exited(s, err) => Err(SendError::Transient(format!(
                "{} failed ({s}){}",
                self.tool,
                first_line(&err)
            ))),
            Ran::NotStarted(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(SendError::Missing(format!(
                    "desktop notifications need {}, which is not installed{}",
                    self.tool,
                    if self.tool.ends_with("notify-send") {
                        " (Debian/Ubuntu: apt install libnotify-bin; Fedora: dnf install libnotify)"
                    } else {
                        ""
                    }
                )))
            }
            Ran::NotStarted(e) => Err(SendError::Missing(format!(
                "{} could not start: {e}",
                self.tool
            ))),
            Ran::TimedOut => Err(SendError::Transient(format!(
                "{} ran past {TOOL_LIMIT:?} and was killed",
                self.tool
            ))),
        }
    }
}

/// An AppleScript string literal.
fn applescript_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applescript_strings_are_quoted() {
        assert_eq!(applescript_string(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(applescript_string("x\ny"), "\"x y\"");
    }
}
