//! Price lists, exchange rates and tax rates, and which price applies (issue 16). Pure: no
//! I/O; the store keeps the rows ([`crate::store::prices`]), the API reads and checks what
//! people send (`api/prices.rs`).
//!
//! - A price row ([`Price`]) is the unit price of an item in a currency for a scope (the list
//!   price for everyone, a customer group, one customer), from a quantity break (`min_qty`, in
//!   the item's base unit) and over a validity (`valid_from` to an inclusive `valid_to`, or
//!   open). Two rows of the same item, currency, scope and `min_qty` whose validities overlap
//!   are refused, naming both ([`overlaps`]).
//! - Which price applies ([`resolve`]): the customer's price beats the group's, which beats the
//!   list price; within the first scope that has one, the row valid on the date with the
//!   highest `min_qty` at or below the quantity. The row used is returned, so a document can
//!   say where its price came from; no price is a reason ([`NoPrice`]), never a zero.
//! - Exchange rates ([`ExchangeRate`]): the rate in force on a date is the latest whose
//!   `valid_from` is on or before it, per direction (a rate is stored per direction; the
//!   inverse is not derived, since banks quote both sides apart).
//! - Tax rates ([`TaxRate`]): a code's rate in force on a date, the same rule; a line's net,
//!   tax and gross ([`amounts`]).
//!
//! **Money is rounded half away from zero to 2 decimals** ([`round_money`]), whatever the
//! currency: the commercial rounding of invoices (四舍五入), not the banker's rounding of
//! statistics. Tax is worked out on the rounded net of the line and rounded once, so
//! `gross = net + tax` holds to the cent. Every sum and product is checked: inputs are bounded
//! ([`MAX_PRICE`], [`MAX_QTY`], [`MAX_RATE`]) far below what a `Decimal` holds, and an
//! arithmetic failure is an [`AmountError`], never a panic.

use crate::erp::import::{Line, MAX_QTY, MAX_QTY_DP, RowError, read_rows};
use chrono::NaiveDate;
use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;

/// The largest unit price, in any currency.
pub const MAX_PRICE: i64 = 1_000_000_000;
/// Most decimals a unit price has.
pub const MAX_PRICE_DP: u32 = 6;
/// The largest exchange rate, and most decimals one has.
pub const MAX_RATE: i64 = 1_000_000_000;
pub const MAX_RATE_DP: u32 = 10;
/// Decimals money is rounded to.
pub const MONEY_DP: u32 = 2;

/// Whom a price row is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PriceScope {
    /// A customer's own price (by customer code).
    Customer(String),
    /// A customer group's price.
    Group(String),
    /// The list price, for everyone.
    List,
}

impl PriceScope {
    /// `list`, `group` or `customer`: how the store and the API name the kind.
    pub fn kind(&self) -> &'static str {
        match self {
            PriceScope::Customer(_) => "customer",
            PriceScope::Group(_) => "group",
            PriceScope::List => "list",
        }
    }

    /// The customer code or group; empty for the list price.
    pub fn code(&self) -> &str {
        match self {
            PriceScope::Customer(c) | PriceScope::Group(c) => c,
            PriceScope::List => "",
        }
    }

    /// The scope of a stored `(kind, code)`.
    pub fn from_parts(kind: &str, code: &str) -> Option<PriceScope> {
        match kind {
            "customer" => Some(PriceScope::Customer(code.to_owned())),
            "group" => Some(PriceScope::Group(code.to_owned())),
            "list" if code.is_empty() => Some(PriceScope::List),
            _ => None,
        }
    }
}

impl fmt::Display for PriceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriceScope::Customer(c) => write!(f, "customer {c:?}"),
            PriceScope::Group(g) => write!(f, "group {g:?}"),
            PriceScope::List => f.write_str("the list price"),
        }
    }
}

/// What a price change concerns: documents using the item in this currency and scope may
/// need re-pricing ([`crate::store::sql`]'s `prices_changed_in`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PriceKey {
    pub item: String,
    pub currency: String,
    pub scope: PriceScope,
}

/// One row of a price list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(into = "PriceWire")]
pub struct Price {
    pub item: String,
    /// ISO 4217: three uppercase letters.
    pub currency: String,
    pub scope: PriceScope,
    /// The quantity break: the row applies from this quantity on (base unit; 0: any).
    pub min_qty: Decimal,
    /// The price of one base unit, above 0.
    pub unit_price: Decimal,
    pub valid_from: NaiveDate,
    /// The last day it applies (inclusive); `None`: open.
    pub valid_to: Option<NaiveDate>,
}

/// How a price row is answered: the scope as `customer` or `group` (neither: the list price).
#[derive(Serialize)]
struct PriceWire {
    item: String,
    currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    customer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    scope: &'static str,
    min_qty: Decimal,
    price: Decimal,
    valid_from: NaiveDate,
    valid_to: Option<NaiveDate>,
}

impl From<Price> for PriceWire {
    fn from(p: Price) -> PriceWire {
        let scope = p.scope.kind();
        let (customer, group) = match p.scope {
            PriceScope::Customer(c) => (Some(c), None),
            PriceScope::Group(g) => (None, Some(g)),
            PriceScope::List => (None, None),
        };
        PriceWire {
            item: p.item,
            currency: p.currency,
            customer,
            group,
            scope,
            min_qty: p.min_qty.normalize(),
            price: p.unit_price.normalize(),
            valid_from: p.valid_from,
            valid_to: p.valid_to,
        }
    }
}

impl Price {
    pub fn key(&self) -> PriceKey {
        PriceKey {
            item: self.item.clone(),
            currency: self.currency.clone(),
            scope: self.scope.clone(),
        }
    }

    /// Whether the row applies on `date` (both ends inclusive).
    pub fn valid_on(&self, date: NaiveDate) -> bool {
        self.valid_from <= date && self.valid_to.is_none_or(|to| date <= to)
    }

