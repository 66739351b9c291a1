//! CSV import of master data: parsing and row validation, pure (no I/O). A file is parsed
//! whole; every bad row is reported with its line and column ([`RowError`]); the store
//! then applies the rows in one transaction, checking what needs the database (items that
//! must exist, BOM cycles), or nothing at all.
//!
//! Columns (a header line first; any order; names exact; values trimmed):
//!
//! | kind | columns |
//! | --- | --- |
//! | `items` | `item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock`, optional `scrap_pct`, `tracking`, `shelf_life_days`, `phantom`, `gtin` |
//! | `boms` | `parent,component,qty_per,scrap_pct`, optional `uom` |
//! | `inventory` | `item,lot,location,qty`, optional `uom` |
//! | `demands`, `receipts` | `item,qty,due_date,reference`, optional `uom` |
//! | `uom_conversions` | `item,from_uom,to_uom,factor` |
//! | `suppliers` | `supplier,item,lead_time_days,price,preferred` |
//! | `locations` | `warehouse,location,description` |
//!
//! Semantics: items are created or updated by `item` (an absent `tracking`, `shelf_life_days`,
//! `phantom` or `gtin` column keeps what the item had; an empty cell means none, no shelf life,
//! not phantom, no GTIN; a GTIN is 8, 12, 13 or 14 digits with a valid check digit, stored as
//! 14, and unique across items); a BOM file gives the whole BOM of every parent it names, and the store makes it a
//! new released revision effective today where it differs from the one in effect (a parent's first BOM: effective since 1970-01-01)
//! ([`crate::store::ErpStore::import`]); inventory rows set the quantity of `(item, lot,
//! location)`, and the location must exist (a typo must not split stock across two names;
//! lot- and serial-tracked items need a lot, a serial is one unit); demands and receipts are created or updated by `reference`; conversions by
//! `(item, from_uom, to_uom)`; supplier terms by `(supplier, item)` (an unknown supplier is
//! created; `preferred` true makes the others of the item not preferred); locations by
//! `location`, unique across warehouses (an unknown warehouse is created). A quantity of 0
//! removes an inventory row, a demand, a receipt; a factor of 0 a conversion. Empty
//! `lot_size_qty`, `safety_stock`, `scrap_pct` and `lot` mean 0 (or no lot); an empty `uom`
//! means the item's base unit, and any other unit is converted to it.

use super::master_data::{MAX_SHELF_LIFE_DAYS, Tracking, normalize_gtin, parse_bool};
use super::mrp::{BomLine, Dated, Item, ItemKind, LotSizeRule};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most row errors one response lists; the message gives the total.
pub const MAX_REPORTED_ERRORS: usize = 1000;
/// Longest id (item, lot, location, reference), in bytes: [`protocol::bounds::MAX_ID_LEN`],
/// since items, lots and locations go down to the lines in plans, which the edges check
/// against the same bounds.
pub const MAX_ID_LEN: usize = protocol::bounds::MAX_ID_LEN;
/// Largest quantity accepted, and most decimal places.
pub const MAX_QTY: i64 = 1_000_000_000_000;
pub const MAX_QTY_DP: u32 = 6;
pub const MAX_LEAD_TIME_DAYS: u32 = 3650;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportKind {
    Items,
    Boms,
    Inventory,
    Demands,
    Receipts,
    UomConversions,
    Suppliers,
    Locations,
}

