//! Observation end to end on a private tmux server with gaffer-sim agents: the monitor sees
//! state transitions live, `gaffer status` and `gaffer send` work on real panes, killed panes
//! and sessions are reported.

use gaffer_coordinator::monitor::{AgentMonitor, MonitorConfig};
use gaffer_core::detect::Detector;
use gaffer_core::exit;
use gaffer_core::status::AgentStatus;
use gaffer_testkit::tmux::TmuxServer as Server;
use gaffer_testkit::{shell_quote as q, wait_until};
use gaffer_tmux::cmd::Socket;
use gaffer_tmux::{TmuxOptions, TmuxPanes};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn sim_cmd(agent: &str, extra: &str, log: &Path) -> String {
    format!(
        "{} --agent {agent} --log {} {extra}",
        q(&gaffer_testkit::sim::binary().display().to_string()),
        q(&log.display().to_string())
    )
}

fn prompts(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["prompt"].as_str().map(String::from))
        .collect()
}

fn gaffer(dir: &Path, args: &[&str]) -> Output {
    gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), dir, args)
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".git")).expect("marker");
    dir
}

/// Waits until the monitor sees `n` agents, all WAITING.
fn all_waiting(m: &AgentMonitor, n: usize) -> bool {
    wait_until(Duration::from_secs(15), || {
        m.refresh().is_ok_and(|snap| {
            snap.agents.len() == n
                && snap
                    .agents
                    .iter()
                    .all(|a| a.observation.verdict.status == AgentStatus::Waiting)
        })
    })
}

fn monitor(server: &Server, session: &str) -> AgentMonitor {
    let panes = TmuxPanes::new(TmuxOptions::new(
        Socket::Name(server.name.clone()),
        Some(session.into()),
    ));
    AgentMonitor::new(
        Arc::new(panes),
        Detector::builtin(),
        MonitorConfig {
            stall_threshold: Duration::from_secs(60),
            confirm_observations: 2,
        },
    )
}

