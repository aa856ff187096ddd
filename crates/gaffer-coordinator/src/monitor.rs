//! AgentMonitor: every agent pane's status, idle time and health (spec coordinator.md §7),
//! built on the `Panes` port, the detector and one `AgentTracker` per pane.
//!
//! One [`AgentMonitor::refresh`] is one observation cycle: the adapter lists every pane and
//! captures only panes whose content may have changed; each agent pane's screen goes through
//! the detector, and the verdict through the pane's tracker (hysteresis, STALLED).

use chrono::Utc;
use gaffer_core::agent::{AgentStatusResult, HealthCheck};
use gaffer_core::detect::{AgentTracker, Detector, Observation, ScreenInput, TrackerConfig};
use gaffer_core::panes::{ObserveMode, PaneInfo, Panes, PanesError};
use gaffer_core::status::AgentStatus;
use gaffer_core::time::{self, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// Context usage above this percentage is a health issue.
pub const CONTEXT_HIGH_PERCENT: f64 = 85.0;

/// Monitor settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MonitorConfig {
    /// Busy with no content change for this long ⇒ STALLED.
    pub stall_threshold: Duration,
    /// Observations a new non-urgent status must persist before it is adopted.
    pub confirm_observations: u32,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            stall_threshold: Duration::from_secs(120),
            confirm_observations: 2,
        }
    }
}

impl From<&gaffer_core::config::DetectionConfig> for MonitorConfig {
    fn from(c: &gaffer_core::config::DetectionConfig) -> Self {
        MonitorConfig {
            stall_threshold: c.stall_threshold,
            confirm_observations: c.confirm_observations,
        }
    }
}

/// One agent pane after a refresh.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentReport {
    /// The pane.
    pub pane: PaneInfo,
    /// Status after hysteresis and STALLED, with the raw verdict and its evidence.
    pub observation: Observation,
    /// The pane's last content change (the adapter's activity clock).
    #[serde(with = "time::rfc3339")]
    pub last_activity: Timestamp,
    /// Seconds since the last content change.
    pub idle_seconds: f64,
    /// Output velocity, characters per second since the previous capture.
    pub velocity: f64,
    /// Health summary.
    pub health: HealthCheck,
}

/// The result of one refresh.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonitorSnapshot {
    /// When the panes were observed.
    #[serde(with = "time::rfc3339")]
    pub observed_at: Timestamp,
    /// How they were observed.
    pub mode: ObserveMode,
    /// Agent panes, in listing order.
    pub agents: Vec<AgentReport>,
    /// Agent panes that vanished since the previous refresh.
    pub vanished: Vec<String>,
    /// Problems met while observing.
    pub problems: Vec<String>,
}

struct Entry {
    tracker: AgentTracker,
    chars: usize,
    at: Timestamp,
    velocity: f64,
}

struct Inner {
    entries: HashMap<String, Entry>,
    last: Option<MonitorSnapshot>,
}

