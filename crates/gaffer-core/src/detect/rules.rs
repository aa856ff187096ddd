//! Rules as data: the TOML schema of a kind's rule file and its compiled form.
//!
//! One file per agent kind (`rules/cc.toml`, `cod`, `gmi`, `shell`). See `rules/README.md` for
//! the format. Errors name the file, the line and the key.

use crate::status::AgentStatus;
use crate::toml_file::{FileError, Source};
use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

/// A malformed rule file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RulesError {
    /// The file is not valid TOML, does not follow the schema, or holds a bad value (a bad
    /// regex, an unknown status or region): names the file, the line and the key.
    #[error(transparent)]
    File(#[from] FileError),
    /// An override names an agent kind that has no rules.
    #[error(
        "unknown agent kind {0:?} for a rules override (expected shell or a kind of the registry that has a rules file)"
    )]
    UnknownKind(String),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    kind: Spanned<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    verified: Vec<String>,
    #[serde(default)]
    composer: Option<RawComposer>,
    #[serde(default)]
    context: Vec<RawContext>,
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComposer {
    patterns: Vec<Spanned<String>>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    #[serde(default)]
    pasted: Vec<Spanned<String>>,
    #[serde(default = "default_within")]
    within: usize,
}

fn default_within() -> usize {
    6
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContext {
    pattern: Spanned<String>,
    meaning: Spanned<String>,
    #[serde(default = "default_context_lines")]
    lines: usize,
    #[serde(default)]
    value: Option<f64>,
}

fn default_context_lines() -> usize {
    10
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    status: Spanned<String>,
    priority: i32,
    region: Spanned<String>,
    #[serde(default)]
    lines: Option<usize>,
    patterns: Vec<Spanned<String>>,
    #[serde(default)]
    not: Vec<Spanned<String>>,
    #[serde(default)]
    not_after: Vec<Spanned<String>>,
    #[serde(default)]
    last_line: Vec<Spanned<String>>,
    #[serde(default)]
    composer: Option<Spanned<String>>,
    #[serde(default)]
    command: Option<Spanned<String>>,
    #[serde(default)]
    group: Option<String>,
    confidence: f64,
    reason: String,
}

/// Where on the screen a rule looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// Every line of the capture.
    Screen,
    /// The last N non-empty lines.
    Bottom(usize),
    /// The N non-empty lines right above the composer (the bottom N when there is none).
    AboveComposer(usize),
    /// The composer line itself.
    Composer,
    /// The lines below the composer (the footer).
    Footer,
}

impl Region {
    /// Human-readable form, e.g. `bottom 8`.
    pub fn describe(&self) -> String {
        match self {
            Region::Screen => "screen".into(),
            Region::Bottom(n) => format!("bottom {n}"),
            Region::AboveComposer(n) => format!("above_composer {n}"),
            Region::Composer => "composer".into(),
            Region::Footer => "footer".into(),
        }
    }
}

/// A condition on the composer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComposerCond {
    /// No condition.
    Any,
    /// The composer must be visible.
    Present,
    /// The composer must not be visible.
    Absent,
}

/// A condition on `pane_current_command`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandCond {
    /// No condition.
    Any,
    /// The pane's foreground command is a shell.
    Shell,
    /// The pane's foreground command is known and not a shell.
    NotShell,
}

/// A regex list: the patterns (source text kept for explanations) and one combined regex.
#[derive(Debug, Clone)]
pub struct PatternSet {
    /// Each pattern, compiled.
    pub each: Vec<Regex>,
    /// Each pattern as written in the rule file.
    pub sources: Vec<String>,
    /// All patterns as one alternation, for the fast path.
    pub any: Option<Regex>,
}

impl PatternSet {
    /// Whether any pattern matches `line`.
    pub fn is_match(&self, line: &str) -> bool {
        self.any.as_ref().is_some_and(|r| r.is_match(line))
    }

    /// The source of the first pattern that matches `line`.
    pub fn which(&self, line: &str) -> Option<&str> {
        self.each
            .iter()
            .position(|r| r.is_match(line))
            .and_then(|i| self.sources.get(i))
            .map(String::as_str)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.each.is_empty()
    }
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Rule id, e.g. `cc.busy.spinner`.
    pub id: String,
    /// The status it gives.
    pub status: AgentStatus,
    /// Higher first.
    pub priority: i32,
    /// Where it looks.
    pub region: Region,
    /// Any of these matching a region line fires the rule (bottom-most match is the evidence).
    pub patterns: PatternSet,
    /// A match of any of these anywhere in the region vetoes the rule.
    pub not: PatternSet,
    /// A match of any of these below the evidence line (in the region) vetoes the rule.
    pub not_after: PatternSet,
    /// When set, the last non-empty line must match one of these.
    pub last_line: PatternSet,
    /// Composer condition.
    pub composer: ComposerCond,
    /// Command condition.
    pub command: CommandCond,
    /// Rules of one group compete by recency: among those that match, the one whose evidence
    /// is lowest on the screen wins (e.g. an error shown after a rate-limit message).
    pub group: Option<String>,
    /// 0–1.
    pub confidence: f64,
    /// Why, in words.
    pub reason: String,
}

