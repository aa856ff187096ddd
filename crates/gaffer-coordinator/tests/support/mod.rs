//! Fakes for runtime tests: a clock, an observer, panes, a work source and a mailbox.
//! They are plain in-memory stand-ins for pure-logic tests of the runtime; the real adapters
//! are tested against real tmux and the real Agent Mail server in their own crates.
#![allow(dead_code)]

use gaffer_coordinator::ledger::Ledger;
use gaffer_coordinator::observe::{AgentObserver, AgentsObservation, DeliveryProbe, ObservedAgent};
use gaffer_coordinator::{Identity, Ports, SessionCoordinator};
use gaffer_core::beads::Issue;
use gaffer_core::clock::Clock;
use gaffer_core::config::GafferConfig;
use gaffer_core::mailbox::*;
use gaffer_core::panes::*;
use gaffer_core::status::AgentStatus;
use gaffer_core::time::{Timestamp, parse_rfc3339};
use gaffer_core::triage::{TriageRecommendation, TriageResponse, TriageResult};
use gaffer_core::work_source::*;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn t0() -> Timestamp {
    parse_rfc3339("2026-01-01T12:00:00Z").unwrap()
}

#[derive(Clone)]
pub struct FakeClock(pub Arc<Mutex<Timestamp>>);
impl FakeClock {
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

/// Agents by pane id; tests edit them between updates.
#[derive(Clone, Default)]
pub struct World {
    pub agents: Arc<Mutex<BTreeMap<String, ObservedAgent>>>,
    /// Panes that take prompts (leave WAITING when delivered).
    pub responsive: Arc<Mutex<BTreeMap<String, bool>>>,
    pub delivered: Arc<Mutex<Vec<(String, String)>>>,
    pub observe_error: Arc<Mutex<Option<String>>>,
}

impl World {
    pub fn add(&self, pane: &str, ty: &str, status: AgentStatus, last_activity: Timestamp) {
        self.agents.lock().unwrap().insert(
            pane.into(),
            ObservedAgent {
                pane_id: pane.into(),
                pane_index: pane.trim_start_matches('%').parse().unwrap_or(0),
                agent_type: ty.into(),
                status,
                context_usage: 10.0,
                last_activity,
                healthy: true,
                error_message: String::new(),
                rule: "test".into(),
                rate_limit_reset: None,
                tags: vec![],
                variant: None,
            },
        );
        self.responsive.lock().unwrap().insert(pane.into(), true);
    }
    pub fn set(&self, pane: &str, status: AgentStatus, last_activity: Timestamp) {
        if let Some(a) = self.agents.lock().unwrap().get_mut(pane) {
            a.status = status;
            a.last_activity = last_activity;
        }
    }
    pub fn status(&self, pane: &str) -> AgentStatus {
        self.agents.lock().unwrap()[pane].status
    }
}

pub struct FakeObserver(pub World);
impl AgentObserver for FakeObserver {
    fn observe(&mut self, _now: Timestamp) -> Result<AgentsObservation, String> {
        if let Some(e) = self.0.observe_error.lock().unwrap().clone() {
            return Err(e);
        }
        Ok(AgentsObservation {
            agents: self.0.agents.lock().unwrap().values().cloned().collect(),
            problems: vec![],
        })
    }
}

pub struct FakeProbe(pub World);
impl DeliveryProbe for FakeProbe {
    fn probe(&self, pane_id: &str) -> ProbeResult {
        if self.0.status(pane_id) == AgentStatus::Waiting {
            ProbeResult::StillWaiting
        } else {
            ProbeResult::LeftWaiting
        }
    }
}

pub struct FakePanes(pub World);
impl Panes for FakePanes {
    fn list_panes(&self) -> Result<Vec<PaneInfo>, PanesError> {
        Ok(vec![])
    }
    fn capture(&self, _: &[String]) -> Result<Vec<(String, String)>, PanesError> {
        Ok(vec![])
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
        probe: &mut dyn FnMut() -> ProbeResult,
    ) -> Result<DeliveryReport, PanesError> {
        self.0
            .delivered
            .lock()
            .unwrap()
            .push((pane_id.into(), text.into()));
        if self
            .0
            .responsive
            .lock()
            .unwrap()
            .get(pane_id)
            .copied()
            .unwrap_or(false)
        {
            let now = self.0.agents.lock().unwrap()[pane_id].last_activity;
            self.0.set(pane_id, AgentStatus::Generating, now);
        }
        let outcome = if probe() == ProbeResult::LeftWaiting {
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
}

/// A work source over a list of issues and their recommendations.
#[derive(Clone, Default)]
pub struct FakeWork {
    pub recs: Arc<Mutex<Vec<TriageRecommendation>>>,
    pub closed: Arc<Mutex<Vec<String>>>,
    pub claims: Arc<Mutex<Vec<(String, String)>>>,
    pub unclaims: Arc<Mutex<Vec<(String, String)>>>,
    pub broken: Arc<Mutex<bool>>,
}

impl FakeWork {
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
    pub fn close(&self, id: &str) {
        self.closed.lock().unwrap().push(id.into());
    }
    pub fn issues(&self) -> Vec<Issue> {
        let closed = self.closed.lock().unwrap().clone();
        self.recs
            .lock()
            .unwrap()
            .iter()
            .map(|r| Issue {
                id: r.id.clone(),
                title: r.title.clone(),
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
        Ok(ClaimOutcome::Claimed {
            id: id.into(),
            assignee: actor.into(),
        })
    }
    fn unclaim(&self, id: &str, actor: &str) -> Result<bool, WorkSourceError> {
        self.unclaims
            .lock()
            .unwrap()
            .push((id.into(), actor.into()));
        Ok(true)
    }
    fn close(&self, id: &str, _reason: &str) -> Result<CloseOutcome, WorkSourceError> {
        self.close(id);
        Ok(CloseOutcome::Closed {
            id: id.into(),
            unblocked: vec![],
        })
    }
}

/// An in-memory mailbox with reservations and sent messages; `down` makes every call fail.
#[derive(Clone, Default)]
pub struct FakeMail {
    pub reservations: Arc<Mutex<Vec<Reservation>>>,
    pub sent: Arc<Mutex<Vec<OutgoingMessage>>>,
    pub down: Arc<Mutex<bool>>,
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
    pub fn hold(&self, agent: &str, pattern: &str, reserved_at: Timestamp) {
        let mut rs = self.reservations.lock().unwrap();
        let id = rs.len() as i64 + 1;
        rs.push(Reservation {
            id,
            agent_name: agent.into(),
            path_pattern: pattern.into(),
            exclusive: true,
            reason: String::new(),
            created_ts: Some(reserved_at),
            expires_ts: reserved_at + chrono::Duration::hours(1),
            released_ts: None,
        });
    }
}

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
        Ok(AgentInfo {
            id: 1,
            name: reg.name.clone().unwrap_or_else(|| "BlueLake".into()),
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
        let mut conflicts = Vec::new();
        for p in &req.paths {
            let holders: Vec<ConflictHolder> = self
                .reservations
                .lock()
                .unwrap()
                .iter()
                .filter(|r| {
                    r.agent_name != req.agent
                        && r.released_ts.is_none()
                        && gaffer_core::glob::overlaps(&r.path_pattern, p)
                })
                .map(|r| ConflictHolder {
                    agent_name: r.agent_name.clone(),
                    path_pattern: r.path_pattern.clone(),
                    exclusive: r.exclusive,
                    expires_ts: Some(r.expires_ts),
                })
                .collect();
            if !holders.is_empty() {
                conflicts.push(PathConflict {
                    path: p.clone(),
                    holders,
                });
            }
        }
        let mut granted = Vec::new();
        for p in &req.paths {
            self.hold(&req.agent, p, now);
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

pub struct Rig {
    pub coord: SessionCoordinator,
    pub world: World,
    pub work: FakeWork,
    pub mail: FakeMail,
    pub clock: FakeClock,
}

pub fn rig_with(ledger: Ledger, config: GafferConfig, with_mail: bool) -> Rig {
    let world = World::default();
    let work = FakeWork::default();
    let mail = FakeMail::default();
    let clock = FakeClock(Arc::new(Mutex::new(t0())));
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
        issues: Arc::new(move |_| Ok(issues_work.issues())),
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

pub fn rig() -> Rig {
    rig_with(
        Ledger::open_in_memory().unwrap(),
        GafferConfig::default(),
        true,
    )
}
