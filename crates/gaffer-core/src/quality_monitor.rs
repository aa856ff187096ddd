//! The quality monitor (spec/coordinator.md §6): scan and test history, per-agent metrics,
//! trends, scores, summary and alerts. Pure: every record carries its time.
//!
//! Unlike the reference, whose monitor nothing called, gaffer feeds these figures into
//! assignment (agent quality scores), alerts and digests.

use crate::agent::ContextSnapshot;
use crate::quality::{
    AgentQualityMetrics, QualitySummary, QualityTrend, ScanMetrics, TestRunMetrics, TrendDirection,
};
use crate::time::Timestamp;
use chrono::Duration as ChronoDuration;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// Scan history kept.
pub const MAX_SCANS: usize = 100;
/// Test-run history kept.
pub const MAX_TEST_RUNS: usize = 500;
/// Error timestamps kept per agent.
pub const MAX_ERROR_HISTORY: usize = 100;
/// Context samples kept per pane.
pub const MAX_CONTEXT_SAMPLES: usize = 1000;
/// The newest context samples (of every pane) the context trend compares.
pub const CONTEXT_TREND_SAMPLES: usize = 100;

/// The alert texts, in the reference's order.
pub mod alerts {
    /// Critical scanner findings.
    pub const CRITICAL_BUGS: &str = "Critical bugs detected by UBS - address immediately";
    /// Low pass rate.
    pub const LOW_PASS_RATE: &str = "Test pass rate below 80% - investigate failures";
    /// High context.
    pub const HIGH_CONTEXT: &str = "Agents with high context usage (>80%) detected";
    /// Old scan.
    pub const STALE_SCAN: &str = "Last UBS scan was over 30 minutes ago";
    /// Failing scans.
    pub const SCAN_FAILURES: &str = "Multiple consecutive UBS scan failures";
    /// Bugs up.
    pub const BUGS_UP: &str = "Bug count trending upward";
    /// Tests down.
    pub const TESTS_DOWN: &str = "Test pass rate trending downward";
    /// Errors up.
    pub const ERRORS_UP: &str = "Agent error rate trending upward";
}

/// The monitor's state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QualityMonitor {
    /// Whether the `ubs` scanner is installed.
    pub ubs_available: bool,
    last_scan: Option<ScanMetrics>,
    scans: VecDeque<ScanMetrics>,
    tests: VecDeque<TestRunMetrics>,
    agents: BTreeMap<String, AgentQualityMetrics>,
    context: BTreeMap<String, VecDeque<ContextSnapshot>>,
    /// The newest [`CONTEXT_TREND_SAMPLES`] context samples of every pane, as recorded (each
    /// poll records its samples at its own time, so this is time order): the trend reads
    /// these instead of sorting every pane's history at every sample, which cost a fifth of a
    /// core with 64 agents showing a context figure (docs/soak.md).
    #[serde(default)]
    recent_context: VecDeque<ContextSnapshot>,
    scan_errors_total: i64,
    scan_errors_consecutive: i64,
    trend: QualityTrend,
}

impl QualityMonitor {
    /// An empty monitor.
    pub fn new(ubs_available: bool) -> Self {
        QualityMonitor {
            ubs_available,
            ..Default::default()
        }
    }

    fn agent(&mut self, pane: &str, agent_type: &str) -> &mut AgentQualityMetrics {
        let m = self
            .agents
            .entry(pane.to_string())
            .or_insert_with(|| AgentQualityMetrics::new(pane, agent_type));
        if m.agent_type.is_empty() && !agent_type.is_empty() {
            m.agent_type = agent_type.to_string();
        }
        m
    }

    /// Records a successful scan.
    pub fn record_scan(&mut self, scan: ScanMetrics) {
        self.scan_errors_consecutive = 0;
        self.scans.push_back(scan.clone());
        while self.scans.len() > MAX_SCANS {
            self.scans.pop_front();
        }
        self.trend.last_updated = Some(scan.timestamp);
        self.last_scan = Some(scan);
        self.trend.bug_trend = self.bug_trend();
    }

    /// Records a failed scan.
    pub fn record_scan_error(&mut self) {
        self.scan_errors_total += 1;
        self.scan_errors_consecutive += 1;
    }

