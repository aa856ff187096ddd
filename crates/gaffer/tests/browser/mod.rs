//! A small DevTools-protocol client for headless Chromium (Debian's `chromium` package), for
//! the cockpit's real-browser test: launch with a throwaway profile, one WebSocket to the
//! browser, pages attached with flat sessions, and the few commands a test needs (navigate,
//! evaluate, click, type, viewport, screenshot).
//!
//! Why our own: `headless_chrome` pulls in a large tree (and downloads a browser unless told
//! not to); the protocol subset a test needs is a dozen JSON messages over `tungstenite`.

use base64::Engine;
use serde_json::{Value, json};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

/// The longest one protocol call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The Chromium executable on this machine, if any.
pub fn find() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

/// A running headless Chromium and its DevTools connection.
pub struct Browser {
    child: Child,
    _profile: tempfile::TempDir,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// Protocol events received while waiting for answers (method, params).
    pub events: Vec<(String, Value)>,
}

impl Browser {
    /// Starts `exe` headless with a throwaway profile; it may reach loopback only (every other
    /// host name resolves to nothing, and the test runs in a loopback-only namespace).
    pub fn launch(exe: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let log = std::fs::File::create(profile.path().join("chromium.log")).expect("log");
        let child = Command::new(exe)
            .args([
                "--headless",
                // Root (CI) cannot use Chromium's sandbox.
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-default-apps",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,900",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", exe.display()));
        // Chromium writes its port and the browser's path to DevToolsActivePort.
        let active = profile.path().join("DevToolsActivePort");
        let end = Instant::now() + Duration::from_secs(30);
        let (port, path) = loop {
            if let Ok(text) = std::fs::read_to_string(&active) {
                let mut lines = text.lines();
                if let (Some(port), Some(path)) = (lines.next(), lines.next()) {
                    break (port.trim().to_string(), path.trim().to_string());
                }
            }
            assert!(
                Instant::now() < end,
                "Chromium did not open its DevTools port: {}",
                std::fs::read_to_string(profile.path().join("chromium.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (ws, _) = tungstenite::connect(url.as_str())
            .unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
        if let MaybeTlsStream::Plain(s) = ws.get_ref() {
            s.set_read_timeout(Some(Duration::from_millis(500)))
                .expect("read timeout");
        }
        Browser {
            child,
            _profile: profile,
            ws,
            next_id: 0,
            events: Vec::new(),
        }
    }

    /// Calls `method` (on a page's `session`, or the browser) and returns its result.
    pub fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.try_call(session, method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    /// Like [`call`](Self::call), with the protocol's error as `Err`.
    pub fn try_call(
        &mut self,
        session: Option<&str>,
        method: &str,
        params: Value,
    ) -> Result<Value, String> {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::text(msg.to_string()))
            .map_err(|e| e.to_string())?;
        let end = Instant::now() + CALL_TIMEOUT;
        while Instant::now() < end {
            let m = match self.ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) => return Err(e.to_string()),
            };
            let Message::Text(text) = m else { continue };
            let v: Value = serde_json::from_str(text.as_str()).map_err(|e| e.to_string())?;
            if v["id"].as_u64() == Some(id) {
                if let Some(err) = v.get("error") {
                    return Err(err.to_string());
                }
                return Ok(v["result"].clone());
            }
            if let Some(m) = v["method"].as_str() {
                self.events.push((m.to_string(), v["params"].clone()));
                if self.events.len() > 10_000 {
                    self.events.drain(..5_000);
                }
            }
        }
        Err(format!("no answer in {CALL_TIMEOUT:?}"))
    }

    /// A new browser context: its own cookies and storage, like a private window.
    pub fn new_context(&mut self) -> String {
        let r = self.call(None, "Target.createBrowserContext", json!({}));
        r["browserContextId"].as_str().expect("context").to_string()
    }

    /// A new blank page in `context`, attached: the page's session id.
    pub fn new_page(&mut self, context: &str) -> String {
        let r = self.call(
            None,
            "Target.createTarget",
            json!({"url": "about:blank", "browserContextId": context}),
        );
        let target = r["targetId"].as_str().expect("target").to_string();
        let r = self.call(
            None,
            "Target.attachToTarget",
            json!({"targetId": target, "flatten": true}),
        );
        let session = r["sessionId"].as_str().expect("session").to_string();
        self.call(Some(&session), "Page.enable", json!({}));
        self.call(Some(&session), "Runtime.enable", json!({}));
        session
    }

    /// Loads `url` and waits until the document is complete.
    pub fn navigate(&mut self, page: &str, url: &str) {
        let r = self.call(Some(page), "Page.navigate", json!({"url": url}));
        assert!(r.get("errorText").is_none(), "{url}: {r}");
        let ok = self.wait(
            page,
            "document.readyState === 'complete'",
            Duration::from_secs(20),
        );
        assert!(ok.is_some(), "{url} did not load");
    }

    /// Evaluates `expr` in the page (promises awaited) and returns its value.
    pub fn eval(&mut self, page: &str, expr: &str) -> Value {
        let r = self.call(
            Some(page),
            "Runtime.evaluate",
            json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
        );
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expr}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expr` until it is truthy (its value) or `timeout` passes (`None`).
    pub fn wait(&mut self, page: &str, expr: &str, timeout: Duration) -> Option<Value> {
        let end = Instant::now() + timeout;
        loop {
            let r = self.call(
                Some(page),
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            );
            let v = r["result"]["value"].clone();
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if r.get("exceptionDetails").is_none() && truthy {
                return Some(v);
            }
            if Instant::now() >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the middle of the first element matching `selector`, as a mouse does, once the
    /// element is the one under that point (the layout may still be moving).
    pub fn click(&mut self, page: &str, selector: &str) {
        let sel = serde_json::to_string(selector).expect("selector");
        let locate = format!(
            "(() => {{ const e = document.querySelector({sel}); if (!e) return null; \
             e.scrollIntoView({{block: 'center'}}); const r = e.getBoundingClientRect(); \
             const x = r.x + r.width / 2, y = r.y + r.height / 2; \
             const hit = document.elementFromPoint(x, y); \
             return hit && (hit === e || e.contains(hit)) ? [x, y] : null; }})()"
        );
        let at = self
            .wait(page, &locate, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("nothing clickable matches {selector}"));
        let (Some(x), Some(y)) = (at[0].as_f64(), at[1].as_f64()) else {
            panic!("{selector}: no point: {at}");
        };
        for kind in ["mousePressed", "mouseReleased"] {
            self.call(
                Some(page),
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Clicks `selector` (a text field) and types `text` into it.
    pub fn type_into(&mut self, page: &str, selector: &str, text: &str) {
        self.click(page, selector);
        self.call(Some(page), "Input.insertText", json!({"text": text}));
    }

    /// Sets the viewport: `mobile` emulates a phone (touch, device scale 3).
    pub fn viewport(&mut self, page: &str, width: u32, height: u32, mobile: bool) {
        self.call(
            Some(page),
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": if mobile { 3 } else { 1 }, "mobile": mobile}),
        );
    }

    /// Saves a PNG of the page (the whole page, beyond the viewport) to `path`.
    pub fn screenshot(&mut self, page: &str, path: &Path) {
        let r = self.call(
            Some(page),
            "Page.captureScreenshot",
            json!({"format": "png", "captureBeyondViewport": true}),
        );
        let data = base64::engine::general_purpose::STANDARD
            .decode(r["data"].as_str().expect("data"))
            .expect("base64 PNG");
        assert!(data.starts_with(b"\x89PNG"), "a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot dir");
        }
        std::fs::write(path, data).expect("screenshot written");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.try_call(None, "Browser.close", json!({}));
        let end = Instant::now() + Duration::from_secs(5);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its helper processes (zygote, renderers) go with it.
        gaffer_testkit::tmux::kill_tree(self.child.id() as i32);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
