//! Fake ports for tests of the runtime: a clock, an observer, a delivery probe, panes, a work
//! source and a mailbox, plus [`rig`] that wires them into a `SessionCoordinator`. They are
//! in-memory stand-ins for tests of the runtime's logic; the real adapters are tested against
//! real tmux and the real Agent Mail server. The fake mailbox decides clashes with the real
//! overlap engine (`gaffer_core::conflicts`) and the embedded mailbox's exclusive/shared rule.
#![allow(clippy::unwrap_used)]

use gaffer_coordinator::ledger::Ledger;
use gaffer_coordinator::observe::{AgentObserver, AgentReport, AgentsObservation, DeliveryProbe};
use gaffer_coordinator::{Identity, Ports, SessionCoordinator};
use gaffer_core::agent::HealthCheck;
use gaffer_core::beads::Issue;
use gaffer_core::clock::Clock;
use gaffer_core::config::GafferConfig;
use gaffer_core::conflicts::ReservationIndex;
use gaffer_core::detect::{Observation, Verdict};
use gaffer_core::mailbox::*;
use gaffer_core::panes::*;
use gaffer_core::status::AgentStatus;
use gaffer_core::time::{Timestamp, parse_rfc3339};
use gaffer_core::triage::{TriageRecommendation, TriageResponse, TriageResult};
use gaffer_core::work_source::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The fakes' epoch: 2026-01-01T12:00:00Z.
pub fn t0() -> Timestamp {
    parse_rfc3339("2026-01-01T12:00:00Z").unwrap()
}

/// A clock tests move by hand.
#[derive(Clone)]
pub struct FakeClock(pub Arc<Mutex<Timestamp>>);

impl FakeClock {
    /// A clock at `at`.
    pub fn at(at: Timestamp) -> Self {
        FakeClock(Arc::new(Mutex::new(at)))
    }
    /// Moves the clock `secs` forward.
    pub fn advance(&self, secs: i64) {
        let mut t = self.0.lock().unwrap();
        *t += chrono::Duration::seconds(secs);
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Timestamp {
        *self.0.lock().unwrap()
    }
}

/// What a fake pane shows: the facts the observer reports for it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeAgent {
    /// Pane id.
    pub pane_id: String,
    /// Pane index.
    pub pane_index: i64,
    /// Agent type code.
    pub agent_type: String,
    /// Status.
    pub status: AgentStatus,
    /// Percent of context used.
    pub context_usage: f64,
    /// Last content change.
    pub last_activity: Timestamp,
    /// Health.
    pub healthy: bool,
    /// The rule that decided the status.
    pub rule: String,
    /// When a rate limit resets, if shown.
    pub rate_limit_reset: Option<Timestamp>,
    /// Title tags.
    pub tags: Vec<String>,
    /// Title variant.
    pub variant: Option<String>,
    /// When the current status began.
    pub since: Timestamp,
    /// A status seen once and not yet confirmed (the tracker's hysteresis): the next
    /// observation reports it, and the one after makes it the status.
    pub pending: Option<AgentStatus>,
}

impl FakeAgent {
    /// The report an observer makes of this pane at `now`.
    pub fn report(&self, now: Timestamp) -> AgentReport {
        let verdict = Verdict {
            status: self.status,
            reason: "fake".into(),
            rule: self.rule.clone(),
            evidence: Vec::new(),
            confidence: 1.0,
            context_usage: (self.context_usage > 0.0).then_some(self.context_usage),
            rate_limit_reset: self.rate_limit_reset,
            observed_at: now,
            fusion: None,
        };
        let idle = (now - self.last_activity).to_std().unwrap_or_default();
        AgentReport {
            pane: PaneInfo {
                pane_id: self.pane_id.clone(),
                pane_index: self.pane_index,
                agent_type: self.agent_type.clone(),
                tags: self.tags.clone(),
                variant: self.variant.clone(),
                ..PaneInfo::default()
            },
            observation: Observation {
                status: self.status,
                verdict,
                last_activity: self.last_activity,
                idle_for: idle,
                since: self.since,
                changed: false,
                previous: None,
                pending: self.pending,
            },
            last_activity: self.last_activity,
            idle_seconds: idle.as_secs_f64(),
            velocity: 0.0,
            health: HealthCheck {
                pane_id: self.pane_id.clone(),
                agent_type: self.agent_type.clone(),
                healthy: self.healthy,
                issues: Vec::new(),
                timestamp: now,
            },
        }
    }
}

