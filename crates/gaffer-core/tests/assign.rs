//! Assignment policy: strategies, global matching, back-off, scope, overlap.

use gaffer_core::assign::*;
use gaffer_core::time::parse_rfc3339;
use gaffer_core::triage::{TriageBreakdown, TriageRecommendation, TriageResponse, TriageResult};
use gaffer_core::*;
use std::time::Duration;

fn t0() -> Timestamp {
    parse_rfc3339("2026-01-01T00:00:00Z").unwrap()
}

fn agent(pane: &str, ty: &str) -> AgentState {
    let mut a = AgentState::new(
        pane,
        pane.trim_start_matches('%').parse().unwrap_or(0),
        ty,
        t0(),
    );
    a.status = AgentStatus::Waiting;
    a
}

fn bead(id: &str, title: &str, ty: &str, priority: i64, score: f64) -> TriageRecommendation {
    TriageRecommendation {
        id: id.into(),
        title: title.into(),
        issue_type: ty.into(),
        status: "open".into(),
        priority,
        score,
        ..Default::default()
    }
}

fn pairs(list: &[Assignment]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = list
        .iter()
        .map(|a| (a.agent.pane_id.clone(), a.bead.id.clone()))
        .collect();
    v.sort();
    v
}

#[test]
fn round_robin_splits_thirteen_over_four() {
    let agents: Vec<AgentState> = ["%1", "%2", "%3", "%4"]
        .iter()
        .map(|p| agent(p, "cc"))
        .collect();
    let beads: Vec<TriageRecommendation> = (0..13)
        .map(|i| bead(&format!("b{i}"), "t", "task", 2, 0.5))
        .collect();
    let got = assign_tasks(
        &beads,
        &agents,
        AssignmentStrategy::RoundRobin,
        &ReservationMap::new(),
    );
    assert_eq!(got.len(), 13);
    let count = |p: &str| got.iter().filter(|a| a.agent.pane_id == p).count();
    assert_eq!(
        [count("%1"), count("%2"), count("%3"), count("%4")],
        [4, 3, 3, 3]
    );
    assert_eq!(
        got[0].reason,
        "round-robin assignment: bead 1 → agent 1 (cc)"
    );
    assert_eq!(
        got[5].reason,
        "round-robin assignment: bead 6 → agent 2 (cc)"
    );
    assert!(got.iter().all(|a| a.score == 1.0 && a.confidence == 1.0));
}

#[test]
fn empty_inputs_give_nothing() {
    let a = vec![agent("%1", "cc")];
    let b = vec![bead("x", "t", "task", 2, 0.5)];
    for s in AssignmentStrategy::ALL {
        assert!(assign_tasks(&[], &a, s, &ReservationMap::new()).is_empty());
        assert!(assign_tasks(&b, &[], s, &ReservationMap::new()).is_empty());
    }
}

#[test]
fn only_waiting_agents_with_room_and_unblocked_beads() {
    let mut busy = agent("%1", "cc");
    busy.status = AgentStatus::Generating;
    let mut full = agent("%2", "cc");
    full.context_usage = 91.0;
    let mut limited = agent("%3", "cc");
    limited.status = AgentStatus::RateLimited;
    let ok = agent("%4", "cc");
    let mut blocked = bead("blk", "t", "task", 2, 0.9);
    blocked.blocked_by = vec!["x".into()];
    let free = bead("free", "t", "task", 2, 0.3);
    for s in AssignmentStrategy::ALL {
        let got = assign_tasks(
            &[blocked.clone(), free.clone()],
            &[busy.clone(), full.clone(), limited.clone(), ok.clone()],
            s,
            &ReservationMap::new(),
        );
        assert_eq!(
            pairs(&got),
            vec![("%4".to_string(), "free".to_string())],
            "{s}"
        );
    }
}

