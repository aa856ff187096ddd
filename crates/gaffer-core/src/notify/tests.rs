//! The rule engine on a scripted run with a simulated clock.

use super::*;
use crate::agent::AgentState;
use crate::event::{CoordinatorEvent, CoordinatorEventType as T};
use crate::status::AgentStatus::{self, *};
use crate::time::{Timestamp, format_rfc3339, parse_rfc3339};
use crate::transitions::state_change_event;
use chrono::TimeDelta;

fn t0() -> Timestamp {
    parse_rfc3339("2026-12-07T12:00:00Z").unwrap_or_default()
}

fn at(s: i64) -> Timestamp {
    t0() + TimeDelta::seconds(s)
}

fn rules() -> Rules {
    let cfg = NotifyConfig {
        on: RuleKind::ALL.to_vec(),
        blocked_after: std::time::Duration::from_secs(30),
        recovery: std::time::Duration::from_secs(30),
        repeat_interval: std::time::Duration::from_secs(300),
        context_above: 90.0,
        ..NotifyConfig::default()
    };
    Rules::from_config(&cfg, chrono_tz::Tz::UTC, "notes").unwrap_or_else(|e| panic!("{e}"))
}

/// A state change as the observation merge reports it.
fn status(s: i64, pane: &str, kind: &str, prev: AgentStatus, new: AgentStatus) -> CoordinatorEvent {
    let mut a = AgentState::new(pane, 0, kind, at(s));
    a.status = new;
    a.context_usage = 40.0;
    state_change_event(prev, &a, at(s)).unwrap_or_else(|| panic!("no event {prev:?}→{new:?}"))
}

fn detail(e: CoordinatorEvent, k: &str, v: impl Into<serde_json::Value>) -> CoordinatorEvent {
    e.with_detail(k, v)
}

/// Runs a script: each second, its events in order, then a tick. Returns (second, notification).
fn run(
    engine: &mut Engine,
    script: &[(i64, CoordinatorEvent)],
    end: i64,
) -> Vec<(i64, Notification)> {
    let mut out = Vec::new();
    for s in 0..=end {
        for (_, e) in script.iter().filter(|(when, _)| *when == s) {
            out.extend(engine.on_event(e, at(s)).into_iter().map(|n| (s, n)));
        }
        out.extend(engine.tick(at(s)).into_iter().map(|n| (s, n)));
    }
    out
}

fn flapping_script() -> Vec<(i64, CoordinatorEvent)> {
    let mut sc: Vec<(i64, CoordinatorEvent)> = Vec::new();
    // %1 flaps BLOCKED↔GENERATING every 3 s for two minutes: one episode.
    let mut prev = Generating;
    for s in (0..120).step_by(3) {
        let new = if (s / 3) % 2 == 0 {
            Blocked
        } else {
            Generating
        };
        sc.push((s, status(s, "%1", "cc", prev, new)));
        prev = new;
    }
    assert_eq!(prev, Generating, "the flapping ends GENERATING at 117 s");
    // A real recovery, then a new episode of 60 s: notified again.
    sc.push((400, status(400, "%1", "cc", Generating, Blocked)));
    sc.push((460, status(460, "%1", "cc", Blocked, Waiting)));
    // A short block (10 s) notifies nothing.
    sc.push((500, status(500, "%1", "cc", Waiting, Blocked)));
    sc.push((510, status(510, "%1", "cc", Blocked, Waiting)));
    // %2 flaps ERROR↔GENERATING every 2 s for 50 s: one episode.
    let mut prev = Waiting;
    for s in (10..60).step_by(2) {
        let new = if ((s - 10) / 2) % 2 == 0 {
            Error
        } else {
            Generating
        };
        sc.push((s, status(s, "%2", "cod", prev, new)));
        prev = new;
    }
    sc.push((60, status(60, "%2", "cod", prev, Waiting)));
    // Two more real ERROR episodes within the repeat interval: one notification at its end,
    // the first folded into the second.
    sc.push((200, status(200, "%2", "cod", Waiting, Error)));
    sc.push((205, status(205, "%2", "cod", Error, Waiting)));
    sc.push((250, status(250, "%2", "cod", Waiting, Error)));
    sc.push((255, status(255, "%2", "cod", Error, Waiting)));
    // %3 hits a rate limit with a known reset; the same state reported again is a duplicate.
    let reset = format_rfc3339(&at(1800));
    sc.push((
        20,
        detail(
            status(20, "%3", "gmi", Generating, RateLimited),
            "reset_at",
            reset.clone(),
        ),
    ));
    sc.push((
        25,
        detail(
            status(25, "%3", "gmi", Unknown, RateLimited),
            "reset_at",
            reset,
        ),
    ));
    // %4's context goes above 90%; a later state change still above it changes nothing.
    sc.push((
        40,
        CoordinatorEvent::new(T::AgentContextHigh, at(40))
            .with_agent("%4")
            .with_detail("agent_type", "cc")
            .with_detail("context_usage", 92.5),
    ));
    sc.push((
        50,
        detail(
            status(50, "%4", "cc", Generating, Waiting),
            "context_usage",
            95.0,
        ),
    ));
    // Conflict c1: detected, detected again, resolved, back within the recovery: one episode.
    let conflict = |s: i64, kind: T, id: &str, pattern: &str| {
        CoordinatorEvent::new(kind, at(s))
            .with_detail("conflict_id", id)
            .with_detail("pattern", pattern)
            .with_detail("holders", vec!["BlueLake", "RedFox"])
    };
    sc.push((70, conflict(70, T::ConflictDetected, "c1", "src/**")));
    sc.push((75, conflict(75, T::ConflictDetected, "c1", "src/**")));
    sc.push((80, conflict(80, T::ConflictResolved, "c1", "src/**")));
    sc.push((90, conflict(90, T::ConflictDetected, "c1", "src/**")));
    // Another conflict soon after: it waits for the conflict kind's repeat interval.
    sc.push((100, conflict(100, T::ConflictDetected, "c2", "docs/*.md")));
    // %5 exits, is restarted, exits again within the recovery (one episode), then crash-loops.
    sc.push((130, status(130, "%5", "cc", Waiting, Exited)));
    sc.push((140, status(140, "%5", "cc", Exited, Waiting)));
    sc.push((150, status(150, "%5", "cc", Waiting, Exited)));
    sc.push((
        160,
        CoordinatorEvent::new(T::AgentCrashLoop, at(160))
            .with_agent("%5")
            .with_detail("reason", "6 restarts in 10m"),
    ));
    // Digests, one per repeat interval.
    for s in [300, 600] {
        sc.push((
            s,
            CoordinatorEvent::new(T::DigestSent, at(s))
                .with_detail("agent_count", 5)
                .with_detail("active_count", 2)
                .with_detail("alert_count", 1),
        ));
    }
    sc
}

