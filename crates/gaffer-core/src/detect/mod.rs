//! Agent state detection from pane screens.
//!
//! Rules are data: one embedded TOML file per agent kind (`rules/cc.toml`, `cod`, `gmi`,
//! `shell`, named by the kind registry, [`crate::kinds`]), replaceable per kind by a user file
//! ([`Detector::with_overrides`]); a user's new kind brings its own file. Each rule looks
//! at one region of the screen (the bottom N non-empty lines, the lines right above the composer,
//! the composer, the footer, or the whole screen), has a priority and `not` guards. The highest
//! priority rule that matches gives the [`Verdict`]; [`Detector::explain`] reports every rule.
//!
//! Old scrollback never outranks the live bottom: error, rate-limit and dialog rules only look at
//! the few lines above the composer (or at the bottom), and their `not_after` guards drop a match
//! when the agent has said something after it.
//!
//! STALLED and hysteresis need a time series: see [`tracker::AgentTracker`].

mod extract;
pub mod rules;
pub mod submit;
pub mod tracker;

pub use extract::{activity_fingerprint, parse_rate_limit_reset};
pub use rules::{RulesError, compile};
pub use submit::{Submission, SubmitBaseline};
pub use tracker::{AgentTracker, Observation, TrackerConfig};

use crate::kinds::{KindRegistry, SHELL_KIND, builtin_rules};
use crate::status::AgentStatus;
use crate::time::{self, Timestamp};
use rules::{CommandCond, ComposerCond, ContextMeaning, KindRules, Region, Rule};
use serde::{Deserialize, Serialize};

/// What is known about a pane at one observation.
#[derive(Debug, Clone, PartialEq)]
pub struct ScreenInput<'a> {
    /// Agent type code: `cc`, `cod`, `gmi`, or anything else (generic shell rules apply).
    pub agent_type: &'a str,
    /// The captured screen (visible rows plus some scrollback), oldest line first, no escapes.
    pub screen: &'a str,
    /// tmux's `pane_current_command` (e.g. `node`, `claude`, `bash`); empty when unknown.
    pub current_command: &'a str,
    /// When the screen was captured.
    pub observed_at: Timestamp,
}

/// The verdict of one detection, with its evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The detected status.
    pub status: AgentStatus,
    /// Why, in words.
    pub reason: String,
    /// Id of the rule that fired, e.g. `cc.busy.spinner`.
    pub rule: String,
    /// The screen lines that matched.
    pub evidence: Vec<String>,
    /// 0–1.
    pub confidence: f64,
    /// Percent of the context window used, when the screen shows it.
    pub context_usage: Option<f64>,
    /// When a shown rate limit resets, when the screen says.
    #[serde(
        default,
        with = "time::rfc3339_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub rate_limit_reset: Option<Timestamp>,
    /// When the screen was captured.
    #[serde(with = "time::rfc3339")]
    pub observed_at: Timestamp,
    /// How the screen was fused with the agent's own signals ([`crate::fuse`]); absent for a
    /// bare screen detection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fusion: Option<crate::fuse::Fusion>,
}

include!(concat!(env!("OUT_DIR"), "/builtin_rules.rs"));

/// Shell names: a pane whose foreground command is one of these runs no agent.
pub const SHELLS: [&str; 14] = [
    "bash", "zsh", "sh", "fish", "dash", "ksh", "mksh", "tcsh", "csh", "ash", "nu", "elvish",
    "xonsh", "pwsh",
];

/// Whether a `pane_current_command` is a shell (`-bash` and `/bin/zsh` count).
pub fn is_shell_command(cmd: &str) -> bool {
    let c = cmd.trim();
    let first = c.split_whitespace().next().unwrap_or("");
    let base = first.rsplit('/').next().unwrap_or(first);
    let base = base.trim_start_matches('-').to_ascii_lowercase();
    SHELLS.contains(&base.as_str())
}

/// The canonical rule kind of an agent type: the code of its kind in the
/// [registry](crate::kinds::registry) when that kind has rules (`cc`, `cod`, `gmi`, …), or
/// `shell` for anything else.
pub fn canonical_kind(agent_type: &str) -> &'static str {
    crate::kinds::registry().rules_kind(agent_type)
}

