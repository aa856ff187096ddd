//! Soak and fault run (hardening issue, item 5): many gaffer-sim agents under `gaffer run` with
//! auto-assign over a large beads project, with faults injected on a schedule:
//!
//! - the real Agent Mail server killed and restarted;
//! - tmux panes killed and respawned;
//! - the coordinator killed with SIGKILL mid-round and restarted;
//! - `br` failing, then slow (a wrapper in front of the real `br`);
//! - a full disk under the ledger (a size-limited tmpfs on `.gaffer/`, when this runs as root);
//! - malformed JSONL lines appended to the beads file mid-run.
//!
//! It prints figures a script can read (`soak: …` lines) and exits non-zero when a bead was
//! assigned twice, completed work was lost, or a fault left no event or did not recover.
//!
//! `cargo bench -p gaffer --bench soak -- --minutes 3` (CI runs the 3-minute version);
//! `--minutes 60` for the long run; `--agents`, `--beads`, `--keep` (keep the project).

use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

struct Args {
    /// Run as a benchmark (`cargo bench` passes `--bench`); `cargo test --all-targets` runs
    /// bench binaries without it, and the soak then only says how to run it.
    bench: bool,
    minutes: f64,
    agents: usize,
    beads: usize,
    keep: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        bench: false,
        minutes: 3.0,
        agents: 64,
        beads: 2000,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut val = |name: &str| {
            it.next()
                .ok_or_else(|| format!("{name} needs a value"))
                .and_then(|v| v.parse::<f64>().map_err(|e| format!("{name} {v}: {e}")))
        };
        match arg.as_str() {
            "--minutes" => a.minutes = val("--minutes")?,
            "--agents" => a.agents = val("--agents")? as usize,
            "--beads" => a.beads = val("--beads")? as usize,
            "--keep" => a.keep = true,
            "--bench" => a.bench = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.minutes <= 0.0 || a.agents == 0 || a.beads == 0 {
        return Err("--minutes, --agents and --beads must be positive".into());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("soak: {e}");
            return ExitCode::from(2);
        }
    };
    if !args.bench {
        println!(
            "soak: not run under cargo test; run it with `cargo bench -p gaffer --bench soak -- --minutes 3`"
        );
        return ExitCode::SUCCESS;
    }
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("soak: cannot run: {e}");
            ExitCode::from(2)
        }
    }
}

fn log(start: Instant, msg: &str) {
    println!("[{:>7.1}s] {msg}", start.elapsed().as_secs_f64());
    let _ = std::io::stdout().flush();
}

fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .or_else(|| {
            let home = std::env::var_os("CARGO_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
            let p = home.join("bin").join(name);
            p.is_file().then_some(p)
        })
}

fn sh(cmd: &mut Command) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{:?} {:?} failed: {}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A small deterministic generator (no dependency, same sequence every run).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// The beads of the soak project: tasks in chains with some fan-in, each naming one or two
/// files of 40 modules so reservations overlap now and then.
fn beads_jsonl(n: usize) -> String {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let created = "2026-01-01T00:00:00Z";
    let mut out = String::new();
    for i in 1..=n {
        let id = format!("sk-{i}");
        let m = rng.below(40);
        let f = rng.below(6);
        let title = format!("Task {i}: update src/mod{m}/file{f}.rs");
        let mut deps = Vec::new();
        if i > 20 && rng.below(10) < 3 {
            let d = 1 + rng.below((i - 1) as u64) as usize;
            deps.push(
                serde_json::json!({"issue_id": id, "depends_on_id": format!("sk-{d}"),
                "type": "blocks", "created_at": created, "created_by": "soak"}),
            );
        }
        let line = serde_json::json!({
            "id": id, "title": title,
            "description": format!("Edit src/mod{m}/file{f}.rs and keep the tests green."),
            "status": "open", "priority": rng.below(4), "issue_type": "task",
            "created_at": created, "updated_at": created, "dependencies": deps,
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
}

/// Coordinator process figures from /proc.
#[derive(Default, Clone, Copy)]
struct ProcFigures {
    rss_kb: u64,
    cpu_ticks: u64,
}

fn proc_figures(pid: u32) -> Option<ProcFigures> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rss_kb = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some(ProcFigures {
        rss_kb,
        cpu_ticks: utime + stime,
    })
}

fn ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

struct World {
    dir: PathBuf,
    gaffer: PathBuf,
    socket: String,
    faults: PathBuf,
    path_env: String,
    mail_url: String,
    events: PathBuf,
}

impl World {
    fn tmux(&self, args: &[&str]) -> Result<String, String> {
        sh(Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .env("PATH", &self.path_env))
    }

    fn start_coordinator(&self) -> Result<Child, String> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.events)
            .map_err(|e| format!("{}: {e}", self.events.display()))?;
        let err = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("coordinator.log"))
            .map_err(|e| e.to_string())?;
        Command::new(&self.gaffer)
            .args(["--json", "--project"])
            .arg(&self.dir)
            .arg("run")
            .env("PATH", &self.path_env)
            .env("AGENT_MAIL_URL", &self.mail_url)
            .env("GAFFER_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("starting gaffer run: {e}"))
    }

    fn set_fault(&self, what: &str, mode: &str) {
        let _ = std::fs::write(self.faults.join(what), mode);
    }
}