    /// The last scan.
    pub fn last_scan(&self) -> Option<&ScanMetrics> {
        self.last_scan.as_ref()
    }

    /// Records a test run and adds it to the agent's totals (skipped tests count in the total).
    pub fn record_test_run(&mut self, run: TestRunMetrics) {
        if !run.agent_pane_id.is_empty() {
            let pane = run.agent_pane_id.clone();
            let m = self.agent(&pane, "");
            m.tests_passed += run.passed;
            m.tests_failed += run.failed;
            m.tests_total += run.passed + run.failed + run.skipped;
            m.last_activity = Some(run.timestamp);
        }
        self.trend.last_updated = Some(run.timestamp);
        self.tests.push_back(run);
        while self.tests.len() > MAX_TEST_RUNS {
            self.tests.pop_front();
        }
        self.trend.test_trend = self.test_trend();
    }

    /// Records an agent error.
    pub fn record_agent_error(&mut self, pane: &str, agent_type: &str, at: Timestamp) {
        let m = self.agent(pane, agent_type);
        m.error_count += 1;
        m.last_error = Some(at);
        m.error_history.push(at);
        if m.error_history.len() > MAX_ERROR_HISTORY {
            let excess = m.error_history.len() - MAX_ERROR_HISTORY;
            m.error_history.drain(..excess);
        }
        self.trend.error_trend = self.error_trend(at);
        self.trend.last_updated = Some(at);
    }

    /// Records a recovery from error.
    pub fn record_agent_recovery(&mut self, pane: &str) {
        self.agent(pane, "").recovery_count += 1;
    }

    /// Records a context-usage sample: running average, peak, history and trend.
    pub fn record_context_usage(
        &mut self,
        pane: &str,
        agent_type: &str,
        usage: f64,
        at: Timestamp,
    ) {
        let m = self.agent(pane, agent_type);
        let n = m.context_samples as f64;
        m.avg_context_usage = (m.avg_context_usage * n + usage) / (n + 1.0);
        m.context_samples += 1;
        m.peak_context = m.peak_context.max(usage);
        let sample = ContextSnapshot {
            timestamp: at,
            usage,
        };
        let hist = self.context.entry(pane.to_string()).or_default();
        hist.push_back(sample);
        while hist.len() > MAX_CONTEXT_SAMPLES {
            hist.pop_front();
        }
        self.recent_context.push_back(sample);
        while self.recent_context.len() > CONTEXT_TREND_SAMPLES {
            self.recent_context.pop_front();
        }
        self.trend.context_trend = self.context_trend();
    }

    /// Counts a bug introduced by an agent.
    pub fn record_bug_introduced(&mut self, pane: &str) {
        self.agent(pane, "").bugs_introduced += 1;
    }

    /// Counts a bug fixed by an agent.
    pub fn record_bug_fixed(&mut self, pane: &str) {
        self.agent(pane, "").bugs_fixed += 1;
    }

    /// One agent's metrics.
    pub fn agent_metrics(&self, pane: &str) -> Option<&AgentQualityMetrics> {
        self.agents.get(pane)
    }

    /// Every agent's metrics.
    pub fn all_agent_metrics(&self) -> &BTreeMap<String, AgentQualityMetrics> {
        &self.agents
    }

    /// Test runs, oldest first.
    pub fn test_runs(&self) -> impl Iterator<Item = &TestRunMetrics> {
        self.tests.iter()
    }

