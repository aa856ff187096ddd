//! gaffer observing agents on another machine: a simulated host (a network namespace with a
//! real sshd and its own tmux server, `gaffer_testkit::hosts`) running gaffer-sim agents,
//! reached through ONE SSH connection built from a `[[hosts]]` entry.
//!
//! Needs root (namespaces) and Debian's openssh-server; skips with a message otherwise, and
//! fails under `CI=true`.

use gaffer_coordinator::monitor::{AgentMonitor, MonitorConfig};
use gaffer_core::config::{HostConfig, parse_layer};
use gaffer_core::detect::Detector;
use gaffer_core::panes::{DeliveryOptions, Panes, ProbeResult};
use gaffer_core::status::AgentStatus;
use gaffer_testkit::hosts::{self, SimHost, SimHosts};
use gaffer_testkit::wait_until;
use gaffer_tmux::host::{self as remote, split_key};
use gaffer_tmux::multi::MultiPanes;
use std::sync::Arc;
use std::time::Duration;

/// The `[[hosts]]` entry a user would write for `h` (parsed from TOML, checked like any config).
fn host_entry(h: &SimHost, session: &str) -> HostConfig {
    let text = h.hosts_entry(&format!("session = {session:?}\n"));
    let (layer, warnings) = parse_layer("gaffer.toml", &text).expect("config");
    assert!(warnings.is_empty(), "{warnings:?}");
    gaffer_core::config::merge_layers(&[layer])
        .expect("merge")
        .hosts
        .remove(0)
}

/// A probe that reports submitted at once (the sim takes a prompt immediately).
struct Submitted;
impl gaffer_core::panes::DeliveryCheck for Submitted {
    fn check(&mut self) -> ProbeResult {
        ProbeResult::Submitted
    }
}

#[test]
fn four_sim_agents_on_a_host_read_waiting_through_one_connection() {
    if !hosts::run_isolated("four_sim_agents_on_a_host_read_waiting_through_one_connection") {
        return;
    }
    let set = SimHosts::new("box", 1, 81).expect("simulated hosts");
    let h = set.host(0);
    let ids = h.spawn_sims("proj", "claude", 4).expect("sim agents");
    let cfg = host_entry(h, "proj");
    let panes = Arc::new(remote::connect(&cfg, "unused", Duration::from_secs(10)).expect("host"));
    let conn = Arc::clone(panes.connection());
    let monitor = AgentMonitor::new(
        Arc::clone(&panes) as Arc<dyn Panes>,
        Detector::builtin(),
        MonitorConfig {
            stall_threshold: Duration::from_secs(60),
            confirm_observations: 2,
        },
    );
    let mut last = String::new();
    let all_waiting = wait_until(Duration::from_secs(30), || {
        monitor.refresh().is_ok_and(|snap| {
            last = snap
                .agents
                .iter()
                .map(|a| format!("{} {:?}", a.pane.pane_id, a.observation.verdict.status))
                .collect::<Vec<_>>()
                .join(", ");
            snap.agents.len() == 4
                && snap
                    .agents
                    .iter()
                    .all(|a| a.observation.verdict.status == AgentStatus::Waiting)
        })
    });
    assert!(all_waiting, "agents: {last}");
    // Pane keys are host-qualified: `box-0:%N`, one per sim pane.
    let snap = monitor.refresh().expect("refresh");
    let mut keys: Vec<String> = snap.agents.iter().map(|a| a.pane.pane_id.clone()).collect();
    keys.sort();
    let mut want: Vec<String> = ids.iter().map(|id| format!("{}:{id}", h.name)).collect();
    want.sort();
    assert_eq!(keys, want);
    assert!(keys.iter().all(|k| split_key(k).0 == Some(h.name.as_str())));
    // Observation ran through the control-mode client on the one connection.
    assert_eq!(
        panes.inner().mode(),
        gaffer_core::panes::ObserveMode::Control
    );
    // Delivery to a host-qualified key reaches the remote pane (over the same connection).
    let report = panes
        .deliver(
            &want[0],
            "hello from afar",
            &DeliveryOptions::default(),
            &mut Submitted,
        )
        .expect("deliver");
    assert_eq!(report.pane_id, want[0]);
    assert!(wait_until(Duration::from_secs(10), || h
        .tmux
        .capture(split_key(&want[0]).1)
        .contains("hello from afar")));
    // Exactly one SSH connection: the one master this process started, the one TCP
    // connection the host accepted, and one `sshd` session process serving it.
    assert_eq!(conn.connections_started(), 1);
    assert_eq!(h.connections_opened(), 1);
    assert_eq!(h.connections_open(), 1);
}

