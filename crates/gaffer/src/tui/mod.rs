//! `gaffer dashboard`: the interactive terminal dashboard (ratatui + crossterm).
//!
//! It runs the coordinator in this process (observation, conflicts; assignment with
//! `--auto-assign`), reads a [`model::Board`] from it every tick, draws it ([`draw`]), and
//! turns keys into [`keys::Command`]s that run through the coordinator's control API on a
//! worker thread, so the screen keeps redrawing while a prompt is being delivered.

pub mod draw;
pub mod jump;
pub mod keys;
pub mod model;

use crate::adapters::Connection;
use crate::output::describe;
use gaffer_coordinator::SessionCoordinator;
use gaffer_coordinator::ledger::Ledger;
use gaffer_coordinator::monitor::AgentMonitor;
use gaffer_core::digest::render_markdown;
use keys::Command;
use model::{AgentRow, App, Board, Mode};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often the board is read again.
const TICK: Duration = Duration::from_millis(500);
/// How often the digest is made again.
const DIGEST_EVERY: Duration = Duration::from_secs(15);
/// Events kept for the events pane.
const EVENTS_KEPT: usize = 200;
/// Screen lines kept for the preview.
const PREVIEW_LINES: usize = 80;

/// What the dashboard reads from.
pub struct Sources {
    /// The coordinator (started).
    pub coord: Arc<SessionCoordinator>,
    /// Its monitor (verdicts with evidence).
    pub monitor: Arc<AgentMonitor>,
    /// The tmux connection (screens, jump).
    pub conn: Connection,
    /// The project's ledger (assignments, events).
    pub ledger: Ledger,
    /// Mail backend, for the header.
    pub mail: String,
    /// Work source, for the header.
    pub work: String,
}

/// Reads the board: agents with their verdicts, the selected agent's screen, assignments,
/// conflicts, new events and (when due) the digest.
pub struct Reader {
    events: VecDeque<String>,
    cursor: i64,
    digest: Vec<String>,
    digest_at: Option<Instant>,
}

impl Reader {
    /// A reader that starts with the last `EVENTS_KEPT` events of the ledger.
    pub fn new(ledger: &Ledger) -> Reader {
        let last = ledger.last_event_id().unwrap_or(0);
        Reader {
            events: VecDeque::new(),
            cursor: (last - EVENTS_KEPT as i64).max(0),
            digest: Vec::new(),
            digest_at: None,
        }
    }

