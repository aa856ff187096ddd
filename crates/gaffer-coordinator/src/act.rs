//! Act: one executor per [`Decision`]. The ledger records every assignment before it is
//! carried out (the offer) and after (delivered, failed, done …), so a crash can never run
//! one twice or lose it; every executor reports what it did through the reporter.

use crate::ledger::{AssignmentState, NewAssignment, Offer, RestartKind};
use crate::session::{CoordinatorError, Shared, lock};
use gaffer_core::assign::BackoffReason;
use gaffer_core::assignment::{AssignmentResult, WorkAssignment};
use gaffer_core::conflict::{Conflict, Holder};
use gaffer_core::conflicts::DetectedConflict;
use gaffer_core::cycle::{
    ActiveAssignment, AssignOrder, Decision, QualitySignal, Source, Stage, Tracking, source_alert,
};
use gaffer_core::digest::{DigestSummary, render_markdown};
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::mailbox::{Importance, OutgoingMessage, ReserveRequest};
use gaffer_core::messages::{
    PromptInput, assignment_message, assignment_prompt, conflict_notice, release_request,
};
use gaffer_core::panes::{DeliveryOptions, DeliveryOutcome};
use gaffer_core::status::AgentStatus;
use gaffer_core::time::Timestamp;
use gaffer_core::triage::TriageRecommendation;
use gaffer_core::work_source::ClaimOutcome;
use std::sync::Arc;

/// Assignments of one round carried out at once, at most.
pub const PARALLEL_DELIVERIES: usize = 8;

/// Whether a decision is a delivery carried out beside others of its run: an assignment, or a
/// compaction.
fn concurrent(d: &Decision) -> bool {
    matches!(d, Decision::Assign(_) | Decision::Compact { .. })
}

/// Whether two decisions belong to one concurrent run (both assignments, or both compactions).
fn same_run(a: &Decision, b: &Decision) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

/// What an executor yields for the caller of a pass.
pub(crate) enum Outcome {
    /// Nothing to return.
    Done,
    /// An assignment carried out (or not).
    Assigned(AssignmentResult),
    /// A planned assignment.
    Proposed(WorkAssignment),
    /// The conflicts found.
    Conflicts(Vec<DetectedConflict>),
    /// A digest and whether it was sent.
    Digest(Box<DigestSummary>, Result<(), CoordinatorError>),
    /// An agent restarted (or why not).
    Restarted(Result<(), CoordinatorError>),
}

impl Shared {
    /// Carries the decisions out in order. A run of assignments (one round's matching: each to
    /// a different agent, each of a different bead) or of compactions (each to a different
    /// agent) is carried out concurrently, up to [`PARALLEL_DELIVERIES`] at once, since each
    /// waits seconds for its agent to take the prompt; their outcomes keep the decisions' order.
    pub(crate) fn execute(&self, decisions: Vec<Decision>) -> Vec<Outcome> {
        let mut out = Vec::with_capacity(decisions.len());
        let mut run: Vec<Decision> = Vec::new();
        for d in decisions {
            if run.first().is_some_and(|r| !same_run(r, &d)) {
                out.extend(self.execute_concurrently(std::mem::take(&mut run)));
            }
            if concurrent(&d) {
                run.push(d);
                continue;
            }
            out.push(self.act(d));
        }
        out.extend(self.execute_concurrently(run));
        out
    }

