//! The user's agent kinds: `<config dir>/gaffer/kinds.toml` over the embedded registry,
//! installed process-wide at start (config dir = `$XDG_CONFIG_HOME` or `~/.config`).

use crate::error::ExitError;
use gaffer_core::kinds::{self, KindRegistry};
use std::path::{Path, PathBuf};

/// `$XDG_CONFIG_HOME/gaffer` or `~/.config/gaffer`.
pub fn user_config_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("gaffer"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/gaffer"))
}

/// The embedded registry with the user's `kinds.toml` in `dir` applied, when there is one.
pub fn load_from(dir: &Path) -> Result<KindRegistry, ExitError> {
    let path = dir.join("kinds.toml");
    match std::fs::read_to_string(&path) {
        Ok(text) => KindRegistry::builtin()
            .with_overrides(&path.display().to_string(), &text)
            .map_err(|e| ExitError::config(format!("agent kinds: {e}"))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KindRegistry::builtin()),
        Err(e) => Err(ExitError::config(format!(
            "cannot read agent kinds file {}: {e}",
            path.display()
        ))),
    }
}

/// Loads the user's kinds and makes them the process-wide registry. Call once, first.
pub fn install_user_kinds() -> Result<(), ExitError> {
    let Some(dir) = user_config_dir() else {
        return Ok(());
    };
    let registry = load_from(&dir)?;
    if kinds::install(registry).is_err() {
        tracing::warn!("the agent kinds registry was read before the user's kinds.toml");
    }
    Ok(())
}
