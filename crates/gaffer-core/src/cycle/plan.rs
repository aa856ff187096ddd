//! Assignment: which agents and beads take part, the planning options, the plan, and failing
//! closed when reservations cannot be read.

use super::{AssignOrder, Decision, Policy, Snapshot, Source, agents, source_alert};
use crate::agent::AgentState;
use crate::assign::{
    BackoffEntry, BackoffReason, PlanOptions, ReservationMap, is_claimable, plan_assignments,
    strategy_config,
};
use crate::assignment::{Assignment, AssignmentStrategy, ScoreConfig, WorkAssignment};
use crate::conflicts::ReservationIndex;
use crate::mailbox::{PathConflict, Reservation};
use crate::text::extract_mentioned_files;
use crate::time::Timestamp;
use crate::triage::TriageRecommendation;
use std::borrow::Cow;
use std::collections::BTreeSet;

/// The planning options of a pass: back-offs and agent quality from the snapshot, and the
/// scoring terms given (the configured ones apply to the configured strategy only).
pub fn options(snap: &Snapshot, scoring: Option<ScoreConfig>) -> PlanOptions<'_> {
    PlanOptions {
        backoff: Some(&snap.ledger.backoff),
        now: Some(snap.now),
        agent_quality: snap.quality.agent_scores.clone(),
        config: scoring,
        ..Default::default()
    }
}

/// The configured scoring terms when `strategy` is the configured strategy.
pub fn scoring_for(policy: &Policy, strategy: AssignmentStrategy) -> Option<ScoreConfig> {
    (strategy == policy.strategy).then_some(policy.scoring)
}

/// Work that can be offered: claimable recommendations no active or done assignment holds.
/// Borrows when every recommendation qualifies.
pub fn assignable<'a>(
    recs: &'a [TriageRecommendation],
    taken: &BTreeSet<String>,
) -> Cow<'a, [TriageRecommendation]> {
    let ok = |r: &TriageRecommendation| is_claimable(r) && !taken.contains(&r.id);
    if recs.iter().all(ok) {
        Cow::Borrowed(recs)
    } else {
        Cow::Owned(recs.iter().filter(|r| ok(r)).cloned().collect())
    }
}

/// Active reservations as holder → patterns.
pub fn reservation_map(reservations: &[Reservation], now: Timestamp) -> ReservationMap {
    let mut map = ReservationMap::new();
    for r in reservations.iter().filter(|r| r.is_active(now)) {
        match map.get_mut(r.agent_name.as_str()) {
            Some(v) => v.push(r.path_pattern.clone()),
            None => {
                map.insert(r.agent_name.clone(), vec![r.path_pattern.clone()]);
            }
        }
    }
    map
}

/// The assignment record for a planned pair.
pub fn work_assignment(
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

/// The requested paths another agent holds, from a reservation's answer: a clash fails the
/// assignment (its own earlier reservations do not count).
pub fn clashing_paths(conflicts: &[PathConflict], actor: &str) -> Vec<String> {
    conflicts
        .iter()
        .filter(|c| c.holders.iter().any(|h| h.agent_name != actor))
        .map(|c| c.path.clone())
        .collect()
}

/// Whether a bead mentions a file that an active exclusive reservation of someone outside
/// `own` covers: its reservation would clash and the attempt fail, so it is not planned now
/// (another bead is, in the same round) and waits until the holder releases.
pub fn held_elsewhere<'a>(
    reservations: &'a [Reservation],
    own: &BTreeSet<&str>,
    now: Timestamp,
) -> impl Fn(&TriageRecommendation) -> bool + 'a {
    let others: Vec<Reservation> = reservations
        .iter()
        .filter(|r| r.is_active(now) && !own.contains(r.agent_name.as_str()))
        .cloned()
        .collect();
    let index = ReservationIndex::from_vec(others, now);
    move |r: &TriageRecommendation| {
        let description = r
            .extra
            .get("description")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        extract_mentioned_files(&r.title, description)
            .iter()
            .any(|f| !index.clashes("", f, true).is_empty())
    }
}

