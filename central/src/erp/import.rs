//! CSV import of master data: parsing and row validation, pure (no I/O). A file is parsed
//! whole; every bad row is reported with its line and column ([`RowError`]); the store
//! then applies the rows in one transaction, checking what needs the database (items that
//! must exist, BOM cycles), or nothing at all.
//!
//! Columns (a header line first; any order; names exact; values trimmed):
//!
//! | kind | columns |
//! | --- | --- |
//! | `items` | `item,description,kind,uom,lead_time_days,lot_size_rule,lot_size_qty,safety_stock`, optional `scrap_pct` |
//! | `boms` | `parent,component,qty_per,scrap_pct` |
//! | `inventory` | `item,lot,location,qty` |
//! | `demands`, `receipts` | `item,qty,due_date,reference` |
//!
//! Semantics: items are created or updated by `item`; a BOM file replaces the whole BOM of
//! every parent it names; inventory rows set the quantity of `(item, lot, location)`;
//! demands and receipts are created or updated by `reference`. A quantity of 0 removes an
//! inventory row, a demand or a receipt. Empty `lot_size_qty`, `safety_stock`, `scrap_pct`
//! and `lot` mean 0 (or no lot).

use super::mrp::{BomLine, Dated, Item, ItemKind, LotSizeRule};
use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most row errors one response lists; the message gives the total.
pub const MAX_REPORTED_ERRORS: usize = 1000;
/// Longest id (item, lot, location, reference).
pub const MAX_ID_LEN: usize = 100;
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
}

