//! Observe: the first phase of the loop. It reads the outside world (panes, the ledger, the
//! work source, Agent Mail) and builds the [`Snapshot`] that `gaffer_core::cycle::decide`
//! turns into decisions.
//!
//! - [`monitor`]: the `AgentMonitor` (tmux + detector + one tracker per pane) that turns
//!   screens into [`AgentReport`]s, the one representation of an observed agent;
//! - [`AgentObserver`] / [`DeliveryProbe`]: the ports the runtime observes through, with their
//!   real implementations [`MonitorObserver`] and [`DetectorProbe`] (tests use fakes);
//! - [`ScreenCheck`]: whether a delivered prompt was submitted, from the screen;
//! - the snapshot builders, one per pass.

pub mod agent_files;
pub mod monitor;
pub mod transcript;

use crate::ledger::{AssignmentRecord, AssignmentState};
use crate::session::{Shared, lock};
use gaffer_core::beads::Issue;
use gaffer_core::conflicts::ConflictError;
use gaffer_core::cycle::{
    ActiveAssignment, DigestReadings, EndedAssignment, Pass, Policy, QualityView, ReportedEnd,
    Snapshot, SourceHealth, Stage, agents, overlay_done,
};
use gaffer_core::detect::{Detector, ScreenInput, Submission, SubmitBaseline};
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::panes::{DeliveryCheck, PaneInfo, Panes, ProbeResult};
use gaffer_core::status::AgentStatus;
use gaffer_core::time::Timestamp;
use gaffer_core::triage::TriageResponse;
use monitor::AgentMonitor;
use std::collections::BTreeSet;
use std::sync::Arc;

pub use gaffer_core::cycle::{AgentReport, AgentsObservation};

/// Observes agent panes.
pub trait AgentObserver: Send {
    /// Observes every agent pane of the session now.
    fn observe(&mut self, now: Timestamp) -> Result<AgentsObservation, String>;
}

/// Tells whether an agent took a prompt.
pub trait DeliveryProbe: Send + Sync {
    /// The checks of one delivery of `text` to `pane_id` (baseline, then after each Enter).
    fn start<'a>(&'a self, pane_id: &str, text: &str) -> Box<dyn DeliveryCheck + 'a>;
}

/// Observes agents through an [`AgentMonitor`] (tmux + detector + trackers).
pub struct MonitorObserver(pub Arc<AgentMonitor>);

impl AgentObserver for MonitorObserver {
    fn observe(&mut self, _now: Timestamp) -> Result<AgentsObservation, String> {
        let snap = self.0.refresh().map_err(|e| e.to_string())?;
        Ok(AgentsObservation {
            agents: snap.agents,
            problems: snap.problems,
            tmux_lost: snap.lost,
            unreachable_hosts: snap.unreachable,
        })
    }
}

/// The real probe: a [`ScreenCheck`] on the pane, with its metadata from the monitor's last
/// observation.
pub struct DetectorProbe {
    /// The monitor (for pane metadata).
    pub monitor: Arc<AgentMonitor>,
    /// The panes.
    pub panes: Arc<dyn Panes>,
    /// The detector.
    pub detector: Detector,
}

impl DeliveryProbe for DetectorProbe {
    fn start<'a>(&'a self, pane_id: &str, text: &str) -> Box<dyn DeliveryCheck + 'a> {
        let info = self.monitor.last().and_then(|s| {
            s.agents
                .into_iter()
                .find(|a| a.pane.pane_id == pane_id)
                .map(|a| a.pane)
        });
        match info {
            Some(info) => Box::new(ScreenCheck::new(
                self.panes.as_ref(),
                &self.detector,
                &info,
                text,
            )),
            // an unknown pane cannot confirm anything
            None => Box::new(|| ProbeResult::StillWaiting),
        }
    }
}

