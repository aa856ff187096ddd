//! The run checked against its expectations, from the ledger, its event log, the mailbox, the
//! files the CLIs wrote and the model servers' logs.

use super::project::TASKS;
use super::script::{STEPS, commands_decided, results_back};
use crate::commands::demo::summary::detail_str;
use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::mailbox::{InboxQuery, Mailbox};
use gaffer_core::quality::TestRunMetrics;
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

/// One expectation: its name, whether it holds, what was seen.
type Expectation = (&'static str, bool, String);

/// An expectation whose detail is `good` when `bad` is empty, else `bad` described.
fn expect(
    name: &'static str,
    bad: &[String],
    good: String,
    describe: impl Fn(String) -> String,
) -> Expectation {
    if bad.is_empty() {
        (name, true, good)
    } else {
        (name, false, describe(bad.join(", ")))
    }
}

/// What the ledger holds at the end.
struct Facts<'a> {
    records: &'a [AssignmentRecord],
    events: &'a [CoordinatorEvent],
    /// bead → its done record.
    done: BTreeMap<&'a str, &'a AssignmentRecord>,
    /// The bead ids, in task order.
    tasks: &'a [String],
}

impl Facts<'_> {
    /// How many events of this kind.
    fn count(&self, kind: &str) -> usize {
        self.events
            .iter()
            .filter(|e| e.event_type.as_str() == kind)
            .count()
    }

    /// The record of `bead`: its done one, else any.
    fn record(&self, bead: &str) -> Option<&AssignmentRecord> {
        self.done
            .get(bead)
            .copied()
            .or_else(|| self.records.iter().find(|r| r.assignment.bead_id == bead))
    }
}

