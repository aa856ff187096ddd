//! The runtime with fake adapters and a fake clock: assignment, delivery, completion, stalls,
//! fail-closed reservations, conflicts, digests and crash recovery.

use gaffer_coordinator::ledger::{AssignmentState, Ledger, NewAssignment, Offer};
use gaffer_core::config::GafferConfig;
use gaffer_core::event::CoordinatorEvent;
use gaffer_core::status::AgentStatus;
use gaffer_testkit::fakes::*;
use std::sync::mpsc::Receiver;

/// A rig whose ledger is a file (`state.db` in a temp dir), as another process would see it.
fn rig_on_disk() -> (tempfile::TempDir, std::path::PathBuf, Rig) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let r = rig_with(Ledger::open(&db).unwrap(), GafferConfig::default(), true);
    (dir, db, r)
}

/// Another process (an agent running `gaffer done`/`refuse`) sets the state of the first
/// active assignment in the ledger file `db`.
fn set_elsewhere(db: &std::path::Path, state: AssignmentState, reason: &str) -> Ledger {
    let mut other = Ledger::open(db).unwrap();
    let rec = other.active().unwrap().remove(0);
    other.set_state(rec.id, state, reason, t0()).unwrap();
    other
}

fn kinds(rx: &Receiver<CoordinatorEvent>) -> Vec<String> {
    rx.try_iter()
        .map(|e| e.event_type.as_str().to_string())
        .collect()
}

fn long_idle() -> gaffer_core::time::Timestamp {
    t0() - chrono::Duration::seconds(120)
}

#[test]
fn idle_agents_get_the_ready_beads_exactly_once() {
    let r = rig();
    let rx = r.coord.events().subscribe();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world.add("%2", "cod", AgentStatus::Waiting, long_idle());
    r.world.add("%3", "gmi", AgentStatus::Generating, t0());
    r.work.add("b1", "Implement the parser", 0.6);
    r.work.add("b2", "Tidy the docs", 0.4);
    r.work.add("b3", "Third thing", 0.2);
    r.coord.update_state();
    let results = r.coord.assign_now(None, false).unwrap();
    assert_eq!(results.len(), 2, "{results:?}");
    assert!(results.iter().all(|x| x.success), "{results:?}");
    let ledger = r.coord.assignments().unwrap();
    assert_eq!(ledger.len(), 2);
    assert!(
        ledger
            .iter()
            .all(|x| x.state == AssignmentState::Delivered && x.assignment.agent_pane_id != "%3")
    );
    let delivered = r.world.delivered.lock().unwrap().clone();
    assert_eq!(delivered.len(), 2);
    assert!(
        delivered
            .iter()
            .all(|(_, text)| text.starts_with("gaffer assigned you b"))
    );
    assert_eq!(kinds(&rx), ["work_assigned", "work_assigned"]);
    assert_eq!(r.work.claims.lock().unwrap().len(), 2);

    // The next round gives nothing more: both agents are busy and the beads are taken.
    r.coord.update_state();
    assert!(r.coord.assign_now(None, false).unwrap().is_empty());
    // Even when both agents look idle again, the delivered beads are not offered twice.
    r.clock.advance(5);
    r.world.set("%1", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
    let again = r.coord.assign_now(None, false).unwrap();
    assert!(
        again
            .iter()
            .all(|x| x.assignment.as_ref().is_some_and(|a| a.bead_id == "b3")),
        "{again:?}"
    );
}

#[test]
fn only_fresh_waiting_agents_get_work() {
    let r = rig();
    r.world.add("%1", "cc", AgentStatus::Waiting, t0()); // idle for 0 s
    r.world
        .add("%2", "cc", AgentStatus::RateLimited, long_idle());
    r.world.add("%3", "cc", AgentStatus::Blocked, long_idle());
    r.work.add("b1", "Task", 0.5);
    r.coord.update_state();
    assert!(r.coord.assign_now(None, false).unwrap().is_empty());
    r.clock.advance(31);
    r.coord.update_state();
    let res = r.coord.assign_now(None, false).unwrap();
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].assignment.as_ref().unwrap().agent_pane_id, "%1");
}

