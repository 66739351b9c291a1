//! Durations written by people (configs, command lines): `"500ms"`, `"30s"`, `"5m"`, `"1h"`,
//! `"7days"`, or several terms added up (`"1m 30s"`). The one parser edge and central share, so
//! a duration means the same in every file of the project. No I/O.

use std::fmt;
use std::time::Duration;

const EXPECTED: &str = "expected a whole number and a unit (ns, us, ms, s, m, h, d), like \"500ms\", \"30s\", \"5m\", \"1h\" or \"1m 30s\"";

/// What was wrong with a duration, and what is expected instead (its `Display` says both).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("duration is empty: {EXPECTED}")]
    Empty,
    #[error("invalid duration {0:?}: {EXPECTED}")]
    Invalid(String),
    #[error("duration {input:?} has no unit after {number}: {EXPECTED}")]
    NoUnit { input: String, number: u64 },
    #[error("unknown duration unit {unit:?} in {input:?}: {EXPECTED}")]
    UnknownUnit { input: String, unit: String },
    #[error("duration {0:?} is too large")]
    TooLarge(String),
}

/// Nanoseconds per unit, by every name the unit goes by.
fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" | "nsec" | "nanos" => 1,
        "us" | "usec" | "micros" => 1_000,
        "ms" | "msec" | "millis" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => 1_000_000_000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000_000_000,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600_000_000_000,
        "d" | "day" | "days" => 86_400_000_000_000,
        _ => return None,
    })
}

/// Parses a duration: one or more terms of a non-negative whole number and a unit, added up.
/// Whitespace between terms, and between a number and its unit, is allowed.
pub fn parse(input: &str) -> Result<Duration, DurationError> {
    let s = input.trim();
    if s.is_empty() {
        return Err(DurationError::Empty);
    }
    let mut rest = s;
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(DurationError::Invalid(s.to_string()));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|_| DurationError::TooLarge(s.to_string()))?;
        rest = rest[digits..].trim_start();
        let letters = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        if letters == 0 {
            return Err(if rest.is_empty() {
                DurationError::NoUnit {
                    input: s.to_string(),
                    number,
                }
            } else {
                DurationError::Invalid(s.to_string())
            });
        }
        let unit = &rest[..letters];
        let per = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            input: s.to_string(),
            unit: unit.to_string(),
        })?;
        let nanos = u128::from(number) * u128::from(per);
        let term = u64::try_from(nanos / 1_000_000_000)
            .ok()
            .map(|secs| Duration::new(secs, (nanos % 1_000_000_000) as u32));
        total = term
            .and_then(|t| total.checked_add(t))
            .ok_or_else(|| DurationError::TooLarge(s.to_string()))?;
        rest = rest[letters..].trim_start();
    }
    Ok(total)
}

/// A duration written the way [`parse`] reads it: `"1m 30s"`, `"500ms"`, `"0s"`.
pub fn format(d: Duration) -> Formatted {
    Formatted(d)
}

/// See [`format`].
#[derive(Debug, Clone, Copy)]
pub struct Formatted(Duration);

impl fmt::Display for Formatted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_zero() {
            return f.write_str("0s");
        }
        let secs = self.0.as_secs();
        let nanos = u64::from(self.0.subsec_nanos());
        let parts = [
            (secs / 86_400, "d"),
            (secs / 3_600 % 24, "h"),
            (secs / 60 % 60, "m"),
            (secs % 60, "s"),
            (nanos / 1_000_000, "ms"),
            (nanos / 1_000 % 1_000, "us"),
            (nanos % 1_000, "ns"),
        ];
        let mut first = true;
        for (n, unit) in parts {
            if n > 0 {
                if !first {
                    f.write_str(" ")?;
                }
                write!(f, "{n}{unit}")?;
                first = false;
            }
        }
        Ok(())
    }
}

