//! Compaction on the real Claude Code and Codex (the pinned versions in `agents.lock`), in a loopback-only
//! network namespace against the scripted model server: one turn whose reported usage fills over 90%
//! of a 200k window leaves the agent idle above gaffer's work limit; `gaffer run` sends it
//! `/compact`; Claude Code compacts (the summary is a model call the scripted server answers),
//! writes its compact boundary into the transcript, and the context figure gaffer reads from
//! the transcript goes down; `agent_compacted` carries both figures; and then the agent gets
//! the project's bead (no work is given above the limit).

use gaffer_coordinator::ledger::Ledger;
use gaffer_core::event::CoordinatorEvent;
use gaffer_model_sim::{Mode, ModelServer, Reply, Script, Usage};
use gaffer_testkit::real_agent::{self, LaunchOptions};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{netns, wait_until};
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

/// The model's window the CLI is told.
const WINDOW: u64 = 200_000;

const ISSUES: &str = r#"{"id":"rc-1","title":"Implement the lexer in src/lexer.rs","status":"open","priority":1,"issue_type":"feature","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
"#;

/// `gaffer status --json`'s agent object for the one pane.
fn status(dir: &Path, tmux: &TmuxServer, session: &str) -> Value {
    let out = gaffer_testkit::cli::run(
        env!("CARGO_BIN_EXE_gaffer"),
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
    v["agents"].get(0).cloned().unwrap_or_default()
}

/// The events `gaffer run` wrote to the ledger so far.
fn ledger_events(dir: &Path) -> Vec<CoordinatorEvent> {
    Ledger::open(&dir.join(".gaffer/state.db"))
        .and_then(|l| l.events_since(0))
        .map(|(events, _)| events.into_iter().map(|(_, e)| e).collect())
        .unwrap_or_default()
}

/// Every line of every transcript under `dir` (Claude Code's projects, Codex's sessions).
fn transcript_lines(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            out.extend(transcript_lines(&path));
        } else if path.extension().is_some_and(|x| x == "jsonl") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out.extend(text.lines().map(str::to_string));
        }
    }
    out
}

/// Kills the `gaffer run` child when the test ends, whatever happens.
struct Run(Child);

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What differs between the CLIs.
struct Cli {
    /// Agent kind code.
    kind: &'static str,
    /// Where its transcripts are, under its HOME.
    transcripts: &'static str,
    /// The model API path.
    api: &'static str,
    /// A word of its compaction prompt.
    summary_word: &'static str,
    /// The input tokens of the one turn: above 90% of the window the CLI works with (Codex
    /// states 95% of the configured one in its rollout).
    full: u64,
}

#[test]
fn gaffer_run_compacts_an_idle_claude_code_above_the_limit() {
    if !netns::run_isolated("gaffer_run_compacts_an_idle_claude_code_above_the_limit") {
        return;
    }
    compaction(&Cli {
        kind: "cc",
        transcripts: ".claude/projects",
        api: "/v1/messages",
        summary_word: "summary",
        full: 190_000,
    });
}

/// Ignored by default: after a compaction, gaffer's verified delivery reports `prompt_stalled`
/// for a bead prompt Codex did take and answer within a second, so the bead is delivered again
/// (a known defect, docs/compact-progress.md "Next" 4); run it with `--ignored`.
#[test]
#[ignore = "known defect: the delivery probe misses Codex's fast answer after a compaction (docs/compact-progress.md)"]
fn gaffer_run_compacts_an_idle_codex_above_the_limit() {
    if !netns::run_isolated("gaffer_run_compacts_an_idle_codex_above_the_limit") {
        return;
    }
    compaction(&Cli {
        kind: "cod",
        transcripts: ".codex/sessions",
        api: "/v1/responses",
        summary_word: "COMPACTION",
        full: 178_000,
    });
}

