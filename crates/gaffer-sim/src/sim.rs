//! The simulated agent's model: its state machine, transcript and composer, and how it
//! reacts to keys and to the clock.

use crate::input::Input;
use crate::script::{Hook, Step, parse_script};
use crate::state::{Agent, SimState};

/// What a key press asks the host (the binary) to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Nothing beyond a redraw.
    None,
    /// A prompt was submitted (log it). `queued` when the agent was busy.
    Submitted {
        /// The exact text.
        text: String,
        /// Submitted while busy.
        queued: bool,
    },
    /// Quit to the shell.
    Exit,
}

/// The simulated agent.
#[derive(Debug, Clone)]
pub struct Sim {
    /// Which agent.
    pub agent: Agent,
    /// Current state.
    pub state: SimState,
    /// Transcript lines (oldest first), above the live area.
    pub transcript: Vec<String>,
    /// The composer's text.
    pub input: String,
    /// Percent of context left (shown in the footer).
    pub context_left: u32,
    /// Seconds of work for a prompt when no script step says otherwise.
    pub work_secs: f64,
    /// Remaining script steps.
    pub script: Vec<Step>,
    /// When the current state began (seconds on the host clock).
    pub state_started: f64,
    /// Time the current busy turn began.
    pub turn_started: f64,
    /// How long the current state lasts, when timed.
    pub state_secs: Option<f64>,
    /// Prompts submitted while busy.
    pub queued: Vec<String>,
    /// Prompts submitted so far.
    pub prompts: u32,
    /// Ctrl-C pressed once on an empty composer.
    pub exit_armed: bool,
    /// Set when the state just changed (the host logs it).
    pub changed: bool,
    /// Tool-call progress of the current turn.
    pub(crate) progress: u32,
    /// The bead named by the prompt of the current turn (`gaffer assigned you <BEAD>`).
    pub current_bead: Option<String>,
    /// The agent's Agent Mail name, as the last assignment prompt gave it.
    pub mail_name: Option<String>,
    /// Beads whose turn just ended (the host runs `--on-done` for each and drains this).
    pub finished: Vec<String>,
    /// Hooks the script reached (the host runs them and drains this).
    pub hooks: Vec<Hook>,
    /// The current turn is the agent's compact command (`/compact`, `/compress`).
    pub compacting: bool,
}

/// How long a compaction turn shows its spinner, seconds.
pub const COMPACT_SECS: f64 = 1.5;

/// Percent of context left after a compaction.
pub const CONTEXT_AFTER_COMPACT: u32 = 88;

/// The bead an assignment prompt names: `gaffer assigned you <BEAD> …`.
pub fn prompt_bead(text: &str) -> Option<String> {
    let rest = text.split("gaffer assigned you ").nth(1)?;
    let id: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let id = id.trim_end_matches('.').to_string();
    (!id.is_empty()).then_some(id)
}

/// The Agent Mail name an assignment prompt gives: `Your Agent Mail name is <NAME>.`
pub fn prompt_mail_name(text: &str) -> Option<String> {
    let rest = text.split("Your Agent Mail name is ").nth(1)?;
    let name: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .collect();
    (!name.is_empty()).then_some(name)
}

impl Sim {
    /// A new simulated agent at its welcome screen.
    pub fn new(agent: Agent, work_secs: f64, context_left: u32) -> Self {
        let transcript = match agent {
            Agent::Cc => vec![
                "╭───────────────────────────────────────────────────╮".into(),
                "│ ✻ Welcome to Claude Code!                         │".into(),
                "│                                                   │".into(),
                "│   /help for help, /status for your current setup  │".into(),
                "│                                                   │".into(),
                "│   cwd: /home/dev/project                          │".into(),
                "╰───────────────────────────────────────────────────╯".into(),
                String::new(),
            ],
            Agent::Cod => vec![
                "╭───────────────────────────────────────────────╮".into(),
                "│ >_ OpenAI Codex (v0.46.0)                     │".into(),
                "│                                               │".into(),
                "│ model:     gpt-5-codex medium   /model to change │".into(),
                "│ directory: ~/project                          │".into(),
                "╰───────────────────────────────────────────────╯".into(),
                String::new(),
                "  To get started, describe a task or try one of these commands:".into(),
                String::new(),
                "  /init - create an AGENTS.md file with instructions for Codex".into(),
                "  /status - show current session configuration".into(),
                "  /model - choose what model and reasoning effort to use".into(),
                String::new(),
            ],
            Agent::Gmi => vec![
                String::new(),
                " ███            █████████  ██████████ ██████   ██████ █████ ██████   █████ █████"
                    .into(),
                "░░░███         ███░░░░░███░░███░░░░░█░░██████ ██████ ░░███ ░░██████ ░░███ ░░███"
                    .into(),
                "  ░░░███      ███     ░░░  ░███  █ ░  ░███░█████░███  ░███  ░███░███ ░███  ░███"
                    .into(),
                String::new(),
                "Tips for getting started:".into(),
                "1. Ask questions, edit files, or run commands.".into(),
                "2. Be specific for the best results.".into(),
                "3. Create GEMINI.md files to customize your interactions with Gemini.".into(),
                "4. /help for more information.".into(),
                String::new(),
            ],
        };
        Sim {
            agent,
            state: SimState::Waiting,
            transcript,
            input: String::new(),
            context_left: context_left.min(100),
            work_secs,
            script: Vec::new(),
            state_started: 0.0,
            turn_started: 0.0,
            state_secs: None,
            queued: Vec::new(),
            prompts: 0,
            exit_armed: false,
            changed: true,
            progress: 0,
            current_bead: None,
            mail_name: None,
            finished: Vec::new(),
            hooks: Vec::new(),
            compacting: false,
        }
    }

