//! Fleet figures from a ledger: idle-to-assign, double assignments and prompts to a not-ready
//! agent, under the names the fleet benchmark prints (`cargo bench --bench fleet`), so real
//! runs (the end-to-end test, soaks) and the simulation report the same figures.
//!
//! The ledger's event log gives each pane's state changes (`agent_idle`, `agent_busy`, …) and
//! each assignment's delivery (`work_assigned`) and end (`work_completed`,
//! `assignment_refused`, `work_handed_back`); its assignment records give the moment each
//! prompt was offered.
//!
//! - **idle-to-assign**: from the moment a pane was ready (WAITING with no live assignment: its
//!   `agent_idle`, or the end of its last assignment, whichever came later) to the offer of its
//!   next delivered assignment. A pane whose readiness the log does not show (idle before the
//!   coordinator started) gives no sample.
//! - **double assignments**: a bead delivered while another delivery of it has not ended.
//! - **prompts to a not-ready agent**: a delivered assignment offered while the pane's last
//!   state change said it was not WAITING, or while it held another live assignment. A
//!   coordinator's `coordinator_started` gives each pane's state as its first poll saw it (a
//!   restarted coordinator logs no change for a pane it finds as it is).

use crate::ledger::{AssignmentRecord, Ledger, LedgerError};
use gaffer_core::event::{CoordinatorEvent, CoordinatorEventType};
use gaffer_core::status::AgentStatus;
use gaffer_core::time::Timestamp;
use std::collections::{BTreeMap, BTreeSet};

/// The figures of one run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FleetFigures {
    /// Idle-to-assign samples, seconds, in offer order.
    pub idle_to_assign: Vec<f64>,
    /// Delivered assignments.
    pub delivered: usize,
    /// Beads delivered while another delivery of them was live.
    pub double_assignments: usize,
    /// Deliveries to a pane that was not ready.
    pub not_ready_prompts: usize,
}

impl FleetFigures {
    /// The `p`-th percentile (0–1) of idle-to-assign, in seconds (nearest rank); `None`
    /// without samples.
    pub fn idle_percentile(&self, p: f64) -> Option<f64> {
        percentile(&self.idle_to_assign, p)
    }

    /// The figures as the lines the fleet benchmark prints.
    pub fn lines(&self) -> Vec<String> {
        let fmt = |v: Option<f64>| v.map_or("n/a".to_string(), |s| format!("{s:.1}s"));
        vec![
            format!(
                "fleet: idle-to-assign p50={} p95={}",
                fmt(self.idle_percentile(0.5)),
                fmt(self.idle_percentile(0.95))
            ),
            format!("fleet: double assignments={}", self.double_assignments),
            format!(
                "fleet: prompts to a not-ready agent={}",
                self.not_ready_prompts
            ),
        ]
    }
}

