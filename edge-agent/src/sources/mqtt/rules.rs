//! Mapping rules: which topics mean what. A rule matches a topic filter, reads its payload
//! (JSON by pointer, plain, or a Sparkplug B metric) and yields a typed reading — a count, a
//! machine state, a measurement or a scan — that the processor turns into events.

use super::payload::{PayloadFormat, Reading, clip};
use super::sparkplug::{NamedMetric, Value};
use super::topic::TopicFilter;
use chrono::{DateTime, TimeZone, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;

/// A rule as written in the configuration (`[[sources.rules]]`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// Topic filter, `+` and `#` allowed.
    pub topic: String,
    /// The device: a fixed name, `{N}` for the N-th `+` of the filter (1-based), or, for
    /// Sparkplug, `{device}`: the Sparkplug device id (the edge node id for node metrics).
    pub device: String,
    pub station: Option<String>,
    /// `json`, `plain` or `sparkplug`.
    pub payload: String,
    /// JSON pointer of the value (json payloads).
    pub value: Option<String>,
    /// JSON pointer of the device's timestamp (json payloads, optional).
    pub timestamp: Option<String>,
    /// Metric name (sparkplug payloads).
    pub metric: Option<String>,
    /// `count`, `state`, `measurement` or `scan`.
    pub yields: String,
    /// For counts: `good` or `scrap`.
    pub counter: Option<String>,
    /// For counts: the value is a running total (true, the default) or an increment.
    pub cumulative: Option<bool>,
    /// For running totals: the device counter's width, 16, 32 or 64 bits; it rolls over at
    /// `2^bits` (65535 -> 3 counts 4). Unset: a Sparkplug metric's data type says (UInt16,
    /// Int32, ...); other payloads are 64 bits, which never wrap in practice.
    pub bits: Option<u32>,
    /// For states: device code → `running`, `idle`, `setup`, `off`, or `down:REASON`.
    #[serde(default)]
    pub states: BTreeMap<String, String>,
    /// For measurements.
    pub characteristic: Option<String>,
    pub unit: Option<String>,
}

/// A validated rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub filter: TopicFilter,
    device: DeviceName,
    pub station: Option<String>,
    pub payload: RulePayload,
    pub yields: Yields,
}

#[derive(Debug, Clone)]
enum DeviceName {
    Fixed(String),
    Capture(usize),
    Sparkplug,
}

