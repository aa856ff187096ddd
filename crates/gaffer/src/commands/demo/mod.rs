//! `gaffer demo`: a temporary beads project, four gaffer-sim agents on a private tmux socket,
//! and the coordinator with auto-assign, shown live; then a summary, checked against its own
//! expectations. `GAFFER_DEMO_DEBUG=1` prints the coordinator's view of each agent to stderr.
//!
//! - [`scenario`]: the beads, what each agent does, the config, the agents' command lines;
//! - [`env`]: the tools it needs, the project directory, the mailbox recipient, clean-up;
//! - [`view`]: the live view;
//! - [`summary`]: the run checked against its expectations;
//! - [`real`]: `--real-agents`, the same job with the real CLIs against scripted model servers.

mod env;
mod real;
mod scenario;
mod summary;
mod view;

use crate::adapters;
use crate::cli::{DemoArgs, GlobalArgs, TmuxArgs};
use crate::error::ExitError;
use crate::foreground::Foreground;
use crate::wiring::{self, Build};
use gaffer_coordinator::ledger::AssignmentState;
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::exit;
use gaffer_core::mailbox::Mailbox;
use gaffer_tmux::cmd::{Socket, Tmux};
use gaffer_tmux::spawn::{Layout, SpawnedPane, spawn};
use scenario::SESSION;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Everything seen during the run.
#[derive(Default)]
pub struct Seen {
    /// The events, in order.
    pub events: Vec<CoordinatorEvent>,
}

impl Seen {
    /// How many events of this kind.
    pub fn count(&self, kind: &str) -> usize {
        self.events
            .iter()
            .filter(|e| e.event_type.as_str() == kind)
            .count()
    }
}

