//! `SessionCoordinator`: the reference API, as a facade over the loop.
//!
//! Every call is one pass of the loop: [`crate::observe`] builds a `Snapshot`,
//! `gaffer_core::cycle::decide` turns it into decisions, [`crate::act`] carries them out and
//! [`crate::report`] hands the events to the consumers. [`crate::scheduler`] runs the passes
//! at their intervals. Shared state sits behind short locks that are never held across
//! adapter calls.

use crate::act::Outcome;
use crate::bus::EventBus;
use crate::follow::RoleCheck;
use crate::ledger::{AssignmentRecord, Ledger, LedgerError};
use crate::observe::{AgentObserver, DeliveryProbe};
use crate::report::{Consumer, LedgerLog, Reporter};
use crate::scheduler::{Lane, Task};
use crate::wake::WakeSource;
use gaffer_core::agent::AgentState;
use gaffer_core::assign::BackoffBook;
use gaffer_core::assignment::{AssignmentResult, AssignmentStrategy, WorkAssignment};
use gaffer_core::clock::Clock;
use gaffer_core::config::GafferConfig;
use gaffer_core::conflict::Conflict;
use gaffer_core::conflicts::DetectedConflict;
use gaffer_core::cycle::{self, Decision, Pass};
use gaffer_core::digest::DigestSummary;
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::mailbox::Mailbox;
use gaffer_core::panes::Panes;
use gaffer_core::quality_monitor::QualityMonitor;
use gaffer_core::time::Timestamp;
use gaffer_core::triage::TriageRecommendation;
use gaffer_core::work_source::IssuesReading;
use gaffer_core::work_source::WorkSource;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