    /// Carries out a run of deliveries to different agents, [`PARALLEL_DELIVERIES`] at a time.
    fn execute_concurrently(&self, run: Vec<Decision>) -> Vec<Outcome> {
        if run.len() <= 1 {
            return run.into_iter().map(|d| self.act(d)).collect();
        }
        let mut out = Vec::with_capacity(run.len());
        let mut rest = run.into_iter().peekable();
        while rest.peek().is_some() {
            let batch: Vec<Decision> = rest.by_ref().take(PARALLEL_DELIVERIES).collect();
            let results: Vec<Outcome> = std::thread::scope(|scope| {
                let handles: Vec<_> = batch
                    .into_iter()
                    .map(|d| scope.spawn(move || self.act(d)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| {
                        h.join().unwrap_or_else(|_| {
                            tracing::error!("a delivery's thread panicked");
                            Outcome::Done
                        })
                    })
                    .collect()
            });
            out.extend(results);
        }
        out
    }

    /// The executor of one decision.
    fn act(&self, d: Decision) -> Outcome {
        let now = self.clock.now();
        match d {
            Decision::Track(t) => self.track(*t),
            Decision::Publish(e) => self.emit(e),
            Decision::Announce(e) => self.reporter.announce(&e),
            Decision::RecordQuality(q) => self.record_quality(q, now),
            Decision::Assign(order) => return Outcome::Assigned(self.carry_out(*order)),
            Decision::Propose(wa) => return Outcome::Proposed(*wa),
            Decision::MarkWorking { id } => {
                let _ = lock(&self.ledger).set_state(id, AssignmentState::Working, "", now);
            }
            Decision::MarkDone { assignment, reason } => {
                self.finish(&assignment, AssignmentState::Done, &reason, now)
            }
            Decision::MarkStalled { assignment, reason } => {
                self.finish(&assignment, AssignmentState::Failed, &reason, now);
                self.back_off(
                    &assignment.pane_id,
                    &assignment.bead_id,
                    BackoffReason::Stalled,
                    now,
                );
            }
            Decision::CloseInSource { bead_id } => {
                match self.work.close(&bead_id, "done (reported to gaffer)") {
                    Ok(outcome) => {
                        tracing::info!(bead = %bead_id, ?outcome, "closed in the work source (done in the ledger)");
                        // Closed now or already: not asked again, even when a stale file
                        // still lists it open.
                        lock(&self.state).closed_in_source.insert(bead_id.clone());
                    }
                    Err(e) => {
                        tracing::warn!(bead = %bead_id, error = %e, "could not close a done bead in the work source; will retry")
                    }
                }
                lock(&self.state).unsynced_done.retain(|b| b != &bead_id);
            }
            Decision::MarkGone { assignment, reason } => {
                self.finish(&assignment, AssignmentState::Failed, &reason, now)
            }
            Decision::HandBack {
                assignment,
                status,
                reason,
                back_off,
            } => self.hand_back(&assignment, status, &reason, back_off, now),
            Decision::Redeliver { assignment } => self.redeliver(&assignment),
            Decision::Restart {
                pane_id,
                agent_type,
                attempt,
                reason,
            } => {
                return Outcome::Restarted(self.restart(&pane_id, &agent_type, attempt, &reason));
            }
            Decision::StopRestarts {
                pane_id,
                restarts,
                window,
            } => self.stop_restarts(&pane_id, restarts, window, now),
            Decision::Compact {
                pane_id,
                agent_type,
                command,
                context_before,
            } => self.compact(&pane_id, &agent_type, &command, context_before, now),
            Decision::Compacted {
                pane_id,
                context_before,
                context_after,
            } => self.compacted(&pane_id, context_before, context_after, now),
            Decision::ReleaseReservations { holder, patterns } => {
                if let Some(mb) = &self.mailbox {
                    let _ = mb.release(self.project(), &holder, &patterns);
                }
            }
            Decision::ClearBackoff { bead_id } => lock(&self.state).backoff.clear_bead(&bead_id),
            Decision::ReloadBackoff => {
                let mut book = lock(&self.state).backoff.clone();
                if lock(&self.ledger).load_backoff(&mut book).is_ok() {
                    lock(&self.state).backoff = book;
                }
            }
            Decision::TrackConflicts(found) => {
                lock(&self.state).conflicts = found
                    .iter()
                    .map(|c| (c.conflict.id.clone(), c.clone()))
                    .collect();
                return Outcome::Conflicts(found);
            }
            Decision::NotifyConflict(c) => {
                let _ = self.notify_conflict(&c);
            }
            Decision::RequestRelease {
                conflict,
                holder,
                requester,
            } => {
                let _ = self.request_release(&conflict, &holder, &requester);
            }
            Decision::SendDigest {
                digest,
                importance,
                to,
            } => {
                let sent = self.send_digest_to(&digest, importance, to);
                return Outcome::Digest(digest, sent);
            }
            Decision::RaiseAlert { source, error } => self.raise_alert(source, &error, now),
            Decision::ClearAlert { source } => self.clear_alert(source, now),
        }
        Outcome::Done
    }

    /// Reports an event: the ledger's event log, the bus, every other consumer.
    pub(crate) fn emit(&self, event: CoordinatorEvent) {
        self.reporter.report(&event);
    }

    fn track(&self, t: Tracking) {
        let mut st = lock(&self.state);
        st.agents = t.agents;
        st.gone = t.gone;
        st.tmux_loss = t.tmux_loss;
        st.hosts_down = t.hosts_down;
        st.hosts_back = t.hosts_back;
        st.limit_until = t.rate_limits;
        st.problems = t.problems;
        st.last_update = t.observed_at.or(st.last_update);
        st.tracked.extend(t.assignments);
    }

    fn record_quality(&self, q: QualitySignal, now: Timestamp) {
        let mut st = lock(&self.state);
        match q {
            QualitySignal::ContextUsage {
                pane_id,
                agent_type,
                usage,
            } => st
                .quality
                .record_context_usage(&pane_id, &agent_type, usage, now),
            QualitySignal::AgentError {
                pane_id,
                agent_type,
            } => st.quality.record_agent_error(&pane_id, &agent_type, now),
            QualitySignal::AgentRecovered { pane_id } => st.quality.record_agent_recovery(&pane_id),
        }
    }

    fn raise_alert(&self, source: Source, error: &str, now: Timestamp) {
        let event = {
            let mut st = lock(&self.state);
            let slot = match source {
                Source::Mail => &mut st.mail_degraded,
                Source::Work => &mut st.work_degraded,
                Source::Tmux => &mut st.tmux_lost,
            };
            if slot.replace(error.to_string()).is_some() {
                return;
            }
            self.degraded_event(source, error, now)
        };
        self.emit(event);
    }

    /// The event that says `source` is degraded (tmux: lost) with `error`.
    pub(crate) fn degraded_event(
        &self,
        source: Source,
        error: &str,
        now: Timestamp,
    ) -> CoordinatorEvent {
        match source {
            Source::Mail => CoordinatorEvent::new(CoordinatorEventType::MailDegraded, now)
                .with_detail("error", error),
            Source::Work => CoordinatorEvent::new(CoordinatorEventType::WorkSourceDegraded, now)
                .with_detail("source", self.work.name())
                .with_detail("error", error),
            Source::Tmux => CoordinatorEvent::new(CoordinatorEventType::TmuxLost, now)
                .with_detail("session", self.id.session.as_str())
                .with_detail("error", error),
        }
    }

    fn clear_alert(&self, source: Source, now: Timestamp) {
        let was = {
            let mut st = lock(&self.state);
            match source {
                Source::Mail => st.mail_degraded.take(),
                Source::Work => st.work_degraded.take(),
                Source::Tmux => st.tmux_lost.take(),
            }
        };
        if was.is_none() {
            return;
        }
        self.emit(match source {
            Source::Mail => CoordinatorEvent::new(CoordinatorEventType::MailRecovered, now),
            Source::Work => CoordinatorEvent::new(CoordinatorEventType::WorkSourceRecovered, now)
                .with_detail("source", self.work.name()),
            Source::Tmux => CoordinatorEvent::new(CoordinatorEventType::TmuxRestored, now)
                .with_detail("session", self.id.session.as_str())
                .with_detail("lost", was.unwrap_or_default()),
        });
    }

    /// A mailbox call failed while acting: the mailbox is degraded.
    pub(crate) fn mail_degraded(&self, error: &str) {
        let before = lock(&self.state).mail_degraded.clone();
        if let Some(d) = source_alert(Source::Mail, before.as_deref(), Err(error)) {
            self.act(d);
        }
    }

    /// Ends an assignment: the ledger first, then its reservations and claim are undone, a
    /// done bead clears its back-offs, and the end is reported.
    fn finish(&self, a: &ActiveAssignment, to: AssignmentState, why: &str, now: Timestamp) {
        let kind = match to {
            AssignmentState::Done => CoordinatorEventType::WorkCompleted,
            _ => CoordinatorEventType::AssignmentRefused,
        };
        if let Some(e) = self.end(a, to, why, kind, now) {
            self.emit(e);
        }
    }

    /// Ends an assignment in the ledger, undoes its reservations and claim; the event to report,
    /// `None` when the ledger refused (it ended already).
    fn end(
        &self,
        a: &ActiveAssignment,
        to: AssignmentState,
        why: &str,
        kind: CoordinatorEventType,
        now: Timestamp,
    ) -> Option<CoordinatorEvent> {
        if lock(&self.ledger).set_state(a.id, to, why, now).is_err() {
            return None;
        }
        lock(&self.state).tracked.remove(&a.id);
        if !a.reserved.is_empty() {
            if let Some(mb) = &self.mailbox {
                let _ = mb.release(self.project(), a.holder(), &a.reserved);
            }
        }
        // An offer ended before its claim was confirmed (a crash mid-attempt) may hold no
        // claim: it is undone only when the work source says the agent holds the bead.
        if to != AssignmentState::Done && a.claimed {
            if a.stage == Stage::Offered {
                self.undo_claim_if_held(a.id, &a.bead_id, a.holder());
            } else {
                self.undo_claim(a.id, &a.bead_id, a.holder());
            }
        }
        if to == AssignmentState::Done {
            lock(&self.state).backoff.clear_bead(&a.bead_id);
            self.claim_won(&a.bead_id);
        }
        Some(
            CoordinatorEvent::new(kind, now)
                .with_agent(a.pane_id.clone())
                .with_detail("bead_id", a.bead_id.clone())
                .with_detail("state", to.as_str())
                .with_detail("reason", why),
        )
    }

    /// Takes an assignment back: it fails (claim undone, reservations released) so the bead
    /// goes to the next round; a stuck agent also backs off from the bead and is told by mail.
    fn hand_back(
        &self,
        a: &ActiveAssignment,
        status: AgentStatus,
        why: &str,
        back_off: bool,
        now: Timestamp,
    ) {
        let kind = CoordinatorEventType::WorkHandedBack;
        let Some(event) = self.end(a, AssignmentState::Failed, why, kind, now) else {
            return;
        };
        if back_off {
            self.back_off(&a.pane_id, &a.bead_id, BackoffReason::TakenBack, now);
        }
        let told = back_off && self.tell_handed_back(a, why);
        self.emit(
            event
                .with_detail("status", status.as_str())
                .with_detail("agent_told", told),
        );
    }

    /// Tells the agent by mail that its bead was taken back; whether the message went.
    fn tell_handed_back(&self, a: &ActiveAssignment, why: &str) -> bool {
        let (Some(mb), false) = (&self.mailbox, a.agent_name.is_empty()) else {
            return false;
        };
        let msg = OutgoingMessage {
            sender: self.sender(),
            to: vec![a.agent_name.clone()],
            subject: format!("[{}] handed back: stop working on it", a.bead_id),
            body_md: format!(
                "gaffer took bead `{}` back from you ({why}).\n\nStop working on it and leave \
                 its files alone: it goes to another agent, and it will not be offered to you \
                 again for a while.",
                a.bead_id
            ),
            importance: Importance::High,
            ack_required: false,
            ..Default::default()
        };
        match mb.send_message(self.project(), &msg) {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(bead = %a.bead_id, error = %e, "could not tell the agent");
                false
            }
        }
    }

