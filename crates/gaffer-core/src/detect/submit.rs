//! Whether a delivered prompt was submitted, told from the screen.
//!
//! A fast answer can take an agent from WAITING through busy back to WAITING between two
//! probes, so "the agent left WAITING" alone misses it. What a submitted prompt means on
//! screen, for every kind with a composer: right after the paste (before Enter) the composer
//! holds the prompt (its first words, or the CLI's paste placeholder such as
//! `[Pasted text #1 +12 lines]`); once submitted, the composer no longer holds it and the
//! content above the composer changed (the prompt is echoed as a turn, an answer follows).
//! The composer is located by the kind's rules (`[composer]` in `rules/*.toml`).

use super::rules::ComposerSpec;
use super::{Detector, Screen};

/// How many characters of the prompt's first line identify it in the composer.
const KEY_CHARS: usize = 16;

/// What the screen showed after the paste, before Enter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitBaseline {
    /// The content lines above the composer.
    above: Vec<String>,
    /// Whether the composer held the prompt.
    held: bool,
}

impl SubmitBaseline {
    /// Whether the composer held the prompt when the baseline was taken.
    pub fn held(&self) -> bool {
        self.held
    }
}

/// What a screen says about the prompt, against the baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Submission {
    /// The composer no longer holds the prompt and the content above it changed.
    Submitted,
    /// The prompt still sits in the composer.
    InComposer,
    /// The composer held the prompt and no longer does, but nothing changed above it.
    Cleared,
    /// Nothing can be told (no composer on screen, or the kind has none).
    Unknown,
}

/// The composer of a screen: its line and the content lines above it.
struct ComposerView {
    line: String,
    above: Vec<String>,
}

impl Detector {
    fn composer_view(
        &self,
        agent_type: &str,
        screen: &str,
    ) -> Option<(ComposerView, &ComposerSpec)> {
        let rules = self.kind_rules(agent_type)?;
        let spec = rules.composer.as_ref()?;
        let stripped;
        let text = if crate::escapes::has_controls(screen) {
            stripped = crate::escapes::strip(screen);
            stripped.as_str()
        } else {
            screen
        };
        let s = Screen::new(text, rules, "");
        let c = s.composer?;
        let above = s
            .content
            .iter()
            .take_while(|&&i| i < c)
            .map(|&i| s.lines[i].trim().to_string())
            .collect();
        Some((
            ComposerView {
                line: s.lines[c].to_string(),
                above,
            },
            spec,
        ))
    }

    /// The baseline for a delivery of `text`, from the screen right after the paste; `None`
    /// when the screen shows no composer (then only the status can confirm a delivery).
    pub fn submit_baseline(
        &self,
        agent_type: &str,
        screen: &str,
        text: &str,
    ) -> Option<SubmitBaseline> {
        let (view, spec) = self.composer_view(agent_type, screen)?;
        Some(SubmitBaseline {
            held: composer_holds(spec, &view.line, text),
            above: view.above,
        })
    }

    /// What `screen` says about the delivery of `text`, against `base`.
    pub fn submission(
        &self,
        base: &SubmitBaseline,
        agent_type: &str,
        screen: &str,
        text: &str,
    ) -> Submission {
        let Some((view, spec)) = self.composer_view(agent_type, screen) else {
            return Submission::Unknown;
        };
        if composer_holds(spec, &view.line, text) {
            Submission::InComposer
        } else if view.above != base.above {
            Submission::Submitted
        } else if base.held {
            Submission::Cleared
        } else {
            Submission::Unknown
        }
    }
}

