//! `gaffer hooks install|uninstall|status` and `gaffer hook` through the real binary: the merge
//! keeps the user's settings, is idempotent and undone exactly; the installed command, run by
//! a shell as the CLIs do, records a signal in the ledger and wakes a listening coordinator;
//! bad input is refused with a log line, exit 0 and no output.

use gaffer_coordinator::signal_store::LedgerSignalFeed;
use gaffer_coordinator::wake::{SignalSocket, WakeSource};
use gaffer_core::signals::{HookEvent, SignalFeed};
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_gaffer");

fn gaffer(dir: &Path, args: &[&str]) -> Output {
    gaffer_testkit::cli::run(BIN, dir, args)
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

const USER_SETTINGS: &str = r#"{
  "model": "opus",
  "hooks": {
    "Stop": [
      { "hooks": [ { "type": "command", "command": "notify-send done" } ] }
    ]
  },
  "permissions": { "allow": ["Bash(ls)"] }
}
"#;

#[test]
fn install_merges_is_idempotent_and_uninstall_restores_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let project = dir.path().join("proj");
    let settings = project.join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().expect("parent")).expect("mkdir");
    std::fs::write(&settings, USER_SETTINGS).expect("write");
    let p = project.display().to_string();

    let out = gaffer(
        dir.path(),
        &[
            "--json",
            "--project",
            &p,
            "hooks",
            "install",
            "--agent",
            "cc",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["written"], true);
    assert_eq!(v["added"].as_array().map(Vec::len), Some(12));
    assert!(
        project.join(".gaffer").is_dir(),
        "the hook's project marker"
    );
    let text = read(&settings);
    let doc: Value = serde_json::from_str(&text).expect("valid JSON written");
    assert_eq!(doc["model"], "opus");
    assert_eq!(doc["permissions"]["allow"][0], "Bash(ls)");
    let stop = doc["hooks"]["Stop"].as_array().expect("Stop groups");
    assert_eq!(stop.len(), 2, "the user's Stop hook and ours");
    assert_eq!(stop[0]["hooks"][0]["command"], "notify-send done");
    let ours = stop[1]["hooks"][0]["command"].as_str().unwrap_or_default();
    let real_bin = std::fs::canonicalize(BIN).expect("canonical");
    assert!(
        ours.starts_with(&format!("{} hook --agent cc Stop", real_bin.display())),
        "{ours}"
    );
    assert!(
        text.find("\"model\"") < text.find("\"hooks\""),
        "key order kept"
    );

    // Again: nothing to do, the file is byte for byte the same.
    let out = gaffer(
        dir.path(),
        &[
            "--json",
            "--project",
            &p,
            "hooks",
            "install",
            "--agent",
            "cc",
        ],
    );
    assert_eq!(json(&out)["written"], false);
    assert_eq!(read(&settings), text);

    let out = gaffer(
        dir.path(),
        &[
            "--json",
            "--project",
            &p,
            "hooks",
            "status",
            "--agent",
            "cc",
        ],
    );
    let v = json(&out);
    let files = v["files"].as_array().expect("files");
    let proj = files
        .iter()
        .find(|r| r["scope"] == "project")
        .expect("project row");
    assert_eq!(proj["installed"].as_array().map(Vec::len), Some(12));
    assert_eq!(proj["expected"], 12);
    assert_eq!(proj["binaries"][0][1], true, "the binary exists");
    let user = files
        .iter()
        .find(|r| r["scope"] == "user")
        .expect("user row");
    assert_eq!(user["exists"], false);

    let out = gaffer(
        dir.path(),
        &[
            "--json",
            "--project",
            &p,
            "hooks",
            "uninstall",
            "--agent",
            "cc",
        ],
    );
    assert!(out.status.success());
    assert_eq!(json(&out)[0]["removed"].as_array().map(Vec::len), Some(12));
    let back: Value = serde_json::from_str(&read(&settings)).expect("json");
    let orig: Value = serde_json::from_str(USER_SETTINGS).expect("json");
    assert_eq!(back, orig, "exactly what was added is gone");
    let leftovers: Vec<_> = std::fs::read_dir(settings.parent().expect("dir"))
        .expect("readdir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(leftovers, vec!["settings.json"], "no temporary files left");
}

#[test]
fn user_scope_and_each_agents_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (agent, file) in [
        ("cc", ".claude/settings.json"),
        ("cod", ".codex/hooks.json"),
        ("gmi", ".gemini/settings.json"),
    ] {
        let out = gaffer(
            dir.path(),
            &["hooks", "install", "--agent", agent, "--user"],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let doc: Value = serde_json::from_str(&read(&dir.path().join(file))).expect("json");
        assert!(
            doc["hooks"].as_object().is_some_and(|h| !h.is_empty()),
            "{agent}"
        );
    }
    // CLAUDE_CONFIG_DIR moves Claude's user settings.
    let cfg = dir.path().join("claude-cfg");
    let out = gaffer_testkit::cli::command(BIN, dir.path())
        .env("CLAUDE_CONFIG_DIR", &cfg)
        .args(["hooks", "install", "--agent", "claude", "--user"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    assert!(cfg.join("settings.json").is_file());
    let out = gaffer(dir.path(), &["hooks", "uninstall", "--user"]);
    assert!(out.status.success());
    for file in [
        ".claude/settings.json",
        ".codex/hooks.json",
        ".gemini/settings.json",
    ] {
        assert_eq!(read(&dir.path().join(file)), "{}\n", "{file}");
    }
    let out = gaffer(dir.path(), &["hooks", "install", "--agent", "vim"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_malformed_settings_file_is_named_with_its_line_and_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let settings = dir.path().join(".gemini/settings.json");
    std::fs::create_dir_all(settings.parent().expect("parent")).expect("mkdir");
    let bad = "{\n  \"a\": 1,\n  // a comment\n  \"b\": 2\n}\n";
    std::fs::write(&settings, bad).expect("write");
    let p = dir.path().display().to_string();
    let out = gaffer(
        dir.path(),
        &["--project", &p, "hooks", "install", "--agent", "gmi"],
    );
    assert_eq!(out.status.code(), Some(3), "a config error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&settings.display().to_string()), "{err}");
    assert!(err.contains("line 3"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(read(&settings), bad);
}

/// The command gaffer installed for `event`, from the settings file.
fn installed_command(settings: &Path, event: &str) -> String {
    let doc: Value = serde_json::from_str(&read(settings)).expect("json");
    doc["hooks"][event]
        .as_array()
        .and_then(|g| g.last())
        .and_then(|g| g["hooks"][0]["command"].as_str())
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no {event} hook in {}", settings.display()))
}

/// Runs `command` with `sh -c` as the CLIs do, `payload` on stdin, in pane `pane`.
fn run_hook(cwd: &Path, command: &str, pane: Option<&str>, payload: &[u8], log: bool) -> Output {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(command)
        .current_dir(cwd)
        .env_remove("TMUX_PANE")
        .env_remove("GAFFER_LOG")
        .env("TMUX", "/tmp/tmux-1000/gaffer-test,123,0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(p) = pane {
        c.env("TMUX_PANE", p);
    }
    if log {
        c.env("GAFFER_LOG", "info");
    }
    let mut child = c.spawn().expect("sh runs");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(payload);
    }
    child.wait_with_output().expect("waits")
}

struct Project {
    _dir: tempfile::TempDir,
    root: PathBuf,
    settings: PathBuf,
}

fn project_with_cc_hooks() -> Project {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("proj");
    std::fs::create_dir_all(root.join("src")).expect("mkdir");
    let p = root.display().to_string();
    let out = gaffer(
        dir.path(),
        &["--project", &p, "hooks", "install", "--agent", "cc"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Project {
        settings: root.join(".claude/settings.json"),
        root,
        _dir: dir,
    }
}

#[test]
fn the_installed_command_records_a_signal_and_wakes_the_coordinator() {
    let pr = project_with_cc_hooks();
    let sock = SignalSocket::bind(&pr.root.join(".gaffer/signals.sock")).expect("bind");
    let cmd = installed_command(&pr.settings, "PreToolUse");
    let payload = format!(
        r#"{{"session_id":"sess-1","transcript_path":"/t/sess-1.jsonl","cwd":"{}","hook_event_name":"PreToolUse","tool_name":"Bash","tool_input":{{"command":"ls"}}}}"#,
        pr.root.join("src").display()
    );
    // Run from elsewhere: the payload's cwd finds the project.
    let out = run_hook(Path::new("/"), &cmd, Some("%42"), payload.as_bytes(), false);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "{out:?}");
    let started = Instant::now();
    assert!(
        sock.wait(Duration::from_secs(5)),
        "the coordinator was woken"
    );
    assert!(started.elapsed() < Duration::from_secs(2));

    let feed = LedgerSignalFeed::new(&pr.root.join(".gaffer/state.db"));
    let got = feed.pane_signals();
    let s = &got["%42"].last[&HookEvent::ToolStart];
    assert_eq!(s.agent, "cc");
    assert_eq!(s.raw_event, "PreToolUse");
    assert_eq!(s.session_id.as_deref(), Some("sess-1"));
    assert_eq!(s.transcript_path, Some(PathBuf::from("/t/sess-1.jsonl")));
    assert_eq!(s.detail.as_deref(), Some("Bash"));
    assert_eq!(s.socket.as_deref(), Some("/tmp/tmux-1000/gaffer-test"));

    // A permission notification from the same pane.
    let cmd = installed_command(&pr.settings, "Notification");
    let out = run_hook(
        &pr.root,
        &cmd,
        Some("%42"),
        br#"{"notification_type":"permission_prompt","message":"Claude needs your permission to use Bash"}"#,
        false,
    );
    assert_eq!(out.status.code(), Some(0));
    let got = feed.pane_signals();
    assert!(got["%42"].last.contains_key(&HookEvent::PermissionRequest));
    assert_eq!(
        got["%42"].newest().map(|s| s.event),
        Some(HookEvent::PermissionRequest)
    );

    // `hooks status` shows the last signal of the pane.
    let out = gaffer(
        &pr.root,
        &[
            "--json",
            "--project",
            &pr.root.display().to_string(),
            "hooks",
            "status",
        ],
    );
    let v = json(&out);
    assert_eq!(v["last_signals"][0]["pane_id"], "%42");
    assert_eq!(v["last_signals"][0]["event"], "permission_request");
}

#[test]
fn bad_input_is_refused_with_a_log_line_and_changes_nothing() {
    let pr = project_with_cc_hooks();
    let cmd = installed_command(&pr.settings, "Stop");
    let huge = {
        let mut v = b"{\"message\":\"".to_vec();
        v.extend(std::iter::repeat_n(b'x', 2 * 1024 * 1024));
        v.extend(b"\"}");
        v
    };
    let cases: Vec<(&str, Option<&str>, Vec<u8>, &str)> = vec![
        (
            "malformed",
            Some("%1"),
            b"{\"session_id\":".to_vec(),
            "not a JSON object",
        ),
        ("huge", Some("%1"), huge, "over the 1048576-byte limit"),
        ("no pane", None, b"{}".to_vec(), "not run in a tmux pane"),
        (
            "bad pane",
            Some("%1;rm -rf /"),
            b"{}".to_vec(),
            "not run in a tmux pane",
        ),
    ];
    for (name, pane, payload, why) in &cases {
        let out = run_hook(&pr.root, &cmd, *pane, payload, true);
        assert_eq!(out.status.code(), Some(0), "{name}");
        assert!(out.stdout.is_empty(), "{name}: no stdout");
        let log = read(&pr.root.join(".gaffer/hook.log"));
        assert!(
            log.lines()
                .last()
                .is_some_and(|l| l.contains("refused") && l.contains(why)),
            "{name}: {log}"
        );
    }
    // An event this CLI does not send, straight through the binary.
    let out = Command::new(BIN)
        .args(["hook", "--agent", "cc", "BeforeAgent"])
        .current_dir(&pr.root)
        .env("TMUX_PANE", "%1")
        .env("GAFFER_LOG", "1")
        .stdin(Stdio::null())
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    assert!(
        read(&pr.root.join(".gaffer/hook.log")).contains("unknown cc hook event \"BeforeAgent\"")
    );
    let feed = LedgerSignalFeed::new(&pr.root.join(".gaffer/state.db"));
    assert!(feed.pane_signals().is_empty(), "nothing was recorded");

    // Outside any gaffer project: nothing is written anywhere.
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let out = run_hook(elsewhere.path(), &cmd, Some("%1"), b"{}", false);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).map(|d| d.count()).ok(),
        Some(0)
    );

    // A missing gaffer binary never fails the hook either.
    let moved = cmd.replacen(
        &std::fs::canonicalize(BIN)
            .expect("bin")
            .display()
            .to_string(),
        "/nonexistent/gaffer",
        1,
    );
    let out = run_hook(&pr.root, &moved, Some("%1"), b"{}", false);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty() && out.stderr.is_empty());
}

#[test]
fn a_payload_that_never_ends_does_not_block_the_hook() {
    let pr = project_with_cc_hooks();
    let mut child = Command::new(BIN)
        .args(["hook", "--agent", "cc", "Stop"])
        .current_dir(&pr.root)
        .env("TMUX_PANE", "%3")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs");
    let mut stdin = child.stdin.take().expect("stdin");
    let _ = stdin.write_all(b"{\"session_id\":");
    let started = Instant::now();
    let deadline = started + Duration::from_secs(10);
    let status = loop {
        if let Ok(Some(s)) = child.try_wait() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    drop(stdin);
    assert_eq!(status.and_then(|s| s.code()), Some(0), "exited by itself");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let feed = LedgerSignalFeed::new(&pr.root.join(".gaffer/state.db"));
    assert!(feed.pane_signals().is_empty());
}

#[test]
fn gaffer_run_listens_on_the_signal_socket_and_removes_it_on_exit() {
    let pr = project_with_cc_hooks();
    let tmux = gaffer_testkit::tmux::TmuxServer::new("hkrun");
    tmux.session("hkrun", "sh");
    let mut child = gaffer_testkit::cli::command(BIN, &pr.root)
        .args([
            "run",
            "--socket",
            &tmux.name,
            "--session",
            "hkrun",
            "--exit-after",
            "4",
            "--json",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("gaffer run");
    let sock = pr.root.join(".gaffer/signals.sock");
    let bound = gaffer_testkit::wait_until(Duration::from_secs(10), || sock.exists());
    // While it runs, a second coordinator cannot take the socket.
    let taken = matches!(
        SignalSocket::bind(&sock),
        Err(gaffer_coordinator::wake::WakeError::InUse(_))
    );
    let out = run_hook(
        &pr.root,
        &installed_command(&pr.settings, "Stop"),
        Some("%9"),
        b"{}",
        false,
    );
    let status = child.wait().expect("waits");
    assert!(bound, "gaffer run bound {}", sock.display());
    assert!(taken, "the running coordinator holds the socket");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(status.code(), Some(0));
    assert!(!sock.exists(), "removed when gaffer run exits");
    let feed = LedgerSignalFeed::new(&pr.root.join(".gaffer/state.db"));
    assert!(
        feed.pane_signals()["%9"]
            .last
            .contains_key(&HookEvent::Stop)
    );
}
