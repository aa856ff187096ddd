//! The read-only control-mode client (`tmux -C attach-session -f read-only,ignore-size`).
//!
//! A background thread reads the client's stdout line by line. `%output %<pane> <data>` lines
//! become [`ControlEvent::Output`] events and mark the pane dirty; `%begin`/`%end`/`%error`
//! blocks answer the commands written to its stdin (in order), so listing and capturing cost
//! no new process. When the client dies (`%exit`, EOF, server gone) every waiter is failed and
//! [`ControlClient::is_alive`] turns false; the owner falls back to polling.

use crate::cmd::{Tmux, TmuxError};
use gaffer_core::Timestamp;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// One parsed line of control-mode output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlLine {
    /// `%begin <time> <number> <flags>`.
    Begin {
        /// Command number.
        number: u64,
        /// Flags (1 = a command from this client).
        flags: u32,
    },
    /// `%end <time> <number> <flags>`.
    End {
        /// Command number.
        number: u64,
        /// Flags.
        flags: u32,
    },
    /// `%error <time> <number> <flags>`.
    Error {
        /// Command number.
        number: u64,
        /// Flags.
        flags: u32,
    },
    /// `%output %<pane> <escaped data>` (or `%extended-output %<pane> <age> … : <data>`).
    Output {
        /// Pane id, e.g. `%3`.
        pane_id: String,
        /// The unescaped bytes.
        data: Vec<u8>,
    },
    /// `%exit [reason]`.
    Exit(String),
    /// A notification that changes the set of panes or windows (`%window-add`,
    /// `%layout-change`, `%session-changed`, …).
    Topology(String),
    /// Any other notification, or a line of command output.
    Other(String),
}

fn guard_numbers(rest: &str) -> Option<(u64, u32)> {
    let mut it = rest.split_ascii_whitespace();
    let _time = it.next()?;
    let number = it.next()?.parse().ok()?;
    let flags = it.next()?.parse().ok()?;
    Some((number, flags))
}

/// Parses one line (without its newline).
pub fn parse_line(line: &[u8]) -> ControlLine {
    let text = String::from_utf8_lossy(line);
    if let Some(rest) = line.strip_prefix(b"%output ") {
        if let Some(sp) = rest.iter().position(|b| *b == b' ') {
            let pane = String::from_utf8_lossy(&rest[..sp]).into_owned();
            return ControlLine::Output {
                pane_id: pane,
                data: unescape(&rest[sp + 1..]),
            };
        }
        return ControlLine::Output {
            pane_id: String::from_utf8_lossy(rest).into_owned(),
            data: Vec::new(),
        };
    }
    if let Some(rest) = line.strip_prefix(b"%extended-output ") {
        // %extended-output %<pane> <age> ... : <data>
        let pane_end = rest.iter().position(|b| *b == b' ').unwrap_or(rest.len());
        let pane = String::from_utf8_lossy(&rest[..pane_end]).into_owned();
        let data = rest
            .windows(3)
            .position(|w| w == b" : ")
            .map(|p| unescape(&rest[p + 3..]))
            .unwrap_or_default();
        return ControlLine::Output {
            pane_id: pane,
            data,
        };
    }
    let guard = |prefix: &str| text.strip_prefix(prefix).and_then(guard_numbers);
    if let Some((number, flags)) = guard("%begin ") {
        return ControlLine::Begin { number, flags };
    }
    if let Some((number, flags)) = guard("%end ") {
        return ControlLine::End { number, flags };
    }
    if let Some((number, flags)) = guard("%error ") {
        return ControlLine::Error { number, flags };
    }
    if text == "%exit" {
        return ControlLine::Exit(String::new());
    }
    if let Some(r) = text.strip_prefix("%exit ") {
        return ControlLine::Exit(r.to_string());
    }
    const TOPOLOGY: &[&str] = &[
        "%window-add",
        "%window-close",
        "%unlinked-window-add",
        "%unlinked-window-close",
        "%layout-change",
        "%session-changed",
        "%sessions-changed",
        "%session-window-changed",
        "%window-pane-changed",
        "%pane-mode-changed",
        "%window-renamed",
    ];
    if TOPOLOGY
        .iter()
        .any(|t| text == *t || text.starts_with(&format!("{t} ")))
    {
        return ControlLine::Topology(text.into_owned());
    }
    ControlLine::Other(text.into_owned())
}

