//! Restarting exited agents and taking back stuck work, on the runtime with fake adapters and a
//! fake clock: what the ledger, the events, the work source, the mailbox and the panes see.

use gaffer_coordinator::ledger::{AssignmentRecord, AssignmentState, Ledger};
use gaffer_core::config::{ExitedWork, GafferConfig};
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::status::AgentStatus;
use gaffer_testkit::fakes::*;
use std::sync::mpsc::Receiver;

fn kinds(rx: &Receiver<CoordinatorEvent>) -> Vec<String> {
    rx.try_iter()
        .map(|e| e.event_type.as_str().to_string())
        .filter(|k| !k.starts_with("agent_idle") && !k.starts_with("agent_busy"))
        .collect()
}

fn long_idle() -> gaffer_core::time::Timestamp {
    t0() - chrono::Duration::seconds(120)
}

fn now(r: &Rig) -> gaffer_core::time::Timestamp {
    use gaffer_core::clock::Clock;
    r.clock.now()
}

fn restarting(work: ExitedWork) -> Rig {
    let mut cfg = GafferConfig::default();
    cfg.coordinator.restart_exited = true;
    cfg.coordinator.exited_work = work;
    rig_with(Ledger::open_in_memory().unwrap(), cfg, true)
}

/// `%1` (cc) holds b1 (delivered, files reserved); `%2` (cod) is busy.
fn with_b1_on_pane_1(r: &Rig) {
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world.add("%2", "cod", AgentStatus::Generating, t0());
    r.world
        .launches
        .lock()
        .unwrap()
        .insert("%1".into(), "cd '/p' && claude --model opus".into());
    r.work.add("b1", "Fix src/a.rs", 0.6);
    r.coord.update_state();
    let res = r.coord.assign_now(None, false).unwrap();
    assert!(res.len() == 1 && res[0].success, "{res:?}");
    assert_eq!(b1_records(r)[0].assignment.agent_pane_id, "%1");
}

fn b1_records(r: &Rig) -> Vec<AssignmentRecord> {
    r.coord
        .assignments()
        .unwrap()
        .into_iter()
        .filter(|a| a.assignment.bead_id == "b1")
        .collect()
}

fn live(recs: &[AssignmentRecord]) -> usize {
    recs.iter().filter(|a| a.state.is_active()).count()
}

#[test]
fn an_exited_agent_is_restarted_and_its_bead_handed_back_and_reassigned() {
    let r = restarting(ExitedWork::HandBack);
    with_b1_on_pane_1(&r);
    let rx = r.coord.events().subscribe();
    r.clock.advance(5);
    r.world.set("%1", AgentStatus::Exited, now(&r));
    r.coord.update_state();
    assert_eq!(
        kinds(&rx),
        ["agent_exited", "work_handed_back", "agent_restarted"]
    );
    // The launch command recorded on the pane ran again, in the same pane.
    assert_eq!(
        r.world.respawned.lock().unwrap().clone(),
        [(
            "%1".to_string(),
            "cd '/p' && claude --model opus".to_string()
        )]
    );
    // The claim is undone and the reservation released.
    let recs = b1_records(&r);
    assert_eq!(recs[0].state, AssignmentState::Failed);
    assert_eq!(recs[0].error, "agent exited");
    assert_eq!(r.work.unclaims.lock().unwrap().len(), 1);
    assert!(
        r.mail
            .reservations
            .lock()
            .unwrap()
            .iter()
            .all(|x| x.released_ts.is_some())
    );
    // The restarted agent waits again; b1 goes out again, once.
    r.clock.advance(60);
    r.world.set(
        "%1",
        AgentStatus::Waiting,
        now(&r) - chrono::Duration::seconds(40),
    );
    r.coord.update_state();
    let res = r.coord.assign_now(None, false).unwrap();
    assert!(res.len() == 1 && res[0].success, "{res:?}");
    let recs = b1_records(&r);
    assert_eq!(recs.len(), 2);
    assert_eq!(live(&recs), 1, "never assigned twice");
    // The agent did not exit again: nothing more is restarted.
    r.coord.update_state();
    assert_eq!(r.world.respawned.lock().unwrap().len(), 1);
}

#[test]
fn restarts_back_off_and_a_crash_loop_stops_them_with_one_alert() {
    let r = restarting(ExitedWork::HandBack);
    r.world.add("%1", "cc", AgentStatus::Exited, t0());
    let rx = r.coord.events().subscribe();
    // The agent exits again right after each restart; it is polled every 5 s for 15 minutes.
    for _ in 0..180 {
        r.world.set("%1", AgentStatus::Exited, now(&r));
        r.coord.update_state();
        r.clock.advance(5);
    }
    let events: Vec<String> = kinds(&rx);
    let restarts = events.iter().filter(|k| *k == "agent_restarted").count();
    let loops = events.iter().filter(|k| *k == "agent_crash_loop").count();
    assert_eq!((restarts, loops), (5, 1), "{events:?}");
    // Without a launch record, the kind registry's launch command runs.
    let respawned = r.world.respawned.lock().unwrap().clone();
    assert!(
        respawned.iter().all(|(p, c)| p == "%1" && c == "claude"),
        "{respawned:?}"
    );
    // The digest shows it; a restart by hand clears it and restarts at once.
    let d = r.coord.generate_digest();
    assert!(
        d.alerts
            .iter()
            .any(|a| a.contains("(pane %1) crash-loops: restarting stopped")),
        "{:?}",
        d.alerts
    );
    r.coord.restart_agent("%1").unwrap();
    assert_eq!(r.world.respawned.lock().unwrap().len(), 6);
    let d = r.coord.generate_digest();
    assert!(!d.alerts.iter().any(|a| a.contains("crash-loops")));
}

