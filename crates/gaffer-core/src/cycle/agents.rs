//! The observation merge: a fresh [`AgentsObservation`] onto the tracked agents.

use super::{
    AgentReport, AgentsObservation, GONE_KEPT_SECS, GoneAgent, Policy, QualitySignal, Snapshot,
    TMUX_LOST, TmuxLoss, Tracking,
};
use crate::agent::AgentState;
use crate::assign::{is_available, is_fresh_waiting};
use crate::detect::HOST_UNREACHABLE;
use crate::event::{CoordinatorEvent, CoordinatorEventType};
use crate::panes::pane_host;
use crate::persona::Persona;
use crate::status::AgentStatus;
use crate::time::Timestamp;
use crate::transitions::state_change_event;
use std::collections::{BTreeMap, BTreeSet};

/// The merge's result.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Merged {
    /// The new tracked state.
    pub tracking: Tracking,
    /// State changes, in pane order.
    pub events: Vec<CoordinatorEvent>,
    /// Signals for the quality monitor.
    pub quality: Vec<QualitySignal>,
}

/// Merges `obs` into the agents of `snap`: status (a rate-limited agent is waiting again once
/// the first announced reset has passed), context, activity, health, the Agent Mail name, a
/// persona from the title's tags, the active assignment count and current task. Agents not
/// observed are dropped. A changed status of a known agent is an event.
///
/// An agent's pane that vanished while tmux answered is `agent_gone` (kept in
/// [`Tracking::gone`] for the digest). An agent pane seen for the first time after an earlier
/// observation is `agent_appeared` (spawned later, or back after tmux restarted); so is an
/// agent held while tmux was lost and seen again (with `after_tmux_lost`).
///
/// When tmux itself is lost (see [`lost`]) the agents are held, not dropped, for the
/// policy's `tmux_grace`.
pub fn merge(snap: &Snapshot, obs: &AgentsObservation, policy: &Policy) -> Merged {
    if let Some(error) = &obs.tmux_lost {
        return lost(snap, obs, policy, error);
    }
    let now = snap.now;
    let mut agents = BTreeMap::new();
    let mut limits = BTreeMap::new();
    let mut events = Vec::new();
    let mut quality = Vec::new();
    // Errors and recoveries are recorded after every agent's context usage.
    let mut health = Vec::new();
    for o in &obs.agents {
        let pane = o.pane_id();
        let prev = snap.agents.get(pane);
        let mut agent = prev.cloned().unwrap_or_else(|| {
            AgentState::new(pane, o.pane.pane_index, o.pane.agent_type.clone(), now)
        });
        let before = agent.status;
        // An agent held while tmux was lost is announced by `agent_appeared` (with its status),
        // not by a change from the UNKNOWN it was held as.
        let was_held = agent.status_reason == TMUX_LOST;
        // An agent whose host went down or came back is announced once for the host
        // (`host_unreachable` / `host_reachable`), not by a status change per agent.
        let unreachable = o.observation.verdict.rule == HOST_UNREACHABLE;
        let host_flip = unreachable || agent.status_reason == HOST_UNREACHABLE;
        agent.pane_index = o.pane.pane_index;
        agent.window_index = o.pane.window_index;
        agent.agent_type.clone_from(&o.pane.agent_type);
        agent.title.clone_from(&o.pane.title);
        agent.status_reason.clear();
        if unreachable {
            agent.status_reason = HOST_UNREACHABLE.to_string();
        }
        agent.status = o.status();
        if o.status() == AgentStatus::RateLimited {
            // Left alone until the announced reset; after it, the agent is waiting. A relative
            // "after 2h13m" is read anew at each look, so the first reading counts.
            let until = snap
                .rate_limits
                .get(pane)
                .copied()
                .or_else(|| o.rate_limit_reset());
            if let Some(u) = until {
                limits.insert(pane.to_string(), u);
                if now >= u {
                    agent.status = AgentStatus::Waiting;
                }
            }
        }
        agent.context_usage = o.context_usage();
        agent.last_activity = o.last_activity;
        agent.healthy = o.health.healthy && o.status() != AgentStatus::Error;
        if let Some(name) = snap.names.get(pane) {
            agent.agent_mail_name.clone_from(name);
        }
        if !o.pane.tags.is_empty() && agent.profile.is_none() {
            agent.profile = Some(persona(o));
        }
        let mut count = 0;
        let mut task = "";
        for r in snap.ledger.active.iter().filter(|r| r.pane_id == pane) {
            count += 1;
            task = &r.bead_id;
        }
        agent.assignments = count;
        agent.current_task = task.to_string();
        if prev.is_some() && !was_held && !host_flip {
            if let Some(mut e) = state_change_event(before, &agent, now) {
                if let Some(reset) = limits.get(pane) {
                    if e.event_type == CoordinatorEventType::AgentRateLimited {
                        e = e.with_detail("reset_at", crate::time::format_rfc3339(reset));
                    }
                }
                match e.event_type {
                    CoordinatorEventType::AgentError => health.push(QualitySignal::AgentError {
                        pane_id: pane.to_string(),
                        agent_type: agent.agent_type.clone(),
                    }),
                    CoordinatorEventType::AgentRecovered => {
                        health.push(QualitySignal::AgentRecovered {
                            pane_id: pane.to_string(),
                        })
                    }
                    _ => {}
                }
                events.push(e);
            }
        }
        if o.context_usage() > 0.0 {
            quality.push(QualitySignal::ContextUsage {
                pane_id: pane.to_string(),
                agent_type: agent.agent_type.clone(),
                usage: o.context_usage(),
            });
        }
        agents.insert(pane.to_string(), agent);
    }
    quality.append(&mut health);
    // A host going down or coming back comes before its agents' own events.
    let mut host_events = host_changes(snap, obs);
    host_events.append(&mut events);
    let mut events = host_events;
    let gone = gone_and_appeared(snap, obs, &agents, &mut events);
    Merged {
        tracking: Tracking {
            observed_at: Some(now),
            agents,
            gone,
            tmux_loss: None,
            hosts_down: obs
                .unreachable_hosts
                .keys()
                .cloned()
                .chain(
                    obs.agents
                        .iter()
                        .filter(|o| o.observation.verdict.rule == HOST_UNREACHABLE)
                        .filter_map(|o| pane_host(o.pane_id()).map(str::to_string)),
                )
                .map(|h| {
                    let since = snap.hosts_down.get(&h).copied().unwrap_or(now);
                    (h, since)
                })
                .collect(),
            hosts_back: hosts_back(snap, obs),
            rate_limits: limits,
            problems: obs.problems.clone(),
            assignments: snap.ledger.active.iter().map(|r| r.id).collect(),
        },
        events,
        quality,
    }
}

