//! The edge agent's one integration-test binary.

mod labels;
mod modbus;
mod mqtt;