#[test]
fn monitor_sees_state_transitions_live() {
    let dir = project();
    let s = Server::new("transitions");
    let script = dir.path().join("script.txt");
    std::fs::write(
        &script,
        "thinking 2\ngenerating 2\nblocked 2\nwaiting 2\nerror 2\n",
    )
    .unwrap();
    let log = dir.path().join("p.jsonl");
    let extra = format!(
        "--start-state waiting --start-secs 2 --script {}",
        q(&script.display().to_string())
    );
    let pane = s.agent("tr", "tr__cc_1", &sim_cmd("cc", &extra, &log));
    let m = monitor(&s, "tr");
    let mut seen: Vec<AgentStatus> = Vec::new();
    let end = Instant::now() + Duration::from_secs(25);
    while Instant::now() < end {
        let snap = m.refresh().expect("refresh");
        if let Some(a) = snap.agents.iter().find(|a| a.pane.pane_id == pane) {
            if seen.last() != Some(&a.observation.status) {
                seen.push(a.observation.status);
            }
        }
        if seen.ends_with(&[AgentStatus::Waiting, AgentStatus::Error]) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let want = [
        AgentStatus::Waiting,
        AgentStatus::Thinking,
        AgentStatus::Generating,
        AgentStatus::Blocked,
        AgentStatus::Waiting,
        AgentStatus::Error,
    ];
    let mut it = seen.iter();
    for w in want {
        assert!(it.any(|s| *s == w), "{w:?} not seen in order: {seen:?}");
    }
}

#[test]
fn status_cli_reports_agents_and_errors() {
    let dir = project();
    let s = Server::new("status");
    let log = dir.path().join("p.jsonl");
    s.agent("st", "st__cc_1", &sim_cmd("cc", "--context-left 10", &log));
    s.agent(
        "st",
        "st__cod_1",
        &sim_cmd("cod", "--context-left 40", &log),
    );
    s.agent(
        "st",
        "st__gmi_1",
        &sim_cmd("gmi", "--context-left 70", &log),
    );
    s.agent("st", "plain", "sh");
    let args = ["status", "--socket", &s.name, "--session", "st", "--json"];
    let mut v = serde_json::Value::Null;
    let ok = wait_until(Duration::from_secs(15), || {
        let out = gaffer(dir.path(), &args);
        if out.status.code() != Some(exit::SUCCESS) {
            return false;
        }
        v = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["agents"]
            .as_array()
            .is_some_and(|a| a.len() == 3 && a.iter().all(|x| x["status"] == "WAITING"))
    });
    assert!(ok, "{v:#}");
    let agents = v["agents"].as_array().unwrap();
    let by = |t: &str| agents.iter().find(|a| a["agent_type"] == t).unwrap();
    assert_eq!(by("cc")["context_usage"], 90.0);
    assert_eq!(by("cod")["context_usage"], 60.0);
    assert_eq!(by("gmi")["context_usage"], 30.0);
    for a in agents {
        for key in [
            "rule",
            "reason",
            "evidence",
            "confidence",
            "idle_seconds",
            "healthy",
        ] {
            assert!(!a[key].is_null(), "{key} missing in {a}");
        }
    }
    assert_eq!(by("cc")["healthy"], true);
    assert!(
        by("cc")["issues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i == "context usage high (>85%)"),
        "{}",
        by("cc")
    );
    // Human output.
    let out = gaffer(
        dir.path(),
        &["status", "--socket", &s.name, "--session", "st"],
    );
    assert_eq!(out.status.code(), Some(exit::SUCCESS));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("st__cod_1") && text.contains("WAITING"),
        "{text}"
    );
    // A missing session is NOT_FOUND; a dead server is UNAVAILABLE, as JSON on stderr.
    let out = gaffer(
        dir.path(),
        &["status", "--socket", &s.name, "--session", "nope", "--json"],
    );
    assert_eq!(out.status.code(), Some(exit::NOT_FOUND));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "not_found");
    let out = gaffer(
        dir.path(),
        &[
            "status",
            "--socket",
            &format!("{}-none", s.name),
            "--session",
            "st",
        ],
    );
    assert_eq!(out.status.code(), Some(exit::UNAVAILABLE));
}

