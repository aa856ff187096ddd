//! Jumping to an agent's pane: inside tmux on the agents' server the client switches to it;
//! elsewhere the dashboard steps aside, attaches to the session at that pane, and comes back
//! when the human detaches.

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

/// Jumps to the pane; the message for the status line, or the error.
pub fn jump(
    s: &Sources,
    pane_id: &str,
    terminal: &mut ratatui::DefaultTerminal,
) -> Result<String, String> {
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
