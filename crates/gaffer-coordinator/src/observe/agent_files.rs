//! [`LocalAgentFiles`]: the [`AgentFiles`] port over the local filesystem and `/proc`.
//!
//! For each agent pane it finds
//! * the transcript: the path in the pane's latest hook signal; without hooks, for Claude Code
//!   the session file's `sessionId` under `<config>/projects/`, for Codex the rollout file the
//!   process holds open (`/proc/<pid>/fd`);
//! * Claude Code's per-process session file `<config>/sessions/<pid>.json` (`status`, guarded
//!   against pid reuse by `procStart`, the process's start time in clock ticks from
//!   `/proc/<pid>/stat`), for the `claude` process under the pane's process.
//!
//! `<config>` is the process's `CLAUDE_CONFIG_DIR`, else `$HOME/.claude`, read from
//! `/proc/<pid>/environ`. Linux only; elsewhere nothing is found. Every read is bounded.

use super::transcript::{TranscriptKind, TranscriptTail};
use gaffer_core::Timestamp;
use gaffer_core::agent_files::{AgentFileReadings, AgentFiles, ContextWindows};
use gaffer_core::panes::PaneInfo;
use gaffer_core::signals::{PaneSignals, SessionFileStatus};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Largest session file read.
const MAX_SESSION_FILE: u64 = 256 * 1024;
/// Processes looked at below a pane's process.
const MAX_PROCS: usize = 64;
/// Open files looked at per process.
const MAX_FDS: usize = 512;

/// Reads agents' transcripts and session files from this machine.
pub struct LocalAgentFiles {
    windows: ContextWindows,
    tails: Mutex<HashMap<String, TranscriptTail>>,
}

