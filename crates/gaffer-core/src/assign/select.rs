//! Choosing assignments: the five strategies over global matching, and the reference's two
//! entry points, `assign_tasks` and `score_and_select_assignments` (spec/coordinator.md §3.3–3.4).

use super::backoff::BackoffBook;
use super::matching::max_weight_matching;
use super::paths::HolderIndex;
use super::score::{
    AgentFacts, BeadFacts, ReservationMap, confidence, reason, score_pair, score_with_facts,
};
use crate::agent::AgentState;
use crate::assignment::{
    Assignment, AssignmentScoreBreakdown, AssignmentStrategy, ScoreConfig, ScoredAssignment,
    WorkAssignment,
};
use crate::conflicts::ReservationIndex;
use crate::status::AgentStatus;
use crate::text::extract_mentioned_files;
use crate::time::Timestamp;
use crate::triage::{TriageRecommendation, TriageResponse};
use std::borrow::Borrow;
use std::collections::BTreeMap;

/// Highest context usage (percent) at which an agent is still available.
pub const MAX_CONTEXT_FOR_WORK: f64 = 90.0;

/// The score configuration a strategy implies, starting from the defaults (spec §3.4 step 3).
pub fn strategy_config(strategy: AssignmentStrategy) -> ScoreConfig {
    let mut c = ScoreConfig::default();
    match strategy {
        AssignmentStrategy::Balanced | AssignmentStrategy::Dependency => {
            c.penalize_file_overlap = true;
            c.prefer_critical_path = true;
        }
        AssignmentStrategy::Speed => {
            c.penalize_file_overlap = false;
            c.use_agent_profiles = false;
            c.prefer_critical_path = false;
        }
        AssignmentStrategy::Quality => {
            c.use_agent_profiles = true;
            c.profile_tag_boost_weight = 0.25;
            c.focus_pattern_boost_weight = 0.15;
            c.prefer_critical_path = true;
        }
        AssignmentStrategy::RoundRobin => {}
    }
    c
}

/// Whether an agent can take work in a scoring pass: WAITING and context ≤ 90%.
pub fn is_available(agent: &AgentState) -> bool {
    agent.status == AgentStatus::Waiting && agent.context_usage <= MAX_CONTEXT_FOR_WORK
}

/// Whether an agent is a *fresh* WAITING agent: available, healthy, and idle for at least
/// `idle_threshold_secs` (measured from its last screen change).
pub fn is_fresh_waiting(agent: &AgentState, now: Timestamp, idle_threshold_secs: f64) -> bool {
    let idle = (now - agent.last_activity).num_milliseconds() as f64 / 1000.0;
    is_available(agent) && agent.healthy && idle >= idle_threshold_secs
}

/// Whether a recommendation can be handed to an agent: open, unclaimed, not blocked, not an
/// epic (a container).
pub fn is_claimable(rec: &TriageRecommendation) -> bool {
    (rec.status == "open" || rec.status == "ready")
        && rec.assignee.as_deref().is_none_or(str::is_empty)
        && !rec.is_blocked()
        && !rec.issue_type.eq_ignore_ascii_case("epic")
}

/// Everything a planning pass needs beyond the reference's four arguments.
#[derive(Clone, Default)]
pub struct PlanOptions<'a> {
    /// Pairs still backing off are not offered. Keys are agent pane ids.
    pub backoff: Option<&'a BackoffBook>,
    /// The moment of planning (for back-off and `assigned_at`).
    pub now: Option<Timestamp>,
    /// Agent quality scores (0–100) by pane id, from the quality monitor.
    pub agent_quality: BTreeMap<String, f64>,
    /// Override the strategy's score configuration.
    pub config: Option<ScoreConfig>,
    /// A prebuilt overlap index of the same reservation map (to share it between passes);
    /// without one, the pass builds its own.
    pub holder_index: Option<&'a HolderIndex<'a>>,
    /// Beads that go to some agents only: bead id → the pane ids that may take it (possibly
    /// none). Any other agent is not offered it, as if the pair were backing off.
    pub only_for: Option<&'a BTreeMap<String, Vec<String>>>,
}

