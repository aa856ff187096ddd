//! The ledger's readers on rows that no longer parse: a ledger file (SQLite, WAL) gets arbitrary
//! text in its JSON and time columns through a second connection, as a damaged or foreign file
//! would have, and every reader runs over it. Input: one row per line, its first byte picks the
//! table (`e` events, `t` test runs, `s` scans, `f`/`r`/`c` an assignment's files, reserved or
//! created time, `b` a back-off's until time, `n` a back-off reason). Checks: `events_since`
//! and paging with `events_page` return each row once, as an event or as a skipped row, and
//! nothing panics.
#![no_main]

use gaffer_coordinator::ledger::Ledger;
use gaffer_core::assign::BackoffBook;
use libfuzzer_sys::fuzz_target;
use rusqlite::{Connection, params};
use std::sync::{Mutex, OnceLock};

struct Files {
    ledger: Ledger,
    raw: Connection,
}

fn files() -> Option<&'static Mutex<Files>> {
    static F: OnceLock<Option<Mutex<Files>>> = OnceLock::new();
    F.get_or_init(|| {
        let dir = if std::path::Path::new("/dev/shm").is_dir() {
            std::path::PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        sweep(&dir);
        let path = dir.join(format!("gaffer-fuzz-ledger-{}.sqlite", std::process::id()));
        let ledger = Ledger::open(&path).ok()?;
        let raw = Connection::open(&path).ok()?;
        raw.execute_batch("PRAGMA synchronous=OFF;").ok()?;
        Some(Mutex::new(Files { ledger, raw }))
    })
    .as_ref()
}

/// Removes the ledger files of earlier runs whose process is gone (libFuzzer ends a run with
/// `exit`, so a run cannot remove its own; a WAL file is a few MB).
fn sweep(dir: &std::path::Path) {
    // without /proc (not Linux) a live run cannot be told from a dead one: keep everything
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name
            .to_str()
            .and_then(|n| n.strip_prefix("gaffer-fuzz-ledger-"))
        else {
            continue;
        };
        let pid = rest.split('.').next().unwrap_or("");
        if !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && !std::path::Path::new("/proc").join(pid).exists()
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

const NOW: &str = "2027-01-15T10:00:00Z";

fuzz_target!(|data: &[u8]| {
    let Some(files) = files() else {
        panic!("cannot open the ledger file");
    };
    let Ok(mut f) = files.lock() else {
        return;
    };
    let raw = &f.raw;
    let clear = "DELETE FROM events; DELETE FROM test_runs; DELETE FROM scans; \
                 DELETE FROM assignments; DELETE FROM backoff;";
    raw.execute_batch(clear)
        .unwrap_or_else(|e| panic!("clear: {e}"));
    let text = String::from_utf8_lossy(data);
    let mut events = 0usize;
    for (k, line) in text.split('\n').take(32).enumerate() {
        let Some(kind) = line.chars().next() else {
            continue;
        };
        let body = &line[kind.len_utf8()..];
        let bead = format!("b-{k}");
        let (files_col, reserved, created) = match kind {
            'f' => (body, "[]", NOW),
            'r' => ("[]", body, NOW),
            'c' => ("[]", "[]", body),
            _ => ("[]", "[]", NOW),
        };
        let r = match kind {
            'e' => {
                events += 1;
                raw.execute(
                    "INSERT INTO events (ts, type, agent_id, json) VALUES (?1, 'x', 'a', ?2)",
                    params![NOW, body],
                )
            }
            't' => raw.execute("INSERT INTO test_runs (json) VALUES (?1)", params![body]),
            's' => raw.execute("INSERT INTO scans (json) VALUES (?1)", params![body]),
            'f' | 'r' | 'c' => raw.execute(
                "INSERT INTO assignments (bead_id, bead_title, agent_pane_id, agent_name, \
                 agent_type, score, files, state, reserved, created_at, updated_at) \
                 VALUES (?1, 't', '%1', 'A', 'cc', 1.0, ?2, 'failed', ?3, ?4, ?5)",
                params![bead, files_col, reserved, created, NOW],
            ),
            'b' => raw.execute(
                "INSERT INTO backoff (agent, bead, failures, until, reason) \
                 VALUES ('A', ?1, 1, ?2, 'stalled')",
                params![bead, body],
            ),
            'n' => raw.execute(
                "INSERT INTO backoff (agent, bead, failures, until, reason) \
                 VALUES ('A', ?1, 1, ?2, ?3)",
                params![bead, NOW, body],
            ),
            _ => Ok(0),
        };
        r.unwrap_or_else(|e| panic!("insert: {e}"));
    }
    let ledger = &mut f.ledger;
    match ledger.events_since(0) {
        Ok((read, bad)) => assert_eq!(read.len() + bad, events, "rows lost or doubled"),
        Err(e) => panic!("events_since failed on readable rows: {e}"),
    }
    // Tailing the log a page at a time reads every row once, and the cursor passes bad rows.
    let limit = 1 + data.len() % 4;
    let (mut after, mut seen) = (0i64, 0usize);
    for _ in 0..=events {
        let page = ledger
            .events_page(after, limit)
            .unwrap_or_else(|e| panic!("events_page: {e}"));
        assert!(page.rows <= limit && page.events.len() + page.bad == page.rows);
        assert!(
            page.rows == 0 || page.last_id > after,
            "the cursor did not move"
        );
        seen += page.rows;
        after = page.last_id;
        if page.rows < limit {
            break;
        }
    }
    assert_eq!(seen, events, "paging lost or doubled rows");
    assert!(ledger.last_event_id().is_ok_and(|id| id >= after));
    let _ = ledger.quality_monitor(true);
    let _ = ledger.all();
    let _ = ledger.active();
    let _ = ledger.done_beads();
    let mut book = BackoffBook::default();
    let _ = ledger.load_backoff(&mut book);
});
