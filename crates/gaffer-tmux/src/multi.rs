//! The local session plus every `[[hosts]]` host's session, as one [`Panes`].
//!
//! [`MultiPanes`] routes each call by the pane key: a bare `%N` goes to the local adapter, a
//! `host:%N` key to that host's [`HostPanes`] (which speaks `host:%N` itself). A listing or an
//! observation covers every host; a host that cannot answer does not hide the others: it is
//! reported in [`PaneSnapshot::unreachable`] with its panes as last observed (neither observed
//! nor vanished), and as a problem of the observation (`host box1: unreachable: …`). Hosts are
//! observed in parallel (a scoped thread each) beside the local session.

use crate::host::{HostPanes, split_key};
use gaffer_core::panes::{
    DeliveryCheck, DeliveryOptions, DeliveryReport, ObserveMode, PaneInfo, PaneSnapshot, Panes,
    PanesError, UnreachableHost,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long one wait slice lasts when several sources are watched: the worst added delay
/// before activity on a host wakes a waiting loop.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// The local panes and the panes of each host.
pub struct MultiPanes {
    local: Arc<dyn Panes>,
    hosts: Vec<Arc<HostPanes>>,
    /// Each host's panes at its last successful observation.
    last: Mutex<HashMap<String, Vec<PaneInfo>>>,
}

impl MultiPanes {
    /// The local adapter (bare `%N` keys) and the hosts (`host:%N` keys).
    pub fn new(local: Arc<dyn Panes>, hosts: Vec<Arc<HostPanes>>) -> Self {
        MultiPanes {
            local,
            hosts,
            last: Mutex::new(HashMap::new()),
        }
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
        // Every host at once, each on its own connection, beside the local session: a slow or
        // partitioned host delays the observation by its own timeout, not by the sum.
        let (local, remote) = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .hosts
                .iter()
                .map(|h| s.spawn(move || h.observe()))
                .collect();
            let local = self.local.observe();
            let remote: Vec<Result<PaneSnapshot, PanesError>> = handles
                .into_iter()
                .map(|j| {
                    j.join().unwrap_or_else(|_| {
                        Err(PanesError::Failed("the host's observation panicked".into()))
                    })
                })
                .collect();
            (local, remote)
        });
        let mut snap = local?;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        for (h, observed) in self.hosts.iter().zip(remote) {
            // A lost connection reads as "no server" over ssh: the host's panes are then held
            // as they were, not reported vanished.
            let down = match observed {
                Ok(s) => match s.lost {
                    Some(lost) => Some(lost),
                    None => {
                        last.insert(
                            h.name().to_string(),
                            s.panes.iter().map(|p| p.info.clone()).collect(),
                        );
                        snap.panes.extend(s.panes);
                        snap.vanished.extend(s.vanished);
                        snap.problems.extend(
                            s.problems
                                .into_iter()
                                .map(|p| format!("host {}: {p}", h.name())),
                        );
                        None
                    }
                },
                Err(e) => Some(e.to_string()),
            };
            if let Some(error) = down {
                snap.problems
                    .push(format!("host {}: unreachable: {error}", h.name()));
                snap.unreachable.push(UnreachableHost {
                    host: h.name().to_string(),
                    error,
                    panes: last.get(h.name()).cloned().unwrap_or_default(),
                });
            }
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
            // without is polled when the whole timeout has passed.
            if self.hosts.iter().any(|h| {
                h.inner().mode() == ObserveMode::Control && h.wait_for_activity(Duration::ZERO)
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