    fn pass_rate_of<'a>(runs: impl Iterator<Item = &'a TestRunMetrics>) -> Option<f64> {
        let (p, f) = runs.fold((0i64, 0i64), |(p, f), r| (p + r.passed, f + r.failed));
        (p + f > 0).then(|| p as f64 / (p + f) as f64 * 100.0)
    }

    /// Overall quality score, 0–100.
    pub fn quality_score(&self) -> f64 {
        let mut s = 100.0;
        if let Some(scan) = &self.last_scan {
            s -= 10.0 * scan.critical as f64 + 2.0 * scan.warning as f64;
        }
        if let Some(rate) = Self::pass_rate_of(self.tests.iter()) {
            s -= 30.0 * (1.0 - rate / 100.0);
        }
        let errors: i64 = self.agents.values().map(|m| m.error_count).sum();
        s -= 0.5 * errors as f64;
        s.clamp(0.0, 100.0)
    }

    /// One agent's quality score, 0–100; 50 for an unknown pane.
    pub fn agent_quality_score(&self, pane: &str) -> f64 {
        let Some(m) = self.agents.get(pane) else {
            return 50.0;
        };
        let mut s = 100.0;
        let ran = m.tests_passed + m.tests_failed;
        if ran > 0 {
            let rate = m.tests_passed as f64 / ran as f64;
            s *= 0.5 + 0.5 * rate;
        }
        s += 5.0 * (m.bugs_fixed - m.bugs_introduced) as f64;
        let ratio = m.error_count as f64 / (m.recovery_count.max(1)) as f64;
        if ratio > 1.0 {
            s -= 10.0 * (ratio - 1.0);
        }
        if m.avg_context_usage > 80.0 {
            s -= 0.5 * (m.avg_context_usage - 80.0);
        }
        s.clamp(0.0, 100.0)
    }

    /// Quality scores of every known agent.
    pub fn agent_quality_scores(&self) -> BTreeMap<String, f64> {
        self.agents
            .keys()
            .map(|p| (p.clone(), self.agent_quality_score(p)))
            .collect()
    }

    fn bug_trend(&self) -> TrendDirection {
        if self.scans.len() < 3 {
            return TrendDirection::Unknown;
        }
        let last3: Vec<&ScanMetrics> = self.scans.iter().rev().take(3).collect();
        let (newest, oldest) = (last3[0], last3[2]);
        let (a, b) = (
            oldest.critical + oldest.warning,
            newest.critical + newest.warning,
        );
        direction_lower_is_better(a as f64, b as f64, 0.0)
    }

    fn test_trend(&self) -> TrendDirection {
        let n = self.tests.len();
        if n < 10 {
            return TrendDirection::Unknown;
        }
        let k = n.min(20);
        let recent: Vec<&TestRunMetrics> = self.tests.iter().skip(n - k).collect();
        let half = k / 2;
        let first = Self::pass_rate_of(recent[..half].iter().copied());
        let second = Self::pass_rate_of(recent[half..].iter().copied());
        match (first, second) {
            (Some(a), Some(b)) if b > a + 5.0 => TrendDirection::Improving,
            (Some(a), Some(b)) if b < a - 5.0 => TrendDirection::Declining,
            (Some(_), Some(_)) => TrendDirection::Stable,
            _ => TrendDirection::Unknown,
        }
    }

    fn error_trend(&self, now: Timestamp) -> TrendDirection {
        let hour = ChronoDuration::hours(1);
        let (mut last, mut before) = (0, 0);
        for m in self.agents.values() {
            for t in &m.error_history {
                if *t > now - hour && *t <= now {
                    last += 1;
                } else if *t > now - hour - hour && *t <= now - hour {
                    before += 1;
                }
            }
        }
        direction_lower_is_better(before as f64, last as f64, 0.0)
    }

    /// The newest samples' second half against their first half (at least 20 samples kept).
    fn context_trend(&self) -> TrendDirection {
        let kept: usize = self.context.values().map(VecDeque::len).sum();
        if kept < 20 || self.recent_context.is_empty() {
            return TrendDirection::Unknown;
        }
        let recent = &self.recent_context;
        let half = recent.len() / 2;
        let avg = |s: &mut dyn Iterator<Item = &ContextSnapshot>, n: usize| {
            s.map(|x| x.usage).sum::<f64>() / n as f64
        };
        let a = avg(&mut recent.iter().take(half), half);
        let b = avg(&mut recent.iter().skip(half), recent.len() - half);
        direction_lower_is_better(a, b, 5.0)
    }

    /// Recomputes the time-dependent trends at `now`.
    pub fn refresh(&mut self, now: Timestamp) {
        self.trend.error_trend = self.error_trend(now);
        self.trend.last_updated = Some(now);
    }

    /// The current trends.
    pub fn trend(&self) -> &QualityTrend {
        &self.trend
    }

    /// A summary for digests and alerts.
    pub fn summary(&self, now: Timestamp) -> QualitySummary {
        let hour_ago = now - ChronoDuration::hours(1);
        let passed: i64 = self.tests.iter().map(|r| r.passed).sum();
        let failed: i64 = self.tests.iter().map(|r| r.failed).sum();
        let rate = Self::pass_rate_of(self.tests.iter()).unwrap_or(0.0);
        let errors: i64 = self.agents.values().map(|m| m.error_count).sum();
        let hours = self
            .tests
            .front()
            .map(|r| (now - r.timestamp).num_seconds() as f64 / 3600.0)
            .unwrap_or(0.0);
        let sampled: Vec<&AgentQualityMetrics> = self
            .agents
            .values()
            .filter(|m| m.context_samples > 0)
            .collect();
        let avg_ctx = if sampled.is_empty() {
            0.0
        } else {
            sampled.iter().map(|m| m.avg_context_usage).sum::<f64>() / sampled.len() as f64
        };
        let peak = sampled.iter().map(|m| m.peak_context).fold(0.0, f64::max);
        let high = sampled
            .iter()
            .filter(|m| m.avg_context_usage > 80.0)
            .count() as i64;
        let scan_age = self
            .last_scan
            .as_ref()
            .map(|s| (now - s.timestamp).num_minutes())
            .unwrap_or(0);
        let mut trend = self.trend.clone();
        trend.error_trend = self.error_trend(now);
        let mut summary = QualitySummary {
            timestamp: now,
            ubs_available: self.ubs_available,
            critical_bugs: self.last_scan.as_ref().map(|s| s.critical).unwrap_or(0),
            warnings: self.last_scan.as_ref().map(|s| s.warning).unwrap_or(0),
            total_findings: self
                .last_scan
                .as_ref()
                .map(|s| s.critical + s.warning + s.info)
                .unwrap_or(0),
            last_scan_age: scan_age,
            scan_healthy: self.scan_errors_consecutive == 0,
            consecutive_error: self.scan_errors_consecutive,
            test_pass_rate: rate,
            recent_test_runs: self.tests.iter().filter(|r| r.timestamp > hour_ago).count() as i64,
            total_test_runs: self.tests.len() as i64,
            tests_passed_all: passed,
            tests_failed_all: failed,
            total_agent_errors: errors,
            error_rate: if hours > 0.0 {
                errors as f64 / hours
            } else {
                0.0
            },
            avg_context_usage: avg_ctx,
            peak_context_usage: peak,
            high_context_count: high,
            trend,
            alerts: Vec::new(),
        };
        summary.alerts = self.alerts(&summary);
        summary
    }

    fn alerts(&self, s: &QualitySummary) -> Vec<String> {
        let mut out = Vec::new();
        if s.critical_bugs > 0 {
            out.push(alerts::CRITICAL_BUGS.to_string());
        }
        if s.test_pass_rate < 80.0 && s.total_test_runs > 5 {
            out.push(alerts::LOW_PASS_RATE.to_string());
        }
        if s.high_context_count > 0 {
            out.push(alerts::HIGH_CONTEXT.to_string());
        }
        if self.ubs_available && (self.last_scan.is_none() || s.last_scan_age > 30) {
            out.push(alerts::STALE_SCAN.to_string());
        }
        if s.consecutive_error >= 3 {
            out.push(alerts::SCAN_FAILURES.to_string());
        }
        if s.trend.bug_trend == TrendDirection::Declining {
            out.push(alerts::BUGS_UP.to_string());
        }
        if s.trend.test_trend == TrendDirection::Declining {
            out.push(alerts::TESTS_DOWN.to_string());
        }
        if s.trend.error_trend == TrendDirection::Declining {
            out.push(alerts::ERRORS_UP.to_string());
        }
        out
    }
}

