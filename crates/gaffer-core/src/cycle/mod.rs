//! The loop as types: the runtime's observe phase gathers a [`Snapshot`], [`decide`] turns it
//! into [`Decision`]s, and the runtime's act phase carries each one out and reports it.
//!
//! Everything here is pure: no IO, no clock reads (time is [`Snapshot::now`]) and no
//! randomness. `decide` is composed of one function per concern, each usable and tested on
//! its own with plain values:
//!
//! | concern | module |
//! |---|---|
//! | the observation merge (screen → tracked agent, rate-limit resets, state-change events) | [`agents`] |
//! | the end of assignments: done, stalled, gone, reported by the agent | [`review`] |
//! | which agents and beads take part, `PlanOptions`, the plan, fail-closed reservations | [`plan`] |
//! | conflicts: detection by real overlap, the new/gone diff, notices, release requests | [`conflicts`] |
//! | the digest, its recipient and importance; source alerts | [`digest`] |
//! | restarting exited agents (back-off, crash loops), taking back stuck work | [`restart`] |
//! | compacting idle agents above the context limit (back-off), noticing it worked | [`compact`] |

pub mod agents;
pub mod compact;
pub mod conflicts;
pub mod digest;
pub mod plan;
pub mod restart;
pub mod review;

use crate::agent::{AgentState, HealthCheck};
use crate::assign::BackoffBook;
use crate::assignment::{AssignmentStrategy, ScoreConfig, WorkAssignment};
use crate::beads::Issue;
use crate::config::{ExitedWork, GafferConfig};
use crate::conflict::{Conflict, Holder};
use crate::conflicts::DetectedConflict;
use crate::detect::Observation;
use crate::digest::DigestSummary;
use crate::event::CoordinatorEvent;
use crate::mailbox::{Importance, Reservation};
use crate::panes::PaneInfo;
use crate::quality::QualitySummary;
use crate::status::AgentStatus;
use crate::time::{self, Timestamp};
use crate::triage::{TriageRecommendation, TriageResponse};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

/// One agent pane as observed: the pane, the status with its verdict and evidence, activity
/// and health. This is the one representation of an observed agent, from the screen (the
/// monitor builds it) to the coordinator (which merges it into its [`AgentState`]).
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

impl AgentReport {
    /// Pane id.
    pub fn pane_id(&self) -> &str {
        &self.pane.pane_id
    }
    /// Status after hysteresis and STALLED.
    pub fn status(&self) -> AgentStatus {
        self.observation.status
    }
    /// Percent of context used (0 when unknown).
    pub fn context_usage(&self) -> f64 {
        self.observation.verdict.context_usage.unwrap_or(0.0)
    }
    /// When a rate limit resets, if the screen shows it.
    pub fn rate_limit_reset(&self) -> Option<Timestamp> {
        self.observation.verdict.rate_limit_reset
    }
}

/// One observation of every agent pane.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentsObservation {
    /// The agents.
    pub agents: Vec<AgentReport>,
    /// Problems met (session gone, control client died, …).
    pub problems: Vec<String>,
    /// Why tmux could not be observed at all (server or session gone, tmux not answering);
    /// `None` when it answered.
    pub tmux_lost: Option<String>,
    /// `[[hosts]]` hosts that could not be observed, with the error: host name → error.
    pub unreachable_hosts: BTreeMap<String, String>,
}

/// An agent whose pane vanished while tmux answered, kept for the digest for
/// [`GONE_KEPT_SECS`] or until a pane with its id is seen again.
#[derive(Debug, Clone, PartialEq)]
pub struct GoneAgent {
    /// Its agent type.
    pub agent_type: String,
    /// Its pane index.
    pub pane_index: i64,
    /// Its last status.
    pub status: AgentStatus,
    /// When its pane was found gone.
    pub since: Timestamp,
    /// Its readable name (see [`AgentState::display_name`]).
    pub name: String,
    /// Why it is gone.
    pub reason: String,
}

/// tmux lost: since when, and when the held assignments are handed back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TmuxLoss {
    /// The first observation that found tmux lost.
    pub since: Timestamp,
    /// When the grace ends: active assignments are held until then.
    pub hand_back_at: Timestamp,
}