/// The (idle agent pane, bead) pairs to keep apart this round: the bead mentions a file that an
/// active exclusive reservation of another idle agent covers.
pub fn held_by_idle(
    reservations: &[Reservation],
    idle: &[AgentState],
    work: &[TriageRecommendation],
    now: Timestamp,
) -> Vec<(String, String)> {
    fn names(a: &AgentState) -> BTreeSet<&str> {
        [a.pane_id.as_str(), a.agent_mail_name.as_str()]
            .into_iter()
            .filter(|n| !n.is_empty())
            .collect()
    }
    let by_idle: Vec<Reservation> = reservations
        .iter()
        .filter(|r| {
            r.is_active(now)
                && idle
                    .iter()
                    .any(|a| names(a).contains(r.agent_name.as_str()))
        })
        .cloned()
        .collect();
    if by_idle.is_empty() {
        return Vec::new();
    }
    let index = ReservationIndex::from_vec(by_idle, now);
    let mut out = Vec::new();
    for r in work {
        let description = r
            .extra
            .get("description")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let holders: BTreeSet<&str> = extract_mentioned_files(&r.title, description)
            .iter()
            .flat_map(|f| index.clashes("", f, true))
            .filter_map(|i| index.get(i).map(|h| h.agent_name.as_str()))
            .collect();
        if holders.is_empty() {
            continue;
        }
        for a in idle {
            let own = names(a);
            if holders.iter().any(|h| !own.contains(h)) {
                out.push((a.pane_id.clone(), r.id.clone()));
            }
        }
    }
    out
}

/// Alerts for the work source and the mailbox as read in this pass.
fn alerts(snap: &Snapshot, out: &mut Vec<Decision>) {
    if let Some(w) = &snap.work {
        let now = w.as_ref().map(|_| ()).map_err(String::as_str);
        out.extend(source_alert(Source::Work, snap.health.work.as_deref(), now));
    }
    if let Some(r) = &snap.reservations {
        let now = r.as_ref().map(|_| ()).map_err(String::as_str);
        out.extend(source_alert(Source::Mail, snap.health.mail.as_deref(), now));
    }
}