/// Direction of a metric where lower is better, with a dead band.
fn direction_lower_is_better(before: f64, after: f64, band: f64) -> TrendDirection {
    if after < before - band {
        TrendDirection::Improving
    } else if after > before + band {
        TrendDirection::Declining
    } else {
        TrendDirection::Stable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339;

    fn t(min: i64) -> Timestamp {
        parse_rfc3339("2026-01-01T12:00:00Z").unwrap() + ChronoDuration::minutes(min)
    }

    fn run(at: i64, pane: &str, passed: i64, failed: i64) -> TestRunMetrics {
        TestRunMetrics {
            timestamp: t(at),
            agent_pane_id: pane.into(),
            passed,
            failed,
            skipped: 1,
            duration: 100,
            package: String::new(),
        }
    }

    fn scan(at: i64, critical: i64, warning: i64) -> ScanMetrics {
        ScanMetrics {
            timestamp: t(at),
            duration: 10,
            critical,
            warning,
            info: 0,
            files: 3,
            exit_code: 0,
        }
    }

    #[test]
    fn overall_score() {
        let mut q = QualityMonitor::new(true);
        assert_eq!(q.quality_score(), 100.0);
        q.record_scan(scan(0, 1, 2));
        assert_eq!(q.quality_score(), 86.0);
        q.record_test_run(run(1, "%1", 8, 2));
        assert!((q.quality_score() - 80.0).abs() < 1e-9);
        q.record_agent_error("%1", "cc", t(2));
        q.record_agent_error("%2", "cod", t(3));
        assert!((q.quality_score() - 79.0).abs() < 1e-9);
        q.record_scan(scan(4, 20, 0));
        assert_eq!(q.quality_score(), 0.0, "clamped");
    }

    #[test]
    fn agent_score() {
        let mut q = QualityMonitor::new(false);
        assert_eq!(q.agent_quality_score("%9"), 50.0);
        q.record_test_run(run(0, "%1", 3, 1));
        assert!((q.agent_quality_score("%1") - 87.5).abs() < 1e-9);
        let m = q.agent_metrics("%1").unwrap();
        assert_eq!((m.tests_passed, m.tests_failed, m.tests_total), (3, 1, 5));
        q.record_bug_fixed("%1");
        q.record_bug_fixed("%1");
        q.record_bug_introduced("%1");
        assert!((q.agent_quality_score("%1") - 92.5).abs() < 1e-9);
        for i in 0..3 {
            q.record_agent_error("%1", "cc", t(i));
        }
        q.record_agent_recovery("%1");
        // errors/recoveries = 3 → −20
        assert!((q.agent_quality_score("%1") - 72.5).abs() < 1e-9);
        for i in 0..4 {
            q.record_context_usage("%1", "cc", 90.0, t(i));
        }
        // average 90 → −5
        assert!((q.agent_quality_score("%1") - 67.5).abs() < 1e-9);
    }

    #[test]
    fn bug_trend() {
        let mut q = QualityMonitor::new(true);
        q.record_scan(scan(0, 1, 5));
        q.record_scan(scan(1, 1, 5));
        assert_eq!(q.trend().bug_trend, TrendDirection::Unknown);
        q.record_scan(scan(2, 0, 2));
        assert_eq!(q.trend().bug_trend, TrendDirection::Improving);
        q.record_scan(scan(3, 3, 9));
        assert_eq!(q.trend().bug_trend, TrendDirection::Declining);
        q.record_scan(scan(4, 1, 5));
        q.record_scan(scan(5, 3, 9));
        assert_eq!(q.trend().bug_trend, TrendDirection::Stable);
    }

    #[test]
    fn test_trend() {
        let mut q = QualityMonitor::new(false);
        for i in 0..9 {
            q.record_test_run(run(i, "", 10, 0));
        }
        assert_eq!(q.trend().test_trend, TrendDirection::Unknown);
        q.record_test_run(run(9, "", 10, 0));
        assert_eq!(q.trend().test_trend, TrendDirection::Stable);
        for i in 10..20 {
            q.record_test_run(run(i, "", 5, 5));
        }
        assert_eq!(q.trend().test_trend, TrendDirection::Declining);
        for i in 20..30 {
            q.record_test_run(run(i, "", 10, 0));
        }
        assert_eq!(q.trend().test_trend, TrendDirection::Improving);
    }

    #[test]
    fn error_trend_and_context_trend() {
        let mut q = QualityMonitor::new(false);
        q.record_agent_error("%1", "cc", t(0));
        q.record_agent_error("%1", "cc", t(15));
        // At t(70): one error in the last hour (t(15)), one in the hour before (t(0)).
        q.refresh(t(70));
        assert_eq!(q.trend().error_trend, TrendDirection::Stable);
        q.record_agent_error("%1", "cc", t(71));
        assert_eq!(q.trend().error_trend, TrendDirection::Declining);
        q.refresh(t(200));
        assert_eq!(q.trend().error_trend, TrendDirection::Stable);

        for i in 0..19 {
            q.record_context_usage("%1", "cc", 30.0, t(i));
        }
        assert_eq!(q.trend().context_trend, TrendDirection::Unknown);
        q.record_context_usage("%1", "cc", 30.0, t(19));
        assert_eq!(q.trend().context_trend, TrendDirection::Stable);
        for i in 20..40 {
            q.record_context_usage("%2", "cod", 70.0, t(i));
        }
        assert_eq!(q.trend().context_trend, TrendDirection::Declining);
    }

    /// The trend as it was computed before `recent_context`: every pane's samples sorted by
    /// time, the newest 100 halved.
    fn context_trend_by_sorting(q: &QualityMonitor) -> TrendDirection {
        let mut all: Vec<&ContextSnapshot> = q.context.values().flatten().collect();
        if all.len() < 20 {
            return TrendDirection::Unknown;
        }
        all.sort_by_key(|s| s.timestamp);
        let k = all.len().min(100);
        let recent = &all[all.len() - k..];
        let half = k / 2;
        let avg = |s: &[&ContextSnapshot]| s.iter().map(|x| x.usage).sum::<f64>() / s.len() as f64;
        direction_lower_is_better(avg(&recent[..half]), avg(&recent[half..]), 5.0)
    }

    #[test]
    fn the_context_trend_reads_the_newest_samples_as_sorting_all_did() {
        // 64 panes sampled once a poll (one time a poll), their usage drifting up and down:
        // after every sample the trend equals the one computed by sorting every history. (Among
        // samples of one time the sort kept pane-name order, an arbitrary one; the panes here
        // are recorded in that order, so both pick the same samples.)
        let mut q = QualityMonitor::new(false);
        let mut seen = std::collections::BTreeSet::new();
        for poll in 0..60i64 {
            for pane in 0..64i64 {
                if (poll + pane) % 3 == 0 {
                    continue; // not every pane shows a figure at every poll
                }
                let usage = 50.0 + 40.0 * (((poll / 10) % 2) as f64) + (pane % 7) as f64;
                q.record_context_usage(&format!("%{pane:02}"), "cc", usage, t(poll));
                assert_eq!(q.trend().context_trend, context_trend_by_sorting(&q));
                seen.insert(format!("{:?}", q.trend().context_trend));
            }
        }
        assert!(seen.len() >= 3, "the data reached several trends: {seen:?}");
    }

    #[test]
    fn summary_and_alert_order() {
        let mut q = QualityMonitor::new(true);
        q.record_scan(scan(0, 2, 1));
        for i in 0..6 {
            q.record_test_run(run(i, "%1", 1, 1));
        }
        for i in 0..5 {
            q.record_context_usage("%1", "cc", 85.0, t(i));
        }
        for _ in 0..3 {
            q.record_scan_error();
        }
        let s = q.summary(t(45));
        assert_eq!(s.critical_bugs, 2);
        assert_eq!(s.total_test_runs, 6);
        assert_eq!(s.test_pass_rate, 50.0);
        assert_eq!(s.high_context_count, 1);
        assert_eq!(s.last_scan_age, 45);
        assert!(!s.scan_healthy);
        assert_eq!(s.consecutive_error, 3);
        assert_eq!(
            s.alerts,
            vec![
                alerts::CRITICAL_BUGS,
                alerts::LOW_PASS_RATE,
                alerts::HIGH_CONTEXT,
                alerts::STALE_SCAN,
                alerts::SCAN_FAILURES
            ]
        );
        assert!((s.error_rate - 0.0).abs() < 1e-9);
    }

    #[test]
    fn histories_are_bounded() {
        let mut q = QualityMonitor::new(false);
        for i in 0..(MAX_TEST_RUNS as i64 + 20) {
            q.record_test_run(run(i, "%1", 1, 0));
        }
        assert_eq!(q.test_runs().count(), MAX_TEST_RUNS);
        for i in 0..(MAX_ERROR_HISTORY as i64 + 5) {
            q.record_agent_error("%1", "cc", t(i));
        }
        assert_eq!(
            q.agent_metrics("%1").unwrap().error_history.len(),
            MAX_ERROR_HISTORY
        );
    }
}
