//! One stock: the ledger's running balances, plants and their rules, counted stock posted to
//! the ledger.
//!
//! `inv_balance` holds, per item, lot and location, the sum of the ledger's rows; it is
//! written in the same transaction as every ledger row (ingest, imports, reversals), so
//! "now" never scans the ledger, and it is what MRP nets against, what `GET /inventory`
//! shows and where an issue is taken from. A stock import is a count: the difference to the
//! balance is posted to the ledger as an `opening` (nothing booked there before) or `count`
//! row, with who and why.
//!
//! **Architecture Invariant:** `inv_balance` equals the ledger summed by item, lot and
//! location (a test rebuilds it from the ledger and compares).

use super::db::{Connection, OptionalExtension, Transaction, params};
use super::{StoreError, ts};
use crate::people::plants::{DEFAULT_PLANT, Plant};
use chrono::{DateTime, Utc};
use protocol::NegativeStock;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS plants (
    plant                  TEXT PRIMARY KEY,
    name                   TEXT NOT NULL,
    over_tolerance_pct     TEXT NOT NULL DEFAULT '0',
    stop_counting_complete INTEGER NOT NULL DEFAULT 0,
    negative_stock         TEXT NOT NULL DEFAULT 'flag',
    updated_at             TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS inv_balance (
    item     TEXT NOT NULL,
    lot      TEXT NOT NULL,
    location TEXT NOT NULL,
    uom      TEXT NOT NULL,
    qty      TEXT NOT NULL,
    PRIMARY KEY (item, lot, location)
) WITHOUT ROWID;
";

pub(super) fn decimal(s: &str) -> Result<Decimal, StoreError> {
    s.parse()
        .map_err(|e| StoreError::Corrupt(format!("quantity {s:?}: {e}")))
}

/// Whether `table` has `column` (for upgrades that add one).
pub(super) fn has_column(conn: &Connection, table: &str, column: &str) -> Result<bool, StoreError> {
    if conn.dialect() == super::db::Dialect::Postgres {
        return Ok(conn
            .prepare(
                "SELECT 1 FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = ?1 AND column_name = ?2",
            )?
            .exists(params![table, column])?);
    }
    let mut stmt = conn.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    for name in names {
        if name? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The type of a text column added to a table: on PostgreSQL, sorted by its bytes as SQLite
/// sorts it ([`super::db::pg_ddl`]).
pub(super) fn text_type(conn: &Connection) -> &'static str {
    match conn.dialect() {
        super::db::Dialect::Sqlite => "TEXT",
        super::db::Dialect::Postgres => "TEXT COLLATE \"C\"",
    }
}

/// Columns added to tables older versions made; run on every open (cheap when present).
pub(super) fn add_columns(conn: &Connection) -> Result<(), StoreError> {
    if !has_column(conn, "mes_lines", "plant")? {
        conn.execute_batch(&format!(
            "ALTER TABLE mes_lines ADD COLUMN plant {} NOT NULL DEFAULT '{DEFAULT_PLANT}'",
            text_type(conn)
        ))?;
    }
    if !has_column(conn, "inv_ledger", "booked_by")? {
        conn.execute_batch(&format!(
            "ALTER TABLE inv_ledger ADD COLUMN booked_by {}",
            text_type(conn)
        ))?;
    }
    conn.execute(
        "INSERT INTO plants (plant, name, updated_at) VALUES (?1, 'Default plant', ?2)
         ON CONFLICT (plant) DO NOTHING",
        params![DEFAULT_PLANT, ts(Utc::now())],
    )?;
    Ok(())
}

/// The upgrade to one stock (schema 5): balances rebuilt from the ledger, and the stock that
/// imports kept beside it (`erp_inventory`) posted to the ledger as opening balances.
pub(super) fn upgrade_to_one_stock(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction()?;
    rebuild_balances(&tx)?;
    let rows: Vec<(String, String, String, String)> = {
        let mut stmt = tx.prepare("SELECT item, lot, location, qty FROM erp_inventory")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
            .collect::<Result<_, _>>()?
    };
    let now = Utc::now();
    for (item, lot, location, qty) in rows {
        let uom: String = tx
            .query_row(
                "SELECT uom FROM erp_items WHERE item = ?1",
                params![item],
                |r| r.get(0),
            )
            .optional()?
            .unwrap_or_default();
        post_count(
            &tx,
            &Count {
                item: &item,
                lot: &lot,
                location: &location,
                uom: &uom,
                counted: decimal(&qty)?,
            },
            "stock imported before the ledger held imports",
            "upgrade",
            now,
        )?;
    }
    tx.execute("DELETE FROM erp_inventory", [])?;
    tx.commit()?;
    Ok(())
}

/// Rebuilds `inv_balance` from the ledger (an upgrade; the consistency test).
pub(super) fn rebuild_balances(tx: &Transaction<'_>) -> Result<(), StoreError> {
    tx.execute("DELETE FROM inv_balance", [])?;
    let mut sums: BTreeMap<(String, String, String), (String, Decimal)> = BTreeMap::new();
    {
        let mut stmt = tx.prepare("SELECT item, lot, location, uom, qty_delta FROM inv_ledger")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        for row in rows {
            let (item, lot, location, uom, qty) = row?;
            // A row that is not a quantity (booked before central bounded events) is left out.
            let Ok(qty) = qty.parse::<Decimal>() else {
                continue;
            };
            let entry = sums
                .entry((item, lot, location))
                .or_insert((uom, Decimal::ZERO));
            entry.1 = entry.1.checked_add(qty).unwrap_or(entry.1);
        }
    }
    let mut insert = tx.prepare(
        "INSERT INTO inv_balance (item, lot, location, uom, qty) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for ((item, lot, location), (uom, qty)) in sums {
        insert.execute(params![
            item,
            lot,
            location,
            uom,
            qty.normalize().to_string()
        ])?;
    }
    Ok(())
}

/// The balance of one item, lot and location (zero when nothing was booked).
pub(super) fn balance(
    tx: &Transaction<'_>,
    item: &str,
    lot: &str,
    location: &str,
) -> Result<Decimal, StoreError> {
    let qty: Option<String> = tx
        .prepare_cached(
            "SELECT qty FROM inv_balance WHERE item = ?1 AND lot = ?2 AND location = ?3",
        )?
        .query_row(params![item, lot, location], |r| r.get(0))
        .optional()?;
    qty.map(|q| decimal(&q))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Adds `delta` to a balance; returns the balance before and after. A sum that would not fit
/// a quantity (only ledgers from before central bounded events can hold such rows) keeps the
/// balance as it was and says so.
pub(super) fn add_to_balance(
    tx: &Transaction<'_>,
    item: &str,
    lot: &str,
    location: &str,
    uom: &str,
    delta: Decimal,
) -> Result<(Decimal, Decimal), StoreError> {
    let before = balance(tx, item, lot, location)?;
    let Some(after) = before.checked_add(delta) else {
        tracing::error!(item, lot, location, %delta, "a stock balance would overflow; kept as it was");
        return Ok((before, before));
    };
    tx.prepare_cached(
        "INSERT INTO inv_balance (item, lot, location, uom, qty) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (item, lot, location) DO UPDATE SET qty = excluded.qty",
    )?
    .execute(params![
        item,
        lot,
        location,
        uom,
        after.normalize().to_string()
    ])?;
    Ok((before, after))
}

/// A counted quantity of one lot at one location.
pub(super) struct Count<'a> {
    pub item: &'a str,
    pub lot: &'a str,
    pub location: &'a str,
    pub uom: &'a str,
    pub counted: Decimal,
}

/// Posts a count to the ledger: the difference to the balance, as `opening` when nothing was
/// ever booked at that lot and location, else `count`. Returns the posted difference
/// (`None`: the count equals the balance, nothing posted).
pub(super) fn post_count(
    tx: &Transaction<'_>,
    count: &Count<'_>,
    note: &str,
    booked_by: &str,
    at: DateTime<Utc>,
) -> Result<Option<Decimal>, StoreError> {
    let before = balance(tx, count.item, count.lot, count.location)?;
    let delta = count
        .counted
        .checked_sub(before)
        .ok_or_else(|| StoreError::Corrupt("a count's difference overflows".into()))?;
    if delta.is_zero() {
        return Ok(None);
    }
    let booked_before = tx
        .prepare_cached(
            "SELECT 1 FROM inv_ledger WHERE item = ?1 AND lot = ?2 AND location = ?3 LIMIT 1",
        )?
        .query_row(params![count.item, count.lot, count.location], |_| Ok(()))
        .optional()?
        .is_some();
    let reason = if booked_before { "count" } else { "opening" };
    tx.prepare_cached(
        "INSERT INTO inv_ledger (item, lot, location, qty_delta, uom, at, reason, note, booked_by)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        count.item,
        count.lot,
        count.location,
        delta.normalize().to_string(),
        count.uom,
        ts(at),
        reason,
        note,
        booked_by,
    ])?;
    add_to_balance(tx, count.item, count.lot, count.location, count.uom, delta)?;
    Ok(Some(delta))
}

/// On-hand by item (all lots and locations), what MRP nets against.
pub(super) fn on_hand_by_item(conn: &Connection) -> Result<BTreeMap<String, Decimal>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT item, qty FROM inv_balance")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    let mut on_hand: BTreeMap<String, Decimal> = BTreeMap::new();
    for row in rows {
        let (item, qty) = row?;
        let sum = on_hand.entry(item).or_default();
        *sum = sum.checked_add(decimal(&qty)?).unwrap_or(*sum);
    }
    Ok(on_hand)
}

