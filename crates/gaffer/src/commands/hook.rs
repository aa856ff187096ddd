//! `gaffer hook --agent KIND EVENT`: run by an agent CLI's hook. Reads the payload on stdin
//! (at most 1 MiB, for at most [`READ_TIMEOUT`]), records a `Signal` for the pane in
//! `TMUX_PANE` in the project's ledger, and wakes a running coordinator.
//!
//! On a remote host (its `.gaffer/remote.json`, written by the coordinator) the signal is sent
//! home over the host's forwarded socket instead, or spooled (`crate::home::client`).
//!
//! It always exits 0 and never writes to stdout, whatever fails: a hook must never change the
//! agent's turn. With `GAFFER_LOG` set, it appends what it did or refused to
//! `.gaffer/hook.log` (or stderr when no project is found). It reads no config and calls no
//! tmux, so it stays fast (`benches/hook_latency.rs`).

use gaffer_coordinator::signal_store::{SignalStore, is_pane_id};
use gaffer_coordinator::wake;
use gaffer_core::hook_payload::{self, MAX_PAYLOAD};
use gaffer_core::signals::Signal;
use gaffer_core::time::Timestamp;
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The longest the hook waits for its payload.
pub const READ_TIMEOUT: Duration = Duration::from_millis(500);

/// Runs the hook with the arguments after `hook`; never fails. `started` is when this process
/// started (taken first thing in `main`): when the CLI fired the hook, the signal's time.
pub fn run(args: &[OsString], started: Timestamp) {
    let mut log = Log::new();
    if let Err(msg) = record(args, started, &mut log) {
        log.line(&format!("refused: {msg}"));
    }
}

fn record(args: &[OsString], started: Timestamp, log: &mut Log) -> Result<(), String> {
    if log.on {
        log.dir = std::env::current_dir()
            .ok()
            .and_then(|d| find_gaffer_dir(&d));
    }
    let (agent, event) = parse_args(args)?;
    let payload = read_stdin(MAX_PAYLOAD, READ_TIMEOUT)?;
    let pane = std::env::var("TMUX_PANE").unwrap_or_default();
    if !is_pane_id(&pane) {
        return Err(format!(
            "{agent} {event}: not run in a tmux pane (TMUX_PANE {:?})",
            hook_payload::sanitize(&pane, 32)
        ));
    }
    let parsed = hook_payload::parse(&agent, &event, &payload)
        .map_err(|e| format!("{agent} {event} from {pane}: {e}"))?;
    let start = parsed
        .cwd
        .clone()
        .filter(|c| c.is_absolute())
        .or_else(|| std::env::current_dir().ok())
        .ok_or("no working directory")?;
    let gaffer_dir = find_gaffer_dir(&start)
        .ok_or_else(|| format!("no .gaffer/ in {} or above", start.display()))?;
    log.dir = Some(gaffer_dir.clone());
    let socket = std::env::var("TMUX")
        .ok()
        .and_then(|t| t.split(',').next().map(str::to_string))
        .filter(|s| !s.is_empty())
        .map(|s| hook_payload::sanitize(&s, 512));
    let signal = Signal {
        seq: 0,
        pane_id: pane.clone(),
        socket,
        agent: agent.clone(),
        event: parsed.event,
        raw_event: parsed.raw_event,
        at: started,
        session_id: parsed.session_id,
        transcript_path: parsed.transcript_path,
        detail: parsed.detail,
    };
    // On a remote host (the coordinator left its marker there) the signal goes home.
    if let Some(marker) = crate::home::client::marker_in(&gaffer_dir) {
        let what = format!(
            "{agent} {} ({}) from {pane}",
            signal.event.as_str(),
            signal.raw_event
        );
        let sent = crate::home::client::send_or_spool(
            &gaffer_dir,
            &marker,
            gaffer_core::home::Report::Signal { signal },
            crate::home::client::HOOK_ACK,
        );
        log.line(&format!("{what}: {sent}"));
        return Ok(());
    }
    let seq = store_signal(&gaffer_dir, &signal)?;
    log.line(&format!(
        "recorded {} {} ({}) from {pane} as #{seq}",
        agent,
        signal.event.as_str(),
        signal.raw_event
    ));
    Ok(())
}

