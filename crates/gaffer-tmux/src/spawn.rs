//! `spawn`: a session whose panes are titled `<session>__<type>_<index>`, with
//! `allow-set-title off` and each agent's launch command typed into its shell.

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
    /// The launch command, typed into the pane's shell.
    pub command: String,
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

/// Creates `session` in `dir` with one pane per agent, titles them, and starts each agent.
/// Fails when the session exists already.
pub fn spawn(
    tmux: &Tmux,
    session: &str,
    dir: &Path,
    agents: &[AgentSpec],
    size: (u32, u32),
) -> Result<Vec<SpawnedPane>, TmuxError> {
    validate_session_name(session).map_err(|e| TmuxError::Failed {
        command: "spawn".into(),
        status: -1,
        stderr: e.to_string(),
        stdout: String::new(),
    })?;
    for a in agents {
        check_command(&a.command).map_err(|e| TmuxError::Failed {
            command: "spawn".into(),
            status: -1,
            stderr: e,
            stdout: String::new(),
        })?;
    }
    if tmux.has_session(session)? {
        return Err(TmuxError::Failed {
            command: "spawn".into(),
            status: -1,
            stderr: format!("session {session:?} already exists"),
            stdout: String::new(),
        });
    }
    let dir_s = dir.display().to_string();
    let (w, h) = size;
    let first = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        session,
        "-c",
        &dir_s,
        "-x",
        &w.to_string(),
        "-y",
        &h.to_string(),
        "-P",
        "-F",
        "#{pane_id}",
    ])?;
    let mut pane_ids = vec![first.trim().to_string()];
    let target = exact_session(session);
    for _ in 1..agents.len() {
        let id = tmux.run(&[
            "split-window",
            "-t",
            &target,
            "-c",
            &dir_s,
            "-P",
            "-F",
            "#{pane_id}",
        ])?;
        pane_ids.push(id.trim().to_string());
        // A tiled layout after every split keeps room for the next one.
        let _ = tmux.run(&["select-layout", "-t", &target, "tiled"]);
    }
    let mut counts: std::collections::HashMap<&str, u32> = Default::default();
    let mut out = Vec::new();
    // One command list titles every pane (tmux title plus the `@gaffer_title` pane option, which
    // programs in the pane cannot change) and records its launch command (`@gaffer_launch`, what
    // a restart runs again); a second one types every launch command.
    let mut titles: Vec<String> = Vec::new();
    let mut launches: Vec<String> = Vec::new();
    for (a, pane) in agents.iter().zip(&pane_ids) {
        let n = counts.entry(a.agent_type.as_str()).or_insert(0);
        *n += 1;
        let title = format_pane_name(session, &a.agent_type, *n, a.variant.as_deref());
        let launch = format!("cd {} && {}", shell_quote(&dir_s), a.command);
        let record = tmux_literal(&launch);
        for part in [
            vec!["select-pane", "-t", pane, "-T", &title],
            vec!["set-option", "-p", "-t", pane, "@gaffer_title", &title],
            vec![
                "set-option",
                "-p",
                "-t",
                pane,
                crate::respawn::LAUNCH_OPTION,
                &record,
            ],
        ] {
            titles.extend(part.into_iter().map(String::from));
            titles.push(";".into());
        }
        launches.extend(
            ["send-keys", "-t", pane, "-l", "--"]
                .into_iter()
                .map(String::from),
        );
        launches.push(tmux_literal(&launch));
        launches.push(";".into());
        launches.extend(
            ["send-keys", "-t", pane, "Enter"]
                .into_iter()
                .map(String::from),
        );
        launches.push(";".into());
        out.push(SpawnedPane {
            pane_id: pane.clone(),
            title,
            agent_type: a.agent_type.clone(),
            index: *n,
        });
    }
    titles.pop();
    launches.pop();
    if !titles.is_empty() {
        tmux.run(&titles)?;
        // `allow-set-title` exists from tmux 3.4; older servers refuse it (the `@gaffer_title`
        // option still holds the title there).
        let mut lock: Vec<String> = Vec::new();
        for pane in &pane_ids {
            lock.extend(
                [
                    "set-option",
                    "-p",
                    "-t",
                    pane,
                    "allow-set-title",
                    "off",
                    ";",
                ]
                .into_iter()
                .map(String::from),
            );
        }
        lock.pop();
        if let Err(e) = tmux.run(&lock) {
            tracing::debug!(error = %e, "allow-set-title not supported; relying on @gaffer_title");
        }
        tmux.run(&launches)?;
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
}