/// Agents by pane id; tests edit them between updates.
#[derive(Clone, Default)]
pub struct World {
    /// The panes.
    pub agents: Arc<Mutex<BTreeMap<String, FakeAgent>>>,
    /// Panes that take prompts (leave WAITING when delivered).
    pub responsive: Arc<Mutex<BTreeMap<String, bool>>>,
    /// Prompts delivered: (pane, text).
    pub delivered: Arc<Mutex<Vec<(String, String)>>>,
    /// When set, observing fails with this.
    pub observe_error: Arc<Mutex<Option<String>>>,
    /// Launch commands recorded on panes (what `Panes::launch_command` answers).
    pub launches: Arc<Mutex<BTreeMap<String, String>>>,
    /// Panes restarted: (pane, command). A restarted pane is WAITING again.
    pub respawned: Arc<Mutex<Vec<(String, String)>>>,
    /// Observations made (see [`World::observations`]).
    pub observations: Arc<Mutex<usize>>,
    /// Pending statuses already reported once, by pane: confirmed by the next observation.
    pub shown_pending: Arc<Mutex<BTreeMap<String, AgentStatus>>>,
    /// Screens a pane's captures return, in turn; the last one stays (see [`World::screens`]).
    pub screens: Arc<Mutex<BTreeMap<String, std::collections::VecDeque<String>>>>,
    /// How long each delivery takes (the agent taking the prompt); zero unless set.
    pub deliver_delay: Arc<Mutex<Duration>>,
    /// Deliveries under way now, and the most there were at once.
    pub in_flight: Arc<Mutex<(usize, usize)>>,
}

impl World {
    /// Sets the screens a pane's captures return, one per capture; the last one stays.
    pub fn screens(&self, pane: &str, screens: &[&str]) {
        self.screens
            .lock()
            .unwrap()
            .insert(pane.into(), screens.iter().map(|s| s.to_string()).collect());
    }

    /// Adds a responsive agent pane.
    pub fn add(&self, pane: &str, ty: &str, status: AgentStatus, last_activity: Timestamp) {
        self.agents.lock().unwrap().insert(
            pane.into(),
            FakeAgent {
                pane_id: pane.into(),
                pane_index: pane.trim_start_matches('%').parse().unwrap_or(0),
                agent_type: ty.into(),
                status,
                context_usage: 10.0,
                last_activity,
                healthy: true,
                rule: "test".into(),
                rate_limit_reset: None,
                tags: vec![],
                variant: None,
                since: last_activity,
                pending: None,
            },
        );
        self.responsive.lock().unwrap().insert(pane.into(), true);
    }
    /// Sets a pane's status and last activity; a changed status begins at `last_activity`.
    pub fn set(&self, pane: &str, status: AgentStatus, last_activity: Timestamp) {
        if let Some(a) = self.agents.lock().unwrap().get_mut(pane) {
            if a.status != status {
                a.since = last_activity;
            }
            a.status = status;
            a.last_activity = last_activity;
        }
    }
    /// Shows `status` to the next observation as pending (not yet confirmed); the
    /// observation after it confirms it, as the tracker's hysteresis does.
    pub fn set_pending(&self, pane: &str, status: AgentStatus) {
        if let Some(a) = self.agents.lock().unwrap().get_mut(pane) {
            a.pending = Some(status);
        }
    }
    /// How many times the agents were observed.
    pub fn observations(&self) -> usize {
        *self.observations.lock().unwrap()
    }
    /// A pane's status.
    pub fn status(&self, pane: &str) -> AgentStatus {
        self.agents.lock().unwrap()[pane].status
    }
}

/// Observes the [`World`].
pub struct FakeObserver(pub World);

