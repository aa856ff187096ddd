//! Agents on a simulated host report home (issue 15, item 4): `gaffer done` and `gaffer hook`
//! run in the host's panes reach the running `gaffer run` over the host's one SSH connection
//! (a reverse-forwarded socket), or wait in the host's spool while it is partitioned and are
//! applied once after the heal.
//!
//! The host shares this machine's filesystem, so the test keeps the filesystem from being the
//! channel: the host's project directory and HOME are other directories than the coordinator's
//! project, the host's commands only ever see their own directory (its `.gaffer/remote.json`,
//! written there by the coordinator over ssh), and the test asserts that no ledger appears
//! there and that a report made during the partition reaches the ledger only after the heal.
//!
//! Needs root (namespaces) and Debian's openssh-server; skips with a message otherwise, and
//! fails under `CI=true`.

use gaffer_coordinator::ledger::{AssignmentState, Ledger};
use gaffer_coordinator::signal_store::SignalStore;
use gaffer_core::event::CoordinatorEvent;
use gaffer_testkit::hosts::{self, SimHost, SimHosts};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{cli, shell_quote, wait_until};
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gaffer");

/// The coordinator's project: `.gaffer/config.toml` with the local tmux server and `h` as a
/// `[[hosts]]` entry whose project is `remote` (a directory the host's agents run in).
fn write_config(dir: &Path, local: &TmuxServer, h: &SimHost, remote: &Path) {
    let project = format!("project = {:?}\n", remote.display().to_string());
    hosts::write_config(dir, &local.name, &[h.hosts_entry(&project)]);
}

