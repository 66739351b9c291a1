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
                let found = seek(text, value)?
                    .ok_or_else(|| format!("JSON payload has nothing at {value}"))?;
                let value = match found {
                    Found::Number(n) => Reading::Number(n.as_f64()),
                    Found::Text(s) => Reading::Text(s),
                    Found::Bool(b) => Reading::Bool(b),
                    other => {
                        return Err(format!(
                            "JSON payload has {} at {value}; expected a number, string or boolean",
                            other.kind()
                        ));
                    }
                };
                let at = match timestamp {
                    None => None,
                    Some(pointer) => match seek(text, pointer)? {
                        None | Some(Found::Null) => None,
                        Some(t) => Some(timestamp_of(&t).ok_or_else(|| {
                            format!(
                                "timestamp at {pointer} is {}; expected RFC 3339 text or milliseconds since the epoch",
                                t.shown()
                            )
                        })?),
                    },
                };
                Ok(Read { value, at })
            }
        }
    }
}

/// What is at a JSON pointer: scalars as they are, containers only by their kind.
#[derive(Debug, Clone, PartialEq)]
enum Found {
    Number(JsonNumber),
    Text(String),
    Bool(bool),
    Null,
    Array,
    Object,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum JsonNumber {
    Int(i64),
    UInt(u64),
    Float(f64),
}

impl JsonNumber {
    fn as_f64(self) -> f64 {
        match self {
            JsonNumber::Int(i) => i as f64,
            JsonNumber::UInt(u) => u as f64,
            JsonNumber::Float(f) => f,
        }
    }
}

impl Found {
    fn kind(&self) -> &'static str {
        match self {
            Found::Null => "null",
            Found::Array => "an array",
            Found::Object => "an object",
            _ => "a scalar",
        }
    }

    /// For a fault message: at most 64 characters of it.
    fn shown(&self) -> String {
        match self {
            Found::Number(JsonNumber::Int(i)) => i.to_string(),
            Found::Number(JsonNumber::UInt(u)) => u.to_string(),
            Found::Number(JsonNumber::Float(f)) => f.to_string(),
            Found::Text(t) => clip(t),
            Found::Bool(b) => b.to_string(),
            other => other.kind().to_owned(),
        }
    }
}

/// Text from a payload, quoted, for a fault message: at most 64 characters.
pub fn clip(s: &str) -> String {
    let cut: String = s.chars().take(64).collect();
    if cut.len() < s.len() {
        format!("{cut:?}…")
    } else {
        format!("{cut:?}")
    }
}

/// Reads the value at JSON `pointer` (RFC 6901) in `text` without building the document:
/// everything off the path is skipped as it is parsed, so memory does not grow with the
/// payload (a huge array, a wide object). serde_json refuses nesting deeper than 128.
/// `Ok(None)`: valid JSON with nothing there.
fn seek(text: &str, pointer: &str) -> Result<Option<Found>, String> {
    let path: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut de = serde_json::Deserializer::from_str(text);
    let found = serde::de::DeserializeSeed::deserialize(Seek { path: &path }, &mut de)
        .and_then(|f| de.end().map(|_| f))
        .map_err(|e| format!("payload is not JSON: {e}"))?;
    Ok(found)
}

struct Seek<'p> {
    path: &'p [String],
}

