//! Triage in exactly `bv --robot-triage`'s JSON shape (spec/beads.md §2).
//!
//! Unknown fields are kept in `extra` maps so a document is written back as it was read.

use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Fields a newer producer added that this model does not name.
pub type Extra = BTreeMap<String, Value>;

/// The envelope of `bv --robot-triage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageResponse {
    /// When the triage was computed.
    #[serde(with = "time::rfc3339")]
    pub generated_at: Timestamp,
    /// Fingerprint of the loaded issues (`"empty"` if none).
    #[serde(default)]
    pub data_hash: String,
    /// Degradation notices, e.g. an incomplete metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degraded: Option<Vec<DegradedNotice>>,
    /// The triage itself.
    pub triage: TriageResult,
    /// Learned weight adjustments, rarely present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback: Option<Value>,
    /// jq tips.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub usage_hints: Vec<String>,
    /// Unknown fields, preserved.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One degradation notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DegradedNotice {
    /// Machine code, e.g. `robot_triage_metric_incomplete`.
    pub code: String,
    /// Severity word.
    #[serde(default)]
    pub severity: String,
    /// Human message.
    #[serde(default)]
    pub message: String,
    /// How to repair.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub repair: String,
}

/// The `triage` object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TriageResult {
    /// Run metadata.
    #[serde(default)]
    pub meta: TriageMeta,
    /// Per-metric computation state, keyed by Go metric name (`PageRank`, `Betweenness`, …).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status: BTreeMap<String, MetricStatus>,
    /// Counts and top picks.
    #[serde(default)]
    pub quick_ref: QuickRef,
    /// Top recommendations by triage score.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub recommendations: Vec<TriageRecommendation>,
    /// Quick wins.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub quick_wins: Vec<QuickWin>,
    /// Blockers worth clearing.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub blockers_to_clear: Vec<BlockerItem>,
    /// Whole-project health.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project_health: Option<ProjectHealth>,
    /// Alerts (reserved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alerts: Option<Vec<Value>>,
    /// Copy-paste shell commands.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub commands: BTreeMap<String, String>,
    /// Unknown fields, preserved.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `triage.meta`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TriageMeta {
    /// Schema version, `1.0.0`.
    #[serde(default)]
    pub version: String,
    /// When computed.
    #[serde(
        default,
        with = "time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub generated_at: Option<Timestamp>,
    /// Whether the slow metrics finished.
    #[serde(default)]
    pub phase2_ready: bool,
    /// Issues loaded, closed included.
    #[serde(default)]
    pub issue_count: i64,
    /// Compute time in milliseconds.
    #[serde(default)]
    pub compute_time_ms: i64,
    /// `ok`, `error`, `timeout` or `skipped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_status: Option<String>,
    /// Unknown fields, preserved.
    #[serde(flatten)]
    pub extra: Extra,
}

/// State of one metric's computation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MetricStatus {
    /// `computed`, `approx`, `timeout`, `skipped`, `pending` or `panic`.
    pub state: String,
    /// Why, e.g. `approximate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Sample size for sampled metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample: Option<i64>,
    /// Milliseconds spent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<f64>,
}

/// `triage.quick_ref`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct QuickRef {
    /// Issues with status exactly `open`.
    #[serde(default)]
    pub open_count: i64,
    /// Non-closed, not deferred, not blocked.
    #[serde(default)]
    pub actionable_count: i64,
    /// Issues with status exactly `blocked`.
    #[serde(default)]
    pub blocked_count: i64,
    /// Status `in_progress`.
    #[serde(default)]
    pub in_progress_count: i64,
    /// Status not closed or tombstone.
    #[serde(default)]
    pub not_closed_count: i64,
    /// not_closed − actionable.
    #[serde(default)]
    pub not_actionable_count: i64,
    /// Up to three claimable picks.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub top_picks: Vec<TopPick>,
}

