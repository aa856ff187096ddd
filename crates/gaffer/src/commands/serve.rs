//! `gaffer serve`: runs the coordinator and serves its state and events over HTTP.
//!
//! - `GET /health`: `{"ok":true}` (no token needed);
//! - `GET /login?t=NONCE`: a one-time login link; sets the session cookie, redirects to `/`;
//! - `GET /`: the cockpit page for a browser (`Accept: text/html`), else what the server offers;
//! - `GET /cockpit.css`, `GET /cockpit.js`: the page's style sheet and script;
//! - `GET /cockpit`: everything the page shows (agents, assignments, conflicts, digest);
//! - `GET /screen?pane=ID`: the last lines of one agent's screen, the evidence marked;
//! - `POST /send`: `{"pane", "text", "force"}`, a verified prompt delivery (as `gaffer send`);
//! - `GET /dialog?pane=ID`: a BLOCKED agent's dialog (text and options);
//!   `POST /answer`: `{"pane", "option", "shown"}`, one of its options typed;
//! - `POST /pause`, `POST /resume`: `{"pane"}` or `{"all": true}`, auto-assign;
//! - `POST /unassign`: `{"bead"}`; `POST /reassign`: `{"bead", "pane"}`;
//! - `GET /jump?pane=ID`: the pane's tmux target;
//! - `GET /agents`: every agent's state (JSON array of `AgentState`);
//! - `GET /assignments`: the ledger's assignments;
//! - `GET /digest`: a digest of the session now;
//! - `GET /events`: the ledger's event log as server-sent events, each with `id:` (its sequence
//!   in the ledger); `Last-Event-ID` (or `?last_event_id=`) resumes after that event;
//! - `POST /login-url`: a new one-time login link.
//!
//! Every route but `/health` and `/login` needs the token (`.gaffer/serve.token`) as a bearer
//! token or the session cookie; see [`crate::http::auth`]. An action (every `POST` but
//! `/login-url`) goes through the coordinator's control API; from a browser session it must
//! also carry the session's CSRF token (`X-Gaffer-Csrf`, which the page has), and it must be
//! JSON; the cookie is `SameSite=Strict` and a foreign `Origin` is refused. Loopback is the
//! default; another address needs `--allow-remote`.

use crate::adapters;
use crate::cli::ServeArgs;
use crate::error::ExitError;
use crate::foreground::Foreground;
use crate::http::auth::{Auth, Denied, HostPolicy, Principal, ignore_in_git, load_or_create_token};
use crate::http::request::{Limits, Request};
use crate::http::response::Response;
use crate::http::server::{Connection, Handler, Server, ServerConfig};
use crate::output::Output;
use crate::web::{self, Cockpit, WebError};
use crate::wiring;
use gaffer_coordinator::SessionCoordinator;
use gaffer_coordinator::ledger::Ledger;
use gaffer_core::exit;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::mpsc::RecvTimeoutError;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The token file, in the project's `.gaffer/`.
pub const TOKEN_FILE: &str = "serve.token";
/// How often an event stream looks at the ledger and at the stop flag.
const STREAM_TICK: Duration = Duration::from_millis(200);
/// Events read from the ledger at a time.
const PAGE: usize = 256;
/// Bus events an event stream keeps as wake-ups (it reads the events from the ledger).
const WAKE_QUEUE: usize = 64;
/// The longest a shutdown waits for connection threads.
const SHUTDOWN_GRACE: Duration = Duration::from_millis(800);

/// The routes and what they need.
struct Api {
    coord: Arc<SessionCoordinator>,
    ledger: Mutex<Ledger>,
    auth: Auth,
    hosts: HostPolicy,
    keepalive: Duration,
    cockpit: Cockpit,
}

const ROUTES: &[&str] = &[
    "GET /health",
    "GET /login?t=NONCE",
    "GET /",
    "GET /cockpit",
    "GET /screen?pane=ID",
    "GET /dialog?pane=ID",
    "GET /jump?pane=ID",
    "POST /send",
    "POST /answer",
    "POST /pause",
    "POST /resume",
    "POST /unassign",
    "POST /reassign",
    "GET /agents",
    "GET /assignments",
    "GET /digest",
    "GET /events",
    "POST /login-url",
];

impl Handler for Api {
    fn handle(&self, req: Request, conn: &mut Connection) {
        let response = self.route(&req, conn);
        if let Some(r) = response {
            let _ = conn.send(&r);
        }
    }
}

