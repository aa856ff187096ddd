//! `SessionCoordinator`: the reference API, working. It observes agents, assigns work by global
//! matching with consent and back-off, carries each assignment out through the ledger, catches
//! reservation conflicts (failing closed when Agent Mail cannot be read), and sends honest
//! digests.
//!
//! Each loop (monitor, auto-assign, conflicts, digest) runs on its own thread with its own
//! interval, so a slow adapter never blocks another loop. Shared state sits behind short
//! locks that are never held across adapter calls.

use crate::bus::EventBus;
use crate::ledger::{AssignmentRecord, AssignmentState, Ledger, LedgerError, NewAssignment, Offer};
use crate::observe::{AgentObserver, AgentsObservation, DeliveryProbe};
use gaffer_core::agent::AgentState;
use gaffer_core::assign::{
    BackoffBook, BackoffReason, PlanOptions, ReservationMap, is_claimable, is_fresh_waiting,
};
use gaffer_core::assignment::{AssignmentResult, AssignmentStrategy, WorkAssignment};
use gaffer_core::beads::Issue;
use gaffer_core::clock::Clock;
use gaffer_core::config::GafferConfig;
use gaffer_core::conflict::Conflict;
use gaffer_core::conflicts::{ConflictDetector, DetectedConflict};
use gaffer_core::digest::{
    DigestInput, DigestSummary, Reading, digest_importance, generate_digest, render_markdown,
};
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::mailbox::{Importance, Mailbox, OutgoingMessage, Reservation, ReserveRequest};
use gaffer_core::messages::{
    PromptInput, assignment_message, assignment_prompt, conflict_notice, release_request,
};
use gaffer_core::panes::{DeliveryOptions, DeliveryOutcome, Panes};
use gaffer_core::quality_monitor::QualityMonitor;
use gaffer_core::status::AgentStatus;
use gaffer_core::text::extract_mentioned_files;
use gaffer_core::time::Timestamp;
use gaffer_core::transitions::state_change_event;
use gaffer_core::triage::{TriageRecommendation, TriageResponse};
use gaffer_core::work_source::{ClaimOutcome, WorkSource, work_digest};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

/// Errors of the coordinator's API.
#[derive(Debug, thiserror::Error)]
pub enum CoordinatorError {
    /// No agent in that pane.
    #[error("agent not found: {0}")]
    AgentNotFound(String),
    /// No mailbox is configured.
    #[error("agent mail not available")]
    MailUnavailable,
    /// A mailbox call failed.
    #[error("agent mail: {0}")]
    Mail(String),
    /// The work source failed.
    #[error("work source: {0}")]
    WorkSource(String),
    /// Observing panes failed.
    #[error("observation: {0}")]
    Observe(String),
    /// The ledger failed.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// Nobody else holds the conflict.
    #[error("no other holders to negotiate with")]
    NoOtherHolders,
}

/// The outside world, as the coordinator uses it.
pub struct Ports {
    /// Observes agent panes.
    pub observer: Box<dyn AgentObserver>,
    /// Tells whether an agent took a prompt.
    pub probe: Arc<dyn DeliveryProbe>,
    /// Delivers prompts.
    pub panes: Arc<dyn Panes>,
    /// Agent Mail, when configured.
    pub mailbox: Option<Arc<dyn Mailbox>>,
    /// The work source.
    pub work: Arc<dyn WorkSource + Send + Sync>,
    /// The issues behind the work source, for completion and digest figures.
    pub issues: Arc<dyn Fn(Timestamp) -> Result<Vec<Issue>, String> + Send + Sync>,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// The ledger.
    pub ledger: Ledger,
}

/// Identity of the coordinator.
#[derive(Debug, Clone)]
pub struct Identity {
    /// tmux session.
    pub session: String,
    /// Project key: its absolute directory.
    pub project_key: String,
    /// The coordinator's Agent Mail name.
    pub agent_name: String,
}

#[derive(Default)]
struct State {
    agents: BTreeMap<String, AgentState>,
    last_update: Option<Timestamp>,
    problems: Vec<String>,
    conflicts: BTreeMap<String, DetectedConflict>,
    mail_degraded: Option<String>,
    work_degraded: Option<String>,
    last_triage: Option<(Timestamp, TriageResponse)>,
    last_reservations: Option<(Timestamp, Vec<Reservation>)>,
    backoff: BackoffBook,
    quality: QualityMonitor,
    /// Agent Mail names registered for agent panes.
    names: BTreeMap<String, String>,
    /// Last test-run and scan rows taken into the quality monitor.
    quality_cursor: (i64, i64),
    /// Active assignments at the last review, to notice those ended outside this process
    /// (`gaffer done`, `gaffer refuse`).
    tracked: BTreeMap<i64, AssignmentRecord>,
    /// The coordinator's own Agent Mail name, as the mailbox registered it.
    sender: Option<String>,
    /// The digest recipient's Agent Mail name, as the mailbox registered it.
    human: Option<String>,
    /// When each rate-limited agent's limit ends: the earliest reset its screen announced in
    /// the current limit (a relative "after 2h13m" is read anew at each look, so the first
    /// reading counts).
    limit_until: BTreeMap<String, Timestamp>,
}

struct Shared {
    id: Identity,
    config: Mutex<GafferConfig>,
    state: Mutex<State>,
    observer: Mutex<Box<dyn AgentObserver>>,
    ledger: Mutex<Ledger>,
    probe: Arc<dyn DeliveryProbe>,
    panes: Arc<dyn Panes>,
    mailbox: Option<Arc<dyn Mailbox>>,
    work: Arc<dyn WorkSource + Send + Sync>,
    issues: Arc<dyn Fn(Timestamp) -> Result<Vec<Issue>, String> + Send + Sync>,
    clock: Arc<dyn Clock>,
    bus: EventBus,
    running: AtomicBool,
    assign_lock: Mutex<()>,
}

/// Coordinates the agents of one tmux session.
pub struct SessionCoordinator {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SessionCoordinator {
    /// A coordinator with the default configuration (reference `New`).
    pub fn new(id: Identity, ports: Ports) -> Self {
        let config = GafferConfig::default();
        let backoff = BackoffBook::new(Duration::from_secs(60), config.assign.max_backoff);
        let mut state = State {
            backoff,
            ..Default::default()
        };
        let _ = ports.ledger.load_backoff(&mut state.backoff);
        if let Ok(q) = ports.ledger.quality_monitor(false) {
            state.quality = q;
        }
        state.quality_cursor = (
            ports
                .ledger
                .test_runs_since(0)
                .ok()
                .and_then(|r| r.last().map(|x| x.0))
                .unwrap_or(0),
            ports
                .ledger
                .scans_since(0)
                .ok()
                .and_then(|r| r.last().map(|x| x.0))
                .unwrap_or(0),
        );
        SessionCoordinator {
            shared: Arc::new(Shared {
                id,
                config: Mutex::new(config),
                state: Mutex::new(state),
                observer: Mutex::new(ports.observer),
                ledger: Mutex::new(ports.ledger),
                probe: ports.probe,
                panes: ports.panes,
                mailbox: ports.mailbox,
                work: ports.work,
                issues: ports.issues,
                clock: ports.clock,
                bus: EventBus::new(),
                running: AtomicBool::new(false),
                assign_lock: Mutex::new(()),
            }),
            threads: Vec::new(),
        }
    }