    /// `2027-01-01 to 2027-12-31`, `2027-01-01 to open`.
    pub fn validity(&self) -> String {
        match self.valid_to {
            Some(to) => format!("{} to {to}", self.valid_from),
            None => format!("{} to open", self.valid_from),
        }
    }
}

/// A stored price row and its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredPrice {
    pub id: i64,
    #[serde(flatten)]
    pub price: Price,
}

/// A field that is not valid, and why (lowercase, naming what was expected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    fn new(field: &str, message: String) -> Problem {
        Problem {
            field: field.to_owned(),
            message,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A price row as text, as a CSV row or a request body gives it (empty: absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawPrice<'a> {
    pub item: &'a str,
    pub currency: &'a str,
    pub customer: &'a str,
    pub group: &'a str,
    pub min_qty: &'a str,
    pub price: &'a str,
    pub valid_from: &'a str,
    pub valid_to: &'a str,
}

/// Shown instead of a value too long or odd to quote whole.
fn quoted(s: &str) -> String {
    format!("{:?}", protocol::bounds::sanitize(s, 64, false))
}

/// A plain decimal (`12`, `0.5`, `-3`), at most `max_int_digits` digits before the point
/// and `max_dp` after. No exponent, no thousands separator.
pub fn parse_decimal(s: &str, max_int_digits: usize, max_dp: u32) -> Option<Decimal> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !int.is_empty()
        && int.len() <= max_int_digits
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= max_dp as usize;
    if !plain || (digits.contains('.') && frac.is_empty()) {
        return None;
    }
    s.parse::<Decimal>().ok().map(|d| d.normalize())
}

/// A date as `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if s.len() != 10 {
        return None;
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// An ISO 4217 code: three uppercase ASCII letters.
pub fn check_currency(field: &str, s: &str) -> Result<(), Problem> {
    if s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Problem::new(
            field,
            format!(
                "{field} {} is not a currency; expected an ISO 4217 code of three uppercase letters, like CNY",
                quoted(s)
            ),
        ))
    }
}

fn check_id(field: &str, s: &str) -> Result<(), Problem> {
    protocol::bounds::check_id(field, s)
        .map_err(|v| Problem::new(field, format!("{field} {}", v.problem)))
}

fn date(field: &str, s: &str, problems: &mut Vec<Problem>) -> Option<NaiveDate> {
    parse_date(s).or_else(|| {
        problems.push(Problem::new(
            field,
            format!("{field} {} is not a date; expected YYYY-MM-DD", quoted(s)),
        ));
        None
    })
}

/// A quantity of at least 0, at most [`MAX_QTY`] with at most [`MAX_QTY_DP`] decimals.
pub fn parse_qty(field: &str, s: &str) -> Result<Decimal, Problem> {
    match parse_decimal(s, 13, MAX_QTY_DP) {
        Some(q) if q >= Decimal::ZERO && q <= Decimal::from(MAX_QTY) => Ok(q),
        _ => Err(Problem::new(
            field,
            format!(
                "{field} {} is not valid; expected a number of at least 0, at most {MAX_QTY} with at most {MAX_QTY_DP} decimals",
                quoted(s)
            ),
        )),
    }
}

/// Reads and checks a price row, naming every problem.
pub fn read_price(raw: RawPrice<'_>) -> Result<Price, Vec<Problem>> {
    let mut problems = Vec::new();
    if let Err(p) = check_id("item", raw.item) {
        problems.push(p);
    }
    if let Err(p) = check_currency("currency", raw.currency) {
        problems.push(p);
    }
    for (field, code) in [("customer", raw.customer), ("group", raw.group)] {
        if !code.is_empty()
            && let Err(p) = check_id(field, code)
        {
            problems.push(p);
        }
    }
    let scope = match (raw.customer, raw.group) {
        ("", "") => Some(PriceScope::List),
        (customer, "") => Some(PriceScope::Customer(customer.to_owned())),
        ("", group) => Some(PriceScope::Group(group.to_owned())),
        _ => {
            problems.push(Problem::new(
                "group",
                "a price is for a customer or for a group, not both; expected one of them, or neither for the list price".to_owned(),
            ));
            None
        }
    };
    let min_qty = if raw.min_qty.is_empty() {
        Some(Decimal::ZERO)
    } else {
        parse_qty("min_qty", raw.min_qty)
            .map_err(|p| problems.push(p))
            .ok()
    };
    let unit_price = match parse_decimal(raw.price, 10, MAX_PRICE_DP) {
        Some(p) if p > Decimal::ZERO && p <= Decimal::from(MAX_PRICE) => Some(p),
        _ => {
            problems.push(Problem::new(
                "price",
                format!(
                    "price {} is not valid; expected a number above 0, at most {MAX_PRICE} with at most {MAX_PRICE_DP} decimals",
                    quoted(raw.price)
                ),
            ));
            None
        }
    };
    let valid_from = date("valid_from", raw.valid_from, &mut problems);
    let valid_to = if raw.valid_to.is_empty() {
        Some(None)
    } else {
        date("valid_to", raw.valid_to, &mut problems).map(Some)
    };
    if let (Some(from), Some(Some(to))) = (valid_from, valid_to)
        && to < from
    {
        problems.push(Problem::new(
            "valid_to",
            format!("valid_to {to} is before valid_from {from}; expected the last day the price applies, on or after its first"),
        ));
    }
    match (scope, min_qty, unit_price, valid_from, valid_to) {
        (Some(scope), Some(min_qty), Some(unit_price), Some(valid_from), Some(valid_to))
            if problems.is_empty() =>
        {
            Ok(Price {
                item: raw.item.to_owned(),
                currency: raw.currency.to_owned(),
                scope,
                min_qty,
                unit_price,
                valid_from,
                valid_to,
            })
        }
        _ => Err(problems),
    }
}

/// Where a row of an overlap check comes from, to name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowRef {
    /// A line of the CSV being imported.
    Line(u64),
    /// A stored row, by id.
    Stored(i64),
    /// The row being added.
    New,
    /// A stored row being changed (ended later or sooner), by id: checked against the other
    /// stored rows.
    Changed(i64),
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowRef::Line(n) => write!(f, "line {n}"),
            RowRef::Stored(id) => write!(f, "stored price {id}"),
            RowRef::New => f.write_str("the new price"),
            RowRef::Changed(id) => write!(f, "stored price {id}"),
        }
    }
}