#[test]
fn each_agent_and_bead_at_most_once_and_capped() {
    let agents: Vec<AgentState> = (1..=3).map(|i| agent(&format!("%{i}"), "cc")).collect();
    let beads: Vec<TriageRecommendation> = (0..7)
        .map(|i| bead(&format!("b{i}"), "t", "feature", 2, 0.1 * i as f64 + 0.1))
        .collect();
    for s in [
        AssignmentStrategy::Balanced,
        AssignmentStrategy::Speed,
        AssignmentStrategy::Quality,
        AssignmentStrategy::Dependency,
    ] {
        let got = assign_tasks(&beads, &agents, s, &ReservationMap::new());
        assert_eq!(got.len(), 3, "{s}");
        let mut a: Vec<_> = got.iter().map(|x| x.agent.pane_id.clone()).collect();
        a.dedup();
        assert_eq!(a.len(), 3);
        let mut b: Vec<_> = got.iter().map(|x| x.bead.id.clone()).collect();
        b.sort();
        b.dedup();
        assert_eq!(b.len(), 3);
        // Sorted by score, highest first.
        assert!(got.windows(2).all(|w| w[0].score >= w[1].score));
    }
}

#[test]
fn score_and_select_uses_the_given_config_and_time() {
    let a1 = agent("%1", "cc");
    let mut a2 = agent("%2", "cc");
    a2.context_usage = 89.0;
    let mut blocked = bead("b3", "t", "task", 2, 0.9);
    blocked.status = "blocked".into();
    let triage = TriageResponse {
        generated_at: t0(),
        data_hash: String::new(),
        degraded: None,
        triage: TriageResult {
            recommendations: vec![
                bead("b1", "One", "task", 2, 0.50),
                bead("b2", "Two", "task", 2, 0.48),
                blocked,
            ],
            ..Default::default()
        },
        feedback: None,
        usage_hints: vec![],
        extra: Default::default(),
    };
    let sel = score_and_select_assignments(
        &[a1, a2],
        &triage,
        &ScoreConfig::default(),
        &ReservationMap::new(),
        t0(),
    );
    assert_eq!(sel.len(), 2);
    assert!(
        sel.iter().all(|s| s.recommendation.id != "b3"),
        "blocked skipped"
    );
    assert_eq!(sel[0].assignment.assigned_at, t0());
    assert!(sel[0].total_score >= sel[1].total_score);
    let penalized = sel.iter().find(|s| s.agent.pane_id == "%2").unwrap();
    assert!((penalized.score_breakdown.context_penalty - 0.045).abs() < 1e-9);
}

#[test]
fn global_matching_beats_first_fit() {
    let res = ReservationMap::new();
    // One agent is best at both tasks; the other may only take one of them (it backs off from
    // the other).
    let mut strong = agent("%1", "cc");
    strong.profile = Some(Persona {
        name: "t".into(),
        tags: vec!["testing".into()],
        ..Default::default()
    });
    let weak = agent("%2", "cc");
    let tests = bead("t1", "Write tests for parser", "task", 2, 0.50); // strong: +0.25 (quality weights) 
    let other = bead("o1", "Misc", "task", 2, 0.45);
    // weak cannot take `other` because it is backing off from it.
    let mut book = BackoffBook::new(Duration::from_secs(60), Duration::from_secs(600));
    book.record("%2", "o1", BackoffReason::Refused, t0());
    let opts = PlanOptions {
        backoff: Some(&book),
        now: Some(t0()),
        ..Default::default()
    };
    let got = plan_assignments(
        &[tests.clone(), other.clone()],
        &[strong.clone(), weak.clone()],
        AssignmentStrategy::Quality,
        &res,
        &opts,
    );
    // First-fit would take strong/t1 (the single best pair, 0.75) and leave weak with nothing
    // (o1 is backed off for weak): total 0.75. Global: strong/o1 (0.45) + weak/t1 (0.50) = 0.95.
    assert_eq!(
        pairs(&got),
        vec![("%1".into(), "o1".into()), ("%2".into(), "t1".into())]
    );
    let total: f64 = got.iter().map(|a| a.score).sum();
    assert!(total > 0.75 + 1e-9, "global total {total}");
}

