//! [`MrpStore`] on SQLite: stored runs, their planned orders, and what was firmed.

use super::db::{Connection, OptionalExtension, TransactionBehavior, params};
use super::{SqlStore, StoreError, parse_ts, to_i64, to_u64, ts};
use crate::erp::mrp::{ItemKind, MrpPlan, PlannedOrder, lateness};
use crate::store::mrp::{
    FirmRequest, FirmSelection, Firmed, FirmedOrder, MAX_STORED_RUNS, MrpStore, Requisition,
    Requisitions, SkippedOrder, StoredRun,
};
use crate::store::work_orders::{NewWorkOrder, WoRejection, WoResult};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mrp_runs (
    run        INTEGER PRIMARY KEY AUTOINCREMENT,
    as_of      TEXT NOT NULL,
    created_at TEXT NOT NULL,
    messages   TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mrp_planned (
    run       INTEGER NOT NULL,
    reference TEXT NOT NULL,
    position  INTEGER NOT NULL,
    item      TEXT NOT NULL,
    kind      TEXT NOT NULL,
    qty       TEXT NOT NULL,
    start     TEXT NOT NULL,
    due       TEXT NOT NULL,
    supplier  TEXT,
    pegged_to TEXT NOT NULL,
    PRIMARY KEY (run, reference)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mrp_firmed (
    run           INTEGER NOT NULL,
    planned_order TEXT NOT NULL,
    work_order    TEXT NOT NULL,
    firmed_at     TEXT NOT NULL,
    PRIMARY KEY (run, planned_order)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mrp_firmed_work_order ON mrp_firmed (work_order);
CREATE INDEX IF NOT EXISTS inv_ledger_produced_for ON inv_ledger (work_order, item)
    WHERE reason = 'produced';
";

fn decimal(text: &str) -> Result<Decimal, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("quantity {text:?}: {e}")))
}

fn date(text: &str) -> Result<NaiveDate, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("date {text:?}: {e}")))
}

/// The run's planning date; `None` if there is no such run.
pub(super) fn run_as_of(conn: &Connection, run: u64) -> Result<Option<NaiveDate>, StoreError> {
    conn.prepare_cached("SELECT as_of FROM mrp_runs WHERE run = ?1")?
        .query_row(params![to_i64(run)?], |r| r.get::<_, String>(0))
        .optional()?
        .map(|d| date(&d))
        .transpose()
}

/// The run's planned orders in output order, with lateness against `as_of`.
pub(super) fn read_planned(
    conn: &Connection,
    run: u64,
    as_of: NaiveDate,
) -> Result<Vec<PlannedOrder>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT reference, item, kind, qty, start, due, supplier, pegged_to FROM mrp_planned
         WHERE run = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map(params![to_i64(run)?], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, String>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, String>(7)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (reference, item, kind, qty, start, due, supplier, pegged_to) = row?;
        let start = date(&start)?;
        out.push(PlannedOrder {
            reference,
            item,
            kind: ItemKind::parse(&kind)
                .ok_or_else(|| StoreError::Corrupt(format!("item kind {kind:?}")))?,
            qty: decimal(&qty)?,
            start,
            due: date(&due)?,
            pegged_to: serde_json::from_str(&pegged_to)?,
            supplier,
            late: lateness(start, as_of).is_some(),
            days_late: lateness(start, as_of),
        });
    }
    Ok(out)
}

fn read_firmed(conn: &Connection, run: u64) -> Result<HashMap<String, String>, StoreError> {
    let mut stmt =
        conn.prepare_cached("SELECT planned_order, work_order FROM mrp_firmed WHERE run = ?1")?;
    let rows = stmt.query_map(params![to_i64(run)?], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The line a work order of `item` goes to by default: that of the work center of the first
/// operation of its routing.
fn routing_line(conn: &Connection, item: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT w.line FROM mes_routing_ops r JOIN mes_work_centers w
                 ON w.work_center = r.work_center
             WHERE r.item = ?1 ORDER BY r.operation LIMIT 1",
        )?
        .query_row(params![item], |r| r.get(0))
        .optional()?)
}