/// A claimable top pick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TopPick {
    /// Bead id.
    pub id: String,
    /// Bead title.
    pub title: String,
    /// Triage score.
    pub score: f64,
    /// Emoji-prefixed reasons.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub reasons: Vec<String>,
    /// Number of issues it unblocks.
    #[serde(default)]
    pub unblocks: i64,
}

/// One ranked work item (reference `bv.TriageRecommendation`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TriageRecommendation {
    /// Bead id.
    pub id: String,
    /// Bead title.
    pub title: String,
    /// Issue type: task, bug, feature, epic, chore, …
    #[serde(rename = "type", default)]
    pub issue_type: String,
    /// Status: open, in_progress, blocked, …
    #[serde(default)]
    pub status: String,
    /// Current assignee, when claimed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// 0 (critical) … 4 (backlog).
    #[serde(default)]
    pub priority: i64,
    /// Labels (may be `null` in bv's output).
    #[serde(default)]
    pub labels: Option<Vec<String>>,
    /// Hidden from ready work until this time.
    #[serde(
        default,
        with = "time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub defer_until: Option<Timestamp>,
    /// Triage score (about 0–1).
    pub score: f64,
    /// How the score was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<TriageBreakdown>,
    /// A one-line hint.
    #[serde(default)]
    pub action: String,
    /// Emoji-prefixed reasons.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub reasons: Vec<String>,
    /// Issues for which this is the only remaining open blocker.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "time::null_as_default"
    )]
    pub unblocks_ids: Vec<String>,
    /// Open blockers.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "time::null_as_default"
    )]
    pub blocked_by: Vec<String>,
    /// Unknown fields, preserved.
    #[serde(flatten)]
    pub extra: Extra,
}

impl TriageRecommendation {
    /// The labels, empty when `null`.
    pub fn labels(&self) -> &[String] {
        self.labels.as_deref().unwrap_or(&[])
    }

    /// Whether bv marks this item blocked (status `blocked` or open blockers).
    pub fn is_blocked(&self) -> bool {
        self.status == "blocked" || !self.blocked_by.is_empty()
    }
}

/// The score breakdown of a recommendation: weighted contributions (they sum to the base impact
/// score) and their 0–1 normalized values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TriageBreakdown {
    /// Weighted PageRank contribution.
    #[serde(default)]
    pub pagerank: f64,
    /// Weighted betweenness contribution.
    #[serde(default)]
    pub betweenness: f64,
    /// Weighted blocker-ratio contribution.
    #[serde(default)]
    pub blocker_ratio: f64,
    /// Weighted staleness contribution.
    #[serde(default)]
    pub staleness: f64,
    /// Weighted priority contribution.
    #[serde(default)]
    pub priority_boost: f64,
    /// Weighted time-to-impact contribution.
    #[serde(default)]
    pub time_to_impact: f64,
    /// Weighted urgency contribution.
    #[serde(default)]
    pub urgency: f64,
    /// Weighted risk contribution.
    #[serde(default)]
    pub risk: f64,
    /// Normalized PageRank (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagerank_norm: Option<f64>,
    /// Normalized betweenness (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub betweenness_norm: Option<f64>,
    /// Normalized blocker ratio (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocker_ratio_norm: Option<f64>,
    /// Normalized staleness (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staleness_norm: Option<f64>,
    /// Normalized priority (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_boost_norm: Option<f64>,
    /// Normalized time to impact (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_impact_norm: Option<f64>,
    /// Normalized urgency (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency_norm: Option<f64>,
    /// Normalized risk (0–1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_norm: Option<f64>,
    /// Why time to impact is what it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_to_impact_explanation: Option<String>,
    /// Why urgency is what it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urgency_explanation: Option<String>,
    /// Why risk is what it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_explanation: Option<String>,
    /// Risk inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk_signals: Option<RiskSignals>,
}

