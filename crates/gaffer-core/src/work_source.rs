//! The `WorkSource` port: triage, ready work, claims and closes (spec/beads.md §7).
//!
//! Adapters (gaffer-beads) implement it over the JSONL (native), `bv` and `br`. Expected
//! outcomes — a claim lost to another agent, a read-only source — are values, not errors.

use crate::beads::Issue;
use crate::digest::WorkDigestSummary;
use crate::time::Timestamp;
use crate::triage::TriageResponse;
use serde::{Deserialize, Serialize};

/// The issues behind the work source as read now, with the lines of its file that could not
/// be read (say which, e.g. `line 301: EOF while parsing`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IssuesReading {
    /// The issues.
    pub issues: Vec<Issue>,
    /// Lines skipped, each with its reason.
    pub skipped: Vec<String>,
}

impl From<Vec<Issue>> for IssuesReading {
    fn from(issues: Vec<Issue>) -> Self {
        IssuesReading {
            issues,
            skipped: Vec::new(),
        }
    }
}

/// Where work comes from.
pub trait WorkSource {
    /// A short name: `native`, `bv` or `br`.
    fn name(&self) -> &'static str;

    /// The triage, in bv's shape, as of `now`.
    fn triage(&self, now: Timestamp) -> Result<TriageResponse, WorkSourceError>;

    /// The ready set: open issues with nothing blocking them, as of `now`.
    fn ready(&self, now: Timestamp) -> Result<Vec<Issue>, WorkSourceError>;

    /// Whether the source's tool works now. A source whose last call failed checks again
    /// (cheaply); the default is healthy. Failed claims, closes and reads make the work source
    /// degraded through this, even when the triage itself is computed without the tool.
    fn health(&self) -> Result<(), String> {
        Ok(())
    }

    /// Claims `id` for `actor` atomically.
    fn claim(&self, id: &str, actor: &str) -> Result<ClaimOutcome, WorkSourceError>;

    /// Closes `id` with `reason`.
    fn close(&self, id: &str, reason: &str) -> Result<CloseOutcome, WorkSourceError>;

    /// Undoes a claim by `actor` (an assignment that failed after claiming): the issue goes
    /// back to `open` with no assignee. Returns whether anything was written; a read-only
    /// source writes nothing.
    fn unclaim(&self, id: &str, actor: &str) -> Result<bool, WorkSourceError> {
        let _ = (id, actor);
        Ok(false)
    }

    /// Who holds `id` in the source now, read from the tool itself (not a file it may have
    /// stopped writing). Used before a claim whose undo failed is undone again, so a bead
    /// someone else claimed since, or that was closed, is left alone. The default does not
    /// know.
    fn holding(&self, id: &str) -> Result<Holding, WorkSourceError> {
        let _ = id;
        Ok(Holding::Unknown)
    }
}

/// Who holds an issue in the work source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Holding {
    /// Open with no assignee.
    Free,
    /// In progress, assigned to this actor.
    HeldBy(String),
    /// Closed (or another state in which a claim is not undone).
    Other(String),
    /// The source cannot tell.
    Unknown,
}

/// The result of a claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ClaimOutcome {
    /// The issue is now in progress and assigned to the actor.
    Claimed {
        /// The issue.
        id: String,
        /// Its assignee now.
        assignee: String,
    },
    /// Someone else holds it: the race was lost. Take the next candidate.
    AlreadyClaimed {
        /// The issue.
        id: String,
        /// The holder, when the tool names it.
        holder: Option<String>,
        /// The tool's message.
        message: String,
    },
    /// The issue cannot be claimed (closed, blocked, …).
    NotClaimable {
        /// The issue.
        id: String,
        /// Why.
        reason: String,
    },
    /// This source cannot write; the claim must live in gaffer's own ledger.
    ReadOnly,
}

/// The result of a close.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum CloseOutcome {
    /// Closed; `unblocked` lists issues that became ready.
    Closed {
        /// The issue.
        id: String,
        /// Issues this close unblocked.
        unblocked: Vec<String>,
    },
    /// The tool refused (already closed, …).
    NotClosable {
        /// The issue.
        id: String,
        /// Why.
        reason: String,
    },
    /// This source cannot write.
    ReadOnly,
}

/// A failure of a work source.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkSourceError {
    /// The tool is not installed or the project has no beads.
    #[error("{tool} unavailable: {message}")]
    Unavailable {
        /// `bv`, `br` or `beads`.
        tool: String,
        /// Details.
        message: String,
    },
    /// The tool did not answer in time (it was killed).
    #[error("{tool} timed out after {seconds:.1}s")]
    Timeout {
        /// The tool.
        tool: String,
        /// The limit.
        seconds: f64,
    },
    /// No such issue.
    #[error("issue {id} not found: {message}")]
    NotFound {
        /// The issue.
        id: String,
        /// The tool's message.
        message: String,
    },
    /// The tool answered something that could not be read.
    #[error("could not parse {tool} output: {message}")]
    Parse {
        /// The tool.
        tool: String,
        /// Details.
        message: String,
    },
    /// The tool failed.
    #[error("{tool} failed (exit {exit_code:?}, {code}): {message}")]
    Failed {
        /// The tool.
        tool: String,
        /// Its exit code.
        exit_code: Option<i32>,
        /// Its machine error code (`DATABASE_ERROR`, …), or empty.
        code: String,
        /// Its message.
        message: String,
        /// Whether the tool said a retry may succeed.
        retryable: bool,
    },
    /// Reading files failed.
    #[error("reading {path}: {message}")]
    Io {
        /// The path.
        path: String,
        /// Details.
        message: String,
    },
}

/// The digest's work figures from issues: pending (open, not blocked), in progress, blocked
/// (non-closed with open blockers or status `blocked`), closed since midnight UTC of `now`, and
/// the best `top` ready ids: in `ranked_ids` order (a triage's ranking), then the remaining
/// ready ids by id.
pub fn work_digest(
    issues: &[Issue],
    ranked_ids: &[String],
    ready_ids: &[String],
    now: Timestamp,
    top: usize,
) -> WorkDigestSummary {
    use crate::triage_engine::graph::{BeadGraph, Blocking};
    let g = BeadGraph::new(issues);
    let b = Blocking::new(&g, now);
    let midnight = now
        .date_naive()
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    let mut s = WorkDigestSummary::default();
    for (i, issue) in g.issues.iter().enumerate() {
        let blocked = !b.blocked_by[i].is_empty() || issue.status == "blocked";
        if g.closed(i) {
            let when = issue.closed_at.or(issue.updated_at);
            if issue.status == "closed" && when.is_some_and(|t| t >= midnight && t <= now) {
                s.completed_today += 1;
            }
        } else if issue.status == "in_progress" {
            s.in_progress_tasks += 1;
        } else if blocked {
            s.blocked_tasks += 1;
        } else if issue.status == "open" {
            s.pending_tasks += 1;
        }
    }
    let ready: std::collections::HashSet<&str> = ready_ids.iter().map(String::as_str).collect();
    let mut top_ready: Vec<String> = ranked_ids
        .iter()
        .filter(|id| ready.contains(id.as_str()))
        .cloned()
        .collect();
    let mut seen = std::collections::HashSet::new();
    top_ready.retain(|id| seen.insert(id.clone()));
    // Ready items the ranking does not hold (bv ranks only its top 10) follow in id order.
    let mut rest: Vec<&String> = ready_ids.iter().filter(|id| !seen.contains(*id)).collect();
    rest.sort();
    top_ready.extend(rest.into_iter().cloned());
    top_ready.truncate(top);
    s.top_ready = top_ready;
    s
}