impl<'de> serde::de::DeserializeSeed<'de> for Seek<'_> {
    type Value = Option<Found>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Seek<'_> {
    type Value = Option<Found>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(self.path.is_empty().then_some(Found::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(self
            .path
            .is_empty()
            .then_some(Found::Number(JsonNumber::Int(v))))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(self
            .path
            .is_empty()
            .then_some(Found::Number(JsonNumber::UInt(v))))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(self
            .path
            .is_empty()
            .then_some(Found::Number(JsonNumber::Float(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.path.is_empty().then(|| Found::Text(v.to_owned())))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(self.path.is_empty().then_some(Found::Null))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        use serde::de::IgnoredAny;
        let Some((first, rest)) = self.path.split_first() else {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(Some(Found::Array));
        };
        // An array index: digits, no leading zero (RFC 6901, 4).
        let wanted = (first == "0" || (!first.starts_with('0') && !first.is_empty()))
            .then(|| first.parse::<usize>().ok())
            .flatten();
        let mut found = None;
        let mut i = 0usize;
        loop {
            if Some(i) == wanted {
                match seq.next_element_seed(Seek { path: rest })? {
                    Some(f) => found = f,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i = i.saturating_add(1);
        }
        Ok(found)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        use serde::de::IgnoredAny;
        let Some((first, rest)) = self.path.split_first() else {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(Some(Found::Object));
        };
        let mut found = None;
        while let Some(key) = map.next_key::<Key>()? {
            if key.0 == *first {
                // The last of duplicate keys wins, as it would in a parsed document.
                found = map.next_value_seed(Seek { path: rest })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }
}

/// An object key, borrowed where the text has no escapes.
struct Key<'de>(std::borrow::Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

/// RFC 3339 text, or a number of milliseconds (or seconds, if it is too small to be
/// milliseconds of this century) since the epoch.
fn timestamp_of(v: &Found) -> Option<DateTime<Utc>> {
    match v {
        Found::Text(s) => DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
        Found::Number(n) => {
            let n = match *n {
                JsonNumber::Int(i) => i,
                JsonNumber::UInt(u) => i64::try_from(u).ok()?,
                JsonNumber::Float(_) => return None,
            };
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
    fn json_pointers_reach_into_arrays_and_escaped_keys() {
        let r = |pointer: &str, payload: &str| json(pointer, None).read(payload.as_bytes());
        assert_eq!(
            r("/a/2/b", r#"{"x":[1],"a":[0,{"b":9},{"b":7}]}"#)
                .unwrap()
                .value,
            Reading::Number(7.0)
        );
        assert_eq!(
            r("/a~1b/m~0n", r#"{"a/b":{"m~n":"ok"}}"#).unwrap().value,
            Reading::Text("ok".into())
        );
        assert_eq!(
            r("/k", r#"{"k":1,"k":2}"#).unwrap().value,
            Reading::Number(2.0),
            "the last of duplicate keys, as a parsed document has it"
        );
        assert_eq!(
            r("/kA", r#"{"k\u0041":true}"#).unwrap().value,
            Reading::Bool(true),
            "keys compare unescaped"
        );
        for pointer in ["/a/01", "/a/-1", "/a/x", "/a/99999999999999999999999"] {
            assert!(
                r(pointer, r#"{"a":[1,2]}"#)
                    .unwrap_err()
                    .contains("nothing"),
                "{pointer}"
            );
        }
        assert_eq!(r("", "5").unwrap().value, Reading::Number(5.0));
    }

    #[test]
    fn hostile_json_is_a_fault_never_a_panic_or_a_big_allocation() {
        let f = json("/count", Some("/ts"));
        // Nesting off the pointer's path is skipped without recursion; on it, serde_json
        // stops at 128 levels.
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(
            f.read(deep.as_bytes())
                .unwrap_err()
                .contains("nothing at /count")
        );
        let deep = format!(
            r#"{{"count":{}1{}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(f.read(deep.as_bytes()).unwrap_err().contains("an array"));
        let on_path = json(&"/0".repeat(200), None);
        let nested = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        assert!(
            on_path
                .read(nested.as_bytes())
                .unwrap_err()
                .contains("recursion limit")
        );
        let huge_array = format!(r#"{{"count":[{}0]}}"#, "0,".repeat(200_000));
        assert!(
            f.read(huge_array.as_bytes())
                .unwrap_err()
                .contains("an array")
        );
        // A pointer into a huge array skips what it does not need.
        let g = json("/count/199999", None);
        assert_eq!(
            g.read(huge_array.as_bytes()).unwrap().value,
            Reading::Number(0.0)
        );
        for (payload, why) in [
            (&br#"{"count":1e999}"#[..], "not JSON"),
            (br#"{"count":NaN}"#, "not JSON"),
            (br#"{"count":1} trailing"#, "not JSON"),
            (br#"{"count":1,"ts":-9223372036854775808}"#, "timestamp"),
            (br#"{"count":1,"ts":18446744073709551615}"#, "timestamp"),
            (br#"{"count":1,"ts":1.5}"#, "timestamp"),
        ] {
            let e = f.read(payload).unwrap_err();
            assert!(e.contains(why), "{e}");
        }
        let e = f
            .read(format!(r#"{{"count":1,"ts":"{}"}}"#, "y".repeat(10_000)).as_bytes())
            .unwrap_err();
        assert!(
            e.len() < 300,
            "a fault message stays short: {} bytes",
            e.len()
        );
        assert_eq!(
            f.read(br#"{"count":123456789012345678901234567890}"#)
                .unwrap()
                .value,
            Reading::Number(1.2345678901234568e29),
            "a huge number is a number; the rule judges it"
        );
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
