//! Native triage: `bv --robot-triage`'s scoring (spec/beads.md §4), computed from the issues.
//!
//! Pure and deterministic: time comes in as `now`, ties break by id, and sampling uses a fixed
//! seed. Betweenness is exact (Brandes over every source) up to
//! [`TriageOptions::betweenness_exact_limit`] nodes (default 2,000) and sampled above it
//! ([`TriageOptions::betweenness_samples`] pivots, default 500, seeded partial Fisher–Yates,
//! scaled by n / pivots). Only the max-normalized value enters the score.
//!
//! Deliberate differences from bv: `project_health.graph.has_cycles`/`cycle_count` report the
//! real blocking cycles (bv skips them in triage mode), `meta.compute_time_ms` is left to the
//! caller (no clock here), and `data_hash` is a 128-bit FNV fingerprint rather than SHA-256.

pub mod graph;
pub mod metrics;

use crate::beads::Issue;
use crate::time::{self, Timestamp};
use crate::triage::{
    BlockerItem, GraphHealth, HealthCounts, MetricStatus, ProjectHealth, QuickRef, QuickWin,
    RiskSignals, TopPick, TriageBreakdown, TriageMeta, TriageRecommendation, TriageResponse,
    TriageResult, Velocity, WeeklyClosed,
};
use chrono::{Datelike, Duration, TimeZone, Utc};
use graph::{BeadGraph, Blocking, is_deferred};
use metrics::BetweennessMode;
use std::collections::{BTreeMap, HashSet};

pub use graph::br_ready;

/// Component weights of the base impact score (§4.3).
pub mod weights {
    /// PageRank.
    pub const PAGERANK: f64 = 0.22;
    /// Betweenness.
    pub const BETWEENNESS: f64 = 0.20;
    /// Blocker ratio.
    pub const BLOCKER_RATIO: f64 = 0.13;
    /// Staleness.
    pub const STALENESS: f64 = 0.05;
    /// Priority boost.
    pub const PRIORITY: f64 = 0.10;
    /// Time to impact.
    pub const TIME_TO_IMPACT: f64 = 0.10;
    /// Urgency.
    pub const URGENCY: f64 = 0.10;
    /// Risk.
    pub const RISK: f64 = 0.10;
}

/// Tunables of the native triage.
#[derive(Debug, Clone, PartialEq)]
pub struct TriageOptions {
    /// Recommendations kept in the response (bv: 10).
    pub recommendations: usize,
    /// Top picks (bv: 3).
    pub top_picks: usize,
    /// Quick wins (bv: 5).
    pub quick_wins: usize,
    /// Blockers to clear (bv: 5).
    pub blockers: usize,
    /// Betweenness is exact up to this many nodes.
    pub betweenness_exact_limit: usize,
    /// Pivots sampled above the limit.
    pub betweenness_samples: usize,
    /// Labels that keep an issue out of the top picks (bv's `BV_ROBOT_NOT_READY_LABELS`).
    pub not_ready_labels: Vec<String>,
}

impl Default for TriageOptions {
    fn default() -> Self {
        TriageOptions {
            recommendations: 10,
            top_picks: 3,
            quick_wins: 5,
            blockers: 5,
            betweenness_exact_limit: 2000,
            betweenness_samples: 500,
            not_ready_labels: Vec::new(),
        }
    }
}

/// The result of a native triage run.
#[derive(Debug, Clone, PartialEq)]
pub struct NativeTriage {
    /// The response in bv's shape (recommendations capped).
    pub response: TriageResponse,
    /// Every non-closed issue, scored and sorted (score desc, then id).
    pub ranked: Vec<TriageRecommendation>,
    /// The base impact score of each ranked issue, by id.
    pub base_scores: BTreeMap<String, f64>,
    /// Ids that are claimable (the top-pick rule), in ranked order.
    pub claimable: Vec<String>,
}

/// Runs the triage with the default options.
pub fn triage(issues: &[Issue], now: Timestamp) -> NativeTriage {
    triage_with(issues, now, &TriageOptions::default())
}

