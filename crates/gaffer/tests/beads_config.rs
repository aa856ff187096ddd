//! `[beads] source` and `timeout` reach the work source of `gaffer assign` and `gaffer run`:
//! a fake `bv` on PATH records each call (and may hang), with a gaffer-sim agent waiting for
//! work in a private tmux server.

use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{shell_quote, sim, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const ISSUES: &str = r#"{"id":"bc-1","title":"Implement the lexer in src/lexer.rs","status":"open","priority":1,"issue_type":"task","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
"#;

/// A project with one ready bead, a fake `bv` in `bin/`, and one idle simulated agent.
struct Rig {
    dir: tempfile::TempDir,
    tmux: TmuxServer,
}

impl Rig {
    /// `bv_body` is the shell the fake bv runs after recording its arguments.
    fn new(tag: &str, beads_config: &str, bv_body: &str) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for d in [".beads", ".git", ".gaffer", "bin"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::write(root.join(".beads/issues.jsonl"), ISSUES).expect("issues");
        std::fs::write(
            root.join(".gaffer/config.toml"),
            format!("[beads]\n{beads_config}\n"),
        )
        .expect("config");
        let calls = root.join("bv-calls");
        let bv = root.join("bin/bv");
        std::fs::write(
            &bv,
            format!(
                "#!/bin/sh\necho \"$@\" >> {}\n{bv_body}\n",
                shell_quote(&calls.display().to_string())
            ),
        )
        .expect("fake bv");
        set_executable(&bv);
        let tmux = TmuxServer::new(tag);
        let cmd = format!(
            "{} --agent cc --work-secs 30",
            shell_quote(&sim::binary().display().to_string())
        );
        tmux.agent("bc", "bc__cc_1", &cmd);
        let rig = Rig { dir, tmux };
        rig.wait_waiting();
        rig
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// `gaffer` in the project, on the private server, with the fake bv first on PATH.
    fn gaffer(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gaffer"));
        c.args(["--project", &self.root().display().to_string()])
            .args(args)
            .args(["--socket", &self.tmux.name, "--session", "bc"])
            .args(["--set", "coordinator.idle_threshold=0.5"])
            .args(["--set", "coordinator.poll_interval=300ms"])
            .env("PATH", self.path_var())
            .env("XDG_CONFIG_HOME", self.root().join("xdg"))
            .env_remove("AGENT_MAIL_URL");
        c
    }

    fn output(&self, args: &[&str]) -> Output {
        self.gaffer(args).output().expect("gaffer runs")
    }

    /// The fake bv's directory, then the system's (tmux, sh).
    fn path_var(&self) -> String {
        let system = std::env::var("PATH").unwrap_or_default();
        format!("{}:{system}", self.root().join("bin").display())
    }

    /// The arguments of every bv call so far.
    fn bv_calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.root().join("bv-calls"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    fn wait_waiting(&self) {
        let ok = wait_until(Duration::from_secs(20), || {
            let out = self.output(&["--json", "status"]);
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            v["agents"]
                .as_array()
                .is_some_and(|a| a.len() == 1 && a[0]["status"] == "WAITING")
        });
        assert!(
            ok,
            "the sim never reached WAITING: {}",
            String::from_utf8_lossy(&self.output(&["status"]).stdout)
        );
        // Idle long enough for `idle_threshold`.
        std::thread::sleep(Duration::from_millis(700));
    }
}

fn set_executable(p: &PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let mut perm = std::fs::metadata(p).expect("stat").permissions();
    perm.set_mode(0o755);
    std::fs::set_permissions(p, perm).expect("chmod");
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn assign_and_run_use_the_configured_source() {
    // `native`: bv is on PATH but never run; the native triage offers the bead.
    let rig = Rig::new("beads-native", "source = \"native\"", "exit 1");
    let out = rig.output(&["--json", "assign", "--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let beads: Vec<&str> = v["results"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x["assignment"]["bead_id"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(beads, ["bc-1"], "{}", text(&out));
    let out = rig.output(&["--json", "run", "--auto-assign", "--exit-after", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"work_assigned\""),
        "run assigned nothing: {}",
        text(&out)
    );
    assert_eq!(rig.bv_calls(), Vec::<String>::new(), "bv ran under native");
    drop(rig);

    // `bv`: every triage goes through bv (here a failing one, reported as such).
    let rig = Rig::new(
        "beads-bv",
        "source = \"bv\"",
        "echo 'fake bv fails' >&2; exit 1",
    );
    let out = rig.output(&["--json", "assign", "--dry-run"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("fake bv fails"),
        "{}",
        text(&out)
    );
    let calls = rig.bv_calls();
    assert!(!calls.is_empty(), "bv never ran: {}", text(&out));
    assert!(calls.iter().all(|c| c == "--robot-triage"), "{calls:?}");
    let before = calls.len();
    let out = rig.output(&["--json", "run", "--auto-assign", "--exit-after", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        rig.bv_calls().len() > before,
        "gaffer run did not triage through bv: {}",
        text(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"work_source_degraded\""),
        "{}",
        text(&out)
    );
}

#[test]
fn assign_gives_up_on_bv_after_the_configured_timeout() {
    // bv hangs for 20 s; `timeout = "1s"` ends the call long before (the default is 30 s).
    let rig = Rig::new(
        "beads-timeout",
        "source = \"bv\"\ntimeout = \"1s\"",
        "exec sleep 20",
    );
    let started = Instant::now();
    let out = rig.output(&["--json", "assign", "--dry-run"]);
    let took = started.elapsed();
    assert_eq!(rig.bv_calls(), ["--robot-triage"], "{}", text(&out));
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        took < Duration::from_secs(10),
        "assign took {took:?}: the 1 s timeout was not applied\n{}",
        text(&out)
    );
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(
        err.contains("timed out") || err.contains("timeout"),
        "{}",
        text(&out)
    );
}