impl Api {
    /// Answers `req`; `None` when the route wrote its own answer (an event stream).
    fn route(&self, req: &Request, conn: &mut Connection) -> Option<Response> {
        match req.header("host") {
            None => {
                return Some(Response::error(
                    400,
                    "no_host",
                    "the request has no Host header",
                ));
            }
            Some(h) if !self.hosts.host_ok(h) => {
                return Some(Response::error(
                    403,
                    "bad_host",
                    &format!(
                        "Host {h:?} is not this server (accepted: {}; see --allow-host)",
                        self.hosts.allowed().join(", ")
                    ),
                ));
            }
            Some(_) => {}
        }
        let method = req.method.as_str();
        // Browsers send Origin with every cross-origin request they make from a page (and with
        // POSTs): one from elsewhere is refused, whatever its method.
        if let Some(origin) = req.header("origin")
            && !self.hosts.origin_ok(origin)
        {
            return Some(Response::error(
                403,
                "cross_origin",
                &format!("a {method} from origin {origin:?} is refused"),
            ));
        }
        let path = req.path.as_str();
        match (method, path) {
            ("GET", "/health") => {
                return Some(Response::json(200, &serde_json::json!({"ok": true})));
            }
            ("GET", "/login") => return Some(self.login(req)),
            (_, "/health" | "/login") => return Some(not_allowed("GET")),
            _ => {}
        }
        let who = match self.auth.check(req) {
            Ok(who) => who,
            Err(denied) => return Some(self.unauthorized(req, denied)),
        };
        Some(match (method, path) {
            ("GET", "/") if wants_html(req) => {
                Response::body(200, "text/html; charset=utf-8", web::page(who.csrf()))
                    .with_header("Content-Security-Policy", web::CSP)
                    .with_header("Referrer-Policy", "no-referrer")
                    .with_header("X-Frame-Options", "DENY")
            }
            ("GET", "/") => Response::json(
                200,
                &serde_json::json!({"service": "gaffer", "routes": ROUTES}),
            ),
            ("GET", "/cockpit.css") => Response::body(200, "text/css; charset=utf-8", web::CSS),
            ("GET", "/cockpit.js") => {
                Response::body(200, "text/javascript; charset=utf-8", web::JS)
            }
            ("GET", "/cockpit") => Response::json(200, &self.cockpit.view()),
            ("GET", "/screen") => match pane_query(req) {
                Ok(p) => web_answer(self.cockpit.screen(&p)),
                Err(r) => r,
            },
            ("GET", "/dialog") => match pane_query(req) {
                Ok(p) => web_answer(self.cockpit.dialog(&p)),
                Err(r) => r,
            },
            ("GET", "/jump") => match pane_query(req) {
                Ok(p) => web_answer(self.cockpit.jump(&p)),
                Err(r) => r,
            },
            ("POST", "/send" | "/answer" | "/pause" | "/resume" | "/unassign" | "/reassign") => {
                self.action(req, &who)
            }
            ("GET", "/agents") => Response::json(
                200,
                &self.coord.get_agents().into_values().collect::<Vec<_>>(),
            ),
            ("GET", "/assignments") => match self.coord.assignments() {
                Ok(a) => Response::json(200, &a),
                Err(e) => Response::error(503, "ledger_unavailable", &e.to_string()),
            },
            ("GET", "/digest") => Response::json(200, &self.coord.generate_digest()),
            ("GET", "/events") => return self.events(req, conn),
            ("POST", "/login-url") => self.login_url(req),
            (
                _,
                "/" | "/agents" | "/assignments" | "/digest" | "/events" | "/cockpit"
                | "/cockpit.css" | "/cockpit.js" | "/screen" | "/dialog" | "/jump",
            ) => not_allowed("GET"),
            (
                _,
                "/login-url" | "/send" | "/answer" | "/pause" | "/resume" | "/unassign"
                | "/reassign",
            ) => not_allowed("POST"),
            _ => Response::error(
                404,
                "not_found",
                &format!("no route {path:?}; the routes: {}", ROUTES.join(", ")),
            ),
        })
    }

