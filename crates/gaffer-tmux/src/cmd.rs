//! Running tmux: always an argv (no shell), always a timeout, always the chosen socket.

use crate::ssh::{ChannelSlot, SshHost};
use gaffer_core::hash::fnv1a64;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Which tmux server to talk to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Socket {
    /// tmux's default server.
    #[default]
    Default,
    /// `-L name`: a named socket in tmux's socket directory.
    Name(String),
    /// `-S path`: a socket path.
    Path(PathBuf),
}

impl Socket {
    /// From config values: a path wins over a name; both empty is the default server.
    pub fn from_config(name: &str, path: &str) -> Self {
        if !path.is_empty() {
            Socket::Path(PathBuf::from(path))
        } else if !name.is_empty() {
            Socket::Name(name.to_string())
        } else {
            Socket::Default
        }
    }

    /// The global arguments that select this socket.
    pub fn args(&self) -> Vec<String> {
        match self {
            Socket::Default => Vec::new(),
            Socket::Name(n) => vec!["-L".into(), n.clone()],
            Socket::Path(p) => vec!["-S".into(), p.display().to_string()],
        }
    }
}

/// Errors of one tmux command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TmuxError {
    /// The binary could not be started.
    #[error("cannot run {binary}: {message}")]
    Spawn {
        /// Binary path.
        binary: String,
        /// OS error.
        message: String,
    },
    /// No server is running on the socket (or it cannot be reached).
    #[error("tmux server unavailable: {0}")]
    NoServer(String),
    /// A target does not exist.
    #[error("tmux: {0}")]
    NotFound(String),
    /// The command ran past its timeout and was killed.
    #[error("tmux {command} timed out after {timeout:?}")]
    Timeout {
        /// The tmux command name.
        command: String,
        /// The timeout.
        timeout: Duration,
    },
    /// Non-zero exit.
    #[error("tmux {command} failed (status {status}): {stderr}")]
    Failed {
        /// The tmux command name.
        command: String,
        /// Exit status.
        status: i32,
        /// Stderr, trimmed.
        stderr: String,
        /// Stdout, kept because a failing command list may have printed part of its output.
        stdout: String,
    },
}

impl TmuxError {
    /// Classifies a non-zero exit from its stderr.
    fn classify(command: &str, status: i32, stderr: String, stdout: String) -> TmuxError {
        let s = stderr.as_str();
        if s.contains("no server running")
            || s.contains("error connecting to")
            || s.contains("No such file or directory")
            || s.contains("server exited unexpectedly")
        {
            TmuxError::NoServer(stderr)
        } else if (s.contains("can't find") || s.contains("no such") || s.contains("no sessions"))
            && stdout.is_empty()
        {
            TmuxError::NotFound(stderr)
        } else {
            TmuxError::Failed {
                command: command.to_string(),
                status,
                stderr,
                stdout,
            }
        }
    }
}

impl From<TmuxError> for gaffer_core::panes::PanesError {
    fn from(e: TmuxError) -> Self {
        use gaffer_core::panes::PanesError;
        match e {
            TmuxError::Spawn { .. } | TmuxError::NoServer(_) => {
                PanesError::Unavailable(e.to_string())
            }
            TmuxError::NotFound(m) => PanesError::NotFound(m),
            TmuxError::Timeout { .. } => PanesError::Timeout(e.to_string()),
            TmuxError::Failed { .. } => PanesError::Failed(e.to_string()),
        }
    }
}

/// A tmux client: binary, socket, timeout, and a count of processes spawned; local, or on
/// another host over its one SSH connection ([`crate::ssh::SshHost`]).
#[derive(Debug, Clone)]
pub struct Tmux {
    binary: String,
    socket: Socket,
    timeout: Duration,
    spawned: Arc<AtomicU64>,
    remote: Option<Arc<SshHost>>,
}

/// Finds the tmux binary: `GAFFER_TMUX` when set, else `tmux` on `PATH`.
pub fn default_binary() -> String {
    match std::env::var("GAFFER_TMUX") {
        Ok(v) if !v.is_empty() => v,
        _ => "tmux".to_string(),
    }
}

impl Tmux {
    /// A client for `socket` with a per-command `timeout`.
    pub fn new(socket: Socket, timeout: Duration) -> Self {
        Tmux {
            binary: default_binary(),
            socket,
            timeout,
            spawned: Arc::new(AtomicU64::new(0)),
            remote: None,
        }
    }

    /// A client for the tmux server on `socket` of another host, reached over `host`'s
    /// connection (the remote binary is `tmux` on the remote `PATH`).
    pub fn remote(socket: Socket, timeout: Duration, host: Arc<SshHost>) -> Self {
        Tmux {
            binary: "tmux".to_string(),
            socket,
            timeout,
            spawned: Arc::new(AtomicU64::new(0)),
            remote: Some(host),
        }
    }

