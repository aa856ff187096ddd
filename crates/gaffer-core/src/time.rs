//! Timestamps in the reference's JSON form (Go `time.Time`, RFC 3339 with trimmed nanoseconds).
//!
//! Go writes `2026-01-02T03:04:05.5Z` (trailing zeros of the fraction dropped) and writes the zero
//! time as `0001-01-01T00:00:00Z`. These helpers read any RFC 3339 string and write Go's form, so a
//! document read from the reference is written back unchanged.

use chrono::{DateTime, SecondsFormat, TimeZone, Timelike, Utc};
use serde::{Deserialize, Deserializer, Serializer};

/// A UTC instant, the type of every timestamp in the model.
pub type Timestamp = DateTime<Utc>;

/// Go's zero time, `0001-01-01T00:00:00Z`.
pub fn zero_time() -> Timestamp {
    Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Whether `t` is Go's zero time.
pub fn is_zero(t: &Timestamp) -> bool {
    *t == zero_time()
}

/// Formats `t` like Go's `time.RFC3339Nano` in UTC.
pub fn format_rfc3339(t: &Timestamp) -> String {
    let base = t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos == 0 {
        return base;
    }
    let frac = format!("{nanos:09}");
    let frac = frac.trim_end_matches('0');
    // base ends with 'Z'
    format!("{}.{}Z", &base[..base.len() - 1], frac)
}

/// Parses an RFC 3339 timestamp (any offset) into UTC.
pub fn parse_rfc3339(s: &str) -> Result<Timestamp, chrono::ParseError> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc))
}

/// Serde for a required timestamp.
pub mod rfc3339 {
    use super::*;

    /// Writes Go's RFC 3339 form.
    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_rfc3339(t))
    }

    /// Reads any RFC 3339 string.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let raw = String::deserialize(d)?;
        parse_rfc3339(&raw)
            .map_err(|e| serde::de::Error::custom(format!("bad timestamp {raw:?}: {e}")))
    }
}

/// Serde for an optional timestamp that Go always writes: `None` is written as the zero time,
/// and the zero time, `null` or a missing field read back as `None`.
pub mod rfc3339_zero_none {
    use super::*;

    /// Writes `None` as `0001-01-01T00:00:00Z`.
    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format_rfc3339(t)),
            None => s.serialize_str(&format_rfc3339(&zero_time())),
        }
    }

    /// Reads the zero time or `null` as `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let raw = Option::<String>::deserialize(d)?;
        match raw {
            None => Ok(None),
            Some(raw) if raw.is_empty() => Ok(None),
            Some(raw) => {
                let t = parse_rfc3339(&raw)
                    .map_err(|e| serde::de::Error::custom(format!("bad timestamp {raw:?}: {e}")))?;
                Ok(if is_zero(&t) { None } else { Some(t) })
            }
        }
    }
}

/// Serde for an optional timestamp that is omitted when absent (Go pointer with `omitempty`).
pub mod rfc3339_opt {
    use super::*;

    /// Writes `Some` as RFC 3339; use with `skip_serializing_if = "Option::is_none"`.
    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format_rfc3339(t)),
            None => s.serialize_none(),
        }
    }

    /// Reads a string or `null` (without copying the string when the input allows).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        d.deserialize_option(OptVisitor)
    }

    struct OptVisitor;

    impl<'de> serde::de::Visitor<'de> for OptVisitor {
        type Value = Option<Timestamp>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an RFC 3339 timestamp or null")
        }

        fn visit_none<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_str(self)
        }

        fn visit_str<E: serde::de::Error>(self, raw: &str) -> Result<Self::Value, E> {
            if raw.is_empty() {
                return Ok(None);
            }
            parse_rfc3339(raw)
                .map(Some)
                .map_err(|e| E::custom(format!("bad timestamp {raw:?}: {e}")))
        }
    }
}

/// Serde for a list of timestamps.
pub mod rfc3339_vec {
    use super::*;
    use serde::ser::SerializeSeq;

    /// Writes each timestamp in Go's form.
    pub fn serialize<S: Serializer>(ts: &[Timestamp], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(ts.len()))?;
        for t in ts {
            seq.serialize_element(&format_rfc3339(t))?;
        }
        seq.end()
    }

    /// Reads a list (or `null`, as empty).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Timestamp>, D::Error> {
        let raw = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
        raw.iter()
            .map(|r| {
                parse_rfc3339(r)
                    .map_err(|e| serde::de::Error::custom(format!("bad timestamp {r:?}: {e}")))
            })
            .collect()
    }
}

/// Reads `null` as the type's default (Go writes nil slices and maps as `null`).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Formats a duration the way the reference's digests do: `42s`, `17m`, `3h5m`.
pub fn format_short_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m", secs / 60)
    } else {
        let h = secs / 3600;
        let m = (secs % 3600) / 60;
        if m == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{m}m")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_fraction_is_trimmed() {
        let t = parse_rfc3339("2026-01-02T03:04:05.500Z").unwrap();
        assert_eq!(format_rfc3339(&t), "2026-01-02T03:04:05.5Z");
        let t = parse_rfc3339("2026-11-28T18:55:44.688795556Z").unwrap();
        assert_eq!(format_rfc3339(&t), "2026-11-28T18:55:44.688795556Z");
        let t = parse_rfc3339("2026-01-02T05:04:05+02:00").unwrap();
        assert_eq!(format_rfc3339(&t), "2026-01-02T03:04:05Z");
    }

    #[test]
    fn zero_time_round_trips() {
        assert_eq!(format_rfc3339(&zero_time()), "0001-01-01T00:00:00Z");
        assert!(is_zero(&parse_rfc3339("0001-01-01T00:00:00Z").unwrap()));
    }

    #[test]
    fn short_durations() {
        use std::time::Duration;
        assert_eq!(format_short_duration(Duration::from_secs(42)), "42s");
        assert_eq!(
            format_short_duration(Duration::from_secs(17 * 60 + 5)),
            "17m"
        );
        assert_eq!(
            format_short_duration(Duration::from_secs(3 * 3600 + 5 * 60)),
            "3h5m"
        );
        assert_eq!(format_short_duration(Duration::from_secs(2 * 3600)), "2h");
    }
}

/// Serde for an optional timestamp written the way `br` (Rust, chrono) writes it: fraction of
/// 0, 3, 6 or 9 digits. Used for beads records, so a JSONL line is written back unchanged.
pub mod rfc3339_opt_si {
    use super::*;

    /// Writes `Some` with chrono's `AutoSi` fraction.
    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            None => s.serialize_none(),
        }
    }

    /// Reads a string or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        super::rfc3339_opt::deserialize(d)
    }
}
