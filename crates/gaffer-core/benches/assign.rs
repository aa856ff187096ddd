//! Assignment benchmarks. `cargo bench -p gaffer-core --bench assign` prints figures;
//! without `--bench` (as under `cargo test`) it runs one small round and exits.
//!
//! - global assignment of 200 agents × 5,000 beads (target ≤ 50 ms);
//! - one full decision pass over 64 agents, 2,000 beads and 5,000 reservations (target ≤ 10 ms):
//!   the plan alone, and `cycle::decide` over a `Snapshot` (what the runtime runs), side by side.
//!
//! `GAFFER_BENCH_DIGEST=1` prints fingerprints of the plans and of `decide`'s decisions (over
//! variants of the snapshot): compare them between builds to check that a change keeps every
//! decision identical.

mod support;
use gaffer_core::assign::{PlanOptions, ReservationMap, matching, plan_assignments};
use gaffer_core::cycle::{Pass, Policy, Snapshot, decide};
use gaffer_core::mailbox::Reservation;
use gaffer_core::time::parse_rfc3339;
use gaffer_core::triage::{TriageBreakdown, TriageRecommendation, TriageResponse, TriageResult};
use gaffer_core::{AgentState, AgentStatus, AssignmentStrategy, Persona};
use std::hint::black_box;
use std::time::{Duration, Instant};
use support::thread_cpu;

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

fn agents(n: usize, rng: &mut Rng) -> Vec<AgentState> {
    let now = parse_rfc3339("2026-01-01T00:00:00Z").unwrap_or_default();
    (0..n)
        .map(|i| {
            let ty = ["cc", "cod", "gmi"][i % 3];
            let mut a = AgentState::new(format!("%{i}"), i as i64, ty, now);
            a.status = AgentStatus::Waiting;
            a.agent_mail_name = format!("Agent{i}");
            a.context_usage = rng.unit() * 95.0;
            a.assignments = (rng.next() % 3) as i64;
            if i % 4 == 0 {
                a.profile = Some(Persona {
                    name: format!("p{i}"),
                    tags: vec!["testing".into(), "bugs".into()],
                    focus_patterns: vec![format!("src/mod{}/**", i % 50)],
                    ..Default::default()
                });
            }
            a
        })
        .collect()
}

fn beads(n: usize, rng: &mut Rng) -> Vec<TriageRecommendation> {
    let types = ["task", "bug", "feature", "chore", "epic"];
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
            unblocks_ids: (0..(rng.next() % 6)).map(|k| format!("bd-x{k}")).collect(),
            ..Default::default()
        })
        .collect()
}

fn reservations(n: usize, holders: usize, rng: &mut Rng) -> ReservationMap {
    let mut map = ReservationMap::new();
    for i in 0..n {
        let h = format!("Agent{}", rng.next() as usize % holders);
        let pat = match i % 3 {
            0 => format!("src/mod{}/file{}.rs", rng.next() % 50, rng.next() % 97),
            1 => format!("docs/d{}/**", rng.next() % 500),
            _ => format!("lib/l{}/*.rs", rng.next() % 1000),
        };
        map.entry(h).or_default().push(pat);
    }
    map
}

