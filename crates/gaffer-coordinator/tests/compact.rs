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