fn events(dir: &Path) -> Vec<CoordinatorEvent> {
    Ledger::open(&dir.join(".gaffer/state.db"))
        .ok()
        .and_then(|l| l.events_since(0).ok())
        .map(|(events, _)| events.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default()
}

fn state_of(dir: &Path, bead: &str) -> Option<AssignmentState> {
    Ledger::open(&dir.join(".gaffer/state.db"))
        .ok()?
        .by_bead(bead)
        .ok()?
        .last()
        .map(|r| r.state)
}

/// No message waits in the host's spool (taken or not).
fn spool_empty(remote: &Path) -> bool {
    let spool = remote.join(".gaffer/outbox.jsonl");
    std::fs::metadata(&spool).map_or(true, |m| m.len() == 0)
        && !remote.join(".gaffer/outbox.taken").exists()
}

fn bead_line(id: &str, title: &str) -> String {
    format!(
        r#"{{"id":"{id}","title":"{title}","status":"open","priority":1,"issue_type":"feature","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}}"#
    )
}

/// A `gaffer` command as the host runs it: in the host's network namespace, in its project
/// directory, with its own HOME.
fn on_host(h: &SimHost, remote: &Path, home: &Path, args: &[&str]) -> std::process::Output {
    let mut argv = vec![BIN];
    argv.extend_from_slice(args);
    h.ns_command(&argv)
        .current_dir(remote)
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("gaffer on the host")
}

#[test]
fn reports_from_a_host_reach_the_coordinator_or_wait_in_its_spool_and_arrive_once() {
    if !hosts::run_isolated(
        "reports_from_a_host_reach_the_coordinator_or_wait_in_its_spool_and_arrive_once",
    ) {
        return;
    }
    let set = SimHosts::new("box", 1, 87).expect("simulated hosts");
    let h = set.host(0);
    let remote_dir = tempfile::tempdir().expect("tempdir");
    let remote = remote_dir.path().join("proj");
    let home = remote_dir.path().join("home");
    std::fs::create_dir_all(&remote).expect("mkdir");
    std::fs::create_dir_all(&home).expect("mkdir");
    let sim = shell_quote(&gaffer_testkit::sim::binary().display().to_string());
    let cmd_log = remote_dir.path().join("cmds.jsonl");
    // Agent 1 finishes what it gets in 2 s and reports it with `gaffer done` from its pane;
    // agent 2 works for ten minutes (the test reports its bead during a partition).
    let in_remote = format!(
        "cd {} && export HOME={} && exec",
        shell_quote(&remote.display().to_string()),
        shell_quote(&home.display().to_string())
    );
    let quick = h
        .spawn_pane(
            "proj",
            &format!(
                "{in_remote} {sim} --agent cc --work-secs 2 --cmd-log {} --on-done {}",
                shell_quote(&cmd_log.display().to_string()),
                shell_quote(&format!("{} done {{bead}}", shell_quote(BIN)))
            ),
            "proj__cc_1",
        )
        .expect("remote sim 1");
    let slow = h
        .spawn_pane(
            "proj",
            &format!("{in_remote} {sim} --agent cc --work-secs 600"),
            "proj__cc_2",
        )
        .expect("remote sim 2");
    let quick_key = format!("{}:{quick}", h.name);
    let slow_key = format!("{}:{slow}", h.name);

    let local = TmuxServer::new("hhome");
    local.session("proj", "sleep 600");
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path();
    std::fs::create_dir_all(dir.join(".beads")).expect("mkdir");
    std::fs::create_dir_all(dir.join(".git")).expect("mkdir");
    std::fs::write(
        dir.join(".beads/issues.jsonl"),
        format!(
            "{}\n{}\n",
            bead_line("hm-1", "Implement the lexer in src/lexer.rs"),
            bead_line("hm-2", "Implement the parser in src/parser.rs")
        ),
    )
    .expect("issues");
    write_config(dir, &local, h, &remote);
    let run = cli::command(BIN, dir)
        .args(["--project", &dir.display().to_string()])
        .args(["run", "--auto-assign", "--exit-after", "150"])
        .args(["--set", "coordinator.poll_interval=300ms"])
        .args(["--set", "coordinator.idle_threshold=0.5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gaffer run");

    let records = || {
        Ledger::open(&dir.join(".gaffer/state.db"))
            .ok()
            .and_then(|l| l.all().ok())
            .unwrap_or_default()
    };
    let mut notes: Vec<String> = Vec::new();
    let result = (|| -> Result<String, String> {
        // The coordinator marks the host's project as remote, over ssh.
        if !wait_until(Duration::from_secs(40), || {
            remote.join(".gaffer/remote.json").is_file()
        }) {
            return Err("no .gaffer/remote.json on the host".into());
        }
        // 1. Agent 1's `gaffer done`, run in its pane on the host, is applied at once.
        let done_quick = wait_until(Duration::from_secs(60), || {
            records().iter().any(|r| {
                r.assignment.agent_pane_id == quick_key && r.state == AssignmentState::Done
            })
        });
        if !done_quick {
            let log = std::fs::read_to_string(&cmd_log).unwrap_or_default();
            return Err(format!(
                "agent 1's work never done: {:?}; its commands: {log}",
                records()
            ));
        }
        // Its command got the ack and exited 0 (an ack lost on the way is covered below).
        let acked = wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&cmd_log).is_ok_and(|l| l.contains("\"status\":0"))
        });
        let log = std::fs::read_to_string(&cmd_log).unwrap_or_default();
        if !acked || remote.join(".gaffer/outbox.jsonl").exists() {
            return Err(format!("agent 1's command: {log}"));
        }
        notes.push(format!("agent 1's commands: {log}"));
        // 2. The host partitioned: a report made there now is queued on the host, not applied.
        let slow_bead = {
            let ok = wait_until(Duration::from_secs(30), || {
                records().iter().any(|r| {
                    r.assignment.agent_pane_id == slow_key && r.state == AssignmentState::Working
                })
            });
            if !ok {
                return Err(format!("agent 2 never working: {:?}", records()));
            }
            records()
                .into_iter()
                .find(|r| r.assignment.agent_pane_id == slow_key)
                .map(|r| r.assignment.bead_id)
                .unwrap_or_default()
        };
        h.partition()?;
        let t0 = Instant::now();
        let out = on_host(
            h,
            &remote,
            &home,
            &["done", &slow_bead, "--reason", "by hand"],
        );
        let took = t0.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() || !stdout.contains("queued in") {
            return Err(format!(
                "done during the partition: {} {stdout} {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        notes.push(format!("done while partitioned took {took:?}: {stdout}"));
        let spool =
            std::fs::read_to_string(remote.join(".gaffer/outbox.jsonl")).unwrap_or_default();
        let spooled: Vec<&str> = spool
            .lines()
            .filter(|l| l.contains(&format!("\"bead_id\":\"{slow_bead}\"")))
            .collect();
        notes.push(format!("spool: {spool}"));
        if spooled.len() != 1 || !spooled[0].contains("\"kind\":\"done\"") {
            return Err(format!("the spool holds: {spool}"));
        }
        std::thread::sleep(Duration::from_secs(2));
        if state_of(dir, &slow_bead) != Some(AssignmentState::Working) {
            return Err(format!(
                "applied before the heal: {:?}",
                state_of(dir, &slow_bead)
            ));
        }
        // 3. Healed: the spool is drained and the report applied, once.
        h.heal()?;
        let applied = wait_until(Duration::from_secs(60), || {
            state_of(dir, &slow_bead) == Some(AssignmentState::Done)
        });
        if !applied {
            return Err(format!(
                "the queued report was never applied: {:?}",
                records()
            ));
        }
        let drained = wait_until(Duration::from_secs(20), || spool_empty(&remote));
        if !drained {
            return Err("the spool was not removed after the drain".into());
        }
        // 4. The same message again (as when an ack is lost and the sender spools what was
        // applied): drained, and not applied a second time.
        let again = spool
            .lines()
            .find(|l| l.contains(&slow_bead))
            .unwrap_or_default();
        std::fs::write(remote.join(".gaffer/outbox.jsonl"), format!("{again}\n"))
            .map_err(|e| e.to_string())?;
        let drained = wait_until(Duration::from_secs(20), || spool_empty(&remote));
        if !drained {
            return Err("the repeated message was not drained".into());
        }
        Ok(slow_bead)
    })();
    // SAFETY: signalling the child this test started, by its pid (SIGINT: it stops cleanly).
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let out = run.wait_with_output().expect("gaffer run ends");
    let evs = events(dir);
    let kinds: Vec<&str> = evs.iter().map(|e| e.event_type.as_str()).collect();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let slow_bead = match result {
        Ok(b) => b,
        Err(e) => panic!("{e}\nnotes: {notes:?}\nevents: {kinds:?}\n{stderr}"),
    };

    eprintln!("notes: {notes:?}");
    // The host's project never held a ledger: every report travelled over the connection.
    assert!(!remote.join(".gaffer/state.db").exists());
    let ledger = Ledger::open(&dir.join(".gaffer/state.db")).expect("ledger");
    let reports = ledger.home_reports().expect("home reports");
    let dones: Vec<_> = reports.iter().filter(|r| r.kind == "done").collect();
    assert_eq!(dones.len(), 2, "{reports:?}");
    assert!(dones.iter().all(|r| r.host == h.name), "{reports:?}");
    // Agent 1's went over the socket at once.
    assert_eq!(dones[0].via, "socket", "{reports:?}");
    assert!(
        dones[0]
            .outcome
            .contains(&format!("was assigned to {quick_key}")),
        "{reports:?}"
    );
    // Exactly one completion each, the queued one included.
    let completed = |bead: &str| {
        evs.iter()
            .filter(|e| e.event_type.as_str() == "work_completed" && e.details["bead_id"] == bead)
            .count()
    };
    assert_eq!(completed(&slow_bead), 1, "{kinds:?}");
    let other = if slow_bead == "hm-1" { "hm-2" } else { "hm-1" };
    assert_eq!(completed(other), 1, "{kinds:?}");
    // Events say the reports arrived from the host.
    let received: Vec<&CoordinatorEvent> = evs
        .iter()
        .filter(|e| e.event_type.as_str() == "report_received")
        .collect();
    assert!(received.len() >= 2, "{kinds:?}");
    assert!(
        received
            .iter()
            .all(|e| e.details["host"] == h.name.as_str() && e.details["kind"] == "done"),
        "{received:?}"
    );
    assert_eq!(
        received.iter().filter(|e| e.agent_id == slow_key).count(),
        1,
        "{received:?}"
    );
    // `gaffer status` says what came from the host.
    let out = cli::run(BIN, dir, &["--json", "status"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status json");
    let host = &doc["hosts"][0];
    assert_eq!(host["host"], h.name.as_str(), "{doc}");
    assert_eq!(host["reports"], reports.len() as u64, "{doc}");
    assert_eq!(host["last_report"]["kind"], "done", "{doc}");
    let out = cli::run(BIN, dir, &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!(
            "host {}: {} report(s) from its agents, the last ",
            h.name,
            reports.len()
        )),
        "{text}"
    );
}

#[test]
fn a_hook_in_a_host_s_pane_becomes_a_signal_of_its_host_key() {
    if !hosts::run_isolated("a_hook_in_a_host_s_pane_becomes_a_signal_of_its_host_key") {
        return;
    }
    let set = SimHosts::new("box", 1, 88).expect("simulated hosts");
    let h = set.host(0);
    let remote_dir = tempfile::tempdir().expect("tempdir");
    let remote = remote_dir.path().join("proj");
    let home = remote_dir.path().join("home");
    std::fs::create_dir_all(&remote).expect("mkdir");
    std::fs::create_dir_all(&home).expect("mkdir");
    let sim = shell_quote(&gaffer_testkit::sim::binary().display().to_string());
    let agent = h
        .spawn_pane("proj", &format!("{sim} --agent cc"), "proj__cc_1")
        .expect("remote sim");
    let local = TmuxServer::new("hhook");
    local.session("proj", "sleep 600");
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path();
    std::fs::create_dir_all(dir.join(".git")).expect("mkdir");
    write_config(dir, &local, h, &remote);
    let run = cli::command(BIN, dir)
        .args(["--project", &dir.display().to_string()])
        .args(["run", "--exit-after", "90"])
        .args(["--set", "coordinator.poll_interval=300ms"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gaffer run");
    let signals = || {
        SignalStore::open(&dir.join(".gaffer/state.db"))
            .ok()
            .and_then(|s| s.since(0, 100).ok())
            .map(|(v, _)| v)
            .unwrap_or_default()
    };
    let result = (|| -> Result<String, String> {
        if !wait_until(Duration::from_secs(40), || {
            remote.join(".gaffer/remote.json").is_file()
        }) {
            return Err("no .gaffer/remote.json on the host".into());
        }
        // A pane on the host runs the hook the way Claude Code does: payload on stdin, in the
        // project directory, TMUX_PANE set by tmux.
        let payload = format!(
            r#"{{"session_id":"s-remote","cwd":"{}","hook_event_name":"Stop"}}"#,
            remote.display()
        );
        let hook_cmd = format!(
            "cd {} && export HOME={} && printf '%s' {} | {} hook --agent cc Stop; echo hook-exit=$?; sleep 600",
            shell_quote(&remote.display().to_string()),
            shell_quote(&home.display().to_string()),
            shell_quote(&payload),
            shell_quote(BIN)
        );
        let pane = h.spawn_pane("proj", &hook_cmd, "proj__sh_1")?;
        let key = format!("{}:{pane}", h.name);
        let arrived = wait_until(Duration::from_secs(20), || {
            signals().iter().any(|s| s.pane_id == key)
        });
        if !arrived {
            return Err(format!(
                "no signal of {key}: {:?}; pane shows {}",
                signals(),
                h.tmux.capture(&pane)
            ));
        }
        // It exits 0 (the signal is applied before the hook reads the ack and exits).
        if !wait_until(Duration::from_secs(10), || {
            h.tmux.capture(&pane).contains("hook-exit=0")
        }) {
            return Err(format!("the hook's exit: {}", h.tmux.capture(&pane)));
        }
        // A spool that cannot be drained (here: its taken copy is a directory, which `cat`
        // cannot read) is reported once, while the host answers.
        std::fs::create_dir(remote.join(".gaffer/outbox.taken")).map_err(|e| e.to_string())?;
        let failed = |evs: &[CoordinatorEvent]| {
            evs.iter()
                .filter(|e| e.event_type.as_str() == "report_spool_failed")
                .count()
        };
        if !wait_until(Duration::from_secs(20), || failed(&events(dir)) == 1) {
            return Err("no report_spool_failed".into());
        }
        std::thread::sleep(Duration::from_secs(2));
        if failed(&events(dir)) != 1 {
            return Err("report_spool_failed said more than once".into());
        }
        std::fs::remove_dir(remote.join(".gaffer/outbox.taken")).map_err(|e| e.to_string())?;
        // sshd killed with every connection: the coordinator's new connection forwards the
        // socket again (and rewrites the marker), and a hook goes over it as before.
        let marker = remote.join(".gaffer/remote.json");
        let written = || std::fs::metadata(&marker).and_then(|m| m.modified()).ok();
        let before = written();
        let opened = h.connections_opened();
        h.kill_sshd()?;
        if !wait_until(Duration::from_secs(40), || {
            h.connections_opened() > opened && written() > before
        }) {
            return Err("the socket was not forwarded again after sshd was killed".into());
        }
        let again = format!(
            "cd {} && printf '%s' {} | {} hook --agent cc Stop; echo hook-exit=$?; sleep 600",
            shell_quote(&remote.display().to_string()),
            shell_quote(&payload),
            shell_quote(BIN)
        );
        let pane2 = h.spawn_pane("proj", &again, "proj__sh_2")?;
        let key2 = format!("{}:{pane2}", h.name);
        let via_socket = wait_until(Duration::from_secs(20), || {
            events(dir).iter().any(|e| {
                e.event_type.as_str() == "report_received"
                    && e.agent_id == key2
                    && e.details["via"] == "socket"
            })
        });
        if !via_socket {
            return Err(format!(
                "no signal of {key2} over the socket after the reconnect"
            ));
        }
        Ok(key)
    })();
    // SAFETY: signalling the child this test started, by its pid (SIGINT: it stops cleanly).
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let out = run.wait_with_output().expect("gaffer run ends");
    let key = match result {
        Ok(k) => k,
        Err(e) => panic!("{e}\n{}", String::from_utf8_lossy(&out.stderr)),
    };
    let got: Vec<_> = signals().into_iter().filter(|s| s.pane_id == key).collect();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].event.as_str(), "stop");
    assert_eq!(got[0].session_id.as_deref(), Some("s-remote"));
    // The remote tmux socket is not kept (it means nothing here).
    assert_eq!(got[0].socket, None);
    // Not the agent's pane, and no signal under the bare id.
    assert_ne!(key, format!("{}:{agent}", h.name));
    assert!(!signals().iter().any(|s| !s.pane_id.contains(':')));
    assert!(!remote.join(".gaffer/state.db").exists());
    let evs = events(dir);
    let spool = evs
        .iter()
        .find(|e| e.event_type.as_str() == "report_spool_failed")
        .expect("report_spool_failed");
    assert_eq!(spool.details["host"], h.name.as_str());
    assert!(
        spool.details["error"]
            .as_str()
            .is_some_and(|e| e.contains("outbox.taken")),
        "{spool:?}"
    );
    assert!(
        evs.iter()
            .any(|e| e.event_type.as_str() == "report_received"
                && e.details["kind"] == "signal"
                && e.details["via"] == "socket"
                && e.agent_id == key),
        "{:?}",
        evs.iter()
            .map(|e| e.event_type.as_str())
            .collect::<Vec<_>>()
    );
}

#[test]
fn spawn_on_a_host_lays_out_sim_agents_there_that_take_work_and_report_it_home() {
    if !hosts::run_isolated(
        "spawn_on_a_host_lays_out_sim_agents_there_that_take_work_and_report_it_home",
    ) {
        return;
    }
    let set = SimHosts::new("box", 1, 89).expect("simulated hosts");
    let h = set.host(0);
    let remote_dir = tempfile::tempdir().expect("tempdir");
    let remote = remote_dir.path().join("proj");
    std::fs::create_dir_all(&remote).expect("mkdir");
    let local = TmuxServer::new("hspawn");
    local.session("proj", "sleep 600");
    let project = tempfile::tempdir().expect("tempdir");
    let dir = project.path();
    std::fs::create_dir_all(dir.join(".beads")).expect("mkdir");
    std::fs::create_dir_all(dir.join(".git")).expect("mkdir");
    std::fs::write(
        dir.join(".beads/issues.jsonl"),
        format!(
            "{}\n",
            bead_line("hs-1", "Implement the lexer in src/lexer.rs")
        ),
    )
    .expect("issues");
    write_config(dir, &local, h, &remote);

    // Three simulated agents on the host, two panes per window, over one SSH connection.
    let out = cli::run(
        BIN,
        dir,
        &[
            "--json",
            "spawn",
            "--host",
            &h.name,
            "--sim",
            "--cc",
            "3",
            "--panes-per-window",
            "2",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("spawn json");
    assert_eq!(doc["host"], h.name.as_str());
    assert_eq!(doc["session"], "proj");
    assert_eq!(doc["windows"], 2);
    let panes = doc["panes"].as_array().cloned().unwrap_or_default();
    let keys: Vec<String> = panes
        .iter()
        .filter_map(|p| p["pane_id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(keys.len(), 3, "{doc}");
    assert!(
        keys.iter().all(|k| k.starts_with(&format!("{}:%", h.name))),
        "{keys:?}"
    );
    assert_eq!(h.connections_opened(), 1);
    // On the host: each pane titled, its agent as the pane's own command, in the host's
    // project directory, with the launch record for restarts.
    let listed = h
        .tmux
        .tmux
        .run(&[
            "list-panes",
            "-s",
            "-t",
            "=proj",
            "-F",
            "#{pane_id} #{window_index} #{@gaffer_title} #{pane_current_path} #{@gaffer_launch}",
        ])
        .expect("list-panes on the host");
    let mut titles: Vec<&str> = Vec::new();
    for line in listed.lines() {
        let f: Vec<&str> = line.splitn(5, ' ').collect();
        assert_eq!(f.len(), 5, "{listed}");
        assert!(keys.contains(&format!("{}:{}", h.name, f[0])), "{listed}");
        titles.push(f[2]);
        assert_eq!(Path::new(f[3]), remote.as_path(), "{listed}");
        assert!(f[4].contains("gaffer-sim"), "{listed}");
    }
    titles.sort();
    assert_eq!(titles, ["proj__cc_1", "proj__cc_2", "proj__cc_3"]);

    // The coordinator sees them under their keys, gives one the bead, and its `gaffer done`
    // (the simulated agent's own, in its pane on the host) comes home.
    let run = cli::command(BIN, dir)
        .args(["--project", &dir.display().to_string()])
        .args(["run", "--auto-assign", "--exit-after", "90"])
        .args(["--set", "coordinator.poll_interval=300ms"])
        .args(["--set", "coordinator.idle_threshold=0.5"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gaffer run");
    // Done, and the reports recorded (the done and the simulated agent's test run).
    let home = || {
        Ledger::open(&dir.join(".gaffer/state.db"))
            .ok()
            .and_then(|l| l.home_reports().ok())
            .unwrap_or_default()
    };
    let done = wait_until(Duration::from_secs(60), || {
        state_of(dir, "hs-1") == Some(AssignmentState::Done)
            && home().iter().any(|r| r.kind == "test_run")
    });
    // SAFETY: signalling the child this test started, by its pid (SIGINT: it stops cleanly).
    unsafe { libc::kill(run.id() as i32, libc::SIGINT) };
    let out = run.wait_with_output().expect("gaffer run ends");
    let evs = events(dir);
    let kinds: Vec<&str> = evs.iter().map(|e| e.event_type.as_str()).collect();
    assert!(
        done,
        "hs-1 never done: {kinds:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let started = evs
        .iter()
        .find(|e| e.event_type.as_str() == "coordinator_started")
        .expect("coordinator_started");
    for k in &keys {
        assert!(
            started.details["agents"].to_string().contains(k.as_str()),
            "{k}: {:?}",
            started.details
        );
    }
    let assigned = evs
        .iter()
        .find(|e| e.event_type.as_str() == "work_assigned")
        .expect("work_assigned");
    assert!(keys.contains(&assigned.agent_id), "{assigned:?}");
    let ledger = Ledger::open(&dir.join(".gaffer/state.db")).expect("ledger");
    let reports = ledger.home_reports().expect("reports");
    assert!(
        reports
            .iter()
            .any(|r| r.kind == "done" && r.host == h.name && r.outcome.contains("hs-1: done")),
        "{reports:?} {kinds:?} {:?} {} {listed} remote db: {}",
        evs.iter()
            .find(|e| e.event_type.as_str() == "work_completed"),
        String::from_utf8_lossy(&out.stderr),
        remote.join(".gaffer/state.db").exists()
    );
    // The simulated agent's test report came home too, under its host key.
    assert!(
        reports
            .iter()
            .any(|r| r.kind == "test_run" && r.outcome.starts_with("recorded")),
        "{reports:?}"
    );
    assert!(!remote.join(".gaffer/state.db").exists());
}
