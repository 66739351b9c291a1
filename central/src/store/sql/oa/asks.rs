//! Material requisitions (issue 17): more material for a work order than its BOM and the
//! plant's tolerance allow, or an item the BOM does not name. Asked at a line terminal (the
//! edge's `material_requested` event, [`ask`], in the ingest's transaction) or filled in at
//! central (the `material_requisition` form). Either way it is a row of `material_asks`:
//!
//! - asked at a terminal, it goes through the form's workflow on the operator's behalf
//!   ([`super::gate::gate`]: the requester is the user whose badge it is, else `badge:B0007`):
//!   waiting, approved by a rule, approved at once when the form has no workflow, or rejected
//!   when the form does not check (an item central does not know) or nobody can approve;
//! - its approval ([`approved`], from [`super::gate::carry_out`]), rejection or withdrawal
//!   ([`ended`]) changes its state;
//! - the plans of the work order's edges carry it ([`plan_requisitions`], filled by
//!   `fill_central_parts`), so the line issues an approved one's quantity more, and its
//!   terminal shows where each stands. Every change publishes those plans again
//!   ([`republish`]), in the same transaction.
//!
//! A requisition never fails ingest: one that cannot be asked is recorded as rejected with
//! why, and the operator sees it at the terminal.

use super::gate::{Gate, gate};
use super::{Connection, DateTime, Map, OaRequest, OptionalExtension, StoreError, Utc, Value};
use super::{params, ts};
use crate::oa::engine::{RequestState, TrailAction};
use crate::store::sql::db::Transaction;
use protocol::{Plan, PlanContent, PlanRequisition, RequisitionState};
use rust_decimal::Decimal;
use std::collections::BTreeSet;

pub(in crate::store::sql) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS material_asks (
    id          TEXT PRIMARY KEY,
    edge_id     TEXT,
    seq         INTEGER,
    station     TEXT,
    operator    TEXT,
    plant       TEXT NOT NULL,
    work_order  TEXT NOT NULL,
    operation   INTEGER,
    item        TEXT NOT NULL,
    qty         TEXT NOT NULL,
    uom         TEXT NOT NULL,
    reason      TEXT NOT NULL,
    state       TEXT NOT NULL,
    request     INTEGER,
    number      TEXT,
    decided_by  TEXT,
    comment     TEXT,
    asked_at    TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS material_asks_order ON material_asks (work_order, asked_at);
CREATE INDEX IF NOT EXISTS material_asks_request ON material_asks (request);
";

/// The form a requisition goes through.
pub(in crate::store::sql) const FORM: &str = "material_requisition";

/// A `material_requested` event, as ingest books it.
#[derive(Debug, Clone)]
pub(in crate::store::sql) struct AskFact {
    /// The event's id: the requisition's on both sides.
    pub id: String,
    pub station: Option<String>,
    pub work_order: String,
    pub operation: u32,
    pub item: String,
    pub qty: Decimal,
    pub uom: String,
    pub operator: String,
    pub reason: String,
}

impl AskFact {
    pub fn of(event_id: &str, event: &protocol::Event) -> Option<AskFact> {
        let protocol::EventKind::MaterialRequested {
            work_order,
            operation,
            item,
            qty,
            uom,
            operator,
            reason,
        } = &event.kind
        else {
            return None;
        };
        Some(AskFact {
            id: event_id.to_owned(),
            station: event.source.station.as_ref().map(|s| s.to_string()),
            work_order: work_order.to_string(),
            operation: *operation,
            item: item.to_string(),
            qty: *qty,
            uom: uom.clone(),
            operator: operator.to_string(),
            reason: reason.clone(),
        })
    }
}

/// Books a requisition asked at `edge` (of `plant`), and asks for its approval on the
/// operator's behalf. A requisition central already holds (the same event id) is left alone.
/// Returns whether it was new, so the caller publishes the edge's plan again.
pub(in crate::store::sql) fn ask(
    tx: &Transaction<'_>,
    edge: &str,
    plant: &str,
    seq: i64,
    at: &str,
    fact: &AskFact,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let inserted = tx
        .prepare_cached(
            "INSERT INTO material_asks (id, edge_id, seq, station, operator, plant, work_order,
                 operation, item, qty, uom, reason, state, asked_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'waiting', ?13, ?14)
             ON CONFLICT (id) DO NOTHING",
        )?
        .execute(params![
            fact.id,
            edge,
            seq,
            fact.station,
            fact.operator,
            plant,
            fact.work_order,
            i64::from(fact.operation),
            fact.item,
            fact.qty.normalize().to_string(),
            fact.uom,
            fact.reason,
            at,
            ts(now)
        ])?;
    if inserted == 0 {
        return Ok(false);
    }
    // The operator's user, when their badge is one; their badge otherwise.
    let user: Option<String> = tx
        .prepare_cached("SELECT login FROM users WHERE badge = ?1")?
        .query_row(params![fact.operator], |r| r.get(0))
        .optional()?;
    let requester = user.unwrap_or_else(|| format!("badge:{}", fact.operator));
    let values = Map::from_iter([
        (
            "work_order".to_owned(),
            Value::from(fact.work_order.clone()),
        ),
        ("item".to_owned(), Value::from(fact.item.clone())),
        (
            "qty".to_owned(),
            Value::from(fact.qty.normalize().to_string()),
        ),
        ("plant".to_owned(), Value::from(plant.to_owned())),
        (
            "reason".to_owned(),
            Value::from(match &fact.station {
                Some(station) => format!(
                    "{} (station {station}, {} {})",
                    fact.reason,
                    fact.qty.normalize(),
                    fact.uom
                ),
                None => fact.reason.clone(),
            }),
        ),
    ]);
    let gated = gate(tx, FORM, &fact.id, values, &requester, now, |_| true)?;
    let (state, request, number, comment) = match gated {
        Gate::Waiting { id, number } => (RequisitionState::Waiting, Some(id), Some(number), None),
        Gate::Pass(number) => (
            RequisitionState::Approved,
            match &number {
                Some(n) => request_id(tx, n)?,
                None => None,
            },
            number,
            Some("approved: no approval needed".to_owned()),
        ),
        Gate::NoWorkflow => (
            RequisitionState::Approved,
            None,
            None,
            Some("approved: requisitions need no approval here".to_owned()),
        ),
        Gate::Refused(why) => (RequisitionState::Rejected, None, None, Some(why)),
    };
    tx.prepare_cached(
        "UPDATE material_asks SET state = ?2, request = ?3, number = ?4, comment = ?5,
             decided_by = ?6, updated_at = ?7
         WHERE id = ?1",
    )?
    .execute(params![
        fact.id,
        state.as_str(),
        request,
        number,
        comment.map(|c| protocol::bounds::sanitize_text(&c)),
        (state != RequisitionState::Waiting).then_some("system"),
        ts(now)
    ])?;
    Ok(true)
}

