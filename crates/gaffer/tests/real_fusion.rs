//! The pinned real CLIs with the hooks `gaffer hooks install` writes, against the scripted
//! model server in a loopback-only network namespace: the hooks fire for real, and the fused
//! verdict of `gaffer status --json` is right in each state and names the hook among its
//! sources. The states the screen cannot show are read right: Gemini's silent retry reads as
//! ERROR with the hook as evidence; Codex streaming reads busy; the context is exact from the
//! first turn. A pane whose hooks are uninstalled mid-run falls back to the screen with no
//! wrong verdict in between.

use gaffer_model_sim::{ErrorKind, Mode, ModelServer, Reply, Script, ToolCall};
use gaffer_testkit::netns;
use gaffer_testkit::real_agent::{self, LaunchOptions};
use gaffer_testkit::tmux::TmuxServer;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Output;
use std::time::{Duration, Instant};

struct Rig {
    tmux: TmuxServer,
    session: String,
    dir: tempfile::TempDir,
    server: ModelServer,
    pane: String,
    home: PathBuf,
    kind: &'static str,
}

impl Rig {
    fn start(kind: &'static str, opts: LaunchOptions) -> Rig {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join(".git")).expect("project marker");
        std::fs::create_dir(dir.path().join(".gaffer")).expect("gaffer dir");
        let server =
            ModelServer::start("127.0.0.1:0", Script::builtin(), None).expect("model server");
        let home = dir.path().join("home");
        let cwd = dir.path().join("proj");
        let launch =
            real_agent::prepare(kind, &home, &cwd, &server.url(), &opts).expect("prepare the CLI");
        let session = format!("fu{kind}");
        let mut rig = Rig {
            tmux: TmuxServer::new(&session),
            session,
            dir,
            server,
            pane: String::new(),
            home,
            kind,
        };
        rig.hooks("install");
        // the launch clears the environment: keep the pane's tmux variables, which the hook
        // reads (as a user's own shell would pass them)
        let mut cmd = launch.shell_command().replacen(
            "exec env -i",
            "exec env -i TMUX_PANE=\"$TMUX_PANE\" TMUX=\"$TMUX\"",
            1,
        );
        if kind == "cod" {
            // Codex 0.171 asks to trust new hooks at start ("Hooks need review", read as
            // BLOCKED: fixture cod/real_blocked_hooks_review); this run trusts them up front
            cmd.push_str(" --dangerously-bypass-hook-trust");
        }
        let title = format!("{}__{kind}_1", rig.session);
        rig.pane = rig.tmux.agent(&rig.session, &title, &cmd);
        rig
    }

    fn gaffer_with_home(&self, args: &[&str]) -> Output {
        gaffer_testkit::cli::command(env!("CARGO_BIN_EXE_gaffer"), self.dir.path())
            .env("HOME", &self.home)
            .env_remove("CLAUDE_CONFIG_DIR")
            .env_remove("CODEX_HOME")
            .args(args)
            .output()
            .expect("gaffer runs")
    }

