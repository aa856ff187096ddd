//! The beads issue record, one line of `.beads/issues.jsonl` (spec/beads.md §3.2).

use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One beads issue. Optional fields are omitted when empty, as `br` writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Issue {
    /// `<prefix>-<hash>`, or `<parent>.<n>` for children.
    pub id: String,
    /// Title, at most 500 characters.
    pub title: String,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub design: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acceptance_criteria: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prerequisites: Option<String>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// open, in_progress, blocked, deferred, draft, closed, tombstone, pinned, or custom.
    #[serde(default = "default_status")]
    pub status: String,
    /// 0 (critical) … 4 (backlog); default 2.
    #[serde(default = "default_priority")]
    pub priority: i64,
    /// task, bug, feature, epic, chore, docs, question, or custom; default task.
    #[serde(default = "default_type")]
    pub issue_type: String,
    /// Who works on it (`--claim` sets it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    /// Owner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Estimate in minutes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimated_minutes: Option<i64>,
    /// Creation time.
    #[serde(
        default,
        with = "time::rfc3339_opt_si",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<Timestamp>,
    /// Last update.
    #[serde(
        default,
        with = "time::rfc3339_opt_si",
        skip_serializing_if = "Option::is_none"
    )]
    pub updated_at: Option<Timestamp>,
    /// Close time; present iff closed.
    #[serde(
        default,
        with = "time::rfc3339_opt_si",
        skip_serializing_if = "Option::is_none"
    )]
    pub closed_at: Option<Timestamp>,
    /// Why it was closed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_reason: Option<String>,
    /// Due date.
    #[serde(
        default,
        with = "time::rfc3339_opt_si",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_at: Option<Timestamp>,
    /// Hidden from ready work until then.
    #[serde(
        default,
        with = "time::rfc3339_opt_si",
        skip_serializing_if = "Option::is_none"
    )]
    pub defer_until: Option<Timestamp>,
    /// External reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_ref: Option<String>,
    /// Source repository name or `"."`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_repo: Option<String>,
    /// Ephemeral (never exported, never ready).
    #[serde(default, skip_serializing_if = "is_false")]
    pub ephemeral: bool,
    /// Pinned (never ready).
    #[serde(default, skip_serializing_if = "is_false")]
    pub pinned: bool,
    /// Template (never ready).
    #[serde(default, skip_serializing_if = "is_false")]
    pub is_template: bool,
    /// Sorted labels.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "time::null_as_default"
    )]
    pub labels: Vec<String>,
    /// Dependencies, stored on the dependent.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "time::null_as_default"
    )]
    pub dependencies: Vec<Dependency>,
    /// Comments.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "time::null_as_default"
    )]
    pub comments: Vec<Comment>,
    /// Every other field (`compaction_level`, `original_size`, bd extensions, …), preserved.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

fn default_status() -> String {
    "open".into()
}
fn default_priority() -> i64 {
    2
}
fn default_type() -> String {
    "task".into()
}
fn is_false(b: &bool) -> bool {
    !*b
}

impl Issue {
    /// Closed or tombstoned.
    pub fn is_closed(&self) -> bool {
        self.status == "closed" || self.status == "tombstone"
    }
}

/// A dependency edge. `{issue_id: X, depends_on_id: Y, type: blocks}` means Y blocks X;
/// `parent-child` means Y is X's parent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Dependency {
    /// The dependent.
    #[serde(default)]
    pub issue_id: String,
    /// The dependency (older exports call it `depends_on` or `target_id`).
    #[serde(alias = "depends_on", alias = "target_id")]
    pub depends_on_id: String,
    /// `blocks` (default when empty), `parent-child`, `related`, …
    #[serde(rename = "type", default)]
    pub dep_type: String,
    /// Creation time.
    #[serde(
        default,
        with = "time::rfc3339_opt_si",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<Timestamp>,
    /// Creator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// JSON in a string, usually `"{}"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<String>,
    /// Thread id, usually empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread_id: Option<String>,
}

impl Dependency {
    /// The edge type, with an empty type read as `blocks`.
    pub fn kind(&self) -> &str {
        if self.dep_type.is_empty() {
            "blocks"
        } else {
            &self.dep_type
        }
    }
}

/// A comment on an issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Comment {
    /// Integer in br, UUID string in bd ≥ 1.0.
    pub id: Value,
    /// The issue.
    #[serde(default)]
    pub issue_id: String,
    /// Author.
    #[serde(default)]
    pub author: String,
    /// Text.
    #[serde(default)]
    pub text: String,
    /// When written.
    #[serde(
        default,
        with = "time::rfc3339_opt_si",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_at: Option<Timestamp>,
}
