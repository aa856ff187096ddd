//! Keys and mouse: each input changes the view state, or asks for a [`Command`], which the
//! dashboard carries out through the coordinator's control API (the same as the CLI's).

use super::model::{App, Mode};
use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEvent, MouseEventKind};
use gaffer_core::control::{Dialog, PauseTarget};

/// An action for the control API (or the dashboard itself).
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Leave the dashboard.
    Quit,
    /// Send a prompt (verified delivery).
    Send {
        /// The agent.
        pane_id: String,
        /// The prompt.
        text: String,
    },
    /// Read a BLOCKED agent's dialog, to show it.
    ReadDialog {
        /// The agent.
        pane_id: String,
    },
    /// Answer the dialog the human was shown with one of its options.
    Answer {
        /// The agent.
        pane_id: String,
        /// The option's number.
        option: u32,
        /// The dialog as shown.
        shown: Dialog,
    },
    /// Pause auto-assign.
    Pause(PauseTarget),
    /// Resume auto-assign.
    Resume(PauseTarget),
    /// Take a bead back.
    Unassign {
        /// The bead.
        bead: String,
    },
    /// Give a bead to an agent.
    Reassign {
        /// The bead.
        bead: String,
        /// The agent.
        pane_id: String,
    },
    /// Switch the tmux client to the agent's pane.
    Jump {
        /// The agent.
        pane_id: String,
    },
}

/// The keys, as the help overlay lists them.
pub const HELP: &[(&str, &str)] = &[
    ("↑/↓  j/k", "select an agent (mouse: click a row, wheel)"),
    ("s", "send a prompt to the selected agent"),
    ("a", "answer the selected BLOCKED agent's dialog"),
    ("p / P", "pause or resume auto-assign: selected agent / all"),
    ("u", "unassign the selected agent's bead"),
    ("r", "reassign a bead to the selected agent"),
    ("g", "jump to the agent's pane in tmux"),
    ("?", "this help"),
    ("Esc", "close a window"),
    ("q  Ctrl-C", "quit"),
];

fn text_input(input: &mut String, key: &KeyEvent) {
    match key.code {
        KeyCode::Backspace => {
            input.pop();
        }
        KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => input.clear(),
        KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => input.push(c),
        _ => {}
    }
}

/// Handles one key: changes `app`, and returns the command to run, if any.
pub fn on_key(app: &mut App, key: KeyEvent) -> Option<Command> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.code == KeyCode::Char('c') && key.modifiers.contains(KeyModifiers::CONTROL) {
        return Some(Command::Quit);
    }
    let mode = std::mem::take(&mut app.mode);
    match mode {
        Mode::Normal => normal(app, key),
        Mode::Help => match key.code {
            KeyCode::Char('q') => Some(Command::Quit),
            _ => None,
        },
        Mode::Prompt { pane_id, mut input } => match key.code {
            KeyCode::Esc => None,
            KeyCode::Enter if !input.trim().is_empty() => Some(Command::Send {
                pane_id,
                text: input,
            }),
            _ => {
                text_input(&mut input, &key);
                app.mode = Mode::Prompt { pane_id, input };
                None
            }
        },
        Mode::Reassign { pane_id, mut input } => match key.code {
            KeyCode::Esc => None,
            KeyCode::Enter if !input.trim().is_empty() => Some(Command::Reassign {
                bead: input.trim().to_string(),
                pane_id,
            }),
            _ => {
                text_input(&mut input, &key);
                app.mode = Mode::Reassign { pane_id, input };
                None
            }
        },
        Mode::Dialog {
            pending,
            mut cursor,
        } => {
            let n = pending.dialog.options.len();
            let pick = |i: usize| {
                pending.dialog.options.get(i).map(|o| Command::Answer {
                    pane_id: pending.pane_id.clone(),
                    option: o.number,
                    shown: pending.dialog.clone(),
                })
            };
            match key.code {
                KeyCode::Esc => None,
                KeyCode::Up | KeyCode::Char('k') => {
                    cursor = cursor.saturating_sub(1);
                    app.mode = Mode::Dialog { pending, cursor };
                    None
                }
                KeyCode::Down | KeyCode::Char('j') => {
                    cursor = (cursor + 1).min(n.saturating_sub(1));
                    app.mode = Mode::Dialog { pending, cursor };
                    None
                }
                KeyCode::Enter => pick(cursor),
                KeyCode::Char(c) if c.is_ascii_digit() => {
                    let number = c.to_digit(10).unwrap_or(0);
                    match pending
                        .dialog
                        .options
                        .iter()
                        .position(|o| o.number == number)
                    {
                        Some(i) => pick(i),
                        None => {
                            app.say(format!("the dialog has no option {number}"), true);
                            app.mode = Mode::Dialog { pending, cursor };
                            None
                        }
                    }
                }
                _ => {
                    app.mode = Mode::Dialog { pending, cursor };
                    None
                }
            }
        }
        Mode::Confirm { question, then } => match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => Some(*then),
            KeyCode::Char('n') | KeyCode::Esc => None,
            _ => {
                app.mode = Mode::Confirm { question, then };
                None
            }
        },
    }
}

