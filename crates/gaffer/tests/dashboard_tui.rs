//! The interactive dashboard, live: `gaffer dashboard` runs in a pane of a private tmux server
//! next to gaffer-sim agents; the test types keys into it and reads its screen (capture-pane):
//! help, answering a BLOCKED agent's dialog, pausing, sending a prompt, a resize, and quitting.

use gaffer_coordinator::ledger::Ledger;
use gaffer_testkit::shell_quote as q;
use gaffer_testkit::tmux::TmuxServer as Tmux;
use gaffer_testkit::wait_until;
use std::path::Path;
use std::time::Duration;

const ISSUES: &str = r#"{"id":"ui-1","title":"Write the parser","status":"in_progress","priority":1,"issue_type":"task","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
"#;

fn sim(kind: &str, extra: &str, log: &Path) -> String {
    format!(
        "{} --agent {kind} --work-secs 30 --log {} {extra}",
        q(&gaffer_testkit::sim::binary().display().to_string()),
        q(&log.display().to_string())
    )
}

struct Ui<'a> {
    tmux: &'a Tmux,
    pane: String,
}

impl Ui<'_> {
    fn screen(&self) -> String {
        self.tmux.capture(&self.pane)
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.pane];
        args.extend_from_slice(keys);
        self.tmux.run(&args);
    }

    fn text(&self, text: &str) {
        self.tmux.run(&["send-keys", "-t", &self.pane, "-l", text]);
    }

    fn wait_for(&self, what: &str, secs: u64) {
        let ok = wait_until(Duration::from_secs(secs), || self.screen().contains(what));
        assert!(ok, "{what:?} never showed; the screen:\n{}", self.screen());
    }
}

#[test]
fn the_dashboard_acts_through_keys_in_a_real_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".beads")).unwrap();
    std::fs::create_dir_all(dir.path().join(".git")).unwrap();
    std::fs::create_dir_all(dir.path().join("xdg")).unwrap();
    std::fs::write(dir.path().join(".beads/issues.jsonl"), ISSUES).unwrap();
    let tmux = Tmux::new("tui-live");
    let (cc_log, cod_log) = (dir.path().join("cc.log"), dir.path().join("cod.log"));
    let blocked = tmux.agent(
        "ct",
        "ct__cc_1",
        &sim("cc", "--start-state blocked", &cc_log),
    );
    let waiting = tmux.agent("ct", "ct__cod_1", &sim("cod", "", &cod_log));
    let d = dir.path().display().to_string();
    let cmd = format!(
        "cd {d} && HOME={d} XDG_CONFIG_HOME={d}/xdg AGENT_MAIL_URL= TERM=xterm-256color {} --project {d} dashboard --session ct --socket {} ; sleep 30",
        q(env!("CARGO_BIN_EXE_gaffer")),
        q(&tmux.name),
        d = q(&d)
    );
    let pane = tmux.agent_sized("ui", "dashboard", &cmd, 120, 40);
    let ui = Ui { tmux: &tmux, pane };

    // The board: both agents with their states, the selected one's screen with its evidence.
    ui.wait_for("BLOCKED", 30);
    ui.wait_for("WAITING", 30);
    let s = ui.screen();
    assert!(s.contains(&blocked) && s.contains(&waiting), "{s}");
    assert!(
        s.contains("cc.blocked.permission"),
        "the preview names the rule:\n{s}"
    );
    assert!(
        s.contains("Do you want to proceed?"),
        "the preview shows the screen:\n{s}"
    );

    // Help, then Escape closes it.
    ui.keys(&["?"]);
    ui.wait_for("answer the selected BLOCKED agent's dialog", 5);
    ui.keys(&["Escape"]);
    let closed = wait_until(Duration::from_secs(5), || {
        !ui.screen().contains("any key closes this help")
    });
    assert!(closed, "{}", ui.screen());

    // Answer the BLOCKED agent's dialog: its full text first, then option 1.
    ui.keys(&["a"]);
    ui.wait_for("is BLOCKED: its dialog", 10);
    let s = ui.screen();
    assert!(
        s.contains("rm -rf build/") && s.contains("3. No, and tell Claude"),
        "{s}"
    );
    ui.keys(&["1"]);
    ui.wait_for("answered 1. Yes", 10);
    assert!(!tmux.capture(&blocked).contains("Do you want to proceed?"));

    // Select the Codex agent, pause it, then pause all and resume all.
    ui.keys(&["j", "p"]);
    ui.wait_for(&format!("auto-assign paused for {waiting}"), 10);
    let ledger = Ledger::open(&dir.path().join(".gaffer/state.db")).unwrap();
    assert!(ledger.pauses().unwrap().is_paused(&waiting));
    ui.keys(&["P"]);
    ui.wait_for("AUTO-ASSIGN PAUSED", 10);
    ui.keys(&["P"]);
    ui.wait_for("auto-assign resumed for *", 10);
    assert!(!ledger.pauses().unwrap().is_paused(&waiting));

    // Send it a prompt, verified.
    ui.keys(&["s"]);
    ui.wait_for(&format!("prompt for {waiting}"), 5);
    ui.text("say hello from the dashboard");
    ui.keys(&["Enter"]);
    ui.wait_for(&format!("{waiting}: prompt delivered"), 20);
    let log = std::fs::read_to_string(&cod_log).unwrap_or_default();
    assert!(log.contains("say hello from the dashboard"), "{log}");

    // A smaller terminal is laid out again.
    tmux.run(&["resize-window", "-t", "ui", "-x", "80", "-y", "24"]);
    let fits = wait_until(Duration::from_secs(10), || {
        let s = ui.screen();
        s.lines().count() <= 24 && s.contains("agents") && s.contains(&waiting)
    });
    assert!(fits, "{}", ui.screen());

    // q quits and gives the terminal back (the pane's shell goes on to `sleep`).
    ui.keys(&["q"]);
    let quit = wait_until(Duration::from_secs(10), || {
        let cmd = tmux.run(&[
            "display-message",
            "-p",
            "-t",
            &ui.pane,
            "#{pane_current_command}",
        ]);
        cmd.trim() == "sleep"
    });
    assert!(quit, "the dashboard did not quit:\n{}", ui.screen());
}
