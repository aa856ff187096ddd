//! `gaffer triage` end to end: the table, bv's JSON shape with the §4.8 scores, skipped-line
//! warnings, and the exit codes for bad input.

use gaffer_core::exit;
use gaffer_core::triage::TriageResponse;
use std::path::Path;
use std::process::Output;

const VECTOR: &str = include_str!("../../gaffer-core/tests/fixtures/triage_vector.jsonl");
const NOW: &str = "2026-11-28T19:05:00Z";

fn gaffer(dir: &Path, args: &[&str]) -> Output {
    gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), dir, args)
}

fn project(extra_line: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".beads")).expect("mkdir");
    let mut text = VECTOR.to_string();
    if let Some(l) = extra_line {
        text.push_str(l);
        text.push('\n');
    }
    std::fs::write(dir.path().join(".beads/issues.jsonl"), text).expect("write");
    dir
}

#[test]
fn json_output_is_bvs_shape_with_the_spec_scores() {
    let dir = project(None);
    let out = gaffer(
        dir.path(),
        &["triage", "--json", "--now", NOW, "--source", "native"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    for key in ["generated_at", "data_hash", "triage", "usage_hints"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let t = &v["triage"];
    for key in [
        "meta",
        "quick_ref",
        "recommendations",
        "quick_wins",
        "blockers_to_clear",
        "project_health",
        "commands",
    ] {
        assert!(t.get(key).is_some(), "missing triage.{key}");
    }
    let resp: TriageResponse = serde_json::from_value(v).expect("typed");
    let scores: Vec<(String, f64)> = resp
        .triage
        .recommendations
        .iter()
        .map(|r| (r.id.clone(), r.score))
        .collect();
    let want = [
        ("demo-r2r.1", 0.5712),
        ("demo-qtf", 0.3931),
        ("demo-r2r", 0.2154),
        ("demo-t7v", 0.1848),
        ("demo-0mj", 0.1733),
        ("demo-ext", 0.1664),
        ("demo-uh2", 0.1374),
    ];
    assert_eq!(scores.len(), want.len());
    for ((id, s), (wid, ws)) in scores.iter().zip(want) {
        assert_eq!(id, wid);
        assert!((s - ws).abs() < 1e-3, "{id}: {s} vs {ws}");
    }
    // Same input, same output.
    let again = gaffer(
        dir.path(),
        &["triage", "--json", "--now", NOW, "--source", "native"],
    );
    let a: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut b: serde_json::Value = serde_json::from_slice(&again.stdout).expect("json");
    b["triage"]["meta"]["compute_time_ms"] = a["triage"]["meta"]["compute_time_ms"].clone();
    assert_eq!(a, b);
}

#[test]
fn table_ranks_and_reports_skipped_lines() {
    let dir = project(Some("{\"id\": \"broken\""));
    let sub = dir.path().join("src");
    std::fs::create_dir(&sub).expect("mkdir");
    let out = gaffer(&sub, &["triage", "--now", NOW, "--source", "native"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let first = stdout.lines().position(|l| l.contains("demo-r2r.1"));
    let last = stdout.lines().position(|l| l.contains("demo-uh2"));
    assert!(first.is_some() && first < last, "{stdout}");
    assert!(stdout.contains("Top picks:"), "{stdout}");
    assert!(stdout.contains("blocked by demo-r2r.1"), "{stdout}");
    assert!(stderr.contains("skipped line 9"), "{stderr}");
}

#[test]
fn bad_input_gives_clear_errors_and_exit_codes() {
    let dir = project(None);
    let out = gaffer(dir.path(), &["triage", "--now", "yesterday"]);
    assert_eq!(out.status.code(), Some(exit::USAGE));
    assert!(String::from_utf8_lossy(&out.stderr).contains("RFC 3339"));

    let empty = tempfile::tempdir().expect("tempdir");
    let out = gaffer(empty.path(), &["--json", "triage"]);
    assert_eq!(out.status.code(), Some(exit::NOT_FOUND));
    let err: serde_json::Value =
        serde_json::from_slice(out.stderr.trim_ascii()).expect("json error");
    assert_eq!(err["error"]["kind"], "not_found");

    let out = gaffer(
        dir.path(),
        &[
            "--project",
            &dir.path().display().to_string(),
            "triage",
            "--source",
            "bv",
        ],
    );
    if gaffer_beads::process::which("bv").is_none() {
        assert_eq!(out.status.code(), Some(exit::UNAVAILABLE));
    }
}
