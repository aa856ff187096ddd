//! The real Gemini CLI (the version pinned in `agents.lock`) in tmux, against the scripted model
//! server, read by the real `gaffer` binary: every state the CLI can show, and delivery of
//! hostile text into its composer.
//!
//! Each test re-runs itself inside a loopback-only network namespace (the model server, tmux and
//! the CLI all live there). The CLI instances of one test start together, one per window, and
//! each is driven through its states on its own thread.

use gaffer_model_sim::{ErrorKind, Mode, ModelServer, Reply, Rule, Script, ToolCall};
use gaffer_testkit::real_agent::{self, Launch, LaunchOptions};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{netns, wait_until};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const SESSION: &str = "rg";

/// The tests of this file run one after the other (each starts several CLIs; the machine is
/// small).
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The built-in script plus a few gmi-only keywords (a tool call the CLI does not auto-approve,
/// a 429 with a short retry delay, a 400 that is not retried).
fn script() -> Script {
    let mut s = Script::builtin();
    let extra = vec![
        Rule {
            pattern: r"\bGMITOOL\b".into(),
            reply: Reply::Tools {
                text: "I will run a command.".into(),
                // `echo` is read-only and runs without asking; `touch` needs a confirmation.
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
        },
        Rule {
            pattern: r"\bGMIRATE\b".into(),
            reply: Reply::Error {
                status: 429,
                error: ErrorKind::RateLimit,
                retry_after: Some(2),
                should_retry: None,
                message: None,
            },
            then: vec![],
            usage: None,
        },
        Rule {
            pattern: r"\bGMIBAD400\b".into(),
            reply: Reply::Error {
                status: 400,
                error: ErrorKind::Internal,
                retry_after: None,
                should_retry: None,
                message: Some("Request contains an invalid argument.".into()),
            },
            then: vec![],
            usage: None,
        },
        Rule {
            // Thinks for 6 s (thought summaries), then the answer streams for ~8 s.
            pattern: r"\bGMITHINKSTREAM\b".into(),
            reply: Reply::Text {
                text: "After thinking, the answer streams in small pieces for a while, so the \
                       indicator is seen again while the text arrives."
                    .into(),
                chunks: 16,
                chunk_delay_ms: 500,
                first_delay_ms: 6000,
            },
            then: vec![],
            usage: None,
        },
        Rule {
            // The same line over and over: the CLI's loop detection halts the reply.
            pattern: r"\bGMILOOP\b".into(),
            reply: Reply::Text {
                text: "word word word word word word word word word word\n".repeat(400),
                chunks: 10,
                chunk_delay_ms: 100,
                first_delay_ms: 0,
            },
            then: vec![],
            usage: None,
        },
    ];
    s.rules.splice(0..0, extra);
    s
}

/// One running test: the model server, a private tmux server, a temp dir.
struct Rig {
    dir: tempfile::TempDir,
    server: ModelServer,
    tmux: TmuxServer,
}

impl Rig {
    fn new(tag: &str) -> Rig {
        let server =
            ModelServer::start("127.0.0.1:0", script(), None).expect("model server starts");
        let tmux = TmuxServer::new(tag);
        // A session of its own keeps the server up, and dead panes stay on screen, so a CLI
        // that exits shows why.
        tmux.run(&["new-session", "-d", "-s", "hold", "sleep 3600"]);
        tmux.run(&["set-option", "-g", "remain-on-exit", "on"]);
        Rig {
            dir: tempfile::tempdir().expect("temp dir"),
            server,
            tmux,
        }
    }

    /// Launches the real CLI `n` in its own window titled `rg__gmi_<n>`.
    fn launch(&self, n: usize, opts: LaunchOptions) -> Agent {
        let base = self.dir.path().join(format!("a{n}"));
        let launch = real_agent::prepare(
            "gmi",
            &base.join("home"),
            &base.join("proj"),
            &self.server.url(),
            &opts,
        )
        .expect("launch prepared");
        let title = format!("{SESSION}__gmi_{n}");
        let pane = self.tmux.agent(SESSION, &title, &launch.shell_command());
        Agent {
            pane,
            title,
            launch,
        }
    }

    /// Like [`Rig::launch`], with `model.compressionThreshold` set in the CLI's settings (the
    /// fraction of the context window at which it compresses the history before a turn).
    fn launch_with_threshold(&self, n: usize, threshold: f64) -> Agent {
        let base = self.dir.path().join(format!("a{n}"));
        let home = base.join("home");
        let launch = real_agent::prepare(
            "gmi",
            &home,
            &base.join("proj"),
            &self.server.url(),
            &LaunchOptions::default(),
        )
        .expect("launch prepared");
        let path = real_agent::gmi::settings_path(&home);
        let mut settings: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("settings written"))
                .expect("settings are JSON");
        settings["model"] = serde_json::json!({ "compressionThreshold": threshold });
        std::fs::write(&path, settings.to_string()).expect("settings rewritten");
        let title = format!("{SESSION}__gmi_{n}");
        let pane = self.tmux.agent(SESSION, &title, &launch.shell_command());
        Agent {
            pane,
            title,
            launch,
        }
    }

    /// With `GAFFER_GMI_CAPTURE=<dir>`, saves what the pane shows now as `<dir>/<name>.txt`
    /// (the source of the `real_*` screen fixtures).
    fn keep(&self, agent: &Agent, name: &str) {
        if let Some(dir) = std::env::var_os("GAFFER_GMI_CAPTURE") {
            let dir = PathBuf::from(dir);
            let _ = std::fs::create_dir_all(&dir);
            let _ = std::fs::write(
                dir.join(format!("{name}.txt")),
                self.tmux.capture(&agent.pane),
            );
        }
    }

    fn gaffer(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_gaffer"))
            .args(args)
            .current_dir(self.dir.path())
            .env("GAFFER_LOG", "warn")
            .output()
            .expect("gaffer runs")
    }

    /// gaffer's status line for `agent` (`gaffer status --json`).
    fn status(&self, agent: &Agent) -> Value {
        let out = self.gaffer(&[
            "status",
            "--socket",
            &self.tmux.name,
            "--session",
            SESSION,
            "--json",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        v["agents"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["pane_id"] == agent.pane.as_str()))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Whether the test's tmux server still runs (its holding session is there).
    fn server_alive(&self) -> bool {
        self.tmux.tmux.has_session("hold").unwrap_or(false)
    }

    /// What the pane shows and how gaffer explains it, for failure messages.
    fn evidence(&self, agent: &Agent) -> String {
        if !self.server_alive() {
            return format!(
                "--- the test's tmux server {} is gone (every CLI exited, or something outside \
                 the test killed the server)",
                self.tmux.name
            );
        }
        let explain = self.gaffer(&[
            "explain",
            "--socket",
            &self.tmux.name,
            "--session",
            SESSION,
            &agent.pane,
        ]);
        format!(
            "--- {} ({}) screen:\n{}\n--- gaffer explain:\n{}{}",
            agent.title,
            agent.pane,
            self.tmux.capture(&agent.pane),
            String::from_utf8_lossy(&explain.stdout),
            String::from_utf8_lossy(&explain.stderr),
        )
    }

    /// Waits until gaffer reads `agent` as `want`; returns the status JSON or panics with the
    /// screen and gaffer's explanation.
    fn expect(&self, agent: &Agent, want: &str, secs: u64, what: &str) -> Value {
        let mut last = Value::Null;
        let mut gone = false;
        let ok = wait_until(Duration::from_secs(secs), || {
            if gone {
                return false;
            }
            last = self.status(agent);
            if last["status"] == want {
                return true;
            }
            if last.is_null() && !self.server_alive() {
                // Nothing to wait for: the tmux server is gone (see `evidence`).
                gone = true;
                return false;
            }
            std::thread::sleep(Duration::from_millis(300));
            false
        });
        assert!(
            ok,
            "{what}: gaffer reads {} as {} ({}), expected {want}\n{}",
            agent.title,
            last["status"],
            last["reason"],
            self.evidence(agent)
        );
        last
    }

    /// Types `text` into the composer and presses Enter (apart: the CLI takes a fast Enter as
    /// part of a paste). Enter again if the text is still in the composer (the CLI ignores keys
    /// for a moment after a turn ends).
    fn type_prompt(&self, agent: &Agent, text: &str) {
        self.tmux.run(&["send-keys", "-t", &agent.pane, "-l", text]);
        // The composer is among the last few lines (the footer is two); the echo of a sent
        // prompt further up has the same shape.
        let in_composer = || {
            self.tmux
                .capture(&agent.pane)
                .lines()
                .filter(|l| !l.trim().is_empty())
                .rev()
                .take(5)
                .find(|l| l.starts_with(" > ") || l.starts_with('>'))
                .is_some_and(|l| l.contains(text))
        };
        let typed = wait_until(Duration::from_secs(5), in_composer);
        assert!(typed, "{text:?} is typed\n{}", self.evidence(agent));
        for _ in 0..3 {
            std::thread::sleep(Duration::from_millis(400));
            self.keys(agent, &["Enter"]);
            if wait_until(Duration::from_secs(2), || !in_composer()) {
                return;
            }
        }
        panic!("{text:?} was not submitted\n{}", self.evidence(agent));
    }

    fn keys(&self, agent: &Agent, keys: &[&str]) {
        for k in keys {
            self.tmux.run(&["send-keys", "-t", &agent.pane, k]);
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Main-model requests (tools offered) whose last user text contains `keyword`.
    fn requests_with(&self, keyword: &str) -> usize {
        self.server
            .log()
            .iter()
            .filter_map(|e| e.turn.as_ref())
            .filter(|t| t.has_tools && t.last_user_text.contains(keyword))
            .count()
    }
}

struct Agent {
    pane: String,
    title: String,
    launch: Launch,
}

/// The number right before `suffix` on the bottom-most line that has it (`0% used`,
/// `951.4k tokens`), with a `k`/`M` multiplier.
fn footer_number(screen: &str, suffix: &str) -> Option<f64> {
    let line = screen.lines().rev().find(|l| l.contains(suffix))?;
    let head = &line[..line.find(suffix)?];
    let word = head.split_whitespace().last()?;
    let (num, mult) = match word.chars().last()? {
        'k' => (&word[..word.len() - 1], 1e3),
        'M' => (&word[..word.len() - 1], 1e6),
        _ => (word, 1.0),
    };
    num.parse::<f64>().ok().map(|n| n * mult)
}

/// The footer's `N% used`.
fn footer_percent(screen: &str) -> Option<f64> {
    footer_number(screen, "% used")
}

/// The footer's token count (`951.4k tokens`).
fn footer_tokens(screen: &str) -> Option<f64> {
    footer_number(screen, " tokens")
}

/// A state scenario for one CLI instance.
type Scenario = dyn Fn(&Rig, &Agent) + Sync;

/// Runs each scenario on its own thread; returns the titles of the ones that failed.
fn run_all(rig: &Rig, scenarios: Vec<(&Agent, &Scenario)>) -> Vec<String> {
    std::thread::scope(|s| {
        let handles: Vec<_> = scenarios
            .into_iter()
            .map(|(agent, f)| (agent.title.clone(), s.spawn(move || f(rig, agent))))
            .collect();
        handles
            .into_iter()
            .filter_map(|(title, h)| h.join().is_err().then_some(title))
            .collect()
    })
}

/// Idle, busy while text streams, a reply with a huge reported prompt (the context column).
fn idle_busy_context(rig: &Rig, a: &Agent) {
    let v = rig.expect(a, "WAITING", 60, "after start");
    assert_eq!(v["rule"], "gmi.waiting.composer");
    rig.type_prompt(a, "answer FAST please");
    // The screen between the submit and the first spinner frame is the idle composer again, so
    // WAITING alone does not say the turn is over: wait for the reply, then for the state.
    let replied = wait_until(Duration::from_secs(30), || {
        rig.tmux.capture(&a.pane).contains("Here is a fast answer.")
    });
    assert!(replied, "the fast reply is shown\n{}", rig.evidence(a));
    rig.expect(a, "WAITING", 30, "after a fast reply");

    rig.type_prompt(a, "answer SLOW please");
    let v = rig.expect(a, "GENERATING", 20, "while the slow answer streams");
    assert_eq!(v["rule"], "gmi.busy.spinner");
    // Still busy once text is on screen: the indicator stays while the answer streams.
    let streaming = wait_until(Duration::from_secs(15), || {
        rig.tmux
            .capture(&a.pane)
            .contains("✦ This answer streams slowly")
    });
    assert!(streaming, "the answer streams\n{}", rig.evidence(a));
    rig.expect(a, "GENERATING", 5, "with streamed text on screen");
    rig.expect(a, "WAITING", 40, "after the slow answer");

    // A reply that reports 950k prompt tokens: the tokens column shows it at once; the context
    // column (the last prompt count / 1,048,576) does not yet: 0.61.0 takes the count from the
    // reply's `usageMetadata` when the stream ends, after its last footer refresh of the turn.
    // gaffer reads the context column as the screen shows it.
    rig.type_prompt(a, "BIGCTX please");
    let shown = wait_until(Duration::from_secs(30), || {
        footer_tokens(&rig.tmux.capture(&a.pane)).is_some_and(|t| t >= 900_000.0)
    });
    assert!(shown, "the tokens column shows ~950k\n{}", rig.evidence(a));
    let v = rig.expect(a, "WAITING", 20, "after the big-context reply");
    let screen = rig.tmux.capture(&a.pane);
    let pct = footer_percent(&screen).expect("the footer shows `N% used`");
    assert_eq!(
        v["context_usage"].as_f64(),
        Some(pct),
        "gaffer's context usage is the footer's `{pct}% used`\n{}",
        rig.evidence(a)
    );

    // The reported 950k prompt tokens are 91% of the 1,048,576-token window, over the default
    // compression threshold (50%): before the next turn the CLI compresses the history and says
    // so (`Context compressed from 91% to M%.`); the footer and gaffer come back down.
    rig.type_prompt(a, "answer FAST please");
    let compressed = wait_until(Duration::from_secs(30), || {
        rig.tmux
            .capture(&a.pane)
            .contains("Context compressed from 91% to")
    });
    assert!(compressed, "the history is compressed\n{}", rig.evidence(a));
    let v = rig.expect(
        a,
        "WAITING",
        30,
        "after the turn that compressed the history",
    );
    let screen = rig.tmux.capture(&a.pane);
    rig.keep(a, "real_context_compressed");
    let to = screen
        .lines()
        .find_map(|l| l.split("Context compressed from 91% to ").nth(1))
        .and_then(|rest| rest.split('%').next())
        .and_then(|n| n.trim().parse::<f64>().ok())
        .expect("the compression note gives the new figure");
    let pct = footer_percent(&screen).expect("the footer shows `N% used`");
    assert!(
        to < 91.0 && pct < 91.0,
        "context back down: note {to}%, footer {pct}%"
    );
    assert_eq!(
        v["context_usage"].as_f64(),
        Some(pct),
        "gaffer's context usage after compression is the footer's `{pct}% used`\n{}",
        rig.evidence(a)
    );
}

/// With compression set to start at 95%, the reported 950k prompt tokens (91% of the window)
/// reach the footer: 0.61.0 takes the count from the reply's `usageMetadata` when the stream
/// ends, after its last footer refresh of that turn, so it shows from the next turn on.
fn near_full_context(rig: &Rig, a: &Agent) {
    rig.expect(a, "WAITING", 60, "after start");
    rig.type_prompt(a, "BIGCTX please");
    rig.expect(a, "WAITING", 30, "after the big-context reply");
    rig.type_prompt(a, "answer FAST please");
    let shown = wait_until(Duration::from_secs(30), || {
        footer_percent(&rig.tmux.capture(&a.pane)) == Some(91.0)
    });
    assert!(shown, "the footer shows `91% used`\n{}", rig.evidence(a));
    let v = rig.expect(a, "WAITING", 30, "after the turn that follows");
    let screen = rig.tmux.capture(&a.pane);
    rig.keep(a, "real_context_near_full");
    assert!(
        !screen.contains("Context compressed"),
        "no compression under the 95% threshold"
    );
    assert_eq!(
        footer_percent(&screen),
        Some(91.0),
        "the footer still shows 91%"
    );
    assert_eq!(
        v["context_usage"].as_f64(),
        Some(91.0),
        "gaffer's context usage is the footer's `91% used`\n{}",
        rig.evidence(a)
    );
}

/// Silence before the first token, then the answer; then an error that is not retried.
fn silence_then_error(rig: &Rig, a: &Agent) {
    rig.expect(a, "WAITING", 60, "after start");
    // Before its answer the model streams thought summaries: the loading indicator shows the
    // latest one's subject instead of `Thinking...`.
    rig.type_prompt(a, "wait SILENT please");
    let v = rig.expect(a, "THINKING", 15, "while the model thinks");
    let screen = rig.tmux.capture(&a.pane);
    rig.keep(a, "real_thinking");
    assert!(
        !screen.contains("After a long silence"),
        "no answer text yet"
    );
    assert!(
        [
            "Reading the request",
            "Weighing the options",
            "Drafting the answer"
        ]
        .iter()
        .any(|s| screen.contains(&format!("{s} (esc to cancel"))),
        "a thought subject is in the indicator\n{screen}"
    );
    assert_eq!(v["rule"], "gmi.thinking.subject");
    rig.expect(a, "WAITING", 40, "after the late answer");
    assert!(rig.tmux.capture(&a.pane).contains("After a long silence"));

    // Thinking, then the answer streams: the indicator goes back to `Thinking...` (GENERATING).
    rig.type_prompt(a, "wait GMITHINKSTREAM please");
    rig.expect(a, "THINKING", 15, "while the model thinks before streaming");
    let streaming = wait_until(Duration::from_secs(20), || {
        rig.tmux.capture(&a.pane).contains("✦ After thinking")
    });
    assert!(streaming, "the answer streams\n{}", rig.evidence(a));
    let v = rig.expect(
        a,
        "GENERATING",
        5,
        "while the answer streams after thinking",
    );
    rig.keep(a, "real_streaming_after_thinking");
    assert_eq!(v["rule"], "gmi.busy.spinner");
    rig.expect(a, "WAITING", 30, "after the streamed answer");

    rig.type_prompt(a, "now GMIBAD400 please");
    let v = rig.expect(a, "ERROR", 30, "after a 400");
    assert_eq!(v["rule"], "gmi.error.api");
    // The next turn makes the error history.
    rig.type_prompt(a, "answer FAST please");
    rig.expect(a, "WAITING", 30, "after a reply following the error");

    // A repetitive reply: the loop-detection dialog waits for a choice.
    rig.type_prompt(a, "now GMILOOP please");
    let v = rig.expect(a, "BLOCKED", 30, "at the loop-detection dialog");
    assert_eq!(v["rule"], "gmi.blocked.loop_dialog");
    rig.keys(a, &["Enter"]); // 1. Keep loop detection enabled
    rig.expect(a, "WAITING", 20, "after the loop dialog is answered");
}

/// A shell command that needs a confirmation: BLOCKED, then allowed once, then idle.
fn permission(rig: &Rig, a: &Agent) {
    rig.expect(a, "WAITING", 60, "after start");
    rig.type_prompt(a, "please GMITOOL now");
    let v = rig.expect(a, "BLOCKED", 30, "at the tool confirmation");
    assert_eq!(v["rule"], "gmi.blocked.confirm");
    rig.keys(a, &["Enter"]); // 1. Allow once
    rig.expect(a, "WAITING", 30, "after the command ran");
    assert!(
        a.launch.cwd.join("gaffer-shell-ok.txt").exists(),
        "the allowed command ran in the project"
    );
}

/// The permission scenario, then the near-full context one (this CLI compresses at 95%).
fn permission_then_near_full(rig: &Rig, a: &Agent) {
    permission(rig, a);
    near_full_context(rig, a);
}

/// A per-day quota: the usage-limit dialog (BLOCKED: it waits for a choice), then Stop gives
/// the final quota error (RATE_LIMITED).
fn quota(rig: &Rig, a: &Agent) {
    rig.expect(a, "WAITING", 60, "after start");
    rig.type_prompt(a, "hit QUOTA now");
    let v = rig.expect(a, "BLOCKED", 30, "at the usage-limit dialog");
    assert_eq!(v["rule"], "gmi.blocked.usage_limit_dialog");
    rig.keys(a, &["Down", "Enter"]); // 2. Stop
    let v = rig.expect(a, "RATE_LIMITED", 20, "after Stop");
    assert_eq!(v["rule"], "gmi.rate_limited");
    assert!(
        rig.tmux
            .capture(&a.pane)
            .contains("You have exhausted your daily quota")
    );
}

/// 500, 503 and 429 are retried silently behind the loading indicator: gaffer reads busy while the
/// server log shows the attempts. Esc cancels.
fn silent_retries(rig: &Rig, a: &Agent) {
    rig.expect(a, "WAITING", 60, "after start");
    for (keyword, prompt) in [
        ("ERR500", "hit ERR500 now"),
        ("ERR503", "hit ERR503 now"),
        ("GMIRATE", "hit GMIRATE now"),
    ] {
        rig.type_prompt(a, prompt);
        rig.expect(a, "GENERATING", 20, "while a failing request is retried");
        let retried = wait_until(Duration::from_secs(25), || rig.requests_with(keyword) >= 2);
        assert!(
            retried,
            "{keyword} was retried ({} attempts)\n{}",
            rig.requests_with(keyword),
            rig.evidence(a)
        );
        let v = rig.expect(a, "GENERATING", 5, "still retrying");
        assert_eq!(v["rule"], "gmi.busy.spinner");
        rig.keys(a, &["Escape"]);
        rig.expect(a, "WAITING", 20, "after Esc cancelled the retries");
    }
}

/// First run: the folder trust dialog, then the authentication chooser, then the composer.
fn first_run(rig: &Rig, a: &Agent) {
    let v = rig.expect(a, "BLOCKED", 60, "at the trust dialog");
    assert_eq!(v["rule"], "gmi.blocked.first_run");
    assert!(
        rig.tmux
            .capture(&a.pane)
            .contains("Do you trust the files in this folder?")
    );
    rig.keys(a, &["Enter"]); // 1. Trust folder
    let auth = wait_until(Duration::from_secs(40), || {
        rig.tmux
            .capture(&a.pane)
            .contains("How would you like to authenticate")
    });
    assert!(auth, "the auth chooser appears\n{}", rig.evidence(a));
    let v = rig.expect(a, "BLOCKED", 10, "at the authentication chooser");
    assert_eq!(v["rule"], "gmi.blocked.first_run");
    rig.keys(a, &["Enter"]); // 2. Use Gemini API Key (preselected: the key is in the env)
    let key = wait_until(Duration::from_secs(20), || {
        rig.tmux.capture(&a.pane).contains("Enter Gemini API Key")
    });
    assert!(key, "the key entry box appears\n{}", rig.evidence(a));
    let v = rig.expect(a, "BLOCKED", 10, "at the key entry box");
    assert_eq!(v["rule"], "gmi.blocked.first_run");
    rig.keys(a, &["Enter"]); // the key from the environment is filled in
    rig.expect(a, "WAITING", 40, "after submitting the API key");
}

#[test]
fn gemini_states_are_read_right() {
    let _serial = serial();
    if !netns::run_isolated("gemini_states_are_read_right") {
        return;
    }
    // tmux 3.3a (this machine's) can segfault while answering a terminal query of a starting
    // CLI (dmesg: `tmux: server[…]: segfault at 20 … in tmux`), which takes every pane with it.
    // That is tmux's bug, not a misreading: the scenarios then run again, on a new server (a
    // crash is noticed within seconds).
    const ATTEMPTS: usize = 5;
    for attempt in 1..=ATTEMPTS {
        let rig = Rig::new("gmi-states");
        let launch = |n: usize, first_run: bool| {
            // Staggered starts: fewer CLIs query the terminal at the same moment.
            std::thread::sleep(Duration::from_millis(500));
            rig.launch(
                n,
                LaunchOptions {
                    first_run,
                    ..LaunchOptions::default()
                },
            )
        };
        let main = launch(1, false);
        let think = launch(2, false);
        std::thread::sleep(Duration::from_millis(500));
        let tool = rig.launch_with_threshold(3, 0.95);
        let quota_agent = launch(4, false);
        let retry = launch(5, false);
        let fresh = launch(6, true);
        let failed = run_all(
            &rig,
            vec![
                (&main, &idle_busy_context),
                (&think, &silence_then_error),
                (&tool, &permission_then_near_full),
                (&quota_agent, &quota),
                (&retry, &silent_retries),
                (&fresh, &first_run),
            ],
        );
        if failed.is_empty() {
            return;
        }
        let crashed = !rig.server_alive();
        assert!(
            crashed && attempt < ATTEMPTS,
            "scenarios failed for {failed:?} (see above){}",
            if crashed {
                "; the tmux server crashed on every attempt"
            } else {
                ""
            }
        );
        eprintln!(
            "the tmux server {} crashed (attempt {attempt}); running the scenarios again",
            rig.tmux.name
        );
    }
}

/// The text of every main-model request (tools offered), in order.
fn user_texts(server: &ModelServer) -> Vec<String> {
    server
        .log()
        .iter()
        .filter_map(|e| e.turn.as_ref())
        .filter(|t| t.has_tools && t.tool_results_since_user == 0)
        .map(|t| t.last_user_text.clone())
        .collect()
}

fn send(rig: &Rig, a: &Agent, text: &str, file: &Path) -> Value {
    std::fs::write(file, text).expect("prompt file");
    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args([
            "send",
            "--socket",
            &rig.tmux.name,
            "--session",
            SESSION,
            &a.pane,
            "-",
            "--json",
        ])
        .stdin(std::fs::File::open(file).expect("prompt file"))
        .current_dir(rig.dir.path())
        .output()
        .expect("gaffer send runs");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert!(
        out.status.success() && v["deliveries"][0]["outcome"] == "delivered",
        "gaffer send: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        rig.evidence(a)
    );
    v
}

#[test]
fn gemini_composer_receives_hostile_text_byte_for_byte() {
    let _serial = serial();
    if !netns::run_isolated("gemini_composer_receives_hostile_text_byte_for_byte") {
        return;
    }
    let rig = Rig::new("gmi-send");
    // The model answers after 3 s, as a real one takes seconds: gaffer confirms a delivery by
    // seeing the agent leave WAITING, and an instant scripted answer can start and end the turn
    // between two of its looks (then it reports `prompt_stalled` and presses Enter again).
    rig.server.set_mode(Some(Mode {
        reply: Reply::Text {
            text: "Received.".into(),
            chunks: 1,
            chunk_delay_ms: 0,
            first_delay_ms: 3000,
        },
        then: vec![],
        usage: None,
        times: None,
    }));
    let a = rig.launch(1, LaunchOptions::default());
    rig.expect(&a, "WAITING", 60, "after start");
    let files: PathBuf = rig.dir.path().join("prompts");
    std::fs::create_dir_all(&files).expect("dir");

    let hostile =
        "first line; then `C-c` and C-c\n  indented: héllo — ✓ 日本\n$(echo no) 'q' \"dq\" \\ end;";
    send(&rig, &a, hostile, &files.join("1.txt"));
    wait_until(Duration::from_secs(30), || {
        user_texts(&rig.server)
            .iter()
            .any(|t| t.as_str() == hostile)
    });
    rig.expect(&a, "WAITING", 30, "after the hostile prompt's reply");

    // 20 KB over many lines: the CLI collapses a long paste to "[Pasted Text: N lines]" in the
    // composer and expands it on submit.
    let mut big = String::new();
    let mut i = 0;
    while big.len() < 20 * 1024 {
        big.push_str(&format!(
            "line {i:04}: the quick brown fox; C-c; ünï ✓ 日本\n"
        ));
        i += 1;
    }
    big.push_str("end of the big prompt");
    send(&rig, &a, &big, &files.join("2.txt"));
    // Delivery is confirmed on screen first; the request follows once the CLI has expanded the
    // collapsed paste, which can take longer than gaffer's confirmation: wait for it to arrive.
    wait_until(Duration::from_secs(30), || {
        user_texts(&rig.server).iter().any(|t| t.as_str() == big)
    });
    rig.expect(&a, "WAITING", 30, "after the big prompt's reply");

    let texts = user_texts(&rig.server);
    assert_eq!(
        texts.iter().filter(|t| t.as_str() == hostile).count(),
        1,
        "the hostile prompt reached the model once, byte for byte: {texts:#?}"
    );
    assert_eq!(
        texts.iter().filter(|t| t.as_str() == big).count(),
        1,
        "the 20 KB prompt reached the model once, byte for byte (got {} requests: {:?})",
        texts.len(),
        texts.iter().map(|t| t.len()).collect::<Vec<_>>()
    );
}
