//! Builds a `SessionCoordinator` from the real adapters (each built by [`crate::adapters`]):
//! tmux (with the detector), Agent Mail (the server or the embedded mailbox), beads (native,
//! bv, br, as `[beads]` says), the system clock, and the ledger in `.gaffer/state.db`.

use crate::adapters::{self, Connection};
use crate::cli::{CoordArgs, GlobalArgs, TmuxArgs};
use crate::error::ExitError;
use gaffer_coordinator::monitor::{AgentMonitor, MonitorConfig};
use gaffer_coordinator::observe::{DetectorProbe, MonitorObserver};
use gaffer_coordinator::wake::SignalSocket;
use gaffer_coordinator::{Identity, Ports, SessionCoordinator};
use gaffer_core::clock::Clock;
use gaffer_core::mailbox::Mailbox;
use gaffer_core::panes::Panes;
use gaffer_core::time::Timestamp;
use gaffer_notify::Notifier;
use std::path::PathBuf;
use std::sync::Arc;

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// Options for building the coordinator.
pub struct Build<'a> {
    /// Global flags.
    pub global: &'a GlobalArgs,
    /// tmux flags.
    pub tmux: &'a TmuxArgs,
    /// `--mail-url`.
    pub mail_url: Option<String>,
    /// Read the beads natively (read-only) even when `br` or `bv` is installed; completion is
    /// then reported with `gaffer done` (the demo uses this).
    pub native_beads: bool,
}

/// What was built, for reporting.
pub struct Built {
    /// The coordinator.
    pub coordinator: SessionCoordinator,
    /// The tmux connection.
    pub connection: Connection,
    /// `agent-mail URL` or `embedded PATH`.
    pub mail_backend: String,
    /// The work source name.
    pub work_source: String,
    /// The project root.
    pub project_root: PathBuf,
    /// The mailbox the coordinator uses (for the notifications' mail channel).
    pub mailbox: Arc<dyn Mailbox>,
    /// The project's key in Agent Mail.
    pub project_key: String,
    /// The monitor the coordinator observes through (its last verdicts, with evidence).
    pub monitor: Arc<AgentMonitor>,
}

/// [`build`] for the coordinator commands (`run`, `assign`, `dashboard`, `serve`, …): their
/// tmux and mail flags, the work source `[beads]` asks for.
pub fn build_for(global: &GlobalArgs, args: &CoordArgs) -> Result<Built, ExitError> {
    build(Build {
        global,
        tmux: &args.tmux,
        mail_url: args.mail_url.clone(),
        native_beads: false,
    })
}

/// Connects every adapter and builds the coordinator (not started).
pub fn build(b: Build<'_>) -> Result<Built, ExitError> {
    let connection = adapters::tmux(b.global, b.tmux)?;
    let config = connection.config.clone();
    let root = crate::config_load::project_root(b.global);
    let detector = adapters::detector(&config.detection)?;
    let panes: Arc<dyn Panes> = connection.all.clone();
    let monitor = Arc::new(
        AgentMonitor::new(
            panes.clone(),
            detector.clone(),
            MonitorConfig::from(&config.detection),
        )
        .with_agent_files(adapters::agent_files(&config))
        .with_signals(adapters::signal_feed(b.global))
        .with_fuse_config((&config.fusion).into()),
    );
    let mail = adapters::mailbox(b.mail_url.as_deref(), &config, &root)
        .map_err(|e| ExitError::failure(format!("opening the mailbox: {e}")))?;
    let work = adapters::work(&root, &config.beads, b.native_beads)?;
    let work_source = work.source.name().to_string();
    let ledger = adapters::ledger(b.global)?;
    let project_key = std::fs::canonicalize(&root)
        .unwrap_or_else(|_| root.clone())
        .display()
        .to_string();
    let agent_name = if config.mail.agent_name.is_empty() {
        "GafferCoordinator".to_string()
    } else {
        config.mail.agent_name.clone()
    };
    let ports = Ports {
        observer: Box::new(MonitorObserver(monitor.clone())),
        probe: Arc::new(DetectorProbe {
            monitor: monitor.clone(),
            panes: panes.clone(),
            detector,
        }),
        panes,
        mailbox: Some(mail.mailbox.clone()),
        work: work.source,
        issues: work.issues,
        clock: Arc::new(SystemClock),
        ledger,
    };
    let id = Identity {
        session: connection.session.clone(),
        project_key: project_key.clone(),
        agent_name,
    };
    let coordinator = SessionCoordinator::new(id, ports).with_config(config);
    Ok(Built {
        coordinator,
        connection,
        mail_backend: mail.backend,
        work_source,
        project_root: root,
        mailbox: mail.mailbox,
        project_key,
        monitor,
    })
}

/// For the long-running commands (`run`, `dashboard`, `serve`, `demo`): binds
/// `.gaffer/signals.sock` so `gaffer hook` wakes the observation lane at once. Without it (the
/// socket is taken by another coordinator, or the path is too long for a Unix socket) signals
/// are still read from the ledger at every pass; the reason is logged. A `decider` (`gaffer
/// run`) takes the socket over from a view (`serve`, `dashboard`) that listens there.
pub fn wake_on_signals(global: &GlobalArgs, coordinator: &SessionCoordinator, decider: bool) {
    let path = adapters::signal_socket(global);
    let bound = if decider {
        SignalSocket::take(&path)
    } else {
        SignalSocket::bind(&path)
    };
    match bound {
        Ok(sock) => {
            tracing::debug!(socket = %path.display(), "waking on hook signals");
            coordinator.add_wake_source(Arc::new(sock));
        }
        Err(e) => tracing::warn!(error = %e, "hook signals are read at each pass only"),
    }
}

