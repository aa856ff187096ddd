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
    Status {
        #[command(flatten)]
        tmux: TmuxArgs,
    },
    /// Explain how an agent's state was detected: the rules, the evidence lines.
    Explain(ExplainArgs),
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
    Send(SendArgs),
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
    Mail,
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
    /// How long to wait for the agent to leave WAITING after Enter.
    #[arg(long, value_name = "DURATION", default_value = "8s", value_parser = humantime::parse_duration)]
    pub deadline: std::time::Duration,
    #[command(flatten)]
    pub tmux: TmuxArgs,
}

/// `gaffer explain` arguments.
#[derive(Debug, Args, Clone)]
pub struct ExplainArgs {
    /// Pane id (%3), pane title, or session:window.pane (a live capture).
    pub pane: Option<String>,
    /// Agent kind of the screen: cc, cod, gmi or shell (needed with --file).
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

impl Command {
    /// The command's name as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Run => "run",
            Command::Status { .. } => "status",
            Command::Explain(_) => "explain",
            Command::Assign => "assign",
            Command::Suggest { .. } => "suggest",
            Command::Conflicts => "conflicts",
            Command::Digest => "digest",
            Command::Quality => "quality",
            Command::Triage => "triage",
            Command::Send(_) => "send",
            Command::Spawn => "spawn",
            Command::Watch => "watch",
            Command::Dashboard => "dashboard",
            Command::Serve => "serve",
            Command::Demo => "demo",
            Command::Config { .. } => "config",
            Command::Mail => "mail",
        }
    }
}
