//! The shape of a Modbus source in the file, strict: read by serde, validated in `mod.rs`.

use super::*;

// ---------------------------------------------------------------------------------------------
// The shape in the file.

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModbus {
    pub(super) device: String,
    /// `host:port`; the port defaults to 502. Either this or `serial`.
    #[serde(default)]
    pub(super) host: Option<String>,
    /// A serial port (Modbus RTU). Either this or `host`.
    #[serde(default)]
    pub(super) serial: Option<String>,
    #[serde(default)]
    pub(super) baud: Option<i64>,
    #[serde(default)]
    pub(super) parity: Option<String>,
    #[serde(default)]
    pub(super) data_bits: Option<i64>,
    #[serde(default)]
    pub(super) stop_bits: Option<i64>,
    #[serde(default = "default_unit")]
    pub(super) unit: i64,
    #[serde(default = "default_timeout", with = "protocol::duration")]
    pub(super) timeout: Duration,
    #[serde(default)]
    pub(super) station: Option<String>,
    #[serde(default)]
    pub(super) byte_order: Option<String>,
    /// 0 or 1: whether `holding:0` or `holding:1` is the first register. Modicon addresses
    /// (`400001`) are always 1-based.
    #[serde(default)]
    pub(super) address_base: Option<i64>,
    /// Interval of the default poll group.
    #[serde(default = "default_interval", with = "protocol::duration")]
    pub(super) interval: Duration,
    #[serde(default = "default_max_gap_registers")]
    pub(super) max_gap_registers: i64,
    #[serde(default = "default_max_gap_bits")]
    pub(super) max_gap_bits: i64,
    #[serde(default = "default_backoff_min", with = "protocol::duration")]
    pub(super) backoff_min: Duration,
    #[serde(default = "default_backoff_max", with = "protocol::duration")]
    pub(super) backoff_max: Duration,
    #[serde(default = "default_fault_interval", with = "protocol::duration")]
    pub(super) fault_interval: Duration,
    #[serde(default)]
    pub(super) groups: Vec<RawGroup>,
    #[serde(default)]
    pub(super) tags: Vec<RawTag>,
    #[serde(default)]
    pub(super) write: Vec<RawWrite>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawWrite {
    pub(super) parameter: String,
    pub(super) address: RawAddress,
    #[serde(default, rename = "type")]
    pub(super) data_type: Option<String>,
    #[serde(default)]
    pub(super) length: Option<i64>,
    #[serde(default)]
    pub(super) byte_order: Option<String>,
}

pub(super) fn default_unit() -> i64 {
    1
}
pub(super) fn default_timeout() -> Duration {
    Duration::from_secs(1)
}
pub(super) fn default_interval() -> Duration {
    Duration::from_secs(1)
}
pub(super) fn default_max_gap_registers() -> i64 {
    8
}
pub(super) fn default_max_gap_bits() -> i64 {
    64
}
pub(super) fn default_backoff_min() -> Duration {
    Duration::from_millis(500)
}
pub(super) fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
pub(super) fn default_fault_interval() -> Duration {
    Duration::from_secs(60)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGroup {
    pub(super) name: String,
    #[serde(with = "protocol::duration")]
    pub(super) interval: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(super) enum RawAddress {
    Number(i64),
    Text(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTag {
    pub(super) name: String,
    pub(super) address: RawAddress,
    #[serde(default, rename = "type")]
    pub(super) data_type: Option<String>,
    /// Registers the tag spans, as the PLC's documentation states it; checked against the type.
    #[serde(default)]
    pub(super) registers: Option<i64>,
    /// Characters of a string tag.
    #[serde(default)]
    pub(super) length: Option<i64>,
    #[serde(default)]
    pub(super) byte_order: Option<String>,
    #[serde(default)]
    pub(super) scale: Option<f64>,
    #[serde(default)]
    pub(super) offset: Option<f64>,
    #[serde(default)]
    pub(super) deadband: Option<f64>,
    #[serde(default)]
    pub(super) report: Option<String>,
    #[serde(default)]
    pub(super) group: Option<String>,
    #[serde(default)]
    pub(super) role: Option<String>,
    #[serde(default)]
    pub(super) station: Option<String>,
    #[serde(default)]
    pub(super) counts: Option<String>,
    #[serde(default)]
    pub(super) max_step: Option<i64>,
    #[serde(default)]
    pub(super) states: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub(super) characteristic: Option<String>,
    #[serde(default)]
    pub(super) unit: Option<String>,
}