impl AgentObserver for FakeObserver {
    fn observe(&mut self, now: Timestamp) -> Result<AgentsObservation, String> {
        if let Some(e) = self.0.observe_error.lock().unwrap().clone() {
            return Err(e);
        }
        *self.0.observations.lock().unwrap() += 1;
        let mut agents = self.0.agents.lock().unwrap();
        let mut shown = self.0.shown_pending.lock().unwrap();
        // a pending status reported last time is confirmed now
        for (pane, status) in std::mem::take(&mut *shown) {
            if let Some(a) = agents.get_mut(&pane) {
                if a.status != status {
                    a.since = now;
                }
                a.status = status;
                a.pending = None;
            }
        }
        let reports = agents.values().map(|a| a.report(now)).collect();
        for a in agents.values() {
            if let Some(p) = a.pending {
                shown.insert(a.pane_id.clone(), p);
            }
        }
        Ok(AgentsObservation {
            agents: reports,
            problems: vec![],
            tmux_lost: None,
            unreachable_hosts: Default::default(),
        })
    }
}

/// Probes the [`World`]: an agent left WAITING when its status is no longer WAITING.
pub struct FakeProbe(pub World);

impl DeliveryProbe for FakeProbe {
    fn start<'a>(&'a self, pane_id: &str, _text: &str) -> Box<dyn DeliveryCheck + 'a> {
        let pane_id = pane_id.to_string();
        Box::new(move || {
            if self.0.status(&pane_id) == AgentStatus::Waiting {
                ProbeResult::StillWaiting
            } else {
                ProbeResult::LeftWaiting
            }
        })
    }
}

/// Panes that record deliveries; a responsive pane starts generating when it gets a prompt.
pub struct FakePanes(pub World);

impl Panes for FakePanes {
    fn list_panes(&self) -> Result<Vec<PaneInfo>, PanesError> {
        Ok(vec![])
    }
    fn capture(&self, ids: &[String]) -> Result<Vec<(String, String)>, PanesError> {
        let mut screens = self.0.screens.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|id| {
                let q = screens.get_mut(id)?;
                let s = if q.len() > 1 {
                    q.pop_front()?
                } else {
                    q.front()?.clone()
                };
                Some((id.clone(), s))
            })
            .collect())
    }
    fn observe(&self) -> Result<PaneSnapshot, PanesError> {
        Err(PanesError::Failed("not used".into()))
    }
    fn wait_for_activity(&self, timeout: Duration) -> bool {
        std::thread::sleep(timeout);
        true
    }
    fn deliver(
        &self,
        pane_id: &str,
        text: &str,
        _opts: &DeliveryOptions,
        probe: &mut dyn DeliveryCheck,
    ) -> Result<DeliveryReport, PanesError> {
        probe.baseline();
        self.0
            .delivered
            .lock()
            .unwrap()
            .push((pane_id.into(), text.into()));
        let delay = *self.0.deliver_delay.lock().unwrap();
        if !delay.is_zero() {
            {
                let mut f = self.0.in_flight.lock().unwrap();
                f.0 += 1;
                f.1 = f.1.max(f.0);
            }
            std::thread::sleep(delay);
            self.0.in_flight.lock().unwrap().0 -= 1;
        }
        let responsive = self
            .0
            .responsive
            .lock()
            .unwrap()
            .get(pane_id)
            .copied()
            .unwrap_or(false);
        if responsive {
            let now = self.0.agents.lock().unwrap()[pane_id].last_activity;
            self.0.set(pane_id, AgentStatus::Generating, now);
        }
        let outcome = if probe.check().delivered() {
            DeliveryOutcome::Delivered
        } else {
            DeliveryOutcome::PromptStalled
        };
        Ok(DeliveryReport {
            pane_id: pane_id.into(),
            outcome,
            attempts: 2,
            bytes: text.len(),
            elapsed_ms: 1,
        })
    }
    fn launch_command(&self, pane_id: &str) -> Result<Option<String>, PanesError> {
        Ok(self.0.launches.lock().unwrap().get(pane_id).cloned())
    }
    fn respawn(&self, pane_id: &str, command: &str) -> Result<(), PanesError> {
        let at = {
            let agents = self.0.agents.lock().unwrap();
            let Some(a) = agents.get(pane_id) else {
                return Err(PanesError::NotFound(pane_id.into()));
            };
            a.last_activity
        };
        self.0
            .respawned
            .lock()
            .unwrap()
            .push((pane_id.into(), command.into()));
        self.0.set(pane_id, AgentStatus::Waiting, at);
        Ok(())
    }
}

