//! gaffer-tmux: the tmux adapter.
//!
//! * [`cmd::Tmux`] runs every command as an argv (no shell) with a timeout, on the chosen socket
//!   (`-L name` or `-S path`).
//! * One `list-panes` call gives the metadata of every pane ([`list`]).
//! * Screens are captured in batches, several panes in ONE tmux invocation ([`capture`]).
//! * [`control::ControlClient`] is a read-only control-mode client: pane output becomes events
//!   and listing/capturing go through its stdin, so a steady-state cycle spawns no process.
//! * [`TmuxPanes`] implements the core's [`Panes`] port: observation with a per-pane activity
//!   clock, and verified delivery ([`deliver`]).
//! * [`spawn::spawn`] creates a session of titled agent panes (the title is also kept in the
//!   `@gaffer_title` pane option, which programs in the pane cannot change; `allow-set-title
//!   off` is set where tmux has it, from 3.4). Identity is sticky for panes titled otherwise
//!   (`select-pane -T`): the first listing that identifies an agent by its tmux title alone
//!   records it in `@gaffer_title` (one extra tmux call, once per pane).
//! * [`proctree`] finds an agent under a wrapper command (`node`, `bun`, a shell) for panes
//!   whose title says nothing.
//! * `Panes::wait_for_activity` wakes an event-driven loop on the first `%output`.
//! * [`respawn`] restarts an agent in its own pane from its launch record (`@gaffer_launch`).
//!
//! # Change detection
//!
//! A pane is captured again only when its content may have changed:
//! * in control mode, when a `%output` line for it arrived since its last capture;
//! * in polling mode, when its window's `#{window_activity}` (Unix seconds of the last output
//!   in the window) is not older than the second in which its last capture began, since output
//!   after that capture would have set it to that second or later;
//! * in both, when `#{history_size}`, `#{cursor_x},#{cursor_y}`, size, dead flag or current
//!   command differ from the last listing, and on first sight.
//!
//! The activity clock of a pane (`last_change`) moves only when the FNV-1a hash of its captured
//! screen differs from the previous one, so redraws that change nothing (a cursor blink, a
//! repaint) are not activity. tmux has no `pane_last_activity` format (spec observation.md §1.6).

pub mod capture;
pub mod cmd;
pub mod control;
pub mod deliver;
pub mod host;
pub mod list;
pub mod multi;
pub mod proctree;
pub mod respawn;
pub mod spawn;
pub mod ssh;

use crate::capture::{Batch, Captured, join_screen};
use crate::cmd::{Socket, Tmux, TmuxError, unique_token};
use crate::control::{ControlClient, quote_arg};
use crate::deliver::{DeliveryOps, deliver_with};
use crate::list::ListFormat;
use chrono::Utc;
use gaffer_core::Timestamp;
use gaffer_core::hash::fnv1a64;
use gaffer_core::panes::{
    DeliveryCheck, DeliveryOptions, DeliveryReport, ObserveMode, ObservedPane, PaneInfo,
    PaneSnapshot, Panes, PanesError,
};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How a [`TmuxPanes`] observes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmuxOptions {
    /// The server.
    pub socket: Socket,
    /// The session in scope; `None` for every session (polling only).
    pub session: Option<String>,
    /// Timeout of each tmux command.
    pub timeout: Duration,
    /// Lines of history captured above the visible rows.
    pub history_lines: u32,
    /// Use a control-mode client when a session is given.
    pub control_mode: bool,
    /// Capture non-agent panes too.
    pub capture_all: bool,
    /// How often to try to (re)attach the control client while polling.
    pub reattach_every: Duration,
}

impl TmuxOptions {
    /// Defaults for a socket and session.
    pub fn new(socket: Socket, session: Option<String>) -> Self {
        TmuxOptions {
            socket,
            session,
            timeout: Duration::from_secs(5),
            history_lines: 50,
            control_mode: true,
            capture_all: false,
            reattach_every: Duration::from_secs(2),
        }
    }
}

#[derive(Debug, Clone)]
struct Memory {
    info: PaneInfo,
    screen: String,
    hash: u64,
    last_change: Timestamp,
    /// Unix second in which the last capture began.
    captured_secs: i64,
}

#[derive(Default)]
struct State {
    panes: HashMap<String, Memory>,
    /// Capture everything on the next cycle (after a control client (re)attached).
    force_all: bool,
}

