//! Shared helpers: a private tmux server killed on drop, and the gaffer-sim binary.
#![allow(dead_code)]

use gaffer_tmux::cmd::{Socket, Tmux};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A private tmux server (`-L gaffer-test-<unique>`), killed when dropped.
pub struct Server {
    pub name: String,
    pub tmux: Tmux,
}

impl Server {
    pub fn new(tag: &str) -> Self {
        let name = format!(
            "gaffer-test-{tag}-{}-{}",
            std::process::id(),
            gaffer_tmux::cmd::unique_token()
        );
        let tmux = Tmux::new(Socket::Name(name.clone()), Duration::from_secs(10));
        Server { name, tmux }
    }

    pub fn socket(&self) -> Socket {
        Socket::Name(self.name.clone())
    }

    /// Runs a tmux command that must succeed.
    pub fn run(&self, args: &[&str]) -> String {
        self.tmux
            .run(args)
            .unwrap_or_else(|e| panic!("tmux {args:?}: {e}"))
    }

    /// A detached session running `cmd` in its first pane, 120x40; returns the pane id.
    pub fn session(&self, name: &str, cmd: &str) -> String {
        self.run(&[
            "new-session",
            "-d",
            "-s",
            name,
            "-x",
            "120",
            "-y",
            "40",
            "-P",
            "-F",
            "#{pane_id}",
            cmd,
        ])
        .trim()
        .to_string()
    }

    /// Splits the session's window, running `cmd`; returns the pane id.
    pub fn split(&self, session: &str, cmd: &str) -> String {
        let id = self
            .run(&[
                "split-window",
                "-t",
                &gaffer_tmux::cmd::exact_session(session),
                "-P",
                "-F",
                "#{pane_id}",
                cmd,
            ])
            .trim()
            .to_string();
        let _ = self.tmux.run(&[
            "select-layout",
            "-t",
            &gaffer_tmux::cmd::exact_session(session),
            "tiled",
        ]);
        id
    }

    /// Titles a pane and locks the title.
    pub fn title(&self, pane: &str, title: &str) {
        self.run(&["select-pane", "-t", pane, "-T", title]);
        self.run(&["set-option", "-p", "-t", pane, "@gaffer_title", title]);
        // tmux < 3.4 has no allow-set-title; the @gaffer_title option covers it.
        let _ = self
            .tmux
            .run(&["set-option", "-p", "-t", pane, "allow-set-title", "off"]);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.tmux.kill_server();
        // A test may have killed the server itself; its socket file may remain.
        let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let _ = std::fs::remove_file(format!("{dir}/tmux-{uid}/{}", self.name));
    }
}

/// Waits until `f` returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// The gaffer-sim binary, built when missing.
pub fn sim_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    // target/<profile>/deps/<test> → target/<profile>/gaffer-sim
    let dir = exe
        .parent()
        .and_then(|p| p.parent())
        .map(PathBuf::from)
        .unwrap_or_default();
    let bin = dir.join("gaffer-sim");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = std::process::Command::new(cargo)
            .args(["build", "-p", "gaffer-sim", "--bin", "gaffer-sim"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build gaffer-sim");
        assert!(status.success(), "building gaffer-sim failed");
    }
    assert!(bin.exists(), "gaffer-sim not found at {}", bin.display());
    bin
}

/// A shell-quoted word.
pub fn q(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
