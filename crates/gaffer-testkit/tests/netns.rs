//! The loopback-only namespace really isolates: only `lo`, loopback works, nothing else routes.

use gaffer_testkit::netns;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

#[test]
fn isolated_test_sees_only_loopback() {
    if !netns::run_isolated("isolated_test_sees_only_loopback") {
        return;
    }
    assert_eq!(netns::interfaces(), vec!["lo".to_string()]);
    let l = TcpListener::bind("127.0.0.1:0").expect("loopback binds");
    let addr = l.local_addr().expect("addr");
    TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("loopback connects");
    let outside = "192.0.2.1:80".parse().expect("addr");
    let err = TcpStream::connect_timeout(&outside, Duration::from_secs(2))
        .expect_err("no route leaves the namespace");
    assert_ne!(
        err.kind(),
        std::io::ErrorKind::TimedOut,
        "refused at once, not timed out: {err}"
    );
}

#[test]
fn dropping_the_tmux_server_kills_pane_process_trees() {
    use gaffer_testkit::tmux::{TmuxServer, process_tree};
    let server = TmuxServer::new("kill");
    // A pane whose program ignores SIGHUP and has a child that does too: killing the tmux
    // server alone would leave both running.
    let pane = server.agent(
        "s",
        "s__cc_1",
        "trap '' HUP; sh -c \"trap '' HUP; sleep 300\" & sleep 300",
    );
    let pid: i32 = server
        .run(&["display-message", "-p", "-t", &pane, "#{pane_pid}"])
        .trim()
        .parse()
        .expect("pane pid");
    assert!(
        gaffer_testkit::wait_until(Duration::from_secs(5), || process_tree(pid).len() >= 3),
        "the pane runs a shell, a child shell and sleeps: {:?}",
        process_tree(pid)
    );
    let tree = process_tree(pid);
    drop(server);
    let alive = |p: &i32| {
        std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, r)| r.trim_start().starts_with('Z'))
        })
    };
    assert!(
        gaffer_testkit::wait_until(Duration::from_secs(5), || !tree.iter().any(alive)),
        "still alive after drop: {:?}",
        tree.iter().filter(|p| alive(p)).collect::<Vec<_>>()
    );
}
