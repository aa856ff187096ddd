//! The real Claude Code (the pinned version in `agents.lock`) in tmux against the scripted model
//! server, inside a loopback-only network namespace: every state it can show is driven and read
//! back through the real `gaffer status --json`, and `gaffer send` delivers hostile text into its
//! real composer, checked at the model server's request log.
//!
//! Several instances run side by side (one window each, one model server each, so a test's mode
//! never leaks into another instance); one `gaffer status` call reads them all.

use gaffer_model_sim::{ErrorKind, Mode, ModelServer, Reply, Script, ToolCall, Usage};
use gaffer_testkit::real_agent::{self, LaunchOptions};
use gaffer_testkit::tmux::TmuxServer;
use gaffer_testkit::{netns, wait_until};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Output;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// How many CLI instances may run at once on this machine (2 cores, shared).
const SLOTS: usize = 7;
static RUNNING: Mutex<usize> = Mutex::new(0);
static FREED: Condvar = Condvar::new();

/// Holds `n` instance slots (in the parent process, around the isolated child run).
struct Slots(usize);

impl Slots {
    fn take(n: usize) -> Slots {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        while *running + n > SLOTS && *running > 0 {
            running = FREED.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += n;
        Slots(n)
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        let mut running = RUNNING.lock().unwrap_or_else(|e| e.into_inner());
        *running -= self.0;
        FREED.notify_all();
    }
}

/// The test prologue: waits for `slots`, then runs the body in a namespace (true: run it here).
fn isolated(name: &str, slots: usize) -> bool {
    if std::env::var_os(netns::INSIDE_ENV).is_some() {
        return netns::run_isolated(name);
    }
    let _slots = Slots::take(slots);
    netns::run_isolated(name)
}

/// One Claude Code instance: its own model server, HOME, project and pane.
struct Cc {
    server: ModelServer,
    title: String,
    pane: String,
    cwd: PathBuf,
}

/// A tmux server with a session of Claude Code instances and a gaffer project.
struct Bench {
    tmux: TmuxServer,
    session: String,
    dir: tempfile::TempDir,
    agents: Vec<Cc>,
}

impl Bench {
    fn new(tag: &str) -> Bench {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join(".git")).expect("project marker");
        Bench {
            tmux: TmuxServer::new(tag),
            session: tag.to_string(),
            dir,
            agents: Vec::new(),
        }
    }

    /// Starts an instance (its model server with `mode`, if any) and returns its index.
    fn start(&mut self, opts: LaunchOptions, mode: Option<Mode>) -> usize {
        let n = self.agents.len() + 1;
        let server =
            ModelServer::start("127.0.0.1:0", Script::builtin(), None).expect("model server");
        server.set_mode(mode);
        let base = self.dir.path().join(format!("cc{n}"));
        let cwd = base.join("proj");
        let launch = real_agent::prepare("cc", &base.join("home"), &cwd, &server.url(), &opts)
            .expect("prepare Claude Code");
        let title = format!("{}__cc_{n}", self.session);
        let pane = self
            .tmux
            .agent(&self.session, &title, &launch.shell_command());
        self.agents.push(Cc {
            server,
            title,
            pane,
            cwd,
        });
        n - 1
    }

