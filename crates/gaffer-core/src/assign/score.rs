//! Scoring one agent–task pair (spec/coordinator.md §3.1), with gaffer's fixes:
//! complexity in exact hundredths, and a file-overlap penalty from true overlap between the
//! task's files and *other* agents' reservations (the reference counted the agent's own).

use super::complexity::{agent_type_bonus, complexity_hundredths};
use super::paths::{self, HolderId, HolderIndex};
use crate::agent::AgentState;
use crate::assignment::{AssignmentScoreBreakdown, ScoreConfig};
use crate::text::{TagSet, mentioned_files, task_tags};
use crate::triage::TriageRecommendation;
use std::collections::BTreeMap;

/// Active reservations by holder (Agent Mail name or pane id) → patterns.
pub type ReservationMap = BTreeMap<String, Vec<String>>;

/// Whether a reservation key belongs to this agent.
pub fn is_own_key(agent: &AgentState, key: &str) -> bool {
    key == agent.pane_id || (!agent.agent_mail_name.is_empty() && key == agent.agent_mail_name)
}

/// The penalty for `n` overlapping files: 0; 1–2 → 0.05; 3–5 → 0.10; more → 0.20.
pub fn overlap_penalty(n: usize) -> f64 {
    match n {
        0 => 0.0,
        1..=2 => 0.05,
        3..=5 => 0.10,
        _ => 0.20,
    }
}

/// The context penalty: (usage − threshold) / 100 × 0.5 above the threshold.
pub fn context_penalty(usage: f64, config: &ScoreConfig) -> f64 {
    let threshold = config.effective_context_threshold();
    if usage <= threshold {
        0.0
    } else {
        (usage - threshold) / 100.0 * 0.5
    }
}

/// The critical-path bonus from bv's weighted breakdown values.
pub fn critical_path_bonus(rec: &TriageRecommendation) -> f64 {
    let Some(b) = &rec.breakdown else { return 0.0 };
    let mut bonus = 0.0;
    if b.pagerank > 0.05 {
        bonus += b.pagerank * 2.0;
    }
    if b.blocker_ratio > 0.05 {
        bonus += b.blocker_ratio * 1.5;
    }
    if b.time_to_impact > 0.04 {
        bonus += 0.05;
    }
    bonus
}

/// What scoring needs to know about one bead, computed once per planning pass. Borrows the
/// recommendation: its files are slices of the title and description.
#[derive(Debug, Clone, Default)]
pub struct BeadFacts<'a> {
    /// Files and globs the task mentions.
    pub files: Vec<&'a str>,
    /// Capability tags of the task.
    pub tags: TagSet,
    /// Complexity in hundredths.
    pub complexity: i64,
    /// For each file, the ids of the reservation holders whose patterns overlap it (empty
    /// when no holder index was given).
    pub file_holders: Vec<Vec<HolderId>>,
    /// The critical-path bonus (the same for every agent).
    pub critical_path: f64,
}

impl<'a> BeadFacts<'a> {
    /// Every fact of a recommendation; overlapping holders are looked up in `holders`.
    pub fn new(rec: &'a TriageRecommendation, holders: Option<&HolderIndex<'_>>) -> Self {
        let everything = ScoreConfig {
            use_agent_profiles: true,
            penalize_file_overlap: true,
            ..ScoreConfig::default()
        };
        Self::for_config(rec, &everything, holders, true)
    }

    /// The facts `config` uses (tags and complexity only with agent profiles; holders only
    /// with the file-overlap penalty); files when `need_files` or `config` uses them.
    pub fn for_config(
        rec: &'a TriageRecommendation,
        config: &ScoreConfig,
        holders: Option<&HolderIndex<'_>>,
        need_files: bool,
    ) -> Self {
        let description = rec
            .extra
            .get("description")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        let profiles = config.use_agent_profiles;
        let files: Vec<&'a str> = if need_files || profiles || config.penalize_file_overlap {
            mentioned_files(&rec.title, description).collect()
        } else {
            Vec::new()
        };
        let file_holders = match holders {
            Some(index) if config.penalize_file_overlap => {
                files.iter().map(|f| index.holder_ids(f)).collect()
            }
            _ => Vec::new(),
        };
        BeadFacts {
            tags: if profiles {
                task_tags(&rec.title, description)
            } else {
                TagSet::default()
            },
            complexity: if profiles {
                complexity_hundredths(&rec.issue_type, rec.priority, rec.unblocks_ids.len())
            } else {
                0
            },
            files,
            file_holders,
            critical_path: critical_path_bonus(rec),
        }
    }
}