    /// Relaunches an agent in its pane: the launch command recorded at spawn, else its kind's;
    /// the ledger records the attempt first (a failed one counts towards the crash loop).
    fn restart(
        &self,
        pane: &str,
        agent_type: &str,
        attempt: u32,
        why: &str,
    ) -> Result<(), CoordinatorError> {
        let now = self.clock.now();
        let (command, source) = match self.panes.launch_command(pane) {
            Ok(Some(c)) => (Some(c), "spawn record"),
            Ok(None) | Err(_) => {
                let registry = gaffer_core::kinds::registry();
                let known = !agent_type.is_empty() && registry.get(agent_type).is_some();
                (known.then(|| registry.launch(agent_type)), "kind registry")
            }
        };
        let kind = if attempt == 0 {
            RestartKind::Manual
        } else {
            RestartKind::Auto
        };
        let _ = lock(&self.ledger).record_restart(pane, kind, why, now);
        let done = match &command {
            Some(c) => self
                .panes
                .respawn(pane, c)
                .map_err(|e| CoordinatorError::Restart(e.to_string())),
            None => Err(CoordinatorError::Restart(format!(
                "no launch command for {pane}: no spawn record and no known agent kind"
            ))),
        };
        let event = match &done {
            Ok(()) => CoordinatorEvent::new(CoordinatorEventType::AgentRestarted, now)
                .with_detail("command_source", source),
            Err(e) => CoordinatorEvent::new(CoordinatorEventType::AgentRestartFailed, now)
                .with_detail("error", e.to_string()),
        };
        self.emit(
            event
                .with_agent(pane)
                .with_detail("attempt", attempt)
                .with_detail("by", if attempt == 0 { "hand" } else { "gaffer" })
                .with_detail("reason", why),
        );
        done
    }