#[derive(Default)]
struct ControlSlot {
    client: Option<Arc<ControlClient>>,
    last_attempt: Option<Instant>,
    /// The event count of the current client last seen by `wait_for_activity`.
    seen: u64,
}

/// The tmux implementation of [`Panes`].
pub struct TmuxPanes {
    tmux: Tmux,
    opts: TmuxOptions,
    state: Mutex<State>,
    control: Mutex<ControlSlot>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn meta_changed(a: &PaneInfo, b: &PaneInfo) -> bool {
    a.history_size != b.history_size
        || a.cursor_x != b.cursor_x
        || a.cursor_y != b.cursor_y
        || a.width != b.width
        || a.height != b.height
        || a.dead != b.dead
        || a.current_command != b.current_command
}

impl TmuxPanes {
    /// A new adapter. The control client is attached lazily, on the first observation.
    pub fn new(opts: TmuxOptions) -> Self {
        TmuxPanes {
            tmux: Tmux::new(opts.socket.clone(), opts.timeout),
            opts,
            state: Mutex::new(State::default()),
            control: Mutex::new(ControlSlot::default()),
        }
    }

    /// An adapter over a given client: a remote host's (`Tmux::remote`), whose connection
    /// then carries the listing, the captures, the control client and delivery. `opts.socket`
    /// and `opts.timeout` are the client's.
    pub fn with_tmux(tmux: Tmux, mut opts: TmuxOptions) -> Self {
        opts.socket = tmux.socket().clone();
        opts.timeout = tmux.timeout();
        TmuxPanes {
            tmux,
            opts,
            state: Mutex::new(State::default()),
            control: Mutex::new(ControlSlot::default()),
        }
    }

    /// The command runner (shares the process counter).
    pub fn tmux(&self) -> &Tmux {
        &self.tmux
    }

    /// The options.
    pub fn options(&self) -> &TmuxOptions {
        &self.opts
    }

    /// The live control client, attaching or re-attaching when due. `None` means polling.
    pub fn control_client(&self) -> Option<Arc<ControlClient>> {
        let session = self.opts.session.as_deref()?;
        if !self.opts.control_mode {
            return None;
        }
        let mut slot = lock(&self.control);
        if let Some(c) = &slot.client {
            if c.is_alive() {
                return Some(Arc::clone(c));
            }
            tracing::info!(session, "tmux control client died; falling back to polling");
            slot.client = None;
        }
        let due = slot
            .last_attempt
            .is_none_or(|t| t.elapsed() >= self.opts.reattach_every);
        if !due {
            return None;
        }
        slot.last_attempt = Some(Instant::now());
        match ControlClient::attach(&self.tmux, session) {
            Ok(c) => {
                let c = Arc::new(c);
                slot.seen = 0;
                slot.client = Some(Arc::clone(&c));
                lock(&self.state).force_all = true;
                tracing::debug!(session, "tmux control client attached");
                Some(c)
            }
            Err(e) => {
                tracing::debug!(session, error = %e, "tmux control client unavailable; polling");
                None
            }
        }
    }

