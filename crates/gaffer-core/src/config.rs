//! gaffer's configuration: the schema, its embedded defaults, and layered parsing with precise
//! diagnostics (DESIGN.md §4).
//!
//! Everything here is pure: callers read the files and the environment, and pass the texts in.
//! Each layer is checked on its own, so an error names the file, the line and the key; unknown
//! keys become warnings with a suggestion. Layers are then merged key by key, the later winning.

use crate::assignment::{AssignmentStrategy, ScoreConfig};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

/// The smallest poll interval accepted at start.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_millis(100);
/// The smallest digest interval accepted at start.
pub const MIN_DIGEST_INTERVAL: Duration = Duration::from_secs(10);

/// The coordinator section, with the reference's key names (reference `CoordinatorConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CoordinatorConfig {
    /// How often agent status is polled (default 5s).
    #[serde(with = "duration_str")]
    pub poll_interval: Duration,
    /// How often digests are sent (default 5m).
    #[serde(with = "duration_str")]
    pub digest_interval: Duration,
    /// Assign work to idle agents automatically.
    pub auto_assign: bool,
    /// Seconds an agent must have been idle before it gets work (a number, or a duration).
    #[serde(deserialize_with = "seconds_f64")]
    pub idle_threshold: f64,
    /// Only assign to truly idle agents.
    pub assign_only_idle: bool,
    /// Notify holders when a conflict is detected.
    pub conflict_notify: bool,
    /// Ask a holder to release when a conflict is detected.
    pub conflict_negotiate: bool,
    /// Send periodic digests to the human.
    pub send_digests: bool,
    /// The Agent Mail name digests go to.
    pub human_agent: String,
    /// How long active assignments are held while tmux is lost (server gone or not
    /// answering) before they are handed back (default 2m).
    #[serde(with = "duration_str")]
    pub tmux_grace: Duration,
    /// Relaunch an agent whose pane went EXITED (its own launch command, same pane and title).
    pub restart_exited: bool,
    /// The wait before the second restart of an agent; it doubles with each further restart.
    #[serde(with = "duration_str")]
    pub restart_backoff: Duration,
    /// The longest wait between two restarts.
    #[serde(with = "duration_str")]
    pub restart_backoff_max: Duration,
    /// More restarts than this within `restart_window` is a crash loop: restarting stops.
    pub restart_limit: u32,
    /// The window of the crash-loop count.
    #[serde(with = "duration_str")]
    pub restart_window: Duration,
    /// What happens to an exited agent's live assignment: handed back, or re-delivered after
    /// the restart.
    pub exited_work: ExitedWork,
    /// Send the kind's compact command to an idle agent above `compact_above` percent context
    /// (it gets no work up there, and idle agents never compact by themselves).
    pub compact_idle: bool,
    /// Context use, percent, above which an idle agent is compacted (default: the work limit,
    /// 90).
    pub compact_above: f64,
    /// The least time between two compactions of one agent.
    #[serde(with = "duration_str")]
    pub compact_backoff: Duration,
}

/// What happens to the live assignment of an agent that exited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitedWork {
    /// The assignment fails: the claim is undone, reservations are released, and the bead goes
    /// to the next assignment round.
    #[default]
    HandBack,
    /// The assignment stays with the agent and its prompt is delivered again once the restarted
    /// agent waits (handed back when restarts are off or stopped).
    Redeliver,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        CoordinatorConfig {
            poll_interval: Duration::from_secs(5),
            digest_interval: Duration::from_secs(5 * 60),
            auto_assign: false,
            idle_threshold: 30.0,
            assign_only_idle: true,
            conflict_notify: true,
            conflict_negotiate: false,
            send_digests: false,
            human_agent: "Human".into(),
            tmux_grace: Duration::from_secs(120),
            restart_exited: false,
            restart_backoff: Duration::from_secs(15),
            restart_backoff_max: Duration::from_secs(5 * 60),
            restart_limit: 5,
            restart_window: Duration::from_secs(10 * 60),
            exited_work: ExitedWork::HandBack,
            compact_idle: true,
            compact_above: crate::assign::select::MAX_CONTEXT_FOR_WORK,
            compact_backoff: Duration::from_secs(10 * 60),
        }
    }
}

/// An interval that was below its minimum and replaced at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClampNotice {
    /// The key, e.g. `poll_interval`.
    pub key: &'static str,
    /// The configured value.
    pub configured: Duration,
    /// The value used instead.
    pub used: Duration,
}

impl fmt::Display for ClampNotice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "coordinator.{} = {} is below the minimum; the default {} is used",
            self.key,
            humantime::format_duration(self.configured),
            humantime::format_duration(self.used)
        )
    }
}

impl CoordinatorConfig {
    /// Applies the start-time clamp: an interval below its minimum is replaced by its default
    /// (as the reference does), and each replacement is reported.
    pub fn clamp_intervals(&mut self) -> Vec<ClampNotice> {
        let defaults = CoordinatorConfig::default();
        let mut notices = Vec::new();
        if self.poll_interval < MIN_POLL_INTERVAL {
            notices.push(ClampNotice {
                key: "poll_interval",
                configured: self.poll_interval,
                used: defaults.poll_interval,
            });
            self.poll_interval = defaults.poll_interval;
        }
        if self.digest_interval < MIN_DIGEST_INTERVAL {
            notices.push(ClampNotice {
                key: "digest_interval",
                configured: self.digest_interval,
                used: defaults.digest_interval,
            });
            self.digest_interval = defaults.digest_interval;
        }
        notices
    }

    /// The idle threshold as a duration.
    pub fn idle_threshold_duration(&self) -> Duration {
        Duration::from_secs_f64(self.idle_threshold.max(0.0))
    }
}