/// The detector: compiled rules for every kind.
#[derive(Debug, Clone)]
pub struct Detector {
    kinds: Vec<KindRules>,
    registry: KindRegistry,
    /// The zone of a reset time printed without one (the agents' machine's).
    local_zone: chrono_tz::Tz,
}

/// One rule's evaluation, for `gaffer explain`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleTrace {
    /// Rule id.
    pub rule: String,
    /// The status it would give.
    pub status: AgentStatus,
    /// Its priority.
    pub priority: i32,
    /// Its region, e.g. `above_composer 6`.
    pub region: String,
    /// Whether it matched (after its guards).
    pub matched: bool,
    /// Whether it is the rule that decided the verdict.
    pub chosen: bool,
    /// Why it matched or not.
    pub why: String,
    /// The matching line, when one matched.
    pub evidence: Option<String>,
    /// 1-based line number of the evidence in the capture.
    pub line: Option<usize>,
}

/// The whole evaluation of one screen.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Explanation {
    /// The verdict (flattened into the object: status, reason, rule, evidence, ...).
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The rule kind used (`cc`, `cod`, `gmi`, `shell`).
    pub kind: String,
    /// The pane's foreground command, as given.
    pub current_command: String,
    /// 1-based line of the composer, when found.
    pub composer_line: Option<usize>,
    /// The marker line context usage was read from.
    pub context_evidence: Option<String>,
    /// Every rule, in evaluation order.
    pub trace: Vec<RuleTrace>,
}

/// A screen prepared for rule evaluation.
struct Screen<'a> {
    lines: Vec<&'a str>,
    /// Indices of non-empty, non-decoration lines.
    content: Vec<usize>,
    composer: Option<usize>,
    is_shell: bool,
    command_known: bool,
}

fn is_decoration(line: &str) -> bool {
    line.chars().all(|c| {
        c.is_whitespace()
            || matches!(
                c,
                '─' | '━'
                    | '═'
                    | '╭'
                    | '╮'
                    | '╰'
                    | '╯'
                    | '│'
                    | '┃'
                    | '-'
                    | '▔'
                    | '▁'
                    // half-block rules (Gemini CLI 0.61 draws its input box between them)
                    | '▄'
                    | '▀'
            )
    })
}

impl<'a> Screen<'a> {
    fn new(text: &'a str, rules: &KindRules, command: &str) -> Self {
        let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end()).collect();
        let content: Vec<usize> = (0..lines.len())
            .filter(|&i| !lines[i].is_empty() && !is_decoration(lines[i]))
            .collect();
        let composer = rules.composer.as_ref().and_then(|spec| {
            content
                .iter()
                .rev()
                .take(spec.within)
                .copied()
                .find(|&i| spec.patterns.is_match(lines[i]) && !spec.exclude.is_match(lines[i]))
        });
        Screen {
            lines,
            content,
            composer,
            is_shell: is_shell_command(command),
            command_known: !command.trim().is_empty(),
        }
    }

    /// The line indices of a region, top to bottom.
    fn region(&self, region: Region) -> &[usize] {
        let n = self.content.len();
        match region {
            Region::Screen => &self.content[..],
            Region::Bottom(k) => &self.content[n.saturating_sub(k)..],
            Region::AboveComposer(k) => {
                let end = match self.composer {
                    Some(c) => self.content.partition_point(|&i| i < c),
                    None => n,
                };
                &self.content[end.saturating_sub(k)..end]
            }
            Region::Composer => match self.composer {
                Some(c) => {
                    let p = self.content.partition_point(|&i| i < c);
                    &self.content[p..(p + 1).min(n)]
                }
                None => &[],
            },
            Region::Footer => match self.composer {
                Some(c) => {
                    let p = self.content.partition_point(|&i| i <= c);
                    &self.content[p..]
                }
                None => &[],
            },
        }
    }
}

/// The outcome of one rule on one screen.
struct RuleOutcome {
    matched: bool,
    why: String,
    line: Option<usize>,
}