impl LocalAgentFiles {
    /// A reader with the given window table.
    pub fn new(windows: ContextWindows) -> Self {
        LocalAgentFiles {
            windows,
            tails: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets the panes not in `live` (their readers' offsets).
    pub fn retain(&self, live: &[String]) {
        let mut tails = self.tails.lock().unwrap_or_else(|p| p.into_inner());
        tails.retain(|k, _| live.contains(k));
    }
}

/// What a Claude Code session file says.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaudeSession {
    /// The file.
    pub path: PathBuf,
    /// `status`: `busy`, `idle`, `waiting`, `shell`.
    pub status: Option<String>,
    /// `sessionId`.
    pub session_id: Option<String>,
    /// `cwd`.
    pub cwd: Option<String>,
    /// The file's mtime.
    pub at: Timestamp,
}

/// Parses a Claude Code session file; `None` when it belongs to another process that had the
/// same pid (its `procStart` differs from `proc_start`) or is not a JSON object.
pub fn parse_claude_session(
    text: &str,
    proc_start: Option<&str>,
    path: &Path,
    at: Timestamp,
) -> Option<ClaudeSession> {
    let v: Value = serde_json::from_str(text).ok()?;
    let obj = v.as_object()?;
    let field = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
    if let (Some(theirs), Some(ours)) = (field("procStart"), proc_start)
        && theirs != ours
    {
        return None;
    }
    Some(ClaudeSession {
        path: path.to_path_buf(),
        status: field("status"),
        session_id: field("sessionId"),
        cwd: field("cwd"),
        at,
    })
}

/// Claude Code's project folder name for a working directory.
pub fn claude_project_dir(cwd: &str) -> String {
    cwd.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for t in tasks.flatten().take(64) {
        if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
            out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    out
}

fn argv(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            b.split(|c| *c == 0)
                .filter(|s| !s.is_empty())
                .take(4)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The processes at and below `pid`, breadth first, bounded.
fn tree(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if pid == 0 {
        return out;
    }
    let mut queue = VecDeque::from([(pid, 0usize)]);
    while let Some((p, depth)) = queue.pop_front() {
        out.push(p);
        if out.len() >= MAX_PROCS {
            break;
        }
        if depth < 5 {
            queue.extend(children(p).into_iter().map(|c| (c, depth + 1)));
        }
    }
    out
}

/// The first process at or below `pid` whose program (or script) is of agent type `kind`.
fn agent_pid(pid: u32, kind: &str) -> Option<u32> {
    tree(pid).into_iter().find(|&p| {
        argv(p)
            .iter()
            .take(2)
            .any(|a| gaffer_core::pane::agent_type_from_command(a) == kind)
    })
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks), as Claude Code records it.
fn proc_start(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // the command (field 2) may hold spaces and parentheses: count from the last ')'
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19).map(str::to_string)
}

fn environ_var(pid: u32, key: &str) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    let prefix = format!("{key}=");
    raw.split(|c| *c == 0)
        .map(String::from_utf8_lossy)
        .find_map(|kv| kv.strip_prefix(&prefix).map(str::to_string))
        .filter(|v| !v.is_empty())
}

fn claude_config_dir(pid: u32) -> Option<PathBuf> {
    environ_var(pid, "CLAUDE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| environ_var(pid, "HOME").map(|h| PathBuf::from(h).join(".claude")))
}

/// The context window a Claude Code process was started with
/// (`CLAUDE_CODE_AUTO_COMPACT_WINDOW` in its environment), if any.
fn claude_window(pane_pid: u32) -> Option<u64> {
    let pid = agent_pid(pane_pid, "cc")?;
    environ_var(pid, "CLAUDE_CODE_AUTO_COMPACT_WINDOW")?
        .trim()
        .parse()
        .ok()
        .filter(|w| *w > 0)
}

fn mtime(path: &Path) -> Option<(Timestamp, u64)> {
    let m = std::fs::metadata(path).ok()?;
    Some((Timestamp::from(m.modified().ok()?), m.len()))
}

/// The session file of the Claude Code process under `pane_pid`, and its config dir.
fn claude_session(pane_pid: u32) -> Option<(ClaudeSession, PathBuf)> {
    let pid = agent_pid(pane_pid, "cc")?;
    let dir = claude_config_dir(pid)?;
    let path = dir.join("sessions").join(format!("{pid}.json"));
    let (at, len) = mtime(&path)?;
    if len > MAX_SESSION_FILE {
        tracing::warn!(path = %path.display(), len, "session file too large, not read");
        return None;
    }
    let text = std::fs::read_to_string(&path).ok()?;
    let parsed = parse_claude_session(&text, proc_start(pid).as_deref(), &path, at);
    if parsed.is_none() {
        tracing::debug!(path = %path.display(), "session file of another process (pid reuse) or not JSON");
    }
    Some((parsed?, dir))
}

fn claude_transcript(dir: &Path, s: &ClaudeSession) -> Option<PathBuf> {
    let id = s.session_id.as_deref()?;
    if id.contains('/') || id.contains("..") {
        return None;
    }
    let file = format!("{id}.jsonl");
    if let Some(cwd) = &s.cwd {
        let p = dir
            .join("projects")
            .join(claude_project_dir(cwd))
            .join(&file);
        if p.is_file() {
            return Some(p);
        }
    }
    // a long path is shortened differently: look for the session in every project
    std::fs::read_dir(dir.join("projects"))
        .ok()?
        .flatten()
        .take(1000)
        .map(|e| e.path().join(&file))
        .find(|p| p.is_file())
}

/// The rollout file a Codex process under `pane_pid` holds open.
fn codex_rollout(pane_pid: u32) -> Option<PathBuf> {
    for pid in tree(pane_pid) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten().take(MAX_FDS) {
            if let Ok(target) = std::fs::read_link(fd.path()) {
                let name = target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if name.starts_with("rollout-") && name.ends_with(".jsonl") {
                    return Some(target);
                }
            }
        }
    }
    None
}

impl AgentFiles for LocalAgentFiles {
    fn read(&self, pane: &PaneInfo, signals: &PaneSignals) -> AgentFileReadings {
        let code = gaffer_core::detect::canonical_kind(&pane.agent_type);
        let Some(kind) = TranscriptKind::of_agent(code) else {
            return AgentFileReadings::default();
        };
        let mut out = AgentFileReadings::default();
        let session = match kind {
            TranscriptKind::Claude => claude_session(pane.pid),
            _ => None,
        };
        if let Some((s, _)) = &session {
            out.session_file = s.status.as_ref().map(|status| SessionFileStatus {
                status: status.clone(),
                at: s.at,
            });
        }
        let from_hook = signals
            .last
            .values()
            .filter(|s| s.transcript_path.is_some())
            .max_by_key(|s| (s.at, s.seq))
            .and_then(|s| s.transcript_path.clone());
        let path = from_hook.or_else(|| match kind {
            TranscriptKind::Claude => session
                .as_ref()
                .and_then(|(s, dir)| claude_transcript(dir, s)),
            TranscriptKind::Codex => codex_rollout(pane.pid),
            TranscriptKind::Gemini => None,
        });
        let Some(path) = path else {
            return out;
        };
        let mut tails = self.tails.lock().unwrap_or_else(|p| p.into_inner());
        let tail = tails
            .entry(pane.pane_id.clone())
            .or_insert_with(|| TranscriptTail::new(&path, kind));
        if tail.path() != path {
            *tail = TranscriptTail::new(&path, kind);
        }
        let process_window = match kind {
            TranscriptKind::Claude => claude_window(pane.pid),
            _ => None,
        };
        match tail.poll() {
            Ok(()) => out.context = tail.reading_with(&self.windows, process_window),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "transcript not readable")
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn session_files_are_guarded_against_pid_reuse() {
        let text = r#"{"pid":42,"sessionId":"abc","cwd":"/w/p","startedAt":1,"procStart":"777","kind":"interactive","status":"busy"}"#;
        let p = Path::new("/x/sessions/42.json");
        let now = Utc::now();
        let s = parse_claude_session(text, Some("777"), p, now).unwrap();
        assert_eq!(s.status.as_deref(), Some("busy"));
        assert_eq!(s.session_id.as_deref(), Some("abc"));
        assert_eq!(parse_claude_session(text, Some("778"), p, now), None);
        assert!(parse_claude_session(text, None, p, now).is_some());
        assert_eq!(parse_claude_session("[1]", None, p, now), None);
        assert_eq!(parse_claude_session("{", None, p, now), None);
    }

    #[test]
    fn project_dirs_replace_every_non_alphanumeric() {
        assert_eq!(claude_project_dir("/tmp/x.y/my_proj"), "-tmp-x-y-my-proj");
    }

    #[test]
    fn this_processs_start_time_is_read() {
        let me = std::process::id();
        let st = proc_start(me);
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(
                st.as_deref().is_some_and(|s| s.parse::<u64>().is_ok()),
                "{st:?}"
            );
        }
    }

    #[test]
    fn a_claude_process_session_file_and_transcript_are_found() {
        // a fake `claude` (a sleep named so) with its own HOME
        use std::os::unix::process::CommandExt;
        let home = tempfile::tempdir().unwrap();
        let mut child = match std::process::Command::new("sleep")
            .arg0("claude")
            .arg("20")
            .env("HOME", home.path())
            .env_remove("CLAUDE_CONFIG_DIR")
            .spawn()
        {
            Ok(c) => c,
            Err(_) => return,
        };
        let pid = child.id();
        // `spawn` returns once the kernel has switched the child to its new image, a moment
        // before it fills in the new command line: wait (bounded) until /proc shows it
        for _ in 0..200 {
            if !argv(pid).is_empty() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let dir = home.path().join(".claude");
        std::fs::create_dir_all(dir.join("sessions")).unwrap();
        let cwd = "/work/proj.x";
        let start = proc_start(pid).unwrap_or_default();
        std::fs::write(
            dir.join("sessions").join(format!("{pid}.json")),
            format!(
                r#"{{"pid":{pid},"sessionId":"s-1","cwd":"{cwd}","procStart":"{start}","status":"idle"}}"#
            ),
        )
        .unwrap();
        let proj = dir.join("projects").join(claude_project_dir(cwd));
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::write(
            proj.join("s-1.jsonl"),
            r#"{"type":"assistant","message":{"model":"claude-sonnet-4-5","usage":{"input_tokens":3,"cache_creation_input_tokens":1000,"cache_read_input_tokens":19000,"output_tokens":5}}}
"#,
        )
        .unwrap();
        let files = LocalAgentFiles::new(ContextWindows::builtin());
        let pane = PaneInfo {
            pane_id: "%7".into(),
            agent_type: "cc".into(),
            pid,
            ..PaneInfo::default()
        };
        let r = files.read(&pane, &PaneSignals::default());
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(r.session_file.map(|s| s.status).as_deref(), Some("idle"));
        let c = r.context.unwrap();
        assert_eq!((c.tokens, c.window), (20_003, 200_000));
        assert!((c.percent - 10.0015).abs() < 1e-9);
        // a user pane or an unknown kind reads nothing
        let user = PaneInfo {
            agent_type: "user".into(),
            ..pane
        };
        assert_eq!(
            files.read(&user, &PaneSignals::default()),
            AgentFileReadings::default()
        );
    }
}