fn request_id(conn: &Connection, number: &str) -> Result<Option<i64>, StoreError> {
    Ok(conn
        .prepare_cached("SELECT id FROM oa_requests WHERE number = ?1")?
        .query_row(params![number], |r| r.get(0))
        .optional()?)
}

/// Who decided `r` last (`A for B` for a delegate) and what they said.
fn decision(r: &OaRequest) -> (Option<String>, Option<String>) {
    let last = r.request.trail.iter().rev().find(|e| {
        matches!(
            e.action,
            TrailAction::Approved
                | TrailAction::AutoApproved
                | TrailAction::Rejected
                | TrailAction::Withdrawn
        )
    });
    match last {
        Some(e) => (
            Some(match &e.for_whom {
                Some(whom) => format!("{} for {whom}", e.by),
                None => e.by.clone(),
            }),
            (!e.comment.trim().is_empty()).then(|| e.comment.clone()),
        ),
        None => (None, None),
    }
}

/// An approved requisition: the one asked at a terminal (`subject`, its id) becomes
/// approved; one filled in at central becomes a requisition of its own (for whichever
/// operation of the order takes the item). The plans of the order's edges go again.
pub(in crate::store::sql) fn approved(
    tx: &Transaction<'_>,
    r: &OaRequest,
    subject: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Result<(String, Vec<Plan>), String>, StoreError> {
    let (by, comment) = decision(r);
    let id = match subject {
        Some(id) => id.to_owned(),
        None => {
            // The form keeps its values as text (numbers too).
            let text = |k: &str| {
                r.request
                    .values
                    .get(k)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned()
            };
            let qty: Decimal = match text("qty").trim().parse() {
                Ok(q) if q > Decimal::ZERO => q,
                _ => return Ok(Err("the requisition has no quantity above zero".into())),
            };
            let (work_order, item) = (text("work_order"), text("item"));
            let Some(unit) = super::super::work_orders::item_uom(tx, &item)? else {
                return Ok(Err(format!("item {item} is not known")));
            };
            tx.prepare_cached(
                "INSERT INTO material_asks (id, plant, work_order, item, qty, uom, reason, state,
                     request, number, asked_at, updated_at, operator)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'waiting', ?8, ?1, ?9, ?9, ?10)
                 ON CONFLICT (id) DO NOTHING",
            )?
            .execute(params![
                r.number,
                text("plant"),
                work_order,
                item,
                qty.normalize().to_string(),
                unit,
                text("reason"),
                r.id,
                ts(now),
                r.request.requester
            ])?;
            r.number.clone()
        }
    };
    let work_order = set_state(tx, &id, RequisitionState::Approved, by, comment, r, now)?;
    let Some((work_order, edge)) = work_order else {
        return Ok(Err(format!("requisition {id} is not known")));
    };
    let plans = republish(tx, &work_order, edge.as_deref())?;
    Ok(Ok((
        format!("material for {work_order} approved for the line"),
        plans,
    )))
}