/// The checks of one verified delivery, from the pane's screen: the one place that decides
/// whether a prompt was submitted (the coordinator and `gaffer send` both use it).
///
/// The baseline is the screen right after the paste. A check is positive when the agent left
/// WAITING, or when the screen shows the turn happened although the agent is WAITING again
/// (a fast answer): the composer no longer holds the prompt and the content above it changed
/// ([`Detector::submission`]).
pub struct ScreenCheck<'a> {
    panes: &'a dyn Panes,
    detector: &'a Detector,
    pane_id: String,
    agent_type: String,
    current_command: String,
    text: String,
    base: Option<SubmitBaseline>,
}

impl<'a> ScreenCheck<'a> {
    /// A check of the delivery of `text` to the pane `info`.
    pub fn new(panes: &'a dyn Panes, detector: &'a Detector, info: &PaneInfo, text: &str) -> Self {
        ScreenCheck {
            panes,
            detector,
            pane_id: info.pane_id.clone(),
            agent_type: info.agent_type.clone(),
            current_command: info.current_command.clone(),
            text: text.to_string(),
            base: None,
        }
    }

    /// The pane's screen now, when it can be captured.
    fn screen(&self) -> Option<String> {
        let caps = self
            .panes
            .capture(std::slice::from_ref(&self.pane_id))
            .ok()?;
        caps.into_iter().next().map(|(_, screen)| screen)
    }

    /// The detected status of `screen`.
    fn status(&self, screen: &str) -> AgentStatus {
        self.detector
            .detect(&ScreenInput {
                agent_type: &self.agent_type,
                screen,
                current_command: &self.current_command,
                observed_at: chrono::Utc::now(),
            })
            .status
    }
}

impl DeliveryCheck for ScreenCheck<'_> {
    /// A pane whose agent exited is a shell: the prompt would run as a command. (The round
    /// planned with the last poll's states; the agent may have exited since.)
    fn refuse(&mut self) -> Option<String> {
        let screen = self.screen()?;
        (self.status(&screen) == AgentStatus::Exited)
            .then(|| "the agent has exited (the pane is a shell)".to_string())
    }

    fn baseline(&mut self) {
        self.base = self.screen().and_then(|s| {
            self.detector
                .submit_baseline(&self.agent_type, &s, &self.text)
        });
        tracing::debug!(
            pane_id = %self.pane_id,
            composer = self.base.is_some(),
            held = self.base.as_ref().is_some_and(SubmitBaseline::held),
            "delivery baseline"
        );
    }

    fn check(&mut self) -> ProbeResult {
        let Some(screen) = self.screen() else {
            return ProbeResult::StillWaiting;
        };
        match self.status(&screen) {
            AgentStatus::Waiting | AgentStatus::Unknown => {}
            // Exiting is not taking the prompt.
            AgentStatus::Exited => return ProbeResult::StillWaiting,
            _ => return ProbeResult::LeftWaiting,
        }
        let Some(base) = &self.base else {
            return ProbeResult::StillWaiting;
        };
        match self
            .detector
            .submission(base, &self.agent_type, &screen, &self.text)
        {
            Submission::Submitted => ProbeResult::Submitted,
            Submission::Cleared => ProbeResult::Cleared,
            Submission::InComposer | Submission::Unknown => ProbeResult::StillWaiting,
        }
    }
}

/// An active ledger record as the policy sees it.
pub(crate) fn active_view(r: &AssignmentRecord) -> Option<ActiveAssignment> {
    let stage = match r.state {
        AssignmentState::Offered => Stage::Offered,
        AssignmentState::Delivered => Stage::Delivered,
        AssignmentState::Working => Stage::Working,
        _ => return None,
    };
    Some(ActiveAssignment {
        id: r.id,
        bead_id: r.assignment.bead_id.clone(),
        pane_id: r.assignment.agent_pane_id.clone(),
        agent_name: r.assignment.agent_name.clone(),
        stage,
        updated_at: r.updated_at,
        claimed: r.claimed,
        reserved: r.reserved.clone(),
    })
}

