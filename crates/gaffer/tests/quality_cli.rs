//! `gaffer quality` and `gaffer done/refuse` against a real ledger in a temp project.

use gaffer_coordinator::ledger::{AssignmentState, Ledger, NewAssignment, Offer};
use gaffer_core::exit;
use std::path::Path;
use std::process::{Command, Output};

fn gaffer(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env_remove("AGENT_MAIL_URL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(s) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(s.as_bytes())
            .expect("write");
    }
    drop(child.stdin.take());
    child.wait_with_output().expect("wait")
}

fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join(".git")).unwrap();
    d
}

#[test]
fn record_tests_from_cargo_output_and_counts_then_show() {
    let d = project();
    let cargo_out = "test result: ok. 8 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out\n";
    let o = gaffer(
        d.path(),
        &["quality", "record-tests", "-", "--agent", "%3"],
        Some(cargo_out),
    );
    assert_eq!(
        o.status.code(),
        Some(exit::SUCCESS),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&o.stdout)
            .contains("8 passed, 2 failed, 1 skipped (cargo-test) for %3")
    );
    let o = gaffer(
        d.path(),
        &[
            "--json",
            "quality",
            "record-tests",
            "--passed",
            "10",
            "--failed",
            "0",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(exit::SUCCESS));
    let o = gaffer(d.path(), &["--json", "quality"], None);
    assert_eq!(o.status.code(), Some(exit::SUCCESS));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["summary"]["total_test_runs"], 2);
    assert_eq!(v["summary"]["tests_passed_all"], 18);
    assert_eq!(v["summary"]["test_pass_rate"], 90.0);
    assert_eq!(v["agents"]["%3"]["tests_failed"], 2);
    // 100 × (0.5 + 0.5 × 0.8) = 90
    assert_eq!(v["agent_scores"]["%3"], 90.0);
}

#[test]
fn record_tests_rejects_garbage_and_bad_usage() {
    let d = project();
    let o = gaffer(
        d.path(),
        &["quality", "record-tests", "-"],
        Some("hello world"),
    );
    assert_eq!(o.status.code(), Some(exit::FAILURE));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no test results found"));
    let o = gaffer(d.path(), &["quality", "record-tests"], None);
    assert_eq!(o.status.code(), Some(exit::USAGE));
    let o = gaffer(d.path(), &["quality", "scan"], None);
    if !std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("ubs").is_file()))
    {
        assert_eq!(o.status.code(), Some(exit::UNAVAILABLE));
    }
}

#[test]
fn done_and_refuse_update_the_ledger() {
    let d = project();
    let db = d.path().join(".gaffer/state.db");
    let now = chrono::Utc::now();
    {
        let mut l = Ledger::open(&db).unwrap();
        for (bead, pane) in [("b1", "%1"), ("b2", "%2")] {
            let a = NewAssignment {
                bead_id: bead.into(),
                bead_title: "T".into(),
                agent_pane_id: pane.into(),
                agent_name: String::new(),
                agent_type: "cc".into(),
                score: 0.5,
                files: vec![],
            };
            assert!(matches!(l.offer(&a, now).unwrap(), Offer::Created(_)));
        }
    }
    let o = gaffer(d.path(), &["done", "b1", "--reason", "fixed"], None);
    assert_eq!(
        o.status.code(),
        Some(exit::SUCCESS),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = gaffer(
        d.path(),
        &["--json", "refuse", "b2", "--reason", "not my area"],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(exit::SUCCESS),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = gaffer(d.path(), &["done", "b1"], None);
    assert_eq!(o.status.code(), Some(exit::NOT_FOUND), "already done");
    let l = Ledger::open(&db).unwrap();
    assert_eq!(l.by_bead("b1").unwrap()[0].state, AssignmentState::Done);
    assert_eq!(l.by_bead("b2").unwrap()[0].state, AssignmentState::Refused);
    let mut book = gaffer_core::assign::BackoffBook::new(
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(600),
    );
    l.load_backoff(&mut book).unwrap();
    assert!(book.is_backing_off("%2", "b2", chrono::Utc::now()));
    let (events, _) = l.events_since(0).unwrap();
    let kinds: Vec<String> = events
        .iter()
        .map(|(_, e)| e.event_type.as_str().to_string())
        .collect();
    assert_eq!(kinds, ["work_completed", "assignment_refused"]);
}

#[test]
fn done_warns_when_the_project_is_kept_by_br_but_br_is_missing() {
    let d = project();
    std::fs::create_dir(d.path().join(".beads")).unwrap();
    std::fs::write(d.path().join(".beads/issues.jsonl"), "").unwrap();
    std::fs::write(d.path().join(".beads/beads.db"), "").unwrap();
    {
        let mut l = Ledger::open(&d.path().join(".gaffer/state.db")).unwrap();
        let a = NewAssignment {
            bead_id: "b1".into(),
            bead_title: "T".into(),
            agent_pane_id: "%1".into(),
            agent_name: String::new(),
            agent_type: "cc".into(),
            score: 0.5,
            files: vec![],
        };
        assert!(matches!(
            l.offer(&a, chrono::Utc::now()).unwrap(),
            Offer::Created(_)
        ));
    }
    // A PATH without br (an agent's shell often lacks ~/.cargo/bin).
    let o = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["done", "b1"])
        .current_dir(d.path())
        .env("XDG_CONFIG_HOME", d.path().join("xdg"))
        .env("PATH", "/usr/bin:/bin")
        .env_remove("AGENT_MAIL_URL")
        .output()
        .expect("gaffer runs");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(exit::SUCCESS), "{err}");
    assert!(
        err.contains("stays open in br") && err.contains("`br` is not on PATH"),
        "{err}"
    );
    // Without a br database, a read-only source is the normal case: no warning.
    std::fs::remove_file(d.path().join(".beads/beads.db")).unwrap();
    let o = gaffer(d.path(), &["done", "b1"], None);
    assert!(!String::from_utf8_lossy(&o.stderr).contains("stays open in br"));
}