/// For `#[serde(with = "protocol::duration")]` on a `Duration` read from a string.
pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// For `#[serde(with = "protocol::duration")]`: writes what [`deserialize`] reads.
pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format(*d))
}

/// For `#[serde(default, with = "protocol::duration::option")]` on an `Option<Duration>`.
pub mod option {
    use std::time::Duration;

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        super::deserialize(d).map(Some)
    }

    pub fn serialize<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_one_term_in_every_unit() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse("1min"), Ok(Duration::from_secs(60)));
        assert_eq!(parse("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse("7days"), Ok(Duration::from_secs(7 * 86_400)));
        assert_eq!(parse("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("3ns"), Ok(Duration::from_nanos(3)));
        assert_eq!(parse(" 10 s "), Ok(Duration::from_secs(10)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn adds_up_several_terms() {
        assert_eq!(parse("1m 30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1s500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("1h 1m 1s 1ms"), Ok(Duration::from_millis(3_661_001)));
    }

    #[test]
    fn says_what_was_wrong_and_what_is_expected() {
        let e = parse("30").unwrap_err();
        assert_eq!(
            e,
            DurationError::NoUnit {
                input: "30".into(),
                number: 30
            }
        );
        let text = e.to_string();
        assert!(
            text.contains("no unit") && text.contains("\"500ms\""),
            "{text}"
        );
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert_eq!(parse("s"), Err(DurationError::Invalid("s".into())));
        assert_eq!(parse("-1s"), Err(DurationError::Invalid("-1s".into())));
        assert_eq!(parse("1.5s"), Err(DurationError::Invalid("1.5s".into())));
        assert_eq!(parse("1s,"), Err(DurationError::Invalid("1s,".into())));
        let e = parse("5 fortnights").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("unknown duration unit \"fortnights\" in \"5 fortnights\": expected"),
            "{e}"
        );
        // Months and years have no fixed length: not a unit here.
        assert!(matches!(
            parse("1M"),
            Err(DurationError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn refuses_what_does_not_fit_instead_of_wrapping() {
        assert!(matches!(
            parse("99999999999999999999s"),
            Err(DurationError::TooLarge(_))
        ));
        assert!(matches!(
            parse("18446744073709551615d"),
            Err(DurationError::TooLarge(_))
        ));
        assert!(matches!(
            parse("18446744073709551615s 1s"),
            Err(DurationError::TooLarge(_))
        ));
    }

    #[test]
    fn formats_what_it_reads() {
        for (d, text) in [
            (Duration::ZERO, "0s"),
            (Duration::from_millis(500), "500ms"),
            (Duration::from_millis(1500), "1s 500ms"),
            (Duration::from_secs(90), "1m 30s"),
            (Duration::from_secs(7 * 86_400), "7d"),
            (Duration::from_nanos(1_001), "1us 1ns"),
        ] {
            assert_eq!(format(d).to_string(), text);
            assert_eq!(parse(text), Ok(d));
        }
    }

    #[test]
    fn reads_through_serde() {
        #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
        struct T {
            #[serde(with = "crate::duration")]
            every: Duration,
        }
        let t: T = serde_json::from_str(r#"{"every":"1m 30s"}"#).unwrap();
        assert_eq!(t.every, Duration::from_secs(90));
        assert_eq!(serde_json::to_string(&t).unwrap(), r#"{"every":"1m 30s"}"#);
        let e = serde_json::from_str::<T>(r#"{"every":"30"}"#).unwrap_err();
        assert!(e.to_string().contains("has no unit"), "{e}");

        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct O {
            #[serde(default, with = "crate::duration::option")]
            idle: Option<Duration>,
        }
        let o: O = serde_json::from_str(r#"{"idle":"30m"}"#).unwrap();
        assert_eq!(o.idle, Some(Duration::from_secs(1800)));
        let o: O = serde_json::from_str("{}").unwrap();
        assert_eq!(o.idle, None);
    }
}
