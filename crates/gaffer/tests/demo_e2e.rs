//! End to end: the real `gaffer demo --headless --json` (real tmux on a private socket, four
//! gaffer-sim agents, the coordinator with auto-assign), checked from its ledger and event log:
//! with the embedded mailbox, and with the real Agent Mail server (required in CI).

use gaffer_coordinator::ledger::{AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_testkit::tmux::TmuxServer;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The two variants share two cores: one demo at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs the headless demo into `dir`; returns its JSON summary and exit code.
fn run_demo(dir: &Path, mail_url: Option<&str>) -> (Value, i32, Duration) {
    gaffer_testkit::sim::binary();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gaffer"));
    cmd.args(["demo", "--headless", "--json", "--exit-after", "90"])
        .arg("--project-dir")
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(u) = mail_url {
        cmd.args(["--mail-url", u]);
    }
    let started = Instant::now();
    let child = cmd.spawn().expect("gaffer runs");
    // Kills the demo's private tmux server if the demo could not (the test timed it out).
    let _guard = TmuxServer::named(&format!("gaffer-demo-{}", child.id()));
    let out = child.wait_with_output().expect("gaffer finishes");
    let took = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let json: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("one JSON summary expected ({e}): {stdout}\nstderr: {stderr}"));
    (json, out.status.code().unwrap_or(-1), took)
}

fn detail(e: &CoordinatorEvent, k: &str) -> String {
    e.details
        .get(k)
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string()
}

/// The demo's beads: id → (type, blockers), from the project it wrote.
fn beads(dir: &Path) -> BTreeMap<String, (String, Vec<String>)> {
    let bytes = std::fs::read(dir.join(".beads/issues.jsonl")).expect("beads file");
    let loaded = gaffer_beads::parse_issues(&bytes);
    assert!(
        loaded.skipped.is_empty(),
        "unreadable beads lines: {:?}",
        loaded.skipped
    );
    loaded
        .issues
        .into_iter()
        .map(|i| {
            let blockers = i
                .dependencies
                .iter()
                .filter(|d| d.dep_type == "blocks")
                .map(|d| d.depends_on_id.clone())
                .collect();
            (i.id, (i.issue_type, blockers))
        })
        .collect()
}

/// Messages in an agent's inbox, read through `gaffer mail inbox` (either backend).
fn inbox_subjects(dir: &Path, mail_url: Option<&str>, agent: &str) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gaffer"));
    cmd.arg("--project").arg(dir).arg("--json").arg("mail");
    if let Some(u) = mail_url {
        cmd.args(["--mail-url", u]);
    }
    let out = cmd
        .args(["inbox", "--agent", agent, "--limit", "200"])
        .output()
        .expect("gaffer runs");
    assert!(
        out.status.success(),
        "gaffer mail inbox --agent {agent}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("inbox JSON");
    let list = v
        .as_array()
        .cloned()
        .or_else(|| v["messages"].as_array().cloned())
        .unwrap_or_default();
    list.iter()
        .filter_map(|m| m["subject"].as_str().map(str::to_string))
        .collect()
}