/// The `[assign]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AssignConfig {
    /// Strategy: balanced, speed, quality, dependency or round-robin (aliases accepted).
    #[serde(deserialize_with = "strategy_strict")]
    pub strategy: AssignmentStrategy,
    /// Longest back-off after an agent refuses or stalls on a task.
    #[serde(with = "duration_str")]
    pub max_backoff: Duration,
    /// How long a delivered prompt may take to be picked up.
    #[serde(with = "duration_str")]
    pub delivery_deadline: Duration,
    /// How long an agent may sit idle with its task still open before the assignment counts
    /// as stalled (time for it to report the end: `br close`, `gaffer done`).
    #[serde(with = "duration_str")]
    pub completion_grace: Duration,
    /// An assignment whose agent stays STALLED this long is handed back ("0s": never).
    #[serde(with = "duration_str")]
    pub takeback_stalled: Duration,
    /// An assignment whose agent stays BLOCKED this long is handed back ("0s": never).
    #[serde(with = "duration_str")]
    pub takeback_blocked: Duration,
    /// An assignment whose agent stays RATE_LIMITED this long is handed back, unless the limit
    /// is known to reset sooner ("0s": never).
    #[serde(with = "duration_str")]
    pub takeback_rate_limited: Duration,
}

impl Default for AssignConfig {
    fn default() -> Self {
        AssignConfig {
            strategy: AssignmentStrategy::Balanced,
            max_backoff: Duration::from_secs(30 * 60),
            delivery_deadline: Duration::from_secs(20),
            completion_grace: Duration::from_secs(10),
            takeback_stalled: Duration::from_secs(10 * 60),
            takeback_blocked: Duration::from_secs(15 * 60),
            takeback_rate_limited: Duration::from_secs(30 * 60),
        }
    }
}

/// The `[tmux]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TmuxConfig {
    /// Socket name (`tmux -L`); empty means tmux's default.
    pub socket_name: String,
    /// Socket path (`tmux -S`); wins over `socket_name`.
    pub socket_path: String,
    /// Session to coordinate; empty means the project directory's name.
    pub session: String,
    /// Timeout of each tmux command.
    #[serde(with = "duration_str")]
    pub command_timeout: Duration,
    /// `gaffer spawn`: agent panes per window (tiled); more agents open more windows.
    pub panes_per_window: u32,
    /// `gaffer spawn`: keep a shell in the pane after the agent exits (else the pane is kept
    /// dead and reads EXITED).
    pub keep_shell: bool,
}

impl Default for TmuxConfig {
    fn default() -> Self {
        TmuxConfig {
            socket_name: String::new(),
            socket_path: String::new(),
            session: String::new(),
            command_timeout: Duration::from_secs(5),
            panes_per_window: 4,
            keep_shell: false,
        }
    }
}

/// The `[mail]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MailConfig {
    /// Agent Mail server URL; empty means the embedded mailbox. `AGENT_MAIL_URL` sets it.
    pub url: String,
    /// gaffer's own Agent Mail name; empty lets the server choose.
    pub agent_name: String,
    /// Timeout of each call.
    #[serde(with = "duration_str")]
    pub timeout: Duration,
    /// Reservation time to live for assigned tasks.
    #[serde(with = "duration_str")]
    pub reservation_ttl: Duration,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            url: String::new(),
            agent_name: String::new(),
            timeout: Duration::from_secs(10),
            reservation_ttl: Duration::from_secs(60 * 60),
        }
    }
}

/// The `[detection]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectionConfig {
    /// A busy agent with no progress for this long is STALLED.
    #[serde(with = "duration_str")]
    pub stall_threshold: Duration,
    /// Observations a new status must persist before it is adopted (hysteresis).
    pub confirm_observations: u32,
    /// The IANA time zone (`Europe/Berlin`) in which the agents print a rate-limit reset time
    /// without a zone; empty: this machine's zone (`TZ`, else `/etc/localtime`).
    pub timezone: String,
}

impl Default for DetectionConfig {
    fn default() -> Self {
        DetectionConfig {
            stall_threshold: Duration::from_secs(120),
            confirm_observations: 2,
            timezone: String::new(),
        }
    }
}

/// The `[fusion]` section: how the screen is weighed against the agents' own signals
/// ([`crate::fuse`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FusionConfig {
    /// A non-busy hook signal older than this decides nothing.
    #[serde(with = "duration_str")]
    pub signal_max_age: Duration,
    /// How long the screen may lag behind a hook.
    #[serde(with = "duration_str")]
    pub settle: Duration,
    /// A hook-busy turn whose screen shows the prompt, quiet this long, is over.
    #[serde(with = "duration_str")]
    pub turn_quiet: Duration,
    /// A model request this long after the turn's last progress is a retry.
    #[serde(with = "duration_str")]
    pub retry_gap: Duration,
}

impl Default for FusionConfig {
    fn default() -> Self {
        let d = crate::fuse::FuseConfig::default();
        FusionConfig {
            signal_max_age: d.max_age,
            settle: d.settle,
            turn_quiet: d.turn_quiet,
            retry_gap: d.retry_gap,
        }
    }
}

impl From<&FusionConfig> for crate::fuse::FuseConfig {
    fn from(c: &FusionConfig) -> Self {
        crate::fuse::FuseConfig {
            max_age: c.signal_max_age,
            settle: c.settle,
            turn_quiet: c.turn_quiet,
            retry_gap: c.retry_gap,
            ..Default::default()
        }
    }
}

/// Where work comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WorkSourceKind {
    /// `bv` when on PATH, else native triage; `br` for claims when on PATH.
    #[default]
    Auto,
    /// Native triage from `.beads/issues.jsonl`.
    Native,
    /// `bv --robot-triage`.
    Bv,
}

