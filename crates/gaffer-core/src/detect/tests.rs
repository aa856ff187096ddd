use super::*;
use crate::time::parse_rfc3339;

fn at() -> Timestamp {
    parse_rfc3339("2026-11-29T10:00:00Z").unwrap()
}

fn detect(kind: &str, screen: &str, cmd: &str) -> Verdict {
    Detector::builtin().detect(&ScreenInput {
        agent_type: kind,
        screen,
        current_command: cmd,
        observed_at: at(),
    })
}

#[test]
fn builtin_rules_all_compile() {
    for (kind, text) in BUILTIN_RULES {
        let k = compile(&format!("{kind}.toml"), text).unwrap();
        assert_eq!(k.kind, kind);
        assert!(!k.rules.is_empty());
    }
    assert_eq!(Detector::builtin().kinds.len(), 4);
}

#[test]
fn claude_idle_and_busy() {
    let idle = "● Done.\n\n✻ Cooked for 2m 10s\n\n────────\n❯ \n────────\n  ⏵⏵ bypass permissions on (shift+tab to cycle)";
    let v = detect("cc", idle, "claude");
    assert_eq!(v.status, AgentStatus::Waiting, "{v:?}");
    let busy = "● Read(x)\n\n✻ Scurrying… (12s · ↓ 1.2k tokens · esc to interrupt)\n\n────────\n❯ \n────────\n  ⏵⏵ bypass permissions on (shift+tab to cycle)      Context left until auto-compact: 12%";
    let v = detect("cc", busy, "claude");
    assert_eq!(v.status, AgentStatus::Generating, "{v:?}");
    assert_eq!(v.context_usage, Some(88.0));
    assert_eq!(v.rule, "cc.busy.spinner");
}

#[test]
fn malformed_override_names_file_line_key() {
    let bad = "kind = \"cc\"\n[[rule]]\nid = \"x\"\nstatus = \"WAITING\"\npriority = 1\nregion = \"bottom\"\npatterns = ['(unclosed']\nconfidence = 0.5\nreason = \"r\"\n";
    let err = Detector::with_overrides(&[("cc".into(), bad.into())]).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("cc.toml:7: key `rule[0].patterns`"),
        "{msg}"
    );
    let err = Detector::with_overrides(&[("cc".into(), "kind = \"cc\"\nbogus = 1\n".into())])
        .unwrap_err();
    assert!(err.to_string().contains("cc.toml:2"), "{err}");
    let err = Detector::with_overrides(&[(
        "cc".into(),
        "kind = \"cc\"\n[[rule]]\nid = \"x\"\nstatus = \"SLEEPY\"\npriority = 1\nregion = \"bottom\"\npatterns = ['a']\nconfidence = 0.5\nreason = \"r\"\n".into(),
    )])
    .unwrap_err();
    assert!(
        err.to_string().contains("cc.toml:4: key `rule[0].status`"),
        "{err}"
    );
    assert!(matches!(
        Detector::with_overrides(&[("vim".into(), "kind='vim'".into())]),
        Err(RulesError::UnknownKind(_))
    ));
}

#[test]
fn override_replaces_one_kind() {
    let text = "kind = \"cc\"\n[[rule]]\nid = \"my.busy\"\nstatus = \"GENERATING\"\npriority = 1\nregion = \"screen\"\npatterns = ['HELLO']\nconfidence = 0.5\nreason = \"custom\"\n";
    let d = Detector::with_overrides(&[("cc".into(), text.into())]).unwrap();
    let input = ScreenInput {
        agent_type: "cc",
        screen: "x\nHELLO\ny",
        current_command: "",
        observed_at: at(),
    };
    assert_eq!(d.detect(&input).rule, "my.busy");
    // other kinds keep the builtin rules
    assert_eq!(d.kind_rules("cod").unwrap().kind, "cod");
    assert!(d.kind_rules("cod").unwrap().rules.len() > 3);
}

#[test]
fn rate_limit_resets() {
    let t = at();
    let utc = chrono_tz::UTC;
    let r = parse_rate_limit_reset("try again in 2 hours 13 minutes.", t, utc).unwrap();
    assert_eq!(r, t + chrono::Duration::minutes(133));
    let r = parse_rate_limit_reset("Your quota will reset after 2h13m.]", t, utc).unwrap();
    assert_eq!(r, t + chrono::Duration::minutes(133));
    let r = parse_rate_limit_reset("You've hit your limit · resets 4:30pm (UTC)", t, utc).unwrap();
    assert_eq!(crate::time::format_rfc3339(&r), "2026-11-29T16:30:00Z");
    // earlier clock time: tomorrow
    let r = parse_rate_limit_reset("resets 9am", t, utc).unwrap();
    assert_eq!(crate::time::format_rfc3339(&r), "2026-11-30T09:00:00Z");
    // a zone that is not in the tz database: no guess
    assert_eq!(
        parse_rate_limit_reset("resets 3pm (Mars/Olympus_Mons)", t, utc),
        None
    );
    assert_eq!(parse_rate_limit_reset("nothing here", t, utc), None);
}

