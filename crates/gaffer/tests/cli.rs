//! Drives the real binary: help, version, exit codes, config diagnostics.

use gaffer_core::exit;
use std::path::Path;
use std::process::{Command, Output};

fn gaffer(dir: &Path, args: &[&str]) -> Output {
    gaffer_testkit::cli::run(env!("CARGO_BIN_EXE_gaffer"), dir, args)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir(dir.path().join(".git")).expect("marker");
    dir
}

const COMMANDS: [&str; 20] = [
    "run",
    "done",
    "refuse",
    "status",
    "explain",
    "assign",
    "suggest",
    "conflicts",
    "digest",
    "quality",
    "triage",
    "send",
    "spawn",
    "watch",
    "dashboard",
    "serve",
    "demo",
    "config",
    "mail",
    "doctor",
];

#[test]
fn help_lists_every_command_with_a_description() {
    let dir = project();
    let out = gaffer(dir.path(), &["--help"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS));
    let text = stdout(&out);
    for cmd in COMMANDS {
        let line = text
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{cmd} ")))
            .unwrap_or_else(|| panic!("--help lacks {cmd}:\n{text}"));
        assert!(
            line.split_whitespace().count() > 2,
            "{cmd} has no description: {line}"
        );
    }
    assert!(text.contains("--json"));
}

#[test]
fn version() {
    let dir = project();
    let out = gaffer(dir.path(), &["--version"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS));
    assert!(stdout(&out).starts_with("gaffer "));
}