/// A requisition's request ended without approval (rejected or withdrawn): the line is told
/// with the next plan. Nothing for other forms or a request about no requisition.
pub(in crate::store::sql) fn ended(
    tx: &Transaction<'_>,
    r: &OaRequest,
    now: DateTime<Utc>,
) -> Result<Vec<Plan>, StoreError> {
    if r.form != FORM
        || !matches!(
            r.request.state,
            RequestState::Rejected | RequestState::Withdrawn
        )
    {
        return Ok(Vec::new());
    }
    let id: Option<String> = tx
        .prepare_cached("SELECT id FROM material_asks WHERE request = ?1")?
        .query_row(params![r.id], |row| row.get(0))
        .optional()?;
    let Some(id) = id else {
        return Ok(Vec::new());
    };
    let (by, comment) = decision(r);
    match set_state(tx, &id, RequisitionState::Rejected, by, comment, r, now)? {
        Some((work_order, edge)) => republish(tx, &work_order, edge.as_deref()),
        None => Ok(Vec::new()),
    }
}

/// Sets a requisition's state; its work order and edge, or `None` when it is not known.
fn set_state(
    tx: &Transaction<'_>,
    id: &str,
    state: RequisitionState,
    by: Option<String>,
    comment: Option<String>,
    r: &OaRequest,
    now: DateTime<Utc>,
) -> Result<Option<(String, Option<String>)>, StoreError> {
    Ok(tx
        .prepare_cached(
            "UPDATE material_asks SET state = ?2, decided_by = ?3, comment = ?4, request = ?5,
                 number = ?6, updated_at = ?7
             WHERE id = ?1 RETURNING work_order, edge_id",
        )?
        .query_row(
            params![
                id,
                state.as_str(),
                by.map(|b| protocol::bounds::sanitize_text(&b)),
                comment.map(|c| protocol::bounds::sanitize_text(&c)),
                r.id,
                r.number,
                ts(now)
            ],
            |row| Ok((row.get(0)?, row.get(1)?)),
        )
        .optional()?)
}

/// Publishes again the plans that carry `work_order` (and `edge`'s, where it was asked).
fn republish(
    tx: &Transaction<'_>,
    work_order: &str,
    edge: Option<&str>,
) -> Result<Vec<Plan>, StoreError> {
    let mut edges: BTreeSet<String> = tx
        .prepare_cached("SELECT edge_id FROM wo_plans WHERE work_order = ?1")?
        .query_map(params![work_order], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    edges.extend(edge.map(str::to_owned));
    let mut plans = Vec::new();
    for edge in edges {
        plans.extend(super::super::spc::republish_edge(
            tx,
            &protocol::EdgeId(edge),
        )?);
    }
    Ok(plans)
}

/// How many work orders one query looks up.
const CHUNK: usize = 200;

/// The requisitions of the work orders `content` carries, oldest first, at most
/// [`protocol::plan::MAX_PLAN_REQUISITIONS`].
pub(in crate::store::sql) fn plan_requisitions(
    conn: &Connection,
    content: &PlanContent,
) -> Result<Vec<PlanRequisition>, StoreError> {
    let any: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM material_asks LIMIT 1")?
        .query_row([], |r| r.get(0))
        .optional()?;
    if any.is_none() || content.work_orders.is_empty() {
        return Ok(Vec::new());
    }
    let orders: Vec<&str> = content
        .work_orders
        .iter()
        .map(|w| w.work_order.as_str())
        .collect();
    let mut out = Vec::new();
    for chunk in orders.chunks(CHUNK) {
        let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("?{i}")).collect();
        let sql = format!(
            "SELECT id, number, work_order, operation, item, qty, uom, state, decided_by, comment
             FROM material_asks WHERE work_order IN ({}) ORDER BY asked_at, id",
            marks.join(", ")
        );
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(super::params_from_iter(chunk.iter()), |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
            ))
        })?;
        for row in rows {
            let (id, number, work_order, operation, item, qty, uom, state, by, comment) = row?;
            let qty: Decimal = qty
                .parse()
                .map_err(|e| StoreError::Corrupt(format!("requisition {id} qty {qty:?}: {e}")))?;
            let state = RequisitionState::parse(&state)
                .ok_or_else(|| StoreError::Corrupt(format!("requisition {id} state {state:?}")))?;
            out.push(PlanRequisition {
                id,
                number,
                work_order: work_order.as_str().into(),
                operation: operation.and_then(|o| u32::try_from(o).ok()),
                item: item.as_str().into(),
                qty,
                uom,
                state,
                decided_by: by,
                comment,
            });
            if out.len() >= protocol::plan::MAX_PLAN_REQUISITIONS {
                return Ok(out);
            }
        }
    }
    Ok(out)
}