/// Whether an item holds stock anywhere.
pub(super) fn item_has_stock(conn: &Connection, item: &str) -> Result<bool, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT qty FROM inv_balance WHERE item = ?1")?;
    let rows = stmt.query_map(params![item], |r| r.get::<_, String>(0))?;
    for qty in rows {
        if !decimal(&qty?)?.is_zero() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One balance: item, lot, location, unit, quantity.
pub(super) type BalanceRow = (String, String, String, String, Decimal);

/// Current balances with the filter's item, lot and location (none: all), zero left out.
pub(super) fn balances(
    conn: &Connection,
    item: Option<&str>,
    lot: Option<&str>,
    location: Option<&str>,
) -> Result<Vec<BalanceRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT item, lot, location, uom, qty FROM inv_balance
         WHERE (CAST(?1 AS TEXT) IS NULL OR item = ?1) AND (CAST(?2 AS TEXT) IS NULL OR lot = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR location = ?3)
         ORDER BY item, lot, location",
    )?;
    let rows = stmt.query_map(params![item, lot, location], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (item, lot, location, uom, qty) = row?;
        let qty = decimal(&qty)?;
        if !qty.is_zero() {
            out.push((item, lot, location, uom, qty));
        }
    }
    Ok(out)
}

fn negative_stock(s: &str) -> NegativeStock {
    match s {
        "refuse" => NegativeStock::Refuse,
        "allow" => NegativeStock::Allow,
        _ => NegativeStock::Flag,
    }
}

