//! Restarting an agent in its own pane: the launch record (`@gaffer_launch`, written by
//! [`crate::spawn::spawn`]) and `respawn-pane -k`, which kills what runs in the pane and starts
//! the launch command as the pane's own command, the way `spawn` does ([`pane_script`]: the
//! agent as the foreground job; then the user's shell, unless the pane is kept dead by
//! `remain-on-exit`, so a later exit reads EXITED either way). The title is set again from
//! `@gaffer_title`, so the agent keeps its identity (and its Agent Mail name).

use crate::cmd::{Tmux, TmuxError};
use crate::spawn::{check_command, pane_script, tmux_literal};

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
        &format!("#{{pane_current_path}}\t#{{{TITLE_OPTION}}}\t#{{remain-on-exit}}"),
    )?;
    let mut fields = info.split('\t');
    let dir = fields.next().unwrap_or("");
    let title = fields.next().unwrap_or("");
    let keep_shell = fields.next().unwrap_or("") != "on";
    let mut args = vec!["respawn-pane", "-k", "-t", pane_id];
    if !dir.is_empty() {
        args.extend(["-c", dir]);
    }
    let script = tmux_literal(&pane_script(command, keep_shell));
    args.extend(["--", "sh", "-c", &script]);
    tmux.run(&args)?;
    let record = tmux_literal(command);
    let mut after: Vec<&str> = vec!["set-option", "-p", "-t", pane_id, LAUNCH_OPTION, &record];
    if !title.is_empty() {
        after.extend([";", "select-pane", "-t", pane_id, "-T", title]);
    }
    tmux.run(&after)?;
    Ok(())
}