    fn hooks(&self, verb: &str) {
        let mut args = vec!["hooks", verb];
        if verb == "install" {
            args.extend(["--agent", self.kind]);
        }
        args.push("--user");
        let out = self.gaffer_with_home(&args);
        assert!(
            out.status.success(),
            "hooks {verb}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
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

    fn type_prompt(&self, text: &str) {
        self.tmux.run(&["send-keys", "-t", &self.pane, "-l", text]);
        std::thread::sleep(Duration::from_millis(400));
        self.tmux.run(&["send-keys", "-t", &self.pane, "Enter"]);
        // a CLI that is still settling may take the first Enter as nothing: press it again
        // while the text still sits in the composer (the bottom lines)
        for _ in 0..2 {
            std::thread::sleep(Duration::from_millis(1500));
            let screen = self.tmux.capture(&self.pane);
            let lines: Vec<&str> = screen.lines().filter(|l| !l.trim().is_empty()).collect();
            let bottom = &lines[lines.len().saturating_sub(6)..];
            if !bottom.iter().any(|l| l.contains(text)) {
                break;
            }
            self.tmux.run(&["send-keys", "-t", &self.pane, "Enter"]);
        }
    }

    /// Types `text` and makes sure the turn reached the model server: Enter again (at most
    /// three times, 3 s apart) while no new request arrived (a loaded machine can swallow it).
    fn submit(&self, text: &str) {
        let before = self.server.log().len();
        self.type_prompt(text);
        for _ in 0..3 {
            let end = Instant::now() + Duration::from_secs(3);
            while Instant::now() < end && self.server.log().len() == before {
                std::thread::sleep(Duration::from_millis(100));
            }
            if self.server.log().len() > before {
                return;
            }
            self.tmux.run(&["send-keys", "-t", &self.pane, "Enter"]);
        }
    }

    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux.run(&["send-keys", "-t", &self.pane, k]);
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Polls `gaffer status` until `done` holds (or `secs`); returns every agent object seen.
    fn watch(&self, secs: u64, mut done: impl FnMut(&Value) -> bool) -> Vec<Value> {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            let v = self.status();
            let ok = done(&v);
            seen.push(v);
            if ok || Instant::now() >= end {
                return seen;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits for `done`, failing with the history and the screen.
    fn expect(&self, what: &str, secs: u64, done: impl FnMut(&Value) -> bool) -> Value {
        let mut done = done;
        let seen = self.watch(secs, &mut done);
        let last = seen.last().cloned().unwrap_or_default();
        assert!(
            done(&last),
            "{what}: {}\nlast: {last:#}\nscreen:\n{}",
            brief(&seen),
            self.tmux.capture(&self.pane)
        );
        last
    }
}

/// `STATUS by SOURCE` per observation, repeats collapsed.
fn brief(seen: &[Value]) -> String {
    let mut out: Vec<String> = Vec::new();
    for v in seen {
        let s = format!("{} by {} ({})", v["status"], v["decided_by"], v["rule"]);
        if out.last() != Some(&s) {
            out.push(s);
        }
    }
    out.join(" → ")
}

/// Whether a hook source says `event` (e.g. `stop`, `turn_start`).
fn hook_says(v: &Value, event: &str) -> bool {
    v["sources"].as_array().is_some_and(|s| {
        s.iter().any(|n| {
            n["source"] == "hook" && n["what"].as_str().is_some_and(|w| w.starts_with(event))
        })
    })
}

/// One shell tool call that needs a confirmation (`touch`), then a short reply, once.
fn shell_permission_mode() -> Mode {
    Mode {
        reply: Reply::Tools {
            text: "I will run a command.".into(),
            calls: vec![ToolCall::Shell {
                command: "touch gaffer-shell-ok.txt".into(),
                escalated: false,
            }],
        },
        then: vec![Reply::Text {
            text: "The command ran.".into(),
            chunks: 1,
            chunk_delay_ms: 0,
            first_delay_ms: 0,
        }],
        usage: None,
        times: Some(1),
    }
}

fn structured(v: &Value) -> bool {
    v["decided_by"] == "hook" || v["decided_by"] == "session_file"
}

#[test]
fn claude_with_hooks_reads_each_state_and_falls_back_when_they_go() {
    if !netns::run_isolated("claude_with_hooks_reads_each_state_and_falls_back_when_they_go") {
        return;
    }
    let rig = Rig::start("cc", LaunchOptions::default());
    rig.expect("WAITING at start", 90, |v| v["status"] == "WAITING");
    // a quick turn: the Stop hook, and the exact context from the first turn
    rig.type_prompt("please answer FAST");
    let v = rig.expect("WAITING after the turn, by the stop hook", 60, |v| {
        v["status"] == "WAITING" && hook_says(v, "stop") && v["context_source"] == "transcript"
    });
    assert!(structured(&v), "{v:#}");
    // explain names the sources with their ages
    let out = gaffer_testkit::cli::run(
        env!("CARGO_BIN_EXE_gaffer"),
        rig.dir.path(),
        &[
            "explain",
            "--socket",
            &rig.tmux.name,
            "--session",
            &rig.session,
            &rig.pane,
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("decided by:") && text.contains("screen agrees"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.trim_start().starts_with("hook") && l.contains("stop") && l.contains("ago")),
        "{text}"
    );
    // streaming: busy, the turn-start hook named
    rig.type_prompt("please answer SLOW");
    let v = rig.expect("busy while it streams", 30, |v| {
        v["status"] == "GENERATING" && hook_says(v, "turn_start")
    });
    assert!(structured(&v), "{v:#}");
    rig.expect("WAITING after the slow turn", 60, |v| {
        v["status"] == "WAITING" && hook_says(v, "stop")
    });
    // a tool that needs permission: BLOCKED, the permission hook named
    rig.server.set_mode(Some(shell_permission_mode()));
    rig.type_prompt("run the command");
    let v = rig.expect("BLOCKED at the permission dialog", 60, |v| {
        v["status"] == "BLOCKED" && hook_says(v, "permission_request")
    });
    eprintln!("cc blocked: by {} ({})", v["decided_by"], v["rule"]);
    rig.keys(&["Escape"]);
    rig.expect("WAITING after the dialog is dismissed", 30, |v| {
        v["status"] == "WAITING"
    });
    // the dismissed call's result travels with the next prompt, which the model server then
    // reads as a follow-up (a quick reply): spend it on a quick turn, so the slow prompt below
    // is a fresh turn
    rig.server.set_mode(None);
    let before = rig.server.log().len();
    rig.type_prompt("please answer FAST once more");
    rig.expect("WAITING after a quick turn", 60, |v| {
        v["status"] == "WAITING" && rig.server.log().len() > before
    });
    // the hooks go; the next turn is read right, never wrongly in between
    rig.hooks("uninstall");
    let before = rig.server.log().len();
    rig.type_prompt("please answer SLOW again");
    let mut busy_seen = false;
    let seen = rig.watch(60, |v| {
        busy_seen |= v["status"] == "GENERATING" || v["status"] == "THINKING";
        busy_seen && v["status"] == "WAITING" && rig.server.log().len() > before
    });
    assert!(
        busy_seen,
        "the slow turn read busy: {}\nrequests before {before}, now {}\n{}",
        brief(&seen),
        rig.server.log().len(),
        rig.tmux.capture(&rig.pane)
    );
    let wrong: Vec<&Value> = seen
        .iter()
        .filter(|v| {
            !matches!(
                v["status"].as_str(),
                Some("WAITING" | "GENERATING" | "THINKING")
            )
        })
        .collect();
    assert!(wrong.is_empty(), "wrong verdicts: {}", brief(&seen));
    let last = seen.last().cloned().unwrap_or_default();
    assert_eq!(last["status"], "WAITING", "{}", brief(&seen));
    eprintln!("cc after uninstall: {}", brief(&seen));
}

#[test]
fn gemini_silent_retry_reads_as_error_with_the_hook_as_evidence() {
    if !netns::run_isolated("gemini_silent_retry_reads_as_error_with_the_hook_as_evidence") {
        return;
    }
    let rig = Rig::start("gmi", LaunchOptions::default());
    rig.expect("WAITING at start", 90, |v| v["status"] == "WAITING");
    // the first turn: the exact context from the transcript the hook names (BIGCTX: the
    // server reports 950000 input tokens)
    rig.type_prompt("answer with BIGCTX");
    let v = rig.expect(
        "WAITING after the turn, by the hook, exact context",
        60,
        |v| v["status"] == "WAITING" && hook_says(v, "stop") && v["context_source"] == "transcript",
    );
    assert!(structured(&v), "{v:#}");
    let what = v["sources"]
        .as_array()
        .and_then(|s| s.iter().find(|n| n["source"] == "transcript"))
        .and_then(|n| n["what"].as_str())
        .unwrap_or_default()
        .to_string();
    assert!(what.contains("(950000 of "), "{what}");
    eprintln!("gmi BIGCTX: {what}; {}%", v["context_usage"]);
    rig.type_prompt("please answer SLOW");
    rig.expect("busy while it streams, the hook named", 30, |v| {
        v["status"]
            .as_str()
            .is_some_and(|s| s == "GENERATING" || s == "THINKING")
            && hook_says(v, "turn_start")
    });
    rig.expect("WAITING after the slow turn", 60, |v| {
        v["status"] == "WAITING"
    });
    for (prompt, secs) in [("hit ERR503 now", 40), ("hit RATE429 now", 75)] {
        rig.type_prompt(prompt);
        let v = rig.expect(&format!("{prompt}: retrying reads ERROR"), secs, |v| {
            v["status"] == "ERROR" || v["status"] == "RATE_LIMITED"
        });
        let evidence = v["evidence"].to_string();
        assert!(
            (v["decided_by"] == "hook" && evidence.contains("model_request"))
                || v["decided_by"] == "screen",
            "{v:#}"
        );
        eprintln!(
            "gmi {prompt}: {} by {} ({}) evidence {evidence}",
            v["status"], v["decided_by"], v["rule"]
        );
        rig.keys(&["Escape"]);
        rig.expect("WAITING after Esc", 30, |v| v["status"] == "WAITING");
    }
}

#[test]
fn codex_streaming_reads_busy_with_the_hook_named() {
    if !netns::run_isolated("codex_streaming_reads_busy_with_the_hook_named") {
        return;
    }
    let rig = Rig::start("cod", LaunchOptions::default());
    rig.expect("WAITING at start", 90, |v| v["status"] == "WAITING");
    rig.type_prompt("please answer FAST");
    rig.expect("WAITING after the turn", 60, |v| {
        v["status"] == "WAITING" && v["context_source"] == "transcript"
    });
    rig.type_prompt("please answer SLOW");
    let seen = rig.watch(30, |v| {
        v["status"] == "GENERATING" && hook_says(v, "turn_start")
    });
    let last = seen.last().cloned().unwrap_or_default();
    eprintln!("cod SLOW: {}", brief(&seen));
    assert!(
        last["status"] == "GENERATING" && hook_says(&last, "turn_start"),
        "{}\n{last:#}\n{}",
        brief(&seen),
        rig.tmux.capture(&rig.pane)
    );
    rig.expect("WAITING after the slow turn, by the stop hook", 60, |v| {
        v["status"] == "WAITING" && hook_says(v, "stop")
    });
}

/// The dialog and the exit with hooks, on a CLI other than Claude Code: the permission hook
/// (Codex's `PermissionRequest`, Gemini's `Notification` of a `ToolPermission`) is named while
/// BLOCKED, and `SessionEnd` when the CLI quits (the pane kept, dead, by `remain-on-exit`).
fn dialog_and_exit_with_hooks(kind: &'static str, prompt: &str, approve: &[&str]) {
    let rig = Rig::start(kind, LaunchOptions::default());
    rig.tmux
        .run(&["set-option", "-p", "-t", &rig.pane, "remain-on-exit", "on"]);
    rig.expect("WAITING at start", 90, |v| v["status"] == "WAITING");
    if kind == "gmi" {
        // `touch` needs a confirmation in Gemini CLI (an `echo` would run without asking)
        rig.server.set_mode(Some(shell_permission_mode()));
    }
    rig.type_prompt(prompt);
    let v = rig.expect(
        "BLOCKED at the permission dialog, the hook named",
        60,
        |v| v["status"] == "BLOCKED" && hook_says(v, "permission_request"),
    );
    eprintln!("{kind} blocked: by {} ({})", v["decided_by"], v["rule"]);
    rig.keys(approve);
    rig.expect("WAITING after the approved command ran", 60, |v| {
        v["status"] == "WAITING" && hook_says(v, "stop")
    });
    assert!(
        rig.server.log().iter().any(|e| e
            .turn
            .as_ref()
            .is_some_and(|t| t.tool_results_since_user > 0)),
        "the command ran and its result reached the model"
    );
    rig.type_prompt("/quit");
    // Gemini's slash-command menu can take an Enter to complete the command (the composer then
    // still holds it, above the menu and the footer): press Enter again while it does
    for _ in 0..3 {
        let screen = rig.tmux.capture(&rig.pane);
        if !screen.lines().any(|l| l.trim_start().ends_with("> /quit")) {
            break;
        }
        rig.tmux.run(&["send-keys", "-t", &rig.pane, "Enter"]);
        std::thread::sleep(Duration::from_millis(1500));
    }
    let v = rig.expect("EXITED after /quit, the session-end hook named", 60, |v| {
        v["status"] == "EXITED" && hook_says(v, "session_end")
    });
    eprintln!("{kind} exited: by {} ({})", v["decided_by"], v["rule"]);
}

#[test]
fn codex_with_hooks_reads_the_dialog_and_the_exit() {
    if !netns::run_isolated("codex_with_hooks_reads_the_dialog_and_the_exit") {
        return;
    }
    dialog_and_exit_with_hooks("cod", "run SHELL now", &["y"]);
}

#[test]
fn gemini_with_hooks_reads_the_dialog_and_the_exit() {
    if !netns::run_isolated("gemini_with_hooks_reads_the_dialog_and_the_exit") {
        return;
    }
    dialog_and_exit_with_hooks("gmi", "run the command", &["Enter"]);
}

/// Every reply an HTTP error (`retry_after` seconds; `retry: false` sends `x-should-retry:
/// false`), until the mode is cleared.
fn error_mode(status: u16, error: ErrorKind, retry_after: Option<u64>, retry: bool) -> Mode {
    Mode {
        reply: Reply::Error {
            status,
            error,
            retry_after,
            should_retry: (!retry).then_some(false),
            message: None,
        },
        then: vec![],
        usage: None,
        times: None,
    }
}

/// What the hook source of `event` says (`turn_failed (StopFailure): rate_limit`), if any.
fn hook_what(v: &Value, event: &str) -> String {
    v["sources"]
        .as_array()
        .and_then(|s| {
            s.iter().find(|n| {
                n["source"] == "hook" && n["what"].as_str().is_some_and(|w| w.starts_with(event))
            })
        })
        .and_then(|n| n["what"].as_str())
        .unwrap_or_default()
        .to_string()
}

/// The fusion rule that settled the verdict (`agree`, `R1`, …).
fn fusion_rule(v: &Value) -> &str {
    v["verdict"]["fusion"]["rule"].as_str().unwrap_or_default()
}

/// Observations after the first busy one that read WAITING (a failing turn is never idle).
fn idle_while_failing(seen: &[Value]) -> Vec<String> {
    seen.iter()
        .skip_while(|v| v["status"] == "WAITING")
        .filter(|v| v["status"] == "WAITING")
        .map(|v| format!("WAITING by {} ({})", v["decided_by"], fusion_rule(v)))
        .collect()
}

/// Observations, from the first that names the failed turn's hook (`class`), whose status is
/// not `want`: from the hook on, the verdict holds, even while the screen still lags.
fn off_after_failure(seen: &[Value], class: &str, want: &str) -> Vec<String> {
    let suffix = format!(": {class}");
    seen.iter()
        .skip_while(|v| !hook_what(v, "turn_failed").ends_with(&suffix))
        .filter(|v| v["status"] != want)
        .map(|v| {
            format!(
                "{} by {} ({})",
                v["status"],
                v["decided_by"],
                fusion_rule(v)
            )
        })
        .collect()
}

/// Claude Code with hooks: a 429 retried (`retry-after`), then its final error, reads
/// RATE_LIMITED, and a 500 reads ERROR, each decided by the hook the CLI fires as the turn fails
/// (`StopFailure` with the error class) with the screen agreeing; the next turn is read afresh.
#[test]
fn claude_with_hooks_reads_rate_limit_and_error() {
    if !netns::run_isolated("claude_with_hooks_reads_rate_limit_and_error") {
        return;
    }
    // two retries (1 s apart) instead of ten, so the final error comes within seconds
    let rig = Rig::start(
        "cc",
        LaunchOptions {
            env: vec![("CLAUDE_CODE_MAX_RETRIES".into(), "2".into())],
            ..Default::default()
        },
    );
    rig.expect("WAITING at start", 90, |v| v["status"] == "WAITING");
    rig.server
        .set_mode(Some(error_mode(429, ErrorKind::RateLimit, Some(1), true)));
    rig.submit("hello there");
    // until the screen shows the final error too (the hook may come first: R10 holds the
    // failure while the screen still shows the busy footer or the retry line)
    let seen = rig.watch(40, |v| {
        v["status"] == "RATE_LIMITED"
            && v["decided_by"] == "hook"
            && hook_what(v, "turn_failed").ends_with(": rate_limit")
            && v["rule"] == "cc.rate_limited"
    });
    let v = seen.last().cloned().unwrap_or_default();
    eprintln!("cc 429: {}", brief(&seen));
    assert!(
        v["status"] == "RATE_LIMITED"
            && v["decided_by"] == "hook"
            && hook_what(&v, "turn_failed") == "turn_failed (StopFailure): rate_limit",
        "{}\n{v:#}\n{}",
        brief(&seen),
        rig.tmux.capture(&rig.pane)
    );
    // the screen shows the final error and agrees; its rule (and reset time) stay
    assert_eq!(fusion_rule(&v), "agree", "{v:#}");
    assert_eq!(v["rule"], "cc.rate_limited", "{v:#}");
    let retried = rig.server.log().len();
    assert!(retried >= 3, "the 429 was retried: {retried} requests");
    assert!(idle_while_failing(&seen).is_empty(), "{}", brief(&seen));
    let off = off_after_failure(&seen, "rate_limit", "RATE_LIMITED");
    assert!(off.is_empty(), "{off:?}: {}", brief(&seen));
    // a server error: the turn fails at once
    rig.server
        .set_mode(Some(error_mode(500, ErrorKind::Internal, None, false)));
    rig.submit("hello again");
    let seen = rig.watch(30, |v| {
        v["status"] == "ERROR"
            && v["decided_by"] == "hook"
            && hook_what(v, "turn_failed").ends_with(": server_error")
            && fusion_rule(v) == "agree"
    });
    let v = seen.last().cloned().unwrap_or_default();
    eprintln!("cc 500: {}", brief(&seen));
    assert!(
        v["status"] == "ERROR"
            && v["decided_by"] == "hook"
            && hook_what(&v, "turn_failed") == "turn_failed (StopFailure): server_error"
            && fusion_rule(&v) == "agree",
        "{}\n{v:#}\n{}",
        brief(&seen),
        rig.tmux.capture(&rig.pane)
    );
    assert!(idle_while_failing(&seen).is_empty(), "{}", brief(&seen));
    let off = off_after_failure(&seen, "server_error", "ERROR");
    assert!(off.is_empty(), "{off:?}: {}", brief(&seen));
    // the failure does not stick: the next turn ends WAITING by its stop
    rig.server.set_mode(None);
    rig.type_prompt("please answer FAST");
    // (Claude writes its session file `idle` just after the Stop hook: either may decide)
    rig.expect("WAITING after a good turn, the stop hook named", 30, |v| {
        v["status"] == "WAITING" && structured(v) && hook_says(v, "stop")
    });
}

/// Codex with hooks: a 503, retried (`Reconnecting...`) and then final, reads ERROR all along.
/// Codex 0.171 fires no hook when a turn fails (no `Stop`, and it has no failure event), so the
/// turn-start hook is the hook among the sources and the screen's error wins over it (R1); the
/// error holds (the busy hook never ages it out), and the next turn is read afresh.
#[test]
fn codex_with_hooks_reads_error() {
    if !netns::run_isolated("codex_with_hooks_reads_error") {
        return;
    }
    let rig = Rig::start("cod", LaunchOptions::default());
    rig.expect("WAITING at start", 90, |v| v["status"] == "WAITING");
    rig.submit("fail ERR503 now");
    let final_error = |v: &Value| {
        v["status"] == "ERROR" && v["rule"] == "cod.error.stream" && hook_says(v, "turn_start")
    };
    let mut seen = rig.watch(60, final_error);
    let v = seen.last().cloned().unwrap_or_default();
    assert!(
        final_error(&v) && v["decided_by"] == "screen" && fusion_rule(&v) == "R1",
        "{}\n{v:#}\n{}",
        brief(&seen),
        rig.tmux.capture(&rig.pane)
    );
    assert!(
        rig.tmux
            .capture(&rig.pane)
            .contains("unexpected status 503"),
        "{}",
        rig.tmux.capture(&rig.pane)
    );
    // it holds past the settle window (a stale busy hook must not turn it back)
    let end = Instant::now() + Duration::from_secs(3);
    seen.extend(rig.watch(4, |_| Instant::now() >= end));
    eprintln!("cod 503: {}", brief(&seen));
    let last = seen.last().cloned().unwrap_or_default();
    assert!(final_error(&last), "{}", brief(&seen));
    assert!(idle_while_failing(&seen).is_empty(), "{}", brief(&seen));
    rig.type_prompt("please answer FAST");
    rig.expect("WAITING after a good turn, by the stop hook", 30, |v| {
        v["status"] == "WAITING" && hook_says(v, "stop")
    });
}
