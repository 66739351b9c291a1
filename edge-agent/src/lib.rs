//! The edge agent. See ARCHITECTURE.md for the map.

pub mod config;
pub mod live;
pub mod processor;
pub mod sources;
pub mod sync;
pub mod terminal;
pub mod topology;

pub use config::EdgeConfig;
pub use topology::{RunningEdge, StartError, run, start};
pub mod journal;