/// A `[[hosts]]` host that was unreachable and answers again: when it went down and came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostOutage {
    /// When it was found unreachable.
    pub since: Timestamp,
    /// When it answered again.
    pub back_at: Timestamp,
}

/// How long a host that came back stays in the digest, in seconds.
pub const HOST_BACK_KEPT_SECS: i64 = 3600;

/// A host's spool of reports (its agents' `gaffer done`, … made while the coordinator was not
/// reachable) that cannot be drained: since when, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolTrouble {
    /// The first failed drain of this run of failures.
    pub since: Timestamp,
    /// The last error.
    pub error: String,
}

/// The status reason of an agent held while tmux is lost.
pub const TMUX_LOST: &str = "tmux_lost";

/// How long a gone agent stays in the digest's alerts.
pub const GONE_KEPT_SECS: i64 = 3600;

/// What a pass of the loop is for; the scheduler runs each at its interval, the API on demand.
#[derive(Debug, Clone, PartialEq)]
pub enum Pass {
    /// Start-up: offers interrupted by a crash are undone.
    Start,
    /// A fresh observation: merge it, review the active assignments.
    Poll,
    /// An assignment round (`dry_run` plans without acting).
    Assign {
        /// The strategy, when not the configured one.
        strategy: Option<AssignmentStrategy>,
        /// Plan only.
        dry_run: bool,
    },
    /// The best work for one agent, as if it were waiting; nothing is assigned.
    Suggest {
        /// The agent's pane.
        pane_id: String,
    },
    /// Conflicts among the active reservations.
    Conflicts,
    /// A digest for the human.
    Digest,
    /// Restart one agent by hand (`gaffer restart <pane>`), whatever its state.
    Restart {
        /// The agent's pane.
        pane_id: String,
    },
}

/// An assignment's stage while it is active.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Written to the ledger, not delivered yet.
    Offered,
    /// The prompt was taken.
    Delivered,
    /// The agent was seen busy since.
    Working,
}

/// An active assignment, as the ledger holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAssignment {
    /// Ledger id.
    pub id: i64,
    /// The bead.
    pub bead_id: String,
    /// The agent's pane.
    pub pane_id: String,
    /// The agent's Agent Mail name (empty when it had none).
    pub agent_name: String,
    /// Its stage.
    pub stage: Stage,
    /// When the ledger entry last changed.
    pub updated_at: Timestamp,
    /// Whether the bead was claimed in the work source.
    pub claimed: bool,
    /// Patterns reserved for it.
    pub reserved: Vec<String>,
}

impl ActiveAssignment {
    /// The name the agent holds reservations and claims under.
    pub fn holder(&self) -> &str {
        if self.agent_name.is_empty() {
            &self.pane_id
        } else {
            &self.agent_name
        }
    }
}

/// How an assignment ended outside this process (`gaffer done`, `gaffer refuse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportedEnd {
    /// The agent reported the bead done.
    Done,
    /// The agent refused the bead.
    Refused,
    /// Any other end (failed: this process reported it already).
    Other,
}

/// An assignment this process tracked that is no longer active in the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct EndedAssignment {
    /// The assignment as it was last tracked, with its final ledger values.
    pub assignment: ActiveAssignment,
    /// How it ended.
    pub end: ReportedEnd,
    /// The state's name in the ledger (`done`, `refused`, …).
    pub state: String,
    /// The reason recorded with it.
    pub reason: String,
    /// When it ended.
    pub at: Timestamp,
}

/// The part of the ledger a pass needs.
#[derive(Debug, Clone, Default)]
pub struct LedgerView {
    /// Active assignments, oldest first.
    pub active: Vec<ActiveAssignment>,
    /// Tracked assignments that ended outside this process since the last pass.
    pub ended: Vec<EndedAssignment>,
    /// Beads that cannot be offered: an active or done assignment holds them.
    pub taken: BTreeSet<String>,
    /// Agent–bead back-offs.
    pub backoff: BackoffBook,
    /// Restarts by pane id.
    pub restarts: BTreeMap<String, RestartHistory>,
    /// Agents a human paused: assignment rounds give them nothing, and they are not compacted.
    pub paused: crate::control::Pauses,
    /// The last compaction sent to each agent, by pane id.
    pub compactions: BTreeMap<String, Compaction>,
}

