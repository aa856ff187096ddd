//! Compacting on real parts: `gaffer run` over a gaffer-sim agent in a private tmux server and
//! a beads project. The agent starts idle above the context limit, so it gets no work; gaffer
//! sends it `/compact`, its context goes down, and then it receives the bead.

use gaffer_coordinator::ledger::Ledger;
use gaffer_testkit::shell_quote as q;
use gaffer_testkit::tmux::TmuxServer as Tmux;
use std::process::Command;

const ISSUES: &str = r#"{"id":"cp-1","title":"Implement the lexer in src/lexer.rs","status":"open","priority":1,"issue_type":"feature","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
"#;

#[test]
fn an_agent_above_the_context_limit_is_compacted_by_gaffer_run_and_then_gets_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join(".beads")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".beads/issues.jsonl"), ISSUES).unwrap();
    let tmux = Tmux::new("compact-live");
    let session = "cp";
    let log = root.join("cc.log");
    // 5% context left: 95% used, above the 90% work limit.
    let launch = format!(
        "{} --agent cc --work-secs 2 --context-left 5 --log {}",
        q(&gaffer_testkit::sim::binary().display().to_string()),
        q(&log.display().to_string()),
    );
    let pane = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "160",
        "-y",
        "45",
        "-P",
        "-F",
        "#{pane_id}",
        &launch,
    ]);
    let pane = pane.trim().to_string();
    tmux.title(&pane, &format!("{session}__cc_1"));

    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["--project", &root.display().to_string()])
        .args([
            "run",
            "--auto-assign",
            "--exit-after",
            "15",
            "--json",
            "--socket",
            &tmux.name,
            "--session",
            session,
            "--set",
            "coordinator.idle_threshold=0.5",
            "--set",
            "coordinator.poll_interval=300ms",
        ])
        .env("XDG_CONFIG_HOME", root.join("xdg"))
        .env("SHELL", "/bin/sh")
        .env_remove("AGENT_MAIL_URL")
        .output()
        .expect("gaffer runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    let (events, bad) = Ledger::open(&root.join(".gaffer/state.db"))
        .expect("ledger")
        .events_since(0)
        .unwrap();
    assert_eq!(bad, 0);
    let events: Vec<_> = events.into_iter().map(|(_, e)| e).collect();
    let k: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let pos = |name: &str| k.iter().position(|x| *x == name);
    let (Some(compacting), Some(compacted), Some(assigned)) = (
        pos("agent_compacting"),
        pos("agent_compacted"),
        pos("work_assigned"),
    ) else {
        panic!("{k:?}\n{stderr}");
    };
    assert!(compacting < compacted && compacted < assigned, "{k:?}");
    assert_eq!(
        k.iter().filter(|x| **x == "agent_compacting").count(),
        1,
        "{k:?}"
    );
    let before = events[compacted].details["context_before"]
        .as_f64()
        .unwrap();
    // Claude Code (and the sim) shows no context figure with much left: after is unknown.
    let after = &events[compacted].details["context_after"];
    assert!(before > 90.0 && after.is_null(), "{before} → {after}");
    // The agent got `/compact`, then the bead.
    let prompts: Vec<String> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["prompt"].as_str().map(str::to_string))
        .collect();
    assert!(prompts.len() >= 2, "{prompts:?}");
    assert_eq!(prompts[0], "/compact");
    assert!(prompts[1].contains("cp-1"), "{prompts:?}");
}