#[test]
fn a_reset_without_a_zone_is_local_time() {
    // observed at 2026-11-29T10:00Z
    let t = at();
    let reset = |line: &str, local: chrono_tz::Tz| {
        parse_rate_limit_reset(line, t, local).map(|r| crate::time::format_rfc3339(&r))
    };
    let berlin = chrono_tz::Europe::Berlin; // 11:00 CET (UTC+1) now
    assert_eq!(
        reset("resets 9am", berlin).as_deref(),
        Some("2026-11-30T08:00:00Z")
    );
    assert_eq!(
        reset("resets 4:30pm", berlin).as_deref(),
        Some("2026-11-29T15:30:00Z")
    );
    let la = chrono_tz::America::Los_Angeles; // 02:00 PST (UTC-8) now
    assert_eq!(
        reset("resets 9am", la).as_deref(),
        Some("2026-11-29T17:00:00Z")
    );
    assert_eq!(
        reset("try again at 1:15 AM", la).as_deref(),
        Some("2026-11-30T09:15:00Z")
    );
    let kolkata = chrono_tz::Asia::Kolkata; // 15:30 IST (UTC+5:30) now
    assert_eq!(
        reset("resets 3pm", kolkata).as_deref(),
        Some("2026-11-30T09:30:00Z")
    );
    assert_eq!(
        reset("resets 4pm", kolkata).as_deref(),
        Some("2026-11-29T10:30:00Z")
    );
}

#[test]
fn a_named_zone_wins_over_the_local_one() {
    let t = at();
    let reset = |line: &str, local: chrono_tz::Tz| {
        parse_rate_limit_reset(line, t, local).map(|r| crate::time::format_rfc3339(&r))
    };
    let la = chrono_tz::America::Los_Angeles;
    assert_eq!(
        reset("resets 3pm (Europe/Berlin)", la).as_deref(),
        Some("2026-11-29T14:00:00Z")
    );
    assert_eq!(
        reset(
            "Your limit will reset at 3pm (America/New_York).",
            chrono_tz::UTC
        )
        .as_deref(),
        Some("2026-11-29T20:00:00Z")
    );
    assert_eq!(
        reset("resets 9am (UTC)", chrono_tz::Asia::Tokyo).as_deref(),
        Some("2026-11-30T09:00:00Z")
    );
    assert_eq!(
        reset("resets 11pm (Asia/Tokyo)", la).as_deref(),
        Some("2026-11-29T14:00:00Z")
    );
}

#[test]
fn a_reset_in_a_daylight_saving_gap_or_overlap() {
    let reset = |line: &str, at: &str| {
        let t = parse_rfc3339(at).unwrap();
        parse_rate_limit_reset(line, t, chrono_tz::Europe::Berlin)
            .map(|r| crate::time::format_rfc3339(&r))
    };
    // 2026-03-29 02:00 CET jumps to 03:00 CEST: 2:30 does not exist, it is read as 3:30 CEST
    assert_eq!(
        reset("resets 2:30am", "2026-03-29T00:10:00Z").as_deref(),
        Some("2026-03-29T01:30:00Z")
    );
    // 2026-10-25 03:00 CEST falls back to 02:00 CET: 2:30 happens twice, the first is taken
    assert_eq!(
        reset("resets 2:30am", "2026-10-24T23:00:00Z").as_deref(),
        Some("2026-10-25T00:30:00Z")
    );
}

#[test]
fn the_detector_reads_resets_in_its_local_zone() {
    let screen = "> go\n  ⎿  5-hour limit reached ∙ resets 3pm\n\n────\n❯ \n────\n";
    let input = ScreenInput {
        agent_type: "cc",
        screen,
        current_command: "claude",
        observed_at: at(),
    };
    let utc = Detector::builtin().detect(&input);
    assert_eq!(utc.status, AgentStatus::RateLimited);
    let berlin = Detector::builtin()
        .with_local_zone(chrono_tz::Europe::Berlin)
        .detect(&input);
    assert_eq!(
        (
            utc.rate_limit_reset
                .map(|r| crate::time::format_rfc3339(&r)),
            berlin
                .rate_limit_reset
                .map(|r| crate::time::format_rfc3339(&r))
        ),
        (
            Some("2026-11-29T15:00:00Z".to_string()),
            Some("2026-11-29T14:00:00Z".to_string())
        )
    );
}

