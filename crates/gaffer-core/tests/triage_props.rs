//! Property tests of the native triage over generated issue graphs (fixed-seed PRNG): every
//! score is finite and in range, the same input gives the same output (in any input order), and
//! nothing blocked is ever in the ready set or the top picks.

use gaffer_core::beads::{Comment, Dependency, Issue};
use gaffer_core::time::{Timestamp, parse_rfc3339};
use gaffer_core::triage_engine::metrics::SplitMix64;
use gaffer_core::triage_engine::{TriageOptions, ready_ids, triage_with};
use gaffer_core::work_source::work_digest;
use std::collections::{HashMap, HashSet};

fn now() -> Timestamp {
    parse_rfc3339("2026-11-28T12:00:00Z").expect("now")
}

struct Gen(SplitMix64);

impl Gen {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next() % n.max(1) as u64) as usize
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn time(&mut self) -> Option<Timestamp> {
        if self.chance(10) {
            return None;
        }
        // From 90 days ago to 5 days ahead (clock skew happens).
        let minutes = self.below(95 * 24 * 60) as i64 - 90 * 24 * 60;
        Some(now() + chrono::Duration::minutes(minutes))
    }
}

fn generate(seed: u64, n: usize) -> Vec<Issue> {
    let mut g = Gen(SplitMix64::new(seed));
    let statuses = [
        "open",
        "open",
        "open",
        "in_progress",
        "blocked",
        "closed",
        "tombstone",
        "deferred",
        "review",
    ];
    let types = ["task", "bug", "feature", "epic", "chore", "docs"];
    let labels = [
        "urgent",
        "backend",
        "Critical-path",
        "docs",
        "asap",
        "hotfix",
    ];
    let kinds = [
        "blocks",
        "blocks",
        "",
        "parent-child",
        "related",
        "conditional-blocks",
        "waits-for",
        "discovered-from",
    ];
    let ids: Vec<String> = (0..n).map(|i| format!("p-{i:04}")).collect();
    (0..n)
        .map(|i| {
            let status = g.pick(&statuses).to_string();
            let created = g.time();
            let updated = g.time();
            let ndeps = g.below(4);
            let dependencies = (0..ndeps)
                .map(|_| {
                    let target = if g.chance(5) {
                        "p-missing".to_string()
                    } else if g.chance(3) {
                        "external:x-1".to_string()
                    } else {
                        ids[g.below(n)].clone()
                    };
                    Dependency {
                        issue_id: ids[i].clone(),
                        depends_on_id: target,
                        dep_type: g.pick(&kinds).to_string(),
                        ..Default::default()
                    }
                })
                .collect();
            let nlabels = g.below(3);
            let mut ls: Vec<String> = (0..nlabels).map(|_| g.pick(&labels).to_string()).collect();
            ls.sort();
            ls.dedup();
            let ncomments = g.below(3);
            Issue {
                id: ids[i].clone(),
                title: format!("Issue {i}"),
                status: status.clone(),
                priority: g.below(7) as i64 - 1,
                issue_type: g.pick(&types).to_string(),
                assignee: g.chance(20).then(|| "agent-x".to_string()),
                estimated_minutes: g.chance(50).then(|| g.below(1000) as i64 - 100),
                created_at: created,
                updated_at: updated,
                closed_at: (status == "closed").then(|| g.time()).flatten(),
                defer_until: g.chance(15).then(|| g.time()).flatten(),
                source_repo: g.chance(50).then(|| g.pick(&["a", "b", "."]).to_string()),
                pinned: g.chance(3),
                labels: ls,
                dependencies,
                comments: (0..ncomments)
                    .map(|k| Comment {
                        id: serde_json::json!(k),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            }
        })
        .collect()
}

fn in_unit(x: f64) -> bool {
    x.is_finite() && (-1e-12..=1.0 + 1e-12).contains(&x)
}

/// Returns how many ready issues and top picks were checked.
fn check(issues: &[Issue], opts: &TriageOptions) -> (usize, usize) {
    let t = triage_with(issues, now(), opts);
    for r in &t.ranked {
        assert!(in_unit(r.score), "{} score {}", r.id, r.score);
        assert!(in_unit(t.base_scores[&r.id]), "{} base", r.id);
        let b = r.breakdown.as_ref().expect("breakdown");
        for (name, v, w) in [
            ("pagerank", b.pagerank_norm, b.pagerank),
            ("betweenness", b.betweenness_norm, b.betweenness),
            ("blocker_ratio", b.blocker_ratio_norm, b.blocker_ratio),
            ("staleness", b.staleness_norm, b.staleness),
            ("priority", b.priority_boost_norm, b.priority_boost),
            ("tti", b.time_to_impact_norm, b.time_to_impact),
            ("urgency", b.urgency_norm, b.urgency),
            ("risk", b.risk_norm, b.risk),
        ] {
            let v = v.expect("norm");
            assert!(in_unit(v), "{} {name}_norm {v}", r.id);
            assert!(in_unit(w) && w <= v + 1e-12, "{} {name} {w}", r.id);
        }
        let rs = b.risk_signals.as_ref().expect("risk signals");
        for v in [
            rs.fan_variance,
            rs.activity_churn,
            rs.cross_repo_risk,
            rs.status_risk,
            rs.composite_risk,
        ] {
            assert!(in_unit(v), "{} risk signal {v}", r.id);
        }
        assert!(!r.reasons.is_empty() && !r.action.is_empty());
    }
    // Sorted by score desc, then id.
    for w in t.ranked.windows(2) {
        assert!(
            w[0].score > w[1].score || (w[0].score == w[1].score && w[0].id < w[1].id),
            "order {} {}",
            w[0].id,
            w[1].id
        );
    }
    let tr = &t.response.triage;
    for q in &tr.quick_wins {
        assert!(q.score.is_finite() && q.score >= 0.0);
    }
    let health = tr.project_health.as_ref().expect("health");
    assert!(health.graph.density.is_finite() && health.graph.density >= 0.0);
    assert!(health.counts.actionable <= health.counts.not_closed);

    // Nothing blocked in the ready set or the top picks.
    let by_id: HashMap<&str, _> = t.ranked.iter().map(|r| (r.id.as_str(), r)).collect();
    let ready = ready_ids(issues, now());
    for id in &ready {
        let r = by_id.get(id.as_str()).expect("ready issues are ranked");
        assert!(
            r.blocked_by.is_empty(),
            "ready {id} blocked by {:?}",
            r.blocked_by
        );
        assert_eq!(r.status, "open");
    }
    for p in &tr.quick_ref.top_picks {
        let r = by_id[p.id.as_str()];
        assert!(r.blocked_by.is_empty(), "top pick {} blocked", p.id);
        assert_eq!(r.status, "open");
        assert!(r.assignee.is_none());
        assert_ne!(r.issue_type, "epic");
    }
    // The digest's top ready ids are all ready.
    let ranked: Vec<String> = t.ranked.iter().map(|r| r.id.clone()).collect();
    let digest = work_digest(issues, &ranked, &ready, now(), 5);
    let ready_set: HashSet<&String> = ready.iter().collect();
    assert!(digest.top_ready.iter().all(|id| ready_set.contains(id)));
    assert!(digest.pending_tasks >= ready.len() as i64 - digest.blocked_tasks.max(0));

    // Same input, same output — also with the lines in another order.
    let again = triage_with(issues, now(), opts);
    assert_eq!(again, t);
    let mut reversed = issues.to_vec();
    reversed.reverse();
    let rev = triage_with(&reversed, now(), opts);
    assert_eq!(rev.ranked, t.ranked);
    assert_eq!(rev.response, t.response);
    (ready.len(), tr.quick_ref.top_picks.len())
}

#[test]
fn properties_hold_on_generated_graphs() {
    let opts = TriageOptions::default();
    let (mut ready, mut picks) = (0, 0);
    for seed in 1..=120u64 {
        let n = 1 + (seed as usize * 7) % 60;
        let (r, p) = check(&generate(seed, n), &opts);
        ready += r;
        picks += p;
    }
    // The properties were not checked vacuously.
    assert!(ready > 100 && picks > 100, "ready {ready}, picks {picks}");
}

#[test]
fn properties_hold_with_sampled_betweenness() {
    let opts = TriageOptions {
        betweenness_exact_limit: 30,
        betweenness_samples: 12,
        ..TriageOptions::default()
    };
    for seed in 500..520u64 {
        check(&generate(seed, 150), &opts);
    }
    let t = triage_with(&generate(7, 150), now(), &opts);
    let bw = &t.response.triage.status["Betweenness"];
    assert_eq!(bw.state, "approx");
    assert_eq!(bw.sample, Some(12));
}

#[test]
fn empty_input_is_valid() {
    let t = triage_with(&[], now(), &TriageOptions::default());
    assert!(t.ranked.is_empty());
    assert_eq!(t.response.data_hash, "empty");
    assert_eq!(t.response.triage.meta.issue_count, 0);
}