/// Nearest-rank percentile of `v` (`p` in 0–1); `None` when empty.
pub fn percentile(v: &[f64], p: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let k = ((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    Some(s[k])
}

/// The figures of everything in `ledger`.
pub fn from_ledger(ledger: &Ledger) -> Result<FleetFigures, LedgerError> {
    let records = ledger.all()?;
    let (events, _) = ledger.events_since(0)?;
    let events: Vec<CoordinatorEvent> = events.into_iter().map(|(_, e)| e).collect();
    Ok(figures(&records, &events))
}

#[derive(Default)]
struct Pane {
    /// The last state change said WAITING (`None`: not seen yet).
    waiting: Option<bool>,
    /// Live assignments (delivered, not ended).
    holding: BTreeSet<String>,
    ready_since: Option<Timestamp>,
}

enum Step<'a> {
    Offer(&'a AssignmentRecord),
    Event(&'a CoordinatorEvent),
}

fn bead_of(e: &CoordinatorEvent) -> Option<&str> {
    e.details.get("bead_id").and_then(|v| v.as_str())
}

/// The figures of `records` and `events` (a ledger's assignments and event log).
pub fn figures(records: &[AssignmentRecord], events: &[CoordinatorEvent]) -> FleetFigures {
    // Which offers were delivered: each `work_assigned` pairs with the latest offer of its pane
    // and bead made before it.
    let mut delivered: BTreeSet<i64> = BTreeSet::new();
    for e in events
        .iter()
        .filter(|e| e.event_type == CoordinatorEventType::WorkAssigned)
    {
        let Some(bead) = bead_of(e) else { continue };
        if let Some(r) = records
            .iter()
            .filter(|r| {
                r.assignment.bead_id == bead
                    && r.assignment.agent_pane_id == e.agent_id
                    && r.created_at <= e.timestamp
                    && !delivered.contains(&r.id)
            })
            .max_by_key(|r| (r.created_at, r.id))
        {
            delivered.insert(r.id);
        }
    }
    // One timeline: events in log order, each delivered offer at its offer time (before the
    // events of the same instant, which it caused).
    let mut steps: Vec<(Timestamp, u8, usize, Step)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        if delivered.contains(&r.id) {
            steps.push((r.created_at, 0, i, Step::Offer(r)));
        }
    }
    for (i, e) in events.iter().enumerate() {
        steps.push((e.timestamp, 1, i, Step::Event(e)));
    }
    steps.sort_by_key(|s| (s.0, s.1, s.2));

    let mut out = FleetFigures::default();
    let mut panes: BTreeMap<String, Pane> = BTreeMap::new();
    let mut live: BTreeMap<String, String> = BTreeMap::new();
    for (at, _, _, step) in steps {
        match step {
            Step::Offer(r) => {
                out.delivered += 1;
                let pane = panes.entry(r.assignment.agent_pane_id.clone()).or_default();
                if pane.waiting == Some(false) || !pane.holding.is_empty() {
                    out.not_ready_prompts += 1;
                }
                if let Some(since) = pane.ready_since.take() {
                    out.idle_to_assign
                        .push((at - since).num_milliseconds().max(0) as f64 / 1000.0);
                }
                pane.holding.insert(r.assignment.bead_id.clone());
                if live
                    .insert(
                        r.assignment.bead_id.clone(),
                        r.assignment.agent_pane_id.clone(),
                    )
                    .is_some()
                {
                    out.double_assignments += 1;
                }
            }
            Step::Event(e) if e.event_type == CoordinatorEventType::CoordinatorStarted => {
                // A (re)started coordinator's first look: each pane's state as it saw it, which
                // replaces what the previous coordinator last logged.
                let Some(seen) = e.details.get("agents").and_then(|v| v.as_object()) else {
                    continue;
                };
                for (id, status) in seen {
                    let pane = panes.entry(id.clone()).or_default();
                    let waiting = status.as_str() == Some(AgentStatus::Waiting.as_str());
                    pane.waiting = Some(waiting);
                    if !waiting {
                        pane.ready_since = None;
                    } else if pane.holding.is_empty() && pane.ready_since.is_none() {
                        pane.ready_since = Some(at);
                    }
                }
            }
            Step::Event(e) => {
                let pane = panes.entry(e.agent_id.clone()).or_default();
                match &e.event_type {
                    CoordinatorEventType::AgentIdle => {
                        pane.waiting = Some(true);
                        if pane.holding.is_empty() {
                            pane.ready_since = Some(at);
                        }
                    }
                    CoordinatorEventType::AgentBusy
                    | CoordinatorEventType::AgentError
                    | CoordinatorEventType::AgentBlocked
                    | CoordinatorEventType::AgentRateLimited
                    | CoordinatorEventType::AgentStalled
                    | CoordinatorEventType::AgentExited => {
                        pane.waiting = Some(false);
                        pane.ready_since = None;
                    }
                    CoordinatorEventType::WorkCompleted
                    | CoordinatorEventType::AssignmentRefused
                    | CoordinatorEventType::WorkHandedBack => {
                        let Some(bead) = bead_of(e) else { continue };
                        if pane.holding.remove(bead)
                            && pane.holding.is_empty()
                            && pane.waiting != Some(false)
                        {
                            pane.ready_since = Some(at);
                        }
                        if live.get(bead) == Some(&e.agent_id) {
                            live.remove(bead);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{AssignmentState, NewAssignment, Offer};
    use gaffer_core::time::parse_rfc3339;

    fn t(s: i64) -> Timestamp {
        parse_rfc3339("2026-01-01T12:00:00Z").unwrap() + chrono::Duration::seconds(s)
    }

    fn ev(kind: CoordinatorEventType, s: i64, pane: &str, bead: Option<&str>) -> CoordinatorEvent {
        let e = CoordinatorEvent::new(kind, t(s)).with_agent(pane);
        match bead {
            Some(b) => e.with_detail("bead_id", b),
            None => e,
        }
    }

    /// Offers, delivers and (optionally) ends an assignment in a real ledger, with the events
    /// the runtime writes.
    fn assign(l: &mut Ledger, bead: &str, pane: &str, at: i64, end: Option<(i64, bool)>) {
        let new = NewAssignment {
            bead_id: bead.into(),
            bead_title: bead.into(),
            agent_pane_id: pane.into(),
            agent_name: String::new(),
            agent_type: "cc".into(),
            score: 1.0,
            files: vec![],
        };
        let Offer::Created(id) = l.offer(&new, t(at)).unwrap() else {
            panic!("bead {bead} taken")
        };
        l.set_state(id, AssignmentState::Delivered, "", t(at + 1))
            .unwrap();
        l.record_event(&ev(
            CoordinatorEventType::WorkAssigned,
            at + 1,
            pane,
            Some(bead),
        ))
        .unwrap();
        if let Some((s, done)) = end {
            let (state, kind) = if done {
                (AssignmentState::Done, CoordinatorEventType::WorkCompleted)
            } else {
                (
                    AssignmentState::Failed,
                    CoordinatorEventType::AssignmentRefused,
                )
            };
            l.set_state(id, state, "", t(s)).unwrap();
            l.record_event(&ev(kind, s, pane, Some(bead))).unwrap();
        }
    }

    #[test]
    fn idle_to_assign_runs_from_the_later_of_idle_and_the_end_of_the_last_assignment() {
        let mut l = Ledger::open_in_memory().unwrap();
        // %1 (state unknown: no sample, not counted) takes b-1 at 1, goes idle at 100 while
        // its bead is still open, the bead closes at 103, the next offer is at 104: 1 s.
        assign(&mut l, "b-1", "%1", 1, Some((103, true)));
        l.record_event(&ev(CoordinatorEventType::AgentBusy, 3, "%1", None))
            .unwrap();
        l.record_event(&ev(CoordinatorEventType::AgentIdle, 100, "%1", None))
            .unwrap();
        assign(&mut l, "b-2", "%1", 104, None);
        // %2 goes idle at 200 with nothing held and is offered work at 230: 30 s.
        l.record_event(&ev(CoordinatorEventType::AgentIdle, 200, "%2", None))
            .unwrap();
        assign(&mut l, "b-3", "%2", 230, None);
        let f = from_ledger(&l).unwrap();
        assert_eq!(f.delivered, 3);
        // The first offer to %1 has no readiness on record: no sample.
        assert_eq!(f.idle_to_assign, vec![1.0, 30.0]);
        assert_eq!(f.idle_percentile(0.5), Some(1.0));
        assert_eq!(f.idle_percentile(0.95), Some(30.0));
        assert_eq!(f.double_assignments, 0);
        assert_eq!(f.not_ready_prompts, 0);
        assert_eq!(
            f.lines(),
            vec![
                "fleet: idle-to-assign p50=1.0s p95=30.0s",
                "fleet: double assignments=0",
                "fleet: prompts to a not-ready agent=0",
            ]
        );
    }

    #[test]
    fn a_busy_pane_or_one_holding_work_is_not_ready_and_a_live_bead_given_again_is_double() {
        let records_and_events = |steps: &dyn Fn(&mut Ledger)| {
            let mut l = Ledger::open_in_memory().unwrap();
            steps(&mut l);
            from_ledger(&l).unwrap()
        };
        // Offered while the pane was last seen busy.
        let f = records_and_events(&|l| {
            l.record_event(&ev(CoordinatorEventType::AgentBusy, 0, "%1", None))
                .unwrap();
            assign(l, "b-1", "%1", 10, None);
        });
        assert_eq!((f.not_ready_prompts, f.double_assignments), (1, 0));
        // Offered a second bead while the first is live.
        let f = records_and_events(&|l| {
            l.record_event(&ev(CoordinatorEventType::AgentIdle, 0, "%1", None))
                .unwrap();
            assign(l, "b-1", "%1", 10, None);
            assign(l, "b-2", "%1", 20, None);
        });
        assert_eq!((f.not_ready_prompts, f.double_assignments), (1, 0));
        // The same bead to a second pane while the first delivery is live (a ledger written
        // by two processes, or a bead re-offered after a lost record): the unique index
        // allows it once the first record failed without an end event.
        let mut l = Ledger::open_in_memory().unwrap();
        assign(&mut l, "b-1", "%1", 10, None);
        let first = l.by_bead("b-1").unwrap()[0].id;
        l.set_state(first, AssignmentState::Failed, "lost", t(15))
            .unwrap();
        assign(&mut l, "b-1", "%2", 20, None);
        let f = from_ledger(&l).unwrap();
        assert_eq!(f.double_assignments, 1);
        // Ended properly, then given again: not double.
        let f = records_and_events(&|l| {
            assign(l, "b-1", "%1", 10, Some((30, false)));
            assign(l, "b-1", "%2", 40, None);
        });
        assert_eq!(f.double_assignments, 0);
        assert_eq!(f.delivered, 2);
    }

    #[test]
    fn a_handed_back_bead_given_to_another_agent_is_not_double_and_frees_its_pane() {
        let mut l = Ledger::open_in_memory().unwrap();
        // %1 takes b-1, hangs, and the bead is handed back at 700 (the runtime's `hand_back`:
        // the record fails, `work_handed_back` is logged).
        l.record_event(&ev(CoordinatorEventType::AgentIdle, 0, "%1", None))
            .unwrap();
        assign(&mut l, "b-1", "%1", 10, None);
        l.record_event(&ev(CoordinatorEventType::AgentStalled, 100, "%1", None))
            .unwrap();
        let first = l.by_bead("b-1").unwrap()[0].id;
        l.set_state(first, AssignmentState::Failed, "taken back", t(700))
            .unwrap();
        l.record_event(&ev(
            CoordinatorEventType::WorkHandedBack,
            700,
            "%1",
            Some("b-1"),
        ))
        .unwrap();
        // %2 gets it at once; %1 wakes up, is idle at 900 and gets b-2 at 902.
        l.record_event(&ev(CoordinatorEventType::AgentIdle, 0, "%2", None))
            .unwrap();
        assign(&mut l, "b-1", "%2", 701, None);
        l.record_event(&ev(CoordinatorEventType::AgentIdle, 900, "%1", None))
            .unwrap();
        assign(&mut l, "b-2", "%1", 902, None);
        let f = from_ledger(&l).unwrap();
        assert_eq!(f.delivered, 3);
        assert_eq!(f.double_assignments, 0, "{f:?}");
        assert_eq!(f.not_ready_prompts, 0, "{f:?}");
        assert_eq!(f.idle_to_assign, vec![10.0, 701.0, 2.0]);
    }

    #[test]
    fn a_restarted_coordinator_s_first_look_replaces_the_old_one_s_last_state() {
        let started = |s: i64, waiting: &[&str]| {
            let agents: serde_json::Map<String, serde_json::Value> = waiting
                .iter()
                .map(|p| (p.to_string(), serde_json::Value::from("WAITING")))
                .chain([("%9".to_string(), serde_json::Value::from("GENERATING"))])
                .collect();
            CoordinatorEvent::new(CoordinatorEventType::CoordinatorStarted, t(s))
                .with_detail("agents", serde_json::Value::Object(agents))
        };
        let mut l = Ledger::open_in_memory().unwrap();
        // The old coordinator last saw %1 busy; it was SIGKILLed; %1 finished meanwhile and
        // the new coordinator's first poll found it WAITING, then offered it work.
        l.record_event(&ev(CoordinatorEventType::AgentBusy, 0, "%1", None))
            .unwrap();
        l.record_event(&started(50, &["%1"])).unwrap();
        assign(&mut l, "b-1", "%1", 60, None);
        let f = from_ledger(&l).unwrap();
        assert_eq!(f.not_ready_prompts, 0, "{f:?}");
        assert_eq!(f.idle_to_assign, vec![10.0]);
        // %9 was busy at the start (and idle before it): an offer to it is not ready.
        let mut l = Ledger::open_in_memory().unwrap();
        l.record_event(&ev(CoordinatorEventType::AgentIdle, 0, "%9", None))
            .unwrap();
        l.record_event(&started(50, &[])).unwrap();
        assign(&mut l, "b-2", "%9", 70, None);
        let f = from_ledger(&l).unwrap();
        assert_eq!(f.not_ready_prompts, 1, "{f:?}");
        assert!(f.idle_to_assign.is_empty(), "{f:?}");
    }

    #[test]
    fn undelivered_offers_are_not_prompts() {
        let mut l = Ledger::open_in_memory().unwrap();
        l.record_event(&ev(CoordinatorEventType::AgentBusy, 0, "%1", None))
            .unwrap();
        let new = NewAssignment {
            bead_id: "b-1".into(),
            bead_title: "b".into(),
            agent_pane_id: "%1".into(),
            agent_name: String::new(),
            agent_type: "cc".into(),
            score: 1.0,
            files: vec![],
        };
        let Offer::Created(id) = l.offer(&new, t(5)).unwrap() else {
            panic!()
        };
        l.set_state(id, AssignmentState::Failed, "claim lost", t(6))
            .unwrap();
        let f = from_ledger(&l).unwrap();
        assert_eq!(f, FleetFigures::default());
        assert_eq!(
            f.lines()[0],
            "fleet: idle-to-assign p50=n/a p95=n/a",
            "no samples say so"
        );
    }
}
