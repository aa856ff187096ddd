//! gaffer-sim: draws a simulated Claude Code, Codex or Gemini CLI in the terminal it runs in.
//! See README.md for the command line and the script format.

use clap::Parser;
use gaffer_sim::{Action, Agent, Decoder, Hook, Sim, SimState, Step, parse_script};
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

/// Simulated coding agent for tests and demos.
#[derive(Debug, Parser)]
#[command(name = "gaffer-sim", version, about)]
struct Args {
    /// Which agent to draw: cc (Claude Code), cod (Codex), gmi (Gemini CLI).
    #[arg(long, default_value = "cc")]
    agent: String,
    /// Seconds of work for each prompt (after the script is used up).
    #[arg(long, default_value_t = 3.0)]
    work_secs: f64,
    /// State to start in: waiting, thinking, generating, blocked, rate-limited, error, exit.
    #[arg(long)]
    start_state: Option<String>,
    /// Seconds to hold the start state (default: until a prompt or an answer).
    #[arg(long)]
    start_secs: Option<f64>,
    /// A script file: one `<state> [seconds]` per line, run after the start state.
    #[arg(long)]
    script: Option<PathBuf>,
    /// Percent of context left at start (the footer shrinks as it works).
    #[arg(long, default_value_t = 45)]
    context_left: u32,
    /// Append each received prompt as a JSON line to this file.
    #[arg(long)]
    log: Option<PathBuf>,
    /// Append each state change as a JSON line to this file.
    #[arg(long)]
    state_log: Option<PathBuf>,
    /// A shell command run (in order, in the background) when a turn for a prompt that names a
    /// bead (`gaffer assigned you <BEAD>`) ends; repeatable. Placeholders: {bead}, {pane},
    /// {name}, {passed}, {failed}, each shell-quoted.
    #[arg(long, value_name = "CMD")]
    on_done: Vec<String>,
    /// The shell command a script's `reserve PATTERN` step runs. Placeholders: {pattern},
    /// {pane}, {name}, {bead}.
    #[arg(long, value_name = "CMD")]
    reserve_cmd: Option<String>,
    /// The shell command a script's `release PATTERN` step runs (same placeholders).
    #[arg(long, value_name = "CMD")]
    release_cmd: Option<String>,
    /// Tests this agent reports failing in {failed} (the {passed} count grows per task).
    #[arg(long, default_value_t = 0)]
    failing_tests: u32,
    /// Append each command run (hooks, --on-done) with its exit status as a JSON line.
    #[arg(long)]
    cmd_log: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gaffer-sim: {e}");
            ExitCode::from(2)
        }
    }
}

fn now_rfc3339() -> String {
    gaffer_core::time::format_rfc3339(&chrono::Utc::now())
}

fn append_json(path: &Path, value: &serde_json::Value) {
    let line = format!("{value}\n");
    match OpenOptions::new().create(true).append(true).open(path) {
        Ok(mut f) => {
            if let Err(e) = f.write_all(line.as_bytes()) {
                eprintln!("gaffer-sim: cannot write {}: {e}", path.display());
            }
        }
        Err(e) => eprintln!("gaffer-sim: cannot open {}: {e}", path.display()),
    }
}

