//! The host's side: a command run under a project directory that holds the coordinator's
//! marker (`.gaffer/remote.json`) sends its report home instead of writing a ledger.
//!
//! [`send_or_spool`] connects to the forwarded socket the marker names, writes the message as
//! one JSON line and waits at most a short bound for the ack line. Without an ack (no socket,
//! nobody forwarding, a partition, a coordinator that asks to retry) the message is appended to
//! `.gaffer/outbox.jsonl` under an exclusive `flock`; the coordinator drains it later. Either
//! way nothing is lost, and the coordinator applies each message id once.

use crate::cli::GlobalArgs;
use crate::config_load;
use crate::error::ExitError;
use crate::output::{Output, esay, say};
use gaffer_core::exit;
use gaffer_core::home::{Ack, HomeMessage, MARKER_FILE, RemoteMarker, Report, SPOOL_FILE};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long `gaffer done`, `refuse` and `quality record-tests` wait for the ack.
pub const COMMAND_ACK: Duration = Duration::from_secs(3);
/// How long `gaffer hook` waits for the ack (a hook must stay fast).
pub const HOOK_ACK: Duration = Duration::from_secs(1);
/// How long appending to the spool waits for its lock.
const SPOOL_LOCK: Duration = Duration::from_secs(5);

/// The marker in `gaffer_dir` (a `.gaffer/` directory), when there is one that reads.
pub fn marker_in(gaffer_dir: &Path) -> Option<RemoteMarker> {
    let text = std::fs::read_to_string(gaffer_dir.join(MARKER_FILE)).ok()?;
    match serde_json::from_str(&text) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::warn!(dir = %gaffer_dir.display(), error = %e, "unreadable remote.json");
            None
        }
    }
}

/// What became of a message.
#[derive(Debug)]
pub enum Sent {
    /// The coordinator answered.
    Acked(Ack),
    /// It waits in the spool (the path), for this reason.
    Spooled(PathBuf, String),
    /// Neither worked: the message could not be kept (the reasons).
    Lost(String),
}

impl std::fmt::Display for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sent::Acked(a) if a.ok => write!(f, "sent home: {}", a.note),
            Sent::Acked(a) => write!(f, "refused at home: {}", a.note),
            Sent::Spooled(p, why) => write!(f, "queued in {} ({why})", p.display()),
            Sent::Lost(why) => write!(f, "NOT sent and NOT queued: {why}"),
        }
    }
}

/// A fresh message id: the host, the process and 8 random bytes.
fn new_id(host: &str) -> String {
    let mut bytes = [0u8; 8];
    let random = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
        .is_ok();
    if !random {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        bytes = nanos.to_le_bytes();
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{host}-{:x}-{hex}", std::process::id())
}

/// Sends `report` home (waiting at most `bound` for the ack), else spools it.
pub fn send_or_spool(
    gaffer_dir: &Path,
    marker: &RemoteMarker,
    report: Report,
    bound: Duration,
) -> Sent {
    let msg = HomeMessage {
        id: new_id(&marker.host),
        host: marker.host.clone(),
        sent_at: chrono::Utc::now(),
        report,
    };
    let line = match serde_json::to_string(&msg) {
        Ok(l) => l,
        Err(e) => return Sent::Lost(format!("cannot encode the report: {e}")),
    };
    let why = match send(Path::new(&marker.socket), &msg.id, &line, bound) {
        Ok(ack) if ack.ok || !ack.retry => return Sent::Acked(ack),
        Ok(ack) => format!("the coordinator asks to retry: {}", ack.note),
        Err(e) => e,
    };
    let spool = gaffer_dir.join(SPOOL_FILE);
    match append_locked(&spool, &line) {
        Ok(()) => Sent::Spooled(spool, why),
        Err(e) => Sent::Lost(format!("{why}; spool {}: {e}", spool.display())),
    }
}

/// One message on the socket, its ack read within `bound`.
fn send(socket: &Path, id: &str, line: &str, bound: Duration) -> Result<Ack, String> {
    let end = Instant::now() + bound;
    let mut s = UnixStream::connect(socket)
        .map_err(|e| format!("no coordinator at {}: {e}", socket.display()))?;
    s.set_write_timeout(Some(bound))
        .map_err(|e| e.to_string())?;
    s.write_all(line.as_bytes())
        .and_then(|_| s.write_all(b"\n"))
        .map_err(|e| format!("sending: {e}"))?;
    let mut r = BufReader::new(s);
    let mut answer = String::new();
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!("no ack within {} ms", bound.as_millis()));
        }
        r.get_ref()
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        match r.read_line(&mut answer) {
            Ok(0) => return Err("the coordinator closed without an ack".into()),
            Ok(_) if answer.ends_with('\n') => break,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(format!("no ack within {} ms", bound.as_millis()));
            }
            Err(e) => return Err(format!("reading the ack: {e}")),
        }
    }
    let ack: Ack = serde_json::from_str(answer.trim()).map_err(|e| format!("bad ack: {e}"))?;
    if ack.id != id {
        return Err(format!("ack for another message ({})", ack.id));
    }
    Ok(ack)
}