fn normal(app: &mut App, key: KeyEvent) -> Option<Command> {
    let selected = app.selected_agent().cloned();
    let need = |app: &mut App| {
        app.say("no agent selected", true);
        None
    };
    match key.code {
        KeyCode::Char('q') => Some(Command::Quit),
        KeyCode::Char('?') => {
            app.mode = Mode::Help;
            None
        }
        KeyCode::Up | KeyCode::Char('k') => {
            app.move_selection(-1);
            None
        }
        KeyCode::Down | KeyCode::Char('j') => {
            app.move_selection(1);
            None
        }
        KeyCode::Home => {
            app.move_selection(isize::MIN / 2);
            None
        }
        KeyCode::End => {
            app.move_selection(isize::MAX / 2);
            None
        }
        KeyCode::Char('s') => match selected {
            Some(a) => {
                app.mode = Mode::Prompt {
                    pane_id: a.pane_id,
                    input: String::new(),
                };
                None
            }
            None => need(app),
        },
        KeyCode::Char('a') => match selected {
            Some(a) => Some(Command::ReadDialog { pane_id: a.pane_id }),
            None => need(app),
        },
        KeyCode::Char('p') => match selected {
            Some(a) => {
                let target = PauseTarget::Pane(a.pane_id);
                Some(if a.paused && !app.board.paused_all {
                    Command::Resume(target)
                } else {
                    Command::Pause(target)
                })
            }
            None => need(app),
        },
        KeyCode::Char('P') => Some(if app.board.paused_all {
            Command::Resume(PauseTarget::All)
        } else {
            Command::Pause(PauseTarget::All)
        }),
        KeyCode::Char('u') => match selected {
            Some(a) if a.bead.is_empty() => {
                app.say(format!("{} holds no bead", a.pane_id), true);
                None
            }
            Some(a) => {
                app.mode = Mode::Confirm {
                    question: format!("Take {} back from {}? (y/n)", a.bead, a.pane_id),
                    then: Box::new(Command::Unassign { bead: a.bead }),
                };
                None
            }
            None => need(app),
        },
        KeyCode::Char('r') => match selected {
            Some(a) => {
                app.mode = Mode::Reassign {
                    pane_id: a.pane_id,
                    input: String::new(),
                };
                None
            }
            None => need(app),
        },
        KeyCode::Char('g') => match selected {
            Some(a) => Some(Command::Jump { pane_id: a.pane_id }),
            None => need(app),
        },
        _ => None,
    }
}

/// Handles a mouse event: a click on an agent row selects it, the wheel moves the selection.
/// `first_row` is the screen row of the table's first agent.
pub fn on_mouse(app: &mut App, ev: MouseEvent, first_row: u16) {
    if app.mode != Mode::Normal {
        return;
    }
    match ev.kind {
        MouseEventKind::ScrollDown => app.move_selection(1),
        MouseEventKind::ScrollUp => app.move_selection(-1),
        MouseEventKind::Down(_) if ev.row >= first_row => {
            let i = usize::from(ev.row - first_row);
            if let Some(a) = app.board.agents.get(i) {
                app.selected = Some(a.pane_id.clone());
            }
        }
        _ => {}
    }
}
