//! Running an outside program with its output read while it runs, a bound on what is kept,
//! and a real timeout that ends the program and everything it started.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What a finished program printed and how it ended.
#[derive(Debug)]
pub struct Captured {
    /// How it ended.
    pub status: ExitStatus,
    /// Standard output, at most the limit.
    pub stdout: Vec<u8>,
    /// Standard error, at most the limit.
    pub stderr: Vec<u8>,
    /// A stream printed more than the limit; the rest was read and dropped.
    pub truncated: bool,
}

/// Why a program gave no result.
#[derive(Debug)]
pub enum RunError {
    /// It could not be started.
    Spawn(std::io::Error),
    /// Waiting for it failed.
    Wait(std::io::Error),
    /// It ran past the timeout; it and its process group were killed.
    TimedOut(Duration),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Spawn(e) => write!(f, "cannot start it: {e}"),
            RunError::Wait(e) => write!(f, "cannot wait for it: {e}"),
            RunError::TimedOut(t) => write!(f, "timed out after {}s", t.as_secs()),
        }
    }
}

impl std::error::Error for RunError {}

/// Reads a stream to its end on a thread, keeping at most `limit` bytes; sends the bytes and
/// whether some were dropped.
fn drain(
    stream: Option<impl Read + Send + 'static>,
    limit: usize,
) -> mpsc::Receiver<(Vec<u8>, bool)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut kept = Vec::new();
        let mut dropped = false;
        if let Some(mut s) = stream {
            let mut buf = [0u8; 64 * 1024];
            loop {
                match s.read(&mut buf) {
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
        }
        let _ = tx.send((kept, dropped));
    });
    rx
}

/// Ends a process group: SIGTERM, then SIGKILL after a short grace.
fn kill_group(pgid: i32) {
    // SAFETY: kill has no memory-safety preconditions; a negative pid names the group.
    unsafe { libc::kill(-pgid, libc::SIGTERM) };
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: as above.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
}

/// Runs `cmd` in its own process group with no standard input, reading its output
/// concurrently (each stream kept up to `limit` bytes). Past `timeout` the whole group is
/// killed and [`RunError::TimedOut`] returned. When the program exits but something it
/// started still holds its output open, that is killed at the timeout too, and what was
/// printed is returned.
pub fn run(cmd: &mut Command, timeout: Duration, limit: usize) -> Result<Captured, RunError> {
    use std::os::unix::process::CommandExt;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(RunError::Spawn)?;
    let pgid = i32::try_from(child.id()).unwrap_or(i32::MAX);
    let out = drain(child.stdout.take(), limit);
    let err = drain(child.stderr.take(), limit);
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() >= deadline => {
                kill_group(pgid);
                let _ = child.wait();
                return Err(RunError::TimedOut(timeout));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                kill_group(pgid);
                let _ = child.wait();
                return Err(RunError::Wait(e));
            }
        }
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let collect = |rx: &mpsc::Receiver<(Vec<u8>, bool)>| match rx.recv_timeout(left) {
        Ok(r) => r,
        Err(_) => {
            // something the program started still writes: end it, keep what was read
            kill_group(pgid);
            rx.recv_timeout(Duration::from_secs(1))
                .unwrap_or((Vec::new(), true))
        }
    };
    let (stdout, t1) = collect(&out);
    let (stderr, t2) = collect(&err);
    Ok(Captured {
        status,
        stdout,
        stderr,
        truncated: t1 || t2,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_the_limit_and_says_so() {
        let c = run(
            Command::new("sh").args(["-c", "head -c 300000 /dev/zero; echo err >&2"]),
            Duration::from_secs(20),
            100_000,
        )
        .expect("runs");
        assert!(c.status.success());
        assert_eq!(c.stdout.len(), 100_000);
        assert_eq!(c.stderr, b"err\n");
        assert!(c.truncated);
    }

    #[test]
    fn a_background_child_holding_the_output_is_ended_at_the_timeout() {
        let started = Instant::now();
        let c = run(
            Command::new("sh").args(["-c", "echo hi; sleep 300 &"]),
            Duration::from_secs(1),
            1024,
        )
        .expect("the program itself finished");
        assert_eq!(c.stdout, b"hi\n");
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