    /// A crash loop: restarting stops (recorded, so it is alerted once).
    fn stop_restarts(&self, pane: &str, restarts: u32, window: f64, now: Timestamp) {
        let why = format!("{restarts} restarts within {window:.0}s");
        if lock(&self.ledger)
            .record_restart(pane, RestartKind::Halted, &why, now)
            .is_err()
        {
            return;
        }
        self.emit(
            CoordinatorEvent::new(CoordinatorEventType::AgentCrashLoop, now)
                .with_agent(pane)
                .with_detail("restarts", restarts)
                .with_detail("window_secs", window)
                .with_detail("reason", why),
        );
    }

    /// Delivers an assignment's prompt again to its restarted agent; when it does not take it,
    /// the assignment is handed back and the pair backs off.
    fn redeliver(&self, a: &ActiveAssignment) {
        let Ok(rec) = lock(&self.ledger).get(a.id) else {
            return;
        };
        let now = self.clock.now();
        let issue = (self.issues)(now)
            .ok()
            .and_then(|r| r.issues.into_iter().find(|i| i.id == a.bead_id));
        let bead = TriageRecommendation {
            id: a.bead_id.clone(),
            title: rec.assignment.bead_title.clone(),
            priority: issue.as_ref().map_or(2, |i| i.priority),
            issue_type: issue
                .as_ref()
                .map(|i| i.issue_type.clone())
                .unwrap_or_default(),
            ..Default::default()
        };
        let description = issue.and_then(|i| i.description).unwrap_or_default();
        let prompt = assignment_prompt(&PromptInput {
            bead: &bead,
            description: &description,
            files: &rec.assignment.files,
            agent_name: &a.agent_name,
            has_br: self.work.name() == "br",
        });
        let opts = DeliveryOptions {
            deadline: lock(&self.config).assign.delivery_deadline,
            ..Default::default()
        };
        let probe = Arc::clone(&self.probe);
        let mut check = probe.start(&a.pane_id, &prompt);
        let outcome = self
            .panes
            .deliver(&a.pane_id, &prompt, &opts, check.as_mut());
        let now = self.clock.now();
        match outcome {
            Ok(r) if r.outcome == DeliveryOutcome::Delivered => {
                if lock(&self.ledger).set_redelivered(a.id, now).is_ok() {
                    self.emit(
                        CoordinatorEvent::new(CoordinatorEventType::WorkRedelivered, now)
                            .with_agent(a.pane_id.clone())
                            .with_detail("bead_id", a.bead_id.clone())
                            .with_detail("attempts", r.attempts),
                    );
                }
            }
            other => {
                let why = match other {
                    Err(e) => format!("redelivery failed: {e}"),
                    Ok(_) => "redelivery failed: the agent did not take the prompt".into(),
                };
                self.back_off(&a.pane_id, &a.bead_id, BackoffReason::DeliveryFailed, now);
                self.hand_back(a, AgentStatus::Waiting, &why, false, now);
            }
        }
    }

