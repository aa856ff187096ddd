//! gaffer-sim in a real tmux pane (private socket), observed by the detector: every state of
//! every simulated agent is recognised from `tmux capture-pane -p` and `pane_current_command`.

use gaffer_core::detect::{Detector, ScreenInput, Verdict};
use gaffer_core::status::AgentStatus;
use gaffer_testkit::tmux::TmuxServer;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A private tmux server (the test kit's, killed on drop, also when the test fails), driven
/// with plain `tmux` commands whose exit status the tests check.
struct Tmux {
    _server: TmuxServer,
    socket: String,
}

impl Tmux {
    fn start(tag: &str) -> Tmux {
        let server = TmuxServer::new(tag);
        let socket = server.name.clone();
        let t = Tmux {
            _server: server,
            socket,
        };
        let out = t.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "sim",
            "-x",
            "100",
            "-y",
            "32",
            "env",
            "PS1=dev@box:~/shop-api$ ",
            "bash",
            "--norc",
            "--noprofile",
        ]);
        assert!(
            out.status.success(),
            "tmux new-session failed (is tmux installed? scripts/install-deps.sh): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        t
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "sim"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn literal(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", "sim", "-l", "--", text])
                .status
                .success()
        );
    }

    fn paste(&self, text: &str) {
        let mut child = Command::new("tmux")
            .args(["-L", &self.socket, "load-buffer", "-b", "t", "-"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("tmux runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(text.as_bytes())
            .expect("write");
        assert!(child.wait().expect("wait").success());
        assert!(
            self.run(&["paste-buffer", "-p", "-d", "-b", "t", "-t", "sim"])
                .status
                .success()
        );
    }

    fn capture(&self) -> (String, String) {
        let screen =
            String::from_utf8_lossy(&self.run(&["capture-pane", "-p", "-t", "sim"]).stdout)
                .trim_end()
                .to_string();
        let cmd = String::from_utf8_lossy(
            &self
                .run(&[
                    "display-message",
                    "-p",
                    "-t",
                    "sim",
                    "#{pane_current_command}",
                ])
                .stdout,
        )
        .trim()
        .to_string();
        (screen, cmd)
    }
}

fn detect(d: &Detector, agent: &str, t: &Tmux) -> (Verdict, String) {
    let (screen, cmd) = t.capture();
    let v = d.detect(&ScreenInput {
        agent_type: agent,
        screen: &screen,
        current_command: &cmd,
        observed_at: gaffer_core::Timestamp::from(SystemTime::now()),
    });
    (v, screen)
}

/// Waits until the detector says `want` (or panics with the last screen).
fn wait_for(d: &Detector, agent: &str, t: &Tmux, want: AgentStatus) -> Verdict {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (v, screen) = detect(d, agent, t);
        if v.status == want {
            return v;
        }
        if Instant::now() > deadline {
            panic!(
                "{agent}: wanted {want}, detector says {} ({}: {:?})\n--- screen ---\n{screen}",
                v.status, v.rule, v.evidence
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sim_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_gaffer-sim"))
}

fn walk_states(agent: &str) {
    let d = Detector::builtin();
    let t = Tmux::start(agent);
    let dir = tempfile_dir(agent);
    let log = dir.join("prompts.jsonl");
    let cmd = format!(
        "{} --agent {agent} --work-secs 3 --log {}",
        sim_bin().display(),
        log.display()
    );
    t.literal(&cmd);
    t.keys(&["Enter"]);

    let v = wait_for(&d, agent, &t, AgentStatus::Waiting);
    assert!(v.context_usage.is_some() || agent == "cc", "{agent}: {v:?}");

    // a prompt with hostile text, by bracketed paste, then Enter: the agent works, then waits
    let hostile = "fix it; then C-c Enter\nsecond line é 🚀";
    t.paste(hostile);
    std::thread::sleep(Duration::from_millis(150));
    t.keys(&["Enter"]);
    let busy = wait_for_busy(&d, agent, &t);
    assert!(busy.status.is_busy());
    wait_for(&d, agent, &t, AgentStatus::Generating);
    wait_for(&d, agent, &t, AgentStatus::Waiting);
    let logged = std::fs::read_to_string(&log).expect("prompt log");
    let first: serde_json::Value =
        serde_json::from_str(logged.lines().next().expect("one prompt")).expect("json");
    assert_eq!(first["prompt"], hostile, "{agent}: prompt arrives exactly");

    // each screen state, reached through the simulator's /sim command
    for (state, want) in [
        ("blocked", AgentStatus::Blocked),
        ("rate-limited", AgentStatus::RateLimited),
        ("error", AgentStatus::Error),
    ] {
        t.literal(&format!("/sim {state}"));
        t.keys(&["Enter"]);
        let v = wait_for(&d, agent, &t, want);
        if want == AgentStatus::RateLimited {
            assert!(
                v.rate_limit_reset.is_some() || agent == "cc",
                "{agent}: {v:?}"
            );
        }
        if want == AgentStatus::Blocked {
            // approve: the agent goes back to work, then to its composer
            t.literal("1");
            wait_for_busy(&d, agent, &t);
            wait_for(&d, agent, &t, AgentStatus::Waiting);
        }
    }

    // quitting returns the pane to the shell
    t.literal("/exit");
    t.keys(&["Enter"]);
    wait_for(&d, agent, &t, AgentStatus::Exited);
    let _ = std::fs::remove_dir_all(&dir);
}

fn wait_for_busy(d: &Detector, agent: &str, t: &Tmux) -> Verdict {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (v, screen) = detect(d, agent, t);
        if v.status.is_busy() {
            return v;
        }
        if Instant::now() > deadline {
            panic!(
                "{agent}: never busy; last {} ({})\n{screen}",
                v.status, v.rule
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tempfile_dir(tag: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("gaffer-sim-{tag}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

#[test]
fn claude_code_states_are_detected_live() {
    walk_states("cc");
}

#[test]
fn codex_states_are_detected_live() {
    walk_states("cod");
}

#[test]
fn gemini_states_are_detected_live() {
    walk_states("gmi");
}

#[test]
fn start_state_and_script_drive_the_sim() {
    let d = Detector::builtin();
    let dir = tempfile_dir("script");
    let script = dir.join("steps.txt");
    std::fs::write(
        &script,
        "# after the start state: wait for a prompt, work, ask, then hit the limit\nwaiting\ngenerating 1.5\nblocked\nrate-limited\n",
    )
    .expect("script");
    let t = Tmux::start("script");
    t.literal(&format!(
        "{} --agent cod --start-state error --script {}",
        sim_bin().display(),
        script.display()
    ));
    t.keys(&["Enter"]);
    wait_for(&d, "cod", &t, AgentStatus::Error);
    // a prompt moves the script on: waiting step, then the next prompt starts the work
    t.literal("go");
    t.keys(&["Enter"]);
    wait_for(&d, "cod", &t, AgentStatus::Waiting);
    t.literal("work now");
    t.keys(&["Enter"]);
    wait_for(&d, "cod", &t, AgentStatus::Generating);
    wait_for(&d, "cod", &t, AgentStatus::Blocked);
    t.literal("y");
    let v = wait_for(&d, "cod", &t, AgentStatus::RateLimited);
    assert!(v.rate_limit_reset.is_some(), "{v:?}");
    // Ctrl-C twice on an empty composer quits
    t.keys(&["C-c"]);
    t.keys(&["C-c"]);
    wait_for(&d, "cod", &t, AgentStatus::Exited);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_start_state_is_detected_in_a_narrow_pane() {
    let d = Detector::builtin();
    let t = Tmux::start("narrow");
    // one window per (agent, state), each as narrow as a pane in a 4-way tiled layout
    let states = [
        ("waiting", AgentStatus::Waiting),
        ("generating", AgentStatus::Generating),
        ("thinking", AgentStatus::Thinking),
        ("blocked", AgentStatus::Blocked),
        ("rate-limited", AgentStatus::RateLimited),
        ("error", AgentStatus::Error),
    ];
    let mut windows = Vec::new();
    for agent in ["cc", "cod", "gmi"] {
        for (state, want) in states {
            let name = format!("{agent}-{state}");
            let cmd = format!(
                "{} --agent {agent} --start-state {state} --start-secs 120",
                sim_bin().display()
            );
            let out = t.run(&["new-window", "-d", "-n", &name, &cmd]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let target = format!("sim:{name}");
            let out = t.run(&["resize-window", "-t", &target, "-x", "42", "-y", "18"]);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            // Gemini's screen does not tell thinking from generating: its spinner names the
            // current thought either way
            let want = if agent == "gmi" && want == AgentStatus::Thinking {
                AgentStatus::Generating
            } else {
                want
            };
            windows.push((agent, name, want));
        }
    }
    for (agent, name, want) in windows {
        let target = format!("sim:{name}");
        let width = t.run(&["display-message", "-p", "-t", &target, "#{pane_width}"]);
        assert_eq!(String::from_utf8_lossy(&width.stdout).trim(), "42");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let screen =
                String::from_utf8_lossy(&t.run(&["capture-pane", "-p", "-t", &target]).stdout)
                    .trim_end()
                    .to_string();
            let v = d.detect(&ScreenInput {
                agent_type: agent,
                screen: &screen,
                current_command: "gaffer-sim",
                observed_at: gaffer_core::Timestamp::from(SystemTime::now()),
            });
            let context_ok = matches!(want, AgentStatus::Blocked) || v.context_usage.is_some();
            if v.status == want && context_ok {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{name}: wanted {want} with context, got {} ({}) context {:?}\n{screen}",
                v.status,
                v.rule,
                v.context_usage
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