#[test]
fn a_stalled_prompt_is_undone_backed_off_and_given_to_another_agent() {
    let r = rig();
    let rx = r.coord.events().subscribe();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world
        .responsive
        .lock()
        .unwrap()
        .insert("%1".into(), false);
    r.work.add("b1", "Fix src/a.rs", 0.5);
    r.coord.update_state();
    let res = r.coord.assign_now(None, false).unwrap();
    assert_eq!(res.len(), 1);
    assert!(!res[0].success);
    assert!(
        res[0].error.starts_with("prompt_stalled"),
        "{}",
        res[0].error
    );
    let rec = &r.coord.assignments().unwrap()[0];
    assert_eq!(rec.state, AssignmentState::Failed);
    // Its reservation was released.
    assert!(
        r.mail
            .reservations
            .lock()
            .unwrap()
            .iter()
            .all(|x| x.released_ts.is_some())
    );
    assert_eq!(kinds(&rx), ["prompt_stalled"]);
    // Its claim was undone, so the bead is claimable again.
    assert_eq!(r.work.unclaims.lock().unwrap().len(), 1);
    // The same agent backs off from the bead; a second agent gets it.
    r.world.add("%2", "cc", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
    let res = r.coord.assign_now(None, false).unwrap();
    assert_eq!(res.len(), 1);
    assert_eq!(res[0].assignment.as_ref().unwrap().agent_pane_id, "%2");
    assert!(res[0].success);
}

#[test]
fn completion_and_stall_are_noticed() {
    let r = rig();
    let rx = r.coord.events().subscribe();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world.add("%2", "cod", AgentStatus::Waiting, long_idle());
    r.work.add("b1", "One", 0.6);
    r.work.add("b2", "Two", 0.5);
    r.coord.update_state();
    assert_eq!(r.coord.assign_now(None, false).unwrap().len(), 2);
    r.coord.update_state(); // both busy → working
    let by_pane = |p: &str| {
        r.coord
            .assignments()
            .unwrap()
            .into_iter()
            .find(|a| a.assignment.agent_pane_id == p)
            .unwrap()
    };
    assert_eq!(by_pane("%1").state, AssignmentState::Working);
    let b_of_1 = by_pane("%1").assignment.bead_id.clone();
    // %1 finishes: its bead is closed.
    r.work.close(&b_of_1);
    r.clock.advance(10);
    r.world.set(
        "%1",
        AgentStatus::Waiting,
        r.clock.0.lock().unwrap().to_owned(),
    );
    // %2 goes idle with its bead still open, for longer than the idle threshold.
    r.world.set("%2", AgentStatus::Waiting, t0());
    r.clock.advance(40);
    r.coord.update_state();
    assert_eq!(by_pane("%1").state, AssignmentState::Done);
    let stalled = by_pane("%2");
    assert_eq!(stalled.state, AssignmentState::Failed);
    assert!(stalled.error.starts_with("stalled"), "{}", stalled.error);
    let unclaimed: Vec<String> = r
        .work
        .unclaims
        .lock()
        .unwrap()
        .iter()
        .map(|(b, _)| b.clone())
        .collect();
    assert_eq!(
        unclaimed,
        std::slice::from_ref(&stalled.assignment.bead_id),
        "the stalled bead's claim is undone; the done one is not"
    );
    let k = kinds(&rx);
    assert!(k.contains(&"work_completed".to_string()), "{k:?}");
    assert!(k.contains(&"assignment_refused".to_string()), "{k:?}");
}

#[test]
fn unreadable_reservations_fail_closed() {
    let r = rig();
    let rx = r.coord.events().subscribe();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world.add("%2", "cc", AgentStatus::Waiting, long_idle());
    r.work.add("files", "Edit src/lib.rs", 0.9);
    r.work.add("nofiles", "Think about naming", 0.3);
    *r.mail.down.lock().unwrap() = true;
    r.coord.update_state();
    let res = r.coord.assign_now(None, false).unwrap();
    let beads: Vec<String> = res
        .iter()
        .filter_map(|x| x.assignment.as_ref().map(|a| a.bead_id.clone()))
        .collect();
    assert_eq!(
        beads,
        ["nofiles"],
        "a task that needs reservations must wait"
    );
    assert!(kinds(&rx).contains(&"mail_degraded".to_string()));
    let d = r.coord.generate_digest();
    assert!(
        d.sources
            .iter()
            .any(|s| s.name == "reservations" && s.status == "degraded"),
        "{:?}",
        d.sources
    );
    // Recovery: the mailbox is back, the task is assigned.
    *r.mail.down.lock().unwrap() = false;
    r.clock.advance(60);
    r.coord.update_state();
    let res = r.coord.assign_now(None, false).unwrap();
    assert!(
        res.iter()
            .any(|x| x.assignment.as_ref().is_some_and(|a| a.bead_id == "files") && x.success),
        "{res:?}"
    );
    assert!(kinds(&rx).contains(&"mail_recovered".to_string()));
}

#[test]
fn a_source_left_degraded_by_a_killed_coordinator_is_reported_recovered_by_the_next() {
    use gaffer_core::event::CoordinatorEventType as T;
    for (history, want_recovered) in [
        (vec![T::MailDegraded], true),
        (vec![T::MailDegraded, T::MailRecovered], false),
        (vec![], false),
    ] {
        let mut ledger = Ledger::open_in_memory().unwrap();
        for kind in &history {
            ledger
                .record_event(
                    &CoordinatorEvent::new(kind.clone(), long_idle())
                        .with_detail("error", "connection refused"),
                )
                .unwrap();
        }
        let r = rig_with(ledger, GafferConfig::default(), true);
        let rx = r.coord.events().subscribe();
        r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
        r.work.add("files", "Edit src/lib.rs", 0.9);
        r.coord.update_state();
        let res = r.coord.assign_now(None, false).unwrap();
        assert!(res.iter().any(|x| x.success), "{history:?}: {res:?}");
        let k = kinds(&rx);
        assert_eq!(
            k.contains(&"mail_recovered".to_string()),
            want_recovered,
            "{history:?}: {k:?}"
        );
        assert!(!k.contains(&"mail_degraded".to_string()), "{k:?}");
    }
}

#[test]
fn overlapping_reservations_are_caught_notified_and_negotiated() {
    let mut cfg = GafferConfig::default();
    cfg.coordinator.conflict_negotiate = true;
    let r = rig_with(Ledger::open_in_memory().unwrap(), cfg, true);
    let rx = r.coord.events().subscribe();
    r.mail.hold("BlueLake", "src/**", t0());
    r.mail
        .hold("GreenHill", "src/a.rs", t0() + chrono::Duration::seconds(5));
    r.mail.hold("RedFox", "docs/*.md", t0());
    let found = r.coord.detect_conflicts().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].overlap, "src/a.rs");
    let k = kinds(&rx);
    assert_eq!(k, ["conflict_detected", "conflict_release_requested"]);
    let sent = r.mail.sent.lock().unwrap().clone();
    assert!(
        sent[0]
            .subject
            .starts_with("⚠️ Reservation Conflict Detected")
    );
    assert_eq!(sent[0].to.len(), 2);
    // The later reserver (GreenHill) is the requester; BlueLake is asked to release.
    assert_eq!(sent[1].to, ["BlueLake"]);
    assert!(sent[1].ack_required);
    // Detecting again does not repeat the notification.
    r.coord.detect_conflicts().unwrap();
    assert!(kinds(&rx).is_empty());
    // Once released, the conflict is resolved.
    for x in r.mail.reservations.lock().unwrap().iter_mut() {
        if x.agent_name == "BlueLake" {
            x.released_ts = Some(t0());
        }
    }
    assert!(r.coord.detect_conflicts().unwrap().is_empty());
    assert_eq!(kinds(&rx), ["conflict_resolved"]);
}

