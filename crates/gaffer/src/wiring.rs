//! Builds a `SessionCoordinator` from the real adapters: tmux (with the detector), Agent Mail
//! (the server or the embedded mailbox), beads (native, bv, br), the system clock, and the
//! ledger in `.gaffer/state.db`.

use crate::cli::{GlobalArgs, TmuxArgs};
use crate::commands::status::{self, Connection};
use crate::error::ExitError;
use crate::state;
use gaffer_beads::reader::BeadsProject;
use gaffer_coordinator::monitor::{AgentMonitor, MonitorConfig};
use gaffer_coordinator::observe::{DetectorProbe, MonitorObserver};
use gaffer_coordinator::{Identity, Ports, SessionCoordinator};
use gaffer_core::beads::Issue;
use gaffer_core::clock::Clock;
use gaffer_core::mailbox::Mailbox;
use gaffer_core::panes::Panes;
use gaffer_core::time::Timestamp;
use gaffer_core::triage::TriageResponse;
use gaffer_core::work_source::{ClaimOutcome, CloseOutcome, WorkSource, WorkSourceError};
use std::path::PathBuf;
use std::sync::Arc;

/// Reads the project's issues.
type IssuesFn = Arc<dyn Fn(Timestamp) -> Result<Vec<Issue>, String> + Send + Sync>;

/// The wall clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// A work source for a directory without beads: every read says so.
pub struct NoBeads(pub String);

impl WorkSource for NoBeads {
    fn name(&self) -> &'static str {
        "beads"
    }
    fn triage(&self, _: Timestamp) -> Result<TriageResponse, WorkSourceError> {
        Err(WorkSourceError::Unavailable {
            tool: "beads".into(),
            message: self.0.clone(),
        })
    }
    fn ready(&self, _: Timestamp) -> Result<Vec<Issue>, WorkSourceError> {
        Err(WorkSourceError::Unavailable {
            tool: "beads".into(),
            message: self.0.clone(),
        })
    }
    fn claim(&self, _: &str, _: &str) -> Result<ClaimOutcome, WorkSourceError> {
        Ok(ClaimOutcome::ReadOnly)
    }
    fn close(&self, _: &str, _: &str) -> Result<CloseOutcome, WorkSourceError> {
        Ok(CloseOutcome::ReadOnly)
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
}

/// Connects every adapter and builds the coordinator (not started).
pub fn build(b: Build<'_>) -> Result<Built, ExitError> {
    let connection = status::connect(b.global, b.tmux)?;
    let config = connection.config.clone();
    let root = crate::config_load::project_root(b.global);
    let detector = status::detector()?;
    let panes: Arc<dyn Panes> = connection.panes.clone();
    let monitor = Arc::new(AgentMonitor::new(
        panes.clone(),
        detector.clone(),
        MonitorConfig::from(&config.detection),
    ));
    let url = b
        .mail_url
        .clone()
        .or_else(|| gaffer_mail::configured_url(&config.mail.url));
    let mailbox: Arc<dyn Mailbox> = Arc::from(
        gaffer_mail::open(url.as_deref(), &root, config.mail.timeout)
            .map_err(|e| ExitError::failure(format!("opening the mailbox: {e}")))?,
    );
    let mail_backend = match &url {
        Some(u) => format!("agent-mail {u}"),
        None => format!("embedded {}", root.join(".gaffer/state.db").display()),
    };
    let (work, issues): (Arc<dyn WorkSource + Send + Sync>, IssuesFn) =
        match BeadsProject::discover(&root) {
            Ok(project) => {
                let reader = project.clone();
                let source: Arc<dyn WorkSource + Send + Sync> = if b.native_beads {
                    Arc::new(gaffer_beads::NativeSource::new(project))
                } else {
                    Arc::from(gaffer_beads::auto_source(project))
                };
                (
                    source,
                    Arc::new(move |_| reader.load().map(|l| l.issues).map_err(|e| e.to_string())),
                )
            }
            Err(e) => {
                let msg = e.to_string();
                let m2 = msg.clone();
                (Arc::new(NoBeads(msg)), Arc::new(move |_| Err(m2.clone())))
            }
        };
    let work_source = work.name().to_string();
    let ledger = state::open_ledger(b.global)?;
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
            monitor,
            panes: panes.clone(),
            detector,
        }),
        panes,
        mailbox: Some(mailbox),
        work,
        issues,
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
        mail_backend,
        work_source,
        project_root: root,
    })
}