/// The `[beads]` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BeadsConfig {
    /// Triage source.
    pub source: WorkSourceKind,
    /// Timeout of `bv` and `br` calls.
    #[serde(with = "duration_str")]
    pub timeout: Duration,
}

impl Default for BeadsConfig {
    fn default() -> Self {
        BeadsConfig {
            source: WorkSourceKind::Auto,
            timeout: Duration::from_secs(30),
        }
    }
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct GafferConfig {
    /// The reference's coordinator keys.
    pub coordinator: CoordinatorConfig,
    /// Assignment strategy and pacing.
    pub assign: AssignConfig,
    /// Scoring terms (reference `ScoreConfig`).
    pub scoring: ScoreConfig,
    /// tmux connection.
    pub tmux: TmuxConfig,
    /// Agent Mail.
    pub mail: MailConfig,
    /// Status detection.
    pub detection: DetectionConfig,
    /// Work source.
    pub beads: BeadsConfig,
    /// Fusion of the screen with hooks, session files and transcripts.
    pub fusion: FusionConfig,
    /// Model-name pattern → context window in tokens, on top of the embedded table
    /// ([`crate::agent_files::DEFAULT_CONTEXT_WINDOWS`]); `*` matches any run of characters.
    pub context_windows: std::collections::BTreeMap<String, u64>,
    /// Notifications for the human: rules and channels.
    pub notify: crate::notify::NotifyConfig,
    /// Other machines whose agents gaffer coordinates over SSH (`[[hosts]]`); "local" is
    /// implicit. A later layer's list replaces an earlier one's.
    pub hosts: Vec<HostConfig>,
}

/// The name of the implicit host, the machine gaffer runs on.
pub const LOCAL_HOST: &str = "local";

/// One `[[hosts]]` entry: a machine reached over SSH, and its tmux server there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct HostConfig {
    /// The host's name in gaffer (pane keys read `name:%N`): letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The SSH destination host: a name, an address or a `~/.ssh/config` alias.
    pub host: String,
    /// Login user; empty lets ssh decide (`~/.ssh/config`, the local user name).
    pub user: String,
    /// Port; 0 lets ssh decide.
    pub port: u16,
    /// Private key file (`ssh -i`); empty lets ssh decide (ssh-agent, `~/.ssh/config`).
    pub identity: String,
    /// Arguments passed to `ssh` as they are, before the destination
    /// (for example `["-o", "ProxyJump=bastion"]`).
    pub ssh_options: Vec<String>,
    /// The tmux socket name there (`tmux -L`); empty means tmux's default.
    pub socket_name: String,
    /// The tmux socket path there (`tmux -S`); wins over `socket_name`.
    pub socket_path: String,
    /// The tmux session there; empty means `[tmux] session`.
    pub session: String,
    /// The project's directory there (absolute), where its agents run. When set, gaffer writes
    /// `.gaffer/remote.json` there and the agents' `gaffer done`, `refuse`, `quality
    /// record-tests` and `hook` report home over the host's connection; empty: they cannot.
    pub project: String,
}

/// The `[[hosts]]` keys.
const HOST_KEYS: &[&str] = &[
    "name",
    "host",
    "user",
    "port",
    "identity",
    "ssh_options",
    "socket_name",
    "socket_path",
    "session",
    "project",
];

/// Checks `[[hosts]]` entries; on a problem returns the entry's index, the key and what is
/// wrong.
pub fn check_hosts(hosts: &[HostConfig]) -> Result<(), (usize, &'static str, String)> {
    let word = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    let mut seen = std::collections::HashSet::new();
    for (i, h) in hosts.iter().enumerate() {
        if h.name.is_empty() {
            return Err((i, "name", "a host needs a name".into()));
        }
        if !word(&h.name) {
            return Err((
                i,
                "name",
                format!("`{}`: use letters, digits, `-`, `_` and `.` only", h.name),
            ));
        }
        if h.name == LOCAL_HOST {
            return Err((i, "name", "`local` is the machine gaffer runs on".into()));
        }
        if !seen.insert(h.name.as_str()) {
            return Err((i, "name", format!("host `{}` is listed twice", h.name)));
        }
        if h.host.is_empty() {
            return Err((
                i,
                "host",
                format!("host `{}` needs an SSH destination", h.name),
            ));
        }
        if h.host.starts_with('-') || h.host.contains(char::is_whitespace) || h.host.contains('@') {
            return Err((
                i,
                "host",
                format!("`{}` is not a host name (put the user in `user`)", h.host),
            ));
        }
        if h.user.starts_with('-') || h.user.contains(char::is_whitespace) || h.user.contains('@') {
            return Err((i, "user", format!("`{}` is not a user name", h.user)));
        }
        if !h.project.is_empty()
            && (!h.project.starts_with('/') || h.project.chars().any(char::is_control))
        {
            return Err((
                i,
                "project",
                format!(
                    "`{}`: give the project's absolute path on the host",
                    h.project
                ),
            ));
        }
    }
    Ok(())
}

impl GafferConfig {
    /// The context-window table: the embedded one with `[context_windows]` on top.
    pub fn context_windows(&self) -> crate::agent_files::ContextWindows {
        crate::agent_files::ContextWindows::builtin()
            .with(self.context_windows.iter().map(|(k, v)| (k.clone(), *v)))
    }
}

/// The embedded defaults as a commented TOML file, written by `gaffer config init`.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default_config.toml");

