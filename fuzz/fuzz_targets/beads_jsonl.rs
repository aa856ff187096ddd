//! The beads JSONL reader (`parse_issues`) on arbitrary bytes, then the native triage over what
//! loaded (graph, ready set, counts, digest); and the readers of `br`/`bv` output on the same
//! text. Checks: every non-blank line is either an issue or a reported skip, ids are unique and
//! non-empty, and the ready set only names loaded issues.
#![no_main]

use gaffer_beads::{br, bv, parse_issues, process};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;

fuzz_target!(|data: &[u8]| {
    let loaded = parse_issues(data);
    let lines = data.split(|&b| b == b'\n').count();
    let non_blank = data
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .count();
    assert!(
        loaded.issues.len() + loaded.skipped.len() <= non_blank,
        "{} issues + {} skips from {non_blank} non-blank lines",
        loaded.issues.len(),
        loaded.skipped.len()
    );
    for s in &loaded.skipped {
        assert!(
            s.line >= 1 && s.line <= lines,
            "skip at line {} of {lines}",
            s.line
        );
    }
    let mut ids = HashSet::new();
    for issue in &loaded.issues {
        assert!(
            !issue.id.trim().is_empty(),
            "an issue with an empty id loaded"
        );
        assert!(ids.insert(issue.id.as_str()), "duplicate id {:?}", issue.id);
    }
    let now = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default();
    let _ = loaded.graph();
    for id in loaded.ready_ids(now) {
        assert!(ids.contains(id.as_str()), "ready id {id:?} was not loaded");
    }
    let _ = loaded.counts(now);
    let _ = loaded.digest(now, 5);

    let text = String::from_utf8_lossy(data);
    let _ = process::json_documents(&text);
    if let Ok(v) = process::lenient_json(&text) {
        let _ = br::list_of(v);
    }
    let _ = bv::parse_triage(&text);
    let _ = br::holder_from(&text);
});
