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
    Triage(crate::commands::triage::TriageArgs),
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
    Mail,
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
    Scan,
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
            Command::Quality { .. } => "quality",
            Command::Done { .. } => "done",
            Command::Refuse { .. } => "refuse",
            Command::Triage(_) => "triage",
            Command::Send => "send",
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