/// What scoring needs to know about one agent, computed once per planning pass.
#[derive(Debug, Clone, Default)]
pub struct AgentFacts {
    /// The holder ids of its own reservation keys (pane id, Agent Mail name).
    pub own: [Option<HolderId>; 2],
    /// Its profile's tags that are task tags.
    pub tags: TagSet,
    /// Its agent-type bonus by complexity (hundredths, 0–100), when computed ahead.
    pub type_bonus: Option<Box<[f64; 101]>>,
}

impl AgentFacts {
    /// The facts of an agent; its own keys are looked up in `holders`.
    pub fn new(agent: &AgentState, holders: Option<&HolderIndex<'_>>) -> Self {
        let own = match holders {
            Some(index) => [
                index.id_of(&agent.pane_id),
                if agent.agent_mail_name.is_empty() {
                    None
                } else {
                    index.id_of(&agent.agent_mail_name)
                },
            ],
            None => [None, None],
        };
        AgentFacts {
            own,
            tags: agent
                .profile
                .as_ref()
                .map(|p| TagSet::from_tags(&p.tags))
                .unwrap_or_default(),
            type_bonus: None,
        }
    }

    /// [`AgentFacts::new`], with the agent-type bonus tabulated when `config` uses it (a
    /// planning pass scores each agent against many beads).
    pub fn for_config(
        agent: &AgentState,
        config: &ScoreConfig,
        holders: Option<&HolderIndex<'_>>,
    ) -> Self {
        let mut facts = Self::new(agent, holders);
        if config.use_agent_profiles {
            let mut table = Box::new([0.0; 101]);
            for (c, v) in (0..).zip(table.iter_mut()) {
                *v = agent_type_bonus(&agent.agent_type, c);
            }
            facts.type_bonus = Some(table);
        }
        facts
    }

    /// Whether a holder id is one of the agent's own keys ([`is_own_key`]).
    pub fn owns(&self, id: HolderId) -> bool {
        self.own.contains(&Some(id))
    }
}

/// Holders in `reservations` whose patterns overlap `file`, through the overlap engine.
pub fn scan_holders(reservations: &ReservationMap, file: &str) -> Vec<String> {
    HolderIndex::new(reservations)
        .holders(file)
        .into_iter()
        .map(str::to_string)
        .collect()
}

/// Scores one pair. Every term is computed only when its flag is on.
pub fn score_pair(
    agent: &AgentState,
    rec: &TriageRecommendation,
    config: &ScoreConfig,
    reservations: &ReservationMap,
) -> AssignmentScoreBreakdown {
    // Fall back to the agent record's own reservation list when the map is empty.
    let fallback: ReservationMap;
    let map = if reservations.is_empty() && !agent.reservations.is_empty() {
        fallback = ReservationMap::from([(agent.pane_id.clone(), agent.reservations.clone())]);
        &fallback
    } else {
        reservations
    };
    let index = HolderIndex::new(map);
    let facts = BeadFacts::new(rec, Some(&index));
    let agent_facts = AgentFacts::new(agent, Some(&index));
    score_with_facts(agent, &agent_facts, rec, &facts, config, None)
}