pub use gaffer_core::cycle::overlay_done;

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
    /// An agent could not be restarted.
    #[error("restart: {0}")]
    Restart(String),
    /// A human's control action was refused (see `gaffer_core::control`).
    #[error(transparent)]
    Control(#[from] gaffer_core::control::ControlError),
    /// The panes could not be read or typed into.
    #[error("panes: {0}")]
    Panes(String),
    /// An assignment by hand failed (claim, reservation or delivery).
    #[error("assignment failed: {0}")]
    Assign(String),
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
    pub issues: Arc<dyn Fn(Timestamp) -> Result<IssuesReading, String> + Send + Sync>,
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

/// What the runtime remembers between passes.
#[derive(Default)]
pub(crate) struct State {
    pub(crate) agents: BTreeMap<String, AgentState>,
    /// Agents whose panes vanished (for the digest).
    pub(crate) gone: BTreeMap<String, gaffer_core::cycle::GoneAgent>,
    pub(crate) last_update: Option<Timestamp>,
    pub(crate) problems: Vec<String>,
    pub(crate) conflicts: BTreeMap<String, DetectedConflict>,
    pub(crate) mail_degraded: Option<String>,
    pub(crate) work_degraded: Option<String>,
    /// Degradations restored from the ledger at start and not yet announced by this process:
    /// the first failure seen announces them again (this process's consumers were not told).
    pub(crate) restored: BTreeSet<gaffer_core::cycle::Source>,
    /// Why tmux (server or session) is lost, while it is.
    pub(crate) tmux_lost: Option<String>,
    /// Since when tmux is lost and when held assignments are handed back.
    pub(crate) tmux_loss: Option<gaffer_core::cycle::TmuxLoss>,
    /// `[[hosts]]` hosts unreachable at the last pass.
    pub(crate) hosts_down: BTreeMap<String, Timestamp>,
    /// Hosts that answered again within the hour.
    pub(crate) hosts_back: BTreeMap<String, gaffer_core::cycle::HostOutage>,
    /// Hosts whose spool of reports cannot be drained (set from outside: [`EventSink`]).
    pub(crate) spool_troubles: BTreeMap<String, gaffer_core::cycle::SpoolTrouble>,
    /// Recommendation ids of the last triage, in rank order (for digests).
    pub(crate) last_triage: Vec<String>,
    pub(crate) backoff: BackoffBook,
    pub(crate) quality: QualityMonitor,
    /// Agent Mail names registered for agent panes.
    pub(crate) names: BTreeMap<String, String>,
    /// Last test-run and scan rows taken into the quality monitor.
    pub(crate) quality_cursor: (i64, i64),
    /// Active assignments seen, to notice those ended outside this process (`gaffer done`,
    /// `gaffer refuse`).
    pub(crate) tracked: BTreeSet<i64>,
    /// The coordinator's own Agent Mail name, as the mailbox registered it.
    pub(crate) sender: Option<String>,
    /// The digest recipient's Agent Mail name, as the mailbox registered it.
    pub(crate) human: Option<String>,
    /// When each rate-limited agent's limit ends.
    pub(crate) limit_until: BTreeMap<String, Timestamp>,
    /// Beads done in the ledger that the work source last listed open.
    pub(crate) unsynced_done: Vec<String>,
    /// Beads the work source answered a close for (closed, or already closed): not closed
    /// again when its file still lists them open (`br` stops rewriting a file it cannot read).
    pub(crate) closed_in_source: BTreeSet<String>,
    /// Lines of the beads file last reported unreadable.
    pub(crate) beads_skipped: BTreeSet<String>,
    /// Beads the work source reported held by someone else: taken for every agent.
    pub(crate) held: gaffer_core::claims::HeldBeads,
    /// Back-offs of claim undos that failed.
    pub(crate) undo: gaffer_core::claims::UndoBook,
    /// The last compact command sent to each idle agent, by pane id; kept in the ledger too
    /// and loaded at start, so a restarted coordinator keeps the back-off.
    pub(crate) compactions: BTreeMap<String, gaffer_core::cycle::Compaction>,
    /// Panes whose last compaction the ledger could not be written with (retried each poll).
    pub(crate) unsaved_compactions: BTreeSet<String>,
}

/// The runtime's parts, shared by the facade and the scheduler's lanes.
pub(crate) struct Shared {
    pub(crate) id: Identity,
    pub(crate) config: Mutex<GafferConfig>,
    pub(crate) state: Mutex<State>,
    pub(crate) observer: Mutex<Box<dyn AgentObserver>>,
    pub(crate) ledger: Arc<Mutex<Ledger>>,
    pub(crate) probe: Arc<dyn DeliveryProbe>,
    pub(crate) panes: Arc<dyn Panes>,
    pub(crate) mailbox: Option<Arc<dyn Mailbox>>,
    pub(crate) work: Arc<dyn WorkSource + Send + Sync>,
    pub(crate) issues: Arc<dyn Fn(Timestamp) -> Result<IssuesReading, String> + Send + Sync>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) bus: Arc<EventBus>,
    pub(crate) reporter: Reporter,
    /// The ledger's event log, checked each poll for a full disk.
    pub(crate) ledger_log: Arc<LedgerLog>,
    pub(crate) running: AtomicBool,
    /// A poll found an agent ready for work: the assign pass runs soon, not a poll interval
    /// later.
    pub(crate) assign_wanted: AtomicBool,
    /// The last poll left a state change waiting for its confirming observation: the next
    /// pass runs soon, not when the screen next changes or a poll interval later.
    pub(crate) confirm_wanted: AtomicBool,
    pub(crate) assign_lock: Mutex<()>,
    /// Returns freed heap memory to the system after polls (`memory`).
    pub(crate) trimmer: crate::memory::Trimmer,
    /// Extra sources that wake the observation lane early (the hook signal socket).
    pub(crate) wakes: Mutex<Vec<Arc<dyn WakeSource>>>,
    /// Who leads instead of this coordinator, asked before each poll ([`crate::follow`]).
    pub(crate) role: Mutex<Option<RoleCheck>>,
    /// Another process's coordinator decides: this one only observes.
    pub(crate) following: AtomicBool,
    /// That coordinator, as its lease says.
    pub(crate) leader: Mutex<Option<String>>,
}

