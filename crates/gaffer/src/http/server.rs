//! The server: an accept loop and one thread per connection, at most
//! [`ServerConfig::max_connections`] at once. Every connection has read and write timeouts, and
//! the server keeps a handle on each one, so [`Server::shutdown`] can close them all: a client
//! that never reads, or that sends half a request, holds nothing up.

use super::request::{Limits, Request, read_request};
use super::response::Response;
use std::collections::HashMap;
use std::io::{ErrorKind, Read};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How the server treats its connections.
#[derive(Debug, Clone, Copy)]
pub struct ServerConfig {
    /// Request size limits.
    pub limits: Limits,
    /// Connections served at once; more are answered 503 and closed.
    pub max_connections: usize,
    /// The longest wait for the next bytes of a request.
    pub read_timeout: Duration,
    /// The longest a write may block (a client that stops reading is dropped after it).
    pub write_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            limits: Limits::default(),
            max_connections: 64,
            read_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(5),
        }
    }
}

/// Answers requests.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request on `conn` (a stream may keep writing until `conn.stopping()`).
    fn handle(&self, req: Request, conn: &mut Connection);
}

/// One client connection, as a handler sees it.
pub struct Connection {
    stream: TcpStream,
    stop: Arc<AtomicBool>,
}

impl Connection {
    /// Sends a whole response.
    pub fn send(&mut self, response: &Response) -> std::io::Result<()> {
        response.write_to(&mut self.stream)
    }

    /// The stream, for handlers that write their own (event streams).
    pub fn stream(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// The client has closed its side (or the connection broke): a stream that only writes
    /// would otherwise notice only at its next write.
    pub fn peer_closed(&mut self) -> bool {
        if self.stream.set_nonblocking(true).is_err() {
            return true;
        }
        // Anything the client sends after its request is read and dropped (a bounded amount
        // per call), so that a close behind it is seen.
        let mut buf = [0u8; 512];
        let mut closed = false;
        for _ in 0..16 {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(_) => continue,
                Err(e) => {
                    closed = !matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted);
                    break;
                }
            }
        }
        self.stream.set_nonblocking(false).is_err() || closed
    }

    /// The server is shutting down: a long-running handler returns.
    pub fn stopping(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}

/// What a shutdown did.
#[derive(Debug, Clone, Copy)]
pub struct ShutdownReport {
    /// Connections open when it began.
    pub open: usize,
    /// Connection threads still running when the grace period ended (left to the process's end).
    pub abandoned: usize,
    /// How long it took.
    pub took: Duration,
}

type Registry = Arc<Mutex<HashMap<u64, TcpStream>>>;

fn lock(r: &Registry) -> MutexGuard<'_, HashMap<u64, TcpStream>> {
    r.lock().unwrap_or_else(|p| p.into_inner())
}

/// A listening server.
pub struct Server {
    listener: TcpListener,
    config: ServerConfig,
    stop: Arc<AtomicBool>,
    open: Registry,
    workers: Vec<JoinHandle<()>>,
    next_id: u64,
    refused: Arc<AtomicU64>,
}

/// How often the accept loop looks at its stop condition when no client comes.
const ACCEPT_TICK: Duration = Duration::from_millis(20);

