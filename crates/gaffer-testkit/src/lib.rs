//! gaffer-testkit: the fixtures gaffer's tests share, each written once.
//!
//! - [`cli`]: the gaffer binary run with a clean environment;
//! - [`tmux`]: a private tmux server (`tmux -L gaffer-test-…`) killed on drop;
//! - [`netns`]: run a test inside a network namespace that has only loopback;
//! - [`hosts`]: simulated hosts (network namespaces with a real sshd and tmux) for SSH tests;
//! - [`fakes`]: the fake ports (clock, observer, probe, panes, work source, mailbox) and a rig;
//! - [`agents`]: the pinned real agent CLIs (`agents.lock`) and where they are installed;
//! - [`real_agent`]: a throwaway HOME and the exact launch command for each real CLI;
//! - [`webhook`]: a webhook receiver on loopback that answers by a script;
//! - [`desktop_bus`]: a real notification daemon on a private D-Bus session bus.

pub mod agentmail;
pub mod cli;
pub mod desktop_bus;
pub mod fakes;
pub mod hosts;
pub mod netns;
pub mod sim;
pub mod tmux;
pub mod webhook;

/// The pinned real CLIs (from `gaffer-model-sim`, where the product code that launches them lives).
pub use gaffer_model_sim::agents;
/// Launching a real CLI against the scripted model server (`gaffer_model_sim::launch`).
pub use gaffer_model_sim::launch as real_agent;

use std::time::{Duration, Instant};

/// Polls `f` every 100 ms until it is true or `timeout` passes; returns its last answer.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}

pub use gaffer_model_sim::launch::shell_quote;

/// The workspace root (where `agents.lock` and `scripts/` are).
pub fn workspace_root() -> std::path::PathBuf {
    let here = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    here.ancestors()
        .nth(2)
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| here.to_path_buf())
}
