//! Session digests (reference `DigestSummary`, `AgentDigestStatus`, `WorkDigestSummary`).

use crate::agent::AgentState;
use crate::conflict::Conflict;
use crate::quality::QualitySummary;
use crate::status::AgentStatus;
use crate::time::{self, Timestamp, format_short_duration};
use serde::{Deserialize, Serialize};

/// A summary of session activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestSummary {
    /// tmux session name.
    pub session: String,
    /// When generated.
    #[serde(with = "time::rfc3339")]
    pub generated_at: Timestamp,
    /// Agents tracked.
    pub agent_count: i64,
    /// Generating or thinking.
    pub active_count: i64,
    /// Waiting.
    pub idle_count: i64,
    /// In error.
    pub error_count: i64,
    /// One line per agent.
    #[serde(default, deserialize_with = "time::null_as_default")]
    pub agent_statuses: Vec<AgentDigestStatus>,
    /// Things a human should look at.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
    /// Work counts. Absent (rather than zero) when the work source could not be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub work_summary: Option<WorkDigestSummary>,
    /// gaffer: where each figure came from, and how old it is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<SourceStatus>,
    /// gaffer: active reservation conflicts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<DigestConflict>,
    /// gaffer: quality figures, when the monitor has any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<QualitySummary>,
}

/// The provenance of one input of a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// `agents`, `work`, `reservations`, `quality`.
    pub name: String,
    /// What was read, e.g. `tmux`, `native triage of .beads/issues.jsonl`, `agent mail`.
    pub source: String,
    /// `ok` or `degraded`.
    pub status: String,
    /// Seconds since the figures were read.
    pub age_secs: f64,
    /// The error when degraded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

/// A conflict line in a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestConflict {
    /// Conflict id.
    pub id: String,
    /// The contested pattern.
    pub pattern: String,
    /// Holders' names.
    pub holders: Vec<String>,
}

/// An input read from somewhere, or the reason it could not be.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading<T> {
    /// Read at `at` from `source`.
    Ok {
        /// The value.
        value: T,
        /// When it was read.
        at: Timestamp,
        /// What it was read from.
        source: String,
    },
    /// Could not be read.
    Degraded {
        /// What was tried.
        source: String,
        /// Why it failed.
        error: String,
    },
}

/// Everything a digest is made from.
#[derive(Debug, Clone)]
pub struct DigestInput<'a> {
    /// tmux session.
    pub session: &'a str,
    /// Now.
    pub now: Timestamp,
    /// The observed agents.
    pub agents: Reading<Vec<AgentState>>,
    /// Work counts from the work source.
    pub work: Reading<WorkDigestSummary>,
    /// Active conflicts from the mailbox.
    pub conflicts: Reading<Vec<Conflict>>,
    /// Quality figures.
    pub quality: Option<QualitySummary>,
}

fn status_of<T>(name: &str, r: &Reading<T>, now: Timestamp) -> SourceStatus {
    match r {
        Reading::Ok { at, source, .. } => SourceStatus {
            name: name.into(),
            source: source.clone(),
            status: "ok".into(),
            age_secs: ((now - *at).num_milliseconds().max(0) as f64) / 1000.0,
            error: String::new(),
        },
        Reading::Degraded { source, error } => SourceStatus {
            name: name.into(),
            source: source.clone(),
            status: "degraded".into(),
            age_secs: 0.0,
            error: error.clone(),
        },
    }
}