#[test]
fn digest_counts_match_the_ledger_and_sources() {
    let r = rig();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world.add("%2", "cod", AgentStatus::Error, t0());
    r.work.add("b1", "One", 0.6);
    r.work.add("b2", "Two", 0.5);
    r.work.close("b2");
    r.coord.update_state();
    let d = r.coord.send_digest().unwrap();
    assert_eq!((d.agent_count, d.idle_count, d.error_count), (2, 1, 1));
    let w = d.work_summary.clone().unwrap();
    assert_eq!((w.pending_tasks, w.completed_today), (1, 1));
    assert_eq!(w.top_ready, ["b1"]);
    let sent = r.mail.sent.lock().unwrap().clone();
    assert_eq!(sent.last().unwrap().to, ["Human"]);
    assert_eq!(
        sent.last().unwrap().importance,
        gaffer_core::mailbox::Importance::Urgent
    );
    // The work source breaks: the digest says so instead of showing zeros.
    *r.work.broken.lock().unwrap() = true;
    let _ = r.coord.assign_now(None, false);
    assert!(
        r.coord.generate_digest().work_summary.is_some(),
        "issues are still readable"
    );
}

#[test]
fn restart_after_a_crash_assigns_no_bead_twice() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    // A previous run died after writing the offer, before delivery.
    {
        let mut l = Ledger::open(&db).unwrap();
        let a = NewAssignment {
            bead_id: "b1".into(),
            bead_title: "One".into(),
            agent_pane_id: "%1".into(),
            agent_name: String::new(),
            agent_type: "cc".into(),
            score: 0.5,
            files: vec![],
        };
        assert!(matches!(l.offer(&a, t0()).unwrap(), Offer::Created(_)));
        // And one that was delivered before the crash.
        let b = NewAssignment {
            bead_id: "b2".into(),
            agent_pane_id: "%2".into(),
            ..a
        };
        let Offer::Created(id) = l.offer(&b, t0()).unwrap() else {
            panic!()
        };
        l.set_state(id, AssignmentState::Delivered, "", t0())
            .unwrap();
    }
    let mut r = rig_with(Ledger::open(&db).unwrap(), GafferConfig::default(), true);
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world.add("%2", "cc", AgentStatus::Generating, t0());
    r.world.add("%3", "cc", AgentStatus::Waiting, long_idle());
    r.work.add("b1", "One", 0.6);
    r.work.add("b2", "Two", 0.5);
    r.coord.start().unwrap();
    r.coord.stop();
    let recs = r.coord.assignments().unwrap();
    assert_eq!(
        recs[0].state,
        AssignmentState::Failed,
        "interrupted offer is closed"
    );
    let res = r.coord.assign_now(None, false).unwrap();
    let beads: Vec<String> = res
        .iter()
        .filter_map(|x| x.assignment.as_ref().map(|a| a.bead_id.clone()))
        .collect();
    assert_eq!(
        beads,
        ["b1"],
        "b2 is still with %2; only b1 is offered again"
    );
    let live: Vec<_> = r
        .coord
        .assignments()
        .unwrap()
        .into_iter()
        .filter(|a| a.state.is_active())
        .collect();
    assert_eq!(live.len(), 2);
}

