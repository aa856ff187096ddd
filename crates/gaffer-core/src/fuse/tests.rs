//! Every disagreement rule of the module, with plain values. Time is seconds after `T0`.

use super::*;
use crate::signals::{ContextReading, SessionFileStatus};
use chrono::TimeZone;

fn t(secs: f64) -> Timestamp {
    chrono::Utc
        .timestamp_opt(1_800_000_000, 0)
        .single()
        .unwrap_or_default()
        + chrono::Duration::milliseconds((secs * 1000.0) as i64)
}

fn screen(status: AgentStatus, rule: &str, now: f64) -> Verdict {
    Verdict {
        status,
        reason: format!("screen says {status}"),
        rule: rule.into(),
        evidence: vec![format!("{rule} line")],
        confidence: 0.9,
        context_usage: Some(12.0),
        rate_limit_reset: None,
        observed_at: t(now),
        fusion: None,
    }
}

fn sig(event: HookEvent, at: f64, seq: i64) -> Signal {
    Signal {
        seq,
        pane_id: "%1".into(),
        socket: None,
        agent: "cc".into(),
        event,
        raw_event: match event {
            HookEvent::Stop => "Stop".into(),
            HookEvent::TurnStart => "UserPromptSubmit".into(),
            HookEvent::PermissionRequest => "PermissionRequest".into(),
            HookEvent::ModelRequest => "BeforeModel".into(),
            _ => event.as_str().into(),
        },
        at: t(at),
        session_id: None,
        transcript_path: None,
        detail: None,
    }
}

fn signals(list: &[(HookEvent, f64)]) -> PaneSignals {
    let mut p = PaneSignals::default();
    for (i, (e, at)) in list.iter().enumerate() {
        p.last.insert(*e, sig(*e, *at, i as i64 + 1));
    }
    p
}

/// Fuses at `now` with the screen last changed at `changed`.
fn run(v: &Verdict, p: Option<&PaneSignals>, changed: f64, now: f64) -> Fused {
    fuse(v, p, t(changed), t(now), &FuseConfig::default())
}

#[test]
fn without_signals_the_screen_decides_unchanged() {
    for status in AgentStatus::ALL {
        let v = screen(status, "x.rule", 100.0);
        for p in [None, Some(&PaneSignals::default())] {
            let f = run(&v, p, 50.0, 100.0);
            assert_eq!(f.status, status);
            assert_eq!(f.fusion.decided_by, Source::Screen);
            assert_eq!(f.fusion.rule, "screen only");
            assert!(!f.fusion.is_exact());
            let out = f.apply(v.clone());
            assert_eq!(out.status, v.status);
            assert_eq!(out.rule, v.rule);
            assert_eq!(out.reason, v.reason);
            assert_eq!(out.evidence, v.evidence);
            assert_eq!(out.confidence, v.confidence);
            let want_ctx = if status == AgentStatus::Exited {
                None
            } else {
                Some(12.0)
            };
            assert_eq!(out.context_usage, want_ctx, "{status}");
        }
    }
}

#[test]
fn a_fresh_stop_is_waiting_and_the_screen_agrees() {
    let v = screen(AgentStatus::Waiting, "cc.idle.prompt", 10.0);
    let p = signals(&[(HookEvent::TurnStart, 1.0), (HookEvent::Stop, 8.0)]);
    let f = run(&v, Some(&p), 8.2, 10.0);
    assert_eq!(f.status, AgentStatus::Waiting);
    assert_eq!(f.fusion.decided_by, Source::Hook);
    assert_eq!(f.fusion.rule, "agree");
    assert!(f.fusion.is_exact());
    assert_eq!(f.fusion.sources[0].source, Source::Hook);
    assert_eq!(f.fusion.sources[0].what, "stop (Stop)");
    assert!((f.fusion.sources[0].age - 2.0).abs() < 1e-9);
    assert_eq!(
        f.fusion.summary(v.status),
        "hook stop (Stop) 2 s ago; screen agrees (WAITING (cc.idle.prompt))"
    );
}