impl Server {
    /// Binds `addr`.
    pub fn bind(addr: SocketAddr, config: ServerConfig) -> std::io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            config,
            stop: Arc::new(AtomicBool::new(false)),
            open: Arc::new(Mutex::new(HashMap::new())),
            workers: Vec::new(),
            next_id: 0,
            refused: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The address bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        lock(&self.open).len()
    }

    /// Connections refused because the server was full.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Accepts and serves connections until `done()` says stop.
    pub fn serve_until(&mut self, handler: Arc<dyn Handler>, done: impl Fn() -> bool) {
        while !done() {
            match self.listener.accept() {
                Ok((stream, peer)) => self.admit(stream, peer, &handler),
                Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_TICK),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Out of file descriptors and the like: say so, and let it pass.
                    tracing::warn!(error = %e, "accept failed");
                    std::thread::sleep(ACCEPT_TICK);
                }
            }
            self.workers.retain(|w| !w.is_finished());
        }
    }

    fn admit(&mut self, stream: TcpStream, peer: SocketAddr, handler: &Arc<dyn Handler>) {
        let cfg = self.config;
        if stream.set_nonblocking(false).is_err()
            || stream.set_read_timeout(Some(cfg.read_timeout)).is_err()
            || stream.set_write_timeout(Some(cfg.write_timeout)).is_err()
        {
            return;
        }
        if self.open_connections() >= cfg.max_connections {
            self.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(%peer, limit = cfg.max_connections, "too many connections; refused");
            refuse(stream, cfg.max_connections);
            return;
        }
        let Ok(handle) = stream.try_clone() else {
            return;
        };
        let id = self.next_id;
        self.next_id += 1;
        lock(&self.open).insert(id, handle);
        let (open, stop, handler) = (self.open.clone(), self.stop.clone(), handler.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("serve-conn-{id}"))
            .spawn(move || {
                serve_connection(stream, &cfg, &stop, handler.as_ref());
                lock(&open).remove(&id);
            });
        match spawned {
            Ok(w) => self.workers.push(w),
            Err(e) => {
                tracing::warn!(error = %e, "cannot start a connection thread");
                if let Some(s) = lock(&self.open).remove(&id) {
                    let _ = s.shutdown(Shutdown::Both);
                }
            }
        }
    }

    /// Stops: every connection is shut down (which wakes a thread blocked reading or writing
    /// it), then the threads get up to `grace` to end.
    pub fn shutdown(mut self, grace: Duration) -> ShutdownReport {
        let start = Instant::now();
        self.stop.store(true, Ordering::SeqCst);
        let open = {
            let conns = lock(&self.open);
            for s in conns.values() {
                let _ = s.shutdown(Shutdown::Both);
            }
            conns.len()
        };
        let deadline = start + grace;
        while Instant::now() < deadline && self.workers.iter().any(|w| !w.is_finished()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let (done, running): (Vec<_>, Vec<_>) =
            self.workers.drain(..).partition(|w| w.is_finished());
        for w in done {
            let _ = w.join();
        }
        ShutdownReport {
            open,
            abandoned: running.len(),
            took: start.elapsed(),
        }
    }
}

fn serve_connection(
    mut stream: TcpStream,
    cfg: &ServerConfig,
    stop: &Arc<AtomicBool>,
    handler: &dyn Handler,
) {
    match read_request(&mut stream, &cfg.limits) {
        Ok(req) => {
            let mut conn = Connection {
                stream,
                stop: stop.clone(),
            };
            handler.handle(req, &mut conn);
            let _ = conn.stream.shutdown(Shutdown::Both);
        }
        Err(e) => {
            if let Some(status) = e.status() {
                let code = match status {
                    408 => "request_timeout",
                    411 => "length_required",
                    413 => "body_too_large",
                    431 => "head_too_large",
                    _ => "bad_request",
                };
                let _ = Response::error(status, code, &e.to_string()).write_to(&mut stream);
                close_gently(stream);
            }
        }
    }
}

/// Refuses a connection when the server is full: what the client already sent is read (so
/// the close does not reset the connection before the answer), then 503.
fn refuse(mut stream: TcpStream, limit: usize) {
    if stream.set_nonblocking(true).is_ok() {
        let mut buf = [0u8; 4096];
        let mut total = 0;
        while let Ok(n) = stream.read(&mut buf) {
            total += n;
            if n == 0 || total > 64 * 1024 {
                break;
            }
        }
    }
    if stream.set_nonblocking(false).is_err()
        || stream
            .set_write_timeout(Some(Duration::from_millis(200)))
            .is_err()
    {
        return;
    }
    let msg = format!("the server is serving its limit of {limit} connections; try again later");
    let _ = Response::error(503, "too_many_connections", &msg)
        .with_header("Retry-After", "1")
        .write_to(&mut stream);
    let _ = stream.shutdown(Shutdown::Write);
}

