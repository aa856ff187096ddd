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
use gaffer_core::panes::Panes;
use gaffer_core::time::Timestamp;
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
    let panes: Arc<dyn Panes> = connection.panes.clone();
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
        mailbox: Some(mail.mailbox),
        work: work.source,
        issues: work.issues,
        clock: Arc::new(SystemClock),
        ledger,
    };
    let id = Identity {
        session: connection.session.clone(),
        project_key,
        agent_name,
    };
    let coordinator = SessionCoordinator::new(id, ports).with_config(config);
    Ok(Built {
        coordinator,
        connection,
        mail_backend: mail.backend,
        work_source,
        project_root: root,
        monitor,
    })
}

/// For the long-running commands (`run`, `dashboard`, `serve`, `demo`): binds
/// `.gaffer/signals.sock` so `gaffer hook` wakes the observation lane at once. Without it (the
/// socket is taken by another coordinator, or the path is too long for a Unix socket) signals
/// are still read from the ledger at every pass; the reason is logged.
pub fn wake_on_signals(global: &GlobalArgs, coordinator: &SessionCoordinator) {
    let path = adapters::signal_socket(global);
    match SignalSocket::bind(&path) {
        Ok(sock) => {
            tracing::debug!(socket = %path.display(), "waking on hook signals");
            coordinator.add_wake_source(Arc::new(sock));
        }
        Err(e) => tracing::warn!(error = %e, "hook signals are read at each pass only"),
    }
}
