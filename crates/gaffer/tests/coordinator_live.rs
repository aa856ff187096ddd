//! The coordinator on real parts: tmux on a private socket, gaffer-sim agents, the embedded
//! mailbox (and the real Agent Mail server), a beads project. Idle agents get the ready beads,
//! delivery is verified, the ledger is right, events come in order, and a kill -9 in the
//! middle of a run never assigns a bead twice.

use gaffer_coordinator::ledger::{AssignmentState, Ledger};
use gaffer_testkit::shell_quote as q;
use gaffer_testkit::tmux::TmuxServer as Tmux;
use gaffer_testkit::wait_until;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const ISSUES: &str = r#"{"id":"lv-1","title":"Implement the lexer in src/lexer.rs","status":"open","priority":1,"issue_type":"feature","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
{"id":"lv-2","title":"Document the syntax in docs/syntax.md","status":"open","priority":2,"issue_type":"task","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
{"id":"lv-3","title":"Wire the lexer into the parser","status":"open","priority":2,"issue_type":"task","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z","dependencies":[{"issue_id":"lv-3","depends_on_id":"lv-1","type":"blocks","created_at":"2026-11-20T10:00:00Z"}]}
"#;

struct Rig {
    tmux: Tmux,
    dir: tempfile::TempDir,
    session: String,
    logs: Vec<PathBuf>,
}

impl Rig {
    fn new(tag: &str, work_secs: u32) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".beads")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".beads/issues.jsonl"), ISSUES).unwrap();
        let tmux = Tmux::new(tag);
        let session = "live".to_string();
        let sim = gaffer_testkit::sim::binary();
        let mut logs = Vec::new();
        for (i, kind) in ["cc", "cod"].iter().enumerate() {
            let log = dir.path().join(format!("{kind}.log"));
            let cmd = format!(
                "{} --agent {kind} --work-secs {work_secs} --log {}",
                q(&sim.display().to_string()),
                q(&log.display().to_string())
            );
            let pane = if i == 0 {
                tmux.run(&[
                    "new-session",
                    "-d",
                    "-s",
                    &session,
                    "-x",
                    "160",
                    "-y",
                    "45",
                    "-P",
                    "-F",
                    "#{pane_id}",
                    &cmd,
                ])
                .trim()
                .to_string()
            } else {
                tmux.run(&[
                    "split-window",
                    "-t",
                    &format!("={session}:"),
                    "-P",
                    "-F",
                    "#{pane_id}",
                    &cmd,
                ])
                .trim()
                .to_string()
            };
            let title = format!("{session}__{kind}_1");
            tmux.run(&["select-pane", "-t", &pane, "-T", &title]);
            tmux.run(&["set-option", "-p", "-t", &pane, "@gaffer_title", &title]);
            logs.push(log);
        }
        Rig {
            tmux,
            dir,
            session,
            logs,
        }
    }

    fn gaffer(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gaffer"));
        c.args(["--project", &self.dir.path().display().to_string()])
            .args(args);
        if !args.contains(&"mail") {
            c.args(["--socket", &self.tmux.name, "--session", &self.session]);
        }
        c.args([
            "--set",
            "coordinator.idle_threshold=0.5",
            "--set",
            "coordinator.poll_interval=300ms",
        ])
        .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
        .env_remove("AGENT_MAIL_URL");
        c
    }

    fn output(&self, args: &[&str]) -> Output {
        self.gaffer(args).output().expect("gaffer runs")
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(&self.dir.path().join(".gaffer/state.db")).expect("ledger")
    }

    /// Prompts each sim received, as bead ids.
    fn received(&self) -> Vec<Vec<String>> {
        self.logs
            .iter()
            .map(|log| {
                std::fs::read_to_string(log)
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter_map(|v| v["prompt"].as_str().map(str::to_string))
                    .filter_map(|p| p.split_whitespace().nth(3).map(str::to_string))
                    .collect()
            })
            .collect()
    }

    fn wait_ready(&self) {
        let ok = wait_until(Duration::from_secs(20), || {
            let out = self.output(&["--json", "status"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let agents = v["agents"].as_array().cloned().unwrap_or_default();
            agents.len() == 2 && agents.iter().all(|a| a["status"] == "WAITING")
        });
        assert!(
            ok,
            "sims never reached WAITING; status: {}",
            String::from_utf8_lossy(&self.output(&["status"]).stdout)
        );
        std::thread::sleep(Duration::from_millis(700));
    }
}

/// `gaffer --json assign EXTRA…`: asserts it exits 0 with two results; returns them and stdout.
fn assign_two(rig: &Rig, extra: &[&str]) -> (Vec<serde_json::Value>, String) {
    let mut args = vec!["--json", "assign"];
    args.extend_from_slice(extra);
    let out = rig.output(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "assign failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let results = v["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(results.len(), 2, "{stdout}");
    (results, stdout)
}

fn assign_flow(rig: &Rig, extra: &[&str]) {
    rig.wait_ready();
    let (results, stdout) = assign_two(rig, extra);
    assert!(results.iter().all(|r| r["success"] == true), "{stdout}");
    let mut beads: Vec<String> = results
        .iter()
        .filter_map(|r| r["assignment"]["bead_id"].as_str().map(str::to_string))
        .collect();
    beads.sort();
    assert_eq!(
        beads,
        ["lv-1", "lv-2"],
        "the blocked bead waits for its blocker"
    );

    // Delivery verified: the ledger says delivered, and each agent received its prompt once.
    let l = rig.ledger();
    let recs = l.all().unwrap();
    assert_eq!(recs.len(), 2);
    assert!(
        recs.iter().all(|r| r.state == AssignmentState::Delivered),
        "{recs:?}"
    );
    let got = rig.received();
    let mut all: Vec<String> = got.iter().flatten().cloned().collect();
    all.sort();
    assert_eq!(all, ["lv-1", "lv-2"], "{got:?}");
    // Events, in order.
    let (events, bad) = l.events_since(0).unwrap();
    assert_eq!(bad, 0);
    let kinds: Vec<&str> = events.iter().map(|(_, e)| e.event_type.as_str()).collect();
    assert_eq!(kinds, ["work_assigned", "work_assigned"]);
    // The files were reserved for the agents.
    let out = rig.output(&["--json", "mail", "reservations", "--all"]);
    let res: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let pats: Vec<String> = res
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["path_pattern"].as_str().map(str::to_string))
        .collect();
    assert!(
        pats.contains(&"src/lexer.rs".to_string()) && pats.contains(&"docs/syntax.md".to_string()),
        "{res}"
    );

    // A second round assigns nothing new: both agents are busy, the beads are taken.
    let out = rig.output(&["--json", "assign"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["results"].as_array().map(Vec::len), Some(0), "{v}");
}

#[test]
fn idle_sim_agents_get_ready_beads_with_verified_delivery() {
    let rig = Rig::new("assign", 30);
    let _ = &rig.tmux;
    assign_flow(&rig, &[]);
}

#[test]
fn kill_9_during_a_run_never_assigns_a_bead_twice() {
    let rig = Rig::new("crash", 4);
    rig.wait_ready();
    // A coordinator that assigns automatically, killed as soon as it has recorded an offer.
    let mut child = rig
        .gaffer(&["run", "--auto-assign", "--json"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gaffer run");
    let db = rig.dir.path().join(".gaffer/state.db");
    let offered = wait_until(Duration::from_secs(30), || {
        Ledger::open(&db)
            .ok()
            .and_then(|l| l.all().ok())
            .is_some_and(|r| !r.is_empty())
    });
    let _ = child.kill(); // SIGKILL
    let _ = child.wait();
    assert!(offered, "the coordinator never offered anything");
    // Restart and let it run to completion of the work it can do.
    let out = rig
        .gaffer(&["run", "--auto-assign", "--exit-after", "12", "--json"])
        .output()
        .expect("rerun");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let l = rig.ledger();
    let recs = l.all().unwrap();
    // No bead has two live (offered/delivered/working/done) entries.
    for bead in ["lv-1", "lv-2", "lv-3"] {
        let live = recs
            .iter()
            .filter(|r| {
                r.assignment.bead_id == bead
                    && r.state != AssignmentState::Failed
                    && r.state != AssignmentState::Refused
            })
            .count();
        assert!(live <= 1, "{bead} has {live} live assignments: {recs:?}");
    }
    // And no agent was handed the same bead twice while it was live.
    for prompts in rig.received() {
        let mut seen = std::collections::BTreeMap::new();
        for b in prompts {
            *seen.entry(b).or_insert(0) += 1;
        }
        for (b, n) in seen {
            let failed_before = recs
                .iter()
                .filter(|r| r.assignment.bead_id == b && r.state == AssignmentState::Failed)
                .count();
            assert!(
                n <= 1 + failed_before,
                "bead {b} delivered {n} times with {failed_before} failed attempts: {recs:?}"
            );
        }
    }
}

#[test]
fn the_same_flow_against_the_real_agent_mail_server() {
    let Some(server) = gaffer_testkit::agentmail::AgentMail::start() else {
        return;
    };
    let url = server.url.clone();
    let rig = Rig::new("realmail", 30);
    rig.wait_ready();
    let (results, stdout) = assign_two(&rig, &["--mail-url", &url]);
    assert!(
        results.iter().all(
            |r| r["success"] == true && !r["reservations"].as_array().is_none_or(Vec::is_empty)
        ),
        "{stdout}"
    );
    let l = rig.ledger();
    assert!(
        l.all()
            .unwrap()
            .iter()
            .all(|r| r.state == AssignmentState::Delivered)
    );
    // The reservations live on the server, held by the agents' registered names.
    let out = rig.output(&[
        "--json",
        "mail",
        "--mail-url",
        &url,
        "reservations",
        "--all",
    ]);
    let res: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let holders: Vec<String> = res
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r["agent_name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(holders.len(), 2, "{res}");
    assert_ne!(holders[0], holders[1]);
}

fn http_get(addr: &str, token: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn serve_streams_events_and_serves_state_over_loopback_http() {
    use std::io::{BufRead, BufReader, Write};
    let rig = Rig::new("serve", 30);
    rig.wait_ready();
    let mut child = rig
        .gaffer(&[
            "--json",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--auto-assign",
            "--exit-after",
            "25",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("listening line");
    let v: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    let url = v["listening"].as_str().expect("url").to_string();
    let addr = url.trim_start_matches("http://").to_string();
    let token = v["token_file"]
        .as_str()
        .map(|f| std::fs::read_to_string(f).expect("the token file"))
        .expect("token_file")
        .trim()
        .to_string();
    // The event stream delivers the assignments as they happen.
    let mut sse = std::net::TcpStream::connect(&addr).expect("connect");
    sse.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    write!(
        sse,
        "GET /events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\r\n"
    )
    .unwrap();
    let mut lines = BufReader::new(sse).lines();
    let mut assigned = 0;
    let end = Instant::now() + Duration::from_secs(20);
    while assigned < 2 && Instant::now() < end {
        match lines.next() {
            Some(Ok(l)) if l.starts_with("event: work_assigned") => assigned += 1,
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    assert_eq!(assigned, 2, "two work_assigned events on the stream");
    let agents = http_get(&addr, &token, "/agents");
    assert!(agents.starts_with("HTTP/1.1 200"), "{agents}");
    assert_eq!(agents.matches("\"pane_id\"").count(), 2, "{agents}");
    let assignments = http_get(&addr, &token, "/assignments");
    assert_eq!(
        assignments.matches("\"state\":\"delivered\"").count()
            + assignments.matches("\"state\":\"working\"").count(),
        2,
        "{assignments}"
    );
    assert!(http_get(&addr, &token, "/nope").starts_with("HTTP/1.1 404"));
    let _ = child.kill();
    let _ = child.wait();
    // Non-loopback addresses need --allow-remote.
    let out = rig.output(&["serve", "--addr", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn dashboard_prints_agents_and_assignments() {
    let rig = Rig::new("dash", 30);
    rig.wait_ready();
    let out = rig.output(&["dashboard"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !text.contains('\x1b'),
        "no colour codes when not a terminal"
    );
    assert!(
        text.contains("WAITING") && text.contains("assignments:"),
        "{text}"
    );
    assert_eq!(
        text.lines().filter(|l| l.starts_with('%')).count(),
        2,
        "{text}"
    );
    let out = rig.output(&["--json", "dashboard"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["agents"].as_array().map(Vec::len), Some(2));
}

#[test]
fn spawned_simulated_agents_finish_a_dependency_chain_under_gaffer_run() {
    let _ = gaffer_testkit::sim::binary();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".beads")).unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".beads/issues.jsonl"), ISSUES).unwrap();
    let tmux = Tmux::new("chain");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_gaffer"))
            .args(["--project", &dir.path().display().to_string()])
            .args(args)
            .args(["--socket", &tmux.name, "--session", "chain"])
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .env_remove("AGENT_MAIL_URL")
            .output()
            .expect("gaffer runs")
    };
    let out = run(&["spawn", "--cc", "1", "--cod", "1", "--sim"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::thread::sleep(Duration::from_secs(2));
    let out = run(&[
        "--set",
        "coordinator.idle_threshold=1",
        "--set",
        "coordinator.poll_interval=500ms",
        "run",
        "--auto-assign",
        "--exit-after",
        "30",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let l = Ledger::open(&dir.path().join(".gaffer/state.db")).unwrap();
    let recs = l.all().unwrap();
    let mut done: Vec<String> = recs
        .iter()
        .filter(|r| r.state == AssignmentState::Done)
        .map(|r| r.assignment.bead_id.clone())
        .collect();
    done.sort();
    assert_eq!(done, ["lv-1", "lv-2", "lv-3"], "{recs:?}");
    let order = |b: &str| {
        recs.iter()
            .find(|r| r.assignment.bead_id == b)
            .map(|r| r.created_at)
    };
    let lv1_done = recs
        .iter()
        .find(|r| r.assignment.bead_id == "lv-1")
        .map(|r| r.updated_at);
    assert!(
        order("lv-3") >= lv1_done,
        "the dependent was assigned after its blocker was done"
    );
}

/// One decider per project: `gaffer serve` beside a running `gaffer run --auto-assign` follows
/// it (shows the agents, decides nothing, logs nothing), so every event is in the ledger once; a
/// second `gaffer run` is refused, naming the first; and when `gaffer run` stops, serve takes
/// over and decides.
#[test]
fn serve_beside_gaffer_run_follows_it_and_every_event_is_logged_once() {
    use std::io::{BufRead, BufReader};
    let rig = Rig::new("onedecider", 2);
    rig.wait_ready();
    let run_out = rig.dir.path().join("run.err");
    let mut run = rig
        .gaffer(&["run", "--auto-assign", "--exit-after", "12"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&run_out).expect("run.err"))
        .spawn()
        .expect("gaffer run");
    let lease = rig.dir.path().join(".gaffer/decider.lock");
    assert!(
        wait_until(Duration::from_secs(20), || {
            gaffer_coordinator::lease::holder(&lease).is_some()
        }),
        "gaffer run took no lease"
    );
    let mut serve = rig
        .gaffer(&[
            "--json",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--auto-assign",
            "--exit-after",
            "40",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let mut out = BufReader::new(serve.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("listening line");
    let v: serde_json::Value = serde_json::from_str(&first).expect("JSON");
    let following = v["following"].as_str().unwrap_or_default().to_string();
    assert!(
        following.starts_with("gaffer run (pid ") && following.contains("session live"),
        "{first}"
    );
    let addr = v["listening"]
        .as_str()
        .expect("url")
        .trim_start_matches("http://")
        .to_string();
    let token = v["token_file"]
        .as_str()
        .map(|f| std::fs::read_to_string(f).expect("the token file"))
        .expect("token_file")
        .trim()
        .to_string();

    // A second decider is refused, and says which one runs.
    let second = rig.output(&["run", "--exit-after", "2"]);
    assert_eq!(second.status.code(), Some(1));
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains("gaffer run (pid ") && err.contains("already coordinates this project"),
        "{err}"
    );

    // The follower shows the agents, as the leader moves them through their work.
    let agents = http_get(&addr, &token, "/agents");
    assert_eq!(agents.matches("\"pane_id\"").count(), 2, "{agents}");

    // gaffer run ends (--exit-after); its work (2 s per bead) went on meanwhile.
    let status = run.wait().expect("run ends");
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(&run_out).unwrap_or_default()
    );
    let l = rig.ledger();
    let (events, _) = l.events_since(0).unwrap();
    let run_events = events.len();
    assert!(run_events > 0);
    // Every event once: two coordinators would log each state change twice, within a poll.
    let key = |e: &gaffer_core::event::CoordinatorEvent| {
        (
            e.event_type.as_str().to_string(),
            e.agent_id.clone(),
            e.details.get("prev_status").cloned(),
            e.details.get("new_status").cloned(),
            e.details.get("bead_id").cloned(),
        )
    };
    for (i, (_, a)) in events.iter().enumerate() {
        for (_, b) in &events[i + 1..] {
            let close = (b.timestamp - a.timestamp).num_milliseconds().abs() < 1500;
            assert!(!(close && key(a) == key(b)), "logged twice: {a:?} / {b:?}");
        }
    }
    let assigned: Vec<_> = events
        .iter()
        .filter(|(_, e)| e.event_type.as_str() == "work_assigned")
        .collect();
    assert_eq!(
        assigned.len(),
        l.all().unwrap().len(),
        "one work_assigned per assignment"
    );

    // With gaffer run gone, serve decides: the lease is free, and serve's own events reach the
    // ledger again: a prompt sent by hand (which logs nothing itself) moves the Claude sim, and
    // serve logs its state changes.
    assert!(gaffer_coordinator::lease::holder(&lease).is_none());
    let sent = rig.output(&["send", "--type", "cc", "--force", "hello"]);
    assert_eq!(
        sent.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            rig.ledger()
                .events_since(0)
                .map(|(e, _)| {
                    e[run_events..]
                        .iter()
                        .any(|(_, e)| e.event_type.as_str().starts_with("agent_"))
                })
                .unwrap_or(false)
        }),
        "serve never took over: {:?}",
        rig.ledger().events_since(0).map(|(e, _)| e.len())
    );
    let _ = serve.kill();
    let _ = serve.wait();
}