    /// Sends an idle agent its kind's compact command, delivered like a prompt. The attempt is
    /// recorded (ledger and memory) whatever its outcome, so the back-off holds for a failed one
    /// too, and across a restart of the coordinator.
    fn compact(
        &self,
        pane: &str,
        agent_type: &str,
        command: &str,
        context_before: f64,
        now: Timestamp,
    ) {
        let mut record = gaffer_core::cycle::Compaction {
            at: now,
            context_before,
            done: false,
        };
        // Recorded before it is sent: a coordinator killed while it waits does not send it again
        // within the back-off.
        self.record_compaction(pane, &record);
        let opts = DeliveryOptions {
            deadline: lock(&self.config).assign.delivery_deadline,
            ..Default::default()
        };
        let probe = Arc::clone(&self.probe);
        let mut check = probe.start(pane, command);
        let outcome = self.panes.deliver(pane, command, &opts, check.as_mut());
        match outcome {
            Ok(r) if r.outcome == DeliveryOutcome::Delivered => {
                self.emit(
                    CoordinatorEvent::new(CoordinatorEventType::AgentCompacting, now)
                        .with_agent(pane.to_string())
                        .with_detail("agent_type", agent_type.to_string())
                        .with_detail("command", command.to_string())
                        .with_detail("context_before", context_before),
                );
            }
            other => {
                let why = match other {
                    Err(e) => e.to_string(),
                    Ok(r) => format!("the agent did not take it ({:?})", r.outcome),
                };
                tracing::warn!(pane, command, "compact command not delivered: {why}");
                record.done = true;
                self.record_compaction(pane, &record);
            }
        }
    }

