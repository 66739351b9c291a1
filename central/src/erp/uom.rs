//! Units of measure: per-item conversions to the item's base unit, pure (no I/O).
//!
//! A conversion `(from_uom, to_uom, factor)` says `1 from_uom = factor to_uom` (1 box = 12
//! pcs, 1 coil = 250 kg). Conversions work both ways and chain (pallet → box → pcs), so a
//! quantity in any unit linked to the base unit converts. Quantities are stored and planned in
//! the base unit only: a BOM line, inventory row, demand or receipt given in another unit is
//! converted when it is written, and refused, naming its row, when no conversion links the
//! units.

use super::mrp::QTY_DP;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// One conversion of an item: `1 from_uom = factor to_uom`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UomConversion {
    pub from_uom: String,
    pub to_uom: String,
    pub factor: Decimal,
}

/// Why a quantity cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UomError {
    #[error(
        "item {item:?} has no conversion from {from:?} to its base unit {base:?}; expected one imported with post /api/v1/import/uom_conversions or put /api/v1/items/{item}/uom-conversions"
    )]
    NoConversion {
        item: String,
        from: String,
        base: String,
    },
    #[error(
        "{qty} {from} of item {item:?} does not fit in its base unit {base:?}; expected a smaller quantity"
    )]
    Overflow {
        item: String,
        qty: Decimal,
        from: String,
        base: String,
    },
    #[error(
        "{qty} {from} of item {item:?} is below the smallest quantity of its base unit {base:?} ({QTY_DP} decimals); expected a larger quantity"
    )]
    Underflow {
        item: String,
        qty: Decimal,
        from: String,
        base: String,
    },
}

/// The factor that turns a quantity in `from` into one in `base`, following conversions both
/// ways (breadth first, so the shortest chain wins). `None` when no chain links them.
pub fn factor_to(conversions: &[UomConversion], from: &str, base: &str) -> Option<Decimal> {
    if from == base {
        return Some(Decimal::ONE);
    }
    let mut seen: Vec<&str> = vec![from];
    let mut queue: VecDeque<(&str, Decimal)> = VecDeque::from([(from, Decimal::ONE)]);
    while let Some((unit, factor)) = queue.pop_front() {
        for c in conversions {
            let step = if c.from_uom == unit {
                Some((c.to_uom.as_str(), factor.checked_mul(c.factor)))
            } else if c.to_uom == unit && !c.factor.is_zero() {
                Some((c.from_uom.as_str(), factor.checked_div(c.factor)))
            } else {
                None
            };
            let Some((next, Some(next_factor))) = step else {
                continue;
            };
            if next == base {
                return Some(next_factor);
            }
            if !seen.contains(&next) {
                seen.push(next);
                queue.push_back((next, next_factor));
            }
        }
    }
    None
}

/// `qty` of `item` in `from` as a quantity in its `base` unit, rounded to [`QTY_DP`]
/// decimals (half away from zero). A positive quantity never becomes 0.
pub fn to_base(
    item: &str,
    conversions: &[UomConversion],
    base: &str,
    from: &str,
    qty: Decimal,
) -> Result<Decimal, UomError> {
    if from.is_empty() || from == base {
        return Ok(qty);
    }
    let factor = factor_to(conversions, from, base).ok_or_else(|| UomError::NoConversion {
        item: item.to_owned(),
        from: from.to_owned(),
        base: base.to_owned(),
    })?;
    let converted = qty
        .checked_mul(factor)
        .ok_or_else(|| UomError::Overflow {
            item: item.to_owned(),
            qty,
            from: from.to_owned(),
            base: base.to_owned(),
        })?
        .round_dp_with_strategy(QTY_DP, RoundingStrategy::MidpointAwayFromZero)
        .normalize();
    if converted.is_zero() && !qty.is_zero() {
        return Err(UomError::Underflow {
            item: item.to_owned(),
            qty,
            from: from.to_owned(),
            base: base.to_owned(),
        });
    }
    Ok(converted)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(from: &str, to: &str, factor: &str) -> UomConversion {
        UomConversion {
            from_uom: from.into(),
            to_uom: to.into(),
            factor: factor.parse().unwrap(),
        }
    }

    fn q(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn converts_forward_backward_and_through_chains() {
        let c = [conv("box", "pcs", "12"), conv("pallet", "box", "40")];
        assert_eq!(to_base("S", &c, "pcs", "box", q("2")), Ok(q("24")));
        assert_eq!(to_base("S", &c, "pcs", "pallet", q("1")), Ok(q("480")));
        assert_eq!(to_base("S", &c, "box", "pcs", q("6")), Ok(q("0.5")));
        // 1 pcs = 1/12 box = 0.0833333… → 6 decimals.
        assert_eq!(to_base("S", &c, "box", "pcs", q("1")), Ok(q("0.083333")));
        assert_eq!(to_base("S", &c, "pcs", "pcs", q("7")), Ok(q("7")));
        assert_eq!(to_base("S", &c, "pcs", "", q("7")), Ok(q("7")));
        let coil = [conv("coil", "kg", "250")];
        assert_eq!(to_base("W", &coil, "kg", "coil", q("0.5")), Ok(q("125")));
    }

    #[test]
    fn a_unit_without_conversion_or_too_small_a_quantity_is_an_error() {
        let c = [conv("box", "pcs", "12")];
        let e = to_base("S", &c, "pcs", "kg", q("1")).unwrap_err();
        assert!(matches!(e, UomError::NoConversion { .. }));
        assert!(e.to_string().contains("\"kg\""), "{e}");
        let c = [conv("t", "g", "1000000")];
        assert!(matches!(
            to_base("S", &c, "t", "g", q("0.0000001")),
            Err(UomError::Underflow { .. })
        ));
    }
}
