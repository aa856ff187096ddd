//! Running the gaffer binary from a test with a clean environment.

use std::path::Path;
use std::process::{Command, Output};

/// A `Command` for the gaffer binary `bin` (a test's `env!("CARGO_BIN_EXE_gaffer")`), run
/// in `dir` with `dir` as `HOME`, `dir/xdg` as `XDG_CONFIG_HOME`, no `TMUX`, no
/// `AGENT_MAIL_URL`/`AGENT_MAIL_TOKEN`, and every `GAFFER_*` variable of the caller blanked.
pub fn command(bin: &str, dir: &Path) -> Command {
    let mut c = Command::new(bin);
    c.current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("HOME", dir)
        .env_remove("TMUX")
        .env_remove("AGENT_MAIL_URL")
        .env_remove("AGENT_MAIL_TOKEN")
        .envs(
            std::env::vars()
                .filter(|(k, _)| k.starts_with("GAFFER_"))
                .map(|(k, _)| (k, String::new())),
        );
    c
}

/// Runs `bin args…` as [`command`] does and waits for its output; panics if it cannot start.
pub fn run(bin: &str, dir: &Path, args: &[&str]) -> Output {
    command(bin, dir)
        .args(args)
        .output()
        .expect("the gaffer binary runs")
}
