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
