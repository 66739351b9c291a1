//! Devices over MQTT (issue 4). So far the parts without I/O: topic filters, reading plain and
//! JSON payloads, and a Sparkplug B host session. The rumqttc subscriber, the mapping rules in
//! the configuration and the embedded broker build on these.

pub mod client;
pub mod config;
pub mod framing;
pub mod payload;
pub mod rules;
pub mod sparkplug;
pub mod topic;
pub mod transport;
