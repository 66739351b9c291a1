//! The edge agent. See ARCHITECTURE.md for the map.

pub mod broker;
pub mod config;
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
pub use topology::{RunningEdge, StartError, run, start};