/// `host_unreachable` for each `[[hosts]]` host unreachable now and not at the last pass
/// (`host`, `agents`: how many of its agents are held as UNKNOWN, `error`); `host_reachable`
/// for each host unreachable at the last pass and not now. A host is unreachable when the
/// observation says so, or when its agents are held as `host_unreachable`.
pub fn host_changes(snap: &Snapshot, obs: &AgentsObservation) -> Vec<CoordinatorEvent> {
    let mut down_before: BTreeSet<&str> = snap.hosts_down.keys().map(String::as_str).collect();
    down_before.extend(
        snap.agents
            .iter()
            .filter(|(_, a)| a.status_reason == HOST_UNREACHABLE)
            .filter_map(|(p, _)| pane_host(p)),
    );
    // host -> (agents held, the error)
    let mut down_now: BTreeMap<&str, (usize, &str)> = obs
        .unreachable_hosts
        .iter()
        .map(|(h, e)| (h.as_str(), (0, e.as_str())))
        .collect();
    for o in &obs.agents {
        let v = &o.observation.verdict;
        if let Some(host) = pane_host(o.pane_id()).filter(|_| v.rule == HOST_UNREACHABLE) {
            let error = v.evidence.first().map_or("", String::as_str);
            down_now.entry(host).or_insert((0, error)).0 += 1;
        }
    }
    let mut events = Vec::new();
    for (host, (count, error)) in &down_now {
        if !down_before.contains(host) {
            events.push(
                CoordinatorEvent::new(CoordinatorEventType::HostUnreachable, snap.now)
                    .with_detail("host", *host)
                    .with_detail("agents", *count)
                    .with_detail("error", *error),
            );
        }
    }
    for host in down_before.iter().filter(|h| !down_now.contains_key(*h)) {
        events.push(
            CoordinatorEvent::new(CoordinatorEventType::HostReachable, snap.now)
                .with_detail("host", *host),
        );
    }
    events
}

