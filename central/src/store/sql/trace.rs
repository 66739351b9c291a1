//! [`TraceStore`] on either engine: reads of the ledger, the genealogy tables and the stored
//! events for the work order and traceability pages.
//!
//! The timeline reads `events_by_order` ([`SCHEMA`], schema 11): one row per stored event
//! that names a work order and belongs on a timeline, keyed by the order and the timeline's
//! own order `(at, edge, seq)`, filled by ingest in the batch's transaction and back-filled
//! from the stored events on the upgrade ([`backfill_order_index`]). A page is a range read
//! of that key, newest first, stopped at the page's size, and one look-up of each event it
//! shows: it costs the order's own events, not every event of its edges.

use super::db::{Connection, OptionalExtension, params};
use super::inventory::Balance;
use super::{SqlStore, StoreError, parse_ts, to_i64, to_u64, ts};
use crate::store::inventory::{Direction, GenealogyLink, GenealogyNode};
use crate::store::trace::{
    LotOrders, LotQty, MAX_TIMELINE_PAGE, NearGenealogy, OrderLots, TIMELINE_KINDS, Timeline,
    TimelineCursor, TimelineEntry, TraceStore,
};
use crate::store::work_orders::LotHold;
use async_trait::async_trait;
use std::collections::BTreeMap;

/// The events that name a work order, by order (schema 11): what its timeline reads. Only
/// events of [`TIMELINE_KINDS`] that name one and are not in quarantine; `at` is the event's
/// as `events` holds it. An index, not a fact: not audited, and a function of `events`.
pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events_by_order (
    work_order TEXT NOT NULL,
    at         TEXT NOT NULL,
    edge_id    TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    PRIMARY KEY (work_order, at, edge_id, seq)
) WITHOUT ROWID;
";

/// The work order an event of [`TIMELINE_KINDS`] names, for `events_by_order`.
pub(super) fn timeline_order(kind: &protocol::EventKind) -> Option<&str> {
    use protocol::EventKind::*;
    let order = match kind {
        WorkOrderStarted { work_order, .. }
        | WorkOrderPaused { work_order, .. }
        | WorkOrderCompleted { work_order }
        | MaterialIssued { work_order, .. }
        | LotProduced { work_order, .. } => work_order,
        ProductionReported { work_order, .. } | Measurement { work_order, .. } => {
            work_order.as_ref()?
        }
        _ => return None,
    };
    debug_assert!(TIMELINE_KINDS.contains(&kind.name()));
    Some(order.as_str())
}

/// Events read at a time by [`backfill_order_index`].
const BACKFILL_CHUNK: i64 = 5000;

/// Fills `events_by_order` from the stored events (the upgrade to schema 11): every event of
/// [`TIMELINE_KINDS`] not in quarantine whose body's `kind.work_order` is a text, as the
/// timeline read them before the index. Returns the rows made. Runs in the caller's
/// transaction; idempotent.
pub(super) fn backfill_order_index(tx: &Connection) -> Result<u64, StoreError> {
    let kinds = TIMELINE_KINDS
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let read = format!(
        "SELECT e.edge_id, e.seq, e.at, e.body FROM events e
         WHERE (e.edge_id > ?1 OR (e.edge_id = ?1 AND e.seq > ?2)) AND e.kind IN ({kinds})
           AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.edge_id = e.edge_id AND q.seq = e.seq)
         ORDER BY e.edge_id, e.seq LIMIT ?3"
    );
    let (mut edge, mut seq) = (String::new(), 0_i64);
    let mut made = 0;
    loop {
        let rows: Vec<(String, i64, String, String)> = {
            let mut stmt = tx.prepare(&read)?;
            stmt.query_map(params![edge, seq, BACKFILL_CHUNK], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let Some((last_edge, last_seq, _, _)) = rows.last() else {
            return Ok(made);
        };
        (edge, seq) = (last_edge.clone(), *last_seq);
        let mut values = Vec::new();
        for (edge_id, seq, at, body) in rows {
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&body) else {
                continue;
            };
            let Some(order) = event
                .get("kind")
                .and_then(|k| k.get("work_order"))
                .and_then(|w| w.as_str())
            else {
                continue;
            };
            values.extend([
                super::db::Value::from(order.to_owned()),
                super::db::Value::from(at),
                super::db::Value::from(edge_id),
                super::db::Value::from(seq),
            ]);
        }
        made += tx.execute_rows(&values, 4, |rows| {
            format!(
                "INSERT INTO events_by_order (work_order, at, edge_id, seq) VALUES {rows}
                 ON CONFLICT DO NOTHING"
            )
        })? as u64;
    }
}