/// Two rows of the same item, currency, scope and quantity break whose validities overlap:
/// `row` starts on or after `other`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    pub row: RowRef,
    pub row_validity: String,
    pub other: RowRef,
    pub other_validity: String,
    pub key: PriceKey,
    pub min_qty: Decimal,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = match (self.row, self.other) {
            (RowRef::Line(_) | RowRef::New, RowRef::Stored(id)) => {
                format!("end stored price {id} first (post /api/v1/prices/{id}/end)")
            }
            _ => "end one before the other starts".to_owned(),
        };
        write!(
            f,
            "{} ({}) overlaps {} ({}): both are {} of item {:?} in {} from quantity {}; expected validities that do not overlap, so {end}",
            self.row,
            self.row_validity,
            self.other,
            self.other_validity,
            self.key.scope,
            self.key.item,
            self.key.currency,
            self.min_qty.normalize(),
        )
    }
}

impl Overlap {
    /// As an import's row error: at the line of the file's row (the later one when both are).
    pub fn row_error(&self) -> RowError {
        let (line, this, that) = match (self.row, self.other) {
            (RowRef::Line(n), _) => (n, self.row, self.other),
            (_, RowRef::Line(n)) => (n, self.other, self.row),
            _ => (0, self.row, self.other),
        };
        let (this_validity, that_validity) = if this == self.row {
            (&self.row_validity, &self.other_validity)
        } else {
            (&self.other_validity, &self.row_validity)
        };
        let swapped = Overlap {
            row: this,
            row_validity: this_validity.clone(),
            other: that,
            other_validity: that_validity.clone(),
            key: self.key.clone(),
            min_qty: self.min_qty,
        };
        RowError::new(line, "valid_from", swapped.to_string())
    }
}

/// Every row that overlaps another of the same item, currency, scope and `min_qty`, with one
/// row it overlaps (so every overlap is named by both its rows, though a row overlapping
/// several is named once). Overlaps between two stored rows are not reported (the store never
/// holds one). O(n log n).
pub fn overlaps(rows: &[(RowRef, &Price)]) -> Vec<Overlap> {
    let mut sorted: Vec<&(RowRef, &Price)> = rows.iter().collect();
    sorted.sort_by(|(ra, a), (rb, b)| {
        (&a.item, &a.currency, &a.scope)
            .cmp(&(&b.item, &b.currency, &b.scope))
            .then(a.min_qty.cmp(&b.min_qty))
            .then(a.valid_from.cmp(&b.valid_from))
            .then(ra.cmp(rb))
    });
    let mut found = Vec::new();
    // The row of the current key that runs longest so far: every later row of the key that
    // starts on or before its end overlaps it.
    let mut longest: Option<&(RowRef, &Price)> = None;
    for entry in sorted {
        let (row, price) = entry;
        if let Some(prev) = longest {
            let (other, before) = prev;
            let same_key = before.item == price.item
                && before.currency == price.currency
                && before.scope == price.scope
                && before.min_qty == price.min_qty;
            if !same_key {
                longest = Some(entry);
                continue;
            }
            let overlapping = before.valid_to.is_none_or(|to| price.valid_from <= to);
            let both_stored = matches!((row, other), (RowRef::Stored(_), RowRef::Stored(_)));
            if overlapping && !both_stored {
                found.push(Overlap {
                    row: *row,
                    row_validity: price.validity(),
                    other: *other,
                    other_validity: before.validity(),
                    key: price.key(),
                    min_qty: price.min_qty,
                });
            }
            longest = Some(if ends_later(price.valid_to, before.valid_to) {
                entry
            } else {
                prev
            });
        } else {
            longest = Some(entry);
        }
    }
    found
}

/// Whether an inclusive end `a` is later than `b` (`None` is open, the latest).
fn ends_later(a: Option<NaiveDate>, b: Option<NaiveDate>) -> bool {
    match (a, b) {
        (_, None) => false,
        (None, Some(_)) => true,
        (Some(a), Some(b)) => a > b,
    }
}

/// The columns of a price list file, and those that may be left out.
pub const CSV_REQUIRED: [&str; 4] = ["item", "currency", "price", "valid_from"];
pub const CSV_OPTIONAL: [&str; 4] = ["customer", "group", "min_qty", "valid_to"];

/// Parses a price list file: `item,currency,customer,group,min_qty,price,valid_from,valid_to`
/// (any order; `customer`, `group`, `min_qty` and `valid_to` may be left out or empty: the list
/// price, no quantity break, open). Every bad cell is named by line and column, and rows of
/// the file that overlap each other by both lines. `Err` holds every error (at most
/// [`crate::erp::import::MAX_REPORTED_ERRORS`]) and the total.
pub fn parse_csv(text: &[u8]) -> Result<Vec<Line<Price>>, (Vec<RowError>, usize)> {
    let mut rows = Vec::new();
    let mut errors = read_rows(
        text,
        &CSV_REQUIRED,
        &CSV_OPTIONAL,
        "item,currency,customer,group,min_qty,price,valid_from,valid_to",
        |line, record, index, errors| {
            let cell = |column: &str| index.get(column).and_then(|&i| record.get(i)).unwrap_or("");
            let raw = RawPrice {
                item: cell("item"),
                currency: cell("currency"),
                customer: cell("customer"),
                group: cell("group"),
                min_qty: cell("min_qty"),
                price: cell("price"),
                valid_from: cell("valid_from"),
                valid_to: cell("valid_to"),
            };
            match read_price(raw) {
                Ok(row) => rows.push(Line { line, row }),
                Err(problems) => errors.extend(
                    problems
                        .into_iter()
                        .map(|p| RowError::new(line, &p.field, p.message)),
                ),
            }
        },
    );
    let refs: Vec<(RowRef, &Price)> = rows
        .iter()
        .map(|l| (RowRef::Line(l.line), &l.row))
        .collect();
    errors.extend(overlaps(&refs).iter().map(Overlap::row_error));
    if errors.is_empty() {
        Ok(rows)
    } else {
        errors.sort_by_key(|e| e.line);
        let total = errors.len();
        errors.truncate(crate::erp::import::MAX_REPORTED_ERRORS);
        Err((errors, total))
    }
}

