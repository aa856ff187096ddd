//! The beads issue record, one line of `.beads/issues.jsonl` (spec/beads.md §3.2).

use crate::time::{self, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One beads issue. Optional fields are omitted when empty, as `br` writes them.
///
/// Deserialization is hand-written (see [`de`]) rather than derived with `#[serde(flatten)]`,
/// which buffers every record and made reading a large `issues.jsonl` several times slower.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
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

mod de {
    //! The hand-written `Deserialize` of [`Issue`](super::Issue): the same rules as the derive
    //! (defaults, `null` lists read as empty, unknown fields kept in `extra`) without buffering.

    use super::*;
    use serde::de::{self, Deserializer, MapAccess, Visitor};
    use std::borrow::Cow;
    use std::fmt;

    struct Key<'a>(Cow<'a, str>);

    impl<'de> Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("a field name")
                }
                fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Borrowed(v)))
                }
                fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(v.to_string())))
                }
                fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                    Ok(Key(Cow::Owned(v)))
                }
            }
            d.deserialize_str(V)
        }
    }

    struct Ts(Option<Timestamp>);

    impl<'de> Deserialize<'de> for Ts {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            time::rfc3339_opt::deserialize(d).map(Ts)
        }
    }

    impl<'de> Deserialize<'de> for Issue {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_map(IssueVisitor)
        }
    }

    struct IssueVisitor;

    impl<'de> Visitor<'de> for IssueVisitor {
        type Value = Issue;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a beads issue object")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Issue, A::Error> {
            let mut issue = Issue {
                status: default_status(),
                priority: default_priority(),
                issue_type: default_type(),
                ..Issue::default()
            };
            let (mut has_id, mut has_title) = (false, false);
            while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
                match key.as_ref() {
                    "id" => {
                        issue.id = map.next_value()?;
                        has_id = true;
                    }
                    "title" => {
                        issue.title = map.next_value()?;
                        has_title = true;
                    }
                    "description" => issue.description = map.next_value()?,
                    "design" => issue.design = map.next_value()?,
                    "acceptance_criteria" => issue.acceptance_criteria = map.next_value()?,
                    "prerequisites" => issue.prerequisites = map.next_value()?,
                    "notes" => issue.notes = map.next_value()?,
                    "status" => issue.status = map.next_value()?,
                    "priority" => issue.priority = map.next_value()?,
                    "issue_type" => issue.issue_type = map.next_value()?,
                    "assignee" => issue.assignee = map.next_value()?,
                    "owner" => issue.owner = map.next_value()?,
                    "created_by" => issue.created_by = map.next_value()?,
                    "estimated_minutes" => issue.estimated_minutes = map.next_value()?,
                    "created_at" => issue.created_at = map.next_value::<Ts>()?.0,
                    "updated_at" => issue.updated_at = map.next_value::<Ts>()?.0,
                    "closed_at" => issue.closed_at = map.next_value::<Ts>()?.0,
                    "close_reason" => issue.close_reason = map.next_value()?,
                    "due_at" => issue.due_at = map.next_value::<Ts>()?.0,
                    "defer_until" => issue.defer_until = map.next_value::<Ts>()?.0,
                    "external_ref" => issue.external_ref = map.next_value()?,
                    "source_repo" => issue.source_repo = map.next_value()?,
                    "ephemeral" => issue.ephemeral = map.next_value()?,
                    "pinned" => issue.pinned = map.next_value()?,
                    "is_template" => issue.is_template = map.next_value()?,
                    "labels" => {
                        issue.labels = map.next_value::<Option<Vec<String>>>()?.unwrap_or_default()
                    }
                    "dependencies" => {
                        issue.dependencies = map
                            .next_value::<Option<Vec<Dependency>>>()?
                            .unwrap_or_default()
                    }
                    "comments" => {
                        issue.comments = map
                            .next_value::<Option<Vec<Comment>>>()?
                            .unwrap_or_default()
                    }
                    _ => {
                        let value: Value = map.next_value()?;
                        issue.extra.insert(key.into_owned(), value);
                    }
                }
            }
            if !has_id {
                return Err(de::Error::missing_field("id"));
            }
            if !has_title {
                return Err(de::Error::missing_field("title"));
            }
            Ok(issue)
        }
    }
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