/// A configuration problem in one layer, located as precisely as the layer allows.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", self.render())]
pub struct ConfigError {
    /// The file path, or `environment variable NAME`, or `flag --set ...`.
    pub source_name: String,
    /// 1-based line, when the layer is a file.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted key, e.g. `coordinator.poll_interval`, when known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    fn render(&self) -> String {
        let mut s = self.source_name.clone();
        if let Some(line) = self.line {
            s.push_str(&format!(":{line}"));
            if let Some(col) = self.column {
                s.push_str(&format!(":{col}"));
            }
        }
        if let Some(key) = &self.key {
            s.push_str(&format!(": key `{key}`"));
        }
        s.push_str(&format!(": {}", self.message));
        s
    }
}

/// A non-fatal remark on one layer, such as an unknown key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigWarning {
    /// The file path or variable.
    pub source_name: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key.
    pub key: String,
    /// What was noticed.
    pub message: String,
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source_name)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": key `{}`: {}", self.key, self.message)
    }
}

/// One layer, already parsed and checked.
#[derive(Debug, Clone)]
pub struct ConfigLayer {
    /// Where it came from.
    pub source_name: String,
    /// The known keys it sets (unknown keys removed).
    pub table: toml::Table,
}

/// Parses and checks one TOML file's text. Unknown keys are reported as warnings and dropped;
/// a wrong type or value is an error naming the file, line and key.
pub fn parse_layer(
    source_name: &str,
    text: &str,
) -> Result<(ConfigLayer, Vec<ConfigWarning>), ConfigError> {
    let doc = toml_edit::ImDocument::parse(text.to_string()).map_err(|e| {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unzip();
        ConfigError {
            source_name: source_name.into(),
            line,
            column,
            key: None,
            message: format!("invalid TOML: {}", first_line(e.message())),
        }
    })?;
    let mut unknown: Vec<String> = Vec::new();
    let checked: Result<GafferConfig, _> =
        serde_ignored::deserialize(toml::Deserializer::new(text), |path| {
            unknown.push(path.to_string())
        });
    if let Err(e) = checked {
        let (line, column) = e.span().map(|s| line_col(text, s.start)).unzip();
        let key = e.span().and_then(|s| key_at(&doc, s.start));
        return Err(ConfigError {
            source_name: source_name.into(),
            line,
            column,
            key,
            message: first_line(e.message()).to_string(),
        });
    }
    if let Ok(cfg) = &checked
        && let Err((i, key, message)) = check_hosts(&cfg.hosts)
    {
        let line = host_entry_offset(&doc, i, key).map(|off| line_col(text, off).0);
        return Err(ConfigError {
            source_name: source_name.into(),
            line,
            column: None,
            key: Some(format!("hosts[{i}].{key}")),
            message,
        });
    }
    let mut table: toml::Table = toml::from_str(text).map_err(|e| ConfigError {
        source_name: source_name.into(),
        line: None,
        column: None,
        key: None,
        message: format!("invalid TOML: {}", first_line(e.message())),
    })?;
    let mut warnings = Vec::new();
    for path in &unknown {
        warnings.push(unknown_warning(source_name, text, &doc, path));
        remove_path(&mut table, path);
    }
    Ok((
        ConfigLayer {
            source_name: source_name.into(),
            table,
        },
        warnings,
    ))
}

/// Byte offset of `key` in the `i`-th `[[hosts]]` entry (or of the entry when the key is absent).
fn host_entry_offset(doc: &toml_edit::ImDocument<String>, i: usize, key: &str) -> Option<usize> {
    let entry = match doc.as_table().get("hosts")? {
        toml_edit::Item::ArrayOfTables(a) => a.get(i)?,
        _ => return None,
    };
    entry
        .key(key)
        .and_then(|k| k.span())
        .or_else(|| entry.span())
        .map(|s| s.start)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s).trim()
}

fn remove_path(table: &mut toml::Table, path: &str) {
    match path.split_once('.') {
        None => {
            table.remove(path);
        }
        Some((head, rest)) => {
            if let Some(toml::Value::Table(inner)) = table.get_mut(head) {
                remove_path(inner, rest);
            }
        }
    }
}

fn unknown_warning(
    source_name: &str,
    text: &str,
    doc: &toml_edit::ImDocument<String>,
    path: &str,
) -> ConfigWarning {
    let line = key_offset(doc, path).map(|off| line_col(text, off).0);
    let mut message = "unknown key (ignored)".to_string();
    if let Some(s) = suggest(path) {
        message.push_str(&format!("; did you mean `{s}`?"));
    }
    ConfigWarning {
        source_name: source_name.into(),
        line,
        key: path.into(),
        message,
    }
}

/// The defaults as a TOML table: the schema of known keys.
fn schema_table() -> toml::Table {
    toml::Table::try_from(GafferConfig::default()).unwrap_or_default()
}

/// Every known dotted key.
pub fn known_keys() -> Vec<String> {
    let mut keys = Vec::new();
    for (k, v) in schema_table() {
        match v {
            toml::Value::Table(t) => keys.extend(t.keys().map(|s| format!("{k}.{s}"))),
            _ if k == "hosts" => keys.extend(HOST_KEYS.iter().map(|s| format!("hosts.{s}"))),
            _ => keys.push(k),
        }
    }
    keys.sort();
    keys
}

fn suggest(path: &str) -> Option<String> {
    let (section, key) = path
        .rsplit_once('.')
        .map(|(s, k)| (Some(s), k))
        .unwrap_or((None, path));
    let candidates = known_keys();
    candidates
        .iter()
        .filter(|c| match section {
            Some(s) => c.starts_with(&format!("{s}.")),
            None => true,
        })
        .map(|c| {
            let tail = c.rsplit_once('.').map(|(_, k)| k).unwrap_or(c);
            (levenshtein(key, tail).min(levenshtein(key, c)), c)
        })
        .filter(|(d, _)| *d <= 3)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.clone())
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