/// The work an assignment round plans over: `response` (bv's or the native triage, capped at
/// ten recommendations, which may all be blocked or in progress) followed by every other
/// claimable issue of the full native ranking, in rank order. Without this, a fleet larger
/// than the claimable part of the top ten starves while ready beads wait further down.
pub fn with_claimable(mut response: TriageResponse, native: &NativeTriage) -> TriageResponse {
    let claimable: HashSet<&str> = native.claimable.iter().map(String::as_str).collect();
    let listed: HashSet<String> = response
        .triage
        .recommendations
        .iter()
        .map(|r| r.id.clone())
        .collect();
    response.triage.recommendations.extend(
        native
            .ranked
            .iter()
            .filter(|r| claimable.contains(r.id.as_str()) && !listed.contains(&r.id))
            .cloned(),
    );
    response
}

/// Seconds → days.
fn days_between(from: Timestamp, to: Timestamp) -> f64 {
    (to - from).num_milliseconds() as f64 / 86_400_000.0
}

/// Counts of §2.3/§2.6, with bv's actionable rule.
pub fn health_counts(issues: &[Issue], now: Timestamp) -> HealthCounts {
    let g = BeadGraph::new(issues);
    let b = Blocking::new(&g, now);
    counts_of(&g, &b)
}

fn counts_of(g: &BeadGraph<'_>, b: &Blocking) -> HealthCounts {
    let mut c = HealthCounts {
        total: g.len() as i64,
        ..HealthCounts::default()
    };
    for (i, issue) in g.issues.iter().enumerate() {
        match issue.status.as_str() {
            "open" => c.open += 1,
            "blocked" => c.blocked += 1,
            _ => {}
        }
        if g.closed(i) {
            c.closed += 1;
        } else {
            c.not_closed += 1;
        }
        if b.actionable[i] {
            c.actionable += 1;
        }
        *c.by_status.entry(issue.status.clone()).or_default() += 1;
        *c.by_type.entry(issue.issue_type.clone()).or_default() += 1;
        *c.by_priority.entry(issue.priority.to_string()).or_default() += 1;
    }
    c.dependency_blocked = c.not_closed - c.actionable;
    c
}

/// Ids in the native ready set (br's rule), sorted by id.
pub fn ready_ids(issues: &[Issue], now: Timestamp) -> Vec<String> {
    let g = BeadGraph::new(issues);
    br_ready(&g, now)
        .iter()
        .enumerate()
        .filter(|(_, r)| **r)
        .map(|(i, _)| g.id(i).to_string())
        .collect()
}

fn priority_boost(p: i64) -> f64 {
    match p {
        0 => 1.0,
        1 => 0.75,
        2 => 0.5,
        3 => 0.25,
        _ => 0.0,
    }
}

/// Median of the positive estimates (even count: `lo + (hi − lo) / 2` in integers).
fn median_estimate(g: &BeadGraph<'_>) -> Option<i64> {
    let mut est: Vec<i64> = g
        .issues
        .iter()
        .filter_map(|i| i.estimated_minutes)
        .filter(|&m| m > 0)
        .collect();
    if est.is_empty() {
        return None;
    }
    est.sort_unstable();
    let n = est.len();
    if n % 2 == 1 {
        Some(est[n / 2])
    } else {
        let (lo, hi) = (est[n / 2 - 1], est[n / 2]);
        Some(lo + (hi - lo) / 2)
    }
}

const URGENCY_KEYWORDS: [(&str, f64); 5] = [
    ("urgent", 0.8),
    ("critical", 1.0),
    ("blocker", 1.0),
    ("hotfix", 0.8),
    ("asap", 0.6),
];

struct Components {
    norm: [f64; 8],
    tti_expl: String,
    urgency_expl: Option<String>,
    risk: RiskSignals,
}

