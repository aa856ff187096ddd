//! Claims in the work source that gaffer does not hold, or failed to undo (the soak's
//! claim-lost loop): a bead the source says someone else holds is taken for every agent until
//! its re-check; a claim whose undo failed, or whose answer was lost to a time-out, is undone
//! later, after asking who holds the bead; a claim of ours left behind by an ended assignment
//! is found from the lost claim's answer and undone.

use gaffer_coordinator::ledger::{AssignmentState, Ledger, NewAssignment, Offer};
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::status::AgentStatus;
use gaffer_testkit::fakes::*;
use std::sync::mpsc::Receiver;

fn long_idle() -> gaffer_core::time::Timestamp {
    t0() - chrono::Duration::seconds(120)
}

fn kinds(rx: &Receiver<CoordinatorEvent>) -> Vec<String> {
    rx.try_iter()
        .map(|e| e.event_type.as_str().to_string())
        .collect()
}

fn claims_of(r: &Rig, bead: &str) -> Vec<String> {
    r.work
        .claims
        .lock()
        .unwrap()
        .iter()
        .filter(|(b, _)| b == bead)
        .map(|(_, a)| a.clone())
        .collect()
}

fn round(r: &Rig) -> Vec<gaffer_core::assignment::AssignmentResult> {
    r.coord.update_state();
    r.coord.assign_now(None, false).unwrap_or_default()
}

#[test]
fn a_bead_held_by_someone_else_is_offered_to_no_agent_until_its_recheck() {
    let r = rig();
    for p in ["%1", "%2", "%3"] {
        r.world.add(p, "cc", AgentStatus::Waiting, long_idle());
    }
    r.work.add("b1", "Held elsewhere", 0.9);
    r.work
        .held
        .lock()
        .unwrap()
        .insert("b1".into(), "Outsider".into());
    let first = round(&r);
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].error, "claim lost: Outsider holds it");
    assert_eq!(claims_of(&r, "b1").len(), 1);
    // Round after round, no agent is offered it (before: the next agent, one by one).
    for _ in 0..5 {
        r.clock.advance(5);
        let again = round(&r);
        assert!(again.is_empty(), "{again:?}");
    }
    assert_eq!(claims_of(&r, "b1").len(), 1, "{:?}", claims_of(&r, "b1"));
    // After the re-check time one agent tries again; still held: it waits longer (2 min).
    r.clock.advance(40);
    let retry = round(&r);
    assert_eq!(retry.len(), 1, "{retry:?}");
    assert_eq!(claims_of(&r, "b1").len(), 2);
    r.clock.advance(90);
    assert!(round(&r).is_empty());
    // Freed in the source: the next re-check gets it.
    r.work.held.lock().unwrap().clear();
    r.clock.advance(40);
    let got = round(&r);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].success, "{got:?}");
}

#[test]
fn a_claim_whose_undo_failed_is_retried_with_back_off_until_undone() {
    let r = rig();
    let rx = r.coord.events().subscribe();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world
        .responsive
        .lock()
        .unwrap()
        .insert("%1".into(), false);
    r.work.add("b1", "Task", 0.5);
    *r.work.unclaim_fails.lock().unwrap() = true;
    let res = round(&r);
    assert!(res[0].error.starts_with("prompt_stalled"), "{res:?}");
    assert!(
        r.work.held.lock().unwrap().contains_key("b1"),
        "the undo timed out: the claim stands"
    );
    assert_eq!(kinds(&rx), ["prompt_stalled", "claim_undo_failed"]);
    // Retried: not before its back-off, failing again quietly, then undone.
    r.coord.undo_left_claims();
    assert!(r.work.unclaims.lock().unwrap().is_empty());
    r.clock.advance(6);
    r.coord.undo_left_claims();
    assert!(
        kinds(&rx).is_empty(),
        "a second failure is not reported again"
    );
    *r.work.unclaim_fails.lock().unwrap() = false;
    r.clock.advance(6);
    r.coord.undo_left_claims();
    assert!(
        r.work.unclaims.lock().unwrap().is_empty(),
        "still backing off (10 s)"
    );
    r.clock.advance(5);
    r.coord.undo_left_claims();
    let unclaims = r.work.unclaims.lock().unwrap().clone();
    assert!(unclaims.len() == 1 && unclaims[0].0 == "b1", "{unclaims:?}");
    assert!(r.work.held.lock().unwrap().is_empty());
    assert_eq!(kinds(&rx), ["claim_undone"]);
    let rec = &r.coord.assignments().unwrap()[0];
    assert_eq!(rec.state, AssignmentState::Failed);
    assert!(!rec.claimed, "the ledger says it is undone");
    // Nothing left to retry.
    r.clock.advance(600);
    r.coord.undo_left_claims();
    assert_eq!(r.work.unclaims.lock().unwrap().len(), 1);
}

