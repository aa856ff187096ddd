//! Fault tests against the real server: down at start, killed mid-run, slow (never answers),
//! isError replies, malformed JSON, 401. Each gives a typed error, no panic, no hang, and the
//! same client recovers once the server is back.

mod common;

use common::{FaultProxy, Mode, RealServer};
use gaffer_core::conflicts::{ConflictDetector, ConflictError};
use gaffer_core::mailbox::*;
use gaffer_mail::{McpMailbox, McpOptions};
use serde_json::json;
use std::time::{Duration, Instant};

fn opts(timeout_ms: u64) -> McpOptions {
    McpOptions {
        timeout: Duration::from_millis(timeout_ms),
        retries: 2,
        backoff: Duration::from_millis(50),
        available_ttl: Duration::from_secs(30),
        unavailable_ttl: Duration::from_millis(200),
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn setup(mb: &dyn Mailbox, project: &str) -> String {
    mb.ensure_project(project).expect("project");
    mb.register_agent(
        project,
        &AgentRegistration {
            name: Some("GreenCastle".into()),
            program: "gaffer-test".into(),
            model: "none".into(),
            task_description: String::new(),
        },
    )
    .expect("register")
    .name
}

fn reserve(
    mb: &dyn Mailbox,
    project: &str,
    agent: &str,
    path: &str,
) -> Result<ReserveResult, MailError> {
    mb.reserve_paths(
        project,
        &ReserveRequest {
            agent: agent.into(),
            paths: vec![path.into()],
            ttl: Duration::from_secs(600),
            exclusive: true,
            reason: String::new(),
        },
    )
}

#[test]
fn server_down_at_start_then_killed_mid_run_then_back() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/mcp/");
    let mb = McpMailbox::new(&url, None, opts(20_000));
    let dir = common::project_dir();
    let project = dir.path().display().to_string();

    // down at start: typed, fast, and conflicts are unknown (fail closed)
    let t = Instant::now();
    let e = mb.health().unwrap_err();
    assert!(matches!(e, MailError::Unavailable(_)), "{e:?}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "no hang: {:?}",
        t.elapsed()
    );
    assert!(!mb.is_available());
    let e = mb.ensure_project(&project).unwrap_err();
    assert!(matches!(e, MailError::Unavailable(_)), "{e:?}");
    let det = ConflictDetector::new(&mb, project.clone());
    assert!(matches!(
        det.detect_conflicts(chrono::Utc::now()),
        Err(ConflictError::Unknown(MailError::Unavailable(_)))
    ));

    // the server comes up on that port: the same client recovers
    let Some(server) = RealServer::start_with(Some(port), None) else {
        return;
    };
    assert_eq!(server.url, url);
    std::thread::sleep(Duration::from_millis(250)); // past the cached failure
    assert!(mb.is_available());
    let agent = setup(&mb, &project);
    reserve(&mb, &project, &agent, "src/**").expect("reserve");

    // killed mid-run
    server.stop();
    let e = reserve(&mb, &project, &agent, "docs/**").unwrap_err();
    assert!(matches!(e, MailError::Unavailable(_)), "{e:?}");
    let e = mb.list_reservations(&project, None, true).unwrap_err();
    assert!(e.is_transient(), "{e:?}");
    assert!(matches!(
        det.check_path_conflict("src/a.rs", "BlueLake", chrono::Utc::now()),
        Err(ConflictError::Unknown(_))
    ));

    // back, with its state
    server.restart();
    let rs = mb
        .list_reservations(&project, None, true)
        .expect("recovered");
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0].path_pattern, "src/**");
    let hit = det
        .check_path_conflict("src/a.rs", "BlueLake", chrono::Utc::now())
        .expect("known again")
        .expect("held");
    assert_eq!(hit.conflict.holders[0].agent_name, agent);

    // isError replies become typed errors, then the next call works
    let e = mb
        .fetch_inbox(&project, "NoSuchAgent", &InboxQuery::default())
        .unwrap_err();
    assert!(matches!(e, MailError::NotFound(_)), "{e:?}");
    let e = mb.call_tool("no_such_tool", json!({})).unwrap_err();
    assert!(matches!(e, MailError::Invalid(_)), "{e:?}");
    let e = mb
        .call_tool(
            "fetch_inbox",
            json!({"project_key": project, "agent_name": agent, "bogus": 1}),
        )
        .unwrap_err();
    assert!(matches!(e, MailError::Invalid(_)), "{e:?}");
    let e = mb.read_resource("resource://no-such-thing").unwrap_err();
    assert!(
        matches!(e, MailError::NotFound(_) | MailError::Invalid(_)),
        "{e:?}"
    );
    assert!(mb.health().is_ok());

    // proxy faults in front of the live server: slow, malformed JSON, 401
    let proxy = FaultProxy::start(Some(server.port));
    let via = McpMailbox::new(&proxy.url, None, opts(20_000));
    let quick = McpMailbox::new(&proxy.url, None, opts(800));
    assert!(via.health().is_ok(), "proxy passes through");

    proxy.set(Mode::Hang);
    let t = Instant::now();
    let e = quick.list_reservations(&project, None, true).unwrap_err();
    assert!(matches!(e, MailError::Timeout(_)), "{e:?}");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "timeouts are not retried: {:?}",
        t.elapsed()
    );
    proxy.set(Mode::Pass);
    assert_eq!(
        via.list_reservations(&project, None, true)
            .expect("recovered")
            .len(),
        1
    );

    proxy.set(Mode::Garbage);
    let e = via.list_reservations(&project, None, true).unwrap_err();
    assert!(matches!(e, MailError::Protocol(_)), "{e:?}");
    proxy.set(Mode::Pass);
    assert!(via.health().is_ok());

    proxy.set(Mode::Unauthorized);
    let e = via.health().unwrap_err();
    assert!(matches!(e, MailError::Unauthorized(_)), "{e:?}");
    proxy.set(Mode::Pass);
    assert!(via.health().is_ok());

    // a transient 503 is retried transparently (bounded retries)
    let seen = proxy.auth_seen.lock().unwrap().len();
    proxy.set(Mode::BusyOnce);
    assert!(via.health().is_ok(), "retried after 503");
    assert_eq!(proxy.auth_seen.lock().unwrap().len(), seen + 2, "one retry");

    // the bearer header is sent only when a token is set
    assert!(proxy.auth_seen.lock().unwrap().iter().all(Option::is_none));
    let with_token = McpMailbox::new(&proxy.url, Some("s3cret".into()), opts(20_000));
    with_token.health().expect("health");
    assert_eq!(
        proxy
            .auth_seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some("Bearer s3cret")
    );
}