/// Collapses runs of whitespace into one space and trims.
fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether the composer line holds `text`: the kind's paste placeholder, or the beginning of
/// the text's first non-empty line (a shorter beginning when the line wraps in the composer).
fn composer_holds(spec: &ComposerSpec, line: &str, text: &str) -> bool {
    if spec.pasted.is_match(line) {
        return true;
    }
    let Some(first) = text.lines().map(squash).find(|l| !l.is_empty()) else {
        return false;
    };
    let key: String = first.chars().take(KEY_CHARS).collect();
    let rest = spec
        .patterns
        .each
        .iter()
        .find_map(|r| r.find(line))
        .map_or(line, |m| &line[m.end()..]);
    // a bordered composer (`│ > text   │`) ends with its border
    let rest = squash(rest.trim_end_matches(|c: char| c.is_whitespace() || c == '│' || c == '┃'));
    if rest.is_empty() {
        return false;
    }
    rest.starts_with(&key) || (rest.chars().count() >= 4 && key.starts_with(&rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det() -> Detector {
        Detector::builtin()
    }

    const RULE: &str = "────────────────────────────────────────";

    fn cc(above: &[&str], composer: &str) -> String {
        let mut lines: Vec<String> = vec![
            "╭───╮".into(),
            "│ ✻ Welcome to Claude Code │".into(),
            "╰───╯".into(),
        ];
        lines.extend(above.iter().map(|s| s.to_string()));
        lines.push(RULE.into());
        lines.push(composer.into());
        lines.push(RULE.into());
        lines.push("  ⏸ manual mode on · ? for shortcuts".into());
        lines.join("\n")
    }

    #[test]
    fn fast_answer_is_submitted() {
        let d = det();
        let text = "say FAST and nothing else";
        let base = d
            .submit_baseline("cc", &cc(&[], "❯ say FAST and nothing else"), text)
            .unwrap();
        assert!(base.held());
        // Enter not taken yet
        let same = cc(&[], "❯ say FAST and nothing else");
        assert_eq!(
            d.submission(&base, "cc", &same, text),
            Submission::InComposer
        );
        // the turn happened and the agent is idle again
        let after = cc(
            &["❯ say FAST and nothing else", "⏺ FAST", "✻ Worked for 1s"],
            "❯ Try \"refactor the parser\"",
        );
        assert_eq!(
            d.submission(&base, "cc", &after, text),
            Submission::Submitted
        );
    }

    #[test]
    fn paste_placeholder_counts_as_held() {
        let d = det();
        let text = "line one\nline two\nline three";
        let base = d
            .submit_baseline("cc", &cc(&[], "❯ [Pasted text #1 +2 lines]"), text)
            .unwrap();
        assert!(base.held());
        let cleared = cc(&[], "❯ ");
        assert_eq!(
            d.submission(&base, "cc", &cleared, text),
            Submission::Cleared
        );
        let after = cc(&["❯ [Pasted text #1 +2 lines]", "⏺ ok"], "❯ ");
        assert_eq!(
            d.submission(&base, "cc", &after, text),
            Submission::Submitted
        );
    }

    #[test]
    fn a_wrapped_prompt_is_held_and_an_empty_composer_is_not() {
        let d = det();
        let text = "please refactor the tokenizer module";
        // the composer wraps the line after a few words
        let base = d
            .submit_baseline("cc", &cc(&[], "❯ please refac"), text)
            .unwrap();
        assert!(base.held());
        let base = d.submit_baseline("cc", &cc(&[], "❯ "), text).unwrap();
        assert!(!base.held());
        // without a held prompt, an unchanged screen tells nothing
        assert_eq!(
            d.submission(&base, "cc", &cc(&[], "❯ "), text),
            Submission::Unknown
        );
    }

    #[test]
    fn no_composer_no_evidence() {
        let d = det();
        assert!(
            d.submit_baseline("cc", "just some output\n$ ", "x")
                .is_none()
        );
        let base = d
            .submit_baseline("cc", &cc(&[], "❯ hello there"), "hello there")
            .unwrap();
        assert_eq!(
            d.submission(
                &base,
                "cc",
                "Do you want to proceed?\n❯ 1. Yes",
                "hello there"
            ),
            Submission::Unknown
        );
    }

    #[test]
    fn bordered_composer() {
        let d = det();
        let text = "run the tests";
        let screen = |above: &str, comp: &str| {
            format!(
                "{above}\n╭──────────────────────╮\n│ > {comp:<20} │\n╰──────────────────────╯\n~/p   gemini-2.5-pro (99% context left)"
            )
        };
        let base = d
            .submit_baseline("gmi", &screen("Tips", "run the tests"), text)
            .unwrap();
        assert!(base.held());
        assert_eq!(
            d.submission(
                &base,
                "gmi",
                &screen("Tips\n> run the tests\n✦ done", "Type your message"),
                text
            ),
            Submission::Submitted
        );
    }

    /// Real Claude Code 2.1.332 screens: the baseline was captured before the CLI had drawn
    /// the pasted text (an empty composer); the finished turn is still told apart.
    #[test]
    fn real_cc_baseline_before_the_paste_was_drawn() {
        let d = det();
        let text = "fix a;b; then\nrun `C-c` and C-c and Enter\n  indented line; end";
        let rule = "─".repeat(60);
        let head = "           Claude Code v2.1.332\n           Opus 5.5 · API Usage Billing\n           /tmp/p/proj";
        let tail = format!(
            "{:>110}\n{rule}\n❯ \n{rule}\n  ⏸ manual mode on · ? for shortcuts · ← for agents",
            "◐ medium · /effort"
        );
        let baseline = format!("{head}\n{tail}");
        let done = format!(
            "{head}\n❯ fix a;b; then\n  run C-c and C-c and Enter\n    indented line; end\n  Thought for 2s\n● Received.\n✻ Churned for 2s · done 4:35 AM\n{tail}"
        );
        let base = d.submit_baseline("cc", &baseline, text).unwrap();
        assert!(!base.held());
        assert_eq!(
            d.submission(&base, "cc", &baseline, text),
            Submission::Unknown
        );
        assert_eq!(
            d.submission(&base, "cc", &done, text),
            Submission::Submitted
        );
    }

    /// The real Gemini CLI collapses a long paste into a placeholder in its composer.
    #[test]
    fn real_gmi_paste_placeholder_is_held() {
        let d = det();
        let screen = include_str!("../../tests/screens/gmi/real_idle_pasted_text.txt");
        let base = d.submit_baseline("gmi", screen, "line 1\nline 2").unwrap();
        assert!(base.held());
        assert_eq!(
            d.submission(&base, "gmi", screen, "line 1\nline 2"),
            Submission::InComposer
        );
    }
}
