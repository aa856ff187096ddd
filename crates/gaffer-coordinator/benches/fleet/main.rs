//! The fleet benchmark: what coordination buys against first-fit.
//!
//! A discrete-event simulation with a simulated clock. The same seeded workload (a bead graph
//! with dependencies and file overlaps, simulated agents of different speeds that sometimes
//! refuse, hang, hit rate limits, exit, give up or reserve overlapping files) runs under
//! gaffer's real `decide` and `Policy` (each strategy) and under the reference's first-fit
//! baseline. Prints lines a script reads:
//!
//! ```text
//! fleet: beads per agent-hour gaffer=X reference=Y ratio=Z strategy=S
//! fleet: idle-to-assign p50=… p95=… strategy=S
//! fleet: double assignments=N strategy=S
//! fleet: prompts to a not-ready agent=N strategy=S
//! fleet: conflicts missed=N strategy=S
//! ```
//!
//! Throughput is beads closed per agent-hour over one window for both: from the start to the
//! earlier moment one fleet has closed every bead (when neither does, the later last close).
//!
//! `cargo bench -p gaffer-coordinator --bench fleet [-- --quick] [--seed N]`: 500 beads and 16
//! agents (`--quick` or `FLEET_QUICK=1`: 160 beads, 8 agents). gaffer runs with
//! `restart_exited = true` and the default take-back thresholds; `--no-restarts` and
//! `--no-takeback` turn one off (ablations, not the goal's measure); `--strategy S` runs only
//! one strategy. Under `cargo test` (no `--bench`)
//! it is a 40-bead smoke run unless `--quick` is given. `FLEET_DEBUG=1` prints every gaffer
//! assignment slower than 2 s; `FLEET_PROBE=1` prints, at every assignment round that assigns
//! nothing, each free bead and what keeps it (reservations over its files, back-offs).
//!
//! Idle-to-assign runs from the later of an agent's readiness and the moment some free bead
//! could be started without touching files another agent holds, to the agent's next prompt
//! (`idle_any_free_*` in the detail lines: from the moment any bead was free).

mod gaffer;
mod reference;
mod world;

use gaffer_core::assignment::AssignmentStrategy;
use gaffer_core::time::parse_rfc3339;
use std::time::Instant;
use world::{MIN, Mode, Ms, Workload, World};

/// What one run yields.
struct Run {
    closed: usize,
    beads: usize,
    agents: usize,
    end: Ms,
    close_times: Vec<Ms>,
    idle: Vec<Ms>,
    idle_any: Vec<Ms>,
    double: u64,
    not_ready: u64,
    missed: usize,
    conflicts: usize,
    rework: u64,
    prompts: u64,
    refusals: u64,
    incidents: [u64; 4],
    triage_runs: u64,
    note: String,
    /// Decisions the executor did not know (gaffer only; must be 0).
    unhandled: u64,
}

impl Run {
    /// Beads closed by `window` per agent-hour of that window.
    fn in_window(&self, window: Ms) -> f64 {
        let n = self.close_times.iter().filter(|&&c| c <= window).count();
        n as f64 / (self.agents as f64 * window.max(1) as f64 / 3_600_000.0)
    }

    /// When the fleet had closed every bead; `None` when it stranded some.
    fn finished(&self) -> Option<Ms> {
        (self.closed == self.beads).then_some(self.end)
    }

    fn per_agent_hour(&self) -> f64 {
        let hours = self.end.max(1) as f64 / 3_600_000.0;
        self.closed as f64 / (self.agents as f64 * hours)
    }
}

fn percentile(v: &[Ms], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let k = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[k] as f64 / 1000.0
}

/// Runs the world until every bead is closed, the horizon, or three hours without a close.
fn simulate(
    w: Workload,
    mode: Mode,
    mut next: impl FnMut(&World) -> Ms,
    mut due: impl FnMut(&mut World, Ms),
) -> World {
    let t0 = parse_rfc3339("2026-03-02T09:00:00Z").unwrap_or_default();
    let mut world = World::new(w, mode, t0);
    let mut t: Ms = 0;
    while !world.all_closed() && t < w.horizon && t - world.last_close < 180 * MIN {
        let agent_next = (0..world.agents.len())
            .filter_map(|a| world.next_at(a).map(|n| (n, a)))
            .min();
        let coord = next(&world);
        let at = agent_next.map_or(coord, |(n, _)| n.min(coord)).max(t);
        t = at;
        if let Some((n, a)) = agent_next {
            if n <= t {
                world.step(a, t);
                continue;
            }
        }
        due(&mut world, t);
    }
    world
}