/// One agent pane's command line.
fn agent_command(w: &World, sim: &Path, kind: &str, i: usize, work: f64) -> String {
    let q = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let gaffer = format!(
        "{} --project {}",
        q(&w.gaffer.display().to_string()),
        q(&w.dir.display().to_string())
    );
    // An agent reports its work and retries while the report fails (up to ~2 minutes).
    let done = format!(
        "n=0; until {gaffer} done {{bead}} --reason soak >/dev/null 2>&1; do n=$((n+1)); \
         [ $n -ge 40 ] && exit 1; sleep 3; done"
    );
    format!(
        "{} --agent {kind} --work-secs {work:.1} --cmd-log {} --on-done {}",
        q(&sim.display().to_string()),
        q(&w.dir
            .join(format!(".soak/agent{i}.cmds.jsonl"))
            .display()
            .to_string()),
        q(&done),
    )
}

fn kind_of(i: usize, agents: usize) -> &'static str {
    // half Claude, a quarter each Codex and Gemini (32/16/16 at 64)
    if i < agents / 2 {
        "cc"
    } else if i < agents * 3 / 4 {
        "cod"
    } else {
        "gmi"
    }
}

/// Starts every agent: four panes a window, each agent as its pane's own command.
fn start_agents(
    w: &World,
    sim: &Path,
    n: usize,
    work: f64,
) -> Result<(Vec<String>, Vec<String>), String> {
    let mut titles = Vec::new();
    let mut panes: Vec<String> = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for i in 0..n {
        let kind = kind_of(i, n);
        let idx = {
            let c = counts.entry(kind).or_insert(0);
            *c += 1;
            *c
        };
        let title = format!("soak__{kind}_{idx}");
        let cmd = agent_command(w, sim, kind, i, work);
        let dir = w.dir.display().to_string();
        let id = if i == 0 {
            w.tmux(&[
                "new-session",
                "-d",
                "-s",
                "soak",
                "-x",
                "160",
                "-y",
                "48",
                "-c",
                &dir,
                "-P",
                "-F",
                "#{pane_id}",
                &cmd,
            ])?
        } else if i % 4 == 0 {
            w.tmux(&[
                "new-window",
                "-t",
                "=soak:",
                "-c",
                &dir,
                "-P",
                "-F",
                "#{pane_id}",
                &cmd,
            ])?
        } else {
            let last = panes.last().cloned().unwrap_or_default();
            let id = w.tmux(&[
                "split-window",
                "-t",
                &last,
                "-c",
                &dir,
                "-P",
                "-F",
                "#{pane_id}",
                &cmd,
            ])?;
            let _ = w.tmux(&["select-layout", "-t", &last, "tiled"]);
            id
        };
        let id = id.trim().to_string();
        let _ = w.tmux(&["set-option", "-p", "-t", &id, "allow-set-title", "off"]);
        w.tmux(&["select-pane", "-t", &id, "-T", &title])?;
        w.tmux(&["set-option", "-p", "-t", &id, "@gaffer_title", &title])?;
        panes.push(id);
        titles.push(title);
    }
    Ok((panes, titles))
}

