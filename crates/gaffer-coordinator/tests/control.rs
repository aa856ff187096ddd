//! The human's controls on the runtime with fake adapters: pauses in the ledger honoured by the
//! assignment rounds, unassign and reassign as hand-backs (claims undone, reservations
//! released), human prompts, and the events of each.

use gaffer_coordinator::CoordinatorError;
use gaffer_coordinator::ledger::{AssignmentState, Ledger};
use gaffer_core::config::GafferConfig;
use gaffer_core::control::{ControlError, PauseTarget};
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

fn two_waiting(r: &Rig) {
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world.add("%2", "cod", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
}

fn assigned_to(r: &Rig) -> Vec<(String, String)> {
    r.coord
        .assignments()
        .unwrap()
        .into_iter()
        .filter(|a| a.state.is_active())
        .map(|a| (a.assignment.bead_id, a.assignment.agent_pane_id))
        .collect()
}

#[test]
fn a_paused_agent_gets_no_work_until_resumed_and_the_pause_is_in_the_ledger() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let r = rig_with(Ledger::open(&path).unwrap(), GafferConfig::default(), true);
    two_waiting(&r);
    r.work.add("b1", "Fix src/a.rs", 0.9);
    r.work.add("b2", "Fix src/b.rs", 0.8);
    let rx = r.coord.events().subscribe();
    let p = r.coord.pause(&PauseTarget::Pane("%1".into())).unwrap();
    assert!(p.is_paused("%1") && !p.is_paused("%2"));
    // Another process reading the same ledger sees the pause.
    assert!(
        Ledger::open(&path)
            .unwrap()
            .pauses()
            .unwrap()
            .is_paused("%1")
    );
    r.coord.assign_now(None, false).unwrap();
    let live = assigned_to(&r);
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!(live[0].1, "%2", "only the agent not paused got work");
    let p = r.coord.resume(&PauseTarget::Pane("%1".into())).unwrap();
    assert!(!p.is_paused("%1"));
    r.coord.update_state();
    r.coord.assign_now(None, false).unwrap();
    assert_eq!(assigned_to(&r).len(), 2);
    let k = kinds(&rx);
    assert_eq!(k.first().map(String::as_str), Some("assign_paused"));
    assert!(k.contains(&"assign_resumed".to_string()), "{k:?}");
}

#[test]
fn pausing_all_stops_every_round_and_resuming_all_clears_each_pause() {
    let r = rig();
    two_waiting(&r);
    r.work.add("b1", "Fix src/a.rs", 0.9);
    r.coord.pause(&PauseTarget::Pane("%2".into())).unwrap();
    let p = r.coord.pause(&PauseTarget::All).unwrap();
    assert!(p.all);
    assert!(r.coord.assign_now(None, false).unwrap().is_empty());
    assert!(assigned_to(&r).is_empty());
    let p = r.coord.resume(&PauseTarget::All).unwrap();
    assert!(!p.all && p.panes.is_empty(), "{p:?}");
    r.coord.assign_now(None, false).unwrap();
    assert_eq!(assigned_to(&r).len(), 1);
    // An agent that is not there cannot be paused.
    assert!(matches!(
        r.coord.pause(&PauseTarget::Pane("%9".into())),
        Err(CoordinatorError::AgentNotFound(_))
    ));
}

#[test]
fn unassign_undoes_the_claim_and_releases_the_reservations() {
    let r = rig();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
    r.work.add("b1", "Fix src/a.rs", 0.9);
    let res = r.coord.assign_now(None, false).unwrap();
    assert!(res.len() == 1 && res[0].success, "{res:?}");
    assert!(!r.mail.reservations.lock().unwrap().is_empty());
    let rx = r.coord.events().subscribe();
    r.coord.unassign("b1").unwrap();
    let rec = &r.coord.assignments().unwrap()[0];
    assert_eq!(rec.state, AssignmentState::Failed);
    assert_eq!(rec.error, "unassigned by a human");
    assert_eq!(
        r.work.unclaims.lock().unwrap().clone(),
        [("b1".to_string(), rec.assignment.agent_name.clone())]
    );
    let now = {
        use gaffer_core::clock::Clock;
        r.clock.now()
    };
    assert!(
        r.mail
            .reservations
            .lock()
            .unwrap()
            .iter()
            .all(|x| !x.is_active(now)),
        "reservations released"
    );
    assert_eq!(kinds(&rx), ["work_handed_back"]);
    // Nothing live holds it now.
    assert!(matches!(
        r.coord.unassign("b1"),
        Err(CoordinatorError::Control(ControlError::NotAssigned(_)))
    ));
}