fn check(dir: &Path, mail_url: Option<&str>) {
    let (summary, code, took) = run_demo(dir, mail_url);
    eprintln!(
        "demo ({}) took {:.1}s: {summary}",
        mail_url.unwrap_or("embedded"),
        took.as_secs_f64()
    );
    assert_eq!(code, 0, "the demo did not meet its expectations: {summary}");
    assert_eq!(summary["ok"], true);
    for k in [
        "assigned",
        "completed",
        "conflicts_detected",
        "digests_sent",
        "agents",
        "ledger",
        "events",
    ] {
        assert!(summary.get(k).is_some(), "summary lacks {k}: {summary}");
    }
    assert_eq!(summary["agents"].as_array().map(Vec::len), Some(4));

    let ledger = Ledger::open(&dir.join(".gaffer/state.db")).expect("the demo's ledger");
    let records = ledger.all().expect("assignments");
    let (events, bad) = ledger.events_since(0).expect("event log");
    assert_eq!(bad, 0, "every logged event parses");
    let events: Vec<CoordinatorEvent> = events.into_iter().map(|(_, e)| e).collect();
    let of = |kind: &str| -> Vec<&CoordinatorEvent> {
        events
            .iter()
            .filter(|e| e.event_type.as_str() == kind)
            .collect()
    };
    let beads = beads(dir);
    let tasks: Vec<&String> = beads
        .iter()
        .filter(|(_, (kind, _))| kind != "epic")
        .map(|(id, _)| id)
        .collect();
    assert!(tasks.len() >= 10, "about a dozen beads: {beads:?}");

    // Every ready bead was assigned exactly once and completed.
    let mut assigned: BTreeMap<String, Vec<&CoordinatorEvent>> = BTreeMap::new();
    for e in of("work_assigned") {
        assigned.entry(detail(e, "bead_id")).or_default().push(e);
    }
    for t in &tasks {
        let n = assigned.get(*t).map_or(0, Vec::len);
        assert_eq!(n, 1, "{t} assigned {n} times");
        let done: Vec<_> = records
            .iter()
            .filter(|r| &r.assignment.bead_id == *t && r.state == AssignmentState::Done)
            .collect();
        assert_eq!(done.len(), 1, "{t} completed once in the ledger");
    }
    assert!(
        !assigned.contains_key("dm-1"),
        "the epic is never assigned: {assigned:?}"
    );
    assert_eq!(summary["assigned"], of("work_assigned").len());
    assert_eq!(summary["completed"], tasks.len());

    // Dependents became ready and were assigned after their blockers closed.
    let completed_at: BTreeMap<String, _> = of("work_completed")
        .into_iter()
        .map(|e| (detail(e, "bead_id"), e.timestamp))
        .collect();
    let mut dependents = 0;
    for (id, (_, blockers)) in &beads {
        let Some(a) = assigned.get(id).and_then(|v| v.first()) else {
            continue;
        };
        for b in blockers {
            dependents += 1;
            let done = completed_at
                .get(b)
                .unwrap_or_else(|| panic!("blocker {b} of {id} never completed"));
            assert!(
                a.timestamp > *done,
                "{id} was assigned at {} before its blocker {b} closed at {done}",
                a.timestamp
            );
        }
    }
    assert!(dependents >= 10, "the graph has dependencies");

    // The conflict was detected, its holders notified, and a release negotiated.
    let conflicts = of("conflict_detected");
    assert!(!conflicts.is_empty(), "a conflict was caught");
    let holders: BTreeSet<String> = conflicts
        .iter()
        .flat_map(|c| {
            c.details["holders"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|h| h.as_str().map(str::to_string))
        })
        .collect();
    assert!(holders.len() >= 2, "two agents held the files: {holders:?}");
    for h in &holders {
        let subjects = inbox_subjects(dir, mail_url, h);
        assert!(
            subjects
                .iter()
                .any(|s| s.contains("Reservation Conflict Detected")),
            "{h} was notified: {subjects:?}"
        );
    }
    let asked = of("conflict_release_requested");
    assert!(!asked.is_empty(), "a release was requested");
    assert!(holders.contains(&detail(asked[0], "holder")));
    assert!(!of("conflict_resolved").is_empty(), "the conflict ended");
    assert_eq!(summary["conflicts_detected"], conflicts.len());

    // The rate-limited agent got no work while limited, and work after it recovered.
    let limited = summary["rate_limited_agent"]
        .as_str()
        .expect("rate-limited agent")
        .to_string();
    let mine: Vec<&CoordinatorEvent> = events.iter().filter(|e| e.agent_id == limited).collect();
    let hit = mine
        .iter()
        .position(|e| e.event_type.as_str() == "agent_rate_limited")
        .expect("the agent hit its rate limit");
    let recovered = mine[hit + 1..]
        .iter()
        .find(|e| {
            let s = detail(e, "new_status");
            !s.is_empty() && s != "RATE_LIMITED"
        })
        .map(|e| e.timestamp);
    let from = mine[hit].timestamp;
    for e in mine
        .iter()
        .filter(|e| e.event_type.as_str() == "work_assigned")
    {
        assert!(
            e.timestamp < from || recovered.is_some_and(|r| e.timestamp >= r),
            "{limited} was given {} while rate-limited",
            detail(e, "bead_id")
        );
    }
    assert!(recovered.is_some(), "the agent recovered");

    // The digest counts match the ledger, the summary and the human's inbox.
    let digests = of("digest_sent").len();
    assert!(digests >= 1, "digests were sent");
    assert_eq!(summary["digests_sent"], digests);
    let human = summary["digest_recipient"].as_str().expect("recipient");
    let in_inbox = inbox_subjects(dir, mail_url, human)
        .iter()
        .filter(|s| s.starts_with("Session Digest"))
        .count();
    assert_eq!(in_inbox, digests, "every digest reached {human}");
    for d in of("digest_sent") {
        assert_eq!(d.details["agent_count"], 4, "digests count the four agents");
    }
    let work = &summary["final_digest_work"];
    assert_eq!(work["in_progress_tasks"], 0, "final digest: {work}");
    assert_eq!(work["completed_today"], tasks.len(), "final digest: {work}");
    // Only the epic is left open.
    assert_eq!(work["pending_tasks"], 1, "final digest: {work}");

    // Test results were recorded for each task, and the coordinator's digest counts them.
    assert_eq!(summary["test_runs"], tasks.len());
    assert_eq!(summary["final_digest_test_runs"], tasks.len(), "{summary}");
    assert!(summary["tests_passed"].as_i64().unwrap_or(0) > 0);
    assert!(
        took < Duration::from_secs(90),
        "the demo is short: {took:?}"
    );
}