/// Closes after an error answer: the write side first, then what the client still sends is
/// read for a moment, so that unread input does not turn the close into a reset that could
/// destroy the answer.
fn close_gently(mut stream: TcpStream) {
    let _ = stream.shutdown(Shutdown::Write);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = [0u8; 4096];
    let mut total = 0;
    while let Ok(n) = stream.read(&mut buf) {
        total += n;
        if n == 0 || total > 256 * 1024 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::mpsc;

    /// `/stream` writes until the write fails or the server stops and reports how it ended;
    /// anything else is answered 200 "ok".
    struct Test(Mutex<mpsc::Sender<&'static str>>);

    impl Handler for Test {
        fn handle(&self, req: Request, conn: &mut Connection) {
            if req.path != "/stream" {
                let _ = conn.send(&Response::json(200, &"ok"));
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            let how = loop {
                if conn.stopping() {
                    break "stopped";
                }
                if conn.stream().write_all(&chunk).is_err() {
                    break if conn.stopping() {
                        "stopped"
                    } else {
                        "write failed"
                    };
                }
            };
            let _ = self.0.lock().map(|tx| tx.send(how));
        }
    }

    fn start(
        cfg: ServerConfig,
    ) -> (
        SocketAddr,
        mpsc::Receiver<&'static str>,
        Arc<AtomicBool>,
        JoinHandle<Server>,
    ) {
        let mut server = Server::bind("127.0.0.1:0".parse().unwrap(), cfg).unwrap();
        let addr = server.local_addr().unwrap();
        let (tx, rx) = mpsc::channel();
        let done = Arc::new(AtomicBool::new(false));
        let d = done.clone();
        let h = std::thread::spawn(move || {
            server.serve_until(Arc::new(Test(Mutex::new(tx))), || d.load(Ordering::SeqCst));
            server
        });
        (addr, rx, done, h)
    }

    fn get(addr: SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(raw).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn a_client_that_stops_reading_is_dropped_after_the_write_timeout() {
        let cfg = ServerConfig {
            write_timeout: Duration::from_millis(300),
            ..ServerConfig::default()
        };
        let (addr, rx, done, h) = start(cfg);
        let mut stuck = TcpStream::connect(addr).unwrap();
        stuck
            .write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        // The handler fills the socket's buffers, then its write times out.
        let how = rx.recv_timeout(Duration::from_secs(10));
        assert_eq!(how, Ok("write failed"));
        done.store(true, Ordering::SeqCst);
        let server = h.join().unwrap();
        assert!(wait_for(|| server.open_connections() == 0));
        drop(stuck);
    }

    /// Waits up to 5 s for `f` (the connection thread deregisters just after the handler).
    fn wait_for(f: impl Fn() -> bool) -> bool {
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        false
    }

    #[test]
    fn shutdown_is_prompt_with_stuck_clients() {
        // Timeouts far longer than the test: only the shutdown can free these connections.
        let cfg = ServerConfig {
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(60),
            ..ServerConfig::default()
        };
        let (addr, rx, done, h) = start(cfg);
        // A client that never reads its stream.
        let mut never_reads = TcpStream::connect(addr).unwrap();
        never_reads
            .write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        // A client that sends half a request.
        let mut half = TcpStream::connect(addr).unwrap();
        half.write_all(b"GET /agents HTTP/1.1\r\nHo").unwrap();
        // A client that connects and sends nothing.
        let silent = TcpStream::connect(addr).unwrap();
        // Let the server take all three and the stream fill its buffers.
        std::thread::sleep(Duration::from_millis(300));
        done.store(true, Ordering::SeqCst);
        let server = h.join().unwrap();
        assert_eq!(server.open_connections(), 3);
        let report = server.shutdown(Duration::from_secs(1));
        eprintln!("shutdown with 3 stuck clients: {:?}", report);
        assert_eq!((report.open, report.abandoned), (3, 0), "{report:?}");
        assert!(report.took < Duration::from_secs(1), "{report:?}");
        assert_eq!(rx.recv_timeout(Duration::from_secs(1)), Ok("stopped"));
        drop((never_reads, half, silent));
    }

    #[test]
    fn over_the_connection_limit_a_client_gets_503_and_limits_give_json_errors() {
        let cfg = ServerConfig {
            max_connections: 1,
            read_timeout: Duration::from_millis(300),
            limits: Limits {
                max_head: 256,
                ..Limits::default()
            },
            ..ServerConfig::default()
        };
        let (addr, _rx, done, h) = start(cfg);
        let held = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let out = get(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 503"), "{out}");
        assert!(
            out.contains("\"too_many_connections\"") && out.contains("limit of 1"),
            "{out}"
        );
        // The held connection sends nothing: the read timeout answers 408 and frees the slot.
        let mut held = held;
        held.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut first = String::new();
        let _ = held.read_to_string(&mut first);
        assert!(first.starts_with("HTTP/1.1 408"), "{first}");
        drop(held);
        // The thread lets go of its slot a moment after the answer.
        assert!(wait_for(
            || get(addr, b"GET / HTTP/1.1\r\n\r\n").starts_with("HTTP/1.1 200")
        ));
        let out = get(
            addr,
            format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(300)).as_bytes(),
        );
        assert!(
            out.starts_with("HTTP/1.1 431") && out.contains("head_too_large"),
            "{out}"
        );
        let out = get(addr, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        done.store(true, Ordering::SeqCst);
        let server = h.join().unwrap();
        assert!(server.refused() >= 1);
        server.shutdown(Duration::from_secs(1));
    }
}
