//! Quality signals: scans, test runs, per-agent metrics, trends and the summary
//! (spec/coordinator.md §6).

use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};

/// Direction of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TrendDirection {
    /// Getting better.
    Improving,
    /// Not moving.
    Stable,
    /// Getting worse.
    Declining,
    /// Not enough data.
    #[default]
    Unknown,
}

/// The direction of each quality metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualityTrend {
    /// Bugs found by scans.
    pub bug_trend: TrendDirection,
    /// Test pass rate.
    pub test_trend: TrendDirection,
    /// Agent errors.
    pub error_trend: TrendDirection,
    /// Context usage.
    pub context_trend: TrendDirection,
    /// When recomputed.
    #[serde(with = "time::rfc3339_zero_none", default)]
    pub last_updated: Option<Timestamp>,
}

impl Default for QualityTrend {
    fn default() -> Self {
        QualityTrend {
            bug_trend: TrendDirection::Unknown,
            test_trend: TrendDirection::Unknown,
            error_trend: TrendDirection::Unknown,
            context_trend: TrendDirection::Unknown,
            last_updated: None,
        }
    }
}

/// One scan, for history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanMetrics {
    /// When.
    #[serde(with = "time::rfc3339")]
    pub timestamp: Timestamp,
    /// Milliseconds.
    #[serde(rename = "duration_ms")]
    pub duration: i64,
    /// Critical findings.
    pub critical: i64,
    /// Warnings.
    pub warning: i64,
    /// Informational findings.
    pub info: i64,
    /// Files scanned.
    pub files: i64,
    /// Scanner exit code.
    pub exit_code: i64,
}

/// One test run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestRunMetrics {
    /// When.
    #[serde(with = "time::rfc3339")]
    pub timestamp: Timestamp,
    /// The agent that ran it.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_pane_id: String,
    /// Passed.
    pub passed: i64,
    /// Failed.
    pub failed: i64,
    /// Skipped.
    pub skipped: i64,
    /// Milliseconds.
    #[serde(rename = "duration_ms")]
    pub duration: i64,
    /// Package or suite.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package: String,
}

/// Quality metrics of one agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentQualityMetrics {
    /// Pane id.
    pub pane_id: String,
    /// Agent type code.
    pub agent_type: String,
    /// Tests passed.
    pub tests_passed: i64,
    /// Tests failed.
    pub tests_failed: i64,
    /// Tests run, skipped included.
    pub tests_total: i64,
    /// Errors seen.
    pub error_count: i64,
    /// Recoveries seen.
    pub recovery_count: i64,
    /// Bugs introduced.
    pub bugs_introduced: i64,
    /// Bugs fixed.
    pub bugs_fixed: i64,
    /// Running average of context usage.
    pub avg_context_usage: f64,
    /// Peak context usage.
    #[serde(rename = "peak_context_usage")]
    pub peak_context: f64,
    /// Context samples.
    pub context_samples: i64,
    /// Last activity.
    #[serde(with = "time::rfc3339_zero_none", default)]
    pub last_activity: Option<Timestamp>,
    /// Last error.
    #[serde(with = "time::rfc3339_zero_none", default)]
    pub last_error: Option<Timestamp>,
    /// Error timestamps, for trends.
    #[serde(
        with = "time::rfc3339_vec",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub error_history: Vec<Timestamp>,
}

impl AgentQualityMetrics {
    /// Empty metrics for a pane.
    pub fn new(pane_id: impl Into<String>, agent_type: impl Into<String>) -> Self {
        AgentQualityMetrics {
            pane_id: pane_id.into(),
            agent_type: agent_type.into(),
            tests_passed: 0,
            tests_failed: 0,
            tests_total: 0,
            error_count: 0,
            recovery_count: 0,
            bugs_introduced: 0,
            bugs_fixed: 0,
            avg_context_usage: 0.0,
            peak_context: 0.0,
            context_samples: 0,
            last_activity: None,
            last_error: None,
            error_history: Vec::new(),
        }
    }
}

/// A snapshot of quality for digests and alerts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QualitySummary {
    /// When.
    #[serde(with = "time::rfc3339")]
    pub timestamp: Timestamp,
    /// Whether the scanner is installed.
    pub ubs_available: bool,
    /// Critical findings in the last scan.
    pub critical_bugs: i64,
    /// Warnings in the last scan.
    pub warnings: i64,
    /// All findings in the last scan.
    pub total_findings: i64,
    /// Minutes since the last scan.
    #[serde(rename = "last_scan_age_minutes")]
    pub last_scan_age: i64,
    /// Whether scans are succeeding.
    pub scan_healthy: bool,
    /// Consecutive scan failures.
    #[serde(
        rename = "consecutive_scan_errors",
        default,
        skip_serializing_if = "is_zero_i64"
    )]
    pub consecutive_error: i64,
    /// 0–100 over all runs.
    pub test_pass_rate: f64,
    /// Runs in the last hour.
    pub recent_test_runs: i64,
    /// All runs.
    pub total_test_runs: i64,
    /// Tests passed over all runs.
    pub tests_passed_all: i64,
    /// Tests failed over all runs.
    pub tests_failed_all: i64,
    /// Agent errors.
    pub total_agent_errors: i64,
    /// Errors per hour.
    pub error_rate: f64,
    /// Average context usage.
    pub avg_context_usage: f64,
    /// Peak context usage.
    pub peak_context_usage: f64,
    /// Agents averaging above 80%.
    pub high_context_count: i64,
    /// Trends.
    pub trend: QualityTrend,
    /// Alerts, in the reference's order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
}

fn is_zero_i64(v: &i64) -> bool {
    *v == 0
}
