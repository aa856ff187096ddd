//! tmux on another machine, over ONE multiplexed SSH connection per host.
//!
//! [`SshHost`] owns one OpenSSH ControlMaster (`ssh -M -N`, a child of this process) per host.
//! Every tmux command for the host is a new channel on it (`ssh -S <path> -o ControlMaster=no`),
//! and the control-mode client is one long-lived channel too, so the host costs one TCP
//! connection and one authentication whatever the number of panes. The channel clients run
//! with `-F none` and `ProxyCommand=false`: when the master is gone they fail, they never open
//! a connection of their own. Everything runs with `BatchMode=yes`, placed before the user's
//! options so it cannot be undone: nothing ever prompts (a passphrase-protected key works
//! through ssh-agent, `SSH_AUTH_SOCK` of gaffer's environment). The user's `ssh_options` (and `~/.ssh/config`) apply to the
//! master, which makes the connection.
//!
//! sshd allows `MaxSessions` (default 10) channels at once per connection; at most
//! [`MAX_CHANNELS`] commands run at once on a host (the control client holds one more), so a
//! burst of deliveries waits for a free channel instead of being refused.
//!
//! A master that died (network down, sshd restarted, host rebooted) is started again on the
//! next command, no sooner than its back-off ([`backoff`]: 1 s doubling to 30 s) after a
//! failed attempt. A master that dies within [`STABLE_AFTER`] of connecting counts as a failed
//! attempt too, so a host that accepts and drops connections is not hammered; the count goes
//! back to zero once a connection has stayed up that long.
//!
//! [`SshMode::Direct`] (a new connection per command, no master) exists only to measure the
//! alternatives side by side (`benches/ssh_transport.rs`).

use crate::cmd::TmuxError;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Commands running at once on one host's connection (sshd's default `MaxSessions` is 10;
/// the control-mode client holds one channel more).
pub const MAX_CHANNELS: usize = 8;

/// First back-off after a failed connection attempt.
pub const BACKOFF_MIN: Duration = Duration::from_secs(1);
/// Longest back-off between connection attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// A master that dies sooner than this after connecting counts as a failed attempt (a host
/// that accepts and then drops the connection is retried with back-off, not in a tight loop).
pub const STABLE_AFTER: Duration = Duration::from_secs(10);

/// The wait before the next attempt after `failures` failed ones in a row (at least one):
/// [`BACKOFF_MIN`] doubling up to [`BACKOFF_MAX`].
pub fn backoff(failures: u32) -> Duration {
    BACKOFF_MIN
        .saturating_mul(1u32 << failures.saturating_sub(1).min(5))
        .min(BACKOFF_MAX)
}

/// Where and how to reach a host (a `[[hosts]]` entry's SSH part).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshDestination {
    /// Host name or address (or a `~/.ssh/config` alias).
    pub host: String,
    /// Login user; `None` lets ssh decide.
    pub user: Option<String>,
    /// Port; `None` lets ssh decide.
    pub port: Option<u16>,
    /// Private key file (`-i`).
    pub identity: Option<PathBuf>,
    /// Arguments passed to ssh as they are (`-o ProxyJump=…`, `-F file`, …), before the
    /// destination.
    pub options: Vec<String>,
}

impl SshDestination {
    /// The ssh arguments naming this destination, options first, destination last.
    pub fn args(&self) -> Vec<String> {
        let mut v = self.options.clone();
        if let Some(i) = &self.identity {
            v.push("-i".into());
            v.push(i.display().to_string());
        }
        if let Some(p) = self.port {
            v.push("-p".into());
            v.push(p.to_string());
        }
        v.push(match &self.user {
            Some(u) => format!("{u}@{}", self.host),
            None => self.host.clone(),
        });
        v
    }
}

/// How commands reach the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SshMode {
    /// One ControlMaster; each command a channel on it (the transport gaffer uses).
    Multiplexed,
    /// A new SSH connection per command (measurements only: this is what hits `MaxStartups`
    /// and costs a handshake per command).
    Direct,
}

