//! Shared helpers: the test kit's private tmux server and gaffer-sim binary, and a fast poll.
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A private tmux server (`-L gaffer-test-<unique>`), killed when dropped: the test kit's.
pub use gaffer_testkit::tmux::TmuxServer as Server;

/// Waits until `f` returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// The gaffer-sim binary, built once.
pub fn sim_binary() -> PathBuf {
    gaffer_testkit::sim::binary()
}

/// A shell-quoted word.
pub use gaffer_testkit::shell_quote as q;
