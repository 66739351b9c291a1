//! Simulators of the devices the edge reads, for `mes sim …`, the demo and the tests.

pub mod mqtt;
pub mod plc;