/// The dotted key whose key or value covers `offset`.
fn key_at(doc: &toml_edit::ImDocument<String>, offset: usize) -> Option<String> {
    fn walk(table: &toml_edit::Table, prefix: &str, offset: usize) -> Option<String> {
        for (k, item) in table.iter() {
            let path = if prefix.is_empty() {
                k.to_string()
            } else {
                format!("{prefix}.{k}")
            };
            let key_span = table.key(k).and_then(|key| key.span());
            match item {
                toml_edit::Item::Table(t) => {
                    if let Some(found) = walk(t, &path, offset) {
                        return Some(found);
                    }
                }
                toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => {
                    for (ik, iv) in t.iter() {
                        if iv
                            .span()
                            .is_some_and(|s| s.contains(&offset) || s.start == offset)
                        {
                            return Some(format!("{path}.{ik}"));
                        }
                    }
                    if t.span().is_some_and(|s| s.contains(&offset)) {
                        return Some(path);
                    }
                }
                toml_edit::Item::ArrayOfTables(a) => {
                    for (i, t) in a.iter().enumerate() {
                        if let Some(found) = walk(t, &format!("{path}[{i}]"), offset) {
                            return Some(found);
                        }
                        if t.span().is_some_and(|s| s.contains(&offset)) {
                            return Some(format!("{path}[{i}]"));
                        }
                    }
                }
                toml_edit::Item::Value(v) => {
                    let hit = v
                        .span()
                        .is_some_and(|s| s.contains(&offset) || s.start == offset)
                        || key_span.is_some_and(|s| s.contains(&offset));
                    if hit {
                        return Some(path);
                    }
                }
                _ => {}
            }
        }
        None
    }
    walk(doc.as_table(), "", offset)
}

/// Byte offset of a dotted key's name.
fn key_offset(doc: &toml_edit::ImDocument<String>, path: &str) -> Option<usize> {
    let mut table = doc.as_table();
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if last {
            if let Some(key) = table.key(part) {
                return key
                    .span()
                    .map(|s| s.start)
                    .or_else(|| table.get(part).and_then(item_start));
            }
            return None;
        }
        match table.get(part)? {
            toml_edit::Item::Table(t) => table = t,
            toml_edit::Item::Value(toml_edit::Value::InlineTable(t)) => {
                let rest = parts.get(i + 1)?;
                return t.key(rest).and_then(|k| k.span()).map(|s| s.start);
            }
            _ => return None,
        }
    }
    None
}

fn item_start(item: &toml_edit::Item) -> Option<usize> {
    item.span().map(|s| s.start)
}

/// Converts a `key=value` override (from the environment or a flag) into a one-key layer,
/// typing the value by the key's default: strings stay strings, booleans and numbers are parsed.
pub fn override_layer(
    source_name: &str,
    dotted_key: &str,
    raw: &str,
) -> Result<ConfigLayer, ConfigError> {
    let err = |message: String| ConfigError {
        source_name: source_name.into(),
        line: None,
        column: None,
        key: Some(dotted_key.into()),
        message,
    };
    let Some((section, key)) = dotted_key.split_once('.') else {
        return Err(err("expected a key like `coordinator.poll_interval`".into()));
    };
    let schema = schema_table();
    let default = schema
        .get(section)
        .and_then(|s| s.as_table())
        .and_then(|t| t.get(key))
        .ok_or_else(|| {
            let mut m = "unknown key".to_string();
            if let Some(s) = suggest(dotted_key) {
                m.push_str(&format!("; did you mean `{s}`?"));
            }
            err(m)
        })?;
    let value = match default {
        toml::Value::String(_) => toml::Value::String(raw.to_string()),
        toml::Value::Boolean(_) => match raw.trim().to_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => toml::Value::Boolean(true),
            "false" | "0" | "no" | "off" => toml::Value::Boolean(false),
            _ => return Err(err(format!("expected true or false, got {raw:?}"))),
        },
        toml::Value::Integer(_) => toml::Value::Integer(
            raw.trim()
                .parse()
                .map_err(|_| err(format!("expected a whole number, got {raw:?}")))?,
        ),
        toml::Value::Float(_) => match raw.trim().parse::<f64>() {
            Ok(f) => toml::Value::Float(f),
            Err(_) => toml::Value::String(raw.to_string()),
        },
        // A list is written comma-separated: `blocked,error`.
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_string()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_string()),
    };
    let mut inner = toml::Table::new();
    inner.insert(key.to_string(), value);
    let mut table = toml::Table::new();
    table.insert(section.to_string(), toml::Value::Table(inner));
    // Check the value's type and range by the schema.
    let text = toml::to_string(&table).map_err(|e| err(e.to_string()))?;
    toml::from_str::<GafferConfig>(&text).map_err(|e| err(first_line(e.message()).to_string()))?;
    Ok(ConfigLayer {
        source_name: source_name.into(),
        table,
    })
}

/// Maps `GAFFER_<SECTION>__<KEY>` to `section.key`; `None` for other variables.
pub fn env_var_key(name: &str) -> Option<String> {
    let rest = name.strip_prefix("GAFFER_")?;
    let (section, key) = rest.split_once("__")?;
    if section.is_empty() || key.is_empty() {
        return None;
    }
    Some(format!("{}.{}", section.to_lowercase(), key.to_lowercase()))
}

/// Merges layers over the defaults, later layers winning key by key.
pub fn merge_layers(layers: &[ConfigLayer]) -> Result<GafferConfig, ConfigError> {
    let mut merged = schema_table();
    for layer in layers {
        deep_merge(&mut merged, &layer.table);
    }
    let text = toml::to_string(&merged).map_err(|e| ConfigError {
        source_name: "merged configuration".into(),
        line: None,
        column: None,
        key: None,
        message: e.to_string(),
    })?;
    toml::from_str(&text).map_err(|e| ConfigError {
        source_name: "merged configuration".into(),
        line: None,
        column: None,
        key: None,
        message: first_line(e.message()).to_string(),
    })
}