impl ImportKind {
    pub const ALL: [ImportKind; 8] = [
        ImportKind::Items,
        ImportKind::Boms,
        ImportKind::Inventory,
        ImportKind::Demands,
        ImportKind::Receipts,
        ImportKind::UomConversions,
        ImportKind::Suppliers,
        ImportKind::Locations,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Items => "items",
            ImportKind::Boms => "boms",
            ImportKind::Inventory => "inventory",
            ImportKind::Demands => "demands",
            ImportKind::Receipts => "receipts",
            ImportKind::UomConversions => "uom_conversions",
            ImportKind::Suppliers => "suppliers",
            ImportKind::Locations => "locations",
        }
    }

    /// The route that imports this kind: `/api/v1/import/items`.
    pub fn path(self) -> &'static str {
        match self {
            ImportKind::Items => "/api/v1/import/items",
            ImportKind::Boms => "/api/v1/import/boms",
            ImportKind::Inventory => "/api/v1/import/inventory",
            ImportKind::Demands => "/api/v1/import/demands",
            ImportKind::Receipts => "/api/v1/import/receipts",
            ImportKind::UomConversions => "/api/v1/import/uom_conversions",
            ImportKind::Suppliers => "/api/v1/import/suppliers",
            ImportKind::Locations => "/api/v1/import/locations",
        }
    }

    /// `items, boms, …`, for messages.
    pub fn list() -> String {
        Self::ALL.map(ImportKind::as_str).join(", ")
    }

    pub fn parse(s: &str) -> Option<ImportKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Required columns, in the documented order.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ImportKind::Items => &[
                "item",
                "description",
                "kind",
                "uom",
                "lead_time_days",
                "lot_size_rule",
                "lot_size_qty",
                "safety_stock",
            ],
            ImportKind::Boms => &["parent", "component", "qty_per", "scrap_pct"],
            ImportKind::Inventory => &["item", "lot", "location", "qty"],
            ImportKind::Demands | ImportKind::Receipts => &["item", "qty", "due_date", "reference"],
            ImportKind::UomConversions => &["item", "from_uom", "to_uom", "factor"],
            ImportKind::Suppliers => &["supplier", "item", "lead_time_days", "price", "preferred"],
            ImportKind::Locations => &["warehouse", "location", "description"],
        }
    }

    pub fn optional_columns(self) -> &'static [&'static str] {
        match self {
            ImportKind::Items => &[
                "scrap_pct",
                "tracking",
                "shelf_life_days",
                "phantom",
                "gtin",
            ],
            ImportKind::Inventory => &["uom", "note"],
            ImportKind::Boms | ImportKind::Demands | ImportKind::Receipts => &["uom"],
            ImportKind::UomConversions | ImportKind::Suppliers | ImportKind::Locations => &[],
        }
    }
}

/// One bad cell or row: 1-based line of the CSV text, the column's name (empty when the
/// whole row is wrong), and what was wrong and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub message: String,
}

impl RowError {
    pub fn new(line: u64, column: &str, message: impl Into<String>) -> RowError {
        RowError {
            line,
            column: column.to_owned(),
            message: message.into(),
        }
    }
}

