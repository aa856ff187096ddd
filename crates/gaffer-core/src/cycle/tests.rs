//! Tests of the pure loop with plain values.

use super::*;
use crate::assign::BackoffReason;
use crate::config::ExitedWork;
use crate::event::CoordinatorEventType;
use crate::mailbox::Reservation;
use crate::time::parse_rfc3339;
use std::time::Duration;

fn t(secs: i64) -> Timestamp {
    parse_rfc3339("2026-01-01T12:00:00Z").unwrap() + chrono::Duration::seconds(secs)
}

fn report(pane: &str, status: AgentStatus, last_activity: Timestamp) -> AgentReport {
    AgentReport {
        pane: PaneInfo {
            pane_id: pane.into(),
            pane_index: 1,
            agent_type: "cc".into(),
            ..PaneInfo::default()
        },
        observation: Observation {
            status,
            verdict: crate::detect::Verdict {
                status,
                reason: String::new(),
                rule: "r".into(),
                evidence: vec![],
                confidence: 1.0,
                context_usage: Some(20.0),
                rate_limit_reset: None,
                observed_at: last_activity,
                fusion: None,
            },
            last_activity,
            idle_for: Duration::ZERO,
            since: last_activity,
            changed: false,
            previous: None,
            pending: None,
        },
        last_activity,
        idle_seconds: 0.0,
        velocity: 0.0,
        health: HealthCheck {
            pane_id: pane.into(),
            agent_type: "cc".into(),
            healthy: true,
            issues: vec![],
            timestamp: last_activity,
        },
    }
}

fn waiting(pane: &str, last_activity: Timestamp) -> AgentState {
    let mut a = AgentState::new(pane, 1, "cc", last_activity);
    a.status = AgentStatus::Waiting;
    a.last_activity = last_activity;
    a.healthy = true;
    a
}

fn active(
    id: i64,
    bead: &str,
    pane: &str,
    stage: Stage,
    updated_at: Timestamp,
) -> ActiveAssignment {
    ActiveAssignment {
        id,
        bead_id: bead.into(),
        pane_id: pane.into(),
        agent_name: String::new(),
        stage,
        updated_at,
        claimed: true,
        reserved: vec![],
    }
}

fn rec(id: &str, title: &str) -> TriageRecommendation {
    TriageRecommendation {
        id: id.into(),
        title: title.into(),
        issue_type: "task".into(),
        status: "open".into(),
        priority: 2,
        score: 0.5,
        ..Default::default()
    }
}

fn triage(recs: Vec<TriageRecommendation>) -> TriageResponse {
    TriageResponse {
        generated_at: t(0),
        data_hash: String::new(),
        degraded: None,
        triage: crate::triage::TriageResult {
            recommendations: recs,
            ..Default::default()
        },
        feedback: None,
        usage_hints: vec![],
        extra: Default::default(),
    }
}

fn held(agent: &str, pattern: &str, at: Timestamp) -> Reservation {
    Reservation {
        id: 0,
        agent_name: agent.into(),
        path_pattern: pattern.into(),
        exclusive: true,
        reason: String::new(),
        created_ts: Some(at),
        expires_ts: at + chrono::Duration::hours(1),
        released_ts: None,
    }
}

fn kinds(ds: &[Decision]) -> Vec<String> {
    ds.iter()
        .map(|d| match d {
            Decision::Publish(e) | Decision::Announce(e) => e.event_type.as_str().to_string(),
            other => format!("{other:?}")
                .split(['(', ' ', '{'])
                .next()
                .unwrap_or("")
                .to_string(),
        })
        .collect()
}

// --- the observation merge -------------------------------------------------------------

#[test]
fn merge_tracks_new_agents_quietly_and_reports_changes_of_known_ones() {
    let mut snap = Snapshot::new(Pass::Poll, t(10));
    let obs = AgentsObservation {
        agents: vec![report("%1", AgentStatus::Generating, t(9))],
        problems: vec![],
        tmux_lost: None,
        unreachable_hosts: Default::default(),
    };
    let m = agents::merge(&snap, &obs, &Policy::default());
    assert!(m.events.is_empty(), "a new agent is not a change");
    assert_eq!(m.tracking.agents["%1"].status, AgentStatus::Generating);
    snap.agents = m.tracking.agents;
    let obs = AgentsObservation {
        agents: vec![report("%1", AgentStatus::Error, t(10))],
        problems: vec!["p".into()],
        tmux_lost: None,
        unreachable_hosts: Default::default(),
    };
    let m = agents::merge(&snap, &obs, &Policy::default());
    assert_eq!(
        m.events
            .iter()
            .map(|e| e.event_type.clone())
            .collect::<Vec<_>>(),
        [CoordinatorEventType::AgentError]
    );
    assert!(
        !m.tracking.agents["%1"].healthy,
        "an agent in error is unhealthy"
    );
    assert_eq!(m.tracking.problems, ["p"]);
    // Context usage first, then the error, for the quality monitor.
    assert!(matches!(m.quality[0], QualitySignal::ContextUsage { usage, .. } if usage == 20.0));
    assert!(matches!(m.quality[1], QualitySignal::AgentError { .. }));
    // A pane no longer observed is dropped.
    let m = agents::merge(&snap, &AgentsObservation::default(), &Policy::default());
    assert!(m.tracking.agents.is_empty());
}

/// `report` for an agent on a host that cannot be reached, as the monitor makes it.
fn unreachable(pane: &str, at: Timestamp) -> AgentReport {
    let mut r = report(pane, AgentStatus::Unknown, at);
    r.observation.verdict = crate::detect::host_unreachable_verdict("box1", "ssh: timed out", at);
    r
}

#[test]
fn a_host_going_down_holds_its_agents_unknown_and_is_announced_once_each_way() {
    let mut snap = Snapshot::new(Pass::Poll, t(10));
    snap.last_update = Some(t(5));
    snap.agents.insert("%1".into(), waiting("%1", t(1)));
    snap.agents
        .insert("box1:%1".into(), waiting("box1:%1", t(1)));
    snap.agents
        .insert("box1:%2".into(), waiting("box1:%2", t(1)));
    let types = |m: &agents::Merged| {
        m.events
            .iter()
            .map(|e| e.event_type.clone())
            .collect::<Vec<_>>()
    };
    // The host goes down: its two agents are held UNKNOWN, one event for the host.
    let obs = AgentsObservation {
        agents: vec![
            report("%1", AgentStatus::Waiting, t(9)),
            unreachable("box1:%1", t(10)),
            unreachable("box1:%2", t(10)),
        ],
        problems: vec![],
        tmux_lost: None,
        unreachable_hosts: Default::default(),
    };
    let m = agents::merge(&snap, &obs, &Policy::default());
    assert_eq!(types(&m), [CoordinatorEventType::HostUnreachable]);
    let e = &m.events[0];
    assert_eq!(e.details["host"], "box1");
    assert_eq!(e.details["agents"], 2);
    assert_eq!(e.details["error"], "host box1: ssh: timed out");
    for pane in ["box1:%1", "box1:%2"] {
        let a = &m.tracking.agents[pane];
        assert_eq!(a.status, AgentStatus::Unknown);
        assert_eq!(a.status_reason, "host_unreachable");
    }
    assert_eq!(m.tracking.agents["%1"].status_reason, "");
    assert!(!crate::assign::is_available(&m.tracking.agents["box1:%1"]));
    // Still down: nothing new.
    snap.agents = m.tracking.agents;
    let m = agents::merge(&snap, &obs, &Policy::default());
    assert!(m.events.is_empty(), "{:?}", m.events);
    // Back: one event for the host, none per agent, the reason cleared.
    snap.agents = m.tracking.agents;
    let obs = AgentsObservation {
        agents: vec![
            report("%1", AgentStatus::Waiting, t(11)),
            report("box1:%1", AgentStatus::Waiting, t(11)),
            report("box1:%2", AgentStatus::Generating, t(11)),
        ],
        problems: vec![],
        tmux_lost: None,
        unreachable_hosts: Default::default(),
    };
    let m = agents::merge(&snap, &obs, &Policy::default());
    assert_eq!(types(&m), [CoordinatorEventType::HostReachable]);
    assert_eq!(m.events[0].details["host"], "box1");
    assert_eq!(m.tracking.agents["box1:%2"].status, AgentStatus::Generating);
    assert_eq!(m.tracking.agents["box1:%2"].status_reason, "");
}

#[test]
fn a_host_down_from_the_start_is_announced_once_and_its_return_too() {
    let mut snap = Snapshot::new(Pass::Poll, t(10));
    let down = AgentsObservation {
        agents: vec![report("%1", AgentStatus::Waiting, t(9))],
        problems: vec![],
        tmux_lost: None,
        unreachable_hosts: [("box2".to_string(), "ssh: refused".to_string())].into(),
    };
    let m = agents::merge(&snap, &down, &Policy::default());
    assert_eq!(m.events.len(), 1, "{:?}", m.events);
    assert_eq!(
        m.events[0].event_type,
        CoordinatorEventType::HostUnreachable
    );
    assert_eq!(m.events[0].details["host"], "box2");
    assert_eq!(m.events[0].details["agents"], 0);
    assert_eq!(m.events[0].details["error"], "ssh: refused");
    assert_eq!(m.tracking.hosts_down.get("box2"), Some(&t(10)));
    snap.agents = m.tracking.agents;
    snap.hosts_down = m.tracking.hosts_down;
    snap.last_update = Some(t(10));
    let m = agents::merge(&snap, &down, &Policy::default());
    assert!(m.events.is_empty(), "still down: {:?}", m.events);
    snap.hosts_down = m.tracking.hosts_down;
    let up = AgentsObservation {
        agents: vec![
            report("%1", AgentStatus::Waiting, t(11)),
            report("box2:%0", AgentStatus::Waiting, t(11)),
        ],
        ..Default::default()
    };
    let m = agents::merge(&snap, &up, &Policy::default());
    let kinds: Vec<_> = m.events.iter().map(|e| e.event_type.clone()).collect();
    assert_eq!(
        kinds,
        [
            CoordinatorEventType::HostReachable,
            CoordinatorEventType::AgentAppeared
        ]
    );
    assert!(m.tracking.hosts_down.is_empty());
}

