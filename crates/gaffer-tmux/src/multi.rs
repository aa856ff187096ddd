//! The local session plus every `[[hosts]]` host's session, as one [`Panes`].
//!
//! [`MultiPanes`] routes each call by the pane key: a bare `%N` goes to the local adapter, a
//! `host:%N` key to that host's [`HostPanes`] (which speaks `host:%N` itself). A listing or an
//! observation covers every host; a host that cannot answer does not hide the others: it is
//! reported in [`PaneSnapshot::unreachable`] with its panes as last observed (neither observed
//! nor vanished), and as a problem of the observation (`host box1: unreachable: …`), also in
//! the following passes until it answers again.
//!
//! Hosts are observed in parallel, each on a thread of its own, beside the local session, and
//! a pass does not wait for the slowest: a host that answered before gets at most
//! [`ANSWER_WITHIN`] (after that it is `late` in [`PaneSnapshot::hosts`]: its panes are neither
//! observed nor vanished, its agents keep their last observation, and its observation goes on
//! for a later pass to take). A host is waited for fully only for its first answer, so a
//! one-shot command (`gaffer status`) sees every host. Each pass reports every host's latency
//! (how long its last finished observation took).

use crate::host::{HostPanes, split_key};
use gaffer_core::panes::{
    DeliveryCheck, DeliveryOptions, DeliveryReport, HostObservation, ObserveMode, ObservedPane,
    PaneInfo, PaneSnapshot, Panes, PanesError, UnreachableHost,
};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long one wait slice lasts when several sources are watched: the worst added delay
/// before activity on a host wakes a waiting loop.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// How long an observation waits for a host that has answered before (default): a host slower
/// than this is passed over (`late`) and its agents keep their last observation.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(1);

/// The longest an observation waits for a host's first answer (its own timeouts end it
/// sooner: the connect timeout, then the command timeout); a host whose observation has run
/// longer than this is reported unreachable.
const FIRST_ANSWER_CAP: Duration = Duration::from_secs(120);

/// One finished observation of a host, not yet taken by a pass.
struct Answer {
    result: Result<PaneSnapshot, PanesError>,
}

/// What is known of one host between passes.
#[derive(Default)]
struct HostState {
    /// When its observation in flight started.
    in_flight: Option<Instant>,
    /// Finished observations no pass has taken yet, oldest first.
    answers: Vec<Answer>,
    /// Whether it ever answered (with panes or an error).
    answered: bool,
    /// Its last taken answer was an error: why.
    down: Option<String>,
    /// How long its most recent finished observation took.
    latency: Option<Duration>,
    /// Its panes at its last successful observation.
    panes: Vec<PaneInfo>,
}

struct Shared {
    hosts: Mutex<Vec<HostState>>,
    done: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The local panes and the panes of each host.
pub struct MultiPanes {
    local: Arc<dyn Panes>,
    hosts: Vec<Arc<HostPanes>>,
    shared: Arc<Shared>,
    answer_within: Duration,
}

impl MultiPanes {
    /// The local adapter (bare `%N` keys) and the hosts (`host:%N` keys).
    pub fn new(local: Arc<dyn Panes>, hosts: Vec<Arc<HostPanes>>) -> Self {
        let states = hosts.iter().map(|_| HostState::default()).collect();
        MultiPanes {
            local,
            hosts,
            shared: Arc::new(Shared {
                hosts: Mutex::new(states),
                done: Condvar::new(),
            }),
            answer_within: ANSWER_WITHIN,
        }
    }

    /// How long an observation waits for a host that answered before ([`ANSWER_WITHIN`]).
    pub fn with_answer_within(mut self, d: Duration) -> Self {
        self.answer_within = d;
        self
    }

    /// The hosts, in configuration order.
    pub fn hosts(&self) -> &[Arc<HostPanes>] {
        &self.hosts
    }

    /// The adapter a pane key belongs to.
    fn route(&self, key: &str) -> Result<&dyn Panes, PanesError> {
        match split_key(key) {
            (None, _) => Ok(self.local.as_ref()),
            (Some(host), _) => self
                .hosts
                .iter()
                .find(|h| h.name() == host)
                .map(|h| h.as_ref() as &dyn Panes)
                .ok_or_else(|| {
                    PanesError::NotFound(format!("pane {key}: no host {host:?} in [[hosts]]"))
                }),
        }
    }