/// A compact command sent to an idle agent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Compaction {
    /// When it was sent.
    pub at: Timestamp,
    /// Percent of context used when it was sent.
    pub context_before: f64,
    /// Whether its context was seen going down since (`agent_compacted` published).
    pub done: bool,
}

/// The restarts of one agent pane, as the ledger holds them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RestartHistory {
    /// Automatic restarts since the last restart by hand, oldest first.
    pub restarts: Vec<Timestamp>,
    /// The last restart of any kind (automatic or by hand).
    pub last: Option<Timestamp>,
    /// Restarting stopped after a crash loop (alerted once); a restart by hand clears it.
    pub halted: bool,
}

/// A source whose readings can fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    /// Agent Mail.
    Mail,
    /// The work source (its name is in [`Snapshot::work_source`]).
    Work,
    /// tmux (the server and the session): the agents' panes.
    Tmux,
}

/// Sources known degraded before this pass, with the error.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SourceHealth {
    /// Agent Mail.
    pub mail: Option<String>,
    /// The work source.
    pub work: Option<String>,
    /// tmux (server or session lost).
    pub tmux: Option<String>,
}

/// Quality as assignment and digests use it.
#[derive(Debug, Clone, Default)]
pub struct QualityView {
    /// Agent quality scores (0–100) by pane id.
    pub agent_scores: BTreeMap<String, f64>,
    /// The session's summary now (digest passes).
    pub summary: Option<QualitySummary>,
}

/// Readings for a digest.
#[derive(Debug, Clone)]
pub struct DigestReadings {
    /// The issues (ledger-done beads shown closed), or why they could not be read.
    pub issues: Result<Vec<Issue>, String>,
    /// Recommendation ids in rank order (last triage).
    pub ranked: Vec<String>,
    /// Ready issue ids.
    pub ready: Vec<String>,
}

/// Everything one pass decides from. Readings a pass does not need are `None`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// The moment of the pass.
    pub now: Timestamp,
    /// What the pass is for.
    pub pass: Pass,
    /// tmux session.
    pub session: String,
    /// Agents as tracked before this pass, by pane id.
    pub agents: BTreeMap<String, AgentState>,
    /// Agents whose panes vanished, by pane id.
    pub gone: BTreeMap<String, GoneAgent>,
    /// tmux lost as tracked before this pass.
    pub tmux_loss: Option<TmuxLoss>,
    /// `[[hosts]]` hosts found unreachable by the last pass, with when each went down.
    pub hosts_down: BTreeMap<String, Timestamp>,
    /// Hosts that answered again within the last hour ([`HOST_BACK_KEPT_SECS`]).
    pub hosts_back: BTreeMap<String, HostOutage>,
    /// Hosts whose spool of reports cannot be drained.
    pub spool_troubles: BTreeMap<String, SpoolTrouble>,
    /// When the agents were last observed, and the problems met then.
    pub last_update: Option<Timestamp>,
    /// Problems of the last observation.
    pub problems: Vec<String>,
    /// A fresh observation (poll passes).
    pub observed: Option<AgentsObservation>,
    /// Agent Mail names by pane id.
    pub names: BTreeMap<String, String>,
    /// When each rate-limited agent's limit ends (the first reading of the current limit).
    pub rate_limits: BTreeMap<String, Timestamp>,
    /// Ready work with its triage, or why it could not be read.
    pub work: Option<Result<TriageResponse, String>>,
    /// The work source's name.
    pub work_source: String,
    /// Beads closed in the work source (or done in the ledger); `None` when unreadable or
    /// not needed.
    pub closed: Option<BTreeSet<String>>,
    /// Beads done in the ledger that the work source still lists open (their close failed:
    /// the tool was down, the disk full); the loop closes them.
    pub unsynced_done: Vec<String>,
    /// Active reservations, or why they could not be read; `None` without a mailbox or when
    /// not needed.
    pub reservations: Option<Result<Vec<Reservation>, String>>,
    /// Whether a mailbox is configured.
    pub has_mailbox: bool,
    /// Conflicts known before this pass, by id.
    pub known_conflicts: BTreeMap<String, DetectedConflict>,
    /// Quality.
    pub quality: QualityView,
    /// The ledger.
    pub ledger: LedgerView,
    /// Sources degraded before this pass.
    pub health: SourceHealth,
    /// Whether the work source's tool failed, as checked this pass (poll passes): a failure
    /// raises the alert even while no agent is idle; only an assignment round, which reads
    /// the triage too, clears it.
    pub work_tool: Option<Result<(), String>>,
    /// Digest readings (digest passes).
    pub digest: Option<DigestReadings>,
    /// The digest recipient's Agent Mail name (as granted), when known.
    pub human: Option<String>,
}