/// Undoes control mode's escaping: `\ooo` (three octal digits) is one byte; other bytes as is.
pub fn unescape(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i] == b'\\'
            && i + 3 < data.len()
            && data[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (u32::from(data[i + 1] - b'0') << 6)
                | (u32::from(data[i + 2] - b'0') << 3)
                | u32::from(data[i + 3] - b'0');
            out.push((v & 0xff) as u8);
            i += 4;
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

/// An event from the control-mode client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlEvent {
    /// A pane produced output.
    Output {
        /// Pane id.
        pane_id: String,
        /// Bytes of output.
        bytes: usize,
        /// When it was read (wall clock).
        at: Timestamp,
        /// When it was read (monotonic).
        instant: Instant,
    },
    /// Panes or windows were added, removed or rearranged.
    Topology(String),
    /// The client ended.
    Exit(String),
}

type Reply = Result<Vec<String>, String>;

#[derive(Default)]
struct Shared {
    /// Waiters for command replies, in the order the commands were written.
    pending: VecDeque<Sender<Reply>>,
    /// Panes with output since the owner last took the set, with the last output time.
    dirty: HashMap<String, Timestamp>,
    /// A topology notification arrived since the owner last looked.
    topology_changed: bool,
    /// Event subscribers.
    subscribers: Vec<Sender<ControlEvent>>,
    /// Count of output, topology and exit events so far.
    seq: u64,
}

/// A running control-mode client attached to one session.
pub struct ControlClient {
    session: String,
    stdin: Mutex<Option<ChildStdin>>,
    child: Mutex<Child>,
    shared: Arc<Mutex<Shared>>,
    cond: Arc<Condvar>,
    alive: Arc<AtomicBool>,
    timeout: Duration,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ControlClient {
    /// Attaches read-only to `session` and waits until the client is ready.
    pub fn attach(tmux: &Tmux, session: &str) -> Result<Self, TmuxError> {
        let target = crate::cmd::exact_session(session);
        let args = [
            "-C",
            "attach-session",
            "-f",
            "read-only,ignore-size",
            "-t",
            &target,
        ];
        // Over SSH this is one long-lived channel on the host's connection.
        let (mut cmd, _) = tmux.command(&args, false)?;
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| TmuxError::Spawn {
                binary: tmux.binary().to_string(),
                message: e.to_string(),
            })?;
        tmux.count_spawn();
        let stdout = child.stdout.take().ok_or_else(|| TmuxError::Spawn {
            binary: tmux.binary().to_string(),
            message: "no stdout pipe".into(),
        })?;
        let stderr = child.stderr.take();
        let stdin = child.stdin.take();
        let shared = Arc::new(Mutex::new(Shared::default()));
        let cond = Arc::new(Condvar::new());
        let alive = Arc::new(AtomicBool::new(true));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(), String>>();
        {
            let shared = Arc::clone(&shared);
            let cond = Arc::clone(&cond);
            let alive = Arc::clone(&alive);
            std::thread::Builder::new()
                .name(format!("gaffer-tmux-control-{session}"))
                .spawn(move || reader_loop(stdout, shared, cond, alive, ready_tx))
                .map_err(|e| TmuxError::Spawn {
                    binary: "thread".into(),
                    message: e.to_string(),
                })?;
        }
        let client = ControlClient {
            session: session.to_string(),
            stdin: Mutex::new(stdin),
            child: Mutex::new(child),
            shared,
            cond,
            alive,
            timeout: tmux.timeout(),
        };
        match ready_rx.recv_timeout(tmux.timeout()) {
            Ok(Ok(())) => Ok(client),
            other => {
                let reason = match other {
                    Ok(Err(r)) => r,
                    _ => "control client did not start in time".to_string(),
                };
                client.shutdown();
                let err = stderr
                    .map(|e| read_briefly(e, tmux.timeout()))
                    .unwrap_or_default();
                let msg = format!("{reason} {}", err.trim()).trim().to_string();
                if msg.contains("can't find") || msg.contains("no sessions") {
                    Err(TmuxError::NotFound(msg))
                } else {
                    Err(TmuxError::NoServer(msg))
                }
            }
        }
    }

