//! A real agent CLI, ready to launch: a throwaway HOME with the config that skips onboarding
//! and points it at the scripted model server, and the exact command line (`env -i` plus only
//! what the CLI needs), so a user's own configuration is never read or written.

pub mod cc;
pub mod cod;
pub mod gmi;

use std::path::{Path, PathBuf};

/// Everything one launch needs.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The throwaway HOME (inside the test's temp dir).
    pub home: PathBuf,
    /// The working directory (the project).
    pub cwd: PathBuf,
    /// The program and its arguments.
    pub argv: Vec<String>,
    /// The whole environment (the process gets nothing else).
    pub env: Vec<(String, String)>,
}

impl Launch {
    /// A shell command line for a tmux pane: `cd CWD && exec env -i K=V… PROGRAM ARGS…`.
    pub fn shell_command(&self) -> String {
        let mut s = format!(
            "cd {} && exec env -i",
            crate::shell_quote(&self.cwd.display().to_string())
        );
        for (k, v) in &self.env {
            s.push(' ');
            s.push_str(&crate::shell_quote(&format!("{k}={v}")));
        }
        for a in &self.argv {
            s.push(' ');
            s.push_str(&crate::shell_quote(a));
        }
        s
    }
}

/// Options a test can set for a launch.
#[derive(Debug, Clone, Default)]
pub struct LaunchOptions {
    /// Leave out the config that skips the first-run dialogs (trust, sign-in, key), to see them.
    pub first_run: bool,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Allow the tools the scripted model calls without asking (for end-to-end runs).
    pub allow_tools: bool,
    /// The model's context window to configure, where the CLI takes one.
    pub context_window: Option<u64>,
}

/// The environment every CLI gets: HOME, PATH (node and the test's tools), TERM, LANG.
pub fn base_env(home: &Path, extra_path: &[PathBuf]) -> Vec<(String, String)> {
    let mut path: Vec<String> = extra_path.iter().map(|p| p.display().to_string()).collect();
    path.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(String::from));
    vec![
        ("HOME".into(), home.display().to_string()),
        ("PATH".into(), path.join(":")),
        ("TERM".into(), "xterm-256color".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("USER".into(), "gaffer".into()),
        ("SHELL".into(), "/bin/bash".into()),
    ]
}

/// The start every CLI's `prepare` shares: the pinned executable of `kind` (panics if it is not
/// installed), with `home/config_dir` and `cwd` created; returns the executable and that
/// config directory.
fn config_dirs(
    kind: &str,
    home: &Path,
    cwd: &Path,
    config_dir: &str,
) -> std::io::Result<(PathBuf, PathBuf)> {
    let (_, exe) = crate::agents::require(kind);
    let dir = home.join(config_dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::create_dir_all(cwd)?;
    Ok((exe, dir))
}

/// Writes `value` as pretty JSON to `path`.
fn write_json(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
}

/// The end every CLI's `prepare` shares: the launch of `argv` with [`base_env`] (`extra_path`
/// first on PATH), then the CLI's own `env`, then the test's `opts.env`.
fn launch(
    home: &Path,
    cwd: &Path,
    argv: Vec<String>,
    extra_path: &[PathBuf],
    env: Vec<(String, String)>,
    opts: &LaunchOptions,
) -> Launch {
    let mut all = base_env(home, extra_path);
    all.extend(env);
    all.extend(opts.env.iter().cloned());
    Launch {
        home: home.to_path_buf(),
        cwd: cwd.to_path_buf(),
        argv,
        env: all,
    }
}

/// Prepares a launch of the pinned CLI of `kind` (a code or alias of the kind registry)
/// against the model server at `model_url`. Each pinned CLI has its own module, since each
/// writes its own config files.
pub fn prepare(
    kind: &str,
    home: &Path,
    cwd: &Path,
    model_url: &str,
    opts: &LaunchOptions,
) -> std::io::Result<Launch> {
    match gaffer_core::kinds::registry().canonical(kind).as_str() {
        "cc" => cc::prepare(home, cwd, model_url, opts),
        "cod" => cod::prepare(home, cwd, model_url, opts),
        "gmi" => gmi::prepare(home, cwd, model_url, opts),
        other => Err(std::io::Error::other(format!(
            "no real agent of kind {other}"
        ))),
    }
}
