//! gaffer-sim: simulated Claude Code, Codex and Gemini CLI screens.
//!
//! The library holds the pure parts: the simulated agent's model (state, transcript, composer),
//! the script format, the input decoder (keys and bracketed paste) and the renderer that turns
//! the model into screen rows. The binary (`src/main.rs`) adds the terminal and the clock.

use std::fmt;
use std::str::FromStr;

/// Which agent's screens to draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    /// Claude Code.
    Cc,
    /// Codex CLI.
    Cod,
    /// Gemini CLI.
    Gmi,
}

impl FromStr for Agent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        // Names and aliases come from the kind registry; the sim draws these three kinds.
        match gaffer_core::kinds::registry().canonical(s).as_str() {
            "cc" => Ok(Agent::Cc),
            "cod" => Ok(Agent::Cod),
            "gmi" => Ok(Agent::Gmi),
            other => Err(format!("unknown agent {other:?} (expected cc, cod or gmi)")),
        }
    }
}

/// A state of the simulated agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimState {
    /// At the composer, waiting for a prompt.
    Waiting,
    /// Busy, thinking (spinner without output).
    Thinking,
    /// Busy, producing output and tool calls.
    Generating,
    /// A permission dialog waits for an answer.
    Blocked,
    /// A rate-limit message is shown; the composer is back.
    RateLimited,
    /// An error message is shown; the composer is back.
    Error,
    /// The agent quits to the shell.
    Exit,
}

impl SimState {
    /// The name used in flags, scripts and the state log.
    pub fn name(self) -> &'static str {
        match self {
            SimState::Waiting => "waiting",
            SimState::Thinking => "thinking",
            SimState::Generating => "generating",
            SimState::Blocked => "blocked",
            SimState::RateLimited => "rate-limited",
            SimState::Error => "error",
            SimState::Exit => "exit",
        }
    }
}

impl fmt::Display for SimState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SimState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "waiting" | "idle" => Ok(SimState::Waiting),
            "thinking" => Ok(SimState::Thinking),
            "generating" | "working" => Ok(SimState::Generating),
            "blocked" | "permission" => Ok(SimState::Blocked),
            "rate-limited" | "ratelimited" | "rate-limit" => Ok(SimState::RateLimited),
            "error" => Ok(SimState::Error),
            "exit" | "exited" => Ok(SimState::Exit),
            other => Err(format!(
                "unknown state {other:?} (expected waiting, thinking, generating, blocked, rate-limited, error, exit)"
            )),
        }
    }
}

/// A command a script step asks the host to run, as the agent would (its shell tool).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hook {
    /// Reserve files matching the pattern (the host runs `--reserve-cmd`).
    Reserve(String),
    /// Release the agent's reservation of the pattern (the host runs `--release-cmd`).
    Release(String),
}

/// One step of a script: a state, held for `secs` or (when `None`) until input moves it on;
/// or a hook, run at once before the next step.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The state to show.
    pub state: SimState,
    /// How long to hold it; `None` waits for a prompt (or, when blocked, an answer).
    pub secs: Option<f64>,
    /// A command to run instead of showing a state.
    pub hook: Option<Hook>,
}

impl Step {
    /// A state step.
    pub fn state(state: SimState, secs: Option<f64>) -> Step {
        Step {
            state,
            secs,
            hook: None,
        }
    }
}