fn components(
    g: &BeadGraph<'_>,
    i: usize,
    now: Timestamp,
    pr: &[f64],
    bw: &[f64],
    max_in: usize,
    median: Option<i64>,
) -> Components {
    let issue = g.issues[i];
    let blocker_ratio = if max_in > 0 {
        g.dependents[i].len() as f64 / max_in as f64
    } else {
        0.0
    };
    let days_updated = issue.updated_at.map(|t| days_between(t, now));
    let days_created = issue.created_at.map(|t| days_between(t, now));
    let staleness = match days_updated {
        Some(d) => (d / 30.0).clamp(0.0, 1.0),
        None => 0.5,
    };
    let priority = priority_boost(issue.priority);
    let (est, tti_expl) = match issue.estimated_minutes.filter(|&m| m > 0) {
        Some(m) => (m, format!("Leaf node, explicit estimate {m}m")),
        None => match median {
            Some(m) => (m, format!("Leaf node, median estimate {m}m")),
            None => (60, "Leaf node, default estimate 60m".to_string()),
        },
    };
    // cp_depth is not computed in triage mode, so the depth part is 0.
    let tti = 0.3 * (1.0 - est as f64 / 480.0).clamp(0.0, 1.0);

    let mut urgency = 0.0;
    let mut urgency_expl = None;
    'labels: for label in &issue.labels {
        let lower = label.to_lowercase();
        for (kw, w) in URGENCY_KEYWORDS {
            if lower.contains(kw) {
                urgency += w;
                urgency_expl = Some(format!("has '{label}' label"));
                break 'labels;
            }
        }
    }
    if let Some(d) = days_created {
        urgency += 0.5 * (1.0 - (-d.max(0.0) / 7.0).exp());
    }
    let urgency = urgency.min(1.0);
    if urgency_expl.is_none() {
        if let Some(d) = days_created.filter(|d| *d >= 14.0) {
            urgency_expl = Some(format!("aging ({} days)", d.floor() as i64));
        } else if urgency > 0.1 {
            urgency_expl = Some("moderate time pressure".to_string());
        }
    }

    let risk = risk_signals(g, i, now, days_updated, days_created);
    let norm = [
        pr[i],
        bw[i],
        blocker_ratio,
        staleness,
        priority,
        tti,
        urgency,
        risk.composite_risk,
    ];
    Components {
        norm,
        tti_expl,
        urgency_expl,
        risk,
    }
}

fn risk_signals(
    g: &BeadGraph<'_>,
    i: usize,
    now: Timestamp,
    days_updated: Option<f64>,
    days_created: Option<f64>,
) -> RiskSignals {
    let issue = g.issues[i];
    let deps = &g.deps[i];
    let fan_variance = if deps.len() >= 2 {
        let vals: Vec<f64> = deps.iter().map(|&v| g.dependents[v].len() as f64).collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        if mean > 0.0 {
            let var = vals.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / vals.len() as f64;
            (var.sqrt() / mean / 2.0).min(1.0)
        } else {
            0.0
        }
    } else {
        0.0
    };
    let activity_churn = match (issue.created_at, days_created) {
        (Some(created), Some(dc)) => {
            let age = dc.max(1.0);
            let comments = issue.comments.len() as f64;
            let mut churn = 0.6 * (comments / age);
            if let Some(updated) = issue.updated_at {
                let span = days_between(created, updated);
                if span > 0.0 && age > 1.0 {
                    churn += 0.4 * (span / age);
                }
            }
            churn.clamp(0.0, 1.0)
        }
        _ => 0.0,
    };
    let own_repo = issue.source_repo.as_deref().unwrap_or("");
    let cross_repo_risk = if own_repo.is_empty() || deps.is_empty() {
        0.0
    } else {
        let cross = deps
            .iter()
            .filter(|&&v| {
                let r = g.issues[v].source_repo.as_deref().unwrap_or("");
                !r.is_empty() && r != own_repo
            })
            .count();
        cross as f64 / deps.len() as f64
    };
    let status_risk = match issue.status.as_str() {
        "blocked" => match days_updated {
            Some(d) if d > 7.0 => 0.9,
            _ => 0.7,
        },
        "in_progress" => match days_updated {
            None => 0.3,
            Some(d) if d > 14.0 => 0.8,
            Some(d) if d > 7.0 => 0.4,
            Some(_) => 0.1,
        },
        "open" => match days_created {
            Some(d) if d > 30.0 => 0.3,
            _ => 0.1,
        },
        _ => 0.0,
    };
    let _ = now;
    let composite =
        (0.3 * fan_variance + 0.3 * activity_churn + 0.2 * cross_repo_risk + 0.2 * status_risk)
            .min(1.0);
    let explanation = risk_explanation(
        composite,
        fan_variance,
        activity_churn,
        cross_repo_risk,
        status_risk,
    );
    RiskSignals {
        fan_variance,
        activity_churn,
        cross_repo_risk,
        status_risk,
        composite_risk: composite,
        explanation: Some(explanation),
    }
}

fn risk_explanation(composite: f64, fan: f64, churn: f64, cross: f64, status: f64) -> String {
    if composite < 0.2 {
        return "Low risk - stable dependency structure".to_string();
    }
    let mut parts = Vec::new();
    if fan >= 0.3 {
        parts.push("uneven dependency fan-in");
    }
    if churn >= 0.3 {
        parts.push("high activity churn");
    }
    if cross > 0.0 {
        parts.push("cross-repo dependencies");
    }
    if status >= 0.4 {
        parts.push("risky status");
    }
    let level = if composite >= 0.5 { "High" } else { "Moderate" };
    if parts.is_empty() {
        format!("{level} risk")
    } else {
        format!("{level} risk - {}", parts.join(", "))
    }
}

