//! [`PriceStore`] on either engine: `crm_prices` (one row per price, an integer id, the scope
//! as `scope_kind` and `scope_code`), `crm_exchange_rates` and `crm_tax_rates`. Decimals are
//! stored as text (nothing is rounded), dates as `YYYY-MM-DD` text (they compare as dates).
//! New tables, made on open, that start empty.
//!
//! Every price write runs in one transaction: the overlap check against the stored rows of
//! the keys it touches ([`crate::crm::pricing::overlaps`]), the change, then
//! [`prices_changed_in`] with those keys.

use super::db::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use super::{SqlStore, StoreError};
use crate::crm::pricing::{
    ExchangeRate, Overlap, Price, PriceKey, PriceScope, RowRef, StoredPrice, TaxRate, overlaps,
    unchanged_lines,
};
use crate::erp::import::{Line, RowError};
use crate::store::prices::{
    MAX_PRICE_PAGE, PriceFilter, PricePut, PriceRejection, PriceResult, PriceStore, PricesImported,
};
use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashSet};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS crm_prices (
    id         INTEGER PRIMARY KEY,
    item       TEXT NOT NULL,
    currency   TEXT NOT NULL,
    scope_kind TEXT NOT NULL,
    scope_code TEXT NOT NULL,
    min_qty    TEXT NOT NULL,
    unit_price TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    valid_to   TEXT
);
CREATE INDEX IF NOT EXISTS crm_prices_key ON crm_prices (item, currency, scope_kind, scope_code);
CREATE TABLE IF NOT EXISTS crm_exchange_rates (
    from_currency TEXT NOT NULL,
    to_currency   TEXT NOT NULL,
    valid_from    TEXT NOT NULL,
    rate          TEXT NOT NULL,
    PRIMARY KEY (from_currency, to_currency, valid_from)
);
CREATE TABLE IF NOT EXISTS crm_tax_rates (
    code       TEXT NOT NULL,
    valid_from TEXT NOT NULL,
    name       TEXT NOT NULL,
    rate_pct   TEXT NOT NULL,
    PRIMARY KEY (code, valid_from)
);
";

/// Where documents that use changed prices are flagged, inside the transaction that changed
/// them: every write of price rows (put, import, end, delete) calls it once with the keys
/// (item, currency, scope) it changed. Open quotations and draft sales orders whose line the
/// change reaches are flagged with their old and new price and their owners told
/// ([`super::sales::flag_price_changes`]).
pub(crate) fn prices_changed_in(
    tx: &Transaction<'_>,
    changed: &[PriceKey],
) -> Result<(), StoreError> {
    super::sales::flag_price_changes(tx, changed, chrono::Utc::now())
}

const COLUMNS: &str = "SELECT id, item, currency, scope_kind, scope_code, min_qty, unit_price, valid_from, valid_to FROM crm_prices";

type RawPrice = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
);

fn raw(r: &Row<'_>) -> super::db::Result<RawPrice> {
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
    ))
}

fn decimal(text: &str) -> Result<Decimal, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("decimal {text:?}: {e}")))
}

fn date(text: &str) -> Result<NaiveDate, StoreError> {
    text.parse()
        .map_err(|e| StoreError::Corrupt(format!("date {text:?}: {e}")))
}

fn view(
    (id, item, currency, kind, code, min_qty, unit_price, from, to): RawPrice,
) -> Result<StoredPrice, StoreError> {
    let scope = PriceScope::from_parts(&kind, &code)
        .ok_or_else(|| StoreError::Corrupt(format!("price {id}: scope {kind:?} {code:?}")))?;
    Ok(StoredPrice {
        id,
        price: Price {
            item,
            currency,
            scope,
            min_qty: decimal(&min_qty)?,
            unit_price: decimal(&unit_price)?,
            valid_from: date(&from)?,
            valid_to: to.as_deref().map(date).transpose()?,
        },
    })
}

fn collect(
    rows: impl Iterator<Item = super::db::Result<RawPrice>>,
) -> Result<Vec<StoredPrice>, StoreError> {
    rows.map(|r| view(r?)).collect()
}

