//! The gaffer binary: parses the command line, calls the runtime, prints.

mod adapters;
mod cli;
mod commands;
mod config_load;
mod delivery;
mod error;
mod foreground;
mod home;
mod http;
mod kinds;
mod last_spawn;
mod output;
mod subprocess;
mod tui;
mod view;
mod web;
mod wiring;

use clap::Parser;
use cli::{Cli, Command};
use error::ExitError;
use gaffer_core::exit;
use std::process::ExitCode;

fn main() -> ExitCode {
    // when a hook process started: the moment its CLI fired the hook (the signal's time)
    let started = chrono::Utc::now();
    end_quietly_on_closed_stdout();
    // Few allocator arenas: a long-running coordinator's RSS stays near what it holds.
    gaffer_coordinator::memory::limit_arenas(2);
    // The hook path skips clap, config and tracing: it must be fast and always exit 0.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == "hook") {
        commands::hook::run(&args[2..], started);
        return ExitCode::SUCCESS;
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    exit::SUCCESS
                }
                _ => exit::USAGE,
            };
            let _ = e.print();
            return ExitCode::from(code as u8);
        }
    };
    init_tracing();
    let json = cli.global.json;
    match dispatch(cli) {
        Ok(code) => ExitCode::from(code as u8),
        Err(err) => {
            let (code, kind, message) = match err.downcast_ref::<ExitError>() {
                Some(e) => (e.code, e.kind, e.message.clone()),
                None => (exit::FAILURE, "failure", format!("{err:#}")),
            };
            if json {
                let body =
                    serde_json::json!({"error": {"code": code, "kind": kind, "message": message}});
                eprintln!("{}", output::safe_json(body.to_string()));
            } else {
                eprintln!("error: {}", output::safe_text(&message));
            }
            ExitCode::from(code as u8)
        }
    }
}

/// `gaffer status | head` should end quietly, as other Unix tools do, instead of panicking
/// on a closed pipe.
///
/// SIGPIPE stays ignored (Rust's default): with its default action the whole process dies on
/// the first write to ANY pipe whose reader is gone, and a coordinator writes to children's
/// pipes (the tmux control client's stdin, `tmux load-buffer`'s stdin). A tmux server killed
/// mid-command then killed `gaffer run` silently (the `tmux_events` flake). Only a failed print
/// to a closed stdout ends the process, the way SIGPIPE would have.
fn end_quietly_on_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if is_closed_stdout(msg) {
            // SAFETY: restoring the default action and raising the signal at the process's
            // end; no Rust state is used after it.
            unsafe {
                libc::signal(libc::SIGPIPE, libc::SIG_DFL);
                libc::raise(libc::SIGPIPE);
            }
            std::process::exit(128 + libc::SIGPIPE);
        }
        default(info);
    }));
}

/// Whether a panic message is std's print macros failing on a closed stdout (EPIPE).
fn is_closed_stdout(msg: &str) -> bool {
    msg.starts_with("failed printing to stdout")
        && msg.contains(&format!("os error {}", libc::EPIPE))
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("GAFFER_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    kinds::install_user_kinds()?;
    match cli.command {
        Command::Config { action } => commands::config::run(&cli.global, action),
        Command::Run {
            args,
            auto_assign,
            exit_after,
        } => commands::coordinate::run(&cli.global, &args, auto_assign, exit_after),
        Command::Assign { args, dry_run } => {
            commands::coordinate::assign(&cli.global, &args, dry_run)
        }
        Command::Suggest { pane, args } => commands::coordinate::suggest(&cli.global, &args, &pane),
        Command::Restart { pane, args } => commands::coordinate::restart(&cli.global, &args, &pane),
        Command::Pause { pane, args } => {
            commands::control::pause(&cli.global, &args, pane.as_deref(), true)
        }
        Command::Resume { pane, args } => {
            commands::control::pause(&cli.global, &args, pane.as_deref(), false)
        }
        Command::Answer { pane, option, args } => {
            commands::control::answer(&cli.global, &args, &pane, option)
        }
        Command::Unassign { bead, args } => commands::control::unassign(&cli.global, &args, &bead),
        Command::Reassign { bead, pane, args } => {
            commands::control::reassign(&cli.global, &args, &bead, &pane)
        }
        Command::Conflicts {
            args,
            notify,
            negotiate,
        } => commands::coordinate::conflicts(&cli.global, &args, notify, negotiate),
        Command::Digest { args, send } => commands::coordinate::digest(&cli.global, &args, send),
        Command::Spawn(args) => commands::spawn::run(&cli.global, &args),
        Command::Dashboard {
            args,
            auto_assign,
            exit_after,
            plain,
            mouse,
        } => commands::dashboard::run(
            &cli.global,
            &args,
            commands::dashboard::Options {
                auto_assign,
                exit_after,
                plain,
                mouse,
            },
        ),
        Command::Serve(args) => commands::serve::run(&cli.global, &args),
        Command::Watch {
            from_start,
            exit_after,
        } => commands::coordinate::watch(&cli.global, from_start, exit_after),
        Command::Demo(args) => commands::demo::run(&cli.global, &args),
        Command::Quality { action } => commands::quality::run(&cli.global, action),
        Command::Done { bead, reason } => commands::report::done(&cli.global, &bead, &reason),
        Command::Refuse { bead, reason } => commands::report::refuse(&cli.global, &bead, &reason),
        Command::Triage(args) => commands::triage::run(&cli.global, args),
        Command::Mail(args) => commands::mail::run(&cli.global, args),
        Command::Explain(args) => commands::explain::run(&cli.global, &args),
        Command::Status { tmux } => commands::status::run(&cli.global, &tmux),
        Command::Send(args) => commands::send::run(&cli.global, &args),
        Command::Doctor(args) => commands::doctor::run(&cli.global, &args),
        Command::Notify { action } => commands::notify::run(&cli.global, action),
        Command::Hooks { action } => commands::hooks::run(&cli.global, &action),
        Command::Hook { agent, event } => {
            commands::hook::run(
                &["--agent".into(), agent.into(), event.into()],
                chrono::Utc::now(),
            );
            Ok(exit::SUCCESS)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "gaffer", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)
                .map_err(|e| anyhow::anyhow!("failed printing to stdout: {e}"))?;
            Ok(exit::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_a_print_to_a_closed_stdout_ends_quietly() {
        let epipe = std::io::Error::from_raw_os_error(libc::EPIPE);
        assert!(super::is_closed_stdout(&format!(
            "failed printing to stdout: {epipe}"
        )));
        let other = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(!super::is_closed_stdout(&format!(
            "failed printing to stdout: {other}"
        )));
        assert!(!super::is_closed_stdout(&format!(
            "control client write: {epipe}"
        )));
    }
}