pub(crate) fn active_views(records: &[AssignmentRecord]) -> Vec<ActiveAssignment> {
    records.iter().filter_map(active_view).collect()
}

impl Shared {
    /// A snapshot of `pass` with what every pass shares: the tracked agents and the sources'
    /// health.
    fn base(&self, pass: Pass, now: Timestamp) -> Snapshot {
        let mut snap = Snapshot::new(pass, now);
        snap.session.clone_from(&self.id.session);
        snap.work_source = self.work.name().to_string();
        snap.has_mailbox = self.mailbox.is_some();
        let st = lock(&self.state);
        snap.agents = st.agents.clone();
        snap.health = SourceHealth {
            mail: st.mail_degraded.clone(),
            work: st.work_degraded.clone(),
            tmux: st.tmux_lost.clone(),
        };
        snap.gone = st.gone.clone();
        snap.tmux_loss = st.tmux_loss;
        snap.hosts_down = st.hosts_down.clone();
        snap.hosts_back = st.hosts_back.clone();
        snap.spool_troubles = st.spool_troubles.clone();
        snap
    }

    /// The policy of the configuration in effect.
    pub(crate) fn policy(&self) -> Policy {
        Policy::from_config(&lock(&self.config))
    }

    /// Start: the active ledger entries (offers interrupted by a crash are undone).
    pub(crate) fn start_snapshot(&self) -> Snapshot {
        let mut snap = self.base(Pass::Start, self.clock.now());
        snap.ledger.active = active_views(&lock(&self.ledger).active().unwrap_or_default());
        snap
    }

    /// A poll: observes the panes, registers Agent Mail names for new panes, takes the quality
    /// records agents wrote, and reads the active assignments, those that ended outside this
    /// process, and (when any is active) which beads are closed.
    pub(crate) fn poll_snapshot(&self) -> Snapshot {
        let now = self.clock.now();
        let observed = lock(&self.observer).observe(now);
        // An observation that fails as a whole (tmux not answering) is tmux lost.
        let obs = observed.unwrap_or_else(|e| AgentsObservation {
            agents: Vec::new(),
            problems: vec![e.clone()],
            tmux_lost: Some(e),
            unreachable_hosts: Default::default(),
        });
        self.register_names(&obs);
        self.take_quality_records();
        let mut snap = self.base(Pass::Poll, now);
        let (records, restarts) = {
            let ledger = lock(&self.ledger);
            (
                ledger.active().unwrap_or_default(),
                ledger.restart_histories().unwrap_or_default(),
            )
        };
        snap.ledger.active = active_views(&records);
        snap.ledger.restarts = restarts;
        snap.ledger.ended = self.ended(&records);
        // Paused agents are not compacted; unreadable pauses fail closed.
        snap.ledger.paused = lock(&self.ledger)
            .pauses()
            .unwrap_or(gaffer_core::control::Pauses {
                all: true,
                ..Default::default()
            });
        {
            let st = lock(&self.state);
            snap.ledger.compactions = st.compactions.clone();
            snap.names = st.names.clone();
            snap.rate_limits = st.limit_until.clone();
            snap.last_update = st.last_update;
            snap.unsynced_done = st.unsynced_done.clone();
        }
        snap.work_tool = Some(self.work.health());
        if !snap.ledger.active.is_empty() {
            snap.closed = self.issues_now(now).ok().map(|(issues, _)| {
                issues
                    .into_iter()
                    .filter(|i| i.is_closed())
                    .map(|i| i.id)
                    .collect()
            });
        }
        snap.observed = Some(obs);
        snap
    }

