//! ERP: master data, CSV import, working calendar and MRP.
//!
//! - [`mrp`]: the MRP run as a pure function ([`mrp::run`]), no I/O.
//! - [`calendar`]: the working calendar lead times are offset on.
//! - [`import`]: CSV parsing and row validation (pure); the store applies a parsed file in
//!   one transaction ([`crate::store::ErpStore`]).

pub mod bench;
pub mod calendar;
pub mod import;
pub mod mrp;