#[test]
fn work_on_an_unreachable_host_is_held_for_the_grace_then_handed_back_once() {
    let policy = Policy {
        tmux_grace: 60.0,
        ..Policy::default()
    };
    let poll = |now: i64, hosts_down: &BTreeMap<String, Timestamp>| {
        let mut snap = Snapshot::new(Pass::Poll, t(now));
        let mut held = waiting("box1:%1", t(0));
        held.status = AgentStatus::Unknown;
        held.status_reason = "host_unreachable".into();
        snap.agents.insert("box1:%1".into(), held);
        snap.hosts_down = hosts_down.clone();
        snap.ledger.active = vec![active(1, "b1", "box1:%1", Stage::Working, t(0))];
        snap.observed = Some(AgentsObservation {
            agents: vec![unreachable("box1:%1", t(now))],
            ..Default::default()
        });
        decide(&snap, &policy)
    };
    let hand_backs = |ds: &[Decision]| -> Vec<String> {
        ds.iter()
            .filter_map(|d| match d {
                Decision::HandBack {
                    assignment,
                    status,
                    reason,
                    back_off,
                } => {
                    assert_eq!(*status, AgentStatus::Unknown);
                    assert!(!back_off, "the agent did nothing wrong");
                    Some(format!("{} {reason}", assignment.bead_id))
                }
                _ => None,
            })
            .collect()
    };
    // The host went down at t(100): held within the grace.
    let since: BTreeMap<String, Timestamp> = [("box1".to_string(), t(100))].into();
    assert!(hand_backs(&poll(100, &BTreeMap::new())).is_empty());
    assert!(hand_backs(&poll(159, &since)).is_empty());
    // The grace is over: handed back, saying why.
    let back = hand_backs(&poll(160, &since));
    assert_eq!(back.len(), 1, "{back:?}");
    assert!(
        back[0].starts_with("b1 host_unreachable: host box1 unreachable since "),
        "{back:?}"
    );
    // The down time is kept from pass to pass, not restarted.
    let ds = poll(130, &since);
    let Some(Decision::Track(tracking)) = ds.first() else {
        panic!("{ds:?}")
    };
    assert_eq!(tracking.hosts_down.get("box1"), Some(&t(100)));
}

#[test]
fn the_digest_has_a_line_per_host_down_per_host_back_and_per_spool_not_drained() {
    // box1 down since t(100) with one agent held and its work; box2 fine.
    let mut snap = Snapshot::new(Pass::Poll, t(130));
    let mut held = waiting("box1:%1", t(0));
    held.status = AgentStatus::Unknown;
    held.status_reason = "host_unreachable".into();
    snap.agents.insert("box1:%1".into(), held);
    snap.agents
        .insert("box2:%1".into(), waiting("box2:%1", t(120)));
    snap.hosts_down = [("box1".to_string(), t(100))].into();
    snap.ledger.active = vec![active(1, "b1", "box1:%1", Stage::Working, t(0))];
    snap.last_update = Some(t(129));
    let d = digest::build(&snap);
    let down: Vec<&String> = d.alerts.iter().filter(|a| a.starts_with("host ")).collect();
    assert_eq!(down.len(), 1, "{:?}", d.alerts);
    assert!(
        down[0].starts_with(&format!(
            "host box1 unreachable since {}: 1 agent(s) held as UNKNOWN (",
            crate::time::format_rfc3339(&t(100))
        )),
        "{down:?}"
    );
    assert!(down[0].contains("box1:%1"), "{down:?}");
    assert!(down[0].contains("1 assignment(s) held (b1)"), "{down:?}");

    // It answers again at t(140): the merge remembers the outage, the digest says it.
    snap.observed = None;
    let obs = AgentsObservation {
        agents: vec![
            report("box1:%1", AgentStatus::Waiting, t(140)),
            report("box2:%1", AgentStatus::Waiting, t(140)),
        ],
        ..Default::default()
    };
    snap.now = t(140);
    let m = agents::merge(&snap, &obs, &Policy::default());
    assert!(m.tracking.hosts_down.is_empty());
    let back = m
        .tracking
        .hosts_back
        .get("box1")
        .copied()
        .expect("box1 back");
    assert_eq!((back.since, back.back_at), (t(100), t(140)));
    let mut later = Snapshot::new(Pass::Digest, t(200));
    later.agents = m.tracking.agents.clone();
    later.hosts_back = m.tracking.hosts_back.clone();
    later.last_update = Some(t(199));
    later.spool_troubles = [(
        "box2".to_string(),
        SpoolTrouble {
            since: t(150),
            error: "sh -c: Permission denied".into(),
        },
    )]
    .into();
    let d = digest::build(&later);
    let hosts: Vec<&String> = d.alerts.iter().filter(|a| a.starts_with("host ")).collect();
    assert_eq!(hosts.len(), 2, "{:?}", d.alerts);
    assert!(
        hosts[0].starts_with("host box1 answers again since ") && hosts[0].contains("40 s"),
        "{hosts:?}"
    );
    assert!(
        hosts[1].starts_with("host box2: its spool of reports")
            && hosts[1].contains("Permission denied"),
        "{hosts:?}"
    );
    // Kept for an hour, then dropped; a host that goes down again is not "back".
    let mut snap = Snapshot::new(Pass::Poll, t(140 + HOST_BACK_KEPT_SECS - 1));
    snap.hosts_back = m.tracking.hosts_back.clone();
    let m2 = agents::merge(&snap, &obs, &Policy::default());
    assert!(m2.tracking.hosts_back.contains_key("box1"));
    snap.now = t(140 + HOST_BACK_KEPT_SECS);
    let m2 = agents::merge(&snap, &obs, &Policy::default());
    assert!(m2.tracking.hosts_back.is_empty());
    snap.now = t(150);
    let down_again = AgentsObservation {
        unreachable_hosts: [("box1".to_string(), "ssh: refused".to_string())].into(),
        ..Default::default()
    };
    let m3 = agents::merge(&snap, &down_again, &Policy::default());
    assert!(m3.tracking.hosts_back.is_empty());
}

#[test]
fn merge_takes_names_personas_and_the_ledger_s_assignments() {
    let mut snap = Snapshot::new(Pass::Poll, t(10));
    snap.names.insert("%1".into(), "BlueLake".into());
    snap.ledger.active = vec![
        active(1, "b1", "%1", Stage::Working, t(0)),
        active(2, "b2", "%1", Stage::Delivered, t(0)),
        active(3, "b3", "%2", Stage::Delivered, t(0)),
    ];
    let mut r = report("%1", AgentStatus::Generating, t(9));
    r.pane.tags = vec!["docs".into()];
    r.pane.variant = Some("writer".into());
    let m = agents::merge(
        &snap,
        &AgentsObservation {
            agents: vec![r],
            problems: vec![],
            tmux_lost: None,
            unreachable_hosts: Default::default(),
        },
        &Policy::default(),
    );
    let a = &m.tracking.agents["%1"];
    assert_eq!(a.agent_mail_name, "BlueLake");
    assert_eq!((a.assignments, a.current_task.as_str()), (2, "b2"));
    let p = a.profile.as_ref().unwrap();
    assert_eq!(
        (p.name.as_str(), p.tags.clone()),
        ("writer", vec!["docs".to_string()])
    );
    assert_eq!(m.tracking.assignments, [1, 2, 3].into_iter().collect());
}

#[test]
fn a_rate_limit_holds_until_its_first_announced_reset() {
    let mut snap = Snapshot::new(Pass::Poll, t(0));
    let limited = |reset: i64, now: i64| {
        let mut r = report("%1", AgentStatus::RateLimited, t(0));
        r.observation.verdict.rate_limit_reset = Some(t(now + reset));
        AgentsObservation {
            agents: vec![r],
            problems: vec![],
            tmux_lost: None,
            unreachable_hosts: Default::default(),
        }
    };
    let m = agents::merge(&snap, &limited(20, 0), &Policy::default());
    assert_eq!(m.tracking.rate_limits["%1"], t(20));
    assert_eq!(m.tracking.agents["%1"].status, AgentStatus::RateLimited);
    // Read again 15 s later, "20 s" means t(35); the first reading (t(20)) counts.
    snap.rate_limits = m.tracking.rate_limits;
    snap.agents = m.tracking.agents;
    snap.now = t(15);
    let m = agents::merge(&snap, &limited(20, 15), &Policy::default());
    assert_eq!(m.tracking.rate_limits["%1"], t(20));
    assert_eq!(m.tracking.agents["%1"].status, AgentStatus::RateLimited);
    snap.now = t(21);
    let m = agents::merge(&snap, &limited(20, 21), &Policy::default());
    assert_eq!(m.tracking.agents["%1"].status, AgentStatus::Waiting);
    // Out of the limit, the reading is forgotten.
    snap.rate_limits = m.tracking.rate_limits;
    let m = agents::merge(
        &snap,
        &AgentsObservation {
            agents: vec![report("%1", AgentStatus::Waiting, t(0))],
            problems: vec![],
            tmux_lost: None,
            unreachable_hosts: Default::default(),
        },
        &Policy::default(),
    );
    assert!(m.tracking.rate_limits.is_empty());
}

#[test]
fn idle_agents_are_fresh_waiting_and_free() {
    let policy = Policy::default(); // assign_only_idle, 30 s
    let mut busy = waiting("%3", t(0));
    busy.assignments = 1;
    let agents = [waiting("%1", t(0)), waiting("%2", t(80)), busy];
    let ids = |p: &Policy| -> Vec<String> {
        agents::idle(agents.iter(), p, t(100))
            .into_iter()
            .map(|a| a.pane_id.clone())
            .collect()
    };
    assert_eq!(
        ids(&policy),
        ["%1"],
        "idle 20 s is not fresh; one with work is not free"
    );
    let any = Policy {
        assign_only_idle: false,
        ..policy
    };
    assert_eq!(ids(&any), ["%1", "%2"]);
}

// --- the end of assignments ------------------------------------------------------------

/// No host down.
static NO_HOSTS_DOWN: BTreeMap<String, Timestamp> = BTreeMap::new();

fn view_of<'a>(
    agents: &'a BTreeMap<String, AgentState>,
    since: &'a BTreeMap<String, Timestamp>,
    rate_limits: &'a BTreeMap<String, Timestamp>,
    restarts: &'a BTreeMap<String, RestartHistory>,
) -> review::AgentsView<'a> {
    review::AgentsView {
        agents,
        since,
        rate_limits,
        restarts,
        hosts_down: &NO_HOSTS_DOWN,
    }
}