/// Parses a script: one step per line, `<state> [seconds]`, `reserve PATTERN` or
/// `release PATTERN`; `#` starts a comment.
pub fn parse_script(text: &str) -> Result<Vec<Step>, String> {
    let mut steps = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let mut parts = line.split_whitespace();
        let state_word = parts.next().unwrap_or("");
        if state_word == "reserve" || state_word == "release" {
            let pattern = parts
                .next()
                .ok_or_else(|| format!("line {}: {state_word} needs a pattern", i + 1))?;
            if let Some(extra) = parts.next() {
                return Err(format!("line {}: unexpected {extra:?}", i + 1));
            }
            let hook = if state_word == "reserve" {
                Hook::Reserve(pattern.to_string())
            } else {
                Hook::Release(pattern.to_string())
            };
            steps.push(Step {
                state: SimState::Waiting,
                secs: None,
                hook: Some(hook),
            });
            continue;
        }
        let state: SimState = state_word
            .parse()
            .map_err(|e| format!("line {}: {e}", i + 1))?;
        let secs = match parts.next() {
            None => None,
            Some(w) => {
                let v: f64 = w
                    .trim_end_matches('s')
                    .parse()
                    .map_err(|_| format!("line {}: bad seconds {w:?}", i + 1))?;
                if !(0.0..=86_400.0).contains(&v) {
                    return Err(format!("line {}: seconds out of range: {w}", i + 1));
                }
                Some(v)
            }
        };
        if let Some(extra) = parts.next() {
            return Err(format!("line {}: unexpected {extra:?}", i + 1));
        }
        steps.push(Step::state(state, secs));
    }
    Ok(steps)
}

/// A decoded input event.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Typed text (no control characters).
    Text(String),
    /// A bracketed paste, with CR/CRLF turned into `\n`.
    Paste(String),
    /// Enter (CR or LF outside a paste).
    Enter,
    /// Backspace.
    Backspace,
    /// Ctrl-C.
    CtrlC,
    /// Ctrl-D.
    CtrlD,
    /// Ctrl-U (clear the line).
    CtrlU,
    /// A lone Escape.
    Escape,
}

/// Decodes terminal input bytes: keys, escape sequences and bracketed paste.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
    in_paste: bool,
    paste: Vec<u8>,
}

const PASTE_START: &[u8] = b"\x1b[200~";
const PASTE_END: &[u8] = b"\x1b[201~";

impl Decoder {
    /// A fresh decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether bytes are held back waiting for the rest of a sequence.
    pub fn pending(&self) -> bool {
        !self.buf.is_empty()
    }