/// Whether an id can be pasted into a shell command unquoted.
fn shell_safe(id: &str) -> bool {
    !id.is_empty()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':' | '/'))
}

/// Runs the triage.
pub fn triage_with(issues: &[Issue], now: Timestamp, opts: &TriageOptions) -> NativeTriage {
    let g = BeadGraph::new(issues);
    let b = Blocking::new(&g, now);
    let n = g.len();

    let pr = metrics::normalize(&metrics::pagerank(&g.deps));
    let (bw_raw, bw_mode) = metrics::betweenness(
        &g.deps,
        opts.betweenness_exact_limit,
        opts.betweenness_samples,
    );
    let bw = metrics::normalize(&bw_raw);
    let max_in = g.dependents.iter().map(Vec::len).max().unwrap_or(0);
    let median = median_estimate(&g);
    let max_unblocks = b.unblocks.iter().map(Vec::len).max().unwrap_or(0);
    let ids = |v: &[usize]| -> Vec<String> { v.iter().map(|&j| g.id(j).to_string()).collect() };

    struct Scored {
        i: usize,
        score: f64,
        base: f64,
        rec: TriageRecommendation,
    }
    let mut scored: Vec<Scored> = Vec::with_capacity(n);
    const W: [f64; 8] = [
        weights::PAGERANK,
        weights::BETWEENNESS,
        weights::BLOCKER_RATIO,
        weights::STALENESS,
        weights::PRIORITY,
        weights::TIME_TO_IMPACT,
        weights::URGENCY,
        weights::RISK,
    ];
    for i in 0..n {
        if g.closed(i) {
            continue;
        }
        let issue = g.issues[i];
        let c = components(&g, i, now, &pr, &bw, max_in, median);
        let contrib: Vec<f64> = c.norm.iter().zip(W).map(|(x, w)| x * w).collect();
        let base: f64 = contrib.iter().sum();
        let unblocks = &b.unblocks[i];
        let unblock_boost = if unblocks.is_empty() {
            0.0
        } else {
            0.15 * (unblocks.len() as f64 / max_unblocks.max(5) as f64).min(1.0)
        };
        let depth = b.depth[i];
        let quick_win_boost = if issue.status != "in_progress" && (0..=2).contains(&depth) {
            ((1.0 - depth as f64 / 3.0) * base * 0.15).min(0.15)
        } else {
            0.0
        };
        let score = 0.70 * base + unblock_boost + quick_win_boost;
        let blocked_by = ids(&b.blocked_by[i]);
        let unblocks_ids = ids(unblocks);
        let deferred = is_deferred(issue, now);
        let assignee = issue.assignee.clone().filter(|a| !a.is_empty());
        let days = issue
            .updated_at
            .map(|t| days_between(t, now).floor() as i64);
        let reasons = reasons(
            issue,
            &c,
            &unblocks_ids,
            &blocked_by,
            quick_win_boost,
            deferred,
            assignee.as_deref(),
            days,
        );
        let action = action(
            issue,
            quick_win_boost,
            deferred,
            assignee.as_deref(),
            days,
            &blocked_by,
        );
        let breakdown = TriageBreakdown {
            pagerank: contrib[0],
            betweenness: contrib[1],
            blocker_ratio: contrib[2],
            staleness: contrib[3],
            priority_boost: contrib[4],
            time_to_impact: contrib[5],
            urgency: contrib[6],
            risk: contrib[7],
            pagerank_norm: Some(c.norm[0]),
            betweenness_norm: Some(c.norm[1]),
            blocker_ratio_norm: Some(c.norm[2]),
            staleness_norm: Some(c.norm[3]),
            priority_boost_norm: Some(c.norm[4]),
            time_to_impact_norm: Some(c.norm[5]),
            urgency_norm: Some(c.norm[6]),
            risk_norm: Some(c.norm[7]),
            time_to_impact_explanation: Some(c.tti_expl.clone()),
            urgency_explanation: c.urgency_expl.clone(),
            risk_explanation: c.risk.explanation.clone(),
            risk_signals: Some(c.risk.clone()),
        };
        let rec = TriageRecommendation {
            id: issue.id.clone(),
            title: issue.title.clone(),
            issue_type: issue.issue_type.clone(),
            status: issue.status.clone(),
            assignee,
            priority: issue.priority,
            labels: if issue.labels.is_empty() {
                None
            } else {
                Some(issue.labels.clone())
            },
            defer_until: issue.defer_until,
            score,
            breakdown: Some(breakdown),
            action,
            reasons,
            unblocks_ids,
            blocked_by,
            extra: Default::default(),
        };
        scored.push(Scored {
            i,
            score,
            base,
            rec,
        });
    }
    scored.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.rec.id.cmp(&b.rec.id))
    });

    // Top picks: claimable, over the full sorted list.
    let not_ready: HashSet<String> = opts
        .not_ready_labels
        .iter()
        .map(|l| l.to_lowercase())
        .collect();
    let claimable: Vec<usize> = scored
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            let issue = g.issues[s.i];
            issue.status == "open"
                && issue.issue_type != "epic"
                && s.rec.assignee.is_none()
                && s.rec.blocked_by.is_empty()
                && !is_deferred(issue, now)
                && !g.has_open_child(s.i)
                && !issue
                    .labels
                    .iter()
                    .any(|l| not_ready.contains(&l.to_lowercase()))
                && shell_safe(&issue.id)
        })
        .map(|(k, _)| k)
        .collect();
    let top_picks: Vec<TopPick> = claimable
        .iter()
        .take(opts.top_picks)
        .map(|&k| {
            let s = &scored[k];
            TopPick {
                id: s.rec.id.clone(),
                title: s.rec.title.clone(),
                score: s.score,
                reasons: s.rec.reasons.clone(),
                unblocks: s.rec.unblocks_ids.len() as i64,
            }
        })
        .collect();

    // Quick wins over every scored issue.
    let mut quick: Vec<(f64, &Scored)> = scored
        .iter()
        .map(|s| {
            let br_norm = s
                .rec
                .breakdown
                .as_ref()
                .and_then(|bd| bd.blocker_ratio_norm)
                .unwrap_or(0.0);
            let simplicity = if br_norm < 0.2 {
                1.0
            } else if br_norm < 0.4 {
                0.5
            } else {
                0.0
            };
            let high = if s.rec.priority <= 1 { 0.5 } else { 0.0 };
            let q = 0.4 * ((s.rec.unblocks_ids.len() + 1) as f64).log2()
                + 0.4 * simplicity
                + 0.2 * high;
            (q, s)
        })
        .collect();
    quick.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.rec.id.cmp(&b.1.rec.id))
    });
    let quick_wins: Vec<QuickWin> = quick
        .iter()
        .take(opts.quick_wins)
        .map(|(q, s)| {
            let mut reason = if s.rec.unblocks_ids.is_empty() {
                "Low complexity".to_string()
            } else {
                format!("Unblocks {} items", s.rec.unblocks_ids.len())
            };
            if s.rec.priority <= 1 {
                reason.push_str(", high priority");
            }
            QuickWin {
                id: s.rec.id.clone(),
                title: s.rec.title.clone(),
                score: *q,
                reason,
                unblocks_ids: s.rec.unblocks_ids.clone(),
            }
        })
        .collect();

    // Blockers to clear.
    let mut blockers: Vec<usize> = (0..n)
        .filter(|&i| !g.closed(i) && !b.unblocks[i].is_empty())
        .collect();
    blockers.sort_by(|&x, &y| {
        b.unblocks[y]
            .len()
            .cmp(&b.unblocks[x].len())
            .then_with(|| x.cmp(&y))
    });
    let blockers_to_clear: Vec<BlockerItem> = blockers
        .iter()
        .take(opts.blockers)
        .map(|&i| BlockerItem {
            id: g.id(i).to_string(),
            title: g.issues[i].title.clone(),
            unblocks_count: b.unblocks[i].len() as i64,
            unblocks_ids: ids(&b.unblocks[i]),
            actionable: b.actionable[i],
            blocked_by: if b.actionable[i] {
                Vec::new()
            } else {
                ids(&b.blocked_by[i])
            },
        })
        .collect();

    let counts = counts_of(&g, &b);
    let quick_ref = QuickRef {
        open_count: counts.open,
        actionable_count: counts.actionable,
        blocked_count: counts.blocked,
        in_progress_count: counts.by_status.get("in_progress").copied().unwrap_or(0),
        not_closed_count: counts.not_closed,
        not_actionable_count: counts.not_closed - counts.actionable,
        top_picks,
    };
    let edges = g.edge_count();
    let cycles = metrics::cycle_count(&g.deps);
    let graph = GraphHealth {
        node_count: n as i64,
        edge_count: edges as i64,
        density: if n > 1 {
            edges as f64 / (n as f64 * (n as f64 - 1.0))
        } else {
            0.0
        },
        has_cycles: cycles > 0,
        cycle_count: (cycles > 0).then_some(cycles as i64),
        phase2_ready: true,
    };
    let project_health = ProjectHealth {
        counts,
        graph,
        velocity: Some(velocity(&g, now)),
        staleness: None,
        extra: Default::default(),
    };

    let top_id = claimable
        .first()
        .map(|&k| scored[k].rec.id.clone())
        .or_else(|| scored.first().map(|s| s.rec.id.clone()));
    let mut commands = BTreeMap::new();
    if let Some(id) = top_id.filter(|id| shell_safe(id)) {
        commands.insert(
            "claim_top".to_string(),
            format!("CI=1 br update {id} --status in_progress --json"),
        );
        commands.insert("show_top".to_string(), format!("CI=1 br show {id} --json"));
    }
    commands.insert("list_ready".to_string(), "CI=1 br ready --json".to_string());
    commands.insert(
        "list_blocked".to_string(),
        "CI=1 br blocked --json".to_string(),
    );
    commands.insert(
        "refresh_triage".to_string(),
        "bv --robot-triage".to_string(),
    );

    let mut status = BTreeMap::new();
    status.insert(
        "PageRank".to_string(),
        MetricStatus {
            state: "computed".to_string(),
            ..Default::default()
        },
    );
    status.insert(
        "Betweenness".to_string(),
        match bw_mode {
            BetweennessMode::Exact => MetricStatus {
                state: "computed".to_string(),
                ..Default::default()
            },
            BetweennessMode::Sampled(k) => MetricStatus {
                state: "approx".to_string(),
                reason: Some("sampled".to_string()),
                sample: Some(k as i64),
                ms: None,
            },
        },
    );
    for m in [
        "Eigenvector",
        "HITS",
        "Critical",
        "Cycles",
        "KCore",
        "Articulation",
        "Slack",
    ] {
        status.insert(
            m.to_string(),
            MetricStatus {
                state: "skipped".to_string(),
                ..Default::default()
            },
        );
    }

    let base_scores = scored.iter().map(|s| (s.rec.id.clone(), s.base)).collect();
    let claimable_ids = claimable
        .iter()
        .map(|&k| scored[k].rec.id.clone())
        .collect();
    let ranked: Vec<TriageRecommendation> = scored.into_iter().map(|s| s.rec).collect();
    let response = TriageResponse {
        generated_at: now,
        data_hash: data_hash(&g),
        degraded: None,
        triage: TriageResult {
            meta: TriageMeta {
                version: "1.0.0".to_string(),
                generated_at: Some(now),
                phase2_ready: true,
                issue_count: n as i64,
                compute_time_ms: 0,
                history_status: Some("skipped".to_string()),
                extra: Default::default(),
            },
            status,
            quick_ref,
            recommendations: ranked.iter().take(opts.recommendations).cloned().collect(),
            quick_wins,
            blockers_to_clear,
            project_health: Some(project_health),
            alerts: None,
            commands,
            extra: Default::default(),
        },
        feedback: None,
        usage_hints: vec![
            "jq '.triage.quick_ref.top_picks[:3]' - Top 3 picks for immediate work".to_string(),
            "jq '.triage.recommendations[] | {id, score, action}' - Ranked work".to_string(),
        ],
        extra: Default::default(),
    };
    NativeTriage {
        response,
        ranked,
        base_scores,
        claimable: claimable_ids,
    }
}