/// A port whose `observe` returns the next scripted snapshot (then "script ended"); it
/// captures nothing and delivers nothing. For tests of the monitor.
pub struct ScriptedPanes {
    snaps: Mutex<std::collections::VecDeque<Result<PaneSnapshot, PanesError>>>,
}

impl ScriptedPanes {
    /// Panes that observe `snaps`, in order.
    pub fn new(snaps: Vec<Result<PaneSnapshot, PanesError>>) -> Self {
        ScriptedPanes {
            snaps: Mutex::new(snaps.into()),
        }
    }
}

impl Panes for ScriptedPanes {
    fn list_panes(&self) -> Result<Vec<PaneInfo>, PanesError> {
        Ok(Vec::new())
    }
    fn capture(&self, _: &[String]) -> Result<Vec<(String, String)>, PanesError> {
        Ok(Vec::new())
    }
    fn observe(&self) -> Result<PaneSnapshot, PanesError> {
        self.snaps
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| Err(PanesError::Unavailable("script ended".into())))
    }
    fn wait_for_activity(&self, _: Duration) -> bool {
        true
    }
    fn deliver(
        &self,
        _: &str,
        _: &str,
        _: &DeliveryOptions,
        _: &mut dyn DeliveryCheck,
    ) -> Result<DeliveryReport, PanesError> {
        Err(PanesError::Failed("not scripted".into()))
    }
}

/// A work source over a list of recommendations; `broken` makes triage fail.
#[derive(Clone, Default)]
pub struct FakeWork {
    /// The recommendations, in rank order.
    pub recs: Arc<Mutex<Vec<TriageRecommendation>>>,
    /// Closed bead ids.
    pub closed: Arc<Mutex<Vec<String>>>,
    /// Claims: (bead, actor).
    pub claims: Arc<Mutex<Vec<(String, String)>>>,
    /// Claims undone: (bead, actor).
    pub unclaims: Arc<Mutex<Vec<(String, String)>>>,
    /// Triage fails while set.
    pub broken: Arc<Mutex<bool>>,
    /// Who holds each claimed bead, as the tool would say (a claim by another actor is lost).
    pub held: Arc<Mutex<BTreeMap<String, String>>>,
    /// Undoing a claim times out while set (the tool is slow).
    pub unclaim_fails: Arc<Mutex<bool>>,
    /// A claim is written but its answer times out while set.
    pub claim_times_out: Arc<Mutex<bool>>,
    /// The issues file is stale while set: closes are not seen in [`issues`](Self::issues).
    pub stale_file: Arc<Mutex<bool>>,
    /// Closes asked of the source (bead ids).
    pub closes: Arc<Mutex<Vec<String>>>,
}

impl FakeWork {
    /// Adds an open task.
    pub fn add(&self, id: &str, title: &str, score: f64) {
        self.recs.lock().unwrap().push(TriageRecommendation {
            id: id.into(),
            title: title.into(),
            issue_type: "task".into(),
            status: "open".into(),
            priority: 2,
            score,
            ..Default::default()
        });
    }
    /// Closes a bead.
    pub fn close(&self, id: &str) {
        self.closed.lock().unwrap().push(id.into());
    }
    /// The issues behind the recommendations.
    pub fn issues(&self) -> Vec<Issue> {
        let closed = if *self.stale_file.lock().unwrap() {
            Vec::new()
        } else {
            self.closed.lock().unwrap().clone()
        };
        self.recs
            .lock()
            .unwrap()
            .iter()
            .map(|r| Issue {
                id: r.id.clone(),
                title: r.title.clone(),
                priority: r.priority,
                issue_type: r.issue_type.clone(),
                status: if closed.contains(&r.id) {
                    "closed".into()
                } else {
                    "open".into()
                },
                closed_at: closed.contains(&r.id).then(t0),
                ..Default::default()
            })
            .collect()
    }
}

