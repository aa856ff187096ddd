//! The real CLIs: which ones run, their pinned executables, the loopback-only namespace, one
//! scripted model server and one tmux pane each, and what gaffer's monitor reads of them.

use super::script::{ScriptParams, agent_script, set_script};
use super::{SESSION, Setup};
use crate::cli::{GlobalArgs, TmuxArgs};
use crate::error::ExitError;
use gaffer_core::exit;
use gaffer_core::status::AgentStatus;
use gaffer_model_sim::{ModelServer, Script};
use gaffer_tmux::cmd::{Socket, Tmux};
use gaffer_tmux::spawn::{AgentSpec, Layout, SpawnedPane, spawn};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Set in the re-executed demo inside its network namespace.
const NETNS_ENV: &str = "GAFFER_DEMO_NETNS";
/// The agent kinds, one pane each.
pub const KINDS: [&str; 3] = ["cc", "cod", "gmi"];
/// The agent that hits its limit first (Claude Code: a final 429 is read as RATE_LIMITED, and a
/// new prompt after it is a new turn).
pub const LIMITED: &str = "cc";

/// The kinds to run: [`KINDS`], or the subset named by `GAFFER_DEMO_REAL_KINDS`.
pub fn kinds() -> Vec<&'static str> {
    let want = std::env::var("GAFFER_DEMO_REAL_KINDS").unwrap_or_default();
    let picked: Vec<&'static str> = KINDS
        .into_iter()
        .filter(|k| want.split(',').any(|w| w.trim() == *k))
        .collect();
    if picked.is_empty() {
        KINDS.to_vec()
    } else {
        picked
    }
}