    /// The agent's compact command: `/compact` (Claude Code, Codex), `/compress` (Gemini).
    pub fn compact_command(&self) -> &'static str {
        match self.agent {
            Agent::Cc | Agent::Cod => "/compact",
            Agent::Gmi => "/compress",
        }
    }

    /// Whether the agent is busy (thinking or generating).
    pub fn busy(&self) -> bool {
        matches!(self.state, SimState::Thinking | SimState::Generating)
    }

    /// Enters `state` at time `now`, held for `secs` (or until input when `None`).
    pub fn enter(&mut self, state: SimState, secs: Option<f64>, now: f64) {
        let was_busy = self.busy() || self.state == SimState::Blocked;
        self.state_secs = secs;
        self.state_started = now;
        self.changed = true;
        if matches!(state, SimState::Thinking | SimState::Generating) && !was_busy {
            self.turn_started = now;
            self.progress = 0;
        }
        match state {
            SimState::RateLimited => self.push_lines(self.rate_limit_lines()),
            SimState::Error => self.push_lines(self.error_lines()),
            SimState::Waiting if was_busy => {
                self.push_lines(self.done_lines(now));
                if let Some(b) = self.current_bead.take() {
                    self.finished.push(b);
                }
            }
            _ => {}
        }
        self.state = state;
    }

    /// Starts the next script step (queueing the hooks before it), or falls back to the
    /// default: waiting.
    pub fn next_step(&mut self, now: f64) {
        while self.script.first().is_some_and(|s| s.hook.is_some()) {
            let step = self.script.remove(0);
            if let Some(h) = step.hook {
                self.hooks.push(h);
            }
        }
        if self.script.is_empty() {
            self.enter(SimState::Waiting, None, now);
        } else {
            let step = self.script.remove(0);
            self.enter(step.state, step.secs, now);
        }
    }

    /// Advances time: ends timed states, moves busy turns along, shrinks the context.
    pub fn tick(&mut self, now: f64) -> Action {
        if self.busy() {
            let elapsed = now - self.turn_started;
            let want = (elapsed / 0.8) as u32;
            while !self.compacting && self.progress < want.min(4) {
                self.progress += 1;
                let lines = self.tool_lines(self.progress);
                self.push_lines(lines);
                // the context footer shrinks as the agent works
                self.context_left = self.context_left.saturating_sub(2).max(1);
            }
        }
        if let Some(secs) = self.state_secs {
            if now - self.state_started >= secs {
                self.state_secs = None;
                if self.compacting {
                    // the summary replaces the conversation: the context left goes back up
                    self.compacting = false;
                    self.context_left = self.context_left.max(CONTEXT_AFTER_COMPACT);
                    self.push_lines(vec!["  ⎿  Conversation compacted".into(), String::new()]);
                    self.state_secs = None;
                    self.state_started = now;
                    self.state = SimState::Waiting;
                    self.changed = true;
                } else if self.script.is_empty() && self.state == SimState::Thinking {
                    // default turn: think, then generate for the rest of the work time
                    let rest = (self.work_secs - (now - self.turn_started)).max(0.5);
                    self.enter(SimState::Generating, Some(rest), now);
                } else {
                    self.next_step(now);
                }
            }
        }
        if self.state == SimState::Exit {
            return Action::Exit;
        }
        if self.state == SimState::Waiting && !self.queued.is_empty() {
            let q = self.queued.remove(0);
            self.start_turn(&q, now);
        }
        Action::None
    }

    pub(crate) fn start_turn(&mut self, text: &str, now: f64) {
        if text.trim() == self.compact_command() {
            self.push_lines(self.echo_lines(text));
            self.compacting = true;
            self.current_bead = None;
            self.enter(SimState::Generating, Some(COMPACT_SECS), now);
            return;
        }
        self.prompts += 1;
        self.current_bead = prompt_bead(text);
        if let Some(name) = prompt_mail_name(text) {
            self.mail_name = Some(name);
        }
        self.push_lines(self.echo_lines(text));
        if self.script.is_empty() {
            let think = (self.work_secs / 3.0).min(1.0);
            self.enter(SimState::Thinking, Some(think), now);
        } else {
            self.next_step(now);
        }
    }

    /// Handles one input event at time `now`.
    pub fn key(&mut self, input: Input, now: f64) -> Action {
        if self.state == SimState::Blocked {
            return self.dialog_key(input, now);
        }
        match input {
            Input::Text(t) | Input::Paste(t) => {
                self.exit_armed = false;
                self.input.push_str(&t);
                Action::None
            }
            Input::Backspace => {
                self.input.pop();
                Action::None
            }
            Input::CtrlU => {
                self.input.clear();
                Action::None
            }
            Input::Escape => {
                if self.busy() {
                    self.interrupt(now);
                }
                Action::None
            }
            Input::CtrlC => {
                if self.busy() {
                    self.interrupt(now);
                } else if !self.input.is_empty() {
                    self.input.clear();
                } else if self.exit_armed {
                    self.enter(SimState::Exit, None, now);
                    return Action::Exit;
                } else {
                    self.exit_armed = true;
                }
                Action::None
            }
            Input::CtrlD => {
                if self.input.is_empty() && !self.busy() {
                    self.enter(SimState::Exit, None, now);
                    return Action::Exit;
                }
                Action::None
            }
            Input::Enter => {
                let text = std::mem::take(&mut self.input);
                if text.trim().is_empty() {
                    return Action::None;
                }
                let trimmed = text.trim();
                if trimmed == "/exit" || trimmed == "/quit" {
                    self.enter(SimState::Exit, None, now);
                    return Action::Submitted {
                        text,
                        queued: false,
                    };
                }
                if let Some(rest) = trimmed.strip_prefix("/sim ") {
                    let steps = parse_script(rest).unwrap_or_default();
                    if let Some(step) = steps.first() {
                        self.enter(step.state, step.secs, now);
                    }
                    return Action::Submitted {
                        text,
                        queued: false,
                    };
                }
                if self.busy() {
                    self.queued.push(text.clone());
                    Action::Submitted { text, queued: true }
                } else {
                    self.start_turn(&text, now);
                    Action::Submitted {
                        text,
                        queued: false,
                    }
                }
            }
        }
    }

    pub(crate) fn dialog_key(&mut self, input: Input, now: f64) -> Action {
        let approve = match &input {
            Input::Enter => Some(true),
            Input::Text(t) => match t.trim() {
                "1" | "2" | "y" | "a" => Some(true),
                "3" | "n" => Some(false),
                _ => None,
            },
            Input::Escape | Input::CtrlC => Some(false),
            _ => None,
        };
        match approve {
            Some(true) => {
                self.push_lines(self.approved_lines());
                self.state_secs = None;
                if self.script.is_empty() {
                    let rest = self.work_secs.max(0.5);
                    self.enter(SimState::Generating, Some(rest), now);
                } else {
                    self.next_step(now);
                }
            }
            Some(false) => {
                self.push_lines(self.rejected_lines());
                self.enter(SimState::Waiting, None, now);
            }
            None => {}
        }
        Action::None
    }

    pub(crate) fn interrupt(&mut self, now: f64) {
        let lines = match self.agent {
            Agent::Cc => vec!["  ⎿  Interrupted by user".to_string(), String::new()],
            Agent::Cod => vec![
                "■ Conversation interrupted - tell the model what to do differently".to_string(),
                String::new(),
            ],
            Agent::Gmi => vec!["ℹ Request cancelled.".to_string(), String::new()],
        };
        self.push_lines(lines);
        self.current_bead = None;
        self.state = SimState::Waiting;
        self.state_secs = None;
        self.state_started = now;
        self.changed = true;
    }

    pub(crate) fn push_lines(&mut self, lines: Vec<String>) {
        self.transcript.extend(lines);
        let max = 2000;
        if self.transcript.len() > max {
            let cut = self.transcript.len() - max;
            self.transcript.drain(..cut);
        }
    }
}