impl ImportKind {
    pub const ALL: [ImportKind; 5] = [
        ImportKind::Items,
        ImportKind::Boms,
        ImportKind::Inventory,
        ImportKind::Demands,
        ImportKind::Receipts,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ImportKind::Items => "items",
            ImportKind::Boms => "boms",
            ImportKind::Inventory => "inventory",
            ImportKind::Demands => "demands",
            ImportKind::Receipts => "receipts",
        }
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
        }
    }

    pub fn optional_columns(self) -> &'static [&'static str] {
        match self {
            ImportKind::Items => &["scrap_pct"],
            _ => &[],
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
}

#[derive(Debug, Clone, PartialEq)]
pub struct InventoryRow {
    pub item: String,
    pub lot: String,
    pub location: String,
    pub qty: Decimal,
}

/// A parsed, row-valid file.
#[derive(Debug, Clone, PartialEq)]
pub enum ImportBatch {
    Items(Vec<Line<ItemRecord>>),
    Boms(Vec<Line<BomLine>>),
    Inventory(Vec<Line<InventoryRow>>),
    Demands(Vec<Line<Dated>>),
    Receipts(Vec<Line<Dated>>),
}

impl ImportBatch {
    pub fn kind(&self) -> ImportKind {
        match self {
            ImportBatch::Items(_) => ImportKind::Items,
            ImportBatch::Boms(_) => ImportKind::Boms,
            ImportBatch::Inventory(_) => ImportKind::Inventory,
            ImportBatch::Demands(_) => ImportKind::Demands,
            ImportBatch::Receipts(_) => ImportKind::Receipts,
        }
    }

    pub fn len(&self) -> usize {
        match self {
            ImportBatch::Items(rows) => rows.len(),
            ImportBatch::Boms(rows) => rows.len(),
            ImportBatch::Inventory(rows) => rows.len(),
            ImportBatch::Demands(rows) | ImportBatch::Receipts(rows) => rows.len(),
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
        let s = self.raw(column);
        if s.chars().any(char::is_control) {
            return self.fail(
                column,
                format!("{column} has a control character; expected plain text"),
            );
        }
        Some(s.to_owned())
    }

    fn id(&mut self, column: &str, required: bool) -> Option<String> {
        let s = self.raw(column).to_owned();
        if s.is_empty() && required {
            return self.fail(column, format!("{column} is empty; expected an id"));
        }
        if s.chars().count() > MAX_ID_LEN || s.chars().any(char::is_control) {
            return self.fail(
                column,
                format!("{column} {s:?} is not an id; expected at most {MAX_ID_LEN} characters without control characters"),
            );
        }
        Some(s)
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
            return Err((errors, 1));
        }
    };
    let mut index: HashMap<&'static str, usize> = HashMap::new();
    let known: Vec<&'static str> = kind
        .columns()
        .iter()
        .chain(kind.optional_columns())
        .copied()
        .collect();
    let expected = kind.columns().join(",");
    for (i, name) in headers.iter().enumerate() {
        match known.iter().find(|&&k| k == name) {
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
    for &required in kind.columns() {
        if !index.contains_key(required) {
            errors.push(RowError::new(
                1,
                required,
                format!("column {required:?} is missing; expected the columns {expected}"),
            ));
        }
    }
    if !errors.is_empty() {
        let n = errors.len();
        return Err((errors, n));
    }

    let mut batch = match kind {
        ImportKind::Items => ImportBatch::Items(Vec::new()),
        ImportKind::Boms => ImportBatch::Boms(Vec::new()),
        ImportKind::Inventory => ImportBatch::Inventory(Vec::new()),
        ImportKind::Demands => ImportBatch::Demands(Vec::new()),
        ImportKind::Receipts => ImportBatch::Receipts(Vec::new()),
    };
    // Key → first line, to report duplicates within the file.
    let mut keys: HashMap<String, u64> = HashMap::new();
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                let at = e.position().map_or(line + 1, |p| p.line());
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
        line = record.position().map_or(line + 1, |p| p.line());
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
        let n_errors = errors.len();
        let mut cells = Cells {
            line,
            record: &record,
            index: &index,
            errors: &mut errors,
        };
        let key = match &mut batch {
            ImportBatch::Items(rows) => parse_item(&mut cells).map(|r| {
                let key = r.item.item.clone();
                rows.push(Line { line, row: r });
                key
            }),
            ImportBatch::Boms(rows) => parse_bom(&mut cells).map(|r| {
                let key = format!("{}\u{0}{}", r.parent, r.component);
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
                    let key = r.reference.clone();
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
            };
            errors.push(RowError::new(
                line,
                column,
                format!("row repeats the key of line {first}; expected each key once per file"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(batch)
    } else {
        let total = errors.len();
        errors.truncate(MAX_REPORTED_ERRORS);
        Err((errors, total))
    }
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
    let uom = c.id("uom", true);
    let lt_raw = c.raw("lead_time_days").to_owned();
    let lead_time_days = lt_raw
        .parse::<u32>()
        .ok()
        .filter(|&d| d <= MAX_LEAD_TIME_DAYS)
        .or_else(|| {
            c.fail(
                "lead_time_days",
                format!("lead_time_days {lt_raw:?} is not valid; expected whole working days from 0 to {MAX_LEAD_TIME_DAYS}"),
            )
        });
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
    Some(ItemRecord {
        item: Item {
            item: item?,
            kind: kind?,
            lead_time_days: lead_time_days?,
            lot_size_rule: lot_size_rule?,
            lot_size_qty: lot_size_qty?,
            safety_stock: safety_stock?,
            scrap_pct: scrap_pct?,
        },
        description: description?,
        uom: uom?,
    })
}

fn parse_bom(c: &mut Cells<'_>) -> Option<BomLine> {
    let parent = c.id("parent", true);
    let component = c.id("component", true);
    let qty_per = c.qty("qty_per", false, true);
    let scrap_pct = c.percent("scrap_pct");
    let (parent, component) = (parent?, component?);
    if parent == component {
        return c.fail(
            "component",
            format!("item {parent:?} is its own component; expected another item"),
        );
    }
    Some(BomLine {
        parent,
        component,
        qty_per: qty_per?,
        scrap_pct: scrap_pct?,
    })
}

fn parse_inventory(c: &mut Cells<'_>) -> Option<InventoryRow> {
    let item = c.id("item", true);
    let lot = c.id("lot", false);
    let location = c.id("location", true);
    let qty = c.qty("qty", false, false);
    Some(InventoryRow {
        item: item?,
        lot: lot?,
        location: location?,
        qty: qty?,
    })
}

fn parse_dated(c: &mut Cells<'_>) -> Option<Dated> {
    let item = c.id("item", true);
    let qty = c.qty("qty", false, false);
    let due = c.date("due_date");
    let reference = c.id("reference", true);
    Some(Dated {
        item: item?,
        qty: qty?,
        due: due?,
        reference: reference?,
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
