//! The `bv` source against fake `bv` executables (bv cannot be installed here): success with
//! the per-directory cache, noise before the JSON, a timeout, a failure, and schema drift.

#![cfg(unix)]

use gaffer_beads::{BeadsProject, BvSource};
use gaffer_core::time::parse_rfc3339;
use gaffer_core::work_source::{ClaimOutcome, WorkSource, WorkSourceError};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

const EXAMPLE: &str = include_str!("../../gaffer-core/tests/fixtures/bv_triage_example.json");

struct Fake {
    _dir: tempfile::TempDir,
    root: PathBuf,
    program: PathBuf,
    calls: PathBuf,
}

/// A project with a fake `bv` whose body is `script` (a POSIX shell snippet).
fn fake(script: &str) -> Fake {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("proj");
    std::fs::create_dir_all(root.join(".beads")).expect("mkdir");
    std::fs::write(root.join(".beads/issues.jsonl"), "").expect("write");
    std::fs::write(dir.path().join("example.json"), EXAMPLE).expect("write");
    let calls = dir.path().join("calls");
    let program = dir.path().join("bv");
    let body = format!(
        "#!/bin/sh\necho \"$PWD $*\" >> '{calls}'\nHERE='{here}'\n{script}\n",
        calls = calls.display(),
        here = dir.path().display()
    );
    std::fs::write(&program, body).expect("write");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    Fake {
        _dir: dir,
        root,
        program,
        calls,
    }
}

fn source(f: &Fake) -> BvSource {
    BvSource::with_program(BeadsProject::at(f.root.clone()), f.program.clone()).with_private_cache()
}

fn calls(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn now() -> gaffer_core::time::Timestamp {
    parse_rfc3339("2026-11-28T19:05:00Z").expect("now")
}

#[test]
fn triage_is_read_and_cached_per_directory() {
    let f = fake("cat \"$HERE/example.json\"");
    let src = source(&f);
    let a = src.triage(now()).expect("triage");
    assert_eq!(a.triage.recommendations[0].id, "demo-r2r.1");
    assert_eq!(a.triage.quick_ref.top_picks.len(), 3);
    let b = src.triage(now()).expect("cached");
    assert_eq!(a, b);
    let c = calls(&f.calls);
    assert_eq!(c.len(), 1, "second call served from the cache: {c:?}");
    assert!(c[0].ends_with("--robot-triage"), "{c:?}");
    assert!(
        c[0].starts_with(&f.root.display().to_string()),
        "runs in the project root: {c:?}"
    );
    src.invalidate();
    src.triage(now()).expect("after invalidate");
    assert_eq!(calls(&f.calls).len(), 2);
    // A zero TTL never reuses.
    let mut fresh = source(&f);
    fresh.cache_ttl = Duration::ZERO;
    fresh.triage(now()).expect("triage");
    fresh.triage(now()).expect("triage");
    assert_eq!(calls(&f.calls).len(), 4);
    // bv never writes.
    assert_eq!(
        src.claim("demo-r2r.1", "a").expect("claim"),
        ClaimOutcome::ReadOnly
    );
}

#[test]
fn noise_before_the_json_and_unknown_fields_are_tolerated() {
    let f = fake(
        "echo 'loading 8 issues...'\nsed 's/\"usage_hints\"/\"brand_new_field\": {\"x\": 1}, \"usage_hints\"/' \"$HERE/example.json\"",
    );
    let t = source(&f).triage(now()).expect("lenient parse");
    assert!(t.extra.contains_key("brand_new_field"));
    assert_eq!(t.triage.recommendations.len(), 3);
}

#[test]
fn a_hanging_bv_times_out_as_a_typed_error() {
    let f = fake("sleep 5");
    let mut src = source(&f);
    src.timeout = Duration::from_millis(300);
    let started = std::time::Instant::now();
    let err = src.triage(now()).expect_err("times out");
    assert!(
        matches!(err, WorkSourceError::Timeout { ref tool, .. } if tool == "bv"),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[test]
fn failures_and_garbage_are_typed_errors() {
    let f = fake("echo 'Error: No baseline found' >&2\nexit 1");
    match source(&f).triage(now()) {
        Err(WorkSourceError::Failed {
            exit_code, message, ..
        }) => {
            assert_eq!(exit_code, Some(1));
            assert!(message.contains("No baseline"), "{message}");
        }
        other => panic!("expected Failed, got {other:?}"),
    }
    let f = fake("echo 'this is not json'");
    assert!(matches!(
        source(&f).triage(now()),
        Err(WorkSourceError::Parse { .. })
    ));
    let f = fake("echo '{\"generated_at\":\"2026-11-28T19:05:00Z\",\"brief\":true}'");
    assert!(matches!(
        source(&f).triage(now()),
        Err(WorkSourceError::Parse { .. })
    ));
    let missing = BvSource::with_program(
        BeadsProject::at(std::env::temp_dir()),
        PathBuf::from("/nonexistent/bv"),
    )
    .with_private_cache();
    assert!(matches!(
        missing.triage(now()),
        Err(WorkSourceError::Unavailable { .. })
    ));
}
