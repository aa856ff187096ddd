//! `gaffer demo --real-agents`: the whole job with the real Claude Code, Codex CLI and Gemini
//! CLI (the pinned copies of `scripts/install-agents.sh`), each talking to its own scripted
//! model server (`gaffer-model-sim`) on loopback, inside a loopback-only network namespace.
//!
//! A small beads project (a dependency chain, made with `br` when it is on PATH), one pane per
//! CLI on a private tmux socket, and the coordinator with auto-assign. The scripted model
//! "does" each assigned task with real tool calls through the real CLI, one per step: reserve
//! the file (`gaffer mail reserve`), write it, record tests (`gaffer quality record-tests`),
//! report (`gaffer done`). One agent hits a rate limit first and gets nothing until it clears.
//! The run is then checked from the ledger, the mailbox and the model servers' logs, and the
//! summary of `gaffer demo` is printed. Nothing is installed: missing CLIs exit 4.
//!
//! `GAFFER_DEMO_REAL_KINDS=cc,gmi` runs only some of the CLIs (a debugging aid; the limited
//! agent is then the last one unless `cc` is among them).
//!
//! - [`project`]: the beads project and the coordinator's config;
//! - [`script`]: the scripted model's steps and its quota error;
//! - [`agents`]: the CLIs, their model servers and panes, what gaffer's monitor reads of them;
//! - [`verify`]: the run checked against its expectations.

mod agents;
mod project;
mod script;
mod verify;

use super::env::{self, Cleanup};
use super::summary::{self, Outcome};
use crate::cli::{DemoArgs, GlobalArgs, TmuxArgs};
use crate::error::ExitError;
use crate::wiring::{self, Build, Built};
use agents::{Agent, Crew, Observer};
use gaffer_coordinator::ledger::{AssignmentState, Ledger};
use gaffer_core::digest::DigestSummary;
use gaffer_core::mailbox::Mailbox;
use gaffer_core::status::AgentStatus;
use gaffer_model_sim::LogEntry;
use project::Project;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The tmux session (on a private socket).
pub const SESSION: &str = "real";
/// How long the limit lasts at least (from the coordinator's start).
const LIMIT_SECS: u64 = 8;

/// Prints a progress line on stderr.
fn say(s: &str) {
    eprintln!("gaffer demo: {s}");
}

/// Where the run happens: the project, the socket, the tools, the mailbox.
struct Setup {
    /// The gaffer executable.
    me: PathBuf,
    /// The project root (canonical).
    dir: PathBuf,
    /// The private tmux socket's name.
    socket: String,
    /// `--mail-url`, when a server is used.
    mail_url: Option<String>,
    /// `br`, when on PATH.
    br: Option<PathBuf>,
    /// The mailbox.
    mailbox: Arc<dyn Mailbox>,
    /// The mailbox's project key.
    project_key: String,
    /// The digests' recipient.
    human: String,
}

impl Setup {
    /// The global arguments of the demo's own project.
    fn global(&self, json: bool) -> GlobalArgs {
        GlobalArgs {
            json,
            project: Some(self.dir.clone()),
            config: None,
            set: Vec::new(),
        }
    }

    /// The tmux arguments of the demo's private session.
    fn tmux(&self) -> TmuxArgs {
        TmuxArgs {
            session: Some(SESSION.into()),
            socket: Some(self.socket.clone()),
            socket_path: None,
        }
    }

    /// Types `text` into `pane` as its user would.
    fn user_types(&self, pane: &str, text: &str) -> bool {
        agents::user_types(&self.me, &self.dir, &self.socket, pane, text)
    }
}

