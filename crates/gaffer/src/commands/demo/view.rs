//! The demo's live view: the agents table, progress, conflicts, limits, digests and the
//! latest events, redrawn in place.

use super::Seen;
use super::scenario::SESSION;
use crate::output::describe;
use crate::view::{BOLD, Cell, Column, DIM, RESET, Table, short_title, status_color};
use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::status::AgentStatus;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// What the live view shows.
pub struct LiveView<'a> {
    /// The running coordinator.
    pub coord: &'a gaffer_coordinator::SessionCoordinator,
    /// Pane id → title.
    pub titles: &'a BTreeMap<String, String>,
    /// The ledger's assignments.
    pub records: &'a [AssignmentRecord],
    /// Events seen so far.
    pub seen: &'a Seen,
    /// The ledger.
    pub ledger: &'a Ledger,
    /// The private tmux socket.
    pub socket: &'a str,
    /// The demo project.
    pub dir: &'a Path,
    /// The mailbox backend.
    pub mail: &'a str,
    /// Time since the start.
    pub elapsed: Duration,
    /// The demo's tasks.
    pub tasks: &'a [&'static str],
}

/// Redraws the live view in place.
pub fn draw(v: &LiveView<'_>) {
    let mut lines: Vec<String> = Vec::new();
    lines.push(format!(
        "{BOLD}gaffer demo{RESET} · {:>4.1}s · tmux -L {} (session {SESSION}) · mailbox {}",
        v.elapsed.as_secs_f64(),
        v.socket,
        v.mail
    ));
    lines.push(format!("{DIM}project {}{RESET}", v.dir.display()));
    lines.push(String::new());
    let quality = v.ledger.quality_monitor(false).ok();
    let table = Table::new(&[
        Column::left("PANE", 6),
        Column::left("AGENT", 14),
        Column::left("STATE", 13),
        Column::left("TASK", 7),
        Column::right("DONE", 4),
        Column::left("TESTS", 18).after(2),
    ]);
    lines.push(table.heading());
    for (pane, a) in v.coord.get_agents() {
        let done = v
            .records
            .iter()
            .filter(|r| r.assignment.agent_pane_id == pane && r.state == AssignmentState::Done)
            .count();
        let tests = quality
            .as_ref()
            .map(|q| {
                let (p, f) = q
                    .test_runs()
                    .filter(|t| t.agent_pane_id == pane)
                    .fold((0, 0), |(p, f), t| (p + t.passed, f + t.failed));
                if p + f == 0 {
                    "-".to_string()
                } else {
                    format!("{p} passed, {f} failed")
                }
            })
            .unwrap_or_default();
        let title = v.titles.get(&pane).cloned().unwrap_or_default();
        let task = if a.current_task.is_empty() {
            "-".to_string()
        } else {
            a.current_task.clone()
        };
        lines.push(table.row(&[
            Cell::from(pane.as_str()),
            Cell::from(short_title(&title)),
            Cell::colored(a.status.as_str(), status_color(a.status)),
            Cell::from(task),
            Cell::from(done.to_string()),
            Cell::from(tests),
        ]));
    }
    lines.push(String::new());
    let done: BTreeSet<&str> = v
        .records
        .iter()
        .filter(|r| r.state == AssignmentState::Done)
        .map(|r| r.assignment.bead_id.as_str())
        .collect();
    let working = v.records.iter().filter(|r| r.state.is_active()).count();
    let n = v.tasks.len();
    let k = v.tasks.iter().filter(|t| done.contains(*t)).count();
    let bar: String = (0..n)
        .map(|i| if i < k { '█' } else { '░' })
        .collect::<String>();
    lines.push(format!(
        "{BOLD}PROGRESS{RESET}   {bar} {k}/{n} tasks done · {working} in progress"
    ));
    let detected = v.seen.count("conflict_detected");
    let asked = v.seen.count("conflict_release_requested");
    let resolved = v.seen.count("conflict_resolved");
    let conflict_line = v
        .seen
        .events
        .iter()
        .rev()
        .find(|e| e.event_type.as_str() == "conflict_detected")
        .map(|e| {
            format!(
                " · last: {} between {}",
                e.details
                    .get("pattern")
                    .and_then(|x| x.as_str())
                    .unwrap_or(""),
                e.details
                    .get("holders")
                    .map(|h| h.to_string())
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    let conflict_line = crate::output::safe(&conflict_line);
    lines.push(format!(
        "{BOLD}CONFLICTS{RESET}  {detected} caught and notified · {asked} release requested · {resolved} resolved{conflict_line}"
    ));
    let limited: Vec<String> = v
        .coord
        .get_agents()
        .into_iter()
        .filter(|(_, a)| a.status == AgentStatus::RateLimited)
        .map(|(p, _)| {
            let t = v.titles.get(&p).cloned().unwrap_or(p);
            short_title(&t).to_string()
        })
        .collect();
    let limits = if limited.is_empty() {
        format!(
            "none now ({} limit hit so far)",
            v.seen.count("agent_rate_limited")
        )
    } else {
        format!(
            "{} rate-limited: no work until the announced reset",
            limited.join(", ")
        )
    };
    let limits = crate::output::safe(&limits);
    lines.push(format!("{BOLD}LIMITS{RESET}     {limits}"));
    lines.push(format!(
        "{BOLD}DIGESTS{RESET}    {} sent",
        v.seen.count("digest_sent")
    ));
    lines.push(String::new());
    lines.push(format!("{BOLD}EVENTS{RESET}"));
    let interesting: Vec<&CoordinatorEvent> = v
        .seen
        .events
        .iter()
        .filter(|e| {
            !matches!(
                e.event_type.as_str(),
                "agent_busy" | "agent_idle" | "agent_recovered"
            ) || e.agent_id.is_empty()
        })
        .collect();
    let agents = v.coord.get_agents();
    let short = |pane: &str| {
        v.titles
            .get(pane)
            .map(|t| short_title(t).to_string())
            .unwrap_or_else(|| pane.to_string())
    };
    for e in interesting
        .iter()
        .skip(interesting.len().saturating_sub(12))
    {
        let mut line = describe(e);
        if v.titles.contains_key(&e.agent_id) {
            line = line.replacen(&e.agent_id, &short(&e.agent_id), 1);
        }
        // Agent Mail names, with the pane they belong to.
        for (pane, a) in &agents {
            if !a.agent_mail_name.is_empty() {
                line = line.replace(
                    &a.agent_mail_name,
                    &format!("{} ({})", a.agent_mail_name, short(pane)),
                );
            }
        }
        let line = crate::output::safe(&line);
        lines.push(format!("  {}", line.chars().take(150).collect::<String>()));
    }
    lines.push(String::new());
    lines.push(format!(
        "{DIM}Ctrl-C stops and cleans up · watch the panes: tmux -L {} attach -t {SESSION}{RESET}",
        v.socket
    ));
    let mut s = String::from("\x1b[H");
    for l in lines {
        s.push_str(&l);
        s.push_str("\x1b[K\r\n");
    }
    s.push_str("\x1b[J");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}
