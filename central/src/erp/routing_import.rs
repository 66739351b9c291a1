//! CSV import of routings (`POST /api/v1/import/routings`), in the style of [`super::import`]:
//! a header line, every bad cell named by line and column, all or nothing.
//!
//! Columns `item,operation,description,work_center` (any order; `description` may be left
//! out). A file replaces the whole routing of every item it names. The store checks that
//! items and work centers exist.

use super::import::{Line, MAX_REPORTED_ERRORS, RowError, read_rows};
use std::collections::HashMap;

/// Highest operation number (as the JSON route allows).
pub const MAX_OPERATION: u32 = 99_999;

const REQUIRED: [&str; 3] = ["item", "operation", "work_center"];
const OPTIONAL: [&str; 2] = ["description", "ideal_cycle_s"];

/// One routing operation as the file gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutingRow {
    pub item: String,
    pub operation: u32,
    pub description: String,
    pub work_center: String,
    /// Planned run time per unit (ISO 22400's PRI), in milliseconds; `ideal_cycle_s` in the
    /// file, in seconds.
    pub ideal_cycle_ms: Option<i64>,
}

/// The most an ideal cycle time may be: one unit a day.
pub const MAX_IDEAL_CYCLE_MS: i64 = 86_400_000;

/// Seconds per unit (`"12.5"`) as whole milliseconds: more than 0 and at most a day, at most
/// millisecond precision.
pub fn ideal_cycle_ms(seconds: rust_decimal::Decimal) -> Result<i64, String> {
    use rust_decimal::prelude::ToPrimitive;
    let ms = seconds * rust_decimal::Decimal::ONE_THOUSAND;
    if ms.fract() != rust_decimal::Decimal::ZERO {
        return Err(format!(
            "{seconds} s has more than three decimals; expected seconds to the millisecond"
        ));
    }
    match ms.to_i64() {
        Some(ms) if (1..=MAX_IDEAL_CYCLE_MS).contains(&ms) => Ok(ms),
        _ => Err(format!(
            "{seconds} s is not valid; expected more than 0 and at most 86400 seconds a unit"
        )),
    }
}

/// Parses a routings file. `Err` holds every bad row (at most [`MAX_REPORTED_ERRORS`]) and
/// the total found.
pub fn parse(text: &[u8]) -> Result<Vec<Line<RoutingRow>>, (Vec<RowError>, usize)> {
    let mut rows = Vec::new();
    let mut first_line: HashMap<(String, u32), u64> = HashMap::new();
    let mut errors = read_rows(
        text,
        &REQUIRED,
        &OPTIONAL,
        "item,operation,description,work_center",
        |line, record, index, errors| {
            let cell = |column: &str| index.get(column).and_then(|&i| record.get(i)).unwrap_or("");
            let n_errors = errors.len();
            let mut id = |column: &str| {
                let s = cell(column);
                if s.is_empty() {
                    errors.push(RowError::new(
                        line,
                        column,
                        format!("{column} is empty; expected an id"),
                    ));
                } else if let Err(v) = protocol::bounds::check_id(column, s) {
                    errors.push(RowError::new(line, column, v.to_string()));
                }
                s.to_owned()
            };
            let item = id("item");
            let work_center = id("work_center");
            let raw = cell("operation");
            let operation = raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_OPERATION).contains(n));
            if operation.is_none() {
                errors.push(RowError::new(
                    line,
                    "operation",
                    format!(
                        "operation {raw:?} is not valid; expected a whole number from 1 to {MAX_OPERATION}"
                    ),
                ));
            }
            let description = cell("description");
            if let Err(v) = protocol::bounds::check_text("description", description) {
                errors.push(RowError::new(line, "description", v.to_string()));
            }
            let raw_ideal = cell("ideal_cycle_s");
            let ideal = if raw_ideal.is_empty() {
                None
            } else {
                match raw_ideal
                    .parse::<rust_decimal::Decimal>()
                    .map_err(|_| format!("{raw_ideal:?} is not a number of seconds"))
                    .and_then(ideal_cycle_ms)
                {
                    Ok(ms) => Some(ms),
                    Err(e) => {
                        errors.push(RowError::new(line, "ideal_cycle_s", e));
                        None
                    }
                }
            };
            let (Some(operation), true) = (operation, errors.len() == n_errors) else {
                return;
            };
            if let Some(first) = first_line.insert((item.clone(), operation), line) {
                errors.push(RowError::new(
                    line,
                    "operation",
                    format!(
                        "item {item:?} operation {operation} repeats line {first}; expected each operation once per item"
                    ),
                ));
                return;
            }
            rows.push(Line {
                line,
                row: RoutingRow {
                    item,
                    operation,
                    description: description.to_owned(),
                    work_center,
                    ideal_cycle_ms: ideal,
                },
            });
        },
    );
    if errors.is_empty() {
        Ok(rows)
    } else {
        let total = errors.len();
        errors.truncate(MAX_REPORTED_ERRORS);
        Err((errors, total))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(text: &str) -> Vec<String> {
        parse(text.as_bytes())
            .expect_err("refused")
            .0
            .iter()
            .map(|e| format!("{}:{}", e.line, e.column))
            .collect()
    }

    #[test]
    fn rows_parse_in_any_column_order() {
        let rows = parse(b"work_center,operation,item\nCUT,10,FRAME\nWELD,20,FRAME\n").unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].line, 3);
        assert_eq!(rows[1].row.operation, 20);
        assert_eq!(rows[1].row.description, "");
    }

    #[test]
    fn every_bad_cell_is_named() {
        assert_eq!(
            errors(
                "item,operation,description,work_center\n\
                 FRAME,10,cut,CUT\n\
                 FRAME,0,x,\n\
                 ,ten,x,CUT\n\
                 FRAME,10,again,CUT\n\
                 FRAME,20\n"
            ),
            [
                "3:work_center",
                "3:operation",
                "4:item",
                "4:operation",
                "5:operation",
                "6:"
            ]
        );
        assert_eq!(errors("item,op,work_center\n"), ["1:op", "1:operation"]);
    }
}