/// Builds a digest (reference `GenerateDigest`), with real work counts, provenance, and alerts
/// for errors, stalls, blocked, rate-limited and exited agents, high context, conflicts and
/// unreadable sources.
pub fn generate_digest(input: &DigestInput<'_>) -> DigestSummary {
    let now = input.now;
    let mut d = DigestSummary {
        session: input.session.to_string(),
        generated_at: now,
        agent_count: 0,
        active_count: 0,
        idle_count: 0,
        error_count: 0,
        agent_statuses: Vec::new(),
        alerts: Vec::new(),
        work_summary: None,
        sources: vec![
            status_of("agents", &input.agents, now),
            status_of("work", &input.work, now),
            status_of("reservations", &input.conflicts, now),
        ],
        conflicts: Vec::new(),
        quality: input.quality.clone(),
    };
    if let Reading::Ok { value: agents, .. } = &input.agents {
        let mut agents: Vec<&AgentState> = agents.iter().collect();
        agents.sort_by_key(|a| (a.window_index, a.pane_index, a.pane_id.clone()));
        d.agent_count = agents.len() as i64;
        for a in agents {
            let who = format!("{} ({})", a.display_name(), a.agent_type);
            let mut idle_for = String::new();
            match a.status {
                AgentStatus::Waiting => {
                    d.idle_count += 1;
                    let idle = (now - a.last_activity).to_std().unwrap_or_default();
                    idle_for = format_short_duration(idle);
                }
                AgentStatus::Generating | AgentStatus::Thinking => d.active_count += 1,
                AgentStatus::Error => {
                    d.error_count += 1;
                    d.alerts.push(format!("{who} in error state"));
                }
                AgentStatus::Stalled => d.alerts.push(format!("{who} appears stalled")),
                AgentStatus::Blocked => d
                    .alerts
                    .push(format!("{who} is waiting for a human decision")),
                AgentStatus::RateLimited => d.alerts.push(format!("{who} is rate-limited")),
                AgentStatus::Exited => d.alerts.push(format!("{who} has exited")),
                AgentStatus::Unknown => {}
            }
            if a.context_usage > 85.0 {
                d.alerts.push(format!(
                    "{who} context at {}%",
                    a.context_usage.round() as i64
                ));
            }
            d.agent_statuses.push(AgentDigestStatus {
                name: a.display_name(),
                pane_index: a.pane_index,
                window_index: a.window_index,
                agent_type: a.agent_type.clone(),
                status: a.status.to_string(),
                context_usage: a.context_usage,
                idle_for,
                task: a.current_task.clone(),
            });
        }
    }
    if let Reading::Ok { value, .. } = &input.work {
        d.work_summary = Some(value.clone());
    }
    if let Reading::Ok {
        value: conflicts, ..
    } = &input.conflicts
    {
        for c in conflicts {
            let holders: Vec<String> = c.holders.iter().map(|h| h.agent_name.clone()).collect();
            d.alerts.push(format!(
                "Reservation conflict on {} between {}",
                c.pattern,
                holders.join(", ")
            ));
            d.conflicts.push(DigestConflict {
                id: c.id.clone(),
                pattern: c.pattern.clone(),
                holders,
            });
        }
    }
    for s in &d.sources {
        if s.status == "degraded" {
            d.alerts.push(format!(
                "{} unavailable ({}): {}",
                s.name, s.source, s.error
            ));
        }
    }
    if let Some(q) = &input.quality {
        d.alerts.extend(q.alerts.iter().cloned());
    }
    d
}

/// Message importance of a digest: urgent with errors, high with alerts, else normal.
pub fn digest_importance(d: &DigestSummary) -> &'static str {
    if d.error_count > 0 {
        "urgent"
    } else if !d.alerts.is_empty() {
        "high"
    } else {
        "normal"
    }
}

