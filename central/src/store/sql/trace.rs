//! [`TraceStore`] on either engine: reads of the ledger, the genealogy tables and the stored
//! events for the work order and traceability pages. Nothing here writes.
//!
//! The timeline reads `events` of the order's edges, filtered by kind and by the order's id
//! in the body, then checks each body's `kind.work_order` exactly. `events` has no index on
//! the order (its key is `(edge_id, seq)`), so a page costs a pass over those edges' events;
//! an index or projection by order is schema work (see ARCHITECTURE.md, the web part).

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
            let edges: Vec<String> = {
                let mut stmt = tx.prepare_cached(
                    "SELECT edge_id FROM wo_plans WHERE work_order = ?1
                     UNION SELECT l.edge_id FROM wo_orders o JOIN mes_lines l ON l.line = o.line
                       WHERE o.work_order = ?1 AND l.edge_id IS NOT NULL
                     ORDER BY 1",
                )?;
                stmt.query_map(params![work_order], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            let want = limit + 1;
            let mut found = Vec::new();
            for edge_id in &edges {
                found.extend(edge_timeline(
                    &tx,
                    edge_id,
                    &work_order,
                    before.as_ref(),
                    want,
                )?);
            }
            tx.finish()?;
            found.sort_by(|a: &TimelineEntry, b| {
                (b.at, &b.edge_id, b.seq).cmp(&(a.at, &a.edge_id, a.seq))
            });
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

/// `text` for a LIKE pattern with `\` as its escape character.
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Up to `want` events of one edge naming the order, newest first, older than `before`.
fn edge_timeline(
    conn: &Connection,
    edge_id: &str,
    work_order: &str,
    before: Option<&TimelineCursor>,
    want: usize,
) -> Result<Vec<TimelineEntry>, StoreError> {
    let kinds = TIMELINE_KINDS
        .iter()
        .map(|k| format!("'{k}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT seq, at, kind, body FROM events e
         WHERE e.edge_id = ?1 AND e.kind IN ({kinds}) AND e.body LIKE ?2 ESCAPE '\\'
             AND (CAST(?3 AS TEXT) IS NULL OR e.at < ?3 OR (e.at = ?3 AND e.seq < ?4))
             AND NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.edge_id = e.edge_id AND q.seq = e.seq)
         ORDER BY e.at DESC, e.seq DESC LIMIT ?5"
    );
    let pattern = format!("%{}%", like_escaped(work_order));
    // The cursor orders by (at, edge, seq): at the cursor's own time, an edge before the
    // cursor's keeps every seq, the cursor's edge the seqs below it, a later edge none.
    let (mut at, mut seq_below) = match before {
        None => (None, 0),
        Some(c) => (
            Some(ts(c.at)),
            match edge_id.cmp(c.edge_id.as_str()) {
                std::cmp::Ordering::Less => i64::MAX,
                std::cmp::Ordering::Equal => to_i64(c.seq)?,
                std::cmp::Ordering::Greater => 0,
            },
        ),
    };
    let chunk = want.max(256);
    let mut out = Vec::new();
    loop {
        let rows: Vec<(i64, String, String, String)> = {
            let mut stmt = conn.prepare_cached(&sql)?;
            stmt.query_map(
                params![edge_id, pattern, at, seq_below, to_i64(chunk as u64)?],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )?
            .collect::<Result<_, _>>()?
        };
        let exhausted = rows.len() < chunk;
        let last = rows.last().map(|(seq, at, _, _)| (*seq, at.clone()));
        for (seq, when, kind, body) in rows {
            let Ok(mut event) = serde_json::from_str::<serde_json::Value>(&body) else {
                continue;
            };
            let kind_json = event
                .get_mut("kind")
                .map(serde_json::Value::take)
                .unwrap_or_default();
            if kind_json.get("work_order").and_then(|w| w.as_str()) != Some(work_order) {
                continue;
            }
            out.push(TimelineEntry {
                at: parse_ts(&when)?,
                edge_id: edge_id.to_owned(),
                seq: to_u64(seq),
                kind,
                event: kind_json,
            });
            if out.len() >= want {
                return Ok(out);
            }
        }
        match last {
            Some((seq, when)) if !exhausted => {
                at = Some(when);
                seq_below = seq;
            }
            _ => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::like_escaped;

    #[test]
    fn like_patterns_match_ids_literally() {
        assert_eq!(like_escaped("WO-1"), "WO-1");
        assert_eq!(like_escaped("WO_1%"), "WO\\_1\\%");
        assert_eq!(like_escaped("a\\b"), "a\\\\b");
    }
}
