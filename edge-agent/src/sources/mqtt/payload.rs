//! Reading a value out of a plain MQTT payload: a JSON document (values picked by JSON
//! pointer, with the device's own timestamp when it sends one), or a bare number or string.

use chrono::{DateTime, TimeZone, Utc};

/// How a rule reads its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadFormat {
    /// JSON; `value` and `timestamp` are JSON pointers (RFC 6901), e.g. `/count`.
    Json {
        value: String,
        timestamp: Option<String>,
    },
    /// The payload is the value itself: `42`, `3.5`, `RUNNING`.
    Plain,
}

/// A value read from a payload.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Number(f64),
    Text(String),
    Bool(bool),
}

/// What a payload said, or why it could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub value: Reading,
    /// The device's time, when the payload carries one.
    pub at: Option<DateTime<Utc>>,
}

impl PayloadFormat {
    pub fn read(&self, payload: &[u8]) -> Result<Read, String> {
        let text =
            std::str::from_utf8(payload).map_err(|e| format!("payload is not UTF-8 text ({e})"))?;
        match self {
            PayloadFormat::Plain => {
                let t = text.trim();
                if t.is_empty() {
                    return Err("payload is empty".into());
                }
                let value = match t {
                    "true" | "TRUE" => Reading::Bool(true),
                    "false" | "FALSE" => Reading::Bool(false),
                    _ => t
                        .parse::<f64>()
                        .ok()
                        .filter(|n| n.is_finite())
                        .map(Reading::Number)
                        .unwrap_or_else(|| Reading::Text(t.to_owned())),
                };
                Ok(Read { value, at: None })
            }
            PayloadFormat::Json { value, timestamp } => {
                let doc: serde_json::Value =
                    serde_json::from_str(text).map_err(|e| format!("payload is not JSON: {e}"))?;
                let v = doc
                    .pointer(value)
                    .ok_or_else(|| format!("JSON payload has nothing at {value}"))?;
                let value = match v {
                    serde_json::Value::Number(n) => Reading::Number(
                        n.as_f64()
                            .ok_or_else(|| format!("number at {value} is out of range"))?,
                    ),
                    serde_json::Value::String(s) => Reading::Text(s.clone()),
                    serde_json::Value::Bool(b) => Reading::Bool(*b),
                    other => {
                        return Err(format!(
                            "JSON payload has {} at {value}; expected a number, string or boolean",
                            kind_of(other)
                        ));
                    }
                };
                let at = match timestamp {
                    None => None,
                    Some(pointer) => match doc.pointer(pointer) {
                        None | Some(serde_json::Value::Null) => None,
                        Some(t) => Some(timestamp_of(t).ok_or_else(|| {
                            format!(
                                "timestamp at {pointer} is {t}; expected RFC 3339 text or milliseconds since the epoch"
                            )
                        })?),
                    },
                };
                Ok(Read { value, at })
            }
        }
    }
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
        _ => "a scalar",
    }
}

/// RFC 3339 text, or a number of milliseconds (or seconds, if it is too small to be
/// milliseconds of this century) since the epoch.
fn timestamp_of(v: &serde_json::Value) -> Option<DateTime<Utc>> {
    match v {
        serde_json::Value::String(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        serde_json::Value::Number(n) => {
            let n = n.as_i64()?;
            let ms = if n < 100_000_000_000 {
                n.checked_mul(1000)?
            } else {
                n
            };
            Utc.timestamp_millis_opt(ms).single()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(value: &str, timestamp: Option<&str>) -> PayloadFormat {
        PayloadFormat::Json {
            value: value.into(),
            timestamp: timestamp.map(str::to_owned),
        }
    }

    #[test]
    fn plain_payloads() {
        let p = PayloadFormat::Plain;
        assert_eq!(p.read(b" 42\n").unwrap().value, Reading::Number(42.0));
        assert_eq!(
            p.read(b"RUNNING").unwrap().value,
            Reading::Text("RUNNING".into())
        );
        assert_eq!(p.read(b"true").unwrap().value, Reading::Bool(true));
        assert_eq!(p.read(b"NaN").unwrap().value, Reading::Text("NaN".into()));
        assert!(p.read(b"").unwrap_err().contains("empty"));
        assert!(p.read(&[0xff, 0xfe]).unwrap_err().contains("UTF-8"));
    }

    #[test]
    fn json_payloads_with_device_time() {
        let f = json("/counts/good", Some("/ts"));
        let r = f
            .read(br#"{"counts":{"good":17},"ts":"2026-11-27T08:30:00Z"}"#)
            .unwrap();
        assert_eq!(r.value, Reading::Number(17.0));
        assert_eq!(r.at.unwrap().to_rfc3339(), "2026-11-27T08:30:00+00:00");
        let r = f
            .read(br#"{"counts":{"good":18},"ts":1764232200000}"#)
            .unwrap();
        assert_eq!(r.at.unwrap().timestamp(), 1_764_232_200);
        let r = f
            .read(br#"{"counts":{"good":18},"ts":1764232200}"#)
            .unwrap();
        assert_eq!(
            r.at.unwrap().timestamp(),
            1_764_232_200,
            "seconds are accepted too"
        );
        let r = f.read(br#"{"counts":{"good":19}}"#).unwrap();
        assert_eq!(r.at, None, "a missing timestamp is not an error");
    }

    /// Found by fuzzing (fuzz/fuzz_targets/mqtt_message.rs): a timestamp in seconds so far
    /// below zero that it has no milliseconds overflowed `n * 1000` and panicked.
    #[test]
    fn a_json_timestamp_far_below_zero_is_refused_not_a_panic() {
        let f = json("/count", Some("/ts"));
        for ts in [i64::MIN, i64::MIN / 1000 - 1] {
            let e = f
                .read(format!(r#"{{"count":1,"ts":{ts}}}"#).as_bytes())
                .unwrap_err();
            assert!(e.contains("timestamp at /ts"), "{e}");
        }
    }

    #[test]
    fn malformed_json_payloads_say_what_is_wrong() {
        let f = json("/count", Some("/ts"));
        for (payload, why) in [
            (&b"{not json"[..], "not JSON"),
            (br#"{"other":1}"#, "nothing at /count"),
            (br#"{"count":[1,2]}"#, "an array"),
            (br#"{"count":1,"ts":"yesterday"}"#, "timestamp at /ts"),
        ] {
            let e = f.read(payload).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
    }
}
