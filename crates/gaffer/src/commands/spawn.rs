//! `gaffer spawn`: a tmux session of agent panes titled `<session>__<type>_<index>`, titles
//! locked, laid out over windows of `panes_per_window` tiled panes, each running its agent as
//! the pane's own command.

use crate::adapters;
use crate::cli::{GlobalArgs, SpawnArgs};
use crate::config_load;
use crate::error::ExitError;
use crate::output::Output;
use crate::output::say;
use gaffer_core::exit;
use gaffer_core::pane::canonical_agent_type;
use gaffer_tmux::cmd::Tmux;
use gaffer_tmux::spawn::{AgentSpec, Layout, spawn};
use serde_json::json;
use std::time::Duration;

/// The default launch command of an agent type.
fn launch(agent_type: &str, sim: Option<&std::path::Path>) -> String {
    if let Some(project) = sim {
        let exe = std::env::current_exe().ok();
        let sim_bin = exe
            .as_ref()
            .map(|p| p.with_file_name("gaffer-sim"))
            .filter(|p| p.exists())
            .map(|p| gaffer_tmux::spawn::shell_quote(&p.display().to_string()))
            .unwrap_or_else(|| "gaffer-sim".into());
        let gaffer = exe
            .map(|p| gaffer_tmux::spawn::shell_quote(&p.display().to_string()))
            .unwrap_or_else(|| "gaffer".into());
        let project = gaffer_tmux::spawn::shell_quote(&project.display().to_string());
        // Simulated agents report their work like real ones are told to: done, then tests.
        let done = format!("{gaffer} --project {project} done {{bead}} --reason 'simulated work'");
        let tests = format!(
            "{gaffer} --project {project} quality record-tests --agent {{pane}} --passed {{passed}} --failed {{failed}}"
        );
        return format!(
            "{sim_bin} --agent {agent_type} --on-done {} --on-done {}",
            gaffer_tmux::spawn::shell_quote(&done),
            gaffer_tmux::spawn::shell_quote(&tests)
        );
    }
    gaffer_core::kinds::registry().launch(agent_type)
}

/// Parses `TYPE[:VARIANT]=COMMAND`.
fn parse_agent(spec: &str) -> Result<AgentSpec, ExitError> {
    let (head, command) = spec.split_once('=').ok_or_else(|| {
        ExitError::usage(format!("--agent {spec:?}: expected TYPE[:VARIANT]=COMMAND"))
    })?;
    let (ty, variant) = match head.split_once(':') {
        Some((t, v)) => (t, Some(v.to_string()).filter(|v| !v.is_empty())),
        None => (head, None),
    };
    if ty.trim().is_empty() || command.trim().is_empty() {
        return Err(ExitError::usage(format!(
            "--agent {spec:?}: the type and the command must not be empty"
        )));
    }
    Ok(AgentSpec {
        agent_type: canonical_agent_type(ty),
        variant,
        command: command.to_string(),
    })
}