#[test]
fn a_scripted_run_with_flapping_notifies_each_episode_once_and_misses_none() {
    let mut engine = Engine::new(rules());
    let got = run(&mut engine, &flapping_script(), 700);
    let summary: Vec<(i64, &str, &str, &str, u32)> = got
        .iter()
        .map(|(s, n)| {
            (
                *s,
                n.kind.as_str(),
                n.agent_id.as_str(),
                n.subject.as_str(),
                n.folded,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (10, "error", "%2", "%2", 0),
            (20, "rate_limited", "%3", "%3", 0),
            (30, "blocked", "%1", "%1", 0),
            (40, "context", "%4", "%4", 0),
            (70, "conflict", "", "c1", 0),
            (130, "exited", "%5", "%5", 0),
            (300, "digest", "", "", 0),
            // %2's two later ERROR episodes: held to the end of the interval, folded into one.
            (310, "error", "%2", "%2", 1),
            (370, "conflict", "", "c2", 0),
            // %1's new episode after a real recovery, 30 s old.
            (430, "blocked", "%1", "%1", 0),
            // %5's crash loop, held for its interval.
            (430, "exited", "%5", "%5", 0),
            (600, "digest", "", "", 0),
        ],
        "{got:#?}"
    );
    let st = engine.stats();
    // Episodes: %1 ×3 (flapping, recovered, short), %2 ×3, %3, %4, c1, c2, %5.
    assert_eq!(st.episodes, 11, "{st:?}");
    assert!(st.flaps >= 30, "the flaps stayed in their episodes: {st:?}");
    assert_eq!(st.sent, 12);
    assert_eq!(st.folded, 1);

    let by = |s: i64, kind: &str| {
        got.iter()
            .find(|(w, n)| *w == s && n.kind == kind)
            .map(|(_, n)| n.clone())
            .unwrap_or_else(|| panic!("no {kind} at {s}"))
    };
    let rl = by(20, "rate_limited");
    assert!(
        rl.message.contains("resets at 12:30 UTC (in 29m40s)"),
        "{}",
        rl.message
    );
    assert_eq!(rl.title, "gaffer [notes]: %3 (gmi) RATE_LIMITED");
    let blocked = by(30, "blocked");
    assert!(blocked.message.contains("for 30s"), "{}", blocked.message);
    assert!(
        blocked.message.contains("in and out 6 times"),
        "{}",
        blocked.message
    );
    assert_eq!(
        (blocked.priority, blocked.tags.clone()),
        (4, vec!["warning".to_string()])
    );
    let folded = by(310, "error");
    assert!(
        folded.message.contains("1 earlier like it since 12:03 UTC"),
        "{}",
        folded.message
    );
    assert!(by(40, "context").message.contains("92%"));
    assert!(
        by(70, "conflict")
            .message
            .contains("src/**: BlueLake, RedFox")
    );
    assert!(by(430, "exited").message.contains("restarting it stopped"));
    assert!(
        by(300, "digest")
            .message
            .contains("5 agents, 2 active, 1 alerts")
    );
}

#[test]
fn blocked_shorter_than_the_threshold_never_notifies_and_kinds_not_chosen_are_silent() {
    let mut cfg = NotifyConfig {
        on: vec![RuleKind::Blocked],
        blocked_after: std::time::Duration::from_secs(60),
        ..NotifyConfig::default()
    };
    cfg.recovery = std::time::Duration::from_secs(5);
    let r = Rules::from_config(&cfg, chrono_tz::Tz::UTC, "").unwrap_or_else(|e| panic!("{e}"));
    let mut engine = Engine::new(r);
    // BLOCKED for 50 s, out for 10 s (a real recovery with a 5 s window), BLOCKED for 50 s.
    let sc = vec![
        (0, status(0, "%1", "cc", Generating, Blocked)),
        (50, status(50, "%1", "cc", Blocked, Generating)),
        (60, status(60, "%1", "cc", Generating, Blocked)),
        (110, status(110, "%1", "cc", Blocked, Waiting)),
        (120, status(120, "%2", "cc", Waiting, Error)),
    ];
    assert!(run(&mut engine, &sc, 300).is_empty());
    // Without the recovery the second block continues the first episode: 60 s reached.
    let mut engine = Engine::new(Rules {
        recovery: TimeDelta::seconds(30),
        ..engine.rules().clone()
    });
    let got = run(&mut engine, &sc, 300);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, 60);
    assert_eq!(got[0].1.title, "gaffer: %1 (cc) BLOCKED");
}

