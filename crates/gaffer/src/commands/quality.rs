//! `gaffer quality [show | record-tests | scan]`.

use crate::adapters;
use crate::cli::{GlobalArgs, QualityAction};
use crate::config_load;
use crate::error::ExitError;
use crate::output::Output;
use crate::output::say;
use gaffer_core::exit;
use gaffer_core::quality::{ScanMetrics, TestRunMetrics};
use gaffer_core::test_report::{TestCounts, parse_report};
use serde_json::json;
use std::io::Read;
use std::time::{Duration, Instant};

/// Runs a quality action.
pub fn run(global: &GlobalArgs, action: Option<QualityAction>) -> anyhow::Result<i32> {
    match action.unwrap_or(QualityAction::Show) {
        QualityAction::Show => show(global),
        QualityAction::RecordTests {
            file,
            agent,
            package,
            passed,
            failed,
            skipped,
            duration_ms,
        } => record_tests(
            global,
            file,
            agent,
            package,
            passed,
            failed,
            skipped,
            duration_ms,
        ),
        QualityAction::Scan => scan(global),
    }
}

/// Whether the `ubs` scanner is on PATH.
pub fn ubs_available() -> bool {
    which("ubs").is_some()
}

fn which(bin: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

fn show(global: &GlobalArgs) -> anyhow::Result<i32> {
    let ledger = adapters::ledger(global)?;
    let q = ledger.quality_monitor(ubs_available())?;
    let now = chrono::Utc::now();
    let summary = q.summary(now);
    let scores = q.agent_quality_scores();
    if global.json {
        let out = json!({
            "summary": summary,
            "quality_score": q.quality_score(),
            "agents": q.all_agent_metrics(),
            "agent_scores": scores,
        });
        println!(
            "{}",
            crate::output::safe_json(serde_json::to_string_pretty(&out)?)
        );
        return Ok(exit::SUCCESS);
    }
    say!("Quality score: {:.0}/100", q.quality_score());
    if summary.total_test_runs == 0 {
        say!("Tests: no runs recorded (gaffer quality record-tests)");
    } else {
        say!(
            "Tests: {:.1}% passing over {} runs ({} passed, {} failed; {} in the last hour), trend {:?}",
            summary.test_pass_rate,
            summary.total_test_runs,
            summary.tests_passed_all,
            summary.tests_failed_all,
            summary.recent_test_runs,
            summary.trend.test_trend
        );
    }
    if summary.ubs_available {
        say!(
            "Scanner: {} critical, {} warnings ({} min ago)",
            summary.critical_bugs,
            summary.warnings,
            summary.last_scan_age
        );
    } else {
        say!("Scanner: ubs is not installed");
    }
    say!(
        "Agent errors: {} ({:.2}/h), trend {:?}",
        summary.total_agent_errors,
        summary.error_rate,
        summary.trend.error_trend
    );
    for (pane, score) in &scores {
        say!("  {pane:<6} score {score:>5.1}");
    }
    for a in &summary.alerts {
        say!("alert: {a}");
    }
    Ok(exit::SUCCESS)
}

#[allow(clippy::too_many_arguments)]
fn record_tests(
    global: &GlobalArgs,
    file: Option<std::path::PathBuf>,
    agent: Option<String>,
    package: String,
    passed: Option<i64>,
    failed: Option<i64>,
    skipped: i64,
    duration_ms: i64,
) -> anyhow::Result<i32> {
    let out = Output::of(global);
    let usage = |message: &str| ExitError::usage(message);
    let (format, counts) = if passed.is_some() || failed.is_some() {
        if file.is_some() {
            return Err(usage("give either a report file or --passed/--failed, not both").into());
        }
        (
            "counts".to_string(),
            TestCounts {
                passed: passed.unwrap_or(0),
                failed: failed.unwrap_or(0),
                skipped,
            },
        )
    } else if let Some(path) = file {
        let text = if path.as_os_str() == "-" {
            let mut s = String::new();
            std::io::stdin().read_to_string(&mut s)?;
            s
        } else {
            std::fs::read_to_string(&path)
                .map_err(|e| ExitError::failure(format!("{}: cannot read: {e}", path.display())))?
        };
        let (fmt, counts) = parse_report(&text).map_err(|e| ExitError::failure(e.to_string()))?;
        (
            serde_json::to_value(fmt)?
                .as_str()
                .unwrap_or("report")
                .to_string(),
            counts,
        )
    } else {
        return Err(usage("give a report file (or - for stdin), or --passed N --failed N").into());
    };
    if counts.passed < 0 || counts.failed < 0 || counts.skipped < 0 {
        return Err(ExitError::failure("test counts cannot be negative").into());
    }
    let run = TestRunMetrics {
        timestamp: chrono::Utc::now(),
        agent_pane_id: agent.unwrap_or_default(),
        passed: counts.passed,
        failed: counts.failed,
        skipped: counts.skipped,
        duration: duration_ms,
        package,
    };
    let mut ledger = adapters::ledger(global)?;
    ledger.record_test_run(&run)?;
    out.print_line(&json!({"recorded": run, "format": format}), || {
        say!(
            "recorded {} passed, {} failed, {} skipped ({format}){}",
            run.passed,
            run.failed,
            run.skipped,
            if run.agent_pane_id.is_empty() {
                String::new()
            } else {
                format!(" for {}", run.agent_pane_id)
            }
        );
    })?;
    Ok(exit::SUCCESS)
}

fn scan(global: &GlobalArgs) -> anyhow::Result<i32> {
    let out = Output::of(global);
    let Some(ubs) = which("ubs") else {
        return Err(
            ExitError::unavailable("the ubs scanner is not installed (not on PATH)").into(),
        );
    };
    let root = config_load::project_root(global);
    let started = Instant::now();
    let output = run_with_timeout(
        std::process::Command::new(ubs).arg(".").current_dir(&root),
        Duration::from_secs(30),
    )?;
    let text = String::from_utf8_lossy(&output.stdout);
    let (critical, warning, info) = count_findings(&text);
    let scan = ScanMetrics {
        timestamp: chrono::Utc::now(),
        duration: started.elapsed().as_millis() as i64,
        critical,
        warning,
        info,
        files: 0,
        exit_code: output.status.code().unwrap_or(-1) as i64,
    };
    adapters::ledger(global)?.record_scan(&scan)?;
    out.print(&scan, || {
        say!("scan: {critical} critical, {warning} warnings, {info} info");
    })?;
    Ok(exit::SUCCESS)
}

fn run_with_timeout(
    cmd: &mut std::process::Command,
    timeout: Duration,
) -> anyhow::Result<std::process::Output> {
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let deadline = Instant::now() + timeout;
    loop {
        if child.try_wait()?.is_some() {
            return Ok(child.wait_with_output()?);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(
                ExitError::failure(format!("ubs timed out after {}s", timeout.as_secs())).into(),
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Counts findings in scanner output: JSON totals when present, else lines by severity word.
fn count_findings(text: &str) -> (i64, i64, i64) {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text.trim()) {
        let pick = |k: &str| {
            ["", "summary", "totals"]
                .iter()
                .find_map(|sec| {
                    let node = if sec.is_empty() {
                        Some(&v)
                    } else {
                        v.get(*sec)
                    };
                    node.and_then(|n| n.get(k)).and_then(|x| x.as_i64())
                })
                .unwrap_or(0)
        };
        return (
            pick("critical"),
            pick("warning").max(pick("warnings")),
            pick("info"),
        );
    }
    let lower = text.to_lowercase();
    let count = |w: &str| lower.lines().filter(|l| l.contains(w)).count() as i64;
    (count("critical"), count("warning"), count("info"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_from_json_or_text() {
        assert_eq!(
            count_findings(r#"{"summary":{"critical":2,"warning":3,"info":1}}"#),
            (2, 3, 1)
        );
        assert_eq!(count_findings(r#"{"critical":1,"warnings":4}"#), (1, 4, 0));
        assert_eq!(
            count_findings("CRITICAL a.rs:1\nwarning b.rs:2\nwarning c\n"),
            (1, 2, 0)
        );
    }
}