#[test]
fn the_restart_gaps_double() {
    let r = restarting(ExitedWork::HandBack);
    r.world.add("%1", "cc", AgentStatus::Exited, t0());
    let mut at = Vec::new();
    for s in 0..400 {
        r.world.set("%1", AgentStatus::Exited, now(&r));
        r.coord.update_state();
        if r.world.respawned.lock().unwrap().len() > at.len() {
            at.push(s);
        }
        r.clock.advance(1);
    }
    assert_eq!(at, [0, 15, 45, 105, 225]);
}

#[test]
fn redelivery_gives_the_restarted_agent_its_prompt_again() {
    let r = restarting(ExitedWork::Redeliver);
    with_b1_on_pane_1(&r);
    let rx = r.coord.events().subscribe();
    r.clock.advance(5);
    r.world.set("%1", AgentStatus::Exited, now(&r));
    r.coord.update_state();
    assert_eq!(kinds(&rx), ["agent_exited", "agent_restarted"]);
    assert_eq!(live(&b1_records(&r)), 1, "the assignment stays");
    // The fake restarted agent waits; the next poll delivers the prompt again.
    r.clock.advance(5);
    r.coord.update_state();
    assert_eq!(kinds(&rx), ["work_redelivered"]);
    let delivered = r.world.delivered.lock().unwrap().clone();
    assert_eq!(delivered.len(), 2);
    assert_eq!(delivered[0], delivered[1]);
    let recs = b1_records(&r);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].state, AssignmentState::Delivered);
    assert_eq!(recs[0].updated_at, now(&r));
    assert!(r.work.unclaims.lock().unwrap().is_empty());
}

#[test]
fn stuck_work_goes_to_another_agent_and_the_first_is_told_and_backs_off() {
    for (status, threshold) in [
        (AgentStatus::Blocked, 15 * 60),
        (AgentStatus::Stalled, 10 * 60),
        (AgentStatus::RateLimited, 30 * 60),
    ] {
        let r = rig();
        with_b1_on_pane_1(&r);
        let rx = r.coord.events().subscribe();
        r.clock.advance(5);
        r.world.set("%1", status, now(&r));
        r.coord.update_state();
        r.clock.advance(threshold - 1);
        r.coord.update_state();
        assert_eq!(live(&b1_records(&r)), 1, "{status}: not yet");
        r.clock.advance(1);
        r.coord.update_state();
        let events = kinds(&rx);
        assert!(
            events.ends_with(&["work_handed_back".to_string()]),
            "{status}: {events:?}"
        );
        let recs = b1_records(&r);
        assert_eq!((recs[0].state, live(&recs)), (AssignmentState::Failed, 0));
        // Told through Agent Mail.
        let sent = r.mail.sent.lock().unwrap().clone();
        let told: Vec<_> = sent
            .iter()
            .filter(|m| m.subject.contains("handed back"))
            .collect();
        assert_eq!(told.len(), 1, "{status}");
        assert_eq!(told[0].to, [recs[0].assignment.agent_name.clone()]);
        // Both agents wait now: b1 goes to %2, not back to %1.
        r.world.set("%1", AgentStatus::Waiting, long_idle());
        r.world.set("%2", AgentStatus::Waiting, long_idle());
        r.coord.update_state();
        let res = r.coord.assign_now(None, false).unwrap();
        assert!(res.len() == 1 && res[0].success, "{res:?}");
        assert_eq!(res[0].assignment.as_ref().unwrap().agent_pane_id, "%2");
        assert_eq!(live(&b1_records(&r)), 1);
    }
}

#[test]
fn a_rate_limit_is_waited_out_only_when_it_resets_before_the_threshold() {
    for (reset_min, handed_back) in [(20, false), (45, true)] {
        let r = rig();
        with_b1_on_pane_1(&r);
        let rx = r.coord.events().subscribe();
        r.clock.advance(5);
        r.world.set("%1", AgentStatus::RateLimited, now(&r));
        r.world
            .agents
            .lock()
            .unwrap()
            .get_mut("%1")
            .unwrap()
            .rate_limit_reset = Some(now(&r) + chrono::Duration::minutes(reset_min));
        r.coord.update_state();
        // Just before the reset (or the threshold, whichever is first): still the agent's.
        r.clock.advance(reset_min.min(30) * 60 - 1);
        r.coord.update_state();
        assert_eq!(live(&b1_records(&r)), 1);
        r.clock.advance(1);
        r.coord.update_state();
        let back: Vec<CoordinatorEvent> = rx
            .try_iter()
            .filter(|e| e.event_type.as_str() == "work_handed_back")
            .collect();
        assert_eq!(!back.is_empty(), handed_back, "reset after {reset_min} min");
        if handed_back {
            assert_eq!(back[0].details["status"], "RATE_LIMITED");
        } else {
            // The limit ended: the agent counts as waiting again.
            assert_eq!(
                r.coord.get_agent_by_pane_id("%1").unwrap().status,
                AgentStatus::Waiting
            );
        }
    }
}

#[test]
fn a_restart_by_hand_hands_the_work_back() {
    let r = rig();
    with_b1_on_pane_1(&r);
    let rx = r.coord.events().subscribe();
    r.coord.restart_agent("%1").unwrap();
    assert_eq!(kinds(&rx), ["work_handed_back", "agent_restarted"]);
    assert_eq!(b1_records(&r)[0].state, AssignmentState::Failed);
    assert_eq!(r.world.respawned.lock().unwrap().len(), 1);
    // A pane that does not exist: an error, recorded as a failed restart.
    let err = r.coord.restart_agent("%9").unwrap_err();
    assert!(err.to_string().contains("restart"), "{err}");
    assert_eq!(kinds(&rx), ["agent_restart_failed"]);
}
