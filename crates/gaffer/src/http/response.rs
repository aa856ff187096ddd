//! Responses: a status, headers and a body, written whole with `Connection: close`. Errors are
//! JSON: `{"error": CODE, "message": TEXT}`.

use std::io::Write;

/// A complete response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Extra headers (Content-Type, Content-Length and Connection are added on writing).
    pub headers: Vec<(String, String)>,
    /// The `Content-Type`.
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

/// The reason phrase of the statuses this server uses.
pub fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        303 => "See Other",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

impl Response {
    /// A JSON response.
    pub fn json<T: serde::Serialize>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                headers: Vec::new(),
                content_type: "application/json",
                body,
            },
            Err(e) => Response::error(500, "internal", &format!("encoding the answer: {e}")),
        }
    }

    /// A body of another type (a page, a style sheet, a script).
    pub fn body(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            content_type,
            body: body.into(),
        }
    }

    /// A JSON error: `{"error": code, "message": message}`.
    pub fn error(status: u16, code: &str, message: &str) -> Response {
        let body = serde_json::json!({ "error": code, "message": message });
        Response {
            status,
            headers: Vec::new(),
            content_type: "application/json",
            body: body.to_string().into_bytes(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Writes the response (the connection's write timeout bounds it).
    pub fn write_to(&self, w: &mut impl Write) -> std::io::Result<()> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
            self.status,
            reason(self.status),
            self.content_type,
            self.body.len()
        );
        for (n, v) in &self.headers {
            head.push_str(n);
            head.push_str(": ");
            head.push_str(v);
            head.push_str("\r\n");
        }
        head.push_str("\r\n");
        w.write_all(head.as_bytes())?;
        w.write_all(&self.body)?;
        w.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_json_with_its_length_and_headers() {
        let r = Response::error(401, "unauthorized", "say \"please\"")
            .with_header("WWW-Authenticate", "Bearer");
        let mut out = Vec::new();
        r.write_to(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 401 Unauthorized\r\n"), "{head}");
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(head.contains("WWW-Authenticate: Bearer") && head.contains("Connection: close"));
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(
            (v["error"].as_str(), v["message"].as_str()),
            (Some("unauthorized"), Some("say \"please\""))
        );
    }
}
