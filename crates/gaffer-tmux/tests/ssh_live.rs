//! tmux on simulated hosts (network namespaces with a real sshd, `gaffer_testkit::hosts`)
//! through the SSH transport: one connection per host, whatever the number of commands, and
//! the harness's partitions, delay and sshd restarts.
//!
//! Needs root (namespaces) and Debian's openssh-server; skips with a message otherwise, and
//! fails under `CI=true`.

use gaffer_core::panes::{ObserveMode, Panes};
use gaffer_testkit::hosts::{self, SimHost, SimHosts};
use gaffer_testkit::wait_until;
use gaffer_tmux::cmd::{Socket, Tmux, TmuxError};
use gaffer_tmux::ssh::{SshDestination, SshHost, SshMode};
use gaffer_tmux::{TmuxOptions, TmuxPanes};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn destination(h: &SimHost) -> SshDestination {
    SshDestination {
        host: h.ssh_addr().ip().to_string(),
        user: Some("root".into()),
        port: Some(h.ssh_addr().port()),
        identity: Some(h.identity().to_path_buf()),
        options: h.ssh_options(),
    }
}

fn remote_tmux(h: &SimHost) -> (Arc<SshHost>, Tmux) {
    let conn = Arc::new(
        SshHost::new(
            &h.name,
            destination(h),
            SshMode::Multiplexed,
            Duration::from_secs(5),
        )
        .expect("ssh host"),
    );
    let tmux = Tmux::remote(
        Socket::Name(h.tmux.name.clone()),
        Duration::from_secs(10),
        Arc::clone(&conn),
    );
    (conn, tmux)
}

#[test]
fn one_connection_carries_every_command_and_the_control_client() {
    if !hosts::run_isolated("one_connection_carries_every_command_and_the_control_client") {
        return;
    }
    let set = SimHosts::new("one", 2, 71).expect("simulated hosts");
    for h in set.hosts() {
        h.spawn_sims("s", "claude", 4).expect("sims");
    }
    let h = set.host(0);
    let (conn, tmux) = remote_tmux(h);
    // The remote server is the host's: it runs in the host's namespace.
    let pid = tmux
        .run(&["display-message", "-p", "#{pid}"])
        .expect("display-message over ssh");
    assert!(h.runs_inside(pid.trim().parse().expect("pid")));
    // Many commands, some at once (more than sshd's MaxSessions 10): still one connection.
    let threads: Vec<_> = (0..24)
        .map(|i| {
            let t = tmux.clone();
            std::thread::spawn(move || {
                t.run(&["display-message", "-p", &format!("n{i} #{{session_name}}")])
            })
        })
        .collect();
    for (i, t) in threads.into_iter().enumerate() {
        let out = t.join().expect("thread").expect("display-message");
        assert_eq!(out.trim(), format!("n{i} s"));
    }
    let mut o = TmuxOptions::new(Socket::Name(h.tmux.name.clone()), Some("s".into()));
    o.timeout = Duration::from_secs(10);
    let panes = TmuxPanes::with_tmux(tmux.clone(), o);
    // A batched capture as one command on a channel (polling's path).
    let ids: Vec<String> = tmux
        .run(&["list-panes", "-s", "-t", "=s:", "-F", "#{pane_id}"])
        .expect("list")
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(ids.len(), 4);
    let caps = panes
        .capture_batch(&ids)
        .expect("batched capture over a channel");
    assert_eq!(caps.len(), 4);
    let mut last = String::new();
    let seen = wait_until(Duration::from_secs(20), || {
        let r = panes.observe();
        last = format!("{r:?}");
        r.is_ok_and(|s| {
            s.mode == ObserveMode::Control
                && s.panes.len() == 4
                && s.panes
                    .iter()
                    .all(|p| p.info.agent_type == "cc" && !p.screen.trim().is_empty())
        })
    });
    assert!(seen, "{}", &last[..last.len().min(3000)]);
    assert_eq!(conn.connections_started(), 1);
    assert_eq!(
        h.connections_opened(),
        1,
        "TCP connections the host accepted"
    );
    assert_eq!(set.host(1).connections_opened(), 0);
}