impl WorkSource for FakeWork {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn triage(&self, now: Timestamp) -> Result<TriageResponse, WorkSourceError> {
        if *self.broken.lock().unwrap() {
            return Err(WorkSourceError::Unavailable {
                tool: "fake".into(),
                message: "down".into(),
            });
        }
        let closed = self.closed.lock().unwrap().clone();
        let recs = self
            .recs
            .lock()
            .unwrap()
            .iter()
            .filter(|r| !closed.contains(&r.id))
            .cloned()
            .collect();
        Ok(TriageResponse {
            generated_at: now,
            data_hash: String::new(),
            degraded: None,
            triage: TriageResult {
                recommendations: recs,
                ..Default::default()
            },
            feedback: None,
            usage_hints: vec![],
            extra: Default::default(),
        })
    }
    fn ready(&self, _now: Timestamp) -> Result<Vec<Issue>, WorkSourceError> {
        Ok(self
            .issues()
            .into_iter()
            .filter(|i| i.status == "open")
            .collect())
    }
    fn claim(&self, id: &str, actor: &str) -> Result<ClaimOutcome, WorkSourceError> {
        self.claims.lock().unwrap().push((id.into(), actor.into()));
        let mut held = self.held.lock().unwrap();
        if let Some(holder) = held.get(id).filter(|h| *h != actor) {
            return Ok(ClaimOutcome::AlreadyClaimed {
                id: id.into(),
                holder: Some(holder.clone()),
                message: format!("issue {id} already assigned to {holder}"),
            });
        }
        held.insert(id.into(), actor.into());
        if *self.claim_times_out.lock().unwrap() {
            return Err(WorkSourceError::Timeout {
                tool: "fake".into(),
                seconds: 10.0,
            });
        }
        Ok(ClaimOutcome::Claimed {
            id: id.into(),
            assignee: actor.into(),
        })
    }
    fn unclaim(&self, id: &str, actor: &str) -> Result<bool, WorkSourceError> {
        if *self.unclaim_fails.lock().unwrap() {
            return Err(WorkSourceError::Timeout {
                tool: "fake".into(),
                seconds: 10.0,
            });
        }
        self.held.lock().unwrap().remove(id);
        self.unclaims
            .lock()
            .unwrap()
            .push((id.into(), actor.into()));
        Ok(true)
    }
    fn holding(&self, id: &str) -> Result<Holding, WorkSourceError> {
        if self.closed.lock().unwrap().iter().any(|c| c == id) {
            return Ok(Holding::Other("closed".into()));
        }
        Ok(match self.held.lock().unwrap().get(id) {
            Some(h) => Holding::HeldBy(h.clone()),
            None => Holding::Free,
        })
    }
    fn close(&self, id: &str, _reason: &str) -> Result<CloseOutcome, WorkSourceError> {
        self.closes.lock().unwrap().push(id.into());
        if self.closed.lock().unwrap().iter().any(|c| c == id) {
            return Ok(CloseOutcome::NotClosable {
                id: id.into(),
                reason: "already closed".into(),
            });
        }
        FakeWork::close(self, id);
        Ok(CloseOutcome::Closed {
            id: id.into(),
            unblocked: vec![],
        })
    }
}

/// An in-memory mailbox with reservations and sent messages; `down` makes every call fail.
#[derive(Clone, Default)]
pub struct FakeMail {
    /// Every reservation made (released ones keep `released_ts`).
    pub reservations: Arc<Mutex<Vec<Reservation>>>,
    /// Messages sent.
    pub sent: Arc<Mutex<Vec<OutgoingMessage>>>,
    /// Every call fails while set.
    pub down: Arc<Mutex<bool>>,
    /// Registrations made.
    pub registered: Arc<std::sync::atomic::AtomicUsize>,
}

