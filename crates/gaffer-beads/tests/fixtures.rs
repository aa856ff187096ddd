//! Fixture projects: each is written to a temporary `.beads/issues.jsonl`, read through the
//! project discovery and the tolerant reader, and ranked natively. Every fixture states its
//! expected ready set, blocked_by, unblocks, order and top picks.

use gaffer_beads::{BeadsProject, NativeSource};
use gaffer_core::time::{Timestamp, parse_rfc3339};
use gaffer_core::triage_engine::triage;
use gaffer_core::work_source::{ClaimOutcome, WorkSource};
use std::collections::BTreeMap;

fn now() -> Timestamp {
    parse_rfc3339("2026-11-28T12:00:00Z").expect("now")
}

struct Expect {
    ready: &'static [&'static str],
    blocked_by: &'static [(&'static str, &'static [&'static str])],
    unblocks: &'static [(&'static str, &'static [&'static str])],
    order: &'static [&'static str],
    top_picks: &'static [&'static str],
    actionable: i64,
    cycles: bool,
    skipped_lines: &'static [usize],
}

fn check(name: &str, e: Expect) {
    let dir = tempfile::tempdir().expect("tempdir");
    let beads = dir.path().join(".beads");
    std::fs::create_dir(&beads).expect("mkdir");
    let text = std::fs::read(format!(
        "{}/tests/fixtures/{name}.jsonl",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("fixture");
    std::fs::write(beads.join("issues.jsonl"), text).expect("write");
    let nested = dir.path().join("src/deep");
    std::fs::create_dir_all(&nested).expect("mkdir");
    let project = BeadsProject::discover(&nested).expect("project found from a subdirectory");
    let loaded = project.load().expect("loads");

    let skipped: Vec<usize> = loaded.skipped.iter().map(|s| s.line).collect();
    assert_eq!(skipped, e.skipped_lines, "{name}: skipped lines");
    assert_eq!(loaded.ready_ids(now()), e.ready, "{name}: ready set");

    let t = triage(&loaded.issues, now());
    let order: Vec<&str> = t.ranked.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(order, e.order, "{name}: order");
    let blocked: BTreeMap<&str, Vec<&str>> = t
        .ranked
        .iter()
        .filter(|r| !r.blocked_by.is_empty())
        .map(|r| {
            (
                r.id.as_str(),
                r.blocked_by.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let want: BTreeMap<&str, Vec<&str>> =
        e.blocked_by.iter().map(|(k, v)| (*k, v.to_vec())).collect();
    assert_eq!(blocked, want, "{name}: blocked_by");
    let unblocks: BTreeMap<&str, Vec<&str>> = t
        .ranked
        .iter()
        .filter(|r| !r.unblocks_ids.is_empty())
        .map(|r| {
            (
                r.id.as_str(),
                r.unblocks_ids.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    let want: BTreeMap<&str, Vec<&str>> =
        e.unblocks.iter().map(|(k, v)| (*k, v.to_vec())).collect();
    assert_eq!(unblocks, want, "{name}: unblocks");
    let picks: Vec<&str> = t
        .response
        .triage
        .quick_ref
        .top_picks
        .iter()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(picks, e.top_picks, "{name}: top picks");
    let health = t.response.triage.project_health.as_ref().expect("health");
    assert_eq!(health.counts.actionable, e.actionable, "{name}: actionable");
    assert_eq!(health.graph.has_cycles, e.cycles, "{name}: cycles");

    // The digest's top ready ids are ready, in ranked order.
    let digest = loaded.digest(now(), 3);
    let ranked_ready: Vec<&str> = order
        .iter()
        .copied()
        .filter(|id| e.ready.contains(id))
        .take(3)
        .collect();
    assert_eq!(digest.top_ready, ranked_ready, "{name}: digest top ready");

    // The native work source agrees and is read-only.
    let src = NativeSource::new(project);
    let ready: Vec<String> = src
        .ready(now())
        .expect("ready")
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(ready, e.ready, "{name}: source ready set");
    let resp = src.triage(now()).expect("triage");
    assert_eq!(resp, t.response, "{name}: source triage");
    assert_eq!(
        src.claim(e.order[0], "agent-1").expect("claim"),
        ClaimOutcome::ReadOnly
    );
}

#[test]
fn chain() {
    check(
        "chain",
        Expect {
            ready: &["ch-a"],
            blocked_by: &[
                ("ch-b", &["ch-a"]),
                ("ch-c", &["ch-b"]),
                ("ch-d", &["ch-c"]),
            ],
            unblocks: &[
                ("ch-a", &["ch-b"]),
                ("ch-b", &["ch-c"]),
                ("ch-c", &["ch-d"]),
            ],
            // The middle links carry the betweenness; the foundation the most PageRank.
            order: &["ch-b", "ch-c", "ch-a", "ch-d"],
            top_picks: &["ch-a"],
            actionable: 1,
            cycles: false,
            skipped_lines: &[],
        },
    );
}

#[test]
fn diamond() {
    check(
        "diamond",
        Expect {
            ready: &["dm-base"],
            blocked_by: &[
                ("dm-left", &["dm-base"]),
                ("dm-right", &["dm-base"]),
                ("dm-top", &["dm-left", "dm-right"]),
            ],
            // dm-top has two open blockers, so neither side alone unblocks it.
            unblocks: &[("dm-base", &["dm-left", "dm-right"])],
            order: &["dm-base", "dm-left", "dm-right", "dm-top"],
            top_picks: &["dm-base"],
            actionable: 1,
            cycles: false,
            skipped_lines: &[],
        },
    );
}

#[test]
fn cycle() {
    check(
        "cycle",
        Expect {
            ready: &["cy-d"],
            blocked_by: &[
                ("cy-a", &["cy-b"]),
                ("cy-b", &["cy-a"]),
                ("cy-c", &["cy-a"]),
            ],
            unblocks: &[("cy-a", &["cy-b", "cy-c"]), ("cy-b", &["cy-a"])],
            order: &["cy-a", "cy-b", "cy-d", "cy-c"],
            top_picks: &["cy-d"],
            actionable: 1,
            cycles: true,
            skipped_lines: &[],
        },
    );
}

#[test]
fn parent_child_epics() {
    check(
        "epics",
        Expect {
            // The epic with open children is not ready (br) and never a top pick (bv), though
            // bv counts it actionable; the blocked epic's child inherits its blocker.
            ready: &["ep-c1", "ep-x"],
            blocked_by: &[
                ("ep-c2", &["ep-c1"]),
                ("ep-e2", &["ep-x"]),
                ("ep-e2.1", &["ep-e2"]),
            ],
            unblocks: &[
                ("ep-c1", &["ep-c2"]),
                ("ep-x", &["ep-e2"]),
                ("ep-e2", &["ep-e2.1"]),
            ],
            order: &["ep-c1", "ep-x", "ep-epic", "ep-e2", "ep-c2", "ep-e2.1"],
            top_picks: &["ep-c1", "ep-x"],
            actionable: 3,
            cycles: false,
            skipped_lines: &[],
        },
    );
}

#[test]
fn deferred_items() {
    check(
        "deferred",
        Expect {
            ready: &["df-past"],
            blocked_by: &[("df-dep", &["df-later"]), ("df-hidden", &["df-past"])],
            // A deferred issue is never counted as unblocked.
            unblocks: &[("df-later", &["df-dep"])],
            order: &["df-later", "df-past", "df-dep", "df-hidden"],
            top_picks: &["df-past"],
            actionable: 1,
            cycles: false,
            skipped_lines: &[],
        },
    );
}

#[test]
fn closed_blockers() {
    check(
        "closed_blockers",
        Expect {
            // Closed and tombstoned blockers no longer block; an `external:` ref never does;
            // a missing target blocks br's ready set but not bv's blocked_by.
            ready: &["cb-a", "cb-c", "cb-e", "cb-open"],
            blocked_by: &[("cb-b", &["cb-open"])],
            unblocks: &[("cb-open", &["cb-b"])],
            order: &["cb-open", "cb-a", "cb-c", "cb-d", "cb-e", "cb-b"],
            top_picks: &["cb-open", "cb-a", "cb-c"],
            actionable: 5,
            cycles: false,
            skipped_lines: &[],
        },
    );
}

#[test]
fn malformed_lines_are_skipped_and_the_rest_loads() {
    check(
        "malformed",
        Expect {
            ready: &["ml-a", "ml-c"],
            blocked_by: &[("ml-b", &["ml-a"])],
            unblocks: &[("ml-a", &["ml-b"])],
            order: &["ml-a", "ml-c", "ml-b"],
            top_picks: &["ml-a", "ml-c"],
            actionable: 2,
            cycles: false,
            skipped_lines: &[2, 4, 7],
        },
    );
}