#[test]
fn partition_backoff_and_reconnect() {
    if !hosts::run_isolated("partition_backoff_and_reconnect") {
        return;
    }
    let set = SimHosts::new("part", 1, 72).expect("simulated hosts");
    let h = set.host(0);
    h.spawn_sims("s", "codex", 1).expect("sims");
    let (conn, mut tmux) = remote_tmux(h);
    tmux = Tmux::remote(
        tmux.socket().clone(),
        Duration::from_secs(3),
        Arc::clone(&conn),
    );
    assert!(tmux.has_session("s").expect("has-session"));
    h.partition().expect("partition");
    // The master notices (ServerAliveInterval 5 s × 3) or the command times out.
    let start = Instant::now();
    let r = tmux.run(&["display-message", "-p", "x"]);
    assert!(
        matches!(
            r,
            Err(TmuxError::Timeout { .. }) | Err(TmuxError::NoServer(_))
        ),
        "{r:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
    // The link is down, so the connection dies; after healing, one new connection.
    conn.disconnect();
    assert!(tmux.run(&["display-message", "-p", "x"]).is_err());
    let first = conn.connections_started();
    // Within the back-off: no new attempt.
    assert!(tmux.run(&["display-message", "-p", "x"]).is_err());
    assert_eq!(conn.connections_started(), first);
    h.heal().expect("heal");
    assert!(wait_until(Duration::from_secs(40), || tmux
        .run(&["display-message", "-p", "x"])
        .is_ok()));
    assert!(conn.is_connected());
}

#[test]
fn sshd_restart_and_killed_sessions() {
    if !hosts::run_isolated("sshd_restart_and_killed_sessions") {
        return;
    }
    let set = SimHosts::new("restart", 1, 73).expect("simulated hosts");
    let h = set.host(0);
    h.spawn_sims("s", "gemini", 1).expect("sims");
    let (conn, tmux) = remote_tmux(h);
    assert!(tmux.has_session("s").expect("has-session"));
    // A service restart keeps open connections.
    h.restart_sshd().expect("restart");
    assert!(tmux.has_session("s").expect("after restart"));
    assert_eq!(conn.connections_started(), 1);
    // Killing every session drops the connection; the next command reconnects (once).
    h.kill_sshd().expect("kill");
    assert!(wait_until(Duration::from_secs(5), || !conn.is_connected()));
    assert!(wait_until(Duration::from_secs(10), || tmux
        .has_session("s")
        .unwrap_or(false)));
    assert_eq!(conn.connections_started(), 2);
    assert_eq!(h.connections_opened(), 2);
}

#[test]
fn delay_is_added_to_the_round_trip() {
    if !hosts::run_isolated("delay_is_added_to_the_round_trip") {
        return;
    }
    let set = SimHosts::new("delay", 1, 74).expect("simulated hosts");
    let h = set.host(0);
    h.spawn_sims("s", "claude", 1).expect("sims");
    let (_conn, tmux) = remote_tmux(h);
    let rtt = |t: &Tmux| {
        let mut best = Duration::MAX;
        for _ in 0..3 {
            let s = Instant::now();
            t.run(&["display-message", "-p", "x"]).expect("rtt");
            best = best.min(s.elapsed());
        }
        best
    };
    let before = rtt(&tmux);
    let how = h.set_delay(Duration::from_millis(100)).expect("delay");
    let after = rtt(&tmux);
    // A channel open plus the command take at least one round trip.
    assert!(
        after >= before + Duration::from_millis(90),
        "{how}: {before:?} → {after:?}"
    );
    h.set_delay(Duration::ZERO).expect("no delay");
}
