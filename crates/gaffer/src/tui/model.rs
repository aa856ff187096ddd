//! What the dashboard shows (the board, read from the coordinator each tick) and its view state
//! (selection, the open overlay, the last message). Plain data: drawing and keys are tested on
//! it without a terminal.

use gaffer_coordinator::control::PendingDialog;
use gaffer_core::status::AgentStatus;

/// One agent row.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRow {
    /// Pane id.
    pub pane_id: String,
    /// Pane title.
    pub title: String,
    /// Agent type code.
    pub agent_type: String,
    /// State.
    pub status: AgentStatus,
    /// Seconds since the screen last changed.
    pub idle_secs: f64,
    /// Context used, percent, when known.
    pub context: Option<f64>,
    /// The bead it works on (empty: none).
    pub bead: String,
    /// `ok`, `warn` or `unhealthy`.
    pub health: String,
    /// What decided the state (`screen`, `hook`, `session_file`, …).
    pub source: String,
    /// The rule that fired.
    pub rule: String,
    /// Why, in words.
    pub reason: String,
    /// The screen lines that matched.
    pub evidence: Vec<String>,
    /// Auto-assign is paused for it.
    pub paused: bool,
}

/// Everything the dashboard shows, read once per tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Board {
    /// tmux session.
    pub session: String,
    /// Mail backend.
    pub mail: String,
    /// Work source.
    pub work: String,
    /// The agents.
    pub agents: Vec<AgentRow>,
    /// The selected agent's last screen lines.
    pub preview: Vec<String>,
    /// Live assignments, one line each.
    pub assignments: Vec<String>,
    /// Conflicts, one line each.
    pub conflicts: Vec<String>,
    /// Latest events, oldest first.
    pub events: Vec<String>,
    /// The latest digest, as lines.
    pub digest: Vec<String>,
    /// Observation problems.
    pub problems: Vec<String>,
    /// Every agent is paused.
    pub paused_all: bool,
}

/// The overlay that takes the keys.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Mode {
    /// The board.
    #[default]
    Normal,
    /// The key help.
    Help,
    /// Typing a prompt for an agent.
    Prompt {
        /// The agent.
        pane_id: String,
        /// The text so far.
        input: String,
    },
    /// Typing the bead to give to an agent.
    Reassign {
        /// The agent.
        pane_id: String,
        /// The bead id so far.
        input: String,
    },
    /// A BLOCKED agent's dialog, read from its screen, waiting for the human's choice.
    Dialog {
        /// The dialog.
        pending: PendingDialog,
        /// The option the cursor is on (index).
        cursor: usize,
    },
    /// A yes/no question before an action.
    Confirm {
        /// The question.
        question: String,
        /// What runs on yes.
        then: Box<super::keys::Command>,
    },
}

/// The dashboard's whole state.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// What is shown.
    pub board: Board,
    /// The selected agent's pane id.
    pub selected: Option<String>,
    /// The overlay.
    pub mode: Mode,
    /// The last action's result: text, and whether it is an error.
    pub message: Option<(String, bool)>,
    /// Colours allowed (not `NO_COLOR`).
    pub color: bool,
    /// An action is running (its name).
    pub busy: Option<String>,
}

impl App {
    /// A dashboard over `board`.
    pub fn new(board: Board, color: bool) -> App {
        let selected = board.agents.first().map(|a| a.pane_id.clone());
        App {
            board,
            selected,
            mode: Mode::Normal,
            message: None,
            color,
            busy: None,
        }
    }

    /// Replaces the board, keeping the selection on the same pane when it is still there.
    pub fn update(&mut self, board: Board) {
        self.board = board;
        let still = self
            .selected
            .as_ref()
            .is_some_and(|p| self.board.agents.iter().any(|a| &a.pane_id == p));
        if !still {
            self.selected = self.board.agents.first().map(|a| a.pane_id.clone());
        }
    }

    /// The index of the selected agent.
    pub fn selected_index(&self) -> Option<usize> {
        let p = self.selected.as_ref()?;
        self.board.agents.iter().position(|a| &a.pane_id == p)
    }

    /// The selected agent.
    pub fn selected_agent(&self) -> Option<&AgentRow> {
        self.selected_index().map(|i| &self.board.agents[i])
    }

    /// Moves the selection by `delta` rows (clamped).
    pub fn move_selection(&mut self, delta: isize) {
        let n = self.board.agents.len();
        if n == 0 {
            return;
        }
        let i = self.selected_index().unwrap_or(0) as isize + delta;
        let i = i.clamp(0, n as isize - 1) as usize;
        self.selected = Some(self.board.agents[i].pane_id.clone());
    }

    /// Shows a result line.
    pub fn say(&mut self, text: impl Into<String>, error: bool) {
        self.message = Some((text.into(), error));
    }
}
