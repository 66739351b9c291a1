//! Registers to values: byte and word order, types, bits, fixed point. Pure functions.

use crate::config::modbus::{ByteOrder, DataType, Tag};
use crate::sources::Value;

/// Why a tag's registers gave no value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("expected {expected} registers, got {got}")]
    Length { expected: usize, got: usize },
    #[error("not a finite number")]
    NotFinite,
}

/// The registers' bytes in significance order (most significant first), whatever the order
/// they were stored in. Strings keep their words in address order; only bytes are swapped.
pub fn bytes_in_order(words: &[u16], order: ByteOrder, keep_word_order: bool) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(words.len() * 2);
    let mut push = |w: u16| {
        let [hi, lo] = w.to_be_bytes();
        if order.bytes_swapped() {
            bytes.extend_from_slice(&[lo, hi]);
        } else {
            bytes.extend_from_slice(&[hi, lo]);
        }
    };
    if order.words_swapped() && !keep_word_order {
        words.iter().rev().copied().for_each(&mut push);
    } else {
        words.iter().copied().for_each(&mut push);
    }
    bytes
}

/// The first `N` bytes; fewer is a length error (a tag whose width is too small for its type,
/// which the config refuses, must not panic here either).
fn array<const N: usize>(bytes: &[u8]) -> Result<[u8; N], DecodeError> {
    bytes
        .get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or(DecodeError::Length {
            expected: N / 2,
            got: bytes.len() / 2,
        })
}

/// Decodes a register tag from exactly its registers (`words.len() == tag.width()`).
pub fn decode_registers(tag: &Tag, words: &[u16]) -> Result<Value, DecodeError> {
    let expected = usize::from(tag.width());
    if words.len() != expected {
        return Err(DecodeError::Length {
            expected,
            got: words.len(),
        });
    }
    if let Some(bit) = tag.bit {
        return Ok(Value::Bool(words[0] >> bit & 1 == 1));
    }
    let keep_word_order = matches!(tag.data_type, DataType::String { .. });
    let b = bytes_in_order(words, tag.order, keep_word_order);
    let raw = match tag.data_type {
        DataType::Bool => return Ok(Value::Bool(words[0] != 0)),
        DataType::I16 => Value::Int(i64::from(i16::from_be_bytes(array(&b)?))),
        DataType::U16 => Value::UInt(u64::from(u16::from_be_bytes(array(&b)?))),
        DataType::I32 => Value::Int(i64::from(i32::from_be_bytes(array(&b)?))),
        DataType::U32 => Value::UInt(u64::from(u32::from_be_bytes(array(&b)?))),
        DataType::I64 => Value::Int(i64::from_be_bytes(array(&b)?)),
        DataType::U64 => Value::UInt(u64::from_be_bytes(array(&b)?)),
        DataType::F32 => Value::Float(f64::from(f32::from_be_bytes(array(&b)?))),
        DataType::F64 => Value::Float(f64::from_be_bytes(array(&b)?)),
        DataType::String { chars } => {
            let text = &b[..usize::from(chars).min(b.len())];
            let text = text.split(|c| *c == 0).next().unwrap_or_default();
            let text = String::from_utf8_lossy(text).trim_end().to_owned();
            return Ok(Value::Text(text));
        }
    };
    let value = match (tag.scale, tag.offset) {
        (None, None) => raw,
        (scale, offset) => {
            let x = raw.as_f64().unwrap_or_default();
            Value::Float(x * scale.unwrap_or(1.0) + offset.unwrap_or(0.0))
        }
    };
    match value {
        Value::Float(f) if !f.is_finite() => Err(DecodeError::NotFinite),
        v => Ok(v),
    }
}