/// What the ledger says at the end.
struct LedgerFigures {
    records: Vec<AssignmentRecord>,
    double: Vec<String>,
    done: BTreeSet<String>,
    /// The fleet benchmark's figures, from the same ledger.
    fleet: gaffer_coordinator::fleet::FleetFigures,
}

fn ledger_figures(path: &Path) -> Result<LedgerFigures, String> {
    let ledger = Ledger::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let records = ledger.all().map_err(|e| e.to_string())?;
    let fleet = gaffer_coordinator::fleet::from_ledger(&ledger).map_err(|e| e.to_string())?;
    let mut by_bead: BTreeMap<&str, Vec<&AssignmentRecord>> = BTreeMap::new();
    for r in &records {
        by_bead
            .entry(r.assignment.bead_id.as_str())
            .or_default()
            .push(r);
    }
    let mut double = Vec::new();
    for (bead, rs) in &by_bead {
        let done = rs
            .iter()
            .filter(|r| r.state == AssignmentState::Done)
            .count();
        let active = rs.iter().filter(|r| r.state.is_active()).count();
        if done > 1 || active > 1 || (done >= 1 && active >= 1) {
            double.push((*bead).to_string());
        }
    }
    let done = records
        .iter()
        .filter(|r| r.state == AssignmentState::Done)
        .map(|r| r.assignment.bead_id.clone())
        .collect();
    Ok(LedgerFigures {
        records,
        double,
        done,
        fleet,
    })
}

/// Assignments made and beads done per 5-minute slice from the coordinator's first start.
fn slices(
    records: &[AssignmentRecord],
    from: chrono::DateTime<chrono::Utc>,
    wall_secs: f64,
) -> Vec<String> {
    const SLICE: i64 = 300;
    let n = ((wall_secs / SLICE as f64).ceil() as usize).max(1);
    let slot = |t: &chrono::DateTime<chrono::Utc>| {
        let secs = (*t - from).num_seconds().max(0);
        ((secs / SLICE) as usize).min(n - 1)
    };
    let mut made = vec![0usize; n];
    let mut done = vec![0usize; n];
    for r in records {
        made[slot(&r.created_at)] += 1;
        if r.state == AssignmentState::Done {
            done[slot(&r.updated_at)] += 1;
        }
    }
    (0..n)
        .map(|i| {
            format!(
                "soak: slice {:>3}-{:<3} min assigned={:>4} done={:>4}",
                i * 5,
                (i + 1) * 5,
                made[i],
                done[i]
            )
        })
        .collect()
}

/// The compactions the ledger's events record: commands sent, agents they went to, and how
/// many were seen done (`agent_compacted`).
fn compactions(path: &Path) -> String {
    let Ok(ledger) = Ledger::open(path) else {
        return "soak: compactions unknown (ledger unreadable)".into();
    };
    let mut sent = 0usize;
    let mut done = 0usize;
    let mut agents = BTreeSet::new();
    let mut cursor = 0;
    loop {
        let Ok(page) = ledger.events_page(cursor, 5000) else {
            break;
        };
        for (_, e) in &page.events {
            match e.event_type.as_str() {
                "agent_compacting" => {
                    sent += 1;
                    agents.insert(e.agent_id.clone());
                }
                "agent_compacted" => done += 1,
                _ => {}
            }
        }
        if page.rows < 5000 {
            break;
        }
        cursor = page.last_id;
    }
    format!(
        "soak: compactions sent={sent} agents={} compacted={done}",
        agents.len()
    )
}

/// Beads the agents reported done (their `gaffer done` exited 0), from the sims' command logs.
fn reported_done(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let Ok(rd) = std::fs::read_dir(dir.join(".soak")) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(f) = std::fs::File::open(e.path()) else {
            continue;
        };
        for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let cmd = v["command"].as_str().unwrap_or_default();
            let ok = v["status"].as_i64() == Some(0);
            if ok && cmd.contains(" done ") {
                if let Some(b) = cmd
                    .split_whitespace()
                    .find(|w| w.trim_matches('\'').starts_with("sk-"))
                {
                    out.insert(b.trim_matches('\'').to_string());
                }
            }
        }
    }
    out
}