    /// The board now.
    pub fn read(&mut self, s: &Sources, selected: Option<&str>) -> Board {
        let tracked = s.coord.get_agents();
        let pauses = s.coord.pauses().unwrap_or_default();
        let agents: Vec<AgentRow> = s
            .monitor
            .last()
            .map(|snap| snap.agents)
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                let v = &a.observation.verdict;
                let health = if a.health.healthy && a.health.issues.is_empty() {
                    "ok"
                } else if a.health.healthy {
                    "warn"
                } else {
                    "unhealthy"
                };
                AgentRow {
                    bead: tracked
                        .get(&a.pane.pane_id)
                        .map(|t| t.current_task.clone())
                        .unwrap_or_default(),
                    paused: pauses.is_paused(&a.pane.pane_id),
                    pane_id: a.pane.pane_id.clone(),
                    title: a.pane.title.clone(),
                    agent_type: a.pane.agent_type.clone(),
                    status: a.observation.status,
                    idle_secs: a.idle_seconds,
                    context: v.context_usage,
                    health: health.into(),
                    source: v
                        .fusion
                        .as_ref()
                        .map_or("screen", |f| f.decided_by.as_str())
                        .into(),
                    rule: v.rule.clone(),
                    reason: v.reason.clone(),
                    evidence: v.evidence.clone(),
                }
            })
            .collect();
        let preview = selected
            .and_then(|p| s.conn.all.capture(&[p.to_string()]).ok())
            .and_then(|c| c.into_iter().next())
            .map(|(_, screen)| {
                let mut lines: Vec<String> = screen.lines().map(str::to_string).collect();
                while lines.last().is_some_and(|l| l.trim().is_empty()) {
                    lines.pop();
                }
                let start = lines.len().saturating_sub(PREVIEW_LINES);
                lines.split_off(start)
            })
            .unwrap_or_default();
        let assignments = s
            .ledger
            .active()
            .unwrap_or_default()
            .into_iter()
            .map(|r| {
                format!(
                    "{} → {} ({}) {}",
                    r.assignment.bead_id,
                    r.assignment.agent_pane_id,
                    r.state.as_str(),
                    r.assignment.bead_title
                )
            })
            .collect();
        let conflicts = s
            .coord
            .known_conflicts()
            .iter()
            .map(crate::output::conflict_line)
            .collect();
        if let Ok(page) = s.ledger.events_page(self.cursor, EVENTS_KEPT) {
            self.cursor = page.last_id;
            for (_, e) in &page.events {
                self.events.push_back(describe(e));
            }
            while self.events.len() > EVENTS_KEPT {
                self.events.pop_front();
            }
        }
        if self.digest_at.is_none_or(|t| t.elapsed() >= DIGEST_EVERY) {
            self.digest_at = Some(Instant::now());
            let d = s.coord.generate_digest();
            // the Markdown made plain for a terminal pane
            self.digest = render_markdown(&d, "gaffer")
                .lines()
                .map(|l| {
                    l.replace("**", "")
                        .trim_start_matches('#')
                        .trim()
                        .to_string()
                })
                .filter(|l| !l.is_empty())
                .collect();
        }
        Board {
            session: s.conn.session.clone(),
            mail: s.mail.clone(),
            work: s.work.clone(),
            agents,
            preview,
            assignments,
            conflicts,
            events: self.events.iter().cloned().collect(),
            digest: self.digest.clone(),
            problems: s.coord.problems(),
            paused_all: pauses.all,
        }
    }
}

/// The result of a command run on the worker.
enum Done {
    /// A line for the status bar.
    Said(String, bool),
    /// A dialog to show.
    Dialog(gaffer_coordinator::control::PendingDialog),
}

/// Runs one command through the control API (on a worker thread).
fn execute(coord: &SessionCoordinator, cmd: Command) -> Done {
    let err = |e: gaffer_coordinator::CoordinatorError| Done::Said(e.to_string(), true);
    match cmd {
        Command::Quit | Command::Jump { .. } => Done::Said(String::new(), false),
        Command::Send { pane_id, text } => match coord.send_prompt(&pane_id, &text, false) {
            Ok(r) if r.outcome == gaffer_core::panes::DeliveryOutcome::Delivered => Done::Said(
                format!("{pane_id}: prompt delivered ({} bytes)", r.bytes),
                false,
            ),
            Ok(_) => Done::Said(
                format!("{pane_id}: the agent did not take the prompt"),
                true,
            ),
            Err(e) => err(e),
        },
        Command::ReadDialog { pane_id } => match coord.read_dialog(&pane_id) {
            Ok(p) => Done::Dialog(p),
            Err(e) => err(e),
        },
        Command::Answer {
            pane_id,
            option,
            shown,
        } => match coord.answer_dialog(&pane_id, option, Some(&shown)) {
            Ok(a) if a.confirmed => Done::Said(
                format!(
                    "{pane_id}: answered {}. {}",
                    a.option.number, a.option.label
                ),
                false,
            ),
            Ok(a) => Done::Said(
                format!(
                    "{pane_id}: typed {}, but the dialog is still on screen",
                    a.option.number
                ),
                true,
            ),
            Err(e) => err(e),
        },
        Command::Pause(t) => match coord.pause(&t) {
            Ok(_) => Done::Said(format!("auto-assign paused for {}", t.key()), false),
            Err(e) => err(e),
        },
        Command::Resume(t) => match coord.resume(&t) {
            Ok(p) if p.all => Done::Said(
                format!("resumed {}, but every agent is still paused (P)", t.key()),
                false,
            ),
            Ok(_) => Done::Said(format!("auto-assign resumed for {}", t.key()), false),
            Err(e) => err(e),
        },
        Command::Unassign { bead } => match coord.unassign(&bead) {
            Ok(()) => Done::Said(format!("{bead} taken back"), false),
            Err(e) => err(e),
        },
        Command::Reassign { bead, pane_id } => match coord.reassign(&bead, &pane_id) {
            Ok(_) => Done::Said(format!("{bead} assigned to {pane_id}"), false),
            Err(e) => err(e),
        },
    }
}