fn eval_rule(rule: &Rule, s: &Screen<'_>, explain: bool) -> RuleOutcome {
    let fail = |why: String| RuleOutcome {
        matched: false,
        why,
        line: None,
    };
    match rule.command {
        CommandCond::Any => {}
        CommandCond::Shell if !s.is_shell => {
            return fail(if explain {
                "the pane's command is not a shell".into()
            } else {
                String::new()
            });
        }
        CommandCond::NotShell if s.is_shell || !s.command_known => {
            return fail(if explain {
                "the pane's command is a shell or unknown".into()
            } else {
                String::new()
            });
        }
        _ => {}
    }
    match rule.composer {
        ComposerCond::Present if s.composer.is_none() => {
            return fail("no composer on screen".into());
        }
        ComposerCond::Absent if s.composer.is_some() => {
            return fail(if explain {
                format!(
                    "the composer is on screen (line {})",
                    s.composer.map(|c| c + 1).unwrap_or(0)
                )
            } else {
                String::new()
            });
        }
        _ => {}
    }
    if !rule.last_line.is_empty() {
        let last = s.content.last().map(|&i| s.lines[i]).unwrap_or("");
        if !rule.last_line.is_match(last) {
            return fail(if explain {
                format!("the last line {last:?} does not match last_line")
            } else {
                String::new()
            });
        }
    }
    let region = s.region(rule.region);
    if region.is_empty() {
        return fail(format!("region {} is empty", rule.region.describe()));
    }
    let Some(pos) = region
        .iter()
        .rposition(|&i| rule.patterns.is_match(s.lines[i]))
    else {
        return fail(if explain {
            format!(
                "no pattern matches in {} ({} lines)",
                rule.region.describe(),
                region.len()
            )
        } else {
            String::new()
        });
    };
    let hit = region[pos];
    // guards: `not` anywhere in the region, `not_after` below the evidence line
    let guards = [
        (&rule.not, region, "guard"),
        (&rule.not_after, &region[pos + 1..], "later line (stale)"),
    ];
    for (set, lines, what) in guards {
        if set.is_empty() {
            continue;
        }
        if let Some(&g) = lines.iter().find(|&&i| set.is_match(s.lines[i])) {
            return RuleOutcome {
                matched: false,
                why: if explain {
                    format!(
                        "matched line {} but {what} `{}` matches line {}: {:?}",
                        hit + 1,
                        set.which(s.lines[g]).unwrap_or("?"),
                        g + 1,
                        s.lines[g].trim()
                    )
                } else {
                    String::new()
                },
                line: Some(hit),
            };
        }
    }
    RuleOutcome {
        matched: true,
        why: if explain {
            format!(
                "`{}` matches line {} in {}",
                rule.patterns.which(s.lines[hit]).unwrap_or("?"),
                hit + 1,
                rule.region.describe()
            )
        } else {
            String::new()
        },
        line: Some(hit),
    }
}

impl Detector {
    /// The detector with the embedded rules of the process-wide registry's kinds.
    pub fn builtin() -> Detector {
        Detector::for_registry(crate::kinds::registry().clone())
    }

    /// The detector of a registry, with the embedded rules of its kinds and the shell rules.
    /// A kind whose rules file is not embedded (a user's kind) has no rules until they are
    /// given with [`Detector::overridden`]; until then the shell rules apply to it.
    pub fn for_registry(registry: KindRegistry) -> Detector {
        let files = registry
            .kinds()
            .iter()
            .filter_map(|k| k.rules.as_deref())
            .chain(std::iter::once("shell.toml"));
        let kinds = files
            .filter_map(|f| Some((f, builtin_rules(f)?)))
            .filter_map(|(f, text)| compile(&format!("rules/{f}"), text).ok())
            .collect();
        Detector {
            kinds,
            registry,
            local_zone: chrono_tz::UTC,
        }
    }

    /// The embedded rules, each kind in `overrides` replaced by the given TOML text.
    pub fn with_overrides(overrides: &[(String, String)]) -> Result<Detector, RulesError> {
        Detector::builtin().overridden(overrides)
    }

    /// This detector with the rules of each kind in `overrides` set to the given TOML text:
    /// `shell`, or the code of a registry kind that has a rules file. The file must say the
    /// same `kind`.
    pub fn overridden(mut self, overrides: &[(String, String)]) -> Result<Detector, RulesError> {
        for (kind, text) in overrides {
            let canon = kind.trim();
            let file = if canon == SHELL_KIND {
                "shell.toml".to_string()
            } else {
                match self.registry.get(canon) {
                    Some(k) if k.code == canon => match &k.rules {
                        Some(f) => f.clone(),
                        None => return Err(RulesError::UnknownKind(kind.clone())),
                    },
                    _ => return Err(RulesError::UnknownKind(kind.clone())),
                }
            };
            let compiled = compile(&file, text)?;
            if compiled.kind != canon {
                return Err(RulesError::File(crate::toml_file::FileError::Value {
                    file,
                    line: 1,
                    key: "kind".into(),
                    message: format!(
                        "the file says kind {:?} but overrides {canon:?}",
                        compiled.kind
                    ),
                }));
            }
            match self.kinds.iter().position(|k| k.kind == canon) {
                Some(slot) => self.kinds[slot] = compiled,
                None => self.kinds.push(compiled),
            }
        }
        Ok(self)
    }

