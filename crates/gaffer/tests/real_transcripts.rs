//! The transcripts and session files the pinned real CLIs write, read by gaffer: each CLI runs
//! one turn against the scripted model server (which reports a chosen usage), in a
//! loopback-only network namespace, and
//! * Claude Code and Codex: `gaffer status --json` shows the exact context figure from the
//!   transcript (`context_source: transcript`), found without hooks (Claude through its
//!   `sessions/<pid>.json`, whose status is read too; Codex through the rollout file it holds
//!   open);
//! * Gemini CLI: its chat file (`~/.gemini/tmp/*/chats/session-*.jsonl`) gives the reader the
//!   usage the server reported (without hooks gaffer does not know which chat is the pane's).

use gaffer_coordinator::observe::transcript::{TranscriptKind, TranscriptTail};
use gaffer_core::agent_files::ContextWindows;
use gaffer_model_sim::{Mode, ModelServer, Reply, Script, Usage};
use gaffer_testkit::real_agent::{self, LaunchOptions};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{netns, wait_until};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The input tokens the server reports for every request.
const TOKENS: u64 = 50_000;

struct Rig {
    tmux: TmuxServer,
    session: String,
    dir: tempfile::TempDir,
    server: ModelServer,
    pane: String,
    home: PathBuf,
}

impl Rig {
    fn start(kind: &str) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join(".git")).expect("project marker");
        let server =
            ModelServer::start("127.0.0.1:0", Script::builtin(), None).expect("model server");
        server.set_mode(Some(Mode {
            reply: Reply::Text {
                text: "Counted.".into(),
                chunks: 1,
                chunk_delay_ms: 0,
                first_delay_ms: 0,
            },
            then: Vec::new(),
            usage: Some(Usage {
                input_tokens: TOKENS,
                output_tokens: 20,
            }),
            times: None,
        }));
        let home = dir.path().join("home");
        let cwd = dir.path().join("proj");
        let launch = real_agent::prepare(
            kind,
            &home,
            &cwd,
            &server.url(),
            &LaunchOptions {
                context_window: Some(200_000),
                ..Default::default()
            },
        )
        .expect("prepare the CLI");
        let session = format!("tr{kind}");
        let tmux = TmuxServer::new(&session);
        let title = format!("{session}__{kind}_1");
        let pane = tmux.agent(&session, &title, &launch.shell_command());
        Rig {
            tmux,
            session,
            dir,
            server,
            pane,
            home,
        }
    }

    fn status(&self) -> Value {
        let out = gaffer_testkit::cli::run(
            env!("CARGO_BIN_EXE_gaffer"),
            self.dir.path(),
            &[
                "status",
                "--socket",
                &self.tmux.name,
                "--session",
                &self.session,
                "--json",
            ],
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["agents"].get(0).cloned().unwrap_or_default()
    }

    /// Waits for the prompt, types one, and waits until the server answered it.
    fn one_turn(&self) {
        let ready = wait_until(Duration::from_secs(90), || {
            self.status()["status"] == "WAITING"
        });
        assert!(ready, "never WAITING: {}", self.tmux.capture(&self.pane));
        let before = self.server.log().len();
        self.tmux.run(&[
            "send-keys",
            "-t",
            &self.pane,
            "-l",
            "count the tokens please",
        ]);
        std::thread::sleep(Duration::from_millis(400));
        self.tmux.run(&["send-keys", "-t", &self.pane, "Enter"]);
        // a CLI still settling can take the first Enter as part of the typed text: press it
        // again while the prompt still sits in the composer (the bottom lines)
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(1500));
            if self.server.log().len() > before {
                break;
            }
            let screen = self.tmux.capture(&self.pane);
            let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
            let bottom = &lines[lines.len().saturating_sub(8)..];
            if !bottom.iter().any(|l| l.contains("count the tokens please")) {
                break;
            }
            self.tmux.run(&["send-keys", "-t", &self.pane, "Enter"]);
        }
        let answered = wait_until(Duration::from_secs(90), || {
            self.server.log().len() > before && self.tmux.capture(&self.pane).contains("Counted.")
        });
        assert!(answered, "no answer: {}", self.tmux.capture(&self.pane));
    }
}

fn exact_context(kind: &str) {
    let rig = Rig::start(kind);
    rig.one_turn();
    let mut last = Value::Null;
    let ok = wait_until(Duration::from_secs(30), || {
        last = rig.status();
        last["context_source"] == "transcript"
    });
    assert!(ok, "no transcript figure: {last:#}");
    let window = last["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|n| n["source"] == "transcript"))
        .and_then(|n| n["what"].as_str())
        .unwrap_or_default()
        .to_string();
    let want_tokens = format!("({TOKENS} of ");
    assert!(window.contains(&want_tokens), "{window}");
    // the percent is the tokens over the window the source names
    let of: f64 = window
        .split(" of ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    assert!(of > 0.0, "{window}");
    let pct = last["context_usage"].as_f64().unwrap_or(-1.0);
    assert!(
        (pct - TOKENS as f64 * 100.0 / of).abs() < 1e-6,
        "{pct} vs {window}"
    );
    eprintln!("{kind}: {window}; {pct:.1}%");
    if kind == "cc" {
        let file = last["sources"]
            .as_array()
            .and_then(|s| s.iter().find(|n| n["source"] == "session_file"))
            .cloned()
            .unwrap_or_default();
        let status = file["what"].as_str().unwrap_or_default();
        assert!(
            ["status idle", "status busy", "status waiting"].contains(&status),
            "session file: {last:#}"
        );
    }
}

#[test]
fn claude_transcript_gives_exact_context_from_the_first_turn() {
    if !netns::run_isolated("claude_transcript_gives_exact_context_from_the_first_turn") {
        return;
    }
    exact_context("cc");
}

#[test]
fn codex_rollout_gives_exact_context_from_the_first_turn() {
    if !netns::run_isolated("codex_rollout_gives_exact_context_from_the_first_turn") {
        return;
    }
    exact_context("cod");
}

fn chat_files(home: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(projects) = std::fs::read_dir(home.join(".gemini").join("tmp")) else {
        return out;
    };
    for p in projects.flatten() {
        if let Ok(chats) = std::fs::read_dir(p.path().join("chats")) {
            out.extend(chats.flatten().map(|c| c.path()).filter(|c| {
                c.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("session-"))
            }));
        }
    }
    out
}

#[test]
fn gemini_chat_file_gives_the_reported_usage() {
    if !netns::run_isolated("gemini_chat_file_gives_the_reported_usage") {
        return;
    }
    let rig = Rig::start("gmi");
    rig.one_turn();
    let windows = ContextWindows::builtin();
    let mut seen = Vec::new();
    let ok = wait_until(Duration::from_secs(30), || {
        seen = chat_files(&rig.home);
        seen.iter().any(|f| {
            let mut t = TranscriptTail::new(f, TranscriptKind::Gemini);
            t.poll().is_ok() && t.reading(&windows).is_some_and(|r| r.tokens == TOKENS)
        })
    });
    let dump: String = seen
        .iter()
        .map(|f| {
            format!(
                "{}:\n{}\n",
                f.display(),
                std::fs::read_to_string(f).unwrap_or_default()
            )
        })
        .collect();
    assert!(ok, "no chat file with {TOKENS} input tokens: {dump}");
}
