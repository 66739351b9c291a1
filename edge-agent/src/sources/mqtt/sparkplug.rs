//! Sparkplug B, without I/O: the protobuf payload, the topic namespace, and a host session
//! that resolves metric aliases from birth certificates, checks sequence numbers, and says
//! when to ask an edge node for a rebirth.
//!
//! Message structs are written with `prost` derives from the Eclipse Tahu `sparkplug_b.proto`
//! (field numbers as there); data sets, templates and property sets are skipped as unknown
//! fields, which protobuf allows.

use std::collections::HashMap;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
    #[prost(string, optional, tag = "4")]
    pub uuid: Option<String>,
    #[prost(bytes = "vec", optional, tag = "5")]
    pub body: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    #[prost(bool, optional, tag = "5")]
    pub is_historical: Option<bool>,
    #[prost(bool, optional, tag = "6")]
    pub is_transient: Option<bool>,
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    #[prost(oneof = "MetricValue", tags = "10, 11, 12, 13, 14, 15, 16")]
    pub value: Option<MetricValue>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
pub enum MetricValue {
    #[prost(uint32, tag = "10")]
    IntValue(u32),
    #[prost(uint64, tag = "11")]
    LongValue(u64),
    #[prost(float, tag = "12")]
    FloatValue(f32),
    #[prost(double, tag = "13")]
    DoubleValue(f64),
    #[prost(bool, tag = "14")]
    BooleanValue(bool),
    #[prost(string, tag = "15")]
    StringValue(String),
    #[prost(bytes, tag = "16")]
    BytesValue(Vec<u8>),
}

/// Sparkplug data types that carry a number, a flag or text (spec 6.4.16).
pub mod datatype {
    pub const INT8: u32 = 1;
    pub const INT16: u32 = 2;
    pub const INT32: u32 = 3;
    pub const INT64: u32 = 4;
    pub const UINT8: u32 = 5;
    pub const UINT16: u32 = 6;
    pub const UINT32: u32 = 7;
    pub const UINT64: u32 = 8;
    pub const FLOAT: u32 = 9;
    pub const DOUBLE: u32 = 10;
    pub const BOOLEAN: u32 = 11;
    pub const STRING: u32 = 12;
    pub const DATETIME: u32 = 13;
    pub const TEXT: u32 = 14;
}

/// A metric's value as the processor sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    UInt(u64),
    Float(f64),
    Bool(bool),
    Text(String),
    Null,
}

/// Message types of the Sparkplug B topic namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageType {
    NBirth,
    NDeath,
    DBirth,
    DDeath,
    NData,
    DData,
    NCmd,
    DCmd,
    State,
}

/// `spBv1.0/{group}/{type}/{edge node}[/{device}]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub group: String,
    pub kind: MessageType,
    pub node: String,
    pub device: Option<String>,
}

impl Topic {
    pub fn parse(topic: &str) -> Result<Topic, String> {
        let parts: Vec<&str> = topic.split('/').collect();
        if parts.first() != Some(&"spBv1.0") {
            return Err(format!("topic {topic:?} is not in the spBv1.0 namespace"));
        }
        let kind = match parts.get(2).copied() {
            Some("NBIRTH") => MessageType::NBirth,
            Some("NDEATH") => MessageType::NDeath,
            Some("DBIRTH") => MessageType::DBirth,
            Some("DDEATH") => MessageType::DDeath,
            Some("NDATA") => MessageType::NData,
            Some("DDATA") => MessageType::DData,
            Some("NCMD") => MessageType::NCmd,
            Some("DCMD") => MessageType::DCmd,
            Some("STATE") => MessageType::State,
            other => {
                return Err(format!(
                    "topic {topic:?}: unknown Sparkplug message type {other:?}"
                ));
            }
        };
        let is_device = matches!(
            kind,
            MessageType::DBirth | MessageType::DDeath | MessageType::DData | MessageType::DCmd
        );
        let expected = if is_device { 5 } else { 4 };
        if kind != MessageType::State && parts.len() != expected {
            return Err(format!(
                "topic {topic:?}: a {:?} topic has {expected} levels, this one {}",
                kind,
                parts.len()
            ));
        }
        Ok(Topic {
            group: parts.get(1).copied().unwrap_or_default().to_owned(),
            kind,
            node: parts.get(3).copied().unwrap_or_default().to_owned(),
            device: is_device.then(|| parts.get(4).copied().unwrap_or_default().to_owned()),
        })
    }

