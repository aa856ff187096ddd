//! The cockpit page in a real browser: headless Chromium (Debian's package) driven through the
//! DevTools protocol, against `gaffer serve` on loopback with gaffer-sim agents in a private
//! tmux server, all inside a loopback-only network namespace, and `gaffer run --auto-assign`
//! beside it. The test logs in through the one-time link, sees the live agents and their
//! states, sends a prompt by clicking and reads it on the pane, pauses agents, unassigns and
//! reassigns a bead, answers a BLOCKED dialog and asks for a jump target, checks that nothing shows and nothing acts without the token or without the
//! session's CSRF token, that pane text is shown as text, and saves screenshots (desktop and
//! phone) under `target/cockpit/`.

mod browser;

use gaffer_coordinator::ledger::Ledger;
use gaffer_testkit::tmux::TmuxServer;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TEST: &str = "the_cockpit_in_a_real_browser";

/// One bead, for the assignment controls.
const ISSUES: &str = r#"{"id":"wb-1","title":"Implement the lexer in src/lexer.rs","status":"open","priority":1,"issue_type":"feature","created_at":"2026-11-20T10:00:00Z","updated_at":"2026-11-20T10:00:00Z"}
"#;

fn q(s: &str) -> String {
    gaffer_model_sim::launch::shell_quote(s)
}

fn sim(agent: &str, extra: &str, log: &Path) -> String {
    format!(
        "{} --agent {agent} --log {} {extra}",
        q(&gaffer_testkit::sim::binary().display().to_string()),
        q(&log.display().to_string())
    )
}

/// `gaffer serve`, stopped when dropped.
struct Serve {
    child: Child,
    url: String,
    login: String,
}

impl Drop for Serve {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Stops a gaffer process as Ctrl-C does (it closes its tmux control client), or kills it
/// after 5 s.
fn stop(child: &mut Child) {
    // SAFETY: signalling our own child, which we have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let end = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < end {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn serve(dir: &Path, socket: &str, session: &str) -> Serve {
    let stderr = std::fs::File::create(dir.join("serve.err")).expect("stderr file");
    let mut child = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["--project", &dir.display().to_string(), "--json", "serve"])
        .args(["--socket", socket, "--session", session])
        .args(["--addr", "127.0.0.1:0", "--exit-after", "240"])
        .args(["--set", "coordinator.poll_interval=300ms"])
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("GAFFER_LOG", "gaffer=info")
        .env_remove("AGENT_MAIL_URL")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("gaffer serve starts");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("the listening line");
    let v: Value = serde_json::from_str(&first).unwrap_or_else(|e| {
        panic!(
            "{e}: {first:?}\n{}",
            std::fs::read_to_string(dir.join("serve.err")).unwrap_or_default()
        )
    });
    Serve {
        child,
        url: v["listening"].as_str().expect("url").to_string(),
        login: v["login"].as_str().expect("login").to_string(),
    }
}

/// The prompts a sim received (its `--log`).
fn prompts(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["prompt"].as_str().map(str::to_string))
        .collect()
}

fn shots() -> PathBuf {
    gaffer_testkit::sim::target_dir().join("cockpit")
}

