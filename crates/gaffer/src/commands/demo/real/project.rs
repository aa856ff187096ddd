//! The beads project of the real-agents demo: its tasks (a dependency chain), made with `br`
//! when it is on PATH, else written as JSONL; and the coordinator's config.

use super::SESSION;
use crate::error::ExitError;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;

/// One task of the project: the file it writes, its title's rest, priority, blockers (indices).
pub struct Task {
    /// The file, relative to the project root.
    pub file: &'static str,
    /// What it is.
    pub what: &'static str,
    /// br priority.
    pub priority: u8,
    /// Indices of the tasks that block it.
    pub blocked_by: &'static [usize],
}

/// The tasks: a dependency chain (model → api → search, store → search → changelog).
pub const TASKS: [Task; 5] = [
    Task {
        file: "notes/model.txt",
        what: "the note model",
        priority: 1,
        blocked_by: &[],
    },
    Task {
        file: "notes/store.txt",
        what: "the storage layer",
        priority: 1,
        blocked_by: &[],
    },
    Task {
        file: "notes/api.txt",
        what: "the HTTP API",
        priority: 2,
        blocked_by: &[0],
    },
    Task {
        file: "notes/search.txt",
        what: "search over notes",
        priority: 2,
        blocked_by: &[1, 2],
    },
    Task {
        file: "notes/changelog.txt",
        what: "the release notes",
        priority: 3,
        blocked_by: &[3],
    },
];

/// A task's title: the file is in it, so the scripted model and gaffer's reservation find it.
pub fn task_title(t: &Task) -> String {
    format!("Write {} ({})", t.file, t.what)
}

/// Runs `br ARGS` in `dir`, JSON out.
fn br_json(br: &Path, dir: &Path, args: &[&str]) -> Result<Value, ExitError> {
    let out = std::process::Command::new(br)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "error")
        .output()
        .map_err(|e| ExitError::unavailable(format!("br cannot run: {e}")))?;
    if !out.status.success() {
        return Err(ExitError::unavailable(format!(
            "br {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| ExitError::failure(format!("br {args:?} printed no JSON: {e}")))
}

/// Writes the beads project in a new git repository: with `br` (`br init`, `br create`) when
/// given, else the JSONL directly. Returns the bead ids, in [`TASKS`] order.
fn write_beads(dir: &Path, br: Option<&Path>) -> Result<Vec<String>, ExitError> {
    let _ = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match br {
        Some(br) => create_with_br(dir, br),
        None => write_jsonl(dir),
    }
}

/// Creates the beads with `br init` and `br create`.
fn create_with_br(dir: &Path, br: &Path) -> Result<Vec<String>, ExitError> {
    br_json(br, dir, &["init", "--prefix", "rl", "--json"])?;
    let mut ids: Vec<String> = Vec::new();
    for t in &TASKS {
        let title = task_title(t);
        let prio = t.priority.to_string();
        let deps: Vec<String> = t
            .blocked_by
            .iter()
            .filter_map(|i| ids.get(*i))
            .map(|id| format!("blocks:{id}"))
            .collect();
        let mut args = vec![
            "create",
            title.as_str(),
            "-t",
            "task",
            "-p",
            prio.as_str(),
            "-d",
            t.what,
        ];
        let deps = deps.join(",");
        if !deps.is_empty() {
            args.extend(["--deps", deps.as_str()]);
        }
        args.push("--json");
        let v = br_json(br, dir, &args)?;
        let id = v["id"]
            .as_str()
            .ok_or_else(|| ExitError::failure(format!("br create printed no id: {v}")))?;
        ids.push(id.to_string());
    }
    Ok(ids)
}

/// Writes `.beads/issues.jsonl` directly, ids `rl-1`…
fn write_jsonl(dir: &Path) -> Result<Vec<String>, ExitError> {
    std::fs::create_dir_all(dir.join(".beads"))
        .map_err(|e| ExitError::failure(format!("{}: {e}", dir.display())))?;
    let created = gaffer_core::time::format_rfc3339(&chrono::Utc::now());
    let mut ids: Vec<String> = Vec::new();
    let mut text = String::new();
    for (i, t) in TASKS.iter().enumerate() {
        let id = format!("rl-{}", i + 1);
        let deps: Vec<Value> = t
            .blocked_by
            .iter()
            .map(|b| {
                json!({"issue_id": id, "depends_on_id": format!("rl-{}", b + 1), "type": "blocks",
                       "created_at": created, "created_by": "demo"})
            })
            .collect();
        let line = json!({
            "id": id, "title": task_title(t), "description": t.what, "status": "open",
            "priority": t.priority, "issue_type": "task", "created_at": created,
            "updated_at": created, "dependencies": deps,
        });
        text.push_str(&line.to_string());
        text.push('\n');
        ids.push(id);
    }
    std::fs::write(dir.join(".beads/issues.jsonl"), text)
        .map_err(|e| ExitError::failure(format!("writing the beads: {e}")))?;
    Ok(ids)
}

/// The project's beads, made.
pub struct Project {
    /// The bead ids, in [`TASKS`] order.
    pub bead_ids: Vec<String>,
}

impl Project {
    /// Makes the project in `dir`: a git repository, its beads (with `br` when given) and the
    /// directories its files go in (not every CLI's file tool makes missing parents).
    pub fn create(dir: &Path, br: Option<&Path>) -> Result<Self, ExitError> {
        let bead_ids = write_beads(dir, br)?;
        for t in &TASKS {
            if let Some(parent) = Path::new(t.file).parent() {
                let d = dir.join(parent);
                std::fs::create_dir_all(&d)
                    .map_err(|e| ExitError::failure(format!("{}: {e}", d.display())))?;
            }
        }
        Ok(Project { bead_ids })
    }

    /// bead → (title, file).
    pub fn titles_by_bead(&self) -> BTreeMap<String, (String, &'static str)> {
        self.bead_ids
            .iter()
            .zip(TASKS.iter())
            .map(|(id, t)| (id.clone(), (task_title(t), t.file)))
            .collect()
    }
}

/// Writes `.gaffer/config.toml`: the private session, a fast coordinator with auto-assign and
/// digests to `human`.
pub fn write_config(dir: &Path, socket: &str, human: &str) -> Result<(), ExitError> {
    let config = format!(
        "[tmux]\nsocket_name = \"{socket}\"\nsession = \"{SESSION}\"\n\n\
         [coordinator]\npoll_interval = \"500ms\"\nidle_threshold = 3.0\n\
         digest_interval = \"15s\"\nauto_assign = true\nsend_digests = true\n\
         human_agent = \"{human}\"\n\n[assign]\ndelivery_deadline = \"30s\"\n"
    );
    std::fs::write(dir.join(".gaffer/config.toml"), config)
        .map_err(|e| ExitError::failure(format!("writing the config: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tasks_form_a_chain() {
        for (i, t) in TASKS.iter().enumerate() {
            assert!(t.blocked_by.iter().all(|b| *b < i), "{}", t.file);
            assert!(
                regex_free_title_has_file(&task_title(t), t.file),
                "{}",
                t.file
            );
        }
        assert!(TASKS.iter().filter(|t| t.blocked_by.is_empty()).count() >= 2);
        assert!(TASKS.iter().any(|t| t.blocked_by.len() > 1));
    }

    fn regex_free_title_has_file(title: &str, file: &str) -> bool {
        title.starts_with(&format!("Write {file} "))
    }
}
