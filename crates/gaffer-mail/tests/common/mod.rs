//! Test harness: the real Agent Mail server (the test kit's launcher of
//! `scripts/agentmail.sh`), and a tiny loopback proxy that can inject faults.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The real server (`scripts/agentmail.sh`), from the test kit.
pub use gaffer_testkit::agentmail::AgentMail as RealServer;

/// What the fault proxy does with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward to the upstream server.
    Pass,
    /// Answer HTTP 401.
    Unauthorized,
    /// Answer HTTP 200 with a body that is not JSON.
    Garbage,
    /// Accept and never answer (until the mode changes, at most 30 s).
    Hang,
    /// Answer HTTP 503 once, then pass.
    BusyOnce,
    /// Forward to the upstream server (so the call takes effect), then close the connection
    /// without answering: an I/O failure after the request was sent.
    PassThenDrop,
    /// Forward to the upstream server, then answer HTTP 502 instead of its reply.
    PassThen502,
}

/// A loopback HTTP proxy in front of `upstream` that injects faults.
pub struct FaultProxy {
    pub url: String,
    mode: Arc<Mutex<Mode>>,
    /// The Authorization header of each request seen (None when absent).
    pub auth_seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl FaultProxy {
    pub fn start(upstream_port: Option<u16>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let mode = Arc::new(Mutex::new(Mode::Pass));
        let auth_seen = Arc::new(Mutex::new(Vec::new()));
        let (m, a) = (mode.clone(), auth_seen.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (m, a) = (m.clone(), a.clone());
                std::thread::spawn(move || handle(stream, upstream_port, m, a));
            }
        });
        FaultProxy {
            url: format!("http://127.0.0.1:{port}/mcp/"),
            mode,
            auth_seen,
        }
    }

    pub fn set(&self, mode: Mode) {
        *self.mode.lock().unwrap() = mode;
    }
}

fn read_request(s: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((head, buf[head_end..head_end + len].to_vec()))
}

fn handle(
    mut s: TcpStream,
    upstream: Option<u16>,
    mode: Arc<Mutex<Mode>>,
    auth: Arc<Mutex<Vec<Option<String>>>>,
) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let Some((head, body)) = read_request(&mut s) else {
        return;
    };
    let a = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("authorization")
            .then(|| v.trim().to_string())
    });
    auth.lock().unwrap().push(a);
    let current = {
        let mut m = mode.lock().unwrap();
        let c = *m;
        if c == Mode::BusyOnce {
            *m = Mode::Pass;
        }
        c
    };
    let reply: Vec<u8> = match current {
        Mode::BusyOnce => {
            let b = "busy";
            format!("HTTP/1.1 503 Service Unavailable\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}", b.len()).into_bytes()
        }
        Mode::Unauthorized => {
            let b = r#"{"detail":"Unauthorized"}"#;
            format!("HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}", b.len()).into_bytes()
        }
        Mode::Garbage => {
            let b = "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{not json";
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}", b.len()).into_bytes()
        }
        Mode::Hang => {
            let t = Instant::now();
            while *mode.lock().unwrap() == Mode::Hang && t.elapsed() < Duration::from_secs(30) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        Mode::Pass | Mode::PassThenDrop | Mode::PassThen502 => {
            let Some(port) = upstream else { return };
            let Ok(mut up) = TcpStream::connect(("127.0.0.1", port)) else {
                return;
            };
            let _ = up.set_read_timeout(Some(Duration::from_secs(30)));
            let req = format!(
                "POST /mcp/ HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = up.write_all(req.as_bytes());
            let _ = up.write_all(&body);
            let mut resp = Vec::new();
            let _ = up.read_to_end(&mut resp);
            match current {
                Mode::PassThenDrop => return,
                Mode::PassThen502 => {
                    let b = "bad gateway";
                    format!("HTTP/1.1 502 Bad Gateway\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}", b.len()).into_bytes()
                }
                _ => resp,
            }
        }
    };
    let _ = s.write_all(&reply);
    let _ = s.flush();
}

/// A fresh absolute project key.
pub fn project_dir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("gaffer-mail-proj-")
        .tempdir()
        .expect("temp dir")
}