#[test]
fn each_lifecycle_event_gives_its_state_when_the_screen_is_unknown() {
    let cases = [
        (HookEvent::TurnStart, AgentStatus::Generating),
        (HookEvent::ToolStart, AgentStatus::Generating),
        (HookEvent::ToolEnd, AgentStatus::Generating),
        (HookEvent::Compact, AgentStatus::Generating),
        (HookEvent::PermissionRequest, AgentStatus::Blocked),
        (HookEvent::Stop, AgentStatus::Waiting),
        (HookEvent::IdlePrompt, AgentStatus::Waiting),
        (HookEvent::SessionStart, AgentStatus::Waiting),
        (HookEvent::SessionEnd, AgentStatus::Exited),
    ];
    for (event, want) in cases {
        let v = screen(AgentStatus::Unknown, "", 10.0);
        let p = signals(&[(event, 9.0)]);
        let f = run(&v, Some(&p), 9.5, 10.0);
        assert_eq!(f.status, want, "{event:?}");
        assert_eq!(f.fusion.decided_by, Source::Hook, "{event:?}");
    }
    // a plain notification decides nothing
    let v = screen(AgentStatus::Unknown, "", 10.0);
    let p = signals(&[(HookEvent::Notification, 9.0)]);
    let f = run(&v, Some(&p), 9.5, 10.0);
    assert_eq!(f.status, AgentStatus::Unknown);
    assert_eq!(f.fusion.decided_by, Source::Screen);
    assert_eq!(f.fusion.rule, "no fresh signal");
}

#[test]
fn r0_a_shell_in_the_pane_always_wins() {
    for event in [
        HookEvent::TurnStart,
        HookEvent::PermissionRequest,
        HookEvent::Stop,
    ] {
        let v = screen(AgentStatus::Exited, "shell.exited", 10.0);
        let p = signals(&[(event, 9.9)]);
        let f = run(&v, Some(&p), 1.0, 10.0);
        assert_eq!(f.status, AgentStatus::Exited);
        assert_eq!(f.fusion.decided_by, Source::Screen);
        assert_eq!(f.fusion.rule, "R0");
        assert_eq!(f.context_usage, None, "an exited agent has no live context");
    }
}

#[test]
fn r1_a_screen_retry_during_a_hook_busy_turn_wins() {
    for status in [AgentStatus::RateLimited, AgentStatus::Error] {
        let v = screen(status, "cod.error.reconnecting", 30.0);
        let p = signals(&[(HookEvent::TurnStart, 1.0)]);
        let f = run(&v, Some(&p), 29.0, 30.0);
        assert_eq!(f.status, status);
        assert_eq!(f.fusion.decided_by, Source::Screen);
        assert_eq!(f.fusion.rule, "R1");
        assert_eq!(f.fusion.sources[0].source, Source::Screen);
        assert!(
            f.fusion.sources.iter().any(|n| n.source == Source::Hook),
            "the hook is still named"
        );
        let out = f.apply(v.clone());
        assert_eq!(
            out.rule, "cod.error.reconnecting",
            "the screen's rule stays"
        );
    }
}

#[test]
fn r2_an_unreported_dialog_during_a_busy_turn_wins() {
    let v = screen(AgentStatus::Blocked, "cc.blocked.trust", 30.0);
    let p = signals(&[(HookEvent::ToolStart, 20.0)]);
    let f = run(&v, Some(&p), 29.0, 30.0);
    assert_eq!(f.status, AgentStatus::Blocked);
    assert_eq!(f.fusion.rule, "R2");
}

#[test]
fn r3_a_hook_busy_turn_with_no_spinner_reads_busy() {
    // Codex streams text with no spinner: the screen says WAITING while the text changes.
    let v = screen(AgentStatus::Waiting, "cod.idle.prompt", 30.0);
    let p = signals(&[(HookEvent::TurnStart, 10.0)]);
    let f = run(&v, Some(&p), 29.5, 30.0);
    assert_eq!(f.status, AgentStatus::Generating);
    assert_eq!(f.fusion.decided_by, Source::Hook);
    assert_eq!(f.fusion.rule, "R3");
    let out = f.apply(v);
    assert_eq!(out.rule, "fuse.hook.R3");
    assert_eq!(out.confidence, 1.0);
    assert_eq!(out.evidence, vec!["hook turn_start (UserPromptSubmit)"]);
    // a screen that has been quiet only since just before the turn began is no evidence yet
    let v = screen(AgentStatus::Waiting, "cod.idle.prompt", 12.0);
    let f = run(&v, Some(&p), 0.0, 12.0);
    assert_eq!(f.status, AgentStatus::Generating);
}