/// What a price is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceQuery {
    pub item: String,
    pub currency: String,
    pub customer: Option<String>,
    pub group: Option<String>,
    /// In the item's base unit.
    pub qty: Decimal,
    pub date: NaiveDate,
}

/// Why there is no price.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoPrice {
    /// No row of the item in the currency for the customer, their group or the list.
    NoRows { item: String, currency: String },
    /// Rows exist, but none is valid on the date.
    NotValidOn {
        item: String,
        currency: String,
        date: NaiveDate,
    },
    /// Rows are valid on the date, but every quantity break is above the quantity.
    BelowBreaks {
        item: String,
        currency: String,
        qty: Decimal,
        smallest: Decimal,
    },
}

impl fmt::Display for NoPrice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NoPrice::NoRows { item, currency } => write!(
                f,
                "no price for item {item:?} in {currency}: no list, group or customer price row; expected a price list row for it"
            ),
            NoPrice::NotValidOn {
                item,
                currency,
                date,
            } => write!(
                f,
                "no price for item {item:?} in {currency} on {date}: no row that applies is valid on that date; expected a row whose validity covers it"
            ),
            NoPrice::BelowBreaks {
                item,
                currency,
                qty,
                smallest,
            } => write!(
                f,
                "no price for item {item:?} in {currency} for quantity {qty}: the smallest quantity break valid then is {smallest}; expected a row from a lower quantity"
            ),
        }
    }
}

/// The price row that applies to `query` among `rows` (any rows; those of other items,
/// currencies, customers and groups are passed over): the customer's, else the group's, else
/// the list price; within that scope, of the rows valid on the date, the one with the highest
/// `min_qty` at or below the quantity (on a tie, which only stored overlaps could make, the
/// latest `valid_from`, then the highest id).
pub fn resolve<'a>(
    rows: &'a [StoredPrice],
    query: &PriceQuery,
) -> Result<&'a StoredPrice, NoPrice> {
    let applies = |scope: &PriceScope| match scope {
        PriceScope::Customer(c) => query.customer.as_deref() == Some(c.as_str()),
        PriceScope::Group(g) => query.group.as_deref() == Some(g.as_str()),
        PriceScope::List => true,
    };
    let candidates: Vec<&StoredPrice> = rows
        .iter()
        .filter(|r| {
            r.price.item == query.item
                && r.price.currency == query.currency
                && applies(&r.price.scope)
        })
        .collect();
    if candidates.is_empty() {
        return Err(NoPrice::NoRows {
            item: query.item.clone(),
            currency: query.currency.clone(),
        });
    }
    let valid: Vec<&StoredPrice> = candidates
        .into_iter()
        .filter(|r| r.price.valid_on(query.date))
        .collect();
    if valid.is_empty() {
        return Err(NoPrice::NotValidOn {
            item: query.item.clone(),
            currency: query.currency.clone(),
            date: query.date,
        });
    }
    let rank = |scope: &PriceScope| match scope {
        PriceScope::Customer(_) => 0,
        PriceScope::Group(_) => 1,
        PriceScope::List => 2,
    };
    for level in 0..3 {
        let best = valid
            .iter()
            .filter(|r| rank(&r.price.scope) == level && r.price.min_qty <= query.qty)
            .max_by(|a, b| {
                a.price
                    .min_qty
                    .cmp(&b.price.min_qty)
                    .then(a.price.valid_from.cmp(&b.price.valid_from))
                    .then(a.id.cmp(&b.id))
            });
        if let Some(best) = best {
            return Ok(*best);
        }
    }
    let smallest = valid
        .iter()
        .map(|r| r.price.min_qty)
        .min()
        .unwrap_or(Decimal::ZERO);
    Err(NoPrice::BelowBreaks {
        item: query.item.clone(),
        currency: query.currency.clone(),
        qty: query.qty.normalize(),
        smallest: smallest.normalize(),
    })
}

/// An amount that cannot be worked out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("the amount is too large to work out; expected a smaller quantity or price")]
    TooLarge,
}

/// Money rounded to [`MONEY_DP`] decimals, half away from zero (commercial rounding), and
/// written with them (`125.00`).
pub fn round_money(amount: Decimal) -> Decimal {
    let mut money = amount.round_dp_with_strategy(MONEY_DP, RoundingStrategy::MidpointAwayFromZero);
    money.rescale(MONEY_DP);
    money
}

/// A line's money: the net (quantity × unit price, rounded), the tax on the net (rounded)
/// and the gross (their sum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Amounts {
    pub net: Decimal,
    pub tax: Decimal,
    pub gross: Decimal,
}

/// The net, tax and gross of `qty` at `unit_price` with a tax rate of `rate_pct` percent (0
/// when none applies).
pub fn amounts(
    qty: Decimal,
    unit_price: Decimal,
    rate_pct: Decimal,
) -> Result<Amounts, AmountError> {
    let net = round_money(qty.checked_mul(unit_price).ok_or(AmountError::TooLarge)?);
    let tax = round_money(
        net.checked_mul(rate_pct)
            .and_then(|t| t.checked_div(Decimal::ONE_HUNDRED))
            .ok_or(AmountError::TooLarge)?,
    );
    let gross = net.checked_add(tax).ok_or(AmountError::TooLarge)?;
    Ok(Amounts { net, tax, gross })
}

/// The rate of one currency in another from a date on: 1 `from` is `rate` `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExchangeRate {
    pub from: String,
    pub to: String,
    pub rate: Decimal,
    pub valid_from: NaiveDate,
}

