//! Observation cycle cost and state-change latency, on a private tmux socket.
//!
//! `cargo bench -p gaffer-tmux --bench observe` prints, for 8, 32 and 64 agent panes that all
//! print a line every 0.5 s: tmux processes spawned per cycle and CPU per cycle (our process,
//! its children, and the tmux server) for the reference's approach (1 list + 4 per pane) and
//! for ours (batched polling; control mode), measured side by side in one run; then the
//! latency from a pane's change of state to an observation showing it, with the control-mode
//! observer. Without `--bench` (as `cargo test --all-targets` runs it) it does one tiny round.

use gaffer_core::panes::Panes;
use gaffer_tmux::cmd::{Socket, Tmux};
use gaffer_tmux::{TmuxOptions, TmuxPanes};
use std::time::{Duration, Instant};

/// The test kit's private tmux server, killed on drop.
use gaffer_testkit::tmux::TmuxServer as Server;

fn cpu_children_and_self() -> (Duration, Duration) {
    fn tv(t: libc::timeval) -> Duration {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    }
    // SAFETY: getrusage writes into the zeroed struct we pass.
    unsafe {
        let mut c: libc::rusage = std::mem::zeroed();
        let mut s: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut c);
        libc::getrusage(libc::RUSAGE_SELF, &mut s);
        (
            tv(c.ru_utime) + tv(c.ru_stime),
            tv(s.ru_utime) + tv(s.ru_stime),
        )
    }
}

fn server_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|v| v.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|v| v.parse().ok()).unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_micros(ticks * 1_000_000 / hz)
}

const TICKER: &str = "i=0; while :; do i=$((i+1)); echo \"tick $i $(date +%s%N)\"; sleep 0.5; done";

const QUIET: &str = "echo ready; exec sleep 3600";

fn setup(n: usize) -> Result<(Server, u32), String> {
    setup_with(n, TICKER)
}

fn setup_with(n: usize, pane_cmd: &str) -> Result<(Server, u32), String> {
    let server = Server::new("bench");
    let t = &server.tmux;
    let run = |args: &[&str]| t.run(args).map_err(|e| e.to_string());
    let per_window = 8;
    let mut made = 0;
    let mut w = 0;
    while made < n {
        let first = if w == 0 {
            run(&[
                "new-session",
                "-d",
                "-s",
                "b",
                "-x",
                "200",
                "-y",
                "60",
                "-P",
                "-F",
                "#{pane_id}",
                pane_cmd,
            ])?
        } else {
            run(&[
                "new-window",
                "-t",
                "=b:",
                "-P",
                "-F",
                "#{pane_id}",
                pane_cmd,
            ])?
        };
        let mut ids = vec![first.trim().to_string()];
        for _ in 1..per_window.min(n - made) {
            let id = run(&[
                "split-window",
                "-t",
                ids[0].as_str(),
                "-P",
                "-F",
                "#{pane_id}",
                pane_cmd,
            ])?;
            ids.push(id.trim().to_string());
            let _ = run(&["select-layout", "-t", ids[0].as_str(), "tiled"]);
        }
        for id in &ids {
            made += 1;
            let title = format!("b__cc_{made}");
            run(&["select-pane", "-t", id, "-T", &title])?;
            run(&["set-option", "-p", "-t", id, "@gaffer_title", &title])?;
        }
        w += 1;
    }
    let pid: u32 = run(&["display-message", "-p", "#{pid}"])?
        .trim()
        .parse()
        .map_err(|e| format!("server pid: {e}"))?;
    Ok((server, pid))
}

/// The reference's cycle (spec observation.md §0.1): one session listing, then per agent pane
/// an activity query, a 50-line capture, its own session listing and a 20-line capture.
fn reference_cycle(t: &Tmux) -> Result<usize, String> {
    let fmt = "#{pane_id}_NTM_SEP_#{pane_index}_NTM_SEP_#{pane_title}_NTM_SEP_#{pane_current_command}_NTM_SEP_#{pane_width}_NTM_SEP_#{pane_height}_NTM_SEP_#{pane_active}_NTM_SEP_#{pane_pid}_NTM_SEP_#{window_index}";
    let list = t
        .run(&["list-panes", "-s", "-t", "b", "-F", fmt])
        .map_err(|e| e.to_string())?;
    let ids: Vec<String> = list
        .lines()
        .filter_map(|l| l.split("_NTM_SEP_").next().map(String::from))
        .collect();
    let mut bytes = 0;
    for id in &ids {
        let _ = t.run(&["display-message", "-p", "-t", id, "#{pane_last_activity}"]);
        bytes += t
            .run(&["capture-pane", "-t", id, "-p", "-S", "-50"])
            .map(|s| s.len())
            .unwrap_or(0);
        let _ = t.run(&["list-panes", "-s", "-t", id, "-F", fmt]);
        bytes += t
            .run(&["capture-pane", "-t", id, "-p", "-S", "-20"])
            .map(|s| s.len())
            .unwrap_or(0);
    }
    Ok(bytes)
}

struct Figures {
    procs_per_cycle: f64,
    cpu_client_per_cycle: Duration,
    cpu_server_per_cycle: Duration,
}