    /// The topic on which to ask this topic's edge node for a rebirth (`NCMD`, metric
    /// `Node Control/Rebirth` = true).
    pub fn rebirth_topic(&self) -> String {
        format!("spBv1.0/{}/NCMD/{}", self.group, self.node)
    }
}

/// The payload that asks an edge node to publish its births again.
pub fn rebirth_request(now_ms: u64) -> Vec<u8> {
    use prost::Message;
    Payload {
        timestamp: Some(now_ms),
        metrics: vec![Metric {
            name: Some("Node Control/Rebirth".into()),
            timestamp: Some(now_ms),
            datatype: Some(datatype::BOOLEAN),
            value: Some(MetricValue::BooleanValue(true)),
            ..Default::default()
        }],
        seq: None,
        uuid: None,
        body: None,
    }
    .encode_to_vec()
}

/// One metric as decoded and named.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedMetric {
    pub name: String,
    pub value: Value,
    /// The device's timestamp (ms since the epoch), the metric's or else the payload's.
    pub timestamp_ms: Option<u64>,
    /// A stored value sent late (store and forward): record it, never let it overwrite the
    /// live state.
    pub historical: bool,
    /// The Sparkplug data type ([`datatype`]), the metric's or its birth certificate's; 0 when
    /// neither says. A counter's width comes from it (UInt16 wraps at 65536).
    pub datatype: u32,
}

/// What the session made of one message.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcome {
    pub metrics: Vec<NamedMetric>,
    /// A node or device came online (birth) or went offline (death).
    pub online: Option<bool>,
    /// Whom `online` concerns: `None` the edge node itself, `Some` a device. A node's death
    /// takes its devices with it, so they are listed too.
    pub concerns: Vec<Option<String>>,
    /// The message could not be trusted (sequence gap, unknown alias, data before birth):
    /// publish [`rebirth_request`] on this topic. Its metrics were not used.
    pub rebirth: Option<String>,
    /// Why the rebirth is needed, for the device-fault event.
    pub problem: Option<String>,
}

#[derive(Debug, Default)]
struct NodeState {
    /// Expected seq of the next message from this node (0..=255, wrapping).
    next_seq: Option<u8>,
    /// Alias → name, per device (`None` = the node itself), from the birth certificates.
    aliases: HashMap<Option<String>, HashMap<u64, (String, u32)>>,
}

/// A Sparkplug host's view of every edge node it hears from.
#[derive(Debug, Default)]
pub struct Session {
    nodes: HashMap<(String, String), NodeState>,
}

/// Bounds on what hostile or broken nodes can make the session hold: metrics in one payload
/// (counted before it is decoded), edge nodes, devices per node.
pub const MAX_METRICS: usize = 4096;
pub const MAX_NODES: usize = 1024;
pub const MAX_DEVICES_PER_NODE: usize = 1024;

/// How many metrics a payload carries, from its top-level fields, without decoding them; an
/// error for bytes that are not protobuf or for more than [`MAX_METRICS`].
fn count_metrics(mut buf: &[u8]) -> Result<usize, String> {
    use prost::encoding::{DecodeContext, WireType, decode_key, skip_field};
    let mut n = 0usize;
    while !buf.is_empty() {
        let (tag, wire) = decode_key(&mut buf)
            .map_err(|e| format!("payload is not a Sparkplug B protobuf: {e}"))?;
        if tag == 2 && wire == WireType::LengthDelimited {
            n += 1;
            if n > MAX_METRICS {
                return Err(format!(
                    "payload carries more than {MAX_METRICS} metrics; refused"
                ));
            }
        }
        skip_field(wire, tag, &mut buf, DecodeContext::default())
            .map_err(|e| format!("payload is not a Sparkplug B protobuf: {e}"))?;
    }
    Ok(n)
}

