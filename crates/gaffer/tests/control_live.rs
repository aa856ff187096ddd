//! The human's controls through the real binary, on gaffer-sim agents in a private tmux: a
//! BLOCKED agent's dialog is read and answered (refused for an option it does not offer and
//! once the dialog is gone), auto-assign is paused and resumed (seen by `status`), and a bead is
//! reassigned and unassigned.

use gaffer_coordinator::ledger::{AssignmentState, Ledger};
use gaffer_core::exit;
use gaffer_testkit::shell_quote as q;
use gaffer_testkit::tmux::TmuxServer as Tmux;
use gaffer_testkit::wait_until;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const ISSUES: &str = r#"{"id":"ct-1","title":"Implement the lexer in src/lexer.rs","status":"open","priority":1,"issue_type":"feature","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
"#;

struct Rig {
    tmux: Tmux,
    dir: tempfile::TempDir,
    blocked: String,
    waiting: String,
    logs: (PathBuf, PathBuf),
}

fn sim(kind: &str, extra: &str, log: &Path) -> String {
    format!(
        "{} --agent {kind} --work-secs 30 --log {} {extra}",
        q(&gaffer_testkit::sim::binary().display().to_string()),
        q(&log.display().to_string())
    )
}

impl Rig {
    fn new(tag: &str) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".beads")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".beads/issues.jsonl"), ISSUES).unwrap();
        let tmux = Tmux::new(tag);
        let logs = (dir.path().join("cc.log"), dir.path().join("cod.log"));
        let blocked = tmux.agent(
            "ct",
            "ct__cc_1",
            &sim("cc", "--start-state blocked", &logs.0),
        );
        let waiting = tmux.agent("ct", "ct__cod_1", &sim("cod", "", &logs.1));
        Rig {
            tmux,
            dir,
            blocked,
            waiting,
            logs,
        }
    }

    fn gaffer(&self, args: &[&str]) -> Output {
        let mut all = vec!["--project", self.dir.path().to_str().unwrap(), "--json"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--session", "ct", "--socket", &self.tmux.name]);
        gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), self.dir.path(), &all)
    }

    fn json(&self, args: &[&str]) -> (i32, Value) {
        let out = self.gaffer(args);
        let code = out.status.code().unwrap_or(-1);
        // An error is the last line of stderr (warnings may come before it).
        let stderr = String::from_utf8_lossy(&out.stderr);
        let text = if out.stdout.is_empty() {
            stderr.lines().last().unwrap_or_default().as_bytes()
        } else {
            &out.stdout
        };
        let v = serde_json::from_slice(text).unwrap_or_else(|e| {
            panic!(
                "{args:?}: {e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (code, v)
    }

    fn status_of(&self, pane: &str) -> Value {
        let (_, v) = self.json(&["status"]);
        v["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["pane_id"] == pane)
            .cloned()
            .unwrap_or(Value::Null)
    }

    fn ready(&self) {
        let ok = wait_until(Duration::from_secs(20), || {
            self.status_of(&self.blocked)["status"] == "BLOCKED"
                && self.status_of(&self.waiting)["status"] == "WAITING"
        });
        assert!(ok, "the sims did not come up");
    }
}

#[test]
fn a_blocked_dialog_is_shown_then_answered_by_its_number() {
    let r = Rig::new("ctl-answer");
    r.ready();
    let (code, shown) = r.json(&["answer", &r.blocked]);
    assert_eq!(code, exit::SUCCESS, "{shown}");
    let options: Vec<&str> = shown["dialog"]["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["label"].as_str().unwrap())
        .collect();
    assert_eq!(options.len(), 3, "{shown}");
    assert_eq!(options[0], "Yes");
    let text: Vec<&str> = shown["dialog"]["text"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert!(text.contains(&"Do you want to proceed?"), "{text:?}");
    assert!(text.contains(&"rm -rf build/"), "{text:?}");
    // An option the dialog does not offer is refused, and nothing is typed.
    let (code, err) = r.json(&["answer", &r.blocked, "7"]);
    assert_eq!(code, exit::FAILURE, "{err}");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("option 7 is not one of the dialog's (1, 2, 3)"),
        "{err}"
    );
    assert_eq!(r.status_of(&r.blocked)["status"], "BLOCKED");
    // Option 1 approves: the sim leaves its dialog.
    let (code, done) = r.json(&["answer", &r.blocked, "1"]);
    assert_eq!(code, exit::SUCCESS, "{done}");
    assert_eq!(done["answered"]["option"]["label"], "Yes");
    assert_eq!(done["answered"]["confirmed"], true);
    assert!(
        !r.tmux
            .capture(&r.blocked)
            .contains("Do you want to proceed?")
    );
    // The dialog is gone: a second answer is refused.
    let (code, err) = r.json(&["answer", &r.blocked, "1"]);
    assert_eq!(code, exit::FAILURE, "{err}");
    // A WAITING agent has no dialog.
    let (code, _) = r.json(&["answer", &r.waiting]);
    assert_eq!(code, exit::FAILURE);
    let (code, _) = r.json(&["answer", "%999"]);
    assert_eq!(code, exit::NOT_FOUND);
    let ledger = Ledger::open(&r.dir.path().join(".gaffer/state.db")).unwrap();
    let (events, _) = ledger.events_since(0).unwrap();
    let answered: Vec<_> = events
        .iter()
        .filter(|(_, e)| e.event_type.as_str() == "dialog_answered")
        .collect();
    assert_eq!(answered.len(), 1, "one answer went through");
    assert_eq!(answered[0].1.agent_id, r.blocked);
}

#[test]
fn pause_resume_reassign_and_unassign_through_the_cli() {
    let r = Rig::new("ctl-assign");
    r.ready();
    // Pausing one agent shows in status; resuming all clears it.
    let (code, v) = r.json(&["pause", &r.waiting]);
    assert_eq!(code, exit::SUCCESS, "{v}");
    assert_eq!(r.status_of(&r.waiting)["paused"], true);
    assert_eq!(r.status_of(&r.blocked)["paused"], false);
    let (code, v) = r.json(&["pause"]);
    assert_eq!(code, exit::SUCCESS, "{v}");
    assert_eq!(r.status_of(&r.blocked)["paused"], true);
    let (_, v) = r.json(&["resume"]);
    assert_eq!(v["pauses"]["all"], false);
    assert_eq!(r.status_of(&r.waiting)["paused"], false);
    // A BLOCKED agent cannot take a bead.
    let (code, v) = r.json(&["reassign", "ct-1", &r.blocked]);
    assert_eq!(code, exit::FAILURE, "{v}");
    // The WAITING one gets it, with the prompt delivered.
    let (code, v) = r.json(&["reassign", "ct-1", &r.waiting]);
    assert_eq!(code, exit::SUCCESS, "{v}");
    let log = std::fs::read_to_string(&r.logs.1).unwrap_or_default();
    assert!(log.contains("ct-1"), "the prompt reached the agent: {log}");
    let ledger = Ledger::open(&r.dir.path().join(".gaffer/state.db")).unwrap();
    let live: Vec<_> = ledger.active().unwrap();
    assert_eq!(live.len(), 1);
    assert_eq!(live[0].assignment.agent_pane_id, r.waiting);
    // Unassigning hands it back.
    let (code, v) = r.json(&["unassign", "ct-1"]);
    assert_eq!(code, exit::SUCCESS, "{v}");
    assert!(ledger.active().unwrap().is_empty());
    let rec = &ledger.by_bead("ct-1").unwrap()[0];
    assert_eq!(rec.state, AssignmentState::Failed);
    let (code, _) = r.json(&["unassign", "ct-1"]);
    assert_eq!(code, exit::NOT_FOUND);
    let (code, _) = r.json(&["reassign", "nope", &r.waiting]);
    assert_eq!(code, exit::NOT_FOUND);
    assert!(
        std::fs::read_to_string(&r.logs.0)
            .unwrap_or_default()
            .is_empty()
    );
}