/// The hosts that came back: those of the last hour still up, and those down at the last pass
/// that answer now (with when they went down).
fn hosts_back(snap: &Snapshot, obs: &AgentsObservation) -> BTreeMap<String, super::HostOutage> {
    let now = snap.now;
    let down_now: BTreeSet<&str> = obs
        .unreachable_hosts
        .keys()
        .map(String::as_str)
        .chain(
            obs.agents
                .iter()
                .filter(|o| o.observation.verdict.rule == HOST_UNREACHABLE)
                .filter_map(|o| pane_host(o.pane_id())),
        )
        .collect();
    let kept = chrono::Duration::seconds(super::HOST_BACK_KEPT_SECS);
    let mut back: BTreeMap<String, super::HostOutage> = snap
        .hosts_back
        .iter()
        .filter(|(h, o)| now - o.back_at < kept && !down_now.contains(h.as_str()))
        .map(|(h, o)| (h.clone(), *o))
        .collect();
    for (h, since) in &snap.hosts_down {
        if !down_now.contains(h.as_str()) {
            back.insert(
                h.clone(),
                super::HostOutage {
                    since: *since,
                    back_at: now,
                },
            );
        }
    }
    back
}

/// `agent_context_high` for each agent whose context use went above `threshold` percent since
/// the last observation (or is above it when first seen); none when `threshold` is 0.
pub fn context_crossings(
    snap: &Snapshot,
    agents: &BTreeMap<String, AgentState>,
    threshold: f64,
) -> Vec<CoordinatorEvent> {
    if threshold <= 0.0 {
        return Vec::new();
    }
    agents
        .values()
        .filter(|a| a.context_usage > threshold)
        .filter(|a| {
            snap.agents
                .get(&a.pane_id)
                .is_none_or(|prev| prev.context_usage <= threshold)
        })
        .map(|a| {
            CoordinatorEvent::new(CoordinatorEventType::AgentContextHigh, snap.now)
                .with_agent(a.pane_id.clone())
                .with_detail("agent_type", a.agent_type.clone())
                .with_detail("context_usage", a.context_usage)
                .with_detail("threshold", threshold)
                .with_detail("pane_index", a.pane_index)
        })
        .collect()
}

/// Agents gone and appeared since the last observation, as events; the gone agents to keep.
fn gone_and_appeared(
    snap: &Snapshot,
    obs: &AgentsObservation,
    agents: &BTreeMap<String, AgentState>,
    events: &mut Vec<CoordinatorEvent>,
) -> BTreeMap<String, GoneAgent> {
    let now = snap.now;
    let mut gone: BTreeMap<String, GoneAgent> = snap
        .gone
        .iter()
        .filter(|(pane, g)| {
            !agents.contains_key(*pane) && (now - g.since).num_seconds() < GONE_KEPT_SECS
        })
        .map(|(p, g)| (p.clone(), g.clone()))
        .collect();
    if obs.tmux_lost.is_none() {
        for (pane, a) in snap.agents.iter().filter(|(p, _)| !agents.contains_key(*p)) {
            let (e, g) = went(pane, a, "the pane vanished", now);
            events.push(e);
            gone.insert(pane.clone(), g);
        }
    }
    for o in obs.agents.iter().filter(|o| {
        snap.agents
            .get(o.pane_id())
            .is_some_and(|a| a.status_reason == TMUX_LOST)
    }) {
        events.push(
            CoordinatorEvent::new(CoordinatorEventType::AgentAppeared, now)
                .with_agent(o.pane_id())
                .with_detail("agent_type", o.pane.agent_type.as_str())
                .with_detail("title", o.pane.title.as_str())
                .with_detail("status", o.status().to_string())
                .with_detail("after_tmux_lost", true),
        );
    }
    if snap.last_update.is_some() {
        for o in obs
            .agents
            .iter()
            .filter(|o| !snap.agents.contains_key(o.pane_id()))
        {
            let mut e = CoordinatorEvent::new(CoordinatorEventType::AgentAppeared, now)
                .with_agent(o.pane_id())
                .with_detail("agent_type", o.pane.agent_type.as_str())
                .with_detail("title", o.pane.title.as_str())
                .with_detail("status", o.status().to_string());
            if snap.gone.contains_key(o.pane_id()) {
                e = e.with_detail("was_gone", true);
            }
            events.push(e);
        }
    }
    gone
}

