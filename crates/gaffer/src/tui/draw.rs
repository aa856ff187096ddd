//! Drawing the dashboard with ratatui: the agents table, the selected agent's screen with the
//! detector's evidence highlighted, assignments, conflicts, events, the digest, a status line
//! and the overlays. Every outside string goes through the escape stripper; widths are display
//! widths (ratatui measures with unicode-width, and so does [`crate::view::fit`]).

use super::keys::HELP;
use super::model::{AgentRow, App, Mode};
use crate::output::safe;
use crate::view::fit;
use gaffer_core::status::AgentStatus;
use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

/// Rows above the first agent row: the header line, the table's border and its heading.
pub const TABLE_FIRST_ROW: u16 = 3;

fn fg(app: &App, c: Color) -> Style {
    if app.color {
        Style::default().fg(c)
    } else {
        Style::default()
    }
}

/// The colour of a state: green waiting, cyan busy, yellow held up, red in trouble.
pub fn status_style(app: &App, s: AgentStatus) -> Style {
    let c = match s {
        AgentStatus::Waiting => Color::Green,
        AgentStatus::Generating | AgentStatus::Thinking => Color::Cyan,
        AgentStatus::RateLimited | AgentStatus::Blocked => Color::Yellow,
        AgentStatus::Error | AgentStatus::Stalled | AgentStatus::Exited => Color::Red,
        AgentStatus::Unknown => Color::DarkGray,
    };
    let style = fg(app, c);
    if !app.color && matches!(s, AgentStatus::Blocked | AgentStatus::Error) {
        style.add_modifier(Modifier::BOLD)
    } else {
        style
    }
}

/// A context bar of `width` cells and the percentage: `████░░ 62%`.
pub fn context_bar(pct: Option<f64>, width: usize) -> String {
    match pct {
        None => format!("{:>w$}", "-", w = width + 4),
        Some(p) => {
            let p = p.clamp(0.0, 100.0);
            let full = ((p / 100.0) * width as f64).round() as usize;
            format!(
                "{}{} {:>3.0}%",
                "█".repeat(full),
                "░".repeat(width - full),
                p
            )
        }
    }
}

/// Idle time in a few characters: `42s`, `3m05s`, `2h10m`.
pub fn idle(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Draws the whole dashboard.
pub fn draw(f: &mut Frame<'_>, app: &App) {
    let area = f.area();
    let n = app.board.agents.len().max(1) as u16;
    let table_h = (n + 3).min(area.height / 2).max(4);
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Length(table_h),
            Constraint::Min(6),
            Constraint::Length(8),
            Constraint::Length(1),
        ])
        .split(area);
    header(f, app, rows[0]);
    agents(f, app, rows[1]);
    let mid = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
        .split(rows[2]);
    preview(f, app, mid[0]);
    let right = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
        .split(mid[1]);
    list(
        f,
        app,
        right[0],
        "assignments",
        &app.board.assignments,
        "none live",
    );
    list(f, app, right[1], "conflicts", &app.board.conflicts, "none");
    let low = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
        .split(rows[3]);
    tail(f, app, low[0], "events", &app.board.events);
    list(
        f,
        app,
        low[1],
        "latest digest",
        &app.board.digest,
        "none yet",
    );
    status_line(f, app, rows[4]);
    match &app.mode {
        Mode::Normal => {}
        Mode::Help => help(f, app, area),
        Mode::Prompt { pane_id, input } => input_box(
            f,
            app,
            area,
            &format!("prompt for {pane_id} (Enter sends, Esc cancels)"),
            input,
        ),
        Mode::Reassign { pane_id, input } => input_box(
            f,
            app,
            area,
            &format!("bead to give to {pane_id} (Enter assigns, Esc cancels)"),
            input,
        ),
        Mode::Dialog { pending, cursor } => dialog(f, app, area, pending, *cursor),
        Mode::Confirm { question, .. } => input_box(f, app, area, "confirm", question),
    }
}