#[test]
fn quiet_hours_hold_notifications_for_one_summary_across_midnight() {
    let cfg = NotifyConfig {
        quiet_hours: "22:00-07:00".into(),
        ..NotifyConfig::default()
    };
    let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap_or(chrono_tz::Tz::UTC);
    let r = Rules::from_config(&cfg, berlin, "").unwrap_or_else(|e| panic!("{e}"));
    let mut engine = Engine::new(r);
    let utc = |s: &str| parse_rfc3339(s).unwrap_or_default();
    let ev = |when: &str, pane: &str, new: AgentStatus| {
        let mut a = AgentState::new(pane, 0, "cc", utc(when));
        a.status = new;
        state_change_event(Generating, &a, utc(when)).unwrap_or_else(|| panic!("no event"))
    };
    // 20:30 UTC is 21:30 in Berlin (CET): not quiet.
    let loud = engine.on_event(
        &ev("2026-12-07T20:30:00Z", "%1", Error),
        utc("2026-12-07T20:30:00Z"),
    );
    assert_eq!(loud.len(), 1);
    // 22:30 and 03:00 Berlin: held.
    assert!(
        engine
            .on_event(
                &ev("2026-12-07T21:30:00Z", "%2", Exited),
                utc("2026-12-07T21:30:00Z")
            )
            .is_empty()
    );
    assert!(
        engine
            .on_event(
                &ev("2026-12-08T02:00:00Z", "%3", Error),
                utc("2026-12-08T02:00:00Z")
            )
            .is_empty()
    );
    assert!(
        engine.tick(utc("2026-12-08T05:59:00Z")).is_empty(),
        "06:59 Berlin is still quiet"
    );
    let summary = engine.tick(utc("2026-12-08T06:00:00Z"));
    assert_eq!(summary.len(), 1, "{summary:#?}");
    let s = &summary[0];
    assert_eq!(s.kind, "quiet_summary");
    assert_eq!(
        s.title,
        "gaffer: 2 notifications during quiet hours (22:00-07:00)"
    );
    assert!(
        s.message.contains("22:30 CET gaffer: %2 (cc) EXITED"),
        "{}",
        s.message
    );
    assert!(
        s.message.contains("03:00 CET gaffer: %3 (cc) ERROR"),
        "{}",
        s.message
    );
    assert_eq!(s.priority, 4);
    assert!(
        engine.tick(utc("2026-12-08T06:01:00Z")).is_empty(),
        "said once"
    );
    assert_eq!(engine.stats().quiet_held, 2);
}

