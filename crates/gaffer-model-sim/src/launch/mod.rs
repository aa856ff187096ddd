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
        self.shell_command_keeping(&[])
    }

    /// [`shell_command`](Self::shell_command), passing on the pane shell's own values of
    /// `keep` (e.g. `TMUX_PANE`, which tmux sets in the pane and hooks need).
    pub fn shell_command_keeping(&self, keep: &[&str]) -> String {
        let mut s = format!(
            "cd {} && exec env -i",
            shell_quote(&self.cwd.display().to_string())
        );
        for k in keep {
            if !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                s.push_str(&format!(" {k}=\"${k}\""));
            }
        }
        for (k, v) in &self.env {
            s.push(' ');
            s.push_str(&shell_quote(&format!("{k}={v}")));
        }
        for a in &self.argv {
            s.push(' ');
            s.push_str(&shell_quote(a));
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

/// Where one CLI's module writes its config: the throwaway HOME, the project, the CLI's config
/// directory under HOME (created), the model server and the test's options.
struct Setup<'a> {
    home: &'a Path,
    cwd: &'a Path,
    dir: PathBuf,
    model_url: &'a str,
    opts: &'a LaunchOptions,
}

/// What one CLI's module adds to the launch: arguments after the executable, PATH entries
/// before the standard ones, and its own environment (before the test's `opts.env`).
struct Cli {
    args: Vec<String>,
    extra_path: Vec<PathBuf>,
    env: Vec<(String, String)>,
}

/// Writes `value` as pretty JSON to `path`.
fn write_json(path: &Path, value: &serde_json::Value) -> std::io::Result<()> {
    std::fs::write(path, serde_json::to_vec_pretty(value)?)
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
    let code = gaffer_core::kinds::registry().canonical(kind);
    type Configure = fn(&Setup<'_>) -> std::io::Result<Cli>;
    let (config_dir, configure): (&str, Configure) = match code.as_str() {
        "cc" => (".claude", cc::configure),
        "cod" => (".codex", cod::configure),
        "gmi" => (".gemini", gmi::configure),
        other => {
            return Err(std::io::Error::other(format!(
                "no real agent of kind {other}"
            )));
        }
    };
    let (_, exe) = crate::agents::require(&code);
    let dir = home.join(config_dir);
    std::fs::create_dir_all(&dir)?;
    std::fs::create_dir_all(cwd)?;
    let cli = configure(&Setup {
        home,
        cwd,
        dir,
        model_url,
        opts,
    })?;
    let mut argv = vec![exe.display().to_string()];
    argv.extend(cli.args);
    let mut env = base_env(home, &cli.extra_path);
    env.extend(cli.env);
    env.extend(opts.env.iter().cloned());
    Ok(Launch {
        home: home.to_path_buf(),
        cwd: cwd.to_path_buf(),
        argv,
        env,
    })
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The network interfaces of this process's network namespace (from `/proc/self/net/dev`;
/// `/sys/class/net` shows the namespace sysfs was mounted in, not this one).
pub fn interfaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string("/proc/self/net/dev")
        .unwrap_or_default()
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty())
        .collect();
    v.sort();
    v
}

/// The pids of `root` and all its descendants (from `/proc`), root first.
pub fn process_tree(root: i32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`: comm may hold spaces and parentheses.
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                .and_then(|p| p.parse::<i32>().ok());
            if let Some(ppid) = ppid {
                parent_of.push((pid, ppid));
            }
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

/// Ends `root` and all its descendants: SIGTERM first, so shells run their exit traps (a
/// login shell killed outright can leave a lock behind, e.g. pyenv's rehash lock, and stall
/// every later shell), then SIGKILL for whatever is still there after a short grace (an agent
/// CLI may ignore both SIGHUP and SIGTERM). The tree is read once, before any signal, so a
/// child re-parented by its parent's death is still reached.
pub fn kill_tree(root: i32) {
    let tree = process_tree(root);
    for pid in &tree {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(*pid, libc::SIGTERM) };
    }
    let alive = |pid: &i32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    };
    let grace = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while tree.iter().any(alive) && std::time::Instant::now() < grace {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    for pid in tree.iter().filter(|p| alive(p)) {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(*pid, libc::SIGKILL) };
    }
}