impl Snapshot {
    /// An empty snapshot of `pass` at `now`: no agents, no readings.
    pub fn new(pass: Pass, now: Timestamp) -> Snapshot {
        Snapshot {
            now,
            pass,
            session: String::new(),
            agents: BTreeMap::new(),
            gone: BTreeMap::new(),
            tmux_loss: None,
            hosts_down: BTreeMap::new(),
            hosts_back: BTreeMap::new(),
            spool_troubles: BTreeMap::new(),
            last_update: None,
            problems: Vec::new(),
            observed: None,
            names: BTreeMap::new(),
            rate_limits: BTreeMap::new(),
            work: None,
            work_source: String::new(),
            closed: None,
            unsynced_done: Vec::new(),
            reservations: None,
            has_mailbox: false,
            known_conflicts: BTreeMap::new(),
            quality: QualityView::default(),
            ledger: LedgerView::default(),
            health: SourceHealth::default(),
            work_tool: None,
            digest: None,
            human: None,
        }
    }
}

/// The configuration as the policy reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Only fresh WAITING agents (idle at least `idle_threshold`) get work.
    pub assign_only_idle: bool,
    /// Seconds of idleness that make an agent fresh, and an idle agent with an open bead
    /// stalled.
    pub idle_threshold: f64,
    /// Seconds a delivered assignment may sit idle before it counts as stalled.
    pub completion_grace: f64,
    /// The configured strategy.
    pub strategy: AssignmentStrategy,
    /// The configured scoring terms (apply to the configured strategy only).
    pub scoring: ScoreConfig,
    /// Message the holders of a new conflict.
    pub conflict_notify: bool,
    /// Ask a holder of a new conflict to release.
    pub conflict_negotiate: bool,
    /// The configured digest recipient.
    pub human_agent: String,
    /// Seconds active assignments are held while tmux is lost.
    pub tmux_grace: f64,
    /// Restarting exited agents.
    pub restart: RestartPolicy,
    /// Taking back stuck work.
    pub takeback: TakebackPolicy,
    /// Context use above this percent is an `agent_context_high` event (`[notify]
    /// context_above`); 0 is off.
    pub context_alert: f64,
    /// Compacting idle agents above the context limit.
    pub compact: CompactPolicy,
}

/// When an idle agent is compacted (`[coordinator] compact_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct CompactPolicy {
    /// Compact idle agents at all.
    pub enabled: bool,
    /// Context use, percent, above which an idle agent is compacted.
    pub above: f64,
    /// Seconds between two compactions of one agent, at least.
    pub backoff: f64,
    /// Each kind's compact command by kind code (kinds.toml `compact`); an agent of a kind not
    /// listed is never compacted.
    pub commands: BTreeMap<String, String>,
}

impl CompactPolicy {
    /// The compact command of an agent type, if its kind has one.
    pub fn command(&self, agent_type: &str) -> Option<&str> {
        self.commands.get(agent_type).map(String::as_str)
    }
}

/// How exited agents are restarted (`[coordinator] restart_*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RestartPolicy {
    /// Restart agents that went EXITED.
    pub enabled: bool,
    /// Seconds before the second restart; doubles with each further one.
    pub backoff: f64,
    /// The longest wait between restarts, seconds.
    pub backoff_max: f64,
    /// More restarts than this within `window` is a crash loop.
    pub limit: u32,
    /// The crash-loop window, seconds.
    pub window: f64,
    /// The exited agent's live assignment: handed back or re-delivered.
    pub exited_work: ExitedWork,
}

