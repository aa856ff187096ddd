//! Pane identity: parsing `<session>__<type>_<index>[_variant][tags]` titles, the fallback from
//! the pane's current command, and formatting titles (spec/observation.md §1.4–1.5).

use regex::Regex;
use std::sync::OnceLock;

/// What a pane title says about the agent in it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PaneIdentity {
    /// Session part, before the last `__` (empty for `user`).
    pub session: String,
    /// Agent type code (`cc`, `cod`, `gmi`, …) or `user` when the title is not an agent title.
    pub agent_type: String,
    /// 1-based index per type (0 for `user`).
    pub index: u32,
    /// Model alias or persona name, when given.
    pub variant: Option<String>,
    /// Tags from a trailing `[a,b]`.
    pub tags: Vec<String>,
}

impl PaneIdentity {
    /// The identity of a pane that is not an agent.
    pub fn user() -> Self {
        PaneIdentity {
            agent_type: USER_TYPE.to_string(),
            ..Default::default()
        }
    }

    /// Whether this is a plain shell or human pane.
    pub fn is_user(&self) -> bool {
        self.agent_type == USER_TYPE
    }
}

/// The type code of a pane that holds no agent.
pub const USER_TYPE: &str = "user";

fn title_regex() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    // The reference's type group is greedy (`[\w-]+`), so `s__cc_1_2` parsed as type `cc_1`,
    // index 2. Ours is lazy: the type ends at the first `_<digits>`, so a numeric variant works.
    // Classes are ASCII, as in Go's RE2.
    RE.get_or_init(|| {
        Regex::new(r"^.+__([A-Za-z0-9_-]+?)_([0-9]+)(?:_([A-Za-z0-9._/@:+-]+))?(?:\[([^\]]*)\])?$")
            .unwrap_or_else(|e| panic!("title regex is valid: {e}"))
    })
}

/// Parses a pane title. A title that does not follow the grammar is a `user` pane.
pub fn parse_title(title: &str) -> PaneIdentity {
    let Some(caps) = title_regex().captures(title) else {
        return PaneIdentity::user();
    };
    let (Some(ty), Some(idx)) = (caps.get(1), caps.get(2)) else {
        return PaneIdentity::user();
    };
    let Ok(index) = idx.as_str().parse::<u32>() else {
        return PaneIdentity::user();
    };
    let session_end = ty.start().saturating_sub(2);
    let tags = caps
        .get(4)
        .map(|m| {
            m.as_str()
                .split(',')
                .map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    PaneIdentity {
        session: title[..session_end].to_string(),
        agent_type: ty.as_str().to_string(),
        index,
        variant: caps.get(3).map(|m| m.as_str().to_string()),
        tags,
    }
}

/// The agent type implied by a pane's current command, used when the title says `user`
/// (reference fallback, §1.5): the first kind of the [registry](crate::kinds::registry) whose
/// process names match. Returns `user` when none does.
pub fn agent_type_from_command(command: &str) -> &'static str {
    crate::kinds::registry().from_command(command)
}

/// Identifies a pane from its title, falling back to its current command when the title says
/// `user`.
pub fn identify_pane(title: &str, current_command: &str) -> PaneIdentity {
    crate::kinds::registry().identify_pane(title, current_command)
}

/// The canonical short code for an agent type or one of its aliases (`claude`→`cc`,
/// `codex`→`cod`, `gemini`→`gmi`, from the [registry](crate::kinds::registry)); other codes are
/// lowercased and kept.
pub fn canonical_agent_type(t: &str) -> String {
    crate::kinds::registry().canonical(t)
}

/// `session__type_index`, plus `_variant` when given.
pub fn format_pane_name(
    session: &str,
    agent_type: &str,
    index: u32,
    variant: Option<&str>,
) -> String {
    match variant.filter(|v| !v.is_empty()) {
        Some(v) => format!("{session}__{agent_type}_{index}_{v}"),
        None => format!("{session}__{agent_type}_{index}"),
    }
}

/// `""` or `[a,b]`.
pub fn format_tags(tags: &[String]) -> String {
    if tags.is_empty() {
        String::new()
    } else {
        format!("[{}]", tags.join(","))
    }
}

/// Removes a trailing tag list: cut at the last `[` when the title ends with `]`.
pub fn strip_tags(title: &str) -> &str {
    if title.ends_with(']') {
        if let Some(pos) = title.rfind('[') {
            return &title[..pos];
        }
    }
    title
}

/// Why a session name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionNameError {
    /// Empty name.
    #[error("session name is empty")]
    Empty,
    /// tmux uses `:` to separate session and window.
    #[error("session name {0:?} contains ':' (tmux uses it to separate session and window)")]
    Colon(String),
    /// tmux uses `.` to separate window and pane.
    #[error("session name {0:?} contains '.' (tmux uses it to separate window and pane)")]
    Dot(String),
    /// Other characters.
    #[error("session name {0:?} may only contain letters, digits, '_' and '-'")]
    Invalid(String),
}

