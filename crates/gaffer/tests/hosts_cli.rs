//! The gaffer binary over `[[hosts]]`: a local tmux session plus a simulated host (a network
//! namespace with a real sshd and its own tmux server, `gaffer_testkit::hosts`), each running
//! gaffer-sim agents. `gaffer status --json` and `gaffer explain` see both, with local panes
//! keyed `%N` and the host's `box-0:%N`, through one SSH connection per run.
//!
//! Needs root (namespaces) and Debian's openssh-server; skips with a message otherwise, and
//! fails under `CI=true`.

use gaffer_coordinator::ledger::Ledger;
use gaffer_core::event::CoordinatorEvent;
use gaffer_testkit::hosts::{self, SimHost, SimHosts};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{cli, wait_until};
use std::path::Path;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_gaffer");

/// The project's `.gaffer/config.toml`: the local tmux server, and `h` as a `[[hosts]]` entry
/// (its session is the `[tmux]` one, "proj", by default).
fn write_config(dir: &Path, local: &TmuxServer, h: &SimHost) {
    hosts::write_config(dir, &local.name, &[h.hosts_entry("")]);
}

/// `gaffer --json status`, parsed.
fn status(dir: &Path) -> Result<serde_json::Value, String> {
    let out = cli::run(BIN, dir, &["--json", "status"]);
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}"))
}