#[test]
fn r3_a_busy_screen_keeps_its_flavour() {
    let v = screen(AgentStatus::Thinking, "gmi.busy.thinking", 30.0);
    let p = signals(&[(HookEvent::TurnStart, 10.0)]);
    let f = run(&v, Some(&p), 29.5, 30.0);
    assert_eq!(f.status, AgentStatus::Thinking);
    assert_eq!(f.fusion.rule, "agree");
    assert_eq!(f.fusion.decided_by, Source::Hook);
}

#[test]
fn r4_a_quiet_prompt_ends_a_turn_whose_stop_was_lost() {
    let v = screen(AgentStatus::Waiting, "cc.idle.prompt", 100.0);
    let p = signals(&[(HookEvent::TurnStart, 10.0)]);
    // quiet for 19 s: still the hook's turn
    let f = run(&v, Some(&p), 81.0, 100.0);
    assert_eq!(f.status, AgentStatus::Generating);
    // quiet for 21 s: the screen
    let f = run(&v, Some(&p), 79.0, 100.0);
    assert_eq!(f.status, AgentStatus::Waiting);
    assert_eq!(f.fusion.decided_by, Source::Screen);
    assert_eq!(f.fusion.rule, "R4");
    assert!(f.reason.contains("quiet for 21 s"), "{}", f.reason);
    // an UNKNOWN screen is no evidence against the hook
    let u = screen(AgentStatus::Unknown, "", 100.0);
    assert_eq!(
        run(&u, Some(&p), 10.0, 100.0).status,
        AgentStatus::Generating
    );
}

#[test]
fn r5_a_dialog_after_the_stop_wins_over_it() {
    let v = screen(AgentStatus::Blocked, "cc.blocked.permission", 30.0);
    let p = signals(&[(HookEvent::TurnStart, 1.0), (HookEvent::Stop, 20.0)]);
    let f = run(&v, Some(&p), 21.0, 30.0);
    assert_eq!(f.status, AgentStatus::Blocked);
    assert_eq!(f.fusion.decided_by, Source::Screen);
    assert_eq!(f.fusion.rule, "R5");
    assert!(f.fusion.summary(v.status).starts_with("screen BLOCKED"));
    // an error shown after the stop wins too
    let e = screen(AgentStatus::Error, "cc.error.api", 30.0);
    assert_eq!(run(&e, Some(&p), 20.0, 30.0).status, AgentStatus::Error);
    // a dialog on a screen that has not changed since before the stop: the stop is newer
    let f = run(&v, Some(&p), 15.0, 30.0);
    assert_eq!(f.status, AgentStatus::Waiting);
    assert_eq!(f.fusion.decided_by, Source::Hook);
}

#[test]
fn r6_a_stop_older_than_a_later_screen_change_is_superseded() {
    let v = screen(AgentStatus::Generating, "cc.busy.spinner", 30.0);
    let p = signals(&[(HookEvent::TurnStart, 1.0), (HookEvent::Stop, 20.0)]);
    // the screen lags by a redraw: the stop stands
    let f = run(&v, Some(&p), 21.0, 21.5);
    assert_eq!(f.status, AgentStatus::Waiting);
    assert_eq!(f.fusion.rule, "stale screen");
    // a busy screen that changed well after the stop: a turn no hook reported
    let f = run(&v, Some(&p), 25.0, 30.0);
    assert_eq!(f.status, AgentStatus::Generating);
    assert_eq!(f.fusion.decided_by, Source::Screen);
    assert_eq!(f.fusion.rule, "R6");
}

