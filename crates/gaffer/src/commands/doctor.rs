//! `gaffer doctor`: is this machine ready for gaffer? The agent CLIs on PATH against the
//! versions the detection rules were verified on, tmux, Agent Mail and `br`, each with what to
//! do about a problem.
//!
//! Exit code: 0 when nothing required is missing, 1 otherwise. Required: tmux, at least one
//! agent CLI (claude, codex or gemini), and a configured Agent Mail server that answers (the
//! embedded mailbox needs nothing). A CLI version the rules were not verified on, or a missing
//! `br`, is a warning.

use crate::cli::GlobalArgs;
use crate::config_load;
use crate::output::say;
use clap::Args;
use gaffer_core::exit;
use serde::Serialize;
use std::cmp::Ordering;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `gaffer doctor`.
#[derive(Debug, Args, Clone)]
pub struct DoctorArgs {
    /// How long each `--version` may take.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
    /// Agent Mail server URL to check (default: `AGENT_MAIL_URL`, else config `mail.url`).
    #[arg(long, value_name = "URL")]
    pub mail_url: Option<String>,
}

/// One agent CLI gaffer knows: its type, executable and npm package.
struct KnownAgent {
    kind: &'static str,
    name: &'static str,
    program: &'static str,
    package: &'static str,
}

const AGENTS: [KnownAgent; 3] = [
    KnownAgent {
        kind: "cc",
        name: "Claude Code",
        program: "claude",
        package: "@anthropic-ai/claude-code",
    },
    KnownAgent {
        kind: "cod",
        name: "Codex CLI",
        program: "codex",
        package: "@openai/codex",
    },
    KnownAgent {
        kind: "gmi",
        name: "Gemini CLI",
        program: "gemini",
        package: "@google/gemini-cli",
    },
];

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Fine.
    Ok,
    /// Works, but something may go wrong (an unverified version, an optional tool missing).
    Warn,
    /// A required part is missing or broken.
    Error,
}

/// One finding of `gaffer doctor`.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `cc`, `cod`, `gmi`, `tmux`, `agent_mail` or `br`.
    pub name: String,
    /// The machine-readable outcome, e.g. `verified`, `newer`, `not_installed`, `ok`.
    pub status: String,
    /// How serious it is.
    pub level: Level,
    /// The executable found on PATH (or the server URL, the mailbox file).
    pub path: Option<String>,
    /// The version it reported.
    pub version: Option<String>,
    /// What was found, in words.
    pub detail: String,
    /// What to do about it (none when all is well).
    pub remedy: Option<String>,
    /// Agents: the versions the detection rules were verified on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verified_versions: Option<Vec<String>>,
    /// Agents: the npm package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
}

impl Check {
    fn new(name: &str, status: &str, level: Level, detail: String) -> Check {
        Check {
            name: name.into(),
            status: status.into(),
            level,
            path: None,
            version: None,
            detail,
            remedy: None,
            verified_versions: None,
            package: None,
        }
    }
}

/// The whole report (`--json`).
#[derive(Debug, Serialize)]
pub struct Report {
    /// True when nothing required is missing (exit 0).
    pub ok: bool,
    /// What is required and missing, in words.
    pub required_missing: Vec<String>,
    /// Every finding.
    pub checks: Vec<Check>,
}