#[test]
fn usage_error_exit_code() {
    let dir = project();
    let out = gaffer(dir.path(), &["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(exit::USAGE));
    let out = gaffer(dir.path(), &["frobnicate"]);
    assert_eq!(out.status.code(), Some(exit::USAGE));
}

#[test]
fn config_check_misspelled_key_names_key_and_line() {
    let dir = project();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[coordinator]\nauto_assign = true\nidle_treshold = 10\n",
    )
    .unwrap();
    let out = gaffer(dir.path(), &["config", "check", "c.toml"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("c.toml:3"), "{err}");
    assert!(err.contains("coordinator.idle_treshold"), "{err}");
    assert!(
        err.contains("did you mean `coordinator.idle_threshold`"),
        "{err}"
    );
}

#[test]
fn config_check_bad_duration_is_a_config_error() {
    let dir = project();
    let file = dir.path().join("c.toml");
    std::fs::write(
        &file,
        "[coordinator]\nauto_assign = true\n\ndigest_interval = \"ten minutes\"\n",
    )
    .unwrap();
    let out = gaffer(dir.path(), &["config", "check", "c.toml"]);
    assert_eq!(out.status.code(), Some(exit::CONFIG));
    let err = stderr(&out);
    assert!(err.contains("c.toml:4"), "{err}");
    assert!(err.contains("coordinator.digest_interval"), "{err}");
    assert!(err.contains("invalid duration"), "{err}");

    let out = gaffer(dir.path(), &["--json", "config", "check", "c.toml"]);
    assert_eq!(out.status.code(), Some(exit::CONFIG));
    let v: serde_json::Value =
        serde_json::from_str(stderr(&out).trim()).expect("JSON error on stderr");
    assert_eq!(v["error"]["code"], exit::CONFIG);
    assert_eq!(v["error"]["kind"], "config");
}

#[test]
fn project_file_env_and_flags_layer_in_order() {
    let dir = project();
    std::fs::create_dir_all(dir.path().join(".gaffer")).unwrap();
    std::fs::write(
        dir.path().join(".gaffer/config.toml"),
        "[coordinator]\npoll_interval = \"2s\"\nhuman_agent = \"Ann\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("xdg/gaffer")).unwrap();
    std::fs::write(
        dir.path().join("xdg/gaffer/config.toml"),
        "[coordinator]\npoll_interval = \"9s\"\nauto_assign = true\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args([
            "--json",
            "--set",
            "coordinator.human_agent=Bob",
            "config",
            "show",
        ])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env("GAFFER_ASSIGN__STRATEGY", "quality")
        .env_remove("AGENT_MAIL_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit::SUCCESS), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(
        v["config"]["coordinator"]["poll_interval"], "2s",
        "project beats user"
    );
    assert_eq!(
        v["config"]["coordinator"]["auto_assign"], true,
        "user applies"
    );
    assert_eq!(
        v["config"]["coordinator"]["human_agent"], "Bob",
        "flag beats project"
    );
    assert_eq!(v["config"]["assign"]["strategy"], "quality", "env applies");
    let kinds: Vec<&str> = v["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l["kind"].as_str())
        .collect();
    assert_eq!(kinds, ["defaults", "user", "project", "env", "flag"]);
}

#[test]
fn bad_env_value_is_a_config_error_naming_the_variable() {
    let dir = project();
    let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["config", "show"])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .env("GAFFER_COORDINATOR__POLL_INTERVAL", "fast")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(exit::CONFIG));
    assert!(
        stderr(&out).contains("GAFFER_COORDINATOR__POLL_INTERVAL"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn config_init_writes_a_clean_file_once() {
    let dir = project();
    let out = gaffer(dir.path(), &["config", "init"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS), "{}", stderr(&out));
    let path = dir.path().join(".gaffer/config.toml");
    assert!(path.exists());
    let out = gaffer(dir.path(), &["config", "check", ".gaffer/config.toml"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS));
    assert!(stdout(&out).contains("0 warnings"), "{}", stdout(&out));
    let again = gaffer(dir.path(), &["config", "init"]);
    assert_eq!(again.status.code(), Some(exit::FAILURE));
    assert!(stderr(&again).contains("--force"));
    let forced = gaffer(dir.path(), &["config", "init", "--force"]);
    assert_eq!(forced.status.code(), Some(exit::SUCCESS));
}

#[test]
fn readme_documents_every_exit_code() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md");
    for (code, name, _) in exit::ALL {
        assert!(
            readme.contains(&format!("| {code} | `{name}` |")),
            "README lacks exit code {code} ({name})"
        );
    }
}

#[test]
fn every_command_has_help() {
    let dir = project();
    for cmd in COMMANDS {
        let out = gaffer(dir.path(), &[cmd, "--help"]);
        assert_eq!(out.status.code(), Some(exit::SUCCESS), "{cmd} --help");
    }
}

#[test]
fn a_closed_pipe_ends_quietly() {
    use std::io::Read;
    let dir = project();
    let mut child = Command::new(env!("CARGO_BIN_EXE_gaffer"))
        .args(["config", "show"])
        .current_dir(dir.path())
        .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away, like `| head -0`
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let _ = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn config_show_redacts_secrets_in_text_and_json() {
    let dir = project();
    std::fs::create_dir_all(dir.path().join(".gaffer")).unwrap();
    std::fs::write(
        dir.path().join(".gaffer/config.toml"),
        "[notify]\nwebhook_url = \"https://ann:pw-in-url@ntfy.example/alerts?auth=QXV0aA\"\n",
    )
    .unwrap();
    for json in [false, true] {
        let mut args = vec!["config", "show"];
        if json {
            args.insert(0, "--json");
        }
        let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
            .args(&args)
            .current_dir(dir.path())
            .env("XDG_CONFIG_HOME", dir.path().join("xdg"))
            .env("GAFFER_NOTIFY__WEBHOOK_TOKEN", "tk_from_env_s3cret")
            .env_remove("AGENT_MAIL_URL")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(exit::SUCCESS), "{}", stderr(&out));
        let (text, err) = (stdout(&out), stderr(&out));
        for secret in ["tk_from_env_s3cret", "pw-in-url", "QXV0aA"] {
            assert!(
                !text.contains(secret) && !err.contains(secret),
                "{secret} shown:\n{text}{err}"
            );
        }
        let (token, url) = if json {
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            (
                v["config"]["notify"]["webhook_token"].clone(),
                v["config"]["notify"]["webhook_url"].clone(),
            )
        } else {
            let v: toml::Value = toml::from_str(
                &text
                    .lines()
                    .filter(|l| !l.starts_with('#'))
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
            .unwrap();
            let j = |x: &toml::Value| serde_json::Value::String(x.as_str().unwrap().to_string());
            (
                j(&v["notify"]["webhook_token"]),
                j(&v["notify"]["webhook_url"]),
            )
        };
        assert_eq!(token, "<redacted>", "json={json}");
        assert_eq!(
            url, "https://ann:<redacted>@ntfy.example/<redacted>",
            "json={json}"
        );
    }
}

/// The bash completion script, loaded by a real bash, completes gaffer's subcommands and a
/// subcommand's flags.
#[test]
fn bash_completion_completes_commands_and_flags() {
    let dir = project();
    let out = gaffer(dir.path(), &["completions", "bash"]);
    assert_eq!(out.status.code(), Some(exit::SUCCESS), "{}", stderr(&out));
    let script = dir.path().join("gaffer.bash");
    std::fs::write(&script, &out.stdout).expect("write the script");
    let complete = |line: &str| -> String {
        let words: Vec<&str> = line.split(' ').collect();
        let probe = format!(
            "source {script}; COMP_WORDS=({words}); COMP_CWORD={cword}; COMP_LINE='{line}'; \
             COMP_POINT={point}; _gaffer gaffer '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script = script.display(),
            words = words.join(" "),
            cword = words.len() - 1,
            point = line.len(),
            cur = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let o = Command::new("bash")
            .args(["--norc", "-c", &probe])
            .output()
            .expect("run bash");
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let commands = complete("gaffer sta");
    assert!(commands.lines().any(|l| l == "status"), "{commands}");
    assert!(!commands.lines().any(|l| l == "run"), "{commands}");
    let flags = complete("gaffer spawn --pa");
    assert!(flags.lines().any(|l| l == "--panes-per-window"), "{flags}");
    // A shell clap does not know is a usage error.
    let bad = gaffer(dir.path(), &["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(exit::USAGE));
}
