//! The HTTP server: routing, the control endpoint, the request log and streamed bodies.

use crate::script::{Decision, Mode, Script, Turn};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Errors starting the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {message}")]
    Listen { addr: String, message: String },
    #[error("refusing to listen on {0}: the model server binds loopback addresses only")]
    NotLoopback(String),
    #[error("cannot open the request log {path}: {source}")]
    Log {
        path: String,
        source: std::io::Error,
    },
}

/// A request as the vendor modules see it.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Sequence number in the log.
    pub seq: u64,
    pub method: String,
    /// The path without the query.
    pub path: String,
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// A header's value (name in lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Something that writes the pieces of a streamed body, one `send` at a time.
pub struct Sink(Sender<Vec<u8>>);

impl Sink {
    /// Sends bytes to the client now; false once the client has gone.
    pub fn send(&self, bytes: impl Into<Vec<u8>>) -> bool {
        self.0.send(bytes.into()).is_ok()
    }
    /// Sends one server-sent event (`event:` line only when `event` is non-empty).
    pub fn event(&self, event: &str, data: &serde_json::Value) -> bool {
        let mut s = String::new();
        if !event.is_empty() {
            s.push_str("event: ");
            s.push_str(event);
            s.push('\n');
        }
        s.push_str("data: ");
        s.push_str(&data.to_string());
        s.push_str("\n\n");
        self.send(s)
    }
}

/// What a vendor module answers.
pub enum HttpResponse {
    /// A whole body.
    Full {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Headers now, then a body written by `producer` on its own thread.
    Stream {
        status: u16,
        headers: Vec<(String, String)>,
        producer: Box<dyn FnOnce(Sink) + Send>,
    },
    /// Never answer (the connection is held until the client gives up or the server stops).
    Hang,
}

impl HttpResponse {
    /// A JSON body.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        HttpResponse::Full {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }
    /// A JSON body with extra headers.
    pub fn json_with(status: u16, value: &serde_json::Value, extra: Vec<(String, String)>) -> Self {
        let mut headers = vec![("content-type".into(), "application/json".into())];
        headers.extend(extra);
        HttpResponse::Full {
            status,
            headers,
            body: value.to_string().into_bytes(),
        }
    }
    /// An SSE stream.
    pub fn sse(producer: impl FnOnce(Sink) + Send + 'static) -> Self {
        HttpResponse::Stream {
            status: 200,
            headers: vec![
                ("content-type".into(), "text/event-stream".into()),
                ("cache-control".into(), "no-cache".into()),
            ],
            producer: Box::new(producer),
        }
    }
}

/// One entry of the request log.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub seq: u64,
    /// When the request was received, in milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// When the response was written to its end (the last chunk of a stream), on the same
    /// clock; `None` while it is still being written, or when it never is (a hang).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    pub method: String,
    pub path: String,
    /// The body as JSON, or as a string when it is not JSON.
    pub body: serde_json::Value,
    /// The neutral view of the request, once a vendor module has read it.
    pub turn: Option<Turn>,
    /// What the script chose.
    pub decision: Option<Decision>,
}

