//! Central's CSV imports, every kind (items, boms, inventory, demands, receipts,
//! uom_conversions, suppliers, locations) and routings, from arbitrary bytes.
//!
//! Invariants: no panic; a refusal names at most MAX_REPORTED_ERRORS rows, with the total at
//! least that many, each on a line of the file; an accepted file holds only rows the store may
//! apply: ids of 1 to MAX_ID_LEN characters without control characters, quantities within
//! 0..=MAX_QTY with at most MAX_QTY_DP decimals (positive where a zero means nothing), lead
//! times within MAX_LEAD_TIME_DAYS, lines increasing.
#![no_main]

use central::erp::import::{
    self, ImportBatch, ImportKind, MAX_ID_LEN, MAX_LEAD_TIME_DAYS, MAX_QTY, MAX_QTY_DP,
    MAX_REPORTED_ERRORS, RowError,
};
use central::erp::routing_import;
use libfuzzer_sys::fuzz_target;
use rust_decimal::Decimal;

const KINDS: [ImportKind; 8] = [
    ImportKind::Items,
    ImportKind::Boms,
    ImportKind::Inventory,
    ImportKind::Demands,
    ImportKind::Receipts,
    ImportKind::UomConversions,
    ImportKind::Suppliers,
    ImportKind::Locations,
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, text)) = data.split_first() else {
        return;
    };
    // CR, LF and CR LF each end a line (a CSV from Excel for Mac has CR only).
    let lines = text.iter().filter(|&&b| b == b'\n' || b == b'\r').count() as u64 + 1;
    let check_errors = |errors: &[RowError], total: usize| {
        assert!(!errors.is_empty());
        assert!(errors.len() <= MAX_REPORTED_ERRORS && total >= errors.len());
        for e in errors {
            assert!((1..=lines).contains(&e.line), "line {} of {lines}", e.line);
        }
    };
    let Some(&kind) = KINDS.get(usize::from(which % 9)) else {
        match routing_import::parse(text) {
            Ok(rows) => {
                lines_increase(rows.iter().map(|r| r.line));
                for r in rows {
                    id(&r.row.item);
                    id(&r.row.work_center);
                    assert!(r.row.operation >= 1);
                }
            }
            Err((errors, total)) => check_errors(&errors, total),
        }
        return;
    };
    let batch = match import::parse(kind, text) {
        Ok(batch) => batch,
        Err((errors, total)) => {
            check_errors(&errors, total);
            return;
        }
    };
    assert_eq!(batch.kind(), kind);
    match batch {
        ImportBatch::Items(rows) => {
            lines_increase(rows.iter().map(|r| r.line));
            for r in rows {
                let item = &r.row.item;
                id(&item.item);
                assert!(item.lead_time_days <= MAX_LEAD_TIME_DAYS);
                qty(item.lot_size_qty);
                qty(item.safety_stock);
                qty(item.scrap_pct);
            }
        }
        ImportBatch::Boms(rows) => {
            lines_increase(rows.iter().map(|r| r.line));
            for r in rows {
                id(&r.row.line.parent);
                id(&r.row.line.component);
                assert!(qty(r.row.line.qty_per) > Decimal::ZERO);
                qty(r.row.line.scrap_pct);
            }
        }
        ImportBatch::Inventory(rows) => {
            lines_increase(rows.iter().map(|r| r.line));
            for r in rows {
                id(&r.row.item);
                id(&r.row.location);
                qty(r.row.qty);
            }
        }
        ImportBatch::Demands(rows) | ImportBatch::Receipts(rows) => {
            lines_increase(rows.iter().map(|r| r.line));
            for r in rows {
                id(&r.row.dated.item);
                id(&r.row.dated.reference);
                qty(r.row.dated.qty);
            }
        }
        ImportBatch::UomConversions(rows) => {
            lines_increase(rows.iter().map(|r| r.line));
            for r in rows {
                id(&r.row.item);
                qty(r.row.factor);
            }
        }
        ImportBatch::Suppliers(rows) => {
            lines_increase(rows.iter().map(|r| r.line));
            for r in rows {
                id(&r.row.supplier);
                id(&r.row.item);
                assert!(r.row.lead_time_days <= MAX_LEAD_TIME_DAYS);
                qty(r.row.price);
            }
        }
        ImportBatch::Locations(rows) => {
            lines_increase(rows.iter().map(|r| r.line));
            for r in rows {
                id(&r.row.warehouse);
                id(&r.row.location);
            }
        }
    }
});

fn id(s: &str) {
    assert!(
        !s.is_empty() && s.chars().count() <= MAX_ID_LEN && !s.chars().any(char::is_control),
        "id {s:?}"
    );
}

fn qty(q: Decimal) -> Decimal {
    assert!(q >= Decimal::ZERO && q <= Decimal::from(MAX_QTY), "qty {q}");
    assert!(q.normalize().scale() <= MAX_QTY_DP, "qty {q}");
    q
}

fn lines_increase(lines: impl Iterator<Item = u64>) {
    let mut last = 1;
    for line in lines {
        assert!(line > last, "line {line} after {last}");
        last = line;
    }
}