/// Scores one pair from precomputed facts.
/// `focus_matches`, when given, is the number of the task's files the agent's focus patterns
/// cover (precomputed by the caller); otherwise it is computed here.
#[inline]
pub fn score_with_facts(
    agent: &AgentState,
    agent_facts: &AgentFacts,
    rec: &TriageRecommendation,
    facts: &BeadFacts<'_>,
    config: &ScoreConfig,
    focus_matches: Option<usize>,
) -> AssignmentScoreBreakdown {
    let mut b = AssignmentScoreBreakdown {
        base_score: rec.score,
        ..Default::default()
    };
    if config.use_agent_profiles {
        b.agent_type_bonus = match &agent_facts.type_bonus {
            Some(table) => table[facts.complexity.clamp(0, 100) as usize],
            None => agent_type_bonus(&agent.agent_type, facts.complexity),
        };
        if let Some(profile) = &agent.profile {
            if !profile.tags.is_empty() {
                let matches = facts.tags.intersection(agent_facts.tags).len();
                if matches > 0 {
                    b.profile_tag_bonus =
                        matches as f64 / profile.tags.len() as f64 * config.effective_tag_weight();
                }
            }
            if !profile.focus_patterns.is_empty() && !facts.files.is_empty() {
                let matches = focus_matches.unwrap_or_else(|| {
                    facts
                        .files
                        .iter()
                        .filter(|f| {
                            profile
                                .focus_patterns
                                .iter()
                                .any(|p| paths::focus_covers(p, f))
                        })
                        .count()
                });
                if matches > 0 {
                    b.focus_pattern_bonus =
                        matches as f64 / facts.files.len() as f64 * config.effective_focus_weight();
                }
            }
        }
    }
    if config.prefer_critical_path {
        b.critical_path_bonus = facts.critical_path;
    }
    if config.penalize_file_overlap {
        let overlapping = facts
            .file_holders
            .iter()
            .filter(|holders| holders.iter().any(|&h| !agent_facts.owns(h)))
            .count();
        b.file_overlap_penalty = overlap_penalty(overlapping);
    }
    if config.budget_aware {
        b.context_penalty = context_penalty(agent.context_usage, config);
    }
    b
}

/// The reason text for a pair (spec §3.4), with the strategy's own part first.
pub fn reason(strategy_part: Option<String>, b: &AssignmentScoreBreakdown) -> String {
    let mut parts: Vec<String> = strategy_part.into_iter().collect();
    if b.agent_type_bonus > 0.05 {
        parts.push(format!(
            "agent type bonus +{}%",
            (b.agent_type_bonus * 100.0).round() as i64
        ));
    }
    if b.profile_tag_bonus > 0.05 {
        parts.push("matching profile tags".into());
    }
    if b.critical_path_bonus > 0.05 {
        parts.push("on critical path".into());
    }
    if parts.is_empty() {
        "available and qualified".into()
    } else {
        parts.join("; ")
    }
}