#[test]
fn the_cockpit_in_a_real_browser() {
    let Some(chromium) = browser::find() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromium is not installed (scripts/install-deps.sh installs it)");
        }
        eprintln!("skipping {TEST}: chromium is not installed (apt-get install chromium)");
        return;
    };
    // gaffer-sim is built before the namespace (cargo may need the registry).
    let _ = gaffer_testkit::sim::binary();
    if !gaffer_testkit::netns::run_isolated(TEST) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    std::fs::create_dir_all(root.join(".beads")).unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".beads/issues.jsonl"), ISSUES).unwrap();
    let logs: Vec<PathBuf> = (0..3).map(|i| root.join(format!("sim{i}.log"))).collect();
    let tmux = TmuxServer::new("cockpit");
    let cc = tmux.agent_sized(
        "web",
        "web__cc_1",
        &sim("cc", "--work-secs 3 --context-left 35", &logs[0]),
        100,
        30,
    );
    let cod = tmux.agent_sized(
        "web",
        "web__cod_1",
        &sim("cod", "--work-secs 1 --context-left 80", &logs[1]),
        100,
        30,
    );
    let gmi = tmux.agent_sized(
        "web",
        "web__gmi_1",
        &sim("gmi", "--start-state blocked", &logs[2]),
        100,
        30,
    );
    let s = serve(root, &tmux.name, "web");
    let mut b = browser::Browser::launch(&chromium);

    // Without the token: the page shows nothing of the session, and no action works.
    let stranger = b.new_context();
    let p0 = b.new_page(&stranger);
    b.navigate(&p0, &format!("{}/", s.url));
    let text = b.eval(&p0, "document.body.innerText");
    let text = text.as_str().unwrap_or_default();
    assert!(text.contains("Log in through the one-time link"), "{text}");
    assert!(!text.contains("web__cc_1") && !text.contains("%"), "{text}");
    let probe = b.eval(
        &p0,
        &format!(
            "(async () => {{ const v = await fetch('/cockpit'); \
             const s = await fetch('/send', {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, \
               body: JSON.stringify({{pane: '{cc}', text: 'NOTOKEN'}})}}); \
             const e = await fetch('/screen?pane=' + encodeURIComponent('{cc}')); \
             return [v.status, s.status, e.status]; }})()"
        ),
    );
    assert_eq!(probe, serde_json::json!([401, 401, 401]));
    b.screenshot(&p0, &shots().join("cockpit-no-token.png"));

    // Logged in through the link: the agents of the live session appear with their states.
    let ctx = b.new_context();
    let p = b.new_page(&ctx);
    b.navigate(&p, &s.login);
    let url = b.eval(&p, "location.pathname");
    assert_eq!(url, "/", "the login link redirects to the page");
    let rows = b.wait(
        &p,
        "document.querySelectorAll('#agents tbody tr').length === 3 && \
         [...document.querySelectorAll('#agents tbody tr')].map(r => r.dataset.pane + '=' + r.dataset.status).join(' ')",
        Duration::from_secs(20),
    );
    let rows = rows.expect("three agent rows");
    eprintln!("agents: {rows}");
    let state_of = |b: &mut browser::Browser, pane: &str| -> String {
        b.eval(
            &p,
            &format!(
                "(document.querySelector('#agents tr[data-pane=\"{pane}\"]') || {{dataset: {{}}}}).dataset.status || ''"
            ),
        )
        .as_str()
        .unwrap_or_default()
        .to_string()
    };
    assert!(
        b.wait(
            &p,
            &format!(
                "(document.querySelector('#agents tr[data-pane=\"{cc}\"]') || {{dataset: {{}}}}).dataset.status === 'WAITING'"
            ),
            Duration::from_secs(20),
        )
        .is_some(),
        "cc is WAITING: {}",
        state_of(&mut b, &cc)
    );
    let blocked = b.wait(
        &p,
        "[...document.querySelectorAll('#agents tbody tr')].some(r => r.dataset.status === 'BLOCKED')",
        Duration::from_secs(20),
    );
    assert!(blocked.is_some(), "the Gemini dialog reads BLOCKED");
    // An agent started now appears on the page, and goes when its pane goes.
    let late = tmux.agent_sized(
        "web",
        "web__cc_2",
        &sim("cc", "", &root.join("late.log")),
        100,
        30,
    );
    assert!(
        b.wait(
            &p,
            &format!("document.querySelectorAll('#agents tbody tr').length === 4 && !!document.querySelector('#agents tr[data-pane=\"{late}\"]')"),
            Duration::from_secs(20),
        )
        .is_some(),
        "the new agent appears"
    );
    tmux.run(&["kill-pane", "-t", &late]);
    assert!(
        b.wait(
            &p,
            &format!("!document.querySelector('#agents tr[data-pane=\"{late}\"]')"),
            Duration::from_secs(20),
        )
        .is_some(),
        "the killed agent goes"
    );
    // The live stream is connected.
    assert!(
        b.wait(
            &p,
            "document.getElementById('live').textContent === 'live'",
            Duration::from_secs(10)
        )
        .is_some()
    );

    // The blocked agent's preview marks the dialog as evidence.
    b.click(&p, "#agents tbody tr[data-status=\"BLOCKED\"]");
    let evidence = b.wait(
        &p,
        "document.getElementById('preview').dataset.pane === document.querySelector('#agents tr[data-status=BLOCKED]').dataset.pane && \
         [...document.querySelectorAll('#preview .evidence')].map(e => e.textContent).join('\\n')",
        Duration::from_secs(10),
    );
    let evidence = evidence.expect("evidence lines in the preview");
    eprintln!("evidence: {evidence}");
    // The marked lines are the detector's evidence, and they are the dialog's.
    let check = b.eval(
        &p,
        "(async () => { const pane = document.getElementById('preview').dataset.pane; \
           const s = await (await fetch('/screen?pane=' + encodeURIComponent(pane))).json(); \
           const marked = [...document.querySelectorAll('#preview .evidence')].map(e => e.textContent.trim()); \
           return [s.status, marked.length > 0 && marked.every(m => s.evidence.some(e => m.includes(e.trim()))), \
                   document.getElementById('preview').textContent.includes(\"Allow execution of: 'rm'?\")]; })()",
    );
    assert_eq!(
        check,
        serde_json::json!(["BLOCKED", true, true]),
        "{evidence}"
    );
    let verdict = b.eval(&p, "document.getElementById('verdict').textContent");
    assert!(
        verdict
            .as_str()
            .is_some_and(|v| v.starts_with("screen: BLOCKED")),
        "{verdict}"
    );

    // Send a prompt to cc by clicking: delivered, on the pane, and cc's state changes.
    b.click(&p, &format!("#agents tr[data-pane=\"{cc}\"]"));
    b.wait(
        &p,
        &format!("document.getElementById('send-target').textContent.startsWith('{cc}')"),
        Duration::from_secs(5),
    )
    .expect("cc selected");
    b.type_into(&p, "#prompt", "WEBPROMPT hello from the cockpit");
    b.click(&p, "#send");
    let outcome = b.wait(
        &p,
        "document.getElementById('send-result').dataset.outcome",
        Duration::from_secs(20),
    );
    let result = b.eval(&p, "document.getElementById('send-result').textContent");
    assert_eq!(
        outcome,
        Some(Value::from("delivered")),
        "{result}; cc's screen:\n{}",
        tmux.capture(&cc)
    );
    assert!(
        tmux.capture(&cc)
            .contains("WEBPROMPT hello from the cockpit"),
        "{}",
        tmux.capture(&cc)
    );
    assert_eq!(
        prompts(&logs[0]),
        ["WEBPROMPT hello from the cockpit"],
        "exactly one prompt reached cc"
    );
    // The table follows cc through its turn: busy, then WAITING again.
    let mut seen: Vec<String> = Vec::new();
    let end = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < end {
        let st = state_of(&mut b, &cc);
        if seen.last() != Some(&st) {
            seen.push(st.clone());
        }
        if st == "WAITING" && seen.iter().any(|s| s == "GENERATING" || s == "THINKING") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("cc's states on the page: {seen:?}");
    assert!(
        seen.iter().any(|s| s == "GENERATING" || s == "THINKING"),
        "{seen:?}"
    );
    assert_eq!(seen.last().map(String::as_str), Some("WAITING"), "{seen:?}");
    // The event list got the agent's events over SSE.
    assert!(
        b.wait(
            &p,
            &format!(
                "[...document.querySelectorAll('#events li')].some(l => l.dataset.type === 'agent_busy' && l.textContent.includes('{cc}'))"
            ),
            Duration::from_secs(10),
        )
        .is_some(),
        "an agent_busy event for cc on the page"
    );

    // Pane text is text: a prompt with markup shows literally in the preview.
    b.click(&p, &format!("#agents tr[data-pane=\"{cod}\"]"));
    b.wait(
        &p,
        &format!("document.getElementById('send-target').textContent.startsWith('{cod}')"),
        Duration::from_secs(5),
    )
    .expect("cod selected");
    b.wait(
        &p,
        &format!(
            "(document.querySelector('#agents tr[data-pane=\"{cod}\"]') || {{dataset: {{}}}}).dataset.status === 'WAITING'"
        ),
        Duration::from_secs(20),
    )
    .expect("cod WAITING");
    let markup = "<img id=xss src=x onerror=\"document.title='owned'\"><b id=bold>b</b>";
    b.type_into(&p, "#prompt", markup);
    b.click(&p, "#send");
    let outcome = b.wait(
        &p,
        "document.getElementById('send-result').dataset.outcome",
        Duration::from_secs(20),
    );
    assert_eq!(outcome, Some(Value::from("delivered")));
    assert!(
        b.wait(
            &p,
            "document.getElementById('preview').textContent.includes('<b id=bold>')",
            Duration::from_secs(10),
        )
        .is_some(),
        "the markup is shown as text in the preview"
    );
    let injected = b.eval(
        &p,
        "[document.getElementById('xss') === null, document.getElementById('bold') === null, document.title]",
    );
    assert_eq!(injected, serde_json::json!([true, true, "gaffer cockpit"]));

    // Actions need the session's CSRF token and JSON, even from the logged-in page.
    let forged = b.eval(
        &p,
        &format!(
            "(async () => {{ \
               const csrf = document.querySelector('meta[name=gaffer-csrf]').content; \
               const body = JSON.stringify({{pane: '{cc}', text: 'FORGED'}}); \
               const a = await fetch('/send', {{method: 'POST', headers: {{'Content-Type': 'application/json'}}, body}}); \
               const b = await fetch('/send', {{method: 'POST', headers: {{'Content-Type': 'application/json', 'X-Gaffer-Csrf': '0'.repeat(32)}}, body}}); \
               const c = await fetch('/send', {{method: 'POST', headers: {{'Content-Type': 'text/plain', 'X-Gaffer-Csrf': csrf}}, body}}); \
               return [a.status, (await a.json()).error, b.status, c.status, csrf.length]; }})()"
        ),
    );
    assert_eq!(forged, serde_json::json!([403, "csrf", 403, 415, 32]));
    assert_eq!(prompts(&logs[0]).len(), 1, "no forged prompt reached cc");
    assert!(!prompts(&logs[0]).iter().any(|p| p.contains("NOTOKEN")));

    // The controls, through the coordinator's control API. Pause cc and gmi from the page; then
    // `gaffer run --auto-assign` (another process, as a user runs it beside the cockpit) gives
    // the bead to the one agent not paused, cod.
    pause_from_page(&mut b, &p, &cc);
    pause_from_page(&mut b, &p, &gmi);
    let _run = run_auto_assign(root, &tmux.name, "web");
    let ledger = || Ledger::open(&root.join(".gaffer/state.db")).expect("ledger");
    let live_holder = || -> Option<String> {
        ledger()
            .all()
            .unwrap_or_default()
            .into_iter()
            .find(|r| r.assignment.bead_id == "wb-1" && r.state.is_active())
            .map(|r| r.assignment.agent_pane_id)
    };
    assert!(
        gaffer_testkit::wait_until(Duration::from_secs(30), || live_holder().as_deref()
            == Some(cod.as_str())),
        "cod gets wb-1: {:?}",
        live_holder()
    );
    b.wait(
        &p,
        "!!document.querySelector('#assignments li[data-bead=\"wb-1\"][data-state=\"delivered\"], #assignments li[data-bead=\"wb-1\"][data-state=\"working\"]')",
        Duration::from_secs(10),
    )
    .expect("the assignment on the page");
    assert_eq!(prompts(&logs[0]).len(), 1, "paused cc got nothing");
    assert!(prompts(&logs[1]).iter().any(|p| p.contains("wb-1")));
    // Pause cod too, then unassign on the page: handed back, and nobody takes it.
    pause_from_page(&mut b, &p, &cod);
    b.click(&p, "#assignments li[data-bead=\"wb-1\"] button.unassign");
    expect_ok(&mut b, &p, "unassign");
    assert!(
        gaffer_testkit::wait_until(Duration::from_secs(10), || live_holder().is_none()),
        "wb-1 handed back: {:?}",
        live_holder()
    );
    // Reassign to cc (paused, so only by hand): the prompt reaches cc's pane.
    select_row(&mut b, &p, &cc);
    b.click(&p, "#assignments li[data-bead=\"wb-1\"] button.reassign");
    expect_ok(&mut b, &p, "reassign");
    assert_eq!(live_holder().as_deref(), Some(cc.as_str()));
    assert!(
        prompts(&logs[0]).iter().any(|p| p.contains("wb-1")),
        "{:?}",
        prompts(&logs[0])
    );
    b.wait(
        &p,
        &format!("(document.querySelector('#agents tr[data-pane=\"{cc}\"]') || {{textContent: ''}}).textContent.includes('wb-1')"),
        Duration::from_secs(10),
    )
    .expect("cc's bead on the page");

    // A conflict: two agents reserve overlapping files in the (embedded) Agent Mail.
    let gaffer = |args: &[&str]| {
        let mut all = vec![
            "--project",
            root.to_str().expect("utf-8 path"),
            "--json",
            "mail",
        ];
        all.extend_from_slice(args);
        gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), root, &all)
    };
    for name in ["GreenCastle", "BlueLake"] {
        let out = gaffer(&[
            "register",
            "--name",
            name,
            "--program",
            "cc",
            "--model",
            "m",
        ]);
        assert!(out.status.success(), "{out:?}");
    }
    // (docs/: the assignment of wb-1 holds src/lexer.rs.)
    let first = gaffer(&["reserve", "--agent", "GreenCastle", "docs/**"]);
    assert!(first.status.success(), "{first:?}");
    let clash = gaffer(&["reserve", "--agent", "BlueLake", "docs/syntax.md"]);
    assert_eq!(clash.status.code(), Some(1), "a clash: {clash:?}");
    let conflict = b.wait(
        &p,
        "[...document.querySelectorAll('#conflicts li.warn')].map(l => l.textContent).join('\\n')",
        Duration::from_secs(20),
    );
    let conflict = conflict.expect("the conflict on the page");
    eprintln!("conflicts: {conflict}");
    assert!(
        conflict
            .as_str()
            .is_some_and(|c| c.contains("GreenCastle") && c.contains("BlueLake")),
        "{conflict}"
    );

    // Screenshots: desktop, then a phone.
    b.click(&p, "#agents tbody tr[data-status=\"BLOCKED\"]");
    b.wait(
        &p,
        "document.getElementById('preview').dataset.pane === document.querySelector('#agents tr[data-status=BLOCKED]').dataset.pane && \
         document.querySelectorAll('#preview .evidence').length > 0",
        Duration::from_secs(10),
    )
    .expect("the blocked preview");
    b.screenshot(&p, &shots().join("cockpit-desktop.png"));

    // Answer the BLOCKED dialog: its full text first, then one of the options read from the
    // screen; the agent leaves BLOCKED.
    select_row(&mut b, &p, &gmi);
    b.click(&p, "#read-dialog");
    let shown = b.wait(
        &p,
        "!document.getElementById('dialog').hidden && document.getElementById('dialog-text').textContent",
        Duration::from_secs(10),
    );
    let shown = shown.expect("the dialog's text on the page");
    assert!(
        shown
            .as_str()
            .is_some_and(|t| t.contains("Allow execution of: 'rm'?")),
        "{shown}"
    );
    let options = b.eval(
        &p,
        "[...document.querySelectorAll('#dialog-options button')].map(b => b.textContent)",
    );
    eprintln!("dialog options: {options}");
    assert_eq!(options[0], "1. Yes, allow once", "{options}");
    b.screenshot(&p, &shots().join("cockpit-dialog.png"));
    b.click(&p, "#dialog-options button[data-option=\"1\"]");
    expect_ok(&mut b, &p, "answer");
    assert!(
        b.wait(
            &p,
            &format!(
                "(document.querySelector('#agents tr[data-pane=\"{gmi}\"]') || {{dataset: {{}}}}).dataset.status !== 'BLOCKED'"
            ),
            Duration::from_secs(15),
        )
        .is_some(),
        "gmi leaves BLOCKED"
    );
    assert!(!tmux.capture(&gmi).contains("Allow execution of: 'rm'?"));
    // Jump: the pane's tmux target.
    b.click(&p, "#jump");
    expect_ok(&mut b, &p, "jump");
    let jump = b.eval(&p, "document.getElementById('action-result').textContent");
    assert!(
        jump.as_str()
            .is_some_and(|j| j.contains("tmux switch-client -t web:")),
        "{jump}"
    );
    // Resume all clears every pause (in the ledger, for every coordinator).
    b.click(&p, "#resume-all");
    expect_ok(&mut b, &p, "resume all");
    let pauses = ledger().pauses().expect("pauses");
    assert!(!pauses.all && pauses.panes.is_empty(), "{pauses:?}");
    b.viewport(&p, 390, 844, true);
    std::thread::sleep(Duration::from_millis(300));
    let fits = b.eval(
        &p,
        "[document.documentElement.scrollWidth, window.innerWidth, getComputedStyle(document.querySelector('#agents thead')).display]",
    );
    eprintln!("phone: {fits}");
    assert!(
        fits[0].as_f64() <= fits[1].as_f64(),
        "no sideways scrolling on a phone: {fits}"
    );
    assert_eq!(fits[2], "none", "the table becomes cards on a phone");
    b.screenshot(&p, &shots().join("cockpit-phone.png"));
    eprintln!("screenshots in {}", shots().display());
    drop(b);
    drop(s);
}

