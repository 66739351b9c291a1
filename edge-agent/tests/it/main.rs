//! The edge agent's one integration-test binary.

mod broker_auth;
mod disk_alarm;
mod disk_full;
mod floor_rules;
mod journal_damage;
mod labels;
mod line_access;
mod modbus;
mod modbus_rtu;
mod mqtt;
mod mqtt_oversize;
mod mqtt_restart;
mod mqtt_tls;
mod scanner;
mod scans;
mod stop_reasons;
