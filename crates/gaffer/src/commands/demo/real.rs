//! `gaffer demo --real-agents`: the whole job with the real Claude Code, Codex CLI and Gemini
//! CLI (the pinned copies of `scripts/install-agents.sh`), each talking to its own scripted
//! model server (`gaffer-model-sim`) on loopback, inside a loopback-only network namespace.
//!
//! A small beads project (a dependency chain, made with `br` when it is on PATH), one pane per
//! CLI on a private tmux socket, and the coordinator with auto-assign. The scripted model
//! "does" each assigned task with real tool calls through the real CLI, one per step: reserve
//! the file (`gaffer mail reserve`), write it, record tests (`gaffer quality record-tests`),
//! report (`gaffer done`). One agent hits a rate limit first and gets nothing until it clears.
//! The run is then checked from the ledger, the mailbox and the model servers' logs, and the
//! summary of `gaffer demo` is printed. Nothing is installed: missing CLIs exit 4.
//!
//! `GAFFER_DEMO_REAL_KINDS=cc,gmi` runs only some of the CLIs (a debugging aid; the limited
//! agent is then the last one unless `cc` is among them).

use crate::cli::{DemoArgs, GlobalArgs, TmuxArgs};
use crate::error::ExitError;
use crate::wiring::{self, Build};
use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::exit;
use gaffer_core::mailbox::{InboxQuery, Mailbox};
use gaffer_core::status::AgentStatus;
use gaffer_model_sim::{ErrorKind, LogEntry, Mode, ModelServer, Reply, Rule, Script, ToolCall};
use gaffer_tmux::cmd::{Socket, Tmux};
use gaffer_tmux::spawn::{AgentSpec, SpawnedPane, shell_quote, spawn};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The tmux session (on a private socket).
pub const SESSION: &str = "real";
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
/// How long the limit lasts at least (from the coordinator's start).
const LIMIT_SECS: u64 = 8;

/// One task of the project: the file it writes, its title's rest, priority, blockers (indices).
pub struct Task {
    /// The file, relative to the project root.
    pub file: &'static str,
    /// What it is.
    pub what: &'static str,
    /// br priority.
    pub priority: u8,
    /// Indices of the tasks that block it.
    pub blocked_by: &'static [usize],
}

/// The tasks: a dependency chain (model → api → search, store → search → changelog).
pub const TASKS: [Task; 5] = [
    Task {
        file: "notes/model.txt",
        what: "the note model",
        priority: 1,
        blocked_by: &[],
    },
    Task {
        file: "notes/store.txt",
        what: "the storage layer",
        priority: 1,
        blocked_by: &[],
    },
    Task {
        file: "notes/api.txt",
        what: "the HTTP API",
        priority: 2,
        blocked_by: &[0],
    },
    Task {
        file: "notes/search.txt",
        what: "search over notes",
        priority: 2,
        blocked_by: &[1, 2],
    },
    Task {
        file: "notes/changelog.txt",
        what: "the release notes",
        priority: 3,
        blocked_by: &[3],
    },
];

/// A task's title: the file is in it, so the scripted model and gaffer's reservation find it.
pub fn task_title(t: &Task) -> String {
    format!("Write {} ({})", t.file, t.what)
}

/// What the scripted model of one agent needs to know.
pub struct ScriptParams<'a> {
    /// The gaffer executable.
    pub gaffer: &'a Path,
    /// The project root.
    pub project: &'a Path,
    /// `--mail-url` for `gaffer mail`, when a server is used.
    pub mail_url: Option<&'a str>,
    /// The agent's pane id (for `record-tests --agent`).
    pub pane: &'a str,
    /// Where `br` is, when the project uses it: put on the PATH of each `gaffer` step, since a
    /// CLI may run commands in a login shell whose PATH lacks it (Codex does).
    pub br_dir: Option<&'a Path>,
}

/// The regex that reads an assignment prompt (`gaffer_core::messages::assignment_prompt`):
/// the bead, the file from its title, and the agent's Agent Mail name.
pub const ASSIGNMENT_PATTERN: &str = r"(?s)gaffer assigned you (?P<bead>[A-Za-z0-9][\w.-]*) \(P\d+\): Write (?P<file>[\w/.-]+\.txt).*?Your Agent Mail name is (?P<name>[A-Za-z0-9]+)";

/// The script of one agent's model: on an assignment, one tool call per step (reserve, write,
/// record tests, report done), then a short answer.
pub fn agent_script(p: &ScriptParams<'_>) -> Script {
    let q = |x: &Path| shell_quote(&x.display().to_string());
    let path_env = match p.br_dir {
        Some(d) => format!(
            "env {} ",
            shell_quote(&format!(
                "PATH={}:/usr/local/bin:/usr/bin:/bin",
                d.display()
            ))
        ),
        None => String::new(),
    };
    let gaffer = format!("{path_env}{} --project {}", q(p.gaffer), q(p.project));
    let mail = match p.mail_url {
        Some(u) => format!("{gaffer} mail --mail-url {}", shell_quote(u)),
        None => format!("{gaffer} mail"),
    };
    let shell = |command: String| Reply::Tools {
        text: String::new(),
        calls: vec![ToolCall::Shell {
            command,
            escalated: false,
        }],
    };
    let root = p.project.display().to_string();
    Script {
        rules: vec![Rule {
            pattern: ASSIGNMENT_PATTERN.into(),
            reply: shell(format!(
                "{mail} reserve --agent ${{name}} --ttl 900 --reason self-${{bead}} ${{file}}"
            )),
            then: vec![
                Reply::Tools {
                    text: String::new(),
                    calls: vec![ToolCall::WriteFile {
                        path: format!("{root}/${{file}}"),
                        content: "${bead}: written by the scripted model through the real CLI\n"
                            .into(),
                    }],
                },
                shell(format!(
                    "{gaffer} quality record-tests --agent {} --package real-e2e --passed 3 \
                     --failed 0",
                    p.pane
                )),
                shell(format!("{gaffer} done ${{bead}} --reason wrote-${{file}}")),
                Reply::Text {
                    text: "Finished ${bead}: wrote ${file}, tests recorded, reported done.".into(),
                    chunks: 3,
                    chunk_delay_ms: 100,
                    first_delay_ms: 0,
                },
            ],
            usage: None,
        }],
        mode: None,
    }
}

