//! Delivery on real channels: a real HTTP listener on loopback (std `TcpListener`) for the
//! webhook, real scripts for the command and desktop channels, the embedded Agent Mail mailbox.

use gaffer_coordinator::{Consumer, Origin};
use gaffer_core::clock::Clock;
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType as T};
use gaffer_core::mailbox::{InboxQuery, Mailbox};
use gaffer_core::notify::{Engine, Notification, NotifyConfig, Rules, WebhookFormat};
use gaffer_core::time::Timestamp;
use gaffer_notify::command::CommandChannel;
use gaffer_notify::desktop::Desktop;
use gaffer_notify::mail::MailChannel;
use gaffer_notify::webhook::Webhook;
use gaffer_notify::{Channel, Notifier, Outbox, RetryPolicy, Sink};
use gaffer_testkit::webhook::{Receiver, Reply};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

struct Wall;
impl Clock for Wall {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// The events a sink received.
fn sink() -> (Sink, Arc<Mutex<Vec<CoordinatorEvent>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = Arc::clone(&got);
    let sink: Sink = Arc::new(move |e| {
        if let Ok(mut v) = g.lock() {
            v.push(e);
        }
    });
    (sink, got)
}

fn events(got: &Arc<Mutex<Vec<CoordinatorEvent>>>) -> Vec<CoordinatorEvent> {
    got.lock().map(|v| v.clone()).unwrap_or_default()
}

fn error_event(pane: &str) -> CoordinatorEvent {
    CoordinatorEvent::new(T::AgentError, chrono::Utc::now())
        .with_agent(pane)
        .with_detail("agent_type", "cc")
        .with_detail("prev_status", "GENERATING")
        .with_detail("new_status", "ERROR")
}

fn note(i: usize) -> Notification {
    let mut n = Notification::test("t", chrono::Utc::now());
    n.title = format!("note {i}");
    n
}

fn engine() -> Engine {
    Engine::new(
        Rules::from_config(&NotifyConfig::default(), chrono_tz::Tz::UTC, "notes")
            .unwrap_or_else(|e| panic!("{e}")),
    )
}

fn webhook(url: &str, format: WebhookFormat, timeout: Duration) -> Box<dyn Channel> {
    Box::new(Webhook::new(url, format, "gaffer-test", "s3cret", timeout))
}

fn retry(tries: u32) -> RetryPolicy {
    RetryPolicy {
        tries,
        backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    }
}

#[test]
fn events_through_the_consumer_reach_a_json_webhook_once_each() {
    let rx = Receiver::start(vec![], Reply::Status(200));
    let (s, got) = sink();
    let out = Outbox::start(
        webhook(&rx.url, WebhookFormat::Json, Duration::from_secs(2)),
        retry(3),
        16,
        s,
    );
    let notifier = Notifier::start(engine(), vec![out], Arc::new(Wall));
    // An ERROR, the same ERROR again (a duplicate), and one of another agent.
    notifier.consume(&error_event("%1"), Origin::Coordinator);
    notifier.consume(&error_event("%1"), Origin::Coordinator);
    notifier.consume(&error_event("%2"), Origin::Coordinator);
    let reqs = rx.wait_for(2);
    std::thread::sleep(Duration::from_millis(600));
    let stats = notifier.stop(Duration::from_secs(2));
    let reqs_after = rx.requests();
    assert_eq!(
        reqs_after.len(),
        2,
        "one per episode, no duplicate: {reqs_after:#?}"
    );
    let mut agents = Vec::new();
    for r in &reqs {
        assert!(r.head.starts_with("POST /gaffer HTTP/1.1"), "{}", r.head);
        assert_eq!(r.header("authorization").as_deref(), Some("Bearer s3cret"));
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.contains("application/json"))
        );
        let body: serde_json::Value =
            serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body));
        assert_eq!(body["topic"], "gaffer-test");
        assert_eq!(body["kind"], "error");
        assert_eq!(body["priority"], 4);
        assert_eq!(body["tags"][0], "rotating_light");
        assert_eq!(body["event"]["type"], "agent_error");
        assert!(
            body["title"]
                .as_str()
                .is_some_and(|t| t.starts_with("gaffer [notes]: %"))
        );
        agents.push(body["agent_id"].as_str().unwrap_or("").to_string());
    }
    agents.sort();
    assert_eq!(agents, ["%1", "%2"]);
    assert_eq!(stats.engine.sent, 2);
    assert_eq!(stats.engine.duplicates, 1);
    assert_eq!(stats.channels[0].1.delivered, 2);
    assert!(events(&got).is_empty(), "nothing failed");
}