#[allow(clippy::too_many_arguments)]
fn reasons(
    issue: &Issue,
    c: &Components,
    unblocks: &[String],
    blocked_by: &[String],
    quick_win_boost: f64,
    deferred: bool,
    assignee: Option<&str>,
    days: Option<i64>,
) -> Vec<String> {
    let mut r = Vec::new();
    let n = unblocks.len();
    if n >= 3 {
        r.push(format!(
            "🎯 Completing this unblocks {n} downstream issues ({}, {}, +{} more)",
            unblocks[0],
            unblocks[1],
            n - 2
        ));
    } else if n >= 1 {
        r.push(format!("🔓 Unblocks {n} item(s): {}", unblocks.join(", ")));
    }
    if c.norm[1] > 0.5 {
        r.push(format!(
            "🔀 Critical path bottleneck (betweenness: {:.0}%)",
            c.norm[1] * 100.0
        ));
    }
    if c.norm[0] > 0.3 {
        r.push(format!(
            "📊 High centrality in dependency graph (PageRank: {:.0}%)",
            c.norm[0] * 100.0
        ));
    }
    match days {
        Some(d) if d > 14 => r.push(format!("🕐 No activity in {d} days - may need review")),
        Some(d) if d > 7 => r.push(format!("📅 Last updated {d} days ago")),
        _ => {}
    }
    if quick_win_boost > 0.05 {
        r.push("⚡ Low effort, high impact - good starting point".to_string());
    }
    let status = issue.status.as_str();
    if deferred {
        let t = issue
            .defer_until
            .map(|t| time::format_rfc3339(&t))
            .unwrap_or_default();
        r.push(format!("⏸️ Deferred until {t} - not ready to claim"));
    } else if status == "in_progress" {
        match assignee {
            Some(a) => r.push(format!("👤 Claimed by {a}")),
            None => r.push("🚧 In progress - already being worked".to_string()),
        }
    } else if status == "blocked" {
        r.push("⛔ Status is blocked - not ready to claim".to_string());
    } else if status != "open" {
        r.push(format!("⏸️ Status is {status} - not ready to claim"));
    } else {
        match assignee {
            None => r.push("✅ Currently unclaimed - available for work".to_string()),
            Some(a) => r.push(format!("👤 Claimed by {a}")),
        }
    }
    match blocked_by.len() {
        0 => {}
        1 => r.push(format!(
            "⏳ Blocked by {} - complete that first",
            blocked_by[0]
        )),
        k => r.push(format!(
            "⏳ Blocked by {k} items - need to clear dependencies"
        )),
    }
    if issue.priority <= 1 {
        r.push(format!(
            "🚨 High priority (P{}) - prioritize this work",
            issue.priority
        ));
    }
    if r.is_empty() {
        r.push("Good candidate for work".to_string());
    }
    r
}