    fn list_via(&self, control: Option<&ControlClient>) -> Result<Vec<PaneInfo>, TmuxError> {
        let fmt = ListFormat::new(&unique_token());
        let args = fmt.args(self.opts.session.as_deref());
        let out = match control {
            Some(c) => {
                let line = args
                    .iter()
                    .map(|a| quote_arg(a))
                    .collect::<Vec<_>>()
                    .join(" ");
                let mut replies = c.commands(&[line])?;
                match replies.pop() {
                    Some(Ok(lines)) => {
                        let mut s = lines.join("\n");
                        s.push('\n');
                        s
                    }
                    Some(Err(e)) => {
                        return Err(if e.contains("can't find") {
                            TmuxError::NotFound(e)
                        } else {
                            TmuxError::Failed {
                                command: "list-panes".into(),
                                status: 1,
                                stderr: e,
                                stdout: String::new(),
                            }
                        });
                    }
                    None => String::new(),
                }
            }
            None => match self.tmux.run(&args) {
                Ok(o) => o,
                // No server or no session on an all-sessions listing: nothing to list.
                Err(TmuxError::NoServer(_)) if self.opts.session.is_none() => String::new(),
                Err(e) => return Err(e),
            },
        };
        let (mut panes, pins) = fmt.parse_with_pins(&out).map_err(|e| TmuxError::Failed {
            command: "list-panes".into(),
            status: 0,
            stderr: e,
            stdout: String::new(),
        })?;
        // Identity is sticky: a pane first identified by its tmux title gets it recorded in
        // `@gaffer_title` (one call, once per pane: the next listing reads the option), so an
        // agent rewriting its title with an escape sequence cannot lose it (tmux < 3.4 has no
        // `allow-set-title`).
        for (pane_id, title) in &pins {
            match self
                .tmux
                .run(&["set-option", "-p", "-t", pane_id, "@gaffer_title", title])
            {
                Ok(_) => tracing::debug!(pane_id, title, "identity pinned in @gaffer_title"),
                Err(e) => tracing::debug!(pane_id, error = %e, "could not pin the pane's identity"),
            }
        }
        // A pane whose title says nothing and whose command is a wrapper (node, bun, a
        // shell…) may still run an agent: look at its process tree.
        // On another host the panes' pids are not in this machine's /proc: tmux's own view
        // (title, command, dead flag) is all there is.
        let local = !self.tmux.is_remote();
        for p in panes.iter_mut().filter(|p| {
            local && !p.is_agent() && proctree::WRAPPERS.contains(&p.current_command.as_str())
        }) {
            if let Some(t) = proctree::agent_under(p.pid) {
                p.agent_type = t.to_string();
            }
        }
        // An agent pane whose process is gone: dead, or a bare shell with nothing under it.
        for p in panes.iter_mut().filter(|p| p.is_agent()) {
            p.process_gone = p.dead
                || (local
                    && gaffer_core::detect::is_shell_command(&p.current_command)
                    && proctree::has_children(p.pid) == Some(false));
        }
        Ok(panes)
    }

    /// Captures `panes` with as few tmux invocations as possible: one batch, plus one more per
    /// pane that vanished mid-batch.
    pub fn capture_batch(&self, panes: &[String]) -> Result<Vec<Captured>, TmuxError> {
        self.capture_via(None, panes)
    }

