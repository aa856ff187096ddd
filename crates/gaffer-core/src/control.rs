//! The human's controls, as pure policy: which agents are paused for auto-assign, what dialog a
//! BLOCKED agent shows and which answer is allowed, and the decisions that unassign or reassign
//! a bead. The runtime (`gaffer_coordinator::control`) reads the screens and the ledger and
//! carries these out; the CLI, the TUI and the web page all go through it.

use crate::agent::AgentState;
use crate::assign::is_available;
use crate::cycle::{ActiveAssignment, AssignOrder, Decision};
use crate::escapes;
use crate::status::AgentStatus;
use crate::time::Timestamp;
use crate::triage::TriageRecommendation;
use serde::Serialize;
use std::collections::BTreeSet;

/// Errors of a control action: each says why it was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No tracked agent in that pane.
    #[error("no agent in pane {0}")]
    AgentNotFound(String),
    /// The agent is not BLOCKED, so there is no dialog to answer.
    #[error("agent {pane} is {status}, not BLOCKED: there is no dialog to answer")]
    NotBlocked {
        /// The pane.
        pane: String,
        /// Its status.
        status: AgentStatus,
    },
    /// The pane shows no dialog with numbered options.
    #[error("pane {0} shows no dialog with numbered options")]
    NoDialog(String),
    /// The dialog on screen is not the one the human was shown.
    #[error("pane {0} no longer shows the dialog that was read; read it again")]
    DialogChanged(String),
    /// The option is not one of the dialog's.
    #[error("option {option} is not one of the dialog's ({available})")]
    NoSuchOption {
        /// The option asked for.
        option: u32,
        /// The options offered, e.g. `1, 2, 3`.
        available: String,
    },
    /// No live assignment holds the bead.
    #[error("bead {0} has no live assignment")]
    NotAssigned(String),
    /// The bead is not known to the work source.
    #[error("bead {0} is not known to the work source")]
    UnknownBead(String),
    /// The target agent cannot take work now.
    #[error("agent {pane} cannot take work now: {why}")]
    AgentNotReady {
        /// The pane.
        pane: String,
        /// Why.
        why: String,
    },
}

/// Which agents get no work from assignment rounds (persisted in the ledger).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pauses {
    /// Every agent is paused.
    pub all: bool,
    /// Agents paused one by one, by pane id.
    pub panes: BTreeSet<String>,
}

impl Pauses {
    /// Whether the agent in `pane_id` is paused (by itself or by "all").
    pub fn is_paused(&self, pane_id: &str) -> bool {
        self.all || self.panes.contains(pane_id)
    }
}

/// What a pause or resume applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseTarget {
    /// Every agent.
    All,
    /// One agent, by pane id.
    Pane(String),
}

impl PauseTarget {
    /// The name recorded in the ledger and events: the pane id, or `*` for all.
    pub fn key(&self) -> &str {
        match self {
            PauseTarget::All => "*",
            PauseTarget::Pane(p) => p,
        }
    }
}

/// One numbered option of a dialog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DialogOption {
    /// Its number on screen (what is typed to choose it).
    pub number: u32,
    /// Its label, e.g. `Yes, allow once`.
    pub label: String,
    /// Whether the dialog's cursor is on it.
    pub selected: bool,
}

/// A dialog as read from a screen: its full text and its numbered options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dialog {
    /// The dialog's lines above the options (borders removed), top to bottom.
    pub text: Vec<String>,
    /// The options, numbered from 1.
    pub options: Vec<DialogOption>,
}

