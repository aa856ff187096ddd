//! Round trips: JSON in the reference's shape is read and written back unchanged.

use gaffer_core::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// JSON equality where `0` and `0.0` are the same number (Go writes floats without a fraction).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn round_trip<T: Serialize + DeserializeOwned + std::fmt::Debug>(json: &str) -> T {
    let input: Value = serde_json::from_str(json).expect("sample is JSON");
    let typed: T = serde_json::from_str(json)
        .unwrap_or_else(|e| panic!("reads {}: {e}", std::any::type_name::<T>()));
    let output = serde_json::to_value(&typed).expect("writes");
    assert!(
        same(&input, &output),
        "{} changed in a round trip\n in: {input:#}\nout: {output:#}",
        std::any::type_name::<T>()
    );
    typed
}

const AGENT: &str = r#"{
  "pane_id": "%3", "pane_index": 2, "agent_type": "cc", "agent_mail_name": "BlueLake",
  "status": "WAITING", "context_usage": 42.5, "last_activity": "2026-01-02T03:04:05.5Z",
  "current_task": "bd-12", "reservations": ["src/**", "docs/a.md"], "healthy": true,
  "profile": {"name": "backend", "description": "Backend work", "agent_type": "cc", "model": "opus",
              "temperature": 0.2, "tags": ["testing", "implementation"], "focus_patterns": ["src/**/*.rs"],
              "context_files": ["docs/*.md"], "extends": "base", "system_prompt": "Be careful",
              "system_prompt_append": "More."},
  "assignments": 1, "last_assigned_at": "2026-01-02T03:00:00Z"
}"#;

const AGENT_MINIMAL: &str = r#"{
  "pane_id": "%1", "pane_index": 0, "agent_type": "gmi", "status": "RATE_LIMITED", "context_usage": 0,
  "last_activity": "2026-01-02T03:04:05Z", "healthy": false, "assignments": -1,
  "last_assigned_at": "0001-01-01T00:00:00Z"
}"#;

#[test]
fn agent_state() {
    let a: AgentState = round_trip(AGENT);
    assert_eq!(a.status, AgentStatus::Waiting);
    assert_eq!(a.profile.as_ref().map(|p| p.tags.len()), Some(2));
    let m: AgentState = round_trip(AGENT_MINIMAL);
    assert_eq!(m.last_assigned_at, None);
    assert_eq!(m.assignments, -1);
}

#[test]
fn every_status_name_reads() {
    for name in [
        "WAITING",
        "GENERATING",
        "THINKING",
        "BLOCKED",
        "RATE_LIMITED",
        "ERROR",
        "STALLED",
        "EXITED",
        "UNKNOWN",
    ] {
        let json = AGENT_MINIMAL.replace("RATE_LIMITED", name);
        let a: AgentState = round_trip(&json);
        assert_eq!(a.status.as_str(), name);
    }
}

#[test]
fn status_result_and_health() {
    round_trip::<AgentStatusResult>(
        r#"{"status":"ERROR","context_usage":91.2,"last_activity":"2026-01-02T03:04:05Z","velocity":12.5,"healthy":false,"error_message":"capture failed"}"#,
    );
    round_trip::<AgentStatusResult>(
        r#"{"status":"GENERATING","context_usage":0,"last_activity":"2026-01-02T03:04:05Z","velocity":0,"healthy":true}"#,
    );
    round_trip::<HealthCheck>(
        r#"{"pane_id":"%2","agent_type":"cod","healthy":false,"issues":["agent in error state","context usage high (>85%)"],"timestamp":"2026-01-02T03:04:05Z"}"#,
    );
    round_trip::<ContextSnapshot>(r#"{"timestamp":"2026-01-02T03:04:05.123Z","usage":55.5}"#);
}

const RECOMMENDATION: &str = r#"{
  "id": "bd-1", "title": "Implement storage layer", "type": "feature", "status": "open", "priority": 1,
  "labels": ["backend"], "score": 0.5712,
  "breakdown": {"pagerank": 0.1582, "betweenness": 0.2, "blocker_ratio": 0.13, "staleness": 0.005,
                "priority_boost": 0.075, "time_to_impact": 0.015, "urgency": 0.041, "risk": 0.0125},
  "action": "Start work on this issue", "reasons": ["🔓 Unblocks 1 item(s): bd-2"], "unblocks_ids": ["bd-2"]
}"#;