    /// Starts an observation of host `i` on its own thread; its answer lands in the shared
    /// state. The caller holds the state lock and has checked nothing is in flight.
    fn start(&self, i: usize, state: &mut HostState) {
        let host = Arc::clone(&self.hosts[i]);
        let shared = Arc::clone(&self.shared);
        let started = Instant::now();
        state.in_flight = Some(started);
        let spawned = std::thread::Builder::new()
            .name(format!("gaffer-observe-{}", host.name()))
            .spawn(move || {
                let result = host.observe();
                let took = started.elapsed();
                let mut hosts = lock(&shared.hosts);
                if let Some(s) = hosts.get_mut(i) {
                    s.in_flight = None;
                    s.answered = true;
                    s.latency = Some(took);
                    s.answers.push(Answer { result });
                }
                shared.done.notify_all();
            });
        if let Err(e) = spawned {
            state.in_flight = None;
            state.answered = true;
            state.answers.push(Answer {
                result: Err(PanesError::Failed(format!("observation thread: {e}"))),
            });
        }
    }
}

/// Adds the answers a pass took from one host to the snapshot.
fn take_answers(name: &str, state: &mut HostState, snap: &mut PaneSnapshot) -> bool {
    let answers = std::mem::take(&mut state.answers);
    let mut newest: Option<Vec<ObservedPane>> = None;
    let took_any = !answers.is_empty();
    for a in answers {
        // A lost connection reads as "no server" over ssh: the host's panes are then held as
        // they were, not reported vanished.
        match a.result {
            Ok(s) => match s.lost {
                Some(lost) => {
                    state.down = Some(lost);
                    newest = None;
                }
                None => {
                    state.down = None;
                    state.panes = s.panes.iter().map(|p| p.info.clone()).collect();
                    snap.vanished.extend(s.vanished);
                    snap.problems
                        .extend(s.problems.into_iter().map(|p| format!("host {name}: {p}")));
                    newest = Some(s.panes);
                }
            },
            Err(e) => {
                state.down = Some(e.to_string());
                newest = None;
            }
        }
    }
    if let Some(panes) = newest {
        // A pane listed again after an older answer called it vanished is not vanished.
        snap.vanished
            .retain(|v| !panes.iter().any(|p| &p.info.pane_id == v));
        snap.panes.extend(panes);
    }
    took_any
}

impl Panes for MultiPanes {
    fn list_panes(&self) -> Result<Vec<PaneInfo>, PanesError> {
        let mut all = self.local.list_panes()?;
        for h in &self.hosts {
            match h.list_panes() {
                Ok(v) => all.extend(v),
                Err(e) => tracing::warn!(host = h.name(), error = %e, "listing a host's panes"),
            }
        }
        Ok(all)
    }

    fn capture(&self, pane_ids: &[String]) -> Result<Vec<(String, String)>, PanesError> {
        // One batch per adapter, in the order the keys first name them.
        let mut groups: Vec<(Option<&str>, Vec<String>)> = Vec::new();
        for key in pane_ids {
            let host = split_key(key).0;
            match groups.iter_mut().find(|(h, _)| *h == host) {
                Some((_, keys)) => keys.push(key.clone()),
                None => groups.push((host, vec![key.clone()])),
            }
        }
        let mut out = Vec::with_capacity(pane_ids.len());
        for (_, keys) in groups {
            out.extend(self.route(&keys[0])?.capture(&keys)?);
        }
        Ok(out)
    }