    /// Replaces the configuration (reference `WithConfig`).
    pub fn with_config(self, config: GafferConfig) -> Self {
        {
            let mut st = lock(&self.shared.state);
            st.backoff.cap = config.assign.max_backoff;
        }
        *lock(&self.shared.config) = config;
        self
    }

    /// The configuration in effect.
    pub fn config(&self) -> GafferConfig {
        lock(&self.shared.config).clone()
    }

    /// The event bus; `events().subscribe()` gives a stream.
    pub fn events(&self) -> &EventBus {
        &self.shared.bus
    }

    /// Starts: clamps the intervals, updates once synchronously, then starts the loops
    /// (monitor always; auto-assign when `auto_assign`; conflicts; digest when `send_digests`).
    /// Calling it again after `stop` starts again.
    pub fn start(&mut self) -> Result<Vec<String>, CoordinatorError> {
        if self.shared.running.swap(true, Ordering::SeqCst) {
            return Ok(Vec::new());
        }
        let notices: Vec<String> = {
            let mut cfg = lock(&self.shared.config);
            cfg.coordinator
                .clamp_intervals()
                .iter()
                .map(|n| n.to_string())
                .collect()
        };
        self.shared.ensure_project();
        self.shared.recover_offers();
        self.shared.update_state();
        let cfg = self.config();
        let poll = cfg.coordinator.poll_interval;
        self.spawn_monitor(poll);
        if cfg.coordinator.auto_assign {
            self.spawn_loop("assign", poll, |s| {
                let _ = s.assign_round(None, false);
            });
        }
        self.spawn_loop("conflicts", poll.max(Duration::from_secs(1)), |s| {
            let _ = s.conflict_pass();
        });
        if cfg.coordinator.send_digests {
            let every = cfg.coordinator.digest_interval;
            self.spawn_loop("digest", every, |s| {
                if let Err(e) = s.send_digest() {
                    s.emit(
                        CoordinatorEvent::new(CoordinatorEventType::DigestFailed, s.clock.now())
                            .with_detail("error", e.to_string()),
                    );
                }
            });
        }
        Ok(notices)
    }

    /// The monitor loop: observes every poll interval, and sooner when the panes report
    /// activity (tmux control mode), so a change of state becomes an event within moments.
    fn spawn_monitor(&mut self, every: Duration) {
        let shared = Arc::clone(&self.shared);
        let min_gap = Duration::from_millis(100);
        let handle = std::thread::Builder::new()
            .name("gaffer-monitor".into())
            .spawn(move || {
                let mut last = std::time::Instant::now();
                while shared.running.load(Ordering::SeqCst) {
                    let remaining = every.saturating_sub(last.elapsed());
                    // Wake on activity, but look at `stop` at least every 250 ms. An adapter without
                    // an event source sleeps the whole timeout, so only an early return is activity.
                    let slice = remaining.min(Duration::from_millis(250));
                    let started = std::time::Instant::now();
                    let active = shared.panes.wait_for_activity(slice)
                        && started.elapsed() + Duration::from_millis(5) < slice;
                    if !shared.running.load(Ordering::SeqCst) {
                        break;
                    }
                    if last.elapsed() >= every || (active && last.elapsed() >= min_gap) {
                        last = std::time::Instant::now();
                        shared.update_state();
                    }
                }
            });
        if let Ok(h) = handle {
            self.threads.push(h);
        }
    }

    fn spawn_loop(&mut self, name: &str, every: Duration, body: fn(&Shared)) {
        let shared = Arc::clone(&self.shared);
        let handle = std::thread::Builder::new()
            .name(format!("gaffer-{name}"))
            .spawn(move || {
                let step = Duration::from_millis(20);
                while shared.running.load(Ordering::SeqCst) {
                    let mut waited = Duration::ZERO;
                    while waited < every && shared.running.load(Ordering::SeqCst) {
                        std::thread::sleep(step.min(every - waited));
                        waited += step;
                    }
                    if !shared.running.load(Ordering::SeqCst) {
                        break;
                    }
                    body(&shared);
                }
            });
        if let Ok(h) = handle {
            self.threads.push(h);
        }
    }