fn action(
    issue: &Issue,
    quick_win_boost: f64,
    deferred: bool,
    assignee: Option<&str>,
    days: Option<i64>,
    blocked_by: &[String],
) -> String {
    let status = issue.status.as_str();
    let mut a = if deferred {
        let t = issue
            .defer_until
            .map(|t| time::format_rfc3339(&t))
            .unwrap_or_default();
        format!("Deferred until {t} - do not claim before then")
    } else {
        match status {
            "open" => "Start work on this issue".to_string(),
            "in_progress" => "Continue work on this issue".to_string(),
            "blocked" => "Resolve blocked status before claiming this issue".to_string(),
            s => format!("Wait for status {s} to become open before claiming"),
        }
    };
    if status == "in_progress" && days.is_some_and(|d| d > 14) {
        a = "Check if this is stuck and needs help".to_string();
    }
    if status != "in_progress" && !deferred && quick_win_boost > 0.05 {
        a = "Quick win - start here for fast progress".to_string();
    }
    if let Some(who) = assignee {
        a = format!("Contact {who} if you want to help");
    }
    if let Some(first) = blocked_by.first() {
        a = format!("Work on {first} first to unblock this");
    }
    a
}

/// Close velocity (§4.5): 7/30-day windows, mean days to close, eight ISO-week buckets.
fn velocity(g: &BeadGraph<'_>, now: Timestamp) -> Velocity {
    let today = now.date_naive();
    let monday = today - Duration::days(today.weekday().num_days_from_monday() as i64);
    let week0 = Utc.from_utc_datetime(&monday.and_hms_opt(0, 0, 0).unwrap_or_default());
    let mut weekly: Vec<WeeklyClosed> = (0..8)
        .map(|k| WeeklyClosed {
            week_start: week0 - Duration::weeks(k),
            closed: 0,
        })
        .collect();
    let mut v = Velocity::default();
    let mut estimated = false;
    let mut total_days = 0.0;
    let mut counted = 0usize;
    for issue in g.issues.iter().filter(|i| i.is_closed()) {
        let closed = match issue.closed_at {
            Some(t) => Some(t),
            None => {
                if issue.updated_at.is_some() {
                    estimated = true;
                }
                issue.updated_at
            }
        };
        let Some(closed) = closed else { continue };
        let age = days_between(closed, now);
        if (0.0..=7.0).contains(&age) {
            v.closed_last_7_days += 1;
        }
        if (0.0..=30.0).contains(&age) {
            v.closed_last_30_days += 1;
        }
        if let Some(created) = issue.created_at {
            total_days += days_between(created, closed).max(0.0);
            counted += 1;
        }
        if let Some(w) = weekly
            .iter_mut()
            .find(|w| closed >= w.week_start && closed < w.week_start + Duration::weeks(1))
        {
            w.closed += 1;
        }
    }
    if counted > 0 {
        v.avg_days_to_close = total_days / counted as f64;
    }
    v.weekly = Some(weekly);
    v.estimated = estimated.then_some(true);
    v
}

