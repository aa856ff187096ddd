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
    /// JUnit XML: `<testcase>` results, or the totals of the innermost `<testsuite>` elements.
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
    /// A JUnit report that is not well-formed XML.
    #[error("the JUnit report is not well-formed XML: {0}")]
    Xml(String),
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

/// Parses a report, detecting its format. XML (a document starting with `<` that holds a
/// `<testsuite` element) is read as JUnit with a real XML parser; malformed XML is an error,
/// not a guess.
pub fn parse_report(text: &str) -> Result<(ReportFormat, TestCounts), ReportError> {
    if text.trim_start().starts_with('<') && text.contains("<testsuite") {
        return parse_junit(text).map(|c| (ReportFormat::Junit, c));
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

/// nextest's last `Summary [time] N tests run: …` line (`N/M tests run` when the run was
/// cancelled). Its items are `P passed (… slow, … flaky, … leaky)`, `F failed (…)`,
/// `E exec failed`, `T timed out` and `S skipped`; the last three kinds of failure all count as
/// failed. Colour codes are ignored.
fn parse_nextest(text: &str) -> Option<TestCounts> {
    static LINE: OnceLock<Regex> = OnceLock::new();
    static PAREN: OnceLock<Regex> = OnceLock::new();
    static ITEM: OnceLock<Regex> = OnceLock::new();
    let plain = crate::escapes::strip(text);
    let line = re(
        &LINE,
        r"(?m)^\s*Summary \[[^\]]*\]\s+\d+(?:/\d+)? tests? run: (.*)$",
    );
    let items = line
        .captures_iter(&plain)
        .last()?
        .get(1)?
        .as_str()
        .to_string();
    let items = re(&PAREN, r"\([^)]*\)").replace_all(&items, "");
    let item = re(&ITEM, r"^(\d+) ([a-z ]+?)\s*$");
    let mut total = TestCounts::default();
    for part in items.split(',') {
        let Some(c) = item.captures(part.trim()) else {
            continue;
        };
        let n: i64 = c.get(1).and_then(|m| m.as_str().parse().ok()).unwrap_or(0);
        match c.get(2).map(|m| m.as_str()) {
            Some("passed") => total.passed += n,
            Some("failed" | "exec failed" | "timed out") => total.failed += n,
            Some("skipped") => total.skipped += n,
            _ => {}
        }
    }
    Some(total)
}

/// An element's count attribute (missing: 0); a value that is not a count is an error.
fn count_attr(node: roxmltree::Node<'_, '_>, name: &str) -> Result<i64, ReportError> {
    match node.attribute(name) {
        None => Ok(0),
        Some(v) => v
            .trim()
            .parse::<u32>()
            .map(i64::from)
            .map_err(|_| ReportError::Xml(format!("{name}={v:?} is not a count"))),
    }
}

fn is(node: &roxmltree::Node<'_, '_>, name: &str) -> bool {
    node.is_element() && node.tag_name().name() == name
}

/// JUnit XML, read with an XML parser. Each `<testcase>` of a `<testsuite>` is counted once
/// (failed with a `<failure>` or `<error>` child, skipped with `<skipped>`, passed otherwise;
/// nextest's `<flakyFailure>` and `<rerunFailure>` are retries, not results); an innermost
/// suite that lists no cases gives its totals. A suite holding suites adds nothing of its own,
/// so nested suites and the `<testsuites>` wrapper cannot double-count.
fn parse_junit(text: &str) -> Result<TestCounts, ReportError> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text, options)
        .map_err(|e| ReportError::Xml(e.to_string()))?;
    let mut total = TestCounts::default();
    let mut suites = 0;
    for suite in doc.descendants().filter(|n| is(n, "testsuite")) {
        let mut cases = 0;
        for case in suite.children().filter(|n| is(n, "testcase")) {
            cases += 1;
            let child = |name: &str| case.children().any(|c| is(&c, name));
            if child("failure") || child("error") {
                total.failed += 1;
            } else if child("skipped") {
                total.skipped += 1;
            } else {
                total.passed += 1;
            }
        }
        suites += 1;
        if cases > 0 || suite.children().any(|c| is(&c, "testsuite")) {
            continue;
        }
        // an innermost suite that lists no cases: its totals
        let tests = count_attr(suite, "tests")?;
        let failed = count_attr(suite, "failures")? + count_attr(suite, "errors")?;
        let skipped = count_attr(suite, "skipped")? + count_attr(suite, "disabled")?;
        total.passed += (tests - failed - skipped).max(0);
        total.failed += failed;
        total.skipped += skipped;
    }
    if suites == 0 {
        return Err(ReportError::NoResults);
    }
    Ok(total)
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
  <testsuite name="a" tests="4" failures="1" errors="0" skipped="1"><testcase name="x"/><testcase name="y"/>
    <testcase name="z"><failure/></testcase><testcase name="w"><skipped/></testcase></testsuite>
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

    fn counts(passed: i64, failed: i64, skipped: i64) -> TestCounts {
        TestCounts {
            passed,
            failed,
            skipped,
        }
    }

    #[test]
    fn nextest_timed_out_and_exec_failed_count_as_failed() {
        // nextest's summary line: passed (slow, flaky, leaky), failed (leaky), exec failed,
        // timed out, skipped
        let text = "        PASS [   0.010s] crate tests::a\n     TIMEOUT [  60.002s] crate tests::slow\n       XFAIL [   0.001s] crate tests::gone\n------------\n     Summary [  60.120s] 9 tests run: 5 passed (1 slow, 1 flaky), 1 failed (1 due to being leaky), 1 exec failed, 2 timed out, 4 skipped\n";
        assert_eq!(
            parse_report(text),
            Ok((ReportFormat::Nextest, counts(5, 4, 4)))
        );
        // a cancelled run says how many of the planned tests ran
        let cancelled =
            "     Summary [   3.001s] 12/40 tests run: 11 passed, 1 timed out, 0 skipped\n";
        assert_eq!(
            parse_report(cancelled),
            Ok((ReportFormat::Nextest, counts(11, 1, 0)))
        );
        // captured with colours
        let coloured = "     \x1b[32;1mSummary\x1b[0m [   0.5s] \x1b[1m3\x1b[0m tests run: \x1b[1m2\x1b[0m \x1b[32;1mpassed\x1b[0m, \x1b[1m1\x1b[0m \x1b[31;1mexec failed\x1b[0m, \x1b[1m0\x1b[0m \x1b[33;1mskipped\x1b[0m\n";
        assert_eq!(
            parse_report(coloured),
            Ok((ReportFormat::Nextest, counts(2, 1, 0)))
        );
    }

    #[test]
    fn junit_single_quotes_and_gt_inside_attributes() {
        let xml = "<?xml version='1.0'?>\n<testsuite name='a > b' tests='3' failures='1' errors='0' skipped='1'>\
                   <testcase name='x > y'/><testcase name='z'><failure message='1 > 0'/></testcase>\
                   <testcase name='s'><skipped/></testcase></testsuite>";
        assert_eq!(
            parse_report(xml),
            Ok((ReportFormat::Junit, counts(1, 1, 1)))
        );
        // attribute totals alone (no test cases listed), single-quoted, with `>` before them
        let totals = "<testsuites><testsuite name='p>q' tests='5' failures='2' errors='1' skipped='0'></testsuite></testsuites>";
        assert_eq!(
            parse_report(totals),
            Ok((ReportFormat::Junit, counts(2, 3, 0)))
        );
    }

    #[test]
    fn junit_nested_suites_count_once() {
        // a suite holding suites (Maven, pytest-xdist, Gradle aggregates): its totals repeat
        // its children's
        let xml = r#"<testsuites tests="4">
  <testsuite name="outer" tests="4" failures="1">
    <testsuite name="inner1" tests="2" failures="1">
      <testcase name="a"/><testcase name="b"><failure>boom</failure></testcase>
    </testsuite>
    <testsuite name="inner2" tests="2">
      <testcase name="c"/><testcase name="d"><error message="x"/></testcase>
    </testsuite>
  </testsuite>
</testsuites>"#;
        assert_eq!(
            parse_report(xml),
            Ok((ReportFormat::Junit, counts(2, 2, 0)))
        );
        let totals_only = r#"<testsuite name="outer" tests="10" failures="3">
  <testsuite name="i1" tests="6" failures="1" skipped="2"/>
  <testsuite name="i2" tests="4" failures="2"/>
</testsuite>"#;
        assert_eq!(
            parse_report(totals_only),
            Ok((ReportFormat::Junit, counts(5, 3, 2)))
        );
    }

    #[test]
    fn junit_cdata_and_comments_are_text_not_markup() {
        let xml = r#"<testsuites>
  <!-- <testsuite tests="100" failures="100"> -->
  <testsuite name="s" tests="2" failures="1">
    <testcase name="a"><system-out><![CDATA[<testsuite tests="50" failures="50"> and <failure/>]]></system-out></testcase>
    <testcase name="b"><failure><![CDATA[expected <a> got <b>]]></failure></testcase>
  </testsuite>
</testsuites>"#;
        assert_eq!(
            parse_report(xml),
            Ok((ReportFormat::Junit, counts(1, 1, 0)))
        );
    }

    #[test]
    fn junit_nextest_flaky_and_rerun_tests() {
        // nextest writes a test that passed on a retry with <flakyFailure> children, and a test
        // that failed every try with <failure> and <rerunFailure>
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="3" failures="1" errors="0" uuid="u" timestamp="2026-01-01T00:00:00Z" time="1.0">
    <testsuite name="gaffer-core" tests="3" disabled="0" errors="0" failures="1">
        <testcase name="ok" classname="gaffer-core" timestamp="t" time="0.1"/>
        <testcase name="flaky" classname="gaffer-core" timestamp="t" time="0.1"><flakyFailure type="test failure" message="x"/></testcase>
        <testcase name="bad" classname="gaffer-core" timestamp="t" time="0.1"><failure type="test failure"/><rerunFailure type="test failure"/></testcase>
    </testsuite>
</testsuites>"#;
        assert_eq!(
            parse_report(xml),
            Ok((ReportFormat::Junit, counts(2, 1, 0)))
        );
    }

    #[test]
    fn broken_xml_is_an_error_not_a_guess() {
        let xml = "<testsuite tests=\"3\" failures=\"1\"><testcase name=\"a\">";
        assert!(matches!(parse_report(xml), Err(ReportError::Xml(_))));
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