fn run(args: Args) -> Result<(), String> {
    let agent: Agent = args.agent.parse()?;
    if !(args.work_secs.is_finite() && args.work_secs >= 0.0) {
        return Err("--work-secs must be a non-negative number".into());
    }
    let mut steps: Vec<Step> = Vec::new();
    if let Some(s) = &args.start_state {
        let state: SimState = s.parse()?;
        steps.push(Step::state(state, args.start_secs));
    }
    if let Some(path) = &args.script {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read script {}: {e}", path.display()))?;
        steps.extend(parse_script(&text).map_err(|e| format!("{}: {e}", path.display()))?);
    }

    let mut sim = Sim::new(agent, args.work_secs, args.context_left);
    sim.script = steps;
    let clock = Instant::now();
    let now = || clock.elapsed().as_secs_f64();
    if !sim.script.is_empty() {
        sim.next_step(now());
    }
    let mut done_count: u32 = 0;

    let mut term = Terminal::open();
    term.write(b"\x1b[?1049h\x1b[?2004h\x1b[?25l\x1b[2J");
    let mut decoder = Decoder::new();
    let mut last_frame: Vec<String> = Vec::new();
    let mut last_logged_state: Option<SimState> = None;
    let mut buf = vec![0u8; 65536];
    let mut exit = false;
    while !exit {
        if sim.changed {
            sim.changed = false;
            if last_logged_state != Some(sim.state) {
                last_logged_state = Some(sim.state);
                if let Some(p) = &args.state_log {
                    append_json(
                        p,
                        &serde_json::json!({"state": sim.state.name(), "at": now_rfc3339()}),
                    );
                }
            }
        }
        if sim.state == SimState::Exit {
            break;
        }
        let (cols, rows) = term.size();
        let frame = sim.render(cols, rows, now());
        if frame != last_frame {
            term.draw(&frame);
            last_frame = frame;
        }
        let events = match term.read(&mut buf, 50) {
            ReadResult::Data(n) => decoder.feed(&buf[..n], false),
            ReadResult::Timeout if decoder.pending() => decoder.feed(&[], true),
            ReadResult::Timeout => Vec::new(),
            ReadResult::Eof => break,
        };
        for ev in events {
            let action = sim.key(ev, now());
            exit |= handle(&args, &sim, action);
        }
        if sim.tick(now()) == Action::Exit {
            exit = true;
        }
        run_hooks(&args, &mut sim, &mut done_count);
    }
    term.write(b"\x1b[?2004l\x1b[?25h\x1b[?1049l");
    let bye = sim.goodbye().join("\r\n");
    term.write(format!("{bye}\r\n").as_bytes());
    if let Some(p) = &args.state_log {
        append_json(
            p,
            &serde_json::json!({"state": SimState::Exit.name(), "at": now_rfc3339()}),
        );
    }
    drop(term);
    Ok(())
}

fn handle(args: &Args, sim: &Sim, action: Action) -> bool {
    match action {
        Action::None => false,
        Action::Exit => true,
        Action::Submitted { text, queued } => {
            if let Some(p) = &args.log {
                append_json(
                    p,
                    &serde_json::json!({
                        "agent": args.agent,
                        "prompt": text,
                        "bytes": text.len(),
                        "queued": queued,
                        "n": sim.prompts,
                        "at": now_rfc3339(),
                    }),
                );
            }
            sim.state == SimState::Exit
        }
    }
}

/// Quotes a value for `sh -c`.
fn shell_quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "'\\''"))
}

/// Replaces `{key}` placeholders with shell-quoted values.
fn fill(template: &str, vars: &[(&str, String)]) -> String {
    let mut out = template.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), &shell_quote(v));
    }
    out
}

/// Runs the hooks and `--on-done` commands the simulated agent reached, in order, on a
/// background thread (the screen keeps drawing).
fn run_hooks(args: &Args, sim: &mut Sim, done_count: &mut u32) {
    let pane = std::env::var("TMUX_PANE").unwrap_or_default();
    let name = sim.mail_name.clone().unwrap_or_else(|| pane.clone());
    let bead = sim.current_bead.clone().unwrap_or_default();
    let mut cmds: Vec<String> = Vec::new();
    for hook in sim.hooks.drain(..) {
        let (template, pattern) = match hook {
            Hook::Reserve(p) => (&args.reserve_cmd, p),
            Hook::Release(p) => (&args.release_cmd, p),
        };
        if let Some(t) = template {
            cmds.push(fill(
                t,
                &[
                    ("pattern", pattern),
                    ("pane", pane.clone()),
                    ("name", name.clone()),
                    ("bead", bead.clone()),
                ],
            ));
        }
    }
    for finished in sim.finished.drain(..) {
        *done_count += 1;
        let passed = 10 + 2 * *done_count;
        for t in &args.on_done {
            cmds.push(fill(
                t,
                &[
                    ("bead", finished.clone()),
                    ("pane", pane.clone()),
                    ("name", name.clone()),
                    ("passed", passed.to_string()),
                    ("failed", args.failing_tests.to_string()),
                ],
            ));
        }
    }
    if cmds.is_empty() {
        return;
    }
    let log = args.cmd_log.clone();
    std::thread::spawn(move || {
        for cmd in cmds {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(&cmd)
                .stdin(std::process::Stdio::null())
                .output();
            let (status, stderr) = match out {
                Ok(o) => (
                    o.status.code().unwrap_or(-1),
                    String::from_utf8_lossy(&o.stderr).trim().to_string(),
                ),
                Err(e) => (-1, e.to_string()),
            };
            if let Some(p) = &log {
                append_json(
                    p,
                    &serde_json::json!({"command": cmd, "status": status, "stderr": stderr, "at": now_rfc3339()}),
                );
            }
        }
    });
}

