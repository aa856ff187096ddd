//! A private tmux server for one test.

pub use gaffer_model_sim::launch::{kill_tree, process_tree};

use gaffer_tmux::cmd::{Socket, Tmux, unique_token};
use std::time::Duration;

/// A tmux server on its own socket (`tmux -L <name>`), killed when dropped.
pub struct TmuxServer {
    /// The socket name (`tmux -L`).
    pub name: String,
    /// A client for it.
    pub tmux: Tmux,
}

impl TmuxServer {
    /// A new server name tagged with `tag`; the server starts with the first session.
    pub fn new(tag: &str) -> Self {
        let name = format!("gaffer-test-{tag}-{}", unique_token());
        let tmux = Tmux::new(Socket::Name(name.clone()), Duration::from_secs(10));
        TmuxServer { name, tmux }
    }

    /// The server on socket `name`, started by someone else (the program under test), to be
    /// killed when this is dropped.
    pub fn named(name: &str) -> Self {
        let tmux = Tmux::new(Socket::Name(name.to_string()), Duration::from_secs(10));
        TmuxServer {
            name: name.to_string(),
            tmux,
        }
    }

    /// The socket, for adapters under test.
    pub fn socket(&self) -> Socket {
        Socket::Name(self.name.clone())
    }

    /// Runs a tmux command; panics with the command on failure (tests only).
    pub fn run(&self, args: &[&str]) -> String {
        self.tmux
            .run(args)
            .unwrap_or_else(|e| panic!("tmux {args:?}: {e}"))
    }

    /// Adds a pane running `cmd` to `session` (created when missing, `width`×`height`), in its
    /// own window so it keeps its size, titles it, and returns its pane id.
    pub fn agent_sized(
        &self,
        session: &str,
        title: &str,
        cmd: &str,
        width: u16,
        height: u16,
    ) -> String {
        let exists = self.tmux.has_session(session).unwrap_or(false);
        let (w, h) = (width.to_string(), height.to_string());
        let id = if exists {
            self.run(&[
                "new-window",
                "-t",
                &format!("={session}:"),
                "-P",
                "-F",
                "#{pane_id}",
                cmd,
            ])
        } else {
            self.run(&[
                "new-session",
                "-d",
                "-s",
                session,
                "-x",
                &w,
                "-y",
                &h,
                "-P",
                "-F",
                "#{pane_id}",
                cmd,
            ])
        };
        let id = id.trim().to_string();
        // Agents may set the pane title with escape sequences; the title is gaffer's identity.
        let _ = self
            .tmux
            .run(&["set-option", "-p", "-t", &id, "allow-set-title", "off"]);
        self.run(&["select-pane", "-t", &id, "-T", title]);
        self.run(&["set-option", "-p", "-t", &id, "@gaffer_title", title]);
        id
    }

    /// A detached session `name` running `cmd` in its first pane, 120×40; returns the pane id.
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

    /// Splits the session's window running `cmd`, tiles the panes, and returns the pane id.
    pub fn split(&self, session: &str, cmd: &str) -> String {
        let target = gaffer_tmux::cmd::exact_session(session);
        let id = self
            .run(&["split-window", "-t", &target, "-P", "-F", "#{pane_id}", cmd])
            .trim()
            .to_string();
        let _ = self.tmux.run(&["select-layout", "-t", &target, "tiled"]);
        id
    }

    /// Titles a pane the way gaffer does (`@gaffer_title`) and stops the program renaming it.
    pub fn title(&self, pane: &str, title: &str) {
        self.run(&["select-pane", "-t", pane, "-T", title]);
        self.run(&["set-option", "-p", "-t", pane, "@gaffer_title", title]);
        // tmux < 3.4 has no allow-set-title; the @gaffer_title option covers it.
        let _ = self
            .tmux
            .run(&["set-option", "-p", "-t", pane, "allow-set-title", "off"]);
    }

    /// [`agent_sized`](Self::agent_sized) at 120×40.
    pub fn agent(&self, session: &str, title: &str, cmd: &str) -> String {
        self.agent_sized(session, title, cmd, 120, 40)
    }

    /// The pane's visible screen, as plain text.
    pub fn capture(&self, pane: &str) -> String {
        self.tmux
            .run(&["capture-pane", "-p", "-t", pane])
            .unwrap_or_default()
    }
}

impl Drop for TmuxServer {
    fn drop(&mut self) {
        // Killing the server only hangs up the panes: an agent CLI (node) may outlive it, and
        // its children with it. Kill every pane's whole process tree first.
        let pids = self
            .tmux
            .run(&["list-panes", "-a", "-F", "#{pane_pid}"])
            .unwrap_or_default();
        for pid in pids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            gaffer_model_sim::launch::kill_tree(pid);
        }
        let _ = self.tmux.kill_server();
        // A test may have killed the server itself; tmux leaves its socket file behind.
        let dir = std::env::var("TMUX_TMPDIR").unwrap_or_else(|_| "/tmp".into());
        // SAFETY: getuid has no preconditions.
        let uid = unsafe { libc::getuid() };
        let _ = std::fs::remove_file(format!("{dir}/tmux-{uid}/{}", self.name));
    }
}
