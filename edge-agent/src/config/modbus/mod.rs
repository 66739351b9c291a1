//! A Modbus device's configuration: its connection, poll groups and register map, written the
//! way plant engineers describe PLCs (Modicon `400001`, or `holding:0`), and what each tag
//! means to the processor (a counter, a machine state, a measurement).
//!
//! ```toml
//! [[sources]]
//! type = "modbus"
//! device = "press-1"
//! host = "10.0.0.5:502"
//! unit = 1
//! station = "st-10"
//!
//! [[sources.tags]]
//! name = "good"
//! address = "400001"
//! type = "u16"
//! role = "counter"
//! ```
//!
//! A device on a serial line (Modbus RTU, RS-485) names its port instead of a host; several
//! devices (unit ids) may share one port, and then share its line settings:
//!
//! ```toml
//! [[sources]]
//! type = "modbus"
//! device = "press-2"
//! serial = "/dev/ttyUSB0"   # or /dev/serial/by-id/..., COM3
//! baud = 19200              # the default
//! parity = "even"           # even (the Modbus default), odd or none
//! stop_bits = 1             # 1 (the default) or 2; the spec wants 2 with parity = "none"
//! unit = 2                  # 1 to 247 on a serial line
//! ```
//!
//! Serial fields are read and checked in every build, so `mes check-config` can say what is
//! wrong with them; only opening the port needs the `rtu` cargo feature, and a build without
//! it reports a serial device as a mistake rather than starting a source that cannot work.
//!
//! The file's shape ([`RawModbus`], strict) is turned into a validated [`ModbusDevice`] as it
//! is read; the mistakes found are kept with the path of the key they concern, and
//! `EdgeConfig::from_toml_str` reports each with its line.

use protocol::MachineState;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

mod raw;
mod serial;
mod tags;
#[cfg(test)]
mod tests;
mod writes;

pub use raw::*;
pub use serial::*;
pub use tags::*;
pub use writes::*;

/// Most registers one read may ask for (function codes 3 and 4).
pub const MAX_READ_REGISTERS: u16 = 125;
/// Most coils or discrete inputs one read may ask for (function codes 1 and 2).
pub const MAX_READ_BITS: u16 = 2000;
/// Most registers one write may carry (function code 16).
pub const MAX_WRITE_REGISTERS: u16 = 123;

/// A Modbus source as configured: the validated device, or the mistakes that stop it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "RawModbus")]
pub struct ModbusConfig {
    validated: Result<ModbusDevice, Vec<PathMistake>>,
}

impl ModbusConfig {
    /// The validated device. `EdgeConfig::from_toml_str` refuses a file in which this is an
    /// error, so an agent started from a checked configuration always has it.
    pub fn device(&self) -> Result<&ModbusDevice, &[PathMistake]> {
        self.validated.as_ref().map_err(|m| m.as_slice())
    }

    /// Builds a source from a validated device (for tests and tools that build configs in code).
    pub fn from_device(device: ModbusDevice) -> ModbusConfig {
        ModbusConfig {
            validated: Ok(device),
        }
    }
}

/// A mistake and the path of the key it concerns, relative to the source's table
/// (`["tags", 3, "address"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathMistake {
    pub path: Vec<PathSeg>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(&'static str),
    Index(usize),
}

/// One PLC (or one unit id behind a gateway).
#[derive(Debug, Clone, PartialEq)]
pub struct ModbusDevice {
    /// The device id events carry.
    pub device: String,
    /// `host:port` of a TCP device, resolved at every connect so a PLC's DNS name may change.
    /// For a serial device, the port's path: messages name the device by it.
    pub host: String,
    /// The serial line of a Modbus RTU device; `None` for Modbus TCP.
    pub serial: Option<SerialLine>,
    pub unit: u8,
    /// Longest wait for one reply (and for a connect). A reply later than this is never taken:
    /// the connection is dropped and made anew.
    pub timeout: Duration,
    /// Default station of the device's tags.
    pub station: Option<String>,
    /// Registers read across a gap between two tags rather than making another request.
    pub max_gap_registers: u16,
    /// Coils or discrete inputs read across a gap between two tags.
    pub max_gap_bits: u16,
    /// Wait before reconnecting after failures: doubles from `backoff_min` to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// At most one device-fault event per this interval; the others are counted in the next.
    pub fault_interval: Duration,
    pub groups: Vec<PollGroup>,
    /// Where the plan's PLC parameters are written when a work order starts on the device's
    /// station (`[[sources.write]]`). Empty: the device is never written.
    pub writes: Vec<WriteTarget>,
}