/// A row and the line it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Line<T> {
    pub line: u64,
    pub row: T,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemRecord {
    pub item: Item,
    pub description: String,
    pub uom: String,
    /// `None` when the file has no such column (the item keeps what it had).
    pub tracking: Option<Tracking>,
    pub shelf_life_days: Option<Option<u32>>,
    pub phantom: Option<bool>,
    /// As 14 digits; `Some(None)`: an empty cell (no GTIN).
    pub gtin: Option<Option<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRow {
    pub item: String,
    pub lot: String,
    pub location: String,
    /// The quantity counted there: the ledger gets the difference to what it holds.
    pub qty: Decimal,
    /// Unit of `qty`; empty: the item's base unit.
    pub uom: String,
    /// Why (a stocktake, the opening balance); empty: "inventory import".
    pub note: String,
}

/// A BOM line and the unit its `qty_per` is in (empty: the component's base unit).
#[derive(Debug, Clone, PartialEq)]
pub struct BomRow {
    pub line: BomLine,
    pub uom: String,
}

/// A demand or receipt and the unit its `qty` is in (empty: the item's base unit).
#[derive(Debug, Clone, PartialEq)]
pub struct DatedRow {
    pub dated: Dated,
    pub uom: String,
}

/// `1 from_uom = factor to_uom` for `item`; factor 0 removes the conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct ConversionRow {
    pub item: String,
    pub from_uom: String,
    pub to_uom: String,
    pub factor: Decimal,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LocationRow {
    pub warehouse: String,
    pub location: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SupplierRow {
    pub supplier: String,
    pub item: String,
    pub lead_time_days: u32,
    pub price: Decimal,
    pub preferred: bool,
}

/// A parsed, row-valid file.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportBatch {
    Items(Vec<Line<ItemRecord>>),
    Boms(Vec<Line<BomRow>>),
    Inventory(Vec<Line<InventoryRow>>),
    Demands(Vec<Line<DatedRow>>),
    Receipts(Vec<Line<DatedRow>>),
    UomConversions(Vec<Line<ConversionRow>>),
    Suppliers(Vec<Line<SupplierRow>>),
    Locations(Vec<Line<LocationRow>>),
}

impl ImportBatch {
    pub fn kind(&self) -> ImportKind {
        match self {
            ImportBatch::Items(_) => ImportKind::Items,
            ImportBatch::Boms(_) => ImportKind::Boms,
            ImportBatch::Inventory(_) => ImportKind::Inventory,
            ImportBatch::Demands(_) => ImportKind::Demands,
            ImportBatch::Receipts(_) => ImportKind::Receipts,
            ImportBatch::UomConversions(_) => ImportKind::UomConversions,
            ImportBatch::Suppliers(_) => ImportKind::Suppliers,
            ImportBatch::Locations(_) => ImportKind::Locations,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ImportBatch::Items(rows) => rows.len(),
            ImportBatch::Boms(rows) => rows.len(),
            ImportBatch::Inventory(rows) => rows.len(),
            ImportBatch::Demands(rows) | ImportBatch::Receipts(rows) => rows.len(),
            ImportBatch::UomConversions(rows) => rows.len(),
            ImportBatch::Suppliers(rows) => rows.len(),
            ImportBatch::Locations(rows) => rows.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// One record's cells by column name.
struct Cells<'a> {
    line: u64,
    record: &'a csv::StringRecord,
    index: &'a HashMap<&'static str, usize>,
    errors: &'a mut Vec<RowError>,
}

impl Cells<'_> {
    fn has(&self, column: &str) -> bool {
        self.index.contains_key(column)
    }

    fn raw(&self, column: &str) -> &str {
        self.index
            .get(column)
            .and_then(|&i| self.record.get(i))
            .unwrap_or("")
    }

    fn fail<T>(&mut self, column: &str, message: String) -> Option<T> {
        self.errors.push(RowError::new(self.line, column, message));
        None
    }

    fn text(&mut self, column: &str) -> Option<String> {
        let s = self.raw(column).to_owned();
        match protocol::bounds::check_text(column, &s) {
            Ok(()) => Some(s),
            Err(v) => self.fail(column, v.to_string()),
        }
    }

    /// An id within [`protocol::bounds::check_id`]; an empty cell is an error if `required`.
    fn id(&mut self, column: &str, required: bool) -> Option<String> {
        let s = self.raw(column).to_owned();
        if s.is_empty() {
            return if required {
                self.fail(column, format!("{column} is empty; expected an id"))
            } else {
                Some(s)
            };
        }
        match protocol::bounds::check_id(column, &s) {
            Ok(()) => Some(s),
            Err(v) => self.fail(column, v.to_string()),
        }
    }

    /// A unit of measure within [`protocol::bounds::check_uom`] (empty if not `required`).
    fn uom(&mut self, column: &str, required: bool) -> Option<String> {
        let s = self.id(column, required)?;
        if s.is_empty() {
            return Some(s);
        }
        match protocol::bounds::check_uom(column, &s) {
            Ok(()) => Some(s),
            Err(v) => self.fail(column, v.to_string()),
        }
    }

    fn qty(&mut self, column: &str, empty_is_zero: bool, positive: bool) -> Option<Decimal> {
        let s = self.raw(column).to_owned();
        if s.is_empty() && empty_is_zero {
            return Some(Decimal::ZERO);
        }
        let expected = if positive {
            "a number above 0"
        } else {
            "a number of at least 0"
        };
        match parse_qty(&s) {
            Some(q) if (positive && q > Decimal::ZERO) || (!positive && q >= Decimal::ZERO) => {
                Some(q)
            }
            _ => self.fail(
                column,
                format!(
                    "{column} {s:?} is not valid; expected {expected}, at most {MAX_QTY} with at most {MAX_QTY_DP} decimals"
                ),
            ),
        }
    }

    fn percent(&mut self, column: &str) -> Option<Decimal> {
        let q = self.qty(column, true, false)?;
        if q >= Decimal::ONE_HUNDRED * Decimal::TEN {
            let s = self.raw(column).to_owned();
            return self.fail(
                column,
                format!("{column} {s:?} is too large; expected a percentage below 1000"),
            );
        }
        Some(q)
    }

    fn days(&mut self, column: &str) -> Option<u32> {
        let raw = self.raw(column).to_owned();
        raw.parse::<u32>()
            .ok()
            .filter(|&d| d <= MAX_LEAD_TIME_DAYS)
            .or_else(|| {
                self.fail(
                    column,
                    format!("{column} {raw:?} is not valid; expected whole working days from 0 to {MAX_LEAD_TIME_DAYS}"),
                )
            })
    }

    fn flag(&mut self, column: &str) -> Option<bool> {
        let raw = self.raw(column).to_owned();
        if raw.is_empty() {
            return Some(false);
        }
        parse_bool(&raw).or_else(|| {
            self.fail(
                column,
                format!(
                    "{column} {raw:?} is not valid; expected true or false (or empty for false)"
                ),
            )
        })
    }

    fn date(&mut self, column: &str) -> Option<NaiveDate> {
        let s = self.raw(column).to_owned();
        match NaiveDate::parse_from_str(&s, "%Y-%m-%d") {
            Ok(d) if s.len() == 10 => Some(d),
            _ => self.fail(
                column,
                format!("{column} {s:?} is not a date; expected YYYY-MM-DD"),
            ),
        }
    }
}

/// A plain decimal (`12`, `0.5`, `-3` is refused later by the caller's range), at most
/// [`MAX_QTY`] and [`MAX_QTY_DP`] decimals. No exponent, no thousands separator.
pub fn parse_qty(s: &str) -> Option<Decimal> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
        && frac.len() <= MAX_QTY_DP as usize
        && int.len() <= 13;
    if !plain || (digits.contains('.') && frac.is_empty()) {
        return None;
    }
    let q: Decimal = s.parse().ok()?;
    (q.abs() <= Decimal::from(MAX_QTY)).then(|| q.normalize())
}

/// Parses a CSV file of `kind`. `Err` holds every bad row (at most [`MAX_REPORTED_ERRORS`])
/// and the total number found.
pub fn parse(kind: ImportKind, text: &[u8]) -> Result<ImportBatch, (Vec<RowError>, usize)> {
    let mut batch = match kind {
        ImportKind::Items => ImportBatch::Items(Vec::new()),
        ImportKind::Boms => ImportBatch::Boms(Vec::new()),
        ImportKind::Inventory => ImportBatch::Inventory(Vec::new()),
        ImportKind::Demands => ImportBatch::Demands(Vec::new()),
        ImportKind::Receipts => ImportBatch::Receipts(Vec::new()),
        ImportKind::UomConversions => ImportBatch::UomConversions(Vec::new()),
        ImportKind::Suppliers => ImportBatch::Suppliers(Vec::new()),
        ImportKind::Locations => ImportBatch::Locations(Vec::new()),
    };
    // Key → first line, to report duplicates within the file.
    let mut keys: HashMap<String, u64> = HashMap::new();
    let expected = kind.columns().join(",");
    let mut errors = read_rows(
        text,
        kind.columns(),
        kind.optional_columns(),
        &expected,
        |line, record, index, errors| {
            let n_errors = errors.len();
            let mut cells = Cells {
                line,
                record,
                index,
                errors,
            };
            let key = match &mut batch {
                ImportBatch::Items(rows) => parse_item(&mut cells).map(|r| {
                    let key = r.item.item.clone();
                    rows.push(Line { line, row: r });
                    key
                }),
                ImportBatch::Boms(rows) => parse_bom(&mut cells).map(|r| {
                    let key = format!("{}\u{0}{}", r.line.parent, r.line.component);
                    rows.push(Line { line, row: r });
                    key
                }),
                ImportBatch::Inventory(rows) => parse_inventory(&mut cells).map(|r| {
                    let key = format!("{}\u{0}{}\u{0}{}", r.item, r.lot, r.location);
                    rows.push(Line { line, row: r });
                    key
                }),
                ImportBatch::Demands(rows) | ImportBatch::Receipts(rows) => parse_dated(&mut cells)
                    .map(|r| {
                        let key = r.dated.reference.clone();
                        rows.push(Line { line, row: r });
                        key
                    }),
                ImportBatch::UomConversions(rows) => parse_conversion(&mut cells).map(|r| {
                    let key = format!("{}\u{0}{}\u{0}{}", r.item, r.from_uom, r.to_uom);
                    rows.push(Line { line, row: r });
                    key
                }),
                ImportBatch::Suppliers(rows) => parse_supplier(&mut cells).map(|r| {
                    let key = format!("{}\u{0}{}", r.supplier, r.item);
                    rows.push(Line { line, row: r });
                    key
                }),
                ImportBatch::Locations(rows) => parse_location(&mut cells).map(|r| {
                    let key = r.location.clone();
                    rows.push(Line { line, row: r });
                    key
                }),
            };
            if let Some(key) = key
                && errors.len() == n_errors
                && let Some(first) = keys.insert(key, line)
            {
                let column = match kind {
                    ImportKind::Items => "item",
                    ImportKind::Boms => "component",
                    ImportKind::Inventory => "location",
                    ImportKind::Demands | ImportKind::Receipts => "reference",
                    ImportKind::UomConversions => "to_uom",
                    ImportKind::Suppliers => "item",
                    ImportKind::Locations => "location",
                };
                errors.push(RowError::new(
                    line,
                    column,
                    format!("row repeats the key of line {first}; expected each key once per file"),
                ));
            }
        },
    );
    if errors.is_empty() {
        Ok(batch)
    } else {
        let total = errors.len();
        errors.truncate(MAX_REPORTED_ERRORS);
        Err((errors, total))
    }
}

/// Reads a CSV file: checks its header against the `required` and `optional` columns (each
/// once, nothing unknown; `expected` is how the message lists them), then hands each row with
/// as many fields as the header to `row` with its line number and the column index. Unreadable
/// rows and rows of the wrong width are errors; returns every error found.
pub(crate) fn read_rows(
    text: &[u8],
    required: &[&'static str],
    optional: &[&'static str],
    expected: &str,
    mut row: impl FnMut(u64, &csv::StringRecord, &HashMap<&'static str, usize>, &mut Vec<RowError>),
) -> Vec<RowError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text);
    let mut errors = Vec::new();
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            errors.push(RowError::new(
                1,
                "",
                format!("cannot read the header line: {}", csv_message(&e)),
            ));
            return errors;
        }
    };
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    for (i, name) in headers.iter().enumerate() {
        match required.iter().chain(optional).find(|&&k| k == name) {
            Some(&k) => {
                if index.insert(k, i).is_some() {
                    errors.push(RowError::new(
                        1,
                        name,
                        format!("column {name:?} appears twice; expected each column once"),
                    ));
                }
            }
            None => errors.push(RowError::new(
                1,
                name,
                format!("unknown column {name:?}; expected the columns {expected}"),
            )),
        }
    }
    for &column in required {
        if !index.contains_key(column) {
            errors.push(RowError::new(
                1,
                column,
                format!("column {column:?} is missing; expected the columns {expected}"),
            ));
        }
    }
    if !errors.is_empty() {
        return errors;
    }
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // The csv crate counts LF only: in a file with CR line endings (Excel's
                // "CSV (Macintosh)") every row would be line 1. A row is always after the last.
                let at = e.position().map_or(line + 1, |p| p.line()).max(line + 1);
                errors.push(RowError::new(
                    at,
                    "",
                    format!("unreadable row: {}", csv_message(&e)),
                ));
                if matches!(e.kind(), csv::ErrorKind::Io(_)) || errors.len() > 100_000 {
                    break;
                }
                line = at;
                continue;
            }
        }
        line = record
            .position()
            .map_or(line + 1, |p| p.line())
            .max(line + 1);
        if record.len() != headers.len() {
            errors.push(RowError::new(
                line,
                "",
                format!(
                    "row has {} fields; expected {} like the header",
                    record.len(),
                    headers.len()
                ),
            ));
            continue;
        }
        row(line, &record, &index, &mut errors);
    }
    errors
}

