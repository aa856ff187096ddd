//! The registry of agent kinds: everything gaffer keys on an agent's kind, as data.
//!
//! One embedded file, `kinds.toml`, lists the kinds (`cc`, `cod`, `gmi`, and the process-only
//! `cursor`, `windsurf`, `aider`): code, display name, aliases, rules file, launch command,
//! process names, lifecycle-hook support and the assignment bonus by task complexity. A user
//! file (`<config dir>/gaffer/kinds.toml`, read by the binary) changes fields of a kind or adds
//! kinds ([`KindRegistry::with_overrides`]). Errors name the file, the line and the key.
//!
//! The process-wide registry ([`registry`]) is the embedded one unless the binary has
//! [`install`]ed another at start; the free functions of [`crate::pane`], [`crate::detect`] and
//! [`crate::assign`] consult it. Every lookup also exists on [`KindRegistry`] itself, for
//! callers (and tests) that hold their own.

use crate::pane::{PaneIdentity, USER_TYPE, parse_title};
use crate::toml_file::{FileError, Source};
use serde::Deserialize;
use std::sync::OnceLock;
use toml::Spanned;

/// The embedded registry file.
pub const BUILTIN_KINDS: &str = include_str!("../kinds.toml");

/// The rules kind of every pane that is not of a kind with rules of its own.
pub const SHELL_KIND: &str = "shell";

/// The embedded text of a rules file, by file name (`cc.toml`).
pub fn builtin_rules(file: &str) -> Option<&'static str> {
    let kind = file.strip_suffix(".toml")?;
    crate::detect::BUILTIN_RULES
        .iter()
        .find(|(k, _)| *k == kind)
        .map(|(_, text)| *text)
}

/// A malformed registry file: names the file, the line and the key.
pub type KindsError = FileError;

/// One band of the assignment bonus: tasks whose complexity lies within `min..=max`
/// (hundredths, 0–100) get `bonus`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BonusBand {
    /// Lowest complexity, in hundredths.
    pub min: i64,
    /// Highest complexity, in hundredths.
    pub max: i64,
    /// Added to the pair's score.
    pub bonus: f64,
}

/// One agent kind.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentKind {
    /// The wire code: `cc`, `cod`, `gmi`, … (pane titles, JSON, flags).
    pub code: String,
    /// Display name, e.g. `Claude Code`.
    pub name: String,
    /// Other names users and titles give it (`claude`, `codex-cli`), lowercase.
    pub aliases: Vec<String>,
    /// Its detection rules file (`cc.toml`); `None`: the shell rules apply.
    pub rules: Option<String>,
    /// The command `gaffer spawn` starts.
    pub launch: String,
    /// Program names that identify its pane from `pane_current_command` or a process argv.
    pub processes: Vec<String>,
    /// Whether the CLI runs user lifecycle hooks.
    pub hooks: bool,
    /// The slash command that compacts its context (`/compact`); `None`: it has none, and an
    /// idle agent of the kind is not compacted.
    pub compact: Option<String>,
    /// The assignment bonus by task complexity; the first band that holds wins.
    pub type_bonus: Vec<BonusBand>,
}

impl AgentKind {
    /// Whether `name` is its code or one of its aliases (ASCII case-insensitive, trimmed).
    pub fn is_named(&self, name: &str) -> bool {
        let n = name.trim();
        self.code.eq_ignore_ascii_case(n) || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(n))
    }

    /// The assignment bonus for a task of `complexity_hundredths` (0–100).
    pub fn bonus_for(&self, complexity_hundredths: i64) -> f64 {
        self.type_bonus
            .iter()
            .find(|b| (b.min..=b.max).contains(&complexity_hundredths))
            .map(|b| b.bonus)
            .unwrap_or(0.0)
    }

    /// Whether a lowercased command line runs this kind: a process name as the program
    /// (`claude`, `claude --resume`, `/usr/bin/claude`, `node …/gemini-cli/…`), or the code
    /// itself as the program (`cc --resume`).
    fn runs_in(&self, cmd: &str) -> bool {
        self.processes.iter().any(|p| {
            program_is(cmd, p)
                || cmd
                    .match_indices(p.as_str())
                    .any(|(i, _)| i > 0 && cmd.as_bytes()[i - 1] == b'/')
        }) || program_is(cmd, &self.code)
    }
}

