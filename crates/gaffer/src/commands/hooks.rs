//! `gaffer hooks install|uninstall|status`: gaffer's hooks in an agent's settings file.
//!
//! The merge itself is `gaffer_core::hook_settings` (pure); this module finds the file, reads
//! it, refuses a malformed one (naming the file and line, writing nothing), and writes the
//! result atomically (a temporary file in the same directory, then a rename).

use crate::adapters;
use crate::cli::{GlobalArgs, HooksAction, HooksScope};
use crate::config_load;
use crate::error::ExitError;
use crate::output::Output;
use crate::output::say;
use gaffer_core::exit;
use gaffer_core::hook_payload::{AGENTS, installed_events};
use gaffer_core::hook_settings::{self, Installed, Node};
use gaffer_core::signals::{Signal, SignalFeed};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Runs a `hooks` action.
pub fn run(global: &GlobalArgs, action: &HooksAction) -> anyhow::Result<i32> {
    match action {
        HooksAction::Install { agent, scope } => install(global, agent, scope),
        HooksAction::Uninstall { agent, scope } => uninstall(global, agent.as_deref(), scope),
        HooksAction::Status { agent } => status(global, agent.as_deref()),
    }
}

/// The agent kind's code from a name or alias (`claude` → `cc`).
fn agent_code(name: &str) -> Result<&'static str, ExitError> {
    let code = match name.to_ascii_lowercase().as_str() {
        "cc" | "claude" | "claude-code" => "cc",
        "cod" | "codex" => "cod",
        "gmi" | "gemini" => "gmi",
        _ => {
            return Err(ExitError::usage(format!(
                "no hooks for agent kind {name:?}: use cc, cod or gmi"
            )));
        }
    };
    Ok(code)
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The settings file gaffer writes for `agent`: in the project (`project`) or the user's.
pub fn settings_path(agent: &str, project: Option<&Path>) -> Option<PathBuf> {
    let env_dir = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    Some(match (agent, project) {
        ("cc", Some(p)) => p.join(".claude/settings.json"),
        ("cc", None) => env_dir("CLAUDE_CONFIG_DIR")
            .unwrap_or(home()?.join(".claude"))
            .join("settings.json"),
        ("cod", Some(p)) => p.join(".codex/hooks.json"),
        ("cod", None) => env_dir("CODEX_HOME")
            .unwrap_or(home()?.join(".codex"))
            .join("hooks.json"),
        ("gmi", Some(p)) => p.join(".gemini/settings.json"),
        ("gmi", None) => home()?.join(".gemini/settings.json"),
        _ => return None,
    })
}

fn target(global: &GlobalArgs, agent: &str, scope: &HooksScope) -> Result<PathBuf, ExitError> {
    let project = (!scope.user).then(|| config_load::project_root(global));
    settings_path(agent, project.as_deref()).ok_or_else(|| {
        ExitError::config("HOME is not set: cannot find the user's settings".to_string())
    })
}

/// Reads and parses `path`; a missing file is an empty object.
fn read(path: &Path) -> Result<(Node, bool), ExitError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok((Node::Obj(vec![]), false));
        }
        Err(e) => return Err(ExitError::failure(format!("{}: {e}", path.display()))),
    };
    let node = hook_settings::parse(&text)
        .map_err(|e| ExitError::config(format!("{}: {e} (nothing was written)", path.display())))?;
    Ok((node, true))
}

