//! Latency from an agent's own event to gaffer's state change, on the pinned real CLIs (issue 12,
//! item 5): through hooks, beside the screen alone.
//!
//! For each pinned CLI (cc, cod, gmi) two panes run side by side, each against its own scripted
//! model server, each watched by its own `gaffer run --json`: one with gaffer's hooks installed
//! (`gaffer hooks install --user` in its throwaway HOME), one without: the screen alone (Claude
//! is kept from writing its session file, which gaffer would read). Turns alternate between the two panes, FAST
//! (an immediate answer) and SLOW (streamed over about 4 s), so load hits both alike. For each
//! turn:
//!
//! - **turn_start**: the model server's receipt of the turn's first request → the coordinator's
//!   `agent_busy` event (its own timestamp). With hooks this can be negative: the turn-start hook
//!   fires before the CLI sends its request.
//! - **turn_end**: the model server's last byte of the turn's answer → the coordinator's last
//!   `agent_idle` event of the turn.
//!
//! With hooks, each edge is also timed from the CLI's own event, the hook firing: the signal's
//! time is the `gaffer hook` process's start (taken first thing in its `main`).
//!
//! Every time is this machine's wall clock (`CLOCK_REALTIME`: `SystemTime`/`chrono::Utc::now`
//! in the model server, the hook and the coordinator alike), in ms. A transition gaffer never
//! reported is counted as missed; an `agent_idle` before the answer ended as a wrong early idle.
//!
//! `cargo bench -p gaffer --bench agent_latency` (as root: each run is re-executed inside a
//! loopback-only network namespace); `-- --turns N` (default 20 per CLI and mode), `--agents
//! cc,gmi`; `--smoke` (CI) runs 2 turns on cc and fails only when the hook path missed a
//! transition or a turn was lost. Per CLI and edge it prints lines a script can read:
//!
//! ```text
//! latency: cli=cc edge=turn_end source=hook p50=…ms p99=…ms min=…ms max=…ms n=… missed=… # …
//! ```
//!
//! with `source=` `hook` (a: the hook fired → gaffer's event), `cli` (the model server's event →
//! the hook fired), `model` (b: the model server's event → gaffer's event, hooks installed),
//! `screen` (c: the same without hooks), `model_read`/`screen_read` (b and c as a consumer of
//! `gaffer run --json` reads them), then whether (a) meets the issue's target (p50 ≤ 50 ms, p99 ≤
//! 250 ms; the run fails when it does not, except in `--smoke`) and the screen/model ratio.
//! Without `--bench` (as `cargo test --all-targets` runs it) it only says how to run it.

use gaffer_coordinator::signal_store::SignalStore;
use gaffer_core::signals::HookEvent;
use gaffer_model_sim::{ModelServer, Reply, Rule, Script, ToolCall};
use gaffer_testkit::netns::{self, Isolation};
use gaffer_testkit::real_agent::{self, LaunchOptions};
use gaffer_testkit::tmux::TmuxServer;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_gaffer");
/// The issue's targets for the hook path.
const TARGET_P50_MS: f64 = 50.0;
const TARGET_P99_MS: f64 = 250.0;