impl FakeMail {
    fn check(&self) -> Result<(), MailError> {
        if *self.down.lock().unwrap() {
            Err(MailError::Unavailable("connection refused".into()))
        } else {
            Ok(())
        }
    }
    /// `agent` holds `pattern` exclusively from `reserved_at`, for an hour.
    pub fn hold(&self, agent: &str, pattern: &str, reserved_at: Timestamp) {
        self.hold_with(agent, pattern, true, reserved_at);
    }
    /// `agent` holds `pattern` (exclusively or shared) from `reserved_at`, for an hour.
    pub fn hold_with(&self, agent: &str, pattern: &str, exclusive: bool, reserved_at: Timestamp) {
        let mut rs = self.reservations.lock().unwrap();
        let id = rs.len() as i64 + 1;
        rs.push(Reservation {
            id,
            agent_name: agent.into(),
            path_pattern: pattern.into(),
            exclusive,
            reason: String::new(),
            created_ts: Some(reserved_at),
            expires_ts: reserved_at + chrono::Duration::hours(1),
            released_ts: None,
        });
    }

    /// The holders that clash with `req` over `path`: other agents' active reservations that
    /// overlap it, where either side is exclusive (the overlap engine's
    /// [`ReservationIndex::clashes`], as the embedded mailbox asks it).
    pub fn clashes(&self, req: &ReserveRequest, path: &str, now: Timestamp) -> Vec<ConflictHolder> {
        let rs = self.reservations.lock().unwrap().clone();
        let index = ReservationIndex::from_vec(rs, now);
        index
            .clashes(&req.agent, path, req.exclusive)
            .into_iter()
            .filter_map(|i| index.get(i))
            .map(|r| ConflictHolder {
                agent_name: r.agent_name.clone(),
                path_pattern: r.path_pattern.clone(),
                exclusive: r.exclusive,
                expires_ts: Some(r.expires_ts),
            })
            .collect()
    }
}

/// Names the fake mailbox hands out, in turn.
pub const GENERATED_NAMES: [&str; 8] = [
    "BlueLake",
    "GreenHill",
    "RedFox",
    "SilverPond",
    "AmberCliff",
    "CopperDune",
    "JadeRiver",
    "OakMeadow",
];

impl Mailbox for FakeMail {
    fn ensure_project(&self, project: &str) -> Result<ProjectInfo, MailError> {
        self.check()?;
        Ok(ProjectInfo {
            id: 1,
            slug: "p".into(),
            human_key: project.into(),
        })
    }
    fn register_agent(&self, _: &str, reg: &AgentRegistration) -> Result<AgentInfo, MailError> {
        self.check()?;
        // Like the server, a registration without a name gets a generated one; which one
        // depends on how many registrations came before.
        let n = self
            .registered
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(AgentInfo {
            id: 1,
            name: reg
                .name
                .clone()
                .unwrap_or_else(|| GENERATED_NAMES[n % GENERATED_NAMES.len()].into()),
            program: reg.program.clone(),
            model: reg.model.clone(),
            task_description: String::new(),
        })
    }
    fn send_message(&self, _: &str, msg: &OutgoingMessage) -> Result<SentMessage, MailError> {
        self.check()?;
        self.sent.lock().unwrap().push(msg.clone());
        Ok(SentMessage {
            id: 1,
            thread_id: None,
            count: msg.to.len(),
        })
    }
    fn fetch_inbox(
        &self,
        _: &str,
        _: &str,
        _: &InboxQuery,
    ) -> Result<Vec<InboxMessage>, MailError> {
        self.check()?;
        Ok(vec![])
    }
    fn acknowledge(&self, _: &str, _: &str, _: i64) -> Result<(), MailError> {
        self.check()
    }
    fn mark_read(&self, _: &str, _: &str, _: i64) -> Result<(), MailError> {
        self.check()
    }
    fn reserve_paths(&self, _: &str, req: &ReserveRequest) -> Result<ReserveResult, MailError> {
        self.check()?;
        let now = t0();
        let conflicts = req
            .paths
            .iter()
            .filter_map(|p| {
                let holders = self.clashes(req, p, now);
                (!holders.is_empty()).then(|| PathConflict {
                    path: p.clone(),
                    holders,
                })
            })
            .collect();
        let mut granted = Vec::new();
        for p in &req.paths {
            self.hold_with(&req.agent, p, req.exclusive, now);
            granted.push(self.reservations.lock().unwrap().last().unwrap().clone());
        }
        Ok(ReserveResult { granted, conflicts })
    }
    fn release(&self, _: &str, agent: &str, paths: &[String]) -> Result<usize, MailError> {
        self.check()?;
        let mut n = 0;
        for r in self.reservations.lock().unwrap().iter_mut() {
            if r.agent_name == agent
                && r.released_ts.is_none()
                && (paths.is_empty() || paths.contains(&r.path_pattern))
            {
                r.released_ts = Some(t0());
                n += 1;
            }
        }
        Ok(n)
    }
    fn renew(&self, _: &str, _: &str, _: &[String], _: Duration) -> Result<usize, MailError> {
        self.check()?;
        Ok(0)
    }
    fn list_reservations(
        &self,
        _: &str,
        agent: Option<&str>,
        active_only: bool,
    ) -> Result<Vec<Reservation>, MailError> {
        self.check()?;
        Ok(self
            .reservations
            .lock()
            .unwrap()
            .iter()
            .filter(|r| agent.is_none_or(|a| a == r.agent_name))
            .filter(|r| !active_only || r.released_ts.is_none())
            .cloned()
            .collect())
    }
    fn health(&self) -> Result<MailHealth, MailError> {
        self.check()?;
        Ok(MailHealth {
            status: "ok".into(),
            backend: "fake".into(),
            location: "memory".into(),
        })
    }
}

