//! Scale figures for many machines (issue 15, item 6): 8 simulated hosts × 16 gaffer-sim agents
//! = 128 agents observed by one coordinator process through `[[hosts]]`-style entries
//! (`gaffer_tmux::multi::MultiPanes` over one `HostPanes` per host, the coordinator's
//! `AgentMonitor` on top), each host a network namespace with a real sshd
//! (`gaffer_testkit::hosts`).
//!
//! `cargo bench -p gaffer-coordinator --bench hosts_scale` prints `hosts_scale:` lines:
//! * the SSH connections used (TCP connections the hosts accepted, and masters started; goal:
//!   one per host);
//! * per observation cycle, with no added latency and with 50 ms added to every host's round
//!   trip: wall time, this process's CPU time (the relay threads of the simulated network,
//!   which run in this process, taken out) and the ssh masters' CPU, and the RSS;
//! * each host's observation latency (p50 and max over the cycles);
//! * the decision pass (`cycle::decide`) over the 128 observed agents with 2,000 beads and
//!   5,000 reservations, beside the same pass over 64 agents (the single-host target, 10 ms:
//!   `gaffer-core`'s `assign` bench), in one run;
//! * a global assignment round: decide over the 128 agents, then every assignment's verified
//!   delivery to its remote pane, in batches of `act::PARALLEL_DELIVERIES` as the runtime does.
//!
//! `--quick` (and a run without `--bench`, as `cargo test --all-targets` does) uses 4 hosts × 4
//! agents and fewer cycles. Needs root (namespaces) and sshd; it re-runs itself inside a
//! loopback-only namespace; skips with a message otherwise (fails under `CI=true`).

use gaffer_coordinator::act::PARALLEL_DELIVERIES;
use gaffer_coordinator::monitor::{AgentMonitor, MonitorConfig, MonitorSnapshot};
use gaffer_coordinator::observe::ScreenCheck;
use gaffer_core::assign::ReservationMap;
use gaffer_core::config::HostConfig;
use gaffer_core::cycle::{Decision, Pass, Policy, Snapshot, decide};
use gaffer_core::detect::Detector;
use gaffer_core::mailbox::Reservation;
use gaffer_core::panes::{DeliveryOptions, DeliveryOutcome, Panes};
use gaffer_core::triage::{TriageBreakdown, TriageRecommendation, TriageResponse, TriageResult};
use gaffer_core::{AgentState, AgentStatus, AssignmentStrategy};
use gaffer_testkit::hosts::{SimHost, SimHosts};
use gaffer_testkit::netns::{Isolation, isolate_with_args};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_tmux::host as remote;
use gaffer_tmux::multi::MultiPanes;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Scale {
    hosts: usize,
    agents: usize,
    cycles: usize,
    decide_iters: usize,
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if !bench && !args.iter().any(|a| a == "--quick") {
        args.push("--quick".into());
    }
    match isolate_with_args(&args) {
        Isolation::Inside => {}
        Isolation::RanInChild(true) => return,
        Isolation::RanInChild(false) => {
            eprintln!("hosts_scale failed inside its namespace");
            std::process::exit(1);
        }
        Isolation::Unavailable(why) => skip(&why),
    }
    if let Err(why) = gaffer_testkit::hosts::available() {
        skip(&why);
    }
    let scale = if std::env::args().any(|a| a == "--quick") {
        Scale {
            hosts: 4,
            agents: 4,
            cycles: 5,
            decide_iters: 3,
        }
    } else {
        Scale {
            hosts: 8,
            agents: 16,
            cycles: 20,
            decide_iters: 7,
        }
    };
    if let Err(e) = run(&scale) {
        eprintln!("hosts_scale: {e}");
        std::process::exit(1);
    }
}

fn skip(why: &str) -> ! {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        eprintln!("hosts_scale: cannot run: {why}");
        std::process::exit(1);
    }
    eprintln!("skipping hosts_scale: {why}");
    std::process::exit(0);
}