impl From<RawModbus> for ModbusConfig {
    fn from(raw: RawModbus) -> ModbusConfig {
        ModbusConfig {
            validated: validate(raw),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Validation

pub(super) struct Mistakes(pub(super) Vec<PathMistake>);

impl Mistakes {
    pub(super) fn at(&mut self, path: Vec<PathSeg>, message: String) {
        self.0.push(PathMistake { path, message });
    }
}

pub(super) fn key(k: &'static str) -> Vec<PathSeg> {
    vec![PathSeg::Key(k)]
}

pub(super) fn tag_key(i: usize, k: &'static str) -> Vec<PathSeg> {
    vec![PathSeg::Key("tags"), PathSeg::Index(i), PathSeg::Key(k)]
}

pub(super) fn in_range(
    m: &mut Mistakes,
    path: Vec<PathSeg>,
    name: &str,
    v: i64,
    lo: i64,
    hi: i64,
) -> i64 {
    if v < lo || v > hi {
        m.at(path, format!("{name} is {v}; expected {lo} to {hi}"));
        lo
    } else {
        v
    }
}

pub(super) fn validate(raw: RawModbus) -> Result<ModbusDevice, Vec<PathMistake>> {
    let mut m = Mistakes(Vec::new());
    let device = raw.device.trim().to_owned();
    if device.is_empty()
        || !device
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        m.at(
            key("device"),
            format!(
                "device {:?} must be non-empty and use only letters, digits, '-', '_' and '.'",
                raw.device
            ),
        );
    }
    let (host, serial) = validate_link(&mut m, &raw, &device);
    let unit = if serial.is_some() {
        if !(1..=247).contains(&raw.unit) {
            m.at(
                key("unit"),
                format!(
                    "unit is {} on a serial line; expected 1 to 247 (0 is broadcast, which no slave answers; 248 to 255 are reserved)",
                    raw.unit
                ),
            );
        }
        raw.unit.clamp(0, 255) as u8
    } else {
        in_range(&mut m, key("unit"), "unit", raw.unit, 0, 255) as u8
    };
    if raw.timeout.is_zero() || raw.timeout > Duration::from_secs(60) {
        m.at(
            key("timeout"),
            format!(
                "timeout is {}; expected above 0 and at most 60s",
                protocol::duration::format(raw.timeout)
            ),
        );
    }
    let order = match &raw.byte_order {
        None => ByteOrder::Abcd,
        Some(o) => ByteOrder::parse(o).unwrap_or_else(|| {
            m.at(
                key("byte_order"),
                format!("byte_order {o:?} is unknown; expected ABCD, CDAB, BADC or DCBA"),
            );
            ByteOrder::Abcd
        }),
    };
    let base = match raw.address_base {
        None | Some(0) => 0,
        Some(1) => 1,
        Some(other) => {
            m.at(
                key("address_base"),
                format!("address_base is {other}; expected 0 or 1"),
            );
            0
        }
    };
    let max_gap_registers = in_range(
        &mut m,
        key("max_gap_registers"),
        "max_gap_registers",
        raw.max_gap_registers,
        0,
        i64::from(MAX_READ_REGISTERS),
    ) as u16;
    let max_gap_bits = in_range(
        &mut m,
        key("max_gap_bits"),
        "max_gap_bits",
        raw.max_gap_bits,
        0,
        i64::from(MAX_READ_BITS),
    ) as u16;
    if raw.backoff_min.is_zero() || raw.backoff_min > raw.backoff_max {
        m.at(
            key("backoff_min"),
            "backoff_min must be above 0 and not exceed backoff_max".to_owned(),
        );
    }
    let interval_ok =
        |d: Duration| d >= Duration::from_millis(10) && d <= Duration::from_secs(86400);
    if !interval_ok(raw.interval) {
        m.at(
            key("interval"),
            "interval must be from 10ms to 24h".to_owned(),
        );
    }

    // Poll groups: the default one, then the named ones.
    let mut groups = vec![PollGroup {
        name: "default".to_owned(),
        interval: raw.interval,
        tags: Vec::new(),
    }];
    for (i, g) in raw.groups.iter().enumerate() {
        let path = || {
            vec![
                PathSeg::Key("groups"),
                PathSeg::Index(i),
                PathSeg::Key("name"),
            ]
        };
        if groups.iter().any(|x| x.name == g.name) {
            m.at(path(), format!("poll group {:?} is defined twice", g.name));
            continue;
        }
        if !interval_ok(g.interval) {
            m.at(
                vec![
                    PathSeg::Key("groups"),
                    PathSeg::Index(i),
                    PathSeg::Key("interval"),
                ],
                format!("poll group {:?}: interval must be from 10ms to 24h", g.name),
            );
        }
        groups.push(PollGroup {
            name: g.name.clone(),
            interval: g.interval,
            tags: Vec::new(),
        });
    }

    if raw.tags.is_empty() {
        m.at(
            key("device"),
            format!("device {device:?} has no tags; expected at least one [[sources.tags]]"),
        );
    }
    let mut names = BTreeSet::new();
    // (table, start, end exclusive, bit, tag index) for the overlap check.
    let mut spans: Vec<(Table, u32, u32, Option<u8>, usize)> = Vec::new();
    for (i, t) in raw.tags.iter().enumerate() {
        if let Some(tag) = validate_tag(&mut m, i, t, base, order, raw.station.as_deref()) {
            if !names.insert(tag.name.clone()) {
                m.at(
                    tag_key(i, "name"),
                    format!("tag name {:?} is used twice in device {device:?}", tag.name),
                );
            }
            spans.push((
                tag.table,
                u32::from(tag.address),
                u32::from(tag.address) + u32::from(tag.width()),
                tag.bit,
                i,
            ));
            let group = t.group.as_deref().unwrap_or("default");
            match groups.iter_mut().find(|g| g.name == group) {
                Some(g) => g.tags.push(tag),
                None => m.at(
                    tag_key(i, "group"),
                    format!(
                        "tag {:?}: poll group {group:?} is not defined; define it in [[sources.groups]]",
                        t.name
                    ),
                ),
            }
        }
    }
    overlaps(&mut m, &mut spans, &raw.tags);
    groups.retain(|g| !g.tags.is_empty());
    let writes = validate_writes(&mut m, &raw.write, base, order);

    if m.0.is_empty() {
        Ok(ModbusDevice {
            device,
            host,
            serial,
            unit,
            timeout: raw.timeout,
            station: raw.station,
            max_gap_registers,
            max_gap_bits,
            backoff_min: raw.backoff_min,
            backoff_max: raw.backoff_max,
            fault_interval: raw.fault_interval,
            groups,
            writes,
        })
    } else {
        Err(m.0)
    }
}
