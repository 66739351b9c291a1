//! [`InventoryStore`] on SQLite: the stock ledger (`inv_ledger`, append-only, enforced by
//! triggers) and the genealogy tables, written by ingest ([`apply`]).
//!
//! Ingest pays for every b-tree these tables have, so they have few: the genealogy tables are
//! `WITHOUT ROWID` (the key is the row) with one index each for the other direction, and the
//! reversal link is a partial index (only reversal rows carry it).

use super::db::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use super::{SqlStore, StoreError, parse_ts, stock, to_i64, to_u64, ts};
use crate::store::inventory::{
    Direction, Genealogy, GenealogyLink, GenealogyNode, InventoryFacts, InventoryFilter,
    InventoryStore, LedgerEntry, OnHandRow, ReversalRejection,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use protocol::NegativeStock;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashSet, VecDeque};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS inv_ledger (
    entry_id   INTEGER PRIMARY KEY,
    item       TEXT NOT NULL,
    lot        TEXT NOT NULL,
    location   TEXT NOT NULL,
    qty_delta  TEXT NOT NULL,
    uom        TEXT NOT NULL,
    edge_id    TEXT,
    seq        INTEGER,
    at         TEXT NOT NULL,
    reason     TEXT NOT NULL,
    work_order TEXT,
    reverses   INTEGER REFERENCES inv_ledger (entry_id),
    note       TEXT
);
CREATE INDEX IF NOT EXISTS inv_ledger_item ON inv_ledger (item, lot, location);
CREATE UNIQUE INDEX IF NOT EXISTS inv_ledger_reverses ON inv_ledger (reverses)
    WHERE reverses IS NOT NULL;