fn csv_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Utf8 { .. } => "it is not valid utf-8; expected utf-8 text".to_owned(),
        _ => error.to_string().to_lowercase(),
    }
}

fn parse_item(c: &mut Cells<'_>) -> Option<ItemRecord> {
    let item = c.id("item", true);
    let description = c.text("description");
    let kind_raw = c.raw("kind").to_owned();
    let kind = ItemKind::parse(&kind_raw).or_else(|| {
        c.fail(
            "kind",
            format!("kind {kind_raw:?} is not valid; expected make or buy"),
        )
    });
    let uom = c.uom("uom", true);
    let lead_time_days = c.days("lead_time_days");
    let rule_raw = c.raw("lot_size_rule").to_owned();
    let rule_raw = if rule_raw.is_empty() {
        "lfl".to_owned()
    } else {
        rule_raw
    };
    let lot_size_rule = LotSizeRule::parse(&rule_raw).or_else(|| {
        c.fail(
            "lot_size_rule",
            format!(
                "lot_size_rule {rule_raw:?} is not valid; expected lfl, fixed, min or multiple"
            ),
        )
    });
    let needs_qty = lot_size_rule.is_some_and(LotSizeRule::needs_qty);
    let lot_size_qty = c.qty("lot_size_qty", !needs_qty, needs_qty);
    let safety_stock = c.qty("safety_stock", true, false);
    let scrap_pct = c.percent("scrap_pct");
    let tracking = if c.has("tracking") {
        let raw = c.raw("tracking").to_owned();
        let raw = if raw.is_empty() {
            "none".to_owned()
        } else {
            raw
        };
        match Tracking::parse(&raw) {
            Some(t) => Some(Some(t)),
            None => c.fail(
                "tracking",
                format!("tracking {raw:?} is not valid; expected none, lot or serial"),
            ),
        }
    } else {
        Some(None)
    };
    let shelf_life_days = if c.has("shelf_life_days") {
        let raw = c.raw("shelf_life_days").to_owned();
        if raw.is_empty() {
            Some(Some(None))
        } else {
            match raw.parse::<u32>() {
                Ok(d) if (1..=MAX_SHELF_LIFE_DAYS).contains(&d) => Some(Some(Some(d))),
                _ => c.fail(
                    "shelf_life_days",
                    format!("shelf_life_days {raw:?} is not valid; expected whole days from 1 to {MAX_SHELF_LIFE_DAYS}, or empty for none"),
                ),
            }
        }
    } else {
        Some(None)
    };
    let phantom = if c.has("phantom") {
        c.flag("phantom").map(Some)
    } else {
        Some(None)
    };
    let gtin = if c.has("gtin") {
        let raw = c.raw("gtin").to_owned();
        if raw.is_empty() {
            Some(Some(None))
        } else {
            match normalize_gtin(&raw) {
                Ok(g) => Some(Some(Some(g))),
                Err(why) => c.fail("gtin", format!("gtin {why}")),
            }
        }
    } else {
        Some(None)
    };
    if phantom == Some(Some(true)) && kind == Some(ItemKind::Buy) {
        return c.fail(
            "phantom",
            "a buy item cannot be a phantom; expected phantom false or kind make".to_owned(),
        );
    }
    Some(ItemRecord {
        item: Item {
            item: item?,
            kind: kind?,
            lead_time_days: lead_time_days?,
            lot_size_rule: lot_size_rule?,
            lot_size_qty: lot_size_qty?,
            safety_stock: safety_stock?,
            scrap_pct: scrap_pct?,
            phantom: phantom == Some(Some(true)),
        },
        description: description?,
        uom: uom?,
        tracking: tracking?,
        shelf_life_days: shelf_life_days?,
        phantom: phantom?,
        gtin: gtin?,
    })
}