fn header(f: &mut Frame<'_>, app: &App, area: Rect) {
    let b = &app.board;
    let mut spans = vec![
        Span::styled("gaffer", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!(
            " · session {} · {} · work: {} · {} agents",
            safe(&b.session),
            safe(&b.mail),
            safe(&b.work),
            b.agents.len()
        )),
    ];
    if b.paused_all {
        spans.push(Span::styled(
            " · AUTO-ASSIGN PAUSED",
            fg(app, Color::Yellow).add_modifier(Modifier::BOLD),
        ));
    }
    spans.push(Span::styled("   ? help", fg(app, Color::DarkGray)));
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn agent_row<'a>(app: &App, a: &'a AgentRow) -> Row<'a> {
    let health_style = match a.health.as_str() {
        "ok" => fg(app, Color::Green),
        "warn" => fg(app, Color::Yellow),
        _ => fg(app, Color::Red),
    };
    let name = fit(&safe(crate::view::short_title(&a.title)), 18);
    let flag = if a.paused { "⏸" } else { " " };
    Row::new(vec![
        Cell::from(safe(&a.pane_id)),
        Cell::from(name),
        Cell::from(safe(&a.agent_type)),
        Cell::from(Span::styled(
            a.status.as_str().to_string(),
            status_style(app, a.status),
        )),
        Cell::from(idle(a.idle_secs)),
        Cell::from(context_bar(a.context, 8)),
        Cell::from(safe(&a.bead)),
        Cell::from(Span::styled(a.health.clone(), health_style)),
        Cell::from(safe(&a.source)),
        Cell::from(flag),
    ])
}

fn agents(f: &mut Frame<'_>, app: &App, area: Rect) {
    let heading = Row::new(vec![
        "PANE", "NAME", "TYPE", "STATE", "IDLE", "CONTEXT", "BEAD", "HEALTH", "BY", "",
    ])
    .style(Style::default().add_modifier(Modifier::BOLD));
    let selected = app.selected_index();
    let rows: Vec<Row<'_>> = app
        .board
        .agents
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let r = agent_row(app, a);
            if Some(i) == selected {
                r.style(Style::default().add_modifier(Modifier::REVERSED))
            } else {
                r
            }
        })
        .collect();
    let empty = rows.is_empty();
    // host-qualified keys (`box1:%3`) widen the first column
    let pane_width = app
        .board
        .agents
        .iter()
        .map(|a| safe(&a.pane_id).chars().count())
        .max()
        .unwrap_or(0)
        .clamp(5, 32) as u16;
    let widths = [
        Constraint::Length(pane_width),
        Constraint::Length(18),
        Constraint::Length(4),
        Constraint::Length(12),
        Constraint::Length(6),
        Constraint::Length(13),
        Constraint::Min(8),
        Constraint::Length(9),
        Constraint::Length(12),
        Constraint::Length(1),
    ];
    let block = Block::default().borders(Borders::TOP).title(" agents ");
    if empty {
        f.render_widget(
            Paragraph::new("no agent panes (gaffer spawn starts some)").block(block),
            area,
        );
        return;
    }
    f.render_widget(Table::new(rows, widths).header(heading).block(block), area);
}

fn preview(f: &mut Frame<'_>, app: &App, area: Rect) {
    let Some(a) = app.selected_agent() else {
        f.render_widget(
            Block::default().borders(Borders::ALL).title(" screen "),
            area,
        );
        return;
    };
    let title = format!(
        " {} {} · {} · {} ",
        safe(&a.pane_id),
        safe(crate::view::short_title(&a.title)),
        a.status.as_str(),
        safe(&a.rule)
    );
    let evidence: Vec<String> = a
        .evidence
        .iter()
        .map(|e| safe(e).trim().to_string())
        .collect();
    let inner_h = area.height.saturating_sub(3) as usize;
    let lines = &app.board.preview;
    let start = lines.len().saturating_sub(inner_h);
    let hl = if app.color {
        Style::default().bg(Color::Yellow).fg(Color::Black)
    } else {
        Style::default().add_modifier(Modifier::REVERSED)
    };
    let mut text: Vec<Line<'_>> = lines[start..]
        .iter()
        .map(|l| {
            let clean = safe(l);
            let is_evidence = !clean.trim().is_empty()
                && evidence.iter().any(|e| !e.is_empty() && clean.trim() == e);
            if is_evidence {
                Line::from(Span::styled(clean, hl))
            } else {
                Line::from(clean)
            }
        })
        .collect();
    text.push(Line::from(Span::styled(
        format!("why: {}", safe(&a.reason)),
        fg(app, Color::DarkGray),
    )));
    let block = Block::default().borders(Borders::ALL).title(title);
    f.render_widget(Paragraph::new(text).block(block), area);
}

