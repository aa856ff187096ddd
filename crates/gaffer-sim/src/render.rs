//! The renderer: the transcript lines each agent kind writes, and the screen rows (dialog,
//! spinner, composer, footer) drawn from the model.

use crate::sim::Sim;
use crate::state::{Agent, SimState};

const SPINNER_VERBS: [&str; 6] = [
    "Scurrying",
    "Pondering",
    "Clauding",
    "Wrangling",
    "Percolating",
    "Noodling",
];

impl Sim {
    pub(crate) fn echo_lines(&self, text: &str) -> Vec<String> {
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

    pub(crate) fn tool_lines(&self, step: u32) -> Vec<String> {
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

    pub(crate) fn done_lines(&self, now: f64) -> Vec<String> {
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
    pub(crate) fn reset_in(&self, short: bool) -> String {
        match (self.state_secs, short) {
            (Some(s), true) => format!("{}s", s.ceil() as u64),
            (Some(s), false) => format!("{} seconds", s.ceil() as u64),
            (None, true) => "2h13m".into(),
            (None, false) => "2 hours 13 minutes".into(),
        }
    }

    pub(crate) fn rate_limit_lines(&self) -> Vec<String> {
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

    pub(crate) fn error_lines(&self) -> Vec<String> {
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

    pub(crate) fn approved_lines(&self) -> Vec<String> {
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

    pub(crate) fn rejected_lines(&self) -> Vec<String> {
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

    pub(crate) fn spinner_line(&self, now: f64) -> String {
        let elapsed = (now - self.turn_started).max(0.0) as u64;
        let frame = (now * 8.0) as usize;
        let verb = SPINNER_VERBS[self.prompts as usize % SPINNER_VERBS.len()];
        let thinking = self.state == SimState::Thinking;
        if self.compacting {
            return match self.agent {
                Agent::Cc => format!("✻ Compacting conversation… ({elapsed}s · esc to interrupt)"),
                Agent::Cod => format!("• Compacting ({elapsed}s • esc to interrupt)"),
                Agent::Gmi => format!("⠋ Compressing chat history (esc to cancel, {elapsed}s)"),
            };
        }
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

    pub(crate) fn dialog_lines(&self, cols: usize) -> Vec<String> {
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

    pub(crate) fn composer_text(&self) -> String {
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

    pub(crate) fn bottom_lines(&self, cols: usize) -> Vec<String> {
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