#[test]
fn send_cli_delivers_hostile_text_to_pane_type_and_all() {
    let dir = project();
    let s = Server::new("send");
    let logs: Vec<PathBuf> = (0..3)
        .map(|i| dir.path().join(format!("{i}.jsonl")))
        .collect();
    let cc = s.agent(
        "sd",
        "sd__cc_1",
        &sim_cmd("cc", "--work-secs 1.5", &logs[0]),
    );
    s.agent(
        "sd",
        "sd__cod_1",
        &sim_cmd("cod", "--work-secs 1.5", &logs[1]),
    );
    s.agent(
        "sd",
        "sd__gmi_1",
        &sim_cmd("gmi", "--work-secs 1.5", &logs[2]),
    );
    let m = monitor(&s, "sd");
    assert!(all_waiting(&m, 3));
    // `gaffer send` on the private server's session `sd`.
    let send = |args: &[&str]| {
        let mut all = vec!["send", "--socket", &s.name, "--session", "sd"];
        all.extend_from_slice(args);
        gaffer(dir.path(), &all)
    };
    let hostile = "fix a;b; then\nrun `C-c` and Enter — ünï ✳;";
    let out = send(&[&cc, hostile, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(exit::SUCCESS),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["deliveries"][0]["outcome"], "delivered");
    assert_eq!(prompts(&logs[0]), vec![hostile.to_string()]);
    // --type cod reaches only Codex.
    assert!(all_waiting(&m, 3));
    let out = send(&["--type", "codex", "second", "--json"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS));
    assert_eq!(prompts(&logs[1]), vec!["second".to_string()]);
    assert!(prompts(&logs[2]).is_empty());
    // --all reaches every agent (after they are back at their composers).
    assert!(all_waiting(&m, 3));
    let out = send(&["--all", "third", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(exit::SUCCESS),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for l in &logs {
        assert_eq!(prompts(l).last().map(String::as_str), Some("third"));
    }
    // A busy agent is refused (exit 1, reason in the report); --force would send anyway.
    let out = send(&[&cc, "while busy", "--json"]);
    assert_eq!(out.status.code(), Some(exit::FAILURE));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["deliveries"][0]["outcome"], "error");
    assert!(
        v["deliveries"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not WAITING"),
        "{v}"
    );
    assert!(!prompts(&logs[0]).contains(&"while busy".to_string()));
    // Unknown pane: NOT_FOUND.
    let out = send(&["%999", "x"]);
    assert_eq!(out.status.code(), Some(exit::NOT_FOUND));
}

#[test]
fn killed_pane_is_reported_and_monitor_keeps_running() {
    let dir = project();
    let s = Server::new("killed");
    let log = dir.path().join("p.jsonl");
    let a = s.agent("kl", "kl__cc_1", &sim_cmd("cc", "", &log));
    let b = s.agent("kl", "kl__cod_1", &sim_cmd("cod", "", &log));
    let m = monitor(&s, "kl");
    assert!(wait_until(Duration::from_secs(10), || {
        m.refresh().is_ok_and(|snap| snap.agents.len() == 2)
    }));
    s.run(&["kill-pane", "-t", &b]);
    let snap = m.refresh().expect("refresh after kill");
    assert_eq!(snap.vanished, vec![b.clone()]);
    assert_eq!(snap.agents.len(), 1);
    let gone = m.get_agent_status(&b, "cod");
    assert!(!gone.healthy);
    assert_eq!(gone.status, AgentStatus::Unknown);
    assert!(gone.error_message.contains("not found"));
    let health = m.check_agent_health(&b, "cod");
    assert!(!health.healthy && !health.issues.is_empty());
    // The agent's process exits: the pane is a shell → EXITED, unhealthy.
    let _ = a;
    s.run(&["kill-session", "-t", "=kl"]);
    s.agent("other", "x", "sleep 600");
    let snap = m.refresh().expect("refresh after session kill");
    assert!(snap.agents.is_empty());
    assert!(!snap.problems.is_empty());
    // A new session with the same name is picked up.
    s.agent("kl", "kl__gmi_1", &sim_cmd("gmi", "", &log));
    assert!(wait_until(Duration::from_secs(10), || {
        m.refresh()
            .is_ok_and(|snap| snap.agents.len() == 1 && snap.agents[0].pane.agent_type == "gmi")
    }));
    let all = m.get_all_agent_statuses().expect("all statuses");
    assert_eq!(all.len(), 1);
}

#[test]
fn explain_live_pane() {
    let dir = project();
    let s = Server::new("explain");
    let log = dir.path().join("p.jsonl");
    let pane = s.agent(
        "ex",
        "ex__cod_1",
        &sim_cmd("cod", "--start-state blocked", &log),
    );
    let args = [
        "explain",
        &pane,
        "--socket",
        &s.name,
        "--session",
        "ex",
        "--json",
    ];
    let mut v = serde_json::Value::Null;
    let ok = wait_until(Duration::from_secs(10), || {
        let out = gaffer(dir.path(), &args);
        v = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["status"] == "BLOCKED"
    });
    assert!(ok, "{v:#}");
    for key in [
        "reason",
        "rule",
        "evidence",
        "confidence",
        "context_usage",
        "trace",
    ] {
        assert!(v.get(key).is_some(), "{key} missing");
    }
    assert_eq!(v["kind"], "cod");
    // By title, readable.
    let out = gaffer(
        dir.path(),
        &[
            "explain",
            "ex__cod_1",
            "--socket",
            &s.name,
            "--session",
            "ex",
        ],
    );
    assert_eq!(out.status.code(), Some(exit::SUCCESS));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BLOCKED"));
    // Unknown pane.
    let out = gaffer(
        dir.path(),
        &["explain", "%999", "--socket", &s.name, "--session", "ex"],
    );
    assert_eq!(out.status.code(), Some(exit::NOT_FOUND));
}