#[test]
fn review_done_gone_working_stalled() {
    let policy = Policy::default();
    let wait = policy.idle_threshold.max(policy.completion_grace) as i64;
    let mut agents = BTreeMap::new();
    let mut busy = waiting("%2", t(0));
    busy.status = AgentStatus::Generating;
    agents.insert("%2".to_string(), busy.clone());
    agents.insert("%3".to_string(), {
        let mut g = busy.clone();
        g.pane_id = "%3".into();
        g
    });
    agents.insert("%4".to_string(), waiting("%4", t(0)));
    agents.insert("%5".to_string(), {
        let mut x = waiting("%5", t(0));
        x.status = AgentStatus::Exited;
        x
    });
    agents.insert("%6".to_string(), waiting("%6", t(0)));
    let list = vec![
        active(1, "closed", "%4", Stage::Working, t(0)),
        active(2, "b2", "%2", Stage::Delivered, t(0)),
        active(3, "b3", "%3", Stage::Working, t(0)),
        active(4, "b4", "%4", Stage::Delivered, t(0)),
        active(5, "b5", "%5", Stage::Working, t(0)),
        active(6, "b6", "%9", Stage::Working, t(0)),
        active(7, "b7", "%6", Stage::Offered, t(0)),
    ];
    let closed: BTreeSet<String> = ["closed".to_string()].into();
    let mut out = Vec::new();
    let (since, limits, restarts) = Default::default();
    let view = view_of(&agents, &since, &limits, &restarts);
    review::active(&list, &view, Some(&closed), &policy, t(wait), &mut out);
    let got: Vec<(String, i64)> = out
        .iter()
        .map(|d| match d {
            Decision::MarkDone { assignment, .. } => ("done".into(), assignment.id),
            Decision::MarkGone { assignment, reason } => (format!("gone: {reason}"), assignment.id),
            Decision::MarkStalled { assignment, .. } => ("stalled".into(), assignment.id),
            Decision::MarkWorking { id } => ("working".into(), *id),
            Decision::HandBack {
                assignment, reason, ..
            } => (format!("handed back: {reason}"), assignment.id),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            ("done".to_string(), 1),
            ("working".to_string(), 2),
            ("stalled".to_string(), 4),
            ("handed back: agent exited".to_string(), 5),
            ("gone: agent pane is gone".to_string(), 6),
        ]
    );
    // Not yet idle long enough: nothing stalls. Issues unreadable: nothing is done.
    let mut out = Vec::new();
    review::active(&list[..1], &view, None, &policy, t(wait - 1), &mut out);
    review::active(&list[3..4], &view, None, &policy, t(wait - 1), &mut out);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn ends_reported_by_agents_release_and_are_announced() {
    let mut a = active(1, "b1", "%1", Stage::Working, t(0));
    a.agent_name = "BlueLake".into();
    a.reserved = vec!["src/a.rs".into()];
    let ended = |end, state: &str| EndedAssignment {
        assignment: a.clone(),
        end,
        state: state.into(),
        reason: "why".into(),
        at: t(5),
    };
    let mut out = Vec::new();
    review::reported(
        &[
            ended(ReportedEnd::Done, "done"),
            ended(ReportedEnd::Refused, "refused"),
            ended(ReportedEnd::Other, "failed"),
        ],
        &mut out,
    );
    assert_eq!(
        kinds(&out),
        [
            "ClearBackoff",
            "ReleaseReservations",
            "work_completed",
            "ReloadBackoff",
            "ReleaseReservations",
            "assignment_refused"
        ]
    );
    assert!(
        matches!(&out[1], Decision::ReleaseReservations { holder, .. } if holder == "BlueLake")
    );
    let Decision::Announce(e) = &out[2] else {
        panic!()
    };
    assert_eq!(e.details["reported_by"], "agent");
}

#[test]
fn start_undoes_interrupted_offers() {
    let mut snap = Snapshot::new(Pass::Start, t(0));
    snap.ledger.active = vec![
        active(1, "b1", "%1", Stage::Offered, t(0)),
        active(2, "b2", "%2", Stage::Delivered, t(0)),
    ];
    let out = decide(&snap, &Policy::default());
    assert_eq!(out.len(), 1);
    assert!(
        matches!(&out[0], Decision::MarkGone { assignment, reason } if assignment.id == 1 && reason == review::INTERRUPTED)
    );
}

#[test]
fn a_poll_tracks_first_then_reports_then_reviews() {
    let mut snap = Snapshot::new(Pass::Poll, t(100));
    assert!(
        decide(&snap, &Policy::default()).is_empty(),
        "nothing observed"
    );
    snap.agents.insert("%1".into(), waiting("%1", t(0)));
    snap.ledger.active = vec![active(1, "b1", "%1", Stage::Delivered, t(0))];
    snap.observed = Some(AgentsObservation {
        agents: vec![report("%1", AgentStatus::Generating, t(99))],
        problems: vec![],
        tmux_lost: None,
        unreachable_hosts: Default::default(),
    });
    assert_eq!(
        kinds(&decide(&snap, &Policy::default())),
        ["Track", "agent_busy", "RecordQuality", "MarkWorking"]
    );
}

// --- assignment ------------------------------------------------------------------------

fn assign_snapshot() -> Snapshot {
    let mut snap = Snapshot::new(
        Pass::Assign {
            strategy: None,
            dry_run: false,
        },
        t(100),
    );
    snap.agents.insert("%1".into(), waiting("%1", t(0)));
    snap.agents.insert("%2".into(), waiting("%2", t(0)));
    snap.work = Some(Ok(triage(vec![
        rec("files", "Edit src/lib.rs"),
        rec("plain", "Think about naming"),
        rec("taken", "Already someone's"),
    ])));
    snap.ledger.taken.insert("taken".into());
    snap.reservations = Some(Ok(vec![]));
    snap.has_mailbox = true;
    snap
}

fn beads(ds: &[Decision]) -> Vec<String> {
    let mut v: Vec<String> = ds
        .iter()
        .filter_map(|d| match d {
            Decision::Assign(o) => Some(o.assignment.bead_id.clone()),
            Decision::Propose(wa) => Some(wa.bead_id.clone()),
            _ => None,
        })
        .collect();
    v.sort();
    v
}

#[test]
fn a_round_assigns_free_work_to_idle_agents() {
    let snap = assign_snapshot();
    let out = decide(&snap, &Policy::default());
    assert_eq!(beads(&out), ["files", "plain"]);
    let files = out
        .iter()
        .find_map(|d| match d {
            Decision::Assign(o) if o.assignment.bead_id == "files" => Some(o),
            _ => None,
        })
        .unwrap();
    assert_eq!(files.assignment.files_to_reserve, ["src/lib.rs"]);
    // A dry run proposes the same.
    let mut dry = snap.clone();
    dry.pass = Pass::Assign {
        strategy: None,
        dry_run: true,
    };
    let out = decide(&dry, &Policy::default());
    assert!(out.iter().all(|d| matches!(d, Decision::Propose(_))));
    assert_eq!(beads(&out), ["files", "plain"]);
}

#[test]
fn an_agent_type_bonus_ranks_agents_but_never_leaves_one_idle_beside_work() {
    // A codex agent (simple work, −0.10 on features) and two low-ranked features (triage
    // score 0.075, as beads past the triage's top ten get): the Claude agent takes one on its
    // bonus, the codex agent the other, in every scoring strategy.
    let mut snap = assign_snapshot();
    snap.agents.clear();
    snap.agents.insert("%1".into(), waiting("%1", t(0)));
    let mut cod = waiting("%2", t(0));
    cod.agent_type = "cod".into();
    snap.agents.insert("%2".into(), cod.clone());
    let feature = |id: &str| TriageRecommendation {
        issue_type: "feature".into(),
        score: 0.075,
        ..rec(id, "Add the parser")
    };
    snap.work = Some(Ok(triage(vec![feature("f1"), feature("f2")])));
    for strategy in [
        AssignmentStrategy::Balanced,
        AssignmentStrategy::Quality,
        AssignmentStrategy::Dependency,
        AssignmentStrategy::Speed,
    ] {
        let mut cfg = GafferConfig::default();
        cfg.assign.strategy = strategy;
        let out = decide(&snap, &Policy::from_config(&cfg));
        let panes: BTreeSet<String> = out
            .iter()
            .filter_map(|d| match d {
                Decision::Assign(o) => Some(o.agent.pane_id.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(beads(&out), ["f1", "f2"], "{strategy:?}");
        assert_eq!(
            panes,
            BTreeSet::from(["%1".into(), "%2".into()]),
            "{strategy:?}"
        );
    }
    // Alone with a feature, the codex agent gets it too; the preference still decides who
    // gets what when both could: with one feature, the Claude agent.
    snap.agents.remove("%1");
    let out = decide(&snap, &Policy::default());
    assert_eq!(beads(&out).len(), 1, "{out:?}");
    snap.agents.insert("%1".into(), waiting("%1", t(0)));
    snap.work = Some(Ok(triage(vec![feature("f1")])));
    let out = decide(&snap, &Policy::default());
    let Some(Decision::Assign(o)) = out.iter().find(|d| matches!(d, Decision::Assign(_))) else {
        panic!("nothing assigned: {out:?}")
    };
    assert_eq!(o.agent.pane_id, "%1");
    assert_eq!(beads(&out), ["f1"]);
}

#[test]
fn paused_agents_get_nothing_and_resumed_ones_work_again() {
    let mut snap = assign_snapshot();
    snap.ledger.paused.panes.insert("%1".into());
    let out = decide(&snap, &Policy::default());
    let to: Vec<&str> = out
        .iter()
        .filter_map(|d| match d {
            Decision::Assign(o) => Some(o.agent.pane_id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(to, ["%2"], "only the agent not paused gets work");
    snap.ledger.paused.all = true;
    assert!(
        beads(&decide(&snap, &Policy::default())).is_empty(),
        "all paused: nothing is assigned"
    );
    snap.ledger.paused = crate::control::Pauses::default();
    assert_eq!(
        beads(&decide(&snap, &Policy::default())),
        ["files", "plain"]
    );
}

#[test]
fn unreadable_reservations_hold_back_tasks_that_need_them() {
    let mut snap = assign_snapshot();
    snap.reservations = Some(Err("connection refused".into()));
    let out = decide(&snap, &Policy::default());
    assert!(matches!(
        &out[0],
        Decision::RaiseAlert { source: Source::Mail, error } if error == "connection refused"
    ));
    assert_eq!(beads(&out), ["plain"]);
    // Already degraded: no second alert.
    snap.health.mail = Some("connection refused".into());
    assert!(
        !decide(&snap, &Policy::default())
            .iter()
            .any(|d| matches!(d, Decision::RaiseAlert { .. }))
    );
    // Readable again: cleared, and the task goes out.
    snap.reservations = Some(Ok(vec![]));
    let out = decide(&snap, &Policy::default());
    assert!(matches!(
        out[0],
        Decision::ClearAlert {
            source: Source::Mail
        }
    ));
    assert_eq!(beads(&out), ["files", "plain"]);
}

#[test]
fn backing_off_pairs_and_busy_agents_get_nothing() {
    let mut snap = assign_snapshot();
    snap.agents.remove("%2");
    snap.ledger.backoff =
        crate::assign::BackoffBook::new(Duration::from_secs(60), Duration::from_secs(600));
    for bead in ["files", "plain"] {
        snap.ledger
            .backoff
            .record("%1", bead, BackoffReason::Refused, t(90));
    }
    assert!(beads(&decide(&snap, &Policy::default())).is_empty());
    snap.now = t(90) + chrono::Duration::from_std(snap.ledger.backoff.cap).unwrap();
    snap.agents.get_mut("%1").unwrap().last_activity = t(0);
    assert_eq!(beads(&decide(&snap, &Policy::default())).len(), 1);
    // No idle agent: no reading is even looked at (no alert either).
    snap.agents.get_mut("%1").unwrap().status = AgentStatus::Generating;
    snap.work = Some(Err("down".into()));
    assert!(decide(&snap, &Policy::default()).is_empty());
}

#[test]
fn an_unreadable_work_source_is_alerted_once() {
    let mut snap = assign_snapshot();
    snap.work = Some(Err("bv: not found".into()));
    let out = decide(&snap, &Policy::default());
    assert_eq!(out.len(), 1);
    assert!(matches!(
        &out[0],
        Decision::RaiseAlert {
            source: Source::Work,
            ..
        }
    ));
    snap.health.work = Some("bv: not found".into());
    assert!(decide(&snap, &Policy::default()).is_empty());
}

#[test]
fn plan_options_apply_the_configured_scoring_to_the_configured_strategy_only() {
    let policy = Policy::default();
    assert_eq!(
        plan::scoring_for(&policy, policy.strategy),
        Some(policy.scoring)
    );
    let other = if policy.strategy == AssignmentStrategy::Speed {
        AssignmentStrategy::Quality
    } else {
        AssignmentStrategy::Speed
    };
    assert_eq!(plan::scoring_for(&policy, other), None);
    let mut snap = assign_snapshot();
    snap.quality.agent_scores.insert("%1".into(), 80.0);
    let o = plan::options(&snap, None);
    assert_eq!(o.now, Some(t(100)));
    assert_eq!(o.agent_quality["%1"], 80.0);
    assert!(o.backoff.is_some());
}

#[test]
fn assignable_work_is_claimable_and_not_taken() {
    let recs = vec![rec("a", "A"), rec("b", "B")];
    let none = BTreeSet::new();
    let got: Vec<&str> = plan::assignable(&recs, &none)
        .iter()
        .map(|r| r.id.as_str())
        .collect();
    assert_eq!(got, ["a", "b"]);
    let mut epic = rec("e", "E");
    epic.issue_type = "epic".into();
    let recs = vec![rec("a", "A"), epic, rec("b", "B")];
    let taken: BTreeSet<String> = ["b".to_string()].into();
    let got: Vec<String> = plan::assignable(&recs, &taken)
        .iter()
        .map(|r| r.id.clone())
        .collect();
    assert_eq!(got, ["a"]);
}

#[test]
fn a_suggestion_treats_a_busy_agent_as_waiting() {
    let mut snap = assign_snapshot();
    snap.agents.get_mut("%1").unwrap().status = AgentStatus::Generating;
    snap.pass = Pass::Suggest {
        pane_id: "%1".into(),
    };
    let out = decide(&snap, &Policy::default());
    assert_eq!(out.len(), 1);
    assert!(matches!(&out[0], Decision::Propose(wa) if wa.agent_pane_id == "%1"));
    snap.pass = Pass::Suggest {
        pane_id: "%9".into(),
    };
    assert!(decide(&snap, &Policy::default()).is_empty());
}

// --- conflicts -------------------------------------------------------------------------

#[test]
fn new_conflicts_are_reported_noticed_and_negotiated_once() {
    let mut snap = Snapshot::new(Pass::Conflicts, t(10));
    snap.reservations = Some(Ok(vec![
        held("BlueLake", "src/**", t(0)),
        held("GreenHill", "src/a.rs", t(5)),
        held("RedFox", "docs/*.md", t(0)),
    ]));
    let policy = Policy {
        conflict_negotiate: true,
        ..Policy::default()
    };
    let out = decide(&snap, &policy);
    assert_eq!(
        kinds(&out),
        [
            "conflict_detected",
            "NotifyConflict",
            "RequestRelease",
            "TrackConflicts"
        ]
    );
    let Decision::RequestRelease {
        holder, requester, ..
    } = &out[2]
    else {
        panic!()
    };
    assert_eq!(
        (holder.agent_name.as_str(), requester.as_str()),
        ("BlueLake", "GreenHill")
    );
    let Decision::TrackConflicts(found) = &out[3] else {
        panic!()
    };
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].overlap, "src/a.rs");
    // Known already: nothing new.
    snap.known_conflicts = found
        .iter()
        .map(|c| (c.conflict.id.clone(), c.clone()))
        .collect();
    assert_eq!(kinds(&decide(&snap, &policy)), ["TrackConflicts"]);
    // Released: resolved.
    snap.reservations = Some(Ok(vec![held("GreenHill", "src/a.rs", t(5))]));
    assert_eq!(
        kinds(&decide(&snap, &policy)),
        ["conflict_resolved", "TrackConflicts"]
    );
    // Unreadable: an alert and nothing else (conflicts are unknown, not zero).
    snap.reservations = Some(Err("down".into()));
    assert_eq!(kinds(&decide(&snap, &policy)), ["RaiseAlert"]);
}

#[test]
fn shared_reservations_do_not_conflict() {
    let mut a = held("BlueLake", "src/**", t(0));
    let mut b = held("GreenHill", "src/a.rs", t(0));
    a.exclusive = false;
    b.exclusive = false;
    assert!(conflicts::detect(&[a.clone(), b.clone()], t(1)).is_empty());
    b.exclusive = true;
    assert_eq!(conflicts::detect(&[a, b], t(1)).len(), 1);
}

#[test]
fn the_release_request_goes_to_the_lowest_priority_other_holder() {
    let holder = |name: &str, at: i64, priority: i64| Holder {
        agent_name: name.into(),
        pane_id: String::new(),
        reserved_at: t(at),
        expires_at: t(3600),
        reason: String::new(),
        priority,
    };
    let conflict = |holders: Vec<Holder>| Conflict {
        id: "c".into(),
        file_path: String::new(),
        pattern: "src/**".into(),
        holders,
        detected_at: t(10),
        resolved_at: None,
        resolution: String::new(),
    };
    let c = conflict(vec![
        holder("A", 0, 1),
        holder("B", 1, 5),
        holder("C", 9, 9),
    ]);
    assert_eq!(conflicts::requester(&c), "C");
    assert_eq!(conflicts::release_holder(&c, "C").unwrap().agent_name, "B");
    let alone = conflict(vec![holder("C", 9, 9)]);
    assert!(conflicts::release_holder(&alone, "C").is_none());
}

// --- digests and alerts ----------------------------------------------------------------

#[test]
fn a_digest_goes_to_the_granted_human_with_its_importance() {
    let mut snap = Snapshot::new(Pass::Digest, t(10));
    snap.session = "s".into();
    snap.last_update = Some(t(9));
    let mut err = waiting("%1", t(0));
    err.status = AgentStatus::Error;
    snap.agents.insert("%1".into(), err);
    snap.digest = Some(DigestReadings {
        issues: Ok(vec![]),
        ranked: vec![],
        ready: vec![],
    });
    snap.reservations = Some(Ok(vec![]));
    assert!(
        decide(&snap, &Policy::default()).is_empty(),
        "no mailbox, nothing sent"
    );
    snap.has_mailbox = true;
    let out = decide(&snap, &Policy::default());
    let Decision::SendDigest {
        digest,
        importance,
        to,
    } = &out[0]
    else {
        panic!("{out:?}")
    };
    assert_eq!(to, &Policy::default().human_agent);
    assert_eq!(
        *importance,
        Importance::Urgent,
        "an agent in error is urgent"
    );
    assert_eq!(digest.error_count, 1);
    snap.human = Some("GreenCastle".into());
    assert!(
        matches!(&decide(&snap, &Policy::default())[0], Decision::SendDigest { to, .. } if to == "GreenCastle")
    );
}

#[test]
fn a_digest_says_which_sources_are_degraded() {
    let mut snap = Snapshot::new(Pass::Digest, t(10));
    snap.problems = vec!["no server running".into()];
    snap.last_update = Some(t(9));
    snap.digest = Some(DigestReadings {
        issues: Err("no beads".into()),
        ranked: vec![],
        ready: vec![],
    });
    snap.has_mailbox = true;
    snap.reservations = Some(Err("down".into()));
    let d = digest::build(&snap);
    let degraded: Vec<&str> = d
        .sources
        .iter()
        .filter(|s| s.status == "degraded")
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(degraded.len(), 3, "{:?}", d.sources);
}

#[test]
fn alerts_fire_on_transitions_only() {
    assert!(source_alert(Source::Mail, None, Ok(())).is_none());
    assert!(matches!(
        source_alert(Source::Mail, None, Err("x")),
        Some(Decision::RaiseAlert {
            source: Source::Mail,
            ..
        })
    ));
    assert!(source_alert(Source::Mail, Some("x"), Err("y")).is_none());
    assert!(matches!(
        source_alert(Source::Work, Some("x"), Ok(())),
        Some(Decision::ClearAlert {
            source: Source::Work
        })
    ));
}

#[test]
fn ledger_done_beads_are_overlaid_as_closed() {
    let mut issues = vec![
        Issue {
            id: "a".into(),
            status: "open".into(),
            ..Default::default()
        },
        Issue {
            id: "b".into(),
            status: "open".into(),
            ..Default::default()
        },
    ];
    let done: BTreeSet<String> = ["a".to_string(), "zzz".to_string()].into();
    assert_eq!(overlay_done(&mut issues, &done, t(1)), 1);
    assert!(issues[0].is_closed());
    assert!(!issues[1].is_closed());
    assert_eq!(overlay_done(&mut issues, &done, t(2)), 0, "already closed");
}

#[test]
fn only_other_agents_holding_a_path_is_a_clash() {
    use crate::mailbox::{ConflictHolder, PathConflict};
    let c = |path: &str, holder: &str| PathConflict {
        path: path.into(),
        holders: vec![ConflictHolder {
            agent_name: holder.into(),
            path_pattern: path.into(),
            exclusive: true,
            expires_ts: None,
        }],
    };
    let got = plan::clashing_paths(&[c("a.rs", "Me"), c("b.rs", "Other")], "Me");
    assert_eq!(got, ["b.rs"]);
}

// --- restarts and taking work back -----------------------------------------------------

fn restarting(exited_work: ExitedWork) -> Policy {
    let mut p = Policy::default();
    p.restart.enabled = true;
    p.restart.exited_work = exited_work;
    p
}

fn history(restarts: &[i64], halted: bool) -> RestartHistory {
    RestartHistory {
        restarts: restarts.iter().map(|s| t(*s)).collect(),
        last: restarts.last().map(|s| t(*s)),
        halted,
    }
}

/// A poll at `now` that observes pane `%1` in `status` (since `since`), holding bead b1.
fn poll_with(status: AgentStatus, since: i64, now: i64, stage: Stage) -> Snapshot {
    let mut snap = Snapshot::new(Pass::Poll, t(now));
    snap.agents.insert("%1".into(), waiting("%1", t(0)));
    snap.ledger.active = vec![active(1, "b1", "%1", stage, t(0))];
    let mut r = report("%1", status, t(since));
    r.observation.since = t(since);
    snap.observed = Some(AgentsObservation {
        agents: vec![r],
        problems: vec![],
        tmux_lost: None,
        unreachable_hosts: Default::default(),
    });
    snap
}

fn restart_and_back(ds: &[Decision]) -> Vec<String> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Restart {
                pane_id, attempt, ..
            } => Some(format!("restart {pane_id} #{attempt}")),
            Decision::StopRestarts {
                pane_id, restarts, ..
            } => Some(format!("stop {pane_id} after {restarts}")),
            Decision::HandBack {
                assignment,
                status,
                back_off,
                ..
            } => Some(format!(
                "hand back {} ({status}{})",
                assignment.bead_id,
                if *back_off { ", back off" } else { "" }
            )),
            Decision::Redeliver { assignment } => Some(format!("redeliver {}", assignment.bead_id)),
            Decision::MarkGone { assignment, .. } => Some(format!("gone {}", assignment.bead_id)),
            Decision::MarkStalled { assignment, .. } => {
                Some(format!("stalled {}", assignment.bead_id))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn restarts_back_off_exponentially_and_stop_on_a_crash_loop() {
    let p = restarting(ExitedWork::HandBack).restart;
    assert_eq!(
        (p.backoff, p.backoff_max, p.limit, p.window),
        (15.0, 300.0, 5, 600.0)
    );
    use restart::{Due, due};
    assert_eq!(due(None, &p, t(0)), Due::Now { attempt: 1 });
    // After the first restart at 0: 15 s; after the second at 15: 30 s; then 60 s, 120 s.
    assert_eq!(
        due(Some(&history(&[0], false)), &p, t(14)),
        Due::Wait { until: t(15) }
    );
    assert_eq!(
        due(Some(&history(&[0], false)), &p, t(15)),
        Due::Now { attempt: 2 }
    );
    assert_eq!(
        due(Some(&history(&[0, 15], false)), &p, t(44)),
        Due::Wait { until: t(45) }
    );
    assert_eq!(
        due(Some(&history(&[0, 15, 45], false)), &p, t(104)),
        Due::Wait { until: t(105) }
    );
    assert_eq!(
        due(Some(&history(&[0, 15, 45, 105], false)), &p, t(225)),
        Due::Now { attempt: 5 }
    );
    // Five restarts within ten minutes, and it exited again: a crash loop.
    let five = history(&[0, 15, 45, 105, 225], false);
    assert_eq!(due(Some(&five), &p, t(500)), Due::CrashLoop { restarts: 5 });
    // Restarts older than the window no longer count (only the one at 225 does at 801).
    assert_eq!(due(Some(&five), &p, t(801)), Due::Now { attempt: 2 });
    assert_eq!(due(Some(&history(&[0], true)), &p, t(5000)), Due::Halted);
    // The wait is capped.
    assert_eq!(restart::backoff_after(&p, 10), 300.0);
}

#[test]
fn an_exited_agent_is_restarted_after_its_work_is_handed_back() {
    let snap = poll_with(AgentStatus::Exited, 50, 60, Stage::Working);
    // Restarts off (the default): the work goes back, nothing restarts.
    assert_eq!(
        restart_and_back(&decide(&snap, &Policy::default())),
        ["hand back b1 (EXITED)"]
    );
    let policy = restarting(ExitedWork::HandBack);
    assert_eq!(
        restart_and_back(&decide(&snap, &policy)),
        ["hand back b1 (EXITED)", "restart %1 #1"]
    );
    // Within the back-off: nothing restarts (the assignment is gone already in the ledger).
    let mut again = poll_with(AgentStatus::Exited, 70, 74, Stage::Working);
    again.ledger.active.clear();
    again
        .ledger
        .restarts
        .insert("%1".into(), history(&[60], false));
    assert!(restart_and_back(&decide(&again, &policy)).is_empty());
    // A crash loop: restarting stops, once.
    again
        .ledger
        .restarts
        .insert("%1".into(), history(&[0, 15, 45, 70, 72], false));
    assert_eq!(
        restart_and_back(&decide(&again, &policy)),
        ["stop %1 after 5"]
    );
    again
        .ledger
        .restarts
        .insert("%1".into(), history(&[0], true));
    assert!(restart_and_back(&decide(&again, &policy)).is_empty());
    // A live agent is never restarted.
    let live = poll_with(AgentStatus::Generating, 50, 60, Stage::Working);
    assert_eq!(
        restart_and_back(&decide(&live, &policy)),
        Vec::<String>::new()
    );
}

#[test]
fn redelivery_keeps_the_work_until_the_restarted_agent_waits() {
    let policy = restarting(ExitedWork::Redeliver);
    let snap = poll_with(AgentStatus::Exited, 50, 60, Stage::Working);
    assert_eq!(restart_and_back(&decide(&snap, &policy)), ["restart %1 #1"]);
    // Restarted at 60, waiting at 80: the prompt goes again (not a stall).
    let mut up = poll_with(AgentStatus::Waiting, 70, 200, Stage::Working);
    up.ledger
        .restarts
        .insert("%1".into(), history(&[60], false));
    assert_eq!(restart_and_back(&decide(&up, &policy)), ["redeliver b1"]);
    // Re-delivered (the ledger entry changed after the restart): the usual review again.
    up.ledger.active[0].updated_at = t(81);
    assert_eq!(restart_and_back(&decide(&up, &policy)), ["stalled b1"]);
    // A crash loop, or restarts off: the work goes back after all.
    let mut looping = poll_with(AgentStatus::Exited, 50, 300, Stage::Working);
    looping
        .ledger
        .restarts
        .insert("%1".into(), history(&[0, 15, 45, 105, 225], false));
    assert_eq!(
        restart_and_back(&decide(&looping, &policy)),
        ["hand back b1 (EXITED)", "stop %1 after 5"]
    );
    let mut off = policy.clone();
    off.restart.enabled = false;
    assert_eq!(
        restart_and_back(&decide(&snap, &off)),
        ["hand back b1 (EXITED)"]
    );
    // An offer interrupted by the exit is never kept.
    let offered = poll_with(AgentStatus::Exited, 50, 60, Stage::Offered);
    assert_eq!(
        restart_and_back(&decide(&offered, &policy)),
        ["hand back b1 (EXITED)", "restart %1 #1"]
    );
}

#[test]
fn stuck_work_is_taken_back_after_each_state_s_threshold() {
    let policy = Policy::default();
    assert_eq!(
        (
            policy.takeback.stalled,
            policy.takeback.blocked,
            policy.takeback.rate_limited
        ),
        (600.0, 900.0, 1800.0)
    );
    for (status, threshold) in [
        (AgentStatus::Stalled, 600),
        (AgentStatus::Blocked, 900),
        (AgentStatus::RateLimited, 1800),
    ] {
        // In the state since 100 (the assignment is older): due at 100 + threshold.
        let before = poll_with(status, 100, 100 + threshold - 1, Stage::Working);
        assert!(
            restart_and_back(&decide(&before, &policy)).is_empty(),
            "{status} before its threshold"
        );
        let due = poll_with(status, 100, 100 + threshold, Stage::Working);
        assert_eq!(
            restart_and_back(&decide(&due, &policy)),
            [format!("hand back b1 ({status}, back off)")]
        );
        // The assignment is younger than the state: counted from the assignment.
        let mut young = poll_with(status, 100, 100 + threshold, Stage::Delivered);
        young.ledger.active[0].updated_at = t(200);
        assert!(restart_and_back(&decide(&young, &policy)).is_empty());
        // Offers being carried out are left alone.
        let offered = poll_with(status, 100, 100 + threshold, Stage::Offered);
        assert!(restart_and_back(&decide(&offered, &policy)).is_empty());
    }
    // A threshold of zero never takes work back.
    let mut never = policy.clone();
    never.takeback.blocked = 0.0;
    let blocked = poll_with(AgentStatus::Blocked, 0, 100_000, Stage::Working);
    assert!(restart_and_back(&decide(&blocked, &never)).is_empty());
}

#[test]
fn a_rate_limit_with_a_sooner_known_reset_is_waited_out() {
    let policy = Policy::default();
    let (since, mut limits, restarts) = (
        BTreeMap::from([("%1".to_string(), t(0))]),
        BTreeMap::new(),
        BTreeMap::new(),
    );
    let mut agents = BTreeMap::new();
    let mut limited = waiting("%1", t(0));
    limited.status = AgentStatus::RateLimited;
    agents.insert("%1".to_string(), limited);
    let list = vec![active(1, "b1", "%1", Stage::Working, t(0))];
    let run = |limits: &BTreeMap<String, Timestamp>, now| {
        let mut out = Vec::new();
        let view = view_of(&agents, &since, limits, &restarts);
        review::active(&list, &view, None, &policy, t(now), &mut out);
        restart_and_back(&out)
    };
    // No reset known: back after 30 minutes.
    assert!(run(&limits, 1799).is_empty());
    assert_eq!(
        run(&limits, 1800),
        ["hand back b1 (RATE_LIMITED, back off)"]
    );
    // It resets in 20 minutes: waited for, even past the threshold.
    limits.insert("%1".to_string(), t(1200));
    assert!(run(&limits, 1800).is_empty());
    // It resets in two hours: not waited for.
    limits.insert("%1".to_string(), t(7200));
    assert_eq!(
        run(&limits, 1800),
        ["hand back b1 (RATE_LIMITED, back off)"]
    );
}

#[test]
fn a_restart_by_hand_hands_the_work_back_and_restarts_whatever_the_state() {
    let mut snap = Snapshot::new(
        Pass::Restart {
            pane_id: "%1".into(),
        },
        t(10),
    );
    let mut busy = waiting("%1", t(0));
    busy.status = AgentStatus::Generating;
    snap.agents.insert("%1".into(), busy);
    snap.ledger.active = vec![
        active(1, "b1", "%1", Stage::Working, t(0)),
        active(2, "b2", "%2", Stage::Working, t(0)),
    ];
    assert_eq!(
        restart_and_back(&decide(&snap, &Policy::default())),
        ["hand back b1 (GENERATING)", "restart %1 #0"]
    );
    assert_eq!(
        restart_and_back(&decide(&snap, &restarting(ExitedWork::Redeliver))),
        ["restart %1 #0"]
    );
}

#[test]
fn a_crash_looping_agent_shows_in_the_digest() {
    let mut snap = Snapshot::new(Pass::Digest, t(10));
    snap.last_update = Some(t(9));
    snap.ledger
        .restarts
        .insert("%4".into(), history(&[0, 1, 2], true));
    snap.ledger
        .restarts
        .insert("%5".into(), history(&[0], false));
    let d = digest::build(&snap);
    let loops: Vec<&String> = d
        .alerts
        .iter()
        .filter(|a| a.contains("crash-loops"))
        .collect();
    assert_eq!(loops.len(), 1, "{:?}", d.alerts);
    assert!(loops[0].starts_with("%4 crash-loops: restarting stopped after 3 restarts"));
}

// --- tmux and panes going away ----------------------------------------------------------

fn poll(now: Timestamp, obs: AgentsObservation) -> Snapshot {
    let mut snap = Snapshot::new(Pass::Poll, now);
    snap.observed = Some(obs);
    snap
}

/// Adopts the Track decision of `ds` into `snap` (as the runtime does), and the tmux alert.
fn adopt(snap: &mut Snapshot, ds: &[Decision]) {
    for d in ds {
        match d {
            Decision::Track(t) => {
                snap.agents = t.agents.clone();
                snap.gone = t.gone.clone();
                snap.tmux_loss = t.tmux_loss;
                snap.last_update = t.observed_at;
            }
            Decision::RaiseAlert {
                source: Source::Tmux,
                error,
            } => snap.health.tmux = Some(error.clone()),
            Decision::ClearAlert {
                source: Source::Tmux,
            } => snap.health.tmux = None,
            _ => {}
        }
    }
}

fn two_agents() -> Vec<AgentReport> {
    vec![
        report("%1", AgentStatus::Waiting, t(0)),
        report("%2", AgentStatus::Waiting, t(0)),
    ]
}

#[test]
fn tmux_lost_is_one_alert_holds_the_agents_and_its_return_clears_it() {
    let policy = Policy::default();
    let mut snap = poll(
        t(1),
        AgentsObservation {
            agents: two_agents(),
            ..Default::default()
        },
    );
    let ds = decide(&snap, &policy);
    assert!(
        !kinds(&ds).iter().any(|k| k == "agent_appeared"),
        "the first observation announces nobody: {:?}",
        kinds(&ds)
    );
    adopt(&mut snap, &ds);
    // The server goes away: one alert, no agent_gone per agent; the agents are held.
    snap.now = t(2);
    snap.observed = Some(lost_obs());
    let ds = decide(&snap, &policy);
    assert_eq!(kinds(&ds), ["Track", "RaiseAlert"], "{ds:?}");
    adopt(&mut snap, &ds);
    assert!(snap.gone.is_empty());
    assert_eq!(snap.agents.len(), 2, "held, not dropped");
    for a in snap.agents.values() {
        assert_eq!(
            (a.status, a.status_reason.as_str()),
            (AgentStatus::Unknown, TMUX_LOST)
        );
    }
    let loss = snap.tmux_loss.expect("the loss is tracked");
    assert_eq!((loss.since, loss.hand_back_at), (t(2), t(122)));
    // Still lost: nothing new, and the grace still counts from the first loss.
    snap.now = t(3);
    let ds = decide(&snap, &policy);
    assert_eq!(kinds(&ds), ["Track"]);
    adopt(&mut snap, &ds);
    assert_eq!(snap.tmux_loss, Some(loss));
    // The digest says so, and names the held agents.
    let mut dsnap = Snapshot::new(Pass::Digest, t(3));
    dsnap.health = snap.health.clone();
    dsnap.last_update = snap.last_update;
    dsnap.agents = snap.agents.clone();
    dsnap.tmux_loss = snap.tmux_loss;
    let d = digest::build(&dsnap);
    assert!(
        d.alerts
            .iter()
            .any(|a| a.contains("tmux lost: no server running")),
        "{:?}",
        d.alerts
    );
    assert!(
        d.alerts
            .iter()
            .any(|a| a.contains("2 agent(s) held as UNKNOWN (0.1, 0.1)")
                && a.contains("handed back at 2026-01-01T12:02:02Z")),
        "{:?}",
        d.alerts
    );
    // Back: the alert clears first, then each held agent appears again.
    snap.now = t(4);
    snap.observed = Some(AgentsObservation {
        agents: two_agents(),
        ..Default::default()
    });
    let ds = decide(&snap, &policy);
    assert_eq!(
        kinds(&ds)[..4],
        ["Track", "ClearAlert", "agent_appeared", "agent_appeared"],
        "{ds:?}"
    );
    assert!(
        published(&ds, CoordinatorEventType::AgentAppeared)
            .iter()
            .all(|e| e.details["after_tmux_lost"] == true)
    );
    adopt(&mut snap, &ds);
    assert!(snap.health.tmux.is_none() && snap.tmux_loss.is_none());
    assert_eq!(snap.agents.len(), 2);
    assert!(snap.agents.values().all(|a| a.status_reason.is_empty()));
}

fn lost_obs() -> AgentsObservation {
    AgentsObservation {
        problems: vec!["no panes to observe: no server running".into()],
        tmux_lost: Some("no server running on /tmp/tmux-1/x".into()),
        ..Default::default()
    }
}

fn published(ds: &[Decision], kind: CoordinatorEventType) -> Vec<&CoordinatorEvent> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Publish(e) if e.event_type == kind => Some(e),
            _ => None,
        })
        .collect()
}

/// Decisions that end an assignment, restart an agent or give out work.
fn disruptive(ds: &[Decision]) -> Vec<String> {
    ds.iter()
        .filter(|d| {
            matches!(
                d,
                Decision::MarkDone { .. }
                    | Decision::MarkGone { .. }
                    | Decision::MarkStalled { .. }
                    | Decision::HandBack { .. }
                    | Decision::Restart { .. }
                    | Decision::StopRestarts { .. }
                    | Decision::Redeliver { .. }
                    | Decision::Assign(_)
            )
        })
        .map(|d| kinds(std::slice::from_ref(d))[0].clone())
        .collect()
}

/// A poll that sees `%1` (titled `p__cc_1`) generating on b1 and `%2` (`p__cod_1`, in window
/// 1) waiting, with restarts on; grace 60 s.
fn working_then_lost() -> (Snapshot, Policy) {
    let mut policy = restarting(ExitedWork::Redeliver);
    policy.tmux_grace = 60.0;
    let mut busy = report("%1", AgentStatus::Generating, t(0));
    busy.pane.title = "p__cc_1".into();
    let mut idle = report("%2", AgentStatus::Waiting, t(0));
    idle.pane.title = "p__cod_1".into();
    idle.pane.window_index = 1;
    let mut snap = poll(
        t(1),
        AgentsObservation {
            agents: vec![busy, idle],
            ..Default::default()
        },
    );
    snap.ledger.active = vec![active(1, "b1", "%1", Stage::Working, t(0))];
    let ds = decide(&snap, &policy);
    adopt(&mut snap, &ds);
    assert_eq!(snap.agents["%1"].current_task, "b1");
    snap.now = t(10);
    snap.observed = Some(lost_obs());
    (snap, policy)
}

#[test]
fn a_tmux_hiccup_within_the_grace_loses_no_work_and_assigns_nothing() {
    let (mut snap, policy) = working_then_lost();
    for now in [10, 30, 69] {
        snap.now = t(now);
        let ds = decide(&snap, &policy);
        assert!(disruptive(&ds).is_empty(), "at {now}: {ds:?}");
        assert!(published(&ds, CoordinatorEventType::AgentGone).is_empty());
        adopt(&mut snap, &ds);
        let a = &snap.agents["%1"];
        assert_eq!(
            (a.status, a.assignments, a.current_task.as_str()),
            (AgentStatus::Unknown, 1, "b1"),
            "held with its work"
        );
    }
    // An assignment round while tmux is lost gives out nothing, though %2 was idle and work
    // is free.
    let mut round = assign_snapshot();
    round.tmux_loss = snap.tmux_loss;
    assert!(beads(&decide(&round, &policy)).is_empty());
    round.tmux_loss = None;
    round.health.tmux = Some("no server running".into());
    assert!(beads(&decide(&round, &policy)).is_empty());
    // tmux answers again within the grace: the agent goes on, its assignment with it.
    snap.now = t(69);
    let mut busy = report("%1", AgentStatus::Generating, t(68));
    busy.pane.title = "p__cc_1".into();
    snap.observed = Some(AgentsObservation {
        agents: vec![busy],
        ..Default::default()
    });
    let ds = decide(&snap, &policy);
    assert!(disruptive(&ds).is_empty(), "{ds:?}");
    adopt(&mut snap, &ds);
    assert_eq!(snap.agents["%1"].status, AgentStatus::Generating);
    assert_eq!(snap.agents["%1"].current_task, "b1");
    assert!(snap.tmux_loss.is_none());
    // %2 did not come back with the server: it is gone now (tmux answers), as any vanished
    // pane.
    assert_eq!(snap.gone.keys().collect::<Vec<_>>(), ["%2"]);
}

#[test]
fn past_the_grace_held_work_is_handed_back_once_with_agent_gone_and_a_digest_line() {
    let (mut snap, policy) = working_then_lost();
    let ds = decide(&snap, &policy);
    adopt(&mut snap, &ds);
    snap.now = t(70); // 60 s after the loss
    let ds = decide(&snap, &policy);
    let back: Vec<&Decision> = ds
        .iter()
        .filter(|d| matches!(d, Decision::HandBack { .. }))
        .collect();
    assert_eq!(back.len(), 1, "{ds:?}");
    let Decision::HandBack {
        assignment,
        status,
        reason,
        back_off,
    } = back[0]
    else {
        unreachable!()
    };
    assert_eq!(
        (assignment.bead_id.as_str(), *status, *back_off),
        ("b1", AgentStatus::Unknown, false)
    );
    assert!(
        reason.starts_with("tmux_lost: tmux lost since 2026-01-01T12:00:10Z"),
        "{reason}"
    );
    assert_eq!(disruptive(&ds), ["HandBack"], "nothing restarted");
    let gone = published(&ds, CoordinatorEventType::AgentGone);
    assert_eq!(gone.len(), 2);
    assert_eq!(gone[0].details["name"], "p__cc_1");
    assert!(
        gone[0].details["reason"]
            .as_str()
            .is_some_and(|r| r.contains("longer than the grace")),
        "{:?}",
        gone[0].details
    );
    adopt(&mut snap, &ds);
    assert!(snap.agents.is_empty());
    let mut dsnap = Snapshot::new(Pass::Digest, t(71));
    dsnap.gone = snap.gone.clone();
    let d = digest::build(&dsnap);
    assert!(
        d.alerts
            .iter()
            .any(|a| a.starts_with("p__cc_1 (cc) is gone since 2026-01-01T12:01:10Z: tmux lost")),
        "{:?}",
        d.alerts
    );
    assert!(
        d.alerts
            .iter()
            .any(|a| a.starts_with("p__cod_1 (cc) is gone")),
        "{:?}",
        d.alerts
    );
    // The ledger ended it: later polls while still lost hand back nothing more, and announce
    // nobody again.
    snap.ledger.active.clear();
    snap.now = t(80);
    let ds = decide(&snap, &policy);
    assert!(disruptive(&ds).is_empty(), "{ds:?}");
    assert!(published(&ds, CoordinatorEventType::AgentGone).is_empty());
}

#[test]
fn a_closed_bead_ends_its_assignment_while_tmux_is_lost() {
    let (mut snap, policy) = working_then_lost();
    snap.closed = Some(["b1".to_string()].into());
    let ds = decide(&snap, &policy);
    assert_eq!(disruptive(&ds), ["MarkDone"], "{ds:?}");
}

#[test]
fn an_agent_exited_before_tmux_was_lost_is_not_restarted_while_it_is_lost() {
    let mut policy = restarting(ExitedWork::Redeliver);
    policy.tmux_grace = 60.0;
    let mut snap = poll_with(AgentStatus::Exited, 0, 1, Stage::Working);
    // Exited with its work kept for re-delivery: restarted at once while tmux answers.
    let ds = decide(&snap, &policy);
    assert_eq!(restart_and_back(&ds), ["restart %1 #1"]);
    adopt(&mut snap, &ds);
    snap.now = t(2);
    snap.observed = Some(lost_obs());
    for now in [2, 30, 61] {
        snap.now = t(now);
        let ds = decide(&snap, &policy);
        assert!(restart_and_back(&ds).is_empty(), "at {now}: {ds:?}");
        adopt(&mut snap, &ds);
    }
}

#[test]
fn a_vanished_pane_is_agent_gone_and_stays_in_the_digest_until_it_returns() {
    let policy = Policy::default();
    let mut snap = poll(
        t(1),
        AgentsObservation {
            agents: two_agents(),
            ..Default::default()
        },
    );
    let ds = decide(&snap, &policy);
    adopt(&mut snap, &ds);
    snap.now = t(2);
    snap.observed = Some(AgentsObservation {
        agents: vec![report("%1", AgentStatus::Waiting, t(0))],
        ..Default::default()
    });
    let ds = decide(&snap, &policy);
    let gone: Vec<&CoordinatorEvent> = ds
        .iter()
        .filter_map(|d| match d {
            Decision::Publish(e) if e.event_type == CoordinatorEventType::AgentGone => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(gone.len(), 1, "{ds:?}");
    assert_eq!(gone[0].agent_id, "%2");
    assert_eq!(gone[0].details["last_status"], "WAITING");
    adopt(&mut snap, &ds);
    assert_eq!(snap.gone.keys().collect::<Vec<_>>(), ["%2"]);
    // Kept across passes, and in the digest.
    snap.now = t(3);
    let ds = decide(&snap, &policy);
    assert!(!kinds(&ds).iter().any(|k| k == "agent_gone"), "once only");
    adopt(&mut snap, &ds);
    let mut dsnap = Snapshot::new(Pass::Digest, t(3));
    dsnap.gone = snap.gone.clone();
    let d = digest::build(&dsnap);
    assert!(
        d.alerts.iter().any(|a| a.starts_with(
            "0.1 (cc) is gone since 2026-01-01T12:00:02Z: the pane vanished (pane %2, last WAITING)"
        )),
        "{:?}",
        d.alerts
    );
    // The pane comes back: it appears, and is no longer gone.
    snap.now = t(4);
    snap.observed = Some(AgentsObservation {
        agents: two_agents(),
        ..Default::default()
    });
    let ds = decide(&snap, &policy);
    let appeared: Vec<&CoordinatorEvent> = ds
        .iter()
        .filter_map(|d| match d {
            Decision::Publish(e) if e.event_type == CoordinatorEventType::AgentAppeared => Some(e),
            _ => None,
        })
        .collect();
    assert_eq!(appeared.len(), 1);
    assert_eq!(appeared[0].details["was_gone"], true);
    adopt(&mut snap, &ds);
    assert!(snap.gone.is_empty());
    // A gone agent leaves the digest after GONE_KEPT_SECS.
    snap.now = t(5);
    snap.observed = Some(AgentsObservation::default());
    let ds = decide(&snap, &policy);
    adopt(&mut snap, &ds);
    assert_eq!(snap.gone.len(), 2);
    snap.now = t(5 + GONE_KEPT_SECS);
    let ds = decide(&snap, &policy);
    adopt(&mut snap, &ds);
    assert!(snap.gone.is_empty());
}

#[test]
fn beads_done_in_the_ledger_but_open_in_the_source_are_closed_there_a_few_a_pass() {
    let mut snap = poll(t(0), AgentsObservation::default());
    snap.unsynced_done = (1..=8).map(|i| format!("b-{i}")).collect();
    let closes = |snap: &Snapshot| -> Vec<String> {
        decide(snap, &Policy::default())
            .into_iter()
            .filter_map(|d| match d {
                Decision::CloseInSource { bead_id } => Some(bead_id),
                _ => None,
            })
            .collect()
    };
    assert_eq!(
        closes(&snap),
        (1..=review::CLOSES_PER_PASS)
            .map(|i| format!("b-{i}"))
            .collect::<Vec<_>>()
    );
    // A degraded work source is left alone until it recovers.
    snap.health.work = Some("br failed".into());
    assert!(closes(&snap).is_empty());
}

#[test]
fn a_failing_work_tool_raises_the_alert_on_a_poll_and_only_an_assignment_round_clears_it() {
    let mut snap = poll(t(0), AgentsObservation::default());
    snap.work_tool = Some(Err("br failed (exit 1): injected".into()));
    let raised: Vec<Decision> = decide(&snap, &Policy::default())
        .into_iter()
        .filter(|d| matches!(d, Decision::RaiseAlert { .. }))
        .collect();
    assert_eq!(
        raised,
        vec![Decision::RaiseAlert {
            source: Source::Work,
            error: "br failed (exit 1): injected".into()
        }]
    );
    // Known degraded, the tool works again: a poll says nothing (the triage may still fail).
    snap.health.work = Some("br failed".into());
    snap.work_tool = Some(Ok(()));
    assert!(
        !decide(&snap, &Policy::default())
            .iter()
            .any(|d| matches!(d, Decision::ClearAlert { .. } | Decision::RaiseAlert { .. }))
    );
}

// --- what the fleet benchmark found ------------------------------------------------------

#[test]
fn an_agent_whose_assignment_ended_is_ready_at_once_others_wait_out_the_threshold() {
    let policy = Policy::default(); // 30 s
    let mut done = waiting("%1", t(99));
    done.last_assigned_at = Some(t(10));
    let never = waiting("%2", t(99));
    let mut holding = waiting("%3", t(99));
    holding.last_assigned_at = Some(t(10));
    holding.assignments = 1;
    holding.current_task = "b".into();
    let agents = [done, never, holding];
    let ids: Vec<&str> = agents::idle(agents.iter(), &policy, t(100))
        .into_iter()
        .map(|a| a.pane_id.as_str())
        .collect();
    assert_eq!(
        ids,
        ["%1"],
        "finished: ready; never assigned: 1 s idle is not fresh"
    );
    let mut busy = agents[0].clone();
    busy.status = AgentStatus::Generating;
    assert!(
        agents::idle([&busy], &policy, t(100)).is_empty(),
        "only a WAITING one"
    );
}

#[test]
fn a_poll_that_ends_an_assignment_tracks_the_agent_free() {
    let mut snap = Snapshot::new(Pass::Poll, t(100));
    let mut prev = waiting("%1", t(0));
    prev.status = AgentStatus::Generating;
    prev.last_assigned_at = Some(t(0));
    snap.agents.insert("%1".into(), prev);
    snap.ledger.active = vec![active(1, "b1", "%1", Stage::Working, t(0))];
    snap.closed = Some(["b1".to_string()].into());
    snap.observed = Some(AgentsObservation {
        agents: vec![report("%1", AgentStatus::Waiting, t(99))],
        problems: vec![],
        tmux_lost: None,
        unreachable_hosts: Default::default(),
    });
    let out = decide(&snap, &Policy::default());
    assert!(out.iter().any(|d| matches!(d, Decision::MarkDone { .. })));
    let Decision::Track(tr) = &out[0] else {
        panic!("track first: {out:?}")
    };
    let a = &tr.agents["%1"];
    assert_eq!((a.assignments, a.current_task.as_str()), (0, ""));
    assert_eq!(
        agents::idle(tr.agents.values(), &Policy::default(), t(100)).len(),
        1,
        "an assign round right after this poll gives it work"
    );
}

#[test]
fn beads_whose_files_another_agent_holds_are_not_planned() {
    let mut snap = assign_snapshot();
    snap.reservations = Some(Ok(vec![Reservation {
        id: 1,
        agent_name: "Other".into(),
        path_pattern: "src/**".into(),
        exclusive: true,
        reason: String::new(),
        created_ts: Some(t(0)),
        expires_ts: t(10_000),
        released_ts: None,
    }]));
    let out = decide(&snap, &Policy::default());
    assert_eq!(beads(&out), ["plain"], "the attempt on `files` would clash");
    // Held by one of the idle agents themselves: planned, to that agent only (for the other
    // the reservation would clash, the attempt fail, and the bead go round every agent).
    for holder in ["%1", "%2"] {
        if let Some(Ok(rs)) = &mut snap.reservations {
            rs[0].agent_name = holder.into();
        }
        let out = decide(&snap, &Policy::default());
        let to: Vec<(String, String)> = out
            .iter()
            .filter_map(|d| match d {
                Decision::Assign(o) => {
                    Some((o.assignment.bead_id.clone(), o.agent.pane_id.clone()))
                }
                _ => None,
            })
            .collect();
        assert!(
            to.contains(&("files".to_string(), holder.to_string())),
            "held by {holder}: {to:?}"
        );
        assert_eq!(beads(&out), ["files", "plain"]);
    }
    // Held by two idle agents at once: nobody can take it.
    if let Some(Ok(rs)) = &mut snap.reservations {
        rs[0].agent_name = "%1".into();
        let mut other = rs[0].clone();
        other.agent_name = "%2".into();
        rs.push(other);
    }
    assert_eq!(beads(&decide(&snap, &Policy::default())), ["plain"]);
}

#[test]
fn held_work_drops_beads_held_outside_and_keeps_the_rest_for_their_idle_holders() {
    let mut one = waiting("%1", t(0));
    one.agent_mail_name = "Blue".into();
    let two = waiting("%2", t(0));
    let three = waiting("%3", t(0));
    let idle = [one, two, three];
    let active = [
        held("Other", "src/out.rs", t(0)),
        held("Blue", "src/blue/**", t(0)),
        held("%2", "src/two.rs", t(0)),
        held("%2", "src/both.rs", t(0)),
        held("Blue", "src/both.rs", t(0)),
        held("", "src/nobody.rs", t(0)),
    ];
    let map = plan::reservation_map(&active, t(10));
    let index = crate::assign::paths::HolderIndex::new(&map);
    let mut described = rec("desc", "Edit the notes");
    described.extra.insert(
        "description".into(),
        serde_json::json!("see src/blue/notes.md"),
    );
    let recs = [
        rec("out", "Fix src/out.rs"),
        rec("blue", "Fix src/blue/a.rs"),
        rec("two", "Fix src/two.rs"),
        rec("both", "Fix src/both.rs"),
        rec("blue-two", "Move src/blue/a.rs to src/two.rs"),
        rec("blue-out", "Move src/blue/a.rs to src/out.rs"),
        rec("nobody", "Fix src/nobody.rs"),
        rec("plain", "Think about naming"),
        described,
    ];
    let mut work: Vec<&TriageRecommendation> = recs.iter().collect();
    let only = plan::held_work(&index, &idle, &mut work);
    let ids: Vec<&str> = work.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        ["blue", "two", "both", "blue-two", "nobody", "plain", "desc"],
        "beads someone outside the round holds wait"
    );
    let want: BTreeMap<String, Vec<String>> = [
        ("blue", vec!["%1"]),
        ("two", vec!["%2"]),
        ("both", vec![]),
        ("blue-two", vec![]),
        ("desc", vec!["%1"]),
    ]
    .into_iter()
    .map(|(b, ps)| (b.to_string(), ps.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(only, want);
}

#[test]
fn round_robin_gives_each_agent_one_bead_a_round_and_respects_back_off() {
    let mut snap = assign_snapshot();
    snap.agents.remove("%2");
    snap.pass = Pass::Assign {
        strategy: Some(AssignmentStrategy::RoundRobin),
        dry_run: false,
    };
    let out = decide(&snap, &Policy::default());
    assert_eq!(
        beads(&out),
        ["files"],
        "one bead, not every bead, to the one agent"
    );
    snap.ledger.backoff = BackoffBook::new(Duration::from_secs(60), Duration::from_secs(600));
    snap.ledger
        .backoff
        .record("%1", "files", BackoffReason::Refused, t(90));
    let out = decide(&snap, &Policy::default());
    assert_eq!(
        beads(&out),
        ["plain"],
        "a refused bead is not dealt to it again"
    );
}

#[test]
fn a_rate_limit_event_names_its_reset_and_context_crossings_are_events() {
    let obs = |status: AgentStatus, ctx: f64, reset: Option<Timestamp>| {
        let mut r = report("%1", status, t(0));
        r.observation.verdict.context_usage = Some(ctx);
        r.observation.verdict.rate_limit_reset = reset;
        AgentsObservation {
            agents: vec![r],
            problems: vec![],
            tmux_lost: None,
            unreachable_hosts: Default::default(),
        }
    };
    let mut snap = Snapshot::new(Pass::Poll, t(0));
    snap.observed = Some(obs(AgentStatus::Generating, 85.0, None));
    let policy = Policy::default();
    assert_eq!(policy.context_alert, 90.0);
    let step = |snap: &mut Snapshot, o: AgentsObservation, now: i64| {
        snap.now = t(now);
        snap.observed = Some(o);
        let out = decide(snap, &policy);
        let mut events = Vec::new();
        for d in out {
            match d {
                Decision::Track(tr) => {
                    snap.agents = tr.agents;
                    snap.rate_limits = tr.rate_limits;
                }
                Decision::Publish(e) => events.push(e),
                _ => {}
            }
        }
        events
    };
    let first = step(&mut snap, obs(AgentStatus::Generating, 85.0, None), 0);
    assert!(first.is_empty(), "{first:?}");
    // Above 90%: one event; staying above: none; below and above again: one more.
    let up = step(&mut snap, obs(AgentStatus::Generating, 91.0, None), 5);
    assert_eq!(up.len(), 1, "{up:?}");
    assert_eq!(up[0].event_type, CoordinatorEventType::AgentContextHigh);
    assert_eq!(up[0].details["context_usage"], 91.0);
    assert!(step(&mut snap, obs(AgentStatus::Generating, 95.0, None), 10).is_empty());
    assert!(step(&mut snap, obs(AgentStatus::Generating, 30.0, None), 15).is_empty());
    assert_eq!(
        step(&mut snap, obs(AgentStatus::Generating, 92.0, None), 20).len(),
        1
    );
    // A rate limit with its reset on screen: the event carries it.
    let limited = step(
        &mut snap,
        obs(AgentStatus::RateLimited, 20.0, Some(t(600))),
        25,
    );
    let e = limited
        .iter()
        .find(|e| e.event_type == CoordinatorEventType::AgentRateLimited)
        .unwrap_or_else(|| panic!("{limited:?}"));
    assert_eq!(e.details["reset_at"], "2026-01-01T12:10:00Z");
    assert_eq!(e.details["context_usage"], 20.0);
    // Off: no context events at all.
    let off = Policy {
        context_alert: 0.0,
        ..Policy::default()
    };
    let mut snap = Snapshot::new(Pass::Poll, t(0));
    snap.observed = Some(obs(AgentStatus::Generating, 99.0, None));
    assert!(
        decide(&snap, &off)
            .iter()
            .all(|d| !matches!(d, Decision::Publish(_)))
    );
}

// --- compacting idle agents ---------------------------------------------------------------

/// An agent pane at `context` percent, tracked and read as `status`.
fn at_context(pane: &str, status: AgentStatus, context: f64) -> AgentReport {
    let mut r = report(pane, status, t(0));
    r.observation.verdict.context_usage = Some(context);
    r
}

fn compact_poll(now: i64, agents: Vec<AgentReport>) -> Snapshot {
    poll(
        t(now),
        AgentsObservation {
            agents,
            ..Default::default()
        },
    )
}

fn compacts(ds: &[Decision]) -> Vec<(String, f64)> {
    ds.iter()
        .filter_map(|d| match d {
            Decision::Compact {
                pane_id,
                agent_type,
                command,
                context_before,
            } => {
                assert_eq!((agent_type.as_str(), command.as_str()), ("cc", "/compact"));
                Some((pane_id.clone(), *context_before))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn the_compact_policy_defaults_to_on_at_the_work_limit() {
    let p = Policy::default();
    assert!(p.compact.enabled);
    assert_eq!(p.compact.above, crate::assign::select::MAX_CONTEXT_FOR_WORK);
    assert_eq!(p.compact.backoff, 600.0);
}

#[test]
fn an_idle_agent_above_the_limit_is_compacted_once_per_backoff() {
    let policy = Policy::default();
    let agents = || {
        vec![
            at_context("%1", AgentStatus::Waiting, 95.0),
            at_context("%2", AgentStatus::Waiting, 85.0),
        ]
    };
    let snap = compact_poll(1000, agents());
    assert_eq!(compacts(&decide(&snap, &policy)), vec![("%1".into(), 95.0)]);
    // Compacted 5 minutes ago: not again; 11 minutes ago: again.
    let mut snap = compact_poll(1000, agents());
    let sent = |ago: i64| Compaction {
        at: t(1000 - ago),
        context_before: 97.0,
        done: false,
    };
    snap.ledger.compactions.insert("%1".into(), sent(300));
    assert!(compacts(&decide(&snap, &policy)).is_empty());
    snap.ledger.compactions.insert("%1".into(), sent(660));
    assert_eq!(compacts(&decide(&snap, &policy)), vec![("%1".into(), 95.0)]);
    // The limit is configurable.
    let higher = Policy {
        compact: CompactPolicy {
            above: 96.0,
            ..policy.compact.clone()
        },
        ..policy.clone()
    };
    assert!(compacts(&decide(&compact_poll(1000, agents()), &higher)).is_empty());
}

#[test]
fn busy_held_paused_blocked_or_unhealthy_agents_are_not_compacted() {
    let policy = Policy::default();
    let none = |snap: &Snapshot, policy: &Policy, why: &str| {
        let got = compacts(&decide(snap, policy));
        assert!(got.is_empty(), "{why}: {got:?}");
    };
    for status in [
        AgentStatus::Generating,
        AgentStatus::Blocked,
        AgentStatus::Stalled,
        AgentStatus::RateLimited,
        AgentStatus::Error,
    ] {
        none(
            &compact_poll(1000, vec![at_context("%1", status, 95.0)]),
            &policy,
            &format!("{status:?}"),
        );
    }
    // A dialog read on screen while hysteresis still says WAITING, or a change pending.
    let mut r = at_context("%1", AgentStatus::Waiting, 95.0);
    r.observation.verdict.status = AgentStatus::Blocked;
    none(&compact_poll(1000, vec![r]), &policy, "dialog on screen");
    let mut r = at_context("%1", AgentStatus::Waiting, 95.0);
    r.observation.pending = Some(AgentStatus::Generating);
    none(&compact_poll(1000, vec![r]), &policy, "change pending");
    // Unhealthy.
    let mut r = at_context("%1", AgentStatus::Waiting, 95.0);
    r.health.healthy = false;
    none(&compact_poll(1000, vec![r]), &policy, "unhealthy");
    // Holding an assignment (its work may still need the context).
    let mut snap = compact_poll(1000, vec![at_context("%1", AgentStatus::Waiting, 95.0)]);
    snap.ledger.active = vec![active(1, "b-1", "%1", Stage::Delivered, t(900))];
    none(&snap, &policy, "holding work");
    // Paused, one by one or all.
    let mut snap = compact_poll(1000, vec![at_context("%1", AgentStatus::Waiting, 95.0)]);
    snap.ledger.paused.panes.insert("%1".into());
    none(&snap, &policy, "paused");
    snap.ledger.paused = crate::control::Pauses {
        all: true,
        ..Default::default()
    };
    none(&snap, &policy, "all paused");
    // Off.
    let off = Policy {
        compact: CompactPolicy {
            enabled: false,
            ..policy.compact.clone()
        },
        ..policy.clone()
    };
    none(
        &compact_poll(1000, vec![at_context("%1", AgentStatus::Waiting, 95.0)]),
        &off,
        "off",
    );
}

#[test]
fn a_kind_without_a_compact_command_is_never_compacted() {
    // The defaults come from the built-in kinds: Claude Code, Codex and Gemini have one.
    let policy = Policy::default();
    assert_eq!(policy.compact.command("cc"), Some("/compact"));
    assert_eq!(policy.compact.command("cod"), Some("/compact"));
    assert_eq!(policy.compact.command("gmi"), Some("/compress"));
    assert_eq!(policy.compact.command("user"), None);
    // A kind whose command was cleared (`compact = ""`) or an unknown type: no decision, at
    // any pass, whatever the back-off.
    let mut cleared = policy.clone();
    cleared.compact.commands.remove("cc");
    let full = || vec![at_context("%1", AgentStatus::Waiting, 99.0)];
    assert!(compacts(&decide(&compact_poll(1000, full()), &cleared)).is_empty());
    assert!(compacts(&decide(&compact_poll(5000, full()), &cleared)).is_empty());
    let mut other = at_context("%2", AgentStatus::Waiting, 99.0);
    other.pane.agent_type = "aider".into();
    let ds = decide(&compact_poll(1000, vec![other]), &policy);
    assert!(
        !ds.iter().any(|d| matches!(d, Decision::Compact { .. })),
        "{ds:?}"
    );
    // The same agent with the command: compacted.
    assert_eq!(
        compacts(&decide(&compact_poll(1000, full()), &policy)),
        vec![("%1".into(), 99.0)]
    );
}

#[test]
fn a_compaction_is_done_when_the_context_goes_down() {
    let policy = Policy::default();
    let pending = Compaction {
        at: t(990),
        context_before: 95.0,
        done: false,
    };
    let compacted = |ds: &[Decision]| -> Vec<(String, f64, Option<f64>)> {
        ds.iter()
            .filter_map(|d| match d {
                Decision::Compacted {
                    pane_id,
                    context_before,
                    context_after,
                } => Some((pane_id.clone(), *context_before, *context_after)),
                _ => None,
            })
            .collect()
    };
    let with = |r: AgentReport, c: Compaction| {
        let mut snap = compact_poll(1000, vec![r]);
        snap.ledger.compactions.insert("%1".into(), c);
        compacted(&decide(&snap, &policy))
    };
    assert_eq!(
        with(at_context("%1", AgentStatus::Waiting, 30.0), pending),
        vec![("%1".into(), 95.0, Some(30.0))]
    );
    // No figure on screen (Claude Code shows it only when little is left): done, unknown after.
    let mut r = at_context("%1", AgentStatus::Waiting, 0.0);
    r.observation.verdict.context_usage = None;
    assert_eq!(with(r, pending), vec![("%1".into(), 95.0, None)]);
    // Still as full, still compacting (busy, or busy on screen): not yet.
    assert!(with(at_context("%1", AgentStatus::Waiting, 95.0), pending).is_empty());
    assert!(with(at_context("%1", AgentStatus::Generating, 10.0), pending).is_empty());
    let mut r = at_context("%1", AgentStatus::Waiting, 10.0);
    r.observation.verdict.status = AgentStatus::Generating;
    assert!(with(r, pending).is_empty());
    // Already done: not again.
    let done = Compaction {
        done: true,
        ..pending
    };
    assert!(with(at_context("%1", AgentStatus::Waiting, 30.0), done).is_empty());
}

#[test]
fn the_digest_shows_compactions_pending_and_those_that_did_not_help() {
    let mut snap = Snapshot::new(Pass::Digest, t(10));
    snap.last_update = Some(t(9));
    let mut full = waiting("%1", t(0));
    full.context_usage = 96.0;
    let mut light = waiting("%2", t(0));
    light.context_usage = 20.0;
    snap.agents.insert("%1".into(), full);
    snap.agents.insert("%2".into(), light);
    let c = |done: bool| Compaction {
        at: t(5),
        context_before: 95.0,
        done,
    };
    snap.ledger.compactions.insert("%1".into(), c(true));
    snap.ledger.compactions.insert("%2".into(), c(true));
    snap.ledger.compactions.insert("%3".into(), c(false));
    let d = digest::build(&snap);
    let about: Vec<&String> = d.alerts.iter().filter(|a| a.contains("compact")).collect();
    assert_eq!(about.len(), 2, "{:?}", d.alerts);
    assert!(about[0].contains("(pane %1) was compacted") && about[0].contains("96%"));
    assert!(about[1].starts_with("%3 is compacting since") && about[1].contains("95%"));
}