/// Encodes a value as a register tag stores it (the simulator and the tests use this; the
/// write-back of plan parameters will too).
pub fn encode_registers(data_type: DataType, order: ByteOrder, value: &Value) -> Vec<u16> {
    let be: Vec<u8> = match (data_type, value) {
        (DataType::Bool, v) => vec![0, u8::from(v.as_f64().unwrap_or(0.0) != 0.0)],
        (DataType::I16, v) => (v.as_i128() as i16).to_be_bytes().to_vec(),
        (DataType::U16, v) => (v.as_i128() as u16).to_be_bytes().to_vec(),
        (DataType::I32, v) => (v.as_i128() as i32).to_be_bytes().to_vec(),
        (DataType::U32, v) => (v.as_i128() as u32).to_be_bytes().to_vec(),
        (DataType::I64, v) => (v.as_i128() as i64).to_be_bytes().to_vec(),
        (DataType::U64, v) => (v.as_i128() as u64).to_be_bytes().to_vec(),
        (DataType::F32, v) => (v.as_f64().unwrap_or(0.0) as f32).to_be_bytes().to_vec(),
        (DataType::F64, v) => v.as_f64().unwrap_or(0.0).to_be_bytes().to_vec(),
        (DataType::String { chars }, v) => {
            let mut b = match v {
                Value::Text(t) => t.as_bytes().to_vec(),
                _ => Vec::new(),
            };
            b.resize(usize::from(chars.div_ceil(2)) * 2, 0);
            b
        }
    };
    let mut words: Vec<u16> = be
        .chunks(2)
        .map(|c| {
            let (hi, lo) = (c[0], c.get(1).copied().unwrap_or(0));
            if order.bytes_swapped() {
                u16::from_be_bytes([lo, hi])
            } else {
                u16::from_be_bytes([hi, lo])
            }
        })
        .collect();
    if order.words_swapped() && !matches!(data_type, DataType::String { .. }) {
        words.reverse();
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::modbus::{Report, Table};

    fn tag(data_type: DataType, order: ByteOrder) -> Tag {
        Tag {
            name: "t".into(),
            table: Table::HoldingRegisters,
            address: 0,
            bit: None,
            data_type,
            order,
            scale: None,
            offset: None,
            deadband: None,
            report: Report::OnChange,
            meaning: None,
        }
    }

    use ByteOrder::*;
    use DataType::*;

    /// Found by fuzzing (fuzz/fuzz_targets/modbus_decode.rs): a coil (one bit wide) given a
    /// 32-bit type took one register and sliced four bytes out of two. The config refuses such
    /// a tag; the decoder refuses it too instead of panicking.
    #[test]
    fn a_tag_narrower_than_its_type_is_refused_not_a_panic() {
        let coil = Tag {
            table: Table::Coils,
            ..tag(I32, Abcd)
        };
        assert_eq!(coil.width(), 1);
        assert_eq!(
            decode_registers(&coil, &[7]),
            Err(DecodeError::Length {
                expected: 2,
                got: 1
            })
        );
        let bit = Tag {
            bit: None,
            table: Table::DiscreteInputs,
            ..tag(F64, Dcba)
        };
        assert!(decode_registers(&bit, &[1]).is_err());
    }

    /// 0x11223344 as each order stores it.
    #[test]
    fn u32_in_the_four_orders() {
        let cases = [
            (Abcd, [0x1122, 0x3344]),
            (Cdab, [0x3344, 0x1122]),
            (Badc, [0x2211, 0x4433]),
            (Dcba, [0x4433, 0x2211]),
        ];
        for (order, words) in cases {
            assert_eq!(
                decode_registers(&tag(U32, order), &words),
                Ok(Value::UInt(0x1122_3344)),
                "{order:?}"
            );
            assert_eq!(
                encode_registers(U32, order, &Value::UInt(0x1122_3344)),
                words
            );
        }
    }

    #[test]
    fn sixty_four_bits_in_the_four_orders() {
        let v = 0x1122_3344_5566_7788u64;
        let cases = [
            (Abcd, [0x1122, 0x3344, 0x5566, 0x7788]),
            (Cdab, [0x7788, 0x5566, 0x3344, 0x1122]),
            (Badc, [0x2211, 0x4433, 0x6655, 0x8877]),
            (Dcba, [0x8877, 0x6655, 0x4433, 0x2211]),
        ];
        for (order, words) in cases {
            assert_eq!(
                decode_registers(&tag(U64, order), &words),
                Ok(Value::UInt(v)),
                "{order:?}"
            );
            assert_eq!(
                decode_registers(&tag(I64, order), &words),
                Ok(Value::Int(v as i64))
            );
        }
    }

    #[test]
    fn signed_and_sixteen_bit_types() {
        assert_eq!(
            decode_registers(&tag(I16, Abcd), &[0xFFFE]),
            Ok(Value::Int(-2))
        );
        assert_eq!(
            decode_registers(&tag(U16, Abcd), &[0xFFFE]),
            Ok(Value::UInt(65534))
        );
        // A byte-swapped order swaps a single register's bytes; word order does not matter.
        assert_eq!(
            decode_registers(&tag(U16, Badc), &[0x3412]),
            Ok(Value::UInt(0x1234))
        );
        assert_eq!(
            decode_registers(&tag(U16, Cdab), &[0x1234]),
            Ok(Value::UInt(0x1234))
        );
        assert_eq!(
            decode_registers(&tag(I32, Cdab), &[0xFFFF, 0xFFFF]),
            Ok(Value::Int(-1))
        );
    }

    #[test]
    fn floats() {
        let words = encode_registers(F32, Cdab, &Value::Float(8.015));
        let Ok(Value::Float(f)) = decode_registers(&tag(F32, Cdab), &words) else {
            panic!()
        };
        assert!((f - 8.015).abs() < 1e-6);
        // 1.5f32 = 0x3FC00000
        assert_eq!(
            decode_registers(&tag(F32, Abcd), &[0x3FC0, 0x0000]),
            Ok(Value::Float(1.5))
        );
        let words = encode_registers(F64, Dcba, &Value::Float(-2.25));
        assert_eq!(
            decode_registers(&tag(F64, Dcba), &words),
            Ok(Value::Float(-2.25))
        );
        // NaN from a PLC is not a value.
        assert_eq!(
            decode_registers(&tag(F32, Abcd), &[0x7FC0, 0x0000]),
            Err(DecodeError::NotFinite)
        );
    }

    #[test]
    fn fixed_point() {
        let mut t = tag(I16, Abcd);
        t.scale = Some(0.1);
        t.offset = Some(-40.0);
        let Ok(Value::Float(f)) = decode_registers(&t, &[650]) else {
            panic!()
        };
        assert!((f - 25.0).abs() < 1e-9, "{f}");
    }

    #[test]
    fn bits_and_bools() {
        let mut t = tag(Bool, Abcd);
        t.bit = Some(3);
        assert_eq!(decode_registers(&t, &[0b1000]), Ok(Value::Bool(true)));
        assert_eq!(decode_registers(&t, &[0b0111]), Ok(Value::Bool(false)));
        t.bit = Some(15);
        assert_eq!(decode_registers(&t, &[0x8000]), Ok(Value::Bool(true)));
        assert_eq!(
            decode_registers(&tag(Bool, Abcd), &[2]),
            Ok(Value::Bool(true))
        );
    }

    #[test]
    fn strings() {
        let t = tag(String { chars: 6 }, Abcd);
        // "AB", "C\0", "xy": ends at the NUL.
        assert_eq!(
            decode_registers(&t, &[0x4142, 0x4300, 0x7879]),
            Ok(Value::Text("ABC".into()))
        );
        // Byte-swapped strings (common on some PLCs), words stay in address order.
        let t = tag(String { chars: 4 }, Dcba);
        assert_eq!(
            decode_registers(&t, &[0x4241, 0x4420]),
            Ok(Value::Text("AB D".into()))
        );
        assert_eq!(
            encode_registers(String { chars: 4 }, Dcba, &Value::Text("AB D".into())),
            vec![0x4241, 0x4420]
        );
        // Not UTF-8: replaced, never a panic.
        let t = tag(String { chars: 2 }, Abcd);
        assert!(matches!(
            decode_registers(&t, &[0xFFFE]),
            Ok(Value::Text(_))
        ));
    }

    #[test]
    fn wrong_length_is_an_error_not_a_panic() {
        assert_eq!(
            decode_registers(&tag(U32, Abcd), &[1]),
            Err(DecodeError::Length {
                expected: 2,
                got: 1
            })
        );
        assert!(decode_registers(&tag(U64, Abcd), &[]).is_err());
    }
}
