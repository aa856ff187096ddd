//! Process exit codes, in one place. The README documents them; a test runs the binary for each.

/// Success.
pub const SUCCESS: i32 = 0;
/// The command ran and found a problem (conflicts present, expectations not met, delivery
/// failed).
pub const FAILURE: i32 = 1;
/// Bad command-line usage (clap's own code).
pub const USAGE: i32 = 2;
/// The configuration is invalid: a file, variable or flag has a wrong type or value.
pub const CONFIG: i32 = 3;
/// A required external part is unavailable: tmux, the Agent Mail server, `br` or `bv`.
pub const UNAVAILABLE: i32 = 4;
/// A named thing does not exist: a pane, an agent, a bead, a session.
pub const NOT_FOUND: i32 = 5;
/// Reserved for a command that is not built yet (every command is built now).
pub const NOT_IMPLEMENTED: i32 = 6;
/// Interrupted by Ctrl-C.
pub const INTERRUPTED: i32 = 130;

/// Every code with its name and meaning, for documentation and `--help`.
pub const ALL: [(i32, &str, &str); 8] = [
    (SUCCESS, "success", "the command did what was asked"),
    (FAILURE, "failure", "the command ran and found a problem"),
    (USAGE, "usage", "bad command-line arguments"),
    (
        CONFIG,
        "config",
        "invalid configuration (file, line and key are named)",
    ),
    (
        UNAVAILABLE,
        "unavailable",
        "tmux, Agent Mail, br or bv could not be reached",
    ),
    (
        NOT_FOUND,
        "not_found",
        "no such pane, agent, bead or session",
    ),
    (
        NOT_IMPLEMENTED,
        "not_implemented",
        "reserved for a command that is not built yet",
    ),
    (INTERRUPTED, "interrupted", "stopped by Ctrl-C"),
];