#[test]
fn the_ntfy_form_posts_a_plain_body_with_title_priority_and_tags_headers() {
    let rx = Receiver::start(vec![], Reply::Status(200));
    let mut hook = Webhook::new(&rx.url, WebhookFormat::Ntfy, "", "", Duration::from_secs(2));
    let mut n = note(1);
    n.title = "gaffer: %3 (cc) BLOCKED — ä".into();
    n.message = "line one\nline two".into();
    n.priority = 4;
    n.tags = vec!["warning".into(), "robot".into()];
    hook.send(&n).unwrap_or_else(|e| panic!("{e}"));
    let r = &rx.wait_for(1)[0];
    assert_eq!(r.body, "line one\nline two");
    assert_eq!(r.header("priority").as_deref(), Some("4"));
    assert_eq!(r.header("tags").as_deref(), Some("warning,robot"));
    assert!(r.header("authorization").is_none());
    let title = r.header("title").unwrap_or_default();
    assert!(
        title.starts_with("=?UTF-8?B?") && title.ends_with("?="),
        "{title}"
    );
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("text/plain"))
    );
}

#[test]
fn a_500_then_200_is_retried_with_back_off_and_delivered_once() {
    let rx = Receiver::start(
        vec![Reply::Status(500), Reply::Status(503)],
        Reply::Status(200),
    );
    let (s, got) = sink();
    let out = Outbox::start(
        webhook(&rx.url, WebhookFormat::Json, Duration::from_secs(2)),
        retry(4),
        16,
        s,
    );
    let started = Instant::now();
    assert!(out.offer(note(1)));
    assert!(out.flush(Duration::from_secs(10)));
    let waited = started.elapsed();
    let stats = out.stop(Duration::from_secs(1));
    assert_eq!(rx.requests().len(), 3, "500, 503, then 200");
    assert_eq!((stats.delivered, stats.failed, stats.tries), (1, 0, 3));
    // Back-off: 50 ms after the first failure, 100 ms after the second.
    assert!(waited >= Duration::from_millis(150), "{waited:?}");
    assert!(events(&got).is_empty(), "a retried success is no failure");
    // A 400 is not worth another try: one request, and the channel is reported down once.
    let rx = Receiver::start(vec![], Reply::Status(400));
    let (s, got) = sink();
    let out = Outbox::start(
        webhook(&rx.url, WebhookFormat::Json, Duration::from_secs(2)),
        retry(4),
        16,
        s,
    );
    out.offer(note(2));
    assert!(out.flush(Duration::from_secs(10)));
    assert_eq!(rx.requests().len(), 1);
    let ev = events(&got);
    assert_eq!(ev.len(), 1);
    assert!(
        ev[0].details["error"]
            .as_str()
            .is_some_and(|e| e.contains("answered 400"))
    );
    out.stop(Duration::from_secs(1));
}

