//! Tags: addresses (Modicon and explicit), tables, types, byte and word orders, what a tag
//! means (counters, states, measurements), poll groups, and the checks of each tag.

use super::*;

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
    pub(super) fn parse(text: &str) -> Option<ByteOrder> {
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

    pub(super) fn parse(text: &str, chars: u16) -> Option<DataType> {
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

pub(super) fn parse_state_code(text: &str) -> Option<StateCode> {
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

pub(super) fn validate_tag(
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
pub(super) fn overlaps(
    m: &mut Mistakes,
    spans: &mut [(Table, u32, u32, Option<u8>, usize)],
    tags: &[RawTag],
) {
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
