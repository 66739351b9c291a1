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

/// Parity of a serial line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Parity {
    None,
    Even,
    Odd,
}

impl Parity {
    fn parse(text: &str) -> Option<Parity> {
        match text.trim().to_ascii_lowercase().as_str() {
            "none" | "n" => Some(Parity::None),
            "even" | "e" => Some(Parity::Even),
            "odd" | "o" => Some(Parity::Odd),
            _ => None,
        }
    }

    /// The letter of the usual `8E1` notation.
    pub fn letter(self) -> char {
        match self {
            Parity::None => 'N',
            Parity::Even => 'E',
            Parity::Odd => 'O',
        }
    }
}

/// A serial port and its line settings (Modbus RTU). Every device on one port shares them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SerialLine {
    /// `/dev/ttyUSB0`, `/dev/serial/by-id/...`, `COM3`.
    pub path: String,
    pub baud: u32,
    pub parity: Parity,
    /// Always 8 for RTU (7 is Modbus ASCII); kept so the port is opened as configured.
    pub data_bits: u8,
    pub stop_bits: u8,
}

impl SerialLine {
    /// Bits on the wire per character: start, data, parity, stop.
    pub fn bits_per_char(&self) -> u32 {
        1 + u32::from(self.data_bits)
            + u32::from(self.parity != Parity::None)
            + u32::from(self.stop_bits)
    }

    /// Time of one character on the wire.
    pub fn char_time(&self) -> Duration {
        Duration::from_secs_f64(f64::from(self.bits_per_char()) / f64::from(self.baud.max(1)))
    }

    /// The silent interval that ends an RTU frame (t3.5): 3.5 character times, and a fixed
    /// 1.75 ms above 19200 baud, as the Modbus serial line specification (2.5.1.1) says.
    pub fn frame_gap(&self) -> Duration {
        if self.baud > 19_200 {
            Duration::from_micros(1750)
        } else {
            self.char_time().mul_f64(3.5)
        }
    }

    /// `19200 8E1`, as device manuals write it.
    pub fn settings(&self) -> String {
        format!(
            "{} {}{}{}",
            self.baud,
            self.data_bits,
            self.parity.letter(),
            self.stop_bits
        )
    }
}

/// Mistakes between devices on one serial port, which one device's table cannot see: every
/// device on a port must use the same line settings, and no two may share a unit id. Each
/// mistake is given with the index (in `devices`) of the device it concerns, and the path of the
/// key within that device's table.
pub fn serial_line_mistakes(devices: &[&ModbusDevice]) -> Vec<(usize, PathMistake)> {
    let mut out = Vec::new();
    // First device on each port, and the units seen there.
    let mut ports: BTreeMap<&str, (usize, BTreeSet<u8>)> = BTreeMap::new();
    for (i, d) in devices.iter().enumerate() {
        let Some(line) = &d.serial else { continue };
        let (first, units) = ports
            .entry(line.path.as_str())
            .or_insert((i, BTreeSet::new()));
        let first_device = devices[*first];
        if let Some(first_line) = &first_device.serial
            && first_line != line
        {
            out.push((
                i,
                PathMistake {
                    path: key("serial"),
                    message: format!(
                        "device {:?} uses {} on {}, but device {:?} on the same port uses {}; every device on one port shares its line settings",
                        d.device,
                        line.settings(),
                        line.path,
                        first_device.device,
                        first_line.settings()
                    ),
                },
            ));
        }
        if !units.insert(d.unit) {
            out.push((
                i,
                PathMistake {
                    path: key("unit"),
                    message: format!(
                        "device {:?}: unit {} on {} is already another device's; each slave on a serial line has its own unit id",
                        d.device, d.unit, line.path
                    ),
                },
            ));
        }
    }
    out
}

/// One parameter written to holding registers (function 16) and read back to verify.
///
/// ```toml
/// [[sources.write]]
/// parameter = "target_qty"   # a key of the work order's plc_parameters; "work_order" is its id
/// address = "400011"         # holding registers only
/// type = "u32"               # numeric types, or "string" with length
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WriteTarget {
    pub parameter: String,
    pub address: u16,
    pub data_type: DataType,
    pub order: ByteOrder,
}

impl WriteTarget {
    pub fn registers(&self) -> u16 {
        self.data_type.registers()
    }
}

/// Tags read together at one interval.
#[derive(Debug, Clone, PartialEq)]
pub struct PollGroup {
    pub name: String,
    pub interval: Duration,
    pub tags: Vec<Tag>,
}

/// The four Modbus data tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Table {
    /// 0xxxxx, read with function code 1.
    Coils,
    /// 1xxxxx, function code 2.
    DiscreteInputs,
    /// 3xxxxx, function code 4.
    InputRegisters,
    /// 4xxxxx, function code 3.
    HoldingRegisters,
}

impl Table {
    pub fn is_bits(self) -> bool {
        matches!(self, Table::Coils | Table::DiscreteInputs)
    }

    /// The read function code.
    pub fn function(self) -> u8 {
        match self {
            Table::Coils => 1,
            Table::DiscreteInputs => 2,
            Table::HoldingRegisters => 3,
            Table::InputRegisters => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Table::Coils => "coil",
            Table::DiscreteInputs => "discrete",
            Table::InputRegisters => "input",
            Table::HoldingRegisters => "holding",
        }
    }

    /// Most items one read of this table may ask for.
    pub fn max_read(self) -> u16 {
        if self.is_bits() {
            MAX_READ_BITS
        } else {
            MAX_READ_REGISTERS
        }
    }
}

/// How the bytes A (most significant) B C D of a multi-register value lie in the registers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ByteOrder {
    /// Big endian: first register AB, second CD (the Modbus default).
    #[default]
    Abcd,
    /// Words swapped: first register CD, second AB.
    Cdab,
    /// Bytes swapped in each word: BA DC.
    Badc,
    /// Little endian: DC BA.
    Dcba,
}

impl ByteOrder {
    fn parse(text: &str) -> Option<ByteOrder> {
        match text.to_ascii_uppercase().as_str() {
            "ABCD" => Some(ByteOrder::Abcd),
            "CDAB" => Some(ByteOrder::Cdab),
            "BADC" => Some(ByteOrder::Badc),
            "DCBA" => Some(ByteOrder::Dcba),
            _ => None,
        }
    }

    /// The least significant word comes first.
    pub fn words_swapped(self) -> bool {
        matches!(self, ByteOrder::Cdab | ByteOrder::Dcba)
    }

    /// The low byte of each register comes first.
    pub fn bytes_swapped(self) -> bool {
        matches!(self, ByteOrder::Badc | ByteOrder::Dcba)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Bool,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
    /// Text of at most `chars` bytes, two to a register; ends at the first NUL.
    String {
        chars: u16,
    },
}

impl DataType {
    pub const NAMES: &'static str = "bool, i16, u16, i32, u32, i64, u64, f32, f64, string";

    fn parse(text: &str, chars: u16) -> Option<DataType> {
        Some(match text {
            "bool" => DataType::Bool,
            "i16" | "int16" => DataType::I16,
            "u16" | "uint16" | "word" => DataType::U16,
            "i32" | "int32" => DataType::I32,
            "u32" | "uint32" | "dword" => DataType::U32,
            "i64" | "int64" => DataType::I64,
            "u64" | "uint64" => DataType::U64,
            "f32" | "float32" | "real" => DataType::F32,
            "f64" | "float64" | "lreal" => DataType::F64,
            "string" => DataType::String { chars },
            _ => return None,
        })
    }