/// When stuck work is taken back (`[assign] takeback_*`), seconds in the state; 0 never.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TakebackPolicy {
    /// STALLED.
    pub stalled: f64,
    /// BLOCKED.
    pub blocked: f64,
    /// RATE_LIMITED (a known reset within it is waited out).
    pub rate_limited: f64,
}

impl Policy {
    /// The policy of a configuration (and of the process's kind registry, for the compact
    /// commands).
    pub fn from_config(cfg: &GafferConfig) -> Policy {
        Policy {
            assign_only_idle: cfg.coordinator.assign_only_idle,
            idle_threshold: cfg.coordinator.idle_threshold,
            completion_grace: cfg.assign.completion_grace.as_secs_f64(),
            strategy: cfg.assign.strategy,
            scoring: cfg.scoring,
            conflict_notify: cfg.coordinator.conflict_notify,
            conflict_negotiate: cfg.coordinator.conflict_negotiate,
            human_agent: cfg.coordinator.human_agent.clone(),
            tmux_grace: cfg.coordinator.tmux_grace.as_secs_f64(),
            restart: RestartPolicy {
                enabled: cfg.coordinator.restart_exited,
                backoff: cfg.coordinator.restart_backoff.as_secs_f64(),
                backoff_max: cfg.coordinator.restart_backoff_max.as_secs_f64(),
                limit: cfg.coordinator.restart_limit,
                window: cfg.coordinator.restart_window.as_secs_f64(),
                exited_work: cfg.coordinator.exited_work,
            },
            takeback: TakebackPolicy {
                stalled: cfg.assign.takeback_stalled.as_secs_f64(),
                blocked: cfg.assign.takeback_blocked.as_secs_f64(),
                rate_limited: cfg.assign.takeback_rate_limited.as_secs_f64(),
            },
            context_alert: cfg.notify.context_above,
            compact: CompactPolicy {
                enabled: cfg.coordinator.compact_idle,
                above: cfg.coordinator.compact_above,
                backoff: cfg.coordinator.compact_backoff.as_secs_f64(),
                commands: crate::kinds::registry()
                    .kinds()
                    .iter()
                    .filter_map(|k| Some((k.code.clone(), k.compact.clone()?)))
                    .collect(),
            },
        }
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy::from_config(&GafferConfig::default())
    }
}

/// What the observation merge yields: the new tracked state of the agents.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tracking {
    /// When the agents were observed.
    pub observed_at: Option<Timestamp>,
    /// Agents by pane id.
    pub agents: BTreeMap<String, AgentState>,
    /// Agents whose panes vanished, by pane id.
    pub gone: BTreeMap<String, GoneAgent>,
    /// tmux lost, while it is.
    pub tmux_loss: Option<TmuxLoss>,
    /// `[[hosts]]` hosts unreachable at this pass, with when each went down.
    pub hosts_down: BTreeMap<String, Timestamp>,
    /// Hosts that answered again within the last hour.
    pub hosts_back: BTreeMap<String, HostOutage>,
    /// Rate-limit ends by pane id.
    pub rate_limits: BTreeMap<String, Timestamp>,
    /// Problems of this observation.
    pub problems: Vec<String>,
    /// Active assignment ids to watch for ends reported outside this process.
    pub assignments: BTreeSet<i64>,
}

/// A signal for the quality monitor.
#[derive(Debug, Clone, PartialEq)]
pub enum QualitySignal {
    /// Context usage seen on a pane.
    ContextUsage {
        /// Pane.
        pane_id: String,
        /// Agent type.
        agent_type: String,
        /// Percent used.
        usage: f64,
    },
    /// The agent went into error.
    AgentError {
        /// Pane.
        pane_id: String,
        /// Agent type.
        agent_type: String,
    },
    /// The agent recovered from error.
    AgentRecovered {
        /// Pane.
        pane_id: String,
    },
}

/// One assignment to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct AssignOrder {
    /// The bead as triage ranked it.
    pub bead: TriageRecommendation,
    /// The agent as tracked.
    pub agent: AgentState,
    /// The assignment (files to reserve, score, …).
    pub assignment: WorkAssignment,
}