/// `gaffer doctor`.
pub fn run(global: &GlobalArgs, args: &DoctorArgs) -> anyhow::Result<i32> {
    let detector = crate::adapters::detector()?;
    let loaded = config_load::load(global)?;
    let mut checks = Vec::new();
    for a in &AGENTS {
        let verified = detector
            .kind_rules(a.kind)
            .map(|r| r.verified.clone())
            .unwrap_or_default();
        checks.push(check_agent(a, &verified, args.timeout));
    }
    checks.push(check_tmux(args.timeout));
    let root = std::fs::canonicalize(&loaded.project_root).unwrap_or(loaded.project_root);
    let url = args
        .mail_url
        .clone()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| gaffer_mail::configured_url(&loaded.config.mail.url));
    checks.push(check_mail(
        url.as_deref(),
        &root,
        loaded.config.mail.timeout,
    ));
    checks.push(check_br(args.timeout));

    let mut required_missing = Vec::new();
    if !checks
        .iter()
        .any(|c| AGENTS.iter().any(|a| a.kind == c.name) && c.status != "not_installed")
    {
        required_missing.push("no agent CLI (claude, codex or gemini) on PATH".to_string());
    }
    for c in checks.iter().filter(|c| c.level == Level::Error) {
        required_missing.push(format!("{}: {}", c.name, c.detail));
    }
    let report = Report {
        ok: required_missing.is_empty(),
        required_missing,
        checks,
    };
    if global.json {
        println!(
            "{}",
            crate::output::safe_json(serde_json::to_string_pretty(&report)?)
        );
    } else {
        print_report(&report);
    }
    Ok(if report.ok {
        exit::SUCCESS
    } else {
        exit::FAILURE
    })
}

fn print_report(r: &Report) {
    say!("gaffer doctor");
    for c in &r.checks {
        let mark = match c.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Error => "FAIL",
        };
        say!("  {mark} {:<10} {}", c.name, c.detail);
        if let Some(p) = &c.path {
            say!("       {:<10} {p}", "");
        }
        if let Some(fix) = &c.remedy {
            say!("       {:<10} → {fix}", "");
        }
    }
    if r.ok {
        say!("nothing required is missing");
    } else {
        for m in &r.required_missing {
            say!("missing: {m}");
        }
    }
}

/// The first executable called `program` on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// What running `PROGRAM --version` gave.
#[derive(Debug)]
pub enum VersionOutput {
    /// It exited 0; stdout and stderr together.
    Ok(String),
    /// It exited with an error.
    Failed(String),
    /// It did not finish in time (it was killed, with its process group).
    TimedOut,
}

/// Runs `exe args…` with stdin closed, in its own process group, for at most `timeout`.
pub fn run_version(exe: &Path, args: &[&str], timeout: Duration) -> VersionOutput {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(exe);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return VersionOutput::Failed(format!("cannot run it: {e}")),
    };
    // Read both pipes on their own threads: a child may fill one while we wait.
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut r| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    })
    .collect();
    let end = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) | Err(_) => break None,
        }
    };
    let Some(status) = status else {
        // The whole group: a wrapper script's children hold the pipes open too.
        let pgid = child.id() as i32;
        // SAFETY: kill(2) on the process group we created for this child.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = child.kill();
        let _ = child.wait();
        return VersionOutput::TimedOut;
    };
    // The readers end once every holder of the pipes has gone; a leftover grandchild could
    // keep them open, so wait only briefly.
    let mut text = String::new();
    for h in readers {
        let wait_end = Instant::now() + Duration::from_secs(2);
        while !h.is_finished() && Instant::now() < wait_end {
            std::thread::sleep(Duration::from_millis(10));
        }
        if h.is_finished() {
            if let Ok(buf) = h.join() {
                text.push_str(&String::from_utf8_lossy(&buf));
            }
        }
    }
    if status.success() {
        VersionOutput::Ok(text)
    } else {
        VersionOutput::Failed(format!("{status}: {}", text.trim()))
    }
}

/// The first version-looking token of `text`: `2.1.332`, `0.61.0`, `3.3a`, `1.0.0-beta.2`.
pub fn parse_version(text: &str) -> Option<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, '(' | ')' | ',' | ';' | '"' | '\''))
        .map(|t| t.strip_prefix('v').unwrap_or(t))
        .map(|t| t.trim_end_matches(['.', ':']))
        .find(|t| {
            let mut parts = t.split('.');
            let first = parts.next().unwrap_or("");
            let second = parts.next().unwrap_or("");
            !first.is_empty()
                && first.chars().all(|c| c.is_ascii_digit())
                && second.starts_with(|c: char| c.is_ascii_digit())
        })
        .map(str::to_string)
}

