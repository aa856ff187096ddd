//! `gaffer spawn`: a tmux session with one titled pane per agent (`<session>__<type>_<n>`),
//! each agent's launch command typed into its shell.

use crate::cli::{GlobalArgs, SpawnArgs};
use crate::commands::status::unavailable;
use crate::config_load;
use crate::error::ExitError;
use gaffer_core::exit;
use gaffer_tmux::cmd::{Socket, Tmux};
use gaffer_tmux::spawn::{AgentSpec, spawn};
use serde_json::json;
use std::time::Duration;

fn usage(message: String) -> ExitError {
    ExitError {
        code: exit::USAGE,
        kind: "usage",
        message,
    }
}

/// Starts the session.
pub fn run(global: &GlobalArgs, args: &SpawnArgs) -> anyhow::Result<i32> {
    let loaded = config_load::load(global)?;
    let cfg = &loaded.config.tmux;
    let mut commands = [
        ("cc".to_string(), "claude".to_string()),
        ("cod".to_string(), "codex".to_string()),
        ("gmi".to_string(), "gemini".to_string()),
    ];
    for c in &args.cmds {
        let (ty, cmd) = c
            .split_once('=')
            .ok_or_else(|| usage(format!("--cmd {c:?}: expected TYPE=COMMAND")))?;
        let slot = commands
            .iter_mut()
            .find(|(t, _)| t == ty.trim())
            .ok_or_else(|| usage(format!("--cmd {c:?}: type must be cc, cod or gmi")))?;
        slot.1 = cmd.to_string();
    }
    let mut specs = Vec::new();
    for (ty, n) in [("cc", args.cc), ("cod", args.cod), ("gmi", args.gmi)] {
        let cmd = commands
            .iter()
            .find(|(t, _)| t == ty)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        for _ in 0..n {
            specs.push(AgentSpec {
                agent_type: ty.into(),
                variant: None,
                command: cmd.clone(),
            });
        }
    }
    if specs.is_empty() {
        return Err(usage("nothing to spawn: give --cc N, --cod N and/or --gmi N".into()).into());
    }
    let socket = match (&args.tmux.socket_path, &args.tmux.socket) {
        (Some(p), _) => Socket::Path(p.clone()),
        (None, Some(n)) => Socket::Name(n.clone()),
        (None, None) => Socket::from_config(&cfg.socket_name, &cfg.socket_path),
    };
    let session = args
        .tmux
        .session
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| Some(cfg.session.clone()).filter(|s| !s.is_empty()))
        .or_else(|| {
            loaded
                .project_root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "agents".into());
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| loaded.project_root.clone());
    let tmux = Tmux::new(socket, cfg.command_timeout.max(Duration::from_secs(1)));
    let panes = spawn(&tmux, &session, &dir, &specs, (200, 50))
        .map_err(|e| unavailable(format!("tmux: {e}")))?;
    if global.json {
        println!("{}", json!({"session": session, "panes": panes}));
    } else {
        println!("session {session}: {} pane(s)", panes.len());
        for p in &panes {
            println!("  {:<5} {}", p.pane_id, p.title);
        }
    }
    Ok(exit::SUCCESS)
}