#[test]
fn start_clamps_and_stop_is_idempotent() {
    let mut cfg = GafferConfig::default();
    cfg.coordinator.poll_interval = std::time::Duration::from_millis(10);
    let mut r = rig_with(Ledger::open_in_memory().unwrap(), cfg, false);
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    let notices = r.coord.start().unwrap();
    assert_eq!(notices.len(), 1);
    assert_eq!(
        r.coord.config().coordinator.poll_interval,
        std::time::Duration::from_secs(5)
    );
    assert_eq!(
        r.coord.get_agents().len(),
        1,
        "state is ready when start returns"
    );
    r.coord.stop();
    r.coord.stop();
    r.coord.start().unwrap();
    r.coord.stop();
}

#[test]
fn state_changes_become_events() {
    let r = rig();
    let rx = r.coord.events().subscribe();
    r.world.add("%1", "cc", AgentStatus::Generating, t0());
    r.coord.update_state();
    r.world.set("%1", AgentStatus::Waiting, t0());
    r.coord.update_state();
    r.world.set("%1", AgentStatus::Error, t0());
    r.coord.update_state();
    r.world.set("%1", AgentStatus::Waiting, t0());
    r.coord.update_state();
    assert_eq!(kinds(&rx), ["agent_idle", "agent_error", "agent_idle"]);
    assert_eq!(
        r.coord.quality().agent_metrics("%1").unwrap().error_count,
        1
    );
}

#[test]
fn suggest_does_not_assign() {
    let r = rig();
    r.world.add("%1", "cc", AgentStatus::Generating, t0());
    r.work.add("b1", "One", 0.6);
    r.coord.update_state();
    let s = r.coord.suggest_assignment("%1").unwrap().unwrap();
    assert_eq!(s.bead_id, "b1");
    assert!(r.coord.assignments().unwrap().is_empty());
    assert!(matches!(
        r.coord.suggest_assignment("%9"),
        Err(gaffer_coordinator::CoordinatorError::AgentNotFound(_))
    ));
}