fn parse_bom(c: &mut Cells<'_>) -> Option<BomRow> {
    let parent = c.id("parent", true);
    let component = c.id("component", true);
    let qty_per = c.qty("qty_per", false, true);
    let scrap_pct = c.percent("scrap_pct");
    let uom = c.uom("uom", false);
    let (parent, component) = (parent?, component?);
    if parent == component {
        return c.fail(
            "component",
            format!("item {parent:?} is its own component; expected another item"),
        );
    }
    Some(BomRow {
        line: BomLine::new(parent, component, qty_per?, scrap_pct?),
        uom: uom?,
    })
}

fn parse_inventory(c: &mut Cells<'_>) -> Option<InventoryRow> {
    let item = c.id("item", true);
    let lot = c.id("lot", false);
    let location = c.id("location", true);
    let qty = c.qty("qty", false, false);
    let uom = c.uom("uom", false);
    let note = c.text("note");
    Some(InventoryRow {
        item: item?,
        lot: lot?,
        location: location?,
        qty: qty?,
        uom: uom?,
        note: note?,
    })
}

fn parse_dated(c: &mut Cells<'_>) -> Option<DatedRow> {
    let item = c.id("item", true);
    let qty = c.qty("qty", false, false);
    let due = c.date("due_date");
    let reference = c.id("reference", true);
    let uom = c.uom("uom", false);
    Some(DatedRow {
        dated: Dated {
            item: item?,
            qty: qty?,
            due: due?,
            reference: reference?,
        },
        uom: uom?,
    })
}