/// An assignment round: idle agents × assignable work, planned with the strategy; tasks that
/// need reservations wait while reservations cannot be read (fail closed).
pub fn assign(
    snap: &Snapshot,
    policy: &Policy,
    strategy: Option<AssignmentStrategy>,
    dry_run: bool,
    out: &mut Vec<Decision>,
) {
    // Nothing is assigned while tmux is lost: no pane can be seen or typed into.
    if snap.health.tmux.is_some() || snap.tmux_loss.is_some() {
        return;
    }
    // Agents a human paused get nothing (`gaffer pause`).
    let idle: Vec<AgentState> = agents::idle(snap.agents.values(), policy, snap.now)
        .into_iter()
        .filter(|a| !snap.ledger.paused.is_paused(&a.pane_id))
        .cloned()
        .collect();
    if idle.is_empty() {
        return;
    }
    alerts(snap, out);
    let Some(Ok(triage)) = &snap.work else {
        return;
    };
    let mut work = assignable(&triage.triage.recommendations, &snap.ledger.taken);
    let map = match &snap.reservations {
        Some(Ok(rs)) => reservation_map(rs, snap.now),
        Some(Err(_)) => {
            // Fail closed: tasks that need reservations wait until Agent Mail is readable.
            let needs =
                |r: &TriageRecommendation| !extract_mentioned_files(&r.title, "").is_empty();
            if work.iter().any(needs) {
                work.to_mut().retain(|r| !needs(r));
            }
            ReservationMap::new()
        }
        None => ReservationMap::new(),
    };
    if let Some(Ok(rs)) = &snap.reservations {
        let own: BTreeSet<&str> = idle
            .iter()
            .flat_map(|a| [a.pane_id.as_str(), a.agent_mail_name.as_str()])
            .collect();
        let held = held_elsewhere(rs, &own, snap.now);
        if work.iter().any(&held) {
            work.to_mut().retain(|r| !held(r));
        }
    }
    let strategy = strategy.unwrap_or(policy.strategy);
    let scoring = scoring_for(policy, strategy);
    let mut opts = options(snap, scoring);
    // A bead whose files an idle agent holds goes to that agent only: for any other, its
    // reservation would clash, the attempt fail, and the next agent try it in the next round.
    let kept_back = match &snap.reservations {
        Some(Ok(rs)) => held_by_idle(rs, &idle, &work, snap.now),
        _ => Vec::new(),
    };
    let book;
    if !kept_back.is_empty() {
        let mut b = snap.ledger.backoff.clone();
        for (pane, bead) in &kept_back {
            b.restore(
                pane,
                bead,
                BackoffEntry {
                    failures: b.entry(pane, bead).map_or(0, |e| e.failures),
                    until: snap.now + chrono::Duration::seconds(1),
                    reason: BackoffReason::DeliveryFailed,
                },
            );
        }
        book = b;
        opts.backoff = Some(&book);
    }
    // One bead per agent and round (round-robin deals every bead out, several to an agent;
    // a second prompt would reach an agent already busy with the first).
    let mut served: BTreeSet<String> = BTreeSet::new();
    let mut given: BTreeSet<String> = BTreeSet::new();
    let mut emit = |a: Assignment, served: &mut BTreeSet<String>, out: &mut Vec<Decision>| {
        if !served.insert(a.agent.pane_id.clone()) || !given.insert(a.bead.id.clone()) {
            return;
        }
        let wa = work_assignment(&a.bead, &a.agent, a.score, snap.now);
        out.push(if dry_run {
            Decision::Propose(Box::new(wa))
        } else {
            Decision::Assign(Box::new(AssignOrder {
                bead: a.bead,
                agent: a.agent,
                assignment: wa,
            }))
        });
    };
    for a in plan_assignments(&work, &idle, strategy, &map, &opts) {
        emit(a, &mut served, out);
    }
    if strategy == AssignmentStrategy::RoundRobin {
        return;
    }
    // Agent-type and profile bonuses say who is better at a bead, not whether an idle agent
    // works: one that scored no bead above zero only because of them (a simple-work agent and
    // only features left) gets the rest on the strategy's other terms.
    let rest_agents: Vec<AgentState> = idle
        .iter()
        .filter(|a| !served.contains(&a.pane_id))
        .cloned()
        .collect();
    let planned: BTreeSet<&str> = out
        .iter()
        .filter_map(|d| match d {
            Decision::Assign(o) => Some(o.bead.id.as_str()),
            Decision::Propose(wa) => Some(wa.bead_id.as_str()),
            _ => None,
        })
        .collect();
    let rest_work: Vec<TriageRecommendation> = work
        .iter()
        .filter(|r| !planned.contains(r.id.as_str()))
        .cloned()
        .collect();
    if rest_agents.is_empty() || rest_work.is_empty() {
        return;
    }
    let mut plain = scoring.unwrap_or_else(|| strategy_config(strategy));
    if !plain.use_agent_profiles {
        return;
    }
    plain.use_agent_profiles = false;
    // the same back-offs as the first pass (the beads held by an idle agent kept for it)
    let backoff = opts.backoff;
    let mut opts = options(snap, Some(plain));
    opts.backoff = backoff;
    for a in plan_assignments(&rest_work, &rest_agents, strategy, &map, &opts) {
        emit(a, &mut served, out);
    }
}

/// The best work for one agent as if it were waiting (configured strategy, its default
/// scoring terms); a `Propose` or nothing.
pub fn suggest(snap: &Snapshot, policy: &Policy, pane_id: &str, out: &mut Vec<Decision>) {
    alerts(snap, out);
    let Some(agent) = snap.agents.get(pane_id) else {
        return;
    };
    let Some(Ok(triage)) = &snap.work else {
        return;
    };
    let work = assignable(&triage.triage.recommendations, &snap.ledger.taken);
    let map = match &snap.reservations {
        Some(Ok(rs)) => reservation_map(rs, snap.now),
        _ => ReservationMap::new(),
    };
    let mut candidate = agent.clone();
    candidate.status = crate::status::AgentStatus::Waiting;
    let opts = options(snap, None);
    let plan = plan_assignments(
        &work,
        std::slice::from_ref(&candidate),
        policy.strategy,
        &map,
        &opts,
    );
    if let Some(a) = plan.into_iter().next() {
        out.push(Decision::Propose(Box::new(work_assignment(
            &a.bead, agent, a.score, snap.now,
        ))));
    }
}
