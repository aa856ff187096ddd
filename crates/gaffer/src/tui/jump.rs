//! Jumping to an agent's pane: inside tmux on the agents' server the client switches to it;
//! elsewhere the dashboard steps aside, attaches to the session at that pane, and comes back
//! when the human detaches. An agent on a `[[hosts]]` host (`host:%N`) is attached to there,
//! through a channel of the host's one SSH connection with a terminal (`ssh -t`).

use super::Sources;
use gaffer_coordinator::control::JumpTarget;
use gaffer_tmux::cmd::Socket;

/// Whether `$TMUX` (`socket_path,pid,session`) names the server of `socket`.
pub fn inside(tmux_env: Option<&str>, socket: &Socket) -> bool {
    let Some(path) = tmux_env.and_then(|v| v.split(',').next()) else {
        return false;
    };
    match socket {
        Socket::Default => path.ends_with("/default"),
        Socket::Name(n) => path.ends_with(&format!("/{n}")),
        Socket::Path(p) => std::path::Path::new(path) == p.as_path(),
    }
}

/// The tmux commands (arguments after `tmux`) that show `target`: select its window and pane,
/// then switch this client to it (`inside`) or attach to its session.
pub fn commands(socket: &Socket, target: &JumpTarget, inside: bool) -> Vec<Vec<String>> {
    let with = |args: &[&str]| -> Vec<String> {
        socket
            .args()
            .into_iter()
            .chain(args.iter().map(|a| a.to_string()))
            .collect()
    };
    let last = if inside {
        with(&["switch-client", "-t", &target.pane_id])
    } else {
        with(&["attach-session", "-t", &target.session])
    };
    vec![
        with(&["select-window", "-t", &target.pane_id]),
        with(&["select-pane", "-t", &target.pane_id]),
        last,
    ]
}

/// The command line run on a host to show its pane `pane_id` (the bare `%N`): select its
/// window and pane, then attach to `session`, in one tmux invocation (`;`-separated).
pub fn remote_commands(socket: &Socket, pane_id: &str, session: &str) -> Vec<String> {
    let mut v: Vec<String> = vec!["tmux".into()];
    v.extend(socket.args());
    for (i, cmd) in [
        ["select-window", "-t", pane_id],
        ["select-pane", "-t", pane_id],
        ["attach-session", "-t", session],
    ]
    .iter()
    .enumerate()
    {
        if i > 0 {
            v.push(";".into());
        }
        v.extend(cmd.iter().map(|a| a.to_string()));
    }
    v
}

/// Jumps to a pane on a `[[hosts]]` host: steps aside, attaches there over the host's
/// connection, and comes back when the human detaches.
fn jump_remote(
    s: &Sources,
    host: &str,
    key: &str,
    terminal: &mut ratatui::DefaultTerminal,
) -> Result<String, String> {
    let hp = s
        .conn
        .hosts
        .iter()
        .find(|h| h.name() == host)
        .ok_or_else(|| format!("{key}: no [[hosts]] entry named {host}"))?;
    let target = s.coord.jump_target(key).map_err(|e| e.to_string())?;
    let (_, pane) = gaffer_tmux::host::split_key(key);
    let conn = hp.connection();
    conn.connect()
        .map_err(|e| format!("host {host} unreachable: {e}"))?;
    let remote = remote_commands(hp.inner().tmux().socket(), pane, &target.session);
    ratatui::restore();
    let status = conn.interactive(&remote).status();
    *terminal = ratatui::try_init().map_err(|e| format!("the terminal: {e}"))?;
    match status {
        Ok(st) if st.success() => Ok(format!("back from {key} ({host}: {})", target.target)),
        Ok(st) => Err(format!(
            "attaching to {key} on {host}: ssh exited with {st}"
        )),
        Err(e) => Err(format!("attaching to {key} on {host}: running ssh: {e}")),
    }
}

/// Jumps to the pane; the message for the status line, or the error.
pub fn jump(
    s: &Sources,
    pane_id: &str,
    terminal: &mut ratatui::DefaultTerminal,
) -> Result<String, String> {
    if let (Some(host), _) = gaffer_tmux::host::split_key(pane_id) {
        return jump_remote(s, host, pane_id, terminal);
    }
    let target = s.coord.jump_target(pane_id).map_err(|e| e.to_string())?;
    let socket = s.conn.panes.tmux().socket().clone();
    let binary = s.conn.panes.tmux().binary().to_string();
    let here = inside(std::env::var("TMUX").ok().as_deref(), &socket);
    let cmds = commands(&socket, &target, here);
    let run = |args: &[String], interactive: bool| -> Result<(), String> {
        let mut c = std::process::Command::new(&binary);
        c.args(args);
        if !interactive {
            c.stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
        }
        let out = c
            .spawn()
            .and_then(|child| child.wait_with_output())
            .map_err(|e| format!("running tmux: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            Err(format!("tmux {}: {}", args.join(" "), err.trim()))
        }
    };
    let (setup, last) = cmds.split_at(cmds.len() - 1);
    for c in setup {
        run(c, false)?;
    }
    if here {
        run(&last[0], false)?;
        return Ok(format!(
            "switched to {} ({})",
            target.pane_id, target.target
        ));
    }
    // Step aside, attach, and come back after the human detaches.
    ratatui::restore();
    let attached = run(&last[0], true);
    *terminal = ratatui::try_init().map_err(|e| format!("the terminal: {e}"))?;
    attached.map(|()| format!("back from {} ({})", target.pane_id, target.target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_remote_pane_is_selected_then_its_session_attached_in_one_tmux_call() {
        let v = remote_commands(&Socket::Name("agents".into()), "%3", "proj");
        assert_eq!(
            v.join(" "),
            "tmux -L agents select-window -t %3 ; select-pane -t %3 ; attach-session -t proj"
        );
        // each word is quoted for the remote shell on its own, so `;` reaches tmux as a word
        let line: Vec<String> = v.iter().map(|w| gaffer_tmux::ssh::sh_quote(w)).collect();
        assert!(line.contains(&"';'".to_string()), "{line:?}");
        assert_eq!(
            remote_commands(&Socket::Default, "%0", "s")[..4],
            ["tmux", "select-window", "-t", "%0"]
        );
    }
}
