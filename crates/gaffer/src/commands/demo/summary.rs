//! The demo's summary: the run checked against its own expectations (from the ledger, its
//! event log and the mailbox), as JSON and as text.

use super::scenario::BEADS;
use crate::view::{BOLD, RESET};
use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::exit;
use gaffer_core::mailbox::{InboxQuery, Mailbox};
use gaffer_core::time::Timestamp;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

/// What the summary reads.
pub struct Summarize<'a> {
    /// The demo's ledger.
    pub ledger: &'a Ledger,
    /// The mailbox.
    pub mailbox: &'a dyn Mailbox,
    /// The mailbox project key.
    pub project: &'a str,
    /// The digest's recipient.
    pub human: &'a str,
    /// Pane id → title.
    pub titles: &'a BTreeMap<String, String>,
    /// The pane of the agent that hits its rate limit.
    pub limited_pane: &'a str,
    /// The demo's tasks.
    pub tasks: &'a [&'static str],
    /// The last digest, when it was sent.
    pub final_digest: Option<&'a gaffer_core::digest::DigestSummary>,
}

/// The run checked against its expectations.
pub struct Summary {
    /// Every expectation was met.
    pub ok: bool,
    /// The summary, as JSON.
    pub json: Value,
}

/// A string detail of an event (empty when missing).
pub(super) fn detail_str(e: &CoordinatorEvent, k: &str) -> String {
    e.details
        .get(k)
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string()
}