fn list(f: &mut Frame<'_>, app: &App, area: Rect, title: &str, items: &[String], none: &str) {
    let lines: Vec<Line<'_>> = if items.is_empty() {
        vec![Line::from(Span::styled(
            none.to_string(),
            fg(app, Color::DarkGray),
        ))]
    } else {
        items.iter().map(|l| Line::from(safe(l))).collect()
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(format!(" {title} "));
    f.render_widget(Paragraph::new(lines).block(block), area);
}

fn tail(f: &mut Frame<'_>, app: &App, area: Rect, title: &str, items: &[String]) {
    let h = area.height.saturating_sub(2) as usize;
    let start = items.len().saturating_sub(h);
    list(f, app, area, title, &items[start..], "none yet");
}

fn status_line(f: &mut Frame<'_>, app: &App, area: Rect) {
    let line = if let Some(b) = &app.busy {
        Line::from(Span::styled(format!("{b}…"), fg(app, Color::Cyan)))
    } else if let Some((m, err)) = &app.message {
        let style = if *err {
            fg(app, Color::Red).add_modifier(Modifier::BOLD)
        } else {
            fg(app, Color::Green)
        };
        Line::from(Span::styled(safe(m), style))
    } else if !app.board.problems.is_empty() {
        Line::from(Span::styled(
            format!("problems: {}", safe(&app.board.problems.join("; "))),
            fg(app, Color::Red),
        ))
    } else {
        Line::from(Span::styled(
            "s send · a answer · p/P pause · u unassign · r reassign · g jump · ? help · q quit",
            fg(app, Color::DarkGray),
        ))
    };
    f.render_widget(Paragraph::new(line), area);
}

/// A centred rectangle `w`×`h` (clamped to `area`).
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn help(f: &mut Frame<'_>, _app: &App, area: Rect) {
    let r = centered(area, 64, HELP.len() as u16 + 4);
    let mut lines: Vec<Line<'_>> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<12}"),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(""));
    lines.push(Line::from("any key closes this help"));
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).block(Block::default().borders(Borders::ALL).title(" keys ")),
        r,
    );
}

fn input_box(f: &mut Frame<'_>, _app: &App, area: Rect, title: &str, text: &str) {
    let r = centered(area, 72.min(area.width), 5);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(format!("{}▏", safe(text)))
            .wrap(Wrap { trim: false })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {title} ")),
            ),
        r,
    );
}

fn dialog(
    f: &mut Frame<'_>,
    app: &App,
    area: Rect,
    pending: &gaffer_coordinator::control::PendingDialog,
    cursor: usize,
) {
    let d = &pending.dialog;
    let mut lines: Vec<Line<'_>> = d.text.iter().map(|l| Line::from(safe(l))).collect();
    lines.push(Line::from(""));
    for (i, o) in d.options.iter().enumerate() {
        let mark = if i == cursor { "▶ " } else { "  " };
        let style = if i == cursor {
            Style::default().add_modifier(Modifier::REVERSED)
        } else {
            Style::default()
        };
        lines.push(Line::from(Span::styled(
            format!("{mark}{}. {}", o.number, safe(&o.label)),
            style,
        )));
    }
    lines.push(Line::from(""));
    lines.push(Line::from(Span::styled(
        "a number or ↑/↓ and Enter answers · Esc leaves it unanswered",
        fg(app, Color::DarkGray),
    )));
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = centered(area, 90.min(area.width), h);
    f.render_widget(Clear, r);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default().borders(Borders::ALL).title(format!(
                " {} is BLOCKED: its dialog ",
                safe(&pending.pane_id)
            )),
        ),
        r,
    );
}
