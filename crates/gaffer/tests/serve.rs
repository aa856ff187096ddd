//! `gaffer serve` locked down, on the real binary: a private tmux session, the project's real
//! ledger, loopback HTTP. The token and the one-time login, the Host and Origin checks, the
//! remote-bind flag, SSE ids and resuming, the request limits, and a prompt shutdown with
//! stuck clients.

use gaffer_coordinator::ledger::Ledger;
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_testkit::tmux::TmuxServer;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Project {
    tmux: TmuxServer,
    dir: tempfile::TempDir,
}

impl Project {
    fn new(tag: &str) -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join(".beads")).unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".beads/issues.jsonl"), "").unwrap();
        let tmux = TmuxServer::new(tag);
        tmux.session("srv", "sleep 600");
        Project { tmux, dir }
    }

    fn gaffer(&self, extra: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_gaffer"));
        c.args([
            "--project",
            &self.dir.path().display().to_string(),
            "--json",
        ])
        .arg("serve")
        .args(["--socket", &self.tmux.name, "--session", "srv"])
        .args(extra)
        .args(["--set", "coordinator.poll_interval=300ms"])
        .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
        .env_remove("AGENT_MAIL_URL");
        c
    }

    fn token_file(&self) -> PathBuf {
        self.dir.path().join(".gaffer/serve.token")
    }

    fn ledger(&self) -> Ledger {
        Ledger::open(&self.dir.path().join(".gaffer/state.db")).expect("ledger")
    }

    /// Starts `gaffer serve` on a free loopback port.
    fn serve(&self, extra: &[&str]) -> Served {
        let mut args = vec!["--addr", "127.0.0.1:0", "--exit-after", "120"];
        args.extend_from_slice(extra);
        self.start(&args)
    }

    /// Like [`start`](Self::start), with gaffer's info log on stderr.
    fn start_with_log(&self, args: &[&str]) -> Served {
        self.spawn(args, true)
    }

    fn start(&self, args: &[&str]) -> Served {
        self.spawn(args, false)
    }

    fn spawn(&self, args: &[&str], log: bool) -> Served {
        let stderr = self.dir.path().join(format!("serve-{}.err", unique()));
        let mut cmd = self.gaffer(args);
        if log {
            cmd.env("GAFFER_LOG", "gaffer=info");
        }
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("gaffer serve starts");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut first = String::new();
        out.read_line(&mut first).expect("the listening line");
        let v: serde_json::Value = serde_json::from_str(&first).unwrap_or_else(|e| {
            panic!(
                "{e}: {first:?}\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default()
            )
        });
        let url = v["listening"].as_str().expect("url").to_string();
        let addr = url.trim_start_matches("http://").to_string();
        Served {
            child,
            addr,
            login: v["login"].as_str().expect("login url").to_string(),
            token: std::fs::read_to_string(self.token_file())
                .expect("token file")
                .trim()
                .to_string(),
            stderr,
        }
    }
}

fn unique() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

struct Served {
    child: Child,
    addr: String,
    login: String,
    token: String,
    stderr: PathBuf,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, head, body.
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends `raw` and reads the whole answer.
fn send(addr: &str, raw: &str) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Reply {
        status,
        head: head.to_string(),
        body: body.to_string(),
    }
}

