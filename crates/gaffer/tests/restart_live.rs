//! Restarts and taking back stuck work on real parts: `gaffer run` over gaffer-sim agents in a
//! private tmux server, the embedded mailbox, a beads project. An agent that exits mid-task is
//! relaunched in its pane with its own launch command and the same title, and its bead is
//! handed back and finished; an agent stuck BLOCKED, RATE_LIMITED or STALLED loses its bead to
//! another agent. The ledger never holds two live assignments of one bead.

use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_testkit::shell_quote as q;
use gaffer_testkit::tmux::{TmuxServer as Tmux, process_tree};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const ISSUES: &str = r#"{"id":"rs-1","title":"Implement the lexer in src/lexer.rs","status":"open","priority":1,"issue_type":"feature","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
"#;

struct Rig {
    tmux: Tmux,
    dir: tempfile::TempDir,
    session: String,
}

impl Rig {
    fn new(tag: &str) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".beads")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".beads/issues.jsonl"), ISSUES).unwrap();
        Rig {
            tmux: Tmux::new(tag),
            dir,
            session: "rs".into(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The sim command line for `kind`, logging prompts to `<kind>.log`, reporting done beads
    /// with `gaffer done`; `extra` flags appended.
    fn sim(&self, kind: &str, extra: &str) -> String {
        let sim = gaffer_testkit::sim::binary();
        let done = format!(
            "{} --project {} done {{bead}}",
            q(env!("CARGO_BIN_EXE_gaffer")),
            q(&self.dir.path().display().to_string())
        );
        format!(
            "{} --agent {kind} --work-secs 2 --log {} --on-done {} {extra}",
            q(&sim.display().to_string()),
            q(&self.path(&format!("{kind}.log")).display().to_string()),
            q(&done)
        )
    }

    /// A pane titled `<session>__<kind>_1` with its launch command recorded (`@gaffer_launch`,
    /// as `gaffer spawn` does): typed into a shell (`via_shell`), or as the pane's own process.
    fn agent(&self, kind: &str, launch: &str, via_shell: bool) -> String {
        let exists = self.tmux.tmux.has_session(&self.session).unwrap_or(false);
        let shell = if via_shell {
            "env PS1='$ ' /bin/sh"
        } else {
            launch
        };
        let pane = if exists {
            self.tmux.run(&[
                "split-window",
                "-t",
                &format!("={}:", self.session),
                "-P",
                "-F",
                "#{pane_id}",
                shell,
            ])
        } else {
            self.tmux.run(&[
                "new-session",
                "-d",
                "-s",
                &self.session,
                "-x",
                "160",
                "-y",
                "45",
                "-P",
                "-F",
                "#{pane_id}",
                shell,
            ])
        };
        let pane = pane.trim().to_string();
        self.tmux
            .title(&pane, &format!("{}__{kind}_1", self.session));
        self.tmux
            .run(&["set-option", "-p", "-t", &pane, "@gaffer_launch", launch]);
        if via_shell {
            self.tmux
                .run(&["send-keys", "-t", &pane, "-l", "--", launch]);
            self.tmux.run(&["send-keys", "-t", &pane, "Enter"]);
        }
        pane
    }

    fn gaffer(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_gaffer"))
            .args(["--project", &self.dir.path().display().to_string()])
            .args(args)
            .args(["--socket", &self.tmux.name, "--session", &self.session])
            .args([
                "--set",
                "coordinator.idle_threshold=0.5",
                "--set",
                "coordinator.poll_interval=300ms",
            ])
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("SHELL", "/bin/sh")
            .env_remove("AGENT_MAIL_URL")
            .output()
            .expect("gaffer runs")
    }

    /// `gaffer run --auto-assign` for `secs` with extra `--set` pairs.
    fn run(&self, secs: u32, sets: &[&str]) {
        // Every `--set` after the subcommand: clap keeps the last occurrence's values only.
        let secs = secs.to_string();
        let mut args: Vec<String> = ["run", "--auto-assign", "--exit-after", &secs, "--json"]
            .map(String::from)
            .to_vec();
        for s in sets {
            args.push("--set".into());
            args.push(s.to_string());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = self.gaffer(&refs);
        eprintln!(
            "gaffer run stderr:\n{}\nstdout:\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(&self.path(".gaffer/state.db")).expect("ledger")
    }

    fn records(&self) -> Vec<AssignmentRecord> {
        self.ledger().all().unwrap()
    }

    fn events(&self) -> Vec<CoordinatorEvent> {
        let (events, bad) = self.ledger().events_since(0).unwrap();
        assert_eq!(bad, 0);
        events.into_iter().map(|(_, e)| e).collect()
    }

    /// Prompts a sim received, as bead ids.
    fn received(&self, kind: &str) -> Vec<String> {
        std::fs::read_to_string(self.path(&format!("{kind}.log")))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["prompt"].as_str().map(str::to_string))
            .filter_map(|p| p.split_whitespace().nth(3).map(str::to_string))
            .collect()
    }

    fn pane_format(&self, pane: &str, f: &str) -> String {
        self.tmux
            .run(&["display-message", "-p", "-t", pane, f])
            .trim()
            .to_string()
    }
}

fn kinds(events: &[CoordinatorEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

/// Never two live (offered, delivered, working, done) assignments of one bead at once: each
/// record's live span ends before the next one starts.
fn never_twice(recs: &[AssignmentRecord]) {
    let mut by_bead: std::collections::BTreeMap<&str, Vec<&AssignmentRecord>> = Default::default();
    for r in recs {
        by_bead.entry(&r.assignment.bead_id).or_default().push(r);
    }
    for (bead, rs) in by_bead {
        let done = rs
            .iter()
            .filter(|r| r.state == AssignmentState::Done)
            .count();
        let live = rs.iter().filter(|r| r.state.is_active()).count();
        assert!(done + live <= 1, "{bead}: {rs:?}");
        for w in rs.windows(2) {
            assert!(
                !w[0].state.is_active() && w[0].updated_at <= w[1].created_at,
                "{bead} overlaps: {rs:?}"
            );
        }
    }
}

fn wait_file(path: &Path, secs: u64) -> bool {
    gaffer_testkit::wait_until(Duration::from_secs(secs), || path.exists())
}

/// A cc pane whose first launch takes a prompt, works 3 s and exits; the relaunch (a marker
/// file exists then) is a well-behaved agent that reports its work done. Returns the pane and
/// its launch command.
fn crashing_agent(rig: &Rig) -> (String, String) {
    let script = rig.path("exit.script");
    std::fs::write(&script, "waiting\ngenerating 3\nexit\n").unwrap();
    let marker = rig.path("restarted");
    let launch = format!(
        "if [ -e {m} ]; then {ok}; else touch {m}; {crash}; fi",
        m = q(&marker.display().to_string()),
        ok = rig.sim("cc", ""),
        crash = rig.sim(
            "cc",
            &format!("--script {}", q(&script.display().to_string()))
        ),
    );
    let pane = rig.agent("cc", &launch, true);
    assert!(wait_file(&marker, 10), "the agent never started");
    (pane, launch)
}

#[test]
fn with_redelivery_the_restarted_agent_gets_its_prompt_again_and_finishes() {
    let rig = Rig::new("rs-redeliver");
    let (pane, _) = crashing_agent(&rig);
    rig.run(
        20,
        &[
            "coordinator.restart_exited=true",
            "coordinator.exited_work=redeliver",
            "assign.completion_grace=20s",
        ],
    );
    let recs = rig.records();
    let k: Vec<String> = kinds(&rig.events()).into_iter().map(String::from).collect();
    // One assignment throughout: kept over the exit, delivered again, finished.
    assert_eq!(recs.len(), 1, "{recs:?}\n{k:?}");
    assert_eq!(recs[0].state, AssignmentState::Done, "{k:?}");
    assert_eq!(recs[0].assignment.agent_pane_id, pane);
    let pos = |name: &str| k.iter().position(|x| x == name);
    assert!(
        pos("agent_exited") < pos("agent_restarted")
            && pos("agent_restarted") < pos("work_redelivered")
            && pos("work_redelivered") < pos("work_completed"),
        "{k:?}"
    );
    assert!(pos("work_handed_back").is_none(), "{k:?}");
    assert_eq!(k.iter().filter(|x| *x == "work_assigned").count(), 1);
    // Both launches received the same prompt.
    assert_eq!(rig.received("cc"), ["rs-1", "rs-1"]);
}

#[test]
fn an_agent_that_exits_mid_task_is_restarted_and_its_bead_handed_back_and_finished() {
    let rig = Rig::new("rs-exit");
    let (pane, launch) = crashing_agent(&rig);
    rig.run(
        20,
        &[
            "coordinator.restart_exited=true",
            "assign.completion_grace=20s",
        ],
    );
    let recs = rig.records();
    let events = rig.events();
    never_twice(&recs);
    // The bead went out, came back when the agent exited, went out again and was finished.
    let states: Vec<(AssignmentState, &str)> =
        recs.iter().map(|r| (r.state, r.error.as_str())).collect();
    assert_eq!(
        states,
        [
            (AssignmentState::Failed, "agent exited"),
            (AssignmentState::Done, "")
        ]
        .map(|(s, e)| (s, e)),
        "{recs:?}\n{:?}",
        kinds(&events)
    );
    assert!(recs.iter().all(|r| r.assignment.agent_pane_id == pane));
    let k = kinds(&events);
    let pos = |name: &str| k.iter().position(|x| *x == name);
    assert!(
        pos("agent_exited") < pos("work_handed_back")
            && pos("work_handed_back") < pos("agent_restarted")
            && pos("agent_restarted") < pos("work_completed"),
        "{k:?}"
    );
    assert_eq!(
        k.iter().filter(|x| **x == "agent_restarted").count(),
        1,
        "{k:?}"
    );
    assert_eq!(
        k.iter().filter(|x| **x == "work_assigned").count(),
        2,
        "{k:?}"
    );
    let restarted = events
        .iter()
        .find(|e| e.event_type.as_str() == "agent_restarted")
        .unwrap();
    assert_eq!(restarted.agent_id, pane);
    assert_eq!(restarted.details["command_source"], "spawn record");
    // Same pane, same title, the launch record kept; both launches got the bead.
    assert_eq!(rig.pane_format(&pane, "#{pane_title}"), "rs__cc_1");
    assert_eq!(rig.pane_format(&pane, "#{@gaffer_title}"), "rs__cc_1");
    assert_eq!(rig.pane_format(&pane, "#{@gaffer_launch}"), launch);
    assert_eq!(rig.received("cc"), ["rs-1", "rs-1"]);
}

/// `%cc` gets the bead and is driven into `stuck` by its script; `%cod` is busy for the first
/// seconds, then waits: the bead must move to it once the takeback threshold passes.
fn stuck_case(tag: &str, stuck_script: &str, sets: &[&str], freeze: bool) {
    let rig = Rig::new(tag);
    let script = rig.path("stuck.script");
    std::fs::write(&script, stuck_script).unwrap();
    let cc = rig.agent(
        "cc",
        &rig.sim(
            "cc",
            &format!("--script {}", q(&script.display().to_string())),
        ),
        false,
    );
    let cod = rig.agent(
        "cod",
        &rig.sim("cod", "--start-state generating --start-secs 6"),
        false,
    );
    let frozen = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            if !freeze {
                return Vec::new();
            }
            // Freeze the cc agent once it took the prompt (a hung process: no output at all).
            if !gaffer_testkit::wait_until(Duration::from_secs(15), || {
                !rig.received("cc").is_empty()
            }) {
                return Vec::new();
            }
            std::thread::sleep(Duration::from_millis(500));
            // The sim is the pane's own process: no shell takes the terminal back.
            let pid: i32 = rig.pane_format(&cc, "#{pane_pid}").parse().unwrap_or(0);
            let tree: Vec<i32> = if pid > 1 {
                process_tree(pid)
            } else {
                Vec::new()
            };
            for p in &tree {
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(*p, libc::SIGSTOP) };
            }
            tree
        });
        rig.run(20, sets);
        watcher.join().unwrap_or_default()
    });
    for p in &frozen {
        // SAFETY: as above.
        unsafe { libc::kill(*p, libc::SIGCONT) };
    }
    let recs = rig.records();
    let events = rig.events();
    never_twice(&recs);
    let summary: Vec<(&str, AssignmentState)> = recs
        .iter()
        .map(|r| (r.assignment.agent_pane_id.as_str(), r.state))
        .collect();
    assert_eq!(
        summary,
        [
            (cc.as_str(), AssignmentState::Failed),
            (cod.as_str(), AssignmentState::Done)
        ],
        "{recs:?}\n{:?}",
        kinds(&events)
    );
    assert!(
        recs[0].error.starts_with("taken back: agent "),
        "{}",
        recs[0].error
    );
    let back = events
        .iter()
        .find(|e| e.event_type.as_str() == "work_handed_back")
        .expect("handed back");
    assert_eq!(back.agent_id, cc);
    assert_eq!(back.details["agent_told"], true, "{back:?}");
    assert_eq!(rig.received("cc"), ["rs-1"], "cc backs off from the bead");
    assert_eq!(rig.received("cod"), ["rs-1"]);
}