/// The lease file `name` in the project's `.gaffer/` (made when missing).
fn lease_path(global: &GlobalArgs, name: &str) -> std::path::PathBuf {
    let dir = crate::config_load::project_root(global).join(".gaffer");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(name)
}

/// For `gaffer run`, the decider: takes the project's decider lease (held until the returned
/// lease is dropped), or refuses when another `gaffer run` holds it: two would decide twice.
pub fn decide_alone(
    global: &GlobalArgs,
    session: &str,
) -> Result<gaffer_coordinator::lease::Lease, ExitError> {
    use gaffer_coordinator::lease::{self, DECIDER_FILE, LeaseError};
    let path = lease_path(global, DECIDER_FILE);
    let me = format!("gaffer run (pid {}, session {session})", std::process::id());
    // A predecessor that was just killed may take a moment to be gone.
    let end = std::time::Instant::now() + std::time::Duration::from_millis(1500);
    let mut got = lease::acquire(&path, &me);
    while matches!(got, Err(LeaseError::Held { .. })) && std::time::Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(100));
        got = lease::acquire(&path, &me);
    }
    got.map_err(|e| match e {
        LeaseError::Held { holder, .. } => ExitError::failure(format!(
            "{holder} already coordinates this project: a second coordinator would assign,              restart and notify twice. Stop it first; `gaffer serve` and `gaffer dashboard`              beside it show its state."
        )),
        LeaseError::Io(p, e) => ExitError::failure(format!("{}: {e}", p.display())),
    })
}

/// For the views (`gaffer serve`, `gaffer dashboard`): their coordinator decides only while no
/// `gaffer run` holds the decider lease and it holds the views' lease (one view decides, the
/// others follow); otherwise it follows, showing the state and acting only on a human's
/// request. Checked before every poll, so a view takes over when `gaffer run` stops.
pub fn follow_a_running_coordinator(
    global: &GlobalArgs,
    coordinator: &SessionCoordinator,
    what: &str,
    session: &str,
) {
    use gaffer_coordinator::lease::{self, DECIDER_FILE, VIEW_FILE};
    let decider = lease_path(global, DECIDER_FILE);
    let view = lease_path(global, VIEW_FILE);
    let me = format!("{what} (pid {}, session {session})", std::process::id());
    let held: std::sync::Mutex<Option<gaffer_coordinator::lease::Lease>> =
        std::sync::Mutex::new(None);
    coordinator.follow_when(Arc::new(move || {
        if let Some(run) = lease::holder(&decider) {
            return Some(run);
        }
        let mut mine = held.lock().unwrap_or_else(|p| p.into_inner());
        if mine.is_none() {
            match lease::acquire(&view, &me) {
                Ok(l) => *mine = Some(l),
                Err(e) => {
                    return Some(match e {
                        lease::LeaseError::Held { holder, .. } => holder,
                        lease::LeaseError::Io(p, e) => {
                            // Without the views' lease no view can be sure it decides alone.
                            format!("nobody: {}: {e}", p.display())
                        }
                    });
                }
            }
        }
        None
    }));
}

/// How long each notification channel may take to finish at shutdown.
pub const NOTIFY_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// For the long-running commands (`run`, `serve`): notifications for the human, as `[notify]`
/// says, added as a consumer of the coordinator's events. `None` when no channel is configured.
/// Stop it after the coordinator (`Notifier::stop`), so what is queued still goes out.
pub fn notifications(
    coordinator: &SessionCoordinator,
    session: &str,
    mailbox: Arc<dyn Mailbox>,
    project_key: &str,
) -> Result<Option<Arc<Notifier>>, ExitError> {
    let config = coordinator.config();
    let cfg = &config.notify;
    if !cfg.any_channel() {
        return Ok(None);
    }
    let zone = adapters::local_zone(&cfg.timezone)?;
    let rules = gaffer_core::notify::Rules::from_config(cfg, zone, session)
        .map_err(|e| ExitError::config(format!("[notify] {e}")))?;
    let sink_to = coordinator.event_sink();
    let sink: gaffer_notify::Sink = Arc::new(move |e| sink_to.report(&e));
    let mail = mail_target(mailbox, project_key, &config);
    let outboxes = gaffer_notify::setup::outboxes(cfg, Some(mail), sink);
    let names: Vec<&str> = outboxes.iter().map(|o| o.name()).collect();
    tracing::info!(channels = ?names, "notifications on");
    let notifier = Notifier::start(
        gaffer_core::notify::Engine::new(rules),
        outboxes,
        Arc::new(SystemClock),
    );
    coordinator.add_consumer(notifier.clone());
    Ok(Some(notifier))
}

/// Where the notifications' mail channel sends: `mail_to`, else `human_agent`, from
/// `[mail] agent_name` (else `GafferCoordinator`).
pub fn mail_target(
    mailbox: Arc<dyn Mailbox>,
    project_key: &str,
    config: &gaffer_core::config::GafferConfig,
) -> gaffer_notify::setup::MailTarget {
    let to = if config.notify.mail_to.trim().is_empty() {
        config.coordinator.human_agent.clone()
    } else {
        config.notify.mail_to.clone()
    };
    let sender = if config.mail.agent_name.is_empty() {
        "GafferCoordinator".to_string()
    } else {
        config.mail.agent_name.clone()
    };
    gaffer_notify::setup::MailTarget {
        mailbox,
        project: project_key.to_string(),
        sender,
        to,
    }
}