/// Checks a session name against `^[a-zA-Z0-9_-]+$`.
pub fn validate_session_name(name: &str) -> Result<(), SessionNameError> {
    if name.is_empty() {
        return Err(SessionNameError::Empty);
    }
    if name.contains(':') {
        return Err(SessionNameError::Colon(name.into()));
    }
    if name.contains('.') {
        return Err(SessionNameError::Dot(name.into()));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return Err(SessionNameError::Invalid(name.into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(title: &str, ty: &str, index: u32, variant: Option<&str>, tags: &[&str]) {
        let id = parse_title(title);
        assert_eq!(id.agent_type, ty, "type of {title:?}");
        assert_eq!(id.index, index, "index of {title:?}");
        assert_eq!(id.variant.as_deref(), variant, "variant of {title:?}");
        let want: Vec<String> = tags.iter().map(|s| s.to_string()).collect();
        assert_eq!(id.tags, want, "tags of {title:?}");
    }

    #[test]
    fn title_table() {
        check("myproject__cc_1", "cc", 1, None, &[]);
        check("myproject__cod_2_gpt4o", "cod", 2, Some("gpt4o"), &[]);
        check(
            "myproject__gmi_3[api,backend]",
            "gmi",
            3,
            None,
            &["api", "backend"],
        );
        check(
            "myproject__cc_1_opus[frontend,ui]",
            "cc",
            1,
            Some("opus"),
            &["frontend", "ui"],
        );
        check("session__cc_1_opus-4.5", "cc", 1, Some("opus-4.5"), &[]);
        check("session__aider_1", "aider", 1, None, &[]);
        check("session__cc_999", "cc", 999, None, &[]);
        check(
            "session__cc_1[tag1, tag2]",
            "cc",
            1,
            None,
            &["tag1", "tag2"],
        );
        check("session__cc_1[]", "cc", 1, None, &[]);
        for t in ["zsh", "just__", "project_name", "__cc_1"] {
            check(t, "user", 0, None, &[]);
        }
        check("my__proj__cc_1", "cc", 1, None, &[]);
        check("s__claude_code_3", "claude_code", 3, None, &[]);
        check(
            "session__cc_1_gpt-5.2-codex@high",
            "cc",
            1,
            Some("gpt-5.2-codex@high"),
            &[],
        );
        check("proj__cod_1_o3 [x]", "user", 0, None, &[]);
        check("proj__cc_1_persona name", "user", 0, None, &[]);
    }

    #[test]
    fn numeric_variant_is_fixed() {
        // The reference read this as type `cc_1`, index 2.
        check("session__cc_1_2", "cc", 1, Some("2"), &[]);
        check("session__cod_12_3[x]", "cod", 12, Some("3"), &["x"]);
    }

    #[test]
    fn session_part_is_before_last_separator() {
        assert_eq!(parse_title("my__proj__cc_1").session, "my__proj");
        assert_eq!(parse_title("myproject__cc_1_opus[a]").session, "myproject");
    }

    #[test]
    fn huge_index_is_not_an_agent() {
        check("s__cc_99999999999999999999", "user", 0, None, &[]);
    }

    #[test]
    fn strip_tags_table() {
        assert_eq!(strip_tags("session__cc_1[frontend]"), "session__cc_1");
        assert_eq!(
            strip_tags("session__cc_1_opus[backend,api]"),
            "session__cc_1_opus"
        );
        assert_eq!(strip_tags("session__cc_1[]"), "session__cc_1");
        assert_eq!(
            strip_tags("title_with[brackets]_in_middle[tags]"),
            "title_with[brackets]_in_middle"
        );
        assert_eq!(strip_tags("plain"), "plain");
    }

    #[test]
    fn formatting_round_trips() {
        let name = format_pane_name("proj", "cc", 2, Some("opus"));
        assert_eq!(name, "proj__cc_2_opus");
        assert_eq!(format_pane_name("proj", "cod", 1, None), "proj__cod_1");
        let tags = vec!["a".to_string(), "b".to_string()];
        let title = format!("{name}{}", format_tags(&tags));
        check(&title, "cc", 2, Some("opus"), &["a", "b"]);
        assert_eq!(format_tags(&[]), "");
    }

    #[test]
    fn command_fallback_table() {
        let cases: &[(&str, &str)] = &[
            ("claude", "cc"),
            ("claude --model opus", "cc"),
            ("/usr/bin/claude", "cc"),
            ("cc", "cc"),
            ("cc --resume", "cc"),
            ("CLAUDE", "cc"),
            ("Claude", "cc"),
            ("codex", "cod"),
            ("/opt/codex", "cod"),
            ("cod --dangerously-bypass", "cod"),
            ("CODEX", "cod"),
            ("gemini", "gmi"),
            ("/bin/gemini", "gmi"),
            ("gmi start", "gmi"),
            ("cursor .", "cursor"),
            ("/Applications/cursor", "cursor"),
            ("/snap/bin/windsurf", "windsurf"),
            ("/opt/windsurf/bin/windsurf", "windsurf"),
            ("/home/user/.local/bin/aider", "aider"),
            ("bash", "user"),
            ("zsh", "user"),
            ("vim", "user"),
            ("", "user"),
            ("some_random_program", "user"),
            ("my-cursor-script.sh", "user"),
            ("vim cursor.c", "user"),
            ("libncurses", "user"),
            ("recursor", "user"),
            ("tailwindsurfing", "user"),
        ];
        for (cmd, want) in cases {
            assert_eq!(agent_type_from_command(cmd), *want, "command {cmd:?}");
        }
    }

    #[test]
    fn identify_uses_fallback_only_for_user_titles() {
        assert_eq!(identify_pane("host.local", "claude").agent_type, "cc");
        assert_eq!(identify_pane("p__cod_1", "claude").agent_type, "cod");
        assert_eq!(identify_pane("zsh", "").agent_type, "user");
    }

    #[test]
    fn canonical_types() {
        assert_eq!(canonical_agent_type("claude"), "cc");
        assert_eq!(canonical_agent_type("Codex"), "cod");
        assert_eq!(canonical_agent_type("gemini"), "gmi");
        assert_eq!(canonical_agent_type("aider"), "aider");
    }

    #[test]
    fn session_names() {
        assert!(validate_session_name("my-proj_1").is_ok());
        assert_eq!(validate_session_name(""), Err(SessionNameError::Empty));
        assert!(matches!(
            validate_session_name("a:b"),
            Err(SessionNameError::Colon(_))
        ));
        assert!(matches!(
            validate_session_name("a.b"),
            Err(SessionNameError::Dot(_))
        ));
        assert!(matches!(
            validate_session_name("a b"),
            Err(SessionNameError::Invalid(_))
        ));
    }
}