#[test]
fn an_agent_blocked_too_long_loses_its_bead_to_another() {
    stuck_case(
        "rs-blocked",
        "waiting\nblocked\n",
        &["assign.takeback_blocked=3s"],
        false,
    );
}

#[test]
fn an_agent_rate_limited_past_the_threshold_loses_its_bead_to_another() {
    // The limit announces no reset: the threshold decides.
    stuck_case(
        "rs-limited",
        "waiting\nrate-limited\n",
        &["assign.takeback_rate_limited=3s"],
        false,
    );
}

#[test]
fn a_stalled_agent_loses_its_bead_to_another() {
    // Busy on screen but frozen (SIGSTOP): STALLED after the stall threshold, then taken back.
    stuck_case(
        "rs-stalled",
        "waiting\ngenerating 600\n",
        &["detection.stall_threshold=2s", "assign.takeback_stalled=3s"],
        true,
    );
}

#[test]
fn gaffer_restart_relaunches_a_pane_by_hand() {
    let rig = Rig::new("rs-hand");
    let pane = rig.agent("cc", &rig.sim("cc", ""), true);
    assert!(gaffer_testkit::wait_until(Duration::from_secs(15), || {
        rig.pane_format(&pane, "#{pane_current_command}") != "sh"
    }));
    let before = rig.pane_format(&pane, "#{pane_pid}");
    let out = rig.gaffer(&["--json", "restart", "rs__cc_1"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["pane_id"], pane.as_str());
    // A new process in the same pane, with the same title.
    assert_ne!(rig.pane_format(&pane, "#{pane_pid}"), before);
    assert_eq!(rig.pane_format(&pane, "#{pane_title}"), "rs__cc_1");
    let ev = rig.events();
    assert_eq!(kinds(&ev), ["agent_restarted"]);
    assert_eq!(ev[0].details["by"], "hand");
    // The agent comes up again.
    assert!(gaffer_testkit::wait_until(Duration::from_secs(15), || {
        let out = rig.gaffer(&["--json", "status"]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["agents"][0]["status"] == "WAITING"
    }));
    // An unknown pane is NOT_FOUND.
    let out = rig.gaffer(&["restart", "%999"]);
    assert_eq!(out.status.code(), Some(gaffer_core::exit::NOT_FOUND));
}