/// Reports events into a coordinator from outside its loop ([`SessionCoordinator::event_sink`]).
#[derive(Clone)]
pub struct EventSink {
    shared: std::sync::Weak<Shared>,
}

impl EventSink {
    /// Reports `event` to the coordinator's consumers (ledger log, bus, the rest).
    pub fn report(&self, event: &CoordinatorEvent) {
        if let Some(shared) = self.shared.upgrade() {
            shared.reporter.report(event);
        }
    }

    /// Says whether `host`'s spool of reports cannot be drained (`Some`: since when and why),
    /// for the digest; `None` once a drain works.
    pub fn spool_trouble(&self, host: &str, trouble: Option<gaffer_core::cycle::SpoolTrouble>) {
        if let Some(shared) = self.shared.upgrade() {
            let mut st = lock(&shared.state);
            match trouble {
                Some(t) => {
                    st.spool_troubles.insert(host.to_string(), t);
                }
                None => {
                    st.spool_troubles.remove(host);
                }
            }
        }
    }
}

/// Coordinates the agents of one tmux session.
pub struct SessionCoordinator {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
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
        state.compactions = ports.ledger.compactions().unwrap_or_default();
        if let Ok(q) = ports.ledger.quality_monitor(false) {
            state.quality = q;
        }
        // A source the ledger last saw degraded (a coordinator killed before it recovered)
        // stays degraded until this one reads it: its recovery is then reported.
        let still_degraded = |down: CoordinatorEventType, up: CoordinatorEventType| {
            ports
                .ledger
                .last_event_of(&[down.clone(), up])
                .ok()
                .flatten()
                .filter(|e| e.event_type == down)
                .map(|e| {
                    e.details
                        .get("error")
                        .and_then(|v| v.as_str())
                        .unwrap_or("degraded before a restart")
                        .to_string()
                })
        };
        state.mail_degraded = still_degraded(
            CoordinatorEventType::MailDegraded,
            CoordinatorEventType::MailRecovered,
        );
        state.work_degraded = still_degraded(
            CoordinatorEventType::WorkSourceDegraded,
            CoordinatorEventType::WorkSourceRecovered,
        );
        if state.mail_degraded.is_some() {
            state.restored.insert(gaffer_core::cycle::Source::Mail);
        }
        if state.work_degraded.is_some() {
            state.restored.insert(gaffer_core::cycle::Source::Work);
        }
        let last_row = |rows: Option<i64>| rows.unwrap_or(0);
        state.quality_cursor = (
            last_row(
                ports
                    .ledger
                    .test_runs_since(0)
                    .ok()
                    .and_then(|r| r.last().map(|x| x.0)),
            ),
            last_row(
                ports
                    .ledger
                    .scans_since(0)
                    .ok()
                    .and_then(|r| r.last().map(|x| x.0)),
            ),
        );
        let ledger = Arc::new(Mutex::new(ports.ledger));
        let bus = Arc::new(EventBus::new());
        let reporter = Reporter::new();
        let ledger_log = Arc::new(
            LedgerLog::with_bus(Arc::clone(&ledger), Arc::clone(&bus))
                .with_clock(Arc::clone(&ports.clock)),
        );
        reporter.add(Arc::clone(&ledger_log) as Arc<dyn Consumer>);
        reporter.add_local(Arc::clone(&bus) as Arc<dyn Consumer>);
        SessionCoordinator {
            shared: Arc::new(Shared {
                id,
                config: Mutex::new(config),
                state: Mutex::new(state),
                observer: Mutex::new(ports.observer),
                ledger,
                probe: ports.probe,
                panes: ports.panes,
                mailbox: ports.mailbox,
                work: ports.work,
                issues: ports.issues,
                clock: ports.clock,
                bus,
                reporter,
                ledger_log,
                running: AtomicBool::new(false),
                assign_wanted: AtomicBool::new(false),
                confirm_wanted: AtomicBool::new(false),
                assign_lock: Mutex::new(()),
                trimmer: Default::default(),
                wakes: Mutex::new(Vec::new()),
                role: Mutex::new(None),
                following: AtomicBool::new(false),
                leader: Mutex::new(None),
            }),
            threads: Vec::new(),
        }
    }

    /// Replaces the configuration (reference `WithConfig`).
    pub fn with_config(self, config: GafferConfig) -> Self {
        lock(&self.shared.state).backoff.cap = config.assign.max_backoff;
        *lock(&self.shared.config) = config;
        self
    }

    /// Restarts the agent of a pane by hand (`gaffer restart`), whatever its state: its live
    /// assignments are handed back (or kept for re-delivery, per `exited_work`), it is
    /// relaunched with its own launch command, and its crash-loop count starts again.
    pub fn restart_agent(&self, pane_id: &str) -> Result<(), CoordinatorError> {
        let snap = self.shared.restart_snapshot(pane_id);
        let policy = self.shared.policy();
        self.shared
            .execute(cycle::decide(&snap, &policy))
            .into_iter()
            .find_map(|o| match o {
                Outcome::Restarted(r) => Some(r),
                _ => None,
            })
            .unwrap_or_else(|| Err(CoordinatorError::AgentNotFound(pane_id.to_string())))
    }

    /// Adds a source that wakes the observation lane early, besides pane activity (e.g. the
    /// hook signal socket). Takes effect at the next `start`.
    pub fn add_wake_source(&self, source: Arc<dyn WakeSource>) {
        lock(&self.shared.wakes).push(source);
    }

    /// Follows the coordinator of another process while `check` names one (see
    /// [`crate::follow`]): asked at `start` and before every poll. Set it before `start`.
    pub fn follow_when(&self, check: RoleCheck) {
        *lock(&self.shared.role) = Some(check);
    }

    /// The coordinator this one follows (as its lease names it), or `None` when this one
    /// decides.
    pub fn following(&self) -> Option<String> {
        if self.shared.is_following() {
            lock(&self.shared.leader).clone()
        } else {
            None
        }
    }

    /// The configuration in effect.
    pub fn config(&self) -> GafferConfig {
        lock(&self.shared.config).clone()
    }

    /// The event bus; `events().subscribe()` gives a stream.
    pub fn events(&self) -> &EventBus {
        &self.shared.bus
    }

    /// Adds a consumer of every event (after the ledger's log and the bus).
    pub fn add_consumer(&self, consumer: Arc<dyn Consumer>) {
        self.shared.reporter.add(consumer);
    }

    /// A handle that reports events from other threads (a consumer's own faults, such as a
    /// notification channel that is down) to every consumer, as the loop does. It holds the
    /// coordinator weakly: once the coordinator is dropped, reports go nowhere.
    pub fn event_sink(&self) -> EventSink {
        EventSink {
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Starts: clamps the intervals, updates once synchronously, then starts the scheduler
    /// (poll always; assign when `auto_assign`; conflicts; digest when `send_digests`).
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
        // A follower leaves the start-up work (the project in Agent Mail, half-done offers,
        // restored sources) to the leader; it does it when it takes over.
        if !self.shared.refresh_role() {
            self.shared.ensure_project();
            self.shared.recover_offers();
            self.shared.announce_restored();
        }
        self.shared.update_state();
        self.shared.announce_start();
        let cfg = self.config();
        let poll = cfg.coordinator.poll_interval;
        // Observation has its own lane, so a slow delivery never delays it.
        let observe = Lane::new("observe").task(
            Task::new("poll", poll, true, |s: &Shared| {
                s.update_state();
                s.trimmer.maybe_trim();
            })
            .when(|s| s.confirm_wanted.load(Ordering::SeqCst)),
        );
        let mut act = Lane::new("act");
        if cfg.coordinator.auto_assign {
            act = act.task(
                Task::new("assign", poll, false, |s: &Shared| {
                    s.assign_wanted.store(false, Ordering::SeqCst);
                    if s.is_following() {
                        return;
                    }
                    let _ = s.assign_round(None, false);
                })
                .when(|s| s.assign_wanted.load(Ordering::SeqCst)),
            );
        }
        act = act.task(Task::new(
            "claims",
            poll.max(Duration::from_secs(2)),
            false,
            |s: &Shared| s.retry_claim_undos(),
        ));
        act = act.task(Task::new(
            "conflicts",
            poll.max(Duration::from_secs(1)),
            false,
            |s: &Shared| {
                let _ = s.conflict_pass();
            },
        ));
        if cfg.coordinator.send_digests {
            act = act.task(Task::new(
                "digest",
                cfg.coordinator.digest_interval,
                false,
                |s: &Shared| {
                    if s.is_following() {
                        return;
                    }
                    if let Err(e) = s.send_digest() {
                        s.emit(
                            CoordinatorEvent::new(
                                CoordinatorEventType::DigestFailed,
                                s.clock.now(),
                            )
                            .with_detail("error", e.to_string()),
                        );
                    }
                },
            ));
        }
        for lane in [observe, act] {
            if let Some(h) = lane.spawn(Arc::clone(&self.shared)) {
                self.threads.push(h);
            }
        }
        Ok(notices)
    }

    /// Stops the scheduler and waits for it. Idempotent.
    pub fn stop(&mut self) {
        self.shared.running.store(false, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    /// Observes once now (what the scheduler does each poll).
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
        let policy = self.shared.policy();
        let now = self.shared.clock.now();
        let st = lock(&self.shared.state);
        cycle::agents::idle(st.agents.values(), &policy, now)
            .into_iter()
            .cloned()
            .collect()
    }

    /// The conflicts found by the last conflict pass (no new pass is run).
    pub fn known_conflicts(&self) -> Vec<DetectedConflict> {
        lock(&self.shared.state)
            .conflicts
            .values()
            .cloned()
            .collect()
    }

    /// Observation problems of the last update (session gone, …).
    pub fn problems(&self) -> Vec<String> {
        lock(&self.shared.state).problems.clone()
    }

    /// Work that could be assigned: claimable recommendations without a live assignment.
    pub fn get_assignable_work(&self) -> Result<Vec<TriageRecommendation>, CoordinatorError> {
        let policy = self.shared.policy();
        let Some(snap) = self.shared.assign_snapshot(
            Pass::Assign {
                strategy: None,
                dry_run: true,
            },
            &policy,
            false,
        ) else {
            return Ok(Vec::new());
        };
        let alerts: Vec<Decision> = snap
            .work
            .iter()
            .filter_map(|w| {
                cycle::source_alert(
                    cycle::Source::Work,
                    snap.health.work.as_deref(),
                    w.as_ref().map(|_| ()).map_err(String::as_str),
                )
            })
            .collect();
        self.shared.execute(alerts);
        match &snap.work {
            Some(Ok(t)) => Ok(cycle::plan::assignable(
                &t.triage.recommendations,
                &snap.ledger.taken,
            )
            .into_iter()
            .cloned()
            .collect()),
            Some(Err(e)) => Err(CoordinatorError::WorkSource(e.clone())),
            None => Ok(Vec::new()),
        }
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
        if self.get_agent_by_pane_id(pane_id).is_none() {
            return Err(CoordinatorError::AgentNotFound(pane_id.to_string()));
        }
        let policy = self.shared.policy();
        let pass = Pass::Suggest {
            pane_id: pane_id.to_string(),
        };
        let Some(snap) = self.shared.assign_snapshot(pass, &policy, false) else {
            return Ok(None);
        };
        let outcomes = self.shared.execute(cycle::decide(&snap, &policy));
        if let Some(Err(e)) = &snap.work {
            return Err(CoordinatorError::WorkSource(e.clone()));
        }
        Ok(outcomes.into_iter().find_map(|o| match o {
            Outcome::Proposed(wa) => Some(wa),
            _ => None,
        }))
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
        let holder = cycle::conflicts::release_holder(conflict, requester)
            .ok_or(CoordinatorError::NoOtherHolders)?;
        self.shared.request_release(conflict, holder, requester)
    }

    /// A digest of the session now (reference `GenerateDigest`).
    pub fn generate_digest(&self) -> DigestSummary {
        cycle::digest::build(&self.shared.digest_snapshot())
    }

    /// Sends a digest to the human (reference `SendDigest`).
    pub fn send_digest(&self) -> Result<DigestSummary, CoordinatorError> {
        self.shared.send_digest()
    }

    /// One pass of the claims task: claims of ended assignments whose undo failed are tried
    /// again when their back-off is over (the running coordinator does this every poll).
    pub fn undo_left_claims(&self) {
        self.shared.retry_claim_undos();
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

impl SessionCoordinator {
    /// The runtime's parts (for the other facades of this crate, e.g. `control`).
    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }
}

impl Drop for SessionCoordinator {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The passes, each observe → decide → act.
impl Shared {
    pub(crate) fn project(&self) -> &str {
        &self.id.project_key
    }

    /// Degradations restored from the ledger are announced again to this process's consumers
    /// (they were told by the coordinator before, which is gone); their recovery follows as
    /// usual.
    /// A follower becoming the leader: the start-up work it left to the old leader.
    pub(crate) fn take_over(&self) {
        self.ensure_project();
        self.recover_offers();
    }

    fn announce_restored(&self) {
        let restored: Vec<(gaffer_core::cycle::Source, String)> = {
            let mut st = lock(&self.state);
            std::mem::take(&mut st.restored)
                .into_iter()
                .filter_map(|source| {
                    let error = match source {
                        gaffer_core::cycle::Source::Mail => st.mail_degraded.clone(),
                        gaffer_core::cycle::Source::Work => st.work_degraded.clone(),
                        gaffer_core::cycle::Source::Tmux => None,
                    };
                    Some((source, error?))
                })
                .collect()
        };
        let now = self.clock.now();
        for (source, error) in restored {
            let event = self.degraded_event(source, &error, now);
            self.emit(event.with_detail("before_restart", true));
        }
    }

    /// `coordinator_started` with the status of every agent pane the first poll saw: the
    /// ledger's record of the panes' states after a restart (the events report changes only,
    /// and the last ones logged were the previous coordinator's).
    fn announce_start(&self) {
        let agents: serde_json::Map<String, serde_json::Value> = lock(&self.state)
            .agents
            .iter()
            .map(|(pane, a)| (pane.clone(), serde_json::Value::from(a.status.as_str())))
            .collect();
        self.emit(
            CoordinatorEvent::new(CoordinatorEventType::CoordinatorStarted, self.clock.now())
                .with_detail("session", self.id.session.as_str())
                .with_detail("agents", serde_json::Value::Object(agents)),
        );
    }

    /// A poll: observe, merge, review the assignments.
    pub(crate) fn update_state(&self) {
        self.refresh_role();
        if !self.is_following() {
            self.ledger_log.check(self.clock.now());
        }
        if !self.is_following() {
            self.save_unsaved_compactions();
        }
        let snap = self.poll_snapshot();
        let policy = self.policy();
        // a change seen once is confirmed by the next observation (the tracker's hysteresis):
        // when the screen has gone quiet nothing else would wake the lane for it
        let pending = snap
            .observed
            .as_ref()
            .is_some_and(|o| o.agents.iter().any(|a| a.observation.pending.is_some()));
        self.confirm_wanted.store(pending, Ordering::SeqCst);
        self.execute(self.loop_decisions(cycle::decide(&snap, &policy)));
        if lock(&self.config).coordinator.auto_assign && !self.is_following() {
            let now = self.clock.now();
            let idle: Vec<String> = {
                let st = lock(&self.state);
                cycle::agents::idle(st.agents.values(), &policy, now)
                    .into_iter()
                    .map(|a| a.pane_id.clone())
                    .collect()
            };
            // Agents a human paused do not call for a round.
            if !idle.is_empty() {
                let pauses = lock(&self.ledger).pauses().unwrap_or_default();
                if idle.iter().any(|p| !pauses.is_paused(p)) {
                    self.assign_wanted.store(true, Ordering::SeqCst);
                }
            }
        }
    }

    /// After a crash, offers that never reached `delivered` are undone (no double assignment:
    /// the old entry is closed before any new one can be made).
    pub(crate) fn recover_offers(&self) {
        let snap = self.start_snapshot();
        let policy = self.policy();
        self.execute(cycle::decide(&snap, &policy));
    }

    pub(crate) fn assign_round(
        &self,
        strategy: Option<AssignmentStrategy>,
        dry_run: bool,
    ) -> Result<Vec<AssignmentResult>, CoordinatorError> {
        let _round = lock(&self.assign_lock);
        let policy = self.policy();
        let pass = Pass::Assign { strategy, dry_run };
        let Some(snap) = self.assign_snapshot(pass, &policy, true) else {
            return Ok(Vec::new());
        };
        let outcomes = self.execute(cycle::decide(&snap, &policy));
        if let Some(Err(e)) = &snap.work {
            return Err(CoordinatorError::WorkSource(e.clone()));
        }
        Ok(outcomes
            .into_iter()
            .filter_map(|o| match o {
                Outcome::Assigned(r) => Some(r),
                Outcome::Proposed(wa) => Some(AssignmentResult {
                    success: true,
                    assignment: Some(wa),
                    error: String::new(),
                    reservations: Vec::new(),
                    message_sent: false,
                }),
                _ => None,
            })
            .collect())
    }

    pub(crate) fn conflict_pass(&self) -> Result<Vec<DetectedConflict>, CoordinatorError> {
        let snap = self.conflicts_snapshot();
        let policy = self.policy();
        let outcomes = self.execute(self.loop_decisions(cycle::decide(&snap, &policy)));
        match &snap.reservations {
            None => Ok(Vec::new()),
            Some(Err(e)) => Err(CoordinatorError::Mail(e.clone())),
            Some(Ok(_)) => Ok(outcomes
                .into_iter()
                .find_map(|o| match o {
                    Outcome::Conflicts(c) => Some(c),
                    _ => None,
                })
                .unwrap_or_default()),
        }
    }

    pub(crate) fn send_digest(&self) -> Result<DigestSummary, CoordinatorError> {
        // A digest counts every test run and scan recorded so far, not only those the last
        // poll took in.
        self.take_quality_records();
        let snap = self.digest_snapshot();
        let policy = self.policy();
        let decisions = cycle::decide(&snap, &policy);
        if decisions.is_empty() {
            return Ok(cycle::digest::build(&snap));
        }
        let mut result = None;
        for o in self.execute(decisions) {
            if let Outcome::Digest(d, sent) = o {
                result = Some(sent.map(|()| *d));
            }
        }
        result.unwrap_or_else(|| Ok(cycle::digest::build(&snap)))
    }

    /// Ensures the project exists in Agent Mail and the coordinator is registered in it, so
    /// that its messages have a known sender (called at start).
    pub(crate) fn ensure_project(&self) {
        let Some(mb) = &self.mailbox else { return };
        if let Err(e) = mb.ensure_project(self.project()) {
            self.mail_degraded(&e.to_string());
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
            Err(e) => self.mail_degraded(&e.to_string()),
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
            Err(e) => self.mail_degraded(&e.to_string()),
        }
    }

    /// The name the coordinator sends as.
    pub(crate) fn sender(&self) -> String {
        lock(&self.state)
            .sender
            .clone()
            .unwrap_or_else(|| self.id.agent_name.clone())
    }
}