#[test]
fn r7_a_permission_request_holds_until_the_screen_moves_on() {
    let p = signals(&[
        (HookEvent::ToolStart, 5.0),
        (HookEvent::PermissionRequest, 10.0),
    ]);
    // the dialog has not been drawn yet
    let v = screen(AgentStatus::Generating, "cc.busy.spinner", 10.5);
    let f = run(&v, Some(&p), 9.0, 10.5);
    assert_eq!(f.status, AgentStatus::Blocked);
    assert_eq!(f.fusion.decided_by, Source::Hook);
    // the dialog is drawn: agreement
    let v = screen(AgentStatus::Blocked, "cc.blocked.permission", 12.0);
    assert_eq!(run(&v, Some(&p), 10.3, 12.0).fusion.rule, "agree");
    // the human answered; the tool runs and the screen changed since
    let v = screen(AgentStatus::Generating, "cc.busy.spinner", 60.0);
    let f = run(&v, Some(&p), 59.0, 60.0);
    assert_eq!(f.status, AgentStatus::Generating);
    assert_eq!(f.fusion.rule, "R7");
    assert_eq!(f.fusion.decided_by, Source::Screen);
}

#[test]
fn r8_a_session_end_holds_until_the_screen_moves_on() {
    let p = signals(&[(HookEvent::SessionEnd, 10.0)]);
    let v = screen(AgentStatus::Waiting, "cc.idle.prompt", 11.0);
    assert_eq!(run(&v, Some(&p), 9.0, 11.0).status, AgentStatus::Exited);
    let f = run(&v, Some(&p), 20.0, 21.0);
    assert_eq!(f.status, AgentStatus::Waiting);
    assert_eq!(f.fusion.rule, "R8");
    // a new session's start is newer than the end
    let p = signals(&[
        (HookEvent::SessionEnd, 10.0),
        (HookEvent::SessionStart, 10.1),
    ]);
    assert_eq!(run(&v, Some(&p), 9.0, 11.0).status, AgentStatus::Waiting);
}

#[test]
fn r9_a_model_request_sent_again_without_a_response_is_a_retry() {
    // Gemini: BeforeAgent, BeforeModel (fails, 429), … BeforeModel again 5 s later.
    let v = screen(AgentStatus::Generating, "gmi.busy.spinner", 20.0);
    let mut p = signals(&[(HookEvent::TurnStart, 1.0), (HookEvent::ModelRequest, 11.0)]);
    let f = run(&v, Some(&p), 19.9, 20.0);
    assert_eq!(f.status, AgentStatus::Error);
    assert_eq!(f.fusion.decided_by, Source::Hook);
    assert_eq!(f.fusion.rule, "R9");
    assert!(f.reason.starts_with("retrying"), "{}", f.reason);
    assert_eq!(
        f.evidence,
        vec![
            "hook model_request (BeforeModel) re-sent 10 s after turn_start with no model \
             response between"
        ]
    );
    // the screen's own rate-limit reading is more specific
    let rl = screen(AgentStatus::RateLimited, "gmi.ratelimit", 20.0);
    assert_eq!(
        run(&rl, Some(&p), 19.9, 20.0).status,
        AgentStatus::RateLimited
    );
    // a response arrives: busy again
    p.last.insert(
        HookEvent::ModelResponse,
        sig(HookEvent::ModelResponse, 12.0, 9),
    );
    assert_eq!(
        run(&v, Some(&p), 19.9, 20.0).status,
        AgentStatus::Generating
    );
    // an ordinary request right after a tool is no retry
    let p = signals(&[
        (HookEvent::TurnStart, 1.0),
        (HookEvent::ModelRequest, 1.1),
        (HookEvent::ModelResponse, 3.0),
        (HookEvent::ToolEnd, 9.0),
        (HookEvent::ModelRequest, 9.2),
    ]);
    assert_eq!(
        run(&v, Some(&p), 19.9, 20.0).status,
        AgentStatus::Generating
    );
}

