//! Checks of request fields shared by the master-data and work-order routes: one wording for
//! the same mistake wherever it is made. Ids and texts are checked against
//! [`protocol::bounds`], the bounds the edges check plans against.

use super::error::AppError;
use crate::erp::import::{MAX_QTY, MAX_QTY_DP};
use rust_decimal::Decimal;

/// An id within [`protocol::bounds::check_id`]: 1 to 64 bytes, no control or invisible
/// characters, no spaces at its ends (ids go down to the lines in plans, which the edges check
/// against the same bounds).
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), AppError> {
    protocol::bounds::check_id(what, id).map_err(|v| AppError::bad_request(v.to_string()))
}

/// A unit of measure within [`protocol::bounds::check_uom`] (at most 16 bytes).
pub(crate) fn check_uom(what: &str, uom: &str) -> Result<(), AppError> {
    protocol::bounds::check_uom(what, uom).map_err(|v| AppError::bad_request(v.to_string()))
}

/// Plain text within [`protocol::bounds::check_text`]: at most 1024 bytes, no control or
/// invisible characters.
pub(crate) fn check_text(what: &str, text: &str) -> Result<(), AppError> {
    protocol::bounds::check_text(what, text).map_err(|v| AppError::bad_request(v.to_string()))
}

/// A quantity of at least 0 (above 0 if `positive`), at most [`MAX_QTY`], [`MAX_QTY_DP`]
/// decimals.
pub(crate) fn check_qty(what: &str, qty: Decimal, positive: bool) -> Result<(), AppError> {
    let low_ok = if positive {
        qty > Decimal::ZERO
    } else {
        qty >= Decimal::ZERO
    };
    if !low_ok || qty > Decimal::from(MAX_QTY) || qty.normalize().scale() > MAX_QTY_DP {
        let low = if positive { "above 0" } else { "of at least 0" };
        return Err(AppError::bad_request(format!(
            "{what} {qty} is not valid; expected a number {low}, at most {MAX_QTY} with at most {MAX_QTY_DP} decimals"
        )));
    }
    Ok(())
}