    /// Stops the loops and waits for them. Idempotent.
    pub fn stop(&mut self) {
        self.shared.running.store(false, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Observes once now (what the monitor loop does each poll).
    pub fn update_state(&self) {
        self.shared.update_state();
    }

    /// Makes sure the project exists in Agent Mail (done by `start`).
    pub fn ensure_project(&self) {
        self.shared.ensure_project();
    }

    /// Copies of every tracked agent.
    pub fn get_agents(&self) -> BTreeMap<String, AgentState> {
        lock(&self.shared.state).agents.clone()
    }

    /// A copy of one agent.
    pub fn get_agent_by_pane_id(&self, pane_id: &str) -> Option<AgentState> {
        lock(&self.shared.state).agents.get(pane_id).cloned()
    }

    /// Agents that can take work now: WAITING, healthy, idle at least `idle_threshold`,
    /// context ≤ 90%.
    pub fn get_idle_agents(&self) -> Vec<AgentState> {
        self.shared.idle_agents()
    }

    /// Observation problems of the last update (session gone, …).
    pub fn problems(&self) -> Vec<String> {
        lock(&self.shared.state).problems.clone()
    }

    /// Work that could be assigned: claimable recommendations without a live assignment.
    pub fn get_assignable_work(&self) -> Result<Vec<TriageRecommendation>, CoordinatorError> {
        self.shared.assignable_work()
    }

    /// One assignment round when `auto_assign` is set (reference `AssignWork`).
    pub fn assign_work(&self) -> Result<Vec<AssignmentResult>, CoordinatorError> {
        if !lock(&self.shared.config).coordinator.auto_assign {
            return Ok(Vec::new());
        }
        self.shared.assign_round(None, false)
    }

    /// One assignment round now, whatever `auto_assign` says; `dry_run` plans without acting.
    pub fn assign_now(
        &self,
        strategy: Option<AssignmentStrategy>,
        dry_run: bool,
    ) -> Result<Vec<AssignmentResult>, CoordinatorError> {
        self.shared.assign_round(strategy, dry_run)
    }

    /// The best work for one agent, without assigning it.
    pub fn suggest_assignment(
        &self,
        pane_id: &str,
    ) -> Result<Option<WorkAssignment>, CoordinatorError> {
        let agent = self
            .get_agent_by_pane_id(pane_id)
            .ok_or_else(|| CoordinatorError::AgentNotFound(pane_id.to_string()))?;
        let mut candidate = agent.clone();
        candidate.status = AgentStatus::Waiting;
        let work = self.shared.assignable_work()?;
        let (reservations, _) = self.shared.reservation_map();
        let cfg = self.config();
        let now = self.shared.clock.now();
        let st = lock(&self.shared.state);
        let opts = PlanOptions {
            backoff: Some(&st.backoff),
            now: Some(now),
            agent_quality: st.quality.agent_quality_scores(),
            ..Default::default()
        };
        let plan = gaffer_core::assign::plan_assignments(
            &work,
            std::slice::from_ref(&candidate),
            cfg.assign.strategy,
            &reservations,
            &opts,
        );
        Ok(plan
            .into_iter()
            .next()
            .map(|a| work_assignment(&a.bead, &agent, a.score, now)))
    }

    /// Conflicts now: true overlap among active reservations (fails closed).
    pub fn detect_conflicts(&self) -> Result<Vec<DetectedConflict>, CoordinatorError> {
        self.shared.conflict_pass()
    }

    /// Messages every holder of a conflict (reference `NotifyConflict`).
    pub fn notify_conflict(&self, conflict: &Conflict) -> Result<(), CoordinatorError> {
        self.shared.notify_conflict(conflict)
    }

    /// Asks the lowest-priority other holder to release (reference `NegotiateConflict`).
    pub fn negotiate_conflict(
        &self,
        conflict: &Conflict,
        requester: &str,
    ) -> Result<(), CoordinatorError> {
        self.shared.negotiate_conflict(conflict, requester)
    }

    /// A digest of the session now (reference `GenerateDigest`).
    pub fn generate_digest(&self) -> DigestSummary {
        self.shared.generate_digest()
    }

    /// Sends a digest to the human (reference `SendDigest`).
    pub fn send_digest(&self) -> Result<DigestSummary, CoordinatorError> {
        self.shared.send_digest()
    }

    /// The ledger's assignments.
    pub fn assignments(&self) -> Result<Vec<AssignmentRecord>, CoordinatorError> {
        Ok(lock(&self.shared.ledger).all()?)
    }

    /// Quality figures.
    pub fn quality(&self) -> QualityMonitor {
        lock(&self.shared.state).quality.clone()
    }
}

impl Drop for SessionCoordinator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Marks the open issues whose ids are in `done` closed (as of `now`); returns how many.
pub fn overlay_done(issues: &mut [Issue], done: &BTreeSet<String>, now: Timestamp) -> usize {
    let mut n = 0;
    for i in issues.iter_mut() {
        if !i.is_closed() && done.contains(&i.id) {
            i.status = "closed".into();
            i.closed_at = Some(now);
            i.close_reason = Some("done in the gaffer ledger".into());
            n += 1;
        }
    }
    n
}

fn work_assignment(
    bead: &TriageRecommendation,
    agent: &AgentState,
    score: f64,
    now: Timestamp,
) -> WorkAssignment {
    WorkAssignment {
        bead_id: bead.id.clone(),
        bead_title: bead.title.clone(),
        agent_pane_id: agent.pane_id.clone(),
        agent_mail_name: agent.agent_mail_name.clone(),
        agent_type: agent.agent_type.clone(),
        assigned_at: now,
        priority: bead.priority,
        score,
        files_to_reserve: extract_mentioned_files(
            &bead.title,
            bead.extra
                .get("description")
                .and_then(|v| v.as_str())
                .unwrap_or(""),
        ),
    }
}

impl Shared {
    fn emit(&self, event: CoordinatorEvent) {
        let _ = lock(&self.ledger).record_event(&event);
        self.bus.publish(event);
    }

    fn project(&self) -> &str {
        &self.id.project_key
    }

    /// The name an agent is known by in Agent Mail and the ledger.
    fn actor(agent: &AgentState) -> String {
        if agent.agent_mail_name.is_empty() {
            agent.pane_id.clone()
        } else {
            agent.agent_mail_name.clone()
        }
    }

    fn update_state(&self) {
        let now = self.clock.now();
        let observed = lock(&self.observer).observe(now);
        let obs = match observed {
            Ok(o) => o,
            Err(e) => AgentsObservation {
                agents: Vec::new(),
                problems: vec![e],
            },
        };
        self.register_names(&obs);
        self.take_quality_records();
        let active = lock(&self.ledger).active().unwrap_or_default();
        let mut events = Vec::new();
        {
            let mut st = lock(&self.state);
            let names = st.names.clone();
            let mut limits = std::mem::take(&mut st.limit_until);
            let seen: BTreeSet<String> = obs.agents.iter().map(|a| a.pane_id.clone()).collect();
            for o in &obs.agents {
                let isnew = !st.agents.contains_key(&o.pane_id);
                let agent = st.agents.entry(o.pane_id.clone()).or_insert_with(|| {
                    AgentState::new(o.pane_id.clone(), o.pane_index, o.agent_type.clone(), now)
                });
                let prev = agent.status;
                agent.pane_index = o.pane_index;
                agent.agent_type = o.agent_type.clone();
                agent.status = o.status;
                if o.status == AgentStatus::RateLimited {
                    // Left alone until the announced reset; after it, the agent is waiting.
                    let until = match (limits.get(&o.pane_id), o.rate_limit_reset) {
                        (Some(u), _) => Some(*u),
                        (None, Some(r)) => {
                            limits.insert(o.pane_id.clone(), r);
                            Some(r)
                        }
                        (None, None) => None,
                    };
                    if until.is_some_and(|u| now >= u) {
                        agent.status = AgentStatus::Waiting;
                    }
                } else {
                    limits.remove(&o.pane_id);
                }
                agent.context_usage = o.context_usage;
                agent.last_activity = o.last_activity;
                agent.healthy = o.healthy && o.status != AgentStatus::Error;
                if let Some(name) = names.get(&o.pane_id) {
                    agent.agent_mail_name = name.clone();
                }
                if !o.tags.is_empty() && agent.profile.is_none() {
                    agent.profile = Some(gaffer_core::persona::Persona {
                        name: o.variant.clone().unwrap_or_else(|| o.pane_id.clone()),
                        agent_type: o.agent_type.clone(),
                        tags: o.tags.clone(),
                        ..Default::default()
                    });
                }
                let mine: Vec<&AssignmentRecord> = active
                    .iter()
                    .filter(|r| r.assignment.agent_pane_id == o.pane_id)
                    .collect();
                agent.assignments = mine.len() as i64;
                agent.current_task = mine
                    .last()
                    .map(|r| r.assignment.bead_id.clone())
                    .unwrap_or_default();
                if !isnew {
                    if let Some(e) = state_change_event(prev, agent, now) {
                        events.push(e);
                    }
                }
                let (pane, ty, usage) = (o.pane_id.clone(), o.agent_type.clone(), o.context_usage);
                if usage > 0.0 {
                    st.quality.record_context_usage(&pane, &ty, usage, now);
                }
            }
            st.agents.retain(|k, _| seen.contains(k));
            limits.retain(|k, _| seen.contains(k));
            st.limit_until = limits;
            st.last_update = Some(now);
            st.problems = obs.problems.clone();
            for e in &events {
                match e.event_type {
                    CoordinatorEventType::AgentError => {
                        let ty = e
                            .details
                            .get("agent_type")
                            .and_then(|v| v.as_str())
                            .unwrap_or("")
                            .to_string();
                        st.quality.record_agent_error(&e.agent_id, &ty, now);
                    }
                    CoordinatorEventType::AgentRecovered => {
                        st.quality.record_agent_recovery(&e.agent_id)
                    }
                    _ => {}
                }
            }
        }
        for e in events {
            self.emit(e);
        }
        self.review_assignments(now);
    }

    /// Takes test runs and scans recorded since the last look (agents record them with
    /// `gaffer quality record-tests` from their panes) into the quality monitor, so they feed
    /// assignment scores, alerts and digests while the coordinator runs.
    fn take_quality_records(&self) {
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
    /// reservations and messages have a holder the server accepts. Failures are retried at the
    /// next poll.
    fn register_names(&self, obs: &AgentsObservation) {
        let Some(mb) = &self.mailbox else { return };
        let missing: Vec<(String, String)> = {
            let st = lock(&self.state);
            obs.agents
                .iter()
                .filter(|a| !st.names.contains_key(&a.pane_id))
                .map(|a| (a.pane_id.clone(), a.agent_type.clone()))
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
                    self.mail_degraded(&e.to_string(), self.clock.now());
                    return;
                }
            }
        }
    }

    /// Ensures the project exists in Agent Mail and the coordinator is registered in it, so
    /// that its messages have a known sender (called at start).
    fn ensure_project(&self) {
        if let Some(mb) = &self.mailbox {
            if let Err(e) = mb.ensure_project(self.project()) {
                self.mail_degraded(&e.to_string(), self.clock.now());
                return;
            }
            let reg = gaffer_core::mailbox::AgentRegistration {
                name: Some(self.id.agent_name.clone()),
                program: "gaffer".into(),
                model: "coordinator".into(),
                task_description: format!("gaffer coordinator of session {}", self.id.session),
            };
            match mb.register_agent(self.project(), &reg) {
                Ok(info) => lock(&self.state).sender = Some(info.name),
                Err(e) => self.mail_degraded(&e.to_string(), self.clock.now()),
            }
            // The digest recipient must exist too; a name the mailbox does not accept (like
            // the default "Human") is replaced by one it grants, and digests go there.
            let human = lock(&self.config).coordinator.human_agent.clone();
            let reg = gaffer_core::mailbox::AgentRegistration {
                name: Some(human.clone()),
                program: "human".into(),
                model: "human".into(),
                task_description: format!("the human overseeing session {}", self.id.session),
            };
            match mb.register_agent(self.project(), &reg) {
                Ok(info) => {
                    if info.name != human {
                        tracing::warn!(configured = %human, granted = %info.name, "human_agent is not a valid Agent Mail name; digests go to the granted name");
                    }
                    lock(&self.state).human = Some(info.name);
                }
                Err(e) => self.mail_degraded(&e.to_string(), self.clock.now()),
            }
        }
    }

    /// The name the coordinator sends as.
    fn sender(&self) -> String {
        lock(&self.state)
            .sender
            .clone()
            .unwrap_or_else(|| self.id.agent_name.clone())
    }

    /// Notices the end of assignments: the bead closed (done), the agent busy (working), the
    /// agent idle again with the bead open (stalled: failed with back-off), the agent gone.
    fn review_assignments(&self, now: Timestamp) {
        let active = lock(&self.ledger).active().unwrap_or_default();
        self.review_reported(&active);
        if active.is_empty() {
            return;
        }
        let ids: Vec<i64> = active.iter().map(|r| r.id).collect();
        self.review_active(active, now);
        let still: BTreeSet<i64> = lock(&self.ledger)
            .active()
            .unwrap_or_default()
            .iter()
            .map(|r| r.id)
            .collect();
        // Those this review finished were reported here.
        let mut st = lock(&self.state);
        for id in ids.iter().filter(|id| !still.contains(id)) {
            st.tracked.remove(id);
        }
    }

    /// Assignments that left the active states outside this process: an agent ran
    /// `gaffer done` or `gaffer refuse`. Their reservations are released, a done bead clears
    /// its back-off, a refusal's back-off is loaded, and the event (already in the ledger's
    /// log, written by the reporter) is published on the bus.
    fn review_reported(&self, active: &[AssignmentRecord]) {
        let ended: Vec<AssignmentRecord> = {
            let mut st = lock(&self.state);
            let live: BTreeSet<i64> = active.iter().map(|r| r.id).collect();
            let ended: Vec<AssignmentRecord> = st
                .tracked
                .values()
                .filter(|r| !live.contains(&r.id))
                .cloned()
                .collect();
            for r in &ended {
                st.tracked.remove(&r.id);
            }
            for r in active {
                st.tracked.insert(r.id, r.clone());
            }
            ended
        };
        for old in ended {
            let Ok(rec) = lock(&self.ledger).get(old.id) else {
                continue;
            };
            let kind = match rec.state {
                AssignmentState::Done => {
                    lock(&self.state)
                        .backoff
                        .clear_bead(&rec.assignment.bead_id);
                    CoordinatorEventType::WorkCompleted
                }
                AssignmentState::Refused => {
                    let mut book = lock(&self.state).backoff.clone();
                    if lock(&self.ledger).load_backoff(&mut book).is_ok() {
                        lock(&self.state).backoff = book;
                    }
                    CoordinatorEventType::AssignmentRefused
                }
                // Failed is only set by this process, which reported it already.
                _ => continue,
            };
            self.release_reservations(&rec);
            self.bus.publish(
                CoordinatorEvent::new(kind, rec.updated_at)
                    .with_agent(rec.assignment.agent_pane_id.clone())
                    .with_detail("bead_id", rec.assignment.bead_id.clone())
                    .with_detail("state", rec.state.as_str())
                    .with_detail("reason", rec.error.clone())
                    .with_detail("reported_by", "agent"),
            );
        }
    }

    /// The issues as the coordinator sees them: the work source's, with the beads the ledger
    /// says are done shown closed (a read-only source, such as the native JSONL without `br`,
    /// still lists them open). Returns the issues and how many were overlaid.
    fn issues_now(&self, now: Timestamp) -> Result<(Vec<Issue>, usize), String> {
        let mut issues = (self.issues)(now)?;
        let done = lock(&self.ledger).done_beads().unwrap_or_default();
        let n = overlay_done(&mut issues, &done, now);
        Ok((issues, n))
    }

    fn review_active(&self, active: Vec<AssignmentRecord>, now: Timestamp) {
        let closed: Option<BTreeSet<String>> = self.issues_now(now).ok().map(|(issues, _)| {
            issues
                .into_iter()
                .filter(|i| i.is_closed())
                .map(|i| i.id)
                .collect()
        });
        let (idle_threshold, grace) = {
            let cfg = lock(&self.config);
            (
                cfg.coordinator.idle_threshold,
                cfg.assign.completion_grace.as_secs_f64(),
            )
        };
        let agents = lock(&self.state).agents.clone();
        for rec in active {
            let bead = rec.assignment.bead_id.clone();
            let pane = rec.assignment.agent_pane_id.clone();
            if closed.as_ref().is_some_and(|c| c.contains(&bead)) {
                self.finish(&rec, AssignmentState::Done, "bead closed", now);
                continue;
            }
            let Some(agent) = agents.get(&pane) else {
                self.finish(&rec, AssignmentState::Failed, "agent pane is gone", now);
                continue;
            };
            match agent.status {
                s if s.is_busy()
                    && rec.state != AssignmentState::Working
                    && rec.state != AssignmentState::Offered =>
                {
                    let _ = lock(&self.ledger).set_state(rec.id, AssignmentState::Working, "", now);
                }
                AgentStatus::Exited => {
                    self.finish(&rec, AssignmentState::Failed, "agent exited", now)
                }
                AgentStatus::Waiting if rec.state != AssignmentState::Offered => {
                    let idle = (now - agent.last_activity).num_milliseconds() as f64 / 1000.0;
                    let since_update = (now - rec.updated_at).num_milliseconds() as f64 / 1000.0;
                    let wait = idle_threshold.max(grace);
                    if idle >= wait && since_update >= wait {
                        self.finish(
                            &rec,
                            AssignmentState::Failed,
                            "stalled: agent idle again with the bead open",
                            now,
                        );
                        self.back_off(&pane, &bead, BackoffReason::Stalled, now);
                    }
                }
                _ => {}
            }
        }
    }

    fn finish(&self, rec: &AssignmentRecord, to: AssignmentState, why: &str, now: Timestamp) {
        if lock(&self.ledger).set_state(rec.id, to, why, now).is_err() {
            return;
        }
        self.release_reservations(rec);
        if to != AssignmentState::Done && rec.claimed {
            let actor = if rec.assignment.agent_name.is_empty() {
                &rec.assignment.agent_pane_id
            } else {
                &rec.assignment.agent_name
            };
            if let Err(e) = self.work.unclaim(&rec.assignment.bead_id, actor) {
                tracing::warn!(bead = %rec.assignment.bead_id, error = %e, "could not undo the claim");
            }
        }
        let kind = match to {
            AssignmentState::Done => {
                lock(&self.state)
                    .backoff
                    .clear_bead(&rec.assignment.bead_id);
                CoordinatorEventType::WorkCompleted
            }
            _ => CoordinatorEventType::AssignmentRefused,
        };
        self.emit(
            CoordinatorEvent::new(kind, now)
                .with_agent(rec.assignment.agent_pane_id.clone())
                .with_detail("bead_id", rec.assignment.bead_id.clone())
                .with_detail("state", to.as_str())
                .with_detail("reason", why),
        );
    }

    fn release_reservations(&self, rec: &AssignmentRecord) {
        if rec.reserved.is_empty() {
            return;
        }
        if let Some(mb) = &self.mailbox {
            let holder = if rec.assignment.agent_name.is_empty() {
                &rec.assignment.agent_pane_id
            } else {
                &rec.assignment.agent_name
            };
            let _ = mb.release(self.project(), holder, &rec.reserved);
        }
    }

    fn back_off(&self, pane: &str, bead: &str, reason: BackoffReason, now: Timestamp) {
        let entry = {
            let mut st = lock(&self.state);
            st.backoff.record(pane, bead, reason, now);
            st.backoff.entry(pane, bead).cloned()
        };
        if let Some(e) = entry {
            let _ = lock(&self.ledger).save_backoff(pane, bead, &e);
        }
    }

    /// After a crash, offers that never reached `delivered` are undone: their outcome is
    /// unknown, so the bead is released for a fresh, recorded attempt (no double assignment:
    /// the old entry is closed before any new one can be made).
    fn recover_offers(&self) {
        let now = self.clock.now();
        let offered: Vec<AssignmentRecord> = lock(&self.ledger)
            .active()
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.state == AssignmentState::Offered)
            .collect();
        for rec in offered {
            self.finish(
                &rec,
                AssignmentState::Failed,
                "interrupted before delivery (recovered at start)",
                now,
            );
        }
    }