/// Runs `gaffer spawn`.
pub fn run(global: &GlobalArgs, args: &SpawnArgs) -> anyhow::Result<i32> {
    let out = Output::of(global);
    let loaded = config_load::load(global)?;
    let cfg = &loaded.config.tmux;
    // A new session: the last spawn's is not the default here.
    let (socket, session) = adapters::scope_with(&args.tmux, &loaded, None);
    let session = session.unwrap_or_else(|| "gaffer".into());
    let host = match &args.host {
        None => None,
        Some(name) => Some(
            loaded
                .config
                .hosts
                .iter()
                .find(|h| &h.name == name)
                .ok_or_else(|| {
                    let known: Vec<&str> = loaded
                        .config
                        .hosts
                        .iter()
                        .map(|h| h.name.as_str())
                        .collect();
                    ExitError::usage(format!(
                        "--host {name:?}: no such [[hosts]] entry (configured: {})",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ))
                })?
                .clone(),
        ),
    };
    // `--cmd TYPE=COMMAND` replaces the launch command of the --cc/--cod/--gmi panes.
    let mut overrides: Vec<(String, String)> = Vec::new();
    for c in &args.cmds {
        let (ty, cmd) = c
            .split_once('=')
            .ok_or_else(|| ExitError::usage(format!("--cmd {c:?}: expected TYPE=COMMAND")))?;
        let ty = canonical_agent_type(ty.trim());
        if gaffer_core::kinds::registry().get(&ty).is_none() || cmd.trim().is_empty() {
            return Err(ExitError::usage(format!(
                "--cmd {c:?}: the type must be an agent kind (cc, cod, gmi, …) and the command not empty"
            ))
            .into());
        }
        overrides.push((ty, cmd.to_string()));
    }
    let mut counts: Vec<(String, u32)> = [("cc", args.cc), ("cod", args.cod), ("gmi", args.gmi)]
        .into_iter()
        .map(|(t, n)| (t.to_string(), n))
        .collect();
    for k in &args.kinds {
        let (ty, n) = k
            .split_once('=')
            .ok_or_else(|| ExitError::usage(format!("--kind {k:?}: expected KIND=COUNT")))?;
        let kind = gaffer_core::kinds::registry().get(ty).ok_or_else(|| {
            ExitError::usage(format!(
                "--kind {k:?}: no agent kind {ty:?} in the registry"
            ))
        })?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| ExitError::usage(format!("--kind {k:?}: the count must be a number")))?;
        counts.push((kind.code.clone(), n));
    }
    // Simulated agents report to the project they run in: here, or the host's directory
    // (where the coordinator's marker sends their reports home).
    let sim_dir = match &host {
        None => Some(loaded.project_root.clone()),
        Some(h) => args
            .dir
            .clone()
            .or_else(|| (!h.project.is_empty()).then(|| h.project.clone().into())),
    };
    let sim_project = sim_dir.as_deref();
    let mut specs: Vec<AgentSpec> = Vec::new();
    for (ty, n) in counts {
        let ty = ty.as_str();
        let command = overrides
            .iter()
            .rev()
            .find(|(t, _)| t == ty)
            .map(|(_, c)| c.clone())
            .unwrap_or_else(|| launch(ty, sim_project.filter(|_| args.sim)));
        for _ in 0..n {
            specs.push(AgentSpec {
                agent_type: ty.into(),
                variant: None,
                command: command.clone(),
            });
        }
    }
    for a in &args.agents {
        specs.push(parse_agent(a)?);
    }
    if specs.is_empty() {
        return Err(ExitError::usage(
            "no agents: give --cc N, --cod N, --gmi N, --kind KIND=N or --agent TYPE=CMD",
        )
        .into());
    }
    let dir = match (&args.dir, &host) {
        (Some(d), _) => d.clone(),
        (None, None) => loaded.project_root.clone(),
        (None, Some(h)) if !h.project.is_empty() => std::path::PathBuf::from(&h.project),
        (None, Some(h)) => {
            return Err(ExitError::usage(format!(
                "--host {}: give the directory there with --dir, or `project` in its [[hosts]] entry",
                h.name
            ))
            .into());
        }
    };
    let panes_per_window = args.panes_per_window.unwrap_or(cfg.panes_per_window);
    if panes_per_window == 0 {
        return Err(ExitError::usage(
            "panes per window (--panes-per-window, tmux.panes_per_window) must be at least 1",
        )
        .into());
    }
    let layout = Layout {
        size: (200, 50),
        panes_per_window,
        keep_shell: args.keep_shell.unwrap_or(cfg.keep_shell),
    };
    if let Some(h) = &host {
        return spawn_on_host(global, h, &session, &dir, &specs, &layout, cfg);
    }
    let last = crate::last_spawn::LastSpawn::new(&session, &socket);
    let tmux = Tmux::new(socket, cfg.command_timeout.max(Duration::from_secs(1)));
    let panes = spawn(&tmux, &session, &dir, &specs, &layout)
        .map_err(|e| ExitError::unavailable(format!("spawning session {session}: {e}")))?;
    let windows = panes.iter().map(|p| p.window + 1).max().unwrap_or(0);
    // Later commands of this project find the session (and its socket) without flags.
    if let Err(e) = crate::last_spawn::save(&loaded.project_root, &last) {
        tracing::warn!(error = %e, "could not record the spawned session in .gaffer/");
    }
    let flags = last.flags();
    let attach: Vec<String> = std::iter::once("tmux".to_string())
        .chain(
            last.socket()
                .args()
                .iter()
                .map(|a| crate::last_spawn::word(a)),
        )
        .chain([
            "attach".into(),
            "-t".into(),
            crate::last_spawn::word(&session),
        ])
        .collect();
    let attach = attach.join(" ");
    out.print(
        &json!({"session": session, "windows": windows, "panes": panes,
            "socket_name": last.socket_name, "socket_path": last.socket_path}),
        || {
            for p in &panes {
                say!("{}  window {}  {}", p.pane_id, p.window, p.title);
            }
            say!(
                "session {session} started with {} agent panes in {windows} windows; watch it with `gaffer status` (here) or `gaffer status {flags}`, attach with `{attach}`",
                panes.len()
            );
        },
    )?;
    Ok(exit::SUCCESS)
}

