//! One way to build each adapter from the configuration: the tmux connection (panes), the
//! detector, the mailbox, the work source and the ledger. Commands and [`crate::wiring`] build
//! their adapters here and nowhere else.

use crate::cli::{GlobalArgs, TmuxArgs};
use crate::config_load;
use crate::error::ExitError;
use crate::output::esay;
use gaffer_beads::reader::BeadsProject;
use gaffer_coordinator::ledger::Ledger;
use gaffer_coordinator::signal_store::LedgerSignalFeed;
use gaffer_core::beads::Issue;
use gaffer_core::config::{BeadsConfig, DetectionConfig, GafferConfig};
use gaffer_core::detect::Detector;
use gaffer_core::mailbox::{MailError, Mailbox};
use gaffer_core::panes::{PaneInfo, Panes};
use gaffer_core::time::Timestamp;
use gaffer_core::triage::TriageResponse;
use gaffer_core::work_source::{ClaimOutcome, CloseOutcome, WorkSource, WorkSourceError};
use gaffer_tmux::cmd::{Socket, TmuxError};
use gaffer_tmux::multi::MultiPanes;
use gaffer_tmux::{TmuxOptions, TmuxPanes};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

// ---- tmux -------------------------------------------------------------------------------

/// A live connection to the tmux session in scope.
pub struct Connection {
    /// The local adapter (this machine's session, bare `%N` keys).
    pub panes: Arc<TmuxPanes>,
    /// Every pane in scope: the local session plus each `[[hosts]]` host's session
    /// (`host:%N` keys), one SSH connection per host; the local adapter alone without hosts.
    pub all: Arc<dyn Panes>,
    /// Each `[[hosts]]` host's panes and connection, in configuration order.
    pub hosts: Vec<Arc<gaffer_tmux::host::HostPanes>>,
    /// The session name.
    pub session: String,
    /// The merged configuration.
    pub config: GafferConfig,
}

/// Where the session in scope came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFrom {
    /// `--session` or `[tmux] session`.
    Given,
    /// The last `gaffer spawn` of this project.
    LastSpawn,
    /// The project directory's name (a guess).
    Directory,
}

/// The tmux socket and session in scope: the flags, else config `[tmux]`, else the session
/// `gaffer spawn` last made for this project (with its socket), else (the session) the project
/// directory's name; and where the session came from.
pub fn resolve(
    args: &TmuxArgs,
    loaded: &config_load::Loaded,
) -> (Socket, Option<String>, SessionFrom) {
    let last = crate::last_spawn::load(&loaded.project_root);
    let (socket, session) = scope_with(args, loaded, last.as_ref());
    let given = args.session.as_deref().is_some_and(|s| !s.is_empty())
        || !loaded.config.tmux.session.is_empty();
    let from = if given {
        SessionFrom::Given
    } else if last.is_some_and(|l| session.as_deref() == Some(l.session.as_str())) {
        SessionFrom::LastSpawn
    } else {
        SessionFrom::Directory
    };
    (socket, session, from)
}

/// The socket and session with the last spawn given (`None` for `gaffer spawn` itself, which makes a new one).
pub fn scope_with(
    args: &TmuxArgs,
    loaded: &config_load::Loaded,
    last: Option<&crate::last_spawn::LastSpawn>,
) -> (Socket, Option<String>) {
    let cfg = &loaded.config.tmux;
    let given = args
        .session
        .clone()
        .filter(|s| !s.is_empty())
        .or_else(|| Some(cfg.session.clone()).filter(|s| !s.is_empty()));
    let session = given
        .clone()
        .or_else(|| last.map(|l| l.session.clone()))
        .or_else(|| {
            loaded
                .project_root
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        });
    // The remembered socket goes with the remembered session.
    let remembered = last.filter(|l| session.as_deref() == Some(l.session.as_str()));
    let socket = match (&args.socket_path, &args.socket) {
        (Some(p), _) => Socket::Path(p.clone()),
        (None, Some(n)) => Socket::Name(n.clone()),
        (None, None) => match Socket::from_config(&cfg.socket_name, &cfg.socket_path) {
            Socket::Default => remembered.map(|l| l.socket()).unwrap_or_default(),
            configured => configured,
        },
    };
    (socket, session)
}