fn measure(
    cycles: usize,
    interval: Duration,
    server_pid: u32,
    spawned: &dyn Fn() -> u64,
    mut cycle: impl FnMut(),
) -> Figures {
    let p0 = spawned();
    let (c0, s0) = cpu_children_and_self();
    let sv0 = server_cpu(server_pid);
    for _ in 0..cycles {
        let t = Instant::now();
        cycle();
        if let Some(rest) = interval.checked_sub(t.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let (c1, s1) = cpu_children_and_self();
    let sv1 = server_cpu(server_pid);
    let n = cycles.max(1) as u32;
    Figures {
        procs_per_cycle: (spawned() - p0) as f64 / cycles.max(1) as f64,
        cpu_client_per_cycle: ((c1 - c0) + (s1 - s0)) / n,
        cpu_server_per_cycle: (sv1.saturating_sub(sv0)) / n,
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn cycle_bench(n: usize, cycles: usize, quiet: bool) -> Result<(), String> {
    let (server, pid) = if quiet {
        setup_with(n, QUIET)?
    } else {
        setup(n)?
    };
    if quiet {
        println!("quiet panes (no output):");
    }
    let socket = Socket::Name(server.name.clone());
    std::thread::sleep(Duration::from_millis(1200));
    let interval = Duration::from_millis(500);

    let reference_tmux = Tmux::new(socket.clone(), Duration::from_secs(10));
    let r = measure(
        cycles,
        interval,
        pid,
        &|| reference_tmux.processes_spawned(),
        || {
            let _ = reference_cycle(&reference_tmux);
        },
    );

    let mut o = TmuxOptions::new(socket.clone(), Some("b".into()));
    o.control_mode = false;
    let polling = TmuxPanes::new(o);
    let _ = polling.observe();
    let p = measure(
        cycles,
        interval,
        pid,
        &|| polling.tmux().processes_spawned(),
        || {
            let _ = polling.observe();
        },
    );

    let control = TmuxPanes::new(TmuxOptions::new(socket, Some("b".into())));
    let _ = control.observe();
    let mode = format!("{:?}", control.mode());
    let c = measure(
        cycles,
        interval,
        pid,
        &|| control.tmux().processes_spawned(),
        || {
            let _ = control.observe();
        },
    );

    let total = |f: &Figures| f.cpu_client_per_cycle + f.cpu_server_per_cycle;
    let ratio = |f: &Figures| total(&r).as_secs_f64() / total(f).as_secs_f64().max(1e-9);
    println!(
        "N={n:>2}  reference: {:>6.1} procs/cycle, cpu {:>7.2} ms (client {:.2} + server {:.2})",
        r.procs_per_cycle,
        ms(total(&r)),
        ms(r.cpu_client_per_cycle),
        ms(r.cpu_server_per_cycle)
    );
    println!(
        "       polling:   {:>6.1} procs/cycle, cpu {:>7.2} ms (client {:.2} + server {:.2})  {:.1}x less CPU",
        p.procs_per_cycle,
        ms(total(&p)),
        ms(p.cpu_client_per_cycle),
        ms(p.cpu_server_per_cycle),
        ratio(&p)
    );
    println!(
        "       control:   {:>6.1} procs/cycle, cpu {:>7.2} ms (client {:.2} + server {:.2})  {:.1}x less CPU  [{mode}]",
        c.procs_per_cycle,
        ms(total(&c)),
        ms(c.cpu_client_per_cycle),
        ms(c.cpu_server_per_cycle),
        ratio(&c)
    );
    Ok(())
}

/// Latency: panes print `tick <n> <ns>` every 0.5 s (a change of state with its own
/// timestamp); an event-driven loop (`wait_for_activity`, then `observe`) records
/// the time from the print to the observation that shows it.
fn latency_bench(n: usize, samples: usize) -> Result<(), String> {
    let (server, _pid) = setup(n)?;
    let panes = TmuxPanes::new(TmuxOptions::new(
        Socket::Name(server.name.clone()),
        Some("b".into()),
    ));
    let _ = panes.observe();
    if panes.control_client().is_none() {
        return Err("control mode unavailable".into());
    }
    let mut seen: std::collections::HashMap<String, u64> = Default::default();
    let mut lat: Vec<Duration> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while lat.len() < samples && Instant::now() < deadline {
        // The coordinator's event-driven loop: wake on output, observe.
        if !panes.wait_for_activity(Duration::from_secs(2)) {
            continue;
        }
        let Ok(snap) = panes.observe() else { continue };
        let now = chrono::Utc::now();
        for p in snap.panes.iter().filter(|p| p.captured) {
            let Some(last) = p.screen.lines().rev().find(|l| l.starts_with("tick ")) else {
                continue;
            };
            let mut it = last.split_whitespace().skip(1);
            let (Some(Ok(i)), Some(Ok(ns))) = (
                it.next().map(str::parse::<u64>),
                it.next().map(str::parse::<i64>),
            ) else {
                continue;
            };
            let prev = seen.insert(p.info.pane_id.clone(), i);
            if prev.is_some_and(|v| v < i) {
                let at = chrono::DateTime::from_timestamp_nanos(ns);
                if let Ok(d) = (now - at).to_std() {
                    lat.push(d);
                }
            }
        }
    }
    if lat.is_empty() {
        return Err("no latency samples".into());
    }
    lat.sort();
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    println!(
        "latency (control mode, {n} panes, {} samples): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        lat.len(),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(*lat.last().unwrap_or(&Duration::ZERO))
    );
    Ok(())
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    if Tmux::new(
        Socket::Name("gaffer-bench-probe".into()),
        Duration::from_secs(2),
    )
    .run(&["-V"])
    .is_err()
    {
        println!("tmux not available; skipping");
        return;
    }
    let result = if full {
        [8, 32, 64]
            .into_iter()
            .try_for_each(|n| cycle_bench(n, 20, false))
            .and_then(|_| cycle_bench(32, 10, true))
            .and_then(|_| latency_bench(8, 200))
    } else {
        cycle_bench(2, 1, false).and_then(|_| latency_bench(2, 2))
    };
    if let Err(e) = result {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
}
