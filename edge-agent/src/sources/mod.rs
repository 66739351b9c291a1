//! Sources read devices and decode what they say. They know nothing of the journal or of
//! central; they hand what they read to the processor over a bounded channel.
//!
//! **Architecture Invariant:** only sources touch devices.

pub mod modbus;
pub mod mqtt;
pub mod scanner;
pub mod simulated;
pub mod tcp;

pub use crate::exchange::ScanRequest;
use crate::exchange::StationCommand;
use protocol::EventBody;

/// What a source hands to the processor.
#[derive(Debug)]
pub enum SourceMessage {
    /// A fact the source could already express as an event (simulated machines).
    Event(Box<EventBody>),
    /// Raw values one poll of one device read (Modbus): the processor gives them meaning.
    Readings(Box<Readings>),
    /// What MQTT messages said (typed by the rules), and whom to tell once it is committed.
    Mqtt(Box<mqtt::client::MqttDelivery>),
    /// A barcode read at a station (scanner, line terminal, `POST /api/v1/scans`): the
    /// processor checks it against the plan (`processor/scan.rs`).
    Scan(Box<ScanRequest>),
    /// A terminal's button at a station (sign out, complete a lot), answered like a scan.
    Station(Box<StationCommand>),
}

/// Values read from one device at one moment (one poll group's reads).
#[derive(Debug, Clone, PartialEq)]
pub struct Readings {
    pub device: String,
    pub at: chrono::DateTime<chrono::Utc>,
    pub values: Vec<Reading>,
}

/// One tag's value, as the device holds it (decoded, scaled; no meaning attached).
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub tag: String,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Bool(bool),
    Int(i64),
    UInt(u64),
    /// Always finite.
    Float(f64),
    Text(String),
}

impl Value {
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Bool(b) => Some(f64::from(u8::from(*b))),
            Value::Int(i) => Some(*i as f64),
            Value::UInt(u) => Some(*u as f64),
            Value::Float(f) => Some(*f),
            Value::Text(_) => None,
        }
    }

    /// The value as a wide integer (floats truncated, text 0): for encoding and codes.
    pub fn as_i128(&self) -> i128 {
        match self {
            Value::Bool(b) => i128::from(*b),
            Value::Int(i) => i128::from(*i),
            Value::UInt(u) => i128::from(*u),
            Value::Float(f) => *f as i128,
            Value::Text(_) => 0,
        }
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::UInt(u) => write!(f, "{u}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(t) => write!(f, "{t:?}"),
        }
    }
}

/// Capacity of the sources → processor channel. When it is full a source waits (backpressure):
/// a simulated machine simply produces later; no message is dropped.
pub const SOURCE_CHANNEL_CAPACITY: usize = 4096;

#[cfg(test)]
mod layering {
    /// Sources depend on no module above them (ARCHITECTURE.md): read from the sources' own
    /// files, so a new `use crate::processor::…` fails here.
    #[test]
    fn sources_import_nothing_above_them() {
        let above = [
            "crate::processor",
            "crate::terminal",
            "crate::sync",
            "crate::journal",
            "crate::topology",
            "crate::andon",
        ];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/sources");
        let mut dirs = vec![root];
        let mut files = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    dirs.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    files += 1;
                    let text = std::fs::read_to_string(&path).unwrap();
                    for (n, line) in text.lines().enumerate() {
                        let code = line.split("//").next().unwrap_or_default();
                        for module in above {
                            assert!(
                                !code.contains(&format!("{module}::"))
                                    && !code.contains(&format!("{module};")),
                                "{}:{}: a source imports {module}",
                                path.display(),
                                n + 1
                            );
                        }
                    }
                }
            }
        }
        assert!(files > 10, "read only {files} source files");
    }
}