    /// The host's connection when this server is on another host.
    pub fn host(&self) -> Option<&Arc<SshHost>> {
        self.remote.as_ref()
    }

    /// Whether the server is on another host (its panes' processes are not in local `/proc`).
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// The process that runs `tmux <socket> args…`: tmux itself, or a channel on the host's
    /// connection (connecting first when needed). `slot` takes one of the host's command
    /// channels (not for the long-lived control client).
    pub(crate) fn command<S: AsRef<str>>(
        &self,
        args: &[S],
        slot: bool,
    ) -> Result<(Command, Option<ChannelSlot<'_>>), TmuxError> {
        match &self.remote {
            None => {
                let mut cmd = Command::new(&self.binary);
                cmd.args(self.argv(args)).env_remove("TMUX");
                Ok((cmd, None))
            }
            Some(host) => {
                let slot = if slot {
                    Some(host.channel(self.timeout)?)
                } else {
                    None
                };
                host.connect()?;
                // `-u`: an ssh session usually has no locale, and without UTF-8 tmux turns
                // every control character (our list delimiters) and non-ASCII byte into `_`.
                let mut remote = vec![self.binary.clone(), "-u".to_string()];
                remote.extend(self.argv(args));
                Ok((host.command(&remote), slot))
            }
        }
    }

    /// The socket in use.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The binary in use.
    pub fn binary(&self) -> &str {
        &self.binary
    }

    /// The per-command timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many tmux processes this client (and its clones) have spawned.
    pub fn processes_spawned(&self) -> u64 {
        self.spawned.load(Ordering::Relaxed)
    }

    /// Counts a process spawned elsewhere (the control-mode client).
    pub(crate) fn count_spawn(&self) {
        self.spawned.fetch_add(1, Ordering::Relaxed);
    }

    /// The full argv (after the binary) for `args`.
    pub fn argv<S: AsRef<str>>(&self, args: &[S]) -> Vec<String> {
        let mut v = self.socket.args();
        v.extend(args.iter().map(|a| a.as_ref().to_string()));
        v
    }

    /// Runs `tmux <socket> args…`, returns stdout (untrimmed).
    pub fn run<S: AsRef<str>>(&self, args: &[S]) -> Result<String, TmuxError> {
        self.run_with_input(args, None)
    }

    /// Runs with `input` written to stdin.
    pub fn run_with_input<S: AsRef<str>>(
        &self,
        args: &[S],
        input: Option<&[u8]>,
    ) -> Result<String, TmuxError> {
        let mut tries = 0;
        loop {
            match self.run_once(args, input) {
                // sshd refused the channel (`MaxSessions`: a channel just closed may still be
                // counted there): the command never ran, so it is safe to try again.
                Err(TmuxError::Failed { stderr, .. })
                    if self.remote.is_some()
                        && crate::ssh::session_refused(&stderr)
                        && tries < 5 =>
                {
                    tries += 1;
                    tracing::debug!(tries, "ssh channel refused; trying again");
                    std::thread::sleep(Duration::from_millis(50 * tries));
                }
                Err(TmuxError::Failed {
                    stderr,
                    status: 255,
                    ..
                }) if self.remote.is_some() => {
                    // ssh's own failure (the connection is gone, the master refused us).
                    return Err(TmuxError::NoServer(format!("ssh: {stderr}")));
                }
                r => return r,
            }
        }
    }