/// `gaffer demo --real-agents`.
pub fn run(global: &GlobalArgs, args: &DemoArgs) -> anyhow::Result<i32> {
    env::check_tmux()?;
    let kinds = agents::kinds();
    let clis = agents::pinned_clis(&kinds)?;
    let mail_url = args.mail_url.clone().filter(|u| !u.trim().is_empty());
    if mail_url.is_none() {
        if let Some(code) = agents::isolate() {
            return Ok(code);
        }
    }
    let keep = args.keep || args.project_dir.is_some();
    let dir = env::empty_dir(
        args.project_dir.as_deref(),
        "gaffer-real",
        std::process::id(),
    )?;
    let mut cleanup = Cleanup::new(&socket_name(), &dir, keep);
    let (setup, project) = prepare(dir, mail_url)?;
    let crew = agents::launch(&setup, &clis)?;
    let limited = limited_pane(&crew.agents, &kinds);
    let limit = Duration::from_secs(args.exit_after.unwrap_or(240));
    let played = play(&setup, &crew, &project, &limited, global.json, limit)?;
    let (checked_ok, mut out) = check(&setup, &crew, &project, &limited, &played);
    let ok = checked_ok && !played.watched.interrupted;
    if !ok {
        verify::explain_failure(&played.captures, &played.logs);
    }
    drop(crew);
    cleanup.run();
    summary::finish(
        &mut out,
        &Outcome {
            ok,
            interrupted: played.watched.interrupted,
            elapsed: played.elapsed,
            dir: &setup.dir,
            ledger: &played.ledger_path,
            keep,
            mailbox: &played.watched.mail_backend,
        },
    );
    out["work_source"] = json!(played.watched.work_source);
    out["agents_versions"] = clis
        .iter()
        .map(|(k, v, _)| (k.clone(), json!(v)))
        .collect::<serde_json::Map<String, Value>>()
        .into();
    out["tmux"] = json!(format!(
        "tmux -L {} (session {SESSION}), killed",
        setup.socket
    ));
    Ok(summary::report(&out, global.json, keep))
}

/// The private tmux socket's name.
fn socket_name() -> String {
    format!("gaffer-real-{}", std::process::id())
}

/// Makes the project in `dir` (its beads with `br` when on PATH), opens the mailbox and
/// writes the config.
fn prepare(dir: PathBuf, mail_url: Option<String>) -> anyhow::Result<(Setup, Project)> {
    let me = std::env::current_exe()
        .map_err(|e| ExitError::failure(format!("cannot find the gaffer executable: {e}")))?;
    let socket = socket_name();
    let br = gaffer_beads::process::which("br");
    let project = Project::create(&dir, br.as_deref())?;
    let (mailbox, project_key, human) = open_mailbox(mail_url.as_deref(), &dir)?;
    project::write_config(&dir, &socket, &human)?;
    let setup = Setup {
        me,
        dir,
        socket,
        mail_url,
        br,
        mailbox,
        project_key,
        human,
    };
    Ok((setup, project))
}

/// What happened once the agents were up.
struct Played {
    /// What the coordination loop saw.
    watched: Watched,
    /// Whether gaffer's monitor read the limited agent RATE_LIMITED before the coordinator.
    limited_before: bool,
    /// From the agents' start to the coordinator's stop.
    elapsed: Duration,
    /// The ledger, and its path.
    ledger: Ledger,
    ledger_path: PathBuf,
    /// title → the pane's last screen.
    captures: BTreeMap<String, String>,
    /// pane → its model server's log.
    logs: BTreeMap<String, Vec<LogEntry>>,
}

/// Start-up, the limited agent's first limit, then the coordinator until the work is done.
fn play(
    setup: &Setup,
    crew: &Crew,
    project: &Project,
    limited: &str,
    json: bool,
    limit: Duration,
) -> anyhow::Result<Played> {
    let observer = Observer::new(&setup.global(json), &setup.tmux())?;
    let started = Instant::now();
    wait_until_ready(&observer, &crew.agents);
    let limited_before = limit_first(setup, &observer, &crew.agents, limited);
    let built = wiring::build(Build {
        global: &setup.global(json),
        tmux: &setup.tmux(),
        mail_url: setup.mail_url.clone(),
        native_beads: setup.br.is_none(),
    })?;
    let ledger_path = setup.dir.join(".gaffer/state.db");
    let ledger = Ledger::open(&ledger_path)
        .map_err(|e| ExitError::failure(format!("{}: {e}", ledger_path.display())))?;
    let watch = Watch {
        setup,
        agents: &crew.agents,
        ledger: &ledger,
        beads: &project.bead_ids,
        limited,
        started,
        limit,
    };
    let watched = coordinate(&watch, built)?;
    let elapsed = started.elapsed();
    Ok(Played {
        watched,
        limited_before,
        elapsed,
        ledger,
        ledger_path,
        captures: crew.capture_panes(&setup.dir),
        logs: crew
            .agents
            .iter()
            .map(|a| (a.pane.clone(), a.server.log()))
            .collect(),
    })
}

