//! The whole job with the real agent CLIs, end to end, inside a loopback-only network
//! namespace: `gaffer demo --real-agents` runs the coordinator with auto-assign over one real
//! Claude Code, one Codex and one Gemini pane (private tmux), with the real Agent Mail server
//! and the real `br` on a small beads project with a dependency chain. Each CLI talks to its
//! own scripted model server, which "does" each assigned task with real tool calls through the
//! CLI (reserve, write, record tests, `gaffer done`). One agent hits its quota and gets nothing
//! until it clears.
//!
//! Checked here, independently of the demo's own verdict: from the ledger (`.gaffer/state.db`),
//! from br's beads file, from the agents' inboxes (Agent Mail) and from the model servers' logs.
//! On failure the panes and the model logs are printed.

use gaffer_coordinator::ledger::{AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TEST: &str = "real_agents_do_the_whole_job";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

fn scripts() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts")
}

fn find_br() -> Option<PathBuf> {
    if let Some(p) = gaffer_beads::process::which("br") {
        return Some(p);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let p = cargo_home.join("bin/br");
    p.is_file().then_some(p)
}

/// The real Agent Mail server, started with the project's script, stopped by PID on drop.
struct AgentMail {
    state: tempfile::TempDir,
    url: String,
}

impl AgentMail {
    fn start() -> AgentMail {
        let state = tempfile::tempdir().expect("tempdir");
        let out = Command::new("bash")
            .arg(scripts().join("agentmail.sh"))
            .arg("start")
            .arg(state.path())
            .env_remove("AGENT_MAIL_TOKEN")
            .output()
            .expect("bash runs");
        assert!(
            out.status.success(),
            "the real Agent Mail server did not start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
        AgentMail { state, url }
    }
}

impl Drop for AgentMail {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(scripts().join("agentmail.sh"))
            .arg("stop")
            .arg(self.state.path())
            .output();
    }
}

/// One line of a model server's log (the fields this test reads).
struct ModelTurn {
    at_ms: u64,
    user_text: String,
    tool_results: u64,
    source: String,
    commands: Vec<String>,
}

fn model_log(path: &Path) -> Vec<ModelTurn> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| ModelTurn {
            at_ms: v["at_ms"].as_u64().unwrap_or(0),
            user_text: v["turn"]["last_user_text"]
                .as_str()
                .unwrap_or("")
                .to_string(),
            tool_results: v["turn"]["tool_results_since_user"].as_u64().unwrap_or(0),
            source: v["decision"]["source"].as_str().unwrap_or("").to_string(),
            commands: v["decision"]["reply"]["calls"]
                .as_array()
                .map(|cs| {
                    cs.iter()
                        .filter_map(|c| c["command"].as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

/// The project's beads from br's JSONL: id → (title, status, blockers).
fn beads(dir: &Path) -> BTreeMap<String, (String, String, Vec<String>)> {
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
            (i.id, (i.title, i.status, blockers))
        })
        .collect()
}

fn inbox_subjects(dir: &Path, url: &str, agent: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .arg("--project")
        .arg(dir)
        .args(["--json", "mail", "--mail-url", url])
        .args(["inbox", "--agent", agent, "--limit", "200"])
        .output()
        .expect("gaffer mail inbox runs");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    v.as_array()
        .map(|ms| {
            ms.iter()
                .filter_map(|m| m["subject"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn detail(e: &CoordinatorEvent, k: &str) -> String {
    e.details
        .get(k)
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string()
}

/// Prints what explains a failure: the demo's stderr (pane screens and model-log tails when it
/// failed), the panes it kept, and each model log's turns.
fn explain(dir: &Path, stderr: &str) {
    eprintln!("=== gaffer demo stderr ===\n{stderr}");
    for kind in ["cc", "cod", "gmi"] {
        let pane = std::fs::read_to_string(dir.join(format!(".gaffer/demo/pane-{kind}.txt")))
            .unwrap_or_default();
        eprintln!("=== pane {kind} ===\n{pane}");
        eprintln!("=== model log {kind} ===");
        for t in model_log(&dir.join(format!(".gaffer/demo/model-{kind}.jsonl"))) {
            eprintln!(
                "  results={} source={} user={:?} commands={:?}",
                t.tool_results,
                t.source,
                t.user_text.chars().take(70).collect::<String>(),
                t.commands
            );
        }
    }
}

#[test]
fn real_agents_do_the_whole_job() {
    // Outside the namespace (the registry is reachable only there): the server's venv.
    if std::env::var_os(gaffer_testkit::netns::INSIDE_ENV).is_none() {
        let _ = Command::new("bash")
            .arg(scripts().join("agentmail.sh"))
            .arg("install")
            .status();
    }
    if !gaffer_testkit::netns::run_isolated(TEST) {
        return;
    }
    for kind in ["cc", "cod", "gmi"] {
        gaffer_testkit::agents::require(kind);
    }
    let Some(br) = find_br() else {
        assert!(
            !in_ci(),
            "CI: br is missing: scripts/install-br.sh must install it"
        );
        eprintln!("SKIPPED {TEST}: br not found (scripts/install-br.sh installs it)");
        return;
    };
    let mail = AgentMail::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("project");

    let path = std::env::join_paths(br.parent().map(Path::to_path_buf).into_iter().chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .expect("PATH");
    let started = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["--json", "demo", "--real-agents", "--headless"])
        .args(["--exit-after", "200", "--mail-url", &mail.url])
        .arg("--project-dir")
        .arg(&dir)
        .env("PATH", path)
        .env_remove("AGENT_MAIL_TOKEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gaffer runs");
    // The demo bounds itself (--exit-after); this bounds the test if it does not.
    let pid = child.id();
    let watchdog = std::thread::spawn(move || {
        let end = Instant::now() + Duration::from_secs(330);
        while Instant::now() < end {
            std::thread::sleep(Duration::from_millis(500));
            if std::fs::metadata(format!("/proc/{pid}")).is_err() {
                return false;
            }
        }
        let _ = Command::new("kill").arg(pid.to_string()).status();
        true
    });
    let stdout = child.stdout.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut b = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut b);
            b
        })
    });
    let stderr = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut b = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut b);
            b
        })
    });
    let status = child.wait().expect("gaffer finishes");
    let stdout = stdout.and_then(|h| h.join().ok()).unwrap_or_default();
    let stderr = stderr.and_then(|h| h.join().ok()).unwrap_or_default();
    let killed = watchdog.join().unwrap_or(false);
    let took = started.elapsed();
    eprintln!("gaffer demo --real-agents took {took:.1?}");

    let fail = |what: String| -> ! {
        explain(&dir, &stderr);
        panic!("{what}");
    };
    if killed {
        fail("the demo ran past 330 s and was killed".into());
    }
    let summary: Value = match serde_json::from_str(stdout.trim()) {
        Ok(v) => v,
        Err(e) => fail(format!("one JSON summary expected ({e}): {stdout}")),
    };
    if status.code() != Some(0) || summary["ok"] != true {
        fail(format!(
            "the demo did not meet its expectations (exit {:?}): {:#}",
            status.code(),
            summary["expectations"]
        ));
    }

    // The ledger: every bead assigned once, done, dependents after their blockers.
    let beads = beads(&dir);
    assert_eq!(beads.len(), 5, "{beads:?}");
    let ledger = Ledger::open(&dir.join(".gaffer/state.db")).expect("ledger");
    let records = ledger.all().expect("records");
    let events: Vec<CoordinatorEvent> = ledger
        .events_since(0)
        .map(|(v, _)| v.into_iter().map(|(_, e)| e).collect())
        .expect("events");
    // The fleet figures, under the names the fleet benchmark prints, from this run's ledger.
    let figures = gaffer_coordinator::fleet::figures(&records, &events);
    for line in figures.lines() {
        println!("{line}");
    }
    assert!(figures.delivered >= 5, "{figures:?}");
    assert_eq!(figures.double_assignments, 0, "{figures:?}");
    assert_eq!(figures.not_ready_prompts, 0, "{figures:?}");
    let mut assigned: BTreeMap<String, usize> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e.event_type.as_str() == "work_assigned")
    {
        *assigned.entry(detail(e, "bead_id")).or_default() += 1;
    }
    let done: BTreeMap<&str, _> = records
        .iter()
        .filter(|r| r.state == AssignmentState::Done)
        .map(|r| (r.assignment.bead_id.as_str(), r))
        .collect();
    for (id, (title, status, blockers)) in &beads {
        if assigned.get(id) != Some(&1) {
            fail(format!("{id} assigned {:?} times", assigned.get(id)));
        }
        let Some(rec) = done.get(id.as_str()) else {
            fail(format!("{id} ({title}) is not done in the ledger"));
        };
        if status != "closed" {
            fail(format!("{id} is {status} in br, not closed"));
        }
        for b in blockers {
            let blocker = done.get(b.as_str()).expect("blocker done");
            if rec.created_at < blocker.updated_at {
                fail(format!("{id} was assigned before its blocker {b} was done"));
            }
        }
        // The file the CLI wrote.
        let file = title
            .strip_prefix("Write ")
            .and_then(|t| t.split_whitespace().next())
            .unwrap_or("");
        let text = std::fs::read_to_string(dir.join(file)).unwrap_or_default();
        if !text.starts_with(&format!("{id}:")) {
            fail(format!("{file} was not written for {id}: {text:?}"));
        }
        // The assignment reached the assignee's inbox.
        let subjects = inbox_subjects(&dir, &mail.url, &rec.assignment.agent_name);
        if !subjects
            .iter()
            .any(|s| s == &format!("Work Assignment: {title}"))
        {
            fail(format!(
                "{}'s inbox lacks the assignment of {id}: {subjects:?}",
                rec.assignment.agent_name
            ));
        }
    }

    // The model logs: every bead's prompt reached the model of the CLI it was assigned to, and
    // every step came back as a tool result, the last being `gaffer done`.
    let kind_of: BTreeMap<String, String> = records
        .iter()
        .map(|r| {
            (
                r.assignment.agent_pane_id.clone(),
                r.assignment.agent_type.clone(),
            )
        })
        .collect();
    let mut kinds_working = BTreeSet::new();
    for id in beads.keys() {
        let rec = done[id.as_str()];
        let kind = kind_of
            .get(&rec.assignment.agent_pane_id)
            .cloned()
            .unwrap_or_default();
        kinds_working.insert(kind.clone());
        let log = model_log(&dir.join(format!(".gaffer/demo/model-{kind}.jsonl")));
        let needle = format!("gaffer assigned you {id} ");
        let mine: Vec<&ModelTurn> = log
            .iter()
            .filter(|t| t.user_text.contains(&needle))
            .collect();
        if mine.is_empty() {
            fail(format!("the {kind} model never saw the prompt of {id}"));
        }
        let done_cmd = mine
            .iter()
            .flat_map(|t| t.commands.iter())
            .any(|c| c.contains(&format!(" done {id} ")));
        let back = mine.iter().map(|t| t.tool_results).max().unwrap_or(0);
        if !done_cmd || back < 4 {
            fail(format!(
                "{id} on {kind}: `gaffer done` decided: {done_cmd}; tool results back: {back}/4"
            ));
        }
    }
    assert!(
        kinds_working.len() >= 2,
        "work was spread over the CLIs: {kinds_working:?}"
    );

    // The limited agent: the quota errors were served, and it got nothing while limited.
    let limited = summary["rate_limited_agent"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let limited_kind = summary["agents"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["pane_id"] == limited.as_str()))
        .and_then(|x| x["agent_type"].as_str())
        .unwrap_or("")
        .to_string();
    let log = model_log(&dir.join(format!(".gaffer/demo/model-{limited_kind}.jsonl")));
    let served = log.iter().filter(|t| t.source == "mode").count();
    assert!(served > 0, "the {limited_kind} model served no limit error");
    assert_eq!(
        summary["limited_seen_by_coordinator"], true,
        "the coordinator never saw {limited} rate-limited"
    );
    // The limit cleared when its model answered again (the first request after the errors);
    // no work went to it before that.
    let last_error = log
        .iter()
        .filter(|t| t.source == "mode")
        .map(|t| t.at_ms)
        .max()
        .unwrap_or(0);
    let cleared_ms = log
        .iter()
        .filter(|t| t.source != "mode" && t.source != "side-call" && t.at_ms > last_error)
        .map(|t| t.at_ms)
        .min()
        .unwrap_or(u64::MAX);
    let early: Vec<String> = events
        .iter()
        .filter(|e| e.agent_id == limited && e.event_type.as_str() == "work_assigned")
        .filter(|e| (e.timestamp.timestamp_millis().max(0) as u64) < cleared_ms)
        .map(|e| detail(e, "bead_id"))
        .collect();
    assert!(
        early.is_empty(),
        "work went to {limited} while it was rate-limited: {early:?}"
    );
    assert!(
        took < Duration::from_secs(300),
        "the whole job took {took:?}"
    );
}

/// Without the pinned CLIs the demo installs nothing: it names the install script and exits 4.
#[test]
fn missing_pinned_clis_exit_4_with_the_remedy() {
    let cache = tempfile::tempdir().expect("tempdir");
    let project = tempfile::tempdir().expect("tempdir");
    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["demo", "--real-agents", "--headless", "--project-dir"])
        .arg(project.path().join("p"))
        .env("XDG_CACHE_HOME", cache.path())
        .output()
        .expect("gaffer runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("scripts/install-agents.sh"), "{stderr}");
    assert!(
        std::fs::read_dir(cache.path())
            .map(|mut d| d.next().is_none())
            .unwrap_or(false),
        "nothing was installed into the cache"
    );
    assert!(
        !project.path().join("p").exists(),
        "no project was made before the check"
    );
}
