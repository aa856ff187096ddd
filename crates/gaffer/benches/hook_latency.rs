//! The cost of `gaffer hook` as an agent CLI pays it: the whole process, from spawn to exit,
//! with a typical payload (Claude Code's `PreToolUse`, about 1 KB) on stdin, recording into a
//! project's ledger while a coordinator listens on `.gaffer/signals.sock`.
//!
//! `cargo bench -p gaffer --bench hook_latency` prints p50, p99 and max over 400 runs, side by
//! side in one run with two floors: `/bin/true` (the cost of any process) and the same binary
//! refusing at once (no `TMUX_PANE`: start-up without SQLite). It also prints the time from
//! spawn to the coordinator's wake-up. Without `--bench` (as `cargo test --all-targets` runs
//! it) it does a few runs and checks that every one was recorded.

use gaffer_coordinator::signal_store::SignalStore;
use gaffer_coordinator::wake::{SignalSocket, WakeSource};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gaffer");

fn payload(cwd: &Path) -> String {
    format!(
        r#"{{"session_id":"7d3f7a52-0c6b-4c1e-9a57-1f2e3d4c5b6a","transcript_path":"/home/u/.claude/projects/-w-p/7d3f7a52-0c6b-4c1e-9a57-1f2e3d4c5b6a.jsonl","cwd":"{}","permission_mode":"default","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{{"command":"cargo test -p gaffer-core --lib 2>&1 | tail -20","description":"Run the core unit tests and show the summary"}},"tool_use_id":"toolu_01ABCDEFGHIJKLMNOPQRSTUV","padding":"{}"}}"#,
        cwd.display(),
        "x".repeat(600)
    )
}

struct Run {
    exit: Duration,
    wake: Option<Duration>,
}

fn run(
    program: &str,
    args: &[&str],
    cwd: &Path,
    pane: Option<&str>,
    input: &[u8],
    sock: Option<&SignalSocket>,
) -> Run {
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(cwd)
        .env_remove("GAFFER_LOG")
        .env_remove("TMUX_PANE")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(p) = pane {
        c.env("TMUX_PANE", p);
    }
    let t = Instant::now();
    let mut child = c.spawn().expect("spawn");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    let wake = sock.and_then(|s| s.wait(Duration::from_secs(2)).then(|| t.elapsed()));
    let _ = child.wait();
    Run {
        exit: t.elapsed(),
        wake,
    }
}

fn pct(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn report(name: &str, mut v: Vec<Duration>) -> Duration {
    let p50 = pct(&mut v, 0.50);
    let p99 = pct(&mut v, 0.99);
    let max = pct(&mut v, 1.0);
    println!(
        "{name:<44} p50 {:>10}  p99 {:>10}  max {:>10}  (n={})",
        ms(p50),
        ms(p99),
        ms(max),
        v.len()
    );
    p50
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let n = if bench { 400 } else { 5 };
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir(root.join(".gaffer")).expect("mkdir");
    let db = root.join(".gaffer/state.db");
    // The coordinator's connection stays open, as it does while gaffer runs.
    let coordinator = SignalStore::open(&db).expect("ledger");
    let sock = SignalSocket::bind(&root.join(".gaffer/signals.sock")).expect("bind");
    let input = payload(root);
    let args = ["hook", "--agent", "cc", "PreToolUse"];

    // Warm the page cache.
    for _ in 0..3 {
        run(BIN, &args, root, Some("%1"), input.as_bytes(), Some(&sock));
    }
    let before = coordinator.last_seq().expect("seq");
    let (mut floor, mut refuse, mut full, mut wake) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so load on the machine hits all three alike.
    for _ in 0..n {
        floor.push(run("/bin/true", &[], root, None, b"", None).exit);
        refuse.push(run(BIN, &args, root, None, input.as_bytes(), None).exit);
        let r = run(BIN, &args, root, Some("%1"), input.as_bytes(), Some(&sock));
        full.push(r.exit);
        if let Some(w) = r.wake {
            wake.push(w);
        }
    }
    let recorded = coordinator.last_seq().expect("seq") - before;
    println!(
        "gaffer hook, {} payload bytes, {n} runs each ({})",
        input.len(),
        if cfg!(debug_assertions) {
            "debug build"
        } else {
            "release build"
        }
    );
    let f = report("/bin/true (any process)", floor);
    let r = report("gaffer hook, refused at once (no TMUX_PANE)", refuse);
    let h = report("gaffer hook, recorded + coordinator woken", full);
    if !wake.is_empty() {
        report("spawn → coordinator woken", wake.clone());
    }
    println!(
        "ratios of p50: full / refused {:.2}, full / true {:.2}",
        h.as_secs_f64() / r.as_secs_f64().max(1e-9),
        h.as_secs_f64() / f.as_secs_f64().max(1e-9)
    );
    assert_eq!(recorded, n as i64, "every run recorded its signal");
    assert_eq!(wake.len(), n, "every run woke the coordinator");
}
