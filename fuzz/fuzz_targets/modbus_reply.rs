//! Our own reading of raw Modbus RTU bytes: a failed exchange's bytes, described for the
//! device's fault (`describe_bad_reply`), and the CRC. Invariants: no panic whatever the bytes,
//! unit and function; the description is short and shows the bytes it was given; a frame with its CRC
//! appended passes the check.
#![no_main]

use edge_agent::sources::modbus::bus::{crc16, describe_bad_reply};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [unit, function, bytes @ ..] = data else {
        return;
    };
    // The bus keeps at most 256 bytes of one exchange.
    let bytes = &bytes[..bytes.len().min(256)];
    let text = describe_bad_reply(*unit, *function, bytes);
    assert!(!text.is_empty());
    // At most 16 bytes are shown, so the description is short whatever came.
    assert!(text.chars().count() <= 200, "{text}");
    if let Some(first) = bytes.first() {
        assert!(text.contains(&format!("{first:02X}")), "{text}");
    }
    // A whole frame with a good CRC is never called a CRC failure.
    let mut frame = bytes.to_vec();
    frame.extend_from_slice(&crc16(bytes).to_le_bytes());
    assert_eq!(crc16(&frame), 0, "CRC over a frame and its CRC is 0");
});
