//! A real desktop notification stack on a private D-Bus session bus, for the desktop channel's
//! tests: a virtual X display (`Xvfb`), a private `dbus-daemon` (its own config: no service
//! activation, nothing shared with a user's session), the `dunst` notification daemon on both,
//! and `dbus-monitor` recording every `org.freedesktop.Notifications.Notify` call. Everything is
//! killed on drop. The Debian packages: `xvfb`, `dbus-daemon`, `dbus-bin`, `dunst`,
//! `libnotify-bin` (`scripts/install-deps.sh` installs them).

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// The tools the stack needs, with the Debian package of each.
pub const TOOLS: [(&str, &str); 6] = [
    ("Xvfb", "xvfb"),
    ("dbus-daemon", "dbus-daemon"),
    ("dbus-monitor", "dbus-bin"),
    ("dunst", "dunst"),
    ("dunstctl", "dunst"),
    ("notify-send", "libnotify-bin"),
];

/// The packages of the tools that are not installed; empty when all are.
pub fn missing() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = TOOLS
        .iter()
        .filter(|(tool, _)| !on_path(tool))
        .map(|(_, pkg)| *pkg)
        .collect();
    out.dedup();
    out
}

/// Whether the stack is installed. Outside CI a missing stack is reported on stderr (the test
/// then skips); in CI (`CI=true`) it fails the test, naming the packages.
pub fn installed_or_skip() -> bool {
    let missing = missing();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "the desktop notification stack is not installed ({}; scripts/install-deps.sh installs it)",
        missing.join(", ")
    );
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
    eprintln!("skipped: {msg}");
    false
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
}

/// One `Notify` call as `dbus-monitor` saw it on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyCall {
    /// The application name.
    pub app: String,
    /// The summary (gaffer's title).
    pub summary: String,
    /// The body (gaffer's message).
    pub body: String,
    /// The `urgency` hint: 0 low, 1 normal, 2 critical; `None` when absent.
    pub urgency: Option<u8>,
}

/// dunst's timeout for each urgency in this stack's dunstrc: dunst's history does not keep the
/// urgency, but it keeps the timeout the daemon chose by it.
const DUNSTRC: &str = "[global]\n    monitor = 0\n\n[urgency_low]\n    timeout = 11\n\n\
[urgency_normal]\n    timeout = 12\n\n[urgency_critical]\n    timeout = 0\n";

/// A notification as the daemon (dunst) recorded it in its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// The application name.
    pub app: String,
    /// The summary.
    pub summary: String,
    /// The body.
    pub body: String,
    /// The urgency dunst applied (read from the timeout it chose by it): `LOW`, `NORMAL`,
    /// `CRITICAL`, or the timeout in µs when it is none of this stack's.
    pub urgency: String,
}

/// The running stack.
pub struct NotificationBus {
    dir: tempfile::TempDir,
    address: String,
    children: Vec<Child>,
    _pipes: Vec<ChildStdout>,
}

