//! Notifications on real parts: `gaffer run` over gaffer-sim agents in a private tmux server,
//! with the webhook channel posting to a real HTTP listener on loopback and the command channel
//! running a real shell command. An agent flapping BLOCKED↔GENERATING every 2 s notifies once;
//! an agent in ERROR notifies once, and so does one already in ERROR when gaffer starts;
//! nothing else notifies. `gaffer notify test` tries each
//! configured channel and says which failed.

use gaffer_coordinator::ledger::Ledger;
use gaffer_testkit::shell_quote as q;
use gaffer_testkit::tmux::TmuxServer as Tmux;
use gaffer_testkit::webhook::{Receiver, Reply};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn gaffer(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["--project", &dir.display().to_string()])
        .args(args)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .env("SHELL", "/bin/sh")
        .env_remove("AGENT_MAIL_URL")
        .env_remove("AGENT_MAIL_TOKEN")
        .output()
        .unwrap_or_else(|e| panic!("gaffer runs: {e}"))
}

fn project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let root = dir.path().to_path_buf();
    for d in [".git", ".gaffer", ".beads"] {
        std::fs::create_dir_all(root.join(d)).unwrap_or_else(|e| panic!("{e}"));
    }
    std::fs::write(root.join(".beads/issues.jsonl"), "").unwrap_or_else(|e| panic!("{e}"));
    (dir, root)
}

