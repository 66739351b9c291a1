//! `[[sources.write]]`: where a work order's PLC parameters are written, and its mistakes.

use super::*;

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

pub(super) fn write_key(i: usize, k: &'static str) -> Vec<PathSeg> {
    vec![PathSeg::Key("write"), PathSeg::Index(i), PathSeg::Key(k)]
}

/// `[[sources.write]]`: holding registers only, a known type, no parameter twice, no two
/// targets sharing a register, within the table.
pub(super) fn validate_writes(
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
