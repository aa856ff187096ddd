//! gaffer under simulation: the real `decide` and `Policy`; the simulation plays the adapters
//! (observer, work source, mailbox, panes, ledger) and the scheduler, and a small executor
//! carries out every decision the way `gaffer-coordinator::act` does.

use crate::world::{Mode, Ms, Report, SEC, TriageCache, World, bead_id, bead_index};
use gaffer_core::agent::{AgentState, HealthCheck};
use gaffer_core::assign::{BackoffBook, BackoffReason};
use gaffer_core::assignment::AssignmentStrategy;
use gaffer_core::config::GafferConfig;
use gaffer_core::conflicts::DetectedConflict;
use gaffer_core::cycle::{
    self, ActiveAssignment, AgentReport, AgentsObservation, AssignOrder, Decision, EndedAssignment,
    LedgerView, Pass, Policy, ReportedEnd, RestartHistory, Snapshot, Stage,
};
use gaffer_core::detect::{Observation, Verdict};
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::panes::PaneInfo;
use gaffer_core::status::AgentStatus;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How a ledger entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Offered,
    Delivered,
    Working,
    Done,
    Failed,
    Refused,
}

/// One ledger entry.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: i64,
    pub bead: String,
    pub pane: String,
    pub name: String,
    pub state: State,
    pub updated: Ms,
    pub claimed: bool,
    pub reserved: Vec<String>,
}

impl Entry {
    fn active(&self) -> bool {
        matches!(
            self.state,
            State::Offered | State::Delivered | State::Working
        )
    }
    fn view(&self, world: &World) -> ActiveAssignment {
        ActiveAssignment {
            id: self.id,
            bead_id: self.bead.clone(),
            pane_id: self.pane.clone(),
            agent_name: self.name.clone(),
            stage: match self.state {
                State::Offered => Stage::Offered,
                State::Delivered => Stage::Delivered,
                _ => Stage::Working,
            },
            updated_at: world.ts(self.updated),
            claimed: self.claimed,
            reserved: self.reserved.clone(),
        }
    }
}

/// Counts of what the executor did.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub decisions: u64,
    pub unhandled: u64,
    pub assign_ok: u64,
    pub assign_failed: u64,
    pub stalled: u64,
    pub gone: u64,
    pub polls: u64,
    pub assign_passes: u64,
    pub conflict_passes: u64,
    pub notices: u64,
    /// Assignments taken back (stuck agent, exited agent, failed re-delivery).
    pub handbacks: u64,
    /// Of those, from an agent stuck STALLED, BLOCKED or RATE_LIMITED.
    pub takebacks: u64,
    pub restarts: u64,
    pub crash_loops: u64,
    pub redeliveries: u64,
}

/// gaffer's coordinator state between passes.
pub struct Gaffer {
    pub policy: Policy,
    poll_every: Ms,
    agents: BTreeMap<String, AgentState>,
    rate_limits: BTreeMap<String, gaffer_core::time::Timestamp>,
    last_update: Option<gaffer_core::time::Timestamp>,
    pub ledger: Vec<Entry>,
    ended: Vec<EndedAssignment>,
    backoff: BackoffBook,
    /// The ledger's restart history by pane.
    restarts: BTreeMap<String, RestartHistory>,
    known: BTreeMap<String, DetectedConflict>,
    triage: TriageCache,
    pub events: Vec<CoordinatorEvent>,
    pub counts: Counts,
    last_poll: Ms,
    last_assign: Ms,
    last_conflicts: Ms,
    /// A poll saw an agent ready for work: the act lane runs an assign pass soon.
    assign_wanted: bool,
}

/// What gaffer runs with beyond the defaults; both on unless an ablation turns one off.
#[derive(Debug, Clone, Copy)]
pub struct Features {
    /// `restart_exited = true`.
    pub restarts: bool,
    /// The default take-back thresholds (off: all 0, never).
    pub takeback: bool,
}

