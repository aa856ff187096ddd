//! Panes on another host, with host-qualified pane keys.
//!
//! [`HostPanes`] is a [`TmuxPanes`] over one host's SSH connection ([`crate::ssh::SshHost`]):
//! listing, captures and the control-mode client go through it unchanged (batched capture and
//! verified delivery work as locally). It presents every pane id as `host:%N`, because tmux ids
//! are unique only per server, and takes such keys back on every call. [`connect`] builds one
//! from a `[[hosts]]` entry.

use crate::TmuxOptions;
use crate::TmuxPanes;
use crate::cmd::{Socket, Tmux, TmuxError};
use crate::ssh::{SshDestination, SshHost, SshMode};
use gaffer_core::config::HostConfig;
use gaffer_core::panes::{
    DeliveryCheck, DeliveryOptions, DeliveryReport, PaneInfo, PaneSnapshot, Panes, PanesError,
};
use std::sync::Arc;
use std::time::Duration;

/// The pane key of pane `pane_id` on `host`: `host:%N`.
pub fn qualify(host: &str, pane_id: &str) -> String {
    format!("{host}:{pane_id}")
}

/// Splits a pane key into its host (none for a bare local id like `%3`) and the tmux pane id.
pub fn split_key(key: &str) -> (Option<&str>, &str) {
    match key.rsplit_once(':') {
        Some((host, id)) if id.starts_with('%') && !host.is_empty() => (Some(host), id),
        _ => (None, key),
    }
}

/// The SSH destination of a `[[hosts]]` entry.
pub fn destination(cfg: &HostConfig) -> SshDestination {
    SshDestination {
        host: cfg.host.clone(),
        user: (!cfg.user.is_empty()).then(|| cfg.user.clone()),
        port: (cfg.port != 0).then_some(cfg.port),
        identity: (!cfg.identity.is_empty()).then(|| cfg.identity.clone().into()),
        options: cfg.ssh_options.clone(),
    }
}

/// The panes of one host, keyed `host:%N`.
pub struct HostPanes {
    name: String,
    conn: Arc<SshHost>,
    inner: TmuxPanes,
}

/// Builds the panes of a `[[hosts]]` entry: one SSH connection (made on first use), its tmux
/// server and session (`default_session` when the entry names none), commands timing out after
/// `timeout`.
pub fn connect(
    cfg: &HostConfig,
    default_session: &str,
    timeout: Duration,
) -> Result<HostPanes, TmuxError> {
    let conn = Arc::new(SshHost::new(
        &cfg.name,
        destination(cfg),
        SshMode::Multiplexed,
        timeout,
    )?);
    let socket = Socket::from_config(&cfg.socket_name, &cfg.socket_path);
    let session = if cfg.session.is_empty() {
        default_session
    } else {
        cfg.session.as_str()
    };
    let tmux = Tmux::remote(socket, timeout, Arc::clone(&conn));
    let opts = TmuxOptions::new(Socket::Default, Some(session.to_string()));
    Ok(HostPanes::new(
        &cfg.name,
        conn,
        TmuxPanes::with_tmux(tmux, opts),
    ))
}

impl HostPanes {
    /// Wraps `inner`, which runs over `conn`, as host `name`.
    pub fn new(name: &str, conn: Arc<SshHost>, inner: TmuxPanes) -> Self {
        HostPanes {
            name: name.to_string(),
            conn,
            inner,
        }
    }

    /// The host's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The host's connection.
    pub fn connection(&self) -> &Arc<SshHost> {
        &self.conn
    }

    /// The adapter underneath (tmux pane ids, unqualified).
    pub fn inner(&self) -> &TmuxPanes {
        &self.inner
    }

    fn local_id<'a>(&self, key: &'a str) -> Result<&'a str, PanesError> {
        match split_key(key) {
            (Some(h), id) if h == self.name => Ok(id),
            (Some(h), _) => Err(PanesError::NotFound(format!(
                "pane {key} is on host {h}, not {}",
                self.name
            ))),
            (None, _) => Err(PanesError::NotFound(format!(
                "pane {key} names no host (expected {}:%N)",
                self.name
            ))),
        }
    }

    fn qualify_info(&self, info: &mut PaneInfo) {
        info.pane_id = qualify(&self.name, &info.pane_id);
    }
}