    /// The session attached to.
    pub fn session(&self) -> &str {
        &self.session
    }

    /// Whether the client is still running.
    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::SeqCst)
    }

    /// The number of events so far (pass it to [`ControlClient::wait_events`]).
    pub fn event_count(&self) -> u64 {
        lock(&self.shared).seq
    }

    /// Waits until the event count differs from `seen`, the client dies, or `timeout` passes;
    /// returns the event count then.
    pub fn wait_events(&self, seen: u64, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut s = lock(&self.shared);
        while s.seq == seen && self.is_alive() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            s = match self.cond.wait_timeout(s, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        s.seq
    }

    /// Subscribes to events. A subscriber must keep receiving: events queue up until read.
    pub fn subscribe(&self) -> Receiver<ControlEvent> {
        let (tx, rx) = mpsc::channel();
        lock(&self.shared).subscribers.push(tx);
        rx
    }

    /// Takes the panes that produced output since the last call, with their last output time,
    /// and whether the topology changed.
    pub fn take_dirty(&self) -> (HashMap<String, Timestamp>, bool) {
        let mut s = lock(&self.shared);
        let changed = std::mem::take(&mut s.topology_changed);
        (std::mem::take(&mut s.dirty), changed)
    }

    /// Sends several command lines at once and waits for each reply, in order.
    /// Each reply is the command's output lines, or its error text.
    pub fn commands(&self, lines: &[String]) -> Result<Vec<Reply>, TmuxError> {
        if !self.is_alive() {
            return Err(TmuxError::NoServer("control client has exited".into()));
        }
        if lines.iter().any(|l| l.contains('\n')) {
            return Err(TmuxError::Failed {
                command: "control".into(),
                status: -1,
                stderr: "command line contains a newline".into(),
                stdout: String::new(),
            });
        }
        let mut receivers = Vec::with_capacity(lines.len());
        {
            // The stdin lock keeps the waiters in the order of the writes. The reader's lock
            // (`shared`) is held only to queue them, never across the write: a write that
            // blocks (tmux not reading) must not stop the reader, or nothing would drain the
            // client's output and neither side could move.
            let mut stdin = lock(&self.stdin);
            let Some(w) = stdin.as_mut() else {
                return Err(TmuxError::NoServer("control client stdin closed".into()));
            };
            let mut buf = String::new();
            {
                let mut shared = lock(&self.shared);
                for l in lines {
                    let (tx, rx) = mpsc::channel();
                    shared.pending.push_back(tx);
                    receivers.push(rx);
                    buf.push_str(l);
                    buf.push('\n');
                }
            }
            if let Err(e) = w.write_all(buf.as_bytes()).and_then(|_| w.flush()) {
                self.alive.store(false, Ordering::SeqCst);
                return Err(TmuxError::NoServer(format!("control client write: {e}")));
            }
        }
        let deadline = Instant::now() + self.timeout;
        let mut out = Vec::with_capacity(receivers.len());
        for rx in receivers {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(r) => out.push(r),
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(TmuxError::Timeout {
                        command: "control".into(),
                        timeout: self.timeout,
                    });
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(TmuxError::NoServer("control client has exited".into()));
                }
            }
        }
        Ok(out)
    }

    /// Stops the client.
    pub fn shutdown(&self) {
        lock(&self.stdin).take();
        let mut child = lock(&self.child);
        let _ = child.kill();
        let _ = child.wait();
        self.alive.store(false, Ordering::SeqCst);
    }
}

