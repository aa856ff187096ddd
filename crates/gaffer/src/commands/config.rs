//! `gaffer config show | check | init`.

use crate::cli::{ConfigAction, GlobalArgs};
use crate::config_load::{self, LayerInfo};
use crate::error::ExitError;
use crate::output::Output;
use crate::output::{esay, say};
use gaffer_core::config::{self as core_config, ConfigWarning, DEFAULT_CONFIG_TOML};
use gaffer_core::exit;
use serde_json::json;

/// Runs a config action and returns the exit code.
pub fn run(global: &GlobalArgs, action: ConfigAction) -> anyhow::Result<i32> {
    match action {
        ConfigAction::Show => show(global),
        ConfigAction::Check { file } => check(global, file),
        ConfigAction::Init { force, user } => init(global, force, user),
    }
}

fn print_warnings(warnings: &[ConfigWarning]) {
    for w in warnings {
        esay!("warning: {w}");
    }
}

fn show(global: &GlobalArgs) -> anyhow::Result<i32> {
    let loaded = config_load::load(global)?;
    // Secrets (the webhook token, credentials in URLs) are shown redacted, never in clear.
    let config = loaded.config.redacted();
    let mut clamped = loaded.config.coordinator.clone();
    let notices: Vec<String> = clamped
        .clamp_intervals()
        .iter()
        .map(|n| n.to_string())
        .collect();
    if global.json {
        let out = json!({
            "project_root": loaded.project_root,
            "layers": loaded.layers,
            "warnings": loaded.warnings,
            "notices": notices,
            "config": config,
        });
        println!(
            "{}",
            crate::output::safe_json(serde_json::to_string_pretty(&out)?)
        );
    } else {
        print_warnings(&loaded.warnings);
        say!("# project: {}", loaded.project_root.display());
        for LayerInfo {
            kind,
            source,
            applied,
        } in &loaded.layers
        {
            let mark = if *applied { "applied" } else { "not found" };
            say!("# {kind:<8} {source} ({mark})");
        }
        for n in &notices {
            say!("# note: {n}");
        }
        say!(
            "# secrets are shown as \"{}\"",
            gaffer_core::secrets::REDACTED
        );
        println!();
        print!("{}", toml::to_string(&config)?);
    }
    Ok(exit::SUCCESS)
}

fn check(global: &GlobalArgs, file: Option<std::path::PathBuf>) -> anyhow::Result<i32> {
    let (checked, warnings) = match file {
        Some(path) => {
            if !path.exists() {
                return Err(
                    ExitError::config(format!("{}: no such config file", path.display())).into(),
                );
            }
            let (_, w) = config_load::file_layer(&path)?;
            (vec![path.display().to_string()], w)
        }
        None => {
            let loaded = config_load::load(global)?;
            let files = loaded
                .layers
                .iter()
                .filter(|l| l.applied)
                .map(|l| l.source.clone())
                .collect();
            (files, loaded.warnings)
        }
    };
    if global.json {
        let out = json!({"ok": true, "checked": checked, "warnings": warnings});
        println!(
            "{}",
            crate::output::safe_json(serde_json::to_string_pretty(&out)?)
        );
    } else {
        print_warnings(&warnings);
        let n = warnings.len();
        say!(
            "ok: {} checked, {n} warning{}",
            checked.join(", "),
            if n == 1 { "" } else { "s" }
        );
    }
    Ok(exit::SUCCESS)
}

fn init(global: &GlobalArgs, force: bool, user: bool) -> anyhow::Result<i32> {
    let out = Output::of(global);
    let path = if user {
        config_load::user_config_path().ok_or_else(|| {
            ExitError::config("cannot find the user config directory (HOME is not set)")
        })?
    } else {
        config_load::project_config_path(&config_load::project_root(global))
    };
    if path.exists() && !force {
        return Err(ExitError::failure(format!(
            "{} already exists; use --force to overwrite it",
            path.display()
        ))
        .into());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&path, DEFAULT_CONFIG_TOML)?;
    // What we wrote must check clean.
    core_config::parse_layer(&path.display().to_string(), DEFAULT_CONFIG_TOML)
        .map_err(|e| ExitError::config(e.to_string()))?;
    out.print_line(&json!({"written": path}), || {
        say!("wrote {}", path.display());
    })?;
    Ok(exit::SUCCESS)
}