    /// Keeps a pane's last compaction in memory and in the ledger. A failed write (a full
    /// disk) is logged and tried again at the next poll ([`Shared::save_unsaved_compactions`]):
    /// memory holds the back-off meanwhile.
    fn record_compaction(&self, pane: &str, c: &gaffer_core::cycle::Compaction) {
        let saved = lock(&self.ledger).save_compaction(pane, c);
        let mut st = lock(&self.state);
        st.compactions.insert(pane.to_string(), *c);
        match saved {
            Ok(()) => {
                st.unsaved_compactions.remove(pane);
            }
            Err(e) => {
                tracing::warn!(pane, error = %e, "could not record a compaction in the ledger; will retry");
                st.unsaved_compactions.insert(pane.to_string());
            }
        }
    }

    /// Writes the compactions whose ledger write failed (so a restarted coordinator does not
    /// report a compaction it saw done as done again, or compact within the back-off).
    pub(crate) fn save_unsaved_compactions(&self) {
        let pending: Vec<(String, gaffer_core::cycle::Compaction)> = {
            let st = lock(&self.state);
            st.unsaved_compactions
                .iter()
                .filter_map(|p| Some((p.clone(), *st.compactions.get(p)?)))
                .collect()
        };
        for (pane, c) in pending {
            if lock(&self.ledger).save_compaction(&pane, &c).is_ok() {
                lock(&self.state).unsaved_compactions.remove(&pane);
            }
        }
    }