/// Reads and checks an exchange rate, naming every problem (fields prefixed with `at`).
pub fn read_exchange_rate(
    at: &str,
    from: &str,
    to: &str,
    rate: &str,
    valid_from: &str,
) -> Result<ExchangeRate, Vec<Problem>> {
    let mut problems = Vec::new();
    let field = |name: &str| format!("{at}{name}");
    for (name, code) in [("from", from), ("to", to)] {
        if let Err(p) = check_currency(&field(name), code) {
            problems.push(p);
        }
    }
    if from == to && problems.is_empty() {
        problems.push(Problem::new(
            &field("to"),
            format!(
                "{} is {from} like from; expected another currency (a currency is worth itself)",
                field("to")
            ),
        ));
    }
    let rate_value = match parse_decimal(rate, 10, MAX_RATE_DP) {
        Some(r) if r > Decimal::ZERO && r <= Decimal::from(MAX_RATE) => Some(r),
        _ => {
            problems.push(Problem::new(
                &field("rate"),
                format!(
                    "{} {} is not valid; expected a number above 0, at most {MAX_RATE} with at most {MAX_RATE_DP} decimals",
                    field("rate"),
                    quoted(rate)
                ),
            ));
            None
        }
    };
    let valid_from = date(&field("valid_from"), valid_from, &mut problems);
    match (rate_value, valid_from) {
        (Some(rate), Some(valid_from)) if problems.is_empty() => Ok(ExchangeRate {
            from: from.to_owned(),
            to: to.to_owned(),
            rate,
            valid_from,
        }),
        _ => Err(problems),
    }
}

/// The rate from `from` to `to` in force on `date`: the latest `valid_from` on or before it.
pub fn rate_on<'a>(
    rates: &'a [ExchangeRate],
    from: &str,
    to: &str,
    date: NaiveDate,
) -> Option<&'a ExchangeRate> {
    rates
        .iter()
        .filter(|r| r.from == from && r.to == to && r.valid_from <= date)
        .max_by_key(|r| r.valid_from)
}

/// Why an amount cannot be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error(
        "no exchange rate from {from} to {to} on or before {date}; expected one put at /api/v1/exchange-rates"
    )]
    NoRate {
        from: String,
        to: String,
        date: NaiveDate,
    },
    #[error(transparent)]
    Amount(#[from] AmountError),
}

/// `amount` in `from` as `to` on `date`, rounded as money, with the rate used (`None`: the
/// same currency).
pub fn convert<'a>(
    rates: &'a [ExchangeRate],
    amount: Decimal,
    from: &str,
    to: &str,
    date: NaiveDate,
) -> Result<(Decimal, Option<&'a ExchangeRate>), ConvertError> {
    if from == to {
        return Ok((round_money(amount), None));
    }
    let rate = rate_on(rates, from, to, date).ok_or_else(|| ConvertError::NoRate {
        from: from.to_owned(),
        to: to.to_owned(),
        date,
    })?;
    let converted = amount.checked_mul(rate.rate).ok_or(AmountError::TooLarge)?;
    Ok((round_money(converted), Some(rate)))
}

/// A tax rate from a date on (a code keeps its history: China's VAT went from 16 % to 13 %
/// on 2019-04-01).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TaxRate {
    pub code: String,
    pub name: String,
    /// 0 to 100.
    pub rate_pct: Decimal,
    pub valid_from: NaiveDate,
}

/// Reads and checks a tax rate, naming every problem (fields prefixed with `at`).
pub fn read_tax_rate(
    at: &str,
    code: &str,
    name: &str,
    rate_pct: &str,
    valid_from: &str,
) -> Result<TaxRate, Vec<Problem>> {
    let mut problems = Vec::new();
    let field = |n: &str| format!("{at}{n}");
    if let Err(p) = check_id(&field("code"), code) {
        problems.push(p);
    }
    if let Err(v) = protocol::bounds::check_text(&field("name"), name) {
        problems.push(Problem::new(
            &field("name"),
            format!("{} {}", v.field, v.problem),
        ));
    }
    let rate = match parse_decimal(rate_pct, 3, MAX_QTY_DP) {
        Some(r) if r >= Decimal::ZERO && r <= Decimal::ONE_HUNDRED => Some(r),
        _ => {
            problems.push(Problem::new(
                &field("rate_pct"),
                format!(
                    "{} {} is not valid; expected a percentage from 0 to 100 with at most {MAX_QTY_DP} decimals",
                    field("rate_pct"),
                    quoted(rate_pct)
                ),
            ));
            None
        }
    };
    let valid_from = date(&field("valid_from"), valid_from, &mut problems);
    match (rate, valid_from) {
        (Some(rate_pct), Some(valid_from)) if problems.is_empty() => Ok(TaxRate {
            code: code.to_owned(),
            name: name.to_owned(),
            rate_pct,
            valid_from,
        }),
        _ => Err(problems),
    }
}

/// The rate of tax `code` in force on `date`: the latest `valid_from` on or before it.
pub fn tax_on<'a>(rates: &'a [TaxRate], code: &str, date: NaiveDate) -> Option<&'a TaxRate> {
    rates
        .iter()
        .filter(|r| r.code == code && r.valid_from <= date)
        .max_by_key(|r| r.valid_from)
}

