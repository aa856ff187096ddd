//! The observation lane wakes at once when `gaffer hook` sends its datagram to
//! `.gaffer/signals.sock`, instead of waiting for the next poll (5 s here).

use gaffer_coordinator::wake::{SignalSocket, notify};
use gaffer_core::event::CoordinatorEventType;
use gaffer_core::status::AgentStatus;
use gaffer_testkit::fakes::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn a_signal_datagram_runs_an_observation_pass_before_the_poll_is_due() {
    let mut r = rig();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signals.sock");
    r.coord
        .add_wake_source(Arc::new(SignalSocket::bind(&path).unwrap()));
    r.world.add("%1", "cc", AgentStatus::Generating, t0());
    let rx = r.coord.events().subscribe();
    r.coord.start().unwrap();
    assert_eq!(
        r.coord.config().coordinator.poll_interval,
        Duration::from_secs(5)
    );
    std::thread::sleep(Duration::from_millis(200));
    let _ = rx.try_iter().count();

    // The agent went idle; without a wake-up nothing notices before the poll.
    r.world.set("%1", AgentStatus::Waiting, t0());
    std::thread::sleep(Duration::from_millis(600));
    assert!(
        rx.try_iter()
            .all(|e| e.event_type != CoordinatorEventType::AgentIdle),
        "no pass ran before the poll interval"
    );

    let sent = Instant::now();
    notify(&path);
    let seen = loop {
        if let Ok(e) = rx.recv_timeout(Duration::from_millis(50))
            && e.event_type == CoordinatorEventType::AgentIdle
        {
            break Some(sent.elapsed());
        }
        if sent.elapsed() > Duration::from_secs(3) {
            break None;
        }
    };
    r.coord.stop();
    let took = seen.expect("the datagram woke the observation lane");
    assert!(took < Duration::from_secs(1), "{took:?}");
}
