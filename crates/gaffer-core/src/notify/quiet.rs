//! Quiet hours: a daily window of local time, which may cross midnight.

use chrono::NaiveTime;
use std::fmt;

/// A daily window `[start, end)` of local time; `22:00-07:00` crosses midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    /// The first quiet minute.
    pub start: NaiveTime,
    /// The first minute that is not quiet any more.
    pub end: NaiveTime,
}

impl QuietHours {
    /// Parses `"HH:MM-HH:MM"`.
    pub fn parse(raw: &str) -> Result<QuietHours, String> {
        let bad = || format!("invalid quiet hours {raw:?}: write them like \"22:00-07:00\"");
        let (a, b) = raw.trim().split_once('-').ok_or_else(bad)?;
        let time = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| bad());
        let (start, end) = (time(a)?, time(b)?);
        if start == end {
            return Err(format!(
                "invalid quiet hours {raw:?}: start and end are the same time"
            ));
        }
        Ok(QuietHours { start, end })
    }

    /// Whether `t` falls inside the window.
    pub fn contains(&self, t: NaiveTime) -> bool {
        if self.start < self.end {
            self.start <= t && t < self.end
        } else {
            t >= self.start || t < self.end
        }
    }
}

impl fmt::Display for QuietHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            self.start.format("%H:%M"),
            self.end.format("%H:%M")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap_or_default()
    }

    #[test]
    fn a_window_across_midnight() {
        let q = QuietHours::parse("22:00-07:00").unwrap_or_else(|e| panic!("{e}"));
        assert!(q.contains(t(22, 0)));
        assert!(q.contains(t(23, 59)));
        assert!(q.contains(t(0, 0)));
        assert!(q.contains(t(6, 59)));
        assert!(!q.contains(t(7, 0)));
        assert!(!q.contains(t(12, 0)));
        assert!(!q.contains(t(21, 59)));
        assert_eq!(q.to_string(), "22:00-07:00");
    }

    #[test]
    fn a_window_within_a_day() {
        let q = QuietHours::parse(" 12:30 - 13:30 ").unwrap_or_else(|e| panic!("{e}"));
        assert!(q.contains(t(12, 30)));
        assert!(!q.contains(t(13, 30)));
        assert!(!q.contains(t(0, 0)));
    }

    #[test]
    fn bad_windows_are_errors() {
        for raw in [
            "",
            "22:00",
            "25:00-07:00",
            "22-07",
            "07:00-07:00",
            "ten-eleven",
        ] {
            assert!(QuietHours::parse(raw).is_err(), "{raw:?}");
        }
    }
}