pub(super) fn negative_stock_str(n: NegativeStock) -> &'static str {
    match n {
        NegativeStock::Refuse => "refuse",
        NegativeStock::Flag => "flag",
        NegativeStock::Allow => "allow",
    }
}

fn plant_row(r: &super::db::Row<'_>) -> super::db::Result<(String, String, String, bool, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn plant_of(row: (String, String, String, bool, String)) -> Result<Plant, StoreError> {
    let (plant, name, tolerance, stop, negative) = row;
    Ok(Plant {
        plant,
        name,
        over_tolerance_pct: decimal(&tolerance)?,
        stop_counting_when_complete: stop,
        negative_stock: negative_stock(&negative),
    })
}

const PLANT_COLUMNS: &str =
    "SELECT plant, name, over_tolerance_pct, stop_counting_complete, negative_stock FROM plants";

/// Every plant, by id.
pub(super) fn plants(conn: &Connection) -> Result<Vec<Plant>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!("{PLANT_COLUMNS} ORDER BY plant"))?;
    let rows = stmt.query_map([], plant_row)?;
    rows.map(|r| plant_of(r?)).collect()
}

pub(super) fn plant(conn: &Connection, plant: &str) -> Result<Option<Plant>, StoreError> {
    let row = conn
        .prepare_cached(&format!("{PLANT_COLUMNS} WHERE plant = ?1"))?
        .query_row(params![plant], plant_row)
        .optional()?;
    row.map(plant_of).transpose()
}