/// `cmd` is `name` or starts with `name `.
fn program_is(cmd: &str, name: &str) -> bool {
    cmd.strip_prefix(name)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(' '))
}

/// The agent kinds, in match order.
#[derive(Debug, Clone, PartialEq)]
pub struct KindRegistry {
    kinds: Vec<AgentKind>,
    /// Per kind: its code packed into a word (see [`short_key`]; 0 when longer), for the hot
    /// lookups.
    keys: Vec<u64>,
    /// Per kind: its bonus at each complexity 0–100 (scoring asks once per agent–task pair).
    bonus: Vec<[f64; 101]>,
}

/// A code of up to 7 bytes packed with its length into one word, so that finding a kind by
/// its exact code is a few integer compares.
#[inline]
fn short_key(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 7 {
        return None;
    }
    let mut w = (b.len() as u64) << 56;
    for (i, &x) in b.iter().enumerate() {
        w |= (x as u64) << (8 * i);
    }
    Some(w)
}

impl KindRegistry {
    /// The embedded registry (`kinds.toml`).
    pub fn builtin() -> KindRegistry {
        KindRegistry::parse("kinds.toml", BUILTIN_KINDS)
            .unwrap_or_else(|e| panic!("the embedded kinds.toml is valid: {e}"))
    }

    /// Parses a whole registry file.
    pub fn parse(file: &str, text: &str) -> Result<KindRegistry, KindsError> {
        KindRegistry {
            kinds: Vec::new(),
            keys: Vec::new(),
            bonus: Vec::new(),
        }
        .with_overrides(file, text)
    }