/// Orders two versions: numeric components compared as numbers, a pre-release (`-…`) before
/// its release.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (Vec<u64>, Option<&str>) {
        let (core, pre) = match v.split_once('-') {
            Some((c, p)) => (c, Some(p)),
            None => (v, None),
        };
        let nums = core
            .split('.')
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().unwrap_or(0)
            })
            .collect();
        (nums, pre)
    }
    let (na, pa) = split(a);
    let (nb, pb) = split(b);
    let n = na.len().max(nb.len());
    for i in 0..n {
        let (x, y) = (
            na.get(i).copied().unwrap_or(0),
            nb.get(i).copied().unwrap_or(0),
        );
        match x.cmp(&y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    match (pa, pb) {
        (None, None) => Ordering::Equal,
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (Some(x), Some(y)) => x.cmp(y),
    }
}

/// `verified`, `newer`, `older` or `unverified` (between verified versions, or none recorded).
pub fn classify(version: &str, verified: &[String]) -> &'static str {
    if verified
        .iter()
        .any(|v| compare_versions(v, version) == Ordering::Equal)
    {
        return "verified";
    }
    let newest = verified
        .iter()
        .max_by(|a, b| compare_versions(a, b))
        .map(String::as_str);
    let oldest = verified
        .iter()
        .min_by(|a, b| compare_versions(a, b))
        .map(String::as_str);
    match (newest, oldest) {
        (Some(n), _) if compare_versions(version, n) == Ordering::Greater => "newer",
        (_, Some(o)) if compare_versions(version, o) == Ordering::Less => "older",
        _ => "unverified",
    }
}

/// Where `scripts/install-agents.sh` puts the pinned copy of `program` at `version`.
fn pinned_copy(kind: &str, version: &str, program: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
    let p = base
        .join("gaffer/agents")
        .join(format!("{kind}-{version}"))
        .join("node_modules/.bin")
        .join(program);
    is_executable(&p).then_some(p)
}