/// Median and max of CPU time per call (wall time is printed alongside by the callers).
fn time<T>(iters: u32, mut f: impl FnMut() -> T) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = (0..iters)
        .map(|_| {
            let t = thread_cpu();
            let w = Instant::now();
            black_box(f());
            let cpu = thread_cpu().saturating_sub(t);
            if cpu.is_zero() { w.elapsed() } else { cpu }
        })
        .collect();
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let (n_agents, n_beads, n_res, iters) = if bench {
        (200, 5000, 5000, 7)
    } else {
        (8, 40, 40, 1)
    };
    // GAFFER_BENCH_ITERS=n takes more samples (for profiling).
    let iters = std::env::var("GAFFER_BENCH_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(iters);

    // GAFFER_BENCH_ONLY=decision runs only the decision pass (for profiling).
    let only_decision = std::env::var("GAFFER_BENCH_ONLY").is_ok_and(|v| v == "decision");
    let ag = agents(n_agents, &mut rng);
    let bd = beads(n_beads, &mut rng);
    let empty = ReservationMap::new();
    if !only_decision {
        let (p50, max) = time(iters, || {
            plan_assignments(
                &bd,
                &ag,
                AssignmentStrategy::Speed,
                &empty,
                &PlanOptions::default(),
            )
        });
        println!(
            "global assignment {n_agents} agents x {n_beads} beads (speed): CPU p50 {p50:?}, max {max:?} (target <= 50ms)"
        );

        // Matching alone vs the reference's greedy, on the same score matrix.
        let w: Vec<f64> = (0..n_agents * n_beads).map(|_| rng.unit()).collect();
        let weight = |a: usize, b: usize| Some(w[a * n_beads + b]);
        let (g50, _) = time(iters, || {
            matching::greedy_matching(n_agents, n_beads, weight)
        });
        let (h50, _) = time(iters, || {
            matching::max_weight_matching(n_agents, n_beads, weight)
        });
        let gt = matching::total(
            &matching::greedy_matching(n_agents, n_beads, weight),
            weight,
        );
        let ht = matching::total(
            &matching::max_weight_matching(n_agents, n_beads, weight),
            weight,
        );
        println!(
            "matching only: hungarian p50 {h50:?} vs greedy p50 {g50:?}; total weight {ht:.3} vs {gt:.3}"
        );
    }

    let (n_agents, n_beads) = if bench { (64, 2000) } else { (4, 20) };
    let ag = agents(n_agents, &mut rng);
    let bd = beads(n_beads, &mut rng);
    let res = reservations(n_res, n_agents, &mut rng);
    let (p50, max) = time(iters, || {
        plan_assignments(
            &bd,
            &ag,
            AssignmentStrategy::Balanced,
            &res,
            &PlanOptions::default(),
        )
    });
    if bench {
        use gaffer_core::assign::paths::HolderIndex;
        use gaffer_core::assign::score::BeadFacts;
        let (idx50, _) = time(iters, || HolderIndex::new(&res).len());
        let index = HolderIndex::new(&res);
        let (facts50, _) = time(iters, || {
            bd.iter()
                .map(|b| BeadFacts::new(b, Some(&index)))
                .collect::<Vec<_>>()
        });
        let (text50, _) = time(iters, || {
            bd.iter()
                .map(|b| {
                    gaffer_core::text::mentioned_files(&b.title, "").count()
                        + gaffer_core::text::task_tags(&b.title, "").len()
                })
                .sum::<usize>()
        });
        let files: Vec<&str> = bd
            .iter()
            .flat_map(|b| gaffer_core::text::mentioned_files(&b.title, ""))
            .collect();
        let (query50, _) = time(iters, || {
            files
                .iter()
                .map(|f| index.holder_ids(f).len())
                .sum::<usize>()
        });
        println!(
            "  phases: index build {idx50:?}, bead facts {facts50:?} (text {text50:?}, holder queries {query50:?})"
        );
    }
    println!(
        "decision pass, plan only {n_agents} agents x {n_beads} beads x {n_res} reservations (balanced): CPU p50 {p50:?}, max {max:?}"
    );

    // The whole decision pass as the runtime runs it: `cycle::decide` over a Snapshot (idle
    // agents, assignable work, the reservation map, the planning options, the plan, the
    // decisions). The agents are free, so the same pairs are scored as above.
    let snap = decision_snapshot(&ag, &bd, &res);
    let policy = Policy {
        assign_only_idle: false,
        ..Policy::default()
    };
    let decisions = decide(&snap, &policy);
    let (d50, dmax) = time(iters, || decide(&snap, &policy));
    println!(
        "decision pass, decide over the snapshot {n_agents} agents x {n_beads} beads x {n_res} reservations (balanced): CPU p50 {d50:?}, max {dmax:?} (target <= 10ms); {} decisions",
        decisions.len()
    );
    if std::env::var("GAFFER_BENCH_DIGEST").is_ok() {
        println!("plan digest: {}", plan_digest(&bd, &ag, &res));
        println!("decide digest: {}", decide_digest(&snap));
    }
}