#[test]
fn assignment_types() {
    let breakdown = r#"{"base_score":0.57,"agent_type_bonus":0.15,"critical_path_bonus":0.7,"file_overlap_penalty":0.05,"context_penalty":0.05,"profile_tag_bonus":0.075,"focus_pattern_bonus":0.1}"#;
    let b: AssignmentScoreBreakdown = round_trip(breakdown);
    assert!((b.total() - (0.57 + 0.15 + 0.7 + 0.075 + 0.1 - 0.05 - 0.05)).abs() < 1e-12);

    let assignment = format!(
        r#"{{"bead": {RECOMMENDATION}, "agent": {AGENT}, "score": 1.5, "reason": "even workload distribution; on critical path", "confidence": 0.85, "breakdown": {breakdown}}}"#
    );
    round_trip::<Assignment>(&assignment);

    let work = r#"{"bead_id":"bd-1","bead_title":"Implement storage layer","agent_pane_id":"%3","agent_mail_name":"BlueLake","agent_type":"cc","assigned_at":"2026-01-02T03:04:05Z","priority":1,"score":0.57,"files_to_reserve":["src/store.rs"]}"#;
    round_trip::<WorkAssignment>(work);
    round_trip::<AssignmentResult>(&format!(
        r#"{{"success":true,"assignment":{work},"reservations":["src/store.rs"],"message_sent":true}}"#
    ));
    round_trip::<AssignmentResult>(
        r#"{"success":false,"error":"sending message: unavailable","message_sent":false}"#,
    );
    round_trip::<ScoredAssignment>(&format!(
        r#"{{"assignment":{work},"recommendation":{RECOMMENDATION},"agent":{AGENT},"total_score":1.2,"score_breakdown":{breakdown}}}"#
    ));
    round_trip::<ScoreConfig>(
        r#"{"prefer_critical_path":true,"penalize_file_overlap":false,"use_agent_profiles":true,"budget_aware":true,"context_threshold":80,"profile_tag_boost_weight":0.25,"focus_pattern_boost_weight":0.15}"#,
    );
    for s in ["balanced", "speed", "quality", "dependency", "round-robin"] {
        round_trip::<AssignmentStrategy>(&format!("\"{s}\""));
    }
}

#[test]
fn conflicts() {
    let holder = r#"{"agent_name":"BlueLake","pane_id":"%3","reserved_at":"2026-01-02T03:04:05Z","expires_at":"2026-01-02T04:04:05Z","reason":"bd-1","priority":0}"#;
    round_trip::<Holder>(holder);
    round_trip::<Holder>(
        r#"{"agent_name":"GreenHill","reserved_at":"2026-01-02T03:04:05Z","expires_at":"2026-01-02T04:04:05Z","priority":2}"#,
    );
    round_trip::<Conflict>(&format!(
        r#"{{"id":"conflict-1234-src-xx","file_path":"","pattern":"src/**","holders":[{holder},{holder}],"detected_at":"2026-01-02T03:04:05Z"}}"#
    ));
    round_trip::<Conflict>(&format!(
        r#"{{"id":"c2","file_path":"src/a.rs","pattern":"src/*.rs","holders":[{holder}],"detected_at":"2026-01-02T03:04:05Z","resolved_at":"2026-01-02T03:14:05Z","resolution":"released"}}"#
    ));
}

#[test]
fn events() {
    let samples = [
        r#"{"type":"agent_idle","timestamp":"2026-01-02T03:04:05Z","agent_id":"%3","details":{"agent_type":"cc","prev_status":"GENERATING","new_status":"WAITING","pane_index":2}}"#,
        r#"{"type":"work_assigned","timestamp":"2026-01-02T03:04:05Z","agent_id":"%3","details":{"bead_id":"bd-1","bead_title":"T","agent_type":"cc","score":0.57}}"#,
        r#"{"type":"conflict_detected","timestamp":"2026-01-02T03:04:05Z","details":{"conflict_id":"c1","pattern":"src/**","holders":["A","B"],"requested":"B"}}"#,
        r#"{"type":"digest_sent","timestamp":"2026-01-02T03:04:05Z","details":{"agent_count":4,"active_count":2,"alert_count":1}}"#,
        r#"{"type":"digest_failed","timestamp":"2026-01-02T03:04:05Z","details":{"error":"agent mail not available"}}"#,
        r#"{"type":"conflict_resolved","timestamp":"2026-01-02T03:04:05Z"}"#,
        r#"{"type":"prompt_stalled","timestamp":"2026-01-02T03:04:05Z","agent_id":"%4","details":{"bead_id":"bd-2","attempts":2}}"#,
        r#"{"type":"some_future_event","timestamp":"2026-01-02T03:04:05Z"}"#,
    ];
    for s in samples {
        round_trip::<CoordinatorEvent>(s);
    }
}

#[test]
fn digest() {
    round_trip::<DigestSummary>(
        r#"{"session":"proj","generated_at":"2026-01-02T03:04:05Z","agent_count":3,"active_count":1,"idle_count":1,"error_count":1,
            "agent_statuses":[{"pane_index":1,"agent_type":"cc","status":"WAITING","context_usage":12,"idle_for":"42s"},
                              {"pane_index":2,"agent_type":"cod","status":"GENERATING","context_usage":50.5,"task":"bd-1"},
                              {"pane_index":3,"agent_type":"gmi","status":"ERROR","context_usage":90}],
            "alerts":["Agent 3 (gmi) in error state","Agent 3 (gmi) context at 90%"],
            "work_summary":{"pending_tasks":5,"in_progress_tasks":1,"completed_today":2,"blocked_tasks":3,"top_ready":["bd-4","bd-5"]}}"#,
    );
    round_trip::<WorkDigestSummary>(
        r#"{"pending_tasks":0,"in_progress_tasks":0,"completed_today":0,"blocked_tasks":0}"#,
    );
}