/// How a context marker's number is meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextMeaning {
    /// Percent left (usage = 100 − N).
    Left,
    /// Percent used.
    Used,
}

/// A context-usage marker.
#[derive(Debug, Clone)]
pub struct ContextMarker {
    /// Regex with one capture group holding the number (none when `value` is set).
    pub pattern: Regex,
    /// Left or used.
    pub meaning: ContextMeaning,
    /// Searched in the last N non-empty lines.
    pub lines: usize,
    /// A fixed number for a marker that shows none (e.g. `auto-compact next`: 0% left).
    pub value: Option<f64>,
}

/// How to find the composer (the live input box).
#[derive(Debug, Clone)]
pub struct ComposerSpec {
    /// A line matching one of these is the composer...
    pub patterns: PatternSet,
    /// ...unless it matches one of these.
    pub exclude: PatternSet,
    /// The placeholder the composer shows for a pasted text (e.g. `[Pasted text #1 +12 lines]`):
    /// a composer line matching one of these holds a paste.
    pub pasted: PatternSet,
    /// Only the last `within` non-empty lines are searched.
    pub within: usize,
}

/// The compiled rules of one agent kind.
#[derive(Debug, Clone)]
pub struct KindRules {
    /// `cc`, `cod`, `gmi` or `shell`.
    pub kind: String,
    /// Display name.
    pub name: String,
    /// The CLI versions these rules were verified on, live (`verified = ["2.1.332"]`).
    pub verified: Vec<String>,
    /// The composer, when the kind has one.
    pub composer: Option<ComposerSpec>,
    /// Context markers, in order.
    pub context: Vec<ContextMarker>,
    /// Rules, sorted by descending priority (file order among equals).
    pub rules: Vec<Rule>,
}

/// Rewrites `\b` and `\B` as ASCII word boundaries (`(?-u:\b)`), as in Go's RE2: the screens are
/// full of non-ASCII glyphs, and a Unicode boundary forces the regex engine off its fast DFA.
pub fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(b @ ('b' | 'B')) => {
                out.push_str("(?-u:\\");
                out.push(b);
                out.push(')');
            }
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A rule file being compiled: its regexes and pattern sets name the file, line and key.
struct Ctx<'a>(Source<'a>);

impl Ctx<'_> {
    fn value_err(&self, span: std::ops::Range<usize>, key: &str, msg: String) -> FileError {
        self.0.value_err(span, key, msg)
    }

    fn regex(&self, s: &Spanned<String>, key: &str) -> Result<Regex, FileError> {
        Regex::new(&ascii_word_boundaries(s.get_ref())).map_err(|e| {
            self.value_err(
                s.span(),
                key,
                format!(
                    "bad regex {:?}: {}",
                    s.get_ref(),
                    e.to_string().lines().last().unwrap_or("")
                ),
            )
        })
    }

    fn set(&self, list: &[Spanned<String>], key: &str) -> Result<PatternSet, FileError> {
        let mut each = Vec::with_capacity(list.len());
        for s in list {
            each.push(self.regex(s, key)?);
        }
        let any = if each.is_empty() {
            None
        } else {
            let joined = each
                .iter()
                .map(|r| format!("(?:{})", r.as_str()))
                .collect::<Vec<_>>()
                .join("|");
            Some(Regex::new(&joined).map_err(|e| {
                FileError::Value {
                    file: self.0.file.to_string(),
                    line: list
                        .first()
                        .map(|s| self.0.line(s.span().start))
                        .unwrap_or(1),
                    key: key.to_string(),
                    message: format!("patterns do not combine: {e}"),
                }
            })?)
        };
        let sources = list.iter().map(|s| s.get_ref().clone()).collect();
        Ok(PatternSet { each, sources, any })
    }
}

/// Parses and compiles one rule file. `file` names it in errors.
pub fn compile(file: &str, text: &str) -> Result<KindRules, RulesError> {
    Ok(compile_file(Ctx(Source { file, text }))?)
}