/// Rows of a file that repeat a stored row exactly (same key, quantity break, validity and
/// price): an import of the same file again changes nothing. The lines of those rows.
pub fn unchanged_lines(file: &[Line<Price>], stored: &[StoredPrice]) -> Vec<u64> {
    let mut by_key: HashMap<PriceKey, Vec<&Price>> = HashMap::new();
    for s in stored {
        by_key.entry(s.price.key()).or_default().push(&s.price);
    }
    file.iter()
        .filter(|l| {
            by_key
                .get(&l.row.key())
                .is_some_and(|rows| rows.iter().any(|s| **s == l.row))
        })
        .map(|l| l.line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        parse_date(s).unwrap()
    }

    /// A row from `item,currency,customer,group,min_qty,price,valid_from,valid_to`.
    fn row(csv: &str) -> Price {
        let c: Vec<&str> = csv.split(',').collect();
        read_price(RawPrice {
            item: c[0],
            currency: c[1],
            customer: c[2],
            group: c[3],
            min_qty: c[4],
            price: c[5],
            valid_from: c[6],
            valid_to: c[7],
        })
        .unwrap_or_else(|p| panic!("{csv}: {p:?}"))
    }

    fn stored(rows: &[&str]) -> Vec<StoredPrice> {
        rows.iter()
            .zip(1..)
            .map(|(r, id)| StoredPrice { id, price: row(r) })
            .collect()
    }

    #[test]
    fn every_problem_of_a_row_is_named() {
        let cases: &[(&str, &[&str])] = &[
            ("FRAME,CNY,,,,12.5,2027-01-01,", &[]),
            ("FRAME,CNY,C1,,10,12.5,2027-01-01,2027-12-31", &[]),
            (
                ",cny,,,,0,2027-1-1,",
                &["item", "currency", "price", "valid_from"],
            ),
            ("FRAME,CNY,C1,G1,,1,2027-01-01,", &["group"]),
            ("FRAME,CNY,,,-1,1,2027-01-01,", &["min_qty"]),
            ("FRAME,CNY,,,1.1234567,1,2027-01-01,", &["min_qty"]),
            ("FRAME,CNY,,,,1.1234567,2027-01-01,", &["price"]),
            ("FRAME,CNY,,,,1000000001,2027-01-01,", &["price"]),
            ("FRAME,CNY,,,,1e3,2027-01-01,", &["price"]),
            ("FRAME,CNYX,,,,1,2027-01-01,", &["currency"]),
            ("FRAME,CNY,,,,1,2027-02-01,2027-01-31", &["valid_to"]),
            ("FRAME,CNY,,,,1,2027-02-30,", &["valid_from"]),
            ("FRAME,CNY,,,,1,2027-02-01,2027-02-01", &[]),
        ];
        for (csv, want) in cases {
            let c: Vec<&str> = csv.split(',').collect();
            let got: Vec<String> = match read_price(RawPrice {
                item: c[0],
                currency: c[1],
                customer: c[2],
                group: c[3],
                min_qty: c[4],
                price: c[5],
                valid_from: c[6],
                valid_to: c[7],
            }) {
                Ok(_) => Vec::new(),
                Err(problems) => {
                    for p in &problems {
                        assert!(!p.message.starts_with(char::is_uppercase), "{p:?}");
                        assert!(p.message.contains("expected"), "{p:?}");
                    }
                    problems.into_iter().map(|p| p.field).collect()
                }
            };
            assert_eq!(got, *want, "{csv}");
        }
    }

    #[test]
    fn overlaps_name_both_rows() {
        // (rows, expected (row, other) pairs)
        type Case<'a> = (&'a [&'a str], &'a [(RowRef, RowRef)]);
        let cases: &[Case<'_>] = &[
            // Back to back: no overlap (valid_to is inclusive).
            (
                &["A,CNY,,,,1,2027-01-01,2027-01-31", "A,CNY,,,,2,2027-02-01,"],
                &[],
            ),
            // Sharing one day overlaps.
            (
                &["A,CNY,,,,1,2027-01-01,2027-02-01", "A,CNY,,,,2,2027-02-01,"],
                &[(RowRef::Line(2), RowRef::Line(1))],
            ),
            // An open row overlaps everything after it.
            (
                &["A,CNY,,,,1,2027-01-01,", "A,CNY,,,,2,2030-01-01,2030-01-02"],
                &[(RowRef::Line(2), RowRef::Line(1))],
            ),
            // Another break, currency, customer or item: no overlap.
            (
                &[
                    "A,CNY,,,,1,2027-01-01,",
                    "A,CNY,,,10,1,2027-01-01,",
                    "A,USD,,,,1,2027-01-01,",
                    "A,CNY,C1,,,1,2027-01-01,",
                    "A,CNY,,C1,,1,2027-01-01,",
                    "B,CNY,,,,1,2027-01-01,",
                ],
                &[],
            ),
            // 10 and 10.0 are the same break.
            (
                &["A,CNY,,,10,1,2027-01-01,", "A,CNY,,,10.0,2,2027-06-01,"],
                &[(RowRef::Line(2), RowRef::Line(1))],
            ),
            // A long row overlaps a later one even past a short one between them.
            (
                &[
                    "A,CNY,,,,1,2027-01-01,2027-12-31",
                    "A,CNY,,,,1,2027-02-01,2027-02-28",
                    "A,CNY,,,,1,2027-06-01,2027-06-30",
                ],
                &[
                    (RowRef::Line(2), RowRef::Line(1)),
                    (RowRef::Line(3), RowRef::Line(1)),
                ],
            ),
        ];
        for (rows, want) in cases {
            let prices: Vec<Price> = rows.iter().map(|r| row(r)).collect();
            let refs: Vec<(RowRef, &Price)> = prices
                .iter()
                .zip(1..)
                .map(|(p, n)| (RowRef::Line(n), p))
                .collect();
            let got: Vec<(RowRef, RowRef)> =
                overlaps(&refs).iter().map(|o| (o.row, o.other)).collect();
            assert_eq!(got, *want, "{rows:?}");
        }
    }

    #[test]
    fn an_overlap_with_a_stored_row_is_named_at_the_file_line() {
        let stored_row = row("A,CNY,,,,1,2027-01-01,");
        let new_row = row("A,CNY,,,,2,2026-06-01,2027-01-01");
        let found = overlaps(&[
            (RowRef::Stored(17), &stored_row),
            (RowRef::Line(4), &new_row),
        ]);
        assert_eq!(found.len(), 1);
        let e = found[0].row_error();
        assert_eq!(e.line, 4);
        assert_eq!(e.column, "valid_from");
        assert!(
            e.message.starts_with(
                "line 4 (2026-06-01 to 2027-01-01) overlaps stored price 17 (2027-01-01 to open)"
            ),
            "{}",
            e.message
        );
        assert!(
            e.message.contains("post /api/v1/prices/17/end"),
            "{}",
            e.message
        );
        // Two stored rows are not the import's business.
        let other = row("A,CNY,,,,3,2027-03-01,");
        assert!(
            overlaps(&[
                (RowRef::Stored(1), &stored_row),
                (RowRef::Stored(2), &other)
            ])
            .is_empty()
        );
        let put = overlaps(&[(RowRef::Stored(17), &stored_row), (RowRef::New, &other)]);
        assert!(
            put[0]
                .to_string()
                .starts_with("the new price (2027-03-01 to open) overlaps stored price 17"),
            "{}",
            put[0]
        );
    }

    #[test]
    fn a_file_names_bad_cells_and_overlaps_by_line() {
        let csv = "item,currency,customer,group,min_qty,price,valid_from,valid_to\n\
                   A,CNY,,,,1,2027-01-01,\n\
                   A,CNY,,,,x,2027-01-01,\n\
                   A,CNY,,,,2,2027-05-01,\n";
        let (errors, total) = parse_csv(csv.as_bytes()).unwrap_err();
        assert_eq!(total, 2);
        assert_eq!((errors[0].line, errors[0].column.as_str()), (3, "price"));
        assert_eq!(
            (errors[1].line, errors[1].column.as_str()),
            (4, "valid_from")
        );
        assert!(errors[1].message.contains("line 4") && errors[1].message.contains("line 2"));
        let ok = parse_csv(b"item,price,currency,valid_from\nA,1.5,EUR,2027-01-01\n").unwrap();
        assert_eq!(ok[0].row.scope, PriceScope::List);
        assert_eq!(ok[0].row.min_qty, Decimal::ZERO);
        assert_eq!(ok[0].line, 2);
    }

    #[test]
    fn resolution_prefers_customer_then_group_then_list_and_the_highest_break() {
        let rows = stored(&[
            /* 1 */ "A,CNY,,,,10,2027-01-01,",
            /* 2 */ "A,CNY,,,100,9,2027-01-01,",
            /* 3 */ "A,CNY,,G1,,8,2027-01-01,2027-06-30",
            /* 4 */ "A,CNY,C1,,50,7,2027-01-01,",
            /* 5 */ "A,USD,,,,2,2027-01-01,",
            /* 6 */ "A,CNY,,,,11,2028-01-01,",
            /* 7 */ "B,CNY,,,5,3,2027-01-01,2027-01-31",
        ]);
        // (customer, group, qty, date, currency, item) → row id or the no-price kind
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            Result<i64, &'a str>,
        );
        let cases: &[Case<'_>] = &[
            ("", "", "1", "2027-03-01", "CNY", "A", Ok(1)),
            ("", "", "100", "2027-03-01", "CNY", "A", Ok(2)),
            ("", "", "99.999", "2027-03-01", "CNY", "A", Ok(1)),
            ("", "G1", "1000", "2027-03-01", "CNY", "A", Ok(3)),
            // The group's row ended on 2027-06-30 (inclusive): then the list's break.
            ("", "G1", "1000", "2027-06-30", "CNY", "A", Ok(3)),
            ("", "G1", "1000", "2027-07-01", "CNY", "A", Ok(2)),
            // The customer's row starts at 50: below it, the group's price.
            ("C1", "G1", "49", "2027-03-01", "CNY", "A", Ok(3)),
            ("C1", "G1", "50", "2027-03-01", "CNY", "A", Ok(4)),
            // Another customer's price is not this one's.
            ("C2", "", "50", "2027-03-01", "CNY", "A", Ok(1)),
            ("", "", "1", "2027-03-01", "USD", "A", Ok(5)),
            // A later list row takes over on its first day.
            ("", "", "1", "2027-12-31", "CNY", "A", Ok(1)),
            ("", "", "1", "2028-01-01", "CNY", "A", Ok(6)),
            ("", "", "1", "2027-03-01", "EUR", "A", Err("no_rows")),
            ("", "", "1", "2026-12-31", "CNY", "A", Err("not_valid")),
            ("", "", "4", "2027-01-15", "CNY", "B", Err("below")),
            ("", "", "5", "2027-01-31", "CNY", "B", Ok(7)),
            ("", "", "5", "2027-02-01", "CNY", "B", Err("not_valid")),
            ("", "", "1", "2027-03-01", "CNY", "C", Err("no_rows")),
        ];
        for (customer, group, qty, date, currency, item, want) in cases {
            let opt = |s: &str| (!s.is_empty()).then(|| s.to_owned());
            let query = PriceQuery {
                item: (*item).to_owned(),
                currency: (*currency).to_owned(),
                customer: opt(customer),
                group: opt(group),
                qty: d(qty),
                date: day(date),
            };
            let got = match resolve(&rows, &query) {
                Ok(r) => Ok(r.id),
                Err(NoPrice::NoRows { .. }) => Err("no_rows"),
                Err(NoPrice::NotValidOn { .. }) => Err("not_valid"),
                Err(NoPrice::BelowBreaks { .. }) => Err("below"),
            };
            assert_eq!(got, *want, "{query:?}");
        }
        let below = resolve(
            &rows,
            &PriceQuery {
                item: "B".into(),
                currency: "CNY".into(),
                customer: None,
                group: None,
                qty: d("4"),
                date: day("2027-01-15"),
            },
        )
        .unwrap_err();
        assert_eq!(
            below.to_string(),
            "no price for item \"B\" in CNY for quantity 4: the smallest quantity break valid then is 5; expected a row from a lower quantity"
        );
    }

    #[test]
    fn money_is_rounded_half_away_from_zero_and_gross_is_net_plus_tax() {
        // (qty, unit price, tax %) → (net, tax, gross)
        let cases = [
            ("1", "0.125", "0", ("0.13", "0.00", "0.13")),
            ("1", "0.135", "0", ("0.14", "0.00", "0.14")),
            ("3", "0.333333", "13", ("1.00", "0.13", "1.13")),
            ("10", "12.5", "13", ("125.00", "16.25", "141.25")),
            ("1", "0.05", "13", ("0.05", "0.01", "0.06")),
            (
                "1000000000000",
                "1000000000",
                "100",
                (
                    "1000000000000000000000.00",
                    "1000000000000000000000.00",
                    "2000000000000000000000.00",
                ),
            ),
            (
                "1000000000000",
                "999999999.999999",
                "13.5",
                (
                    "999999999999999000000.00",
                    "134999999999999865000.00",
                    "1134999999999998865000.00",
                ),
            ),
        ];
        for (qty, price, pct, (net, tax, gross)) in cases {
            let a = amounts(d(qty), d(price), d(pct)).unwrap();
            assert_eq!(
                (a.net.to_string(), a.tax.to_string(), a.gross.to_string()),
                (net.to_owned(), tax.to_owned(), gross.to_owned()),
                "{qty} × {price} at {pct} %"
            );
        }
        assert_eq!(round_money(d("-0.125")), d("-0.13"));
        // Beyond the bounds: an error, not a panic.
        assert_eq!(
            amounts(Decimal::MAX, Decimal::MAX, d("13")),
            Err(AmountError::TooLarge)
        );
    }

    #[test]
    fn the_rate_in_force_is_the_latest_on_or_before_the_date() {
        let rate = |from: &str, to: &str, r: &str, on: &str| {
            read_exchange_rate("", from, to, r, on).unwrap()
        };
        let rates = [
            rate("USD", "CNY", "7.1", "2027-01-01"),
            rate("USD", "CNY", "7.2", "2027-02-01"),
            rate("CNY", "USD", "0.14", "2027-01-01"),
        ];
        let cases = [
            ("USD", "CNY", "2026-12-31", None),
            ("USD", "CNY", "2027-01-01", Some("7.1")),
            ("USD", "CNY", "2027-01-31", Some("7.1")),
            ("USD", "CNY", "2027-02-01", Some("7.2")),
            ("USD", "CNY", "2030-01-01", Some("7.2")),
            ("CNY", "USD", "2027-03-01", Some("0.14")),
            ("EUR", "CNY", "2027-03-01", None),
        ];
        for (from, to, on, want) in cases {
            let got = rate_on(&rates, from, to, day(on)).map(|r| r.rate.to_string());
            assert_eq!(got.as_deref(), want, "{from}→{to} on {on}");
        }
        let (amount, used) = convert(&rates, d("10.005"), "USD", "CNY", day("2027-02-01")).unwrap();
        assert_eq!((amount, used.map(|r| r.rate)), (d("72.04"), Some(d("7.2"))));
        assert_eq!(
            convert(&rates, d("1.005"), "CNY", "CNY", day("2027-02-01")).unwrap(),
            (d("1.01"), None)
        );
        assert!(matches!(
            convert(&rates, d("1"), "EUR", "CNY", day("2027-02-01")),
            Err(ConvertError::NoRate { .. })
        ));
        let huge = [rate("USD", "CNY", "1000000000", "2027-01-01")];
        assert!(convert(&huge, Decimal::MAX, "USD", "CNY", day("2027-02-01")).is_err());
        let bad = read_exchange_rate("rates[0].", "usd", "USD", "0", "x").unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["rates[0].from", "rates[0].rate", "rates[0].valid_from"]
        );
        let same = read_exchange_rate("", "USD", "USD", "1", "2027-01-01").unwrap_err();
        assert_eq!(same[0].field, "to");
    }

    #[test]
    fn tax_rates_by_date_and_their_bounds() {
        let tax =
            |code: &str, pct: &str, on: &str| read_tax_rate("", code, "VAT", pct, on).unwrap();
        let rates = [
            tax("VAT", "16", "2018-05-01"),
            tax("VAT", "13", "2019-04-01"),
            tax("ZERO", "0", "2000-01-01"),
        ];
        assert_eq!(
            tax_on(&rates, "VAT", day("2019-03-31")).map(|t| t.rate_pct),
            Some(d("16"))
        );
        assert_eq!(
            tax_on(&rates, "VAT", day("2019-04-01")).map(|t| t.rate_pct),
            Some(d("13"))
        );
        assert_eq!(tax_on(&rates, "VAT", day("2018-04-30")), None);
        assert_eq!(tax_on(&rates, "GST", day("2019-04-01")), None);
        for (pct, ok) in [
            ("0", true),
            ("100", true),
            ("100.000001", false),
            ("-1", false),
            ("13.5", true),
            ("", false),
            ("1000", false),
        ] {
            assert_eq!(
                read_tax_rate("", "VAT", "VAT", pct, "2027-01-01").is_ok(),
                ok,
                "{pct}"
            );
        }
        let bad = read_tax_rate("", "", "ok", "x", "2027-13-01").unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["code", "rate_pct", "valid_from"]);
    }

    #[test]
    fn an_identical_row_is_unchanged_not_an_overlap() {
        let stored_rows = stored(&["A,CNY,,,,1,2027-01-01,"]);
        let file = vec![
            Line {
                line: 2,
                row: row("A,CNY,,,,1.0,2027-01-01,"),
            },
            Line {
                line: 3,
                row: row("A,CNY,,,,2,2027-01-01,"),
            },
        ];
        assert_eq!(unchanged_lines(&file, &stored_rows), [2]);
    }

    #[test]
    fn decimals_parse_plain_only() {
        let cases = [
            ("12", Some("12")),
            ("0.5", Some("0.5")),
            ("-3", Some("-3")),
            ("1.", None),
            (".5", None),
            ("1e3", None),
            ("1,000", None),
            ("", None),
            ("12345678901", None),
            ("1.12345678901", None),
            ("+1", None),
        ];
        for (s, want) in cases {
            assert_eq!(
                parse_decimal(s, 10, 10).map(|d| d.to_string()).as_deref(),
                want,
                "{s}"
            );
        }
    }
}