fn compaction(cli: &Cli) {
    let kind = cli.kind;
    let began = std::time::Instant::now();
    let phase = |what: &str| eprintln!("{kind}: {what} at {:.1}s", began.elapsed().as_secs_f64());
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir(root.join(".git")).expect("project marker");
    std::fs::create_dir(root.join(".beads")).expect("beads dir");
    std::fs::write(root.join(".beads/issues.jsonl"), ISSUES).expect("one bead");
    let server = ModelServer::start("127.0.0.1:0", Script::builtin(), None).expect("model server");
    // The first turn fills over 90% of the window; everything after it (the compaction's summary
    // call included) gets the script's quick answers with small usage.
    server.set_mode(Some(Mode {
        reply: Reply::Text {
            text: "Counted.".into(),
            chunks: 1,
            chunk_delay_ms: 0,
            first_delay_ms: 0,
        },
        then: Vec::new(),
        usage: Some(Usage {
            input_tokens: cli.full,
            output_tokens: 20,
        }),
        times: Some(1),
    }));
    let launch = real_agent::prepare(
        kind,
        &root.join("home"),
        &root.join("proj"),
        &server.url(),
        &LaunchOptions {
            context_window: Some(WINDOW),
            ..Default::default()
        },
    )
    .expect("prepare the CLI");
    let session = format!("rcmp{kind}");
    let session = session.as_str();
    let tmux = TmuxServer::new(session);
    let pane = tmux.agent(
        session,
        &format!("{session}__{kind}_1"),
        &launch.shell_command(),
    );

    // One turn: the agent is then idle above the limit, read from its transcript.
    let ready = wait_until(Duration::from_secs(90), || {
        status(root, &tmux, session)["status"] == "WAITING"
    });
    assert!(ready, "never WAITING: {}", tmux.capture(&pane));
    phase("ready");
    let asked = server.log().len();
    tmux.run(&["send-keys", "-t", &pane, "-l", "count the tokens please"]);
    std::thread::sleep(Duration::from_millis(400));
    tmux.run(&["send-keys", "-t", &pane, "Enter"]);
    // a CLI still settling can take the first Enter as typed text: press it again while the
    // prompt still sits in the composer
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1500));
        if server.log().len() > asked {
            break;
        }
        tmux.run(&["send-keys", "-t", &pane, "Enter"]);
    }
    let mut last = Value::Null;
    let full = wait_until(Duration::from_secs(90), || {
        last = status(root, &tmux, session);
        last["status"] == "WAITING"
            && last["context_source"] == "transcript"
            && last["context_usage"].as_f64().is_some_and(|c| c > 90.0)
    });
    assert!(
        full,
        "not idle above the limit: {last:#}\n{}",
        tmux.capture(&pane)
    );
    phase("idle above the limit");
    let before_run = server.log().len();

    // `gaffer run` with auto-assign: the bead waits until the agent is compacted.
    let child = gaffer_testkit::cli::command(env!("CARGO_BIN_EXE_gaffer"), root)
        .args([
            "run",
            "--auto-assign",
            "--exit-after",
            "240",
            "--json",
            "--socket",
            &tmux.name,
            "--session",
            session,
            "--set",
            "coordinator.idle_threshold=1",
            "--set",
            "coordinator.poll_interval=500ms",
        ])
        .env("SHELL", "/bin/sh")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gaffer run starts");
    let mut run = Run(child);
    let mut events = Vec::new();
    let assigned = wait_until(Duration::from_secs(200), || {
        events = ledger_events(root);
        events
            .iter()
            .any(|e| e.event_type.as_str() == "work_assigned")
            || run.0.try_wait().ok().flatten().is_some()
    });
    phase("work assigned");
    for e in &events {
        eprintln!(
            "{kind} event {} {} {}",
            e.timestamp.format("%H:%M:%S%.3f"),
            e.event_type.as_str(),
            serde_json::to_string(&e.details).unwrap_or_default()
        );
    }
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    let pos = |name: &str| kinds.iter().position(|k| *k == name);
    let (Some(compacting), Some(compacted), Some(work)) = (
        pos("agent_compacting"),
        pos("agent_compacted"),
        pos("work_assigned"),
    ) else {
        panic!(
            "assigned={assigned} events {kinds:?}\n{}",
            tmux.capture(&pane)
        );
    };
    assert!(compacting < compacted && compacted < work, "{kinds:?}");
    let _ = run.0.kill();
    let _ = run.0.wait();

    let lines = transcript_lines(&root.join("home").join(cli.transcripts));
    for l in lines
        .iter()
        .filter(|l| l.contains("compact") || l.contains("token_count"))
    {
        let head: String = l.chars().take(400).collect();
        eprintln!("{kind} transcript: {head}");
    }
    // gaffer sent `/compact` once, at the figure it read.
    let sent: Vec<&CoordinatorEvent> = events
        .iter()
        .filter(|e| e.event_type.as_str() == "agent_compacting")
        .collect();
    assert_eq!(sent.len(), 1, "{kinds:?}");
    assert_eq!(sent[0].details["command"], "/compact");
    let before = sent[0].details["context_before"].as_f64().unwrap_or(0.0);
    let want = last["context_usage"].as_f64().unwrap_or(-1.0);
    assert!(
        (before - want).abs() < 1e-6 && before > 90.0,
        "context_before {before}, read before the run {want}"
    );
    // It compacted: the transcript's figure after is a number, and lower.
    let done = events
        .iter()
        .find(|e| e.event_type.as_str() == "agent_compacted")
        .expect("seen above");
    assert_eq!(done.details["context_before"].as_f64(), Some(before));
    let after = done.details["context_after"].as_f64();
    if kind == "cc" {
        assert!(
            after.is_some_and(|a| a < 90.0 && a < before),
            "context_after {:?}",
            done.details["context_after"]
        );
    } else {
        // Codex states 0 input tokens after compacting, until its next turn: gaffer reads 0%,
        // which it counts as no figure (`context_after` absent).
        assert!(
            after.is_none_or(|a| a < before),
            "context_after {:?}",
            done.details["context_after"]
        );
    }
    // The compaction was a model call gaffer's command caused (after the run started): Claude
    // Code asks the model for a summary of the conversation.
    let log = server.log();
    let calls: Vec<_> = log[before_run..]
        .iter()
        .filter(|e| e.path.starts_with(cli.api) && !e.path.contains("count_tokens"))
        .filter(|e| {
            !e.turn
                .as_ref()
                .is_some_and(|t| t.last_user_text.contains("rc-1"))
        })
        .collect();
    let summary = calls.iter().find(|e| {
        e.turn
            .as_ref()
            .is_some_and(|t| t.last_user_text.contains(cli.summary_word))
    });
    for e in &calls {
        let t = e.turn.clone().unwrap_or_default();
        let head: String = t.last_user_text.chars().take(120).collect();
        eprintln!(
            "model call after `gaffer run`: {} tools={} source={:?} text={head:?}",
            e.path,
            t.has_tools,
            e.decision.as_ref().map(|d| d.source.clone())
        );
    }
    assert!(
        summary.is_some(),
        "no summary call among {} calls",
        calls.len()
    );
    if kind == "cod" {
        // Codex wrote its `compacted` record, then a token count of 0 input tokens.
        let at = lines
            .iter()
            .position(|l| l.contains("\"type\":\"compacted\""))
            .unwrap_or_else(|| panic!("no compacted record"));
        let zero = lines[at..].iter().any(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_default();
            v["payload"]["type"] == "token_count"
                && v["payload"]["info"]["last_token_usage"]["input_tokens"] == 0
        });
        assert!(zero, "no token count of 0 after the compacted record");
    }
    if kind == "cc" {
        // Claude Code wrote its boundary with the figure gaffer read.
        let boundary = lines
            .iter()
            .find(|l| l.contains("\"compact_boundary\""))
            .cloned()
            .unwrap_or_default();
        let v: Value = serde_json::from_str(&boundary).unwrap_or_default();
        let post = v["compactMetadata"]["postTokens"].as_u64().unwrap_or(0);
        assert!(post > 0, "no compact boundary with postTokens: {boundary}");
        let read = post as f64 * 100.0 / WINDOW as f64;
        assert!(
            after.is_some_and(|a| (a - read).abs() < 1e-6),
            "after {after:?} vs the boundary's {post} tokens"
        );
    }
    // The bead's prompt reached the model: the compacted agent took the work.
    let took = wait_until(Duration::from_secs(30), || {
        server.log().iter().any(|e| {
            e.turn
                .as_ref()
                .is_some_and(|t| t.last_user_text.contains("rc-1"))
        })
    });
    assert!(
        took,
        "the bead never reached the model\n{}",
        tmux.capture(&pane)
    );
    // A fresh read agrees: the transcript says the context is low.
    let mut now = Value::Null;
    let low = wait_until(Duration::from_secs(20), || {
        now = status(root, &tmux, session);
        now["context_source"] == "transcript"
            && now["context_usage"].as_f64().is_some_and(|c| c < 90.0)
    });
    assert!(low, "after: {now:#}\n{}", tmux.capture(&pane));
    eprintln!(
        "{kind}: {before:.1}% before /compact, {} after ({} model calls); now {}",
        after.map_or("no figure".to_string(), |a| format!("{a:.1}%")),
        calls.len(),
        now["context_usage"]
    );
}