#[test]
fn backoff_keeps_a_refused_task_away_until_it_expires() {
    let a = agent("%1", "cc");
    let b = bead("x", "t", "task", 2, 0.5);
    let mut book = BackoffBook::new(Duration::from_secs(60), Duration::from_secs(600));
    book.record("%1", "x", BackoffReason::Stalled, t0());
    let soon = PlanOptions {
        backoff: Some(&book),
        now: Some(t0() + chrono::Duration::seconds(30)),
        ..Default::default()
    };
    assert!(
        plan_assignments(
            std::slice::from_ref(&b),
            std::slice::from_ref(&a),
            AssignmentStrategy::Speed,
            &ReservationMap::new(),
            &soon
        )
        .is_empty()
    );
    let later = PlanOptions {
        backoff: Some(&book),
        now: Some(t0() + chrono::Duration::seconds(61)),
        ..Default::default()
    };
    assert_eq!(
        plan_assignments(
            &[b],
            &[a],
            AssignmentStrategy::Speed,
            &ReservationMap::new(),
            &later
        )
        .len(),
        1
    );
}

#[test]
fn a_bead_for_some_agents_only_goes_to_none_other() {
    // %1 is the better agent for `x` (quality strategy, type bonus on tests), but `x` may go
    // to %2 only; `y` to nobody.
    let agents = [agent("%1", "cc"), agent("%2", "cod")];
    let beads = [
        bead("x", "Write tests for the parser", "task", 2, 0.5),
        bead("y", "t", "task", 2, 0.5),
        bead("z", "u", "task", 2, 0.3),
    ];
    let only: std::collections::BTreeMap<String, Vec<String>> = [
        ("x".to_string(), vec!["%2".to_string()]),
        ("y".to_string(), vec![]),
    ]
    .into();
    let opts = PlanOptions {
        only_for: Some(&only),
        ..Default::default()
    };
    for strategy in [
        AssignmentStrategy::Quality,
        AssignmentStrategy::Balanced,
        AssignmentStrategy::Speed,
    ] {
        let got = plan_assignments(&beads, &agents, strategy, &ReservationMap::new(), &opts);
        assert_eq!(
            pairs(&got),
            [("%1".into(), "z".into()), ("%2".into(), "x".into())],
            "{strategy:?}"
        );
    }
    let free = plan_assignments(
        &beads,
        &agents,
        AssignmentStrategy::Quality,
        &ReservationMap::new(),
        &PlanOptions::default(),
    );
    assert!(
        pairs(&free).contains(&("%1".into(), "x".into())),
        "without the rule %1 takes x: {:?}",
        pairs(&free)
    );
    // Round-robin deals no bead to an agent it is not for (borrowed beads plan alike).
    let refs: Vec<&TriageRecommendation> = beads.iter().collect();
    let dealt = plan_assignments(
        &refs,
        &agents,
        AssignmentStrategy::RoundRobin,
        &ReservationMap::new(),
        &opts,
    );
    assert_eq!(pairs(&dealt), [("%1".into(), "z".into())]);
}

#[test]
fn persona_focus_limits_scope() {
    let mut docs = agent("%1", "cc");
    docs.profile = Some(Persona {
        name: "docs".into(),
        focus_patterns: vec!["docs/**".into()],
        ..Default::default()
    });
    let plain = agent("%2", "cc");
    let doc_task = bead("d", "Rewrite docs/guide.md", "task", 2, 0.5);
    let code_task = bead("c", "Fix src/main.rs", "bug", 2, 0.5);
    let got = assign_tasks(
        &[doc_task.clone(), code_task.clone()],
        &[docs.clone(), plain.clone()],
        AssignmentStrategy::Balanced,
        &ReservationMap::new(),
    );
    assert_eq!(
        pairs(&got),
        vec![("%1".into(), "d".into()), ("%2".into(), "c".into())]
    );
    // With only the plain agent, it is not limited by someone else's persona being absent.
    let got = assign_tasks(
        &[doc_task],
        &[plain],
        AssignmentStrategy::Balanced,
        &ReservationMap::new(),
    );
    assert_eq!(got.len(), 1);
}

#[test]
fn balanced_prefers_the_less_loaded_agent() {
    let mut loaded = agent("%1", "cc");
    loaded.assignments = 3;
    let idle = agent("%2", "cc");
    let b = bead("x", "t", "task", 2, 0.5);
    let got = assign_tasks(
        &[b],
        &[loaded, idle],
        AssignmentStrategy::Balanced,
        &ReservationMap::new(),
    );
    assert_eq!(pairs(&got), vec![("%2".into(), "x".into())]);
    assert!(got[0].reason.starts_with("even workload distribution"));
}

