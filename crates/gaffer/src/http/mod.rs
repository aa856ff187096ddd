//! The small blocking HTTP/1.1 server under `gaffer serve`: plain threads, one request per
//! connection, every limit explicit (head and body size, connections, read and write
//! timeouts), and a shutdown that closes stuck connections at once. Request heads are parsed by
//! `httparse`; the credentials and the Host/Origin checks are in [`auth`].

pub mod auth;
pub mod request;
pub mod response;
pub mod server;