/// An opaque fingerprint of the loaded issues (`"empty"` when there are none).
fn data_hash(g: &BeadGraph<'_>) -> String {
    if g.is_empty() {
        return "empty".to_string();
    }
    let mut a: u64 = 0xcbf2_9ce4_8422_2325;
    let mut b: u64 = 0x6c62_272e_07bb_0142;
    let mut feed = |bytes: &[u8]| {
        for &x in bytes {
            a ^= x as u64;
            a = a.wrapping_mul(0x0000_0100_0000_01b3);
            b ^= x as u64;
            b = b.wrapping_mul(0x0000_0100_0000_01b3).rotate_left(7);
        }
        a ^= 0xff;
        b ^= 0xfe;
    };
    for issue in &g.issues {
        feed(issue.id.as_bytes());
        feed(issue.title.as_bytes());
        feed(issue.status.as_bytes());
        feed(issue.issue_type.as_bytes());
        feed(&issue.priority.to_le_bytes());
        feed(issue.assignee.as_deref().unwrap_or("").as_bytes());
        for t in [issue.updated_at, issue.closed_at, issue.defer_until] {
            feed(&t.map(|t| t.timestamp_micros()).unwrap_or(0).to_le_bytes());
        }
        for l in &issue.labels {
            feed(l.as_bytes());
        }
        for d in &issue.dependencies {
            feed(d.depends_on_id.as_bytes());
            feed(d.kind().as_bytes());
        }
    }
    format!("{a:016x}{b:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::beads::Dependency;
    use crate::time::parse_rfc3339;

    #[test]
    fn with_claimable_appends_every_claimable_bead_beyond_the_top_ten() {
        let now = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        // A hub that 20 beads depend on (they rank high and are all blocked), a claimed bead,
        // and 15 free leaves.
        let mut issues = vec![Issue {
            id: "hub".into(),
            title: "hub".into(),
            status: "open".into(),
            issue_type: "task".into(),
            ..Default::default()
        }];
        for i in 0..20 {
            issues.push(Issue {
                id: format!("dep-{i:02}"),
                title: "d".into(),
                status: "open".into(),
                issue_type: "task".into(),
                dependencies: vec![Dependency {
                    issue_id: format!("dep-{i:02}"),
                    depends_on_id: "hub".into(),
                    dep_type: "blocks".into(),
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
        issues.push(Issue {
            id: "claimed".into(),
            title: "c".into(),
            status: "in_progress".into(),
            assignee: Some("A".into()),
            issue_type: "task".into(),
            ..Default::default()
        });
        for i in 0..15 {
            issues.push(Issue {
                id: format!("leaf-{i:02}"),
                title: "l".into(),
                status: "open".into(),
                issue_type: "task".into(),
                priority: 4,
                ..Default::default()
            });
        }
        let native = triage(&issues, now);
        assert_eq!(native.response.triage.recommendations.len(), 10);
        let extended = with_claimable(native.response.clone(), &native);
        let ids: Vec<&str> = extended
            .triage
            .recommendations
            .iter()
            .map(|r| r.id.as_str())
            .collect();
        assert_eq!(
            &ids[..10],
            &native
                .response
                .triage
                .recommendations
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()[..]
        );
        let mut expected: Vec<String> = (0..15).map(|i| format!("leaf-{i:02}")).collect();
        expected.push("hub".into());
        for id in &expected {
            assert_eq!(
                ids.iter().filter(|x| *x == id).count(),
                1,
                "{id} once: {ids:?}"
            );
        }
        assert!(!ids[10..].contains(&"claimed"), "claimed work is not added");
        assert!(
            ids[10..].iter().all(|x| !x.starts_with("dep-")),
            "blocked work is not added"
        );
    }
}