/// `gaffer spawn --host`: the same layout, made over the host's one SSH connection in its tmux
/// server; the panes are printed with their `host:%N` keys. The last-spawn record (for the
/// local session) is left alone.
fn spawn_on_host(
    global: &GlobalArgs,
    h: &gaffer_core::config::HostConfig,
    session: &str,
    dir: &std::path::Path,
    specs: &[AgentSpec],
    layout: &Layout,
    cfg: &gaffer_core::config::TmuxConfig,
) -> anyhow::Result<i32> {
    use gaffer_tmux::cmd::Socket;
    use gaffer_tmux::ssh::{SshHost, SshMode};
    let out = Output::of(global);
    let timeout = cfg.command_timeout.max(Duration::from_secs(5));
    let session = if h.session.is_empty() {
        session
    } else {
        h.session.as_str()
    };
    let conn = std::sync::Arc::new(
        SshHost::new(
            &h.name,
            gaffer_tmux::host::destination(h),
            SshMode::Multiplexed,
            timeout,
        )
        .map_err(|e| ExitError::unavailable(format!("host {}: {e}", h.name)))?,
    );
    let tmux = Tmux::remote(
        Socket::from_config(&h.socket_name, &h.socket_path),
        timeout,
        conn.clone(),
    );
    let spawned = spawn(&tmux, session, dir, specs, layout).map_err(|e| {
        ExitError::unavailable(format!(
            "spawning session {session} on host {}: {e}",
            h.name
        ))
    });
    let connections = conn.connections_started();
    conn.disconnect();
    let mut panes = spawned?;
    for p in &mut panes {
        p.pane_id = gaffer_tmux::host::qualify(&h.name, &p.pane_id);
    }
    let windows = panes.iter().map(|p| p.window + 1).max().unwrap_or(0);
    out.print(
        &json!({"host": h.name, "session": session, "windows": windows, "panes": panes,
            "dir": dir.display().to_string(), "ssh_connections": connections}),
        || {
            for p in &panes {
                say!("{}  window {}  {}", p.pane_id, p.window, p.title);
            }
            say!(
                "session {session} started on host {} with {} agent panes in {windows} windows \
                 (in {}); `gaffer status` and `gaffer run` here see them as {}:%N",
                h.name,
                panes.len(),
                dir.display(),
                h.name
            );
        },
    )?;
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_specs() {
        let a = parse_agent("claude:opus=claude --model opus").unwrap();
        assert_eq!(
            (
                a.agent_type.as_str(),
                a.variant.as_deref(),
                a.command.as_str()
            ),
            ("cc", Some("opus"), "claude --model opus")
        );
        let b = parse_agent("gmi=gemini").unwrap();
        assert_eq!(b.variant, None);
        assert!(parse_agent("cc").is_err());
        assert!(parse_agent("=x").is_err());
    }
}
