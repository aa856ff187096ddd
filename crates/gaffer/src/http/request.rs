//! Reading one HTTP/1.1 request from a connection, within limits: the head (request line and
//! headers) is parsed by `httparse` once it is complete, and the body is read only when its
//! declared length is within the limit.

use std::io::{ErrorKind, Read};

/// The size limits of a request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Bytes of the request line and headers together.
    pub max_head: usize,
    /// Number of headers.
    pub max_headers: usize,
    /// Bytes of the body.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head: 16 * 1024,
            max_headers: 64,
            max_body: 64 * 1024,
        }
    }
}

/// A parsed request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string's `name=value` pairs, as sent (not percent-decoded).
    pub query: Vec<(String, String)>,
    /// The headers, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (at most [`Limits::max_body`] bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header of that name (case-insensitive).
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter of that name.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no request could be read.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The client closed the connection before sending a whole head (or sent nothing).
    #[error("the client closed the connection")]
    Closed,
    /// The client sent too slowly (the read timeout passed).
    #[error("the request did not arrive in time")]
    TimedOut,
    /// Reading failed.
    #[error("reading the request: {0}")]
    Io(#[from] std::io::Error),
    /// The head is larger than the limit.
    #[error("the request head is larger than {0} bytes")]
    HeadTooLarge(usize),
    /// More headers than the limit.
    #[error("the request has more than {0} headers")]
    TooManyHeaders(usize),
    /// The head does not parse.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The declared body is larger than the limit.
    #[error("the request body ({len} bytes) is larger than {max} bytes")]
    BodyTooLarge {
        /// The declared length.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// A chunked body (not accepted: no route takes one).
    #[error("chunked request bodies are not accepted; send Content-Length")]
    Chunked,
}

impl RequestError {
    /// The status to answer with, when an answer is still useful.
    pub fn status(&self) -> Option<u16> {
        match self {
            RequestError::Closed | RequestError::Io(_) => None,
            RequestError::TimedOut => Some(408),
            RequestError::HeadTooLarge(_) | RequestError::TooManyHeaders(_) => Some(431),
            RequestError::Malformed(_) => Some(400),
            RequestError::BodyTooLarge { .. } => Some(413),
            RequestError::Chunked => Some(411),
        }
    }
}

fn read_some(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, RequestError> {
    loop {
        match r.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(RequestError::TimedOut);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Reads one request from `r` (whose read timeout bounds each read).
pub fn read_request(r: &mut impl Read, limits: &Limits) -> Result<Request, RequestError> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let head_len = loop {
        if let Some(end) = find_head_end(&buf) {
            if end > limits.max_head {
                return Err(RequestError::HeadTooLarge(limits.max_head));
            }
            break end;
        }
        if buf.len() >= limits.max_head {
            return Err(RequestError::HeadTooLarge(limits.max_head));
        }
        let room = (limits.max_head + 4 - buf.len()).min(chunk.len());
        let n = read_some(r, &mut chunk[..room])?;
        if n == 0 {
            return Err(RequestError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let mut req = parse_head(&buf[..head_len], limits)?;
    if req
        .header("transfer-encoding")
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"))
    {
        return Err(RequestError::Chunked);
    }
    let len = match req.header("content-length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map_err(|_| RequestError::Malformed(format!("Content-Length {v:?}")))?,
    };
    if len > limits.max_body as u64 {
        return Err(RequestError::BodyTooLarge {
            len,
            max: limits.max_body,
        });
    }
    let len = len as usize;
    let mut body = buf.split_off(head_len);
    body.truncate(len);
    while body.len() < len {
        let want = (len - body.len()).min(chunk.len());
        let n = read_some(r, &mut chunk[..want])?;
        if n == 0 {
            return Err(RequestError::Closed);
        }
        body.extend_from_slice(&chunk[..n]);
    }
    req.body = body;
    Ok(req)
}

/// The length of the head including its blank line, once it is all in `buf`.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| i + 4)
}

fn parse_head(head: &[u8], limits: &Limits) -> Result<Request, RequestError> {
    let mut headers = vec![httparse::EMPTY_HEADER; limits.max_headers];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            return Err(RequestError::Malformed("incomplete head".into()));
        }
        Err(httparse::Error::TooManyHeaders) => {
            return Err(RequestError::TooManyHeaders(limits.max_headers));
        }
        Err(e) => return Err(RequestError::Malformed(e.to_string())),
    }
    let method = parsed.method.unwrap_or_default().to_string();
    let target = parsed.path.unwrap_or_default();
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let query = query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.to_string(), String::new()),
        })
        .collect();
    let mut out = Vec::new();
    for h in parsed.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| RequestError::Malformed(format!("header {} is not UTF-8", h.name)))?;
        out.push((h.name.to_string(), value.trim().to_string()));
    }
    Ok(Request {
        method,
        path: path.to_string(),
        query,
        headers: out,
        body: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8], limits: Limits) -> Result<Request, RequestError> {
        read_request(&mut std::io::Cursor::new(bytes.to_vec()), &limits)
    }

    #[test]
    fn a_request_with_query_headers_and_body() {
        let r = read(
            b"POST /login-url?a=1&t=ab&flag HTTP/1.1\r\nHost: localhost:1\r\nCookie: x=1\r\ncookie: y=2\r\nContent-Length: 5\r\n\r\nhello",
            Limits::default(),
        )
        .unwrap();
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/login-url"));
        assert_eq!(
            (r.query("t"), r.query("flag"), r.query("b")),
            (Some("ab"), Some(""), None)
        );
        assert_eq!(r.header("HOST"), Some("localhost:1"));
        assert_eq!(
            r.headers_named("cookie").collect::<Vec<_>>(),
            ["x=1", "y=2"]
        );
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn limits_give_their_own_errors_and_statuses() {
        let small = Limits {
            max_head: 64,
            max_headers: 2,
            max_body: 4,
        };
        let big_head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(100));
        let e = read(big_head.as_bytes(), small).unwrap_err();
        assert!(matches!(e, RequestError::HeadTooLarge(64)), "{e}");
        assert_eq!(e.status(), Some(431));
        // An endless head without a blank line stops at the limit too.
        let e = read(&[b'a'; 10_000], small).unwrap_err();
        assert!(matches!(e, RequestError::HeadTooLarge(64)), "{e}");
        let e = read(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", small).unwrap_err();
        assert_eq!(
            (e.status(), e.to_string().contains("more than 2")),
            (Some(431), true)
        );
        let e = read(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", small).unwrap_err();
        assert!(
            matches!(e, RequestError::BodyTooLarge { len: 5, max: 4 }),
            "{e}"
        );
        assert_eq!(e.status(), Some(413));
        let e = read(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            small,
        )
        .unwrap_err();
        assert_eq!(e.status(), Some(411));
        let e = read(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", small).unwrap_err();
        assert_eq!(e.status(), Some(400));
        let e = read(b"\x01\x02 nonsense\r\n\r\n", small).unwrap_err();
        assert_eq!(e.status(), Some(400));
        // Half a request, then the client goes: nothing to answer.
        let e = read(b"GET / HTTP/1.1\r\nHo", small).unwrap_err();
        assert!(matches!(e, RequestError::Closed) && e.status().is_none());
        let e = read(b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\nab", small).unwrap_err();
        assert!(matches!(e, RequestError::Closed));
    }
}