struct Args {
    bench: bool,
    turns: usize,
    agents: Vec<String>,
    /// A short functional run (CI): the hook path must report every transition; the targets
    /// are printed but not enforced (a few turns on a loaded machine say little about a p99).
    smoke: bool,
    /// Turns per CLI and mode that stop at a permission dialog (after the plain turns).
    permission_turns: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        bench: false,
        turns: 20,
        agents: vec!["cc".into(), "cod".into(), "gmi".into()],
        smoke: false,
        permission_turns: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--bench" => a.bench = true,
            "--smoke" => {
                a.smoke = true;
                a.turns = 2;
                a.permission_turns = 0;
                a.agents = vec!["cc".into()];
            }
            "--turns" => {
                let v = it.next().ok_or("--turns needs a value")?;
                a.turns = v.parse().map_err(|e| format!("--turns {v}: {e}"))?;
            }
            "--permission-turns" => {
                let v = it.next().ok_or("--permission-turns needs a value")?;
                a.permission_turns = v
                    .parse()
                    .map_err(|e| format!("--permission-turns {v}: {e}"))?;
            }
            "--agents" => {
                let v = it.next().ok_or("--agents needs a value")?;
                a.agents = v.split(',').map(|s| s.trim().to_string()).collect();
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.turns == 0 {
        return Err("--turns must be positive".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("agent_latency: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.bench {
        println!(
            "agent_latency: not run under cargo test; run it with `cargo bench -p gaffer --bench agent_latency`"
        );
        return ExitCode::SUCCESS;
    }
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match netns::isolate_with_args(&argv) {
        Isolation::Inside => {}
        Isolation::RanInChild(ok) => {
            return if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
        Isolation::Unavailable(why) => {
            println!("agent_latency: skipped: cannot isolate the real agents: {why}");
            // in CI the real agents are required, as in the live tests
            return if std::env::var("CI").is_ok_and(|v| v == "true") {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    }
    println!(
        "agent_latency: {} turns per CLI and mode; load: {}",
        args.turns,
        load()
    );
    let mut ok = true;
    for kind in &args.agents {
        let installed = gaffer_model_sim::agents::pinned()
            .into_iter()
            .any(|p| p.kind == *kind && p.executable().is_some());
        if !installed {
            println!("agent_latency: {kind}: not installed (scripts/install-agents.sh); skipped");
            continue;
        }
        match bench_kind(kind, args.turns, args.permission_turns, args.smoke) {
            Ok(pass) => ok &= pass,
            Err(e) => {
                println!("agent_latency: {kind}: cannot run: {e}");
                ok = false;
            }
        }
    }
    println!("agent_latency: load at the end: {}", load());
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn now_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() * 1000.0)
        .unwrap_or(0.0)
}

/// The built-in script with SLOW shortened to about 4 s (16 chunks, 250 ms apart), so that a
/// run of many turns stays short.
fn script() -> Script {
    let mut s = Script::builtin();
    // a shell command that each CLI asks the human about (`touch`; escalated for Codex, the only
    // one that reads the flag), then a short answer once it ran
    s.rules.insert(
        0,
        Rule {
            pattern: r"\bPERMIT\b".into(),
            reply: Reply::Tools {
                text: "I will run a command.".into(),
                calls: vec![ToolCall::Shell {
                    command: "touch gaffer-latency-ok.txt".into(),
                    escalated: true,
                }],
            },
            then: vec![Reply::Text {
                text: "The command ran.".into(),
                chunks: 1,
                chunk_delay_ms: 0,
                first_delay_ms: 0,
            }],
            usage: None,
        },
    );
    s.rules.insert(
        0,
        Rule {
            pattern: r"\bSLOW\b".into(),
            reply: Reply::Text {
                text: "This answer streams for about four seconds, a few words at a time, \
                       until it is complete."
                    .into(),
                chunks: 16,
                chunk_delay_ms: 250,
                first_delay_ms: 0,
            },
            then: Vec::new(),
            usage: None,
        },
    );
    s
}

/// An event line of `gaffer run --json`, with when this process read it.
#[derive(Clone)]
struct Seen {
    kind: String,
    pane: String,
    /// The coordinator's own timestamp, ms since the epoch.
    at: f64,
    /// When the line was read here.
    read: f64,
}

/// One pane with its model server and its coordinator.
struct Rig {
    mode: &'static str,
    dir: tempfile::TempDir,
    home: PathBuf,
    server: ModelServer,
    tmux: TmuxServer,
    session: String,
    pane: String,
    run: Option<Child>,
    events: Arc<Mutex<Vec<Seen>>>,
    /// The last hook signal read from the project's ledger.
    signal_seq: i64,
}

impl Rig {
    fn start(kind: &str, hooks: bool) -> Result<Rig, String> {
        let mode = if hooks { "hooks" } else { "screen" };
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        for d in [".git", ".gaffer"] {
            std::fs::create_dir(dir.path().join(d)).map_err(|e| e.to_string())?;
        }
        let server =
            ModelServer::start("127.0.0.1:0", script(), None).map_err(|e| e.to_string())?;
        let home = dir.path().join("home");
        let cwd = dir.path().join("proj");
        let launch =
            real_agent::prepare(kind, &home, &cwd, &server.url(), &LaunchOptions::default())
                .map_err(|e| format!("prepare: {e}"))?;
        if !hooks && kind == "cc" {
            // the screen alone: without this, gaffer reads Claude's per-process session file
            // (`sessions/<pid>.json`, a structured source like a hook); a plain file in its
            // place keeps Claude from writing one
            std::fs::write(home.join(".claude/sessions"), b"").map_err(|e| e.to_string())?;
        }
        let session = format!("lat{kind}{mode}");
        let tmux = TmuxServer::new(&session);
        let mut rig = Rig {
            mode,

            dir,
            home,
            server,
            tmux,
            session,
            pane: String::new(),
            run: None,
            events: Arc::new(Mutex::new(Vec::new())),
            signal_seq: 0,
        };
        if hooks {
            let out = gaffer_testkit::cli::command(BIN, rig.dir.path())
                .env("HOME", &rig.home)
                .env_remove("CLAUDE_CONFIG_DIR")
                .env_remove("CODEX_HOME")
                .args(["hooks", "install", "--agent", kind, "--user"])
                .output()
                .map_err(|e| e.to_string())?;
            if !out.status.success() {
                return Err(format!(
                    "hooks install: {}",
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        // the pane's tmux variables reach the CLI (and its hooks), as a user's shell passes them
        let mut cmd = launch.shell_command_keeping(&["TMUX_PANE", "TMUX"]);
        if kind == "cod" {
            // Codex 0.171 runs new hooks only once trusted (docs/hooks.md); the same flag on both
            // panes keeps them alike
            cmd.push_str(" --dangerously-bypass-hook-trust");
        }
        let title = format!("{}__{kind}_1", rig.session);
        rig.pane = rig.tmux.agent(&rig.session, &title, &cmd);
        Ok(rig)
    }

    /// Starts `gaffer run --json` on the pane's session and collects its events.
    fn coordinate(&mut self) -> Result<(), String> {
        let mut child = gaffer_testkit::cli::command(BIN, self.dir.path())
            .args([
                "run",
                "--json",
                "--socket",
                &self.tmux.name,
                "--session",
                &self.session,
                "--exit-after",
                "3600",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("gaffer run: {e}"))?;
        let stdout = child.stdout.take().ok_or("gaffer run: no stdout")?;
        let events = Arc::clone(&self.events);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let read = now_ms();
                let Ok(v) = serde_json::from_str::<Value>(&line) else {
                    continue;
                };
                let at = v["timestamp"]
                    .as_str()
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.timestamp_micros() as f64 / 1000.0);
                let Some(at) = at else { continue };
                let seen = Seen {
                    kind: v["type"].as_str().unwrap_or_default().to_string(),
                    pane: v["agent_id"].as_str().unwrap_or_default().to_string(),
                    at,
                    read,
                };
                if let Ok(mut e) = events.lock() {
                    e.push(seen);
                }
            }
        });
        self.run = Some(child);
        Ok(())
    }

    fn status(&self) -> Value {
        let out = gaffer_testkit::cli::run(
            BIN,
            self.dir.path(),
            &[
                "status",
                "--socket",
                &self.tmux.name,
                "--session",
                &self.session,
                "--json",
            ],
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["agents"].get(0).cloned().unwrap_or_default()
    }

    fn wait_ready(&self, secs: u64) -> bool {
        let end = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < end {
            if self.status()["status"] == "WAITING" {
                return true;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        false
    }

    fn type_prompt(&self, text: &str) {
        self.tmux.run(&["send-keys", "-t", &self.pane, "-l", text]);
        std::thread::sleep(Duration::from_millis(400));
        self.tmux.run(&["send-keys", "-t", &self.pane, "Enter"]);
    }

    /// Presses Enter again while the prompt still sits in the composer (a CLI still settling
    /// may take the first Enter as nothing).
    fn nudge(&self, text: &str) {
        let screen = self.tmux.capture(&self.pane);
        let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
        let bottom = &lines[lines.len().saturating_sub(6)..];
        if bottom.iter().any(|l| l.contains(text)) {
            self.tmux.run(&["send-keys", "-t", &self.pane, "Enter"]);
        }
    }

    fn events_since(&self, n: usize) -> Vec<Seen> {
        self.events
            .lock()
            .map(|e| {
                e.iter()
                    .skip(n)
                    .filter(|s| s.pane == self.pane)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    fn event_count(&self) -> usize {
        self.events.lock().map(|e| e.len()).unwrap_or(0)
    }

    /// The hook signals recorded since the last call: (event, ms since the epoch).
    fn new_signals(&mut self) -> Vec<(HookEvent, f64)> {
        let db = self.dir.path().join(".gaffer/state.db");
        let Ok(store) = SignalStore::open(&db) else {
            return Vec::new();
        };
        let Ok((rows, _)) = store.since(self.signal_seq, 10_000) else {
            return Vec::new();
        };
        if let Some(last) = rows.last() {
            self.signal_seq = last.seq;
        }
        rows.into_iter()
            .filter(|s| s.pane_id == self.pane)
            .map(|s| (s.event, s.at.timestamp_micros() as f64 / 1000.0))
            .collect()
    }

    /// One turn; what was measured.
    fn turn(&mut self, i: usize) -> Turn {
        self.new_signals();
        let word = if i % 2 == 0 { "FAST" } else { "SLOW" };
        let marker = format!("latency turn {i} ");
        let prompt = format!("{marker}{word}");
        let logged = self.server.log().len();
        let seen_before = self.event_count();
        self.type_prompt(&prompt);
        let mut t = Turn::default();
        // the turn's requests: the first received, and the end of the last real answer
        let typed = Instant::now();
        let deadline = typed + Duration::from_secs(60);
        let mut nudged = 0u32;
        let mut answered: Option<(f64, f64)> = None;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            let log = self.server.log();
            let ours: Vec<_> = log
                .iter()
                .skip(logged)
                .filter(|e| {
                    e.turn
                        .as_ref()
                        .is_some_and(|t| t.last_user_text.contains(&marker))
                })
                .collect();
            if ours.is_empty() {
                if nudged < 2 && typed.elapsed() > Duration::from_secs(2 * u64::from(nudged + 1)) {
                    nudged += 1;
                    self.nudge(&prompt);
                }
                continue;
            }
            let first = ours.iter().map(|e| e.at_ms).min().unwrap_or(0) as f64;
            let main: Vec<_> = ours
                .iter()
                .filter(|e| {
                    e.decision
                        .as_ref()
                        .is_some_and(|d| d.source.starts_with("rule"))
                })
                .collect();
            // every real request of the turn answered to its end
            if !main.is_empty() && main.iter().all(|e| e.finished_ms.is_some()) {
                let end = main.iter().filter_map(|e| e.finished_ms).max().unwrap_or(0) as f64;
                answered = Some((first, end));
                break;
            }
        }
        let Some((start, end)) = answered else {
            t.lost = true;
            return t;
        };
        // the coordinator's verdict after the end: WAITING within 20 s (the screen alone may
        // need a poll interval, 5 s, to confirm it), then 1.5 s more for a late flap
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            let ev = self.events_since(seen_before);
            if ev
                .iter()
                .any(|s| s.kind == "agent_idle" && s.at >= end - 1.0)
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(1500));
        let ev = self.events_since(seen_before);
        t.decided_by = self.status()["decided_by"]
            .as_str()
            .unwrap_or("?")
            .to_string();
        let signals = self.new_signals();
        let first = |e: HookEvent| signals.iter().find(|s| s.0 == e).map(|s| s.1);
        if let Some(b) = ev.iter().find(|s| s.kind == "agent_busy") {
            t.start = Some((b.at - start, b.read - start));
            t.hook_start = first(HookEvent::TurnStart).map(|h| (h - start, b.at - h));
        }
        let idles: Vec<&Seen> = ev.iter().filter(|s| s.kind == "agent_idle").collect();
        t.early_idles = idles.iter().filter(|s| s.at < end).count();
        if t.early_idles > 0 {
            let trace: Vec<String> = ev
                .iter()
                .map(|s| format!("{} {:+.0}ms", s.kind, s.at - end))
                .collect();
            let hooks: Vec<String> = signals
                .iter()
                .map(|s| format!("{} {:+.0}ms", s.0.as_str(), s.1 - end))
                .collect();
            println!(
                "agent_latency: {} turn {i} ({word}): agent_idle before the answer's end (times from it): events {trace:?}; hooks {hooks:?}",
                self.mode
            );
        }
        if let Some(last) = idles.last().filter(|s| s.at >= end) {
            t.end = Some((last.at - end, last.read - end));
            t.hook_end = first(HookEvent::Stop).map(|h| (h - end, last.at - h));
        }
        t
    }

    /// One turn that stops at a permission dialog: the tool call's last byte (the model server's
    /// event) → the coordinator's `agent_blocked`; then the command is approved and the turn
    /// runs to its end before the next.
    fn permission_turn(&mut self, i: usize, kind: &str) -> Turn {
        self.new_signals();
        let marker = format!("latency turn {i} ");
        let prompt = format!("{marker}PERMIT");
        let logged = self.server.log().len();
        let seen_before = self.event_count();
        self.type_prompt(&prompt);
        let mut t = Turn::default();
        let typed = Instant::now();
        let deadline = typed + Duration::from_secs(60);
        let mut nudged = 0u32;
        let mut call_end: Option<f64> = None;
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
            let log = self.server.log();
            let call = log.iter().skip(logged).find(|e| {
                e.turn.as_ref().is_some_and(|t| {
                    t.last_user_text.contains(&marker) && t.tool_results_since_user == 0
                }) && e
                    .decision
                    .as_ref()
                    .is_some_and(|d| d.source.starts_with("rule"))
            });
            match call {
                Some(e) => {
                    if let Some(f) = e.finished_ms {
                        call_end = Some(f as f64);
                        break;
                    }
                }
                None => {
                    if nudged < 2
                        && typed.elapsed() > Duration::from_secs(2 * u64::from(nudged + 1))
                    {
                        nudged += 1;
                        self.nudge(&prompt);
                    }
                }
            }
        }
        let Some(end) = call_end else {
            t.lost = true;
            println!(
                "agent_latency: {} permission turn {i} lost (no tool call reached the model); the screen:\n{}",
                self.mode,
                self.tmux.capture(&self.pane)
            );
            return t;
        };
        let until = Instant::now() + Duration::from_secs(20);
        let mut blocked = None;
        while Instant::now() < until {
            blocked = self
                .events_since(seen_before)
                .into_iter()
                .find(|s| s.kind == "agent_blocked");
            if blocked.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let signals = self.new_signals();
        if let Some(b) = &blocked {
            t.blocked = Some((b.at - end, b.read - end));
            t.hook_blocked = signals
                .iter()
                .find(|s| s.0 == HookEvent::PermissionRequest)
                .map(|s| (s.1 - end, b.at - s.1));
        }
        // approve once the dialog is drawn (the hook fires before it is; a key sent earlier goes
        // elsewhere): Claude and Gemini take Enter on the first option, Codex y
        let dialog = |screen: &str| {
            [
                "Do you want to proceed",
                "Would you like to run",
                "Allow execution",
            ]
            .iter()
            .any(|m| screen.contains(m))
        };
        let key = if kind == "cod" { "y" } else { "Enter" };
        for _ in 0..3 {
            let until = Instant::now() + Duration::from_secs(10);
            while Instant::now() < until && !dialog(&self.tmux.capture(&self.pane)) {
                std::thread::sleep(Duration::from_millis(100));
            }
            std::thread::sleep(Duration::from_millis(300));
            self.tmux.run(&["send-keys", "-t", &self.pane, key]);
            std::thread::sleep(Duration::from_millis(1500));
            if !dialog(&self.tmux.capture(&self.pane)) {
                break;
            }
        }
        let until = Instant::now() + Duration::from_secs(30);
        while Instant::now() < until {
            let done = self.server.log().iter().skip(logged).any(|e| {
                e.turn
                    .as_ref()
                    .is_some_and(|t| t.tool_results_since_user > 0)
                    && e.finished_ms.is_some()
            });
            if done && self.status()["status"] == "WAITING" {
                break;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
        std::thread::sleep(Duration::from_millis(1000));
        t
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.run.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Rig {
    fn drop(&mut self) {
        self.stop();
        // the TmuxServer's drop kills every pane's process tree (the CLI and its children)
    }
}

/// What one turn measured, in ms. Each edge: (the model server's event → the coordinator's
/// event, the same read by this process).
#[derive(Default)]
struct Turn {
    start: Option<(f64, f64)>,
    end: Option<(f64, f64)>,
    /// `agent_idle` events stamped before the answer ended.
    early_idles: usize,
    /// No request or no answer reached the model server.
    lost: bool,
    decided_by: String,
    /// With hooks, per edge: (the model server's event → the hook fired, the hook fired → the
    /// coordinator's event); `None` when the hook or the event is missing.
    hook_start: Option<(f64, f64)>,
    hook_end: Option<(f64, f64)>,
    /// A permission turn: the tool call's last byte → `agent_blocked`, and its hook split.
    blocked: Option<(f64, f64)>,
    hook_blocked: Option<(f64, f64)>,
}

/// One edge's samples over the turns, ms.
#[derive(Default)]
struct Edge {
    /// (a) the hook fired → the coordinator's state change (hooks only).
    hook: Vec<f64>,
    /// The model server's event → the hook fired: what the CLI adds before its hook (hooks
    /// only).
    cli: Vec<f64>,
    /// (b) with hooks, (c) without: the model server's event → the coordinator's state change.
    model: Vec<f64>,
    /// The same, read by a consumer of `gaffer run --json`.
    read: Vec<f64>,
    /// Turns whose state change gaffer never reported.
    missed: usize,
    /// With hooks: turns with no hook signal for this edge.
    no_hook: usize,
}

impl Edge {
    fn add(&mut self, seen: Option<(f64, f64)>, hook: Option<(f64, f64)>, hooks: bool) {
        match seen {
            Some((a, r)) => {
                self.model.push(a);
                self.read.push(r);
            }
            None => self.missed += 1,
        }
        match hook {
            Some((c, g)) => {
                self.cli.push(c);
                self.hook.push(g);
            }
            // a hook figure needs both ends; a missed event is counted above
            None if hooks && seen.is_some() => self.no_hook += 1,
            None => {}
        }
    }
}

#[derive(Default)]
struct Figures {
    start: Edge,
    end: Edge,
    blocked: Edge,
    early_idles: usize,
    lost: usize,
    decided_by: std::collections::BTreeMap<String, usize>,
}

impl Figures {
    fn add(&mut self, t: Turn, hooks: bool) {
        if t.lost {
            self.lost += 1;
            return;
        }
        self.start.add(t.start, t.hook_start, hooks);
        self.end.add(t.end, t.hook_end, hooks);
        self.early_idles += t.early_idles;
        *self.decided_by.entry(t.decided_by).or_default() += 1;
    }

    fn add_permission(&mut self, t: Turn, hooks: bool) {
        if t.lost {
            self.lost += 1;
            return;
        }
        self.blocked.add(t.blocked, t.hook_blocked, hooks);
    }
}

/// The `p`-quantile (nearest rank) of `v`, or NaN when empty.
fn pct(v: &[f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

/// One figure as a line a script can read; returns (p50, p99).
fn line(kind: &str, edge: &str, source: &str, v: &[f64], missed: usize, note: &str) -> (f64, f64) {
    let (p50, p99) = (pct(v, 0.5), pct(v, 0.99));
    println!(
        "latency: cli={kind} edge={edge} source={source} p50={p50:.0}ms p99={p99:.0}ms min={:.0}ms max={:.0}ms n={} missed={missed} # {note}",
        pct(v, 0.0),
        pct(v, 1.0),
        v.len(),
    );
    (p50, p99)
}

fn bench_kind(
    kind: &str,
    turns: usize,
    permission_turns: usize,
    smoke: bool,
) -> Result<bool, String> {
    let started = Instant::now();
    let mut rigs = [Rig::start(kind, true)?, Rig::start(kind, false)?];
    for r in rigs.iter_mut() {
        if !r.wait_ready(120) {
            return Err(format!(
                "{} pane not WAITING after 120 s:\n{}",
                r.mode,
                r.tmux.capture(&r.pane)
            ));
        }
        r.coordinate()?;
    }
    // the coordinators' first passes
    std::thread::sleep(Duration::from_secs(3));
    let mut figs = [Figures::default(), Figures::default()];
    for i in 0..turns {
        for (r, f) in rigs.iter_mut().zip(figs.iter_mut()) {
            let t = r.turn(i);
            f.add(t, r.mode == "hooks");
        }
    }
    for i in 0..permission_turns {
        for (r, f) in rigs.iter_mut().zip(figs.iter_mut()) {
            let t = r.permission_turn(turns + i, kind);
            f.add_permission(t, r.mode == "hooks");
        }
    }
    for r in rigs.iter_mut() {
        r.stop();
    }
    println!(
        "agent_latency: {kind}: {turns} turns per mode in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let [hooks, screen] = &figs;
    let mut pass = true;
    let mut edges = vec![
        (
            "turn_start",
            &hooks.start,
            &screen.start,
            "its first request received",
        ),
        (
            "turn_end",
            &hooks.end,
            &screen.end,
            "its answer's last byte sent",
        ),
    ];
    if permission_turns > 0 {
        edges.push((
            "permission",
            &hooks.blocked,
            &screen.blocked,
            "the tool call's last byte sent",
        ));
    }
    for (edge, h, sc, event) in edges {
        let a = line(
            kind,
            edge,
            "hook",
            &h.hook,
            h.missed + h.no_hook,
            "hooks installed: the hook fired (its process's start) -> gaffer's event",
        );
        line(
            kind,
            edge,
            "cli",
            &h.cli,
            h.no_hook,
            &format!("hooks installed: the model server's event ({event}) -> the hook fired"),
        );
        let b = line(
            kind,
            edge,
            "model",
            &h.model,
            h.missed,
            &format!("hooks installed: the model server's event ({event}) -> gaffer's event"),
        );
        let c = line(
            kind,
            edge,
            "screen",
            &sc.model,
            sc.missed,
            &format!("no hooks: the model server's event ({event}) -> gaffer's event"),
        );
        line(
            kind,
            edge,
            "model_read",
            &h.read,
            h.missed,
            "hooks installed: as (model), read by a consumer of gaffer run --json",
        );
        line(
            kind,
            edge,
            "screen_read",
            &sc.read,
            sc.missed,
            "no hooks: as (screen), read by a consumer of gaffer run --json",
        );
        let met = a.0 <= TARGET_P50_MS && a.1 <= TARGET_P99_MS;
        println!(
            "latency: cli={kind} edge={edge} source=hook target p50<={TARGET_P50_MS}ms p99<={TARGET_P99_MS}ms: {}",
            if met { "met" } else { "NOT met" }
        );
        // a negative figure (the hook fired before the request) has no meaningful ratio; the
        // ratio is of the delays past zero, floored at 1 ms
        let r = |screen: f64, hooks: f64| screen.max(1.0) / hooks.max(1.0);
        println!(
            "latency: cli={kind} edge={edge} ratio screen/model p50={:.1} p99={:.1}",
            r(c.0, b.0),
            r(c.1, b.1)
        );
        pass &= met || smoke;
        pass &= h.missed == 0 && h.no_hook == 0;
    }
    for (mode, f) in [("hooks", hooks), ("screen", screen)] {
        println!(
            "latency: cli={kind} mode={mode} wrong_early_idle={} lost_turns={} decided_by_at_end={:?}",
            f.early_idles, f.lost, f.decided_by
        );
    }
    pass &= hooks.lost == 0;
    Ok(pass)
}