#[derive(Debug, Clone)]
pub enum RulePayload {
    Plain(PayloadFormat),
    Sparkplug { metric: String },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Yields {
    Count {
        scrap: bool,
        cumulative: bool,
        /// The counter's width as configured (`None`: from the Sparkplug data type, or 64).
        bits: Option<u32>,
    },
    State {
        codes: BTreeMap<String, StateCode>,
    },
    Measurement {
        characteristic: String,
        unit: String,
    },
    Scan,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCode {
    pub state: protocol::MachineState,
    pub reason: Option<String>,
}

/// What a rule read from one message.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    pub device: String,
    pub station: Option<String>,
    pub at: Option<DateTime<Utc>>,
    pub what: MappedValue,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MappedValue {
    /// A counter value: a running total (`cumulative`) or an increment.
    Count {
        scrap: bool,
        cumulative: bool,
        value: u64,
        /// The device counter's width: a running total rolls over at `2^bits`.
        bits: u32,
    },
    State(StateCode),
    Measurement {
        characteristic: String,
        unit: String,
        value: f64,
    },
    Scan(String),
}

impl RawRule {
    /// Validates the rule; every mistake is listed.
    pub fn validate(&self) -> Result<Rule, Vec<String>> {
        let mut mistakes = Vec::new();
        let filter = TopicFilter::parse(&self.topic)
            .map_err(|e| mistakes.push(e))
            .ok();
        let device = match self
            .device
            .strip_prefix('{')
            .filter(|_| self.device != "{device}")
            .and_then(|d| d.strip_suffix('}'))
        {
            Some(n) => match n.parse::<usize>() {
                Ok(n) if n >= 1 => DeviceName::Capture(n - 1),
                _ => {
                    mistakes.push(format!(
                        "device {:?}: expected a name or {{N}} for the N-th '+' of the topic",
                        self.device
                    ));
                    DeviceName::Fixed(String::new())
                }
            },
            None if self.device.trim().is_empty() => {
                mistakes.push("device must not be empty".into());
                DeviceName::Fixed(String::new())
            }
            None if self.device == "{device}" => {
                if self.payload != "sparkplug" {
                    mistakes.push("device \"{device}\" names the Sparkplug device; this rule does not read sparkplug".into());
                }
                DeviceName::Sparkplug
            }
            None => DeviceName::Fixed(self.device.clone()),
        };
        if let (Some(f), DeviceName::Capture(n)) = (&filter, &device) {
            let pluses = f.as_str().split('/').filter(|l| *l == "+").count();
            if *n >= pluses {
                mistakes.push(format!(
                    "device {:?}: topic {:?} has only {pluses} '+'",
                    self.device, self.topic
                ));
            }
        }
        let payload = match self.payload.as_str() {
            "json" => match &self.value {
                Some(pointer) if pointer.starts_with('/') => {
                    RulePayload::Plain(PayloadFormat::Json {
                        value: pointer.clone(),
                        timestamp: self.timestamp.clone(),
                    })
                }
                Some(pointer) => {
                    mistakes.push(format!(
                        "value {pointer:?} is not a JSON pointer; expected e.g. \"/count\""
                    ));
                    RulePayload::Plain(PayloadFormat::Plain)
                }
                None => {
                    mistakes.push("a json rule needs `value`, a JSON pointer".into());
                    RulePayload::Plain(PayloadFormat::Plain)
                }
            },
            "plain" => RulePayload::Plain(PayloadFormat::Plain),
            "sparkplug" => match &self.metric {
                Some(metric) => RulePayload::Sparkplug {
                    metric: metric.clone(),
                },
                None => {
                    mistakes.push("a sparkplug rule needs `metric`, the metric's name".into());
                    RulePayload::Plain(PayloadFormat::Plain)
                }
            },
            other => {
                mistakes.push(format!(
                    "payload {other:?}: expected json, plain or sparkplug"
                ));
                RulePayload::Plain(PayloadFormat::Plain)
            }
        };
        let yields = match self.yields.as_str() {
            "count" => {
                let scrap = match self.counter.as_deref() {
                    Some("good") => false,
                    Some("scrap") => true,
                    other => {
                        mistakes.push(format!(
                            "counter {other:?}: a count rule needs counter = \"good\" or \"scrap\""
                        ));
                        false
                    }
                };
                let cumulative = self.cumulative.unwrap_or(true);
                match self.bits {
                    None | Some(16 | 32 | 64) if cumulative => {}
                    None => {}
                    Some(_) if !cumulative => mistakes.push(
                        "bits is the width of a running total; this rule counts increments \
                         (cumulative = false)"
                            .into(),
                    ),
                    Some(b) => {
                        mistakes.push(format!("bits = {b}: a counter is 16, 32 or 64 bits wide"))
                    }
                }
                Yields::Count {
                    scrap,
                    cumulative,
                    bits: self.bits,
                }
            }
            "state" => {
                let mut codes = BTreeMap::new();
                if self.states.is_empty() {
                    mistakes.push("a state rule needs `states`, device code → state".into());
                }
                for (code, meaning) in &self.states {
                    match parse_state(meaning) {
                        Ok(s) => {
                            codes.insert(code.clone(), s);
                        }
                        Err(e) => mistakes.push(format!("states.{code}: {e}")),
                    }
                }
                Yields::State { codes }
            }
            "measurement" => match (&self.characteristic, &self.unit) {
                (Some(c), Some(u)) => Yields::Measurement {
                    characteristic: c.clone(),
                    unit: u.clone(),
                },
                _ => {
                    mistakes.push("a measurement rule needs `characteristic` and `unit`".into());
                    Yields::Scan
                }
            },
            "scan" => Yields::Scan,
            other => {
                mistakes.push(format!(
                    "yields {other:?}: expected count, state, measurement or scan"
                ));
                Yields::Scan
            }
        };
        if self.bits.is_some() && !matches!(yields, Yields::Count { .. }) {
            mistakes.push(format!(
                "bits is the width of a counter; this rule yields {}",
                self.yields
            ));
        }
        match (filter, mistakes.is_empty()) {
            (Some(filter), true) => Ok(Rule {
                filter,
                device,
                station: self.station.clone(),
                payload,
                yields,
            }),
            _ => Err(mistakes),
        }
    }
}

/// The width of a Sparkplug integer data type (what a counter of that type rolls over at);
/// `None` for a type that is no integer, or none declared.
pub fn sparkplug_bits(datatype: u32) -> Option<u32> {
    use super::sparkplug::datatype::*;
    match datatype {
        INT8 | UINT8 => Some(8),
        INT16 | UINT16 => Some(16),
        INT32 | UINT32 => Some(32),
        INT64 | UINT64 => Some(64),
        _ => None,
    }
}

/// A message that may quote a long name, cut to 300 bytes.
fn clip_message(m: &str) -> String {
    protocol::bounds::sanitize(m, 300, false)
}

/// A reading for a fault message, text cut short.
fn shown(r: &Reading) -> String {
    match r {
        Reading::Number(n) if n.abs() < 1e16 => format!("the number {n}"),
        Reading::Number(n) => format!("the number {n:e}"),
        Reading::Text(t) => format!("the text {}", clip(t)),
        Reading::Bool(b) => format!("the boolean {b}"),
    }
}

fn parse_state(meaning: &str) -> Result<StateCode, String> {
    use protocol::MachineState::*;
    let (state, reason) = match meaning.split_once(':') {
        Some((s, r)) => (s, Some(r.trim().to_owned())),
        None => (meaning, None),
    };
    let state = match state.trim() {
        "running" => Running,
        "idle" => Idle,
        "down" => Down,
        "setup" => Setup,
        "off" => Off,
        other => {
            return Err(format!(
                "{other:?} is not a machine state; expected running, idle, down, setup or off"
            ));
        }
    };
    Ok(StateCode { state, reason })
}

/// The longest device name taken from a topic: an id of the event protocol.
pub const MAX_DEVICE_NAME: usize = protocol::bounds::MAX_ID_LEN;
/// The longest scan code taken from a payload (as the terminal's scans).
pub const MAX_SCAN_BYTES: usize = 4096;
/// The largest count: beyond 2^53 a number is not exact in JSON or as a float.
pub const MAX_COUNT: u64 = 1 << 53;

impl Rule {
    /// The device a message is from; a name taken from the topic must be an id of the event
    /// protocol (1 to [`MAX_DEVICE_NAME`] bytes, printable): cutting it short instead could
    /// make two devices one, and mix their counters.
    fn device_of(&self, topic: &str) -> Result<String, String> {
        let name = match &self.device {
            DeviceName::Fixed(d) => return Ok(d.clone()),
            DeviceName::Capture(n) => self
                .filter
                .captures(topic)
                .get(*n)
                .map(|s| (*s).to_owned())
                .unwrap_or_default(),
            DeviceName::Sparkplug => super::sparkplug::Topic::parse(topic)
                .map(|t| t.device.unwrap_or(t.node))
                .unwrap_or_default(),
        };
        protocol::bounds::check_id("the device name from the topic", &name)
            .map_err(|v| clip_message(&v.to_string()))?;
        Ok(name)
    }

    /// The device this rule names for a message on `topic`, if the rule matches it.
    pub fn device_named_by(&self, topic: &str) -> Option<String> {
        if !self.filter.matches(topic) {
            return None;
        }
        self.device_of(topic).ok()
    }

    /// Maps a plain (json or plain) payload. `Err` says why it cannot be read.
    pub fn map_plain(&self, topic: &str, payload: &[u8]) -> Result<Mapped, String> {
        let RulePayload::Plain(format) = &self.payload else {
            return Err("rule reads Sparkplug B; use map_sparkplug".into());
        };
        let device = self.device_of(topic)?;
        let read = format.read(payload)?;
        let what = self.value(read.value)?;
        Ok(Mapped {
            device,
            station: self.station.clone(),
            at: read.at,
            what,
        })
    }

    /// Maps the metric this rule names, if the Sparkplug message carries it. Historical
    /// metrics are left to the caller (they must not overwrite live state).
    pub fn map_sparkplug(
        &self,
        topic: &str,
        metrics: &[NamedMetric],
    ) -> Option<Result<Mapped, String>> {
        let RulePayload::Sparkplug { metric } = &self.payload else {
            return None;
        };
        let m = metrics.iter().rev().find(|m| &m.name == metric)?;
        // A signed counter that wrapped is negative: its bits, read as unsigned in its width,
        // are the counter value the rollover rules need.
        let datatype_bits = sparkplug_bits(m.datatype);
        let reading = match (&m.value, &self.yields) {
            (
                Value::Int(i),
                Yields::Count {
                    cumulative: true,
                    bits,
                    ..
                },
            ) if *i < 0 => match bits.or(datatype_bits) {
                Some(b) if b < 64 => Reading::Number((*i as u64 & ((1u64 << b) - 1)) as f64),
                _ => Reading::Number(*i as f64),
            },
            _ => match &m.value {
                Value::Int(i) => Reading::Number(*i as f64),
                Value::UInt(u) => Reading::Number(*u as f64),
                Value::Float(f) => Reading::Number(*f),
                Value::Bool(b) => Reading::Bool(*b),
                Value::Text(t) => Reading::Text(t.clone()),
                Value::Null => return Some(Err(format!("metric {metric} is null"))),
            },
        };
        let device = match self.device_of(topic) {
            Ok(d) => d,
            Err(e) => return Some(Err(e)),
        };
        Some(self.value(reading).map(|mut what| {
            if let (MappedValue::Count { bits, .. }, Yields::Count { bits: None, .. }) =
                (&mut what, &self.yields)
                && let Some(b) = datatype_bits
            {
                *bits = b;
            }
            Mapped {
                device,
                station: self.station.clone(),
                at: m
                    .timestamp_ms
                    .and_then(|ms| i64::try_from(ms).ok())
                    .and_then(|ms| Utc.timestamp_millis_opt(ms).single()),
                what,
            }
        }))
    }

    fn value(&self, reading: Reading) -> Result<MappedValue, String> {
        match (&self.yields, reading) {
            (
                Yields::Count {
                    scrap,
                    cumulative,
                    bits,
                },
                Reading::Number(n),
            ) => {
                if !n.is_finite() || n < 0.0 || n.fract() != 0.0 || n > MAX_COUNT as f64 {
                    return Err(format!(
                        "count {} is not a whole, non-negative number of at most 2^53",
                        if n.abs() < 1e16 {
                            n.to_string()
                        } else {
                            format!("{n:e}")
                        }
                    ));
                }
                Ok(MappedValue::Count {
                    scrap: *scrap,
                    cumulative: *cumulative,
                    value: n as u64,
                    bits: bits.unwrap_or(64),
                })
            }
            (Yields::Count { .. }, other) => {
                Err(format!("count is {}; expected a number", shown(&other)))
            }
            (Yields::State { codes }, reading) => {
                let code = match reading {
                    Reading::Number(n) => n.to_string(),
                    Reading::Text(t) => t,
                    Reading::Bool(b) => b.to_string(),
                };
                codes
                    .get(&code)
                    .cloned()
                    .map(MappedValue::State)
                    .ok_or_else(|| {
                        format!("state code {} is not in the rule's states", clip(&code))
                    })
            }
            (Yields::Measurement { .. }, Reading::Number(value)) if !value.is_finite() => Err(
                format!("measurement {value} is not a finite number; expected a measured value"),
            ),
            (
                Yields::Measurement {
                    characteristic,
                    unit,
                },
                Reading::Number(value),
            ) if value.is_finite() => Ok(MappedValue::Measurement {
                characteristic: characteristic.clone(),
                unit: unit.clone(),
                value,
            }),
            (Yields::Measurement { .. }, other) => Err(format!(
                "measurement is {}; expected a finite number",
                shown(&other)
            )),
            (Yields::Scan, Reading::Text(code)) if code.len() > MAX_SCAN_BYTES => Err(format!(
                "scan code is {} bytes; at most {MAX_SCAN_BYTES} are accepted",
                code.len()
            )),
            (Yields::Scan, Reading::Text(code)) => Ok(MappedValue::Scan(code)),
            (Yields::Scan, Reading::Number(n)) => Ok(MappedValue::Scan(n.to_string())),
            (Yields::Scan, Reading::Bool(_)) => Err("scan is a boolean; expected text".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(toml_text: &str) -> Result<Rule, Vec<String>> {
        toml::from_str::<RawRule>(toml_text).unwrap().validate()
    }

    #[test]
    fn a_json_count_rule_names_the_device_from_the_topic() {
        let r = rule(
            r#"
topic = "plant/line-1/+/counts"
device = "{1}"
station = "st-10"
payload = "json"
value = "/good"
timestamp = "/ts"
yields = "count"
counter = "good"
"#,
        )
        .unwrap();
        assert!(r.filter.matches("plant/line-1/press-7/counts"));
        let m = r
            .map_plain(
                "plant/line-1/press-7/counts",
                br#"{"good":1200,"ts":1764232200000}"#,
            )
            .unwrap();
        assert_eq!(m.device, "press-7");
        assert_eq!(m.station.as_deref(), Some("st-10"));
        assert_eq!(
            m.what,
            MappedValue::Count {
                scrap: false,
                cumulative: true,
                value: 1200,
                bits: 64
            }
        );
        assert!(m.at.is_some());
        let e = r
            .map_plain("plant/line-1/press-7/counts", br#"{"good":-3}"#)
            .unwrap_err();
        assert!(e.contains("non-negative"), "{e}");
    }

    #[test]
    fn a_plain_state_rule_maps_codes_with_reasons() {
        let r = rule(
            r#"
topic = "plant/press-1/state"
device = "press-1"
payload = "plain"
yields = "state"
states = { "1" = "running", "2" = "idle", "7" = "down:jam" }
"#,
        )
        .unwrap();
        let m = r.map_plain("plant/press-1/state", b"7").unwrap();
        assert_eq!(
            m.what,
            MappedValue::State(StateCode {
                state: protocol::MachineState::Down,
                reason: Some("jam".into())
            })
        );
        let e = r.map_plain("plant/press-1/state", b"9").unwrap_err();
        assert!(e.contains("\"9\""), "{e}");
    }

    #[test]
    fn hostile_values_are_faults_with_short_messages() {
        let count = rule(
            r#"
topic = "plant/+/count"
device = "{1}"
payload = "plain"
yields = "count"
counter = "good"
"#,
        )
        .unwrap();
        for payload in ["1e300", "18014398509481984", "-1", "2.5", "NaN", "inf"] {
            let e = count
                .map_plain("plant/p1/count", payload.as_bytes())
                .unwrap_err();
            assert!(e.len() < 200, "{e}");
        }
        assert!(
            count
                .map_plain("plant/p1/count", b"9007199254740992")
                .is_ok()
        );
        let e = count
            .map_plain("plant/p1/count", "x".repeat(10_000).as_bytes())
            .unwrap_err();
        assert!(e.len() < 200, "{e}");
        // The device named by the topic: not empty, not endless.
        assert!(
            count
                .map_plain("plant//count", b"1")
                .unwrap_err()
                .contains("device name")
        );
        let long = format!("plant/{}/count", "p".repeat(MAX_DEVICE_NAME + 1));
        assert!(
            count
                .map_plain(&long, b"1")
                .unwrap_err()
                .contains("device name")
        );

        let scan = rule(
            r#"
topic = "plant/+/scan"
device = "{1}"
payload = "plain"
yields = "scan"
"#,
        )
        .unwrap();
        let code = "9".repeat(MAX_SCAN_BYTES + 1) + "x";
        assert!(
            scan.map_plain("plant/s/scan", code.as_bytes())
                .unwrap_err()
                .contains("bytes")
        );

        let temp = rule(
            r#"
topic = "spBv1.0/plant/DDATA/gw-1/+"
device = "{device}"
payload = "sparkplug"
metric = "Temp"
yields = "measurement"
characteristic = "oil-temp"
unit = "C"
"#,
        )
        .unwrap();
        for v in [f64::NAN, f64::INFINITY] {
            let m = [NamedMetric {
                name: "Temp".into(),
                value: Value::Float(v),
                timestamp_ms: Some(u64::MAX),
                historical: false,
                datatype: 0,
            }];
            let r = temp.map_sparkplug("spBv1.0/plant/DDATA/gw-1/press-1", &m);
            assert!(r.unwrap().unwrap_err().contains("finite"));
        }
        let m = [NamedMetric {
            name: "Temp".into(),
            value: Value::Float(1.5),
            timestamp_ms: Some(u64::MAX),
            historical: false,
            datatype: 0,
        }];
        let r = temp
            .map_sparkplug("spBv1.0/plant/DDATA/gw-1/press-1", &m)
            .unwrap()
            .unwrap();
        assert_eq!(r.at, None, "a timestamp past i64 is no time");
    }

    #[test]
    fn every_mistake_in_a_rule_is_listed() {
        let e = rule(
            r#"
topic = "a/#/b"
device = "{0}"
payload = "xml"
yields = "teleport"
"#,
        )
        .unwrap_err();
        let all = e.join("\n");
        for part in ["last level", "{N}", "xml", "teleport"] {
            assert!(all.contains(part), "{part} missing in {all}");
        }
    }

    #[test]
    fn a_sparkplug_rule_picks_its_metric() {
        let r = rule(
            r#"
topic = "spBv1.0/plant/DDATA/gw-1/+"
device = "{1}"
payload = "sparkplug"
metric = "Temp"
yields = "measurement"
characteristic = "oil-temp"
unit = "C"
"#,
        )
        .unwrap();
        let metrics = vec![NamedMetric {
            name: "Temp".into(),
            value: Value::Int(-10),
            timestamp_ms: Some(1_764_232_200_000),
            historical: false,
            datatype: 0,
        }];
        let m = r
            .map_sparkplug("spBv1.0/plant/DDATA/gw-1/press-1", &metrics)
            .unwrap()
            .unwrap();
        assert_eq!(m.device, "press-1");
        assert_eq!(
            m.what,
            MappedValue::Measurement {
                characteristic: "oil-temp".into(),
                unit: "C".into(),
                value: -10.0
            }
        );
        assert!(r.map_sparkplug("t", &[]).is_none());
    }

    /// 2^64 is no count (one past u64::MAX); it was taken as u64::MAX, a counter value no
    /// device sent. Seen while writing the MQTT fuzz target's invariants.
    #[test]
    fn a_count_of_two_to_the_64_is_refused_not_saturated() {
        let r = rule(
            r#"
topic = "plant/+/counts"
device = "{1}"
payload = "json"
value = "/good"
yields = "count"
counter = "good"
"#,
        )
        .unwrap();
        let e = r
            .map_plain("plant/press-1/counts", br#"{"good":18446744073709551616}"#)
            .unwrap_err();
        assert!(e.contains("not a whole, non-negative number"), "{e}");
        // Counts are exact up to 2^53 (what a JSON number holds without rounding).
        let m = r
            .map_plain("plant/press-1/counts", br#"{"good":9007199254740992}"#)
            .unwrap();
        assert!(matches!(
            m.what,
            MappedValue::Count {
                value: 9_007_199_254_740_992,
                ..
            }
        ));
        assert!(
            r.map_plain("plant/press-1/counts", br#"{"good":9007199254740994}"#)
                .is_err()
        );
    }

    /// Found by fuzzing (fuzz/fuzz_targets/mqtt_message.rs): a Sparkplug float or double
    /// metric of NaN or infinity became a measurement of NaN (plain payloads already refused
    /// non-finite numbers). It is refused with a reason, which becomes a device fault.
    #[test]
    fn a_sparkplug_measurement_that_is_not_finite_is_refused() {
        let r = rule(
            r#"
topic = "spBv1.0/plant/#"
device = "{device}"
payload = "sparkplug"
metric = "Temp"
yields = "measurement"
characteristic = "oil-temp"
unit = "C"
"#,
        )
        .unwrap();
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let metrics = vec![NamedMetric {
                name: "Temp".into(),
                value: Value::Float(value),
                timestamp_ms: None,
                historical: false,
                datatype: 0,
            }];
            let e = r
                .map_sparkplug("spBv1.0/plant/DDATA/gw-1/press-1", &metrics)
                .unwrap()
                .unwrap_err();
            assert!(e.contains("not a finite number"), "{e}");
        }
    }

    /// A counter has a width: from `bits`, or from the Sparkplug data type, and a signed
    /// Sparkplug counter that wrapped (negative) is read as its unsigned bits.
    #[test]
    fn a_count_has_the_width_of_its_counter() {
        let json = rule(
            r#"
topic = "plant/+/counts"
device = "{1}"
payload = "json"
value = "/good"
yields = "count"
counter = "good"
bits = 16
"#,
        )
        .unwrap();
        let m = json
            .map_plain("plant/press-1/counts", br#"{"good":65535}"#)
            .unwrap();
        assert!(matches!(m.what, MappedValue::Count { bits: 16, .. }));
        let unset = rule(
            r#"
topic = "plant/+/counts"
device = "{1}"
payload = "plain"
yields = "count"
counter = "good"
"#,
        )
        .unwrap();
        let m = unset.map_plain("plant/press-1/counts", b"3").unwrap();
        assert!(matches!(m.what, MappedValue::Count { bits: 64, .. }));

        let sparkplug = |bits: &str| {
            rule(&format!(
                r#"
topic = "spBv1.0/plant/#"
device = "{{device}}"
payload = "sparkplug"
metric = "Good"
yields = "count"
counter = "good"
{bits}
"#
            ))
            .unwrap()
        };
        let metric = |value: Value, datatype: u32| {
            [NamedMetric {
                name: "Good".into(),
                value,
                timestamp_ms: None,
                historical: false,
                datatype,
            }]
        };
        use crate::sources::mqtt::sparkplug::datatype;
        let topic = "spBv1.0/plant/DDATA/gw-1/press-1";
        let width = |r: &Rule, m: &[NamedMetric]| match r.map_sparkplug(topic, m) {
            Some(Ok(Mapped {
                what: MappedValue::Count { bits, value, .. },
                ..
            })) => (bits, value),
            other => panic!("{other:?}"),
        };
        assert_eq!(
            width(
                &sparkplug(""),
                &metric(Value::UInt(65535), datatype::UINT16)
            ),
            (16, 65535)
        );
        assert_eq!(
            width(&sparkplug(""), &metric(Value::UInt(7), datatype::UINT32)),
            (32, 7)
        );
        // Int16 -1 is 0xFFFF of a 16-bit counter.
        assert_eq!(
            width(&sparkplug(""), &metric(Value::Int(-1), datatype::INT16)),
            (16, 65535)
        );
        assert_eq!(
            width(&sparkplug(""), &metric(Value::UInt(7), 0)),
            (64, 7),
            "no type: 64 bits"
        );
        // The configured width wins over the data type.
        assert_eq!(
            width(
                &sparkplug("bits = 16"),
                &metric(Value::UInt(7), datatype::UINT64)
            ),
            (16, 7)
        );

        for (extra, mistake) in [
            ("bits = 12", "16, 32 or 64"),
            ("bits = 16\ncumulative = false", "increments"),
        ] {
            let e = rule(&format!(
                r#"
topic = "plant/+/counts"
device = "{{1}}"
payload = "plain"
yields = "count"
counter = "good"
{extra}
"#
            ))
            .unwrap_err()
            .join("\n");
            assert!(e.contains(mistake), "{e}");
        }
        let e = rule(
            r#"
topic = "plant/+/temp"
device = "{1}"
payload = "plain"
yields = "measurement"
characteristic = "t"
unit = "C"
bits = 16
"#,
        )
        .unwrap_err()
        .join("\n");
        assert!(e.contains("width of a counter"), "{e}");
    }
}