#[test]
fn stale_signals_age_out_by_kind() {
    let v = screen(AgentStatus::Generating, "cc.busy.spinner", 4000.0);
    // a Stop 3000 s old is past the default 30 min: the screen decides
    let p = signals(&[(HookEvent::Stop, 1000.0)]);
    let f = run(&v, Some(&p), 3999.0, 4000.0);
    assert_eq!(f.status, AgentStatus::Generating);
    assert_eq!(f.fusion.decided_by, Source::Screen);
    assert_eq!(f.fusion.rule, "no fresh signal");
    assert!(
        f.fusion
            .sources
            .iter()
            .any(|n| n.stale && n.source == Source::Hook)
    );
    // a turn start is not stale while the turn runs
    let w = screen(AgentStatus::Waiting, "cod.idle.prompt", 4000.0);
    let p = signals(&[(HookEvent::TurnStart, 1000.0)]);
    let f = run(&w, Some(&p), 3999.0, 4000.0);
    assert_eq!(f.status, AgentStatus::Generating);
    // … unless configured
    let mut cfg = FuseConfig::default();
    cfg.max_age_by_event
        .insert(HookEvent::TurnStart, Duration::from_secs(600));
    let f = fuse(&w, Some(&p), t(3999.0), t(4000.0), &cfg);
    assert_eq!(f.status, AgentStatus::Waiting);
    assert_eq!(f.fusion.decided_by, Source::Screen);
    // and a shorter stop age
    let mut cfg = FuseConfig::default();
    cfg.max_age_by_event
        .insert(HookEvent::Stop, Duration::from_secs(5));
    let p = signals(&[(HookEvent::Stop, 3990.0)]);
    let f = fuse(&v, Some(&p), t(3991.0), t(4000.0), &cfg);
    assert_eq!(f.fusion.decided_by, Source::Screen);
}

#[test]
fn the_session_file_decides_when_newer_than_the_hooks() {
    let v = screen(AgentStatus::Unknown, "", 30.0);
    let mut p = signals(&[(HookEvent::Stop, 10.0)]);
    p.session_file = Some(SessionFileStatus {
        status: "busy".into(),
        at: t(20.0),
    });
    let f = run(&v, Some(&p), 20.0, 30.0);
    assert_eq!(f.status, AgentStatus::Generating);
    assert_eq!(f.fusion.decided_by, Source::SessionFile);
    assert!(f.fusion.is_exact());
    assert_eq!(f.fusion.sources[0].source, Source::SessionFile);
    // an older session file loses to the hook
    p.session_file = Some(SessionFileStatus {
        status: "busy".into(),
        at: t(5.0),
    });
    assert_eq!(run(&v, Some(&p), 20.0, 30.0).status, AgentStatus::Waiting);
    // alone, `waiting` (a dialog) is BLOCKED; an unknown status decides nothing
    let mut alone = PaneSignals {
        session_file: Some(SessionFileStatus {
            status: "waiting".into(),
            at: t(29.0),
        }),
        ..PaneSignals::default()
    };
    assert_eq!(
        run(&v, Some(&alone), 29.0, 30.0).status,
        AgentStatus::Blocked
    );
    alone.session_file = Some(SessionFileStatus {
        status: "weird".into(),
        at: t(29.0),
    });
    let f = run(&v, Some(&alone), 29.0, 30.0);
    assert_eq!(f.fusion.decided_by, Source::Screen);
    assert_eq!(f.fusion.rule, "no fresh signal");
}

#[test]
fn the_transcript_gives_the_context_figure() {
    let v = screen(AgentStatus::Waiting, "cc.idle.prompt", 30.0);
    let p = PaneSignals {
        context: Some(ContextReading {
            percent: 4.2,
            tokens: 8400,
            window: 200_000,
            model: Some("claude-sonnet-4-5".into()),
            at: t(25.0),
        }),
        ..PaneSignals::default()
    };
    let f = run(&v, Some(&p), 20.0, 30.0);
    assert_eq!(f.context_usage, Some(4.2));
    assert_eq!(f.fusion.context_source, Some(Source::Transcript));
    assert_eq!(f.status, AgentStatus::Waiting, "context decides no state");
    assert_eq!(f.fusion.decided_by, Source::Screen);
    assert!(
        f.fusion
            .sources
            .iter()
            .any(|n| n.source == Source::Transcript
                && n.what == "context 4% (8400 of 200000 tokens, claude-sonnet-4-5)")
    );
    // without a transcript the screen's figure, named as such
    let f = run(&v, None, 20.0, 30.0);
    assert_eq!(f.context_usage, Some(12.0));
    assert_eq!(f.fusion.context_source, Some(Source::Screen));
    let mut bare = v.clone();
    bare.context_usage = None;
    assert_eq!(run(&bare, None, 20.0, 30.0).fusion.context_source, None);
}

