//! Conflict detection figures: `detect_conflicts` over 50,000 active reservations from 500
//! agents (target ≤ 100 ms), the same with 10 root-level globs (`**/*.m3`) among them (target
//! ≤ 100 ms), and `check_path_conflict` against them (target ≤ 50 µs per call). The
//! reference's approach (group by identical pattern string) is timed side by side. Times are
//! CPU time of this thread (p50 and max over the rounds), which other processes on a busy
//! machine do not inflate.
//!
//! `cargo bench -p gaffer-core --bench conflicts`. Without `--bench` (as `cargo test
//! --all-targets` runs it) it does one tiny round and exits.

mod support;
use chrono::{TimeZone, Utc};
use gaffer_core::conflicts::ReservationIndex;
use gaffer_core::mailbox::Reservation;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use support::thread_cpu;

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
                expires_ts: now + chrono::Duration::hours(1),
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

/// Median and max CPU time of `f` over `rounds` calls; `setup` runs untimed before each.
fn time<S, T>(
    rounds: usize,
    mut setup: impl FnMut() -> S,
    mut f: impl FnMut(S) -> T,
) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = (0..rounds)
        .map(|_| {
            let input = setup();
            let t = thread_cpu();
            let w = Instant::now();
            std::hint::black_box(f(input));
            let cpu = thread_cpu().saturating_sub(t);
            if cpu.is_zero() { w.elapsed() } else { cpu }
        })
        .collect();
    samples.sort();
    (samples[samples.len() / 2], samples[samples.len() - 1])
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (agents, per_agent, calls, rounds) = if full {
        (500, 100, 20_000, 9)
    } else {
        (10, 10, 10, 1)
    };
    let rs = reservations(agents, per_agent);
    let now = Utc
        .with_ymd_and_hms(2026, 11, 29, 4, 30, 0)
        .single()
        .unwrap_or_default();
    let prio = |_: &str| 0;

    // as read from the mailbox: the index takes the list by value (the copy is untimed)
    let detect = |owned: Vec<Reservation>| {
        ReservationIndex::from_vec(owned, now)
            .detect_conflicts(now, &prio)
            .len()
    };
    let (d50, dmax) = time(rounds, || rs.clone(), detect);
    let found = detect(rs.clone());
    let (r50, _) = time(rounds, || (), |_| reference_detect(&rs));

    // 10 agents also hold a root-level glob: its literal prefix is empty, so the prefix trie
    // alone would compare it with every other reservation
    let mut hard = rs.clone();
    for a in 0..agents.min(10) {
        let mut r = rs[a * per_agent].clone();
        r.id += 1_000_000;
        r.path_pattern = format!("**/*.m{a}");
        hard.push(r);
    }
    let (h50, hmax) = time(rounds, || hard.clone(), detect);
    let found_hard = detect(hard.clone());

    let (b50, _) = time(
        rounds,
        || rs.clone(),
        |owned| ReservationIndex::from_vec(owned, now).len(),
    );
    let index = ReservationIndex::new(&rs, now);
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
    let excludes: Vec<String> = (0..calls)
        .map(|i| format!("Agent{}", (i + 7) % agents))
        .collect();
    let mut hits = 0;
    let (c50, _) = time(
        3.min(rounds),
        || (),
        |_| {
            hits = 0;
            for (p, exclude) in paths.iter().zip(&excludes) {
                if index.check_path_conflict(p, exclude, now, &prio).is_some() {
                    hits += 1;
                }
            }
        },
    );
    let per_call = c50.as_secs_f64() / calls as f64;

    println!(
        "detect_conflicts: {} reservations, {agents} agents: CPU p50 {:.1} ms, max {:.1} ms \
         (index build included), {found} conflicts; reference exact-string grouping p50 {:.1} ms \
         (target <= 100 ms)",
        rs.len(),
        ms(d50),
        ms(dmax),
        ms(r50),
    );
    println!("index build alone: CPU p50 {:.1} ms", ms(b50));
    println!(
        "detect_conflicts with 10 root-level globs added: CPU p50 {:.1} ms, max {:.1} ms, \
         {found_hard} conflicts (target <= 100 ms)",
        ms(h50),
        ms(hmax)
    );
    println!(
        "check_path_conflict: {:.2} µs per call over {calls} calls ({hits} with holders)",
        per_call * 1e6
    );
}