#[test]
fn shells_are_recognised() {
    for s in ["bash", "-zsh", "/bin/sh", "fish", "dash"] {
        assert!(is_shell_command(s), "{s}");
    }
    for s in ["claude", "node", "codex", "", "bashtop"] {
        assert!(!is_shell_command(s), "{s}");
    }
}

#[test]
fn fingerprint_ignores_spinner_and_counters() {
    let a = "✻ Scurrying… (3s · ↓ 1.2k tokens · esc to interrupt)";
    let b = "✶ Scurrying… (4s · ↓ 1.6k tokens · esc to interrupt)";
    assert_eq!(activity_fingerprint(a), activity_fingerprint(b));
    assert_ne!(
        activity_fingerprint(a),
        activity_fingerprint("● Read(src/lib.rs)\n✶ Scurrying… (4s)")
    );
}

mod tracker_tests {
    use super::*;
    use std::time::Duration;

    fn v(status: AgentStatus, secs: i64, conf: f64) -> Verdict {
        Verdict {
            status,
            reason: String::new(),
            rule: String::new(),
            evidence: vec![],
            confidence: conf,
            context_usage: None,
            rate_limit_reset: None,
            observed_at: at() + chrono::Duration::seconds(secs),
            fusion: None,
        }
    }

    fn tracker() -> AgentTracker {
        AgentTracker::new(TrackerConfig {
            stall_threshold: Duration::from_secs(30),
            confirm_observations: 2,
        })
    }

    #[test]
    fn first_verdict_adopted_and_flicker_filtered() {
        let mut t = tracker();
        let o = t.observe(v(AgentStatus::Generating, 0, 0.95), true);
        assert_eq!(o.status, AgentStatus::Generating);
        assert!(o.changed);
        // one WAITING frame between spinner redraws is not adopted
        let o = t.observe(v(AgentStatus::Waiting, 1, 0.9), true);
        assert_eq!(o.status, AgentStatus::Generating);
        assert_eq!(o.pending, Some(AgentStatus::Waiting));
        let o = t.observe(v(AgentStatus::Generating, 2, 0.95), true);
        assert_eq!(o.status, AgentStatus::Generating);
        assert_eq!(o.pending, None);
        // two in a row are
        t.observe(v(AgentStatus::Waiting, 3, 0.9), true);
        let o = t.observe(v(AgentStatus::Waiting, 4, 0.9), false);
        assert_eq!(o.status, AgentStatus::Waiting);
        assert_eq!(o.previous, Some(AgentStatus::Generating));
        assert_eq!(
            crate::time::format_rfc3339(&o.since),
            "2026-11-29T10:00:04Z"
        );
    }

    #[test]
    fn hook_decided_changes_skip_hysteresis() {
        use crate::fuse::{Fusion, Source};
        let fused = |status, secs, source| {
            let mut x = v(status, secs, 1.0);
            x.fusion = Some(Fusion {
                decided_by: source,
                rule: "agree".into(),
                sources: Vec::new(),
                context_source: None,
            });
            x
        };
        for source in [Source::Hook, Source::SessionFile] {
            let mut t = tracker();
            t.observe(v(AgentStatus::Generating, 0, 0.95), true);
            let o = t.observe(fused(AgentStatus::Waiting, 1, source), false);
            assert_eq!(o.status, AgentStatus::Waiting, "{source}: exact, at once");
            assert!(o.changed);
        }
        // a screen-decided change still waits for confirmation
        let mut t = tracker();
        t.observe(v(AgentStatus::Generating, 0, 0.95), true);
        let o = t.observe(fused(AgentStatus::Waiting, 1, Source::Screen), false);
        assert_eq!(o.status, AgentStatus::Generating);
        assert_eq!(o.pending, Some(AgentStatus::Waiting));
    }

    #[test]
    fn urgent_states_are_immediate() {
        for s in [
            AgentStatus::Error,
            AgentStatus::Exited,
            AgentStatus::Blocked,
            AgentStatus::RateLimited,
        ] {
            let mut t = tracker();
            t.observe(v(AgentStatus::Waiting, 0, 0.9), true);
            let o = t.observe(v(s, 1, 0.9), true);
            assert_eq!(o.status, s);
        }
        // a strong busy verdict is immediate too; a weak one waits
        let mut t = tracker();
        t.observe(v(AgentStatus::Waiting, 0, 0.9), true);
        assert_eq!(
            t.observe(v(AgentStatus::Generating, 1, 0.6), true).status,
            AgentStatus::Waiting
        );
        assert_eq!(
            t.observe(v(AgentStatus::Generating, 2, 0.95), true).status,
            AgentStatus::Generating
        );
    }

