//! Conflict detection figures: `detect_conflicts` over 50,000 active reservations from 500
//! agents (target ≤ 100 ms), and `check_path_conflict` against them (target ≤ 50 µs per call).
//! The reference's approach (group by identical pattern string) is timed side by side.
//!
//! `cargo bench -p gaffer-core --bench conflicts`. Without `--bench` (as `cargo test
//! --all-targets` runs it) it does one tiny round and exits.

use chrono::{Duration, TimeZone, Utc};
use gaffer_core::conflicts::ReservationIndex;
use gaffer_core::mailbox::Reservation;
use std::collections::HashMap;
use std::time::Instant;

fn reservations(agents: usize, per_agent: usize) -> Vec<Reservation> {
    let now = Utc
        .with_ymd_and_hms(2026, 11, 29, 4, 0, 0)
        .single()
        .unwrap_or_default();
    let mut out = Vec::with_capacity(agents * per_agent);
    let mut id = 0;
    for a in 0..agents {
        let agent = format!("Agent{a}");
        let krate = a % 50;
        for j in 0..per_agent {
            id += 1;
            let pattern = match j % 20 {
                // a directory glob and a file glob in the agent's module
                0 => format!("crates/c{krate}/src/m{a}/**"),
                1 => format!("crates/c{krate}/src/m{a}/*.rs"),
                // a file another agent works in: real conflicts
                2 => format!("crates/c{}/src/m{}/f{j}.rs", (a + 1) % 50, a + 1),
                // shared docs
                3 => format!("docs/d{}/*.md", j % 7),
                // everything else: literal files of its own
                _ => format!("crates/c{krate}/src/m{a}/sub{}/f{j}.rs", j % 5),
            };
            out.push(Reservation {
                id,
                agent_name: agent.clone(),
                path_pattern: pattern,
                exclusive: j % 20 != 3,
                reason: String::new(),
                created_ts: Some(now),
                expires_ts: now + Duration::hours(1),
                released_ts: None,
            });
        }
    }
    out
}

/// The reference's DetectConflicts: group by exact pattern string.
fn reference_detect(rs: &[Reservation]) -> usize {
    let mut groups: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in rs {
        groups
            .entry(r.path_pattern.as_str())
            .or_default()
            .push(&r.agent_name);
    }
    groups.values().filter(|v| v.len() >= 2).count()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (agents, per_agent, calls) = if full {
        (500, 100, 20_000)
    } else {
        (10, 10, 10)
    };
    let rs = reservations(agents, per_agent);
    let now = Utc
        .with_ymd_and_hms(2026, 11, 29, 4, 30, 0)
        .single()
        .unwrap_or_default();
    let prio = |_: &str| 0;

    let rounds = if full { 5 } else { 1 };
    let mut best_detect = f64::MAX;
    let mut best_ref = f64::MAX;
    let mut found = 0;
    for _ in 0..rounds {
        let owned = rs.clone(); // as read from the mailbox
        let t = Instant::now();
        let index = ReservationIndex::from_vec(owned, now);
        let conflicts = index.detect_conflicts(now, &prio);
        best_detect = best_detect.min(t.elapsed().as_secs_f64());
        found = conflicts.len();
        let t = Instant::now();
        let n = reference_detect(&rs);
        std::hint::black_box(n);
        best_ref = best_ref.min(t.elapsed().as_secs_f64());
    }

    // a harder mix: 10 agents also hold a root-level glob, which must be compared with
    // every other reservation
    let mut hard = rs.clone();
    for a in 0..agents.min(10) {
        let mut r = rs[a * per_agent].clone();
        r.id += 1_000_000;
        r.path_pattern = format!("**/*.m{a}");
        hard.push(r);
    }
    let mut best_hard = f64::MAX;
    for _ in 0..rounds {
        let owned = hard.clone();
        let t = Instant::now();
        let n = ReservationIndex::from_vec(owned, now)
            .detect_conflicts(now, &prio)
            .len();
        std::hint::black_box(n);
        best_hard = best_hard.min(t.elapsed().as_secs_f64());
    }

    let t = Instant::now();
    let index = ReservationIndex::new(&rs, now);
    let build = t.elapsed().as_secs_f64();
    let paths: Vec<String> = (0..calls)
        .map(|i| {
            let a = i % agents;
            format!(
                "crates/c{}/src/m{a}/sub{}/f{}.rs",
                a % 50,
                i % 5,
                i % per_agent
            )
        })
        .collect();
    let t = Instant::now();
    let mut hits = 0;
    for (i, p) in paths.iter().enumerate() {
        let exclude = format!("Agent{}", (i + 7) % agents);
        if index.check_path_conflict(p, &exclude, now, &prio).is_some() {
            hits += 1;
        }
    }
    let per_call = t.elapsed().as_secs_f64() / calls as f64;

    println!(
        "detect_conflicts: {} reservations, {agents} agents: {:.1} ms (index build included), \
         {found} conflicts; reference exact-string grouping {:.1} ms (ratio {:.1}x)",
        rs.len(),
        best_detect * 1e3,
        best_ref * 1e3,
        best_detect / best_ref.max(1e-9)
    );
    println!("index build alone: {:.1} ms", build * 1e3);
    println!(
        "detect_conflicts with 10 root-level globs added: {:.1} ms",
        best_hard * 1e3
    );
    println!(
        "check_path_conflict: {:.2} µs per call over {calls} calls ({hits} with holders)",
        per_call * 1e6
    );
}
