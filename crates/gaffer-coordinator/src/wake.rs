//! Waking the observation lane at once when a hook signal arrives.
//!
//! The running coordinator binds a Unix datagram socket, `.gaffer/signals.sock`;
//! `gaffer hook` sends it one empty datagram after recording a signal ([`notify`]: non-blocking,
//! ignored when nobody listens). The socket is a [`WakeSource`]; the scheduler waits on all of
//! a lane's sources at once through a [`Wakeup`].

use std::io::ErrorKind;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The socket's file name inside `.gaffer/`.
pub const SOCKET_NAME: &str = "signals.sock";

/// Something that can wake a lane early.
pub trait WakeSource: Send + Sync {
    /// Blocks up to `timeout`; true when woken by activity before it ran out.
    fn wait(&self, timeout: Duration) -> bool;

    /// Whether its wake-ups are agents' own signals (hooks), which the scheduler serves after a
    /// shorter gap than pane activity: a signal is exact and rare, a screen redraws constantly.
    fn is_signal(&self) -> bool {
        false
    }
}

/// What woke a lane, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Wake {
    /// Nothing: the wait timed out.
    #[default]
    None,
    /// Pane activity (a redraw).
    Activity,
    /// An agent's own signal (a hook).
    Signal,
}

/// Sends one wake-up datagram to `socket`; never blocks, never fails (nobody listening is
/// the normal case when no coordinator runs).
pub fn notify(socket: &Path) {
    let Ok(s) = UnixDatagram::unbound() else {
        return;
    };
    if s.set_nonblocking(true).is_err() {
        return;
    }
    if let Err(e) = s.send_to(b"", socket) {
        tracing::debug!(socket = %socket.display(), error = %e, "no coordinator woken");
    }
}

/// Why the socket could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum WakeError {
    /// Another process listens on it (another coordinator of this project).
    #[error("{0}: another coordinator is listening")]
    InUse(PathBuf),
    /// The OS refused.
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// The coordinator's end: a bound datagram socket, removed when dropped.
pub struct SignalSocket {
    sock: UnixDatagram,
    path: PathBuf,
    /// The socket file's device and inode: dropping removes the path only while it is still
    /// this socket's (the decider may have taken the path over, [`SignalSocket::take`]).
    file: Option<(u64, u64)>,
}

fn file_id(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path)
        .ok()
        .map(|m| (m.dev(), m.ino()))
}

impl SignalSocket {
    /// Binds `path`, replacing a stale socket file left by a coordinator that died; refuses when
    /// a live coordinator listens there.
    pub fn bind(path: &Path) -> Result<SignalSocket, WakeError> {
        let io = |e| WakeError::Io(path.to_path_buf(), e);
        if path.exists() {
            let probe = UnixDatagram::unbound().map_err(io)?;
            if probe.connect(path).is_ok() {
                return Err(WakeError::InUse(path.to_path_buf()));
            }
            std::fs::remove_file(path).map_err(io)?;
        }
        let sock = UnixDatagram::bind(path).map_err(io)?;
        Ok(SignalSocket {
            sock,
            path: path.to_path_buf(),
            file: file_id(path),
        })
    }

    /// Binds `path` for the coordinator that decides (`gaffer run`), taking it over from a
    /// view that listens there (`gaffer serve` or `gaffer dashboard`, which then follow): the
    /// path is unlinked and bound anew, so `gaffer hook` wakes the decider from then on.
    pub fn take(path: &Path) -> Result<SignalSocket, WakeError> {
        match SignalSocket::bind(path) {
            Err(WakeError::InUse(_)) => {
                std::fs::remove_file(path).map_err(|e| WakeError::Io(path.to_path_buf(), e))?;
                SignalSocket::bind(path)
            }
            other => other,
        }
    }

    /// Where it is bound.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn drain(&self) {
        let mut buf = [0u8; 64];
        if self.sock.set_nonblocking(true).is_ok() {
            while self.sock.recv(&mut buf).is_ok() {}
            let _ = self.sock.set_nonblocking(false);
        }
    }
}

impl WakeSource for SignalSocket {
    fn is_signal(&self) -> bool {
        true
    }