    /// Tracked assignments no longer active: ended by an agent's own report, or by this process.
    /// They stop being tracked.
    fn ended(&self, active: &[AssignmentRecord]) -> Vec<EndedAssignment> {
        let gone: Vec<i64> = {
            let mut st = lock(&self.state);
            let live: BTreeSet<i64> = active.iter().map(|r| r.id).collect();
            let gone: Vec<i64> = st
                .tracked
                .iter()
                .filter(|id| !live.contains(id))
                .copied()
                .collect();
            for id in &gone {
                st.tracked.remove(id);
            }
            gone
        };
        let ledger = lock(&self.ledger);
        gone.into_iter()
            .filter_map(|id| ledger.get(id).ok())
            .map(|rec| EndedAssignment {
                end: match rec.state {
                    AssignmentState::Done => ReportedEnd::Done,
                    AssignmentState::Refused => ReportedEnd::Refused,
                    _ => ReportedEnd::Other,
                },
                state: rec.state.as_str().to_string(),
                reason: rec.error.clone(),
                at: rec.updated_at,
                assignment: ActiveAssignment {
                    id: rec.id,
                    bead_id: rec.assignment.bead_id.clone(),
                    pane_id: rec.assignment.agent_pane_id.clone(),
                    agent_name: rec.assignment.agent_name.clone(),
                    stage: Stage::Working,
                    updated_at: rec.updated_at,
                    claimed: rec.claimed,
                    reserved: rec.reserved.clone(),
                },
            })
            .collect()
    }

    /// An assignment round, or `None` when no agent is idle (nothing is read then). Back-offs
    /// written by other processes (`gaffer refuse`) are loaded first. The reservations are not
    /// read when the work cannot be.
    pub(crate) fn assign_snapshot(
        &self,
        pass: Pass,
        policy: &Policy,
        only_if_idle: bool,
    ) -> Option<Snapshot> {
        let now = self.clock.now();
        let mut snap = self.base(pass, now);
        if only_if_idle && agents::idle(snap.agents.values(), policy, now).is_empty() {
            return None;
        }
        {
            let ledger = lock(&self.ledger);
            let mut st = lock(&self.state);
            if only_if_idle {
                let _ = ledger.load_backoff(&mut st.backoff);
            }
            snap.ledger.backoff = st.backoff.clone();
            // Unreadable pauses fail closed: nobody gets work.
            snap.ledger.paused = ledger.pauses().unwrap_or(gaffer_core::control::Pauses {
                all: true,
                ..Default::default()
            });
            snap.quality = QualityView {
                agent_scores: st.quality.agent_quality_scores(),
                summary: None,
            };
        }
        let work = self
            .triage(now)
            .and_then(|t| self.work.health().map(|()| t));
        let failed = work.is_err();
        snap.work = Some(work);
        if failed {
            return Some(snap);
        }
        {
            let ledger = lock(&self.ledger);
            match (ledger.active(), ledger.done_beads()) {
                (Ok(active), Ok(done)) => {
                    snap.ledger.taken = done;
                    snap.ledger
                        .taken
                        .extend(active.into_iter().map(|r| r.assignment.bead_id));
                    // Beads the work source said someone else holds, whatever its file shows.
                    let st = lock(&self.state);
                    snap.ledger
                        .taken
                        .extend(st.held.taken(now).map(str::to_string));
                }
                // The ledger cannot say which beads are free: none is.
                _ => {
                    if let Some(Ok(t)) = &snap.work {
                        snap.ledger.taken = t
                            .triage
                            .recommendations
                            .iter()
                            .map(|r| r.id.clone())
                            .collect();
                    }
                }
            }
        }
        if let Some(mb) = &self.mailbox {
            snap.reservations = Some(
                mb.list_reservations(self.project(), None, true)
                    .map_err(|e| e.to_string()),
            );
        }
        Some(snap)
    }

    /// Conflicts: the active reservations, and the conflicts known so far.
    pub(crate) fn conflicts_snapshot(&self) -> Snapshot {
        let now = self.clock.now();
        let mut snap = self.base(Pass::Conflicts, now);
        snap.known_conflicts = lock(&self.state).conflicts.clone();
        snap.reservations = self.reservations_for_conflicts();
        snap
    }

    fn reservations_for_conflicts(
        &self,
    ) -> Option<Result<Vec<gaffer_core::mailbox::Reservation>, String>> {
        self.mailbox.as_ref().map(|mb| {
            mb.list_reservations(self.project(), None, true)
                .map_err(|e| ConflictError::Unknown(e).to_string())
        })
    }

