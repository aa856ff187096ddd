//! AgentMonitor: every agent pane's status, idle time and health (spec coordinator.md §7),
//! built on the `Panes` port, the detector and one `AgentTracker` per pane.
//!
//! One [`AgentMonitor::refresh`] is one observation cycle: the adapter lists every pane and
//! captures only panes whose content may have changed; each agent pane's screen goes through
//! the detector; the verdict is fused with the pane's own signals (hooks, session file,
//! transcript: [`gaffer_core::fuse`]) when a [`SignalFeed`] or [`AgentFiles`] port is given, and
//! goes through the pane's tracker (hysteresis, STALLED).

use chrono::Utc;
use gaffer_core::agent::{AgentStatusResult, HealthCheck};
use gaffer_core::agent_files::AgentFiles;
use gaffer_core::detect::{
    AgentTracker, Detector, Observation, ScreenInput, TrackerConfig, Verdict,
};
use gaffer_core::fuse::{FuseConfig, fuse};
use gaffer_core::panes::{ObserveMode, PaneInfo, Panes, PanesError};
use gaffer_core::signals::SignalFeed;
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

pub use gaffer_core::cycle::AgentReport;

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
    /// Why nothing could be observed (tmux server or session gone), when so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lost: Option<String>,
    /// `[[hosts]]` hosts that could not be observed: host name → error.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub unreachable: BTreeMap<String, String>,
    /// How each `[[hosts]]` host answered (latency, late); empty without hosts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<gaffer_core::panes::HostObservation>,
}

struct Entry {
    tracker: AgentTracker,
    /// Activity fingerprint of the last captured screen.
    fingerprint: Option<u64>,
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
    signals: Option<Arc<dyn SignalFeed>>,
    files: Option<Arc<dyn AgentFiles>>,
    fuse_cfg: FuseConfig,
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

/// An agent whose process is gone is EXITED whatever its last screen shows (a CLI killed
/// outright leaves its busy screen standing).
pub fn gone_verdict(verdict: Verdict, info: &PaneInfo) -> Verdict {
    if !info.process_gone || verdict.status == AgentStatus::Exited {
        return verdict;
    }
    Verdict {
        status: AgentStatus::Exited,
        reason: "the agent process is gone: the pane is dead, or its command is a shell with \
                 no child process"
            .into(),
        rule: "process.gone".into(),
        evidence: vec![format!(
            "pane_current_command = {}, pane_dead = {}",
            info.current_command, info.dead
        )],
        confidence: 0.9,
        context_usage: None,
        rate_limit_reset: None,
        observed_at: verdict.observed_at,
        fusion: None,
    }
}

impl AgentMonitor {
    /// A monitor over `panes`.
    pub fn new(panes: Arc<dyn Panes>, detector: Detector, cfg: MonitorConfig) -> Self {
        AgentMonitor {
            panes,
            detector,
            cfg,
            signals: None,
            files: None,
            fuse_cfg: FuseConfig::default(),
            inner: Mutex::new(Inner {
                entries: HashMap::new(),
                last: None,
            }),
        }
    }

    /// This monitor reading the agents' hook signals from `feed`.
    pub fn with_signals(mut self, feed: Arc<dyn SignalFeed>) -> Self {
        self.signals = Some(feed);
        self
    }

    /// This monitor reading the agents' transcripts and session files through `files`.
    pub fn with_agent_files(mut self, files: Arc<dyn AgentFiles>) -> Self {
        self.files = Some(files);
        self
    }