CREATE TRIGGER IF NOT EXISTS inv_ledger_no_update BEFORE UPDATE ON inv_ledger
BEGIN SELECT RAISE(ABORT, 'inv_ledger is append-only; book a reversal'); END;
CREATE TRIGGER IF NOT EXISTS inv_ledger_no_delete BEFORE DELETE ON inv_ledger
BEGIN SELECT RAISE(ABORT, 'inv_ledger is append-only; book a reversal'); END;
CREATE TABLE IF NOT EXISTS gen_produced (
    work_order TEXT NOT NULL,
    lot        TEXT NOT NULL,
    item       TEXT NOT NULL,
    PRIMARY KEY (work_order, lot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gen_produced_lot ON gen_produced (lot);
CREATE TABLE IF NOT EXISTS gen_consumed (
    produced_lot TEXT NOT NULL,
    consumed_lot TEXT NOT NULL,
    PRIMARY KEY (produced_lot, consumed_lot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gen_consumed_by ON gen_consumed (consumed_lot);
CREATE TABLE IF NOT EXISTS gen_issued (
    work_order TEXT NOT NULL,
    lot        TEXT NOT NULL,
    item       TEXT NOT NULL,
    PRIMARY KEY (work_order, lot)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS gen_issued_lot ON gen_issued (lot);
";

/// Books what one newly stored event means for inventory and genealogy, inside ingest's
/// transaction. `at` is the event time as stored (`ts`). An issue is taken from where the lot
/// is ([`stock::issue_location`]); every row moves its balance. Returns, per work order, what
/// to warn about: a balance that went below zero, when the plant flags negative stock.
pub(super) fn apply(
    tx: &Transaction<'_>,
    edge_id: &str,
    seq: i64,
    at: &str,
    facts: &InventoryFacts,
    negative: NegativeStock,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut warnings = Vec::new();
    if !facts.movements.is_empty() {
        let mut insert = tx.prepare_cached(
            "INSERT INTO inv_ledger (item, lot, location, qty_delta, uom, edge_id, seq, at,
                 reason, work_order, booked_by)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?6)",
        )?;
        for m in &facts.movements {
            let location = if m.reason == "issued" {
                stock::issue_location(tx, &m.item, &m.lot, &m.location, -m.qty_delta)?
            } else {
                m.location.clone()
            };
            insert.execute(params![
                m.item,
                m.lot,
                location,
                m.qty_delta.to_string(),
                m.uom,
                edge_id,
                seq,
                at,
                m.reason,
                m.work_order,
            ])?;
            let (before, after) =
                stock::add_to_balance(tx, &m.item, &m.lot, &location, &m.uom, m.qty_delta)?;
            if after < Decimal::ZERO
                && before >= Decimal::ZERO
                && negative != NegativeStock::Allow
                && let Some(wo) = &m.work_order
            {
                warnings.push((
                    wo.clone(),
                    format!(
                        "negative stock: lot {} of {} at {location} is now {} {} (central had {} there)",
                        m.lot,
                        m.item,
                        after.normalize(),
                        m.uom,
                        before.normalize()
                    ),
                ));
            }
        }
    }
    if let Some((work_order, lot, item)) = &facts.issued {
        tx.prepare_cached(
            "INSERT INTO gen_issued (work_order, lot, item) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![work_order, lot, item])?;
    }
    if let Some((work_order, lot, item, consumed)) = &facts.produced {
        tx.prepare_cached(
            "INSERT INTO gen_produced (work_order, lot, item) VALUES (?1, ?2, ?3)
             ON CONFLICT DO NOTHING",
        )?
        .execute(params![work_order, lot, item])?;
        let mut link = tx.prepare_cached(
            "INSERT INTO gen_consumed (produced_lot, consumed_lot) VALUES (?1, ?2)
             ON CONFLICT DO NOTHING",
        )?;
        for c in consumed {
            link.execute(params![lot, c])?;
        }
    }
    Ok(warnings)
}

/// After an upgrade from a schema without the ledger: books every stored event once.
pub(super) fn backfill(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let booked: i64 = tx.query_row("SELECT COUNT(*) FROM inv_ledger", [], |r| r.get(0))?;
    if booked > 0 {
        return Ok(());
    }
    let rows: Vec<(String, i64, String, String)> = {
        let mut stmt = tx.prepare(
            "SELECT edge_id, seq, at, body FROM events e
             WHERE kind IN ('material_received', 'material_issued', 'material_moved', 'lot_produced')
                 AND NOT EXISTS (SELECT 1 FROM quarantine q
                                 WHERE q.edge_id = e.edge_id AND q.seq = e.seq)
             ORDER BY edge_id, seq",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?
    };
    for (edge_id, seq, at, body) in rows {
        let event: protocol::Event = serde_json::from_str(&body)?;
        if let Some(facts) = InventoryFacts::of(&event.kind, &edge_id) {
            apply(&tx, &edge_id, seq, &at, &facts, NegativeStock::Allow)?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// The running on-hand of one item, lot and location: a sum, or why there is none. Entries
/// from before the bounds (a quantity of 7.9e28, twice) may sum beyond what a decimal holds;
/// such a balance is reported, not a failure of the whole answer.
enum Balance {
    Sum(Decimal),
    Problem(String),
}

impl Default for Balance {
    fn default() -> Self {
        Balance::Sum(Decimal::ZERO)
    }
}

impl Balance {
    fn add(&mut self, entry_id: i64, qty: &str) {
        let Balance::Sum(sum) = self else { return };
        *self = match qty.parse::<Decimal>() {
            Err(_) => Balance::Problem(format!(
                "ledger entry {entry_id} holds {:?}, which is not a quantity; expected it reversed with post /api/v1/inventory/reversals",
                protocol::bounds::sanitize(qty, 64, false)
            )),
            Ok(qty) => match sum.checked_add(qty) {
                Some(sum) => Balance::Sum(sum),
                None => Balance::Problem(format!(
                    "the ledger entries sum beyond what a quantity holds at entry {entry_id} (qty_delta {qty}); expected the entries booked from out-of-bounds events reversed with post /api/v1/inventory/reversals"
                )),
            },
        };
    }
}

fn decimal(text: &str) -> Result<Decimal, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("quantity {text:?}: {e}")))
}

const ENTRY_COLUMNS: &str = "entry_id, item, lot, location, qty_delta, uom, edge_id, seq, at,
    reason, work_order, reverses, note";

type RawEntry = (
    i64,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<i64>,
    String,
    String,
    Option<String>,
    Option<i64>,
    Option<String>,
);

fn raw_entry(r: &super::db::Row<'_>) -> super::db::Result<RawEntry> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
    ))
}

fn entry(raw: RawEntry) -> Result<LedgerEntry, StoreError> {
    let (entry_id, item, lot, location, qty, uom, edge_id, seq, at, reason, wo, reverses, note) =
        raw;
    Ok(LedgerEntry {
        entry_id,
        item,
        lot,
        location,
        qty_delta: decimal(&qty)?,
        uom,
        edge_id,
        seq: seq.map(to_u64),
        at: parse_ts(&at)?,
        reason,
        work_order: wo,
        reverses,
        note,
    })
}

const FILTER: &str =
    "(CAST(?1 AS TEXT) IS NULL OR item = ?1) AND (CAST(?2 AS TEXT) IS NULL OR lot = ?2)
    AND (CAST(?3 AS TEXT) IS NULL OR location = ?3) AND (CAST(?4 AS TEXT) IS NULL OR at <= ?4)";

fn lot_item(conn: &Connection, lot: &str) -> Result<Option<String>, StoreError> {
    Ok(conn
        .prepare_cached(
            "SELECT item FROM gen_produced WHERE lot = ?1
             UNION ALL SELECT item FROM gen_issued WHERE lot = ?1
             UNION ALL SELECT item FROM inv_ledger WHERE lot = ?1
             LIMIT 1",
        )?
        .query_row(params![lot], |r| r.get(0))
        .optional()?)
}

#[async_trait]
impl InventoryStore for SqlStore {
    async fn on_hand(&self, filter: InventoryFilter) -> Result<Vec<OnHandRow>, StoreError> {
        self.read(move |conn| {
            // An entry and its reversal cancel exactly, so both are left out of the sum (once
            // the reversal is booked by `at`): an entry whose quantity no sum can hold is
            // corrected by reversing it.
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT entry_id, item, lot, location, uom, qty_delta FROM inv_ledger l
                 WHERE {FILTER} AND l.reverses IS NULL
                     AND NOT EXISTS (SELECT 1 FROM inv_ledger r
                                     WHERE r.reverses = l.entry_id AND (CAST(?4 AS TEXT) IS NULL OR r.at <= ?4))"
            ))?;
            let rows = stmt.query_map(
                params![filter.item, filter.lot, filter.location, filter.at.map(ts)],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                    ))
                },
            )?;
            let mut sums: BTreeMap<(String, String, String, String), Balance> = BTreeMap::new();
            for row in rows {
                let (entry_id, item, lot, location, uom, qty) = row?;
                sums.entry((item, lot, location, uom))
                    .or_default()
                    .add(entry_id, &qty);
            }
            Ok(sums
                .into_iter()
                .filter_map(|((item, lot, location, uom), balance)| {
                    let (qty, problem) = match balance {
                        Balance::Sum(qty) if qty.is_zero() => return None,
                        Balance::Sum(qty) => (Some(qty.normalize()), None),
                        Balance::Problem(problem) => (None, Some(problem)),
                    };
                    Some(OnHandRow {
                        negative: qty.is_some_and(|q| q < Decimal::ZERO),
                        item,
                        lot,
                        location,
                        uom,
                        qty,
                        problem,
                    })
                })
                .collect())
        })
        .await
    }

    async fn ledger(
        &self,
        filter: InventoryFilter,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM inv_ledger WHERE {FILTER} ORDER BY entry_id LIMIT ?5"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.item,
                    filter.lot,
                    filter.location,
                    filter.at.map(ts),
                    to_i64(limit as u64)?
                ],
                raw_entry,
            )?;
            rows.map(|r| entry(r?)).collect()
        })
        .await
    }

    async fn reverse_entry(
        &self,
        entry_id: i64,
        note: Option<String>,
        at: DateTime<Utc>,
    ) -> Result<Result<LedgerEntry, ReversalRejection>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let original = tx
                .prepare_cached(&format!(
                    "SELECT {ENTRY_COLUMNS} FROM inv_ledger WHERE entry_id = ?1"
                ))?
                .query_row(params![entry_id], raw_entry)
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("no ledger entry {entry_id}")))?;
            let original = entry(original)?;
            if original.reverses.is_some() {
                return Ok(Err(ReversalRejection::IsReversal));
            }
            let by: Option<i64> = tx
                .prepare_cached("SELECT entry_id FROM inv_ledger WHERE reverses = ?1")?
                .query_row(params![entry_id], |r| r.get(0))
                .optional()?;
            if let Some(by) = by {
                return Ok(Err(ReversalRejection::AlreadyReversed { by }));
            }
            let id: i64 = tx
                .prepare_cached(
                    "INSERT INTO inv_ledger (item, lot, location, qty_delta, uom, at, reason,
                         work_order, reverses, note)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'reversal', ?7, ?8, ?9)
                     RETURNING entry_id",
                )?
                .query_row(
                    params![
                        original.item,
                        original.lot,
                        original.location,
                        (-original.qty_delta).to_string(),
                        original.uom,
                        ts(at),
                        original.work_order,
                        entry_id,
                        note,
                    ],
                    |r| r.get(0),
                )?;
            stock::add_to_balance(
                &tx,
                &original.item,
                &original.lot,
                &original.location,
                &original.uom,
                -original.qty_delta,
            )?;
            let reversal = tx
                .prepare_cached(&format!(
                    "SELECT {ENTRY_COLUMNS} FROM inv_ledger WHERE entry_id = ?1"
                ))?
                .query_row(params![id], raw_entry)?;
            let reversal = entry(reversal)?;
            tx.commit()?;
            Ok(Ok(reversal))
        })
        .await
    }

    async fn genealogy(&self, lot: String, direction: Direction) -> Result<Genealogy, StoreError> {
        self.read(move |conn| {
            let tx = conn.transaction()?;
            // Neighbours of one lot: what it was made of (backward) or what was made of it
            // (forward), from consumed_lots and from the lots issued to its work order.
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
            let mut seen: HashSet<String> = HashSet::from([lot.clone()]);
            let mut queue: VecDeque<(String, u32)> = VecDeque::from([(lot.clone(), 0)]);
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
                    links.push(match direction {
                        Direction::Backward => GenealogyLink {
                            produced: current.clone(),
                            consumed: next.clone(),
                        },
                        Direction::Forward => GenealogyLink {
                            produced: next.clone(),
                            consumed: current.clone(),
                        },
                    });
                    if seen.insert(next.clone()) {
                        queue.push_back((next, depth + 1));
                    }
                }
                let item = lot_item(&tx, &current)?;
                nodes.push(GenealogyNode {
                    lot: current,
                    item,
                    depth,
                });
            }
            links.sort();
            links.dedup();
            Ok(Genealogy {
                lot,
                direction,
                nodes,
                links,
            })
        })
        .await
    }
}
