//! The real `br` (beads_rust 0.7.6): a temporary beads project made with `br init` and
//! `br create` is read and ranked by gaffer, claimed through br (a second claim loses, as a
//! typed outcome), and a closed item leaves the ready set.
//!
//! In CI (`CI` set and not `false`/`0`) this test fails when br is missing; locally it is
//! skipped with a message. `scripts/install-br.sh` installs br.

use gaffer_beads::{BeadsProject, BrSource, process};
use gaffer_core::time::Timestamp;
use gaffer_core::triage_engine::triage;
use gaffer_core::work_source::{ClaimOutcome, CloseOutcome, Holding, WorkSource, WorkSourceError};
use std::path::{Path, PathBuf};
use std::process::Command;

fn find_br() -> Option<PathBuf> {
    if let Some(p) = process::which("br") {
        return Some(p);
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let p = cargo_home.join("bin/br");
    p.is_file().then_some(p)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The installed br; `None` (the test skips, saying so) when it is missing outside CI. In CI a
/// missing br fails the test.
fn br_or_skip() -> Option<PathBuf> {
    let br = find_br();
    if br.is_none() {
        if in_ci() {
            panic!(
                "br is not installed but CI is set: scripts/install-br.sh must install it \
                 (looked on PATH and in $CARGO_HOME/bin)"
            );
        }
        eprintln!("SKIPPED real-br test: br not found (run scripts/install-br.sh to install it)");
    }
    br
}

/// A new directory `name` under `parent`, made a git repository (br works inside one).
fn git_dir(parent: &Path, name: &str) -> PathBuf {
    let dir = parent.join(name);
    std::fs::create_dir(&dir).expect("mkdir");
    let _ = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&dir)
        .status();
    dir
}

fn br_json(br: &Path, dir: &Path, args: &[&str]) -> serde_json::Value {
    let out = Command::new(br)
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "error")
        .output()
        .expect("br runs");
    assert!(
        out.status.success(),
        "br {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("br prints JSON")
}

fn create(br: &Path, dir: &Path, args: &[&str]) -> String {
    let mut all = vec!["create"];
    all.extend_from_slice(args);
    all.push("--json");
    let v = br_json(br, dir, &all);
    v["id"].as_str().expect("created id").to_string()
}

fn now() -> Timestamp {
    Timestamp::from(std::time::SystemTime::now())
}

fn ids(issues: &[gaffer_core::beads::Issue]) -> Vec<String> {
    let mut v: Vec<String> = issues.iter().map(|i| i.id.clone()).collect();
    v.sort();
    v
}

#[test]
fn real_br_read_rank_claim_race_and_close() {
    let Some(br) = br_or_skip() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = git_dir(tmp.path(), "beads-demo");
    let init = br_json(&br, &dir, &["init", "--prefix", "demo", "--json"]);
    assert_eq!(init["initialized"], true, "{init}");

    let schema = create(
        &br,
        &dir,
        &["Design storage schema", "-t", "task", "-p", "1", "-e", "90"],
    );
    let storage = create(
        &br,
        &dir,
        &[
            "Implement storage layer",
            "-t",
            "feature",
            "-p",
            "1",
            "--deps",
            &format!("blocks:{schema}"),
        ],
    );
    let docs = create(&br, &dir, &["Write CLI docs", "-t", "docs", "-p", "3"]);

    // gaffer reads the project br wrote and ranks it.
    let project = BeadsProject::discover(&dir).expect("project");
    let loaded = project.load().expect("jsonl loads");
    assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
    assert_eq!(loaded.issues.len(), 3);
    let t = triage(&loaded.issues, now());
    let order: Vec<&str> = t.ranked.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(order[0], schema, "the sole blocker ranks first: {order:?}");
    let storage_rec = t.ranked.iter().find(|r| r.id == storage).expect("ranked");
    assert_eq!(storage_rec.blocked_by, std::slice::from_ref(&schema));
    let schema_rec = &t.ranked[0];
    assert_eq!(schema_rec.unblocks_ids, std::slice::from_ref(&storage));

    // The native ready set agrees with br's.
    let src = BrSource::with_program(project.clone(), br.clone());
    let mut want = vec![schema.clone(), docs.clone()];
    want.sort();
    assert_eq!(loaded.ready_ids(now()), want);
    assert_eq!(ids(&src.ready(now()).expect("br ready")), want);

    // Claim through br; a second claim of the same item loses, as an outcome.
    match src.claim(&schema, "agent-1").expect("claim") {
        ClaimOutcome::Claimed { id, assignee } => {
            assert_eq!(id, schema);
            assert_eq!(assignee, "agent-1");
        }
        other => panic!("expected Claimed, got {other:?}"),
    }
    match src
        .claim(&schema, "agent-2")
        .expect("second claim is not an error")
    {
        ClaimOutcome::AlreadyClaimed { id, holder, .. } => {
            assert_eq!(id, schema);
            assert_eq!(holder.as_deref(), Some("agent-1"));
        }
        other => panic!("expected AlreadyClaimed, got {other:?}"),
    }
    assert_eq!(
        ids(&src.ready(now()).expect("br ready")),
        std::slice::from_ref(&docs)
    );
    // An assignment that fails after claiming undoes the claim: the item is ready again, and
    // claiming it once more works.
    assert!(src.unclaim(&schema, "agent-1").expect("unclaim"));
    assert!(ids(&src.ready(now()).expect("br ready")).contains(&schema));
    assert!(matches!(
        src.claim(&schema, "agent-1").expect("claim again"),
        ClaimOutcome::Claimed { .. }
    ));
    // br flushed the claim to the JSONL that gaffer reads.
    let reloaded = project.load().expect("reload");
    let claimed = reloaded
        .issues
        .iter()
        .find(|i| i.id == schema)
        .expect("present");
    assert_eq!(claimed.status, "in_progress");
    assert_eq!(claimed.assignee.as_deref(), Some("agent-1"));

    // Closing leaves the ready set and unblocks the dependent.
    match src.close(&schema, "schema merged").expect("close") {
        CloseOutcome::Closed { id, unblocked } => {
            assert_eq!(id, schema);
            assert!(unblocked.contains(&storage), "{unblocked:?}");
        }
        other => panic!("expected Closed, got {other:?}"),
    }
    let ready = ids(&src.ready(now()).expect("br ready"));
    assert!(!ready.contains(&schema), "{ready:?}");
    let mut want = vec![storage.clone(), docs.clone()];
    want.sort();
    assert_eq!(ready, want);
    let after = project.load().expect("reload");
    assert_eq!(
        after.ready_ids(now()),
        want,
        "native readiness agrees after the close"
    );
    let t = src.triage(now()).expect("triage through the br source");
    assert!(t.triage.recommendations.iter().all(|r| r.id != schema));

    // Closing again and claiming a closed issue are refusals, not errors.
    match src
        .close(&schema, "again")
        .expect("second close is not an error")
    {
        CloseOutcome::NotClosable { id, reason } => {
            assert_eq!(id, schema);
            assert!(reason.contains("already closed"), "{reason}");
        }
        other => panic!("expected NotClosable, got {other:?}"),
    }
    match src
        .claim(&schema, "agent-3")
        .expect("claim of a closed issue")
    {
        ClaimOutcome::NotClaimable { id, .. } => assert_eq!(id, schema),
        other => panic!("expected NotClaimable, got {other:?}"),
    }

    // A missing issue is a typed error.
    match src.claim("demo-nope", "agent-1") {
        Err(WorkSourceError::NotFound { id, .. }) => assert_eq!(id, "demo-nope"),
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(matches!(
        src.close("demo-nope", "x"),
        Err(WorkSourceError::NotFound { .. }) | Ok(CloseOutcome::NotClosable { .. })
    ));
}

/// A line br cannot read, appended to its JSONL file: gaffer runs br on its database alone and
/// leaves the file as it is (the line is not dropped by br's export), and once the line is
/// removed the claims and closes made meanwhile reach the file.
#[test]
fn real_br_with_an_unreadable_jsonl_line_keeps_the_line_and_the_work() {
    let Some(br) = br_or_skip() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = git_dir(tmp.path(), "beads-bad-line");
    br_json(&br, &dir, &["init", "--prefix", "bad", "--json"]);
    let a = create(&br, &dir, &["Edit src/a.rs", "--priority", "1"]);
    let b = create(&br, &dir, &["Edit src/b.rs", "--priority", "1"]);
    let jsonl = dir.join(".beads/issues.jsonl");
    let bad = "not json at all";
    let mut text = std::fs::read_to_string(&jsonl).expect("jsonl");
    assert!(text.contains(&a) && text.contains(&b), "{text}");
    text.push_str(bad);
    text.push('\n');
    std::fs::write(&jsonl, &text).expect("append");

    let project = BeadsProject::discover(&dir).expect("project");
    let src = BrSource::with_program(project, br.clone());
    let claimed = src.claim(&a, "agent-1").expect("claim on the database");
    assert!(
        matches!(claimed, ClaimOutcome::Claimed { .. }),
        "{claimed:?}"
    );
    let closed = src.close(&b, "done").expect("close on the database");
    assert!(matches!(closed, CloseOutcome::Closed { .. }), "{closed:?}");
    let after = std::fs::read_to_string(&jsonl).expect("jsonl");
    assert!(
        after.lines().any(|l| l == bad),
        "the unreadable line is still in the file:\n{after}"
    );

    // The line removed: the next change exports the database, earlier claim and close included.
    let fixed: String = after
        .lines()
        .filter(|l| *l != bad)
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&jsonl, fixed).expect("fix");
    let c = create(&br, &dir, &["Another task", "--priority", "2"]);
    let file = std::fs::read_to_string(&jsonl).expect("jsonl");
    let line_of = |id: &str| -> serde_json::Value {
        file.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["id"] == id)
            .unwrap_or_else(|| panic!("{id} in the file:\n{file}"))
    };
    assert_eq!(line_of(&b)["status"], "closed", "the close made meanwhile");
    assert_eq!(
        line_of(&a)["assignee"],
        "agent-1",
        "the claim made meanwhile"
    );
    assert_eq!(line_of(&c)["status"], "open");
}

