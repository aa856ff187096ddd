//! The real Gemini CLI (`gmi`): its throwaway HOME and launch.
//!
//! - environment: `GEMINI_API_KEY`, `GOOGLE_GEMINI_BASE_URL` (the model server),
//!   `COLORTERM=truecolor`;
//! - `$HOME/.gemini/settings.json`: the API-key auth (skips "How would you like to
//!   authenticate"), no auto-update, no usage statistics, a footer that shows `context` and
//!   `tokens`;
//! - with `allow_tools`, `--approval-mode yolo` (tools run without asking);
//! - `$HOME/.gemini/trustedFolders.json`: the project is trusted (skips "Do you trust the files
//!   in this folder?").
//!
//! With `first_run`, neither the auth choice nor the trust entry is written, so both first-run
//! dialogs appear. The CLI takes no context-window setting: `context_window` is ignored.

use super::{Cli, Setup, write_json};
use serde_json::json;
use std::path::Path;

/// The settings file the CLI reads, under `home`.
pub fn settings_path(home: &Path) -> std::path::PathBuf {
    home.join(".gemini/settings.json")
}

/// Writes the config and says how to launch the CLI.
pub(super) fn configure(s: &Setup<'_>) -> std::io::Result<Cli> {
    let (home, cwd, model_url, opts) = (s.home, s.cwd, s.model_url, s.opts);
    let dir = &s.dir;
    let mut settings = json!({
        "general": {
            "enableAutoUpdate": false,
            "enableAutoUpdateNotification": false,
        },
        "privacy": { "usageStatisticsEnabled": false },
        "ui": {
            "footer": {
                "items": ["workspace", "sandbox", "model-name", "context-used", "token-count"]
            }
        },
    });
    if !opts.first_run {
        settings["security"] = json!({ "auth": { "selectedType": "gemini-api-key" } });
        let cwd_key = cwd.display().to_string();
        write_json(
            &dir.join("trustedFolders.json"),
            &json!({ cwd_key: "TRUST_FOLDER" }),
        )?;
    }
    write_json(&settings_path(home), &settings)?;

    let node_dir: Vec<_> = which_node().into_iter().collect();
    let env = vec![
        ("COLORTERM".to_string(), "truecolor".to_string()),
        ("GEMINI_API_KEY".to_string(), "gaffer-test-key".to_string()),
        ("GOOGLE_GEMINI_BASE_URL".to_string(), model_url.to_string()),
    ];
    let mut args = Vec::new();
    if opts.allow_tools {
        args.extend(["--approval-mode".to_string(), "yolo".to_string()]);
    }
    Ok(Cli {
        args,
        extra_path: node_dir,
        env,
    })
}

/// The directory of the `node` on this process's PATH (the CLI's shebang runs `node`).
fn which_node() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("node").is_file())
}
