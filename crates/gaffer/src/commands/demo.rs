//! `gaffer demo`: a temporary beads project, four gaffer-sim agents on a private tmux socket,
//! and the coordinator with auto-assign, shown live; then a summary, checked against its own
//! expectations. `GAFFER_DEMO_DEBUG=1` prints the coordinator's view of each agent to stderr.

use crate::cli::{DemoArgs, GlobalArgs, TmuxArgs};
use crate::error::ExitError;
use crate::wiring::{self, Build};
use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::exit;
use gaffer_core::mailbox::{AgentRegistration, InboxQuery, Mailbox};
use gaffer_core::status::AgentStatus;
use gaffer_core::time::Timestamp;
use gaffer_tmux::cmd::{Socket, Tmux};
use gaffer_tmux::spawn::{AgentSpec, SpawnedPane, shell_quote, spawn};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The tmux session the demo creates (on its private socket).
const SESSION: &str = "demo";

/// One bead of the demo project: id, type, priority, title, description, blockers.
struct Bead {
    id: &'static str,
    kind: &'static str,
    priority: i64,
    title: &'static str,
    description: &'static str,
    blocked_by: &'static [&'static str],
}

const BEADS: &[Bead] = &[
    Bead {
        id: "dm-1",
        kind: "epic",
        priority: 1,
        title: "Ship the notes service",
        description: "A small notes service: model, storage, HTTP API, search, docs.",
        blocked_by: &[],
    },
    Bead {
        id: "dm-2",
        kind: "task",
        priority: 1,
        title: "Define the note model in src/model.rs",
        description: "Note { id, title, body, tags } with serde.",
        blocked_by: &[],
    },
    Bead {
        id: "dm-3",
        kind: "task",
        priority: 1,
        title: "Set up the HTTP router in src/api/router.rs",
        description: "Routes for /notes; health check.",
        blocked_by: &[],
    },
    Bead {
        id: "dm-4",
        kind: "task",
        priority: 1,
        title: "Write the storage layer in src/store.rs",
        description: "An in-memory store behind a trait.",
        blocked_by: &[],
    },
    Bead {
        id: "dm-5",
        kind: "task",
        priority: 2,
        title: "Add the command-line entry point in src/main.rs",
        description: "Parse --port and start the server.",
        blocked_by: &[],
    },
    Bead {
        id: "dm-6",
        kind: "task",
        priority: 1,
        title: "Add the note handlers in src/api/notes.rs",
        description: "Create, read, list and delete notes.",
        blocked_by: &["dm-2", "dm-3"],
    },
    Bead {
        id: "dm-7",
        kind: "task",
        priority: 2,
        title: "Persist notes to disk in src/persist.rs",
        description: "JSON files, written atomically.",
        blocked_by: &["dm-2", "dm-4"],
    },
    Bead {
        id: "dm-8",
        kind: "task",
        priority: 2,
        title: "Validate input in src/validate.rs",
        description: "Titles 1..200 chars; tags lowercase.",
        blocked_by: &["dm-2"],
    },
    Bead {
        id: "dm-9",
        kind: "task",
        priority: 2,
        title: "Add full-text search in src/search.rs",
        description: "A tiny inverted index over title and body.",
        blocked_by: &["dm-7"],
    },
    Bead {
        id: "dm-10",
        kind: "task",
        priority: 3,
        title: "Document the API in docs/api.md",
        description: "Every route with an example.",
        blocked_by: &["dm-6"],
    },
    Bead {
        id: "dm-11",
        kind: "task",
        priority: 2,
        title: "Write the integration tests in tests/api.rs",
        description: "Round-trip every route.",
        blocked_by: &["dm-6", "dm-7"],
    },
    Bead {
        id: "dm-12",
        kind: "task",
        priority: 3,
        title: "Write the release notes in CHANGELOG.md",
        description: "What 0.1 does.",
        blocked_by: &["dm-9", "dm-10", "dm-11"],
    },
];