impl Gaffer {
    pub fn new(strategy: AssignmentStrategy, features: Features) -> Gaffer {
        let mut cfg = GafferConfig::default();
        cfg.assign.strategy = strategy;
        cfg.coordinator.auto_assign = true;
        // Restarts on; the take-back thresholds and the rest of the restart policy are the
        // defaults (exited work is handed back).
        cfg.coordinator.restart_exited = features.restarts;
        if !features.takeback {
            cfg.assign.takeback_stalled = Duration::ZERO;
            cfg.assign.takeback_blocked = Duration::ZERO;
            cfg.assign.takeback_rate_limited = Duration::ZERO;
        }
        let policy = Policy::from_config(&cfg);
        Gaffer {
            policy,
            poll_every: cfg.coordinator.poll_interval.as_millis() as Ms,
            agents: BTreeMap::new(),
            rate_limits: BTreeMap::new(),
            last_update: None,
            ledger: Vec::new(),
            ended: Vec::new(),
            backoff: BackoffBook::new(Duration::from_secs(60), cfg.assign.max_backoff),
            restarts: BTreeMap::new(),
            known: BTreeMap::new(),
            triage: TriageCache::new(),
            events: Vec::new(),
            counts: Counts::default(),
            last_poll: -1_000_000,
            last_assign: -1_000_000,
            last_conflicts: -1_000_000,
            assign_wanted: false,
        }
    }

    pub fn triage_runs(&self) -> u64 {
        self.triage.runs
    }

    /// When the scheduler runs something next: the poll wakes on pane activity (at most every
    /// 100 ms) and runs every poll interval; assign and conflicts run every poll interval, and
    /// assign soon after a poll that found an agent ready.
    pub fn next_at(&self, world: &World) -> Ms {
        let gap = 100;
        let mut poll = self.last_poll + self.poll_every;
        if let Some(a) = world.activity {
            poll = poll.min(a.max(self.last_poll + gap));
        }
        let mut assign = self.last_assign + self.poll_every;
        if self.assign_wanted {
            assign = assign.min(self.last_assign + gap).max(self.last_poll);
        }
        let conflicts = self.last_conflicts + self.poll_every.max(SEC);
        poll.min(assign).min(conflicts)
    }

    /// Runs whatever is due at `t`.
    pub fn run_due(&mut self, world: &mut World, t: Ms) {
        let gap = 100;
        let poll_due = t >= self.last_poll + self.poll_every
            || world
                .activity
                .is_some_and(|a| a <= t && t >= self.last_poll + gap);
        if poll_due {
            world.activity = None;
            self.last_poll = t;
            self.poll(world, t);
        }
        if t >= self.last_assign + self.poll_every
            || (self.assign_wanted && t >= self.last_assign + gap)
        {
            self.last_assign = t;
            self.assign_wanted = false;
            self.assign(world, t);
        }
        if t >= self.last_conflicts + self.poll_every.max(SEC) {
            self.last_conflicts = t;
            self.conflicts(world, t);
        }
    }

    fn base(&self, world: &World, pass: Pass, t: Ms) -> Snapshot {
        let mut s = Snapshot::new(pass, world.ts(t));
        s.session = "fleet".into();
        s.agents = self.agents.clone();
        s.last_update = self.last_update;
        s.rate_limits = self.rate_limits.clone();
        s.names = world
            .agents
            .iter()
            .map(|a| (a.pane.clone(), a.name.clone()))
            .collect();
        s.work_source = "br".into();
        s.has_mailbox = true;
        s.ledger = self.ledger_view(world);
        s
    }

    fn ledger_view(&self, world: &World) -> LedgerView {
        LedgerView {
            active: self
                .ledger
                .iter()
                .filter(|e| e.active())
                .map(|e| e.view(world))
                .collect(),
            ended: self.ended.clone(),
            taken: self
                .ledger
                .iter()
                .filter(|e| e.active() || e.state == State::Done)
                .map(|e| e.bead.clone())
                .collect(),
            backoff: self.backoff.clone(),
            paused: Default::default(),
            restarts: self.restarts.clone(),
            compactions: Default::default(),
        }
    }

