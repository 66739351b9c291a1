//! Sources read devices and decode what they say. They know nothing of the journal or of
//! central; they hand what they read to the processor over a bounded channel.
//!
//! **Architecture Invariant:** only sources touch devices.

pub mod simulated;

use protocol::EventBody;

/// What a source hands to the processor.
#[derive(Debug, Clone)]
pub enum SourceMessage {
    /// A fact the source could already express as an event (simulated machines).
    Event(Box<EventBody>),
}

/// Capacity of the sources → processor channel. When it is full a source waits (backpressure):
/// a simulated machine simply produces later; no message is dropped.
pub const SOURCE_CHANNEL_CAPACITY: usize = 4096;