#[async_trait]
impl TraceStore for SqlStore {
    async fn order_lots(&self, work_order: String) -> Result<Option<OrderLots>, StoreError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            if !order_exists(&tx, &work_order)? {
                return Ok(None);
            }
            let issued = lot_sums(
                &tx,
                &work_order,
                "SELECT item, lot FROM gen_issued WHERE work_order = ?1 ORDER BY item, lot",
                "issued",
            )?
            .into_iter()
            .map(|mut q| {
                // Issues are booked as stock going out: the order took in the opposite.
                q.qty = q.qty.map(|n| -n);
                q
            })
            .collect::<Vec<_>>();
            let produced = lot_sums(
                &tx,
                &work_order,
                "SELECT item, lot FROM gen_produced WHERE work_order = ?1 ORDER BY lot, item",
                "produced",
            )?;
            let mut holds = Vec::new();
            {
                let mut stmt = tx.prepare_cached(
                    "SELECT lot, item, reason, held_at FROM lot_holds WHERE lot = ?1",
                )?;
                let mut seen = std::collections::BTreeSet::new();
                for q in issued.iter().chain(&produced) {
                    if !seen.insert(q.lot.clone()) {
                        continue;
                    }
                    let hold: Option<(String, String, String, String)> = stmt
                        .query_row(params![q.lot], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                        })
                        .optional()?;
                    if let Some((lot, item, reason, held_at)) = hold {
                        holds.push(LotHold {
                            lot,
                            item,
                            reason,
                            held_at: parse_ts(&held_at)?,
                        });
                    }
                }
            }
            tx.finish()?;
            Ok(Some(OrderLots {
                work_order,
                issued,
                produced,
                holds,
            }))
        })
        .await
    }

    async fn order_timeline(
        &self,
        work_order: String,
        before: Option<TimelineCursor>,
        limit: usize,
    ) -> Result<Option<Timeline>, StoreError> {
        let limit = limit.clamp(1, MAX_TIMELINE_PAGE);
        self.read(move |conn| {
            let tx = conn.transaction()?;
            if !order_exists(&tx, &work_order)? {
                return Ok(None);
            }
            let found = order_page(&tx, &work_order, before.as_ref(), limit + 1)?;
            tx.finish()?;
            let mut found = found;
            let next = if found.len() > limit {
                found.truncate(limit);
                found.last().map(|e| TimelineCursor {
                    at: e.at,
                    edge_id: e.edge_id.clone(),
                    seq: e.seq,
                })
            } else {
                None
            };
            Ok(Some(Timeline {
                work_order,
                entries: found,
                next,
            }))
        })
        .await
    }

    async fn genealogy_near(
        &self,
        lot: String,
        direction: Direction,
        levels: u32,
        max_nodes: usize,
    ) -> Result<NearGenealogy, StoreError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            // The same neighbours as the full trace's (`inventory.rs`, `genealogy`).
            let sql = match direction {
                Direction::Backward => {
                    "SELECT consumed_lot FROM gen_consumed WHERE produced_lot = ?1
                     UNION SELECT i.lot FROM gen_produced p
                       JOIN gen_issued i ON i.work_order = p.work_order WHERE p.lot = ?1
                     ORDER BY 1"
                }
                Direction::Forward => {
                    "SELECT produced_lot FROM gen_consumed WHERE consumed_lot = ?1
                     UNION SELECT p.lot FROM gen_issued i
                       JOIN gen_produced p ON p.work_order = i.work_order WHERE i.lot = ?1
                     ORDER BY 1"
                }
            };
            let mut seen: std::collections::HashSet<String> =
                std::collections::HashSet::from([lot.clone()]);
            let mut queue = std::collections::VecDeque::from([(lot.clone(), 0u32)]);
            let mut accepted = 0usize;
            let mut left_out = 0usize;
            let mut nodes = Vec::new();
            let mut links = Vec::new();
            while let Some((current, depth)) = queue.pop_front() {
                let neighbours: Vec<String> = {
                    let mut stmt = tx.prepare_cached(sql)?;
                    stmt.query_map(params![current], |r| r.get(0))?
                        .collect::<Result<_, _>>()?
                };
                for next in neighbours {
                    if next == current {
                        continue;
                    }
                    let link = match direction {
                        Direction::Backward => GenealogyLink {
                            produced: current.clone(),
                            consumed: next.clone(),
                        },
                        Direction::Forward => GenealogyLink {
                            produced: next.clone(),
                            consumed: current.clone(),
                        },
                    };
                    if seen.insert(next.clone()) {
                        if depth < levels && accepted < max_nodes {
                            accepted += 1;
                            queue.push_back((next, depth + 1));
                            links.push(link);
                        } else {
                            // Counted, not followed: the work stays bounded.
                            left_out = left_out.saturating_add(1);
                        }
                    } else {
                        links.push(link);
                    }
                }
                let item = super::inventory::lot_item(&tx, &current)?;
                nodes.push(GenealogyNode {
                    lot: current,
                    item,
                    depth,
                });
            }
            tx.finish()?;
            let shown: std::collections::HashSet<&str> =
                nodes.iter().map(|n| n.lot.as_str()).collect();
            links.retain(|l| {
                shown.contains(l.produced.as_str()) && shown.contains(l.consumed.as_str())
            });
            links.sort();
            links.dedup();
            Ok(NearGenealogy {
                nodes,
                links,
                left_out,
            })
        })
        .await
    }

    async fn lot_orders(&self, lots: Vec<String>) -> Result<Vec<LotOrders>, StoreError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            let mut out = Vec::with_capacity(lots.len());
            for lot in lots {
                let mut item = None;
                let mut orders = |sql: &str| -> Result<Vec<String>, StoreError> {
                    let mut stmt = tx.prepare_cached(sql)?;
                    let rows = stmt.query_map(params![lot], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })?;
                    let mut orders = Vec::new();
                    for row in rows {
                        let (order, of) = row?;
                        item.get_or_insert(of);
                        orders.push(order);
                    }
                    Ok(orders)
                };
                let made_by = orders(
                    "SELECT work_order, item FROM gen_produced WHERE lot = ?1 ORDER BY work_order",
                )?;
                let used_by = orders(
                    "SELECT work_order, item FROM gen_issued WHERE lot = ?1 ORDER BY work_order",
                )?;
                out.push(LotOrders {
                    lot,
                    item,
                    made_by,
                    used_by,
                });
            }
            tx.finish()?;
            Ok(out)
        })
        .await
    }
}