    /// This detector with `zone` as the agents' local time zone: a rate-limit reset printed
    /// without a zone (`resets 9am`) is read in it. UTC until set.
    pub fn with_local_zone(mut self, zone: chrono_tz::Tz) -> Detector {
        self.local_zone = zone;
        self
    }

    /// The agents' local time zone.
    pub fn local_zone(&self) -> chrono_tz::Tz {
        self.local_zone
    }

    /// The registry this detector maps agent types with.
    pub fn registry(&self) -> &KindRegistry {
        &self.registry
    }

    /// The compiled rules of a kind: its own when it has them, else the shell rules.
    pub fn kind_rules(&self, agent_type: &str) -> Option<&KindRules> {
        let kind = self.registry.rules_kind(agent_type);
        self.kinds
            .iter()
            .find(|k| k.kind == kind)
            .or_else(|| self.kinds.iter().find(|k| k.kind == SHELL_KIND))
    }

    /// Detects the status of one screen.
    pub fn detect(&self, input: &ScreenInput<'_>) -> Verdict {
        self.run(input, false).verdict
    }

    /// Detects and reports every rule's evaluation.
    pub fn explain(&self, input: &ScreenInput<'_>) -> Explanation {
        self.run(input, true)
    }

    fn run(&self, input: &ScreenInput<'_>, explain: bool) -> Explanation {
        let Some(rules) = self.kind_rules(input.agent_type) else {
            let kind = self.registry.rules_kind(input.agent_type);
            return Explanation {
                verdict: unknown_verdict(input, format!("no rules for kind {kind}")),
                kind: kind.into(),
                current_command: input.current_command.into(),
                composer_line: None,
                context_evidence: None,
                trace: Vec::new(),
            };
        };
        let stripped;
        let text = if crate::escapes::has_controls(input.screen) {
            stripped = crate::escapes::strip(input.screen);
            stripped.as_str()
        } else {
            input.screen
        };
        let s = Screen::new(text, rules, input.current_command);
        let mut trace: Vec<RuleTrace> = Vec::new();
        let mut chosen: Option<(usize, usize)> = None; // (rule index, evidence line)
        for (ri, rule) in rules.rules.iter().enumerate() {
            if let Some((ci, _)) = chosen
                && !explain
            {
                // only rules of the chosen rule's recency group can still win
                let group = &rules.rules[ci].group;
                if group.is_none() || rule.group != *group {
                    continue;
                }
            }
            let out = eval_rule(rule, &s, explain);
            if out.matched
                && let Some(line) = out.line
            {
                chosen = match chosen {
                    None => Some((ri, line)),
                    Some((ci, cl))
                        if rules.rules[ci].group.is_some()
                            && rules.rules[ci].group == rule.group
                            && line > cl =>
                    {
                        Some((ri, line))
                    }
                    keep => keep,
                };
            }
            if explain {
                trace.push(RuleTrace {
                    rule: rule.id.clone(),
                    status: rule.status,
                    priority: rule.priority,
                    region: rule.region.describe(),
                    matched: out.matched,
                    chosen: false,
                    why: out.why,
                    evidence: out.line.map(|i| s.lines[i].trim().to_string()),
                    line: out.line.map(|i| i + 1),
                });
            }
        }
        if let Some((ci, _)) = chosen {
            for (ri, t) in trace.iter_mut().enumerate() {
                if ri == ci {
                    t.chosen = true;
                } else if t.matched {
                    t.why = if rules.rules[ri].group.is_some()
                        && rules.rules[ri].group == rules.rules[ci].group
                    {
                        format!("{} (older than the chosen rule's evidence)", t.why)
                    } else {
                        format!("{} (outranked)", t.why)
                    };
                }
            }
        }
        let chosen = chosen.map(|(ci, line)| (&rules.rules[ci], line));
        let (context_usage, context_evidence) = extract::context_usage(rules, &s.lines, &s.content);
        let mut verdict = match chosen {
            Some((rule, line)) => {
                let mut evidence = vec![s.lines[line].trim().to_string()];
                let mut reset = None;
                if rule.status == AgentStatus::RateLimited {
                    // the reset time may be on the marker line or the next lines, and a long
                    // message is hard-wrapped at the pane width
                    let p = s.content.partition_point(|&i| i < line);
                    let next: Vec<usize> = s.content[p..]
                        .iter()
                        .copied()
                        .take(3)
                        .take_while(|&i| s.composer != Some(i))
                        .collect();
                    for &i in &next {
                        if i != line {
                            evidence.push(s.lines[i].trim().to_string());
                        }
                        if reset.is_none() {
                            reset = parse_rate_limit_reset(
                                s.lines[i],
                                input.observed_at,
                                self.local_zone,
                            );
                        }
                    }
                    if reset.is_none() {
                        let joined: String = next.iter().map(|&i| s.lines[i]).collect();
                        reset = parse_rate_limit_reset(&joined, input.observed_at, self.local_zone);
                    }
                }
                Verdict {
                    status: rule.status,
                    reason: rule.reason.clone(),
                    rule: rule.id.clone(),
                    evidence,
                    confidence: rule.confidence,
                    context_usage: None,
                    rate_limit_reset: reset,
                    observed_at: input.observed_at,
                    fusion: None,
                }
            }
            None => {
                let why = if s.content.is_empty() {
                    "the screen is empty".to_string()
                } else {
                    "no rule matched".to_string()
                };
                unknown_verdict(input, why)
            }
        };
        // an exited agent's old footer is not a live context reading
        if verdict.status != AgentStatus::Exited {
            verdict.context_usage = context_usage;
        }
        Explanation {
            verdict,
            kind: rules.kind.clone(),
            current_command: input.current_command.into(),
            composer_line: s.composer.map(|c| c + 1),
            context_evidence,
            trace,
        }
    }
}