/// The statuses of the monitor's agents by key, with their rules.
fn statuses(monitor: &AgentMonitor) -> Vec<(String, AgentStatus, String)> {
    let mut v: Vec<_> = monitor
        .refresh()
        .map(|s| {
            s.agents
                .iter()
                .map(|a| {
                    (
                        a.pane.pane_id.clone(),
                        a.observation.status,
                        a.observation.verdict.rule.clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn a_partitioned_host_s_agents_are_unknown_host_unreachable_and_come_back_after_the_heal() {
    if !hosts::run_isolated(
        "a_partitioned_host_s_agents_are_unknown_host_unreachable_and_come_back_after_the_heal",
    ) {
        return;
    }
    let set = SimHosts::new("box", 1, 83).expect("simulated hosts");
    let h = set.host(0);
    let ids = h.spawn_sims("proj", "claude", 2).expect("sim agents");
    let keys: Vec<String> = ids.iter().map(|id| format!("{}:{id}", h.name)).collect();
    // The local session: one local sim agent, on a private tmux server.
    let local_srv = gaffer_testkit::tmux::TmuxServer::new("hpart");
    let sim = gaffer_testkit::sim::binary().display().to_string();
    let local_id = local_srv.agent(
        "proj",
        "proj__cc_9",
        &format!("{} --agent claude", gaffer_testkit::shell_quote(&sim)),
    );
    let local = gaffer_tmux::TmuxPanes::new(gaffer_tmux::TmuxOptions::new(
        local_srv.socket(),
        Some("proj".to_string()),
    ));
    let host = Arc::new(
        remote::connect(&host_entry(h, "proj"), "unused", Duration::from_secs(3)).expect("host"),
    );
    let panes = Arc::new(MultiPanes::new(Arc::new(local), vec![Arc::clone(&host)]));
    let monitor = AgentMonitor::new(
        Arc::clone(&panes) as Arc<dyn Panes>,
        Detector::builtin(),
        MonitorConfig {
            stall_threshold: Duration::from_secs(60),
            confirm_observations: 2,
        },
    );
    let waiting = |v: &[(String, AgentStatus, String)]| {
        v.len() == 3 && v.iter().all(|(_, s, _)| *s == AgentStatus::Waiting)
    };
    let mut last = Vec::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            last = statuses(&monitor);
            waiting(&last)
        }),
        "{last:?}"
    );

    // Partitioned: the host's agents stay, UNKNOWN with reason host_unreachable; the local
    // agent is still observed.
    h.partition().expect("partition");
    let held = |v: &[(String, AgentStatus, String)]| {
        v.len() == 3
            && v.iter().all(|(k, s, r)| {
                if keys.contains(k) {
                    *s == AgentStatus::Unknown && r == "host_unreachable"
                } else {
                    *k == local_id && *s == AgentStatus::Waiting
                }
            })
    };
    let ok = wait_until(Duration::from_secs(60), || {
        last = statuses(&monitor);
        held(&last)
    });
    assert!(ok, "{last:?}");
    let snap = monitor.last().expect("a snapshot");
    assert!(snap.vanished.is_empty(), "{:?}", snap.vanished);
    assert!(
        snap.problems
            .iter()
            .any(|p| p.starts_with(&format!("host {}: unreachable", h.name))),
        "{:?}",
        snap.problems
    );
    let report = snap
        .agents
        .iter()
        .find(|a| a.pane.pane_id == keys[0])
        .expect("held agent");
    assert_eq!(report.observation.verdict.reason, "host_unreachable");

    // Healed: the same keys read WAITING again.
    h.heal().expect("heal");
    let ok = wait_until(Duration::from_secs(90), || {
        last = statuses(&monitor);
        waiting(&last)
    });
    assert!(ok, "{last:?}");
    let mut seen: Vec<String> = last.iter().map(|(k, _, _)| k.clone()).collect();
    let mut want = keys.clone();
    want.push(local_id.clone());
    seen.sort();
    want.sort();
    assert_eq!(seen, want);
}

#[test]
fn a_pass_does_not_wait_for_a_partitioned_host() {
    if !hosts::run_isolated("a_pass_does_not_wait_for_a_partitioned_host") {
        return;
    }
    let set = SimHosts::new("box", 1, 86).expect("simulated hosts");
    let h = set.host(0);
    let ids = h.spawn_sims("proj", "claude", 2).expect("sim agents");
    let keys: Vec<String> = ids.iter().map(|id| format!("{}:{id}", h.name)).collect();
    let local_srv = gaffer_testkit::tmux::TmuxServer::new("hslow");
    let sim = gaffer_testkit::sim::binary().display().to_string();
    let local_id = local_srv.agent(
        "proj",
        "proj__cc_9",
        &format!("{} --agent claude", gaffer_testkit::shell_quote(&sim)),
    );
    let local = gaffer_tmux::TmuxPanes::new(gaffer_tmux::TmuxOptions::new(
        local_srv.socket(),
        Some("proj".to_string()),
    ));
    // The command timeout a user gets by default ([tmux] command_timeout).
    let command_timeout = Duration::from_secs(5);
    let host =
        Arc::new(remote::connect(&host_entry(h, "proj"), "unused", command_timeout).expect("host"));
    let panes = Arc::new(MultiPanes::new(Arc::new(local), vec![Arc::clone(&host)]));
    let monitor = AgentMonitor::new(
        Arc::clone(&panes) as Arc<dyn Panes>,
        Detector::builtin(),
        MonitorConfig {
            stall_threshold: Duration::from_secs(60),
            confirm_observations: 2,
        },
    );
    let mut last = Vec::new();
    assert!(
        wait_until(Duration::from_secs(30), || {
            last = statuses(&monitor);
            last.len() == 3 && last.iter().all(|(_, s, _)| *s == AgentStatus::Waiting)
        }),
        "{last:?}"
    );
    let snap = monitor.last().expect("snapshot");
    assert_eq!(snap.hosts.len(), 1);
    assert!(!snap.hosts[0].late);
    assert!(snap.hosts[0].latency_ms.is_some(), "{:?}", snap.hosts);

    h.partition().expect("partition");
    // Every pass ends well within the command timeout, the local agent observed each time;
    // the host's agents first keep their last observation (the host is late), then are held
    // host_unreachable once its observation fails.
    let mut passes = Vec::new();
    let mut saw_late = false;
    let mut saw_unreachable = false;
    let end = std::time::Instant::now() + Duration::from_secs(40);
    while std::time::Instant::now() < end && !saw_unreachable {
        let t = std::time::Instant::now();
        let snap = monitor.refresh().expect("refresh");
        passes.push(t.elapsed());
        let local = snap
            .agents
            .iter()
            .find(|a| a.pane.pane_id == local_id)
            .expect("the local agent is observed");
        assert_eq!(local.observation.status, AgentStatus::Waiting);
        let remote: Vec<_> = snap
            .agents
            .iter()
            .filter(|a| keys.contains(&a.pane.pane_id))
            .collect();
        assert_eq!(
            remote.len(),
            2,
            "the host's agents are kept: {:?}",
            snap.agents
        );
        if snap.unreachable.contains_key(&h.name) {
            saw_unreachable = true;
            assert!(
                remote
                    .iter()
                    .all(|a| a.observation.verdict.rule == "host_unreachable")
            );
        } else if snap.hosts.iter().any(|x| x.late) {
            saw_late = true;
            assert!(
                remote
                    .iter()
                    .all(|a| a.observation.status == AgentStatus::Waiting),
                "late: last observation kept"
            );
            assert!(snap.hosts[0].waiting_ms.is_some());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(saw_late, "the host was never passed over as late");
    assert!(saw_unreachable, "the host never became unreachable");
    let slowest = passes.iter().max().copied().unwrap_or_default();
    eprintln!(
        "passes during the partition: {} slowest {slowest:?}",
        passes.len()
    );
    assert!(
        slowest < command_timeout / 2,
        "a pass took {slowest:?} (command timeout {command_timeout:?}): {passes:?}"
    );

    h.heal().expect("heal");
    assert!(
        wait_until(Duration::from_secs(90), || {
            last = statuses(&monitor);
            last.len() == 3 && last.iter().all(|(_, s, _)| *s == AgentStatus::Waiting)
        }),
        "{last:?}"
    );
}
