//! Three simulated hosts × four simulated agents run a beads project to completion under one
//! coordinator (issue 15, item 5: "3 hosts × 4 agents run the demo scenario to completion").
//!
//! Each host is a network namespace with a real sshd and its own tmux server
//! (`gaffer_testkit::hosts`). `gaffer spawn --host box-i --sim --cc 4` lays the agents out there
//! over the host's one connection; `gaffer run --auto-assign` assigns the 20 beads globally (the
//! second wave is blocked by the first); every simulated agent reports its `gaffer done` home
//! from its host. The run ends when every bead is done: each done exactly once, no bead ever
//! held by two agents, work on every host, one SSH connection per host and command.
//!
//! Needs root (namespaces) and Debian's openssh-server; skips with a message otherwise, and
//! fails under `CI=true`.

use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_testkit::hosts::{self, SimHost, SimHosts};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{cli, wait_until};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_gaffer");
const HOSTS: usize = 3;
const AGENTS: usize = 4;
const BEADS: usize = 20;

/// The coordinator's `.gaffer/config.toml`: the local tmux server (no agents) and each host
/// with its project directory.
fn write_config(dir: &Path, local: &TmuxServer, hosts: &[(&SimHost, PathBuf)]) {
    let entries: Vec<String> = hosts
        .iter()
        .map(|(h, remote)| {
            h.hosts_entry(&format!("project = {:?}\n", remote.display().to_string()))
        })
        .collect();
    hosts::write_config(dir, &local.name, &entries);
}

/// 20 beads: `hd-1`…`hd-12` ready, `hd-13`…`hd-20` each blocked by one of the first wave.
fn beads_jsonl() -> String {
    let created = "2026-11-20T10:00:00Z";
    (1..=BEADS)
        .map(|i| {
            let deps = if i > 12 {
                format!(
                    r#"[{{"issue_id":"hd-{i}","depends_on_id":"hd-{}","type":"blocks","created_at":"{created}","created_by":"test"}}]"#,
                    i - 12
                )
            } else {
                "[]".to_string()
            };
            format!(
                r#"{{"id":"hd-{i}","title":"Implement part {i} in src/part{i}.rs","status":"open","priority":{},"issue_type":"feature","created_at":"{created}","updated_at":"{created}","dependencies":{deps}}}"#,
                i % 3
            ) + "\n"
        })
        .collect()
}

fn ledger(dir: &Path) -> Option<Ledger> {
    Ledger::open(&dir.join(".gaffer/state.db")).ok()
}

fn records(dir: &Path) -> Vec<AssignmentRecord> {
    ledger(dir).and_then(|l| l.all().ok()).unwrap_or_default()
}