/// The error the limited agent's model answers with until it clears: a 429 its CLI does not
/// retry (Anthropic `rate_limit_error` with `x-should-retry: false`; the quota error of the
/// OpenAI and Gemini APIs).
pub fn limit_mode(kind: &str) -> Mode {
    let error = if kind == "cc" {
        ErrorKind::RateLimit
    } else {
        ErrorKind::Quota
    };
    Mode {
        reply: Reply::Error {
            status: 429,
            error,
            retry_after: None,
            should_retry: Some(false),
            message: None,
        },
        then: Vec::new(),
        usage: None,
        times: None,
    }
}

fn unavailable(message: impl Into<String>) -> ExitError {
    ExitError {
        code: exit::UNAVAILABLE,
        kind: "unavailable",
        message: message.into(),
    }
}

/// The pinned CLIs, each `(kind, version, executable)`; exit 4 with the remedy when missing.
fn pinned_clis(kinds: &[&str]) -> Result<Vec<(String, String, PathBuf)>, ExitError> {
    let pinned = gaffer_testkit::agents::pinned();
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
        return Err(unavailable(format!(
            "the pinned agent CLIs are not installed ({}): run scripts/install-agents.sh \
             (it installs them under {}; nothing is installed globally)",
            missing.join(", "),
            gaffer_testkit::agents::cache_dir().display()
        )));
    }
    Ok(out)
}