#[derive(Default)]
struct Master {
    child: Option<Child>,
    /// When the running master connected.
    up_since: Option<Instant>,
    failures: u32,
    retry_at: Option<Instant>,
    last_error: String,
}

/// One host's SSH connection: the ControlMaster and its channel limit.
pub struct SshHost {
    name: String,
    dest: SshDestination,
    mode: SshMode,
    dir: PathBuf,
    control_path: PathBuf,
    connect_timeout: Duration,
    master: Mutex<Master>,
    connections: AtomicU64,
    busy: Mutex<usize>,
    freed: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Quotes a word for the remote shell (ssh joins its command words with spaces and hands the
/// line to the login shell).
pub fn sh_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'/' | b'=' | b':' | b',' | b'@' | b'%' | b'+'
                )
        });
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Whether ssh's stderr says sshd refused to open the channel (too many sessions at once).
pub fn session_refused(stderr: &str) -> bool {
    stderr.contains("Session open refused") || stderr.contains("no more sessions")
}

impl SshHost {
    /// A host reached through `dest`; nothing connects until the first command.
    /// `connect_timeout` bounds making the connection.
    pub fn new(
        name: &str,
        dest: SshDestination,
        mode: SshMode,
        connect_timeout: Duration,
    ) -> Result<Self, TmuxError> {
        // A short private directory: a unix socket path has at most 107 bytes.
        let dir = std::env::temp_dir().join(format!("gaffer-ssh-{}", crate::cmd::unique_token()));
        let made = std::fs::create_dir(&dir).and_then(|_| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        });
        made.map_err(|e| TmuxError::Spawn {
            binary: "ssh".into(),
            message: format!("control directory {}: {e}", dir.display()),
        })?;
        Ok(SshHost {
            name: name.to_string(),
            dest,
            mode,
            control_path: dir.join("cm"),
            dir,
            connect_timeout,
            master: Mutex::new(Master::default()),
            connections: AtomicU64::new(0),
            busy: Mutex::new(0),
            freed: Condvar::new(),
        })
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The destination.
    pub fn destination(&self) -> &SshDestination {
        &self.dest
    }

    /// The mode.
    pub fn mode(&self) -> SshMode {
        self.mode
    }

    /// SSH connections this host has started: masters (multiplexed) or one per command (direct).
    pub fn connections_started(&self) -> u64 {
        self.connections.load(Ordering::SeqCst)
    }

    /// The ControlMaster's socket.
    pub fn control_path(&self) -> &Path {
        &self.control_path
    }

    /// Whether the master is running now (multiplexed mode).
    pub fn is_connected(&self) -> bool {
        let mut m = lock(&self.master);
        match m.child.as_mut().map(|c| c.try_wait()) {
            Some(Ok(None)) => self.control_path.exists(),
            _ => false,
        }
    }