    /// The answer without valid credentials: JSON, or for a browser asking for the page, a
    /// page that shows nothing but how to log in.
    fn unauthorized(&self, req: &Request, denied: Denied) -> Response {
        if req.method == "GET" && req.path == "/" && wants_html(req) {
            return Response::body(401, "text/html; charset=utf-8", web::LOGIN_NEEDED)
                .with_header("Content-Security-Policy", web::CSP);
        }
        let message = match denied {
            Denied::Missing => {
                "this route needs the token of .gaffer/serve.token as `Authorization: Bearer <token>`, or a browser login through the link `gaffer serve` printed"
            }
            Denied::Invalid => "the token or session cookie is not valid",
        };
        Response::error(401, "unauthorized", message)
            .with_header("WWW-Authenticate", "Bearer realm=\"gaffer\"")
    }

    /// An action (`POST /send`, `/answer`, `/pause`, `/resume`, `/unassign`, `/reassign`): a
    /// browser session's request must carry its CSRF token; every request must be JSON (a
    /// cross-site form cannot send that without asking first).
    fn action(&self, req: &Request, who: &Principal) -> Response {
        if !who.csrf_ok(req.header("x-gaffer-csrf")) {
            return Response::error(
                403,
                "csrf",
                "an action from a browser session needs the page's X-Gaffer-Csrf token",
            );
        }
        let json = req.header("content-type").is_some_and(|t| {
            t.split(';')
                .next()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
        });
        if !json {
            return Response::error(
                415,
                "not_json",
                "the body must be JSON (Content-Type: application/json)",
            );
        }
        let body = &req.body;
        web_answer(match req.path.as_str() {
            "/send" => self.cockpit.send(body),
            "/answer" => self.cockpit.answer(body),
            "/pause" => self.cockpit.pause(body),
            "/resume" => self.cockpit.resume(body),
            "/unassign" => self.cockpit.unassign(body),
            _ => self.cockpit.reassign(body),
        })
    }

    fn login(&self, req: &Request) -> Response {
        let Some(nonce) = req.query("t") else {
            return Response::error(400, "bad_request", "the login link has no `t` parameter");
        };
        match self.auth.redeem(nonce) {
            Ok(Some(session)) => Response::json(303, &serde_json::json!({"ok": true}))
                .with_header("Location", "/")
                .with_header("Set-Cookie", &self.auth.set_cookie(&session)),
            Ok(None) => Response::error(
                401,
                "login_link_used",
                "this login link is not valid: each works once; get a new one with `POST /login-url` (see the README)",
            ),
            Err(e) => Response::error(500, "internal", &e.to_string()),
        }
    }

    fn login_url(&self, req: &Request) -> Response {
        match self.auth.mint_nonce() {
            Ok(nonce) => {
                let host = req.header("host").unwrap_or("localhost");
                Response::json(
                    200,
                    &serde_json::json!({"login_url": format!("http://{host}/login?t={nonce}")}),
                )
            }
            Err(e) => Response::error(500, "internal", &e.to_string()),
        }
    }

    fn last_event_id(&self) -> Result<i64, String> {
        self.ledger
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .last_event_id()
            .map_err(|e| e.to_string())
    }

    /// The event stream: the ledger's events after the resume point (or from now), then each
    /// new one as it is logged, each once and in order.
    fn events(&self, req: &Request, conn: &mut Connection) -> Option<Response> {
        let resume = match resume_point(req) {
            Ok(r) => r,
            Err(msg) => return Some(Response::error(400, "bad_last_event_id", &msg)),
        };
        // Subscribed first: an event logged from here on wakes the stream.
        let wake = self.coord.events().subscribe_with(WAKE_QUEUE);
        let last = match self.last_event_id() {
            Ok(id) => id,
            Err(e) => return Some(Response::error(503, "ledger_unavailable", &e)),
        };
        // An id past the log's end means the ledger was replaced: continue from its end.
        let mut cursor = resume.map_or(last, |id| id.min(last));
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: close\r\nX-Accel-Buffering: no\r\n\r\nretry: 1000\n\n";
        if conn.stream().write_all(head.as_bytes()).is_err() {
            return None;
        }
        let mut last_write = Instant::now();
        while !conn.stopping() {
            // Everything the ledger has after the cursor.
            loop {
                let page = self
                    .ledger
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .events_page(cursor, PAGE);
                let page = match page {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading the event log for /events");
                        break;
                    }
                };
                let mut out = String::new();
                for (id, e) in &page.events {
                    match serde_json::to_string(e) {
                        Ok(data) => out.push_str(&format!(
                            "id: {id}\nevent: {}\ndata: {data}\n\n",
                            e.event_type
                        )),
                        Err(err) => tracing::warn!(error = %err, id, "an event does not encode"),
                    }
                }
                if page.bad > 0 {
                    tracing::warn!(
                        rows = page.bad,
                        "event log rows that no longer parse were skipped"
                    );
                }
                if !out.is_empty() {
                    if conn.stream().write_all(out.as_bytes()).is_err() {
                        return None;
                    }
                    last_write = Instant::now();
                }
                cursor = page.last_id;
                if page.rows < PAGE || conn.stopping() {
                    break;
                }
            }
            if conn.peer_closed() {
                return None;
            }
            match wake.recv_timeout(STREAM_TICK) {
                Ok(_) => while wake.try_recv().is_ok() {},
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return None,
            }
            if last_write.elapsed() >= self.keepalive {
                // A comment keeps proxies and clients from timing out.
                if conn.stream().write_all(b": keep-alive\n\n").is_err() {
                    return None;
                }
                last_write = Instant::now();
            }
        }
        None
    }
}

