//! Restarting an agent in its own pane: the launch record (`@gaffer_launch`, written by
//! [`crate::spawn::spawn`]) and `respawn-pane -k`, which kills what runs in the pane and starts
//! the launch command as the pane's own process, followed by the user's shell so an exit leaves
//! a shell prompt (read as EXITED) rather than a closed pane. The title is set again from
//! `@gaffer_title`, so the agent keeps its identity (and its Agent Mail name).

use crate::cmd::{Tmux, TmuxError};
use crate::spawn::{check_command, tmux_literal};

/// The pane option that holds an agent pane's launch command.
pub const LAUNCH_OPTION: &str = "@gaffer_launch";
/// The pane option that holds an agent pane's title.
pub const TITLE_OPTION: &str = "@gaffer_title";

fn pane_format(tmux: &Tmux, pane_id: &str, format: &str) -> Result<String, TmuxError> {
    Ok(tmux
        .run(&["display-message", "-p", "-t", pane_id, format])?
        .trim_end_matches('\n')
        .to_string())
}

/// The launch command recorded on a pane, `None` when it has none.
pub fn launch_command(tmux: &Tmux, pane_id: &str) -> Result<Option<String>, TmuxError> {
    let v = pane_format(tmux, pane_id, &format!("#{{{LAUNCH_OPTION}}}"))?;
    Ok((!v.trim().is_empty()).then_some(v))
}

/// The shell command a respawned pane runs: the launch command as a foreground job (`set -m`,
/// so the agent, not the wrapping shell, is the pane's current command), then the user's shell.
pub fn respawn_command(command: &str) -> String {
    format!("set -m; {command}; exec \"${{SHELL:-/bin/sh}}\"")
}

/// Kills what runs in `pane_id` and starts `command` there (then the user's shell), in the
/// pane's current directory; sets the title again from `@gaffer_title` and records `command`
/// as the pane's launch command.
pub fn respawn(tmux: &Tmux, pane_id: &str, command: &str) -> Result<(), TmuxError> {
    let failed = |stderr: String| TmuxError::Failed {
        command: "respawn".into(),
        status: -1,
        stderr,
        stdout: String::new(),
    };
    check_command(command).map_err(failed)?;
    if command.trim().is_empty() {
        return Err(failed("empty launch command".into()));
    }
    let info = pane_format(
        tmux,
        pane_id,
        &format!("#{{pane_current_path}}\t#{{{TITLE_OPTION}}}"),
    )?;
    let (dir, title) = info.split_once('\t').unwrap_or((info.as_str(), ""));
    let mut args = vec!["respawn-pane", "-k", "-t", pane_id];
    if !dir.is_empty() {
        args.extend(["-c", dir]);
    }
    let shell = respawn_command(command);
    args.push(&shell);
    tmux.run(&args)?;
    let record = tmux_literal(command);
    let mut after: Vec<&str> = vec!["set-option", "-p", "-t", pane_id, LAUNCH_OPTION, &record];
    if !title.is_empty() {
        after.extend([";", "select-pane", "-t", pane_id, "-T", title]);
    }
    tmux.run(&after)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shell_follows_the_agent() {
        assert_eq!(
            respawn_command("cd '/p' && claude"),
            "set -m; cd '/p' && claude; exec \"${SHELL:-/bin/sh}\""
        );
    }
}
