//! `gaffer serve`: runs the coordinator and serves its state and events over HTTP on loopback.
//!
//! - `GET /agents`: every agent's state (JSON array of `AgentState`);
//! - `GET /assignments`: the ledger's assignments;
//! - `GET /digest`: a digest of the session now;
//! - `GET /events`: the event stream, as server-sent events (`data: {CoordinatorEvent}`);
//! - `GET /health`: `{"ok":true}`.
//!
//! Only loopback addresses are accepted: the server has no authentication.

use crate::cli::{CoordArgs, GlobalArgs};
use crate::error::ExitError;
use crate::foreground::Foreground;
use crate::output::Output;
use crate::wiring;
use gaffer_coordinator::SessionCoordinator;
use gaffer_core::exit;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn json_response<T: serde::Serialize>(stream: &mut TcpStream, value: &T) {
    match serde_json::to_string(value) {
        Ok(body) => respond(stream, "200 OK", "application/json", &body),
        Err(e) => respond(
            stream,
            "500 Internal Server Error",
            "text/plain",
            &e.to_string(),
        ),
    }
}

/// Serves one connection.
fn handle(mut stream: TcpStream, coord: &SessionCoordinator, stop: &AtomicBool) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Drain the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        respond(
            &mut stream,
            "405 Method Not Allowed",
            "text/plain",
            "only GET\n",
        );
        return;
    }
    match path.split('?').next().unwrap_or("") {
        "/health" => respond(&mut stream, "200 OK", "application/json", "{\"ok\":true}"),
        "/agents" => json_response(
            &mut stream,
            &coord.get_agents().into_values().collect::<Vec<_>>(),
        ),
        "/assignments" => match coord.assignments() {
            Ok(a) => json_response(&mut stream, &a),
            Err(e) => respond(
                &mut stream,
                "503 Service Unavailable",
                "text/plain",
                &e.to_string(),
            ),
        },
        "/digest" => json_response(&mut stream, &coord.generate_digest()),
        "/events" => {
            let rx = coord.events().subscribe();
            let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: keep-alive\r\n\r\n";
            if stream.write_all(head.as_bytes()).is_err() {
                return;
            }
            while !stop.load(Ordering::SeqCst) {
                match rx.recv_timeout(Duration::from_secs(15)) {
                    Ok(e) => {
                        let data = serde_json::to_string(&e).unwrap_or_default();
                        if write!(stream, "event: {}\ndata: {data}\n\n", e.event_type)
                            .and_then(|_| stream.flush())
                            .is_err()
                        {
                            return;
                        }
                    }
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                        // A comment keeps proxies and clients from timing out.
                        if stream.write_all(b": keep-alive\n\n").is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        }
        _ => respond(
            &mut stream,
            "404 Not Found",
            "text/plain",
            "try /agents, /assignments, /digest, /events, /health\n",
        ),
    }
}

/// Runs `gaffer serve`.
pub fn run(
    global: &GlobalArgs,
    args: &CoordArgs,
    addr: &str,
    auto_assign: bool,
    exit_after: Option<u64>,
) -> anyhow::Result<i32> {
    let out = Output::of(global);
    let addr: SocketAddr = addr.parse().map_err(|e| {
        ExitError::usage(format!(
            "--addr {addr:?}: {e} (expected e.g. 127.0.0.1:7878)"
        ))
    })?;
    if !addr.ip().is_loopback() {
        return Err(ExitError::usage(format!(
            "--addr {addr}: only loopback addresses are served (the API has no authentication)"
        ))
        .into());
    }
    let built = wiring::build_for(global, args)?;
    let mut cfg = built.coordinator.config();
    if auto_assign {
        cfg.coordinator.auto_assign = true;
    }
    let mut coord = built.coordinator.with_config(cfg);
    wiring::wake_on_signals(global, &coord);
    let listener = TcpListener::bind(addr)
        .map_err(|e| ExitError::failure(format!("cannot listen on {addr}: {e}")))?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    coord.start()?;
    let coord = Arc::new(coord);
    out.print_line(
        &serde_json::json!({"listening": format!("http://{local}")}),
        || {
            println!(
                "gaffer: serving session {} on http://{local} (Ctrl-C stops)",
                built.connection.session
            );
        },
    )?;
    let fg = Foreground::start(exit_after);
    // Tells the connections (event streams) to end.
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    while !fg.done() {
        match listener.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let (coord, stop) = (coord.clone(), stop.clone());
                workers.push(std::thread::spawn(move || handle(stream, &coord, &stop)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(50))
            }
            Err(e) => tracing::warn!(error = %e, "accept failed"),
        }
        workers.retain(|w| !w.is_finished());
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.join();
    }
    if let Ok(mut c) = Arc::try_unwrap(coord) {
        c.stop();
    }
    Ok(exit::SUCCESS)
}