    fn observe(&self) -> Result<PaneSnapshot, PanesError> {
        if self.hosts.is_empty() {
            return self.local.observe();
        }
        // Every host at once, each on its own connection and thread, beside the local session.
        // A host that answered before is waited for at most `answer_within`: a slow or
        // partitioned host does not hold the pass up; its answer is taken by a later pass.
        let began = Instant::now();
        {
            let mut states = lock(&self.shared.hosts);
            for (i, st) in states.iter_mut().enumerate() {
                if st.in_flight.is_none() {
                    self.start(i, st);
                }
            }
        }
        let local = self.local.observe();
        let mut states = lock(&self.shared.hosts);
        loop {
            let now = Instant::now();
            let mut wait: Option<Duration> = None;
            for st in states.iter() {
                let Some(since) = st.in_flight else { continue };
                let until = if st.answered {
                    began + self.answer_within
                } else {
                    since + FIRST_ANSWER_CAP
                };
                if until > now {
                    let left = until - now;
                    wait = Some(wait.map_or(left, |w| w.min(left)));
                }
            }
            let Some(left) = wait else { break };
            states = match self.shared.done.wait_timeout(states, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
        let mut snap = local?;
        let now = Instant::now();
        for (h, st) in self.hosts.iter().zip(states.iter_mut()) {
            let took = take_answers(h.name(), st, &mut snap);
            let late = !took && st.in_flight.is_some();
            // An observation that never ends (it should: every command has a timeout) does not
            // keep the host's agents as they were forever.
            if let Some(since) = st
                .in_flight
                .filter(|s| late && s.elapsed() > FIRST_ANSWER_CAP)
                && st.down.is_none()
            {
                st.down = Some(format!(
                    "no answer for {} s",
                    now.saturating_duration_since(since).as_secs()
                ));
            }
            if let Some(error) = &st.down {
                snap.problems
                    .push(format!("host {}: unreachable: {error}", h.name()));
                snap.unreachable.push(UnreachableHost {
                    host: h.name().to_string(),
                    error: error.clone(),
                    panes: st.panes.clone(),
                });
            } else if late {
                tracing::debug!(host = h.name(), "host late: its last observation is kept");
            }
            snap.hosts.push(HostObservation {
                host: h.name().to_string(),
                latency_ms: st.latency.map(|d| d.as_millis() as u64),
                late,
                waiting_ms: st
                    .in_flight
                    .filter(|_| late)
                    .map(|s| now.saturating_duration_since(s).as_millis() as u64),
            });
        }
        Ok(snap)
    }

    fn wait_for_activity(&self, timeout: Duration) -> bool {
        if self.hosts.is_empty() {
            return self.local.wait_for_activity(timeout);
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let slice = left.min(WAIT_SLICE);
            let started = Instant::now();
            // Woken before the slice ended: an event, not the end of a polling sleep.
            if self.local.wait_for_activity(slice) && started.elapsed() < slice {
                return true;
            }
            // Only a host with an event source (its control client) reports activity; one
            // without is polled when the whole timeout has passed. A host whose observation is
            // under way is skipped: that observation may hold its control client's lock while
            // it re-attaches over a slow connection, and the next pass takes its answer anyway.
            let busy: Vec<bool> = lock(&self.shared.hosts)
                .iter()
                .map(|s| s.in_flight.is_some())
                .collect();
            if self.hosts.iter().zip(busy).any(|(h, busy)| {
                !busy
                    && h.inner().mode() == ObserveMode::Control
                    && h.wait_for_activity(Duration::ZERO)
            }) {
                return true;
            }
            if Instant::now() >= deadline {
                return true;
            }
        }
    }

    fn deliver(
        &self,
        pane_id: &str,
        text: &str,
        opts: &DeliveryOptions,
        probe: &mut dyn DeliveryCheck,
    ) -> Result<DeliveryReport, PanesError> {
        self.route(pane_id)?.deliver(pane_id, text, opts, probe)
    }

    fn launch_command(&self, pane_id: &str) -> Result<Option<String>, PanesError> {
        self.route(pane_id)?.launch_command(pane_id)
    }

    fn send_keys(&self, pane_id: &str, keys: &str) -> Result<(), PanesError> {
        self.route(pane_id)?.send_keys(pane_id, keys)
    }

    fn respawn(&self, pane_id: &str, command: &str) -> Result<(), PanesError> {
        self.route(pane_id)?.respawn(pane_id, command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gaffer_core::config::HostConfig;
    use gaffer_testkit::fakes::ScriptedPanes;

    fn local_snapshot() -> PaneSnapshot {
        PaneSnapshot {
            observed_at: chrono::Utc::now(),
            mode: ObserveMode::Polling,
            panes: Vec::new(),
            vanished: vec!["%7".into()],
            problems: Vec::new(),
            lost: None,
            unreachable: Vec::new(),
            hosts: Vec::new(),
        }
    }

    /// A host nobody listens for (port 1 on loopback): its connection fails at once.
    fn dead_host(name: &str) -> Arc<HostPanes> {
        let cfg = HostConfig {
            name: name.into(),
            host: "127.0.0.1".into(),
            port: 1,
            ssh_options: vec!["-o".into(), "BatchMode=yes".into()],
            ..Default::default()
        };
        Arc::new(crate::host::connect(&cfg, "s", Duration::from_secs(5)).unwrap())
    }

    #[test]
    fn keys_of_unknown_hosts_are_refused_without_touching_the_network() {
        let host = dead_host("b");
        let multi = MultiPanes::new(
            Arc::new(ScriptedPanes::new(Vec::new())),
            vec![Arc::clone(&host)],
        );
        let err = multi.send_keys("nowhere:%1", "x").unwrap_err();
        assert!(
            matches!(&err, PanesError::NotFound(m) if m.contains("nowhere")),
            "{err:?}"
        );
        // A local key goes to the local adapter (this fake captures nothing).
        assert_eq!(multi.capture(&["%1".into()]).unwrap(), Vec::new());
        assert_eq!(host.connection().connections_started(), 0);
    }

    #[test]
    fn a_host_that_cannot_be_reached_is_reported_and_does_not_hide_the_local_panes() {
        let host = dead_host("b");
        let multi = MultiPanes::new(
            Arc::new(ScriptedPanes::new(vec![Ok(local_snapshot())])),
            vec![host],
        );
        let snap = multi.observe().unwrap();
        assert_eq!(snap.vanished, ["%7"], "the local observation is kept");
        assert_eq!(snap.unreachable.len(), 1);
        assert_eq!(snap.unreachable[0].host, "b");
        assert!(!snap.unreachable[0].error.is_empty());
        assert!(
            snap.problems
                .iter()
                .any(|p| p.starts_with("host b: unreachable: ")),
            "{:?}",
            snap.problems
        );
    }
}