fn invalid(reference: &str, message: impl std::fmt::Display) -> WoRejection {
    WoRejection::Invalid(format!("planned order {reference:?}: {message}"))
}

#[async_trait]
impl MrpStore for SqlStore {
    async fn save_mrp_run(
        &self,
        mut plan: MrpPlan,
        as_of: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<MrpPlan, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let run = tx
                .prepare_cached(
                    "INSERT INTO mrp_runs (as_of, created_at, messages) VALUES (?1, ?2, ?3)
                 RETURNING run",
                )?
                .query_row(
                    params![
                        as_of.to_string(),
                        ts(now),
                        serde_json::to_string(&plan.messages)?
                    ],
                    |r| r.get::<_, i64>(0),
                )?;
            let run = to_u64(run);
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO mrp_planned (run, reference, position, item, kind, qty, start,
                         due, supplier, pegged_to)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?;
                for (position, po) in plan.planned_orders.iter().enumerate() {
                    insert.execute(params![
                        to_i64(run)?,
                        po.reference,
                        to_i64(position as u64)?,
                        po.item,
                        po.kind.as_str(),
                        po.qty.normalize().to_string(),
                        po.start.to_string(),
                        po.due.to_string(),
                        po.supplier,
                        serde_json::to_string(&po.pegged_to)?,
                    ])?;
                }
            }
            if let Some(oldest_kept) = run.checked_sub(MAX_STORED_RUNS - 1) {
                let cut = to_i64(oldest_kept)?;
                tx.execute("DELETE FROM mrp_planned WHERE run < ?1", params![cut])?;
                tx.execute("DELETE FROM mrp_firmed WHERE run < ?1", params![cut])?;
                tx.execute("DELETE FROM mrp_runs WHERE run < ?1", params![cut])?;
            }
            tx.commit()?;
            plan.run = Some(run);
            plan.as_of = Some(as_of);
            Ok(plan)
        })
        .await
    }

    async fn mrp_run(&self, run: u64) -> Result<Option<StoredRun>, StoreError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let row: Option<(String, String, String)> = tx
                .prepare_cached("SELECT as_of, created_at, messages FROM mrp_runs WHERE run = ?1")?
                .query_row(params![to_i64(run)?], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let Some((as_of, created_at, messages)) = row else {
                return Ok(None);
            };
            let as_of = date(&as_of)?;
            let planned_orders = read_planned(&tx, run, as_of)?;
            let mut firmed: Vec<(String, String, String)> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT planned_order, work_order, firmed_at FROM mrp_firmed WHERE run = ?1",
                )?;
                stmt.query_map(params![to_i64(run)?], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?
            };
            firmed.sort_by(|a, b| a.2.cmp(&b.2).then_with(|| a.0.cmp(&b.0)));
            tx.finish()?;
            Ok(Some(StoredRun {
                plan: MrpPlan {
                    run: Some(run),
                    as_of: Some(as_of),
                    planned_orders,
                    messages: serde_json::from_str(&messages)?,
                },
                created_at: parse_ts(&created_at)?,
                firmed: firmed
                    .into_iter()
                    .map(|(planned_order, work_order, _)| FirmedOrder {
                        planned_order,
                        work_order,
                        created: false,
                    })
                    .collect(),
            }))
        })
        .await
    }

    async fn firm(&self, run: u64, request: FirmRequest, now: DateTime<Utc>) -> WoResult<Firmed> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(as_of) = run_as_of(&tx, run)? else {
                return Ok(Err(WoRejection::NotFound(format!(
                    "no mrp run {run}; expected a run made by post /api/v1/mrp/run (central keeps the latest {MAX_STORED_RUNS})"
                ))));
            };
            let planned = read_planned(&tx, run, as_of)?;
            let done = read_firmed(&tx, run)?;
            let mut skipped = Vec::new();
            let selected: Vec<&PlannedOrder> = match &request.selection {
                FirmSelection::All => planned
                    .iter()
                    .filter(|po| {
                        let make = po.kind == ItemKind::Make;
                        if !make {
                            skipped.push(SkippedOrder {
                                planned_order: po.reference.clone(),
                                reason: "a purchase requisition: bought, not made (get /api/v1/mrp/runs/{run}/requisitions)".into(),
                            });
                        }
                        make
                    })
                    .collect(),
                FirmSelection::Some(references) => {
                    let by_ref: HashMap<&str, &PlannedOrder> =
                        planned.iter().map(|po| (po.reference.as_str(), po)).collect();
                    let mut out = Vec::new();
                    for reference in references {
                        let Some(po) = by_ref.get(reference.as_str()) else {
                            return Ok(Err(invalid(
                                reference,
                                format!("not in mrp run {run}; expected a reference of its planned_orders"),
                            )));
                        };
                        if po.kind != ItemKind::Make {
                            return Ok(Err(invalid(
                                reference,
                                format!("is a purchase requisition for {:?}, which is bought, not made; expected a make item's planned order", po.item),
                            )));
                        }
                        if !out.iter().any(|o: &&PlannedOrder| o.reference == po.reference) {
                            out.push(*po);
                        }
                    }
                    out
                }
            };
            let mut firmed = Vec::new();
            for po in selected {
                if let Some(work_order) = done.get(&po.reference) {
                    firmed.push(FirmedOrder {
                        planned_order: po.reference.clone(),
                        work_order: work_order.clone(),
                        created: false,
                    });
                    continue;
                }
                if let Err(v) = protocol::bounds::check_qty("qty", po.qty) {
                    return Ok(Err(invalid(
                        &po.reference,
                        format!("{v}; a work order goes down to its lines in a plan"),
                    )));
                }
                let line = match &request.line {
                    Some(line) => line.clone(),
                    None => match routing_line(&tx, &po.item)? {
                        Some(line) => line,
                        None => {
                            return Ok(Err(invalid(
                                &po.reference,
                                format!(
                                    "item {:?} has no routing whose first work center stands on a line; expected a routing set with put /api/v1/routings/{}, or a line in the request",
                                    po.item, po.item
                                ),
                            )));
                        }
                    },
                };
                let order = NewWorkOrder {
                    work_order: None,
                    item: po.item.clone(),
                    qty: po.qty,
                    due: po.due,
                    priority: request.priority,
                    line,
                };
                let work_order = match super::work_orders::create(&tx, &order, now)? {
                    Ok(id) => id,
                    Err(WoRejection::Invalid(m) | WoRejection::Conflict(m)) => {
                        return Ok(Err(invalid(&po.reference, m)));
                    }
                    Err(other) => return Ok(Err(other)),
                };
                tx.prepare_cached(
                    "INSERT INTO mrp_firmed (run, planned_order, work_order, firmed_at)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![to_i64(run)?, po.reference, work_order, ts(now)])?;
                firmed.push(FirmedOrder {
                    planned_order: po.reference.clone(),
                    work_order,
                    created: true,
                });
            }
            tx.commit()?;
            Ok(Ok(Firmed {
                run,
                firmed,
                skipped,
            }))
        })
        .await
    }

    async fn requisitions(&self, run: u64) -> Result<Option<Requisitions>, StoreError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let Some(as_of) = run_as_of(&tx, run)? else {
                return Ok(None);
            };
            let mut requisitions = Vec::new();
            for po in read_planned(&tx, run, as_of)? {
                if po.kind != ItemKind::Buy {
                    continue;
                }
                let uom = super::work_orders::item_uom(&tx, &po.item)?.unwrap_or_default();
                requisitions.push(Requisition {
                    planned_order: po.reference,
                    item: po.item,
                    qty: po.qty,
                    uom,
                    need_date: po.due,
                    order_by: po.start,
                    late: po.late,
                    days_late: po.days_late,
                    supplier: po.supplier,
                    pegged_to: po.pegged_to,
                });
            }
            tx.finish()?;
            Ok(Some(Requisitions {
                run,
                as_of,
                requisitions,
            }))
        })
        .await
    }
}
