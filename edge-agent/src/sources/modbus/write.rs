//! Writing parameters down to a device: each configured target is written with function 16
//! (write multiple registers) and read back with function 3; the job succeeds only when every
//! register reads back as written. The device task runs a job between two polls, on its own
//! connection, so a write never races a read and the reply invariant of `mod.rs` holds.
//!
//! What is written, and when, is decided outside the sources (`processor/writeback.rs`): a job
//! is only named values; the device encodes them as its `[[sources.write]]` targets say, and
//! refuses a value that does not fit (never truncates it).

use super::{Link, ReadData, ReadError, read};
use crate::config::modbus::{DataType, Table, WriteTarget, modicon};
use crate::sources::Value;
use crate::sources::modbus::decode::encode_registers;
use std::borrow::Cow;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_modbus::{Request, Response};

/// Named values to write, and where to say how it went.
#[derive(Debug)]
pub struct WriteJob {
    pub values: Vec<(String, Value)>,
    pub done: oneshot::Sender<Result<(), WriteFailure>>,
}

/// Why a job failed; `transport` when the connection was dropped because of it.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteFailure {
    pub message: String,
    pub transport: bool,
}

impl std::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The registers `value` takes in `target`, or why it does not fit.
pub fn encode_for(target: &WriteTarget, value: &Value) -> Result<Vec<u16>, String> {
    let name = &target.parameter;
    let value = match (target.data_type, value) {
        (DataType::String { chars }, v) => {
            let text = match v {
                Value::Text(t) => t.clone(),
                Value::Int(i) => i.to_string(),
                Value::UInt(u) => u.to_string(),
                other => return Err(format!("{name}: {other:?} is not text")),
            };
            if !text.is_ascii() || text.len() > usize::from(chars) {
                return Err(format!(
                    "{name}: {text:?} does not fit a string of {chars} ASCII characters"
                ));
            }
            Value::Text(text)
        }
        (DataType::F32 | DataType::F64, v) => {
            let f = match v {
                Value::Text(t) => t.trim().parse::<f64>().ok(),
                other => other.as_f64(),
            }
            .filter(|f| f.is_finite())
            .ok_or_else(|| format!("{name}: {v:?} is not a number"))?;
            if target.data_type == DataType::F32 && f.abs() > f64::from(f32::MAX) {
                return Err(format!("{name}: {f} does not fit an f32"));
            }
            Value::Float(f)
        }
        (t, v) => {
            let i: i128 = match v {
                Value::Int(i) => i128::from(*i),
                Value::UInt(u) => i128::from(*u),
                Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e30 => *f as i128,
                Value::Text(s) => s
                    .trim()
                    .parse::<i128>()
                    .map_err(|_| format!("{name}: {s:?} is not an integer"))?,
                other => return Err(format!("{name}: {other:?} is not an integer")),
            };
            let bits = t.integer_bits().unwrap_or(16);
            let signed = matches!(t, DataType::I16 | DataType::I32 | DataType::I64);
            let (lo, hi) = if signed {
                (-(1i128 << (bits - 1)), (1i128 << (bits - 1)) - 1)
            } else {
                (0, (1i128 << bits) - 1)
            };
            if i < lo || i > hi {
                return Err(format!(
                    "{name}: {i} does not fit a {} ({lo} to {hi})",
                    t.name()
                ));
            }
            if signed {
                Value::Int(i as i64)
            } else {
                Value::UInt(i as u64)
            }
        }
    };
    Ok(encode_registers(target.data_type, target.order, &value))
}

/// Writes every value to its target and reads each back. Stops at the first failure.
pub async fn write_and_verify<L: Link + ?Sized>(
    ctx: &mut L,
    targets: &[WriteTarget],
    values: &[(String, Value)],
    timeout: Duration,
) -> Result<(), WriteFailure> {
    let refuse = |message: String| WriteFailure {
        message,
        transport: false,
    };
    // Encode everything first: nothing is written when one value does not fit.
    let mut planned = Vec::with_capacity(values.len());
    for (parameter, value) in values {
        let target = targets
            .iter()
            .find(|t| &t.parameter == parameter)
            .ok_or_else(|| refuse(format!("{parameter}: no [[sources.write]] target")))?;
        planned.push((target, encode_for(target, value).map_err(refuse)?));
    }
    for (target, words) in planned {
        let at = modicon(Table::HoldingRegisters, target.address, None);
        let n = words.len() as u16;
        let what = format!(
            "write {} (function 16) at {at} (address {}), count {n}",
            target.parameter, target.address
        );
        let request = Request::WriteMultipleRegisters(target.address, Cow::Owned(words.clone()));
        match ctx.transact(request, timeout).await {
            Err(e) => {
                return Err(WriteFailure {
                    message: format!("{what}: {e}"),
                    transport: true,
                });
            }
            Ok(Err(exception)) => {
                return Err(refuse(format!(
                    "{what}: exception 0x{:02X} ({exception})",
                    u8::from(exception)
                )));
            }
            Ok(Ok(Response::WriteMultipleRegisters(a, c))) if a == target.address && c == n => {}
            Ok(Ok(other)) => {
                return Err(WriteFailure {
                    message: format!("{what}: reply {other:?} does not answer the write"),
                    transport: true,
                });
            }
        }
        match read(ctx, Table::HoldingRegisters, target.address, n, timeout).await {
            Ok(ReadData::Registers(back)) if back == words => {}
            Ok(ReadData::Registers(back)) => {
                return Err(refuse(format!(
                    "{what}: read back {back:?}, wrote {words:?}"
                )));
            }
            Ok(ReadData::Bits(_)) => {
                return Err(WriteFailure {
                    message: format!("{what}: read back bits, not registers"),
                    transport: true,
                });
            }
            Err(ReadError::Exception(e)) => {
                return Err(refuse(format!(
                    "{what}: read back refused: exception 0x{:02X} ({e})",
                    u8::from(e)
                )));
            }
            Err(ReadError::Transport(t)) => {
                return Err(WriteFailure {
                    message: format!("{what}: read back failed: {t}"),
                    transport: true,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::modbus::ByteOrder;

    fn target(data_type: DataType) -> WriteTarget {
        WriteTarget {
            parameter: "p".into(),
            address: 10,
            data_type,
            order: ByteOrder::Abcd,
        }
    }

    #[test]
    fn values_are_encoded_or_refused_never_truncated() {
        assert_eq!(
            encode_for(&target(DataType::U32), &Value::UInt(500)),
            Ok(vec![0, 500])
        );
        assert_eq!(
            encode_for(&target(DataType::U16), &Value::Text("17".into())),
            Ok(vec![17])
        );
        assert!(encode_for(&target(DataType::U16), &Value::UInt(70_000)).is_err());
        assert!(encode_for(&target(DataType::U16), &Value::Int(-1)).is_err());
        assert_eq!(
            encode_for(&target(DataType::I16), &Value::Int(-1)),
            Ok(vec![0xFFFF])
        );
        assert!(encode_for(&target(DataType::U32), &Value::Text("WO-1".into())).is_err());
        assert_eq!(
            encode_for(
                &target(DataType::String { chars: 4 }),
                &Value::Text("WO1".into())
            ),
            Ok(vec![
                u16::from_be_bytes(*b"WO"),
                u16::from_be_bytes([b'1', 0])
            ])
        );
        assert!(
            encode_for(
                &target(DataType::String { chars: 4 }),
                &Value::Text("WO-12".into())
            )
            .is_err()
        );
        assert!(encode_for(&target(DataType::F32), &Value::Float(1e300)).is_err());
    }
}
