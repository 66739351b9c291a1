//! [`KioskStore`] on SQLite and PostgreSQL: `kiosk_links` (audited: minting and revoking are
//! changes people make), their uses kept apart in `kiosk_link_uses` and the TVs' sessions in
//! `kiosk_sessions` (neither audited: a use is not a change, and a sign-in by link is an
//! entry of its own). Tokens and session ids are stored as SHA-256 only.

use super::db::{Connection, OptionalExtension, TransactionBehavior, params};
use super::{SqlStore, StoreError, parse_ts, ts};
use crate::store::kiosk::{KioskLink, KioskSession, KioskStore};
use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub(super) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kiosk_links (
    link_id    TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    plant      TEXT NOT NULL,
    language   TEXT NOT NULL,
    time_zone  TEXT NOT NULL,
    token_hash BLOB NOT NULL UNIQUE,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    revoked_at TEXT,
    revoked_by TEXT
);
CREATE TABLE IF NOT EXISTS kiosk_link_uses (
    link_id        TEXT PRIMARY KEY,
    last_used_at   TEXT NOT NULL,
    last_used_from TEXT
);
CREATE TABLE IF NOT EXISTS kiosk_sessions (
    session_hash BLOB PRIMARY KEY,
    link_id      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_seen    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS kiosk_sessions_link ON kiosk_sessions (link_id);
";

/// Columns added to tables older versions made: a kiosk session's `last_seen` (its idle
/// timeout), which sessions made before it existed start from when they were made.
pub(super) fn add_columns(conn: &Connection) -> Result<(), StoreError> {
    if !super::stock::has_column(conn, "kiosk_sessions", "last_seen")? {
        conn.execute_batch(&format!(
            "ALTER TABLE kiosk_sessions ADD COLUMN last_seen {} NOT NULL DEFAULT '';
             UPDATE kiosk_sessions SET last_seen = created_at;",
            super::stock::text_type(conn)
        ))?;
    }
    Ok(())
}

const LINK_COLUMNS: &str =
    "SELECT k.link_id, k.name, k.plant, k.language, k.time_zone, k.created_by,
        k.created_at, k.revoked_at, k.revoked_by, u.last_used_at, u.last_used_from
     FROM kiosk_links k LEFT JOIN kiosk_link_uses u ON u.link_id = k.link_id";

type RawLink = (
    String,
    String,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn link_row(r: &super::db::Row<'_>) -> super::db::Result<RawLink> {
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
    ))
}

fn into_link(raw: RawLink) -> Result<KioskLink, StoreError> {
    let (
        link_id,
        name,
        plant,
        language,
        time_zone,
        created_by,
        created,
        revoked,
        revoked_by,
        used_at,
        used_from,
    ) = raw;
    Ok(KioskLink {
        link_id,
        name,
        plant,
        language,
        time_zone,
        created_by,
        created_at: parse_ts(&created)?,
        revoked_at: revoked.as_deref().map(parse_ts).transpose()?,
        revoked_by,
        last_used_at: used_at.as_deref().map(parse_ts).transpose()?,
        last_used_from: used_from,
    })
}

fn load(conn: &Connection, link_id: &str) -> Result<Option<KioskLink>, StoreError> {
    conn.prepare_cached(&format!("{LINK_COLUMNS} WHERE k.link_id = ?1"))?
        .query_row(params![link_id], link_row)
        .optional()?
        .map(into_link)
        .transpose()
}

