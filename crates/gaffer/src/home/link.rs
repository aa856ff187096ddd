//! The coordinator's side: one thread per `[[hosts]]` entry that names its `project`.
//!
//! Each pass (every `every`), while the host's SSH connection is up:
//! - after every new connection (the master started again: its forwards are gone), removes a
//!   stale `<project>/.gaffer/home.sock`, forwards it to this thread's local socket with
//!   `ssh -O forward -R` on the same connection, and writes the marker `remote.json`;
//! - drains the spool: renames `outbox.jsonl` to `outbox.taken` under the writers' `flock`
//!   (or reads a `outbox.taken` left by a drain that did not finish; a drain never overwrites
//!   one, which matters because a drain timed out during a partition may still run on the host
//!   after the heal), reads it, applies each message idempotently, then deletes it. A spool that cannot be drained three passes in a
//!   row while the host answers is reported once (`report_spool_failed`) until a drain works.
//!
//! Between passes it answers the forwarded socket: one message per connection, one ack line.

use super::apply::Applier;
use gaffer_coordinator::session::EventSink;
use gaffer_core::cycle::SpoolTrouble;
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::home::{
    self, HomeMessage, MARKER_FILE, MAX_LINE, RemoteMarker, SOCKET_FILE, SPOOL_FILE, TAKEN_FILE,
};
use gaffer_tmux::host::HostPanes;
use gaffer_tmux::ssh::{SshHost, sh_quote};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a remote command of a link (setup, drain) may take.
const REMOTE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long reading one message on the socket may take.
const READ_TIMEOUT: Duration = Duration::from_secs(2);
/// Failed drains in a row (the host answering) before the spool is reported.
const DRAIN_FAILURES: u32 = 3;

/// The running links; stopped on drop.
pub struct HomeLinks {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    dir: Option<PathBuf>,
}

/// A host the links serve: its name, its project directory there, and its connection.
pub struct HomeHost {
    /// The host's name.
    pub name: String,
    /// Its `project` (absolute path on the host).
    pub project: String,
    /// Its one SSH connection.
    pub conn: Arc<SshHost>,
}

impl HomeHost {
    /// The hosts of `hosts` that name a project.
    pub fn of(config: &gaffer_core::config::GafferConfig, hosts: &[Arc<HostPanes>]) -> Vec<Self> {
        hosts
            .iter()
            .filter_map(|h| {
                let cfg = config.hosts.iter().find(|c| c.name == h.name())?;
                (!cfg.project.is_empty()).then(|| HomeHost {
                    name: cfg.name.clone(),
                    project: cfg.project.trim_end_matches('/').to_string(),
                    conn: h.connection().clone(),
                })
            })
            .collect()
    }

    fn gaffer_dir(&self) -> String {
        format!("{}/.gaffer", self.project)
    }
}

impl HomeLinks {
    /// No links.
    pub fn none() -> HomeLinks {
        HomeLinks {
            stop: Arc::new(AtomicBool::new(false)),
            threads: Vec::new(),
            dir: None,
        }
    }

    /// Starts one link per host, applying through `applier`, a pass every `every`.
    pub fn start(
        hosts: Vec<HomeHost>,
        applier: Arc<Applier>,
        sink: Option<EventSink>,
        every: Duration,
    ) -> Result<HomeLinks, String> {
        if hosts.is_empty() {
            return Ok(HomeLinks::none());
        }
        let stop = Arc::new(AtomicBool::new(false));
        // A short private directory: a unix socket path has at most 107 bytes.
        let dir =
            std::env::temp_dir().join(format!("gaffer-home-{}", gaffer_tmux::cmd::unique_token()));
        std::fs::create_dir(&dir)
            .and_then(|_| {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            })
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut threads = Vec::new();
        for (i, host) in hosts.into_iter().enumerate() {
            let local = dir.join(format!("{i}.sock"));
            let listener = UnixListener::bind(&local)
                .and_then(|l| l.set_nonblocking(true).map(|_| l))
                .map_err(|e| format!("{}: {e}", local.display()))?;
            let link = Link {
                host,
                local,
                listener,
                applier: applier.clone(),
                sink: sink.clone(),
                forwarded_for: None,
                drain_failures: 0,
                failing_since: None,
                reported: false,
            };
            let stop = stop.clone();
            let t = std::thread::Builder::new()
                .name(format!("gaffer-home-{i}"))
                .spawn(move || link.run(&stop, every))
                .map_err(|e| format!("starting a link thread: {e}"))?;
            threads.push(t);
        }
        Ok(HomeLinks {
            stop,
            threads,
            dir: Some(dir),
        })
    }