fn run_gaffer(w: Workload, strategy: AssignmentStrategy, features: gaffer::Features) -> Run {
    let g = std::cell::RefCell::new(gaffer::Gaffer::new(strategy, features));
    let world = simulate(
        w,
        gaffer::mode(),
        |world| g.borrow().next_at(world),
        |world, t| g.borrow_mut().run_due(world, t),
    );
    let g = g.into_inner();
    let c = &g.counts;
    let mut run = finish(
        &world,
        g.triage_runs(),
        format!(
            "polls={} assign_passes={} conflict_passes={} decisions={} unhandled={} assigned={} failed_attempts={} stalled={} gone={} notices={} handbacks={} takebacks={} restarts={} crash_loops={} redeliveries={} dropped_after_handback={}",
            c.polls,
            c.assign_passes,
            c.conflict_passes,
            c.decisions,
            c.unhandled,
            c.assign_ok,
            c.assign_failed,
            c.stalled,
            c.gone,
            c.notices,
            c.handbacks,
            c.takebacks,
            c.restarts,
            c.crash_loops,
            c.redeliveries,
            world.dropped
        ),
    );
    run.unhandled = c.unhandled;
    run
}

fn run_reference(w: Workload) -> Run {
    let r = std::cell::RefCell::new(reference::Reference::new());
    let world = simulate(
        w,
        Mode::Reference,
        |_| r.borrow().next_at(),
        |world, t| r.borrow_mut().run_due(world, t),
    );
    let r = r.into_inner();
    finish(&world, r.triage_runs(), format!("polls={}", r.polls))
}

fn finish(world: &World, triage_runs: u64, note: String) -> Run {
    Run {
        closed: world.closed,
        beads: world.issues.len(),
        agents: world.agents.len(),
        end: world.last_close,
        close_times: world.close_times.clone(),
        idle: world.idle_to_assign.clone(),
        idle_any: world.idle_to_assign_any.clone(),
        double: world.double_assignments,
        not_ready: world.not_ready_prompts,
        missed: world.missed_pairs.len(),
        conflicts: world.conflict_pairs.len(),
        rework: world.rework_events,
        prompts: world.prompts,
        refusals: world.refusals,
        incidents: world.incidents,
        triage_runs,
        note,
        unhandled: 0,
    }
}