/// `gaffer demo`.
pub fn run(global: &GlobalArgs, args: &DemoArgs) -> anyhow::Result<i32> {
    if args.real_agents {
        return real::run(global, args);
    }
    env::check_tmux()?;
    let sim = env::find_sim()?;
    let me = std::env::current_exe()
        .map_err(|e| ExitError::failure(format!("cannot find the gaffer executable: {e}")))?;
    let pid = std::process::id();
    let socket = format!("gaffer-demo-{pid}");
    let dir = env::project_dir(args.project_dir.as_deref(), pid)?;
    let keep = args.keep || args.project_dir.is_some();
    let mut cleanup = env::Cleanup::new(&socket, &dir, keep);
    let started_wall = chrono::Utc::now();
    std::fs::write(
        dir.join(".beads/issues.jsonl"),
        scenario::beads_jsonl(started_wall),
    )?;

    // The mailbox, and the human who receives the digests.
    let mail_url = args.mail_url.clone().filter(|u| !u.trim().is_empty());
    let project_key = dir.display().to_string();
    let mailbox: Arc<dyn Mailbox> =
        adapters::mailbox_at(mail_url.clone(), &dir, Duration::from_secs(10))
            .map_err(|e| ExitError::failure(format!("opening the mailbox: {e}")))?
            .mailbox;
    mailbox
        .ensure_project(&project_key)
        .map_err(|e| ExitError::unavailable(format!("agent mail: {e}")))?;
    let human = env::register_human(mailbox.as_ref(), &project_key);

    std::fs::write(
        dir.join(".gaffer/config.toml"),
        scenario::config_toml(&socket, &human),
    )?;

    // Four simulated agents on the private socket.
    let specs = scenario::agent_specs(&scenario::AgentEnv {
        sim: &sim,
        gaffer: &me,
        dir: &dir,
        mail_url: mail_url.as_deref(),
    })?;
    let tmux = Tmux::new(Socket::Name(socket.clone()), Duration::from_secs(5));
    let panes: Vec<SpawnedPane> = spawn(&tmux, SESSION, &dir, &specs, &Layout::default())
        .map_err(|e| ExitError::unavailable(format!("starting the demo's tmux session: {e}")))?;
    let titles: BTreeMap<String, String> = panes
        .iter()
        .map(|p| (p.pane_id.clone(), p.title.clone()))
        .collect();
    let limited_pane = panes
        .iter()
        .find(|p| p.agent_type == "gmi")
        .map(|p| p.pane_id.clone())
        .unwrap_or_default();

    // The coordinator, on the real adapters.
    let demo_global = GlobalArgs {
        json: global.json,
        project: Some(dir.clone()),
        config: None,
        set: Vec::new(),
    };
    let tmux_args = TmuxArgs {
        session: Some(SESSION.into()),
        socket: Some(socket.clone()),
        socket_path: None,
    };
    // Let the agents draw their first screen.
    std::thread::sleep(Duration::from_millis(700));
    let built = wiring::build(Build {
        global: &demo_global,
        tmux: &tmux_args,
        mail_url: mail_url.clone(),
        native_beads: true,
    })?;
    let mut coord = built.coordinator;
    let rx = coord.events().subscribe_with(100_000);
    coord.start()?;
    let fg = Foreground::start(Some(args.exit_after.unwrap_or(180)));
    let attached = if args.attach {
        let sock = socket.clone();
        Some(std::thread::spawn(move || {
            // From inside tmux too: the demo's server is a separate one.
            let _ = std::process::Command::new("tmux")
                .args(["-L", &sock, "attach", "-t", SESSION])
                .env_remove("TMUX")
                .status();
        }))
    } else {
        None
    };
    // The live view, unless headless or while the panes are attached (after a detach, it
    // comes back).
    let live_now = |attached: &Option<std::thread::JoinHandle<()>>| {
        !args.headless && attached.as_ref().is_none_or(|h| h.is_finished())
    };
    let ledger_path = dir.join(".gaffer/state.db");
    let ledger = adapters::ledger_at(&ledger_path)?;
    let tasks = scenario::task_ids();
    let mut seen = Seen::default();
    let mut interrupted = false;
    let mut finished_at: Option<Instant> = None;
    let mut was_live = false;
    let debug = std::env::var_os("GAFFER_DEMO_DEBUG").is_some();
    loop {
        seen.events.extend(rx.try_iter());
        if debug {
            let now = chrono::Utc::now();
            for (p, a) in coord.get_agents() {
                eprintln!(
                    "{p} {} idle {:.1}s healthy {} assignments {} ctx {:.2}",
                    a.status.as_str(),
                    (now - a.last_activity).num_milliseconds() as f64 / 1000.0,
                    a.healthy,
                    a.assignments,
                    a.context_usage
                );
            }
            eprintln!("idle agents: {}", coord.get_idle_agents().len());
        }
        if fg.interrupted() {
            interrupted = true;
            break;
        }
        let records = ledger.all().unwrap_or_default();
        let done: BTreeSet<&str> = records
            .iter()
            .filter(|r| r.state == AssignmentState::Done)
            .map(|r| r.assignment.bead_id.as_str())
            .collect();
        let runs = ledger.test_runs_since(0).map(|r| r.len()).unwrap_or(0);
        let all_done = tasks.iter().all(|t| done.contains(t)) && runs >= tasks.len();
        let complete = all_done
            && seen.count("conflict_detected") > 0
            && seen.count("digest_sent") > 0
            && seen.count("conflict_resolved") > 0;
        let live = live_now(&attached);
        if live && !was_live {
            print!("\x1b[?25l\x1b[2J");
        }
        was_live = live;
        if live {
            view::draw(&view::LiveView {
                coord: &coord,
                titles: &titles,
                records: &records,
                seen: &seen,
                ledger: &ledger,
                socket: &socket,
                dir: &dir,
                mail: &built.mail_backend,
                elapsed: fg.elapsed(),
                tasks: &tasks,
            });
        }
        if complete && finished_at.is_none() {
            finished_at = Some(Instant::now());
        }
        // A moment to show the finished state before stopping.
        if finished_at.is_some_and(|t| t.elapsed() >= Duration::from_millis(1500)) {
            break;
        }
        if fg.expired() {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // A last digest, on the final state.
    let final_digest = coord.send_digest().ok();
    coord.stop();
    seen.events.extend(rx.try_iter());
    let elapsed = fg.elapsed();
    if was_live {
        print!("\x1b[?25h");
        let _ = std::io::stdout().flush();
    }

    let summary = summary::summarize(&summary::Summarize {
        ledger: &ledger,
        mailbox: mailbox.as_ref(),
        project: &project_key,
        human: &human,
        titles: &titles,
        limited_pane: &limited_pane,
        tasks: &tasks,
        final_digest: final_digest.as_ref(),
    });
    cleanup.run();
    if let Some(h) = attached {
        let _ = h.join();
    }
    let ok = summary.ok && !interrupted;
    let mut out = summary.json;
    out["ok"] = json!(ok);
    out["interrupted"] = json!(interrupted);
    out["duration_secs"] = json!((elapsed.as_secs_f64() * 10.0).round() / 10.0);
    out["project_dir"] = json!(dir.display().to_string());
    out["ledger"] = json!(ledger_path.display().to_string());
    out["kept"] = json!(keep);
    out["mailbox"] = json!(built.mail_backend);
    out["tmux"] = json!(format!("tmux -L {socket} (session {SESSION}), killed"));
    if global.json {
        println!("{out}");
    } else {
        summary::print_summary(&out, keep);
    }
    Ok(if interrupted {
        exit::INTERRUPTED
    } else if ok {
        exit::SUCCESS
    } else {
        exit::FAILURE
    })
}
