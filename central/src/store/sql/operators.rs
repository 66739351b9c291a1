//! [`OperatorStore`] on SQLite: the `operators` table, the active operators every plan carries
//! ([`active`]), and the new plan versions a registry change publishes ([`republish`]).

use super::db::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use super::{SqlStore, StoreError, parse_ts, to_i64, ts};
use crate::people::operators::{MAX_ACTIVE_OPERATORS, Operator, OperatorUpdate, PinUpdate};
use crate::store::operators::{OperatorStore, RegistryRejection, RegistryResult};
use crate::store::work_orders::Changed;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use protocol::{EdgeId, Plan, PlanOperator};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS operators (
    badge      TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    skills     TEXT NOT NULL,
    pin_hash   TEXT,
    active     INTEGER NOT NULL DEFAULT 1,
    updated_at TEXT NOT NULL
);
";

fn skills(text: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("skills {text:?}: {e}")))
}

/// The active operators, by badge, as plans carry them (with their PIN hashes).
pub(super) fn active(conn: &Connection) -> Result<Vec<PlanOperator>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT badge, name, skills, pin_hash FROM operators WHERE active = 1 ORDER BY badge",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (badge, name, skill_text, pin_hash) = row?;
        out.push(PlanOperator {
            badge: badge.into(),
            name,
            skills: skills(&skill_text)?,
            pin_hash,
        });
    }
    Ok(out)
}

const VIEW_COLUMNS: &str =
    "SELECT badge, name, skills, pin_hash IS NOT NULL, active, updated_at FROM operators";

type RawOperator = (String, String, String, bool, bool, String);

fn raw(r: &super::db::Row<'_>) -> super::db::Result<RawOperator> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

fn view(
    (badge, name, skill_text, has_pin, active, updated): RawOperator,
) -> Result<Operator, StoreError> {
    Ok(Operator {
        badge,
        name,
        skills: skills(&skill_text)?,
        active,
        has_pin,
        updated_at: parse_ts(&updated)?,
        user: None,
    })
}

fn read_one(conn: &Connection, badge: &str) -> Result<Option<Operator>, StoreError> {
    conn.prepare_cached(&format!("{VIEW_COLUMNS} WHERE badge = ?1"))?
        .query_row(params![badge], raw)
        .optional()?
        .map(view)
        .transpose()
}

fn upsert(tx: &Transaction<'_>, update: &OperatorUpdate, now: &str) -> Result<(), StoreError> {
    let skill_text = serde_json::to_string(&update.skills)?;
    // New operators are active unless the update says otherwise.
    tx.prepare_cached(
        "INSERT INTO operators (badge, name, skills, pin_hash, active, updated_at)
         VALUES (?1, ?2, ?3, NULL, COALESCE(?4, 1), ?5)
         ON CONFLICT (badge) DO UPDATE SET name = excluded.name, skills = excluded.skills,
             active = COALESCE(?4, operators.active), updated_at = excluded.updated_at",
    )?
    .execute(params![
        update.badge,
        update.name,
        skill_text,
        update.active,
        now
    ])?;
    match &update.pin {
        PinUpdate::Keep => {}
        PinUpdate::Set(hash) => {
            tx.prepare_cached("UPDATE operators SET pin_hash = ?2 WHERE badge = ?1")?
                .execute(params![update.badge, hash.0])?;
        }
        PinUpdate::Clear => {
            tx.prepare_cached("UPDATE operators SET pin_hash = NULL WHERE badge = ?1")?
                .execute(params![update.badge])?;
        }
    }
    Ok(())
}

fn too_many(tx: &Transaction<'_>) -> Result<Option<RegistryRejection>, StoreError> {
    let n: i64 = tx.query_row("SELECT COUNT(*) FROM operators WHERE active = 1", [], |r| {
        r.get(0)
    })?;
    let active = usize::try_from(n).unwrap_or(usize::MAX);
    Ok(
        (active > MAX_ACTIVE_OPERATORS).then_some(RegistryRejection::TooManyActive {
            active,
            max: MAX_ACTIVE_OPERATORS,
        }),
    )
}

/// After a change of what central fills into plans (the registry, a plant's rules), inside
/// `tx`: a new plan version (the latest content, filled again) for every edge that has a plan
/// whose filled parts differ.
pub(crate) fn republish(tx: &Transaction<'_>) -> Result<Vec<Plan>, StoreError> {
    let latest: Vec<(String, String)> = {
        let mut stmt = tx.prepare_cached(
            "SELECT p.edge_id, p.body FROM plans p
             WHERE p.version = (SELECT MAX(q.version) FROM plans q WHERE q.edge_id = p.edge_id)
             ORDER BY p.edge_id",
        )?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?
    };
    let mut plans = Vec::new();
    for (edge, body) in latest {
        let plan: Plan = serde_json::from_str(&body)?;
        let edge = EdgeId(edge);
        // Only where what central fills in (registry, plant rules, stock) changed.
        let content = plan.content();
        if super::fill_central_parts(tx, &edge, content.clone())? == content {
            continue;
        }
        let plan = super::publish_plan_in(tx, &edge, content)?;
        // The orders it carries went down again in this version.
        let mut record = tx.prepare_cached(
            "UPDATE wo_plans SET version = ?3 WHERE work_order = ?1 AND edge_id = ?2",
        )?;
        for wo in &plan.work_orders {
            record.execute(params![
                wo.work_order.as_str(),
                plan.edge_id.as_str(),
                to_i64(plan.version.0)?
            ])?;
        }
        plans.push(plan);
    }
    Ok(plans)
}

#[async_trait]
impl OperatorStore for SqlStore {
    async fn operators(&self) -> Result<Vec<Operator>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!("{VIEW_COLUMNS} ORDER BY badge"))?;
            let rows = stmt.query_map([], raw)?;
            rows.map(|r| view(r?)).collect()
        })
        .await
    }

    async fn operator(&self, badge: String) -> Result<Option<Operator>, StoreError> {
        self.read(move |conn| read_one(conn, &badge)).await
    }

    async fn put_operator(
        &self,
        update: OperatorUpdate,
        now: DateTime<Utc>,
    ) -> RegistryResult<Operator> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            upsert(&tx, &update, &ts(now))?;
            if let Some(rejection) = too_many(&tx)? {
                return Ok(Err(rejection));
            }
            let plans = republish(&tx)?;
            let value = read_one(&tx, &update.badge)?.ok_or_else(|| {
                StoreError::Corrupt(format!("operator {:?} vanished", update.badge))
            })?;
            tx.commit()?;
            Ok(Ok(Changed { value, plans }))
        })
        .await
    }

    async fn import_operators(
        &self,
        updates: Vec<OperatorUpdate>,
        now: DateTime<Utc>,
    ) -> RegistryResult<usize> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = ts(now);
            for update in &updates {
                upsert(&tx, update, &now)?;
            }
            if let Some(rejection) = too_many(&tx)? {
                return Ok(Err(rejection));
            }
            let plans = republish(&tx)?;
            tx.commit()?;
            Ok(Ok(Changed {
                value: updates.len(),
                plans,
            }))
        })
        .await
    }
}