/// Whether colours are allowed: `NO_COLOR` unset or empty (no-color.org).
pub fn color_allowed() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Runs the dashboard on this terminal until `q`, Ctrl-C, or `deadline`.
pub fn run(sources: Sources, mouse: bool, deadline: Option<Instant>) -> anyhow::Result<()> {
    use crossterm::event::{self, Event};
    use crossterm::execute as term;
    let mut terminal = ratatui::try_init()?;
    if mouse {
        let _ = term!(std::io::stdout(), crossterm::event::EnableMouseCapture);
    }
    let mut reader = Reader::new(&sources.ledger);
    let mut app = App::new(Board::default(), color_allowed());
    app.update(reader.read(&sources, None));
    // the first agent is selected now: read its screen at once
    let first = app.selected.clone();
    app.update(reader.read(&sources, first.as_deref()));
    let (tx, rx) = mpsc::channel::<Done>();
    let mut last_read = Instant::now();
    let result = (|| -> anyhow::Result<()> {
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(());
            }
            if last_read.elapsed() >= TICK {
                let sel = app.selected.clone();
                let board = reader.read(&sources, sel.as_deref());
                app.update(board);
                last_read = Instant::now();
            }
            for done in rx.try_iter() {
                app.busy = None;
                match done {
                    Done::Said(m, e) if !m.is_empty() => app.say(m, e),
                    Done::Said(..) => {}
                    Done::Dialog(pending) => {
                        app.mode = Mode::Dialog {
                            cursor: pending
                                .dialog
                                .options
                                .iter()
                                .position(|o| o.selected)
                                .unwrap_or(0),
                            pending,
                        }
                    }
                }
            }
            terminal.draw(|f| draw::draw(f, &app))?;
            if !event::poll(Duration::from_millis(100))? {
                continue;
            }
            let cmd = match event::read()? {
                Event::Key(k) => keys::on_key(&mut app, k),
                Event::Mouse(m) => {
                    keys::on_mouse(&mut app, m, draw::TABLE_FIRST_ROW);
                    None
                }
                // the next draw lays out for the new size
                Event::Resize(..) => None,
                _ => None,
            };
            let before = app.selected.clone();
            match cmd {
                None => {}
                Some(Command::Quit) => return Ok(()),
                Some(Command::Jump { pane_id }) => {
                    match jump::jump(&sources, &pane_id, &mut terminal) {
                        Ok(m) => app.say(m, false),
                        Err(e) => app.say(e, true),
                    }
                }
                Some(cmd) if app.busy.is_some() => {
                    let _ = cmd;
                    app.say("wait: an action is still running", true);
                }
                Some(cmd) => {
                    app.busy = Some(busy_label(&cmd));
                    let coord = Arc::clone(&sources.coord);
                    let tx = tx.clone();
                    std::thread::spawn(move || {
                        let _ = tx.send(execute(&coord, cmd));
                    });
                }
            }
            // a new selection shows its screen at once
            if before != app.selected {
                let board = reader.read(&sources, app.selected.as_deref());
                app.update(board);
                last_read = Instant::now();
            }
        }
    })();
    if mouse {
        let _ = term!(std::io::stdout(), crossterm::event::DisableMouseCapture);
    }
    ratatui::restore();
    result
}

fn busy_label(cmd: &Command) -> String {
    match cmd {
        Command::Send { pane_id, .. } => format!("sending to {pane_id}"),
        Command::ReadDialog { pane_id } => format!("reading {pane_id}'s dialog"),
        Command::Answer { pane_id, .. } => format!("answering {pane_id}"),
        Command::Pause(_) => "pausing".into(),
        Command::Resume(_) => "resuming".into(),
        Command::Unassign { bead } => format!("taking {bead} back"),
        Command::Reassign { bead, .. } => format!("assigning {bead}"),
        Command::Quit | Command::Jump { .. } => String::new(),
    }
}

#[cfg(test)]
mod tests;