/// The `agent_gone` event of an agent and what the digest keeps of it.
fn went(pane: &str, a: &AgentState, reason: &str, now: Timestamp) -> (CoordinatorEvent, GoneAgent) {
    let name = a.display_name();
    let e = CoordinatorEvent::new(CoordinatorEventType::AgentGone, now)
        .with_agent(pane)
        .with_detail("agent_type", a.agent_type.as_str())
        .with_detail("pane_index", a.pane_index)
        .with_detail("name", name.as_str())
        .with_detail("last_status", a.status.to_string())
        .with_detail("reason", reason);
    let g = GoneAgent {
        agent_type: a.agent_type.clone(),
        pane_index: a.pane_index,
        status: a.status,
        since: now,
        name,
        reason: reason.to_string(),
    };
    (e, g)
}

/// The merge while tmux is lost. Within the grace (`Policy::tmux_grace` from the first
/// observation that found it lost) every tracked agent is kept as UNKNOWN with the reason
/// `tmux_lost`, its assignment count and task as they were: no event per agent (the
/// `tmux_lost` alert says it). Once the grace has passed the agents are dropped as gone, each
/// with an `agent_gone` event and a digest line, and their assignments are handed back.
pub fn lost(snap: &Snapshot, obs: &AgentsObservation, policy: &Policy, error: &str) -> Merged {
    let now = snap.now;
    let loss = snap.tmux_loss.unwrap_or_else(|| TmuxLoss {
        since: now,
        hand_back_at: now
            + chrono::Duration::milliseconds((policy.tmux_grace.max(0.0) * 1000.0) as i64),
    });
    let mut gone: BTreeMap<String, GoneAgent> = snap
        .gone
        .iter()
        .filter(|(_, g)| (now - g.since).num_seconds() < GONE_KEPT_SECS)
        .map(|(p, g)| (p.clone(), g.clone()))
        .collect();
    let mut events = Vec::new();
    let mut agents = BTreeMap::new();
    if now < loss.hand_back_at {
        for (pane, a) in &snap.agents {
            let mut a = a.clone();
            a.status = AgentStatus::Unknown;
            a.status_reason = TMUX_LOST.to_string();
            agents.insert(pane.clone(), a);
        }
    } else {
        let reason = format!(
            "tmux lost since {} ({error}), longer than the grace",
            crate::time::format_rfc3339(&loss.since)
        );
        for (pane, a) in &snap.agents {
            let (e, g) = went(pane, a, &reason, now);
            events.push(e);
            gone.insert(pane.clone(), g);
        }
    }
    let mut problems = obs.problems.clone();
    if problems.is_empty() {
        problems.push(format!("tmux lost: {error}"));
    }
    Merged {
        tracking: Tracking {
            observed_at: snap.last_update,
            agents,
            gone,
            tmux_loss: Some(loss),
            hosts_down: snap.hosts_down.clone(),
            hosts_back: snap.hosts_back.clone(),
            rate_limits: snap.rate_limits.clone(),
            problems,
            assignments: snap.ledger.active.iter().map(|r| r.id).collect(),
        },
        events,
        quality: Vec::new(),
    }
}

fn persona(o: &AgentReport) -> Persona {
    Persona {
        name: o
            .pane
            .variant
            .clone()
            .unwrap_or_else(|| o.pane.pane_id.clone()),
        agent_type: o.pane.agent_type.clone(),
        tags: o.pane.tags.clone(),
        ..Default::default()
    }
}

/// Agents that can take work now: with `assign_only_idle`, fresh WAITING ones (healthy, idle
/// at least `idle_threshold`, or [`finished`]); otherwise any available healthy one. Never one
/// that holds an assignment.
pub fn idle<'a>(
    agents: impl IntoIterator<Item = &'a AgentState>,
    policy: &Policy,
    now: Timestamp,
) -> Vec<&'a AgentState> {
    agents
        .into_iter()
        .filter(|a| {
            if policy.assign_only_idle {
                is_fresh_waiting(a, now, policy.idle_threshold)
                    || (finished(a) && is_available(a) && a.healthy)
            } else {
                is_available(a) && a.healthy
            }
        })
        .filter(|a| a.assignments <= 0)
        .collect()
}

/// Whether the agent's idleness is the end of gaffer's own work: it was given work and holds
/// none now (done, refused, handed back). Such an agent is ready as soon as it is WAITING; the
/// idle threshold guards against prompting an agent (or a human) that only paused, which is
/// not what happened here. Waiting out the threshold after every bead cost the fleet half a
/// minute per bead (`cargo bench -p gaffer-coordinator --bench fleet`).
pub fn finished(agent: &AgentState) -> bool {
    agent.last_assigned_at.is_some() && agent.assignments == 0 && agent.current_task.is_empty()
}