#[test]
fn fused_verdicts_round_trip_and_old_json_stays_valid() {
    let v = screen(AgentStatus::Waiting, "cc.idle.prompt", 10.0);
    let p = signals(&[(HookEvent::Stop, 8.0)]);
    let out = run(&v, Some(&p), 8.2, 10.0).apply(v.clone());
    let json = serde_json::to_value(&out).unwrap_or_default();
    assert_eq!(json["fusion"]["decided_by"], "hook");
    assert_eq!(json["fusion"]["sources"][0]["source"], "hook");
    assert_eq!(json["fusion"]["sources"][0]["age"], 2.0);
    let back: Verdict = serde_json::from_value(json).unwrap_or_else(|_| v.clone());
    assert_eq!(back, out);
    // a verdict written before fusion existed
    let old = serde_json::to_value(&v).unwrap_or_default();
    assert!(old.get("fusion").is_none());
    let back: Result<Verdict, _> = serde_json::from_value(old);
    assert_eq!(back.ok(), Some(v));
}

#[test]
fn ages_read_well() {
    assert_eq!(format_age(0.0), "0 s");
    assert_eq!(format_age(0.43), "0.4 s");
    assert_eq!(format_age(2.0), "2 s");
    assert_eq!(format_age(45.2), "45 s");
    assert_eq!(format_age(600.0), "10 min");
    assert_eq!(format_age(36_000.0), "10 h");
}

#[test]
fn an_idle_session_file_never_hides_an_error_or_a_dialog_on_screen() {
    // Claude Code rewrites its session file as `idle` while the screen shows the rate limit it
    // is retrying: the file's newer mtime is no turn boundary
    for (status, rule) in [
        (AgentStatus::RateLimited, "cc.rate_limited.retrying"),
        (AgentStatus::Error, "cc.error.api"),
        (AgentStatus::Blocked, "cc.blocked.permission"),
    ] {
        let v = screen(status, rule, 30.0);
        let p = PaneSignals {
            session_file: Some(SessionFileStatus {
                status: "idle".into(),
                at: t(29.0),
            }),
            ..PaneSignals::default()
        };
        let f = run(&v, Some(&p), 10.0, 30.0);
        assert_eq!(f.status, status, "{rule}");
        assert_eq!(f.fusion.decided_by, Source::Screen);
        assert_eq!(f.fusion.rule, "R5");
    }
    // a hook's Stop after an unchanged error screen still wins: the error is over
    let v = screen(AgentStatus::Error, "cc.error.api", 30.0);
    let p = signals(&[(HookEvent::Stop, 20.0)]);
    assert_eq!(run(&v, Some(&p), 10.0, 30.0).status, AgentStatus::Waiting);
}

#[test]
fn when_the_screen_agrees_its_rule_and_evidence_stay() {
    let v = screen(AgentStatus::Generating, "cc.busy.spinner", 30.0);
    let p = signals(&[(HookEvent::TurnStart, 20.0)]);
    let f = run(&v, Some(&p), 29.0, 30.0);
    assert_eq!(f.fusion.decided_by, Source::Hook);
    assert_eq!(f.fusion.rule, "agree");
    let out = f.apply(v.clone());
    assert_eq!(out.rule, "cc.busy.spinner");
    assert_eq!(out.evidence, v.evidence);
    assert_eq!(
        out.fusion.as_ref().map(|f| f.decided_by),
        Some(Source::Hook),
        "the decider is still named"
    );
}

/// A failed turn (Claude Code's `StopFailure`) with its error class.
fn failed(p: &mut PaneSignals, class: &str, at: f64) {
    let mut g = sig(HookEvent::TurnFailed, at, 50);
    g.raw_event = "StopFailure".into();
    g.detail = Some(class.into());
    p.last.insert(HookEvent::TurnFailed, g);
}