/// Something the runtime should do. Each variant has one executor in the coordinator.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Adopt the merged view of the agents.
    Track(Box<Tracking>),
    /// Publish an event (recorded in the ledger's event log and sent on the bus).
    Publish(CoordinatorEvent),
    /// Publish an event an agent's own report already wrote to the ledger (bus only).
    Announce(CoordinatorEvent),
    /// Feed the quality monitor.
    RecordQuality(QualitySignal),
    /// Hand a bead to an agent: offer in the ledger, claim, reserve, deliver, confirm.
    Assign(Box<AssignOrder>),
    /// A planned assignment, not carried out (dry run, suggestion).
    Propose(Box<WorkAssignment>),
    /// The agent was seen busy: the assignment is being worked.
    MarkWorking {
        /// Ledger id.
        id: i64,
    },
    /// The bead is closed: the assignment is done.
    MarkDone {
        /// The assignment.
        assignment: ActiveAssignment,
        /// Why.
        reason: String,
    },
    /// The agent is idle again with the bead open: failed, and the pair backs off.
    MarkStalled {
        /// The assignment.
        assignment: ActiveAssignment,
        /// Why.
        reason: String,
    },
    /// Close a bead in the work source that the ledger says is done (an earlier close
    /// failed), so its dependents become ready there too and the work is not lost.
    CloseInSource {
        /// The bead.
        bead_id: String,
    },
    /// The agent is gone (pane vanished, agent exited, offer interrupted): failed.
    MarkGone {
        /// The assignment.
        assignment: ActiveAssignment,
        /// Why.
        reason: String,
    },
    /// Release reservations held for an assignment that ended.
    ReleaseReservations {
        /// Holder name.
        holder: String,
        /// Patterns.
        patterns: Vec<String>,
    },
    /// A bead is done: no pair backs off from it any more.
    ClearBackoff {
        /// The bead.
        bead_id: String,
    },
    /// Back-offs were written by another process: load them.
    ReloadBackoff,
    /// Adopt the conflicts found now.
    TrackConflicts(Vec<DetectedConflict>),
    /// Message every holder of a conflict.
    NotifyConflict(Conflict),
    /// Ask one holder to release in favour of the requester.
    RequestRelease {
        /// The conflict.
        conflict: Conflict,
        /// The holder asked.
        holder: Holder,
        /// The agent that reserved last.
        requester: String,
    },
    /// Send the digest.
    SendDigest {
        /// The digest.
        digest: Box<DigestSummary>,
        /// Its importance.
        importance: Importance,
        /// The recipient.
        to: String,
    },
    /// Relaunch an agent in its pane: its own launch command, the same title and identity.
    Restart {
        /// The agent's pane.
        pane_id: String,
        /// Its agent type (the kind registry's launch command when the pane has no record).
        agent_type: String,
        /// Automatic restarts within the crash-loop window, this one included (0 by hand).
        attempt: u32,
        /// Why.
        reason: String,
    },
    /// An agent crash-loops: restarting it stops (alerted once).
    StopRestarts {
        /// The agent's pane.
        pane_id: String,
        /// Restarts within the window.
        restarts: u32,
        /// The window, seconds.
        window: f64,
    },
    /// Take an assignment back: it fails, its claim is undone and its reservations released,
    /// so the bead goes to the next round.
    HandBack {
        /// The assignment.
        assignment: ActiveAssignment,
        /// The agent's state that made it go back.
        status: AgentStatus,
        /// Why.
        reason: String,
        /// The agent backs off from the bead and is told through Agent Mail.
        back_off: bool,
    },
    /// Deliver an assignment's prompt again to its restarted agent.
    Redeliver {
        /// The assignment.
        assignment: ActiveAssignment,
    },
    /// Send an idle agent above the context limit its kind's compact command, like a prompt.
    Compact {
        /// The agent's pane.
        pane_id: String,
        /// Its agent type.
        agent_type: String,
        /// Its kind's compact command (`/compact`).
        command: String,
        /// Percent of context used now.
        context_before: f64,
    },
    /// A compacted agent's context went down: `agent_compacted`, and the compaction is done.
    Compacted {
        /// The agent's pane.
        pane_id: String,
        /// Percent of context used when the command was sent.
        context_before: f64,
        /// Percent of context used now; `None` when the screen shows none (Claude Code shows it
        /// only when little is left).
        context_after: Option<f64>,
    },
    /// A source became unreadable.
    RaiseAlert {
        /// Which.
        source: Source,
        /// The error.
        error: String,
    },
    /// A degraded source reads again.
    ClearAlert {
        /// Which.
        source: Source,
    },
}

