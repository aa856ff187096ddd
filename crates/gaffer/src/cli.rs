//! The command line, as clap derive types.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// gaffer: an active session coordinator for AI coding agents in tmux.
#[derive(Debug, Parser)]
#[command(name = "gaffer", version, about, long_about = None, propagate_version = true)]
#[command(
    after_help = "Exit codes: 0 success, 1 failure, 2 usage, 3 config, 4 unavailable, 5 not found, \
6 not implemented, 130 interrupted.\nLogs: set GAFFER_LOG (e.g. GAFFER_LOG=debug)."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone, Default)]
pub struct GlobalArgs {
    /// Machine-readable JSON output (stable schema); errors go to stderr as JSON too.
    #[arg(long, global = true)]
    pub json: bool,
    /// Project directory (default: the nearest ancestor with .gaffer/, .beads/ or .git/).
    #[arg(long, global = true, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// An extra config file, applied after the user and project files.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Override one config key, e.g. --set coordinator.poll_interval=2s (repeatable).
    #[arg(long = "set", global = true, value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// Every gaffer command.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the coordinator: observe panes, assign work, catch conflicts, send digests.
    Run {
        #[command(flatten)]
        args: CoordArgs,
        /// Assign work automatically (overrides `coordinator.auto_assign`).
        #[arg(long)]
        auto_assign: bool,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        exit_after: Option<u64>,
    },
    /// Show every agent's state, context usage and task.
    Status {
        #[command(flatten)]
        tmux: TmuxArgs,
    },
    /// Explain how an agent's state was detected: the rules, the evidence lines.
    Explain(ExplainArgs),
    /// Assign ready work to idle agents now.
    Assign {
        #[command(flatten)]
        args: CoordArgs,
        /// Plan without acting.
        #[arg(long)]
        dry_run: bool,
    },
    /// Suggest the best task for an agent without assigning it.
    Suggest {
        /// Pane to suggest for (%3 or a title).
        pane: String,
        #[command(flatten)]
        args: CoordArgs,
    },
    /// Restart an agent in its pane with its own launch command (same title and Agent Mail
    /// name); its live assignment is handed back (or kept for re-delivery: `exited_work`).
    Restart {
        /// Pane to restart (%3, a title, or session:window.pane).
        pane: String,
        #[command(flatten)]
        args: CoordArgs,
    },
    /// Pause auto-assign for one agent, or for every agent without PANE (kept in the ledger;
    /// every coordinator of the project honours it).
    Pause {
        /// The agent's pane (%3, a title, or session:window.pane); none pauses all.
        pane: Option<String>,
        #[command(flatten)]
        args: CoordArgs,
    },
    /// Resume auto-assign for one agent, or for every agent without PANE (clears every pause).
    Resume {
        /// The agent's pane; none resumes all.
        pane: Option<String>,
        #[command(flatten)]
        args: CoordArgs,
    },
    /// Show a BLOCKED agent's dialog (its text and numbered options), or answer it with OPTION.
    Answer {
        /// The agent's pane.
        pane: String,
        /// The number of the option to choose; without it the dialog is only shown.
        option: Option<u32>,
        #[command(flatten)]
        args: CoordArgs,
    },
    /// Take a bead back from its agent: claim undone, reservations released.
    Unassign {
        /// The bead.
        bead: String,
        #[command(flatten)]
        args: CoordArgs,
    },
    /// Give a bead to another agent (taken back from its current agent first); the agent must
    /// be WAITING.
    Reassign {
        /// The bead.
        bead: String,
        /// The agent's pane.
        pane: String,
        #[command(flatten)]
        args: CoordArgs,
    },
    /// List overlapping file reservations between agents.
    Conflicts {
        #[command(flatten)]
        args: CoordArgs,
        /// Message the holders of each new conflict.
        #[arg(long)]
        notify: bool,
        /// Ask the lower-priority holder to release.
        #[arg(long)]
        negotiate: bool,
    },
    /// Produce a session digest (agents, work, alerts).
    Digest {
        #[command(flatten)]
        args: CoordArgs,
        /// Send it to the human through Agent Mail.
        #[arg(long)]
        send: bool,
    },
    /// Show quality signals: scans, test pass rates, trends; record test results.
    Quality {
        #[command(subcommand)]
        action: Option<QualityAction>,
    },
    /// Report an assigned bead as done (agents run this when they finish).
    Done {
        /// The bead id.
        bead: String,
        /// What was done.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Decline an assigned bead (agents run this when they cannot take it).
    Refuse {
        /// The bead id.
        bead: String,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Rank the project's beads: bv's triage, computed natively when bv is absent.
    Triage(TriageArgs),
    /// Deliver a prompt to agent panes, verifying that the agent picked it up.
    Send(SendArgs),
    /// Start a tmux session with titled agent panes.
    Spawn(SpawnArgs),
    /// Stream coordinator events as they happen.
    Watch {
        /// Print the events already recorded first.
        #[arg(long)]
        from_start: bool,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        exit_after: Option<u64>,
    },
    /// Open the live terminal dashboard.
    Dashboard {
        #[command(flatten)]
        args: CoordArgs,
        /// Also assign work automatically while watching.
        #[arg(long)]
        auto_assign: bool,
        /// Stop after this many seconds.
        #[arg(long, value_name = "SECS")]
        exit_after: Option<u64>,
        /// The plain text table redrawn every second (no keys), as before the interactive view.
        #[arg(long)]
        plain: bool,
        /// Let the mouse select agents (click a row, scroll).
        #[arg(long)]
        mouse: bool,
    },
    /// Serve status and events over HTTP and SSE on loopback, behind a token.
    Serve(ServeArgs),
    /// Run a self-contained demo with simulated agents on a private tmux socket.
    Demo(DemoArgs),
    /// Show, check or create configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Agent Mail: inbox, messages and reservations.
    Mail(MailArgs),
    /// Notifications for the human: `gaffer notify test` tries each configured channel.
    Notify {
        #[command(subcommand)]
        action: crate::commands::notify::NotifyAction,
    },
    /// Check this machine: agent CLI versions against the verified ones, tmux, Agent Mail, br.
    Doctor(crate::commands::doctor::DoctorArgs),
    /// Install, remove or show gaffer's hooks in an agent CLI's settings.
    Hooks {
        #[command(subcommand)]
        action: HooksAction,
    },
    /// Record an agent's hook event (run by the agent CLI's hook; always exits 0, prints
    /// nothing). The payload is read on stdin, the pane from TMUX_PANE.
    #[command(hide = true)]
    Hook {
        /// Agent kind code (cc, cod, gmi).
        #[arg(long)]
        agent: String,
        /// The CLI's event name (PreToolUse, BeforeAgent, …).
        #[arg(default_value = "")]
        event: String,
    },
    /// Print shell completions for bash, zsh, fish, elvish or PowerShell, e.g.
    /// `gaffer completions bash > ~/.local/share/bash-completion/completions/gaffer`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

/// Where `gaffer hooks` writes: the project (default, or `--project DIR`) or the user's file.
#[derive(Debug, Args, Clone, Default)]
pub struct HooksScope {
    /// The user's settings (`~/.claude/settings.json`, `~/.codex/hooks.json`,
    /// `~/.gemini/settings.json`) instead of the project's.
    #[arg(long)]
    pub user: bool,
}

/// `gaffer hooks` actions.
#[derive(Debug, Subcommand)]
pub enum HooksAction {
    /// Merge gaffer's hooks into the agent's settings (idempotent; keeps the user's hooks).
    Install {
        /// Agent kind: cc, cod or gmi.
        #[arg(long)]
        agent: String,
        #[command(flatten)]
        scope: HooksScope,
    },
    /// Remove exactly the hooks gaffer added (every kind unless --agent).
    Uninstall {
        /// Agent kind: cc, cod or gmi.
        #[arg(long)]
        agent: Option<String>,
        #[command(flatten)]
        scope: HooksScope,
    },
    /// Show which settings files hold gaffer's hooks (project and user).
    Status {
        /// Agent kind: cc, cod or gmi.
        #[arg(long)]
        agent: Option<String>,
    },
}

/// `gaffer mail`: the backend is the Agent Mail server when `--mail-url` or `AGENT_MAIL_URL`
/// (config `mail.url`) is set, else the embedded mailbox in the project's `.gaffer/state.db`.
#[derive(Debug, Args)]
pub struct MailArgs {
    /// Agent Mail server URL, e.g. http://127.0.0.1:8765/mcp/ (bearer from AGENT_MAIL_TOKEN).
    #[arg(long, global = true, value_name = "URL")]
    pub mail_url: Option<String>,
    #[command(subcommand)]
    pub action: MailAction,
}

/// `gaffer mail` actions.
#[derive(Debug, Subcommand)]
pub enum MailAction {
    /// Reserve paths or globs for an agent (advisory; exit 1 when they clash).
    Reserve {
        /// The reserving agent.
        #[arg(long)]
        agent: String,
        /// Time to live in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: u64,
        /// Shared instead of exclusive.
        #[arg(long)]
        shared: bool,
        /// Why.
        #[arg(long, default_value = "")]
        reason: String,
        /// Paths or globs (`src/**`, `docs/*.md`).
        #[arg(required = true)]
        patterns: Vec<String>,
    },
    /// Release an agent's reservations (the given patterns exactly, or all).
    Release {
        /// The agent.
        #[arg(long)]
        agent: String,
        /// Patterns to release; none means all.
        patterns: Vec<String>,
    },
    /// Extend an agent's active reservations.
    Renew {
        /// The agent.
        #[arg(long)]
        agent: String,
        /// Seconds to add (at least 60).
        #[arg(long, default_value_t = 1800)]
        extend: u64,
        /// Patterns to renew; none means all.
        patterns: Vec<String>,
    },
    /// List reservations (active ones unless --all).
    Reservations {
        /// Only this agent's.
        #[arg(long)]
        agent: Option<String>,
        /// Include released and expired ones.
        #[arg(long)]
        all: bool,
    },
    /// List conflicts: overlapping reservations of different agents (exit 1 when any).
    Conflicts,
    /// Whether a path is held by another agent (exit 1 when it is).
    Check {
        /// The asking agent (its own reservations do not count).
        #[arg(long, default_value = "")]
        agent: String,
        /// A file path relative to the project root.
        path: String,
    },
    /// Send a message.
    Send {
        /// Sender.
        #[arg(long)]
        from: String,
        /// Recipients.
        #[arg(long, required = true, num_args = 1..)]
        to: Vec<String>,
        /// Subject.
        #[arg(long)]
        subject: String,
        /// Markdown body.
        #[arg(long)]
        body: String,
        /// low, normal, high or urgent.
        #[arg(long, default_value = "normal")]
        importance: String,
        /// Ask recipients to acknowledge.
        #[arg(long)]
        ack: bool,
        /// Thread id.
        #[arg(long)]
        thread: Option<String>,
    },
    /// Show an agent's inbox, newest first.
    Inbox {
        /// The agent.
        #[arg(long)]
        agent: String,
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Acknowledge a message.
    Ack {
        /// The acknowledging agent.
        #[arg(long)]
        agent: String,
        /// Message id.
        id: i64,
    },
    /// Register an agent (prints the granted name; use it from then on).
    Register {
        /// Wanted adjective+noun name (e.g. GreenCastle); generated when absent or invalid.
        #[arg(long)]
        name: Option<String>,
        /// Program, e.g. claude-code.
        #[arg(long)]
        program: String,
        /// Model.
        #[arg(long)]
        model: String,
        /// Task description.
        #[arg(long, default_value = "")]
        task: String,
    },
    /// Check that the mailbox answers.
    Health,
}

/// `gaffer quality` actions.
#[derive(Debug, Subcommand)]
pub enum QualityAction {
    /// Show the quality summary, trends and per-agent scores (the default).
    Show,
    /// Record test results from runner output (cargo test, nextest, JUnit XML, go test -json)
    /// or from counts.
    RecordTests {
        /// A file with the runner's output; `-` for stdin. Omit when giving counts.
        file: Option<std::path::PathBuf>,
        /// The agent pane that ran the tests, e.g. %3.
        #[arg(long)]
        agent: Option<String>,
        /// Package or suite name.
        #[arg(long, default_value = "")]
        package: String,
        /// Tests passed (instead of a file).
        #[arg(long)]
        passed: Option<i64>,
        /// Tests failed (instead of a file).
        #[arg(long)]
        failed: Option<i64>,
        /// Tests skipped (instead of a file).
        #[arg(long, default_value_t = 0)]
        skipped: i64,
        /// Run time in milliseconds.
        #[arg(long, default_value_t = 0)]
        duration_ms: i64,
    },
    /// Run the `ubs` bug scanner on the project and record its findings.
    Scan {
        /// How long the scanner may run before it (and everything it started) is killed.
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
}

/// `gaffer spawn`.
#[derive(Debug, Args, Clone, Default)]
pub struct SpawnArgs {
    /// Claude Code panes.
    #[arg(long, default_value_t = 0)]
    pub cc: u32,
    /// Codex CLI panes.
    #[arg(long, default_value_t = 0)]
    pub cod: u32,
    /// Gemini CLI panes.
    #[arg(long, default_value_t = 0)]
    pub gmi: u32,
    /// The launch command of a type, e.g. --cmd cc='claude --dangerously-skip-permissions'
    /// (defaults: claude, codex, gemini); repeatable.
    #[arg(long = "cmd", value_name = "TYPE=COMMAND")]
    pub cmds: Vec<String>,
    /// Panes of any agent kind of the registry (kinds.toml), started with its launch command
    /// or its --cmd: KIND=COUNT (repeatable), e.g. `--kind aider=2`.
    #[arg(long = "kind", value_name = "KIND=COUNT")]
    pub kinds: Vec<String>,
    /// One more agent with its own launch command: TYPE[:VARIANT]=COMMAND (repeatable), e.g.
    /// `--agent cc:opus='claude --model opus'`; the variant goes into the pane title.
    #[arg(long = "agent", value_name = "TYPE[:VARIANT]=CMD")]
    pub agents: Vec<String>,
    /// Start simulated agents (gaffer-sim) instead of the real CLIs, to try gaffer out.
    #[arg(long)]
    pub sim: bool,
    /// Working directory of the panes (default: the project root).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Agent panes per window, tiled (default: `tmux.panes_per_window`, 4); more agents open
    /// more windows.
    #[arg(long, value_name = "N")]
    pub panes_per_window: Option<u32>,
    /// Keep a shell in a pane after its agent exits (default: `tmux.keep_shell`, false: the
    /// pane is kept dead). `--keep-shell=false` turns it off.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub keep_shell: Option<bool>,
    /// Start the agents on this `[[hosts]]` host, through its SSH connection, in its tmux
    /// session (the entry's `session`, else the session named here) and in its `project`
    /// (or --dir, a path on that host). Pane keys read `host:%N`.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    #[command(flatten)]
    pub tmux: TmuxArgs,
}

/// `gaffer demo`.
#[derive(Debug, Args, Clone, Default)]
pub struct DemoArgs {
    /// No live view (print the summary only).
    #[arg(long)]
    pub headless: bool,
    /// Stop after this many seconds even when the demo has not finished (default 180).
    #[arg(long, value_name = "SECS")]
    pub exit_after: Option<u64>,
    /// Attach to the demo's tmux session to watch the panes (detach with C-b d).
    #[arg(long)]
    pub attach: bool,
    /// Use the Agent Mail server at this URL instead of the embedded mailbox.
    #[arg(long, value_name = "URL")]
    pub mail_url: Option<String>,
    /// Keep the demo project (with its ledger) instead of removing it.
    #[arg(long)]
    pub keep: bool,
    /// Create the demo project here (must be empty or absent; kept afterwards).
    #[arg(long, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// The real Claude Code, Codex and Gemini CLIs (pinned copies from
    /// scripts/install-agents.sh) against scripted model servers, instead of simulated agents.
    #[arg(long)]
    pub real_agents: bool,
}

/// Which tmux server and session to observe (default: config `[tmux]`).
#[derive(Debug, Args, Clone, Default)]
pub struct TmuxArgs {
    /// Session to observe (default: `[tmux] session`, else the project directory's name).
    #[arg(long, value_name = "S")]
    pub session: Option<String>,
    /// tmux socket name (`tmux -L NAME`).
    #[arg(long, value_name = "NAME")]
    pub socket: Option<String>,
    /// tmux socket path (`tmux -S PATH`); wins over --socket.
    #[arg(long, value_name = "PATH")]
    pub socket_path: Option<PathBuf>,
}

/// `gaffer send <pane|--type T|--all> TEXT`.
#[derive(Debug, Args, Clone)]
pub struct SendArgs {
    /// `PANE TEXT`, or just `TEXT` with --type or --all. PANE is a pane id (%3) or title.
    /// TEXT `-` reads the prompt from stdin.
    #[arg(value_name = "PANE|TEXT", num_args = 1..=2, required = true)]
    pub args: Vec<String>,
    /// Send to every agent pane of this type (cc, cod, gmi, or an alias).
    #[arg(long = "type", value_name = "TYPE", conflicts_with = "all")]
    pub agent_type: Option<String>,
    /// Send to every agent pane.
    #[arg(long)]
    pub all: bool,
    /// Send even to an agent that is not WAITING (it may queue the prompt; no confirmation).
    #[arg(long)]
    pub force: bool,
    /// How long to wait for the agent to take the prompt after Enter.
    #[arg(long, value_name = "DURATION", default_value = "8s", value_parser = humantime::parse_duration)]
    pub deadline: std::time::Duration,
    /// Pause between checks of the pane after Enter (an answer faster than this is still
    /// confirmed: the screen shows the turn).
    #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = humantime::parse_duration)]
    pub probe_interval: std::time::Duration,
    #[command(flatten)]
    pub tmux: TmuxArgs,
}

/// `gaffer serve` arguments.
#[derive(Debug, Args, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub args: CoordArgs,
    /// Address to listen on (port 0 picks a free one); loopback unless `--allow-remote`.
    #[arg(long, default_value = "127.0.0.1:7878")]
    pub addr: String,
    /// Allow a non-loopback `--addr`: other machines can reach the API, guarded by the token
    /// only, over plain HTTP.
    #[arg(long)]
    pub allow_remote: bool,
    /// Another name clients may use in the Host header (repeatable; the port is added unless
    /// given), e.g. the machine's name with `--allow-remote`.
    #[arg(long = "allow-host", value_name = "NAME")]
    pub allow_hosts: Vec<String>,
    /// Connections served at once; more are answered 503.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_connections: usize,
    /// How often `/events` sends a keep-alive comment when no event comes.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub keepalive: std::time::Duration,
    /// Assign work automatically (overrides `coordinator.auto_assign`).
    #[arg(long)]
    pub auto_assign: bool,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECS")]
    pub exit_after: Option<u64>,
}

/// Arguments of the coordinator commands.
#[derive(Debug, Args, Clone)]
pub struct CoordArgs {
    #[command(flatten)]
    pub tmux: TmuxArgs,
    /// Agent Mail server URL (default: `AGENT_MAIL_URL`, else the embedded mailbox).
    #[arg(long, value_name = "URL")]
    pub mail_url: Option<String>,
    /// Assignment strategy: balanced, speed, quality, dependency or round-robin.
    #[arg(long, value_name = "S")]
    pub strategy: Option<String>,
}

/// `gaffer explain` arguments.
#[derive(Debug, Args, Clone)]
pub struct ExplainArgs {
    /// Pane id (%3), pane title, or session:window.pane (a live capture).
    pub pane: Option<String>,
    /// Agent kind of the screen: a kind's code or alias (cc, cod, gmi, …) or shell (needed with
    /// --file).
    #[arg(long, value_name = "KIND")]
    pub agent: Option<String>,
    /// Explain a capture file instead of a live pane (`-` reads stdin).
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// The pane's foreground command to assume, e.g. claude or bash (EXITED needs a shell).
    #[arg(long, value_name = "CMD")]
    pub command: Option<String>,
    #[command(flatten)]
    pub tmux: TmuxArgs,
}

/// `gaffer config` actions.
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the merged configuration and where each layer came from.
    Show,
    /// Check a config file (or every layer when none is given); report errors and unknown keys.
    Check {
        /// The file to check.
        file: Option<PathBuf>,
    },
    /// Write a commented default config to .gaffer/config.toml in the project.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
        /// Write to the user file (~/.config/gaffer/config.toml) instead.
        #[arg(long)]
        user: bool,
    },
}

/// `gaffer triage` arguments.
#[derive(Debug, Args)]
pub struct TriageArgs {
    /// Compute as of this instant (RFC 3339), for reproducible output. Default: now.
    #[arg(long, value_name = "RFC3339")]
    pub now: Option<String>,
    /// Where the ranking comes from (default: `[beads] source` of the config, `auto`).
    #[arg(long, value_enum)]
    pub source: Option<TriageSource>,
}

/// Triage source choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TriageSource {
    /// `bv --robot-triage` when bv is on PATH, else native.
    Auto,
    /// Always the native triage.
    Native,
    /// Always bv (fails when it is missing).
    Bv,
}