fn entry(h: &SimHost) -> HostConfig {
    HostConfig {
        name: h.name.clone(),
        host: h.ssh_addr().ip().to_string(),
        user: "root".into(),
        port: h.ssh_addr().port(),
        identity: h.identity().display().to_string(),
        ssh_options: h.ssh_options(),
        socket_name: h.tmux.name.clone(),
        session: "proj".into(),
        ..Default::default()
    }
}

/// CPU time (user + system) of this process so far.
fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// Clock ticks per second for `/proc/*/stat`.
fn ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as f64 } else { 100.0 }
}

/// utime + stime of a `/proc/.../stat` file, and its command name.
fn stat_cpu(path: &str) -> Option<(String, Duration)> {
    let s = std::fs::read_to_string(path).ok()?;
    let open = s.find('(')?;
    let close = s.rfind(')')?;
    let comm = s[open + 1..close].to_string();
    let rest: Vec<&str> = s[close + 2..].split_whitespace().collect();
    // Fields after the command: state(0) ppid(1) … utime(11) stime(12).
    let ut: f64 = rest.get(11)?.parse().ok()?;
    let st: f64 = rest.get(12)?.parse().ok()?;
    Some((comm, Duration::from_secs_f64((ut + st) / ticks())))
}

/// CPU time of this process's threads that belong to the simulated network (the relays).
fn relay_cpu() -> Duration {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    dir.filter_map(|e| e.ok())
        .filter_map(|e| stat_cpu(&format!("{}/stat", e.path().display())))
        .filter(|(comm, _)| comm.starts_with("relay"))
        .map(|(_, d)| d)
        .sum()
}

/// CPU time of the ssh processes that are children of this process (the masters).
fn ssh_cpu() -> Duration {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Duration::ZERO;
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let close = s.rfind(')')?;
            let ppid = s[close + 2..].split_whitespace().nth(1)?;
            (ppid == me).then_some(pid)
        })
        .filter_map(|pid| stat_cpu(&format!("/proc/{pid}/stat")))
        .filter(|(comm, _)| comm == "ssh")
        .map(|(_, d)| d)
        .sum()
}

/// VmRSS and VmHWM of this process, in MiB.
fn rss_mib() -> (f64, f64) {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut s = v.to_vec();
    s.sort();
    s.get(((s.len().saturating_sub(1)) as f64 * p).round() as usize)
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

/// Observes `cycles` times, one cycle every `every`, and prints the figures.
fn cycles(
    monitor: &AgentMonitor,
    n: usize,
    every: Duration,
    added_ms: u64,
    want_agents: usize,
) -> Result<(), String> {
    let mut walls = Vec::new();
    let mut latency: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut late = 0usize;
    let (cpu0, relay0, ssh0) = (process_cpu(), relay_cpu(), ssh_cpu());
    let began = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        let snap = monitor.refresh().map_err(|e| format!("refresh: {e}"))?;
        walls.push(t.elapsed());
        check_all(&snap, want_agents)?;
        for h in &snap.hosts {
            late += usize::from(h.late);
            if let Some(l) = h.latency_ms {
                latency.entry(h.host.clone()).or_default().push(l);
            }
        }
        std::thread::sleep(every.saturating_sub(t.elapsed()));
    }
    let span = began.elapsed();
    let cpu = process_cpu().saturating_sub(cpu0);
    let relay = relay_cpu().saturating_sub(relay0);
    let coord = cpu.saturating_sub(relay);
    let ssh = ssh_cpu().saturating_sub(ssh0);
    let (rss, hwm) = rss_mib();
    println!(
        "hosts_scale: cycle added_ms={added_ms} cycles={n} wall_p50_ms={} wall_max_ms={} \
         cpu_per_cycle_ms={} ssh_cpu_per_cycle_ms={} relay_cpu_per_cycle_ms={} \
         cpu_share={:.3} rss_mib={rss:.1} hwm_mib={hwm:.1} late_hosts={late}",
        ms(pct(&walls, 0.5)),
        ms(pct(&walls, 1.0)),
        ms(coord / n as u32),
        ms(ssh / n as u32),
        ms(relay / n as u32),
        coord.as_secs_f64() / span.as_secs_f64(),
    );
    for (host, v) in &latency {
        let mut v = v.clone();
        v.sort();
        println!(
            "hosts_scale: host={host} added_ms={added_ms} latency_p50_ms={} latency_max_ms={}",
            v[v.len() / 2],
            v[v.len() - 1]
        );
    }
    Ok(())
}

