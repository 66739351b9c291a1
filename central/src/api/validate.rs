//! Checks of request fields shared by the master-data and work-order routes: one wording for
//! the same mistake wherever it is made.

use super::error::AppError;
use crate::erp::import::{MAX_ID_LEN, MAX_QTY, MAX_QTY_DP};
use rust_decimal::Decimal;

/// An id: 1 to [`MAX_ID_LEN`] characters, no control characters.
pub(crate) fn check_id(what: &str, id: &str) -> Result<(), AppError> {
    if id.is_empty() || id.chars().count() > MAX_ID_LEN || id.chars().any(char::is_control) {
        return Err(AppError::bad_request(format!(
            "{what} {id:?} is not an id; expected 1 to {MAX_ID_LEN} characters without control characters"
        )));
    }
    Ok(())
}

/// Plain text: at most 1000 characters, no control characters.
pub(crate) fn check_text(what: &str, text: &str) -> Result<(), AppError> {
    if text.chars().count() > 1000 || text.chars().any(char::is_control) {
        return Err(AppError::bad_request(format!(
            "{what} is not plain text; expected at most 1000 characters without control characters"
        )));
    }
    Ok(())
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