impl Drop for ControlClient {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// What a dead client wrote to stderr, read for at most `wait`: the pipe ends when every
/// process holding it has, and a server the client started may still hold it for a moment.
fn read_briefly(mut stderr: std::process::ChildStderr, wait: Duration) -> String {
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::Builder::new()
        .name("gaffer-tmux-control-stderr".into())
        .spawn(move || {
            use std::io::Read;
            let mut buf = Vec::new();
            let _ = (&mut stderr)
                .take(gaffer_core::limits::MAX_CONTROL_LINE_BYTES as u64)
                .read_to_end(&mut buf);
            let _ = tx.send(String::from_utf8_lossy(&buf).into_owned());
        });
    match reader {
        Ok(_) => rx.recv_timeout(wait).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Quotes one argument for tmux's command parser (control-mode lines).
pub fn quote_arg(s: &str) -> String {
    // Single quotes: nothing inside is special except the quote itself.
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Reads one line into `line` like `read_until(b'\n')`, but keeps at most `max` bytes of it
/// (the rest of the line is read and dropped); returns the bytes read, 0 at the end.
fn read_line_capped(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if buf.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let room = max.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if done && line.last() != Some(&b'\n') {
            // a cut line still ends as a line
            line.push(b'\n');
        }
        let n = chunk.len();
        reader.consume(n);
        total += n;
        if done {
            return Ok(total);
        }
    }
}

fn reader_loop(
    stdout: std::process::ChildStdout,
    shared: Arc<Mutex<Shared>>,
    cond: Arc<Condvar>,
    alive: Arc<AtomicBool>,
    ready: Sender<Result<(), String>>,
) {
    let mut reader = BufReader::new(stdout);
    let mut line = Vec::with_capacity(4096);
    let mut ready = Some(ready);
    // The block being collected: (number, flags, lines).
    let mut block: Option<(u64, u32, Vec<String>)> = None;
    let mut exit_reason = String::from("control client output ended");
    loop {
        line.clear();
        match read_line_capped(
            &mut reader,
            &mut line,
            gaffer_core::limits::MAX_CONTROL_LINE_BYTES,
        ) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        // Inside a block, every line is command output until the matching guard.
        if let Some((number, flags, lines)) = block.as_mut() {
            match parse_line(&line) {
                ControlLine::End { number: n, .. } | ControlLine::Error { number: n, .. }
                    if n == *number =>
                {
                    let is_err = matches!(parse_line(&line), ControlLine::Error { .. });
                    let lines = std::mem::take(lines);
                    let from_us = *flags & 1 == 1;
                    block = None;
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(Ok(()));
                    }
                    if from_us {
                        let waiter = lock(&shared).pending.pop_front();
                        if let Some(w) = waiter {
                            let _ = w.send(if is_err {
                                Err(lines.join("\n"))
                            } else {
                                Ok(lines)
                            });
                        }
                    }
                }
                _ => lines.push(String::from_utf8_lossy(&line).into_owned()),
            }
            continue;
        }
        match parse_line(&line) {
            ControlLine::Begin { number, flags } => block = Some((number, flags, Vec::new())),
            ControlLine::Output { pane_id, data } => {
                let at = chrono::Utc::now();
                let instant = Instant::now();
                let mut s = lock(&shared);
                s.dirty.insert(pane_id.clone(), at);
                s.seq += 1;
                cond.notify_all();
                let ev = ControlEvent::Output {
                    pane_id,
                    bytes: data.len(),
                    at,
                    instant,
                };
                s.subscribers.retain(|tx| tx.send(ev.clone()).is_ok());
            }
            ControlLine::Topology(t) => {
                let mut s = lock(&shared);
                s.topology_changed = true;
                s.seq += 1;
                cond.notify_all();
                let ev = ControlEvent::Topology(t);
                s.subscribers.retain(|tx| tx.send(ev.clone()).is_ok());
            }
            ControlLine::Exit(reason) => {
                exit_reason = if reason.is_empty() {
                    "control client exited".into()
                } else {
                    format!("control client exited: {reason}")
                };
                break;
            }
            ControlLine::End { .. } | ControlLine::Error { .. } | ControlLine::Other(_) => {}
        }
    }
    alive.store(false, Ordering::SeqCst);
    if let Some(tx) = ready.take() {
        let _ = tx.send(Err(exit_reason.clone()));
    }
    let mut s = lock(&shared);
    for w in s.pending.drain(..) {
        let _ = w.send(Err(exit_reason.clone()));
    }
    let ev = ControlEvent::Exit(exit_reason);
    s.subscribers.retain(|tx| tx.send(ev.clone()).is_ok());
    s.seq += 1;
    cond.notify_all();
    tracing::debug!("tmux control client ended");
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_overlong_control_line_is_cut_and_the_next_read_whole() {
        let mut input = vec![b'a'; 10_000];
        input.extend_from_slice(b"\n%output %1 hi\n");
        let mut r = std::io::BufReader::with_capacity(64, &input[..]);
        let mut line = Vec::new();
        assert_eq!(read_line_capped(&mut r, &mut line, 100).ok(), Some(10_001));
        assert_eq!(line.len(), 101, "100 bytes and the newline");
        line.clear();
        assert_eq!(read_line_capped(&mut r, &mut line, 100).ok(), Some(14));
        assert_eq!(line, b"%output %1 hi\n");
        line.clear();
        assert_eq!(read_line_capped(&mut r, &mut line, 100).ok(), Some(0));
    }

    use super::*;

    #[test]
    fn parses_guards() {
        assert_eq!(
            parse_line(b"%begin 1795925076 273 0"),
            ControlLine::Begin {
                number: 273,
                flags: 0
            }
        );
        assert_eq!(
            parse_line(b"%end 1795925076 278 1"),
            ControlLine::End {
                number: 278,
                flags: 1
            }
        );
        assert_eq!(
            parse_line(b"%error 1795925076 9 1"),
            ControlLine::Error {
                number: 9,
                flags: 1
            }
        );
        assert!(matches!(parse_line(b"%begin junk"), ControlLine::Other(_)));
    }

    #[test]
    fn parses_output_with_octal_escapes() {
        let l = parse_line(b"%output %12 a\\134b\\015\\012\\033[?2004h");
        assert_eq!(
            l,
            ControlLine::Output {
                pane_id: "%12".into(),
                data: b"a\\b\r\n\x1b[?2004h".to_vec()
            }
        );
        // UTF-8 bytes pass through unescaped.
        let l = parse_line("%output %1 ❯ héllo".as_bytes());
        assert_eq!(
            l,
            ControlLine::Output {
                pane_id: "%1".into(),
                data: "❯ héllo".as_bytes().to_vec()
            }
        );
        assert_eq!(
            parse_line(b"%output %3"),
            ControlLine::Output {
                pane_id: "%3".into(),
                data: vec![]
            }
        );
    }

    #[test]
    fn unescape_edge_cases() {
        assert_eq!(unescape(b"\\134"), b"\\");
        assert_eq!(unescape(b"\\"), b"\\");
        assert_eq!(unescape(b"\\13"), b"\\13");
        assert_eq!(unescape(b"\\9xy"), b"\\9xy");
        assert_eq!(unescape(b"x\\000y"), b"x\0y");
        assert_eq!(unescape(b"\\377"), vec![0xff]);
    }

    #[test]
    fn parses_extended_output_exit_and_topology() {
        assert_eq!(
            parse_line(b"%extended-output %4 120 : hi\\012"),
            ControlLine::Output {
                pane_id: "%4".into(),
                data: b"hi\n".to_vec()
            }
        );
        assert_eq!(parse_line(b"%exit"), ControlLine::Exit(String::new()));
        assert_eq!(
            parse_line(b"%exit detached"),
            ControlLine::Exit("detached".into())
        );
        assert!(matches!(
            parse_line(b"%window-add @3"),
            ControlLine::Topology(_)
        ));
        assert!(matches!(
            parse_line(b"%layout-change @1 abc"),
            ControlLine::Topology(_)
        ));
        assert!(matches!(
            parse_line(b"%session-changed $0 p"),
            ControlLine::Topology(_)
        ));
        assert!(matches!(parse_line(b"some output"), ControlLine::Other(_)));
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_arg("a b"), "'a b'");
        assert_eq!(quote_arg("it's"), "'it'\\''s'");
    }
}