/// Clicks the agent's row and waits until the page has it selected.
fn select_row(b: &mut browser::Browser, p: &str, pane: &str) {
    b.click(p, &format!("#agents tr[data-pane=\"{pane}\"]"));
    b.wait(
        p,
        &format!("document.getElementById('send-target').textContent.startsWith('{pane}')"),
        Duration::from_secs(5),
    )
    .unwrap_or_else(|| panic!("{pane} selected"));
}

/// Waits for the last action's result and checks it went through.
fn expect_ok(b: &mut browser::Browser, p: &str, what: &str) {
    let outcome = b.wait(
        p,
        "document.getElementById('action-result').dataset.outcome",
        Duration::from_secs(30),
    );
    let text = b.eval(p, "document.getElementById('action-result').textContent");
    assert_eq!(outcome, Some(Value::from("ok")), "{what}: {text}");
}

/// Pauses auto-assign for the agent from the page; its row then says so.
fn pause_from_page(b: &mut browser::Browser, p: &str, pane: &str) {
    select_row(b, p, pane);
    b.click(p, "#pause");
    expect_ok(b, p, "pause");
    b.wait(
        p,
        &format!("(document.querySelector('#agents tr[data-pane=\"{pane}\"]') || {{dataset: {{}}}}).dataset.paused === 'true'"),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|| panic!("{pane} shows paused"));
}

/// `gaffer run --auto-assign` on the session, stopped when dropped.
fn run_auto_assign(dir: &Path, socket: &str, session: &str) -> Running {
    let out = std::fs::File::create(dir.join("run.out")).expect("run output");
    let err = std::fs::File::create(dir.join("run.err")).expect("run stderr");
    let child = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args([
            "--project",
            &dir.display().to_string(),
            "run",
            "--auto-assign",
        ])
        .args([
            "--socket",
            socket,
            "--session",
            session,
            "--exit-after",
            "180",
        ])
        .args(["--set", "coordinator.poll_interval=300ms"])
        .args(["--set", "coordinator.idle_threshold=0"])
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env_remove("AGENT_MAIL_URL")
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("gaffer run starts");
    Running(child)
}

/// A child process killed when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        stop(&mut self.0);
    }
}
