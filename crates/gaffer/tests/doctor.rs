//! `gaffer doctor` through the real binary: fake agent CLIs on a temporary PATH (verified,
//! newer, older, missing, hanging) against rules that name their verified versions, and the
//! real pinned CLIs.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// A temporary machine: a PATH directory of fake tools, a config home with rules overrides.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Self {
        let m = Machine {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        for d in ["bin", "config/gaffer/rules", "home", "project"] {
            std::fs::create_dir_all(m.dir.path().join(d)).expect("mkdir");
        }
        m
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// A fake executable `name` running the shell `body`.
    fn tool(&self, name: &str, body: &str) {
        use std::os::unix::fs::PermissionsExt;
        let p = self.bin().join(name);
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write tool");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }

    /// Overrides the rules of `kind` with the embedded ones plus `verified = [versions]`.
    fn verified(&self, kind: &str, versions: &[&str]) {
        let builtin = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../gaffer-core/rules/{kind}.toml")),
        )
        .expect("embedded rules file");
        let rest: String = builtin
            .lines()
            .filter(|l| !l.trim_start().starts_with("verified"))
            .map(|l| format!("{l}\n"))
            .collect();
        let list: Vec<String> = versions.iter().map(|v| format!("{v:?}")).collect();
        std::fs::write(
            self.dir
                .path()
                .join(format!("config/gaffer/rules/{kind}.toml")),
            format!("verified = [{}]\n{rest}", list.join(", ")),
        )
        .expect("write rules");
    }

    /// Runs `gaffer doctor ARGS` with only this machine's PATH (plus `extra_path`).
    fn doctor(&self, args: &[&str], extra_path: &[PathBuf]) -> (i32, String, Duration) {
        let mut path = vec![self.bin()];
        path.extend(extra_path.iter().cloned());
        let path = std::env::join_paths(path).expect("PATH");
        let started = Instant::now();
        let out = Command::new(env!("CARGO_BIN_EXE_gaffer"))
            .arg("--project")
            .arg(self.dir.path().join("project"))
            .arg("doctor")
            .args(args)
            .env_clear()
            .env("PATH", path)
            .env("HOME", self.dir.path().join("home"))
            .env("XDG_CONFIG_HOME", self.dir.path().join("config"))
            .env("XDG_CACHE_HOME", self.dir.path().join("cache"))
            .output()
            .expect("gaffer runs");
        let took = started.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "stderr: {stderr}");
        (out.status.code().unwrap_or(-1), stdout, took)
    }
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no check {name} in {report:#}"))
}

fn json(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("doctor --json ({e}): {stdout}"))
}

#[test]
fn verified_newer_and_older_versions_are_told_apart_with_remedies() {
    let m = Machine::new();
    m.verified("cc", &["2.1.332"]);
    m.verified("cod", &["0.171.0"]);
    m.verified("gmi", &["0.60.0", "0.61.0"]);
    m.tool("claude", "echo '2.1.332 (Claude Code)'");
    m.tool(
        "codex",
        "echo 'WARNING: a warning first' >&2; echo 'codex-cli 0.172.3'",
    );
    m.tool("gemini", "echo 0.59.9");
    m.tool("tmux", "echo 'tmux 3.3a'");
    m.tool("br", "echo 'br 0.7.6'");

    let (code, out, _) = m.doctor(&["--json"], &[]);
    let r = json(&out);
    assert_eq!(code, 0, "nothing required is missing: {r:#}");
    assert_eq!(r["ok"], true);

    let cc = check(&r, "cc");
    assert_eq!(cc["status"], "verified", "{cc:#}");
    assert_eq!(cc["version"], "2.1.332");
    assert_eq!(cc["level"], "ok");
    assert_eq!(cc["remedy"], Value::Null);
    assert!(cc["path"].as_str().unwrap_or("").ends_with("/bin/claude"));

    let cod = check(&r, "cod");
    assert_eq!(cod["status"], "newer", "{cod:#}");
    assert_eq!(cod["version"], "0.172.3");
    assert_eq!(cod["level"], "warn");
    assert!(
        cod["detail"]
            .as_str()
            .unwrap_or("")
            .contains("detection may drift"),
        "{cod:#}"
    );
    assert!(
        cod["remedy"]
            .as_str()
            .unwrap_or("")
            .contains("npm install -g @openai/codex@0.171.0"),
        "{cod:#}"
    );

    let gmi = check(&r, "gmi");
    assert_eq!(gmi["status"], "older", "{gmi:#}");
    assert_eq!(gmi["version"], "0.59.9");
    assert_eq!(
        gmi["verified_versions"],
        serde_json::json!(["0.60.0", "0.61.0"])
    );
    assert!(
        gmi["remedy"]
            .as_str()
            .unwrap_or("")
            .contains("npm install -g @google/gemini-cli@0.61.0"),
        "the newest verified version is the one to pin: {gmi:#}"
    );

    assert_eq!(check(&r, "tmux")["version"], "3.3a");
    assert_eq!(check(&r, "br")["version"], "0.7.6");
    let mail = check(&r, "agent_mail");
    assert_eq!(mail["status"], "embedded", "{mail:#}");
    assert_eq!(mail["level"], "ok");

    // The same in words, with each remedy under its finding.
    let (code, text, _) = m.doctor(&[], &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("Claude Code 2.1.332: verified"), "{text}");
    assert!(
        text.contains("Codex CLI 0.172.3: newer: detection may drift"),
        "{text}"
    );
    assert!(
        text.contains("→ update to the verified version: npm install -g @google/gemini-cli@0.61.0"),
        "{text}"
    );
    assert!(text.contains("nothing required is missing"), "{text}");
}