fn read_one(conn: &Connection, id: i64) -> Result<Option<StoredPrice>, StoreError> {
    conn.prepare_cached(&format!("{COLUMNS} WHERE id = ?1"))?
        .query_row(params![id], raw)
        .optional()?
        .map(view)
        .transpose()
}

/// The stored rows of an item in a currency, every scope (what [`crate::crm::pricing::resolve`]
/// chooses from).
pub(super) fn rows_of_item(
    conn: &Connection,
    item: &str,
    currency: &str,
) -> Result<Vec<StoredPrice>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{COLUMNS} WHERE item = ?1 AND currency = ?2 ORDER BY id"
    ))?;
    let rows = stmt.query_map(params![item, currency], raw)?;
    collect(rows)
}

/// The stored rows of one key.
fn rows_of(conn: &Connection, key: &PriceKey) -> Result<Vec<StoredPrice>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{COLUMNS} WHERE item = ?1 AND currency = ?2 AND scope_kind = ?3 AND scope_code = ?4 ORDER BY id"
    ))?;
    let rows = stmt.query_map(
        params![key.item, key.currency, key.scope.kind(), key.scope.code()],
        raw,
    )?;
    collect(rows)
}

fn item_exists(conn: &Connection, item: &str) -> Result<bool, StoreError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM erp_items WHERE item = ?1")?
        .exists(params![item])?)
}

fn date_text(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn insert(tx: &Transaction<'_>, p: &Price) -> Result<i64, StoreError> {
    Ok(tx
        .prepare_cached(
            "INSERT INTO crm_prices (item, currency, scope_kind, scope_code, min_qty, unit_price, valid_from, valid_to)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING id",
        )?
        .query_row(
            params![
                p.item,
                p.currency,
                p.scope.kind(),
                p.scope.code(),
                p.min_qty.normalize().to_string(),
                p.unit_price.normalize().to_string(),
                date_text(p.valid_from),
                p.valid_to.map(date_text)
            ],
            |r| r.get(0),
        )?)
}

/// The first overlap of `row` (as `me`) with the stored rows of its key, other than `except`.
fn overlap_with_stored(
    tx: &Transaction<'_>,
    me: RowRef,
    row: &Price,
    except: Option<i64>,
) -> Result<Option<PriceRejection>, StoreError> {
    let stored: Vec<StoredPrice> = rows_of(tx, &row.key())?
        .into_iter()
        .filter(|s| Some(s.id) != except)
        .collect();
    let mut refs: Vec<(RowRef, &Price)> = stored
        .iter()
        .map(|s| (RowRef::Stored(s.id), &s.price))
        .collect();
    refs.push((me, row));
    Ok(overlaps(&refs).into_iter().next().map(|mut o| {
        // Named from the changed row's side.
        if o.row != me {
            std::mem::swap(&mut o.row, &mut o.other);
            std::mem::swap(&mut o.row_validity, &mut o.other_validity);
        }
        PriceRejection::Overlap(Box::new(o))
    }))
}

fn put_rates(tx: &Transaction<'_>, rates: &[ExchangeRate]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO crm_exchange_rates (from_currency, to_currency, valid_from, rate)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (from_currency, to_currency, valid_from)
         DO UPDATE SET rate = excluded.rate",
    )?;
    for r in rates {
        stmt.execute(params![
            r.from,
            r.to,
            date_text(r.valid_from),
            r.rate.normalize().to_string()
        ])?;
    }
    Ok(())
}

fn put_taxes(tx: &Transaction<'_>, rates: &[TaxRate]) -> Result<(), StoreError> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO crm_tax_rates (code, valid_from, name, rate_pct)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (code, valid_from)
         DO UPDATE SET name = excluded.name, rate_pct = excluded.rate_pct",
    )?;
    for r in rates {
        stmt.execute(params![
            r.code,
            date_text(r.valid_from),
            r.name,
            r.rate_pct.normalize().to_string()
        ])?;
    }
    Ok(())
}