    /// A digest: agents, issues (ledger-done beads shown closed), the ranking of the last
    /// triage, the ready beads, reservations and quality.
    pub(crate) fn digest_snapshot(&self) -> Snapshot {
        let now = self.clock.now();
        let mut snap = self.base(Pass::Digest, now);
        let ranked = {
            let st = lock(&self.state);
            snap.last_update = st.last_update;
            snap.problems = st.problems.clone();
            snap.quality.summary = Some(st.quality.summary(now));
            snap.human = st.human.clone();
            snap.ledger.compactions = st.compactions.clone();
            st.last_triage.clone()
        };
        let issues = match self.issues_now(now) {
            Ok((issues, overlaid)) => {
                let ready: Vec<String> = if overlaid > 0 {
                    gaffer_core::triage_engine::ready_ids(&issues, now)
                } else {
                    self.work
                        .ready(now)
                        .map(|r| r.into_iter().map(|i| i.id).collect())
                        .unwrap_or_default()
                };
                Some((Ok(issues), ready))
            }
            Err(e) => Some((Err(e), Vec::new())),
        };
        if let Some((issues, ready)) = issues {
            snap.digest = Some(DigestReadings {
                issues,
                ranked,
                ready,
            });
        }
        snap.reservations = self.reservations_for_conflicts();
        snap.ledger.restarts = lock(&self.ledger).restart_histories().unwrap_or_default();
        snap
    }

    /// A restart by hand of one pane: the tracked agents and the active assignments.
    pub(crate) fn restart_snapshot(&self, pane_id: &str) -> Snapshot {
        let pass = Pass::Restart {
            pane_id: pane_id.to_string(),
        };
        let mut snap = self.base(pass, self.clock.now());
        snap.ledger.active = active_views(&lock(&self.ledger).active().unwrap_or_default());
        snap
    }

    /// The issues as the coordinator sees them: the work source's, with the beads the ledger
    /// says are done shown closed (a read-only source, such as the native JSONL without `br`,
    /// still lists them open). Returns the issues and how many were overlaid.
    pub(crate) fn issues_now(&self, now: Timestamp) -> Result<(Vec<Issue>, usize), String> {
        let reading = (self.issues)(now)?;
        // Stamped when the lines were read, not at the start of the pass (a poll of many panes
        // can take seconds, and the lines may have been written meanwhile).
        self.note_skipped_lines(&reading.skipped, self.clock.now());
        let mut issues = reading.issues;
        let done = lock(&self.ledger).done_beads().unwrap_or_default();
        {
            let mut st = lock(&self.state);
            let unsynced = issues
                .iter()
                .filter(|i| {
                    !i.is_closed() && done.contains(&i.id) && !st.closed_in_source.contains(&i.id)
                })
                .map(|i| i.id.clone())
                .collect();
            st.unsynced_done = unsynced;
            // Only beads still listed open are worth remembering.
            let open: BTreeSet<&str> = issues
                .iter()
                .filter(|i| !i.is_closed())
                .map(|i| i.id.as_str())
                .collect();
            st.closed_in_source.retain(|b| open.contains(b.as_str()));
        }
        let n = overlay_done(&mut issues, &done, now);
        Ok((issues, n))
    }

    /// Lines of the beads file that cannot be read are reported once each, as
    /// `beads_malformed` (the rest of the file is used).
    fn note_skipped_lines(&self, skipped: &[String], now: Timestamp) {
        let new: Vec<String> = {
            let mut st = lock(&self.state);
            let now_set: BTreeSet<String> = skipped.iter().cloned().collect();
            let new = now_set
                .difference(&st.beads_skipped)
                .cloned()
                .collect::<Vec<_>>();
            st.beads_skipped = now_set;
            new
        };
        if new.is_empty() {
            return;
        }
        for line in &new {
            tracing::warn!(line = %line, "skipped an unreadable line of the beads file");
        }
        let shown: Vec<String> = new
            .iter()
            .take(5)
            .map(|l| l.chars().filter(|c| !c.is_control()).take(200).collect())
            .collect();
        self.emit(
            CoordinatorEvent::new(CoordinatorEventType::BeadsMalformed, now)
                .with_detail("lines", new.len())
                .with_detail("first", shown),
        );
    }