/// A directory holding a fake `ubs` (the given shell script), to put first on PATH.
fn fake_ubs(dir: &Path, script: &str) -> std::ffi::OsString {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let ubs = bin.join("ubs");
    std::fs::write(&ubs, format!("#!/bin/sh\n{script}\n")).unwrap();
    std::fs::set_permissions(&ubs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut path = bin.into_os_string();
    path.push(":");
    path.push(std::env::var_os("PATH").unwrap_or_default());
    path
}

fn scan(dir: &Path, path: &std::ffi::OsStr, extra: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["--json", "quality", "scan"])
        .args(extra)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("PATH", path)
        .env_remove("AGENT_MAIL_URL")
        .output()
        .expect("run gaffer");
    (o, started.elapsed())
}

use std::time::{Duration, Instant};

#[test]
fn scan_reads_megabytes_of_scanner_output() {
    // > 1 MiB on stdout and 256 KiB on stderr: a pipe holds 64 KiB, so a scanner whose output
    // is not read while it runs blocks forever
    let d = project();
    let path = fake_ubs(
        d.path(),
        "i=0; while [ $i -lt 20000 ]; do echo \"warning: src/file_$i.rs:1 something long enough to fill the pipe\"; i=$((i+1)); done\n\
         echo 'CRITICAL src/a.rs:3 real bug'; echo 'CRITICAL src/b.rs:4 another'\n\
         head -c 262144 /dev/zero | tr '\\0' 'e' >&2\n\
         echo 'info: done'",
    );
    let (o, took) = scan(d.path(), &path, &[]);
    assert_eq!(
        o.status.code(),
        Some(exit::SUCCESS),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["critical"], 2, "{v}");
    assert_eq!(v["warning"], 20000, "{v}");
    assert_eq!(v["info"], 1, "{v}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
}

#[test]
fn a_hung_scanner_is_killed_with_its_children_at_the_timeout() {
    let d = project();
    let pid_file = d.path().join("child.pid");
    let path = fake_ubs(
        d.path(),
        &format!(
            "sleep 300 &\necho $! > {}\necho 'warning: started'\nsleep 300",
            pid_file.display()
        ),
    );
    let (o, took) = scan(d.path(), &path, &["--timeout", "1s"]);
    assert_eq!(o.status.code(), Some(exit::FAILURE));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("timed out after 1s"), "{err}");
    assert!(took < Duration::from_secs(10), "took {took:?}");
    let child: i32 = std::fs::read_to_string(&pid_file)
        .expect("the scanner started its child")
        .trim()
        .parse()
        .expect("pid");
    let gone = Instant::now() + Duration::from_secs(5);
    let alive = || {
        std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|s| {
            !s.rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
    };
    while alive() && Instant::now() < gone {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!alive(), "the scanner's child {child} was left running");
}

#[test]
fn a_report_over_the_size_limit_is_refused_clearly() {
    let d = project();
    let big = d.path().join("big.xml");
    let f = std::fs::File::create(&big).unwrap();
    // sparse: no disk used
    f.set_len(gaffer_core::limits::MAX_REPORT_BYTES + 1)
        .unwrap();
    let o = gaffer(
        d.path(),
        &["quality", "record-tests", big.to_str().unwrap()],
        None,
    );
    assert_eq!(o.status.code(), Some(exit::FAILURE));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("larger than 64 MiB"), "{err}");
}