#[async_trait]
impl KioskStore for SqlStore {
    async fn create_kiosk_link(&self, link: KioskLink, hash: [u8; 32]) -> Result<(), StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let plant: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM plants WHERE plant = ?1",
                    params![&link.plant],
                    |r| r.get(0),
                )
                .optional()?;
            if plant.is_none() {
                return Err(StoreError::NotFound(format!(
                    "no plant {:?}; expected one created with put /api/v1/plants/{{plant}}",
                    link.plant
                )));
            }
            tx.execute(
                "INSERT INTO kiosk_links (link_id, name, plant, language, time_zone, token_hash, created_by, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    link.link_id,
                    link.name,
                    link.plant,
                    link.language,
                    link.time_zone,
                    hash.to_vec(),
                    link.created_by,
                    ts(link.created_at)
                ],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn kiosk_links(&self) -> Result<Vec<KioskLink>, StoreError> {
        self.read(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "{LINK_COLUMNS} ORDER BY k.created_at DESC, k.link_id"
            ))?;
            let rows = stmt.query_map([], link_row)?;
            let mut out = Vec::new();
            for row in rows {
                out.push(into_link(row?)?);
            }
            Ok(out)
        })
        .await
    }

    async fn kiosk_link_by_token(&self, hash: [u8; 32]) -> Result<Option<KioskLink>, StoreError> {
        self.read(move |conn| {
            conn.prepare_cached(&format!("{LINK_COLUMNS} WHERE k.token_hash = ?1"))?
                .query_row(params![hash.to_vec()], link_row)
                .optional()?
                .map(into_link)
                .transpose()
        })
        .await
    }

    async fn revoke_kiosk_link(
        &self,
        link_id: String,
        by: String,
        at: DateTime<Utc>,
    ) -> Result<Option<KioskLink>, StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            tx.execute(
                "UPDATE kiosk_links SET revoked_at = ?2, revoked_by = ?3
                 WHERE link_id = ?1 AND revoked_at IS NULL",
                params![&link_id, ts(at), by],
            )?;
            tx.execute(
                "DELETE FROM kiosk_sessions WHERE link_id = ?1",
                params![&link_id],
            )?;
            let link = load(&tx, &link_id)?;
            tx.commit()?;
            Ok(link)
        })
        .await
    }

    async fn create_kiosk_session(
        &self,
        hash: [u8; 32],
        link_id: String,
        at: DateTime<Utc>,
        from: Option<String>,
        idle_before: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            // Only a link that is not revoked, checked in the transaction that signs in, so
            // a revocation between the look-up and here leaves no session behind.
            let live: Option<i64> = tx
                .query_row(
                    "SELECT 1 FROM kiosk_links WHERE link_id = ?1 AND revoked_at IS NULL",
                    params![&link_id],
                    |r| r.get(0),
                )
                .optional()?;
            if live.is_none() {
                return Err(StoreError::NotFound(format!(
                    "kiosk link {link_id:?} is revoked"
                )));
            }
            // The link's sessions over by the idle timeout can no longer be used: dropped
            // as new ones come.
            tx.execute(
                "DELETE FROM kiosk_sessions WHERE link_id = ?1 AND last_seen < ?2",
                params![&link_id, ts(idle_before)],
            )?;
            tx.execute(
                "INSERT INTO kiosk_sessions (session_hash, link_id, created_at, last_seen)
                 VALUES (?1, ?2, ?3, ?3)",
                params![hash.to_vec(), &link_id, ts(at)],
            )?;
            // A link signs in a few TVs; opened again and again, it keeps its newest sessions
            // only, so a link cannot fill the database.
            tx.execute(
                "DELETE FROM kiosk_sessions WHERE link_id = ?1 AND session_hash NOT IN (
                     SELECT session_hash FROM kiosk_sessions WHERE link_id = ?1
                     ORDER BY created_at DESC, session_hash DESC LIMIT ?2)",
                params![&link_id, crate::store::kiosk::MAX_SESSIONS_PER_LINK],
            )?;
            tx.execute(
                "INSERT INTO kiosk_link_uses (link_id, last_used_at, last_used_from) VALUES (?1, ?2, ?3)
                 ON CONFLICT (link_id) DO UPDATE SET last_used_at = excluded.last_used_at,
                    last_used_from = excluded.last_used_from",
                params![&link_id, ts(at), from],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    async fn kiosk_session(&self, hash: [u8; 32]) -> Result<Option<KioskSession>, StoreError> {
        self.read(move |conn| {
            let row: Option<(String, String, String)> = conn
                .prepare_cached(
                    "SELECT s.link_id, s.created_at, s.last_seen
                     FROM kiosk_sessions s JOIN kiosk_links k ON k.link_id = s.link_id
                     WHERE s.session_hash = ?1 AND k.revoked_at IS NULL",
                )?
                .query_row(params![hash.to_vec()], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let Some((link_id, created, seen)) = row else {
                return Ok(None);
            };
            let Some(link) = load(conn, &link_id)? else {
                return Ok(None);
            };
            Ok(Some(KioskSession {
                link,
                created_at: parse_ts(&created)?,
                last_seen: parse_ts(&seen)?,
            }))
        })
        .await
    }

    async fn touch_kiosk_session(
        &self,
        hash: [u8; 32],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "UPDATE kiosk_sessions SET last_seen = ?2 WHERE session_hash = ?1",
                params![hash.to_vec(), ts(at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn end_kiosk_session(&self, hash: [u8; 32]) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "DELETE FROM kiosk_sessions WHERE session_hash = ?1",
                params![hash.to_vec()],
            )?;
            Ok(())
        })
        .await
    }
}