#[test]
fn a_hanging_endpoint_blocks_neither_the_loop_nor_other_channels_and_is_reported_once() {
    let hang = Reply::Hang(Duration::from_secs(20));
    let rx = Receiver::start(vec![], hang);
    let (s, got) = sink();
    let dead = Outbox::start(
        webhook(&rx.url, WebhookFormat::Json, Duration::from_millis(300)),
        retry(2),
        4,
        Arc::clone(&s),
    );
    let healthy = Receiver::start(vec![], Reply::Status(200));
    let alive = Outbox::start(
        webhook(&healthy.url, WebhookFormat::Json, Duration::from_secs(2)),
        retry(2),
        64,
        s,
    );
    let notifier = Notifier::start(engine(), vec![dead, alive], Arc::new(Wall));
    // 40 agents go ERROR: the loop's consume calls return at once, whatever the endpoint does.
    let started = Instant::now();
    for i in 0..40 {
        notifier.consume(&error_event(&format!("%{i}")), Origin::Coordinator);
    }
    let consumed = started.elapsed();
    assert!(
        consumed < Duration::from_millis(300),
        "40 consume calls took {consumed:?}: longer than one request timeout"
    );
    // The healthy channel gets all 40 while the other hangs.
    assert_eq!(healthy.wait_for(40).len(), 40);
    // The dead one: its queue (4) overflowed; each try ended by the 300 ms timeout.
    let end = Instant::now() + Duration::from_secs(10);
    while events(&got).is_empty() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(1500));
    let ev = events(&got);
    assert_eq!(ev.len(), 1, "down is said once: {ev:#?}");
    assert_eq!(ev[0].event_type, T::NotifyFailed);
    assert_eq!(ev[0].details["channel"], "webhook");
    assert_eq!(ev[0].details["tries"], 2);
    // It answers again: the next notification goes out, and the recovery is said once.
    rx.answer_from_now(Reply::Status(200));
    let before = rx.requests().len();
    let stop_started = Instant::now();
    let stats = notifier.stop(Duration::from_secs(3));
    assert!(
        stop_started.elapsed() < Duration::from_secs(8),
        "stop is bounded"
    );
    let (_, dead_stats) = &stats.channels[0];
    let (_, alive_stats) = &stats.channels[1];
    assert_eq!(alive_stats.delivered, 40);
    assert!(
        dead_stats.dropped > 0,
        "the bounded queue dropped: {dead_stats:?}"
    );
    assert_eq!(
        dead_stats.delivered + dead_stats.failed + dead_stats.dropped,
        40,
        "every notification accounted for: {dead_stats:?}"
    );
    assert!(rx.requests().len() >= before);
    let rx2 = Receiver::start(vec![Reply::Status(500)], Reply::Status(200));
    let (s, got) = sink();
    let out = Outbox::start(
        webhook(&rx2.url, WebhookFormat::Json, Duration::from_secs(2)),
        retry(1),
        8,
        s,
    );
    out.offer(note(1));
    out.offer(note(2));
    out.offer(note(3));
    assert!(out.flush(Duration::from_secs(10)));
    let kinds: Vec<T> = events(&got).into_iter().map(|e| e.event_type).collect();
    assert_eq!(kinds, [T::NotifyFailed, T::NotifyRecovered]);
    assert_eq!(events(&got)[1].details["lost"], 1);
    out.stop(Duration::from_secs(1));
}

