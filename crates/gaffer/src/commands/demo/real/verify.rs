//! The run checked against its expectations, from the ledger, its event log, the mailbox, the
//! files the CLIs wrote and the model servers' logs.

use super::project::TASKS;
use super::script::{STEPS, commands_decided, results_back};
use crate::commands::demo::summary::detail_str;
use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::mailbox::{InboxQuery, Mailbox};
use gaffer_model_sim::LogEntry;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What the run is checked from.
pub(super) struct Check<'a> {
    pub ledger: &'a Ledger,
    pub mailbox: &'a dyn Mailbox,
    pub project: &'a str,
    pub dir: &'a Path,
    pub human: &'a str,
    pub titles: &'a BTreeMap<String, String>,
    /// bead → (title, file)
    pub beads: &'a BTreeMap<String, (String, &'static str)>,
    pub bead_order: &'a [String],
    pub limited_pane: &'a str,
    /// pane → its model server's log
    pub logs: &'a BTreeMap<String, Vec<LogEntry>>,
    pub br: bool,
    /// Whether the limited agent read RATE_LIMITED before the coordinator started.
    pub limited_before: bool,
    /// Whether the coordinator's agent view showed it RATE_LIMITED before it cleared.
    pub coordinator_saw_limited: bool,
    pub final_digest: Option<&'a gaffer_core::digest::DigestSummary>,
}