    /// Registers the type takes (a bool in a register takes that register).
    pub fn registers(self) -> u16 {
        match self {
            DataType::Bool | DataType::I16 | DataType::U16 => 1,
            DataType::I32 | DataType::U32 | DataType::F32 => 2,
            DataType::I64 | DataType::U64 | DataType::F64 => 4,
            DataType::String { chars } => chars.div_ceil(2),
        }
    }

    /// Width in bits of an integer type (what a counter rolls over at).
    pub fn integer_bits(self) -> Option<u32> {
        match self {
            DataType::I16 | DataType::U16 => Some(16),
            DataType::I32 | DataType::U32 => Some(32),
            DataType::I64 | DataType::U64 => Some(64),
            _ => None,
        }
    }

    pub fn is_numeric(self) -> bool {
        !matches!(self, DataType::Bool | DataType::String { .. })
    }

    pub fn name(self) -> &'static str {
        match self {
            DataType::Bool => "bool",
            DataType::I16 => "i16",
            DataType::U16 => "u16",
            DataType::I32 => "i32",
            DataType::U32 => "u32",
            DataType::I64 => "i64",
            DataType::U64 => "u64",
            DataType::F32 => "f32",
            DataType::F64 => "f64",
            DataType::String { .. } => "string",
        }
    }
}

/// When a tag's value is handed to the processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Report {
    /// When it differs from the last value reported (by more than the deadband, if any).
    #[default]
    OnChange,
    /// After every successful read.
    EveryPoll,
}

/// One value in a PLC.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub name: String,
    pub table: Table,
    /// Protocol address (0-based) of the first register or bit.
    pub address: u16,
    /// A bit within a register (`400010.3`): 0 is the least significant.
    pub bit: Option<u8>,
    pub data_type: DataType,
    pub order: ByteOrder,
    /// Fixed point: the value is `raw * scale + offset`.
    pub scale: Option<f64>,
    pub offset: Option<f64>,
    pub deadband: Option<f64>,
    pub report: Report,
    pub meaning: Option<Meaning>,
}

impl Tag {
    /// Registers (or bits, in a bit table) the tag spans.
    pub fn width(&self) -> u16 {
        if self.table.is_bits() || self.bit.is_some() {
            1
        } else {
            self.data_type.registers()
        }
    }
}

/// Which count a counter tag holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    Good,
    Scrap,
}

