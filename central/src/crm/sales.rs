//! Quotations and sales orders as documents: their lines' amounts, totals and tax, the
//! states they go through, validity, what a quotation has had ordered, and the credit check
//! an order's confirmation makes. Pure: no I/O; amounts with checked arithmetic, rounded to
//! cents half away from zero (as a printed document shows them) line by line, totals summed
//! from the rounded lines.

use chrono::{Days, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Lines on one quotation or order.
pub const MAX_LINES: usize = 500;
/// A quotation is valid this many days unless it says otherwise.
pub const DEFAULT_VALIDITY_DAYS: u64 = 30;
/// The longest validity a quotation may give.
pub const MAX_VALIDITY_DAYS: u64 = 366;

/// Where a quotation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuoteStatus {
    /// Being written: lines and prices change.
    Draft,
    /// Sent to the customer: never changes again (a change is a new revision).
    Sent,
    /// The customer said yes (an order was made from it, whole or in part).
    Accepted,
    Rejected,
    /// A newer revision replaced it.
    Superseded,
}

impl QuoteStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            QuoteStatus::Draft => "draft",
            QuoteStatus::Sent => "sent",
            QuoteStatus::Accepted => "accepted",
            QuoteStatus::Rejected => "rejected",
            QuoteStatus::Superseded => "superseded",
        }
    }

    pub fn parse(s: &str) -> Option<QuoteStatus> {
        [
            QuoteStatus::Draft,
            QuoteStatus::Sent,
            QuoteStatus::Accepted,
            QuoteStatus::Rejected,
            QuoteStatus::Superseded,
        ]
        .into_iter()
        .find(|q| q.as_str() == s)
    }

    /// Open: its prices are still an offer (flagged when ERP changes them).
    pub fn is_open(self) -> bool {
        matches!(self, QuoteStatus::Draft | QuoteStatus::Sent)
    }
}

/// Where a sales order is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Entered, not yet promised: prices may still be re-priced.
    Draft,
    /// Confirmed with promise dates: demand for MRP, its prices fixed.
    Confirmed,
    /// Everything shipped.
    Completed,
    Cancelled,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::Draft => "draft",
            OrderStatus::Confirmed => "confirmed",
            OrderStatus::Completed => "completed",
            OrderStatus::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        [
            OrderStatus::Draft,
            OrderStatus::Confirmed,
            OrderStatus::Completed,
            OrderStatus::Cancelled,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// Money as a document shows it: 2 decimals, half away from zero.
pub fn cents(value: Decimal) -> Decimal {
    value.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// `qty × unit price × (1 − discount %)`, in cents; `None` when it overflows.
pub fn line_net(qty: Decimal, unit_price: Decimal, discount_pct: Decimal) -> Option<Decimal> {
    let gross = qty.checked_mul(unit_price)?;
    let keep = Decimal::ONE_HUNDRED.checked_sub(discount_pct)?;
    let net = gross.checked_mul(keep)?.checked_div(Decimal::ONE_HUNDRED)?;
    Some(cents(net))
}

/// A document's totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
}

/// The sum of the lines' nets, the tax at `tax_pct` on it (in cents), and both; `None` on
/// overflow.
pub fn totals(nets: impl IntoIterator<Item = Decimal>, tax_pct: Decimal) -> Option<Totals> {
    let mut net = Decimal::ZERO;
    for n in nets {
        net = net.checked_add(n)?;
    }
    let tax = cents(
        net.checked_mul(tax_pct)?
            .checked_div(Decimal::ONE_HUNDRED)?,
    );
    Some(Totals {
        net,
        tax,
        gross: net.checked_add(tax)?,
    })
}

/// A line as entered: checked before it is priced.
pub fn check_line(
    n: usize,
    qty: Decimal,
    unit_price: Option<Decimal>,
    discount_pct: Decimal,
) -> Vec<String> {
    let mut problems = Vec::new();
    if qty <= Decimal::ZERO || qty > protocol::bounds::MAX_QTY {
        problems.push(format!(
            "lines[{n}].qty: {qty}; expected more than 0 and at most {}",
            protocol::bounds::MAX_QTY
        ));
    }
    if qty.normalize().scale() > protocol::bounds::QTY_SCALE {
        problems.push(format!(
            "lines[{n}].qty: {qty} has more than {} decimals",
            protocol::bounds::QTY_SCALE
        ));
    }
    if let Some(p) = unit_price {
        if p < Decimal::ZERO || p > super::customers::MAX_MONEY {
            problems.push(format!("lines[{n}].unit_price: {p}; expected 0 or more"));
        }
        if p.normalize().scale() > 6 {
            problems.push(format!(
                "lines[{n}].unit_price: {p} has more than 6 decimals"
            ));
        }
    }
    if discount_pct < Decimal::ZERO || discount_pct > Decimal::ONE_HUNDRED {
        problems.push(format!(
            "lines[{n}].discount_pct: {discount_pct}; expected 0 to 100"
        ));
    }
    if discount_pct.normalize().scale() > 2 {
        problems.push(format!(
            "lines[{n}].discount_pct: {discount_pct} has more than 2 decimals"
        ));
    }
    problems
}

/// The last day a quotation made on `date` is valid: `days` later (30 unless given).
pub fn valid_until(date: NaiveDate, days: Option<u64>) -> Result<NaiveDate, String> {
    let days = days.unwrap_or(DEFAULT_VALIDITY_DAYS);
    if days == 0 || days > MAX_VALIDITY_DAYS {
        return Err(format!(
            "valid_days: {days}; expected 1 to {MAX_VALIDITY_DAYS}"
        ));
    }
    date.checked_add_days(Days::new(days))
        .ok_or_else(|| "valid_days: past the calendar's end".into())
}

/// Whether a quotation valid until `until` has expired on `today`.
pub fn expired(until: NaiveDate, today: NaiveDate) -> bool {
    today > until
}

/// What a customer owes and has ordered against their credit limit, when an order would go
/// over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditRefusal {
    pub limit: Decimal,
    /// Confirmed orders not yet shipped, in the customer's currency.
    pub open_orders: Decimal,
    pub this_order: Decimal,
    /// By how much the limit would be passed.
    pub over_by: Decimal,
}

