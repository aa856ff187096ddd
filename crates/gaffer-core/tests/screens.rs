//! The screen fixtures: every file under tests/screens/<agent>/<case>.txt states its expected
//! verdict in a header (see tests/screens/README.md); this one test checks them all.

use gaffer_core::detect::{Detector, ScreenInput};
use gaffer_core::status::AgentStatus;
use gaffer_core::time::{format_rfc3339, parse_rfc3339};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

struct Fixture {
    path: PathBuf,
    agent: String,
    status: AgentStatus,
    context: Option<f64>,
    command: String,
    hard: Option<String>,
    reset: Option<String>,
    screen: String,
}

fn default_command(agent: &str) -> &'static str {
    match agent {
        "cc" => "claude",
        "cod" => "codex",
        "gmi" => "node",
        _ => "bash",
    }
}

fn load(path: &Path, agent: &str) -> Fixture {
    let text = std::fs::read_to_string(path).unwrap();
    let (head, screen) = text
        .split_once("\n---\n")
        .unwrap_or_else(|| panic!("{}: no `---` after the header", path.display()));
    let mut f = Fixture {
        path: path.to_path_buf(),
        agent: agent.to_string(),
        status: AgentStatus::Unknown,
        context: None,
        command: default_command(agent).to_string(),
        hard: None,
        reset: None,
        screen: screen.trim_end().to_string(),
    };
    let mut has_status = false;
    for line in head.lines() {
        let (k, v) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("{}: bad header line {line:?}", path.display()));
        let v = v.trim();
        match k.trim() {
            "status" => {
                f.status = v.parse().unwrap();
                has_status = true;
            }
            "context" => {
                f.context = if v == "none" {
                    None
                } else {
                    Some(v.parse().unwrap())
                }
            }
            "command" => f.command = v.to_string(),
            "hard" => f.hard = Some(v.to_string()),
            "reset" => f.reset = Some(v.to_string()),
            other => panic!("{}: unknown header key {other:?}", path.display()),
        }
    }
    assert!(has_status, "{}: no status", path.display());
    f
}

fn fixtures() -> Vec<Fixture> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/screens");
    let mut out = Vec::new();
    let mut agents: Vec<_> = std::fs::read_dir(&root).unwrap().flatten().collect();
    agents.sort_by_key(|e| e.file_name());
    for agent in agents {
        if !agent.path().is_dir() {
            continue;
        }
        let name = agent.file_name().to_string_lossy().into_owned();
        let mut files: Vec<_> = std::fs::read_dir(agent.path()).unwrap().flatten().collect();
        files.sort_by_key(|e| e.file_name());
        for file in files {
            if file.path().extension().is_some_and(|e| e == "txt") {
                out.push(load(&file.path(), &name));
            }
        }
    }
    out
}

#[test]
fn every_screen_fixture_gets_its_expected_verdict() {
    let detector = Detector::builtin();
    let observed_at = parse_rfc3339("2026-11-29T10:00:00Z").unwrap();
    let all = fixtures();
    let mut failures = Vec::new();
    let mut per_agent: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut statuses: BTreeMap<String, std::collections::BTreeSet<AgentStatus>> = BTreeMap::new();
    for f in &all {
        let input = ScreenInput {
            agent_type: &f.agent,
            screen: &f.screen,
            current_command: &f.command,
            observed_at,
        };
        let v = detector.detect(&input);
        let e = per_agent.entry(f.agent.clone()).or_default();
        e.0 += 1;
        if f.hard.is_some() {
            e.1 += 1;
        }
        statuses
            .entry(f.agent.clone())
            .or_default()
            .insert(f.status);
        let mut problems = Vec::new();
        if v.status != f.status {
            problems.push(format!("status {} (want {})", v.status, f.status));
        }
        if v.context_usage != f.context {
            problems.push(format!(
                "context {:?} (want {:?})",
                v.context_usage, f.context
            ));
        }
        if let Some(want) = &f.reset {
            let got = v.rate_limit_reset.as_ref().map(format_rfc3339);
            if got.as_deref() != Some(want.as_str()) {
                problems.push(format!("reset {got:?} (want {want})"));
            }
        }
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {} — rule {:?}, reason {:?}, evidence {:?}",
                f.path
                    .strip_prefix(env!("CARGO_MANIFEST_DIR"))
                    .unwrap_or(&f.path)
                    .display(),
                problems.join(", "),
                v.rule,
                v.reason,
                v.evidence
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures fail:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );

    let total = all.len();
    let hard = all.iter().filter(|f| f.hard.is_some()).count();
    assert!(total >= 90, "only {total} fixtures");
    assert!(
        hard * 100 >= total * 40,
        "only {hard} of {total} are hard cases"
    );
    for agent in ["cc", "cod", "gmi", "shell"] {
        assert!(per_agent.contains_key(agent), "no fixtures for {agent}");
    }
    // the three agents cover every screen state
    for agent in ["cc", "cod", "gmi"] {
        for st in [
            AgentStatus::Waiting,
            AgentStatus::Generating,
            AgentStatus::Blocked,
            AgentStatus::RateLimited,
            AgentStatus::Error,
            AgentStatus::Exited,
        ] {
            assert!(statuses[agent].contains(&st), "{agent} has no {st} fixture");
        }
    }
    eprintln!(
        "screen fixtures: {total} total, {hard} hard; per agent (total, hard): {per_agent:?}"
    );
}

