//! A tmux hiccup loses no work: `gaffer run --auto-assign` over a gaffer-sim agent in a private
//! tmux server, with the server killed mid-assignment. Back within `coordinator.tmux_grace`,
//! the assignment is the same ledger record, still live, and the agent finishes it; down past
//! the grace, it is handed back and the bead goes out again once an agent is there. A server
//! that stops answering (stopped, so every call times out) is a hiccup too.

use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_testkit::shell_quote as q;
use gaffer_testkit::tmux::TmuxServer as Tmux;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

const ISSUES: &str = r#"{"id":"tg-1","title":"Implement the lexer in src/lexer.rs","status":"open","priority":1,"issue_type":"feature","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
"#;
const SESSION: &str = "tg";
const TITLE: &str = "tg__cc_1";

struct Rig {
    tmux: Tmux,
    dir: tempfile::TempDir,
}

impl Rig {
    fn new(tag: &str) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".beads")).expect("mkdir");
        std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir");
        std::fs::write(dir.path().join(".beads/issues.jsonl"), ISSUES).expect("issues");
        Rig {
            tmux: Tmux::new(tag),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn gaffer_cmd(&self) -> String {
        format!(
            "{} --project {}",
            q(env!("CARGO_BIN_EXE_gaffer")),
            q(&self.dir.path().display().to_string())
        )
    }

    /// A sim agent working `work_secs` on a prompt, logging prompts to `cc.log`, reporting the
    /// bead done with `gaffer done`.
    fn sim(&self, work_secs: u32) -> String {
        format!(
            "{} --agent cc --work-secs {work_secs} --log {} --on-done {}",
            q(&gaffer_testkit::sim::binary().display().to_string()),
            q(&self.path("cc.log").display().to_string()),
            q(&format!("{} done {{bead}}", self.gaffer_cmd()))
        )
    }

    /// A fresh session with one agent pane running `cmd` (the pane's own process), titled
    /// [`TITLE`]; its pane id. On a fresh server this is `%0` again.
    fn session(&self, cmd: &str) -> String {
        // The pane gets its title in the same tmux command that makes it: a coordinator looking
        // in between would see a titleless pane, which is no agent (and the agent gone).
        let pane = self.tmux.run(&[
            "new-session",
            "-d",
            "-s",
            SESSION,
            "-x",
            "160",
            "-y",
            "45",
            "-P",
            "-F",
            "#{pane_id}",
            cmd,
            ";",
            "select-pane",
            "-t",
            SESSION,
            "-T",
            TITLE,
            ";",
            "set-option",
            "-p",
            "-t",
            SESSION,
            "@gaffer_title",
            TITLE,
        ]);
        let pane = pane.trim().to_string();
        self.tmux.title(&pane, TITLE);
        pane
    }

    /// `gaffer run --auto-assign` for `secs`, with extra `--set` pairs.
    fn run(&self, secs: u32, sets: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_gaffer"));
        cmd.args(["--project", &self.dir.path().display().to_string()])
            .args(["--json", "run", "--auto-assign", "--exit-after"])
            .arg(secs.to_string())
            .args(["--socket", &self.tmux.name, "--session", SESSION]);
        for s in [
            "coordinator.idle_threshold=0.5",
            "coordinator.poll_interval=300ms",
        ]
        .iter()
        .chain(sets)
        {
            cmd.args(["--set", s]);
        }
        let out = cmd
            .env("XDG_CONFIG_HOME", self.path("xdg"))
            .env("SHELL", "/bin/sh")
            .env("GAFFER_LOG", "gaffer_tmux=debug,gaffer_coordinator=info")
            .env_remove("AGENT_MAIL_URL")
            .output()
            .expect("gaffer runs");
        eprintln!(
            "gaffer run stderr (tail):\n{}",
            tail(&String::from_utf8_lossy(&out.stderr), 40)
        );
        out
    }

    fn ledger(&self) -> Option<Ledger> {
        Ledger::open(&self.path(".gaffer/state.db")).ok()
    }

    fn records(&self) -> Vec<AssignmentRecord> {
        self.ledger().and_then(|l| l.all().ok()).unwrap_or_default()
    }

    fn events(&self) -> Vec<CoordinatorEvent> {
        self.ledger()
            .and_then(|l| l.events_since(0).ok())
            .map(|(events, _)| events.into_iter().map(|(_, e)| e).collect())
            .unwrap_or_default()
    }

    fn has_event(&self, kind: &str) -> bool {
        self.events().iter().any(|e| e.event_type.as_str() == kind)
    }

    /// Prompts the sims received, as bead ids.
    fn received(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("cc.log"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["prompt"].as_str().map(str::to_string))
            .filter_map(|p| p.split_whitespace().nth(3).map(str::to_string))
            .collect()
    }

    /// Waits (bounded) until the sim took the prompt and the ledger says it is working on it.
    fn wait_working(&self) -> bool {
        gaffer_testkit::wait_until(Duration::from_secs(30), || {
            !self.received().is_empty()
                && self
                    .records()
                    .iter()
                    .any(|r| r.state == AssignmentState::Working)
        })
    }

    fn kill_server(&self) {
        // The sims die with their panes (SIGHUP).
        let _ = self.tmux.tmux.run(&["kill-server"]);
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn kinds(events: &[CoordinatorEvent]) -> Vec<&str> {
    events.iter().map(|e| e.event_type.as_str()).collect()
}

fn count(events: &[CoordinatorEvent], kind: &str) -> usize {
    events
        .iter()
        .filter(|e| e.event_type.as_str() == kind)
        .count()
}

#[test]
fn a_server_killed_and_back_within_the_grace_keeps_the_assignment() {
    let rig = Rig::new("grace-back");
    let pane = rig.session(&rig.sim(60));
    let marker = rig.path("finish");
    let checked = std::thread::scope(|s| {
        let chaos = s.spawn(|| -> Result<(), String> {
            if !rig.wait_working() {
                return Err(format!("never working: {:?}", rig.records()));
            }
            rig.kill_server();
            if !gaffer_testkit::wait_until(Duration::from_secs(15), || rig.has_event("tmux_lost")) {
                return Err("no tmux_lost".into());
            }
            // Back quickly, same session and title. The agent there reports the bead done
            // once the test has looked at the ledger.
            let script = rig.path("finish.sh");
            let body = format!(
                "while [ ! -e {m} ]; do sleep 0.2; done\n{done} done tg-1\nexec {sim}\n",
                m = q(&marker.display().to_string()),
                done = rig.gaffer_cmd(),
                sim = rig.sim(1),
            );
            std::fs::write(&script, body).map_err(|e| e.to_string())?;
            let back = rig.session(&format!("sh {}", q(&script.display().to_string())));
            if back != pane {
                return Err(format!("the new server's pane is {back}, not {pane}"));
            }
            if !gaffer_testkit::wait_until(Duration::from_secs(15), || {
                rig.has_event("tmux_restored")
            }) {
                return Err("no tmux_restored".into());
            }
            // Let a few polls pass over the returned agent: the assignment is still the one
            // live record.
            std::thread::sleep(Duration::from_secs(2));
            let recs = rig.records();
            let states: Vec<AssignmentState> = recs.iter().map(|r| r.state).collect();
            let _ = std::fs::write(&marker, "");
            if states.len() != 1 || !states[0].is_active() {
                return Err(format!("after tmux came back: {recs:?}"));
            }
            Ok(())
        });
        let out = rig.run(
            25,
            &["coordinator.tmux_grace=60s", "assign.completion_grace=60s"],
        );
        assert_eq!(out.status.code(), Some(0));
        chaos
            .join()
            .unwrap_or_else(|_| Err("chaos panicked".into()))
    });
    let recs = rig.records();
    let events = rig.events();
    checked.unwrap_or_else(|e| panic!("{e}\nevents: {:?}", kinds(&events)));
    // One assignment from start to end: held through the loss, finished after it.
    assert_eq!(recs.len(), 1, "{recs:?}");
    assert_eq!(recs[0].state, AssignmentState::Done, "{:?}", kinds(&events));
    assert_eq!(recs[0].assignment.agent_pane_id, pane);
    let k = kinds(&events);
    let pos = |name: &str| k.iter().position(|x| *x == name);
    assert!(
        pos("work_assigned") < pos("tmux_lost")
            && pos("tmux_lost") < pos("tmux_restored")
            && pos("tmux_restored") < pos("work_completed"),
        "{k:?}"
    );
    assert_eq!(count(&events, "work_assigned"), 1, "{k:?}");
    assert_eq!(count(&events, "work_handed_back"), 0, "{k:?}");
    assert_eq!(count(&events, "agent_gone"), 0, "{k:?}");
    let appeared = events
        .iter()
        .find(|e| e.event_type.as_str() == "agent_appeared")
        .expect("the agent appeared again");
    assert_eq!(appeared.agent_id, pane);
    assert_eq!(appeared.details["after_tmux_lost"], true, "{appeared:?}");
}

#[test]
fn a_server_down_past_the_grace_hands_the_work_back_and_it_goes_out_again() {
    let rig = Rig::new("grace-over");
    let pane = rig.session(&rig.sim(60));
    let checked = std::thread::scope(|s| {
        let chaos = s.spawn(|| -> Result<(), String> {
            if !rig.wait_working() {
                return Err(format!("never working: {:?}", rig.records()));
            }
            rig.kill_server();
            // Down past the 3 s grace: the assignment goes back.
            if !gaffer_testkit::wait_until(Duration::from_secs(20), || {
                rig.records()
                    .iter()
                    .any(|r| r.state == AssignmentState::Failed)
            }) {
                return Err(format!("never handed back: {:?}", rig.records()));
            }
            // tmux back with a fresh agent: the bead goes out again and is finished.
            rig.session(&rig.sim(1));
            Ok(())
        });
        let out = rig.run(
            30,
            &["coordinator.tmux_grace=3s", "assign.completion_grace=60s"],
        );
        assert_eq!(out.status.code(), Some(0));
        chaos
            .join()
            .unwrap_or_else(|_| Err("chaos panicked".into()))
    });
    let recs = rig.records();
    let events = rig.events();
    checked.unwrap_or_else(|e| panic!("{e}\nevents: {:?}", kinds(&events)));
    let k = kinds(&events);
    let states: Vec<AssignmentState> = recs.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [AssignmentState::Failed, AssignmentState::Done],
        "{recs:?}\n{k:?}"
    );
    assert!(
        recs[0].error.starts_with("tmux_lost: tmux lost since"),
        "{}",
        recs[0].error
    );
    assert!(recs[0].updated_at <= recs[1].created_at, "{recs:?}");
    assert!(recs.iter().all(|r| r.assignment.agent_pane_id == pane));
    let pos = |name: &str| k.iter().position(|x| *x == name);
    assert!(
        pos("tmux_lost") < pos("work_handed_back")
            && pos("work_handed_back") < pos("tmux_restored")
            && pos("tmux_restored") < pos("work_completed"),
        "{k:?}"
    );
    let gone = events
        .iter()
        .find(|e| e.event_type.as_str() == "agent_gone")
        .expect("the held agent is gone past the grace");
    assert_eq!(gone.details["name"], TITLE);
    assert!(
        gone.details["reason"]
            .as_str()
            .is_some_and(|r| r.contains("longer than the grace")),
        "{gone:?}"
    );
    let back = events
        .iter()
        .find(|e| e.event_type.as_str() == "work_handed_back")
        .expect("handed back");
    assert_eq!(back.details["status"], "UNKNOWN");
    assert_eq!(count(&events, "work_assigned"), 2, "{k:?}");
    assert_eq!(rig.received(), ["tg-1", "tg-1"]);
}

#[test]
fn a_server_that_stops_answering_for_a_while_loses_nothing() {
    let rig = Rig::new("grace-stop");
    let pane = rig.session(&rig.sim(6));
    let checked = std::thread::scope(|s| {
        let chaos = s.spawn(|| -> Result<(), String> {
            if !rig.wait_working() {
                return Err(format!("never working: {:?}", rig.records()));
            }
            let pid: i32 = rig
                .tmux
                .run(&["display-message", "-p", "#{pid}"])
                .trim()
                .parse()
                .unwrap_or(0);
            if pid <= 1 {
                return Err("no server pid".into());
            }
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGSTOP) };
            let lost =
                gaffer_testkit::wait_until(Duration::from_secs(15), || rig.has_event("tmux_lost"));
            // SAFETY: as above.
            unsafe { libc::kill(pid, libc::SIGCONT) };
            if !lost {
                return Err("no tmux_lost while the server was stopped".into());
            }
            Ok(())
        });
        let out = rig.run(
            25,
            &[
                "coordinator.tmux_grace=60s",
                "assign.completion_grace=60s",
                "tmux.command_timeout=1s",
            ],
        );
        assert_eq!(out.status.code(), Some(0));
        chaos
            .join()
            .unwrap_or_else(|_| Err("chaos panicked".into()))
    });
    let recs = rig.records();
    let events = rig.events();
    checked.unwrap_or_else(|e| panic!("{e}\nevents: {:?}", kinds(&events)));
    let k = kinds(&events);
    // The same agent went on working through the hiccup and finished its one assignment.
    assert_eq!(recs.len(), 1, "{recs:?}\n{k:?}");
    assert_eq!(recs[0].state, AssignmentState::Done, "{k:?}");
    assert_eq!(recs[0].assignment.agent_pane_id, pane);
    assert!(
        count(&events, "tmux_lost") >= 1 && count(&events, "tmux_restored") >= 1,
        "{k:?}"
    );
    assert_eq!(count(&events, "work_handed_back"), 0, "{k:?}");
    assert_eq!(count(&events, "agent_gone"), 0, "{k:?}");
    assert_eq!(rig.received(), ["tg-1"]);
}