#[test]
fn a_hanging_cli_is_cut_off_and_missing_tmux_fails() {
    let m = Machine::new();
    m.verified("gmi", &["0.61.0"]);
    // A wrapper whose child keeps the output pipe open: the whole group must be killed.
    m.tool("gemini", "/bin/sleep 30; echo 0.61.0");
    let (code, out, took) = m.doctor(&["--json", "--timeout", "1s"], &[]);
    let r = json(&out);
    assert!(
        took < Duration::from_secs(8),
        "the hanging CLI was not cut off: {took:?}"
    );
    assert_eq!(code, 1, "tmux is required: {r:#}");
    assert_eq!(r["ok"], false);
    let gmi = check(&r, "gmi");
    assert_eq!(gmi["status"], "no_version", "{gmi:#}");
    assert!(
        gmi["detail"]
            .as_str()
            .unwrap_or("")
            .contains("did not answer within 1s"),
        "{gmi:#}"
    );
    let tmux = check(&r, "tmux");
    assert_eq!(tmux["status"], "not_installed");
    assert_eq!(tmux["level"], "error");
    assert!(
        tmux["remedy"]
            .as_str()
            .unwrap_or("")
            .contains("apt-get install tmux")
    );
    let missing: Vec<&str> = r["required_missing"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    assert_eq!(missing.len(), 1, "only tmux is missing: {missing:?}");
    assert!(missing[0].starts_with("tmux:"), "{missing:?}");
    for kind in ["cc", "cod"] {
        let c = check(&r, kind);
        assert_eq!(c["status"], "not_installed", "{c:#}");
        assert!(
            c["remedy"]
                .as_str()
                .unwrap_or("")
                .contains("scripts/install-agents.sh"),
            "{c:#}"
        );
    }
}

#[test]
fn no_agent_at_all_and_an_unreachable_mail_server_fail() {
    let m = Machine::new();
    m.tool("tmux", "echo 'tmux 3.4'");
    // A loopback port with nothing listening.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let url = format!("http://127.0.0.1:{port}/mcp/");
    let (code, out, _) = m.doctor(&["--json", "--mail-url", &url, "--timeout", "2s"], &[]);
    let r = json(&out);
    assert_eq!(code, 1, "{r:#}");
    let missing = r["required_missing"].to_string();
    assert!(missing.contains("no agent CLI"), "{missing}");
    assert!(missing.contains("agent_mail"), "{missing}");
    let mail = check(&r, "agent_mail");
    assert_eq!(mail["status"], "unreachable", "{mail:#}");
    assert_eq!(mail["path"], url.as_str());
    assert!(
        mail["remedy"]
            .as_str()
            .unwrap_or("")
            .contains("scripts/agentmail.sh start")
    );
    assert_eq!(check(&r, "br")["status"], "not_installed");
    assert_eq!(check(&r, "br")["level"], "warn");
}

/// The versions the embedded rules were verified on, read from the rules file.
fn builtin_verified(kind: &str) -> Vec<String> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../gaffer-core/rules/{kind}.toml")),
    )
    .expect("rules file");
    let v: toml::Value = toml::from_str(&text).expect("rules TOML");
    v.get("verified")
        .and_then(|a| a.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_real_pinned_clis_report_their_pinned_versions() {
    if !gaffer_testkit::netns::run_isolated("the_real_pinned_clis_report_their_pinned_versions") {
        return;
    }
    let m = Machine::new();
    let mut path = Vec::new();
    let mut pinned = Vec::new();
    for kind in ["cc", "cod", "gmi"] {
        let (agent, exe) = gaffer_testkit::agents::require(kind);
        path.push(exe.parent().expect("bin dir").to_path_buf());
        pinned.push(agent);
    }
    // node for the npm shims.
    path.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
    let (code, out, _) = m.doctor(&["--json", "--timeout", "60s"], &path);
    let r = json(&out);
    assert_eq!(code, 0, "{r:#}");
    for agent in &pinned {
        let c = check(&r, &agent.kind);
        assert_eq!(c["version"], agent.version.as_str(), "{c:#}");
        assert_eq!(c["package"], agent.package.as_str(), "{c:#}");
        let verified = builtin_verified(&agent.kind);
        if verified.contains(&agent.version) {
            assert_eq!(c["status"], "verified", "{c:#}");
            assert_eq!(c["level"], "ok", "{c:#}");
        } else {
            assert_ne!(c["status"], "verified", "{c:#}");
            assert_ne!(c["status"], "no_version", "{c:#}");
        }
    }
}