fn compile_file(cx: Ctx<'_>) -> Result<KindRules, FileError> {
    let raw: RawFile = cx.0.parse()?;
    let kind = raw.kind.get_ref().trim().to_string();
    if kind.is_empty() {
        return Err(cx.value_err(raw.kind.span(), "kind", "must not be empty".into()));
    }
    let composer = match &raw.composer {
        None => None,
        Some(c) => Some(ComposerSpec {
            patterns: cx.set(&c.patterns, "composer.patterns")?,
            exclude: cx.set(&c.exclude, "composer.exclude")?,
            pasted: cx.set(&c.pasted, "composer.pasted")?,
            within: c.within.max(1),
        }),
    };
    let mut context = Vec::new();
    for (i, c) in raw.context.iter().enumerate() {
        let key = format!("context[{i}].pattern");
        let pattern = cx.regex(&c.pattern, &key)?;
        if c.value.is_none() && pattern.captures_len() < 2 {
            return Err(cx.value_err(
                c.pattern.span(),
                &key,
                "needs one capture group holding the number (or a `value`)".into(),
            ));
        }
        let meaning = match c.meaning.get_ref().as_str() {
            "left" => ContextMeaning::Left,
            "used" => ContextMeaning::Used,
            other => {
                return Err(cx.value_err(
                    c.meaning.span(),
                    &format!("context[{i}].meaning"),
                    format!("{other:?} is not `left` or `used`"),
                ));
            }
        };
        context.push(ContextMarker {
            pattern,
            meaning,
            lines: c.lines.max(1),
            value: c.value,
        });
    }
    let mut rules = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, r) in raw.rule.iter().enumerate() {
        let k = |name: &str| format!("rule[{i}].{name}");
        let id = r.id.get_ref().trim().to_string();
        if id.is_empty() || !seen.insert(id.clone()) {
            return Err(cx.value_err(
                r.id.span(),
                &k("id"),
                format!("rule id {id:?} is empty or repeated"),
            ));
        }
        let status: AgentStatus =
            r.status
                .get_ref()
                .parse()
                .map_err(|e: crate::status::ParseStatusError| {
                    cx.value_err(r.status.span(), &k("status"), e.to_string())
                })?;
        if status == AgentStatus::Stalled {
            return Err(cx.value_err(
                r.status.span(),
                &k("status"),
                "STALLED comes from the time series (AgentTracker), not from one screen".into(),
            ));
        }
        let n = r.lines.unwrap_or(8).max(1);
        let region = match r.region.get_ref().as_str() {
            "screen" => Region::Screen,
            "bottom" => Region::Bottom(n),
            "above_composer" => Region::AboveComposer(n),
            "composer" => Region::Composer,
            "footer" => Region::Footer,
            other => {
                return Err(cx.value_err(
                    r.region.span(),
                    &k("region"),
                    format!(
                        "unknown region {other:?} (expected screen, bottom, above_composer, composer, footer)"
                    ),
                ));
            }
        };
        if r.patterns.is_empty() {
            return Err(cx.value_err(
                r.id.span(),
                &k("patterns"),
                "at least one pattern is needed".into(),
            ));
        }
        if !(0.0..=1.0).contains(&r.confidence) {
            return Err(cx.value_err(
                r.id.span(),
                &k("confidence"),
                format!("{} is not within 0–1", r.confidence),
            ));
        }
        let composer = match r.composer.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("any") => ComposerCond::Any,
            Some("present") => ComposerCond::Present,
            Some("absent") => ComposerCond::Absent,
            Some(other) => {
                let span = r.composer.as_ref().map(|s| s.span()).unwrap_or(0..0);
                return Err(cx.value_err(
                    span,
                    &k("composer"),
                    format!("{other:?} is not any, present or absent"),
                ));
            }
        };
        let command = match r.command.as_ref().map(|s| s.get_ref().as_str()) {
            None | Some("any") => CommandCond::Any,
            Some("shell") => CommandCond::Shell,
            Some("not_shell") => CommandCond::NotShell,
            Some(other) => {
                let span = r.command.as_ref().map(|s| s.span()).unwrap_or(0..0);
                return Err(cx.value_err(
                    span,
                    &k("command"),
                    format!("{other:?} is not any, shell or not_shell"),
                ));
            }
        };
        rules.push(Rule {
            id,
            status,
            priority: r.priority,
            region,
            patterns: cx.set(&r.patterns, &k("patterns"))?,
            not: cx.set(&r.not, &k("not"))?,
            not_after: cx.set(&r.not_after, &k("not_after"))?,
            last_line: cx.set(&r.last_line, &k("last_line"))?,
            composer,
            command,
            group: r.group.clone().filter(|g| !g.trim().is_empty()),
            confidence: r.confidence,
            reason: r.reason.clone(),
        });
    }
    rules.sort_by_key(|r| std::cmp::Reverse(r.priority));
    Ok(KindRules {
        name: raw.name.clone().unwrap_or_else(|| kind.clone()),
        verified: raw.verified.clone(),
        kind,
        composer,
        context,
        rules,
    })
}