    /// Makes sure the master runs: starts it when it is not running and its back-off has
    /// passed, and waits (at most the connect timeout) until its socket answers.
    pub fn connect(&self) -> Result<(), TmuxError> {
        if self.mode == SshMode::Direct {
            return Ok(());
        }
        let mut m = lock(&self.master);
        if let Some(c) = m.child.as_mut() {
            match c.try_wait() {
                Ok(None) if self.control_path.exists() => return Ok(()),
                Ok(None) => {}
                _ => {
                    m.child = None;
                    let lived = m.up_since.take().map(|t| t.elapsed()).unwrap_or_default();
                    if lived < STABLE_AFTER {
                        // Dropped right after connecting: back off as after a failed attempt.
                        m.failures = m.failures.saturating_add(1);
                        let wait = backoff(m.failures);
                        m.retry_at = Some(Instant::now() + wait);
                        m.last_error = format!("the connection dropped after {lived:.1?}");
                        tracing::warn!(host = %self.name, ?lived, ?wait, "ssh connection lost soon after connecting");
                    } else {
                        m.failures = 0;
                        tracing::info!(host = %self.name, ?lived, "ssh connection lost");
                    }
                }
            }
        }
        if let Some(at) = m.retry_at
            && Instant::now() < at
        {
            return Err(TmuxError::NoServer(format!(
                "host {} unreachable (next attempt in {:.1} s): {}",
                self.name,
                at.saturating_duration_since(Instant::now()).as_secs_f64(),
                m.last_error
            )));
        }
        if let Some(mut c) = m.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.control_path);
        match self.start_master() {
            Ok(child) => {
                m.child = Some(child);
                m.up_since = Some(Instant::now());
                // The failure count is reset when this connection is found lost after staying
                // up STABLE_AFTER: one that drops at once keeps the back-off growing.
                m.retry_at = None;
                tracing::info!(host = %self.name, "ssh connection up");
                Ok(())
            }
            Err(e) => {
                m.failures = m.failures.saturating_add(1);
                let wait = backoff(m.failures);
                m.retry_at = Some(Instant::now() + wait);
                m.last_error = e.to_string();
                tracing::warn!(host = %self.name, error = %e, backoff = ?wait, "ssh connection failed");
                Err(e)
            }
        }
    }

    fn start_master(&self) -> Result<Child, TmuxError> {
        let secs = self.connect_timeout.as_secs().max(1).to_string();
        let mut cmd = Command::new("ssh");
        // BatchMode first (ssh keeps the first value given): a key that needs a passphrase, a
        // password or an unknown host key fails at once instead of prompting on the terminal
        // (or through SSH_ASKPASS) and blocking; keys come from the agent or unencrypted files.
        cmd.args(["-o", "BatchMode=yes"])
            .args(["-M", "-N", "-T", "-o", "ControlMaster=yes", "-o"])
            .arg(format!("ControlPath={}", self.control_path.display()))
            .args(["-o", "ControlPersist=no", "-o", "ServerAliveInterval=5"])
            .args(["-o", "ServerAliveCountMax=3", "-o"])
            .arg(format!("ConnectTimeout={secs}"))
            .args(self.dest.args())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| TmuxError::Spawn {
            binary: "ssh".into(),
            message: e.to_string(),
        })?;
        self.connections.fetch_add(1, Ordering::SeqCst);
        let end = Instant::now() + self.connect_timeout + Duration::from_secs(1);
        loop {
            match child.try_wait() {
                Ok(Some(st)) => {
                    let mut err = String::new();
                    if let Some(mut e) = child.stderr.take() {
                        use std::io::Read;
                        let _ = (&mut e).take(16 * 1024).read_to_string(&mut err);
                    }
                    return Err(TmuxError::NoServer(format!(
                        "ssh to {} exited ({st}): {}",
                        self.name,
                        err.trim()
                    )));
                }
                Ok(None) if self.control_path.exists() => {
                    // The master's stderr stays a pipe nobody reads: it writes little (errors
                    // at LogLevel's default), far below a pipe's buffer, and it must not get
                    // SIGPIPE. Drain it on a thread to be safe.
                    if let Some(mut e) = child.stderr.take() {
                        let name = self.name.clone();
                        let _ = std::thread::Builder::new()
                            .name(format!("gaffer-ssh-{name}"))
                            .spawn(move || {
                                use std::io::{BufRead, BufReader};
                                let r = BufReader::new(&mut e);
                                for line in r.lines().map_while(Result::ok) {
                                    tracing::debug!(host = %name, "ssh: {line}");
                                }
                            });
                    }
                    return Ok(child);
                }
                Ok(None) if Instant::now() >= end => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(TmuxError::NoServer(format!(
                        "ssh to {} did not connect within {:?}",
                        self.name, self.connect_timeout
                    )));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                Err(e) => {
                    return Err(TmuxError::Spawn {
                        binary: "ssh".into(),
                        message: e.to_string(),
                    });
                }
            }
        }
    }

    /// The command that runs `remote` (an argv, quoted here for the remote shell) on the host:
    /// a channel on the master, or a new connection in direct mode. Call
    /// [`connect`](Self::connect) first.
    pub fn command(&self, remote: &[String]) -> Command {
        self.build(remote, false)
    }

    /// Like [`command`](Self::command), with a terminal (`ssh -t`): for a human at this
    /// terminal, such as attaching to the host's tmux session. Call
    /// [`connect`](Self::connect) first.
    pub fn interactive(&self, remote: &[String]) -> Command {
        self.build(remote, true)
    }

    fn build(&self, remote: &[String], tty: bool) -> Command {
        let tty = if tty { "-t" } else { "-T" };
        let line = remote
            .iter()
            .map(|w| sh_quote(w))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("ssh");
        match self.mode {
            SshMode::Multiplexed => {
                cmd.args(["-F", "none", tty, "-o", "ControlMaster=no", "-o"])
                    .arg(format!("ControlPath={}", self.control_path.display()))
                    .args(["-o", "ProxyCommand=false", "-o", "BatchMode=yes"])
                    .arg(format!("gaffer-host-{}", self.name));
            }
            SshMode::Direct => {
                self.connections.fetch_add(1, Ordering::SeqCst);
                cmd.arg(tty).args(self.dest.args());
            }
        }
        cmd.arg("--").arg(line);
        cmd
    }

    /// Takes one of the host's [`MAX_CHANNELS`] command slots, waiting at most `timeout`.
    pub fn channel(&self, timeout: Duration) -> Result<ChannelSlot<'_>, TmuxError> {
        let end = Instant::now() + timeout;
        let mut busy = lock(&self.busy);
        while *busy >= MAX_CHANNELS {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(TmuxError::Timeout {
                    command: format!("ssh channel to {}", self.name),
                    timeout,
                });
            }
            busy = match self.freed.wait_timeout(busy, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        *busy += 1;
        Ok(ChannelSlot { host: self })
    }

    /// Runs `sh -c script` on the host as one channel of its connection (connecting first when
    /// needed), `input` on its stdin; returns stdout. Killed after `timeout`.
    pub fn shell(
        &self,
        script: &str,
        input: Option<&[u8]>,
        timeout: Duration,
    ) -> Result<String, TmuxError> {
        let _slot = self.channel(timeout)?;
        self.connect()?;
        let mut cmd = self.command(&["sh".into(), "-c".into(), script.to_string()]);
        let out = run_bounded(&mut cmd, input, timeout, "ssh sh -c")?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
            Err(match out.status.code() {
                Some(255) => TmuxError::NoServer(format!("ssh to {}: {stderr}", self.name)),
                code => TmuxError::Failed {
                    command: "sh -c".into(),
                    status: code.unwrap_or(-1),
                    stderr,
                    stdout: String::new(),
                },
            })
        }
    }

    /// Asks the running master to forward the unix socket `remote` on the host to `local` here
    /// (`ssh -O forward -R remote:local`): the same connection, no new session. Lost with the
    /// master; forward again after a reconnect ([`connections_started`](Self::connections_started)
    /// tells). The remote path must not exist (sshd does not replace it by default).
    pub fn forward_socket(
        &self,
        remote: &str,
        local: &Path,
        timeout: Duration,
    ) -> Result<(), TmuxError> {
        let mut cmd = Command::new("ssh");
        cmd.args(["-F", "none", "-S"])
            .arg(&self.control_path)
            .args(["-O", "forward", "-R"])
            .arg(format!("{remote}:{}", local.display()))
            .arg(format!("gaffer-host-{}", self.name));
        let out = run_bounded(&mut cmd, None, timeout, "ssh -O forward")?;
        if out.status.success() {
            Ok(())
        } else {
            Err(TmuxError::Failed {
                command: "ssh -O forward".into(),
                status: out.status.code().unwrap_or(-1),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
                stdout: String::new(),
            })
        }
    }

    /// Ends the connection.
    pub fn disconnect(&self) {
        let mut m = lock(&self.master);
        m.up_since = None;
        if let Some(mut c) = m.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_file(&self.control_path);
    }
}