/// Resolves socket and session from flags, then config `[tmux]`, then the project directory,
/// and checks that the session exists.
pub fn tmux(global: &GlobalArgs, args: &TmuxArgs) -> Result<Connection, ExitError> {
    let loaded = config_load::load(global)?;
    let cfg = &loaded.config.tmux;
    let (socket, session, from) = resolve(args, &loaded);
    let mut session = session.unwrap_or_default();
    let connect = |session: &str| {
        let mut opts = TmuxOptions::new(socket.clone(), Some(session.to_string()));
        opts.timeout = cfg.command_timeout.max(Duration::from_millis(100));
        TmuxPanes::new(opts)
    };
    let mut panes = connect(&session);
    let sessions: Vec<String> = match panes
        .tmux()
        .run(&["list-sessions", "-F", "#{session_name}"])
    {
        Ok(out) => out.lines().map(str::to_string).collect(),
        Err(e @ (TmuxError::NoServer(_) | TmuxError::Spawn { .. } | TmuxError::Timeout { .. })) => {
            return Err(ExitError::unavailable(format!("tmux: {e}")));
        }
        Err(TmuxError::NotFound(_)) => {
            return Err(ExitError::unavailable("tmux server has no sessions"));
        }
        Err(e) => return Err(ExitError::unavailable(format!("tmux: {e}"))),
    };
    let on = socket_label(&socket);
    match panes.tmux().has_session(&session) {
        Ok(true) => {
            if from == SessionFrom::LastSpawn && !global.json {
                esay!("using session {session} on {on} (the last one `gaffer spawn` made here)");
            }
        }
        // Only a guessed name: the one session on the server is the one meant.
        Ok(false) if from == SessionFrom::Directory && sessions.len() == 1 => {
            session = sessions[0].clone();
            if !global.json {
                esay!("using session {session}, the only one on {on}");
            }
            panes = connect(&session);
        }
        Ok(false) if from == SessionFrom::Directory && sessions.len() > 1 => {
            return Err(ExitError::not_found(format!(
                "no session named {session:?} on {on}; it has {}: choose one with --session",
                sessions.join(", ")
            )));
        }
        Ok(false) => {
            return Err(ExitError::not_found(format!(
                "tmux session {session:?} not found on {on} (use --session and --socket, or [tmux] session)"
            )));
        }
        Err(e) => return Err(ExitError::unavailable(format!("tmux: {e}"))),
    }
    let panes = Arc::new(panes);
    let (all, hosts) = with_hosts(&panes, &session, &loaded.config)?;
    Ok(Connection {
        panes,
        all,
        hosts,
        session,
        config: loaded.config,
    })
}

