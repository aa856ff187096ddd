//! Compacting an idle agent above the context limit, on the runtime with fake adapters and a
//! fake clock: the command the pane gets, the events, the back-off, and work afterwards.

use gaffer_core::event::CoordinatorEvent;
use gaffer_core::status::AgentStatus;
use gaffer_testkit::fakes::*;
use std::sync::mpsc::Receiver;

fn events(rx: &Receiver<CoordinatorEvent>, kind: &str) -> Vec<CoordinatorEvent> {
    rx.try_iter()
        .filter(|e| e.event_type.as_str() == kind)
        .collect()
}

fn set_context(r: &Rig, pane: &str, context: f64) {
    r.world
        .agents
        .lock()
        .unwrap()
        .get_mut(pane)
        .unwrap()
        .context_usage = context;
}

fn delivered(r: &Rig) -> Vec<(String, String)> {
    r.world.delivered.lock().unwrap().clone()
}

#[test]
fn an_idle_agent_above_the_limit_is_compacted_then_gets_work() {
    let r = rig();
    let long_idle = t0() - chrono::Duration::seconds(120);
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle);
    r.world.responsive.lock().unwrap().insert("%1".into(), true);
    set_context(&r, "%1", 95.0);
    r.work.add("b1", "Fix src/a.rs", 0.6);
    let rx = r.coord.events().subscribe();

    r.coord.update_state();
    // No work above the limit; the kind's compact command instead.
    assert!(r.coord.assign_now(None, false).unwrap().is_empty());
    assert_eq!(delivered(&r), [("%1".to_string(), "/compact".to_string())]);
    let sent = events(&rx, "agent_compacting");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].details["command"], "/compact");
    assert_eq!(sent[0].details["context_before"], 95.0);

    // Idle again and still full: not again within the back-off.
    r.clock.advance(60);
    r.world.set("%1", AgentStatus::Waiting, long_idle);
    r.coord.update_state();
    assert_eq!(delivered(&r).len(), 1);
    assert!(events(&rx, "agent_compacting").is_empty());

    // The context went down: agent_compacted, and the agent gets work.
    r.world.set("%1", AgentStatus::Waiting, long_idle);
    r.clock.advance(5);
    set_context(&r, "%1", 30.0);
    r.coord.update_state();
    let done = events(&rx, "agent_compacted");
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].details["context_before"], 95.0);
    assert_eq!(done[0].details["context_after"], 30.0);
    let res = r.coord.assign_now(None, false).unwrap();
    assert!(res.len() == 1 && res[0].success, "{res:?}");
    assert_eq!(delivered(&r).len(), 2);
    assert_eq!(delivered(&r)[1].0, "%1");
}

#[test]
fn compact_idle_off_leaves_the_agent_alone() {
    let mut cfg = gaffer_core::config::GafferConfig::default();
    cfg.coordinator.compact_idle = false;
    let r = rig_with(
        gaffer_coordinator::ledger::Ledger::open_in_memory().unwrap(),
        cfg,
        true,
    );
    r.world.add(
        "%1",
        "cc",
        AgentStatus::Waiting,
        t0() - chrono::Duration::seconds(120),
    );
    set_context(&r, "%1", 95.0);
    r.coord.update_state();
    r.coord.update_state();
    assert!(delivered(&r).is_empty());
}

#[test]
fn a_restarted_coordinator_keeps_the_backoff() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let long_idle = t0() - chrono::Duration::seconds(120);
    let setup = |r: &Rig| {
        r.world.add("%1", "cc", AgentStatus::Waiting, long_idle);
        set_context(r, "%1", 95.0);
    };
    let open = || {
        rig_with(
            gaffer_coordinator::ledger::Ledger::open(&db).unwrap(),
            gaffer_core::config::GafferConfig::default(),
            true,
        )
    };
    {
        let r = open();
        setup(&r);
        r.coord.update_state();
        assert_eq!(delivered(&r), [("%1".to_string(), "/compact".to_string())]);
    }
    // A new process on the same ledger, a minute later: the agent is still idle and full, and
    // within the back-off, so it is not compacted again.
    let r = open();
    setup(&r);
    r.clock.advance(60);
    r.coord.update_state();
    r.coord.update_state();
    assert!(delivered(&r).is_empty(), "{:?}", delivered(&r));
    // Past the back-off (10 minutes from the first): compacted again.
    r.clock.advance(541);
    r.world.set("%1", AgentStatus::Waiting, long_idle);
    r.coord.update_state();
    assert_eq!(delivered(&r), [("%1".to_string(), "/compact".to_string())]);
}

#[test]
fn a_restarted_coordinator_reports_a_compaction_sent_before() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let long_idle = t0() - chrono::Duration::seconds(120);
    let open = || {
        rig_with(
            gaffer_coordinator::ledger::Ledger::open(&db).unwrap(),
            gaffer_core::config::GafferConfig::default(),
            true,
        )
    };
    {
        let r = open();
        r.world.add("%1", "cc", AgentStatus::Waiting, long_idle);
        r.world.responsive.lock().unwrap().insert("%1".into(), true);
        set_context(&r, "%1", 95.0);
        r.coord.update_state();
        assert_eq!(delivered(&r).len(), 1);
    }
    // The agent compacted while no coordinator ran: the next one reports it.
    let r = open();
    let rx = r.coord.events().subscribe();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle);
    set_context(&r, "%1", 20.0);
    r.clock.advance(30);
    r.coord.update_state();
    let done = events(&rx, "agent_compacted");
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].details["context_before"], 95.0);
    assert_eq!(done[0].details["context_after"], 20.0);
    assert!(delivered(&r).is_empty());
}

