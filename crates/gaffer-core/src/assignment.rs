//! Assignment types: strategies, score configuration, breakdowns and results
//! (spec/coordinator.md §3).

use crate::agent::AgentState;
use crate::time::{self, Timestamp};
use crate::triage::TriageRecommendation;
use serde::{Deserialize, Serialize};
use std::fmt;

/// How tasks are distributed to agents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum AssignmentStrategy {
    /// Spread work evenly across agents.
    #[default]
    #[serde(rename = "balanced")]
    Balanced,
    /// Any available agent, as fast as possible.
    #[serde(rename = "speed")]
    Speed,
    /// The highest-scoring agent for each task.
    #[serde(rename = "quality")]
    Quality,
    /// Blockers and critical-path items first.
    #[serde(rename = "dependency")]
    Dependency,
    /// Evenly, in a deterministic order; every score is 1.0.
    #[serde(rename = "round-robin")]
    RoundRobin,
}

impl AssignmentStrategy {
    /// Every strategy.
    pub const ALL: [AssignmentStrategy; 5] = [
        AssignmentStrategy::Balanced,
        AssignmentStrategy::Speed,
        AssignmentStrategy::Quality,
        AssignmentStrategy::Dependency,
        AssignmentStrategy::RoundRobin,
    ];

    /// The wire name, e.g. `round-robin`.
    pub fn as_str(self) -> &'static str {
        match self {
            AssignmentStrategy::Balanced => "balanced",
            AssignmentStrategy::Speed => "speed",
            AssignmentStrategy::Quality => "quality",
            AssignmentStrategy::Dependency => "dependency",
            AssignmentStrategy::RoundRobin => "round-robin",
        }
    }

    /// Parses a strategy name case-insensitively, with the reference's aliases. Anything else,
    /// the empty string included, is `balanced` (reference `ParseStrategy`).
    pub fn parse(s: &str) -> AssignmentStrategy {
        AssignmentStrategy::parse_strict(s).unwrap_or(AssignmentStrategy::Balanced)
    }

    /// Like [`AssignmentStrategy::parse`], but `None` for an unknown name, so a config file can
    /// report a typo instead of silently falling back.
    pub fn parse_strict(s: &str) -> Option<AssignmentStrategy> {
        match s.trim().to_lowercase().as_str() {
            "balanced" => Some(AssignmentStrategy::Balanced),
            "speed" | "fast" => Some(AssignmentStrategy::Speed),
            "quality" | "best" => Some(AssignmentStrategy::Quality),
            "dependency" | "deps" | "blockers" => Some(AssignmentStrategy::Dependency),
            "round-robin" | "roundrobin" | "rr" => Some(AssignmentStrategy::RoundRobin),
            _ => None,
        }
    }
}

impl fmt::Display for AssignmentStrategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which scoring terms apply, and their weights (reference `ScoreConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScoreConfig {
    /// Weight critical-path items higher.
    pub prefer_critical_path: bool,
    /// Penalize tasks whose files overlap others' reservations.
    pub penalize_file_overlap: bool,
    /// Match work to agent type and persona.
    pub use_agent_profiles: bool,
    /// Penalize agents with a full context window.
    pub budget_aware: bool,
    /// Context percent above which the penalty applies (0 means 80).
    pub context_threshold: f64,
    /// Weight of persona tag matches (0 means 0.15).
    pub profile_tag_boost_weight: f64,
    /// Weight of focus-pattern matches (0 means 0.10).
    pub focus_pattern_boost_weight: f64,
}

impl Default for ScoreConfig {
    fn default() -> Self {
        ScoreConfig {
            prefer_critical_path: true,
            penalize_file_overlap: true,
            use_agent_profiles: true,
            budget_aware: true,
            context_threshold: 80.0,
            profile_tag_boost_weight: 0.0,
            focus_pattern_boost_weight: 0.0,
        }
    }
}

impl ScoreConfig {
    /// The context threshold in effect (80 when unset).
    pub fn effective_context_threshold(&self) -> f64 {
        if self.context_threshold <= 0.0 {
            80.0
        } else {
            self.context_threshold
        }
    }

    /// The persona tag weight in effect (0.15 when unset).
    pub fn effective_tag_weight(&self) -> f64 {
        if self.profile_tag_boost_weight <= 0.0 {
            0.15
        } else {
            self.profile_tag_boost_weight
        }
    }

    /// The focus-pattern weight in effect (0.10 when unset).
    pub fn effective_focus_weight(&self) -> f64 {
        if self.focus_pattern_boost_weight <= 0.0 {
            0.10
        } else {
            self.focus_pattern_boost_weight
        }
    }
}

/// How an assignment's score was computed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct AssignmentScoreBreakdown {
    /// From the triage score.
    pub base_score: f64,
    /// Agent-type to task-complexity match.
    pub agent_type_bonus: f64,
    /// Critical-path items.
    pub critical_path_bonus: f64,
    /// Overlap with other agents' reservations.
    pub file_overlap_penalty: f64,
    /// High context usage.
    pub context_penalty: f64,
    /// Persona tag matches.
    pub profile_tag_bonus: f64,
    /// Persona focus-pattern matches.
    pub focus_pattern_bonus: f64,
    /// gaffer: the agent's recorded quality (tests, errors) relative to the average; absent
    /// from the reference, omitted when zero.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub quality_bonus: f64,
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

impl AssignmentScoreBreakdown {
    /// base + bonuses − penalties.
    pub fn total(&self) -> f64 {
        self.base_score
            + self.agent_type_bonus
            + self.critical_path_bonus
            + self.profile_tag_bonus
            + self.focus_pattern_bonus
            + self.quality_bonus
            - self.file_overlap_penalty
            - self.context_penalty
    }
}

/// An agent–task pairing with its reasoning (reference `Assignment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The task.
    pub bead: TriageRecommendation,
    /// The agent.
    pub agent: AgentState,
    /// Total score.
    pub score: f64,
    /// Why, in words.
    pub reason: String,
    /// 0–1 confidence.
    pub confidence: f64,
    /// How the score was made.
    pub breakdown: AssignmentScoreBreakdown,
}