fn check_agent(a: &KnownAgent, verified: &[String], timeout: Duration) -> Check {
    let newest = verified
        .iter()
        .max_by(|x, y| compare_versions(x, y))
        .cloned();
    let pin = match &newest {
        Some(v) => format!("npm install -g {}@{v}", a.package),
        None => format!("npm install -g {}", a.package),
    };
    let test_copies = match newest
        .as_deref()
        .and_then(|v| pinned_copy(a.kind, v, a.program))
    {
        Some(p) => format!(
            "the pinned copy for gaffer's own tests is installed at {}",
            p.display()
        ),
        None => "pinned copies for gaffer's own tests and `gaffer demo --real-agents`: \
                 scripts/install-agents.sh"
            .to_string(),
    };
    let verified_on = if verified.is_empty() {
        "the rules record no verified version".to_string()
    } else {
        format!("rules verified on {}", verified.join(", "))
    };
    let mut c = Check::new(a.kind, "not_installed", Level::Warn, String::new());
    c.verified_versions = Some(verified.to_vec());
    c.package = Some(a.package.into());
    let Some(exe) = which(a.program) else {
        c.detail = format!("{} (`{}`) is not on PATH", a.name, a.program);
        c.remedy = Some(format!("install it: {pin} ({test_copies})"));
        return c;
    };
    c.path = Some(exe.display().to_string());
    let out = run_version(&exe, &["--version"], timeout);
    let text = match out {
        VersionOutput::Ok(t) => t,
        VersionOutput::Failed(why) => {
            c.status = "no_version".into();
            c.detail = format!("`{} --version` failed: {why}", a.program);
            c.remedy = Some(format!("check the installation, or reinstall: {pin}"));
            return c;
        }
        VersionOutput::TimedOut => {
            c.status = "no_version".into();
            c.detail = format!(
                "`{} --version` did not answer within {}",
                a.program,
                humantime::format_duration(timeout)
            );
            c.remedy = Some(format!(
                "check that `{} --version` runs (a wrapper waiting for input, a broken install), \
                 or reinstall: {pin}",
                a.program
            ));
            return c;
        }
    };
    let Some(version) = parse_version(&text) else {
        c.status = "no_version".into();
        c.detail = format!(
            "`{} --version` printed no version: {:?}",
            a.program,
            text.trim().chars().take(120).collect::<String>()
        );
        c.remedy = Some(format!("check the installation, or reinstall: {pin}"));
        return c;
    };
    let status = classify(&version, verified);
    c.version = Some(version.clone());
    c.status = status.into();
    match status {
        "verified" => {
            c.level = Level::Ok;
            c.detail = format!("{} {version}: verified", a.name);
        }
        "newer" => {
            c.detail = format!(
                "{} {version}: newer: detection may drift ({verified_on})",
                a.name
            );
            c.remedy = Some(format!(
                "watch `gaffer status`/`gaffer explain` on its panes, or pin the verified \
                 version: {pin} ({test_copies})"
            ));
        }
        "older" => {
            c.detail = format!(
                "{} {version}: older: its screens may differ from the rules ({verified_on})",
                a.name
            );
            c.remedy = Some(format!("update to the verified version: {pin}"));
        }
        _ => {
            c.detail = format!("{} {version}: unverified ({verified_on})", a.name);
            c.remedy = Some(format!(
                "watch `gaffer status`/`gaffer explain` on its panes, or pin a verified \
                 version: {pin}"
            ));
        }
    }
    c
}

fn check_tmux(timeout: Duration) -> Check {
    let Some(exe) = which("tmux") else {
        let mut c = Check::new(
            "tmux",
            "not_installed",
            Level::Error,
            "tmux is not on PATH: gaffer watches and drives agents through tmux".into(),
        );
        c.remedy = Some(
            "install it: apt-get install tmux (Debian/Ubuntu), brew install tmux \
                         (macOS); scripts/demo.sh does it when run as root"
                .into(),
        );
        return c;
    };
    let mut c = Check::new("tmux", "ok", Level::Ok, String::new());
    c.path = Some(exe.display().to_string());
    match run_version(&exe, &["-V"], timeout) {
        VersionOutput::Ok(text) => {
            c.version = parse_version(&text);
            c.detail = format!(
                "tmux {}",
                c.version.as_deref().unwrap_or("(version unknown)")
            );
        }
        VersionOutput::Failed(why) => {
            c.status = "broken".into();
            c.level = Level::Error;
            c.detail = format!("`tmux -V` failed: {why}");
            c.remedy = Some("reinstall tmux".into());
        }
        VersionOutput::TimedOut => {
            c.status = "broken".into();
            c.level = Level::Error;
            c.detail = "`tmux -V` did not answer".into();
            c.remedy = Some("reinstall tmux".into());
        }
    }
    c
}

