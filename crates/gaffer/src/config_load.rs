//! Finding and reading the configuration layers: user file, project file, extra file,
//! environment, flags. Parsing and merging are pure and live in `gaffer_core::config`.

use crate::cli::GlobalArgs;
use crate::error::ExitError;
use gaffer_core::config::{self, ConfigLayer, ConfigWarning, GafferConfig};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One layer as loaded, for `config show`.
#[derive(Debug, Clone, Serialize)]
pub struct LayerInfo {
    /// `defaults`, `user`, `project`, `file`, `env` or `flag`.
    pub kind: &'static str,
    /// The file or variable.
    pub source: String,
    /// Whether it was found and applied.
    pub applied: bool,
}

/// The loaded configuration with its provenance.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The merged result.
    pub config: GafferConfig,
    /// Every layer considered, in order.
    pub layers: Vec<LayerInfo>,
    /// Unknown keys and other remarks.
    pub warnings: Vec<ConfigWarning>,
    /// The project root.
    pub project_root: PathBuf,
}

/// The project root: `--project`, else the nearest ancestor of the current directory holding
/// `.gaffer/`, `.beads/` or `.git/`, else the current directory.
pub fn project_root(global: &GlobalArgs) -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    if let Some(p) = &global.project {
        return if p.is_absolute() {
            p.clone()
        } else {
            cwd.join(p)
        };
    }
    for dir in cwd.ancestors() {
        if [".gaffer", ".beads", ".git"]
            .iter()
            .any(|m| dir.join(m).exists())
        {
            return dir.to_path_buf();
        }
    }
    cwd
}

/// The user config file: `$XDG_CONFIG_HOME/gaffer/config.toml` or `~/.config/gaffer/config.toml`.
pub fn user_config_path() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(x).join("gaffer").join("config.toml"));
    }
    std::env::var_os("HOME").map(|h| {
        PathBuf::from(h)
            .join(".config")
            .join("gaffer")
            .join("config.toml")
    })
}

/// The project config file.
pub fn project_config_path(root: &Path) -> PathBuf {
    root.join(".gaffer").join("config.toml")
}

/// Reads and checks one file layer.
pub fn file_layer(path: &Path) -> Result<(ConfigLayer, Vec<ConfigWarning>), ExitError> {
    let too_big =
        std::fs::metadata(path).is_ok_and(|m| m.len() > gaffer_core::limits::MAX_CONFIG_FILE_BYTES);
    if too_big {
        return Err(ExitError::config(format!(
            "{}: larger than {} MiB, not a config file",
            path.display(),
            gaffer_core::limits::mib(gaffer_core::limits::MAX_CONFIG_FILE_BYTES)
        )));
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| ExitError::config(format!("{}: cannot read: {e}", path.display())))?;
    config::parse_layer(&path.display().to_string(), &text)
        .map_err(|e| ExitError::config(e.to_string()))
}

/// Loads every layer and merges them.
pub fn load(global: &GlobalArgs) -> Result<Loaded, ExitError> {
    let root = project_root(global);
    let mut layers = vec![LayerInfo {
        kind: "defaults",
        source: "embedded".into(),
        applied: true,
    }];
    let mut parsed: Vec<ConfigLayer> = Vec::new();
    let mut warnings = Vec::new();

    let mut files: Vec<(&'static str, PathBuf, bool)> = Vec::new();
    if let Some(p) = user_config_path() {
        files.push(("user", p, false));
    }
    files.push(("project", project_config_path(&root), false));
    if let Some(p) = &global.config {
        files.push(("file", p.clone(), true));
    }
    for (kind, path, required) in files {
        if !path.exists() {
            if required {
                return Err(ExitError::config(format!(
                    "{}: no such config file",
                    path.display()
                )));
            }
            layers.push(LayerInfo {
                kind,
                source: path.display().to_string(),
                applied: false,
            });
            continue;
        }
        let (layer, w) = file_layer(&path)?;
        parsed.push(layer);
        warnings.extend(w);
        layers.push(LayerInfo {
            kind,
            source: path.display().to_string(),
            applied: true,
        });
    }

    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.sort();
    for (name, value) in env {
        let key = if name == "AGENT_MAIL_URL" {
            Some("mail.url".to_string())
        } else {
            config::env_var_key(&name)
        };
        let Some(key) = key else { continue };
        let layer = config::override_layer(&format!("environment variable {name}"), &key, &value)
            .map_err(|e| ExitError::config(e.to_string()))?;
        parsed.push(layer);
        layers.push(LayerInfo {
            kind: "env",
            source: name,
            applied: true,
        });
    }

    for set in &global.set {
        let Some((key, value)) = set.split_once('=') else {
            return Err(ExitError::config(format!(
                "--set {set}: expected KEY=VALUE, e.g. coordinator.poll_interval=2s"
            )));
        };
        let layer = config::override_layer(&format!("flag --set {set}"), key.trim(), value)
            .map_err(|e| ExitError::config(e.to_string()))?;
        parsed.push(layer);
        layers.push(LayerInfo {
            kind: "flag",
            source: format!("--set {set}"),
            applied: true,
        });
    }

    let config = config::merge_layers(&parsed).map_err(|e| ExitError::config(e.to_string()))?;
    Ok(Loaded {
        config,
        layers,
        warnings,
        project_root: root,
    })
}
