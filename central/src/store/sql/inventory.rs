//! [`InventoryStore`] on SQLite: the stock ledger (`inv_ledger`, append-only, enforced by
//! triggers) and the genealogy tables, written by ingest ([`apply`]).
//!
//! Ingest pays for every b-tree these tables have, so they have few: the genealogy tables are
//! `WITHOUT ROWID` (the key is the row) with one index each for the other direction, and the
//! reversal link is a partial index (only reversal rows carry it).

use super::db::{Connection, OptionalExtension, Transaction, TransactionBehavior, Value, params};
use super::{SqlStore, StoreError, parse_ts, stock, to_i64, to_u64, ts};
use crate::store::inventory::{
    Direction, Genealogy, GenealogyLink, GenealogyNode, InventoryFacts, InventoryFilter,
    InventoryStore, LedgerEntry, OnHandRow, ReversalRejection,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use protocol::NegativeStock;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

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

/// A balance of one location of a lot as ingest holds it while a batch books: as read (or
/// zero), changed in memory, written once by [`Booking::write`].
struct Held {
    uom: String,
    /// The stored text, read as a quantity when it is first used (as [`stock::balance`] does).
    qty: Result<Decimal, String>,
    changed: bool,
}

/// One row of `inv_ledger` booked by ingest.
struct LedgerRow {
    item: String,
    lot: String,
    location: String,
    qty_delta: String,
    uom: String,
    edge_id: String,
    seq: i64,
    at: String,
    reason: &'static str,
    work_order: Option<String>,
}

/// What a batch of newly stored events books in the stock ledger, the balances and the
/// genealogy, inside ingest's transaction: the balances of the lots the batch moves are read
/// once ([`Booking::read_lots`]), every movement is worked out in memory in event order
/// exactly as one statement at a time would (issue locations, before and after, negative
/// stock), and [`Booking::write`] writes the ledger rows, the changed balances and the links
/// in multi-row statements: a few round trips a batch on PostgreSQL instead of four to six an
/// event. Nothing else in ingest's transaction reads these tables before `write`.
#[derive(Default)]
pub(super) struct Booking {
    /// Per item, per lot, its balances by location (sorted as the store sorts text); looked
    /// up by `&str`, so booking a movement copies no key.
    lots: HashMap<String, HashMap<String, BTreeMap<String, Held>>>,
    ledger: Vec<LedgerRow>,
    /// `gen_issued` and `gen_produced`: per `(work order, lot)` the first item named.
    issued: BTreeMap<(String, String), String>,
    produced: BTreeMap<(String, String), String>,
    /// `gen_consumed`: `(produced lot, consumed lot)`.
    consumed: BTreeSet<(String, String)>,
}

impl Booking {
    /// The balances of `item`'s `lot` by location, if the booking has read them.
    fn balances(&self, item: &str, lot: &str) -> Option<&BTreeMap<String, Held>> {
        self.lots.get(item)?.get(lot)
    }

    /// Reads the balances of every lot the facts move that the booking does not hold yet, in
    /// multi-row lookups.
    pub(super) fn read_lots<'f>(
        &mut self,
        tx: &Transaction<'_>,
        facts: impl IntoIterator<Item = &'f InventoryFacts>,
    ) -> Result<(), StoreError> {
        let mut wanted: BTreeSet<(&str, &str)> = BTreeSet::new();
        for f in facts {
            for m in &f.movements {
                if self.balances(&m.item, &m.lot).is_none() {
                    wanted.insert((&m.item, &m.lot));
                }
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let values: Vec<Value<'_>> = wanted
            .iter()
            .flat_map(|(item, lot)| [Value::from(*item), Value::from(*lot)])
            .collect();
        let rows = tx.query_rows(
            &values,
            2,
            |keys| {
                format!(
                    // The subquery's form is the one both engines search the key with.
                    "SELECT item, lot, location, uom, qty FROM inv_balance
                     WHERE (item, lot) IN (SELECT column1, column2 FROM (VALUES {keys}) AS k)"
                )
            },
            |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                ))
            },
        )?;
        for (item, lot) in wanted {
            self.lots
                .entry(item.to_owned())
                .or_default()
                .entry(lot.to_owned())
                .or_default();
        }
        for (item, lot, location, uom, qty) in rows {
            let parsed = qty.parse::<Decimal>().map_err(|_| qty);
            self.lots
                .entry(item)
                .or_default()
                .entry(lot)
                .or_default()
                .insert(
                    location,
                    Held {
                        uom,
                        qty: parsed,
                        changed: false,
                    },
                );
        }
        Ok(())
    }

    /// Books what one newly stored event means for inventory and genealogy. `at` is the event
    /// time as stored (`ts`). An issue is taken from where the lot is ([`issue_location`]);
    /// every row moves its balance. Returns what to warn about, with the work order it
    /// concerns (none for a shipment): a balance that went below zero, when the plant flags
    /// negative stock.
    pub(super) fn apply(
        &mut self,
        tx: &Transaction<'_>,
        edge_id: &str,
        seq: i64,
        at: &str,
        facts: &InventoryFacts,
        negative: NegativeStock,
    ) -> Result<Vec<(Option<String>, String)>, StoreError> {
        self.read_lots(tx, std::iter::once(facts))?;
        let mut warnings = Vec::new();
        for m in &facts.movements {
            let balances = self
                .lots
                .get_mut(m.item.as_str())
                .and_then(|lots| lots.get_mut(m.lot.as_str()))
                .ok_or_else(|| StoreError::Corrupt("a lot's balances were not read".into()))?;
            let location = if m.reason == "issued" {
                issue_location(balances, &m.location, -m.qty_delta)?
            } else {
                m.location.clone()
            };
            self.ledger.push(LedgerRow {
                item: m.item.clone(),
                lot: m.lot.clone(),
                location: location.clone(),
                qty_delta: m.qty_delta.to_string(),
                uom: m.uom.clone(),
                edge_id: edge_id.to_owned(),
                seq,
                at: at.to_owned(),
                reason: m.reason,
                work_order: m.work_order.clone(),
            });
            let held = balances.entry(location.clone()).or_insert_with(|| Held {
                uom: m.uom.clone(),
                qty: Ok(Decimal::ZERO),
                changed: false,
            });
            let before = quantity(&held.qty)?;
            let Some(after) = before.checked_add(m.qty_delta) else {
                tracing::error!(
                    item = m.item.as_str(),
                    lot = m.lot.as_str(),
                    location = location.as_str(),
                    delta = %m.qty_delta,
                    "a stock balance would overflow; kept as it was"
                );
                continue;
            };
            held.qty = Ok(after);
            held.changed = true;
            if after < Decimal::ZERO
                && before >= Decimal::ZERO
                && negative != NegativeStock::Allow
                && (m.work_order.is_some() || m.reason == "shipped")
            {
                warnings.push((
                    m.work_order.clone(),
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
        if let Some((work_order, lot, item)) = &facts.issued {
            self.issued
                .entry((work_order.clone(), lot.clone()))
                .or_insert_with(|| item.clone());
        }
        if let Some((work_order, lot, item, consumed)) = &facts.produced {
            self.produced
                .entry((work_order.clone(), lot.clone()))
                .or_insert_with(|| item.clone());
            for c in consumed {
                self.consumed.insert((lot.clone(), c.clone()));
            }
        }
        Ok(warnings)
    }

    /// Writes what the batch booked: ledger rows in event order, each changed balance once,
    /// the genealogy links (a link already stored is kept as it is).
    pub(super) fn write(self, tx: &Transaction<'_>) -> Result<(), StoreError> {
        let mut values: Vec<Value<'_>> = Vec::with_capacity(self.ledger.len() * 11);
        for r in &self.ledger {
            values.extend([
                Value::from(r.item.as_str()),
                Value::from(r.lot.as_str()),
                Value::from(r.location.as_str()),
                Value::from(r.qty_delta.as_str()),
                Value::from(r.uom.as_str()),
                Value::from(r.edge_id.as_str()),
                Value::from(r.seq),
                Value::from(r.at.as_str()),
                Value::from(r.reason),
                Value::from(r.work_order.as_deref()),
                Value::from(r.edge_id.as_str()),
            ]);
        }
        tx.execute_rows(&values, 11, |rows| {
            format!(
                "INSERT INTO inv_ledger (item, lot, location, qty_delta, uom, edge_id, seq, at,
                     reason, work_order, booked_by)
                 VALUES {rows}"
            )
        })?;
        let mut values: Vec<Value<'_>> = Vec::new();
        for (item, lot, balances) in self
            .lots
            .iter()
            .flat_map(|(item, lots)| lots.iter().map(move |(lot, b)| (item, lot, b)))
        {
            for (location, held) in balances {
                if let (true, Ok(qty)) = (held.changed, &held.qty) {
                    values.extend([
                        Value::from(item.as_str()),
                        Value::from(lot.as_str()),
                        Value::from(location.as_str()),
                        Value::from(held.uom.as_str()),
                        Value::from(qty.normalize().to_string()),
                    ]);
                }
            }
        }
        tx.execute_rows(&values, 5, |rows| {
            format!(
                "INSERT INTO inv_balance (item, lot, location, uom, qty) VALUES {rows}
                 ON CONFLICT (item, lot, location) DO UPDATE SET qty = excluded.qty"
            )
        })?;
        for (table, links) in [
            ("gen_issued", &self.issued),
            ("gen_produced", &self.produced),
        ] {
            let values: Vec<Value<'_>> = links
                .iter()
                .flat_map(|((work_order, lot), item)| {
                    [
                        Value::from(work_order.as_str()),
                        Value::from(lot.as_str()),
                        Value::from(item.as_str()),
                    ]
                })
                .collect();
            tx.execute_rows(&values, 3, |rows| {
                format!(
                    "INSERT INTO {table} (work_order, lot, item) VALUES {rows}
                     ON CONFLICT DO NOTHING"
                )
            })?;
        }
        let values: Vec<Value<'_>> = self
            .consumed
            .iter()
            .flat_map(|(produced, consumed)| {
                [
                    Value::from(produced.as_str()),
                    Value::from(consumed.as_str()),
                ]
            })
            .collect();
        tx.execute_rows(&values, 2, |rows| {
            format!(
                "INSERT INTO gen_consumed (produced_lot, consumed_lot) VALUES {rows}
                 ON CONFLICT DO NOTHING"
            )
        })?;
        Ok(())
    }
}

/// A held balance as a quantity, or the error [`stock::balance`] gives for a stored text that
/// is not one.
fn quantity(qty: &Result<Decimal, String>) -> Result<Decimal, StoreError> {
    match qty {
        Ok(qty) => Ok(*qty),
        Err(text) => stock::decimal(text),
    }
}

/// Where a line's issue of a lot is taken from: the line's own location if it holds enough,
/// else the location holding the most of the lot, else the line (which then goes negative).
fn issue_location(
    balances: &BTreeMap<String, Held>,
    line_location: &str,
    qty: Decimal,
) -> Result<String, StoreError> {
    let mut best: Option<(&str, Decimal)> = None;
    for (location, held) in balances {
        let held = quantity(&held.qty)?;
        if location == line_location && held >= qty {
            return Ok(location.clone());
        }
        if held > Decimal::ZERO && best.is_none_or(|(_, b)| held > b) {
            best = Some((location, held));
        }
    }
    Ok(best.map_or_else(|| line_location.to_owned(), |(l, _)| l.to_owned()))
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
    let mut booking = Booking::default();
    for (edge_id, seq, at, body) in rows {
        let event: protocol::Event = serde_json::from_str(&body)?;
        if let Some(facts) = InventoryFacts::of(&event.kind, &edge_id) {
            booking.apply(&tx, &edge_id, seq, &at, &facts, NegativeStock::Allow)?;
        }
    }
    booking.write(&tx)?;
    tx.commit()?;
    Ok(())
}

/// The running on-hand of one item, lot and location: a sum, or why there is none. Entries
/// from before the bounds (a quantity of 7.9e28, twice) may sum beyond what a decimal holds;
/// such a balance is reported, not a failure of the whole answer.
pub(super) enum Balance {
    Sum(Decimal),
    Problem(String),
}

impl Default for Balance {
    fn default() -> Self {
        Balance::Sum(Decimal::ZERO)
    }
}

impl Balance {
    pub(super) fn add(&mut self, entry_id: i64, qty: &str) {
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

pub(super) fn lot_item(conn: &Connection, lot: &str) -> Result<Option<String>, StoreError> {
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