#[test]
fn headless_demo_with_the_embedded_mailbox() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    check(&dir, None);
}

#[test]
fn headless_demo_with_the_real_agent_mail_server() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let Some(server) = gaffer_testkit::agentmail::AgentMail::start() else {
        return;
    };
    let url = server.url.clone();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("demo");
    check(&dir, Some(&url));
    drop(server);
}

#[test]
fn demo_explains_what_is_missing() {
    // An occupied --project-dir is refused before anything starts.
    gaffer_testkit::sim::binary();
    let tmp = tempfile::tempdir().expect("tempdir");
    std::fs::write(tmp.path().join("file"), "x").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["demo", "--headless", "--project-dir"])
        .arg(tmp.path())
        .output()
        .expect("gaffer runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
}

#[test]
fn ctrl_c_stops_the_demo_and_cleans_up() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    gaffer_testkit::sim::binary();
    let child = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["demo", "--headless", "--json", "--exit-after", "60"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gaffer runs");
    let socket = format!("gaffer-demo-{}", child.id());
    let _guard = TmuxServer::named(&socket);
    // Wait until the agents are up, then press Ctrl-C.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        let up = Command::new("tmux")
            .args(["-L", &socket, "has-session", "-t", "demo"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if up {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(3));
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .is_ok_and(|s| s.success());
    assert!(sent, "SIGINT sent");
    let out = child.wait_with_output().expect("gaffer finishes");
    assert_eq!(out.status.code(), Some(130), "Ctrl-C exits 130");
    let v: Value = serde_json::from_slice(&out.stdout).expect("a JSON summary even when stopped");
    assert_eq!(v["interrupted"], true);
    assert_eq!(v["ok"], false);
    let dir = PathBuf::from(v["project_dir"].as_str().expect("project_dir"));
    assert!(!dir.exists(), "the temporary project was removed");
    let alive = Command::new("tmux")
        .args(["-L", &socket, "has-session"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(!alive, "the demo's tmux server was killed");
}