/// Runs `cmd` with `input` on stdin, collecting its output (at most 64 MiB each), killing it
/// after `timeout`.
fn run_bounded(
    cmd: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
    what: &str,
) -> Result<std::process::Output, TmuxError> {
    use std::io::{Read, Write};
    cmd.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| TmuxError::Spawn {
        binary: "ssh".into(),
        message: e.to_string(),
    })?;
    let writer = match (input, child.stdin.take()) {
        (Some(data), Some(mut stdin)) => {
            let data = data.to_vec();
            Some(std::thread::spawn(move || {
                let _ = stdin.write_all(&data);
            }))
        }
        _ => None,
    };
    let read = |r: Option<Box<dyn Read + Send>>| {
        r.map(|mut r| {
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let _ = (&mut r).take(64 << 20).read_to_end(&mut buf);
                buf
            })
        })
    };
    let out = read(
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
    );
    let err = read(
        child
            .stderr
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
    );
    let end = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() >= end => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(TmuxError::Timeout {
                    command: what.to_string(),
                    timeout,
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                return Err(TmuxError::Spawn {
                    binary: "ssh".into(),
                    message: e.to_string(),
                });
            }
        }
    };
    if let Some(w) = writer {
        let _ = w.join();
    }
    Ok(std::process::Output {
        status,
        stdout: out.and_then(|h| h.join().ok()).unwrap_or_default(),
        stderr: err.and_then(|h| h.join().ok()).unwrap_or_default(),
    })
}

