//! Manufacturing figures as pure functions: no I/O, no store, no clock, no tokio.
//!
//! - [`shifts`]: a plant's shift calendar (shifts with breaks, in the plant's IANA time zone)
//!   and the shift runs it yields over a period, as UTC instants.
//! - [`oee`]: ISO 22400-2 time and quantity figures (POT, PDOT, PBT, APT, ADOT, PQ, GQ, …) for
//!   one station over one window, and availability, effectiveness, quality and OEE from them.
//! - [`pareto`]: losses (or anything keyed) ranked, with share and cumulative share.
//! - [`spc`]: control limits (X-bar/R, I-MR), the Nelson rules 1-4 and capability indices.
//!
//! **Architecture Invariant:** nothing here panics on input: no `unwrap`, `expect` or
//! indexing that input can reach; arithmetic on input is checked or saturating, and each
//! function says which; every loop is bounded by its input or a named `MAX_` constant.

pub mod oee;
pub mod pareto;
pub mod shifts;
pub mod spc;
