//! The dashboard drawn on ratatui's TestBackend (compared with snapshots in `snapshots/`;
//! `UPDATE_SNAPSHOTS=1` rewrites them), its colours and NO_COLOR, and its keys.

use super::draw::{context_bar, draw, idle};
use super::jump;
use super::keys::{Command, on_key};
use super::model::{AgentRow, App, Board, Mode};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use gaffer_coordinator::control::{JumpTarget, PendingDialog};
use gaffer_core::control::{Dialog, DialogOption, PauseTarget};
use gaffer_core::status::AgentStatus;
use gaffer_tmux::cmd::Socket;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

fn row(pane: &str, title: &str, status: AgentStatus, bead: &str) -> AgentRow {
    AgentRow {
        pane_id: pane.into(),
        title: title.into(),
        agent_type: title
            .split("__")
            .nth(1)
            .and_then(|t| t.split('_').next())
            .unwrap_or("cc")
            .into(),
        status,
        idle_secs: 42.0,
        context: Some(62.0),
        bead: bead.into(),
        health: "ok".into(),
        source: "screen".into(),
        rule: "cc.blocked.permission".into(),
        reason: "a permission dialog waits for an answer".into(),
        evidence: vec![" Do you want to proceed?".into()],
        paused: false,
    }
}

fn board() -> Board {
    let mut wide = row("%2", "try__cod_1", AgentStatus::Generating, "tr-2");
    // a wide-character title and a hostile one: widths and escapes are handled
    wide.title = "try__エージェント一号".into();
    wide.agent_type = "cod".into();
    let mut hostile = row("%3", "try__gmi_1\x1b[2J", AgentStatus::Error, "");
    hostile.health = "unhealthy".into();
    hostile.paused = true;
    hostile.context = None;
    Board {
        session: "try".into(),
        mail: "embedded .gaffer/state.db".into(),
        work: "native".into(),
        agents: vec![
            row("%1", "try__cc_1", AgentStatus::Blocked, "tr-1"),
            wide,
            hostile,
        ],
        preview: vec![
            "● Bash(rm -rf build/)".into(),
            " Do you want to proceed?".into(),
            " ❯ 1. Yes".into(),
            "   2. No".into(),
        ],
        assignments: vec!["tr-1 → %1 (delivered) Fix the lexer".into()],
        conflicts: vec![],
        events: vec!["12:00:01 work_assigned %1 assigned tr-1".into()],
        digest: vec!["# Session Digest: try".into()],
        problems: vec![],
        paused_all: false,
    }
}