/// Appends `line` to `path` under an exclusive `flock`. A drain renames the file while holding
/// the same lock, so after locking the file must still be the one at `path`, else it is
/// opened again.
pub fn append_locked(path: &Path, line: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    use std::os::unix::io::AsRawFd;
    let end = Instant::now() + SPOOL_LOCK;
    loop {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        loop {
            // SAFETY: flock on a descriptor this function owns.
            let r = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if r == 0 {
                break;
            }
            if Instant::now() >= end {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the spool stays locked",
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let same = match (f.metadata(), std::fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if !same {
            // Taken by a drain meanwhile: write to the new file.
            continue;
        }
        let mut buf = line.as_bytes().to_vec();
        buf.push(b'\n');
        f.write_all(&buf)?;
        f.sync_data()?;
        // The lock goes with the descriptor.
        return Ok(());
    }
}

/// For `gaffer done`, `refuse` and `quality record-tests`: when the project is on a remote host
/// (its `.gaffer/remote.json`), sends `report` home and prints what became of it; returns the
/// exit code then, `None` on the coordinator's own machine.
pub fn report_home(global: &GlobalArgs, report: Report) -> Result<Option<i32>, ExitError> {
    let gaffer_dir = config_load::project_root(global).join(".gaffer");
    let Some(marker) = marker_in(&gaffer_dir) else {
        return Ok(None);
    };
    let kind = report.kind();
    let sent = send_or_spool(&gaffer_dir, &marker, report, COMMAND_ACK);
    let out = Output::of(global);
    let (code, state, note) = match &sent {
        Sent::Acked(a) if a.ok => (exit::SUCCESS, "applied", a.note.clone()),
        Sent::Acked(a) => (exit::FAILURE, "refused", a.note.clone()),
        Sent::Spooled(p, why) => (exit::SUCCESS, "queued", format!("{} ({why})", p.display())),
        Sent::Lost(why) => (exit::FAILURE, "lost", why.clone()),
    };
    let doc = json!({"kind": kind, "host": marker.host, "state": state, "note": note});
    let shown = out.print_line(&doc, || match &sent {
        Sent::Acked(a) if a.ok => say!("{}", a.note),
        Sent::Acked(a) => esay!("error: {}", a.note),
        Sent::Spooled(p, why) => say!(
            "queued in {}: the coordinator is not reachable from {} now ({why}); it applies the \
             report when it reaches the host again",
            p.display(),
            marker.host
        ),
        Sent::Lost(why) => esay!("error: the report could not be sent nor queued: {why}"),
    });
    if let Err(e) = shown {
        tracing::debug!(error = %e, "printing the result");
    }
    Ok(Some(code))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::io::AsRawFd;

    /// Writers appending while a drainer takes the spool the way the coordinator's drain does
    /// (`flock` on the spool, rename, unlock, then read what was taken): every line is read
    /// whole, once; none lands in a taken file after it was read.
    #[test]
    fn appends_racing_drains_lose_and_tear_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join(SPOOL_FILE);
        let writers = 4;
        let lines = 200;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let drainer = {
            let spool = spool.clone();
            let dir = dir.path().to_path_buf();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut read: Vec<String> = Vec::new();
                let mut takes = 0;
                let mut drain = |read: &mut Vec<String>| {
                    let to = dir.join(format!("taken-{takes}"));
                    let took = match std::fs::File::open(&spool) {
                        Ok(f) => {
                            // SAFETY: flock on a descriptor this closure owns.
                            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
                            std::fs::rename(&spool, &to).is_ok()
                            // The lock goes with `f` here, before the read.
                        }
                        Err(_) => false,
                    };
                    if took {
                        takes += 1;
                        let text = std::fs::read_to_string(&to).unwrap();
                        read.extend(text.lines().map(str::to_string));
                    }
                };
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    drain(&mut read);
                    std::thread::sleep(Duration::from_millis(1));
                }
                drain(&mut read);
                (read, takes)
            })
        };
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let spool = spool.clone();
                std::thread::spawn(move || {
                    for i in 0..lines {
                        let line =
                            format!("{{\"w\":{w},\"i\":{i},\"pad\":\"{}\"}}", "x".repeat(300));
                        append_locked(&spool, &line).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let (read, takes) = drainer.join().unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for l in &read {
            let v: serde_json::Value = serde_json::from_str(l).expect("a whole line");
            assert!(seen.insert((v["w"].as_i64().unwrap(), v["i"].as_i64().unwrap())));
        }
        assert_eq!(
            seen.len(),
            writers * lines,
            "lines lost after their file was read"
        );
        assert!(takes > 1, "the drainer took the spool while writers wrote");
    }

    #[test]
    fn without_a_coordinator_the_report_is_spooled_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let marker = RemoteMarker {
            host: "box1".into(),
            socket: dir.path().join("home.sock").display().to_string(),
            spool: String::new(),
        };
        let sent = send_or_spool(
            dir.path(),
            &marker,
            Report::Done {
                bead_id: "b-1".into(),
                reason: String::new(),
            },
            Duration::from_millis(200),
        );
        let Sent::Spooled(path, why) = sent else {
            panic!("{sent}")
        };
        assert!(why.contains("no coordinator at"), "{why}");
        let (msgs, bad) = gaffer_core::home::parse_spool(&std::fs::read_to_string(path).unwrap());
        assert!(bad.is_empty());
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].id.starts_with("box1-"));
        assert_eq!(msgs[0].report.kind(), "done");
    }

    #[test]
    fn a_listener_that_never_acks_is_given_up_on_within_the_bound() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("home.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let marker = RemoteMarker {
            host: "box1".into(),
            socket: sock.display().to_string(),
            spool: String::new(),
        };
        let t0 = Instant::now();
        let sent = send_or_spool(
            dir.path(),
            &marker,
            Report::Refuse {
                bead_id: "b-1".into(),
                reason: "no".into(),
            },
            Duration::from_millis(300),
        );
        assert!(t0.elapsed() < Duration::from_secs(2));
        assert!(
            matches!(&sent, Sent::Spooled(_, why) if why.contains("no ack within 300 ms")),
            "{sent}"
        );
    }
}