    fn idle_agents(&self) -> Vec<AgentState> {
        let now = self.clock.now();
        let cfg = lock(&self.config).coordinator.clone();
        let st = lock(&self.state);
        st.agents
            .values()
            .filter(|a| {
                if cfg.assign_only_idle {
                    is_fresh_waiting(a, now, cfg.idle_threshold)
                } else {
                    gaffer_core::assign::is_available(a) && a.healthy
                }
            })
            .filter(|a| a.assignments <= 0)
            .cloned()
            .collect()
    }

    fn triage(&self) -> Result<TriageResponse, CoordinatorError> {
        let now = self.clock.now();
        let triaged = self.work.triage(now).map(|t| match self.issues_now(now) {
            // Beads done in the ledger but open in the source: rank the overlaid issues, so
            // that they count as closed and their dependents become ready.
            Ok((issues, n)) if n > 0 => gaffer_core::triage_engine::triage(&issues, now).response,
            _ => t,
        });
        match triaged {
            Ok(t) => {
                let was = lock(&self.state).work_degraded.take();
                if was.is_some() {
                    self.emit(
                        CoordinatorEvent::new(CoordinatorEventType::WorkSourceRecovered, now)
                            .with_detail("source", self.work.name()),
                    );
                }
                lock(&self.state).last_triage = Some((now, t.clone()));
                Ok(t)
            }
            Err(e) => {
                let msg = e.to_string();
                let first = lock(&self.state)
                    .work_degraded
                    .replace(msg.clone())
                    .is_none();
                if first {
                    self.emit(
                        CoordinatorEvent::new(CoordinatorEventType::WorkSourceDegraded, now)
                            .with_detail("source", self.work.name())
                            .with_detail("error", msg.clone()),
                    );
                }
                Err(CoordinatorError::WorkSource(msg))
            }
        }
    }

