//! The edge agent. See ARCHITECTURE.md for the map.

pub mod andon;
pub mod backoff;
pub mod broker;
pub mod config;
pub mod exchange;
pub mod journal;
pub mod labels;
pub mod live;
pub mod processor;
pub mod sim;
pub mod sources;
pub mod sync;
pub mod terminal;
pub mod topology;

pub use config::EdgeConfig;
/// The MQTT client this crate uses, for the benches and whole-system tests of the binary.
pub use rumqttc;
pub use topology::{RunningEdge, StartError, run, start};
