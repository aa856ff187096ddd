//! Assignment: which agents and beads take part, the planning options, the plan, and failing
//! closed when reservations cannot be read.

use super::{AssignOrder, Decision, Policy, Snapshot, Source, agents, source_alert};
use crate::agent::AgentState;
use crate::assign::paths::{HolderId, HolderIndex};
use crate::assign::{PlanOptions, ReservationMap, is_claimable, plan_assignments, strategy_config};
use crate::assignment::{Assignment, AssignmentStrategy, ScoreConfig, WorkAssignment};
use crate::mailbox::{PathConflict, Reservation};
use crate::text::{extract_mentioned_files, mentioned_files};
use crate::time::Timestamp;
use crate::triage::TriageRecommendation;
use std::collections::{BTreeMap, BTreeSet};

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
pub fn assignable<'a>(
    recs: &'a [TriageRecommendation],
    taken: &BTreeSet<String>,
) -> Vec<&'a TriageRecommendation> {
    recs.iter()
        .filter(|r| is_claimable(r) && !taken.contains(&r.id))
        .collect()
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

/// The files a bead mentions (in its title and description).
fn files_of(r: &TriageRecommendation) -> impl Iterator<Item = &str> {
    let description = r
        .extra
        .get("description")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    mentioned_files(&r.title, description)
}

/// The holders (named, ascending, distinct) of the active reservations that overlap a file
/// the bead mentions, into `out`; `buf` is scratch space.
fn holders_of(
    index: &HolderIndex<'_>,
    r: &TriageRecommendation,
    buf: &mut Vec<HolderId>,
    out: &mut Vec<HolderId>,
) {
    out.clear();
    for f in files_of(r) {
        index.holder_ids_into(f, buf);
        out.extend_from_slice(buf);
    }
    out.retain(|&id| index.name(id).is_some_and(|n| !n.is_empty()));
    out.sort_unstable();
    out.dedup();
}

/// The reservation rules over a round's work (`index` holds the active reservations,
/// [`reservation_map`] at the pass's moment):
/// - a bead that mentions a file an active reservation of someone other than the idle agents
///   covers is dropped from `work`: its reservation would clash and the attempt fail, so it
///   waits until the holder releases (another bead is planned in the same round);
/// - a bead whose files idle agents hold goes only to an idle agent holding every such
///   reservation (for any other, its reservation would clash, the attempt fail, and the next
///   agent try it in the next round): returned as bead id → the panes that may take it
///   (possibly none).
pub fn held_work(
    index: &HolderIndex<'_>,
    idle: &[AgentState],
    work: &mut Vec<&TriageRecommendation>,
) -> BTreeMap<String, Vec<String>> {
    // Each idle agent's names (pane id, Agent Mail name) as holder ids, when it holds anything.
    let agents: Vec<(&AgentState, [Option<HolderId>; 2])> = idle
        .iter()
        .map(|a| {
            let id = |n: &str| (!n.is_empty()).then(|| index.id_of(n)).flatten();
            (a, [id(&a.pane_id), id(&a.agent_mail_name)])
        })
        .collect();
    let mut idle_ids: Vec<HolderId> = agents
        .iter()
        .flat_map(|(_, ids)| ids.iter().flatten())
        .copied()
        .collect();
    idle_ids.sort_unstable();
    idle_ids.dedup();
    let mut only_for: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let (mut buf, mut holders) = (Vec::new(), Vec::new());
    work.retain(|r| {
        holders_of(index, r, &mut buf, &mut holders);
        if holders.is_empty() {
            return true;
        }
        if holders.iter().any(|h| idle_ids.binary_search(h).is_err()) {
            return false;
        }
        let allowed: Vec<String> = agents
            .iter()
            .filter(|(_, own)| holders.iter().all(|h| own.contains(&Some(*h))))
            .map(|(a, _)| a.pane_id.clone())
            .collect();
        // A bead id listed twice: kept from every agent kept from either.
        match only_for.get_mut(&r.id) {
            Some(before) => before.retain(|p| allowed.contains(p)),
            None => {
                only_for.insert(r.id.clone(), allowed);
            }
        }
        true
    });
    only_for
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
            let needs = |r: &TriageRecommendation| mentioned_files(&r.title, "").next().is_some();
            work.retain(|r| !needs(r));
            ReservationMap::new()
        }
        None => ReservationMap::new(),
    };
    // One overlap index of the active reservations serves the reservation rules and both
    // rounds.
    let index = HolderIndex::new(&map);
    let only_for = match &snap.reservations {
        Some(Ok(_)) => held_work(&index, &idle, &mut work),
        _ => BTreeMap::new(),
    };
    let strategy = strategy.unwrap_or(policy.strategy);
    let scoring = scoring_for(policy, strategy);
    let mut opts = options(snap, scoring);
    opts.holder_index = Some(&index);
    if !only_for.is_empty() {
        opts.only_for = Some(&only_for);
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
    let rest_work: Vec<&TriageRecommendation> = work
        .iter()
        .copied()
        .filter(|r| !planned.contains(r.id.as_str()))
        .collect();
    if rest_agents.is_empty() || rest_work.is_empty() {
        return;
    }
    let mut plain = scoring.unwrap_or_else(|| strategy_config(strategy));
    if !plain.use_agent_profiles {
        return;
    }
    plain.use_agent_profiles = false;
    // the beads held by an idle agent kept for it, as in the first pass
    let only_for = opts.only_for;
    let mut opts = options(snap, Some(plain));
    opts.holder_index = Some(&index);
    opts.only_for = only_for;
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
