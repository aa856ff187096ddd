//! `spawn`: a session of agent panes titled `<session>__<type>_<index>`, laid out over windows
//! of at most [`Layout::panes_per_window`] tiled panes, each pane running its agent as the
//! pane's own command (nothing is typed into a shell).
//!
//! Each pane's command is `sh -c 'set -m; <launch command>'`: with job control on (`set -m`),
//! the agent runs as the terminal's foreground process group, so tmux's
//! `pane_current_command` names the agent, not the wrapper shell. What happens when the agent
//! exits is [`Layout::keep_shell`]:
//! * `false`: the pane is kept dead (`remain-on-exit on`); tmux reports `pane_dead = 1` and the
//!   observation reads it as EXITED. `respawn-pane` starts the agent again;
//! * `true`: `exec "${SHELL:-/bin/sh}"` follows the agent, so the pane is a usable shell and the
//!   detector reads EXITED from the shell command and prompt, as for an agent quit by hand.
//!
//! Each pane is made, titled (tmux title and the `@gaffer_title` pane option, which programs
//! in the pane cannot change) and given `remain-on-exit` by one tmux command list, so an agent
//! that exits at once is still seen.

use crate::cmd::{Tmux, TmuxError, exact_session};
use gaffer_core::pane::{format_pane_name, validate_session_name};
use std::path::Path;

/// One agent to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSpec {
    /// Agent type code (`cc`, `cod`, `gmi`, …).
    pub agent_type: String,
    /// Model alias or persona name for the title.
    pub variant: Option<String>,
    /// The launch command, run by `sh -c` as the pane's own command.
    pub command: String,
}

/// How the panes of a spawned session are laid out, and what an exited agent leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Size of every window, columns × rows.
    pub size: (u32, u32),
    /// Agent panes per window (at least 1), tiled.
    pub panes_per_window: u32,
    /// Keep a shell in the pane after the agent exits (else the pane is kept dead).
    pub keep_shell: bool,
}

impl Default for Layout {
    fn default() -> Self {
        Layout {
            size: (200, 50),
            panes_per_window: 4,
            keep_shell: false,
        }
    }
}

/// A pane made by [`spawn`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SpawnedPane {
    /// Pane id.
    pub pane_id: String,
    /// Title set on it.
    pub title: String,
    /// Agent type.
    pub agent_type: String,
    /// 1-based index per type.
    pub index: u32,
    /// Index of its window in the session.
    pub window: u32,
}

/// Why a launch command was refused.
pub fn check_command(cmd: &str) -> Result<(), String> {
    if let Some(c) = cmd
        .chars()
        .find(|c| (*c as u32) < 0x20 && *c != ' ' && *c != '\t')
    {
        return Err(format!("launch command contains control character {:?}", c));
    }
    Ok(())
}

/// Single-quotes a word for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A trailing `;` in a tmux argument is read as a command separator; escape it.
pub(crate) fn tmux_literal(s: &str) -> String {
    match s.strip_suffix(';') {
        Some(head) => format!("{head}\\;"),
        None => s.to_string(),
    }
}

/// The script `sh -c` runs in a pane: the launch command as the foreground job, then a shell
/// when `keep_shell`.
pub fn pane_script(command: &str, keep_shell: bool) -> String {
    if keep_shell {
        format!("set -m; {command}\nexec \"${{SHELL:-/bin/sh}}\"")
    } else {
        format!("set -m; {command}")
    }
}

fn failed(stderr: String) -> TmuxError {
    TmuxError::Failed {
        command: "spawn".into(),
        status: -1,
        stderr,
        stdout: String::new(),
    }
}

