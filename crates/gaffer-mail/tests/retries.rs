//! Which failures `McpMailbox` retries: a call that may have reached the server (I/O after the
//! request was sent, HTTP 5xx) is retried only for idempotent tools and reads, so a
//! `send_message` is never delivered twice; a connection that never opened is retried for every
//! call. Checked against a local counting server, and against the real Agent Mail server
//! behind a proxy that lets each request through and then fails the reply.

mod common;

use common::{FaultProxy, Mode, RealServer};
use gaffer_core::mailbox::*;
use gaffer_mail::{McpMailbox, McpOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

fn opts() -> McpOptions {
    McpOptions {
        timeout: Duration::from_secs(5),
        retries: 2,
        backoff: Duration::from_millis(100),
        available_ttl: Duration::from_secs(30),
        unavailable_ttl: Duration::from_millis(200),
    }
}

/// What the counting server does once it has read a whole request.
#[derive(Clone, Copy)]
enum Fail {
    /// Close the connection without a reply.
    Drop,
    /// Answer HTTP 502.
    BadGateway,
    /// Answer a valid `send_message` result.
    Ok,
}

/// Reads one HTTP request (head and body) from `s`; false if the client went away.
fn read_request(s: &mut TcpStream) -> bool {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..p]).to_ascii_lowercase();
            let len = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() >= p + 4 + len {
                return true;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A loopback server that counts the complete requests it reads, then fails as told. It
/// stops by itself after 20 s.
fn counting_server(listener: TcpListener, fail: Fail) -> Arc<AtomicUsize> {
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    listener.set_nonblocking(true).expect("nonblocking");
    std::thread::spawn(move || {
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until {
            let Ok((mut s, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            };
            let _ = s.set_nonblocking(false);
            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
            if !read_request(&mut s) {
                continue;
            }
            count.fetch_add(1, Ordering::SeqCst);
            let reply = match fail {
                Fail::Drop => continue,
                Fail::BadGateway => {
                    "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        .to_string()
                }
                Fail::Ok => {
                    let b = r#"{"jsonrpc":"2.0","id":1,"result":{"structuredContent":{"deliveries":[{"project":"/p","payload":{"id":7,"thread_id":null}}],"count":1}}}"#;
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                        b.len()
                    )
                }
            };
            let _ = s.write_all(reply.as_bytes());
        }
    });
    seen
}

fn message(to: &str) -> OutgoingMessage {
    OutgoingMessage {
        sender: "GreenCastle".into(),
        to: vec![to.into()],
        subject: "once".into(),
        body_md: "exactly once".into(),
        ..OutgoingMessage::default()
    }
}

fn query() -> InboxQuery {
    InboxQuery {
        limit: 50,
        include_bodies: false,
        urgent_only: false,
    }
}

#[test]
fn a_send_that_reached_the_server_is_not_sent_again() {
    for fail in [Fail::Drop, Fail::BadGateway] {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/mcp/", listener.local_addr().expect("addr"));
        let seen = counting_server(listener, fail);
        let mb = McpMailbox::new(&url, None, opts());

        let e = mb.send_message("/p", &message("BlueLake")).unwrap_err();
        assert!(matches!(e, MailError::Unavailable(_)), "{e:?}");
        assert_eq!(seen.load(Ordering::SeqCst), 1, "send_message went out once");

        // a read is safe to repeat: it is retried
        let e = mb.fetch_inbox("/p", "BlueLake", &query()).unwrap_err();
        assert!(matches!(e, MailError::Unavailable(_)), "{e:?}");
        assert_eq!(
            seen.load(Ordering::SeqCst),
            1 + 3,
            "fetch_inbox: one try and two retries"
        );
    }
}

#[test]
fn a_connection_that_never_opened_is_retried_even_for_a_send() {
    // a port with nobody listening yet: the first try is refused, the server comes up before
    // the retry
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}/mcp/");
    let late = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(40));
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the late server");
        counting_server(listener, Fail::Ok)
    });
    let mb = McpMailbox::new(&url, None, opts());
    let sent = mb.send_message("/p", &message("BlueLake"));
    let seen = late.join().expect("late server");
    assert_eq!(sent.expect("sent after a refused connection").id, 7);
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[test]
fn the_real_server_gets_a_message_once_when_the_reply_is_lost() {
    let Some(server) = RealServer::start() else {
        return;
    };
    let dir = common::project_dir();
    let project = dir.path().display().to_string();
    let direct = McpMailbox::new(&server.url, None, opts());
    direct.ensure_project(&project).expect("project");
    for name in ["GreenCastle", "BlueLake"] {
        direct
            .register_agent(
                &project,
                &AgentRegistration {
                    name: Some(name.into()),
                    program: "gaffer-test".into(),
                    model: "none".into(),
                    task_description: String::new(),
                },
            )
            .expect("register");
    }
    let proxy = FaultProxy::start(Some(server.port));
    let via = McpMailbox::new(&proxy.url, None, opts());
    for mode in [Mode::PassThenDrop, Mode::PassThen502] {
        proxy.set(mode);
        let before = direct
            .fetch_inbox(&project, "BlueLake", &query())
            .expect("inbox")
            .len();
        let e = via
            .send_message(&project, &message("BlueLake"))
            .unwrap_err();
        assert!(matches!(e, MailError::Unavailable(_)), "{mode:?}: {e:?}");
        let after = direct
            .fetch_inbox(&project, "BlueLake", &query())
            .expect("inbox")
            .len();
        assert_eq!(after, before + 1, "{mode:?}: delivered exactly once");
        // an idempotent call through the same fault is retried, and harmless
        let seen = proxy.auth_seen.lock().map(|a| a.len()).unwrap_or(0);
        let _ = via.acknowledge(&project, "BlueLake", 1);
        let now = proxy.auth_seen.lock().map(|a| a.len()).unwrap_or(0);
        assert_eq!(now, seen + 3, "{mode:?}: acknowledge is retried");
    }
}
