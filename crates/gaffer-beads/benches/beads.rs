//! Benchmarks: native triage of 10,000 issues with 30,000 dependencies (target ≤ 1 s) and
//! reading a 10,000-line issues.jsonl (target ≤ 50 ms). Without `--bench` (as under
//! `cargo test --all-targets`) it runs one tiny iteration and exits.

use gaffer_beads::parse_issues;
use gaffer_core::time::parse_rfc3339;
use gaffer_core::triage_engine::metrics::SplitMix64;
use gaffer_core::triage_engine::triage;
use std::time::{Duration, Instant};

/// A br-style JSONL of `n` issues with `deps` blocking dependencies (acyclic: each points to a
/// lower id) plus some parent-child links.
fn jsonl(n: usize, deps: usize) -> String {
    let mut rng = SplitMix64::new(42);
    let mut per: Vec<Vec<(usize, &str)>> = vec![Vec::new(); n];
    let mut placed = 0;
    while placed < deps {
        let u = 1 + (rng.next() % (n as u64 - 1)) as usize;
        let v = (rng.next() % u as u64) as usize;
        per[u].push((v, "blocks"));
        placed += 1;
    }
    for u in (10..n).step_by(10) {
        per[u].push((u - u % 100, "parent-child"));
    }
    let statuses = ["open", "open", "open", "in_progress", "closed"];
    let mut out = String::with_capacity(n * 600);
    for (i, d) in per.iter().enumerate() {
        let id = format!("bench-{i:05}");
        let deps: Vec<String> = d
            .iter()
            .map(|(v, k)| {
                format!(
                    r#"{{"issue_id":"{id}","depends_on_id":"bench-{v:05}","type":"{k}","created_at":"2026-10-01T10:00:00Z","created_by":"bench","metadata":"{{}}","thread_id":""}}"#
                )
            })
            .collect();
        let status = statuses[i % statuses.len()];
        let closed = if status == "closed" {
            r#","closed_at":"2026-11-20T10:00:00Z""#
        } else {
            ""
        };
        out.push_str(&format!(
            r#"{{"id":"{id}","title":"Benchmark issue number {i} with a realistic title","description":"Some description text for issue {i}.","status":"{status}","priority":{p},"issue_type":"task","estimated_minutes":{e},"created_at":"2026-10-{day:02}T10:00:00.123456789Z","created_by":"bench","updated_at":"2026-11-{day:02}T10:00:00.123456789Z"{closed},"source_repo":"bench","compaction_level":0,"original_size":0,"labels":["backend","l{l}"],"dependencies":[{deps}]}}"#,
            p = i % 5,
            e = 30 + i % 400,
            day = 1 + i % 28,
            l = i % 7,
            deps = deps.join(",")
        ));
        out.push('\n');
    }
    out
}

/// The fastest of `runs` calls; the result is dropped outside the timing.
fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            let out = f();
            let took = t.elapsed();
            drop(out);
            took
        })
        .min()
        .unwrap_or_default()
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n, deps, runs) = if full {
        (10_000, 30_000, 5)
    } else {
        (200, 600, 1)
    };
    let text = jsonl(n, deps);
    let now = parse_rfc3339("2026-11-28T12:00:00Z").unwrap_or_default();

    let loaded = parse_issues(text.as_bytes());
    let read = best_of(runs, || parse_issues(text.as_bytes()));
    assert_eq!(loaded.issues.len(), n, "every line loads");
    assert!(loaded.skipped.is_empty());

    let scored = triage(&loaded.issues, now).ranked.len();
    let tri = best_of(runs.min(3), || triage(&loaded.issues, now));
    println!(
        "read {n}-line issues.jsonl ({:.1} MB): {:.1} ms (target ≤ 50 ms)",
        text.len() as f64 / 1e6,
        read.as_secs_f64() * 1e3
    );
    println!(
        "native triage of {n} issues, {deps} blocking deps ({scored} scored): {:.1} ms (target ≤ 1000 ms)",
        tri.as_secs_f64() * 1e3
    );
    if full {
        use gaffer_core::triage_engine::{graph, metrics};
        let raw = best_of(runs, || {
            text.lines()
                .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap_or_default())
                .collect::<Vec<_>>()
        });
        let scan = best_of(runs, || {
            text.lines()
                .filter(|line| serde_json::from_str::<serde::de::IgnoredAny>(line).is_ok())
                .count()
        });
        let typed1 = best_of(runs, || {
            text.lines()
                .filter_map(|line| serde_json::from_str::<gaffer_core::beads::Issue>(line).ok())
                .collect::<Vec<_>>()
        });
        println!(
            "  read parts: JSON scan only {:.1} ms, typed Issue parse on 1 thread {:.1} ms",
            scan.as_secs_f64() * 1e3,
            typed1.as_secs_f64() * 1e3
        );
        let g = graph::BeadGraph::new(&loaded.issues);
        let tg = best_of(runs, || graph::BeadGraph::new(&loaded.issues));
        let tb = best_of(runs, || graph::Blocking::new(&g, now));
        let tp = best_of(runs, || metrics::pagerank(&g.deps));
        let tw = best_of(runs, || metrics::betweenness(&g.deps, 2000, 500));
        println!(
            "  parts: untyped serde_json::Value parse (1 thread) {:.1} ms, graph {:.1} ms, blocking {:.1} ms, pagerank {:.1} ms, betweenness {:.1} ms",
            raw.as_secs_f64() * 1e3,
            tg.as_secs_f64() * 1e3,
            tb.as_secs_f64() * 1e3,
            tp.as_secs_f64() * 1e3,
            tw.as_secs_f64() * 1e3
        );
        println!(
            "ratios in this run: read / untyped Value parse {:.2}, triage / read {:.2}",
            read.as_secs_f64() / raw.as_secs_f64().max(1e-9),
            tri.as_secs_f64() / read.as_secs_f64().max(1e-9)
        );
    }
}