    /// Stops every link and waits for them.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(d) = self.dir.take() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

impl Drop for HomeLinks {
    fn drop(&mut self) {
        self.stop();
    }
}

struct Link {
    host: HomeHost,
    local: PathBuf,
    listener: UnixListener,
    applier: Arc<Applier>,
    sink: Option<EventSink>,
    /// The connection (count of masters started) the socket was forwarded on.
    forwarded_for: Option<u64>,
    drain_failures: u32,
    failing_since: Option<gaffer_core::time::Timestamp>,
    reported: bool,
}

impl Link {
    fn run(mut self, stop: &AtomicBool, every: Duration) {
        let mut next = Instant::now();
        while !stop.load(Ordering::SeqCst) {
            self.accept_all();
            if Instant::now() >= next {
                self.pass();
                next = Instant::now() + every;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn accept_all(&self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => self.answer(stream),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!(host = %self.host.name, error = %e, "accepting a report");
                    return;
                }
            }
        }
    }

    /// One message, one ack.
    fn answer(&self, stream: UnixStream) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(READ_TIMEOUT));
        let _ = stream.set_write_timeout(Some(READ_TIMEOUT));
        let mut line = Vec::new();
        let read = BufReader::new(&stream)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line);
        let ack = match read {
            Err(e) => {
                tracing::warn!(host = %self.host.name, error = %e, "reading a report");
                return;
            }
            Ok(_) if line.len() > MAX_LINE => home::Ack {
                id: String::new(),
                ok: false,
                retry: false,
                note: format!("a report is at most {MAX_LINE} bytes"),
            },
            Ok(_) => match serde_json::from_slice::<HomeMessage>(&line) {
                Ok(msg) => self.applier.apply(&self.host.name, "socket", msg),
                Err(e) => home::Ack {
                    id: String::new(),
                    ok: false,
                    retry: false,
                    note: format!("not a report: {e}"),
                },
            },
        };
        let mut text = serde_json::to_string(&ack).unwrap_or_else(|_| "{}".into());
        text.push('\n');
        if let Err(e) = (&stream).write_all(text.as_bytes()) {
            // The sender spools it and the drain finds it applied already.
            tracing::debug!(host = %self.host.name, error = %e, "the ack was not delivered");
        }
    }

    /// Setup after a new connection, then a drain; only while the connection is up (the
    /// observation makes and remakes it).
    fn pass(&mut self) {
        let conn = &self.host.conn;
        if !conn.is_connected() {
            return;
        }
        let generation = conn.connections_started();
        if self.forwarded_for != Some(generation) {
            match self.setup() {
                Ok(()) => {
                    tracing::info!(host = %self.host.name, "agents there report home");
                    self.forwarded_for = Some(generation);
                }
                Err(e) => {
                    tracing::warn!(host = %self.host.name, error = %e, "forwarding the report socket");
                }
            }
        }
        match self.drain() {
            Ok(n) => {
                if n > 0 {
                    tracing::info!(host = %self.host.name, reports = n, "spool drained");
                }
                self.drain_failures = 0;
                self.failing_since = None;
                if self.reported {
                    self.reported = false;
                    if let Some(s) = &self.sink {
                        s.spool_trouble(&self.host.name, None);
                    }
                }
            }
            Err(e) => {
                self.drain_failures += 1;
                let since = *self.failing_since.get_or_insert_with(chrono::Utc::now);
                tracing::warn!(host = %self.host.name, error = %e, "draining the spool");
                if self.drain_failures >= DRAIN_FAILURES && !self.reported && conn.is_connected() {
                    self.reported = true;
                    if let Some(s) = &self.sink {
                        s.spool_trouble(
                            &self.host.name,
                            Some(SpoolTrouble {
                                since,
                                error: e.clone(),
                            }),
                        );
                    }
                    self.report(
                        CoordinatorEvent::new(
                            CoordinatorEventType::ReportSpoolFailed,
                            chrono::Utc::now(),
                        )
                        .with_detail("host", self.host.name.as_str())
                        .with_detail("error", e.as_str()),
                    );
                }
            }
        }
    }

    fn report(&self, e: CoordinatorEvent) {
        if let Some(s) = &self.sink {
            s.report(&e);
        }
    }

    /// Forwards the host's report socket here and writes the marker.
    fn setup(&self) -> Result<(), String> {
        let dir = self.host.gaffer_dir();
        let socket = format!("{dir}/{SOCKET_FILE}");
        let q = sh_quote(&dir);
        let conn = &self.host.conn;
        conn.shell(
            &format!("mkdir -p {q} && rm -f {}", sh_quote(&socket)),
            None,
            REMOTE_TIMEOUT,
        )
        .map_err(|e| e.to_string())?;
        conn.forward_socket(&socket, &self.local, REMOTE_TIMEOUT)
            .map_err(|e| e.to_string())?;
        let marker = RemoteMarker {
            host: self.host.name.clone(),
            socket,
            spool: format!("{dir}/{SPOOL_FILE}"),
        };
        let json = serde_json::to_vec(&marker).map_err(|e| e.to_string())?;
        conn.shell(
            &format!("cat > {q}/{MARKER_FILE}.tmp && mv {q}/{MARKER_FILE}.tmp {q}/{MARKER_FILE}"),
            Some(&json),
            REMOTE_TIMEOUT,
        )
        .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Takes the spool, applies what it holds, deletes it; the number of messages applied.
    fn drain(&self) -> Result<usize, String> {
        let q = sh_quote(&self.host.gaffer_dir());
        // Under the writers' lock (flock(1) on the spool): take the spool unless a taken one
        // waits (a drain that did not finish, or a late copy of one, never overwrites it), and
        // remove an empty spool. Then print what was taken.
        let take = format!(
            "cd {q} 2>/dev/null || exit 0; \
             take='if [ ! -e {TAKEN_FILE} ] && [ -s {SPOOL_FILE} ]; then mv {SPOOL_FILE} {TAKEN_FILE}; \
             elif [ -e {SPOOL_FILE} ] && [ ! -s {SPOOL_FILE} ]; then rm -f {SPOOL_FILE}; fi'; \
             if [ -e {SPOOL_FILE} ]; then \
               if command -v flock >/dev/null 2>&1; then flock {SPOOL_FILE} sh -c \"$take\"; \
               else sh -c \"$take\"; fi; \
             fi; \
             if [ -e {TAKEN_FILE} ]; then cat {TAKEN_FILE}; fi"
        );
        let conn = &self.host.conn;
        let text = conn
            .shell(&take, None, REMOTE_TIMEOUT)
            .map_err(|e| e.to_string())?;
        if text.is_empty() {
            return Ok(0);
        }
        let (messages, bad) = home::parse_spool(&text);
        if !bad.is_empty() {
            self.keep_bad(&text, &bad);
        }
        let mut retry = None;
        let n = messages.len();
        for m in messages {
            let ack = self.applier.apply(&self.host.name, "spool", m);
            if ack.retry {
                retry = Some(ack.note);
            }
        }
        if let Some(why) = retry {
            // Left in place: the next drain reads it again, applied ones are skipped.
            return Err(format!("kept the spool for the next pass: {why}"));
        }
        conn.shell(&format!("rm -f {q}/{TAKEN_FILE}"), None, REMOTE_TIMEOUT)
            .map_err(|e| e.to_string())?;
        Ok(n)
    }

    /// Keeps the lines of a spool that are not messages in the local
    /// `.gaffer/outbox-unreadable-<host>.jsonl` (nothing is dropped unseen) and reports them.
    fn keep_bad(&self, text: &str, bad: &[(usize, String)]) {
        let lines: Vec<&str> = text.lines().collect();
        let kept: String = bad
            .iter()
            .filter_map(|(n, _)| lines.get(n - 1))
            .map(|l| format!("{l}\n"))
            .collect();
        let path = self.applier.project_dir().join(format!(
            ".gaffer/outbox-unreadable-{}.jsonl",
            self.host.name
        ));
        let saved = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(kept.as_bytes()));
        let error = format!(
            "{} unreadable line(s) in the spool (first: line {}: {}), kept in {}{}",
            bad.len(),
            bad[0].0,
            bad[0].1,
            path.display(),
            match saved {
                Ok(()) => String::new(),
                Err(e) => format!(" (could not be written: {e})"),
            }
        );
        self.report(
            CoordinatorEvent::new(CoordinatorEventType::ReportSpoolFailed, chrono::Utc::now())
                .with_detail("host", self.host.name.as_str())
                .with_detail("error", error.as_str()),
        );
    }
}