#[test]
fn r10_a_failed_turn_reads_rate_limited_or_error_from_the_hook() {
    // Claude Code draws the error and fires StopFailure at about the same time; the screen's
    // last change may come before the hook. Mapped as a plain stop, that read WAITING.
    for (class, status, rule) in [
        ("rate_limit", AgentStatus::RateLimited, "cc.rate_limited"),
        ("server_error", AgentStatus::Error, "cc.error.api"),
        ("overloaded", AgentStatus::Error, "cc.error.api"),
        ("billing_error", AgentStatus::Error, "cc.error.api"),
    ] {
        let mut p = signals(&[(HookEvent::TurnStart, 1.0)]);
        failed(&mut p, class, 5.0);
        let v = screen(status, rule, 6.0);
        let f = run(&v, Some(&p), 4.9, 6.0);
        assert_eq!(f.status, status, "{class}");
        assert_eq!(f.fusion.decided_by, Source::Hook, "{class}");
        assert_eq!(f.fusion.rule, "agree", "{class}");
        assert_eq!(
            f.fusion.sources[0].what,
            format!("turn_failed (StopFailure): {class}")
        );
        let out = f.apply(v.clone());
        assert_eq!(out.rule, rule, "the screen's reading stays when it agrees");
        // the screen has not drawn it yet (the prompt still shows), or draws an error no rule
        // knows: the hook's failure holds
        for (changed, now) in [(4.9, 5.5), (4.9, 600.0), (6.0, 600.0)] {
            let w = screen(AgentStatus::Waiting, "cc.idle.prompt", now);
            let f = run(&w, Some(&p), changed, now);
            assert_eq!(f.status, status, "{class} {changed} {now}");
            assert_eq!(f.fusion.decided_by, Source::Hook);
            assert_eq!(f.fusion.rule, "R10");
            assert!(f.fusion.is_exact());
        }
        // alone on an unknown screen
        let u = screen(AgentStatus::Unknown, "", 6.0);
        let f = run(&u, Some(&p), 4.9, 6.0);
        assert_eq!((f.status, f.fusion.rule.as_str()), (status, "hook only"));
    }
}

#[test]
fn r10_the_screen_wins_over_a_failed_turn_when_it_says_more_or_moved_on() {
    let mut p = signals(&[(HookEvent::TurnStart, 1.0)]);
    failed(&mut p, "rate_limit", 5.0);
    // the screen names another failure: its message is the more specific reading
    let e = screen(AgentStatus::Error, "cc.error.api", 6.0);
    let f = run(&e, Some(&p), 4.9, 6.0);
    assert_eq!(
        (f.status, f.fusion.decided_by),
        (AgentStatus::Error, Source::Screen)
    );
    assert_eq!(f.fusion.rule, "R10");
    // a dialog drawn at or after the failure
    let b = screen(AgentStatus::Blocked, "cc.blocked.permission", 9.0);
    assert_eq!(run(&b, Some(&p), 5.0, 9.0).status, AgentStatus::Blocked);
    // … but not one left from before it
    assert_eq!(run(&b, Some(&p), 4.0, 9.0).status, AgentStatus::RateLimited);
    // the prompt back after a change well after the failure (the human cleared it)
    let w = screen(AgentStatus::Waiting, "cc.idle.prompt", 30.0);
    let f = run(&w, Some(&p), 8.0, 30.0);
    assert_eq!(
        (f.status, f.fusion.decided_by),
        (AgentStatus::Waiting, Source::Screen)
    );
    assert_eq!(f.fusion.rule, "R10");
    // a busy screen: within the settle window it lags, after it a turn no hook reported
    let g = screen(AgentStatus::Generating, "cc.busy.spinner", 30.0);
    assert_eq!(run(&g, Some(&p), 6.0, 6.5).status, AgentStatus::RateLimited);
    let f = run(&g, Some(&p), 20.0, 30.0);
    assert_eq!(
        (f.status, f.fusion.rule.as_str()),
        (AgentStatus::Generating, "R10")
    );
    // a shell in the pane: R0
    let x = screen(AgentStatus::Exited, "cc.exited", 30.0);
    assert_eq!(run(&x, Some(&p), 4.0, 30.0).fusion.rule, "R0");
}

