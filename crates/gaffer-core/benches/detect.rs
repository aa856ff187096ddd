//! Detector throughput: fifty-line screens per second on one core.
//!
//! `cargo bench -p gaffer-core --bench detect` measures for about 3 s and prints the figures.
//! Without `--bench` (as `cargo test --all-targets` runs it) it does one tiny pass and exits.

use gaffer_core::detect::{Detector, ScreenInput, activity_fingerprint};
use gaffer_core::time::parse_rfc3339;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

const FILLER: [&str; 4] = [
    "● Read(src/routes/orders.ts)",
    "  ⎿  Read 182 lines (ctrl+r to expand)",
    "",
    "  the handler validates the body and writes the order; tests cover the happy path",
];

/// Every fixture as a screen of exactly 50 lines (older transcript lines added on top).
fn screens() -> Vec<(String, String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screens");
    let mut out = Vec::new();
    for agent in ["cc", "cod", "gmi", "shell"] {
        let Ok(dir) = std::fs::read_dir(root.join(agent)) else {
            continue;
        };
        let mut files: Vec<_> = dir.flatten().map(|e| e.path()).collect();
        files.sort();
        for f in files {
            let Ok(text) = std::fs::read_to_string(&f) else {
                continue;
            };
            let Some((head, screen)) = text.split_once("\n---\n") else {
                continue;
            };
            let command = head
                .lines()
                .find_map(|l| l.strip_prefix("command:"))
                .map(|c| c.trim().to_string())
                .unwrap_or_default();
            let mut lines: Vec<&str> = screen.trim_end().lines().collect();
            if lines.len() > 50 {
                lines.drain(..lines.len() - 50);
            }
            let mut padded: Vec<&str> = Vec::new();
            let mut i = 0;
            while padded.len() + lines.len() < 50 {
                padded.push(FILLER[i % FILLER.len()]);
                i += 1;
            }
            padded.extend(lines);
            out.push((agent.to_string(), padded.join("\n"), command));
        }
    }
    out
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let budget = if full {
        Duration::from_secs(3)
    } else {
        Duration::ZERO
    };
    let screens = screens();
    assert!(!screens.is_empty(), "no fixtures found");
    let detector = Detector::builtin();
    let at = parse_rfc3339("2026-11-29T10:00:00Z").expect("constant time");
    let inputs: Vec<ScreenInput<'_>> = screens
        .iter()
        .map(|(agent, screen, cmd)| ScreenInput {
            agent_type: agent,
            screen,
            current_command: cmd,
            observed_at: at,
        })
        .collect();

    // warm up, and the tiny pass when not benchmarking
    for input in &inputs {
        black_box(detector.detect(input));
    }
    if !full {
        println!(
            "detect bench: {} screens checked (run with --bench to measure)",
            inputs.len()
        );
        return;
    }

    let start = Instant::now();
    let mut n: u64 = 0;
    while start.elapsed() < budget {
        for input in &inputs {
            black_box(detector.detect(black_box(input)));
        }
        n += inputs.len() as u64;
    }
    let secs = start.elapsed().as_secs_f64();
    let detect_rate = n as f64 / secs;

    let start = Instant::now();
    let mut m: u64 = 0;
    while start.elapsed() < Duration::from_secs(1) {
        for (_, screen, _) in &screens {
            black_box(activity_fingerprint(black_box(screen)));
        }
        m += screens.len() as u64;
    }
    let fp_rate = m as f64 / start.elapsed().as_secs_f64();

    let start = Instant::now();
    let mut k: u64 = 0;
    while start.elapsed() < Duration::from_secs(1) {
        for input in &inputs {
            black_box(detector.explain(black_box(input)));
        }
        k += inputs.len() as u64;
    }
    let explain_rate = k as f64 / start.elapsed().as_secs_f64();

    println!(
        "detector throughput (one core, {} distinct 50-line screens):",
        inputs.len()
    );
    println!(
        "  detect:      {:>10.0} screens/s  ({:.1} µs/screen)  target ≥ 20000",
        detect_rate,
        1e6 / detect_rate
    );
    println!(
        "  fingerprint: {:>10.0} screens/s  ({:.1} µs/screen)",
        fp_rate,
        1e6 / fp_rate
    );
    println!(
        "  explain:     {:>10.0} screens/s  ({:.1} µs/screen, every rule traced)",
        explain_rate,
        1e6 / explain_rate
    );
}