/// While br cannot read its JSONL (an unreadable line), it stops writing the file: a claim
/// made then is in br's database only, and the file still shows the bead open. `holding`
/// reads br itself, so gaffer knows who holds a bead whatever the file says (the soak's
/// claim-lost loop: beads left claimed looked free in the stale file).
#[test]
fn real_br_holding_comes_from_the_database_while_the_jsonl_is_stale() {
    let Some(br) = br_or_skip() else { return };
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = git_dir(tmp.path(), "beads-holding");
    br_json(&br, &dir, &["init", "--prefix", "hold", "--json"]);
    let a = create(&br, &dir, &["Edit src/a.rs", "--priority", "1"]);
    let b = create(&br, &dir, &["Edit src/b.rs", "--priority", "1"]);
    let jsonl = dir.join(".beads/issues.jsonl");
    let mut text = std::fs::read_to_string(&jsonl).expect("jsonl");
    text.push_str("not json at all\n");
    std::fs::write(&jsonl, &text).expect("append");

    let project = BeadsProject::discover(&dir).expect("project");
    let src = BrSource::with_program(project.clone(), br.clone());
    assert_eq!(src.holding(&a).expect("show"), Holding::Free);
    let claimed = src.claim(&a, "RoseFalcon").expect("claim");
    assert!(
        matches!(claimed, ClaimOutcome::Claimed { .. }),
        "{claimed:?}"
    );
    // The file is stale: it still shows the bead open, unassigned.
    let loaded = project.load().expect("load");
    let in_file = loaded
        .issues
        .iter()
        .find(|i| i.id == a)
        .expect("a in the file");
    assert_eq!(in_file.status, "open", "the file was not rewritten");
    // br itself knows.
    assert_eq!(
        src.holding(&a).expect("show"),
        Holding::HeldBy("RoseFalcon".into())
    );
    let lost = src.claim(&a, "JadeGate").expect("claim");
    assert!(
        matches!(&lost, ClaimOutcome::AlreadyClaimed { holder: Some(h), .. } if h == "RoseFalcon"),
        "{lost:?}"
    );
    assert!(src.unclaim(&a, "RoseFalcon").expect("unclaim"));
    assert_eq!(src.holding(&a).expect("show"), Holding::Free);
    src.close(&b, "done").expect("close");
    assert_eq!(
        src.holding(&b).expect("show"),
        Holding::Other("closed".into())
    );
    // A missing bead is an error (with the unreadable line, br 0.7.6 answers with its
    // CONFIG_ERROR rather than ISSUE_NOT_FOUND).
    assert!(src.holding("hold-zzz").is_err());
}
