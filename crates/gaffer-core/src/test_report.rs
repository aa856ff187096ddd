//! Reading test results from the output of common runners, for `gaffer quality record-tests`:
//! `cargo test`, cargo-nextest, JUnit XML, and `go test -json`.

use regex::Regex;
use serde::Serialize;
use std::sync::OnceLock;

/// Test counts found in a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct TestCounts {
    /// Passed.
    pub passed: i64,
    /// Failed (errors included).
    pub failed: i64,
    /// Skipped or ignored.
    pub skipped: i64,
}

/// The report formats understood.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReportFormat {
    /// `test result: ok. N passed; M failed; K ignored; …` lines, summed.
    CargoTest,
    /// nextest's `Summary … N tests run: P passed, F failed, S skipped`.
    Nextest,
    /// `<testsuite tests=… failures=… errors=… skipped=…>` elements, summed.
    Junit,
    /// `go test -json` events with a `Test` name.
    GoTestJson,
}

/// Why a report could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// Nothing recognisable.
    #[error(
        "no test results found (expected cargo test, nextest, JUnit XML or go test -json output)"
    )]
    NoResults,
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| {
        Regex::new(pattern).unwrap_or_else(|e| panic!("valid regex {pattern}: {e}"))
    })
}

fn count(caps: Option<regex::Captures<'_>>) -> i64 {
    caps.and_then(|c| c.get(1))
        .and_then(|m| m.as_str().parse().ok())
        .unwrap_or(0)
}

/// Parses a report, detecting its format.
pub fn parse_report(text: &str) -> Result<(ReportFormat, TestCounts), ReportError> {
    if text.contains("<testsuite") {
        if let Some(c) = parse_junit(text) {
            return Ok((ReportFormat::Junit, c));
        }
    }
    if let Some(c) = parse_nextest(text) {
        return Ok((ReportFormat::Nextest, c));
    }
    if let Some(c) = parse_cargo(text) {
        return Ok((ReportFormat::CargoTest, c));
    }
    if let Some(c) = parse_go_json(text) {
        return Ok((ReportFormat::GoTestJson, c));
    }
    Err(ReportError::NoResults)
}

fn parse_cargo(text: &str) -> Option<TestCounts> {
    static LINE: OnceLock<Regex> = OnceLock::new();
    static P: OnceLock<Regex> = OnceLock::new();
    static F: OnceLock<Regex> = OnceLock::new();
    static I: OnceLock<Regex> = OnceLock::new();
    let line = re(&LINE, r"(?m)^test result: (?:ok|FAILED)\..*$");
    let mut total = TestCounts::default();
    let mut found = false;
    for m in line.find_iter(text) {
        found = true;
        let l = m.as_str();
        total.passed += count(re(&P, r"(\d+) passed").captures(l));
        total.failed += count(re(&F, r"(\d+) failed").captures(l));
        total.skipped += count(re(&I, r"(\d+) ignored").captures(l));
    }
    found.then_some(total)
}

fn parse_nextest(text: &str) -> Option<TestCounts> {
    static LINE: OnceLock<Regex> = OnceLock::new();
    static P: OnceLock<Regex> = OnceLock::new();
    static F: OnceLock<Regex> = OnceLock::new();
    static S: OnceLock<Regex> = OnceLock::new();
    let line = re(&LINE, r"(?m)^\s*Summary \[.*\] +\d+ tests? run: .*$");
    let l = line.find_iter(text).last()?.as_str();
    Some(TestCounts {
        passed: count(re(&P, r"(\d+) passed").captures(l)),
        failed: count(re(&F, r"(\d+) failed").captures(l)),
        skipped: count(re(&S, r"(\d+) skipped").captures(l)),
    })
}