    /// What the monitor would report: the truth, as a correct detector sees it.
    fn observe(world: &World, t: Ms) -> AgentsObservation {
        let now = world.ts(t);
        let agents = world
            .agents
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let status = a.status();
                let last = if status.is_busy() { t } else { a.last_activity };
                let last_activity = world.ts(last);
                // A hang's screen froze when it began: the state's start is the hang's (the
                // last activity was when the work started, long before).
                let since = world.ts(a.status_since().unwrap_or(last));
                AgentReport {
                    pane: PaneInfo {
                        session: "fleet".into(),
                        pane_index: i as i64 + 1,
                        pane_id: a.pane.clone(),
                        title: format!("fleet__{}_{}", a.kind, i + 1),
                        agent_type: a.kind.into(),
                        ..PaneInfo::default()
                    },
                    observation: Observation {
                        status,
                        verdict: Verdict {
                            status,
                            reason: String::new(),
                            rule: "sim".into(),
                            evidence: vec![],
                            confidence: 1.0,
                            context_usage: Some(30.0),
                            rate_limit_reset: a.rate_reset.map(|r| world.ts(r)),
                            observed_at: now,
                            fusion: None,
                        },
                        last_activity,
                        idle_for: Duration::from_millis((t - last).max(0) as u64),
                        since,
                        changed: false,
                        previous: None,
                        pending: None,
                    },
                    last_activity,
                    idle_seconds: (t - last).max(0) as f64 / 1000.0,
                    velocity: 0.0,
                    health: HealthCheck {
                        pane_id: a.pane.clone(),
                        agent_type: a.kind.into(),
                        healthy: true,
                        issues: vec![],
                        timestamp: now,
                    },
                }
            })
            .collect();
        AgentsObservation {
            agents,
            problems: vec![],
            tmux_lost: None,
            unreachable_hosts: Default::default(),
        }
    }

    /// Agents' own reports (`gaffer refuse`) land in the ledger, as the command writes them.
    fn take_reports(&mut self, world: &mut World, t: Ms) {
        for r in std::mem::take(&mut world.reports) {
            let Report::Refused { agent, bead } = r;
            let pane = world.agents[agent].pane.clone();
            let id = bead_id(bead);
            let Some(e) = self
                .ledger
                .iter_mut()
                .rev()
                .find(|e| e.bead == id && e.pane == pane && e.active())
            else {
                continue;
            };
            e.state = State::Refused;
            e.updated = t;
            // `gaffer refuse` undoes the claim.
            let holder = if e.name.is_empty() {
                e.pane.clone()
            } else {
                e.name.clone()
            };
            if e.claimed {
                world.unclaim(bead, &holder, t);
            }
            self.backoff
                .record(&pane, &id, BackoffReason::Refused, world.ts(t));
            let view = e.view(world);
            self.ended.push(EndedAssignment {
                assignment: view,
                end: ReportedEnd::Refused,
                state: "refused".into(),
                reason: "refused by the agent".into(),
                at: world.ts(t),
            });
        }
    }

    fn poll(&mut self, world: &mut World, t: Ms) {
        self.counts.polls += 1;
        self.take_reports(world, t);
        let mut snap = self.base(world, Pass::Poll, t);
        snap.observed = Some(Self::observe(world, t));
        snap.closed = Some(
            world
                .issues
                .iter()
                .filter(|i| i.status == "closed")
                .map(|i| i.id.clone())
                .collect(),
        );
        self.ended.clear();
        let decisions = cycle::decide(&snap, &self.policy);
        self.execute(world, decisions, t);
        let idle = cycle::agents::idle(self.agents.values(), &self.policy, world.ts(t));
        if !idle.is_empty() {
            self.assign_wanted = true;
        }
    }

    fn assign(&mut self, world: &mut World, t: Ms) {
        let now = world.ts(t);
        // The runtime builds an assign snapshot only when some agent is idle.
        if cycle::agents::idle(self.agents.values(), &self.policy, now).is_empty() {
            return;
        }
        self.counts.assign_passes += 1;
        let mut snap = self.base(
            world,
            Pass::Assign {
                strategy: None,
                dry_run: false,
            },
            t,
        );
        snap.work = Some(Ok(self.triage.get(world, t).clone()));
        snap.reservations = Some(Ok(world.active_reservations(t)));
        let decisions = cycle::decide(&snap, &self.policy);
        if std::env::var_os("FLEET_PROBE").is_some()
            && !decisions.iter().any(|d| matches!(d, Decision::Assign(_)))
        {
            self.probe(world, t);
        }
        self.execute(world, decisions, t);
    }

    /// Debugging aid: why the world's free beads were not assigned.
    fn probe(&self, world: &World, t: Ms) {
        let now = world.ts(t);
        let idle: Vec<String> = cycle::agents::idle(self.agents.values(), &self.policy, now)
            .iter()
            .map(|a| a.pane_id.clone())
            .collect();
        let rs = world.active_reservations(t);
        for b in (0..world.issues.len()).filter(|&b| world.is_free(b)) {
            let id = bead_id(b);
            let holders: Vec<String> = world.info[b]
                .files
                .iter()
                .flat_map(|f| {
                    rs.iter()
                        .filter(|r| gaffer_core::glob::overlaps(&r.path_pattern, f))
                        .map(|r| format!("{}:{}:{}", r.agent_name, r.path_pattern, r.reason))
                })
                .collect();
            let backed: Vec<&String> = idle
                .iter()
                .filter(|p| self.backoff.is_backing_off(p, &id, now))
                .collect();
            let taken = self
                .ledger
                .iter()
                .any(|e| e.bead == id && (e.active() || e.state == State::Done));
            let listed = self
                .triage
                .response
                .as_ref()
                .and_then(|r| r.triage.recommendations.iter().find(|r| r.id == id))
                .map(|r| {
                    format!(
                        "status={} blocked={} unblocks={} score={:.3}",
                        r.status,
                        r.is_blocked(),
                        r.unblocks_ids.len(),
                        r.score
                    )
                })
                .unwrap_or_else(|| "not listed".into());
            eprintln!(
                "probe t={t} idle={idle:?} free={id} taken={taken} held_by={holders:?} backed_off={backed:?} triage: {listed}"
            );
        }
    }

    fn conflicts(&mut self, world: &mut World, t: Ms) {
        self.counts.conflict_passes += 1;
        let mut snap = self.base(world, Pass::Conflicts, t);
        snap.reservations = Some(Ok(world.active_reservations(t)));
        snap.known_conflicts = self.known.clone();
        let truth = world.true_conflicts(t);
        let decisions = cycle::decide(&snap, &self.policy);
        // What the pass found, as holder pairs.
        let mut found: BTreeSet<(String, String)> = BTreeSet::new();
        for d in &decisions {
            if let Decision::TrackConflicts(cs) = d {
                for c in cs {
                    for (i, a) in c.conflict.holders.iter().enumerate() {
                        for b in &c.conflict.holders[i + 1..] {
                            let (x, y) = if a.agent_name <= b.agent_name {
                                (a, b)
                            } else {
                                (b, a)
                            };
                            found.insert((x.agent_name.clone(), y.agent_name.clone()));
                        }
                    }
                }
            }
        }
        for p in truth {
            if !found.contains(&(p.0.clone(), p.2.clone())) {
                world.missed_pairs.insert(p.clone());
            }
            world.conflict_pairs.insert(p);
        }
        self.execute(world, decisions, t);
    }

    fn execute(&mut self, world: &mut World, decisions: Vec<Decision>, t: Ms) {
        for d in decisions {
            self.counts.decisions += 1;
            self.act(world, d, t);
        }
    }

    fn entry(&mut self, id: i64) -> Option<&mut Entry> {
        self.ledger.iter_mut().find(|e| e.id == id)
    }

    /// One executor per decision, as `gaffer-coordinator::act` carries them out.
    fn act(&mut self, world: &mut World, d: Decision, t: Ms) {
        let now = world.ts(t);
        match d {
            Decision::Track(tr) => {
                self.agents = tr.agents;
                self.rate_limits = tr.rate_limits;
                self.last_update = tr.observed_at.or(self.last_update);
            }
            Decision::Publish(e) | Decision::Announce(e) => self.events.push(e),
            Decision::RecordQuality(_) | Decision::Propose(_) => {}
            Decision::Assign(order) => self.carry_out(world, *order, t),
            Decision::MarkWorking { id } => {
                if let Some(e) = self.entry(id) {
                    if e.state == State::Delivered {
                        e.state = State::Working;
                        e.updated = t;
                    }
                }
            }
            Decision::MarkDone { assignment, .. } => {
                self.finish(world, &assignment, State::Done, t);
            }
            Decision::MarkStalled { assignment, .. } => {
                self.counts.stalled += 1;
                self.finish(world, &assignment, State::Failed, t);
                self.backoff.record(
                    &assignment.pane_id,
                    &assignment.bead_id,
                    BackoffReason::Stalled,
                    now,
                );
            }
            Decision::MarkGone { assignment, .. } => {
                self.counts.gone += 1;
                self.finish(world, &assignment, State::Failed, t);
            }
            Decision::ReleaseReservations { holder, patterns } => {
                world.release(&holder, &patterns, t)
            }
            Decision::ClearBackoff { bead_id } => self.backoff.clear_bead(&bead_id),
            // One book here: the ledger's and the runtime's are the same.
            Decision::ReloadBackoff => {}
            Decision::TrackConflicts(found) => {
                self.known = found
                    .into_iter()
                    .map(|c| (c.conflict.id.clone(), c))
                    .collect();
            }
            Decision::NotifyConflict(c) => {
                self.counts.notices += 1;
                for h in &c.holders {
                    if let Some(a) = world.agents.iter().position(|a| a.name == h.agent_name) {
                        world.notice(a, t);
                    }
                }
            }
            Decision::RequestRelease { holder, .. } => {
                if let Some(a) = world
                    .agents
                    .iter()
                    .position(|a| a.name == holder.agent_name)
                {
                    world.notice(a, t);
                }
            }
            Decision::HandBack {
                assignment,
                status,
                back_off,
                ..
            } => self.hand_back(world, &assignment, status, back_off, t),
            Decision::Redeliver { assignment } => self.redeliver(world, &assignment, t),
            Decision::Restart {
                pane_id, attempt, ..
            } => {
                // The ledger records the attempt first; the pane's own command relaunches it.
                let h = self.restarts.entry(pane_id.clone()).or_default();
                if attempt == 0 {
                    h.restarts.clear();
                    h.halted = false;
                } else {
                    h.restarts.push(now);
                }
                h.last = Some(now);
                if let Some(a) = world.agent_of(&pane_id) {
                    self.counts.restarts += 1;
                    world.restart(a, t);
                }
            }
            Decision::StopRestarts { pane_id, .. } => {
                self.counts.crash_loops += 1;
                self.restarts.entry(pane_id).or_default().halted = true;
            }
            // The simulated agents always read 30% context: never above the compact limit.
            Decision::Compact { .. } | Decision::Compacted { .. } => {}
            Decision::CloseInSource { bead_id } => {
                if let Some(b) = bead_index(&bead_id) {
                    world.close_in_source(b, t);
                }
            }
            Decision::SendDigest { .. }
            | Decision::RaiseAlert { .. }
            | Decision::ClearAlert { .. } => {}
            // A decision this executor does not know yet (a newer `decide`): counted, reported.
            #[allow(unreachable_patterns)]
            _ => self.counts.unhandled += 1,
        }
    }

    /// Takes an assignment back, as `act::hand_back`: it fails (claim undone, reservations
    /// released); a stuck agent backs off from the bead and is told by mail.
    fn hand_back(
        &mut self,
        world: &mut World,
        a: &ActiveAssignment,
        status: AgentStatus,
        back_off: bool,
        t: Ms,
    ) {
        if !self.entry(a.id).is_some_and(|e| e.active()) {
            return;
        }
        self.counts.handbacks += 1;
        if matches!(
            status,
            AgentStatus::Stalled | AgentStatus::Blocked | AgentStatus::RateLimited
        ) {
            self.counts.takebacks += 1;
        }
        self.finish(world, a, State::Failed, t);
        if back_off {
            self.backoff.record(
                &a.pane_id,
                &a.bead_id,
                BackoffReason::TakenBack,
                world.ts(t),
            );
            if !a.agent_name.is_empty() {
                if let (Some(ag), Some(b)) = (world.agent_of(&a.pane_id), bead_index(&a.bead_id)) {
                    world.handed_back(ag, b, t);
                }
            }
        }
    }

    /// Delivers an assignment's prompt again to its restarted agent, as `act::redeliver`; when
    /// it does not take it, the assignment is handed back and the pair backs off.
    fn redeliver(&mut self, world: &mut World, a: &ActiveAssignment, t: Ms) {
        let Some(e) = self.entry(a.id) else { return };
        if !matches!(e.state, State::Delivered | State::Working) {
            return;
        }
        let delivered = match (world.agent_of(&a.pane_id), bead_index(&a.bead_id)) {
            (Some(ag), Some(b)) => world.prompt(ag, b, t).is_ok(),
            _ => false,
        };
        if delivered {
            self.counts.redeliveries += 1;
            if let Some(e) = self.entry(a.id) {
                e.state = State::Delivered;
                e.updated = t;
            }
        } else {
            self.backoff.record(
                &a.pane_id,
                &a.bead_id,
                BackoffReason::DeliveryFailed,
                world.ts(t),
            );
            self.hand_back(world, a, AgentStatus::Waiting, false, t);
        }
    }

    /// Ends an assignment: ledger, reservations, claim (unless done), back-offs of a done bead.
    fn finish(&mut self, world: &mut World, a: &ActiveAssignment, to: State, t: Ms) {
        let Some(e) = self.entry(a.id) else { return };
        if !e.active() {
            return;
        }
        e.state = to;
        e.updated = t;
        if !a.reserved.is_empty() {
            world.release(a.holder(), &a.reserved, t);
        }
        if let Some(b) = bead_index(&a.bead_id) {
            if to != State::Done && a.claimed {
                world.unclaim(b, a.holder(), t);
            }
        }
        if to == State::Done {
            self.backoff.clear_bead(&a.bead_id);
        }
    }

    /// Offer → claim → reserve → deliver → confirm; a failed step undoes the earlier ones.
    fn carry_out(&mut self, world: &mut World, order: AssignOrder, t: Ms) {
        let now = world.ts(t);
        let bead = &order.bead.id;
        let pane = order.agent.pane_id.clone();
        let actor = if order.agent.agent_mail_name.is_empty() {
            pane.clone()
        } else {
            order.agent.agent_mail_name.clone()
        };
        // 1. offer: the ledger refuses a bead with an active or done entry.
        if self
            .ledger
            .iter()
            .any(|e| &e.bead == bead && (e.active() || e.state == State::Done))
        {
            self.counts.assign_failed += 1;
            return;
        }
        let id = self.ledger.len() as i64 + 1;
        self.ledger.push(Entry {
            id,
            bead: bead.clone(),
            pane: pane.clone(),
            name: order.agent.agent_mail_name.clone(),
            state: State::Offered,
            updated: t,
            claimed: false,
            reserved: vec![],
        });
        let (Some(b), Some(a)) = (bead_index(bead), world.agent_of(&pane)) else {
            self.abort(world, id, &actor, t);
            return;
        };
        // 2. claim.
        if !world.claim(b, &actor) {
            self.abort(world, id, &actor, t);
            return;
        }
        if let Some(e) = self.entry(id) {
            e.claimed = true;
        }
        // 3. reserve, exclusively; a clash with another agent fails it.
        let files = order.assignment.files_to_reserve.clone();
        if !files.is_empty() {
            let clash = world.reserve(&actor, &files, bead, t);
            if let Some(e) = self.entry(id) {
                e.reserved = files.clone();
            }
            if !clash.is_empty() {
                self.backoff
                    .record(&pane, bead, BackoffReason::DeliveryFailed, now);
                self.abort(world, id, &actor, t);
                return;
            }
        }
        // 4. deliver.
        if world.prompt(a, b, t).is_err() {
            self.backoff
                .record(&pane, bead, BackoffReason::DeliveryFailed, now);
            self.abort(world, id, &actor, t);
            return;
        }
        // 5. confirm.
        if let Some(e) = self.entry(id) {
            e.state = State::Delivered;
            e.updated = t;
        }
        if let Some(ag) = self.agents.get_mut(&pane) {
            ag.current_task = bead.clone();
            ag.assignments = ag.assignments.max(0) + 1;
            ag.last_assigned_at = Some(now);
            ag.reservations = files;
        }
        self.counts.assign_ok += 1;
        self.events.push(
            CoordinatorEvent::new(gaffer_core::event::CoordinatorEventType::WorkAssigned, now)
                .with_agent(pane)
                .with_detail("bead_id", bead.clone()),
        );
    }

    fn abort(&mut self, world: &mut World, id: i64, actor: &str, t: Ms) {
        self.counts.assign_failed += 1;
        let Some(e) = self.entry(id) else { return };
        e.state = State::Failed;
        e.updated = t;
        let (bead, claimed, reserved) = (e.bead.clone(), e.claimed, e.reserved.clone());
        if claimed {
            if let Some(b) = bead_index(&bead) {
                world.unclaim(b, actor, t);
            }
        }
        if !reserved.is_empty() {
            world.release(actor, &reserved, t);
        }
    }
}

/// Whether the world is run by gaffer.
pub fn mode() -> Mode {
    Mode::Gaffer
}
