//! The edge's configuration, as `mes edge` and `mes check-config` read it: arbitrary TOML
//! text through `EdgeConfig::from_toml_str` (the raw shape, then validation of every source:
//! Modbus register maps, MQTT rules, scanners, stations).
//!
//! Invariants: no panic; a refusal lists at least one mistake, each with a message and a line
//! that exists in the file; an accepted config holds only what the sources can run with:
//! Modbus tags inside the 65536 addresses, bits 0 to 15, counters 16, 32 or 64 bits wide with a
//! max_step of at most half their range, poll plans within the protocol's limits; MQTT rules
//! that validate; scanner limits of at least one byte.
#![no_main]

use edge_agent::EdgeConfig;
use edge_agent::config::SourceConfig;
use edge_agent::config::modbus::Meaning;
use edge_agent::sources::modbus::plan::plan_reads;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.matches('\n').count() + 1;
    let config = match EdgeConfig::from_toml_str(&text) {
        Ok(config) => config,
        Err(e) => {
            let mistakes = e.mistakes();
            assert!(!mistakes.is_empty(), "refused without a reason");
            for m in mistakes {
                assert!(!m.message.is_empty());
                if let Some(line) = m.line {
                    assert!((1..=lines).contains(&line), "line {line} of {lines}: {m}");
                }
            }
            return;
        }
    };
    for source in &config.sources {
        match source {
            SourceConfig::Modbus(modbus) => {
                let device = modbus
                    .device()
                    .expect("an accepted config has a valid device");
                for group in &device.groups {
                    assert!(!group.interval.is_zero());
                    for tag in &group.tags {
                        assert!(u32::from(tag.address) + u32::from(tag.width()) <= 65536);
                        assert!(tag.width() >= 1 && tag.width() <= tag.table.max_read());
                        assert!(tag.bit.is_none_or(|b| b <= 15));
                        if let Some(Meaning::Counter { bits, max_step, .. }) = &tag.meaning {
                            assert!(matches!(bits, 16 | 32 | 64), "{bits} bits");
                            assert!(*max_step >= 1 && *max_step <= 1u64 << (bits - 1));
                        }
                    }
                    for request in
                        plan_reads(&group.tags, device.max_gap_registers, device.max_gap_bits)
                    {
                        assert!(request.count >= 1 && request.count <= request.table.max_read());
                        assert!(request.end() <= 65536);
                    }
                }
            }
            SourceConfig::Mqtt(mqtt) => {
                assert!(mqtt.validate().is_ok());
            }
            SourceConfig::Scanner(scanner) => assert!(scanner.max_len >= 1),
            SourceConfig::Simulated(_) => {}
        }
    }
});
