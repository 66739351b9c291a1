//! Central's configuration (`mes central --config`, `mes check-config`): arbitrary TOML text
//! through `CentralConfig::from_toml_str`. Invariants: no panic; a parse error points at a
//! line and column inside the file; an accepted config is within the limits `validate` sets.
#![no_main]

use central::config::{CentralConfig, ConfigError};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.matches('\n').count() + 1;
    match CentralConfig::from_toml_str(&text) {
        Ok(config) => {
            assert!(config.validate().is_ok());
            assert!(config.max_body_bytes >= 1024);
        }
        Err(ConfigError::Parse { line, column, .. }) => {
            assert!((1..=lines).contains(&line), "line {line} of {lines}");
            assert!(column >= 1);
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
