//! The demo's environment: the tools it needs, its project directory, its mailbox recipient,
//! and the clean-up of all of it.

use crate::error::ExitError;
use gaffer_core::mailbox::{AgentRegistration, Mailbox};
use std::path::{Path, PathBuf};

/// Finds gaffer-sim: next to this executable, then on PATH.
pub fn find_sim() -> Result<PathBuf, ExitError> {
    let name = "gaffer-sim";
    if let Ok(me) = std::env::current_exe() {
        if let Some(dir) = me.parent() {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(ExitError::unavailable(
        "gaffer-sim not found next to the gaffer executable or on PATH; build it with \
         `cargo build --release --bin gaffer-sim` (scripts/demo.sh does)",
    ))
}

/// tmux is installed.
pub fn check_tmux() -> Result<(), ExitError> {
    match std::process::Command::new("tmux").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(ExitError::unavailable(
            "tmux is not installed; install it (apt-get install tmux, brew install tmux) \
             or run scripts/demo.sh, which installs it when run as root",
        )),
    }
}

/// Kills the demo's tmux server and removes its directory (unless kept), even on early return.
pub struct Cleanup {
    socket: String,
    dir: PathBuf,
    keep: bool,
    done: bool,
}

impl Cleanup {
    /// Cleans up the tmux server on `socket` and `dir` (unless `keep`).
    pub fn new(socket: &str, dir: &Path, keep: bool) -> Self {
        Cleanup {
            socket: socket.to_string(),
            dir: dir.to_path_buf(),
            keep,
            done: false,
        }
    }
}

impl Cleanup {
    /// Cleans up now (once).
    pub fn run(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

/// Registers the digest's recipient: `Human` when the mailbox accepts that name, else a
/// generated one.
pub fn register_human(mb: &dyn Mailbox, project: &str) -> String {
    let reg = |name: Option<String>| AgentRegistration {
        name,
        program: "human".into(),
        model: "human".into(),
        task_description: "the person watching the demo".into(),
    };
    match mb.register_agent(project, &reg(Some("Human".into()))) {
        Ok(info) => info.name,
        Err(_) => mb
            .register_agent(project, &reg(None))
            .map(|i| i.name)
            .unwrap_or_else(|_| "Human".into()),
    }
}

/// Creates the demo project: `dir` (which must be empty when the user named it) or a fresh
/// temporary directory, with `.beads/` and `.gaffer/demo/`. Returns its canonical path.
pub fn project_dir(named: Option<&Path>, pid: u32) -> anyhow::Result<PathBuf> {
    let dir = empty_dir(named, "gaffer-demo", pid)?;
    std::fs::create_dir_all(dir.join(".beads"))?;
    Ok(dir)
}

/// Creates a demo's directory: `named` (which must be empty) or a fresh temporary one named
/// `{prefix}-{pid}-{millis}`, with `.gaffer/demo/`. Returns its canonical path.
pub fn empty_dir(named: Option<&Path>, prefix: &str, pid: u32) -> anyhow::Result<PathBuf> {
    let dir = match named {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d).map(|mut r| r.next().is_some())? {
                return Err(ExitError::usage(format!(
                    "--project-dir {} exists and is not empty",
                    d.display()
                ))
                .into());
            }
            d.to_path_buf()
        }
        None => std::env::temp_dir().join(format!(
            "{prefix}-{pid}-{}",
            chrono::Utc::now().timestamp_millis()
        )),
    };
    std::fs::create_dir_all(dir.join(".gaffer/demo"))?;
    Ok(std::fs::canonicalize(&dir)?)
}
