//! Wire types shared by the edge agents and central.
//!
//! Everything that crosses the network between an edge and central is defined here and
//! nowhere else: the event envelope and its taxonomy ([`event`]), plans ([`plan`]), the sync
//! messages ([`sync`]) and the one HTTP error shape ([`error`]).
//!
//! **Architecture Invariant:** this crate does no I/O. It depends on no runtime, no database and
//! no HTTP library, so both sides (and tests) can use it anywhere.
//!
//! **Architecture Invariant:** the JSON form of every type here is pinned by a snapshot test.
//! A change to a snapshot is a change to the wire format and must keep older edges working
//! (see [`sync::PROTOCOL_VERSION`]).

pub mod barcode;
pub mod bounds;
pub mod duration;
pub mod error;
pub mod event;
pub mod ids;
pub mod plan;
pub mod secret;
pub mod sync;

pub use error::{ErrorBody, ErrorDetail};
pub use event::{Event, EventBody, EventKind, MachineState, Source};
pub use ids::{
    DeviceId, EdgeId, EventId, ItemId, LocationId, LotId, OperatorId, SalesOrderId, Seq, StationId,
    WorkOrderId,
};
pub use plan::{
    NegativeStock, Plan, PlanComponent, PlanContent, PlanLot, PlanMadeFor, PlanOperation,
    PlanOperator, PlanRequisition, PlanRules, PlanShipment, PlanSpcAlarm, PlanStopReason,
    PlanVersion, PlanWorkOrder, RequisitionState, SUPERVISOR_SKILL,
};
pub use secret::Secret;
pub use sync::{
    Ack, BatchError, EdgeStatus, EventBatch, MIN_PROTOCOL_VERSION, PROTOCOL_HEADER,
    PROTOCOL_VERSION, PlanPoll, RunBy, StationRun, StatusReply,
};
