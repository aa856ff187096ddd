//! `gaffer quality [show | record-tests | scan]`.

use crate::adapters;
use crate::cli::{GlobalArgs, QualityAction};
use crate::config_load;
use crate::error::ExitError;
use crate::output::Output;
use crate::output::{esay, say};
use gaffer_core::exit;
use gaffer_core::home::Report;
use gaffer_core::limits;
use gaffer_core::quality::{ScanMetrics, TestRunMetrics};
use gaffer_core::test_report::{TestCounts, parse_report};
use serde_json::json;
use std::io::Read;
use std::time::{Duration, Instant};

/// The most of each of the scanner's output streams that is kept (the rest is read and
/// dropped, so the scanner never blocks on a full pipe).
const UBS_OUTPUT_LIMIT: usize = 16 << 20;

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
        QualityAction::Scan { timeout } => scan(global, timeout),
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
        let text = read_report(&path)?;
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
    // On a remote host the run goes home (`format` is only for this process's output).
    if let Some(code) =
        crate::home::client::report_home(global, Report::TestRun { run: run.clone() })?
    {
        return Ok(code);
    }
    apply_test_run(global, &run)?;
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

/// Records a test run in this project's ledger: what `gaffer quality record-tests` does here,
/// and what a report from a host does.
pub fn apply_test_run(global: &GlobalArgs, run: &TestRunMetrics) -> Result<(), ExitError> {
    let mut ledger = adapters::ledger(global)?;
    ledger
        .record_test_run(run)
        .map_err(|e| ExitError::failure(e.to_string()))
}

/// A test report from a file or stdin (`-`), at most [`limits::MAX_REPORT_BYTES`]; bytes that
/// are not UTF-8 are replaced.
fn read_report(path: &std::path::Path) -> Result<String, ExitError> {
    let limit = limits::MAX_REPORT_BYTES;
    let name = if path.as_os_str() == "-" {
        "stdin".to_string()
    } else {
        path.display().to_string()
    };
    let cannot = |e: std::io::Error| ExitError::failure(format!("{name}: cannot read: {e}"));
    let mut bytes = Vec::new();
    if path.as_os_str() == "-" {
        std::io::stdin()
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(cannot)?;
    } else {
        std::fs::File::open(path)
            .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
            .map_err(cannot)?;
    }
    if bytes.len() as u64 > limit {
        return Err(ExitError::failure(format!(
            "{name}: the report is larger than {} MiB",
            limits::mib(limit)
        )));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn scan(global: &GlobalArgs, timeout: Duration) -> anyhow::Result<i32> {
    let out = Output::of(global);
    let Some(ubs) = which("ubs") else {
        return Err(
            ExitError::unavailable("the ubs scanner is not installed (not on PATH)").into(),
        );
    };
    let root = config_load::project_root(global);
    let started = Instant::now();
    let output = crate::subprocess::run(
        std::process::Command::new(ubs).arg(".").current_dir(&root),
        timeout,
        UBS_OUTPUT_LIMIT,
    )
    .map_err(|e| ExitError::failure(format!("ubs {e}")))?;
    if output.truncated {
        esay!(
            "warning: ubs printed more than {} MiB; findings are counted in the first {} MiB",
            UBS_OUTPUT_LIMIT >> 20,
            UBS_OUTPUT_LIMIT >> 20
        );
    }
    if !output.status.success() {
        let err = String::from_utf8_lossy(&output.stderr);
        if let Some(last) = err.lines().rev().find(|l| !l.trim().is_empty()) {
            esay!("warning: ubs exited with {}: {last}", output.status);
        }
    }
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