/// The client asks for HTML (a browser navigating to the page).
fn wants_html(req: &Request) -> bool {
    req.header("accept")
        .is_some_and(|a| a.to_ascii_lowercase().contains("text/html"))
}

/// The `?pane=` of a request, decoded, or the answer saying it is missing.
fn pane_query(req: &Request) -> Result<String, Response> {
    req.query("pane")
        .and_then(web::percent_decode)
        .filter(|p| !p.is_empty())
        .ok_or_else(|| Response::error(400, "bad_request", "give ?pane=ID"))
}

/// A cockpit answer as a response.
fn web_answer(r: Result<serde_json::Value, WebError>) -> Response {
    match r {
        Ok(v) => Response::json(200, &v),
        Err(e) => Response::error(e.status, e.code, &e.message),
    }
}

fn not_allowed(allow: &str) -> Response {
    Response::error(
        405,
        "method_not_allowed",
        &format!("this route takes {allow} only"),
    )
    .with_header("Allow", allow)
}

/// Where a stream resumes: the `Last-Event-ID` header (which browsers send on reconnecting),
/// else the `last_event_id` query parameter; `None` for "from now".
fn resume_point(req: &Request) -> Result<Option<i64>, String> {
    let raw = req
        .header("last-event-id")
        .or_else(|| req.query("last_event_id"))
        .map(str::trim)
        .filter(|v| !v.is_empty());
    match raw {
        None => Ok(None),
        Some(v) => v
            .parse::<u64>()
            .ok()
            .and_then(|n| i64::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                format!("Last-Event-ID {v:?} is not an event id (a non-negative integer)")
            }),
    }
}

