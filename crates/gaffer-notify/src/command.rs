//! The command channel: `sh -c COMMAND` with the notification as JSON on stdin and
//! `GAFFER_NOTIFY_*` variables in its environment; killed with its process group past its time
//! limit. Also the bounded runner the desktop channel uses.

use crate::channel::{Channel, SendError};
use gaffer_core::notify::Notification;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Bytes of a program's stderr kept for the error message.
const STDERR_KEPT: usize = 4096;

/// How a bounded run ended.
#[derive(Debug)]
pub enum Ran {
    /// The program exited; its status and the start of its stderr.
    Exited(ExitStatus, String),
    /// The program could not start (`NotFound` when it is not installed).
    NotStarted(std::io::Error),
    /// The time limit passed; its process group was killed.
    TimedOut,
}

/// Runs `cmd` in its own process group with `stdin` as its input, stdout discarded and stderr
/// kept (capped), for at most `limit`.
pub fn run_bounded(mut cmd: Command, stdin: &[u8], limit: Duration) -> Ran {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return Ran::NotStarted(e),
    };
    // Input and stderr on threads: a program that reads nothing or writes a lot cannot stall us.
    let input = stdin.to_vec();
    let writer = child.stdin.take().map(|mut w| {
        std::thread::spawn(move || {
            let _ = w.write_all(&input);
        })
    });
    let reader = child.stderr.take().map(|mut r| {
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = r.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = STDERR_KEPT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            String::from_utf8_lossy(&kept).into_owned()
        })
    });
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break None,
        }
    };
    let Some(status) = status else {
        let pgid = child.id() as libc::pid_t;
        // SAFETY: kill(2) on the process group this function created; no memory is involved.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        // The threads end once the group is gone and the pipes close; not waited for.
        return Ran::TimedOut;
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    let stderr = reader.and_then(|r| r.join().ok()).unwrap_or_default();
    Ran::Exited(status, stderr)
}

/// The command channel.
pub struct CommandChannel {
    command: String,
    timeout: Duration,
}

impl CommandChannel {
    /// Runs `command` with `sh -c`, at most `timeout` each time.
    pub fn new(command: &str, timeout: Duration) -> CommandChannel {
        CommandChannel {
            command: command.to_string(),
            timeout,
        }
    }
}

impl Channel for CommandChannel {
    fn name(&self) -> &str {
        "command"
    }

    fn send(&mut self, n: &Notification) -> Result<(), SendError> {
        let json = serde_json::to_vec(n).map_err(|e| SendError::Permanent(e.to_string()))?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(&self.command);
        cmd.env("GAFFER_NOTIFY_KIND", &n.kind)
            .env("GAFFER_NOTIFY_TITLE", &n.title)
            .env("GAFFER_NOTIFY_MESSAGE", &n.message)
            .env("GAFFER_NOTIFY_PRIORITY", n.priority.to_string())
            .env("GAFFER_NOTIFY_TAGS", n.tags.join(","))
            .env("GAFFER_NOTIFY_AGENT", &n.agent_id)
            .env("GAFFER_NOTIFY_SUBJECT", &n.subject)
            .env(
                "GAFFER_NOTIFY_EVENT",
                n.event
                    .as_ref()
                    .map(|e| e.event_type.as_str().to_string())
                    .unwrap_or_default(),
            );
        match run_bounded(cmd, &json, self.timeout) {
            Ran::Exited(s, _) if s.success() => Ok(()),
            Ran::Exited(s, err) => Err(SendError::Transient(format!(
                "the notify command failed ({s}){}",
                first_line(&err)
            ))),
            Ran::NotStarted(e) => Err(SendError::Missing(format!(
                "the notify command could not start: sh: {e}"
            ))),
            Ran::TimedOut => Err(SendError::Transient(format!(
                "the notify command ran past {:?} and was killed",
                self.timeout
            ))),
        }
    }
}

/// `: <first line>` of a program's stderr, or nothing.
pub(crate) fn first_line(s: &str) -> String {
    match s.lines().map(str::trim).find(|l| !l.is_empty()) {
        Some(l) => format!(": {}", gaffer_core::escapes::strip(l)),
        None => String::new(),
    }
}
