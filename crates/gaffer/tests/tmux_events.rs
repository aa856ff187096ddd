//! tmux going away under `gaffer run` is reported: a pane killed is `agent_gone`, the server
//! killed is `tmux_lost`, and its return is `tmux_restored` with the agents `agent_appeared`.
//! Real tmux on a private socket, the real binary.

use gaffer_testkit::tmux::TmuxServer;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

/// `gaffer run --json` on the session, its events on a channel.
struct Run {
    child: Child,
    log: std::path::PathBuf,
    events: Receiver<Value>,
    seen: Vec<Value>,
}

impl Run {
    fn start(project: &std::path::Path, socket: &str, session: &str) -> Run {
        Run::start_with(project, socket, session, &[])
    }

    fn start_with(
        project: &std::path::Path,
        socket: &str,
        session: &str,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> Run {
        let log = project.join("run.log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_gaffer"))
            .arg("--project")
            .arg(project)
            .args([
                "--json",
                "run",
                "--socket",
                socket,
                "--session",
                session,
                "--exit-after",
                "120",
            ])
            .args(["--set", "coordinator.poll_interval=300ms"])
            .env("XDG_CONFIG_HOME", project.join("xdg"))
            .env_remove("AGENT_MAIL_URL")
            .stdout(Stdio::piped())
            .env("GAFFER_LOG", "gaffer_tmux=debug,gaffer_coordinator=debug")
            .envs(env.iter().copied())
            .stderr(
                std::fs::File::create(&log)
                    .map(Stdio::from)
                    .unwrap_or(Stdio::null()),
            )
            .spawn()
            .expect("gaffer run starts");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if tx.send(v).is_err() {
                        break;
                    }
                }
            }
        });
        Run {
            child,
            log,
            events: rx,
            seen: Vec::new(),
        }
    }

    /// Waits (at most 30 s) for an event of `kind` matching `pred`; returns it.
    fn wait(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(e) = self.seen.iter().find(|e| e["type"] == kind && pred(e)) {
                return e.clone();
            }
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "no {kind} event within 30 s; events: {:?}\nlog tail (newest first):\n{}",
                    self.seen,
                    tail.join("\n")
                );
            }
            if let Ok(e) = self
                .events
                .recv_timeout(left.min(Duration::from_millis(200)))
            {
                self.seen.push(e);
            }
        }
    }

    fn count(&mut self, kind: &str) -> usize {
        while let Ok(e) = self.events.try_recv() {
            self.seen.push(e);
        }
        self.seen.iter().filter(|e| e["type"] == kind).count()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn killed_pane_and_killed_server_are_events_and_so_is_their_return() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = TmuxServer::new("events");
    let first = server.agent("ev", "ev__cc_1", "sleep 600");
    let mut run = Run::start(dir.path(), &server.name, "ev");
    // A pane added after the coordinator's first observation appears. Until one does, add
    // another (panes added before that observation are simply there from the start).
    let mut added: Vec<String> = Vec::new();
    let second = loop {
        assert!(
            added.len() < 30,
            "no agent_appeared; events: {:?}",
            run.seen
        );
        let title = format!("ev__cc_{}", added.len() + 2);
        added.push(server.agent("ev", &title, "sleep 600"));
        std::thread::sleep(Duration::from_secs(1));
        let _ = run.count("agent_appeared");
        if let Some(e) = run.seen.iter().find(|e| e["type"] == "agent_appeared") {
            let id = e["agent_id"].as_str().unwrap_or_default().to_string();
            let i = added.iter().position(|p| *p == id);
            let i = i.unwrap_or_else(|| panic!("appeared: not a pane added: {e}"));
            assert_eq!(e["details"]["title"], format!("ev__cc_{}", i + 2), "{e}");
            break id;
        }
    };
    // The pane is killed: agent_gone, for that pane only.
    server.run(&["kill-pane", "-t", &second]);
    let e = run.wait("agent_gone", |e| e["agent_id"] == second.as_str());
    assert_eq!(e["details"]["agent_type"], "cc");
    assert_eq!(run.count("agent_gone"), 1);
    // The whole server is killed: one tmux_lost, no agent_gone per agent.
    server.run(&["kill-server"]);
    let e = run.wait("tmux_lost", |_| true);
    assert_eq!(e["details"]["session"], "ev");
    assert!(
        e["details"]["error"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{e}"
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(run.count("tmux_lost"), 1, "reported once while lost");
    assert_eq!(run.count("agent_gone"), 1);
    // tmux comes back with the session: restored, and the agent appears again.
    let back = server.agent("ev", "ev__cc_1", "sleep 600");
    run.wait("tmux_restored", |_| true);
    run.wait("agent_appeared", |e| e["agent_id"] == back.as_str());
    let _ = first;
    // The coordinator kept running throughout.
    assert!(run.child.try_wait().expect("try_wait").is_none());
}

/// A tmux that is there at start (`list-sessions`, `has-session`), whose control client closes
/// its stdin at once and ends a second later, and that is gone for every other command: the
/// shape of a server killed while the coordinator writes a command to its control client.
const VANISHING_TMUX: &str = r#"#!/bin/sh
for a in "$@"; do
  case "$a" in
    -C)
      exec 0<&-
      printf '%%begin 1 1 1\n%%end 1 1 1\n'
      sleep 1
      exit 0 ;;
    list-sessions) echo s; exit 0 ;;
    has-session) exit 0 ;;
  esac
done
echo "no server running on /tmp/vanishing-tmux" >&2
exit 1
"#;

/// The flake's cause, made certain: a write to a control client whose reader is gone. With
/// SIGPIPE's default action that write ended `gaffer run` at once, silently (exit 141); the
/// coordinator must instead fall back, report `tmux_lost`, and keep running.
#[test]
fn a_write_to_a_control_client_that_is_gone_does_not_end_the_coordinator() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("tmux");
    std::fs::write(&fake, VANISHING_TMUX).expect("fake tmux");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut run = Run::start_with(
        dir.path(),
        "vanishing",
        "s",
        &[("GAFFER_TMUX", fake.as_os_str())],
    );
    let e = run.wait("tmux_lost", |_| true);
    assert!(
        e["details"]["error"]
            .as_str()
            .is_some_and(|s| s.contains("no server running")),
        "{e}"
    );
    // Several re-attach cycles (every 2 s), each writing to a closed stdin.
    std::thread::sleep(Duration::from_secs(5));
    let log = std::fs::read_to_string(&run.log).unwrap_or_default();
    assert!(
        log.matches("tmux control client attached").count() >= 2,
        "the client was attached and written to again: {log}"
    );
    assert!(
        run.child.try_wait().expect("try_wait").is_none(),
        "gaffer run ended: {:?}\n{log}",
        run.child.try_wait()
    );
}
