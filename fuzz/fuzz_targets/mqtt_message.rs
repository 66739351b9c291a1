//! MQTT messages through the source's whole mapping (`map_message`): JSON and plain payloads
//! through the rules, Sparkplug B payloads through the host session (births, deaths, aliases,
//! sequence numbers, rebirth requests), in arbitrary sequences with arbitrary topics and bytes.
//!
//! Invariants: no panic, whatever the order of messages; a count is a whole number the payload
//! said; a measurement is a finite number; a state is one the rule names; a rebirth request
//! goes only to the NCMD topic of the Sparkplug node that caused it; every fault says which
//! topic it came from.
#![no_main]

use arbitrary::Arbitrary;
use edge_agent::sources::mqtt::client::{FaultLimiter, MqttMessage, map_message};
use edge_agent::sources::mqtt::config::MqttConfig;
use edge_agent::sources::mqtt::rules::{MappedValue, Rule};
use edge_agent::sources::mqtt::sparkplug::{self, Session};
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

const RULES: &str = r#"
broker = "mqtt://127.0.0.1:1883"
client_id = "fuzz"

[[rules]]
topic = "plant/+/+/counts"
device = "{2}"
station = "st-10"
payload = "json"
value = "/good"
timestamp = "/ts"
yields = "count"
counter = "good"

[[rules]]
topic = "plant/+/+/counts"
device = "{2}"
payload = "json"
value = "/scrap/0"
yields = "count"
counter = "scrap"
cumulative = false

[[rules]]
topic = "plant/+/+/state"
device = "{1}"
payload = "plain"
yields = "state"
states = { "1" = "running", "2" = "idle", "7" = "down: jam", "true" = "off" }

[[rules]]
topic = "plant/+/+/temp"
device = "oven"
payload = "plain"
yields = "measurement"
characteristic = "temperature"
unit = "C"

[[rules]]
topic = "plant/#"
device = "any"
payload = "json"
value = "/v"
timestamp = "/t"
yields = "measurement"
characteristic = "v"
unit = "1"

[[rules]]
topic = "plant/+/scan"
device = "{1}"
payload = "plain"
yields = "scan"

[[rules]]
topic = "spBv1.0/line-1/#"
device = "{device}"
station = "st-20"
payload = "sparkplug"
metric = "Counts/Good"
yields = "count"
counter = "good"

[[rules]]
topic = "spBv1.0/+/#"
device = "{device}"
payload = "sparkplug"
metric = "Temp"
yields = "measurement"
characteristic = "temperature"
unit = "C"

[[rules]]
topic = "spBv1.0/line-1/#"
device = "{device}"
payload = "sparkplug"
metric = "State"
yields = "state"
states = { "1" = "running", "2" = "down: fault" }
"#;

static RULE_SET: LazyLock<Vec<Rule>> = LazyLock::new(|| {
    let config: MqttConfig = toml::from_str(RULES).expect("the fuzz rules parse");
    config.validate().expect("the fuzz rules are valid").1
});

#[derive(Debug, Arbitrary)]
enum TopicInput {
    Plant {
        line: u8,
        device: u8,
        leaf: u8,
    },
    Sparkplug {
        group: u8,
        kind: u8,
        node: u8,
        device: Option<u8>,
    },
    Raw(String),
}

#[derive(Debug, Arbitrary)]
enum JsonScalar {
    Int(i64),
    UInt(u64),
    Float(f64),
    Text(String),
    Bool(bool),
    Null,
    List(Vec<i64>),
}

#[derive(Debug, Arbitrary)]
struct MetricInput {
    name: Option<u8>,
    alias: Option<u8>,
    timestamp: Option<u64>,
    datatype: Option<u8>,
    historical: Option<bool>,
    is_null: Option<bool>,
    value: Option<ValueInput>,
}

#[derive(Debug, Arbitrary)]
enum ValueInput {
    Int(u32),
    Long(u64),
    Float(f32),
    Double(f64),
    Bool(bool),
    Text(String),
    Bytes(Vec<u8>),
}

#[derive(Debug, Arbitrary)]
enum PayloadInput {
    Raw(Vec<u8>),
    Json(Vec<(u8, JsonScalar)>),
    Plain(JsonScalar),
    Sparkplug {
        timestamp: Option<u64>,
        seq: Option<u64>,
        metrics: Vec<MetricInput>,
    },
}

#[derive(Debug, Arbitrary)]
struct MessageInput {
    topic: TopicInput,
    payload: PayloadInput,
    /// Milliseconds since the message before.
    after_ms: u16,
}

fn pick<'a>(options: &[&'a str], n: u8) -> &'a str {
    options[usize::from(n) % options.len()]
}

