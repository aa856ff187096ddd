//! The `br` source against a fake `br` replaying br 0.7.6's recorded outputs (spec/beads.md
//! §6), so the envelope and exit-code handling is checked on machines without br too.

#![cfg(unix)]

use gaffer_beads::{BeadsProject, BrSource};
use gaffer_core::work_source::{ClaimOutcome, CloseOutcome, WorkSource, WorkSourceError};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

struct Fake {
    _dir: tempfile::TempDir,
    src: BrSource,
    calls: PathBuf,
}

/// A fake br whose body is a `case "$*"` over its arguments.
fn fake(cases: &str) -> Fake {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("proj");
    std::fs::create_dir_all(root.join(".beads")).expect("mkdir");
    let calls = dir.path().join("calls");
    let program = dir.path().join("br");
    let body = format!(
        "#!/bin/sh\necho \"$*\" >> '{calls}'\nN=$(wc -l < '{calls}')\ncase \"$*\" in\n{cases}\n*) echo '{{\"error\":{{\"code\":\"UNKNOWN\",\"message\":\"unexpected\"}}}}'; exit 1;;\nesac\n",
        calls = calls.display()
    );
    std::fs::write(&program, body).expect("write");
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let src = BrSource::with_program(BeadsProject::at(root), program);
    Fake {
        _dir: dir,
        src,
        calls,
    }
}

fn calls(f: &Fake) -> Vec<String> {
    std::fs::read_to_string(&f.calls)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn claims_won_lost_refused_and_missing() {
    let f = fake(
        r#""update demo-qtf --claim --actor agent-1 --json") echo '[{"id":"demo-qtf","title":"Fix","status":"in_progress","priority":0,"assignee":"agent-1","owner":null,"updated_at":"2026-11-28T18:55:55.751024758Z"}]';;
"update demo-qtf --claim --actor agent-2 --json") echo '{"error":{"code":"VALIDATION_FAILED","message":"Validation failed: claim: issue demo-qtf already assigned to agent-1","hint":null,"retryable":true,"context":{"field":"claim","reason":"issue demo-qtf already assigned to agent-1"}}}'; exit 4;;
"update demo-mil --claim --actor agent-2 --json") echo '{"error":{"code":"VALIDATION_FAILED","message":"Validation failed: claim: cannot claim closed issue demo-mil","retryable":true}}'; exit 4;;
"update demo-zzz --claim --actor agent-1 --json") printf '{\n  "error": {\n    "code": "ISSUE_NOT_FOUND",\n    "message": "Issue not found: demo-zzz"\n  }\n}\n'; exit 3;;"#,
    );
    assert_eq!(
        f.src.claim("demo-qtf", "agent-1").expect("claim"),
        ClaimOutcome::Claimed {
            id: "demo-qtf".into(),
            assignee: "agent-1".into()
        }
    );
    match f
        .src
        .claim("demo-qtf", "agent-2")
        .expect("lost race is an outcome")
    {
        ClaimOutcome::AlreadyClaimed { holder, .. } => {
            assert_eq!(holder.as_deref(), Some("agent-1"))
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.src.claim("demo-mil", "agent-2").expect("refusal"),
        ClaimOutcome::NotClaimable { .. }
    ));
    assert!(matches!(
        f.src.claim("demo-zzz", "agent-1"),
        Err(WorkSourceError::NotFound { .. })
    ));
}

#[test]
fn closes_and_ready_lists() {
    let f = fake(
        r#""close demo-mil --reason schema merged --suggest-next --json") echo '{"closed":[{"id":"demo-mil","title":"Design","status":"closed","closed_at":"2026-11-28T18:56:01.730669035+00:00","close_reason":"schema merged"}],"unblocked":[{"id":"demo-r2r.1","title":"Impl","priority":1}]}';;
"close demo-mil --reason again --suggest-next --json") echo '{"closed":[],"skipped":[{"id":"demo-mil","reason":"already closed"}]}'; printf '{\n  "error": {\n    "code": "NOTHING_TO_DO",\n    "message": "Nothing to do: all 1 issue(s) skipped"\n  }\n}\n'; exit 3;;
"ready --json --limit 0") echo '[{"id":"demo-t7v","title":"Docs","status":"open","priority":3,"issue_type":"docs","created_at":"2026-11-28T18:55:45.178762092Z","labels":["docs"]}]';;"#,
    );
    assert_eq!(
        f.src.close("demo-mil", "schema merged").expect("close"),
        CloseOutcome::Closed {
            id: "demo-mil".into(),
            unblocked: vec!["demo-r2r.1".into()]
        }
    );
    assert!(matches!(
        f.src.close("demo-mil", "again").expect("refusal"),
        CloseOutcome::NotClosable { .. }
    ));
    let ready = f.src.ready(gaffer_core::time::zero_time()).expect("ready");
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].id, "demo-t7v");
    assert_eq!(ready[0].labels, ["docs"]);
}