impl Session {
    /// Decodes and interprets one message. `Err` for a payload that is not Sparkplug B
    /// protobuf at all or is over the session's bounds (the caller reports it as a device
    /// fault).
    pub fn handle(&mut self, topic: &Topic, payload: &[u8]) -> Result<Outcome, String> {
        use prost::Message;
        count_metrics(payload)?;
        let payload = Payload::decode(payload)
            .map_err(|e| format!("payload is not a Sparkplug B protobuf: {e}"))?;
        let key = (topic.group.clone(), topic.node.clone());
        let device = topic.device.clone();
        let mut out = Outcome::default();
        match topic.kind {
            MessageType::NCmd | MessageType::DCmd | MessageType::State => return Ok(out),
            MessageType::NDeath => {
                // A death carries no seq; the node must be born again before we trust it.
                let devices = self
                    .nodes
                    .remove(&key)
                    .map(|n| n.aliases)
                    .unwrap_or_default();
                let mut concerns: Vec<Option<String>> =
                    devices.into_keys().filter(Option::is_some).collect();
                concerns.sort();
                concerns.insert(0, None);
                out.concerns = concerns;
                out.online = Some(false);
                return Ok(out);
            }
            MessageType::NBirth => {
                if !self.nodes.contains_key(&key) && self.nodes.len() >= MAX_NODES {
                    return Err(format!(
                        "the birth of edge node {} is refused: the session already follows \
                         {MAX_NODES} edge nodes",
                        topic.node
                    ));
                }
                let mut node = NodeState::default();
                let seq = payload.seq.unwrap_or(0) as u8;
                node.next_seq = Some(seq.wrapping_add(1));
                node.aliases.insert(None, birth_aliases(&payload));
                out.metrics = name_metrics(&payload, &HashMap::new());
                out.online = Some(true);
                out.concerns = vec![None];
                self.nodes.insert(key, node);
                return Ok(out);
            }
            _ => {}
        }
        let Some(node) = self.nodes.get_mut(&key) else {
            return Ok(needs_rebirth(
                topic,
                format!(
                    "{:?} from edge node {} before its NBIRTH",
                    topic.kind, topic.node
                ),
            ));
        };
        let seq = payload.seq.map(|s| s as u8);
        if let (Some(expected), Some(seq)) = (node.next_seq, seq)
            && seq != expected
        {
            self.nodes.remove(&key);
            return Ok(needs_rebirth(
                topic,
                format!(
                    "sequence gap from edge node {}: expected seq {expected}, got {seq}",
                    topic.node
                ),
            ));
        }
        if let Some(seq) = seq {
            node.next_seq = Some(seq.wrapping_add(1));
        }
        match topic.kind {
            MessageType::DBirth => {
                if !node.aliases.contains_key(&device) && node.aliases.len() > MAX_DEVICES_PER_NODE
                {
                    return Err(format!(
                        "the birth of device {} is refused: edge node {} already has \
                         {MAX_DEVICES_PER_NODE} devices",
                        device.as_deref().unwrap_or("?"),
                        topic.node
                    ));
                }
                node.aliases.insert(device.clone(), birth_aliases(&payload));
                out.metrics = name_metrics(&payload, &HashMap::new());
                out.online = Some(true);
                out.concerns = vec![device];
            }
            MessageType::DDeath => {
                node.aliases.remove(&device);
                out.online = Some(false);
                out.concerns = vec![device];
            }
            MessageType::NData | MessageType::DData => {
                let Some(aliases) = node.aliases.get(&device) else {
                    let problem = format!(
                        "DDATA from device {} of edge node {} before its DBIRTH",
                        device.as_deref().unwrap_or("?"),
                        topic.node
                    );
                    self.nodes.remove(&key);
                    return Ok(needs_rebirth(topic, problem));
                };
                let unknown = payload.metrics.iter().find(|m| {
                    m.name.is_none() && m.alias.is_some_and(|a| !aliases.contains_key(&a))
                });
                if let Some(m) = unknown {
                    let problem = format!(
                        "metric alias {} from edge node {} is not in its birth certificate",
                        m.alias.unwrap_or_default(),
                        topic.node
                    );
                    self.nodes.remove(&key);
                    return Ok(needs_rebirth(topic, problem));
                }
                out.metrics = name_metrics(&payload, aliases);
            }
            _ => {}
        }
        Ok(out)
    }
}