    /// This monitor fusing with `cfg`.
    pub fn with_fuse_config(mut self, cfg: FuseConfig) -> Self {
        self.fuse_cfg = cfg;
        self
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
        let mut signals = self
            .signals
            .as_ref()
            .map(|f| f.pane_signals())
            .unwrap_or_default();
        let mut inner = lock(&self.inner);
        let mut agents = Vec::new();
        for p in snap.panes.iter().filter(|p| p.info.is_agent()) {
            let input = ScreenInput {
                agent_type: &p.info.agent_type,
                screen: &p.screen,
                current_command: &p.info.current_command,
                observed_at: snap.observed_at,
            };
            // A dead pane (kept by `remain-on-exit`) still shows the agent's last screen, and so
            // may a shell whose agent was killed outright.
            let verdict = if p.info.dead {
                gaffer_core::detect::dead_pane_verdict(snap.observed_at)
            } else {
                gone_verdict(self.detector.detect(&input), &p.info)
            };
            let pane_signals = signals.remove(&p.info.pane_id);
            // The agents' files are read on this machine: a remote pane's pid and files are
            // on its host, so they are not read for `host:%N` panes.
            let local_pane = gaffer_core::panes::pane_host(&p.info.pane_id).is_none();
            let pane_signals = match &self.files {
                Some(files) if local_pane => {
                    let mut ps = pane_signals.unwrap_or_default();
                    let r = files.read(&p.info, &ps);
                    if ps.context.is_none() {
                        ps.context = r.context;
                    }
                    if ps.session_file.is_none() {
                        ps.session_file = r.session_file;
                    }
                    Some(ps)
                }
                _ => pane_signals,
            };
            let verdict = fuse(
                &verdict,
                pane_signals.as_ref(),
                p.last_change.min(snap.observed_at),
                snap.observed_at,
                &self.fuse_cfg,
            )
            .apply(verdict);
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
                    fingerprint: None,
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
            // Progress for STALLED: the screen changed beyond a turning spinner or a ticking
            // elapsed-time counter (a busy Claude pane redraws its timer every second).
            // Only a freshly captured, changed screen can be progress; unchanged panes (most of
            // them, most of the time) are not hashed again.
            let mut progress = false;
            if p.captured && p.content_changed {
                let fingerprint = gaffer_core::detect::activity_fingerprint(&p.screen);
                progress = entry.fingerprint != Some(fingerprint);
                entry.fingerprint = Some(fingerprint);
            }
            let observation = entry.tracker.observe(verdict, progress);
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
        // Agents on a host that cannot be reached: UNKNOWN (`host_unreachable`), as last seen,
        // their trackers kept for when the host answers again.
        for u in &snap.unreachable {
            for info in u.panes.iter().filter(|p| p.is_agent()) {
                let verdict = gaffer_core::detect::host_unreachable_verdict(
                    &u.host,
                    &u.error,
                    snap.observed_at,
                );
                let last_activity = inner
                    .entries
                    .get(&info.pane_id)
                    .map_or(snap.observed_at, |e| e.at.min(snap.observed_at));
                let idle_for = (snap.observed_at - last_activity)
                    .to_std()
                    .unwrap_or_default();
                let observation = Observation {
                    status: AgentStatus::Unknown,
                    verdict,
                    last_activity,
                    idle_for,
                    since: snap.observed_at,
                    changed: false,
                    previous: None,
                    pending: None,
                };
                let mut report = AgentReport {
                    pane: info.clone(),
                    observation,
                    last_activity,
                    idle_seconds: idle_for.as_secs_f64(),
                    velocity: 0.0,
                    health: HealthCheck {
                        pane_id: info.pane_id.clone(),
                        agent_type: info.agent_type.clone(),
                        healthy: false,
                        issues: Vec::new(),
                        timestamp: snap.observed_at,
                    },
                };
                report.health = health_of(
                    &info.pane_id,
                    &info.agent_type,
                    &status_result(&report),
                    snap.observed_at,
                );
                // Not observed: not healthy (AgentState::healthy), and the health says why.
                report.health.healthy = false;
                report
                    .health
                    .issues
                    .push(format!("host {} unreachable: {}", u.host, u.error));
                agents.push(report);
            }
        }
        // Agents on a host that has not answered in time this pass keep their last report (not
        // observed again: their trackers see no repeated, stale screen).
        let late: Vec<&str> = snap
            .hosts
            .iter()
            .filter(|h| h.late && !snap.unreachable.iter().any(|u| u.host == h.host))
            .map(|h| h.host.as_str())
            .collect();
        if !late.is_empty()
            && let Some(prev) = &inner.last
        {
            let kept: Vec<AgentReport> = prev
                .agents
                .iter()
                .filter(|a| {
                    gaffer_core::panes::pane_host(&a.pane.pane_id)
                        .is_some_and(|h| late.contains(&h))
                        && !agents.iter().any(|b| b.pane.pane_id == a.pane.pane_id)
                })
                .cloned()
                .collect();
            agents.extend(kept);
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
            lost: snap.lost.clone(),
            unreachable: snap
                .unreachable
                .iter()
                .map(|u| (u.host.clone(), u.error.clone()))
                .collect(),
            hosts: snap.hosts.clone(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use gaffer_core::panes::{ObservedPane, PaneInfo, PaneSnapshot};
    use gaffer_testkit::fakes::ScriptedPanes;

    fn fixture(kind: &str, name: &str) -> String {
        let path = format!(
            "{}/../gaffer-core/tests/screens/{kind}/{name}.txt",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        match text.split_once("\n---\n") {
            Some((_, screen)) => screen.to_string(),
            None => text,
        }
    }

    fn t(secs: i64) -> Timestamp {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).single().unwrap()
    }

    fn pane(
        id: &str,
        title: &str,
        cmd: &str,
        screen: &str,
        changed: bool,
        last: i64,
    ) -> ObservedPane {
        let info = PaneInfo {
            pane_id: id.into(),
            title: title.into(),
            current_command: cmd.into(),
            session: "s".into(),
            ..PaneInfo::default()
        }
        .with_identity(gaffer_core::pane::identify_pane(title, cmd));
        ObservedPane {
            info,
            screen: screen.into(),
            content_changed: changed,
            captured: changed,
            last_change: t(last),
        }
    }

    fn snap(
        at: i64,
        panes: Vec<ObservedPane>,
        vanished: &[&str],
    ) -> Result<PaneSnapshot, PanesError> {
        Ok(PaneSnapshot {
            observed_at: t(at),
            mode: ObserveMode::Polling,
            panes,
            vanished: vanished.iter().map(|s| s.to_string()).collect(),
            problems: Vec::new(),
            lost: None,
            unreachable: Vec::new(),
            hosts: Vec::new(),
        })
    }

    fn monitor(snaps: Vec<Result<PaneSnapshot, PanesError>>, stall: u64) -> AgentMonitor {
        AgentMonitor::new(
            Arc::new(ScriptedPanes::new(snaps)),
            Detector::builtin(),
            MonitorConfig {
                stall_threshold: Duration::from_secs(stall),
                confirm_observations: 2,
            },
        )
    }

    #[test]
    fn an_agent_whose_process_is_gone_is_exited_whatever_its_screen() {
        let busy = Verdict {
            status: AgentStatus::Generating,
            reason: "spinner".into(),
            rule: "cod.busy".into(),
            evidence: vec![],
            confidence: 0.9,
            context_usage: Some(10.0),
            rate_limit_reset: None,
            observed_at: t(1),
            fusion: None,
        };
        let mut info = PaneInfo {
            current_command: "sh".into(),
            ..PaneInfo::default()
        };
        assert_eq!(gone_verdict(busy.clone(), &info), busy);
        info.process_gone = true;
        let v = gone_verdict(busy.clone(), &info);
        assert_eq!(
            (v.status, v.rule.as_str()),
            (AgentStatus::Exited, "process.gone")
        );
        assert_eq!(v.context_usage, None);
    }

    #[test]
    fn statuses_health_and_user_panes() {
        let idle = fixture("cc", "idle_with_context");
        let err = fixture("cod", "error_stream");
        let m = monitor(
            vec![snap(
                100,
                vec![
                    pane("%1", "s__cc_1", "claude", &idle, true, 40),
                    pane("%2", "s__cod_1", "codex", &err, true, 90),
                    pane("%3", "host", "bash", "$ ls", true, 90),
                ],
                &[],
            )],
            120,
        );
        let all = m.get_all_agent_statuses().unwrap();
        assert_eq!(all.len(), 2, "user panes are not agents");
        let cc = &all["%1"];
        assert_eq!(cc.status, AgentStatus::Waiting);
        assert!(cc.healthy);
        assert_eq!(cc.last_activity, t(40));
        let cod = &all["%2"];
        assert_eq!(cod.status, AgentStatus::Error);
        assert!(!cod.healthy);
        let last = m.last().unwrap();
        let cc = last.agents.iter().find(|a| a.pane.pane_id == "%1").unwrap();
        assert_eq!(cc.idle_seconds, 60.0);
        let cod = last.agents.iter().find(|a| a.pane.pane_id == "%2").unwrap();
        assert_eq!(cod.health.issues, vec!["agent in error state".to_string()]);
    }

    #[test]
    fn health_thresholds() {
        let base = AgentStatusResult {
            status: AgentStatus::Generating,
            context_usage: 85.0,
            last_activity: t(0),
            velocity: 0.0,
            healthy: true,
            error_message: String::new(),
        };
        assert!(
            health_of("%1", "cc", &base, t(1)).issues.is_empty(),
            "85 is not above 85"
        );
        let high = AgentStatusResult {
            context_usage: 85.5,
            ..base.clone()
        };
        assert_eq!(
            health_of("%1", "cc", &high, t(1)).issues,
            vec!["context usage high (>85%)".to_string()]
        );
        let stalled = AgentStatusResult {
            status: AgentStatus::Stalled,
            ..base.clone()
        };
        let h = health_of("%1", "cc", &stalled, t(1));
        assert!(h.healthy);
        assert_eq!(h.issues, vec!["agent appears stalled".to_string()]);
        let gone = unobserved("pane %9 not found".into());
        let h = health_of("%9", "cc", &gone, t(1));
        assert!(!h.healthy);
        assert_eq!(h.issues, vec!["pane %9 not found".to_string()]);
    }

    #[test]
    fn busy_without_progress_becomes_stalled() {
        let busy = fixture("cc", "busy_spinner");
        let m = monitor(
            vec![
                snap(
                    0,
                    vec![pane("%1", "s__cc_1", "claude", &busy, true, 0)],
                    &[],
                ),
                snap(
                    5,
                    vec![pane("%1", "s__cc_1", "claude", &busy, false, 0)],
                    &[],
                ),
                snap(
                    40,
                    vec![pane("%1", "s__cc_1", "claude", &busy, false, 0)],
                    &[],
                ),
            ],
            30,
        );
        assert!(m.refresh().unwrap().agents[0].observation.status.is_busy());
        assert!(m.refresh().unwrap().agents[0].observation.status.is_busy());
        let r = m.refresh().unwrap();
        assert_eq!(r.agents[0].observation.status, AgentStatus::Stalled);
        assert_eq!(
            r.agents[0].health.issues,
            vec!["agent appears stalled".to_string()]
        );
    }

    #[test]
    fn a_ticking_spinner_alone_is_not_progress() {
        // A busy Claude pane redraws its elapsed time every second, so its raw content always
        // changes; only real output counts as progress for STALLED.
        let busy = fixture("cc", "busy_spinner");
        let tick = |secs: u32| busy.replace("(12s ·", &format!("({secs}s ·"));
        let m = monitor(
            vec![
                snap(
                    0,
                    vec![pane("%1", "s__cc_1", "claude", &tick(12), true, 0)],
                    &[],
                ),
                snap(
                    5,
                    vec![pane("%1", "s__cc_1", "claude", &tick(17), true, 5)],
                    &[],
                ),
                snap(
                    40,
                    vec![pane("%1", "s__cc_1", "claude", &tick(52), true, 40)],
                    &[],
                ),
                snap(
                    45,
                    vec![pane(
                        "%1",
                        "s__cc_1",
                        "claude",
                        &format!("{}\nwrote src/a.rs", tick(57)),
                        true,
                        45,
                    )],
                    &[],
                ),
            ],
            30,
        );
        assert!(m.refresh().unwrap().agents[0].observation.status.is_busy());
        assert!(m.refresh().unwrap().agents[0].observation.status.is_busy());
        assert_eq!(
            m.refresh().unwrap().agents[0].observation.status,
            AgentStatus::Stalled
        );
        assert_ne!(
            m.refresh().unwrap().agents[0].observation.status,
            AgentStatus::Stalled,
            "new output ends the stall"
        );
    }

    #[test]
    fn missing_pane_and_port_errors_are_unhealthy_not_fatal() {
        let idle = fixture("gmi", "idle_after_turn");
        let m = monitor(
            vec![
                snap(0, vec![pane("%1", "s__gmi_1", "node", &idle, true, 0)], &[]),
                snap(1, vec![], &["%1"]),
                Err(PanesError::Unavailable("no server running".into())),
            ],
            30,
        );
        assert_eq!(m.get_agent_status("%1", "gmi").status, AgentStatus::Waiting);
        let gone = m.get_agent_status("%1", "gmi");
        assert!(!gone.healthy);
        assert!(gone.error_message.contains("not found"));
        let h = m.check_agent_health("%1", "gmi");
        assert!(!h.healthy);
        assert!(h.issues[0].contains("no server running"), "{:?}", h.issues);
    }

    #[test]
    fn velocity_counts_characters_per_second() {
        let m = monitor(
            vec![
                snap(
                    0,
                    vec![pane("%1", "s__cc_1", "claude", "abc", true, 0)],
                    &[],
                ),
                snap(
                    2,
                    vec![pane("%1", "s__cc_1", "claude", "abcdefg", true, 2)],
                    &[],
                ),
                snap(
                    3,
                    vec![pane("%1", "s__cc_1", "claude", "abcdefg", false, 2)],
                    &[],
                ),
            ],
            30,
        );
        assert_eq!(m.refresh().unwrap().agents[0].velocity, 0.0);
        assert_eq!(m.refresh().unwrap().agents[0].velocity, 2.0);
        assert_eq!(m.refresh().unwrap().agents[0].velocity, 0.0);
    }

    use gaffer_core::agent_files::AgentFileReadings;
    use gaffer_core::fuse::Source;
    use gaffer_core::signals::{ContextReading, HookEvent, PaneSignals, Signal};

    /// A feed whose signals the test sets between refreshes.
    #[derive(Default)]
    struct SetSignals(Mutex<BTreeMap<String, PaneSignals>>);

    impl SignalFeed for SetSignals {
        fn pane_signals(&self) -> BTreeMap<String, PaneSignals> {
            lock(&self.0).clone()
        }
    }

    impl SetSignals {
        fn push(&self, pane: &str, event: HookEvent, at: i64) {
            let mut all = lock(&self.0);
            let ps = all.entry(pane.to_string()).or_default();
            let seq = ps.last.len() as i64 + 1;
            ps.last.insert(
                event,
                Signal {
                    seq,
                    pane_id: pane.into(),
                    socket: None,
                    agent: "cc".into(),
                    event,
                    raw_event: String::new(),
                    at: t(at),
                    session_id: None,
                    transcript_path: None,
                    detail: None,
                },
            );
        }
    }

    struct FixedFiles(f64);

    impl AgentFiles for FixedFiles {
        fn read(&self, pane: &PaneInfo, signals: &PaneSignals) -> AgentFileReadings {
            assert_eq!(pane.pane_id, "%1");
            let _ = signals;
            AgentFileReadings {
                context: Some(ContextReading {
                    percent: self.0,
                    tokens: 1000,
                    window: 200_000,
                    model: None,
                    at: t(0),
                }),
                session_file: None,
            }
        }
    }

    #[test]
    fn a_hook_stop_is_adopted_at_once_and_named() {
        let busy = fixture("cc", "busy_spinner");
        let idle = fixture("cc", "idle_with_context");
        let feed = Arc::new(SetSignals::default());
        let m = monitor(
            vec![
                snap(
                    0,
                    vec![pane("%1", "s__cc_1", "claude", &busy, true, 0)],
                    &[],
                ),
                snap(
                    2,
                    vec![pane("%1", "s__cc_1", "claude", &idle, true, 2)],
                    &[],
                ),
            ],
            120,
        )
        .with_signals(feed.clone());
        feed.push("%1", HookEvent::TurnStart, 0);
        let r = m.refresh().unwrap();
        assert!(r.agents[0].observation.status.is_busy());
        feed.push("%1", HookEvent::Stop, 2);
        let r = m.refresh().unwrap();
        let o = &r.agents[0].observation;
        // the screen alone would wait for a second WAITING capture (hysteresis)
        assert_eq!(o.status, AgentStatus::Waiting, "exact: no hysteresis");
        assert!(o.changed);
        let fusion = o.verdict.fusion.as_ref().unwrap();
        assert_eq!(fusion.decided_by, Source::Hook);
        assert_eq!(fusion.sources[0].what, "stop");
        assert_eq!(fusion.rule, "agree");
    }

    #[test]
    fn without_a_feed_the_screen_decides_with_hysteresis() {
        let busy = fixture("cc", "busy_spinner");
        let idle = fixture("cc", "idle_with_context");
        let m = monitor(
            vec![
                snap(
                    0,
                    vec![pane("%1", "s__cc_1", "claude", &busy, true, 0)],
                    &[],
                ),
                snap(
                    2,
                    vec![pane("%1", "s__cc_1", "claude", &idle, true, 2)],
                    &[],
                ),
            ],
            120,
        );
        m.refresh().unwrap();
        let r = m.refresh().unwrap();
        let o = &r.agents[0].observation;
        assert!(o.status.is_busy(), "one WAITING capture is not adopted");
        assert_eq!(o.pending, Some(AgentStatus::Waiting));
        let fusion = o.verdict.fusion.as_ref().unwrap();
        assert_eq!(fusion.decided_by, Source::Screen);
        assert_eq!(fusion.rule, "screen only");
    }

    #[test]
    fn a_hook_busy_turn_beats_a_spinnerless_screen_and_files_give_context() {
        let idle = fixture("cod", "idle_after_turn");
        let feed = Arc::new(SetSignals::default());
        let m = monitor(
            vec![snap(
                10,
                vec![pane("%1", "s__cod_1", "codex", &idle, true, 10)],
                &[],
            )],
            120,
        )
        .with_signals(feed.clone())
        .with_agent_files(Arc::new(FixedFiles(37.5)));
        feed.push("%1", HookEvent::TurnStart, 5);
        let r = m.refresh().unwrap();
        let a = &r.agents[0];
        assert_eq!(a.observation.status, AgentStatus::Generating);
        assert_eq!(a.observation.verdict.context_usage, Some(37.5));
        let fusion = a.observation.verdict.fusion.as_ref().unwrap();
        assert_eq!(fusion.context_source, Some(Source::Transcript));
        assert_eq!(fusion.rule, "R3");
        assert_eq!(status_result(a).context_usage, 37.5);
    }

    #[test]
    fn remote_panes_read_no_local_files_and_unreachable_ones_are_unknown() {
        let idle = fixture("cod", "idle_after_turn");
        let mut first = snap(
            10,
            vec![
                pane("%1", "s__cod_1", "codex", &idle, true, 10),
                pane("b:%1", "s__cod_2", "codex", &idle, true, 10),
            ],
            &[],
        )
        .unwrap();
        let mut down = first.clone();
        down.observed_at = t(20);
        down.panes.truncate(1);
        down.unreachable = vec![gaffer_core::panes::UnreachableHost {
            host: "b".into(),
            error: "ssh: timed out".into(),
            panes: vec![first.panes[1].info.clone()],
        }];
        first.observed_at = t(10);
        let m =
            monitor(vec![Ok(first), Ok(down)], 120).with_agent_files(Arc::new(FixedFiles(37.5)));
        let r = m.refresh().unwrap();
        let source = |i: usize| {
            r.agents[i]
                .observation
                .verdict
                .fusion
                .as_ref()
                .and_then(|f| f.context_source)
        };
        assert_eq!(r.agents[0].pane.pane_id, "%1");
        assert_eq!(source(0), Some(Source::Transcript));
        assert_eq!(r.agents[1].pane.pane_id, "b:%1");
        assert_ne!(
            source(1),
            Some(Source::Transcript),
            "no local file for a remote pane"
        );
        // The host is down: its agent is listed UNKNOWN, host_unreachable, not vanished.
        let r = m.refresh().unwrap();
        assert_eq!(r.agents.len(), 2);
        let a = &r.agents[1];
        assert_eq!(a.pane.pane_id, "b:%1");
        assert_eq!(a.observation.status, AgentStatus::Unknown);
        assert_eq!(a.observation.verdict.reason, "host_unreachable");
        assert_eq!(a.observation.verdict.evidence, ["host b: ssh: timed out"]);
        assert!(!a.health.healthy);
        assert_eq!(a.health.issues, ["host b unreachable: ssh: timed out"]);
        assert!(r.vanished.is_empty());
    }

    #[test]
    fn a_late_host_s_agents_keep_their_last_report() {
        let idle = fixture("cod", "idle_after_turn");
        let first = snap(
            10,
            vec![
                pane("%1", "s__cod_1", "codex", &idle, true, 10),
                pane("b:%1", "s__cod_2", "codex", &idle, true, 10),
            ],
            &[],
        )
        .unwrap();
        let mut late = first.clone();
        late.observed_at = t(20);
        late.panes.truncate(1);
        late.hosts = vec![gaffer_core::panes::HostObservation {
            host: "b".into(),
            latency_ms: Some(40),
            late: true,
            waiting_ms: Some(1000),
        }];
        let mut gone = late.clone();
        gone.observed_at = t(30);
        gone.hosts.clear();
        let m = monitor(vec![Ok(first), Ok(late), Ok(gone)], 120);
        let before = m.refresh().unwrap();
        let kept = m.refresh().unwrap();
        // The late host's agent is listed as last reported (not observed again), not vanished.
        assert_eq!(kept.agents.len(), 2);
        assert_eq!(kept.agents[1], before.agents[1]);
        assert!(kept.vanished.is_empty());
        assert!(kept.hosts[0].late);
        // Without the host marked late, its missing agent is not listed from memory.
        let after = m.refresh().unwrap();
        assert_eq!(after.agents.len(), 1);
    }
}
