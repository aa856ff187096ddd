//! The hooks that `gaffer hooks install` writes fire for real on each pinned CLI (inside a
//! loopback-only network namespace, against the scripted model server): one turn with a shell
//! tool call, and the ledger gets the turn start, the tool's start and end and the stop, in that
//! order, from the agent's own pane.
//!
//! The harness launches CLIs with `env -i`; the pane's `TMUX_PANE` is passed on explicitly
//! (`Launch::shell_command_keeping`), as a CLI started by hand inherits it.

use gaffer_coordinator::signal_store::LedgerSignalFeed;
use gaffer_core::signals::{HookEvent, PaneSignals, SignalFeed};
use gaffer_model_sim::{ModelServer, Script};
use gaffer_testkit::netns;
use gaffer_testkit::real_agent::{self, LaunchOptions};
use gaffer_testkit::tmux::TmuxServer;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gaffer");

/// One CLI at a time: each test starts one, the machine is small.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Where the hooks go.
#[derive(Clone, Copy, PartialEq)]
enum Scope {
    Project,
    /// The throwaway HOME's user settings.
    User,
}

fn status_of(dir: &Path, tmux: &TmuxServer, session: &str, title: &str) -> Option<String> {
    let out = gaffer_testkit::cli::run(
        BIN,
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
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["agents"].as_array().and_then(|a| {
        a.iter()
            .find(|x| x["title"] == title)
            .and_then(|x| x["status"].as_str().map(str::to_string))
    })
}

/// Starts `kind` with gaffer's hooks installed in `scope`, waits for it to be ready, asks for
/// one shell tool call, and returns the pane's signals once `want` have all arrived (or what
/// arrived by the deadline), with the pane id and the screen.
fn one_turn(
    kind: &str,
    scope: Scope,
    extra_args: &[&str],
    want: &[HookEvent],
) -> (String, PaneSignals, String) {
    let started = Instant::now();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".git")).expect("project marker");
    let server = ModelServer::start("127.0.0.1:0", Script::builtin(), None).expect("model server");
    let base = dir.path().join(kind);
    let (home, cwd) = (base.join("home"), base.join("proj"));
    let mut launch = real_agent::prepare(
        kind,
        &home,
        &cwd,
        &server.url(),
        &LaunchOptions {
            allow_tools: true,
            ..Default::default()
        },
    )
    .expect("prepare the CLI");
    launch.argv.extend(extra_args.iter().map(|a| a.to_string()));

    let cwd_s = cwd.display().to_string();
    let mut args = vec![
        "--project",
        cwd_s.as_str(),
        "hooks",
        "install",
        "--agent",
        kind,
    ];
    if scope == Scope::User {
        args.push("--user");
        std::fs::create_dir_all(cwd.join(".gaffer")).expect("mkdir .gaffer");
    }
    let out = gaffer_testkit::cli::command(BIN, dir.path())
        .env("HOME", &home)
        .args(&args)
        .output()
        .expect("gaffer runs");
    assert!(
        out.status.success(),
        "hooks install: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let session = format!("hk{kind}");
    let tmux = TmuxServer::new(&session);
    let title = format!("{session}__{kind}_1");
    let pane = tmux.agent(
        &session,
        &title,
        &launch.shell_command_keeping(&["TMUX_PANE"]),
    );
    let ready = Instant::now() + Duration::from_secs(40);
    while status_of(dir.path(), &tmux, &session, &title).as_deref() != Some("WAITING") {
        assert!(
            Instant::now() < ready,
            "{kind} never became ready:\n{}",
            tmux.capture(&pane)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    tmux.run(&["send-keys", "-t", &pane, "-l", "SHELL please"]);
    std::thread::sleep(Duration::from_millis(300));
    tmux.run(&["send-keys", "-t", &pane, "Enter"]);

    let feed = LedgerSignalFeed::new(&cwd.join(".gaffer/state.db"));
    let deadline = Instant::now() + Duration::from_secs(40);
    let (mut enters, mut last_enter) = (1, Instant::now());
    let signals = loop {
        let all = feed.pane_signals();
        let mine = all.get(&pane).cloned().unwrap_or_default();
        // Under load a CLI may take the typed prompt as a paste and swallow the Enter: press
        // it again (at most twice) while no turn has started.
        if !mine.last.contains_key(&HookEvent::TurnStart)
            && enters < 3
            && last_enter.elapsed() > Duration::from_secs(4)
            && tmux.capture(&pane).contains("SHELL please")
        {
            tmux.run(&["send-keys", "-t", &pane, "Enter"]);
            (enters, last_enter) = (enters + 1, Instant::now());
        }
        let others: Vec<&String> = all.keys().filter(|p| **p != pane).collect();
        assert!(others.is_empty(), "signals from other panes: {others:?}");
        if want.iter().all(|e| mine.last.contains_key(e)) || Instant::now() > deadline {
            break mine;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let screen = tmux.capture(&pane);
    eprintln!(
        "{kind}: {} signals in {:?}: {:?}",
        signals.last.len(),
        started.elapsed(),
        signals.last.keys().map(|e| e.as_str()).collect::<Vec<_>>()
    );
    (pane, signals, screen)
}

/// The turn's signals, in order, all of this CLI and pane.
fn check_turn(kind: &str, pane: &str, s: &PaneSignals, screen: &str, order: &[HookEvent]) {
    let missing: Vec<&str> = order
        .iter()
        .filter(|e| !s.last.contains_key(e))
        .map(|e| e.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "{kind}: missing {missing:?}; got {:#?}\nscreen:\n{screen}",
        s.last
    );
    let seqs: Vec<i64> = order.iter().map(|e| s.last[e].seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "{kind}: out of order {order:?} {seqs:?}"
    );
    for sig in s.last.values() {
        assert_eq!(sig.pane_id, pane);
        assert_eq!(sig.agent, kind);
    }
    let tool = &s.last[&HookEvent::ToolStart];
    assert!(
        tool.detail.as_deref().is_some_and(|d| !d.is_empty()),
        "{kind}: the tool's name: {tool:?}"
    );
}

#[test]
fn cc_hooks_fire_for_a_turn_with_a_tool() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !netns::run_isolated("cc_hooks_fire_for_a_turn_with_a_tool") {
        return;
    }
    let order = [
        HookEvent::TurnStart,
        HookEvent::ToolStart,
        HookEvent::ToolEnd,
        HookEvent::Stop,
    ];
    let (pane, s, screen) = one_turn("cc", Scope::Project, &[], &order);
    check_turn("cc", &pane, &s, &screen, &order);
    assert!(
        s.last.contains_key(&HookEvent::SessionStart),
        "{:?}",
        s.last.keys()
    );
    let tool = &s.last[&HookEvent::ToolStart];
    assert_eq!(tool.detail.as_deref(), Some("Bash"));
    assert!(
        tool.session_id.is_some() && tool.transcript_path.is_some(),
        "{tool:?}"
    );
}

#[test]
fn gmi_hooks_fire_for_a_turn_with_a_tool() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !netns::run_isolated("gmi_hooks_fire_for_a_turn_with_a_tool") {
        return;
    }
    let order = [
        HookEvent::TurnStart,
        HookEvent::ToolStart,
        HookEvent::ToolEnd,
        HookEvent::Stop,
    ];
    let (pane, s, screen) = one_turn("gmi", Scope::Project, &[], &order);
    check_turn("gmi", &pane, &s, &screen, &order);
    assert!(
        s.last.contains_key(&HookEvent::ModelRequest),
        "{:?}",
        s.last.keys()
    );
}

#[test]
fn cod_hooks_fire_for_a_turn_with_a_tool() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !netns::run_isolated("cod_hooks_fire_for_a_turn_with_a_tool") {
        return;
    }
    let order = [
        HookEvent::TurnStart,
        HookEvent::ToolStart,
        HookEvent::ToolEnd,
        HookEvent::Stop,
    ];
    // Codex runs a new hook only once it is trusted (reviewed in /hooks); a test cannot click
    // through the review, so it starts Codex with the flag meant for vetted automation.
    let (pane, s, screen) = one_turn(
        "cod",
        Scope::User,
        &["--dangerously-bypass-hook-trust"],
        &order,
    );
    check_turn("cod", &pane, &s, &screen, &order);
}
