//! The command line, as clap derive types.

use clap::{Args, Parser, Subcommand};
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
    Run,
    /// Show every agent's state, context usage and task.
    Status,
    /// Explain how an agent's state was detected: the rules, the evidence lines.
    Explain {
        /// Pane id (%3), pane title, or session:window.pane.
        pane: Option<String>,
    },
    /// Assign ready work to idle agents now.
    Assign,
    /// Suggest the best task for an agent without assigning it.
    Suggest {
        /// Pane to suggest for.
        pane: Option<String>,
    },
    /// List overlapping file reservations between agents.
    Conflicts,
    /// Produce a session digest (agents, work, alerts).
    Digest,
    /// Show quality signals: scans, test pass rates, trends.
    Quality,
    /// Rank the project's beads: bv's triage, computed natively when bv is absent.
    Triage,
    /// Deliver a prompt to agent panes, verifying that the agent picked it up.
    Send,
    /// Start a tmux session with titled agent panes.
    Spawn,
    /// Stream coordinator events as they happen.
    Watch,
    /// Open the live terminal dashboard.
    Dashboard,
    /// Serve status and events over HTTP and SSE on loopback.
    Serve,
    /// Run a self-contained demo with simulated agents on a private tmux socket.
    Demo,
    /// Show, check or create configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Agent Mail: inbox, messages and reservations.
    Mail(MailArgs),
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

impl Command {
    /// The command's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Status => "status",
            Command::Explain { .. } => "explain",
            Command::Assign => "assign",
            Command::Suggest { .. } => "suggest",
            Command::Conflicts => "conflicts",
            Command::Digest => "digest",
            Command::Quality => "quality",
            Command::Triage => "triage",
            Command::Send => "send",
            Command::Spawn => "spawn",
            Command::Watch => "watch",
            Command::Dashboard => "dashboard",
            Command::Serve => "serve",
            Command::Demo => "demo",
            Command::Config { .. } => "config",
            Command::Mail(_) => "mail",
        }
    }
}