#[test]
fn reassign_moves_a_bead_to_the_chosen_agent() {
    let r = rig();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
    r.work.add("b1", "Fix src/a.rs", 0.9);
    assert!(r.coord.assign_now(None, false).unwrap()[0].success);
    r.world.set("%1", AgentStatus::Generating, t0());
    r.world.add("%2", "cod", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
    // The chosen agent may be paused: a human picked it.
    r.coord.pause(&PauseTarget::Pane("%2".into())).unwrap();
    let rx = r.coord.events().subscribe();
    let res = r.coord.reassign("b1", "%2").unwrap();
    assert!(res.success);
    assert_eq!(assigned_to(&r), [("b1".to_string(), "%2".to_string())]);
    assert_eq!(kinds(&rx), ["work_handed_back", "work_assigned"]);
    let delivered = r.world.delivered.lock().unwrap().clone();
    assert_eq!(delivered.last().map(|d| d.0.as_str()), Some("%2"));
    assert!(delivered.last().unwrap().1.contains("b1"));
    // A busy agent is refused, and so is an unknown bead.
    let err = r.coord.reassign("b1", "%1").unwrap_err().to_string();
    assert!(err.contains("GENERATING"), "{err}");
    assert!(matches!(
        r.coord.reassign("nope", "%2"),
        Err(CoordinatorError::Control(ControlError::UnknownBead(_)))
    ));
}

#[test]
fn a_human_prompt_needs_a_waiting_agent_unless_forced() {
    let r = rig();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world.add("%2", "cc", AgentStatus::Blocked, long_idle());
    r.coord.update_state();
    let rx = r.coord.events().subscribe();
    let rep = r.coord.send_prompt("%1", "run the tests", false).unwrap();
    assert_eq!(rep.outcome, gaffer_core::panes::DeliveryOutcome::Delivered);
    assert_eq!(
        r.world.delivered.lock().unwrap().clone(),
        [("%1".to_string(), "run the tests".to_string())]
    );
    let err = r.coord.send_prompt("%2", "hello", false).unwrap_err();
    assert!(err.to_string().contains("BLOCKED"), "{err}");
    assert_eq!(kinds(&rx), ["prompt_sent"]);
    // A dialog cannot be read from a WAITING agent.
    assert!(matches!(
        r.coord.read_dialog("%1"),
        Err(CoordinatorError::Control(ControlError::NotBlocked { .. }))
    ));
}

/// Claude Code runs its `PermissionRequest` hooks before it draws the dialog, and shows
/// "Waiting for permission…" meanwhile: the agent is BLOCKED (the hook said so) a moment before
/// its dialog can be read. Reading and answering wait for the dialog to be drawn.
#[test]
fn a_dialog_still_being_drawn_is_waited_for() {
    let r = rig();
    r.world.add("%2", "cc", AgentStatus::Blocked, long_idle());
    r.coord.update_state();
    let waiting = "● Running a command\n\n  Waiting for permission…\n────────────\n❯ \n────────────\n  ⏸ manual mode on · esc to interrupt\n";
    let dialog = "● Running a command\n────────────\n Bash command\n touch ok.txt\n Do you want to proceed?\n ❯ 1. Yes\n   2. No\n\n Esc to cancel\n";
    r.world.screens("%2", &[waiting, waiting, dialog]);
    let d = r.coord.read_dialog("%2").unwrap();
    assert_eq!(d.dialog.options.len(), 2);
    assert!(
        d.dialog.text.iter().any(|l| l.contains("touch ok.txt")),
        "{:?}",
        d.dialog.text
    );
    // an answer also waits for the dialog (typing into "Waiting for permission…" is refused)
    r.world.screens("%2", &[waiting, dialog]);
    let err = r.coord.answer_dialog("%2", 3, Some(&d.dialog)).unwrap_err();
    assert!(err.to_string().contains('3'), "{err}");
    // a dialog that never comes is reported, after the bounded wait
    r.world.screens("%2", &[waiting]);
    let started = std::time::Instant::now();
    assert!(matches!(
        r.coord.read_dialog("%2"),
        Err(CoordinatorError::Control(ControlError::NoDialog(_)))
    ));
    assert!(started.elapsed() >= gaffer_coordinator::control::DIALOG_APPEAR);
}