fn render(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

/// The buffer as text, one line per row; a wide character's second cell is skipped.
fn text(b: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..b.area.height {
        let mut line = String::new();
        let mut skip = 0;
        for x in 0..b.area.width {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            let sym = b[(x, y)].symbol();
            skip = unicode_width::UnicodeWidthStr::width(sym).saturating_sub(1);
            line.push_str(sym);
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn snapshot(name: &str, got: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src/tui/snapshots")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| {
        panic!(
            "no snapshot {}; run with UPDATE_SNAPSHOTS=1",
            path.display()
        )
    });
    assert_eq!(got, want, "snapshot {name} differs");
}

fn find(b: &Buffer, needle: &str) -> (u16, u16) {
    for y in 0..b.area.height {
        let line: String = (0..b.area.width).map(|x| b[(x, y)].symbol()).collect();
        if let Some(i) = line.find(needle) {
            let x = line[..i].chars().count() as u16;
            return (x, y);
        }
    }
    panic!("{needle:?} not on screen:\n{}", text(b));
}

#[test]
fn the_board_matches_its_snapshot() {
    let app = App::new(board(), true);
    let b = render(&app, 120, 32);
    snapshot("board_120x32", &text(&b));
    // no escape from a title reaches the screen
    assert!(!text(&b).contains('\x1b'));
}

#[test]
fn a_narrow_terminal_still_draws_every_agent() {
    let app = App::new(board(), true);
    let b = render(&app, 80, 24);
    snapshot("board_80x24", &text(&b));
    for p in ["%1", "%2", "%3"] {
        find(&b, p);
    }
}

#[test]
fn states_are_coloured_and_no_color_drops_every_colour() {
    let app = App::new(board(), true);
    let b = render(&app, 120, 32);
    let (x, y) = find(&b, "BLOCKED");
    assert_eq!(b[(x, y)].fg, Color::Yellow);
    let (x, y) = find(&b, "GENERATING");
    assert_eq!(b[(x, y)].fg, Color::Cyan);
    let (x, y) = find(&b, "ERROR");
    assert_eq!(b[(x, y)].fg, Color::Red);
    // the evidence line in the preview is highlighted
    let (x, y) = find(&b, "Do you want to proceed?");
    assert_eq!(b[(x, y)].bg, Color::Yellow);
    let plain = App::new(board(), false);
    let b = render(&plain, 120, 32);
    for y in 0..b.area.height {
        for x in 0..b.area.width {
            let c = &b[(x, y)];
            assert_eq!(c.fg, Color::Reset, "colour at {x},{y}");
            assert_eq!(c.bg, Color::Reset, "background at {x},{y}");
        }
    }
}

#[test]
fn wide_titles_keep_the_columns_aligned() {
    let app = App::new(board(), true);
    let b = render(&app, 120, 32);
    let t = text(&b);
    let col = |needle: &str| {
        let line = t.lines().find(|l| l.contains(needle)).unwrap();
        unicode_width::UnicodeWidthStr::width(&line[..line.find(needle).unwrap()])
    };
    assert_eq!(col("BLOCKED"), col("GENERATING"));
    assert_eq!(col("BLOCKED"), col("ERROR"));
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

fn code(c: KeyCode) -> KeyEvent {
    KeyEvent::new(c, KeyModifiers::NONE)
}

#[test]
fn keys_select_and_ask_for_control_commands() {
    let mut app = App::new(board(), true);
    assert_eq!(app.selected.as_deref(), Some("%1"));
    assert_eq!(on_key(&mut app, key('j')), None);
    assert_eq!(app.selected.as_deref(), Some("%2"));
    assert_eq!(
        on_key(&mut app, key('p')),
        Some(Command::Pause(PauseTarget::Pane("%2".into())))
    );
    assert_eq!(
        on_key(&mut app, key('P')),
        Some(Command::Pause(PauseTarget::All))
    );
    on_key(&mut app, code(KeyCode::Down));
    // %3 is paused: p resumes it
    assert_eq!(
        on_key(&mut app, key('p')),
        Some(Command::Resume(PauseTarget::Pane("%3".into())))
    );
    // it holds no bead: nothing to unassign
    assert_eq!(on_key(&mut app, key('u')), None);
    assert!(
        app.message
            .as_ref()
            .is_some_and(|(m, e)| *e && m.contains("no bead"))
    );
    on_key(&mut app, key('k'));
    on_key(&mut app, key('k'));
    assert_eq!(
        on_key(&mut app, key('a')),
        Some(Command::ReadDialog {
            pane_id: "%1".into()
        })
    );
    assert_eq!(
        on_key(&mut app, key('g')),
        Some(Command::Jump {
            pane_id: "%1".into()
        })
    );
    assert_eq!(on_key(&mut app, key('q')), Some(Command::Quit));
    let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert_eq!(on_key(&mut app, ctrl_c), Some(Command::Quit));
}

#[test]
fn a_prompt_is_typed_then_sent_and_escape_cancels() {
    let mut app = App::new(board(), true);
    on_key(&mut app, key('s'));
    for c in "run 名前".chars() {
        on_key(&mut app, key(c));
    }
    on_key(&mut app, code(KeyCode::Backspace));
    let b = render(&app, 120, 32);
    find(&b, "prompt for %1");
    assert_eq!(
        on_key(&mut app, code(KeyCode::Enter)),
        Some(Command::Send {
            pane_id: "%1".into(),
            text: "run 名".into()
        })
    );
    assert_eq!(app.mode, Mode::Normal);
    on_key(&mut app, key('s'));
    on_key(&mut app, key('x'));
    assert_eq!(on_key(&mut app, code(KeyCode::Esc)), None);
    assert_eq!(app.mode, Mode::Normal);
    // unassign asks first
    on_key(&mut app, key('u'));
    assert!(matches!(app.mode, Mode::Confirm { .. }));
    assert_eq!(
        on_key(&mut app, key('y')),
        Some(Command::Unassign {
            bead: "tr-1".into()
        })
    );
    on_key(&mut app, key('r'));
    for c in "tr-9".chars() {
        on_key(&mut app, key(c));
    }
    assert_eq!(
        on_key(&mut app, code(KeyCode::Enter)),
        Some(Command::Reassign {
            bead: "tr-9".into(),
            pane_id: "%1".into()
        })
    );
}

fn pending() -> PendingDialog {
    PendingDialog {
        pane_id: "%1".into(),
        status: AgentStatus::Blocked,
        dialog: Dialog {
            text: vec![
                "Bash command".into(),
                "rm -rf build/".into(),
                "Do you want to proceed?".into(),
            ],
            options: vec![
                DialogOption {
                    number: 1,
                    label: "Yes".into(),
                    selected: true,
                },
                DialogOption {
                    number: 2,
                    label: "No, and tell Claude what to do differently (esc)".into(),
                    selected: false,
                },
            ],
        },
    }
}

#[test]
fn the_dialog_shows_its_full_text_and_answers_only_the_human_s_choice() {
    let mut app = App::new(board(), true);
    app.mode = Mode::Dialog {
        pending: pending(),
        cursor: 0,
    };
    let b = render(&app, 120, 32);
    snapshot("dialog_120x32", &text(&b));
    find(&b, "rm -rf build/");
    find(&b, "2. No, and tell Claude");
    // an option it does not have is refused, the dialog stays
    assert_eq!(on_key(&mut app, key('7')), None);
    assert!(matches!(app.mode, Mode::Dialog { .. }));
    // ↓ then Enter chooses 2
    on_key(&mut app, code(KeyCode::Down));
    let shown = pending().dialog;
    assert_eq!(
        on_key(&mut app, code(KeyCode::Enter)),
        Some(Command::Answer {
            pane_id: "%1".into(),
            option: 2,
            shown: shown.clone()
        })
    );
    app.mode = Mode::Dialog {
        pending: pending(),
        cursor: 0,
    };
    assert_eq!(
        on_key(&mut app, key('1')),
        Some(Command::Answer {
            pane_id: "%1".into(),
            option: 1,
            shown
        })
    );
    app.mode = Mode::Dialog {
        pending: pending(),
        cursor: 0,
    };
    assert_eq!(on_key(&mut app, code(KeyCode::Esc)), None);
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn help_lists_the_keys_and_any_key_closes_it() {
    let mut app = App::new(board(), true);
    on_key(&mut app, key('?'));
    let b = render(&app, 120, 32);
    find(&b, "answer the selected BLOCKED agent's dialog");
    on_key(&mut app, code(KeyCode::Esc));
    assert_eq!(app.mode, Mode::Normal);
}

#[test]
fn bars_and_idle_times() {
    assert_eq!(context_bar(Some(62.0), 8), "█████░░░  62%");
    assert_eq!(context_bar(Some(140.0), 4), "████ 100%");
    assert_eq!(context_bar(None, 8), "           -");
    assert_eq!(idle(42.4), "42s");
    assert_eq!(idle(185.0), "3m05s");
    assert_eq!(idle(7800.0), "2h10m");
}

#[test]
fn jump_switches_inside_the_agents_server_and_attaches_elsewhere() {
    let t = JumpTarget {
        pane_id: "%4".into(),
        session: "try".into(),
        window_index: 1,
        pane_index: 2,
        target: "try:1.2".into(),
    };
    let sock = Socket::Name("gaffer-try".into());
    assert!(jump::inside(Some("/tmp/tmux-0/gaffer-try,123,0"), &sock));
    assert!(!jump::inside(Some("/tmp/tmux-0/default,123,0"), &sock));
    assert!(!jump::inside(None, &sock));
    assert!(jump::inside(
        Some("/tmp/tmux-0/default,1,0"),
        &Socket::Default
    ));
    let cmds = jump::commands(&sock, &t, true);
    assert_eq!(cmds[0], ["-L", "gaffer-try", "select-window", "-t", "%4"]);
    assert_eq!(cmds[2], ["-L", "gaffer-try", "switch-client", "-t", "%4"]);
    let cmds = jump::commands(&sock, &t, false);
    assert_eq!(cmds[2], ["-L", "gaffer-try", "attach-session", "-t", "try"]);
}

#[test]
fn an_update_keeps_the_selection_on_its_pane() {
    let mut app = App::new(board(), true);
    app.move_selection(1);
    let mut b = board();
    b.agents.remove(0);
    app.update(b);
    assert_eq!(app.selected.as_deref(), Some("%2"));
    let mut b = board();
    b.agents.retain(|a| a.pane_id == "%3");
    app.update(b);
    assert_eq!(app.selected.as_deref(), Some("%3"));
}