/// The plant of the line an edge runs (the default plant for an edge of no line).
pub(super) fn plant_of_edge(conn: &Connection, edge_id: &str) -> Result<Plant, StoreError> {
    let plant_id: Option<String> = conn
        .prepare_cached("SELECT plant FROM mes_lines WHERE edge_id = ?1 ORDER BY line LIMIT 1")?
        .query_row(params![edge_id], |r| r.get(0))
        .optional()?;
    let id = plant_id.unwrap_or_else(|| DEFAULT_PLANT.to_owned());
    Ok(plant(conn, &id)?.unwrap_or_else(|| Plant::new(&id, &id)))
}

/// The plant of `edge_id`'s line, read into `slot` the first time a batch needs it.
pub(super) fn plant_of_edge_once<'a>(
    conn: &Connection,
    edge_id: &str,
    slot: &'a mut Option<Plant>,
) -> Result<&'a Plant, StoreError> {
    let plant = match slot.take() {
        Some(plant) => plant,
        None => plant_of_edge(conn, edge_id)?,
    };
    Ok(slot.insert(plant))
}

/// The plant of the line of a work order.
pub(super) fn plant_of_line(conn: &Connection, line: &str) -> Result<Plant, StoreError> {
    let plant_id: Option<String> = conn
        .prepare_cached("SELECT plant FROM mes_lines WHERE line = ?1")?
        .query_row(params![line], |r| r.get(0))
        .optional()?;
    let id = plant_id.unwrap_or_else(|| DEFAULT_PLANT.to_owned());
    Ok(plant(conn, &id)?.unwrap_or_else(|| Plant::new(&id, &id)))
}

/// Creates or changes a plant.
pub(super) fn put_plant(tx: &Transaction<'_>, p: &Plant) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO plants (plant, name, over_tolerance_pct, stop_counting_complete,
             negative_stock, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (plant) DO UPDATE SET name = excluded.name,
             over_tolerance_pct = excluded.over_tolerance_pct,
             stop_counting_complete = excluded.stop_counting_complete,
             negative_stock = excluded.negative_stock, updated_at = excluded.updated_at",
        params![
            p.plant,
            p.name,
            p.over_tolerance_pct.normalize().to_string(),
            p.stop_counting_when_complete,
            negative_stock_str(p.negative_stock),
            ts(Utc::now()),
        ],
    )?;
    Ok(())
}

#[async_trait::async_trait]
impl crate::store::plants::PlantStore for super::SqlStore {
    async fn plants(&self) -> Result<Vec<Plant>, StoreError> {
        self.read(|conn| plants(conn)).await
    }

    async fn plant(&self, id: String) -> Result<Option<Plant>, StoreError> {
        self.read(move |conn| plant(conn, &id)).await
    }

    async fn put_plant(
        &self,
        p: Plant,
    ) -> Result<crate::store::work_orders::Changed<Plant>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(super::db::TransactionBehavior::Immediate)?;
            put_plant(&tx, &p)?;
            let plans = super::operators::republish(&tx)?;
            tx.commit()?;
            Ok(crate::store::work_orders::Changed { value: p, plans })
        })
        .await
    }
}