    fn run_once<S: AsRef<str>>(
        &self,
        args: &[S],
        input: Option<&[u8]>,
    ) -> Result<String, TmuxError> {
        let name = args
            .first()
            .map(|a| a.as_ref().to_string())
            .unwrap_or_default();
        let (mut cmd, _slot) = self.command(args, true)?;
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| TmuxError::Spawn {
            binary: self.binary.clone(),
            message: e.to_string(),
        })?;
        self.spawned.fetch_add(1, Ordering::Relaxed);
        let writer = match (input, child.stdin.take()) {
            (Some(data), Some(mut stdin)) => {
                let data = data.to_vec();
                Some(std::thread::spawn(move || {
                    let _ = stdin.write_all(&data);
                }))
            }
            _ => None,
        };
        let limit = gaffer_core::limits::MAX_TMUX_OUTPUT_BYTES;
        let out_reader = child.stdout.take().map(|mut o| {
            std::thread::spawn(move || {
                let (buf, dropped) = read_capped(&mut o, limit);
                if dropped {
                    tracing::warn!(limit, "tmux output over the limit: the rest was dropped");
                }
                buf
            })
        });
        let err_reader = child
            .stderr
            .take()
            .map(|mut o| std::thread::spawn(move || read_capped(&mut o, limit).0));
        let start = Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(st)) => break st,
                Ok(None) if start.elapsed() >= self.timeout => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(TmuxError::Timeout {
                        command: name,
                        timeout: self.timeout,
                    });
                }
                Ok(None) => std::thread::sleep(poll_step(start.elapsed())),
                Err(e) => {
                    return Err(TmuxError::Spawn {
                        binary: self.binary.clone(),
                        message: e.to_string(),
                    });
                }
            }
        };
        if let Some(w) = writer {
            let _ = w.join();
        }
        let stdout = out_reader.and_then(|h| h.join().ok()).unwrap_or_default();
        let stderr = err_reader.and_then(|h| h.join().ok()).unwrap_or_default();
        let stdout = String::from_utf8_lossy(&stdout).into_owned();
        if status.success() {
            Ok(stdout)
        } else {
            let stderr = String::from_utf8_lossy(&stderr).trim().to_string();
            Err(TmuxError::classify(
                &name,
                status.code().unwrap_or(-1),
                stderr,
                stdout,
            ))
        }
    }

    /// Whether a session exists.
    pub fn has_session(&self, session: &str) -> Result<bool, TmuxError> {
        match self.run(&["has-session", "-t", &exact_session(session)]) {
            Ok(_) => Ok(true),
            Err(TmuxError::NotFound(_)) | Err(TmuxError::NoServer(_)) => Ok(false),
            Err(TmuxError::Failed { stderr, .. }) if stderr.contains("can't find") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Kills the whole server on this socket and removes a socket file tmux left behind
    /// (tests and benchmarks).
    pub fn kill_server(&self) -> Result<(), TmuxError> {
        let path = self
            .run(&["display-message", "-p", "#{socket_path}"])
            .map(|p| p.trim().to_string())
            .unwrap_or_default();
        let r = match self.run(&["kill-server"]) {
            Ok(_) | Err(TmuxError::NoServer(_)) => Ok(()),
            Err(e) => Err(e),
        };
        if !path.is_empty() && !matches!(self.socket, Socket::Default) && self.remote.is_none() {
            let _ = std::fs::remove_file(&path);
        }
        r
    }
}

/// Reads `r` to its end, keeping at most `limit` bytes (the rest is read and dropped, so the
/// writer never blocks on a full pipe); true when something was dropped.
fn read_capped(r: &mut impl Read, limit: usize) -> (Vec<u8>, bool) {
    let mut kept = Vec::new();
    let mut dropped = false;
    let mut buf = [0u8; 64 * 1024];
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = limit.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                dropped |= n > room;
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    (kept, dropped)
}

/// Short sleeps first so fast commands return fast, then back off to 5 ms.
fn poll_step(elapsed: Duration) -> Duration {
    if elapsed < Duration::from_millis(5) {
        Duration::from_micros(200)
    } else if elapsed < Duration::from_millis(50) {
        Duration::from_millis(1)
    } else {
        Duration::from_millis(5)
    }
}

/// An exact-match session target: tmux resolves bare names by prefix, `=name` does not; the
/// trailing `:` makes it valid where a window or pane is expected too.
pub fn exact_session(session: &str) -> String {
    if session.starts_with(['$', '@', '%', '=']) {
        session.to_string()
    } else {
        format!("={session}:")
    }
}

/// A unique token for buffer names and batch delimiters: pid, time and a counter, mixed.
pub fn unique_token() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let pid = std::process::id() as u64;
    let mix = fnv1a64(&[nanos.to_le_bytes(), pid.to_le_bytes(), seq.to_le_bytes()].concat());
    format!("{pid:x}{seq:x}{mix:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_args() {
        assert!(Socket::from_config("", "").args().is_empty());
        assert_eq!(Socket::from_config("x", "").args(), vec!["-L", "x"]);
        assert_eq!(
            Socket::from_config("x", "/tmp/s").args(),
            vec!["-S", "/tmp/s"]
        );
    }

    #[test]
    fn exact_targets() {
        assert_eq!(exact_session("proj"), "=proj:");
        assert_eq!(exact_session("%3"), "%3");
        assert_eq!(exact_session("=p"), "=p");
    }

    #[test]
    fn tokens_differ() {
        assert_ne!(unique_token(), unique_token());
    }

    #[test]
    fn classify_errors() {
        assert!(matches!(
            TmuxError::classify("x", 1, "no server running on /tmp/x".into(), String::new()),
            TmuxError::NoServer(_)
        ));
        assert!(matches!(
            TmuxError::classify("x", 1, "can't find pane: %9".into(), String::new()),
            TmuxError::NotFound(_)
        ));
        assert!(matches!(
            TmuxError::classify("x", 1, "can't find pane: %9".into(), "partial".into()),
            TmuxError::Failed { .. }
        ));
    }

    #[test]
    fn missing_binary_is_spawn_error() {
        let mut t = Tmux::new(Socket::Name("x".into()), Duration::from_secs(1));
        t.binary = "/nonexistent/tmux-binary".into();
        assert!(matches!(
            t.run(&["list-panes"]),
            Err(TmuxError::Spawn { .. })
        ));
    }
}
