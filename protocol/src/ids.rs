//! Newtypes for identifiers, so an edge id is never passed where a work order is expected.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Self {
                Self(s.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

string_id!(
    /// One edge agent (one line or area). Unique within a company.
    EdgeId
);
string_id!(
    /// A device the edge reads: a PLC, an MQTT device, a scanner.
    DeviceId
);
string_id!(
    /// A station (work place) on a line.
    StationId
);
string_id!(
    /// A work order number, as the ERP and the labels print it.
    WorkOrderId
);
string_id!(
    /// An item (material, semi-finished or finished good).
    ItemId
);
string_id!(
    /// A material lot or batch number.
    LotId
);
string_id!(
    /// A warehouse location or line-side location.
    LocationId
);
string_id!(
    /// An operator's badge number.
    OperatorId
);
string_id!(
    /// A sales order number, as central numbers it and its labels print it (`SO000001`).
    SalesOrderId
);

/// An edge's event sequence number: 1, 2, 3, … with no gaps, assigned at commit.
/// `Seq(0)` means "nothing yet" (for example "nothing acknowledged").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Seq(pub u64);

impl Seq {
    pub const ZERO: Seq = Seq(0);

    /// The seq after this one; the largest seq has none after it (stays there: callers check
    /// seqs against [`crate::bounds::MAX_SEQ`] first).
    pub fn next(self) -> Seq {
        Seq(self.0.saturating_add(1))
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// A globally unique, time-ordered event id (UUID version 7), assigned when the event is
/// created on the edge. It survives retries and lets anyone check that the event central holds
/// at `(edge, seq)` is the very event the edge committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(pub uuid::Uuid);

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