impl Dialog {
    /// The option with `number`, or why there is none.
    pub fn option(&self, number: u32) -> Result<&DialogOption, ControlError> {
        self.options
            .iter()
            .find(|o| o.number == number)
            .ok_or_else(|| ControlError::NoSuchOption {
                option: number,
                available: self
                    .options
                    .iter()
                    .map(|o| o.number.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// Whether `other` is the same dialog (text and options; the cursor may have moved).
    pub fn same_as(&self, other: &Dialog) -> bool {
        self.text == other.text
            && self.options.len() == other.options.len()
            && self
                .options
                .iter()
                .zip(&other.options)
                .all(|(a, b)| a.number == b.number && a.label == b.label)
    }
}

/// How many non-empty lines may follow a dialog's last option (footer hints, a box border, a
/// status line); numbered lists further up are transcript, not a dialog.
const MAX_LINES_BELOW: usize = 6;
/// How many lines of text above the options are kept at most.
const MAX_TEXT_LINES: usize = 24;

/// Characters that frame a dialog (box borders, rules, cursors).
fn is_frame(c: char) -> bool {
    matches!(
        c,
        '│' | '┃'
            | '║'
            | '|'
            | '╭'
            | '╮'
            | '╰'
            | '╯'
            | '┌'
            | '┐'
            | '└'
            | '┘'
            | '─'
            | '━'
            | '╌'
            | '┄'
            | '═'
            | '-'
            | '▔'
            | '▁'
    )
}

/// A line without its box borders on either side.
fn unframe(line: &str) -> &str {
    let t = line.trim();
    let t = t
        .strip_prefix(['│', '┃', '║'])
        .map(str::trim_start)
        .unwrap_or(t);
    t.strip_suffix(['│', '┃', '║'])
        .map(str::trim_end)
        .unwrap_or(t)
}

/// A numbered option line: `❯ 1. Yes`, `  2. No (esc)`, `● 1. Yes, allow once`.
fn option_line(line: &str) -> Option<DialogOption> {
    let t = unframe(line);
    let (selected, rest) = match t.chars().next() {
        Some(c @ ('❯' | '›' | '>' | '●' | '◉' | '▶' | '→' | '*')) => {
            (true, t[c.len_utf8()..].trim_start())
        }
        _ => (false, t),
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 2 {
        return None;
    }
    let after = rest[digits.len()..].strip_prefix(['.', ')'])?;
    if !after.starts_with(' ') {
        return None;
    }
    let label = after.trim();
    if label.is_empty() {
        return None;
    }
    Some(DialogOption {
        number: digits.parse().ok()?,
        label: label.to_string(),
        selected,
    })
}

/// Whether a line ends the dialog's text when read upwards: a box's top, a solid rule, or a
/// line of the transcript above (a tool-call or message bullet, the echoed prompt).
fn is_text_boundary(line: &str) -> bool {
    let t = line.trim();
    if t.starts_with(['╭', '┌']) {
        return true;
    }
    let solid = t.chars().count() >= 10 && t.chars().all(|c| c == '─' || c == '━');
    if solid {
        return true;
    }
    t.starts_with(['•', '●', '⏺', '└', '⎿', '✻', '✦', '✓', '╰', '┘'])
        || t.starts_with("> ")
        || t.starts_with("❯ ")
}

/// Reads the dialog at the bottom of `screen`: the last run of options numbered 1, 2, … near
/// the bottom, and the text above it up to the dialog's frame or the transcript. `None` when
/// the bottom of the screen shows no numbered options. Terminal escapes are stripped.
pub fn read_dialog(screen: &str) -> Option<Dialog> {
    let clean = escapes::strip(screen);
    let lines: Vec<&str> = clean.lines().collect();
    // The last option line near the bottom.
    let mut below = 0;
    let mut last = None;
    for (i, l) in lines.iter().enumerate().rev() {
        if option_line(l).is_some() {
            last = Some(i);
            break;
        }
        if !unframe(l).is_empty() {
            below += 1;
            if below > MAX_LINES_BELOW {
                return None;
            }
        }
    }
    let last = last?;
    // Walk up from it to option 1, each option numbered one less than the one below it
    // (a label may wrap onto lines of its own).
    let mut found: Vec<(usize, DialogOption)> = Vec::new();
    let mut i = last as isize;
    while i >= 0 {
        let l = lines[i as usize];
        if let Some(o) = option_line(l) {
            let want = found.last().map_or(o.number, |(_, prev)| prev.number - 1);
            if o.number != want || o.number == 0 {
                break;
            }
            found.push((i as usize, o));
            if found.last().is_some_and(|(_, o)| o.number == 1) {
                break;
            }
        } else if found.is_empty() || unframe(l).is_empty() || is_text_boundary(l) {
            break;
        }
        i -= 1;
    }
    let (first_row, first) = found.last()?;
    if first.number != 1 {
        return None;
    }
    let first_row = *first_row;
    found.reverse();
    let options: Vec<DialogOption> = found.into_iter().map(|(_, o)| o).collect();
    // The text above option 1.
    let mut text: Vec<String> = Vec::new();
    let mut blanks = 0;
    for l in lines[..first_row].iter().rev() {
        if is_text_boundary(l) || text.len() >= MAX_TEXT_LINES {
            break;
        }
        let t = unframe(l);
        if t.is_empty() {
            blanks += 1;
            if blanks >= 2 {
                break;
            }
            text.push(String::new());
            continue;
        }
        blanks = 0;
        if t.chars().all(|c| is_frame(c) || c.is_whitespace()) {
            continue;
        }
        text.push(t.to_string());
    }
    text.reverse();
    while text.first().is_some_and(String::is_empty) {
        text.remove(0);
    }
    while text.last().is_some_and(String::is_empty) {
        text.pop();
    }
    Some(Dialog { text, options })
}

/// The answer to type into a BLOCKED agent's pane: refused unless the agent is BLOCKED, the
/// pane shows a dialog now, it is the dialog the human was shown (when one was), and the
/// option is one of its own. Returns the chosen option.
pub fn choose<'a>(
    pane_id: &str,
    status: AgentStatus,
    on_screen: Option<&'a Dialog>,
    shown: Option<&Dialog>,
    option: u32,
) -> Result<&'a DialogOption, ControlError> {
    if status != AgentStatus::Blocked {
        return Err(ControlError::NotBlocked {
            pane: pane_id.to_string(),
            status,
        });
    }
    let now = on_screen.ok_or_else(|| ControlError::NoDialog(pane_id.to_string()))?;
    if shown.is_some_and(|s| !s.same_as(now)) {
        return Err(ControlError::DialogChanged(pane_id.to_string()));
    }
    now.option(option)
}

/// Unassigns a bead by hand: its live assignment is handed back (claim undone, reservations
/// released), without the agent backing off from it.
pub fn unassign(
    active: &[ActiveAssignment],
    bead_id: &str,
    status: AgentStatus,
) -> Result<Decision, ControlError> {
    let a = active
        .iter()
        .find(|a| a.bead_id == bead_id)
        .ok_or_else(|| ControlError::NotAssigned(bead_id.to_string()))?;
    Ok(Decision::HandBack {
        assignment: a.clone(),
        status,
        reason: "unassigned by a human".into(),
        back_off: false,
    })
}

/// The bead to reassign, as the work source knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct BeadRef {
    /// Its id.
    pub id: String,
    /// Its title.
    pub title: String,
    /// Its description (the assignment prompt quotes it).
    pub description: String,
    /// Its priority.
    pub priority: i64,
}

/// Reassigns a bead by hand to the agent `target`: its live assignment (if any) is handed back
/// first, then it is assigned to `target`, which must be WAITING with room in its context and
/// hold no other assignment. A paused agent may be chosen: a human picked it.
pub fn reassign(
    active: &[ActiveAssignment],
    bead: &BeadRef,
    target: &AgentState,
    now: Timestamp,
) -> Result<Vec<Decision>, ControlError> {
    let current = active.iter().find(|a| a.bead_id == bead.id);
    let holds_other = active
        .iter()
        .any(|a| a.pane_id == target.pane_id && a.bead_id != bead.id);
    let not_ready = |why: String| ControlError::AgentNotReady {
        pane: target.pane_id.clone(),
        why,
    };
    if holds_other {
        return Err(not_ready("it holds another assignment".into()));
    }
    if current.is_some_and(|a| a.pane_id == target.pane_id) {
        return Err(not_ready(format!("it already holds {}", bead.id)));
    }
    if !is_available(target) {
        return Err(not_ready(format!(
            "it is {} with {:.0}% context used (it must be WAITING)",
            target.status, target.context_usage
        )));
    }
    let mut out = Vec::new();
    if let Some(a) = current {
        out.push(Decision::HandBack {
            assignment: a.clone(),
            status: AgentStatus::Waiting,
            reason: format!("reassigned by a human to {}", target.pane_id),
            back_off: false,
        });
    }
    let mut extra = crate::triage::Extra::new();
    extra.insert(
        "description".into(),
        serde_json::Value::String(bead.description.clone()),
    );
    let rec = TriageRecommendation {
        id: bead.id.clone(),
        title: bead.title.clone(),
        status: "open".into(),
        priority: bead.priority,
        extra,
        ..Default::default()
    };
    let assignment = crate::cycle::plan::work_assignment(&rec, target, 0.0, now);
    out.push(Decision::Assign(Box::new(AssignOrder {
        bead: rec,
        agent: target.clone(),
        assignment,
    })));
    Ok(out)
}

#[cfg(test)]
mod tests;
