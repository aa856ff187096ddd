//! Agent type from the process tree, for panes whose foreground command is a wrapper
//! (`node`, `bun`, `python`, a shell…) and whose title says nothing: Gemini CLI runs under
//! `node`, some Codex installs under `bun` (spec observation.md §1.5, §7.1).
//!
//! Linux only (`/proc/<pid>/task/<tid>/children` and `/proc/<pid>/cmdline`); elsewhere, or when
//! `/proc` cannot be read, nothing is found. No process is spawned.

use gaffer_core::pane::{USER_TYPE, agent_type_from_command};
use std::collections::VecDeque;

/// Commands that may host an agent.
pub const WRAPPERS: &[&str] = &[
    "node", "bun", "npx", "deno", "python", "python3", "sh", "bash", "zsh", "fish", "dash",
];

/// How deep below the pane's process to look, and how many children per process.
const MAX_DEPTH: usize = 4;
const MAX_CHILDREN: usize = 8;

/// Classifies an argv (NUL-separated `/proc/<pid>/cmdline`) by its program and, under a
/// wrapper, its script (the first two elements), with the rules of the command fallback.
pub fn agent_type_from_argv(argv: &[&str]) -> Option<&'static str> {
    argv.iter()
        .take(2)
        .map(|a| agent_type_from_command(a))
        .find(|t| *t != USER_TYPE)
}

/// Whether `pid` has a child process (false when `/proc` cannot be read: nothing is claimed).
pub fn has_children(pid: u32) -> Option<bool> {
    std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    Some(!children(pid).is_empty())
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        let path = t.path().join("children");
        if let Ok(s) = std::fs::read_to_string(path) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
        if out.len() >= MAX_CHILDREN {
            break;
        }
    }
    out.truncate(MAX_CHILDREN);
    out
}

fn argv(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Looks for an agent in the processes under `pid` (the pane's first process), breadth first.
pub fn agent_under(pid: u32) -> Option<&'static str> {
    if pid == 0 {
        return None;
    }
    let mut queue: VecDeque<(u32, usize)> = VecDeque::from([(pid, 0)]);
    let mut seen = 0;
    while let Some((p, depth)) = queue.pop_front() {
        seen += 1;
        if seen > 64 {
            break;
        }
        let args = argv(p);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        if let Some(t) = agent_type_from_argv(&refs) {
            return Some(t);
        }
        if depth < MAX_DEPTH {
            queue.extend(children(p).into_iter().map(|c| (c, depth + 1)));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argv_classification() {
        assert_eq!(
            agent_type_from_argv(&[
                "node",
                "/usr/lib/node_modules/@google/gemini-cli/dist/index.js"
            ]),
            Some("gmi")
        );
        assert_eq!(
            agent_type_from_argv(&["npx", "@google/gemini-cli"]),
            Some("gmi")
        );
        assert_eq!(agent_type_from_argv(&["bun", "/opt/codex"]), Some("cod"));
        assert_eq!(agent_type_from_argv(&["claude", "--resume"]), Some("cc"));
        assert_eq!(agent_type_from_argv(&["python3", "server.py"]), None);
        // Later arguments do not count: `python3 build.py cc` is not Claude.
        assert_eq!(agent_type_from_argv(&["python3", "build.py", "cc"]), None);
        assert_eq!(agent_type_from_argv(&[]), None);
    }

    #[cfg(unix)]
    #[test]
    fn finds_an_agent_below_this_process() {
        // This test process itself is not an agent; a child named like one is found.
        use std::os::unix::process::CommandExt;
        let mut child = match std::process::Command::new("sleep")
            .arg0("/usr/local/bin/codex")
            .arg("5")
            .spawn()
        {
            Ok(c) => c,
            Err(_) => return,
        };
        let me = std::process::id();
        let mut found = None;
        for _ in 0..50 {
            found = agent_under(me);
            if found.is_some() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        if std::path::Path::new("/proc/self/task").exists() {
            assert_eq!(found, Some("cod"));
        }
    }
}
