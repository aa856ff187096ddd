//! Adding an agent kind is data: a fourth kind (`opencode`) from a registry entry and a rules
//! file in the user's config dir only, run as the real binary on a private tmux server. gaffer
//! identifies its panes by title and by process, detects their states with its rules, and
//! scores it with its bonus.

use gaffer_core::exit;
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{shell_quote, wait_until};
use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

/// The registry entry: a new code with an alias, its rules file, its program, and a bonus for
/// tasks of complexity 0.3–0.5.
const KINDS: &str = r#"
[[kind]]
code = "opencode"
name = "opencode"
aliases = ["oc"]
rules = "opencode.toml"
launch = "LAUNCH"
processes = ["opencode"]
type_bonus = [{ min = 0.30, max = 0.50, bonus = 0.25 }]
"#;

/// Its detection rules: a `┃ >` composer; a spinner line above it means busy.
const RULES: &str = r#"
kind = "opencode"
name = "opencode"

[composer]
patterns = ['^┃\s*>']
within = 4

[[rule]]
id = "opencode.busy"
status = "GENERATING"
priority = 80
region = "above_composer"
lines = 4
patterns = ['Working…', 'esc to interrupt']
confidence = 0.9
reason = "the working line sits above the composer"

[[rule]]
id = "opencode.idle"
status = "WAITING"
priority = 10
region = "composer"
composer = "present"
patterns = ['^┃\s*>\s*$']
confidence = 0.8
reason = "an empty composer and nothing working"
"#;

const BUSY: &str =
    "opencode 0.9\\n\\n  ⠋ Working… (esc to interrupt)\\n┃ > \\n  ctrl+p commands\\n";
const IDLE: &str = "opencode 0.9\\n\\n  Done: wrote src/lib.rs\\n┃ > \\n  ctrl+p commands\\n";

const ISSUES: &str = r#"{"id":"k-1","title":"Tidy the lexer","status":"open","priority":2,"issue_type":"task","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
"#;

struct Rig {
    tmux: TmuxServer,
    dir: tempfile::TempDir,
}

impl Rig {
    fn gaffer(&self, args: &[&str]) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gaffer"));
        c.args(["--project", &self.dir.path().display().to_string()])
            .args(["--set", "coordinator.idle_threshold=0.5"])
            .args(args);
        if !args.contains(&"explain") {
            c.args(["--socket", &self.tmux.name]);
            if !args.contains(&"--session") {
                c.args(["--session", "kinds"]);
            }
        }
        c.env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .env("HOME", self.dir.path())
            .env_remove("AGENT_MAIL_URL")
            .output()
            .expect("gaffer runs")
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.gaffer(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "gaffer {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("JSON")
    }

    fn config(&self) -> std::path::PathBuf {
        self.dir.path().join("xdg/gaffer")
    }
}

fn write(path: &Path, text: &str) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).expect("mkdir");
    }
    std::fs::write(path, text).expect("write");
}

