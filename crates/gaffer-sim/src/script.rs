//! The script format: one step per line, a state held for some seconds, or a hook.

use crate::state::SimState;

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