/// Checks the run from the ledger, its event log, the mailbox, the files and the model logs.
pub(super) fn summarize(s: &Check<'_>) -> (bool, Value) {
    let records = s.ledger.all().unwrap_or_default();
    let events: Vec<CoordinatorEvent> = s
        .ledger
        .events_since(0)
        .map(|(v, _)| v.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default();
    let count = |k: &str| events.iter().filter(|e| e.event_type.as_str() == k).count();
    let mut checks: Vec<(&str, bool, String)> = Vec::new();
    let tasks = s.bead_order;

    let assigned: BTreeMap<String, usize> = events
        .iter()
        .filter(|e| e.event_type.as_str() == "work_assigned")
        .fold(BTreeMap::new(), |mut m, e| {
            *m.entry(detail_str(e, "bead_id")).or_insert(0) += 1;
            m
        });
    let done: BTreeMap<&str, &AssignmentRecord> = records
        .iter()
        .filter(|r| r.state == AssignmentState::Done)
        .map(|r| (r.assignment.bead_id.as_str(), r))
        .collect();
    let not_once: Vec<String> = tasks
        .iter()
        .filter(|t| assigned.get(*t).copied().unwrap_or(0) != 1)
        .map(|t| format!("{t}×{}", assigned.get(t).copied().unwrap_or(0)))
        .collect();
    checks.push((
        "every_task_assigned_once",
        not_once.is_empty(),
        if not_once.is_empty() {
            format!("{} tasks, one assignment each", tasks.len())
        } else {
            format!("not assigned exactly once: {}", not_once.join(", "))
        },
    ));
    let open: Vec<&str> = tasks
        .iter()
        .map(String::as_str)
        .filter(|t| !done.contains_key(t))
        .collect();
    checks.push((
        "every_task_completed",
        open.is_empty(),
        if open.is_empty() {
            "all done in the ledger".into()
        } else {
            format!("not done: {}", open.join(", "))
        },
    ));
    // Dependents were assigned only after their blockers were done.
    let mut early = Vec::new();
    for (i, t) in TASKS.iter().enumerate() {
        let Some(rec) = tasks.get(i).and_then(|id| done.get(id.as_str())) else {
            continue;
        };
        for b in t.blocked_by {
            if let Some(blocker) = tasks.get(*b).and_then(|id| done.get(id.as_str())) {
                if rec.created_at < blocker.updated_at {
                    early.push(format!("{} before {}", tasks[i], tasks[*b]));
                }
            }
        }
    }
    checks.push((
        "dependents_after_blockers",
        early.is_empty(),
        if early.is_empty() {
            "each dependent was assigned after its blockers were done".into()
        } else {
            early.join(", ")
        },
    ));
    // Every bead's prompt reached the model of the agent it was assigned to, and every step's
    // tool call came back as a tool result (the CLI ran it).
    let mut missing_prompt = Vec::new();
    let mut missing_steps = Vec::new();
    for bead in tasks {
        let Some(rec) = done
            .get(bead.as_str())
            .copied()
            .or_else(|| records.iter().find(|r| &r.assignment.bead_id == bead))
        else {
            missing_prompt.push(format!("{bead} (never assigned)"));
            continue;
        };
        let log = s
            .logs
            .get(&rec.assignment.agent_pane_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let needle = format!("gaffer assigned you {bead} ");
        if !log.iter().any(|e| {
            e.turn
                .as_ref()
                .is_some_and(|t| t.last_user_text.contains(&needle))
        }) {
            missing_prompt.push(bead.clone());
            continue;
        }
        let most = results_back(log, bead);
        let done_cmd = commands_decided(log)
            .iter()
            .any(|c| c.contains(&format!(" done {bead} ")));
        if most < STEPS || !done_cmd {
            missing_steps.push(format!("{bead}: {most}/{STEPS} tool results back"));
        }
    }
    checks.push((
        "every_prompt_reached_a_model",
        missing_prompt.is_empty(),
        if missing_prompt.is_empty() {
            format!(
                "{} assignment prompts in the model servers' logs",
                tasks.len()
            )
        } else {
            format!("no model saw: {}", missing_prompt.join(", "))
        },
    ));
    checks.push((
        "every_step_ran_through_the_cli",
        missing_steps.is_empty() && missing_prompt.is_empty(),
        if missing_steps.is_empty() {
            "reserve, write, record-tests and gaffer done ran for every task (4 tool results \
             each)"
                .into()
        } else {
            missing_steps.join("; ")
        },
    ));
    // The files the CLIs wrote.
    let unwritten: Vec<String> = tasks
        .iter()
        .filter_map(|b| s.beads.get(b).map(|(_, f)| (b, *f)))
        .filter(|(b, f)| {
            !std::fs::read_to_string(s.dir.join(f)).is_ok_and(|t| t.starts_with(&format!("{b}:")))
        })
        .map(|(_, f)| f.to_string())
        .collect();
    checks.push((
        "files_written",
        unwritten.is_empty(),
        if unwritten.is_empty() {
            format!("{} files, each written by its bead's agent", tasks.len())
        } else {
            format!("missing or wrong: {}", unwritten.join(", "))
        },
    ));
    // The agents' own reservations, and the assignment messages in their inboxes.
    let reservations = s
        .mailbox
        .list_reservations(s.project, None, false)
        .unwrap_or_default();
    let query = InboxQuery {
        limit: 200,
        urgent_only: false,
        include_bodies: false,
    };
    let mut unreserved = Vec::new();
    let mut unmailed = Vec::new();
    for bead in tasks {
        let Some(rec) = records.iter().find(|r| &r.assignment.bead_id == bead) else {
            continue;
        };
        let name = &rec.assignment.agent_name;
        let file = s.beads.get(bead).map(|(_, f)| *f).unwrap_or("");
        if !reservations.iter().any(|r| {
            &r.agent_name == name && r.path_pattern == file && r.reason == format!("self-{bead}")
        }) {
            unreserved.push(format!("{bead} ({name})"));
        }
        let title = s.beads.get(bead).map(|(t, _)| t.as_str()).unwrap_or("");
        let mailed = s
            .mailbox
            .fetch_inbox(s.project, name, &query)
            .map(|m| {
                m.iter()
                    .any(|x| x.subject == format!("Work Assignment: {title}"))
            })
            .unwrap_or(false);
        if !mailed {
            unmailed.push(format!("{bead} ({name})"));
        }
    }
    checks.push((
        "agents_reserved_their_files",
        unreserved.is_empty(),
        if unreserved.is_empty() {
            "each agent reserved its task's file itself (gaffer mail reserve)".into()
        } else {
            format!("no reservation by the agent: {}", unreserved.join(", "))
        },
    ));
    checks.push((
        "assignments_in_inboxes",
        unmailed.is_empty(),
        if unmailed.is_empty() {
            "every assignee has its Work Assignment message".into()
        } else {
            format!("no assignment message: {}", unmailed.join(", "))
        },
    ));
    if s.br {
        let closed = gaffer_beads::BeadsProject::discover(s.dir)
            .ok()
            .and_then(|p| p.load().ok())
            .map(|l| {
                l.issues
                    .iter()
                    .filter(|i| i.status == "closed")
                    .map(|i| i.id.clone())
                    .collect::<BTreeSet<String>>()
            })
            .unwrap_or_default();
        let open: Vec<&String> = tasks.iter().filter(|t| !closed.contains(*t)).collect();
        checks.push((
            "closed_in_br",
            open.is_empty(),
            if open.is_empty() {
                "every bead is closed in br".into()
            } else {
                format!("still open in br: {open:?}")
            },
        ));
    }
    // The limited agent got no work while limited: it is limited from the coordinator's first
    // look (then no event marks the start) or from an `agent_rate_limited` event, until a
    // change to another state.
    let mine: Vec<&CoordinatorEvent> = events
        .iter()
        .filter(|e| e.agent_id == s.limited_pane)
        .collect();
    let mut limited = mine
        .iter()
        .find(|e| !detail_str(e, "new_status").is_empty())
        .is_some_and(|e| detail_str(e, "prev_status") == "RATE_LIMITED")
        || s.coordinator_saw_limited;
    let mut windows = usize::from(limited);
    let mut during = Vec::new();
    let mut after = 0;
    for e in &mine {
        let new = detail_str(e, "new_status");
        match e.event_type.as_str() {
            "agent_rate_limited" => {
                limited = true;
                windows += 1;
            }
            "work_assigned" if limited => during.push(detail_str(e, "bead_id")),
            "work_assigned" => after += 1,
            _ if !new.is_empty() && new != "RATE_LIMITED" => limited = false,
            _ => {}
        }
    }
    let served = s.logs.get(s.limited_pane).map_or(0, |l| {
        l.iter()
            .filter(|e| e.decision.as_ref().is_some_and(|d| d.source == "mode"))
            .count()
    });
    checks.push((
        "rate_limited_agent_left_alone",
        served > 0 && windows > 0 && during.is_empty(),
        format!(
            "{served} quota error(s) served; read as RATE_LIMITED before the coordinator \
             started: {}; {windows} limit window(s); assigned while limited: {during:?}; \
             assigned after it cleared: {after}",
            s.limited_before
        ),
    ));
    let quality = s.ledger.quality_monitor(false).ok();
    let runs: Vec<gaffer_core::quality::TestRunMetrics> = quality
        .as_ref()
        .map(|q| q.test_runs().cloned().collect())
        .unwrap_or_default();
    checks.push((
        "test_results_recorded",
        runs.len() >= tasks.len(),
        format!(
            "{} test run(s) for {} completed task(s)",
            runs.len(),
            done.len()
        ),
    ));
    let digests = count("digest_sent");
    let agents: Vec<Value> = s
        .titles
        .iter()
        .map(|(pane, title)| {
            let mine: Vec<&str> = records
                .iter()
                .filter(|r| r.assignment.agent_pane_id == *pane && r.state == AssignmentState::Done)
                .map(|r| r.assignment.bead_id.as_str())
                .collect();
            let (p, f) = runs
                .iter()
                .filter(|t| t.agent_pane_id == *pane)
                .fold((0, 0), |(p, f), t| (p + t.passed, f + t.failed));
            json!({
                "pane_id": pane,
                "title": title,
                "agent_type": title.split("__").nth(1).and_then(|t| t.split('_').next()).unwrap_or(""),
                "completed": mine,
                "tests_passed": p,
                "tests_failed": f,
                "rate_limited": pane == s.limited_pane,
                "model_requests": s.logs.get(pane).map(Vec::len).unwrap_or(0),
            })
        })
        .collect();
    let ok = checks.iter().all(|c| c.1);
    let expectations: Value = checks
        .iter()
        .map(|(k, ok, d)| (k.to_string(), json!({"ok": ok, "detail": d})))
        .collect::<serde_json::Map<String, Value>>()
        .into();
    let json = json!({
        "assigned": count("work_assigned"),
        "completed": done.len(),
        "tasks": tasks.len(),
        "conflicts_detected": count("conflict_detected"),
        "conflicts_notified": 0,
        "release_requests": count("conflict_release_requested"),
        "conflicts_resolved": count("conflict_resolved"),
        "digests_sent": digests,
        "digest_recipient": s.human,
        "final_digest_work": s.final_digest.and_then(|d| d.work_summary.clone()),
        "test_runs": runs.len(),
        "tests_passed": runs.iter().map(|t| t.passed).sum::<i64>(),
        "tests_failed": runs.iter().map(|t| t.failed).sum::<i64>(),
        "rate_limited_agent": s.limited_pane,
        "limited_seen_by_coordinator": s.coordinator_saw_limited,
        "stalls": count("assignment_refused"),
        "events": events.len(),
        "agents": agents,
        "expectations": expectations,
    });
    (ok, json)
}

/// Prints what explains a failed run on stderr: each pane's screen, each model log's end.
pub(super) fn explain_failure(
    captures: &BTreeMap<String, String>,
    logs: &BTreeMap<String, Vec<LogEntry>>,
) {
    for (title, screen) in captures {
        eprintln!("--- pane {title} ---\n{screen}");
    }
    for (pane, log) in logs {
        eprintln!("--- model log of {pane} (last 12) ---");
        for e in log.iter().skip(log.len().saturating_sub(12)) {
            eprintln!(
                "#{} {} {} turn={} decision={}",
                e.seq,
                e.method,
                e.path,
                e.turn
                    .as_ref()
                    .map(|t| format!(
                        "{:?}/{}results/{}",
                        t.last_user_text.chars().take(80).collect::<String>(),
                        t.tool_results_since_user,
                        t.has_tools
                    ))
                    .unwrap_or_default(),
                e.decision
                    .as_ref()
                    .map(|d| d.source.clone())
                    .unwrap_or_default()
            );
        }
    }
}