fn needs_rebirth(topic: &Topic, problem: String) -> Outcome {
    Outcome {
        rebirth: Some(topic.rebirth_topic()),
        problem: Some(problem),
        ..Default::default()
    }
}

fn birth_aliases(payload: &Payload) -> HashMap<u64, (String, u32)> {
    payload
        .metrics
        .iter()
        .filter_map(|m| Some((m.alias?, (m.name.clone()?, m.datatype.unwrap_or(0)))))
        .collect()
}

fn name_metrics(payload: &Payload, aliases: &HashMap<u64, (String, u32)>) -> Vec<NamedMetric> {
    payload
        .metrics
        .iter()
        .filter_map(|m| {
            let (name, datatype) = match (&m.name, m.alias.and_then(|a| aliases.get(&a))) {
                (Some(name), known) => {
                    (name.clone(), m.datatype.or(known.map(|k| k.1)).unwrap_or(0))
                }
                (None, Some((name, datatype))) => (name.clone(), m.datatype.unwrap_or(*datatype)),
                (None, None) => return None,
            };
            Some(NamedMetric {
                name,
                value: if m.is_null == Some(true) {
                    Value::Null
                } else {
                    value_of(m.value.as_ref(), datatype)
                },
                timestamp_ms: m.timestamp.or(payload.timestamp),
                historical: m.is_historical == Some(true),
                datatype,
            })
        })
        .collect()
}