/// The weight of agent quality in scores: ±0.10 at the extremes (±0.20 under `quality`).
fn quality_bonus(strategy: AssignmentStrategy, q: Option<f64>) -> f64 {
    let Some(q) = q else { return 0.0 };
    let span = if strategy == AssignmentStrategy::Quality {
        0.20
    } else {
        0.10
    };
    ((q.clamp(0.0, 100.0) - 50.0) / 50.0) * span
}

/// For every file of every bead, the agents whose persona focus covers it, found through the
/// overlap engine over the focus patterns, stored flat (no allocation per bead or file).
#[derive(Debug, Default)]
struct FocusOwners {
    /// Agent indices, one run per file, each run ascending and distinct.
    agents: Vec<u32>,
    /// Per file: the end of its run in `agents`.
    file_end: Vec<u32>,
    /// Per bead: the end of its files in `file_end`, and whether each of its files has an
    /// owner.
    bead: Vec<(u32, bool)>,
}

impl FocusOwners {
    fn new(facts: &[BeadFacts<'_>], agents: &[&AgentState]) -> FocusOwners {
        let mut entries: Vec<(&str, &str)> = Vec::new();
        let mut entry_agent: Vec<u32> = Vec::new();
        for (ai, a) in agents.iter().enumerate() {
            for f in a.profile.iter().flat_map(|p| &p.focus_patterns) {
                entries.push((a.pane_id.as_str(), f.as_str()));
                entry_agent.push(ai as u32);
            }
        }
        let index = ReservationIndex::from_entries(entries);
        let mut out = FocusOwners::default();
        for f in facts {
            let mut all_owned = true;
            for file in &f.files {
                let start = out.agents.len();
                index.for_each_overlapping(file, |e| out.agents.push(entry_agent[e]));
                out.agents[start..].sort_unstable();
                let mut run = start;
                for k in start..out.agents.len() {
                    if k == start || out.agents[k] != out.agents[run - 1] {
                        out.agents[run] = out.agents[k];
                        run += 1;
                    }
                }
                out.agents.truncate(run);
                all_owned &= run > start;
                out.file_end.push(run as u32);
            }
            out.bead.push((out.file_end.len() as u32, all_owned));
        }
        out
    }

    /// Whether bead `b` has files and every one of them is owned by some agent's focus.
    fn all_owned(&self, b: usize) -> bool {
        let Some(&(end, all_owned)) = self.bead.get(b) else {
            return false;
        };
        let start = if b == 0 { 0 } else { self.bead[b - 1].0 };
        all_owned && end > start
    }

    /// For agent `a` and bead `b`: whether a persona's focus keeps the agent away (every file
    /// of the task is owned by other agents' personas, none by this one's), and how many of
    /// the task's files its focus covers.
    fn scope(&self, a: usize, b: usize) -> (bool, usize) {
        if self.bead.is_empty() {
            return (false, 0);
        }
        let files_start = if b == 0 {
            0
        } else {
            self.bead[b - 1].0 as usize
        };
        let (files_end, all_owned) = self.bead[b];
        let files_end = files_end as usize;
        let a = a as u32;
        let mut matches = 0;
        for f in files_start..files_end {
            let start = if f == 0 {
                0
            } else {
                self.file_end[f - 1] as usize
            };
            let run = &self.agents[start..self.file_end[f] as usize];
            if run.binary_search(&a).is_ok() {
                matches += 1;
            }
        }
        let outside = files_end > files_start && matches == 0 && all_owned;
        (outside, matches)
    }
}

/// Plans assignments with a strategy: filters available agents and unblocked beads, scores every
/// pair, and selects a matching. Each agent gets at most one bead and each bead one agent.
/// The beads are owned or borrowed (`&[TriageRecommendation]` or `&[&TriageRecommendation]`).
pub fn plan_assignments<B: Borrow<TriageRecommendation>>(
    beads: &[B],
    agents: &[AgentState],
    strategy: AssignmentStrategy,
    reservations: &ReservationMap,
    options: &PlanOptions<'_>,
) -> Vec<Assignment> {
    let mut available: Vec<&AgentState> = agents.iter().filter(|a| is_available(a)).collect();
    available.sort_by(|a, b| a.pane_id.cmp(&b.pane_id));
    let open: Vec<&TriageRecommendation> = beads
        .iter()
        .map(Borrow::borrow)
        .filter(|b| !b.is_blocked())
        .collect();
    if available.is_empty() || open.is_empty() {
        return Vec::new();
    }
    if strategy == AssignmentStrategy::RoundRobin {
        // Pairs still backing off are dealt no bead (a refused bead is not dealt again to the
        // agent that refused it).
        let backing_off = |a: &AgentState, b: &TriageRecommendation| {
            matches!((options.backoff, options.now), (Some(book), Some(now))
                if book.is_backing_off(&a.pane_id, &b.id, now))
                || options
                    .only_for
                    .and_then(|only| only.get(&b.id))
                    .is_some_and(|panes| !panes.contains(&a.pane_id))
        };
        let mut dealt = round_robin(&open, &available);
        dealt.retain(|x| !backing_off(&x.agent, &x.bead));
        return dealt;
    }
    let config = options.config.unwrap_or_else(|| strategy_config(strategy));
    let built: HolderIndex;
    let holders = if !config.penalize_file_overlap {
        None
    } else if let Some(index) = options.holder_index {
        Some(index)
    } else {
        built = HolderIndex::new(reservations);
        Some(&built)
    };
    let any_focus = available.iter().any(|a| {
        a.profile
            .as_ref()
            .is_some_and(|p| !p.focus_patterns.is_empty())
    });
    let facts: Vec<BeadFacts> = open
        .iter()
        .map(|b| BeadFacts::for_config(b, &config, holders, any_focus))
        .collect();
    let agent_facts: Vec<AgentFacts> = available
        .iter()
        .map(|a| AgentFacts::for_config(a, &config, holders))
        .collect();
    let owners = if any_focus {
        FocusOwners::new(&facts, &available)
    } else {
        FocusOwners::default()
    };

    // Score every allowed pair; keep only totals (NaN = not allowed), and recompute the
    // breakdown for the chosen pairs.
    let quality: Vec<f64> = available
        .iter()
        .map(|a| quality_bonus(strategy, options.agent_quality.get(&a.pane_id).copied()))
        .collect();
    let breakdown_of = |ai: usize, bi: usize, focus_matches: usize| {
        let mut b = score_with_facts(
            available[ai],
            &agent_facts[ai],
            open[bi],
            &facts[bi],
            &config,
            Some(focus_matches),
        );
        b.quality_bonus = quality[ai];
        b
    };
    let mut totals: Vec<f64> = Vec::with_capacity(available.len() * open.len());
    // Pairs not offered (backing off, or a bead for other agents only), by `a * beads + b`;
    // empty when there are none.
    let mut kept_apart: Vec<bool> = Vec::new();
    let backoff = options.backoff.zip(options.now);
    if backoff.is_some() || options.only_for.is_some_and(|o| !o.is_empty()) {
        let agent_ix: std::collections::HashMap<&str, usize> = available
            .iter()
            .enumerate()
            .map(|(i, a)| (a.pane_id.as_str(), i))
            .collect();
        let bead_ix: std::collections::HashMap<&str, usize> = open
            .iter()
            .enumerate()
            .map(|(i, b)| (b.id.as_str(), i))
            .collect();
        let mut keep_apart = |a: usize, b: usize| {
            if kept_apart.is_empty() {
                kept_apart = vec![false; available.len() * open.len()];
            }
            kept_apart[a * open.len() + b] = true;
        };
        if let Some((book, now)) = backoff {
            for (agent, bead, entry) in book.entries() {
                if now < entry.until {
                    if let (Some(&a), Some(&b)) = (agent_ix.get(agent), bead_ix.get(bead)) {
                        keep_apart(a, b);
                    }
                }
            }
        }
        for (bead, panes) in options.only_for.into_iter().flatten() {
            if let Some(&b) = bead_ix.get(bead.as_str()) {
                for (a, agent) in available.iter().enumerate() {
                    if !panes.contains(&agent.pane_id) {
                        keep_apart(a, b);
                    }
                }
            }
        }
    }
    let has_focus: Vec<bool> = available
        .iter()
        .map(|a| {
            a.profile
                .as_ref()
                .is_some_and(|p| !p.focus_patterns.is_empty())
        })
        .collect();
    for (ai, &focused) in has_focus.iter().enumerate() {
        for bi in 0..open.len() {
            if !kept_apart.is_empty() && kept_apart[ai * open.len() + bi] {
                totals.push(f64::NAN);
                continue;
            }
            let (outside, focus_matches) = if focused {
                owners.scope(ai, bi)
            } else {
                // no file is this agent's: kept away exactly when others own them all
                (owners.all_owned(bi), 0)
            };
            if outside {
                totals.push(f64::NAN);
                continue;
            }
            let total = breakdown_of(ai, bi, focus_matches).total();
            totals.push(if total > 0.0 { total } else { f64::NAN });
        }
    }
    let n_beads = open.len();
    let at = |a: usize, b: usize| Some(totals[a * n_beads + b]).filter(|t| !t.is_nan());

    // Strategy-specific weights and bead sets.
    let load = |a: &AgentState| a.assignments.max(0) as f64;
    let allowed_beads: Vec<bool> = match strategy {
        AssignmentStrategy::Dependency => {
            let mut order: Vec<usize> = (0..n_beads)
                .filter(|&b| (0..available.len()).any(|a| at(a, b).is_some()))
                .collect();
            order.sort_by(|&x, &y| {
                let best = |b: usize| {
                    (0..available.len())
                        .filter_map(|a| at(a, b))
                        .fold(f64::MIN, f64::max)
                };
                open[y]
                    .unblocks_ids
                    .len()
                    .cmp(&open[x].unblocks_ids.len())
                    .then(open[x].priority.cmp(&open[y].priority))
                    .then(best(y).total_cmp(&best(x)))
                    .then(x.cmp(&y))
            });
            let mut allowed = vec![false; n_beads];
            for &b in order.iter().take(available.len()) {
                allowed[b] = true;
            }
            allowed
        }
        _ => vec![true; n_beads],
    };
    let weight = |a: usize, b: usize| -> Option<f64> {
        if !allowed_beads[b] {
            return None;
        }
        let total = at(a, b)?;
        let w = match strategy {
            // Less-loaded agents first: each active assignment costs 0.25.
            AssignmentStrategy::Balanced => total - 0.25 * load(available[a]),
            _ => total,
        };
        // Keep every positive-score pair selectable even when the load term pushes it down.
        Some(w.max(1e-9))
    };
    let pairs = max_weight_matching(available.len(), n_beads, weight);

    let mut result: Vec<Assignment> = pairs
        .into_iter()
        .filter_map(|(a, b)| {
            let total = at(a, b)?;
            let breakdown = breakdown_of(a, b, owners.scope(a, b).1);
            let bead = open[b];
            let part = match strategy {
                AssignmentStrategy::Dependency => {
                    let n = bead.unblocks_ids.len();
                    (n > 0).then(|| format!("unblocks {n} tasks"))
                }
                AssignmentStrategy::Quality => Some("best capability match".to_string()),
                AssignmentStrategy::Balanced => Some("even workload distribution".to_string()),
                AssignmentStrategy::Speed => Some("fastest available agent".to_string()),
                AssignmentStrategy::RoundRobin => None,
            };
            Some(Assignment {
                bead: bead.clone(),
                agent: available[a].clone(),
                score: total,
                reason: reason(part, &breakdown),
                confidence: confidence(total, &breakdown),
                breakdown,
            })
        })
        .collect();
    result.sort_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then(x.agent.pane_id.cmp(&y.agent.pane_id))
    });
    result
}

