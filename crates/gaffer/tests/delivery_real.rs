//! Verified delivery of a prompt that is answered at once: the agent goes WAITING → busy →
//! WAITING between two probes of `gaffer send`, so only the screen (the composer emptied, a new
//! turn above it) can tell the prompt was submitted. `gaffer send --json` must report it
//! delivered with ONE attempt (no second Enter), and the agent must get the prompt once.
//!
//! On gaffer-sim agents answering instantly (`--work-secs 0`), one per kind, and on the REAL
//! Claude Code (pinned in `agents.lock`) against the scripted model server answering with no
//! delay (the built-in keyword `FAST`), inside a loopback-only network namespace.

use gaffer_model_sim::{ModelServer, Script};
use gaffer_testkit::real_agent::{self, LaunchOptions};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{netns, shell_quote, wait_until};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

fn gaffer(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(args)
        .current_dir(dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("HOME", dir)
        .env_remove("TMUX")
        .envs(
            std::env::vars()
                .filter(|(k, _)| k.starts_with("GAFFER_"))
                .map(|(k, _)| (k, String::new())),
        )
        .output()
        .expect("gaffer runs")
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".git")).expect("project marker");
    dir
}

fn sim_binary() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_gaffer"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default();
    let bin = dir.join("gaffer-sim");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "gaffer-sim", "--bin", "gaffer-sim"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "building gaffer-sim failed");
    }
    bin
}

/// The prompts a gaffer-sim agent logged.
fn sim_prompts(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["prompt"].as_str().map(String::from))
        .collect()
}