fn describe(name: &str, r: &Run) {
    println!(
        "fleet-detail: {name}: closed={}/{} end={:.2}h per_agent_hour={:.3} prompts={} refusals={} reworks={} hangs={} rate_limits={} exits={} abandons={} conflict_pairs={} triage_runs={} idle_p50={:.1}s idle_p95={:.1}s idle_max={:.1}s idle_any_free_p50={:.1}s idle_any_free_p95={:.1}s {}",
        r.closed,
        r.beads,
        r.end as f64 / 3_600_000.0,
        r.per_agent_hour(),
        r.prompts,
        r.refusals,
        r.rework,
        r.incidents[0],
        r.incidents[1],
        r.incidents[2],
        r.incidents[3],
        r.conflicts,
        r.triage_runs,
        percentile(&r.idle, 0.5),
        percentile(&r.idle, 0.95),
        percentile(&r.idle, 1.0),
        percentile(&r.idle_any, 0.5),
        percentile(&r.idle_any, 0.95),
        r.note
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick")
        || std::env::var("FLEET_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    let seed = args
        .iter()
        .position(|a| a == "--seed")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(16u64);
    // Ablations: what restarts and take-backs buy (both on by default, as the goal is measured).
    let features = gaffer::Features {
        restarts: !args.iter().any(|a| a == "--no-restarts"),
        takeback: !args.iter().any(|a| a == "--no-takeback"),
    };
    // `cargo test` runs this without `--bench`: a smoke run, unless `--quick` is asked for.
    let smoke = !quick && !args.iter().any(|a| a == "--bench");
    let w = if smoke {
        Workload {
            seed,
            beads: 40,
            agents: 4,
            horizon: 48 * 60 * MIN,
        }
    } else if quick {
        Workload {
            seed,
            beads: 160,
            agents: 8,
            horizon: 48 * 60 * MIN,
        }
    } else {
        Workload {
            seed,
            beads: 500,
            agents: 16,
            horizon: 48 * 60 * MIN,
        }
    };
    let started = Instant::now();
    println!(
        "fleet: workload beads={} agents={} seed={} quick={} gaffer restarts={} takeback={}",
        w.beads, w.agents, w.seed, quick, features.restarts, features.takeback
    );
    let reference = run_reference(w);
    describe("reference", &reference);
    println!(
        "fleet: reference idle-to-assign p50={:.1}s p95={:.1}s double assignments={} prompts to a not-ready agent={} conflicts missed={}",
        percentile(&reference.idle, 0.5),
        percentile(&reference.idle, 0.95),
        reference.double,
        reference.not_ready,
        reference.conflicts,
    );
    let mut unhandled = Vec::new();
    let only = args
        .iter()
        .position(|a| a == "--strategy")
        .and_then(|i| args.get(i + 1));
    for s in AssignmentStrategy::ALL {
        if only.is_some_and(|o| o != s.as_str()) {
            continue;
        }
        let g = run_gaffer(w, s, features);
        describe(s.as_str(), &g);
        if g.unhandled > 0 {
            unhandled.push(format!("{}={}", s.as_str(), g.unhandled));
        }
        let window = same_window(&g, &reference, w.horizon);
        let (x, y) = (g.in_window(window), reference.in_window(window));
        // The measure before restarts (until the earlier of the two last closes), for
        // comparison only: it ends where a stranded fleet stops, so it hides what it strands.
        let old = g.end.min(reference.end);
        println!(
            "fleet-detail: {}: window={:.2}h closed-by-window gaffer={} reference={} earlier-last-close window={:.2}h ratio={:.2}",
            s.as_str(),
            window as f64 / 3_600_000.0,
            g.close_times.iter().filter(|&&c| c <= window).count(),
            reference
                .close_times
                .iter()
                .filter(|&&c| c <= window)
                .count(),
            old as f64 / 3_600_000.0,
            g.in_window(old) / reference.in_window(old).max(1e-9)
        );
        let strategy = s.as_str();
        println!(
            "fleet: beads per agent-hour gaffer={x:.3} reference={y:.3} ratio={:.2} strategy={strategy}",
            x / y.max(1e-9)
        );
        println!(
            "fleet: idle-to-assign p50={:.1}s p95={:.1}s strategy={strategy}",
            percentile(&g.idle, 0.5),
            percentile(&g.idle, 0.95)
        );
        println!("fleet: double assignments={} strategy={strategy}", g.double);
        println!(
            "fleet: prompts to a not-ready agent={} strategy={strategy}",
            g.not_ready
        );
        println!("fleet: conflicts missed={} strategy={strategy}", g.missed);
    }
    println!("fleet: real time {:.1}s", started.elapsed().as_secs_f64());
    if !unhandled.is_empty() {
        eprintln!(
            "fleet: gaffer's executor met decisions it does not carry out: {}",
            unhandled.join(" ")
        );
        std::process::exit(1);
    }
}

/// The one window both fleets are measured over: from the start until the earlier of the two
/// moments a fleet has closed every bead. A fleet that strands beads never finishes, so its
/// stranded beads count as not closed for the whole window instead of ending the window where
/// it stopped. When neither finishes, the window ends at the later of the two last closes
/// (each run stops three hours after its last close): every close of either counts.
fn same_window(g: &Run, r: &Run, horizon: Ms) -> Ms {
    let w = match (g.finished(), r.finished()) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => g.end.max(r.end),
    };
    w.clamp(1, horizon)
}
