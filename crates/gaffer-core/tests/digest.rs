//! Digests: counts, alerts, provenance, importance and markdown.

use gaffer_core::digest::*;
use gaffer_core::time::parse_rfc3339;
use gaffer_core::*;

fn now() -> Timestamp {
    parse_rfc3339("2026-01-01T12:00:00Z").unwrap()
}

fn agent(idx: i64, ty: &str, status: AgentStatus, ctx: f64, idle_secs: i64) -> AgentState {
    let mut a = AgentState::new(
        format!("%{idx}"),
        idx,
        ty,
        now() - chrono::Duration::seconds(idle_secs),
    );
    a.status = status;
    a.context_usage = ctx;
    a.title = format!("proj__{ty}_{idx}");
    a
}

fn ok<T>(value: T, source: &str, age: i64) -> Reading<T> {
    Reading::Ok {
        value,
        at: now() - chrono::Duration::seconds(age),
        source: source.into(),
    }
}

fn holder(name: &str) -> Holder {
    Holder {
        agent_name: name.into(),
        pane_id: String::new(),
        reserved_at: now(),
        expires_at: now(),
        reason: String::new(),
        priority: 0,
    }
}

#[test]
fn counts_alerts_and_idle_times() {
    let agents = vec![
        agent(1, "cc", AgentStatus::Waiting, 10.0, 42),
        agent(2, "cod", AgentStatus::Generating, 50.0, 0),
        agent(3, "gmi", AgentStatus::Error, 90.0, 0),
        agent(4, "cc", AgentStatus::Stalled, 20.0, 600),
        agent(5, "cc", AgentStatus::RateLimited, 20.0, 0),
        agent(6, "cc", AgentStatus::Blocked, 20.0, 0),
        agent(7, "cod", AgentStatus::Thinking, 20.0, 0),
    ];
    let work = WorkDigestSummary {
        pending_tasks: 4,
        in_progress_tasks: 2,
        completed_today: 1,
        blocked_tasks: 3,
        top_ready: vec!["b1".into()],
    };
    let conflict = Conflict {
        id: "c1".into(),
        file_path: String::new(),
        pattern: "src/**".into(),
        holders: vec![holder("A"), holder("B")],
        detected_at: now(),
        resolved_at: None,
        resolution: String::new(),
    };
    let d = generate_digest(&DigestInput {
        session: "proj",
        now: now(),
        agents: ok(agents, "tmux", 1),
        work: ok(work.clone(), "native triage", 3),
        conflicts: ok(vec![conflict], "agent mail", 2),
        quality: None,
    });
    assert_eq!(
        (d.agent_count, d.active_count, d.idle_count, d.error_count),
        (7, 2, 1, 1)
    );
    assert_eq!(d.agent_statuses[0].idle_for, "42s");
    assert_eq!(d.agent_statuses[1].idle_for, "");
    assert_eq!(d.work_summary, Some(work));
    assert_eq!(
        d.alerts,
        vec![
            "proj__gmi_3 (gmi) in error state",
            "proj__gmi_3 (gmi) context at 90%",
            "proj__cc_4 (cc) appears stalled",
            "proj__cc_5 (cc) is rate-limited",
            "proj__cc_6 (cc) is waiting for a human decision",
            "Reservation conflict on src/** between A, B",
        ]
    );
    assert_eq!(digest_importance(&d), "urgent");
    let sources: Vec<(&str, &str, f64)> = d
        .sources
        .iter()
        .map(|s| (s.name.as_str(), s.status.as_str(), s.age_secs))
        .collect();
    assert_eq!(
        sources,
        vec![
            ("agents", "ok", 1.0),
            ("work", "ok", 3.0),
            ("reservations", "ok", 2.0)
        ]
    );

    let md = render_markdown(&d, "gaffer");
    assert!(md.starts_with("# Session Digest: proj\n\n**Generated:** 2026-01-01T12:00:00Z"));
    assert!(md.contains("- **Errors:** 1 ⚠️"));
    assert!(md.contains("- ⚠️ proj__gmi_3 (gmi) in error state"));
    assert!(md.contains("| proj__cc_1 | 0.1 | cc | WAITING | 10% | 42s |"));
    assert!(md.contains("| proj__cod_2 | 0.2 | cod | GENERATING | 50% | - |"));
    assert!(md.contains("- Pending: 4"));
    assert!(md.trim_end().ends_with("*Coordinator: gaffer*"));
}