/// The rule id of [`dead_pane_verdict`].
pub const DEAD_PANE_RULE: &str = "pane.dead";

/// The rule and the reason of an agent whose host cannot be reached (`[[hosts]]`).
pub const HOST_UNREACHABLE: &str = "host_unreachable";

/// The verdict for an agent on a host that cannot be observed now: UNKNOWN, reason
/// [`HOST_UNREACHABLE`], the host and the error as evidence.
pub fn host_unreachable_verdict(host: &str, error: &str, observed_at: Timestamp) -> Verdict {
    Verdict {
        status: AgentStatus::Unknown,
        reason: HOST_UNREACHABLE.into(),
        rule: HOST_UNREACHABLE.into(),
        evidence: vec![format!("host {host}: {error}")],
        confidence: 1.0,
        context_usage: None,
        rate_limit_reset: None,
        observed_at,
        fusion: None,
    }
}

/// The verdict for a pane whose process has exited and that tmux keeps (`pane_dead`, with
/// `remain-on-exit`): EXITED whatever the screen still shows.
pub fn dead_pane_verdict(observed_at: Timestamp) -> Verdict {
    Verdict {
        status: AgentStatus::Exited,
        reason: "tmux reports the pane dead: the agent's process exited".into(),
        rule: DEAD_PANE_RULE.into(),
        evidence: Vec::new(),
        confidence: 1.0,
        context_usage: None,
        rate_limit_reset: None,
        observed_at,
        fusion: None,
    }
}

fn unknown_verdict(input: &ScreenInput<'_>, reason: String) -> Verdict {
    Verdict {
        status: AgentStatus::Unknown,
        reason,
        rule: String::new(),
        evidence: Vec::new(),
        confidence: 0.25,
        context_usage: None,
        rate_limit_reset: None,
        observed_at: input.observed_at,
        fusion: None,
    }
}

impl Default for Detector {
    fn default() -> Self {
        Detector::builtin()
    }
}

/// Re-exported for the context extractor.
pub(crate) fn meaning_to_usage(meaning: ContextMeaning, n: f64) -> f64 {
    match meaning {
        ContextMeaning::Left => (100.0 - n).clamp(0.0, 100.0),
        ContextMeaning::Used => n.clamp(0.0, 100.0),
    }
}

#[cfg(test)]
mod tests;