    fn assignable_work(&self) -> Result<Vec<TriageRecommendation>, CoordinatorError> {
        let triage = self.triage()?;
        let ledger = lock(&self.ledger);
        Ok(triage
            .triage
            .recommendations
            .into_iter()
            .filter(is_claimable)
            .filter(|r| {
                ledger
                    .by_bead(&r.id)
                    .map(|rs| {
                        rs.iter()
                            .all(|x| !x.state.is_active() && x.state != AssignmentState::Done)
                    })
                    .unwrap_or(false)
            })
            .collect())
    }

    /// Active reservations as holder → patterns, or the reason they could not be read.
    fn reservation_map(&self) -> (ReservationMap, Option<String>) {
        let now = self.clock.now();
        let Some(mb) = &self.mailbox else {
            return (ReservationMap::new(), None);
        };
        match mb.list_reservations(self.project(), None, true) {
            Ok(rs) => {
                self.mail_ok(now);
                let mut map = ReservationMap::new();
                for r in rs.iter().filter(|r| r.is_active(now)) {
                    map.entry(r.agent_name.clone())
                        .or_default()
                        .push(r.path_pattern.clone());
                }
                lock(&self.state).last_reservations = Some((now, rs));
                (map, None)
            }
            Err(e) => {
                self.mail_degraded(&e.to_string(), now);
                (ReservationMap::new(), Some(e.to_string()))
            }
        }
    }