#[test]
fn the_command_channel_runs_a_real_script_with_json_on_stdin_and_env_vars() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let out = dir.path().join("out");
    let script = dir.path().join("notify.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncat > '{o}.json'\nprintf '%s|%s|%s|%s|%s' \"$GAFFER_NOTIFY_KIND\" \"$GAFFER_NOTIFY_TITLE\" \"$GAFFER_NOTIFY_PRIORITY\" \"$GAFFER_NOTIFY_AGENT\" \"$GAFFER_NOTIFY_EVENT\" > '{o}.env'\n",
            o = out.display()
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (s, got) = sink();
    let cmd = CommandChannel::new(
        &format!("sh '{}'", script.display()),
        Duration::from_secs(5),
    );
    let outbox = Outbox::start(Box::new(cmd), RetryPolicy::once(), 8, s);
    let notifier = Notifier::start(engine(), vec![outbox], Arc::new(Wall));
    notifier.consume(&error_event("%7"), Origin::Coordinator);
    let end = Instant::now() + Duration::from_secs(10);
    let env_file = dir.path().join("out.env");
    while !env_file.exists() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stats = notifier.stop(Duration::from_secs(2));
    let env = std::fs::read_to_string(&env_file).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(env, "error|gaffer [notes]: %7 (cc) ERROR|4|%7|agent_error");
    let json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("out.json")).unwrap_or_else(|e| panic!("{e}")),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(json["kind"], "error");
    assert_eq!(json["agent_id"], "%7");
    assert_eq!(json["event"]["details"]["new_status"], "ERROR");
    assert_eq!(stats.channels[0].1.delivered, 1);
    assert!(events(&got).is_empty());

    // A script that fails, and one that hangs: each bounded and reported once.
    let (s, got) = sink();
    let failing = Outbox::start(
        Box::new(CommandChannel::new(
            "echo nope >&2; exit 3",
            Duration::from_secs(5),
        )),
        RetryPolicy::once(),
        8,
        s,
    );
    failing.offer(note(1));
    failing.offer(note(2));
    assert!(failing.flush(Duration::from_secs(10)));
    let ev = events(&got);
    assert_eq!(ev.len(), 1);
    let err = ev[0].details["error"].as_str().unwrap_or("").to_string();
    assert!(
        err.contains("exit status: 3") && err.contains("nope"),
        "{err}"
    );
    failing.stop(Duration::from_secs(1));
    let (s, got) = sink();
    let hanging = Outbox::start(
        Box::new(CommandChannel::new("sleep 30", Duration::from_millis(300))),
        RetryPolicy::once(),
        8,
        s,
    );
    let started = Instant::now();
    hanging.offer(note(1));
    assert!(hanging.flush(Duration::from_secs(10)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "killed at its limit"
    );
    assert!(
        events(&got)[0].details["error"]
            .as_str()
            .is_some_and(|e| e.contains("was killed"))
    );
    hanging.stop(Duration::from_secs(1));
}

#[test]
fn desktop_uses_notify_send_and_a_missing_tool_is_one_warning() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let args = dir.path().join("args");
    let tool = dir.path().join("notify-send");
    std::fs::write(
        &tool,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n", args.display()),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&tool)
        .status()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut d = Desktop::with_tool(&tool.display().to_string());
    let mut n = note(1);
    n.priority = 4;
    n.message = "-starts with a dash".into();
    d.send(&n).unwrap_or_else(|e| panic!("{e}"));
    let got = std::fs::read_to_string(&args).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        got,
        "--app-name=gaffer\n--urgency=critical\n--\nnote 1\n-starts with a dash\n"
    );

    let (s, got) = sink();
    let missing = Outbox::start(
        Box::new(Desktop::with_tool("/nonexistent/notify-send")),
        RetryPolicy::once(),
        8,
        s,
    );
    for i in 0..5 {
        missing.offer(note(i));
    }
    assert!(missing.flush(Duration::from_secs(5)));
    let stats = missing.stop(Duration::from_secs(1));
    let ev = events(&got);
    assert_eq!(ev.len(), 1, "{ev:#?}");
    assert_eq!(ev[0].details["off"], true);
    assert!(
        ev[0].details["error"]
            .as_str()
            .is_some_and(|e| e.contains("not installed") && e.contains("libnotify"))
    );
    assert_eq!((stats.tries, stats.failed), (1, 5), "tried once, then off");
}

#[test]
fn agent_mail_reaches_the_human_in_the_embedded_mailbox() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let mb: Arc<dyn Mailbox> = Arc::new(
        gaffer_mail::EmbeddedMailbox::open(&dir.path().join("mail.db"))
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let project = dir.path().display().to_string();
    let mut ch = MailChannel::new(Arc::clone(&mb), &project, "GafferCoordinator", "Human");
    let mut n = note(1);
    n.title = "gaffer: %2 (cod) BLOCKED".into();
    n.priority = 4;
    ch.send(&n).unwrap_or_else(|e| panic!("{e}"));
    let (sender, human) = ch.granted().unwrap_or_else(|| panic!("registered"));
    let inbox = mb
        .fetch_inbox(&project, &human, &InboxQuery::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(inbox.len(), 1, "{inbox:#?}");
    assert_eq!(inbox[0].subject, "gaffer: %2 (cod) BLOCKED");
    assert_eq!(inbox[0].from, sender);
    assert!(
        inbox[0]
            .body_md
            .as_deref()
            .is_some_and(|b| b.contains("kind `test`"))
    );
}
