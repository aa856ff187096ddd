//! The desktop channel with the real thing: Debian's `notify-send` (libnotify-bin) talking to a
//! real notification daemon (dunst, on a virtual X display) over a private D-Bus session bus,
//! with `dbus-monitor` recording the `org.freedesktop.Notifications.Notify` calls.
//!
//! This file holds ONE test: it points `DBUS_SESSION_BUS_ADDRESS` of this test process at the
//! private bus before any notification thread starts, and no other test shares the process.

use gaffer_core::notify::Notification;
use gaffer_notify::desktop::Desktop;
use gaffer_notify::{Outbox, RetryPolicy, Sink};
use gaffer_testkit::desktop_bus::{NotificationBus, NotifyCall, installed_or_skip};
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn note(title: &str, message: &str, priority: u8) -> Notification {
    let mut n = Notification::test("notes", chrono::Utc::now());
    n.title = title.into();
    n.message = message.into();
    n.priority = priority;
    n
}

#[test]
fn desktop_notifications_reach_a_real_daemon_on_a_private_bus_with_summary_body_and_urgency() {
    if !installed_or_skip() {
        return;
    }
    let bus = NotificationBus::start().unwrap_or_else(|e| panic!("{e}"));
    // SAFETY: the only test of this binary, before any thread of it reads the environment.
    unsafe {
        std::env::set_var("DBUS_SESSION_BUS_ADDRESS", bus.address());
        std::env::remove_var("DISPLAY");
    }
    let failures = Arc::new(Mutex::new(Vec::new()));
    let f = Arc::clone(&failures);
    let sink: Sink = Arc::new(move |e| {
        if let Ok(mut v) = f.lock() {
            v.push(e);
        }
    });
    let out = Outbox::start(Box::new(Desktop::new()), RetryPolicy::once(), 8, sink);
    let blocked = note(
        "gaffer [notes]: %3 (cc) BLOCKED",
        "-%3 (cc) has waited for a human for 2m00s: a dialog is open in its pane.",
        4,
    );
    let digest = note("gaffer [notes]: digest", "3 beads done, 1 in review.", 2);
    let test = note(
        "gaffer [notes]: test notification",
        "gaffer can reach you.",
        3,
    );
    for n in [&blocked, &digest, &test] {
        assert!(out.offer(n.clone()));
    }
    assert!(out.flush(Duration::from_secs(20)));
    let stats = out.stop(Duration::from_secs(2));
    let failed = failures.lock().map(|v| v.clone()).unwrap_or_default();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!((stats.delivered, stats.failed), (3, 0));

    // On the bus: one Notify call each, in order, with the urgency hint of the priority.
    let calls = bus.wait_for_calls(3, Duration::from_secs(10));
    let want = |n: &Notification, urgency: u8| NotifyCall {
        app: "gaffer".into(),
        summary: n.title.clone(),
        body: n.message.clone(),
        urgency: Some(urgency),
    };
    assert_eq!(
        calls,
        [want(&blocked, 2), want(&digest, 0), want(&test, 1)],
        "critical, low, normal"
    );

    // And the daemon took them: dunst's own record of what it showed.
    let mut shown = bus.shown().unwrap_or_else(|e| panic!("{e}"));
    shown.sort_by(|a, b| a.summary.cmp(&b.summary));
    let seen: Vec<(&str, &str, &str, &str)> = shown
        .iter()
        .map(|s| {
            (
                s.app.as_str(),
                s.summary.as_str(),
                s.body.as_str(),
                s.urgency.as_str(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "gaffer",
                blocked.title.as_str(),
                blocked.message.as_str(),
                "CRITICAL"
            ),
            (
                "gaffer",
                digest.title.as_str(),
                digest.message.as_str(),
                "LOW"
            ),
            (
                "gaffer",
                test.title.as_str(),
                test.message.as_str(),
                "NORMAL"
            ),
        ]
    );
}