#[test]
fn a_claim_whose_answer_timed_out_is_undone_only_if_the_agent_still_holds_it() {
    let r = rig();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.work.add("b1", "Task one", 0.5);
    r.work.add("b2", "Task two", 0.4);
    *r.work.claim_times_out.lock().unwrap() = true;
    let res = round(&r);
    assert_eq!(res.len(), 1);
    assert!(res[0].error.starts_with("claim failed"), "{res:?}");
    let bead = res[0].assignment.as_ref().unwrap().bead_id.clone();
    assert!(
        r.work.held.lock().unwrap().contains_key(&bead),
        "the claim was written although its answer was lost"
    );
    *r.work.claim_times_out.lock().unwrap() = false;
    r.coord.undo_left_claims();
    assert!(
        r.work.held.lock().unwrap().is_empty(),
        "undone by the retry"
    );
    assert!(!r.coord.assignments().unwrap()[0].claimed);

    // Another lost answer, but the bead is closed before the retry: it is left alone.
    *r.work.claim_times_out.lock().unwrap() = true;
    r.clock.advance(5);
    let res = round(&r);
    assert!(res[0].error.starts_with("claim failed"), "{res:?}");
    let bead = res[0].assignment.as_ref().unwrap().bead_id.clone();
    r.work.close(&bead);
    let undone_before = r.work.unclaims.lock().unwrap().len();
    r.coord.undo_left_claims();
    assert_eq!(r.work.unclaims.lock().unwrap().len(), undone_before);
    assert!(r.coord.assignments().unwrap().iter().all(|a| !a.claimed));
}

#[test]
fn a_claim_of_ours_left_behind_is_found_from_a_lost_claim_and_undone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let r = rig_with(
        Ledger::open(&db).unwrap(),
        gaffer_core::config::GafferConfig::default(),
        false,
    );
    // An earlier assignment of b1 to RoseFalcon ended (failed) with its claim recorded as
    // undone, but br still has it (an undo that timed out before this fix).
    {
        let mut l = Ledger::open(&db).unwrap();
        let Offer::Created(id) = l
            .offer(
                &NewAssignment {
                    bead_id: "b1".into(),
                    bead_title: "Task".into(),
                    agent_pane_id: "%9".into(),
                    agent_name: "RoseFalcon".into(),
                    agent_type: "cc".into(),
                    score: 0.5,
                    files: vec![],
                },
                t0(),
            )
            .unwrap()
        else {
            panic!("offer");
        };
        l.set_state(id, AssignmentState::Failed, "handed back", t0())
            .unwrap();
    }
    r.work
        .held
        .lock()
        .unwrap()
        .insert("b1".into(), "RoseFalcon".into());
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.work.add("b1", "Task", 0.5);
    let res = round(&r);
    assert_eq!(res[0].error, "claim lost: RoseFalcon holds it");
    r.coord.undo_left_claims();
    assert_eq!(
        r.work.unclaims.lock().unwrap().clone(),
        [("b1".to_string(), "RoseFalcon".to_string())]
    );
    // Taken for everyone until the re-check, then claimed.
    r.clock.advance(30);
    assert!(round(&r).is_empty());
    r.clock.advance(31);
    let got = round(&r);
    assert!(got.len() == 1 && got[0].success, "{got:?}");
}

#[test]
fn a_done_bead_a_stale_file_lists_open_is_closed_in_the_source_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let r = rig_with(
        Ledger::open(&db).unwrap(),
        gaffer_core::config::GafferConfig::default(),
        false,
    );
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.work.add("b1", "Task", 0.5);
    assert!(round(&r)[0].success);
    // The file stops being rewritten (br cannot read it), then the agent reports done.
    *r.work.stale_file.lock().unwrap() = true;
    let mut other = Ledger::open(&db).unwrap();
    let rec = other.active().unwrap().remove(0);
    other
        .set_state(rec.id, AssignmentState::Done, "done", t0())
        .unwrap();
    for _ in 0..6 {
        r.clock.advance(2);
        r.world.set("%1", AgentStatus::Waiting, long_idle());
        round(&r);
    }
    assert_eq!(
        r.work.closes.lock().unwrap().clone(),
        ["b1"],
        "asked once, not at every poll"
    );
}