/// Reads a value by its declared type: signed integers travel as two's complement in the
/// unsigned protobuf fields.
fn value_of(value: Option<&MetricValue>, datatype: u32) -> Value {
    use datatype::*;
    match value {
        None => Value::Null,
        Some(MetricValue::IntValue(v)) => match datatype {
            INT8 => Value::Int(*v as u8 as i8 as i64),
            INT16 => Value::Int(*v as u16 as i16 as i64),
            INT32 => Value::Int(*v as i32 as i64),
            _ => Value::UInt(*v as u64),
        },
        Some(MetricValue::LongValue(v)) => match datatype {
            INT64 => Value::Int(*v as i64),
            _ => Value::UInt(*v),
        },
        Some(MetricValue::FloatValue(v)) => Value::Float(*v as f64),
        Some(MetricValue::DoubleValue(v)) => Value::Float(*v),
        Some(MetricValue::BooleanValue(v)) => Value::Bool(*v),
        Some(MetricValue::StringValue(v)) => Value::Text(v.clone()),
        Some(MetricValue::BytesValue(v)) => Value::Text(String::from_utf8_lossy(v).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn metric(name: Option<&str>, alias: u64, datatype: u32, value: MetricValue) -> Metric {
        Metric {
            name: name.map(str::to_owned),
            alias: Some(alias),
            datatype: Some(datatype),
            value: Some(value),
            ..Default::default()
        }
    }

    fn payload(seq: u64, metrics: Vec<Metric>) -> Vec<u8> {
        Payload {
            timestamp: Some(1_700_000_000_000),
            metrics,
            seq: Some(seq),
            uuid: None,
            body: None,
        }
        .encode_to_vec()
    }

    fn topic(s: &str) -> Topic {
        Topic::parse(s).unwrap()
    }

    fn births(session: &mut Session) {
        let nb = payload(
            0,
            vec![metric(
                Some("bdSeq"),
                0,
                datatype::INT64,
                MetricValue::LongValue(1),
            )],
        );
        session
            .handle(&topic("spBv1.0/plant/NBIRTH/gw-1"), &nb)
            .unwrap();
        let db = payload(
            1,
            vec![
                metric(
                    Some("Counts/Good"),
                    1,
                    datatype::UINT32,
                    MetricValue::IntValue(100),
                ),
                metric(
                    Some("Temp"),
                    2,
                    datatype::INT16,
                    MetricValue::IntValue(0xFFF6),
                ),
            ],
        );
        let out = session
            .handle(&topic("spBv1.0/plant/DBIRTH/gw-1/press-1"), &db)
            .unwrap();
        assert_eq!(out.online, Some(true));
        assert_eq!(out.concerns, vec![Some("press-1".to_owned())]);
        assert_eq!(out.metrics[0].datatype, datatype::UINT32);
        assert_eq!(
            out.metrics[1].value,
            Value::Int(-10),
            "INT16 two's complement"
        );
    }

    #[test]
    fn aliases_from_the_birth_name_later_data() {
        let mut s = Session::default();
        births(&mut s);
        let dd = payload(2, vec![metric(None, 1, 0, MetricValue::IntValue(105))]);
        let out = s
            .handle(&topic("spBv1.0/plant/DDATA/gw-1/press-1"), &dd)
            .unwrap();
        assert_eq!(out.rebirth, None);
        assert_eq!(out.metrics.len(), 1);
        assert_eq!(out.metrics[0].name, "Counts/Good");
        assert_eq!(out.metrics[0].value, Value::UInt(105));
        assert_eq!(out.metrics[0].timestamp_ms, Some(1_700_000_000_000));
    }

    #[test]
    fn a_sequence_gap_asks_for_a_rebirth_and_uses_nothing() {
        let mut s = Session::default();
        births(&mut s);
        let dd = payload(5, vec![metric(None, 1, 0, MetricValue::IntValue(105))]);
        let out = s
            .handle(&topic("spBv1.0/plant/DDATA/gw-1/press-1"), &dd)
            .unwrap();
        assert_eq!(out.rebirth.as_deref(), Some("spBv1.0/plant/NCMD/gw-1"));
        assert!(out.problem.unwrap().contains("expected seq 2, got 5"));
        assert!(out.metrics.is_empty());
        // Until the node is born again, its data is not trusted.
        let dd = payload(6, vec![metric(None, 1, 0, MetricValue::IntValue(106))]);
        let out = s
            .handle(&topic("spBv1.0/plant/DDATA/gw-1/press-1"), &dd)
            .unwrap();
        assert!(out.rebirth.is_some());
        births(&mut s);
    }

    #[test]
    fn seq_wraps_after_255() {
        let mut s = Session::default();
        let nb = payload(254, vec![]);
        s.handle(&topic("spBv1.0/g/NBIRTH/n"), &nb).unwrap();
        for seq in [255u64, 0, 1] {
            let out = s
                .handle(&topic("spBv1.0/g/NDATA/n"), &payload(seq, vec![]))
                .unwrap();
            assert_eq!(out.rebirth, None, "seq {seq}");
        }
    }

    #[test]
    fn data_before_birth_and_unknown_alias_ask_for_a_rebirth() {
        let mut s = Session::default();
        let dd = payload(1, vec![metric(None, 1, 0, MetricValue::IntValue(1))]);
        let out = s
            .handle(&topic("spBv1.0/plant/DDATA/gw-1/press-1"), &dd)
            .unwrap();
        assert!(out.problem.unwrap().contains("before its NBIRTH"));

        births(&mut s);
        let dd = payload(2, vec![metric(None, 99, 0, MetricValue::IntValue(1))]);
        let out = s
            .handle(&topic("spBv1.0/plant/DDATA/gw-1/press-1"), &dd)
            .unwrap();
        assert!(out.problem.unwrap().contains("alias 99"));
    }

    #[test]
    fn historical_metrics_are_flagged() {
        let mut s = Session::default();
        births(&mut s);
        let mut m = metric(None, 1, 0, MetricValue::IntValue(90));
        m.is_historical = Some(true);
        m.timestamp = Some(1_600_000_000_000);
        let out = s
            .handle(
                &topic("spBv1.0/plant/DDATA/gw-1/press-1"),
                &payload(2, vec![m]),
            )
            .unwrap();
        assert!(out.metrics[0].historical);
        assert_eq!(out.metrics[0].timestamp_ms, Some(1_600_000_000_000));
    }

    #[test]
    fn death_takes_the_node_offline_until_its_next_birth() {
        let mut s = Session::default();
        births(&mut s);
        let out = s
            .handle(&topic("spBv1.0/plant/NDEATH/gw-1"), &payload(0, vec![]))
            .unwrap();
        assert_eq!(out.online, Some(false));
        assert_eq!(
            out.concerns,
            vec![None, Some("press-1".to_owned())],
            "the node's death is its devices' too"
        );
        let dd = payload(2, vec![metric(None, 1, 0, MetricValue::IntValue(1))]);
        assert!(
            s.handle(&topic("spBv1.0/plant/DDATA/gw-1/press-1"), &dd)
                .unwrap()
                .rebirth
                .is_some()
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut s = Session::default();
        assert!(
            s.handle(&topic("spBv1.0/g/NBIRTH/n"), &[0xFF, 0xFF, 0xFF])
                .is_err()
        );
    }

    #[test]
    fn hostile_payloads_are_bounded_errors_not_panics_or_big_allocations() {
        let mut s = Session::default();
        // 100 000 empty metrics: 200 KB on the wire, far more once decoded.
        let many = payload(0, vec![Metric::default(); MAX_METRICS + 1]);
        let e = s.handle(&topic("spBv1.0/g/NBIRTH/n"), &many).unwrap_err();
        assert!(e.contains("more than"), "{e}");
        assert!(s.nodes.is_empty());
        // A length that runs past the payload, a group that never ends, a varint too long.
        for bytes in [
            &[0x12, 0xff, 0xff, 0xff, 0xff, 0x0f][..],
            &[0x13, 0x13, 0x13],
            &[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
            ],
        ] {
            assert!(
                s.handle(&topic("spBv1.0/g/NBIRTH/n"), bytes).is_err(),
                "{bytes:?}"
            );
        }
        // Edge nodes and devices are bounded.
        for n in 0..MAX_NODES {
            s.handle(
                &topic(&format!("spBv1.0/g/NBIRTH/n{n}")),
                &payload(0, vec![]),
            )
            .unwrap();
        }
        assert!(
            s.handle(&topic("spBv1.0/g/NBIRTH/one-more"), &payload(0, vec![]))
                .unwrap_err()
                .contains("refused")
        );
        s.handle(&topic("spBv1.0/g/NBIRTH/n0"), &payload(0, vec![]))
            .expect("a known node may be born again");
        let mut seq = 1;
        for d in 0..MAX_DEVICES_PER_NODE {
            let t = topic(&format!("spBv1.0/g/DBIRTH/n0/d{d}"));
            s.handle(&t, &payload(seq, vec![])).unwrap();
            seq = (seq + 1) % 256;
        }
        let t = topic("spBv1.0/g/DBIRTH/n0/one-more");
        assert!(
            s.handle(&t, &payload(seq, vec![]))
                .unwrap_err()
                .contains("refused")
        );
    }

    #[test]
    fn topics() {
        assert_eq!(
            topic("spBv1.0/plant/DDATA/gw-1/press-1"),
            Topic {
                group: "plant".into(),
                kind: MessageType::DData,
                node: "gw-1".into(),
                device: Some("press-1".into())
            }
        );
        assert!(
            Topic::parse("spBv1.0/plant/DDATA/gw-1")
                .unwrap_err()
                .contains("5 levels")
        );
        assert!(
            Topic::parse("spBv1.0/plant/XDATA/gw-1")
                .unwrap_err()
                .contains("XDATA")
        );
        assert!(Topic::parse("plant/line/1").is_err());
    }

    #[test]
    fn the_rebirth_request_is_a_boolean_true_node_control_metric() {
        let p = Payload::decode(rebirth_request(5).as_slice()).unwrap();
        assert_eq!(p.metrics[0].name.as_deref(), Some("Node Control/Rebirth"));
        assert_eq!(p.metrics[0].value, Some(MetricValue::BooleanValue(true)));
    }
}