/// Re-runs this demo inside a loopback-only network namespace when one can be made and this
/// process is not in one already; returns the child's exit code, or `None` to go on here.
fn isolate() -> Option<i32> {
    let only_lo = gaffer_testkit::netns::interfaces()
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

/// Runs `br ARGS` in `dir`, JSON out.
fn br_json(br: &Path, dir: &Path, args: &[&str]) -> Result<Value, ExitError> {
    let out = std::process::Command::new(br)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "error")
        .output()
        .map_err(|e| unavailable(format!("br cannot run: {e}")))?;
    if !out.status.success() {
        return Err(unavailable(format!(
            "br {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| ExitError::failure(format!("br {args:?} printed no JSON: {e}")))
}

/// Writes the beads project: with `br` (`br init`, `br create`) when given, else the JSONL
/// directly. Returns the bead ids, in [`TASKS`] order.
fn write_beads(dir: &Path, br: Option<&Path>) -> Result<Vec<String>, ExitError> {
    let _ = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    let mut ids: Vec<String> = Vec::new();
    if let Some(br) = br {
        br_json(br, dir, &["init", "--prefix", "rl", "--json"])?;
        for t in &TASKS {
            let title = task_title(t);
            let prio = t.priority.to_string();
            let deps: Vec<String> = t
                .blocked_by
                .iter()
                .filter_map(|i| ids.get(*i))
                .map(|id| format!("blocks:{id}"))
                .collect();
            let mut args = vec![
                "create",
                title.as_str(),
                "-t",
                "task",
                "-p",
                prio.as_str(),
                "-d",
                t.what,
            ];
            let deps = deps.join(",");
            if !deps.is_empty() {
                args.extend(["--deps", deps.as_str()]);
            }
            args.push("--json");
            let v = br_json(br, dir, &args)?;
            let id = v["id"]
                .as_str()
                .ok_or_else(|| ExitError::failure(format!("br create printed no id: {v}")))?;
            ids.push(id.to_string());
        }
        return Ok(ids);
    }
    std::fs::create_dir_all(dir.join(".beads"))
        .map_err(|e| ExitError::failure(format!("{}: {e}", dir.display())))?;
    let created = gaffer_core::time::format_rfc3339(&chrono::Utc::now());
    let mut text = String::new();
    for (i, t) in TASKS.iter().enumerate() {
        let id = format!("rl-{}", i + 1);
        let deps: Vec<Value> = t
            .blocked_by
            .iter()
            .map(|b| {
                json!({"issue_id": id, "depends_on_id": format!("rl-{}", b + 1), "type": "blocks",
                       "created_at": created, "created_by": "demo"})
            })
            .collect();
        let line = json!({
            "id": id, "title": task_title(t), "description": t.what, "status": "open",
            "priority": t.priority, "issue_type": "task", "created_at": created,
            "updated_at": created, "dependencies": deps,
        });
        text.push_str(&line.to_string());
        text.push('\n');
        ids.push(id);
    }
    std::fs::write(dir.join(".beads/issues.jsonl"), text)
        .map_err(|e| ExitError::failure(format!("writing the beads: {e}")))?;
    Ok(ids)
}

/// Sets a model server's script through its control endpoint (`POST /_control/script`).
fn set_script(server: &ModelServer, script: &Script) -> Result<(), ExitError> {
    let body = serde_json::to_string(script)
        .map_err(|e| ExitError::failure(format!("script JSON: {e}")))?;
    let fail = |e: std::io::Error| ExitError::failure(format!("model server control: {e}"));
    let mut s = std::net::TcpStream::connect_timeout(&server.addr(), Duration::from_secs(5))
        .map_err(fail)?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(fail)?;
    let req = format!(
        "POST /_control/script HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        server.addr(),
        body.len()
    );
    s.write_all(req.as_bytes()).map_err(fail)?;
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    if resp.starts_with("HTTP/1.1 200") || resp.starts_with("HTTP/1.0 200") {
        Ok(())
    } else {
        Err(ExitError::failure(format!(
            "model server refused the script: {}",
            resp.lines().next().unwrap_or("(no answer)")
        )))
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
            gaffer_testkit::tmux::kill_tree(pid);
        }
    }
}

/// One agent of the run.
struct Agent {
    kind: String,
    pane: String,
    title: String,
    server: ModelServer,
}

/// Reads the agents' states as gaffer's monitor sees them.
struct Observer {
    monitor: gaffer_coordinator::monitor::AgentMonitor,
}

impl Observer {
    fn new(global: &GlobalArgs, tmux: &TmuxArgs) -> Result<Self, ExitError> {
        let conn = crate::adapters::tmux(global, tmux)?;
        let monitor = gaffer_coordinator::monitor::AgentMonitor::new(
            conn.panes.clone(),
            crate::adapters::detector()?,
            gaffer_coordinator::monitor::MonitorConfig::from(&conn.config.detection),
        );
        Ok(Observer { monitor })
    }

    fn status(&self, pane: &str) -> Option<AgentStatus> {
        let snap = self.monitor.refresh().ok()?;
        snap.agents
            .iter()
            .find(|a| a.pane.pane_id == pane)
            .map(|a| a.observation.status)
    }

    /// Waits (bounded) until `pane` reads `want`; the last status seen.
    fn wait_for(&self, pane: &str, want: AgentStatus, timeout: Duration) -> Option<AgentStatus> {
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
fn user_types(me: &Path, dir: &Path, socket: &str, pane: &str, text: &str) -> bool {
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

/// `gaffer demo --real-agents`.
pub fn run(global: &GlobalArgs, args: &DemoArgs) -> anyhow::Result<i32> {
    super::env::check_tmux()?;
    let kinds = kinds();
    let clis = pinned_clis(&kinds)?;
    let mail_url = args.mail_url.clone().filter(|u| !u.trim().is_empty());
    if mail_url.is_none() {
        if let Some(code) = isolate() {
            return Ok(code);
        }
    }
    let me = std::env::current_exe()
        .map_err(|e| ExitError::failure(format!("cannot find the gaffer executable: {e}")))?;
    let pid = std::process::id();
    let socket = format!("gaffer-real-{pid}");
    let dir = match &args.project_dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d).map(|mut r| r.next().is_some())? {
                return Err(ExitError {
                    code: exit::USAGE,
                    kind: "usage",
                    message: format!("--project-dir {} exists and is not empty", d.display()),
                }
                .into());
            }
            d.clone()
        }
        None => std::env::temp_dir().join(format!(
            "gaffer-real-{pid}-{}",
            chrono::Utc::now().timestamp_millis()
        )),
    };
    std::fs::create_dir_all(dir.join(".gaffer/demo"))?;
    let dir = std::fs::canonicalize(&dir)?;
    let keep = args.keep || args.project_dir.is_some();
    let mut cleanup = super::env::Cleanup::new(&socket, &dir, keep);
    let br = gaffer_beads::process::which("br");
    let bead_ids = write_beads(&dir, br.as_deref())?;
    // The project's directories exist, as in any project (not every CLI's file tool makes
    // missing parents).
    for t in &TASKS {
        if let Some(parent) = Path::new(t.file).parent() {
            std::fs::create_dir_all(dir.join(parent))?;
        }
    }
    let titles_by_bead: BTreeMap<String, (String, &'static str)> = bead_ids
        .iter()
        .zip(TASKS.iter())
        .map(|(id, t)| (id.clone(), (task_title(t), t.file)))
        .collect();

    // The mailbox, and the human who receives the digests.
    let project_key = dir.display().to_string();
    let mailbox: Arc<dyn Mailbox> = Arc::from(
        gaffer_mail::open(mail_url.as_deref(), &dir, Duration::from_secs(10))
            .map_err(|e| ExitError::failure(format!("opening the mailbox: {e}")))?,
    );
    mailbox
        .ensure_project(&project_key)
        .map_err(|e| unavailable(format!("agent mail: {e}")))?;
    let human = super::env::register_human(mailbox.as_ref(), &project_key);
    let config = format!(
        "[tmux]\nsocket_name = \"{socket}\"\nsession = \"{SESSION}\"\n\n\
         [coordinator]\npoll_interval = \"500ms\"\nidle_threshold = 3.0\n\
         digest_interval = \"15s\"\nauto_assign = true\nsend_digests = true\n\
         human_agent = \"{human}\"\n\n[assign]\ndelivery_deadline = \"30s\"\n"
    );
    std::fs::write(dir.join(".gaffer/config.toml"), config)?;

    // One model server per agent (each agent's API can fail on its own), then the panes.
    let mut servers = Vec::new();
    let mut specs = Vec::new();
    let gaffer_dir = me.parent().map(Path::to_path_buf).unwrap_or_default();
    for (kind, _version, _exe) in &clis {
        let log = dir.join(format!(".gaffer/demo/model-{kind}.jsonl"));
        let server = ModelServer::start("127.0.0.1:0", Script::default(), Some(&log))
            .map_err(|e| ExitError::failure(format!("model server: {e}")))?;
        let home = dir.join(format!(".gaffer/demo/home-{kind}"));
        std::fs::create_dir_all(&home)?;
        let opts = gaffer_testkit::real_agent::LaunchOptions {
            allow_tools: true,
            ..Default::default()
        };
        let mut launch =
            gaffer_testkit::real_agent::prepare(kind, &home, &dir, &server.url(), &opts)
                .map_err(|e| unavailable(format!("launching the real {kind}: {e}")))?;
        // gaffer and br on the agent's PATH, ahead of what the CLI needs.
        let mut front: Vec<String> = vec![gaffer_dir.display().to_string()];
        if let Some(d) = br.as_deref().and_then(Path::parent) {
            front.push(d.display().to_string());
        }
        match launch.env.iter_mut().find(|(k, _)| k == "PATH") {
            Some((_, v)) => *v = format!("{}:{v}", front.join(":")),
            None => launch
                .env
                .push(("PATH".into(), format!("{}:/usr/bin:/bin", front.join(":")))),
        }
        specs.push(AgentSpec {
            agent_type: kind.clone(),
            variant: None,
            command: launch.shell_command(),
        });
        servers.push(server);
    }
    let tmux = Tmux::new(Socket::Name(socket.clone()), Duration::from_secs(5));
    // Dropped before `cleanup` kills the server: some CLIs outlive their pane's hang-up.
    let reaper = Reaper(tmux.clone());
    let panes: Vec<SpawnedPane> = spawn(&tmux, SESSION, &dir, &specs, (200, 50))
        .map_err(|e| unavailable(format!("starting the tmux session: {e}")))?;
    let mut agents: Vec<Agent> = Vec::new();
    for (p, server) in panes.iter().zip(servers) {
        set_script(
            &server,
            &agent_script(&ScriptParams {
                gaffer: &me,
                project: &dir,
                mail_url: mail_url.as_deref(),
                pane: &p.pane_id,
                br_dir: br.as_deref().and_then(Path::parent),
            }),
        )?;
        agents.push(Agent {
            kind: p.agent_type.clone(),
            pane: p.pane_id.clone(),
            title: p.title.clone(),
            server,
        });
    }
    let titles: BTreeMap<String, String> = agents
        .iter()
        .map(|a| (a.pane.clone(), a.title.clone()))
        .collect();

    let demo_global = GlobalArgs {
        json: global.json,
        project: Some(dir.clone()),
        config: None,
        set: Vec::new(),
    };
    let tmux_args = TmuxArgs {
        session: Some(SESSION.into()),
        socket: Some(socket.clone()),
        socket_path: None,
    };
    let say = |s: &str| eprintln!("gaffer demo: {s}");
    let observer = Observer::new(&demo_global, &tmux_args)?;
    let started = Instant::now();
    // Start-up: each CLI draws its composer (bounded; a misread one is reported, not waited
    // for forever).
    let ready_by = Instant::now() + Duration::from_secs(60);
    for a in &agents {
        let left = ready_by.saturating_duration_since(Instant::now());
        let s = observer.wait_for(&a.pane, AgentStatus::Waiting, left);
        say(&format!(
            "{} ({}) is {}",
            a.title,
            a.pane,
            s.map(|s| s.as_str()).unwrap_or("unknown")
        ));
    }
    // The limited agent: its API answers with a quota error; its user asks something first.
    let limited = agents
        .iter()
        .find(|a| a.kind == limited_kind(&kinds))
        .map(|a| a.pane.clone())
        .unwrap_or_default();
    let mut limited_before = false;
    if let Some(a) = agents.iter().find(|a| a.pane == limited) {
        a.server.set_mode(Some(limit_mode(&a.kind)));
        let typed = user_types(
            &me,
            &dir,
            &socket,
            &a.pane,
            "Hello, please summarise this repository.",
        );
        let s = observer.wait_for(&a.pane, AgentStatus::RateLimited, Duration::from_secs(40));
        limited_before = s == Some(AgentStatus::RateLimited);
        say(&format!(
            "{} hit its limit (prompt typed: {typed}); gaffer reads it as {}",
            a.title,
            s.map(|s| s.as_str()).unwrap_or("unknown")
        ));
    }

    // The coordinator, on the real adapters.
    let built = wiring::build(Build {
        global: &demo_global,
        tmux: &tmux_args,
        mail_url: mail_url.clone(),
        native_beads: br.is_none(),
    })?;
    let mut coord = built.coordinator;
    let rx = coord.events().subscribe_with(100_000);
    coord.start()?;
    let coord_started = Instant::now();
    // The time limit counts from here: the start-up above is bounded on its own (100 s).
    let limit = Duration::from_secs(args.exit_after.unwrap_or(240));
    say(&format!(
        "coordinator started ({}, work from {}); tmux -L {socket} attach -t {SESSION} to watch",
        built.mail_backend, built.work_source
    ));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let s = stop.clone();
        let _ = ctrlc::set_handler(move || s.store(true, Ordering::SeqCst));
    }
    let ledger_path = dir.join(".gaffer/state.db");
    let ledger = Ledger::open(&ledger_path)
        .map_err(|e| ExitError::failure(format!("{}: {e}", ledger_path.display())))?;
    let mut events: Vec<CoordinatorEvent> = Vec::new();
    // The coordinator's own view of the limited agent while it is limited (an agent limited
    // from its first look has no state-change event until it recovers).
    let mut coordinator_saw_limited = false;
    let mut cleared_at: Option<Instant> = None;
    let mut interrupted = false;
    let mut reported = 0usize;
    let mut all_done_at: Option<Instant> = None;
    loop {
        events.extend(rx.try_iter());
        if cleared_at.is_none()
            && coord
                .get_agents()
                .get(&limited)
                .is_some_and(|a| a.status == AgentStatus::RateLimited)
        {
            coordinator_saw_limited = true;
        }
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        let records = ledger.all().unwrap_or_default();
        let done: BTreeSet<&str> = records
            .iter()
            .filter(|r| r.state == AssignmentState::Done)
            .map(|r| r.assignment.bead_id.as_str())
            .collect();
        if done.len() != reported {
            reported = done.len();
            say(&format!(
                "{reported}/{} tasks done after {:.0}s",
                bead_ids.len(),
                started.elapsed().as_secs_f64()
            ));
        }
        // The limit clears once the others have finished a task and some time has passed;
        // its user then asks again.
        if cleared_at.is_none()
            && !done.is_empty()
            && coord_started.elapsed() >= Duration::from_secs(LIMIT_SECS)
        {
            if let Some(a) = agents.iter().find(|a| a.pane == limited) {
                a.server.set_mode(None);
                let typed = user_types(&me, &dir, &socket, &a.pane, "The limit is over. Hello?");
                say(&format!(
                    "{}'s limit cleared (asked again: {typed})",
                    a.title
                ));
            }
            cleared_at = Some(Instant::now());
        }
        let runs = ledger.test_runs_since(0).map(|r| r.len()).unwrap_or(0);
        let all_done = bead_ids.iter().all(|b| done.contains(b.as_str())) && runs >= bead_ids.len();
        // `gaffer done` writes the ledger before it closes in br and returns; the turn ends
        // when its result is back at the model. Wait for that (bounded).
        if all_done {
            let logs: Vec<Vec<LogEntry>> = agents.iter().map(|a| a.server.log()).collect();
            let turns_ended = bead_ids
                .iter()
                .all(|b| logs.iter().any(|l| results_back(l, b) >= STEPS));
            let since = *all_done_at.get_or_insert_with(Instant::now);
            if turns_ended || since.elapsed() >= Duration::from_secs(20) {
                break;
            }
        }
        if coord_started.elapsed() >= limit {
            say("time limit reached");
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let final_digest = coord.send_digest().ok();
    coord.stop();
    events.extend(rx.try_iter());
    let elapsed = started.elapsed();

    // Keep what explains the run: each pane's screen and each model log.
    let mut captures = BTreeMap::new();
    for a in &agents {
        let screen = tmux
            .run(&["capture-pane", "-p", "-t", &a.pane, "-S", "-60"])
            .unwrap_or_default();
        let _ = std::fs::write(
            dir.join(format!(".gaffer/demo/pane-{}.txt", a.kind)),
            &screen,
        );
        captures.insert(a.title.clone(), screen);
    }
    let logs: BTreeMap<String, Vec<LogEntry>> = agents
        .iter()
        .map(|a| (a.pane.clone(), a.server.log()))
        .collect();
    let summary = summarize(&Check {
        ledger: &ledger,
        mailbox: mailbox.as_ref(),
        project: &project_key,
        dir: &dir,
        human: &human,
        titles: &titles,
        beads: &titles_by_bead,
        bead_order: &bead_ids,
        limited_pane: &limited,
        logs: &logs,
        br: br.is_some(),
        limited_before,
        coordinator_saw_limited,
        final_digest: final_digest.as_ref(),
    });
    let ok = summary.0 && !interrupted;
    if !ok {
        for (title, screen) in &captures {
            eprintln!("--- pane {title} ---\n{screen}");
        }
        for (pane, log) in &logs {
            eprintln!("--- model log of {pane} (last 12) ---");
            for e in log.iter().skip(log.len().saturating_sub(12)) {
                eprintln!(
                    "#{} {} {} turn={} decision={}",
                    e.seq,
                    e.method,
                    e.path,
                    e.turn
                        .as_ref()
                        .map(|t| format!(
                            "{:?}/{}results/{}",
                            t.last_user_text.chars().take(80).collect::<String>(),
                            t.tool_results_since_user,
                            t.has_tools
                        ))
                        .unwrap_or_default(),
                    e.decision
                        .as_ref()
                        .map(|d| d.source.clone())
                        .unwrap_or_default()
                );
            }
        }
    }
    drop(agents);
    drop(reaper);
    cleanup.run();
    let mut out = summary.1;
    out["ok"] = json!(ok);
    out["interrupted"] = json!(interrupted);
    out["duration_secs"] = json!((elapsed.as_secs_f64() * 10.0).round() / 10.0);
    out["project_dir"] = json!(dir.display().to_string());
    out["ledger"] = json!(ledger_path.display().to_string());
    out["kept"] = json!(keep);
    out["mailbox"] = json!(built.mail_backend);
    out["work_source"] = json!(built.work_source);
    out["agents_versions"] = clis
        .iter()
        .map(|(k, v, _)| (k.clone(), json!(v)))
        .collect::<serde_json::Map<String, Value>>()
        .into();
    out["tmux"] = json!(format!("tmux -L {socket} (session {SESSION}), killed"));
    if global.json {
        println!("{out}");
    } else {
        super::summary::print_summary(&out, keep);
    }
    Ok(if interrupted {
        exit::INTERRUPTED
    } else if ok {
        exit::SUCCESS
    } else {
        exit::FAILURE
    })
}

struct Check<'a> {
    ledger: &'a Ledger,
    mailbox: &'a dyn Mailbox,
    project: &'a str,
    dir: &'a Path,
    human: &'a str,
    titles: &'a BTreeMap<String, String>,
    /// bead → (title, file)
    beads: &'a BTreeMap<String, (String, &'static str)>,
    bead_order: &'a [String],
    limited_pane: &'a str,
    /// pane → its model server's log
    logs: &'a BTreeMap<String, Vec<LogEntry>>,
    br: bool,
    /// Whether the limited agent read RATE_LIMITED before the coordinator started.
    limited_before: bool,
    /// Whether the coordinator's agent view showed it RATE_LIMITED before it cleared.
    coordinator_saw_limited: bool,
    final_digest: Option<&'a gaffer_core::digest::DigestSummary>,
}

fn detail_str(e: &CoordinatorEvent, k: &str) -> String {
    e.details
        .get(k)
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string()
}

/// The tool calls of one task: reserve, write, record tests, done.
const STEPS: usize = 4;

/// How many tool results of `bead`'s turn came back to the model (its prompt's last turn).
fn results_back(log: &[LogEntry], bead: &str) -> usize {
    let needle = format!("gaffer assigned you {bead} ");
    log.iter()
        .filter_map(|e| e.turn.as_ref())
        .filter(|t| t.last_user_text.contains(&needle))
        .map(|t| t.tool_results_since_user)
        .max()
        .unwrap_or(0)
}

/// The shell commands the scripted model had a CLI run (decisions with tool calls).
fn commands_decided(log: &[LogEntry]) -> Vec<String> {
    log.iter()
        .filter_map(|e| e.decision.as_ref())
        .filter_map(|d| match &d.reply {
            Reply::Tools { calls, .. } => Some(calls),
            _ => None,
        })
        .flatten()
        .filter_map(|c| match c {
            ToolCall::Shell { command, .. } => Some(command.clone()),
            ToolCall::WriteFile { .. } => None,
        })
        .collect()
}

/// Checks the run from the ledger, its event log, the mailbox, the files and the model logs.
fn summarize(s: &Check<'_>) -> (bool, Value) {
    let records = s.ledger.all().unwrap_or_default();
    let events: Vec<CoordinatorEvent> = s
        .ledger
        .events_since(0)
        .map(|(v, _)| v.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default();
    let count = |k: &str| events.iter().filter(|e| e.event_type.as_str() == k).count();
    let mut checks: Vec<(&str, bool, String)> = Vec::new();
    let tasks = s.bead_order;

    let assigned: BTreeMap<String, usize> = events
        .iter()
        .filter(|e| e.event_type.as_str() == "work_assigned")
        .fold(BTreeMap::new(), |mut m, e| {
            *m.entry(detail_str(e, "bead_id")).or_insert(0) += 1;
            m
        });
    let done: BTreeMap<&str, &AssignmentRecord> = records
        .iter()
        .filter(|r| r.state == AssignmentState::Done)
        .map(|r| (r.assignment.bead_id.as_str(), r))
        .collect();
    let not_once: Vec<String> = tasks
        .iter()
        .filter(|t| assigned.get(*t).copied().unwrap_or(0) != 1)
        .map(|t| format!("{t}×{}", assigned.get(t).copied().unwrap_or(0)))
        .collect();
    checks.push((
        "every_task_assigned_once",
        not_once.is_empty(),
        if not_once.is_empty() {
            format!("{} tasks, one assignment each", tasks.len())
        } else {
            format!("not assigned exactly once: {}", not_once.join(", "))
        },
    ));
    let open: Vec<&str> = tasks
        .iter()
        .map(String::as_str)
        .filter(|t| !done.contains_key(t))
        .collect();
    checks.push((
        "every_task_completed",
        open.is_empty(),
        if open.is_empty() {
            "all done in the ledger".into()
        } else {
            format!("not done: {}", open.join(", "))
        },
    ));
    // Dependents were assigned only after their blockers were done.
    let mut early = Vec::new();
    for (i, t) in TASKS.iter().enumerate() {
        let Some(rec) = tasks.get(i).and_then(|id| done.get(id.as_str())) else {
            continue;
        };
        for b in t.blocked_by {
            if let Some(blocker) = tasks.get(*b).and_then(|id| done.get(id.as_str())) {
                if rec.created_at < blocker.updated_at {
                    early.push(format!("{} before {}", tasks[i], tasks[*b]));
                }
            }
        }
    }
    checks.push((
        "dependents_after_blockers",
        early.is_empty(),
        if early.is_empty() {
            "each dependent was assigned after its blockers were done".into()
        } else {
            early.join(", ")
        },
    ));
    // Every bead's prompt reached the model of the agent it was assigned to, and every step's
    // tool call came back as a tool result (the CLI ran it).
    let mut missing_prompt = Vec::new();
    let mut missing_steps = Vec::new();
    for bead in tasks {
        let Some(rec) = done
            .get(bead.as_str())
            .copied()
            .or_else(|| records.iter().find(|r| &r.assignment.bead_id == bead))
        else {
            missing_prompt.push(format!("{bead} (never assigned)"));
            continue;
        };
        let log = s
            .logs
            .get(&rec.assignment.agent_pane_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let needle = format!("gaffer assigned you {bead} ");
        if !log.iter().any(|e| {
            e.turn
                .as_ref()
                .is_some_and(|t| t.last_user_text.contains(&needle))
        }) {
            missing_prompt.push(bead.clone());
            continue;
        }
        let most = results_back(log, bead);
        let done_cmd = commands_decided(log)
            .iter()
            .any(|c| c.contains(&format!(" done {bead} ")));
        if most < STEPS || !done_cmd {
            missing_steps.push(format!("{bead}: {most}/{STEPS} tool results back"));
        }
    }
    checks.push((
        "every_prompt_reached_a_model",
        missing_prompt.is_empty(),
        if missing_prompt.is_empty() {
            format!(
                "{} assignment prompts in the model servers' logs",
                tasks.len()
            )
        } else {
            format!("no model saw: {}", missing_prompt.join(", "))
        },
    ));
    checks.push((
        "every_step_ran_through_the_cli",
        missing_steps.is_empty() && missing_prompt.is_empty(),
        if missing_steps.is_empty() {
            "reserve, write, record-tests and gaffer done ran for every task (4 tool results \
             each)"
                .into()
        } else {
            missing_steps.join("; ")
        },
    ));
    // The files the CLIs wrote.
    let unwritten: Vec<String> = tasks
        .iter()
        .filter_map(|b| s.beads.get(b).map(|(_, f)| (b, *f)))
        .filter(|(b, f)| {
            !std::fs::read_to_string(s.dir.join(f)).is_ok_and(|t| t.starts_with(&format!("{b}:")))
        })
        .map(|(_, f)| f.to_string())
        .collect();
    checks.push((
        "files_written",
        unwritten.is_empty(),
        if unwritten.is_empty() {
            format!("{} files, each written by its bead's agent", tasks.len())
        } else {
            format!("missing or wrong: {}", unwritten.join(", "))
        },
    ));
    // The agents' own reservations, and the assignment messages in their inboxes.
    let reservations = s
        .mailbox
        .list_reservations(s.project, None, false)
        .unwrap_or_default();
    let query = InboxQuery {
        limit: 200,
        urgent_only: false,
        include_bodies: false,
    };
    let mut unreserved = Vec::new();
    let mut unmailed = Vec::new();
    for bead in tasks {
        let Some(rec) = records.iter().find(|r| &r.assignment.bead_id == bead) else {
            continue;
        };
        let name = &rec.assignment.agent_name;
        let file = s.beads.get(bead).map(|(_, f)| *f).unwrap_or("");
        if !reservations.iter().any(|r| {
            &r.agent_name == name && r.path_pattern == file && r.reason == format!("self-{bead}")
        }) {
            unreserved.push(format!("{bead} ({name})"));
        }
        let title = s.beads.get(bead).map(|(t, _)| t.as_str()).unwrap_or("");
        let mailed = s
            .mailbox
            .fetch_inbox(s.project, name, &query)
            .map(|m| {
                m.iter()
                    .any(|x| x.subject == format!("Work Assignment: {title}"))
            })
            .unwrap_or(false);
        if !mailed {
            unmailed.push(format!("{bead} ({name})"));
        }
    }
    checks.push((
        "agents_reserved_their_files",
        unreserved.is_empty(),
        if unreserved.is_empty() {
            "each agent reserved its task's file itself (gaffer mail reserve)".into()
        } else {
            format!("no reservation by the agent: {}", unreserved.join(", "))
        },
    ));
    checks.push((
        "assignments_in_inboxes",
        unmailed.is_empty(),
        if unmailed.is_empty() {
            "every assignee has its Work Assignment message".into()
        } else {
            format!("no assignment message: {}", unmailed.join(", "))
        },
    ));
    if s.br {
        let closed = gaffer_beads::BeadsProject::discover(s.dir)
            .ok()
            .and_then(|p| p.load().ok())
            .map(|l| {
                l.issues
                    .iter()
                    .filter(|i| i.status == "closed")
                    .map(|i| i.id.clone())
                    .collect::<BTreeSet<String>>()
            })
            .unwrap_or_default();
        let open: Vec<&String> = tasks.iter().filter(|t| !closed.contains(*t)).collect();
        checks.push((
            "closed_in_br",
            open.is_empty(),
            if open.is_empty() {
                "every bead is closed in br".into()
            } else {
                format!("still open in br: {open:?}")
            },
        ));
    }
    // The limited agent got no work while limited: it is limited from the coordinator's first
    // look (then no event marks the start) or from an `agent_rate_limited` event, until a
    // change to another state.
    let mine: Vec<&CoordinatorEvent> = events
        .iter()
        .filter(|e| e.agent_id == s.limited_pane)
        .collect();
    let mut limited = mine
        .iter()
        .find(|e| !detail_str(e, "new_status").is_empty())
        .is_some_and(|e| detail_str(e, "prev_status") == "RATE_LIMITED")
        || s.coordinator_saw_limited;
    let mut windows = usize::from(limited);
    let mut during = Vec::new();
    let mut after = 0;
    for e in &mine {
        let new = detail_str(e, "new_status");
        match e.event_type.as_str() {
            "agent_rate_limited" => {
                limited = true;
                windows += 1;
            }
            "work_assigned" if limited => during.push(detail_str(e, "bead_id")),
            "work_assigned" => after += 1,
            _ if !new.is_empty() && new != "RATE_LIMITED" => limited = false,
            _ => {}
        }
    }
    let served = s.logs.get(s.limited_pane).map_or(0, |l| {
        l.iter()
            .filter(|e| e.decision.as_ref().is_some_and(|d| d.source == "mode"))
            .count()
    });
    checks.push((
        "rate_limited_agent_left_alone",
        served > 0 && windows > 0 && during.is_empty(),
        format!(
            "{served} quota error(s) served; read as RATE_LIMITED before the coordinator \
             started: {}; {windows} limit window(s); assigned while limited: {during:?}; \
             assigned after it cleared: {after}",
            s.limited_before
        ),
    ));
    let quality = s.ledger.quality_monitor(false).ok();
    let runs: Vec<gaffer_core::quality::TestRunMetrics> = quality
        .as_ref()
        .map(|q| q.test_runs().cloned().collect())
        .unwrap_or_default();
    checks.push((
        "test_results_recorded",
        runs.len() >= tasks.len(),
        format!(
            "{} test run(s) for {} completed task(s)",
            runs.len(),
            done.len()
        ),
    ));
    let digests = count("digest_sent");
    let agents: Vec<Value> = s
        .titles
        .iter()
        .map(|(pane, title)| {
            let mine: Vec<&str> = records
                .iter()
                .filter(|r| r.assignment.agent_pane_id == *pane && r.state == AssignmentState::Done)
                .map(|r| r.assignment.bead_id.as_str())
                .collect();
            let (p, f) = runs
                .iter()
                .filter(|t| t.agent_pane_id == *pane)
                .fold((0, 0), |(p, f), t| (p + t.passed, f + t.failed));
            json!({
                "pane_id": pane,
                "title": title,
                "agent_type": title.split("__").nth(1).and_then(|t| t.split('_').next()).unwrap_or(""),
                "completed": mine,
                "tests_passed": p,
                "tests_failed": f,
                "rate_limited": pane == s.limited_pane,
                "model_requests": s.logs.get(pane).map(Vec::len).unwrap_or(0),
            })
        })
        .collect();
    let ok = checks.iter().all(|c| c.1);
    let expectations: Value = checks
        .iter()
        .map(|(k, ok, d)| (k.to_string(), json!({"ok": ok, "detail": d})))
        .collect::<serde_json::Map<String, Value>>()
        .into();
    let json = json!({
        "assigned": count("work_assigned"),
        "completed": done.len(),
        "tasks": tasks.len(),
        "conflicts_detected": count("conflict_detected"),
        "conflicts_notified": 0,
        "release_requests": count("conflict_release_requested"),
        "conflicts_resolved": count("conflict_resolved"),
        "digests_sent": digests,
        "digest_recipient": s.human,
        "final_digest_work": s.final_digest.and_then(|d| d.work_summary.clone()),
        "test_runs": runs.len(),
        "tests_passed": runs.iter().map(|t| t.passed).sum::<i64>(),
        "tests_failed": runs.iter().map(|t| t.failed).sum::<i64>(),
        "rate_limited_agent": s.limited_pane,
        "limited_seen_by_coordinator": s.coordinator_saw_limited,
        "stalls": count("assignment_refused"),
        "events": events.len(),
        "agents": agents,
        "expectations": expectations,
    });
    (ok, json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gaffer_core::messages::{PromptInput, assignment_prompt};
    use gaffer_core::triage::TriageRecommendation;
    use gaffer_model_sim::Turn;

    fn turn(text: &str, results: usize) -> Turn {
        Turn {
            api: "anthropic".into(),
            model: "m".into(),
            last_user_text: text.into(),
            tool_results_since_user: results,
            has_tools: true,
            stream: true,
        }
    }

    /// gaffer's own assignment prompt drives the script through every step, in order.
    #[test]
    fn the_assignment_prompt_drives_each_step() {
        let bead = TriageRecommendation {
            id: "rl-3ab".into(),
            title: task_title(&TASKS[2]),
            priority: 2,
            unblocks_ids: vec!["rl-9".into()],
            ..Default::default()
        };
        for has_br in [true, false] {
            let prompt = assignment_prompt(&PromptInput {
                bead: &bead,
                description: "the HTTP API",
                files: &["notes/api.txt".to_string()],
                agent_name: "GreenCastle",
                has_br,
            });
            // Claude Code wraps a multi-line paste; the text inside is intact.
            let wrapped = format!("<pasted_content id=1>\n{prompt}</pasted_content id=1>");
            for text in [prompt.as_str(), wrapped.as_str()] {
                let mut s = agent_script(&ScriptParams {
                    gaffer: Path::new("/opt/g/gaffer"),
                    project: Path::new("/tmp/p"),
                    mail_url: Some("http://127.0.0.1:9/mcp/"),
                    pane: "%7",
                    br_dir: None,
                });
                let steps: Vec<Reply> = (0..5).map(|n| s.decide(&turn(text, n)).reply).collect();
                let shell = |r: &Reply| match r {
                    Reply::Tools { calls, .. } => match calls.as_slice() {
                        [ToolCall::Shell { command, .. }] => command.clone(),
                        other => panic!("one shell call expected: {other:?}"),
                    },
                    other => panic!("tools expected: {other:?}"),
                };
                assert_eq!(
                    shell(&steps[0]),
                    "'/opt/g/gaffer' --project '/tmp/p' mail --mail-url 'http://127.0.0.1:9/mcp/' \
                     reserve --agent GreenCastle --ttl 900 --reason self-rl-3ab notes/api.txt"
                );
                assert_eq!(
                    steps[1],
                    Reply::Tools {
                        text: String::new(),
                        calls: vec![ToolCall::WriteFile {
                            path: "/tmp/p/notes/api.txt".into(),
                            content: "rl-3ab: written by the scripted model through the real \
                                      CLI\n"
                                .into()
                        }]
                    }
                );
                assert!(
                    shell(&steps[2]).ends_with(
                        "quality record-tests --agent %7 --package real-e2e --passed 3 --failed 0"
                    ),
                    "{:?}",
                    steps[2]
                );
                assert_eq!(
                    shell(&steps[3]),
                    "'/opt/g/gaffer' --project '/tmp/p' done rl-3ab --reason wrote-notes/api.txt"
                );
                assert!(
                    matches!(&steps[4], Reply::Text { text, .. } if text.contains("Finished rl-3ab")),
                    "{:?}",
                    steps[4]
                );
            }
        }
    }

    #[test]
    fn other_prompts_get_a_plain_answer() {
        let mut s = agent_script(&ScriptParams {
            gaffer: Path::new("/g"),
            project: Path::new("/p"),
            mail_url: None,
            pane: "%1",
            br_dir: Some(Path::new("/opt/br")),
        });
        let d = s.decide(&turn("Hello, please summarise this repository.", 0));
        assert!(matches!(d.reply, Reply::Text { .. }), "{d:?}");
        assert_eq!(d.source, "default");
        // With br, every gaffer step finds it whatever PATH the CLI's shell has.
        let prompt = "gaffer assigned you rl-1 (P1): Write notes/a.txt (a)\n\nYour Agent Mail \
                      name is BlueLake. Reserve files";
        let d = s.decide(&turn(prompt, 3));
        assert!(
            matches!(&d.reply, Reply::Tools { calls, .. } if matches!(&calls[..],
                [ToolCall::Shell { command, .. }]
                    if command == "env 'PATH=/opt/br:/usr/local/bin:/usr/bin:/bin' '/g' \
                                   --project '/p' done rl-1 --reason wrote-notes/a.txt")),
            "{d:?}"
        );
    }

    #[test]
    fn the_tasks_form_a_chain() {
        for (i, t) in TASKS.iter().enumerate() {
            assert!(t.blocked_by.iter().all(|b| *b < i), "{}", t.file);
            assert!(
                regex_free_title_has_file(&task_title(t), t.file),
                "{}",
                t.file
            );
        }
        assert!(TASKS.iter().filter(|t| t.blocked_by.is_empty()).count() >= 2);
        assert!(TASKS.iter().any(|t| t.blocked_by.len() > 1));
    }

    fn regex_free_title_has_file(title: &str, file: &str) -> bool {
        title.starts_with(&format!("Write {file} "))
    }
}