/// Events seen on `gaffer run --json`'s stdout, by type, with their times.
fn events(path: &Path) -> Vec<(String, f64)> {
    let Ok(f) = std::fs::File::open(path) else {
        return Vec::new();
    };
    std::io::BufReader::new(f)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter_map(|v| {
            let t = v["type"].as_str()?.to_string();
            let at = v["timestamp"]
                .as_str()
                .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                .map(|d| d.timestamp_millis() as f64 / 1000.0)
                .unwrap_or(0.0);
            Some((t, at))
        })
        .collect()
}

/// The ledger's disk: bytes free, and the sizes of the database and its write-ahead log.
fn ledger_disk(dir: &Path) -> String {
    let g = dir.join(".gaffer");
    let size = |name: &str| {
        std::fs::metadata(g.join(name))
            .map(|m| m.len() / 1024)
            .unwrap_or(0)
    };
    format!(
        "ledger disk: {} kB free, state.db {} kB, state.db-wal {} kB",
        gaffer_coordinator::disk::available_bytes(&g).unwrap_or(0) / 1024,
        size("state.db"),
        size("state.db-wal")
    )
}

fn now_secs() -> f64 {
    chrono::Utc::now().timestamp_millis() as f64 / 1000.0
}

/// One injected fault: when it started, when it ended, the event types that show it and the
/// ones that show recovery.
struct Fault {
    name: &'static str,
    start: f64,
    end: f64,
    shows: &'static [&'static str],
    recovers: &'static [&'static str],
    note: String,
}