/// The digest as markdown (reference layout, plus work, conflicts and provenance).
pub fn render_markdown(d: &DigestSummary, coordinator: &str) -> String {
    let mut m = String::new();
    m.push_str(&format!("# Session Digest: {}\n\n", d.session));
    m.push_str(&format!(
        "**Generated:** {}\n\n",
        crate::time::format_rfc3339(&d.generated_at)
    ));
    m.push_str("## Summary\n\n");
    m.push_str(&format!("- **Total Agents:** {}\n", d.agent_count));
    m.push_str(&format!("- **Active:** {}\n", d.active_count));
    m.push_str(&format!("- **Idle:** {}\n", d.idle_count));
    if d.error_count > 0 {
        m.push_str(&format!("- **Errors:** {} ⚠️\n", d.error_count));
    }
    m.push('\n');
    if !d.alerts.is_empty() {
        m.push_str("## Alerts\n\n");
        for a in &d.alerts {
            m.push_str(&format!("- ⚠️ {a}\n"));
        }
        m.push('\n');
    }
    m.push_str("## Agent Status\n\n| Agent | Pane | Type | Status | Context | Idle For |\n|-------|------|------|--------|---------|----------|\n");
    for a in &d.agent_statuses {
        let idle = if a.idle_for.is_empty() {
            "-"
        } else {
            &a.idle_for
        };
        m.push_str(&format!(
            "| {} | {}.{} | {} | {} | {}% | {} |\n",
            a.name.replace('|', "/"),
            a.window_index,
            a.pane_index,
            a.agent_type,
            a.status,
            a.context_usage.round() as i64,
            idle
        ));
    }
    m.push('\n');
    m.push_str("## Work\n\n");
    match &d.work_summary {
        Some(w) => {
            m.push_str(&format!(
                "- Pending: {}\n- In progress: {}\n- Blocked: {}\n- Completed today: {}\n",
                w.pending_tasks, w.in_progress_tasks, w.blocked_tasks, w.completed_today
            ));
            if !w.top_ready.is_empty() {
                m.push_str(&format!("- Top ready: {}\n", w.top_ready.join(", ")));
            }
        }
        None => m.push_str("- unavailable (the work source could not be read)\n"),
    }
    m.push('\n');
    if !d.conflicts.is_empty() {
        m.push_str("## Conflicts\n\n");
        for c in &d.conflicts {
            m.push_str(&format!("- `{}`: {}\n", c.pattern, c.holders.join(", ")));
        }
        m.push('\n');
    }
    if let Some(q) = &d.quality {
        m.push_str("## Quality\n\n");
        m.push_str(&format!(
            "- Test pass rate: {:.0}% over {} runs\n- Scanner findings: {} critical, {} warnings\n\n",
            q.test_pass_rate, q.total_test_runs, q.critical_bugs, q.warnings
        ));
    }
    if !d.sources.is_empty() {
        m.push_str("## Sources\n\n");
        for s in &d.sources {
            if s.status == "ok" {
                m.push_str(&format!(
                    "- {}: {} ({}s old)\n",
                    s.name,
                    s.source,
                    s.age_secs.round() as i64
                ));
            } else {
                m.push_str(&format!(
                    "- {}: {} — DEGRADED: {}\n",
                    s.name, s.source, s.error
                ));
            }
        }
        m.push('\n');
    }
    m.push_str(&format!("---\n*Coordinator: {coordinator}*\n"));
    m
}

/// One agent's line in a digest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentDigestStatus {
    /// Its unique, readable name (see [`AgentState::display_name`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Pane index.
    pub pane_index: i64,
    /// The pane's window index.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub window_index: i64,
    /// Agent type code.
    pub agent_type: String,
    /// Status name.
    pub status: String,
    /// Percent of context used.
    pub context_usage: f64,
    /// How long idle, like `42s`, `17m`, `3h5m`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub idle_for: String,
    /// Current bead.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub task: String,
}

/// Work counts for a digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct WorkDigestSummary {
    /// Open and ready or waiting.
    pub pending_tasks: i64,
    /// In progress.
    pub in_progress_tasks: i64,
    /// Closed since midnight UTC.
    pub completed_today: i64,
    /// Blocked by open dependencies.
    pub blocked_tasks: i64,
    /// The best ready ids.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_ready: Vec<String>,
}

/// Window 0 is left out of the JSON (the reference has no window index).
fn is_zero(n: &i64) -> bool {
    *n == 0
}