#[test]
fn a_fourth_kind_from_data_only() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rig = Rig {
        tmux: TmuxServer::new("kinds"),
        dir,
    };
    let bin = rig.dir.path().join("bin/opencode");
    let launch = format!("{} 600", bin.display());
    let kinds = KINDS.replace("LAUNCH", &launch);
    write(&rig.config().join("kinds.toml"), &kinds);
    write(&rig.config().join("rules/opencode.toml"), RULES);
    write(&rig.dir.path().join(".beads/issues.jsonl"), ISSUES);
    std::fs::create_dir_all(rig.dir.path().join(".git")).expect("mkdir");
    // A program called `opencode` (a copy of sleep), for identification by process.
    std::fs::create_dir_all(bin.parent().expect("parent")).expect("mkdir");
    std::fs::copy("/bin/sleep", &bin).expect("copy sleep");

    // By title: a pane titled as an opencode agent, running something else, busy.
    let by_title = rig.tmux.agent(
        "kinds",
        "kinds__opencode_1",
        &format!("printf '{BUSY}'; exec sleep 600"),
    );
    // By process: a pane whose title says nothing, running `opencode`, idle.
    let by_process = rig.tmux.agent(
        "kinds",
        "notes",
        &format!(
            "printf '{IDLE}'; exec {} 600",
            shell_quote(&bin.display().to_string())
        ),
    );
    // Not an agent: a plain program under a plain title.
    let plain = rig.tmux.agent("kinds", "scratch", "exec sleep 600");

    let mut status = serde_json::Value::Null;
    let ready = wait_until(Duration::from_secs(20), || {
        status = rig.json(&["--json", "status"]);
        let agents = status["agents"].as_array().cloned().unwrap_or_default();
        agents.len() == 2 && agents.iter().all(|a| a["rule"] != "")
    });
    assert!(ready, "two opencode agents never showed: {status}");
    let agents = status["agents"].as_array().cloned().unwrap_or_default();
    let find = |pane: &str| {
        agents
            .iter()
            .find(|a| a["pane_id"] == pane)
            .cloned()
            .unwrap_or_else(|| panic!("pane {pane} not in {status}"))
    };
    let t = find(&by_title);
    assert_eq!(t["agent_type"], "opencode", "{t}");
    assert_eq!(t["agent_index"], 1, "{t}");
    assert_eq!(t["status"], "GENERATING", "{t}");
    assert_eq!(t["rule"], "opencode.busy", "{t}");
    let p = find(&by_process);
    assert_eq!(p["current_command"], "opencode", "{p}");
    assert_eq!(p["agent_type"], "opencode", "{p}");
    assert_eq!(p["status"], "WAITING", "{p}");
    assert_eq!(p["rule"], "opencode.idle", "{p}");
    assert!(agents.iter().all(|a| a["pane_id"] != plain.as_str()));

    // explain on a capture, by code and by alias: the kind's own rules decide.
    let cap = rig.dir.path().join("busy.txt");
    write(&cap, &BUSY.replace("\\n", "\n"));
    for name in ["opencode", "OC"] {
        let v = rig.json(&[
            "--json",
            "explain",
            "--agent",
            name,
            "--file",
            cap.to_str().expect("utf-8"),
        ]);
        assert_eq!(v["kind"], "opencode", "{v}");
        assert_eq!(v["status"], "GENERATING", "{v}");
        assert_eq!(v["rule"], "opencode.busy", "{v}");
        assert!(
            v["trace"]
                .as_array()
                .is_some_and(|t| t.iter().any(|r| r["rule"] == "opencode.idle")),
            "{v}"
        );
    }

    // Scoring: the idle opencode agent gets the task (complexity 0.40), and its bonus is in
    // the score: the same plan without the bonus scores exactly 0.25 less.
    std::thread::sleep(Duration::from_millis(700));
    let score_of = |v: &serde_json::Value| {
        let results = v["results"].as_array().cloned().unwrap_or_default();
        assert_eq!(results.len(), 1, "{v}");
        let a = &results[0]["assignment"];
        assert_eq!(a["agent_pane_id"], by_process.as_str(), "{v}");
        assert_eq!(a["agent_type"], "opencode", "{v}");
        assert_eq!(a["bead_id"], "k-1", "{v}");
        a["score"].as_f64().expect("score")
    };
    let with_bonus = score_of(&rig.json(&["--json", "assign", "--dry-run"]));
    write(
        &rig.config().join("kinds.toml"),
        &kinds.replace(
            "type_bonus = [{ min = 0.30, max = 0.50, bonus = 0.25 }]",
            "type_bonus = []",
        ),
    );
    let without = score_of(&rig.json(&["--json", "assign", "--dry-run"]));
    // (The triage base drifts by nanoseconds of bead age between the two runs.)
    assert!(
        (with_bonus - without - 0.25).abs() < 1e-6,
        "with {with_bonus}, without {without}"
    );

    // Spawn knows it: `--kind oc=1` starts one pane with its launch command, titled as its code.
    let v = rig.json(&["--json", "spawn", "--session", "spawned", "--kind", "oc=1"]);
    let titles: Vec<&str> = v["panes"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["title"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(titles, ["spawned__opencode_1"], "{v}");
    let runs = wait_until(Duration::from_secs(10), || {
        rig.tmux
            .run(&[
                "list-panes",
                "-t",
                "=spawned:",
                "-F",
                "#{pane_current_command}",
            ])
            .trim()
            == "opencode"
    });
    assert!(
        runs,
        "the spawned pane does not run the kind's launch command"
    );

    // The rules file is part of the kind: without it, a config error that names it.
    std::fs::remove_file(rig.config().join("rules/opencode.toml")).expect("rm");
    let out = rig.gaffer(&[
        "explain",
        "--agent",
        "opencode",
        "--file",
        cap.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(exit::CONFIG));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opencode.toml"), "{err}");
}

#[test]
fn a_bad_kinds_file_is_a_config_error_with_file_line_and_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        &dir.path().join("xdg/gaffer/kinds.toml"),
        "[[kind]]\ncode = \"opencode\"\naliases = [\"codex\"]\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["explain", "--agent", "cc", "--file", "-"])
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env("HOME", dir.path())
        .output()
        .expect("gaffer runs");
    assert_eq!(out.status.code(), Some(exit::CONFIG));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kinds.toml:3: key `kind[0].aliases`: \"codex\" already names kind \"cod\""),
        "{err}"
    );
}