    /// A compacted agent's context went down: `agent_compacted`, and the compaction is done.
    fn compacted(
        &self,
        pane: &str,
        context_before: f64,
        context_after: Option<f64>,
        now: Timestamp,
    ) {
        let done = lock(&self.state).compactions.get_mut(pane).map(|c| {
            c.done = true;
            *c
        });
        if let Some(c) = done {
            self.record_compaction(pane, &c);
        }
        self.emit(
            CoordinatorEvent::new(CoordinatorEventType::AgentCompacted, now)
                .with_agent(pane.to_string())
                .with_detail("context_before", context_before)
                .with_detail("context_after", context_after),
        );
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

    /// Carries one assignment out: offer, claim, reserve, deliver, confirm. A failure at any
    /// step undoes the earlier ones and is recorded.
    fn carry_out(&self, order: AssignOrder) -> AssignmentResult {
        let mut run = Attempt {
            shared: self,
            actor: if order.agent.agent_mail_name.is_empty() {
                order.agent.pane_id.clone()
            } else {
                order.agent.agent_mail_name.clone()
            },
            order,
            id: 0,
            claimed: false,
            reserved: Vec::new(),
            now: self.clock.now(),
        };
        let done = run
            .offer()
            .and_then(|()| run.claim())
            .and_then(|()| run.reserve())
            .and_then(|()| run.deliver());
        match done {
            Ok(()) => run.confirm(),
            Err(error) => AssignmentResult {
                success: false,
                assignment: Some(run.order.assignment),
                error,
                reservations: Vec::new(),
                message_sent: false,
            },
        }
    }

    pub(crate) fn notify_conflict(&self, conflict: &Conflict) -> Result<(), CoordinatorError> {
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

    pub(crate) fn request_release(
        &self,
        conflict: &Conflict,
        holder: &Holder,
        requester: &str,
    ) -> Result<(), CoordinatorError> {
        let mb = self
            .mailbox
            .as_ref()
            .ok_or(CoordinatorError::MailUnavailable)?;
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

    fn send_digest_to(
        &self,
        d: &DigestSummary,
        importance: Importance,
        to: String,
    ) -> Result<(), CoordinatorError> {
        let Some(mb) = &self.mailbox else {
            return Ok(());
        };
        let msg = OutgoingMessage {
            sender: self.sender(),
            to: vec![to],
            subject: format!("Session Digest: {}", d.session),
            body_md: render_markdown(d, &self.sender()),
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
        Ok(())
    }
}

/// One assignment being carried out, step by step.
struct Attempt<'a> {
    shared: &'a Shared,
    order: AssignOrder,
    /// The name the agent claims and reserves under.
    actor: String,
    /// Its ledger id, once offered.
    id: i64,
    claimed: bool,
    reserved: Vec<String>,
    now: Timestamp,
}

impl Attempt<'_> {
    /// 1. The ledger first: the offer (refused when the bead is already taken).
    fn offer(&mut self) -> Result<(), String> {
        let (bead, agent, wa) = (&self.order.bead, &self.order.agent, &self.order.assignment);
        let new = NewAssignment {
            bead_id: bead.id.clone(),
            bead_title: bead.title.clone(),
            agent_pane_id: agent.pane_id.clone(),
            agent_name: agent.agent_mail_name.clone(),
            agent_type: agent.agent_type.clone(),
            score: wa.score,
            files: wa.files_to_reserve.clone(),
        };
        match lock(&self.shared.ledger).offer(&new, self.now) {
            Ok(Offer::Created(id)) => {
                self.id = id;
                Ok(())
            }
            Ok(Offer::Taken(r)) => Err(format!(
                "bead {} is already assigned to {}",
                bead.id, r.assignment.agent_pane_id
            )),
            Err(e) => Err(format!("ledger: {e}")),
        }
    }

    /// Undoes what was done (claim, reservations) and records the failure; returns `why`.
    fn abort(&self, why: String) -> String {
        let s = self.shared;
        let now = s.clock.now();
        let _ = lock(&s.ledger).set_state(self.id, AssignmentState::Failed, &why, now);
        if self.claimed {
            s.undo_claim(self.id, &self.order.bead.id, &self.actor);
        }
        if !self.reserved.is_empty() {
            if let Some(mb) = &s.mailbox {
                let _ = mb.release(s.project(), &self.actor, &self.reserved);
            }
        }
        why
    }

    fn back_off(&self) {
        self.shared.back_off(
            &self.order.agent.pane_id,
            &self.order.bead.id,
            BackoffReason::DeliveryFailed,
            self.now,
        );
    }

    /// 2. Claim the bead in the work source.
    ///
    /// The ledger marks the claim before the work source is asked: a claim whose answer is
    /// lost (the tool timed out after writing it) is then still undone by the retry pass,
    /// which first asks who holds the bead. A claim lost to someone else makes the bead taken
    /// for every agent until its re-check (`Shared::claim_lost`).
    fn claim(&mut self) -> Result<(), String> {
        let s = self.shared;
        let bead = self.order.bead.id.clone();
        let _ = lock(&s.ledger).set_claimed(self.id, true, self.now);
        let nothing_held = |s: &Shared, id: i64| {
            let _ = lock(&s.ledger).set_claim_undone(id);
        };
        match s.work.claim(&bead, &self.actor) {
            Ok(ClaimOutcome::Claimed { .. }) => {
                self.claimed = true;
                s.claim_won(&bead);
                Ok(())
            }
            Ok(ClaimOutcome::ReadOnly) => {
                nothing_held(s, self.id);
                Ok(())
            }
            Ok(ClaimOutcome::AlreadyClaimed { holder, .. }) => {
                nothing_held(s, self.id);
                let why = format!(
                    "claim lost: {} holds it",
                    holder.as_deref().unwrap_or("someone")
                );
                let why = self.abort(why);
                s.claim_lost(&bead, holder.as_deref(), s.clock.now());
                Err(why)
            }
            Ok(ClaimOutcome::NotClaimable { reason, .. }) => {
                nothing_held(s, self.id);
                Err(self.abort(format!("not claimable: {reason}")))
            }
            // The claim may have been written: the ledger keeps it marked for the retry pass.
            Err(e) => Err(self.abort(format!("claim failed: {e}"))),
        }
    }

    /// 3. Reserve the files it mentions, exclusively; a clash with another agent fails it.
    fn reserve(&mut self) -> Result<(), String> {
        let s = self.shared;
        let files = &self.order.assignment.files_to_reserve;
        let Some(mb) = (!files.is_empty()).then_some(()).and(s.mailbox.as_ref()) else {
            return Ok(());
        };
        let req = ReserveRequest {
            agent: self.actor.clone(),
            paths: files.clone(),
            ttl: lock(&s.config).mail.reservation_ttl,
            exclusive: true,
            reason: self.order.bead.id.clone(),
        };
        match mb.reserve_paths(s.project(), &req) {
            Ok(res) => {
                self.reserved = res.granted.iter().map(|r| r.path_pattern.clone()).collect();
                let clash = gaffer_core::cycle::plan::clashing_paths(&res.conflicts, &self.actor);
                if !clash.is_empty() {
                    self.back_off();
                    return Err(
                        self.abort(format!("files held by another agent: {}", clash.join(", ")))
                    );
                }
                let _ = lock(&s.ledger).set_reserved(self.id, &self.reserved, self.now);
                Ok(())
            }
            Err(e) => {
                s.mail_degraded(&e.to_string());
                Err(self.abort(format!("reservation failed: {e}")))
            }
        }
    }

    /// 4. Deliver the prompt, verified: the agent must take it (leave WAITING, or answer on screen).
    fn deliver(&mut self) -> Result<(), String> {
        let s = self.shared;
        let (bead, agent) = (&self.order.bead, &self.order.agent);
        let description = bead
            .extra
            .get("description")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let prompt = assignment_prompt(&PromptInput {
            bead,
            description,
            files: &self.order.assignment.files_to_reserve,
            agent_name: &agent.agent_mail_name,
            has_br: s.work.name() == "br",
        });
        let opts = DeliveryOptions {
            deadline: lock(&s.config).assign.delivery_deadline,
            ..Default::default()
        };
        let probe = Arc::clone(&s.probe);
        let mut check = probe.start(&agent.pane_id, &prompt);
        match s
            .panes
            .deliver(&agent.pane_id, &prompt, &opts, check.as_mut())
        {
            Ok(report) if report.outcome == DeliveryOutcome::Delivered => Ok(()),
            Ok(report) => {
                self.back_off();
                s.emit(
                    CoordinatorEvent::new(CoordinatorEventType::PromptStalled, s.clock.now())
                        .with_agent(agent.pane_id.clone())
                        .with_detail("bead_id", bead.id.clone())
                        .with_detail("attempts", report.attempts),
                );
                Err(self.abort("prompt_stalled: the agent did not take the prompt".into()))
            }
            Err(e) => {
                self.back_off();
                Err(self.abort(format!("delivery failed: {e}")))
            }
        }
    }

    /// 5. Delivered: the ledger records it, the agent is told by mail, the event is reported.
    fn confirm(self) -> AssignmentResult {
        let s = self.shared;
        let now = s.clock.now();
        let (bead, agent, wa) = (&self.order.bead, &self.order.agent, &self.order.assignment);
        let _ = lock(&s.ledger).set_state(self.id, AssignmentState::Delivered, "", now);
        {
            let mut st = lock(&s.state);
            st.tracked.insert(self.id);
            if let Some(a) = st.agents.get_mut(&agent.pane_id) {
                a.current_task = bead.id.clone();
                a.assignments = a.assignments.max(0) + 1;
                a.last_assigned_at = Some(now);
                a.reservations = self.reserved.clone();
            }
        }
        let mut message_sent = false;
        if let (Some(mb), false) = (&s.mailbox, agent.agent_mail_name.is_empty()) {
            let m = assignment_message(bead, wa.score);
            let msg = OutgoingMessage {
                sender: s.sender(),
                to: vec![agent.agent_mail_name.clone()],
                subject: m.subject,
                body_md: m.body,
                importance: Importance::Normal,
                ack_required: true,
                ..Default::default()
            };
            message_sent = mb.send_message(s.project(), &msg).is_ok();
        }
        s.emit(
            CoordinatorEvent::new(CoordinatorEventType::WorkAssigned, now)
                .with_agent(agent.pane_id.clone())
                .with_detail("bead_id", bead.id.clone())
                .with_detail("bead_title", bead.title.clone())
                .with_detail("agent_type", agent.agent_type.clone())
                .with_detail("score", wa.score),
        );
        AssignmentResult {
            success: true,
            assignment: Some(self.order.assignment),
            error: String::new(),
            reservations: self.reserved,
            message_sent,
        }
    }
}
