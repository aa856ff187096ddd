//! `gaffer dashboard`: the interactive terminal dashboard ([`crate::tui`]) on a terminal; the
//! plain text table redrawn every second with `--plain` (or when stdout is not a terminal: drawn
//! once); one JSON snapshot with `--json`. It runs the coordinator's monitor (and, with
//! `--auto-assign`, assignment) in this process, and shows events from the project's ledger,
//! so it also shows what a `gaffer run` elsewhere is doing.

use crate::adapters;
use crate::cli::{CoordArgs, GlobalArgs};
use crate::foreground::Foreground;
use crate::output::describe;
use crate::view::{BOLD, Cell, Column, DIM, RESET, Table, status_color, strip_ansi};
use crate::wiring;
use gaffer_coordinator::ledger::AssignmentState;
use gaffer_core::exit;
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

/// The dashboard's flags.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Assign work while watching.
    pub auto_assign: bool,
    /// Stop after this many seconds.
    pub exit_after: Option<u64>,
    /// The plain text table.
    pub plain: bool,
    /// Mouse selection.
    pub mouse: bool,
}

/// Runs the dashboard until q/Ctrl-C, `--exit-after`, or once when stdout is not a terminal.
pub fn run(global: &GlobalArgs, args: &CoordArgs, opts: Options) -> anyhow::Result<i32> {
    let built = wiring::build_for(global, args)?;
    let mut cfg = built.coordinator.config();
    cfg.coordinator.auto_assign = opts.auto_assign;
    cfg.coordinator.send_digests = false;
    let mut coord = built.coordinator.with_config(cfg);
    wiring::follow_a_running_coordinator(
        global,
        &coord,
        "gaffer dashboard",
        &built.connection.session,
    );
    wiring::wake_on_signals(global, &coord, false);
    let interactive = std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal()
        && !global.json
        && !opts.plain;
    // Notifications while a human keeps the dashboard open (not for a one-shot snapshot).
    let notifier = if std::io::stdout().is_terminal() && !global.json {
        wiring::notifications(
            &coord,
            &built.connection.session,
            built.mailbox.clone(),
            &built.project_key,
        )?
    } else {
        None
    };
    coord.start()?;
    // A follower's notifications are the leader's to send (its events do not reach them).
    if let (Some(n), None) = (&notifier, coord.following()) {
        n.seed(coord.get_agents().values());
    }
    let ledger = adapters::ledger(global)?;
    if interactive {
        let deadline = opts
            .exit_after
            .map(|s| std::time::Instant::now() + Duration::from_secs(s));
        let sources = crate::tui::Sources {
            coord: Arc::new(coord),
            monitor: built.monitor,
            conn: built.connection,
            ledger,
            mail: built.mail_backend,
            work: built.work_source,
        };
        let ran = crate::tui::run(sources, opts.mouse, deadline);
        if let Some(n) = notifier {
            n.stop(wiring::NOTIFY_GRACE);
        }
        ran?;
        return Ok(exit::SUCCESS);
    }
    let tty = std::io::stdout().is_terminal() && !global.json;
    let fg = Foreground::start(opts.exit_after);
    let table = Table::new(&[
        Column::left("PANE", 6),
        Column::left("TYPE", 5),
        Column::left("NAME", 16),
        Column::left("STATUS", 13),
        Column::right("CTX", 5),
        Column::right("IDLE", 7),
        Column::left("TASK", 0).after(2),
    ]);
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
                crate::output::safe(&built.connection.session),
                crate::output::safe(&built.mail_backend),
                crate::output::safe(&built.work_source),
                fg.elapsed().as_secs_f64()
            ),
            String::new(),
            table.heading(),
        ];
        let now = chrono::Utc::now();
        for a in agents.values() {
            let idle = (now - a.last_activity).num_seconds().max(0);
            lines.push(table.row(&[
                Cell::from(a.pane_id.as_str()),
                Cell::from(a.agent_type.as_str()),
                Cell::from(a.agent_mail_name.as_str()),
                Cell::colored(a.status.as_str(), status_color(a.status)),
                Cell::from(format!("{:.0}%", a.context_usage)),
                Cell::from(format!("{idle}s")),
                Cell::from(a.current_task.as_str()),
            ]));
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
            let problems = crate::output::safe(&problems.join("; "));
            lines.push(format!("\x1b[31mproblems: {problems}{RESET}"));
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
        if !tty || fg.done() {
            break;
        }
        // Woken early by Ctrl-C or the deadline, it draws once more and stops.
        fg.pause(Duration::from_secs(1));
    }
    coord.stop();
    if let Some(n) = notifier {
        n.stop(wiring::NOTIFY_GRACE);
    }
    Ok(exit::SUCCESS)
}
