//! The real Codex CLI (@openai/codex, pinned in agents.lock) in tmux against the scripted model
//! server: every state it can show, read through the real `gaffer` binary.
//!
//! Each test re-runs itself inside a loopback-only network namespace, starts the model server
//! in-process, a private tmux server, and several Codex instances side by side (one window
//! each), drives each into one state with the keywords of the script, and checks gaffer's
//! reading. The screen a verdict is checked on is the very capture gaffer explains (`gaffer
//! explain --file`), so a check never races the screen; the settled states are also checked
//! live with `gaffer status --json`. A failed check prints the capture and gaffer's explanation.

use gaffer_model_sim::{ErrorKind, ModelServer, Reply, Rule, Script, Usage};
use gaffer_testkit::real_agent::{self, LaunchOptions};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{netns, wait_until};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One live test at a time: each starts several CLIs, and the machine has two cores.
static LIVE: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The test prologue: one live test at a time, the body of test `name` in a namespace (`None`:
/// it ran there, or was skipped), and a fresh tmux server tagged `tag`.
fn begin(name: &str, tag: &str) -> Option<(std::sync::MutexGuard<'static, ()>, Live)> {
    let guard = serial();
    if !netns::run_isolated(name) {
        return None;
    }
    Some((guard, Live::new(tag)))
}

const GAFFER: &str = env!("CARGO_BIN_EXE_gaffer");

/// The built-in script plus the few keywords these tests need.
fn script() -> Script {
    let mut s = Script::builtin();
    let text = |t: &str, chunks: usize, delay: u64| Reply::Text {
        text: t.into(),
        chunks,
        chunk_delay_ms: delay,
        first_delay_ms: 0,
    };
    let extra = vec![
        Rule {
            pattern: r"\bCTX90\b".into(),
            reply: text("A reply that fills most of the context window.", 1, 0),
            then: vec![],
            usage: Some(Usage {
                input_tokens: 90_000,
                output_tokens: 100,
            }),
        },
        Rule {
            pattern: r"\bRLRETRY\b".into(),
            reply: Reply::Error {
                status: 429,
                error: ErrorKind::RateLimit,
                retry_after: Some(6),
                should_retry: None,
                message: None,
            },
            then: vec![],
            usage: None,
        },
        Rule {
            pattern: r"\bDELIVERY\b".into(),
            reply: text("Received your text; answering it slowly now.", 8, 500),
            then: vec![],
            usage: None,
        },
    ];
    let mut rules = extra;
    rules.append(&mut s.rules);
    s.rules = rules;
    s
}

struct Live {
    model: ModelServer,
    tmux: TmuxServer,
    dir: tempfile::TempDir,
    session: String,
}

#[derive(Clone)]
struct Pane {
    id: String,
    title: String,
}

impl Live {
    fn new(tag: &str) -> Live {
        let model = ModelServer::start("127.0.0.1:0", script(), None).expect("model server");
        let tmux = TmuxServer::new(tag);
        let dir = tempfile::tempdir().expect("tempdir");
        Live {
            model,
            tmux,
            dir,
            session: format!("rc{tag}"),
        }
    }

    /// Starts Codex number `n` in its own window; `untrusted_git` makes its cwd a git repository
    /// that the config does not trust (Codex then asks whether to trust it).
    fn launch(&self, n: usize, opts: LaunchOptions, untrusted_git: bool) -> Pane {
        self.launch_with(n, opts, untrusted_git, |_| {})
    }

    /// [`launch`](Self::launch), with `tweak` applied to the HOME before Codex starts.
    fn launch_with(
        &self,
        n: usize,
        opts: LaunchOptions,
        untrusted_git: bool,
        tweak: impl FnOnce(&Path),
    ) -> Pane {
        let home = self.dir.path().join(format!("home{n}"));
        let cwd = self.dir.path().join(format!("proj{n}"));
        std::fs::create_dir_all(&cwd).expect("cwd");
        if untrusted_git {
            let ok = Command::new("git")
                .args(["init", "-q"])
                .current_dir(&cwd)
                .status()
                .is_ok_and(|s| s.success());
            assert!(ok, "git init");
        }
        let launch =
            real_agent::prepare("cod", &home, &cwd, &self.model.url(), &opts).expect("prepare");
        if untrusted_git {
            untrusted_config(&home);
        }
        tweak(&home);
        let title = format!("{}__cod_{n}", self.session);
        let id = self
            .tmux
            .agent_sized(&self.session, &title, &launch.shell_command(), 120, 40);
        Pane { id, title }
    }

    fn capture(&self, p: &Pane) -> String {
        self.tmux.capture(&p.id)
    }

    fn command_of(&self, p: &Pane) -> String {
        self.tmux
            .tmux
            .run(&[
                "display-message",
                "-p",
                "-t",
                &p.id,
                "#{pane_current_command}",
            ])
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Types `text` into the composer and submits it (as a person would).
    fn type_prompt(&self, p: &Pane, text: &str) {
        self.tmux.run(&["send-keys", "-t", &p.id, "-l", text]);
        std::thread::sleep(Duration::from_millis(300));
        self.tmux.run(&["send-keys", "-t", &p.id, "Enter"]);
    }

    fn keys(&self, p: &Pane, keys: &str) {
        self.tmux.run(&["send-keys", "-t", &p.id, keys]);
    }

    fn gaffer(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut cmd = Command::new(GAFFER);
        cmd.args(args)
            .arg("--project")
            .arg(self.dir.path())
            .env("HOME", self.dir.path())
            .env_remove("TMUX")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("gaffer runs");
        if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
            w.write_all(text.as_bytes()).expect("stdin");
        }
        let out = child.wait_with_output().expect("gaffer ends");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `gaffer explain --file` of one capture (the screen the verdict is about).
    fn explain_screen(&self, screen: &str, command: &str) -> Value {
        let cmd = if command.is_empty() { "codex" } else { command };
        let (code, out, err) = self.gaffer(
            &[
                "explain",
                "--agent",
                "cod",
                "--file",
                "-",
                "--command",
                cmd,
                "--json",
            ],
            Some(screen),
        );
        assert_eq!(code, 0, "gaffer explain failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("explain JSON: {e}: {out}"))
    }

    /// `gaffer status --json` of the live session: pane id → agent.
    fn status(&self) -> Vec<Value> {
        let (code, out, err) = self.gaffer(
            &[
                "status",
                "--socket",
                &self.tmux.name,
                "--session",
                &self.session,
                "--json",
            ],
            None,
        );
        assert_eq!(code, 0, "gaffer status failed: {err}");
        let v: Value =
            serde_json::from_str(&out).unwrap_or_else(|e| panic!("status JSON: {e}: {out}"));
        v["agents"].as_array().cloned().unwrap_or_default()
    }

    fn live_explain(&self, p: &Pane) -> String {
        let (_, out, err) = self.gaffer(
            &[
                "explain",
                &p.id,
                "--socket",
                &self.tmux.name,
                "--session",
                &self.session,
            ],
            None,
        );
        format!("{out}{err}")
    }

    /// Waits until the pane shows `marker` (the CLI is ready for what comes next).
    fn wait_for(&self, p: &Pane, marker: &str, secs: u64) {
        let ok = wait_until(Duration::from_secs(secs), || {
            self.capture(p).contains(marker)
        });
        assert!(
            ok,
            "{}: `{marker}` never appeared. Screen:\n{}",
            p.title,
            self.capture(p)
        );
    }
}

/// Which screens a step is about, and what gaffer must read on them.
struct Step {
    name: &'static str,
    /// The screen is in this step's state (the test knows what it drove the CLI into).
    when: fn(&str) -> bool,
    /// Acceptable statuses.
    want: &'static [&'static str],
    /// Check the context usage against the screen's `Context N% used`.
    context: bool,
    /// Keys to press once the step is passed (e.g. approve a dialog); `type:TEXT` types TEXT
    /// and submits it.
    then_keys: Option<&'static str>,
    /// A screen that lasts only while the CLI retries: on a loaded machine it can come and go
    /// between two captures. If the next step's screen is already there, this one is passed
    /// over (its screens are covered by the `real_*reconnecting*` fixtures).
    transient: bool,
}

struct Scenario {
    pane: Pane,
    prompt: Option<String>,
    steps: Vec<Step>,
}

fn shows_spinner(s: &str) -> bool {
    s.lines().any(|l| {
        let t = l.trim_start();
        t.contains("esc to interrupt)")
            && (t.starts_with('•') || t.starts_with('◦') || t.starts_with('·'))
    })
}

fn context_used_on_screen(s: &str) -> Option<f64> {
    let re = regex_lite("Context ", "% used");
    s.lines().rev().find_map(re)
}

/// A tiny parser for `<prefix>N<suffix>` (the test needs no regex crate).
fn regex_lite(prefix: &'static str, suffix: &'static str) -> impl Fn(&str) -> Option<f64> {
    move |line: &str| {
        let end = line.find(suffix)?;
        let head = &line[..end];
        let start = head.rfind(prefix)? + prefix.len();
        head[start..].trim().parse().ok()
    }
}

/// With `GAFFER_SAVE_SCREENS=DIR`, every screen a step passed on is written to DIR (the source of
/// the `real_*` fixtures under crates/gaffer-core/tests/screens/cod/).
fn save_screen(p: &Pane, step: &str, screen: &str) {
    let Some(dir) = std::env::var_os("GAFFER_SAVE_SCREENS") else {
        return;
    };
    let name: String = format!("{}_{step}", p.title)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let _ = std::fs::create_dir_all(&dir);
    let _ = std::fs::write(Path::new(&dir).join(format!("{name}.txt")), screen);
}

/// Runs the scenarios side by side: each pane gets its prompt once its composer is ready, then
/// its steps are checked in order on fresh captures until all pass or `secs` run out.
fn run_scenarios(live: &Live, mut scenarios: Vec<Scenario>, secs: u64) {
    for s in scenarios.iter().filter(|s| s.prompt.is_some()) {
        live.wait_for(&s.pane, "Ask Codex to do anything", 60);
    }
    for s in &scenarios {
        if let Some(p) = &s.prompt {
            live.type_prompt(&s.pane, p);
        }
    }
    let mut next = vec![0usize; scenarios.len()];
    let mut misreads: Vec<Vec<String>> = vec![Vec::new(); scenarios.len()];
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end && next.iter().zip(&scenarios).any(|(n, s)| *n < s.steps.len()) {
        for (i, s) in scenarios.iter_mut().enumerate() {
            let Some(step) = s.steps.get(next[i]) else {
                continue;
            };
            let screen = live.capture(&s.pane);
            if !(step.when)(&screen) {
                let passed_by = step.transient
                    && s.steps
                        .get(next[i] + 1)
                        .is_some_and(|after| (after.when)(&screen));
                if passed_by {
                    eprintln!(
                        "[{}] step `{}`: not seen (a transient screen, gone before this capture)",
                        s.pane.title, step.name
                    );
                    next[i] += 1;
                }
                continue;
            }
            let cmd = live.command_of(&s.pane);
            let v = live.explain_screen(&screen, &cmd);
            let status = v["status"].as_str().unwrap_or("?").to_string();
            let mut ok = step.want.contains(&status.as_str());
            let mut why = String::new();
            if ok && step.context {
                let shown = context_used_on_screen(&screen);
                let read = v["context_usage"].as_f64();
                if shown.is_none() || read != shown {
                    ok = false;
                    why = format!("context: screen {shown:?}, gaffer {read:?}; ");
                }
            }
            if ok {
                eprintln!(
                    "[{}] step `{}`: {} ({})",
                    s.pane.title,
                    step.name,
                    status,
                    v["rule"].as_str().unwrap_or("")
                );
                save_screen(&s.pane, step.name, &screen);
                match step.then_keys.map(|k| (k, k.strip_prefix("type:"))) {
                    Some((_, Some(text))) => live.type_prompt(&s.pane, text),
                    Some((k, None)) => live.keys(&s.pane, k),
                    None => {}
                }
                next[i] += 1;
            } else {
                misreads[i].push(format!(
                    "step `{}`: {why}gaffer read {status}, want {:?}\n--- screen ---\n{screen}\n--- gaffer explain ---\n{}",
                    step.name,
                    step.want,
                    serde_json::to_string_pretty(&v).unwrap_or_default()
                ));
            }
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    let mut failures = Vec::new();
    for (i, s) in scenarios.iter().enumerate() {
        // One misread is tolerated: a screen can change between two polls of a transition.
        if next[i] < s.steps.len() || misreads[i].len() > 1 {
            let step = s
                .steps
                .get(next[i])
                .map(|st| st.name)
                .unwrap_or("(all passed)");
            failures.push(format!(
                "=== {} stopped at step `{step}`, {} misread(s) ===\n{}\n--- screen now ---\n{}\n--- gaffer explain (live) ---\n{}",
                s.pane.title,
                misreads[i].len(),
                misreads[i].join("\n"),
                live.capture(&s.pane),
                live.live_explain(&s.pane)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The settled state of each pane, read live by `gaffer status --json` (found by its title).
fn assert_status(live: &Live, want: &[(&Pane, &str)]) {
    let mut last = Vec::new();
    let ok = wait_until(Duration::from_secs(10), || {
        last = live.status();
        want.iter().all(|(p, st)| {
            last.iter().any(|a| {
                a["pane_id"] == p.id.as_str()
                    && a["title"] == p.title.as_str()
                    && a["status"] == *st
            })
        })
    });
    if !ok {
        let mut msg = String::new();
        for (p, st) in want {
            let got = last
                .iter()
                .find(|a| a["pane_id"] == p.id.as_str())
                .map(|a| format!("{} ({})", a["status"], a["rule"]))
                .unwrap_or_else(|| "not listed".into());
            msg.push_str(&format!(
                "{}: want {st}, gaffer status says {got}\n--- screen ---\n{}\n--- explain ---\n{}\n",
                p.title,
                live.capture(p),
                live.live_explain(p)
            ));
        }
        panic!("gaffer status disagrees:\n{msg}");
    }
}

fn has(s: &str, needle: &str) -> bool {
    s.contains(needle)
}

fn turn_ended(s: &str, answer: &str) -> bool {
    // the answer, then the turn's `Worked for` line below it
    match (s.rfind(answer), s.rfind("Worked for")) {
        (Some(a), Some(w)) => w > a,
        _ => false,
    }
}

#[test]
fn cod_turn_states() {
    let Some((_g, live)) = begin("cod_turn_states", "codturn") else {
        return;
    };
    let opts = LaunchOptions::default();
    let fast = live.launch(1, opts.clone(), false);
    let slow = live.launch(2, opts.clone(), false);
    let silent = live.launch(3, opts.clone(), false);
    let shell = live.launch(4, opts.clone(), false);
    let ctx = live.launch(
        5,
        LaunchOptions {
            context_window: Some(100_000),
            ..opts.clone()
        },
        false,
    );
    let bare = live.launch_with(6, opts.clone(), false, no_status_line);
    let scenarios = vec![
        Scenario {
            pane: bare.clone(),
            prompt: Some("answer SLOW without a status line".into()),
            steps: vec![
                Step {
                    name: "no status line: answer streaming, no spinner",
                    when: |s| {
                        has(s, "This answer streams")
                            && !has(s, "until it is complete.")
                            && !has(s, "Worked for")
                            && !shows_spinner(s)
                            && !has(s, "Context ")
                    },
                    want: &["GENERATING"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
                Step {
                    name: "no status line: turn over (Worked for)",
                    when: |s| turn_ended(s, "until it is complete."),
                    want: &["WAITING"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
            ],
        },
        Scenario {
            pane: fast.clone(),
            prompt: None,
            steps: vec![
                Step {
                    name: "welcome: composer, warnings badge",
                    when: |s| has(s, "Ask Codex to do anything") && has(s, "f2 to view"),
                    want: &["WAITING"],
                    context: true,
                    then_keys: Some("F2"),
                    transient: false,
                },
                Step {
                    name: "warnings panel open (takes the keyboard)",
                    when: |s| has(s, "esc dismiss & close"),
                    want: &["BLOCKED"],
                    context: false,
                    then_keys: Some("Escape"),
                    transient: false,
                },
                Step {
                    name: "warnings panel closed",
                    when: |s| has(s, "Ask Codex to do anything") && !has(s, "esc dismiss & close"),
                    want: &["WAITING"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
            ],
        },
        Scenario {
            pane: slow.clone(),
            prompt: Some("answer SLOW please".into()),
            steps: vec![
                Step {
                    name: "answer text streaming, no spinner",
                    when: |s| {
                        has(s, "This answer streams")
                            && !has(s, "until it is complete.")
                            && !has(s, "Worked for")
                            && !shows_spinner(s)
                    },
                    want: &["GENERATING"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
                Step {
                    name: "turn over (Worked for)",
                    when: |s| turn_ended(s, "until it is complete."),
                    want: &["WAITING"],
                    context: true,
                    then_keys: None,
                    transient: false,
                },
            ],
        },
        Scenario {
            pane: silent.clone(),
            prompt: Some("think SILENT first".into()),
            steps: vec![
                Step {
                    name: "silence: spinner only",
                    when: |s| shows_spinner(s) && !has(s, "After a long silence"),
                    want: &["GENERATING", "THINKING"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
                Step {
                    name: "answer after the silence",
                    when: |s| turn_ended(s, "After a long silence, the answer."),
                    want: &["WAITING"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
            ],
        },
        Scenario {
            pane: shell.clone(),
            prompt: Some("run SHELL now".into()),
            steps: vec![
                Step {
                    name: "approval dialog",
                    when: |s| has(s, "Would you like to run the following command?"),
                    want: &["BLOCKED"],
                    context: false,
                    then_keys: Some("y"),
                    transient: false,
                },
                Step {
                    name: "approved, command ran, turn over",
                    when: |s| turn_ended(s, "The command ran."),
                    want: &["WAITING"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
            ],
        },
        Scenario {
            pane: ctx.clone(),
            prompt: Some("fill CTX90 please".into()),
            steps: vec![
                Step {
                    name: "context nearly full",
                    when: |s| {
                        turn_ended(s, "fills most of the context window.")
                            && context_used_on_screen(s).is_some_and(|u| u >= 50.0)
                    },
                    want: &["WAITING"],
                    context: true,
                    then_keys: Some("type:then CTXFAST FAST"),
                    transient: false,
                },
                Step {
                    name: "compacted, then answered",
                    when: |s| {
                        has(s, "Context compacted") && turn_ended(s, "Here is a fast answer.")
                    },
                    want: &["WAITING"],
                    context: true,
                    then_keys: None,
                    transient: false,
                },
            ],
        },
    ];
    run_scenarios(&live, scenarios, 90);
    assert_status(
        &live,
        &[
            (&fast, "WAITING"),
            (&slow, "WAITING"),
            (&silent, "WAITING"),
            (&shell, "WAITING"),
            (&ctx, "WAITING"),
            (&bare, "WAITING"),
        ],
    );
    // the context usage, live
    let agents = live.status();
    let shown = context_used_on_screen(&live.capture(&ctx));
    let agent = agents.iter().find(|a| a["pane_id"] == ctx.id.as_str());
    let read = agent.and_then(|a| a["context_usage"].as_f64());
    let source = agent.and_then(|a| a["context_source"].as_str());
    assert!(shown.is_some(), "the status line shows context use");
    match source {
        // the rollout's exact figure: the last turn's input tokens over the window the rollout
        // names. Codex's own figure leaves a fixed baseline (12,000 tokens) out of both the
        // tokens and the window and is rounded to a whole percent: it reads lower by at most
        // the baseline's share of the window.
        Some("transcript") => {
            let window: f64 = agent
                .and_then(|a| a["sources"].as_array())
                .and_then(|s| s.iter().find(|n| n["source"] == "transcript"))
                .and_then(|n| n["what"].as_str())
                .and_then(|w| w.split(" of ").nth(1))
                .and_then(|r| r.split_whitespace().next())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0.0);
            let (read, shown) = (read.unwrap_or(-1.0), shown.unwrap_or(-1.0));
            assert!(
                window > 12_000.0,
                "the transcript names its window: {agent:?}"
            );
            assert!(
                read >= shown - 1.0 && read - shown <= 12_000.0 / window * 100.0 + 1.0,
                "gaffer status context_usage {read} (transcript, window {window}) vs {shown} on screen"
            );
        }
        _ => assert_eq!(read, shown, "gaffer status context_usage (screen)"),
    }
    // the compaction was a real one: Codex sent its summary request
    assert!(
        live.model.log().iter().any(|e| e
            .turn
            .as_ref()
            .is_some_and(|t| t.last_user_text.contains("COMPACTION"))),
        "Codex asked the model for a compaction summary"
    );
    // the scripted tool call really ran through Codex
    let log = live.model.log();
    assert!(
        log.iter().any(|e| {
            e.turn.as_ref().is_some_and(|t| {
                t.last_user_text == "run SHELL now" && t.tool_results_since_user == 1
            })
        }),
        "the tool result came back to the model"
    );
}

#[test]
fn cod_error_states() {
    let Some((_g, live)) = begin("cod_error_states", "coderr") else {
        return;
    };
    let opts = LaunchOptions::default();
    let rl = live.launch(1, opts.clone(), false);
    let quota = live.launch(2, opts.clone(), false);
    let e500 = live.launch(3, opts.clone(), false);
    let e503 = live.launch(4, opts.clone(), false);
    // allow_tools: the scripted (escalated) command runs without a dialog
    let auto = live.launch(
        5,
        LaunchOptions {
            allow_tools: true,
            ..opts.clone()
        },
        false,
    );
    let scenarios = vec![
        Scenario {
            pane: auto.clone(),
            prompt: Some("run SHELL unattended".into()),
            steps: vec![Step {
                name: "allow_tools: the command ran with no dialog",
                when: |s| turn_ended(s, "The command ran."),
                want: &["WAITING"],
                context: false,
                then_keys: None,
                transient: false,
            }],
        },
        Scenario {
            pane: rl.clone(),
            prompt: Some("hit RLRETRY now".into()),
            steps: vec![
                Step {
                    name: "rate limit: reconnecting",
                    when: |s| has(s, "reconnecting") && has(s, "429"),
                    want: &["RATE_LIMITED"],
                    context: false,
                    then_keys: None,
                    transient: true,
                },
                Step {
                    name: "rate limit: final",
                    when: |s| {
                        s.lines().any(|l| {
                            l.trim_start().starts_with('■') && l.contains("exceeded retry limit")
                        })
                    },
                    want: &["RATE_LIMITED"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
            ],
        },
        Scenario {
            pane: quota.clone(),
            prompt: Some("use QUOTA up".into()),
            steps: vec![Step {
                name: "quota exceeded",
                when: |s| has(s, "Quota exceeded"),
                want: &["RATE_LIMITED"],
                context: false,
                then_keys: None,
                transient: false,
            }],
        },
        Scenario {
            pane: e500.clone(),
            prompt: Some("fail ERR500 now".into()),
            steps: vec![
                Step {
                    name: "500: reconnecting",
                    when: |s| has(s, "Reconnecting..."),
                    want: &["ERROR"],
                    context: false,
                    then_keys: None,
                    transient: true,
                },
                Step {
                    name: "500: final",
                    when: |s| {
                        !has(s, "Reconnecting...")
                            && s.lines().any(|l| l.trim_start().starts_with('■'))
                    },
                    want: &["ERROR"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
            ],
        },
        Scenario {
            pane: e503.clone(),
            prompt: Some("fail ERR503 now".into()),
            steps: vec![
                Step {
                    name: "503: reconnecting",
                    when: |s| has(s, "Reconnecting..."),
                    want: &["ERROR"],
                    context: false,
                    then_keys: None,
                    transient: true,
                },
                Step {
                    name: "503: final",
                    when: |s| {
                        !has(s, "Reconnecting...")
                            && s.lines().any(|l| l.trim_start().starts_with('■'))
                    },
                    want: &["ERROR"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
            ],
        },
    ];
    run_scenarios(&live, scenarios, 90);
    assert_status(
        &live,
        &[
            (&rl, "RATE_LIMITED"),
            (&quota, "RATE_LIMITED"),
            (&e500, "ERROR"),
            (&e503, "ERROR"),
            (&auto, "WAITING"),
        ],
    );
    let screen = live.capture(&auto);
    assert!(
        has(&screen, "gaffer-shell-ok") && !has(&screen, "Would you like to run"),
        "allow_tools ran the command unasked:\n{screen}"
    );
    let ran = live.model.log().iter().any(|e| {
        e.body["input"].as_array().is_some_and(|items| {
            items.iter().any(|i| {
                i["type"] == "function_call_output"
                    && i["output"]
                        .as_str()
                        .is_some_and(|o| o.contains("gaffer-shell-ok"))
            })
        })
    });
    assert!(ran, "the command's output came back to the model");
    // a new prompt after the error is read as a new turn, not as the old error
    live.type_prompt(&e500, "now FAST please");
    live.wait_for(&e500, "Here is a fast answer.", 30);
    let ok = wait_until(Duration::from_secs(15), || {
        turn_ended(&live.capture(&e500), "Here is a fast answer.")
    });
    assert!(ok, "{}", live.capture(&e500));
    assert_status(&live, &[(&e500, "WAITING")]);
}

#[test]
fn cod_first_run_dialogs() {
    let Some((_g, live)) = begin("cod_first_run_dialogs", "codfirst") else {
        return;
    };
    // A first run: no provider, no trusted project: the sign-in chooser.
    let signin = live.launch(
        1,
        LaunchOptions {
            first_run: true,
            ..Default::default()
        },
        false,
    );
    // Signed in (the mock provider) in a git project not trusted yet: the folder trust dialog.
    let trust = live.launch(2, LaunchOptions::default(), true);
    let scenarios = vec![
        Scenario {
            pane: signin.clone(),
            prompt: None,
            steps: vec![Step {
                name: "sign-in chooser",
                when: |s| has(s, "Sign in with ChatGPT") && has(s, "Sign in another way"),
                want: &["BLOCKED"],
                context: false,
                then_keys: None,
                transient: false,
            }],
        },
        Scenario {
            pane: trust.clone(),
            prompt: None,
            steps: vec![
                Step {
                    name: "trust this folder",
                    when: |s| has(s, "Trust this folder?"),
                    want: &["BLOCKED"],
                    context: false,
                    then_keys: Some("Enter"),
                    transient: false,
                },
                Step {
                    name: "trusted: the composer",
                    when: |s| has(s, "Ask Codex to do anything") && !has(s, "Trust this folder?"),
                    want: &["WAITING"],
                    context: false,
                    then_keys: None,
                    transient: false,
                },
            ],
        },
    ];
    run_scenarios(&live, scenarios, 60);
    assert_status(&live, &[(&signin, "BLOCKED"), (&trust, "WAITING")]);
}

/// Drops `tui.status_line` from the config: Codex then shows no run state and no context use.
fn no_status_line(home: &Path) {
    let path = home.join(".codex/config.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let out: String = text
        .lines()
        .filter(|l| !l.starts_with("status_line"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(out, text, "the config had a status line");
    std::fs::write(&path, out).expect("config");
}

fn untrusted_config(home: &Path) {
    let path = home.join(".codex/config.toml");
    let text = std::fs::read_to_string(&path).expect("config");
    let mut out = String::new();
    let mut skip = false;
    for line in text.lines() {
        if line.starts_with("[projects.") {
            skip = true;
            continue;
        }
        if skip && line.starts_with('[') {
            skip = false;
        }
        if !skip {
            out.push_str(line);
            out.push('\n');
        }
    }
    std::fs::write(&path, out).expect("config");
}

/// The user messages of every request the model got (Codex's context blocks left out).
fn user_texts(body: &Value) -> Vec<String> {
    body["input"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter(|i| i["type"] == "message" && i["role"] == "user")
                .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
                .filter_map(|c| c["text"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `gaffer send` delivers hostile text into the real composer: the model gets it byte for byte.
#[test]
fn cod_delivery_of_hostile_text() {
    let Some((_g, live)) = begin("cod_delivery_of_hostile_text", "coddeliver") else {
        return;
    };
    let pane = live.launch(1, LaunchOptions::default(), false);
    live.wait_for(&pane, "Ask Codex to do anything", 60);
    assert_status(&live, &[(&pane, "WAITING")]);

    let hostile = "DELIVERY check: first line; second; third;\nC-c and a literal C-c\n\
                   héllo — ✓ 日本 \"quotes\" 'single' $HOME `backticks` \\ back\\slash\n\
                   \tindented with a tab; ends with a semicolon;"
        .to_string();
    let mut big = String::from("DELIVERY big prompt start\n");
    let mut i = 0;
    while big.len() < 20_000 {
        big.push_str(&format!(
            "line {i:04}: the quick brown fox; jumps — über ✓ 日本; C-c\n"
        ));
        i += 1;
    }
    big.push_str("DELIVERY big prompt end");

    for (name, text) in [("hostile", &hostile), ("20 KB", &big)] {
        let before = live.model.log().len();
        let (code, out, err) = live.gaffer(
            &[
                "send",
                &pane.id,
                "-",
                "--socket",
                &live.tmux.name,
                "--session",
                &live.session,
                "--deadline",
                "15s",
                "--json",
            ],
            Some(text),
        );
        let v: Value = serde_json::from_str(&out).unwrap_or(Value::Null);
        let outcome = v["deliveries"][0]["outcome"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            code == 0 && outcome == "delivered",
            "{name}: gaffer send exit {code}, outcome {outcome:?}: {out}{err}\n--- screen ---\n{}\n--- explain ---\n{}",
            live.capture(&pane),
            live.live_explain(&pane)
        );
        // the turn runs, ends, and the model got the text exactly once, byte for byte
        let got = wait_until(Duration::from_secs(90), || {
            turn_ended(&live.capture(&pane), "answering it slowly now.")
                && live.model.log().len() > before
        });
        assert!(
            got,
            "{name}: the turn did not end:\n{}",
            live.capture(&pane)
        );
        let log = live.model.log();
        let turns: Vec<&gaffer_model_sim::LogEntry> = log[before..]
            .iter()
            .filter(|e| e.turn.as_ref().is_some_and(|t| t.has_tools))
            .collect();
        assert!(!turns.is_empty(), "{name}: no model request after the send");
        let texts = user_texts(&turns[0].body);
        let exact = texts.iter().filter(|t| *t == text).count();
        assert_eq!(
            exact,
            1,
            "{name}: the prompt must reach the model once, byte for byte; user texts were:\n{}",
            texts
                .iter()
                .map(|t| format!("{:?}", t.chars().take(300).collect::<String>()))
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert_eq!(
            turns[0].turn.as_ref().map(|t| t.last_user_text.as_str()),
            Some(text.as_str()),
            "{name}: the last user text"
        );
        // settled: gaffer reads it idle again, and no stray Enter made a second turn
        assert_status(&live, &[(&pane, "WAITING")]);
        std::thread::sleep(Duration::from_secs(1));
        let fresh = live.model.log()[before..]
            .iter()
            .filter(|e| {
                e.turn
                    .as_ref()
                    .is_some_and(|t| t.has_tools && t.tool_results_since_user == 0)
            })
            .count();
        assert_eq!(fresh, 1, "{name}: exactly one user turn reached the model");
    }
}
