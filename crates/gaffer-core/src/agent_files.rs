//! The agents' own files as a port: transcripts (exact context use) and per-process session
//! files, read for one pane at a time; and the table of model context windows.
//!
//! Pure: the readers live in the adapters (`gaffer-coordinator::observe::transcript`).

use crate::panes::PaneInfo;
use crate::signals::{ContextReading, PaneSignals, SessionFileStatus};
use std::collections::BTreeMap;

/// What an agent's files say about one pane.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AgentFileReadings {
    /// Context use from the transcript.
    pub context: Option<ContextReading>,
    /// The session file's status.
    pub session_file: Option<SessionFileStatus>,
}

/// Reads an agent's transcript and session file for a pane.
///
/// `signals` are the pane's hook signals, whose latest `transcript_path` and `session_id` say
/// where to look; without them an implementation may find the files from the pane's process.
/// Implementations read incrementally and must be cheap to call once per observation.
pub trait AgentFiles: Send + Sync {
    /// The readings for one agent pane.
    fn read(&self, pane: &PaneInfo, signals: &PaneSignals) -> AgentFileReadings;
}

/// Model-name pattern → context window in tokens. A pattern is matched case-insensitively
/// against the whole model name, `*` matching any run of characters; the longest matching
/// pattern wins, so `gpt-5*-mini` can refine `gpt-5*`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ContextWindows {
    entries: Vec<(String, u64)>,
}

/// The embedded windows (tokens), extended or replaced per pattern by `[context_windows]`.
pub const DEFAULT_CONTEXT_WINDOWS: [(&str, u64); 10] = [
    ("claude-*", 200_000),
    // Claude Code's default model (Opus 5.5 in 2.1.332) runs with a 1M window
    ("claude-opus-5*", 1_000_000),
    ("claude-*[1m]", 1_000_000),
    ("gpt-5*", 272_000),
    ("gpt-4.1*", 1_047_576),
    ("gpt-4o*", 128_000),
    ("o3*", 200_000),
    ("o4*", 200_000),
    ("gemini-*", 1_048_576),
    ("sim-*", 200_000),
];

impl ContextWindows {
    /// The embedded defaults.
    pub fn builtin() -> Self {
        ContextWindows::from_entries(
            DEFAULT_CONTEXT_WINDOWS
                .iter()
                .map(|(p, n)| (p.to_string(), *n)),
        )
    }

    /// A table of the given entries (later entries replace earlier ones with the same pattern).
    pub fn from_entries(entries: impl IntoIterator<Item = (String, u64)>) -> Self {
        let map: BTreeMap<String, u64> = entries
            .into_iter()
            .map(|(p, n)| (p.trim().to_ascii_lowercase(), n))
            .filter(|(p, n)| !p.is_empty() && *n > 0)
            .collect();
        ContextWindows {
            entries: map.into_iter().collect(),
        }
    }

    /// The defaults with `extra` on top.
    pub fn with(self, extra: impl IntoIterator<Item = (String, u64)>) -> Self {
        ContextWindows::from_entries(self.entries.into_iter().chain(extra))
    }

    /// The window of a model, when a pattern matches.
    pub fn window_for(&self, model: &str) -> Option<u64> {
        let m = model.trim().to_ascii_lowercase();
        self.entries
            .iter()
            .filter(|(p, _)| glob_match(p, &m))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, n)| *n)
    }

    /// Every entry, sorted by pattern.
    pub fn entries(&self) -> &[(String, u64)] {
        &self.entries
    }
}

/// `*`-only glob over the whole string.
fn glob_match(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

/// Percent of `window` that `tokens` fill, 0–100.
pub fn percent_of(tokens: u64, window: u64) -> f64 {
    if window == 0 {
        return 0.0;
    }
    (tokens as f64 * 100.0 / window as f64).clamp(0.0, 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_matching_pattern_wins() {
        let w = ContextWindows::builtin();
        assert_eq!(w.window_for("claude-sonnet-4-5-20250929"), Some(200_000));
        assert_eq!(w.window_for("Claude-Sonnet-4-5[1m]"), Some(1_000_000));
        assert_eq!(w.window_for("gemini-2.5-pro"), Some(1_048_576));
        assert_eq!(w.window_for("gpt-5-codex"), Some(272_000));
        assert_eq!(w.window_for("llama-3"), None);
        let w = w.with([
            ("gpt-5*-mini".to_string(), 128_000),
            ("llama-3".to_string(), 8192),
            ("claude-*".to_string(), 500_000),
        ]);
        assert_eq!(w.window_for("gpt-5.1-codex-mini"), Some(128_000));
        assert_eq!(w.window_for("gpt-5.1-codex"), Some(272_000));
        assert_eq!(w.window_for("llama-3"), Some(8192));
        assert_eq!(w.window_for("llama-3.1"), None);
        assert_eq!(
            w.window_for("claude-opus-4"),
            Some(500_000),
            "user replaces"
        );
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(glob_match("a*", "a"));
        assert!(!glob_match("a*b", "ab-c"));
        assert!(!glob_match("ab*ba", "aba"));
        assert!(glob_match("*", ""));
    }

    #[test]
    fn percents_are_bounded() {
        assert_eq!(percent_of(50_000, 200_000), 25.0);
        assert_eq!(percent_of(300_000, 200_000), 100.0);
        assert_eq!(percent_of(1, 0), 0.0);
    }
}