/// Writes `text` to `path` atomically, keeping the old file's permissions.
fn write_atomic(path: &Path, text: &str) -> Result<(), ExitError> {
    let fail = |e: std::io::Error| ExitError::failure(format!("{}: {e}", path.display()));
    let dir = path
        .parent()
        .ok_or_else(|| ExitError::failure(format!("{}: no parent directory", path.display())))?;
    std::fs::create_dir_all(dir).map_err(fail)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.gaffer-{}.tmp", std::process::id()));
    let result = (|| {
        std::fs::write(&tmp, text)?;
        if let Ok(meta) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, meta.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

fn gaffer_path() -> Result<String, ExitError> {
    let exe = std::env::current_exe()
        .and_then(std::fs::canonicalize)
        .map_err(|e| ExitError::failure(format!("cannot find the gaffer binary's path: {e}")))?;
    Ok(exe.display().to_string())
}

#[derive(Serialize)]
struct Change {
    agent: String,
    file: String,
    added: Vec<String>,
    updated: Vec<String>,
    unchanged: Vec<String>,
    removed: Vec<String>,
    written: bool,
}

fn install(global: &GlobalArgs, agent: &str, scope: &HooksScope) -> anyhow::Result<i32> {
    let agent = agent_code(agent)?;
    let path = target(global, agent, scope)?;
    let (mut node, _) = read(&path)?;
    let gaffer = gaffer_path()?;
    let report = hook_settings::install(&mut node, agent, &gaffer)
        .map_err(|e| ExitError::config(format!("{}: {e} (nothing was written)", path.display())))?;
    let written = report.changed();
    if written {
        write_atomic(&path, &hook_settings::render(&node))?;
    }
    if !scope.user {
        // The hook records into the nearest .gaffer/ above the agent's directory.
        let dir = config_load::project_root(global).join(".gaffer");
        std::fs::create_dir_all(&dir)
            .map_err(|e| ExitError::failure(format!("{}: {e}", dir.display())))?;
    }
    let change = Change {
        agent: agent.into(),
        file: path.display().to_string(),
        added: report.added,
        updated: report.updated,
        unchanged: report.unchanged,
        removed: Vec::new(),
        written,
    };
    Output::of(global).print(&change, || {
        if change.written {
            say!(
                "{}: installed gaffer's {} hooks ({} added, {} updated, {} already there)",
                change.file,
                agent,
                change.added.len(),
                change.updated.len(),
                change.unchanged.len()
            );
        } else {
            say!(
                "{}: gaffer's {agent} hooks are already installed",
                change.file
            );
        }
        if agent == "cod" {
            say!(
                "note: Codex runs new hooks only once they are trusted: review them with /hooks \
                 in Codex (project hooks also need a trusted project)"
            );
        }
        if agent == "gmi" && !scope.user {
            say!("note: Gemini runs project hooks only in a trusted folder");
        }
    })?;
    Ok(exit::SUCCESS)
}

fn uninstall(global: &GlobalArgs, agent: Option<&str>, scope: &HooksScope) -> anyhow::Result<i32> {
    let agents: Vec<&str> = match agent {
        Some(a) => vec![agent_code(a)?],
        None => AGENTS.to_vec(),
    };
    let mut changes = Vec::new();
    for agent in agents {
        let path = target(global, agent, scope)?;
        let (mut node, exists) = read(&path)?;
        let removed: Vec<Installed> = if exists {
            hook_settings::uninstall(&mut node)
        } else {
            Vec::new()
        };
        let written = !removed.is_empty();
        if written {
            write_atomic(&path, &hook_settings::render(&node))?;
        }
        changes.push(Change {
            agent: agent.into(),
            file: path.display().to_string(),
            added: Vec::new(),
            updated: Vec::new(),
            unchanged: Vec::new(),
            removed: removed.into_iter().map(|r| r.event).collect(),
            written,
        });
    }
    Output::of(global).print(&changes, || {
        for c in &changes {
            if c.written {
                say!("{}: removed {} gaffer hooks", c.file, c.removed.len());
            } else {
                say!("{}: no gaffer hooks", c.file);
            }
        }
    })?;
    Ok(exit::SUCCESS)
}

#[derive(Serialize)]
struct StatusRow {
    agent: String,
    scope: &'static str,
    file: String,
    exists: bool,
    /// Events with gaffer's hook, out of `expected`.
    installed: Vec<String>,
    expected: usize,
    /// The gaffer binaries the commands run, and whether each exists.
    binaries: Vec<(String, bool)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize)]
struct StatusReport {
    files: Vec<StatusRow>,
    /// The last signal of each pane in the project's ledger.
    last_signals: Vec<Signal>,
}

fn status(global: &GlobalArgs, agent: Option<&str>) -> anyhow::Result<i32> {
    let agents: Vec<&str> = match agent {
        Some(a) => vec![agent_code(a)?],
        None => AGENTS.to_vec(),
    };
    let root = config_load::project_root(global);
    let mut rows = Vec::new();
    for agent in agents {
        for (scope, project) in [("project", Some(root.as_path())), ("user", None)] {
            let Some(path) = settings_path(agent, project) else {
                continue;
            };
            let (found, exists, error) = match read(&path) {
                Ok((node, exists)) => (hook_settings::installed(&node), exists, None),
                Err(e) => (Vec::new(), true, Some(e.message)),
            };
            let mut binaries: Vec<(String, bool)> = Vec::new();
            for i in &found {
                let bin = program_of(&i.command);
                if !binaries.iter().any(|(b, _)| b == &bin) {
                    let ok = Path::new(&bin).is_file();
                    binaries.push((bin, ok));
                }
            }
            rows.push(StatusRow {
                agent: agent.into(),
                scope,
                file: path.display().to_string(),
                exists,
                installed: found.into_iter().map(|i| i.event).collect(),
                expected: installed_events(agent).len(),
                binaries,
                error,
            });
        }
    }
    let last_signals: Vec<Signal> = adapters::signal_feed(global)
        .pane_signals()
        .into_values()
        .filter_map(|p| p.newest().cloned())
        .filter(|s| agent.is_none_or(|a| agent_code(a).is_ok_and(|c| c == s.agent)))
        .collect();
    let report = StatusReport {
        files: rows,
        last_signals,
    };
    Output::of(global).print(&report, || {
        for r in &report.files {
            let state = if let Some(e) = &r.error {
                format!("unreadable: {e}")
            } else if !r.exists {
                "no file".to_string()
            } else if r.installed.is_empty() {
                "not installed".to_string()
            } else {
                format!("{}/{} events", r.installed.len(), r.expected)
            };
            say!("{:<4} {:<8} {:<60} {state}", r.agent, r.scope, r.file);
            for (b, ok) in &r.binaries {
                if !ok {
                    say!("     warning: the hooks run {b}, which does not exist");
                }
            }
        }
        if !report.last_signals.is_empty() {
            say!("last signal per pane:");
        }
        for s in &report.last_signals {
            say!(
                "  {:<5} {:<4} {:<18} {} {}",
                s.pane_id,
                s.agent,
                s.event.as_str(),
                gaffer_core::time::format_rfc3339(&s.at),
                s.detail.as_deref().unwrap_or("")
            );
        }
    })?;
    Ok(exit::SUCCESS)
}

/// The program of an installed command (its first word, unquoted).
fn program_of(command: &str) -> String {
    if let Some(q) = command.strip_prefix('\'') {
        let mut out = String::new();
        let mut rest = q;
        loop {
            match rest.find('\'') {
                Some(end) => {
                    out.push_str(&rest[..end]);
                    rest = &rest[end + 1..];
                    if let Some(r) = rest.strip_prefix("\\''") {
                        out.push('\'');
                        rest = r;
                    } else {
                        return out;
                    }
                }
                None => return out + rest,
            }
        }
    }
    command.split(' ').next().unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_of_quoted_and_bare_commands() {
        assert_eq!(program_of("/a/gaffer hook --agent cc Stop"), "/a/gaffer");
        let cmd = hook_settings::command("/x y/it's/gaffer", "cc", "Stop");
        assert_eq!(program_of(&cmd), "/x y/it's/gaffer");
    }

    #[test]
    fn settings_paths_per_agent() {
        let p = Path::new("/p");
        assert_eq!(
            settings_path("cc", Some(p)),
            Some(PathBuf::from("/p/.claude/settings.json"))
        );
        assert_eq!(
            settings_path("cod", Some(p)),
            Some(PathBuf::from("/p/.codex/hooks.json"))
        );
        assert_eq!(
            settings_path("gmi", Some(p)),
            Some(PathBuf::from("/p/.gemini/settings.json"))
        );
        assert_eq!(settings_path("xx", Some(p)), None);
    }
}
