//! `gaffer dashboard`: a live terminal view of the session — agents, assignments, conflicts and
//! the latest events — redrawn every second. It runs the coordinator's monitor (and, with
//! `--auto-assign`, assignment) in this process, and shows events from the project's ledger,
//! so it also shows what a `gaffer run` elsewhere is doing.

use crate::cli::{CoordArgs, GlobalArgs};
use crate::commands::coordinate::describe;
use crate::state;
use crate::wiring::{self, Build};
use gaffer_coordinator::ledger::AssignmentState;
use gaffer_core::exit;
use gaffer_core::status::AgentStatus;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

fn color(s: AgentStatus) -> &'static str {
    match s {
        AgentStatus::Waiting => "\x1b[32m",
        AgentStatus::Generating | AgentStatus::Thinking => "\x1b[36m",
        AgentStatus::RateLimited | AgentStatus::Blocked => "\x1b[33m",
        AgentStatus::Error | AgentStatus::Stalled | AgentStatus::Exited => "\x1b[31m",
        AgentStatus::Unknown => DIM,
    }
}

/// Runs the dashboard until Ctrl-C, `--exit-after`, or once when stdout is not a terminal.
pub fn run(
    global: &GlobalArgs,
    args: &CoordArgs,
    auto_assign: bool,
    exit_after: Option<u64>,
) -> anyhow::Result<i32> {
    let built = wiring::build(Build {
        global,
        tmux: &args.tmux,
        mail_url: args.mail_url.clone(),
        native_beads: false,
    })?;
    let mut cfg = built.coordinator.config();
    cfg.coordinator.auto_assign = auto_assign;
    cfg.coordinator.send_digests = false;
    let mut coord = built.coordinator.with_config(cfg);
    coord.start()?;
    let ledger = state::open_ledger(global)?;
    let tty = std::io::stdout().is_terminal() && !global.json;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _ = ctrlc::set_handler(move || s.store(true, Ordering::SeqCst));
    let started = Instant::now();
    let deadline = exit_after.map(|secs| started + Duration::from_secs(secs));
    loop {
        let agents = coord.get_agents();
        let records = ledger.all().unwrap_or_default();
        let (events, _) = ledger.events_since(0).unwrap_or_default();
        if global.json {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for r in &records {
                *counts.entry(r.state.as_str()).or_default() += 1;
            }
            let out = serde_json::json!({
                "session": built.connection.session,
                "agents": agents.values().collect::<Vec<_>>(),
                "assignments": counts,
                "recent_events": events.iter().rev().take(10).map(|(_, e)| e).collect::<Vec<_>>(),
            });
            println!("{out}");
            break;
        }
        let mut lines = vec![
            format!(
                "{BOLD}gaffer{RESET} · session {} · {} · work: {} · {:.0}s",
                built.connection.session,
                built.mail_backend,
                built.work_source,
                started.elapsed().as_secs_f64()
            ),
            String::new(),
            format!(
                "{BOLD}{:<6} {:<5} {:<16} {:<13} {:>5} {:>7}  {}{RESET}",
                "PANE", "TYPE", "NAME", "STATUS", "CTX", "IDLE", "TASK"
            ),
        ];
        let now = chrono::Utc::now();
        for a in agents.values() {
            let idle = (now - a.last_activity).num_seconds().max(0);
            lines.push(format!(
                "{:<6} {:<5} {:<16} {}{:<13}{RESET} {:>4.0}% {:>6}s  {}",
                a.pane_id,
                a.agent_type,
                a.agent_mail_name,
                color(a.status),
                a.status.as_str(),
                a.context_usage,
                idle,
                a.current_task
            ));
        }
        if agents.is_empty() {
            lines.push(format!(
                "{DIM}no agent panes (gaffer spawn starts some){RESET}"
            ));
        }
        let count = |s: AssignmentState| records.iter().filter(|r| r.state == s).count();
        lines.push(String::new());
        lines.push(format!(
            "{BOLD}assignments{RESET}: {} live ({} delivered, {} working), {} done, {} failed, {} refused",
            records.iter().filter(|r| r.state.is_active()).count(),
            count(AssignmentState::Delivered),
            count(AssignmentState::Working),
            count(AssignmentState::Done),
            count(AssignmentState::Failed),
            count(AssignmentState::Refused)
        ));
        let problems = coord.problems();
        if !problems.is_empty() {
            lines.push(format!("\x1b[31mproblems: {}{RESET}", problems.join("; ")));
        }
        lines.push(String::new());
        lines.push(format!("{BOLD}latest events{RESET}"));
        for (_, e) in events
            .iter()
            .rev()
            .take(10)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            lines.push(format!("  {}", describe(e)));
        }
        lines.push(String::new());
        lines.push(format!("{DIM}Ctrl-C quits{RESET}"));
        let mut out = std::io::stdout().lock();
        let mut text = lines.join("\n");
        if tty {
            let _ = write!(out, "\x1b[H\x1b[2J");
        } else {
            text = strip_ansi(&text);
        }
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
        drop(out);
        if !tty || stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        let tick = Instant::now();
        while tick.elapsed() < Duration::from_secs(1) && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    coord.stop();
    Ok(exit::SUCCESS)
}

/// Removes SGR colour codes, for output that is not a terminal.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\x1b' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn strips_colours() {
        assert_eq!(super::strip_ansi("\x1b[1mgaffer\x1b[0m ok"), "gaffer ok");
    }
}