    fn mail_ok(&self, now: Timestamp) {
        if lock(&self.state).mail_degraded.take().is_some() {
            self.emit(CoordinatorEvent::new(
                CoordinatorEventType::MailRecovered,
                now,
            ));
        }
    }

    fn mail_degraded(&self, error: &str, now: Timestamp) {
        let first = lock(&self.state)
            .mail_degraded
            .replace(error.to_string())
            .is_none();
        if first {
            self.emit(
                CoordinatorEvent::new(CoordinatorEventType::MailDegraded, now)
                    .with_detail("error", error),
            );
        }
    }

    fn assign_round(
        &self,
        strategy: Option<AssignmentStrategy>,
        dry_run: bool,
    ) -> Result<Vec<AssignmentResult>, CoordinatorError> {
        let _round = lock(&self.assign_lock);
        let cfg = lock(&self.config).clone();
        let now = self.clock.now();
        let idle = self.idle_agents();
        if idle.is_empty() {
            return Ok(Vec::new());
        }
        // Refusals recorded by other processes (`gaffer refuse`) back off here too.
        {
            let ledger = lock(&self.ledger);
            let mut st = lock(&self.state);
            let _ = ledger.load_backoff(&mut st.backoff);
        }
        let mut work = self.assignable_work()?;
        let (reservations, mail_error) = self.reservation_map();
        if mail_error.is_some() {
            // Fail closed: tasks that need reservations wait until Agent Mail is readable.
            work.retain(|r| extract_mentioned_files(&r.title, "").is_empty());
        }
        let plan = {
            let st = lock(&self.state);
            let opts = PlanOptions {
                backoff: Some(&st.backoff),
                now: Some(now),
                agent_quality: st.quality.agent_quality_scores(),
                config: Some(cfg.scoring),
                ..Default::default()
            };
            let strategy = strategy.unwrap_or(cfg.assign.strategy);
            let scoring = if strategy == cfg.assign.strategy {
                Some(cfg.scoring)
            } else {
                None
            };
            let opts = PlanOptions {
                config: scoring,
                ..opts
            };
            gaffer_core::assign::plan_assignments(&work, &idle, strategy, &reservations, &opts)
        };
        let mut results = Vec::new();
        for a in plan {
            let wa = work_assignment(&a.bead, &a.agent, a.score, now);
            if dry_run {
                results.push(AssignmentResult {
                    success: true,
                    assignment: Some(wa),
                    error: String::new(),
                    reservations: Vec::new(),
                    message_sent: false,
                });
                continue;
            }
            results.push(self.carry_out(&a.bead, &a.agent, wa, &cfg));
        }
        Ok(results)
    }