/// Creates `session` in `dir` with one pane per agent, `layout.panes_per_window` tiled panes
/// per window, each titled and running its agent. Fails when the session exists already.
pub fn spawn(
    tmux: &Tmux,
    session: &str,
    dir: &Path,
    agents: &[AgentSpec],
    layout: &Layout,
) -> Result<Vec<SpawnedPane>, TmuxError> {
    validate_session_name(session).map_err(|e| failed(e.to_string()))?;
    for a in agents {
        check_command(&a.command).map_err(failed)?;
    }
    if agents.is_empty() {
        return Err(failed("no agents to spawn".into()));
    }
    if tmux.has_session(session)? {
        return Err(failed(format!("session {session:?} already exists")));
    }
    let dir_s = dir.display().to_string();
    let (w, h) = layout.size;
    let (w, h) = (w.to_string(), h.to_string());
    let per_window = layout.panes_per_window.max(1) as usize;
    let target = exact_session(session);
    let mut counts: std::collections::HashMap<&str, u32> = Default::default();
    let mut out: Vec<SpawnedPane> = Vec::with_capacity(agents.len());
    for (i, a) in agents.iter().enumerate() {
        let n = counts.entry(a.agent_type.as_str()).or_insert(0);
        *n += 1;
        let title = format_pane_name(session, &a.agent_type, *n, a.variant.as_deref());
        let script = tmux_literal(&pane_script(&a.command, layout.keep_shell));
        // The launch record a restart runs again (`crate::respawn`).
        let record = tmux_literal(&format!("cd {} && {}", shell_quote(&dir_s), a.command));
        let slot = i % per_window;
        let window = (i / per_window) as u32;
        // The first pane of a window makes the window; the others split its first pane. Not
        // detached (`-d`), so the new pane is the current target of the commands after it.
        let mut argv: Vec<&str> = match (i, slot) {
            (0, _) => vec!["new-session", "-d", "-s", session, "-x", &w, "-y", &h],
            (_, 0) => vec!["new-window", "-t", &target],
            _ => vec!["split-window", "-t", &out[i - slot].pane_id],
        };
        argv.extend(["-c", &dir_s, "-P", "-F", "#{pane_id}", "--", "sh", "-c"]);
        argv.push(&script);
        argv.extend([";", "select-pane", "-T", &title]);
        argv.extend([";", "set-option", "-p", "@gaffer_title", &title]);
        argv.extend([
            ";",
            "set-option",
            "-p",
            crate::respawn::LAUNCH_OPTION,
            &record,
        ]);
        if !layout.keep_shell {
            argv.extend([";", "set-option", "-p", "remain-on-exit", "on"]);
        }
        if slot > 0 {
            // Tiled after every split keeps room for the next one.
            argv.extend([";", "select-layout", "tiled"]);
        }
        let id = tmux.run(&argv)?;
        let pane_id = id.lines().next().unwrap_or("").trim().to_string();
        if !pane_id.starts_with('%') {
            return Err(failed(format!("tmux gave no pane id: {id:?}")));
        }
        out.push(SpawnedPane {
            pane_id,
            title,
            agent_type: a.agent_type.clone(),
            index: *n,
            window,
        });
    }
    // `allow-set-title` exists from tmux 3.4; older servers refuse it (the `@gaffer_title`
    // option still holds the title there).
    let mut lock: Vec<&str> = Vec::new();
    for p in &out {
        lock.extend([
            "set-option",
            "-p",
            "-t",
            &p.pane_id,
            "allow-set-title",
            "off",
            ";",
        ]);
    }
    lock.pop();
    if let Err(e) = tmux.run(&lock) {
        tracing::debug!(error = %e, "allow-set-title not supported; relying on @gaffer_title");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_checked() {
        assert!(check_command("claude --model opus").is_ok());
        assert!(check_command("a\nb").is_err());
        assert!(check_command("a\u{1b}b").is_err());
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("/projects/foo bar"), "'/projects/foo bar'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(tmux_literal("echo a;"), "echo a\\;");
        assert_eq!(tmux_literal("echo a"), "echo a");
    }

    #[test]
    fn scripts() {
        assert_eq!(pane_script("claude", false), "set -m; claude");
        assert_eq!(
            pane_script("claude", true),
            "set -m; claude\nexec \"${SHELL:-/bin/sh}\""
        );
    }
}
