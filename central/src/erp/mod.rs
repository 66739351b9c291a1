//! ERP: master data, CSV import, working calendar and MRP.
//!
//! - [`mrp`]: the MRP run as a pure function ([`mrp::run`]), no I/O.
//! - [`calendar`]: the working calendar lead times are offset on.
//! - [`import`]: CSV parsing and row validation (pure); the store applies a parsed file in
//!   one transaction ([`crate::store::ErpStore`]).
//! - [`work_order`]: the work-order state machine, progress from edge events and the
//!   plans per edge, without I/O ([`crate::store::WorkOrderStore`] loads and saves).
//! - [`delivery`]: output against plan and on-time delivery of orders due in a period.
//! - [`routing_import`]: CSV parsing of routings, in [`import`]'s style.
//! - [`master_data`]: item tracking, BOM revisions, warehouses, suppliers (types and rules);
//!   [`uom`]: unit-of-measure conversions to an item's base unit.

pub mod bench;
pub mod calendar;
pub mod delivery;
pub mod import;
pub mod master_data;
pub mod mrp;
pub mod routing_import;
pub mod uom;
pub mod work_order;