    #[test]
    fn stalls_and_recovers_and_activity_is_not_now() {
        let mut t = tracker();
        let o = t.observe(v(AgentStatus::Generating, 0, 0.95), true);
        assert_eq!(o.last_activity, at());
        let o = t.observe(v(AgentStatus::Generating, 10, 0.95), false);
        assert_eq!(
            o.last_activity,
            at(),
            "no change: activity stays at the last change"
        );
        assert_eq!(o.idle_for, Duration::from_secs(10));
        let o = t.observe(v(AgentStatus::Generating, 31, 0.95), false);
        assert_eq!(o.status, AgentStatus::Stalled);
        let o = t.observe(v(AgentStatus::Thinking, 40, 0.95), false);
        assert_eq!(o.status, AgentStatus::Stalled);
        let o = t.observe(v(AgentStatus::Thinking, 41, 0.95), true);
        assert_eq!(o.status, AgentStatus::Thinking);
        assert_eq!(o.idle_for, Duration::ZERO);
        // waiting never stalls
        let mut t = tracker();
        t.observe(v(AgentStatus::Waiting, 0, 0.9), true);
        assert_eq!(
            t.observe(v(AgentStatus::Waiting, 100, 0.9), false).status,
            AgentStatus::Waiting
        );
        let json =
            serde_json::to_value(t.observe(v(AgentStatus::Waiting, 101, 0.9), false)).unwrap();
        assert_eq!(json["idle_for"], 101.0);
        assert_eq!(json["status"], "WAITING");
    }
}

#[test]
fn newest_outcome_wins_between_rate_limit_and_error() {
    let box_ = "────────\n❯ \n────────\n  ⏵⏵ bypass permissions on (shift+tab to cycle)";
    let rl_then_err = format!(
        "> go\n  ⎿  You've hit your limit · resets 4:30pm (UTC)\n\n  ⎿  API Error: 500 internal\n\n{box_}"
    );
    assert_eq!(
        detect("cc", &rl_then_err, "claude").status,
        AgentStatus::Error
    );
    let err_then_rl = format!(
        "> go\n  ⎿  API Error: 500 internal\n\n  ⎿  You've hit your limit · resets 4:30pm (UTC)\n\n{box_}"
    );
    let v = detect("cc", &err_then_rl, "claude");
    assert_eq!(v.status, AgentStatus::RateLimited);
    assert_eq!(
        v.rate_limit_reset
            .map(|t| crate::time::format_rfc3339(&t))
            .as_deref(),
        Some("2026-11-29T16:30:00Z")
    );
    // explain agrees with detect and says why the older one lost
    let e = Detector::builtin().explain(&ScreenInput {
        agent_type: "cc",
        screen: &rl_then_err,
        current_command: "claude",
        observed_at: at(),
    });
    assert_eq!(e.verdict.status, AgentStatus::Error);
    let rl = e
        .trace
        .iter()
        .find(|t| t.rule == "cc.rate_limited")
        .unwrap();
    assert!(
        rl.matched && !rl.chosen && rl.why.contains("older"),
        "{rl:?}"
    );
}

#[test]
fn context_marker_wrapped_by_a_narrow_pane_is_read() {
    let screen = "────\n❯ \n────\n  ⏵⏵ bypass permissions on (shift+tab to c\nycle)  Context left until auto-compact: 43\n%";
    let v = detect("cc", screen, "claude");
    assert_eq!(v.status, AgentStatus::Waiting);
    assert_eq!(v.context_usage, Some(57.0));
}

#[test]
fn word_boundaries_are_ascii_like_go() {
    use super::rules::ascii_word_boundaries;
    assert_eq!(ascii_word_boundaries(r"\b429\b"), r"(?-u:\b)429(?-u:\b)");
    assert_eq!(ascii_word_boundaries(r"a\\b\B"), r"a\\b(?-u:\B)");
    assert_eq!(ascii_word_boundaries(r"\d+\s"), r"\d+\s");
}

#[test]
fn context_marker_with_a_fixed_value_needs_no_capture() {
    let rules = "kind = \"cc\"\n[[context]]\npattern = 'auto-compact next'\nmeaning = \"left\"\nvalue = 0\n[[rule]]\nid = \"w\"\nstatus = \"WAITING\"\npriority = 1\nregion = \"screen\"\npatterns = ['.']\nconfidence = 0.5\nreason = \"r\"\n";
    let d = Detector::with_overrides(&[("cc".into(), rules.into())]).unwrap();
    let v = d.detect(&ScreenInput {
        agent_type: "cc",
        screen: "● hi\n                 auto-compact next\n────\n❯ \n────\n  ? for shortcuts",
        current_command: "claude",
        observed_at: at(),
    });
    assert_eq!(v.context_usage, Some(100.0), "{v:?}");
    // without a value the capture group is still required
    let err =
        Detector::with_overrides(&[("cc".into(), rules.replace("value = 0\n", ""))]).unwrap_err();
    assert!(err.to_string().contains("capture group"), "{err}");
}