#[test]
fn dependency_takes_the_biggest_unblockers_first() {
    let a = agent("%1", "cc");
    let mut small = bead("small", "t", "task", 2, 0.9);
    small.unblocks_ids = vec![];
    let mut big = bead("big", "t", "task", 2, 0.2);
    big.unblocks_ids = vec!["a".into(), "b".into(), "c".into()];
    let got = assign_tasks(
        &[small, big],
        &[a],
        AssignmentStrategy::Dependency,
        &ReservationMap::new(),
    );
    assert_eq!(got[0].bead.id, "big");
    assert!(
        got[0].reason.starts_with("unblocks 3 tasks"),
        "{}",
        got[0].reason
    );
}

#[test]
fn speed_ignores_profiles_and_critical_path() {
    let a = agent("%1", "cc");
    let mut b = bead("x", "Add feature", "feature", 2, 0.5);
    b.breakdown = Some(TriageBreakdown {
        pagerank: 0.2,
        ..Default::default()
    });
    let got = assign_tasks(
        &[b.clone()],
        std::slice::from_ref(&a),
        AssignmentStrategy::Speed,
        &ReservationMap::new(),
    );
    assert_eq!(got[0].score, 0.5);
    assert_eq!(got[0].reason, "fastest available agent");
    let got = assign_tasks(
        &[b],
        &[a],
        AssignmentStrategy::Balanced,
        &ReservationMap::new(),
    );
    // +0.15 (cc on a 0.7 feature) + 0.4 (2 × pagerank)
    assert!((got[0].score - 1.05).abs() < 1e-9, "{}", got[0].score);
    assert_eq!(
        got[0].reason,
        "even workload distribution; agent type bonus +15%; on critical path"
    );
}

#[test]
fn quality_scores_move_work_toward_better_agents() {
    let a = agent("%1", "cc");
    let b = agent("%2", "cc");
    let task = bead("x", "t", "task", 2, 0.5);
    let mut opts = PlanOptions::default();
    opts.agent_quality.insert("%1".into(), 40.0);
    opts.agent_quality.insert("%2".into(), 95.0);
    let got = plan_assignments(
        &[task],
        &[a, b],
        AssignmentStrategy::Quality,
        &ReservationMap::new(),
        &opts,
    );
    assert_eq!(got[0].agent.pane_id, "%2");
    assert!(got[0].breakdown.quality_bonus > 0.0);
}

#[test]
fn overlap_with_other_agents_reservations_is_penalized() {
    let a = agent("%1", "cc");
    let b = agent("%2", "cc");
    let task = bead("x", "Fix src/a.rs", "bug", 2, 0.5);
    let mut res = ReservationMap::new();
    res.insert("%2".into(), vec!["src/**".into()]);
    let got = assign_tasks(&[task], &[a, b], AssignmentStrategy::Balanced, &res);
    // %1 would collide with %2's reservation (penalty 0.05); %2 holds it itself (no penalty).
    assert_eq!(got[0].agent.pane_id, "%2");
    assert_eq!(got[0].breakdown.file_overlap_penalty, 0.0);
}

#[test]
fn fresh_waiting_needs_idle_time_and_health() {
    let mut a = agent("%1", "cc");
    a.last_activity = t0();
    assert!(!is_fresh_waiting(
        &a,
        t0() + chrono::Duration::seconds(10),
        30.0
    ));
    assert!(is_fresh_waiting(
        &a,
        t0() + chrono::Duration::seconds(30),
        30.0
    ));
    a.healthy = false;
    assert!(!is_fresh_waiting(
        &a,
        t0() + chrono::Duration::seconds(60),
        30.0
    ));
}

#[test]
fn claimable_excludes_epics_claimed_and_blocked() {
    assert!(is_claimable(&bead("a", "t", "task", 2, 0.5)));
    assert!(!is_claimable(&bead("a", "t", "epic", 2, 0.5)));
    let mut claimed = bead("a", "t", "task", 2, 0.5);
    claimed.assignee = Some("x".into());
    assert!(!is_claimable(&claimed));
    let mut ip = bead("a", "t", "task", 2, 0.5);
    ip.status = "in_progress".into();
    assert!(!is_claimable(&ip));
}