fn lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn a_flapping_agent_notifies_once_through_a_real_webhook_and_command() {
    let (_keep, root) = project();
    let hook = Receiver::start(vec![], Reply::Status(200));
    let notes = root.join("notes.jsonl");
    std::fs::write(
        root.join(".gaffer/config.toml"),
        format!(
            r#"[notify]
on = ["blocked", "error", "exited", "stalled", "rate_limited"]
blocked_after = "3s"
recovery = "8s"
webhook_url = "{}"
command = "cat >> {n}; echo >> {n}"
"#,
            hook.url,
            n = q(&notes.display().to_string())
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    // cc: generating 3 s (a baseline for gaffer), then BLOCKED 2 s / GENERATING 2 s, 7 times.
    let flaps = root.join("flap.script");
    std::fs::write(&flaps, "blocked 2\ngenerating 2\n".repeat(7)).unwrap_or_else(|e| panic!("{e}"));
    // cod: generating 4 s, then ERROR until the end.
    let errs = root.join("err.script");
    std::fs::write(&errs, "error 60\n").unwrap_or_else(|e| panic!("{e}"));
    let tmux = Tmux::new("notify");
    let sim = gaffer_testkit::sim::binary().display().to_string();
    let cc = tmux.agent(
        "nt",
        "nt__cc_1",
        &format!(
            "{} --agent cc --start-state generating --start-secs 3 --script {}",
            q(&sim),
            q(&flaps.display().to_string())
        ),
    );
    let cod = tmux.agent(
        "nt",
        "nt__cod_1",
        &format!(
            "{} --agent cod --start-state generating --start-secs 4 --script {}",
            q(&sim),
            q(&errs.display().to_string())
        ),
    );
    // gmi: in ERROR before gaffer starts (found at start, not a change): notified too.
    let gmi = tmux.agent(
        "nt",
        "nt__gmi_1",
        &format!(
            "{} --agent gmi --start-state error --start-secs 120",
            q(&sim)
        ),
    );
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let out = gaffer(
        &root,
        &[
            "run",
            "--exit-after",
            "24",
            "--json",
            "--socket",
            &tmux.name,
            "--session",
            "nt",
            "--set",
            "coordinator.poll_interval=300ms",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");

    // The flapping was real: gaffer saw cc enter BLOCKED several times.
    let ledger = Ledger::open(&root.join(".gaffer/state.db")).unwrap_or_else(|e| panic!("{e}"));
    let (events, _) = ledger.events_since(0).unwrap_or_else(|e| panic!("{e}"));
    let blocked_entries = events
        .iter()
        .filter(|(_, e)| e.agent_id == cc && e.event_type.as_str() == "agent_blocked")
        .count();
    assert!(
        blocked_entries >= 3,
        "cc entered BLOCKED {blocked_entries} times; the flapping was not seen\n{stderr}"
    );
    assert!(
        events
            .iter()
            .any(|(_, e)| e.agent_id == cod && e.event_type.as_str() == "agent_error"),
        "cod's ERROR was seen"
    );
    assert!(
        !events
            .iter()
            .any(|(_, e)| e.event_type.as_str() == "notify_failed"),
        "no channel failed"
    );

    // One notification per episode, on both channels.
    let mut want = vec![
        ("blocked".to_string(), cc.clone()),
        ("error".to_string(), cod.clone()),
        ("error".to_string(), gmi.clone()),
    ];
    want.sort();
    let by_command: Vec<Value> = lines(&notes);
    let mut got: Vec<(String, String)> = by_command
        .iter()
        .map(|n| {
            (
                n["kind"].as_str().unwrap_or("").to_string(),
                n["agent_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, want, "command channel: {by_command:#?}");
    let posted = hook.requests();
    let mut got: Vec<(String, String)> = posted
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}"));
            (
                v["kind"].as_str().unwrap_or("").to_string(),
                v["agent_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, want, "webhook: {posted:#?}");
    let blocked = by_command
        .iter()
        .find(|n| n["kind"] == "blocked")
        .unwrap_or_else(|| panic!("blocked"));
    assert!(
        blocked["title"]
            .as_str()
            .is_some_and(|t| t == format!("gaffer [nt]: {cc} (cc) BLOCKED")),
        "{blocked}"
    );
}

#[test]
fn notify_test_tries_each_channel_and_says_which_failed() {
    let (_keep, root) = project();
    let ok = Receiver::start(vec![], Reply::Status(200));
    let got = root.join("got.json");
    let write = |url: &str| {
        std::fs::write(
            root.join(".gaffer/config.toml"),
            format!(
                "[notify]\nwebhook_url = \"{url}\"\nwebhook_format = \"ntfy\"\nwebhook_tries = 2\nwebhook_backoff = \"50ms\"\ncommand = \"cat > {}\"\n",
                q(&got.display().to_string())
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"))
    };
    write(&ok.url);
    let out = gaffer(&root, &["notify", "test"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "webhook: sent\ncommand: sent\n");
    let reqs = ok.wait_for(1);
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].body, "gaffer can reach you through this channel.");
    assert!(
        reqs[0]
            .header("title")
            .is_some_and(|t| t.ends_with("test notification"))
    );
    let sent: Value = serde_json::from_str(&std::fs::read_to_string(&got).unwrap_or_default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(sent["kind"], "test");

    // A failing endpoint: tried twice, exit 1, the error named.
    let bad = Receiver::start(vec![], Reply::Status(503));
    write(&bad.url);
    let out = gaffer(&root, &["--json", "notify", "test"]);
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(v["channels"][0]["channel"], "webhook");
    assert_eq!(v["channels"][0]["ok"], false);
    assert_eq!(v["channels"][0]["tries"], 2);
    assert!(
        v["channels"][0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("answered 503"))
    );
    assert_eq!(v["channels"][1]["ok"], true);
    assert_eq!(bad.requests().len(), 2);

    // Nothing configured: a clear error. A bad value: the file, line and key.
    std::fs::write(root.join(".gaffer/config.toml"), "").unwrap_or_else(|e| panic!("{e}"));
    let out = gaffer(&root, &["notify", "test"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no notification channel is configured"));
    std::fs::write(
        root.join(".gaffer/config.toml"),
        "[notify]\nquiet_hours = \"late\"\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = gaffer(&root, &["notify", "test"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml:2") && err.contains("notify.quiet_hours"),
        "{err}"
    );
}

#[test]
fn the_readme_notifications_example_is_a_valid_config() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap_or_else(|e| panic!("{e}"));
    let section = readme
        .split("## Notifications")
        .nth(1)
        .unwrap_or_else(|| panic!("README has a Notifications section"));
    let toml = section
        .split("```toml")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .unwrap_or_else(|| panic!("a toml example"));
    let (_keep, root) = project();
    let file = root.join("example.toml");
    std::fs::write(&file, toml).unwrap_or_else(|e| panic!("{e}"));
    let out = gaffer(&root, &["config", "check", &file.display().to_string()]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("0 warnings"), "{stdout}");
}

/// `gaffer notify test` with `desktop = true` reaches the real notification daemon (dunst) on a
/// private D-Bus session bus through the real `notify-send`.
#[test]
fn notify_test_reaches_a_real_desktop_daemon_over_d_bus() {
    use gaffer_testkit::desktop_bus::{NotificationBus, NotifyCall, installed_or_skip};
    if !installed_or_skip() {
        return;
    }
    let bus = NotificationBus::start().unwrap_or_else(|e| panic!("{e}"));
    let (_keep, root) = project();
    std::fs::write(
        root.join(".gaffer/config.toml"),
        "[notify]\ndesktop = true\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["--project", &root.display().to_string(), "notify", "test"])
        .env("XDG_CONFIG_HOME", root.join("xdg"))
        .env("DBUS_SESSION_BUS_ADDRESS", bus.address())
        .env_remove("DISPLAY")
        .env_remove("AGENT_MAIL_URL")
        .output()
        .unwrap_or_else(|e| panic!("gaffer runs: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "desktop: sent\n");
    let label = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let summary = format!("gaffer [{label}]: test notification");
    assert_eq!(
        bus.wait_for_calls(1, std::time::Duration::from_secs(10)),
        [NotifyCall {
            app: "gaffer".into(),
            summary: summary.clone(),
            body: "gaffer can reach you through this channel.".into(),
            urgency: Some(1),
        }]
    );
    let shown = bus.shown().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shown.len(), 1, "{shown:?}");
    assert_eq!(
        (shown[0].summary.as_str(), shown[0].urgency.as_str()),
        (summary.as_str(), "NORMAL")
    );
}