fn deep_merge(base: &mut toml::Table, over: &toml::Table) {
    for (k, v) in over {
        match (base.get_mut(k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => deep_merge(b, o),
            _ => {
                base.insert(k.clone(), v.clone());
            }
        }
    }
}

/// Serde for durations written like `"5s"`, `"250ms"`, `"5m"`, `"1h30m"`.
pub mod duration_str {
    use super::*;

    /// Writes `5s`, `5m`, …
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    /// Reads a duration string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let raw = String::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a duration string with a unit, like \"5s\", \"250ms\" or \"5m\"",
            )
        })?;
        parse_duration(&raw).map_err(serde::de::Error::custom)
    }
}

/// Parses `"5s"`, `"250ms"`, `"5m"`, `"1h30m"`; a bare number is refused because its unit would
/// be a guess.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let t = raw.trim();
    if !t.is_empty() && t.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(format!(
            "invalid duration {raw:?}: a unit is required, like \"{t}s\" or \"{t}ms\""
        ));
    }
    humantime::parse_duration(t).map_err(|e| {
        format!("invalid duration {raw:?}: {e}; write it like \"5s\", \"250ms\" or \"5m\"")
    })
}

fn seconds_f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Secs {
        Num(f64),
        Int(i64),
        Text(String),
    }
    let v = match Secs::deserialize(d).map_err(|_| {
        serde::de::Error::custom("expected seconds as a number, or a duration like \"30s\"")
    })? {
        Secs::Num(f) => f,
        Secs::Int(i) => i as f64,
        Secs::Text(s) => parse_duration(&s)
            .map_err(serde::de::Error::custom)?
            .as_secs_f64(),
    };
    if !v.is_finite() || v < 0.0 {
        return Err(serde::de::Error::custom(format!(
            "expected a non-negative number of seconds, got {v}"
        )));
    }
    Ok(v)
}