fn check_all(snap: &MonitorSnapshot, want: usize) -> Result<(), String> {
    if snap.agents.len() != want {
        return Err(format!(
            "{} agents observed, {want} expected (problems {:?})",
            snap.agents.len(),
            snap.problems
        ));
    }
    Ok(())
}

fn run(s: &Scale) -> Result<(), String> {
    let setup = Instant::now();
    let set = SimHosts::new("scale", s.hosts, 95)?;
    for h in set.hosts() {
        h.spawn_sims("proj", "claude", s.agents)?;
    }
    let local_srv = TmuxServer::new("hscale");
    local_srv.session("proj", "sleep 600");
    let local = gaffer_tmux::TmuxPanes::new(gaffer_tmux::TmuxOptions::new(
        local_srv.socket(),
        Some("proj".to_string()),
    ));
    let hosts: Vec<Arc<remote::HostPanes>> = set
        .hosts()
        .iter()
        .map(|h| {
            remote::connect(&entry(h), "proj", Duration::from_secs(5))
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .collect::<Result<_, _>>()?;
    let panes: Arc<MultiPanes> = Arc::new(MultiPanes::new(Arc::new(local), hosts.clone()));
    let monitor = AgentMonitor::new(
        Arc::clone(&panes) as Arc<dyn Panes>,
        Detector::builtin(),
        MonitorConfig {
            stall_threshold: Duration::from_secs(60),
            confirm_observations: 2,
        },
    );
    let total = s.hosts * s.agents;
    let end = Instant::now() + Duration::from_secs(180);
    let mut waiting = 0;
    while Instant::now() < end {
        if let Ok(snap) = monitor.refresh() {
            waiting = snap
                .agents
                .iter()
                .filter(|a| a.observation.status == AgentStatus::Waiting)
                .count();
            if waiting == total {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if waiting != total {
        return Err(format!("{waiting} of {total} agents WAITING after 180 s"));
    }
    println!(
        "hosts_scale: setup hosts={} agents_per_host={} agents={total} all_waiting_after_s={:.1}",
        s.hosts,
        s.agents,
        setup.elapsed().as_secs_f64()
    );

    // Observation, plain, then with 50 ms added to every host's round trip.
    let every = Duration::from_millis(500);
    cycles(&monitor, s.cycles, every, 0, total)?;
    let mut how = "";
    for h in set.hosts() {
        how = h.set_delay(Duration::from_millis(50))?;
    }
    // Let every host's observation in flight finish with the delay on.
    for _ in 0..3 {
        let _ = monitor.refresh();
        std::thread::sleep(every);
    }
    cycles(&monitor, s.cycles, every, 50, total)?;
    println!("hosts_scale: added latency through {how}");
    for h in set.hosts() {
        h.set_delay(Duration::ZERO)?;
    }

    // SSH connections: one per host.
    let accepted: u64 = set.hosts().iter().map(|h| h.connections_opened()).sum();
    let open: usize = set.hosts().iter().map(|h| h.connections_open()).sum();
    let masters: u64 = hosts
        .iter()
        .map(|h| h.connection().connections_started())
        .sum();
    println!(
        "hosts_scale: ssh connections accepted={accepted} open={open} masters={masters} \
         hosts={} goal={}",
        s.hosts, s.hosts
    );

    // The decision pass over the observed agents, beside the single-host figure.
    let snap = monitor.refresh().map_err(|e| e.to_string())?;
    let observed: Vec<AgentState> = snap
        .agents
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut st = AgentState::new(
                a.pane.pane_id.clone(),
                i as i64,
                a.pane.agent_type.clone(),
                a.last_activity,
            );
            st.status = a.observation.status;
            st.agent_mail_name = format!("Agent{i}");
            st
        })
        .collect();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let beads = beads(2000, &mut rng);
    // The reservations are held by the agents of each case (`AgentN`), 5,000 in both.
    let res = reservations(5000, observed.len(), &mut Rng(0x5eed_0000_0000_0001));
    let res64 = reservations(5000, 64, &mut Rng(0x5eed_0000_0000_0001));
    let policy = Policy {
        assign_only_idle: false,
        ..Policy::default()
    };
    let one_host: Vec<AgentState> = (0..64)
        .map(|i| {
            let mut a = observed[i % observed.len()].clone();
            a.pane_id = format!("%{i}");
            a.agent_mail_name = format!("Agent{i}");
            a
        })
        .collect();
    // The same agents with local keys (`%N`): what the host-qualified keys cost, if anything.
    let local_keys: Vec<AgentState> = observed
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut a = a.clone();
            a.pane_id = format!("%{i}");
            a
        })
        .collect();
    let single = decision_snapshot(&one_host, &beads, &res64);
    let multi = decision_snapshot(&observed, &beads, &res);
    let flat = decision_snapshot(&local_keys, &beads, &res);
    let (d64, _) = time(s.decide_iters, || decide(&single, &policy).len());
    let (dall, dmax) = time(s.decide_iters, || decide(&multi, &policy).len());
    let (dflat, _) = time(s.decide_iters, || decide(&flat, &policy).len());
    println!(
        "hosts_scale: decide agents={} beads=2000 reservations=5000 cpu_p50_ms={} cpu_max_ms={} \
         same_agents_local_keys_p50_ms={} single_host_64_p50_ms={} ratio_to_64={:.2} target_ms=10",
        observed.len(),
        ms(dall),
        ms(dmax),
        ms(dflat),
        ms(d64),
        dall.as_secs_f64() / d64.as_secs_f64().max(1e-9)
    );

    // A global assignment round: decide over every agent, then deliver every assignment.
    let t = Instant::now();
    let decisions = decide(&multi, &policy);
    let decide_took = t.elapsed();
    let orders: Vec<(String, String)> = decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Assign(o) => Some((o.agent.pane_id.clone(), o.bead.id.clone())),
            _ => None,
        })
        .collect();
    let by_key: BTreeMap<String, gaffer_core::panes::PaneInfo> = snap
        .agents
        .iter()
        .map(|a| (a.pane.pane_id.clone(), a.pane.clone()))
        .collect();
    let detector = Detector::builtin();
    let opts = DeliveryOptions::default();
    let mut delivered = 0usize;
    let mut failed = Vec::new();
    let mut each = Vec::new();
    for batch in orders.chunks(PARALLEL_DELIVERIES) {
        let results: Vec<Result<(DeliveryOutcome, Duration), String>> = std::thread::scope(|sc| {
            let handles: Vec<_> = batch
                .iter()
                .map(|(pane, bead)| {
                    let info = by_key.get(pane).cloned().unwrap_or_default();
                    let (panes, detector, opts) = (&panes, &detector, &opts);
                    sc.spawn(move || {
                        let text = format!("Work on {bead}: see bead {bead}.");
                        let mut check = ScreenCheck::new(panes.as_ref(), detector, &info, &text);
                        let t = Instant::now();
                        panes
                            .deliver(pane, &text, opts, &mut check)
                            .map(|r| (r.outcome, t.elapsed()))
                            .map_err(|e| format!("{pane}: {e}"))
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
                .collect()
        });
        for r in results {
            match r {
                Ok((DeliveryOutcome::Delivered, d)) => {
                    delivered += 1;
                    each.push(d);
                }
                Ok((other, _)) => failed.push(format!("{other:?}")),
                Err(e) => failed.push(e),
            }
        }
    }
    let round = t.elapsed();
    println!(
        "hosts_scale: round agents={} assignments={} delivered={delivered} failed={} \
         decide_ms={} round_s={:.2} delivery_p50_ms={} delivery_max_ms={} parallel={PARALLEL_DELIVERIES}",
        observed.len(),
        orders.len(),
        failed.len(),
        ms(decide_took),
        round.as_secs_f64(),
        ms(pct(&each, 0.5)),
        ms(pct(&each, 1.0)),
    );
    if !failed.is_empty() {
        return Err(format!("deliveries failed: {failed:?}"));
    }
    if orders.len() != total {
        return Err(format!(
            "{} assignments for {total} free agents",
            orders.len()
        ));
    }
    // Still one connection per host after the round.
    let masters: u64 = hosts
        .iter()
        .map(|h| h.connection().connections_started())
        .sum();
    let accepted: u64 = set.hosts().iter().map(|h| h.connections_opened()).sum();
    println!("hosts_scale: after the round ssh connections accepted={accepted} masters={masters}");
    if masters != s.hosts as u64 || accepted != s.hosts as u64 {
        return Err(format!(
            "{masters} masters, {accepted} connections for {} hosts",
            s.hosts
        ));
    }
    Ok(())
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f64 {
        (self.next() % 10_000) as f64 / 10_000.0
    }
}

/// Beads shaped like the `assign` bench's (files named in titles, triage breakdowns).
fn beads(n: usize, rng: &mut Rng) -> Vec<TriageRecommendation> {
    let types = ["task", "bug", "feature", "chore"];
    (0..n)
        .map(|i| TriageRecommendation {
            id: format!("bd-{i}"),
            title: format!(
                "Fix crash in src/mod{}/file{}.rs and add tests",
                i % 50,
                i % 97
            ),
            issue_type: types[i % types.len()].into(),
            status: "open".into(),
            priority: (rng.next() % 5) as i64,
            score: 0.05 + rng.unit() * 0.6,
            breakdown: Some(TriageBreakdown {
                pagerank: rng.unit() * 0.2,
                blocker_ratio: rng.unit() * 0.13,
                time_to_impact: rng.unit() * 0.08,
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect()
}

/// Reservations held by the agents (`AgentN`), a third on the beads' files.
fn reservations(n: usize, holders: usize, rng: &mut Rng) -> ReservationMap {
    let mut map = ReservationMap::new();
    for i in 0..n {
        let h = format!("Agent{}", rng.next() as usize % holders.max(1));
        let pat = match i % 3 {
            0 => format!("src/mod{}/file{}.rs", rng.next() % 50, rng.next() % 97),
            1 => format!("docs/d{}/**", rng.next() % 500),
            _ => format!("lib/l{}/*.rs", rng.next() % 1000),
        };
        map.entry(h).or_default().push(pat);
    }
    map
}

fn decision_snapshot(
    agents: &[AgentState],
    beads: &[TriageRecommendation],
    reservations: &ReservationMap,
) -> Snapshot {
    let now = chrono::Utc::now();
    let mut snap = Snapshot::new(
        Pass::Assign {
            strategy: Some(AssignmentStrategy::Balanced),
            dry_run: false,
        },
        now,
    );
    for a in agents {
        let mut a = a.clone();
        a.assignments = 0;
        a.healthy = true;
        snap.agents.insert(a.pane_id.clone(), a);
    }
    snap.work = Some(Ok(TriageResponse {
        generated_at: now,
        data_hash: String::new(),
        degraded: None,
        triage: TriageResult {
            recommendations: beads.to_vec(),
            ..Default::default()
        },
        feedback: None,
        usage_hints: vec![],
        extra: Default::default(),
    }));
    let mut list = Vec::new();
    for (holder, patterns) in reservations {
        for p in patterns {
            list.push(Reservation {
                id: list.len() as i64,
                agent_name: holder.clone(),
                path_pattern: p.clone(),
                exclusive: true,
                reason: String::new(),
                created_ts: Some(now),
                expires_ts: now + chrono::Duration::hours(1),
                released_ts: None,
            });
        }
    }
    snap.reservations = Some(Ok(list));
    snap.has_mailbox = true;
    snap
}

/// Median and max CPU time of this thread per call.
fn time<T>(iters: usize, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let thread_cpu = || {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes into the struct we own.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    };
    let mut v: Vec<Duration> = (0..iters.max(1))
        .map(|_| {
            let t = thread_cpu();
            black_box(f());
            thread_cpu().saturating_sub(t)
        })
        .collect();
    v.sort();
    (v[v.len() / 2], v[v.len() - 1])
}