/// The local panes plus each `[[hosts]]` entry's (a host's connection is made on first use, so
/// an unreachable host does not stop the local session from being observed), and the hosts.
#[allow(clippy::type_complexity)]
fn with_hosts(
    local: &Arc<TmuxPanes>,
    session: &str,
    config: &GafferConfig,
) -> Result<(Arc<dyn Panes>, Vec<Arc<gaffer_tmux::host::HostPanes>>), ExitError> {
    if config.hosts.is_empty() {
        return Ok((local.clone(), Vec::new()));
    }
    let timeout = config.tmux.command_timeout.max(Duration::from_secs(1));
    let hosts = config
        .hosts
        .iter()
        .map(|h| {
            gaffer_tmux::host::connect(h, session, timeout)
                .map(Arc::new)
                .map_err(|e| ExitError::unavailable(format!("host {}: {e}", h.name)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        Arc::new(MultiPanes::new(local.clone(), hosts.clone())),
        hosts,
    ))
}

/// How a socket is named in messages: `the default tmux server`, `socket NAME`, `socket PATH`.
pub fn socket_label(socket: &Socket) -> String {
    match socket {
        Socket::Default => "the default tmux server".into(),
        Socket::Name(n) => format!("socket {n}"),
        Socket::Path(p) => format!("socket {}", p.display()),
    }
}

/// Finds a pane by id (`%3`), title, or `session:window.pane`.
pub fn find_pane(panes: &[PaneInfo], want: &str) -> Option<PaneInfo> {
    panes
        .iter()
        .find(|p| p.pane_id == want)
        .or_else(|| panes.iter().find(|p| p.title == want))
        .or_else(|| {
            panes
                .iter()
                .find(|p| format!("{}:{}.{}", p.session, p.window_index, p.pane_index) == want)
        })
        .cloned()
}

// ---- detector ---------------------------------------------------------------------------

/// The agents' own files (transcripts, session files), read from this machine with the
/// config's context-window table.
pub fn agent_files(
    config: &GafferConfig,
) -> std::sync::Arc<dyn gaffer_core::agent_files::AgentFiles> {
    std::sync::Arc::new(
        gaffer_coordinator::observe::agent_files::LocalAgentFiles::new(config.context_windows()),
    )
}

/// The user's rules directory: `$XDG_CONFIG_HOME/gaffer/rules` or `~/.config/gaffer/rules`.
pub fn user_rules_dir() -> Option<PathBuf> {
    crate::kinds::user_config_dir().map(|d| d.join("rules"))
}

/// A monitor of `conn`'s panes as `gaffer status` observes them: the detector, the agents'
/// files and hook signals fused in.
pub fn monitor(
    global: &GlobalArgs,
    conn: &Connection,
) -> Result<gaffer_coordinator::monitor::AgentMonitor, ExitError> {
    use gaffer_coordinator::monitor::{AgentMonitor, MonitorConfig};
    Ok(AgentMonitor::new(
        conn.all.clone(),
        detector(&conn.config.detection)?,
        MonitorConfig::from(&conn.config.detection),
    )
    .with_agent_files(agent_files(&conn.config))
    .with_signals(signal_feed(global))
    .with_fuse_config((&conn.config.fusion).into()))
}

/// The detector: the embedded rules with the user's overrides (`<rules dir>/<kind>.toml`)
/// applied, reading reset times in the agents' local zone (`[detection] timezone`).
pub fn detector(detection: &DetectionConfig) -> Result<Detector, ExitError> {
    let zone = local_zone(&detection.timezone)?;
    let detector = match user_rules_dir() {
        None => Detector::builtin(),
        Some(dir) => load_detector_from(&dir)?,
    };
    Ok(detector.with_local_zone(zone))
}

/// The agents' time zone: the configured IANA name, else this machine's (`TZ`, then
/// `/etc/timezone`, then the `/etc/localtime` link), else UTC.
pub fn local_zone(configured: &str) -> Result<chrono_tz::Tz, ExitError> {
    let configured = configured.trim();
    if !configured.is_empty() {
        return configured.parse().map_err(|_| {
            ExitError::config(format!(
                "[detection] timezone: {configured:?} is not a time zone of the tz database (e.g. \"Europe/Berlin\")"
            ))
        });
    }
    Ok(machine_zone().unwrap_or(chrono_tz::UTC))
}

/// The zone name in `TZ` (`Europe/Berlin`, `:Europe/Berlin`, or a zoneinfo path), in
/// `/etc/timezone`, or in the target of the `/etc/localtime` link.
fn machine_zone() -> Option<chrono_tz::Tz> {
    let from_name = |name: &str| -> Option<chrono_tz::Tz> {
        let name = name.trim().trim_start_matches(':');
        let name = name.rsplit_once("zoneinfo/").map_or(name, |(_, n)| n);
        name.parse().ok()
    };
    if let Some(tz) = std::env::var("TZ").ok().filter(|v| !v.trim().is_empty()) {
        if let Some(zone) = from_name(&tz) {
            return Some(zone);
        }
        tracing::warn!(tz = %tz, "TZ is not a tz database name; trying /etc/localtime");
    }
    if let Some(zone) = std::fs::read_to_string("/etc/timezone")
        .ok()
        .and_then(|s| from_name(&s))
    {
        return Some(zone);
    }
    let link = std::fs::read_link("/etc/localtime").ok()?;
    from_name(&link.to_string_lossy())
}

fn load_detector_from(dir: &Path) -> Result<Detector, ExitError> {
    // Every kind of the registry that has a rules file, then the shell rules. A file that is
    // embedded may be overridden; one that is not (a user's kind) must be there.
    let registry = gaffer_core::kinds::registry();
    let files = registry
        .kinds()
        .iter()
        .filter_map(|k| Some((k.code.as_str(), k.rules.as_deref()?)))
        .chain(std::iter::once((
            gaffer_core::kinds::SHELL_KIND,
            "shell.toml",
        )));
    let mut overrides = Vec::new();
    for (kind, file) in files {
        let path = dir.join(file);
        match std::fs::read_to_string(&path) {
            Ok(text) => overrides.push((kind.to_string(), text)),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    && gaffer_core::kinds::builtin_rules(file).is_some() => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ExitError::config(format!(
                    "agent kind {kind} has its rules in {file}, but {} is missing",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(ExitError::config(format!(
                    "cannot read rules file {}: {e}",
                    path.display()
                )));
            }
        }
    }
    Detector::with_overrides(&overrides)
        .map_err(|e| ExitError::config(format!("rules override in {}: {e}", dir.display())))
}

// ---- mailbox ----------------------------------------------------------------------------

/// The mailbox and how to name it.
pub struct Mail {
    /// The mailbox.
    pub mailbox: Arc<dyn Mailbox>,
    /// `agent-mail URL` or `embedded PATH`.
    pub backend: String,
}

/// The mailbox: the Agent Mail server at `flag_url` (`--mail-url`), else `AGENT_MAIL_URL`,
/// else `[mail] url`; without any, the embedded mailbox of `root`. An empty flag counts as
/// none.
pub fn mailbox(
    flag_url: Option<&str>,
    config: &GafferConfig,
    root: &Path,
) -> Result<Mail, MailError> {
    let url = flag_url
        .filter(|u| !u.trim().is_empty())
        .map(str::to_string)
        .or_else(|| gaffer_mail::configured_url(&config.mail.url));
    mailbox_at(url, root, config.mail.timeout)
}

/// The mailbox at exactly `url` (`None`: the embedded one of `root`).
pub fn mailbox_at(url: Option<String>, root: &Path, timeout: Duration) -> Result<Mail, MailError> {
    let mailbox = Arc::from(gaffer_mail::open(url.as_deref(), root, timeout)?);
    let backend = match &url {
        Some(u) => format!("agent-mail {u}"),
        None => format!("embedded {}", root.join(".gaffer/state.db").display()),
    };
    Ok(Mail { mailbox, backend })
}

// ---- work source --------------------------------------------------------------------------

/// Reads the project's issues.
pub type IssuesFn =
    Arc<dyn Fn(Timestamp) -> Result<gaffer_core::work_source::IssuesReading, String> + Send + Sync>;

/// The work source and the reader of the project's issues.
pub struct Work {
    /// The source: `br`, `bv` or native, as `[beads]` says.
    pub source: Arc<dyn WorkSource + Send + Sync>,
    /// The issues, read from `.beads/`.
    pub issues: IssuesFn,
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

/// The work source of the beads project at or above `root`, built as `[beads]` says (`source`,
/// `timeout`); with `native_only`, the native reader (read-only) whatever is installed. A
/// directory without beads gets [`NoBeads`]; a `source = "bv"` without bv is an error.
pub fn work(root: &Path, config: &BeadsConfig, native_only: bool) -> Result<Work, ExitError> {
    match BeadsProject::discover(root) {
        Ok(project) => {
            let reader = project.clone();
            let source: Arc<dyn WorkSource + Send + Sync> = if native_only {
                Arc::new(gaffer_beads::NativeSource::new(project))
            } else {
                Arc::from(gaffer_beads::source_for(project, config)?)
            };
            Ok(Work {
                source,
                issues: Arc::new(move |_| {
                    reader
                        .load()
                        .map(|l| gaffer_core::work_source::IssuesReading {
                            issues: l.issues,
                            skipped: l.skipped.iter().map(|s| s.to_string()).collect(),
                        })
                        .map_err(|e| e.to_string())
                }),
            })
        }
        Err(e) => {
            let msg = e.to_string();
            let m2 = msg.clone();
            Ok(Work {
                source: Arc::new(NoBeads(msg)),
                issues: Arc::new(move |_| Err(m2.clone())),
            })
        }
    }
}

// ---- ledger -------------------------------------------------------------------------------

/// `.gaffer/state.db` of the project.
pub fn state_db(global: &GlobalArgs) -> PathBuf {
    config_load::project_root(global)
        .join(".gaffer")
        .join("state.db")
}

/// The pauses of auto-assign in the project's ledger (none when it has no ledger yet: reading
/// them never creates one).
pub fn pauses(global: &GlobalArgs) -> gaffer_core::control::Pauses {
    let path = state_db(global);
    if !path.exists() {
        return Default::default();
    }
    ledger_at(&path)
        .ok()
        .and_then(|l| l.pauses().ok())
        .unwrap_or_default()
}

/// Opens the project's ledger.
pub fn ledger(global: &GlobalArgs) -> Result<Ledger, ExitError> {
    ledger_at(&state_db(global))
}

/// The agents' hook signals in the project's ledger, as the observation reads them.
pub fn signal_feed(global: &GlobalArgs) -> Arc<LedgerSignalFeed> {
    Arc::new(LedgerSignalFeed::new(&state_db(global)))
}

/// `.gaffer/signals.sock` of the project: `gaffer hook` wakes the running coordinator there.
pub fn signal_socket(global: &GlobalArgs) -> PathBuf {
    config_load::project_root(global)
        .join(".gaffer")
        .join(gaffer_coordinator::wake::SOCKET_NAME)
}

/// Opens the ledger at `path`.
pub fn ledger_at(path: &Path) -> Result<Ledger, ExitError> {
    Ledger::open(path).map_err(|e| ExitError::failure(format!("{}: {e}", path.display())))
}