fn attr(tag: &str, name: &str) -> i64 {
    let needle = format!(" {name}=\"");
    tag.find(&needle)
        .and_then(|i| {
            let rest = &tag[i + needle.len()..];
            rest.split('"').next()
        })
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn parse_junit(text: &str) -> Option<TestCounts> {
    let mut total = TestCounts::default();
    let mut found = false;
    let mut rest = text;
    while let Some(i) = rest.find("<testsuite") {
        let after = &rest[i + "<testsuite".len()..];
        // `<testsuites` is the wrapper; its totals would double-count.
        if after.starts_with('s') {
            rest = after;
            continue;
        }
        let end = after.find('>').unwrap_or(after.len());
        let tag = &after[..end];
        let tests = attr(tag, "tests");
        let failed = attr(tag, "failures") + attr(tag, "errors");
        let skipped = attr(tag, "skipped") + attr(tag, "disabled");
        total.passed += (tests - failed - skipped).max(0);
        total.failed += failed;
        total.skipped += skipped;
        found = true;
        rest = &after[end..];
    }
    found.then_some(total)
}

fn parse_go_json(text: &str) -> Option<TestCounts> {
    let mut total = TestCounts::default();
    let mut found = false;
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v.get("Test")
            .and_then(|t| t.as_str())
            .is_none_or(str::is_empty)
        {
            continue;
        }
        match v.get("Action").and_then(|a| a.as_str()) {
            Some("pass") => total.passed += 1,
            Some("fail") => total.failed += 1,
            Some("skip") => total.skipped += 1,
            _ => continue,
        }
        found = true;
    }
    found.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_output_is_summed() {
        let text = "running 3 tests\ntest a ... ok\n\ntest result: ok. 41 passed; 0 failed; 2 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
                    test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out\n";
        assert_eq!(
            parse_report(text),
            Ok((
                ReportFormat::CargoTest,
                TestCounts {
                    passed: 44,
                    failed: 1,
                    skipped: 2
                }
            ))
        );
    }

    #[test]
    fn nextest_summary() {
        let text = "    PASS [   0.004s] gaffer-core a::b\n------------\n     Summary [   1.234s] 120 tests run: 118 passed, 2 failed, 3 skipped\n";
        assert_eq!(
            parse_report(text),
            Ok((
                ReportFormat::Nextest,
                TestCounts {
                    passed: 118,
                    failed: 2,
                    skipped: 3
                }
            ))
        );
        let ok = "     Summary [   0.5s] 10 tests run: 10 passed, 0 skipped\n";
        assert_eq!(
            parse_report(ok),
            Ok((
                ReportFormat::Nextest,
                TestCounts {
                    passed: 10,
                    failed: 0,
                    skipped: 0
                }
            ))
        );
    }

    #[test]
    fn junit_sums_suites_not_the_wrapper() {
        let xml = r#"<?xml version="1.0"?>
<testsuites tests="7" failures="1" errors="1">
  <testsuite name="a" tests="4" failures="1" errors="0" skipped="1"><testcase name="x"/></testsuite>
  <testsuite name="b" tests="3" failures="0" errors="1"></testsuite>
</testsuites>"#;
        assert_eq!(
            parse_report(xml),
            Ok((
                ReportFormat::Junit,
                TestCounts {
                    passed: 4,
                    failed: 2,
                    skipped: 1
                }
            ))
        );
    }

    #[test]
    fn go_test_json_counts_tests_not_packages() {
        let text = r#"{"Action":"run","Test":"TestA"}
{"Action":"pass","Test":"TestA","Elapsed":0.1}
{"Action":"fail","Test":"TestB"}
{"Action":"skip","Test":"TestC"}
{"Action":"fail","Package":"x"}
not json
"#;
        assert_eq!(
            parse_report(text),
            Ok((
                ReportFormat::GoTestJson,
                TestCounts {
                    passed: 1,
                    failed: 1,
                    skipped: 1
                }
            ))
        );
    }

    #[test]
    fn nothing_recognisable_is_an_error() {
        assert_eq!(parse_report("hello"), Err(ReportError::NoResults));
        assert_eq!(parse_report(""), Err(ReportError::NoResults));
    }
}
