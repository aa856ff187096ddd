//! Running a test inside a network namespace that has only loopback.
//!
//! The real agent CLIs try to reach their vendors (onboarding probes, telemetry, update checks)
//! even when pointed at a local server. A test that runs one calls [`isolate`] first: outside a
//! namespace it re-runs itself (the same test binary, only that test) under
//! `unshare --net`, with `lo` up, and reports the child's result; inside, the test goes on.
//! The model server, the tmux server and gaffer then all live in the namespace, so loopback
//! works between them and nothing can leave the machine.

use std::process::Command;

/// Set in the child so that it knows it is the isolated run.
pub const INSIDE_ENV: &str = "GAFFER_TEST_NETNS";

/// What [`isolate`] found.
#[derive(Debug)]
pub enum Isolation {
    /// This process is inside a loopback-only namespace: run the test body.
    Inside,
    /// The test ran in a child inside a namespace; `true` when it passed.
    RanInChild(bool),
    /// No namespace can be made here (not root, no `unshare`/`ip`): the reason.
    Unavailable(String),
}

pub use gaffer_model_sim::launch::interfaces;

/// Re-runs test `test_name` (its path as libtest prints it, e.g. `claude_states`) inside a new
/// loopback-only network namespace, unless this process already is the isolated one.
pub fn isolate(test_name: &str) -> Isolation {
    // `--include-ignored`: the parent already chose to run it (an ignored test that was
    // asked for with `--ignored` must run in the child too, not be skipped as a pass).
    let args = [
        test_name,
        "--exact",
        "--nocapture",
        "--include-ignored",
        "--test-threads",
        "1",
    ];
    isolate_with_args(&args.map(String::from))
}

/// Re-runs this executable with `args` inside a new loopback-only network namespace, unless
/// this process already is the isolated one (for a program that is not a libtest harness, such
/// as a benchmark binary).
pub fn isolate_with_args(args: &[String]) -> Isolation {
    if std::env::var_os(INSIDE_ENV).is_some() {
        let ifs = interfaces();
        assert!(
            ifs.iter().all(|i| i == "lo"),
            "{INSIDE_ENV} is set but this namespace has interfaces {ifs:?}"
        );
        return Isolation::Inside;
    }
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return Isolation::Unavailable(format!("no current exe: {e}")),
    };
    // A quick probe: can this user make a network namespace at all?
    let probe = Command::new("unshare")
        .args(["--net", "--", "true"])
        .output();
    match probe {
        Ok(o) if o.status.success() => {}
        Ok(o) => {
            return Isolation::Unavailable(format!(
                "`unshare --net` failed (root is needed): {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Err(e) => return Isolation::Unavailable(format!("`unshare` cannot run: {e}")),
    }
    let status = Command::new("unshare")
        .args([
            "--net",
            "--",
            "sh",
            "-c",
            "ip link set lo up && exec \"$0\" \"$@\"",
        ])
        .arg(&exe)
        .args(args)
        .env(INSIDE_ENV, "1")
        .status();
    match status {
        Ok(s) => Isolation::RanInChild(s.success()),
        Err(e) => Isolation::Unavailable(format!("`unshare` cannot run: {e}")),
    }
}

/// The usual prologue of a real-agent test: returns `true` when the body should run here.
/// Panics when the isolated child failed; skips with a message (or fails in CI, `CI=true`)
/// when no namespace can be made.
pub fn run_isolated(test_name: &str) -> bool {
    match isolate(test_name) {
        Isolation::Inside => true,
        Isolation::RanInChild(true) => false,
        Isolation::RanInChild(false) => {
            panic!("{test_name} failed inside its network namespace (output above)")
        }
        Isolation::Unavailable(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{test_name}: cannot isolate the real agents: {why}");
            }
            eprintln!("skipping {test_name}: cannot isolate the real agents: {why}");
            false
        }
    }
}