#[test]
fn slow_server_times_out_without_hanging() {
    // a listener that accepts and never answers
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        listener.set_nonblocking(true).ok();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(5) {
            if let Ok((s, _)) = listener.accept() {
                held.push(s);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    let mb = McpMailbox::new(&format!("http://127.0.0.1:{port}/mcp"), None, opts(500));
    let t = Instant::now();
    let e = mb.health().unwrap_err();
    assert!(matches!(e, MailError::Timeout(_)), "{e:?}");
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(!mb.is_available());
    hold.join().expect("listener thread");
}

#[test]
fn real_server_with_a_bearer_token_answers_401_without_it() {
    let Some(server) = RealServer::start_with(None, Some("t0ken-for-tests")) else {
        return;
    };
    let dir = common::project_dir();
    let project = dir.path().display().to_string();
    let anonymous = McpMailbox::new(&server.url, None, opts(20_000));
    let e = anonymous.ensure_project(&project).unwrap_err();
    assert!(matches!(e, MailError::Unauthorized(_)), "{e:?}");
    let wrong = McpMailbox::new(&server.url, Some("wrong".into()), opts(20_000));
    let e = wrong.health().unwrap_err();
    assert!(matches!(e, MailError::Unauthorized(_)), "{e:?}");
    let right = McpMailbox::new(&server.url, Some("t0ken-for-tests".into()), opts(20_000));
    let agent = setup(&right, &project);
    reserve(&right, &project, &agent, "src/**").expect("writes are allowed with the token");
    assert_eq!(
        right
            .list_reservations(&project, None, true)
            .expect("list")
            .len(),
        1
    );
}