#[test]
fn a_failed_turn_ends_with_the_next_turn_and_ages_out() {
    let mut p = signals(&[(HookEvent::TurnStart, 1.0)]);
    failed(&mut p, "server_error", 5.0);
    // the next prompt starts a turn: busy, then its stop
    p.last
        .insert(HookEvent::TurnStart, sig(HookEvent::TurnStart, 40.0, 60));
    let g = screen(AgentStatus::Generating, "cc.busy.spinner", 41.0);
    assert_eq!(
        run(&g, Some(&p), 41.0, 41.0).status,
        AgentStatus::Generating
    );
    p.last
        .insert(HookEvent::Stop, sig(HookEvent::Stop, 50.0, 61));
    let w = screen(AgentStatus::Waiting, "cc.idle.prompt", 51.0);
    assert_eq!(run(&w, Some(&p), 50.0, 51.0).status, AgentStatus::Waiting);
    // a failure older than the default 30 min decides nothing
    let mut p = PaneSignals::default();
    failed(&mut p, "server_error", 5.0);
    let w = screen(AgentStatus::Waiting, "cc.idle.prompt", 2000.0);
    let f = run(&w, Some(&p), 4.0, 2000.0);
    assert_eq!(
        (f.status, f.fusion.rule.as_str()),
        (AgentStatus::Waiting, "no fresh signal")
    );
}

#[test]
fn an_idle_session_file_does_not_supersede_a_failed_turn() {
    // Claude Code writes `idle` into its session file as the failed turn ends, after the hook
    let mut p = signals(&[(HookEvent::TurnStart, 1.0)]);
    failed(&mut p, "rate_limit", 5.0);
    p.session_file = Some(SessionFileStatus {
        status: "idle".into(),
        at: t(5.2),
    });
    let w = screen(AgentStatus::Waiting, "cc.idle.prompt", 6.0);
    let f = run(&w, Some(&p), 4.9, 6.0);
    assert_eq!(
        (f.status, f.fusion.decided_by),
        (AgentStatus::RateLimited, Source::Hook)
    );
    // a busy file after it is a new turn
    p.session_file = Some(SessionFileStatus {
        status: "busy".into(),
        at: t(9.0),
    });
    let f = run(&w, Some(&p), 9.0, 9.5);
    assert_eq!(
        (f.status, f.fusion.decided_by),
        (AgentStatus::Generating, Source::SessionFile)
    );
}

#[test]
fn a_session_start_that_comes_with_the_first_prompt_does_not_end_the_turn() {
    // Codex 0.171 fires SessionStart at the first prompt, beside UserPromptSubmit, in either
    // order; its composer is on screen in every state
    let v = screen(AgentStatus::Waiting, "cod.idle.prompt", 11.0);
    for (session, turn) in [(10.05, 10.0), (10.0, 10.05)] {
        let p = signals(&[
            (HookEvent::TurnStart, turn),
            (HookEvent::SessionStart, session),
        ]);
        let f = run(&v, Some(&p), 10.5, 11.0);
        assert_eq!(f.status, AgentStatus::Generating, "{session} {turn}");
        assert_eq!(f.fusion.rule, "R3");
    }
    // the session start alone, just before the turn start's hook: the busy screen decides
    let g = screen(AgentStatus::Generating, "cod.busy.status_bar", 10.1);
    let p = signals(&[(HookEvent::SessionStart, 10.0)]);
    let f = run(&g, Some(&p), 9.95, 10.1);
    assert_eq!(
        (f.status, f.fusion.rule.as_str()),
        (AgentStatus::Generating, "R6")
    );
    // … where a stop would hold (the screen lags behind it)
    let p = signals(&[(HookEvent::Stop, 10.0)]);
    assert_eq!(run(&g, Some(&p), 9.95, 10.1).status, AgentStatus::Waiting);
    // a session start well after the turn (a new session, e.g. /clear) is a session start
    let p = signals(&[(HookEvent::TurnStart, 1.0), (HookEvent::SessionStart, 10.0)]);
    let f = run(&v, Some(&p), 10.5, 11.0);
    assert_eq!(f.status, AgentStatus::Waiting);
    assert_eq!(f.fusion.decided_by, Source::Hook);
}