    /// This registry with a user file applied: an entry whose `code` is known changes the
    /// fields it gives (the others stay); an entry with a new code adds a kind after the
    /// known ones.
    pub fn with_overrides(mut self, file: &str, text: &str) -> Result<KindRegistry, KindsError> {
        let cx = Source { file, text };
        let raw: RawFile = cx.parse()?;
        let mut seen: Vec<String> = Vec::new();
        for (i, r) in raw.kind.into_iter().enumerate() {
            let key = |k: &str| format!("kind[{i}].{k}");
            let code = r.code.get_ref().trim().to_string();
            if !valid_code(&code) {
                return Err(cx.value_err(
                    r.code.span(),
                    &key("code"),
                    format!(
                        "{code:?} is not a kind code (a lowercase letter, then lowercase letters, digits or '-'; not `user` or `shell`)"
                    ),
                ));
            }
            if seen.contains(&code) {
                return Err(cx.value_err(
                    r.code.span(),
                    &key("code"),
                    format!("kind {code:?} is given twice in this file"),
                ));
            }
            seen.push(code.clone());
            let slot = match self.kinds.iter().position(|k| k.code == code) {
                Some(s) => s,
                None => {
                    if let Some(other) = self.kinds.iter().find(|k| k.is_named(&code)) {
                        return Err(cx.value_err(
                            r.code.span(),
                            &key("code"),
                            format!("{code:?} is an alias of kind {:?}", other.code),
                        ));
                    }
                    self.kinds.push(AgentKind {
                        code: code.clone(),
                        name: code.clone(),
                        aliases: Vec::new(),
                        rules: None,
                        launch: code.clone(),
                        processes: Vec::new(),
                        hooks: false,
                        compact: None,
                        type_bonus: Vec::new(),
                    });
                    self.kinds.len() - 1
                }
            };
            let mut k = self.kinds[slot].clone();
            if let Some(name) = r.name {
                k.name = name;
            }
            if let Some(aliases) = &r.aliases {
                let mut out = Vec::new();
                for a in aliases {
                    let v = a.get_ref().trim().to_ascii_lowercase();
                    if v.is_empty() || v.chars().any(char::is_whitespace) {
                        return Err(cx.value_err(
                            a.span(),
                            &key("aliases"),
                            format!("{:?} is not a name", a.get_ref()),
                        ));
                    }
                    let clash = self
                        .kinds
                        .iter()
                        .enumerate()
                        .find(|(j, other)| *j != slot && other.is_named(&v));
                    if v == USER_TYPE || v == SHELL_KIND {
                        return Err(cx.value_err(
                            a.span(),
                            &key("aliases"),
                            format!("{v:?} is reserved"),
                        ));
                    }
                    if let Some((_, other)) = clash {
                        return Err(cx.value_err(
                            a.span(),
                            &key("aliases"),
                            format!("{v:?} already names kind {:?}", other.code),
                        ));
                    }
                    out.push(v);
                }
                k.aliases = out;
            }
            if let Some(rules) = &r.rules {
                let f = rules.get_ref().trim();
                if f.is_empty() {
                    k.rules = None;
                } else if !f.ends_with(".toml") || f.contains(['/', '\\']) || f == "shell.toml" {
                    return Err(cx.value_err(
                        rules.span(),
                        &key("rules"),
                        format!("{f:?} is not a rules file name like `{code}.toml`"),
                    ));
                } else {
                    k.rules = Some(f.to_string());
                }
            }
            if let Some(launch) = &r.launch {
                if launch.get_ref().trim().is_empty() {
                    return Err(cx.value_err(
                        launch.span(),
                        &key("launch"),
                        "must not be empty".into(),
                    ));
                }
                k.launch = launch.get_ref().clone();
            }
            if let Some(ps) = &r.processes {
                let mut out = Vec::new();
                for p in ps {
                    let v = p.get_ref().trim().to_lowercase();
                    if v.is_empty() || v.contains(char::is_whitespace) || v.contains('/') {
                        return Err(cx.value_err(
                            p.span(),
                            &key("processes"),
                            format!("{:?} is not a program name", p.get_ref()),
                        ));
                    }
                    out.push(v);
                }
                k.processes = out;
            }
            if let Some(h) = r.hooks {
                k.hooks = h;
            }
            if let Some(c) = &r.compact {
                let v = c.get_ref().trim();
                if v.is_empty() {
                    k.compact = None;
                } else if !v.starts_with('/') || v.contains(['\n', '\r']) {
                    return Err(cx.value_err(
                        c.span(),
                        &key("compact"),
                        format!("{v:?} is not a slash command like `/compact`"),
                    ));
                } else {
                    k.compact = Some(v.to_string());
                }
            }
            if let Some(bands) = &r.type_bonus {
                let mut out = Vec::new();
                for (j, b) in bands.iter().enumerate() {
                    let bkey = key(&format!("type_bonus[{j}]"));
                    let raw = b.get_ref();
                    let min = raw.min.unwrap_or(0.0);
                    let max = raw.max.unwrap_or(1.0);
                    if !(0.0..=1.0).contains(&min) || !(0.0..=1.0).contains(&max) || min > max {
                        return Err(cx.value_err(
                            b.span(),
                            &bkey,
                            format!("min {min} and max {max} must lie within 0–1, min ≤ max"),
                        ));
                    }
                    if !(-1.0..=1.0).contains(&raw.bonus) {
                        return Err(cx.value_err(
                            b.span(),
                            &bkey,
                            format!("bonus {} is not within -1–1", raw.bonus),
                        ));
                    }
                    out.push(BonusBand {
                        min: (min * 100.0).round() as i64,
                        max: (max * 100.0).round() as i64,
                        bonus: raw.bonus,
                    });
                }
                k.type_bonus = out;
            }
            self.kinds[slot] = k;
        }
        self.keys = self
            .kinds
            .iter()
            .map(|k| short_key(&k.code).unwrap_or(0))
            .collect();
        self.bonus = self
            .kinds
            .iter()
            .map(|k| std::array::from_fn(|c| k.bonus_for(c as i64)))
            .collect();
        Ok(self)
    }