#[async_trait]
impl PriceStore for SqlStore {
    async fn prices(&self, filter: PriceFilter) -> Result<Vec<StoredPrice>, StoreError> {
        self.read(move |conn| {
            let limit = i64::try_from(filter.limit.min(MAX_PRICE_PAGE)).unwrap_or(0);
            let mut stmt = conn.prepare_cached(&format!(
                "{COLUMNS} WHERE id > ?1
                 AND (CAST(?2 AS TEXT) IS NULL OR item = ?2)
                 AND (CAST(?3 AS TEXT) IS NULL OR currency = ?3)
                 AND (CAST(?4 AS TEXT) IS NULL OR (scope_kind = 'customer' AND scope_code = ?4))
                 AND (CAST(?5 AS TEXT) IS NULL OR (scope_kind = 'group' AND scope_code = ?5))
                 AND (CAST(?6 AS TEXT) IS NULL OR scope_kind = ?6)
                 AND (CAST(?7 AS TEXT) IS NULL OR (valid_from <= ?7 AND (valid_to IS NULL OR valid_to >= ?7)))
                 ORDER BY id LIMIT ?8"
            ))?;
            let rows = stmt.query_map(
                params![
                    filter.after.unwrap_or(0),
                    filter.item,
                    filter.currency,
                    filter.customer,
                    filter.group,
                    filter.list_only.then_some("list"),
                    filter.valid_on.map(date_text),
                    limit
                ],
                raw,
            )?;
            collect(rows)
        })
        .await
    }

    async fn price(&self, id: i64) -> Result<Option<StoredPrice>, StoreError> {
        self.read(move |conn| read_one(conn, id)).await
    }

