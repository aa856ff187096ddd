//! `gaffer explain` on the screen fixtures, run as the real binary.

use gaffer_core::exit;
use std::path::{Path, PathBuf};
use std::process::Output;

fn gaffer(home: &Path, args: &[&str]) -> Output {
    gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), home, args)
}

/// `gaffer --json explain --agent shell --file <capture>`.
fn explain_shell(home: &Path, capture: &Path) -> Output {
    gaffer(
        home,
        &[
            "--json",
            "explain",
            "--agent",
            "shell",
            "--file",
            capture.to_str().unwrap(),
        ],
    )
}

fn screens() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../gaffer-core/tests/screens")
}

fn header(path: &Path) -> (String, Option<f64>) {
    let text = std::fs::read_to_string(path).unwrap();
    let head = text.split("\n---\n").next().unwrap();
    let mut status = String::new();
    let mut context = None;
    for l in head.lines() {
        if let Some(v) = l.strip_prefix("status:") {
            status = v.trim().to_string();
        }
        if let Some(v) = l.strip_prefix("context:") {
            context = v.trim().parse().ok();
        }
    }
    (status, context)
}

#[test]
fn explain_json_gives_the_expected_verdict_on_every_fixture() {
    let home = tempfile::tempdir().unwrap();
    let mut n = 0;
    for agent in ["cc", "cod", "gmi", "shell"] {
        let mut files: Vec<_> = std::fs::read_dir(screens().join(agent))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        files.sort();
        for f in files {
            let out = gaffer(
                home.path(),
                &[
                    "--json",
                    "explain",
                    "--agent",
                    agent,
                    "--file",
                    f.to_str().unwrap(),
                ],
            );
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}: {}",
                f.display(),
                String::from_utf8_lossy(&out.stderr)
            );
            let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let (status, context) = header(&f);
            assert_eq!(v["status"], status.as_str(), "{}", f.display());
            match context {
                Some(c) => assert_eq!(v["context_usage"].as_f64(), Some(c), "{}", f.display()),
                None => assert!(v["context_usage"].is_null(), "{}", f.display()),
            }
            for key in [
                "reason",
                "rule",
                "evidence",
                "confidence",
                "trace",
                "observed_at",
            ] {
                assert!(v.get(key).is_some(), "{}: no {key}", f.display());
            }
            assert!(v["trace"].as_array().unwrap().len() >= 4);
            n += 1;
        }
    }
    assert!(n >= 90, "{n}");
}

#[test]
fn explain_text_accounts_for_every_rule() {
    let home = tempfile::tempdir().unwrap();
    let f = screens().join("cc/idle_old_errors_scrollback.txt");
    let out = gaffer(
        home.path(),
        &["explain", "--agent", "cc", "--file", f.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("status:     WAITING"), "{text}");
    for id in [
        "cc.exited.shell_prompt",
        "cc.blocked.permission",
        "cc.busy.spinner",
        "cc.rate_limited",
        "cc.error.api",
        "cc.waiting.composer",
    ] {
        assert!(text.contains(id), "{id} missing:\n{text}");
    }
    assert!(text.contains("=> cc.waiting.composer"), "{text}");
    // --command overrides the header: the exited screen under a live agent command is not EXITED
    let f = screens().join("cc/exited_shell_prompt.txt");
    let run = |cmd: &str| -> serde_json::Value {
        let out = gaffer(
            home.path(),
            &[
                "--json",
                "explain",
                "--agent",
                "cc",
                "--command",
                cmd,
                "--file",
                f.to_str().unwrap(),
            ],
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(run("bash")["status"], "EXITED");
    assert_ne!(run("claude")["status"], "EXITED");
}

#[test]
fn user_rule_overrides_apply_and_bad_ones_are_config_errors() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("xdg/gaffer/rules");
    std::fs::create_dir_all(&dir).unwrap();
    let capture = home.path().join("cap.txt");
    std::fs::write(&capture, "building...\nDEPLOYING NOW\n").unwrap();
    std::fs::write(
        dir.join("shell.toml"),
        "kind = \"shell\"\n[[rule]]\nid = \"my.deploy\"\nstatus = \"GENERATING\"\npriority = 10\nregion = \"bottom\"\nlines = 2\npatterns = ['DEPLOYING']\nconfidence = 0.8\nreason = \"a deploy runs\"\n",
    )
    .unwrap();
    let out = explain_shell(home.path(), &capture);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["rule"], "my.deploy");
    assert_eq!(v["status"], "GENERATING");

    std::fs::write(
        dir.join("cc.toml"),
        "kind = \"cc\"\n[[rule]]\nid = \"x\"\nstatus = \"WAITING\"\npriority = 1\nregion = \"nowhere\"\npatterns = ['a']\nconfidence = 0.5\nreason = \"r\"\n",
    )
    .unwrap();
    let out = explain_shell(home.path(), &capture);
    assert_eq!(out.status.code(), Some(exit::CONFIG));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cc.toml:6: key `rule[0].region`"), "{err}");
}

#[test]
fn explain_errors_have_exit_codes() {
    let home = tempfile::tempdir().unwrap();
    let out = gaffer(
        home.path(),
        &["explain", "--agent", "cc", "--file", "/nonexistent/cap.txt"],
    );
    assert_eq!(out.status.code(), Some(exit::NOT_FOUND));
    let out = gaffer(home.path(), &["explain", "--file", "/nonexistent/cap.txt"]);
    assert_eq!(out.status.code(), Some(exit::USAGE));
    // A live pane on a private socket with no server: UNAVAILABLE (never the default server).
    let socket = format!("gaffer-test-none-{}", std::process::id());
    let out = gaffer(
        home.path(),
        &["--json", "explain", "%3", "--socket", &socket],
    );
    assert_eq!(out.status.code(), Some(exit::UNAVAILABLE));
    let err: serde_json::Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(err["error"]["kind"], "unavailable");
}
