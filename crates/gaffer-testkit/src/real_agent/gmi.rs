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

use super::{Launch, LaunchOptions, base_env};
use serde_json::json;
use std::path::Path;

/// The settings file the CLI reads, under `home`.
pub fn settings_path(home: &Path) -> std::path::PathBuf {
    home.join(".gemini/settings.json")
}

/// Writes the config under `home` and returns the launch.
pub fn prepare(
    home: &Path,
    cwd: &Path,
    model_url: &str,
    opts: &LaunchOptions,
) -> std::io::Result<Launch> {
    let (_, exe) = crate::agents::require("gmi");
    let dir = home.join(".gemini");
    std::fs::create_dir_all(&dir)?;
    std::fs::create_dir_all(cwd)?;
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
        std::fs::write(
            dir.join("trustedFolders.json"),
            serde_json::to_vec_pretty(&json!({ cwd_key: "TRUST_FOLDER" }))?,
        )?;
    }
    std::fs::write(settings_path(home), serde_json::to_vec_pretty(&settings)?)?;

    let node_dir: Vec<_> = which_node().into_iter().collect();
    let mut env = base_env(home, &node_dir);
    env.extend([
        ("COLORTERM".to_string(), "truecolor".to_string()),
        ("GEMINI_API_KEY".to_string(), "gaffer-test-key".to_string()),
        ("GOOGLE_GEMINI_BASE_URL".to_string(), model_url.to_string()),
    ]);
    env.extend(opts.env.iter().cloned());
    let mut argv = vec![exe.display().to_string()];
    if opts.allow_tools {
        argv.extend(["--approval-mode".to_string(), "yolo".to_string()]);
    }
    Ok(Launch {
        home: home.to_path_buf(),
        cwd: cwd.to_path_buf(),
        argv,
        env,
    })
}

/// The directory of the `node` on this process's PATH (the CLI's shebang runs `node`).
fn which_node() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|d| d.join("node").is_file())
}