/// Checks the run against its expectations, from the ledger, its event log and the mailbox.
pub fn summarize(s: &Summarize<'_>) -> Summary {
    let records = s.ledger.all().unwrap_or_default();
    let events: Vec<CoordinatorEvent> = s
        .ledger
        .events_since(0)
        .map(|(v, _)| v.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default();
    let count = |k: &str| events.iter().filter(|e| e.event_type.as_str() == k).count();
    let mut checks: Vec<(&str, bool, String)> = Vec::new();

    // Every task assigned exactly once and completed.
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
    let not_once: Vec<String> = s
        .tasks
        .iter()
        .filter(|t| assigned.get(**t).copied().unwrap_or(0) != 1)
        .map(|t| format!("{t}×{}", assigned.get(*t).copied().unwrap_or(0)))
        .collect();
    checks.push((
        "every_task_assigned_once",
        not_once.is_empty(),
        if not_once.is_empty() {
            format!("{} tasks, one assignment each", s.tasks.len())
        } else {
            format!("not assigned exactly once: {}", not_once.join(", "))
        },
    ));
    let open: Vec<&str> = s
        .tasks
        .iter()
        .copied()
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
    for b in BEADS.iter().filter(|b| !b.blocked_by.is_empty()) {
        let Some(rec) = done.get(b.id) else { continue };
        for blocker in b.blocked_by {
            if let Some(br) = done.get(blocker) {
                if rec.created_at < br.updated_at {
                    early.push(format!("{} before {}", b.id, blocker));
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
    // The conflict: caught, every holder notified, a release negotiated.
    let conflicts: Vec<&CoordinatorEvent> = events
        .iter()
        .filter(|e| e.event_type.as_str() == "conflict_detected")
        .collect();
    let mut holders: BTreeSet<String> = BTreeSet::new();
    for c in &conflicts {
        if let Some(hs) = c.details.get("holders").and_then(|h| h.as_array()) {
            holders.extend(hs.iter().filter_map(|h| h.as_str().map(str::to_string)));
        }
    }
    let query = InboxQuery {
        limit: 200,
        urgent_only: false,
        include_bodies: false,
    };
    let notified: Vec<String> = holders
        .iter()
        .filter(|h| {
            s.mailbox
                .fetch_inbox(s.project, h, &query)
                .map(|m| {
                    m.iter()
                        .any(|x| x.subject.contains("Reservation Conflict Detected"))
                })
                .unwrap_or(false)
        })
        .cloned()
        .collect();
    let negotiated = count("conflict_release_requested");
    checks.push((
        "conflict_caught_notified_negotiated",
        !conflicts.is_empty() && notified.len() == holders.len() && negotiated > 0,
        format!(
            "{} detected; holders {:?}, notified {:?}; {} release request(s); {} resolved",
            conflicts.len(),
            holders,
            notified,
            negotiated,
            count("conflict_resolved")
        ),
    ));
    // The rate-limited agent got no work while limited.
    let mut windows: Vec<(Timestamp, Option<Timestamp>)> = Vec::new();
    for e in events.iter().filter(|e| e.agent_id == s.limited_pane) {
        let new = detail_str(e, "new_status");
        if e.event_type.as_str() == "agent_rate_limited" {
            windows.push((e.timestamp, None));
        } else if !new.is_empty() && new != "RATE_LIMITED" {
            if let Some(w) = windows.last_mut().filter(|w| w.1.is_none()) {
                w.1 = Some(e.timestamp);
            }
        }
    }
    let during: Vec<String> = events
        .iter()
        .filter(|e| e.event_type.as_str() == "work_assigned" && e.agent_id == s.limited_pane)
        .filter(|e| {
            windows
                .iter()
                .any(|(from, to)| e.timestamp >= *from && to.is_none_or(|t| e.timestamp < t))
        })
        .map(|e| detail_str(e, "bead_id"))
        .collect();
    let after = events
        .iter()
        .filter(|e| e.event_type.as_str() == "work_assigned" && e.agent_id == s.limited_pane)
        .count();
    checks.push((
        "rate_limited_agent_left_alone",
        !windows.is_empty() && during.is_empty(),
        format!(
            "{} limit window(s); assigned while limited: {:?}; assigned after recovery: {}",
            windows.len(),
            during,
            after
        ),
    ));
    // Digests: sent, and the count in the log is the count in the human's inbox.
    let digests = count("digest_sent");
    let inbox = s
        .mailbox
        .fetch_inbox(s.project, s.human, &query)
        .map(|m| {
            m.iter()
                .filter(|x| x.subject.starts_with("Session Digest"))
                .count()
        })
        .unwrap_or(0);
    checks.push((
        "digests_sent",
        digests > 0 && digests == inbox,
        format!(
            "{digests} digest_sent event(s); {inbox} digest(s) in {}'s inbox",
            s.human
        ),
    ));
    // Test results: one run recorded per completed task.
    let quality = s.ledger.quality_monitor(false).ok();
    let runs: Vec<gaffer_core::quality::TestRunMetrics> = quality
        .as_ref()
        .map(|q| q.test_runs().cloned().collect())
        .unwrap_or_default();
    checks.push((
        "test_results_recorded",
        runs.len() >= done.len() && !runs.is_empty(),
        format!(
            "{} test run(s) for {} completed task(s)",
            runs.len(),
            done.len()
        ),
    ));

    let agents: Vec<Value> = s
        .titles
        .iter()
        .map(|(pane, title)| agent_line(&records, &runs, pane, title, s.limited_pane))
        .collect();
    let ok = checks.iter().all(|c| c.1);
    let expectations: Value = checks
        .iter()
        .map(|(k, ok, d)| (k.to_string(), json!({"ok": ok, "detail": d})))
        .collect::<serde_json::Map<String, Value>>()
        .into();
    let final_work = s.final_digest.and_then(|d| d.work_summary.clone());
    let json = json!({
        "assigned": count("work_assigned"),
        "completed": done.len(),
        "tasks": s.tasks.len(),
        "conflicts_detected": conflicts.len(),
        "conflicts_notified": notified.len(),
        "release_requests": negotiated,
        "conflicts_resolved": count("conflict_resolved"),
        "digests_sent": digests,
        "digest_recipient": s.human,
        "final_digest_work": final_work,
        "final_digest_test_runs": s.final_digest.and_then(|d| d.quality.as_ref()).map(|q| q.total_test_runs),
        "test_runs": runs.len(),
        "tests_passed": runs.iter().map(|t| t.passed).sum::<i64>(),
        "tests_failed": runs.iter().map(|t| t.failed).sum::<i64>(),
        "rate_limited_agent": s.limited_pane,
        "stalls": events.iter().filter(|e| e.event_type.as_str() == "assignment_refused").count(),
        "events": events.len(),
        "agents": agents,
        "expectations": expectations,
    });
    Summary { ok, json }
}

/// How a demo run ended, added to its summary.
pub struct Outcome<'a> {
    /// Every expectation met and not interrupted.
    pub ok: bool,
    /// Stopped by Ctrl-C.
    pub interrupted: bool,
    /// How long it ran.
    pub elapsed: Duration,
    /// The project directory.
    pub dir: &'a Path,
    /// The ledger's path.
    pub ledger: &'a Path,
    /// Whether the project is kept.
    pub keep: bool,
    /// The mailbox backend's name.
    pub mailbox: &'a str,
}

/// One agent's line of a demo summary: the beads it completed, its test counts, whether it was
/// the rate-limited one.
pub fn agent_line(
    records: &[AssignmentRecord],
    runs: &[gaffer_core::quality::TestRunMetrics],
    pane: &str,
    title: &str,
    limited_pane: &str,
) -> Value {
    let mine: Vec<&str> = records
        .iter()
        .filter(|r| r.assignment.agent_pane_id == pane && r.state == AssignmentState::Done)
        .map(|r| r.assignment.bead_id.as_str())
        .collect();
    let (passed, failed) = runs
        .iter()
        .filter(|t| t.agent_pane_id == pane)
        .fold((0, 0), |(p, f), t| (p + t.passed, f + t.failed));
    json!({
        "pane_id": pane,
        "title": title,
        "agent_type": title.split("__").nth(1).and_then(|t| t.split('_').next()).unwrap_or(""),
        "completed": mine,
        "tests_passed": passed,
        "tests_failed": failed,
        "rate_limited": pane == limited_pane,
    })
}

/// Adds the run's outcome to its summary JSON.
pub fn finish(out: &mut Value, o: &Outcome<'_>) {
    out["ok"] = json!(o.ok);
    out["interrupted"] = json!(o.interrupted);
    out["duration_secs"] = json!((o.elapsed.as_secs_f64() * 10.0).round() / 10.0);
    out["project_dir"] = json!(o.dir.display().to_string());
    out["ledger"] = json!(o.ledger.display().to_string());
    out["kept"] = json!(o.keep);
    out["mailbox"] = json!(o.mailbox);
}

/// Prints the summary (JSON, or for humans) and returns the exit code.
pub fn report(out: &Value, json: bool, keep: bool) -> i32 {
    if json {
        println!("{out}");
    } else {
        print_summary(out, keep);
    }
    if out["interrupted"] == json!(true) {
        exit::INTERRUPTED
    } else if out["ok"] == json!(true) {
        exit::SUCCESS
    } else {
        exit::FAILURE
    }
}

/// Prints the summary for humans.
pub fn print_summary(out: &Value, keep: bool) {
    use std::io::IsTerminal;
    let g = |k: &str| out.get(k).cloned().unwrap_or(Value::Null);
    let (bold, reset) = if std::io::stdout().is_terminal() {
        (BOLD, RESET)
    } else {
        ("", "")
    };
    println!();
    println!(
        "{bold}gaffer demo: {}{reset} in {}s",
        if g("ok") == json!(true) {
            "every expectation met"
        } else if g("interrupted") == json!(true) {
            "interrupted"
        } else {
            "some expectations were NOT met"
        },
        g("duration_secs")
    );
    println!(
        "  {} assignments, {}/{} tasks completed, {} test runs ({} passed, {} failed)",
        g("assigned"),
        g("completed"),
        g("tasks"),
        g("test_runs"),
        g("tests_passed"),
        g("tests_failed")
    );
    println!(
        "  {} conflict(s) caught, {} holder(s) notified, {} release request(s), {} resolved",
        g("conflicts_detected"),
        g("conflicts_notified"),
        g("release_requests"),
        g("conflicts_resolved")
    );
    println!(
        "  {} digest(s) sent to {}",
        g("digests_sent"),
        g("digest_recipient").as_str().unwrap_or("")
    );
    if let Some(agents) = out.get("agents").and_then(|a| a.as_array()) {
        for a in agents {
            println!(
                "  {:<16} completed {:<28} tests {} passed, {} failed{}",
                a["title"].as_str().unwrap_or(""),
                a["completed"].to_string(),
                a["tests_passed"],
                a["tests_failed"],
                if a["rate_limited"] == json!(true) {
                    " (was rate-limited)"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(exp) = out.get("expectations").and_then(|e| e.as_object()) {
        for (k, v) in exp {
            let mark = if v["ok"] == json!(true) {
                "ok  "
            } else {
                "FAIL"
            };
            println!("  {mark} {k}: {}", v["detail"].as_str().unwrap_or_default());
        }
    }
    if keep {
        println!(
            "  ledger: {} (try: gaffer --project {} watch --from-start --exit-after 1)",
            g("ledger").as_str().unwrap_or(""),
            g("project_dir").as_str().unwrap_or("")
        );
    } else {
        println!("  the demo project was removed; run with --keep to keep its ledger");
    }
}