fn parse_conversion(c: &mut Cells<'_>) -> Option<ConversionRow> {
    let item = c.id("item", true);
    let from_uom = c.uom("from_uom", true);
    let to_uom = c.uom("to_uom", true);
    let factor = c.qty("factor", false, false);
    let (from_uom, to_uom) = (from_uom?, to_uom?);
    if from_uom == to_uom {
        return c.fail(
            "to_uom",
            format!("from_uom and to_uom are both {from_uom:?}; expected two different units"),
        );
    }
    Some(ConversionRow {
        item: item?,
        from_uom,
        to_uom,
        factor: factor?,
    })
}

fn parse_location(c: &mut Cells<'_>) -> Option<LocationRow> {
    let warehouse = c.id("warehouse", true);
    let location = c.id("location", true);
    let description = c.text("description");
    Some(LocationRow {
        warehouse: warehouse?,
        location: location?,
        description: description?,
    })
}

fn parse_supplier(c: &mut Cells<'_>) -> Option<SupplierRow> {
    let supplier = c.id("supplier", true);
    let item = c.id("item", true);
    let lead_time_days = c.days("lead_time_days");
    let price = c.qty("price", false, false);
    let preferred = c.flag("preferred");
    Some(SupplierRow {
        supplier: supplier?,
        item: item?,
        lead_time_days: lead_time_days?,
        price: price?,
        preferred: preferred?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(kind: ImportKind, text: &str) -> Vec<String> {
        match parse(kind, text.as_bytes()) {
            Ok(batch) => panic!("parsed: {batch:?}"),
            Err((errors, _)) => errors
                .iter()
                .map(|e| format!("{}:{}", e.line, e.column))
                .collect(),
        }
    }

    /// Found by fuzzing (fuzz/fuzz_targets/csv_import.rs): the csv crate counts LF only, so in
    /// a file with CR line endings every row was "line 1", the header's line, in errors and in
    /// the duplicate-key message.
    #[test]
    fn rows_of_a_file_with_cr_line_endings_get_their_own_lines() {
        let text = "warehouse,location,description\rWH1,A,x\rWH1,B,y\r";
        let ImportBatch::Locations(rows) = parse(ImportKind::Locations, text.as_bytes()).unwrap()
        else {
            panic!("wrong kind");
        };
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(
            errors(
                ImportKind::Locations,
                "warehouse,location,description\rWH1,A,x\rWH2,A,y\rWH3\r"
            ),
            ["3:location", "4:"]
        );
    }

    #[test]
    fn items_parse_with_defaults_and_any_column_order() {
        let text = "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock\n\
                    BIKE,\"Bike, red\",make,ea,2,lfl,,\n\
                    BOLT,Bolt,buy,ea,5,multiple,100,50\n";
        let ImportBatch::Items(rows) = parse(ImportKind::Items, text.as_bytes()).unwrap() else {
            panic!("wrong kind");
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(rows[0].row.description, "Bike, red");
        assert_eq!(rows[1].row.item.lot_size_qty, Decimal::from(100));
        assert_eq!(rows[1].row.item.lot_size_rule, LotSizeRule::Multiple);

        let reordered = "reference,due_date,qty,item\nSO-1,2025-01-07,5,BIKE\n";
        assert!(parse(ImportKind::Demands, reordered.as_bytes()).is_ok());
    }

    #[test]
    fn every_bad_cell_is_reported_with_line_and_column() {
        let text = "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock,scrap_pct\n\
                    A,ok,make,ea,1,lfl,,,\n\
                    B,x,sell,ea,-1,fixed,0,-5,2000\n\
                    ,x,buy,,1,lfl,,1e3,\n\
                    A,dup,buy,ea,1,lfl,,,\n\
                    C,short\n";
        assert_eq!(
            errors(ImportKind::Items, text),
            [
                "3:kind",
                "3:lead_time_days",
                "3:lot_size_qty",
                "3:safety_stock",
                "3:scrap_pct",
                "4:item",
                "4:uom",
                "4:safety_stock",
                "5:item",
                "6:",
            ]
        );
    }

    #[test]
    fn headers_must_be_known_and_complete() {
        assert_eq!(
            errors(ImportKind::Boms, "parent,component,qty,scrap_pct\n"),
            ["1:qty", "1:qty_per"]
        );
        assert_eq!(
            errors(ImportKind::Boms, ""),
            ["1:parent", "1:component", "1:qty_per", "1:scrap_pct"]
        );
    }

    #[test]
    fn boms_dates_and_quantities() {
        assert_eq!(
            errors(
                ImportKind::Boms,
                "parent,component,qty_per,scrap_pct\nA,A,1,0\nA,B,0,0\nA,C,1.1234567,\nA,D,2,5\nA,D,3,0\n"
            ),
            ["2:component", "3:qty_per", "4:qty_per", "6:component"]
        );
        assert_eq!(
            errors(
                ImportKind::Receipts,
                "item,qty,due_date,reference\nA,1,2025-02-30,PO-1\nA,1,2025-1-5,PO-2\nA,1,2025-01-05,PO-2\n"
            ),
            ["2:due_date", "3:due_date"]
        );
    }

    #[test]
    fn invalid_utf8_and_quotes_are_row_errors_not_panics() {
        let mut text = b"item,lot,location,qty\nA,L1,WH,1\nB,".to_vec();
        text.extend_from_slice(&[0xff, 0xfe]);
        text.extend_from_slice(b",WH,2\n");
        let (errors, _) = parse(ImportKind::Inventory, &text).unwrap_err();
        assert_eq!(errors[0].line, 3, "{errors:?}");
        let (errors, _) = parse(ImportKind::Inventory, b"\xff\xfe,x\n").unwrap_err();
        assert_eq!(errors[0].line, 1);
    }

    #[test]
    fn new_kinds_and_optional_columns() {
        let ImportBatch::UomConversions(rows) = parse(
            ImportKind::UomConversions,
            b"item,from_uom,to_uom,factor\nSCREW,box,pcs,12\nCOIL,coil,kg,250\n",
        )
        .unwrap() else {
            panic!("wrong kind");
        };
        assert_eq!(rows[1].row.factor, Decimal::from(250));
        assert_eq!(
            errors(
                ImportKind::UomConversions,
                "item,from_uom,to_uom,factor\nA,box,box,2\nA,box,pcs,-1\nA,box,pcs,3\nA,box,pcs,4\n"
            ),
            ["2:to_uom", "3:factor", "5:to_uom"]
        );
        let ImportBatch::Suppliers(rows) = parse(
            ImportKind::Suppliers,
            b"supplier,item,lead_time_days,price,preferred\nS1,B,2,1.5,true\nS2,B,1,1.2,\n",
        )
        .unwrap() else {
            panic!("wrong kind");
        };
        assert!(rows[0].row.preferred && !rows[1].row.preferred);
        let ImportBatch::Items(rows) = parse(
            ImportKind::Items,
            b"item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock,tracking,shelf_life_days,phantom\n\
              A,a,make,ea,1,lfl,,,lot,30,true\nB,b,buy,ea,1,lfl,,,,,\n",
        )
        .unwrap() else {
            panic!("wrong kind");
        };
        assert_eq!(
            (
                rows[0].row.tracking,
                rows[0].row.shelf_life_days,
                rows[0].row.phantom
            ),
            (Some(Tracking::Lot), Some(Some(30)), Some(true))
        );
        assert_eq!(
            (
                rows[1].row.tracking,
                rows[1].row.shelf_life_days,
                rows[1].row.phantom
            ),
            (Some(Tracking::None), Some(None), Some(false))
        );
        assert_eq!(
            errors(
                ImportKind::Items,
                "item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock,phantom\nB,b,buy,ea,1,lfl,,,true\n"
            ),
            ["2:phantom"]
        );
        let ImportBatch::Boms(rows) = parse(
            ImportKind::Boms,
            b"parent,component,qty_per,scrap_pct,uom\nKIT,SCREW,2,0,box\n",
        )
        .unwrap() else {
            panic!("wrong kind");
        };
        assert_eq!(rows[0].row.uom, "box");
    }

    #[test]
    fn quantities() {
        assert_eq!(parse_qty("12"), Some(Decimal::from(12)));
        assert_eq!(parse_qty("0.500"), Some(Decimal::new(5, 1)));
        assert_eq!(parse_qty("-3"), Some(Decimal::from(-3)));
        for bad in [
            "",
            "1e3",
            "1,000",
            "1.",
            ".5",
            "1.1234567",
            "99999999999999",
            "NaN",
            "+1",
        ] {
            assert_eq!(parse_qty(bad), None, "{bad}");
        }
    }
}