fn order_exists(conn: &Connection, work_order: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM wo_orders WHERE work_order = ?1")?
        .query_row(params![work_order], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The ledger sums (`reason` rows booked to the order, reversed entries left out) of each
/// `(item, lot)` that `lots_sql` lists for the order, one per unit booked.
fn lot_sums(
    conn: &Connection,
    work_order: &str,
    lots_sql: &str,
    reason: &str,
) -> Result<Vec<LotQty>, StoreError> {
    let pairs: Vec<(String, String)> = {
        let mut stmt = conn.prepare_cached(lots_sql)?;
        stmt.query_map(params![work_order], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut stmt = conn.prepare_cached(
        "SELECT entry_id, uom, qty_delta FROM inv_ledger l
         WHERE l.item = ?1 AND l.lot = ?2 AND l.work_order = ?3 AND l.reason = ?4
             AND l.reverses IS NULL
             AND NOT EXISTS (SELECT 1 FROM inv_ledger r WHERE r.reverses = l.entry_id)
         ORDER BY entry_id",
    )?;
    let mut out = Vec::new();
    for (item, lot) in pairs {
        let rows = stmt.query_map(params![item, lot, work_order, reason], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        let mut by_uom: BTreeMap<String, Balance> = BTreeMap::new();
        for row in rows {
            let (entry_id, uom, qty) = row?;
            by_uom.entry(uom).or_default().add(entry_id, &qty);
        }
        for (uom, balance) in by_uom {
            let (qty, problem) = match balance {
                Balance::Sum(qty) => (Some(qty.normalize()), None),
                Balance::Problem(problem) => (None, Some(problem)),
            };
            out.push(LotQty {
                item: item.clone(),
                lot: lot.clone(),
                uom,
                qty,
                problem,
            });
        }
    }
    Ok(out)
}

/// Up to `want` events naming the order, newest first by `(at, edge, seq)`, older than
/// `before`, of the edges whose plans carried the order and of its line's edge (the edges
/// its timeline always read): a range of `events_by_order`'s key read backwards, each event
/// looked up by its own key.
fn order_page(
    conn: &Connection,
    work_order: &str,
    before: Option<&TimelineCursor>,
    want: usize,
) -> Result<Vec<TimelineEntry>, StoreError> {
    const EDGES: &str = "x.edge_id IN (
             SELECT edge_id FROM wo_plans WHERE work_order = ?1
             UNION SELECT l.edge_id FROM wo_orders o JOIN mes_lines l ON l.line = o.line
               WHERE o.work_order = ?1 AND l.edge_id IS NOT NULL)";
    let page = |cursor: &str| {
        format!(
            "SELECT x.edge_id, x.seq, e.at, e.kind, e.body
             FROM events_by_order x JOIN events e ON e.edge_id = x.edge_id AND e.seq = x.seq
             WHERE x.work_order = ?1 AND {EDGES} {cursor}
             ORDER BY x.at DESC, x.edge_id DESC, x.seq DESC LIMIT ?2"
        )
    };
    let want = to_i64(want as u64)?;
    let map = |r: &super::db::Row<'_>| -> super::db::Result<(String, i64, String, String, String)> {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
    };
    let rows: Vec<(String, i64, String, String, String)> = match before {
        None => conn
            .prepare_cached(&page(""))?
            .query_map(params![work_order, want], map)?
            .collect::<Result<_, _>>()?,
        Some(c) => conn
            .prepare_cached(&page("AND (x.at, x.edge_id, x.seq) < (?3, ?4, ?5)"))?
            .query_map(
                params![work_order, want, ts(c.at), c.edge_id, to_i64(c.seq)?],
                map,
            )?
            .collect::<Result<_, _>>()?,
    };
    let mut out = Vec::with_capacity(rows.len());
    for (edge_id, seq, at, kind, body) in rows {
        let Ok(mut event) = serde_json::from_str::<serde_json::Value>(&body) else {
            continue;
        };
        let kind_json = event
            .get_mut("kind")
            .map(serde_json::Value::take)
            .unwrap_or_default();
        out.push(TimelineEntry {
            at: parse_ts(&at)?,
            edge_id,
            seq: to_u64(seq),
            kind,
            event: kind_json,
        });
    }
    Ok(out)
}