/// Inputs of the risk score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RiskSignals {
    /// Variance of fan-in/fan-out.
    #[serde(default)]
    pub fan_variance: f64,
    /// Recent churn.
    #[serde(default)]
    pub activity_churn: f64,
    /// Cross-repository risk.
    #[serde(default)]
    pub cross_repo_risk: f64,
    /// Risk from the status.
    #[serde(default)]
    pub status_risk: f64,
    /// Combined risk.
    #[serde(default)]
    pub composite_risk: f64,
    /// Explanation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<String>,
}

/// A quick win.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct QuickWin {
    /// Bead id.
    pub id: String,
    /// Bead title.
    pub title: String,
    /// Quick-win score.
    pub score: f64,
    /// `Unblocks N items` or `Low complexity`, maybe with `, high priority`.
    #[serde(default)]
    pub reason: String,
    /// What it unblocks.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "time::null_as_default"
    )]
    pub unblocks_ids: Vec<String>,
}

/// A blocker worth clearing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct BlockerItem {
    /// Bead id.
    pub id: String,
    /// Bead title.
    pub title: String,
    /// How many items it unblocks.
    #[serde(default)]
    pub unblocks_count: i64,
    /// Which items it unblocks.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub unblocks_ids: Vec<String>,
    /// Whether it can be worked on now.
    #[serde(default)]
    pub actionable: bool,
    /// Its own blockers, when not actionable.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "time::null_as_default"
    )]
    pub blocked_by: Vec<String>,
}

/// `triage.project_health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ProjectHealth {
    /// Issue counts.
    #[serde(default)]
    pub counts: HealthCounts,
    /// Graph figures.
    #[serde(default)]
    pub graph: GraphHealth,
    /// Close velocity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub velocity: Option<Velocity>,
    /// Staleness (only with git history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staleness: Option<Value>,
    /// Unknown fields, preserved.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Issue counts in `project_health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct HealthCounts {
    /// All issues.
    #[serde(default)]
    pub total: i64,
    /// Status open.
    #[serde(default)]
    pub open: i64,
    /// Closed and tombstone.
    #[serde(default)]
    pub closed: i64,
    /// Status blocked.
    #[serde(default)]
    pub blocked: i64,
    /// Actionable.
    #[serde(default)]
    pub actionable: i64,
    /// Not closed.
    #[serde(default)]
    pub not_closed: i64,
    /// not_closed − actionable.
    #[serde(default)]
    pub dependency_blocked: i64,
    /// By status.
    #[serde(default)]
    pub by_status: BTreeMap<String, i64>,
    /// By type.
    #[serde(default)]
    pub by_type: BTreeMap<String, i64>,
    /// By priority (keys are `"0"`…`"4"`).
    #[serde(default)]
    pub by_priority: BTreeMap<String, i64>,
}

/// Graph figures in `project_health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct GraphHealth {
    /// Nodes.
    #[serde(default)]
    pub node_count: i64,
    /// Blocking edges.
    #[serde(default)]
    pub edge_count: i64,
    /// e / (n (n − 1)).
    #[serde(default)]
    pub density: f64,
    /// Whether a blocking cycle exists.
    #[serde(default)]
    pub has_cycles: bool,
    /// Number of cycles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cycle_count: Option<i64>,
    /// Whether the slow metrics finished.
    #[serde(default)]
    pub phase2_ready: bool,
}

/// Close velocity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Velocity {
    /// Closed in the last 7 days.
    #[serde(default)]
    pub closed_last_7_days: i64,
    /// Closed in the last 30 days.
    #[serde(default)]
    pub closed_last_30_days: i64,
    /// Mean days from creation to close.
    #[serde(default)]
    pub avg_days_to_close: f64,
    /// Weekly closes, newest first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly: Option<Vec<WeeklyClosed>>,
    /// Whether `updated_at` stood in for a missing `closed_at`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated: Option<bool>,
}

/// Closes in one week.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WeeklyClosed {
    /// Monday 00:00 UTC.
    #[serde(with = "time::rfc3339")]
    pub week_start: Timestamp,
    /// Issues closed.
    pub closed: i64,
}