    /// Carries one assignment out: ledger, claim, reserve, deliver, mark delivered. A failure
    /// at any step undoes the earlier ones and is recorded.
    fn carry_out(
        &self,
        bead: &TriageRecommendation,
        agent: &AgentState,
        wa: WorkAssignment,
        cfg: &GafferConfig,
    ) -> AssignmentResult {
        let now = self.clock.now();
        let actor = Self::actor(agent);
        let fail = |error: String| AssignmentResult {
            success: false,
            assignment: Some(wa.clone()),
            error,
            reservations: Vec::new(),
            message_sent: false,
        };
        let new = NewAssignment {
            bead_id: bead.id.clone(),
            bead_title: bead.title.clone(),
            agent_pane_id: agent.pane_id.clone(),
            agent_name: agent.agent_mail_name.clone(),
            agent_type: agent.agent_type.clone(),
            score: wa.score,
            files: wa.files_to_reserve.clone(),
        };
        // 1. Ledger first.
        let id = match lock(&self.ledger).offer(&new, now) {
            Ok(Offer::Created(id)) => id,
            Ok(Offer::Taken(r)) => {
                return fail(format!(
                    "bead {} is already assigned to {}",
                    bead.id, r.assignment.agent_pane_id
                ));
            }
            Err(e) => return fail(format!("ledger: {e}")),
        };
        let claimed = std::cell::Cell::new(false);
        let abort = |why: String, rec_reserved: Vec<String>| {
            let now = self.clock.now();
            let _ = lock(&self.ledger).set_state(id, AssignmentState::Failed, &why, now);
            if claimed.get() {
                if let Err(e) = self.work.unclaim(&bead.id, &actor) {
                    tracing::warn!(bead = %bead.id, error = %e, "could not undo the claim");
                }
            }
            if !rec_reserved.is_empty() {
                if let Some(mb) = &self.mailbox {
                    let _ = mb.release(self.project(), &actor, &rec_reserved);
                }
            }
            why
        };
        // 2. Claim.
        match self.work.claim(&bead.id, &actor) {
            Ok(ClaimOutcome::Claimed { .. }) => {
                claimed.set(true);
                let _ = lock(&self.ledger).set_claimed(id, true, now);
            }
            Ok(ClaimOutcome::ReadOnly) => {}
            Ok(ClaimOutcome::AlreadyClaimed { holder, .. }) => {
                return fail(abort(
                    format!(
                        "claim lost: {} holds it",
                        holder.unwrap_or_else(|| "someone".into())
                    ),
                    Vec::new(),
                ));
            }
            Ok(ClaimOutcome::NotClaimable { reason, .. }) => {
                return fail(abort(format!("not claimable: {reason}"), Vec::new()));
            }
            Err(e) => return fail(abort(format!("claim failed: {e}"), Vec::new())),
        }
        // 3. Reserve.
        let mut reserved = Vec::new();
        if let (Some(mb), false) = (&self.mailbox, wa.files_to_reserve.is_empty()) {
            let req = ReserveRequest {
                agent: actor.clone(),
                paths: wa.files_to_reserve.clone(),
                ttl: cfg.mail.reservation_ttl,
                exclusive: true,
                reason: bead.id.clone(),
            };
            match mb.reserve_paths(self.project(), &req) {
                Ok(res) => {
                    reserved = res.granted.iter().map(|r| r.path_pattern.clone()).collect();
                    let clash: Vec<String> = res
                        .conflicts
                        .iter()
                        .filter(|c| c.holders.iter().any(|h| h.agent_name != actor))
                        .map(|c| c.path.clone())
                        .collect();
                    if !clash.is_empty() {
                        self.back_off(&agent.pane_id, &bead.id, BackoffReason::DeliveryFailed, now);
                        return fail(abort(
                            format!("files held by another agent: {}", clash.join(", ")),
                            reserved,
                        ));
                    }
                    let _ = lock(&self.ledger).set_reserved(id, &reserved, now);
                }
                Err(e) => {
                    self.mail_degraded(&e.to_string(), now);
                    return fail(abort(format!("reservation failed: {e}"), Vec::new()));
                }
            }
        }
        // 4. Deliver, verified.
        let description = bead
            .extra
            .get("description")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let prompt = assignment_prompt(&PromptInput {
            bead,
            description,
            files: &wa.files_to_reserve,
            agent_name: &agent.agent_mail_name,
            has_br: self.work.name() == "br",
        });
        let opts = DeliveryOptions {
            deadline: cfg.assign.delivery_deadline,
            ..Default::default()
        };
        let probe = Arc::clone(&self.probe);
        let pane = agent.pane_id.clone();
        let mut check = move || probe.probe(&pane);
        match self
            .panes
            .deliver(&agent.pane_id, &prompt, &opts, &mut check)
        {
            Ok(report) if report.outcome == DeliveryOutcome::Delivered => {}
            Ok(report) => {
                self.back_off(&agent.pane_id, &bead.id, BackoffReason::DeliveryFailed, now);
                self.emit(
                    CoordinatorEvent::new(CoordinatorEventType::PromptStalled, self.clock.now())
                        .with_agent(agent.pane_id.clone())
                        .with_detail("bead_id", bead.id.clone())
                        .with_detail("attempts", report.attempts),
                );
                return fail(abort(
                    "prompt_stalled: the agent did not take the prompt".into(),
                    reserved,
                ));
            }
            Err(e) => {
                self.back_off(&agent.pane_id, &bead.id, BackoffReason::DeliveryFailed, now);
                return fail(abort(format!("delivery failed: {e}"), reserved));
            }
        }
        // 5. Delivered.
        let now = self.clock.now();
        let _ = lock(&self.ledger).set_state(id, AssignmentState::Delivered, "", now);
        if let Ok(rec) = lock(&self.ledger).get(id) {
            lock(&self.state).tracked.insert(id, rec);
        }
        {
            let mut st = lock(&self.state);
            if let Some(a) = st.agents.get_mut(&agent.pane_id) {
                a.current_task = bead.id.clone();
                a.assignments = a.assignments.max(0) + 1;
                a.last_assigned_at = Some(now);
                a.reservations = reserved.clone();
            }
        }
        let mut message_sent = false;
        if let (Some(mb), false) = (&self.mailbox, agent.agent_mail_name.is_empty()) {
            let m = assignment_message(bead, wa.score);
            let msg = OutgoingMessage {
                sender: self.sender(),
                to: vec![agent.agent_mail_name.clone()],
                subject: m.subject,
                body_md: m.body,
                importance: Importance::Normal,
                ack_required: true,
                ..Default::default()
            };
            message_sent = mb.send_message(self.project(), &msg).is_ok();
        }
        self.emit(
            CoordinatorEvent::new(CoordinatorEventType::WorkAssigned, now)
                .with_agent(agent.pane_id.clone())
                .with_detail("bead_id", bead.id.clone())
                .with_detail("bead_title", bead.title.clone())
                .with_detail("agent_type", agent.agent_type.clone())
                .with_detail("score", wa.score),
        );
        AssignmentResult {
            success: true,
            assignment: Some(wa),
            error: String::new(),
            reservations: reserved,
            message_sent,
        }
    }

    fn conflict_pass(&self) -> Result<Vec<DetectedConflict>, CoordinatorError> {
        let now = self.clock.now();
        let Some(mb) = &self.mailbox else {
            return Ok(Vec::new());
        };
        let found = match ConflictDetector::new(mb.as_ref(), self.project()).detect_conflicts(now) {
            Ok(c) => {
                self.mail_ok(now);
                c
            }
            Err(e) => {
                self.mail_degraded(&e.to_string(), now);
                return Err(CoordinatorError::Mail(e.to_string()));
            }
        };
        let cfg = lock(&self.config).coordinator.clone();
        let (new, gone): (Vec<DetectedConflict>, Vec<DetectedConflict>) = {
            let mut st = lock(&self.state);
            let ids: BTreeSet<String> = found.iter().map(|c| c.conflict.id.clone()).collect();
            let new: Vec<DetectedConflict> = found
                .iter()
                .filter(|c| !st.conflicts.contains_key(&c.conflict.id))
                .cloned()
                .collect();
            let gone: Vec<DetectedConflict> = st
                .conflicts
                .values()
                .filter(|c| !ids.contains(&c.conflict.id))
                .cloned()
                .collect();
            st.conflicts = found
                .iter()
                .map(|c| (c.conflict.id.clone(), c.clone()))
                .collect();
            (new, gone)
        };
        for c in &new {
            let holders: Vec<String> = c
                .conflict
                .holders
                .iter()
                .map(|h| h.agent_name.clone())
                .collect();
            // The requester is the latest to reserve.
            let requester = c
                .conflict
                .holders
                .iter()
                .max_by_key(|h| h.reserved_at)
                .map(|h| h.agent_name.clone())
                .unwrap_or_default();
            self.emit(
                CoordinatorEvent::new(CoordinatorEventType::ConflictDetected, now)
                    .with_detail("conflict_id", c.conflict.id.clone())
                    .with_detail("pattern", c.conflict.pattern.clone())
                    .with_detail("holders", holders)
                    .with_detail("overlap", c.overlap.clone())
                    .with_detail("requested", requester.clone()),
            );
            if cfg.conflict_notify {
                let _ = self.notify_conflict(&c.conflict);
            }
            if cfg.conflict_negotiate {
                let _ = self.negotiate_conflict(&c.conflict, &requester);
            }
        }
        for c in gone {
            self.emit(
                CoordinatorEvent::new(CoordinatorEventType::ConflictResolved, now)
                    .with_detail("conflict_id", c.conflict.id.clone())
                    .with_detail("pattern", c.conflict.pattern.clone()),
            );
        }
        Ok(found)
    }