/// Fusion with no signals leaves every fixture's verdict as the screen gave it (an agent
/// without hooks is observed exactly as before), and names the screen as the decider.
#[test]
fn every_fixture_fuses_unchanged_without_signals() {
    use gaffer_core::fuse::{FuseConfig, Source, fuse};
    let detector = Detector::builtin();
    let observed_at = parse_rfc3339("2026-11-29T10:00:00Z").unwrap();
    let all = fixtures();
    for f in &all {
        let v = detector.detect(&ScreenInput {
            agent_type: &f.agent,
            screen: &f.screen,
            current_command: &f.command,
            observed_at,
        });
        let fused = fuse(&v, None, observed_at, observed_at, &FuseConfig::default());
        assert_eq!(fused.fusion.decided_by, Source::Screen, "{:?}", f.path);
        let context_source = fused.fusion.context_source;
        let out = fused.apply(v.clone());
        assert_eq!(out.status, f.status, "{:?}", f.path);
        assert_eq!(
            (&out.status, &out.rule, &out.reason, &out.evidence),
            (&v.status, &v.rule, &v.reason, &v.evidence),
            "{:?}",
            f.path
        );
        assert_eq!(out.context_usage, v.context_usage, "{:?}", f.path);
        assert_eq!(out.rate_limit_reset, v.rate_limit_reset, "{:?}", f.path);
        assert_eq!(
            context_source,
            v.context_usage.map(|_| Source::Screen),
            "{:?}",
            f.path
        );
    }
}

/// A screen captured with its escapes (`capture-pane -e`, or an agent that prints charset
/// designations, DCS/APC strings or OSC hyperlinks) gets the verdict of the plain screen.
#[test]
fn escapes_in_a_screen_do_not_change_the_verdict() {
    let detector = Detector::builtin();
    let observed_at = parse_rfc3339("2026-11-29T10:00:00Z").unwrap();
    let mut failures = Vec::new();
    for f in fixtures() {
        let dressed: String = f
            .screen
            .lines()
            .enumerate()
            .map(|(i, l)| match i % 4 {
                0 => format!("\x1b(B{l}\x1b[2~"),
                1 => format!("\x1b]8;;file:///x\x1b\\{l}\x1b]8;;\x1b\\\x1b[4@"),
                2 => format!("\x1bP1$r0m\x1b\\{l}\x1b_Gi=1\x1b\\"),
                _ => format!("\x1b[1m{l}\x1b(0\x1b(B\u{9b}0m"),
            })
            .collect::<Vec<_>>()
            .join("\n");
        let input = |screen| ScreenInput {
            agent_type: &f.agent,
            screen,
            current_command: &f.command,
            observed_at,
        };
        let (plain, with) = (
            detector.detect(&input(&f.screen)),
            detector.detect(&input(&dressed)),
        );
        if (plain.status, plain.context_usage, &plain.rule)
            != (with.status, with.context_usage, &with.rule)
        {
            failures.push(format!(
                "{}: {} {:?} vs {} {:?}",
                f.path.display(),
                plain.status,
                plain.rule,
                with.status,
                with.rule
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