/// Runs `gaffer serve`.
pub fn run(global: &crate::cli::GlobalArgs, args: &ServeArgs) -> anyhow::Result<i32> {
    let out = Output::of(global);
    let addr: SocketAddr = args.addr.parse().map_err(|e| {
        ExitError::usage(format!(
            "--addr {:?}: {e} (expected e.g. 127.0.0.1:7878)",
            args.addr
        ))
    })?;
    if !addr.ip().is_loopback() && !args.allow_remote {
        return Err(ExitError::usage(format!(
            "--addr {addr} is not a loopback address: other machines could reach the API; add --allow-remote to mean it"
        ))
        .into());
    }
    if args.max_connections == 0 {
        return Err(ExitError::usage("--max-connections must be at least 1").into());
    }
    let token_path = crate::config_load::project_root(global)
        .join(".gaffer")
        .join(TOKEN_FILE);
    let (token, made) = load_or_create_token(&token_path)
        .map_err(|e| ExitError::failure(format!("the serve token: {e}")))?;
    if made {
        tracing::info!(path = %token_path.display(), "made a new serve token");
    }
    if let Err(e) = ignore_in_git(&token_path) {
        tracing::warn!(error = %e, "cannot add the serve token to .gaffer/.gitignore");
    }
    let built = wiring::build_for(global, &args.args)?;
    let mut cfg = built.coordinator.config();
    if args.auto_assign {
        cfg.coordinator.auto_assign = true;
    }
    let mut coord = built.coordinator.with_config(cfg);
    wiring::follow_a_running_coordinator(global, &coord, "gaffer serve", &built.connection.session);
    wiring::wake_on_signals(global, &coord, false);
    let notifier = wiring::notifications(
        &coord,
        &built.connection.session,
        built.mailbox.clone(),
        &built.project_key,
    )?;
    let ledger = adapters::ledger(global)?;
    let config = ServerConfig {
        limits: Limits::default(),
        max_connections: args.max_connections,
        ..ServerConfig::default()
    };
    let mut server = Server::bind(addr, config)
        .map_err(|e| ExitError::failure(format!("cannot listen on {addr}: {e}")))?;
    let local = server.local_addr()?;
    if !local.ip().is_loopback() {
        eprintln!(
            "gaffer: warning: serving on {local}, reachable from other machines: the token is the only guard and travels unencrypted (plain HTTP)"
        );
        tracing::warn!(%local, "serving beyond loopback (--allow-remote)");
    }
    coord.start()?;
    let following = coord.following();
    // A follower's notifications are the leader's to send (its events do not reach them).
    if let (Some(n), None) = (&notifier, &following) {
        n.seed(coord.get_agents().values());
    }
    let coord = Arc::new(coord);
    // Built before the address is announced: a client may connect at once.
    let cockpit = Cockpit::new(
        coord.clone(),
        adapters::monitor(global, &built.connection)?,
        built.connection.all.clone(),
        adapters::detector(&built.connection.config.detection)?,
        adapters::ledger(global)?,
        built.connection.session.clone(),
    );
    let auth = Auth::new(token, local.port());
    let nonce = auth
        .mint_nonce()
        .map_err(|e| ExitError::failure(e.to_string()))?;
    let shown_host = if local.ip().is_unspecified() || local.ip().is_loopback() {
        format!("127.0.0.1:{}", local.port())
    } else {
        local.to_string()
    };
    let url = format!("http://{shown_host}");
    let login = format!("{url}/login?t={nonce}");
    out.print_line(
        &serde_json::json!({
            "listening": url,
            "login": login,
            "token_file": token_path.display().to_string(),
            "following": following,
        }),
        || {
            println!(
                "gaffer: serving session {} on {url} (Ctrl-C stops)",
                built.connection.session
            );
            println!("  browser (the link works once): {login}");
            if let Some(leader) = &following {
                println!(
                    "  following {leader}: it decides (assigns, notifies, logs the events); this serve shows its state and acts on your requests, and takes over if it stops"
                );
            }
            println!(
                "  curl: curl -H \"Authorization: Bearer $(cat {})\" {url}/agents",
                gaffer_model_sim::launch::shell_quote(&token_path.display().to_string())
            );
        },
    )?;
    let api = Arc::new(Api {
        cockpit,
        coord: coord.clone(),
        ledger: Mutex::new(ledger),
        auth,
        hosts: HostPolicy::new(local, &args.allow_hosts),
        keepalive: args.keepalive.max(Duration::from_millis(100)),
    });
    let fg = Foreground::start(args.exit_after);
    server.serve_until(api.clone(), || fg.done());
    let refused = server.refused();
    let report = server.shutdown(SHUTDOWN_GRACE);
    tracing::info!(
        open = report.open,
        took_ms = report.took.as_millis() as u64,
        refused,
        "HTTP server stopped"
    );
    if report.abandoned > 0 {
        tracing::warn!(
            threads = report.abandoned,
            "connection threads did not end in time; the process ends them"
        );
    }
    drop(api);
    match Arc::try_unwrap(coord) {
        Ok(mut c) => c.stop(),
        Err(_) => {
            tracing::warn!("a connection still holds the coordinator; it stops with the process")
        }
    }
    if let Some(n) = notifier {
        n.stop(wiring::NOTIFY_GRACE);
    }
    Ok(exit::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(headers: &[(&str, &str)], query: &[(&str, &str)]) -> Request {
        Request {
            method: "GET".into(),
            path: "/events".into(),
            headers: headers
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            query: query
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect(),
            ..Request::default()
        }
    }

    #[test]
    fn the_resume_point_comes_from_the_header_or_the_query() {
        assert_eq!(resume_point(&with(&[], &[])), Ok(None));
        assert_eq!(
            resume_point(&with(&[("Last-Event-ID", " 42 ")], &[])),
            Ok(Some(42))
        );
        assert_eq!(resume_point(&with(&[("last-event-id", "")], &[])), Ok(None));
        assert_eq!(
            resume_point(&with(&[("Last-Event-ID", "7")], &[("last_event_id", "9")])),
            Ok(Some(7))
        );
        assert_eq!(
            resume_point(&with(&[], &[("last_event_id", "9")])),
            Ok(Some(9))
        );
        for bad in ["-1", "x", "99999999999999999999", "1.5"] {
            let e = resume_point(&with(&[("Last-Event-ID", bad)], &[])).unwrap_err();
            assert!(e.contains("not an event id"), "{e}");
        }
    }
}