fn round_robin(beads: &[&TriageRecommendation], agents: &[&AgentState]) -> Vec<Assignment> {
    let n = agents.len();
    beads
        .iter()
        .enumerate()
        .map(|(i, bead)| {
            let k = i % n;
            let agent = agents[k];
            Assignment {
                bead: (*bead).clone(),
                agent: agent.clone(),
                score: 1.0,
                reason: format!(
                    "round-robin assignment: bead {} → agent {} ({})",
                    i + 1,
                    k + 1,
                    agent.agent_type
                ),
                confidence: 1.0,
                breakdown: AssignmentScoreBreakdown {
                    base_score: 1.0,
                    ..Default::default()
                },
            }
        })
        .collect()
}

/// Reference `AssignTasks`: matches beads to available agents with a strategy.
/// Unlike the reference, every strategy but round-robin selects by global matching.
pub fn assign_tasks(
    beads: &[TriageRecommendation],
    agents: &[AgentState],
    strategy: AssignmentStrategy,
    reservations: &ReservationMap,
) -> Vec<Assignment> {
    plan_assignments(
        beads,
        agents,
        strategy,
        reservations,
        &PlanOptions::default(),
    )
}

/// Reference `ScoreAndSelectAssignments`: scores every pair of idle agent and unblocked
/// recommendation with `config`, and selects the best total set (global matching, not the
/// reference's greedy walk). Sorted by score, highest first.
pub fn score_and_select_assignments(
    idle_agents: &[AgentState],
    triage: &TriageResponse,
    config: &ScoreConfig,
    reservations: &ReservationMap,
    now: Timestamp,
) -> Vec<ScoredAssignment> {
    let recs: Vec<&TriageRecommendation> = triage
        .triage
        .recommendations
        .iter()
        .filter(|r| !r.is_blocked())
        .collect();
    let mut agents: Vec<&AgentState> = idle_agents.iter().collect();
    agents.sort_by(|a, b| a.pane_id.cmp(&b.pane_id));
    let scored: Vec<Vec<(AssignmentScoreBreakdown, f64)>> = agents
        .iter()
        .map(|a| {
            recs.iter()
                .map(|r| {
                    let b = score_pair(a, r, config, reservations);
                    let t = b.total();
                    (b, t)
                })
                .collect()
        })
        .collect();
    let pairs = max_weight_matching(agents.len(), recs.len(), |a, r| Some(scored[a][r].1));
    let mut out: Vec<ScoredAssignment> = pairs
        .into_iter()
        .map(|(a, r)| {
            let (breakdown, total) = scored[a][r];
            let agent = agents[a];
            let rec = recs[r];
            ScoredAssignment {
                assignment: WorkAssignment {
                    bead_id: rec.id.clone(),
                    bead_title: rec.title.clone(),
                    agent_pane_id: agent.pane_id.clone(),
                    agent_mail_name: agent.agent_mail_name.clone(),
                    agent_type: agent.agent_type.clone(),
                    assigned_at: now,
                    priority: rec.priority,
                    score: total,
                    files_to_reserve: extract_mentioned_files(&rec.title, ""),
                },
                recommendation: rec.clone(),
                agent: agent.clone(),
                total_score: total,
                score_breakdown: breakdown,
            }
        })
        .collect();
    out.sort_by(|x, y| {
        y.total_score
            .total_cmp(&x.total_score)
            .then(x.agent.pane_id.cmp(&y.agent.pane_id))
    });
    out
}