/// `gaffer status --json`: the status of the agent titled `title`.
fn status(dir: &Path, tmux: &TmuxServer, session: &str, title: &str) -> Option<String> {
    let out = gaffer(
        dir,
        &[
            "status",
            "--socket",
            &tmux.name,
            "--session",
            session,
            "--json",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["agents"]
        .as_array()?
        .iter()
        .find(|a| a["title"] == title)
        .and_then(|a| a["status"].as_str().map(String::from))
}

/// `gaffer send --json` of `prompt` to `pane`: the one delivery object.
fn send(dir: &Path, tmux: &TmuxServer, session: &str, pane: &str, prompt: &str) -> Value {
    let out = gaffer(
        dir,
        &[
            "send",
            "--socket",
            &tmux.name,
            "--session",
            session,
            "--deadline",
            "8s",
            // the first check comes long after the instant answer: the agent is WAITING
            // again at every check, only the screen can confirm the delivery
            "--probe-interval",
            "2s",
            pane,
            prompt,
            "--json",
        ],
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let d = v["deliveries"][0].clone();
    assert_eq!(
        out.status.code(),
        Some(0),
        "gaffer send: {}{}\nscreen:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        tmux.capture(pane)
    );
    d
}

/// gaffer-sim agents of every kind that answer instantly: each prompt is reported delivered
/// after one Enter and reaches the agent once.
#[test]
fn sim_instant_answer_is_delivered_with_one_enter() {
    let dir = project();
    let tmux = TmuxServer::new("dlvsim");
    let session = "dsim";
    let sim = sim_binary();
    for kind in ["cc", "cod", "gmi"] {
        let log = dir.path().join(format!("{kind}.jsonl"));
        let title = format!("{session}__{kind}_1");
        let cmd = format!(
            "{} --agent {kind} --work-secs 0 --log {}",
            shell_quote(&sim.display().to_string()),
            shell_quote(&log.display().to_string())
        );
        let pane = tmux.agent(session, &title, &cmd);
        assert!(
            wait_until(Duration::from_secs(15), || {
                status(dir.path(), &tmux, session, &title).as_deref() == Some("WAITING")
            }),
            "{kind} never WAITING:\n{}",
            tmux.capture(&pane)
        );
        for (n, prompt) in [
            format!("answer this at once, {kind}"),
            format!("a second one; {kind} — ✓\nwith a second line"),
        ]
        .iter()
        .enumerate()
        {
            let d = send(dir.path(), &tmux, session, &pane, prompt);
            eprintln!("{kind} #{n}: {d}");
            assert_eq!(d["outcome"], "delivered", "{kind}: {d}");
            assert_eq!(d["attempts"], 1, "{kind}: one Enter, no retry: {d}");
            assert!(
                d["elapsed_ms"].as_u64().is_some_and(|ms| ms < 5000),
                "{kind}: confirmed before the deadline: {d}"
            );
            let want: Vec<String> = [format!("answer this at once, {kind}")]
                .into_iter()
                .chain((n == 1).then(|| prompt.clone()))
                .collect();
            assert!(
                wait_until(Duration::from_secs(5), || sim_prompts(&log) == want),
                "{kind}: each prompt reached the agent once: {:?}\n{}",
                sim_prompts(&log),
                tmux.capture(&pane)
            );
            assert!(
                wait_until(Duration::from_secs(10), || {
                    status(dir.path(), &tmux, session, &title).as_deref() == Some("WAITING")
                }),
                "{kind} WAITING again after the answer"
            );
        }
    }
}

/// The real Claude Code with a model that answers instantly: `gaffer send` reports the prompt
/// delivered with one attempt, and the model got the prompt exactly once.
#[test]
fn real_cc_instant_answer_is_delivered_with_one_enter() {
    if !netns::run_isolated("real_cc_instant_answer_is_delivered_with_one_enter") {
        return;
    }
    let dir = project();
    let tmux = TmuxServer::new("dlvcc");
    let session = "dcc";
    let server = ModelServer::start("127.0.0.1:0", Script::builtin(), None).expect("model server");
    // no mode: the built-in script answers `FAST` at once, with no delay
    server.set_mode(None);
    let base = dir.path().join("cc1");
    let cwd = base.join("proj");
    let launch = real_agent::prepare(
        "cc",
        &base.join("home"),
        &cwd,
        &server.url(),
        &LaunchOptions::default(),
    )
    .expect("prepare Claude Code");
    let title = format!("{session}__cc_1");
    let pane = tmux.agent(session, &title, &launch.shell_command());
    assert!(
        wait_until(Duration::from_secs(90), || {
            status(dir.path(), &tmux, session, &title).as_deref() == Some("WAITING")
        }),
        "Claude Code never WAITING:\n{}",
        tmux.capture(&pane)
    );
    for (n, prompt) in [
        "FAST: reply with anything, gaffer-one",
        "FAST again; a second prompt — ✓ gaffer-two\nwith a second line",
    ]
    .into_iter()
    .enumerate()
    {
        let before = server.log().len();
        let d = send(dir.path(), &tmux, session, &pane, prompt);
        eprintln!("real cc #{n}: {d}");
        assert_eq!(d["outcome"], "delivered", "{d}\n{}", tmux.capture(&pane));
        assert_eq!(
            d["attempts"],
            1,
            "one Enter, no retry: {d}\n{}",
            tmux.capture(&pane)
        );
        let marker = if n == 0 { "gaffer-one" } else { "gaffer-two" };
        // the fresh user turns (requests with tools, no tool results since the user wrote)
        // that carry the prompt
        let turns = || -> Vec<String> {
            server
                .log()
                .into_iter()
                .skip(before)
                .filter(|e| e.path == "/v1/messages")
                .filter_map(|e| e.turn)
                .filter(|t| t.has_tools && t.tool_results_since_user == 0)
                .map(|t| t.last_user_text)
                .filter(|t| t.contains(marker))
                .collect()
        };
        assert!(
            wait_until(Duration::from_secs(20), || !turns().is_empty()),
            "the prompt never reached the model\n{}",
            tmux.capture(&pane)
        );
        // the answer is on screen and the agent is WAITING again; no second request came
        assert!(
            wait_until(Duration::from_secs(20), || {
                tmux.capture(&pane)
                    .matches("Here is a fast answer.")
                    .count()
                    > n
                    && status(dir.path(), &tmux, session, &title).as_deref() == Some("WAITING")
            }),
            "the fast answer, then WAITING\n{}",
            tmux.capture(&pane)
        );
        let got = turns();
        assert_eq!(
            got.len(),
            1,
            "the model got the prompt exactly once: {got:?}"
        );
        assert_eq!(
            got[0].matches(marker).count(),
            1,
            "once within the request: {got:?}"
        );
        let first_line = prompt.lines().next().unwrap_or_default();
        assert!(got[0].contains(first_line), "byte for byte: {got:?}");
    }
}
