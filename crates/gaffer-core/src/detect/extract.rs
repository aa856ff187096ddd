//! Values read from a screen: context usage, rate-limit reset times, and an activity
//! fingerprint that ignores spinner animation and ticking counters.

use super::meaning_to_usage;
use super::rules::KindRules;
use crate::time::Timestamp;
use chrono::{Duration as ChronoDuration, NaiveTime, Timelike};
use regex::Regex;
use std::sync::OnceLock;

/// Context usage (percent used) from the kind's markers, searched bottom-up in the last lines;
/// with the marker line it came from.
pub(crate) fn context_usage(
    rules: &KindRules,
    lines: &[&str],
    content: &[usize],
) -> (Option<f64>, Option<String>) {
    let read = |text: &str, marker: &super::rules::ContextMarker| -> Option<f64> {
        let c = marker.pattern.captures(text)?;
        let n = match marker.value {
            Some(v) => v,
            None => c.get(1)?.as_str().parse::<f64>().ok()?,
        };
        (0.0..=100.0)
            .contains(&n)
            .then(|| meaning_to_usage(marker.meaning, n))
    };
    for marker in &rules.context {
        let start = content.len().saturating_sub(marker.lines);
        for &i in content[start..].iter().rev() {
            if let Some(u) = read(lines[i], marker) {
                return (Some(u), Some(lines[i].trim().to_string()));
            }
        }
    }
    // a narrow pane hard-wraps the footer: try the last lines joined back together
    for marker in &rules.context {
        let start = content.len().saturating_sub(marker.lines.min(4));
        let joined: String = content[start..].iter().map(|&i| lines[i]).collect();
        if let Some(u) = read(&joined, marker) {
            let m = marker.pattern.find(&joined).map(|m| m.as_str().to_string());
            return (Some(u), m);
        }
    }
    (None, None)
}

fn relative_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)\b(?:in|after)\s+(?:approximately\s+|about\s+|~\s*)?((?:\d+\s*(?:hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b[\s,]*(?:and\s+)?)+)",
        )
        .expect("constant regex")
    })
}

fn unit_digit_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"([A-Za-z])(\d)").expect("constant regex"))
}

fn part_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?i)(\d+)\s*(hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b")
            .expect("constant regex")
    })
}

fn clock_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(
            r"(?i)\b(?:resets?|try again|available again|limit will reset)\s+(?:at\s+)?(\d{1,2})(?::(\d{2}))?\s*([ap]\.?m\.?)?(?:\s*\(([^)]+)\))?",
        )
        .expect("constant regex")
    })
}

/// Parses a rate limit's reset time from one line, relative to `observed_at`.
///
/// Understands durations (`in 2h 13m`, `in 2 hours 13 minutes`, `after 2h13m`, `in approximately
/// 4 hours`) and clock times (`resets 4:30pm (UTC)`, `try again at 3:05 PM`), taken as the next
/// such time at or after `observed_at`. A clock time in a named zone other than UTC/GMT gives
/// `None`: the core has no time-zone database, and a wrong time is worse than none.
pub fn parse_rate_limit_reset(line: &str, observed_at: Timestamp) -> Option<Timestamp> {
    // `2h13m` → `2h 13m`, so each part ends at a word boundary
    let spaced = unit_digit_re().replace_all(line, "$1 $2");
    if let Some(c) = relative_re().captures(&spaced) {
        let mut secs: i64 = 0;
        for p in part_re().captures_iter(c.get(1)?.as_str()) {
            let n: i64 = p.get(1)?.as_str().parse().ok()?;
            let unit = p.get(2)?.as_str().to_ascii_lowercase();
            let mult = if unit.starts_with('h') {
                3600
            } else if unit.starts_with('m') {
                60
            } else {
                1
            };
            secs = secs.checked_add(n.checked_mul(mult)?)?;
        }
        if secs > 0 {
            return observed_at.checked_add_signed(ChronoDuration::seconds(secs));
        }
    }
    let c = clock_re().captures(line)?;
    let mut hour: u32 = c.get(1)?.as_str().parse().ok()?;
    let minute: u32 = c.get(2).map_or(Some(0), |m| m.as_str().parse().ok())?;
    if let Some(ampm) = c.get(3) {
        let pm = ampm.as_str().to_ascii_lowercase().starts_with('p');
        if hour == 0 || hour > 12 {
            return None;
        }
        hour %= 12;
        if pm {
            hour += 12;
        }
    } else if c.get(2).is_none() {
        // a bare number without am/pm or minutes is not a clock time
        return None;
    }
    if let Some(zone) = c.get(4) {
        let z = zone.as_str().trim().to_ascii_uppercase();
        if !matches!(z.as_str(), "UTC" | "GMT" | "ETC/UTC" | "Z") {
            return None;
        }
    }
    let t = NaiveTime::from_hms_opt(hour, minute, 0)?;
    let day = observed_at.date_naive();
    let mut at = day.and_time(t).and_utc();
    if at < observed_at.with_nanosecond(0).unwrap_or(observed_at) {
        at = at.checked_add_signed(ChronoDuration::days(1))?;
    }
    Some(at)
}

/// A fingerprint of a screen for activity tracking: changes when content changes, but not when
/// only a spinner glyph turns or a counter (elapsed seconds, token count) ticks. Feed
/// `fingerprint != previous` to [`super::AgentTracker::observe`] as `content_changed`.
pub fn activity_fingerprint(screen: &str) -> u64 {
    let mut h = crate::hash::Fnv64::new();
    for c in screen.chars() {
        let skip = c.is_ascii_digit()
            || c.is_whitespace()
            || matches!(
                c,
                '·' | '✢'
                    | '✳'
                    | '✶'
                    | '✻'
                    | '✽'
                    | '*'
                    | '•'
                    | '◦'
                    | '.'
                    | '◐'
                    | '◑'
                    | '◒'
                    | '◓'
                    | '\u{2800}'..='\u{28ff}'
            );
        if skip {
            continue;
        }
        let mut buf = [0u8; 4];
        std::hash::Hasher::write(&mut h, c.encode_utf8(&mut buf).as_bytes());
    }
    std::hash::Hasher::finish(&h)
}