/// The kind that hits its quota: [`LIMITED`] when it runs, else the last one.
pub fn limited_kind(kinds: &[&'static str]) -> &'static str {
    if kinds.contains(&LIMITED) {
        LIMITED
    } else {
        kinds.last().copied().unwrap_or(LIMITED)
    }
}

/// The pinned CLIs, each `(kind, version, executable)`; exit 4 with the remedy when missing.
pub(super) fn pinned_clis(kinds: &[&str]) -> Result<Vec<(String, String, PathBuf)>, ExitError> {
    let pinned = gaffer_model_sim::agents::pinned();
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for &kind in kinds {
        match pinned.iter().find(|a| a.kind == kind) {
            Some(a) => match a.executable() {
                Some(exe) => out.push((a.kind.clone(), a.version.clone(), exe)),
                None => missing.push(format!("{} {}", a.package, a.version)),
            },
            None => missing.push(format!("{kind} (agents.lock names none)")),
        }
    }
    if !missing.is_empty() {
        return Err(ExitError::unavailable(format!(
            "the pinned agent CLIs are not installed ({}): run scripts/install-agents.sh \
             (it installs them under {}; nothing is installed globally)",
            missing.join(", "),
            gaffer_model_sim::agents::cache_dir().display()
        )));
    }
    Ok(out)
}

/// Re-runs this demo inside a loopback-only network namespace when one can be made and this
/// process is not in one already; returns the child's exit code, or `None` to go on here.
pub(super) fn isolate() -> Option<i32> {
    let only_lo = gaffer_model_sim::launch::interfaces()
        .iter()
        .all(|i| i == "lo");
    if only_lo || std::env::var_os(NETNS_ENV).is_some() {
        return None;
    }
    let me = std::env::current_exe().ok()?;
    let probe = std::process::Command::new("unshare")
        .args(["--net", "--", "true"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!(
            "gaffer demo: cannot make a loopback-only network namespace (root is needed); the \
             CLIs run with their telemetry and update opt-outs instead"
        );
        return None;
    }
    let status = std::process::Command::new("unshare")
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(me)
        .args(std::env::args_os().skip(1))
        .env(NETNS_ENV, "1")
        .status();
    match status {
        Ok(s) => Some(s.code().unwrap_or(exit::FAILURE)),
        Err(e) => {
            eprintln!("gaffer demo: `unshare` failed ({e}); running without a namespace");
            None
        }
    }
}

/// Kills every pane's process tree when dropped (before the tmux server goes).
struct Reaper(Tmux);

impl Drop for Reaper {
    fn drop(&mut self) {
        let pids = self
            .0
            .run(&["list-panes", "-a", "-F", "#{pane_pid}"])
            .unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            gaffer_model_sim::launch::kill_tree(pid);
        }
    }
}

/// One agent of the run.
pub(super) struct Agent {
    /// Its kind (`cc`, `cod`, `gmi`).
    pub kind: String,
    /// Its pane id.
    pub pane: String,
    /// Its pane title.
    pub title: String,
    /// Its scripted model server.
    pub server: ModelServer,
}

/// Reads the agents' states as gaffer's monitor sees them.
pub(super) struct Observer {
    monitor: gaffer_coordinator::monitor::AgentMonitor,
}

impl Observer {
    /// A monitor on the demo's tmux session.
    pub fn new(global: &GlobalArgs, tmux: &TmuxArgs) -> Result<Self, ExitError> {
        let conn = crate::adapters::tmux(global, tmux)?;
        let monitor = gaffer_coordinator::monitor::AgentMonitor::new(
            conn.panes.clone(),
            crate::adapters::detector()?,
            gaffer_coordinator::monitor::MonitorConfig::from(&conn.config.detection),
        );
        Ok(Observer { monitor })
    }

    /// `pane`'s status now, as the monitor reads it.
    fn status(&self, pane: &str) -> Option<AgentStatus> {
        let snap = self.monitor.refresh().ok()?;
        snap.agents
            .iter()
            .find(|a| a.pane.pane_id == pane)
            .map(|a| a.observation.status)
    }

    /// Waits (bounded) until `pane` reads `want`; the last status seen.
    pub fn wait_for(
        &self,
        pane: &str,
        want: AgentStatus,
        timeout: Duration,
    ) -> Option<AgentStatus> {
        let end = Instant::now() + timeout;
        let mut last = None;
        while Instant::now() < end {
            last = self.status(pane);
            if last == Some(want) {
                break;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        last
    }
}

/// Types a prompt into a pane as its user would, through `gaffer send` (verified delivery).
pub(super) fn user_types(me: &Path, dir: &Path, socket: &str, pane: &str, text: &str) -> bool {
    std::process::Command::new(me)
        .arg("--project")
        .arg(dir)
        .args([
            "send",
            pane,
            text,
            "--socket",
            socket,
            "--session",
            SESSION,
            "--force",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The running agents, their panes reaped when dropped (agents first, then their panes).
pub(super) struct Crew {
    /// One per pane.
    pub agents: Vec<Agent>,
    /// Dropped before the demo's `Cleanup` kills the server: some CLIs outlive their pane's
    /// hang-up.
    reaper: Reaper,
}

impl Crew {
    /// pane → title.
    pub fn titles(&self) -> BTreeMap<String, String> {
        self.agents
            .iter()
            .map(|a| (a.pane.clone(), a.title.clone()))
            .collect()
    }

    /// Keeps what explains the run: each pane's screen, in `.gaffer/demo/pane-KIND.txt`.
    /// Returns title → screen.
    pub fn capture_panes(&self, dir: &Path) -> BTreeMap<String, String> {
        let mut captures = BTreeMap::new();
        for a in &self.agents {
            let screen = self
                .reaper
                .0
                .run(&["capture-pane", "-p", "-t", &a.pane, "-S", "-60"])
                .unwrap_or_default();
            let _ = std::fs::write(
                dir.join(format!(".gaffer/demo/pane-{}.txt", a.kind)),
                &screen,
            );
            captures.insert(a.title.clone(), screen);
        }
        captures
    }
}

/// Starts one model server per agent (each agent's API can fail on its own), then the panes,
/// and gives each server its agent's script.
pub(super) fn launch(setup: &Setup, clis: &[(String, String, PathBuf)]) -> Result<Crew, ExitError> {
    let mut servers = Vec::new();
    let mut specs = Vec::new();
    for (kind, _version, _exe) in clis {
        let (server, spec) = start_agent(setup, kind)?;
        servers.push(server);
        specs.push(spec);
    }
    let tmux = Tmux::new(Socket::Name(setup.socket.clone()), Duration::from_secs(5));
    let reaper = Reaper(tmux.clone());
    let panes: Vec<SpawnedPane> = spawn(&tmux, SESSION, &setup.dir, &specs, &Layout::default())
        .map_err(|e| ExitError::unavailable(format!("starting the tmux session: {e}")))?;
    let mut agents: Vec<Agent> = Vec::new();
    for (p, server) in panes.iter().zip(servers) {
        set_script(
            &server,
            &agent_script(&ScriptParams {
                gaffer: &setup.me,
                project: &setup.dir,
                mail_url: setup.mail_url.as_deref(),
                pane: &p.pane_id,
                br_dir: setup.br.as_deref().and_then(Path::parent),
            }),
        )?;
        agents.push(Agent {
            kind: p.agent_type.clone(),
            pane: p.pane_id.clone(),
            title: p.title.clone(),
            server,
        });
    }
    Ok(Crew { agents, reaper })
}

/// One agent's model server (logging to `.gaffer/demo/model-KIND.jsonl`) and its pane's
/// command: the real CLI with its own home, pointed at the server.
fn start_agent(setup: &Setup, kind: &str) -> Result<(ModelServer, AgentSpec), ExitError> {
    let dir = &setup.dir;
    let log = dir.join(format!(".gaffer/demo/model-{kind}.jsonl"));
    let server = ModelServer::start("127.0.0.1:0", Script::default(), Some(&log))
        .map_err(|e| ExitError::failure(format!("model server: {e}")))?;
    let home = dir.join(format!(".gaffer/demo/home-{kind}"));
    std::fs::create_dir_all(&home)
        .map_err(|e| ExitError::failure(format!("{}: {e}", home.display())))?;
    let opts = gaffer_model_sim::launch::LaunchOptions {
        allow_tools: true,
        ..Default::default()
    };
    let mut launch = gaffer_model_sim::launch::prepare(kind, &home, dir, &server.url(), &opts)
        .map_err(|e| ExitError::unavailable(format!("launching the real {kind}: {e}")))?;
    // gaffer and br on the agent's PATH, ahead of what the CLI needs.
    let gaffer_dir = setup.me.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut front: Vec<String> = vec![gaffer_dir.display().to_string()];
    if let Some(d) = setup.br.as_deref().and_then(Path::parent) {
        front.push(d.display().to_string());
    }
    match launch.env.iter_mut().find(|(k, _)| k == "PATH") {
        Some((_, v)) => *v = format!("{}:{v}", front.join(":")),
        None => launch
            .env
            .push(("PATH".into(), format!("{}:/usr/bin:/bin", front.join(":")))),
    }
    let spec = AgentSpec {
        agent_type: kind.to_string(),
        variant: None,
        command: launch.shell_command(),
    };
    Ok((server, spec))
}