/// Checks the run against its expectations: (all met, the summary's JSON).
fn check(
    setup: &Setup,
    crew: &Crew,
    project: &Project,
    limited: &str,
    played: &Played,
) -> (bool, Value) {
    verify::summarize(&verify::Check {
        ledger: &played.ledger,
        mailbox: setup.mailbox.as_ref(),
        project: &setup.project_key,
        dir: &setup.dir,
        human: &setup.human,
        titles: &crew.titles(),
        beads: &project.titles_by_bead(),
        bead_order: &project.bead_ids,
        limited_pane: limited,
        logs: &played.logs,
        br: setup.br.is_some(),
        limited_before: played.limited_before,
        coordinator_saw_limited: played.watched.coordinator_saw_limited,
        final_digest: played.watched.final_digest.as_ref(),
    })
}

/// Opens the mailbox and registers the digests' recipient: (mailbox, project key, human).
fn open_mailbox(
    mail_url: Option<&str>,
    dir: &Path,
) -> Result<(Arc<dyn Mailbox>, String, String), ExitError> {
    let project_key = dir.display().to_string();
    let mailbox: Arc<dyn Mailbox> = Arc::from(
        gaffer_mail::open(mail_url, dir, Duration::from_secs(10))
            .map_err(|e| ExitError::failure(format!("opening the mailbox: {e}")))?,
    );
    mailbox
        .ensure_project(&project_key)
        .map_err(|e| ExitError::unavailable(format!("agent mail: {e}")))?;
    let human = env::register_human(mailbox.as_ref(), &project_key);
    Ok((mailbox, project_key, human))
}

/// The pane of the agent that hits its limit first.
fn limited_pane(agents: &[Agent], kinds: &[&'static str]) -> String {
    agents
        .iter()
        .find(|a| a.kind == agents::limited_kind(kinds))
        .map(|a| a.pane.clone())
        .unwrap_or_default()
}

/// Start-up: each CLI draws its composer (bounded; a misread one is reported, not waited for
/// forever).
fn wait_until_ready(observer: &Observer, agents: &[Agent]) {
    let ready_by = Instant::now() + Duration::from_secs(60);
    for a in agents {
        let left = ready_by.saturating_duration_since(Instant::now());
        let s = observer.wait_for(&a.pane, AgentStatus::Waiting, left);
        say(&format!(
            "{} ({}) is {}",
            a.title,
            a.pane,
            s.map(|s| s.as_str()).unwrap_or("unknown")
        ));
    }
}

/// The limited agent: its API answers with a quota error; its user asks something first.
/// Whether gaffer's monitor then reads it as RATE_LIMITED.
fn limit_first(setup: &Setup, observer: &Observer, agents: &[Agent], limited: &str) -> bool {
    let Some(a) = agents.iter().find(|a| a.pane == limited) else {
        return false;
    };
    a.server.set_mode(Some(script::limit_mode(&a.kind)));
    let typed = setup.user_types(&a.pane, "Hello, please summarise this repository.");
    let s = observer.wait_for(&a.pane, AgentStatus::RateLimited, Duration::from_secs(40));
    say(&format!(
        "{} hit its limit (prompt typed: {typed}); gaffer reads it as {}",
        a.title,
        s.map(|s| s.as_str()).unwrap_or("unknown")
    ));
    s == Some(AgentStatus::RateLimited)
}

/// What the coordination loop needs.
struct Watch<'a> {
    setup: &'a Setup,
    agents: &'a [Agent],
    ledger: &'a Ledger,
    /// The bead ids, in task order.
    beads: &'a [String],
    /// The limited agent's pane.
    limited: &'a str,
    /// When the agents were started.
    started: Instant,
    /// The time limit, from the coordinator's start.
    limit: Duration,
}

/// What the coordination loop saw.
struct Watched {
    /// The coordinator's own view showed the limited agent RATE_LIMITED before it cleared (an
    /// agent limited from its first look has no state-change event until it recovers).
    coordinator_saw_limited: bool,
    /// Stopped by Ctrl-C.
    interrupted: bool,
    /// The last digest, on the final state.
    final_digest: Option<DigestSummary>,
    /// The mailbox backend's name.
    mail_backend: String,
    /// Where the work came from.
    work_source: String,
}