    /// Feeds bytes; returns the complete events. `flush` treats a trailing lone ESC as Escape.
    pub fn feed(&mut self, bytes: &[u8], flush: bool) -> Vec<Input> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        let mut text = Vec::new();
        let mut i = 0;
        let b = std::mem::take(&mut self.buf);
        while i < b.len() {
            if self.in_paste {
                if b[i..].starts_with(PASTE_END) {
                    self.in_paste = false;
                    i += PASTE_END.len();
                    let raw = std::mem::take(&mut self.paste);
                    out.push(Input::Paste(normalize_paste(&raw)));
                    continue;
                }
                if b[i] == 0x1b && PASTE_END.starts_with(&b[i..]) {
                    // maybe a split end marker: keep for the next read
                    self.buf = b[i..].to_vec();
                    return finish(out, text);
                }
                self.paste.push(b[i]);
                i += 1;
                continue;
            }
            let c = b[i];
            match c {
                0x1b => {
                    let rest = &b[i..];
                    if rest.starts_with(PASTE_START) {
                        flush_text(&mut out, &mut text);
                        self.in_paste = true;
                        i += PASTE_START.len();
                        continue;
                    }
                    if rest.len() == 1 {
                        if flush {
                            flush_text(&mut out, &mut text);
                            out.push(Input::Escape);
                            i += 1;
                            continue;
                        }
                        self.buf = rest.to_vec();
                        return finish(out, text);
                    }
                    if rest[1] == b'[' || rest[1] == b'O' {
                        // CSI / SS3: skip to the final byte
                        let mut j = 2;
                        while j < rest.len() && !(0x40..=0x7e).contains(&rest[j]) {
                            j += 1;
                        }
                        if j >= rest.len() {
                            if flush {
                                i = b.len();
                                continue;
                            }
                            self.buf = rest.to_vec();
                            return finish(out, text);
                        }
                        flush_text(&mut out, &mut text);
                        i += j + 1;
                        continue;
                    }
                    flush_text(&mut out, &mut text);
                    out.push(Input::Escape);
                    i += 1;
                }
                b'\r' | b'\n' => {
                    flush_text(&mut out, &mut text);
                    out.push(Input::Enter);
                    i += 1;
                }
                0x7f | 0x08 => {
                    flush_text(&mut out, &mut text);
                    out.push(Input::Backspace);
                    i += 1;
                }
                0x03 => {
                    flush_text(&mut out, &mut text);
                    out.push(Input::CtrlC);
                    i += 1;
                }
                0x04 => {
                    flush_text(&mut out, &mut text);
                    out.push(Input::CtrlD);
                    i += 1;
                }
                0x15 => {
                    flush_text(&mut out, &mut text);
                    out.push(Input::CtrlU);
                    i += 1;
                }
                b'\t' => {
                    text.push(b'\t');
                    i += 1;
                }
                c if c < 0x20 => i += 1,
                _ => {
                    // keep UTF-8 sequences whole
                    let len = utf8_len(c);
                    if i + len > b.len() {
                        if flush {
                            i = b.len();
                            continue;
                        }
                        flush_text(&mut out, &mut text);
                        self.buf = b[i..].to_vec();
                        return out;
                    }
                    text.extend_from_slice(&b[i..i + len]);
                    i += len;
                }
            }
        }
        finish(out, text)
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

fn flush_text(out: &mut Vec<Input>, text: &mut Vec<u8>) {
    if !text.is_empty() {
        out.push(Input::Text(String::from_utf8_lossy(text).into_owned()));
        text.clear();
    }
}

fn finish(mut out: Vec<Input>, mut text: Vec<u8>) -> Vec<Input> {
    flush_text(&mut out, &mut text);
    out
}

fn normalize_paste(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    s.replace("\r\n", "\n").replace('\r', "\n")
}

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
    progress: u32,
    /// The bead named by the prompt of the current turn (`gaffer assigned you <BEAD>`).
    pub current_bead: Option<String>,
    /// The agent's Agent Mail name, as the last assignment prompt gave it.
    pub mail_name: Option<String>,
    /// Beads whose turn just ended (the host runs `--on-done` for each and drains this).
    pub finished: Vec<String>,
    /// Hooks the script reached (the host runs them and drains this).
    pub hooks: Vec<Hook>,
}

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

