//! A webhook receiver on loopback (std `TcpListener`): records each HTTP request and answers by
//! a script (a status, or a hang), for the notification tests. Every loop stops by itself. Its
//! connections may be wrapped (a TLS session made by the test: [`Receiver::start_with`]).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the listener does with a request.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    /// Answers this status with a short body, then closes.
    Status(u16),
    /// Reads the request, answers nothing, holds the connection this long.
    Hang(Duration),
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request line and headers.
    pub head: String,
    /// The body.
    pub body: String,
}

impl Request {
    /// A header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// A connection the receiver reads requests from and answers on.
pub trait Conn: Read + Write + Send {}
impl<T: Read + Write + Send> Conn for T {}

/// Turns an accepted TCP connection into the one HTTP is spoken on (a TLS session, say); `None`
/// drops it. It runs on the connection's own thread.
pub type Wrap = Arc<dyn Fn(TcpStream) -> Option<Box<dyn Conn>> + Send + Sync>;

/// A webhook receiver on 127.0.0.1: answers by its script, then by `then`; stops by itself
/// after `LIFETIME`.
pub struct Receiver {
    /// `http://127.0.0.1:PORT/gaffer`.
    pub url: String,
    requests: Arc<Mutex<Vec<Request>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    then: Arc<Mutex<Reply>>,
}

/// How long a receiver accepts connections.
pub const LIFETIME: Duration = Duration::from_secs(60);

impl Receiver {
    /// Listens on a free loopback port, plain HTTP.
    pub fn start(script: Vec<Reply>, then: Reply) -> Receiver {
        Receiver::start_with(
            script,
            then,
            "http",
            Arc::new(|s| Some(Box::new(s) as Box<dyn Conn>)),
        )
    }

    /// Listens on a free loopback port; each connection goes through `wrap` first, and the URL
    /// has `scheme` (`https` for a TLS wrap).
    pub fn start_with(script: Vec<Reply>, then: Reply, scheme: &str, wrap: Wrap) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
        listener
            .set_nonblocking(true)
            .unwrap_or_else(|e| panic!("{e}"));
        let r = Receiver {
            url: format!("{scheme}://{addr}/gaffer"),
            requests: Arc::new(Mutex::new(Vec::new())),
            script: Arc::new(Mutex::new(script.into())),
            then: Arc::new(Mutex::new(then)),
        };
        let (requests, script, then) = (
            Arc::clone(&r.requests),
            Arc::clone(&r.script),
            Arc::clone(&r.then),
        );
        std::thread::spawn(move || {
            let end = Instant::now() + LIFETIME;
            while Instant::now() < end {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let reply = script
                            .lock()
                            .map(|mut s| s.pop_front())
                            .ok()
                            .flatten()
                            .unwrap_or_else(|| *then.lock().unwrap_or_else(|p| p.into_inner()));
                        let requests = Arc::clone(&requests);
                        let wrap = Arc::clone(&wrap);
                        std::thread::spawn(move || {
                            let _ = stream.set_nonblocking(false);
                            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                            if let Some(conn) = wrap(stream) {
                                handle(conn, reply, requests);
                            }
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        r
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Answers every later request (after the script) this way.
    pub fn answer_from_now(&self, reply: Reply) {
        *self.then.lock().unwrap_or_else(|p| p.into_inner()) = reply;
    }

    /// Waits until `n` requests came, at most 10 s.
    pub fn wait_for(&self, n: usize) -> Vec<Request> {
        let end = Instant::now() + Duration::from_secs(10);
        while self.requests().len() < n && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        self.requests()
    }
}

fn handle(mut stream: Box<dyn Conn>, reply: Reply, requests: Arc<Mutex<Vec<Request>>>) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let req = Request {
        head: head.clone(),
        body: String::new(),
    };
    let len: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while data.len() < head_end + len {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => data.extend_from_slice(&buf[..n]),
        }
    }
    let body = String::from_utf8_lossy(&data[head_end..]).to_string();
    if let Ok(mut r) = requests.lock() {
        r.push(Request { head, body });
    }
    match reply {
        Reply::Status(code) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
            );
            let _ = stream.flush();
        }
        Reply::Hang(d) => std::thread::sleep(d),
    }
}