/// Confidence in a pair (spec §3.4), clamped to [0.1, 0.95].
pub fn confidence(score: f64, b: &AssignmentScoreBreakdown) -> f64 {
    let mut c = (score / 2.0).min(1.0);
    if b.agent_type_bonus > 0.0 {
        c += 0.1;
    }
    if b.profile_tag_bonus > 0.0 {
        c += 0.1;
    }
    c -= b.context_penalty;
    c -= b.file_overlap_penalty / 2.0;
    c.clamp(0.1, 0.95)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::persona::Persona;
    use crate::time::parse_rfc3339;
    use crate::triage::TriageBreakdown;

    fn agent(pane: &str, ty: &str) -> AgentState {
        let mut a = AgentState::new(pane, 1, ty, parse_rfc3339("2026-01-01T00:00:00Z").unwrap());
        a.status = crate::status::AgentStatus::Waiting;
        a
    }

    fn rec(id: &str, title: &str, ty: &str, priority: i64, score: f64) -> TriageRecommendation {
        TriageRecommendation {
            id: id.into(),
            title: title.into(),
            issue_type: ty.into(),
            status: "open".into(),
            priority,
            score,
            ..Default::default()
        }
    }

    #[test]
    fn context_penalty_example() {
        let c = ScoreConfig::default();
        assert!((context_penalty(90.0, &c) - 0.05).abs() < 1e-12);
        assert_eq!(context_penalty(80.0, &c), 0.0);
        let zero = ScoreConfig {
            context_threshold: 0.0,
            ..c
        };
        assert!((context_penalty(90.0, &zero) - 0.05).abs() < 1e-12);
    }

    #[test]
    fn overlap_buckets() {
        assert_eq!(overlap_penalty(0), 0.0);
        assert_eq!(overlap_penalty(1), 0.05);
        assert_eq!(overlap_penalty(2), 0.05);
        assert_eq!(overlap_penalty(3), 0.10);
        assert_eq!(overlap_penalty(5), 0.10);
        assert_eq!(overlap_penalty(6), 0.20);
    }

    #[test]
    fn critical_path_terms() {
        let mut r = rec("a", "t", "task", 2, 0.5);
        r.breakdown = Some(TriageBreakdown {
            pagerank: 0.1,
            blocker_ratio: 0.2,
            time_to_impact: 0.05,
            ..Default::default()
        });
        assert!((critical_path_bonus(&r) - (0.2 + 0.3 + 0.05)).abs() < 1e-12);
        r.breakdown = Some(TriageBreakdown {
            pagerank: 0.05,
            blocker_ratio: 0.05,
            time_to_impact: 0.04,
            ..Default::default()
        });
        assert_eq!(critical_path_bonus(&r), 0.0);
        r.breakdown = None;
        assert_eq!(critical_path_bonus(&r), 0.0);
    }

    #[test]
    fn overlap_is_with_others_not_own() {
        let a = agent("%1", "cc");
        let r = rec("x", "Fix src/a.rs and src/b.rs", "bug", 2, 0.5);
        let mut res = ReservationMap::new();
        res.insert(
            "%1".into(),
            vec!["src/**".into(), "x".into(), "y".into(), "z".into()],
        );
        // Own reservations, however many, cost nothing (the reference charged 0.10 here).
        assert_eq!(
            score_pair(&a, &r, &ScoreConfig::default(), &res).file_overlap_penalty,
            0.0
        );
        res.insert("%2".into(), vec!["src/a.rs".into()]);
        assert_eq!(
            score_pair(&a, &r, &ScoreConfig::default(), &res).file_overlap_penalty,
            0.05
        );
        // A task that mentions no overlapping file is not penalized by others' reservations.
        let other = rec("y", "Update docs/guide.md", "task", 2, 0.5);
        assert_eq!(
            score_pair(&a, &other, &ScoreConfig::default(), &res).file_overlap_penalty,
            0.0
        );
    }

    #[test]
    fn profile_and_focus_bonuses() {
        let mut a = agent("%1", "gmi");
        a.profile = Some(Persona {
            name: "tester".into(),
            tags: vec!["testing".into(), "bugs".into()],
            focus_patterns: vec!["tests/**".into()],
            ..Default::default()
        });
        let r = rec(
            "x",
            "Add tests in tests/parser.rs for crash",
            "task",
            2,
            0.4,
        );
        let b = score_pair(&a, &r, &ScoreConfig::default(), &ReservationMap::new());
        // tags: testing, bugs, implementation → 2 of 2 profile tags match → 0.15
        assert!((b.profile_tag_bonus - 0.15).abs() < 1e-12, "{b:?}");
        assert!((b.focus_pattern_bonus - 0.10).abs() < 1e-12, "{b:?}");
        assert_eq!(b.agent_type_bonus, 0.05);
        let off = ScoreConfig {
            use_agent_profiles: false,
            ..Default::default()
        };
        let b = score_pair(&a, &r, &off, &ReservationMap::new());
        assert_eq!(
            (
                b.profile_tag_bonus,
                b.focus_pattern_bonus,
                b.agent_type_bonus
            ),
            (0.0, 0.0, 0.0)
        );
    }

    #[test]
    fn reason_and_confidence() {
        let b = AssignmentScoreBreakdown {
            agent_type_bonus: 0.15,
            critical_path_bonus: 0.3,
            ..Default::default()
        };
        assert_eq!(
            reason(Some("fastest available agent".into()), &b),
            "fastest available agent; agent type bonus +15%; on critical path"
        );
        assert_eq!(
            reason(None, &AssignmentScoreBreakdown::default()),
            "available and qualified"
        );
        assert!((confidence(1.0, &b) - 0.6).abs() < 1e-12);
        assert_eq!(confidence(10.0, &b), 0.95);
        let bad = AssignmentScoreBreakdown {
            context_penalty: 0.5,
            ..Default::default()
        };
        assert_eq!(confidence(0.1, &bad), 0.1);
    }
}