impl NotificationBus {
    /// Starts the stack; an error says which part did not come up (or which package is missing).
    pub fn start() -> Result<NotificationBus, String> {
        let missing = missing();
        if !missing.is_empty() {
            return Err(format!(
                "not installed: {} (apt-get install {})",
                missing.join(", "),
                missing.join(" ")
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mut bus = NotificationBus {
            address: String::new(),
            children: Vec::new(),
            _pipes: Vec::new(),
            dir,
        };
        // Xvfb prints the display number it chose on the given fd.
        let (xvfb, display) = bus.spawn_reading(
            Command::new("Xvfb").args([
                "-displayfd",
                "1",
                "-nolisten",
                "tcp",
                "-screen",
                "0",
                "640x480x24",
            ]),
            "Xvfb",
        )?;
        bus.children.push(xvfb);
        let config = bus.dir.path().join("bus.conf");
        std::fs::write(&config, bus_config(bus.dir.path())).map_err(|e| e.to_string())?;
        let (daemon, address) = bus.spawn_reading(
            Command::new("dbus-daemon")
                .arg(format!("--config-file={}", config.display()))
                .args(["--nofork", "--print-address=1"]),
            "dbus-daemon",
        )?;
        bus.children.push(daemon);
        bus.address = address;
        let log = |name: &str| {
            std::fs::File::create(bus.dir.path().join(name))
                .map(Stdio::from)
                .map_err(|e| e.to_string())
        };
        let dunstrc = bus.dir.path().join("dunstrc");
        std::fs::write(&dunstrc, DUNSTRC).map_err(|e| e.to_string())?;
        let dunst = Command::new("dunst")
            .arg("-config")
            .arg(&dunstrc)
            .env("DISPLAY", format!(":{display}"))
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .env("XDG_CONFIG_HOME", bus.dir.path())
            .stdout(log("dunst.log")?)
            .stderr(log("dunst.err")?)
            .spawn()
            .map_err(|e| format!("dunst: {e}"))?;
        bus.children.push(dunst);
        if !crate::wait_until(Duration::from_secs(15), || bus.daemon_owns_the_name()) {
            return Err(format!(
                "dunst did not take org.freedesktop.Notifications within 15 s: {}",
                bus.file("dunst.err")
            ));
        }
        let monitor = Command::new("dbus-monitor")
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .arg("type='method_call',interface='org.freedesktop.Notifications',member='Notify'")
            .stdout(log("monitor.log")?)
            .stderr(log("monitor.err")?)
            .spawn()
            .map_err(|e| format!("dbus-monitor: {e}"))?;
        bus.children.push(monitor);
        // A monitor announces itself by losing its own name (it became a monitor).
        if !crate::wait_until(Duration::from_secs(10), || {
            bus.file("monitor.log").contains("member=NameLost")
        }) {
            return Err(format!(
                "dbus-monitor did not start within 10 s: {}",
                bus.file("monitor.err")
            ));
        }
        Ok(bus)
    }

    /// The bus address, for `DBUS_SESSION_BUS_ADDRESS`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The `Notify` calls seen so far.
    pub fn notify_calls(&self) -> Vec<NotifyCall> {
        parse_monitor(&self.file("monitor.log"))
    }

    /// Waits until `n` `Notify` calls were seen, at most `timeout`; returns them.
    pub fn wait_for_calls(&self, n: usize, timeout: Duration) -> Vec<NotifyCall> {
        crate::wait_until(timeout, || self.notify_calls().len() >= n);
        self.notify_calls()
    }

    /// Closes every notification dunst shows, then returns its history (newest first).
    pub fn shown(&self) -> Result<Vec<Shown>, String> {
        self.dunstctl(&["close-all"])?;
        let mut history = Vec::new();
        // Closing is asynchronous: the history fills shortly after.
        crate::wait_until(Duration::from_secs(5), || {
            history = self
                .dunstctl(&["history"])
                .ok()
                .and_then(|out| parse_history(&out))
                .unwrap_or_default();
            !history.is_empty()
        });
        Ok(history)
    }

    fn dunstctl(&self, args: &[&str]) -> Result<String, String> {
        let out = Command::new("dunstctl")
            .args(args)
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .output()
            .map_err(|e| format!("dunstctl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "dunstctl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn daemon_owns_the_name(&self) -> bool {
        Command::new("dbus-send")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .args([
                "--session",
                "--print-reply",
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.Notifications",
            ])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
    }

    fn file(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default()
    }

    /// Spawns `cmd` with stdout piped and returns it with the first line it prints (at most
    /// 15 s).
    fn spawn_reading(&mut self, cmd: &mut Command, what: &str) -> Result<(Child, String), String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("{what}: {e}"))?;
        let Some(out) = child.stdout.take() else {
            return Err(format!("{what}: no stdout"));
        };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(out);
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            let _ = tx.send((line, reader.into_inner()));
        });
        match rx.recv_timeout(Duration::from_secs(15)) {
            Ok((line, pipe)) if !line.trim().is_empty() => {
                self._pipes.push(pipe);
                Ok((child, line.trim().to_string()))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("{what} printed nothing within 15 s"))
            }
        }
    }
}

impl Drop for NotificationBus {
    fn drop(&mut self) {
        // The monitor and dunst first, the bus and the display last; each asked to end
        // (Xvfb then removes its lock file and socket), killed if it has not within 2 s.
        for child in self.children.iter_mut().rev() {
            if let Ok(pid) = libc::pid_t::try_from(child.id()) {
                // SAFETY: kill(2) on our own child, which has not been waited for yet.
                unsafe {
                    libc::kill(pid, libc::SIGTERM);
                }
            }
            let ended = crate::wait_until(Duration::from_secs(2), || {
                matches!(child.try_wait(), Ok(Some(_)))
            });
            if !ended {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
    }
}

/// A session bus of its own: listens in `dir`, no service activation, anyone may talk and
/// monitor.
fn bus_config(dir: &Path) -> String {
    format!(
        r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir={}</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
        PathBuf::from(dir).display()
    )
}

/// The `Notify` calls of a `dbus-monitor` log: after each call line, the strings are app name,
/// icon, summary and body (the `uint32` replaces-id sits between app and icon), then the actions
/// array and the hints with `urgency` as a byte.
fn parse_monitor(log: &str) -> Vec<NotifyCall> {
    let mut calls = Vec::new();
    let mut cur: Option<(Vec<String>, Option<u8>, bool)> = None;
    for line in log.lines() {
        let t = line.trim();
        if t.starts_with("method call") && t.contains("member=Notify") {
            if let Some(c) = cur.take() {
                calls.push(c);
            }
            cur = Some((Vec::new(), None, false));
            continue;
        }
        if t.starts_with("signal ") || t.starts_with("method ") {
            if let Some(c) = cur.take() {
                calls.push(c);
            }
            continue;
        }
        let Some((strings, urgency, after_urgency_key)) = cur.as_mut() else {
            continue;
        };
        if let Some(s) = t.strip_prefix("string \"") {
            let s = s.strip_suffix('"').unwrap_or(s).to_string();
            *after_urgency_key = s == "urgency" && strings.len() >= 4;
            strings.push(s);
        } else if let Some(b) = t.split("byte ").nth(1).filter(|_| *after_urgency_key) {
            *urgency = b.trim().parse().ok();
            *after_urgency_key = false;
        }
    }
    if let Some(c) = cur.take() {
        calls.push(c);
    }
    calls
        .into_iter()
        .filter(|(s, _, _)| s.len() >= 4)
        .map(|(s, urgency, _)| NotifyCall {
            app: s[0].clone(),
            summary: s[2].clone(),
            body: s[3].clone(),
            urgency,
        })
        .collect()
}

/// `dunstctl history`: `{"type": "aa{sv}", "data": [[{field: {"type", "data"}}, …]]}`.
fn parse_history(out: &str) -> Option<Vec<Shown>> {
    let v: Value = serde_json::from_str(out).ok()?;
    let entries = v.get("data")?.get(0)?.as_array()?;
    let field = |e: &Value, k: &str| {
        e.get(k)
            .and_then(|f| f.get("data"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Some(
        entries
            .iter()
            .map(|e| Shown {
                app: field(e, "appname"),
                summary: field(e, "summary"),
                body: field(e, "body"),
                urgency: match e
                    .get("timeout")
                    .and_then(|f| f.get("data"))
                    .and_then(Value::as_i64)
                {
                    Some(0) => "CRITICAL".into(),
                    Some(11_000_000) => "LOW".into(),
                    Some(12_000_000) => "NORMAL".into(),
                    other => format!("{other:?}"),
                },
            })
            .collect(),
    )
}