impl std::fmt::Display for CreditRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the order would pass the customer's credit limit of {} by {}: open orders {} + this order {}",
            self.limit, self.over_by, self.open_orders, self.this_order
        )
    }
}

/// The credit check of a confirmation: open orders plus this one within the limit (exactly at
/// the limit passes). No limit: nothing to check. An overflow is a refusal.
pub fn credit_check(
    limit: Option<Decimal>,
    open_orders: Decimal,
    this_order: Decimal,
) -> Result<(), CreditRefusal> {
    let Some(limit) = limit else {
        return Ok(());
    };
    let exposure = open_orders.checked_add(this_order);
    match exposure {
        Some(e) if e <= limit => Ok(()),
        _ => Err(CreditRefusal {
            limit,
            open_orders,
            this_order,
            over_by: exposure.map_or(Decimal::MAX, |e| e - limit),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn amounts_are_cents_and_sums_of_rounded_lines() {
        assert_eq!(line_net(d("3"), d("19.99"), d("0")), Some(d("59.97")));
        // 7 × 1.015 × 0.9 = 6.3945 → 6.39; half away from zero at the cent.
        assert_eq!(line_net(d("7"), d("1.015"), d("10")), Some(d("6.39")));
        assert_eq!(line_net(d("1"), d("0.125"), d("0")), Some(d("0.13")));
        assert_eq!(line_net(d("2"), d("50"), d("100")), Some(d("0")));
        assert_eq!(line_net(Decimal::MAX, d("2"), d("0")), None);
        let t = totals([d("59.97"), d("6.39")], d("13")).unwrap();
        assert_eq!(t.net, d("66.36"));
        assert_eq!(t.tax, d("8.63")); // 8.6268
        assert_eq!(t.gross, d("74.99"));
        assert_eq!(totals([Decimal::MAX, Decimal::MAX], d("0")), None);
    }

    #[test]
    fn lines_are_checked() {
        let p = check_line(1, d("0"), Some(d("-1")), d("101"));
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(check_line(1, d("1.5"), Some(d("2.25")), d("5.5")).is_empty());
        assert_eq!(check_line(2, d("1.1234567"), None, d("0.125")).len(), 2);
    }

    #[test]
    fn validity_and_expiry() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(
            valid_until(day, None).unwrap(),
            NaiveDate::from_ymd_opt(2027, 1, 6).unwrap()
        );
        assert!(valid_until(day, Some(0)).is_err());
        assert!(valid_until(day, Some(400)).is_err());
        let until = valid_until(day, Some(1)).unwrap();
        assert!(!expired(until, until));
        assert!(expired(until, until.succ_opt().unwrap()));
    }

    #[test]
    fn credit_limit_is_inclusive_and_refusals_carry_the_figures() {
        assert_eq!(credit_check(None, d("1e9"), d("1")), Ok(()));
        assert_eq!(credit_check(Some(d("1000")), d("600"), d("400")), Ok(()));
        let r = credit_check(Some(d("1000")), d("600"), d("400.01")).unwrap_err();
        assert_eq!(r.over_by, d("0.01"));
        assert_eq!(
            r.to_string(),
            "the order would pass the customer's credit limit of 1000 by 0.01: open orders 600 + this order 400.01"
        );
        assert!(credit_check(Some(d("1")), Decimal::MAX, d("1")).is_err());
    }
}