/// Turns a snapshot into decisions, in the order they are to be carried out.
pub fn decide(snap: &Snapshot, policy: &Policy) -> Vec<Decision> {
    let mut out = Vec::new();
    match &snap.pass {
        Pass::Start => review::recover(&snap.ledger.active, &mut out),
        Pass::Poll => {
            let Some(obs) = &snap.observed else {
                return out;
            };
            let merged = agents::merge(snap, obs, policy);
            // tmux lost or restored comes before the agents' own events.
            let tmux_now = obs.tmux_lost.as_deref().map_or(Ok(()), Err);
            out.extend(source_alert(
                Source::Tmux,
                snap.health.tmux.as_deref(),
                tmux_now,
            ));
            if let Some(Err(e)) = &snap.work_tool {
                out.extend(source_alert(
                    Source::Work,
                    snap.health.work.as_deref(),
                    Err(e),
                ));
            }
            out.extend(merged.events.into_iter().map(Decision::Publish));
            out.extend(
                agents::context_crossings(snap, &merged.tracking.agents, policy.context_alert)
                    .into_iter()
                    .map(Decision::Publish),
            );
            out.extend(merged.quality.into_iter().map(Decision::RecordQuality));
            review::reported(&snap.ledger.ended, &mut out);
            review::unsynced(snap, &mut out);
            let mut tracking = merged.tracking;
            match (&obs.tmux_lost, tracking.tmux_loss) {
                // tmux lost: nothing is known of the panes, so nothing is restarted and only a
                // closed bead ends an assignment, until the grace ends (see `review::held`).
                (Some(error), Some(loss)) => review::held(
                    &snap.ledger.active,
                    snap.closed.as_ref(),
                    &loss,
                    error,
                    snap.now,
                    &mut out,
                ),
                _ => {
                    let since: BTreeMap<String, Timestamp> = obs
                        .agents
                        .iter()
                        .map(|o| (o.pane_id().to_string(), o.observation.since))
                        .collect();
                    let view = review::AgentsView {
                        agents: &tracking.agents,
                        since: &since,
                        rate_limits: &tracking.rate_limits,
                        restarts: &snap.ledger.restarts,
                        hosts_down: &tracking.hosts_down,
                    };
                    review::active(
                        &snap.ledger.active,
                        &view,
                        snap.closed.as_ref(),
                        policy,
                        snap.now,
                        &mut out,
                    );
                    restart::exited(&view, policy, snap.now, &mut out);
                    compact::finished(obs, &tracking.agents, &snap.ledger.compactions, &mut out);
                    compact::idle(snap, obs, &tracking.agents, policy, &mut out);
                }
            }
            review::release_ended(&out, &mut tracking.agents);
            out.insert(0, Decision::Track(Box::new(tracking)));
        }
        Pass::Assign { strategy, dry_run } => {
            plan::assign(snap, policy, *strategy, *dry_run, &mut out)
        }
        Pass::Suggest { pane_id } => plan::suggest(snap, policy, pane_id, &mut out),
        Pass::Conflicts => conflicts::decide(snap, policy, &mut out),
        Pass::Digest => digest::decide(snap, policy, &mut out),
        Pass::Restart { pane_id } => restart::by_hand(snap, policy, pane_id, &mut out),
    }
    out
}

/// The alert decision for a source read now: raised on the first failure, cleared on the
/// first success after failures, nothing otherwise.
pub fn source_alert(
    source: Source,
    before: Option<&str>,
    now: Result<(), &str>,
) -> Option<Decision> {
    match (before, now) {
        (None, Err(e)) => Some(Decision::RaiseAlert {
            source,
            error: e.to_string(),
        }),
        (Some(_), Ok(())) => Some(Decision::ClearAlert { source }),
        _ => None,
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

#[cfg(test)]
pub(crate) mod tests;
