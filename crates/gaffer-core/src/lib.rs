//! gaffer-core: the pure domain model and policy of gaffer.
//!
//! No IO and no async runtime live here: time comes in as values, and the outside world is
//! reached only through the traits that adapters implement. JSON names follow the reference
//! (NTM `internal/coordinator` v1.7.0) exactly.

pub mod agent;
pub mod agent_files;
pub mod assign;
pub mod assignment;
pub mod beads;
pub mod claims;
pub mod clock;
pub mod config;
pub mod conflict;
pub mod control;
pub mod cycle;
pub mod digest;
pub mod event;
pub mod exit;
pub mod fuse;
pub mod home;
pub mod hook_payload;
pub mod hook_settings;
pub mod kinds;
pub mod messages;
pub mod notify;
pub mod pane;
pub mod persona;
pub mod quality;
pub mod quality_monitor;
pub mod secrets;
pub mod signals;
pub mod status;
pub mod test_report;
pub mod text;
pub mod time;
pub mod toml_file;
pub mod transitions;
pub mod triage;

// Observation (issue: observation).
pub mod detect;
pub mod escapes;
pub mod limits;
pub mod panes;

// Agent Mail and conflicts (issue: Agent Mail).
pub mod conflicts;
pub mod glob;
pub mod hash;
pub mod mailbox;

// Work source and triage (issue: work source).
pub mod triage_engine;
pub mod work_source;

pub use agent::{AgentState, AgentStatusResult, ContextSnapshot, HealthCheck};
pub use assignment::{
    Assignment, AssignmentResult, AssignmentScoreBreakdown, AssignmentStrategy, ScoreConfig,
    ScoredAssignment, WorkAssignment,
};
pub use beads::{Comment, Dependency, Issue};
pub use config::{CoordinatorConfig, GafferConfig, MIN_DIGEST_INTERVAL, MIN_POLL_INTERVAL};
pub use conflict::{Conflict, Holder};
pub use digest::{AgentDigestStatus, DigestSummary, WorkDigestSummary};
pub use event::{CoordinatorEvent, CoordinatorEventType};
pub use persona::Persona;
pub use quality::{
    AgentQualityMetrics, QualitySummary, QualityTrend, ScanMetrics, TestRunMetrics, TrendDirection,
};
pub use status::AgentStatus;
pub use text::{extract_mentioned_files, extract_task_tags};
pub use time::Timestamp;
pub use triage::{TriageBreakdown, TriageRecommendation, TriageResponse};
