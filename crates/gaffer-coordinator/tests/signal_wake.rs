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

/// A change seen once waits for a confirming observation (the tracker's hysteresis). When the
/// screen then goes quiet nothing wakes the lane, so the change used to wait for the poll
/// (5 s here): the lane now runs the confirming pass at once.
#[test]
fn a_change_waiting_for_its_confirmation_is_confirmed_before_the_poll() {
    let mut r = rig();
    r.world.add("%1", "cc", AgentStatus::Generating, t0());
    let rx = r.coord.events().subscribe();
    r.coord.start().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let _ = rx.try_iter().count();
    let passes = r.world.observations();
    // quiet: no pass before the poll
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(r.world.observations(), passes, "no pass without a reason");

    // the screen went idle and stayed quiet; a signal's pass sees it once (pending)
    r.world.set_pending("%1", AgentStatus::Waiting);
    r.coord.update_state();
    let seen = Instant::now();
    let idle = loop {
        if let Ok(e) = rx.recv_timeout(Duration::from_millis(50))
            && e.event_type == CoordinatorEventType::AgentIdle
        {
            break Some(seen.elapsed());
        }
        if seen.elapsed() > Duration::from_secs(3) {
            break None;
        }
    };
    // once confirmed, nothing more runs before the poll
    std::thread::sleep(Duration::from_millis(600));
    let after = r.world.observations();
    std::thread::sleep(Duration::from_millis(600));
    let later = r.world.observations();
    r.coord.stop();
    let took = idle.expect("the confirming pass ran before the poll");
    assert!(took < Duration::from_secs(2), "{took:?}");
    assert_eq!(r.world.status("%1"), AgentStatus::Waiting);
    assert_eq!(later, after, "no more passes once the change is confirmed");
}