/// A work assignment given to an agent (reference `WorkAssignment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkAssignment {
    /// Bead id.
    pub bead_id: String,
    /// Bead title.
    pub bead_title: String,
    /// Target pane.
    pub agent_pane_id: String,
    /// Agent Mail name of the agent.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub agent_mail_name: String,
    /// Agent type code.
    pub agent_type: String,
    /// When assigned.
    #[serde(with = "time::rfc3339")]
    pub assigned_at: Timestamp,
    /// Bead priority.
    pub priority: i64,
    /// Score.
    pub score: f64,
    /// Files the agent should reserve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files_to_reserve: Vec<String>,
}

/// The result of one assignment attempt (reference `AssignmentResult`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AssignmentResult {
    /// Whether it went through.
    pub success: bool,
    /// The assignment, when made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignment: Option<WorkAssignment>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
    /// Patterns reserved for the agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reservations: Vec<String>,
    /// Whether the assignment message was sent.
    pub message_sent: bool,
}

/// A scored agent–task pair (reference `ScoredAssignment`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoredAssignment {
    /// The assignment it would make.
    pub assignment: WorkAssignment,
    /// The task.
    pub recommendation: TriageRecommendation,
    /// The agent.
    pub agent: AgentState,
    /// Total score.
    pub total_score: f64,
    /// How the score was made.
    pub score_breakdown: AssignmentScoreBreakdown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_strategy_table() {
        use AssignmentStrategy::*;
        let table = [
            ("balanced", Balanced),
            ("BALANCED", Balanced),
            ("Balanced", Balanced),
            ("speed", Speed),
            ("fast", Speed),
            ("SPEED", Speed),
            ("quality", Quality),
            ("best", Quality),
            ("dependency", Dependency),
            ("deps", Dependency),
            ("blockers", Dependency),
            ("round-robin", RoundRobin),
            ("roundrobin", RoundRobin),
            ("rr", RoundRobin),
            ("RR", RoundRobin),
            ("unknown", Balanced),
            ("", Balanced),
            ("  speed  ", Speed),
        ];
        for (input, want) in table {
            assert_eq!(AssignmentStrategy::parse(input), want, "input {input:?}");
        }
        assert_eq!(AssignmentStrategy::parse_strict("bogus"), None);
        assert_eq!(AssignmentStrategy::parse_strict(""), None);
    }

    #[test]
    fn strategy_wire_names() {
        for s in AssignmentStrategy::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(AssignmentStrategy::parse(s.as_str()), s);
        }
    }

    #[test]
    fn score_config_defaults() {
        let c = ScoreConfig::default();
        assert!(
            c.prefer_critical_path
                && c.penalize_file_overlap
                && c.use_agent_profiles
                && c.budget_aware
        );
        assert_eq!(c.context_threshold, 80.0);
        assert_eq!(c.profile_tag_boost_weight, 0.0);
        assert_eq!(c.focus_pattern_boost_weight, 0.0);
        assert_eq!(c.effective_tag_weight(), 0.15);
        assert_eq!(c.effective_focus_weight(), 0.10);
        let zero = ScoreConfig {
            context_threshold: 0.0,
            ..c
        };
        assert_eq!(zero.effective_context_threshold(), 80.0);
    }
}