    /// The index of the kind a code or alias names.
    #[inline]
    fn position(&self, name: &str) -> Option<usize> {
        // The exact code is the common case (and the hot one, in scoring): no folding.
        if let Some(key) = short_key(name)
            && let Some(i) = self.keys.iter().position(|k| *k == key)
        {
            return Some(i);
        }
        self.kinds
            .iter()
            .position(|k| k.code == name)
            .or_else(|| self.kinds.iter().position(|k| k.is_named(name)))
    }

    /// Every kind, in match order.
    pub fn kinds(&self) -> &[AgentKind] {
        &self.kinds
    }

    /// The kind a code or alias names (ASCII case-insensitive, trimmed).
    pub fn get(&self, name: &str) -> Option<&AgentKind> {
        self.position(name).map(|i| &self.kinds[i])
    }

    /// The canonical code of a code or alias (`claude` → `cc`); another name is lowercased
    /// and kept.
    pub fn canonical(&self, name: &str) -> String {
        match self.get(name) {
            Some(k) => k.code.clone(),
            None => name.trim().to_lowercase(),
        }
    }

    /// The kind whose program a pane runs (`pane_current_command`, or one argv element),
    /// or `user` when none does.
    pub fn from_command(&self, command: &str) -> &str {
        let c = command.trim().to_lowercase();
        if c.is_empty() {
            return USER_TYPE;
        }
        self.kinds
            .iter()
            .find(|k| k.runs_in(&c))
            .map(|k| k.code.as_str())
            .unwrap_or(USER_TYPE)
    }

    /// Identifies a pane from its title, falling back to its current command when the title
    /// says `user`.
    pub fn identify_pane(&self, title: &str, current_command: &str) -> PaneIdentity {
        let mut id = parse_title(title);
        if id.is_user() && !current_command.trim().is_empty() {
            id.agent_type = self.from_command(current_command).to_string();
        }
        id
    }

    /// The rules kind of an agent type: the code of its kind when that kind has rules,
    /// otherwise `shell`.
    pub fn rules_kind(&self, agent_type: &str) -> &str {
        match self.get(agent_type) {
            Some(k) if k.rules.is_some() => k.code.as_str(),
            _ => SHELL_KIND,
        }
    }

    /// The assignment bonus of an agent type for a task of `complexity_hundredths`; 0 for a
    /// type no kind names.
    #[inline]
    pub fn type_bonus(&self, agent_type: &str, complexity_hundredths: i64) -> f64 {
        let Some(i) = self.position(agent_type) else {
            return 0.0;
        };
        match usize::try_from(complexity_hundredths) {
            Ok(c) if c <= 100 => self.bonus[i][c],
            _ => self.kinds[i].bonus_for(complexity_hundredths),
        }
    }

    /// The compact command of a kind (`/compact`), if it has one.
    pub fn compact(&self, agent_type: &str) -> Option<&str> {
        self.get(agent_type).and_then(|k| k.compact.as_deref())
    }

    /// The launch command of a kind; an unknown name is its own command.
    pub fn launch(&self, agent_type: &str) -> String {
        match self.get(agent_type) {
            Some(k) => k.launch.clone(),
            None => agent_type.to_string(),
        }
    }
}

static REGISTRY: OnceLock<KindRegistry> = OnceLock::new();

/// The process-wide registry: the one [`install`]ed at start, else the embedded one.
#[inline]
pub fn registry() -> &'static KindRegistry {
    REGISTRY.get_or_init(KindRegistry::builtin)
}

/// Makes `registry` the process-wide one. Call it once, at start, before anything reads the
/// registry; afterwards it fails and gives the registry back.
pub fn install(registry: KindRegistry) -> Result<(), KindRegistry> {
    REGISTRY.set(registry)
}

