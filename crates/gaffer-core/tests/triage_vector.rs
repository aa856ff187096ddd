//! The test vector of spec/beads.md §4.8, reproduced by the native triage within 1e-3.

use gaffer_core::beads::Issue;
use gaffer_core::time::parse_rfc3339;
use gaffer_core::triage_engine::triage;

fn issues() -> Vec<Issue> {
    include_str!("fixtures/triage_vector.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("fixture line parses"))
        .collect()
}

/// (id, base, unblocks, blocked_by, score) from the spec's table.
type Row = (
    &'static str,
    f64,
    &'static [&'static str],
    &'static [&'static str],
    f64,
);

const VECTOR: [Row; 7] = [
    ("demo-r2r.1", 0.6367, &["demo-0mj"], &[], 0.5712),
    ("demo-qtf", 0.5187, &["demo-uh2"], &[], 0.3931),
    ("demo-r2r", 0.2535, &[], &[], 0.2154),
    ("demo-t7v", 0.2174, &[], &[], 0.1848),
    ("demo-0mj", 0.2166, &[], &["demo-r2r.1"], 0.1733),
    ("demo-ext", 0.1958, &[], &[], 0.1664),
    ("demo-uh2", 0.1718, &[], &["demo-qtf"], 0.1374),
];

#[test]
fn spec_test_vector_is_reproduced_within_1e3() {
    let now = parse_rfc3339("2026-11-28T19:05:00Z").expect("now");
    let t = triage(&issues(), now);
    let ids: Vec<&str> = t.ranked.iter().map(|r| r.id.as_str()).collect();
    let want: Vec<&str> = VECTOR.iter().map(|v| v.0).collect();
    assert_eq!(ids, want, "order");
    let mut max_err: f64 = 0.0;
    for (rec, (id, base, unblocks, blocked_by, score)) in t.ranked.iter().zip(VECTOR) {
        let got_base = t.base_scores[id];
        max_err = max_err
            .max((got_base - base).abs())
            .max((rec.score - score).abs());
        assert!(
            (got_base - base).abs() < 1e-3,
            "{id} base {got_base} vs {base}"
        );
        assert!(
            (rec.score - score).abs() < 1e-3,
            "{id} score {} vs {score}",
            rec.score
        );
        assert_eq!(rec.unblocks_ids, unblocks, "{id} unblocks");
        assert_eq!(rec.blocked_by, blocked_by, "{id} blocked_by");
    }
    println!("max score error vs §4.8: {max_err:.6}");
    let picks: Vec<&str> = t
        .response
        .triage
        .quick_ref
        .top_picks
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(picks, ["demo-r2r.1", "demo-t7v", "demo-ext"]);
}

#[test]
fn spec_example_breakdown_and_texts_match() {
    let now = parse_rfc3339("2026-11-28T19:05:00Z").expect("now");
    let t = triage(&issues(), now);
    let r = &t.ranked[0];
    let bd = r.breakdown.as_ref().expect("breakdown");
    let close = |a: f64, b: f64| (a - b).abs() < 1e-3;
    assert!(close(bd.pagerank_norm.unwrap_or(-1.0), 0.7191), "{bd:?}");
    assert!(close(bd.betweenness_norm.unwrap_or(-1.0), 1.0));
    assert!(close(bd.urgency_norm.unwrap_or(-1.0), 0.41));
    assert!(close(bd.risk_norm.unwrap_or(-1.0), 0.125));
    assert_eq!(r.action, "Quick win - start here for fast progress");
    assert_eq!(
        r.reasons,
        [
            "🔓 Unblocks 1 item(s): demo-0mj",
            "🔀 Critical path bottleneck (betweenness: 100%)",
            "📊 High centrality in dependency graph (PageRank: 72%)",
            "⚡ Low effort, high impact - good starting point",
            "✅ Currently unclaimed - available for work",
            "🚨 High priority (P1) - prioritize this work",
        ]
    );
    assert_eq!(
        bd.time_to_impact_explanation.as_deref(),
        Some("Leaf node, explicit estimate 240m")
    );
    let qtf = &t.ranked[1];
    assert_eq!(qtf.action, "Contact agent-1 if you want to help");
    assert_eq!(
        qtf.breakdown
            .as_ref()
            .and_then(|b| b.urgency_explanation.as_deref()),
        Some("has 'urgent' label")
    );
    let mj = t.ranked.iter().find(|r| r.id == "demo-0mj").expect("0mj");
    assert_eq!(mj.action, "Work on demo-r2r.1 first to unblock this");
    assert!(
        mj.reasons
            .contains(&"📅 Last updated 10 days ago".to_string())
    );
    let tr = &t.response.triage;
    assert_eq!(tr.quick_ref.open_count, 6);
    assert_eq!(tr.quick_ref.actionable_count, 5);
    assert_eq!(tr.quick_ref.in_progress_count, 1);
    assert_eq!(tr.quick_ref.not_closed_count, 7);
    let wins: Vec<(&str, f64)> = tr
        .quick_wins
        .iter()
        .map(|q| (q.id.as_str(), q.score))
        .collect();
    assert_eq!(
        wins[..3].iter().map(|w| w.0).collect::<Vec<_>>(),
        ["demo-qtf", "demo-r2r", "demo-r2r.1"]
    );
    assert!(wins[..3].iter().all(|w| close(w.1, 0.5)));
    assert_eq!(tr.quick_wins[0].reason, "Unblocks 1 items, high priority");
    assert_eq!(tr.quick_wins[1].reason, "Low complexity, high priority");
    let blockers: Vec<&str> = tr.blockers_to_clear.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(blockers, ["demo-qtf", "demo-r2r.1"]);
    let health = tr.project_health.as_ref().expect("health");
    assert_eq!(health.graph.edge_count, 3);
    assert!(close(health.graph.density, 0.0536));
    let vel = health.velocity.as_ref().expect("velocity");
    assert_eq!(vel.closed_last_7_days, 1);
    assert!(close(vel.avg_days_to_close, 10.0));
    assert_eq!(
        tr.commands["claim_top"],
        "CI=1 br update demo-r2r.1 --status in_progress --json"
    );
}

#[test]
fn work_digest_figures_come_from_the_issues() {
    use gaffer_core::triage_engine::ready_ids;
    use gaffer_core::work_source::work_digest;
    let now = parse_rfc3339("2026-11-28T19:05:00Z").expect("now");
    let mut issues = issues();
    let t = triage(&issues, now);
    let ranked: Vec<String> = t.ranked.iter().map(|r| r.id.clone()).collect();
    let ready = ready_ids(&issues, now);
    // The epic with open children is not ready (br's rule).
    assert_eq!(ready, ["demo-ext", "demo-r2r.1", "demo-t7v"]);
    let d = work_digest(&issues, &ranked, &ready, now, 5);
    assert_eq!(d.pending_tasks, 4, "{d:?}");
    assert_eq!(d.in_progress_tasks, 1);
    assert_eq!(d.blocked_tasks, 2);
    assert_eq!(d.completed_today, 0);
    assert_eq!(d.top_ready, ["demo-r2r.1", "demo-t7v", "demo-ext"]);
    // Closed this morning counts as completed today; ranking limited to 2.
    let mil = issues.iter_mut().find(|i| i.id == "demo-mil").expect("mil");
    mil.closed_at = Some(parse_rfc3339("2026-11-28T08:00:00Z").expect("t"));
    let d = work_digest(&issues, &ranked, &ready, now, 2);
    assert_eq!(d.completed_today, 1);
    assert_eq!(d.top_ready, ["demo-r2r.1", "demo-t7v"]);
}