fn run(args: &Args) -> Result<bool, String> {
    let start = Instant::now();
    let root = workspace_root();
    let gaffer = PathBuf::from(env!("CARGO_BIN_EXE_gaffer"));
    let profile_dir = gaffer
        .parent()
        .map(Path::to_path_buf)
        .ok_or("no target dir")?;
    let release = profile_dir.ends_with("release");
    log(start, "building gaffer-sim");
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build
        .args(["build", "-q", "-p", "gaffer-sim", "--bin", "gaffer-sim"])
        .current_dir(&root);
    if release {
        build.arg("--release");
    }
    sh(&mut build)?;
    let sim = profile_dir.join("gaffer-sim");
    let real_br = which("br").ok_or("br is not installed (scripts/install-br.sh installs it)")?;
    which("tmux").ok_or("tmux is not installed")?;

    let tmp = tempfile::Builder::new()
        .prefix("gaffer-soak-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let dir = tmp.path().join("proj");
    for d in [".beads", ".gaffer", ".soak", "bin", "faults"] {
        let p = if d == "bin" || d == "faults" {
            tmp.path().join(d)
        } else {
            dir.join(d)
        };
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    // The ledger's disk: a 32 MiB tmpfs when we may mount one.
    let tmpfs = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=32m", "tmpfs"])
        .arg(dir.join(".gaffer"))
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _unmount = Unmount(tmpfs.then(|| dir.join(".gaffer")));

    // br, behind a wrapper that fails or is slow on demand.
    let faults = tmp.path().join("faults");
    let wrapper = tmp.path().join("bin/br");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\ncase \"$(cat '{f}/br' 2>/dev/null)\" in\n  fail) echo 'br: injected failure' >&2; exit 1;;\n  slow) sleep 4;;\nesac\nexec '{br}' \"$@\"\n",
            f = faults.display(),
            br = real_br.display()
        ),
    )
    .map_err(|e| e.to_string())?;
    sh(Command::new("chmod").arg("+x").arg(&wrapper))?;
    let path_env = format!(
        "{}:{}",
        tmp.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );

    log(start, &format!("project with {} beads", args.beads));
    sh(Command::new("git").args(["init", "-q"]).current_dir(&dir))?;
    sh(Command::new(&real_br)
        .args(["init", "--prefix", "sk", "--json"])
        .current_dir(&dir)
        .env("RUST_LOG", "error"))?;
    std::fs::write(dir.join(".beads/issues.jsonl"), beads_jsonl(args.beads))
        .map_err(|e| e.to_string())?;
    sh(Command::new(&real_br)
        .args(["sync", "--import-only", "--json"])
        .current_dir(&dir)
        .env("RUST_LOG", "error"))?;

    log(start, "starting the real Agent Mail server");
    let mail = gaffer_testkit::agentmail::AgentMail::start()
        .ok_or("the real Agent Mail server could not be started (scripts/agentmail.sh)")?;
    let socket = format!("gaffer-soak-{}", std::process::id());
    std::fs::write(
        dir.join(".gaffer/config.toml"),
        format!(
            "[tmux]\nsocket_name = \"{socket}\"\nsession = \"soak\"\n\n\
             [coordinator]\npoll_interval = \"1s\"\nidle_threshold = 2.0\n\
             digest_interval = \"30s\"\nauto_assign = true\nsend_digests = false\n\
             conflict_notify = true\n\n[beads]\ntimeout = \"10s\"\n"
        ),
    )
    .map_err(|e| e.to_string())?;
    let world = World {
        dir: dir.clone(),
        gaffer: gaffer.clone(),
        socket: socket.clone(),
        faults: faults.clone(),
        path_env,
        mail_url: mail.url.clone(),
        events: dir.join(".soak-events.jsonl"),
    };
    let _tmux_guard = KillServer(socket.clone());
    // Work per bead so the project lasts about the run: beads / agents turns each.
    let turns = (args.beads as f64 / args.agents as f64).max(1.0);
    let work = (args.minutes * 60.0 * 0.7 / turns).clamp(2.0, 120.0);
    log(
        start,
        &format!(
            "starting {} agents ({:.1} s of work a bead)",
            args.agents, work
        ),
    );
    let (panes, titles) = start_agents(&world, &sim, args.agents, work)?;
    std::thread::sleep(Duration::from_secs(2));
    let coord_started = chrono::Utc::now();
    let mut coord = world.start_coordinator()?;
    let tps = ticks_per_sec();
    let mut rss_start = 0u64;
    let mut rss_peak = 0u64;
    let mut rss_end = 0u64;
    let mut cpu_ticks_done = 0u64; // of killed incarnations
    let mut last_fig = ProcFigures::default();
    let mut rss_samples: Vec<(f64, u64)> = Vec::new();

    // The fault schedule, as fractions of a cycle; a cycle is the whole run up to 10 minutes.
    // Every step is quick: a slow one (restarting Agent Mail) runs on its own thread.
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let cycle = total.min(Duration::from_secs(600)).as_secs_f64();
    let schedule: [(f64, &str); 12] = [
        (0.06, "mail_down"),
        (0.12, "mail_up"),
        (0.22, "pane_exit"),
        (0.27, "pane_back"),
        (0.33, "coord_kill"),
        (0.42, "br_fail"),
        (0.48, "br_slow"),
        (0.54, "br_ok"),
        (0.60, "disk_full"),
        (0.67, "disk_free"),
        (0.75, "jsonl_garbage"),
        (0.99, "end_of_cycle"),
    ];
    let mail = std::sync::Arc::new(mail);
    let mut mail_thread: Option<std::thread::JoinHandle<()>> = None;
    let mut done_steps: BTreeSet<(u64, usize)> = BTreeSet::new();
    let mut faults_log: Vec<Fault> = Vec::new();
    let mut filler: Option<PathBuf> = None;
    // The panes hit by the pane fault: one whose agent exits, one killed outright.
    let exit_idx = 5 % args.agents;
    let kill_idx = (args.agents / 2 + 3) % args.agents;
    let mut panes = panes;
    let t0 = Instant::now();
    let mut next_sample = Instant::now();
    let end_fault = |log: &mut Vec<Fault>, name: &str, at: f64| {
        if let Some(f) = log.iter_mut().rev().find(|f| f.name == name) {
            f.end = at;
        }
    };
    while t0.elapsed() < total {
        std::thread::sleep(Duration::from_millis(250));
        let el = t0.elapsed().as_secs_f64();
        let cyc = (el / cycle) as u64;
        let frac = (el % cycle) / cycle;
        // The coordinator: a dead one is restarted (as a supervisor would).
        if let Ok(Some(st)) = coord.try_wait() {
            log(start, &format!("coordinator exited ({st}); restarting it"));
            cpu_ticks_done += last_fig.cpu_ticks;
            last_fig = ProcFigures::default();
            coord = world.start_coordinator()?;
        }
        if Instant::now() >= next_sample {
            next_sample += Duration::from_secs(2);
            if let Some(f) = proc_figures(coord.id()) {
                if rss_start == 0 && el > 10.0 {
                    rss_start = f.rss_kb;
                }
                rss_peak = rss_peak.max(f.rss_kb);
                rss_end = f.rss_kb;
                rss_samples.push((el, f.rss_kb));
                last_fig = f;
            }
        }
        for (i, (at, step)) in schedule.iter().enumerate() {
            if frac < *at || done_steps.contains(&(cyc, i)) {
                continue;
            }
            // The exited agent stays exited until gaffer has seen it (a poll of 64 panes on a
            // loaded machine can take longer than the scheduled 9 s), up to 60 s.
            if *step == "pane_back" {
                let exited_at = faults_log
                    .iter()
                    .rev()
                    .find(|f| f.name == "agent exited to its shell")
                    .map_or(0.0, |f| f.start);
                let seen = events(&world.events)
                    .iter()
                    .any(|(t, at)| t == "agent_exited" && *at >= exited_at - 5.0);
                if !seen && now_secs() - exited_at < 60.0 {
                    continue;
                }
            }
            done_steps.insert((cyc, i));
            let now = now_secs();
            if *step != "end_of_cycle" {
                log(start, &format!("fault: {step}"));
            }
            match *step {
                "mail_down" => {
                    if let Some(h) = mail_thread.take() {
                        let _ = h.join();
                    }
                    mail.stop();
                    faults_log.push(Fault {
                        name: "agent mail killed",
                        start: now,
                        end: 0.0,
                        shows: &["mail_degraded"],
                        recovers: &["mail_recovered"],
                        note: String::new(),
                    });
                }
                "mail_up" => {
                    // On a loaded machine the server can take minutes to start: up to three
                    // tries of 4 minutes each (a failed one is stopped before the next).
                    let m = std::sync::Arc::clone(&mail);
                    mail_thread = Some(std::thread::spawn(move || {
                        for attempt in 1..=3 {
                            match m.try_restart(Duration::from_secs(240)) {
                                Ok(()) => return,
                                Err(e) => {
                                    let first = e.lines().last().unwrap_or_default().to_string();
                                    println!(
                                        "soak: restarting Agent Mail failed (try {attempt} of 3): {first}"
                                    );
                                }
                            }
                        }
                    }));
                    end_fault(&mut faults_log, "agent mail killed", now);
                }
                "pane_exit" => {
                    // One agent exits to its shell; another pane is killed outright.
                    let _ = world.tmux(&["respawn-pane", "-k", "-t", &panes[exit_idx], "exec sh"]);
                    let _ = world.tmux(&["kill-pane", "-t", &panes[kill_idx]]);
                    faults_log.push(Fault {
                        name: "agent exited to its shell",
                        start: now,
                        end: 0.0,
                        shows: &["agent_exited"],
                        recovers: &["agent_idle", "agent_recovered"],
                        note: String::new(),
                    });
                    faults_log.push(Fault {
                        name: "pane killed",
                        start: now,
                        end: 0.0,
                        shows: &["agent_gone", "agent_exited"],
                        recovers: &["agent_idle", "agent_recovered"],
                        note: String::new(),
                    });
                }
                "pane_back" => {
                    let kind = kind_of(exit_idx, args.agents);
                    let cmd = agent_command(&world, &sim, kind, exit_idx, work);
                    let _ = world.tmux(&["respawn-pane", "-k", "-t", &panes[exit_idx], &cmd]);
                    end_fault(&mut faults_log, "agent exited to its shell", now);
                    // The killed pane comes back as a new pane with the same title.
                    let kind = kind_of(kill_idx, args.agents);
                    let cmd = agent_command(&world, &sim, kind, kill_idx, work);
                    let title = titles[kill_idx].clone();
                    let dir_s = dir.display().to_string();
                    if let Ok(id) = world.tmux(&[
                        "new-window",
                        "-t",
                        "=soak:",
                        "-c",
                        &dir_s,
                        "-P",
                        "-F",
                        "#{pane_id}",
                        &cmd,
                    ]) {
                        let id = id.trim().to_string();
                        let _ =
                            world.tmux(&["set-option", "-p", "-t", &id, "allow-set-title", "off"]);
                        let _ = world.tmux(&["select-pane", "-t", &id, "-T", &title]);
                        let _ =
                            world.tmux(&["set-option", "-p", "-t", &id, "@gaffer_title", &title]);
                        panes[kill_idx] = id;
                    }
                    end_fault(&mut faults_log, "pane killed", now);
                }
                "coord_kill" => {
                    // SIGKILL mid-round; the loop above restarts it at once.
                    // SAFETY: kill(2) on our own child's pid.
                    unsafe {
                        libc::kill(coord.id() as i32, libc::SIGKILL);
                    }
                    faults_log.push(Fault {
                        name: "coordinator SIGKILLed",
                        start: now,
                        end: now + 1.0,
                        shows: &[],
                        recovers: &["work_assigned"],
                        note: String::new(),
                    });
                }
                "br_fail" => {
                    world.set_fault("br", "fail");
                    faults_log.push(Fault {
                        name: "br failing",
                        start: now,
                        end: 0.0,
                        shows: &["work_source_degraded"],
                        recovers: &["work_source_recovered"],
                        note: String::new(),
                    });
                }
                "br_slow" => {
                    world.set_fault("br", "slow");
                    end_fault(&mut faults_log, "br failing", now);
                    faults_log.push(Fault {
                        name: "br slow (4 s a call)",
                        start: now,
                        end: 0.0,
                        shows: &[],
                        recovers: &["work_assigned"],
                        note: String::new(),
                    });
                }
                "br_ok" => {
                    world.set_fault("br", "");
                    end_fault(&mut faults_log, "br slow (4 s a call)", now);
                }
                "disk_full" => {
                    if tmpfs {
                        let f = dir.join(".gaffer/filler");
                        let _ = Command::new("dd")
                            .args(["if=/dev/zero", "bs=1M", "count=64"])
                            .arg(format!("of={}", f.display()))
                            .stderr(Stdio::null())
                            .status();
                        filler = Some(f);
                        log(start, &ledger_disk(&dir));
                    }
                    faults_log.push(Fault {
                        name: "ledger disk full",
                        start: now,
                        end: 0.0,
                        shows: &["ledger_degraded"],
                        recovers: &["ledger_recovered"],
                        note: if tmpfs {
                            String::new()
                        } else {
                            "skipped: mounting a tmpfs needs root".into()
                        },
                    });
                }
                "disk_free" => {
                    if let Some(f) = filler.take() {
                        let _ = std::fs::remove_file(f);
                    }
                    end_fault(&mut faults_log, "ledger disk full", now);
                }
                "jsonl_garbage" => {
                    let mut f = std::fs::OpenOptions::new()
                        .append(true)
                        .open(dir.join(".beads/issues.jsonl"))
                        .map_err(|e| e.to_string())?;
                    let big = "x".repeat(2 << 20);
                    let _ = writeln!(f, "{{\"id\": \"sk-broken\", \"title\": ");
                    let _ = writeln!(f, "not json at all \u{1b}[2J");
                    let _ = writeln!(f, "{{\"id\":\"sk-big\",\"title\":\"{big}\"}}");
                    faults_log.push(Fault {
                        name: "malformed JSONL appended",
                        start: now,
                        end: now,
                        shows: &["beads_malformed"],
                        recovers: &["work_assigned"],
                        note: String::new(),
                    });
                }
                _ => {}
            }
        }
    }
    if let Some(h) = mail_thread.take() {
        let _ = h.join();
    }
    if let Some(f) = proc_figures(coord.id()) {
        rss_end = f.rss_kb;
        last_fig = f;
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu_secs = (cpu_ticks_done + last_fig.cpu_ticks) as f64 / tps;
    log(start, "stopping the coordinator");
    // SAFETY: kill(2) on our own child's pid.
    unsafe {
        libc::kill(coord.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline && coord.try_wait().ok().flatten().is_none() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = coord.kill();
    let _ = coord.wait();
    // Let agents' pending reports land.
    std::thread::sleep(Duration::from_secs(5));

    log(start, &ledger_disk(&dir));
    let lf = ledger_figures(&dir.join(".gaffer/state.db"))?;
    let reported = reported_done(&dir);
    let lost: Vec<&String> = reported.difference(&lf.done).collect();
    let evs = events(&world.events);
    let mut ok = true;
    println!(
        "soak: agents={} beads={} minutes={:.1} ledger_disk={}",
        args.agents,
        args.beads,
        wall / 60.0,
        if tmpfs {
            "tmpfs 32M"
        } else {
            "plain (no root)"
        }
    );
    println!(
        "soak: assignments={} done={} reported_done={}",
        lf.records.len(),
        lf.done.len(),
        reported.len()
    );
    let mut states: BTreeMap<&str, usize> = BTreeMap::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for r in &lf.records {
        *states.entry(r.state.as_str()).or_default() += 1;
        if !r.error.is_empty() {
            let short: String = r.error.chars().take(90).collect();
            *errors.entry(short).or_default() += 1;
        }
    }
    println!("soak: assignment states {states:?}");
    let mut errors: Vec<(String, usize)> = errors.into_iter().collect();
    errors.sort_by_key(|e| std::cmp::Reverse(e.1));
    for (e, n) in errors.iter().take(6) {
        println!("soak: {n:>4} × {e}");
    }
    // Throughput over time: a fleet that drains (agents out of context, never compacted) shows
    // falling slices.
    for line in slices(&lf.records, coord_started, wall) {
        println!("{line}");
    }
    println!("{}", compactions(&dir.join(".gaffer/state.db")));
    println!("soak: double assignments={}", lf.double.len());
    println!("soak: completed work lost={}", lost.len());
    println!(
        "soak: rss start={} kB peak={} kB end={} kB",
        rss_start, rss_peak, rss_end
    );
    println!(
        "soak: cpu coordinator={:.1}% of a core, per agent={:.3}%",
        100.0 * cpu_secs / wall,
        100.0 * cpu_secs / wall / args.agents as f64
    );
    // The fleet benchmark's figures, under its names, from this run's ledger (issue 16, item 4).
    for line in lf.fleet.lines() {
        println!("{line}");
    }
    println!("soak: fleet deliveries={}", lf.fleet.delivered);
    if lf.fleet.double_assignments > 0 {
        ok = false;
        println!(
            "soak: FAIL the fleet figures count {} double assignments",
            lf.fleet.double_assignments
        );
    }
    if !lf.double.is_empty() {
        ok = false;
        println!("soak: FAIL beads assigned twice: {:?}", lf.double);
    }
    if !lost.is_empty() {
        ok = false;
        println!("soak: FAIL completed work lost: {lost:?}");
    }
    for f in &faults_log {
        if !f.note.is_empty() {
            println!("soak: fault {:?}: {}", f.name, f.note);
            continue;
        }
        // An agent's event carries the start of the poll that saw it, which under load can be
        // seconds before the poll ended: an event up to 5 s older than the fault counts.
        let after = |types: &[&str], from: f64| {
            evs.iter()
                .filter(|(t, at)| types.contains(&t.as_str()) && *at >= from - 5.0)
                .map(|(_, at)| at - from)
                .fold(None, |m: Option<f64>, d| Some(m.map_or(d, |m| m.min(d))))
        };
        let shown = if f.shows.is_empty() {
            Some(0.0)
        } else {
            after(f.shows, f.start)
        };
        let end = if f.end > 0.0 { f.end } else { f.start };
        let recovered = after(f.recovers, end);
        let fmt = |o: Option<f64>| o.map_or("never".to_string(), |d| format!("{d:.1}s"));
        println!(
            "soak: fault {:?} event={} recovered={}",
            f.name,
            fmt(shown),
            fmt(recovered)
        );
        if shown.is_none() || recovered.is_none() {
            ok = false;
        }
    }
    if args.keep {
        // The ledger's tmpfs is unmounted on the way out: keep a copy of the ledger.
        let copy = dir.join(".soak/ledger");
        let _ = std::fs::create_dir_all(&copy);
        for name in ["state.db", "state.db-wal", "state.db-shm"] {
            let _ = std::fs::copy(dir.join(".gaffer").join(name), copy.join(name));
        }
        let kept = tmp.keep();
        println!("soak: project kept at {}", kept.display());
    }
    println!("soak: {}", if ok { "PASS" } else { "FAIL" });
    Ok(ok)
}

/// Kills the private tmux server when dropped.
struct KillServer(String);
impl Drop for KillServer {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.0, "kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

/// Unmounts the ledger's tmpfs when dropped.
struct Unmount(Option<PathBuf>);
impl Drop for Unmount {
    fn drop(&mut self) {
        if let Some(p) = &self.0 {
            let _ = Command::new("umount").arg(p).status();
        }
    }
}