    fn wait(&self, timeout: Duration) -> bool {
        let timeout = timeout.max(Duration::from_millis(1));
        if self.sock.set_read_timeout(Some(timeout)).is_err() {
            std::thread::sleep(timeout);
            return false;
        }
        let mut buf = [0u8; 64];
        match self.sock.recv(&mut buf) {
            Ok(_) => {
                // A storm of hooks wakes the lane once.
                self.drain();
                true
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => false,
            Err(e) => {
                tracing::debug!(error = %e, "signal socket");
                std::thread::sleep(timeout);
                false
            }
        }
    }
}

impl Drop for SignalSocket {
    fn drop(&mut self) {
        if self.file.is_some() && file_id(&self.path) == self.file {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A latch several forwarder threads set and one lane waits on.
#[derive(Default)]
pub struct Wakeup {
    pending: Mutex<Wake>,
    cv: Condvar,
}

impl Wakeup {
    /// Sets the latch for pane activity and wakes the waiter.
    pub fn notify(&self) {
        self.set(Wake::Activity);
    }

    /// Sets the latch for an agent's signal and wakes the waiter.
    pub fn notify_signal(&self) {
        self.set(Wake::Signal);
    }

    fn set(&self, wake: Wake) {
        let mut pending = crate::session::lock(&self.pending);
        *pending = (*pending).max(wake);
        drop(pending);
        self.cv.notify_all();
    }

    /// Waits up to `timeout` for the latch; true (and clears it) when it was set.
    pub fn wait(&self, timeout: Duration) -> bool {
        self.wait_wake(timeout) != Wake::None
    }

    /// Waits up to `timeout` for the latch; what set it (the strongest since the last wait),
    /// and clears it; [`Wake::None`] when it timed out.
    pub fn wait_wake(&self, timeout: Duration) -> Wake {
        let deadline = Instant::now() + timeout;
        let mut pending = crate::session::lock(&self.pending);
        loop {
            if *pending != Wake::None {
                return std::mem::take(&mut *pending);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Wake::None;
            }
            pending = match self.cv.wait_timeout(pending, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn a_datagram_wakes_the_socket_at_once() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(SOCKET_NAME);
        let sock = match SignalSocket::bind(&path) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        };
        assert!(!sock.wait(Duration::from_millis(20)), "quiet: times out");
        for _ in 0..50 {
            notify(&path);
        }
        let t = Instant::now();
        assert!(sock.wait(Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(1));
        assert!(!sock.wait(Duration::from_millis(20)), "a burst wakes once");
        // A second coordinator cannot steal the socket; a stale one is replaced.
        assert!(matches!(
            SignalSocket::bind(&path),
            Err(WakeError::InUse(_))
        ));
        drop(sock);
        assert!(!path.exists(), "removed when dropped");
        notify(&path); // nobody listens: nothing happens
        std::fs::write(&path, b"").unwrap_or_else(|e| panic!("{e}"));
        assert!(
            SignalSocket::bind(&path).is_ok(),
            "a stale file is replaced"
        );
    }

    #[test]
    fn the_decider_takes_the_socket_over_from_a_view() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join(SOCKET_NAME);
        let view = SignalSocket::bind(&path).unwrap_or_else(|e| panic!("{e}"));
        let decider = SignalSocket::take(&path).unwrap_or_else(|e| panic!("{e}"));
        notify(&path);
        assert!(decider.wait(Duration::from_secs(5)), "the decider is woken");
        assert!(!view.wait(Duration::from_millis(50)), "the view no longer");
        drop(view);
        assert!(path.exists(), "the view leaves the decider's socket alone");
        notify(&path);
        assert!(decider.wait(Duration::from_secs(5)));
        drop(decider);
        assert!(!path.exists(), "removed when its owner drops it");
    }

    #[test]
    fn the_latch_wakes_a_waiter_from_another_thread() {
        let w = Arc::new(Wakeup::default());
        assert!(!w.wait(Duration::from_millis(10)));
        let w2 = Arc::clone(&w);
        let h = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            w2.notify();
        });
        let t = Instant::now();
        assert!(w.wait(Duration::from_secs(5)));
        assert!(t.elapsed() < Duration::from_secs(2));
        let _ = h.join();
        assert!(!w.wait(Duration::from_millis(5)), "cleared after a wait");
        // a signal outranks activity until the waiter takes it
        w.notify_signal();
        w.notify();
        assert_eq!(w.wait_wake(Duration::from_millis(5)), Wake::Signal);
        w.notify();
        assert_eq!(w.wait_wake(Duration::from_millis(5)), Wake::Activity);
        assert_eq!(w.wait_wake(Duration::from_millis(5)), Wake::None);
    }
}