#[test]
fn a_locked_database_is_retried_and_a_hang_times_out() {
    let f = fake(
        r#""ready --json --limit 0") if [ "$N" -lt 3 ]; then echo '{"error":{"code":"DATABASE_ERROR","message":"database is locked","retryable":true}}'; exit 2; fi; echo '{"issues":[],"total":0}';;
"close demo-x --reason r --suggest-next --json") sleep 5;;
"update demo-x --claim --actor a --json") echo 'panic: something broke' >&2; exit 1;;"#,
    );
    let ready = f
        .src
        .ready(gaffer_core::time::zero_time())
        .expect("third try succeeds");
    assert!(ready.is_empty());
    assert_eq!(calls(&f).len(), 3);
    let mut src = f.src.clone();
    src.timeout = Duration::from_millis(300);
    assert!(matches!(
        src.close("demo-x", "r"),
        Err(WorkSourceError::Timeout { .. })
    ));
    match f.src.claim("demo-x", "a") {
        Err(WorkSourceError::Failed {
            exit_code, message, ..
        }) => {
            assert_eq!(exit_code, Some(1));
            assert!(message.contains("something broke"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failing_br_makes_the_source_unhealthy_until_it_works_again() {
    // Fails while the file `down` exists next to the calls log.
    let f = fake(
        r#"*ready*) if [ -e "$(dirname "$0")/down" ]; then echo 'br: injected failure' >&2; exit 1; fi; echo '[]';;
"update demo-qtf --claim --actor agent-1 --json") if [ -e "$(dirname "$0")/down" ]; then echo 'disk I/O error' >&2; exit 1; fi; echo '[{"id":"demo-qtf","assignee":"agent-1"}]';;"#,
    );
    let down = f.calls.with_file_name("down");
    assert_eq!(f.src.health(), Ok(()));
    std::fs::write(&down, "").expect("down");
    let err = f.src.claim("demo-qtf", "agent-1");
    assert!(err.is_err(), "{err:?}");
    let h = f.src.health();
    assert!(
        h.as_ref().is_err_and(|e| e.contains("injected failure")),
        "health probes br again and reports its failure: {h:?}"
    );
    std::fs::remove_file(&down).expect("up");
    assert_eq!(f.src.health(), Ok(()), "a working probe clears it");
    assert!(calls(&f).iter().any(|c| c.starts_with("ready")));
}

#[test]
fn an_unreadable_jsonl_makes_br_run_on_its_database_alone() {
    let f = fake(
        r#""ready --json --limit 0") echo '{"error":{"code":"CONFIG_ERROR","message":"Configuration error: Invalid JSON at line 2: EOF while parsing a value"}}'; exit 0;;
"--no-auto-import ready --json --limit 0") echo '[{"id":"demo-1","title":"a task","status":"open","priority":2,"issue_type":"task","created_at":"2026-12-07T06:27:08Z","updated_at":"2026-12-07T06:27:08Z"}]';;"#,
    );
    let ready = f
        .src
        .ready(gaffer_core::time::zero_time())
        .expect("ready on the database");
    assert_eq!(ready.len(), 1);
    assert_eq!(ready[0].id, "demo-1");
    assert_eq!(f.src.health(), Ok(()));
    assert_eq!(
        calls(&f),
        vec![
            "ready --json --limit 0".to_string(),
            "--no-auto-import ready --json --limit 0".to_string()
        ]
    );
}