/// Shared state: the script, the log.
pub struct State {
    script: Mutex<Script>,
    log: Mutex<Vec<LogEntry>>,
    log_file: Option<Mutex<File>>,
    seq: Mutex<u64>,
    started: Instant,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl State {
    fn new(script: Script, log_path: Option<&Path>) -> Result<Self, ServerError> {
        let log_file = match log_path {
            Some(p) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|source| ServerError::Log {
                        path: p.display().to_string(),
                        source,
                    })?,
            )),
            None => None,
        };
        Ok(State {
            script: Mutex::new(script),
            log: Mutex::new(Vec::new()),
            log_file,
            seq: Mutex::new(0),
            started: Instant::now(),
        })
    }

    /// Asks the script for the reply to `turn` of request `seq`, and logs both.
    pub fn decide(&self, seq: u64, turn: Turn) -> Decision {
        let decision = lock(&self.script).decide(&turn);
        let mut log = lock(&self.log);
        if let Some(e) = log.iter_mut().rev().find(|e| e.seq == seq) {
            e.turn = Some(turn);
            e.decision = Some(decision.clone());
            if let Some(f) = &self.log_file {
                let line = serde_json::to_string(&*e).unwrap_or_default();
                let _ = writeln!(lock(f), "{line}");
            }
        }
        decision
    }

    /// Everything received so far.
    pub fn log(&self) -> Vec<LogEntry> {
        lock(&self.log).clone()
    }

    fn record(&self, method: &str, path: &str, body: &[u8]) -> u64 {
        let seq = {
            let mut s = lock(&self.seq);
            *s += 1;
            *s
        };
        let body = serde_json::from_slice(body)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(body).into()));
        lock(&self.log).push(LogEntry {
            seq,
            at_ms: now_ms(),
            finished_ms: None,
            method: method.into(),
            path: path.into(),
            body,
            turn: None,
            decision: None,
        });
        seq
    }

    /// Notes that the response to request `seq` has been written to its end.
    fn finish(&self, seq: u64) {
        let at = now_ms();
        if let Some(e) = lock(&self.log).iter_mut().rev().find(|e| e.seq == seq) {
            e.finished_ms = Some(at);
        }
    }

    fn set_mode(&self, mode: Option<Mode>) {
        lock(&self.script).mode = mode;
    }
}