#[test]
fn a_refusal_recorded_by_another_process_backs_the_agent_off() {
    let (_dir, db, r) = rig_on_disk();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.work.add("b1", "One", 0.6);
    r.coord.update_state();
    assert_eq!(r.coord.assign_now(None, false).unwrap().len(), 1);
    // The agent runs `gaffer refuse b1` in its pane: another process writes the ledger.
    {
        let mut other = set_elsewhere(&db, AssignmentState::Refused, "not my area");
        let mut book = gaffer_core::assign::BackoffBook::new(
            std::time::Duration::from_secs(60),
            std::time::Duration::from_secs(600),
        );
        book.record(
            "%1",
            "b1",
            gaffer_core::assign::BackoffReason::Refused,
            t0(),
        );
        other
            .save_backoff("%1", "b1", book.entry("%1", "b1").unwrap())
            .unwrap();
    }
    r.world.set("%1", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
    assert!(
        r.coord.assign_now(None, false).unwrap().is_empty(),
        "backing off from the refused bead"
    );
    r.clock.advance(61);
    r.coord.update_state();
    assert_eq!(
        r.coord.assign_now(None, false).unwrap().len(),
        1,
        "offered again after the back-off"
    );
}

#[test]
fn test_results_recorded_by_agents_feed_scores_and_digests() {
    let (_dir, db, r) = rig_on_disk();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.world.add("%2", "cc", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
    // An agent records failing tests from its pane (another process).
    {
        let mut other = Ledger::open(&db).unwrap();
        for _ in 0..3 {
            other
                .record_test_run(&gaffer_core::quality::TestRunMetrics {
                    timestamp: t0(),
                    agent_pane_id: "%1".into(),
                    passed: 1,
                    failed: 9,
                    skipped: 0,
                    duration: 10,
                    package: String::new(),
                })
                .unwrap();
        }
    }
    r.coord.update_state();
    let q = r.coord.quality();
    assert_eq!(q.agent_metrics("%1").unwrap().tests_failed, 27);
    assert!(q.agent_quality_score("%1") < q.agent_quality_score("%2"));
    // The better agent gets the single task under the quality strategy.
    r.work.add("b1", "One", 0.5);
    let res = r
        .coord
        .assign_now(
            Some(gaffer_core::assignment::AssignmentStrategy::Quality),
            false,
        )
        .unwrap();
    assert_eq!(res[0].assignment.as_ref().unwrap().agent_pane_id, "%2");
    let d = r.coord.generate_digest();
    assert_eq!(d.quality.as_ref().map(|q| q.total_test_runs), Some(3));
}

/// A digest sent between two polls counts a test run recorded since the last one (the demo's
/// final digest, sent right after the last agent recorded its tests, missed it).
#[test]
fn a_digest_counts_test_runs_recorded_since_the_last_poll() {
    let (_dir, db, r) = rig_on_disk();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
    let mut other = Ledger::open(&db).unwrap();
    other
        .record_test_run(&gaffer_core::quality::TestRunMetrics {
            timestamp: t0(),
            agent_pane_id: "%1".into(),
            passed: 4,
            failed: 0,
            skipped: 0,
            duration: 2,
            package: String::new(),
        })
        .unwrap();
    let d = r.coord.send_digest().unwrap();
    assert_eq!(d.quality.as_ref().map(|q| q.total_test_runs), Some(1));
    // Taken in once: the next poll does not count it again.
    r.coord.update_state();
    assert_eq!(r.coord.quality().test_runs().count(), 1);
}

#[test]
fn a_pane_keeps_its_agent_mail_name_across_processes() {
    let (_dir, db, r) = rig_on_disk();
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
    let first = r.coord.get_agent_by_pane_id("%1").unwrap().agent_mail_name;
    drop(r); // the first process ends
    assert!(!first.is_empty());
    let r = rig_with(Ledger::open(&db).unwrap(), GafferConfig::default(), true);
    // The second process's fake server would hand out a different generated name.
    r.mail
        .registered
        .store(5, std::sync::atomic::Ordering::SeqCst);
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.coord.update_state();
    assert_eq!(
        r.coord.get_agent_by_pane_id("%1").unwrap().agent_mail_name,
        first
    );
}

/// A read-only work source over a dependency graph, ranked by the native triage (what the
/// native JSONL source does without `br`).
#[derive(Clone)]
struct GraphWork(Vec<gaffer_core::beads::Issue>);

impl gaffer_core::work_source::WorkSource for GraphWork {
    fn name(&self) -> &'static str {
        "native"
    }
    fn triage(
        &self,
        now: gaffer_core::time::Timestamp,
    ) -> Result<gaffer_core::triage::TriageResponse, gaffer_core::work_source::WorkSourceError>
    {
        Ok(gaffer_core::triage_engine::triage(&self.0, now).response)
    }
    fn ready(
        &self,
        now: gaffer_core::time::Timestamp,
    ) -> Result<Vec<gaffer_core::beads::Issue>, gaffer_core::work_source::WorkSourceError> {
        let ids = gaffer_core::triage_engine::ready_ids(&self.0, now);
        Ok(self
            .0
            .iter()
            .filter(|i| ids.contains(&i.id))
            .cloned()
            .collect())
    }
    fn claim(
        &self,
        _: &str,
        _: &str,
    ) -> Result<gaffer_core::work_source::ClaimOutcome, gaffer_core::work_source::WorkSourceError>
    {
        Ok(gaffer_core::work_source::ClaimOutcome::ReadOnly)
    }
    fn close(
        &self,
        _: &str,
        _: &str,
    ) -> Result<gaffer_core::work_source::CloseOutcome, gaffer_core::work_source::WorkSourceError>
    {
        Ok(gaffer_core::work_source::CloseOutcome::ReadOnly)
    }
}

#[test]
fn ledger_done_beads_count_as_closed_and_unblock_their_dependents() {
    use gaffer_core::beads::{Dependency, Issue};
    use std::sync::Arc;
    let issue = |id: &str, title: &str, blocked_by: Option<&str>| Issue {
        id: id.into(),
        title: title.into(),
        status: "open".into(),
        priority: 1,
        issue_type: "task".into(),
        created_at: Some(t0() - chrono::Duration::days(1)),
        updated_at: Some(t0() - chrono::Duration::days(1)),
        dependencies: blocked_by
            .map(|b| {
                vec![Dependency {
                    issue_id: id.into(),
                    depends_on_id: b.into(),
                    dep_type: "blocks".into(),
                    ..Default::default()
                }]
            })
            .unwrap_or_default(),
        ..Default::default()
    };
    let work = GraphWork(vec![
        issue("g1", "Write the parser in src/parse.rs", None),
        issue("g2", "Use the parser", Some("g1")),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let world = World::default();
    let mail = FakeMail::default();
    let clock = FakeClock(Arc::new(std::sync::Mutex::new(t0())));
    let issues = work.clone();
    let ports = gaffer_coordinator::Ports {
        observer: Box::new(FakeObserver(world.clone())),
        probe: Arc::new(FakeProbe(world.clone())),
        panes: Arc::new(FakePanes(world.clone())),
        mailbox: Some(Arc::new(mail.clone())),
        work: Arc::new(work),
        issues: Arc::new(move |_| Ok(issues.0.clone().into())),
        clock: Arc::new(clock.clone()),
        ledger: Ledger::open(&db).unwrap(),
    };
    let id = gaffer_coordinator::Identity {
        session: "proj".into(),
        project_key: "/tmp/proj".into(),
        agent_name: "Gaffer".into(),
    };
    let coord = gaffer_coordinator::SessionCoordinator::new(id, ports);
    let rx = coord.events().subscribe();
    world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    coord.update_state();
    let res = coord.assign_now(None, false).unwrap();
    assert_eq!(res.len(), 1, "{res:?}");
    assert_eq!(res[0].assignment.as_ref().unwrap().bead_id, "g1");
    assert!(
        mail.reservations
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.path_pattern == "src/parse.rs" && r.released_ts.is_none())
    );
    // Only g1 was ready: g2 waits for it.
    world.set("%1", AgentStatus::Generating, t0());
    coord.update_state();
    assert!(coord.assign_now(None, false).unwrap().is_empty());

    // The agent reports `gaffer done g1` through its own connection to the ledger.
    let mut other = Ledger::open(&db).unwrap();
    let rec = other
        .by_bead("g1")
        .unwrap()
        .into_iter()
        .find(|r| r.state.is_active())
        .unwrap();
    other
        .set_state(rec.id, AssignmentState::Done, "", t0())
        .unwrap();
    // ... and records its test results, which the running coordinator picks up.
    assert_eq!(coord.quality().test_runs().count(), 0);
    other
        .record_test_run(&gaffer_core::quality::TestRunMetrics {
            timestamp: t0(),
            agent_pane_id: "%1".into(),
            passed: 12,
            failed: 1,
            skipped: 0,
            duration: 0,
            package: "demo".into(),
        })
        .unwrap();
    clock.advance(5);
    world.set("%1", AgentStatus::Waiting, long_idle());
    coord.update_state();
    assert_eq!(coord.quality().test_runs().count(), 1);
    coord.update_state();
    assert_eq!(
        coord.quality().test_runs().count(),
        1,
        "each run is folded in once"
    );
    let k = kinds(&rx);
    assert!(k.contains(&"work_completed".to_string()), "{k:?}");
    // Its reservation is released, and the ledger entry stays done (not a stall).
    assert!(
        mail.reservations
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.released_ts.is_some())
    );
    assert_eq!(other.get(rec.id).unwrap().state, AssignmentState::Done);
    // g1 counts as closed: g2 is now ready and assigned, and g1 is not offered again.
    let res = coord.assign_now(None, false).unwrap();
    assert_eq!(res.len(), 1, "{res:?}");
    assert_eq!(res[0].assignment.as_ref().unwrap().bead_id, "g2");
    assert!(res[0].success, "{res:?}");
}

#[test]
fn a_rate_limited_agent_is_left_alone_until_the_announced_reset() {
    let r = rig();
    let rx = r.coord.events().subscribe();
    r.world.add("%1", "gmi", AgentStatus::Generating, t0());
    r.work.add("b1", "Task", 0.5);
    r.coord.update_state();
    // It hits its limit; the screen says "reset after 20s", read anew (relative to each look)
    // every time it is observed.
    let set_reset = |secs: i64| {
        let now = *r.clock.0.lock().unwrap();
        let mut a = r.world.agents.lock().unwrap();
        let agent = a.get_mut("%1").unwrap();
        agent.status = AgentStatus::RateLimited;
        agent.last_activity = t0();
        agent.rate_limit_reset = Some(now + chrono::Duration::seconds(secs));
    };
    // `secs` later, the screen still says "reset after 20s"; the coordinator looks again.
    let look_after = |secs: i64| {
        r.clock.advance(secs);
        set_reset(20);
        r.coord.update_state();
    };
    let status = || r.coord.get_agent_by_pane_id("%1").unwrap().status;
    set_reset(20);
    r.coord.update_state();
    assert_eq!(kinds(&rx), ["agent_rate_limited"]);
    for _ in 0..3 {
        look_after(5);
        assert!(r.coord.assign_now(None, false).unwrap().is_empty());
        assert_eq!(status(), AgentStatus::RateLimited);
    }
    // 20 s after the first reading the limit is over: the agent is waiting and gets work,
    // although the old message is still on its screen.
    look_after(6);
    assert_eq!(status(), AgentStatus::Waiting);
    look_after(31);
    let res = r.coord.assign_now(None, false).unwrap();
    assert_eq!(res.len(), 1, "{res:?}");
    assert!(res[0].success);
}

/// A consumer added by an embedder sees every event, after the ledger's log and the bus, and
/// learns which ones an agent reported first.
#[test]
fn added_consumers_get_every_event_with_its_origin() {
    use gaffer_coordinator::{Consumer, Origin};
    use std::sync::{Arc, Mutex};
    #[derive(Default)]
    struct Seen(Mutex<Vec<(String, Origin)>>);
    impl Consumer for Seen {
        fn consume(&self, e: &CoordinatorEvent, origin: Origin) {
            self.0
                .lock()
                .unwrap()
                .push((e.event_type.as_str().to_string(), origin));
        }
    }
    let (_dir, db, r) = rig_on_disk();
    let seen = Arc::new(Seen::default());
    r.coord.add_consumer(seen.clone());
    r.world.add("%1", "cc", AgentStatus::Waiting, long_idle());
    r.work.add("b1", "One", 0.6);
    r.coord.update_state();
    assert_eq!(r.coord.assign_now(None, false).unwrap().len(), 1);
    // The agent reports the bead done itself (`gaffer done`), in another process.
    drop(set_elsewhere(&db, AssignmentState::Done, ""));
    r.coord.update_state();
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            ("work_assigned".to_string(), Origin::Coordinator),
            ("agent_busy".to_string(), Origin::Coordinator),
            ("work_completed".to_string(), Origin::Agent),
        ]
    );
    // The ledger's log has what this process reported, not the agent's report a second time.
    let logged: Vec<String> = Ledger::open(&db)
        .unwrap()
        .events_since(0)
        .unwrap()
        .0
        .into_iter()
        .map(|(_, e)| e.event_type.as_str().to_string())
        .collect();
    assert_eq!(logged, ["work_assigned", "agent_busy"]);
}