/// A command slot on a host's connection, given back on drop.
pub struct ChannelSlot<'a> {
    host: &'a SshHost,
}

impl Drop for ChannelSlot<'_> {
    fn drop(&mut self) {
        let mut busy = lock(&self.host.busy);
        *busy = busy.saturating_sub(1);
        self.host.freed.notify_one();
    }
}

impl Drop for SshHost {
    fn drop(&mut self) {
        self.disconnect();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl std::fmt::Debug for SshHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SshHost")
            .field("name", &self.name)
            .field("dest", &self.dest)
            .field("mode", &self.mode)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_for_the_remote_shell() {
        assert_eq!(sh_quote("list-panes"), "list-panes");
        assert_eq!(sh_quote("#{pane_id}"), "'#{pane_id}'");
        assert_eq!(sh_quote("it's"), r"'it'\''s'");
        assert_eq!(sh_quote(""), "''");
        assert_eq!(sh_quote("=s:"), "=s:");
    }

    #[test]
    fn destination_args_put_options_first() {
        let d = SshDestination {
            host: "box".into(),
            user: Some("me".into()),
            port: Some(2222),
            identity: Some("/k".into()),
            options: vec!["-o".into(), "ProxyJump=bastion".into()],
        };
        assert_eq!(
            d.args(),
            vec![
                "-o",
                "ProxyJump=bastion",
                "-i",
                "/k",
                "-p",
                "2222",
                "me@box"
            ]
        );
    }

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let secs: Vec<u64> = (1..=8).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        assert_eq!(backoff(0), BACKOFF_MIN);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn channel_slots_are_bounded() {
        let h = SshHost::new(
            "t",
            SshDestination::default(),
            SshMode::Multiplexed,
            Duration::from_secs(1),
        )
        .unwrap();
        let slots: Vec<_> = (0..MAX_CHANNELS)
            .map(|_| h.channel(Duration::from_millis(10)).unwrap())
            .collect();
        assert!(matches!(
            h.channel(Duration::from_millis(20)),
            Err(TmuxError::Timeout { .. })
        ));
        drop(slots);
        assert!(h.channel(Duration::from_millis(10)).is_ok());
    }

    #[test]
    fn an_unreachable_host_backs_off() {
        let h = SshHost::new(
            "nowhere",
            SshDestination {
                host: "127.0.0.1".into(),
                port: Some(1),
                options: vec![
                    "-F".into(),
                    "none".into(),
                    "-o".into(),
                    "BatchMode=yes".into(),
                ],
                ..Default::default()
            },
            SshMode::Multiplexed,
            Duration::from_secs(2),
        )
        .unwrap();
        assert!(matches!(h.connect(), Err(TmuxError::NoServer(_))));
        assert_eq!(h.connections_started(), 1);
        // Within the back-off no new attempt is made.
        let e = h.connect().unwrap_err().to_string();
        assert!(e.contains("next attempt"), "{e}");
        assert_eq!(h.connections_started(), 1);
    }
}