fn strategy_strict<'de, D: Deserializer<'de>>(d: D) -> Result<AssignmentStrategy, D::Error> {
    let raw = String::deserialize(d)?;
    AssignmentStrategy::parse_strict(&raw).ok_or_else(|| {
        serde::de::Error::custom(format!(
            "unknown strategy {raw:?}; expected balanced, speed, quality, dependency or round-robin"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinator_defaults_match_reference() {
        let c = CoordinatorConfig::default();
        assert_eq!(c.poll_interval, Duration::from_secs(5));
        assert_eq!(c.digest_interval, Duration::from_secs(300));
        assert!(!c.auto_assign);
        assert_eq!(c.idle_threshold, 30.0);
        assert!(c.assign_only_idle);
        assert!(c.conflict_notify);
        assert!(!c.conflict_negotiate);
        assert!(!c.send_digests);
        assert_eq!(c.human_agent, "Human");
        assert_eq!(MIN_POLL_INTERVAL, Duration::from_millis(100));
        assert_eq!(MIN_DIGEST_INTERVAL, Duration::from_secs(10));
    }

    #[test]
    fn clamp_replaces_small_intervals_with_defaults() {
        let mut c = CoordinatorConfig {
            poll_interval: Duration::from_millis(50),
            digest_interval: Duration::from_secs(5),
            ..Default::default()
        };
        let notices = c.clamp_intervals();
        assert_eq!(c.poll_interval, Duration::from_secs(5));
        assert_eq!(c.digest_interval, Duration::from_secs(300));
        assert_eq!(notices.len(), 2);
        assert!(notices[0].to_string().contains("poll_interval = 50ms"));

        let mut zero = CoordinatorConfig {
            poll_interval: Duration::ZERO,
            ..Default::default()
        };
        zero.clamp_intervals();
        assert_eq!(zero.poll_interval, Duration::from_secs(5));

        let mut at_min = CoordinatorConfig {
            poll_interval: MIN_POLL_INTERVAL,
            digest_interval: MIN_DIGEST_INTERVAL,
            ..Default::default()
        };
        assert!(at_min.clamp_intervals().is_empty());
        assert_eq!(at_min.poll_interval, MIN_POLL_INTERVAL);
        assert_eq!(at_min.digest_interval, MIN_DIGEST_INTERVAL);
    }

    #[test]
    fn embedded_default_file_equals_defaults() {
        let (layer, warnings) = parse_layer("defaults", DEFAULT_CONFIG_TOML).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let merged = merge_layers(&[layer]).unwrap();
        assert_eq!(merged, GafferConfig::default());
        // Every known key is documented in the embedded file.
        assert!(DEFAULT_CONFIG_TOML.contains("\n# [[hosts]]\n"));
        for key in known_keys() {
            let (section, k) = key.split_once('.').unwrap();
            if section == "hosts" {
                // An example, commented out: there are no hosts by default.
                assert!(
                    DEFAULT_CONFIG_TOML.contains(&format!("\n# {k} = ")),
                    "{key} missing from default_config.toml"
                );
                continue;
            }
            assert!(
                DEFAULT_CONFIG_TOML.contains(&format!("\n{k} = ")),
                "{key} missing from default_config.toml"
            );
        }
    }

    #[test]
    fn context_windows_extend_the_embedded_table_and_bad_values_name_their_line() {
        let text = "[context_windows]\n\"llama-3*\" = 8192\n\"claude-*\" = 500000\n";
        let (layer, warnings) = parse_layer("p.toml", text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let cfg = merge_layers(&[layer]).unwrap();
        let w = cfg.context_windows();
        assert_eq!(w.window_for("llama-3.1-70b"), Some(8192));
        assert_eq!(w.window_for("claude-opus-4"), Some(500_000));
        assert_eq!(
            w.window_for("gemini-2.5-pro"),
            Some(1_048_576),
            "defaults stay"
        );
        let bad = "[context_windows]\n\"ok\" = 1\n\"gpt-x\" = \"big\"\n";
        let err = parse_layer("user.toml", bad).unwrap_err();
        assert_eq!(err.line, Some(3), "{err}");
        assert!(err.to_string().contains("user.toml"), "{err}");
        assert!(err.to_string().contains("gpt-x"), "{err}");
    }

    #[test]
    fn misspelled_key_warns_with_line_and_suggestion() {
        let text = "[coordinator]\nauto_assign = true\npol_interval = \"2s\"\n";
        let (layer, warnings) = parse_layer("p.toml", text).unwrap();
        assert_eq!(warnings.len(), 1);
        let w = &warnings[0];
        assert_eq!(w.key, "coordinator.pol_interval");
        assert_eq!(w.line, Some(3));
        assert!(
            w.message
                .contains("did you mean `coordinator.poll_interval`"),
            "{}",
            w.message
        );
        assert_eq!(
            w.to_string(),
            "p.toml:3: key `coordinator.pol_interval`: unknown key (ignored); did you mean `coordinator.poll_interval`?"
        );
        let merged = merge_layers(&[layer]).unwrap();
        assert!(merged.coordinator.auto_assign);
        assert_eq!(merged.coordinator.poll_interval, Duration::from_secs(5));
    }

    #[test]
    fn unknown_section_warns() {
        let (_, warnings) = parse_layer("p.toml", "[coordinatr]\nauto_assign = true\n").unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].line, Some(1));
    }

    #[test]
    fn bad_duration_is_an_error_with_file_line_and_key() {
        let text = "# comment\n[coordinator]\n\npoll_interval = \"5 parsecs\"\n";
        let err = parse_layer("/x/.gaffer/config.toml", text).unwrap_err();
        assert_eq!(err.line, Some(4));
        assert_eq!(err.key.as_deref(), Some("coordinator.poll_interval"));
        let shown = err.to_string();
        assert!(shown.starts_with("/x/.gaffer/config.toml:4:"), "{shown}");
        assert!(shown.contains("key `coordinator.poll_interval`"), "{shown}");
        assert!(shown.contains("invalid duration"), "{shown}");
    }

    #[test]
    fn bare_number_duration_asks_for_a_unit() {
        let err = parse_layer("c.toml", "[tmux]\ncommand_timeout = \"5\"\n").unwrap_err();
        assert!(err.message.contains("unit is required"), "{}", err.message);
        let err = parse_layer("c.toml", "[tmux]\ncommand_timeout = 5\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("tmux.command_timeout"));
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn wrong_type_and_bad_values_are_errors() {
        let err = parse_layer("c.toml", "[coordinator]\nauto_assign = \"yes\"\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("coordinator.auto_assign"));
        assert_eq!(err.line, Some(2));
        let err = parse_layer("c.toml", "[assign]\nstrategy = \"fastest\"\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("assign.strategy"));
        assert!(err.message.contains("unknown strategy"));
        let err = parse_layer("c.toml", "[coordinator]\nidle_threshold = -3\n").unwrap_err();
        assert_eq!(err.key.as_deref(), Some("coordinator.idle_threshold"));
    }

    #[test]
    fn hosts_entries_parse_and_merge() {
        let text = "[tmux]\nsession = \"p\"\n\n[[hosts]]\nname = \"box1\"\nhost = \"10.0.0.5\"\n\
                    user = \"me\"\nport = 2222\nidentity = \"/k\"\n\
                    ssh_options = [\"-o\", \"ProxyJump=bastion\"]\nsocket_name = \"g\"\n\
                    project = \"/srv/p\"\n\n\
                    [[hosts]]\nname = \"box2\"\nhost = \"box2\"\n";
        let (layer, warnings) = parse_layer("gaffer.toml", text).unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        let cfg = merge_layers(&[layer]).unwrap();
        assert_eq!(cfg.hosts.len(), 2);
        assert_eq!(
            cfg.hosts[0],
            HostConfig {
                name: "box1".into(),
                host: "10.0.0.5".into(),
                user: "me".into(),
                port: 2222,
                identity: "/k".into(),
                ssh_options: vec!["-o".into(), "ProxyJump=bastion".into()],
                socket_name: "g".into(),
                socket_path: String::new(),
                session: String::new(),
                project: "/srv/p".into(),
            }
        );
        assert_eq!(cfg.hosts[1].port, 0);
        // A later layer's list replaces the earlier one's.
        let (a, _) = parse_layer("a", text).unwrap();
        let (b, _) = parse_layer("b", "[[hosts]]\nname = \"c\"\nhost = \"c\"\n").unwrap();
        let cfg = merge_layers(&[a, b]).unwrap();
        assert_eq!(cfg.hosts.len(), 1);
        assert_eq!(cfg.hosts[0].name, "c");
        assert!(known_keys().contains(&"hosts.ssh_options".to_string()));
    }

    #[test]
    fn malformed_hosts_are_refused_with_file_line_and_key() {
        let cases: &[(&str, usize, &str, &str)] = &[
            // (text, line, key, words of the message)
            (
                "[[hosts]]\nhost = \"a\"\n",
                1,
                "hosts[0].name",
                "needs a name",
            ),
            (
                "[[hosts]]\nname = \"a\"\nhost = \"a\"\n\n[[hosts]]\nname = \"a\"\nhost = \"b\"\n",
                6,
                "hosts[1].name",
                "listed twice",
            ),
            (
                "[[hosts]]\nname = \"local\"\nhost = \"a\"\n",
                2,
                "hosts[0].name",
                "local",
            ),
            (
                "[[hosts]]\nname = \"a b\"\nhost = \"a\"\n",
                2,
                "hosts[0].name",
                "letters",
            ),
            (
                "[[hosts]]\nname = \"a\"\n",
                1,
                "hosts[0].host",
                "SSH destination",
            ),
            (
                "[[hosts]]\nname = \"a\"\nhost = \"-oProxyCommand=x\"\n",
                3,
                "hosts[0].host",
                "not a host",
            ),
            (
                "[[hosts]]\nname = \"a\"\nhost = \"me@a\"\n",
                3,
                "hosts[0].host",
                "user",
            ),
            (
                "[[hosts]]\nname = \"a\"\nhost = \"a\"\nuser = \"-x\"\n",
                4,
                "hosts[0].user",
                "user name",
            ),
            (
                "[[hosts]]\nname = \"a\"\nhost = \"a\"\nproject = \"proj\"\n",
                4,
                "hosts[0].project",
                "absolute path",
            ),
            (
                "[[hosts]]\nname = \"a\"\nhost = \"a\"\nport = 70000\n",
                4,
                "hosts[0].port",
                "",
            ),
            (
                "[[hosts]]\nname = \"a\"\nhost = \"a\"\nport = \"22\"\n",
                4,
                "hosts[0].port",
                "",
            ),
        ];
        for (text, line, key, words) in cases {
            let err = parse_layer("/etc/g.toml", text).unwrap_err();
            assert_eq!(err.source_name, "/etc/g.toml");
            assert_eq!(err.line, Some(*line), "{text}: {err}");
            assert_eq!(err.key.as_deref(), Some(*key), "{text}: {err}");
            assert!(err.message.contains(words), "{text}: {err}");
        }
        // An unknown key in an entry is refused too (a typo would silently change the target).
        let err = parse_layer(
            "g.toml",
            "[[hosts]]\nname = \"a\"\nhost = \"a\"\nprot = 22\n",
        )
        .unwrap_err();
        assert!(err.message.contains("prot"), "{err}");
        assert_eq!(err.line, Some(4), "{err}");
    }

    #[test]
    fn syntax_error_has_a_line() {
        let err = parse_layer("c.toml", "[coordinator]\nauto_assign = \n").unwrap_err();
        assert_eq!(err.line, Some(2));
        assert!(err.message.starts_with("invalid TOML"));
    }

    #[test]
    fn idle_threshold_accepts_number_or_duration() {
        for (text, want) in [("45", 45.0), ("2.5", 2.5), ("\"1m\"", 60.0)] {
            let (layer, _) =
                parse_layer("c", &format!("[coordinator]\nidle_threshold = {text}\n")).unwrap();
            assert_eq!(
                merge_layers(&[layer]).unwrap().coordinator.idle_threshold,
                want
            );
        }
    }

    #[test]
    fn layers_merge_later_wins_key_by_key() {
        let (user, _) = parse_layer(
            "user",
            "[coordinator]\npoll_interval = \"2s\"\nhuman_agent = \"Ann\"\n",
        )
        .unwrap();
        let (project, _) =
            parse_layer("project", "[coordinator]\npoll_interval = \"1s\"\n").unwrap();
        let env = override_layer(
            "GAFFER_COORDINATOR__AUTO_ASSIGN",
            "coordinator.auto_assign",
            "true",
        )
        .unwrap();
        let flag = override_layer("--set", "assign.strategy", "rr").unwrap();
        let c = merge_layers(&[user, project, env, flag]).unwrap();
        assert_eq!(c.coordinator.poll_interval, Duration::from_secs(1));
        assert_eq!(c.coordinator.human_agent, "Ann");
        assert!(c.coordinator.auto_assign);
        assert_eq!(c.assign.strategy, AssignmentStrategy::RoundRobin);
    }

    #[test]
    fn overrides_are_typed_by_the_schema() {
        // A numeric-looking string stays a string.
        let l = override_layer("env", "coordinator.human_agent", "123").unwrap();
        assert_eq!(merge_layers(&[l]).unwrap().coordinator.human_agent, "123");
        let l = override_layer("env", "scoring.context_threshold", "70").unwrap();
        assert_eq!(merge_layers(&[l]).unwrap().scoring.context_threshold, 70.0);
        let err = override_layer(
            "GAFFER_COORDINATOR__AUTO_ASSIGN",
            "coordinator.auto_assign",
            "maybe",
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .contains("GAFFER_COORDINATOR__AUTO_ASSIGN: key `coordinator.auto_assign`")
        );
        let err = override_layer("env", "coordinator.poll_interval", "soon").unwrap_err();
        assert!(err.message.contains("invalid duration"));
        let err = override_layer("env", "coordinator.pol_interval", "1s").unwrap_err();
        assert!(
            err.message
                .contains("did you mean `coordinator.poll_interval`")
        );
    }

    #[test]
    fn env_var_names() {
        assert_eq!(
            env_var_key("GAFFER_COORDINATOR__POLL_INTERVAL").as_deref(),
            Some("coordinator.poll_interval")
        );
        assert_eq!(env_var_key("GAFFER_LOG"), None);
        assert_eq!(env_var_key("HOME"), None);
    }

    #[test]
    fn durations_serialize_readably() {
        let shown = toml::to_string(&GafferConfig::default()).unwrap();
        assert!(shown.contains("poll_interval = \"5s\""), "{shown}");
        assert!(shown.contains("digest_interval = \"5m\""), "{shown}");
    }
}