fn valid_code(code: &str) -> bool {
    let mut chars = code.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && code != USER_TYPE
        && code != SHELL_KIND
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    kind: Vec<RawKind>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKind {
    code: Spanned<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    aliases: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    rules: Option<Spanned<String>>,
    #[serde(default)]
    launch: Option<Spanned<String>>,
    #[serde(default)]
    processes: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    hooks: Option<bool>,
    #[serde(default)]
    compact: Option<Spanned<String>>,
    #[serde(default)]
    type_bonus: Option<Vec<Spanned<RawBand>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    #[serde(default)]
    min: Option<f64>,
    #[serde(default)]
    max: Option<f64>,
    bonus: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_the_three_agents_with_their_rules_and_the_process_only_kinds() {
        let r = KindRegistry::builtin();
        let codes: Vec<&str> = r.kinds().iter().map(|k| k.code.as_str()).collect();
        assert_eq!(codes, ["cc", "cod", "gmi", "cursor", "windsurf", "aider"]);
        for k in &r.kinds()[..3] {
            let file = k.rules.as_deref().unwrap();
            assert!(builtin_rules(file).is_some(), "{file} is embedded");
            assert!(k.hooks);
        }
        assert_eq!(r.get("cc").map(|k| k.name.as_str()), Some("Claude Code"));
        assert_eq!(r.rules_kind("aider"), SHELL_KIND);
        assert_eq!(r.rules_kind("Claude"), "cc");
        assert_eq!(r.rules_kind("vim"), SHELL_KIND);
    }

    #[test]
    fn each_agent_cli_has_its_compact_command_and_users_can_change_it() {
        let r = KindRegistry::builtin();
        assert_eq!(r.compact("cc"), Some("/compact"));
        assert_eq!(r.compact("codex"), Some("/compact"));
        assert_eq!(r.compact("gmi"), Some("/compress"));
        assert_eq!(r.compact("aider"), None);
        assert_eq!(r.compact("vim"), None);
        let r = r
            .with_overrides("u.toml", "[[kind]]\ncode = \"cc\"\ncompact = \"/squash\"\n")
            .unwrap();
        assert_eq!(r.compact("cc"), Some("/squash"));
        let r = r
            .with_overrides("u.toml", "[[kind]]\ncode = \"cc\"\ncompact = \"\"\n")
            .unwrap();
        assert_eq!(r.compact("cc"), None);
        let err = KindRegistry::builtin()
            .with_overrides("u.toml", "[[kind]]\ncode = \"cc\"\ncompact = \"compact\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("kind[0].compact"), "{err}");
    }

    #[test]
    fn one_alias_table() {
        let r = KindRegistry::builtin();
        for (name, code) in [
            ("claude", "cc"),
            ("Claude-Code", "cc"),
            ("claudecode", "cc"),
            (" codex ", "cod"),
            ("codex_cli", "cod"),
            ("openai", "cod"),
            ("GEMINI", "gmi"),
            ("google", "gmi"),
            ("aider", "aider"),
            ("vim", "vim"),
        ] {
            assert_eq!(r.canonical(name), code, "{name}");
        }
    }

    #[test]
    fn user_file_changes_fields_and_adds_kinds() {
        let text = r#"
[[kind]]
code = "cc"
launch = "claude --dangerously-skip-permissions"

[[kind]]
code = "opencode"
name = "opencode"
aliases = ["oc"]
rules = "opencode.toml"
processes = ["opencode"]
type_bonus = [{ min = 0.5, bonus = 0.2 }]
"#;
        let r = KindRegistry::builtin()
            .with_overrides("kinds.toml", text)
            .unwrap();
        let cc = r.get("cc").unwrap();
        assert_eq!(cc.launch, "claude --dangerously-skip-permissions");
        assert_eq!(cc.name, "Claude Code", "fields not given stay");
        assert_eq!(r.canonical("OC"), "opencode");
        assert_eq!(r.from_command("/usr/local/bin/opencode"), "opencode");
        assert_eq!(r.from_command("opencode run"), "opencode");
        assert_eq!(r.rules_kind("oc"), "opencode");
        assert_eq!(r.type_bonus("opencode", 50), 0.2);
        assert_eq!(r.type_bonus("opencode", 49), 0.0);
        assert_eq!(
            r.launch("opencode"),
            "opencode",
            "launch defaults to the code"
        );
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases = [
            (
                "[[kind]]\ncode = \"Bad Code\"\n",
                "x.toml:2: key `kind[0].code`",
            ),
            (
                "[[kind]]\ncode = \"a\"\n[[kind]]\ncode = \"b\"\naliases = [\"claude\"]\n",
                "x.toml:5: key `kind[1].aliases`: \"claude\" already names kind \"cc\"",
            ),
            (
                "[[kind]]\ncode = \"a\"\ntype_bonus = [\n  { min = 0.8, max = 0.2, bonus = 0.1 },\n]\n",
                "x.toml:4: key `kind[0].type_bonus[0]`",
            ),
            (
                "[[kind]]\ncode = \"a\"\nrules = \"../x.toml\"\n",
                "x.toml:3: key `kind[0].rules`",
            ),
            ("[[kind]]\ncode = \"a\"\nbogus = 1\n", "x.toml:3:"),
            (
                "[[kind]]\ncode = \"a\"\n[[kind]]\ncode = \"a\"\n",
                "x.toml:4: key `kind[1].code`",
            ),
            (
                "[[kind]]\ncode = \"user\"\n",
                "x.toml:2: key `kind[0].code`",
            ),
        ];
        for (text, want) in cases {
            let err = KindRegistry::builtin()
                .with_overrides("x.toml", text)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(want), "{text:?}: {err}");
        }
    }

    #[test]
    fn a_user_kind_is_identified_and_detected_with_its_own_rules() {
        use crate::detect::{Detector, ScreenInput};
        let reg = KindRegistry::builtin()
            .with_overrides(
                "kinds.toml",
                "[[kind]]\ncode = \"opencode\"\nrules = \"opencode.toml\"\nprocesses = [\"opencode\"]\n",
            )
            .unwrap();
        assert_eq!(
            reg.identify_pane("p__opencode_2", "node").agent_type,
            "opencode"
        );
        assert_eq!(
            reg.identify_pane("notes", "/opt/bin/opencode").agent_type,
            "opencode"
        );
        assert_eq!(reg.identify_pane("notes", "vim").agent_type, USER_TYPE);
        let screen = "OC WORKING\n";
        let input = ScreenInput {
            agent_type: "opencode",
            screen,
            current_command: "opencode",
            observed_at: crate::time::parse_rfc3339("2026-11-29T10:00:00Z").unwrap(),
        };
        // Until its rules file is given, the shell rules apply.
        let d = Detector::for_registry(reg.clone());
        assert_eq!(d.kind_rules("opencode").unwrap().kind, SHELL_KIND);
        let rules = "kind = \"opencode\"\n[[rule]]\nid = \"oc.busy\"\nstatus = \"GENERATING\"\npriority = 5\nregion = \"bottom\"\npatterns = ['OC WORKING']\nconfidence = 0.9\nreason = \"busy\"\n";
        let d = d.overridden(&[("opencode".into(), rules.into())]).unwrap();
        let e = d.explain(&input);
        assert_eq!(
            (e.kind.as_str(), e.verdict.rule.as_str()),
            ("opencode", "oc.busy")
        );
        // A rules file that says another kind is refused, naming the kind's file.
        let err = Detector::for_registry(reg)
            .overridden(&[("opencode".into(), rules.replace("\"opencode\"", "\"cc\""))])
            .unwrap_err();
        assert!(
            err.to_string().starts_with("opencode.toml:1: key `kind`"),
            "{err}"
        );
    }

    #[test]
    fn bonus_bands_match_the_reference_thresholds() {
        let r = KindRegistry::builtin();
        assert_eq!(r.type_bonus("cc", 70), 0.15);
        assert_eq!(r.type_bonus("cc", 69), 0.0);
        assert_eq!(r.type_bonus("cc", 30), -0.05);
        assert_eq!(r.type_bonus("cod", 30), 0.15);
        assert_eq!(r.type_bonus("cod", 70), -0.10);
        assert_eq!(r.type_bonus("gmi", 40), 0.05);
        assert_eq!(r.type_bonus("gmi", 61), 0.0);
        assert_eq!(r.type_bonus("cursor", 90), 0.0);
    }
}