    /// Ready work with its triage. Beads done in the ledger but open in the source are ranked
    /// from the overlaid issues, so that they count as closed and their dependents become
    /// ready. The capped recommendations are followed by every other claimable bead
    /// (`triage_engine::with_claimable`), so a large fleet sees all ready work. The ranking is
    /// kept for digests.
    fn triage(&self, now: Timestamp) -> Result<TriageResponse, String> {
        let triaged = self.work.triage(now).map(|t| match self.issues_now(now) {
            Ok((issues, n)) => {
                let native = gaffer_core::triage_engine::triage(&issues, now);
                let ranked = if n > 0 { native.response.clone() } else { t };
                // The ranking's top ten, then every other claimable bead.
                gaffer_core::triage_engine::with_claimable(ranked, &native)
            }
            Err(_) => t,
        });
        match triaged {
            Ok(t) => {
                lock(&self.state).last_triage = t
                    .triage
                    .recommendations
                    .iter()
                    .map(|r| r.id.clone())
                    .collect();
                Ok(t)
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Takes test runs and scans recorded since the last look (agents record them with
    /// `gaffer quality record-tests` from their panes) into the quality monitor, so they feed
    /// assignment scores, alerts and digests while the coordinator runs.
    pub(crate) fn take_quality_records(&self) {
        let (runs_after, scans_after) = lock(&self.state).quality_cursor;
        let (runs, scans) = {
            let ledger = lock(&self.ledger);
            (
                ledger.test_runs_since(runs_after).unwrap_or_default(),
                ledger.scans_since(scans_after).unwrap_or_default(),
            )
        };
        if runs.is_empty() && scans.is_empty() {
            return;
        }
        let mut st = lock(&self.state);
        for (id, run) in runs {
            st.quality.record_test_run(run);
            st.quality_cursor.0 = id;
        }
        for (id, scan) in scans {
            st.quality.record_scan(scan);
            st.quality_cursor.1 = id;
        }
    }

    /// Registers an Agent Mail identity for every agent pane that has none yet, so that
    /// reservations and messages have a holder the server accepts (the names are part of what
    /// the merge reads). Failures are retried at the next poll.
    fn register_names(&self, obs: &AgentsObservation) {
        let Some(mb) = &self.mailbox else { return };
        let missing: Vec<(String, String)> = {
            let st = lock(&self.state);
            obs.agents
                .iter()
                .filter(|a| !st.names.contains_key(a.pane_id()))
                .map(|a| (a.pane_id().to_string(), a.pane.agent_type.clone()))
                .collect()
        };
        for (pane, agent_type) in missing {
            // The same pane keeps the same name across gaffer processes (the ledger remembers).
            let key = format!("{}/{}", self.id.session, pane);
            let known = lock(&self.ledger).agent_name(&key).ok().flatten();
            let reg = gaffer_core::mailbox::AgentRegistration {
                name: known.clone(),
                program: format!("gaffer-pane-{agent_type}"),
                model: agent_type.clone(),
                task_description: format!(
                    "agent in tmux pane {pane} of session {}",
                    self.id.session
                ),
            };
            match mb.register_agent(self.project(), &reg) {
                Ok(info) => {
                    if known.as_deref() != Some(info.name.as_str()) {
                        let _ = lock(&self.ledger).set_agent_name(&key, &info.name);
                    }
                    lock(&self.state).names.insert(pane, info.name);
                }
                Err(e) => {
                    self.mail_degraded(&e.to_string());
                    return;
                }
            }
        }
    }
}