    async fn prices_to_resolve(
        &self,
        item: String,
        currency: String,
        customer: Option<String>,
        group: Option<String>,
    ) -> Result<Vec<StoredPrice>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{COLUMNS} WHERE item = ?1 AND currency = ?2 AND (scope_kind = 'list'
                     OR (scope_kind = 'customer' AND scope_code = ?3)
                     OR (scope_kind = 'group' AND scope_code = ?4))
                 ORDER BY id"
            ))?;
            let rows = stmt.query_map(params![item, currency, customer, group], raw)?;
            collect(rows)
        })
        .await
    }

    async fn put_price(&self, price: Price) -> PriceResult<PricePut> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !item_exists(&tx, &price.item)? {
                return Ok(Err(PriceRejection::UnknownItem(price.item)));
            }
            if let Some(same) = rows_of(&tx, &price.key())?
                .into_iter()
                .find(|s| s.price == price)
            {
                return Ok(Ok(PricePut {
                    price: same,
                    created: false,
                }));
            }
            if let Some(rejection) = overlap_with_stored(&tx, RowRef::New, &price, None)? {
                return Ok(Err(rejection));
            }
            let id = insert(&tx, &price)?;
            prices_changed_in(&tx, &[price.key()])?;
            tx.commit()?;
            Ok(Ok(PricePut {
                price: StoredPrice { id, price },
                created: true,
            }))
        })
        .await
    }

    async fn import_prices(
        &self,
        rows: Vec<Line<Price>>,
    ) -> Result<Result<PricesImported, Vec<RowError>>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut errors = Vec::new();
            let items: BTreeSet<&str> = rows.iter().map(|l| l.row.item.as_str()).collect();
            let mut unknown = HashSet::new();
            for item in items {
                if !item_exists(&tx, item)? {
                    unknown.insert(item);
                }
            }
            for l in &rows {
                if unknown.contains(l.row.item.as_str()) {
                    errors.push(RowError::new(
                        l.line,
                        "item",
                        format!(
                            "item {:?} is not in the item master; expected a known item",
                            l.row.item
                        ),
                    ));
                }
            }
            let keys: BTreeSet<PriceKey> = rows.iter().map(|l| l.row.key()).collect();
            let mut stored = Vec::new();
            for key in &keys {
                stored.extend(rows_of(&tx, key)?);
            }
            let unchanged: HashSet<u64> = unchanged_lines(&rows, &stored).into_iter().collect();
            let added: Vec<&Line<Price>> = rows
                .iter()
                .filter(|l| !unchanged.contains(&l.line))
                .collect();
            let mut refs: Vec<(RowRef, &Price)> = stored
                .iter()
                .map(|s| (RowRef::Stored(s.id), &s.price))
                .collect();
            refs.extend(added.iter().map(|l| (RowRef::Line(l.line), &l.row)));
            errors.extend(overlaps(&refs).iter().map(Overlap::row_error));
            if !errors.is_empty() {
                errors.sort_by_key(|e| e.line);
                return Ok(Err(errors));
            }
            for l in &added {
                insert(&tx, &l.row)?;
            }
            let changed: Vec<PriceKey> = added
                .iter()
                .map(|l| l.row.key())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            prices_changed_in(&tx, &changed)?;
            tx.commit()?;
            Ok(Ok(PricesImported {
                added: added.len(),
                unchanged: unchanged.len(),
            }))
        })
        .await
    }

    async fn end_price(&self, id: i64, valid_to: NaiveDate) -> PriceResult<StoredPrice> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(mut stored) = read_one(&tx, id)? else {
                return Ok(Err(PriceRejection::NotFound(id)));
            };
            if valid_to < stored.price.valid_from {
                return Ok(Err(PriceRejection::Invalid(format!(
                    "valid_to {valid_to} is before price {id} starts ({}); expected its last day on or after its first, or delete a row that has not started",
                    stored.price.valid_from
                ))));
            }
            stored.price.valid_to = Some(valid_to);
            if let Some(rejection) =
                overlap_with_stored(&tx, RowRef::Changed(id), &stored.price, Some(id))?
            {
                return Ok(Err(rejection));
            }
            tx.prepare_cached("UPDATE crm_prices SET valid_to = ?2 WHERE id = ?1")?
                .execute(params![id, date_text(valid_to)])?;
            prices_changed_in(&tx, &[stored.price.key()])?;
            tx.commit()?;
            Ok(Ok(stored))
        })
        .await
    }

    async fn delete_price(&self, id: i64, today: NaiveDate) -> PriceResult<StoredPrice> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(stored) = read_one(&tx, id)? else {
                return Ok(Err(PriceRejection::NotFound(id)));
            };
            if stored.price.valid_from <= today {
                return Ok(Err(PriceRejection::Invalid(format!(
                    "price {id} is in effect since {}, so documents may use it; expected it ended instead (post /api/v1/prices/{id}/end); only a row that has not started is deleted",
                    stored.price.valid_from
                ))));
            }
            tx.prepare_cached("DELETE FROM crm_prices WHERE id = ?1")?
                .execute(params![id])?;
            prices_changed_in(&tx, &[stored.price.key()])?;
            tx.commit()?;
            Ok(Ok(stored))
        })
        .await
    }

    async fn exchange_rates(
        &self,
        from: Option<String>,
        to: Option<String>,
    ) -> Result<Vec<ExchangeRate>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT from_currency, to_currency, valid_from, rate FROM crm_exchange_rates
                 WHERE (CAST(?1 AS TEXT) IS NULL OR from_currency = ?1)
                   AND (CAST(?2 AS TEXT) IS NULL OR to_currency = ?2)
                 ORDER BY from_currency, to_currency, valid_from",
            )?;
            let rows = stmt.query_map(params![from, to], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            rows.map(|row| {
                let (from, to, valid_from, rate) = row?;
                Ok(ExchangeRate {
                    from,
                    to,
                    rate: decimal(&rate)?,
                    valid_from: date(&valid_from)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn put_exchange_rates(&self, rates: Vec<ExchangeRate>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            put_rates(&tx, &rates)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn tax_rates(&self) -> Result<Vec<TaxRate>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT code, valid_from, name, rate_pct FROM crm_tax_rates ORDER BY code, valid_from",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                ))
            })?;
            rows.map(|row| {
                let (code, valid_from, name, rate_pct) = row?;
                Ok(TaxRate {
                    code,
                    name,
                    rate_pct: decimal(&rate_pct)?,
                    valid_from: date(&valid_from)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn put_tax_rates(&self, rates: Vec<TaxRate>) -> Result<(), StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            put_taxes(&tx, &rates)?;
            tx.commit()?;
            Ok(())
        })
        .await
    }
}