/// A running model server.
pub struct ModelServer {
    addr: SocketAddr,
    state: Arc<State>,
    server: Arc<tiny_http::Server>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl ModelServer {
    /// Starts the server on `addr` (a loopback address; port 0 picks a free one).
    pub fn start(addr: &str, script: Script, log_path: Option<&Path>) -> Result<Self, ServerError> {
        let parsed: SocketAddr = addr.parse().map_err(|e| ServerError::Listen {
            addr: addr.into(),
            message: format!("{e}"),
        })?;
        if !parsed.ip().is_loopback() {
            return Err(ServerError::NotLoopback(addr.into()));
        }
        let server = tiny_http::Server::http(parsed).map_err(|e| ServerError::Listen {
            addr: addr.into(),
            message: e.to_string(),
        })?;
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| ServerError::Listen {
                addr: addr.into(),
                message: "not an IP socket".into(),
            })?;
        let server = Arc::new(server);
        let state = Arc::new(State::new(script, log_path)?);
        let mut threads = Vec::new();
        // A few acceptors; every request then gets its own thread (streams and hangs block).
        for _ in 0..4 {
            let server = Arc::clone(&server);
            let state = Arc::clone(&state);
            threads.push(std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || serve(request, &state));
                }
            }));
        }
        Ok(ModelServer {
            addr,
            state,
            server,
            threads,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The request log so far.
    pub fn log(&self) -> Vec<LogEntry> {
        self.state.log()
    }

    /// Sets (or with `None` clears) the mode that overrides the script.
    pub fn set_mode(&self, mode: Option<Mode>) {
        self.state.set_mode(mode);
    }

    /// Seconds since start (for logs).
    pub fn uptime_secs(&self) -> f64 {
        self.state.started.elapsed().as_secs_f64()
    }
}

impl Drop for ModelServer {
    fn drop(&mut self) {
        // `unblock` wakes one acceptor: one per thread, or the join below waits forever.
        for _ in 0..self.threads.len() {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// The largest request body read; a bigger one is answered 413.
pub const MAX_REQUEST_BYTES: u64 = 64 << 20;

fn serve(mut request: tiny_http::Request, state: &State) {
    let mut body = Vec::new();
    let _ = std::io::Read::read_to_end(
        &mut std::io::Read::take(request.as_reader(), MAX_REQUEST_BYTES + 1),
        &mut body,
    );
    if body.len() as u64 > MAX_REQUEST_BYTES {
        let msg = format!("request body larger than {} MiB", MAX_REQUEST_BYTES >> 20);
        respond(
            request,
            HttpResponse::json(413, &serde_json::json!({"error": {"message": msg}})),
        );
        return;
    }
    let url = request.url().to_string();
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (url.clone(), String::new()),
    };
    let method = request.method().as_str().to_string();
    if let Some(resp) = control(&method, &path, &body, state) {
        respond(request, resp);
        return;
    }
    let seq = state.record(&method, &path, &body);
    let headers = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_ascii_lowercase(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let req = HttpRequest {
        seq,
        method,
        path,
        query,
        headers,
        body,
    };
    let resp = crate::route(&req, state);
    if respond(request, resp) {
        state.finish(seq);
    }
}

fn control(method: &str, path: &str, body: &[u8], state: &State) -> Option<HttpResponse> {
    let ok = || HttpResponse::json(200, &serde_json::json!({"ok": true}));
    let bad = |e: String| HttpResponse::json(400, &serde_json::json!({"error": e}));
    Some(match (method, path) {
        ("GET", "/_control/health") => ok(),
        ("GET", "/_control/log") => HttpResponse::json(
            200,
            &serde_json::to_value(state.log()).unwrap_or(serde_json::Value::Null),
        ),
        ("POST", "/_control/mode") => match serde_json::from_slice::<Mode>(body) {
            Ok(m) => {
                state.set_mode(Some(m));
                ok()
            }
            Err(e) => bad(format!("invalid mode: {e}")),
        },
        ("DELETE", "/_control/mode") => {
            state.set_mode(None);
            ok()
        }
        ("POST", "/_control/script") => match serde_json::from_slice::<Script>(body) {
            Ok(s) => {
                *lock(&state.script) = s;
                ok()
            }
            Err(e) => bad(format!("invalid script: {e}")),
        },
        _ if path.starts_with("/_control/") => HttpResponse::json(
            404,
            &serde_json::json!({"error": "no such control endpoint"}),
        ),
        _ => return None,
    })
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        529 => "Overloaded",
        _ => "Status",
    }
}

fn header(name: &str, value: &str) -> Option<tiny_http::Header> {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
}

/// Writes `resp`; true when it was written to its end (a hang never is, nor a stream whose
/// client went away).
fn respond(request: tiny_http::Request, resp: HttpResponse) -> bool {
    match resp {
        HttpResponse::Full {
            status,
            headers,
            body,
        } => {
            let mut r = tiny_http::Response::from_data(body).with_status_code(status);
            for (k, v) in headers {
                if let Some(h) = header(&k, &v) {
                    r.add_header(h);
                }
            }
            request.respond(r).is_ok()
        }
        HttpResponse::Stream {
            status,
            headers,
            producer,
        } => {
            // Written by hand on the raw connection, chunk by chunk, each flushed at once, so
            // the client sees every event when it is produced.
            let (tx, rx) = channel();
            std::thread::spawn(move || producer(Sink(tx)));
            let mut w = request.into_writer();
            let mut head = format!("HTTP/1.1 {status} {}\r\n", reason(status));
            for (k, v) in &headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("transfer-encoding: chunked\r\nconnection: close\r\n\r\n");
            if w.write_all(head.as_bytes())
                .and_then(|_| w.flush())
                .is_err()
            {
                return false;
            }
            for chunk in rx {
                if chunk.is_empty() {
                    continue;
                }
                let framed = [
                    format!("{:x}\r\n", chunk.len()).into_bytes(),
                    chunk,
                    b"\r\n".to_vec(),
                ]
                .concat();
                if w.write_all(&framed).and_then(|_| w.flush()).is_err() {
                    return false;
                }
            }
            w.write_all(b"0\r\n\r\n").and_then(|_| w.flush()).is_ok()
        }
        HttpResponse::Hang => {
            // Hold the request (and its connection) for a bounded time, then drop it.
            std::thread::sleep(std::time::Duration::from_secs(600));
            drop(request);
            false
        }
    }
}