#[test]
fn status_and_explain_list_local_and_remote_agents_with_their_keys() {
    if !hosts::run_isolated("status_and_explain_list_local_and_remote_agents_with_their_keys") {
        return;
    }
    let set = SimHosts::new("box", 1, 82).expect("simulated hosts");
    let h = set.host(0);
    let remote = h.spawn_sims("proj", "claude", 2).expect("remote sims");
    let local = TmuxServer::new("hcli");
    let sim = gaffer_testkit::sim::binary().display().to_string();
    let local_id = local.agent(
        "proj",
        "proj__cc_9",
        &format!("{} --agent claude", gaffer_testkit::shell_quote(&sim)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), &local, h);

    let mut want: Vec<String> = remote.iter().map(|id| format!("{}:{id}", h.name)).collect();
    want.push(local_id.clone());
    want.sort();

    // Every agent, local and remote, read WAITING under its key.
    let mut runs = 0u64;
    let mut last = String::new();
    let all_waiting = wait_until(Duration::from_secs(60), || {
        runs += 1;
        match status(dir.path()) {
            Err(e) => {
                last = e;
                false
            }
            Ok(doc) => {
                let agents = doc["agents"].as_array().cloned().unwrap_or_default();
                let mut keys: Vec<String> = agents
                    .iter()
                    .filter_map(|a| a["pane_id"].as_str().map(str::to_string))
                    .collect();
                keys.sort();
                last = doc.to_string();
                keys == want && agents.iter().all(|a| a["status"] == "WAITING")
            }
        }
    });
    assert!(
        all_waiting,
        "status never listed {want:?} all waiting: {last}"
    );
    let doc = status(dir.path()).expect("status");
    runs += 1;
    let problems = doc["problems"].as_array().cloned().unwrap_or_default();
    assert!(problems.is_empty(), "{problems:?}");
    let by_key = |k: &str| {
        doc["agents"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["pane_id"] == k).cloned())
            .unwrap_or_default()
    };
    assert_eq!(by_key(&local_id)["title"], "proj__cc_9");
    assert_eq!(by_key(&want[0])["agent_type"], "cc");
    assert_eq!(by_key(&want[0])["session"], "proj");
    // Each host's observation latency is reported.
    assert_eq!(doc["hosts"][0]["host"], h.name.as_str(), "{doc}");
    assert!(doc["hosts"][0]["latency_ms"].is_u64(), "{doc}");

    // One SSH connection per run (two remote panes, one connection), closed when gaffer exits.
    assert_eq!(h.connections_opened(), runs);
    assert!(wait_until(Duration::from_secs(10), || h.connections_open() == 0));

    // The table names the remote agents by their keys too.
    let out = cli::run(BIN, dir.path(), &["status"]);
    runs += 1;
    let text = String::from_utf8_lossy(&out.stdout);
    for k in &want {
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{k} "))),
            "{k} missing:\n{text}"
        );
    }
    let line = format!("host {}: observed in ", h.name);
    assert!(text.lines().any(|l| l.starts_with(&line)), "{text}");
    assert_eq!(h.connections_opened(), runs);

    // `explain` takes a host-qualified key, and names it.
    let key = format!("{}:{}", h.name, remote[0]);
    let out = cli::run(BIN, dir.path(), &["--json", "explain", &key]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("explain json");
    assert_eq!(e["pane_id"], key.as_str());
    assert_eq!(e["status"], "WAITING", "{e}");

    // `send` delivers to a remote agent by its key, verified, over the host's connection.
    let out = cli::run(BIN, dir.path(), &["send", &key, "hello from afar"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(wait_until(Duration::from_secs(10), || h
        .tmux
        .capture(&remote[0])
        .contains("hello from afar")));

    // A key naming no configured host is refused with a clear message.
    let out = cli::run(BIN, dir.path(), &["explain", "nowhere:%1"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nowhere:%1"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The events in the project's ledger.
fn events(dir: &Path) -> Vec<CoordinatorEvent> {
    Ledger::open(&dir.join(".gaffer/state.db"))
        .ok()
        .and_then(|l| l.events_since(0).ok())
        .map(|(events, _)| events.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default()
}

#[test]
fn gaffer_run_records_a_partitioned_host_as_unreachable_then_reachable() {
    if !hosts::run_isolated("gaffer_run_records_a_partitioned_host_as_unreachable_then_reachable") {
        return;
    }
    let set = SimHosts::new("box", 1, 84).expect("simulated hosts");
    let h = set.host(0);
    let remote = h.spawn_sims("proj", "claude", 2).expect("remote sims");
    let keys: Vec<String> = remote.iter().map(|id| format!("{}:{id}", h.name)).collect();
    let local = TmuxServer::new("hrun");
    let sim = gaffer_testkit::sim::binary().display().to_string();
    let local_id = local.agent(
        "proj",
        "proj__cc_9",
        &format!("{} --agent claude", gaffer_testkit::shell_quote(&sim)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".beads")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir");
    std::fs::write(dir.path().join(".beads/issues.jsonl"), "").expect("issues");
    write_config(dir.path(), &local, h);

    let run = cli::command(BIN, dir.path())
        .args(["--project", &dir.path().display().to_string()])
        .args(["run", "--exit-after", "90"])
        .args(["--set", "coordinator.poll_interval=300ms"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gaffer run");
    let has = |kind: &str| {
        events(dir.path())
            .iter()
            .any(|e| e.event_type.as_str() == kind)
    };
    let result = (|| -> Result<(), String> {
        if !wait_until(Duration::from_secs(30), || has("coordinator_started")) {
            return Err("no coordinator_started".into());
        }
        h.partition()?;
        if !wait_until(Duration::from_secs(60), || has("host_unreachable")) {
            return Err("no host_unreachable".into());
        }
        // A one-shot status meanwhile lists the local agent and warns about the host.
        let out = cli::run(BIN, dir.path(), &["--json", "status"]);
        let doc: serde_json::Value =
            serde_json::from_slice(&out.stdout).map_err(|e| format!("status json: {e}"))?;
        let listed: Vec<&str> = doc["agents"]
            .as_array()
            .map(|a| a.iter().filter_map(|x| x["pane_id"].as_str()).collect())
            .unwrap_or_default();
        let warned = doc["problems"].as_array().is_some_and(|p| {
            p.iter().any(|x| {
                x.as_str()
                    .is_some_and(|x| x.starts_with(&format!("host {}: unreachable", h.name)))
            })
        });
        if !out.status.success() || listed != [local_id.as_str()] || !warned {
            return Err(format!("status while down: {doc}"));
        }
        h.heal()?;
        if !wait_until(Duration::from_secs(90), || has("host_reachable")) {
            return Err("no host_reachable".into());
        }
        Ok(())
    })();
    // SAFETY: signalling the child this test started, by its pid.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let out = run.wait_with_output().expect("gaffer run ends");
    let evs = events(dir.path());
    let kinds: Vec<&str> = evs.iter().map(|e| e.event_type.as_str()).collect();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: String = stderr
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    assert!(result.is_ok(), "{result:?}: events {kinds:?}\n{tail}");

    // The first poll saw the local agent and the host's under their keys.
    let started = evs
        .iter()
        .find(|e| e.event_type.as_str() == "coordinator_started")
        .expect("coordinator_started");
    let seen = started.details["agents"].to_string();
    for k in keys.iter().chain([&local_id]) {
        assert!(seen.contains(&format!("\"{k}\"")), "{k} not in {seen}");
    }
    // One event each way for the host, the agents held (not gone) in between.
    let down: Vec<&CoordinatorEvent> = evs
        .iter()
        .filter(|e| e.event_type.as_str() == "host_unreachable")
        .collect();
    assert_eq!(down.len(), 1, "{kinds:?}");
    assert_eq!(down[0].details["host"], h.name.as_str());
    assert_eq!(down[0].details["agents"], 2);
    let up = evs
        .iter()
        .position(|e| e.event_type.as_str() == "host_reachable")
        .expect("host_reachable");
    let at_down = evs
        .iter()
        .position(|e| e.event_type.as_str() == "host_unreachable")
        .expect("host_unreachable");
    assert!(at_down < up, "{kinds:?}");
    assert!(
        !evs.iter().any(|e| e.event_type.as_str() == "agent_gone"),
        "{kinds:?}"
    );
}

#[test]
fn work_on_a_host_partitioned_past_the_grace_is_handed_back_once() {
    if !hosts::run_isolated("work_on_a_host_partitioned_past_the_grace_is_handed_back_once") {
        return;
    }
    let set = SimHosts::new("box", 1, 85).expect("simulated hosts");
    let h = set.host(0);
    let sim = gaffer_testkit::sim::binary().display().to_string();
    // One remote agent that works a long time on what it gets; the local session has no agent.
    let pane = h
        .spawn_pane(
            "proj",
            &format!(
                "{} --agent cc --work-secs 120",
                gaffer_testkit::shell_quote(&sim)
            ),
            "proj__cc_1",
        )
        .expect("remote sim");
    let key = format!("{}:{pane}", h.name);
    let local = TmuxServer::new("hgrace");
    local.session("proj", "sleep 600");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".beads")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir");
    std::fs::write(
        dir.path().join(".beads/issues.jsonl"),
        r#"{"id":"hg-1","title":"Implement the lexer in src/lexer.rs","status":"open","priority":1,"issue_type":"feature","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
"#,
    )
    .expect("issues");
    write_config(dir.path(), &local, h);
    let records = || {
        Ledger::open(&dir.path().join(".gaffer/state.db"))
            .ok()
            .and_then(|l| l.all().ok())
            .unwrap_or_default()
    };
    let run = cli::command(BIN, dir.path())
        .args(["--project", &dir.path().display().to_string()])
        .args(["run", "--auto-assign", "--exit-after", "90"])
        .args(["--set", "coordinator.poll_interval=300ms"])
        .args(["--set", "coordinator.idle_threshold=0.5"])
        .args(["--set", "coordinator.tmux_grace=3s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gaffer run");
    let handed_back = |evs: &[CoordinatorEvent]| {
        evs.iter()
            .any(|e| e.event_type.as_str() == "work_handed_back")
    };
    let result = (|| -> Result<(), String> {
        let working = wait_until(Duration::from_secs(40), || {
            records().iter().any(|r| {
                r.assignment.agent_pane_id == key
                    && r.state == gaffer_coordinator::ledger::AssignmentState::Working
            })
        });
        if !working {
            return Err(format!("never working: {:?}", records()));
        }
        h.partition()?;
        if !wait_until(Duration::from_secs(60), || handed_back(&events(dir.path()))) {
            return Err("never handed back".into());
        }
        h.heal()?;
        Ok(())
    })();
    // SAFETY: signalling the child this test started, by its pid.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let out = run.wait_with_output().expect("gaffer run ends");
    let evs = events(dir.path());
    let kinds: Vec<&str> = evs.iter().map(|e| e.event_type.as_str()).collect();
    assert!(
        result.is_ok(),
        "{result:?}: {kinds:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pos = |k: &str| kinds.iter().position(|x| *x == k).unwrap_or(usize::MAX);
    assert!(
        pos("host_unreachable") < pos("work_handed_back"),
        "{kinds:?}"
    );
    let backs: Vec<&CoordinatorEvent> = evs
        .iter()
        .filter(|e| e.event_type.as_str() == "work_handed_back")
        .collect();
    assert_eq!(backs.len(), 1, "{kinds:?}");
    assert_eq!(backs[0].details["status"], "UNKNOWN");
    let reason = backs[0].details["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with(&format!(
            "host_unreachable: host {} unreachable since",
            h.name
        )),
        "{reason}"
    );
    // The record ended; nothing else holds the bead (the one agent was away).
    let recs = records();
    assert!(
        recs.iter()
            .all(|r| r.state != gaffer_coordinator::ledger::AssignmentState::Working),
        "{recs:?}"
    );
}

/// The dashboard's jump (`g`) on an agent of a host attaches to the host's tmux session at that
/// pane, over a channel of the host's one SSH connection with a terminal, and the dashboard
/// comes back when the human detaches there.
#[test]
fn the_dashboard_jumps_to_a_remote_agent_and_comes_back() {
    if !hosts::run_isolated("the_dashboard_jumps_to_a_remote_agent_and_comes_back") {
        return;
    }
    let set = SimHosts::new("box", 1, 96).expect("simulated hosts");
    let h = set.host(0);
    let remote = h.spawn_sims("proj", "claude", 1).expect("remote sims");
    let key = format!("{}:{}", h.name, remote[0]);
    let local = TmuxServer::new("hjump");
    let sim = gaffer_testkit::sim::binary().display().to_string();
    local.agent(
        "proj",
        "proj__cc_9",
        &format!("{} --agent claude", gaffer_testkit::shell_quote(&sim)),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), &local, h);
    let d = gaffer_testkit::shell_quote(&dir.path().display().to_string());
    let cmd = format!(
        "cd {d} && AGENT_MAIL_URL= TERM=xterm-256color {} --project {d} dashboard ; sleep 30",
        gaffer_testkit::shell_quote(BIN),
    );
    let ui = local.agent_sized("ui", "dashboard", &cmd, 140, 40);
    let screen = || local.capture(&ui);
    let shown = wait_until(Duration::from_secs(60), || {
        let s = screen();
        s.contains(&key) && s.matches("WAITING").count() >= 2
    });
    assert!(shown, "the dashboard never listed {key}:\n{}", screen());
    // the clients with a terminal attached there (gaffer's own control-mode client is not one)
    let clients = || {
        h.tmux
            .run(&[
                "list-clients",
                "-F",
                "#{client_control_mode} #{session_name}",
            ])
            .lines()
            .filter_map(|l| l.strip_prefix("0 ").map(str::to_string))
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(clients(), "", "nobody attached to the host yet");

    // The local agent (`%N`) sorts first: select the host's, then jump.
    local.run(&["send-keys", "-t", &ui, "Down"]);
    local.run(&["send-keys", "-t", &ui, "g"]);
    let attached = wait_until(Duration::from_secs(20), || clients() == "proj");
    assert!(attached, "no client attached on the host:\n{}", screen());
    let active = h
        .tmux
        .run(&["display-message", "-p", "-t", "proj", "#{pane_id}"]);
    assert_eq!(
        active.trim(),
        remote[0],
        "the agent's pane is the active one"
    );
    assert_eq!(
        h.connections_open(),
        1,
        "the jump rode the host's one connection"
    );

    // Detach there (tmux's prefix, then d): the dashboard is back and says where it was.
    local.run(&["send-keys", "-t", &ui, "C-b", "d"]);
    let back = wait_until(Duration::from_secs(20), || {
        screen().contains(&format!("back from {key}"))
    });
    assert!(back, "{}", screen());
    assert_eq!(clients(), "");
    local.run(&["send-keys", "-t", &ui, "q"]);
}