    fn gaffer(&self, args: &[&str]) -> Output {
        gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), self.dir.path(), args)
    }

    /// `gaffer status --json`: title → agent object.
    fn status(&self) -> BTreeMap<String, Value> {
        let out = self.gaffer(&[
            "status",
            "--socket",
            &self.tmux.name,
            "--session",
            &self.session,
            "--json",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        v["agents"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| Some((x["title"].as_str()?.to_string(), x.clone())))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The pane's screen and `gaffer explain` of it, for failure messages.
    fn explain(&self, i: usize) -> String {
        let a = &self.agents[i];
        let out = self.gaffer(&[
            "explain",
            "--socket",
            &self.tmux.name,
            "--session",
            &self.session,
            &a.pane,
            "--json",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let fired: Vec<String> = v["trace"]
            .as_array()
            .map(|t| {
                t.iter()
                    .filter(|r| r["matched"] == true)
                    .map(|r| format!("{} {} {}", r["rule"], r["status"], r["evidence"]))
                    .collect()
            })
            .unwrap_or_default();
        format!(
            "--- {} ({}) screen:\n{}\n--- gaffer explain: status {} rule {} reason {} evidence {} context {}\n    matched: {:#?}\n",
            a.title,
            a.pane,
            self.tmux.capture(&a.pane),
            v["status"],
            v["rule"],
            v["reason"],
            v["evidence"],
            v["context_usage"],
            fired
        )
    }

    fn type_prompt(&self, i: usize, text: &str) {
        let pane = &self.agents[i].pane;
        self.tmux.run(&["send-keys", "-t", pane, "-l", text]);
        std::thread::sleep(Duration::from_millis(300));
        self.tmux.run(&["send-keys", "-t", pane, "Enter"]);
    }

    /// Waits until every agent is WAITING (60 s at most), then types each prompt in its pane.
    fn prompt_all(&self, prompts: &[(usize, &str)]) {
        self.all("WAITING", Duration::from_secs(60));
        for (i, text) in prompts {
            self.type_prompt(*i, text);
        }
    }

    fn keys(&self, i: usize, keys: &[&str]) {
        for k in keys {
            self.tmux.run(&["send-keys", "-t", &self.agents[i].pane, k]);
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Polls `gaffer status` until `done` holds for the history, or `timeout`; returns the
    /// history: per title, every distinct (status, rule) seen, with the last agent object.
    fn watch(&self, timeout: Duration, mut done: impl FnMut(&History) -> bool) -> History {
        let mut h = History::default();
        let end = Instant::now() + timeout;
        loop {
            let st = self.status();
            for a in &self.agents {
                let Some(v) = st.get(&a.title) else { continue };
                let key = (
                    v["status"].as_str().unwrap_or("").to_string(),
                    v["rule"].as_str().unwrap_or("").to_string(),
                );
                let seen = h.seen.entry(a.title.clone()).or_default();
                if seen.last() != Some(&key) {
                    seen.push(key);
                }
                h.last.insert(a.title.clone(), v.clone());
            }
            if done(&h) || Instant::now() >= end {
                return h;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Waits until every instance reads `want` (e.g. WAITING at start).
    fn all(&self, want: &str, timeout: Duration) {
        let h = self.watch(timeout, |h| {
            self.agents.iter().all(|a| h.status(&a.title) == Some(want))
        });
        let bad: Vec<usize> = (0..self.agents.len())
            .filter(|&i| h.status(&self.agents[i].title) != Some(want))
            .collect();
        assert!(
            bad.is_empty(),
            "not all {want}: {:?}\n{}",
            h.seen,
            bad.iter().map(|&i| self.explain(i)).collect::<String>()
        );
    }

    /// Asserts `ok` of the history for instance `i`, printing its screen and explain if not.
    fn check(&self, h: &History, i: usize, what: &str, ok: bool) {
        assert!(
            ok,
            "{what}: seen {:?}, last {}\n{}",
            h.seen.get(&self.agents[i].title),
            h.last.get(&self.agents[i].title).unwrap_or(&Value::Null),
            self.explain(i)
        );
    }
}

#[derive(Default, Debug)]
struct History {
    seen: BTreeMap<String, Vec<(String, String)>>,
    last: BTreeMap<String, Value>,
}

impl History {
    fn status(&self, title: &str) -> Option<&str> {
        self.last.get(title).and_then(|v| v["status"].as_str())
    }
    fn rule(&self, title: &str) -> Option<&str> {
        self.last.get(title).and_then(|v| v["rule"].as_str())
    }
    fn context(&self, title: &str) -> Option<f64> {
        self.last
            .get(title)
            .and_then(|v| v["context_usage"].as_f64())
    }
    /// Whether `title` was seen with `status` (and `rule`, when given).
    /// Whether `title` read WAITING again after it first left WAITING.
    fn idle_after_busy(&self, title: &str) -> bool {
        self.seen.get(title).is_some_and(|s| {
            s.iter()
                .skip_while(|(st, _)| st == "WAITING")
                .any(|(st, _)| st == "WAITING")
        })
    }

    fn saw(&self, title: &str, status: &str, rule: Option<&str>) -> bool {
        self.seen.get(title).is_some_and(|s| {
            s.iter()
                .any(|(st, r)| st == status && rule.is_none_or(|want| r == want))
        })
    }
}

fn text(t: &str) -> Reply {
    Reply::Text {
        text: t.into(),
        chunks: 1,
        chunk_delay_ms: 0,
        first_delay_ms: 0,
    }
}

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

fn screen_has(b: &Bench, i: usize, needle: &str) -> bool {
    b.tmux.capture(&b.agents[i].pane).contains(needle)
}

/// Idle after a reply, busy while the answer streams, thinking during a silence, the
/// permission dialog of a tool call, the context indicator near a full window; all found by
/// gaffer although Claude Code rewrites their pane titles.
#[test]
fn cc_turn_states() {
    if !isolated("cc_turn_states", 6) {
        return;
    }
    let mut b = Bench::new("ccturn");
    let idle = b.start(LaunchOptions::default(), None);
    let busy = b.start(LaunchOptions::default(), None);
    let think = b.start(LaunchOptions::default(), None);
    let ask = b.start(
        LaunchOptions::default(),
        Some(Mode {
            reply: Reply::Tools {
                text: "I will run a command.".into(),
                calls: vec![ToolCall::Shell {
                    command: "touch gaffer-shell-ok.txt".into(),
                    escalated: false,
                }],
            },
            then: vec![text("The command ran.")],
            usage: None,
            times: Some(1),
        }),
    );
    let ctx = b.start(LaunchOptions::default(), None);
    // tools allowed and a 200k window: the file is written without a dialog, and the
    // indicator shows near the smaller window
    let auto = b.start(
        LaunchOptions {
            allow_tools: true,
            context_window: Some(200_000),
            ..Default::default()
        },
        Some(Mode {
            reply: Reply::Tools {
                text: String::new(),
                calls: vec![ToolCall::WriteFile {
                    path: "gaffer-note.txt".into(),
                    content: "written by the scripted model\n".into(),
                }],
            },
            then: vec![text("The file is written.")],
            usage: Some(Usage {
                input_tokens: 190_000,
                output_tokens: 100,
            }),
            times: Some(1),
        }),
    );
    b.prompt_all(&[
        (idle, "please answer FAST"),
        (busy, "please answer SLOW"),
        (think, "stay SILENT first"),
        (ask, "run the command"),
        (ctx, "answer with BIGCTX"),
        (auto, "write the note"),
    ]);
    let t = |i: usize| b.agents[i].title.clone();
    let h = b.watch(Duration::from_secs(30), |h| {
        h.saw(&t(busy), "GENERATING", Some("cc.busy.spinner"))
            && h.saw(&t(think), "THINKING", None)
            && h.status(&t(ask)) == Some("BLOCKED")
            && h.context(&t(ctx)).is_some()
            && screen_has(&b, idle, "Here is a fast answer.")
            && h.status(&t(idle)) == Some("WAITING")
    });
    b.check(
        &h,
        idle,
        "idle after the reply",
        h.status(&t(idle)) == Some("WAITING") && screen_has(&b, idle, "Here is a fast answer."),
    );
    b.check(
        &h,
        busy,
        "busy while the answer streams",
        h.saw(&t(busy), "GENERATING", Some("cc.busy.spinner")),
    );
    b.check(
        &h,
        think,
        "thinking during the silence",
        h.saw(&t(think), "THINKING", Some("cc.busy.thinking")),
    );
    b.check(
        &h,
        ask,
        "the permission dialog",
        h.status(&t(ask)) == Some("BLOCKED") && h.rule(&t(ask)) == Some("cc.blocked.permission"),
    );
    b.check(
        &h,
        ctx,
        "context near full (950k of 1M)",
        h.status(&t(ctx)) == Some("WAITING")
            && h.context(&t(ctx))
                .is_some_and(|c| (90.0..100.0).contains(&c)),
    );
    // Claude Code sets the pane title with escape sequences (this tmux has no
    // `allow-set-title` to stop it): gaffer still found every instance by `@gaffer_title`
    for a in &b.agents {
        let pane_title = b
            .tmux
            .run(&["display-message", "-p", "-t", &a.pane, "#{pane_title}"]);
        eprintln!("{}: pane title now {:?}", a.title, pane_title.trim());
        assert!(h.last.contains_key(&a.title), "gaffer lost {}", a.title);
    }
    // answer the dialog: the command runs, the turn ends
    b.keys(ask, &["Enter"]);
    let h = b.watch(Duration::from_secs(40), |h| {
        h.status(&t(ask)) == Some("WAITING")
            && b.agents[ask].cwd.join("gaffer-shell-ok.txt").exists()
            && screen_has(&b, ask, "The command ran.")
            && h.saw(&t(think), "WAITING", None)
            && h.status(&t(think)) == Some("WAITING")
            && screen_has(&b, think, "After a long silence, the answer.")
            && h.status(&t(busy)) == Some("WAITING")
            && h.status(&t(auto)) == Some("WAITING")
            && screen_has(&b, auto, "The file is written.")
    });
    let note = std::fs::read_to_string(b.agents[auto].cwd.join("gaffer-note.txt"));
    b.check(
        &h,
        auto,
        "allowed tools run without a dialog; the context reads against the 200k window",
        note.as_deref().ok() == Some("written by the scripted model\n")
            && !h.saw(&t(auto), "BLOCKED", None)
            && h.status(&t(auto)) == Some("WAITING")
            && h.context(&t(auto)).is_some_and(|c| c >= 90.0),
    );
    b.check(
        &h,
        ask,
        "the approved command ran and the turn ended",
        h.status(&t(ask)) == Some("WAITING")
            && b.agents[ask].cwd.join("gaffer-shell-ok.txt").exists()
            && screen_has(&b, ask, "The command ran."),
    );
    b.check(
        &h,
        think,
        "the answer after the silence",
        h.status(&t(think)) == Some("WAITING")
            && screen_has(&b, think, "After a long silence, the answer."),
    );
    b.check(
        &h,
        busy,
        "idle after the slow answer",
        h.status(&t(busy)) == Some("WAITING"),
    );

    // past the auto-compact threshold the indicator reads `auto-compact next`; the next turn
    // compacts first (`Compacting conversation…`, slow here), then answers
    let server = &b.agents[ctx].server;
    server.set_mode(Some(Mode {
        reply: text("Nearly full."),
        then: vec![],
        usage: Some(Usage {
            input_tokens: 990_000,
            output_tokens: 100,
        }),
        times: Some(1),
    }));
    b.type_prompt(ctx, "one more turn");
    // The reply reaches the screen before Claude appends it to the transcript (its writes are
    // queued): the exact figure follows shortly after the screen.
    let h = b.watch(Duration::from_secs(30), |h| {
        h.status(&t(ctx)) == Some("WAITING")
            && screen_has(&b, ctx, "Nearly full.")
            && screen_has(&b, ctx, "auto-compact next")
            && h.context(&t(ctx)).is_some_and(|c| c >= 99.0)
    });
    b.check(
        &h,
        ctx,
        "`auto-compact next`: the window is full",
        // the screen says full (100); the transcript's exact figure is 990k of 1M (99)
        h.status(&t(ctx)) == Some("WAITING") && h.context(&t(ctx)).is_some_and(|c| c >= 99.0),
    );
    server.set_mode(Some(Mode {
        reply: Reply::Text {
            text: "Compacted.".into(),
            chunks: 1,
            chunk_delay_ms: 0,
            first_delay_ms: 5000,
        },
        then: vec![],
        usage: Some(Usage {
            input_tokens: 5_000,
            output_tokens: 100,
        }),
        times: None,
    }));
    b.type_prompt(ctx, "and another turn");
    let mut compacting = false;
    let h = b.watch(Duration::from_secs(40), |h| {
        if h.status(&t(ctx)) == Some("GENERATING") && screen_has(&b, ctx, "Compacting conversation")
        {
            compacting = true;
        }
        compacting && h.status(&t(ctx)) == Some("WAITING") && screen_has(&b, ctx, "Compacted.")
    });
    b.check(
        &h,
        ctx,
        "busy while compacting, idle after",
        compacting && h.status(&t(ctx)) == Some("WAITING"),
    );
}

/// Rate limits (retrying, final), the quota, overload and server errors (retrying, final),
/// and the `Resend your message to try again` placeholder after a failure.
#[test]
fn cc_error_states() {
    if !isolated("cc_error_states", 6) {
        return;
    }
    let mut b = Bench::new("ccerr");
    let o = LaunchOptions::default;
    // fewer retries than the default 10, so the final error comes within the test's time
    let few_retries = || LaunchOptions {
        env: vec![("CLAUDE_CODE_MAX_RETRIES".into(), "4".into())],
        ..Default::default()
    };
    let r429 = b.start(
        few_retries(),
        Some(error_mode(429, ErrorKind::RateLimit, Some(2), true)),
    );
    let r429f = b.start(o(), None);
    let quota = b.start(o(), None);
    let e529 = b.start(o(), None);
    let e500 = b.start(
        few_retries(),
        Some(error_mode(500, ErrorKind::Internal, Some(1), true)),
    );
    let e503 = b.start(
        o(),
        Some(error_mode(503, ErrorKind::Unavailable, None, false)),
    );
    b.prompt_all(&[
        (r429, "hello there"),
        (r429f, "hit RATE429FINAL now"),
        (quota, "hit QUOTA now"),
        (e529, "hit OVERLOAD529 now"),
        (e500, "hello there"),
        (e503, "hello there"),
    ]);
    let t = |i: usize| b.agents[i].title.clone();
    let finals = |h: &History| {
        h.status(&t(r429)) == Some("RATE_LIMITED")
            && h.rule(&t(r429)) == Some("cc.rate_limited")
            && h.status(&t(r429f)) == Some("RATE_LIMITED")
            && h.status(&t(quota)) == Some("ERROR")
            && h.status(&t(e529)) == Some("ERROR")
            && h.status(&t(e500)) == Some("ERROR")
            && h.status(&t(e503)) == Some("ERROR")
    };
    let h = b.watch(Duration::from_secs(100), finals);
    b.check(
        &h,
        r429,
        "429 retrying: read as retrying (busy, or rate-limited once the spinner names the 429), never idle",
        // The plain `API error · retrying` step can be shorter than one poll on a loaded
        // machine; the retry must be seen through one of its two rules, and never as WAITING.
        (h.saw(&t(r429), "GENERATING", Some("cc.busy.retrying"))
            || h.saw(&t(r429), "RATE_LIMITED", Some("cc.rate_limited.retrying")))
            && !h.idle_after_busy(&t(r429)),
    );
    b.check(
        &h,
        r429,
        "429 final after the retries",
        h.status(&t(r429)) == Some("RATE_LIMITED") && h.rule(&t(r429)) == Some("cc.rate_limited"),
    );
    b.check(
        &h,
        r429f,
        "429 final at once (x-should-retry: false)",
        h.status(&t(r429f)) == Some("RATE_LIMITED"),
    );
    b.check(
        &h,
        quota,
        "credit balance too low is an error, not a rate limit",
        h.status(&t(quota)) == Some("ERROR") && screen_has(&b, quota, "credit balance is too low"),
    );
    b.check(
        &h,
        e529,
        "repeated 529 is an error, with the Resend placeholder",
        h.status(&t(e529)) == Some("ERROR")
            && screen_has(&b, e529, "Repeated 529 Overloaded")
            && screen_has(&b, e529, "Resend your message to try again"),
    );
    b.check(
        &h,
        e500,
        "500 retrying (busy), then final (error)",
        h.saw(&t(e500), "GENERATING", Some("cc.busy.retrying"))
            && h.status(&t(e500)) == Some("ERROR")
            && screen_has(&b, e500, "API Error: 500"),
    );
    b.check(
        &h,
        e503,
        "503 final",
        h.status(&t(e503)) == Some("ERROR") && screen_has(&b, e503, "API Error: 503"),
    );
    // none of them was ever read as idle between the prompt and the final error
    for i in [r429, r429f, e500] {
        let seen = h.seen.get(&t(i)).cloned().unwrap_or_default();
        b.check(
            &h,
            i,
            "never idle while retrying",
            !seen.iter().skip(1).any(|(s, _)| s == "WAITING"),
        );
    }
}

/// The first-run dialogs, one after the other: workspace trust, the custom API key, the
/// "Make auto mode your default permission mode?" nudge. Each is BLOCKED, and `gaffer send`
/// refuses to type into it.
#[test]
fn cc_first_run_dialogs() {
    if !isolated("cc_first_run_dialogs", 1) {
        return;
    }
    let mut b = Bench::new("ccfirst");
    let i = b.start(
        LaunchOptions {
            first_run: true,
            ..Default::default()
        },
        None,
    );
    let title = b.agents[i].title.clone();
    let dialogs: [(&str, &[&str]); 3] = [
        ("Quick safety check", &["Down", "Enter"]),
        ("Do you want to use this API key?", &["Up", "Enter"]),
        (
            "Make auto mode your default permission mode?",
            &["Down", "Enter"],
        ),
    ];
    for (marker, answer) in dialogs {
        let h = b.watch(Duration::from_secs(40), |h| {
            h.status(&title) == Some("BLOCKED") && screen_has(&b, i, marker)
        });
        b.check(
            &h,
            i,
            &format!("dialog {marker:?} reads BLOCKED"),
            h.status(&title) == Some("BLOCKED") && screen_has(&b, i, marker),
        );
        let out = b.gaffer(&[
            "send",
            "--socket",
            &b.tmux.name,
            "--session",
            &b.session,
            &b.agents[i].pane,
            "typed into a dialog",
            "--json",
        ]);
        assert_ne!(
            out.status.code(),
            Some(0),
            "gaffer send must refuse a BLOCKED agent: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        b.check(
            &h,
            i,
            "the dialog is still there after the refused send",
            screen_has(&b, i, marker),
        );
        b.keys(i, answer);
    }
    let h = b.watch(Duration::from_secs(30), |h| {
        h.status(&title) == Some("WAITING")
    });
    b.check(
        &h,
        i,
        "the composer after the dialogs",
        h.status(&title) == Some("WAITING"),
    );
}

/// `gaffer send` delivers hostile text into the real composer: multi-line, `;`, a literal
/// `C-c`, unicode, and a 20 KB prompt; the model server's log shows each prompt byte for byte,
/// once.
#[test]
fn cc_delivery_of_hostile_text() {
    if !isolated("cc_delivery_of_hostile_text", 1) {
        return;
    }
    let mut b = Bench::new("ccsend");
    let i = b.start(
        LaunchOptions::default(),
        // a model answers after a moment, not within one probe of `gaffer send`
        Some(Mode {
            reply: Reply::Text {
                text: "Received.".into(),
                chunks: 1,
                chunk_delay_ms: 0,
                first_delay_ms: 2000,
            },
            then: vec![],
            usage: None,
            times: None,
        }),
    );
    b.all("WAITING", Duration::from_secs(60));
    let hostile =
        "fix a;b; then\nrun `C-c` and C-c and Enter — héllo — ✓ 日本;\n  indented line; end";
    let mut big = String::new();
    let mut n = 0;
    while big.len() < 20 * 1024 {
        n += 1;
        big.push_str(&format!(
            "line {n}: the quick brown fox; C-c `tick` — ✓ 日本 héllo {}\n",
            "x".repeat(n % 40)
        ));
    }
    let big = big.trim_end().to_string();
    for prompt in [hostile, big.as_str()] {
        let before = b.agents[i].server.log().len();
        let out = b.gaffer(&[
            "send",
            "--socket",
            &b.tmux.name,
            "--session",
            &b.session,
            "--deadline",
            "20s",
            &b.agents[i].pane,
            prompt,
            "--json",
        ]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        eprintln!(
            "gaffer send ({} bytes): {}",
            prompt.len(),
            v["deliveries"][0]
        );
        assert!(
            out.status.code() == Some(0) && v["deliveries"][0]["outcome"] == "delivered",
            "gaffer send: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            b.explain(i)
        );
        let mut found = Vec::new();
        let ok = wait_until(Duration::from_secs(30), || {
            found = b.agents[i]
                .server
                .log()
                .into_iter()
                .skip(before)
                .filter(|e| e.path == "/v1/messages")
                .filter_map(|e| e.turn.map(|t| t.last_user_text))
                .collect();
            !found.is_empty()
        });
        assert!(ok, "no model request after the send\n{}", b.explain(i));
        let got = &found[0];
        eprintln!(
            "reached the model as {} bytes, wrapped as pasted content: {}",
            got.len(),
            got.contains("<pasted_content")
        );
        let inner = unwrap_paste(got);
        assert_eq!(
            inner.matches(prompt).count(),
            1,
            "the prompt reached the model once, byte for byte ({} bytes sent, {} received)\n\
             received: {got:?}",
            prompt.len(),
            got.len()
        );
        assert_eq!(inner, prompt, "nothing but the prompt");
        let title = b.agents[i].title.clone();
        let h = b.watch(Duration::from_secs(30), |h| {
            h.status(&title) == Some("WAITING") && screen_has(&b, i, "Received.")
        });
        b.check(&h, i, "the reply", h.status(&title) == Some("WAITING"));
    }
}

/// The text inside Claude Code's `<pasted_content …>` wrapper, or the text itself.
fn unwrap_paste(s: &str) -> String {
    let Some(open) = s.find("<pasted_content") else {
        return s.to_string();
    };
    let Some(body_start) = s[open..].find('>').map(|p| open + p + 1) else {
        return s.to_string();
    };
    let Some(close) = s.rfind("</pasted_content") else {
        return s.to_string();
    };
    let inner = &s[body_start..close];
    let inner = inner.strip_prefix('\n').unwrap_or(inner);
    inner.strip_suffix('\n').unwrap_or(inner).to_string()
}

/// `gaffer answer` on the real Claude Code: its permission dialog is read with its text and
/// numbered options, an option it does not have is refused, and typing "1" approves it (the
/// command runs and the turn ends).
#[test]
fn cc_dialog_answered_by_number() {
    if !isolated("cc_dialog_answered_by_number", 1) {
        return;
    }
    let mut b = Bench::new("ccanswer");
    let ask = b.start(
        LaunchOptions::default(),
        Some(Mode {
            reply: Reply::Tools {
                text: "I will run a command.".into(),
                calls: vec![ToolCall::Shell {
                    command: "touch gaffer-answer-ok.txt".into(),
                    escalated: false,
                }],
            },
            then: vec![text("The command ran.")],
            usage: None,
            times: Some(1),
        }),
    );
    b.prompt_all(&[(ask, "run the command")]);
    let title = b.agents[ask].title.clone();
    let h = b.watch(Duration::from_secs(40), |h| {
        h.status(&title) == Some("BLOCKED")
    });
    b.check(
        &h,
        ask,
        "the permission dialog",
        h.status(&title) == Some("BLOCKED"),
    );
    let pane = b.agents[ask].pane.clone();
    let scope = ["--socket", &b.tmux.name, "--session", &b.session];
    let mut args = vec!["--json", "answer", &pane];
    args.extend_from_slice(&scope);
    let out = b.gaffer(&args);
    let shown: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let options = shown["dialog"]["options"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        out.status.success() && options.len() >= 2 && options[0]["label"] == "Yes",
        "{shown}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        b.explain(ask)
    );
    let text_lines = shown["dialog"]["text"].to_string();
    assert!(
        text_lines.contains("touch gaffer-answer-ok.txt"),
        "{text_lines}"
    );
    let mut args = vec!["--json", "answer", &pane, "9"];
    args.extend_from_slice(&scope);
    assert_eq!(
        b.gaffer(&args).status.code(),
        Some(1),
        "option 9 is refused"
    );
    let mut args = vec!["--json", "answer", &pane, "1"];
    args.extend_from_slice(&scope);
    let out = b.gaffer(&args);
    let done: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    assert!(
        out.status.success() && done["answered"]["confirmed"] == true,
        "{done}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        b.explain(ask)
    );
    let h = b.watch(Duration::from_secs(40), |h| {
        h.status(&title) == Some("WAITING")
            && b.agents[ask].cwd.join("gaffer-answer-ok.txt").exists()
            && screen_has(&b, ask, "The command ran.")
    });
    b.check(
        &h,
        ask,
        "approved by typing 1: the command ran",
        b.agents[ask].cwd.join("gaffer-answer-ok.txt").exists(),
    );
}
