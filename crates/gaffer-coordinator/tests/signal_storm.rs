//! A hook storm: 16 panes send 10,000 hook signals as fast as they can (each through its own
//! new connection, as each `gaffer hook` process does) while the coordinator's feed reads.
//! No write fails, and the feed ends with exactly the last signal of each kind per pane.

use gaffer_coordinator::signal_store::{LedgerSignalFeed, SignalStore};
use gaffer_core::signals::{HookEvent, Signal, SignalFeed};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PANES: usize = 16;
const TOTAL: usize = 10_000;
const KINDS: [HookEvent; 5] = [
    HookEvent::TurnStart,
    HookEvent::ToolStart,
    HookEvent::ToolEnd,
    HookEvent::PermissionRequest,
    HookEvent::Stop,
];

#[test]
fn a_hook_storm_loses_nothing_that_matters() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    drop(SignalStore::open(&db).unwrap());
    let feed = Arc::new(LedgerSignalFeed::new(&db));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (feed, done) = (Arc::clone(&feed), Arc::clone(&done));
        std::thread::spawn(move || {
            let mut reads = 0;
            let stop_at = Instant::now() + Duration::from_secs(120);
            while !done.load(Ordering::SeqCst) && Instant::now() < stop_at {
                feed.pane_signals();
                reads += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            reads
        })
    };
    let started = Instant::now();
    let writers: Vec<_> = (0..PANES)
        .map(|p| {
            let db = db.clone();
            std::thread::spawn(move || {
                let pane = format!("%{p}");
                let mut last: BTreeMap<HookEvent, String> = BTreeMap::new();
                let mut errors = Vec::new();
                for i in 0..TOTAL / PANES {
                    let event = KINDS[(i * 7 + p) % KINDS.len()];
                    let detail = format!("{pane}-{i}");
                    let s = Signal {
                        seq: 0,
                        pane_id: pane.clone(),
                        socket: None,
                        agent: "cc".into(),
                        event,
                        raw_event: "Storm".into(),
                        at: chrono::Utc::now(),
                        session_id: None,
                        transcript_path: None,
                        detail: Some(detail.clone()),
                    };
                    match SignalStore::open(&db).and_then(|st| st.record(&s)) {
                        Ok(_) => {
                            last.insert(event, detail);
                        }
                        Err(e) => errors.push(e.to_string()),
                    }
                }
                (pane, last, errors)
            })
        })
        .collect();
    let results: Vec<_> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let took = started.elapsed();
    done.store(true, Ordering::SeqCst);
    let reads = reader.join().unwrap();
    let rate = TOTAL as f64 / took.as_secs_f64();
    eprintln!(
        "storm: {TOTAL} signals from {PANES} panes in {took:?} ({rate:.0}/s), {reads} feed reads"
    );
    for (pane, _, errors) in &results {
        assert!(
            errors.is_empty(),
            "{pane}: {} writes failed: {:?}",
            errors.len(),
            &errors[..1]
        );
    }
    assert!(
        rate >= 1000.0,
        "the writers kept up 1,000 signals/s: {rate:.0}/s"
    );
    assert!(reads > 1, "the feed read while the storm ran");

    let got = feed.pane_signals();
    assert_eq!(got.len(), PANES);
    for (pane, last, _) in &results {
        let seen: BTreeMap<HookEvent, String> = got[pane]
            .last
            .iter()
            .map(|(k, s)| (*k, s.detail.clone().unwrap_or_default()))
            .collect();
        assert_eq!(&seen, last, "{pane}: the last of each kind");
    }
    // A reader starting now (status, explain) sees the same, and pruning keeps it so.
    let fresh = LedgerSignalFeed::new(&db);
    assert_eq!(fresh.pane_signals(), got);
    let st = SignalStore::open(&db).unwrap();
    st.prune().unwrap();
    assert_eq!(LedgerSignalFeed::new(&db).pane_signals(), got);
    let (rows, _) = st.since(0, 1_000_000).unwrap();
    assert_eq!(
        rows.len(),
        PANES * KINDS.len(),
        "only the last of each kind is kept"
    );
}