/// What a tag means to the processor.
#[derive(Debug, Clone, PartialEq)]
pub enum Meaning {
    /// A part counter of a station: its increases become production-reported events.
    Counter {
        station: Option<String>,
        counts: Counts,
        /// Width of the counter in the PLC: it rolls over at `2^bits`.
        bits: u32,
        /// The largest increase believed between two reads; a larger jump is reported as a
        /// device fault and not counted.
        max_step: u64,
    },
    /// A machine-state register: codes mapped to states (with reason codes).
    State {
        station: Option<String>,
        codes: BTreeMap<i64, StateCode>,
    },
    /// An analog value: a measurement for SPC.
    Measurement {
        station: Option<String>,
        characteristic: String,
        unit: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateCode {
    pub state: MachineState,
    pub reason: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The shape in the file.

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModbus {
    device: String,
    /// `host:port`; the port defaults to 502. Either this or `serial`.
    #[serde(default)]
    host: Option<String>,
    /// A serial port (Modbus RTU). Either this or `host`.
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    baud: Option<i64>,
    #[serde(default)]
    parity: Option<String>,
    #[serde(default)]
    data_bits: Option<i64>,
    #[serde(default)]
    stop_bits: Option<i64>,
    #[serde(default = "default_unit")]
    unit: i64,
    #[serde(default = "default_timeout", with = "protocol::duration")]
    timeout: Duration,
    #[serde(default)]
    station: Option<String>,
    #[serde(default)]
    byte_order: Option<String>,
    /// 0 or 1: whether `holding:0` or `holding:1` is the first register. Modicon addresses
    /// (`400001`) are always 1-based.
    #[serde(default)]
    address_base: Option<i64>,
    /// Interval of the default poll group.
    #[serde(default = "default_interval", with = "protocol::duration")]
    interval: Duration,
    #[serde(default = "default_max_gap_registers")]
    max_gap_registers: i64,
    #[serde(default = "default_max_gap_bits")]
    max_gap_bits: i64,
    #[serde(default = "default_backoff_min", with = "protocol::duration")]
    backoff_min: Duration,
    #[serde(default = "default_backoff_max", with = "protocol::duration")]
    backoff_max: Duration,
    #[serde(default = "default_fault_interval", with = "protocol::duration")]
    fault_interval: Duration,
    #[serde(default)]
    groups: Vec<RawGroup>,
    #[serde(default)]
    tags: Vec<RawTag>,
    #[serde(default)]
    write: Vec<RawWrite>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWrite {
    parameter: String,
    address: RawAddress,
    #[serde(default, rename = "type")]
    data_type: Option<String>,
    #[serde(default)]
    length: Option<i64>,
    #[serde(default)]
    byte_order: Option<String>,
}

fn default_unit() -> i64 {
    1
}
fn default_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_max_gap_registers() -> i64 {
    8
}
fn default_max_gap_bits() -> i64 {
    64
}
fn default_backoff_min() -> Duration {
    Duration::from_millis(500)
}
fn default_backoff_max() -> Duration {
    Duration::from_secs(30)
}
fn default_fault_interval() -> Duration {
    Duration::from_secs(60)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    #[serde(with = "protocol::duration")]
    interval: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum RawAddress {
    Number(i64),
    Text(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTag {
    name: String,
    address: RawAddress,
    #[serde(default, rename = "type")]
    data_type: Option<String>,
    /// Registers the tag spans, as the PLC's documentation states it; checked against the type.
    #[serde(default)]
    registers: Option<i64>,
    /// Characters of a string tag.
    #[serde(default)]
    length: Option<i64>,
    #[serde(default)]
    byte_order: Option<String>,
    #[serde(default)]
    scale: Option<f64>,
    #[serde(default)]
    offset: Option<f64>,
    #[serde(default)]
    deadband: Option<f64>,
    #[serde(default)]
    report: Option<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    station: Option<String>,
    #[serde(default)]
    counts: Option<String>,
    #[serde(default)]
    max_step: Option<i64>,
    #[serde(default)]
    states: Option<BTreeMap<String, String>>,
    #[serde(default)]
    characteristic: Option<String>,
    #[serde(default)]
    unit: Option<String>,
}

impl From<RawModbus> for ModbusConfig {
    fn from(raw: RawModbus) -> ModbusConfig {
        ModbusConfig {
            validated: validate(raw),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Addresses

/// Parses a tag address: Modicon (`400001`, `40001`, `300001`, `000001`, `100001`, with
/// `.bit` for a bit in a register: `400010.3`) or explicit (`holding:0`, `input:0`, `coil:0`,
/// `discrete:0`), whose first address is `base` (0 or 1). Returns the table, the protocol
/// address (0-based) and the bit.
pub fn parse_address(text: &str, base: u16) -> Result<(Table, u16, Option<u8>), String> {
    let text = text.trim();
    let (main, bit) = match text.rsplit_once('.') {
        Some((main, bit)) => {
            let bit: u8 = bit
                .parse()
                .ok()
                .filter(|b| *b <= 15)
                .ok_or_else(|| format!("bit {bit:?} in address {text:?}; expected 0 to 15"))?;
            (main, Some(bit))
        }
        None => (text, None),
    };
    let (table, address) = if let Some((table, number)) = main.split_once(':') {
        let table = match table.trim().to_ascii_lowercase().as_str() {
            "holding" | "hr" => Table::HoldingRegisters,
            "input" | "ir" => Table::InputRegisters,
            "coil" | "co" => Table::Coils,
            "discrete" | "di" => Table::DiscreteInputs,
            other => {
                return Err(format!(
                    "unknown table {other:?} in address {text:?}; expected holding, input, coil or discrete"
                ));
            }
        };
        let n: u32 = number
            .trim()
            .parse()
            .map_err(|_| format!("address {text:?} has no number after the table"))?;
        let base = u32::from(base);
        if n < base || n - base > 65535 {
            return Err(format!(
                "address {text:?} out of range; expected {} to {} (address_base = {base})",
                base,
                65535 + base
            ));
        }
        (table, (n - base) as u16)
    } else {
        if !main.chars().all(|c| c.is_ascii_digit()) || !(5..=6).contains(&main.len()) {
            return Err(format!(
                "address {text:?} is neither Modicon (400001, 300001, 000001, 100001) nor explicit (holding:0)"
            ));
        }
        let table = match main.as_bytes()[0] {
            b'0' => Table::Coils,
            b'1' => Table::DiscreteInputs,
            b'3' => Table::InputRegisters,
            b'4' => Table::HoldingRegisters,
            _ => {
                return Err(format!(
                    "address {text:?}: a Modicon address starts with 0 (coil), 1 (discrete input), 3 (input register) or 4 (holding register)"
                ));
            }
        };
        let n: u32 = main[1..].parse().unwrap_or(0);
        let last = if main.len() == 5 { 9999 } else { 65536 };
        if n == 0 || n > last {
            return Err(format!(
                "address {text:?} out of range; expected {d}{first} to {d}{last}",
                d = &main[..1],
                first = if main.len() == 5 { "0001" } else { "00001" },
            ));
        }
        (table, (n - 1) as u16)
    };
    if bit.is_some() && table.is_bits() {
        return Err(format!(
            "address {text:?}: a {} is a single bit already; a .bit suffix is for registers",
            table.name()
        ));
    }
    Ok((table, address, bit))
}

/// The address as a plant engineer reads it (Modicon, 6 digits).
pub fn modicon(table: Table, address: u16, bit: Option<u8>) -> String {
    let digit = match table {
        Table::Coils => 0,
        Table::DiscreteInputs => 1,
        Table::InputRegisters => 3,
        Table::HoldingRegisters => 4,
    };
    let n = u32::from(address) + 1;
    match bit {
        Some(b) => format!("{digit}{n:05}.{b}"),
        None => format!("{digit}{n:05}"),
    }
}

fn parse_state_code(text: &str) -> Option<StateCode> {
    let (state, reason) = match text.split_once(':') {
        Some((s, r)) => (
            s.trim(),
            Some(r.trim().to_owned()).filter(|r| !r.is_empty()),
        ),
        None => (text.trim(), None),
    };
    let state = match state {
        "running" => MachineState::Running,
        "idle" => MachineState::Idle,
        "down" => MachineState::Down,
        "setup" => MachineState::Setup,
        "off" => MachineState::Off,
        _ => return None,
    };
    Some(StateCode { state, reason })
}

// ---------------------------------------------------------------------------------------------
// Validation

struct Mistakes(Vec<PathMistake>);

impl Mistakes {
    fn at(&mut self, path: Vec<PathSeg>, message: String) {
        self.0.push(PathMistake { path, message });
    }
}

fn key(k: &'static str) -> Vec<PathSeg> {
    vec![PathSeg::Key(k)]
}

fn tag_key(i: usize, k: &'static str) -> Vec<PathSeg> {
    vec![PathSeg::Key("tags"), PathSeg::Index(i), PathSeg::Key(k)]
}

fn in_range(m: &mut Mistakes, path: Vec<PathSeg>, name: &str, v: i64, lo: i64, hi: i64) -> i64 {
    if v < lo || v > hi {
        m.at(path, format!("{name} is {v}; expected {lo} to {hi}"));
        lo
    } else {
        v
    }
}

fn validate(raw: RawModbus) -> Result<ModbusDevice, Vec<PathMistake>> {
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

fn write_key(i: usize, k: &'static str) -> Vec<PathSeg> {
    vec![PathSeg::Key("write"), PathSeg::Index(i), PathSeg::Key(k)]
}

/// `[[sources.write]]`: holding registers only, a known type, no parameter twice, no two
/// targets sharing a register, within the table.
fn validate_writes(
    m: &mut Mistakes,
    raw: &[RawWrite],
    base: u16,
    device_order: ByteOrder,
) -> Vec<WriteTarget> {
    let mut out: Vec<WriteTarget> = Vec::new();
    // (start, end exclusive, index) of each valid target, for the overlap check.
    let mut spans: Vec<(u32, u32, usize)> = Vec::new();
    for (i, w) in raw.iter().enumerate() {
        let n_before = m.0.len();
        let name = w.parameter.trim();
        if name.is_empty() {
            m.at(
                write_key(i, "parameter"),
                "write parameter is empty".to_owned(),
            );
        } else if out.iter().any(|t| t.parameter == name) {
            m.at(
                write_key(i, "parameter"),
                format!("write parameter {name:?} is configured twice"),
            );
        }
        let text = match &w.address {
            RawAddress::Number(n) => format!("{n:05}"),
            RawAddress::Text(s) => s.clone(),
        };
        let address = match parse_address(&text, base) {
            Ok((Table::HoldingRegisters, a, None)) => a,
            Ok((table, _, bit)) => {
                let what = if bit.is_some() {
                    "a bit of a register".to_owned()
                } else {
                    format!("in the {} table", table.name())
                };
                m.at(
                    write_key(i, "address"),
                    format!(
                        "write {name:?}: {text} is {what}; only whole holding registers (4xxxxx) are written"
                    ),
                );
                0
            }
            Err(e) => {
                m.at(write_key(i, "address"), format!("write {name:?}: {e}"));
                0
            }
        };
        let chars = match w.length {
            None => 0,
            Some(n) if (1..=2 * i64::from(MAX_WRITE_REGISTERS)).contains(&n) => n as u16,
            Some(n) => {
                m.at(
                    write_key(i, "length"),
                    format!(
                        "write {name:?}: length is {n}; expected 1 to {}",
                        2 * MAX_WRITE_REGISTERS
                    ),
                );
                1
            }
        };
        let type_name = w.data_type.as_deref().unwrap_or("u16").trim();
        let data_type = match DataType::parse(&type_name.to_ascii_lowercase(), chars) {
            Some(DataType::Bool) | None => {
                m.at(
                    write_key(i, "type"),
                    format!(
                        "write {name:?}: type {type_name:?} cannot be written; expected i16, u16, i32, u32, i64, u64, f32, f64 or string"
                    ),
                );
                DataType::U16
            }
            Some(d) => d,
        };
        let is_string = matches!(data_type, DataType::String { .. });
        if is_string && w.length.is_none() {
            m.at(
                write_key(i, "type"),
                format!("write {name:?}: a string needs its length in characters (length = 14)"),
            );
        }
        if w.length.is_some() && !is_string {
            m.at(
                write_key(i, "length"),
                format!("write {name:?}: length is only for type = \"string\""),
            );
        }
        let order = match &w.byte_order {
            None => device_order,
            Some(o) => ByteOrder::parse(o).unwrap_or_else(|| {
                m.at(
                    write_key(i, "byte_order"),
                    format!("write {name:?}: byte_order {o:?} is unknown; expected ABCD, CDAB, BADC or DCBA"),
                );
                device_order
            }),
        };
        let start = u32::from(address);
        let end = start + u32::from(data_type.registers());
        if end > 65_536 {
            m.at(
                write_key(i, "address"),
                format!(
                    "write {name:?}: {} registers from {text} run past the last register",
                    data_type.registers()
                ),
            );
        }
        if m.0.len() != n_before {
            continue;
        }
        if let Some((_, _, j)) = spans.iter().find(|(s, e, _)| start < *e && *s < end) {
            m.at(
                write_key(i, "address"),
                format!(
                    "write {name:?} at {text} overlaps write {:?}",
                    raw[*j].parameter.trim()
                ),
            );
            continue;
        }
        spans.push((start, end, i));
        out.push(WriteTarget {
            parameter: name.to_owned(),
            address,
            data_type,
            order,
        });
    }
    out
}

/// Whether the build can open serial ports (the `rtu` cargo feature).
pub const SERIAL_SUPPORT: bool = cfg!(feature = "rtu");

/// `host` (Modbus TCP) or `serial` and its line settings (Modbus RTU): exactly one of the two.
fn validate_link(m: &mut Mistakes, raw: &RawModbus, device: &str) -> (String, Option<SerialLine>) {
    let serial_only = [
        ("baud", raw.baud.is_some()),
        ("parity", raw.parity.is_some()),
        ("data_bits", raw.data_bits.is_some()),
        ("stop_bits", raw.stop_bits.is_some()),
    ];
    let path = match (&raw.host, &raw.serial) {
        (Some(host), None) => {
            for (field, set) in serial_only {
                if set {
                    m.at(
                        key(field),
                        format!(
                            "{field} is only for a serial device (serial = \"/dev/ttyUSB0\"), not one at host {host:?}"
                        ),
                    );
                }
            }
            let host = normalise_host(host).unwrap_or_else(|e| {
                m.at(key("host"), e);
                String::new()
            });
            return (host, None);
        }
        (None, None) => {
            m.at(
                key("device"),
                format!(
                    "device {device:?} has neither host (Modbus TCP: host = \"10.0.0.5:502\") nor serial (Modbus RTU: serial = \"/dev/ttyUSB0\"); expected one of them"
                ),
            );
            return (String::new(), None);
        }
        (Some(_), Some(_)) => {
            m.at(
                key("serial"),
                format!(
                    "device {device:?} has both host and serial; a device is either at a host (Modbus TCP) or on a serial line (Modbus RTU), so give one of them"
                ),
            );
            return (String::new(), None);
        }
        (None, Some(path)) => path.trim().to_owned(),
    };
    if path.is_empty() {
        m.at(
            key("serial"),
            "serial is empty; expected the port's path, e.g. \"/dev/ttyUSB0\" or \"COM3\""
                .to_owned(),
        );
    } else if !SERIAL_SUPPORT {
        m.at(
            key("serial"),
            format!(
                "device {device:?} is on serial port {path:?}, but this build has no serial support; build with --features rtu"
            ),
        );
    }
    let baud = match raw.baud {
        None => 19_200,
        Some(b) if (50..=4_000_000).contains(&b) => b as u32,
        Some(b) => {
            m.at(
                key("baud"),
                format!(
                    "baud is {b}; expected a rate such as 9600, 19200 or 115200 (50 to 4000000)"
                ),
            );
            19_200
        }
    };
    let parity = match &raw.parity {
        None => Parity::Even,
        Some(p) => Parity::parse(p).unwrap_or_else(|| {
            m.at(
                key("parity"),
                format!("parity {p:?} is unknown; expected even, odd or none"),
            );
            Parity::Even
        }),
    };
    let data_bits = match raw.data_bits {
        None | Some(8) => 8,
        Some(n) => {
            m.at(
                key("data_bits"),
                format!(
                    "data_bits is {n}; Modbus RTU sends 8 data bits (7 is Modbus ASCII, which is not supported)"
                ),
            );
            8
        }
    };
    let stop_bits = match raw.stop_bits {
        None | Some(1) => 1,
        Some(2) => 2,
        Some(n) => {
            m.at(
                key("stop_bits"),
                format!("stop_bits is {n}; expected 1 or 2 (2 when parity = \"none\", as the Modbus specification asks)"),
            );
            1
        }
    };
    (
        path.clone(),
        Some(SerialLine {
            path,
            baud,
            parity,
            data_bits,
            stop_bits,
        }),
    )
}

fn normalise_host(host: &str) -> Result<String, String> {
    let h = host.trim();
    if h.is_empty() {
        return Err("host is empty; expected host:port, e.g. \"10.0.0.5:502\"".to_owned());
    }
    if h.parse::<std::net::SocketAddr>().is_ok() {
        return Ok(h.to_owned());
    }
    if h.parse::<std::net::IpAddr>().is_ok() {
        return Ok(if h.contains(':') {
            format!("[{h}]:502")
        } else {
            format!("{h}:502")
        });
    }
    match h.rsplit_once(':') {
        Some((name, port)) => {
            if name.is_empty() || port.parse::<u16>().is_err() {
                Err(format!(
                    "host {host:?} is not host:port; expected e.g. \"plc-1.local:502\""
                ))
            } else {
                Ok(h.to_owned())
            }
        }
        None => Ok(format!("{h}:502")),
    }
}

fn validate_tag(
    m: &mut Mistakes,
    i: usize,
    t: &RawTag,
    base: u16,
    device_order: ByteOrder,
    device_station: Option<&str>,
) -> Option<Tag> {
    let n_before = m.0.len();
    let name = t.name.trim();
    if name.is_empty() {
        m.at(tag_key(i, "name"), "tag name is empty".to_owned());
    }
    let text = match &t.address {
        RawAddress::Number(n) => format!("{n:05}"),
        RawAddress::Text(s) => s.clone(),
    };
    let (table, address, bit) = match parse_address(&text, base) {
        Ok(a) => a,
        Err(e) => {
            m.at(tag_key(i, "address"), format!("tag {name:?}: {e}"));
            (Table::HoldingRegisters, 0, None)
        }
    };
    let chars = match t.length {
        None => 0,
        Some(n) if (1..=2 * i64::from(MAX_READ_REGISTERS)).contains(&n) => n as u16,
        Some(n) => {
            m.at(
                tag_key(i, "length"),
                format!(
                    "tag {name:?}: length is {n}; expected 1 to {}",
                    2 * MAX_READ_REGISTERS
                ),
            );
            1
        }
    };
    let default_type = if table.is_bits() || bit.is_some() {
        "bool"
    } else {
        "u16"
    };
    let type_name = t.data_type.as_deref().unwrap_or(default_type).trim();
    let data_type = match DataType::parse(&type_name.to_ascii_lowercase(), chars) {
        Some(d) => d,
        None => {
            m.at(
                tag_key(i, "type"),
                format!(
                    "tag {name:?}: unknown type {type_name:?}; expected one of {}",
                    DataType::NAMES
                ),
            );
            DataType::U16
        }
    };
    if matches!(data_type, DataType::String { .. }) && t.length.is_none() {
        m.at(
            tag_key(i, "type"),
            format!("tag {name:?}: a string needs its length in characters (length = 20)"),
        );
    }
    if t.length.is_some() && !matches!(data_type, DataType::String { .. }) {
        m.at(
            tag_key(i, "length"),
            format!("tag {name:?}: length is only for type = \"string\""),
        );
    }
    // Single-bit places hold only a bool.
    let single_bit = if table.is_bits() {
        Some(format!("{} {text}", table.name()))
    } else {
        bit.map(|_| format!("bit address {text}"))
    };
    if let Some(place) = &single_bit
        && data_type != DataType::Bool
    {
        m.at(
            tag_key(i, "type"),
            format!(
                "tag {name:?}: {place} is a single bit; type {} needs {} register{}",
                data_type.name(),
                data_type.registers(),
                if data_type.registers() == 1 { "" } else { "s" }
            ),
        );
    }
    if let Some(n) = t.registers {
        let needs = if single_bit.is_some() {
            1
        } else {
            i64::from(data_type.registers())
        };
        if n != needs {
            m.at(
                tag_key(i, "registers"),
                format!(
                    "tag {name:?}: type {} takes {needs} register{}, but registers = {n}",
                    data_type.name(),
                    if needs == 1 { "" } else { "s" }
                ),
            );
        }
    }
    let width = if single_bit.is_some() {
        1
    } else {
        data_type.registers()
    };
    if width > MAX_READ_REGISTERS {
        m.at(
            tag_key(i, "length"),
            format!(
                "tag {name:?} spans {width} registers; at most {MAX_READ_REGISTERS} fit in one read"
            ),
        );
    } else if u32::from(address) + u32::from(width) > 65536 {
        m.at(
            tag_key(i, "address"),
            format!(
                "tag {name:?}: address {text} out of range: its {width} registers run past the last address of the table"
            ),
        );
    }
    let order = match &t.byte_order {
        None => device_order,
        Some(o) => ByteOrder::parse(o).unwrap_or_else(|| {
            m.at(
                tag_key(i, "byte_order"),
                format!(
                    "tag {name:?}: byte_order {o:?} is unknown; expected ABCD, CDAB, BADC or DCBA"
                ),
            );
            device_order
        }),
    };
    for (field, v) in [
        ("scale", t.scale),
        ("offset", t.offset),
        ("deadband", t.deadband),
    ] {
        if let Some(v) = v {
            if !data_type.is_numeric() {
                m.at(
                    tag_key(i, field),
                    format!(
                        "tag {name:?}: {field} needs a numeric type, not {}",
                        data_type.name()
                    ),
                );
            } else if !v.is_finite()
                || (field == "deadband" && v < 0.0)
                || (field == "scale" && v == 0.0)
            {
                m.at(
                    tag_key(i, field),
                    format!("tag {name:?}: {field} = {v} is not usable"),
                );
            }
        }
    }
    let report = match t.report.as_deref() {
        None | Some("on_change") => Report::OnChange,
        Some("every_poll") => Report::EveryPoll,
        Some(other) => {
            m.at(
                tag_key(i, "report"),
                format!(
                    "tag {name:?}: report {other:?} is unknown; expected on_change or every_poll"
                ),
            );
            Report::OnChange
        }
    };

    let station = t
        .station
        .clone()
        .or_else(|| device_station.map(str::to_owned));
    let role = t.role.as_deref();
    let only_for = |m: &mut Mistakes, field: &'static str, set: bool, for_role: &str| {
        if set && role != Some(for_role) {
            m.at(
                tag_key(i, field),
                format!("tag {name:?}: {field} is only for role = \"{for_role}\""),
            );
        }
    };
    only_for(m, "counts", t.counts.is_some(), "counter");
    only_for(m, "max_step", t.max_step.is_some(), "counter");
    only_for(m, "states", t.states.is_some(), "state");
    only_for(
        m,
        "characteristic",
        t.characteristic.is_some(),
        "measurement",
    );
    only_for(m, "unit", t.unit.is_some(), "measurement");
    let meaning = match role {
        None => None,
        Some("counter") => {
            let bits = data_type.integer_bits();
            if bits.is_none() || t.scale.is_some() || t.offset.is_some() || t.deadband.is_some() {
                m.at(
                    tag_key(i, "role"),
                    format!(
                        "tag {name:?}: a counter is a plain integer (i16 to u64) without scale, offset or deadband"
                    ),
                );
            }
            let bits = bits.unwrap_or(16);
            let counts = match t.counts.as_deref() {
                None | Some("good") => Counts::Good,
                Some("scrap") => Counts::Scrap,
                Some(other) => {
                    m.at(
                        tag_key(i, "counts"),
                        format!(
                            "tag {name:?}: counts {other:?} is unknown; expected good or scrap"
                        ),
                    );
                    Counts::Good
                }
            };
            let half = if bits >= 64 {
                u64::MAX / 2
            } else {
                1u64 << (bits - 1)
            };
            let max_step = match t.max_step {
                None => half.min(1_000_000),
                Some(s) if s >= 1 && (s as u64) <= half => s as u64,
                Some(s) => {
                    m.at(
                        tag_key(i, "max_step"),
                        format!("tag {name:?}: max_step is {s}; expected 1 to {half} (half the counter's range)"),
                    );
                    1
                }
            };
            Some(Meaning::Counter {
                station,
                counts,
                bits,
                max_step,
            })
        }
        Some("state") => {
            if !(data_type.integer_bits().is_some() || data_type == DataType::Bool)
                || t.scale.is_some()
                || t.offset.is_some()
            {
                m.at(
                    tag_key(i, "role"),
                    format!("tag {name:?}: a state is an integer code or a bool, without scale or offset"),
                );
            }
            let mut codes = BTreeMap::new();
            match &t.states {
                None => m.at(
                    tag_key(i, "role"),
                    format!(
                        "tag {name:?}: a state tag needs its codes: states = {{ 0 = \"off\", 1 = \"running\", 3 = \"down: jam\" }}"
                    ),
                ),
                Some(states) => {
                    for (code, meaning) in states {
                        let code_n = code.trim().parse::<i64>();
                        let parsed = parse_state_code(meaning);
                        match (code_n, parsed) {
                            (Ok(c), Some(s)) => {
                                codes.insert(c, s);
                            }
                            (Err(_), _) => m.at(
                                tag_key(i, "states"),
                                format!("tag {name:?}: state code {code:?} is not an integer"),
                            ),
                            (_, None) => m.at(
                                tag_key(i, "states"),
                                format!(
                                    "tag {name:?}: state {meaning:?} for code {code} is unknown; expected running, idle, down, setup or off, optionally with \": reason\""
                                ),
                            ),
                        }
                    }
                }
            }
            Some(Meaning::State { station, codes })
        }
        Some("measurement") => {
            if !data_type.is_numeric() {
                m.at(
                    tag_key(i, "role"),
                    format!(
                        "tag {name:?}: a measurement needs a numeric type, not {}",
                        data_type.name()
                    ),
                );
            }
            let characteristic = t.characteristic.clone().unwrap_or_default();
            if characteristic.trim().is_empty() {
                m.at(
                    tag_key(i, "role"),
                    format!("tag {name:?}: a measurement needs its characteristic (characteristic = \"hole-diameter\")"),
                );
            }
            Some(Meaning::Measurement {
                station,
                characteristic,
                unit: t.unit.clone().unwrap_or_default(),
            })
        }
        Some(other) => {
            m.at(
                tag_key(i, "role"),
                format!("tag {name:?}: role {other:?} is unknown; expected counter, state or measurement"),
            );
            None
        }
    };
    (m.0.len() == n_before).then(|| Tag {
        name: name.to_owned(),
        table,
        address,
        bit,
        data_type,
        order,
        scale: t.scale,
        offset: t.offset,
        deadband: t.deadband,
        report,
        meaning,
    })
}

/// Two tags overlap when they share a register (or bit), except that bits of a register may be
/// read alongside the whole register (a status word and its bits); the same bit twice overlaps.
fn overlaps(m: &mut Mistakes, spans: &mut [(Table, u32, u32, Option<u8>, usize)], tags: &[RawTag]) {
    spans.sort_by_key(|s| (s.0, s.1, s.4));
    let mut reported = BTreeSet::new();
    for a in 0..spans.len() {
        for b in a + 1..spans.len() {
            let (ta, sa, ea, bita, ia) = spans[a];
            let (tb, sb, eb, bitb, ib) = spans[b];
            if tb != ta || sb >= ea {
                break;
            }
            let clash = match (bita, bitb) {
                (Some(x), Some(y)) => x == y && sa == sb,
                (None, None) => true,
                _ => false,
            };
            let later = ia.max(ib);
            let earlier = ia.min(ib);
            if clash && reported.insert(later) {
                m.at(
                    tag_key(later, "address"),
                    format!(
                        "tag {:?} ({}, {} register{}) overlaps tag {:?} ({}, {} register{})",
                        tags[later].name,
                        modicon(
                            ta,
                            (if later == ia { sa } else { sb }) as u16,
                            if later == ia { bita } else { bitb }
                        ),
                        if later == ia { ea - sa } else { eb - sb },
                        if (if later == ia { ea - sa } else { eb - sb }) == 1 {
                            ""
                        } else {
                            "s"
                        },
                        tags[earlier].name,
                        modicon(
                            ta,
                            (if earlier == ia { sa } else { sb }) as u16,
                            if earlier == ia { bita } else { bitb }
                        ),
                        if earlier == ia { ea - sa } else { eb - sb },
                        if (if earlier == ia { ea - sa } else { eb - sb }) == 1 {
                            ""
                        } else {
                            "s"
                        },
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modicon_and_explicit_addresses() {
        let h = Table::HoldingRegisters;
        assert_eq!(parse_address("400001", 0), Ok((h, 0, None)));
        assert_eq!(parse_address("40001", 0), Ok((h, 0, None)));
        assert_eq!(parse_address("465536", 0), Ok((h, 65535, None)));
        assert_eq!(parse_address("400010.3", 0), Ok((h, 9, Some(3))));
        assert_eq!(
            parse_address("300002", 0),
            Ok((Table::InputRegisters, 1, None))
        );
        assert_eq!(parse_address("000001", 0), Ok((Table::Coils, 0, None)));
        assert_eq!(parse_address("00001", 0), Ok((Table::Coils, 0, None)));
        assert_eq!(
            parse_address("100017", 0),
            Ok((Table::DiscreteInputs, 16, None))
        );
        assert_eq!(parse_address("holding:0", 0), Ok((h, 0, None)));
        assert_eq!(parse_address("holding:1", 1), Ok((h, 0, None)));
        assert_eq!(
            parse_address("input:65535", 0),
            Ok((Table::InputRegisters, 65535, None))
        );
        assert_eq!(parse_address("coil:7", 0), Ok((Table::Coils, 7, None)));
        assert_eq!(parse_address("holding:4.15", 0), Ok((h, 4, Some(15))));
        for bad in [
            "400000",
            "465537",
            "40000",
            "200001",
            "4000001",
            "holding:65536",
            "holding:0",
            "bogus:1",
            "400001.16",
            "000001.2",
            "",
            "4x0001",
        ] {
            let base = if bad == "holding:0" { 1 } else { 0 };
            assert!(parse_address(bad, base).is_err(), "{bad} should be refused");
        }
        assert!(
            parse_address("400000", 0)
                .unwrap_err()
                .contains("out of range")
        );
    }

    #[test]
    fn modicon_round_trip() {
        assert_eq!(modicon(Table::HoldingRegisters, 0, None), "400001");
        assert_eq!(modicon(Table::InputRegisters, 9, Some(3)), "300010.3");
        assert_eq!(modicon(Table::Coils, 65535, None), "065536");
    }

    #[test]
    fn state_codes() {
        assert_eq!(
            parse_state_code("down: jam"),
            Some(StateCode {
                state: MachineState::Down,
                reason: Some("jam".into())
            })
        );
        assert_eq!(
            parse_state_code("running"),
            Some(StateCode {
                state: MachineState::Running,
                reason: None
            })
        );
        assert_eq!(parse_state_code("asleep"), None);
    }

    #[test]
    fn hosts_get_the_modbus_port() {
        assert_eq!(normalise_host("10.0.0.5").unwrap(), "10.0.0.5:502");
        assert_eq!(normalise_host("10.0.0.5:1502").unwrap(), "10.0.0.5:1502");
        assert_eq!(normalise_host("plc-1.local").unwrap(), "plc-1.local:502");
        assert_eq!(normalise_host("::1").unwrap(), "[::1]:502");
        assert!(normalise_host("plc:x").is_err());
        assert!(normalise_host("").is_err());
    }

    const HEAD: &str = r#"edge_id = "line-1"
[central]
url = "http://127.0.0.1:8080"
token = "t"
"#;

    /// The mistakes `EdgeConfig::from_toml_str` reports for `HEAD` + `sources`, as lines.
    fn mistakes(sources: &str) -> Vec<String> {
        match crate::config::EdgeConfig::from_toml_str(&format!("{HEAD}{sources}")) {
            Ok(_) => Vec::new(),
            Err(e) => e.mistakes().iter().map(|m| m.to_string()).collect(),
        }
    }

    fn device(sources: &str) -> ModbusDevice {
        let config = crate::config::EdgeConfig::from_toml_str(&format!("{HEAD}{sources}"))
            .unwrap_or_else(|e| panic!("{e}"));
        match &config.sources[0] {
            crate::config::SourceConfig::Modbus(m) => m.device().unwrap().clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_full_device_is_read_as_written() {
        let d = device(
            r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1:5020"
unit = 3
timeout = "250ms"
station = "st-10"
byte_order = "CDAB"
address_base = 1
interval = "500ms"

[[sources.groups]]
name = "fast"
interval = "100ms"

[[sources.tags]]
name = "good"
address = "400001"
role = "counter"
group = "fast"

[[sources.tags]]
name = "total"
address = "holding:11"
type = "u32"
byte_order = "ABCD"
role = "counter"
counts = "scrap"
max_step = 500

[[sources.tags]]
name = "state"
address = 400003
role = "state"
states = { 0 = "off", 1 = "running", 3 = "down: jam" }

[[sources.tags]]
name = "diameter"
address = "300001"
type = "f32"
scale = 0.5
deadband = 0.01
role = "measurement"
characteristic = "hole-diameter"
unit = "mm"
station = "st-20"

[[sources.tags]]
name = "door"
address = "400010.3"

[[sources.tags]]
name = "recipe"
address = "holding:30"
type = "string"
length = 8
report = "every_poll"
"#,
        );
        assert_eq!(d.device, "press-1");
        assert_eq!(d.unit, 3);
        assert_eq!(d.timeout, Duration::from_millis(250));
        assert_eq!(d.groups.len(), 2);
        let default = &d.groups[0];
        assert_eq!(default.interval, Duration::from_millis(500));
        let fast = &d.groups[1];
        assert_eq!(
            (fast.name.as_str(), fast.interval),
            ("fast", Duration::from_millis(100))
        );
        assert_eq!(fast.tags[0].data_type, DataType::U16);
        assert_eq!(fast.tags[0].order, ByteOrder::Cdab);
        assert_eq!(
            fast.tags[0].meaning,
            Some(Meaning::Counter {
                station: Some("st-10".into()),
                counts: Counts::Good,
                bits: 16,
                max_step: 32768
            })
        );
        let by_name = |n: &str| default.tags.iter().find(|t| t.name == n).unwrap();
        let total = by_name("total");
        assert_eq!((total.address, total.order), (10, ByteOrder::Abcd));
        assert!(matches!(
            total.meaning,
            Some(Meaning::Counter {
                bits: 32,
                max_step: 500,
                counts: Counts::Scrap,
                ..
            })
        ));
        let Some(Meaning::State { codes, .. }) = &by_name("state").meaning else {
            panic!()
        };
        assert_eq!(codes[&3].reason.as_deref(), Some("jam"));
        let diameter = by_name("diameter");
        assert_eq!(diameter.table, Table::InputRegisters);
        assert!(
            matches!(&diameter.meaning, Some(Meaning::Measurement { station: Some(s), .. }) if s == "st-20")
        );
        let door = by_name("door");
        assert_eq!(
            (door.data_type, door.bit, door.address),
            (DataType::Bool, Some(3), 9)
        );
        let recipe = by_name("recipe");
        assert_eq!(recipe.data_type, DataType::String { chars: 8 });
        assert_eq!(recipe.width(), 4);
        assert_eq!(recipe.report, Report::EveryPoll);
    }

    #[test]
    fn register_map_mistakes_are_each_reported_with_their_line() {
        let m = mistakes(
            r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1:5020"

[[sources.tags]]
name = "a"
address = "400001"
type = "u32"

[[sources.tags]]
name = "b"
address = "400002"

[[sources.tags]]
name = "c"
address = "400005"
type = "u32"
registers = 1

[[sources.tags]]
name = "d"
address = "465537"

[[sources.tags]]
name = "e"
address = "400020"
type = "u17"

[[sources.tags]]
name = "f"
address = "465536"
type = "f32"

[[sources.tags]]
name = "g"
address = "400030.2"
type = "i32"
"#,
        );
        assert_eq!(
            m,
            vec![
                "line 23: tag \"c\": type u32 takes 2 registers, but registers = 1",
                "line 27: tag \"d\": address \"465537\" out of range; expected 400001 to 465536",
                "line 32: tag \"e\": unknown type \"u17\"; expected one of bool, i16, u16, i32, u32, i64, u64, f32, f64, string",
                "line 36: tag \"f\": address 465536 out of range: its 2 registers run past the last address of the table",
                "line 42: tag \"g\": bit address 400030.2 is a single bit; type i32 needs 2 registers",
                "line 17: tag \"b\" (400002, 1 register) overlaps tag \"a\" (400001, 2 registers)",
            ]
        );
    }

    #[test]
    fn device_and_meaning_mistakes_are_reported_too() {
        let m = mistakes(
            r#"[[sources]]
type = "modbus"
device = "press 1"
host = "plc:x"
unit = 300
byte_order = "ABDC"

[[sources.tags]]
name = "count"
address = "400001"
type = "f32"
role = "counter"

[[sources.tags]]
name = "state"
address = "400003"
role = "state"
states = { 1 = "sprinting" }

[[sources.tags]]
name = "x"
address = "400004"
role = "telepathy"
group = "nope"
"#,
        );
        assert_eq!(
            m,
            vec![
                "line 7: device \"press 1\" must be non-empty and use only letters, digits, '-', '_' and '.'",
                "line 8: host \"plc:x\" is not host:port; expected e.g. \"plc-1.local:502\"",
                "line 9: unit is 300; expected 0 to 255",
                "line 10: byte_order \"ABDC\" is unknown; expected ABCD, CDAB, BADC or DCBA",
                "line 16: tag \"count\": a counter is a plain integer (i16 to u64) without scale, offset or deadband",
                "line 22: tag \"state\": state \"sprinting\" for code 1 is unknown; expected running, idle, down, setup or off, optionally with \": reason\"",
                "line 27: tag \"x\": role \"telepathy\" is unknown; expected counter, state or measurement",
            ]
        );
    }

    #[test]
    fn write_targets_are_read_and_their_mistakes_reported_with_lines() {
        let d = device(
            r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1"

[[sources.tags]]
name = "a"
address = "400001"

[[sources.write]]
parameter = "target_qty"
address = "400011"
type = "u32"
byte_order = "CDAB"

[[sources.write]]
parameter = "work_order"
address = "holding:13"
type = "string"
length = 14
"#,
        );
        assert_eq!(
            d.writes,
            vec![
                WriteTarget {
                    parameter: "target_qty".into(),
                    address: 10,
                    data_type: DataType::U32,
                    order: ByteOrder::Cdab,
                },
                WriteTarget {
                    parameter: "work_order".into(),
                    address: 13,
                    data_type: DataType::String { chars: 14 },
                    order: ByteOrder::Abcd,
                },
            ]
        );
        let m = mistakes(
            r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1"

[[sources.tags]]
name = "a"
address = "400001"

[[sources.write]]
parameter = "target_qty"
address = "400011"
type = "u32"

[[sources.write]]
parameter = "recipe"
address = "400012"

[[sources.write]]
parameter = "target_qty"
address = "400030"

[[sources.write]]
parameter = "speed"
address = "300001"

[[sources.write]]
parameter = "mode"
address = "400040"
type = "bool"

[[sources.write]]
parameter = "name"
address = "400050"
type = "string"
"#,
        );
        assert_eq!(
            m,
            vec![
                "line 21: write \"recipe\" at 400012 overlaps write \"target_qty\"",
                "line 24: write parameter \"target_qty\" is configured twice",
                "line 29: write \"speed\": 300001 is in the input table; only whole holding registers (4xxxxx) are written",
                "line 34: write \"mode\": type \"bool\" cannot be written; expected i16, u16, i32, u32, i64, u64, f32, f64 or string",
                "line 39: write \"name\": a string needs its length in characters (length = 14)",
            ]
        );
        let m = mistakes(
            r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1"

[[sources.tags]]
name = "a"
address = "400001"

[[sources.write]]
parameter = "x"
address = "400011"
scale = 2
"#,
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("scale") && m[0].starts_with("line "), "{m:?}");
    }

    #[test]
    fn an_unknown_key_in_a_tag_is_refused() {
        let m = mistakes(
            r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1"

[[sources.tags]]
name = "a"
address = "400001"
colour = "red"
"#,
        );
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("colour"), "{m:?}");
        assert!(m[0].starts_with("line "), "{m:?}");
    }

    #[test]
    fn bits_of_a_status_word_may_be_read_with_it_but_not_twice() {
        let m = mistakes(
            r#"[[sources]]
type = "modbus"
device = "press-1"
host = "127.0.0.1"

[[sources.tags]]
name = "status"
address = "400010"

[[sources.tags]]
name = "door"
address = "400010.3"

[[sources.tags]]
name = "door-again"
address = "holding:9.3"
"#,
        );
        assert_eq!(
            m,
            vec![
                "line 20: tag \"door-again\" (400010.3, 1 register) overlaps tag \"door\" (400010.3, 1 register)"
            ]
        );
    }

    /// The raw shape of one source table, as the file gives it.
    fn raw(source: &str) -> RawModbus {
        toml::from_str(source).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn serial_line_settings_are_read_and_defaulted_in_every_build() {
        let mut m = Mistakes(Vec::new());
        let (host, line) = validate_link(
            &mut m,
            &raw("device = \"p\"\nserial = \" /dev/ttyUSB0 \"\n"),
            "p",
        );
        assert_eq!(host, "/dev/ttyUSB0");
        assert_eq!(
            line,
            Some(SerialLine {
                path: "/dev/ttyUSB0".into(),
                baud: 19_200,
                parity: Parity::Even,
                data_bits: 8,
                stop_bits: 1,
            }),
            "19200 8E1 unless told otherwise (even parity is the Modbus default)"
        );
        let no_support: Vec<_> = m.0.iter().map(|x| x.message.as_str()).collect();
        if SERIAL_SUPPORT {
            assert!(no_support.is_empty(), "{no_support:?}");
        } else {
            assert_eq!(no_support.len(), 1, "{no_support:?}");
            assert!(
                no_support[0]
                    .ends_with("this build has no serial support; build with --features rtu"),
                "{no_support:?}"
            );
        }

        let mut m = Mistakes(Vec::new());
        let (_, line) = validate_link(
            &mut m,
            &raw(
                "device = \"p\"\nserial = \"COM3\"\nbaud = 9600\nparity = \"None\"\ndata_bits = 8\nstop_bits = 2\n",
            ),
            "p",
        );
        let line = line.unwrap();
        assert_eq!(line.settings(), "9600 8N2");
        assert_eq!(line.bits_per_char(), 11);
        assert_eq!(m.0.len(), usize::from(!SERIAL_SUPPORT));
    }

    #[test]
    fn the_frame_gap_is_three_and_a_half_characters_up_to_19200_baud() {
        let mut line = SerialLine {
            path: "/dev/ttyS0".into(),
            baud: 19_200,
            parity: Parity::Even,
            data_bits: 8,
            stop_bits: 1,
        };
        // 11 bits a character: 3.5 * 11 / 19200 s.
        assert_eq!(line.frame_gap().as_micros(), 2005);
        line.baud = 9600;
        assert_eq!(line.frame_gap().as_micros(), 4010);
        line.baud = 115_200;
        assert_eq!(line.frame_gap(), Duration::from_micros(1750));
    }

    #[test]
    fn serial_mistakes_are_reported_with_their_lines() {
        let tags = "[[sources.tags]]\nname = \"a\"\naddress = \"400001\"\n";
        let m = mistakes(&format!(
            r#"[[sources]]
type = "modbus"
device = "both"
host = "10.0.0.5"
serial = "/dev/ttyUSB0"
{tags}
[[sources]]
type = "modbus"
device = "neither"
{tags}
[[sources]]
type = "modbus"
device = "bad-line"
serial = "/dev/ttyUSB1"
baud = 0
parity = "mark"
data_bits = 7
stop_bits = 3
unit = 0
{tags}
[[sources]]
type = "modbus"
device = "tcp"
host = "10.0.0.6"
parity = "even"
{tags}"#
        ));
        let (no_support, rest): (Vec<_>, Vec<_>) = m
            .into_iter()
            .partition(|x| x.contains("this build has no serial support"));
        assert_eq!(
            rest,
            vec![
                "line 9: device \"both\" has both host and serial; a device is either at a host (Modbus TCP) or on a serial line (Modbus RTU), so give one of them",
                "line 16: device \"neither\" has neither host (Modbus TCP: host = \"10.0.0.5:502\") nor serial (Modbus RTU: serial = \"/dev/ttyUSB0\"); expected one of them",
                "line 25: baud is 0; expected a rate such as 9600, 19200 or 115200 (50 to 4000000)",
                "line 26: parity \"mark\" is unknown; expected even, odd or none",
                "line 27: data_bits is 7; Modbus RTU sends 8 data bits (7 is Modbus ASCII, which is not supported)",
                "line 28: stop_bits is 3; expected 1 or 2 (2 when parity = \"none\", as the Modbus specification asks)",
                "line 29: unit is 0 on a serial line; expected 1 to 247 (0 is broadcast, which no slave answers; 248 to 255 are reserved)",
                "line 38: parity is only for a serial device (serial = \"/dev/ttyUSB0\"), not one at host \"10.0.0.6\"",
            ]
        );
        if SERIAL_SUPPORT {
            assert!(no_support.is_empty(), "{no_support:?}");
        } else {
            assert_eq!(
                no_support,
                vec![
                    "line 24: device \"bad-line\" is on serial port \"/dev/ttyUSB1\", but this build has no serial support; build with --features rtu"
                ]
            );
        }
    }

    #[test]
    fn devices_on_one_port_share_its_settings_and_not_their_unit_ids() {
        let line = |baud| SerialLine {
            path: "/dev/ttyUSB0".into(),
            baud,
            parity: Parity::Even,
            data_bits: 8,
            stop_bits: 1,
        };
        let on = |name: &str, unit, serial: Option<SerialLine>| ModbusDevice {
            device: name.into(),
            host: "/dev/ttyUSB0".into(),
            serial,
            unit,
            timeout: Duration::from_secs(1),
            station: None,
            max_gap_registers: 8,
            max_gap_bits: 64,
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            fault_interval: Duration::from_secs(60),
            groups: Vec::new(),
            writes: Vec::new(),
        };
        let a = on("a", 1, Some(line(19_200)));
        let b = on("b", 2, Some(line(19_200)));
        let c = on("c", 2, Some(line(19_200)));
        let d = on("d", 3, Some(line(9600)));
        let tcp = on("tcp", 1, None);
        assert!(serial_line_mistakes(&[&a, &b, &tcp]).is_empty());
        let found = serial_line_mistakes(&[&a, &b, &c, &d, &tcp]);
        let found: Vec<(usize, &str)> = found
            .iter()
            .map(|(i, m)| (*i, m.message.as_str()))
            .collect();
        assert_eq!(
            found,
            vec![
                (
                    2,
                    "device \"c\": unit 2 on /dev/ttyUSB0 is already another device's; each slave on a serial line has its own unit id"
                ),
                (
                    3,
                    "device \"d\" uses 9600 8E1 on /dev/ttyUSB0, but device \"a\" on the same port uses 19200 8E1; every device on one port shares its line settings"
                ),
            ]
        );
    }

    /// The RTU example is a commented block in configs/edge-modbus.toml (a default build refuses
    /// serial devices, and every file under configs/ must pass `mes check-config` there). Keep
    /// it honest: uncommented, it parses, and a build without `rtu` says only that.
    #[test]
    fn the_commented_rtu_example_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/edge-modbus.toml");
        let text = std::fs::read_to_string(path).unwrap();
        let start = text
            .find("# --- Modbus RTU")
            .expect("the RTU example block in configs/edge-modbus.toml");
        let block: String = text[start..]
            .lines()
            .skip_while(|l| *l != "# [[sources]]")
            .take_while(|l| !l.starts_with("# ---"))
            .filter_map(|l| l.strip_prefix("# "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert!(block.contains("serial = "), "{block}");
        let m = mistakes(&block);
        if SERIAL_SUPPORT {
            assert!(m.is_empty(), "{m:?}\n{block}");
            let d = device(&block);
            let line = d.serial.as_ref().unwrap();
            assert_eq!(line.settings(), "19200 8E1");
        } else {
            assert!(!m.is_empty());
            assert!(
                m.iter().all(|x| x.contains("no serial support")),
                "{m:?}\n{block}"
            );
        }
    }

    #[test]
    fn two_sources_for_one_device_are_refused() {
        let one = "[[sources]]\ntype = \"modbus\"\ndevice = \"p\"\nhost = \"127.0.0.1\"\n[[sources.tags]]\nname = \"a\"\naddress = \"400001\"\n";
        let m = mistakes(&format!("{one}{one}"));
        assert_eq!(m, vec!["line 14: modbus device \"p\" is configured twice"]);
    }
}