fn topic(t: &TopicInput) -> String {
    match t {
        TopicInput::Plant { line, device, leaf } => format!(
            "plant/{}/{}/{}",
            pick(&["line-1", "line-2", "+", ""], *line),
            pick(&["press-1", "press-2", "oven"], *device),
            pick(&["counts", "state", "temp", "scan", "x"], *leaf),
        ),
        TopicInput::Sparkplug {
            group,
            kind,
            node,
            device,
        } => {
            let kind = pick(
                &[
                    "NBIRTH", "NDATA", "DBIRTH", "DDATA", "NDEATH", "DDEATH", "NCMD", "DCMD",
                    "STATE", "BOGUS",
                ],
                *kind,
            );
            let mut t = format!(
                "spBv1.0/{}/{kind}/{}",
                pick(&["line-1", "line-2", ""], *group),
                pick(&["node-a", "node-b", ""], *node)
            );
            if let Some(d) = device {
                t.push('/');
                t.push_str(pick(&["dev-1", "dev-2", ""], *d));
            }
            t
        }
        TopicInput::Raw(s) => s.clone(),
    }
}

fn json_value(v: &JsonScalar) -> serde_json::Value {
    match v {
        JsonScalar::Int(i) => (*i).into(),
        JsonScalar::UInt(u) => (*u).into(),
        JsonScalar::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
        }
        JsonScalar::Text(s) => s.clone().into(),
        JsonScalar::Bool(b) => (*b).into(),
        JsonScalar::Null => serde_json::Value::Null,
        JsonScalar::List(l) => l.clone().into(),
    }
}

fn payload(p: &PayloadInput) -> Vec<u8> {
    match p {
        PayloadInput::Raw(bytes) => bytes.clone(),
        PayloadInput::Json(fields) => {
            let map: serde_json::Map<String, serde_json::Value> = fields
                .iter()
                .map(|(k, v)| {
                    (
                        pick(&["good", "scrap", "ts", "v", "t", "x"], *k).to_owned(),
                        json_value(v),
                    )
                })
                .collect();
            serde_json::to_vec(&map).unwrap()
        }
        PayloadInput::Plain(v) => match v {
            JsonScalar::Text(s) => s.clone().into_bytes(),
            other => json_value(other).to_string().into_bytes(),
        },
        PayloadInput::Sparkplug {
            timestamp,
            seq,
            metrics,
        } => sparkplug::Payload {
            timestamp: *timestamp,
            seq: *seq,
            uuid: None,
            body: None,
            metrics: metrics
                .iter()
                .map(|m| sparkplug::Metric {
                    name: m
                        .name
                        .map(|n| pick(&["Counts/Good", "Temp", "State", "Other", ""], n).into()),
                    alias: m.alias.map(u64::from),
                    timestamp: m.timestamp,
                    datatype: m.datatype.map(|d| u32::from(d % 16)),
                    is_historical: m.historical,
                    is_transient: None,
                    is_null: m.is_null,
                    value: m.value.as_ref().map(|v| match v {
                        ValueInput::Int(i) => sparkplug::MetricValue::IntValue(*i),
                        ValueInput::Long(l) => sparkplug::MetricValue::LongValue(*l),
                        ValueInput::Float(f) => sparkplug::MetricValue::FloatValue(*f),
                        ValueInput::Double(d) => sparkplug::MetricValue::DoubleValue(*d),
                        ValueInput::Bool(b) => sparkplug::MetricValue::BooleanValue(*b),
                        ValueInput::Text(s) => sparkplug::MetricValue::StringValue(s.clone()),
                        ValueInput::Bytes(b) => sparkplug::MetricValue::BytesValue(b.clone()),
                    }),
                })
                .collect(),
        }
        .encode_to_vec(),
    }
}

fuzz_target!(|messages: Vec<MessageInput>| {
    let rules = &*RULE_SET;
    let mut session = Session::default();
    let mut faults = FaultLimiter::default();
    let mut now = Instant::now();
    for m in messages.iter().take(64) {
        now += Duration::from_millis(u64::from(m.after_ms));
        let topic = topic(&m.topic);
        let payload = payload(&m.payload);
        let (out, rebirth) = map_message(rules, &mut session, &mut faults, &topic, &payload, now);
        if let Some((to, request)) = rebirth {
            let parsed = sparkplug::Topic::parse(&topic).expect("a rebirth only for Sparkplug");
            assert_eq!(to, parsed.rebirth_topic());
            assert!(!request.is_empty());
        }
        for message in out {
            match message {
                MqttMessage::Fault { message, .. } => {
                    assert!(message.starts_with(&format!("topic {topic}")), "{message}");
                }
                MqttMessage::Mapped(mapped) => match mapped.what {
                    MappedValue::Count { .. } => {}
                    MappedValue::Measurement { value, .. } => {
                        assert!(value.is_finite(), "measurement {value} from {payload:?}")
                    }
                    MappedValue::State(_) | MappedValue::Scan(_) => {}
                },
                MqttMessage::Online { device, .. } => {
                    assert!(topic.starts_with("spBv1.0/"), "{topic}");
                    assert!(!device.is_empty());
                }
            }
        }
    }
});