/// Runs the coordinator until every task is done and its turn ended, the time limit, or
/// Ctrl-C; then sends a last digest and stops it.
fn coordinate(w: &Watch<'_>, built: Built) -> anyhow::Result<Watched> {
    let mut coord = built.coordinator;
    let rx = coord.events().subscribe_with(100_000);
    coord.start()?;
    let coord_started = Instant::now();
    // The time limit counts from here: the start-up is bounded on its own (100 s).
    say(&format!(
        "coordinator started ({}, work from {}); tmux -L {} attach -t {SESSION} to watch",
        built.mail_backend, built.work_source, w.setup.socket
    ));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let s = stop.clone();
        let _ = ctrlc::set_handler(move || s.store(true, Ordering::SeqCst));
    }
    let mut coordinator_saw_limited = false;
    let mut cleared_at: Option<Instant> = None;
    let mut interrupted = false;
    let mut reported = 0usize;
    let mut all_done_at: Option<Instant> = None;
    loop {
        rx.try_iter().for_each(drop);
        if cleared_at.is_none()
            && coord
                .get_agents()
                .get(w.limited)
                .is_some_and(|a| a.status == AgentStatus::RateLimited)
        {
            coordinator_saw_limited = true;
        }
        if stop.load(Ordering::SeqCst) {
            interrupted = true;
            break;
        }
        let done = done_beads(w.ledger);
        if done.len() != reported {
            reported = done.len();
            say(&format!(
                "{reported}/{} tasks done after {:.0}s",
                w.beads.len(),
                w.started.elapsed().as_secs_f64()
            ));
        }
        // The limit clears once the others have finished a task and some time has passed;
        // its user then asks again.
        if cleared_at.is_none()
            && !done.is_empty()
            && coord_started.elapsed() >= Duration::from_secs(LIMIT_SECS)
        {
            clear_limit(w);
            cleared_at = Some(Instant::now());
        }
        if all_done(w, &done) {
            // `gaffer done` writes the ledger before it closes in br and returns; the turn ends
            // when its result is back at the model. Wait for that (bounded).
            let since = *all_done_at.get_or_insert_with(Instant::now);
            if turns_ended(w) || since.elapsed() >= Duration::from_secs(20) {
                break;
            }
        }
        if coord_started.elapsed() >= w.limit {
            say("time limit reached");
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let final_digest = coord.send_digest().ok();
    coord.stop();
    rx.try_iter().for_each(drop);
    Ok(Watched {
        coordinator_saw_limited,
        interrupted,
        final_digest,
        mail_backend: built.mail_backend,
        work_source: built.work_source,
    })
}

/// The beads done in the ledger.
fn done_beads(ledger: &Ledger) -> BTreeSet<String> {
    ledger
        .all()
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.state == AssignmentState::Done)
        .map(|r| r.assignment.bead_id)
        .collect()
}

/// Lifts the limited agent's quota; its user asks again.
fn clear_limit(w: &Watch<'_>) {
    if let Some(a) = w.agents.iter().find(|a| a.pane == w.limited) {
        a.server.set_mode(None);
        let typed = w.setup.user_types(&a.pane, "The limit is over. Hello?");
        say(&format!(
            "{}'s limit cleared (asked again: {typed})",
            a.title
        ));
    }
}

/// Every bead is done in the ledger, with its tests recorded.
fn all_done(w: &Watch<'_>, done: &BTreeSet<String>) -> bool {
    let runs = w.ledger.test_runs_since(0).map(|r| r.len()).unwrap_or(0);
    w.beads.iter().all(|b| done.contains(b)) && runs >= w.beads.len()
}

/// Every bead's last tool result is back at its model.
fn turns_ended(w: &Watch<'_>) -> bool {
    let logs: Vec<Vec<LogEntry>> = w.agents.iter().map(|a| a.server.log()).collect();
    w.beads.iter().all(|b| {
        logs.iter()
            .any(|l| script::results_back(l, b) >= script::STEPS)
    })
}