/// A coordinator over the fakes, with handles on each.
pub struct Rig {
    /// The coordinator.
    pub coord: SessionCoordinator,
    /// The panes.
    pub world: World,
    /// The work source.
    pub work: FakeWork,
    /// The mailbox (wired in only `with_mail`).
    pub mail: FakeMail,
    /// The clock, at [`t0`].
    pub clock: FakeClock,
}

/// A rig over `ledger` with `config`; `with_mail` wires the fake mailbox in.
pub fn rig_with(ledger: Ledger, config: GafferConfig, with_mail: bool) -> Rig {
    let world = World::default();
    let work = FakeWork::default();
    let mail = FakeMail::default();
    let clock = FakeClock::at(t0());
    let issues_work = work.clone();
    let ports = Ports {
        observer: Box::new(FakeObserver(world.clone())),
        probe: Arc::new(FakeProbe(world.clone())),
        panes: Arc::new(FakePanes(world.clone())),
        mailbox: if with_mail {
            Some(Arc::new(mail.clone()))
        } else {
            None
        },
        work: Arc::new(work.clone()),
        issues: Arc::new(move |_| Ok(issues_work.issues().into())),
        clock: Arc::new(clock.clone()),
        ledger,
    };
    let id = Identity {
        session: "proj".into(),
        project_key: "/tmp/proj".into(),
        agent_name: "Gaffer".into(),
    };
    let coord = SessionCoordinator::new(id, ports).with_config(config);
    Rig {
        coord,
        world,
        work,
        mail,
        clock,
    }
}

/// A rig with an in-memory ledger, the default configuration and the mailbox.
pub fn rig() -> Rig {
    rig_with(
        Ledger::open_in_memory().unwrap(),
        GafferConfig::default(),
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(agent: &str, exclusive: bool) -> ReserveRequest {
        ReserveRequest {
            agent: agent.into(),
            paths: vec!["src/a.rs".into()],
            ttl: Duration::from_secs(3600),
            exclusive,
            reason: String::new(),
        }
    }

    #[test]
    fn the_fake_mailbox_clashes_like_the_embedded_one() {
        let m = FakeMail::default();
        m.hold("Blue", "src/**", t0());
        m.hold_with("Green", "src/*.rs", false, t0());
        m.hold("Red", "docs/*.md", t0());
        // Exclusive request: both overlapping holders clash, shared or not.
        let names = |r: &ReserveRequest| -> Vec<String> {
            m.clashes(r, "src/a.rs", t0())
                .into_iter()
                .map(|h| h.agent_name)
                .collect()
        };
        assert_eq!(names(&req("Me", true)), ["Blue", "Green"]);
        // Shared request: a shared holder does not clash, an exclusive one does.
        assert_eq!(names(&req("Me", false)), ["Blue"]);
        // Own reservations never clash.
        assert_eq!(names(&req("Blue", false)), Vec::<String>::new());
        // Released reservations do not clash.
        m.release("p", "Blue", &[]).unwrap();
        assert_eq!(names(&req("Me", false)), Vec::<String>::new());
    }
}