impl Panes for HostPanes {
    fn list_panes(&self) -> Result<Vec<PaneInfo>, PanesError> {
        let mut v = self.inner.list_panes()?;
        v.iter_mut().for_each(|p| self.qualify_info(p));
        Ok(v)
    }

    fn capture(&self, pane_ids: &[String]) -> Result<Vec<(String, String)>, PanesError> {
        let ids = pane_ids
            .iter()
            .map(|k| self.local_id(k).map(str::to_string))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self
            .inner
            .capture(&ids)?
            .into_iter()
            .map(|(id, screen)| (qualify(&self.name, &id), screen))
            .collect())
    }

    fn observe(&self) -> Result<PaneSnapshot, PanesError> {
        let mut snap = self.inner.observe()?;
        snap.panes
            .iter_mut()
            .for_each(|p| self.qualify_info(&mut p.info));
        snap.vanished = snap
            .vanished
            .iter()
            .map(|id| qualify(&self.name, id))
            .collect();
        Ok(snap)
    }

    fn wait_for_activity(&self, timeout: Duration) -> bool {
        self.inner.wait_for_activity(timeout)
    }

    fn deliver(
        &self,
        pane_id: &str,
        text: &str,
        opts: &DeliveryOptions,
        probe: &mut dyn DeliveryCheck,
    ) -> Result<DeliveryReport, PanesError> {
        let mut r = self
            .inner
            .deliver(self.local_id(pane_id)?, text, opts, probe)?;
        r.pane_id = pane_id.to_string();
        Ok(r)
    }

    fn launch_command(&self, pane_id: &str) -> Result<Option<String>, PanesError> {
        self.inner.launch_command(self.local_id(pane_id)?)
    }

    fn send_keys(&self, pane_id: &str, keys: &str) -> Result<(), PanesError> {
        self.inner.send_keys(self.local_id(pane_id)?, keys)
    }

    fn respawn(&self, pane_id: &str, command: &str) -> Result<(), PanesError> {
        self.inner.respawn(self.local_id(pane_id)?, command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        assert_eq!(qualify("box1", "%3"), "box1:%3");
        assert_eq!(split_key("box1:%3"), (Some("box1"), "%3"));
        assert_eq!(split_key("%3"), (None, "%3"));
        assert_eq!(split_key("a.b-c:%12"), (Some("a.b-c"), "%12"));
        assert_eq!(split_key(":%3"), (None, ":%3"));
    }

    #[test]
    fn destination_from_config() {
        let cfg = HostConfig {
            name: "b".into(),
            host: "h".into(),
            port: 0,
            ssh_options: vec!["-o".into(), "ProxyJump=j".into()],
            ..Default::default()
        };
        assert_eq!(destination(&cfg).args(), vec!["-o", "ProxyJump=j", "h"]);
        let cfg = HostConfig {
            user: "u".into(),
            port: 2,
            identity: "/k".into(),
            ..cfg
        };
        assert_eq!(
            destination(&cfg).args(),
            vec!["-o", "ProxyJump=j", "-i", "/k", "-p", "2", "u@h"]
        );
    }

    #[test]
    fn keys_of_another_host_are_refused() {
        let cfg = HostConfig {
            name: "b".into(),
            host: "127.0.0.1".into(),
            ..Default::default()
        };
        let p = connect(&cfg, "s", Duration::from_secs(1)).unwrap();
        assert!(matches!(
            p.send_keys("other:%1", "x"),
            Err(PanesError::NotFound(_))
        ));
        assert!(matches!(
            p.send_keys("%1", "x"),
            Err(PanesError::NotFound(_))
        ));
        // Nothing was tried on the network for a refused key.
        assert_eq!(p.connection().connections_started(), 0);
    }
}
