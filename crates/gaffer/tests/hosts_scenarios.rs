//! Multi-host scenarios on simulated hosts (issue 15, item 5), through the gaffer binary: each
//! host a network namespace with a real sshd and its own tmux server running gaffer-sim agents
//! (`gaffer_testkit::hosts`), reached through the `[[hosts]]` entry a user would write.
//!
//! * sshd restarted on a host (the listener alone, then every session killed): the running
//!   coordinator reconnects, its agents come back, and nothing is assigned twice;
//! * 100 ms added to the round trip: verified delivery still works, and the latency is reported;
//! * a passphrase-protected key, loaded into an `ssh-agent` the test starts: gaffer connects
//!   through the agent, and without it fails at once, never prompting (not even through
//!   `SSH_ASKPASS`).
//!
//! Needs root (namespaces) and Debian's openssh-server; skips with a message otherwise, and
//! fails under `CI=true`. Every test runs in its own namespace and removes its hosts.

use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_testkit::hosts::{self, SimHost, SimHosts};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{cli, wait_until};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gaffer");

/// The project's `.gaffer/config.toml`: the local tmux server and `h` as a `[[hosts]]` entry
/// with `identity` and `ssh_options` as given.
fn write_config(dir: &Path, local: &TmuxServer, h: &SimHost, identity: &Path, opts: &[String]) {
    hosts::write_config(dir, &local.name, &[h.hosts_entry_with(identity, opts, "")]);
}

/// A project directory with a beads file holding `beads` open beads `hs-1`…
fn project(beads: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".beads")).expect("mkdir");
    std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir");
    let lines: String = (1..=beads)
        .map(|i| {
            format!(
                "{{\"id\":\"hs-{i}\",\"title\":\"Implement part {i} in src/part{i}.rs\",\
                 \"status\":\"open\",\"priority\":1,\"issue_type\":\"feature\",\
                 \"created_at\":\"2026-11-20T10:00:00Z\",\"updated_at\":\"2026-11-20T10:00:00Z\"}}\n"
            )
        })
        .collect();
    std::fs::write(dir.path().join(".beads/issues.jsonl"), lines).expect("issues");
    dir
}

