//! The real Claude Code (`cc`): its throwaway HOME and launch.
//!
//! - `$HOME/.claude.json`: onboarding done, a theme, the API key approved (its last 20
//!   characters), the project trusted, and the start-up "Make auto mode your default permission
//!   mode?" dialog already seen (`hasSeenAutoDefaultNudge`). With
//!   [`LaunchOptions::first_run`](super::LaunchOptions::first_run) the last three are left out, so the dialogs show.
//! - `$HOME/.claude/settings.json`: `permissions.defaultMode = "default"` (auto mode, the
//!   default of 2.1.332, runs tools without asking), and with
//!   [`LaunchOptions::allow_tools`](super::LaunchOptions::allow_tools) the tools the scripted model calls are allowed.
//! - Environment: `ANTHROPIC_BASE_URL`, `ANTHROPIC_API_KEY`,
//!   `CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1`, `DISABLE_AUTOUPDATER=1`, and
//!   `CLAUDE_CODE_AUTO_COMPACT_WINDOW` for [`LaunchOptions::context_window`](super::LaunchOptions::context_window).

use super::{Cli, Setup, write_json};
use serde_json::json;

/// The fake API key (any string works against the model server).
pub const API_KEY: &str = "sk-ant-api03-gaffer-model-sim-key-0123456789abcdefghij";

/// The version written as `lastOnboardingVersion` (the pinned one).
const VERSION: &str = "2.1.332";

/// Writes the config and says how to launch the CLI.
pub(super) fn configure(s: &Setup<'_>) -> std::io::Result<Cli> {
    let (home, cwd, model_url, opts) = (s.home, s.cwd, s.model_url, s.opts);
    let key_tail: String = {
        let chars: Vec<char> = API_KEY.chars().collect();
        chars[chars.len().saturating_sub(20)..].iter().collect()
    };
    let cwd_s = cwd.display().to_string();
    let mut config = json!({
        "hasCompletedOnboarding": true,
        "lastOnboardingVersion": VERSION,
        "theme": "dark",
        "numStartups": 1,
        "projects": {
            cwd_s.clone(): {"allowedTools": [], "hasCompletedProjectOnboarding": true}
        },
    });
    if !opts.first_run {
        config["customApiKeyResponses"] = json!({"approved": [key_tail], "rejected": []});
        config["projects"][&cwd_s]["hasTrustDialogAccepted"] = json!(true);
        config["hasSeenAutoDefaultNudge"] = json!(true);
    }
    write_json(&home.join(".claude.json"), &config)?;
    let mut permissions = json!({"defaultMode": "default"});
    if opts.allow_tools {
        permissions["allow"] = json!(["Bash", "Write", "Edit", "Read"]);
    }
    write_json(
        &s.dir.join("settings.json"),
        &json!({"permissions": permissions}),
    )?;
    let mut env = Vec::new();
    env.extend([
        ("ANTHROPIC_BASE_URL".to_string(), model_url.to_string()),
        ("ANTHROPIC_API_KEY".to_string(), API_KEY.to_string()),
        (
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC".to_string(),
            "1".to_string(),
        ),
        ("DISABLE_AUTOUPDATER".to_string(), "1".to_string()),
    ]);
    if let Some(w) = opts.context_window {
        env.push(("CLAUDE_CODE_AUTO_COMPACT_WINDOW".into(), w.to_string()));
    }
    Ok(Cli {
        args: Vec::new(),
        extra_path: Vec::new(),
        env,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::LaunchOptions;

    #[test]
    fn config_skips_onboarding_unless_first_run() {
        if crate::agents::pinned()
            .iter()
            .find(|a| a.kind == "cc")
            .and_then(|a| a.executable())
            .is_none()
        {
            eprintln!("skipping: Claude Code is not installed");
            return;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let (home, cwd) = (dir.path().join("home"), dir.path().join("proj"));
        let l = super::super::prepare(
            "cc",
            &home,
            &cwd,
            "http://127.0.0.1:9",
            &LaunchOptions::default(),
        )
        .expect("prepare");
        let cfg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(home.join(".claude.json")).expect("config"),
        )
        .expect("json");
        let key = &cfg["customApiKeyResponses"]["approved"][0];
        assert_eq!(key.as_str().map(str::len), Some(20));
        assert!(API_KEY.ends_with(key.as_str().unwrap_or("-")));
        assert_eq!(
            cfg["projects"][cwd.display().to_string()]["hasTrustDialogAccepted"],
            true
        );
        assert!(
            l.env
                .iter()
                .any(|(k, v)| k == "ANTHROPIC_BASE_URL" && v == "http://127.0.0.1:9")
        );
        assert!(l.shell_command().contains("exec env -i"));

        let first = LaunchOptions {
            first_run: true,
            ..Default::default()
        };
        super::super::prepare("cc", &home, &cwd, "http://127.0.0.1:9", &first).expect("prepare");
        let cfg: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(home.join(".claude.json")).expect("config"),
        )
        .expect("json");
        assert!(cfg.get("customApiKeyResponses").is_none());
        assert!(cfg.get("hasSeenAutoDefaultNudge").is_none());
        assert_eq!(cfg["hasCompletedOnboarding"], true);
    }
}