/// Tracks agent status through the `Panes` port and the detector.
pub struct AgentMonitor {
    panes: Arc<dyn Panes>,
    detector: Detector,
    cfg: MonitorConfig,
    inner: Mutex<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The health of one agent from its status result (spec coordinator.md §7).
pub fn health_of(
    pane_id: &str,
    agent_type: &str,
    result: &AgentStatusResult,
    at: Timestamp,
) -> HealthCheck {
    let mut issues = Vec::new();
    if !result.healthy && !result.error_message.is_empty() {
        issues.push(result.error_message.clone());
    }
    match result.status {
        AgentStatus::Error => issues.push("agent in error state".to_string()),
        AgentStatus::Stalled => issues.push("agent appears stalled".to_string()),
        AgentStatus::Exited => issues.push("agent exited (the pane is a shell)".to_string()),
        _ => {}
    }
    if result.context_usage > CONTEXT_HIGH_PERCENT {
        issues.push(format!(
            "context usage high (>{}%)",
            CONTEXT_HIGH_PERCENT as u32
        ));
    }
    HealthCheck {
        pane_id: pane_id.to_string(),
        agent_type: agent_type.to_string(),
        healthy: result.healthy,
        issues,
        timestamp: at,
    }
}

fn status_result(report: &AgentReport) -> AgentStatusResult {
    let status = report.observation.status;
    let healthy = !matches!(status, AgentStatus::Error | AgentStatus::Exited);
    AgentStatusResult {
        status,
        context_usage: report.observation.verdict.context_usage.unwrap_or(0.0),
        last_activity: report.last_activity,
        velocity: report.velocity,
        healthy,
        error_message: String::new(),
    }
}

fn unobserved(message: String) -> AgentStatusResult {
    AgentStatusResult {
        status: AgentStatus::Unknown,
        context_usage: 0.0,
        last_activity: time::zero_time(),
        velocity: 0.0,
        healthy: false,
        error_message: message,
    }
}

impl AgentMonitor {
    /// A monitor over `panes`.
    pub fn new(panes: Arc<dyn Panes>, detector: Detector, cfg: MonitorConfig) -> Self {
        AgentMonitor {
            panes,
            detector,
            cfg,
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                last: None,
            }),
        }
    }

    /// The detector in use.
    pub fn detector(&self) -> &Detector {
        &self.detector
    }

    /// The port in use.
    pub fn panes(&self) -> &Arc<dyn Panes> {
        &self.panes
    }

    /// One observation cycle.
    pub fn refresh(&self) -> Result<MonitorSnapshot, PanesError> {
        let snap = self.panes.observe()?;
        let mut inner = lock(&self.inner);
        let mut agents = Vec::new();
        for p in snap.panes.iter().filter(|p| p.info.is_agent()) {
            let input = ScreenInput {
                agent_type: &p.info.agent_type,
                screen: &p.screen,
                current_command: &p.info.current_command,
                observed_at: snap.observed_at,
            };
            let verdict = self.detector.detect(&input);
            let tcfg = TrackerConfig {
                stall_threshold: self.cfg.stall_threshold,
                confirm_observations: self.cfg.confirm_observations,
            };
            let chars = p.screen.chars().count();
            let entry = inner
                .entries
                .entry(p.info.pane_id.clone())
                .or_insert_with(|| Entry {
                    tracker: AgentTracker::new(tcfg),
                    chars,
                    at: snap.observed_at,
                    velocity: 0.0,
                });
            if p.captured && p.content_changed {
                let dt = (snap.observed_at - entry.at).num_milliseconds() as f64 / 1000.0;
                if dt > 0.0 {
                    entry.velocity = chars.abs_diff(entry.chars) as f64 / dt;
                }
                entry.chars = chars;
                entry.at = snap.observed_at;
            } else if !p.content_changed {
                entry.velocity = 0.0;
            }
            let observation = entry.tracker.observe(verdict, p.content_changed);
            let last_activity = p.last_change.min(snap.observed_at);
            let idle_seconds = (snap.observed_at - last_activity)
                .to_std()
                .map(|d| d.as_secs_f64())
                .unwrap_or(0.0);
            let mut report = AgentReport {
                pane: p.info.clone(),
                observation,
                last_activity,
                idle_seconds,
                velocity: entry.velocity,
                health: HealthCheck {
                    pane_id: p.info.pane_id.clone(),
                    agent_type: p.info.agent_type.clone(),
                    healthy: true,
                    issues: Vec::new(),
                    timestamp: snap.observed_at,
                },
            };
            report.health = health_of(
                &p.info.pane_id,
                &p.info.agent_type,
                &status_result(&report),
                snap.observed_at,
            );
            agents.push(report);
        }
        for v in &snap.vanished {
            inner.entries.remove(v);
        }
        let out = MonitorSnapshot {
            observed_at: snap.observed_at,
            mode: snap.mode,
            agents,
            vanished: snap.vanished.clone(),
            problems: snap.problems.clone(),
        };
        inner.last = Some(out.clone());
        Ok(out)
    }

    /// The status of one agent pane (observes first).
    pub fn get_agent_status(&self, pane_id: &str, agent_type: &str) -> AgentStatusResult {
        let _ = agent_type;
        match self.refresh() {
            Ok(snap) => snap
                .agents
                .iter()
                .find(|a| a.pane.pane_id == pane_id)
                .map(status_result)
                .unwrap_or_else(|| unobserved(format!("pane {pane_id} not found"))),
            Err(e) => unobserved(e.to_string()),
        }
    }

    /// The status of every agent pane, keyed by pane id (one observation).
    pub fn get_all_agent_statuses(
        &self,
    ) -> Result<BTreeMap<String, AgentStatusResult>, PanesError> {
        let snap = self.refresh()?;
        Ok(snap
            .agents
            .iter()
            .map(|a| (a.pane.pane_id.clone(), status_result(a)))
            .collect())
    }

    /// A health summary for one agent (observes first).
    pub fn check_agent_health(&self, pane_id: &str, agent_type: &str) -> HealthCheck {
        let result = self.get_agent_status(pane_id, agent_type);
        health_of(pane_id, agent_type, &result, Utc::now())
    }

    /// The last refresh, if any.
    pub fn last(&self) -> Option<MonitorSnapshot> {
        lock(&self.inner).last.clone()
    }
}