#[test]
fn degraded_sources_are_named_not_zero() {
    let d = generate_digest(&DigestInput {
        session: "proj",
        now: now(),
        agents: ok(
            vec![agent(1, "cc", AgentStatus::Waiting, 10.0, 5)],
            "tmux",
            0,
        ),
        work: Reading::Degraded {
            source: "bv --robot-triage".into(),
            error: "timed out after 30s".into(),
        },
        conflicts: Reading::Degraded {
            source: "agent mail".into(),
            error: "connection refused".into(),
        },
        quality: None,
    });
    assert_eq!(d.work_summary, None, "never reported as zeros");
    let json = serde_json::to_value(&d).unwrap();
    assert!(json.get("work_summary").is_none());
    assert!(
        d.alerts
            .contains(&"work unavailable (bv --robot-triage): timed out after 30s".to_string())
    );
    assert!(
        d.alerts
            .contains(&"reservations unavailable (agent mail): connection refused".to_string())
    );
    assert_eq!(digest_importance(&d), "high");
    let md = render_markdown(&d, "g");
    assert!(md.contains("- unavailable (the work source could not be read)"));
    assert!(md.contains("work: bv --robot-triage — DEGRADED: timed out after 30s"));
}

#[test]
fn quiet_session_is_normal_importance() {
    let d = generate_digest(&DigestInput {
        session: "s",
        now: now(),
        agents: ok(
            vec![agent(1, "cc", AgentStatus::Generating, 10.0, 0)],
            "tmux",
            0,
        ),
        work: ok(WorkDigestSummary::default(), "native", 0),
        conflicts: ok(vec![], "embedded", 0),
        quality: None,
    });
    assert!(d.alerts.is_empty());
    assert_eq!(digest_importance(&d), "normal");
}

#[test]
fn agents_are_named_uniquely_across_windows() {
    // 16 panes over 4 windows: pane indexes 0..4 repeat in each window.
    let mut agents = Vec::new();
    for w in 0..4i64 {
        for p in 0..4i64 {
            let n = w * 4 + p;
            let mut a = AgentState::new(format!("%{n}"), p, "cc", now());
            a.window_index = w;
            a.status = AgentStatus::Error;
            a.title = format!("proj__cc_{}", n + 1);
            agents.push(a);
        }
    }
    // No title: the Agent Mail name; neither: window.pane. Escapes in a title are dropped.
    agents[1].title.clear();
    agents[1].agent_mail_name = "BlueLake".into();
    agents[2].title.clear();
    agents[3].title = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J".into();
    let d = generate_digest(&DigestInput {
        session: "proj",
        now: now(),
        agents: ok(agents, "tmux", 1),
        work: Reading::Degraded {
            source: "br".into(),
            error: "x".into(),
        },
        conflicts: ok(vec![], "agent mail", 1),
        quality: None,
    });
    let names: Vec<&str> = d.agent_statuses.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names.len(), 16);
    let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), 16, "{names:?}");
    assert_eq!(
        &names[..4],
        ["proj__cc_1", "BlueLake", "0.2", "evil]0;pwned[2J"]
    );
    assert_eq!(names[15], "proj__cc_16", "sorted by window, then pane");
    let errors: Vec<&String> = d
        .alerts
        .iter()
        .filter(|a| a.ends_with("in error state"))
        .collect();
    assert_eq!(errors.len(), 16);
    assert_eq!(errors[4], "proj__cc_5 (cc) in error state");
    assert!(
        !d.alerts.iter().any(|a| a.starts_with("Agent ")),
        "{:?}",
        d.alerts
    );
    let md = render_markdown(&d, "gaffer");
    assert!(
        md.contains("| proj__cc_16 | 3.3 | cc | ERROR | 0% | - |"),
        "{md}"
    );
    assert!(!md.contains('\u{1b}'));
}