/// Checks the run from the ledger, its event log, the mailbox, the files and the model logs.
pub(super) fn summarize(s: &Check<'_>) -> (bool, Value) {
    let records = s.ledger.all().unwrap_or_default();
    let events: Vec<CoordinatorEvent> = s
        .ledger
        .events_since(0)
        .map(|(v, _)| v.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default();
    let f = Facts {
        records: &records,
        events: &events,
        done: records
            .iter()
            .filter(|r| r.state == AssignmentState::Done)
            .map(|r| (r.assignment.bead_id.as_str(), r))
            .collect(),
        tasks: s.bead_order,
    };
    let runs: Vec<TestRunMetrics> = s
        .ledger
        .quality_monitor(false)
        .ok()
        .map(|q| q.test_runs().cloned().collect())
        .unwrap_or_default();
    let mut checks = vec![
        assigned_once(&f),
        completed(&f),
        dependents_after_blockers(&f),
    ];
    checks.extend(prompts_and_steps(s, &f));
    checks.push(files_written(s, &f));
    checks.extend(reservations_and_inboxes(s, &f));
    if s.br {
        checks.push(closed_in_br(s, &f));
    }
    checks.push(limited_left_alone(s, &f));
    checks.push((
        "test_results_recorded",
        runs.len() >= f.tasks.len(),
        format!(
            "{} test run(s) for {} completed task(s)",
            runs.len(),
            f.done.len()
        ),
    ));
    let ok = checks.iter().all(|c| c.1);
    (ok, summary_json(s, &f, &runs, &checks))
}

/// Every task was assigned exactly once.
fn assigned_once(f: &Facts<'_>) -> Expectation {
    let assigned: BTreeMap<String, usize> = f
        .events
        .iter()
        .filter(|e| e.event_type.as_str() == "work_assigned")
        .fold(BTreeMap::new(), |mut m, e| {
            *m.entry(detail_str(e, "bead_id")).or_insert(0) += 1;
            m
        });
    let not_once: Vec<String> = f
        .tasks
        .iter()
        .filter(|t| assigned.get(*t).copied().unwrap_or(0) != 1)
        .map(|t| format!("{t}×{}", assigned.get(t).copied().unwrap_or(0)))
        .collect();
    expect(
        "every_task_assigned_once",
        &not_once,
        format!("{} tasks, one assignment each", f.tasks.len()),
        |b| format!("not assigned exactly once: {b}"),
    )
}

/// Every task is done in the ledger.
fn completed(f: &Facts<'_>) -> Expectation {
    let open: Vec<String> = f
        .tasks
        .iter()
        .filter(|t| !f.done.contains_key(t.as_str()))
        .cloned()
        .collect();
    expect(
        "every_task_completed",
        &open,
        "all done in the ledger".into(),
        |b| format!("not done: {b}"),
    )
}

/// Dependents were assigned only after their blockers were done.
fn dependents_after_blockers(f: &Facts<'_>) -> Expectation {
    let done = |i: usize| f.tasks.get(i).and_then(|id| f.done.get(id.as_str()));
    let mut early = Vec::new();
    for (i, t) in TASKS.iter().enumerate() {
        let Some(rec) = done(i) else {
            continue;
        };
        for b in t.blocked_by {
            if done(*b).is_some_and(|blocker| rec.created_at < blocker.updated_at) {
                early.push(format!("{} before {}", f.tasks[i], f.tasks[*b]));
            }
        }
    }
    expect(
        "dependents_after_blockers",
        &early,
        "each dependent was assigned after its blockers were done".into(),
        |b| b,
    )
}

/// Every bead's prompt reached the model of the agent it was assigned to, and every step's
/// tool call came back as a tool result (the CLI ran it).
fn prompts_and_steps(s: &Check<'_>, f: &Facts<'_>) -> [Expectation; 2] {
    let mut missing_prompt = Vec::new();
    let mut missing_steps = Vec::new();
    for bead in f.tasks {
        let Some(rec) = f.record(bead) else {
            missing_prompt.push(format!("{bead} (never assigned)"));
            continue;
        };
        let log = s
            .logs
            .get(&rec.assignment.agent_pane_id)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if !prompt_reached(log, bead) {
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
    let steps_detail = if missing_steps.is_empty() {
        "reserve, write, record-tests and gaffer done ran for every task (4 tool results each)"
            .into()
    } else {
        missing_steps.join("; ")
    };
    [
        expect(
            "every_prompt_reached_a_model",
            &missing_prompt,
            format!(
                "{} assignment prompts in the model servers' logs",
                f.tasks.len()
            ),
            |b| format!("no model saw: {b}"),
        ),
        (
            "every_step_ran_through_the_cli",
            missing_steps.is_empty() && missing_prompt.is_empty(),
            steps_detail,
        ),
    ]
}

/// `bead`'s assignment prompt is in the model's log.
fn prompt_reached(log: &[LogEntry], bead: &str) -> bool {
    let needle = format!("gaffer assigned you {bead} ");
    log.iter().any(|e| {
        e.turn
            .as_ref()
            .is_some_and(|t| t.last_user_text.contains(&needle))
    })
}

/// The files the CLIs wrote, each starting with its bead.
fn files_written(s: &Check<'_>, f: &Facts<'_>) -> Expectation {
    let unwritten: Vec<String> = f
        .tasks
        .iter()
        .filter_map(|b| s.beads.get(b).map(|(_, f)| (b, *f)))
        .filter(|(b, f)| {
            !std::fs::read_to_string(s.dir.join(f)).is_ok_and(|t| t.starts_with(&format!("{b}:")))
        })
        .map(|(_, f)| f.to_string())
        .collect();
    expect(
        "files_written",
        &unwritten,
        format!("{} files, each written by its bead's agent", f.tasks.len()),
        |b| format!("missing or wrong: {b}"),
    )
}

/// The agents' own reservations, and the assignment messages in their inboxes.
fn reservations_and_inboxes(s: &Check<'_>, f: &Facts<'_>) -> [Expectation; 2] {
    let reservations = s
        .mailbox
        .list_reservations(s.project, None, false)
        .unwrap_or_default();
    let mut unreserved = Vec::new();
    let mut unmailed = Vec::new();
    for bead in f.tasks {
        let Some(rec) = f.record(bead) else {
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
        if !assignment_mailed(s, name, title) {
            unmailed.push(format!("{bead} ({name})"));
        }
    }
    [
        expect(
            "agents_reserved_their_files",
            &unreserved,
            "each agent reserved its task's file itself (gaffer mail reserve)".into(),
            |b| format!("no reservation by the agent: {b}"),
        ),
        expect(
            "assignments_in_inboxes",
            &unmailed,
            "every assignee has its Work Assignment message".into(),
            |b| format!("no assignment message: {b}"),
        ),
    ]
}

/// `name`'s inbox has the Work Assignment message of the bead titled `title`.
fn assignment_mailed(s: &Check<'_>, name: &str, title: &str) -> bool {
    let query = InboxQuery {
        limit: 200,
        urgent_only: false,
        include_bodies: false,
    };
    s.mailbox
        .fetch_inbox(s.project, name, &query)
        .map(|m| {
            m.iter()
                .any(|x| x.subject == format!("Work Assignment: {title}"))
        })
        .unwrap_or(false)
}

/// Every bead is closed in br.
fn closed_in_br(s: &Check<'_>, f: &Facts<'_>) -> Expectation {
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
    let open: Vec<&String> = f.tasks.iter().filter(|t| !closed.contains(*t)).collect();
    (
        "closed_in_br",
        open.is_empty(),
        if open.is_empty() {
            "every bead is closed in br".into()
        } else {
            format!("still open in br: {open:?}")
        },
    )
}

/// The limited agent got no work while limited: it is limited from the coordinator's first
/// look (then no event marks the start) or from an `agent_rate_limited` event, until a change
/// to another state.
fn limited_left_alone(s: &Check<'_>, f: &Facts<'_>) -> Expectation {
    let mine: Vec<&CoordinatorEvent> = f
        .events
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
    (
        "rate_limited_agent_left_alone",
        served > 0 && windows > 0 && during.is_empty(),
        format!(
            "{served} quota error(s) served; read as RATE_LIMITED before the coordinator \
             started: {}; {windows} limit window(s); assigned while limited: {during:?}; \
             assigned after it cleared: {after}",
            s.limited_before
        ),
    )
}

/// One agent's line of the summary.
fn agent_json(
    s: &Check<'_>,
    f: &Facts<'_>,
    runs: &[TestRunMetrics],
    pane: &str,
    title: &str,
) -> Value {
    let mut line = super::super::summary::agent_line(f.records, runs, pane, title, s.limited_pane);
    line["model_requests"] = json!(s.logs.get(pane).map(Vec::len).unwrap_or(0));
    line
}

/// The summary's JSON (the names of `gaffer demo`'s summary).
fn summary_json(
    s: &Check<'_>,
    f: &Facts<'_>,
    runs: &[TestRunMetrics],
    checks: &[Expectation],
) -> Value {
    let agents: Vec<Value> = s
        .titles
        .iter()
        .map(|(pane, title)| agent_json(s, f, runs, pane, title))
        .collect();
    let expectations: Value = checks
        .iter()
        .map(|(k, ok, d)| (k.to_string(), json!({"ok": ok, "detail": d})))
        .collect::<serde_json::Map<String, Value>>()
        .into();
    json!({
        "assigned": f.count("work_assigned"),
        "completed": f.done.len(),
        "tasks": f.tasks.len(),
        "conflicts_detected": f.count("conflict_detected"),
        "conflicts_notified": 0,
        "release_requests": f.count("conflict_release_requested"),
        "conflicts_resolved": f.count("conflict_resolved"),
        "digests_sent": f.count("digest_sent"),
        "digest_recipient": s.human,
        "final_digest_work": s.final_digest.and_then(|d| d.work_summary.clone()),
        "test_runs": runs.len(),
        "tests_passed": runs.iter().map(|t| t.passed).sum::<i64>(),
        "tests_failed": runs.iter().map(|t| t.failed).sum::<i64>(),
        "rate_limited_agent": s.limited_pane,
        "limited_seen_by_coordinator": s.coordinator_saw_limited,
        "stalls": f.count("assignment_refused"),
        "events": f.events.len(),
        "agents": agents,
        "expectations": expectations,
    })
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