    fn notify_conflict(&self, conflict: &Conflict) -> Result<(), CoordinatorError> {
        let mb = self
            .mailbox
            .as_ref()
            .ok_or(CoordinatorError::MailUnavailable)?;
        let m = conflict_notice(conflict);
        let msg = OutgoingMessage {
            sender: self.sender(),
            to: conflict
                .holders
                .iter()
                .map(|h| h.agent_name.clone())
                .collect(),
            subject: m.subject,
            body_md: m.body,
            importance: Importance::High,
            ack_required: false,
            ..Default::default()
        };
        mb.send_message(self.project(), &msg)
            .map_err(|e| CoordinatorError::Mail(e.to_string()))?;
        Ok(())
    }

    fn negotiate_conflict(
        &self,
        conflict: &Conflict,
        requester: &str,
    ) -> Result<(), CoordinatorError> {
        let mb = self
            .mailbox
            .as_ref()
            .ok_or(CoordinatorError::MailUnavailable)?;
        let holder = conflict
            .holders
            .iter()
            .filter(|h| h.agent_name != requester)
            .max_by_key(|h| h.priority)
            .ok_or(CoordinatorError::NoOtherHolders)?;
        let m = release_request(conflict, holder, requester);
        let msg = OutgoingMessage {
            sender: self.sender(),
            to: vec![holder.agent_name.clone()],
            subject: m.subject,
            body_md: m.body,
            importance: Importance::High,
            ack_required: true,
            ..Default::default()
        };
        mb.send_message(self.project(), &msg)
            .map_err(|e| CoordinatorError::Mail(e.to_string()))?;
        self.emit(
            CoordinatorEvent::new(
                CoordinatorEventType::ConflictReleaseRequested,
                self.clock.now(),
            )
            .with_detail("conflict_id", conflict.id.clone())
            .with_detail("pattern", conflict.pattern.clone())
            .with_detail("holder", holder.agent_name.clone())
            .with_detail("requested", requester),
        );
        Ok(())
    }

    fn generate_digest(&self) -> DigestSummary {
        let now = self.clock.now();
        let (agents, last_update, problems, quality) = {
            let st = lock(&self.state);
            (
                st.agents.values().cloned().collect::<Vec<_>>(),
                st.last_update,
                st.problems.clone(),
                st.quality.summary(now),
            )
        };
        let agents_reading = match (last_update, problems.is_empty() || !agents.is_empty()) {
            (Some(at), true) => Reading::Ok {
                value: agents,
                at,
                source: "tmux".into(),
            },
            (_, _) => Reading::Degraded {
                source: "tmux".into(),
                error: problems.join("; "),
            },
        };
        let work = match self.issues_now(now) {
            Ok((issues, overlaid)) => {
                let ranked: Vec<String> = lock(&self.state)
                    .last_triage
                    .as_ref()
                    .map(|(_, t)| {
                        t.triage
                            .recommendations
                            .iter()
                            .map(|r| r.id.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                let ready: Vec<String> = if overlaid > 0 {
                    gaffer_core::triage_engine::ready_ids(&issues, now)
                } else {
                    self.work
                        .ready(now)
                        .map(|r| r.into_iter().map(|i| i.id).collect())
                        .unwrap_or_default()
                };
                Reading::Ok {
                    value: work_digest(&issues, &ranked, &ready, now, 5),
                    at: now,
                    source: self.work.name().to_string(),
                }
            }
            Err(e) => Reading::Degraded {
                source: self.work.name().to_string(),
                error: e,
            },
        };
        let conflicts = match &self.mailbox {
            None => Reading::Ok {
                value: Vec::new(),
                at: now,
                source: "no mailbox".into(),
            },
            Some(mb) => {
                match ConflictDetector::new(mb.as_ref(), self.project()).detect_conflicts(now) {
                    Ok(c) => Reading::Ok {
                        value: c.into_iter().map(|d| d.conflict).collect(),
                        at: now,
                        source: "agent mail".into(),
                    },
                    Err(e) => Reading::Degraded {
                        source: "agent mail".into(),
                        error: e.to_string(),
                    },
                }
            }
        };
        let quality = (quality.total_test_runs > 0
            || quality.ubs_available
            || quality.total_agent_errors > 0)
            .then_some(quality);
        generate_digest(&DigestInput {
            session: &self.id.session,
            now,
            agents: agents_reading,
            work,
            conflicts,
            quality,
        })
    }

    fn send_digest(&self) -> Result<DigestSummary, CoordinatorError> {
        let d = self.generate_digest();
        let Some(mb) = &self.mailbox else {
            return Ok(d);
        };
        let importance = match digest_importance(&d) {
            "urgent" => Importance::Urgent,
            "high" => Importance::High,
            _ => Importance::Normal,
        };
        let human = lock(&self.state)
            .human
            .clone()
            .unwrap_or_else(|| lock(&self.config).coordinator.human_agent.clone());
        let msg = OutgoingMessage {
            sender: self.sender(),
            to: vec![human],
            subject: format!("Session Digest: {}", d.session),
            body_md: render_markdown(&d, &self.sender()),
            importance,
            ack_required: false,
            ..Default::default()
        };
        mb.send_message(self.project(), &msg)
            .map_err(|e| CoordinatorError::Mail(e.to_string()))?;
        self.emit(
            CoordinatorEvent::new(CoordinatorEventType::DigestSent, self.clock.now())
                .with_detail("agent_count", d.agent_count)
                .with_detail("active_count", d.active_count)
                .with_detail("alert_count", d.alerts.len()),
        );
        Ok(d)
    }
}