impl Served {
    fn get(&self, path: &str, headers: &[&str]) -> Reply {
        let mut raw = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for h in headers {
            raw.push_str(h);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        send(&self.addr, &raw)
    }

    fn bearer(&self) -> String {
        format!("Authorization: Bearer {}", self.token)
    }

    fn port(&self) -> &str {
        self.addr.rsplit(':').next().unwrap()
    }
}

#[test]
fn the_token_guards_every_route_but_health_and_a_login_link_works_once() {
    let p = Project::new("srvauth");
    let s = p.serve(&[]);
    // The token file: 256 bits in hex, mode 0600.
    assert_eq!(s.token.len(), 64, "{}", s.token);
    assert!(s.token.bytes().all(|b| b.is_ascii_hexdigit()));
    let mode = std::fs::metadata(p.token_file())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let ignore = std::fs::read_to_string(p.dir.path().join(".gaffer/.gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "serve.token"), "{ignore}");
    let health = s.get("/health", &[]);
    assert_eq!(
        (health.status, health.json()["ok"].as_bool()),
        (200, Some(true))
    );
    for path in [
        "/",
        "/agents",
        "/assignments",
        "/digest",
        "/events",
        "/nope",
    ] {
        let r = s.get(path, &[]);
        assert_eq!(r.status, 401, "{path}: {}", r.head);
        assert_eq!(r.json()["error"], "unauthorized", "{path}");
        assert!(r.head.contains("WWW-Authenticate: Bearer"), "{}", r.head);
    }
    let wrong = format!("Authorization: Bearer {}", "0".repeat(64));
    assert_eq!(s.get("/agents", &[&wrong]).status, 401);
    let agents = s.get("/agents", &[&s.bearer()]);
    assert_eq!(agents.status, 200, "{}", agents.body);
    assert!(agents.json().is_array());
    assert_eq!(s.get("/assignments", &[&s.bearer()]).status, 200);
    assert_eq!(s.get("/digest", &[&s.bearer()]).status, 200);
    assert_eq!(s.get("/nope", &[&s.bearer()]).status, 404);
    // The login link: a cookie (HttpOnly, SameSite=Strict) and a redirect to /, once.
    let login_path = s.login.split_once(s.addr.as_str()).expect("login url").1;
    assert!(login_path.starts_with("/login?t="), "{}", s.login);
    let first = s.get(login_path, &[]);
    assert_eq!(first.status, 303, "{}", first.head);
    assert!(first.head.contains("\r\nLocation: /\r\n"), "{}", first.head);
    let set_cookie = first
        .head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: "))
        .expect("a cookie")
        .to_string();
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    assert!(
        !set_cookie.contains(&s.token),
        "the cookie is not the token"
    );
    let cookie = format!("Cookie: {}", set_cookie.split(';').next().unwrap());
    let again = s.get(login_path, &[]);
    assert_eq!(again.status, 401, "a login link works once");
    assert_eq!(again.json()["error"], "login_link_used");
    let index = s.get("/", &[&cookie]);
    assert_eq!(index.status, 200, "{}", index.body);
    assert_eq!(s.get("/agents", &[&cookie]).status, 200);
    let forged = format!("Cookie: gaffer_session_{}={}", s.port(), "1".repeat(32));
    assert_eq!(s.get("/agents", &[&forged]).status, 401);
    // A new link, for another browser, from an authenticated client.
    let minted = send(
        &s.addr,
        &format!(
            "POST /login-url HTTP/1.1\r\nHost: {}\r\n{}\r\nContent-Length: 0\r\n\r\n",
            s.addr,
            s.bearer()
        ),
    );
    assert_eq!(minted.status, 200, "{}", minted.body);
    let link = minted.json()["login_url"].as_str().unwrap().to_string();
    let path = link.split_once(s.addr.as_str()).unwrap().1.to_string();
    assert_eq!(s.get(&path, &[]).status, 303);
    drop(s);
    // The token is reused by the next start.
    let token = std::fs::read_to_string(p.token_file()).unwrap();
    let s2 = p.serve(&[]);
    assert_eq!(s2.token, token.trim());
    drop(s2);
    // A token file others can read is refused, with the fix in the message.
    std::fs::set_permissions(p.token_file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = p
        .gaffer(&["--addr", "127.0.0.1:0", "--exit-after", "5"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");
}

#[test]
fn forged_hosts_cross_origin_posts_and_oversized_requests_are_refused() {
    let p = Project::new("srvhost");
    let s = p.serve(&["--max-connections", "3"]);
    let port = s.port().to_string();
    let bearer = s.bearer();
    // DNS rebinding: the browser sends the attacker's name as Host, with the right port.
    for host in [
        format!("evil.example:{port}"),
        "localhost".to_string(),
        format!("localhost:{}", port.parse::<u32>().unwrap() + 1),
    ] {
        let r = send(
            &s.addr,
            &format!("GET /agents HTTP/1.1\r\nHost: {host}\r\n{bearer}\r\n\r\n"),
        );
        assert_eq!(r.status, 403, "{host}: {}", r.head);
        assert_eq!(r.json()["error"], "bad_host");
        // Even /health.
        let r = send(
            &s.addr,
            &format!("GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n"),
        );
        assert_eq!(r.status, 403, "{host}");
    }
    let r = send(
        &s.addr,
        &format!("GET /agents HTTP/1.1\r\n{bearer}\r\n\r\n"),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("no_host"))
    );
    for host in [
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
        format!("127.0.0.1:{port}"),
    ] {
        let r = send(
            &s.addr,
            &format!("GET /agents HTTP/1.1\r\nHost: {host}\r\n{bearer}\r\n\r\n"),
        );
        assert_eq!(r.status, 200, "{host}");
    }
    // A cross-origin POST is refused even with the token; the server's own origin is not.
    let post = |origin: &str| {
        send(
            &s.addr,
            &format!(
                "POST /login-url HTTP/1.1\r\nHost: {}\r\nOrigin: {origin}\r\n{bearer}\r\nContent-Length: 0\r\n\r\n",
                s.addr
            ),
        )
    };
    let r = post("http://evil.example");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (403, Some("cross_origin"))
    );
    assert_eq!(post("null").status, 403);
    assert_eq!(post(&format!("http://localhost:{port}")).status, 200);
    // A page elsewhere on this machine (same site, another port) cannot read either.
    let r = s.get("/agents", &[&bearer, "Origin: http://localhost:9"]);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (403, Some("cross_origin"))
    );
    assert_eq!(
        s.get(
            "/agents",
            &[&bearer, &format!("Origin: http://127.0.0.1:{port}")]
        )
        .status,
        200
    );
    assert_eq!(s.get("/login-url", &[&bearer]).status, 405);
    // Limits: the head, the body, the connections.
    let big = format!("X-Big: {}", "a".repeat(20_000));
    let r = s.get("/agents", &[&bearer, &big]);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (431, Some("head_too_large"))
    );
    let r = send(
        &s.addr,
        &format!(
            "POST /login-url HTTP/1.1\r\nHost: {}\r\n{bearer}\r\nContent-Length: 1000000\r\n\r\n",
            s.addr
        ),
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (413, Some("body_too_large"))
    );
    let streams: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut c = TcpStream::connect(&s.addr).unwrap();
            write!(
                c,
                "GET /events HTTP/1.1\r\nHost: {}\r\n{bearer}\r\n\r\n",
                s.addr
            )
            .unwrap();
            c
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let r = s.get("/agents", &[&bearer]);
    assert_eq!(r.status, 503, "{}", r.head);
    assert_eq!(r.json()["error"], "too_many_connections");
    assert!(r.json()["message"].as_str().unwrap().contains("limit of 3"));
    drop(streams);
    assert!(gaffer_testkit::wait_until(Duration::from_secs(5), || {
        s.get("/agents", &[&bearer]).status == 200
    }));
}

#[test]
fn a_remote_address_needs_allow_remote_and_warns() {
    let p = Project::new("srvremote");
    let out = p
        .gaffer(&["--addr", "0.0.0.0:0", "--exit-after", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--allow-remote"), "{err}");
    let s = p.start(&[
        "--addr",
        "0.0.0.0:0",
        "--allow-remote",
        "--allow-host",
        "box.lan",
        "--exit-after",
        "60",
    ]);
    let port = s.port().to_string();
    let local = format!("127.0.0.1:{port}");
    let r = send(
        &local,
        &format!(
            "GET /agents HTTP/1.1\r\nHost: box.lan:{port}\r\n{}\r\n\r\n",
            s.bearer()
        ),
    );
    assert_eq!(r.status, 200, "{}", r.head);
    let r = send(
        &local,
        &format!(
            "GET /agents HTTP/1.1\r\nHost: other.lan:{port}\r\n{}\r\n\r\n",
            s.bearer()
        ),
    );
    assert_eq!(r.status, 403);
    let err = std::fs::read_to_string(&s.stderr).unwrap();
    assert!(
        err.contains("warning") && err.contains("reachable from other machines"),
        "{err}"
    );
}

/// One server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    id: i64,
    event: String,
    data: serde_json::Value,
}

/// Reads an event stream.
struct SseClient {
    lines: BufReader<TcpStream>,
    comments: Vec<String>,
}

impl SseClient {
    fn open(s: &Served, extra: &[&str]) -> SseClient {
        let mut c = TcpStream::connect(&s.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let mut raw = format!(
            "GET /events HTTP/1.1\r\nHost: {}\r\n{}\r\n",
            s.addr,
            s.bearer()
        );
        for h in extra {
            raw.push_str(h);
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        c.write_all(raw.as_bytes()).unwrap();
        let mut lines = BufReader::new(c);
        let mut status = String::new();
        lines.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        SseClient {
            lines,
            comments: Vec::new(),
        }
    }

    /// The next event, or `None` when none comes before `deadline`.
    fn next(&mut self, deadline: Instant) -> Option<Sse> {
        let (mut id, mut event, mut data) = (None, String::new(), None);
        let mut line = String::new();
        while Instant::now() < deadline {
            line.clear();
            match self.lines.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) => panic!("{e}"),
            }
            let l = line.trim_end_matches(['\r', '\n']);
            if let Some(c) = l.strip_prefix(':') {
                self.comments.push(c.trim().to_string());
            } else if let Some(v) = l.strip_prefix("id: ") {
                id = Some(v.parse().expect("a numeric id"));
            } else if let Some(v) = l.strip_prefix("event: ") {
                event = v.to_string();
            } else if let Some(v) = l.strip_prefix("data: ") {
                data = Some(serde_json::from_str(v).expect("JSON data"));
            } else if l.is_empty() {
                if let Some(data) = data.take() {
                    let id = id.take().expect("every event has an id");
                    return Some(Sse { id, event, data });
                }
            }
        }
        None
    }
}

fn marker(n: usize) -> CoordinatorEvent {
    CoordinatorEvent::new(CoordinatorEventType::AgentIdle, chrono::Utc::now())
        .with_detail("test_seq", n.to_string())
}

fn seq(e: &Sse) -> Option<usize> {
    e.data["details"]["test_seq"]
        .as_str()
        .and_then(|s| s.parse().ok())
}

#[test]
fn events_carry_ledger_ids_and_resume_after_a_drop_without_gaps_or_duplicates() {
    let p = Project::new("srvsse");
    let s = p.serve(&["--keepalive", "300ms"]);
    let mut ledger = p.ledger();
    let mut got: Vec<Sse> = Vec::new();
    let mut first = SseClient::open(&s, &[]);
    // Events logged by another process (as `gaffer done` does) reach the stream.
    for n in 0..5 {
        ledger.record_event(&marker(n)).unwrap();
    }
    let end = Instant::now() + Duration::from_secs(10);
    while got.iter().filter_map(seq).count() < 3 {
        got.push(first.next(end).expect("events before the drop"));
    }
    // The client drops mid-stream; more events are logged while it is away.
    drop(first);
    for n in 5..8 {
        ledger.record_event(&marker(n)).unwrap();
    }
    let resume = got.last().unwrap().id;
    let mut second = SseClient::open(&s, &[&format!("Last-Event-ID: {resume}")]);
    // The missed events are replayed from the ledger, then live ones follow.
    for n in 8..10 {
        ledger.record_event(&marker(n)).unwrap();
    }
    let end = Instant::now() + Duration::from_secs(10);
    while got.iter().filter_map(seq).count() < 10 {
        got.push(second.next(end).expect("events after the reconnect"));
    }
    // Markers 0..10 exactly once each, in order.
    let seqs: Vec<usize> = got.iter().filter_map(seq).collect();
    assert_eq!(seqs, (0..10).collect::<Vec<_>>());
    // The ids are the ledger's: every event logged in the span, once, in order.
    let ids: Vec<i64> = got.iter().map(|e| e.id).collect();
    let (logged, _) = ledger.events_since(ids[0] - 1).unwrap();
    let logged: Vec<i64> = logged
        .iter()
        .map(|(id, _)| *id)
        .filter(|id| id <= ids.last().unwrap())
        .collect();
    assert_eq!(ids, logged, "no gap, no duplicate");
    assert!(
        got.iter()
            .all(|e| e.event == e.data["type"].as_str().unwrap_or_default())
    );
    // Idle, the stream sends keep-alive comments.
    let _ = second.next(Instant::now() + Duration::from_secs(2));
    assert!(
        second.comments.iter().any(|c| c == "keep-alive"),
        "{:?}",
        second.comments
    );
    // A resume point that is no event id is a clear error.
    let r = s.get("/events", &[&s.bearer(), "Last-Event-ID: soon"]);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("bad_last_event_id"))
    );
    // `?last_event_id=0` replays the whole log.
    let mut all = SseClient::open_path(&s, "/events?last_event_id=0");
    let e = all
        .next(Instant::now() + Duration::from_secs(5))
        .expect("the first event");
    assert_eq!(e.id, ledger.events_since(0).unwrap().0[0].0);
}

impl SseClient {
    fn open_path(s: &Served, path: &str) -> SseClient {
        let mut c = TcpStream::connect(&s.addr).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        write!(
            c,
            "GET {path} HTTP/1.1\r\nHost: {}\r\n{}\r\n\r\n",
            s.addr,
            s.bearer()
        )
        .unwrap();
        let mut lines = BufReader::new(c);
        let mut status = String::new();
        lines.read_line(&mut status).unwrap();
        assert!(status.starts_with("HTTP/1.1 200"), "{status}");
        SseClient {
            lines,
            comments: Vec::new(),
        }
    }
}

#[test]
fn shutdown_takes_under_a_second_with_stuck_clients() {
    let p = Project::new("srvstop");
    // A log far larger than the socket buffers, so a client that never reads blocks the
    // server's writes.
    {
        let mut ledger = p.ledger();
        let pad = "x".repeat(4000);
        for n in 0..8000 {
            ledger
                .record_event(&marker(n).with_detail("pad", pad.clone()))
                .unwrap();
        }
    }
    let mut s = p.start_with_log(&["--addr", "127.0.0.1:0", "--exit-after", "120"]);
    let mut never_reads = TcpStream::connect(&s.addr).unwrap();
    write!(
        never_reads,
        "GET /events?last_event_id=0 HTTP/1.1\r\nHost: {}\r\n{}\r\n\r\n",
        s.addr,
        s.bearer()
    )
    .unwrap();
    let mut half = TcpStream::connect(&s.addr).unwrap();
    write!(half, "GET /agents HTTP/1.1\r\nHost: {}\r\nAuthoriz", s.addr).unwrap();
    let silent = TcpStream::connect(&s.addr).unwrap();
    // A live stream that reads.
    let mut live = SseClient::open(&s, &[]);
    // The server is still answering while they hang.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(s.get("/health", &[]).status, 200);
    let _ = live.next(Instant::now() + Duration::from_millis(200));
    let pid = s.child.id() as i32;
    let t = Instant::now();
    // SAFETY: signalling our own child, which we have not reaped.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let mut status = None;
    while t.elapsed() < Duration::from_secs(10) {
        if let Some(st) = s.child.try_wait().unwrap() {
            status = Some(st);
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = t.elapsed();
    eprintln!("serve shutdown with 4 stuck or open clients: {took:?}");
    let status = status.expect("serve exits");
    assert_eq!(
        status.code(),
        Some(0),
        "{}",
        std::fs::read_to_string(&s.stderr).unwrap_or_default()
    );
    assert!(took < Duration::from_secs(2), "shutdown took {took:?}");
    // Every connection thread ended: none was left for the process's end to kill.
    let log = strip_colour(&std::fs::read_to_string(&s.stderr).unwrap_or_default());
    assert!(
        log.contains("HTTP server stopped") && log.contains("open=4"),
        "{log}"
    );
    assert!(!log.contains("did not end in time"), "{log}");
    drop((never_reads, half, silent, live));
}

/// The log without its colour sequences (`ESC [ … m`).
fn strip_colour(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn the_cockpit_page_needs_a_login_and_its_action_needs_the_csrf_token_and_json() {
    let p = Project::new("srvpage");
    let s = p.serve(&[]);
    let html = "Accept: text/html,application/xhtml+xml";
    // Without credentials a browser gets a page that only says how to log in.
    let r = s.get("/", &[html]);
    assert_eq!(r.status, 401, "{}", r.head);
    assert!(r.head.contains("Content-Type: text/html"), "{}", r.head);
    assert!(r.body.contains("login-needed") && !r.body.contains("gaffer-csrf"));
    for path in [
        "/cockpit",
        "/cockpit.js",
        "/cockpit.css",
        "/screen?pane=%250",
    ] {
        assert_eq!(s.get(path, &[]).status, 401, "{path}");
    }
    // Logged in: the page, with a CSRF token and a strict CSP; its script and style.
    let login_path = s.login.split_once(s.addr.as_str()).unwrap().1.to_string();
    let set_cookie = s
        .get(&login_path, &[])
        .head
        .lines()
        .find_map(|l| l.strip_prefix("Set-Cookie: ").map(str::to_string))
        .expect("a cookie");
    let cookie = format!("Cookie: {}", set_cookie.split(';').next().unwrap());
    let page = s.get("/", &[&cookie, html]);
    assert_eq!(page.status, 200, "{}", page.head);
    assert!(
        page.head
            .contains("Content-Security-Policy: default-src 'none'; script-src 'self'")
    );
    assert!(page.head.contains("X-Frame-Options: DENY"));
    let csrf = page
        .body
        .split_once("name=\"gaffer-csrf\" content=\"")
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(t, _)| t.to_string())
        .expect("the CSRF meta tag");
    assert_eq!(csrf.len(), 32, "{csrf}");
    assert!(
        !page.body.contains(&s.token),
        "the page never holds the token"
    );
    // A bearer client asking for JSON still gets the routes.
    let index = s.get("/", &[&s.bearer()]);
    assert!(
        index.json()["routes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r == "POST /send")
    );
    let js = s.get("/cockpit.js", &[&cookie]);
    assert_eq!(js.status, 200);
    assert!(js.head.contains("Content-Type: text/javascript"));
    assert!(js.body.contains("textContent") && !js.body.contains("innerHTML"));
    assert!(s.get("/cockpit.css", &[&cookie]).head.contains("text/css"));
    // The view: the session, agents (none here), assignments, the digest, event types.
    let view = s.get("/cockpit", &[&cookie]).json();
    assert_eq!(view["session"], "srv");
    assert!(view["agents"].as_array().unwrap().is_empty(), "{view}");
    assert!(view["assignments"].is_array() && view["digest"].is_object());
    assert!(
        view["event_types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "agent_busy")
    );
    // The sleep pane is no agent: nothing to preview.
    let r = s.get("/screen?pane=%250", &[&cookie]);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("no_pane"))
    );
    assert_eq!(s.get("/screen", &[&cookie]).status, 400);
    // The action: the session's CSRF token, JSON, and a well-formed body.
    let post = |headers: &[&str], body: &str| {
        let mut raw = format!("POST /send HTTP/1.1\r\nHost: {}\r\n", s.addr);
        for h in headers {
            raw.push_str(h);
            raw.push_str("\r\n");
        }
        raw.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
        send(&s.addr, &raw)
    };
    let json = "Content-Type: application/json";
    let body = r#"{"pane":"%0","text":"hello"}"#;
    let with_csrf = format!("X-Gaffer-Csrf: {csrf}");
    let r = post(&[json], body);
    assert_eq!(r.status, 401, "no credentials");
    let r = post(&[&cookie, json], body);
    assert_eq!((r.status, r.json()["error"].as_str()), (403, Some("csrf")));
    let wrong = format!("X-Gaffer-Csrf: {}", "0".repeat(32));
    assert_eq!(post(&[&cookie, json, &wrong], body).status, 403);
    let r = post(&[&cookie, "Content-Type: text/plain", &with_csrf], body);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (415, Some("not_json"))
    );
    let r = post(&[&cookie, json, &with_csrf], "{\"pane\": 3}");
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("bad_request"))
    );
    let r = post(&[&cookie, json, &with_csrf], r#"{"pane":"%0","text":"  "}"#);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("empty_prompt"))
    );
    let r = post(&[&cookie, json, &with_csrf], body);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("no_pane"))
    );
    // A bearer client needs no CSRF token (no browser sends the header by itself).
    let r = post(&[&s.bearer(), json], body);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("no_pane"))
    );
    // From another origin, even with every credential: refused.
    let r = post(
        &[&cookie, json, &with_csrf, "Origin: http://evil.example"],
        body,
    );
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (403, Some("cross_origin"))
    );
    assert_eq!(s.get("/send", &[&cookie]).status, 405);
    // The other controls: the same guard, then the control API's answer.
    for path in ["/answer", "/pause", "/resume", "/unassign", "/reassign"] {
        let mut raw = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{cookie}\r\n{json}\r\n",
            s.addr
        );
        raw.push_str("Content-Length: 2\r\n\r\n{}");
        let r = send(&s.addr, &raw);
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (403, Some("csrf")),
            "{path}"
        );
        assert_eq!(s.get(path, &[&cookie]).status, 405, "{path}");
    }
    let control = |path: &str, body: &str| {
        let raw = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\n{cookie}\r\n{json}\r\n{with_csrf}\r\nContent-Length: {}\r\n\r\n{body}",
            s.addr,
            body.len()
        );
        send(&s.addr, &raw)
    };
    let r = control("/pause", r#"{"pane":"%0","all":true}"#);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (400, Some("bad_request"))
    );
    let r = control("/pause", r#"{"all":true}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["all"], true);
    assert!(p.ledger().pauses().unwrap().all, "kept in the ledger");
    assert_eq!(s.get("/cockpit", &[&cookie]).json()["pauses"]["all"], true);
    let r = control("/resume", r#"{"all":true}"#);
    assert_eq!((r.status, r.json()["all"].as_bool()), (200, Some(false)));
    let r = control("/unassign", r#"{"bead":"nope-1"}"#);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("no_bead"))
    );
    let r = control("/answer", r#"{"pane":"%0","option":1}"#);
    assert_eq!(
        (r.status, r.json()["error"].as_str()),
        (404, Some("no_pane"))
    );
    for path in ["/dialog", "/jump"] {
        assert_eq!(s.get(path, &[&cookie]).status, 400, "{path} needs ?pane=");
        let r = s.get(&format!("{path}?pane=%250"), &[&cookie]);
        assert_eq!(
            (r.status, r.json()["error"].as_str()),
            (404, Some("no_pane"))
        );
    }
}