/// Records `signal` in the ledger under `gaffer_dir` and wakes the coordinator there: what a
/// hook does on the coordinator's machine, and what a signal from a host does.
pub fn store_signal(gaffer_dir: &Path, signal: &Signal) -> Result<i64, String> {
    let db = gaffer_dir.join("state.db");
    let seq = SignalStore::open(&db)
        .and_then(|s| s.record(signal))
        .map_err(|e| format!("{}: {e}", db.display()))?;
    wake::notify(&gaffer_dir.join(wake::SOCKET_NAME));
    Ok(seq)
}

/// `--agent KIND EVENT` (either order; `--agent=KIND` too).
fn parse_args(args: &[OsString]) -> Result<(String, String), String> {
    let mut agent = None;
    let mut event = None;
    let mut it = args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        if a == "--agent" {
            agent = it.next();
        } else if let Some(v) = a.strip_prefix("--agent=") {
            agent = Some(v.to_string());
        } else if event.is_none() && !a.starts_with('-') {
            event = Some(a);
        } else {
            return Err(format!(
                "unexpected argument {:?}",
                hook_payload::sanitize(&a, 40)
            ));
        }
    }
    let agent = agent.ok_or("missing --agent KIND")?;
    Ok((agent, event.unwrap_or_default()))
}

/// The nearest `.gaffer/` directory at or above `start`.
fn find_gaffer_dir(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|d| d.join(".gaffer"))
        .find(|d| d.is_dir())
}

/// Reads stdin until EOF, at most `max` bytes kept, for at most `timeout`. A bigger payload is
/// read to its end (so the agent's write never fails) and refused.
fn read_stdin(max: usize, timeout: Duration) -> Result<Vec<u8>, String> {
    // SAFETY: isatty only inspects the descriptor.
    if unsafe { libc::isatty(0) } == 1 {
        return Ok(Vec::new());
    }
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::with_capacity(8192);
    let mut total = 0usize;
    let mut chunk = [0u8; 16384];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "payload not complete after {} ms ({total} bytes read)",
                timeout.as_millis()
            ));
        }
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd for the duration of the call.
        let ready = unsafe { libc::poll(&mut pfd, 1, ms) };
        if ready < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("stdin: {e}"));
        }
        if ready == 0 {
            continue;
        }
        // SAFETY: reads into a stack buffer of the given length.
        let n = unsafe { libc::read(0, chunk.as_mut_ptr().cast(), chunk.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(format!("stdin: {e}"));
        }
        if n == 0 {
            break;
        }
        let n = n as usize;
        total += n;
        if total <= max {
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    if total > max {
        return Err(format!(
            "payload of {total} bytes is over the {max}-byte limit"
        ));
    }
    Ok(buf)
}

/// Log lines, written only when `GAFFER_LOG` is set: to `.gaffer/hook.log` once the project is
/// known, else to stderr.
struct Log {
    on: bool,
    dir: Option<PathBuf>,
}

impl Log {
    fn new() -> Log {
        Log {
            on: std::env::var_os("GAFFER_LOG").is_some_and(|v| !v.is_empty()),
            dir: None,
        }
    }

    fn line(&self, msg: &str) {
        if !self.on {
            return;
        }
        let line = format!(
            "{} gaffer hook: {}\n",
            gaffer_core::time::format_rfc3339(&chrono::Utc::now()),
            hook_payload::sanitize(msg, 1000)
        );
        let file = self.dir.as_ref().and_then(|d| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(d.join("hook.log"))
                .ok()
        });
        match file {
            Some(mut f) => {
                let _ = f.write_all(line.as_bytes());
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments() {
        assert_eq!(
            parse_args(&os(&["--agent", "cc", "Stop"])),
            Ok(("cc".into(), "Stop".into()))
        );
        assert_eq!(
            parse_args(&os(&["BeforeTool", "--agent=gmi"])),
            Ok(("gmi".into(), "BeforeTool".into()))
        );
        assert_eq!(
            parse_args(&os(&["--agent", "cod"])),
            Ok(("cod".into(), String::new()))
        );
        assert!(parse_args(&os(&["Stop"])).is_err());
        assert!(parse_args(&os(&["--agent", "cc", "Stop", "extra"])).is_err());
    }
}