fn events(dir: &Path) -> Vec<CoordinatorEvent> {
    ledger(dir)
        .and_then(|l| l.events_since(0).ok())
        .map(|(events, _)| events.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default()
}

fn done_beads(recs: &[AssignmentRecord]) -> usize {
    let mut done: Vec<&str> = recs
        .iter()
        .filter(|r| r.state == AssignmentState::Done)
        .map(|r| r.assignment.bead_id.as_str())
        .collect();
    done.sort();
    done.dedup();
    done.len()
}

#[test]
fn three_hosts_with_four_agents_each_finish_the_project() {
    if !hosts::run_isolated("three_hosts_with_four_agents_each_finish_the_project") {
        return;
    }
    let set = SimHosts::new("box", HOSTS, 94).expect("simulated hosts");
    let remotes = tempfile::tempdir().expect("tempdir");
    let hosts: Vec<(&SimHost, PathBuf)> = set
        .hosts()
        .iter()
        .map(|h| {
            let remote = remotes.path().join(&h.name);
            std::fs::create_dir_all(&remote).expect("mkdir");
            (h, remote)
        })
        .collect();
    let local = TmuxServer::new("hdemo");
    local.session("proj", "sleep 600");
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path();
    std::fs::create_dir_all(dir.join(".beads")).expect("mkdir");
    std::fs::create_dir_all(dir.join(".git")).expect("mkdir");
    std::fs::write(dir.join(".beads/issues.jsonl"), beads_jsonl()).expect("issues");
    write_config(dir, &local, &hosts);

    // Four simulated agents on each host, laid out over its one connection.
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (h, _) in &hosts {
        let n = AGENTS.to_string();
        let out = cli::run(
            BIN,
            dir,
            &["--json", "spawn", "--host", &h.name, "--sim", "--cc", &n],
        );
        assert!(
            out.status.success(),
            "spawn on {}: {}",
            h.name,
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("spawn json");
        let panes: Vec<String> = doc["panes"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p["pane_id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(panes.len(), AGENTS, "{doc}");
        keys.insert(h.name.clone(), panes);
    }
    let opened: Vec<u64> = hosts.iter().map(|(h, _)| h.connections_opened()).collect();

    let run = cli::command(BIN, dir)
        .args(["--project", &dir.display().to_string()])
        .args(["run", "--auto-assign", "--exit-after", "170"])
        .args(["--set", "coordinator.poll_interval=300ms"])
        .args(["--set", "coordinator.idle_threshold=0.5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gaffer run");
    let finished = wait_until(Duration::from_secs(160), || {
        done_beads(&records(dir)) == BEADS
    });
    // SAFETY: signalling the child this test started, by its pid (SIGINT: it stops cleanly).
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let out = run.wait_with_output().expect("gaffer run ends");
    let recs = records(dir);
    let evs = events(dir);
    let kinds: Vec<&str> = evs.iter().map(|e| e.event_type.as_str()).collect();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
    assert!(
        finished,
        "{} of {BEADS} beads done: {recs:?}\n{kinds:?}\n{tail:?}",
        done_beads(&recs)
    );

    // Every bead done exactly once; a bead given again only after an attempt that ended
    // without being done (never two records of one bead live together: the ledger refuses).
    let mut by_bead: BTreeMap<&str, Vec<&AssignmentRecord>> = BTreeMap::new();
    for r in &recs {
        by_bead
            .entry(r.assignment.bead_id.as_str())
            .or_default()
            .push(r);
    }
    assert_eq!(by_bead.len(), BEADS, "{recs:?}");
    for (bead, rs) in &by_bead {
        let done = rs
            .iter()
            .filter(|r| r.state == AssignmentState::Done)
            .count();
        assert_eq!(done, 1, "{bead}: {rs:?}");
    }
    let completed = evs
        .iter()
        .filter(|e| e.event_type.as_str() == "work_completed")
        .count();
    assert_eq!(completed, BEADS, "{kinds:?}");
    // The second wave came after its blocker was done.
    for i in 13..=BEADS {
        let first = |b: &str| {
            recs.iter()
                .filter(|r| r.assignment.bead_id == b)
                .map(|r| r.created_at)
                .min()
        };
        let blocker_done = recs
            .iter()
            .filter(|r| r.assignment.bead_id == format!("hd-{}", i - 12))
            .filter(|r| r.state == AssignmentState::Done)
            .map(|r| r.updated_at)
            .min();
        assert!(
            first(&format!("hd-{i}")) >= blocker_done,
            "hd-{i} assigned before hd-{} was done",
            i - 12
        );
    }
    // Work went to every host, and only to the agents laid out there.
    for (host, panes) in &keys {
        let worked = recs
            .iter()
            .filter(|r| panes.contains(&r.assignment.agent_pane_id))
            .count();
        assert!(worked > 0, "no work on {host}: {recs:?}");
    }
    let all: Vec<&String> = keys.values().flatten().collect();
    assert!(
        recs.iter()
            .all(|r| all.contains(&&r.assignment.agent_pane_id)),
        "{recs:?}"
    );
    // One connection per host for the whole run (spawn's came before).
    for ((h, _), before) in hosts.iter().zip(opened) {
        assert_eq!(h.connections_opened(), before + 1, "{}", h.name);
    }
}
