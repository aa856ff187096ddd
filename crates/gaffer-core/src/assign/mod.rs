//! Assignment policy: complexity, pair scoring, global matching, strategies, back-off.

pub mod backoff;
pub mod complexity;
pub mod matching;
pub mod paths;
pub mod score;
pub mod select;

pub use backoff::{BackoffBook, BackoffEntry, BackoffReason};
pub use score::{ReservationMap, score_pair};
pub use select::{
    PlanOptions, assign_tasks, is_available, is_claimable, is_fresh_waiting, plan_assignments,
    score_and_select_assignments, strategy_config,
};