#[test]
fn quality() {
    round_trip::<ScanMetrics>(
        r#"{"timestamp":"2026-01-02T03:04:05Z","duration_ms":1200,"critical":1,"warning":3,"info":7,"files":12,"exit_code":1}"#,
    );
    round_trip::<TestRunMetrics>(
        r#"{"timestamp":"2026-01-02T03:04:05Z","agent_pane_id":"%3","passed":10,"failed":1,"skipped":2,"duration_ms":3400,"package":"./internal/x"}"#,
    );
    round_trip::<AgentQualityMetrics>(
        r#"{"pane_id":"%3","agent_type":"cc","tests_passed":10,"tests_failed":1,"tests_total":13,"error_count":2,"recovery_count":1,
            "bugs_introduced":0,"bugs_fixed":3,"avg_context_usage":44.2,"peak_context_usage":81,"context_samples":20,
            "last_activity":"2026-01-02T03:04:05Z","last_error":"0001-01-01T00:00:00Z","error_history":["2026-01-02T02:04:05Z","2026-01-02T03:00:00Z"]}"#,
    );
    let trend = r#"{"bug_trend":"improving","test_trend":"stable","error_trend":"declining","context_trend":"unknown","last_updated":"2026-01-02T03:04:05Z"}"#;
    round_trip::<QualityTrend>(trend);
    round_trip::<QualitySummary>(&format!(
        r#"{{"timestamp":"2026-01-02T03:04:05Z","ubs_available":true,"critical_bugs":1,"warnings":2,"total_findings":5,"last_scan_age_minutes":3,
            "scan_healthy":true,"consecutive_scan_errors":1,"test_pass_rate":92.5,"recent_test_runs":4,"total_test_runs":12,"tests_passed_all":120,
            "tests_failed_all":10,"total_agent_errors":3,"error_rate":0.5,"avg_context_usage":40,"peak_context_usage":88,"high_context_count":1,
            "trend":{trend},"alerts":["Critical bugs detected by UBS - address immediately"]}}"#
    ));
}

#[test]
fn triage_example_from_the_spec() {
    let json = include_str!("fixtures/bv_triage_example.json");
    let t: TriageResponse = round_trip(json);
    assert_eq!(t.triage.recommendations.len(), 3);
    assert_eq!(t.triage.quick_ref.top_picks[0].id, "demo-r2r.1");
    let r = &t.triage.recommendations[0];
    assert_eq!(
        r.breakdown.as_ref().map(|b| b.betweenness_norm),
        Some(Some(1.0))
    );
    assert!(t.triage.recommendations[2].is_blocked());
    assert_eq!(
        t.triage.recommendations[1].assignee.as_deref(),
        Some("agent-1")
    );
}

#[test]
fn triage_tolerates_unknown_fields_and_nulls() {
    let json = r#"{"generated_at":"2026-01-02T03:04:05Z","data_hash":"empty","source_evidence":{"x":1},
        "triage":{"meta":{"version":"1.0.0","generated_at":"2026-01-02T03:04:05Z","phase2_ready":true,"issue_count":0,"compute_time_ms":0,"new_meta":true},
                  "quick_ref":{"open_count":0,"actionable_count":0,"blocked_count":0,"in_progress_count":0,"not_closed_count":0,"not_actionable_count":0,"top_picks":[]},
                  "recommendations":[{"id":"a","title":"t","type":"task","status":"open","priority":2,"labels":null,"score":0.1,"action":"x","reasons":[],"brand_new":1}],
                  "quick_wins":[],"blockers_to_clear":[]},
        "usage_hints":[]}"#;
    let t: TriageResponse = round_trip(json);
    assert!(t.extra.contains_key("source_evidence"));
    assert!(t.triage.recommendations[0].labels().is_empty());
}

#[test]
fn beads_issue_record() {
    let line = include_str!("fixtures/issue_line.jsonl").trim();
    let issue: Issue = round_trip(line);
    assert_eq!(issue.dependencies.len(), 2);
    assert_eq!(issue.dependencies[1].kind(), "parent-child");
    assert_eq!(issue.estimated_minutes, Some(240));
    assert!(issue.extra.contains_key("compaction_level"));
    // Old exports: `depends_on` and no type.
    let old: Issue = serde_json::from_str(
        r#"{"id":"x","title":"t","dependencies":[{"issue_id":"x","depends_on":"y"}]}"#,
    )
    .unwrap();
    assert_eq!(old.dependencies[0].depends_on_id, "y");
    assert_eq!(old.dependencies[0].kind(), "blocks");
    assert_eq!(old.status, "open");
    assert_eq!(old.priority, 2);
    assert_eq!(old.issue_type, "task");
}

#[test]
fn persona() {
    round_trip::<Persona>(
        r#"{"name":"docs","tags":["documentation"],"focus_patterns":["docs/**"]}"#,
    );
}