enum ReadResult {
    Data(usize),
    Timeout,
    Eof,
}

/// The controlling terminal: raw mode on stdin (restored on drop), output on stdout.
struct Terminal {
    saved: Option<libc::termios>,
    out: std::io::Stdout,
}

impl Terminal {
    fn open() -> Self {
        let mut saved = None;
        // SAFETY: termios calls on fd 0 with a zeroed, then filled, struct.
        unsafe {
            if libc::isatty(0) == 1 {
                let mut t: libc::termios = std::mem::zeroed();
                if libc::tcgetattr(0, &mut t) == 0 {
                    saved = Some(t);
                    let mut raw = t;
                    raw.c_iflag &= !(libc::BRKINT
                        | libc::ICRNL
                        | libc::INPCK
                        | libc::ISTRIP
                        | libc::IXON
                        | libc::INLCR
                        | libc::IGNCR);
                    raw.c_cflag |= libc::CS8;
                    raw.c_lflag &= !(libc::ECHO | libc::ICANON | libc::IEXTEN | libc::ISIG);
                    raw.c_cc[libc::VMIN] = 0;
                    raw.c_cc[libc::VTIME] = 0;
                    libc::tcsetattr(0, libc::TCSAFLUSH, &raw);
                }
            }
        }
        Terminal {
            saved,
            out: std::io::stdout(),
        }
    }

    fn size(&self) -> (usize, usize) {
        // SAFETY: TIOCGWINSZ fills a winsize struct.
        unsafe {
            let mut ws: libc::winsize = std::mem::zeroed();
            if libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 && ws.ws_row > 0 {
                return (ws.ws_col as usize, ws.ws_row as usize);
            }
        }
        (80, 24)
    }

    fn write(&mut self, bytes: &[u8]) {
        let _ = self.out.write_all(bytes);
        let _ = self.out.flush();
    }

    fn draw(&mut self, frame: &[String]) {
        let mut s = String::with_capacity(frame.len() * 90);
        for (i, line) in frame.iter().enumerate() {
            s.push_str(&format!("\x1b[{};1H{line}\x1b[K", i + 1));
        }
        self.write(s.as_bytes());
    }

    fn read(&mut self, buf: &mut [u8], timeout_ms: i32) -> ReadResult {
        let mut fds = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: poll on one valid pollfd.
        let r = unsafe { libc::poll(&mut fds, 1, timeout_ms) };
        if r <= 0 {
            return ReadResult::Timeout;
        }
        match std::io::stdin().lock().read(buf) {
            Ok(0) => {
                if fds.revents & (libc::POLLHUP | libc::POLLERR) != 0 || self.saved.is_none() {
                    ReadResult::Eof
                } else {
                    ReadResult::Timeout
                }
            }
            Ok(n) => ReadResult::Data(n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => ReadResult::Timeout,
            Err(_) => ReadResult::Eof,
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(t) = self.saved {
            // SAFETY: restores the attributes read in `open`.
            unsafe {
                libc::tcsetattr(0, libc::TCSAFLUSH, &t);
            }
        }
    }
}