fn check_mail(url: Option<&str>, root: &Path, timeout: Duration) -> Check {
    match url {
        Some(u) => {
            let mb = gaffer_mail::McpMailbox::from_env(u, timeout);
            let mut c = match gaffer_core::mailbox::Mailbox::health(&mb) {
                Ok(h) => Check::new(
                    "agent_mail",
                    "ok",
                    Level::Ok,
                    format!("the Agent Mail server answers ({})", h.status),
                ),
                Err(e) => {
                    let mut c = Check::new(
                        "agent_mail",
                        "unreachable",
                        Level::Error,
                        format!("the configured Agent Mail server does not answer: {e}"),
                    );
                    c.remedy = Some(
                        "start it (for a local one: scripts/agentmail.sh start), fix \
                         AGENT_MAIL_URL / mail.url (and AGENT_MAIL_TOKEN), or unset them to use \
                         the embedded mailbox"
                            .into(),
                    );
                    c
                }
            };
            c.path = Some(u.to_string());
            c
        }
        None => {
            let db = root.join(".gaffer/state.db");
            let mut c = Check::new(
                "agent_mail",
                "embedded",
                Level::Ok,
                if db.exists() {
                    "no server configured: the embedded mailbox in the project's state.db".into()
                } else {
                    "no server configured: the embedded mailbox (state.db is created on first use)"
                        .into()
                },
            );
            c.path = Some(db.display().to_string());
            if db.exists() {
                match gaffer_mail::EmbeddedMailbox::open_project(root)
                    .and_then(|m| gaffer_core::mailbox::Mailbox::health(&m))
                {
                    Ok(_) => {}
                    Err(e) => {
                        c.status = "broken".into();
                        c.level = Level::Error;
                        c.detail = format!("the embedded mailbox cannot be read: {e}");
                        c.remedy = Some(format!(
                            "check {} (permissions, disk), or point gaffer at a server with \
                             AGENT_MAIL_URL",
                            db.display()
                        ));
                    }
                }
            }
            c
        }
    }
}

fn check_br(timeout: Duration) -> Check {
    let Some(exe) = which("br") else {
        let mut c = Check::new(
            "br",
            "not_installed",
            Level::Warn,
            "br is not on PATH: gaffer ranks beads natively and keeps claims in its own ledger"
                .into(),
        );
        c.remedy = Some(
            "to claim and close beads through br: scripts/install-br.sh (or cargo install \
             beads_rust)"
                .into(),
        );
        return c;
    };
    let mut c = Check::new("br", "ok", Level::Ok, String::new());
    c.path = Some(exe.display().to_string());
    match run_version(&exe, &["--version"], timeout) {
        VersionOutput::Ok(text) => {
            c.version = parse_version(&text);
            c.detail = format!("br {}", c.version.as_deref().unwrap_or("(version unknown)"));
        }
        VersionOutput::Failed(why) => {
            c.status = "broken".into();
            c.level = Level::Warn;
            c.detail = format!("`br --version` failed: {why}");
            c.remedy = Some("reinstall it: scripts/install-br.sh".into());
        }
        VersionOutput::TimedOut => {
            c.status = "broken".into();
            c.level = Level::Warn;
            c.detail = "`br --version` did not answer".into();
            c.remedy = Some("reinstall it: scripts/install-br.sh".into());
        }
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_from_each_cli() {
        assert_eq!(
            parse_version("2.1.332 (Claude Code)").as_deref(),
            Some("2.1.332")
        );
        assert_eq!(
            parse_version("WARNING: x\ncodex-cli 0.171.0\n").as_deref(),
            Some("0.171.0")
        );
        assert_eq!(parse_version("0.61.0\n").as_deref(), Some("0.61.0"));
        assert_eq!(parse_version("tmux 3.3a").as_deref(), Some("3.3a"));
        assert_eq!(parse_version("br v0.7.6").as_deref(), Some("0.7.6"));
        assert_eq!(parse_version("no digits here"), None);
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare_versions("2.1.332", "2.1.40"), Ordering::Greater);
        assert_eq!(compare_versions("0.61.0", "0.61"), Ordering::Equal);
        assert_eq!(compare_versions("1.0.0-beta", "1.0.0"), Ordering::Less);
        let v = vec!["2.1.300".to_string(), "2.1.332".to_string()];
        assert_eq!(classify("2.1.332", &v), "verified");
        assert_eq!(classify("2.1.400", &v), "newer");
        assert_eq!(classify("2.0.1", &v), "older");
        assert_eq!(classify("2.1.310", &v), "unverified");
        assert_eq!(classify("2.1.310", &[]), "unverified");
    }
}