/// The beads file of the demo project (JSONL, one issue a line).
fn beads_jsonl(now: Timestamp) -> String {
    let created = gaffer_core::time::format_rfc3339(&(now - chrono::Duration::hours(1)));
    let mut out = String::new();
    for b in BEADS {
        let mut deps: Vec<Value> = b
            .blocked_by
            .iter()
            .map(|d| {
                json!({"issue_id": b.id, "depends_on_id": d, "type": "blocks",
                       "created_at": created, "created_by": "demo"})
            })
            .collect();
        if b.kind != "epic" {
            deps.push(
                json!({"issue_id": b.id, "depends_on_id": "dm-1", "type": "parent-child",
                             "created_at": created, "created_by": "demo"}),
            );
        }
        let line = json!({
            "id": b.id,
            "title": b.title,
            "description": b.description,
            "status": "open",
            "priority": b.priority,
            "issue_type": b.kind,
            "created_at": created,
            "updated_at": created,
            "dependencies": deps,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// The demo's tasks (every bead but the epic).
fn task_ids() -> Vec<&'static str> {
    BEADS
        .iter()
        .filter(|b| b.kind != "epic")
        .map(|b| b.id)
        .collect()
}

/// Finds gaffer-sim: next to this executable, then on PATH.
pub fn find_sim() -> Result<PathBuf, ExitError> {
    let name = "gaffer-sim";
    if let Ok(me) = std::env::current_exe() {
        if let Some(dir) = me.parent() {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    Err(ExitError {
        code: exit::UNAVAILABLE,
        kind: "unavailable",
        message: "gaffer-sim not found next to the gaffer executable or on PATH; build it with \
                  `cargo build --release --bin gaffer-sim` (scripts/demo.sh does)"
            .into(),
    })
}

fn check_tmux() -> Result<(), ExitError> {
    match std::process::Command::new("tmux").arg("-V").output() {
        Ok(o) if o.status.success() => Ok(()),
        _ => Err(ExitError {
            code: exit::UNAVAILABLE,
            kind: "unavailable",
            message: "tmux is not installed; install it (apt-get install tmux, brew install tmux) \
                      or run scripts/demo.sh, which installs it when run as root"
                .into(),
        }),
    }
}

/// Kills the demo's tmux server and removes its directory (unless kept), even on early return.
struct Cleanup {
    socket: String,
    dir: PathBuf,
    keep: bool,
    done: bool,
}

impl Cleanup {
    fn run(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let _ = std::process::Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.run();
    }
}

/// What each simulated agent does.
struct AgentPlan {
    agent_type: &'static str,
    script: &'static str,
    start: &'static str,
    failing_tests: u32,
}

const PLANS: &[AgentPlan] = &[
    // Claude 1 and Codex 1 both decide to touch the API on their first task: overlapping
    // reservations they make themselves, released when their turn ends.
    AgentPlan {
        agent_type: "cc",
        script: "waiting\nreserve src/api/**\ngenerating 5\nrelease src/api/**\n",
        start: "",
        failing_tests: 0,
    },
    AgentPlan {
        agent_type: "cc",
        script: "",
        start: "",
        failing_tests: 0,
    },
    AgentPlan {
        agent_type: "cod",
        script: "waiting\nreserve src/api/router.rs\ngenerating 5\nrelease src/api/router.rs\n",
        start: "",
        failing_tests: 1,
    },
    // Gemini is busy with its own work, hits its usage limit, and recovers 12 s later.
    AgentPlan {
        agent_type: "gmi",
        script: "rate-limited 12\n",
        start: "--start-state generating --start-secs 3",
        failing_tests: 0,
    },
];

/// Everything seen during the run.
#[derive(Default)]
struct Seen {
    events: Vec<CoordinatorEvent>,
}

impl Seen {
    fn count(&self, kind: &str) -> usize {
        self.events
            .iter()
            .filter(|e| e.event_type.as_str() == kind)
            .count()
    }
}

/// `gaffer demo`.
pub fn run(global: &GlobalArgs, args: &DemoArgs) -> anyhow::Result<i32> {
    if args.real_agents {
        return crate::commands::demo_real::run(global, args);
    }
    check_tmux()?;
    let sim = find_sim()?;
    let me = std::env::current_exe()
        .map_err(|e| ExitError::failure(format!("cannot find the gaffer executable: {e}")))?;
    let pid = std::process::id();
    let socket = format!("gaffer-demo-{pid}");
    let dir = match &args.project_dir {
        Some(d) => {
            if d.exists() && std::fs::read_dir(d).map(|mut r| r.next().is_some())? {
                return Err(ExitError {
                    code: exit::USAGE,
                    kind: "usage",
                    message: format!("--project-dir {} exists and is not empty", d.display()),
                }
                .into());
            }
            d.clone()
        }
        None => std::env::temp_dir().join(format!(
            "gaffer-demo-{pid}-{}",
            chrono::Utc::now().timestamp_millis()
        )),
    };
    std::fs::create_dir_all(dir.join(".beads"))?;
    std::fs::create_dir_all(dir.join(".gaffer/demo"))?;
    let dir = std::fs::canonicalize(&dir)?;
    let keep = args.keep || args.project_dir.is_some();
    let mut cleanup = Cleanup {
        socket: socket.clone(),
        dir: dir.clone(),
        keep,
        done: false,
    };
    let started_wall = chrono::Utc::now();
    std::fs::write(dir.join(".beads/issues.jsonl"), beads_jsonl(started_wall))?;

    // The mailbox, and the human who receives the digests.
    let mail_url = args.mail_url.clone().filter(|u| !u.trim().is_empty());
    let project_key = dir.display().to_string();
    let mailbox: Arc<dyn Mailbox> = Arc::from(
        gaffer_mail::open(mail_url.as_deref(), &dir, Duration::from_secs(10))
            .map_err(|e| ExitError::failure(format!("opening the mailbox: {e}")))?,
    );
    mailbox
        .ensure_project(&project_key)
        .map_err(|e| ExitError {
            code: exit::UNAVAILABLE,
            kind: "unavailable",
            message: format!("agent mail: {e}"),
        })?;
    let human = register_human(mailbox.as_ref(), &project_key);

    let config = format!(
        "[tmux]\nsocket_name = \"{socket}\"\nsession = \"{SESSION}\"\n\n\
         [coordinator]\npoll_interval = \"500ms\"\nidle_threshold = 2.0\n\
         digest_interval = \"10s\"\nauto_assign = true\nsend_digests = true\n\
         conflict_notify = true\nconflict_negotiate = true\nhuman_agent = \"{human}\"\n"
    );
    std::fs::write(dir.join(".gaffer/config.toml"), config)?;

    // Four simulated agents on the private socket.
    let q = |p: &Path| shell_quote(&p.display().to_string());
    let gaffer = format!("{} --project {}", q(&me), q(&dir));
    let mail_flag = mail_url
        .as_ref()
        .map(|u| format!(" --mail-url {}", shell_quote(u)))
        .unwrap_or_default();
    let mut specs = Vec::new();
    for (i, plan) in PLANS.iter().enumerate() {
        let script = dir.join(format!(".gaffer/demo/agent{i}.script"));
        std::fs::write(&script, plan.script)?;
        let log = |what: &str| q(&dir.join(format!(".gaffer/demo/agent{i}.{what}")));
        let mut cmd = format!(
            "{} --agent {} --work-secs 2.5 {} --log {} --state-log {} --cmd-log {} \
             --failing-tests {}",
            q(&sim),
            plan.agent_type,
            plan.start,
            log("prompts.jsonl"),
            log("states.jsonl"),
            log("commands.jsonl"),
            plan.failing_tests,
        );
        if !plan.script.is_empty() {
            cmd.push_str(&format!(" --script {}", q(&script)));
        }
        // Report first (the coordinator would take a long silence for a stall), then the tests.
        let on_done = [
            format!("{gaffer} done {{bead}} --reason 'finished in the demo'"),
            format!(
                "{gaffer} quality record-tests --agent {{pane}} --package demo \
                 --passed {{passed}} --failed {{failed}}"
            ),
        ];
        for c in on_done {
            cmd.push_str(&format!(" --on-done {}", shell_quote(&c)));
        }
        cmd.push_str(&format!(
            " --reserve-cmd {} --release-cmd {}",
            shell_quote(&format!(
                "{gaffer} mail{mail_flag} reserve --agent {{name}} --ttl 600 --reason demo {{pattern}}"
            )),
            shell_quote(&format!(
                "{gaffer} mail{mail_flag} release --agent {{name}} {{pattern}}"
            )),
        ));
        specs.push(AgentSpec {
            agent_type: plan.agent_type.to_string(),
            variant: None,
            command: cmd,
        });
    }
    let tmux = Tmux::new(Socket::Name(socket.clone()), Duration::from_secs(5));
    let panes: Vec<SpawnedPane> =
        spawn(&tmux, SESSION, &dir, &specs, (200, 50)).map_err(|e| ExitError {
            code: exit::UNAVAILABLE,
            kind: "unavailable",
            message: format!("starting the demo's tmux session: {e}"),
        })?;
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
    let started = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    {
        let s = stop.clone();
        let _ = ctrlc::set_handler(move || s.store(true, Ordering::SeqCst));
    }
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
    let limit = Duration::from_secs(args.exit_after.unwrap_or(180));
    let ledger_path = dir.join(".gaffer/state.db");
    let ledger = Ledger::open(&ledger_path)
        .map_err(|e| ExitError::failure(format!("{}: {e}", ledger_path.display())))?;
    let tasks = task_ids();
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
        if stop.load(Ordering::SeqCst) {
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
            draw(&LiveView {
                coord: &coord,
                titles: &titles,
                records: &records,
                seen: &seen,
                ledger: &ledger,
                socket: &socket,
                dir: &dir,
                mail: &built.mail_backend,
                elapsed: started.elapsed(),
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
        if started.elapsed() >= limit {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    // A last digest, on the final state.
    let final_digest = coord.send_digest().ok();
    coord.stop();
    seen.events.extend(rx.try_iter());
    let elapsed = started.elapsed();
    if was_live {
        print!("\x1b[?25h");
        let _ = std::io::stdout().flush();
    }

    let summary = summarize(&Summarize {
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
        print_summary(&out, keep);
    }
    Ok(if interrupted {
        exit::INTERRUPTED
    } else if ok {
        exit::SUCCESS
    } else {
        exit::FAILURE
    })
}

/// Registers the digest's recipient: `Human` when the mailbox accepts that name, else a
/// generated one.
fn register_human(mb: &dyn Mailbox, project: &str) -> String {
    let reg = |name: Option<String>| AgentRegistration {
        name,
        program: "human".into(),
        model: "human".into(),
        task_description: "the person watching the demo".into(),
    };
    match mb.register_agent(project, &reg(Some("Human".into()))) {
        Ok(info) => info.name,
        Err(_) => mb
            .register_agent(project, &reg(None))
            .map(|i| i.name)
            .unwrap_or_else(|_| "Human".into()),
    }
}

struct LiveView<'a> {
    coord: &'a gaffer_coordinator::SessionCoordinator,
    titles: &'a BTreeMap<String, String>,
    records: &'a [AssignmentRecord],
    seen: &'a Seen,
    ledger: &'a Ledger,
    socket: &'a str,
    dir: &'a Path,
    mail: &'a str,
    elapsed: Duration,
    tasks: &'a [&'static str],
}

const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

fn status_color(s: AgentStatus) -> &'static str {
    match s {
        AgentStatus::Waiting => "\x1b[32m",
        AgentStatus::Generating | AgentStatus::Thinking => "\x1b[36m",
        AgentStatus::RateLimited | AgentStatus::Blocked => "\x1b[33m",
        AgentStatus::Error | AgentStatus::Stalled | AgentStatus::Exited => "\x1b[31m",
        AgentStatus::Unknown => "\x1b[2m",
    }
}

/// Redraws the live view in place.
fn draw(v: &LiveView<'_>) {
    let mut lines: Vec<String> = Vec::new();
    lines.push(format!(
        "{BOLD}gaffer demo{RESET} · {:>4.1}s · tmux -L {} (session {SESSION}) · mailbox {}",
        v.elapsed.as_secs_f64(),
        v.socket,
        v.mail
    ));
    lines.push(format!("{DIM}project {}{RESET}", v.dir.display()));
    lines.push(String::new());
    let quality = v.ledger.quality_monitor(false).ok();
    lines.push(format!(
        "{BOLD}{:<6} {:<14} {:<13} {:<7} {:>4}  {:<18}{RESET}",
        "PANE", "AGENT", "STATE", "TASK", "DONE", "TESTS"
    ));
    for (pane, a) in v.coord.get_agents() {
        let done = v
            .records
            .iter()
            .filter(|r| r.assignment.agent_pane_id == pane && r.state == AssignmentState::Done)
            .count();
        let tests = quality
            .as_ref()
            .map(|q| {
                let (p, f) = q
                    .test_runs()
                    .filter(|t| t.agent_pane_id == pane)
                    .fold((0, 0), |(p, f), t| (p + t.passed, f + t.failed));
                if p + f == 0 {
                    "-".to_string()
                } else {
                    format!("{p} passed, {f} failed")
                }
            })
            .unwrap_or_default();
        let title = v.titles.get(&pane).cloned().unwrap_or_default();
        let title = title.split("__").nth(1).unwrap_or(&title).to_string();
        let task = if a.current_task.is_empty() {
            "-".to_string()
        } else {
            a.current_task.clone()
        };
        lines.push(format!(
            "{:<6} {:<14} {}{:<13}{RESET} {:<7} {:>4}  {:<18}",
            pane,
            title,
            status_color(a.status),
            a.status.as_str(),
            task,
            done,
            tests
        ));
    }
    lines.push(String::new());
    let done: BTreeSet<&str> = v
        .records
        .iter()
        .filter(|r| r.state == AssignmentState::Done)
        .map(|r| r.assignment.bead_id.as_str())
        .collect();
    let working = v.records.iter().filter(|r| r.state.is_active()).count();
    let n = v.tasks.len();
    let k = v.tasks.iter().filter(|t| done.contains(*t)).count();
    let bar: String = (0..n)
        .map(|i| if i < k { '█' } else { '░' })
        .collect::<String>();
    lines.push(format!(
        "{BOLD}PROGRESS{RESET}   {bar} {k}/{n} tasks done · {working} in progress"
    ));
    let detected = v.seen.count("conflict_detected");
    let asked = v.seen.count("conflict_release_requested");
    let resolved = v.seen.count("conflict_resolved");
    let conflict_line = v
        .seen
        .events
        .iter()
        .rev()
        .find(|e| e.event_type.as_str() == "conflict_detected")
        .map(|e| {
            format!(
                " · last: {} between {}",
                e.details
                    .get("pattern")
                    .and_then(|x| x.as_str())
                    .unwrap_or(""),
                e.details
                    .get("holders")
                    .map(|h| h.to_string())
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    lines.push(format!(
        "{BOLD}CONFLICTS{RESET}  {detected} caught and notified · {asked} release requested · {resolved} resolved{conflict_line}"
    ));
    let limited: Vec<String> = v
        .coord
        .get_agents()
        .into_iter()
        .filter(|(_, a)| a.status == AgentStatus::RateLimited)
        .map(|(p, _)| {
            let t = v.titles.get(&p).cloned().unwrap_or(p);
            t.split("__").nth(1).unwrap_or(&t).to_string()
        })
        .collect();
    let limits = if limited.is_empty() {
        format!(
            "none now ({} limit hit so far)",
            v.seen.count("agent_rate_limited")
        )
    } else {
        format!(
            "{} rate-limited: no work until the announced reset",
            limited.join(", ")
        )
    };
    lines.push(format!("{BOLD}LIMITS{RESET}     {limits}"));
    lines.push(format!(
        "{BOLD}DIGESTS{RESET}    {} sent",
        v.seen.count("digest_sent")
    ));
    lines.push(String::new());
    lines.push(format!("{BOLD}EVENTS{RESET}"));
    let interesting: Vec<&CoordinatorEvent> = v
        .seen
        .events
        .iter()
        .filter(|e| {
            !matches!(
                e.event_type.as_str(),
                "agent_busy" | "agent_idle" | "agent_recovered"
            ) || e.agent_id.is_empty()
        })
        .collect();
    let agents = v.coord.get_agents();
    let short = |pane: &str| {
        v.titles
            .get(pane)
            .map(|t| t.split("__").nth(1).unwrap_or(t).to_string())
            .unwrap_or_else(|| pane.to_string())
    };
    for e in interesting
        .iter()
        .skip(interesting.len().saturating_sub(12))
    {
        let mut line = crate::commands::coordinate::describe(e);
        if v.titles.contains_key(&e.agent_id) {
            line = line.replacen(&e.agent_id, &short(&e.agent_id), 1);
        }
        // Agent Mail names, with the pane they belong to.
        for (pane, a) in &agents {
            if !a.agent_mail_name.is_empty() {
                line = line.replace(
                    &a.agent_mail_name,
                    &format!("{} ({})", a.agent_mail_name, short(pane)),
                );
            }
        }
        lines.push(format!("  {}", line.chars().take(150).collect::<String>()));
    }
    lines.push(String::new());
    lines.push(format!(
        "{DIM}Ctrl-C stops and cleans up · watch the panes: tmux -L {} attach -t {SESSION}{RESET}",
        v.socket
    ));
    let mut s = String::from("\x1b[H");
    for l in lines {
        s.push_str(&l);
        s.push_str("\x1b[K\r\n");
    }
    s.push_str("\x1b[J");
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(s.as_bytes());
    let _ = out.flush();
}

struct Summarize<'a> {
    ledger: &'a Ledger,
    mailbox: &'a dyn Mailbox,
    project: &'a str,
    human: &'a str,
    titles: &'a BTreeMap<String, String>,
    limited_pane: &'a str,
    tasks: &'a [&'static str],
    final_digest: Option<&'a gaffer_core::digest::DigestSummary>,
}

struct Summary {
    ok: bool,
    json: Value,
}

fn detail_str(e: &CoordinatorEvent, k: &str) -> String {
    e.details
        .get(k)
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_string()
}

/// Checks the run against its expectations, from the ledger, its event log and the mailbox.
fn summarize(s: &Summarize<'_>) -> Summary {
    let records = s.ledger.all().unwrap_or_default();
    let events: Vec<CoordinatorEvent> = s
        .ledger
        .events_since(0)
        .map(|(v, _)| v.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default();
    let count = |k: &str| events.iter().filter(|e| e.event_type.as_str() == k).count();
    let mut checks: Vec<(&str, bool, String)> = Vec::new();

    // Every task assigned exactly once and completed.
    let assigned: BTreeMap<String, usize> = events
        .iter()
        .filter(|e| e.event_type.as_str() == "work_assigned")
        .fold(BTreeMap::new(), |mut m, e| {
            *m.entry(detail_str(e, "bead_id")).or_insert(0) += 1;
            m
        });
    let done: BTreeMap<&str, &AssignmentRecord> = records
        .iter()
        .filter(|r| r.state == AssignmentState::Done)
        .map(|r| (r.assignment.bead_id.as_str(), r))
        .collect();
    let not_once: Vec<String> = s
        .tasks
        .iter()
        .filter(|t| assigned.get(**t).copied().unwrap_or(0) != 1)
        .map(|t| format!("{t}×{}", assigned.get(*t).copied().unwrap_or(0)))
        .collect();
    checks.push((
        "every_task_assigned_once",
        not_once.is_empty(),
        if not_once.is_empty() {
            format!("{} tasks, one assignment each", s.tasks.len())
        } else {
            format!("not assigned exactly once: {}", not_once.join(", "))
        },
    ));
    let open: Vec<&str> = s
        .tasks
        .iter()
        .copied()
        .filter(|t| !done.contains_key(t))
        .collect();
    checks.push((
        "every_task_completed",
        open.is_empty(),
        if open.is_empty() {
            "all done in the ledger".into()
        } else {
            format!("not done: {}", open.join(", "))
        },
    ));
    // Dependents were assigned only after their blockers were done.
    let mut early = Vec::new();
    for b in BEADS.iter().filter(|b| !b.blocked_by.is_empty()) {
        let Some(rec) = done.get(b.id) else { continue };
        for blocker in b.blocked_by {
            if let Some(br) = done.get(blocker) {
                if rec.created_at < br.updated_at {
                    early.push(format!("{} before {}", b.id, blocker));
                }
            }
        }
    }
    checks.push((
        "dependents_after_blockers",
        early.is_empty(),
        if early.is_empty() {
            "each dependent was assigned after its blockers were done".into()
        } else {
            early.join(", ")
        },
    ));
    // The conflict: caught, every holder notified, a release negotiated.
    let conflicts: Vec<&CoordinatorEvent> = events
        .iter()
        .filter(|e| e.event_type.as_str() == "conflict_detected")
        .collect();
    let mut holders: BTreeSet<String> = BTreeSet::new();
    for c in &conflicts {
        if let Some(hs) = c.details.get("holders").and_then(|h| h.as_array()) {
            holders.extend(hs.iter().filter_map(|h| h.as_str().map(str::to_string)));
        }
    }
    let query = InboxQuery {
        limit: 200,
        urgent_only: false,
        include_bodies: false,
    };
    let notified: Vec<String> = holders
        .iter()
        .filter(|h| {
            s.mailbox
                .fetch_inbox(s.project, h, &query)
                .map(|m| {
                    m.iter()
                        .any(|x| x.subject.contains("Reservation Conflict Detected"))
                })
                .unwrap_or(false)
        })
        .cloned()
        .collect();
    let negotiated = count("conflict_release_requested");
    checks.push((
        "conflict_caught_notified_negotiated",
        !conflicts.is_empty() && notified.len() == holders.len() && negotiated > 0,
        format!(
            "{} detected; holders {:?}, notified {:?}; {} release request(s); {} resolved",
            conflicts.len(),
            holders,
            notified,
            negotiated,
            count("conflict_resolved")
        ),
    ));
    // The rate-limited agent got no work while limited.
    let mut windows: Vec<(Timestamp, Option<Timestamp>)> = Vec::new();
    for e in events.iter().filter(|e| e.agent_id == s.limited_pane) {
        let new = detail_str(e, "new_status");
        if e.event_type.as_str() == "agent_rate_limited" {
            windows.push((e.timestamp, None));
        } else if !new.is_empty() && new != "RATE_LIMITED" {
            if let Some(w) = windows.last_mut().filter(|w| w.1.is_none()) {
                w.1 = Some(e.timestamp);
            }
        }
    }
    let during: Vec<String> = events
        .iter()
        .filter(|e| e.event_type.as_str() == "work_assigned" && e.agent_id == s.limited_pane)
        .filter(|e| {
            windows
                .iter()
                .any(|(from, to)| e.timestamp >= *from && to.is_none_or(|t| e.timestamp < t))
        })
        .map(|e| detail_str(e, "bead_id"))
        .collect();
    let after = events
        .iter()
        .filter(|e| e.event_type.as_str() == "work_assigned" && e.agent_id == s.limited_pane)
        .count();
    checks.push((
        "rate_limited_agent_left_alone",
        !windows.is_empty() && during.is_empty(),
        format!(
            "{} limit window(s); assigned while limited: {:?}; assigned after recovery: {}",
            windows.len(),
            during,
            after
        ),
    ));
    // Digests: sent, and the count in the log is the count in the human's inbox.
    let digests = count("digest_sent");
    let inbox = s
        .mailbox
        .fetch_inbox(s.project, s.human, &query)
        .map(|m| {
            m.iter()
                .filter(|x| x.subject.starts_with("Session Digest"))
                .count()
        })
        .unwrap_or(0);
    checks.push((
        "digests_sent",
        digests > 0 && digests == inbox,
        format!(
            "{digests} digest_sent event(s); {inbox} digest(s) in {}'s inbox",
            s.human
        ),
    ));
    // Test results: one run recorded per completed task.
    let quality = s.ledger.quality_monitor(false).ok();
    let runs: Vec<gaffer_core::quality::TestRunMetrics> = quality
        .as_ref()
        .map(|q| q.test_runs().cloned().collect())
        .unwrap_or_default();
    checks.push((
        "test_results_recorded",
        runs.len() >= done.len() && !runs.is_empty(),
        format!(
            "{} test run(s) for {} completed task(s)",
            runs.len(),
            done.len()
        ),
    ));

    let agents: Vec<Value> = s
        .titles
        .iter()
        .map(|(pane, title)| {
            let mine: Vec<&str> = records
                .iter()
                .filter(|r| r.assignment.agent_pane_id == *pane && r.state == AssignmentState::Done)
                .map(|r| r.assignment.bead_id.as_str())
                .collect();
            let (p, f) = runs
                .iter()
                .filter(|t| t.agent_pane_id == *pane)
                .fold((0, 0), |(p, f), t| (p + t.passed, f + t.failed));
            json!({
                "pane_id": pane,
                "title": title,
                "agent_type": title.split("__").nth(1).and_then(|t| t.split('_').next()).unwrap_or(""),
                "completed": mine,
                "tests_passed": p,
                "tests_failed": f,
                "rate_limited": pane == s.limited_pane,
            })
        })
        .collect();
    let ok = checks.iter().all(|c| c.1);
    let expectations: Value = checks
        .iter()
        .map(|(k, ok, d)| (k.to_string(), json!({"ok": ok, "detail": d})))
        .collect::<serde_json::Map<String, Value>>()
        .into();
    let final_work = s.final_digest.and_then(|d| d.work_summary.clone());
    let json = json!({
        "assigned": count("work_assigned"),
        "completed": done.len(),
        "tasks": s.tasks.len(),
        "conflicts_detected": conflicts.len(),
        "conflicts_notified": notified.len(),
        "release_requests": negotiated,
        "conflicts_resolved": count("conflict_resolved"),
        "digests_sent": digests,
        "digest_recipient": s.human,
        "final_digest_work": final_work,
        "final_digest_test_runs": s.final_digest.and_then(|d| d.quality.as_ref()).map(|q| q.total_test_runs),
        "test_runs": runs.len(),
        "tests_passed": runs.iter().map(|t| t.passed).sum::<i64>(),
        "tests_failed": runs.iter().map(|t| t.failed).sum::<i64>(),
        "rate_limited_agent": s.limited_pane,
        "stalls": events.iter().filter(|e| e.event_type.as_str() == "assignment_refused").count(),
        "events": events.len(),
        "agents": agents,
        "expectations": expectations,
    });
    Summary { ok, json }
}

pub(crate) fn print_summary(out: &Value, keep: bool) {
    use std::io::IsTerminal;
    let g = |k: &str| out.get(k).cloned().unwrap_or(Value::Null);
    let (bold, reset) = if std::io::stdout().is_terminal() {
        (BOLD, RESET)
    } else {
        ("", "")
    };
    println!();
    println!(
        "{bold}gaffer demo: {}{reset} in {}s",
        if g("ok") == json!(true) {
            "every expectation met"
        } else if g("interrupted") == json!(true) {
            "interrupted"
        } else {
            "some expectations were NOT met"
        },
        g("duration_secs")
    );
    println!(
        "  {} assignments, {}/{} tasks completed, {} test runs ({} passed, {} failed)",
        g("assigned"),
        g("completed"),
        g("tasks"),
        g("test_runs"),
        g("tests_passed"),
        g("tests_failed")
    );
    println!(
        "  {} conflict(s) caught, {} holder(s) notified, {} release request(s), {} resolved",
        g("conflicts_detected"),
        g("conflicts_notified"),
        g("release_requests"),
        g("conflicts_resolved")
    );
    println!(
        "  {} digest(s) sent to {}",
        g("digests_sent"),
        g("digest_recipient").as_str().unwrap_or("")
    );
    if let Some(agents) = out.get("agents").and_then(|a| a.as_array()) {
        for a in agents {
            println!(
                "  {:<16} completed {:<28} tests {} passed, {} failed{}",
                a["title"].as_str().unwrap_or(""),
                a["completed"].to_string(),
                a["tests_passed"],
                a["tests_failed"],
                if a["rate_limited"] == json!(true) {
                    " (was rate-limited)"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(exp) = out.get("expectations").and_then(|e| e.as_object()) {
        for (k, v) in exp {
            let mark = if v["ok"] == json!(true) {
                "ok  "
            } else {
                "FAIL"
            };
            println!("  {mark} {k}: {}", v["detail"].as_str().unwrap_or_default());
        }
    }
    if keep {
        println!(
            "  ledger: {} (try: gaffer --project {} watch --from-start --exit-after 1)",
            g("ledger").as_str().unwrap_or(""),
            g("project_dir").as_str().unwrap_or("")
        );
    } else {
        println!("  the demo project was removed; run with --keep to keep its ledger");
    }
}