#[test]
fn compactions_are_delivered_concurrently_at_most_the_parallel_limit() {
    let r = rig();
    let long_idle = t0() - chrono::Duration::seconds(120);
    let n = gaffer_coordinator::act::PARALLEL_DELIVERIES + 3;
    for i in 0..n {
        let pane = format!("%{}", i + 1);
        r.world.add(&pane, "cc", AgentStatus::Waiting, long_idle);
        r.world
            .responsive
            .lock()
            .unwrap()
            .insert(pane.clone(), true);
        set_context(&r, &pane, 95.0);
    }
    *r.world.deliver_delay.lock().unwrap() = std::time::Duration::from_millis(300);
    let rx = r.coord.events().subscribe();
    r.coord.update_state();
    let mut panes: Vec<String> = delivered(&r).into_iter().map(|(p, _)| p).collect();
    panes.sort();
    panes.dedup();
    assert_eq!(panes.len(), n, "every agent got its command once");
    assert_eq!(events(&rx, "agent_compacting").len(), n);
    let peak = r.world.in_flight.lock().unwrap().1;
    assert!(
        (2..=gaffer_coordinator::act::PARALLEL_DELIVERIES).contains(&peak),
        "deliveries at once: {peak}"
    );
}

#[test]
fn a_follower_that_takes_over_keeps_the_leaders_backoff() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let long_idle = t0() - chrono::Duration::seconds(120);
    let open = || {
        rig_with(
            gaffer_coordinator::ledger::Ledger::open(&db).unwrap(),
            gaffer_core::config::GafferConfig::default(),
            true,
        )
    };
    // The follower starts first, so it loads no compaction at start.
    let follower = open();
    let leads = Arc::new(AtomicBool::new(false));
    let l = Arc::clone(&leads);
    follower.coord.follow_when(Arc::new(move || {
        (!l.load(Ordering::SeqCst)).then(|| "the leader".to_string())
    }));
    follower
        .world
        .add("%1", "cc", AgentStatus::Waiting, long_idle);
    set_context(&follower, "%1", 95.0);
    follower.coord.update_state();
    assert!(
        delivered(&follower).is_empty(),
        "a follower compacts nothing"
    );
    // The leader compacts the agent.
    let leader = open();
    leader
        .world
        .add("%1", "cc", AgentStatus::Waiting, long_idle);
    set_context(&leader, "%1", 95.0);
    leader.coord.update_state();
    assert_eq!(delivered(&leader).len(), 1);
    drop(leader);
    // The leader is gone: the follower decides now, within the back-off.
    leads.store(true, Ordering::SeqCst);
    follower.clock.advance(60);
    follower.coord.update_state();
    follower.coord.update_state();
    assert!(
        delivered(&follower).is_empty(),
        "{:?}",
        delivered(&follower)
    );
}

#[test]
fn a_compaction_seen_done_while_the_ledger_failed_is_written_later_and_not_reported_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let long_idle = t0() - chrono::Duration::seconds(120);
    let open = || {
        rig_with(
            gaffer_coordinator::ledger::Ledger::open(&db).unwrap(),
            gaffer_core::config::GafferConfig::default(),
            true,
        )
    };
    let sql = rusqlite::Connection::open(&db).unwrap();
    {
        let r = open();
        let rx = r.coord.events().subscribe();
        r.world.add("%1", "cc", AgentStatus::Waiting, long_idle);
        r.world.responsive.lock().unwrap().insert("%1".into(), true);
        set_context(&r, "%1", 95.0);
        r.coord.update_state();
        assert_eq!(delivered(&r).len(), 1);
        // The ledger refuses compaction writes (as on a full disk) when the agent is seen done.
        sql.execute_batch(
            "CREATE TRIGGER full_u BEFORE UPDATE ON compactions BEGIN SELECT RAISE(FAIL, 'disk full'); END;
             CREATE TRIGGER full_i BEFORE INSERT ON compactions BEGIN SELECT RAISE(FAIL, 'disk full'); END;",
        )
        .unwrap();
        r.world.set("%1", AgentStatus::Waiting, long_idle);
        set_context(&r, "%1", 30.0);
        r.clock.advance(5);
        r.coord.update_state();
        assert_eq!(events(&rx, "agent_compacted").len(), 1);
        // Room again: the next poll writes it.
        sql.execute_batch("DROP TRIGGER full_u; DROP TRIGGER full_i;")
            .unwrap();
        r.clock.advance(1);
        r.coord.update_state();
    }
    let done: bool = sql
        .query_row(
            "SELECT done FROM compactions WHERE pane_id = '%1'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert!(done, "the compaction seen done is in the ledger");
    // A restarted coordinator does not report it again.
    let r = open();
    let rx = r.coord.events().subscribe();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle);
    set_context(&r, "%1", 30.0);
    r.clock.advance(30);
    r.coord.update_state();
    assert!(events(&rx, "agent_compacted").is_empty());
}