#[test]
fn the_config_section_is_checked_with_file_line_and_key() {
    use crate::config::parse_layer;
    let good = "[notify]\non = [\"blocked\", \"digest\"]\nquiet_hours = \"23:00-06:30\"\nwebhook_url = \"http://127.0.0.1:8080/gaffer\"\nwebhook_format = \"ntfy\"\n";
    let (layer, warnings) = parse_layer("c.toml", good).unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let cfg = crate::config::merge_layers(&[layer]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.notify.on, [RuleKind::Blocked, RuleKind::Digest]);
    assert_eq!(cfg.notify.webhook_format, WebhookFormat::Ntfy);
    assert!(cfg.notify.any_channel());
    for (text, key, needle) in [
        (
            "[notify]\non = [\"blocked\", \"lunch\"]\n",
            "notify.on",
            "unknown variant",
        ),
        (
            "[notify]\nquiet_hours = \"22-07\"\n",
            "notify.quiet_hours",
            "like \"22:00-07:00\"",
        ),
        (
            "[notify]\nwebhook_url = \"ftp://ntfy.sh/x\"\n",
            "notify.webhook_url",
            "http:// or https://",
        ),
        (
            "[notify]\ncontext_above = 120\n",
            "notify.context_above",
            "0 to 100",
        ),
        (
            "[notify]\nblocked_after = 30\n",
            "notify.blocked_after",
            "unit",
        ),
        (
            "[notify]\ntimezone = \"Mars/Olympus\"\n",
            "notify.timezone",
            "tz database",
        ),
    ] {
        let err = parse_layer("c.toml", text)
            .err()
            .unwrap_or_else(|| panic!("accepted {text}"));
        assert_eq!(err.key.as_deref(), Some(key), "{err}");
        assert_eq!(err.line, Some(2), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
    let (_, warnings) =
        parse_layer("c.toml", "[notify]\nwebhok_url = \"\"\n").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        warnings[0]
            .to_string()
            .contains("did you mean `notify.webhook_url`"),
        "{warnings:?}"
    );
    let layer = crate::config::override_layer("--set", "notify.on", "blocked, error")
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = crate::config::merge_layers(&[layer]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.notify.on, [RuleKind::Blocked, RuleKind::Error]);
    // https, with a private CA's file.
    let tls =
        "[notify]\nwebhook_url = \"https://ntfy.example/gaffer\"\nwebhook_ca_file = \"~/ca.pem\"\n";
    let (layer, warnings) = parse_layer("c.toml", tls).unwrap_or_else(|e| panic!("{e}"));
    assert!(warnings.is_empty(), "{warnings:?}");
    let cfg = crate::config::merge_layers(&[layer]).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(cfg.notify.webhook_url, "https://ntfy.example/gaffer");
    assert_eq!(cfg.notify.webhook_ca_file, "~/ca.pem");
}

#[test]
fn agents_found_in_a_state_at_start_or_appearing_later_notify_and_newer_events_win() {
    let mut engine = Engine::new(rules());
    // Found BLOCKED and in ERROR at start (seeded), and an agent that appears later, EXITED.
    let blocked = status(0, "%1", "cc", Unknown, Blocked);
    let error = status(0, "%2", "cod", Unknown, Error);
    // %3 left ERROR before its stale seed arrived: the seed is ignored.
    let fresh = status(0, "%3", "gmi", Error, Waiting);
    let stale = status(0, "%3", "gmi", Unknown, Error);
    let appeared = CoordinatorEvent::new(T::AgentAppeared, at(5))
        .with_agent("%4")
        .with_detail("agent_type", "cc")
        .with_detail("status", "EXITED");
    let mut got = Vec::new();
    got.extend(engine.on_event(&fresh, at(0)));
    for e in [&blocked, &error, &stale] {
        got.extend(engine.seed(e, at(0)));
    }
    got.extend(engine.on_event(&appeared, at(5)));
    for s in 0..=40 {
        got.extend(engine.tick(at(s)));
    }
    let kinds: Vec<(&str, &str)> = got
        .iter()
        .map(|n| (n.kind.as_str(), n.agent_id.as_str()))
        .collect();
    assert_eq!(
        kinds,
        [("error", "%2"), ("exited", "%4"), ("blocked", "%1")],
        "{got:#?}"
    );
}

#[test]
fn folded_notifications_count_every_one_since_the_first_held() {
    let mut engine = Engine::new(rules());
    let mut got = Vec::new();
    // ERROR episodes of %1 at 0, 100, 150, 200 s (each ended by a recovery): the first goes out,
    // the other three wait for the 300 s interval and come as one.
    for (s, new) in [
        (0, Error),
        (10, Waiting),
        (100, Error),
        (110, Waiting),
        (150, Error),
        (160, Waiting),
        (200, Error),
        (210, Waiting),
    ] {
        let prev = if new == Error { Waiting } else { Error };
        got.extend(engine.on_event(&status(s, "%1", "cc", prev, new), at(s)));
        got.extend(engine.tick(at(s)));
    }
    for s in 211..=400 {
        got.extend(engine.tick(at(s)));
    }
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[1].folded, 2);
    assert!(
        got[1]
            .message
            .ends_with("(2 earlier like it since 12:01 UTC)."),
        "{}",
        got[1].message
    );
    assert_eq!(engine.stats().delayed, 3);
}