const SPINNER_VERBS: [&str; 6] = [
    "Scurrying",
    "Pondering",
    "Clauding",
    "Wrangling",
    "Percolating",
    "Noodling",
];

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
            while self.progress < want.min(4) {
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
                if self.script.is_empty() && self.state == SimState::Thinking {
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

    fn start_turn(&mut self, text: &str, now: f64) {
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

    fn dialog_key(&mut self, input: Input, now: f64) -> Action {
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

    fn interrupt(&mut self, now: f64) {
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

    fn push_lines(&mut self, lines: Vec<String>) {
        self.transcript.extend(lines);
        let max = 2000;
        if self.transcript.len() > max {
            let cut = self.transcript.len() - max;
            self.transcript.drain(..cut);
        }
    }

    fn echo_lines(&self, text: &str) -> Vec<String> {
        let prefix = match self.agent {
            Agent::Cc | Agent::Gmi => "> ",
            Agent::Cod => "› ",
        };
        let mut out = Vec::new();
        let all: Vec<&str> = text.lines().collect();
        for (i, l) in all.iter().take(4).enumerate() {
            let l: String = l.chars().take(400).collect();
            if i == 0 {
                out.push(format!("{prefix}{l}"));
            } else {
                out.push(format!("  {l}"));
            }
        }
        if all.len() > 4 {
            out.push(format!("  … +{} lines", all.len() - 4));
        }
        out.push(String::new());
        out
    }

    fn tool_lines(&self, step: u32) -> Vec<String> {
        match (self.agent, step) {
            (Agent::Cc, 1) => vec![
                "● I'll start by reading the relevant code.".into(),
                String::new(),
            ],
            (Agent::Cc, 2) => vec![
                "● Read(src/lib.rs)".into(),
                "  ⎿  Read 214 lines (ctrl+r to expand)".into(),
                String::new(),
            ],
            (Agent::Cc, 3) => vec![
                "● Update(src/lib.rs)".into(),
                "  ⎿  Updated src/lib.rs with 4 additions and 1 removal".into(),
                String::new(),
            ],
            (Agent::Cc, _) => vec![
                "● Bash(cargo test -q)".into(),
                "  ⎿  test result: ok. 42 passed; 0 failed".into(),
                String::new(),
            ],
            (Agent::Cod, 1) => vec![
                "• I'll inspect the repository layout first.".into(),
                String::new(),
            ],
            (Agent::Cod, 2) => vec![
                "• Explored".into(),
                "  └ Read lib.rs".into(),
                "    Search fn parse in src".into(),
                String::new(),
            ],
            (Agent::Cod, 3) => vec![
                "• Edited src/lib.rs (+4 -1)".into(),
                "    41  fn parse(input: &str) -> Result<Config> {".into(),
                "    42 -    let cfg = toml::from_str(input)?;".into(),
                "    42 +    let cfg = toml::from_str(input).context(\"parse config\")?;".into(),
                String::new(),
            ],
            (Agent::Cod, _) => vec![
                "• Ran cargo test -q".into(),
                "  └ test result: ok. 42 passed; 0 failed".into(),
                String::new(),
            ],
            (Agent::Gmi, 1) => vec![
                "✦ I'll start by reading the relevant files.".into(),
                String::new(),
            ],
            (Agent::Gmi, 2) => vec![
                "╭──────────────────────────────────────────────────────╮".into(),
                "│ ✓  ReadFile src/lib.rs                               │".into(),
                "╰──────────────────────────────────────────────────────╯".into(),
            ],
            (Agent::Gmi, 3) => vec![
                "╭──────────────────────────────────────────────────────╮".into(),
                "│ ✓  Edit src/lib.rs: fn parse(input: &str) -> ... =>  │".into(),
                "╰──────────────────────────────────────────────────────╯".into(),
            ],
            (Agent::Gmi, _) => vec![
                "╭──────────────────────────────────────────────────────╮".into(),
                "│ ✓  Shell cargo test -q                               │".into(),
                "│                                                      │".into(),
                "│ test result: ok. 42 passed; 0 failed                 │".into(),
                "╰──────────────────────────────────────────────────────╯".into(),
            ],
        }
    }

    fn done_lines(&self, now: f64) -> Vec<String> {
        let secs = (now - self.turn_started).max(1.0) as u64;
        match self.agent {
            Agent::Cc => vec![
                "● Done. I updated src/lib.rs and the tests pass.".into(),
                String::new(),
                format!("✻ Cooked for {secs}s"),
                String::new(),
            ],
            Agent::Cod => vec![
                format!("─ Worked for {secs}s ────────────────────────────────────────"),
                String::new(),
                "• Done. I updated src/lib.rs; cargo test passes.".into(),
                String::new(),
            ],
            Agent::Gmi => vec![
                "✦ Done. I updated src/lib.rs and the tests pass.".into(),
                String::new(),
            ],
        }
    }

    /// When a timed rate limit ends, as the agent words it (`2h13m` / `2 hours 13 minutes`
    /// when untimed).
    fn reset_in(&self, short: bool) -> String {
        match (self.state_secs, short) {
            (Some(s), true) => format!("{}s", s.ceil() as u64),
            (Some(s), false) => format!("{} seconds", s.ceil() as u64),
            (None, true) => "2h13m".into(),
            (None, false) => "2 hours 13 minutes".into(),
        }
    }

    fn rate_limit_lines(&self) -> Vec<String> {
        match self.agent {
            Agent::Cc => vec![
                "  ⎿  You've hit your limit · resets 4:30pm (UTC)".into(),
                "     /upgrade to increase your usage limit.".into(),
                String::new(),
            ],
            Agent::Cod => vec![
                format!(
                    "■ You've hit your usage limit. Upgrade to Pro (https://openai.com/chatgpt/pricing) or try again in {}.",
                    self.reset_in(false)
                ),
                String::new(),
            ],
            Agent::Gmi => vec![
                format!(
                    "✕ [API Error: You have exhausted your capacity on this model. Your quota will reset after {}.]",
                    self.reset_in(true)
                ),
                String::new(),
            ],
        }
    }

    fn error_lines(&self) -> Vec<String> {
        match self.agent {
            Agent::Cc => vec![
                "  ⎿  API Error: 500 {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"Internal server error\"}}".into(),
                String::new(),
            ],
            Agent::Cod => vec![
                "■ stream error: exceeded retry limit, last status: 500 Internal Server Error".into(),
                String::new(),
            ],
            Agent::Gmi => vec![
                "✕ [API Error: got status: INTERNAL. {\"error\":{\"code\":500,\"message\":\"Internal error encountered.\"}}]".into(),
                String::new(),
            ],
        }
    }

    fn approved_lines(&self) -> Vec<String> {
        match self.agent {
            Agent::Cc => vec![
                "● Bash(rm -rf build/)".into(),
                "  ⎿  (No content)".into(),
                String::new(),
            ],
            Agent::Cod => vec![
                "✔ You approved codex to run rm -rf build this time".into(),
                String::new(),
                "• Ran rm -rf build".into(),
                "  └ (no output)".into(),
                String::new(),
            ],
            Agent::Gmi => vec![
                "╭──────────────────────────────────────────────────────╮".into(),
                "│ ✓  Shell rm -rf build                                │".into(),
                "╰──────────────────────────────────────────────────────╯".into(),
            ],
        }
    }

    fn rejected_lines(&self) -> Vec<String> {
        match self.agent {
            Agent::Cc => vec![
                "● Bash(rm -rf build/)".into(),
                "  ⎿  User rejected bash command".into(),
                String::new(),
            ],
            Agent::Cod => vec![
                "✗ You canceled the request to run rm -rf build".into(),
                String::new(),
            ],
            Agent::Gmi => vec![
                "╭──────────────────────────────────────────────────────╮".into(),
                "│ -  Shell rm -rf build                                │".into(),
                "╰──────────────────────────────────────────────────────╯".into(),
            ],
        }
    }

    /// The goodbye text printed on the normal screen when the agent quits.
    pub fn goodbye(&self) -> Vec<String> {
        match self.agent {
            Agent::Cc => vec![String::new()],
            Agent::Cod => vec![
                "Token usage: total=18,204 input=16,980 (+ 94,208 cached) output=1,224".into(),
                "To continue this session, run codex resume 0199a4c2-7d1e-7a52-9b1f-3c0e2f8d4b61"
                    .into(),
            ],
            Agent::Gmi => vec![
                String::new(),
                "Agent powering down. Goodbye!".into(),
                String::new(),
            ],
        }
    }

    fn spinner_line(&self, now: f64) -> String {
        let elapsed = (now - self.turn_started).max(0.0) as u64;
        let frame = (now * 8.0) as usize;
        let verb = SPINNER_VERBS[self.prompts as usize % SPINNER_VERBS.len()];
        let thinking = self.state == SimState::Thinking;
        match self.agent {
            Agent::Cc => {
                let glyphs = ['·', '✢', '✳', '✶', '✻', '✽'];
                let g = glyphs[frame % glyphs.len()];
                if thinking {
                    format!("{g} {verb}… ({elapsed}s · thinking · esc to interrupt)")
                } else {
                    let tokens = 0.3 + elapsed as f64 * 0.4;
                    format!("{g} {verb}… ({elapsed}s · ↓ {tokens:.1}k tokens · esc to interrupt)")
                }
            }
            Agent::Cod => {
                let g = if frame % 2 == 0 { '•' } else { '◦' };
                if thinking {
                    format!("{g} Thinking ({elapsed}s • esc to interrupt)")
                } else {
                    format!("{g} Working ({elapsed}s • esc to interrupt)")
                }
            }
            Agent::Gmi => {
                let glyphs = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
                let g = glyphs[frame % glyphs.len()];
                let what = if thinking {
                    "Thinking about the approach"
                } else {
                    "Editing the parser"
                };
                format!("{g} {what} (esc to cancel, {elapsed}s)")
            }
        }
    }

    fn dialog_lines(&self, cols: usize) -> Vec<String> {
        match self.agent {
            Agent::Cc => {
                let w = cols.clamp(40, 100);
                let mut v = vec![boxed_top(w)];
                for l in [
                    " Bash command",
                    "",
                    "   rm -rf build/",
                    "   Remove build artifacts",
                    "",
                    " Do you want to proceed?",
                    " ❯ 1. Yes",
                    "   2. Yes, and don't ask again for rm commands in /home/dev/project",
                    "   3. No, and tell Claude what to do differently (esc)",
                ] {
                    v.push(boxed_line(l, w));
                }
                v.push(boxed_bottom(w));
                v
            }
            Agent::Cod => vec![
                "  Would you like to run the following command?".into(),
                String::new(),
                "  Reason: remove stale build artifacts".into(),
                String::new(),
                "  $ rm -rf build".into(),
                String::new(),
                "› 1. Yes, proceed (y)".into(),
                "  2. Yes, and don't ask again for this command (a)".into(),
                "  3. No, and tell Codex what to do differently (esc)".into(),
                String::new(),
                "  Press enter to confirm or esc to cancel".into(),
            ],
            Agent::Gmi => {
                let w = cols.clamp(40, 100);
                let mut v = vec![boxed_top(w)];
                for l in [
                    " ?  Shell rm -rf build (Remove build artifacts) ←",
                    "",
                    "   rm -rf build",
                    "",
                    " Allow execution of: 'rm'?",
                    "",
                    " ● 1. Yes, allow once",
                    "   2. Yes, allow always ...",
                    "   3. No, suggest changes (esc)",
                ] {
                    v.push(boxed_line(l, w));
                }
                v.push(boxed_bottom(w));
                v
            }
        }
    }

    fn composer_text(&self) -> String {
        let n_lines = self.input.lines().count();
        if self.input.contains('\n') || self.input.chars().count() > 800 {
            match self.agent {
                Agent::Cc => format!("[Pasted text #1 +{} lines]", n_lines.max(1)),
                Agent::Cod => format!("[Pasted Content {} chars]", self.input.chars().count()),
                Agent::Gmi => format!("[Pasted Text: {} lines]", n_lines.max(1)),
            }
        } else {
            self.input.clone()
        }
    }

    fn bottom_lines(&self, cols: usize) -> Vec<String> {
        let rule: String = "─".repeat(cols.max(10));
        let text = self.composer_text();
        match self.agent {
            Agent::Cc => {
                let shown = if text.is_empty() && self.prompts == 0 {
                    "Try \"refactor <filepath>\"".to_string()
                } else {
                    text
                };
                let mut footer = "  ⏵⏵ bypass permissions on (shift+tab to cycle)".to_string();
                if self.exit_armed {
                    footer = "  Press Ctrl-C again to exit".to_string();
                } else if self.context_left <= 50 {
                    footer = pad_right(
                        &footer,
                        &format!("Context left until auto-compact: {}%", self.context_left),
                        cols,
                    );
                }
                vec![rule.clone(), format!("❯ {shown}"), rule, footer]
            }
            Agent::Cod => {
                let shown = if text.is_empty() {
                    "Find and fix a bug in @filename".to_string()
                } else {
                    text
                };
                let footer = if self.exit_armed {
                    "  ctrl + c again to quit".to_string()
                } else {
                    format!("  {}% context left · ? for shortcuts", self.context_left)
                };
                vec![format!("› {shown}"), String::new(), footer]
            }
            Agent::Gmi => {
                let w = cols.clamp(20, 200);
                let shown = if text.is_empty() {
                    "  Type your message or @path/to/file".to_string()
                } else {
                    text
                };
                vec![
                    boxed_top(w),
                    boxed_line(&format!(" > {shown}"), w),
                    boxed_bottom(w),
                    pad_right(
                        "~/project (main*)       no sandbox (see /docs)",
                        &format!("gemini-2.5-pro ({}% context left)", self.context_left),
                        cols,
                    ),
                ]
            }
        }
    }

    /// Draws the screen: exactly `rows` lines, each at most `cols` characters.
    pub fn render(&self, cols: usize, rows: usize, now: f64) -> Vec<String> {
        let cols = cols.max(20);
        let rows = rows.max(5);
        let mut body: Vec<String> = Vec::new();
        for l in &self.transcript {
            wrap_into(l, cols, &mut body);
        }
        let bottom = match self.state {
            SimState::Blocked => {
                for l in self.dialog_lines(cols) {
                    wrap_into(&l, cols, &mut body);
                }
                Vec::new()
            }
            SimState::Thinking | SimState::Generating => {
                body.push(self.spinner_line(now).chars().take(cols).collect());
                body.push(String::new());
                self.bottom_lines(cols)
            }
            _ => self.bottom_lines(cols),
        };
        let mut bottom_wrapped = Vec::new();
        for l in &bottom {
            wrap_into(l, cols, &mut bottom_wrapped);
        }
        let avail = rows.saturating_sub(bottom_wrapped.len());
        let start = body.len().saturating_sub(avail);
        // like the real CLIs (inline rendering), the composer follows the content; blank rows
        // stay below it until the screen is full
        let mut out: Vec<String> = body[start..].to_vec();
        out.extend(bottom_wrapped);
        out.truncate(rows);
        while out.len() < rows {
            out.push(String::new());
        }
        out
    }
}

fn boxed_top(w: usize) -> String {
    format!("╭{}╮", "─".repeat(w.saturating_sub(2)))
}

fn boxed_bottom(w: usize) -> String {
    format!("╰{}╯", "─".repeat(w.saturating_sub(2)))
}

fn boxed_line(text: &str, w: usize) -> String {
    let inner = w.saturating_sub(2);
    let t: String = text.chars().take(inner).collect();
    let pad = inner - t.chars().count();
    format!("│{t}{}│", " ".repeat(pad))
}

fn pad_right(left: &str, right: &str, cols: usize) -> String {
    let used = left.chars().count() + right.chars().count();
    if used + 2 <= cols {
        format!("{left}{}{right}", " ".repeat(cols - used))
    } else {
        format!("{left}  {right}")
    }
}

fn wrap_into(line: &str, cols: usize, out: &mut Vec<String>) {
    if line.is_empty() {
        out.push(String::new());
        return;
    }
    let chars: Vec<char> = line.chars().collect();
    for chunk in chars.chunks(cols) {
        out.push(chunk.iter().collect());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_keys_and_paste() {
        let mut d = Decoder::new();
        let ev = d.feed(b"ab\x1b[200~x;y\rC-c Enter\r\n\x1b[201~\r", false);
        assert_eq!(
            ev,
            vec![
                Input::Text("ab".into()),
                Input::Paste("x;y\nC-c Enter\n".into()),
                Input::Enter
            ]
        );
        // split paste markers and UTF-8
        let mut d = Decoder::new();
        let mut ev = d.feed(b"\x1b[20", false);
        ev.extend(d.feed(b"0~h\xc3", false));
        ev.extend(d.feed(b"\xa9\x1b[2", false));
        ev.extend(d.feed(b"01~", false));
        assert_eq!(ev, vec![Input::Paste("hé".into())]);
        let mut d = Decoder::new();
        assert_eq!(d.feed(b"\x1b", false), vec![]);
        assert!(d.pending());
        assert_eq!(d.feed(b"", true), vec![Input::Escape]);
        assert_eq!(
            d.feed(b"\x03\x15\x7f\x1b[A", true),
            vec![Input::CtrlC, Input::CtrlU, Input::Backspace]
        );
    }

    #[test]
    fn script_parses_and_rejects() {
        let s = parse_script("# hi\nwaiting\ngenerating 2.5\nblocked\nrate-limited 1s\n").unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[1].secs, Some(2.5));
        assert!(parse_script("dancing").unwrap_err().contains("line 1"));
        assert!(parse_script("waiting x").is_err());
    }

    #[test]
    fn a_prompt_runs_a_turn_and_returns() {
        let mut s = Sim::new(Agent::Cc, 2.0, 40);
        let a = s.key(Input::Paste("hello\nworld".into()), 0.0);
        assert_eq!(a, Action::None);
        let a = s.key(Input::Enter, 0.1);
        assert_eq!(
            a,
            Action::Submitted {
                text: "hello\nworld".into(),
                queued: false
            }
        );
        assert_eq!(s.state, SimState::Thinking);
        s.tick(1.0);
        assert_eq!(s.state, SimState::Generating);
        let screen = s.render(80, 24, 1.5).join("\n");
        assert!(screen.contains("esc to interrupt"), "{screen}");
        s.tick(2.5);
        assert_eq!(s.state, SimState::Waiting);
        let screen = s.render(80, 24, 3.0).join("\n");
        assert!(screen.contains("Cooked for"), "{screen}");
        assert!(screen.contains("Context left until auto-compact"));
    }

    #[test]
    fn render_is_exact_size() {
        for agent in [Agent::Cc, Agent::Cod, Agent::Gmi] {
            let mut s = Sim::new(agent, 1.0, 60);
            s.enter(SimState::Blocked, None, 0.0);
            let r = s.render(50, 20, 0.0);
            assert_eq!(r.len(), 20);
            assert!(r.iter().all(|l| l.chars().count() <= 50));
        }
    }

    #[test]
    fn hooks_and_finished_beads() {
        let s = parse_script("waiting\nreserve src/api/**\ngenerating 1\nrelease src/api/**\n")
            .unwrap();
        assert_eq!(s[1].hook, Some(Hook::Reserve("src/api/**".into())));
        assert_eq!(s[3].hook, Some(Hook::Release("src/api/**".into())));
        assert!(
            parse_script("reserve")
                .unwrap_err()
                .contains("needs a pattern")
        );
        assert!(parse_script("release a b").is_err());

        let prompt = "gaffer assigned you dm-3 (P1): Add the API\n\nYour Agent Mail name is \
                      BlueLake.\nWhen you are done, `gaffer done dm-3`.";
        assert_eq!(prompt_bead(prompt).as_deref(), Some("dm-3"));
        assert_eq!(prompt_mail_name(prompt).as_deref(), Some("BlueLake"));
        assert_eq!(prompt_bead("hello"), None);

        let mut sim = Sim::new(Agent::Cod, 1.0, 50);
        sim.script = s;
        sim.next_step(0.0);
        assert_eq!(sim.state, SimState::Waiting);
        sim.key(Input::Paste(prompt.into()), 0.1);
        sim.key(Input::Enter, 0.1);
        // The prompt moved the script on: the reserve hook ran, then generating.
        assert_eq!(sim.hooks, vec![Hook::Reserve("src/api/**".into())]);
        assert_eq!(sim.state, SimState::Generating);
        assert_eq!(sim.mail_name.as_deref(), Some("BlueLake"));
        sim.hooks.clear();
        assert!(sim.finished.is_empty());
        sim.tick(1.2);
        assert_eq!(sim.state, SimState::Waiting);
        assert_eq!(sim.hooks, vec![Hook::Release("src/api/**".into())]);
        assert_eq!(sim.finished, vec!["dm-3".to_string()]);
        // A plain prompt names no bead: nothing is reported when its turn ends.
        sim.finished.clear();
        sim.key(Input::Text("hi".into()), 2.0);
        sim.key(Input::Enter, 2.0);
        sim.tick(2.5);
        sim.tick(4.0);
        assert_eq!(sim.state, SimState::Waiting);
        assert!(sim.finished.is_empty());
    }
}