/// FNV-1a of `bytes`.
fn fnv(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in bytes {
        h ^= u64::from(*x);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// A fingerprint of `decide` over variants of the snapshot (every strategy, dry run or not,
/// ledger back-offs, holders outside the round, agents without a mail name, reservations
/// held by pane ids, unreadable reservations), for checking that a change keeps every decision
/// identical (compare the line between builds).
fn decide_digest(base: &Snapshot) -> String {
    let policy = Policy {
        assign_only_idle: false,
        ..Policy::default()
    };
    let mut variants: Vec<(String, Snapshot)> = Vec::new();
    for s in [
        AssignmentStrategy::Balanced,
        AssignmentStrategy::Quality,
        AssignmentStrategy::Dependency,
        AssignmentStrategy::Speed,
        AssignmentStrategy::RoundRobin,
    ] {
        for dry_run in [true, false] {
            let mut snap = base.clone();
            snap.pass = Pass::Assign {
                strategy: Some(s),
                dry_run,
            };
            variants.push((format!("{s:?}{}", if dry_run { "" } else { "!" }), snap));
        }
    }
    // Mixed: back-offs on planned and held pairs, an outside holder, a pane-id holder, two
    // idle holders of one file, agents without a mail name.
    let mut mixed = base.clone();
    let now = mixed.now;
    let mut book =
        gaffer_core::assign::BackoffBook::new(Duration::from_secs(60), Duration::from_secs(600));
    for (k, pane) in mixed.agents.keys().enumerate() {
        for b in (k * 7..k * 7 + 40).step_by(3) {
            let at = now - chrono::Duration::seconds((b % 5) as i64 * 40);
            book.record(
                pane,
                &format!("bd-{b}"),
                gaffer_core::assign::BackoffReason::Refused,
                at,
            );
        }
    }
    mixed.ledger.backoff = book;
    for (i, a) in mixed.agents.values_mut().enumerate() {
        if i % 9 == 0 {
            a.agent_mail_name.clear();
        }
    }
    if let Some(Ok(list)) = &mut mixed.reservations
        && let Some(first) = list.first().cloned()
    {
        let extra = [
            ("Outsider", "src/mod7/**"),
            ("%5", "src/mod8/*.rs"),
            ("%9", "src/mod9/file9.rs"),
            ("%18", "src/mod9/file9.rs"),
            ("Agent3", "src/mod11/**"),
            ("Agent4", "src/mod11/file3.rs"),
        ];
        for (holder, pattern) in extra {
            let mut r = first.clone();
            r.id = list.len() as i64;
            r.agent_name = holder.into();
            r.path_pattern = pattern.into();
            list.push(r);
        }
    }
    for s in [
        AssignmentStrategy::Balanced,
        AssignmentStrategy::Quality,
        AssignmentStrategy::Dependency,
        AssignmentStrategy::RoundRobin,
    ] {
        let mut snap = mixed.clone();
        snap.pass = Pass::Assign {
            strategy: Some(s),
            dry_run: false,
        };
        variants.push((format!("mixed {s:?}"), snap));
    }
    let mut unreadable = base.clone();
    unreadable.reservations = Some(Err("down".into()));
    variants.push(("unreadable".into(), unreadable));
    variants
        .iter()
        .map(|(name, snap)| {
            let d = decide(snap, &policy);
            format!(
                "{name} {} {:016x}",
                d.len(),
                fnv(format!("{d:?}").as_bytes())
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A fingerprint of plans over the decision data, for checking that a change keeps results
/// identical (compare the line between builds).
fn plan_digest(bd: &[TriageRecommendation], ag: &[AgentState], res: &ReservationMap) -> String {
    let mut parts = Vec::new();
    for s in [
        AssignmentStrategy::Balanced,
        AssignmentStrategy::Quality,
        AssignmentStrategy::Dependency,
        AssignmentStrategy::Speed,
    ] {
        let plan = plan_assignments(bd, ag, s, res, &PlanOptions::default());
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        let mut feed = |b: &[u8]| {
            for x in b {
                h ^= u64::from(*x);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        for a in &plan {
            feed(a.agent.pane_id.as_bytes());
            feed(a.bead.id.as_bytes());
            feed(&a.score.to_bits().to_le_bytes());
            feed(&a.confidence.to_bits().to_le_bytes());
            feed(a.reason.as_bytes());
            feed(format!("{:?}", a.breakdown).as_bytes());
        }
        parts.push(format!("{s:?} {} {h:016x}", plan.len()));
    }
    parts.join(", ")
}

fn decision_snapshot(
    agents: &[AgentState],
    beads: &[TriageRecommendation],
    reservations: &ReservationMap,
) -> Snapshot {
    let now = parse_rfc3339("2026-01-01T00:10:00Z").unwrap_or_default();
    let mut snap = Snapshot::new(
        Pass::Assign {
            strategy: Some(AssignmentStrategy::Balanced),
            dry_run: true,
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