fn events(dir: &Path) -> Vec<CoordinatorEvent> {
    Ledger::open(&dir.join(".gaffer/state.db"))
        .ok()
        .and_then(|l| l.events_since(0).ok())
        .map(|(events, _)| events.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default()
}

fn records(dir: &Path) -> Vec<AssignmentRecord> {
    Ledger::open(&dir.join(".gaffer/state.db"))
        .ok()
        .and_then(|l| l.all().ok())
        .unwrap_or_default()
}

/// `gaffer --json status`, parsed, with `env` added to its environment.
fn status(dir: &Path, env: &[(&str, &str)]) -> Result<serde_json::Value, String> {
    let out = cli::command(BIN, dir)
        .args(["--json", "status"])
        .envs(env.iter().copied())
        .output()
        .map_err(|e| format!("gaffer: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("{e}"))
}

/// Stops `gaffer run` (SIGTERM) and returns the tail of its stderr.
fn stop(run: Child) -> String {
    // SAFETY: signalling the child this test started, by its pid.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    let out = run.wait_with_output().expect("gaffer run ends");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

#[test]
fn a_host_whose_sshd_restarts_comes_back_and_nothing_is_assigned_twice() {
    if !hosts::run_isolated("a_host_whose_sshd_restarts_comes_back_and_nothing_is_assigned_twice") {
        return;
    }
    let set = SimHosts::new("box", 1, 91).expect("simulated hosts");
    let h = set.host(0);
    let sim = gaffer_testkit::sim::binary().display().to_string();
    // Two remote agents that work a long time on what they get; three beads, so one is left
    // over while both are busy (it must not go to a busy agent when they come back).
    let keys: Vec<String> = (1..=2)
        .map(|k| {
            let pane = h
                .spawn_pane(
                    "proj",
                    &format!(
                        "{} --agent cc --work-secs 120",
                        gaffer_testkit::shell_quote(&sim)
                    ),
                    &format!("proj__cc_{k}"),
                )
                .expect("remote sim");
            format!("{}:{pane}", h.name)
        })
        .collect();
    let local = TmuxServer::new("hsrst");
    local.session("proj", "sleep 600");
    let dir = project(3);
    write_config(dir.path(), &local, h, h.identity(), &h.ssh_options());
    let run = cli::command(BIN, dir.path())
        .args(["--project", &dir.path().display().to_string()])
        .args(["run", "--auto-assign", "--exit-after", "120"])
        .args(["--set", "coordinator.poll_interval=300ms"])
        .args(["--set", "coordinator.idle_threshold=0.5"])
        .args(["--set", "coordinator.tmux_grace=90s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gaffer run");
    let working = |dir: &Path| {
        let recs = records(dir);
        keys.iter().all(|k| {
            recs.iter()
                .any(|r| &r.assignment.agent_pane_id == k && r.state == AssignmentState::Working)
        })
    };
    let has = |kind: &str| {
        events(dir.path())
            .iter()
            .any(|e| e.event_type.as_str() == kind)
    };
    let result = (|| -> Result<(u64, u64), String> {
        if !wait_until(Duration::from_secs(60), || working(dir.path())) {
            return Err(format!("never both working: {:?}", records(dir.path())));
        }
        let opened = h.connections_opened();
        // A service restart: the listener goes, the sessions stay; the connection lives on.
        h.restart_sshd()?;
        std::thread::sleep(Duration::from_secs(2));
        if h.connections_opened() != opened || h.connections_open() != 1 {
            return Err(format!(
                "the connection did not survive a listener restart: opened {} open {}",
                h.connections_opened(),
                h.connections_open()
            ));
        }
        // sshd killed with every session it serves: the connection drops; gaffer makes a new
        // one (its master lived longer than STABLE_AFTER: at once).
        h.kill_sshd()?;
        let back = wait_until(Duration::from_secs(60), || {
            h.connections_opened() > opened && h.connections_open() == 1
        });
        if !back {
            return Err(format!(
                "no new connection: opened {} open {}",
                h.connections_opened(),
                h.connections_open()
            ));
        }
        // The agents are observed again, still working on their beads; a few more passes
        // assign nothing new.
        if has("host_unreachable") && !wait_until(Duration::from_secs(60), || has("host_reachable"))
        {
            return Err("host_unreachable without host_reachable".into());
        }
        std::thread::sleep(Duration::from_secs(5));
        Ok((opened, h.connections_opened()))
    })();
    let tail = stop(run);
    let evs = events(dir.path());
    let kinds: Vec<&str> = evs.iter().map(|e| e.event_type.as_str()).collect();
    let (before, after) = result.unwrap_or_else(|e| panic!("{e}: {kinds:?}\n{tail}"));
    eprintln!("connections {before} → {after}; events {kinds:?}");
    assert!(
        after - before <= 3,
        "{before} → {after} connections: {tail}"
    );
    // Exactly one assignment per agent and per bead, both still working, nothing handed back.
    let recs = records(dir.path());
    let mut beads: Vec<&str> = recs.iter().map(|r| r.assignment.bead_id.as_str()).collect();
    beads.sort();
    let n = beads.len();
    beads.dedup();
    assert_eq!(beads.len(), n, "a bead assigned twice: {recs:?}");
    assert_eq!(n, 2, "{recs:?}");
    for k in &keys {
        let mine: Vec<_> = recs
            .iter()
            .filter(|r| &r.assignment.agent_pane_id == k)
            .collect();
        assert_eq!(mine.len(), 1, "{k}: {recs:?}");
        assert_eq!(mine[0].state, AssignmentState::Working, "{k}: {recs:?}");
    }
    assert!(!kinds.contains(&"work_handed_back"), "{kinds:?}");
    assert!(!kinds.contains(&"agent_gone"), "{kinds:?}");
}

#[test]
fn with_100_ms_added_delivery_is_verified_and_the_latency_is_reported() {
    if !hosts::run_isolated("with_100_ms_added_delivery_is_verified_and_the_latency_is_reported") {
        return;
    }
    let set = SimHosts::new("box", 1, 92).expect("simulated hosts");
    let h = set.host(0);
    let remote = h.spawn_sims("proj", "claude", 1).expect("remote sim");
    let key = format!("{}:{}", h.name, remote[0]);
    let local = TmuxServer::new("hlat");
    local.session("proj", "sleep 600");
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), &local, h, h.identity(), &h.ssh_options());
    let latency = |doc: &serde_json::Value| doc["hosts"][0]["latency_ms"].as_u64();
    let mut last = String::new();
    let waiting = |last: &mut String| {
        wait_until(Duration::from_secs(60), || match status(dir.path(), &[]) {
            Ok(doc) => {
                *last = doc.to_string();
                doc["agents"][0]["status"] == "WAITING"
            }
            Err(e) => {
                *last = e;
                false
            }
        })
    };
    assert!(waiting(&mut last), "{last}");
    let plain = latency(&status(dir.path(), &[]).expect("status")).expect("latency");

    let how = h.set_delay(Duration::from_millis(100)).expect("delay");
    eprintln!("added latency through: {how}");
    let doc = status(dir.path(), &[]).expect("status with latency");
    let slow = latency(&doc).expect("latency");
    eprintln!("observation latency: {plain} ms plain, {slow} ms with 100 ms added");
    assert!(slow >= 100, "{doc}");
    assert!(slow > plain, "{plain} → {slow}");
    let out = cli::run(BIN, dir.path(), &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = format!("host {}: observed in {slow}", h.name);
    assert!(
        text.lines()
            .any(|l| l.starts_with(&format!("host {}: observed in ", h.name))),
        "{line}?\n{text}"
    );

    // Verified delivery over the slow link: `gaffer send` waits until the agent took the
    // prompt, and the text is on the remote pane.
    let t = Instant::now();
    let out = cli::run(BIN, dir.path(), &["send", &key, "hello over a slow link"]);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("verified delivery with 100 ms added: {:?}", t.elapsed());
    assert!(wait_until(Duration::from_secs(10), || h
        .tmux
        .capture(&remote[0])
        .contains("hello over a slow link")));
    h.set_delay(Duration::ZERO).expect("no delay");
}

/// A script that records it was run, then hangs like a prompt nobody answers.
fn askpass_trap(dir: &Path) -> (PathBuf, PathBuf) {
    let marker = dir.join("askpass-called");
    let script = dir.join("askpass.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ntouch {}\nsleep 30\n",
            gaffer_testkit::shell_quote(&marker.display().to_string())
        ),
    )
    .expect("askpass");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    (script, marker)
}

/// An `ssh-agent` in the foreground on `sock`, killed on drop.
struct Agent(Child);
impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_passphrase_protected_key_works_through_ssh_agent_and_nothing_prompts() {
    if !hosts::run_isolated(
        "a_passphrase_protected_key_works_through_ssh_agent_and_nothing_prompts",
    ) {
        return;
    }
    let set = SimHosts::new("box", 1, 93).expect("simulated hosts");
    let h = set.host(0);
    let remote = h.spawn_sims("proj", "claude", 1).expect("remote sim");
    let key = set.dir().join("pass_key");
    let made = Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "correct horse",
            "-C",
            "pass-key",
            "-f",
        ])
        .arg(&key)
        .stdin(Stdio::null())
        .status()
        .expect("ssh-keygen");
    assert!(made.success());
    set.authorize(&std::fs::read_to_string(key.with_extension("pub")).expect("pub"))
        .expect("authorize");

    let work = tempfile::tempdir().expect("tempdir");
    let sock = work.path().join("agent.sock");
    let agent = Agent(
        Command::new("ssh-agent")
            .args(["-D", "-a"])
            .arg(&sock)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent"),
    );
    assert!(wait_until(Duration::from_secs(10), || sock.exists()));
    // ssh-add reads the passphrase from an askpass helper (no terminal here).
    let give = work.path().join("give.sh");
    std::fs::write(&give, "#!/bin/sh\necho 'correct horse'\n").expect("give");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&give, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let added = Command::new("ssh-add")
        .arg(&key)
        .env("SSH_AUTH_SOCK", &sock)
        .env("SSH_ASKPASS", &give)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .stdin(Stdio::null())
        .output()
        .expect("ssh-add");
    assert!(
        added.status.success(),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );

    // The entry names the encrypted key (ssh matches it with the agent's through its .pub),
    // and its options do not say BatchMode: gaffer's own does.
    let opts: Vec<String> = h
        .ssh_options()
        .into_iter()
        .filter(|o| o != "BatchMode=yes")
        .collect();
    let opts: Vec<String> = opts
        .iter()
        .enumerate()
        .filter(|(i, o)| !(*o == "-o" && opts.get(i + 1).is_some_and(|n| n.starts_with('-'))))
        .map(|(_, o)| o.clone())
        .collect();
    assert!(!opts.iter().any(|o| o.contains("BatchMode")));
    let local = TmuxServer::new("hpass");
    local.session("proj", "sleep 600");
    let dir = tempfile::tempdir().expect("tempdir");
    write_config(dir.path(), &local, h, &key, &opts);
    let (trap, marker) = askpass_trap(work.path());
    let trap_s = trap.display().to_string();
    let sock_s = sock.display().to_string();
    let prompt_env = [
        ("SSH_ASKPASS", trap_s.as_str()),
        ("SSH_ASKPASS_REQUIRE", "force"),
        ("DISPLAY", ":0"),
    ];

    // Through the agent: the remote agent is listed.
    let mut env = prompt_env.to_vec();
    env.push(("SSH_AUTH_SOCK", sock_s.as_str()));
    let want = format!("{}:{}", h.name, remote[0]);
    let mut last = String::new();
    let seen = wait_until(Duration::from_secs(60), || match status(dir.path(), &env) {
        Ok(doc) => {
            last = doc.to_string();
            doc["agents"][0]["pane_id"] == want.as_str() && doc["agents"][0]["status"] == "WAITING"
        }
        Err(e) => {
            last = e;
            false
        }
    });
    assert!(seen, "{last}");
    assert!(!marker.exists(), "ssh asked for a passphrase");

    // Without the agent the key cannot be used: the host is reported unreachable at once, and
    // nothing prompts (the askpass trap would hang 30 s and leave its marker).
    let t = Instant::now();
    let mut cmd = cli::command(BIN, dir.path());
    cmd.args(["--json", "status"])
        .envs(prompt_env.iter().copied())
        .env_remove("SSH_AUTH_SOCK");
    let out = cmd.output().expect("gaffer status");
    let took = t.elapsed();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    assert!(took < Duration::from_secs(10), "took {took:?}: {doc}");
    assert!(!marker.exists(), "ssh asked for a passphrase");
    let warned = doc["problems"].as_array().is_some_and(|p| {
        p.iter().any(|x| {
            x.as_str()
                .is_some_and(|x| x.starts_with(&format!("host {}: unreachable", h.name)))
        })
    });
    assert!(warned, "{doc}");
    drop(agent);
}