    fn capture_via(
        &self,
        control: Option<&ControlClient>,
        panes: &[String],
    ) -> Result<Vec<Captured>, TmuxError> {
        if panes.is_empty() {
            return Ok(Vec::new());
        }
        let batch = Batch::new(&unique_token(), self.opts.history_lines);
        if let Some(c) = control {
            let lines: Vec<String> = panes
                .iter()
                .map(|p| {
                    batch
                        .capture_args(p)
                        .iter()
                        .map(|a| quote_arg(a))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect();
            let replies = c.commands(&lines)?;
            return Ok(panes
                .iter()
                .zip(replies)
                .filter_map(|(p, r)| {
                    r.ok().map(|lines| {
                        let rows: Vec<&str> = lines.iter().map(String::as_str).collect();
                        Captured {
                            pane_id: p.clone(),
                            screen: join_screen(&rows),
                        }
                    })
                })
                .collect());
        }
        let mut out = Vec::new();
        let mut rest: Vec<String> = panes.to_vec();
        while !rest.is_empty() {
            let (caps, ended, err) = match self.tmux.run(&batch.args(&rest)) {
                Ok(o) => {
                    let (c, e) = batch.split(&rest, &o);
                    (c, e, None)
                }
                Err(TmuxError::Failed { stdout, stderr, .. }) => {
                    let (c, e) = batch.split(&rest, &stdout);
                    (c, e, Some(stderr))
                }
                Err(TmuxError::NotFound(stderr)) => (Vec::new(), false, Some(stderr)),
                Err(e) => return Err(e),
            };
            let got = caps.len();
            out.extend(caps);
            if ended {
                break;
            }
            // The pane after the complete ones failed (vanished); skip it and go on.
            tracing::debug!(stderr = ?err, "batched capture stopped early; pane vanished");
            rest.drain(..(got + 1).min(rest.len()));
        }
        Ok(out)
    }

    /// Drops the control client (tests: simulate its death).
    pub fn drop_control(&self) {
        let mut slot = lock(&self.control);
        if let Some(c) = slot.client.take() {
            c.shutdown();
        }
    }

    /// The current observation mode (control when a live client exists).
    pub fn mode(&self) -> ObserveMode {
        match &lock(&self.control).client {
            Some(c) if c.is_alive() => ObserveMode::Control,
            _ => ObserveMode::Polling,
        }
    }

    fn observe_inner(&self) -> Result<PaneSnapshot, PanesError> {
        let started = Utc::now();
        let mut problems = Vec::new();
        let mut control = self.control_client();
        // Take the dirty set before listing so no output is lost between list and capture.
        let mut dirty = control.as_ref().map(|c| c.take_dirty().0);
        let listed = match control.as_deref().map(|c| self.list_via(Some(c))) {
            Some(Ok(p)) => Ok(p),
            Some(Err(e)) => {
                problems.push(format!("control client: {e}; polling"));
                // A client that failed (or hangs) is dropped; it is re-attached later.
                if !matches!(e, TmuxError::NotFound(_)) {
                    self.drop_control();
                }
                control = None;
                dirty = None;
                self.list_via(None)
            }
            None => self.list_via(None),
        };
        let mut lost = None;
        let panes = match listed {
            Ok(p) => p,
            Err(TmuxError::NotFound(m)) | Err(TmuxError::NoServer(m)) => {
                problems.push(format!("no panes to observe: {m}"));
                lost = Some(m.trim().to_string());
                Vec::new()
            }
            Err(e) => return Err(e.into()),
        };
        let mode = if control.is_some() {
            ObserveMode::Control
        } else {
            ObserveMode::Polling
        };
        let mut state = lock(&self.state);
        let force = std::mem::take(&mut state.force_all);
        let wanted: Vec<String> = panes
            .iter()
            .filter(|p| self.opts.capture_all || p.is_agent())
            .filter(|p| {
                let Some(m) = state.panes.get(&p.pane_id) else {
                    return true;
                };
                // Never captured yet (a pane that just became an agent, or whose capture
                // failed), or its metadata moved.
                if force || m.captured_secs == i64::MIN || meta_changed(&m.info, p) {
                    return true;
                }
                match &dirty {
                    Some(d) => d.contains_key(&p.pane_id),
                    None => p.window_activity >= m.captured_secs,
                }
            })
            .map(|p| p.pane_id.clone())
            .collect();
        drop(state);
        let capture_started = Utc::now();
        let caps = match self.capture_via(control.as_deref(), &wanted) {
            Ok(c) => c,
            Err(e) if control.is_some() => {
                problems.push(format!("control capture: {e}; polling"));
                self.drop_control();
                self.capture_via(None, &wanted).map_err(PanesError::from)?
            }
            Err(e) => return Err(e.into()),
        };
        let now = Utc::now();
        let captured: HashMap<String, String> =
            caps.into_iter().map(|c| (c.pane_id, c.screen)).collect();
        let mut state = lock(&self.state);
        let current: HashSet<&str> = panes.iter().map(|p| p.pane_id.as_str()).collect();
        let mut vanished: Vec<String> = state
            .panes
            .keys()
            .filter(|k| !current.contains(k.as_str()))
            .cloned()
            .collect();
        vanished.sort();
        for v in &vanished {
            state.panes.remove(v);
        }
        let mut out = Vec::with_capacity(panes.len());
        for info in panes {
            let id = info.pane_id.clone();
            let prev = state.panes.get(&id).cloned();
            let (screen, changed, was_captured, last_change, captured_secs, hash) =
                match (captured.get(&id), prev) {
                    (Some(screen), Some(m)) => {
                        let h = fnv1a64(screen.as_bytes());
                        let changed = h != m.hash;
                        let when = if changed {
                            dirty
                                .as_ref()
                                .and_then(|d| d.get(&id).copied())
                                .unwrap_or(now)
                                .min(now)
                        } else {
                            m.last_change
                        };
                        (
                            screen.clone(),
                            changed,
                            true,
                            when,
                            capture_started.timestamp(),
                            h,
                        )
                    }
                    (Some(screen), None) => {
                        // First sight: the window's activity is the best estimate we have.
                        let wa = chrono::DateTime::from_timestamp(info.window_activity, 0)
                            .unwrap_or(now)
                            .min(now);
                        (
                            screen.clone(),
                            true,
                            true,
                            wa,
                            capture_started.timestamp(),
                            fnv1a64(screen.as_bytes()),
                        )
                    }
                    (None, Some(m)) => (
                        m.screen.clone(),
                        false,
                        false,
                        m.last_change,
                        m.captured_secs,
                        m.hash,
                    ),
                    (None, None) => (String::new(), false, false, now, i64::MIN, 0),
                };
            state.panes.insert(
                id,
                Memory {
                    info: info.clone(),
                    screen: screen.clone(),
                    hash,
                    last_change,
                    captured_secs,
                },
            );
            out.push(ObservedPane {
                info,
                screen,
                content_changed: changed,
                captured: was_captured,
                last_change,
            });
        }
        Ok(PaneSnapshot {
            observed_at: started,
            mode,
            panes: out,
            vanished,
            problems,
            lost,
            unreachable: Vec::new(),
            hosts: Vec::new(),
        })
    }
}

struct TmuxOps<'a> {
    tmux: &'a Tmux,
}

impl DeliveryOps for TmuxOps<'_> {
    fn paste(&mut self, pane_id: &str, text: &str) -> Result<(), PanesError> {
        let name = format!("gaffer-{}", unique_token());
        // One invocation: load the buffer from stdin, then paste it bracketed and delete it.
        let r = self.tmux.run_with_input(
            &[
                "load-buffer",
                "-b",
                &name,
                "-",
                ";",
                "paste-buffer",
                "-p",
                "-d",
                "-b",
                &name,
                "-t",
                pane_id,
            ],
            Some(text.as_bytes()),
        );
        if let Err(e) = r {
            let _ = self.tmux.run(&["delete-buffer", "-b", &name]);
            return Err(e.into());
        }
        Ok(())
    }

