//! The Modbus register decoder and the reply handling around it, with arbitrary tag
//! definitions (every type, byte and word order, bits, scale and offset, as the config
//! allows them) and arbitrary register words and reply lengths.
//!
//! Invariants: no panic; a tag decodes only from exactly its width of registers; integer
//! values written back with `encode_registers` give the same registers; a float (scaled or not)
//! is finite or refused; text is at most the tag's `chars` bytes. The read planner never asks
//! for more than the protocol allows, and reads every tag exactly once from registers that
//! hold it; a reply shorter than asked gives per-tag errors, not a panic.
#![no_main]

use arbitrary::Arbitrary;
use edge_agent::config::modbus::{ByteOrder, DataType, Report, Table, Tag};
use edge_agent::sources::Value;
use edge_agent::sources::modbus::decode::{DecodeError, decode_registers, encode_registers};
use edge_agent::sources::modbus::plan::plan_reads;
use edge_agent::sources::modbus::{ReadData, extract};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
struct TagInput {
    table: u8,
    address: u16,
    /// A bit of a register (the config allows 0 to 15).
    bit: Option<u8>,
    data_type: u8,
    chars: u8,
    order: u8,
    scale: Option<f64>,
    offset: Option<f64>,
}

#[derive(Debug, Arbitrary)]
struct Input {
    tags: Vec<TagInput>,
    words: Vec<u16>,
    bits: Vec<bool>,
    max_gap_registers: u8,
    max_gap_bits: u8,
    /// How many words or bits each reply is short (or long) of what was asked.
    reply_shortfall: Vec<i8>,
}

fn tag(i: usize, t: &TagInput) -> Tag {
    let table = [
        Table::Coils,
        Table::DiscreteInputs,
        Table::InputRegisters,
        Table::HoldingRegisters,
    ][usize::from(t.table % 4)];
    let data_type = match t.data_type % 10 {
        0 => DataType::Bool,
        1 => DataType::I16,
        2 => DataType::U16,
        3 => DataType::I32,
        4 => DataType::U32,
        5 => DataType::I64,
        6 => DataType::U64,
        7 => DataType::F32,
        8 => DataType::F64,
        _ => DataType::String {
            // The config allows 1 to 250 characters (125 registers, one read).
            chars: u16::from(t.chars % 250) + 1,
        },
    };
    let order = [
        ByteOrder::Abcd,
        ByteOrder::Cdab,
        ByteOrder::Badc,
        ByteOrder::Dcba,
    ][usize::from(t.order % 4)];
    Tag {
        name: format!("t{i}"),
        table,
        // A tag's registers lie within the 65536 addresses (the config checks it).
        address: t
            .address
            .min(u16::try_from(65536 - u32::from(data_type.registers())).unwrap_or(u16::MAX)),
        bit: t.bit.filter(|_| !table.is_bits()).map(|b| b % 16),
        data_type,
        order,
        scale: t.scale,
        offset: t.offset,
        deadband: None,
        report: Report::OnChange,
        meaning: None,
    }
}

fuzz_target!(|input: Input| {
    let tags: Vec<Tag> = input
        .tags
        .iter()
        .take(64)
        .enumerate()
        .map(|(i, t)| tag(i, t))
        .collect();

    for t in &tags {
        check_decode(t, &input.words);
    }

    let requests = plan_reads(
        &tags,
        u16::from(input.max_gap_registers),
        u16::from(input.max_gap_bits),
    );
    let mut seen = vec![0u32; tags.len()];
    for (n, request) in requests.iter().enumerate() {
        assert!(request.count >= 1 && request.count <= request.table.max_read());
        assert!(request.end() <= 65536);
        for &i in &request.tags {
            seen[i] += 1;
            let t = &tags[i];
            assert_eq!(t.table, request.table);
            assert!(t.address >= request.start);
            assert!(u32::from(t.address) + u32::from(t.width()) <= request.end());
        }
        // The device's reply: as asked, or short, or long.
        let shortfall = input.reply_shortfall.get(n).copied().unwrap_or(0);
        let len = (i32::from(request.count) - i32::from(shortfall)).max(0) as usize;
        let data = if request.table.is_bits() {
            ReadData::Bits(input.bits.iter().copied().cycle().take(len).collect())
        } else {
            ReadData::Registers(input.words.iter().copied().cycle().take(len).collect())
        };
        let data = match data {
            ReadData::Bits(b) if b.len() < len => ReadData::Bits(vec![false; len]),
            ReadData::Registers(w) if w.len() < len => ReadData::Registers(vec![0; len]),
            d => d,
        };
        let values = extract(&tags, request, &data);
        assert_eq!(values.count(), request.tags.len());
    }
    assert!(seen.iter().all(|&n| n == 1), "tags read {seen:?} times");
});

fn check_decode(t: &Tag, words: &[u16]) {
    let width = usize::from(t.width());
    // Any other number of registers is refused.
    for len in [0, width.saturating_sub(1), width + 1] {
        if len != width && len <= words.len() {
            assert_eq!(
                decode_registers(t, &words[..len]),
                Err(DecodeError::Length {
                    expected: width,
                    got: len
                })
            );
        }
    }
    let mut registers: Vec<u16> = words.iter().copied().take(width).collect();
    registers.resize(width, 0);
    let value = decode_registers(t, &registers);
    let scaled = t.scale.is_some() || t.offset.is_some();
    match (&value, t.data_type) {
        (Err(DecodeError::NotFinite), _) => {
            assert!(scaled || matches!(t.data_type, DataType::F32 | DataType::F64))
        }
        // A single-bit place given a wider type (the config refuses it): refused, not a panic.
        (Err(DecodeError::Length { .. }), dt)
            if t.bit.is_none() && dt != DataType::Bool && t.width() < dt.registers() => {}
        (Err(e), _) => panic!("{e} from exactly {width} registers"),
        (Ok(Value::Float(f)), _) => assert!(f.is_finite()),
        (Ok(Value::Text(s)), DataType::String { chars }) => {
            assert!(
                s.len() <= usize::from(chars) * 3,
                "{s:?} from {chars} chars"
            )
        }
        (Ok(v @ (Value::Int(_) | Value::UInt(_))), dt) if t.bit.is_none() && !scaled => {
            // Integers go back to the very same registers.
            assert_eq!(encode_registers(dt, t.order, v), registers, "{v:?} {t:?}");
        }
        _ => {}
    }
}