    fn enter(&mut self, pane_id: &str) -> Result<(), PanesError> {
        self.tmux
            .run(&["send-keys", "-t", pane_id, "Enter"])
            .map(|_| ())
            .map_err(Into::into)
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }

    fn now(&mut self) -> Instant {
        Instant::now()
    }
}

impl Panes for TmuxPanes {
    fn list_panes(&self) -> Result<Vec<PaneInfo>, PanesError> {
        let control = self.control_client();
        match control.as_deref().map(|c| self.list_via(Some(c))) {
            Some(Ok(p)) => Ok(p),
            _ => self.list_via(None).map_err(Into::into),
        }
    }

    fn capture(&self, pane_ids: &[String]) -> Result<Vec<(String, String)>, PanesError> {
        let control = self.control_client();
        let caps = match control
            .as_deref()
            .map(|c| self.capture_via(Some(c), pane_ids))
        {
            Some(Ok(c)) => c,
            _ => self.capture_via(None, pane_ids)?,
        };
        Ok(caps.into_iter().map(|c| (c.pane_id, c.screen)).collect())
    }

    fn observe(&self) -> Result<PaneSnapshot, PanesError> {
        self.observe_inner()
    }

    fn wait_for_activity(&self, timeout: Duration) -> bool {
        // Attaches (or re-attaches) a control client when one can be.
        let Some(client) = self.control_client() else {
            std::thread::sleep(timeout);
            return true;
        };
        let seen = lock(&self.control).seen;
        let now = client.wait_events(seen, timeout);
        let mut slot = lock(&self.control);
        if slot
            .client
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, &client))
        {
            slot.seen = now;
        }
        now != seen || !client.is_alive()
    }

    fn deliver(
        &self,
        pane_id: &str,
        text: &str,
        opts: &DeliveryOptions,
        probe: &mut dyn DeliveryCheck,
    ) -> Result<DeliveryReport, PanesError> {
        let mut ops = TmuxOps { tmux: &self.tmux };
        deliver_with(&mut ops, pane_id, text, opts, probe)
    }

    fn launch_command(&self, pane_id: &str) -> Result<Option<String>, PanesError> {
        respawn::launch_command(&self.tmux, pane_id).map_err(Into::into)
    }

    fn respawn(&self, pane_id: &str, command: &str) -> Result<(), PanesError> {
        respawn::respawn(&self.tmux, pane_id, command).map_err(Into::into)
    }

    fn send_keys(&self, pane_id: &str, keys: &str) -> Result<(), PanesError> {
        self.tmux
            .run(&["send-keys", "-t", pane_id, "-l", "--", keys])
            .map(|_| ())
            .map_err(Into::into)
    }
}
